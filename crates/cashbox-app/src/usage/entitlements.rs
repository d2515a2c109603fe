//! Entitlements: features, product features, a customer's active entitlements and, beyond
//! Stripe, purchase grants and quotas with check and consume.
//!
//! What a customer is entitled to is worked out, never stored: the products of their
//! subscriptions that are trialing, active or past_due, and the products their paid one-time
//! invoices granted (for life, or `grant_days` from the payment, until a full refund), each
//! bringing its product features. A quota counts uses per period (the subscription's billing
//! period; a purchase's whole grant), so a renewal starts a fresh count. Consumes are one
//! conditional upsert, so concurrent consumes never pass the quota, and a consume `key`
//! counts once.

use std::collections::BTreeMap;

use cashbox_core::ParamError;
use cashbox_core::billing::invoice::Invoice;
use cashbox_core::billing::subscription::Subscription;
use cashbox_core::customer::ID_PREFIX as CUSTOMER_PREFIX;
use cashbox_core::id::{has_prefix, new_id};
use cashbox_core::usage::entitlements::{
    ActiveEntitlementListParams, Entitlement, EntitlementCheckParams, FEATURE_PREFIX, Feature,
    FeatureCreateParams, FeatureListParams, FeatureUpdateParams, PRODUCT_FEATURE_PREFIX,
    ProductFeature, ProductFeatureCreateParams, ProductFeatureListParams, check_json,
};
use cashbox_store::{DocFilter, DocTable, Grant, Tx};
use serde_json::{Value, json};

use crate::docs::{Doc, active_status};
use crate::events::ListResult;
use crate::usage::usage_cache::Entitlements;
use crate::{App, AppError, AppResult, RequestCtx};
use cashbox_core::clock::TestClock;
use std::sync::Arc;

const DAY: i64 = 86_400;
/// The version row that stands for the whole catalog of product features.
const CATALOG: &str = "*";

impl Doc for Feature {
    const TABLE: DocTable = DocTable::Features;
    const PREFIX: &'static str = FEATURE_PREFIX;
    const NAME: &'static str = "entitlements.feature";
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
}

impl Doc for ProductFeature {
    const TABLE: DocTable = DocTable::ProductFeatures;
    const PREFIX: &'static str = PRODUCT_FEATURE_PREFIX;
    const NAME: &'static str = "product_feature";
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
        "active".into()
    }
    fn parent(&self) -> Option<&str> {
        Some(&self.product)
    }
}

/// Subscription statuses that entitle: trialing and active, and past_due unless the
/// `past_due_revokes_entitlements` setting says otherwise (by default access is kept while
/// payment is retried; dunning's last step decides what happens next).
fn entitling(past_due_revokes: bool) -> &'static [&'static str] {
    if past_due_revokes {
        &["trialing", "active"]
    } else {
        &["trialing", "active", "past_due"]
    }
}

impl App {
    /// A feature named by id or lookup key.
    async fn feature_named(&self, name: &str, param: &str) -> AppResult<Feature> {
        let id = if has_prefix(name, FEATURE_PREFIX) {
            Some(name.to_string())
        } else {
            self.store().feature_by_lookup_key(name).await?
        };
        let missing = || AppError::MissingReference {
            object: "entitlements.feature",
            id: name.to_string(),
            param: param.to_string(),
        };
        let id = id.ok_or_else(missing)?;
        self.load::<Feature>(&id).await.map_err(|e| match e {
            AppError::NotFound { .. } => missing(),
            e => e,
        })
    }

    async fn render_product_feature(&self, pf: &ProductFeature) -> AppResult<Value> {
        let f: Feature = self.load(&pf.feature).await?;
        Ok(pf.to_json(&f))
    }

