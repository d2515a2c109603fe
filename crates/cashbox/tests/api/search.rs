//! `GET /v1/{resource}/search`: Stripe's query language over the search index.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{TestApp, spawn_app};

fn ids(v: &Value) -> BTreeSet<String> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect()
}

fn q(query: &str) -> String {
    query
        .replace('%', "%25")
        .replace(' ', "%20")
        .replace('\'', "%27")
        .replace('[', "%5B")
        .replace(']', "%5D")
        .replace('&', "%26")
        .replace('+', "%2B")
        .replace('>', "%3E")
        .replace('<', "%3C")
}

/// Every page of a search, following `next_page`; the ids in order.
async fn all_pages(t: &TestApp, resource: &str, query: &str, limit: u32) -> Vec<String> {
    let mut out = Vec::new();
    let mut page: Option<String> = None;
    loop {
        let mut path = format!("/v1/{resource}/search?query={}&limit={limit}", q(query));
        if let Some(p) = &page {
            path.push_str(&format!("&page={p}"));
        }
        let r = t.get(&path).await;
        let body = r.ok();
        assert_eq!(body["object"], "search_result");
        let data = body["data"].as_array().unwrap();
        assert!(data.len() <= limit as usize);
        out.extend(data.iter().map(|o| o["id"].as_str().unwrap().to_string()));
        match body["next_page"].as_str() {
            Some(p) => {
                assert_eq!(body["has_more"], true);
                page = Some(p.to_string());
            }
            None => {
                assert_eq!(body["has_more"], false);
                return out;
            }
        }
    }
}

