//! Idempotency keys. A request claims its key before it runs; the use case completes the claim
//! inside its own transaction, so the saved response and the change it describes commit
//! together or not at all. A claim whose process died is taken over after its lease expires:
//! that is safe because an uncompleted claim means nothing was committed.

use crate::db::query;
use crate::{Result, Store, Tx};
use cashbox_core::id::{new_id, random_token};

/// Saved responses are replayed for this long, as Stripe does.
pub const IDEMPOTENCY_TTL_SECS: i64 = 24 * 60 * 60;
/// A claim not completed within this long is presumed dead and may be taken over.
pub const IDEMPOTENCY_LEASE_SECS: i64 = 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This request owns the key; complete it with [`Tx::complete_idempotency`].
    Claimed { row_id: String, token: String },
    /// The same request already ran: replay its response.
    Replay {
        row_id: String,
        status: u16,
        sealed_body: Vec<u8>,
    },
    /// The key was used with different parameters.
    Mismatch,
    /// The first request with this key is still running.
    InFlight,
    /// The first request saved a provisional response (its object pending on a processor
    /// call) and stopped before its outcome: finish the object, then
    /// [`Store::settle_interrupted`] with the final response.
    Interrupted {
        row_id: String,
        sealed_body: Vec<u8>,
    },
}

impl Store {
    pub async fn claim_idempotency(
        &self,
        api_key_id: &str,
        key: &str,
        request_hash: &[u8],
        now: i64,
    ) -> Result<Claim> {
        let mut tx = self.begin().await?;
        let row_id = new_id("idem");
        let token = random_token(24);
        let locked_until = now + IDEMPOTENCY_LEASE_SECS;
        let inserted = query(
            "INSERT INTO idempotency_keys (id, api_key_id, idem_key, request_hash, state, lock_token,
                locked_until, created)
             VALUES ($1, $2, $3, $4, 'in_flight', $5, $6, $7)
             ON CONFLICT (api_key_id, idem_key) DO NOTHING")
            .bind(&row_id).bind(api_key_id).bind(key).bind(request_hash).bind(&token)
            .bind(locked_until).bind(now)
            .execute(&mut tx, 1).await?;
        if inserted == 1 {
            tx.commit().await?;
            return Ok(Claim::Claimed { row_id, token });
        }

        let sql = format!(
            "SELECT id, request_hash, state, locked_until, response_status, response_sealed, created
             FROM idempotency_keys WHERE api_key_id = $1 AND idem_key = $2{}",
            tx.lock_clause()
        );
        let (existing_id, hash, state, until, status, sealed, created) = {
            let r = query(sql)
                .bind(api_key_id)
                .bind(key)
                .fetch_one(&mut tx)
                .await?;
            (
                r.try_get::<String>("id")?,
                r.try_get::<Vec<u8>>("request_hash")?,
                r.try_get::<String>("state")?,
                r.try_get::<i64>("locked_until")?,
                r.try_get::<Option<i32>>("response_status")?,
                r.try_get::<Option<Vec<u8>>>("response_sealed")?,
                r.try_get::<i64>("created")?,
            )
        };

        let expired = created + IDEMPOTENCY_TTL_SECS <= now;
        let outcome = if !expired && hash != request_hash {
            Claim::Mismatch
        } else if !expired && state == "done" {
            Claim::Replay {
                row_id: existing_id,
                status: status.and_then(|s| u16::try_from(s).ok()).unwrap_or(500),
                sealed_body: sealed.unwrap_or_default(),
            }
        } else if !expired && until > now {
            // Running, or between its phases (its provisional response is never replayed).
            Claim::InFlight
        } else if !expired && state == "provisional" {
            Claim::Interrupted {
                row_id: existing_id,
                sealed_body: sealed.unwrap_or_default(),
            }
        } else {
            // Expired or abandoned: start afresh under a new row id and token.
            query(
                "UPDATE idempotency_keys SET id = $1, request_hash = $2, state = 'in_flight',
                    lock_token = $3, locked_until = $4, response_status = NULL,
                    response_sealed = NULL, created = $5
                 WHERE id = $6",
            )
            .bind(&row_id)
            .bind(request_hash)
            .bind(&token)
            .bind(locked_until)
            .bind(now)
            .bind(&existing_id)
            .execute(&mut tx, 1)
            .await?;
            Claim::Claimed { row_id, token }
        };
        tx.commit().await?;
        Ok(outcome)
    }

