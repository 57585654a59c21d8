//! The token stand-ins against real clients: `aws-sdk-bedrockagentcore`'s
//! `GetResourceOauth2Token` through the Identity stand-in, the client-credentials grant with
//! reqwest against the OAuth stand-in, and its tokens checked through the JWKS and
//! [`OAuthStandIn::validate`].

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use aws_sdk_bedrockagentcore::error::ProvideErrorMetadata;
use aws_sdk_bedrockagentcore::types::Oauth2FlowType;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::Value;
use system_tests::identity::{self, IdentityStandIn};
use system_tests::oauth::{Claims, OAuthStandIn};

const CLIENT_ID: &str = "gateway-client";
const CLIENT_SECRET: &str = "gateway-client-secret";
const SCOPE: &str = "gateway/invoke";
const OTHER_SCOPE: &str = "gateway/admin";
const PROVIDER: &str = "gateway-provider";
const WAT: &str = "workload-access-token-1";

async fn oauth() -> OAuthStandIn {
    let oauth = OAuthStandIn::start().await;
    oauth.register_client(CLIENT_ID, CLIENT_SECRET, &[SCOPE, OTHER_SCOPE]);
    oauth
}

async fn identity_for(oauth: &OAuthStandIn) -> IdentityStandIn {
    let identity = IdentityStandIn::start().await;
    identity.add_provider(PROVIDER, oauth, CLIENT_ID);
    identity.allow_workload_token(WAT);
    identity
}

#[tokio::test]
async fn identity_trades_a_workload_token_for_a_token_the_issuer_accepts() {
    let oauth = oauth().await;
    let identity = identity_for(&oauth).await;
    let client = identity.client(identity::SECRET_ACCESS_KEY).await;
    let answer = client
        .get_resource_oauth2_token()
        .workload_identity_token(WAT)
        .resource_credential_provider_name(PROVIDER)
        .scopes(SCOPE)
        .oauth2_flow(Oauth2FlowType::M2M)
        .send()
        .await
        .expect("a token");
    let token = answer.access_token().expect("accessToken");
    let claims = oauth.validate(token).expect("the issuer accepts it");
    assert_eq!(claims.client_id, CLIENT_ID);
    assert_eq!(claims.scope, SCOPE);
    assert_eq!(claims.token_use, "access");
    assert_eq!(claims.iss, oauth.issuer());
    assert!(answer.authorization_url().is_none());
    assert_eq!(identity.calls(), 1);
    assert_eq!(oauth.tokens_issued(), 1);
    assert_eq!(oauth.token_requests(), 0, "minted without an HTTP grant");
    let requests = identity.requests();
    assert_eq!(requests[0].provider.as_deref(), Some(PROVIDER));
    assert_eq!(requests[0].scopes, vec![SCOPE.to_owned()]);
    assert_eq!(requests[0].oauth2_flow.as_deref(), Some("M2M"));
    assert_eq!(requests[0].status, 200);
}

#[tokio::test]
async fn identity_refuses_like_the_service() {
    let oauth = oauth().await;
    let identity = identity_for(&oauth).await;
    let client = identity.client(identity::SECRET_ACCESS_KEY).await;
    let request = || {
        client
            .get_resource_oauth2_token()
            .resource_credential_provider_name(PROVIDER)
            .scopes(SCOPE)
            .oauth2_flow(Oauth2FlowType::M2M)
    };

    let missing = request().send().await.expect_err("no WAT");
    let missing = missing.into_service_error();
    assert!(missing.is_validation_exception(), "{missing:?}");
    assert!(
        missing
            .message()
            .is_some_and(|m| m.contains("'workloadIdentityToken'")),
        "{missing:?}"
    );

    let wrong = request()
        .workload_identity_token("not-a-known-token")
        .send()
        .await
        .expect_err("unknown WAT")
        .into_service_error();
    assert!(wrong.is_access_denied_exception(), "{wrong:?}");

    let unknown = client
        .get_resource_oauth2_token()
        .workload_identity_token(WAT)
        .resource_credential_provider_name("no-such-provider")
        .scopes(SCOPE)
        .oauth2_flow(Oauth2FlowType::M2M)
        .send()
        .await
        .expect_err("unknown provider")
        .into_service_error();
    assert!(unknown.is_resource_not_found_exception(), "{unknown:?}");

    let scope = request()
        .workload_identity_token(WAT)
        .scopes("gateway/not-allowed")
        .send()
        .await
        .expect_err("scope not allowed")
        .into_service_error();
    assert!(scope.is_validation_exception(), "{scope:?}");
    assert!(scope.message().is_some_and(|m| m.contains("invalid_scope")));

    let federation = client
        .get_resource_oauth2_token()
        .workload_identity_token(WAT)
        .resource_credential_provider_name(PROVIDER)
        .scopes(SCOPE)
        .oauth2_flow(Oauth2FlowType::UserFederation)
        .send()
        .await
        .expect_err("no user federation")
        .into_service_error();
    assert!(federation.is_validation_exception(), "{federation:?}");

    assert_eq!(oauth.tokens_issued(), 0);
    assert_eq!(identity.calls(), 5);
}