async fn customer(t: &TestApp, email: &str, name: &str, plan: Option<&str>) -> String {
    let mut pairs = vec![("email", email), ("name", name)];
    if let Some(p) = plan {
        pairs.push(("metadata[plan]", p));
    }
    t.post("/v1/customers", &pairs).await.ok()["id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn customers_are_found_by_email_and_metadata_across_pages() {
    let t = spawn_app().await;
    let mut pro = BTreeSet::new();
    let mut all = BTreeSet::new();
    for i in 0..7 {
        let plan = if i % 2 == 0 {
            Some("pro")
        } else {
            Some("basic")
        };
        let id = customer(
            &t,
            &format!("user{i}@example.com"),
            &format!("User {i}"),
            plan,
        )
        .await;
        if i % 2 == 0 {
            pro.insert(id.clone());
        }
        all.insert(id);
    }
    let jenny = customer(&t, "Jenny.Rosen@Example.com", "Jenny Rosen", None).await;
    all.insert(jenny.clone());

    // By email, without regard to case, as Stripe matches emails.
    let r = t
        .get(&format!(
            "/v1/customers/search?query={}",
            q("email:'jenny.rosen@example.com'")
        ))
        .await;
    assert_eq!(ids(r.ok()), BTreeSet::from([jenny.clone()]));
    assert_eq!(r.ok()["url"], "/v1/customers/search");
    assert_eq!(r.ok()["data"][0]["email"], "Jenny.Rosen@Example.com");

    // By metadata, two at a time: every match once, newest first, nothing else.
    let found = all_pages(&t, "customers", "metadata['plan']:'pro'", 2).await;
    assert_eq!(found.len(), pro.len(), "{found:?}");
    assert_eq!(found.iter().cloned().collect::<BTreeSet<_>>(), pro);
    let mut sorted = found.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(found, sorted, "newest first");

    // Negation, null, OR, AND, created.
    let no_plan = all_pages(&t, "customers", "metadata['plan']:null", 10).await;
    assert_eq!(no_plan, vec![jenny.clone()]);
    let not_pro = all_pages(&t, "customers", "-metadata['plan']:'pro'", 3).await;
    assert_eq!(not_pro.len(), all.len() - pro.len());
    let either = all_pages(
        &t,
        "customers",
        "email:'user1@example.com' OR name:'Jenny Rosen'",
        10,
    )
    .await;
    assert_eq!(either.len(), 2);
    let both = all_pages(
        &t,
        "customers",
        "metadata['plan']:'pro' AND email:'user2@example.com'",
        10,
    )
    .await;
    assert_eq!(both.len(), 1);
    let created = all_pages(&t, "customers", "created>0 AND created<4000000000", 100).await;
    assert_eq!(created.len(), all.len());

    // total_count on request.
    let counted = t
        .get(&format!(
            "/v1/customers/search?query={}&limit=1&expand[]=total_count",
            q("metadata['plan']:'pro'")
        ))
        .await;
    assert_eq!(counted.ok()["total_count"], pro.len() as i64);
    assert_eq!(counted.ok()["data"].as_array().unwrap().len(), 1);

    // A deleted customer is no longer found.
    t.delete(&format!("/v1/customers/{jenny}")).await.ok();
    let gone = all_pages(&t, "customers", "name:'Jenny Rosen'", 10).await;
    assert!(gone.is_empty(), "{gone:?}");
}

#[tokio::test]
async fn bad_searches_are_refused_with_stripes_errors() {
    let t = spawn_app().await;
    customer(&t, "a@example.com", "Amy", None).await;
    for (query, says) in [
        ("email~'exa'", "blind index"),
        ("name~'Amy'", "blind index"),
        ("status:'active'", "not supported"),
        ("email:'a' AND name:'b' OR phone:'c'", "cannot combine"),
        ("email:unquoted", "quote strings"),
    ] {
        let r = t
            .get(&format!("/v1/customers/search?query={}", q(query)))
            .await;
        let e = r.error(400, "invalid_request_error");
        assert_eq!(e["param"], "query", "{query}");
        assert!(
            e["message"].as_str().unwrap().contains(says),
            "{query}: {e}"
        );
    }
    let missing = t.get("/v1/customers/search").await;
    assert_eq!(
        missing.error(400, "invalid_request_error")["code"],
        "parameter_missing"
    );
    let bad_page = t
        .get(&format!(
            "/v1/customers/search?query={}&page=zz",
            q("name:'Amy'")
        ))
        .await;
    assert_eq!(
        bad_page.error(400, "invalid_request_error")["param"],
        "page"
    );
    let bad_limit = t
        .get(&format!(
            "/v1/customers/search?query={}&limit=101",
            q("name:'Amy'")
        ))
        .await;
    bad_limit.error(400, "invalid_request_error");
}

#[tokio::test]
async fn prices_and_products_are_searchable() {
    let t = spawn_app().await;
    let product = t
        .post(
            "/v1/products",
            &[("name", "Therapy Plan"), ("description", "Weekly sessions")],
        )
        .await;
    let product = product.ok()["id"].as_str().unwrap().to_string();
    let other = t.post("/v1/products", &[("name", "Course")]).await;
    let other = other.ok()["id"].as_str().unwrap().to_string();
    let price = |amount: &'static str, key: Option<&'static str>, product: String| {
        let t = &t;
        async move {
            let mut pairs = vec![
                ("product", product.as_str()),
                ("currency", "usd"),
                ("unit_amount", amount),
                ("recurring[interval]", "month"),
            ];
            if let Some(k) = key {
                pairs.push(("lookup_key", k));
            }
            t.post("/v1/prices", &pairs).await.ok()["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    };
    let monthly = price("1000", Some("pro_monthly"), product.clone()).await;
    let old = price("900", None, product.clone()).await;
    t.post(&format!("/v1/prices/{old}"), &[("active", "false")])
        .await
        .ok();
    let course = price("5000", None, other.clone()).await;

    let by_key = all_pages(&t, "prices", "lookup_key:'pro_monthly'", 10).await;
    assert_eq!(by_key, vec![monthly.clone()]);
    let active = all_pages(&t, "prices", "active:'true'", 10).await;
    assert_eq!(
        active.iter().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from([monthly.clone(), course.clone()])
    );
    let inactive = all_pages(&t, "prices", "active:'false'", 10).await;
    assert_eq!(inactive, vec![old.clone()]);
    let of_product = all_pages(
        &t,
        "prices",
        &format!("product:'{product}' AND lookup_key:null"),
        10,
    )
    .await;
    assert_eq!(of_product, vec![old]);

    // Products: substring on name and description (not personal data).
    assert_eq!(
        all_pages(&t, "products", "name~'therapy'", 10).await,
        vec![product.clone()]
    );
    assert_eq!(
        all_pages(&t, "products", "description~'SESSION'", 10).await,
        vec![product.clone()]
    );
    assert_eq!(
        all_pages(&t, "products", "-name~'therapy'", 10).await,
        vec![other]
    );
}

#[tokio::test]
async fn subscriptions_invoices_payments_and_charges_are_searchable() {
    let t = spawn_app().await;
    let product = t.post("/v1/products", &[("name", "Therapy Plan")]).await;
    let product = product.ok()["id"].as_str().unwrap().to_string();
    let monthly = t
        .post(
            "/v1/prices",
            &[
                ("product", product.as_str()),
                ("currency", "usd"),
                ("unit_amount", "1000"),
                ("recurring[interval]", "month"),
            ],
        )
        .await;
    let monthly = monthly.ok()["id"].as_str().unwrap().to_string();
    // Subscriptions by status; payment intents by amount; charges by card.
    let cus = t.post("/v1/customers", &[("email", "s@example.com")]).await;
    let cus = cus.ok()["id"].as_str().unwrap().to_string();
    let sub = t
        .post(
            "/v1/subscriptions",
            &[
                ("customer", cus.as_str()),
                ("items[0][price]", monthly.as_str()),
                ("payment_behavior", "default_incomplete"),
            ],
        )
        .await;
    let sub = sub.ok()["id"].as_str().unwrap().to_string();
    assert_eq!(
        all_pages(&t, "subscriptions", "status:'incomplete'", 10).await,
        vec![sub.clone()]
    );
    assert!(
        all_pages(&t, "subscriptions", "status:'active'", 10)
            .await
            .is_empty()
    );
    let pi = t
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "2500"),
                ("currency", "usd"),
                ("customer", cus.as_str()),
                ("payment_method", "pm_card_visa"),
                ("confirm", "true"),
                ("metadata[order]", "6735"),
            ],
        )
        .await;
    let pi = pi.ok()["id"].as_str().unwrap().to_string();
    let big = all_pages(
        &t,
        "payment_intents",
        "amount>2000 AND status:'succeeded'",
        10,
    )
    .await;
    assert_eq!(big, vec![pi.clone()]);
    assert_eq!(
        all_pages(&t, "payment_intents", "metadata['order']:'6735'", 10).await,
        vec![pi.clone()]
    );
    // The subscription's invoice PaymentIntent (1000) is not over 2000; both are the customer's.
    assert_eq!(
        all_pages(&t, "payment_intents", &format!("customer:'{cus}'"), 10)
            .await
            .len(),
        2
    );
    let charges = all_pages(
        &t,
        "charges",
        "payment_method_details.card.last4:'4242' AND refunded:'false'",
        10,
    )
    .await;
    assert_eq!(charges.len(), 1);
    let invoices = all_pages(&t, "invoices", "total>=1000 AND status:'open'", 10).await;
    assert_eq!(invoices.len(), 1);
    // A full refund changes what the charge is found by.
    t.post("/v1/refunds", &[("payment_intent", pi.as_str())])
        .await
        .ok();
    assert_eq!(
        all_pages(&t, "charges", "refunded:'true'", 10).await,
        charges
    );
}

/// Indexing marks only writes that change what an object indexes: a status is searched in the
/// table's own column, so paying an invoice marks only the new charge.
#[tokio::test]
async fn a_status_change_marks_nothing_for_indexing() {
    let t = spawn_app().await;
    let cus = t.post("/v1/customers", &[("email", "m@example.com")]).await;
    let cus = cus.ok()["id"].as_str().unwrap().to_string();
    let pi = t
        .post(
            "/v1/payment_intents",
            &[("amount", "700"), ("currency", "usd"), ("customer", &cus)],
        )
        .await;
    let pi = pi.ok()["id"].as_str().unwrap().to_string();
    assert_eq!(
        all_pages(
            &t,
            "payment_intents",
            "status:'requires_payment_method'",
            10
        )
        .await,
        vec![pi.clone()]
    );
    assert_eq!(t.app.store().search_pending_count().await.unwrap(), 0);
    t.post(
        &format!("/v1/payment_intents/{pi}/confirm"),
        &[("payment_method", "pm_card_visa")],
    )
    .await
    .ok();
    assert_eq!(
        t.app.store().search_pending_count().await.unwrap(),
        1,
        "the new charge only"
    );
    assert_eq!(
        all_pages(&t, "payment_intents", "status:'succeeded'", 10).await,
        vec![pi]
    );
    assert_eq!(t.app.store().search_pending_count().await.unwrap(), 0);
}

/// A search made after a write finds it even while another indexer holds the write's mark:
/// it waits for that indexer instead of skipping the mark (PostgreSQL's `SKIP LOCKED` made a
/// search answer before the object was indexed).
#[tokio::test]
async fn a_search_waits_for_an_indexer_holding_the_mark() {
    let t = std::sync::Arc::new(spawn_app().await);
    let id = customer(&t, "held@example.com", "Held", None).await;
    // Another indexer (serve's background one) has taken the mark and not finished.
    let mut held = t.app.store().begin().await.unwrap();
    let taken = held
        .search_pending(10, cashbox_store::TakeMarks::SkipLocked)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    let search = {
        let t = std::sync::Arc::clone(&t);
        tokio::spawn(async move {
            let path = format!(
                "/v1/customers/search?query={}",
                q("email:'held@example.com'")
            );
            ids(t.get(&path).await.ok())
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!search.is_finished(), "the search waits for the held mark");
    held.commit().await.unwrap();
    assert_eq!(search.await.unwrap(), BTreeSet::from([id]));
}
