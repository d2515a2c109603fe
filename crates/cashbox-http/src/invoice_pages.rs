//! The hosted invoice page (`hosted_invoice_url`: the invoice, and a form that pays it with a
//! sandbox test card) and the invoice PDF (`invoice_pdf`). Both open with the invoice's access
//! token; a draft has neither.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use cashbox_app::{AppError, BusinessProfile, RequestCtx};
use cashbox_core::billing::invoice::{Invoice, InvoicePayParams, InvoiceStatus};
use cashbox_core::billing::short_date;
use cashbox_core::checkout::CardInput;

use crate::pages::{amount_text, not_found, query_param};
use crate::pdf::{self, Text};
use crate::{HttpState, form, templates};

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/invoices/{id}", get(invoice_page))
        .route("/invoices/{id}/pay", post(invoice_pay))
        .route("/invoices/{id}/pdf", get(invoice_pdf))
}

/// Test cards the page offers (the sandbox charges no real card).
const TEST_CARDS: [(&str, &str); 3] = [
    ("pm_card_visa", "Visa •••• 4242 (succeeds)"),
    ("pm_card_chargeDeclined", "Visa •••• 0002 (declined)"),
    (
        "pm_card_chargeDeclinedInsufficientFunds",
        "Visa •••• 9995 (insufficient funds)",
    ),
];

/// Rows of (label, amount) text.
type Rows = Vec<(String, String)>;

/// The invoice's rows: its lines, then its totals.
fn rows(inv: &Invoice) -> (Rows, Rows) {
    let lines = inv
        .lines
        .iter()
        .map(|l| {
            (
                l.description.clone().unwrap_or_default(),
                amount_text(l.amount, inv.currency),
            )
        })
        .collect();
    let mut totals = vec![(
        "Subtotal".to_string(),
        amount_text(inv.subtotal, inv.currency),
    )];
    for (_, amount) in &inv.total_discount_amounts {
        totals.push(("Discount".into(), amount_text(-amount, inv.currency)));
    }
    if inv.total_pretax_credits != 0 {
        totals.push((
            "Credits applied".into(),
            amount_text(-inv.total_pretax_credits, inv.currency),
        ));
    }
    for t in &inv.total_taxes {
        let label = if t.inclusive { "Tax (included)" } else { "Tax" };
        totals.push((label.into(), amount_text(t.amount, inv.currency)));
    }
    totals.push(("Total".into(), amount_text(inv.total, inv.currency)));
    if inv.starting_balance != 0 || inv.ending_balance.unwrap_or(0) != inv.starting_balance {
        let applied = inv.amount_due - inv.total;
        totals.push(("Applied balance".into(), amount_text(applied, inv.currency)));
    }
    totals.push((
        "Amount due".into(),
        amount_text(inv.amount_due, inv.currency),
    ));
    if inv.amount_paid > 0 {
        totals.push((
            "Amount paid".into(),
            amount_text(inv.amount_paid, inv.currency),
        ));
    }
    (lines, totals)
}

fn title(inv: &Invoice) -> String {
    format!("Invoice {}", inv.number.as_deref().unwrap_or(&inv.id))
}

async fn invoice_page(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let token = query_param(&query, "token").unwrap_or_default();
    let Ok(inv) = s.app.invoice_for_page(&id, &token).await else {
        return not_found();
    };
    invoice_page_of(&s.app, &inv, &token, None)
}

/// The invoice's page: its lines and totals, and a form to pay it while it is open.
fn invoice_page_of(
    app: &cashbox_app::App,
    inv: &Invoice,
    token: &str,
    message: Option<&str>,
) -> Response {
    let (lines, totals) = rows(inv);
    templates::business_page(
        app.business(),
        StatusCode::OK,
        "invoice.html",
        json!({
            "title": title(inv),
            "billed_to": billed_to(inv),
            "due": inv.due_date.map(short_date),
            "message": message,
            "lines": lines,
            "totals": totals,
            "open": inv.status == InvoiceStatus::Open,
            "status": inv.status.as_str(),
            "cards": TEST_CARDS,
            "stripe": app.stripe_js(),
            "amount_remaining": amount_text(inv.amount_remaining, inv.currency),
            "id": inv.id,
            "token": token,
        }),
    )
}

