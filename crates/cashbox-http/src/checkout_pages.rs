//! The hosted checkout page at a session's `url`: what is sold and its total, a promotion
//! code field when allowed, email and card fields, and a pay button; works without
//! JavaScript. The card form is the one part a processor with its own card fields replaces.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde_json::Value;

use cashbox_app::checkout::{CheckoutForm, Submitted};
use cashbox_core::billing::short_date;
use cashbox_core::checkout::{CardInput, CheckoutSession, Mode, SessionStatus};

use crate::pages::{amount_text, not_found};
use crate::{HttpState, form, templates};

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/checkout/{id}", get(page).post(submit))
        .route("/checkout/{id}/return", get(returned))
}

#[derive(Serialize)]
struct Line {
    id: String,
    description: String,
    quantity: u64,
    amount: String,
    recurring: Option<String>,
    adjustable: bool,
    min: u64,
    max: u64,
}

fn interval_text(interval: &str, count: u32) -> String {
    if count == 1 {
        format!("per {interval}")
    } else {
        format!("every {count} {interval}s")
    }
}

fn see_other(url: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, url.to_string())]).into_response()
}

/// The page of an open session, with `message` (a refusal) if any. `known` is the email the
/// session already knows (not asked for again); `typed` what the customer typed before.
fn render(
    app: &cashbox_app::App,
    s: &CheckoutSession,
    (known, typed): (Option<&str>, &str),
    message: Option<&str>,
    code: &str,
    status: StatusCode,
) -> Response {
    let Some(currency) = s.currency else {
        return not_found();
    };
    let business = app.business();
    let money = |a: i64| amount_text(a, currency);
    let lines: Vec<Line> = s
        .lines
        .iter()
        .map(|l| Line {
            id: l.id.clone(),
            description: l.description.clone(),
            quantity: l.quantity,
            amount: if l.metered {
                "Billed by usage".into()
            } else {
                money(l.amount_subtotal)
            },
            recurring: l.recurring.map(|(i, c)| interval_text(i.as_str(), c)),
            adjustable: l.adjustable.is_some(),
            min: l.adjustable.map_or(1, |(min, _)| min.max(1)),
            max: l.adjustable.map_or(1, |(_, max)| max),
        })
        .collect();
    let mut totals = Vec::new();
    if s.mode == Mode::Subscription && s.trial_end.is_some() {
        totals.push(("Total due today".to_string(), money(0)));
    } else if s.mode != Mode::Setup {
        totals.push(("Subtotal".to_string(), money(s.amount_subtotal)));
        if s.amount_discount > 0 {
            totals.push(("Discount".into(), money(-s.amount_discount)));
        }
        if s.amount_tax > 0 {
            totals.push(("Tax".into(), money(s.amount_tax)));
        }
        totals.push(("Total due today".into(), money(s.amount_total)));
    }
    let recurring_total: i64 = s
        .lines
        .iter()
        .filter(|l| l.recurring.is_some())
        .map(|l| l.amount_total)
        .sum();
    let period = s
        .lines
        .iter()
        .find_map(|l| l.recurring)
        .map(|(i, c)| interval_text(i.as_str(), c));
    let trial = s.trial_end.map(|end| {
        format!(
            "Free until {}, then {} {}",
            short_date(end),
            money(recurring_total),
            period.clone().unwrap_or_default()
        )
    });
    let first = s.lines.first().map(|l| l.description.clone());
    let heading = match s.mode {
        Mode::Payment => format!("Pay {}", business.name),
        Mode::Subscription => format!(
            "Subscribe to {}",
            first.unwrap_or_else(|| business.name.clone())
        ),
        Mode::Setup => format!("Save a card with {}", business.name),
    };
    let button = match s.mode {
        Mode::Payment => format!("Pay {}", money(s.amount_total)),
        Mode::Subscription if s.trial_end.is_some() => "Start trial".to_string(),
        Mode::Subscription => format!("Subscribe for {}", money(s.amount_total)),
        Mode::Setup => "Save card".to_string(),
    };
    templates::business_page(
        business,
        status,
        "checkout.html",
        serde_json::json!({
            "heading": heading,
            "amount": (s.mode == Mode::Payment).then(|| money(s.amount_total)),
            "trial": trial,
            "message": message,
            "lines": lines,
            "totals": totals,
            "ask_email": known.is_none(),
            "email": known.unwrap_or(typed),
            "button": button,
            "allow_codes": s.allow_promotion_codes && s.payment_intent.is_none() && s.subscription.is_none(),
            "code": code,
            "cancel_url": s.cancel_url,
            "stripe": app.stripe_js(),
        }),
    )
}

