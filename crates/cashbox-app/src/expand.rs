//! `expand[]`: replacing linked ids in a response with the objects they name, as Stripe does.
//!
//! Paths are dotted (`latest_invoice.payment_intent`, `data.customer` in lists). Each object
//! type declares which of its fields are expandable; anything else is refused with Stripe's
//! message. Expansion reads through the caller's transaction when there is one, so objects
//! created in the same request are visible.

use cashbox_core::ParamError;
use cashbox_store::{Store, Tx};
use serde_json::{Value, json};

use cashbox_core::billing::catalog::{Price, Product};
use cashbox_core::billing::discounts::Coupon;
use cashbox_core::billing::invoice::{Discount, Invoice, InvoiceItem};
use cashbox_core::billing::subscription::Subscription;
use cashbox_core::checkout::CheckoutSession;
use cashbox_core::clock::TestClock;
use cashbox_core::payments::{Charge, PaymentIntent, PaymentMethod, Refund, SetupIntent};

use crate::docs::Doc;
use crate::{App, AppResult};

/// Stripe allows four levels of nested expansion.
pub const EXPAND_DEPTH_MAX: usize = 4;
/// Paths in one request's `expand[]`.
pub const EXPAND_PATHS_MAX: usize = 20;

/// Where expansion reads linked objects from.
pub enum Reader<'a> {
    Store(&'a Store),
    Tx(&'a mut Tx),
}

impl Reader<'_> {
    /// A document as the reader sees it.
    pub(crate) async fn doc(
        &mut self,
        table: cashbox_store::DocTable,
        id: &str,
    ) -> cashbox_store::Result<Option<cashbox_store::DocRow>> {
        match self {
            Reader::Store(s) => s.doc(table, id).await,
            Reader::Tx(tx) => tx.doc(table, id).await,
        }
    }
}

/// A list of discount ids on subscriptions and invoices, expanded from the object itself.
const DISCOUNTS: &str = "discounts";
/// An invoice's fields that are only rendered when expanded (Stripe's "includable" fields),
/// computed from the stored invoice.
const INVOICE_INCLUDABLE: [&str; 2] = ["payments", "confirmation_secret"];

/// The fields of an object type that hold expandable links.
fn expandable_fields(object_type: &str) -> &'static [&'static str] {
    match object_type {
        "customer" => &[
            "default_source",
            "invoice_settings.default_payment_method",
            "test_clock",
        ],
        "payment_method" => &["customer"],
        "payment_intent" => &["customer", "payment_method", "latest_charge", "invoice"],
        "charge" => &[
            "customer",
            "payment_intent",
            "payment_method",
            "balance_transaction",
        ],
        "refund" => &["charge", "payment_intent", "balance_transaction"],
        "setup_intent" => &["customer", "payment_method", "latest_attempt"],
        "price" => &["product"],
        "product" => &["default_price"],
        "promotion_code" => &["customer", "promotion.coupon"],
        "subscription" => &[
            "customer",
            "latest_invoice",
            "default_payment_method",
            "discounts",
            "test_clock",
        ],
        "invoice" => &[
            "customer",
            "subscription",
            "payment_intent",
            "default_payment_method",
            "discounts",
            "test_clock",
            "payments",
            "confirmation_secret",
        ],
        "invoice_payment" => &["invoice", "payment.payment_intent"],
        "invoiceitem" => &["customer", "invoice", "subscription", "test_clock"],
        "checkout.session" => &[
            "customer",
            "payment_intent",
            "subscription",
            "setup_intent",
            "invoice",
            "line_items",
        ],
        _ => &[],
    }
}

/// Checks `expand[]` paths before any work is done.
pub fn parse_paths(paths: &[String]) -> Result<Vec<Vec<String>>, ParamError> {
    if paths.len() > EXPAND_PATHS_MAX {
        return Err(ParamError::invalid(
            "expand",
            format!("You may expand at most {EXPAND_PATHS_MAX} paths"),
        ));
    }
    paths
        .iter()
        .map(|p| {
            let parts: Vec<String> = p.split('.').map(str::to_string).collect();
            if p.is_empty() || parts.iter().any(String::is_empty) {
                return Err(ParamError::invalid("expand", format!("Invalid expand path: {p}")));
            }
            if parts.len() > EXPAND_DEPTH_MAX + usize::from(parts[0] == "data") {
                return Err(ParamError::invalid(
                    "expand",
                    format!(
                        "You cannot expand more than {EXPAND_DEPTH_MAX} levels of a property. Property: {p}"
                    ),
                ));
            }
            Ok(parts)
        })
        .collect()
}

fn cannot_expand(path: &str) -> ParamError {
    ParamError::invalid(
        "expand",
        format!("This property cannot be expanded ({path})."),
    )
}

