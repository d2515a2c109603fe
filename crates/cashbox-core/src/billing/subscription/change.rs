//! Creating and changing a subscription: the rules, as functions of the subscription, the
//! parameters and what the parameters name (prices, tax rates, a payment method), which the
//! caller loads first. What a change sets off (prorations to invoice, a period that starts
//! again, a payment to collect) is returned for the caller to carry out.
//!
//! Parameters are checked twice over: alone (`check`, before a transaction begins), then
//! against the subscription and the time.

use crate::ParamError;
use crate::billing::catalog::Price;
use crate::billing::discounts::TaxRate;
use crate::billing::invoice::{
    CollectionMethod, Discount, INVOICE_ITEM_PREFIX, InvoiceItem, LineDraft, check_days_until_due,
    check_description,
};
use crate::billing::{self, RatingError};
use crate::currency::Currency;
use crate::id::new_id;
use crate::metadata::Metadata;
use crate::payments::apply_metadata;

use super::{
    ITEM_PREFIX, ITEMS_MAX, InvalidTransition, ItemParams, MissingPaymentMethod, PauseCollection,
    PaymentBehavior, PaymentSettings, ProrationBehavior, SaveDefaultPaymentMethod, SubStatus,
    Subscription, SubscriptionCreateParams, SubscriptionItem, SubscriptionUpdateParams,
    check_quantity, parse_trial_end, proration_lines,
};

/// The longest trial `trial_period_days` may ask for, as Stripe allows.
pub const TRIAL_DAYS_MAX: i64 = 730;
/// Days an invoice sent to be paid by the customer is due in, unless told otherwise.
pub const DAYS_UNTIL_DUE_DEFAULT: i64 = 30;

