//! Checkout Sessions through the API and their hosted page, as a browser posts it.

use reqwest::Method;
use serde_json::Value;

use crate::support::{Resp, TestApp, spawn_app};

const SUCCESS: &str = "https://shop.example/done?session={CHECKOUT_SESSION_ID}";
const CANCEL: &str = "https://shop.example/cart";
const VISA: &str = "4242 4242 4242 4242";
const DECLINED: &str = "4000000000000002";
/// Asks for 3-D Secure on every payment.
const THREE_DS: &str = "4000002760003184";

fn s(v: &Value) -> String {
    v.as_str().unwrap().to_string()
}

/// A product (with an entitlement feature, for one-time purchases) and a price of it.
pub(crate) async fn priced(
    t: &TestApp,
    name: &str,
    amount: &str,
    recurring: bool,
) -> (String, String) {
    let product = t.post("/v1/products", &[("name", name)]).await;
    let product = s(&product.ok()["id"]);
    let mut pairs = vec![
        ("product", product.as_str()),
        ("currency", "usd"),
        ("unit_amount", amount),
    ];
    if recurring {
        pairs.push(("recurring[interval]", "month"));
    }
    let price = t.post("/v1/prices", &pairs).await;
    (product, s(&price.ok()["id"]))
}

pub(crate) async fn session(t: &TestApp, pairs: &[(&str, &str)]) -> Value {
    let mut all = vec![("success_url", SUCCESS), ("cancel_url", CANCEL)];
    all.extend_from_slice(pairs);
    t.post("/v1/checkout/sessions", &all).await.ok().clone()
}

fn page_path(session: &Value) -> String {
    let url = s(&session["url"]);
    url[url.find("/checkout/").unwrap()..].to_string()
}

/// Posts the page's pay form with `card` (and `extra` fields).
pub(crate) async fn pay(t: &TestApp, session: &Value, card: &str, extra: &[(&str, &str)]) -> Resp {
    let mut pairs = vec![
        ("action", "pay"),
        ("email", "jenny@example.com"),
        ("cardholder_name", "Jenny Rosen"),
        ("card_number", card),
        ("card_exp", "12 / 34"),
        ("card_cvc", "123"),
    ];
    pairs.extend_from_slice(extra);
    t.browser(Method::POST, &page_path(session), &pairs).await
}

fn location(r: &Resp) -> String {
    assert_eq!(r.status.as_u16(), 303, "body: {}", r.body);
    r.header("location").unwrap().to_string()
}

fn html(r: &Resp) -> &str {
    r.body.as_str().unwrap()
}

async fn count(t: &TestApp, path: &str) -> usize {
    t.get(path).await.ok()["data"].as_array().unwrap().len()
}

