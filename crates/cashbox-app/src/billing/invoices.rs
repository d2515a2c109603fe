//! Invoices and invoice items: create, finalize, pay, void, mark uncollectible, send; how an
//! invoice is collected (through a PaymentIntent, so the three-phase payment rules hold) and
//! what its payment's outcome does to it and its subscription (dunning included).

use cashbox_core::ParamError;
use cashbox_core::billing::catalog::Price;
use cashbox_core::billing::discounts::{Coupon, PromotionCode, TaxRate};
use cashbox_core::billing::invoice::{
    CollectionMethod, DISCOUNT_PREFIX, Discount, DiscountParams, INVOICE_ITEM_PREFIX,
    INVOICE_PREFIX, Invoice, InvoiceCreateParams, InvoiceCustomer, InvoiceFinalizeParams,
    InvoiceItem, InvoiceItemCreateParams, InvoiceItemListParams, InvoiceItemUpdateParams,
    InvoiceListParams, InvoicePayParams, InvoiceStatus, InvoiceUpdateParams, ItemPricing,
    LINE_PREFIX, LineDraft, check_days_until_due, check_description, check_item_amount,
    require_status,
};
use cashbox_core::billing::price_amount;
use cashbox_core::billing::subscription::{SubStatus, Subscription, check_quantity};
use cashbox_core::clock::TestClock;
use cashbox_core::crypto::Compressed;
use cashbox_core::currency::{Currency, USD};
use cashbox_core::customer::Customer;
use cashbox_core::event::previous_attributes;
use cashbox_core::id::{new_id, random_token};
use cashbox_core::ledger::Posting;
use cashbox_core::metadata::Metadata;
use cashbox_core::money::{Money, MoneyError};
use cashbox_core::payments::{
    PI_PREFIX, PaymentIntent, PaymentIntentCreateParams, PaymentMethod, PiStatus,
    RequestThreeDSecure,
};
use cashbox_store::{DocFilter, DocRow, DocTable, Tx};
use serde_json::{Value, json};

use crate::docs::Doc;
use crate::events::{ListResult, Shown, Snapshot};
use crate::{App, AppError, AppResult, DunningFinal, RequestCtx};

impl Doc for Invoice {
    const TABLE: DocTable = DocTable::Invoices;
    const PREFIX: &'static str = INVOICE_PREFIX;
    const NAME: &'static str = "invoice";
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
    fn parent(&self) -> Option<&str> {
        self.subscription.as_deref()
    }
}

impl Doc for InvoiceItem {
    const TABLE: DocTable = DocTable::InvoiceItems;
    const PREFIX: &'static str = INVOICE_ITEM_PREFIX;
    const NAME: &'static str = "invoiceitem";
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
        if self.invoice.is_some() {
            "invoiced"
        } else {
            "pending"
        }
        .into()
    }
    fn parent(&self) -> Option<&str> {
        self.invoice.as_deref()
    }
}

/// Where discounts are redeemed: for whom, when, and on what order (its amount and currency,
/// when known).
pub(crate) struct Redemption<'a> {
    pub customer: &'a str,
    pub now: i64,
    pub order: Option<(i64, &'a str)>,
}

/// A collection attempt begun in a transaction, to finish after it commits.
pub(crate) enum Collection {
    /// Nothing to collect (paid, void, or a payment already in flight).
    Nothing,
    /// Nothing to charge with: recorded as a failed attempt.
    Failed(AppError),
    Pending {
        pi: Box<PaymentIntent>,
        pm: Box<PaymentMethod>,
        attempt: u32,
    },
}

/// A renewal invoice collected in the renewal's own transaction, with `pm`: its payment
/// begins before the invoice is written, so the invoice is written once (naming its
/// PaymentIntent) and its finalized events show it so, as Stripe's do.
pub(crate) struct CollectNow {
    pub(crate) pm: String,
    /// The collection begun, if the invoice was open and collected automatically.
    pub(crate) began: Option<Collection>,
}

/// A request context for work a use case does on its own behalf (paying an invoice inside a
/// subscription request, the billing worker): events keep the request id, but nothing is
/// saved as the request's idempotent response.
pub(crate) fn inner_ctx(ctx: &RequestCtx) -> RequestCtx {
    RequestCtx {
        request_id: ctx.request_id.clone(),
        idempotency: None,
    }
}

impl App {
    pub(crate) fn render_invoice(&self, inv: &Invoice) -> Value {
        inv.to_json(&self.settings().public_url, &self.settings().business.name)
    }

    /// Records events of `event_types` about `inv` as it is now, rendered once and
    /// serialized without a JSON tree.
    pub(crate) async fn record_invoice_events(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        event_types: &[&str],
        inv: &Invoice,
    ) -> AppResult<()> {
        let object = inv.rendered(&self.settings().public_url, &self.settings().business.name);
        self.record_events(tx, ctx, event_types, &inv.id, &object)
            .await
    }

    /// The customer, locked, or Stripe's "No such customer" for `param`.
    pub(crate) async fn live_customer(
        &self,
        tx: &mut Tx,
        id: &str,
        param: &str,
    ) -> AppResult<Customer> {
        match tx.customer_for_update(id).await? {
            Some(row) if !row.deleted => self.open_customer(row),
            _ => Err(AppError::MissingReference {
                object: "customer",
                id: id.to_string(),
                param: param.to_string(),
            }),
        }
    }

    /// The time an object lives in: its test clock's, or the wall clock.
    pub(crate) async fn time_of(&self, tx: &mut Tx, clock: Option<&str>) -> AppResult<i64> {
        let Some(clock) = clock else {
            return Ok(self.now());
        };
        match tx.doc(DocTable::TestClocks, clock).await? {
            Some(row) => Ok(self.open_doc::<TestClock>(&row)?.frozen_time),
            None => Ok(self.now()),
        }
    }

    /// Moves the customer's balance by `delta` (negative: credit for them), with its event.
    pub(crate) async fn move_balance(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        customer: &str,
        delta: i64,
    ) -> AppResult<()> {
        let before = self.live_customer(tx, customer, "customer").await?;
        let mut after = before.clone();
        after.balance = after
            .balance
            .checked_add(delta)
            .ok_or_else(|| ParamError::invalid("amount", "The customer's balance would overflow."))
            .and_then(|b| cashbox_core::customer::check_balance("amount", b))?;
        tx.set_customer_billing(&after.id, after.balance, after.next_invoice_sequence)
            .await?;
        let object = after.to_json();
        let previous = previous_attributes(&before.to_json(), &object);
        self.record_event(tx, ctx, "customer.updated", &object, previous)
            .await
    }

