//! Authenticating API keys. Keys are looked up by hash and compared in constant time; results
//! are cached briefly so the hot path does not touch the database on every request.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
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

/// Keys looked up lately. Its lock guards a plain map that no panic can leave half-changed
/// (an insert either happened or not), so a lock poisoned by a panicking thread is taken as it
/// is: otherwise every later request would fail until a restart.
#[derive(Default)]
pub(crate) struct AuthCache {
    entries: RwLock<CachedLookups>,
}

impl AuthCache {
    fn read(&self) -> RwLockReadGuard<'_, CachedLookups> {
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, CachedLookups> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// What `hash` authenticated as, if looked up within [`AUTH_CACHE_TTL`].
    fn get(&self, hash: &[u8]) -> Option<Option<Principal>> {
        let entries = self.read();
        let (found, at) = entries.get(hash)?;
        (at.elapsed() < AUTH_CACHE_TTL).then(|| found.clone())
    }

    fn put(&self, hash: Vec<u8>, found: Option<Principal>) {
        let mut entries = self.write();
        if entries.len() >= AUTH_CACHE_ENTRIES_MAX {
            entries.clear();
        }
        entries.insert(hash, (found, Instant::now()));
    }

    fn clear(&self) {
        self.write().clear();
    }
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
        if let Some(found) = cache.get(&hash) {
            return Ok(found.ok_or_else(invalid));
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
        cache.put(hash, found.clone());
        Ok(found.ok_or_else(invalid))
    }

    /// Forgets cached keys, after this process revoked one.
    pub fn clear_auth_cache(&self) {
        self.inner.auth_cache.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_poisoned_by_a_panic_still_serves_the_cache() {
        let cache = std::sync::Arc::new(AuthCache::default());
        let principal = Principal {
            key_id: "key_1".into(),
            grants: Grants {
                kind: KeyKind::Secret,
                permissions: vec![],
            },
        };
        cache.put(b"a".to_vec(), Some(principal.clone()));
        let poisoner = cache.clone();
        let panicked = std::thread::spawn(move || {
            let _held = poisoner.entries.write().unwrap();
            panic!("a panic while the lock is held");
        })
        .join();
        assert!(panicked.is_err());
        assert!(cache.entries.is_poisoned());
        assert_eq!(cache.get(b"a"), Some(Some(principal)));
        cache.put(b"b".to_vec(), None);
        assert_eq!(cache.get(b"b"), Some(None));
        cache.clear();
        assert_eq!(cache.get(b"a"), None);
    }
}