impl App {
    /// Expands `paths` in `value`, an object or a list envelope's items (paths start `data.`).
    pub async fn expand(
        &self,
        reader: &mut Reader<'_>,
        value: &mut Value,
        paths: &[Vec<String>],
    ) -> AppResult<()> {
        for path in paths {
            self.expand_path(reader, value, path, 0, &path.join("."))
                .await?;
        }
        Ok(())
    }

    /// Expands `paths` (each starting with `data`) in every item of a list.
    pub async fn expand_items(
        &self,
        reader: &mut Reader<'_>,
        items: &mut [Value],
        paths: &[Vec<String>],
    ) -> AppResult<()> {
        for path in paths {
            let full = path.join(".");
            let Some(("data", rest)) = path.split_first().map(|(h, t)| (h.as_str(), t)) else {
                return Err(cannot_expand(&full).into());
            };
            if rest.is_empty() {
                return Err(cannot_expand(&full).into());
            }
            for item in items.iter_mut() {
                self.expand_path(reader, item, rest, 0, &full).await?;
            }
        }
        Ok(())
    }

    /// Walks `path` from `value`; at each expandable link that is still an id, loads the object.
    async fn expand_path(
        &self,
        reader: &mut Reader<'_>,
        value: &mut Value,
        path: &[String],
        depth: usize,
        full: &str,
    ) -> AppResult<()> {
        if path.is_empty() || depth > EXPAND_DEPTH_MAX {
            return Ok(());
        }
        let object_type = value["object"].as_str().unwrap_or_default().to_string();
        let fields = expandable_fields(&object_type);
        // A field may itself be dotted (`invoice_settings.default_payment_method`).
        let Some(field) = fields.iter().find(|f| {
            let parts: Vec<&str> = f.split('.').collect();
            path.len() >= parts.len() && parts.iter().zip(path).all(|(a, b)| *a == b)
        }) else {
            return Err(cannot_expand(full).into());
        };
        if *field == DISCOUNTS {
            return self.expand_discounts(reader, value, path, full).await;
        }
        if object_type == "checkout.session" && *field == "line_items" {
            if path.len() > 1 {
                return Err(cannot_expand(full).into());
            }
            let id = value["id"].as_str().unwrap_or_default().to_string();
            let row = reader.doc(CheckoutSession::TABLE, &id).await?;
            value["line_items"] = match row {
                Some(row) => {
                    let s: CheckoutSession = self.open_doc(&row)?;
                    json!({
                        "object": "list",
                        "data": self.session_line_items(reader, &s).await?,
                        "has_more": false,
                        "url": format!("/v1/checkout/sessions/{id}/line_items"),
                    })
                }
                None => Value::Null,
            };
            return Ok(());
        }
        if object_type == "invoice" && INVOICE_INCLUDABLE.contains(field) {
            return self
                .expand_invoice_part(reader, value, field, path, depth, full)
                .await;
        }
        let field_len = field.split('.').count();
        let mut slot = &mut *value;
        for part in field.split('.') {
            slot = &mut slot[part];
        }
        if let Value::String(id) = slot {
            let id = id.clone();
            if let Some(object) = Box::pin(self.load_object(reader, &id, field)).await? {
                *slot = object;
            }
        }
        if slot.is_object() {
            Box::pin(self.expand_path(reader, slot, &path[field_len..], depth + 1, full)).await?;
        }
        Ok(())
    }

    /// `discounts`, a list of ids: the discounts live in their subscription or invoice (there is
    /// no `GET` for a discount), so they are read from it. Nothing below a discount expands:
    /// its coupon is already whole.
    async fn expand_discounts(
        &self,
        reader: &mut Reader<'_>,
        value: &mut Value,
        path: &[String],
        full: &str,
    ) -> AppResult<()> {
        if path.len() > 1 {
            return Err(cannot_expand(full).into());
        }
        let owner = value["id"].as_str().unwrap_or_default().to_string();
        let now = self.now();
        let render = |discounts: &[Discount]| {
            Value::Array(discounts.iter().map(|d| d.to_json(now)).collect())
        };
        let objects = match value["object"].as_str() {
            Some("subscription") => {
                self.load_doc_json(reader, &owner, |s: &Subscription| render(&s.discounts))
                    .await?
            }
            Some("invoice") => {
                self.load_doc_json(reader, &owner, |i: &Invoice| render(&i.discounts))
                    .await?
            }
            _ => None,
        };
        // An object not stored (an upcoming invoice) keeps its ids.
        if let Some(objects) = objects {
            value[DISCOUNTS] = objects;
        }
        Ok(())
    }

