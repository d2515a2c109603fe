//! Hosted pages: the sandbox's 3-D Secure authentication page and charge receipts.
//! Plain server-rendered HTML; no JavaScript needed.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

use cashbox_app::{AppError, ClientAuth, RequestCtx};
use cashbox_core::currency::Currency;
use cashbox_core::money::Money;

use crate::HttpState;
use crate::form;

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route(
            "/pages/authenticate/{id}",
            get(authenticate_page).post(authenticate_submit),
        )
        .route("/receipts/{id}", get(receipt))
        .merge(crate::invoice_pages::routes())
}

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
<title>{title}</title><style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}}\
.box{{border:1px solid #ddd;border-radius:8px;padding:1.5rem}}button{{font-size:1rem;padding:.6rem 1.2rem;margin-right:.5rem;border-radius:6px;border:1px solid #888;cursor:pointer}}\
.approve{{background:#0a7d32;color:#fff;border-color:#0a7d32}}.muted{{color:#666;font-size:.9rem}}table{{width:100%;border-collapse:collapse}}td{{padding:.3rem 0}}td:last-child{{text-align:right}}</style>\
</head><body>{body}</body></html>",
        title = escape(title)
    )
}

pub(crate) fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(page(
            "Not found",
            "<h1>Not found</h1><p>This link is not valid.</p>",
        )),
    )
        .into_response()
}

pub(crate) fn amount_text(amount: i64, currency: &str) -> String {
    match Currency::parse("currency", currency) {
        Ok(c) => Money::new(amount, c).to_string().to_uppercase(),
        Err(_) => format!("{amount} {currency}"),
    }
}

pub(crate) fn query_param(query: &Option<String>, name: &str) -> Option<String> {
    let decoded = form::decode(query.as_deref().unwrap_or_default().as_bytes()).ok()?;
    decoded.get(name)?.as_str().map(str::to_string)
}

/// What the intent waiting for authentication asks the cardholder to approve.
async fn describe(s: &HttpState, id: &str, secret: &str) -> Result<String, AppError> {
    if id.starts_with("seti_") {
        s.app.setup_intent_for_page(id, secret).await?;
        Ok("Save this card for future payments".to_string())
    } else {
        let pi = s.app.payment_intent_for_page(id, secret).await?;
        Ok(format!("Pay {}", amount_text(pi.amount, &pi.currency)))
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
    let Ok(what) = describe(&s, &id, &secret).await else {
        return not_found();
    };
    let body = format!(
        "<div class=\"box\"><h1>Authenticate this payment</h1><p>{what}</p>\
<p class=\"muted\">Cashbox sandbox: this page stands in for the card issuer's 3-D Secure check.</p>\
<form method=\"post\"><input type=\"hidden\" name=\"client_secret\" value=\"{secret}\">\
<button class=\"approve\" name=\"result\" value=\"approve\">Complete authentication</button>\
<button name=\"result\" value=\"fail\">Fail authentication</button></form></div>",
        what = escape(&what),
        secret = escape(&secret),
    );
    Html(page("Authenticate", &body)).into_response()
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
            .authenticate_setup_intent(&ctx, &id, auth, success)
            .await
    } else {
        s.app
            .authenticate_payment_intent(&ctx, &id, auth, success)
            .await
    };
    let object = match result {
        Ok(o) => o,
        Err(AppError::NotFound { .. }) => return not_found(),
        Err(e) => {
            tracing::warn!(error = %e, "authentication page could not complete");
            let body = "<div class=\"box\"><h1>This payment cannot be authenticated now</h1><p>It may already be complete. Return to the merchant's site.</p></div>";
            return (StatusCode::CONFLICT, Html(page("Authentication", body))).into_response();
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
    Html(page(
        "Authentication",
        &format!("<div class=\"box\"><h1>{}</h1></div>", escape(message)),
    ))
    .into_response()
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
    let refunded = if charge.amount_refunded > 0 {
        format!(
            "<tr><td>Refunded</td><td>−{}</td></tr>",
            escape(&amount_text(charge.amount_refunded, &charge.currency))
        )
    } else {
        String::new()
    };
    let body = format!(
        "<div class=\"box\"><h1>Receipt</h1><p class=\"muted\">Receipt for charge {id}</p><table>\
<tr><td>Amount paid</td><td><strong>{paid}</strong></td></tr>{refunded}\
<tr><td>Payment method</td><td>{brand} •••• {last4}</td></tr>\
<tr><td>Status</td><td>{status}</td></tr></table>{description}</div>",
        id = escape(&charge.id),
        paid = escape(&amount_text(charge.amount_captured, &charge.currency)),
        brand = escape(&charge.card.brand),
        last4 = escape(&charge.card.last4),
        status = if charge.amount_refunded == charge.amount_captured && charge.amount_captured > 0 {
            "Refunded"
        } else {
            "Paid"
        },
        description = charge
            .description
            .as_deref()
            .map(|d| format!("<p>{}</p>", escape(d)))
            .unwrap_or_default(),
    );
    Html(page("Receipt", &body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }
}
