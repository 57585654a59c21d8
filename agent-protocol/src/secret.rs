//! A token or password that never prints.
//!
//! `Debug` and `Display` both show `Secret(..)`, so no log line, error or debug print can carry
//! the value; it leaves only through [`Secret::expose`], at the places that must send it, and
//! through serialisation, which writes the plain string for the stores that must keep it (the
//! CLI's token file).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A string whose value is shown only on request.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The value itself, for a header, a request body or a store.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = Secret::new("eyJ-very-secret".to_owned());
        assert_eq!(format!("{secret:?}"), "Secret(..)");
        assert_eq!(format!("{secret:#?}"), "Secret(..)");
        assert_eq!(format!("{secret}"), "Secret(..)");
        assert_eq!(secret.to_string(), "Secret(..)");
        assert_eq!(secret.expose(), "eyJ-very-secret");
    }

    #[test]
    fn it_is_stored_as_the_plain_string() {
        let secret = Secret::new("token".to_owned());
        let json = serde_json::to_string(&secret).expect("serialises");
        assert_eq!(json, "\"token\"");
        let read: Secret = serde_json::from_str(&json).expect("deserialises");
        assert_eq!(read, secret);
    }
}
