//! Claiming an `Idempotency-Key` before a request runs, and giving it up when the request
//! changed nothing.

use std::sync::Arc;

use cashbox_core::billing::invoice::Invoice;
use cashbox_core::billing::subscription::Subscription;
use cashbox_core::payments::{PaymentIntent, Refund, RefundStatus, SetupIntent};
use cashbox_store::{Claim, SealedColumn};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::{App, AppError, AppResult, IdempotencyClaim};

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
            Claim::Interrupted {
                row_id,
                sealed_body,
            } => {
                let aad = SealedColumn::IdempotencyResponses.aad(&row_id);
                let provisional: Value = serde_json::from_slice(
                    &self.keys().open(&aad, &sealed_body)?,
                )
                .map_err(|e| AppError::Corrupt(format!("idempotent response {row_id}: {e}")))?;
                match self.finish_interrupted(&provisional).await? {
                    None => IdempotencyOutcome::InFlight,
                    Some(body) => {
                        // Another retry may have settled it first: either saved the same
                        // object, finished.
                        self.store()
                            .settle_interrupted(&row_id, 200, &self.seal_response(&row_id, &body))
                            .await?;
                        IdempotencyOutcome::Replay {
                            status: 200,
                            body: Zeroizing::new(body.to_string().into_bytes()),
                        }
                    }
                }
            }
        })
    }

    /// The final rendering of the object a stopped request left pending (its provisional
    /// response), once the object is finished with its processor call's outcome, as the
    /// recovery sweep finishes it; `None` while it is still pending.
    async fn finish_interrupted(&self, provisional: &Value) -> AppResult<Option<Value>> {
        let id = provisional["id"].as_str().unwrap_or_default();
        Ok(match provisional["object"].as_str() {
            Some("payment_intent") => {
                self.resume_payment_intent(id).await?;
                let pi: PaymentIntent = self.load(id).await?;
                pi.pending.is_none().then(|| pi.to_json())
            }
            Some("refund") => {
                self.resume_refund(id).await?;
                let refund: Refund = self.load(id).await?;
                (refund.status != RefundStatus::Pending).then(|| refund.to_json())
            }
            Some("setup_intent") => {
                self.resume_setup_intent(id).await?;
                let seti: SetupIntent = self.load(id).await?;
                seti.pending_since.is_none().then(|| seti.to_json())
            }
            Some("subscription") => {
                // Its first invoice's payment, or the one an update started.
                let sub: Subscription = self.load(id).await?;
                let intent = match &sub.latest_invoice {
                    Some(inv) => self.load::<Invoice>(inv).await?.payment_intent,
                    None => None,
                };
                let settled = match intent {
                    Some(pi) => {
                        self.resume_payment_intent(&pi).await?;
                        self.load::<PaymentIntent>(&pi).await?.pending.is_none()
                    }
                    None => true,
                };
                let sub: Subscription = self.load(id).await?;
                settled.then(|| self.render_subscription(&sub))
            }
            other => {
                return Err(AppError::Corrupt(format!(
                    "a provisional response of an unexpected object: {other:?}"
                )));
            }
        })
    }

    pub async fn release_idempotency(&self, claim: &IdempotencyClaim) -> AppResult<()> {
        Ok(self
            .store()
            .release_idempotency(&claim.row_id, &claim.token)
            .await?)
    }
}
