//! Invoices, their lines, invoice items and applied discounts: the objects, their parameters,
//! their state rules (draft → open → paid | void | uncollectible) and their Stripe rendering.
//! The arithmetic is in [`crate::billing`].

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::ParamError;
use crate::billing::catalog::{Price, Text};
use crate::billing::discounts::{Coupon, Duration, TaxRate};
use crate::billing::{self, DiscountInput, LineInput, TaxAmount, TotalsOverflow};
use crate::currency::Currency;
use crate::customer::{Address, CustomerPrivate, Shipping, TaxExempt};
use crate::metadata::{Metadata, MetadataParam, present};
use crate::money::{Money, MoneyError};
use crate::payments::check_text;

pub const INVOICE_PREFIX: &str = "in";
pub const LINE_PREFIX: &str = "il";
pub const INVOICE_ITEM_PREFIX: &str = "ii";
pub const DISCOUNT_PREFIX: &str = "di";
pub const CREDIT_BALANCE_TRANSACTION_PREFIX: &str = "cbtxn";
/// Stripe's limit on lines an invoice may carry from invoice items.
pub const INVOICE_ITEMS_MAX: usize = 250;
pub const DAYS_UNTIL_DUE_MAX: i64 = 730;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Draft,
    Open,
    Paid,
    Void,
    Uncollectible,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Open => "open",
            Self::Paid => "paid",
            Self::Void => "void",
            Self::Uncollectible => "uncollectible",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CollectionMethod {
    ChargeAutomatically,
    SendInvoice,
}

/// A coupon applied to a customer, subscription or invoice (`di_…`), with the coupon as it was
/// when applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discount {
    pub id: String,
    pub coupon: Coupon,
    pub promotion_code: Option<String>,
    pub customer: String,
    pub subscription: Option<String>,
    pub invoice: Option<String>,
    pub start: i64,
    /// When a `repeating` coupon stops applying.
    pub end: Option<i64>,
}

impl Discount {
    pub fn new(
        id: String,
        coupon: Coupon,
        promotion_code: Option<String>,
        customer: &str,
        start: i64,
    ) -> Self {
        let end = match (coupon.duration, coupon.duration_in_months) {
            (Duration::Repeating, Some(months)) => {
                billing::boundary(start, crate::billing::catalog::Interval::Month, months, 1)
            }
            _ => None,
        };
        Self {
            id,
            coupon,
            promotion_code,
            customer: customer.to_string(),
            subscription: None,
            invoice: None,
            start,
            end,
        }
    }

    /// Whether it still applies to an invoice made at `t`.
    pub fn applies_at(&self, t: i64) -> bool {
        self.end.is_none_or(|e| t < e)
    }

    pub fn to_json(&self, now: i64) -> Value {
        json!({
            "id": self.id,
            "object": "discount",
            "checkout_session": null,
            "coupon": self.coupon.to_json_with(now, false, false),
            "customer": self.customer,
            "end": self.end,
            "invoice": self.invoice,
            "invoice_item": null,
            "promotion_code": self.promotion_code,
            "source": {"coupon": self.coupon.id, "type": "coupon"},
            "start": self.start,
            "subscription": self.subscription,
            "subscription_item": null,
        })
    }
}

/// One line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    pub id: String,
    pub amount: i64,
    pub description: Option<String>,
    pub period_start: i64,
    pub period_end: i64,
    pub proration: bool,
    pub quantity: Option<u64>,
    pub price: Option<LinePrice>,
    pub subscription: Option<String>,
    pub subscription_item: Option<String>,
    pub invoice_item: Option<String>,
    pub discountable: bool,
    pub tax_rates: Vec<TaxRate>,
    pub metadata: Metadata,
    #[serde(default)]
    pub discount_amounts: Vec<(String, i64)>,
    #[serde(default)]
    pub taxes: Vec<TaxAmountDoc>,
    /// Whether it bills a metered price (credit grants pay only for those).
    #[serde(default)]
    pub metered: bool,
    /// Credit grants' credit applied to it, after discounts and before tax.
    #[serde(default)]
    pub pretax_credits: Vec<PretaxCredit>,
}

/// Credit from one grant applied to one invoice line: Stripe's credit balance transaction of
/// type `debit` (`credits_applied`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PretaxCredit {
    pub credit_balance_transaction: String,
    pub credit_grant: String,
    pub amount: i64,
}

impl PretaxCredit {
    fn to_json(&self) -> Value {
        json!({
            "amount": self.amount,
            "credit_balance_transaction": self.credit_balance_transaction,
            "discount": null,
            "type": "credit_balance_transaction",
        })
    }
}

/// Stripe's `pretax_credit_amounts`: discounts first, then credit.
fn pretax_json(discounts: &[(String, i64)], credits: &[PretaxCredit]) -> Vec<Value> {
    discounts
        .iter()
        .map(|(d, a)| {
            json!({"amount": a, "credit_balance_transaction": null, "discount": d, "type": "discount"})
        })
        .chain(credits.iter().map(PretaxCredit::to_json))
        .collect()
}

/// What a line keeps of its price: enough to show it and to match coupons to products.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinePrice {
    pub id: String,
    pub product: String,
    pub unit_amount_decimal: Option<String>,
}

impl From<&Price> for LinePrice {
    fn from(p: &Price) -> Self {
        Self {
            id: p.id.clone(),
            product: p.product.clone(),
            unit_amount_decimal: p.amounts.unit_amount.as_ref().map(|d| d.0.clone()),
        }
    }
}

/// [`TaxAmount`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxAmountDoc {
    pub tax_rate: String,
    pub inclusive: bool,
    pub amount: i64,
    pub taxable_amount: i64,
}

