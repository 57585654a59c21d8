//! The support-ticket tools: open a ticket (idempotent by client token), read one, list a
//! customer's, and append a note.

use chrono::{SubsecRound, Utc};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::{Json, tool, tool_router};

use super::SupportTools;
use super::checks::{
    MAX_DESCRIPTION_LEN, MAX_NOTE_LEN, MAX_SUBJECT_LEN, MAX_TOKEN_LEN, SERIAL_HINT, TICKET_HINT,
    check_text, explain, not_found_hint, page_request,
};
use super::inputs::{
    AddNoteInput, CreateTicketInput, CustomerTicketsQuery, NoteAuthor, TicketLookup,
};
use super::outputs::{CreatedTicket, TicketPage};
use crate::caller::CallerSubject;
use crate::model::{Ticket, TicketNote, TicketPriority, TicketSummary};
use crate::store::{Creation, NewTicket, Page};

#[tool_router(router = ticket_tools, vis = "pub(super)")]
impl SupportTools {
    #[tool(
        name = "create_support_ticket",
        description = "Open a support ticket for a customer. A serial_number must be one of that customer's units. Choose a fresh client_token (for example a UUID) for each new ticket and reuse it only to retry the same request: a retry returns the existing ticket with created=false instead of opening a duplicate.",
        annotations(
            title = "Open a support ticket",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn create_support_ticket(
        &self,
        Parameters(input): Parameters<CreateTicketInput>,
    ) -> Result<Json<CreatedTicket>, String> {
        check_text("subject", &input.subject, MAX_SUBJECT_LEN)?;
        check_text("description", &input.description, MAX_DESCRIPTION_LEN)?;
        check_text("client_token", &input.client_token, MAX_TOKEN_LEN)?;
        if let Some(serial_number) = &input.serial_number {
            // A customer's ticket may only name their own unit; another customer's unit gets
            // the answer of an unknown one, as check_warranty gives it.
            self.store
                .warranty(serial_number, Some(&input.customer_id))
                .await
                .map_err(|e| explain("create_support_ticket", not_found_hint(e, SERIAL_HINT)))?;
        }
        let request = NewTicket {
            customer_id: input.customer_id.into(),
            subject: input.subject.trim().to_owned(),
            description: input.description.trim().to_owned(),
            category: input.category,
            priority: input.priority.unwrap_or(TicketPriority::Normal),
            order_id: input.order_id.map(String::from),
            serial_number: input.serial_number.map(String::from),
            client_token: input.client_token,
        };
        let (ticket, creation) = self
            .store
            .create_ticket(&request)
            .await
            .map_err(|e| explain("create_support_ticket", e))?;
        tracing::info!(tool = "create_support_ticket", ticket_id = %ticket.ticket_id, created = (creation == Creation::Created), "ticket written");
        Ok(Json(CreatedTicket {
            created: creation == Creation::Created,
            ticket,
        }))
    }

    #[tool(
        name = "get_support_ticket",
        description = "Get a support ticket by id with its full description and notes (oldest note first). With customer_id, only that customer's tickets are found.",
        annotations(
            title = "Get a support ticket",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_support_ticket(
        &self,
        Parameters(input): Parameters<TicketLookup>,
    ) -> Result<Json<Ticket>, String> {
        self.store
            .ticket(&input.ticket_id, input.customer_id.as_deref())
            .await
            .map(Json)
            .map_err(|e| explain("get_support_ticket", not_found_hint(e, TICKET_HINT)))
    }

    #[tool(
        name = "list_customer_tickets",
        description = "List a customer's support tickets, newest first, optionally only those with one status (open, pending, resolved, closed). Pass next_cursor back as cursor for the next page.",
        annotations(
            title = "List a customer's tickets",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_customer_tickets(
        &self,
        Parameters(input): Parameters<CustomerTicketsQuery>,
        caller: CallerSubject,
    ) -> Result<Json<TicketPage>, String> {
        let page = page_request(input.page_size, input.cursor, caller)?;
        let Page { items, next_cursor } = self
            .store
            .customer_tickets(&input.customer_id, input.status, &page)
            .await
            .map_err(|e| explain("list_customer_tickets", e))?;
        Ok(Json(TicketPage {
            tickets: items.into_iter().map(TicketSummary::from).collect(),
            next_cursor,
        }))
    }

    #[tool(
        name = "add_ticket_note",
        description = "Append a note to an existing support ticket and return the updated ticket. Each call adds a note, so do not repeat a call that succeeded.",
        annotations(
            title = "Add a note to a ticket",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn add_ticket_note(
        &self,
        Parameters(input): Parameters<AddNoteInput>,
    ) -> Result<Json<Ticket>, String> {
        check_text("note", &input.note, MAX_NOTE_LEN)?;
        let author = match input.author.unwrap_or(NoteAuthor::Agent) {
            NoteAuthor::Agent => "agent",
            NoteAuthor::Customer => "customer",
        };
        let note = TicketNote {
            author: author.to_owned(),
            body: input.note.trim().to_owned(),
            created_at: Utc::now().trunc_subsecs(0),
        };
        self.store
            .add_ticket_note(&input.ticket_id, input.customer_id.as_deref(), note)
            .await
            .map(Json)
            .map_err(|e| explain("add_ticket_note", not_found_hint(e, TICKET_HINT)))
    }
}
