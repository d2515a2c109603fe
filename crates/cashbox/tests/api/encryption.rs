//! Encryption at rest: what a database dump shows, and key rotation.

use cashbox_app::expand::Reader;
use serde_json::json;
use sqlx::Row;

use crate::support::{build_app, spawn_app};

const SECRETS: [&str; 5] = [
    "jenny.rosen@example.com",
    "Jenny Rosen",
    "555-0100",
    "diagnosis-F41",
    "42 Wallaby Way",
];

/// Every table's rows as text (PostgreSQL) or the database files' bytes (SQLite).
async fn dump(db_url: &str) -> Vec<u8> {
    if let Some(path) = db_url.strip_prefix("sqlite://") {
        let mut bytes = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            if let Ok(b) = std::fs::read(format!("{path}{suffix}")) {
                bytes.extend(b);
            }
        }
        return bytes;
    }
    let pool = sqlx::PgPool::connect(db_url).await.unwrap();
    let mut out = Vec::new();
    for table in [
        "customers",
        "events",
        "idempotency_keys",
        "api_keys",
        "payment_methods",
        "setup_intents",
        "payment_intents",
        "charges",
        "refunds",
        "ledger_transactions",
        "ledger_entries",
        "sandbox_operations",
    ] {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT row_to_json(t)::text AS j FROM {table} t"
        )))
        .fetch_all(&pool)
        .await
        .unwrap();
        for r in rows {
            out.extend(r.get::<String, _>("j").into_bytes());
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn a_dump_shows_no_personal_data() {
    let t = spawn_app().await;
    let params = [
        ("email", SECRETS[0]),
        ("name", SECRETS[1]),
        ("phone", SECRETS[2]),
        ("metadata[condition]", SECRETS[3]),
        ("address[line1]", SECRETS[4]),
    ];
    let c = t
        .post_with("/v1/customers", &params, &[("idempotency-key", "dump")])
        .await;
    let id = c.ok()["id"].as_str().unwrap().to_string();
    t.post(
        &format!("/v1/customers/{id}"),
        &[("description", SECRETS[3])],
    )
    .await
    .ok();
    // The data is all there through the API...
    assert_eq!(
        t.get(&format!("/v1/customers/{id}")).await.ok()["metadata"]["condition"],
        SECRETS[3]
    );
    // ...and nowhere in the database in clear text.
    let bytes = dump(&t.db_url).await;
    assert!(
        contains(&bytes, &id),
        "the dump should contain the customer row"
    );
    for secret in SECRETS {
        assert!(
            !contains(&bytes, secret),
            "{secret:?} is stored in clear text"
        );
    }
    assert!(
        !contains(&bytes, &t.key),
        "an API key is stored in clear text"
    );
}

#[tokio::test]
async fn no_card_number_is_stored_anywhere() {
    let t = spawn_app().await;
    let card = [
        ("type", "card"),
        ("card[number]", "4242424242424242"),
        ("card[exp_month]", "12"),
        ("card[exp_year]", "2030"),
        ("card[cvc]", "987"),
    ];
    let pm = t
        .post_with(
            "/v1/payment_methods",
            &card,
            &[("idempotency-key", "card-1")],
        )
        .await;
    let pm_id = pm.ok()["id"].as_str().unwrap().to_string();
    // A failed attempt with a raw card, too: its parameters must not linger either.
    let bad = [
        ("type", "card"),
        ("card[number]", "4000000000000002"),
        ("card[exp_month]", "13"),
        ("card[exp_year]", "2030"),
    ];
    t.post_with(
        "/v1/payment_methods",
        &bad,
        &[("idempotency-key", "card-2")],
    )
    .await
    .error(402, "card_error");
    let pay = [
        ("amount", "1000"),
        ("currency", "usd"),
        ("payment_method", pm_id.as_str()),
        ("confirm", "true"),
    ];
    t.post_with("/v1/payment_intents", &pay, &[("idempotency-key", "pay-1")])
        .await
        .ok();
    let events = t.get("/v1/events?limit=100").await;
    let bytes = dump(&t.db_url).await;
    for needle in ["4242424242424242", "4000000000000002"] {
        assert!(!contains(&bytes, needle), "{needle} found in the database");
        assert!(
            !events.body.to_string().contains(needle),
            "{needle} found in the events"
        );
    }
}

#[tokio::test]
async fn rotation_re_encrypts_everything_and_lookups_keep_working() {
    let t = spawn_app().await;
    let c = t
        .post_with(
            "/v1/customers",
            &[("email", SECRETS[0]), ("metadata[m]", "v")],
            &[("idempotency-key", "rot")],
        )
        .await;
    let id = c.ok()["id"].as_str().unwrap().to_string();

    // A new primary key k2 with the old key kept for reading.
    let k2 = cashbox_core::crypto::KeyRing::generate_entry("k2").to_string();
    let (both, _) = build_app(&t.db_url, &format!("{k2},{}", t.ring_entry)).await;
    // Before rotation finishes, lookups by email still find rows indexed under the old key.
    let found = both
        .customers()
        .list(
            &serde_json::from_value(json!({"email": SECRETS[0]})).unwrap(),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(found.data.len(), 1);
    let report = both.rotate_encryption().await.unwrap();
    assert_eq!(
        report.scanned, 3,
        "a customer, its event and the saved idempotent response"
    );
    assert_eq!(report.resealed, 3);
    assert_eq!(
        both.rotate_encryption().await.unwrap().resealed,
        0,
        "rotation is idempotent"
    );

    // Only the new key is needed now.
    let (only_new, _) = build_app(&t.db_url, &k2).await;
    let c = only_new.customers().retrieve(&id, &[]).await.unwrap();
    assert_eq!(c["email"], SECRETS[0]);
    let found = only_new
        .customers()
        .list(
            &serde_json::from_value(json!({"email": SECRETS[0]})).unwrap(),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(found.data.len(), 1);
    // The search index was rebuilt under the new key: its blind indexes still find her.
    let by_email: cashbox_core::search::SearchParams =
        serde_json::from_value(json!({"query": format!("email:'{}'", SECRETS[0])})).unwrap();
    let found = only_new.customers().search(&by_email, &[]).await.unwrap();
    assert_eq!(found.data.len(), 1);
    assert_eq!(found.data[0]["id"], id.as_str());
    let events = only_new.events().list(&Default::default()).await.unwrap();
    assert_eq!(events.data[0]["data"]["object"]["email"], SECRETS[0]);
    let mut v = c.clone();
    only_new
        .expand(&mut Reader::Store(only_new.store()), &mut v, &[])
        .await
        .unwrap();

    // The old key alone can no longer read anything.
    let old_ring = t.ring_entry.clone();
    let (only_old, _) = build_app(&t.db_url, &old_ring).await;
    assert!(only_old.customers().retrieve(&id, &[]).await.is_err());
}

/// Events that show a document as sealed in their transaction (a payment's charge and
/// PaymentIntent) read the same after rotation, with only the new key.
#[tokio::test]
async fn rotation_keeps_snapshot_events_readable() {
    let t = spawn_app().await;
    let customer = t.create_customer(&[("email", SECRETS[0])]).await;
    let pay = [
        ("amount", "1999"),
        ("currency", "usd"),
        ("customer", customer["id"].as_str().unwrap()),
        ("payment_method", "pm_card_visa"),
        ("confirm", "true"),
    ];
    let pi = t.post("/v1/payment_intents", &pay).await.ok().clone();
    assert_eq!(pi["status"], "succeeded");
    let before = t.get("/v1/events?limit=100").await.ok().clone();
    let types: Vec<&str> = before["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"charge.succeeded"), "{types:?}");
    assert!(types.contains(&"payment_intent.succeeded"), "{types:?}");

    let k2 = cashbox_core::crypto::KeyRing::generate_entry("k2").to_string();
    let (both, _) = build_app(&t.db_url, &format!("{k2},{}", t.ring_entry)).await;
    assert!(both.rotate_encryption().await.unwrap().resealed > 0);
    let (only_new, _) = build_app(&t.db_url, &k2).await;
    let after = only_new.events().list(&Default::default()).await.unwrap();
    assert_eq!(after.data, before["data"].as_array().unwrap().clone());
    let succeeded = after
        .data
        .iter()
        .find(|e| e["type"] == "payment_intent.succeeded")
        .unwrap();
    assert_eq!(succeeded["data"]["object"]["id"], pi["id"]);
    assert_eq!(succeeded["data"]["object"]["amount_received"], 1999);
}

/// The checkout page takes card numbers in a form: neither a declined nor a paying one is
/// kept, in the database or in the events.
#[tokio::test]
async fn the_checkout_page_keeps_no_card_number() {
    let t = spawn_app().await;
    let (_, price) = crate::checkout::priced(&t, "Course", "4900", false).await;
    let cs = crate::checkout::session(
        &t,
        &[
            ("mode", "payment"),
            ("customer_creation", "always"),
            ("line_items[0][price]", &price),
        ],
    )
    .await;
    let declined = crate::checkout::pay(&t, &cs, "4000 0000 0000 0002", &[]).await;
    assert_eq!(declined.status.as_u16(), 402);
    let paid = crate::checkout::pay(&t, &cs, "4242 4242 4242 4242", &[]).await;
    assert_eq!(paid.status.as_u16(), 303);
    let events = t.get("/v1/events?limit=100").await;
    let bytes = dump(&t.db_url).await;
    for needle in ["4242424242424242", "4000000000000002"] {
        assert!(!contains(&bytes, needle), "{needle} found in the database");
        assert!(
            !events.body.to_string().contains(needle),
            "{needle} found in the events"
        );
    }
}
