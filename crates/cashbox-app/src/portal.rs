//! The customer portal: `/v1/billing_portal/configurations` and `/v1/billing_portal/sessions`,
//! and what the portal page does. Every action of the page is the use case the API would run
//! (a subscription update or cancel, a PaymentMethod attach, the customer's default card), so
//! it records the same events; each checks that what it touches is the session's customer's
//! and that the session's configuration allows it.

use cashbox_core::ParamError;
use cashbox_core::billing::invoice::InvoiceListParams;
use cashbox_core::billing::subscription::{
    ItemParams, PreviewDetails, PreviewParams, Subscription, SubscriptionCancelParams,
    SubscriptionListParams, SubscriptionUpdateParams,
};
use cashbox_core::checkout::CardInput;
use cashbox_core::crypto::constant_time_eq;
use cashbox_core::customer::{CustomerUpdateParams, InvoiceSettingsParam};
use cashbox_core::id::{new_id, random_token};
use cashbox_core::payments::{PaymentMethod, PaymentMethodAttachParams, PaymentMethodListParams};
use cashbox_core::portal::{
    CONFIGURATION_PREFIX, CancelMode, Configuration, ConfigurationListParams, ConfigurationParams,
    Flow, PortalSession, PortalSessionCreateParams, SESSION_PREFIX,
};
use cashbox_core::usage::credits::{SpendLimitListParams, UsageCheckParams};
use cashbox_core::usage::entitlements::{ActiveEntitlementListParams, EntitlementCheckParams};
use cashbox_store::{DocFilter, Tx};
use serde_json::Value;

use crate::docs::{Doc, active_status};
use crate::events::ListResult;
use crate::{App, AppError, AppResult, RequestCtx};

/// The `parent` column of the default configuration.
const DEFAULT_MARK: &str = "default";

impl Doc for Configuration {
    const TABLE: cashbox_store::DocTable = cashbox_store::DocTable::PortalConfigurations;
    const PREFIX: &'static str = CONFIGURATION_PREFIX;
    const NAME: &'static str = "billing_portal.configuration";
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn customer(&self) -> Option<&str> {
        None
    }
    fn status(&self) -> String {
        active_status(self.active)
    }
    fn parent(&self) -> Option<&str> {
        self.is_default.then_some(DEFAULT_MARK)
    }
}

impl Doc for PortalSession {
    const TABLE: cashbox_store::DocTable = cashbox_store::DocTable::PortalSessions;
    const PREFIX: &'static str = SESSION_PREFIX;
    const NAME: &'static str = "billing_portal.session";
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn customer(&self) -> Option<&str> {
        Some(&self.customer)
    }
    fn status(&self) -> String {
        "open".into()
    }
    fn parent(&self) -> Option<&str> {
        Some(&self.configuration)
    }
}

/// Why a portal page cannot be shown or an action taken.
#[derive(Debug)]
pub enum PortalError {
    /// Not a session, or not its secret: the page is not found.
    NotFound,
    /// The link was not opened in time, or the session is over.
    Expired,
    /// Refused, with a sentence for the customer.
    Refused(String),
    App(AppError),
}

impl From<AppError> for PortalError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Card { body } => PortalError::Refused(
                body["error"]["message"]
                    .as_str()
                    .unwrap_or("Your card was declined.")
                    .to_string(),
            ),
            AppError::Param(p) => PortalError::Refused(p.message),
            other => PortalError::App(other),
        }
    }
}

impl From<cashbox_store::StoreError> for PortalError {
    fn from(e: cashbox_store::StoreError) -> Self {
        PortalError::App(e.into())
    }
}

pub type PortalResult<T> = Result<T, PortalError>;

/// What the portal page shows its customer.
pub struct PortalView {
    pub session: PortalSession,
    pub configuration: Configuration,
    pub customer_email: Option<String>,
    /// The customer's billing address, rendered.
    pub customer_address: Value,
    /// The customer's live subscriptions, rendered, each with its plan's name and its next
    /// invoice (the upcoming invoice's rendering) if it renews.
    pub subscriptions: Vec<(Value, String, Option<Value>)>,
    /// The prices customers may switch to, rendered (with their products' names).
    pub switch_prices: Vec<(Value, String)>,
    pub cards: Vec<Value>,
    pub default_card: Option<String>,
    pub invoices: Vec<Value>,
    /// Each active entitlement's check (quota, used, remaining), with the feature's `name`.
    pub entitlements: Vec<Value>,
    /// Each spend limit's usage check.
    pub usage: Vec<Value>,
}

