//! Subscriptions: create (trials, anchors, discounts, payment behaviors), update (items with
//! proration, cancellation at period end, pauses, trials ended early), cancel, resume, list,
//! and the upcoming-invoice preview. What falls due later (renewals, trial ends, dunning) is
//! run by [`crate::billing::billing_run`].

use std::collections::HashMap;

use cashbox_core::ParamError;
use cashbox_core::billing::invoice::{
    CollectionMethod, INVOICE_PREFIX, Invoice, InvoiceItem, InvoiceStatus, LineDraft,
};
use cashbox_core::billing::subscription::change::{
    FirstPayment, ItemRefs, NewSubscription, UpdateRefs, apply_item_params, check_item_params,
    check_items,
};
use cashbox_core::billing::subscription::{
    ItemParams, PaymentBehavior, PreviewParams, ProrationBehavior, SUBSCRIPTION_PREFIX, SubStatus,
    Subscription, SubscriptionCancelParams, SubscriptionCreateParams, SubscriptionItem,
    SubscriptionItemCreateParams, SubscriptionItemUpdateParams, SubscriptionListParams,
    SubscriptionResumeParams, SubscriptionUpdateParams, valid_status_filter,
};
use cashbox_core::billing::{self, prorate};
use cashbox_core::crypto::Compressed;
use cashbox_core::customer::Customer;
use cashbox_core::event::previous_attributes;
use cashbox_core::id::new_id;
use cashbox_core::money::Money;
use cashbox_store::{DocFilter, DocTable, Tx};
use serde_json::Value;

use crate::billing::invoices::{CollectNow, Redemption, balance_error, inner_ctx, overflow};
use crate::docs::Doc;
use crate::events::{ListResult, Shown, Snapshot};
use crate::{App, AppError, AppResult, RequestCtx};

impl Doc for Subscription {
    const TABLE: DocTable = DocTable::Subscriptions;
    const PREFIX: &'static str = SUBSCRIPTION_PREFIX;
    const NAME: &'static str = "subscription";
    fn search_entry(&self) -> Option<cashbox_core::search::Entry> {
        Some(cashbox_core::search::Searchable::search_entry(self))
    }
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
        self.status.as_str().into()
    }
    /// The test clock it lives in, for listing by clock.
    fn parent(&self) -> Option<&str> {
        self.test_clock.as_deref()
    }
}

fn name_of(names: &HashMap<String, String>) -> impl Fn(&str) -> String + '_ {
    move |p: &str| names.get(p).cloned().unwrap_or_else(|| p.to_string())
}

fn rating(e: billing::RatingError) -> AppError {
    ParamError::invalid("items", e.to_string()).into()
}

impl App {
    pub(crate) fn render_subscription(&self, s: &Subscription) -> Value {
        s.to_json(self.now())
    }

    /// Saves the subscription and when its next work falls due.
    pub(crate) async fn save_subscription(&self, tx: &mut Tx, s: &Subscription) -> AppResult<()> {
        self.save_subscription_keeping(tx, s).await.map(drop)
    }

    /// [`App::save_subscription`], returning the subscription's compressed form for events
    /// that show it.
    pub(crate) async fn save_subscription_keeping(
        &self,
        tx: &mut Tx,
        s: &Subscription,
    ) -> AppResult<Compressed> {
        let (row, doc) = self.seal_doc_keeping(s);
        tx.update_due_doc(
            DocTable::Subscriptions,
            &row,
            s.due_at(),
            s.test_clock.as_deref(),
        )
        .await?;
        // What a usage check knows of the customer changes with its subscriptions.
        tx.bump_customer_version(&s.customer).await?;
        // Its status or items may change what the customer is entitled to.
        if tx.any_product_features().await? {
            let now = self.time_of(tx, s.test_clock.as_deref()).await?;
            self.announce_entitlements(tx, &s.customer, now).await?;
        }
        Ok(doc)
    }

    /// Indexes the subscription's items (after they change).
    async fn index_items(&self, tx: &mut Tx, s: &Subscription) -> AppResult<()> {
        let items: Vec<(String, String)> = s
            .items
            .iter()
            .map(|i| (i.id.clone(), i.price.id.clone()))
            .collect();
        tx.save_subscription_items(&s.id, &items).await?;
        Ok(())
    }

    /// Loads what `items[]` entries name: each entry's price and tax rates.
    async fn item_refs(&self, tx: &mut Tx, params: &[ItemParams]) -> AppResult<Vec<ItemRefs>> {
        let mut refs = Vec::with_capacity(params.len());
        for (i, ip) in params.iter().enumerate() {
            if ip.deleted == Some(true) {
                refs.push(ItemRefs::default());
                continue;
            }
            let price = match ip.price_id() {
                Some(p) => Some(
                    self.price_named(tx, p, &format!("items[{i}][price]"))
                        .await?,
                ),
                None => None,
            };
            let tax_rates = match &ip.tax_rates {
                Some(ids) => Some(
                    self.tax_rates_named(tx, ids, &format!("items[{i}][tax_rates]"))
                        .await?,
                ),
                None => None,
            };
            refs.push(ItemRefs { price, tax_rates });
        }
        Ok(refs)
    }

