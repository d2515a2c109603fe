//! PaymentIntents and their charges.
//!
//! Money moves in three phases so that no transaction is held open across a processor call:
//! 1. lock the intent, check the request, record the attempt as pending, commit (and save the
//!    pending intent as the provisional idempotent response);
//! 2. call the processor with the attempt's own idempotency key;
//! 3. lock the intent again and apply the outcome: charge, status, ledger, events, and the
//!    final idempotent response, in one transaction.
//!
//! Concurrent confirms serialize on phase 1: one wins, the others see the pending attempt. A
//! crash between phases leaves the attempt pending; after its lease, the next confirm resumes
//! it with the same processor key, so the card is charged once.

use cashbox_core::ParamError;
use cashbox_core::currency::Currency;
use cashbox_core::id::{new_id, random_token};
use cashbox_core::money::{Money, check_charge_amount};
use cashbox_core::payments::{
    CHARGE_PREFIX, CaptureMethod, Charge, ChargeListParams, ChargeStatus, LastError,
    PENDING_LEASE_SECS, PI_PREFIX, PaymentIntent, PaymentIntentCancelParams,
    PaymentIntentCaptureParams, PaymentIntentConfirmParams, PaymentIntentCreateParams,
    PaymentIntentListParams, PaymentIntentUpdateParams, PaymentMethod, Pending, PiStatus,
    ProcessorAction, Redirect, unexpected_state,
};
use cashbox_processor::{AuthorizeRequest, CaptureRequest, Decline, Outcome, VoidRequest};
use cashbox_store::{DocFilter, DocTable, Tx};
use serde_json::Value;

use crate::error::card_error_body;
use crate::events::{ListResult, Shown, Snapshot};
use crate::expand::Reader;
use crate::{App, AppError, AppResult, ClientAuth, RequestCtx};

const CANCELLATION_REASONS: [&str; 4] = [
    "duplicate",
    "fraudulent",
    "requested_by_customer",
    "abandoned",
];

/// Who reads the response of an applied outcome ([`App::apply_outcome`]).
#[derive(Clone, Copy)]
pub(crate) enum Reply<'a> {
    /// A request: its 200 is expanded as it asked.
    Rendered(&'a [Vec<String>]),
    /// The billing worker: nobody, unless the request has an Idempotency-Key to save it under.
    Unread,
}

impl App {
    fn receipt_token(&self, charge_id: &str) -> String {
        hex::encode(&self.keys().blind_index("receipt", charge_id)[..12])
    }

    pub(crate) fn receipt_url(&self, charge_id: &str) -> String {
        format!(
            "{}/receipts/{charge_id}?token={}",
            self.settings().public_url,
            self.receipt_token(charge_id)
        )
    }

    /// Whether `token` opens the receipt of `charge_id` (the hosted receipt page).
    pub fn receipt_token_valid(&self, charge_id: &str, token: &str) -> bool {
        cashbox_core::crypto::constant_time_eq(
            self.receipt_token(charge_id).as_bytes(),
            token.as_bytes(),
        )
    }

    /// Where an intent that needs 3-D Secure sends the cardholder: the hosted page, then back
    /// to the intent's `return_url`.
    pub(crate) fn authentication_redirect(
        &self,
        id: &str,
        client_secret: &str,
        return_url: Option<String>,
    ) -> Redirect {
        Redirect {
            url: format!(
                "{}/pages/authenticate/{id}?client_secret={client_secret}",
                self.settings().public_url
            ),
            return_url,
        }
    }

    fn check_amount(&self, amount: i64, currency: &str) -> AppResult<Currency> {
        let cur = Currency::parse("currency", currency)?;
        check_charge_amount("amount", amount, cur)?;
        Ok(cur)
    }

    /// Records a new confirmation attempt as pending; returns its number.
    pub(crate) fn begin_attempt(&self, pi: &mut PaymentIntent, authenticated: bool) -> u32 {
        pi.attempts += 1;
        pi.pending = Some(Pending::Confirm {
            attempt: pi.attempts,
            since: self.now(),
            authenticated,
        });
        pi.next_action = None;
        pi.attempts
    }

    /// Phases 2 and 3 of a confirmation: the processor call, then its outcome applied. `pi`
    /// and `pm` are as phase 1 committed them.
    pub(crate) async fn run_confirmation(
        &self,
        ctx: &RequestCtx,
        pi: PaymentIntent,
        pm: PaymentMethod,
        attempt: u32,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let id = pi.id.clone();
        let id = id.as_str();
        let Some(outcome) = self.authorize_attempt(&pi, &pm, attempt).await? else {
            // Not pending, or not final yet: the attempt stays pending and the recovery
            // sweep asks again.
            return Ok(pi.to_json());
        };
        // The outcome is applied in one transaction; on SQLite it is worked out outside the
        // write turn and written in it if the intent and what it settles are unchanged.
        let (pm, outcome) = (&pm, &outcome);
        let (status, body) = self
            .transact(move |mut tx| {
                Box::pin(async move {
                    let r = self
                        .apply_outcome(
                            &mut tx,
                            ctx,
                            id,
                            pm,
                            attempt,
                            outcome,
                            Reply::Rendered(expand),
                        )
                        .await;
                    (tx, r)
                })
            })
            .await?;
        if let Some(claim) = &ctx.idempotency {
            claim.mark_completed();
        }
        if status == 402 {
            return Err(AppError::Card { body });
        }
        Ok(body)
    }