#[tokio::test]
async fn identity_requires_a_valid_sigv4_signature() {
    let oauth = oauth().await;
    let identity = identity_for(&oauth).await;
    let body = serde_json::json!({
        "workloadIdentityToken": WAT,
        "resourceCredentialProviderName": PROVIDER,
        "scopes": [SCOPE],
        "oauth2Flow": "M2M",
    });
    let unsigned = reqwest::Client::new()
        .post(format!("{}/identities/oauth2/token", identity.base_url()))
        .json(&body)
        .send()
        .await
        .expect("answered");
    assert_eq!(unsigned.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        unsigned.headers()["x-amzn-errortype"],
        "MissingAuthenticationTokenException"
    );

    let wrong_secret = identity.client("not-the-secret").await;
    let error = wrong_secret
        .get_resource_oauth2_token()
        .workload_identity_token(WAT)
        .resource_credential_provider_name(PROVIDER)
        .scopes(SCOPE)
        .oauth2_flow(Oauth2FlowType::M2M)
        .send()
        .await
        .expect_err("bad signature");
    assert_eq!(error.code(), Some("InvalidSignatureException"), "{error:?}");
    assert_eq!(identity.requests().len(), 2);
    assert!(
        identity
            .requests()
            .iter()
            .all(|r| r.status == 403 && r.error_type.is_some())
    );
    assert_eq!(oauth.tokens_issued(), 0);
}

fn basic_grant(oauth: &OAuthStandIn, secret: &str, scope: Option<&str>) -> reqwest::RequestBuilder {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    reqwest::Client::new()
        .post(oauth.token_url())
        .basic_auth(CLIENT_ID, Some(secret))
        .form(&form)
}

#[tokio::test]
async fn client_credentials_grant_tokens_with_basic_or_form_authentication() {
    let oauth = oauth().await;
    oauth.set_token_lifetime(Duration::from_secs(900));
    let answer = basic_grant(&oauth, CLIENT_SECRET, Some(SCOPE))
        .send()
        .await
        .expect("answered");
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["cache-control"], "no-store");
    let answer: Value = answer.json().await.expect("JSON");
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["expires_in"], 900);
    let claims = oauth
        .validate(answer["access_token"].as_str().expect("a token"))
        .expect("valid");
    assert_eq!(claims.scope, SCOPE);
    assert_eq!(claims.sub, CLIENT_ID);
    assert_eq!(claims.exp - claims.iat, 900);

    // Client authentication in the body, and no scope: all the client's scopes.
    let answer: Value = reqwest::Client::new()
        .post(oauth.token_url())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ])
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    let claims = oauth
        .validate(&format!(
            "Bearer {}",
            answer["access_token"].as_str().expect("a token")
        ))
        .expect("valid with the Bearer prefix too");
    assert_eq!(claims.scope, format!("{SCOPE} {OTHER_SCOPE}"));
    assert_ne!(claims.jti, "");
    assert_eq!(oauth.token_requests(), 2);
}

#[tokio::test]
async fn client_credentials_refusals_are_oauth_errors() {
    let oauth = oauth().await;
    let error = |response: reqwest::Response| async move {
        let status = response.status();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().expect("text").to_owned());
        let body: Value = response.json().await.expect("JSON error");
        (
            status,
            body["error"].as_str().expect("error").to_owned(),
            challenge,
        )
    };

    let (status, code, challenge) = error(
        basic_grant(&oauth, "wrong", Some(SCOPE))
            .send()
            .await
            .expect("answered"),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    assert!(challenge.is_some_and(|c| c.starts_with("Basic")));

    let (status, code, _) = error(
        basic_grant(&oauth, CLIENT_SECRET, Some("gateway/other"))
            .send()
            .await
            .expect("answered"),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_scope")
    );

    let password = reqwest::Client::new()
        .post(oauth.token_url())
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .expect("answered");
    let (status, code, _) = error(password).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "unsupported_grant_type")
    );

    let json_body = reqwest::Client::new()
        .post(oauth.token_url())
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .expect("answered");
    let (status, code, _) = error(json_body).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );

    let anonymous = reqwest::Client::new()
        .post(oauth.token_url())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .expect("answered");
    let (status, code, challenge) = error(anonymous).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    assert!(challenge.is_none());

    assert_eq!(oauth.token_requests(), 5);
    assert_eq!(oauth.tokens_issued(), 0);
}

#[tokio::test]
async fn tokens_verify_with_the_jwks_and_stop_validating_when_revoked_or_expired() {
    let oauth = oauth().await;
    let token = oauth
        .issue(CLIENT_ID, &[SCOPE])
        .expect("issued")
        .access_token;

    let jwks: JwkSet = reqwest::get(oauth.jwks_url())
        .await
        .expect("JWKS answered")
        .json()
        .await
        .expect("a JWK set");
    let header = jsonwebtoken::decode_header(&token).expect("a JWT");
    assert_eq!(header.alg, Algorithm::RS256);
    let jwk = jwks
        .find(header.kid.as_deref().expect("a kid"))
        .expect("the kid is in the JWKS");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[oauth.issuer()]);
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Claims>(
        &token,
        &DecodingKey::from_jwk(jwk).expect("an RSA key"),
        &validation,
    )
    .expect("signature and issuer check out")
    .claims;
    assert_eq!(claims.client_id, CLIENT_ID);

    oauth.revoke_all();
    let revoked = oauth.validate(&token).expect_err("revoked");
    assert!(revoked.contains("revoked"), "{revoked}");
    let fresh = oauth
        .issue(CLIENT_ID, &[SCOPE])
        .expect("issued")
        .access_token;
    oauth.validate(&fresh).expect("issued after the revocation");

    oauth.set_token_lifetime(Duration::from_secs(1));
    let short = oauth.issue(CLIENT_ID, &[]).expect("issued").access_token;
    oauth.validate(&short).expect("valid at first");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = oauth.validate(&short).expect_err("expired");
    assert!(expired.contains("xpired"), "{expired}");

    let other = OAuthStandIn::start().await;
    other.register_client(CLIENT_ID, CLIENT_SECRET, &[SCOPE]);
    let foreign = other
        .issue(CLIENT_ID, &[SCOPE])
        .expect("issued")
        .access_token;
    assert!(oauth.validate(&foreign).is_err(), "another issuer's key");
}