async fn events_of(t: &TestApp, kind: &str) -> Vec<Value> {
    t.get(&format!("/v1/events?type={kind}")).await.ok()["data"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn a_one_time_purchase_is_paid_on_the_page_once_and_grants_its_feature() {
    let t = spawn_app().await;
    let (product, price) = priced(&t, "Rust course", "4900", false).await;
    let feature = t
        .post(
            "/v1/entitlements/features",
            &[("name", "Course"), ("lookup_key", "rust-course")],
        )
        .await;
    let feature = s(&feature.ok()["id"]);
    t.post(
        &format!("/v1/products/{product}/features"),
        &[("entitlement_feature", &feature)],
    )
    .await
    .ok();
    let cs = session(
        &t,
        &[
            ("mode", "payment"),
            ("customer_creation", "always"),
            ("line_items[0][price]", &price),
            ("line_items[0][quantity]", "1"),
            ("client_reference_id", "order-17"),
            ("metadata[order]", "17"),
        ],
    )
    .await;
    assert_eq!(cs["object"], "checkout.session");
    assert_eq!(cs["status"], "open");
    assert_eq!(cs["payment_status"], "unpaid");
    assert_eq!(cs["amount_total"], 4900);
    assert_eq!(cs["currency"], "usd");
    assert_eq!(cs["client_reference_id"], "order-17");
    assert!(s(&cs["id"]).starts_with("cs_test_"));
    let expires = cs["expires_at"].as_i64().unwrap() - cs["created"].as_i64().unwrap();
    assert_eq!(expires, 24 * 3600);

    // The page: what is sold, the total, the labelled card form.
    let page = t.browser(Method::GET, &page_path(&cs), &[]).await;
    assert_eq!(page.status.as_u16(), 200);
    let body = html(&page);
    for needle in [
        "Rust course",
        "49.00 USD",
        "autocomplete=\"email\"",
        "autocomplete=\"cc-name\"",
        "autocomplete=\"cc-number\"",
        "autocomplete=\"cc-exp\"",
        "autocomplete=\"cc-csc\"",
        "<label for=\"cc-number\">",
        "<button type=\"submit\" id=\"pay-button\" class=\"approve wide\">Pay 49.00 USD</button>",
        // "Back" goes to the cancel URL (escaped as the engine escapes every value).
        "<a href=\"https:&#x2f;&#x2f;shop.example&#x2f;cart\">&larr; Back to Cashbox</a>",
    ] {
        assert!(body.contains(needle), "{needle} not in {body}");
    }

    let done = pay(&t, &cs, VISA, &[]).await;
    let id = s(&cs["id"]);
    assert_eq!(
        location(&done),
        format!("https://shop.example/done?session={id}")
    );
    let got = t
        .get(&format!(
            "/v1/checkout/sessions/{id}?expand[]=line_items&expand[]=payment_intent"
        ))
        .await;
    let got = got.ok();
    assert_eq!(got["status"], "complete");
    assert_eq!(got["payment_status"], "paid");
    assert!(got["url"].is_null());
    assert_eq!(got["payment_intent"]["status"], "succeeded");
    assert_eq!(got["payment_intent"]["amount"], 4900);
    assert_eq!(got["customer_details"]["email"], "jenny@example.com");
    assert_eq!(got["line_items"]["data"][0]["price"]["id"], price.as_str());
    assert_eq!(got["line_items"]["data"][0]["amount_total"], 4900);
    let customer = s(&got["customer"]);
    let c = t.get(&format!("/v1/customers/{customer}")).await;
    assert_eq!(c.ok()["email"], "jenny@example.com");
    // The purchase grants the course.
    let ents = t
        .get(&format!(
            "/v1/entitlements/active_entitlements?customer={customer}"
        ))
        .await;
    assert_eq!(ents.ok()["data"][0]["lookup_key"], "rust-course");
    let completed = events_of(&t, "checkout.session.completed").await;
    assert_eq!(completed.len(), 1);
    assert_eq!(completed[0]["data"]["object"]["id"], id.as_str());
    assert_eq!(completed[0]["data"]["object"]["metadata"]["order"], "17");

    // Posting the form again pays nothing more: the page says it is complete.
    let again = pay(&t, &cs, VISA, &[]).await;
    assert_eq!(again.status.as_u16(), 200);
    assert!(html(&again).contains("complete"), "{}", again.body);
    assert_eq!(count(&t, "/v1/charges").await, 1);
    // The list finds it by its PaymentIntent and its customer.
    let pi = s(&got["payment_intent"]["id"]);
    assert_eq!(
        count(&t, &format!("/v1/checkout/sessions?payment_intent={pi}")).await,
        1
    );
    assert_eq!(
        count(&t, &format!("/v1/checkout/sessions?customer={customer}")).await,
        1
    );
    let items = t
        .get(&format!("/v1/checkout/sessions/{id}/line_items"))
        .await;
    assert_eq!(items.ok()["data"][0]["price"]["product"], product.as_str());

    // A full refund takes the course back.
    let refund = t.post("/v1/refunds", &[("payment_intent", &pi)]).await;
    assert_eq!(refund.ok()["status"], "succeeded");
    let ents = t
        .get(&format!(
            "/v1/entitlements/active_entitlements?customer={customer}"
        ))
        .await;
    assert_eq!(ents.ok()["data"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn a_declined_card_leaves_the_session_open_and_another_card_pays() {
    let t = spawn_app().await;
    let (_, price) = priced(&t, "Credits", "1000", false).await;
    let cs = session(
        &t,
        &[
            ("mode", "payment"),
            ("line_items[0][price]", &price),
            ("line_items[0][quantity]", "2"),
        ],
    )
    .await;
    assert_eq!(cs["amount_total"], 2000);
    let declined = pay(&t, &cs, DECLINED, &[]).await;
    assert_eq!(declined.status.as_u16(), 402);
    assert!(
        html(&declined).contains("Your card was declined."),
        "{}",
        declined.body
    );
    let id = s(&cs["id"]);
    let open = t.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(open.ok()["status"], "open");
    // A card number that cannot be one is refused on the page, before any payment.
    let bad = pay(&t, &cs, "1234", &[]).await;
    assert_eq!(bad.status.as_u16(), 400);
    assert!(html(&bad).contains("card number is incomplete"));

    let done = pay(&t, &cs, VISA, &[]).await;
    assert!(location(&done).starts_with("https://shop.example/done"));
    let got = t.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(got.ok()["status"], "complete");
    // No customer was asked for: a guest payment.
    assert!(got.ok()["customer"].is_null());
    let charges = t.get("/v1/charges").await;
    let statuses: Vec<&str> = charges.ok()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["succeeded", "failed"]);
    // One PaymentIntent for the session, paid on its second attempt.
    assert_eq!(count(&t, "/v1/payment_intents").await, 1);
}

#[tokio::test]
async fn three_d_secure_goes_through_the_authentication_page_and_back() {
    let t = spawn_app().await;
    let (_, price) = priced(&t, "Session", "8000", false).await;
    let cs = session(&t, &[("mode", "payment"), ("line_items[0][price]", &price)]).await;
    let asked = pay(&t, &cs, THREE_DS, &[]).await;
    let auth = location(&asked);
    assert!(auth.contains("/pages/authenticate/pi_"), "{auth}");
    let secret = auth.split("client_secret=").nth(1).unwrap().to_string();
    let path = &auth[auth.find("/pages/").unwrap()..auth.find('?').unwrap()];
    let back = t
        .browser(
            Method::POST,
            path,
            &[("client_secret", &secret), ("result", "approve")],
        )
        .await;
    let back = location(&back);
    let id = s(&cs["id"]);
    assert!(back.contains(&format!("/checkout/{id}/return")), "{back}");
    let finished = t.browser(Method::GET, &back, &[]).await;
    assert!(location(&finished).starts_with("https://shop.example/done"));
    let got = t.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(got.ok()["status"], "complete");
    assert_eq!(got.ok()["payment_status"], "paid");
}

#[tokio::test]
async fn a_subscription_with_a_trial_and_a_promotion_code() {
    let t = spawn_app().await;
    let (_, price) = priced(&t, "Pro plan", "2000", true).await;
    let coupon = t
        .post(
            "/v1/coupons",
            &[("percent_off", "25"), ("duration", "forever")],
        )
        .await;
    let coupon = s(&coupon.ok()["id"]);
    t.post(
        "/v1/promotion_codes",
        &[("coupon", &coupon), ("code", "WELCOME")],
    )
    .await
    .ok();
    let cs = session(
        &t,
        &[
            ("mode", "subscription"),
            ("line_items[0][price]", &price),
            ("allow_promotion_codes", "true"),
            ("subscription_data[trial_period_days]", "14"),
            ("subscription_data[metadata][plan]", "pro"),
        ],
    )
    .await;
    assert_eq!(cs["amount_total"], 0, "a trial pays nothing today");
    let path = page_path(&cs);
    let page = t.browser(Method::GET, &path, &[]).await;
    let body = html(&page);
    assert!(body.contains("Free until"), "{body}");
    assert!(body.contains("20.00 USD per month"), "{body}");
    assert!(body.contains("Start trial"), "{body}");
    assert!(body.contains("Promotion code"), "{body}");

    let wrong = t
        .browser(
            Method::POST,
            &path,
            &[("action", "apply_code"), ("promotion_code", "NOPE")],
        )
        .await;
    assert_eq!(wrong.status.as_u16(), 400);
    assert!(html(&wrong).contains("not valid"));
    let applied = t
        .browser(
            Method::POST,
            &path,
            &[("action", "apply_code"), ("promotion_code", "welcome")],
        )
        .await;
    assert_eq!(applied.status.as_u16(), 200);
    assert!(
        html(&applied).contains("15.00 USD per month"),
        "{}",
        applied.body
    );

    let done = pay(&t, &cs, VISA, &[]).await;
    assert!(location(&done).starts_with("https://shop.example/done"));
    let id = s(&cs["id"]);
    let got = t
        .get(&format!("/v1/checkout/sessions/{id}?expand[]=subscription"))
        .await;
    let got = got.ok();
    assert_eq!(got["status"], "complete");
    assert_eq!(got["payment_status"], "no_payment_required");
    let sub = &got["subscription"];
    assert_eq!(sub["status"], "trialing");
    assert_eq!(sub["metadata"]["plan"], "pro");
    assert_eq!(sub["discounts"].as_array().unwrap().len(), 1);
    assert!(sub["default_payment_method"].as_str().is_some());
    assert_eq!(sub["customer"], got["customer"]);
    assert_eq!(events_of(&t, "checkout.session.completed").await.len(), 1);
}

#[tokio::test]
async fn a_subscription_pays_its_first_invoice_on_the_page() {
    let t = spawn_app().await;
    let (_, price) = priced(&t, "Team plan", "3000", true).await;
    let customer = t.create_customer(&[("email", "team@example.com")]).await;
    let customer = s(&customer["id"]);
    let cs = session(
        &t,
        &[
            ("mode", "subscription"),
            ("customer", &customer),
            ("line_items[0][price]", &price),
            ("line_items[0][quantity]", "3"),
        ],
    )
    .await;
    assert_eq!(cs["amount_total"], 9000);
    // The customer is known: the page does not ask for an email.
    let page = t.browser(Method::GET, &page_path(&cs), &[]).await;
    assert!(!html(&page).contains("autocomplete=\"email\""));
    assert!(html(&page).contains("team@example.com"));
    let declined = pay(&t, &cs, DECLINED, &[]).await;
    assert_eq!(declined.status.as_u16(), 402);
    let done = pay(&t, &cs, VISA, &[]).await;
    assert!(location(&done).starts_with("https://shop.example/done"));
    let id = s(&cs["id"]);
    let got = t
        .get(&format!(
            "/v1/checkout/sessions/{id}?expand[]=subscription&expand[]=invoice"
        ))
        .await;
    let got = got.ok();
    assert_eq!(got["status"], "complete");
    assert_eq!(got["payment_status"], "paid");
    assert_eq!(got["subscription"]["status"], "active");
    assert_eq!(got["invoice"]["status"], "paid");
    assert_eq!(got["invoice"]["amount_paid"], 9000);
    assert_eq!(got["customer"], customer.as_str());
    assert!(got["payment_intent"].is_null());
    assert_eq!(count(&t, "/v1/subscriptions").await, 1);
    let sub = s(&got["subscription"]["id"]);
    assert_eq!(
        count(&t, &format!("/v1/checkout/sessions?subscription={sub}")).await,
        1
    );
}

#[tokio::test]
async fn setup_mode_saves_a_card() {
    let t = spawn_app().await;
    let cs = session(&t, &[("mode", "setup"), ("currency", "usd")]).await;
    assert_eq!(cs["payment_status"], "no_payment_required");
    let done = pay(&t, &cs, VISA, &[]).await;
    assert!(location(&done).starts_with("https://shop.example/done"));
    let id = s(&cs["id"]);
    let got = t
        .get(&format!("/v1/checkout/sessions/{id}?expand[]=setup_intent"))
        .await;
    let got = got.ok();
    assert_eq!(got["status"], "complete");
    assert_eq!(got["setup_intent"]["status"], "succeeded");
    let customer = s(&got["customer"]);
    assert_eq!(
        count(&t, &format!("/v1/customers/{customer}/payment_methods")).await,
        1
    );
}

#[tokio::test]
async fn sessions_expire_and_then_cannot_be_paid() {
    let t = spawn_app().await;
    let (_, price) = priced(&t, "Ticket", "500", false).await;
    let cs = session(&t, &[("mode", "payment"), ("line_items[0][price]", &price)]).await;
    let id = s(&cs["id"]);
    let expired = t
        .post(&format!("/v1/checkout/sessions/{id}/expire"), &[])
        .await;
    assert_eq!(expired.ok()["status"], "expired");
    assert!(expired.ok()["url"].is_null());
    let twice = t
        .post(&format!("/v1/checkout/sessions/{id}/expire"), &[])
        .await;
    twice.error(400, "invalid_request_error");
    assert_eq!(events_of(&t, "checkout.session.expired").await.len(), 1);
    let page = t.browser(Method::GET, &page_path(&cs), &[]).await;
    assert_eq!(page.status.as_u16(), 410);
    let paid = pay(&t, &cs, VISA, &[]).await;
    assert_eq!(paid.status.as_u16(), 410);
    assert_eq!(count(&t, "/v1/charges").await, 0);
    assert_eq!(count(&t, "/v1/checkout/sessions?status=expired").await, 1);
}

#[tokio::test]
async fn two_tabs_posting_at_once_pay_once() {
    let t = spawn_app().await;
    let (_, price) = priced(&t, "Seat", "1500", false).await;
    let cs = session(
        &t,
        &[
            ("mode", "payment"),
            ("customer_creation", "always"),
            ("line_items[0][price]", &price),
        ],
    )
    .await;
    let (a, b, c) = tokio::join!(
        pay(&t, &cs, VISA, &[]),
        pay(&t, &cs, VISA, &[]),
        pay(&t, &cs, VISA, &[])
    );
    let redirected = [&a, &b, &c]
        .iter()
        .filter(|r| r.status.as_u16() == 303)
        .count();
    assert!(redirected >= 1, "{} {} {}", a.status, b.status, c.status);
    let charges = t.get("/v1/charges").await;
    let succeeded = charges.ok()["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "succeeded")
        .count();
    assert_eq!(succeeded, 1);
    assert_eq!(count(&t, "/v1/customers").await, 1);
    assert_eq!(count(&t, "/v1/payment_intents").await, 1);
    let id = s(&cs["id"]);
    let got = t.get(&format!("/v1/checkout/sessions/{id}")).await;
    assert_eq!(got.ok()["status"], "complete");
    assert_eq!(events_of(&t, "checkout.session.completed").await.len(), 1);
}

#[tokio::test]
async fn bad_sessions_are_refused_and_write_nothing() {
    let t = spawn_app().await;
    let (_, one_time) = priced(&t, "Book", "900", false).await;
    let (_, monthly) = priced(&t, "Club", "900", true).await;
    let prices_before = count(&t, "/v1/prices?limit=100").await;
    let now = t.app.now();
    let soon = (now + 60).to_string();
    let late = (now + 25 * 3600).to_string();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("success_url", SUCCESS)], "mode"),
        (
            vec![("mode", "payment"), ("line_items[0][price]", &one_time)],
            "success_url",
        ),
        (
            vec![
                ("mode", "payment"),
                ("success_url", "not a url"),
                ("line_items[0][price]", &one_time),
            ],
            "success_url",
        ),
        (
            vec![("mode", "payment"), ("success_url", SUCCESS)],
            "line_items",
        ),
        (
            vec![
                ("mode", "payment"),
                ("success_url", SUCCESS),
                ("line_items[0][price]", &monthly),
            ],
            "line_items[0][price]",
        ),
        (
            vec![
                ("mode", "subscription"),
                ("success_url", SUCCESS),
                ("line_items[0][price]", &one_time),
            ],
            "line_items",
        ),
        (
            vec![
                ("mode", "payment"),
                ("success_url", SUCCESS),
                ("line_items[0][price]", &one_time),
                ("line_items[0][quantity]", "0"),
            ],
            "line_items[0][quantity]",
        ),
        (
            vec![
                ("mode", "payment"),
                ("success_url", SUCCESS),
                ("line_items[0][price_data][unit_amount]", "500"),
                ("line_items[0][price_data][product_data][name]", "X"),
            ],
            "line_items[0][price_data][currency]",
        ),
        (
            vec![
                ("mode", "payment"),
                ("success_url", SUCCESS),
                ("line_items[0][price]", "price_missing"),
            ],
            "line_items[0][price]",
        ),
        (
            vec![
                ("mode", "payment"),
                ("success_url", SUCCESS),
                ("line_items[0][price]", &one_time),
                ("expires_at", &soon),
            ],
            "expires_at",
        ),
        (
            vec![
                ("mode", "payment"),
                ("success_url", SUCCESS),
                ("line_items[0][price]", &one_time),
                ("expires_at", &late),
            ],
            "expires_at",
        ),
        (
            vec![
                ("mode", "payment"),
                ("success_url", SUCCESS),
                ("line_items[0][price]", &one_time),
                ("customer", "cus_missing"),
            ],
            "customer",
        ),
        (
            vec![
                ("mode", "payment"),
                ("success_url", SUCCESS),
                ("line_items[0][price]", &one_time),
                ("allow_promotion_codes", "true"),
                ("discounts[0][coupon]", "nope"),
            ],
            "allow_promotion_codes",
        ),
        (
            vec![
                ("mode", "subscription"),
                ("success_url", SUCCESS),
                ("line_items[0][price]", &monthly),
                ("subscription_data[trial_period_days]", "0"),
            ],
            "subscription_data[trial_period_days]",
        ),
        (
            vec![
                ("mode", "payment"),
                ("success_url", SUCCESS),
                ("line_items[0][price]", &one_time),
                ("subscription_data[trial_period_days]", "7"),
            ],
            "subscription_data",
        ),
    ];
    for (pairs, param) in &cases {
        let r = t.post("/v1/checkout/sessions", pairs).await;
        let e = r.error(400, "invalid_request_error");
        assert_eq!(e["param"], *param, "{pairs:?}: {e}");
    }
    // An inline price whose session is refused later leaves no price or product behind.
    let r = t
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "payment"),
                ("success_url", SUCCESS),
                ("line_items[0][price_data][currency]", "usd"),
                ("line_items[0][price_data][unit_amount]", "500"),
                ("line_items[0][price_data][product_data][name]", "Inline"),
                ("line_items[1][price]", &monthly),
            ],
        )
        .await;
    r.error(400, "invalid_request_error");
    assert_eq!(count(&t, "/v1/prices?limit=100").await, prices_before);
    assert_eq!(count(&t, "/v1/checkout/sessions").await, 0);

    // An inline price and product are made for a good session, as Stripe makes them.
    let ok = session(
        &t,
        &[
            ("mode", "payment"),
            ("line_items[0][price_data][currency]", "usd"),
            ("line_items[0][price_data][unit_amount]", "750"),
            ("line_items[0][price_data][product_data][name]", "Top-up"),
            ("line_items[0][quantity]", "2"),
        ],
    )
    .await;
    assert_eq!(ok["amount_total"], 1500);
    let id = s(&ok["id"]);
    let items = t
        .get(&format!("/v1/checkout/sessions/{id}/line_items"))
        .await;
    assert_eq!(items.ok()["data"][0]["description"], "Top-up");
    assert_eq!(items.ok()["data"][0]["price"]["unit_amount"], 750);
    let updated = t
        .post(
            &format!("/v1/checkout/sessions/{id}"),
            &[("metadata[cart]", "c1")],
        )
        .await;
    assert_eq!(updated.ok()["metadata"]["cart"], "c1");
}

