//! The processor's webhooks coming in (Stripe's, at `/webhooks/stripe`).
//!
//! A delivery is verified, kept once by its event id and acknowledged at once; the event is
//! applied afterwards (at once in the background, and by serve's recovery tick for any left
//! pending). Applying never trusts the order or the number of deliveries: it reads the object's
//! state now from the processor and records only what Cashbox does not know yet, under the lock
//! of the object it changes, so a third delivery, or an older event after a newer one, changes
//! nothing.

use cashbox_core::ParamError;
use cashbox_core::inbound::{
    InboundEvent, InboundListParams, InboundStatus, TOLERANCE_SECS, is_event_id,
    verify_stripe_signature,
};
use cashbox_core::payments::{Charge, PaymentIntent, PaymentMethod};
use cashbox_store::{DocFilter, DocTable};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::docs::Doc;
use crate::events::ListResult;
use crate::{App, AppError, AppResult, RequestCtx};

/// The secrets Stripe signs its webhooks to Cashbox with (more than one while one is rotated
/// out). `Debug` never shows them.
#[derive(Clone, Default)]
pub struct InboundSecrets(pub Vec<Zeroizing<String>>);

impl std::fmt::Debug for InboundSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InboundSecrets({} redacted)", self.0.len())
    }
}

impl Doc for InboundEvent {
    const TABLE: DocTable = DocTable::ProcessorEvents;
    const PREFIX: &'static str = "evt";
    const NAME: &'static str = "processor_event";
    fn id(&self) -> &str {
        &self.id
    }
    /// Listed and kept by when Cashbox received it, not when the processor made it.
    #[allow(clippy::misnamed_getters)]
    fn created(&self) -> i64 {
        self.received
    }
    fn customer(&self) -> Option<&str> {
        None
    }
    fn status(&self) -> String {
        self.status.as_str().into()
    }
    fn parent(&self) -> Option<&str> {
        self.object_id()
    }
    fn valid_id(id: &str) -> bool {
        is_event_id(id)
    }
}

/// What a delivery was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// First seen: kept, to be applied.
    New(String),
    /// Delivered before: nothing written.
    Again(String),
}

/// Events applied per round of the queue.
pub const APPLY_BATCH: u32 = 100;

impl App {
    /// Verifies and keeps one delivery of Stripe's webhook.
    pub async fn receive_stripe_event(
        &self,
        signature: Option<&str>,
        body: &[u8],
    ) -> AppResult<Received> {
        let secrets = &self.settings().inbound_secrets.0;
        if secrets.is_empty() {
            return Err(AppError::not_found("webhook receiver", "stripe"));
        }
        let secrets: Vec<&str> = secrets.iter().map(|s| s.as_str()).collect();
        verify_stripe_signature(signature, body, &secrets, self.now(), TOLERANCE_SECS)
            .map_err(|e| ParamError::invalid("Stripe-Signature", e.to_string()))?;
        let event = InboundEvent::parse("stripe", body, self.now())
            .map_err(|e| ParamError::invalid("body", e.to_string()))?;
        let id = event.id.clone();
        let mut tx = self.store().begin().await?;
        match self.insert_doc(&mut tx, &event).await {
            Ok(()) => {}
            Err(AppError::Store(e)) if e.is_unique_violation() => return Ok(Received::Again(id)),
            Err(e) => return Err(e),
        }
        match tx.commit().await {
            Ok(()) => Ok(Received::New(id)),
            Err(e) if e.is_unique_violation() => Ok(Received::Again(id)),
            Err(e) => Err(e.into()),
        }
    }

    /// Applies up to [`APPLY_BATCH`] pending events; returns how many it tried.
    pub async fn apply_inbound_events(&self) -> AppResult<usize> {
        let filter = DocFilter {
            status: Some(InboundStatus::Pending.as_str().into()),
            ..DocFilter::default()
        };
        let page = cashbox_core::list::Page::parse(Some(i64::from(APPLY_BATCH)), None, None)?;
        let rows = self
            .store()
            .list_docs(InboundEvent::TABLE, &filter, &page)
            .await?
            .data;
        for row in &rows {
            if let Err(e) = self.apply_inbound_event(&row.id).await {
                tracing::warn!(event = %row.id, error = %e, "applying a processor event failed; will retry");
            }
        }
        Ok(rows.len())
    }

