//! The customer portal page at a portal session's `url`: the current plan and its next
//! invoice, cancelling (and undoing it), switching plans after seeing the proration, cards,
//! invoice history, and (beyond Stripe) usage against quotas and spend limits. Every action
//! is a plain form post carrying the session's secret (which a cross-site page cannot know)
//! and is refused when the browser says it comes from another site; it answers with a
//! redirect back to the page, so a reload repeats nothing.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde_json::{Value, json};

use cashbox_app::portal::{PortalError, PortalView};
use cashbox_core::billing::short_date;
use cashbox_core::checkout::CardInput;
use cashbox_core::currency::Currency;
use cashbox_core::portal::{CancelMode, Flow};

use crate::pages::{amount_text, not_found, query_param};
use crate::{HttpState, form, templates};

pub fn routes() -> Router<HttpState> {
    Router::new().route("/portal/{id}", get(page).post(act))
}

/// What an action that succeeded says on the page it returns to.
const DONE: [(&str, &str); 7] = [
    ("canceled", "Your plan is canceled."),
    ("renewed", "Your plan will continue."),
    ("switched", "Your plan is changed."),
    ("card", "Your card was added and is now the default."),
    ("default", "Your default card is changed."),
    ("scheduled", "Your plan will end at the end of the period."),
    ("details", "Your details are saved."),
];

fn money(amount: &Value, currency: &Value) -> String {
    let currency = currency
        .as_str()
        .and_then(|c| Currency::parse("currency", c).ok());
    match (amount.as_i64(), currency) {
        (Some(a), Some(c)) => amount_text(a, c),
        _ => String::new(),
    }
}

fn date(v: &Value) -> String {
    v.as_i64().map(short_date).unwrap_or_default()
}

fn price_label(price: &Value) -> String {
    let amount = money(&price["unit_amount"], &price["currency"]);
    match price["recurring"]["interval"].as_str() {
        Some(i) => format!("{amount} per {i}"),
        None => amount,
    }
}

#[derive(Serialize)]
struct SubView {
    id: String,
    plan: String,
    price: String,
    state: String,
    next: Option<String>,
    can_cancel: bool,
    can_renew: bool,
    switch: Vec<Value>,
}

fn expired() -> Response {
    templates::message(
        StatusCode::GONE,
        "Billing",
        "This link has expired",
        "Return to the site and open billing again.",
    )
}

fn home(id: &str, token: &str) -> String {
    format!("/portal/{id}?token={token}")
}

