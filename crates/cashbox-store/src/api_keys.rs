//! API keys: only hashes are stored.

use crate::db::{Row, query};
use crate::{Result, Store};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub id: String,
    /// `secret`, `restricted` or `publishable`.
    pub kind: String,
    pub secret_hash: Vec<u8>,
    /// What may be shown of the key: `sk_test_****wxyz`.
    pub redacted: String,
    /// Comma-separated `resource:access` grants of a restricted key.
    pub permissions: String,
    /// `generated` (development defaults), `cli`.
    pub source: String,
    pub note: Option<String>,
    pub created: i64,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str =
    "id, kind, secret_hash, redacted, permissions, source, note, created, revoked_at";

impl ApiKeyRow {
    fn from_row(r: &Row) -> Result<Self> {
        Ok(Self {
            id: r.try_get("id")?,
            kind: r.try_get("kind")?,
            secret_hash: r.try_get("secret_hash")?,
            redacted: r.try_get("redacted")?,
            permissions: r.try_get("permissions")?,
            source: r.try_get("source")?,
            note: r.try_get("note")?,
            created: r.try_get("created")?,
            revoked_at: r.try_get("revoked_at")?,
        })
    }
}

impl Store {
    pub async fn insert_api_key(&self, k: &ApiKeyRow) -> Result<()> {
        let mut tx = self.begin().await?;
        query(
            "INSERT INTO api_keys (id, kind, secret_hash, redacted, permissions, source, note, created, revoked_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(&k.id).bind(&k.kind).bind(&k.secret_hash).bind(&k.redacted)
            .bind(&k.permissions).bind(&k.source).bind(&k.note).bind(k.created).bind(k.revoked_at)
            .execute(&mut tx, 1).await?;
        tx.commit().await
    }

    /// The key whose hash is `hash`, revoked or not.
    pub async fn api_key_by_hash(&self, hash: &[u8]) -> Result<Option<ApiKeyRow>> {
        query(format!(
            "SELECT {COLUMNS} FROM api_keys WHERE secret_hash = $1"
        ))
        .bind(hash)
        .fetch_optional(self)
        .await?
        .as_ref()
        .map(ApiKeyRow::from_row)
        .transpose()
    }

    /// Every key, oldest first.
    pub async fn list_api_keys(&self) -> Result<Vec<ApiKeyRow>> {
        let rows = query(format!("SELECT {COLUMNS} FROM api_keys ORDER BY id"))
            .fetch_all(self)
            .await?;
        rows.iter().map(ApiKeyRow::from_row).collect()
    }

    /// Revokes an active key; false if there is no such active key.
    pub async fn revoke_api_key(&self, id: &str, now: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done =
            query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut tx, 1)
                .await?;
        tx.commit().await?;
        Ok(done == 1)
    }

    /// Active keys created from `source`, e.g. the development defaults.
    pub async fn count_active_api_keys(&self, source: &str) -> Result<i64> {
        let r =
            query("SELECT COUNT(*) AS n FROM api_keys WHERE source = $1 AND revoked_at IS NULL")
                .bind(source)
                .fetch_one(self)
                .await?;
        r.try_get("n")
    }
}
