//! PaymentMethods: created from a raw test card (sandbox only), a test token or a test id;
//! attached to customers after the processor checks the card; never holding a card number.

use cashbox_core::customer::{Customer, ID_PREFIX as CUSTOMER_PREFIX};
use cashbox_core::id::{has_prefix, new_id};
use cashbox_core::payments::{
    Card, PM_PREFIX, PaymentMethod, PaymentMethodAttachParams, PaymentMethodCreateParams,
    PaymentMethodListParams, PaymentMethodUpdateParams,
};
use cashbox_core::{ParamError, event::previous_attributes};
use cashbox_processor::{CardDetails, Outcome, RawCard, VerifyRequest};
use cashbox_store::{DocFilter, Tx};
use serde_json::Value;

use crate::error::card_error_body;
use crate::events::ListResult;
use crate::expand::Reader;
use crate::{App, AppError, AppResult, RequestCtx};

fn card_from(d: CardDetails) -> Card {
    Card {
        brand: d.brand,
        last4: d.last4,
        exp_month: d.exp_month,
        exp_year: d.exp_year,
        funding: d.funding,
        country: d.country,
        fingerprint: d.fingerprint,
        token: d.token,
    }
}

/// Year and month now, for expiry checks.
pub(crate) fn year_month(unix: i64) -> (i64, i64) {
    // Civil-from-days (Howard Hinnant's algorithm): exact for the proleptic Gregorian calendar.
    let days = unix.div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month)
}

impl App {
    /// A card from the create parameters: a test token, or a raw test number (sandbox only).
    fn card_from_params(&self, p: &PaymentMethodCreateParams) -> AppResult<Card> {
        match p.kind.as_deref() {
            Some("card") => {}
            Some(other) => {
                return Err(ParamError::invalid(
                    "type",
                    format!("Invalid type: must be card; you passed {other}"),
                )
                .into());
            }
            None => {
                return Err(ParamError::missing("type").into());
            }
        }
        let Some(card) = &p.card else {
            return Err(ParamError::missing("card").into());
        };
        if let Some(token) = &card.token {
            return self
                .processor()
                .test_card(token)
                .map(card_from)
                .ok_or_else(|| AppError::MissingReference {
                    object: "token",
                    id: token.clone(),
                    param: "card[token]".into(),
                });
        }
        let number = card
            .number
            .as_deref()
            .ok_or_else(|| ParamError::missing("card[number]"))?;
        let exp_month = card
            .exp_month
            .ok_or_else(|| ParamError::missing("card[exp_month]"))?;
        let exp_year = card
            .exp_year
            .ok_or_else(|| ParamError::missing("card[exp_year]"))?;
        let details = self.processor().tokenize_card(RawCard {
            number,
            exp_month,
            exp_year,
            cvc: card.cvc.as_deref(),
            today: year_month(self.now()),
        })?;
        Ok(card_from(details))
    }

    /// Asks the processor whether the card may be attached; a declining card is refused with
    /// Stripe's 402, as Stripe's attach refuses it. `new` is the customer when it is being
    /// created with the card (not stored yet).
    pub(crate) async fn verify_for_attach(
        &self,
        pm: &PaymentMethod,
        customer: &str,
        new: Option<&Customer>,
    ) -> AppResult<()> {
        let key = format!("{}:attach:{customer}", pm.id);
        let processor_customer = match new {
            Some(c) if self.processor().keeps_customers() => {
                Some(self.create_processor_customer(c).await?)
            }
            _ => self.processor_customer(customer).await?,
        };
        let outcome = self
            .processor()
            .verify(VerifyRequest {
                idempotency_key: &key,
                customer: processor_customer.as_deref(),
                card_token: &pm.card.token,
                for_setup: false,
                authenticated: false,
                resume: None,
            })
            .await?;
        match outcome {
            Outcome::Declined(d) => Err(AppError::Card {
                body: card_error_body(&d.code, d.decline_code.as_deref(), &d.message, None, &[]),
            }),
            // A card still being checked is attached; a later decline surfaces on payment.
            Outcome::Succeeded { .. } | Outcome::RequiresAction(_) | Outcome::Processing => Ok(()),
        }
    }

