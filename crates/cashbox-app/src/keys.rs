//! Creating, listing and revoking API keys (the `cashbox keys` commands and the development
//! defaults that `serve` creates on first start).

use cashbox_core::api_key::{self, KeyKind, Permission};
use cashbox_core::crypto::hash_secret;
use cashbox_core::id::new_id;
use cashbox_store::ApiKeyRow;
use zeroize::Zeroizing;

use crate::{App, AppResult};

/// Source of keys that `serve` generated on its own; production refuses to run with them.
pub const SOURCE_GENERATED: &str = "generated";
pub const SOURCE_CLI: &str = "cli";

pub struct CreatedKey {
    pub row: ApiKeyRow,
    /// Shown once, never stored.
    pub secret: Zeroizing<String>,
}

impl App {
    /// Active keys that `serve` generated as development defaults.
    pub async fn generated_keys_active(&self) -> AppResult<i64> {
        Ok(self.store().count_active_api_keys(SOURCE_GENERATED).await?)
    }
}

crate::service!(ApiKeys, api_keys, "API keys: create, list, revoke.");

impl ApiKeys<'_> {
    pub async fn create(
        &self,
        kind: KeyKind,
        permissions: &[Permission],
        source: &str,
        note: Option<String>,
    ) -> AppResult<CreatedKey> {
        let secret = Zeroizing::new(api_key::generate(kind));
        let permissions: Vec<String> = if kind == KeyKind::Restricted {
            permissions.iter().map(|p| p.to_string()).collect()
        } else {
            Vec::new()
        };
        let row = ApiKeyRow {
            id: new_id("key"),
            kind: kind.as_str().into(),
            secret_hash: hash_secret(&secret),
            redacted: api_key::redact(&secret),
            permissions: permissions.join(","),
            source: source.into(),
            note,
            created: self.now(),
            revoked_at: None,
        };
        self.store().insert_api_key(&row).await?;
        Ok(CreatedKey { row, secret })
    }

    pub async fn list(&self) -> AppResult<Vec<ApiKeyRow>> {
        Ok(self.store().list_api_keys().await?)
    }

    pub async fn revoke(&self, id: &str) -> AppResult<bool> {
        let done = self.store().revoke_api_key(id, self.now()).await?;
        self.clear_auth_cache();
        Ok(done)
    }
}
