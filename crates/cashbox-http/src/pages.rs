//! Hosted pages: the sandbox's 3-D Secure authentication page and charge receipts.
//! Server-rendered through templates (`templates.rs`); no JavaScript needed.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use cashbox_app::{AppError, ClientAuth, RequestCtx};
use cashbox_core::currency::Currency;
use cashbox_core::money::Money;

use crate::HttpState;
use crate::{form, templates};

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route(
            "/pages/authenticate/{id}",
            get(authenticate_page).post(authenticate_submit),
        )
        .route("/receipts/{id}", get(receipt))
        .merge(crate::invoice_pages::routes())
        .merge(crate::checkout_pages::routes())
        .merge(crate::portal_pages::routes())
}

pub(crate) fn not_found() -> Response {
    templates::message(
        StatusCode::NOT_FOUND,
        "Not found",
        "Not found",
        "This link is not valid.",
    )
}

pub(crate) fn amount_text(amount: i64, currency: Currency) -> String {
    Money::new(amount, currency).to_string().to_uppercase()
}

pub(crate) fn query_param(query: &Option<String>, name: &str) -> Option<String> {
    let decoded = form::decode(query.as_deref().unwrap_or_default().as_bytes()).ok()?;
    decoded.get(name)?.as_str().map(str::to_string)
}

/// What the intent waiting for authentication asks the cardholder to approve, and the client
/// secret of the processor's payment when the processor runs 3-D Secure itself (Stripe.js).
async fn describe(
    s: &HttpState,
    id: &str,
    secret: &str,
) -> Result<(String, Option<String>), AppError> {
    if id.starts_with("seti_") {
        let seti = s.app.setup_intent_for_page(id, secret).await?;
        let processor_secret = seti.processor_action.and_then(|a| a.client_secret);
        Ok((
            "Save this card for future payments".to_string(),
            processor_secret,
        ))
    } else {
        let pi = s.app.payment_intent_for_page(id, secret).await?;
        let processor_secret = pi.processor_action.and_then(|a| a.client_secret);
        Ok((
            format!("Pay {}", amount_text(pi.amount, pi.currency)),
            processor_secret,
        ))
    }
}

async fn authenticate_page(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(secret) = query_param(&query, "client_secret") else {
        return not_found();
    };
    let Ok((what, processor_secret)) = describe(&s, &id, &secret).await else {
        return not_found();
    };
    // Stripe runs its own 3-D Secure through Stripe.js; Cashbox then asks Stripe how it went.
    let stripe = s.app.stripe_js().filter(|_| processor_secret.is_some());
    templates::business_page(
        s.app.business(),
        StatusCode::OK,
        "authenticate.html",
        json!({
            "what": what,
            "client_secret": secret,
            "stripe": stripe,
            "processor_secret": processor_secret,
            "setup": id.starts_with("seti_"),
        }),
    )
}

async fn authenticate_submit(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
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
    let secret = field("client_secret");
    let success = field("result") == "approve";
    let auth = ClientAuth::Publishable(Some(&secret));
    let ctx = RequestCtx::default();
    let result = if id.starts_with("seti_") {
        s.app
            .setup_intents()
            .authenticate(&ctx, &id, auth, success)
            .await
    } else {
        s.app
            .payment_intents()
            .authenticate(&ctx, &id, auth, success)
            .await
    };
    let object = match result {
        Ok(o) => o,
        Err(AppError::NotFound { .. }) => return not_found(),
        Err(e) => {
            tracing::warn!(error = %e, "authentication page could not complete");
            return templates::message(
                StatusCode::CONFLICT,
                "Authentication",
                "This payment cannot be authenticated now",
                "It may already be complete. Return to the merchant's site.",
            );
        }
    };
    let status = object["status"].as_str().unwrap_or_default();
    let redirect_status =
        if status == "succeeded" || status == "requires_capture" || status == "processing" {
            "succeeded"
        } else {
            "failed"
        };
    let kind = if id.starts_with("seti_") {
        "setup_intent"
    } else {
        "payment_intent"
    };
    let return_url = s.app.return_url_of(&id).await.ok().flatten();
    if let Some(url) = return_url {
        let sep = if url.contains('?') { '&' } else { '?' };
        let target = format!(
            "{url}{sep}{kind}={id}&{kind}_client_secret={secret}&redirect_status={redirect_status}",
        );
        return (StatusCode::SEE_OTHER, [(header::LOCATION, target)]).into_response();
    }
    let message = if redirect_status == "succeeded" {
        "Authentication complete. You can close this page."
    } else {
        "Authentication failed. Return to the merchant's site to try another card."
    };
    templates::message(StatusCode::OK, "Authentication", message, "")
}

async fn receipt(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let token = query_param(&query, "token").unwrap_or_default();
    let Ok(charge) = s.app.charge_for_receipt(&id, &token).await else {
        return not_found();
    };
    let refunded =
        (charge.amount_refunded > 0).then(|| amount_text(charge.amount_refunded, charge.currency));
    let status = if charge.amount_refunded == charge.amount_captured && charge.amount_captured > 0 {
        "Refunded"
    } else {
        "Paid"
    };
    templates::business_page(
        s.app.business(),
        StatusCode::OK,
        "receipt.html",
        json!({
            "charge_id": charge.id,
            "paid": amount_text(charge.amount_captured, charge.currency),
            "refunded": refunded,
            "brand": charge.card.brand,
            "last4": charge.card.last4,
            "status": status,
            "description": charge.description,
        }),
    )
}
