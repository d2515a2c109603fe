//! Hosted pages through templates: one shared layout (`templates/layout.html`), every value
//! escaped for HTML by the engine (minijinja escapes the output of templates named `.html`),
//! never by hand. The checkout and portal pages build on the same layout.

use std::sync::OnceLock;

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;

/// Every template, by name; each is checked to render by the tests.
const TEMPLATES: [(&str, &str); 9] = [
    ("layout.html", include_str!("../templates/layout.html")),
    ("message.html", include_str!("../templates/message.html")),
    (
        "authenticate.html",
        include_str!("../templates/authenticate.html"),
    ),
    ("receipt.html", include_str!("../templates/receipt.html")),
    ("invoice.html", include_str!("../templates/invoice.html")),
    ("checkout.html", include_str!("../templates/checkout.html")),
    (
        "card_fields.html",
        include_str!("../templates/card_fields.html"),
    ),
    ("portal.html", include_str!("../templates/portal.html")),
    (
        "portal_switch.html",
        include_str!("../templates/portal_switch.html"),
    ),
];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .expect("the templates are checked by the tests");
        }
        env
    })
}

/// `name` rendered with `context`, as an HTML response with `status`; a template that fails
/// to render is logged and answered 500 with a plain page.
pub(crate) fn page(status: StatusCode, name: &str, context: impl Serialize) -> Response {
    let rendered = environment()
        .get_template(name)
        .and_then(|t| t.render(minijinja::value::Serde(&context)));
    match rendered {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "a page could not be rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Error</title><p>This page could not be shown.</p>"),
            )
                .into_response()
        }
    }
}

/// `name` rendered as [`page`] does, for `business`: its name and logo head the page and its
/// address, support email and tax id close it (`business` in the layout).
pub(crate) fn business_page(
    business: &cashbox_app::BusinessProfile,
    status: StatusCode,
    name: &str,
    context: impl Serialize,
) -> Response {
    let mut context = match serde_json::to_value(context) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    context.insert(
        "business".into(),
        serde_json::to_value(business).unwrap_or_default(),
    );
    page(status, name, context)
}

/// The page a hosted form gets when its session tries cards too often.
pub(crate) fn too_many_cards() -> Response {
    message(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        "Too many card attempts",
        "Wait a minute, then try again.",
    )
}

/// A page that says one thing: a heading and, if any, a line of text.
pub(crate) fn message(status: StatusCode, title: &str, heading: &str, text: &str) -> Response {
    #[derive(Serialize)]
    struct Message<'a> {
        title: &'a str,
        heading: &'a str,
        text: &'a str,
    }
    page(
        status,
        "message.html",
        Message {
            title,
            heading,
            text,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(resp: Response) -> String {
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn every_template_parses() {
        for (name, _) in TEMPLATES {
            environment().get_template(name).unwrap();
        }
    }

    #[tokio::test]
    async fn values_are_escaped_by_the_engine() {
        let resp = message(
            StatusCode::OK,
            "<title>",
            "<script>alert('x')</script>",
            "\"quoted\" & 'single'",
        );
        assert_eq!(resp.status(), StatusCode::OK);
        let html = body(resp).await;
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("&quot;quoted&quot; &amp;"), "{html}");
        assert!(html.contains("<title>&lt;title&gt;</title>"), "{html}");
        assert!(html.starts_with("<!doctype html>"));
    }

    #[tokio::test]
    async fn a_page_that_cannot_render_is_a_logged_500() {
        let resp = page(StatusCode::OK, "missing.html", ());
        assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