    /// A page of documents, rendered and expanded.
    pub(crate) async fn list_docs<T: crate::docs::Doc>(
        &self,
        filter: &DocFilter,
        page: &cashbox_core::list::Page,
        expand: &[Vec<String>],
        render: impl Fn(&T) -> Value,
    ) -> AppResult<ListResult> {
        if let Some((param, id)) = page.cursor_id()
            && self.store().doc(T::TABLE, id).await?.is_none()
        {
            return Err(AppError::MissingReference {
                object: T::NAME,
                id: id.to_string(),
                param: param.to_string(),
            });
        }
        let listed = self.store().list_docs(T::TABLE, filter, page).await?;
        let mut data = listed
            .data
            .iter()
            .map(|row| self.open_doc::<T>(row).map(|d| render(&d)))
            .collect::<AppResult<Vec<_>>>()?;
        self.expand_items(&mut Reader::Store(self.store()), &mut data, expand)
            .await?;
        Ok(ListResult {
            data,
            has_more: listed.has_more,
        })
    }

    /// The PaymentMethod a payment or setup names: a stored one, or a new one made from a test
    /// id (`pm_card_visa`, `tok_visa`), as Stripe's test mode does. It must not belong to
    /// another customer.
    /// A new PaymentMethod for one of Stripe's test ids (`pm_card_visa`, `tok_visa`), as
    /// Stripe's test mode makes one each time; `None` for any other id.
    pub(crate) fn test_payment_method(
        &self,
        id: &str,
        param: &str,
    ) -> AppResult<Option<PaymentMethod>> {
        if !(id.starts_with("pm_card_") || id.starts_with("tok_")) {
            return Ok(None);
        }
        let card = self
            .processor()
            .test_card(id)
            .ok_or_else(|| AppError::MissingReference {
                object: "PaymentMethod",
                id: id.to_string(),
                param: param.to_string(),
            })?;
        Ok(Some(PaymentMethod::from_test_card(
            new_id(PM_PREFIX),
            self.now(),
            card_from(card),
        )))
    }

    pub(crate) async fn payment_method_for_use(
        &self,
        tx: &mut Tx,
        id: &str,
        customer: Option<&str>,
        param: &str,
    ) -> AppResult<PaymentMethod> {
        let pm = if let Some(pm) = self.test_payment_method(id, param)? {
            self.insert_doc(tx, &pm).await?;
            pm
        } else {
            self.find_for_update::<PaymentMethod>(tx, id)
                .await?
                .ok_or_else(|| AppError::MissingReference {
                    object: "PaymentMethod",
                    id: id.to_string(),
                    param: param.to_string(),
                })?
        };
        if let Some(owner) = &pm.customer
            && customer != Some(owner.as_str())
        {
            return Err(ParamError::invalid(
                param,
                format!(
                    "The provided PaymentMethod belongs to customer {owner}; pass customer={owner} to use it."
                ),
            )
            .into());
        }
        Ok(pm)
    }