/// Why a change cannot be made. Each is one of Stripe's errors (mapped where the API's errors
/// are); none leaves anything half-changed, since nothing is stored until the change is whole.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChangeError {
    #[error(transparent)]
    Param(#[from] ParamError),
    /// `items[n][id]` names no item of this subscription.
    #[error("No such subscription item: '{id}'")]
    NoSuchItem { id: String, param: String },
    /// The change would move the subscription to a status Stripe does not allow from its own
    /// (a bug in the rules, never the client's doing).
    #[error(transparent)]
    Transition(#[from] InvalidTransition),
}

fn rating(e: RatingError) -> ParamError {
    ParamError::invalid("items", e.to_string())
}

// ---------------------------------------------------------------------------------------------
// Items

/// What an `items[]` entry names, loaded by the caller: its price and its tax rates (`None`
/// where the entry names none).
#[derive(Debug, Clone, Default)]
pub struct ItemRefs {
    pub price: Option<Price>,
    pub tax_rates: Option<Vec<TaxRate>>,
}

/// Checks `items[]` entries alone: a deletion names its item, a new item names its price,
/// quantities are not negative; a new subscription's entries are all new items.
pub fn check_item_params(params: &[ItemParams], new_subscription: bool) -> Result<(), ParamError> {
    // At most every item removed and as many added.
    if params.len() > 2 * ITEMS_MAX {
        return Err(ParamError::invalid(
            "items",
            format!("An update can name at most {} items.", 2 * ITEMS_MAX),
        ));
    }
    for (i, ip) in params.iter().enumerate() {
        let prefix = format!("items[{i}]");
        if new_subscription && (ip.id.is_some() || ip.deleted.is_some()) {
            return Err(ParamError::invalid(
                "items",
                "New subscription items take no id or deleted.",
            ));
        }
        if ip.deleted == Some(true) {
            if ip.id.is_none() {
                return Err(ParamError::missing(format!("{prefix}[id]")));
            }
            continue;
        }
        if ip.id.is_none() && ip.price_id().is_none() {
            return Err(ParamError::missing(format!("{prefix}[price]")));
        }
        check_quantity(&format!("{prefix}[quantity]"), ip.quantity)?;
    }
    Ok(())
}

/// Applies `items[]` entries to `items`: changes by `id`, removals with `deleted`, new items
/// without an id. `refs[n]` is what `params[n]` names.
pub fn apply_item_params(
    items: &mut Vec<SubscriptionItem>,
    params: &[ItemParams],
    refs: Vec<ItemRefs>,
    now: i64,
) -> Result<(), ChangeError> {
    for (i, (ip, refs)) in params.iter().zip(refs).enumerate() {
        let prefix = format!("items[{i}]");
        let idx = match &ip.id {
            Some(id) => Some(items.iter().position(|it| &it.id == id).ok_or_else(|| {
                ChangeError::NoSuchItem {
                    id: id.clone(),
                    param: format!("{prefix}[id]"),
                }
            })?),
            None => None,
        };
        if ip.deleted == Some(true) {
            let idx = idx.ok_or_else(|| ParamError::missing(format!("{prefix}[id]")))?;
            items.remove(idx);
            continue;
        }
        let quantity = format!("{prefix}[quantity]");
        match idx {
            Some(idx) => {
                let item = &mut items[idx];
                if let Some(p) = refs.price {
                    item.price = p;
                }
                if ip.quantity.is_some() {
                    item.quantity = check_quantity(&quantity, ip.quantity)?;
                }
                if let Some(t) = refs.tax_rates {
                    item.tax_rates = t;
                }
                item.metadata = apply_metadata(&item.metadata, &ip.metadata)?;
            }
            None => {
                let price = refs
                    .price
                    .ok_or_else(|| ParamError::missing(format!("{prefix}[price]")))?;
                items.push(SubscriptionItem {
                    id: new_id(ITEM_PREFIX),
                    created: now,
                    price,
                    quantity: check_quantity(&quantity, ip.quantity)?,
                    metadata: apply_metadata(&Metadata::new(), &ip.metadata)?,
                    tax_rates: refs.tax_rates.unwrap_or_default(),
                });
            }
        }
    }
    Ok(())
}

/// Checks that a set of items can be billed together: recurring, one currency, one billing
/// interval, each price once, at most [`ITEMS_MAX`].
pub fn check_items(items: &[SubscriptionItem], currency: Currency) -> Result<(), ParamError> {
    if items.is_empty() {
        return Err(ParamError::missing("items"));
    }
    if items.len() > ITEMS_MAX {
        return Err(ParamError::invalid(
            "items",
            format!("A subscription can have at most {ITEMS_MAX} items."),
        ));
    }
    let first = items[0].price.recurring.as_ref();
    for (i, item) in items.iter().enumerate() {
        let param = format!("items[{i}][price]");
        let Some(r) = &item.price.recurring else {
            return Err(ParamError::invalid(
                param,
                format!(
                    "The price {} is a one-time price; subscriptions take recurring prices. Use an invoice item for one-time charges.",
                    item.price.id
                ),
            ));
        };
        if first.is_some_and(|f| f.interval != r.interval || f.interval_count != r.interval_count) {
            return Err(ParamError::invalid(
                param,
                "All prices on a subscription must have the same recurring interval and interval_count.",
            ));
        }
        if billing::amounts_in(&item.price, currency).is_none() {
            return Err(ParamError::invalid(
                param,
                format!("The price {} has no amount in {currency}.", item.price.id),
            ));
        }
        if items[..i].iter().any(|o| o.price.id == item.price.id) {
            return Err(ParamError::invalid(
                param,
                format!(
                    "The price {} appears twice; change the item's quantity instead.",
                    item.price.id
                ),
            ));
        }
    }
    Ok(())
}

/// What a full period of `items` costs before discounts: the order a promotion code's minimum
/// is measured against.
pub fn order_amount(items: &[SubscriptionItem], currency: Currency) -> Result<i64, ParamError> {
    items.iter().try_fold(0i64, |sum, i| {
        let amount = i.period_amount(currency).map_err(rating)?;
        sum.checked_add(amount)
            .ok_or_else(|| ParamError::invalid("items", "The amounts are too large."))
    })
}

fn interval_of(items: &[SubscriptionItem]) -> Option<(crate::billing::catalog::Interval, u32)> {
    items
        .first()
        .and_then(|x| x.price.recurring.as_ref())
        .map(|r| (r.interval, r.interval_count))
}

fn days_until_due_needs_send_invoice() -> ParamError {
    ParamError::invalid(
        "days_until_due",
        "days_until_due can only be set when collection_method is send_invoice.",
    )
}

fn cancel_at_in_future(cancel_at: Option<i64>, now: i64) -> Result<(), ParamError> {
    match cancel_at {
        Some(c) if c <= now => Err(ParamError::invalid(
            "cancel_at",
            "cancel_at must be in the future.",
        )),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Creating

impl SubscriptionCreateParams {
    /// Checks what the parameters say alone, before anything is loaded.
    pub fn check(&self) -> Result<(), ParamError> {
        if self.customer.is_none() {
            return Err(ParamError::missing("customer"));
        }
        let items = self.items.as_deref().unwrap_or_default();
        if items.is_empty() {
            return Err(ParamError::missing("items"));
        }
        check_item_params(items, true)?;
        check_description(&self.description)?;
        check_days_until_due(self.days_until_due)?;
        if self.days_until_due.is_some()
            && self.collection_method != Some(CollectionMethod::SendInvoice)
        {
            return Err(days_until_due_needs_send_invoice());
        }
        if self.trial_end.is_some() && self.trial_period_days.is_some() {
            return Err(ParamError::invalid(
                "trial_end",
                "You may only specify one of these parameters: trial_end, trial_period_days.",
            ));
        }
        if let Some(days) = self.trial_period_days
            && !(0..=TRIAL_DAYS_MAX).contains(&days)
        {
            return Err(ParamError::invalid(
                "trial_period_days",
                format!("Invalid trial_period_days: must be between 0 and {TRIAL_DAYS_MAX}"),
            ));
        }
        if let Some(c) = &self.currency {
            Currency::parse("currency", c)?;
        }
        if let Some(ps) = &self.payment_settings {
            ps.check()?;
        }
        Ok(())
    }

    /// When the trial asked for ends (`None`: no trial), given the subscription's items.
    fn trial_end_at(
        &self,
        items: &[SubscriptionItem],
        now: i64,
    ) -> Result<Option<i64>, ParamError> {
        Ok(if let Some(te) = &self.trial_end {
            Some(parse_trial_end("trial_end", te, now)?).filter(|t| *t > now)
        } else if let Some(days) = self.trial_period_days {
            Some(now + days * 86_400).filter(|t| *t > now)
        } else if self.trial_from_plan == Some(true) {
            items
                .iter()
                .filter_map(|i| i.price.recurring.as_ref()?.trial_period_days)
                .max()
                .map(|d| now + i64::from(d) * 86_400)
        } else {
            None
        })
    }
}

/// What a new subscription's parameters name, loaded by the caller.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    pub id: String,
    pub customer: String,
    pub test_clock: Option<String>,
    pub items: Vec<SubscriptionItem>,
    pub default_payment_method: Option<String>,
    pub default_tax_rates: Vec<TaxRate>,
}

/// How a new subscription's first invoice gets paid, once it is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstPayment {
    /// Nothing to pay now: paid already, sent to the customer, or a trial.
    Settled,
    /// The customer confirms the invoice's PaymentIntent (`default_incomplete`).
    ByCustomer,
    /// Charged now: the subscription stays `incomplete` until the payment succeeds.
    Collect,
}

impl Subscription {
    /// A new subscription, `incomplete` (or `trialing`) with its first period set, before
    /// its discounts are redeemed ([`Subscription::set_discounts`]) and its first invoice made.
    pub fn create(
        p: &SubscriptionCreateParams,
        new: NewSubscription,
        now: i64,
    ) -> Result<Subscription, ParamError> {
        p.check()?;
        let currency = match &p.currency {
            Some(c) => Currency::parse("currency", c)?,
            None => new
                .items
                .first()
                .map(|i| i.price.currency)
                .ok_or_else(|| ParamError::missing("items"))?,
        };
        check_items(&new.items, currency)?;
        let trial_end = p.trial_end_at(&new.items, now)?;
        let anchor = match p.billing_cycle_anchor {
            Some(a) if trial_end.is_some() => {
                return Err(ParamError::invalid(
                    "billing_cycle_anchor",
                    format!("billing_cycle_anchor cannot be combined with a trial ({a})."),
                ));
            }
            Some(a) if a <= now => {
                return Err(ParamError::invalid(
                    "billing_cycle_anchor",
                    "billing_cycle_anchor must be in the future.",
                ));
            }
            Some(a) => a,
            None => trial_end.unwrap_or(now),
        };
        cancel_at_in_future(p.cancel_at, now)?;
        let collection = p
            .collection_method
            .unwrap_or(CollectionMethod::ChargeAutomatically);
        let mut sub = Subscription {
            id: new.id,
            created: now,
            customer: new.customer,
            currency,
            status: if trial_end.is_some() {
                SubStatus::Trialing
            } else {
                SubStatus::Incomplete
            },
            items: new.items,
            billing_cycle_anchor: anchor,
            current_period_start: now,
            current_period_end: now,
            start_date: now,
            trial_start: trial_end.map(|_| now),
            trial_end,
            missing_payment_method: p
                .trial_settings
                .as_ref()
                .and_then(|t| t.end_behavior.as_ref())
                .and_then(|e| e.missing_payment_method)
                .unwrap_or(MissingPaymentMethod::CreateInvoice),
            cancel_at_period_end: p.cancel_at_period_end.unwrap_or(false),
            cancel_at: p.cancel_at,
            canceled_at: None,
            ended_at: None,
            cancellation_reason: None,
            cancellation_comment: None,
            cancellation_feedback: None,
            collection_method: collection,
            days_until_due: match collection {
                CollectionMethod::SendInvoice => {
                    Some(p.days_until_due.unwrap_or(DAYS_UNTIL_DUE_DEFAULT))
                }
                CollectionMethod::ChargeAutomatically => None,
            },
            default_payment_method: new.default_payment_method,
            default_tax_rates: new.default_tax_rates,
            discounts: Vec::new(),
            latest_invoice: None,
            description: p.description.clone(),
            metadata: apply_metadata(&Metadata::new(), &p.metadata)?,
            test_clock: new.test_clock,
            pause_collection: None,
            trial_will_end_sent: false,
            upcoming_sent_for: None,
            payment_settings: match &p.payment_settings {
                Some(ps) => PaymentSettings::default().apply(ps)?,
                None => PaymentSettings::default(),
            },
        };
        sub.current_period_end = match trial_end {
            Some(t) => t,
            None => sub.period_end_after(now).ok_or_else(no_period)?,
        };
        Ok(sub)
    }

    /// What a full period of the items costs before discounts.
    pub fn order_amount(&self) -> Result<i64, ParamError> {
        order_amount(&self.items, self.currency)
    }

    /// The subscription's discounts, now redeemed for it.
    pub fn set_discounts(&mut self, mut discounts: Vec<Discount>) {
        for d in &mut discounts {
            d.subscription = Some(self.id.clone());
        }
        self.discounts = discounts;
    }

    /// After the first invoice is made (`paid` if nothing was left to pay): how it is paid,
    /// the subscription `active` if it is settled.
    pub fn first_invoice_made(
        &mut self,
        paid: bool,
        behavior: PaymentBehavior,
    ) -> Result<FirstPayment, InvalidTransition> {
        if self.status != SubStatus::Incomplete {
            return Ok(FirstPayment::Settled);
        }
        if paid || self.collection_method == CollectionMethod::SendInvoice {
            self.transition(SubStatus::Active)?;
            return Ok(FirstPayment::Settled);
        }
        Ok(match behavior {
            PaymentBehavior::DefaultIncomplete => FirstPayment::ByCustomer,
            _ => FirstPayment::Collect,
        })
    }

    /// An `incomplete` subscription whose first payment did not come: it ends at `t`.
    pub fn expire(&mut self, t: i64) -> Result<(), InvalidTransition> {
        self.transition(SubStatus::IncompleteExpired)?;
        self.ended_at = Some(t);
        Ok(())
    }

    /// Resumes a paused subscription (`POST …/resume`) at `now`: `active`, billed from `now`.
    pub fn resume(&mut self, now: i64) -> Result<(), ChangeError> {
        if self.status != SubStatus::Paused {
            return Err(ParamError::invalid(
                "",
                format!(
                    "Only a paused subscription can be resumed; this one is {}.",
                    self.status.as_str()
                ),
            )
            .into());
        }
        Ok(self.unpause(now)?)
    }

    /// A paused subscription becomes `active` again, its billing anchored at `t`.
    pub(super) fn unpause(&mut self, t: i64) -> Result<(), InvalidTransition> {
        self.transition(SubStatus::Active)?;
        self.billing_cycle_anchor = t;
        Ok(())
    }

    /// One of its invoices was paid with `payment_method`: with
    /// `save_default_payment_method=on_subscription` it becomes the default.
    pub fn payment_made_with(&mut self, payment_method: Option<&str>) {
        if self.payment_settings.save_default_payment_method
            == SaveDefaultPaymentMethod::OnSubscription
            && let Some(pm) = payment_method
        {
            self.default_payment_method = Some(pm.to_string());
        }
    }

    /// Whether its latest invoice waits for a payment that failed or was never made.
    pub fn awaits_payment(&self) -> bool {
        matches!(
            self.status,
            SubStatus::PastDue | SubStatus::Unpaid | SubStatus::Incomplete
        )
    }

    /// Whether changes to its items are prorated now (a subscription in a trial, paused or
    /// not yet paid for is not billed for its current period).
    pub fn bills_current_period(&self) -> bool {
        matches!(self.status, SubStatus::Active | SubStatus::PastDue)
    }
}

fn no_period() -> ParamError {
    ParamError::invalid("items", "The billing period cannot be computed.")
}

// ---------------------------------------------------------------------------------------------
// Updating

impl SubscriptionUpdateParams {
    /// Checks what the parameters say alone, before anything is loaded.
    pub fn check(&self) -> Result<(), ParamError> {
        check_days_until_due(self.days_until_due)?;
        if let Some(Some(d)) = &self.description {
            check_description(&Some(d.clone()))?;
        }
        if let Some(items) = &self.items {
            check_item_params(items, false)?;
        }
        if let Some(ps) = &self.payment_settings {
            ps.check()?;
        }
        if let Some(Some(pc)) = &self.pause_collection
            && pc.behavior.is_none()
        {
            return Err(ParamError::missing("pause_collection[behavior]"));
        }
        match self.billing_cycle_anchor.as_deref() {
            None | Some("unchanged" | "now") => Ok(()),
            Some(other) => Err(ParamError::invalid(
                "billing_cycle_anchor",
                format!("Invalid billing_cycle_anchor: {other}; use now or unchanged"),
            )),
        }
    }

    /// Whether it changes what is billed: an ended subscription takes only metadata and
    /// cancellation details.
    fn touches_billing(&self) -> bool {
        self.items.is_some()
            || self.trial_end.is_some()
            || self.cancel_at_period_end.is_some()
            || self.cancel_at.is_some()
            || self.pause_collection.is_some()
            || self.coupon.is_some()
            || self.discounts.is_some()
            || self.promotion_code.is_some()
    }

    /// Whether discounts are to be redeemed for the subscription (after the update, against
    /// its new items).
    pub fn redeems_discounts(&self) -> bool {
        matches!(self.coupon, Some(Some(_)))
            || self.promotion_code.is_some()
            || self.discounts.is_some()
    }
}

/// What an update's parameters name, loaded by the caller.
#[derive(Debug, Clone, Default)]
pub struct UpdateRefs {
    /// `items[n]`'s references, one per entry.
    pub items: Vec<ItemRefs>,
    /// The new default payment method's id (`Some(None)`: cleared).
    pub default_payment_method: Option<Option<String>>,
    pub default_tax_rates: Option<Vec<TaxRate>>,
}

/// A change of items to prorate: credit for the unused time of `old`, debit for the
/// remaining time of what replaced them, at `at`.
#[derive(Debug, Clone, PartialEq)]
pub struct Proration {
    pub old: Vec<SubscriptionItem>,
    pub at: i64,
    /// Only credit what was: the period starts again now and bills the new items in full.
    pub credit_only: bool,
}

/// Why a subscription's period starts again now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// `trial_end=now`: the trial is over and the first paid period begins.
    TrialEnded,
    /// A new billing interval, or `billing_cycle_anchor=now`.
    AnchorReset,
}