impl From<TaxAmount> for TaxAmountDoc {
    fn from(t: TaxAmount) -> Self {
        Self {
            tax_rate: t.tax_rate,
            inclusive: t.inclusive,
            amount: t.amount,
            taxable_amount: t.taxable_amount,
        }
    }
}

impl TaxAmountDoc {
    fn to_json(&self) -> Value {
        json!({
            "amount": self.amount,
            "tax_behavior": if self.inclusive { "inclusive" } else { "exclusive" },
            "tax_rate_details": {"tax_rate": self.tax_rate},
            "taxability_reason": "standard_rated",
            "taxable_amount": self.taxable_amount,
            "type": "tax_rate_details",
        })
    }
}

impl InvoiceLine {
    fn product(&self) -> Option<String> {
        self.price.as_ref().map(|p| p.product.clone())
    }

    pub fn to_json(&self, invoice: &str, currency: Currency) -> Value {
        let parent = match (&self.subscription_item, &self.invoice_item) {
            (Some(si), None) => json!({
                "type": "subscription_item_details",
                "invoice_item_details": null,
                "subscription_item_details": {
                    "invoice_item": null,
                    "proration": self.proration,
                    "proration_details": {"credited_items": null},
                    "subscription": self.subscription,
                    "subscription_item": si,
                },
            }),
            _ => json!({
                "type": "invoice_item_details",
                "invoice_item_details": {
                    "invoice_item": self.invoice_item,
                    "proration": self.proration,
                    "proration_details": {"credited_items": null},
                    "subscription": self.subscription,
                },
                "subscription_item_details": null,
            }),
        };
        let mut v = json!({
            "id": self.id,
            "object": "line_item",
            "amount": self.amount,
            "currency": currency,
            "description": self.description,
            "discount_amounts": self.discount_amounts.iter().map(|(d, a)| json!({"amount": a, "discount": d})).collect::<Vec<_>>(),
            "discountable": self.discountable,
            "discounts": self.discount_amounts.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>(),
            "invoice": invoice,
            "livemode": false,
            "metadata": self.metadata,
            "parent": null,
            "period": {"end": self.period_end, "start": self.period_start},
            "pretax_credit_amounts": pretax_json(&self.discount_amounts, &self.pretax_credits),
            "pricing": {
                "type": "price_details",
                "price_details": null,
                "unit_amount_decimal": self.price.as_ref().and_then(|p| p.unit_amount_decimal.clone()),
            },
            "proration": self.proration,
            "quantity": self.quantity,
            "subscription": self.subscription,
            "subtotal": self.amount,
            "taxes": self.taxes.iter().map(TaxAmountDoc::to_json).collect::<Vec<_>>(),
            "tax_rates": self.tax_rates.iter().map(TaxRate::to_json).collect::<Vec<_>>(),
        });
        // Moved in: `json!` would copy them (see the crate documentation).
        v["parent"] = parent;
        if let Some(p) = &self.price {
            v["pricing"]["price_details"] = json!({"price": p.id, "product": p.product});
        }
        v
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusTransitions {
    pub finalized_at: Option<i64>,
    pub marked_uncollectible_at: Option<i64>,
    pub paid_at: Option<i64>,
    pub voided_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    pub id: String,
    pub created: i64,
    pub customer: String,
    pub currency: Currency,
    pub status: InvoiceStatus,
    pub number: Option<String>,
    pub billing_reason: String,
    pub collection_method: CollectionMethod,
    pub days_until_due: Option<i64>,
    pub due_date: Option<i64>,
    pub subscription: Option<String>,
    pub lines: Vec<InvoiceLine>,
    pub discounts: Vec<Discount>,
    pub default_tax_rates: Vec<TaxRate>,
    pub default_payment_method: Option<String>,
    pub period_start: i64,
    pub period_end: i64,
    pub subtotal: i64,
    pub subtotal_excluding_tax: i64,
    pub total: i64,
    pub total_excluding_tax: i64,
    pub total_discount_amounts: Vec<(String, i64)>,
    /// Credit grants' credit applied before tax (the lines hold which grant gave what).
    #[serde(default)]
    pub total_pretax_credits: i64,
    pub total_taxes: Vec<TaxAmountDoc>,
    pub starting_balance: i64,
    pub ending_balance: Option<i64>,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub amount_remaining: i64,
    pub attempt_count: u32,
    pub attempted: bool,
    pub next_payment_attempt: Option<i64>,
    pub auto_advance: bool,
    pub status_transitions: StatusTransitions,
    pub payment_intent: Option<String>,
    pub paid_out_of_band: bool,
    /// What was written off when it was marked uncollectible.
    #[serde(default)]
    pub written_off: i64,
    /// Whether its passing `due_date` was acted on (a `send_invoice` invoice).
    #[serde(default)]
    pub overdue_noted: bool,
    /// Credit notes issued while it was open (they lowered `amount_due`) and once paid.
    #[serde(default)]
    pub pre_payment_credit_notes_amount: i64,
    #[serde(default)]
    pub post_payment_credit_notes_amount: i64,
    pub description: Option<String>,
    pub footer: Option<String>,
    pub metadata: Metadata,
    pub test_clock: Option<String>,
    /// The secret part of `hosted_invoice_url` and `invoice_pdf`.
    pub access_token: String,
    /// The customer's details as the invoice shows them (`customer_email`, …).
    #[serde(default)]
    pub customer_details: InvoiceCustomer,
}

/// The customer's details on an invoice: taken when it is made and again when a draft is
/// finalized, then kept, as Stripe freezes `customer_email` and the rest at finalization.
/// Personal data: sealed with the invoice, never printed.
/// Stored without its empty fields: every invoice carries it.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceCustomer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping: Option<Shipping>,
    #[serde(default, skip_serializing_if = "TaxExempt::is_none")]
    pub tax_exempt: TaxExempt,
}

impl InvoiceCustomer {
    pub fn of(c: &CustomerPrivate) -> Self {
        Self {
            name: c.name.clone(),
            email: c.email.clone(),
            phone: c.phone.clone(),
            address: c.address.clone(),
            shipping: c.shipping.clone(),
            tax_exempt: c.tax_exempt,
        }
    }
}

impl std::fmt::Debug for InvoiceCustomer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InvoiceCustomer([redacted])")
    }
}