    /// Asks the processor for the outcome of `pi`'s attempt `attempt` with `pm` (the same
    /// answer however often it is asked); `None` if `pi` is not confirming or the outcome
    /// is not final yet.
    pub(crate) async fn authorize_attempt(
        &self,
        pi: &PaymentIntent,
        pm: &PaymentMethod,
        attempt: u32,
    ) -> AppResult<Option<Outcome>> {
        let key = pi.attempt_key(attempt);
        let customer = self
            .processor_customer_for(pm, pi.customer.as_deref())
            .await?;
        let Some(req) = authorize_request(pi, pm, &key, customer.as_deref()) else {
            return Ok(None);
        };
        let outcome = self.processor().authorize(req).await?;
        Ok(Some(outcome).filter(|o| *o != Outcome::Processing))
    }

    /// [`App::authorize_attempt`] for each of `attempts`, asked of the processor together;
    /// an attempt whose call failed stays pending (the recovery sweep asks again).
    pub(crate) async fn authorize_attempts(
        &self,
        attempts: &[(&PaymentIntent, &PaymentMethod, u32)],
    ) -> Vec<Option<Outcome>> {
        let keys: Vec<String> = attempts
            .iter()
            .map(|(pi, _, attempt)| pi.attempt_key(*attempt))
            .collect();
        // The processor's customers (none on the sandbox); an attempt whose customer could
        // not be had is not asked, and stays pending.
        let mut customers = Vec::with_capacity(attempts.len());
        for (pi, pm, _) in attempts {
            let customer = self
                .processor_customer_for(pm, pi.customer.as_deref())
                .await;
            if let Err(e) = &customer {
                tracing::warn!(payment_intent = %pi.id, error = %e, "the processor's customer could not be had; the payment stays pending");
            }
            customers.push(customer);
        }
        let reqs: Vec<Option<AuthorizeRequest<'_>>> = attempts
            .iter()
            .zip(&keys)
            .zip(&customers)
            .map(|(((pi, pm, _), key), customer)| match customer {
                Ok(customer) => authorize_request(pi, pm, key, customer.as_deref()),
                Err(_) => None,
            })
            .collect();
        let mut answers = self
            .processor()
            .authorize_many(reqs.iter().flatten().cloned().collect())
            .await
            .into_iter();
        let mut outcomes = Vec::with_capacity(reqs.len());
        for req in &reqs {
            // Only the attempts asked have answers, in order.
            let outcome = match req.as_ref().map(|r| (r, answers.next())) {
                Some((_, Some(Ok(outcome)))) => Some(outcome),
                Some((r, Some(Err(e)))) => {
                    tracing::warn!(key = r.idempotency_key, error = %e, "the processor call failed; the payment stays pending");
                    None
                }
                _ => None,
            };
            outcomes.push(outcome.filter(|o| *o != Outcome::Processing));
        }
        outcomes
    }