    /// What `customer` is entitled to at `now`, by feature id, and when a purchase's set
    /// duration next runs out (the summary may then change by itself).
    pub(crate) async fn entitlements_in(
        &self,
        tx: &mut Tx,
        customer: &str,
        now: i64,
    ) -> AppResult<(BTreeMap<String, Entitlement>, Option<i64>)> {
        // (product, quota window, days a purchase lasts: None for a subscription's product)
        let mut sources: Vec<(String, (i64, Option<i64>), bool)> = Vec::new();
        for row in tx
            .docs_of_customer(
                DocTable::Subscriptions,
                customer,
                entitling(self.settings().past_due_revokes_entitlements),
            )
            .await?
        {
            let sub: Subscription = self.open_doc(&row)?;
            for item in &sub.items {
                let window = (sub.current_period_start, Some(sub.current_period_end));
                sources.push((item.price.product.clone(), window, false));
            }
        }
        for g in tx.active_grants(customer, now).await? {
            sources.push((g.product, (g.starts_at, g.ends_at), true));
        }
        let mut out: BTreeMap<String, Entitlement> = BTreeMap::new();
        let mut next_end: Option<i64> = None;
        let mut features: BTreeMap<String, Option<Feature>> = BTreeMap::new();
        for (product, window, purchase) in sources {
            for row in tx
                .docs_of_parent(DocTable::ProductFeatures, &product)
                .await?
            {
                let pf: ProductFeature = self.open_doc(&row)?;
                let mut period = window;
                if purchase && let Some(days) = pf.grant_days {
                    let end = window.0 + days * DAY;
                    if end <= now {
                        continue;
                    }
                    period.1 = Some(end);
                    next_end = Some(next_end.map_or(end, |e| e.min(end)));
                }
                if !features.contains_key(&pf.feature) {
                    let f = match tx.doc(DocTable::Features, &pf.feature).await? {
                        Some(row) => Some(self.open_doc::<Feature>(&row)?),
                        None => None,
                    };
                    features.insert(pf.feature.clone(), f);
                }
                let Some(feature) = features[&pf.feature].clone().filter(|f| f.active) else {
                    continue;
                };
                let ent = Entitlement {
                    feature,
                    quota: pf.quota,
                    period,
                };
                match out.get_mut(&pf.feature) {
                    Some(e) => e.merge(ent),
                    None => {
                        out.insert(pf.feature.clone(), ent);
                    }
                }
            }
        }
        Ok((out, next_end))
    }

    /// The customer and their time (their test clock's, if any), checked.
    async fn entitled_customer(&self, tx: &mut Tx, id: &str) -> AppResult<i64> {
        let row = match has_prefix(id, CUSTOMER_PREFIX) {
            true => tx.customer(id).await?.filter(|c| !c.deleted),
            false => None,
        }
        .ok_or_else(|| AppError::MissingReference {
            object: "customer",
            id: id.to_string(),
            param: "customer".into(),
        })?;
        self.time_of(tx, row.test_clock.as_deref()).await
    }

    /// What `customer` is entitled to at `now`: from memory while neither their version nor
    /// the catalog's changed and nothing has ended since, else worked out afresh.
    async fn cached_entitlements(&self, customer: &str) -> AppResult<(Arc<Entitlements>, i64)> {
        let versions = self.store().entitlement_versions(customer).await?;
        if let Some(e) = self.usage_cache().entitlements(customer, versions) {
            let now = match &e.test_clock {
                Some(clock) => match self.store().doc(DocTable::TestClocks, clock).await? {
                    Some(r) => self.open_doc::<TestClock>(&r)?.frozen_time,
                    None => self.now(),
                },
                None => self.now(),
            };
            if now < e.valid_until {
                return Ok((e, now));
            }
        }
        let mut tx = self.store().begin().await?;
        let row = match has_prefix(customer, CUSTOMER_PREFIX) {
            true => tx.customer(customer).await?.filter(|c| !c.deleted),
            false => None,
        }
        .ok_or_else(|| AppError::MissingReference {
            object: "customer",
            id: customer.to_string(),
            param: "customer".into(),
        })?;
        let now = self.time_of(&mut tx, row.test_clock.as_deref()).await?;
        let (by_feature, _) = self.entitlements_in(&mut tx, customer, now).await?;
        drop(tx);
        let valid_until = by_feature
            .values()
            .filter_map(|e| e.period.1)
            .min()
            .unwrap_or(i64::MAX);
        let e = Entitlements {
            versions,
            test_clock: row.test_clock,
            valid_until,
            by_feature,
        };
        Ok((self.usage_cache().set_entitlements(customer, e), now))
    }