/// What an invoice's lines are made from, before ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineDraft {
    pub amount: i64,
    pub description: String,
    pub period: (i64, i64),
    pub proration: bool,
    pub quantity: Option<u64>,
    pub price: Option<Price>,
    pub subscription_item: Option<String>,
    pub invoice_item: Option<String>,
    pub discountable: bool,
    pub tax_rates: Vec<TaxRate>,
    pub metadata: Metadata,
}

/// Stripe's invoice object as [`Invoice::rendered`] gives it. Fields in key order.
#[derive(Serialize)]
pub struct RenderedInvoice<'a> {
    account_country: Option<&'a str>,
    account_name: &'a str,
    account_tax_ids: Option<()>,
    amount_due: i64,
    amount_overpaid: i64,
    amount_paid: i64,
    amount_remaining: i64,
    amount_shipping: i64,
    application: Option<()>,
    attempt_count: u32,
    attempted: bool,
    auto_advance: bool,
    automatic_tax: AutomaticTax,
    automatically_finalizes_at: Option<i64>,
    billing_reason: &'a str,
    collection_method: CollectionMethod,
    created: i64,
    currency: Currency,
    custom_fields: Option<()>,
    customer: &'a str,
    customer_address: Option<&'a Address>,
    customer_email: Option<&'a str>,
    customer_name: Option<&'a str>,
    customer_phone: Option<&'a str>,
    customer_shipping: Option<&'a Shipping>,
    customer_tax_exempt: TaxExempt,
    customer_tax_ids: [(); 0],
    default_payment_method: Option<&'a str>,
    default_source: Option<&'a str>,
    default_tax_rates: Vec<Value>,
    description: Option<&'a str>,
    discounts: Vec<&'a str>,
    due_date: Option<i64>,
    effective_at: Option<i64>,
    ending_balance: Option<i64>,
    footer: Option<&'a str>,
    from_invoice: Option<()>,
    hosted_invoice_url: Option<String>,
    id: &'a str,
    invoice_pdf: Option<String>,
    issuer: Issuer,
    last_finalization_error: Option<()>,
    latest_revision: Option<&'a str>,
    lines: RenderedLines,
    livemode: bool,
    metadata: &'a Metadata,
    next_payment_attempt: Option<i64>,
    number: Option<&'a str>,
    object: &'static str,
    on_behalf_of: Option<&'a str>,
    paid: bool,
    paid_out_of_band: bool,
    parent: Option<InvoiceParent<'a>>,
    payment_intent: Option<&'a str>,
    payment_settings: PaymentSettings,
    period_end: i64,
    period_start: i64,
    post_payment_credit_notes_amount: i64,
    pre_payment_credit_notes_amount: i64,
    receipt_number: Option<&'a str>,
    rendering: Option<()>,
    shipping_cost: Option<()>,
    shipping_details: Option<()>,
    starting_balance: i64,
    statement_descriptor: Option<&'a str>,
    status: &'static str,
    status_transitions: &'a StatusTransitions,
    subscription: Option<&'a str>,
    subtotal: i64,
    subtotal_excluding_tax: i64,
    test_clock: Option<&'a str>,
    total: i64,
    total_discount_amounts: Vec<Value>,
    total_excluding_tax: i64,
    total_pretax_credit_amounts: Vec<Value>,
    total_taxes: Vec<Value>,
    webhooks_delivered_at: i64,
}

impl RenderedInvoice<'_> {
    pub fn id(&self) -> &str {
        self.id
    }
}

/// `payment_settings`: an invoice is paid as its collection method and payment method say.
#[derive(Serialize, Default)]
struct PaymentSettings {
    default_mandate: Option<()>,
    payment_method_options: Option<()>,
    payment_method_types: Option<()>,
}

/// `automatic_tax`: Cashbox computes no tax automatically.
#[derive(Serialize, Default)]
struct AutomaticTax {
    disabled_reason: Option<()>,
    enabled: bool,
    liability: Option<()>,
    provider: Option<()>,
    status: Option<()>,
}

