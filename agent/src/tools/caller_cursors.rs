//! Pagination cursors of MCP tools, bound to the caller they were issued to.
//!
//! An MCP server binds its cursors to its own list and filters, but it sees only the agent
//! (or a gateway) as its caller, never the customer or staff member behind a turn. So the agent
//! seals every `next_cursor` an MCP tool returns with the source, the tool and the caller's
//! [`Access`] ([`Access::cursor_owner`]), and opens every `cursor` argument the model passes
//! back before the call goes out. A cursor replayed by another caller, on another tool or
//! source, or edited, is refused here with a plain error and never reaches the server; the
//! server still checks that the inner cursor fits its list. The Aurora tools sign their own
//! cursors the same way and are left alone here.

use serde_json::{Map, Value};
use service_runtime::signed_cursor::{CursorSigner, InvalidCursor};

use super::access::Access;

/// The argument a tool takes a cursor in, and the result field it returns the next one in.
const CURSOR_ARGUMENT: &str = "cursor";
const NEXT_CURSOR_FIELD: &str = "next_cursor";

/// What the model reads when a cursor is refused.
pub const INVALID_CURSOR: &str = "the cursor is not valid for this list and this caller; pass the next_cursor from the previous page of the same list unchanged, or omit it to start from the first page";

/// Seals and opens the cursors of MCP tools for one process.
#[derive(Debug, Clone)]
pub struct CallerCursors {
    signer: CursorSigner,
}

impl CallerCursors {
    pub fn new(signer: CursorSigner) -> Self {
        Self { signer }
    }

    /// Replaces a sealed `cursor` argument with the server's own cursor, if it was sealed for
    /// this source, tool and caller.
    pub fn open_argument(
        &self,
        source: &str,
        tool: &str,
        access: &Access,
        arguments: &mut Map<String, Value>,
    ) -> Result<(), InvalidCursor> {
        let Some(sealed) = arguments.get(CURSOR_ARGUMENT) else {
            return Ok(());
        };
        let Value::String(sealed) = sealed else {
            return Err(InvalidCursor);
        };
        let owner = access.cursor_owner();
        let inner = self
            .signer
            .open(&[source, tool, &owner], sealed)
            .and_then(|bytes| String::from_utf8(bytes).map_err(|_| InvalidCursor))?;
        arguments.insert(CURSOR_ARGUMENT.to_owned(), Value::String(inner));
        Ok(())
    }

    /// Seals the `next_cursor` of a result for this source, tool and caller.
    pub fn seal_result(&self, source: &str, tool: &str, access: &Access, output: &mut Value) {
        let Some(Value::String(inner)) = output.get_mut(NEXT_CURSOR_FIELD) else {
            return;
        };
        let owner = access.cursor_owner();
        *inner = self.signer.seal(&[source, tool, &owner], inner.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cursors() -> CallerCursors {
        CallerCursors::new(CursorSigner::new().expect("random key"))
    }

    fn customer(id: &str) -> Access {
        Access::Customer {
            customer_id: id.to_owned(),
        }
    }

    #[test]
    fn a_sealed_cursor_opens_only_for_the_same_source_tool_and_caller() {
        let cursors = cursors();
        let mut output = json!({"tickets": [], "next_cursor": "server-cursor"});
        cursors.seal_result(
            "support",
            "list_customer_tickets",
            &customer("CUST-001"),
            &mut output,
        );
        let sealed = output["next_cursor"].as_str().expect("sealed").to_owned();
        assert_ne!(sealed, "server-cursor");
        let arguments = |cursor: &str| match json!({"cursor": cursor}) {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let mut same = arguments(&sealed);
        cursors
            .open_argument(
                "support",
                "list_customer_tickets",
                &customer("CUST-001"),
                &mut same,
            )
            .expect("same caller");
        assert_eq!(same["cursor"], json!("server-cursor"));
        let staff = Access::Staff {
            username: "alice".to_owned(),
        };
        for (source, tool, access) in [
            ("support", "list_customer_tickets", customer("CUST-002")),
            ("support", "list_customer_tickets", staff),
            ("support", "list_customer_tickets", Access::Unlinked),
            ("support", "list_customer_warranties", customer("CUST-001")),
            ("gateway", "list_customer_tickets", customer("CUST-001")),
        ] {
            let mut replayed = arguments(&sealed);
            assert_eq!(
                cursors.open_argument(source, tool, &access, &mut replayed),
                Err(InvalidCursor),
                "{source} {tool} {access:?}"
            );
        }
        let mut unsealed = arguments("server-cursor");
        assert!(
            cursors
                .open_argument(
                    "support",
                    "list_customer_tickets",
                    &customer("CUST-001"),
                    &mut unsealed
                )
                .is_err(),
            "the server's own cursor is not accepted from the model"
        );
    }
}