/// What an update sets off, for the caller to carry out.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub proration: Option<Proration>,
    /// The prorations are invoiced at once (`proration_behavior=always_invoice`).
    pub invoice_prorations: bool,
    pub restart: Option<Restart>,
    /// A payment method was set: a payment that is failing is tried again with it.
    pub new_payment_method: bool,
}

impl Subscription {
    /// Refuses what an ended subscription cannot change, before anything is loaded for it.
    pub fn check_update(&self, p: &SubscriptionUpdateParams) -> Result<(), ParamError> {
        if self.status.is_terminal() && p.touches_billing() {
            return Err(ParamError::invalid(
                "",
                format!(
                    "A {} subscription can only update its metadata and cancellation_details.",
                    self.status.as_str()
                ),
            ));
        }
        Ok(())
    }

    /// Applies an update at `now`. Discounts named by the update are redeemed by the caller
    /// after, against the new items ([`SubscriptionUpdateParams::redeems_discounts`]).
    pub fn apply_update(
        &mut self,
        p: &SubscriptionUpdateParams,
        refs: UpdateRefs,
        now: i64,
    ) -> Result<Update, ChangeError> {
        p.check()?;
        self.check_update(p)?;
        let behavior = p
            .proration_behavior
            .unwrap_or(ProrationBehavior::CreateProrations);
        let mut update = Update {
            proration: None,
            invoice_prorations: behavior == ProrationBehavior::AlwaysInvoice,
            restart: None,
            new_payment_method: false,
        };
        let mut reset_anchor = false;
        if let Some(ips) = &p.items {
            let (proration, new_interval) = self.update_items(p, ips, refs.items, behavior, now)?;
            update.proration = proration;
            reset_anchor = new_interval;
        }
        self.update_cancellation(p, now)?;
        self.update_collection(p)?;
        if let Some(ps) = &p.payment_settings {
            self.payment_settings = self.payment_settings.apply(ps)?;
        }
        if let Some(pm) = refs.default_payment_method {
            update.new_payment_method = pm.is_some();
            self.default_payment_method = pm;
        }
        if let Some(rates) = refs.default_tax_rates {
            self.default_tax_rates = rates;
        }
        if p.coupon == Some(None) {
            self.discounts.clear();
        }
        if let Some(pc) = &p.pause_collection {
            self.pause_collection = match pc {
                Some(pp) => Some(PauseCollection {
                    behavior: pp
                        .behavior
                        .ok_or_else(|| ParamError::missing("pause_collection[behavior]"))?,
                    resumes_at: pp.resumes_at,
                }),
                None => None,
            };
        }
        if let Some(m) = p
            .trial_settings
            .as_ref()
            .and_then(|ts| ts.end_behavior.as_ref())
            .and_then(|e| e.missing_payment_method)
        {
            self.missing_payment_method = m;
        }
        let end_trial_now = self.update_trial_end(p, now)?;
        if p.billing_cycle_anchor.as_deref() == Some("now") {
            reset_anchor = self.bills_current_period();
        }
        if let Some(d) = &p.description {
            self.description = d.clone();
        }
        self.metadata = apply_metadata(&self.metadata, &p.metadata)?;
        if end_trial_now {
            self.trial_end = Some(now);
            self.billing_cycle_anchor = now;
            self.transition(SubStatus::Active)?;
            update.restart = Some(Restart::TrialEnded);
        } else if reset_anchor {
            self.billing_cycle_anchor = now;
            update.restart = Some(Restart::AnchorReset);
        }
        Ok(update)
    }

