//! Credit grants, top-ups, spend limits and the usage check.
//!
//! A credit grant is money a customer's metered charges draw on first, at each renewal, in
//! Stripe's order (priority, then soonest expiry). A top-up is a PaymentIntent carrying
//! `metadata[cashbox_top_up]=true`: the transaction that records its success also records a
//! paid grant of its amount, so the next usage check sees the room it bought. A spend limit
//! caps a billing period's metered charges; the usage check answers, before the work is done,
//! whether proposed usage fits: the period's usage so far is rated with the prices' own
//! rules (tiers included), the proposed units are rated on top, and the limit plus available
//! credit is the room.

use cashbox_core::ParamError;
use cashbox_core::billing::invoice::{CREDIT_BALANCE_TRANSACTION_PREFIX, Invoice, PretaxCredit};
use cashbox_core::billing::subscription::Subscription;
use cashbox_core::clock::TestClock;
use cashbox_core::currency::{Currency, USD};
use cashbox_core::customer::ID_PREFIX as CUSTOMER_PREFIX;
use cashbox_core::id::{has_prefix, new_id};
use cashbox_core::metadata::Metadata;
use cashbox_core::payments::PaymentIntent;
use cashbox_core::usage::credits::{
    CREDIT_GRANT_PREFIX, CreditGrant, CreditGrantCreateParams, CreditGrantListParams,
    CreditGrantUpdateParams, GrantCategory, SPEND_LIMIT_PREFIX, SpendLimit, SpendLimitCreateParams,
    SpendLimitListParams, SpendLimitUpdateParams, TOP_UP_METADATA_KEY, UsageCheckParams, allocate,
    draw, verdict,
};
use cashbox_core::usage::{Aggregate, Meter};
use std::collections::HashMap;
use std::sync::Arc;

use crate::usage::usage_cache::Profile;
use cashbox_store::{CustomerRow, DocFilter, DocRow, DocTable, Tx};
use serde_json::{Value, json};

use crate::docs::Doc;
use crate::events::ListResult;
use crate::{App, AppError, AppResult, RequestCtx};

impl Doc for CreditGrant {
    const TABLE: DocTable = DocTable::CreditGrants;
    const PREFIX: &'static str = CREDIT_GRANT_PREFIX;
    const NAME: &'static str = "billing.credit_grant";
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
        if self.voided_at.is_some() {
            "voided"
        } else {
            "available"
        }
        .into()
    }
}

impl Doc for SpendLimit {
    const TABLE: DocTable = DocTable::SpendLimits;
    const PREFIX: &'static str = SPEND_LIMIT_PREFIX;
    const NAME: &'static str = "spend_limit";
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
        "active".into()
    }
    fn parent(&self) -> Option<&str> {
        self.subscription.as_deref()
    }
}

const ENTITLING: [&str; 3] = ["trialing", "active", "past_due"];

impl App {
    /// A live customer and their time (their test clock's), read outside any transaction.
    async fn customer_now(&self, id: &str, param: &str) -> AppResult<(CustomerRow, i64)> {
        let row = match has_prefix(id, CUSTOMER_PREFIX) {
            true => self.store().customer(id).await?.filter(|c| !c.deleted),
            false => None,
        }
        .ok_or_else(|| AppError::MissingReference {
            object: "customer",
            id: id.to_string(),
            param: param.to_string(),
        })?;
        let now = match &row.test_clock {
            Some(clock) => match self.store().doc(DocTable::TestClocks, clock).await? {
                Some(r) => self.open_doc::<TestClock>(&r)?.frozen_time,
                None => self.now(),
            },
            None => self.now(),
        };
        Ok((row, now))
    }

    async fn insert_grant_in(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        grant: &CreditGrant,
    ) -> AppResult<()> {
        self.insert_doc(tx, grant).await?;
        tx.bump_customer_version(&grant.customer).await?;
        self.record_event(
            tx,
            ctx,
            "billing.credit_grant.created",
            &grant.to_json(),
            None,
        )
        .await
    }

    /// Grants available to `customer` at `now` in `currency`, unlocked.
    async fn available_grants(
        &self,
        rows: Vec<DocRow>,
        currency: &str,
        now: i64,
    ) -> AppResult<Vec<CreditGrant>> {
        let mut out = Vec::new();
        for row in &rows {
            let g: CreditGrant = self.open_doc(row)?;
            if g.currency == currency && g.available_at(now) {
                out.push(g);
            }
        }
        Ok(out)
    }

