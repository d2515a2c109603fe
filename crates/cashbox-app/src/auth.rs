//! Authenticating API keys. Keys are looked up by hash and compared in constant time; results
//! are cached briefly so the hot path does not touch the database on every request.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use cashbox_core::api_key::{Grants, KeyKind, Permission, redact};
use cashbox_core::crypto::{constant_time_eq, hash_secret};

use crate::{App, AppResult};

/// How long a looked-up key (or its absence) is trusted. A key revoked by `cashbox keys revoke`
/// in another process stops working within this time.
pub const AUTH_CACHE_TTL: Duration = Duration::from_secs(5);
/// Cached entries beyond this are dropped wholesale, so random bad keys cannot grow memory.
pub const AUTH_CACHE_ENTRIES_MAX: usize = 10_000;

/// Id under which the operator's `CASHBOX_SECRET_KEY` acts (rate limits, idempotency scope).
pub const ENV_KEY_ID: &str = "key_env";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key_id: String,
    pub grants: Grants,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// Not a key at all, unknown, or revoked. Carries the redacted key for the message.
    Invalid { redacted: String },
}

/// A key's hash → what it authenticated as (`None`: nothing) and when that was looked up.
type CachedLookups = HashMap<Vec<u8>, (Option<Principal>, Instant)>;

#[derive(Default)]
pub(crate) struct AuthCache {
    entries: RwLock<CachedLookups>,
}

impl App {
    pub async fn authenticate(&self, secret: &str) -> AppResult<Result<Principal, AuthFailure>> {
        let invalid = || AuthFailure::Invalid {
            redacted: redact(secret),
        };
        if KeyKind::of_secret(secret).is_none() {
            return Ok(Err(invalid()));
        }
        let hash = hash_secret(secret);
        if let Some(env_hash) = &self.inner.settings.env_secret_key_hash
            && constant_time_eq(&hash, env_hash)
        {
            return Ok(Ok(Principal {
                key_id: ENV_KEY_ID.into(),
                grants: Grants {
                    kind: KeyKind::Secret,
                    permissions: vec![],
                },
            }));
        }
        let cache = &self.inner.auth_cache;
        if let Some((found, at)) = cache.entries.read().expect("auth cache lock").get(&hash)
            && at.elapsed() < AUTH_CACHE_TTL
        {
            return Ok(found.clone().ok_or_else(invalid));
        }
        let found = match self.store().api_key_by_hash(&hash).await? {
            Some(row) if row.revoked_at.is_none() && constant_time_eq(&row.secret_hash, &hash) => {
                let kind = KeyKind::parse(&row.kind).ok_or_else(|| {
                    crate::AppError::Corrupt(format!("api key {} has kind {:?}", row.id, row.kind))
                })?;
                let permissions = row
                    .permissions
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(Permission::parse)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(crate::AppError::Corrupt)?;
                Some(Principal {
                    key_id: row.id,
                    grants: Grants { kind, permissions },
                })
            }
            _ => None,
        };
        let mut entries = cache.entries.write().expect("auth cache lock");
        if entries.len() >= AUTH_CACHE_ENTRIES_MAX {
            entries.clear();
        }
        entries.insert(hash, (found.clone(), Instant::now()));
        Ok(found.ok_or_else(invalid))
    }

    /// Forgets cached keys, after this process revoked one.
    pub fn clear_auth_cache(&self) {
        self.inner
            .auth_cache
            .entries
            .write()
            .expect("auth cache lock")
            .clear();
    }
}
