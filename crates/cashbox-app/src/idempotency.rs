//! Claiming an `Idempotency-Key` before a request runs, and giving it up when the request
//! changed nothing.

use std::sync::Arc;

use cashbox_store::{Claim, SealedColumn};
use zeroize::Zeroizing;

use crate::{App, AppResult, IdempotencyClaim};

pub enum IdempotencyOutcome {
    /// Run the request; its use case completes the claim.
    Proceed(Arc<IdempotencyClaim>),
    /// Send the saved response again.
    Replay {
        status: u16,
        body: Zeroizing<Vec<u8>>,
    },
    /// Same key, different parameters.
    Mismatch,
    /// The first request with this key is still running.
    InFlight,
}

impl App {
    pub async fn claim_idempotency(
        &self,
        api_key_id: &str,
        key: &str,
        request_hash: &[u8],
    ) -> AppResult<IdempotencyOutcome> {
        let claim = self
            .store()
            .claim_idempotency(api_key_id, key, request_hash, self.now())
            .await?;
        Ok(match claim {
            Claim::Claimed { row_id, token } => IdempotencyOutcome::Proceed(Arc::new(
                IdempotencyClaim::new(key.to_string(), row_id, token),
            )),
            Claim::Replay {
                row_id,
                status,
                sealed_body,
            } => {
                let aad = SealedColumn::IdempotencyResponses.aad(&row_id);
                IdempotencyOutcome::Replay {
                    status,
                    body: self.keys().open(&aad, &sealed_body)?,
                }
            }
            Claim::Mismatch => IdempotencyOutcome::Mismatch,
            Claim::InFlight => IdempotencyOutcome::InFlight,
        })
    }

    pub async fn release_idempotency(&self, claim: &IdempotencyClaim) -> AppResult<()> {
        Ok(self
            .store()
            .release_idempotency(&claim.row_id, &claim.token)
            .await?)
    }
}