#[derive(Serialize)]
struct Issuer {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct RenderedLines {
    data: Vec<Value>,
    has_more: bool,
    object: &'static str,
    total_count: usize,
    url: String,
}

#[derive(Serialize)]
struct InvoiceParent<'a> {
    quote_details: Option<()>,
    subscription_details: SubscriptionDetails<'a>,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct SubscriptionDetails<'a> {
    metadata: Option<()>,
    subscription: &'a str,
}

impl Invoice {
    /// A draft for `customer` in `currency`; lines are added with [`Invoice::push_line`].
    pub fn draft(
        id: String,
        now: i64,
        customer: &str,
        currency: Currency,
        billing_reason: &str,
        access_token: String,
    ) -> Self {
        Self {
            id,
            created: now,
            customer: customer.to_string(),
            currency,
            status: InvoiceStatus::Draft,
            number: None,
            billing_reason: billing_reason.to_string(),
            collection_method: CollectionMethod::ChargeAutomatically,
            days_until_due: None,
            due_date: None,
            subscription: None,
            lines: Vec::new(),
            discounts: Vec::new(),
            default_tax_rates: Vec::new(),
            default_payment_method: None,
            period_start: now,
            period_end: now,
            subtotal: 0,
            subtotal_excluding_tax: 0,
            total: 0,
            total_excluding_tax: 0,
            total_discount_amounts: Vec::new(),
            total_pretax_credits: 0,
            total_taxes: Vec::new(),
            starting_balance: 0,
            ending_balance: None,
            amount_due: 0,
            amount_paid: 0,
            amount_remaining: 0,
            attempt_count: 0,
            attempted: false,
            next_payment_attempt: None,
            auto_advance: true,
            status_transitions: StatusTransitions::default(),
            payment_intent: None,
            paid_out_of_band: false,
            written_off: 0,
            overdue_noted: false,
            pre_payment_credit_notes_amount: 0,
            post_payment_credit_notes_amount: 0,
            description: None,
            footer: None,
            metadata: Metadata::new(),
            test_clock: None,
            access_token,
            customer_details: InvoiceCustomer::default(),
        }
    }

    pub fn push_line(&mut self, id: String, d: LineDraft) {
        self.lines.push(InvoiceLine {
            id,
            amount: d.amount,
            description: Some(d.description),
            period_start: d.period.0,
            period_end: d.period.1,
            proration: d.proration,
            quantity: d.quantity,
            price: d.price.as_ref().map(LinePrice::from),
            subscription: self.subscription.clone(),
            subscription_item: d.subscription_item,
            invoice_item: d.invoice_item,
            discountable: d.discountable,
            tax_rates: d.tax_rates,
            metadata: d.metadata,
            discount_amounts: Vec::new(),
            taxes: Vec::new(),
            metered: d.price.as_ref().is_some_and(Price::is_metered),
            pretax_credits: Vec::new(),
        });
    }

    /// Works out discounts, taxes and totals from the lines (a draft's amounts follow its
    /// lines; a finalized invoice's are fixed). Discounts that no longer apply at the
    /// invoice's creation are left out.
    pub fn recompute(&mut self) -> Result<(), TotalsOverflow> {
        let inputs: Vec<LineInput> = self
            .lines
            .iter()
            .map(|l| LineInput {
                amount: l.amount,
                discountable: l.discountable,
                product: l.product(),
                tax_rates: l.tax_rates.clone(),
                credits: l.pretax_credits.iter().map(|c| c.amount).sum(),
            })
            .collect();
        let created = self.created;
        let discounts: Vec<DiscountInput<'_>> = self
            .discounts
            .iter()
            .filter(|d| d.applies_at(created))
            .map(|d| DiscountInput {
                id: &d.id,
                coupon: &d.coupon,
            })
            .collect();
        let t = billing::totals(&inputs, &discounts, &self.default_tax_rates, self.currency)?;
        for (line, lt) in self.lines.iter_mut().zip(t.lines) {
            line.discount_amounts = lt.discounts;
            line.taxes = lt.taxes.into_iter().map(Into::into).collect();
        }
        self.subtotal = t.subtotal;
        self.subtotal_excluding_tax = t.subtotal_excluding_tax;
        self.total = t.total;
        self.total_excluding_tax = t.total_excluding_tax;
        self.total_discount_amounts = t.total_discounts;
        self.total_pretax_credits = t.total_credits;
        self.total_taxes = t.total_taxes.into_iter().map(Into::into).collect();
        self.amount_due = self.total.max(0);
        self.amount_remaining = self.amount_due - self.amount_paid;
        Ok(())
    }

    /// How much credit each line can still take: a metered line's amount less its discounts
    /// and the credit it has; nothing for other lines.
    pub fn credit_room(&self) -> Vec<i64> {
        self.lines
            .iter()
            .map(|l| {
                if !l.metered {
                    return 0;
                }
                let discounted: i64 = l.discount_amounts.iter().map(|(_, a)| a).sum();
                let credited: i64 = l.pretax_credits.iter().map(|c| c.amount).sum();
                (l.amount - discounted - credited).max(0)
            })
            .collect()
    }

    /// Finalizes a draft at `now`: numbers it, meets the customer's balance, and marks it paid
    /// at once when nothing is due. Returns the customer's new balance.
    pub fn finalize(
        &mut self,
        now: i64,
        number: String,
        balance: Money,
    ) -> Result<Money, MoneyError> {
        let (due, ending) = billing::apply_balance(self.total_amount(), balance)?;
        let due = due.amount_minor();
        self.status = InvoiceStatus::Open;
        self.number = Some(number);
        self.status_transitions.finalized_at = Some(now);
        self.starting_balance = balance.amount_minor();
        self.amount_due = due;
        self.ending_balance = Some(ending.amount_minor());
        self.amount_remaining = due - self.amount_paid;
        if self.collection_method == CollectionMethod::SendInvoice {
            self.due_date = Some(now + self.days_until_due.unwrap_or(30) * 86_400);
        }
        if due == 0 {
            self.mark_paid(now);
        }
        Ok(ending)
    }

    /// What the invoice totals, in its currency.
    pub fn total_amount(&self) -> Money {
        Money::new(self.total, self.currency)
    }

    /// When its next work falls due: a payment attempt, or the due date of an open
    /// `send_invoice` invoice (it then makes its subscription `past_due`).
    pub fn work_due_at(&self) -> Option<i64> {
        if self.status != InvoiceStatus::Open {
            return None;
        }
        self.next_payment_attempt.or(match self.collection_method {
            CollectionMethod::SendInvoice if !self.overdue_noted => self.due_date,
            _ => None,
        })
    }

