//! The warranty tools: a unit's warranty by serial number and a customer's warranties, each
//! with its status on the day of the call.

use chrono::Utc;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{Json, tool, tool_router};

use super::SupportTools;
use super::checks::{SERIAL_HINT, explain, not_found_hint, page_request};
use super::inputs::{CustomerPageQuery, WarrantyLookup};
use super::outputs::WarrantyPage;
use crate::caller::CallerSubject;
use crate::model::WarrantyReport;
use crate::store::Page;

#[tool_router(router = warranty_tools, vis = "pub(super)")]
impl SupportTools {
    #[tool(
        name = "check_warranty",
        description = "Check a unit's warranty by serial number: status (active, expiring_soon when 30 days or fewer remain, or expired), days remaining, start and end dates, coverage type and what it covers, and the owner, product and order. With customer_id, only that customer's units are found.",
        annotations(
            title = "Check a warranty",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn check_warranty(
        &self,
        Parameters(input): Parameters<WarrantyLookup>,
    ) -> Result<Json<WarrantyReport>, String> {
        let warranty = self
            .store
            .warranty(&input.serial_number, input.customer_id.as_deref())
            .await
            .map_err(|e| explain("check_warranty", not_found_hint(e, SERIAL_HINT)))?;
        Ok(Json(WarrantyReport::new(warranty, Utc::now().date_naive())))
    }

    #[tool(
        name = "list_customer_warranties",
        description = "List a customer's warranties with their status today, latest-ending first, one page at a time. Pass next_cursor back as cursor for the next page.",
        annotations(
            title = "List a customer's warranties",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_customer_warranties(
        &self,
        Parameters(input): Parameters<CustomerPageQuery>,
        caller: CallerSubject,
    ) -> Result<Json<WarrantyPage>, String> {
        let page = page_request(input.page_size, input.cursor, caller)?;
        let Page { items, next_cursor } = self
            .store
            .customer_warranties(&input.customer_id, &page)
            .await
            .map_err(|e| explain("list_customer_warranties", e))?;
        let today = Utc::now().date_naive();
        Ok(Json(WarrantyPage {
            warranties: items
                .into_iter()
                .map(|w| WarrantyReport::new(w, today))
                .collect(),
            next_cursor,
        }))
    }
}