    /// A new PaymentMethod from `payment_method_data` (checked and tokenized before any
    /// transaction), refusing it together with `payment_method`.
    pub(crate) fn payment_method_from_data(
        &self,
        data: Option<&PaymentMethodCreateParams>,
        id: Option<&str>,
    ) -> AppResult<Option<PaymentMethod>> {
        let Some(data) = data else { return Ok(None) };
        if id.is_some() {
            return Err(ParamError::invalid(
                "payment_method_data",
                "You may only specify one of these parameters: payment_method, payment_method_data.",
            )
            .into());
        }
        if data.customer.is_some() {
            return Err(ParamError::new(
                "payment_method_data[customer]",
                "parameter_unknown",
                "Received unknown parameter: payment_method_data[customer]",
            )
            .into());
        }
        let card = self.card_from_params(data).map_err(|e| match e {
            // Name the nested parameter, as Stripe does.
            AppError::Param(mut p) => {
                p.param = format!("payment_method_data[{}]", p.param.replacen('[', "][", 1));
                if !p.param.ends_with(']') {
                    p.param.push(']');
                }
                AppError::Param(p)
            }
            AppError::Card { mut body } => {
                if let Some(param) = body["error"]["param"].as_str().map(str::to_string) {
                    body["error"]["param"] =
                        format!("payment_method_data[{}", param.replacen('[', "][", 1)).into();
                }
                AppError::Card { body }
            }
            other => other,
        })?;
        Ok(Some(PaymentMethod::new(
            new_id(PM_PREFIX),
            self.now(),
            card,
            data,
        )?))
    }

    /// The PaymentMethod a payment or setup uses: one made from `payment_method_data` (stored
    /// now), or the one `payment_method` names.
    pub(crate) async fn payment_method_for_request(
        &self,
        tx: &mut Tx,
        id: Option<&str>,
        from_data: Option<PaymentMethod>,
        customer: Option<&str>,
    ) -> AppResult<Option<PaymentMethod>> {
        if let Some(pm) = from_data {
            self.insert_doc(tx, &pm).await?;
            return Ok(Some(pm));
        }
        match id {
            Some(id) => Ok(Some(
                self.payment_method_for_use(tx, id, customer, "payment_method")
                    .await?,
            )),
            None => Ok(None),
        }
    }

