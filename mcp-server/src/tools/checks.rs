//! The argument checks a schema cannot express (a blank text, a page size out of range), the
//! text limits the input schemas publish, and the wording of refusals: what the model reads
//! when a call fails, and what the operator's log records. Ids need no check here: a
//! [`record_id::RecordId`] is checked when the arguments are read.

use crate::caller::CallerSubject;
use crate::store::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PageRequest, StoreError};

pub(super) const MAX_SUBJECT_LEN: usize = 200;
pub(super) const MAX_DESCRIPTION_LEN: usize = 4000;
pub(super) const MAX_NOTE_LEN: usize = 2000;
pub(super) const MAX_TOKEN_LEN: usize = 128;

/// What follows "no ticket with id .. exists" wherever a ticket is looked up, so that a ticket
/// of another customer and a missing one get one answer whatever the tool.
pub(super) const TICKET_HINT: &str = "list the customer's tickets to find the right id";
/// The same for a serial number.
pub(super) const SERIAL_HINT: &str =
    "check the serial number with the customer, or list the customer's warranties";

pub(super) fn check_text(field: &str, value: &str, max_chars: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(format!(
            "{field} is {chars} characters long; shorten it to at most {max_chars}"
        ));
    }
    Ok(())
}

pub(super) fn page_request(
    page_size: Option<u16>,
    cursor: Option<String>,
    caller: CallerSubject,
) -> Result<PageRequest, String> {
    let size = page_size.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&size) {
        return Err(format!(
            "page_size must be between 1 and {MAX_PAGE_SIZE}; got {size}"
        ));
    }
    Ok(PageRequest {
        size,
        cursor,
        caller: caller.0,
    })
}

/// Turns a store failure into what the model reads, logging what the operator needs.
pub(super) fn explain(tool: &'static str, error: StoreError) -> String {
    match error {
        StoreError::NotFound { .. } | StoreError::InvalidCursor | StoreError::Conflict(_) => {
            tracing::info!(tool, outcome = "rejected", reason = %error, "tool call refused");
            error.to_string()
        }
        StoreError::Unavailable { .. } | StoreError::Corrupt { .. } => {
            tracing::error!(tool, outcome = "failed", error = %error, "tool call failed");
            "the support database did not answer in time; try the same call again in a moment"
                .to_owned()
        }
    }
}

pub(super) fn not_found_hint(error: StoreError, hint: &str) -> StoreError {
    match error {
        StoreError::NotFound { kind, id } => {
            StoreError::Conflict(format!("no {kind} with id {id:?} exists; {hint}"))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller() -> CallerSubject {
        CallerSubject("sub:staff-1".into())
    }

    #[test]
    fn check_text_accepts_text_up_to_the_limit_in_characters() {
        // Multi-byte characters count once, so the limit is not a byte count.
        assert_eq!(check_text("subject", &"é".repeat(10), 10), Ok(()));
    }

    #[test]
    fn check_text_refuses_blank_text_naming_the_field() {
        for blank in ["", "   ", "\n\t"] {
            assert_eq!(
                check_text("note", blank, 10),
                Err("note must not be empty".to_owned()),
                "{blank:?}"
            );
        }
    }

    #[test]
    fn check_text_refuses_too_long_text_with_its_length_and_the_limit() {
        assert_eq!(
            check_text("subject", &"é".repeat(11), 10),
            Err("subject is 11 characters long; shorten it to at most 10".to_owned())
        );
    }

    #[test]
    fn page_request_defaults_the_size_and_binds_the_caller() {
        let page = page_request(None, Some("c1".into()), caller()).unwrap();
        assert_eq!(page.size, DEFAULT_PAGE_SIZE);
        assert_eq!(page.cursor.as_deref(), Some("c1"));
        assert_eq!(page.caller, "sub:staff-1");
    }

    #[test]
    fn page_request_accepts_sizes_from_one_to_the_maximum() {
        for size in [1, MAX_PAGE_SIZE] {
            assert_eq!(page_request(Some(size), None, caller()).unwrap().size, size);
        }
    }

    #[test]
    fn page_request_refuses_sizes_outside_the_bounds() {
        for size in [0, MAX_PAGE_SIZE + 1] {
            assert_eq!(
                page_request(Some(size), None, caller()).unwrap_err(),
                format!("page_size must be between 1 and {MAX_PAGE_SIZE}; got {size}")
            );
        }
    }

    #[test]
    fn not_found_wording_names_only_the_kind_and_the_id() {
        // The store answers "not found" both for a missing ticket and for another customer's,
        // so the text must come from the kind and the id alone to say the same in both cases.
        let answer = |tool| {
            let missing = StoreError::NotFound {
                kind: "ticket",
                id: "TKT-0009".into(),
            };
            explain(tool, not_found_hint(missing, TICKET_HINT))
        };
        let expected = "no ticket with id \"TKT-0009\" exists; list the customer's tickets to find the right id";
        assert_eq!(answer("get_support_ticket"), expected);
        assert_eq!(answer("add_ticket_note"), expected);
    }

    #[test]
    fn not_found_hint_leaves_other_errors_alone() {
        let error = not_found_hint(StoreError::InvalidCursor, SERIAL_HINT);
        assert!(matches!(error, StoreError::InvalidCursor), "{error:?}");
    }

    #[test]
    fn explain_reports_a_store_failure_as_retryable_without_its_cause() {
        let failure = StoreError::Unavailable {
            operation: "GetItem",
            kind: "ticket",
            detail: "connection refused by 10.0.0.7".into(),
        };
        assert_eq!(
            explain("get_support_ticket", failure),
            "the support database did not answer in time; try the same call again in a moment"
        );
    }
}
