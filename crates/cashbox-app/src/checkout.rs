//! Checkout Sessions: the API (`/v1/checkout/sessions`) and what the hosted page does.
//!
//! Paying a session is the same use cases an app would call by hand: the customer, the
//! PaymentMethod from the card form, then a PaymentIntent (payment mode), a subscription
//! (subscription mode) or a SetupIntent (setup mode). What a session makes is made once, even
//! when its form is posted twice or from two tabs: the customer, the PaymentIntent, the
//! subscription and the SetupIntent are each created under an idempotency key of the
//! session's own (`App::once`), and a PaymentIntent charges once by its own rules. The session
//! completes in the transaction in which its payment (or saved card) succeeds
//! (`App::checkout_paid`), whichever request or page that is.

use cashbox_core::ParamError;
use cashbox_core::billing::catalog::{
    Price, PriceCreateParams, Product, ProductCreateParams, RecurringParams,
};
use cashbox_core::billing::discounts::PromotionCodeListParams;
use cashbox_core::billing::discounts::{Coupon, PromotionCode, TaxRate};
use cashbox_core::billing::invoice::{DiscountParams, Invoice};
use cashbox_core::billing::subscription::{
    ItemParams, PaymentBehavior, PaymentSettingsParams, SaveDefaultPaymentMethod, Subscription,
    SubscriptionCreateParams,
};
use cashbox_core::checkout::{
    CHECKOUT_SESSION_PREFIX, CardInput, CheckoutError, CheckoutSession,
    CheckoutSessionCreateParams, CheckoutSessionListParams, CheckoutSessionUpdateParams,
    CustomerCreation, CustomerDetails, LINE_ITEM_PREFIX, LinePrice, Mode, PaymentStatus, Pricing,
    SessionDiscount, SessionStatus,
};
use cashbox_core::customer::CustomerCreateParams;
use cashbox_core::id::new_id;
use cashbox_core::metadata::{Metadata, MetadataParam};
use cashbox_core::payments::{
    PaymentIntent, PaymentIntentConfirmParams, PaymentIntentCreateParams,
    PaymentIntentUpdateParams, PaymentMethodAttachParams, PiStatus, SetiStatus, SetupIntent,
    SetupIntentCreateParams,
};
use cashbox_store::{DocFilter, Grant, Tx};
use serde_json::Value;

use crate::docs::Doc;
use crate::events::ListResult;
use crate::idempotency::IdempotencyOutcome;
use crate::{App, AppError, AppResult, ClientAuth, RequestCtx};

/// The idempotency namespace of what sessions create (no API key has this id).
const ONCE_SCOPE: &str = "checkout";

impl Doc for CheckoutSession {
    const TABLE: cashbox_store::DocTable = cashbox_store::DocTable::CheckoutSessions;
    const PREFIX: &'static str = CHECKOUT_SESSION_PREFIX;
    const NAME: &'static str = "checkout.session";
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
        self.payment_intent
            .as_deref()
            .or(self.subscription.as_deref())
            .or(self.setup_intent.as_deref())
    }
}

impl From<CheckoutError> for AppError {
    fn from(e: CheckoutError) -> Self {
        match e {
            CheckoutError::Param(p) => AppError::Param(p),
            CheckoutError::TooLarge => AppError::Param(ParamError::invalid(
                "line_items",
                "The session's amounts are too large: each line and the total must be at most what one payment may charge.",
            )),
        }
    }
}

/// What the checkout page's form sends.
pub struct CheckoutForm {
    pub email: Option<String>,
    pub card: CardInput,
    /// New quantities of adjustable lines, by line id.
    pub quantities: Vec<(String, u64)>,
}

/// What became of a submitted checkout form.
#[derive(Debug)]
pub enum Submitted {
    /// Paid (or the card saved): the browser goes to the session's success URL.
    Complete { success_url: String },
    /// The card asks for 3-D Secure: the browser goes to the authentication page.
    Authenticate { url: String },
    /// Refused, with a message for the customer; the session stays open.
    Refused { message: String },
    /// The session is no longer open.
    Closed,
}

fn refused(message: impl Into<String>) -> Submitted {
    Submitted::Refused {
        message: message.into(),
    }
}

/// A card or parameter error as the customer should read it.
fn customer_message(e: &AppError) -> Option<String> {
    match e {
        AppError::Card { body } => Some(
            body["error"]["message"]
                .as_str()
                .unwrap_or("Your card was declined.")
                .to_string(),
        ),
        AppError::Param(p) => Some(p.message.clone()),
        _ => None,
    }
}

fn metadata_param(m: &Metadata) -> Option<MetadataParam> {
    (!m.is_empty()).then(|| {
        MetadataParam::Entries(
            m.iter()
                .map(|(k, v)| (k.clone(), Some(v.clone())))
                .collect(),
        )
    })
}

