//! Refunds. The charge is locked while a refund reserves its amount, so concurrent refunds can
//! never together exceed what was captured; the processor is called outside the transaction
//! and the refund settles in a second one.

use cashbox_core::ParamError;
use cashbox_core::event::previous_attributes;
use cashbox_core::id::new_id;
use cashbox_core::ledger::Posting;
use cashbox_core::metadata::Metadata;
use cashbox_core::money::Money;
use cashbox_core::payments::{
    Charge, PaymentIntent, REFUND_PREFIX, Refund, RefundCreateParams, RefundListParams,
    RefundRefused, RefundStatus, RefundUpdateParams,
};
use cashbox_processor::{ForeignRefund, Outcome, RefundRequest};
use cashbox_store::{DocFilter, Tx};
use serde_json::Value;

use crate::docs::Doc;
use crate::events::ListResult;
use crate::expand::Reader;
use crate::{App, AppError, AppResult, RequestCtx};

impl App {
    async fn charge_to_refund(&self, params: &RefundCreateParams) -> AppResult<String> {
        match (&params.charge, &params.payment_intent) {
            (Some(c), None) => Ok(c.clone()),
            (None, Some(pi_id)) => {
                let pi: PaymentIntent = self.load(pi_id).await.map_err(|_| AppError::MissingReference {
                    object: "payment_intent",
                    id: pi_id.clone(),
                    param: "payment_intent".into(),
                })?;
                pi.latest_charge
                    .filter(|_| pi.amount_received > 0)
                    .ok_or_else(|| {
                        ParamError::new(
                            "payment_intent",
                            "charge_not_refundable",
                            format!("PaymentIntent {pi_id} does not have a successful charge to refund."),
                        )
                        .into()
                    })
            }
            (Some(_), Some(_)) => Err(ParamError::invalid(
                "payment_intent",
                "You may only specify one of these parameters: charge, payment_intent.",
            )
            .into()),
            (None, None) => Err(ParamError::new(
                "charge",
                "parameter_missing",
                "One of the following params should be provided for this request: payment_intent or charge.",
            )
            .into()),
        }
    }

    /// Calls the processor for a pending refund and applies the result.
    async fn settle_refund(
        &self,
        ctx: &RequestCtx,
        refund_id: &str,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let refund: Refund = self.load(refund_id).await?;
        let charge: Charge = self.load(&refund.charge).await?;
        let outcome = self
            .processor()
            .refund(RefundRequest {
                idempotency_key: &refund.id,
                charge_reference: &charge.processor_ref,
                amount_minor: refund.amount,
                currency: refund.currency.as_str(),
            })
            .await?;

        if outcome == Outcome::Processing {
            return Ok(refund.to_json());
        }
        let mut tx = self.store().begin().await?;
        let mut charge: Charge = self.load_for_update(&mut tx, &refund.charge).await?;
        let mut refund: Refund = self.load_for_update(&mut tx, refund_id).await?;
        if refund.status != RefundStatus::Pending {
            return self.finish(tx, ctx, refund.to_json(), expand).await;
        }
        let amount = Money::new(refund.amount, refund.currency);
        let succeeded = matches!(outcome, Outcome::Succeeded { .. });
        let refunded_in_full = charge
            .refund_settled(amount, succeeded)
            .map_err(|e| AppError::Corrupt(format!("charge {}: {e}", charge.id)))?;
        match outcome {
            Outcome::Succeeded { reference } => {
                refund.status = RefundStatus::Succeeded;
                refund.processor_ref = Some(reference);
                self.save_doc(&mut tx, &refund).await?;
                self.refund_succeeded(&mut tx, ctx, &charge, &refund, refunded_in_full)
                    .await?;
            }
            Outcome::Processing => unreachable!("handled before the transaction"),
            Outcome::Declined(_) | Outcome::RequiresAction(_) => {
                refund.status = RefundStatus::Failed;
                refund.failure_reason = Some("declined".into());
                self.save_doc(&mut tx, &charge).await?;
                self.save_doc(&mut tx, &refund).await?;
                self.record_event(&mut tx, ctx, "refund.failed", &refund.to_json(), None)
                    .await?;
            }
        }
        self.finish(tx, ctx, refund.to_json(), expand).await
    }