    /// Attaches a PaymentMethod to a customer inside a payment or setup that succeeded.
    pub(crate) async fn attach_in(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        pm: &mut PaymentMethod,
        customer: &str,
    ) -> AppResult<()> {
        if pm.customer.is_none() {
            pm.customer = Some(customer.to_string());
            self.record_event(tx, ctx, "payment_method.attached", &pm.to_json(), None)
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::year_month;

    #[test]
    fn calendar_months() {
        assert_eq!(year_month(0), (1970, 1));
        assert_eq!(year_month(1_795_317_468), (2026, 11));
        assert_eq!(year_month(951_782_400), (2000, 2)); // 2000-02-29
        assert_eq!(year_month(951_868_800), (2000, 3));
    }
}

crate::service!(
    PaymentMethods,
    payment_methods,
    "Payment methods: create, attach, detach."
);

impl PaymentMethods<'_> {
    pub async fn create(
        &self,
        ctx: &RequestCtx,
        params: PaymentMethodCreateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let card = self.card_from_params(&params)?;
        let mut pm = PaymentMethod::new(new_id(PM_PREFIX), self.now(), card, &params)?;
        if let Some(customer) = &params.customer {
            self.verify_for_attach(&pm, customer, None).await?;
        }
        let mut tx = self.store().begin().await?;
        if let Some(customer) = &params.customer {
            self.check_customer(&mut tx, customer, "customer").await?;
            pm.customer = Some(customer.clone());
        }
        self.insert_doc(&mut tx, &pm).await?;
        let object = pm.to_json();
        if pm.customer.is_some() {
            self.record_event(&mut tx, ctx, "payment_method.attached", &object, None)
                .await?;
        }
        self.finish(tx, ctx, object, expand).await
    }

    pub async fn retrieve(&self, id: &str, expand: &[Vec<String>]) -> AppResult<Value> {
        let mut id = id.to_string();
        self.mirror_foreign_card(&mut id).await?;
        let mut object = self.load::<PaymentMethod>(&id).await?.to_json();
        self.expand(&mut Reader::Store(self.store()), &mut object, expand)
            .await?;
        Ok(object)
    }

    pub async fn update(
        &self,
        ctx: &RequestCtx,
        id: &str,
        params: PaymentMethodUpdateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let before: PaymentMethod = self.load_for_update(&mut tx, id).await?;
        let after = before.updated(params, year_month(self.now()).0)?;
        let object = after.to_json();
        if after != before {
            self.save_doc(&mut tx, &after).await?;
            let previous = previous_attributes(&before.to_json(), &object);
            self.record_event(&mut tx, ctx, "payment_method.updated", &object, previous)
                .await?;
        }
        self.finish(tx, ctx, object, expand).await
    }

    pub async fn attach(
        &self,
        ctx: &RequestCtx,
        id: &str,
        params: PaymentMethodAttachParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let customer = params
            .customer
            .ok_or_else(|| ParamError::missing("customer"))?;
        let mut id = id.to_string();
        self.mirror_foreign_card(&mut id).await?;
        let id = id.as_str();
        // A test id (`pm_card_visa`) attaches a new PaymentMethod, as in Stripe's test mode.
        let fresh = self.test_payment_method(id, "id")?;
        let pm: PaymentMethod = match &fresh {
            Some(pm) => pm.clone(),
            None => self.load(id).await?,
        };
        match &pm.customer {
            Some(c) if *c == customer => return Ok(pm.to_json()),
            Some(_) => {
                return Err(ParamError::new(
                    "customer",
                    "payment_method_unexpected_state",
                    "The payment method you provided has already been attached to a customer.",
                )
                .into());
            }
            None => {}
        }
        if !has_prefix(&customer, CUSTOMER_PREFIX) {
            return Err(AppError::MissingReference {
                object: "customer",
                id: customer,
                param: "customer".into(),
            });
        }
        self.verify_for_attach(&pm, &customer, None).await?;
        let mut tx = self.store().begin().await?;
        self.check_customer(&mut tx, &customer, "customer").await?;
        if let Some(pm) = &fresh {
            self.insert_doc(&mut tx, pm).await?;
        }
        let mut pm: PaymentMethod = self.load_for_update(&mut tx, &pm.id).await?;
        if pm.customer.is_some() {
            return Err(ParamError::new(
                "customer",
                "payment_method_unexpected_state",
                "The payment method you provided has already been attached to a customer.",
            )
            .into());
        }
        pm.customer = Some(customer);
        self.save_doc(&mut tx, &pm).await?;
        let object = pm.to_json();
        self.record_event(&mut tx, ctx, "payment_method.attached", &object, None)
            .await?;
        self.finish(tx, ctx, object, expand).await
    }

    pub async fn detach(
        &self,
        ctx: &RequestCtx,
        id: &str,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        // The processor forgets the card first (a card it still holds for the customer could
        // be charged there); a retry after a failure in between detaches it again harmlessly.
        let before: PaymentMethod = self.load(id).await?;
        if before.customer.is_some() {
            self.processor().detach_card(&before.card.token).await?;
        }
        let mut tx = self.store().begin().await?;
        let mut pm: PaymentMethod = self.load_for_update(&mut tx, id).await?;
        let Some(customer) = pm.customer.take() else {
            return Err(ParamError::new(
                "",
                "payment_method_unexpected_state",
                "The payment method you provided is not attached to a customer so detachment is impossible.",
            )
            .into());
        };
        self.save_doc(&mut tx, &pm).await?;
        self.clear_default_payment_method(&mut tx, ctx, &customer, &pm.id)
            .await?;
        let object = pm.to_json();
        self.record_event(&mut tx, ctx, "payment_method.detached", &object, None)
            .await?;
        self.finish(tx, ctx, object, expand).await
    }

    pub async fn list(
        &self,
        params: &PaymentMethodListParams,
        expand: &[Vec<String>],
    ) -> AppResult<ListResult> {
        if let Some(kind) = &params.kind
            && kind != "card"
        {
            return Ok(ListResult {
                data: vec![],
                has_more: false,
            });
        }
        let filter = DocFilter {
            customer: params.customer.clone(),
            ..DocFilter::default()
        };
        self.list_docs::<PaymentMethod>(&filter, &params.page()?, expand, |pm| pm.to_json())
            .await
    }
}
