//! The Stripe processor: money moves through Stripe's PaymentIntents and Refunds APIs, cards
//! are Stripe PaymentMethods made by Stripe.js (Cashbox never sees a number), and each
//! Cashbox customer that saves a card gets a Stripe customer.
//!
//! Every money-moving call carries a Stripe idempotency key derived from Cashbox's attempt
//! key, so asking again after a timeout, a lost connection, a 429 or a 5xx gets Stripe's first
//! answer instead of a second charge. What Stripe answers is sorted once, in [`classify`]:
//! a card's decline (402) is an [`Outcome::Declined`] with Stripe's codes unchanged; a request
//! Stripe refused for what it asked (400, 404) is a decline with Stripe's error code too, so
//! the payment fails instead of waiting forever; everything whose outcome is unknown is a
//! [`ProcessorError`] and the attempt stays pending for the recovery sweep.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::{
    Action, AuthorizeRequest, BoxFuture, CaptureRequest, CardDetails, CardError, CustomerRequest,
    Decline, ForeignCard, ForeignPayment, ForeignRefund, Outcome, Processor, ProcessorError,
    RawCard, RefundRequest, VerifyRequest, VoidRequest,
};

/// Stripe's API, where `CASHBOX_STRIPE_API_BASE` does not point elsewhere.
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";

/// Prefixed to every idempotency key Cashbox sends, so that keys cannot collide with the
/// operator's own requests to the same Stripe account.
const KEY_PREFIX: &str = "cashbox:";

/// The Stripe API version the requests are written for.
pub const API_VERSION: &str = "2024-06-20";

pub struct StripeSettings {
    /// `sk_live_…`, `sk_test_…` or a restricted `rk_…` key.
    pub secret_key: Zeroizing<String>,
    /// `https://api.stripe.com`, or a stand-in's address in tests.
    pub api_base: String,
    /// How long one call may take before its outcome counts as unknown.
    pub timeout: Duration,
}

impl std::fmt::Debug for StripeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeSettings")
            .field("secret_key", &"<redacted>")
            .field("api_base", &self.api_base)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl StripeSettings {
    /// Whether the key is one of Stripe's test-mode keys.
    pub fn is_test_key(&self) -> bool {
        self.secret_key.starts_with("sk_test_") || self.secret_key.starts_with("rk_test_")
    }
}

pub struct StripeProcessor {
    client: reqwest::Client,
    base: String,
    authorization: HeaderValue,
    timeout: Duration,
}

/// What Stripe answered a call whose outcome is known.
#[derive(Debug)]
enum Answer {
    /// 200: the object.
    Object(Value),
    /// Stripe refused the request for what it asked (402 card error, 400, 404): its `error`.
    Refused(Value),
}

impl StripeProcessor {
    /// `client` should have no proxy and a TLS provider installed; the settings' timeout is
    /// applied to each call.
    pub fn new(settings: &StripeSettings, client: reqwest::Client) -> Result<Self, String> {
        let mut authorization =
            HeaderValue::from_str(&format!("Bearer {}", settings.secret_key.as_str()))
                .map_err(|_| "CASHBOX_STRIPE_SECRET_KEY holds characters a header cannot")?;
        authorization.set_sensitive(true);
        Ok(Self {
            client,
            base: settings.api_base.trim_end_matches('/').to_string(),
            authorization,
            timeout: settings.timeout,
        })
    }