crate::service!(
    PortalConfigurations,
    billing_portal_configurations,
    "Customer portal configurations."
);

impl PortalConfigurations<'_> {
    pub async fn create(
        &self,
        ctx: &RequestCtx,
        p: ConfigurationParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let now = self.now();
        let mut c = Configuration::create(new_id(CONFIGURATION_PREFIX), now, false, &p)?;
        let mut tx = self.store().begin().await?;
        self.check_prices(&mut tx, &c).await?;
        // The first configuration is the default one, as the dashboard's is in Stripe.
        c.is_default = self.default_configuration_id().await?.is_none();
        self.insert_doc(&mut tx, &c).await?;
        self.record_event(
            &mut tx,
            ctx,
            "billing_portal.configuration.created",
            &c.to_json(),
            None,
        )
        .await?;
        self.finish(tx, ctx, c.to_json(), expand).await
    }

    pub async fn retrieve(&self, id: &str, expand: &[Vec<String>]) -> AppResult<Value> {
        self.retrieve_doc(id, expand, Configuration::to_json).await
    }

    pub async fn update(
        &self,
        ctx: &RequestCtx,
        id: &str,
        p: ConfigurationParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let c: Configuration = self.load_for_update(&mut tx, id).await?;
        let before = c.to_json();
        let next = c.apply(&p, self.now())?;
        if next.is_default && !next.active {
            return Err(ParamError::invalid(
                "active",
                "The default configuration cannot be deactivated.",
            )
            .into());
        }
        self.check_prices(&mut tx, &next).await?;
        let object = next.to_json();
        self.finish_update(
            tx,
            ctx,
            &next,
            (&before, object),
            "billing_portal.configuration.updated",
            expand,
        )
        .await
    }

    pub async fn list(
        &self,
        p: &ConfigurationListParams,
        expand: &[Vec<String>],
    ) -> AppResult<ListResult> {
        let filter = DocFilter {
            status: p.active.map(active_status),
            parent: (p.is_default == Some(true)).then(|| DEFAULT_MARK.to_string()),
            ..DocFilter::default()
        };
        let mut listed = self
            .list_docs::<Configuration>(&filter, &p.page()?, expand, Configuration::to_json)
            .await?;
        if p.is_default == Some(false) {
            listed.data.retain(|c| c["is_default"] == false);
        }
        Ok(listed)
    }
}

impl App {
    /// The default configuration's id. Read from the store, not a transaction: two first
    /// configurations made at the same moment could both be marked default; lists and new
    /// sessions then use the newer.
    async fn default_configuration_id(&self) -> AppResult<Option<String>> {
        let filter = DocFilter {
            parent: Some(DEFAULT_MARK.into()),
            ..DocFilter::default()
        };
        let page = cashbox_core::list::Page {
            limit: 1,
            cursor: cashbox_core::list::Cursor::Start,
        };
        Ok(self
            .store()
            .list_docs(Configuration::TABLE, &filter, &page)
            .await?
            .data
            .first()
            .map(|r| r.id.clone()))
    }

    /// The prices a configuration offers exist and are recurring prices of their product.
    async fn check_prices(&self, tx: &mut Tx, c: &Configuration) -> AppResult<()> {
        for (i, (product, prices)) in c.features.update_products.iter().enumerate() {
            for (j, id) in prices.iter().enumerate() {
                let param = format!("features[subscription_update][products][{i}][prices][{j}]");
                let price: cashbox_core::billing::catalog::Price = self
                    .find_for_update(tx, id)
                    .await?
                    .ok_or_else(|| AppError::MissingReference {
                        object: "price",
                        id: id.clone(),
                        param: param.clone(),
                    })?;
                if &price.product != product || price.recurring.is_none() {
                    return Err(ParamError::invalid(
                        param,
                        format!("The price `{id}` must be a recurring price of `{product}`."),
                    )
                    .into());
                }
            }
        }
        Ok(())
    }