static CLOCK_OFFSET: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
fn shifted_clock() -> i64 {
    cashbox_app::unix_now() + CLOCK_OFFSET.load(std::sync::atomic::Ordering::SeqCst)
}

/// The sweep `serve` runs expires sessions at their time, with their event, and cancels the
/// PaymentIntent a declined attempt left.
#[tokio::test]
async fn the_sweep_expires_sessions_when_their_time_is_up() {
    let t = crate::support::spawn_full(
        Default::default(),
        crate::support::AppOptions {
            clock: Some(shifted_clock),
            ..Default::default()
        },
    )
    .await;
    let (_, price) = priced(&t, "Ticket", "500", false).await;
    let in_an_hour = (t.app.now() + 3600).to_string();
    let short = session(
        &t,
        &[
            ("mode", "payment"),
            ("line_items[0][price]", &price),
            ("expires_at", &in_an_hour),
        ],
    )
    .await;
    let long = session(&t, &[("mode", "payment"), ("line_items[0][price]", &price)]).await;
    let declined = pay(&t, &short, DECLINED, &[]).await;
    assert_eq!(declined.status.as_u16(), 402);
    let checkout = t.app.checkout_sessions();
    assert_eq!(checkout.expire_due(100).await.unwrap(), 0);
    CLOCK_OFFSET.store(3601, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(checkout.expire_due(100).await.unwrap(), 1);
    CLOCK_OFFSET.store(0, std::sync::atomic::Ordering::SeqCst);
    let short_id = s(&short["id"]);
    let got = t
        .get(&format!(
            "/v1/checkout/sessions/{short_id}?expand[]=payment_intent"
        ))
        .await;
    assert_eq!(got.ok()["status"], "expired");
    assert_eq!(got.ok()["payment_intent"]["status"], "canceled");
    let long_id = s(&long["id"]);
    let got = t.get(&format!("/v1/checkout/sessions/{long_id}")).await;
    assert_eq!(got.ok()["status"], "open");
    let expired = events_of(&t, "checkout.session.expired").await;
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["data"]["object"]["id"], short_id.as_str());
}

