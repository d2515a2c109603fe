//! The customer portal: configurations and sessions through the API, and the portal page as
//! a browser posts it.

use reqwest::Method;
use serde_json::Value;

use crate::support::{Resp, TestApp, spawn_app};

fn s(v: &Value) -> String {
    v.as_str().unwrap().to_string()
}

fn html(r: &Resp) -> &str {
    r.body.as_str().unwrap()
}

struct Shop {
    product: String,
    basic: String,
    pro: String,
    customer: String,
    subscription: String,
}

async fn shop(t: &TestApp) -> Shop {
    let product = t.post("/v1/products", &[("name", "Therapy plan")]).await;
    let product = s(&product.ok()["id"]);
    let price = |amount: &'static str| {
        let product = product.clone();
        async move {
            let p = t
                .post(
                    "/v1/prices",
                    &[
                        ("product", product.as_str()),
                        ("currency", "usd"),
                        ("unit_amount", amount),
                        ("recurring[interval]", "month"),
                    ],
                )
                .await;
            s(&p.ok()["id"])
        }
    };
    let basic = price("2000").await;
    let pro = price("5000").await;
    let customer = t
        .create_customer(&[
            ("email", "client@example.com"),
            ("payment_method", "pm_card_visa"),
            ("invoice_settings[default_payment_method]", "pm_card_visa"),
        ])
        .await;
    let customer = s(&customer["id"]);
    let sub = t
        .post(
            "/v1/subscriptions",
            &[("customer", &customer), ("items[0][price]", &basic)],
        )
        .await;
    assert_eq!(sub.ok()["status"], "active");
    Shop {
        product,
        basic,
        pro,
        customer,
        subscription: s(&sub.ok()["id"]),
    }
}

async fn configuration(t: &TestApp, shop: &Shop, extra: &[(&str, &str)]) -> Value {
    let mut pairs = vec![
        ("features[subscription_update][enabled]", "true"),
        (
            "features[subscription_update][products][0][product]",
            shop.product.as_str(),
        ),
        (
            "features[subscription_update][products][0][prices][0]",
            shop.basic.as_str(),
        ),
        (
            "features[subscription_update][products][0][prices][1]",
            shop.pro.as_str(),
        ),
        ("business_profile[headline]", "Manage your therapy plan"),
        ("default_return_url", "https://app.example/account"),
    ];
    pairs.extend_from_slice(extra);
    t.post("/v1/billing_portal/configurations", &pairs)
        .await
        .ok()
        .clone()
}

/// The page's path and its secret, from a session's URL.
fn page_of(session: &Value) -> (String, String) {
    let url = s(&session["url"]);
    let path = url[url.find("/portal/").unwrap()..].to_string();
    let token = url.split("token=").nth(1).unwrap().to_string();
    (path, token)
}

async fn act(t: &TestApp, path: &str, token: &str, pairs: &[(&str, &str)]) -> Resp {
    let mut all = vec![("token", token)];
    all.extend_from_slice(pairs);
    let bare = path.split('?').next().unwrap();
    t.browser(Method::POST, bare, &all).await
}

fn back_home(r: &Resp) -> String {
    assert_eq!(r.status.as_u16(), 303, "{}", r.body);
    r.header("location").unwrap().to_string()
}

