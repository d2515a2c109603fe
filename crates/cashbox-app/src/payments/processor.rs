//! What Cashbox keeps of the processor's own objects: its customers (created on first need,
//! carrying only what the settings share) and the cards it holds under its own ids (a Stripe
//! `pm_…` made by Stripe.js), mirrored as Cashbox PaymentMethods with the same id.
//!
//! Both are asked of the processor before any transaction begins.

use cashbox_core::checkout::CardInput;
use cashbox_core::customer::Customer;
use cashbox_core::payments::{Card, PaymentMethod};
use cashbox_processor::CustomerRequest;

use crate::docs::Doc;
use crate::{App, AppError, AppResult, RequestCtx};

/// What a processor's customer is created with, beyond Cashbox's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CustomerShare {
    pub email: bool,
    pub name: bool,
}

impl Default for CustomerShare {
    fn default() -> Self {
        Self {
            email: true,
            name: false,
        }
    }
}

impl App {
    /// The processor's customer for the Cashbox customer `id`, created on first need; `None`
    /// where the processor keeps no customers (the sandbox).
    pub(crate) async fn processor_customer(&self, id: &str) -> AppResult<Option<String>> {
        if !self.processor().keeps_customers() {
            return Ok(None);
        }
        if let Some(known) = self.store().processor_customer(id).await? {
            return Ok(Some(known));
        }
        let row = self
            .store()
            .customer(id)
            .await?
            .ok_or_else(|| AppError::not_found("customer", id))?;
        let customer = self.open_customer(row)?;
        self.create_processor_customer(&customer).await.map(Some)
    }

    /// Creates (or finds, if a request raced) the processor's customer for `customer`, which
    /// may not be stored yet (a customer created with its card).
    pub(crate) async fn create_processor_customer(&self, customer: &Customer) -> AppResult<String> {
        let id = customer.id.as_str();
        let share = self.settings().processor_customer_share;
        let email = customer.private.email.as_deref().filter(|_| share.email);
        let name = customer.private.name.as_deref().filter(|_| share.name);
        // Two requests creating it at once send the same key: the processor makes one.
        let key = format!("customer:{id}");
        let reference = self
            .processor()
            .create_customer(CustomerRequest {
                idempotency_key: &key,
                cashbox_id: id,
                email,
                name,
            })
            .await?;
        let kept = self
            .store()
            .record_processor_customer(id, self.processor().name(), &reference, self.now())
            .await?;
        Ok(kept)
    }

    /// The processor's customer a payment with `pm` names: the card's owner, else the paying
    /// customer (each Cashbox customer that pays has one, made on first need).
    pub(crate) async fn processor_customer_for(
        &self,
        pm: &PaymentMethod,
        payer: Option<&str>,
    ) -> AppResult<Option<String>> {
        match pm.customer.as_deref().or(payer) {
            Some(owner) => self.processor_customer(owner).await,
            None => Ok(None),
        }
    }

    /// The PaymentMethod a hosted page's card form gives: typed fields tokenized as the API
    /// does (the sandbox), or the processor's PaymentMethod made by Stripe.js, mirrored. The
    /// number is never kept; with Stripe.js it never arrives.
    pub(crate) async fn page_card(&self, ctx: &RequestCtx, card: &CardInput) -> AppResult<String> {
        match card {
            CardInput::Typed(typed) => {
                let pm = self
                    .payment_methods()
                    .create(ctx, typed.payment_method_params(), &[])
                    .await?;
                Ok(pm["id"].as_str().unwrap_or_default().to_string())
            }
            CardInput::Processor { payment_method, .. } => {
                let mut id = payment_method.clone();
                self.mirror_foreign_card(&mut id).await?;
                let pm: PaymentMethod = self.load(&id).await.map_err(|_| {
                    cashbox_core::ParamError::invalid(
                        "payment_method",
                        "Your card could not be read; enter it again.",
                    )
                })?;
                // A card saved to someone is not theirs to pay with on a public page.
                if pm.customer.is_some() {
                    return Err(cashbox_core::ParamError::invalid(
                        "payment_method",
                        "Your card could not be read; enter it again.",
                    )
                    .into());
                }
                Ok(pm.id)
            }
        }
    }

    /// [`App::mirror_foreign_card`] for a parameter that may name one.
    pub(crate) async fn mirror_param(&self, id: &mut Option<String>) -> AppResult<()> {
        match id {
            Some(id) => self.mirror_foreign_card(id).await,
            None => Ok(()),
        }
    }

    /// Makes sure a card the processor holds under `id` (a Stripe PaymentMethod) has its
    /// Cashbox mirror, so the use case that names it finds it like any other; `id` becomes
    /// the mirror's id (Stripe's test ids, `pm_card_visa`, make a new PaymentMethod each
    /// time, as on Stripe). Nothing for ids the processor does not hold, or already mirrored.
    pub async fn mirror_foreign_card(&self, id: &mut String) -> AppResult<()> {
        if !self.processor().keeps_customers() {
            return Ok(());
        }
        if PaymentMethod::valid_id(id)
            && self.store().doc(PaymentMethod::TABLE, id).await?.is_some()
        {
            return Ok(());
        }
        let Some(foreign) = self.processor().foreign_card(id).await? else {
            return Ok(());
        };
        id.clone_from(&foreign.id);
        if self
            .store()
            .doc(PaymentMethod::TABLE, &foreign.id)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let d = foreign.details;
        let card = Card {
            brand: d.brand,
            last4: d.last4,
            exp_month: d.exp_month,
            exp_year: d.exp_year,
            funding: d.funding,
            country: d.country,
            fingerprint: d.fingerprint,
            token: d.token,
        };
        let pm = PaymentMethod::from_test_card(foreign.id, self.now(), card);
        let mut tx = self.store().begin().await?;
        match self.insert_doc(&mut tx, &pm).await {
            Ok(()) => {}
            // Another request mirrored it first.
            Err(AppError::Store(e)) if e.is_unique_violation() => return Ok(()),
            Err(e) => return Err(e),
        }
        match tx.commit().await {
            Ok(()) => Ok(()),
            Err(e) if e.is_unique_violation() => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