/// The business profile heads and closes the hosted pages and is the seller on the PDF.
#[tokio::test]
async fn the_business_profile_is_on_the_pages_and_the_invoice() {
    let business = cashbox_app::BusinessProfile {
        name: "Acme Courses".into(),
        address: vec!["1 Main St".into(), "75001 Paris".into()],
        support_email: Some("help@acme.example".into()),
        logo_url: Some("https://acme.example/logo.png".into()),
        tax_id: Some("FR12345".into()),
    };
    let t = crate::support::spawn_full(
        Default::default(),
        crate::support::AppOptions {
            business: Some(business),
            ..Default::default()
        },
    )
    .await;
    let (_, price) = priced(&t, "Course", "4900", false).await;
    let cs = session(&t, &[("mode", "payment"), ("line_items[0][price]", &price)]).await;
    let page = t.browser(Method::GET, &page_path(&cs), &[]).await;
    let body = html(&page);
    for needle in [
        "<h1>Pay Acme Courses</h1>",
        "Back to Acme Courses",
        "help@acme.example",
        "Tax ID FR12345",
        "75001 Paris",
        "<img src=\"https:&#x2f;&#x2f;acme.example&#x2f;logo.png\"",
    ] {
        assert!(body.contains(needle), "{needle} not in {body}");
    }
    let customer = t
        .create_customer(&[("email", "buyer@example.com"), ("name", "Bea Buyer")])
        .await;
    let customer = s(&customer["id"]);
    t.post(
        "/v1/invoiceitems",
        &[
            ("customer", &customer),
            ("price", &price),
            ("quantity", "2"),
        ],
    )
    .await
    .ok();
    let inv = t
        .post(
            "/v1/invoices",
            &[
                ("customer", &customer),
                ("pending_invoice_items_behavior", "include"),
                ("collection_method", "send_invoice"),
                ("days_until_due", "30"),
            ],
        )
        .await;
    let id = s(&inv.ok()["id"]);
    let open = t.post(&format!("/v1/invoices/{id}/finalize"), &[]).await;
    let open = open.ok().clone();
    assert_eq!(open["account_name"], "Acme Courses");
    let page = t
        .browser(Method::GET, &s(&open["hosted_invoice_url"]), &[])
        .await;
    assert!(html(&page).contains("help@acme.example"));
    let pdf = reqwest::get(s(&open["invoice_pdf"])).await.unwrap();
    let bytes = pdf.bytes().await.unwrap();
    let number = format!(
        "({})",
        "Invoice number  ".to_string() + open["number"].as_str().unwrap()
    );
    for needle in [
        "(Acme Courses)",
        "(1 Main St)",
        "(Tax ID FR12345)",
        "(Bill to)",
        "(Bea Buyer)",
        "(buyer@example.com)",
        number.as_str(),
        "(Date due  ",
        "(2)",
        "(49.00 USD)",
        "(98.00 USD)",
        "(Amount due)",
        "(Questions? help@acme.example)",
    ] {
        assert!(
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle} not in the PDF"
        );
    }
}