    /// Tax rates named by a parameter, each active.
    pub(crate) async fn tax_rates_named(
        &self,
        tx: &mut Tx,
        ids: &[String],
        param: &str,
    ) -> AppResult<Vec<TaxRate>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let rate: TaxRate = match tx.doc(DocTable::TaxRates, id).await? {
                Some(row) => self.open_doc(&row)?,
                None => {
                    return Err(AppError::MissingReference {
                        object: "tax_rate",
                        id: id.clone(),
                        param: param.to_string(),
                    });
                }
            };
            if !rate.active {
                return Err(ParamError::invalid(
                    param,
                    format!("Tax rate {id} is inactive and cannot be applied."),
                )
                .into());
            }
            out.push(rate);
        }
        Ok(out)
    }

    /// A recurring or one-time price named by a parameter, active.
    pub(crate) async fn price_named(&self, tx: &mut Tx, id: &str, param: &str) -> AppResult<Price> {
        let price: Option<Price> = match tx.doc(DocTable::Prices, id).await? {
            Some(row) => Some(self.open_doc(&row)?),
            None => None,
        };
        match price {
            Some(p) if p.active => Ok(p),
            Some(_) => Err(ParamError::invalid(
                param,
                format!(
                    "The price specified ({id}) is inactive. This field only accepts active prices."
                ),
            )
            .into()),
            None => Err(AppError::MissingReference {
                object: "price",
                id: id.to_string(),
                param: param.to_string(),
            }),
        }
    }

    /// Product names by id, for line descriptions.
    pub(crate) async fn product_names(
        &self,
        tx: &mut Tx,
        prices: impl Iterator<Item = &Price>,
    ) -> AppResult<std::collections::HashMap<String, String>> {
        let mut names = std::collections::HashMap::new();
        for p in prices {
            if names.contains_key(&p.product) {
                continue;
            }
            let name = match tx.doc(DocTable::Products, &p.product).await? {
                Some(row) => {
                    self.open_doc::<cashbox_core::billing::catalog::Product>(&row)?
                        .name
                }
                None => p.product.clone(),
            };
            names.insert(p.product.clone(), name);
        }
        Ok(names)
    }

    /// Discounts from `coupon`, `promotion_code` or `discounts[]`, each counted as a redemption
    /// of its coupon (and code).
    pub(crate) async fn redeem_discounts(
        &self,
        tx: &mut Tx,
        at: &Redemption<'_>,
        coupon: Option<&str>,
        promotion_code: Option<&str>,
        discounts: Option<&[DiscountParams]>,
    ) -> AppResult<Vec<Discount>> {
        let mut wanted: Vec<(Option<String>, Option<String>, String)> = Vec::new();
        if let Some(c) = coupon {
            wanted.push((Some(c.to_string()), None, "coupon".into()));
        }
        if let Some(p) = promotion_code {
            wanted.push((None, Some(p.to_string()), "promotion_code".into()));
        }
        for (i, d) in discounts.unwrap_or_default().iter().enumerate() {
            if d.discount.is_some() {
                return Err(ParamError::invalid(
                    format!("discounts[{i}][discount]"),
                    "Reusing an existing discount is not supported; pass a coupon or promotion_code.",
                )
                .into());
            }
            match (&d.coupon, &d.promotion_code) {
                (Some(_), Some(_)) | (None, None) => {
                    return Err(ParamError::invalid(
                        format!("discounts[{i}]"),
                        "Each discount takes exactly one of coupon or promotion_code.",
                    )
                    .into());
                }
                (c, p) => wanted.push((c.clone(), p.clone(), format!("discounts[{i}]"))),
            }
        }
        let mut out = Vec::new();
        for (coupon_id, code_id, param) in wanted {
            let mut code: Option<PromotionCode> = None;
            let coupon_id = match (&coupon_id, &code_id) {
                (Some(c), _) => c.clone(),
                (None, Some(p)) => {
                    let pc: PromotionCode =
                        self.find_for_update(tx, p).await?.ok_or_else(|| {
                            AppError::MissingReference {
                                object: "promotion_code",
                                id: p.clone(),
                                param: param.clone(),
                            }
                        })?;
                    if !pc.redeemable_by(at.customer, at.now) {
                        return Err(ParamError::invalid(
                            &param,
                            format!("This promotion code cannot be redeemed: {}", pc.code),
                        )
                        .into());
                    }
                    self.check_restrictions(&pc, at, &param).await?;
                    let c = pc.coupon.clone();
                    code = Some(pc);
                    c
                }
                (None, None) => unreachable!("checked above"),
            };
            let mut c: Coupon = self.find_for_update(tx, &coupon_id).await?.ok_or_else(|| {
                AppError::MissingReference {
                    object: "coupon",
                    id: coupon_id.clone(),
                    param: param.clone(),
                }
            })?;
            if !c.valid(at.now) {
                return Err(ParamError::invalid(
                    &param,
                    format!("Coupon {} is no longer valid.", c.id),
                )
                .into());
            }
            c.times_redeemed += 1;
            self.save_doc(tx, &c).await?;
            if let Some(mut pc) = code.clone() {
                pc.times_redeemed += 1;
                self.save_doc(tx, &pc).await?;
            }
            out.push(Discount::new(
                new_id(DISCOUNT_PREFIX),
                c,
                code.map(|p| p.id),
                at.customer,
                at.now,
            ));
        }
        Ok(out)
    }

    /// A promotion code's restrictions: only a customer's first transaction, and a minimum
    /// order (checked when the order's amount is known: subscriptions, not draft invoices).
    async fn check_restrictions(
        &self,
        pc: &PromotionCode,
        at: &Redemption<'_>,
        param: &str,
    ) -> AppResult<()> {
        let r = &pc.restrictions;
        if let (Some(min), Some((amount, currency))) = (r.minimum_amount, at.order)
            && r.minimum_amount_currency
                .as_deref()
                .is_none_or(|c| c == currency)
            && amount < min
        {
            return Err(ParamError::invalid(
                param,
                format!(
                    "This promotion code requires a minimum order of {min} {currency} (in minor units)."
                ),
            )
            .into());
        }
        if r.first_time_transaction {
            let of = |status: &str| DocFilter {
                customer: Some(at.customer.to_string()),
                status: Some(status.into()),
                ..DocFilter::default()
            };
            let one = cashbox_core::list::Page::parse(Some(1), None, None)?;
            let charged = !self
                .store()
                .list_docs(DocTable::Charges, &of("succeeded"), &one)
                .await?
                .data
                .is_empty();
            // Invoices paid another way (out of band, by credit); a trial's $0 invoice is not
            // a transaction.
            let hundred = cashbox_core::list::Page::parse(Some(100), None, None)?;
            let mut paid = false;
            for row in self
                .store()
                .list_docs(DocTable::Invoices, &of("paid"), &hundred)
                .await?
                .data
            {
                paid |= self.open_doc::<Invoice>(&row)?.total > 0;
            }
            let prior = charged || paid;
            if prior {
                return Err(ParamError::invalid(
                    param,
                    "This promotion code cannot be redeemed because the customer has prior transactions.",
                )
                .into());
            }
        }
        Ok(())
    }

    pub(crate) fn new_invoice(
        &self,
        now: i64,
        customer: &Customer,
        currency: Currency,
        reason: &str,
    ) -> Invoice {
        let mut inv = Invoice::draft(
            new_id(INVOICE_PREFIX),
            now,
            &customer.id,
            currency,
            reason,
            random_token(24),
        );
        inv.test_clock = customer.test_clock.clone();
        inv.footer = customer.private.invoice_footer.clone();
        inv.customer_details = InvoiceCustomer::of(&customer.private);
        inv
    }

    pub(crate) fn push_lines(inv: &mut Invoice, lines: Vec<LineDraft>) {
        for l in lines {
            inv.push_line(new_id(LINE_PREFIX), l);
        }
    }

    /// The customer's pending invoice items (of `subscription` only, when given), locked.
    pub(crate) async fn pending_items(
        &self,
        tx: &mut Tx,
        customer: &str,
        subscription: Option<&str>,
    ) -> AppResult<Vec<InvoiceItem>> {
        let rows = tx
            .docs_by_customer(DocTable::InvoiceItems, customer)
            .await?;
        let mut out = Vec::new();
        for row in rows.iter().filter(|r| r.status == "pending") {
            let item: InvoiceItem = self.open_doc(row)?;
            if subscription.is_none_or(|s| item.subscription.as_deref() == Some(s)) {
                out.push(item);
            }
        }
        Ok(out)
    }

    /// Adds pending items to a draft as lines and marks them as the invoice's.
    pub(crate) async fn take_items(
        &self,
        tx: &mut Tx,
        inv: &mut Invoice,
        items: Vec<InvoiceItem>,
    ) -> AppResult<()> {
        for mut item in items {
            if item.currency != inv.currency {
                continue;
            }
            inv.push_line(new_id(LINE_PREFIX), item.line_draft());
            item.invoice = Some(inv.id.clone());
            self.save_doc(tx, &item).await?;
        }
        Ok(())
    }

    pub(crate) async fn insert_invoice(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        inv: &Invoice,
    ) -> AppResult<()> {
        let (row, doc) = self.seal_doc_keeping(inv);
        let (due, clock) = (inv.work_due_at(), inv.test_clock.as_deref());
        tx.insert_due_doc(DocTable::Invoices, &row, due, clock)
            .await?;
        let shown = Shown::new(Snapshot::Invoice, &inv.id, &doc);
        self.record_snapshot(tx, ctx, &["invoice.created"], shown);
        Ok(())
    }

    pub(crate) async fn save_invoice(&self, tx: &mut Tx, inv: &Invoice) -> AppResult<()> {
        self.save_invoice_keeping(tx, inv).await.map(drop)
    }

    /// [`App::save_invoice`], returning the invoice's compressed form for events that show it.
    async fn save_invoice_keeping(&self, tx: &mut Tx, inv: &Invoice) -> AppResult<Compressed> {
        let (row, doc) = self.seal_doc_keeping(inv);
        let (due, clock) = (inv.work_due_at(), inv.test_clock.as_deref());
        tx.update_due_doc(DocTable::Invoices, &row, due, clock)
            .await?;
        Ok(doc)
    }

    /// Finalizes a draft at `now`: its number from the customer's sequence, the customer's
    /// balance applied, the sale posted to the ledger; paid at once when nothing is due, else
    /// (charged automatically, auto-advancing) due for collection now.
    pub(crate) async fn finalize_in(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        inv: &mut Invoice,
        now: i64,
    ) -> AppResult<()> {
        // Drafts take their customer's details when made and follow them (`drafts_follow`);
        // one written before invoices kept them takes them now, the customer's sealed data
        // opened for it alone.
        if inv.customer_details == InvoiceCustomer::default()
            && let Some(row) = tx.customer_for_update(&inv.customer).await?
            && !row.deleted
        {
            inv.customer_details = InvoiceCustomer::of(&self.open_customer(row)?.private);
        }
        let types = self.finalize_unrecorded(tx, ctx, inv, now).await?;
        self.record_invoice_events(tx, ctx, types, inv).await?;
        self.finalized_paid(tx, inv, now).await
    }

    /// [`App::finalize_in`] for an invoice not written yet: returns its row, sealed as
    /// finalized, to insert; the finalized events show that sealed form, not a rendering.
    /// With `collect`, an invoice to collect has its payment begun first (see [`CollectNow`]).
    pub(crate) async fn finalize_sealed(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        inv: &mut Invoice,
        now: i64,
        collect: Option<&mut CollectNow>,
    ) -> AppResult<DocRow> {
        let types = self.finalize_unrecorded(tx, ctx, inv, now).await?;
        if let Some(c) = collect
            && inv.status == InvoiceStatus::Open
            && inv.auto_advance
            && inv.collection_method == CollectionMethod::ChargeAutomatically
        {
            c.began = Some(
                self.collection_begun(tx, ctx, inv, &c.pm, true, now, false)
                    .await?,
            );
        }
        let (row, doc) = self.seal_doc_keeping(inv);
        self.record_snapshot(tx, ctx, types, Shown::new(Snapshot::Invoice, &inv.id, &doc));
        self.finalized_paid(tx, inv, now).await?;
        Ok(row)
    }

    /// What an invoice paid at its finalization grants.
    async fn finalized_paid(&self, tx: &mut Tx, inv: &Invoice, now: i64) -> AppResult<()> {
        if inv.status == InvoiceStatus::Paid {
            self.grant_purchase(tx, inv, now).await?;
        }
        Ok(())
    }

    /// Finalizes `inv` but records none of its events: returns their types.
    async fn finalize_unrecorded(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        inv: &mut Invoice,
        now: i64,
    ) -> AppResult<&'static [&'static str]> {
        // The customer's plain columns carry the sequence and the balance: its sealed data is
        // opened only when the balance moves and an event must show it.
        let row = match tx.customer_for_update(&inv.customer).await? {
            Some(row) if !row.deleted => row,
            _ => return Err(AppError::not_found("customer", &inv.customer)),
        };
        let number = format!("{}-{:04}", row.invoice_prefix, row.next_invoice_sequence);
        let currency = match row.currency.as_deref() {
            Some(c) => Currency::parse("currency", c)
                .map_err(|e| AppError::Corrupt(format!("customer {}: {}", row.id, e.message)))?,
            None => inv.currency,
        };
        let balance = inv
            .finalize(now, number, Money::new(row.balance, currency))
            .map_err(balance_error)?
            .amount_minor();
        tx.set_customer_billing(&row.id, balance, row.next_invoice_sequence + 1)
            .await?;
        if balance != row.balance {
            let mut before = self.open_customer(row)?;
            let mut after = before.clone();
            after.balance = balance;
            after.next_invoice_sequence += 1;
            before.next_invoice_sequence += 1;
            let object = after.to_json();
            let previous = previous_attributes(&before.to_json(), &object);
            self.record_event(tx, ctx, "customer.updated", &object, previous)
                .await?;
        }
        if inv.status == InvoiceStatus::Open
            && inv.auto_advance
            && inv.collection_method == CollectionMethod::ChargeAutomatically
        {
            inv.next_payment_attempt = Some(now);
        }
        if let Some(posting) =
            Posting::invoice_finalized(&inv.id, &inv.ledger_amounts(), inv.currency)
        {
            self.post(tx, posting).await?;
        }
        Ok(if inv.status == InvoiceStatus::Paid {
            &["invoice.finalized", "invoice.paid"]
        } else {
            &["invoice.finalized"]
        })
    }

    /// The PaymentMethod that collects `inv`: the invoice's, its subscription's, or the
    /// customer's default.
    async fn collecting_payment_method(
        &self,
        tx: &mut Tx,
        inv: &Invoice,
    ) -> AppResult<Option<String>> {
        if let Some(pm) = &inv.default_payment_method {
            return Ok(Some(pm.clone()));
        }
        if let Some(sub) = &inv.subscription
            && let Some(row) = tx.doc(DocTable::Subscriptions, sub).await?
        {
            let sub: Subscription = self.open_doc(&row)?;
            if let Some(pm) = sub.default_payment_method {
                return Ok(Some(pm));
            }
        }
        Ok(tx
            .customer(&inv.customer)
            .await?
            .and_then(|c| c.default_payment_method))
    }

    /// Attempts to collect an open invoice with `pm` (or the one that collects it). Phase 1
    /// creates or reuses the invoice's PaymentIntent and marks the attempt pending; the
    /// PaymentIntent's own phases 2 and 3 follow, and its outcome settles the invoice
    /// ([`App::invoice_payment_settled`]). Returns the card error, if the payment failed.
    pub(crate) async fn collect_invoice(
        &self,
        ctx: &RequestCtx,
        id: &str,
        pm: Option<&str>,
        off_session: bool,
    ) -> AppResult<Option<AppError>> {
        let ctx = inner_ctx(ctx);
        let mut tx = self.store().begin().await?;
        let mut inv: Invoice = self.load_for_update(&mut tx, id).await?;
        let pm_id = match pm {
            Some(p) => Some(p.to_string()),
            None => self.collecting_payment_method(&mut tx, &inv).await?,
        };
        let now = self.time_of(&mut tx, inv.test_clock.as_deref()).await?;
        let attempt = self
            .begin_collection(&mut tx, &ctx, &mut inv, pm_id.as_deref(), off_session, now)
            .await?;
        tx.commit().await?;
        self.finish_collection(&ctx, attempt).await
    }

    /// Phase 1 of collecting `inv` inside `tx`: the attempt, pending on the invoice's
    /// PaymentIntent (made now if it has none), with the invoice saved. `Collection::Failed`
    /// when there is nothing to charge (a failed attempt, as Stripe counts it).
    pub(crate) async fn begin_collection(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        inv: &mut Invoice,
        pm_id: Option<&str>,
        off_session: bool,
        now: i64,
    ) -> AppResult<Collection> {
        if inv.status != InvoiceStatus::Open || inv.amount_remaining <= 0 {
            return Ok(Collection::Nothing);
        }
        let Some(pm_id) = pm_id else {
            inv.next_payment_attempt = None;
            self.invoice_payment_failed(tx, ctx, inv, now).await?;
            return Ok(Collection::Failed(
                ParamError::new(
                    "",
                    "invoice_no_customer_payment_method",
                    "This customer has no attached payment source or default payment method.",
                )
                .into(),
            ));
        };
        self.collection_begun(tx, ctx, inv, pm_id, off_session, now, true)
            .await
    }

    /// [`App::begin_collection`] with a PaymentMethod to charge; the invoice is saved if
    /// `save`, else its caller writes it (an invoice not written yet).
    #[allow(clippy::too_many_arguments)]
    async fn collection_begun(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        inv: &mut Invoice,
        pm_id: &str,
        off_session: bool,
        now: i64,
        save: bool,
    ) -> AppResult<Collection> {
        if inv.status != InvoiceStatus::Open || inv.amount_remaining <= 0 {
            return Ok(Collection::Nothing);
        }
        inv.next_payment_attempt = None;
        // A PaymentIntent is locked before its PaymentMethod, as everywhere (an outcome
        // applied by the recovery sweep takes them in that order): two orders deadlock.
        let existing: Option<PaymentIntent> = match &inv.payment_intent {
            Some(pi_id) => Some(self.load_for_update(tx, pi_id).await?),
            None => None,
        };
        let pm = self
            .payment_method_for_use(tx, pm_id, Some(&inv.customer), "payment_method")
            .await?;
        let (mut pi, new) = match existing {
            Some(pi) if pi.pending.is_some() || pi.status == PiStatus::Succeeded => {
                return Ok(Collection::Nothing);
            }
            Some(pi) if pi.status != PiStatus::Canceled => (pi, false),
            // None yet, or one canceled when the invoice was settled another way: a new one.
            _ => {
                // The subscription's settings apply to a payment its customer is present for.
                let three_d_secure = match (&inv.subscription, off_session) {
                    (Some(sub), false) => {
                        let sub: Subscription = self.read_in(tx, sub).await?;
                        sub.payment_settings.three_d_secure()
                    }
                    _ => RequestThreeDSecure::Automatic,
                };
                let pi = self.invoice_payment_intent(inv, three_d_secure, now)?;
                let doc = self.snapshot_of(&pi);
                let shown = Shown::new(Snapshot::PaymentIntent, &pi.id, &doc);
                self.record_snapshot(tx, ctx, &["payment_intent.created"], shown);
                inv.payment_intent = Some(pi.id.clone());
                (pi, true)
            }
        };
        pi.payment_method = Some(pm.id.clone());
        pi.amount = inv.amount_remaining;
        pi.off_session = off_session;
        let attempt = self.begin_attempt(&mut pi, false);
        if new {
            self.insert_doc(tx, &pi).await?;
        } else {
            self.save_doc(tx, &pi).await?;
        }
        if save {
            self.save_invoice(tx, inv).await?;
        }
        Ok(Collection::Pending {
            pi: Box::new(pi),
            pm: Box::new(pm),
            attempt,
        })
    }

    /// Phases 2 and 3 of a collection begun by [`App::begin_collection`], once its
    /// transaction committed. Returns the card error, if the payment failed.
    pub(crate) async fn finish_collection(
        &self,
        ctx: &RequestCtx,
        c: Collection,
    ) -> AppResult<Option<AppError>> {
        match c {
            Collection::Nothing => Ok(None),
            Collection::Failed(e) => Ok(Some(e)),
            Collection::Pending { pi, pm, attempt } => {
                match self.run_confirmation(ctx, *pi, *pm, attempt, &[]).await {
                    Ok(_) => Ok(None),
                    Err(e @ AppError::Card { .. }) => Ok(Some(e)),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Tries again, now, every open invoice of the customer that is collected automatically and
    /// has failed before (after a new default payment method).
    pub(crate) async fn retry_failed_invoices(
        &self,
        ctx: &RequestCtx,
        customer: &str,
    ) -> AppResult<()> {
        let filter = DocFilter {
            customer: Some(customer.to_string()),
            status: Some("open".into()),
            ..DocFilter::default()
        };
        let page = cashbox_core::list::Page::parse(Some(100), None, None)?;
        let rows = self
            .store()
            .list_docs(DocTable::Invoices, &filter, &page)
            .await?
            .data;
        for row in rows {
            let inv: Invoice = self.open_doc(&row)?;
            if inv.collection_method == CollectionMethod::ChargeAutomatically
                && inv.attempt_count > 0
            {
                // A decline is recorded on the invoice; the customer update itself succeeded.
                self.collect_invoice(ctx, &inv.id, None, true).await?;
            }
        }
        Ok(())
    }

    /// The PaymentIntent an invoice is paid through.
    pub(crate) fn invoice_payment_intent(
        &self,
        inv: &Invoice,
        three_d_secure: RequestThreeDSecure,
        now: i64,
    ) -> AppResult<PaymentIntent> {
        let id = new_id(PI_PREFIX);
        let secret = format!("{id}_secret_{}", random_token(24));
        let params = PaymentIntentCreateParams {
            customer: Some(inv.customer.clone()),
            description: Some(match &inv.number {
                Some(n) => format!("Payment for Invoice {n}"),
                None => "Payment for Invoice".to_string(),
            }),
            ..PaymentIntentCreateParams::default()
        };
        let mut pi =
            PaymentIntent::new(id, now, inv.amount_remaining, inv.currency, secret, &params)?;
        pi.invoice = Some(inv.id.clone());
        pi.request_three_d_secure = three_d_secure;
        Ok(pi)
    }

    /// Applies the outcome of an invoice's PaymentIntent to the invoice and its subscription,
    /// in the transaction that records the outcome.
    pub(crate) async fn invoice_payment_settled(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        pi: &PaymentIntent,
    ) -> AppResult<()> {
        let Some(inv_id) = &pi.invoice else {
            return Ok(());
        };
        let mut inv: Invoice = self.load_for_update(tx, inv_id).await?;
        if inv.status != InvoiceStatus::Open {
            return Ok(());
        }
        let now = self.time_of(tx, inv.test_clock.as_deref()).await?;
        match pi.status {
            PiStatus::Succeeded => {
                inv.attempt_count += 1;
                inv.attempted = true;
                inv.mark_paid(now);
                let doc = self.save_invoice_keeping(tx, &inv).await?;
                let shown = Shown::new(Snapshot::Invoice, &inv.id, &doc);
                let types = ["invoice.paid", "invoice.payment_succeeded"];
                self.record_snapshot(tx, ctx, &types, shown);
                self.grant_purchase(tx, &inv, now).await?;
                if let Some(sub) = &inv.subscription {
                    let present = (!pi.off_session).then_some(pi.payment_method.as_deref());
                    self.subscription_paid(tx, ctx, sub, present.flatten())
                        .await?;
                }
            }
            PiStatus::RequiresPaymentMethod => {
                self.invoice_payment_failed(tx, ctx, &mut inv, now).await?;
            }
            PiStatus::RequiresAction => {
                inv.attempted = true;
                self.save_invoice(tx, &inv).await?;
                self.record_invoice_events(tx, ctx, &["invoice.payment_action_required"], &inv)
                    .await?;
            }
            _ => {}
        }
        Ok(())
    }

    /// A failed collection attempt: counted, retried on the dunning schedule (renewals and
    /// one-off invoices; a subscription's first invoice is not retried), the subscription
    /// `past_due`, and after the last retry what the settings say.
    pub(crate) async fn invoice_payment_failed(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        inv: &mut Invoice,
        now: i64,
    ) -> AppResult<()> {
        inv.attempt_count += 1;
        inv.attempted = true;
        let first = inv.billing_reason == "subscription_create";
        let schedule = &self.settings().dunning.retry_days;
        let retries_left = (inv.attempt_count as usize) <= schedule.len();
        inv.next_payment_attempt = if first || !inv.auto_advance || !retries_left {
            None
        } else {
            Some(now + schedule[inv.attempt_count as usize - 1] * 86_400)
        };
        self.save_invoice(tx, inv).await?;
        self.record_event(
            tx,
            ctx,
            "invoice.payment_failed",
            &self.render_invoice(inv),
            None,
        )
        .await?;
        let Some(sub_id) = inv.subscription.clone() else {
            return Ok(());
        };
        if first {
            return Ok(());
        }
        let mut sub: Subscription = self.load_for_update(tx, &sub_id).await?;
        let before = sub.to_json(self.now());
        let exhausted = inv.next_payment_attempt.is_none() && inv.auto_advance;
        match sub.status {
            SubStatus::Active | SubStatus::Trialing => sub.transition(SubStatus::PastDue)?,
            _ => {}
        }
        let mut event = "customer.subscription.updated";
        if exhausted && matches!(sub.status, SubStatus::PastDue) {
            match self.settings().dunning.after_last_retry {
                DunningFinal::Cancel => {
                    sub.cancel(now, "payment_failed")?;
                    event = "customer.subscription.deleted";
                }
                DunningFinal::Unpaid => sub.transition(SubStatus::Unpaid)?,
                DunningFinal::PastDue => {}
            }
        }
        let object = sub.to_json(self.now());
        if object != before {
            self.save_subscription(tx, &sub).await?;
            let previous = previous_attributes(&before, &object);
            self.record_event(tx, ctx, event, &object, previous).await?;
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // The invoices API

    /// An invoice for its hosted page or PDF, if `token` opens it.
    pub async fn invoice_for_page(&self, id: &str, token: &str) -> AppResult<Invoice> {
        let inv: Invoice = self.load(id).await?;
        if inv.status == InvoiceStatus::Draft
            || !cashbox_core::crypto::constant_time_eq(
                inv.access_token.as_bytes(),
                token.as_bytes(),
            )
        {
            return Err(AppError::not_found("invoice", id));
        }
        // A line without a description of its own shows its product's name, as Stripe's
        // hosted invoice and PDF do.
        let mut inv = inv;
        for line in &mut inv.lines {
            if line.description.as_deref().is_none_or(str::is_empty)
                && let Some(price) = &line.price
                && let Some(row) = self.store().doc(DocTable::Products, &price.product).await?
            {
                let product: cashbox_core::billing::catalog::Product = self.open_doc(&row)?;
                line.description = Some(product.name);
            }
        }
        Ok(inv)
    }

    async fn close_invoice(
        &self,
        ctx: &RequestCtx,
        id: &str,
        to: InvoiceStatus,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut inv: Invoice = self.load_for_update(&mut tx, id).await?;
        let now = self.time_of(&mut tx, inv.test_clock.as_deref()).await?;
        self.close_in(&mut tx, ctx, &mut inv, to, now).await?;
        self.finish(tx, ctx, self.render_invoice(&inv), expand)
            .await
    }

    /// Voids an invoice or marks it uncollectible, in `tx`.
    pub(crate) async fn close_in(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        inv: &mut Invoice,
        to: InvoiceStatus,
        now: i64,
    ) -> AppResult<()> {
        let (allowed, action, event): (&[InvoiceStatus], _, _) = match to {
            InvoiceStatus::Void => (
                &[InvoiceStatus::Open, InvoiceStatus::Uncollectible],
                "void",
                "invoice.voided",
            ),
            _ => (
                &[InvoiceStatus::Open],
                "mark uncollectible",
                "invoice.marked_uncollectible",
            ),
        };
        require_status(inv, allowed, action)?;
        if to == InvoiceStatus::Void && inv.pre_payment_credit_notes_amount > 0 {
            return Err(ParamError::new(
                "",
                "invoice_not_editable",
                "This invoice has credit notes; void them before voiding the invoice.",
            )
            .into());
        }
        self.no_payment_in_flight(tx, ctx, inv).await?;
        if inv.status == InvoiceStatus::Uncollectible {
            self.recover_in(tx, inv).await?;
        }
        inv.next_payment_attempt = None;
        inv.auto_advance = false;
        match to {
            InvoiceStatus::Void => {
                inv.status_transitions.voided_at = Some(now);
                if let Some(p) =
                    Posting::invoice_voided(&inv.id, &inv.ledger_amounts(), inv.currency)
                {
                    self.post(tx, p).await?;
                }
                // What finalizing took from or added to the customer's balance goes back.
                let change = inv.ledger_amounts().balance_change;
                if change != 0 {
                    self.move_balance(tx, ctx, &inv.customer, -change).await?;
                }
                self.reinstate_credits(tx, inv, now).await?;
            }
            _ => {
                inv.status_transitions.marked_uncollectible_at = Some(now);
                inv.written_off = inv.amount_remaining;
                if let Some(p) =
                    Posting::invoice_written_off(&inv.id, Money::new(inv.written_off, inv.currency))
                {
                    self.post(tx, p).await?;
                }
            }
        }
        inv.status = to;
        self.save_invoice(tx, inv).await?;
        self.record_invoice_events(tx, ctx, &[event], inv).await
    }

    /// Before an invoice is settled another way (voided, written off, paid out of band): a
    /// card payment in flight refuses it; an unfinished one (awaiting a card or 3-D Secure) is
    /// canceled, so it cannot charge the settled invoice later.
    async fn no_payment_in_flight(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        inv: &Invoice,
    ) -> AppResult<()> {
        let Some(pi_id) = &inv.payment_intent else {
            return Ok(());
        };
        let mut pi: PaymentIntent = self.load_for_update(tx, pi_id).await?;
        if pi.pending.is_some() {
            return Err(ParamError::new(
                "",
                "invoice_payment_intent_requires_action",
                "A payment for this invoice is in progress; try again in a moment.",
            )
            .into());
        }
        if matches!(
            pi.status,
            PiStatus::RequiresPaymentMethod
                | PiStatus::RequiresConfirmation
                | PiStatus::RequiresAction
        ) {
            pi.status = PiStatus::Canceled;
            pi.canceled_at = Some(self.now());
            pi.cancellation_reason = Some("abandoned".into());
            pi.next_action = None;
            self.save_doc(tx, &pi).await?;
            self.record_event(tx, ctx, "payment_intent.canceled", &pi.to_json(), None)
                .await?;
        }
        Ok(())
    }

    /// Brings an uncollectible invoice back to open, reversing its write-off.
    async fn recover_in(&self, tx: &mut Tx, inv: &mut Invoice) -> AppResult<()> {
        inv.status = InvoiceStatus::Open;
        if let Some(p) =
            Posting::invoice_recovered(&inv.id, Money::new(inv.written_off, inv.currency))
        {
            self.post(tx, p).await?;
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Invoice items

    /// The draft invoice an item is on, locked, or `None` for a pending item; an item on a
    /// finalized invoice cannot change.
    async fn editable_item_invoice(
        &self,
        tx: &mut Tx,
        item: &InvoiceItem,
    ) -> AppResult<Option<Invoice>> {
        let Some(inv_id) = &item.invoice else {
            return Ok(None);
        };
        let inv: Invoice = self.load_for_update(tx, inv_id).await?;
        if inv.status != InvoiceStatus::Draft {
            return Err(ParamError::new(
                "",
                "invoice_not_editable",
                format!(
                    "The invoice item is on invoice {}, which is no longer a draft.",
                    inv.id
                ),
            )
            .into());
        }
        Ok(Some(inv))
    }
}

/// Why a customer's balance could not meet an invoice.
pub(crate) fn balance_error(e: MoneyError) -> AppError {
    match e {
        MoneyError::Overflow | MoneyError::OutOfRange => {
            overflow(cashbox_core::billing::TotalsOverflow)
        }
        MoneyError::CurrencyMismatch(invoice, balance) => ParamError::invalid(
            "currency",
            format!(
                "You cannot combine currencies on a single customer: its balance is in {balance}, this invoice is in {invoice}."
            ),
        )
        .into(),
    }
}

pub(crate) fn overflow(e: cashbox_core::billing::TotalsOverflow) -> AppError {
    ParamError::new("", "amount_too_large", format!("The {e}.")).into()
}

crate::service!(
    Invoices,
    invoices,
    "Invoices: drafts, finalizing, paying, voiding, their lines."
);

impl Invoices<'_> {
    pub async fn create(
        &self,
        ctx: &RequestCtx,
        p: InvoiceCreateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let customer_id = p
            .customer
            .clone()
            .ok_or_else(|| ParamError::missing("customer"))?;
        check_description(&p.description)?;
        check_days_until_due(p.days_until_due)?;
        let collection = p
            .collection_method
            .unwrap_or(CollectionMethod::ChargeAutomatically);
        if p.days_until_due.is_some() && collection != CollectionMethod::SendInvoice {
            return Err(ParamError::invalid(
                "days_until_due",
                "days_until_due can only be set when collection_method is send_invoice.",
            )
            .into());
        }
        let include_pending = match p.pending_invoice_items_behavior.as_deref() {
            None | Some("exclude") => false,
            Some("include") => true,
            Some(other) => {
                return Err(ParamError::invalid(
                    "pending_invoice_items_behavior",
                    format!("Invalid pending_invoice_items_behavior: {other}"),
                )
                .into());
            }
        };
        if p.subscription.is_some() {
            return Err(ParamError::invalid(
                "subscription",
                "Invoices for a subscription are made by the subscription; use an invoice item with subscription to bill it on the next one.",
            )
            .into());
        }
        let mut tx = self.store().begin().await?;
        let customer = self
            .live_customer(&mut tx, &customer_id, "customer")
            .await?;
        let now = self
            .time_of(&mut tx, customer.test_clock.as_deref())
            .await?;
        let currency = match &p.currency {
            Some(c) => Currency::parse("currency", c)?,
            None => customer.currency.unwrap_or(USD),
        };
        let mut inv = self.new_invoice(now, &customer, currency, "manual");
        inv.collection_method = collection;
        inv.days_until_due = match collection {
            CollectionMethod::SendInvoice => Some(p.days_until_due.unwrap_or(30)),
            CollectionMethod::ChargeAutomatically => None,
        };
        inv.auto_advance = p.auto_advance.unwrap_or(false);
        inv.description = p.description.clone();
        if p.footer.is_some() {
            inv.footer = p.footer.clone();
        }
        if let Some(pm) = &p.default_payment_method {
            let pm = self
                .payment_method_for_use(&mut tx, pm, Some(&customer.id), "default_payment_method")
                .await?;
            inv.default_payment_method = Some(pm.id);
        }
        if let Some(rates) = &p.default_tax_rates {
            inv.default_tax_rates = self
                .tax_rates_named(&mut tx, rates, "default_tax_rates")
                .await?;
        }
        inv.discounts = self
            .redeem_discounts(
                &mut tx,
                &Redemption {
                    customer: &customer.id,
                    now,
                    order: None,
                },
                None,
                None,
                p.discounts.as_deref(),
            )
            .await?;
        for d in &mut inv.discounts {
            d.invoice = Some(inv.id.clone());
        }
        inv.metadata = cashbox_core::payments::apply_metadata(&Metadata::new(), &p.metadata)?;
        if include_pending {
            let items = self.pending_items(&mut tx, &customer.id, None).await?;
            self.take_items(&mut tx, &mut inv, items).await?;
        }
        inv.recompute().map_err(overflow)?;
        self.insert_invoice(&mut tx, ctx, &inv).await?;
        self.finish(tx, ctx, self.render_invoice(&inv), expand)
            .await
    }

    pub async fn retrieve(&self, id: &str, expand: &[Vec<String>]) -> AppResult<Value> {
        self.retrieve_doc(id, expand, |i: &Invoice| self.render_invoice(i))
            .await
    }

    pub async fn update(
        &self,
        ctx: &RequestCtx,
        id: &str,
        p: InvoiceUpdateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut inv: Invoice = self.load_for_update(&mut tx, id).await?;
        let before = self.render_invoice(&inv);
        let draft_only = p.collection_method.is_some()
            || p.days_until_due.is_some()
            || p.default_tax_rates.is_some()
            || p.discounts.is_some();
        if draft_only {
            require_status(&inv, &[InvoiceStatus::Draft], "change the amounts of")?;
        }
        check_description(&p.description)?;
        check_days_until_due(p.days_until_due)?;
        if let Some(c) = p.collection_method {
            inv.collection_method = c;
        }
        if let Some(d) = p.days_until_due {
            inv.days_until_due = Some(d);
        }
        if let Some(a) = p.auto_advance {
            inv.auto_advance = a;
        }
        if p.description.is_some() {
            inv.description = p.description.clone();
        }
        if p.footer.is_some() {
            inv.footer = p.footer.clone();
        }
        if let Some(pm) = &p.default_payment_method {
            let pm = self
                .payment_method_for_use(&mut tx, pm, Some(&inv.customer), "default_payment_method")
                .await?;
            inv.default_payment_method = Some(pm.id);
        }
        if let Some(rates) = &p.default_tax_rates {
            inv.default_tax_rates = self
                .tax_rates_named(&mut tx, rates, "default_tax_rates")
                .await?;
        }
        if let Some(d) = &p.discounts {
            let now = self.time_of(&mut tx, inv.test_clock.as_deref()).await?;
            inv.discounts = self
                .redeem_discounts(
                    &mut tx,
                    &Redemption {
                        customer: &inv.customer,
                        now,
                        order: None,
                    },
                    None,
                    None,
                    Some(d),
                )
                .await?;
        }
        inv.metadata = cashbox_core::payments::apply_metadata(&inv.metadata, &p.metadata)?;
        if inv.status == InvoiceStatus::Draft {
            inv.recompute().map_err(overflow)?;
        }
        let object = self.render_invoice(&inv);
        self.save_invoice(&mut tx, &inv).await?;
        let previous = previous_attributes(&before, &object);
        self.record_event(&mut tx, ctx, "invoice.updated", &object, previous)
            .await?;
        self.finish(tx, ctx, object, expand).await
    }

    /// Deletes a draft; its invoice items go back to pending.
    pub async fn delete(&self, ctx: &RequestCtx, id: &str) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let inv: Invoice = self.load_for_update(&mut tx, id).await?;
        if inv.status != InvoiceStatus::Draft {
            return Err(ParamError::new(
                "",
                "invoice_not_editable",
                "You can only delete draft invoices.",
            )
            .into());
        }
        for row in tx.docs_by_parent(DocTable::InvoiceItems, &inv.id).await? {
            let mut item: InvoiceItem = self.open_doc(&row)?;
            item.invoice = None;
            self.save_doc(&mut tx, &item).await?;
        }
        tx.delete_doc(DocTable::Invoices, &inv.id).await?;
        self.record_event(
            &mut tx,
            ctx,
            "invoice.deleted",
            &self.render_invoice(&inv),
            None,
        )
        .await?;
        let response = json!({"id": inv.id, "object": "invoice", "deleted": true});
        self.commit_response(tx, ctx, 200, &response).await?;
        Ok(response)
    }

    pub async fn finalize(
        &self,
        ctx: &RequestCtx,
        id: &str,
        p: InvoiceFinalizeParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut inv: Invoice = self.load_for_update(&mut tx, id).await?;
        require_status(&inv, &[InvoiceStatus::Draft], "finalize")?;
        if let Some(a) = p.auto_advance {
            inv.auto_advance = a;
        }
        let now = self.time_of(&mut tx, inv.test_clock.as_deref()).await?;
        self.finalize_in(&mut tx, ctx, &mut inv, now).await?;
        self.save_invoice(&mut tx, &inv).await?;
        self.finish(tx, ctx, self.render_invoice(&inv), expand)
            .await
    }

    /// Pays an invoice now: out of band, or by charging a PaymentMethod (a draft is finalized
    /// first). A declined card is Stripe's 402 with the invoice left open.
    pub async fn pay(
        &self,
        ctx: &RequestCtx,
        id: &str,
        mut p: InvoicePayParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        self.mirror_param(&mut p.payment_method).await?;
        let mut tx = self.store().begin().await?;
        let mut inv: Invoice = self.load_for_update(&mut tx, id).await?;
        require_status(
            &inv,
            &[
                InvoiceStatus::Draft,
                InvoiceStatus::Open,
                InvoiceStatus::Uncollectible,
            ],
            "pay",
        )?;
        let now = self.time_of(&mut tx, inv.test_clock.as_deref()).await?;
        if inv.status == InvoiceStatus::Draft {
            inv.auto_advance = false;
            self.finalize_in(&mut tx, ctx, &mut inv, now).await?;
        }
        if inv.status == InvoiceStatus::Uncollectible {
            self.recover_in(&mut tx, &mut inv).await?;
        }
        if p.paid_out_of_band == Some(true) && inv.status == InvoiceStatus::Open {
            self.no_payment_in_flight(&mut tx, ctx, &inv).await?;
            inv.paid_out_of_band = true;
            let amount = inv.amount_remaining;
            inv.mark_paid(now);
            if let Some(p) =
                Posting::invoice_paid_out_of_band(&inv.id, Money::new(amount, inv.currency))
            {
                self.post(&mut tx, p).await?;
            }
            let object = self.render_invoice(&inv);
            self.save_invoice(&mut tx, &inv).await?;
            self.record_event(&mut tx, ctx, "invoice.paid", &object, None)
                .await?;
            self.grant_purchase(&mut tx, &inv, now).await?;
            if let Some(sub) = &inv.subscription {
                self.subscription_paid(&mut tx, ctx, sub, None).await?;
            }
            return self.finish(tx, ctx, object, expand).await;
        }
        self.save_invoice(&mut tx, &inv).await?;
        tx.commit().await?;
        if inv.status == InvoiceStatus::Open {
            let failed = self
                .collect_invoice(
                    ctx,
                    id,
                    p.payment_method.as_deref(),
                    p.off_session.unwrap_or(true),
                )
                .await?;
            let inv: Invoice = self.load(id).await?;
            let waiting = match &inv.payment_intent {
                Some(pi) if inv.status == InvoiceStatus::Open => {
                    let pi: PaymentIntent = self.load(pi).await?;
                    (pi.status == PiStatus::RequiresAction).then_some(pi)
                }
                _ => None,
            };
            let failure = match (failed, waiting) {
                (Some(AppError::Card { body }), _) => Some(body),
                (Some(e), _) => return Err(e),
                // As Stripe: the card needs 3-D Secure, which the customer must complete.
                (None, Some(pi)) => Some(crate::error::card_error_body(
                    "invoice_payment_intent_requires_action",
                    None,
                    "This payment requires additional user action before it can be completed successfully. Complete it through the invoice's PaymentIntent.",
                    None,
                    &[("payment_intent", pi.to_json())],
                )),
                (None, None) => None,
            };
            if let Some(body) = failure {
                // Saved as the request's answer, so a retry with its key does not pay again.
                let tx = self.store().begin().await?;
                self.commit_response(tx, ctx, 402, &body).await?;
                return Err(AppError::Card { body });
            }
        }
        let inv: Invoice = self.load(id).await?;
        let tx = self.store().begin().await?;
        self.finish(tx, ctx, self.render_invoice(&inv), expand)
            .await
    }

    pub async fn void(
        &self,
        ctx: &RequestCtx,
        id: &str,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        self.close_invoice(ctx, id, InvoiceStatus::Void, expand)
            .await
    }

    pub async fn mark_uncollectible(
        &self,
        ctx: &RequestCtx,
        id: &str,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        self.close_invoice(ctx, id, InvoiceStatus::Uncollectible, expand)
            .await
    }

    pub async fn send(
        &self,
        ctx: &RequestCtx,
        id: &str,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let inv: Invoice = self.load_for_update(&mut tx, id).await?;
        require_status(&inv, &[InvoiceStatus::Open], "send")?;
        if inv.collection_method != CollectionMethod::SendInvoice {
            return Err(ParamError::invalid(
                "",
                "Only invoices with collection_method=send_invoice can be sent.",
            )
            .into());
        }
        let object = self.render_invoice(&inv);
        self.record_event(&mut tx, ctx, "invoice.sent", &object, None)
            .await?;
        self.finish(tx, ctx, object, expand).await
    }

    pub async fn list(
        &self,
        p: &InvoiceListParams,
        expand: &[Vec<String>],
    ) -> AppResult<ListResult> {
        if let Some(s) = &p.status
            && !["draft", "open", "paid", "void", "uncollectible"].contains(&s.as_str())
        {
            return Err(ParamError::invalid("status", format!("Invalid status: {s}")).into());
        }
        let filter = DocFilter {
            customer: p.customer.clone(),
            parent: p.subscription.clone(),
            status: p.status.clone(),
            created: p.created.unwrap_or_default(),
            ..DocFilter::default()
        };
        let mut page = self
            .list_docs::<Invoice>(&filter, &p.page()?, expand, |i| self.render_invoice(i))
            .await?;
        if let Some(c) = p.collection_method {
            let want = serde_json::to_value(c).unwrap_or_default();
            page.data.retain(|i| i["collection_method"] == want);
        }
        Ok(page)
    }

    /// A page of an invoice's lines, in invoice order, with Stripe's cursors.
    pub async fn lines(
        &self,
        id: &str,
        p: &cashbox_core::billing::invoice::InvoiceLinesParams,
    ) -> AppResult<ListResult> {
        let inv: Invoice = self.load(id).await?;
        let lines = self.render_invoice(&inv)["lines"]["data"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let limit = match p.limit {
            None => 10,
            Some(l) if (1..=100).contains(&l) => l as usize,
            Some(_) => {
                return Err(ParamError::invalid("limit", "limit must be between 1 and 100").into());
            }
        };
        let position = |cursor: &str, param: &str| {
            lines
                .iter()
                .position(|l| l["id"] == cursor)
                .ok_or_else(|| AppError::MissingReference {
                    object: "line_item",
                    id: cursor.to_string(),
                    param: param.to_string(),
                })
        };
        let (from, to) = match (&p.starting_after, &p.ending_before) {
            (Some(a), _) => {
                let from = position(a, "starting_after")? + 1;
                (from, (from + limit).min(lines.len()))
            }
            (None, Some(b)) => {
                let to = position(b, "ending_before")?;
                (to.saturating_sub(limit), to)
            }
            (None, None) => (0, limit.min(lines.len())),
        };
        let has_more = match &p.ending_before {
            Some(_) if p.starting_after.is_none() => from > 0,
            _ => to < lines.len(),
        };
        Ok(ListResult {
            data: lines[from..to].to_vec(),
            has_more,
        })
    }
}

crate::service!(
    InvoiceItems,
    invoice_items,
    "Invoice items, pending or on a draft."
);

impl InvoiceItems<'_> {
    pub async fn create(
        &self,
        ctx: &RequestCtx,
        p: InvoiceItemCreateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        // Everything the parameters alone decide, before the transaction begins.
        let checked = p.checked()?;
        let metadata = cashbox_core::payments::apply_metadata(&Metadata::new(), &p.metadata)?;
        let quantity = checked.quantity;
        let mut tx = self.store().begin().await?;
        let customer = self
            .live_customer(&mut tx, &checked.customer, "customer")
            .await?;
        let now = self
            .time_of(&mut tx, customer.test_clock.as_deref())
            .await?;
        let (amount, currency, price, unit_decimal) = match checked.pricing {
            ItemPricing::Price { price, currency } => {
                let price = self.price_named(&mut tx, &price, "price").await?;
                let currency = currency.unwrap_or(price.currency);
                let amount = price_amount(&price, currency, quantity)
                    .map_err(|e| ParamError::invalid("price", e.to_string()))?;
                (amount, currency, Some(price), None)
            }
            ItemPricing::Amount { amount, currency } => (amount, currency, None, None),
            ItemPricing::UnitDecimal {
                amount,
                currency,
                unit,
            } => (amount, currency, None, Some(unit)),
        };
        let tax_rates = match &p.tax_rates {
            Some(ids) => self.tax_rates_named(&mut tx, ids, "tax_rates").await?,
            None => Vec::new(),
        };
        let (period_start, period_end) = checked.period.unwrap_or((now, now));
        // Without a description of its own, an item of a price is described by its product's
        // name, as Stripe describes it.
        let description = match (&p.description, &price) {
            (None, Some(price)) => self
                .product_names(&mut tx, std::iter::once(price))
                .await?
                .remove(&price.product),
            (d, _) => d.clone(),
        };
        let mut item = InvoiceItem {
            id: new_id(INVOICE_ITEM_PREFIX),
            created: now,
            customer: customer.id.clone(),
            amount,
            currency,
            description,
            period_start,
            period_end,
            proration: false,
            quantity,
            price,
            unit_amount_decimal: unit_decimal,
            invoice: None,
            subscription: None,
            subscription_item: None,
            discountable: p.discountable.unwrap_or(true),
            tax_rates,
            metadata,
            test_clock: customer.test_clock.clone(),
        };
        if let Some(sub_id) = &p.subscription {
            let sub: Subscription =
                self.find_for_update(&mut tx, sub_id)
                    .await?
                    .ok_or_else(|| AppError::MissingReference {
                        object: "subscription",
                        id: sub_id.clone(),
                        param: "subscription".into(),
                    })?;
            if sub.customer != customer.id {
                return Err(ParamError::invalid(
                    "subscription",
                    "The subscription belongs to another customer.",
                )
                .into());
            }
            item.subscription = Some(sub.id);
        }
        self.insert_doc(&mut tx, &item).await?;
        if let Some(inv_id) = &p.invoice {
            let mut inv: Invoice =
                self.find_for_update(&mut tx, inv_id)
                    .await?
                    .ok_or_else(|| AppError::MissingReference {
                        object: "invoice",
                        id: inv_id.clone(),
                        param: "invoice".into(),
                    })?;
            require_status(&inv, &[InvoiceStatus::Draft], "add items to")?;
            if inv.customer != customer.id {
                return Err(ParamError::invalid(
                    "invoice",
                    "The invoice belongs to another customer.",
                )
                .into());
            }
            if inv.currency != item.currency {
                return Err(ParamError::invalid(
                    "currency",
                    format!("The invoice is in {}; the item must be too.", inv.currency),
                )
                .into());
            }
            self.take_items(&mut tx, &mut inv, vec![item.clone()])
                .await?;
            item.invoice = Some(inv.id.clone());
            inv.recompute().map_err(overflow)?;
            self.save_invoice(&mut tx, &inv).await?;
        }
        let object = item.to_json();
        self.record_event(&mut tx, ctx, "invoiceitem.created", &object, None)
            .await?;
        self.finish(tx, ctx, object, expand).await
    }

    pub async fn retrieve(&self, id: &str, expand: &[Vec<String>]) -> AppResult<Value> {
        self.retrieve_doc(id, expand, InvoiceItem::to_json).await
    }

    pub async fn update(
        &self,
        ctx: &RequestCtx,
        id: &str,
        p: InvoiceItemUpdateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut item: InvoiceItem = self.load_for_update(&mut tx, id).await?;
        let before = item.to_json();
        let invoice = self.editable_item_invoice(&mut tx, &item).await?;
        check_description(&p.description)?;
        if p.description.is_some() {
            item.description = p.description.clone();
        }
        if let Some(q) = p.quantity {
            item.quantity = check_quantity("quantity", Some(q))?;
            if let Some(price) = &item.price {
                item.amount = price_amount(price, item.currency, item.quantity)
                    .map_err(|e| ParamError::invalid("quantity", e.to_string()))?;
            }
        }
        if let Some(a) = p.amount {
            if item.price.is_some() {
                return Err(ParamError::invalid(
                    "amount",
                    "The amount of an item with a price follows its quantity.",
                )
                .into());
            }
            item.amount = check_item_amount("amount", a)?;
        }
        if let Some(d) = p.discountable {
            item.discountable = d;
        }
        if let Some(ids) = &p.tax_rates {
            item.tax_rates = self.tax_rates_named(&mut tx, ids, "tax_rates").await?;
        }
        item.metadata = cashbox_core::payments::apply_metadata(&item.metadata, &p.metadata)?;
        if let Some(mut inv) = invoice {
            if let Some(line) = inv
                .lines
                .iter_mut()
                .find(|l| l.invoice_item.as_deref() == Some(&item.id))
            {
                let d = item.line_draft();
                line.amount = d.amount;
                line.description = Some(d.description);
                line.quantity = d.quantity;
                line.discountable = d.discountable;
                line.tax_rates = d.tax_rates;
                line.metadata = d.metadata;
            }
            inv.recompute().map_err(overflow)?;
            self.save_invoice(&mut tx, &inv).await?;
        }
        let object = item.to_json();
        self.save_doc(&mut tx, &item).await?;
        let previous = previous_attributes(&before, &object);
        self.record_event(&mut tx, ctx, "invoiceitem.updated", &object, previous)
            .await?;
        self.finish(tx, ctx, object, expand).await
    }

    pub async fn delete(&self, ctx: &RequestCtx, id: &str) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let item: InvoiceItem = self.load_for_update(&mut tx, id).await?;
        if let Some(mut inv) = self.editable_item_invoice(&mut tx, &item).await? {
            inv.lines
                .retain(|l| l.invoice_item.as_deref() != Some(&item.id));
            inv.recompute().map_err(overflow)?;
            self.save_invoice(&mut tx, &inv).await?;
        }
        tx.delete_doc(DocTable::InvoiceItems, &item.id).await?;
        self.record_event(&mut tx, ctx, "invoiceitem.deleted", &item.to_json(), None)
            .await?;
        let response = json!({"id": item.id, "object": "invoiceitem", "deleted": true});
        self.commit_response(tx, ctx, 200, &response).await?;
        Ok(response)
    }

    pub async fn list(
        &self,
        p: &InvoiceItemListParams,
        expand: &[Vec<String>],
    ) -> AppResult<ListResult> {
        let filter = DocFilter {
            customer: p.customer.clone(),
            parent: p.invoice.clone(),
            status: p
                .pending
                .map(|pending| if pending { "pending" } else { "invoiced" }.into()),
            created: p.created.unwrap_or_default(),
            ..DocFilter::default()
        };
        self.list_docs::<InvoiceItem>(&filter, &p.page()?, expand, InvoiceItem::to_json)
            .await
    }
}