    /// Applies an attempt's outcome to the intent `id` (and what it settles) in `tx`; returns
    /// the response as `reply` asks (saved for the request's Idempotency-Key).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn apply_outcome(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        id: &str,
        pm: &PaymentMethod,
        attempt: u32,
        outcome: &Outcome,
        reply: Reply<'_>,
    ) -> AppResult<(u16, Value)> {
        let mut pi: PaymentIntent = self.load_for_update(tx, id).await?;
        if !matches!(pi.pending, Some(Pending::Confirm { attempt: a, .. }) if a == attempt) {
            // Another request already applied this attempt's outcome.
            return self.reply(tx, ctx, 200, || pi.to_json(), reply).await;
        }
        let mut pm = pm.clone();
        pi.pending = None;
        // The payment the cardholder was to authenticate is settled by this outcome.
        pi.processor_action = None;
        let now = self.now();
        match outcome.clone() {
            Outcome::Succeeded { reference } => {
                let captured = pi.capture_method != CaptureMethod::Manual;
                let mut charge = self.apply_success(&mut pi, &pm, reference, now);
                let dispute = captured
                    .then(|| self.dispute_on_capture(&mut charge))
                    .flatten();
                if captured {
                    self.post(tx, charge.capture_posting(charge.captured_amount()))
                        .await?;
                }
                if self.success_changes_pm(&pi, &pm) {
                    let sets_up = pi.setup_future_usage.is_some() || pi.off_session;
                    let attaches = pi.setup_future_usage.is_some() && pi.customer.is_some();
                    // Only now is the PaymentMethod locked: most payments leave it as it is.
                    pm = self.load_for_update(tx, &pm.id).await?;
                    pm.set_up |= sets_up;
                    if attaches && let Some(customer) = pi.customer.clone() {
                        self.attach_in(tx, ctx, &mut pm, &customer).await?;
                    }
                    self.save_doc(tx, &pm).await?;
                }
                let charge_doc = self.insert_doc_keeping(tx, &charge).await?;
                let pi_doc = self.save_doc_keeping(tx, &pi).await?;
                let shown = Shown::new(Snapshot::Charge, &charge.id, &charge_doc);
                self.record_snapshot(tx, ctx, &["charge.succeeded"], shown);
                let shown = Shown::new(Snapshot::PaymentIntent, &pi.id, &pi_doc);
                self.record_snapshot(tx, ctx, &[success_event(captured)], shown);
                self.success_settles(tx, ctx, &pi).await?;
                if let Some(d) = &dispute {
                    self.record_dispute_opened(tx, ctx, d).await?;
                }
                self.reply(tx, ctx, 200, || pi.to_json(), reply).await
            }
            Outcome::Processing => unreachable!("handled before the transaction"),
            Outcome::RequiresAction(action) => {
                pi.status = PiStatus::RequiresAction;
                pi.processor_action = action.reference.map(|reference| ProcessorAction {
                    reference,
                    client_secret: action.client_secret,
                });
                pi.next_action = Some(self.authentication_redirect(
                    &pi.id,
                    &pi.client_secret,
                    pi.return_url.clone(),
                ));
                self.save_doc(tx, &pi).await?;
                self.record_event(
                    tx,
                    ctx,
                    "payment_intent.requires_action",
                    &pi.to_json(),
                    None,
                )
                .await?;
                self.invoice_payment_settled(tx, ctx, &pi).await?;
                self.reply(tx, ctx, 200, || pi.to_json(), reply).await
            }
            Outcome::Declined(d) => self.apply_decline(tx, ctx, pi, &pm, &d, now, reply).await,
        }
    }

    /// A declined attempt: a failed charge with the processor's codes, the intent back to
    /// `requires_payment_method`, the events, and Stripe's 402 as the reply.
    #[allow(clippy::too_many_arguments)]
    async fn apply_decline(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        mut pi: PaymentIntent,
        pm: &PaymentMethod,
        d: &Decline,
        now: i64,
        reply: Reply<'_>,
    ) -> AppResult<(u16, Value)> {
        let failure = (d.code.clone(), d.message.clone(), d.decline_code.clone());
        let charge = self.new_charge(
            &pi,
            pm,
            now,
            ChargeStatus::Failed,
            d.reference.clone(),
            false,
            Some(failure),
        );
        pi.latest_charge = Some(charge.id.clone());
        pi.status = PiStatus::RequiresPaymentMethod;
        pi.payment_method = None;
        pi.last_payment_error = Some(LastError {
            code: d.code.clone(),
            decline_code: d.decline_code.clone(),
            message: d.message.clone(),
            charge: Some(charge.id.clone()),
            payment_method: Some(pm.id.clone()),
        });
        self.insert_doc(tx, &charge).await?;
        self.save_doc(tx, &pi).await?;
        self.record_event(tx, ctx, "charge.failed", &charge.to_json(), None)
            .await?;
        let mut pi_json = pi.to_json();
        pi_json["last_payment_error"]["payment_method"] = pm.to_json();
        self.record_event(tx, ctx, "payment_intent.payment_failed", &pi_json, None)
            .await?;
        self.invoice_payment_settled(tx, ctx, &pi).await?;
        let body = || {
            card_error_body(
                &d.code,
                d.decline_code.as_deref(),
                &d.message,
                None,
                &[
                    ("payment_intent", pi_json),
                    ("charge", Value::String(charge.id.clone())),
                    ("payment_method", pm.to_json()),
                ],
            )
        };
        self.reply(tx, ctx, 402, body, reply).await
    }

    /// The response `reply` asks for: rendered (a 200 expanded as asked) and saved for the
    /// request's Idempotency-Key, or nothing when no one will read it.
    async fn reply(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        status: u16,
        body: impl FnOnce() -> Value,
        reply: Reply<'_>,
    ) -> AppResult<(u16, Value)> {
        match reply {
            Reply::Unread if ctx.idempotency.is_none() => Ok((status, Value::Null)),
            Reply::Unread => self.respond(tx, ctx, status, body(), &[]).await,
            Reply::Rendered(expand) => self.respond(tx, ctx, status, body(), expand).await,
        }
    }

    /// Whether a successful payment also changes its PaymentMethod (set up for later use,
    /// attached to the customer).
    fn success_changes_pm(&self, pi: &PaymentIntent, pm: &PaymentMethod) -> bool {
        Self::success_sets_up_pm(pi, pm) || self.success_attaches_pm(pi, pm)
    }

    /// Whether a successful payment marks its card set up for later (off-session) use.
    fn success_sets_up_pm(pi: &PaymentIntent, pm: &PaymentMethod) -> bool {
        (pi.setup_future_usage.is_some() || pi.off_session) && !pm.set_up
    }

    /// Whether a successful payment attaches its card to the intent's customer.
    fn success_attaches_pm(&self, pi: &PaymentIntent, pm: &PaymentMethod) -> bool {
        pi.setup_future_usage.is_some() && pi.customer.is_some() && pm.customer.is_none()
    }

    /// Applies a successful authorization to `pi` (already no longer pending); returns the
    /// charge it made.
    fn apply_success(
        &self,
        pi: &mut PaymentIntent,
        pm: &PaymentMethod,
        reference: String,
        now: i64,
    ) -> Charge {
        let captured = pi.capture_method != CaptureMethod::Manual;
        let charge = self.new_charge(
            pi,
            pm,
            now,
            ChargeStatus::Succeeded,
            reference.clone(),
            captured,
            None,
        );
        pi.latest_charge = Some(charge.id.clone());
        pi.processor_ref = Some(reference);
        pi.last_payment_error = None;
        pi.next_action = None;
        if captured {
            pi.status = PiStatus::Succeeded;
            pi.amount_received = pi.amount;
        } else {
            pi.status = PiStatus::RequiresCapture;
            pi.amount_capturable = pi.amount;
        }
        charge
    }

    /// What a successful payment settles besides itself, in its transaction: the invoice it
    /// pays, and a captured top-up's credit grant.
    async fn success_settles(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        pi: &PaymentIntent,
    ) -> AppResult<()> {
        self.invoice_payment_settled(tx, ctx, pi).await?;
        if pi.status == PiStatus::Succeeded && Self::is_top_up(pi) {
            self.top_up_settled(tx, ctx, pi).await?;
        }
        if let Some(cs) = &pi.checkout_session {
            self.checkout_paid(tx, ctx, cs, crate::checkout::Paid::Payment(pi))
                .await?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn new_charge(
        &self,
        pi: &PaymentIntent,
        pm: &PaymentMethod,
        now: i64,
        status: ChargeStatus,
        processor_ref: String,
        captured: bool,
        failure: Option<(String, String, Option<String>)>,
    ) -> Charge {
        let id = new_id(CHARGE_PREFIX);
        let (failure_code, failure_message, decline_code) = match failure {
            Some((c, m, d)) => (Some(c), Some(m), d),
            None => (None, None, None),
        };
        Charge {
            receipt_url: self.receipt_url(&id),
            id,
            created: now,
            amount: pi.amount,
            amount_captured: if captured { pi.amount } else { 0 },
            amount_refunded: 0,
            refunds_pending: 0,
            currency: pi.currency,
            customer: pi.customer.clone(),
            payment_intent: pi.id.clone(),
            payment_method: pm.id.clone(),
            card: pm.card.clone(),
            billing_details: pm.billing_details.clone(),
            status,
            captured,
            failure_code,
            failure_message,
            decline_code,
            description: pi.description.clone(),
            receipt_email: pi.receipt_email.clone(),
            statement_descriptor: pi.statement_descriptor.clone(),
            metadata: pi.metadata.clone(),
            processor_ref,
            released: false,
            invoice: pi.invoice.clone(),
            disputed: false,
        }
    }

    /// Phases 2 and 3 of a capture.
    async fn complete_capture(
        &self,
        ctx: &RequestCtx,
        pi: PaymentIntent,
        amount: i64,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let id = pi.id.as_str();
        let authorization = pi.processor_ref.clone().unwrap_or_default();
        let key = format!("{}:capture", pi.id);
        let outcome = self
            .processor()
            .capture(CaptureRequest {
                idempotency_key: &key,
                authorization: &authorization,
                amount_minor: amount,
                currency: pi.currency.as_str(),
            })
            .await?;
        if outcome == Outcome::Processing {
            return Ok(pi.to_json());
        }
        let mut tx = self.store().begin().await?;
        let mut pi: PaymentIntent = self.load_for_update(&mut tx, id).await?;
        if !matches!(pi.pending, Some(Pending::Capture { .. })) {
            return self.finish(tx, ctx, pi.to_json(), expand).await;
        }
        if !matches!(outcome, Outcome::Succeeded { .. }) {
            // The processor holds the authorization but will not capture it: leave the capture
            // pending for an operator, and say so.
            return Err(AppError::Corrupt(format!(
                "the processor refused to capture {id}"
            )));
        }
        pi.pending = None;
        let charge_id = pi.latest_charge.clone().unwrap_or_default();
        let mut charge: Charge = self.load_for_update(&mut tx, &charge_id).await?;
        charge.captured = true;
        charge.amount_captured = amount;
        pi.status = PiStatus::Succeeded;
        pi.amount_received = amount;
        pi.amount_capturable = 0;
        self.post(
            &mut tx,
            charge.capture_posting(Money::new(amount, charge.currency)),
        )
        .await?;
        let dispute = self.dispute_on_capture(&mut charge);
        self.save_doc(&mut tx, &charge).await?;
        self.save_doc(&mut tx, &pi).await?;
        self.record_event(&mut tx, ctx, "charge.captured", &charge.to_json(), None)
            .await?;
        self.record_event(
            &mut tx,
            ctx,
            "payment_intent.succeeded",
            &pi.to_json(),
            None,
        )
        .await?;
        if let Some(d) = &dispute {
            self.record_dispute_opened(&mut tx, ctx, d).await?;
        }
        self.finish(tx, ctx, pi.to_json(), expand).await
    }

    /// Phases 2 and 3 of canceling an authorized intent: release the hold, then cancel.
    async fn complete_cancel(
        &self,
        ctx: &RequestCtx,
        pi: PaymentIntent,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let id = pi.id.as_str();
        let authorization = pi.processor_ref.clone().unwrap_or_default();
        let key = format!("{}:void", pi.id);
        self.processor()
            .void(VoidRequest {
                idempotency_key: &key,
                authorization: &authorization,
            })
            .await?;
        let mut tx = self.store().begin().await?;
        let pi: PaymentIntent = self.load_for_update(&mut tx, id).await?;
        if !matches!(pi.pending, Some(Pending::Cancel { .. })) {
            return self.finish(tx, ctx, pi.to_json(), expand).await;
        }
        let charge = match &pi.latest_charge {
            Some(c) => Some(self.load_for_update::<Charge>(&mut tx, c).await?),
            None => None,
        };
        self.finish_cancel(tx, ctx, pi, charge, expand).await
    }

    async fn finish_cancel(
        &self,
        mut tx: Tx,
        ctx: &RequestCtx,
        mut pi: PaymentIntent,
        charge: Option<Charge>,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        pi.pending = None;
        pi.status = PiStatus::Canceled;
        pi.canceled_at = Some(self.now());
        pi.amount_capturable = 0;
        pi.next_action = None;
        if let Some(mut charge) = charge {
            charge.released = true;
            self.save_doc(&mut tx, &charge).await?;
            self.record_event(&mut tx, ctx, "charge.refunded", &charge.to_json(), None)
                .await?;
        }
        self.save_doc(&mut tx, &pi).await?;
        self.record_event(&mut tx, ctx, "payment_intent.canceled", &pi.to_json(), None)
            .await?;
        self.finish(tx, ctx, pi.to_json(), expand).await
    }

    /// A charge for the hosted receipt page.
    pub async fn charge_for_receipt(&self, id: &str, token: &str) -> AppResult<Charge> {
        if !self.receipt_token_valid(id, token) {
            return Err(AppError::not_found("charge", id));
        }
        self.load(id).await
    }

    /// Resumes a PaymentIntent whose processor call was interrupted (a crash, a timeout)
    /// longer ago than the lease, with the same processor idempotency key.
    pub(crate) async fn resume_payment_intent(&self, id: &str) -> AppResult<()> {
        self.resume_payment_intent_after(id, PENDING_LEASE_SECS)
            .await
    }

    /// Settles a pending confirmation at once, with what the processor says now (its webhook
    /// said the payment finished): asking again under the attempt's key charges nothing twice,
    /// and the outcome is applied only if the attempt is still pending.
    pub(crate) async fn resume_payment_intent_now(&self, id: &str) -> AppResult<()> {
        self.resume_payment_intent_after(id, -1).await
    }

    async fn resume_payment_intent_after(&self, id: &str, lease: i64) -> AppResult<()> {
        let ctx = RequestCtx::default();
        let pi: PaymentIntent = self.load(id).await?;
        match pi.pending.clone() {
            Some(Pending::Confirm { attempt, since, .. }) if self.now() - since > lease => {
                let pm_id = pi
                    .payment_method
                    .clone()
                    .ok_or_else(missing_payment_method)?;
                let pm: PaymentMethod = self.load(&pm_id).await?;
                match self.run_confirmation(&ctx, pi, pm, attempt, &[]).await {
                    Ok(_) | Err(AppError::Card { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Some(Pending::Capture {
                amount_minor,
                since,
            }) if self.now() - since > PENDING_LEASE_SECS => self
                .complete_capture(&ctx, pi, amount_minor, &[])
                .await
                .map(drop),
            Some(Pending::Cancel { since }) if self.now() - since > PENDING_LEASE_SECS => {
                self.complete_cancel(&ctx, pi, &[]).await.map(drop)
            }
            _ => Ok(()),
        }
    }

    /// The return URL an intent was confirmed with, for the hosted page's redirect.
    pub async fn return_url_of(&self, id: &str) -> AppResult<Option<String>> {
        if id.starts_with("seti_") {
            Ok(self
                .load::<cashbox_core::payments::SetupIntent>(id)
                .await?
                .return_url)
        } else {
            Ok(self.load::<PaymentIntent>(id).await?.return_url)
        }
    }

    /// The intent a hosted authentication page shows, if the secret matches.
    pub async fn payment_intent_for_page(
        &self,
        id: &str,
        client_secret: &str,
    ) -> AppResult<PaymentIntent> {
        let pi: PaymentIntent = self.load(id).await?;
        if !ClientAuth::Publishable(Some(client_secret)).allows(&pi.client_secret) {
            return Err(AppError::not_found("payment_intent", id));
        }
        Ok(pi)
    }
}

fn missing_payment_method() -> AppError {
    unexpected_state(
        "You cannot confirm this PaymentIntent because it's missing a payment method. To confirm the PaymentIntent, pass a payment_method.",
    )
    .into()
}

fn in_flight() -> AppError {
    unexpected_state(
        "This PaymentIntent is being processed by another request. Retry after it completes.",
    )
    .into()
}

fn success_event(captured: bool) -> &'static str {
    if captured {
        "payment_intent.succeeded"
    } else {
        "payment_intent.amount_capturable_updated"
    }
}

/// Whether a successful payment of `pi` saves its card to its customer.
fn saves_card(pi: &PaymentIntent) -> bool {
    pi.setup_future_usage.is_some() && pi.customer.is_some()
}

/// What the processor is asked for `pi`'s attempt (`key`) with `pm`; `None` if `pi` is not
/// confirming.
fn authorize_request<'a>(
    pi: &'a PaymentIntent,
    pm: &'a PaymentMethod,
    key: &'a str,
    customer: Option<&'a str>,
) -> Option<AuthorizeRequest<'a>> {
    let Some(Pending::Confirm { authenticated, .. }) = pi.pending else {
        return None;
    };
    Some(AuthorizeRequest {
        idempotency_key: key,
        customer,
        save_card: saves_card(pi),
        amount_minor: pi.amount,
        currency: pi.currency.as_str(),
        card_token: &pm.card.token,
        capture: pi.capture_method != CaptureMethod::Manual,
        off_session: pi.off_session,
        card_set_up: pm.set_up,
        authenticated,
        resume: pi
            .processor_action
            .as_ref()
            .filter(|_| authenticated)
            .map(|a| a.reference.as_str()),
        request_authentication: pi.request_three_d_secure.requested(),
    })
}

crate::service!(
    PaymentIntents,
    payment_intents,
    "PaymentIntents: create, confirm, capture, cancel."
);

impl PaymentIntents<'_> {
    pub async fn create(
        &self,
        ctx: &RequestCtx,
        mut params: PaymentIntentCreateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        self.mirror_param(&mut params.payment_method).await?;
        let amount = params.amount.ok_or_else(|| ParamError::missing("amount"))?;
        let currency = params
            .currency
            .clone()
            .ok_or_else(|| ParamError::missing("currency"))?;
        let cur = self.check_amount(amount, &currency)?;
        let id = new_id(PI_PREFIX);
        let secret = format!("{id}_secret_{}", random_token(24));
        let mut pi = PaymentIntent::new(id, self.now(), amount, cur, secret, &params)?;
        let mut from_data = self.payment_method_from_data(
            params.payment_method_data.as_ref(),
            params.payment_method.as_deref(),
        )?;
        if from_data.is_none()
            && let Some(id) = params.payment_method.as_deref()
        {
            from_data = self.test_payment_method(id, "payment_method")?;
        }

        if params.confirm != Some(true) && (from_data.is_some() || params.payment_method.is_none())
        {
            // Everything this create writes is known before the transaction: build and seal
            // it first, so the write turn only writes.
            pi.payment_method = from_data.as_ref().map(|pm| pm.id.clone());
            let pm_row = from_data.as_ref().map(|pm| self.seal_doc(pm));
            let pi_row = self.seal_doc(&pi);
            let object = pi.to_json();
            let event = self.prepare_event(ctx, "payment_intent.created", &object, None);
            let mut tx = self.store().begin().await?;
            if let Some(customer) = &params.customer {
                self.check_customer(&mut tx, customer, "customer").await?;
            }
            if let Some(row) = &pm_row {
                tx.insert_doc(DocTable::PaymentMethods, row).await?;
            }
            tx.insert_doc(DocTable::PaymentIntents, &pi_row).await?;
            tx.insert_event(event);
            return self.finish(tx, ctx, object, expand).await;
        }

        let mut tx = self.store().begin().await?;
        if let Some(customer) = &params.customer {
            self.check_customer(&mut tx, customer, "customer").await?;
        }
        let pm = self
            .payment_method_for_request(
                &mut tx,
                params.payment_method.as_deref(),
                from_data,
                params.customer.as_deref(),
            )
            .await?;
        pi.payment_method = pm.as_ref().map(|pm| pm.id.clone());
        self.insert_doc(&mut tx, &pi).await?;
        self.record_event(&mut tx, ctx, "payment_intent.created", &pi.to_json(), None)
            .await?;
        if params.confirm != Some(true) {
            return self.finish(tx, ctx, pi.to_json(), expand).await;
        }
        let Some(pm) = pm else {
            return Err(missing_payment_method());
        };
        pi.off_session = params.off_session.is_some_and(|o| o.0);
        let attempt = self.begin_attempt(&mut pi, false);
        self.save_doc(&mut tx, &pi).await?;
        self.commit_provisional(tx, ctx, &pi.to_json()).await?;
        self.run_confirmation(ctx, pi, pm, attempt, expand).await
    }

    pub async fn retrieve(
        &self,
        id: &str,
        auth: ClientAuth<'_>,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let pi: PaymentIntent = self.load(id).await?;
        if !auth.allows(&pi.client_secret) {
            return Err(AppError::not_found("payment_intent", id));
        }
        let mut object = pi.to_json();
        self.expand(&mut Reader::Store(self.store()), &mut object, expand)
            .await?;
        Ok(object)
    }

    pub async fn update(
        &self,
        ctx: &RequestCtx,
        id: &str,
        mut params: PaymentIntentUpdateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        self.mirror_param(&mut params.payment_method).await?;
        let mut tx = self.store().begin().await?;
        let before: PaymentIntent = self.load_for_update(&mut tx, id).await?;
        if before.pending.is_some() {
            return Err(in_flight());
        }
        let new_customer = params.customer.clone();
        let new_pm = params.payment_method.clone();
        let mut after = before.updated(params)?;
        check_charge_amount("amount", after.amount, after.currency)?;
        if let Some(customer) = &new_customer {
            self.check_customer(&mut tx, customer, "customer").await?;
        }
        if let Some(pm_id) = &new_pm {
            let pm = self
                .payment_method_for_use(&mut tx, pm_id, after.customer.as_deref(), "payment_method")
                .await?;
            after.payment_method = Some(pm.id);
        }
        if after != before {
            self.save_doc(&mut tx, &after).await?;
        }
        self.finish(tx, ctx, after.to_json(), expand).await
    }

    pub async fn confirm(
        &self,
        ctx: &RequestCtx,
        id: &str,
        mut params: PaymentIntentConfirmParams,
        auth: ClientAuth<'_>,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        self.mirror_param(&mut params.payment_method).await?;
        cashbox_core::payments::check_return_url(&params.return_url)?;
        let from_data = self.payment_method_from_data(
            params.payment_method_data.as_ref(),
            params.payment_method.as_deref(),
        )?;
        let mut tx = self.store().begin().await?;
        let mut pi: PaymentIntent = self.load_for_update(&mut tx, id).await?;
        if !auth.allows(&pi.client_secret) {
            return Err(AppError::not_found("payment_intent", id));
        }
        let attempt = match pi.pending.clone() {
            Some(Pending::Confirm { attempt, since, .. })
                if self.now() - since > PENDING_LEASE_SECS =>
            {
                // The request that started this attempt died: resume it with the same key.
                attempt
            }
            Some(_) => return Err(in_flight()),
            None => {
                pi.check_confirmable()?;
                let named = self
                    .payment_method_for_request(
                        &mut tx,
                        params.payment_method.as_deref(),
                        from_data,
                        pi.customer.as_deref(),
                    )
                    .await?;
                if let Some(pm) = named {
                    pi.payment_method = Some(pm.id);
                }
                if pi.payment_method.is_none() {
                    return Err(missing_payment_method());
                }
                if let Some(u) = params.return_url {
                    pi.return_url = Some(u);
                }
                if let Some(f) = params.setup_future_usage {
                    pi.setup_future_usage = Some(f);
                }
                if let Some(e) = params.receipt_email {
                    pi.receipt_email = Some(e);
                }
                if let Some(m) = params.capture_method {
                    pi.capture_method = m;
                }
                pi.off_session = params.off_session.is_some_and(|o| o.0);
                self.begin_attempt(&mut pi, false)
            }
        };
        let pm_id = pi
            .payment_method
            .clone()
            .ok_or_else(missing_payment_method)?;
        let pm: PaymentMethod = self.load_for_update(&mut tx, &pm_id).await?;
        self.save_doc(&mut tx, &pi).await?;
        self.commit_provisional(tx, ctx, &pi.to_json()).await?;
        self.run_confirmation(ctx, pi, pm, attempt, expand).await
    }

    /// The sandbox's authentication step (hosted page or its API twin): approve runs the
    /// payment again as authenticated; fail returns the intent to `requires_payment_method`.
    pub async fn authenticate(
        &self,
        ctx: &RequestCtx,
        id: &str,
        auth: ClientAuth<'_>,
        success: bool,
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut pi: PaymentIntent = self.load_for_update(&mut tx, id).await?;
        if !auth.allows(&pi.client_secret) {
            return Err(AppError::not_found("payment_intent", id));
        }
        if pi.status != PiStatus::RequiresAction || pi.pending.is_some() {
            return Err(unexpected_state(format!(
                "This PaymentIntent does not need authentication: its status is {}.",
                pi.status.as_str()
            ))
            .into());
        }
        if !success {
            pi.status = PiStatus::RequiresPaymentMethod;
            pi.next_action = None;
            pi.processor_action = None;
            pi.last_payment_error = Some(LastError::authentication_failed(
                pi.payment_method.take(),
                false,
            ));
            self.save_doc(&mut tx, &pi).await?;
            self.record_event(
                &mut tx,
                ctx,
                "payment_intent.payment_failed",
                &pi.to_json(),
                None,
            )
            .await?;
            self.invoice_payment_settled(&mut tx, ctx, &pi).await?;
            return self.finish(tx, ctx, pi.to_json(), &[]).await;
        }
        let attempt = self.begin_attempt(&mut pi, true);
        let pm_id = pi
            .payment_method
            .clone()
            .ok_or_else(missing_payment_method)?;
        let pm: PaymentMethod = self.load_for_update(&mut tx, &pm_id).await?;
        self.save_doc(&mut tx, &pi).await?;
        self.commit_provisional(tx, ctx, &pi.to_json()).await?;
        match self.run_confirmation(ctx, pi, pm, attempt, &[]).await {
            // A decline after authentication is a result, not an error, for the page.
            Err(AppError::Card { .. }) => Ok(self.load::<PaymentIntent>(id).await?.to_json()),
            other => other,
        }
    }

    pub async fn capture(
        &self,
        ctx: &RequestCtx,
        id: &str,
        params: PaymentIntentCaptureParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut pi: PaymentIntent = self.load_for_update(&mut tx, id).await?;
        let amount = match pi.pending.clone() {
            Some(Pending::Capture {
                amount_minor,
                since,
            }) if self.now() - since > PENDING_LEASE_SECS => amount_minor,
            Some(_) => return Err(in_flight()),
            None => {
                let amount = params.amount_to_capture.unwrap_or(pi.amount_capturable);
                pi.check_capturable(amount)?;
                if let Some(m) = &params.metadata {
                    pi.metadata = m.apply(&pi.metadata)?;
                }
                pi.pending = Some(Pending::Capture {
                    amount_minor: amount,
                    since: self.now(),
                });
                amount
            }
        };
        self.save_doc(&mut tx, &pi).await?;
        self.commit_provisional(tx, ctx, &pi.to_json()).await?;
        self.complete_capture(ctx, pi, amount, expand).await
    }

    pub async fn cancel(
        &self,
        ctx: &RequestCtx,
        id: &str,
        params: PaymentIntentCancelParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        if let Some(r) = &params.cancellation_reason
            && !CANCELLATION_REASONS.contains(&r.as_str())
        {
            return Err(ParamError::invalid(
                "cancellation_reason",
                format!(
                    "Invalid cancellation_reason: must be one of {}",
                    CANCELLATION_REASONS.join(", ")
                ),
            )
            .into());
        }
        let mut tx = self.store().begin().await?;
        let mut pi: PaymentIntent = self.load_for_update(&mut tx, id).await?;
        match pi.pending {
            Some(Pending::Cancel { since }) if self.now() - since > PENDING_LEASE_SECS => {}
            Some(_) => return Err(in_flight()),
            None => {
                pi.check_cancelable()?;
                pi.cancellation_reason = params.cancellation_reason.clone();
                if pi.status != PiStatus::RequiresCapture {
                    return self.finish_cancel(tx, ctx, pi, None, expand).await;
                }
                pi.pending = Some(Pending::Cancel { since: self.now() });
            }
        }
        self.save_doc(&mut tx, &pi).await?;
        self.commit_provisional(tx, ctx, &pi.to_json()).await?;
        self.complete_cancel(ctx, pi, expand).await
    }

    pub async fn list(
        &self,
        params: &PaymentIntentListParams,
        expand: &[Vec<String>],
    ) -> AppResult<ListResult> {
        let filter = DocFilter {
            customer: params.customer.clone(),
            created: params.created.unwrap_or_default(),
            ..DocFilter::default()
        };
        self.list_docs::<PaymentIntent>(&filter, &params.page()?, expand, PaymentIntent::to_json)
            .await
    }
}

crate::service!(Charges, charges, "Charges, as PaymentIntents made them.");

impl Charges<'_> {
    pub async fn retrieve(&self, id: &str, expand: &[Vec<String>]) -> AppResult<Value> {
        let mut object = self.load::<Charge>(id).await?.to_json();
        self.expand(&mut Reader::Store(self.store()), &mut object, expand)
            .await?;
        Ok(object)
    }

    pub async fn list(
        &self,
        params: &ChargeListParams,
        expand: &[Vec<String>],
    ) -> AppResult<ListResult> {
        let filter = DocFilter {
            customer: params.customer.clone(),
            parent: params.payment_intent.clone(),
            created: params.created.unwrap_or_default(),
            ..DocFilter::default()
        };
        self.list_docs::<Charge>(&filter, &params.page()?, expand, Charge::to_json)
            .await
    }
}