    /// What finalizing this invoice posted to the ledger.
    pub fn ledger_amounts(&self) -> crate::ledger::InvoiceAmounts {
        crate::ledger::InvoiceAmounts {
            // As finalized: credit notes on the open invoice post on their own.
            amount_due: self.amount_due + self.pre_payment_credit_notes_amount,
            balance_change: self.ending_balance.unwrap_or(self.starting_balance)
                - self.starting_balance,
            subtotal_excluding_tax: self.subtotal_excluding_tax,
            discounts: self.total_discount_amounts.iter().map(|(_, a)| a).sum(),
            credits: self.total_pretax_credits,
            taxes: self.total_taxes.iter().map(|t| t.amount).sum(),
        }
    }

    pub fn mark_paid(&mut self, now: i64) {
        self.status = InvoiceStatus::Paid;
        self.amount_paid = self.amount_due;
        self.amount_remaining = 0;
        self.status_transitions.paid_at = Some(now);
        self.next_payment_attempt = None;
        self.auto_advance = false;
    }

    pub fn hosted_path(&self) -> String {
        format!("/invoices/{}?token={}", self.id, self.access_token)
    }

    /// Stripe's invoice object: `public_url` prefixes the hosted page and PDF links,
    /// `account_name` is the business's name.
    pub fn to_json(&self, public_url: &str, account_name: &str) -> Value {
        serde_json::to_value(self.rendered(public_url, account_name))
            .expect("an invoice always renders")
    }

