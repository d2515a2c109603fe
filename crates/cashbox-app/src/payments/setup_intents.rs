//! SetupIntents: saving a card for later, with authentication where the card asks for it. On
//! success the card is marked set up for off-session use and attached to the customer.

use cashbox_core::ParamError;
use cashbox_core::id::{new_id, random_token};
use cashbox_core::payments::{
    LastError, PENDING_LEASE_SECS, PaymentMethod, ProcessorAction, SETI_PREFIX, SetiStatus,
    SetupIntent, SetupIntentCancelParams, SetupIntentConfirmParams, SetupIntentCreateParams,
    SetupIntentListParams,
};
use cashbox_processor::{Outcome, VerifyRequest};
use cashbox_store::DocFilter;
use serde_json::Value;

use crate::error::card_error_body;
use crate::events::ListResult;
use crate::expand::Reader;
use crate::{App, AppError, AppResult, ClientAuth, RequestCtx};

const CANCELLATION_REASONS: [&str; 3] = ["abandoned", "requested_by_customer", "duplicate"];

fn unexpected(message: String) -> AppError {
    ParamError::new("", "setup_intent_unexpected_state", message).into()
}

impl App {
    fn begin_setup_attempt(&self, seti: &mut SetupIntent, authenticated: bool) {
        seti.attempts += 1;
        seti.status = SetiStatus::Processing;
        seti.pending_since = Some(self.now());
        seti.authenticated = authenticated;
        seti.next_action = None;
    }

