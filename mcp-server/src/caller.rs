//! Who calls a tool, as pagination cursors are bound to it.
//!
//! With `AUTH_MODE` set to `verify` or `agentcore`, [`inbound_auth::AuthLayer`] puts the
//! accepted [`Caller`] into the HTTP request's extensions, and rmcp hands the request's parts to
//! the tool in its context; the caller is then the token's subject (`sub:<sub>`). Without a
//! checked token (`AUTH_MODE` unset or `none`) every caller is `anonymous`, and cursors are
//! still bound to their list.

use axum::http::request::Parts;
use inbound_auth::Caller;
use rmcp::handler::server::common::FromContextPart;
use rmcp::handler::server::tool::ToolCallContext;

/// What a caller who passed no token check is called.
const ANONYMOUS: &str = "anonymous";

/// The caller of one tool call, for binding cursors: a tool takes it as an argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerSubject(pub String);

impl CallerSubject {
    /// The subject of the authenticated caller in `parts`, or `anonymous`. The prefix keeps
    /// any subject apart from the anonymous caller.
    fn of(parts: Option<&Parts>) -> Self {
        let subject = parts
            .and_then(|parts| parts.extensions.get::<Caller>())
            .and_then(Caller::subject);
        Self(subject.map_or_else(|| ANONYMOUS.to_owned(), |sub| format!("sub:{sub}")))
    }
}

impl<S> FromContextPart<ToolCallContext<'_, S>> for CallerSubject {
    fn from_context_part(context: &mut ToolCallContext<'_, S>) -> Result<Self, rmcp::ErrorData> {
        Ok(Self::of(context.request_context.extensions.get::<Parts>()))
    }
}

#[cfg(test)]
mod tests {
    use inbound_auth::{Principal, TokenUse};

    use super::*;

    fn parts_with(caller: Option<Caller>) -> Parts {
        let mut request = axum::http::Request::new(());
        if let Some(caller) = caller {
            request.extensions_mut().insert(caller);
        }
        request.into_parts().0
    }

    #[test]
    fn an_authenticated_caller_is_their_subject_and_anyone_else_anonymous() {
        let principal = Principal {
            subject: "4f1c-subject".into(),
            username: Some("customer-001".into()),
            groups: Vec::new(),
            client_id: "client".into(),
            scopes: Vec::new(),
            token_use: TokenUse::Access,
            claims: serde_json::Map::new(),
        };
        let authenticated = parts_with(Some(Caller::Authenticated(principal)));
        assert_eq!(
            CallerSubject::of(Some(&authenticated)),
            CallerSubject("sub:4f1c-subject".into())
        );
        for parts in [
            Some(parts_with(Some(Caller::Anonymous))),
            Some(parts_with(None)),
            None,
        ] {
            assert_eq!(
                CallerSubject::of(parts.as_ref()),
                CallerSubject(ANONYMOUS.into())
            );
        }
    }
}