    /// What a succeeded refund of `charge` (saved by the caller, as `charge_after` shows it)
    /// does: a full refund of a purchase takes back what it granted; the ledger posts it.
    async fn refund_succeeded(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        charge: &Charge,
        refund: &Refund,
        refunded_in_full: bool,
    ) -> AppResult<()> {
        // (A Checkout purchase granted under its PaymentIntent: it has no invoice.)
        if refunded_in_full
            && let (Some(inv), Some(customer)) = (
                charge.invoice.as_ref().or(Some(&charge.payment_intent)),
                &charge.customer,
            )
        {
            let now = self.now();
            self.revoke_purchase(tx, customer, inv, now).await?;
        }
        let amount = Money::new(refund.amount, refund.currency);
        self.post(tx, Posting::refund_succeeded(&refund.id, amount))
            .await?;
        self.save_doc(tx, charge).await?;
        self.record_event(tx, ctx, "charge.refunded", &charge.to_json(), None)
            .await?;
        self.record_event(tx, ctx, "charge.refund.updated", &refund.to_json(), None)
            .await
    }

    /// Records a refund made on the processor's side (its dashboard) of `charge_id`, as if it
    /// had been asked of Cashbox: the refund, the charge's refunded amount, the ledger, the
    /// events, the purchase revoked if refunded in full. `false` if it is recorded already.
    pub(crate) async fn record_foreign_refund(
        &self,
        ctx: &RequestCtx,
        charge_id: &str,
        foreign: &ForeignRefund,
    ) -> AppResult<bool> {
        let mut tx = self.store().begin().await?;
        let mut charge: Charge = self.load_for_update(&mut tx, charge_id).await?;
        for row in tx.children(Refund::TABLE, charge_id).await? {
            let known: Refund = self.open_doc(&row)?;
            if known.processor_ref.as_deref() == Some(foreign.id.as_str()) {
                return Ok(false);
            }
        }
        if !foreign
            .currency
            .eq_ignore_ascii_case(charge.currency.as_str())
        {
            return Err(AppError::Corrupt(format!(
                "refund {} is in {}, its charge {} in {}",
                foreign.id,
                foreign.currency,
                charge.id,
                charge.currency.as_str()
            )));
        }
        let now = self.now();
        // It happened already: no refund window applies.
        let amount = charge
            .reserve_refund(Some(foreign.amount_minor), now, None)
            .map_err(ParamError::from)?;
        let refunded_in_full = charge
            .refund_settled(amount, true)
            .map_err(|e| AppError::Corrupt(format!("charge {}: {e}", charge.id)))?;
        let refund = Refund {
            id: new_id(REFUND_PREFIX),
            created: now,
            amount: amount.amount_minor(),
            currency: amount.currency(),
            charge: charge.id.clone(),
            payment_intent: charge.payment_intent.clone(),
            reason: None,
            status: RefundStatus::Succeeded,
            failure_reason: None,
            metadata: Metadata::new(),
            processor_ref: Some(foreign.id.clone()),
        };
        self.insert_doc(&mut tx, &refund).await?;
        self.record_event(&mut tx, ctx, "refund.created", &refund.to_json(), None)
            .await?;
        self.refund_succeeded(&mut tx, ctx, &charge, &refund, refunded_in_full)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The list filter of objects kept under a charge (refunds, disputes) named by `charge`, or
    /// by `payment_intent` (its latest charge); a PaymentIntent without one matches nothing.
    pub(crate) async fn charge_filter(
        &self,
        charge: &Option<String>,
        payment_intent: &Option<String>,
        created: Option<cashbox_core::list::Range>,
    ) -> DocFilter {
        let parent = match (charge, payment_intent) {
            (Some(c), _) => Some(c.clone()),
            (None, Some(pi)) => match self.load::<PaymentIntent>(pi).await {
                Ok(pi) => Some(pi.latest_charge.unwrap_or_else(|| "none".into())),
                Err(_) => Some("none".into()),
            },
            (None, None) => None,
        };
        DocFilter {
            parent,
            created: created.unwrap_or_default(),
            ..DocFilter::default()
        }
    }

    /// Settles a refund whose processor call was interrupted longer ago than the lease.
    pub(crate) async fn resume_refund(&self, id: &str) -> AppResult<()> {
        let refund: Refund = self.load(id).await?;
        if refund.status != RefundStatus::Pending
            || self.now() - refund.created <= cashbox_core::payments::PENDING_LEASE_SECS
        {
            return Ok(());
        }
        self.settle_refund(&RequestCtx::default(), id, &[])
            .await
            .map(drop)
    }
}

crate::service!(Refunds, refunds, "Refunds of charges.");

impl Refunds<'_> {
    pub async fn create(
        &self,
        ctx: &RequestCtx,
        params: RefundCreateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let charge_id = self.charge_to_refund(&params).await?;
        if params.amount.is_some_and(|a| a <= 0) {
            return Err(ParamError::from(RefundRefused::NotPositive).into());
        }
        let metadata = match &params.metadata {
            Some(m) => m.apply(&Metadata::new())?,
            None => Metadata::new(),
        };
        let now = self.now();

        let mut tx = self.store().begin().await?;
        let mut charge = self
            .find_for_update::<Charge>(&mut tx, &charge_id)
            .await?
            .ok_or_else(|| AppError::MissingReference {
                object: "charge",
                id: charge_id.clone(),
                param: "charge".into(),
            })?;
        let amount = charge
            .reserve_refund(params.amount, now, self.settings().refund_window_days)
            .map_err(ParamError::from)?;
        let refund = Refund {
            id: new_id(REFUND_PREFIX),
            created: now,
            amount: amount.amount_minor(),
            currency: amount.currency(),
            charge: charge.id.clone(),
            payment_intent: charge.payment_intent.clone(),
            reason: params.reason,
            status: RefundStatus::Pending,
            failure_reason: None,
            metadata,
            processor_ref: None,
        };
        self.insert_doc(&mut tx, &refund).await?;
        self.save_doc(&mut tx, &charge).await?;
        self.record_event(&mut tx, ctx, "refund.created", &refund.to_json(), None)
            .await?;
        self.commit_provisional(tx, ctx, &refund.to_json()).await?;

        self.settle_refund(ctx, &refund.id, expand).await
    }

