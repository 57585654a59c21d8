//! Warranties: one by serial number, and a customer's, latest-ending first.

use super::{Page, PageRequest, Store, StoreError};
use crate::model::Warranty;
use crate::tables::{WARRANTIES, WARRANTIES_BY_CUSTOMER};

impl Store {
    pub async fn warranty(&self, serial_number: &str) -> Result<Warranty, StoreError> {
        self.get(&WARRANTIES, &self.warranties_table, serial_number, false)
            .await?
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
            &WARRANTIES,
            &self.warranties_table,
            &WARRANTIES_BY_CUSTOMER,
            customer_id,
            page,
        )
        .await
    }
}
