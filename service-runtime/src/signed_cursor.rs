//! Pagination cursors that only ever continue the list, filters and caller they were issued for.
//!
//! A cursor is handed to the caller (a model, through the agent) and comes back as an argument,
//! so it is outside input like any other. [`CursorSigner::seal`] turns the server's position in
//! a list (its payload, e.g. the last row's sort key) into opaque text that carries an
//! HMAC-SHA256 tag over that payload and over a *binding*: every value that decided what the
//! list contains (the tool, the table and index, the partition, each filter, the caller).
//! [`CursorSigner::open`] gives the payload back only when the tag matches the binding of the
//! call it arrives with. So a cursor:
//!
//! - is opaque: its format can change without breaking anyone, and nobody builds one by hand;
//! - cannot widen a query: replayed with another customer, another status filter, another
//!   list or by another caller, it is refused before any database call, and a forged or edited
//!   position is refused too, so the payload can be trusted as the server wrote it;
//! - lives as long as the process. The key is 256 random bits made at start and never leaves
//!   memory, so there is nothing to configure, store or rotate. In AgentCore one runtime session
//!   is one microVM: the agent's conversation and the Aurora cursors it received stay in one
//!   process, and the agent echoes the MCP server's `Mcp-Session-Id`, which keeps its MCP calls
//!   on one MCP server microVM. After a restart (or on another microVM) an old cursor is refused
//!   with an error that tells the caller to start again from the first page.

use std::sync::Arc;

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Longest cursor text accepted (base64url of payload and tag). Real cursors are far shorter;
/// the bound keeps a hostile argument from costing more than a few microseconds.
pub const MAX_CURSOR_LEN: usize = 2048;

/// Bytes of the HMAC-SHA256 tag at the end of every cursor.
const TAG_LEN: usize = 32;

/// Marks what the tag is for, so a tag made by this key for any other purpose never fits.
const DOMAIN: &[u8] = b"support-pagination-cursor-v1";

/// Why a cursor was refused. Deliberately one case: telling a caller which check failed would
/// only help someone probing for a cursor that passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the cursor was not issued for this list, these filters and this caller by this server process"
)]
pub struct InvalidCursor;

/// The key could not be made: the system's random source failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot generate the pagination cursor key: the system random source failed")]
pub struct KeyUnavailable;

/// Seals and opens cursors with one random key. Build one at start and share it (it is cheap
/// to clone) by everything that pages through lists in the process.
#[derive(Clone)]
pub struct CursorSigner {
    key: Arc<hmac::Key>,
}

impl std::fmt::Debug for CursorSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorSigner(..)")
    }
}

impl CursorSigner {
    /// A signer with a fresh random 256-bit key.
    pub fn new() -> Result<Self, KeyUnavailable> {
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new())
            .map_err(|_| KeyUnavailable)?;
        Ok(Self { key: Arc::new(key) })
    }

    /// The cursor text for `payload` in the list that `binding` describes.
    pub fn seal(&self, binding: &[&str], payload: &[u8]) -> String {
        let tag = hmac::sign(&self.key, &signed_bytes(binding, payload));
        let mut sealed = Vec::with_capacity(payload.len() + TAG_LEN);
        sealed.extend_from_slice(payload);
        sealed.extend_from_slice(tag.as_ref());
        URL_SAFE_NO_PAD.encode(sealed)
    }

    /// The payload of `text`, if this signer sealed it with exactly this `binding`.
    pub fn open(&self, binding: &[&str], text: &str) -> Result<Vec<u8>, InvalidCursor> {
        if text.len() > MAX_CURSOR_LEN {
            return Err(InvalidCursor);
        }
        let mut sealed = URL_SAFE_NO_PAD.decode(text).map_err(|_| InvalidCursor)?;
        let Some(payload_len) = sealed.len().checked_sub(TAG_LEN) else {
            return Err(InvalidCursor);
        };
        let tag = sealed.split_off(payload_len);
        hmac::verify(&self.key, &signed_bytes(binding, &sealed), &tag)
            .map_err(|_| InvalidCursor)?;
        Ok(sealed)
    }
}

/// What the tag covers: the domain, then the number of binding parts, each part and the payload
/// with its length in front. The lengths make the encoding unambiguous, so `("ab", "c")` and
/// `("a", "bc")`, or a part moved into the payload, never share a tag.
fn signed_bytes(binding: &[&str], payload: &[u8]) -> Vec<u8> {
    let size = DOMAIN.len()
        + 8
        + binding.iter().map(|part| 8 + part.len()).sum::<usize>()
        + 8
        + payload.len();
    let mut bytes = Vec::with_capacity(size);
    bytes.extend_from_slice(DOMAIN);
    bytes.extend_from_slice(&(binding.len() as u64).to_be_bytes());
    for part in binding {
        push_prefixed(&mut bytes, part.as_bytes());
    }
    push_prefixed(&mut bytes, payload);
    bytes
}

