//! Tool names as Bedrock accepts them: `[a-zA-Z0-9_-]{1,64}`, unique across sources. MCP names
//! may be longer or hold other characters (`.`, `/`); they are mapped here and mapped back on
//! the call through the catalogue, never by parsing the Bedrock name.

use std::collections::HashSet;

/// Longest tool name Bedrock accepts.
pub const MAX_LEN: usize = 64;

/// A Bedrock-valid name for `mcp_name`, not yet in `taken`.
pub fn bedrock_name(mcp_name: &str, taken: &HashSet<String>) -> String {
    let mut base: String = mcp_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if base.is_empty() {
        base.push_str("tool");
    }
    let fit = |text: &str, room: usize| text.chars().take(room).collect::<String>();
    let candidate = fit(&base, MAX_LEN);
    if !taken.contains(&candidate) {
        return candidate;
    }
    (2..)
        .map(|n| {
            let suffix = format!("_{n}");
            format!("{}{suffix}", fit(&base, MAX_LEN - suffix.len()))
        })
        .find(|name| !taken.contains(name))
        .unwrap_or(candidate)
}

/// Whether Bedrock accepts `name` as a tool name.
#[cfg(test)]
fn is_valid(name: &str) -> bool {
    (1..=MAX_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names_are_kept() {
        let name = bedrock_name("orders___get_order", &HashSet::new());
        assert_eq!(name, "orders___get_order");
    }

    #[test]
    fn invalid_characters_and_lengths_are_mapped_to_valid_unique_names() {
        let mut taken = HashSet::new();
        let long = "a.very/long:name".repeat(10);
        for mcp in ["db.query", "db/query", "", long.as_str(), long.as_str()] {
            let name = bedrock_name(mcp, &taken);
            assert!(is_valid(&name), "{name:?}");
            assert!(taken.insert(name.clone()), "{name} is unique");
        }
        assert!(taken.contains("db_query") && taken.contains("db_query_2"));
    }
}
