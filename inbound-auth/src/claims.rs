//! The checks every accepted token's claims pass, in `verify` mode after the signature and in
//! `agentcore` mode on their own: expiry (`exp`, and `nbf` when present) with a leeway, the
//! issue time (`iat`, when present, not in the future beyond the leeway), the lifetime (at
//! most the configured maximum), the issuer, the kind of token (`token_use`) and the app
//! client. Pure functions of the claims and the time, so they are unit-tested here with a
//! fixed clock.
//!
//! The lifetime is `exp - iat`: what the issuer granted, whatever is left of it. A token
//! without `iat` (Cognito always sets it; RFC 7519 makes it optional) is judged by what is
//! left, `exp - now`, with the leeway for the clock skew between issuer and service: such a
//! token is refused when it would stay valid for longer than the maximum from now on.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::caller::{Principal, TokenUse};
use crate::config::TokenUsePolicy;
use crate::error::Rejection;

/// What a token's claims must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRules {
    /// The exact `iss` value the tokens carry, e.g.
    /// `https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf`.
    pub issuer: String,
    /// App client ids allowed to call (`client_id` of access tokens, `aud` of ID tokens).
    /// Must not be empty.
    pub allowed_client_ids: BTreeSet<String>,
    /// Which kinds of token are accepted.
    pub token_use: TokenUsePolicy,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// Longest lifetime accepted (see the module documentation). Must not be zero.
    pub max_lifetime: Duration,
}

impl ClaimRules {
    /// Checks the claims at time `now` (seconds since the Unix epoch) and turns them into the
    /// caller's identity.
    pub(crate) fn check(
        &self,
        claims: Map<String, Value>,
        now: u64,
    ) -> Result<Principal, Rejection> {
        let leeway = self.leeway.as_secs();

        let exp = claims
            .get("exp")
            .and_then(numeric_date)
            .ok_or(Rejection::MissingExpiry)?;
        if now >= exp.saturating_add(leeway) {
            return Err(Rejection::Expired);
        }
        if let Some(nbf) = claims.get("nbf") {
            let nbf = numeric_date(nbf).ok_or(Rejection::NotYetValid)?;
            if nbf > now.saturating_add(leeway) {
                return Err(Rejection::NotYetValid);
            }
        }
        let iat = match claims.get("iat") {
            Some(iat) => Some(numeric_date(iat).ok_or(Rejection::InvalidIssuedAt)?),
            None => None,
        };
        if iat.is_some_and(|iat| iat > now.saturating_add(leeway)) {
            return Err(Rejection::IssuedInFuture);
        }
        let max_lifetime = self.max_lifetime.as_secs();
        let too_long = match iat {
            Some(iat) => exp.saturating_sub(iat) > max_lifetime,
            None => exp.saturating_sub(now) > max_lifetime.saturating_add(leeway),
        };
        if too_long {
            return Err(Rejection::LifetimeTooLong {
                max_seconds: max_lifetime,
            });
        }

        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Err(Rejection::WrongIssuer);
        }

        let token_use = match claims.get("token_use").and_then(Value::as_str) {
            Some("access") => TokenUse::Access,
            Some("id") => TokenUse::Id,
            _ => return Err(Rejection::WrongTokenUse),
        };
        if !self.token_use.accepts(token_use) {
            return Err(Rejection::TokenUseNotAccepted {
                presented: token_use,
                accepted: self.token_use,
            });
        }

        let client_id = match token_use {
            TokenUse::Access => claims
                .get("client_id")
                .and_then(Value::as_str)
                .map(str::to_owned),
            TokenUse::Id => single_audience(claims.get("aud")),
        }
        .ok_or(Rejection::MissingClient)?;
        if !self.allowed_client_ids.contains(&client_id) {
            return Err(Rejection::ClientNotAllowed);
        }