#[tokio::test]
async fn the_portal_switches_plans_after_a_preview_cancels_undoes_and_adds_a_card() {
    let t = spawn_app().await;
    let shop = shop(&t).await;
    // The plan grants eight sessions a period: the portal shows them.
    let feature = t
        .post(
            "/v1/entitlements/features",
            &[("name", "Therapy sessions"), ("lookup_key", "sessions")],
        )
        .await;
    let feature = s(&feature.ok()["id"]);
    t.post(
        &format!("/v1/products/{}/features", shop.product),
        &[("entitlement_feature", &feature), ("quota", "8")],
    )
    .await
    .ok();
    let config = configuration(&t, &shop, &[]).await;
    assert_eq!(config["object"], "billing_portal.configuration");
    assert_eq!(config["is_default"], true);
    assert_eq!(
        config["features"]["subscription_update"]["products"][0]["prices"][1],
        shop.pro.as_str()
    );
    let session = t
        .post(
            "/v1/billing_portal/sessions",
            &[("customer", &shop.customer)],
        )
        .await;
    let session = session.ok().clone();
    assert_eq!(session["object"], "billing_portal.session");
    assert_eq!(session["return_url"], "https://app.example/account");
    assert_eq!(session["configuration"], config["id"]);
    let (path, token) = page_of(&session);

    let home = t.browser(Method::GET, &path, &[]).await;
    assert_eq!(home.status.as_u16(), 200);
    let body = html(&home);
    for needle in [
        "Manage your therapy plan",
        "client@example.com",
        "Therapy plan",
        "20.00 USD per month",
        "Renews on",
        "Next invoice: 20.00 USD",
        "Switch to Therapy plan (50.00 USD per month)",
        "Cancel plan at the end of the period",
        "Visa •••• 4242",
        "(default)",
        "Add card and make it the default",
        "Therapy sessions",
        "0 of 8 used, 8 left",
        "Invoice history",
        "20.00 USD",
        ">PDF</a>",
    ] {
        assert!(body.contains(needle), "{needle} not in {body}");
    }

    // Switching shows the prorated next invoice first, and changes nothing until confirmed.
    let preview = act(
        &t,
        &path,
        &token,
        &[
            ("action", "preview_switch"),
            ("subscription", &shop.subscription),
            ("price", &shop.pro),
        ],
    )
    .await;
    assert_eq!(preview.status.as_u16(), 200, "{}", preview.body);
    let body = html(&preview);
    assert!(
        body.contains("Confirm switch to Therapy plan (50.00 USD per month)"),
        "{body}"
    );
    assert!(body.contains("Amount due on"), "{body}");
    let sub = t
        .get(&format!("/v1/subscriptions/{}", shop.subscription))
        .await;
    assert_eq!(
        sub.ok()["items"]["data"][0]["price"]["id"],
        shop.basic.as_str()
    );
    let switched = act(
        &t,
        &path,
        &token,
        &[
            ("action", "switch"),
            ("subscription", &shop.subscription),
            ("price", &shop.pro),
        ],
    )
    .await;
    let back = back_home(&switched);
    assert!(back.ends_with("done=switched"), "{back}");
    let sub = t
        .get(&format!("/v1/subscriptions/{}", shop.subscription))
        .await;
    assert_eq!(
        sub.ok()["items"]["data"][0]["price"]["id"],
        shop.pro.as_str()
    );
    let shown = t.browser(Method::GET, &back, &[]).await;
    assert!(html(&shown).contains("Your plan is changed."));
    let updated = t.get("/v1/events?type=customer.subscription.updated").await;
    assert!(!updated.ok()["data"].as_array().unwrap().is_empty());

    // Cancel at the period's end, then undo it.
    let canceled = act(
        &t,
        &path,
        &token,
        &[("action", "cancel"), ("subscription", &shop.subscription)],
    )
    .await;
    assert!(back_home(&canceled).ends_with("done=scheduled"));
    let sub = t
        .get(&format!("/v1/subscriptions/{}", shop.subscription))
        .await;
    assert_eq!(sub.ok()["cancel_at_period_end"], true);
    let page = t.browser(Method::GET, &path, &[]).await;
    assert!(html(&page).contains("Cancels on"));
    assert!(html(&page).contains("Don't cancel"));
    let renewed = act(
        &t,
        &path,
        &token,
        &[("action", "renew"), ("subscription", &shop.subscription)],
    )
    .await;
    back_home(&renewed);
    let sub = t
        .get(&format!("/v1/subscriptions/{}", shop.subscription))
        .await;
    assert_eq!(sub.ok()["cancel_at_period_end"], false);

    // A declined card is refused with the processor's message; a good one becomes the default.
    let declined = act(
        &t,
        &path,
        &token,
        &[
            ("action", "add_card"),
            ("card_number", "4000000000000002"),
            ("card_exp", "12/34"),
            ("card_cvc", "123"),
        ],
    )
    .await;
    assert_eq!(declined.status.as_u16(), 400);
    assert!(html(&declined).contains("declined"), "{}", declined.body);
    let added = act(
        &t,
        &path,
        &token,
        &[
            ("action", "add_card"),
            ("card_number", "5555 5555 5555 4444"),
            ("card_exp", "12 / 34"),
            ("card_cvc", "123"),
        ],
    )
    .await;
    assert!(back_home(&added).ends_with("done=card"));
    let customer = t.get(&format!("/v1/customers/{}", shop.customer)).await;
    let default = s(&customer.ok()["invoice_settings"]["default_payment_method"]);
    let pm = t.get(&format!("/v1/payment_methods/{default}")).await;
    assert_eq!(pm.ok()["card"]["last4"], "4444");

    // Billing details, as the default configuration allows (email and address).
    let saved = act(
        &t,
        &path,
        &token,
        &[
            ("action", "update_details"),
            ("email", "new@example.com"),
            ("line1", "1 Rue de la Paix"),
            ("postal_code", "75002"),
            ("city", "Paris"),
            ("country", "FR"),
        ],
    )
    .await;
    assert!(back_home(&saved).ends_with("done=details"));
    let customer = t.get(&format!("/v1/customers/{}", shop.customer)).await;
    assert_eq!(customer.ok()["email"], "new@example.com");
    assert_eq!(customer.ok()["address"]["city"], "Paris");
    let events = t.get("/v1/events?type=customer.updated").await;
    assert!(!events.ok()["data"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn portal_links_are_guarded() {
    let t = spawn_app().await;
    let shop = shop(&t).await;
    let other = t.create_customer(&[("email", "other@example.com")]).await;
    let session = t
        .post(
            "/v1/billing_portal/sessions",
            &[
                ("customer", &shop.customer),
                ("return_url", "https://app.example/back"),
            ],
        )
        .await;
    let (path, token) = page_of(session.ok());
    // The default configuration was made on first need, with Stripe's defaults.
    let configs = t
        .get("/v1/billing_portal/configurations?is_default=true")
        .await;
    assert_eq!(
        configs.ok()["data"][0]["features"]["subscription_cancel"]["enabled"],
        true
    );
    assert_eq!(
        configs.ok()["data"][0]["features"]["subscription_update"]["enabled"],
        false
    );

    let bare = path.split('?').next().unwrap();
    let wrong = t
        .browser(Method::GET, &format!("{bare}?token=nope"), &[])
        .await;
    assert_eq!(wrong.status.as_u16(), 404);
    // Without the secret an action is not found; from another site it is refused.
    let forged = act(
        &t,
        &path,
        "nope",
        &[("action", "cancel"), ("subscription", &shop.subscription)],
    )
    .await;
    assert_eq!(forged.status.as_u16(), 404);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cross = client
        .post(format!("{}{bare}", t.base))
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(crate::support::form(&[
            ("token", &token),
            ("action", "cancel"),
            ("subscription", &shop.subscription),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status().as_u16(), 403);
    // Another customer's subscription cannot be touched through this session.
    let theirs = t
        .post(
            "/v1/subscriptions",
            &[
                ("customer", other["id"].as_str().unwrap()),
                ("items[0][price]", &shop.basic),
                ("collection_method", "send_invoice"),
                ("days_until_due", "30"),
            ],
        )
        .await;
    let theirs = s(&theirs.ok()["id"]);
    let refused = act(
        &t,
        &path,
        &token,
        &[("action", "cancel"), ("subscription", &theirs)],
    )
    .await;
    assert_eq!(refused.status.as_u16(), 400);
    let sub = t.get(&format!("/v1/subscriptions/{theirs}")).await;
    assert_eq!(sub.ok()["cancel_at_period_end"], false);
    // Switching is not offered by the default configuration.
    let switch = act(
        &t,
        &path,
        &token,
        &[
            ("action", "switch"),
            ("subscription", &shop.subscription),
            ("price", &shop.pro),
        ],
    )
    .await;
    assert_eq!(switch.status.as_u16(), 400);

    // Bad requests are Stripe errors.
    let r = t.post("/v1/billing_portal/sessions", &[]).await;
    assert_eq!(r.error(400, "invalid_request_error")["param"], "customer");
    let r = t
        .post(
            "/v1/billing_portal/sessions",
            &[
                ("customer", "cus_missing"),
                ("return_url", "https://a.example"),
            ],
        )
        .await;
    assert_eq!(r.error(400, "invalid_request_error")["param"], "customer");
    let r = t
        .post(
            "/v1/billing_portal/configurations",
            &[("features[subscription_update][enabled]", "true")],
        )
        .await;
    assert_eq!(
        r.error(400, "invalid_request_error")["param"],
        "features[subscription_update][products]"
    );
    let r = t
        .post(
            "/v1/billing_portal/sessions",
            &[
                ("customer", &shop.customer),
                ("return_url", "https://a.example"),
                ("flow_data[type]", "subscription_cancel"),
                ("flow_data[subscription_cancel][subscription]", &theirs),
            ],
        )
        .await;
    assert_eq!(
        r.error(400, "invalid_request_error")["param"],
        "flow_data[subscription_cancel][subscription]"
    );
}

static CLOCK_OFFSET: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
fn shifted_clock() -> i64 {
    cashbox_app::unix_now() + CLOCK_OFFSET.load(std::sync::atomic::Ordering::SeqCst)
}

#[tokio::test]
async fn a_link_opens_within_five_minutes_and_a_deep_link_confirms_a_switch() {
    let t = crate::support::spawn_full(
        Default::default(),
        crate::support::AppOptions {
            clock: Some(shifted_clock),
            ..Default::default()
        },
    )
    .await;
    let shop = shop(&t).await;
    configuration(&t, &shop, &[]).await;
    let late = t
        .post(
            "/v1/billing_portal/sessions",
            &[("customer", &shop.customer)],
        )
        .await;
    let (late_path, _) = page_of(late.ok());
    let item = t
        .get(&format!("/v1/subscriptions/{}", shop.subscription))
        .await;
    let item = s(&item.ok()["items"]["data"][0]["id"]);
    let deep = t
        .post(
            "/v1/billing_portal/sessions",
            &[
                ("customer", &shop.customer),
                ("flow_data[type]", "subscription_update_confirm"),
                (
                    "flow_data[subscription_update_confirm][subscription]",
                    &shop.subscription,
                ),
                (
                    "flow_data[subscription_update_confirm][items][0][id]",
                    &item,
                ),
                (
                    "flow_data[subscription_update_confirm][items][0][price]",
                    &shop.pro,
                ),
            ],
        )
        .await;
    let deep = deep.ok().clone();
    assert_eq!(deep["flow"]["type"], "subscription_update_confirm");
    let (deep_path, _) = page_of(&deep);
    let opened = t.browser(Method::GET, &deep_path, &[]).await;
    assert!(
        html(&opened).contains("Confirm switch to"),
        "{}",
        opened.body
    );

    // A cancel deep link that says where to go afterwards goes there once done.
    let cancel = t
        .post(
            "/v1/billing_portal/sessions",
            &[
                ("customer", &shop.customer),
                ("flow_data[type]", "subscription_cancel"),
                (
                    "flow_data[subscription_cancel][subscription]",
                    &shop.subscription,
                ),
                ("flow_data[after_completion][type]", "redirect"),
                (
                    "flow_data[after_completion][redirect][return_url]",
                    "https://app.example/bye",
                ),
            ],
        )
        .await;
    let cancel = cancel.ok().clone();
    assert_eq!(
        cancel["flow"]["after_completion"]["redirect"]["return_url"],
        "https://app.example/bye"
    );
    let (cancel_path, cancel_token) = page_of(&cancel);
    let done = act(
        &t,
        &cancel_path,
        &cancel_token,
        &[("action", "cancel"), ("subscription", &shop.subscription)],
    )
    .await;
    assert_eq!(back_home(&done), "https://app.example/bye");

    CLOCK_OFFSET.store(301, std::sync::atomic::Ordering::SeqCst);
    let expired = t.browser(Method::GET, &late_path, &[]).await;
    assert_eq!(expired.status.as_u16(), 410);
    // The one opened in time still works for its hour.
    let again = t.browser(Method::GET, &deep_path, &[]).await;
    assert_eq!(again.status.as_u16(), 200);
    CLOCK_OFFSET.store(3700, std::sync::atomic::Ordering::SeqCst);
    let over = t.browser(Method::GET, &deep_path, &[]).await;
    assert_eq!(over.status.as_u16(), 410);
    CLOCK_OFFSET.store(0, std::sync::atomic::Ordering::SeqCst);
}