impl App {
    /// Runs `f` (a use case that saves its answer under its context's idempotency claim) at
    /// most once for `key`: a later call gets the first one's answer; a call while the first
    /// runs is refused. A use case that failed saved nothing and may run again.
    async fn once<F, Fut>(&self, key: &str, f: F) -> AppResult<Value>
    where
        F: FnOnce(RequestCtx) -> Fut,
        Fut: Future<Output = AppResult<Value>>,
    {
        match self.claim_idempotency(ONCE_SCOPE, key, key.as_bytes()).await? {
            IdempotencyOutcome::Proceed(claim) => {
                let ctx = RequestCtx {
                    request_id: None,
                    idempotency: Some(claim.clone()),
                };
                let result = f(ctx).await;
                if !claim.is_completed() {
                    self.release_idempotency(&claim).await?;
                }
                result
            }
            IdempotencyOutcome::Replay { status: 200, body } => serde_json::from_slice(&body)
                .map_err(|e| AppError::Corrupt(format!("saved answer of {key}: {e}"))),
            IdempotencyOutcome::Replay { body, .. } => {
                let body: Value = serde_json::from_slice(&body)
                    .map_err(|e| AppError::Corrupt(format!("saved answer of {key}: {e}")))?;
                Err(AppError::Card { body })
            }
            IdempotencyOutcome::Mismatch | IdempotencyOutcome::InFlight => {
                Err(ParamError::invalid(
                    "",
                    "This checkout is being completed in another window; wait a moment and reload the page.",
                )
                .into())
            }
        }
    }

    /// The session, expired first if its time is up (Stripe expires it at `expires_at`).
    async fn load_session(&self, ctx: &RequestCtx, id: &str) -> AppResult<CheckoutSession> {
        let s: CheckoutSession = self.load(id).await?;
        if s.status == SessionStatus::Open && self.now() >= s.expires_at {
            return self.expire_session(ctx, id, false).await;
        }
        Ok(s)
    }

    /// Expires an open session: `checkout.session.expired`, and what it started and left
    /// unpaid is canceled (its PaymentIntent; an incomplete subscription).
    async fn expire_session(
        &self,
        ctx: &RequestCtx,
        id: &str,
        asked: bool,
    ) -> AppResult<CheckoutSession> {
        let mut tx = self.store().begin().await?;
        let mut s: CheckoutSession = self.load_for_update(&mut tx, id).await?;
        if s.status != SessionStatus::Open {
            if asked {
                return Err(ParamError::invalid(
                    "",
                    format!(
                        "Only Checkout Sessions with a status of `open` can be expired; this one is `{}`.",
                        s.status.as_str()
                    ),
                )
                .into());
            }
            return Ok(s);
        }
        s.status = SessionStatus::Expired;
        self.save_doc(&mut tx, &s).await?;
        let object = s.to_json(&self.settings().public_url);
        self.record_event(&mut tx, ctx, "checkout.session.expired", &object, None)
            .await?;
        tx.commit().await?;
        // What it started is canceled after: each is its own use case, and a failure leaves
        // an unpaid object that its own rules end (an incomplete subscription expires).
        if let Some(pi) = &s.payment_intent {
            let intent: PaymentIntent = self.load(pi).await?;
            if intent.status == PiStatus::RequiresPaymentMethod
                && let Err(e) = self
                    .payment_intents()
                    .cancel(ctx, pi, Default::default(), &[])
                    .await
            {
                tracing::warn!(error = %e, session = %s.id, "an expired session's PaymentIntent was not canceled");
            }
        }
        if let Some(sub) = &s.subscription {
            let subscription: Subscription = self.load(sub).await?;
            if subscription.status.as_str() == "incomplete"
                && let Err(e) = self
                    .subscriptions()
                    .cancel(ctx, sub, Default::default(), &[])
                    .await
            {
                tracing::warn!(error = %e, session = %s.id, "an expired session's subscription was not canceled");
            }
        }
        Ok(s)
    }

    /// Reprices the session with its prices, coupons and tax rates as read in `tx` (after a
    /// quantity or a promotion code changed).
    async fn reprice(&self, tx: &mut Tx, s: &mut CheckoutSession) -> AppResult<()> {
        let (prices, names, coupons, rates) = self.session_pricing(tx, s).await?;
        s.price(&Pricing {
            prices: &prices,
            names: &names,
            coupons: &coupons,
            tax_rates: &rates,
        })?;
        Ok(())
    }

    /// The session's prices, product names, coupons and tax rates, as read in `tx`.
    async fn session_pricing(
        &self,
        tx: &mut Tx,
        s: &CheckoutSession,
    ) -> AppResult<(Vec<Price>, Vec<String>, Vec<(String, Coupon)>, Vec<TaxRate>)> {
        let mut prices = Vec::with_capacity(s.lines.len());
        let mut names = Vec::with_capacity(s.lines.len());
        for l in &s.lines {
            prices.push(self.read_in::<Price>(tx, &l.price).await?);
            names.push(l.description.clone());
        }
        let coupons = self.session_coupons(tx, &s.discounts).await?;
        let mut rates = Vec::new();
        for r in &s.default_tax_rates {
            rates.push(self.read_in::<TaxRate>(tx, r).await?);
        }
        Ok((prices, names, coupons, rates))
    }