        let subject = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|sub| !sub.is_empty())
            .ok_or(Rejection::MissingSubject)?
            .to_owned();

        let username = ["username", "cognito:username"]
            .iter()
            .find_map(|name| claims.get(*name).and_then(Value::as_str))
            .map(str::to_owned);
        let groups = claims
            .get("cognito:groups")
            .and_then(Value::as_array)
            .map(|groups| {
                groups
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let scopes = claims
            .get("scope")
            .and_then(Value::as_str)
            .map(|scope| scope.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();

        Ok(Principal {
            subject,
            username,
            groups,
            client_id,
            scopes,
            token_use,
            claims,
        })
    }
}

/// A JWT NumericDate: seconds since the epoch, an integer or (rarely) a fraction.
fn numeric_date(value: &Value) -> Option<u64> {
    if let Some(seconds) = value.as_u64() {
        return Some(seconds);
    }
    let seconds = value.as_f64()?;
    if seconds.is_finite() && seconds >= 0.0 && seconds < u64::MAX as f64 {
        // Truncation is the intent: a fraction of a second does not matter here.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Some(seconds as u64)
    } else {
        None
    }
}

/// The one audience of an ID token: Cognito sets `aud` to the client id as a string; an
/// array is accepted only when it names exactly one audience.
fn single_audience(aud: Option<&Value>) -> Option<String> {
    match aud? {
        Value::String(aud) => Some(aud.clone()),
        Value::Array(items) => match items.as_slice() {
            [Value::String(aud)] => Some(aud.clone()),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Test";
    const NOW: u64 = 1_800_000_000;
    const DAY: u64 = 86_400;
    const HOUR: u64 = 3_600;

    fn rules(token_use: TokenUsePolicy) -> ClaimRules {
        ClaimRules {
            issuer: ISSUER.to_owned(),
            allowed_client_ids: ["client-a".to_owned()].into_iter().collect(),
            token_use,
            leeway: Duration::from_secs(30),
            max_lifetime: Duration::from_secs(DAY),
        }
    }

    fn access_claims() -> Map<String, Value> {
        let Value::Object(map) = json!({
            "iss": ISSUER,
            "sub": "user-1",
            "client_id": "client-a",
            "token_use": "access",
            "exp": NOW + 3600,
            "iat": NOW,
            "username": "alice",
            "scope": "aws.cognito.signin.user.admin support/read",
            "cognito:groups": ["staff", "beta"],
        }) else {
            unreachable!("a JSON object literal")
        };
        map
    }

    fn id_claims() -> Map<String, Value> {
        let Value::Object(map) = json!({
            "iss": ISSUER,
            "sub": "user-1",
            "aud": "client-a",
            "token_use": "id",
            "exp": NOW + 3600,
            "cognito:username": "alice",
            "custom:customer_id": "CUST-001",
        }) else {
            unreachable!("a JSON object literal")
        };
        map
    }

    fn with(mut claims: Map<String, Value>, name: &str, value: Value) -> Map<String, Value> {
        claims.insert(name.to_owned(), value);
        claims
    }

    fn without(mut claims: Map<String, Value>, name: &str) -> Map<String, Value> {
        claims.remove(name);
        claims
    }

    #[test]
    fn access_token_claims_become_a_principal() {
        let principal = rules(TokenUsePolicy::Access)
            .check(access_claims(), NOW)
            .unwrap();
        assert_eq!(principal.subject, "user-1");
        assert_eq!(principal.username.as_deref(), Some("alice"));
        assert_eq!(principal.groups, ["staff", "beta"]);
        assert_eq!(principal.client_id, "client-a");
        assert_eq!(
            principal.scopes,
            ["aws.cognito.signin.user.admin", "support/read"]
        );
        assert_eq!(principal.token_use, TokenUse::Access);
        assert_eq!(principal.claims, access_claims());
    }

    #[test]
    fn id_token_client_comes_from_aud_and_username_from_cognito_username() {
        let principal = rules(TokenUsePolicy::Id).check(id_claims(), NOW).unwrap();
        assert_eq!(principal.client_id, "client-a");
        assert_eq!(principal.username.as_deref(), Some("alice"));
        assert_eq!(principal.token_use, TokenUse::Id);
        assert!(principal.groups.is_empty());
        assert!(principal.scopes.is_empty());
        assert_eq!(principal.claim_str("custom:customer_id"), Some("CUST-001"));
    }

    #[test]
    fn expiry_is_checked_with_the_leeway() {
        let rules = rules(TokenUsePolicy::Access);
        let claims = with(access_claims(), "exp", json!(NOW));
        assert!(rules.check(claims.clone(), NOW + 29).is_ok());
        assert_eq!(
            rules.check(claims.clone(), NOW + 30),
            Err(Rejection::Expired)
        );
        assert_eq!(rules.check(claims, NOW + 3600), Err(Rejection::Expired));
    }

    #[test]
    fn zero_leeway_refuses_at_the_expiry_second() {
        let mut rules = rules(TokenUsePolicy::Access);
        rules.leeway = Duration::ZERO;
        let claims = with(
            with(access_claims(), "iat", json!(NOW - 60)),
            "exp",
            json!(NOW),
        );
        assert!(rules.check(claims.clone(), NOW - 1).is_ok());
        assert_eq!(rules.check(claims, NOW), Err(Rejection::Expired));
    }

    #[test]
    fn missing_or_malformed_expiry_is_refused() {
        let rules = rules(TokenUsePolicy::Access);
        assert_eq!(
            rules.check(without(access_claims(), "exp"), NOW),
            Err(Rejection::MissingExpiry)
        );
        assert_eq!(
            rules.check(with(access_claims(), "exp", json!("tomorrow")), NOW),
            Err(Rejection::MissingExpiry)
        );
        assert_eq!(
            rules.check(with(access_claims(), "exp", json!(-5)), NOW),
            Err(Rejection::MissingExpiry)
        );
    }

    #[test]
    fn fractional_expiry_is_accepted() {
        let claims = with(access_claims(), "exp", json!((NOW + 100) as f64 + 0.5));
        assert!(rules(TokenUsePolicy::Access).check(claims, NOW).is_ok());
    }

    #[test]
    fn not_before_is_checked_with_the_leeway_when_present() {
        let rules = rules(TokenUsePolicy::Access);
        assert!(
            rules
                .check(with(access_claims(), "nbf", json!(NOW + 30)), NOW)
                .is_ok()
        );
        assert_eq!(
            rules.check(with(access_claims(), "nbf", json!(NOW + 31)), NOW),
            Err(Rejection::NotYetValid)
        );
        assert_eq!(
            rules.check(with(access_claims(), "nbf", json!("soon")), NOW),
            Err(Rejection::NotYetValid)
        );
    }

    #[test]
    fn issued_at_in_the_future_beyond_the_leeway_is_refused() {
        let rules = rules(TokenUsePolicy::Access);
        assert!(
            rules
                .check(with(access_claims(), "iat", json!(NOW + 30)), NOW)
                .is_ok(),
            "within the leeway"
        );
        assert_eq!(
            rules.check(with(access_claims(), "iat", json!(NOW + 31)), NOW),
            Err(Rejection::IssuedInFuture)
        );
        assert_eq!(
            rules.check(with(access_claims(), "iat", json!(NOW + HOUR)), NOW),
            Err(Rejection::IssuedInFuture)
        );
        for iat in [json!("now"), json!(-1), json!(null), json!([NOW])] {
            assert_eq!(
                rules.check(with(access_claims(), "iat", iat.clone()), NOW),
                Err(Rejection::InvalidIssuedAt),
                "iat {iat}"
            );
        }
    }

    #[test]
    fn zero_leeway_refuses_an_iat_one_second_ahead() {
        let mut rules = rules(TokenUsePolicy::Access);
        rules.leeway = Duration::ZERO;
        assert!(
            rules
                .check(with(access_claims(), "iat", json!(NOW)), NOW)
                .is_ok()
        );
        assert_eq!(
            rules.check(with(access_claims(), "iat", json!(NOW + 1)), NOW),
            Err(Rejection::IssuedInFuture)
        );
    }

    #[test]
    fn lifetime_is_exp_minus_iat_and_at_most_the_maximum() {
        let rules = rules(TokenUsePolicy::Access);
        let lifetime =
            |iat: u64, exp: u64| with(with(access_claims(), "iat", json!(iat)), "exp", json!(exp));
        assert!(rules.check(lifetime(NOW, NOW + DAY), NOW).is_ok());
        let too_long = Err(Rejection::LifetimeTooLong { max_seconds: DAY });
        assert_eq!(rules.check(lifetime(NOW, NOW + DAY + 1), NOW), too_long);
        // Ten years, as a forger might mint.
        assert_eq!(
            rules.check(lifetime(NOW, NOW + 10 * 365 * DAY), NOW),
            too_long
        );
        // Issued 20 h ago for 25 h: only 5 h are left, but the issuer granted too much.
        assert_eq!(
            rules.check(lifetime(NOW - 20 * HOUR, NOW + 5 * HOUR), NOW),
            too_long
        );
        assert_eq!(
            Rejection::LifetimeTooLong { max_seconds: DAY }.to_string(),
            "valid for longer than AUTH_MAX_TOKEN_LIFETIME_SECONDS=86400 (exp - iat, or exp - now without iat)"
        );
    }

    #[test]
    fn the_maximum_lifetime_is_configurable() {
        let mut rules = rules(TokenUsePolicy::Access);
        rules.max_lifetime = Duration::from_secs(HOUR);
        let claims = with(access_claims(), "exp", json!(NOW + HOUR + 1));
        assert_eq!(
            rules.check(claims, NOW),
            Err(Rejection::LifetimeTooLong { max_seconds: HOUR })
        );
        assert!(rules.check(access_claims(), NOW).is_ok(), "exactly an hour");
    }

    #[test]
    fn without_iat_the_time_left_counts_with_the_leeway() {
        let rules = rules(TokenUsePolicy::Id);
        assert!(!id_claims().contains_key("iat"));
        assert!(
            rules
                .check(with(id_claims(), "exp", json!(NOW + DAY + 30)), NOW)
                .is_ok()
        );
        assert_eq!(
            rules.check(with(id_claims(), "exp", json!(NOW + DAY + 31)), NOW),
            Err(Rejection::LifetimeTooLong { max_seconds: DAY })
        );
    }

    #[test]
    fn issuer_must_match_exactly() {
        let rules = rules(TokenUsePolicy::Access);
        for iss in [
            json!(format!("{ISSUER}/")),
            json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"),
            json!([ISSUER]),
        ] {
            assert_eq!(
                rules.check(with(access_claims(), "iss", iss.clone()), NOW),
                Err(Rejection::WrongIssuer),
                "iss {iss}"
            );
        }
        assert_eq!(
            rules.check(without(access_claims(), "iss"), NOW),
            Err(Rejection::WrongIssuer)
        );
    }

    #[test]
    fn token_use_policy_selects_the_kinds_accepted() {
        let access = access_claims();
        let id = id_claims();
        assert!(
            rules(TokenUsePolicy::Access)
                .check(access.clone(), NOW)
                .is_ok()
        );
        assert_eq!(
            rules(TokenUsePolicy::Access).check(id.clone(), NOW),
            Err(Rejection::TokenUseNotAccepted {
                presented: TokenUse::Id,
                accepted: TokenUsePolicy::Access
            })
        );
        assert!(rules(TokenUsePolicy::Id).check(id.clone(), NOW).is_ok());
        let refused = rules(TokenUsePolicy::Id).check(access.clone(), NOW);
        assert_eq!(
            refused,
            Err(Rejection::TokenUseNotAccepted {
                presented: TokenUse::Access,
                accepted: TokenUsePolicy::Id
            })
        );
        // The log line says which kind came and which is wanted.
        assert_eq!(
            refused.unwrap_err().to_string(),
            "token_use not accepted: the token has token_use=access, but AUTH_TOKEN_USE=id accepts ID tokens only"
        );
        assert!(
            rules(TokenUsePolicy::Any)
                .check(access.clone(), NOW)
                .is_ok()
        );
        assert!(rules(TokenUsePolicy::Any).check(id, NOW).is_ok());
        for token_use in [json!("refresh"), json!(null), json!(1)] {
            assert_eq!(
                rules(TokenUsePolicy::Any).check(with(access.clone(), "token_use", token_use), NOW),
                Err(Rejection::WrongTokenUse)
            );
        }
        assert_eq!(
            rules(TokenUsePolicy::Any).check(without(access, "token_use"), NOW),
            Err(Rejection::WrongTokenUse)
        );
    }

    #[test]
    fn client_must_be_allowed() {
        let rules = rules(TokenUsePolicy::Any);
        assert_eq!(
            rules.check(with(access_claims(), "client_id", json!("client-b")), NOW),
            Err(Rejection::ClientNotAllowed)
        );
        assert_eq!(
            rules.check(with(id_claims(), "aud", json!("client-b")), NOW),
            Err(Rejection::ClientNotAllowed)
        );
        assert_eq!(
            rules.check(without(access_claims(), "client_id"), NOW),
            Err(Rejection::MissingClient)
        );
        // An access token's `aud` does not stand in for its `client_id`.
        assert_eq!(
            rules.check(
                with(
                    without(access_claims(), "client_id"),
                    "aud",
                    json!("client-a")
                ),
                NOW
            ),
            Err(Rejection::MissingClient)
        );
        assert!(
            rules
                .check(with(id_claims(), "aud", json!(["client-a"])), NOW)
                .is_ok()
        );
        assert_eq!(
            rules.check(
                with(id_claims(), "aud", json!(["client-a", "client-b"])),
                NOW
            ),
            Err(Rejection::MissingClient)
        );
    }

    #[test]
    fn subject_is_required() {
        let rules = rules(TokenUsePolicy::Access);
        assert_eq!(
            rules.check(without(access_claims(), "sub"), NOW),
            Err(Rejection::MissingSubject)
        );
        assert_eq!(
            rules.check(with(access_claims(), "sub", json!("")), NOW),
            Err(Rejection::MissingSubject)
        );
    }
}