    /// One call to Stripe: a form-encoded request, with `key` as its Idempotency-Key.
    async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        form: &[(&str, &str)],
    ) -> Result<Answer, ProcessorError> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .timeout(self.timeout)
            .header(AUTHORIZATION, self.authorization.clone())
            .header("Stripe-Version", API_VERSION);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", format!("{KEY_PREFIX}{key}"));
        }
        if !form.is_empty() {
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish();
            request = request
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body);
        }
        let response = request.send().await.map_err(transport_error)?;
        let status = response.status();
        let body = response.bytes().await.map_err(transport_error)?;
        classify(status, &body)
    }

    async fn payment_intent(
        &self,
        key: &str,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<Outcome, ProcessorError> {
        let pi = match self.call(Method::POST, path, Some(key), form).await? {
            Answer::Object(pi) => pi,
            Answer::Refused(error) => return Ok(Outcome::Declined(decline_of(&error))),
        };
        let outcome = payment_intent_outcome(&pi)?;
        if outcome != Outcome::Processing {
            return Ok(outcome);
        }
        // Stripe replays the first answer to a key for a day: asking again with the key would
        // say `processing` forever, so the payment's state now is read instead.
        let id = path_segment(pi["id"].as_str().unwrap_or_default())?;
        match self
            .call(Method::GET, &format!("/v1/payment_intents/{id}"), None, &[])
            .await?
        {
            Answer::Object(now) => payment_intent_outcome(&now),
            Answer::Refused(e) => Err(refused(&e)),
        }
    }

    /// The outcome of the PaymentIntent made for Cashbox's attempt `key`, found by the
    /// metadata it carries (Stripe's search), or `None` if Stripe has none.
    async fn find_attempt(&self, key: &str) -> Result<Option<Outcome>, ProcessorError> {
        let query = format!("metadata['cashbox_attempt']:'{}'", key.replace('\'', ""));
        let path = format!(
            "/v1/payment_intents/search?{}",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("query", &query)
                .finish()
        );
        match self.call(Method::GET, &path, None, &[]).await? {
            Answer::Object(found) => match found["data"].as_array().and_then(|d| d.first()) {
                Some(pi) => payment_intent_outcome(pi).map(Some),
                None => Ok(None),
            },
            // A stand-in without search (localstripe): still unknown.
            Answer::Refused(_) => Ok(None),
        }
    }

    /// The refund Cashbox's refund `key` made of `payment`, found by the metadata it carries.
    async fn find_refund(
        &self,
        payment: &str,
        key: &str,
    ) -> Result<Option<Outcome>, ProcessorError> {
        let path = format!(
            "/v1/refunds?payment_intent={}&limit=100",
            path_segment(payment)?
        );
        match self.call(Method::GET, &path, None, &[]).await? {
            Answer::Object(list) => Ok(list["data"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["metadata"]["cashbox_refund"].as_str() == Some(key))
                .map(refund_outcome)),
            Answer::Refused(e) => Err(refused(&e)),
        }
    }

    /// Attaches `payment_method` to the Stripe customer `customer` (Stripe checks the card).
    async fn attach(
        &self,
        key: &str,
        payment_method: &str,
        customer: &str,
    ) -> Result<Option<Decline>, ProcessorError> {
        let path = format!(
            "/v1/payment_methods/{}/attach",
            path_segment(payment_method)?
        );
        let key = format!("{key}:attach");
        match self
            .call(Method::POST, &path, Some(&key), &[("customer", customer)])
            .await?
        {
            Answer::Object(_) => Ok(None),
            Answer::Refused(error) => Ok(Some(decline_of(&error))),
        }
    }
}

/// Sorts Stripe's answer: known outcomes apart from unknown ones (see the module's comment).
fn classify(status: StatusCode, body: &[u8]) -> Result<Answer, ProcessorError> {
    let value: Option<Value> = serde_json::from_slice(body).ok();
    let error = || {
        value
            .as_ref()
            .and_then(|v| v.get("error"))
            .cloned()
            .unwrap_or(Value::Null)
    };
    match status.as_u16() {
        200..=299 => value
            .map(Answer::Object)
            .ok_or_else(|| ProcessorError::Network("Stripe answered with no JSON object".into())),
        // An idempotency conflict (409) is a request still running under the same key.
        409 | 429 => Err(ProcessorError::Network(format!("Stripe answered {status}"))),
        401 | 403 => Err(ProcessorError::Rejected(format!(
            "Stripe refused the API key ({status}): {}",
            error()["message"].as_str().unwrap_or("no message")
        ))),
        400 | 402 | 404 => Ok(Answer::Refused(error())),
        500..=599 => Err(ProcessorError::Indeterminate(format!(
            "Stripe answered {status}"
        ))),
        _ => Err(ProcessorError::Network(format!("Stripe answered {status}"))),
    }
}