    /// A succeeded top-up PaymentIntent becomes a paid credit grant, in the transaction
    /// that records its success.
    pub(crate) async fn top_up_settled(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        pi: &PaymentIntent,
    ) -> AppResult<()> {
        let Some(customer) = &pi.customer else {
            return Ok(());
        };
        // The grant lives in the customer's time (their test clock's, if any), so it is
        // available at once to checks measured in that time.
        let test_clock = tx.customer(customer).await?.and_then(|r| r.test_clock);
        let now = self.time_of(tx, test_clock.as_deref()).await?;
        let grant = CreditGrant {
            id: new_id(CREDIT_GRANT_PREFIX),
            created: now,
            updated: now,
            customer: customer.clone(),
            currency: pi.currency,
            amount: pi.amount,
            remaining: pi.amount,
            category: GrantCategory::Paid,
            priority: cashbox_core::usage::credits::PRIORITY_DEFAULT,
            effective_at: now,
            expires_at: None,
            voided_at: None,
            name: Some("Top-up".into()),
            metadata: Metadata::new(),
            test_clock,
            payment_intent: Some(pi.id.clone()),
        };
        self.insert_grant_in(tx, ctx, &grant).await
    }

    /// Pays for `inv`'s metered lines from the customer's credit grants, after discounts and
    /// before tax, as Stripe applies credit grants; the grants are drawn now.
    pub(crate) async fn apply_credit_grants(
        &self,
        tx: &mut Tx,
        inv: &mut Invoice,
        now: i64,
    ) -> AppResult<()> {
        let room = inv.credit_room();
        let due: i64 = room.iter().sum();
        if due <= 0 {
            return Ok(());
        }
        let rows = tx
            .docs_by_customer(DocTable::CreditGrants, &inv.customer)
            .await?;
        let mut grants = self
            .available_grants(rows, inv.currency.as_str(), now)
            .await?;
        let drawn = draw(&mut grants, due);
        if drawn.is_empty() {
            return Ok(());
        }
        for g in grants
            .iter_mut()
            .filter(|g| drawn.iter().any(|(id, _)| *id == g.id))
        {
            g.updated = now;
            self.save_doc(tx, g).await?;
        }
        tx.bump_customer_version(&inv.customer).await?;
        for (line, pieces) in inv.lines.iter_mut().zip(allocate(&drawn, &room)) {
            for (credit_grant, amount) in pieces {
                line.pretax_credits.push(PretaxCredit {
                    credit_balance_transaction: new_id(CREDIT_BALANCE_TRANSACTION_PREFIX),
                    credit_grant,
                    amount,
                });
            }
        }
        inv.recompute().map_err(crate::billing::invoices::overflow)
    }

    /// A voided invoice gives back the credit it drew (Stripe's
    /// `credits_application_invoice_voided`), to grants that are still in force.
    pub(crate) async fn reinstate_credits(
        &self,
        tx: &mut Tx,
        inv: &Invoice,
        now: i64,
    ) -> AppResult<()> {
        let credits: Vec<&PretaxCredit> =
            inv.lines.iter().flat_map(|l| &l.pretax_credits).collect();
        if credits.is_empty() {
            return Ok(());
        }
        for c in credits {
            let mut g: CreditGrant = self.load_for_update(tx, &c.credit_grant).await?;
            g.remaining = g.remaining.saturating_add(c.amount).min(g.amount);
            g.updated = now;
            self.save_doc(tx, &g).await?;
        }
        tx.bump_customer_version(&inv.customer).await?;
        Ok(())
    }