    /// A paid one-off invoice grants the products of its (one-time) prices from `now`.
    pub(crate) async fn grant_purchase(
        &self,
        tx: &mut Tx,
        inv: &Invoice,
        now: i64,
    ) -> AppResult<()> {
        if inv.subscription.is_some() {
            return Ok(());
        }
        let mut granted = false;
        for line in &inv.lines {
            // Invoice items take one-time prices only: every priced line is a purchase.
            let Some(price) = &line.price else { continue };
            let g = Grant {
                product: price.product.clone(),
                starts_at: now,
                ends_at: None,
            };
            granted |= tx
                .insert_grant(&new_id("entgr"), &inv.customer, &inv.id, &g)
                .await?;
        }
        if granted {
            tx.bump_customer_version(&inv.customer).await?;
            self.announce_entitlements(tx, &inv.customer, now).await?;
        }
        Ok(())
    }

    /// Due work: some purchase of `customer`'s ran out. Announces the summary if it changed
    /// and indexes the next end, if any; idempotent, so a second worker finds nothing to do.
    pub(crate) async fn entitlements_due(&self, customer: &str) -> AppResult<()> {
        let mut tx = self.store().begin().await?;
        let clock = tx.customer(customer).await?.and_then(|c| c.test_clock);
        let now = self.time_of(&mut tx, clock.as_deref()).await?;
        tx.set_entitlements_due(customer, None, clock.as_deref())
            .await?;
        self.announce_entitlements(&mut tx, customer, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A full refund of an invoice's payment revokes what it granted.
    pub(crate) async fn revoke_purchase(
        &self,
        tx: &mut Tx,
        customer: &str,
        invoice: &str,
        now: i64,
    ) -> AppResult<()> {
        if tx.revoke_grants(invoice, now).await? > 0 {
            tx.bump_customer_version(customer).await?;
            self.announce_entitlements(tx, customer, now).await?;
        }
        Ok(())
    }

    /// Records `entitlements.active_entitlement_summary.updated` if the customer's features
    /// differ from the last summary announced.
    pub(crate) async fn announce_entitlements(
        &self,
        tx: &mut Tx,
        customer: &str,
        now: i64,
    ) -> AppResult<()> {
        if !tx.any_product_features().await? {
            return Ok(());
        }
        let (ents, next_end) = self.entitlements_in(tx, customer, now).await?;
        let ids: Vec<&str> = ents.keys().map(String::as_str).collect();
        let joined = ids.join(",");
        let old = tx.swap_entitlement_summary(customer, &joined).await?;
        if next_end.is_some() {
            // A purchase runs out then: announced by the due work (see `entitlements_due`).
            let clock = tx.customer(customer).await?.and_then(|c| c.test_clock);
            tx.set_entitlements_due(customer, next_end, clock.as_deref())
                .await?;
        }
        if old.as_deref().unwrap_or("") == joined {
            return Ok(());
        }
        let data: Vec<Value> = ents.values().map(|e| e.to_json(customer)).collect();
        let previous: Vec<Value> = old
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|f| json!({"feature": f}))
            .collect();
        let object = json!({
            "object": "entitlements.active_entitlement_summary",
            "customer": customer,
            "entitlements": {
                "object": "list",
                "data": data,
                "has_more": false,
                "url": "/v1/entitlements/active_entitlements",
            },
            "livemode": false,
        });
        self.record_event(
            tx,
            &RequestCtx::default(),
            "entitlements.active_entitlement_summary.updated",
            &object,
            Some(json!({"entitlements": {"data": previous}})),
        )
        .await
    }
}

crate::service!(
    Features,
    features,
    "Features, and the products that grant them."
);

impl Features<'_> {
    pub async fn create(&self, ctx: &RequestCtx, p: FeatureCreateParams) -> AppResult<Value> {
        let f = Feature::new(new_id(FEATURE_PREFIX), self.now(), &p)?;
        let mut tx = self.store().begin().await?;
        if !tx.claim_feature_lookup_key(&f.lookup_key, &f.id).await? {
            return Err(ParamError::new(
                "lookup_key",
                "resource_already_exists",
                format!("A feature with lookup_key {} already exists.", f.lookup_key),
            )
            .into());
        }
        self.insert_doc(&mut tx, &f).await?;
        self.finish(tx, ctx, f.to_json(), &[]).await
    }