    /// [`App::apply_inbound_event`] in the background, so the delivery is answered at once.
    pub fn apply_inbound_event_later(&self, id: String) {
        let app = self.clone();
        tokio::spawn(async move {
            if let Err(e) = app.apply_inbound_event(&id).await {
                tracing::warn!(event = %id, error = %e, "applying a processor event failed; the recovery tick retries");
            }
        });
    }

    /// Applies one pending event and records how it went. One process at a time applies an
    /// event (it claims it first), so its outcome says what that application did.
    pub async fn apply_inbound_event(&self, id: &str) -> AppResult<()> {
        let mut tx = self.store().begin().await?;
        let mut event: InboundEvent = self.load_for_update(&mut tx, id).await?;
        if !event.claim(self.now()) {
            return Ok(());
        }
        self.save_doc(&mut tx, &event).await?;
        tx.commit().await?;
        let result = self.act_on_inbound(&event).await.map_err(|e| e.to_string());
        let mut tx = self.store().begin().await?;
        let mut event: InboundEvent = self.load_for_update(&mut tx, id).await?;
        if event.status != InboundStatus::Pending {
            return Ok(());
        }
        event.settle(result, self.now());
        self.save_doc(&mut tx, &event).await?;
        tx.commit().await?;
        Ok(())
    }

    /// What the event changes in Cashbox, if anything.
    async fn act_on_inbound(&self, e: &InboundEvent) -> AppResult<(InboundStatus, String)> {
        let ignored = |why: String| Ok((InboundStatus::Ignored, why));
        match e.kind.as_str() {
            "charge.refunded" | "charge.refund.updated" | "refund.created" | "refund.updated" => {
                match e.object["payment_intent"].as_str() {
                    Some(payment) => self.sync_foreign_refunds(payment).await,
                    None => ignored("the refund names no PaymentIntent".into()),
                }
            }
            "payment_intent.succeeded"
            | "payment_intent.payment_failed"
            | "payment_intent.processing"
            | "payment_intent.canceled" => match cashbox_payment(&e.object) {
                Some(pi) => self.settle_from_processor(&pi).await,
                None => ignored("not a payment Cashbox made".into()),
            },
            "payment_method.updated" | "payment_method.automatically_updated" => {
                self.update_mirrored_card(&e.object).await
            }
            "payment_method.detached" => self.detach_mirrored_card(&e.object).await,
            "charge.dispute.created"
            | "charge.dispute.updated"
            | "charge.dispute.closed"
            | "charge.dispute.funds_withdrawn"
            | "charge.dispute.funds_reinstated" => {
                let (changed, what) = self.apply_foreign_dispute(&e.object).await?;
                let status = if changed {
                    InboundStatus::Applied
                } else {
                    InboundStatus::Ignored
                };
                Ok((status, what))
            }
            other => ignored(format!("Cashbox does not act on {other}")),
        }
    }

    /// Records the refunds of the processor's payment `reference` that Cashbox did not ask
    /// for (made in the processor's dashboard).
    async fn sync_foreign_refunds(&self, reference: &str) -> AppResult<(InboundStatus, String)> {
        let payment = self.processor().payment(reference).await?;
        let Some(pi_id) = payment
            .attempt_key
            .as_deref()
            .and_then(|k| k.split(':').next())
        else {
            return Ok((InboundStatus::Ignored, "not a payment Cashbox made".into()));
        };
        let pi: PaymentIntent = self.load(pi_id).await?;
        let Some(charge_id) = pi.latest_charge else {
            return Ok((InboundStatus::Ignored, format!("{pi_id} has no charge")));
        };
        let charge: Charge = self.load(&charge_id).await?;
        if charge.processor_ref != reference {
            return Ok((
                InboundStatus::Ignored,
                format!("{charge_id} was not paid by {reference}"),
            ));
        }
        let mut recorded = Vec::new();
        for refund in payment
            .refunds
            .iter()
            .filter(|r| r.status == "succeeded" && r.cashbox_refund.is_none())
        {
            if self
                .record_foreign_refund(&RequestCtx::default(), &charge_id, refund)
                .await?
            {
                recorded.push(refund.id.as_str());
            }
        }
        Ok(if recorded.is_empty() {
            (
                InboundStatus::Ignored,
                format!("every refund of {charge_id} is recorded already"),
            )
        } else {
            (
                InboundStatus::Applied,
                format!("recorded {} on {charge_id}", recorded.join(", ")),
            )
        })
    }