/// A session that can no longer be paid.
fn closed(s: &CheckoutSession) -> Response {
    match s.status {
        SessionStatus::Complete => templates::message(
            StatusCode::OK,
            "Checkout",
            "This checkout is complete",
            "Thank you. You can close this page.",
        ),
        _ => templates::message(
            StatusCode::GONE,
            "Checkout",
            "This checkout session has expired",
            "Return to the merchant's site to start again.",
        ),
    }
}

async fn page(State(s): State<HttpState>, Path(id): Path<String>) -> Response {
    let checkout = s.app.checkout_sessions();
    let Ok(session) = checkout.for_page(&id).await else {
        return not_found();
    };
    if session.status != SessionStatus::Open {
        return closed(&session);
    }
    let email = checkout.known_email(&session).await.ok().flatten();
    render(
        &s.app,
        &session,
        (email.as_deref(), ""),
        None,
        "",
        StatusCode::OK,
    )
}

async fn submit(State(s): State<HttpState>, Path(id): Path<String>, body: Bytes) -> Response {
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
    let checkout = s.app.checkout_sessions();
    let Ok(session) = checkout.for_page(&id).await else {
        return not_found();
    };
    if session.status != SessionStatus::Open {
        return closed(&session);
    }
    let known = checkout.known_email(&session).await.ok().flatten();
    let typed = field("email");
    let again = |session: &CheckoutSession, message: &str, code: &str, status| {
        render(
            &s.app,
            session,
            (known.as_deref(), &typed),
            Some(message),
            code,
            status,
        )
    };
    if field("action") == "apply_code" {
        let code = field("promotion_code");
        return match checkout.apply_code(&id, &code).await {
            Ok(Ok(())) => match checkout.for_page(&id).await {
                Ok(session) => render(
                    &s.app,
                    &session,
                    (known.as_deref(), &typed),
                    Some("Promotion code applied."),
                    &code,
                    StatusCode::OK,
                ),
                Err(_) => not_found(),
            },
            Ok(Err(message)) => again(&session, &message, &code, StatusCode::BAD_REQUEST),
            Err(e) => {
                tracing::warn!(error = %e, "a promotion code could not be applied");
                again(
                    &session,
                    "The code could not be applied now; try again.",
                    &code,
                    StatusCode::SERVICE_UNAVAILABLE,
                )
            }
        };
    }
    if !s.may_try_card(&id) {
        return templates::too_many_cards();
    }
    let card = match CardInput::parse(
        &field("processor_payment_method"),
        &field("card_number"),
        &field("card_exp"),
        &field("card_cvc"),
        &field("cardholder_name"),
    ) {
        Ok(card) => card,
        Err(message) => return again(&session, message, "", StatusCode::BAD_REQUEST),
    };
    let quantities = session
        .lines
        .iter()
        .filter(|l| l.adjustable.is_some())
        .filter_map(|l| {
            let q = field(&format!("quantity_{}", l.id)).trim().parse().ok()?;
            Some((l.id.clone(), q))
        })
        .collect();
    let form = CheckoutForm {
        email: (!typed.is_empty()).then_some(typed.clone()),
        card,
        quantities,
    };
    match checkout.submit(&id, form).await {
        Ok(Submitted::Complete { success_url }) => see_other(&success_url),
        Ok(Submitted::Authenticate { url }) => see_other(&url),
        Ok(Submitted::Refused { message }) => match checkout.for_page(&id).await {
            Ok(session) if session.status == SessionStatus::Open => {
                again(&session, &message, "", StatusCode::PAYMENT_REQUIRED)
            }
            Ok(session) => closed(&session),
            Err(_) => not_found(),
        },
        Ok(Submitted::Closed) => match checkout.for_page(&id).await {
            Ok(session) => closed(&session),
            Err(_) => not_found(),
        },
        Err(e) => {
            tracing::warn!(error = %e, "a checkout could not be paid");
            again(
                &session,
                "The payment could not be made now; try again in a moment.",
                "",
                StatusCode::SERVICE_UNAVAILABLE,
            )
        }
    }
}

/// Back from 3-D Secure: the success URL once complete, else the page with why.
async fn returned(State(s): State<HttpState>, Path(id): Path<String>) -> Response {
    let checkout = s.app.checkout_sessions();
    match checkout.returned(&id).await {
        Ok(Submitted::Complete { success_url }) => see_other(&success_url),
        Ok(Submitted::Refused { message }) => match checkout.for_page(&id).await {
            Ok(session) => {
                let email = checkout.known_email(&session).await.ok().flatten();
                render(
                    &s.app,
                    &session,
                    (email.as_deref(), ""),
                    Some(&message),
                    "",
                    StatusCode::PAYMENT_REQUIRED,
                )
            }
            Err(_) => not_found(),
        },
        Ok(_) => match checkout.for_page(&id).await {
            Ok(session) => closed(&session),
            Err(_) => not_found(),
        },
        Err(_) => not_found(),
    }
}
