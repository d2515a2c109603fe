//! Disputes: opened by the sandbox's dispute cards as their charge is captured, or by Stripe's
//! `charge.dispute.*` webhooks; answered with evidence or accepted through `/v1/disputes`.
//!
//! Money: a chargeback withdraws the amount and the bank's fee from the processor's balance
//! when it opens and returns both if won (the ledger's `disputes` and `dispute_fees`). A lost
//! dispute of a one-time purchase takes back what the purchase granted.

use cashbox_core::dispute::{
    DISPUTE_PREFIX, Dispute, DisputeListParams, DisputeStatus, DisputeUpdateParams,
};
use cashbox_core::id::new_id;
use cashbox_core::ledger::Posting;
use cashbox_core::money::Money;
use cashbox_core::payments::{Charge, PaymentIntent};
use cashbox_store::{DocTable, Tx};
use serde_json::Value;

use crate::docs::Doc;
use crate::events::ListResult;
use crate::{App, AppError, AppResult, RequestCtx};

impl Doc for Dispute {
    const TABLE: DocTable = DocTable::Disputes;
    const PREFIX: &'static str = DISPUTE_PREFIX;
    const NAME: &'static str = "dispute";
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn customer(&self) -> Option<&str> {
        self.customer.as_deref()
    }
    fn status(&self) -> String {
        self.status.as_str().into()
    }
    fn parent(&self) -> Option<&str> {
        Some(&self.charge)
    }
    /// Cashbox's `dp_…` and Stripe's `dp_…` or older `du_…`.
    fn valid_id(id: &str) -> bool {
        cashbox_core::id::has_prefix(id, DISPUTE_PREFIX) || cashbox_core::id::has_prefix(id, "du")
    }
}

/// How a dispute came to be.
#[derive(Debug, Clone)]
pub(crate) struct Opening<'a> {
    pub reason: &'a str,
    pub inquiry: bool,
    /// The bank's fee as the processor reports it (`None`: Stripe's standard fee).
    pub fee: Option<i64>,
    /// The processor's dispute id.
    pub reference: Option<String>,
}

impl App {
    /// A dispute of `charge` (whose `disputed` it sets, for the caller to save) as `opening`
    /// says; [`App::record_dispute_opened`] stores it once the charge is.
    pub(crate) fn new_dispute(&self, charge: &mut Charge, opening: &Opening<'_>) -> Dispute {
        let mut d = Dispute::open(
            new_id(DISPUTE_PREFIX),
            self.now(),
            Money::new(charge.amount_captured, charge.currency),
            &charge.id,
            &charge.payment_intent,
            charge.customer.clone(),
            opening.reason,
            opening.inquiry,
            &charge.card.brand,
        );
        if let Some(fee) = opening.fee.filter(|_| !opening.inquiry) {
            d.fee = fee;
        }
        d.processor_ref.clone_from(&opening.reference);
        charge.disputed |= !opening.inquiry;
        d
    }

    /// Stores a new dispute: its funds withdrawn (a chargeback) and its events.
    pub(crate) async fn record_dispute_opened(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        d: &Dispute,
    ) -> AppResult<()> {
        self.insert_doc(tx, d).await?;
        self.record_event(tx, ctx, "charge.dispute.created", &d.to_json(), None)
            .await?;
        if d.status.funds_withdrawn() {
            let amount = Money::new(d.amount, d.currency);
            if let Some(p) = Posting::dispute_funds_withdrawn(&d.id, amount, d.fee) {
                self.post(tx, p).await?;
            }
            self.record_event(
                tx,
                ctx,
                "charge.dispute.funds_withdrawn",
                &d.to_json(),
                None,
            )
            .await?;
        }
        Ok(())
    }

    /// The sandbox's dispute cards: the dispute opened as `charge` is captured.
    pub(crate) fn dispute_on_capture(&self, charge: &mut Charge) -> Option<Dispute> {
        let notice = self.processor().dispute_after_capture(&charge.card.token)?;
        Some(self.new_dispute(
            charge,
            &Opening {
                reason: notice.reason,
                inquiry: notice.inquiry,
                fee: None,
                reference: None,
            },
        ))
    }

