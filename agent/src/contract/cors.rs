//! Cross-origin access for a browser page served from another origin than the agent (the web
//! chat in `web/`, which `scripts/run-local` serves on its own port). Off unless
//! `CORS_ALLOWED_ORIGINS` names exact origins: in AgentCore the page talks to the runtime's
//! data-plane endpoint, never to this container, so the deployed agent needs none.
//!
//! The layer wraps the whole router, outside authentication: a preflight (`OPTIONS` with
//! `Access-Control-Request-Method`) carries no token and is answered by the layer itself, and
//! a 401 still carries `Access-Control-Allow-Origin`, so the page can read it and ask the user
//! to sign in again. The rules are the Fetch standard's CORS protocol
//! (<https://fetch.spec.whatwg.org/#http-cors-protocol>): a request with `Authorization` or a
//! JSON `Content-Type` is preflighted, every such header must be listed in
//! `Access-Control-Allow-Headers`, and a response header the page reads (the session id) must
//! be listed in `Access-Control-Expose-Headers`. No credentials mode: the page sends its
//! bearer token itself and uses no cookies.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::CorsConfig;

/// How long a browser may reuse a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// The CORS layer for the configured origins, `None` when none are configured (the default),
/// or what is wrong with the setting.
pub fn layer(config: &CorsConfig) -> Result<Option<CorsLayer>, String> {
    let origins = parse_origins(&config.allowed_origins)?;
    if origins.is_empty() {
        return Ok(None);
    }
    let session = HeaderName::from_static(agent_protocol::headers::SESSION_ID);
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                session.clone(),
            ])
            .expose_headers([session])
            .max_age(PREFLIGHT_MAX_AGE),
    ))
}

/// The comma-separated origins, each exactly `scheme://host[:port]` as a browser sends it in
/// `Origin`; blanks between commas are ignored.
fn parse_origins(setting: &str) -> Result<Vec<HeaderValue>, String> {
    setting
        .split(',')
        .map(str::trim)
        .filter(|origin| !origin.is_empty())
        .map(parse_origin)
        .collect()
}

fn parse_origin(origin: &str) -> Result<HeaderValue, String> {
    let invalid = |why: &str| {
        Err(format!(
            "CORS_ALLOWED_ORIGINS: {origin:?} is not an origin ({why}); give exact origins such as http://127.0.0.1:5173, comma-separated"
        ))
    };
    if origin.contains('*') {
        return invalid("wildcards are not accepted");
    }
    let Some((scheme, authority)) = origin.split_once("://") else {
        return invalid("no scheme");
    };
    if scheme != "http" && scheme != "https" {
        return invalid("the scheme must be http or https");
    }
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return invalid("only a host and an optional port may follow the scheme");
    }
    match HeaderValue::from_str(origin) {
        Ok(value) => Ok(value),
        Err(_) => invalid("not a valid header value"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(origins: &str) -> CorsConfig {
        CorsConfig {
            allowed_origins: origins.to_owned(),
        }
    }

    #[test]
    fn empty_setting_is_off() {
        assert!(layer(&config("")).unwrap().is_none());
        assert!(layer(&config(" , ")).unwrap().is_none());
    }

    #[test]
    fn exact_origins_are_accepted() {
        let origins = parse_origins("http://127.0.0.1:5173, https://chat.example.com").unwrap();
        assert_eq!(
            origins,
            ["http://127.0.0.1:5173", "https://chat.example.com"]
        );
        assert!(layer(&config("http://127.0.0.1:5173")).unwrap().is_some());
    }

    #[test]
    fn wildcards_paths_and_bare_hosts_are_refused() {
        for bad in [
            "*",
            "https://*.example.com",
            "http://127.0.0.1:5173/",
            "http://127.0.0.1:5173/index.html",
            "127.0.0.1:5173",
            "file://x",
            "http://",
        ] {
            let error = layer(&config(bad)).unwrap_err();
            assert!(error.contains("CORS_ALLOWED_ORIGINS"), "{bad}: {error}");
        }
    }
}