    /// Applies `items[]` (an update's `ips`, naming `refs`): the proration of the change, if the
    /// current period is billed, and whether the billing interval changed (the period then
    /// starts again, and only the old items are credited).
    fn update_items(
        &mut self,
        p: &SubscriptionUpdateParams,
        ips: &[ItemParams],
        refs: Vec<ItemRefs>,
        behavior: ProrationBehavior,
        now: i64,
    ) -> Result<(Option<Proration>, bool), ChangeError> {
        let old = self.items.clone();
        let mut items = self.items.clone();
        apply_item_params(&mut items, ips, refs, now)?;
        check_items(&items, self.currency)?;
        let new_interval = interval_of(&old) != interval_of(&items) && self.bills_current_period();
        let at = p.proration_date.unwrap_or(now);
        if p.proration_date.is_some()
            && !(self.current_period_start..=self.current_period_end).contains(&at)
        {
            return Err(ParamError::invalid(
                "proration_date",
                "proration_date must be within the current billing period.",
            )
            .into());
        }
        let proration = (self.bills_current_period() && behavior != ProrationBehavior::None)
            .then_some(Proration {
                old,
                at,
                credit_only: new_interval,
            });
        self.items = items;
        Ok((proration, new_interval))
    }

    /// `cancel_at_period_end`, `cancel_at` and `cancellation_details`.
    fn update_cancellation(
        &mut self,
        p: &SubscriptionUpdateParams,
        now: i64,
    ) -> Result<(), ParamError> {
        if let Some(v) = p.cancel_at_period_end {
            self.cancel_at_period_end = v;
            self.canceled_at = v.then_some(now);
            self.cancellation_reason = v.then(|| "cancellation_requested".into());
        }
        if let Some(c) = p.cancel_at {
            cancel_at_in_future(c, now)?;
            self.cancel_at = c;
        }
        if let Some(d) = &p.cancellation_details {
            self.cancellation_comment = d.comment.clone().or(self.cancellation_comment.take());
            self.cancellation_feedback = d.feedback.clone().or(self.cancellation_feedback.take());
        }
        Ok(())
    }