    /// Gives a claim up after a request that changed nothing (a validation error, say), so a
    /// corrected retry with the same key runs.
    pub async fn release_idempotency(&self, row_id: &str, token: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        query(
            "DELETE FROM idempotency_keys WHERE id = $1 AND lock_token = $2 AND state = 'in_flight'")
            .bind(row_id).bind(token).execute(&mut tx, 1).await?;
        tx.commit().await
    }

    /// Saves the final response of a request that was interrupted after its provisional one;
    /// false if it was no longer provisional (the request, or another retry, finished it).
    pub async fn settle_interrupted(
        &self,
        row_id: &str,
        status: u16,
        sealed_body: &[u8],
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = query(
            "UPDATE idempotency_keys SET state = 'done', response_status = $2, response_sealed = $3
             WHERE id = $1 AND state = 'provisional'",
        )
        .bind(row_id)
        .bind(i32::from(status))
        .bind(sealed_body)
        .execute(&mut tx, 1)
        .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    /// Deletes keys older than the replay window; returns how many.
    pub async fn prune_idempotency(&self, now: i64) -> Result<u64> {
        let cutoff = now - IDEMPOTENCY_TTL_SECS;
        let mut tx = self.begin().await?;
        let n = query(
            "DELETE FROM idempotency_keys WHERE created < $1 AND (state = 'done' OR locked_until < $2)")
            .bind(cutoff).bind(now).execute_counted(&mut tx).await?;
        tx.commit().await?;
        Ok(n)
    }
}

impl Tx {
    /// Replaces the response saved by an earlier phase of the same request (a confirmation
    /// saves the pending PaymentIntent first, then its outcome): the key is done.
    pub async fn replace_idempotent_response(
        &mut self,
        row_id: &str,
        token: &str,
        status: u16,
        sealed_body: &[u8],
    ) -> Result<bool> {
        let n = query(
            "UPDATE idempotency_keys SET state = 'done', response_status = $3, response_sealed = $4
             WHERE id = $1 AND lock_token = $2 AND state IN ('provisional', 'done')",
        )
        .bind(row_id)
        .bind(token)
        .bind(i32::from(status))
        .bind(sealed_body)
        .execute(&mut *self, 1)
        .await?;
        Ok(n == 1)
    }

    /// Saves the response of a claimed request: final, or `provisional` (the request goes on
    /// to a processor call and replaces it with its outcome; until then a retry with the key
    /// is told the request is in flight, never shown the provisional object). False means
    /// the claim was lost (its lease ran out and another request took it over): the caller
    /// must roll back.
    pub async fn complete_idempotency(
        &mut self,
        row_id: &str,
        token: &str,
        status: u16,
        sealed_body: &[u8],
        provisional: bool,
    ) -> Result<bool> {
        let sql = if provisional {
            "UPDATE idempotency_keys SET state = 'provisional', response_status = $3,
                response_sealed = $4
             WHERE id = $1 AND lock_token = $2 AND state = 'in_flight'"
        } else {
            "UPDATE idempotency_keys SET state = 'done', response_status = $3, response_sealed = $4
             WHERE id = $1 AND lock_token = $2 AND state = 'in_flight'"
        };
        let n = query(sql)
            .bind(row_id)
            .bind(token)
            .bind(i32::from(status))
            .bind(sealed_body)
            .execute(&mut *self, 1)
            .await?;
        Ok(n == 1)
    }
}