    /// An invoice's `payments` or `confirmation_secret`, read from the stored invoice (an
    /// upcoming invoice, not stored, has neither: null). Below `payments`, its items expand
    /// (`payments.data.payment.payment_intent`).
    async fn expand_invoice_part(
        &self,
        reader: &mut Reader<'_>,
        value: &mut Value,
        field: &str,
        path: &[String],
        depth: usize,
        full: &str,
    ) -> AppResult<()> {
        let id = value["id"].as_str().unwrap_or_default().to_string();
        let row = reader.doc(Invoice::TABLE, &id).await?;
        let Some(row) = row else {
            value[field] = Value::Null;
            return Ok(());
        };
        let inv: Invoice = self.open_doc(&row)?;
        let rest = &path[1..];
        if field == "payments" {
            let mut list = self.payments_list(reader, &inv).await?;
            if let Some((data, below)) = rest.split_first() {
                if data != "data" || below.is_empty() {
                    return Err(cannot_expand(full).into());
                }
                if let Value::Array(items) = &mut list["data"] {
                    for item in items {
                        Box::pin(self.expand_path(reader, item, below, depth + 2, full)).await?;
                    }
                }
            }
            value[field] = list;
        } else {
            if !rest.is_empty() {
                return Err(cannot_expand(full).into());
            }
            value[field] = self.confirmation_secret(reader, &inv).await?;
        }
        Ok(())
    }

    /// A Checkout Session's line items, each with its price rendered in full (as Stripe's
    /// line items carry it).
    pub(crate) async fn session_line_items(
        &self,
        reader: &mut Reader<'_>,
        s: &CheckoutSession,
    ) -> AppResult<Vec<Value>> {
        let mut items = s.line_items_json();
        for item in &mut items {
            let id = item["price"].as_str().unwrap_or_default().to_string();
            if let Some(price) = self
                .load_doc_json::<Price>(reader, &id, Price::to_json)
                .await?
            {
                item["price"] = price;
            }
        }
        Ok(items)
    }

    /// Any object by id, rendered, or `None` if there is no such object. `field` names the
    /// link: products may have ids of their own choosing, so a `product` link is not read
    /// from the id's prefix.
    async fn load_object(
        &self,
        reader: &mut Reader<'_>,
        id: &str,
        field: &str,
    ) -> AppResult<Option<Value>> {
        if field == "product" {
            return self
                .load_doc_json::<Product>(reader, id, Product::to_json)
                .await;
        }
        if field == "promotion.coupon" {
            let now = self.now();
            return self
                .load_doc_json::<Coupon>(reader, id, move |c| c.to_json_with(now, false, false))
                .await;
        }
        let prefix = id.split('_').next().unwrap_or_default();
        match prefix {
            "clock" => {
                self.load_doc_json::<TestClock>(reader, id, TestClock::to_json)
                    .await
            }
            "price" => {
                self.load_doc_json::<Price>(reader, id, Price::to_json)
                    .await
            }
            "sub" => {
                self.load_doc_json::<Subscription>(reader, id, |s| self.render_subscription(s))
                    .await
            }
            "in" => {
                self.load_doc_json::<Invoice>(reader, id, |i| self.render_invoice(i))
                    .await
            }
            "ii" => {
                self.load_doc_json::<InvoiceItem>(reader, id, InvoiceItem::to_json)
                    .await
            }
            "cus" => {
                let row = match reader {
                    Reader::Store(s) => s.customer(id).await?,
                    Reader::Tx(tx) => tx.customer(id).await?,
                };
                row.map(|r| self.render_customer_row(r)).transpose()
            }
            "pm" => {
                self.load_doc_json::<PaymentMethod>(reader, id, PaymentMethod::to_json)
                    .await
            }
            "pi" => {
                self.load_doc_json::<PaymentIntent>(reader, id, PaymentIntent::to_json)
                    .await
            }
            "ch" => {
                self.load_doc_json::<Charge>(reader, id, Charge::to_json)
                    .await
            }
            "re" => {
                self.load_doc_json::<Refund>(reader, id, Refund::to_json)
                    .await
            }
            "seti" => {
                self.load_doc_json::<SetupIntent>(reader, id, SetupIntent::to_json)
                    .await
            }
            _ => Ok(None),
        }
    }
}

impl App {
    async fn load_doc_json<T: Doc>(
        &self,
        reader: &mut Reader<'_>,
        id: &str,
        render: impl Fn(&T) -> Value,
    ) -> AppResult<Option<Value>> {
        let row = reader.doc(T::TABLE, id).await?;
        match row {
            Some(r) => Ok(Some(render(&self.open_doc::<T>(&r)?))),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_checked_up_front() {
        assert_eq!(
            parse_paths(&["a.b".into()]).unwrap(),
            vec![vec!["a".to_string(), "b".to_string()]]
        );
        assert!(parse_paths(&["a..b".into()]).is_err());
        assert!(parse_paths(&["".into()]).is_err());
        assert!(parse_paths(&["a.b.c.d.e".into()]).is_err());
        assert!(parse_paths(&["data.a.b.c.d".into()]).is_ok());
        let many: Vec<String> = (0..21).map(|i| format!("f{i}")).collect();
        assert!(parse_paths(&many).is_err());
    }
}