    /// `collection_method` and `days_until_due` (which only an invoice sent to be paid has).
    fn update_collection(&mut self, p: &SubscriptionUpdateParams) -> Result<(), ParamError> {
        if let Some(c) = p.collection_method {
            self.collection_method = c;
            self.days_until_due = match c {
                CollectionMethod::SendInvoice => Some(
                    p.days_until_due
                        .or(self.days_until_due)
                        .unwrap_or(DAYS_UNTIL_DUE_DEFAULT),
                ),
                CollectionMethod::ChargeAutomatically => None,
            };
        } else if let Some(d) = p.days_until_due {
            if self.collection_method != CollectionMethod::SendInvoice {
                return Err(days_until_due_needs_send_invoice());
            }
            self.days_until_due = Some(d);
        }
        Ok(())
    }

    /// A trial's new end; `true` for `trial_end=now`, which ends it (the caller's restart).
    fn update_trial_end(
        &mut self,
        p: &SubscriptionUpdateParams,
        now: i64,
    ) -> Result<bool, ParamError> {
        let Some(te) = &p.trial_end else {
            return Ok(false);
        };
        if self.status != SubStatus::Trialing {
            return Err(ParamError::invalid(
                "trial_end",
                "Only a trialing subscription's trial_end can be changed.",
            ));
        }
        let t = parse_trial_end("trial_end", te, now)?;
        if t == now {
            return Ok(true);
        }
        self.trial_end = Some(t);
        self.current_period_end = t;
        self.billing_cycle_anchor = t;
        self.trial_will_end_sent = false;
        Ok(false)
    }