fn transport_error(e: reqwest::Error) -> ProcessorError {
    if e.is_timeout() {
        ProcessorError::Timeout
    } else {
        // Never the URL's query or the request: reqwest's text names the host and the cause.
        ProcessorError::Network(e.without_url().to_string())
    }
}

/// An id as one path segment; Stripe's ids are letters, digits and underscores.
fn path_segment(id: &str) -> Result<&str, ProcessorError> {
    if !id.is_empty()
        && id.len() <= 255
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(id)
    } else {
        Err(ProcessorError::Rejected(format!(
            "{id:?} is not a Stripe id"
        )))
    }
}

/// A refusal as a decline, with Stripe's codes unchanged.
fn decline_of(error: &Value) -> Decline {
    let text = |field: &str| error.get(field).and_then(Value::as_str).map(str::to_string);
    let reference = error
        .pointer("/payment_intent/id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| text("charge"))
        .unwrap_or_default();
    // Stripe's own code; without one, a card error is a decline and anything else Stripe's
    // generic `processing_error`, never a code Stripe did not give.
    let fallback = if text("type").as_deref() == Some("card_error") {
        "card_declined"
    } else {
        "processing_error"
    };
    Decline {
        code: text("code").unwrap_or_else(|| fallback.into()),
        decline_code: text("decline_code"),
        message: text("message").unwrap_or_else(|| "Your card was declined.".into()),
        reference,
    }
}

/// What a Stripe PaymentIntent's status means for the attempt that made it.
fn payment_intent_outcome(pi: &Value) -> Result<Outcome, ProcessorError> {
    let id = pi["id"].as_str().unwrap_or_default().to_string();
    match pi["status"].as_str() {
        Some("succeeded" | "requires_capture") => Ok(Outcome::Succeeded { reference: id }),
        Some("requires_action") => Ok(Outcome::RequiresAction(Action {
            reference: Some(id),
            client_secret: pi["client_secret"].as_str().map(str::to_string),
        })),
        Some("processing") => Ok(Outcome::Processing),
        Some("requires_payment_method") => {
            let mut decline = pi
                .get("last_payment_error")
                .filter(|e| e.is_object())
                .map(decline_of)
                .unwrap_or_else(|| decline_of(&Value::Null));
            decline.reference = id;
            Ok(Outcome::Declined(decline))
        }
        Some("canceled") => Ok(Outcome::Declined(Decline {
            code: "payment_intent_unexpected_state".into(),
            decline_code: None,
            message: "The payment was canceled on Stripe.".into(),
            reference: id,
        })),
        other => Err(ProcessorError::Rejected(format!(
            "Stripe's PaymentIntent {id} has status {other:?}"
        ))),
    }
}

/// A refusal of a call whose answer Cashbox needed.
fn refused(error: &Value) -> ProcessorError {
    ProcessorError::Rejected(error["message"].as_str().unwrap_or("refused").to_string())
}

/// What a Stripe Refund's status means.
fn refund_outcome(r: &Value) -> Outcome {
    let id = r["id"].as_str().unwrap_or_default().to_string();
    // localstripe may leave the status out of a succeeded refund.
    match r["status"].as_str().unwrap_or("succeeded") {
        "succeeded" => Outcome::Succeeded { reference: id },
        "pending" | "requires_action" => Outcome::Processing,
        _ => Outcome::Declined(Decline {
            code: "refund_failed".into(),
            decline_code: None,
            message: r["failure_reason"]
                .as_str()
                .unwrap_or("The refund failed.")
                .to_string(),
            reference: id,
        }),
    }
}

/// A Stripe Refund.
fn refund_of(r: &Value) -> Option<ForeignRefund> {
    Some(ForeignRefund {
        id: r["id"].as_str()?.to_string(),
        amount_minor: r["amount"].as_i64()?,
        currency: r["currency"].as_str()?.to_string(),
        // localstripe leaves it out when the refund succeeded.
        status: r["status"].as_str().unwrap_or("succeeded").to_string(),
        cashbox_refund: r["metadata"]["cashbox_refund"].as_str().map(str::to_string),
    })
}

/// A Stripe PaymentMethod's card, as Cashbox keeps it.
fn card_of(pm: &Value) -> Option<ForeignCard> {
    let id = pm["id"].as_str()?.to_string();
    let card = pm.get("card")?;
    let text = |field: &str| card[field].as_str().unwrap_or_default().to_string();
    let number = |field: &str| card[field].as_u64().and_then(|n| u32::try_from(n).ok());
    Some(ForeignCard {
        details: CardDetails {
            brand: text("brand"),
            last4: text("last4"),
            exp_month: number("exp_month")?,
            exp_year: number("exp_year")?,
            funding: text("funding"),
            country: text("country"),
            fingerprint: text("fingerprint"),
            token: id.clone(),
        },
        id,
    })
}

impl Processor for StripeProcessor {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn check_credentials(&self) -> BoxFuture<'_, Result<(), ProcessorError>> {
        Box::pin(async move {
            // The cheapest call every key may make.
            match self
                .call(Method::GET, "/v1/customers?limit=1", None, &[])
                .await?
            {
                Answer::Object(_) => Ok(()),
                Answer::Refused(e) => Err(refused(&e)),
            }
        })
    }

    fn keeps_customers(&self) -> bool {
        true
    }

    fn create_customer<'a>(
        &'a self,
        req: CustomerRequest<'a>,
    ) -> BoxFuture<'a, Result<String, ProcessorError>> {
        Box::pin(async move {
            let mut form = vec![("metadata[cashbox_id]", req.cashbox_id)];
            form.extend(req.email.map(|e| ("email", e)));
            form.extend(req.name.map(|n| ("name", n)));
            match self
                .call(
                    Method::POST,
                    "/v1/customers",
                    Some(req.idempotency_key),
                    &form,
                )
                .await?
            {
                Answer::Object(c) => c["id"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| ProcessorError::Network("Stripe's customer has no id".into())),
                Answer::Refused(e) => Err(refused(&e)),
            }
        })
    }

    fn foreign_card<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<ForeignCard>, ProcessorError>> {
        Box::pin(async move {
            if !id.starts_with("pm_") {
                return Ok(None);
            }
            let path = format!("/v1/payment_methods/{}", path_segment(id)?);
            match self.call(Method::GET, &path, None, &[]).await? {
                Answer::Object(pm) => Ok(card_of(&pm)),
                Answer::Refused(_) => Ok(None),
            }
        })
    }

    fn payment<'a>(
        &'a self,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<ForeignPayment, ProcessorError>> {
        Box::pin(async move {
            let id = path_segment(reference)?;
            let pi = match self
                .call(Method::GET, &format!("/v1/payment_intents/{id}"), None, &[])
                .await?
            {
                Answer::Object(pi) => pi,
                Answer::Refused(e) => return Err(refused(&e)),
            };
            let path = format!("/v1/refunds?payment_intent={id}&limit=100");
            let refunds = match self.call(Method::GET, &path, None, &[]).await? {
                Answer::Object(list) => list["data"].as_array().cloned().unwrap_or_default(),
                Answer::Refused(e) => return Err(refused(&e)),
            };
            Ok(ForeignPayment {
                reference: reference.to_string(),
                attempt_key: pi["metadata"]["cashbox_attempt"]
                    .as_str()
                    .map(str::to_string),
                refunds: refunds.iter().filter_map(refund_of).collect(),
            })
        })
    }

    fn detach_card<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<(), ProcessorError>> {
        Box::pin(async move {
            let path = format!("/v1/payment_methods/{}/detach", path_segment(token)?);
            // Refused when it is detached already (a retry, or Stripe's own detach): done.
            self.call(Method::POST, &path, None, &[]).await.map(drop)
        })
    }

    fn update_dispute<'a>(
        &'a self,
        reference: Option<&'a str>,
        evidence: &'a [(String, String)],
        submit: bool,
    ) -> BoxFuture<'a, Result<(), ProcessorError>> {
        Box::pin(async move {
            let Some(reference) = reference else {
                return Err(ProcessorError::Rejected(
                    "the dispute is not Stripe's".into(),
                ));
            };
            let path = format!("/v1/disputes/{}", path_segment(reference)?);
            let names: Vec<String> = evidence
                .iter()
                .map(|(k, _)| format!("evidence[{k}]"))
                .collect();
            let mut form: Vec<(&str, &str)> = names
                .iter()
                .zip(evidence)
                .map(|(name, (_, text))| (name.as_str(), text.as_str()))
                .collect();
            form.push(("submit", if submit { "true" } else { "false" }));
            match self.call(Method::POST, &path, None, &form).await? {
                Answer::Object(_) => Ok(()),
                Answer::Refused(e) => Err(refused(&e)),
            }
        })
    }

    fn close_dispute<'a>(
        &'a self,
        reference: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), ProcessorError>> {
        Box::pin(async move {
            let Some(reference) = reference else {
                return Err(ProcessorError::Rejected(
                    "the dispute is not Stripe's".into(),
                ));
            };
            let path = format!("/v1/disputes/{}/close", path_segment(reference)?);
            match self.call(Method::POST, &path, None, &[]).await? {
                Answer::Object(_) => Ok(()),
                Answer::Refused(e) => Err(refused(&e)),
            }
        })
    }

    fn tokenize_card(&self, _card: RawCard<'_>) -> Result<CardDetails, CardError> {
        Err(CardError {
            code: "processing_error",
            decline_code: None,
            param: "card[number]",
            message: ProcessorError::RawCardsUnsupported.to_string(),
        })
    }

    fn test_card(&self, _id: &str) -> Option<CardDetails> {
        // Stripe's own test ids (`pm_card_visa`) are Stripe's PaymentMethods: see foreign_card.
        None
    }

    fn verify<'a>(
        &'a self,
        req: VerifyRequest<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ProcessorError>> {
        Box::pin(async move {
            if req.authenticated
                && let Some(resume) = req.resume
            {
                // The cardholder authenticated Stripe's SetupIntent: its outcome now.
                let path = format!("/v1/setup_intents/{}", path_segment(resume)?);
                return match self.call(Method::GET, &path, None, &[]).await? {
                    Answer::Object(si) => payment_intent_outcome(&si),
                    Answer::Refused(e) => Err(refused(&e)),
                };
            }
            let Some(customer) = req.customer else {
                // Stripe checked the card when Stripe.js made it; a card not saved to anyone
                // has nothing more to check.
                return Ok(Outcome::Succeeded {
                    reference: req.card_token.to_string(),
                });
            };
            if let Some(decline) = self
                .attach(req.idempotency_key, req.card_token, customer)
                .await?
            {
                return Ok(Outcome::Declined(decline));
            }
            if !req.for_setup {
                return Ok(Outcome::Succeeded {
                    reference: req.card_token.to_string(),
                });
            }
            let created = self
                .call(
                    Method::POST,
                    "/v1/setup_intents",
                    Some(req.idempotency_key),
                    &[
                        ("customer", customer),
                        ("payment_method_types[]", "card"),
                        ("usage", "off_session"),
                    ],
                )
                .await?;
            let si = match created {
                Answer::Object(si) => si,
                Answer::Refused(e) => return Ok(Outcome::Declined(decline_of(&e))),
            };
            let id = si["id"].as_str().unwrap_or_default();
            let path = format!("/v1/setup_intents/{}/confirm", path_segment(id)?);
            let key = format!("{}:confirm", req.idempotency_key);
            let confirmed = self
                .call(
                    Method::POST,
                    &path,
                    Some(&key),
                    &[("payment_method", req.card_token)],
                )
                .await?;
            match confirmed {
                Answer::Object(si) => payment_intent_outcome(&si),
                Answer::Refused(e) => Ok(Outcome::Declined(decline_of(&e))),
            }
        })
    }

    fn authorize<'a>(
        &'a self,
        req: AuthorizeRequest<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ProcessorError>> {
        Box::pin(async move {
            if req.authenticated
                && let Some(resume) = req.resume
            {
                // The cardholder authenticated Stripe's payment: its outcome now.
                let path = format!("/v1/payment_intents/{}", path_segment(resume)?);
                return match self.call(Method::GET, &path, None, &[]).await? {
                    Answer::Object(pi) => payment_intent_outcome(&pi),
                    Answer::Refused(e) => Err(refused(&e)),
                };
            }
            if req.save_card
                && let Some(customer) = req.customer
                && let Some(decline) = self
                    .attach(req.idempotency_key, req.card_token, customer)
                    .await?
            {
                return Ok(Outcome::Declined(decline));
            }
            let amount = req.amount_minor.to_string();
            let mut form = vec![
                ("amount", amount.as_str()),
                ("currency", req.currency),
                ("payment_method", req.card_token),
                ("confirm", "true"),
                // Cards only: with Stripe's automatic payment methods a server-side confirm
                // would need a return URL for methods that redirect.
                ("payment_method_types[]", "card"),
                (
                    "capture_method",
                    if req.capture { "automatic" } else { "manual" },
                ),
                ("metadata[cashbox_attempt]", req.idempotency_key),
            ];
            form.extend(req.customer.map(|c| ("customer", c)));
            if req.off_session {
                form.push(("off_session", "true"));
            }
            if req.request_authentication && !req.off_session {
                form.push((
                    "payment_method_options[card][request_three_d_secure]",
                    "any",
                ));
            }
            match self
                .payment_intent(req.idempotency_key, "/v1/payment_intents", &form)
                .await
            {
                Err(ProcessorError::Indeterminate(why)) => {
                    // Stripe replays a 5xx to the same key for a day: the payment, if Stripe
                    // made it, is found by the attempt key it carries instead.
                    match self.find_attempt(req.idempotency_key).await? {
                        Some(outcome) => Ok(outcome),
                        None => Err(ProcessorError::Indeterminate(why)),
                    }
                }
                answer => answer,
            }
        })
    }

    fn capture<'a>(
        &'a self,
        req: CaptureRequest<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ProcessorError>> {
        Box::pin(async move {
            let path = format!(
                "/v1/payment_intents/{}/capture",
                path_segment(req.authorization)?
            );
            let amount = req.amount_minor.to_string();
            let form = [("amount_to_capture", amount.as_str())];
            self.payment_intent(req.idempotency_key, &path, &form).await
        })
    }

    fn void<'a>(&'a self, req: VoidRequest<'a>) -> BoxFuture<'a, Result<Outcome, ProcessorError>> {
        Box::pin(async move {
            let path = format!(
                "/v1/payment_intents/{}/cancel",
                path_segment(req.authorization)?
            );
            match self
                .call(Method::POST, &path, Some(req.idempotency_key), &[])
                .await?
            {
                Answer::Object(pi) => Ok(Outcome::Succeeded {
                    reference: pi["id"].as_str().unwrap_or_default().to_string(),
                }),
                Answer::Refused(e) => Err(refused(&e)),
            }
        })
    }

    fn refund<'a>(
        &'a self,
        req: RefundRequest<'a>,
    ) -> BoxFuture<'a, Result<Outcome, ProcessorError>> {
        Box::pin(async move {
            let amount = req.amount_minor.to_string();
            let form = [
                ("payment_intent", path_segment(req.charge_reference)?),
                ("amount", amount.as_str()),
                ("metadata[cashbox_refund]", req.idempotency_key),
            ];
            match self
                .call(
                    Method::POST,
                    "/v1/refunds",
                    Some(req.idempotency_key),
                    &form,
                )
                .await
            {
                Ok(Answer::Object(r)) => Ok(refund_outcome(&r)),
                Ok(Answer::Refused(e)) => Err(refused(&e)),
                Err(ProcessorError::Indeterminate(why)) => {
                    match self
                        .find_refund(req.charge_reference, req.idempotency_key)
                        .await?
                    {
                        Some(outcome) => Ok(outcome),
                        None => Err(ProcessorError::Indeterminate(why)),
                    }
                }
                Err(e) => Err(e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_outcomes_are_errors_and_refusals_are_declines() {
        for status in [409, 429] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(matches!(
                classify(status, b"{}"),
                Err(ProcessorError::Network(_))
            ));
        }
        for status in [500, 502, 503] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(matches!(
                classify(status, b"{}"),
                Err(ProcessorError::Indeterminate(_))
            ));
        }
        assert!(matches!(
            classify(StatusCode::UNAUTHORIZED, b"{}"),
            Err(ProcessorError::Rejected(_))
        ));
        let body = br#"{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds.","payment_intent":{"id":"pi_1"}}}"#;
        let Ok(Answer::Refused(error)) = classify(StatusCode::PAYMENT_REQUIRED, body) else {
            panic!("a 402 is a refusal");
        };
        assert_eq!(
            decline_of(&error),
            Decline {
                code: "card_declined".into(),
                decline_code: Some("insufficient_funds".into()),
                message: "Your card has insufficient funds.".into(),
                reference: "pi_1".into(),
            }
        );
        assert!(matches!(
            classify(StatusCode::OK, b"not json"),
            Err(ProcessorError::Network(_))
        ));
    }

    #[test]
    fn payment_intent_statuses_map_to_outcomes() {
        let pi = |status: &str| json!({"id": "pi_1", "status": status});
        let ok = Outcome::Succeeded {
            reference: "pi_1".into(),
        };
        assert_eq!(payment_intent_outcome(&pi("succeeded")).unwrap(), ok);
        assert_eq!(payment_intent_outcome(&pi("requires_capture")).unwrap(), ok);
        assert_eq!(
            payment_intent_outcome(&pi("requires_action")).unwrap(),
            Outcome::RequiresAction(Action {
                reference: Some("pi_1".into()),
                client_secret: None
            })
        );
        assert_eq!(
            payment_intent_outcome(&pi("processing")).unwrap(),
            Outcome::Processing
        );
        let failed = json!({"id": "pi_1", "status": "requires_payment_method",
            "last_payment_error": {"code": "card_declined", "message": "No."}});
        let Outcome::Declined(d) = payment_intent_outcome(&failed).unwrap() else {
            panic!("a failed attempt is a decline");
        };
        assert_eq!(
            (d.code.as_str(), d.reference.as_str()),
            ("card_declined", "pi_1")
        );
        assert_eq!(d.decline_code, None);
    }

    #[test]
    fn ids_are_checked_before_they_reach_a_path() {
        assert!(path_segment("pm_1Abc").is_ok());
        for bad in ["", "pm_1/../../v1/charges", "pm 1", "pm_1?x=1"] {
            assert!(path_segment(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_key_never_shows_in_debug() {
        let s = StripeSettings {
            secret_key: Zeroizing::new("sk_test_secret".into()),
            api_base: DEFAULT_API_BASE.into(),
            timeout: Duration::from_secs(1),
        };
        assert!(!format!("{s:?}").contains("sk_test_secret"));
        assert!(s.is_test_key());
    }
}