    /// The session's configuration: the one named, else the default one (Stripe's defaults,
    /// made the first time they are needed).
    async fn session_configuration(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        named: Option<&str>,
    ) -> AppResult<Configuration> {
        if let Some(id) = named {
            let c: Configuration =
                self.find_for_update(tx, id)
                    .await?
                    .ok_or_else(|| AppError::MissingReference {
                        object: "billing_portal.configuration",
                        id: id.to_string(),
                        param: "configuration".into(),
                    })?;
            if !c.active {
                return Err(ParamError::invalid(
                    "configuration",
                    "This configuration is not active.",
                )
                .into());
            }
            return Ok(c);
        }
        if let Some(id) = self.default_configuration_id().await? {
            return self.load_for_update(tx, &id).await;
        }
        let c = Configuration::builtin(new_id(CONFIGURATION_PREFIX), self.now(), true);
        self.insert_doc(tx, &c).await?;
        self.record_event(
            tx,
            ctx,
            "billing_portal.configuration.created",
            &c.to_json(),
            None,
        )
        .await?;
        Ok(c)
    }
}

crate::service!(
    PortalSessions,
    billing_portal_sessions,
    "Customer portal sessions and the portal page."
);

impl PortalSessions<'_> {
    pub async fn create(
        &self,
        ctx: &RequestCtx,
        p: PortalSessionCreateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let (flow, after) = PortalSession::check(&p)?;
        let customer = p.customer.clone().unwrap_or_default();
        let mut tx = self.store().begin().await?;
        self.check_customer(&mut tx, &customer, "customer").await?;
        let config = self
            .session_configuration(&mut tx, ctx, p.configuration.as_deref())
            .await?;
        let return_url = p
            .return_url
            .clone()
            .or(config.default_return_url.clone())
            .ok_or_else(|| ParamError::missing("return_url"))?;
        if let Some(flow) = &flow {
            self.check_flow(&mut tx, &config, &customer, flow).await?;
        }
        let session = PortalSession {
            id: new_id(SESSION_PREFIX),
            created: self.now(),
            customer,
            configuration: config.id.clone(),
            return_url,
            flow,
            after_completion_url: after,
            secret: random_token(32),
            opened_at: None,
        };
        self.insert_doc(&mut tx, &session).await?;
        let object = session.to_json(&self.settings().public_url);
        self.finish(tx, ctx, object, expand).await
    }

    /// A deep link's subscription is the customer's, and the configuration allows the flow.
    async fn check_flow(
        &self,
        tx: &mut Tx,
        config: &Configuration,
        customer: &str,
        flow: &Flow,
    ) -> AppResult<()> {
        let f = &config.features;
        let (subscription, allowed, param) = match flow {
            Flow::PaymentMethodUpdate => return Ok(()),
            Flow::SubscriptionCancel { subscription } => (
                subscription,
                f.subscription_cancel,
                "flow_data[subscription_cancel][subscription]",
            ),
            Flow::SubscriptionUpdate { subscription } => (
                subscription,
                f.subscription_update,
                "flow_data[subscription_update][subscription]",
            ),
            Flow::SubscriptionUpdateConfirm {
                subscription,
                price,
                ..
            } => {
                if !config.switch_prices().any(|p| p == price) {
                    return Err(ParamError::invalid(
                        "flow_data[subscription_update_confirm][items][0][price]",
                        "The configuration does not offer this price.",
                    )
                    .into());
                }
                (
                    subscription,
                    f.subscription_update,
                    "flow_data[subscription_update_confirm][subscription]",
                )
            }
        };
        if !allowed {
            return Err(ParamError::invalid(
                "flow_data[type]",
                "The portal configuration does not allow this flow.",
            )
            .into());
        }
        let sub: Option<Subscription> = self.find_for_update(tx, subscription).await?;
        match sub {
            Some(s) if s.customer == customer => Ok(()),
            _ => Err(AppError::MissingReference {
                object: "subscription",
                id: subscription.clone(),
                param: param.into(),
            }),
        }
    }

    /// The session behind a page, if `secret` is its secret and it may still be used; the
    /// first opening starts its hour.
    async fn open(&self, id: &str, secret: &str) -> PortalResult<(PortalSession, Configuration)> {
        let Ok(session) = self.load::<PortalSession>(id).await else {
            return Err(PortalError::NotFound);
        };
        if !constant_time_eq(session.secret.as_bytes(), secret.as_bytes()) {
            return Err(PortalError::NotFound);
        }
        let now = self.now();
        session.usable_at(now).map_err(|_| PortalError::Expired)?;
        let session = if session.opened_at.is_none() {
            let mut tx = self.store().begin().await?;
            let mut s: PortalSession = self.load_for_update(&mut tx, id).await?;
            s.opened_at.get_or_insert(now);
            self.save_doc(&mut tx, &s).await?;
            tx.commit().await?;
            s
        } else {
            session
        };
        let config: Configuration = self.load(&session.configuration).await?;
        Ok((session, config))
    }

    /// Everything the page shows, read concurrently (each part is independent of the others).
    pub async fn view(&self, id: &str, secret: &str) -> PortalResult<PortalView> {
        let (session, configuration) = self.open(id, secret).await?;
        let customer = session.customer.as_str();
        let (subscriptions, switch_prices, (cards, record), invoices, entitlements, usage) = tokio::try_join!(
            self.live_subscriptions(customer),
            self.offered_prices(&configuration),
            self.cards_of(customer),
            self.invoice_history(customer, &configuration),
            self.entitlement_checks(customer),
            self.spend_checks(customer),
        )?;
        Ok(PortalView {
            customer_email: record["email"].as_str().map(str::to_string),
            customer_address: record["address"].clone(),
            default_card: record["invoice_settings"]["default_payment_method"]
                .as_str()
                .map(str::to_string),
            session,
            configuration,
            subscriptions,
            switch_prices,
            cards,
            invoices,
            entitlements,
            usage,
        })
    }

    /// The customer's live subscriptions, each with its plan's name and, unless it ends, its
    /// next invoice.
    async fn live_subscriptions(
        &self,
        customer: &str,
    ) -> AppResult<Vec<(Value, String, Option<Value>)>> {
        let subs = self
            .subscriptions()
            .list(
                &SubscriptionListParams {
                    customer: Some(customer.to_string()),
                    ..SubscriptionListParams::default()
                },
                &[],
            )
            .await?;
        let mut out = Vec::new();
        for s in subs.data {
            let live = matches!(
                s["status"].as_str(),
                Some("active" | "trialing" | "past_due" | "unpaid" | "incomplete")
            );
            if !live {
                continue;
            }
            let next = if s["cancel_at_period_end"] == true {
                None
            } else {
                self.subscriptions()
                    .preview_invoice(PreviewParams {
                        subscription: s["id"].as_str().map(str::to_string),
                        ..PreviewParams::default()
                    })
                    .await
                    .ok()
            };
            let price = s["items"]["data"][0]["price"]["id"]
                .as_str()
                .unwrap_or_default();
            let plan = match self
                .prices()
                .retrieve(price, &[vec!["product".into()]])
                .await
            {
                Ok(p) => p["product"]["name"].as_str().unwrap_or(price).to_string(),
                Err(_) => price.to_string(),
            };
            out.push((s, plan, next));
        }
        Ok(out)
    }

    /// The prices the configuration offers, rendered, with their products' names.
    async fn offered_prices(&self, config: &Configuration) -> AppResult<Vec<(Value, String)>> {
        let mut out = Vec::new();
        if config.features.subscription_update {
            for id in config.switch_prices() {
                let price = self
                    .prices()
                    .retrieve(id, &[vec!["product".into()]])
                    .await?;
                let name = price["product"]["name"].as_str().unwrap_or(id).to_string();
                out.push((price, name));
            }
        }
        Ok(out)
    }

    /// The customer's cards, and the customer (for its default card, email and address).
    async fn cards_of(&self, customer: &str) -> AppResult<(Vec<Value>, Value)> {
        let cards = self
            .payment_methods()
            .list(
                &PaymentMethodListParams {
                    customer: Some(customer.to_string()),
                    limit: Some(100),
                    ..PaymentMethodListParams::default()
                },
                &[],
            )
            .await?
            .data;
        Ok((cards, self.customers().retrieve(customer, &[]).await?))
    }

    /// The customer's last 24 finalized invoices, if the configuration shows them.
    async fn invoice_history(
        &self,
        customer: &str,
        config: &Configuration,
    ) -> AppResult<Vec<Value>> {
        if !config.features.invoice_history {
            return Ok(Vec::new());
        }
        Ok(self
            .invoices()
            .list(
                &InvoiceListParams {
                    customer: Some(customer.to_string()),
                    limit: Some(24),
                    ..InvoiceListParams::default()
                },
                &[],
            )
            .await?
            .data
            .into_iter()
            .filter(|i| i["status"] != "draft")
            .collect())
    }

    /// Each active entitlement's check: its quota, what is used and left.
    async fn entitlement_checks(&self, customer: &str) -> AppResult<Vec<Value>> {
        let active = self
            .entitlements()
            .list_active(&ActiveEntitlementListParams {
                customer: Some(customer.to_string()),
                limit: Some(100),
                ..ActiveEntitlementListParams::default()
            })
            .await?;
        let mut out = Vec::new();
        for e in active.data {
            let mut check = self
                .entitlements()
                .check(&EntitlementCheckParams {
                    customer: Some(customer.to_string()),
                    feature: e["lookup_key"].as_str().map(str::to_string),
                    ..EntitlementCheckParams::default()
                })
                .await?;
            // The page names the feature as the business named it.
            let feature = self
                .features()
                .retrieve(e["feature"].as_str().unwrap_or_default())
                .await?;
            check["name"] = feature["name"].clone();
            out.push(check);
        }
        Ok(out)
    }

    /// Each spend limit's usage check.
    async fn spend_checks(&self, customer: &str) -> AppResult<Vec<Value>> {
        let limits = self
            .spend_limits()
            .list(&SpendLimitListParams {
                customer: Some(customer.to_string()),
                ..SpendLimitListParams::default()
            })
            .await?;
        let mut out = Vec::new();
        for l in limits.data {
            out.push(
                self.spend_limits()
                    .check(&UsageCheckParams {
                        customer: Some(customer.to_string()),
                        subscription: l["subscription"].as_str().map(str::to_string),
                        ..UsageCheckParams::default()
                    })
                    .await?,
            );
        }
        Ok(out)
    }

    /// Where the browser goes after an action: the deep link's `after_completion` redirect,
    /// if the session has one.
    pub async fn after_completion(&self, id: &str, secret: &str) -> PortalResult<Option<String>> {
        let (session, _) = self.open(id, secret).await?;
        Ok(session.flow.and(session.after_completion_url))
    }

    /// The session's customer's subscription `id`.
    async fn own_subscription(
        &self,
        session: &PortalSession,
        id: &str,
    ) -> PortalResult<Subscription> {
        match self.load::<Subscription>(id).await {
            Ok(s) if s.customer == session.customer => Ok(s),
            _ => Err(PortalError::Refused("No such subscription.".into())),
        }
    }

    /// Cancels as the configuration says: at the period's end, or now (with its proration);
    /// returns which.
    pub async fn cancel(&self, id: &str, secret: &str, sub: &str) -> PortalResult<CancelMode> {
        let (session, config) = self.open(id, secret).await?;
        if !config.features.subscription_cancel {
            return Err(PortalError::Refused(
                "Cancelling is not available here.".into(),
            ));
        }
        self.own_subscription(&session, sub).await?;
        let ctx = RequestCtx::default();
        match config.features.cancel_mode {
            CancelMode::AtPeriodEnd => {
                self.subscriptions()
                    .update(
                        &ctx,
                        sub,
                        SubscriptionUpdateParams {
                            cancel_at_period_end: Some(true),
                            ..SubscriptionUpdateParams::default()
                        },
                        &[],
                    )
                    .await?;
            }
            CancelMode::Immediately => {
                let prorate = config.features.cancel_proration
                    == cashbox_core::billing::subscription::ProrationBehavior::CreateProrations;
                self.subscriptions()
                    .cancel(
                        &ctx,
                        sub,
                        SubscriptionCancelParams {
                            prorate: Some(prorate),
                            ..SubscriptionCancelParams::default()
                        },
                        &[],
                    )
                    .await?;
            }
        }
        Ok(config.features.cancel_mode)
    }

    /// Undoes a cancellation set for the period's end.
    pub async fn renew(&self, id: &str, secret: &str, sub: &str) -> PortalResult<()> {
        let (session, config) = self.open(id, secret).await?;
        if !config.features.subscription_cancel {
            return Err(PortalError::Refused("This is not available here.".into()));
        }
        self.own_subscription(&session, sub).await?;
        self.subscriptions()
            .update(
                &RequestCtx::default(),
                sub,
                SubscriptionUpdateParams {
                    cancel_at_period_end: Some(false),
                    ..SubscriptionUpdateParams::default()
                },
                &[],
            )
            .await?;
        Ok(())
    }

    /// The subscription's one item and the update that moves it to `price`, if the
    /// configuration offers that price.
    async fn switch_params(
        &self,
        session: &PortalSession,
        config: &Configuration,
        sub: &str,
        price: &str,
    ) -> PortalResult<(String, ItemParams)> {
        if !config.features.subscription_update || !config.switch_prices().any(|p| p == price) {
            return Err(PortalError::Refused(
                "This plan is not available here.".into(),
            ));
        }
        let s = self.own_subscription(session, sub).await?;
        let [item] = s.items.as_slice() else {
            return Err(PortalError::Refused(
                "A subscription with several items cannot be switched here.".into(),
            ));
        };
        Ok((
            item.id.clone(),
            ItemParams {
                id: Some(item.id.clone()),
                price: Some(price.to_string()),
                ..ItemParams::default()
            },
        ))
    }

    /// What switching `sub` to `price` would invoice next (the upcoming invoice with the
    /// change's prorations), rendered.
    pub async fn preview_switch(
        &self,
        id: &str,
        secret: &str,
        sub: &str,
        price: &str,
    ) -> PortalResult<Value> {
        let (session, config) = self.open(id, secret).await?;
        let (_, item) = self.switch_params(&session, &config, sub, price).await?;
        Ok(self
            .subscriptions()
            .preview_invoice(PreviewParams {
                subscription: Some(sub.to_string()),
                subscription_details: Some(PreviewDetails {
                    items: Some(vec![item]),
                    proration_behavior: Some(config.features.update_proration),
                    ..PreviewDetails::default()
                }),
                ..PreviewParams::default()
            })
            .await?)
    }

    pub async fn switch(&self, id: &str, secret: &str, sub: &str, price: &str) -> PortalResult<()> {
        let (session, config) = self.open(id, secret).await?;
        let (_, item) = self.switch_params(&session, &config, sub, price).await?;
        self.subscriptions()
            .update(
                &RequestCtx::default(),
                sub,
                SubscriptionUpdateParams {
                    items: Some(vec![item]),
                    proration_behavior: Some(config.features.update_proration),
                    ..SubscriptionUpdateParams::default()
                },
                &[],
            )
            .await?;
        Ok(())
    }

    /// Adds a card (checked by the processor as an attach is) and makes it the default.
    pub async fn add_card(&self, id: &str, secret: &str, card: CardInput) -> PortalResult<()> {
        let (session, config) = self.open(id, secret).await?;
        if !config.features.payment_method_update {
            return Err(PortalError::Refused("Cards cannot be changed here.".into()));
        }
        let ctx = RequestCtx::default();
        let pm = self.page_card(&ctx, &card).await?;
        self.payment_methods()
            .attach(
                &ctx,
                &pm,
                PaymentMethodAttachParams {
                    customer: Some(session.customer.clone()),
                },
                &[],
            )
            .await?;
        self.make_default(&session, &pm).await
    }

    /// Updates the customer's email and billing address, as far as the configuration allows
    /// (`customer_update.allowed_updates`). An empty address field clears it.
    pub async fn update_details(
        &self,
        id: &str,
        secret: &str,
        email: Option<String>,
        address: Option<cashbox_core::customer::Address>,
    ) -> PortalResult<()> {
        let (session, config) = self.open(id, secret).await?;
        let f = &config.features;
        let allowed =
            |field: &str| f.customer_update && f.customer_update_fields.iter().any(|a| a == field);
        let mut p = CustomerUpdateParams::default();
        if let Some(e) = email.filter(|_| allowed("email")) {
            p.email = Some(Some(e));
        }
        if let Some(a) = address.filter(|_| allowed("address")) {
            p.address = Some(Some(a));
        }
        if p.email.is_none() && p.address.is_none() {
            return Err(PortalError::Refused(
                "These details cannot be changed here.".into(),
            ));
        }
        self.customers()
            .update(&RequestCtx::default(), &session.customer, p, &[])
            .await?;
        Ok(())
    }

    /// Makes one of the customer's cards the default for its invoices.
    pub async fn set_default(&self, id: &str, secret: &str, pm: &str) -> PortalResult<()> {
        let (session, config) = self.open(id, secret).await?;
        if !config.features.payment_method_update {
            return Err(PortalError::Refused("Cards cannot be changed here.".into()));
        }
        match self.load::<PaymentMethod>(pm).await {
            Ok(card) if card.customer.as_deref() == Some(session.customer.as_str()) => {}
            _ => return Err(PortalError::Refused("No such card.".into())),
        }
        self.make_default(&session, pm).await
    }

    async fn make_default(&self, session: &PortalSession, pm: &str) -> PortalResult<()> {
        self.customers()
            .update(
                &RequestCtx::default(),
                &session.customer,
                CustomerUpdateParams {
                    invoice_settings: Some(InvoiceSettingsParam {
                        default_payment_method: Some(Some(pm.to_string())),
                        ..InvoiceSettingsParam::default()
                    }),
                    ..CustomerUpdateParams::default()
                },
                &[],
            )
            .await?;
        Ok(())
    }
}