    pub async fn retrieve(&self, id: &str, expand: &[Vec<String>]) -> AppResult<Value> {
        let mut object = self.load::<Refund>(id).await?.to_json();
        self.expand(&mut Reader::Store(self.store()), &mut object, expand)
            .await?;
        Ok(object)
    }

    pub async fn update(
        &self,
        ctx: &RequestCtx,
        id: &str,
        params: RefundUpdateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let before: Refund = self.load_for_update(&mut tx, id).await?;
        let after = before.updated(params)?;
        if after != before {
            self.save_doc(&mut tx, &after).await?;
            let previous = previous_attributes(&before.to_json(), &after.to_json());
            self.record_event(&mut tx, ctx, "refund.updated", &after.to_json(), previous)
                .await?;
        }
        self.finish(tx, ctx, after.to_json(), expand).await
    }

    /// Stripe lets only refunds that await action be canceled; the sandbox settles every refund
    /// at once, so this answers with Stripe's refusal for the others.
    pub async fn cancel(&self, _ctx: &RequestCtx, id: &str) -> AppResult<Value> {
        let refund: Refund = self.load(id).await?;
        Err(ParamError::new(
            "",
            "refund_unexpected_state",
            format!(
                "Refund {id} cannot be canceled because it has a status of {}. Only refunds with a status of requires_action can be canceled.",
                refund.status.as_str()
            ),
        )
        .into())
    }

    pub async fn list(
        &self,
        params: &RefundListParams,
        expand: &[Vec<String>],
    ) -> AppResult<ListResult> {
        let filter = self
            .charge_filter(&params.charge, &params.payment_intent, params.created)
            .await;
        self.list_docs::<Refund>(&filter, &params.page()?, expand, Refund::to_json)
            .await
    }
}