    /// The default payment method a subscription's parameters name, checked for the customer.
    async fn default_payment_method(
        &self,
        tx: &mut Tx,
        pm: &str,
        customer: &str,
    ) -> AppResult<String> {
        Ok(self
            .payment_method_for_use(tx, pm, Some(customer), "default_payment_method")
            .await?
            .id)
    }

    /// Makes, saves and finalizes an invoice for `sub`: pending items of the subscription
    /// (prorations) first, then `lines`. Returns it as saved.
    #[allow(clippy::too_many_arguments)]
    async fn subscription_invoice(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        sub: &mut Subscription,
        customer: &Customer,
        reason: &str,
        lines: Vec<LineDraft>,
        period: (i64, i64),
        now: i64,
        invoice_id: Option<String>,
        collect: Option<&mut CollectNow>,
    ) -> AppResult<Invoice> {
        let mut inv = self.new_invoice(now, customer, sub.currency, reason);
        if let Some(id) = invoice_id {
            inv.id = id;
        }
        inv.subscription = Some(sub.id.clone());
        inv.collection_method = sub.collection_method;
        inv.days_until_due = sub.days_until_due;
        inv.default_tax_rates = sub.default_tax_rates.clone();
        inv.discounts = sub
            .discounts
            .iter()
            .filter(|d| d.applies_at(now))
            .cloned()
            .collect();
        inv.period_start = period.0;
        inv.period_end = period.1;
        let pending = self.pending_items(tx, &sub.customer, Some(&sub.id)).await?;
        self.take_items(tx, &mut inv, pending).await?;
        Self::push_lines(&mut inv, lines);
        inv.recompute().map_err(overflow)?;
        // The customer's credit grants pay for metered usage first.
        self.apply_credit_grants(tx, &mut inv, now).await?;
        let paused = sub
            .pause_collection
            .filter(|_| reason == "subscription_cycle");
        match paused.map(|p| p.behavior) {
            None => {
                // The usual case: finalized before it is written, so it is written once,
                // and its finalized events show it as written.
                let draft = self.snapshot_of(&inv);
                let shown = Shown::new(Snapshot::Invoice, &inv.id, &draft);
                self.record_snapshot(tx, ctx, &["invoice.created"], shown);
                let row = self
                    .finalize_sealed(tx, ctx, &mut inv, now, collect)
                    .await?;
                let (due, clock) = (inv.work_due_at(), inv.test_clock.as_deref());
                tx.insert_due_doc(DocTable::Invoices, &row, due, clock)
                    .await?;
            }
            Some(cashbox_core::billing::subscription::PauseBehavior::KeepAsDraft) => {
                inv.auto_advance = false;
                self.insert_invoice(tx, ctx, &inv).await?;
            }
            Some(behavior) => {
                self.insert_invoice(tx, ctx, &inv).await?;
                self.finalize_in(tx, ctx, &mut inv, now).await?;
                self.save_invoice(tx, &inv).await?;
                if inv.status == InvoiceStatus::Open {
                    let to = match behavior {
                        cashbox_core::billing::subscription::PauseBehavior::Void => {
                            InvoiceStatus::Void
                        }
                        _ => InvoiceStatus::Uncollectible,
                    };
                    self.close_in(tx, ctx, &mut inv, to, now).await?;
                }
            }
        }
        // A `once` coupon is spent by the first invoice it takes something off; a `repeating`
        // one whose months are over leaves the subscription, as Stripe removes it.
        let used: Vec<&String> = inv
            .total_discount_amounts
            .iter()
            .filter(|(_, a)| *a != 0)
            .map(|(d, _)| d)
            .collect();
        sub.discounts.retain(|d| {
            let spent = d.coupon.duration == cashbox_core::billing::discounts::Duration::Once
                && used.contains(&&d.id);
            d.applies_at(now) && !spent
        });
        sub.latest_invoice = Some(inv.id.clone());
        Ok(inv)
    }