    /// Starts a new period at `now` (an anchor reset, a trial ended, a resumption); returns it.
    pub fn restart_period(&mut self, now: i64) -> Result<(i64, i64), ParamError> {
        let end = self.period_end_after(now).ok_or_else(no_period)?;
        self.current_period_start = now;
        self.current_period_end = end;
        Ok((now, end))
    }

    /// The proration lines for changing from `old` to `new` items at `at` (`credit_only`: the
    /// period starts again, so only what was is credited).
    pub fn proration_drafts(
        &self,
        old: &[SubscriptionItem],
        new: &[SubscriptionItem],
        at: i64,
        credit_only: bool,
        product_name: &dyn Fn(&str) -> String,
    ) -> Result<Vec<LineDraft>, ParamError> {
        let period = (self.current_period_start, self.current_period_end);
        let mut drafts = Vec::new();
        for o in old {
            let n = new.iter().find(|n| n.id == o.id);
            let changed = n.is_none_or(|n| n.price.id != o.price.id || n.quantity != o.quantity);
            if !changed {
                continue;
            }
            let n = if credit_only { None } else { n };
            drafts.extend(
                proration_lines(self.currency, Some(o), n, period, at, product_name)
                    .map_err(rating)?,
            );
        }
        if !credit_only {
            for n in new.iter().filter(|n| !old.iter().any(|o| o.id == n.id)) {
                drafts.extend(
                    proration_lines(self.currency, None, Some(n), period, at, product_name)
                        .map_err(rating)?,
                );
            }
        }
        Ok(drafts)
    }

