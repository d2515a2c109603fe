//! An invoice's payments (`/v1/invoice_payments`, and `invoice.payments` expanded): read from
//! the PaymentIntents that pay invoices (see [`cashbox_core::billing::invoice_payment`]).

use std::collections::HashMap;

use cashbox_core::billing::invoice::Invoice;
use cashbox_core::billing::invoice_payment::{
    InvoicePayment, InvoicePaymentListParams, payment_intent_id,
};
use cashbox_core::list::{Cursor, Page};
use cashbox_core::payments::PaymentIntent;
use cashbox_store::{CHILDREN_MAX, DocFilter, DocRow, DocTable};
use serde_json::{Value, json};

use crate::events::ListResult;
use crate::expand::Reader;
use crate::{App, AppError, AppResult};

const NAME: &str = "invoice_payment";

crate::service!(
    InvoicePayments,
    invoice_payments,
    "Invoice payments: list and retrieve."
);

impl InvoicePayments<'_> {
    pub async fn retrieve(&self, id: &str, expand: &[Vec<String>]) -> AppResult<Value> {
        let not_found = || AppError::not_found(NAME, id);
        let pi_id = payment_intent_id(id).ok_or_else(not_found)?;
        let pi: PaymentIntent = self.load(&pi_id).await.map_err(|_| not_found())?;
        let inv_id = pi.invoice.as_deref().ok_or_else(not_found)?;
        let inv: Invoice = self.load(inv_id).await?;
        let mut object = InvoicePayment::of(&pi, &inv).to_json();
        self.expand(&mut Reader::Store(self.store()), &mut object, expand)
            .await?;
        Ok(object)
    }

    /// Newest first, as every list; `invoice`, `payment[payment_intent]` and `status` filter.
    pub async fn list(
        &self,
        p: &InvoicePaymentListParams,
        expand: &[Vec<String>],
    ) -> AppResult<ListResult> {
        if let Some(f) = &p.payment {
            f.check()?;
        }
        let page = p.page()?;
        // The cursors name invoice payments; the store pages PaymentIntents.
        let cursor = match page.cursor_id() {
            None => Cursor::Start,
            Some((param, id)) => {
                let missing = || AppError::MissingReference {
                    object: NAME,
                    id: id.to_string(),
                    param: param.to_string(),
                };
                let pi = payment_intent_id(id).ok_or_else(missing)?;
                if self
                    .store()
                    .doc(DocTable::PaymentIntents, &pi)
                    .await?
                    .is_none()
                {
                    return Err(missing());
                }
                match page.cursor {
                    Cursor::Before(_) => Cursor::Before(pi),
                    _ => Cursor::After(pi),
                }
            }
        };
        let filter = DocFilter {
            parent: p.invoice.clone(),
            has_parent: true,
            statuses: p
                .status
                .map(|s| s.intent_statuses().iter().map(|s| s.to_string()).collect()),
            ids: p
                .payment
                .as_ref()
                .and_then(|f| f.payment_intent.clone())
                .map(|pi| vec![pi]),
            created: p.created.unwrap_or_default(),
            ..DocFilter::default()
        };
        let page = Page {
            limit: page.limit,
            cursor,
        };
        let listed = self
            .store()
            .list_docs(DocTable::PaymentIntents, &filter, &page)
            .await?;
        let mut data = self.render_payments(&listed.data).await?;
        self.expand_items(&mut Reader::Store(self.store()), &mut data, expand)
            .await?;
        Ok(ListResult {
            data,
            has_more: listed.has_more,
        })
    }
}

impl App {
    /// `rows` (PaymentIntents that pay invoices) as invoice payments.
    async fn render_payments(&self, rows: &[DocRow]) -> AppResult<Vec<Value>> {
        let mut invoices: HashMap<String, Invoice> = HashMap::new();
        let mut data = Vec::with_capacity(rows.len());
        for row in rows {
            let pi: PaymentIntent = self.open_doc(row)?;
            let Some(inv_id) = pi.invoice.clone() else {
                continue;
            };
            if !invoices.contains_key(&inv_id) {
                invoices.insert(inv_id.clone(), self.load(&inv_id).await?);
            }
            data.push(InvoicePayment::of(&pi, &invoices[&inv_id]).to_json());
        }
        Ok(data)
    }

    /// `invoice.payments` expanded: the invoice's payments, newest first, as a list object.
    pub(crate) async fn payments_list(
        &self,
        reader: &mut Reader<'_>,
        inv: &Invoice,
    ) -> AppResult<Value> {
        let mut rows = match reader {
            Reader::Store(s) => s.children(DocTable::PaymentIntents, &inv.id).await?,
            Reader::Tx(tx) => tx.children(DocTable::PaymentIntents, &inv.id).await?,
        };
        let has_more = rows.len() > CHILDREN_MAX;
        rows.truncate(CHILDREN_MAX);
        let mut data = Vec::with_capacity(rows.len());
        for row in &rows {
            let pi: PaymentIntent = self.open_doc(row)?;
            data.push(InvoicePayment::of(&pi, inv).to_json());
        }
        Ok(json!({
            "object": "list",
            "data": data,
            "has_more": has_more,
            "url": format!("/v1/invoice_payments?invoice={}", inv.id),
        }))
    }

    /// `invoice.confirmation_secret` expanded: what the browser confirms the invoice's
    /// PaymentIntent with (Stripe.js `confirmPayment`), or null when it has none.
    pub(crate) async fn confirmation_secret(
        &self,
        reader: &mut Reader<'_>,
        inv: &Invoice,
    ) -> AppResult<Value> {
        let Some(pi_id) = &inv.payment_intent else {
            return Ok(Value::Null);
        };
        let row = reader.doc(DocTable::PaymentIntents, pi_id).await?;
        let Some(row) = row else {
            return Ok(Value::Null);
        };
        let pi: PaymentIntent = self.open_doc(&row)?;
        Ok(json!({"client_secret": pi.client_secret, "type": "payment_intent"}))
    }
}
