//! The objects the API answers with, as OpenAPI schemas: what generated clients are built
//! from. These types only describe; the application renders the JSON.
//!
//! They cannot drift from what is rendered: every successful `/v1` answer in the HTTP tests is
//! checked against its operation's schema, and objects are closed (a rendered key that is not
//! declared here fails the test that rendered it; see `tests/api/schema.rs`), on SQLite and on
//! PostgreSQL, and Schemathesis checks the answers it provokes from `.ci/run`.
//!
//! Field order is alphabetical, as Stripe's reference lists them. A field is `Option` when it
//! can be null or absent.
#![allow(dead_code)] // schemas only

use std::collections::BTreeMap;

use utoipa::ToSchema;

use cashbox_core::customer::Address;
use cashbox_core::metadata::Metadata;
use cashbox_core::schema::{AnyObject, Expandable};

use crate::error::ErrorBody;
use crate::list::ListObject;

/// `billing.alert.usage_threshold.filters[]`
#[derive(ToSchema)]
pub struct BillingAlertUsageThresholdFilters {
    pub customer: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `billing.alert.usage_threshold`
#[derive(ToSchema)]
pub struct BillingAlertUsageThreshold {
    pub filters: Vec<BillingAlertUsageThresholdFilters>,
    pub gte: i64,
    pub meter: String,
    pub recurrence: String,
}

/// `billing.alert`
#[derive(ToSchema)]
pub struct BillingAlert {
    pub alert_type: String,
    pub id: String,
    pub livemode: bool,
    /// Always `billing.alert`.
    pub object: String,
    pub status: String,
    pub title: String,
    pub usage_threshold: BillingAlertUsageThreshold,
}

#[derive(ToSchema)]
pub struct Monetary {
    pub currency: String,
    pub value: i64,
}

/// `billing.credit_balance_summary.balances[].available_balance`
#[derive(ToSchema)]
pub struct BillingCreditBalanceSummaryBalancesAvailableBalance {
    pub monetary: Monetary,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `billing.credit_balance_summary.balances[].ledger_balance`
#[derive(ToSchema)]
pub struct BillingCreditBalanceSummaryBalancesLedgerBalance {
    pub monetary: Monetary,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `billing.credit_balance_summary.balances[]`
#[derive(ToSchema)]
pub struct BillingCreditBalanceSummaryBalances {
    pub available_balance: BillingCreditBalanceSummaryBalancesAvailableBalance,
    pub ledger_balance: BillingCreditBalanceSummaryBalancesLedgerBalance,
}

/// `billing.credit_balance_summary`
#[derive(ToSchema)]
pub struct BillingCreditBalanceSummary {
    pub balances: Vec<BillingCreditBalanceSummaryBalances>,
    pub customer: String,
    pub livemode: bool,
    /// Always `billing.credit_balance_summary`.
    pub object: String,
}

/// `billing.credit_grant.amount`
#[derive(ToSchema)]
pub struct BillingCreditGrantAmount {
    pub monetary: Monetary,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `billing.credit_grant.applicability_config.scope`
#[derive(ToSchema)]
pub struct BillingCreditGrantApplicabilityConfigScope {
    pub price_type: String,
}

/// `billing.credit_grant.applicability_config`
#[derive(ToSchema)]
pub struct BillingCreditGrantApplicabilityConfig {
    pub scope: BillingCreditGrantApplicabilityConfigScope,
}

/// `billing.credit_grant`
#[derive(ToSchema)]
pub struct BillingCreditGrant {
    pub amount: BillingCreditGrantAmount,
    pub applicability_config: BillingCreditGrantApplicabilityConfig,
    pub category: String,
    pub created: i64,
    pub customer: String,
    pub customer_account: Option<String>,
    pub effective_at: i64,
    pub expires_at: Option<i64>,
    pub id: String,
    pub livemode: bool,
    pub metadata: Metadata,
    pub name: Option<String>,
    /// Always `billing.credit_grant`.
    pub object: String,
    pub priority: i64,
    pub test_clock: Option<String>,
    pub updated: i64,
    pub voided_at: Option<i64>,
}

/// `billing.meter.customer_mapping`
#[derive(ToSchema)]
pub struct BillingMeterCustomerMapping {
    pub event_payload_key: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `billing.meter.default_aggregation`
#[derive(ToSchema)]
pub struct BillingMeterDefaultAggregation {
    pub formula: String,
}

/// `billing.meter.status_transitions`
#[derive(ToSchema)]
pub struct BillingMeterStatusTransitions {
    pub deactivated_at: Option<i64>,
}

/// `billing.meter.value_settings`
#[derive(ToSchema)]
pub struct BillingMeterValueSettings {
    pub event_payload_key: String,
}

/// `billing.meter`
#[derive(ToSchema)]
pub struct BillingMeter {
    pub created: i64,
    pub customer_mapping: BillingMeterCustomerMapping,
    pub default_aggregation: BillingMeterDefaultAggregation,
    pub display_name: String,
    pub event_name: String,
    pub event_time_window: Option<AnyObject>,
    pub id: String,
    pub livemode: bool,
    /// Always `billing.meter`.
    pub object: String,
    pub status: String,
    pub status_transitions: BillingMeterStatusTransitions,
    pub updated: i64,
    pub value_settings: BillingMeterValueSettings,
}

/// `billing.meter_event`
#[derive(ToSchema)]
pub struct BillingMeterEvent {
    pub created: i64,
    pub event_name: String,
    pub identifier: String,
    pub livemode: bool,
    /// Always `billing.meter_event`.
    pub object: String,
    pub payload: BTreeMap<String, String>,
    pub timestamp: i64,
}

/// `billing.meter_event_adjustment.cancel`
#[derive(ToSchema)]
pub struct BillingMeterEventAdjustmentCancel {
    pub identifier: String,
}

/// `billing.meter_event_adjustment`
#[derive(ToSchema)]
pub struct BillingMeterEventAdjustment {
    pub cancel: BillingMeterEventAdjustmentCancel,
    pub event_name: String,
    pub id: String,
    pub livemode: bool,
    /// Always `billing.meter_event_adjustment`.
    pub object: String,
    pub status: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `billing.meter_event_summary`
#[derive(ToSchema)]
pub struct BillingMeterEventSummary {
    pub aggregated_value: i64,
    pub end_time: i64,
    pub id: String,
    pub livemode: bool,
    pub meter: String,
    /// Always `billing.meter_event_summary`.
    pub object: String,
    pub start_time: i64,
}

#[derive(ToSchema)]
pub struct ChargeBillingDetails {
    pub address: Option<Address>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
}

/// `charge.fraud_details`
#[derive(ToSchema)]
pub struct ChargeFraudDetails {}

/// `charge.outcome`
#[derive(ToSchema)]
pub struct ChargeOutcome {
    pub network_status: String,
    pub reason: Option<String>,
    pub risk_level: String,
    pub risk_score: i64,
    pub seller_message: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(ToSchema)]
pub struct PaymentMethodCardChecks {
    pub address_line1_check: Option<String>,
    pub address_postal_code_check: Option<String>,
    pub cvc_check: String,
}

/// `charge.payment_method_details.card`
#[derive(ToSchema)]
pub struct ChargePaymentMethodDetailsCard {
    pub brand: String,
    pub checks: PaymentMethodCardChecks,
    pub country: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub fingerprint: String,
    pub funding: String,
    pub last4: String,
    pub network: String,
    pub three_d_secure: Option<AnyObject>,
}

/// `charge.payment_method_details`
#[derive(ToSchema)]
pub struct ChargePaymentMethodDetails {
    pub card: ChargePaymentMethodDetailsCard,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `charge`
#[derive(ToSchema)]
pub struct Charge {
    pub amount: i64,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    pub application: Option<String>,
    pub application_fee: Option<String>,
    pub balance_transaction: Option<Expandable>,
    pub billing_details: ChargeBillingDetails,
    pub calculated_statement_descriptor: String,
    pub captured: bool,
    pub created: i64,
    pub currency: String,
    pub customer: Option<Expandable>,
    pub description: Option<String>,
    pub disputed: bool,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub fraud_details: ChargeFraudDetails,
    pub id: String,
    pub livemode: bool,
    pub metadata: Metadata,
    /// Always `charge`.
    pub object: String,
    pub outcome: ChargeOutcome,
    pub paid: bool,
    pub payment_intent: Expandable,
    pub payment_method: Expandable,
    pub payment_method_details: ChargePaymentMethodDetails,
    pub receipt_email: Option<String>,
    pub receipt_number: Option<String>,
    pub receipt_url: String,
    pub refunded: bool,
    pub review: Option<String>,
    pub shipping: Option<AnyObject>,
    pub statement_descriptor: Option<String>,
    pub status: String,
}

/// One currency of `coupon.currency_options`
#[derive(ToSchema)]
pub struct CouponCurrencyOption {
    pub amount_off: i64,
}

/// `coupon`
#[derive(ToSchema)]
pub struct Coupon {
    pub amount_off: Option<i64>,
    pub created: i64,
    pub currency: Option<String>,
    pub currency_options: Option<BTreeMap<String, CouponCurrencyOption>>,
    pub duration: String,
    pub duration_in_months: Option<i64>,
    pub id: String,
    pub livemode: bool,
    pub max_redemptions: Option<i64>,
    pub metadata: Metadata,
    pub name: Option<String>,
    /// Always `coupon`.
    pub object: String,
    pub percent_off: Option<f64>,
    pub redeem_by: Option<i64>,
    pub times_redeemed: i64,
    pub valid: bool,
}

/// `tax_rate`
#[derive(ToSchema)]
pub struct TaxRate {
    pub active: bool,
    pub country: Option<String>,
    pub created: i64,
    pub description: Option<String>,
    pub display_name: String,
    pub effective_percentage: f64,
    pub flat_amount: Option<i64>,
    pub id: String,
    pub inclusive: bool,
    pub jurisdiction: Option<String>,
    pub jurisdiction_level: Option<String>,
    pub livemode: bool,
    pub metadata: Metadata,
    /// Always `tax_rate`.
    pub object: String,
    pub percentage: f64,
    pub rate_type: String,
    pub state: Option<String>,
    pub tax_type: Option<String>,
}

/// `product.marketing_features[]`
#[derive(ToSchema)]
pub struct ProductMarketingFeatures {
    pub name: String,
}

/// `credit_note_line_item`
#[derive(ToSchema)]
pub struct CreditNoteLineItem {
    pub amount: i64,
    pub description: Option<String>,
    pub discount_amount: i64,
    pub discount_amounts: Vec<DiscountAmount>,
    pub id: String,
    pub invoice_line_item: Option<String>,
    pub livemode: bool,
    /// Always `credit_note_line_item`.
    pub object: String,
    pub quantity: i64,
    pub tax_rates: Vec<TaxRate>,
    #[serde(rename = "type")]
    pub kind: String,
    pub unit_amount: Option<i64>,
}

/// `credit_note.refunds[]`
#[derive(ToSchema)]
pub struct CreditNoteRefunds {
    pub amount_refunded: i64,
    pub refund: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `credit_note`
#[derive(ToSchema)]
pub struct CreditNote {
    pub amount: i64,
    pub amount_shipping: i64,
    pub created: i64,
    pub currency: String,
    pub customer: String,
    pub customer_balance_transaction: Option<String>,
    pub discount_amount: i64,
    pub discount_amounts: Vec<DiscountAmount>,
    pub effective_at: i64,
    pub id: String,
    pub invoice: String,
    pub lines: ListObject<CreditNoteLineItem>,
    pub livemode: bool,
    pub memo: Option<String>,
    pub metadata: Metadata,
    pub number: String,
    /// Always `credit_note`.
    pub object: String,
    pub out_of_band_amount: Option<i64>,
    pub pdf: Option<String>,
    pub post_payment_amount: i64,
    pub pre_payment_amount: i64,
    pub reason: Option<String>,
    pub refunds: Vec<CreditNoteRefunds>,
    pub status: String,
    pub subtotal: i64,
    pub subtotal_excluding_tax: i64,
    pub total: i64,
    pub total_excluding_tax: i64,
    pub total_taxes: Vec<TaxAmount>,
    #[serde(rename = "type")]
    pub kind: String,
    pub voided_at: Option<i64>,
}

/// `discount.source`
#[derive(ToSchema)]
pub struct DiscountSource {
    pub coupon: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `discount`
#[derive(ToSchema)]
pub struct Discount {
    pub checkout_session: Option<String>,
    pub coupon: Coupon,
    pub customer: Option<String>,
    pub end: Option<i64>,
    pub id: String,
    pub invoice: Option<String>,
    pub invoice_item: Option<String>,
    /// Always `discount`.
    pub object: String,
    pub promotion_code: Option<String>,
    pub source: DiscountSource,
    pub start: i64,
    pub subscription: Option<String>,
    pub subscription_item: Option<String>,
}

/// `entitlement_check`
#[derive(ToSchema)]
pub struct EntitlementCheck {
    pub allowed: bool,
    pub customer: String,
    pub feature: String,
    /// Always `entitlement_check`.
    pub object: String,
    pub period_end: Option<i64>,
    pub period_start: Option<i64>,
    pub quota: Option<i64>,
    pub reason: String,
    pub remaining: Option<i64>,
    pub used: i64,
}

/// `entitlement_consumption`
#[derive(ToSchema)]
pub struct EntitlementConsumption {
    pub allowed: bool,
    pub consumed: i64,
    pub customer: String,
    pub feature: String,
    /// Always `entitlement_consumption`.
    pub object: String,
    pub period_end: Option<i64>,
    pub period_start: Option<i64>,
    pub quota: Option<i64>,
    pub reason: String,
    pub remaining: Option<i64>,
    pub replayed: bool,
    pub used: i64,
}

/// `entitlements.active_entitlement`
#[derive(ToSchema)]
pub struct EntitlementsActiveEntitlement {
    pub feature: String,
    pub id: String,
    pub livemode: bool,
    pub lookup_key: String,
    /// Always `entitlements.active_entitlement`.
    pub object: String,
}

/// `entitlements.feature`
#[derive(ToSchema)]
pub struct EntitlementsFeature {
    pub active: bool,
    pub id: String,
    pub livemode: bool,
    pub lookup_key: String,
    pub metadata: Metadata,
    pub name: String,
    /// Always `entitlements.feature`.
    pub object: String,
}

/// `invoice.automatic_tax`
#[derive(ToSchema)]
pub struct InvoiceAutomaticTax {
    pub disabled_reason: Option<String>,
    pub enabled: bool,
    pub liability: Option<AnyObject>,
    pub provider: Option<AnyObject>,
    pub status: Option<AnyObject>,
}

/// `invoice.confirmation_secret`
#[derive(ToSchema)]
pub struct InvoiceConfirmationSecret {
    pub client_secret: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// An object that says only its `type` (an invoice's issuer, a subscription's billing mode).
#[derive(ToSchema)]
pub struct TypeOnly {
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(ToSchema)]
pub struct DiscountAmount {
    pub amount: i64,
    pub discount: String,
}

#[derive(ToSchema)]
pub struct LineItemParentInvoiceItemDetailsProrationDetails {
    pub credited_items: Option<Vec<AnyObject>>,
}

/// `line_item.parent.invoice_item_details`
#[derive(ToSchema)]
pub struct LineItemParentInvoiceItemDetails {
    pub invoice_item: String,
    pub proration: bool,
    pub proration_details: LineItemParentInvoiceItemDetailsProrationDetails,
    pub subscription: Option<String>,
}

/// `line_item.parent.subscription_item_details`
#[derive(ToSchema)]
pub struct LineItemParentSubscriptionItemDetails {
    pub invoice_item: Option<String>,
    pub proration: bool,
    pub proration_details: LineItemParentInvoiceItemDetailsProrationDetails,
    pub subscription: String,
    pub subscription_item: String,
}

/// `line_item.parent`
#[derive(ToSchema)]
pub struct LineItemParent {
    pub invoice_item_details: Option<LineItemParentInvoiceItemDetails>,
    pub subscription_item_details: Option<LineItemParentSubscriptionItemDetails>,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(ToSchema)]
pub struct LineItemPeriod {
    pub end: i64,
    pub start: i64,
}

#[derive(ToSchema)]
pub struct LineItemPretaxCreditAmounts {
    pub amount: i64,
    pub credit_balance_transaction: Option<String>,
    pub discount: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(ToSchema)]
pub struct LineItemPricingPriceDetails {
    pub price: String,
    pub product: String,
}

/// `line_item.pricing`
#[derive(ToSchema)]
pub struct LineItemPricing {
    pub price_details: Option<LineItemPricingPriceDetails>,
    #[serde(rename = "type")]
    pub kind: String,
    pub unit_amount_decimal: Option<String>,
}

/// `line_item`
#[derive(ToSchema)]
pub struct LineItem {
    pub amount: i64,
    pub currency: String,
    pub description: Option<String>,
    pub discount_amounts: Vec<DiscountAmount>,
    pub discountable: bool,
    pub discounts: Vec<String>,
    pub id: String,
    pub invoice: String,
    pub livemode: bool,
    pub metadata: Metadata,
    /// Always `line_item`.
    pub object: String,
    pub parent: LineItemParent,
    pub period: LineItemPeriod,
    pub pretax_credit_amounts: Vec<LineItemPretaxCreditAmounts>,
    pub pricing: LineItemPricing,
    pub proration: bool,
    pub quantity: Option<i64>,
    pub subscription: Option<String>,
    pub subtotal: i64,
    pub tax_rates: Vec<TaxRate>,
    pub taxes: Vec<TaxAmount>,
}

/// `invoice.parent.subscription_details`
#[derive(ToSchema)]
pub struct InvoiceParentSubscriptionDetails {
    pub metadata: Option<Metadata>,
    pub subscription: String,
}

/// `invoice.parent`
#[derive(ToSchema)]
pub struct InvoiceParent {
    pub quote_details: Option<AnyObject>,
    pub subscription_details: InvoiceParentSubscriptionDetails,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `invoice.payment_settings`
#[derive(ToSchema)]
pub struct InvoicePaymentSettings {
    pub default_mandate: Option<AnyObject>,
    pub payment_method_options: Option<AnyObject>,
    pub payment_method_types: Option<Vec<String>>,
}

/// `invoice_payment.payment`
#[derive(ToSchema)]
pub struct InvoicePaymentPayment {
    pub payment_intent: Expandable,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `invoice_payment.status_transitions`
#[derive(ToSchema)]
pub struct InvoicePaymentStatusTransitions {
    pub canceled_at: Option<i64>,
    pub paid_at: Option<i64>,
}

/// `invoice_payment`
#[derive(ToSchema)]
pub struct InvoicePayment {
    pub amount_paid: Option<i64>,
    pub amount_requested: i64,
    pub created: i64,
    pub currency: String,
    pub id: String,
    pub invoice: Expandable,
    pub is_default: bool,
    pub livemode: bool,
    /// Always `invoice_payment`.
    pub object: String,
    pub payment: InvoicePaymentPayment,
    pub status: String,
    pub status_transitions: InvoicePaymentStatusTransitions,
}

/// `invoice.status_transitions`
#[derive(ToSchema)]
pub struct InvoiceStatusTransitions {
    pub finalized_at: Option<i64>,
    pub marked_uncollectible_at: Option<i64>,
    pub paid_at: Option<i64>,
    pub voided_at: Option<i64>,
}

/// `invoice`
#[derive(ToSchema)]
pub struct Invoice {
    pub account_country: Option<String>,
    pub account_name: String,
    pub account_tax_ids: Option<Vec<String>>,
    pub amount_due: i64,
    pub amount_overpaid: i64,
    pub amount_paid: i64,
    pub amount_remaining: i64,
    pub amount_shipping: i64,
    pub application: Option<String>,
    pub attempt_count: i64,
    pub attempted: bool,
    pub auto_advance: bool,
    pub automatic_tax: InvoiceAutomaticTax,
    pub automatically_finalizes_at: Option<i64>,
    pub billing_reason: String,
    pub collection_method: String,
    pub confirmation_secret: Option<InvoiceConfirmationSecret>,
    pub created: i64,
    pub currency: String,
    pub custom_fields: Option<Vec<AnyObject>>,
    pub customer: Expandable,
    pub customer_address: Option<Address>,
    pub customer_email: Option<String>,
    pub customer_name: Option<String>,
    pub customer_phone: Option<String>,
    pub customer_shipping: Option<AnyObject>,
    pub customer_tax_exempt: String,
    pub customer_tax_ids: Vec<AnyObject>,
    pub default_payment_method: Option<Expandable>,
    pub default_source: Option<String>,
    pub default_tax_rates: Vec<TaxRate>,
    pub description: Option<String>,
    pub discounts: Vec<Expandable>,
    pub due_date: Option<i64>,
    pub effective_at: Option<i64>,
    pub ending_balance: Option<i64>,
    pub footer: Option<String>,
    pub from_invoice: Option<AnyObject>,
    pub hosted_invoice_url: Option<String>,
    pub id: Option<String>,
    pub invoice_pdf: Option<String>,
    pub issuer: TypeOnly,
    pub last_finalization_error: Option<AnyObject>,
    pub latest_revision: Option<String>,
    pub lines: ListObject<LineItem>,
    pub livemode: bool,
    pub metadata: Metadata,
    pub next_payment_attempt: Option<i64>,
    pub number: Option<String>,
    /// Always `invoice`.
    pub object: String,
    pub on_behalf_of: Option<String>,
    pub paid: bool,
    pub paid_out_of_band: bool,
    pub parent: Option<InvoiceParent>,
    pub payment_intent: Option<Expandable>,
    pub payment_settings: InvoicePaymentSettings,
    pub payments: Option<ListObject<InvoicePayment>>,
    pub period_end: i64,
    pub period_start: i64,
    pub post_payment_credit_notes_amount: i64,
    pub pre_payment_credit_notes_amount: i64,
    pub receipt_number: Option<String>,
    pub rendering: Option<AnyObject>,
    pub shipping_cost: Option<AnyObject>,
    pub shipping_details: Option<AnyObject>,
    pub starting_balance: i64,
    pub statement_descriptor: Option<String>,
    pub status: String,
    pub status_transitions: InvoiceStatusTransitions,
    pub subscription: Option<Expandable>,
    pub subtotal: i64,
    pub subtotal_excluding_tax: i64,
    pub test_clock: Option<Expandable>,
    pub total: i64,
    pub total_discount_amounts: Vec<DiscountAmount>,
    pub total_excluding_tax: i64,
    pub total_pretax_credit_amounts: Vec<LineItemPretaxCreditAmounts>,
    pub total_taxes: Vec<TaxAmount>,
    pub webhooks_delivered_at: i64,
}

/// `invoiceitem.parent.subscription_details`
#[derive(ToSchema)]
pub struct InvoiceitemParentSubscriptionDetails {
    pub subscription: String,
    pub subscription_item: String,
}

/// `invoiceitem.parent`
#[derive(ToSchema)]
pub struct InvoiceitemParent {
    pub subscription_details: InvoiceitemParentSubscriptionDetails,
    #[serde(rename = "type")]
    pub kind: String,
}

/// One currency of `price.currency_options`
#[derive(ToSchema)]
pub struct PriceCurrencyOption {
    pub custom_unit_amount: Option<AnyObject>,
    pub tax_behavior: String,
    pub unit_amount: Option<i64>,
    pub unit_amount_decimal: Option<String>,
}

/// `price.recurring`
#[derive(ToSchema)]
pub struct PriceRecurring {
    pub interval: String,
    pub interval_count: i64,
    pub meter: Option<String>,
    pub trial_period_days: Option<i64>,
    pub usage_type: String,
}

/// `price.tiers[]`
#[derive(ToSchema)]
pub struct PriceTiers {
    pub flat_amount: Option<i64>,
    pub flat_amount_decimal: Option<String>,
    pub unit_amount: Option<i64>,
    pub unit_amount_decimal: Option<String>,
    pub up_to: Option<i64>,
}

/// `price.transform_quantity`
#[derive(ToSchema)]
pub struct PriceTransformQuantity {
    pub divide_by: i64,
    pub round: String,
}

/// `price`
#[derive(ToSchema)]
pub struct Price {
    pub active: bool,
    pub billing_scheme: String,
    pub created: i64,
    pub currency: String,
    pub currency_options: Option<BTreeMap<String, PriceCurrencyOption>>,
    pub custom_unit_amount: Option<AnyObject>,
    pub id: String,
    pub livemode: bool,
    pub lookup_key: Option<String>,
    pub metadata: Metadata,
    pub nickname: Option<String>,
    /// Always `price`.
    pub object: String,
    pub product: Expandable,
    pub recurring: Option<PriceRecurring>,
    pub tax_behavior: String,
    pub tiers: Option<Vec<PriceTiers>>,
    pub tiers_mode: Option<String>,
    pub transform_quantity: Option<PriceTransformQuantity>,
    #[serde(rename = "type")]
    pub kind: String,
    pub unit_amount: Option<i64>,
    pub unit_amount_decimal: Option<String>,
}

/// `invoiceitem.pricing`
#[derive(ToSchema)]
pub struct InvoiceitemPricing {
    pub price_details: Option<LineItemPricingPriceDetails>,
    #[serde(rename = "type")]
    pub kind: String,
    pub unit_amount_decimal: Option<String>,
}

/// `invoiceitem`
#[derive(ToSchema)]
pub struct Invoiceitem {
    pub amount: i64,
    pub currency: String,
    pub customer: Expandable,
    pub date: i64,
    pub description: Option<String>,
    pub discountable: bool,
    pub discounts: Vec<Expandable>,
    pub id: String,
    pub invoice: Option<Expandable>,
    pub livemode: bool,
    pub metadata: Metadata,
    /// Always `invoiceitem`.
    pub object: String,
    pub parent: Option<InvoiceitemParent>,
    pub period: LineItemPeriod,
    pub price: Option<Price>,
    pub pricing: InvoiceitemPricing,
    pub proration: bool,
    pub quantity: i64,
    pub subscription: Option<Expandable>,
    pub tax_rates: Vec<TaxRate>,
    pub test_clock: Option<Expandable>,
    pub unit_amount_decimal: Option<String>,
}

/// `payment_intent.amount_details.tip`
#[derive(ToSchema)]
pub struct PaymentIntentAmountDetailsTip {}

/// `payment_intent.amount_details`
#[derive(ToSchema)]
pub struct PaymentIntentAmountDetails {
    pub tip: PaymentIntentAmountDetailsTip,
}

/// A payment or setup error: `last_payment_error`, `last_setup_error`.
#[derive(ToSchema)]
pub struct LastError {
    pub charge: Option<String>,
    pub code: String,
    pub decline_code: Option<String>,
    pub doc_url: String,
    pub message: String,
    pub payment_method: Option<Expandable>,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(ToSchema)]
pub struct RedirectToUrl {
    pub return_url: Option<String>,
    pub url: String,
}

/// `payment_intent.next_action`
#[derive(ToSchema)]
pub struct PaymentIntentNextAction {
    pub redirect_to_url: RedirectToUrl,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(ToSchema)]
pub struct SetupIntentPaymentMethodOptionsCard {
    pub request_three_d_secure: String,
}

/// `payment_intent.payment_method_options`
#[derive(ToSchema)]
pub struct PaymentIntentPaymentMethodOptions {
    pub card: SetupIntentPaymentMethodOptionsCard,
}

/// `payment_intent`
#[derive(ToSchema)]
pub struct PaymentIntent {
    pub amount: i64,
    pub amount_capturable: i64,
    pub amount_details: PaymentIntentAmountDetails,
    pub amount_received: i64,
    pub application: Option<String>,
    pub application_fee_amount: Option<i64>,
    pub automatic_payment_methods: Option<AnyObject>,
    pub canceled_at: Option<i64>,
    pub cancellation_reason: Option<String>,
    pub capture_method: String,
    pub client_secret: String,
    pub confirmation_method: String,
    pub created: i64,
    pub currency: String,
    pub customer: Option<Expandable>,
    pub description: Option<String>,
    pub id: String,
    pub invoice: Option<Expandable>,
    pub last_payment_error: Option<LastError>,
    pub latest_charge: Option<Expandable>,
    pub livemode: bool,
    pub metadata: Metadata,
    pub next_action: Option<PaymentIntentNextAction>,
    /// Always `payment_intent`.
    pub object: String,
    pub on_behalf_of: Option<String>,
    pub payment_method: Option<Expandable>,
    pub payment_method_options: PaymentIntentPaymentMethodOptions,
    pub payment_method_types: Vec<String>,
    pub processing: Option<AnyObject>,
    pub receipt_email: Option<String>,
    pub review: Option<String>,
    pub setup_future_usage: Option<String>,
    pub shipping: Option<AnyObject>,
    pub statement_descriptor: Option<String>,
    pub statement_descriptor_suffix: Option<String>,
    pub status: String,
    pub transfer_data: Option<AnyObject>,
    pub transfer_group: Option<String>,
}

/// `payment_method.card.networks`
#[derive(ToSchema)]
pub struct PaymentMethodCardNetworks {
    pub available: Vec<String>,
    pub preferred: Option<String>,
}

/// `payment_method.card.three_d_secure_usage`
#[derive(ToSchema)]
pub struct PaymentMethodCardThreeDSecureUsage {
    pub supported: bool,
}

/// `payment_method.card`
#[derive(ToSchema)]
pub struct PaymentMethodCard {
    pub brand: String,
    pub checks: PaymentMethodCardChecks,
    pub country: String,
    pub display_brand: String,
    pub exp_month: i64,
    pub exp_year: i64,
    pub fingerprint: String,
    pub funding: String,
    pub generated_from: Option<AnyObject>,
    pub last4: String,
    pub networks: PaymentMethodCardNetworks,
    pub three_d_secure_usage: PaymentMethodCardThreeDSecureUsage,
    pub wallet: Option<AnyObject>,
}

/// `payment_method`
#[derive(ToSchema)]
pub struct PaymentMethod {
    pub allow_redisplay: String,
    pub billing_details: ChargeBillingDetails,
    pub card: PaymentMethodCard,
    pub created: i64,
    pub customer: Option<Expandable>,
    pub id: String,
    pub livemode: bool,
    pub metadata: Metadata,
    /// Always `payment_method`.
    pub object: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `plan`
#[derive(ToSchema)]
pub struct Plan {
    pub active: bool,
    pub amount: Option<i64>,
    pub amount_decimal: Option<String>,
    pub billing_scheme: String,
    pub created: i64,
    pub currency: String,
    pub id: String,
    pub interval: Option<String>,
    pub interval_count: Option<i64>,
    pub livemode: bool,
    pub metadata: Metadata,
    pub meter: Option<String>,
    pub nickname: Option<String>,
    /// Always `plan`.
    pub object: String,
    pub product: String,
    pub tiers_mode: Option<String>,
    pub transform_usage: Option<AnyObject>,
    pub trial_period_days: Option<i64>,
    pub usage_type: Option<String>,
}

/// `product`
#[derive(ToSchema)]
pub struct Product {
    pub active: bool,
    pub created: i64,
    pub default_price: Option<Expandable>,
    pub description: Option<String>,
    pub id: String,
    pub images: Vec<String>,
    pub livemode: bool,
    pub marketing_features: Vec<ProductMarketingFeatures>,
    pub metadata: Metadata,
    pub name: String,
    /// Always `product`.
    pub object: String,
    pub package_dimensions: Option<AnyObject>,
    pub shippable: Option<bool>,
    pub statement_descriptor: Option<String>,
    pub tax_code: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub unit_label: Option<String>,
    pub updated: i64,
    pub url: Option<String>,
}

/// `product_feature`
#[derive(ToSchema)]
pub struct ProductFeature {
    pub entitlement_feature: EntitlementsFeature,
    pub grant_days: Option<i64>,
    pub id: String,
    pub livemode: bool,
    /// Always `product_feature`.
    pub object: String,
    pub quota: Option<i64>,
}

/// `promotion_code.promotion`
#[derive(ToSchema)]
pub struct PromotionCodePromotion {
    pub coupon: Expandable,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `promotion_code.restrictions`
#[derive(ToSchema)]
pub struct PromotionCodeRestrictions {
    pub first_time_transaction: bool,
    pub minimum_amount: Option<i64>,
    pub minimum_amount_currency: Option<String>,
}

/// `promotion_code`
#[derive(ToSchema)]
pub struct PromotionCode {
    pub active: bool,
    pub code: String,
    pub created: i64,
    pub customer: Option<Expandable>,
    pub customer_account: Option<String>,
    pub expires_at: Option<i64>,
    pub id: String,
    pub livemode: bool,
    pub max_redemptions: Option<i64>,
    pub metadata: Metadata,
    /// Always `promotion_code`.
    pub object: String,
    pub promotion: PromotionCodePromotion,
    pub restrictions: PromotionCodeRestrictions,
    pub times_redeemed: i64,
}

/// `refund.destination_details.card`
#[derive(ToSchema)]
pub struct RefundDestinationDetailsCard {
    pub reference_status: String,
    pub reference_type: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `refund.destination_details`
#[derive(ToSchema)]
pub struct RefundDestinationDetails {
    pub card: RefundDestinationDetailsCard,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `refund`
#[derive(ToSchema)]
pub struct Refund {
    pub amount: i64,
    pub balance_transaction: Option<Expandable>,
    pub charge: Expandable,
    pub created: i64,
    pub currency: String,
    pub destination_details: RefundDestinationDetails,
    pub failure_reason: Option<String>,
    pub id: String,
    pub metadata: Metadata,
    /// Always `refund`.
    pub object: String,
    pub payment_intent: Expandable,
    pub reason: Option<String>,
    pub receipt_number: Option<String>,
    pub source_transfer_reversal: Option<String>,
    pub status: String,
    pub transfer_reversal: Option<String>,
}

/// `setup_intent.next_action`
#[derive(ToSchema)]
pub struct SetupIntentNextAction {
    pub redirect_to_url: RedirectToUrl,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `setup_intent.payment_method_options`
#[derive(ToSchema)]
pub struct SetupIntentPaymentMethodOptions {
    pub card: SetupIntentPaymentMethodOptionsCard,
}

/// `setup_intent`
#[derive(ToSchema)]
pub struct SetupIntent {
    pub application: Option<String>,
    pub automatic_payment_methods: Option<AnyObject>,
    pub cancellation_reason: Option<String>,
    pub client_secret: String,
    pub created: i64,
    pub customer: Option<Expandable>,
    pub description: Option<String>,
    pub flow_directions: Option<Vec<String>>,
    pub id: String,
    pub last_setup_error: Option<LastError>,
    pub latest_attempt: Option<Expandable>,
    pub livemode: bool,
    pub mandate: Option<String>,
    pub metadata: Metadata,
    pub next_action: Option<SetupIntentNextAction>,
    /// Always `setup_intent`.
    pub object: String,
    pub on_behalf_of: Option<String>,
    pub payment_method: Option<Expandable>,
    pub payment_method_options: SetupIntentPaymentMethodOptions,
    pub payment_method_types: Vec<String>,
    pub single_use_mandate: Option<AnyObject>,
    pub status: String,
    pub usage: String,
}

/// `spend_limit`
#[derive(ToSchema)]
pub struct SpendLimit {
    pub amount: i64,
    pub behavior: String,
    pub created: i64,
    pub currency: String,
    pub customer: String,
    pub id: String,
    pub livemode: bool,
    pub metadata: Metadata,
    /// Always `spend_limit`.
    pub object: String,
    pub subscription: Option<String>,
}

/// `subscription.automatic_tax`
#[derive(ToSchema)]
pub struct SubscriptionAutomaticTax {
    pub disabled_reason: Option<String>,
    pub enabled: bool,
    pub liability: Option<AnyObject>,
}

/// `subscription.cancellation_details`
#[derive(ToSchema)]
pub struct SubscriptionCancellationDetails {
    pub comment: Option<String>,
    pub feedback: Option<String>,
    pub reason: Option<String>,
}

/// `subscription.invoice_settings`
#[derive(ToSchema)]
pub struct SubscriptionInvoiceSettings {
    pub account_tax_ids: Option<Vec<String>>,
    pub issuer: TypeOnly,
}

/// `subscription_item`
#[derive(ToSchema)]
pub struct SubscriptionItem {
    pub billing_thresholds: Option<AnyObject>,
    pub created: i64,
    pub current_period_end: i64,
    pub current_period_start: i64,
    pub discounts: Vec<Expandable>,
    pub id: String,
    pub metadata: Metadata,
    /// Always `subscription_item`.
    pub object: String,
    pub plan: Plan,
    pub price: Price,
    pub quantity: i64,
    pub subscription: String,
    pub tax_rates: Vec<TaxRate>,
}

/// `subscription.pause_collection`
#[derive(ToSchema)]
pub struct SubscriptionPauseCollection {
    pub behavior: String,
    pub resumes_at: Option<i64>,
}

/// `subscription.payment_settings.payment_method_options.card`
#[derive(ToSchema)]
pub struct SubscriptionPaymentSettingsPaymentMethodOptionsCard {
    pub mandate_options: Option<AnyObject>,
    pub network: Option<String>,
    pub request_three_d_secure: String,
}

/// `subscription.payment_settings.payment_method_options`
#[derive(ToSchema)]
pub struct SubscriptionPaymentSettingsPaymentMethodOptions {
    pub acss_debit: Option<AnyObject>,
    pub bancontact: Option<AnyObject>,
    pub card: SubscriptionPaymentSettingsPaymentMethodOptionsCard,
    pub customer_balance: Option<AnyObject>,
    pub konbini: Option<AnyObject>,
    pub sepa_debit: Option<AnyObject>,
    pub us_bank_account: Option<AnyObject>,
}

/// `subscription.payment_settings`
#[derive(ToSchema)]
pub struct SubscriptionPaymentSettings {
    pub payment_method_options: Option<SubscriptionPaymentSettingsPaymentMethodOptions>,
    pub payment_method_types: Option<Vec<String>>,
    pub save_default_payment_method: String,
}

/// `subscription.trial_settings.end_behavior`
#[derive(ToSchema)]
pub struct SubscriptionTrialSettingsEndBehavior {
    pub missing_payment_method: String,
}

/// `subscription.trial_settings`
#[derive(ToSchema)]
pub struct SubscriptionTrialSettings {
    pub end_behavior: SubscriptionTrialSettingsEndBehavior,
}

/// `subscription`
#[derive(ToSchema)]
pub struct Subscription {
    pub application: Option<String>,
    pub application_fee_percent: Option<f64>,
    pub automatic_tax: SubscriptionAutomaticTax,
    pub billing_cycle_anchor: i64,
    pub billing_cycle_anchor_config: Option<AnyObject>,
    pub billing_mode: TypeOnly,
    pub billing_thresholds: Option<AnyObject>,
    pub cancel_at: Option<i64>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<i64>,
    pub cancellation_details: SubscriptionCancellationDetails,
    pub collection_method: String,
    pub created: i64,
    pub currency: String,
    pub current_period_end: i64,
    pub current_period_start: i64,
    pub customer: Expandable,
    pub days_until_due: Option<i64>,
    pub default_payment_method: Option<Expandable>,
    pub default_source: Option<String>,
    pub default_tax_rates: Vec<TaxRate>,
    pub description: Option<String>,
    pub discount: Option<Discount>,
    pub discounts: Vec<Expandable>,
    pub ended_at: Option<i64>,
    pub id: String,
    pub invoice_settings: SubscriptionInvoiceSettings,
    pub items: ListObject<SubscriptionItem>,
    pub latest_invoice: Option<Expandable>,
    pub livemode: bool,
    pub metadata: Metadata,
    pub next_pending_invoice_item_invoice: Option<String>,
    /// Always `subscription`.
    pub object: String,
    pub on_behalf_of: Option<String>,
    pub pause_collection: Option<SubscriptionPauseCollection>,
    pub payment_settings: SubscriptionPaymentSettings,
    pub pending_invoice_item_interval: Option<AnyObject>,
    pub pending_setup_intent: Option<String>,
    pub pending_update: Option<AnyObject>,
    pub plan: Price,
    pub quantity: Option<i64>,
    pub schedule: Option<String>,
    pub start_date: i64,
    pub status: String,
    pub test_clock: Option<Expandable>,
    pub transfer_data: Option<AnyObject>,
    pub trial_end: Option<i64>,
    pub trial_settings: SubscriptionTrialSettings,
    pub trial_start: Option<i64>,
}

/// `test_helpers.test_clock.status_details.advancing`
#[derive(ToSchema)]
pub struct TestHelpersTestClockStatusDetailsAdvancing {
    pub target_frozen_time: i64,
}

/// `test_helpers.test_clock.status_details`
#[derive(ToSchema)]
pub struct TestHelpersTestClockStatusDetails {
    pub advancing: Option<TestHelpersTestClockStatusDetailsAdvancing>,
}

/// `test_helpers.test_clock`
#[derive(ToSchema)]
pub struct TestHelpersTestClock {
    pub created: i64,
    pub deletes_after: i64,
    pub frozen_time: i64,
    pub id: String,
    pub livemode: bool,
    pub name: Option<String>,
    /// Always `test_helpers.test_clock`.
    pub object: String,
    pub status: String,
    pub status_details: TestHelpersTestClockStatusDetails,
}

/// `usage_check`
#[derive(ToSchema)]
pub struct UsageCheck {
    pub allowed: bool,
    pub behavior: Option<String>,
    pub cost: i64,
    pub credit_balance: i64,
    pub currency: String,
    pub customer: String,
    pub limit: Option<i64>,
    /// Always `usage_check`.
    pub object: String,
    pub period_end: Option<i64>,
    pub period_start: Option<i64>,
    pub reason: String,
    pub remaining: Option<i64>,
    pub used: i64,
}

/// `webhook_attempt`
#[derive(ToSchema)]
pub struct WebhookAttempt {
    pub created: i64,
    pub delivery: String,
    pub error: Option<String>,
    pub event: String,
    pub id: String,
    pub latency_ms: i64,
    /// Always `webhook_attempt`.
    pub object: String,
    pub response_excerpt: Option<String>,
    pub status_code: Option<i64>,
    pub webhook_endpoint: String,
}

/// `webhook_delivery`
#[derive(ToSchema)]
pub struct WebhookDelivery {
    pub event: String,
    pub id: String,
    /// Always `webhook_delivery`.
    pub object: String,
    pub status: String,
    pub webhook_endpoint: String,
}

/// `webhook_endpoint`
#[derive(ToSchema)]
pub struct WebhookEndpoint {
    pub api_version: Option<String>,
    pub application: Option<String>,
    pub created: i64,
    pub description: Option<String>,
    pub disabled_reason: Option<String>,
    pub enabled_events: Vec<String>,
    pub id: String,
    pub livemode: bool,
    pub metadata: Metadata,
    /// Always `webhook_endpoint`.
    pub object: String,
    pub secret: Option<String>,
    pub signature_scheme: String,
    pub status: String,
    pub url: String,
}
/// What `POST /v1/billing/meter_events/batch` answers.
#[derive(ToSchema)]
pub struct MeterEventBatch {
    /// Always `list`.
    pub object: String,
    pub url: String,
    /// How many events were recorded.
    pub recorded: i64,
    /// How many were refused.
    pub refused: i64,
    /// Each event's outcome, in the order sent.
    pub data: Vec<MeterEventBatchItem>,
}

/// One event of `POST /v1/billing/meter_events/batch`, in the order sent: recorded, or refused
/// with Stripe's error object.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum MeterEventBatchItem {
    Recorded { identifier: String, timestamp: i64 },
    Refused { error: ErrorBody },
}

/// A tax on a line or an invoice (`taxes`, `total_taxes`).
#[derive(ToSchema)]
pub struct TaxAmount {
    pub amount: i64,
    /// `inclusive` or `exclusive`.
    pub tax_behavior: String,
    pub tax_rate_details: TaxRateDetails,
    pub taxability_reason: String,
    pub taxable_amount: i64,
    /// Always `tax_rate_details`.
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(ToSchema)]
pub struct TaxRateDetails {
    /// The tax rate's id.
    pub tax_rate: String,
}

/// `checkout.session`
#[derive(ToSchema)]
pub struct CheckoutSession {
    pub adaptive_pricing: CheckoutEnabled,
    pub after_expiration: Option<AnyObject>,
    pub automatic_tax: CheckoutAutomaticTax,
    pub billing_address_collection: Option<String>,
    pub client_secret: Option<String>,
    pub collected_information: Option<AnyObject>,
    pub consent: Option<AnyObject>,
    pub consent_collection: Option<AnyObject>,
    pub currency_conversion: Option<AnyObject>,
    pub custom_fields: Vec<AnyObject>,
    pub custom_text: CheckoutCustomText,
    pub customer_account: Option<String>,
    pub integration_identifier: Option<String>,
    pub invoice_creation: Option<AnyObject>,
    pub locale: Option<String>,
    pub managed_payments: Option<AnyObject>,
    pub origin_context: Option<String>,
    pub payment_link: Option<String>,
    /// Always `always`: a card is collected.
    pub payment_method_collection: String,
    pub payment_method_configuration_details: Option<AnyObject>,
    pub payment_method_options: AnyObject,
    pub permissions: Option<AnyObject>,
    pub phone_number_collection: CheckoutEnabled,
    pub recovered_from: Option<String>,
    pub saved_payment_method_options: Option<AnyObject>,
    pub shipping_address_collection: Option<AnyObject>,
    pub shipping_cost: Option<AnyObject>,
    pub shipping_options: Vec<AnyObject>,
    pub submit_type: Option<String>,
    pub wallet_options: Option<AnyObject>,
    pub allow_promotion_codes: bool,
    pub amount_subtotal: i64,
    pub amount_total: i64,
    pub cancel_url: Option<String>,
    pub client_reference_id: Option<String>,
    pub created: i64,
    pub currency: Option<String>,
    pub customer: Option<Expandable>,
    /// `if_required` or `always` (payment mode).
    pub customer_creation: Option<String>,
    pub customer_details: Option<CheckoutSessionCustomerDetails>,
    pub customer_email: Option<String>,
    pub discounts: Vec<CheckoutSessionDiscount>,
    pub expires_at: i64,
    pub id: String,
    pub invoice: Option<Expandable>,
    /// Present with `expand[]=line_items`.
    pub line_items: Option<ListObject<CheckoutSessionLineItem>>,
    pub livemode: bool,
    pub metadata: Metadata,
    /// `payment`, `subscription` or `setup`.
    pub mode: String,
    /// Always `checkout.session`.
    pub object: String,
    pub payment_intent: Option<Expandable>,
    pub payment_method_types: Vec<String>,
    /// `paid`, `unpaid` or `no_payment_required`.
    pub payment_status: String,
    pub setup_intent: Option<Expandable>,
    /// `open`, `complete` or `expired`.
    pub status: String,
    pub subscription: Option<Expandable>,
    pub success_url: String,
    pub total_details: CheckoutSessionTotalDetails,
    pub ui_mode: String,
    /// The hosted page, while the session is open.
    pub url: Option<String>,
}

/// Cashbox computes no tax automatically: `enabled` is false.
#[derive(ToSchema)]
pub struct CheckoutAutomaticTax {
    pub enabled: bool,
    pub liability: Option<AnyObject>,
    pub provider: Option<String>,
    pub status: Option<String>,
}

#[derive(ToSchema)]
pub struct CheckoutEnabled {
    pub enabled: bool,
}

#[derive(ToSchema)]
pub struct CheckoutCustomText {
    pub after_submit: Option<AnyObject>,
    pub shipping_address: Option<AnyObject>,
    pub submit: Option<AnyObject>,
    pub terms_of_service_acceptance: Option<AnyObject>,
}

#[derive(ToSchema)]
pub struct CheckoutSessionCustomerDetails {
    pub address: Option<Address>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub tax_exempt: String,
    pub tax_ids: Vec<AnyObject>,
}

#[derive(ToSchema)]
pub struct CheckoutSessionDiscount {
    pub coupon: Option<String>,
    pub promotion_code: Option<String>,
}

#[derive(ToSchema)]
pub struct CheckoutSessionTotalDetails {
    pub amount_discount: i64,
    pub amount_shipping: i64,
    pub amount_tax: i64,
}

/// A Checkout Session's line item (`item`).
#[derive(ToSchema)]
pub struct CheckoutSessionLineItem {
    pub adjustable_quantity: Option<CheckoutSessionAdjustableQuantity>,
    pub amount_discount: i64,
    pub amount_subtotal: i64,
    pub amount_tax: i64,
    pub amount_total: i64,
    pub currency: Option<String>,
    pub description: String,
    pub id: String,
    /// Always `item`.
    pub object: String,
    pub price: Price,
    pub quantity: i64,
}

#[derive(ToSchema)]
pub struct CheckoutSessionAdjustableQuantity {
    pub enabled: bool,
    pub maximum: i64,
    pub minimum: i64,
}

/// `billing_portal.configuration`
#[derive(ToSchema)]
pub struct PortalConfiguration {
    pub active: bool,
    pub application: Option<String>,
    pub business_profile: PortalBusinessProfile,
    pub created: i64,
    pub default_return_url: Option<String>,
    pub features: PortalFeatures,
    pub id: String,
    pub is_default: bool,
    pub livemode: bool,
    pub login_page: PortalLoginPage,
    pub metadata: Metadata,
    pub name: Option<String>,
    /// Always `billing_portal.configuration`.
    pub object: String,
    pub updated: i64,
}

/// Cashbox has no portal login page: `enabled` is false.
#[derive(ToSchema)]
pub struct PortalLoginPage {
    pub enabled: bool,
    pub url: Option<String>,
}

#[derive(ToSchema)]
pub struct PortalBusinessProfile {
    pub headline: Option<String>,
    pub privacy_policy_url: Option<String>,
    pub terms_of_service_url: Option<String>,
}

#[derive(ToSchema)]
pub struct PortalFeatures {
    pub customer_update: PortalCustomerUpdate,
    pub invoice_history: PortalEnabled,
    pub payment_method_update: PortalEnabled,
    pub subscription_cancel: PortalSubscriptionCancel,
    pub subscription_update: PortalSubscriptionUpdate,
}

#[derive(ToSchema)]
pub struct PortalEnabled {
    pub enabled: bool,
}

#[derive(ToSchema)]
pub struct PortalCustomerUpdate {
    pub allowed_updates: Vec<String>,
    pub enabled: bool,
}

#[derive(ToSchema)]
pub struct PortalSubscriptionCancel {
    pub cancellation_reason: PortalCancellationReason,
    pub enabled: bool,
    /// `at_period_end` or `immediately`.
    pub mode: String,
    pub proration_behavior: String,
}

#[derive(ToSchema)]
pub struct PortalCancellationReason {
    pub enabled: bool,
    pub options: Vec<String>,
}

#[derive(ToSchema)]
pub struct PortalSubscriptionUpdate {
    pub default_allowed_updates: Vec<String>,
    pub enabled: bool,
    pub products: Vec<PortalProductPrices>,
    pub proration_behavior: String,
}

#[derive(ToSchema)]
pub struct PortalProductPrices {
    pub prices: Vec<String>,
    pub product: String,
}

/// `billing_portal.session`
#[derive(ToSchema)]
pub struct PortalSession {
    pub configuration: String,
    pub created: i64,
    pub customer: String,
    pub customer_account: Option<String>,
    /// The deep link it opens, if any.
    pub flow: Option<AnyObject>,
    pub id: String,
    pub livemode: bool,
    pub locale: Option<String>,
    /// Always `billing_portal.session`.
    pub object: String,
    pub on_behalf_of: Option<String>,
    pub return_url: String,
    /// The portal page: open it within five minutes.
    pub url: String,
}

/// `processor_event`: one of the processor's webhooks to Cashbox, and how it was applied.
#[derive(ToSchema)]
pub struct ProcessorEvent {
    /// Attempts at applying it.
    pub attempts: i64,
    /// When the processor created it.
    pub created: i64,
    pub data: ProcessorEventData,
    /// The processor's event id.
    pub id: String,
    pub livemode: bool,
    /// Always `processor_event`.
    pub object: String,
    /// What applying it did, or why it was not applied.
    pub outcome: Option<String>,
    /// `stripe`.
    pub processor: String,
    /// When Cashbox first received it.
    pub received: i64,
    /// `pending`, `applied`, `ignored` or `failed`.
    pub status: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `processor_event.data`
#[derive(ToSchema)]
pub struct ProcessorEventData {
    /// The processor's object, as it sent it.
    pub object: AnyObject,
}

/// `dispute`
#[derive(ToSchema)]
pub struct Dispute {
    pub amount: i64,
    pub balance_transactions: Vec<AnyObject>,
    pub charge: String,
    pub created: i64,
    pub currency: String,
    pub enhanced_eligibility_types: Vec<String>,
    pub evidence: DisputeEvidence,
    pub evidence_details: DisputeEvidenceDetails,
    pub id: String,
    pub is_charge_refundable: bool,
    pub livemode: bool,
    pub metadata: Metadata,
    /// Always `dispute`.
    pub object: String,
    pub payment_intent: Option<String>,
    pub payment_method_details: DisputePaymentMethodDetails,
    pub reason: String,
    /// `warning_needs_response`, `warning_under_review`, `warning_closed`,
    /// `needs_response`, `under_review`, `won` or `lost`.
    pub status: String,
}

/// `dispute.evidence`: text fields; the file fields are always `null` (no File uploads).
#[derive(ToSchema)]
pub struct DisputeEvidence {
    pub access_activity_log: Option<String>,
    pub billing_address: Option<String>,
    pub cancellation_policy: Option<String>,
    pub cancellation_policy_disclosure: Option<String>,
    pub cancellation_rebuttal: Option<String>,
    pub customer_communication: Option<String>,
    pub customer_email_address: Option<String>,
    pub customer_name: Option<String>,
    pub customer_purchase_ip: Option<String>,
    pub customer_signature: Option<String>,
    pub duplicate_charge_documentation: Option<String>,
    pub duplicate_charge_explanation: Option<String>,
    pub duplicate_charge_id: Option<String>,
    pub enhanced_evidence: AnyObject,
    pub product_description: Option<String>,
    pub receipt: Option<String>,
    pub refund_policy: Option<String>,
    pub refund_policy_disclosure: Option<String>,
    pub refund_refusal_explanation: Option<String>,
    pub service_date: Option<String>,
    pub service_documentation: Option<String>,
    pub shipping_address: Option<String>,
    pub shipping_carrier: Option<String>,
    pub shipping_date: Option<String>,
    pub shipping_documentation: Option<String>,
    pub shipping_tracking_number: Option<String>,
    pub uncategorized_file: Option<String>,
    pub uncategorized_text: Option<String>,
}

/// `dispute.evidence_details`
#[derive(ToSchema)]
pub struct DisputeEvidenceDetails {
    pub due_by: Option<i64>,
    pub enhanced_eligibility: AnyObject,
    pub has_evidence: bool,
    pub past_due: bool,
    pub submission_count: i64,
}

/// `dispute.payment_method_details`
#[derive(ToSchema)]
pub struct DisputePaymentMethodDetails {
    pub card: DisputeCardDetails,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `dispute.payment_method_details.card`
#[derive(ToSchema)]
pub struct DisputeCardDetails {
    pub brand: String,
    /// `chargeback` or `inquiry`.
    pub case_type: String,
    pub network_reason_code: Option<String>,
}