fn render(s: &HttpState, v: &PortalView, message: Option<(&str, bool)>) -> Response {
    let f = &v.configuration.features;
    let subscriptions: Vec<SubView> = v
        .subscriptions
        .iter()
        .map(|(sub, plan, next)| {
            let price = &sub["items"]["data"][0]["price"];
            let ending = sub["cancel_at_period_end"] == true;
            let state = match (sub["status"].as_str(), ending) {
                (_, true) => format!("Cancels on {}", date(&sub["current_period_end"])),
                (Some("trialing"), _) => format!("Trial ends on {}", date(&sub["trial_end"])),
                (Some("active"), _) => format!("Renews on {}", date(&sub["current_period_end"])),
                (Some(other), _) => other.replace('_', " "),
                (None, _) => String::new(),
            };
            let current = price["id"].as_str().unwrap_or_default();
            SubView {
                id: sub["id"].as_str().unwrap_or_default().to_string(),
                plan: plan.clone(),
                price: price_label(price),
                state,
                next: next.as_ref().map(|n| {
                    format!(
                        "{} on {}",
                        money(&n["amount_due"], &n["currency"]),
                        date(&n["period_end"])
                    )
                }),
                can_cancel: f.subscription_cancel && !ending,
                can_renew: f.subscription_cancel && ending,
                switch: v
                    .switch_prices
                    .iter()
                    .filter(|(p, _)| p["id"] != current)
                    .map(|(p, name)| {
                        json!({"price": p["id"], "label": format!("{name} ({})", price_label(p))})
                    })
                    .collect(),
            }
        })
        .collect();
    let cards: Vec<Value> = v
        .cards
        .iter()
        .map(|c| {
            let brand = c["card"]["brand"].as_str().unwrap_or("card");
            json!({
                "id": c["id"],
                "label": format!(
                    "{} •••• {} (expires {}/{})",
                    brand[..1].to_uppercase() + &brand[1..],
                    c["card"]["last4"].as_str().unwrap_or_default(),
                    c["card"]["exp_month"],
                    c["card"]["exp_year"]
                ),
                "default": v.default_card.as_deref() == c["id"].as_str(),
            })
        })
        .collect();
    let invoices: Vec<Value> = v
        .invoices
        .iter()
        .map(|i| {
            json!({
                "date": date(&i["created"]),
                "number": i["number"],
                "amount": money(&i["total"], &i["currency"]),
                "status": i["status"],
                "url": i["hosted_invoice_url"],
                "pdf": i["invoice_pdf"],
            })
        })
        .collect();
    let mut usage: Vec<(String, String)> = v
        .entitlements
        .iter()
        .map(|e| {
            let name = e["name"]
                .as_str()
                .or(e["feature"].as_str())
                .unwrap_or_default()
                .to_string();
            let text = match e["quota"].as_i64() {
                Some(q) => format!(
                    "{} of {q} used, {} left",
                    e["used"].as_i64().unwrap_or(0),
                    e["remaining"].as_i64().unwrap_or(0)
                ),
                None => "Included".to_string(),
            };
            (name, text)
        })
        .collect();
    for u in &v.usage {
        if let Some(limit) = u["limit"].as_i64() {
            usage.push((
                "Spending this period".into(),
                format!(
                    "{} of {} limit",
                    money(&u["used"], &u["currency"]),
                    money(&json!(limit), &u["currency"])
                ),
            ));
        }
    }
    let (message, class) = match message {
        Some((m, ok)) => (Some(m), if ok { "ok" } else { "error" }),
        None => (None, ""),
    };
    templates::business_page(
        s.app.business(),
        if class == "error" {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        },
        "portal.html",
        json!({
            "return_url": v.session.return_url,
            "headline": v.configuration.headline,
            "email": v.customer_email,
            "message": message,
            "message_class": class,
            "token": v.session.secret,
            "subscriptions": subscriptions,
            "cancel_label": match f.cancel_mode {
                CancelMode::AtPeriodEnd => "Cancel plan at the end of the period",
                CancelMode::Immediately => "Cancel plan now",
            },
            "details_enabled": f.customer_update,
            "can_email": f.customer_update_fields.iter().any(|x| x == "email"),
            "can_address": f.customer_update_fields.iter().any(|x| x == "address"),
            "address": v.customer_address,
            "cards_enabled": f.payment_method_update,
            "cards": cards,
            "stripe": s.app.stripe_js(),
            "invoices_enabled": f.invoice_history,
            "invoices": invoices,
            "usage": usage,
            "terms_url": v.configuration.terms_of_service_url,
            "privacy_url": v.configuration.privacy_policy_url,
        }),
    )
}

fn failed(e: PortalError) -> Result<Response, String> {
    match e {
        PortalError::NotFound => Ok(not_found()),
        PortalError::Expired => Ok(expired()),
        PortalError::Refused(m) => Err(m),
        PortalError::App(e) => {
            tracing::warn!(error = %e, "a portal page failed");
            Err("This could not be done now; try again in a moment.".into())
        }
    }
}

async fn page(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let token = query_param(&query, "token").unwrap_or_default();
    let portal = s.app.billing_portal_sessions();
    let view = match portal.view(&id, &token).await {
        Ok(v) => v,
        Err(e) => {
            return match failed(e) {
                Ok(r) => r,
                Err(m) => templates::message(StatusCode::SERVICE_UNAVAILABLE, "Billing", &m, ""),
            };
        }
    };
    let done = query_param(&query, "done")
        .and_then(|d| DONE.iter().find(|(k, _)| *k == d).map(|(_, m)| *m));
    // A deep link to confirming a switch opens on its preview (until something is done).
    if done.is_none()
        && let Some(Flow::SubscriptionUpdateConfirm {
            subscription,
            price,
            ..
        }) = &view.session.flow
    {
        return match portal
            .preview_switch(&id, &token, subscription, price)
            .await
        {
            Ok(preview) => switch_page(&s, &id, &token, subscription, price, &preview).await,
            Err(e) => back_with(&s, &id, &token, e).await,
        };
    }
    render(&s, &view, done.map(|m| (m, true)))
}

/// Whether the request comes from this site: a browser sends `Origin` on a form post; one
/// from another site is refused (the secret in the form already stops a forged one).
fn same_site(s: &HttpState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let public = s.app.public_url();
    // The public URL's origin: its scheme, host and port, without a path.
    let after_scheme = public.find("://").map_or(0, |i| i + 3);
    let end = public[after_scheme..]
        .find('/')
        .map_or(public.len(), |i| after_scheme + i);
    origin == &public[..end]
}