    /// The coupons of a session's discounts (a promotion code's coupon), checked valid.
    async fn session_coupons(
        &self,
        tx: &mut Tx,
        discounts: &[SessionDiscount],
    ) -> AppResult<Vec<(String, Coupon)>> {
        let now = self.now();
        let mut out = Vec::new();
        for (i, d) in discounts.iter().enumerate() {
            let param = format!("discounts[{i}]");
            let coupon_id = match (&d.coupon, &d.promotion_code) {
                (Some(c), None) => c.clone(),
                (None, Some(p)) => {
                    let pc: PromotionCode =
                        self.find_for_update(tx, p).await?.ok_or_else(|| {
                            AppError::MissingReference {
                                object: "promotion_code",
                                id: p.clone(),
                                param: format!("{param}[promotion_code]"),
                            }
                        })?;
                    if !pc.active || pc.expires_at.is_some_and(|t| t <= now) {
                        return Err(ParamError::invalid(
                            format!("{param}[promotion_code]"),
                            format!("This promotion code cannot be redeemed: {}", pc.code),
                        )
                        .into());
                    }
                    pc.coupon
                }
                _ => {
                    return Err(ParamError::invalid(
                        param,
                        "Each discount takes exactly one of coupon or promotion_code.",
                    )
                    .into());
                }
            };
            let coupon: Coupon = self.find_for_update(tx, &coupon_id).await?.ok_or_else(|| {
                AppError::MissingReference {
                    object: "coupon",
                    id: coupon_id.clone(),
                    param: format!("{param}[coupon]"),
                }
            })?;
            if !coupon.valid(now) {
                return Err(ParamError::invalid(
                    format!("{param}[coupon]"),
                    format!("Coupon {} is no longer valid.", coupon.id),
                )
                .into());
            }
            out.push((format!("di_{}", coupon.id), coupon));
        }
        Ok(out)
    }

    /// Completes session `id` whose payment or saved card succeeded, in `tx` (the
    /// transaction of that success): records what it made, grants a one-time purchase's
    /// products, and `checkout.session.completed`. Nothing happens if it is not open.
    pub(crate) async fn checkout_paid(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        id: &str,
        paid: Paid<'_>,
    ) -> AppResult<()> {
        let Some(mut s) = self.find_for_update::<CheckoutSession>(tx, id).await? else {
            return Ok(());
        };
        if s.status != SessionStatus::Open {
            return Ok(());
        }
        let now = self.now();
        s.status = SessionStatus::Complete;
        match paid {
            Paid::Payment(pi) => {
                // A subscription's session names its subscription and invoice, not the
                // invoice's PaymentIntent, as Stripe's does.
                if s.mode == Mode::Payment {
                    s.payment_intent = Some(pi.id.clone());
                }
                s.customer = s.customer.clone().or(pi.customer.clone());
                s.payment_status = if pi.status == PiStatus::Succeeded {
                    PaymentStatus::Paid
                } else {
                    PaymentStatus::Unpaid
                };
                if s.mode == Mode::Payment {
                    if let Some(customer) = &pi.customer {
                        self.grant_purchase_of(tx, &s, customer, &pi.id, now)
                            .await?;
                    }
                } else if let Some(sub) = &s.subscription {
                    let sub: Subscription = self.read_in(tx, sub).await?;
                    s.invoice = sub.latest_invoice.clone();
                }
            }
            Paid::Free { customer } => {
                s.customer = s.customer.clone().or(customer.map(str::to_string));
                s.payment_status = PaymentStatus::NoPaymentRequired;
                if let Some(customer) = s.customer.clone() {
                    let id = s.id.clone();
                    self.grant_purchase_of(tx, &s, &customer, &id, now).await?;
                }
            }
            Paid::Subscription(sub) => {
                s.subscription = Some(sub.id.clone());
                s.customer = Some(sub.customer.clone());
                s.invoice = sub.latest_invoice.clone();
                s.payment_status = PaymentStatus::NoPaymentRequired;
            }
            Paid::Setup(seti) => {
                s.setup_intent = Some(seti.id.clone());
                s.customer = s.customer.clone().or(seti.customer.clone());
            }
        }
        self.save_doc(tx, &s).await?;
        let object = s.to_json(&self.settings().public_url);
        self.record_event(tx, ctx, "checkout.session.completed", &object, None)
            .await
    }

    /// A one-time purchase grants its products' features to `customer`, as a paid one-off
    /// invoice does, under `source` (its PaymentIntent: a full refund takes them back).
    async fn grant_purchase_of(
        &self,
        tx: &mut Tx,
        s: &CheckoutSession,
        customer: &str,
        source: &str,
        now: i64,
    ) -> AppResult<()> {
        let mut granted = false;
        for l in &s.lines {
            let g = Grant {
                product: l.product.clone(),
                starts_at: now,
                ends_at: None,
            };
            granted |= tx
                .insert_grant(&new_id("entgr"), customer, source, &g)
                .await?;
        }
        if granted {
            tx.bump_customer_version(customer).await?;
            self.announce_entitlements(tx, customer, now).await?;
        }
        Ok(())
    }