    /// Finishes a setup whose processor call was interrupted longer ago than the lease.
    pub(crate) async fn resume_setup_intent(&self, id: &str) -> AppResult<()> {
        let seti: SetupIntent = self.load(id).await?;
        match seti.pending_since {
            Some(since) if self.now() - since > PENDING_LEASE_SECS => {
                match self.run_setup(&RequestCtx::default(), id, &[]).await {
                    Ok(_) | Err(AppError::Card { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            _ => Ok(()),
        }
    }

    async fn run_setup(
        &self,
        ctx: &RequestCtx,
        id: &str,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let seti: SetupIntent = self.load(id).await?;
        let pm_id = seti.payment_method.clone().unwrap_or_default();
        let pm: PaymentMethod = self.load(&pm_id).await?;
        let key = seti.attempt_key();
        let customer = match seti.customer.as_deref() {
            Some(c) => self.processor_customer(c).await?,
            None => None,
        };
        let outcome = self
            .processor()
            .verify(VerifyRequest {
                idempotency_key: &key,
                customer: customer.as_deref(),
                card_token: &pm.card.token,
                for_setup: true,
                authenticated: seti.authenticated,
                resume: seti
                    .processor_action
                    .as_ref()
                    .filter(|_| seti.authenticated)
                    .map(|a| a.reference.as_str()),
            })
            .await?;

        if outcome == Outcome::Processing {
            return Ok(seti.to_json());
        }
        let mut tx = self.store().begin().await?;
        let mut seti: SetupIntent = self.load_for_update(&mut tx, id).await?;
        if seti.pending_since.is_none() || seti.attempt_key() != key {
            return self.finish(tx, ctx, seti.to_json(), expand).await;
        }
        let mut pm: PaymentMethod = self.load_for_update(&mut tx, &pm_id).await?;
        seti.pending_since = None;
        // The setup the cardholder was to authenticate is settled by this outcome.
        seti.processor_action = None;
        match outcome {
            Outcome::Succeeded { .. } => {
                seti.status = SetiStatus::Succeeded;
                seti.last_setup_error = None;
                pm.set_up = true;
                if let Some(customer) = seti.customer.clone() {
                    self.attach_in(&mut tx, ctx, &mut pm, &customer).await?;
                }
                self.save_doc(&mut tx, &pm).await?;
                self.save_doc(&mut tx, &seti).await?;
                self.record_event(
                    &mut tx,
                    ctx,
                    "setup_intent.succeeded",
                    &seti.to_json(),
                    None,
                )
                .await?;
                self.setup_settles(&mut tx, ctx, &seti).await?;
                self.finish(tx, ctx, seti.to_json(), expand).await
            }
            Outcome::Processing => unreachable!("handled before the transaction"),
            Outcome::RequiresAction(action) => {
                seti.status = SetiStatus::RequiresAction;
                seti.processor_action = action.reference.map(|reference| ProcessorAction {
                    reference,
                    client_secret: action.client_secret,
                });
                seti.next_action = Some(self.authentication_redirect(
                    &seti.id,
                    &seti.client_secret,
                    seti.return_url.clone(),
                ));
                self.save_doc(&mut tx, &seti).await?;
                self.record_event(
                    &mut tx,
                    ctx,
                    "setup_intent.requires_action",
                    &seti.to_json(),
                    None,
                )
                .await?;
                self.finish(tx, ctx, seti.to_json(), expand).await
            }
            Outcome::Declined(d) => {
                seti.status = SetiStatus::RequiresPaymentMethod;
                seti.payment_method = None;
                seti.last_setup_error = Some(LastError {
                    code: d.code.clone(),
                    decline_code: d.decline_code.clone(),
                    message: d.message.clone(),
                    charge: None,
                    payment_method: Some(pm.id.clone()),
                });
                self.save_doc(&mut tx, &seti).await?;
                let seti_json = seti.to_json();
                self.record_event(&mut tx, ctx, "setup_intent.setup_failed", &seti_json, None)
                    .await?;
                let body = card_error_body(
                    &d.code,
                    d.decline_code.as_deref(),
                    &d.message,
                    None,
                    &[
                        ("setup_intent", seti_json),
                        ("payment_method", pm.to_json()),
                    ],
                );
                self.commit_response(tx, ctx, 402, &body).await?;
                Err(AppError::Card { body })
            }
        }
    }

    /// The intent a hosted authentication page shows, if the secret matches.
    pub async fn setup_intent_for_page(
        &self,
        id: &str,
        client_secret: &str,
    ) -> AppResult<SetupIntent> {
        let seti: SetupIntent = self.load(id).await?;
        if !ClientAuth::Publishable(Some(client_secret)).allows(&seti.client_secret) {
            return Err(AppError::not_found("setup_intent", id));
        }
        Ok(seti)
    }
}

crate::service!(
    SetupIntents,
    setup_intents,
    "SetupIntents: saving a card for later."
);

impl SetupIntents<'_> {
    pub async fn create(
        &self,
        ctx: &RequestCtx,
        mut params: SetupIntentCreateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        self.mirror_param(&mut params.payment_method).await?;
        let id = new_id(SETI_PREFIX);
        let secret = format!("{id}_secret_{}", random_token(24));
        let mut seti = SetupIntent::new(id, self.now(), secret, &params)?;
        let from_data = self.payment_method_from_data(
            params.payment_method_data.as_ref(),
            params.payment_method.as_deref(),
        )?;
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
        seti.payment_method = pm.map(|pm| pm.id);
        self.insert_doc(&mut tx, &seti).await?;
        self.record_event(&mut tx, ctx, "setup_intent.created", &seti.to_json(), None)
            .await?;
        if params.confirm != Some(true) {
            return self.finish(tx, ctx, seti.to_json(), expand).await;
        }
        if seti.payment_method.is_none() {
            return Err(unexpected(
                "You cannot confirm this SetupIntent because it's missing a payment method.".into(),
            ));
        }
        self.begin_setup_attempt(&mut seti, false);
        self.save_doc(&mut tx, &seti).await?;
        self.commit_provisional(tx, ctx, &seti.to_json()).await?;
        self.run_setup(ctx, &seti.id, expand).await
    }

    pub async fn retrieve(
        &self,
        id: &str,
        auth: ClientAuth<'_>,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let seti: SetupIntent = self.load(id).await?;
        if !auth.allows(&seti.client_secret) {
            return Err(AppError::not_found("setup_intent", id));
        }
        let mut object = seti.to_json();
        self.expand(&mut Reader::Store(self.store()), &mut object, expand)
            .await?;
        Ok(object)
    }

    pub async fn confirm(
        &self,
        ctx: &RequestCtx,
        id: &str,
        mut params: SetupIntentConfirmParams,
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
        let mut seti: SetupIntent = self.load_for_update(&mut tx, id).await?;
        if !auth.allows(&seti.client_secret) {
            return Err(AppError::not_found("setup_intent", id));
        }
        match seti.pending_since {
            Some(since) if self.now() - since > PENDING_LEASE_SECS => {}
            Some(_) => {
                return Err(unexpected(
                    "This SetupIntent is being processed by another request.".into(),
                ));
            }
            None => {
                seti.check_confirmable()?;
                let named = self
                    .payment_method_for_request(
                        &mut tx,
                        params.payment_method.as_deref(),
                        from_data,
                        seti.customer.as_deref(),
                    )
                    .await?;
                if let Some(pm) = named {
                    seti.payment_method = Some(pm.id);
                }
                if seti.payment_method.is_none() {
                    return Err(unexpected(
                        "You cannot confirm this SetupIntent because it's missing a payment method.".into(),
                    ));
                }
                if let Some(u) = params.return_url {
                    seti.return_url = Some(u);
                }
                self.begin_setup_attempt(&mut seti, false);
            }
        }
        self.save_doc(&mut tx, &seti).await?;
        self.commit_provisional(tx, ctx, &seti.to_json()).await?;
        self.run_setup(ctx, id, expand).await
    }

    pub async fn authenticate(
        &self,
        ctx: &RequestCtx,
        id: &str,
        auth: ClientAuth<'_>,
        success: bool,
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut seti: SetupIntent = self.load_for_update(&mut tx, id).await?;
        if !auth.allows(&seti.client_secret) {
            return Err(AppError::not_found("setup_intent", id));
        }
        if seti.status != SetiStatus::RequiresAction {
            return Err(unexpected(format!(
                "This SetupIntent does not need authentication: its status is {}.",
                seti.status.as_str()
            )));
        }
        if !success {
            seti.status = SetiStatus::RequiresPaymentMethod;
            seti.next_action = None;
            seti.processor_action = None;
            seti.last_setup_error = Some(LastError::authentication_failed(
                seti.payment_method.take(),
                true,
            ));
            self.save_doc(&mut tx, &seti).await?;
            self.record_event(
                &mut tx,
                ctx,
                "setup_intent.setup_failed",
                &seti.to_json(),
                None,
            )
            .await?;
            return self.finish(tx, ctx, seti.to_json(), &[]).await;
        }
        self.begin_setup_attempt(&mut seti, true);
        self.save_doc(&mut tx, &seti).await?;
        self.commit_provisional(tx, ctx, &seti.to_json()).await?;
        match self.run_setup(ctx, id, &[]).await {
            Err(AppError::Card { .. }) => Ok(self.load::<SetupIntent>(id).await?.to_json()),
            other => other,
        }
    }

    pub async fn cancel(
        &self,
        ctx: &RequestCtx,
        id: &str,
        params: SetupIntentCancelParams,
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
        let mut seti: SetupIntent = self.load_for_update(&mut tx, id).await?;
        seti.check_cancelable()?;
        seti.status = SetiStatus::Canceled;
        seti.cancellation_reason = params.cancellation_reason;
        seti.next_action = None;
        self.save_doc(&mut tx, &seti).await?;
        self.record_event(&mut tx, ctx, "setup_intent.canceled", &seti.to_json(), None)
            .await?;
        self.finish(tx, ctx, seti.to_json(), expand).await
    }

    pub async fn list(
        &self,
        params: &SetupIntentListParams,
        expand: &[Vec<String>],
    ) -> AppResult<ListResult> {
        let filter = DocFilter {
            customer: params.customer.clone(),
            parent: params.payment_method.clone(),
            created: params.created.unwrap_or_default(),
            ..DocFilter::default()
        };
        self.list_docs::<SetupIntent>(&filter, &params.page()?, expand, SetupIntent::to_json)
            .await
    }
}