    pub async fn retrieve(&self, id: &str) -> AppResult<Value> {
        self.retrieve_doc(id, &[], Feature::to_json).await
    }

    pub async fn update(
        &self,
        ctx: &RequestCtx,
        id: &str,
        p: FeatureUpdateParams,
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut f: Feature = self.load_for_update(&mut tx, id).await?;
        f.update(&p)?;
        self.save_doc(&mut tx, &f).await?;
        tx.bump_customer_version(CATALOG).await?;
        self.finish(tx, ctx, f.to_json(), &[]).await
    }

    pub async fn list(&self, p: &FeatureListParams) -> AppResult<ListResult> {
        let mut filter = DocFilter {
            status: p
                .archived
                .map(|a| if a { "inactive" } else { "active" }.to_string()),
            ..DocFilter::default()
        };
        if let Some(key) = &p.lookup_key {
            let id = self.store().feature_by_lookup_key(key).await?;
            filter.ids = Some(id.into_iter().collect());
        }
        self.list_docs::<Feature>(&filter, &p.page()?, &[], Feature::to_json)
            .await
    }

    pub async fn create_product_feature(
        &self,
        ctx: &RequestCtx,
        product: &str,
        p: ProductFeatureCreateParams,
    ) -> AppResult<Value> {
        let _: cashbox_core::billing::catalog::Product = self.load(product).await?;
        let pf = ProductFeature::new(new_id(PRODUCT_FEATURE_PREFIX), self.now(), product, &p)?;
        let feature = self
            .feature_named(&pf.feature, "entitlement_feature")
            .await?;
        let pf = ProductFeature {
            feature: feature.id.clone(),
            ..pf
        };
        let mut tx = self.store().begin().await?;
        for row in tx
            .docs_by_parent(DocTable::ProductFeatures, product)
            .await?
        {
            let other: ProductFeature = self.open_doc(&row)?;
            if other.feature == pf.feature {
                return Err(ParamError::new(
                    "entitlement_feature",
                    "resource_already_exists",
                    format!("Product {product} already has feature {}.", pf.feature),
                )
                .into());
            }
        }
        self.insert_doc(&mut tx, &pf).await?;
        tx.bump_customer_version(CATALOG).await?;
        self.finish(tx, ctx, pf.to_json(&feature), &[]).await
    }

    pub async fn retrieve_product_feature(&self, product: &str, id: &str) -> AppResult<Value> {
        let pf: ProductFeature = self.load(id).await?;
        if pf.product != product {
            return Err(AppError::not_found("product_feature", id));
        }
        self.render_product_feature(&pf).await
    }

    pub async fn list_product_features(
        &self,
        product: &str,
        p: &ProductFeatureListParams,
    ) -> AppResult<ListResult> {
        let filter = DocFilter {
            parent: Some(product.to_string()),
            ..DocFilter::default()
        };
        let rows = self
            .store()
            .list_docs(DocTable::ProductFeatures, &filter, &p.page()?)
            .await?;
        let mut data = Vec::with_capacity(rows.data.len());
        for row in &rows.data {
            let pf: ProductFeature = self.open_doc(row)?;
            data.push(self.render_product_feature(&pf).await?);
        }
        Ok(ListResult {
            data,
            has_more: rows.has_more,
        })
    }

    pub async fn delete_product_feature(
        &self,
        ctx: &RequestCtx,
        product: &str,
        id: &str,
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let pf: ProductFeature = self.load_for_update(&mut tx, id).await?;
        if pf.product != product {
            return Err(AppError::not_found("product_feature", id));
        }
        tx.delete_doc(DocTable::ProductFeatures, id).await?;
        tx.bump_customer_version(CATALOG).await?;
        let response = json!({"id": id, "object": "product_feature", "deleted": true});
        self.commit_response(tx, ctx, 200, &response).await?;
        Ok(response)
    }
}

crate::service!(
    CustomerEntitlements,
    entitlements,
    "What a customer is entitled to: list, check, consume."
);