    /// Stripe's invoice object, to be serialized as it is (an event's payload) without
    /// building a JSON tree first. Its fields are in key order, so the bytes are those of
    /// [`Invoice::to_json`]'s tree.
    pub fn rendered<'a>(&'a self, public_url: &str, account_name: &'a str) -> RenderedInvoice<'a> {
        let finalized = self.status != InvoiceStatus::Draft;
        RenderedInvoice {
            account_country: None,
            account_name,
            account_tax_ids: None,
            amount_due: self.amount_due,
            amount_overpaid: 0,
            amount_paid: self.amount_paid,
            amount_remaining: self.amount_remaining,
            amount_shipping: 0,
            application: None,
            attempt_count: self.attempt_count,
            attempted: self.attempted,
            auto_advance: self.auto_advance,
            automatic_tax: AutomaticTax::default(),
            automatically_finalizes_at: None,
            billing_reason: &self.billing_reason,
            collection_method: self.collection_method,
            created: self.created,
            currency: self.currency,
            custom_fields: None,
            customer: &self.customer,
            customer_address: self.customer_details.address.as_ref(),
            customer_email: self.customer_details.email.as_deref(),
            customer_name: self.customer_details.name.as_deref(),
            customer_phone: self.customer_details.phone.as_deref(),
            customer_shipping: self.customer_details.shipping.as_ref(),
            customer_tax_exempt: self.customer_details.tax_exempt,
            customer_tax_ids: [],
            default_payment_method: self.default_payment_method.as_deref(),
            default_source: None,
            default_tax_rates: self
                .default_tax_rates
                .iter()
                .map(TaxRate::to_json)
                .collect(),
            description: self.description.as_deref(),
            discounts: self.discounts.iter().map(|d| d.id.as_str()).collect(),
            due_date: self.due_date,
            effective_at: self.status_transitions.finalized_at,
            ending_balance: self.ending_balance,
            footer: self.footer.as_deref(),
            from_invoice: None,
            hosted_invoice_url: finalized.then(|| format!("{public_url}{}", self.hosted_path())),
            id: &self.id,
            invoice_pdf: finalized.then(|| {
                format!(
                    "{public_url}/invoices/{}/pdf?token={}",
                    self.id, self.access_token
                )
            }),
            issuer: Issuer { kind: "self" },
            last_finalization_error: None,
            latest_revision: None,
            lines: RenderedLines {
                data: self
                    .lines
                    .iter()
                    .map(|l| l.to_json(&self.id, self.currency))
                    .collect(),
                has_more: false,
                object: "list",
                total_count: self.lines.len(),
                url: format!("/v1/invoices/{}/lines", self.id),
            },
            livemode: false,
            metadata: &self.metadata,
            next_payment_attempt: self.next_payment_attempt,
            number: self.number.as_deref(),
            object: "invoice",
            on_behalf_of: None,
            paid: self.status == InvoiceStatus::Paid,
            paid_out_of_band: self.paid_out_of_band,
            parent: self.subscription.as_deref().map(|s| InvoiceParent {
                quote_details: None,
                subscription_details: SubscriptionDetails {
                    metadata: None,
                    subscription: s,
                },
                kind: "subscription_details",
            }),
            payment_intent: self.payment_intent.as_deref(),
            payment_settings: PaymentSettings::default(),
            period_end: self.period_end,
            period_start: self.period_start,
            post_payment_credit_notes_amount: self.post_payment_credit_notes_amount,
            pre_payment_credit_notes_amount: self.pre_payment_credit_notes_amount,
            receipt_number: None,
            rendering: None,
            shipping_cost: None,
            shipping_details: None,
            starting_balance: self.starting_balance,
            statement_descriptor: None,
            status: self.status.as_str(),
            status_transitions: &self.status_transitions,
            subscription: self.subscription.as_deref(),
            subtotal: self.subtotal,
            subtotal_excluding_tax: self.subtotal_excluding_tax,
            test_clock: self.test_clock.as_deref(),
            total: self.total,
            total_discount_amounts: self
                .total_discount_amounts
                .iter()
                .map(|(d, a)| json!({"amount": a, "discount": d}))
                .collect(),
            total_excluding_tax: self.total_excluding_tax,
            total_pretax_credit_amounts: pretax_json(
                &self.total_discount_amounts,
                &self
                    .lines
                    .iter()
                    .flat_map(|l| l.pretax_credits.clone())
                    .collect::<Vec<_>>(),
            ),
            total_taxes: self.total_taxes.iter().map(TaxAmountDoc::to_json).collect(),
            webhooks_delivered_at: self.created,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Invoice items

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceItem {
    pub id: String,
    pub created: i64,
    pub customer: String,
    pub amount: i64,
    pub currency: Currency,
    pub description: Option<String>,
    pub period_start: i64,
    pub period_end: i64,
    pub proration: bool,
    pub quantity: u64,
    pub price: Option<Price>,
    pub unit_amount_decimal: Option<String>,
    pub invoice: Option<String>,
    pub subscription: Option<String>,
    pub subscription_item: Option<String>,
    pub discountable: bool,
    pub tax_rates: Vec<TaxRate>,
    pub metadata: Metadata,
    pub test_clock: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PeriodParams {
    pub start: Option<i64>,
    pub end: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PricingParams {
    pub price: Option<String>,
}

/// How a new invoice item is priced, from its parameters alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemPricing {
    /// By a price (its id); the currency, if given, one of the price's.
    Price {
        price: String,
        currency: Option<Currency>,
    },
    /// A fixed amount in a currency.
    Amount { amount: i64, currency: Currency },
    /// A decimal unit amount times the quantity, rounded once.
    UnitDecimal {
        amount: i64,
        currency: Currency,
        unit: String,
    },
}

/// A new invoice item's parameters, checked before any transaction begins: everything that
/// needs no stored object (the customer, price, invoice and tax rates are looked up after).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedItem {
    pub customer: String,
    pub quantity: u64,
    pub pricing: ItemPricing,
    /// `None`: the customer's time, when the item is made.
    pub period: Option<(i64, i64)>,
}

impl InvoiceItemCreateParams {
    pub fn checked(&self) -> Result<CheckedItem, ParamError> {
        let customer = self
            .customer
            .clone()
            .ok_or_else(|| ParamError::missing("customer"))?;
        check_description(&self.description)?;
        let quantity = crate::billing::subscription::check_quantity("quantity", self.quantity)?;
        let price = self
            .price
            .clone()
            .or_else(|| self.pricing.as_ref().and_then(|x| x.price.clone()));
        let currency = || -> Result<Option<Currency>, ParamError> {
            self.currency
                .as_deref()
                .map(|c| Currency::parse("currency", c))
                .transpose()
        };
        let required = || currency()?.ok_or_else(|| ParamError::missing("currency"));
        let pricing = match (price, self.amount, &self.unit_amount_decimal) {
            (Some(price), None, None) => ItemPricing::Price {
                price,
                currency: currency()?,
            },
            (None, Some(amount), None) => ItemPricing::Amount {
                amount: check_item_amount("amount", amount)?,
                currency: required()?,
            },
            (None, None, Some(d)) => {
                let currency = required()?;
                let unit =
                    crate::billing::catalog::DecimalAmount::parse("unit_amount_decimal", &d.0)?;
                let amount = billing::units_times(unit.value(), quantity).ok_or_else(|| {
                    ParamError::invalid("unit_amount_decimal", "The amount is too large.")
                })?;
                ItemPricing::UnitDecimal {
                    amount: check_item_amount("unit_amount_decimal", amount)?,
                    currency,
                    unit: unit.0,
                }
            }
            (None, None, None) => return Err(ParamError::missing("amount")),
            _ => {
                return Err(ParamError::invalid(
                    "amount",
                    "You may only specify one of these parameters: amount, price, unit_amount_decimal.",
                ));
            }
        };
        let period = match &self.period {
            Some(pp) => {
                let start = pp
                    .start
                    .ok_or_else(|| ParamError::missing("period[start]"))?;
                let end = pp.end.ok_or_else(|| ParamError::missing("period[end]"))?;
                let start = crate::clock::check_time("period[start]", start)?;
                let end = crate::clock::check_time("period[end]", end)?;
                if end < start {
                    return Err(ParamError::invalid(
                        "period[end]",
                        "period[end] must be on or after period[start].",
                    ));
                }
                Some((start, end))
            }
            None => None,
        };
        Ok(CheckedItem {
            customer,
            quantity,
            pricing,
            period,
        })
    }
}

/// Checks an invoice item's amount (either sign): at most
/// [`billing::INVOICE_AMOUNT_MAX_MINOR`], what one invoice may total.
pub fn check_item_amount(param: &str, amount: i64) -> Result<i64, ParamError> {
    billing::within_invoice_max(amount).ok_or_else(|| {
        ParamError::new(
            param,
            "amount_too_large",
            format!(
                "Invalid {param}: an invoice item's amount must be between -{max} and {max}.",
                max = billing::INVOICE_AMOUNT_MAX_MINOR
            ),
        )
    })
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceItemCreateParams {
    pub customer: Option<String>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub description: Option<String>,
    pub price: Option<String>,
    pub pricing: Option<PricingParams>,
    pub quantity: Option<i64>,
    pub unit_amount_decimal: Option<Text>,
    pub invoice: Option<String>,
    pub subscription: Option<String>,
    pub discountable: Option<bool>,
    pub tax_rates: Option<Vec<String>>,
    pub period: Option<PeriodParams>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceItemUpdateParams {
    pub amount: Option<i64>,
    pub description: Option<String>,
    pub quantity: Option<i64>,
    pub discountable: Option<bool>,
    pub tax_rates: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InvoiceItemListParams {
    pub customer: Option<String>,
    pub invoice: Option<String>,
    pub pending: Option<bool>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    #[param(value_type = Option<Object>)]
    pub created: Option<crate::list::Range>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(InvoiceItemListParams);

impl InvoiceItem {
    pub fn line_draft(&self) -> LineDraft {
        LineDraft {
            amount: self.amount,
            description: self.description.clone().unwrap_or_default(),
            period: (self.period_start, self.period_end),
            proration: self.proration,
            quantity: Some(self.quantity),
            price: self.price.clone(),
            subscription_item: self.subscription_item.clone(),
            invoice_item: Some(self.id.clone()),
            discountable: self.discountable,
            tax_rates: self.tax_rates.clone(),
            metadata: self.metadata.clone(),
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "invoiceitem",
            "amount": self.amount,
            "currency": self.currency,
            "customer": self.customer,
            "date": self.created,
            "description": self.description,
            "discountable": self.discountable,
            "discounts": [],
            "invoice": self.invoice,
            "livemode": false,
            "metadata": self.metadata,
            "parent": self.subscription.as_ref().map(|s| json!({
                "type": "subscription_details",
                "subscription_details": {"subscription": s, "subscription_item": self.subscription_item},
            })),
            "period": {"end": self.period_end, "start": self.period_start},
            "price": self.price.as_ref().map(Price::to_json),
            "pricing": {
                "type": "price_details",
                "price_details": self.price.as_ref().map(|p| json!({"price": p.id, "product": p.product})),
                "unit_amount_decimal": self.unit_amount_decimal,
            },
            "proration": self.proration,
            "quantity": self.quantity,
            "subscription": self.subscription,
            "tax_rates": self.tax_rates.iter().map(TaxRate::to_json).collect::<Vec<_>>(),
            "test_clock": self.test_clock,
            "unit_amount_decimal": self.unit_amount_decimal,
        })
    }
}

pub fn check_description(p: &Option<String>) -> Result<(), ParamError> {
    check_text("description", p, 5000)
}

pub fn check_days_until_due(days: Option<i64>) -> Result<(), ParamError> {
    if let Some(d) = days
        && !(0..=DAYS_UNTIL_DUE_MAX).contains(&d)
    {
        return Err(ParamError::invalid(
            "days_until_due",
            format!("Invalid days_until_due: must be between 0 and {DAYS_UNTIL_DUE_MAX}"),
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Invoice parameters

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscountParams {
    pub coupon: Option<String>,
    pub promotion_code: Option<String>,
    pub discount: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceCreateParams {
    pub customer: Option<String>,
    pub auto_advance: Option<bool>,
    pub collection_method: Option<CollectionMethod>,
    pub days_until_due: Option<i64>,
    pub due_date: Option<i64>,
    pub description: Option<String>,
    pub footer: Option<String>,
    pub currency: Option<String>,
    pub default_payment_method: Option<String>,
    pub default_tax_rates: Option<Vec<String>>,
    pub discounts: Option<Vec<DiscountParams>>,
    pub subscription: Option<String>,
    pub pending_invoice_items_behavior: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceUpdateParams {
    pub auto_advance: Option<bool>,
    pub collection_method: Option<CollectionMethod>,
    pub days_until_due: Option<i64>,
    pub description: Option<String>,
    pub footer: Option<String>,
    pub default_payment_method: Option<String>,
    pub default_tax_rates: Option<Vec<String>>,
    pub discounts: Option<Vec<DiscountParams>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceFinalizeParams {
    pub auto_advance: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoicePayParams {
    pub payment_method: Option<String>,
    pub paid_out_of_band: Option<bool>,
    pub off_session: Option<bool>,
    pub forgive: Option<bool>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InvoiceListParams {
    pub customer: Option<String>,
    pub subscription: Option<String>,
    pub status: Option<String>,
    pub collection_method: Option<CollectionMethod>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    #[param(value_type = Option<Object>)]
    pub created: Option<crate::list::Range>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(InvoiceListParams);

/// `GET /v1/invoices/{id}/lines`: pages of an invoice's lines, in invoice order.
#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InvoiceLinesParams {
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}

/// The state an action needs, or Stripe's error for the invoice's actual state.
pub fn require_status(
    invoice: &Invoice,
    allowed: &[InvoiceStatus],
    action: &str,
) -> Result<(), ParamError> {
    if allowed.contains(&invoice.status) {
        return Ok(());
    }
    Err(ParamError::new(
        "",
        "invoice_not_editable",
        format!(
            "You can only {action} an invoice that is {}; this invoice is {}.",
            allowed
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" or "),
            invoice.status.as_str()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::currency::USD;

    #[test]
    fn customer_details_are_stored_without_empty_fields_and_read_back_whole() {
        let none = InvoiceCustomer::default();
        assert_eq!(serde_json::to_string(&none).unwrap(), "{}");
        let whole = InvoiceCustomer {
            name: Some("Ada".into()),
            email: Some("ada@example.com".into()),
            phone: Some("+44 20".into()),
            address: Some(Address {
                city: Some("London".into()),
                ..Address::default()
            }),
            shipping: None,
            tax_exempt: TaxExempt::Reverse,
        };
        let text = serde_json::to_string(&whole).unwrap();
        assert!(!text.contains("shipping"), "{text}");
        let back: InvoiceCustomer = serde_json::from_str(&text).unwrap();
        assert_eq!(back, whole);
        // Personal data never reaches a log through Debug.
        assert!(!format!("{whole:?}").contains("Ada"));
    }

    fn line(amount: i64) -> LineDraft {
        LineDraft {
            amount,
            description: "x".into(),
            period: (0, 10),
            proration: false,
            quantity: Some(1),
            price: None,
            subscription_item: None,
            invoice_item: None,
            discountable: true,
            tax_rates: vec![],
            metadata: Metadata::new(),
        }
    }

    #[test]
    fn finalizing_meets_the_balance_and_pays_what_is_covered() {
        let mut inv = Invoice::draft("in_1".into(), 5, "cus_1", USD, "manual", "t".into());
        inv.push_line("il_1".into(), line(1_000));
        inv.recompute().unwrap();
        assert_eq!((inv.total, inv.amount_due), (1_000, 1_000));
        let balance = inv
            .finalize(6, "ABC-0001".into(), Money::new(-300, USD))
            .unwrap();
        assert_eq!(
            (inv.amount_due, balance, inv.status),
            (700, Money::zero(USD), InvoiceStatus::Open)
        );
        assert_eq!(inv.starting_balance, -300);

        let mut inv = Invoice::draft("in_2".into(), 5, "cus_1", USD, "manual", "t".into());
        inv.push_line("il_2".into(), line(-400));
        inv.recompute().unwrap();
        let balance = inv
            .finalize(6, "ABC-0002".into(), Money::zero(USD))
            .unwrap();
        assert_eq!(
            (inv.amount_due, balance, inv.status),
            (0, Money::new(-400, USD), InvoiceStatus::Paid)
        );
    }

    /// An invoice with a line of every kind of detail: a subscription, a discount, a tax, a
    /// number, finalized, with metadata.
    fn detailed() -> Invoice {
        let mut inv = Invoice::draft(
            "in_1".into(),
            5,
            "cus_1",
            USD,
            "subscription_cycle",
            "tok".into(),
        );
        inv.subscription = Some("sub_1".into());
        let mut l = line(2_000);
        l.subscription_item = Some("si_1".into());
        inv.push_line("il_1".into(), l);
        inv.push_line("il_2".into(), line(-300));
        inv.recompute().unwrap();
        inv.total_discount_amounts = vec![("di_1".into(), 200)];
        inv.metadata.insert("order".into(), "42".into());
        inv.finalize(6, "ABC-0001".into(), Money::new(-100, USD))
            .unwrap();
        inv.payment_intent = Some("pi_1".into());
        inv
    }

    #[test]
    fn the_rendered_invoice_is_its_json_tree_byte_for_byte() {
        for inv in [
            detailed(),
            Invoice::draft("in_2".into(), 5, "cus_1", USD, "manual", "t".into()),
        ] {
            let url = "http://127.0.0.1:4242";
            let direct = serde_json::to_string(&inv.rendered(url, "Cashbox")).unwrap();
            assert_eq!(
                direct,
                serde_json::to_string(&inv.to_json(url, "Cashbox")).unwrap()
            );
            assert_eq!(inv.rendered(url, "Cashbox").id(), inv.id);
        }
    }

    #[test]
    fn actions_check_the_status() {
        let inv = Invoice::draft("in_1".into(), 5, "cus_1", USD, "manual", "t".into());
        assert!(require_status(&inv, &[InvoiceStatus::Draft], "finalize").is_ok());
        let e = require_status(&inv, &[InvoiceStatus::Open], "pay").unwrap_err();
        assert!(e.message.contains("this invoice is draft"), "{}", e.message);
    }
}

#[cfg(test)]
mod item_params {
    use super::*;
    use crate::currency::USD;

    fn params(v: serde_json::Value) -> InvoiceItemCreateParams {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn an_item_is_checked_from_its_parameters_alone() {
        let ok = params(json!({"customer": "cus_1", "amount": 500, "currency": "USD"}))
            .checked()
            .unwrap();
        assert_eq!(
            ok.pricing,
            ItemPricing::Amount {
                amount: 500,
                currency: USD
            }
        );
        assert_eq!((ok.quantity, ok.period), (1, None));
        let unit = params(json!({"customer": "cus_1", "unit_amount_decimal": "0.5",
            "quantity": 3, "currency": "eur", "period": {"start": 10, "end": 20}}))
        .checked()
        .unwrap();
        assert_eq!(
            unit.pricing,
            ItemPricing::UnitDecimal {
                amount: 2,
                currency: Currency::parse("c", "eur").unwrap(),
                unit: "0.5".into()
            }
        );
        assert_eq!(unit.period, Some((10, 20)));
        let by_price = params(json!({"customer": "cus_1", "price": "price_1"}))
            .checked()
            .unwrap();
        assert_eq!(
            by_price.pricing,
            ItemPricing::Price {
                price: "price_1".into(),
                currency: None
            }
        );
        for (bad, param) in [
            (json!({"amount": 1, "currency": "usd"}), "customer"),
            (json!({"customer": "c", "amount": 1}), "currency"),
            (json!({"customer": "c"}), "amount"),
            (
                json!({"customer": "c", "amount": 1, "price": "p", "currency": "usd"}),
                "amount",
            ),
            (
                json!({"customer": "c", "amount": i64::MAX, "currency": "usd"}),
                "amount",
            ),
            (
                json!({"customer": "c", "amount": 1, "currency": "xxx"}),
                "currency",
            ),
            (
                json!({"customer": "c", "amount": 1, "currency": "usd", "quantity": -1}),
                "quantity",
            ),
            (
                json!({"customer": "c", "amount": 1, "currency": "usd",
                    "period": {"start": 20, "end": 10}}),
                "period[end]",
            ),
            (
                json!({"customer": "c", "amount": 1, "currency": "usd",
                    "period": {"start": 0, "end": i64::MAX}}),
                "period[end]",
            ),
        ] {
            let e = params(bad.clone()).checked().unwrap_err();
            assert_eq!(e.param, param, "{bad}");
        }
    }
}