    /// Moves `d` (locked in `tx`) to `to`, with what that does: funds returned when won, a
    /// one-time purchase revoked when lost, and the events.
    pub(crate) async fn settle_dispute_in(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        d: &mut Dispute,
        to: DisputeStatus,
    ) -> AppResult<()> {
        let from = d.status;
        if from == to {
            return Ok(());
        }
        d.status = to;
        let amount = Money::new(d.amount, d.currency);
        if from.funds_withdrawn()
            && !to.funds_withdrawn()
            && let Some(p) = Posting::dispute_funds_reinstated(&d.id, amount, d.fee)
        {
            self.post(tx, p).await?;
            self.record_event(
                tx,
                ctx,
                "charge.dispute.funds_reinstated",
                &d.to_json(),
                None,
            )
            .await?;
        }
        if to == DisputeStatus::Lost {
            let charge: Charge = self.read_in(tx, &d.charge).await?;
            // A one-time purchase (no invoice) granted under its PaymentIntent.
            if charge.invoice.is_none()
                && let Some(customer) = &charge.customer
            {
                let now = self.now();
                self.revoke_purchase(tx, customer, &charge.payment_intent, now)
                    .await?;
            }
        }
        self.save_doc(tx, d).await?;
        let kind = if to.is_closed() {
            "charge.dispute.closed"
        } else {
            "charge.dispute.updated"
        };
        self.record_event(tx, ctx, kind, &d.to_json(), None).await
    }

    /// A dispute Stripe reports (`charge.dispute.*`): opened on the charge Stripe's payment
    /// made, or moved to the status Stripe gives. Returns what it did.
    pub(crate) async fn apply_foreign_dispute(&self, object: &Value) -> AppResult<(bool, String)> {
        let reference = object["id"].as_str().unwrap_or_default();
        let Some(status) = object["status"].as_str().and_then(DisputeStatus::parse) else {
            return Ok((
                false,
                format!("dispute {reference} has no status Cashbox knows"),
            ));
        };
        let ctx = RequestCtx::default();
        let mut tx = self.store().begin().await?;
        // Known already: move it along.
        if let Some(mut d) = self.dispute_by_reference(&mut tx, reference).await? {
            if d.status == status || d.status.is_closed() {
                return Ok((false, format!("{} is {} already", d.id, d.status.as_str())));
            }
            self.settle_dispute_in(&mut tx, &ctx, &mut d, status)
                .await?;
            tx.commit().await?;
            return Ok((false, format!("{} is now {}", d.id, status.as_str())));
        }
        let Some(pi_ref) = object["payment_intent"].as_str() else {
            return Ok((false, format!("dispute {reference} names no PaymentIntent")));
        };
        drop(tx);
        let payment = self.processor().payment(pi_ref).await?;
        let Some(pi_id) = payment
            .attempt_key
            .as_deref()
            .and_then(|k| k.split(':').next())
        else {
            return Ok((false, format!("{pi_ref} is not a payment Cashbox made")));
        };
        let pi: PaymentIntent = self.load(pi_id).await?;
        let Some(charge_id) = pi.latest_charge else {
            return Ok((false, format!("{pi_id} has no charge")));
        };
        let mut tx = self.store().begin().await?;
        let mut charge: Charge = self.load_for_update(&mut tx, &charge_id).await?;
        if self
            .dispute_by_reference(&mut tx, reference)
            .await?
            .is_some()
        {
            return Ok((false, format!("dispute {reference} is recorded already")));
        }
        let fee = object["balance_transactions"]
            .as_array()
            .and_then(|t| t.first())
            .and_then(|t| t["fee"].as_i64());
        let mut d = self.new_dispute(
            &mut charge,
            &Opening {
                reason: object["reason"].as_str().unwrap_or("general"),
                inquiry: status.is_inquiry(),
                fee,
                reference: Some(reference.to_string()),
            },
        );
        // Kept under Stripe's id, so the next event about it finds it.
        d.id = reference.to_string();
        if let Some(amount) = object["amount"].as_i64() {
            d.amount = amount;
        }
        self.save_doc(&mut tx, &charge).await?;
        self.record_dispute_opened(&mut tx, &ctx, &d).await?;
        self.settle_dispute_in(&mut tx, &ctx, &mut d, status)
            .await?;
        tx.commit().await?;
        Ok((true, format!("opened {} on {charge_id}", d.id)))
    }