async fn act(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !same_site(&s, &headers) {
        return templates::message(
            StatusCode::FORBIDDEN,
            "Billing",
            "This request came from another site",
            "",
        );
    }
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
    let portal = s.app.billing_portal_sessions();
    let (sub, price) = (field("subscription"), field("price"));
    let result = match field("action").as_str() {
        "cancel" => portal
            .cancel(&id, &token, &sub)
            .await
            .map(|mode| match mode {
                CancelMode::AtPeriodEnd => "scheduled",
                CancelMode::Immediately => "canceled",
            }),
        "renew" => portal.renew(&id, &token, &sub).await.map(|()| "renewed"),
        "switch" => portal
            .switch(&id, &token, &sub, &price)
            .await
            .map(|()| "switched"),
        "set_default" => portal
            .set_default(&id, &token, &field("payment_method"))
            .await
            .map(|()| "default"),
        "update_details" => {
            let text = |k: &str| Some(field(k).trim().to_string()).filter(|v| !v.is_empty());
            let address = cashbox_core::customer::Address {
                line1: text("line1"),
                line2: text("line2"),
                city: text("city"),
                postal_code: text("postal_code"),
                state: text("state"),
                country: text("country"),
            };
            portal
                .update_details(&id, &token, text("email"), Some(address))
                .await
                .map(|()| "details")
        }
        "add_card" if !s.may_try_card(&id) => {
            return templates::too_many_cards();
        }
        "add_card" => match CardInput::parse(
            &field("processor_payment_method"),
            &field("card_number"),
            &field("card_exp"),
            &field("card_cvc"),
            &field("cardholder_name"),
        ) {
            Ok(card) => portal.add_card(&id, &token, card).await.map(|()| "card"),
            Err(m) => Err(PortalError::Refused(m.to_string())),
        },
        "preview_switch" => {
            return match portal.preview_switch(&id, &token, &sub, &price).await {
                Ok(preview) => switch_page(&s, &id, &token, &sub, &price, &preview).await,
                Err(e) => back_with(&s, &id, &token, e).await,
            };
        }
        _ => Err(PortalError::Refused("Unknown action.".into())),
    };
    match result {
        Ok(done) => {
            // A deep link that names where to go afterwards goes there.
            let target = match portal.after_completion(&id, &token).await {
                Ok(Some(url)) => url,
                _ => format!("{}&done={done}", home(&id, &token)),
            };
            (StatusCode::SEE_OTHER, [(header::LOCATION, target)]).into_response()
        }
        Err(e) => back_with(&s, &id, &token, e).await,
    }
}

/// The page again, saying why an action was refused.
async fn back_with(s: &HttpState, id: &str, token: &str, e: PortalError) -> Response {
    match failed(e) {
        Ok(r) => r,
        Err(message) => match s.app.billing_portal_sessions().view(id, token).await {
            Ok(v) => render(s, &v, Some((&message, false))),
            Err(e) => failed(e).unwrap_or_else(|m| {
                templates::message(StatusCode::SERVICE_UNAVAILABLE, "Billing", &m, "")
            }),
        },
    }
}

/// The proration preview of a switch, with the button that confirms it.
async fn switch_page(
    s: &HttpState,
    id: &str,
    token: &str,
    sub: &str,
    price: &str,
    preview: &Value,
) -> Response {
    let view = match s.app.billing_portal_sessions().view(id, token).await {
        Ok(v) => v,
        Err(e) => return back_with(s, id, token, e).await,
    };
    let plan = view
        .switch_prices
        .iter()
        .find(|(p, _)| p["id"] == price)
        .map(|(p, name)| format!("{name} ({})", price_label(p)))
        .unwrap_or_default();
    let current = view
        .subscriptions
        .iter()
        .find(|(s, _, _)| s["id"] == sub)
        .map(|(s, name, _)| format!("{name} ({})", price_label(&s["items"]["data"][0]["price"])))
        .unwrap_or_default();
    let currency = &preview["currency"];
    let lines: Vec<(String, String)> = preview["lines"]["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            (
                l["description"].as_str().unwrap_or_default().to_string(),
                money(&l["amount"], currency),
            )
        })
        .collect();
    let totals = vec![
        ("Total".to_string(), money(&preview["total"], currency)),
        (
            format!("Amount due on {}", date(&preview["period_end"])),
            money(&preview["amount_due"], currency),
        ),
    ];
    templates::business_page(
        s.app.business(),
        StatusCode::OK,
        "portal_switch.html",
        json!({
            "back": home(id, token),
            "plan": plan,
            "current": current,
            "lines": lines,
            "totals": totals,
            "token": token,
            "subscription": sub,
            "price": price,
        }),
    )
}
