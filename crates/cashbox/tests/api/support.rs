//! `spawn_app`: the application on port 0 over a fresh database, and a small client.

use cashbox_app::{App, Settings};
use cashbox_core::api_key::{KeyKind, Permission};
use cashbox_core::crypto::{KeyRing, hash_secret};
use cashbox_core::id::random_token;
use cashbox_http::HttpConfig;
use cashbox_store::Store;
use cashbox_store::testing::fresh_database_url;
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub struct TestApp {
    pub base: String,
    pub key: String,
    pub app: App,
    pub db_url: String,
    pub ring_entry: String,
    client: reqwest::Client,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        cashbox_store::testing::remove_test_database(&self.db_url);
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a Stripe error envelope and returns its `error` object.
    pub fn error(&self, status: u16, kind: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        let e = &self.body["error"];
        assert_eq!(e["type"], kind, "body: {}", self.body);
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
        e
    }

    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.body);
        &self.body
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_with(HttpConfig::default()).await
}

/// Application settings a test may change.
#[derive(Default)]
pub struct AppOptions {
    pub refund_window_days: Option<u32>,
    pub clock: Option<fn() -> i64>,
    pub dunning: cashbox_app::Dunning,
    pub past_due_revokes_entitlements: bool,
    pub webhooks: cashbox_app::WebhookSettings,
    pub advance_answer_within: Option<std::time::Duration>,
    /// The key ring (`None`: a new one).
    pub ring_entry: Option<String>,
    pub ordinary_transactions_only: bool,
    /// The business profile (`None`: the default).
    pub business: Option<cashbox_app::BusinessProfile>,
    /// Money through the Stripe processor at this address (a scripted stand-in), instead of
    /// the sandbox.
    pub stripe_api_base: Option<String>,
    /// Secrets the processor's webhooks are signed with (`/webhooks/stripe`).
    pub inbound_secrets: Vec<String>,
}

pub async fn spawn_with(config: HttpConfig) -> TestApp {
    spawn_full(config, AppOptions::default()).await
}

pub async fn spawn_full(config: HttpConfig, options: AppOptions) -> TestApp {
    cashbox_app::webhooks::install_tls_provider();
    let db_url = fresh_database_url().await.expect("test database");
    let ring_entry = options
        .ring_entry
        .clone()
        .unwrap_or_else(|| KeyRing::generate_entry("t1").to_string());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (app, key) = build_app_with(&db_url, &ring_entry, &format!("http://{addr}"), options).await;
    let router = cashbox_http::router(app.clone(), &config);
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    TestApp {
        base: format!("http://{addr}"),
        key,
        app,
        db_url,
        ring_entry,
        client: reqwest::Client::new(),
    }
}

/// An application over `db_url` with the key ring `ring`, and a secret key for it.
pub async fn build_app(db_url: &str, ring: &str) -> (App, String) {
    build_app_with(db_url, ring, "http://127.0.0.1:9", AppOptions::default()).await
}

pub async fn build_app_with(
    db_url: &str,
    ring: &str,
    public_url: &str,
    options: AppOptions,
) -> (App, String) {
    let store = Store::connect(db_url, 8).await.expect("connect");
    store.migrate().await.expect("migrate");
    let key = format!("sk_test_{}", random_token(24));
    let settings = Settings {
        business: options.business.clone().unwrap_or_default(),
        env_secret_key_hash: Some(hash_secret(&key)),
        public_url: public_url.to_string(),
        refund_window_days: options.refund_window_days,
        clock: options.clock,
        dunning: options.dunning,
        past_due_revokes_entitlements: options.past_due_revokes_entitlements,
        webhooks: options.webhooks,
        advance_answer_within: options.advance_answer_within,
        ordinary_transactions_only: options.ordinary_transactions_only,
        processor_customer_share: Default::default(),
        stripe_js: None,
        inbound_secrets: cashbox_app::inbound::InboundSecrets(
            options
                .inbound_secrets
                .iter()
                .map(|s| zeroize::Zeroizing::new(s.clone()))
                .collect(),
        ),
    };
    let ring = KeyRing::parse(ring).unwrap();
    let app = match &options.stripe_api_base {
        None => App::new(store, ring, settings),
        Some(base) => {
            let stripe = cashbox_processor::stripe::StripeSettings {
                secret_key: zeroize::Zeroizing::new("sk_test_stand_in".into()),
                api_base: base.clone(),
                timeout: std::time::Duration::from_secs(2),
            };
            let processor =
                cashbox_processor::stripe::StripeProcessor::new(&stripe, reqwest::Client::new())
                    .unwrap();
            App::with_processor(store, ring, settings, Box::new(processor))
        }
    };
    (app, key)
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

impl TestApp {
    /// A new key of another kind, created as `cashbox keys create` does.
    pub async fn key_of(&self, kind: KeyKind, permissions: &[&str]) -> String {
        let perms: Vec<Permission> = permissions
            .iter()
            .map(|p| Permission::parse(p).unwrap())
            .collect();
        self.app
            .api_keys()
            .create(kind, &perms, "cli", None)
            .await
            .unwrap()
            .secret
            .to_string()
    }

    /// What Stripe.js does in a browser: a 4242 card made with the publishable key `pk`
    /// (`Bearer pk_…`); its PaymentMethod id.
    pub async fn browser_card(&self, pk: &str) -> String {
        let body = form(&[
            ("type", "card"),
            ("card[number]", "4242424242424242"),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2030"),
            ("card[cvc]", "123"),
        ]);
        let card = self
            .send(
                Method::POST,
                "/v1/payment_methods",
                Some(("application/x-www-form-urlencoded", body)),
                &[("authorization", pk)],
            )
            .await;
        card.ok()["id"].as_str().unwrap().to_string()
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, String)>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let method_name = method.as_str().to_string();
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        let mut has_auth = false;
        for (k, v) in headers {
            has_auth |= k.eq_ignore_ascii_case("authorization");
            req = req.header(*k, *v);
        }
        if !has_auth {
            req = req.bearer_auth(&self.key);
        }
        if let Some((content_type, body)) = body {
            req = req.header("content-type", content_type).body(body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status == StatusCode::OK && !body.is_string() {
            crate::schema::check(&method_name, path, &body);
        }
        Resp {
            status,
            headers,
            body,
        }
    }

    /// What a browser does on a hosted page: no API key, a form body if any, and redirects
    /// not followed (the answer's `location` says where the browser would go).
    pub async fn browser(&self, method: Method, path: &str, pairs: &[(&str, &str)]) -> Resp {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = client.request(method.clone(), url);
        if method == Method::POST {
            req = req
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form(pairs));
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        Resp {
            status,
            headers,
            body: Value::String(text),
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(Method::DELETE, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, pairs: &[(&str, &str)]) -> Resp {
        self.post_with(path, pairs, &[]).await
    }

    pub async fn post_with(
        &self,
        path: &str,
        pairs: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Resp {
        let body = ("application/x-www-form-urlencoded", form(pairs));
        self.send(Method::POST, path, Some(body), headers).await
    }

    pub async fn post_json(&self, path: &str, json: Value) -> Resp {
        self.send(
            Method::POST,
            path,
            Some(("application/json", json.to_string())),
            &[],
        )
        .await
    }

    pub async fn create_customer(&self, pairs: &[(&str, &str)]) -> Value {
        self.post("/v1/customers", pairs).await.ok().clone()
    }

    pub async fn events_of_type(&self, event_type: &str) -> Vec<Value> {
        let r = self
            .get(&format!("/v1/events?type={event_type}&limit=100"))
            .await;
        r.ok()["data"].as_array().unwrap().clone()
    }
}