    /// The invoice for `sub`'s period `[start, end)` (a renewal, a trial's zero invoice, the
    /// first period), guarded so that a period is invoiced once.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn period_invoice(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        sub: &mut Subscription,
        customer: &Customer,
        reason: &str,
        (start, end): (i64, i64),
        trial: bool,
        now: i64,
        collect: Option<&mut CollectNow>,
    ) -> AppResult<Option<Invoice>> {
        let names = self
            .product_names(tx, sub.items.iter().map(|i| &i.price))
            .await?;
        let mut lines = sub
            .period_lines(start, end, &name_of(&names), trial)
            .map_err(rating)?;
        // A first period that ends at a later billing cycle anchor is charged for its part of
        // a full cycle.
        if !trial
            && reason == "subscription_create"
            && let Some((interval, count)) = sub.interval()
            && let Some(full_start) = billing::step_back(end, interval, count)
            && full_start < start
        {
            for l in &mut lines {
                l.amount = prorate(l.amount, (full_start, end), start, end).unwrap_or(l.amount);
            }
        }
        let invoice_id = new_id(INVOICE_PREFIX);
        if !tx.claim_period(&sub.id, start, &invoice_id).await? {
            return Ok(None);
        }
        // A renewal bills the ending period's usage in arrears: the metered items' lines
        // (nothing in advance) give way to what their usage costs.
        let closing_trial = sub.trial_end == Some(start);
        if reason == "subscription_cycle" && sub.has_metered() && closing_trial {
            // Usage during a trial is free, as in Stripe: closed without being billed.
            for meter in sub.items.iter().filter_map(|i| i.meter()) {
                tx.lock_usage(meter, &sub.customer, true).await?;
                tx.set_usage_billed_through(meter, &sub.customer, start)
                    .await?;
            }
        } else if reason == "subscription_cycle" && sub.has_metered() {
            let usage = self
                .usage_lines(tx, sub, (sub.current_period_start, start), &name_of(&names))
                .await?;
            let metered: Vec<&str> = sub
                .items
                .iter()
                .filter(|i| i.is_metered())
                .map(|i| i.id.as_str())
                .collect();
            lines.retain(|l| {
                l.subscription_item
                    .as_deref()
                    .is_none_or(|i| !metered.contains(&i))
            });
            lines.extend(usage);
        }
        let period = match reason {
            "subscription_cycle" => (sub.current_period_start, start),
            _ => (now, now),
        };
        let inv = self
            .subscription_invoice(
                tx,
                ctx,
                sub,
                customer,
                reason,
                lines,
                period,
                now,
                Some(invoice_id),
                collect,
            )
            .await?;
        Ok(Some(inv))
    }

    /// A metered subscription that ends at `end` bills its last period's usage (once: the
    /// invoice claims the period that would have started at `end`); returns the invoice.
    pub(crate) async fn final_usage_invoice(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        sub: &mut Subscription,
        customer: &Customer,
        end: i64,
        now: i64,
    ) -> AppResult<Option<Invoice>> {
        if !sub.has_metered() {
            return Ok(None);
        }
        let invoice_id = new_id(INVOICE_PREFIX);
        if !tx.claim_period(&sub.id, end, &invoice_id).await? {
            return Ok(None);
        }
        let names = self
            .product_names(tx, sub.items.iter().map(|i| &i.price))
            .await?;
        let period = (sub.current_period_start, end);
        let lines = self.usage_lines(tx, sub, period, &name_of(&names)).await?;
        let inv = self
            .subscription_invoice(
                tx,
                ctx,
                sub,
                customer,
                "subscription_cycle",
                lines,
                period,
                now,
                Some(invoice_id),
                None,
            )
            .await?;
        Ok(Some(inv).filter(|i| i.status == InvoiceStatus::Open))
    }

    /// `error_if_incomplete` and the first payment failed with `e`: nothing is left behind,
    /// the subscription ends, its invoice is void and the answer is `e`; unless something
    /// settled it since (`Ok`).
    async fn expire_unpaid(
        &self,
        ctx: &RequestCtx,
        sub_id: &str,
        inv_id: &str,
        now: i64,
        e: AppError,
    ) -> AppResult<()> {
        let ictx = inner_ctx(ctx);
        let mut tx = self.store().begin().await?;
        let mut sub: Subscription = self.load_for_update(&mut tx, sub_id).await?;
        if sub.status != SubStatus::Incomplete {
            return Ok(());
        }
        let mut inv: Invoice = self.load_for_update(&mut tx, inv_id).await?;
        sub.expire(now)?;
        self.save_subscription(&mut tx, &sub).await?;
        if inv.status == InvoiceStatus::Open {
            self.close_in(&mut tx, &ictx, &mut inv, InvoiceStatus::Void, now)
                .await?;
        }
        let body = match &e {
            AppError::Card { body } => body.clone(),
            _ => Value::Null,
        };
        self.commit_response(tx, ctx, 402, &body).await?;
        Err(e)
    }

    /// Pending proration items for changing `old` items to `new` at `at`.
    async fn prorations(
        &self,
        tx: &mut Tx,
        sub: &Subscription,
        old: &[SubscriptionItem],
        new: &[SubscriptionItem],
        at: i64,
        credit_only: bool,
    ) -> AppResult<Vec<InvoiceItem>> {
        let names = self
            .product_names(tx, old.iter().chain(new).map(|i| &i.price))
            .await?;
        let drafts = sub.proration_drafts(old, new, at, credit_only, &name_of(&names))?;
        Ok(drafts
            .into_iter()
            .map(|d| sub.pending_item(d, at))
            .collect())
    }

    /// Loads what an update's parameters name.
    async fn update_refs(
        &self,
        tx: &mut Tx,
        sub: &Subscription,
        p: &SubscriptionUpdateParams,
    ) -> AppResult<UpdateRefs> {
        let items = match &p.items {
            Some(ips) => self.item_refs(tx, ips).await?,
            None => Vec::new(),
        };
        let default_payment_method = match &p.default_payment_method {
            Some(Some(pm)) => Some(Some(
                self.default_payment_method(tx, pm, &sub.customer).await?,
            )),
            Some(None) => Some(None),
            None => None,
        };
        let default_tax_rates = match &p.default_tax_rates {
            Some(ids) => Some(self.tax_rates_named(tx, ids, "default_tax_rates").await?),
            None => None,
        };
        Ok(UpdateRefs {
            items,
            default_payment_method,
            default_tax_rates,
        })
    }

    /// An update of the subscription `id`, answered with `respond(subscription)` (the
    /// subscription itself, or one of its items for the item endpoints).
    async fn change_subscription(
        &self,
        ctx: &RequestCtx,
        id: &str,
        p: SubscriptionUpdateParams,
        expand: &[Vec<String>],
        respond: &(dyn Fn(&Subscription) -> Value + Sync),
    ) -> AppResult<Value> {
        p.check()?;
        let mut tx = self.store().begin().await?;
        let mut sub: Subscription = self.load_for_update(&mut tx, id).await?;
        sub.check_update(&p)?;
        let before = self.render_subscription(&sub);
        let customer = self
            .live_customer(&mut tx, &sub.customer, "customer")
            .await?;
        let now = self.time_of(&mut tx, sub.test_clock.as_deref()).await?;
        let refs = self.update_refs(&mut tx, &sub, &p).await?;
        let update = sub.apply_update(&p, refs, now)?;
        if p.redeems_discounts() {
            let order = sub.order_amount()?;
            let discounts = self
                .redeem_discounts(
                    &mut tx,
                    &Redemption {
                        customer: &sub.customer,
                        now,
                        order: Some((order, sub.currency.as_str())),
                    },
                    p.coupon.as_ref().and_then(|c| c.as_deref()),
                    p.promotion_code.as_deref(),
                    p.discounts.as_deref(),
                )
                .await?;
            sub.set_discounts(discounts);
        }
        let pending = match &update.proration {
            Some(pr) => {
                self.prorations(&mut tx, &sub, &pr.old, &sub.items, pr.at, pr.credit_only)
                    .await?
            }
            None => Vec::new(),
        };
        for item in &pending {
            self.insert_doc(&mut tx, item).await?;
            self.record_event(&mut tx, ctx, "invoiceitem.created", &item.to_json(), None)
                .await?;
        }
        let ictx = inner_ctx(ctx);
        let reason = "subscription_update";
        let mut to_collect = if update.restart.is_some() {
            self.start_period(&mut tx, &ictx, &mut sub, &customer, now, reason)
                .await?
        } else if update.invoice_prorations && !pending.is_empty() {
            let period = (sub.current_period_start, sub.current_period_end);
            let inv = self
                .subscription_invoice(
                    &mut tx,
                    &ictx,
                    &mut sub,
                    &customer,
                    reason,
                    Vec::new(),
                    period,
                    now,
                    None,
                    None,
                )
                .await?;
            (inv.status == InvoiceStatus::Open).then(|| inv.id.clone())
        } else {
            None
        };
        if update.new_payment_method && sub.awaits_payment() && to_collect.is_none() {
            // A payment method added while payments are failing is tried at once.
            to_collect = sub.latest_invoice.clone();
        }
        self.save_subscription(&mut tx, &sub).await?;
        self.index_items(&mut tx, &sub).await?;
        let object = self.render_subscription(&sub);
        let previous = previous_attributes(&before, &object);
        if previous.is_some() {
            self.record_event(
                &mut tx,
                ctx,
                "customer.subscription.updated",
                &object,
                previous,
            )
            .await?;
        }
        let to_collect =
            to_collect.filter(|_| sub.collection_method == CollectionMethod::ChargeAutomatically);
        if to_collect.is_some() {
            self.commit_provisional(tx, ctx, &respond(&sub)).await?;
        } else {
            self.commit_response(tx, ctx, 200, &respond(&sub)).await?;
        }
        if let Some(inv) = to_collect {
            let failed = self
                .collect_invoice(ctx, &inv, None, p.off_session.unwrap_or(true))
                .await?;
            if let Some(e) = failed
                && p.payment_behavior == Some(PaymentBehavior::ErrorIfIncomplete)
            {
                return Err(e);
            }
        }
        let sub: Subscription = self.load(&sub.id).await?;
        let tx = self.store().begin().await?;
        self.finish(tx, ctx, respond(&sub), expand).await
    }

    /// Starts a new period at `now` (anchor reset, trial ended, resumed): invoices it with any
    /// pending prorations. Returns the invoice to collect, if one is open.
    pub(crate) async fn start_period(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        sub: &mut Subscription,
        customer: &Customer,
        now: i64,
        reason: &str,
    ) -> AppResult<Option<String>> {
        let period = sub.restart_period(now)?;
        let inv = self
            .period_invoice(tx, ctx, sub, customer, reason, period, false, now, None)
            .await?;
        Ok(inv
            .filter(|i| i.status == InvoiceStatus::Open)
            .map(|i| i.id))
    }

    /// A subscription whose invoice was paid: out of `incomplete`, `past_due` or `unpaid`.
    /// One of the subscription's invoices was paid: the subscription is settled and, with
    /// `save_default_payment_method=on_subscription`, the card the customer paid with
    /// (`customer_card`: a payment the customer was present for) becomes its default.
    pub(crate) async fn subscription_paid(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        id: &str,
        customer_card: Option<&str>,
    ) -> AppResult<()> {
        let unsettled = [SubStatus::Incomplete, SubStatus::PastDue, SubStatus::Unpaid];
        let row = tx
            .doc_for_update(DocTable::Subscriptions, id)
            .await?
            .ok_or_else(|| AppError::not_found("subscription", id))?;
        // Most payments are of an active subscription's renewal, charged off-session to the
        // card on file: its plain status column (written from the document at every save)
        // says there is nothing to do without opening the document.
        if !unsettled.iter().any(|s| s.as_str() == row.status) && customer_card.is_none() {
            return Ok(());
        }
        let mut sub: Subscription = self.open_doc(&row)?;
        let before = self.render_subscription(&sub);
        if unsettled.contains(&sub.status) {
            sub.transition(SubStatus::Active)?;
        }
        sub.payment_made_with(customer_card);
        let object = self.render_subscription(&sub);
        if object == before {
            return Ok(());
        }
        self.save_subscription(tx, &sub).await?;
        let previous = previous_attributes(&before, &object);
        self.record_event(tx, ctx, "customer.subscription.updated", &object, previous)
            .await
    }

    /// The invoice `sub` would get at its period end (with `extra` pending items), unsaved.
    pub(crate) async fn build_preview(
        &self,
        tx: &mut Tx,
        sub: &Subscription,
        customer: &Customer,
        extra: Vec<InvoiceItem>,
    ) -> AppResult<Invoice> {
        let at = sub.current_period_end;
        let start = at;
        let end = sub.period_end_after(at).unwrap_or(at);
        let names = self
            .product_names(tx, sub.items.iter().map(|i| &i.price))
            .await?;
        let lines = sub
            .period_lines(start, end, &name_of(&names), false)
            .map_err(rating)?;
        let mut inv = self.new_invoice(at, customer, sub.currency, "upcoming");
        inv.id = format!("upcoming_{}", sub.id);
        inv.subscription = Some(sub.id.clone());
        inv.collection_method = sub.collection_method;
        inv.default_tax_rates = sub.default_tax_rates.clone();
        inv.discounts = sub
            .discounts
            .iter()
            .filter(|d| d.applies_at(at))
            .cloned()
            .collect();
        inv.period_start = sub.current_period_start;
        inv.period_end = at;
        let mut pending = self.pending_items(tx, &sub.customer, Some(&sub.id)).await?;
        pending.extend(extra);
        for item in &pending {
            inv.push_line(format!("il_tmp_{}", item.id), item.line_draft());
        }
        for l in lines {
            inv.push_line(new_id("il_tmp"), l);
        }
        inv.recompute().map_err(overflow)?;
        let balance = Money::new(customer.balance, customer.currency.unwrap_or(inv.currency));
        let (due, _) =
            billing::apply_balance(inv.total_amount(), balance).map_err(balance_error)?;
        let due = due.amount_minor();
        inv.starting_balance = customer.balance;
        inv.amount_due = due;
        inv.amount_remaining = due;
        inv.next_payment_attempt =
            (sub.collection_method == CollectionMethod::ChargeAutomatically).then_some(at);
        Ok(inv)
    }
}