    /// A proration line made a pending invoice item of the subscription, created at `at`.
    pub fn pending_item(&self, d: LineDraft, at: i64) -> InvoiceItem {
        InvoiceItem {
            id: new_id(INVOICE_ITEM_PREFIX),
            created: at,
            customer: self.customer.clone(),
            amount: d.amount,
            currency: self.currency,
            description: Some(d.description),
            period_start: d.period.0,
            period_end: d.period.1,
            proration: true,
            quantity: d.quantity.unwrap_or(1),
            price: d.price,
            unit_amount_decimal: None,
            invoice: None,
            subscription: Some(self.id.clone()),
            subscription_item: d.subscription_item,
            discountable: true,
            tax_rates: d.tax_rates,
            metadata: Metadata::new(),
            test_clock: self.test_clock.clone(),
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use serde_json::json;

    use super::*;
    use crate::billing::catalog::PriceCreateParams;

    pub const NOW: i64 = 1_767_225_600; // 2026-01-01

    pub fn item(id: &str, amount: i64, interval: &str) -> SubscriptionItem {
        let p: PriceCreateParams = serde_json::from_value(json!({
            "currency": "usd", "unit_amount": amount, "recurring": {"interval": interval}
        }))
        .unwrap();
        SubscriptionItem {
            id: format!("si_{id}"),
            created: 0,
            price: Price::new(format!("price_{id}"), 0, "prod_x".into(), &p).unwrap(),
            quantity: 1,
            metadata: Metadata::new(),
            tax_rates: vec![],
        }
    }

    fn params<P: serde::de::DeserializeOwned>(v: serde_json::Value) -> P {
        serde_json::from_value(v).unwrap()
    }

    pub fn create(
        p: serde_json::Value,
        items: Vec<SubscriptionItem>,
    ) -> Result<Subscription, ParamError> {
        let p: SubscriptionCreateParams = params(p);
        let new = NewSubscription {
            id: "sub_1".into(),
            customer: "cus_1".into(),
            test_clock: None,
            items,
            default_payment_method: None,
            default_tax_rates: vec![],
        };
        Subscription::create(&p, new, NOW)
    }

    fn base() -> serde_json::Value {
        json!({"customer": "cus_1", "items": [{"price": "price_a"}]})
    }

    fn with(extra: serde_json::Value) -> serde_json::Value {
        let mut v = base();
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    pub fn active() -> Subscription {
        let mut s = create(base(), vec![item("a", 1_000, "month")]).unwrap();
        s.first_invoice_made(true, PaymentBehavior::AllowIncomplete)
            .unwrap();
        s
    }

    #[test]
    fn a_new_subscription_starts_incomplete_with_its_first_period() {
        let s = create(base(), vec![item("a", 1_000, "month")]).unwrap();
        assert_eq!(s.status, SubStatus::Incomplete);
        assert_eq!((s.current_period_start, s.billing_cycle_anchor), (NOW, NOW));
        assert_eq!(s.current_period_end, NOW + 31 * 86_400);
        assert_eq!(s.currency, "usd");
        assert_eq!(s.order_amount(), Ok(1_000));
    }

    #[test]
    fn a_trial_sets_status_period_and_anchor() {
        let s = create(
            with(json!({"trial_period_days": 14})),
            vec![item("a", 1_000, "month")],
        )
        .unwrap();
        let end = NOW + 14 * 86_400;
        assert_eq!(s.status, SubStatus::Trialing);
        assert_eq!((s.trial_start, s.trial_end), (Some(NOW), Some(end)));
        assert_eq!((s.current_period_end, s.billing_cycle_anchor), (end, end));
        // A zero-day trial is no trial.
        let s = create(
            with(json!({"trial_period_days": 0})),
            vec![item("a", 1_000, "month")],
        )
        .unwrap();
        assert_eq!(s.status, SubStatus::Incomplete);
    }

    #[test]
    fn parameters_are_refused_before_anything_is_loaded() {
        let refused = |extra: serde_json::Value| -> String {
            let p: SubscriptionCreateParams = params(with(extra));
            p.check().unwrap_err().param
        };
        assert_eq!(refused(json!({"days_until_due": 5})), "days_until_due");
        assert_eq!(
            refused(json!({"trial_end": "now", "trial_period_days": 3})),
            "trial_end"
        );
        assert_eq!(
            refused(json!({"trial_period_days": 731})),
            "trial_period_days"
        );
        assert_eq!(refused(json!({"currency": "xyz"})), "currency");
        assert_eq!(refused(json!({"items": [{"id": "si_1"}]})), "items");
        assert_eq!(
            refused(json!({"items": [{"quantity": 1}]})),
            "items[0][price]"
        );
        assert_eq!(
            refused(json!({"items": [{"price": "p", "quantity": -1}]})),
            "items[0][quantity]"
        );
        let p: SubscriptionCreateParams = params(json!({"items": [{"price": "p"}]}));
        assert_eq!(p.check().unwrap_err().param, "customer");
    }

    #[test]
    fn an_anchor_is_in_the_future_and_not_with_a_trial() {
        let items = || vec![item("a", 1_000, "month")];
        let e = create(with(json!({"billing_cycle_anchor": NOW})), items()).unwrap_err();
        assert_eq!(e.param, "billing_cycle_anchor");
        let e = create(
            with(json!({"billing_cycle_anchor": NOW + 10, "trial_period_days": 3})),
            items(),
        )
        .unwrap_err();
        assert_eq!(e.param, "billing_cycle_anchor");
        let s = create(with(json!({"billing_cycle_anchor": NOW + 86_400})), items()).unwrap();
        assert_eq!(s.current_period_end, NOW + 86_400);
    }

    #[test]
    fn items_billed_together_share_interval_and_currency() {
        let e = create(
            base(),
            vec![item("a", 1_000, "month"), item("b", 500, "year")],
        )
        .unwrap_err();
        assert_eq!(e.param, "items[1][price]");
        let e = create(
            with(json!({"currency": "eur"})),
            vec![item("a", 1_000, "month")],
        )
        .unwrap_err();
        assert!(e.message.contains("no amount in eur"), "{}", e.message);
        let e = create(
            base(),
            vec![item("a", 1_000, "month"), item("a", 1_000, "month")],
        )
        .unwrap_err();
        assert!(e.message.contains("appears twice"));
    }

    #[test]
    fn the_first_invoice_settles_or_waits_for_payment() {
        let new = || create(base(), vec![item("a", 1_000, "month")]).unwrap();
        let mut s = new();
        assert_eq!(
            s.first_invoice_made(true, PaymentBehavior::DefaultIncomplete),
            Ok(FirstPayment::Settled)
        );
        assert_eq!(s.status, SubStatus::Active);
        let mut s = new();
        assert_eq!(
            s.first_invoice_made(false, PaymentBehavior::DefaultIncomplete),
            Ok(FirstPayment::ByCustomer)
        );
        assert_eq!(s.status, SubStatus::Incomplete);
        assert_eq!(
            new().first_invoice_made(false, PaymentBehavior::AllowIncomplete),
            Ok(FirstPayment::Collect)
        );
        s.expire(NOW + 1).unwrap();
        assert_eq!(
            (s.status, s.ended_at),
            (SubStatus::IncompleteExpired, Some(NOW + 1))
        );
    }

    fn update(
        s: &mut Subscription,
        p: serde_json::Value,
        refs: UpdateRefs,
        now: i64,
    ) -> Result<Update, ChangeError> {
        let p: SubscriptionUpdateParams = params(p);
        s.apply_update(&p, refs, now)
    }

    fn price_refs(item: &SubscriptionItem) -> UpdateRefs {
        UpdateRefs {
            items: vec![ItemRefs {
                price: Some(item.price.clone()),
                tax_rates: None,
            }],
            ..UpdateRefs::default()
        }
    }

    #[test]
    fn an_upgrade_of_an_active_subscription_is_prorated_from_the_old_items() {
        let mut s = active();
        let pro = item("pro", 2_000, "month");
        let at = NOW + 10 * 86_400;
        let u = update(
            &mut s,
            json!({"items": [{"id": "si_a", "price": "price_pro"}]}),
            price_refs(&pro),
            at,
        )
        .unwrap();
        let pr = u.proration.expect("prorated");
        assert_eq!((pr.at, pr.credit_only), (at, false));
        assert_eq!(pr.old[0].price.id, "price_a");
        assert_eq!(s.items[0].price.id, "price_pro");
        assert_eq!(u.restart, None);
        let drafts = s
            .proration_drafts(&pr.old, &s.items, pr.at, false, &|_| "Pro".into())
            .unwrap();
        let amounts: Vec<i64> = drafts.iter().map(|d| d.amount).collect();
        // 21 of 31 days remain: -1,000 × 21/31 and +2,000 × 21/31, rounded.
        assert_eq!(amounts, vec![-677, 1_355]);
        let pending = s.pending_item(drafts[0].clone(), at);
        assert!(pending.proration && pending.subscription.as_deref() == Some("sub_1"));
    }

    #[test]
    fn a_new_interval_restarts_the_period_and_credits_only() {
        let mut s = active();
        let yearly = item("y", 10_000, "year");
        let u = update(
            &mut s,
            json!({"items": [{"id": "si_a", "price": "price_y"}]}),
            price_refs(&yearly),
            NOW + 86_400,
        )
        .unwrap();
        assert_eq!(u.restart, Some(Restart::AnchorReset));
        assert!(u.proration.unwrap().credit_only);
        assert_eq!(s.billing_cycle_anchor, NOW + 86_400);
        assert_eq!(
            s.restart_period(NOW + 86_400),
            Ok((NOW + 86_400, NOW + 86_400 + 365 * 86_400))
        );
    }

    #[test]
    fn ending_a_trial_now_activates_and_restarts() {
        let mut s = create(
            with(json!({"trial_period_days": 14})),
            vec![item("a", 1_000, "month")],
        )
        .unwrap();
        let u = update(
            &mut s,
            json!({"trial_end": "now"}),
            UpdateRefs::default(),
            NOW + 5,
        )
        .unwrap();
        assert_eq!(u.restart, Some(Restart::TrialEnded));
        assert_eq!((s.status, s.trial_end), (SubStatus::Active, Some(NOW + 5)));
        // Only a trial's end can be moved.
        let e = update(
            &mut s,
            json!({"trial_end": "now"}),
            UpdateRefs::default(),
            NOW + 6,
        )
        .unwrap_err();
        assert!(matches!(e, ChangeError::Param(p) if p.param == "trial_end"));
    }

    #[test]
    fn what_an_update_cannot_do_leaves_its_errors_typed() {
        let mut s = active();
        let e = update(
            &mut s,
            json!({"items": [{"id": "si_nope", "quantity": 2}]}),
            UpdateRefs {
                items: vec![ItemRefs::default()],
                ..UpdateRefs::default()
            },
            NOW,
        )
        .unwrap_err();
        assert_eq!(
            e,
            ChangeError::NoSuchItem {
                id: "si_nope".into(),
                param: "items[0][id]".into()
            }
        );
        let e = update(
            &mut s,
            json!({"items": [{"id": "si_a", "quantity": 2}], "proration_date": NOW - 1}),
            UpdateRefs {
                items: vec![ItemRefs::default()],
                ..UpdateRefs::default()
            },
            NOW,
        )
        .unwrap_err();
        assert!(matches!(e, ChangeError::Param(p) if p.param == "proration_date"));
        let e = update(
            &mut s,
            json!({"cancel_at": NOW}),
            UpdateRefs::default(),
            NOW,
        )
        .unwrap_err();
        assert!(matches!(e, ChangeError::Param(p) if p.param == "cancel_at"));
        let e = update(
            &mut s,
            json!({"days_until_due": 3}),
            UpdateRefs::default(),
            NOW,
        )
        .unwrap_err();
        assert!(matches!(e, ChangeError::Param(p) if p.param == "days_until_due"));
        s.cancel(NOW, "cancellation_requested").unwrap();
        let e = update(
            &mut s,
            json!({"cancel_at_period_end": true}),
            UpdateRefs::default(),
            NOW,
        )
        .unwrap_err();
        assert!(matches!(e, ChangeError::Param(p) if p.message.contains("canceled subscription")));
        // Metadata still changes once it has ended.
        update(
            &mut s,
            json!({"metadata": {"k": "v"}}),
            UpdateRefs::default(),
            NOW,
        )
        .unwrap();
        assert_eq!(s.metadata.get("k").map(String::as_str), Some("v"));
    }

    #[test]
    fn cancelling_at_period_end_and_taking_it_back() {
        let mut s = active();
        update(
            &mut s,
            json!({"cancel_at_period_end": true}),
            UpdateRefs::default(),
            NOW + 9,
        )
        .unwrap();
        assert_eq!(s.canceled_at, Some(NOW + 9));
        assert_eq!(
            s.cancellation_reason.as_deref(),
            Some("cancellation_requested")
        );
        update(
            &mut s,
            json!({"cancel_at_period_end": false}),
            UpdateRefs::default(),
            NOW + 10,
        )
        .unwrap();
        assert_eq!((s.canceled_at, s.cancellation_reason.clone()), (None, None));
        let u = update(
            &mut s,
            json!({"default_payment_method": "pm_1"}),
            UpdateRefs {
                default_payment_method: Some(Some("pm_1".into())),
                ..UpdateRefs::default()
            },
            NOW,
        )
        .unwrap();
        assert!(u.new_payment_method);
        assert_eq!(s.default_payment_method.as_deref(), Some("pm_1"));
    }
}