/// `payment_intent_data[setup_future_usage]` saves the card on the customer it makes, and
/// the PaymentIntent carries the session's payment data.
#[tokio::test]
async fn a_payment_can_save_the_card_for_later() {
    let t = spawn_app().await;
    let (_, price) = priced(&t, "Top-up", "2500", false).await;
    let cs = session(
        &t,
        &[
            ("mode", "payment"),
            ("line_items[0][price]", &price),
            ("payment_intent_data[setup_future_usage]", "off_session"),
            ("payment_intent_data[description]", "Credits top-up"),
            ("payment_intent_data[metadata][kind]", "top-up"),
            ("customer_email", "saver@example.com"),
        ],
    )
    .await;
    // The email is known: the page does not ask for it.
    let page = t.browser(Method::GET, &page_path(&cs), &[]).await;
    assert!(html(&page).contains("Paying as saver@example.com"));
    let done = pay(&t, &cs, VISA, &[]).await;
    location(&done);
    let id = s(&cs["id"]);
    let got = t
        .get(&format!(
            "/v1/checkout/sessions/{id}?expand[]=payment_intent"
        ))
        .await;
    let got = got.ok();
    let pi = &got["payment_intent"];
    assert_eq!(pi["description"], "Credits top-up");
    assert_eq!(pi["metadata"]["kind"], "top-up");
    assert_eq!(pi["setup_future_usage"], "off_session");
    let customer = s(&got["customer"]);
    let c = t.get(&format!("/v1/customers/{customer}")).await;
    assert_eq!(c.ok()["email"], "saver@example.com");
    assert_eq!(
        count(&t, &format!("/v1/customers/{customer}/payment_methods")).await,
        1
    );
}