crate::service!(
    Subscriptions,
    subscriptions,
    "Subscriptions, and the upcoming invoice of one."
);

impl Subscriptions<'_> {
    pub async fn create(
        &self,
        ctx: &RequestCtx,
        mut p: SubscriptionCreateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        p.check()?;
        self.mirror_param(&mut p.default_payment_method).await?;
        let customer_id = p.customer.as_deref().unwrap_or_default();
        let item_params = p.items.as_deref().unwrap_or_default();
        let behavior = p
            .payment_behavior
            .unwrap_or(PaymentBehavior::AllowIncomplete);

        let mut tx = self.store().begin().await?;
        let customer = self.live_customer(&mut tx, customer_id, "customer").await?;
        let now = self
            .time_of(&mut tx, customer.test_clock.as_deref())
            .await?;
        let refs = self.item_refs(&mut tx, item_params).await?;
        let mut items = Vec::new();
        apply_item_params(&mut items, item_params, refs, now)?;
        let default_payment_method = match &p.default_payment_method {
            Some(pm) => Some(
                self.default_payment_method(&mut tx, pm, &customer.id)
                    .await?,
            ),
            None => None,
        };
        let default_tax_rates = match &p.default_tax_rates {
            Some(ids) => {
                self.tax_rates_named(&mut tx, ids, "default_tax_rates")
                    .await?
            }
            None => Vec::new(),
        };
        let new = NewSubscription {
            id: new_id(SUBSCRIPTION_PREFIX),
            customer: customer.id.clone(),
            test_clock: customer.test_clock.clone(),
            items,
            default_payment_method,
            default_tax_rates,
        };
        let mut sub = Subscription::create(&p, new, now)?;
        let order = sub.order_amount()?;
        let discounts = self
            .redeem_discounts(
                &mut tx,
                &Redemption {
                    customer: &customer.id,
                    now,
                    order: Some((order, sub.currency.as_str())),
                },
                p.coupon.as_deref(),
                p.promotion_code.as_deref(),
                p.discounts.as_deref(),
            )
            .await?;
        sub.set_discounts(discounts);
        let period = (sub.current_period_start, sub.current_period_end);
        let trial = sub.status == SubStatus::Trialing;
        // The subscription row must exist before its invoice names it.
        self.insert_doc(&mut tx, &sub).await?;
        let inv = self
            .period_invoice(
                &mut tx,
                ctx,
                &mut sub,
                &customer,
                "subscription_create",
                period,
                trial,
                now,
                None,
            )
            .await?
            .ok_or_else(|| {
                AppError::Corrupt(format!("{}: its first period was already invoiced", sub.id))
            })?;
        let first = sub.first_invoice_made(inv.status == InvoiceStatus::Paid, behavior)?;
        if first == FirstPayment::ByCustomer {
            // The customer pays through the invoice's PaymentIntent (its client_secret).
            let mut inv = inv.clone();
            let pi =
                self.invoice_payment_intent(&inv, sub.payment_settings.three_d_secure(), now)?;
            self.insert_doc(&mut tx, &pi).await?;
            self.record_event(&mut tx, ctx, "payment_intent.created", &pi.to_json(), None)
                .await?;
            inv.payment_intent = Some(pi.id.clone());
            inv.next_payment_attempt = None;
            self.save_invoice(&mut tx, &inv).await?;
        }
        self.save_subscription(&mut tx, &sub).await?;
        self.index_items(&mut tx, &sub).await?;
        let object = self.render_subscription(&sub);
        self.record_event(&mut tx, ctx, "customer.subscription.created", &object, None)
            .await?;
        if first != FirstPayment::Collect {
            self.commit_response(tx, ctx, 200, &object).await?;
        } else {
            self.commit_provisional(tx, ctx, &object).await?;
            let failed = self
                .collect_invoice(ctx, &inv.id, None, p.off_session.unwrap_or(false))
                .await?;
            if let Some(e) = failed
                && behavior == PaymentBehavior::ErrorIfIncomplete
            {
                self.expire_unpaid(ctx, &sub.id, &inv.id, now, e).await?;
            }
        }
        let sub: Subscription = self.load(&sub.id).await?;
        let tx = self.store().begin().await?;
        self.finish(tx, ctx, self.render_subscription(&sub), expand)
            .await
    }

    pub async fn retrieve(&self, id: &str, expand: &[Vec<String>]) -> AppResult<Value> {
        self.retrieve_doc(id, expand, |s: &Subscription| self.render_subscription(s))
            .await
    }

    pub async fn list(
        &self,
        p: &SubscriptionListParams,
        expand: &[Vec<String>],
    ) -> AppResult<ListResult> {
        let (status, statuses) = match p.status.as_deref() {
            Some(s) if !valid_status_filter(s) => {
                return Err(ParamError::invalid("status", format!("Invalid status: {s}")).into());
            }
            Some("all") => (None, None),
            Some("ended") => (
                None,
                Some(vec!["canceled".into(), "incomplete_expired".into()]),
            ),
            Some(s) => (Some(s.to_string()), None),
            None => (
                None,
                Some(
                    [
                        "incomplete",
                        "incomplete_expired",
                        "trialing",
                        "active",
                        "past_due",
                        "unpaid",
                        "paused",
                    ]
                    .map(String::from)
                    .to_vec(),
                ),
            ),
        };
        let filter = DocFilter {
            customer: p.customer.clone(),
            parent: p.test_clock.clone(),
            status,
            statuses,
            price: p.price.clone(),
            created: p.created.unwrap_or_default(),
            ..DocFilter::default()
        };
        let mut page = self
            .list_docs::<Subscription>(&filter, &p.page()?, expand, |s| self.render_subscription(s))
            .await?;
        if let Some(c) = p.collection_method {
            let want = serde_json::to_value(c).unwrap_or_default();
            page.data.retain(|s| s["collection_method"] == want);
        }
        Ok(page)
    }

    pub async fn update(
        &self,
        ctx: &RequestCtx,
        id: &str,
        mut p: SubscriptionUpdateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        if let Some(default) = &mut p.default_payment_method {
            self.mirror_param(default).await?;
        }
        self.change_subscription(ctx, id, p, expand, &|s| self.render_subscription(s))
            .await
    }

    /// Cancels at once (`DELETE /v1/subscriptions/{id}`), optionally crediting unused time
    /// (`prorate`) and invoicing what is pending (`invoice_now`).
    pub async fn cancel(
        &self,
        ctx: &RequestCtx,
        id: &str,
        p: SubscriptionCancelParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut sub: Subscription = self.load_for_update(&mut tx, id).await?;
        if sub.status.is_terminal() {
            return Err(ParamError::new(
                "",
                "resource_missing",
                format!(
                    "The subscription {id} has already ended ({}).",
                    sub.status.as_str()
                ),
            )
            .into());
        }
        let customer = self
            .live_customer(&mut tx, &sub.customer, "customer")
            .await?;
        let now = self.time_of(&mut tx, sub.test_clock.as_deref()).await?;
        let ictx = inner_ctx(ctx);
        if p.prorate == Some(true) && matches!(sub.status, SubStatus::Active | SubStatus::PastDue) {
            let old = sub.items.clone();
            for item in self.prorations(&mut tx, &sub, &old, &[], now, true).await? {
                self.insert_doc(&mut tx, &item).await?;
                self.record_event(&mut tx, &ictx, "invoiceitem.created", &item.to_json(), None)
                    .await?;
            }
        }
        let mut to_collect = None;
        if p.invoice_now == Some(true) && sub.has_metered() {
            // Stripe's invoice_now bills un-invoiced metered usage with what is pending.
            to_collect = self
                .final_usage_invoice(&mut tx, &ictx, &mut sub, &customer, now, now)
                .await?
                .map(|i| i.id);
        } else if p.invoice_now == Some(true) {
            let pending = self
                .pending_items(&mut tx, &sub.customer, Some(&sub.id))
                .await?;
            if !pending.is_empty() {
                let period = (sub.current_period_start, now);
                let inv = self
                    .subscription_invoice(
                        &mut tx,
                        &ictx,
                        &mut sub,
                        &customer,
                        "subscription_update",
                        Vec::new(),
                        period,
                        now,
                        None,
                        None,
                    )
                    .await?;
                to_collect = (inv.status == InvoiceStatus::Open).then(|| inv.id.clone());
            }
        }
        sub.cancel(now, "cancellation_requested")?;
        if let Some(d) = &p.cancellation_details {
            sub.cancellation_comment = d.comment.clone();
            sub.cancellation_feedback = d.feedback.clone();
        }
        self.save_subscription(&mut tx, &sub).await?;
        let object = self.render_subscription(&sub);
        self.record_event(&mut tx, ctx, "customer.subscription.deleted", &object, None)
            .await?;
        self.commit_response(tx, ctx, 200, &object).await?;
        if let Some(inv) = to_collect {
            self.collect_invoice(ctx, &inv, None, true).await?;
        }
        let sub: Subscription = self.load(&sub.id).await?;
        let tx = self.store().begin().await?;
        self.finish(tx, ctx, self.render_subscription(&sub), expand)
            .await
    }

    /// Resumes a paused subscription: a new period from now, invoiced.
    pub async fn resume(
        &self,
        ctx: &RequestCtx,
        id: &str,
        _p: SubscriptionResumeParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut sub: Subscription = self.load_for_update(&mut tx, id).await?;
        let before = self.render_subscription(&sub);
        let customer = self
            .live_customer(&mut tx, &sub.customer, "customer")
            .await?;
        let now = self.time_of(&mut tx, sub.test_clock.as_deref()).await?;
        sub.resume(now)?;
        let ictx = inner_ctx(ctx);
        let to_collect = self
            .start_period(
                &mut tx,
                &ictx,
                &mut sub,
                &customer,
                now,
                "subscription_update",
            )
            .await?;
        self.save_subscription(&mut tx, &sub).await?;
        let object = self.render_subscription(&sub);
        self.record_event(
            &mut tx,
            ctx,
            "customer.subscription.resumed",
            &object,
            previous_attributes(&before, &object),
        )
        .await?;
        self.commit_response(tx, ctx, 200, &object).await?;
        if let Some(inv) = to_collect {
            self.collect_invoice(ctx, &inv, None, true).await?;
        }
        let sub: Subscription = self.load(&sub.id).await?;
        let tx = self.store().begin().await?;
        self.finish(tx, ctx, self.render_subscription(&sub), expand)
            .await
    }

    /// The subscription's next invoice as it would be made at its period end, with a proposed
    /// change of items prorated at `proration_date` (or now). Nothing is written.
    pub async fn preview_invoice(&self, p: PreviewParams) -> AppResult<Value> {
        let sub_id = p
            .subscription
            .clone()
            .ok_or_else(|| ParamError::missing("subscription"))?;
        let details = p.subscription_details.unwrap_or_default();
        let items_params = details.items.or(p.subscription_items);
        let proration_date = details.proration_date.or(p.subscription_proration_date);
        let behavior = details
            .proration_behavior
            .or(p.subscription_proration_behavior)
            .unwrap_or(ProrationBehavior::CreateProrations);
        if let Some(ips) = &items_params {
            check_item_params(ips, false)?;
        }
        let mut tx = self.store().begin().await?;
        let mut sub: Subscription =
            self.find_for_update(&mut tx, &sub_id)
                .await?
                .ok_or_else(|| AppError::MissingReference {
                    object: "subscription",
                    id: sub_id.clone(),
                    param: "subscription".into(),
                })?;
        if p.customer.as_deref().is_some_and(|c| c != sub.customer) {
            return Err(ParamError::invalid(
                "customer",
                "The subscription belongs to another customer.",
            )
            .into());
        }
        if sub.status.is_terminal() {
            return Err(ParamError::new(
                "",
                "invoice_upcoming_none",
                "No upcoming invoices for a subscription that has ended.",
            )
            .into());
        }
        let customer = self
            .live_customer(&mut tx, &sub.customer, "customer")
            .await?;
        let now = self.time_of(&mut tx, sub.test_clock.as_deref()).await?;
        let mut extra: Vec<InvoiceItem> = Vec::new();
        if let Some(ips) = &items_params {
            let old = sub.items.clone();
            let mut items = sub.items.clone();
            let refs = self.item_refs(&mut tx, ips).await?;
            apply_item_params(&mut items, ips, refs, now)?;
            check_items(&items, sub.currency)?;
            if sub.bills_current_period() && behavior != ProrationBehavior::None {
                extra = self
                    .prorations(
                        &mut tx,
                        &sub,
                        &old,
                        &items,
                        proration_date.unwrap_or(now),
                        false,
                    )
                    .await?;
            }
            sub.items = items;
        }
        let inv = self.build_preview(&mut tx, &sub, &customer, extra).await?;
        drop(tx);
        let mut v = self.render_invoice(&inv);
        v["id"] = Value::Null;
        v["status"] = Value::from("draft");
        Ok(v)
    }
}

