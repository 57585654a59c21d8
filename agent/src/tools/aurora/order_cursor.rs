//! The order list's pagination cursor: the sort key of a page's last order
//! (`placed_at`, `order_id`), sealed to the list's binding (tool, customer, status filter,
//! caller) so that it only ever continues that very list for that caller.

use record_id::RecordId;
use service_runtime::signed_cursor::CursorSigner;

use super::CallError;

/// The cursor after the order (`placed_at`, `order_id`).
pub(super) fn encode(
    signer: &CursorSigner,
    binding: &[&str],
    placed_at: &str,
    order_id: &str,
) -> String {
    signer.seal(binding, format!("{placed_at}|{order_id}").as_bytes())
}

/// The sort key a cursor continues after, if it was sealed for this very list and caller.
pub(super) fn decode(
    signer: &CursorSigner,
    binding: &[&str],
    cursor: &str,
) -> Result<(String, String), CallError> {
    let invalid = || {
        CallError::Input(
            "the cursor is not valid for this list; pass the next_cursor from the previous page of the same list unchanged, or omit it to start from the first page".to_owned(),
        )
    };
    let bytes = signer.open(binding, cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (placed, order) = text.split_once('|').ok_or_else(invalid)?;
    let placed_ok = chrono::DateTime::parse_from_rfc3339(placed).is_ok();
    if !placed_ok || RecordId::parse(order).is_err() {
        return Err(invalid());
    }
    Ok((placed.to_owned(), order.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BINDING: [&str; 4] = [
        "list_customer_orders",
        "CUST-001",
        "any",
        "customer:CUST-001",
    ];

    fn signer() -> CursorSigner {
        CursorSigner::new().expect("the system has a random source")
    }

    #[test]
    fn cursors_round_trip_and_forgeries_are_refused() {
        let signer = signer();
        let cursor = encode(&signer, &BINDING, "2026-01-02T03:04:05Z", "ORD-00001");
        let (placed, order) = decode(&signer, &BINDING, &cursor).expect("valid");
        assert_eq!(
            (placed.as_str(), order.as_str()),
            ("2026-01-02T03:04:05Z", "ORD-00001")
        );
        let unsigned = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            "2026-01-02T03:04:05Z|ORD-00001",
        );
        for bad in [
            "",
            "!!",
            unsigned.as_str(),
            &signer.seal(&BINDING, b"yesterday|ORD-1"),
            &signer.seal(&BINDING, b"2026-01-02T03:04:05Z|x'; DROP"),
        ] {
            assert!(decode(&signer, &BINDING, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_cursor_only_continues_its_customer_filter_and_caller() {
        let signer = signer();
        let cursor = encode(&signer, &BINDING, "2026-01-02T03:04:05Z", "ORD-00001");
        for other in [
            [
                "list_customer_orders",
                "CUST-002",
                "any",
                "customer:CUST-001",
            ],
            [
                "list_customer_orders",
                "CUST-001",
                "shipped",
                "customer:CUST-001",
            ],
            ["list_customer_orders", "CUST-001", "any", "staff:alice"],
            ["list_customer_orders", "CUST-001", "any", "unrestricted"],
        ] {
            assert!(decode(&signer, &other, &cursor).is_err(), "{other:?}");
        }
        assert!(
            decode(&CursorSigner::new().expect("key"), &BINDING, &cursor).is_err(),
            "a cursor of another process"
        );
    }
}