/// A purchase its discount makes free completes without a PaymentIntent, as Stripe's does.
#[tokio::test]
async fn a_free_purchase_completes_without_a_payment() {
    let t = spawn_app().await;
    let (_, price) = priced(&t, "Workshop", "3000", false).await;
    let coupon = t
        .post(
            "/v1/coupons",
            &[("percent_off", "100"), ("duration", "once")],
        )
        .await;
    let coupon = s(&coupon.ok()["id"]);
    let cs = session(
        &t,
        &[
            ("mode", "payment"),
            ("customer_creation", "always"),
            ("line_items[0][price]", &price),
            ("discounts[0][coupon]", &coupon),
        ],
    )
    .await;
    assert_eq!(cs["amount_total"], 0);
    assert_eq!(cs["total_details"]["amount_discount"], 3000);
    let done = pay(&t, &cs, VISA, &[]).await;
    location(&done);
    let id = s(&cs["id"]);
    let got = t.get(&format!("/v1/checkout/sessions/{id}")).await;
    let got = got.ok();
    assert_eq!(got["status"], "complete");
    assert_eq!(got["payment_status"], "no_payment_required");
    assert!(got["payment_intent"].is_null());
    assert!(got["customer"].is_string());
    assert_eq!(count(&t, "/v1/payment_intents").await, 0);
}

/// One session may try a few cards a minute, not a list of stolen ones.
#[tokio::test]
async fn a_session_tries_only_a_few_cards_a_minute() {
    let t = spawn_app().await;
    let (_, price) = priced(&t, "Gift card", "5000", false).await;
    let cs = session(&t, &[("mode", "payment"), ("line_items[0][price]", &price)]).await;
    for _ in 0..cashbox_http::CARD_ATTEMPTS_PER_MINUTE {
        assert_eq!(pay(&t, &cs, DECLINED, &[]).await.status.as_u16(), 402);
    }
    let blocked = pay(&t, &cs, VISA, &[]).await;
    assert_eq!(blocked.status.as_u16(), 429);
    assert!(html(&blocked).contains("Too many card attempts"));
    // Another session is not held back by this one.
    let other = session(&t, &[("mode", "payment"), ("line_items[0][price]", &price)]).await;
    location(&pay(&t, &other, VISA, &[]).await);
    assert_eq!(count(&t, "/v1/charges?limit=100").await, 6);
}