    /// Links the intent `pi` to session `cs` (its success completes the session).
    async fn link_payment(&self, cs: &str, pi: &str) -> AppResult<()> {
        let mut tx = self.store().begin().await?;
        let mut s: CheckoutSession = self.load_for_update(&mut tx, cs).await?;
        let mut intent: PaymentIntent = self.load_for_update(&mut tx, pi).await?;
        if intent.checkout_session.as_deref() != Some(cs) {
            intent.checkout_session = Some(cs.to_string());
            self.save_doc(&mut tx, &intent).await?;
        }
        if s.mode == Mode::Payment && s.payment_intent.as_deref() != Some(pi) {
            s.payment_intent = Some(pi.to_string());
            self.save_doc(&mut tx, &s).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records what the session made so far (its customer, subscription, SetupIntent), for
    /// the list filters and for the next attempt.
    async fn note_session(
        &self,
        cs: &str,
        customer: Option<&str>,
        subscription: Option<&str>,
        setup_intent: Option<&str>,
        details: Option<CustomerDetails>,
    ) -> AppResult<()> {
        let mut tx = self.store().begin().await?;
        let mut s: CheckoutSession = self.load_for_update(&mut tx, cs).await?;
        if let Some(c) = customer {
            s.customer = Some(c.to_string());
        }
        if let Some(sub) = subscription {
            s.subscription = Some(sub.to_string());
        }
        if let Some(si) = setup_intent {
            s.setup_intent = Some(si.to_string());
        }
        if details.is_some() {
            s.customer_details = details;
        }
        self.save_doc(&mut tx, &s).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// What completed a session.
pub(crate) enum Paid<'a> {
    /// Its PaymentIntent succeeded: the purchase, or a subscription's first invoice.
    Payment(&'a PaymentIntent),
    /// A subscription with nothing to pay now (a trial, a free first period).
    Subscription(&'a Subscription),
    /// A purchase whose discounts leave nothing to pay: no PaymentIntent, as Stripe makes none.
    Free { customer: Option<&'a str> },
    /// Its SetupIntent saved the card.
    Setup(&'a SetupIntent),
}

crate::service!(
    CheckoutSessions,
    checkout_sessions,
    "Checkout Sessions and their hosted page."
);

impl CheckoutSessions<'_> {
    pub async fn create(
        &self,
        ctx: &RequestCtx,
        params: CheckoutSessionCreateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let now = self.now();
        let checked = params.check(now)?;
        // Inline prices (and products) are checked in full before the transaction.
        let inline = inline_prices(&checked.lines, now)?;
        let mut tx = self.store().begin().await?;
        if let Some(c) = &params.customer {
            self.check_customer(&mut tx, c, "customer").await?;
        }
        let mut prices = Vec::with_capacity(checked.lines.len());
        let mut names = Vec::with_capacity(checked.lines.len());
        for (i, (line, made)) in checked.lines.iter().zip(inline).enumerate() {
            let price = match (&line.price, made) {
                (LinePrice::Existing(id), _) => self
                    .find_for_update::<Price>(&mut tx, id)
                    .await?
                    .ok_or_else(|| AppError::MissingReference {
                    object: "price",
                    id: id.clone(),
                    param: format!("line_items[{i}][price]"),
                })?,
                (_, Some((mut price, product))) => {
                    price.product = match product {
                        Err(id) => {
                            self.find_for_update::<Product>(&mut tx, &id)
                                .await?
                                .ok_or_else(|| AppError::MissingReference {
                                    object: "product",
                                    id: id.clone(),
                                    param: format!("line_items[{i}][price_data][product]"),
                                })?
                                .id
                        }
                        Ok(data) => {
                            self.insert_product(&mut tx, ctx, None, |id| Ok(Product { id, ..data }))
                                .await?
                                .id
                        }
                    };
                    self.insert_price(&mut tx, ctx, &price).await?;
                    price
                }
                (LinePrice::Inline { .. }, None) => unreachable!("made above"),
            };
            let product: Product = self.read_in(&mut tx, &price.product).await?;
            names.push(product.name.clone());
            prices.push(price);
        }
        let discounts: Vec<SessionDiscount> = params
            .discounts
            .iter()
            .flatten()
            .map(|d| SessionDiscount {
                coupon: d.coupon.clone(),
                promotion_code: d.promotion_code.clone(),
            })
            .collect();
        let coupons = self.session_coupons(&mut tx, &discounts).await?;
        let mut rates = Vec::new();
        let rate_ids = params
            .subscription_data
            .as_ref()
            .and_then(|s| s.default_tax_rates.clone())
            .unwrap_or_default();
        for (i, r) in rate_ids.iter().enumerate() {
            rates.push(
                self.find_for_update::<TaxRate>(&mut tx, r)
                    .await?
                    .ok_or_else(|| AppError::MissingReference {
                        object: "tax_rate",
                        id: r.clone(),
                        param: format!("subscription_data[default_tax_rates][{i}]"),
                    })?,
            );
        }
        let line_ids = (0..checked.lines.len())
            .map(|_| new_id(LINE_ITEM_PREFIX))
            .collect();
        let session = CheckoutSession::new(
            new_id(CHECKOUT_SESSION_PREFIX),
            now,
            &params,
            checked,
            line_ids,
            &Pricing {
                prices: &prices,
                names: &names,
                coupons: &coupons,
                tax_rates: &rates,
            },
        )?;
        self.insert_doc(&mut tx, &session).await?;
        let object = session.to_json(&self.settings().public_url);
        self.finish(tx, ctx, object, expand).await
    }

    pub async fn retrieve(
        &self,
        ctx: &RequestCtx,
        id: &str,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        self.load_session(ctx, id).await?;
        let url = self.settings().public_url.clone();
        self.retrieve_doc(id, expand, |s: &CheckoutSession| s.to_json(&url))
            .await
    }

    pub async fn update(
        &self,
        ctx: &RequestCtx,
        id: &str,
        params: CheckoutSessionUpdateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut s: CheckoutSession = self.load_for_update(&mut tx, id).await?;
        s.apply_update(&params)?;
        self.save_doc(&mut tx, &s).await?;
        let object = s.to_json(&self.settings().public_url);
        self.finish(tx, ctx, object, expand).await
    }

    pub async fn expire(
        &self,
        ctx: &RequestCtx,
        id: &str,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let s = self.expire_session(ctx, id, true).await?;
        let mut object = s.to_json(&self.settings().public_url);
        self.expand(
            &mut crate::expand::Reader::Store(self.store()),
            &mut object,
            expand,
        )
        .await?;
        Ok(object)
    }

    pub async fn list(
        &self,
        params: &CheckoutSessionListParams,
        expand: &[Vec<String>],
    ) -> AppResult<ListResult> {
        let filter = DocFilter {
            customer: params.customer.clone(),
            parent: params
                .payment_intent
                .clone()
                .or(params.subscription.clone()),
            status: params.status.map(|s| s.as_str().to_string()),
            created: params.created.unwrap_or_default(),
            ..DocFilter::default()
        };
        let url = self.settings().public_url.clone();
        self.list_docs::<CheckoutSession>(&filter, &params.page()?, expand, |s| s.to_json(&url))
            .await
    }

    /// Expires the open sessions whose time is up (at most `max` a sweep), as Stripe does at
    /// `expires_at`: `checkout.session.expired` goes out then, not when someone next looks.
    /// Returns how many it expired.
    pub async fn expire_due(&self, max: usize) -> AppResult<usize> {
        let now = self.now();
        let filter = DocFilter {
            status: Some(SessionStatus::Open.as_str().into()),
            // None expires sooner than this after it is made.
            created: cashbox_core::list::Range {
                min: None,
                max: Some(now - cashbox_core::checkout::EXPIRY_MIN_SECS),
            },
            ..DocFilter::default()
        };
        let mut page = cashbox_core::list::Page {
            limit: 100,
            cursor: cashbox_core::list::Cursor::Start,
        };
        let (mut seen, mut expired) = (0, 0);
        loop {
            let listed = self
                .store()
                .list_docs(CheckoutSession::TABLE, &filter, &page)
                .await?;
            for row in &listed.data {
                let s: CheckoutSession = self.open_doc(row)?;
                if s.expires_at <= now {
                    self.expire_session(&RequestCtx::default(), &s.id, false)
                        .await?;
                    expired += 1;
                }
            }
            seen += listed.data.len();
            match listed.data.last() {
                Some(last) if listed.has_more && seen < max => {
                    page.cursor = cashbox_core::list::Cursor::After(last.id.clone());
                }
                _ => return Ok(expired),
            }
        }
    }

    /// The session's line items (all of them: at most 100).
    pub async fn line_items(&self, id: &str) -> AppResult<Vec<Value>> {
        let s: CheckoutSession = self.load(id).await?;
        self.session_line_items(&mut crate::expand::Reader::Store(self.store()), &s)
            .await
    }

    /// The session as its page shows it (expired first if its time is up).
    pub async fn for_page(&self, id: &str) -> AppResult<CheckoutSession> {
        self.load_session(&RequestCtx::default(), id).await
    }

    /// The customer's email, when the session knows its customer.
    pub async fn known_email(&self, s: &CheckoutSession) -> AppResult<Option<String>> {
        Ok(match &s.customer {
            Some(c) => self.customer_email(c).await?,
            None => s.customer_email.clone(),
        })
    }

    /// Applies a promotion code typed on the page: refused with a message unless the
    /// session allows codes and this one is redeemable now.
    pub async fn apply_code(&self, id: &str, code: &str) -> AppResult<Result<(), String>> {
        let code = code.trim();
        if code.is_empty() || code.len() > 500 {
            return Ok(Err("This code is not valid.".into()));
        }
        let found = self
            .promotion_codes()
            .list(
                &PromotionCodeListParams {
                    code: Some(code.to_string()),
                    active: Some(true),
                    ..PromotionCodeListParams::default()
                },
                &[],
            )
            .await?;
        let Some(pc_id) = found.data.first().and_then(|p| p["id"].as_str()) else {
            return Ok(Err("This code is not valid.".into()));
        };
        let mut tx = self.store().begin().await?;
        let mut s: CheckoutSession = self.load_for_update(&mut tx, id).await?;
        if !s.is_open_at(self.now()) || !s.allow_promotion_codes {
            return Ok(Err("Promotion codes cannot be used here.".into()));
        }
        let pc: PromotionCode = self.load_for_update(&mut tx, pc_id).await?;
        let customer = s.customer.clone().unwrap_or_default();
        if !pc.redeemable_by(&customer, self.now()) {
            return Ok(Err("This code is not valid.".into()));
        }
        s.discounts = vec![SessionDiscount {
            coupon: None,
            promotion_code: Some(pc.id.clone()),
        }];
        self.reprice(&mut tx, &mut s).await?;
        self.save_doc(&mut tx, &s).await?;
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// Pays (or saves the card for) session `id` with what its page's form sent.
    pub async fn submit(&self, id: &str, form: CheckoutForm) -> AppResult<Submitted> {
        let ctx = RequestCtx::default();
        let s = self.load_session(&ctx, id).await?;
        if s.status != SessionStatus::Open {
            return Ok(Submitted::Closed);
        }
        if !form.quantities.is_empty()
            && let Err(message) = self.set_quantities(id, &form.quantities).await?
        {
            return Ok(refused(message));
        }
        let s: CheckoutSession = self.load(id).await?;
        let email = match self.known_email(&s).await? {
            Some(e) => Some(e),
            None => match form.email.as_deref().map(str::trim) {
                Some(e) if cashbox_core::customer::check_email("email", e).is_ok() => {
                    Some(e.to_string())
                }
                _ => return Ok(refused("Enter a valid email address.")),
            },
        };
        let details = CustomerDetails {
            email: email.clone(),
            name: form.card.name().map(str::to_string),
        };
        let pm = match self.page_card(&ctx, &form.card).await {
            Ok(pm) => pm,
            Err(e) => match customer_message(&e) {
                Some(m) => return Ok(refused(m)),
                None => return Err(e),
            },
        };
        let needs_customer = match s.mode {
            Mode::Payment => {
                s.customer_creation == Some(CustomerCreation::Always)
                    || s.setup_future_usage.is_some()
            }
            Mode::Subscription | Mode::Setup => true,
        };
        let customer = match (&s.customer, needs_customer) {
            (Some(c), _) => Some(c.clone()),
            (None, true) => {
                let (email, name) = (email.clone(), details.name.clone());
                let made = self
                    .once(&format!("{id}:customer"), |ctx| async move {
                        self.customers()
                            .create(
                                &ctx,
                                CustomerCreateParams {
                                    email,
                                    name,
                                    ..CustomerCreateParams::default()
                                },
                                &[],
                            )
                            .await
                    })
                    .await?;
                Some(made["id"].as_str().unwrap_or_default().to_string())
            }
            (None, false) => None,
        };
        self.note_session(id, customer.as_deref(), None, None, Some(details.clone()))
            .await?;
        let result = match s.mode {
            Mode::Payment => self.pay_session(&ctx, &s, customer, email, &pm).await,
            Mode::Subscription => {
                let customer = customer.expect("subscription mode always has a customer");
                self.subscribe_session(&ctx, &s, &customer, &pm).await
            }
            Mode::Setup => {
                let customer = customer.expect("setup mode always has a customer");
                self.setup_session(&ctx, &s, &customer, &pm).await
            }
        };
        match result {
            Ok(done) => Ok(done),
            Err(e) => match customer_message(&e) {
                Some(m) => Ok(refused(m)),
                None => Err(e),
            },
        }
    }

    /// New quantities for adjustable lines (a refusal says why), repriced.
    async fn set_quantities(
        &self,
        id: &str,
        quantities: &[(String, u64)],
    ) -> AppResult<Result<(), String>> {
        let mut tx = self.store().begin().await?;
        let mut s: CheckoutSession = self.load_for_update(&mut tx, id).await?;
        if s.payment_intent.is_some() || s.subscription.is_some() {
            // A payment was already attempted for the amount shown.
            return Ok(Ok(()));
        }
        let mut changed = false;
        for (line_id, q) in quantities {
            let Some(line) = s.lines.iter_mut().find(|l| &l.id == line_id) else {
                continue;
            };
            let Some((min, max)) = line.adjustable else {
                continue;
            };
            if !(min.max(1)..=max).contains(q) {
                return Ok(Err(format!(
                    "The quantity of {} must be between {} and {max}.",
                    line.description,
                    min.max(1)
                )));
            }
            changed |= line.quantity != *q;
            line.quantity = *q;
        }
        if changed {
            self.reprice(&mut tx, &mut s).await?;
            self.save_doc(&mut tx, &s).await?;
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    fn return_url(&self, id: &str) -> String {
        format!("{}/checkout/{id}/return", self.settings().public_url)
    }

    /// Confirms the session's PaymentIntent with the card `pm` (3-D Secure returns to the
    /// session), and what the answer means for the page.
    async fn confirm_with(
        &self,
        ctx: &RequestCtx,
        s: &CheckoutSession,
        pi_id: &str,
        pm: &str,
    ) -> AppResult<Submitted> {
        let pi = self
            .payment_intents()
            .confirm(
                ctx,
                pi_id,
                PaymentIntentConfirmParams {
                    payment_method: Some(pm.to_string()),
                    return_url: Some(self.return_url(&s.id)),
                    ..PaymentIntentConfirmParams::default()
                },
                ClientAuth::Secret,
                &[],
            )
            .await?;
        Ok(self.confirmed(s, &pi))
    }

    /// What a confirmed PaymentIntent's answer means for the page.
    fn confirmed(&self, s: &CheckoutSession, pi: &Value) -> Submitted {
        match pi["status"].as_str() {
            Some("succeeded" | "requires_capture" | "processing") => Submitted::Complete {
                success_url: s.success_url_filled(),
            },
            Some("requires_action") => Submitted::Authenticate {
                url: pi["next_action"]["redirect_to_url"]["url"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            },
            _ => refused("Your card was declined."),
        }
    }

    async fn pay_session(
        &self,
        ctx: &RequestCtx,
        s: &CheckoutSession,
        customer: Option<String>,
        email: Option<String>,
        pm: &str,
    ) -> AppResult<Submitted> {
        if s.amount_total == 0 {
            let mut tx = self.store().begin().await?;
            self.checkout_paid(
                &mut tx,
                ctx,
                &s.id,
                Paid::Free {
                    customer: customer.as_deref(),
                },
            )
            .await?;
            tx.commit().await?;
            return Ok(Submitted::Complete {
                success_url: s.success_url_filled(),
            });
        }
        let currency = s.currency.map(|c| c.code());
        let made = self
            .once(&format!("{}:payment_intent", s.id), |ctx| async move {
                self.payment_intents()
                    .create(
                        &ctx,
                        PaymentIntentCreateParams {
                            amount: Some(s.amount_total),
                            currency,
                            customer: customer.clone(),
                            capture_method: s.capture_method,
                            setup_future_usage: s.setup_future_usage,
                            description: s.payment_description.clone(),
                            receipt_email: email,
                            metadata: metadata_param(&s.payment_metadata),
                            ..PaymentIntentCreateParams::default()
                        },
                        &[],
                    )
                    .await
            })
            .await?;
        let pi_id = made["id"].as_str().unwrap_or_default().to_string();
        self.link_payment(&s.id, &pi_id).await?;
        // A promotion code applied after a declined attempt changed the amount.
        let intent: PaymentIntent = self.load(&pi_id).await?;
        if intent.amount != s.amount_total && intent.status == PiStatus::RequiresPaymentMethod {
            self.payment_intents()
                .update(
                    ctx,
                    &pi_id,
                    PaymentIntentUpdateParams {
                        amount: Some(s.amount_total),
                        ..PaymentIntentUpdateParams::default()
                    },
                    &[],
                )
                .await?;
        }
        self.confirm_with(ctx, s, &pi_id, pm).await
    }

    async fn subscribe_session(
        &self,
        ctx: &RequestCtx,
        s: &CheckoutSession,
        customer: &str,
        pm: &str,
    ) -> AppResult<Submitted> {
        // Attaching checks the card: a decline leaves nothing else made.
        self.payment_methods()
            .attach(
                ctx,
                pm,
                PaymentMethodAttachParams {
                    customer: Some(customer.to_string()),
                },
                &[],
            )
            .await?;
        let trial = s.trial_end.is_some();
        let made = self
            .once(&format!("{}:subscription", s.id), |ctx| async move {
                let params = SubscriptionCreateParams {
                    customer: Some(customer.to_string()),
                    items: Some(
                        s.lines
                            .iter()
                            .map(|l| ItemParams {
                                price: Some(l.price.clone()),
                                quantity: (!l.metered).then_some(l.quantity as i64),
                                ..ItemParams::default()
                            })
                            .collect(),
                    ),
                    trial_end: s
                        .trial_end
                        .map(|t| cashbox_core::billing::catalog::Text(t.to_string())),
                    default_payment_method: trial.then(|| pm.to_string()),
                    default_tax_rates: (!s.default_tax_rates.is_empty())
                        .then(|| s.default_tax_rates.clone()),
                    discounts: (!s.discounts.is_empty()).then(|| {
                        s.discounts
                            .iter()
                            .map(|d| DiscountParams {
                                coupon: d.coupon.clone(),
                                promotion_code: d.promotion_code.clone(),
                                discount: None,
                            })
                            .collect()
                    }),
                    description: s.subscription_description.clone(),
                    metadata: metadata_param(&s.subscription_metadata),
                    payment_behavior: Some(PaymentBehavior::DefaultIncomplete),
                    payment_settings: Some(PaymentSettingsParams {
                        save_default_payment_method: Some(SaveDefaultPaymentMethod::OnSubscription),
                        ..PaymentSettingsParams::default()
                    }),
                    ..SubscriptionCreateParams::default()
                };
                self.subscriptions().create(&ctx, params, &[]).await
            })
            .await?;
        let sub_id = made["id"].as_str().unwrap_or_default().to_string();
        self.note_session(&s.id, None, Some(&sub_id), None, None)
            .await?;
        let sub: Subscription = self.load(&sub_id).await?;
        let intent = match &sub.latest_invoice {
            Some(inv) => self.load::<Invoice>(inv).await?.payment_intent,
            None => None,
        };
        let Some(pi_id) = intent else {
            // Nothing to pay now (a trial, a free first period): complete at once.
            let mut tx = self.store().begin().await?;
            self.checkout_paid(&mut tx, ctx, &s.id, Paid::Subscription(&sub))
                .await?;
            tx.commit().await?;
            return Ok(Submitted::Complete {
                success_url: s.success_url_filled(),
            });
        };
        self.link_payment(&s.id, &pi_id).await?;
        let current: PaymentIntent = self.load(&pi_id).await?;
        if current.status == PiStatus::Succeeded {
            return Ok(Submitted::Complete {
                success_url: s.success_url_filled(),
            });
        }
        self.confirm_with(ctx, s, &pi_id, pm).await
    }

    async fn setup_session(
        &self,
        ctx: &RequestCtx,
        s: &CheckoutSession,
        customer: &str,
        pm: &str,
    ) -> AppResult<Submitted> {
        let made = self
            .once(&format!("{}:setup_intent", s.id), |ctx| async move {
                self.setup_intents()
                    .create(
                        &ctx,
                        SetupIntentCreateParams {
                            customer: Some(customer.to_string()),
                            description: s.setup_description.clone(),
                            metadata: metadata_param(&s.setup_metadata),
                            ..SetupIntentCreateParams::default()
                        },
                        &[],
                    )
                    .await
            })
            .await?;
        let seti_id = made["id"].as_str().unwrap_or_default().to_string();
        self.link_setup(&s.id, &seti_id).await?;
        let seti = self
            .setup_intents()
            .confirm(
                ctx,
                &seti_id,
                cashbox_core::payments::SetupIntentConfirmParams {
                    payment_method: Some(pm.to_string()),
                    return_url: Some(self.return_url(&s.id)),
                    ..Default::default()
                },
                ClientAuth::Secret,
                &[],
            )
            .await?;
        Ok(match seti["status"].as_str() {
            Some("succeeded") => Submitted::Complete {
                success_url: s.success_url_filled(),
            },
            Some("requires_action") => Submitted::Authenticate {
                url: seti["next_action"]["redirect_to_url"]["url"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            },
            _ => refused("This card could not be saved; try another."),
        })
    }

    /// Where the browser goes back from authentication: the success URL once the session is
    /// complete, else its page with why.
    pub async fn returned(&self, id: &str) -> AppResult<Submitted> {
        let s = self.for_page(id).await?;
        Ok(match s.status {
            SessionStatus::Complete => Submitted::Complete {
                success_url: s.success_url_filled(),
            },
            SessionStatus::Expired => Submitted::Closed,
            SessionStatus::Open => {
                refused("The card was not authenticated. Try again or use another card.")
            }
        })
    }
}

impl App {
    async fn link_setup(&self, cs: &str, seti: &str) -> AppResult<()> {
        let mut tx = self.store().begin().await?;
        let mut s: CheckoutSession = self.load_for_update(&mut tx, cs).await?;
        let mut intent: SetupIntent = self.load_for_update(&mut tx, seti).await?;
        if intent.checkout_session.as_deref() != Some(cs) {
            intent.checkout_session = Some(cs.to_string());
            self.save_doc(&mut tx, &intent).await?;
        }
        if s.setup_intent.as_deref() != Some(seti) {
            s.setup_intent = Some(seti.to_string());
            self.save_doc(&mut tx, &s).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A SetupIntent's success completes its session (called in the success's transaction).
    pub(crate) async fn setup_settles(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        seti: &SetupIntent,
    ) -> AppResult<()> {
        if seti.status == SetiStatus::Succeeded
            && let Some(cs) = &seti.checkout_session
        {
            self.checkout_paid(tx, ctx, cs, Paid::Setup(seti)).await?;
        }
        Ok(())
    }
}

/// An inline price and, when the line describes one, its new product (else the product id
/// it names), for each `price_data` line; `None` for a line naming a price.
type InlinePrice = Option<(Price, Result<Product, String>)>;

/// The lines' inline prices, checked before any transaction begins.
fn inline_prices(
    lines: &[cashbox_core::checkout::CheckedLine],
    now: i64,
) -> AppResult<Vec<InlinePrice>> {
    let mut inline = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        inline.push(match &line.price {
            LinePrice::Existing(_) => None,
            LinePrice::Inline {
                currency,
                unit_amount,
                product,
                recurring,
                tax_behavior,
            } => {
                let pp = PriceCreateParams {
                    currency: Some(currency.code()),
                    unit_amount: Some(*unit_amount),
                    recurring: recurring.map(|(interval, count)| RecurringParams {
                        interval: Some(interval),
                        interval_count: Some(i64::from(count)),
                        ..RecurringParams::default()
                    }),
                    tax_behavior: tax_behavior.clone(),
                    ..PriceCreateParams::default()
                };
                let price = Price::new(
                    new_id(cashbox_core::billing::catalog::PRICE_PREFIX),
                    now,
                    String::new(),
                    &pp,
                )
                .map_err(|mut e| {
                    e.param = format!("line_items[{i}][price_data][{}]", e.param);
                    e
                })?;
                let product = match product {
                    Ok(id) => Err(id.clone()),
                    Err((name, description, metadata)) => {
                        let p = ProductCreateParams {
                            name: Some(name.clone()),
                            description: description.clone(),
                            metadata: metadata_param(metadata),
                            ..ProductCreateParams::default()
                        };
                        Ok(Product::new(String::new(), now, &p)?)
                    }
                };
                Some((price, product))
            }
        });
    }
    Ok(inline)
}
