//! The token cache every fetching kind of credentials shares: a value kept until shortly
//! before it expires (60 s before, or half the lifetime for values that live less than two
//! minutes), one fetch for all concurrent callers, and the lifetime of a fetched token, from
//! the token endpoint's `expires_in`, else the JWT's `exp`, else [`FALLBACK_LIFETIME`].
//!
//! The `exp` is read unverified: the token is only forwarded, and its audience verifies it.

use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;

/// How long a token is kept when its lifetime cannot be known (no `expires_in`, no JWT `exp`).
pub(super) const FALLBACK_LIFETIME: Duration = Duration::from_secs(300);
/// How long before expiry a token is replaced (less for short-lived tokens, see [`reuse_for`]).
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// How long after a fetch a value with `lifetime` left is still used: until 60 s before it
/// expires, or until half its lifetime for values that live less than two minutes (so a
/// short-lived token is still reused rather than fetched for every request).
fn reuse_for(lifetime: Duration) -> Duration {
    lifetime - REFRESH_MARGIN.min(lifetime / 2)
}

/// The `exp` claim of a JWT, read without verifying the signature. `None` when `token` is no
/// JWT or has no numeric `exp`.
fn jwt_expiry(token: &str) -> Option<SystemTime> {
    let mut parts = token.split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    parts.next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_f64()?;
    if !exp.is_finite() || exp < 0.0 {
        return None;
    }
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs_f64(exp))
}

/// The remaining lifetime of a token fetched now: from `expires_in` when the issuer gave it,
/// else from the JWT's `exp`, else [`FALLBACK_LIFETIME`].
pub(super) fn token_lifetime(expires_in: Option<u64>, token: &str) -> Duration {
    if let Some(seconds) = expires_in {
        return Duration::from_secs(seconds);
    }
    match jwt_expiry(token) {
        Some(exp) => exp
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
        None => FALLBACK_LIFETIME,
    }
}

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A value worth reusing until `reuse_until`, with single-flight refresh: callers that find it
/// missing or stale queue on `fetching`, and all but the first find it fresh once they get in.
pub(super) struct Cache<T> {
    current: Mutex<Option<(T, Instant)>>,
    fetching: tokio::sync::Mutex<()>,
}

impl<T: Clone> Cache<T> {
    pub(super) fn new() -> Self {
        Self {
            current: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    pub(super) fn usable(&self) -> Option<T> {
        lock(&self.current)
            .as_ref()
            .filter(|(_, reuse_until)| Instant::now() < *reuse_until)
            .map(|(value, _)| value.clone())
    }

    /// The cached value, or a fresh one from `fetch` (which returns the value and its lifetime).
    pub(super) async fn get<E, Fut>(&self, fetch: impl FnOnce() -> Fut) -> Result<T, E>
    where
        Fut: Future<Output = Result<(T, Duration), E>>,
    {
        if let Some(value) = self.usable() {
            return Ok(value);
        }
        let _turn = self.fetching.lock().await;
        if let Some(value) = self.usable() {
            return Ok(value);
        }
        let fetched_at = Instant::now();
        let (value, lifetime) = fetch().await?;
        *lock(&self.current) = Some((value.clone(), fetched_at + reuse_for(lifetime)));
        Ok(value)
    }

    pub(super) fn clear(&self) {
        lock(&self.current).take();
    }

    /// Clears the value only if `refused` says it is the cached one (a newer value fetched by
    /// a concurrent caller is kept).
    pub(super) fn clear_if(&self, refused: impl FnOnce(&T) -> bool) {
        let mut current = lock(&self.current);
        if current.as_ref().is_some_and(|(value, _)| refused(value)) {
            current.take();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    use super::super::fake_token_services::jwt_with;

    #[test]
    fn tokens_are_reused_until_a_minute_before_expiry_or_half_their_life() {
        assert_eq!(
            reuse_for(Duration::from_secs(3600)),
            Duration::from_secs(3540)
        );
        assert_eq!(reuse_for(Duration::from_secs(120)), Duration::from_secs(60));
        assert_eq!(reuse_for(Duration::from_secs(100)), Duration::from_secs(50));
        assert_eq!(
            reuse_for(Duration::from_secs(1)),
            Duration::from_millis(500)
        );
        assert_eq!(reuse_for(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn the_jwt_exp_is_read_without_verifying() {
        let token = jwt_with(&json!({"exp": 2_000_000_000u64, "sub": "x"}));
        assert_eq!(
            jwt_expiry(&token),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000))
        );
        for not_usable in [
            "opaque-token".to_owned(),
            "a.b".to_owned(),
            "a.!!!.c".to_owned(),
            jwt_with(&json!({"sub": "no exp"})),
            jwt_with(&json!({"exp": "tomorrow"})),
            jwt_with(&json!({"exp": -5})),
        ] {
            assert_eq!(jwt_expiry(&not_usable), None, "{not_usable}");
        }
    }

    #[test]
    fn the_lifetime_comes_from_expires_in_then_exp_then_the_fallback() {
        let in_ten_minutes = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs()
            + 600;
        let jwt = jwt_with(&json!({"exp": in_ten_minutes}));
        assert_eq!(token_lifetime(Some(42), &jwt), Duration::from_secs(42));
        let from_exp = token_lifetime(None, &jwt);
        assert!(
            (Duration::from_secs(595)..=Duration::from_secs(600)).contains(&from_exp),
            "{from_exp:?}"
        );
        assert_eq!(token_lifetime(None, "opaque"), FALLBACK_LIFETIME);
        let expired = jwt_with(&json!({"exp": 1_000}));
        assert_eq!(token_lifetime(None, &expired), Duration::ZERO);
    }
}