async fn invoice_pay(State(s): State<HttpState>, Path(id): Path<String>, body: Bytes) -> Response {
    let Ok(fields) = form::decode(&body) else {
        return not_found();
    };
    let field = |k: &str| {
        fields
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let token = field("token");
    if s.app.invoice_for_page(&id, &token).await.is_err() {
        return not_found();
    }
    // Stripe.js's PaymentMethod (the Stripe processor), or one of the sandbox's test cards.
    let card = match CardInput::parse(&field("processor_payment_method"), "", "", "", "") {
        Ok(CardInput::Processor { payment_method, .. }) => payment_method,
        _ => field("payment_method"),
    };
    if s.app.stripe_js().is_none() && !TEST_CARDS.iter().any(|(c, _)| *c == card) {
        return templates::message(StatusCode::BAD_REQUEST, "Invoice", "Choose a card", "");
    }
    let params = InvoicePayParams {
        payment_method: Some(card),
        off_session: Some(false),
        ..InvoicePayParams::default()
    };
    let message = match s
        .app
        .invoices()
        .pay(&RequestCtx::default(), &id, params, &[])
        .await
    {
        Ok(_) => "Thank you: the invoice is paid.".to_string(),
        Err(AppError::Card { body }) => body["error"]["message"]
            .as_str()
            .unwrap_or("The card was declined.")
            .to_string(),
        Err(e) => {
            tracing::warn!(error = %e, "the invoice page could not take a payment");
            "The payment could not be made now; try again.".to_string()
        }
    };
    let Ok(inv) = s.app.invoice_for_page(&id, &token).await else {
        return not_found();
    };
    invoice_page_of(&s.app, &inv, &token, Some(&message))
}

async fn invoice_pdf(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let token = query_param(&query, "token").unwrap_or_default();
    let Ok(inv) = s.app.invoice_for_page(&id, &token).await else {
        return not_found();
    };
    let bytes = invoice_pdf_bytes(&inv, s.app.business());
    (
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "inline; filename=\"{}.pdf\"",
                    inv.number.as_deref().unwrap_or(&inv.id)
                ),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// Who the invoice is for: the customer's name and email as the invoice keeps them, else the
/// customer's id.
fn billed_to(inv: &Invoice) -> String {
    let d = &inv.customer_details;
    match (d.name.as_deref(), d.email.as_deref()) {
        (Some(name), Some(email)) => format!("{name} ({email})"),
        (Some(one), None) | (None, Some(one)) => one.to_string(),
        (None, None) => inv.customer.clone(),
    }
}

/// The buyer's block: name, email and postal address, as the invoice keeps them.
fn buyer_lines(inv: &Invoice) -> Vec<String> {
    let d = &inv.customer_details;
    let mut out: Vec<String> = [d.name.clone(), d.email.clone()]
        .into_iter()
        .flatten()
        .collect();
    if let Some(a) = &d.address {
        out.extend(a.line1.clone());
        out.extend(a.line2.clone());
        let city: Vec<String> = [a.postal_code.clone(), a.city.clone(), a.state.clone()]
            .into_iter()
            .flatten()
            .collect();
        if !city.is_empty() {
            out.push(city.join(" "));
        }
        out.extend(a.country.clone());
    }
    if out.is_empty() {
        out.push(inv.customer.clone());
    }
    out
}

/// A line's unit price: its price's unit amount, or the amount over the quantity when that
/// divides evenly (a prorated or tiered line has none).
fn unit_price(l: &cashbox_core::billing::invoice::InvoiceLine, inv: &Invoice) -> String {
    match l.quantity {
        Some(q) if q > 0 && l.amount % q as i64 == 0 && !l.proration => {
            amount_text(l.amount / q as i64, inv.currency)
        }
        _ => String::new(),
    }
}

/// The invoice as a document on one A4 page: seller and buyer, number and dates, each line's
/// description, period, quantity, unit price and amount, then discounts, taxes, totals, what
/// was paid and what is due (lines beyond what fits are summarized).
pub fn invoice_pdf_bytes(inv: &Invoice, business: &BusinessProfile) -> Vec<u8> {
    let text = |x, y, size, bold, t: &str| Text {
        x,
        y,
        size,
        bold,
        text: t.chars().take(90).collect(),
    };
    let issued = short_date(inv.status_transitions.finalized_at.unwrap_or(inv.created));
    let mut out = vec![
        text(50, 790, 22, true, "Invoice"),
        text(
            330,
            796,
            10,
            false,
            &format!(
                "Invoice number  {}",
                inv.number.as_deref().unwrap_or(&inv.id)
            ),
        ),
        text(330, 782, 10, false, &format!("Date of issue  {issued}")),
    ];
    if let Some(d) = inv.due_date {
        out.push(text(
            330,
            768,
            10,
            false,
            &format!("Date due  {}", short_date(d)),
        ));
    }
    // Seller, left; buyer, right.
    let mut y = 735;
    out.push(text(50, y, 11, true, &business.name));
    let mut seller: Vec<String> = business.address.clone();
    seller.extend(business.support_email.clone());
    seller.extend(business.tax_id.as_ref().map(|t| format!("Tax ID {t}")));
    for line in &seller {
        y -= 14;
        out.push(text(50, y, 10, false, line));
    }
    let mut by = 735;
    out.push(text(330, by, 11, true, "Bill to"));
    for line in buyer_lines(inv) {
        by -= 14;
        out.push(text(330, by, 10, false, &line));
    }
    y = y.min(by) - 30;
    let due = match inv.due_date {
        Some(d) => format!(
            "{} due {}",
            amount_text(inv.amount_due, inv.currency),
            short_date(d)
        ),
        None => format!("{} due", amount_text(inv.amount_due, inv.currency)),
    };
    out.push(text(50, y, 14, true, &due));
    out.push(text(
        330,
        y,
        10,
        false,
        &format!("Status: {}", inv.status.as_str()),
    ));
    y -= 30;
    out.push(text(50, y, 10, true, "Description"));
    out.push(text(350, y, 10, true, "Qty"));
    out.push(text(390, y, 10, true, "Unit price"));
    out.push(text(480, y, 10, true, "Amount"));
    y -= 18;
    let totals = rows(inv).1;
    // Room for the lines above the totals and the footer.
    let bottom = 70 + 15 * totals.len() as i32;
    let mut shown = 0;
    for l in &inv.lines {
        let period = l.period_end > l.period_start;
        let needed = if period { 26 } else { 15 };
        if y - needed < bottom + 15 {
            break;
        }
        let desc = l.description.clone().unwrap_or_default();
        out.push(text(
            50,
            y,
            10,
            false,
            &desc.chars().take(55).collect::<String>(),
        ));
        out.push(text(
            350,
            y,
            10,
            false,
            &l.quantity.map(|q| q.to_string()).unwrap_or_default(),
        ));
        out.push(text(390, y, 10, false, &unit_price(l, inv)));
        out.push(text(
            480,
            y,
            10,
            false,
            &amount_text(l.amount, inv.currency),
        ));
        if period {
            out.push(text(
                50,
                y - 11,
                8,
                false,
                &format!(
                    "{} - {}",
                    short_date(l.period_start),
                    short_date(l.period_end)
                ),
            ));
        }
        y -= needed;
        shown += 1;
    }
    if inv.lines.len() > shown {
        out.push(text(
            50,
            y,
            10,
            false,
            &format!("... and {} more lines", inv.lines.len() - shown),
        ));
        y -= 15;
    }
    y -= 10;
    for (label, amount) in &totals {
        let bold = label == "Total" || label == "Amount due";
        out.push(text(330, y, 10, bold, label));
        out.push(text(480, y, 10, bold, amount));
        y -= 15;
    }
    if let Some(f) = &inv.footer {
        out.push(text(50, 50, 9, false, f));
    }
    if let Some(e) = &business.support_email {
        out.push(text(50, 36, 8, false, &format!("Questions? {e}")));
    }
    pdf::render(&title(inv), &out)
}