crate::service!(
    SubscriptionItems,
    subscription_items,
    "A subscription's items, each changed through its subscription."
);

impl SubscriptionItems<'_> {
    pub async fn retrieve(&self, id: &str, expand: &[Vec<String>]) -> AppResult<Value> {
        let sub_id = self
            .store()
            .subscription_of_item(id)
            .await?
            .ok_or_else(|| AppError::not_found("subscription_item", id))?;
        let sub: Subscription = self.load(&sub_id).await?;
        let item = sub
            .items
            .iter()
            .find(|i| i.id == id)
            .ok_or_else(|| AppError::not_found("subscription_item", id))?;
        let mut object = item.to_json(&sub);
        self.expand(
            &mut crate::expand::Reader::Store(self.store()),
            &mut object,
            expand,
        )
        .await?;
        Ok(object)
    }

    /// `POST /v1/subscription_items`: adds an item through an update of its subscription.
    pub async fn create(
        &self,
        ctx: &RequestCtx,
        p: SubscriptionItemCreateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let sub_id = p
            .subscription
            .clone()
            .ok_or_else(|| ParamError::missing("subscription"))?;
        let price = p
            .price
            .clone()
            .ok_or_else(|| ParamError::missing("price"))?;
        let update = SubscriptionUpdateParams {
            items: Some(vec![ItemParams {
                price: Some(price.clone()),
                quantity: p.quantity,
                tax_rates: p.tax_rates.clone(),
                metadata: p.metadata,
                ..ItemParams::default()
            }]),
            proration_behavior: p.proration_behavior,
            proration_date: p.proration_date,
            payment_behavior: p.payment_behavior,
            ..SubscriptionUpdateParams::default()
        };
        let respond = |s: &Subscription| match s.items.iter().find(|i| i.price.id == price) {
            Some(item) => item.to_json(s),
            None => Value::Null,
        };
        self.change_subscription(ctx, &sub_id, update, expand, &respond)
            .await
    }

    /// `POST /v1/subscription_items/{id}` and `DELETE`: an update of its subscription.
    pub async fn update(
        &self,
        ctx: &RequestCtx,
        id: &str,
        p: SubscriptionItemUpdateParams,
        delete: bool,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let sub_id = self
            .store()
            .subscription_of_item(id)
            .await?
            .ok_or_else(|| AppError::not_found("subscription_item", id))?;
        let update = SubscriptionUpdateParams {
            items: Some(vec![ItemParams {
                id: Some(id.to_string()),
                price: p.price.clone(),
                quantity: p.quantity,
                tax_rates: p.tax_rates.clone(),
                metadata: p.metadata,
                deleted: delete.then_some(true),
                ..ItemParams::default()
            }]),
            proration_behavior: p.proration_behavior,
            proration_date: p.proration_date,
            payment_behavior: p.payment_behavior,
            off_session: p.off_session,
            ..SubscriptionUpdateParams::default()
        };
        let item_id = id.to_string();
        let respond = move |s: &Subscription| match s.items.iter().find(|i| i.id == item_id) {
            Some(item) => item.to_json(s),
            None => {
                serde_json::json!({"id": item_id, "object": "subscription_item", "deleted": true})
            }
        };
        self.change_subscription(ctx, &sub_id, update, expand, &respond)
            .await
    }

    pub async fn list(
        &self,
        p: &cashbox_core::billing::subscription::SubscriptionItemListParams,
        _expand: &[Vec<String>],
    ) -> AppResult<ListResult> {
        let sub_id = p
            .subscription
            .as_deref()
            .ok_or_else(|| ParamError::missing("subscription"))?;
        let sub: Subscription = self.load(sub_id).await?;
        Ok(ListResult {
            data: sub.items.iter().map(|i| i.to_json(&sub)).collect(),
            has_more: false,
        })
    }
}
