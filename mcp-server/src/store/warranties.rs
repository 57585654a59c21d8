//! Warranties: one by serial number, and a customer's, latest-ending first.

use super::{Page, PageRequest, Store, StoreError};
use crate::model::{Owned, Warranty};
use crate::tables::{WARRANTIES, WARRANTIES_BY_CUSTOMER};

impl Store {
    /// The unit's warranty. With `owner`, a unit of any other customer is reported exactly as
    /// one that does not exist, so the answer tells nobody which serial numbers are real.
    pub async fn warranty(
        &self,
        serial_number: &str,
        owner: Option<&str>,
    ) -> Result<Warranty, StoreError> {
        self.get(&WARRANTIES, &self.warranties_table, serial_number, false)
            .await?
            .filter(|warranty: &Warranty| warranty.visible_to(owner))
            .ok_or_else(|| StoreError::NotFound {
                kind: "warranty",
                id: serial_number.to_owned(),
            })
    }

    pub async fn customer_warranties(
        &self,
        customer_id: &str,
        page: &PageRequest,
    ) -> Result<Page<Warranty>, StoreError> {
        self.query_page(
            &["customer_warranties"],
            &WARRANTIES,
            &self.warranties_table,
            &WARRANTIES_BY_CUSTOMER,
            customer_id,
            page,
        )
        .await
    }
}