impl CustomerEntitlements<'_> {
    /// `GET /v1/entitlements/active_entitlements?customer=`.
    pub async fn list_active(&self, p: &ActiveEntitlementListParams) -> AppResult<ListResult> {
        let customer = p
            .customer
            .clone()
            .ok_or_else(|| ParamError::missing("customer"))?;
        let mut tx = self.store().begin().await?;
        let now = self.entitled_customer(&mut tx, &customer).await?;
        let (ents, _) = self.entitlements_in(&mut tx, &customer, now).await?;
        drop(tx);
        let data: Vec<Value> = ents.values().map(|e| e.to_json(&customer)).collect();
        let limit = p.limit.unwrap_or(10).clamp(1, 100) as usize;
        Ok(ListResult {
            has_more: data.len() > limit,
            data: data.into_iter().take(limit).collect(),
        })
    }

    /// `GET /v1/entitlements/check` (ours): whether `quantity` uses would be allowed now.
    /// Answered from memory (see `usage_cache`), with the quota's use read from the store.
    pub async fn check(&self, p: &EntitlementCheckParams) -> AppResult<Value> {
        let (customer, name, quantity) = p.checked()?;
        let (ents, _) = self.cached_entitlements(&customer).await?;
        let ent = ents
            .by_feature
            .values()
            .find(|e| e.feature.lookup_key == name || e.feature.id == name);
        let Some(ent) = ent else {
            // Not entitled: the feature must still exist.
            let feature = self.feature_named(&name, "feature").await?;
            return Ok(check_json(
                &customer,
                &feature.lookup_key,
                None,
                0,
                quantity,
            ));
        };
        let used = self
            .store()
            .quota_used(&customer, &ent.feature.id, ent.period.0)
            .await?;
        Ok(check_json(
            &customer,
            &ent.feature.lookup_key,
            Some(ent),
            used,
            quantity,
        ))
    }

    /// `POST /v1/entitlements/consume` (ours): uses `quantity` of the feature's quota, or
    /// refuses (400 `quota_exceeded` / `entitlement_missing`) without using any. A repeated
    /// `key` answers as the first consume did and uses nothing more.
    pub async fn consume(&self, ctx: &RequestCtx, p: &EntitlementCheckParams) -> AppResult<Value> {
        let (customer, name, quantity) = p.checked()?;
        let key = match &p.key {
            Some(k) if k.is_empty() => return Err(ParamError::empty("key").into()),
            Some(k) => Some(k.clone()),
            None => None,
        };
        let feature = self.feature_named(&name, "feature").await?;
        let mut tx = self.store().begin().await?;
        let now = self.entitled_customer(&mut tx, &customer).await?;
        let (ents, _) = self.entitlements_in(&mut tx, &customer, now).await?;
        let Some(ent) = ents.get(&feature.id) else {
            return Err(ParamError::new(
                "feature",
                "entitlement_missing",
                format!(
                    "Customer {customer} is not entitled to {}.",
                    feature.lookup_key
                ),
            )
            .into());
        };
        let period = ent.period.0;
        let fresh = match &key {
            Some(k) => {
                tx.claim_consumption(k, &customer, &feature.id, period, quantity, now)
                    .await?
            }
            None => true,
        };
        if fresh {
            let fits = match ent.quota {
                Some(q) => {
                    tx.consume_quota(&customer, &feature.id, period, quantity, q)
                        .await?
                }
                None => {
                    tx.consume_quota(&customer, &feature.id, period, quantity, i64::MAX)
                        .await?
                }
            };
            if !fits {
                let used = tx.quota_used(&customer, &feature.id, period).await?;
                return Err(ParamError::new(
                    "quantity",
                    "quota_exceeded",
                    format!(
                        "The quota of {} for {} this period is used up ({used} used).",
                        ent.quota.unwrap_or_default(),
                        feature.lookup_key
                    ),
                )
                .into());
            }
        }
        let used = tx.quota_used(&customer, &feature.id, period).await?;
        let mut body = check_json(&customer, &feature.lookup_key, Some(ent), used, 0);
        body["object"] = "entitlement_consumption".into();
        body["consumed"] = quantity.into();
        body["replayed"] = (!fresh).into();
        self.finish(tx, ctx, body, &[]).await
    }
}