    /// What a usage check needs about `customer`, from this process's memory while the
    /// customer's version is unchanged, else read afresh.
    async fn usage_profile(&self, customer: &str) -> AppResult<Arc<Profile>> {
        let version = self.store().customer_version(customer).await?;
        if let Some(p) = self.usage_cache().profile(customer, version) {
            return Ok(p);
        }
        let (row, _) = self.customer_now(customer, "customer").await?;
        let mut subscriptions = Vec::new();
        let mut meters = HashMap::new();
        for row in self
            .store()
            .docs_of_customer(DocTable::Subscriptions, customer, &ENTITLING)
            .await?
        {
            let sub: Subscription = self.open_doc(&row)?;
            if !sub.has_metered() {
                continue;
            }
            for meter_id in sub.items.iter().filter_map(|i| i.meter()) {
                if let Some(r) = self.store().doc(DocTable::Meters, meter_id).await? {
                    let m: Meter = self.open_doc(&r)?;
                    meters.insert(m.id.clone(), (m.event_name.clone(), m.formula));
                }
            }
            subscriptions.push(sub);
        }
        let limits = self
            .store()
            .docs_of_customer(DocTable::SpendLimits, customer, &["active"])
            .await?
            .iter()
            .map(|r| self.open_doc(r))
            .collect::<AppResult<_>>()?;
        let grants = self
            .store()
            .docs_of_customer(DocTable::CreditGrants, customer, &["available"])
            .await?
            .iter()
            .map(|r| self.open_doc(r))
            .collect::<AppResult<_>>()?;
        let profile = Profile {
            version,
            test_clock: row.test_clock,
            subscriptions,
            limits,
            grants,
            meters,
        };
        Ok(self.usage_cache().set_profile(customer, profile))
    }

    /// `customer`'s usage of `meter` from `from` on: from memory, loaded once.
    async fn cached_usage(&self, meter: &str, customer: &str, from: i64) -> AppResult<Aggregate> {
        let cache = self.usage_cache();
        if let Some(a) = cache.usage(meter, customer, from) {
            return Ok(a);
        }
        cache.begin_load(meter, customer);
        match self.store().usage_since(meter, customer, from).await {
            Ok(rows) => Ok(cache.finish_load(meter, customer, from, &rows)),
            Err(e) => {
                cache.forget_usage(meter, customer);
                cache.finish_load(meter, customer, from, &[]);
                Err(e.into())
            }
        }
    }

    /// Whether a PaymentIntent is a top-up.
    pub(crate) fn is_top_up(pi: &PaymentIntent) -> bool {
        pi.metadata.get(TOP_UP_METADATA_KEY).map(String::as_str) == Some("true")
    }
}

crate::service!(
    CreditGrants,
    credit_grants,
    "Credit grants and the balance they make."
);

impl CreditGrants<'_> {
    pub async fn create(&self, ctx: &RequestCtx, p: CreditGrantCreateParams) -> AppResult<Value> {
        let customer = p
            .customer
            .clone()
            .ok_or_else(|| ParamError::missing("customer"))?;
        let (row, now) = self.customer_now(&customer, "customer").await?;
        let grant = CreditGrant::new(new_id(CREDIT_GRANT_PREFIX), now, &p, row.test_clock)?;
        let mut tx = self.store().begin().await?;
        self.insert_grant_in(&mut tx, ctx, &grant).await?;
        self.finish(tx, ctx, grant.to_json(), &[]).await
    }

    pub async fn retrieve(&self, id: &str) -> AppResult<Value> {
        self.retrieve_doc(id, &[], CreditGrant::to_json).await
    }

    pub async fn list(&self, p: &CreditGrantListParams) -> AppResult<ListResult> {
        let filter = DocFilter {
            customer: p.customer.clone(),
            ..DocFilter::default()
        };
        self.list_docs::<CreditGrant>(&filter, &p.page()?, &[], CreditGrant::to_json)
            .await
    }

    /// Updates a grant's expiry or metadata; `expire` and `void` end it now.
    pub async fn change(
        &self,
        ctx: &RequestCtx,
        id: &str,
        p: Option<CreditGrantUpdateParams>,
        action: &str,
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut g: CreditGrant = self.load_for_update(&mut tx, id).await?;
        let now = self.time_of(&mut tx, g.test_clock.as_deref()).await?;
        let before = g.to_json();
        if g.voided_at.is_some() {
            return Err(ParamError::new(
                "",
                "credit_grant_voided",
                format!("Credit grant {id} is void."),
            )
            .into());
        }
        match action {
            "void" => g.voided_at = Some(now),
            "expire" => g.expires_at = Some(now),
            _ => {
                let p = p.unwrap_or_default();
                if let Some(e) = p.expires_at {
                    if e <= g.effective_at {
                        return Err(ParamError::invalid(
                            "expires_at",
                            "expires_at must be after effective_at.",
                        )
                        .into());
                    }
                    g.expires_at = Some(e);
                }
                if let Some(m) = &p.metadata {
                    g.metadata = m.apply(&g.metadata)?;
                }
            }
        }
        g.updated = now;
        self.save_doc(&mut tx, &g).await?;
        tx.bump_customer_version(&g.customer).await?;
        self.finish_update(
            tx,
            ctx,
            &g,
            (&before, g.to_json()),
            "billing.credit_grant.updated",
            &[],
        )
        .await
    }

    /// `GET /v1/billing/credit_balance_summary`: what the customer's grants hold now.
    pub async fn balance_summary(&self, customer: &str) -> AppResult<Value> {
        let (_, now) = self.customer_now(customer, "customer").await?;
        let rows = self
            .store()
            .docs_of_customer(DocTable::CreditGrants, customer, &["available"])
            .await?;
        let mut by_currency: std::collections::BTreeMap<Currency, (i64, i64)> = Default::default();
        for row in &rows {
            let g: CreditGrant = self.open_doc(row)?;
            if g.voided_at.is_some() || g.expires_at.is_some_and(|e| e <= now) {
                continue;
            }
            let e = by_currency.entry(g.currency).or_default();
            e.1 += g.remaining;
            if g.effective_at <= now {
                e.0 += g.remaining;
            }
        }
        let balances: Vec<Value> = by_currency
            .iter()
            .map(|(c, (available, ledger))| {
                json!({
                    "available_balance": {"monetary": {"currency": c, "value": available}, "type": "monetary"},
                    "ledger_balance": {"monetary": {"currency": c, "value": ledger}, "type": "monetary"},
                })
            })
            .collect();
        Ok(json!({
            "object": "billing.credit_balance_summary",
            "balances": balances,
            "customer": customer,
            "livemode": false,
        }))
    }
}