fn push_prefixed(bytes: &mut Vec<u8>, part: &[u8]) {
    bytes.extend_from_slice(&(part.len() as u64).to_be_bytes());
    bytes.extend_from_slice(part);
}

#[cfg(test)]
mod tests {
    use super::*;

    const BINDING: [&str; 4] = ["list_customer_orders", "CUST-001", "any", "staff:alice"];
    const PAYLOAD: &[u8] = b"2026-01-02T03:04:05Z|ORD-00001";

    fn signer() -> CursorSigner {
        CursorSigner::new().expect("the system has a random source")
    }

    #[test]
    fn a_sealed_cursor_opens_to_its_payload() {
        let signer = signer();
        let cursor = signer.seal(&BINDING, PAYLOAD);
        assert_eq!(signer.open(&BINDING, &cursor), Ok(PAYLOAD.to_vec()));
        let empty = signer.seal(&[], b"");
        assert_eq!(signer.open(&[], &empty), Ok(Vec::new()));
        assert!(
            cursor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "URL-safe text: {cursor}"
        );
    }

    #[test]
    fn any_changed_byte_is_refused() {
        let signer = signer();
        let sealed = URL_SAFE_NO_PAD
            .decode(signer.seal(&BINDING, PAYLOAD))
            .expect("base64url");
        for index in 0..sealed.len() {
            for flip in [0x01, 0x80] {
                let mut tampered = sealed.clone();
                tampered[index] ^= flip;
                let text = URL_SAFE_NO_PAD.encode(&tampered);
                assert_eq!(
                    signer.open(&BINDING, &text),
                    Err(InvalidCursor),
                    "byte {index} flipped by {flip:#x}"
                );
            }
        }
        let mut shortened = sealed.clone();
        shortened.pop();
        assert_eq!(
            signer.open(&BINDING, &URL_SAFE_NO_PAD.encode(&shortened)),
            Err(InvalidCursor)
        );
        let mut lengthened = sealed;
        lengthened.push(0);
        assert_eq!(
            signer.open(&BINDING, &URL_SAFE_NO_PAD.encode(&lengthened)),
            Err(InvalidCursor)
        );
    }

    #[test]
    fn another_binding_is_refused() {
        let signer = signer();
        let cursor = signer.seal(&BINDING, PAYLOAD);
        let others: [&[&str]; 6] = [
            &["list_customer_orders", "CUST-002", "any", "staff:alice"],
            &["list_customer_orders", "CUST-001", "shipped", "staff:alice"],
            &["list_customer_orders", "CUST-001", "any", "staff:bob"],
            &["list_other_things", "CUST-001", "any", "staff:alice"],
            &["list_customer_orders", "CUST-001", "any"],
            &["list_customer_orders", "CUST-001", "any", "staff:alice", ""],
        ];
        for binding in others {
            assert_eq!(
                signer.open(binding, &cursor),
                Err(InvalidCursor),
                "{binding:?}"
            );
        }
    }

    #[test]
    fn parts_are_length_prefixed_so_moved_boundaries_differ() {
        let signer = signer();
        let cursor = signer.seal(&["ab", "c"], b"x");
        assert_eq!(signer.open(&["a", "bc"], &cursor), Err(InvalidCursor));
        assert_eq!(signer.open(&["abc"], &cursor), Err(InvalidCursor));
        assert_ne!(
            signed_bytes(&["ab"], b"c"),
            signed_bytes(&["a"], b"bc"),
            "a binding part and the payload never run together"
        );
    }

    #[test]
    fn a_cursor_of_another_process_is_refused() {
        let cursor = signer().seal(&BINDING, PAYLOAD);
        assert_eq!(signer().open(&BINDING, &cursor), Err(InvalidCursor));
    }

    #[test]
    fn garbage_and_oversized_text_is_refused() {
        let signer = signer();
        let oversized = signer.seal(&BINDING, &[7; MAX_CURSOR_LEN]);
        assert!(oversized.len() > MAX_CURSOR_LEN);
        for text in [
            "",
            "A",
            "not base64!",
            "bm90IGEgY3Vyc29y",
            &"A".repeat(43),
            &oversized,
            "2026-01-02T03:04:05Z|ORD-00001",
        ] {
            assert_eq!(signer.open(&BINDING, text), Err(InvalidCursor), "{text:?}");
        }
    }

    #[test]
    fn the_signer_never_prints_its_key() {
        assert_eq!(format!("{:?}", signer()), "CursorSigner(..)");
    }
}
