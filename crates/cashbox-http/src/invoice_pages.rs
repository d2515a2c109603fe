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

use cashbox_app::{AppError, RequestCtx};
use cashbox_core::billing::invoice::{Invoice, InvoicePayParams, InvoiceStatus};
use cashbox_core::billing::short_date;

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
    invoice_page_of(&inv, &token, None)
}

/// The invoice's page: its lines and totals, and a form to pay it while it is open.
fn invoice_page_of(inv: &Invoice, token: &str, message: Option<&str>) -> Response {
    let (lines, totals) = rows(inv);
    templates::page(
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
    let card = field("payment_method");
    if !TEST_CARDS.iter().any(|(c, _)| *c == card) {
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
    invoice_page_of(&inv, &token, Some(&message))
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
    let bytes = invoice_pdf_bytes(&inv);
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

/// The invoice laid out on one A4 page (lines beyond what fits are summarized).
pub fn invoice_pdf_bytes(inv: &Invoice) -> Vec<u8> {
    let text = |x, y, size, bold, t: &str| Text {
        x,
        y,
        size,
        bold,
        text: t.to_string(),
    };
    let mut out = vec![
        text(50, 790, 20, true, &title(inv)),
        text(
            50,
            765,
            10,
            false,
            &format!(
                "Issued {}",
                short_date(inv.status_transitions.finalized_at.unwrap_or(inv.created))
            ),
        ),
        text(
            50,
            751,
            10,
            false,
            &format!("Status: {}", inv.status.as_str()),
        ),
        text(
            50,
            737,
            10,
            false,
            &format!("Billed to: {}", billed_to(inv)),
        ),
    ];
    if let Some(d) = inv.due_date {
        out.push(text(50, 723, 10, false, &format!("Due {}", short_date(d))));
    }
    let (lines, totals) = rows(inv);
    let mut y = 690;
    out.push(text(50, y, 11, true, "Description"));
    out.push(text(450, y, 11, true, "Amount"));
    y -= 20;
    let room = 28usize;
    let shown = lines.len().min(room);
    for (label, amount) in &lines[..shown] {
        let label: String = label.chars().take(70).collect();
        out.push(text(50, y, 10, false, &label));
        out.push(text(450, y, 10, false, amount));
        y -= 15;
    }
    if lines.len() > shown {
        out.push(text(
            50,
            y,
            10,
            false,
            &format!("… and {} more lines", lines.len() - shown),
        ));
        y -= 15;
    }
    y -= 10;
    for (label, amount) in &totals {
        out.push(text(300, y, 10, true, label));
        out.push(text(450, y, 10, true, amount));
        y -= 15;
    }
    if let Some(f) = &inv.footer {
        out.push(text(50, 40, 9, false, f));
    }
    pdf::render(&title(inv), &out)
}