    /// The dispute whose processor id is `reference`, locked: a processor's dispute is kept
    /// under the processor's own id.
    async fn dispute_by_reference(
        &self,
        tx: &mut Tx,
        reference: &str,
    ) -> AppResult<Option<Dispute>> {
        self.find_for_update::<Dispute>(tx, reference).await
    }
}

crate::service!(Disputes, disputes, "Disputes (chargebacks) of charges.");

impl Disputes<'_> {
    pub async fn retrieve(&self, id: &str, expand: &[Vec<String>]) -> AppResult<Value> {
        self.retrieve_doc::<Dispute>(id, expand, Dispute::to_json)
            .await
    }

    pub async fn list(
        &self,
        params: &DisputeListParams,
        expand: &[Vec<String>],
    ) -> AppResult<ListResult> {
        let filter = self
            .charge_filter(&params.charge, &params.payment_intent, params.created)
            .await;
        self.list_docs::<Dispute>(&filter, &params.page()?, expand, Dispute::to_json)
            .await
    }

    /// Stages or submits evidence and updates metadata. On the sandbox, submitted evidence is
    /// decided at once as Stripe's test mode decides it (`winning_evidence`,
    /// `losing_evidence`).
    pub async fn update(
        &self,
        ctx: &RequestCtx,
        id: &str,
        params: DisputeUpdateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let before: Dispute = self.load(id).await?;
        before.check_update(&params)?;
        if before.processor_ref.is_some() && (params.evidence.is_some() || params.submits()) {
            let pairs: Vec<(String, String)> = params
                .evidence
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            self.processor()
                .update_dispute(before.processor_ref.as_deref(), &pairs, params.submits())
                .await?;
        }
        let mut tx = self.store().begin().await?;
        let mut d: Dispute = self.load_for_update(&mut tx, id).await?;
        let was = d.to_json();
        let submitted = d.update(&params)?;
        let decided = if submitted.0 && d.processor_ref.is_none() {
            d.test_mode_decision()
        } else {
            None
        };
        let now = d.to_json();
        if now != was {
            self.save_doc(&mut tx, &d).await?;
            let previous = cashbox_core::event::previous_attributes(&was, &now);
            self.record_event(&mut tx, ctx, "charge.dispute.updated", &now, previous)
                .await?;
        }
        if let Some(to) = decided {
            self.settle_dispute_in(&mut tx, ctx, &mut d, to).await?;
        }
        self.finish(tx, ctx, d.to_json(), expand).await
    }

    /// Accepts the dispute: it is lost (an inquiry closes), as Stripe's close does.
    pub async fn close(
        &self,
        ctx: &RequestCtx,
        id: &str,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let before: Dispute = self.load(id).await?;
        if before.status.is_closed() {
            return Err(cashbox_core::ParamError::from(
                cashbox_core::dispute::DisputeRefused::Closed,
            )
            .into());
        }
        if before.processor_ref.is_some() {
            self.processor()
                .close_dispute(before.processor_ref.as_deref())
                .await?;
        }
        let mut tx = self.store().begin().await?;
        let mut d: Dispute = self.load_for_update(&mut tx, id).await?;
        let mut closed = d.clone();
        closed
            .close()
            .map_err(cashbox_core::ParamError::from)
            .map_err(AppError::from)?;
        self.settle_dispute_in(&mut tx, ctx, &mut d, closed.status)
            .await?;
        self.finish(tx, ctx, d.to_json(), expand).await
    }
}