    /// A payment the processor finished on its own (an asynchronous payment): its pending
    /// attempt is settled with what the processor says now.
    async fn settle_from_processor(&self, pi_id: &str) -> AppResult<(InboundStatus, String)> {
        let pi: PaymentIntent = self.load(pi_id).await?;
        if pi.pending.is_none() {
            return Ok((
                InboundStatus::Ignored,
                format!("{pi_id} is settled already ({})", pi.to_json()["status"]),
            ));
        }
        self.resume_payment_intent_now(pi_id).await?;
        let pi: PaymentIntent = self.load(pi_id).await?;
        Ok((
            InboundStatus::Applied,
            format!("{pi_id} is now {}", pi.to_json()["status"]),
        ))
    }

    /// A card updater's new expiry or number on a mirrored card.
    async fn update_mirrored_card(&self, object: &Value) -> AppResult<(InboundStatus, String)> {
        let Some(id) = object["id"]
            .as_str()
            .filter(|id| PaymentMethod::valid_id(id))
        else {
            return Ok((InboundStatus::Ignored, "no PaymentMethod id".into()));
        };
        let Some(foreign) = self.processor().foreign_card(id).await? else {
            return Ok((InboundStatus::Ignored, format!("{id} is unknown")));
        };
        let mut tx = self.store().begin().await?;
        let Some(mut pm) = self.find_for_update::<PaymentMethod>(&mut tx, id).await? else {
            return Ok((InboundStatus::Ignored, format!("Cashbox never saw {id}")));
        };
        let before = pm.to_json();
        let d = foreign.details;
        pm.card.exp_month = d.exp_month;
        pm.card.exp_year = d.exp_year;
        pm.card.last4 = d.last4;
        pm.card.brand = d.brand;
        let after = pm.to_json();
        if after == before {
            return Ok((InboundStatus::Ignored, format!("{id} is up to date")));
        }
        self.save_doc(&mut tx, &pm).await?;
        let previous = cashbox_core::event::previous_attributes(&before, &after);
        self.record_event(
            &mut tx,
            &RequestCtx::default(),
            "payment_method.updated",
            &after,
            previous,
        )
        .await?;
        tx.commit().await?;
        Ok((InboundStatus::Applied, format!("updated {id}")))
    }

    /// A card detached on the processor's side is detached in Cashbox too.
    async fn detach_mirrored_card(&self, object: &Value) -> AppResult<(InboundStatus, String)> {
        let Some(id) = object["id"]
            .as_str()
            .filter(|id| PaymentMethod::valid_id(id))
        else {
            return Ok((InboundStatus::Ignored, "no PaymentMethod id".into()));
        };
        match self.load::<PaymentMethod>(id).await {
            Ok(pm) if pm.customer.is_some() => {
                self.payment_methods()
                    .detach(&RequestCtx::default(), id, &[])
                    .await?;
                Ok((InboundStatus::Applied, format!("detached {id}")))
            }
            Ok(_) => Ok((InboundStatus::Ignored, format!("{id} is not attached"))),
            Err(AppError::NotFound { .. }) => {
                Ok((InboundStatus::Ignored, format!("Cashbox never saw {id}")))
            }
            Err(e) => Err(e),
        }
    }
}

/// The Cashbox PaymentIntent a processor's PaymentIntent was made for (its metadata).
fn cashbox_payment(object: &Value) -> Option<String> {
    object["metadata"]["cashbox_attempt"]
        .as_str()
        .and_then(|k| k.split(':').next())
        .map(str::to_string)
}

crate::service!(
    ProcessorEvents,
    processor_events,
    "The processor's webhooks coming in, and how each was applied."
);

impl ProcessorEvents<'_> {
    pub async fn retrieve(&self, id: &str) -> AppResult<Value> {
        Ok(self.load::<InboundEvent>(id).await?.to_json())
    }

    pub async fn list(&self, params: &InboundListParams) -> AppResult<ListResult> {
        let status = match params.status.as_deref() {
            None => None,
            Some(s @ ("pending" | "applied" | "ignored" | "failed")) => Some(s.to_string()),
            Some(other) => {
                return Err(ParamError::invalid(
                    "status",
                    format!("Invalid status: must be one of pending, applied, ignored or failed; you passed {other}"),
                )
                .into());
            }
        };
        let filter = DocFilter {
            status,
            parent: params.object.clone(),
            ..DocFilter::default()
        };
        self.list_docs::<InboundEvent>(&filter, &params.page()?, &[], InboundEvent::to_json)
            .await
    }
}