crate::service!(
    SpendLimits,
    spend_limits,
    "Spend limits and the usage check."
);

impl SpendLimits<'_> {
    pub async fn create(&self, ctx: &RequestCtx, p: SpendLimitCreateParams) -> AppResult<Value> {
        let limit = SpendLimit::new(new_id(SPEND_LIMIT_PREFIX), self.now(), &p)?;
        self.customer_now(&limit.customer, "customer").await?;
        if let Some(sub_id) = &limit.subscription {
            let sub: Subscription =
                self.load(sub_id)
                    .await
                    .map_err(|_| AppError::MissingReference {
                        object: "subscription",
                        id: sub_id.clone(),
                        param: "subscription".into(),
                    })?;
            if sub.customer != limit.customer || sub.currency != limit.currency {
                return Err(ParamError::invalid(
                    "subscription",
                    "The subscription must belong to the customer and bill in the limit's currency.",
                )
                .into());
            }
        }
        let mut tx = self.store().begin().await?;
        for row in tx
            .docs_by_customer(DocTable::SpendLimits, &limit.customer)
            .await?
        {
            let other: SpendLimit = self.open_doc(&row)?;
            if other.subscription == limit.subscription {
                return Err(ParamError::new(
                    "customer",
                    "resource_already_exists",
                    format!(
                        "{} already has this spend limit: update {}.",
                        limit.customer, other.id
                    ),
                )
                .into());
            }
        }
        self.insert_doc(&mut tx, &limit).await?;
        tx.bump_customer_version(&limit.customer).await?;
        self.finish(tx, ctx, limit.to_json(), &[]).await
    }

    pub async fn retrieve(&self, id: &str) -> AppResult<Value> {
        self.retrieve_doc(id, &[], SpendLimit::to_json).await
    }

    pub async fn update(
        &self,
        ctx: &RequestCtx,
        id: &str,
        p: SpendLimitUpdateParams,
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut l: SpendLimit = self.load_for_update(&mut tx, id).await?;
        l.update(&p)?;
        self.save_doc(&mut tx, &l).await?;
        tx.bump_customer_version(&l.customer).await?;
        self.finish(tx, ctx, l.to_json(), &[]).await
    }

    pub async fn delete(&self, ctx: &RequestCtx, id: &str) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let l: SpendLimit = self.load_for_update(&mut tx, id).await?;
        tx.delete_doc(DocTable::SpendLimits, &l.id).await?;
        tx.bump_customer_version(&l.customer).await?;
        let response = json!({"id": l.id, "object": "spend_limit", "deleted": true});
        self.commit_response(tx, ctx, 200, &response).await?;
        Ok(response)
    }

    pub async fn list(&self, p: &SpendLimitListParams) -> AppResult<ListResult> {
        let filter = DocFilter {
            customer: p.customer.clone(),
            ..DocFilter::default()
        };
        self.list_docs::<SpendLimit>(&filter, &p.page()?, &[], SpendLimit::to_json)
            .await
    }

    /// The usage check: would `quantity` more units on `event_name`'s meter fit the
    /// customer's (or subscription's) spend limit this period? Answered from memory (see
    /// `usage_cache`): one version read, plus the clock for a customer on a test clock.
    pub async fn check(&self, p: &UsageCheckParams) -> AppResult<Value> {
        let customer = p
            .customer
            .clone()
            .ok_or_else(|| ParamError::missing("customer"))?;
        let quantity = p.quantity.unwrap_or(0);
        if quantity < 0 {
            return Err(
                ParamError::invalid("quantity", "Invalid quantity: must be at least 0").into(),
            );
        }
        let profile = self.usage_profile(&customer).await?;
        let now = match &profile.test_clock {
            Some(clock) => match self.store().doc(DocTable::TestClocks, clock).await? {
                Some(r) => self.open_doc::<TestClock>(&r)?.frozen_time,
                None => self.now(),
            },
            None => self.now(),
        };
        let meter = match &p.event_name {
            Some(name) => {
                let known = profile
                    .meters
                    .iter()
                    .find(|(_, (n, _))| n == name)
                    .map(|(id, _)| id.clone());
                match known {
                    Some(id) => Some(id),
                    None => Some(self.store().meter_for_event(name).await?.ok_or_else(|| {
                        ParamError::new(
                            "event_name",
                            "resource_missing",
                            format!("No meter was found for event_name {name}."),
                        )
                    })?),
                }
            }
            None => None,
        };
        let limit = p
            .subscription
            .as_ref()
            .and_then(|s| {
                profile
                    .limits
                    .iter()
                    .find(|l| l.subscription.as_ref() == Some(s))
            })
            .or_else(|| profile.limits.iter().find(|l| l.subscription.is_none()));
        let subs: Vec<&Subscription> = profile
            .subscriptions
            .iter()
            .filter(|s| p.subscription.as_ref().is_none_or(|id| *id == s.id))
            .collect();
        let currency = limit
            .map(|l| l.currency)
            .or_else(|| subs.first().map(|s| s.currency))
            .unwrap_or(USD);
        let (mut used, mut cost) = (0i64, 0i64);
        let mut period: Option<(i64, i64)> = None;
        for sub in subs.iter().filter(|s| s.currency == currency) {
            period.get_or_insert((sub.current_period_start, sub.current_period_end));
            for item in sub.items.iter().filter(|i| i.is_metered()) {
                let Some(meter_id) = item.meter() else {
                    continue;
                };
                let Some((_, formula)) = profile.meters.get(meter_id) else {
                    continue;
                };
                let so_far = self
                    .cached_usage(meter_id, &customer, sub.current_period_start)
                    .await?
                    .quantity(*formula);
                let rate = |q: u64| {
                    cashbox_core::billing::price_amount(&item.price, currency, q)
                        .map_err(|e| AppError::Corrupt(format!("{}: {e}", sub.id)))
                };
                let now_cost = rate(so_far)?;
                used = used.saturating_add(now_cost);
                if meter.as_deref() == Some(meter_id) && quantity > 0 {
                    let more = so_far.saturating_add(quantity as u64);
                    cost = cost.saturating_add(rate(more)? - now_cost);
                }
            }
        }
        let credit: i64 = profile
            .grants
            .iter()
            .filter(|g| g.currency == currency && g.available_at(now))
            .map(|g| g.remaining)
            .sum();
        let v = verdict(used, cost, credit, limit);
        Ok(json!({
            "object": "usage_check",
            "customer": customer,
            "allowed": v.allowed,
            "reason": v.reason,
            "used": v.used,
            "cost": v.cost,
            "limit": v.limit,
            "credit_balance": v.credit_balance,
            "remaining": v.remaining,
            "currency": currency,
            "behavior": limit.map(|l| l.behavior),
            "period_start": period.map(|p| p.0),
            "period_end": period.map(|p| p.1),
        }))
    }
}
