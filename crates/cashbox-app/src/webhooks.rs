//! Webhooks out: endpoints, and the worker that delivers events to them.
//!
//! Every event lands in `webhook_outbox` in its own transaction (a trigger on `events`), as
//! long as some endpoint exists: an endpoint only wants events made after it.
//! The worker fans each one out to the endpoints that want it (one `webhook_deliveries` row
//! per endpoint and event, exactly once: the fan-out and the outbox delete commit together),
//! then takes due deliveries, leasing each past the attempt's timeout, and posts them signed
//! as Stripe signs them (or as Standard Webhooks does). A 2xx is success; anything else is
//! retried on `RETRY_DELAYS_SECS` for about three days. Each attempt is logged. A process
//! that dies mid-attempt leaves its deliveries leased; the lease runs out and another worker
//! (or the restarted one) sends them again: at least once, as Stripe promises.
//!
//! Safety: a URL whose host is, or resolves to, a loopback, private or link-local address is
//! refused at create and update, and again at connection time by the client's resolver (so
//! a DNS answer that changes later cannot reach inside); redirects are not followed; the
//! request has a timeout and only 1 KiB of the answer is read.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cashbox_core::ParamError;
use cashbox_core::id::{has_prefix, new_id};
use cashbox_core::webhooks::{
    ATTEMPT_PREFIX, AttemptListParams, DELIVERY_PREFIX, DISABLE_AFTER_FAILING_SECS,
    ENDPOINT_PREFIX, EndpointCreateParams, EndpointListParams, EndpointUpdateParams,
    LOG_RETENTION_SECS, ResendParams, RotateSecretParams, WebhookEndpoint, next_retry,
};
use cashbox_store::{AttemptRow, DocFilter, DocTable, TakenDelivery};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde_json::{Value, json};

use crate::docs::Doc;
use crate::events::ListResult;
use crate::{App, AppError, AppResult, RequestCtx};

/// Bytes of an endpoint's answer kept in the attempt log.
pub const RESPONSE_EXCERPT_BYTES: usize = 1_024;
/// Attempts a worker has under way at once; it takes due deliveries as slots free up, so a
/// lease of the timeout and a margin covers each one taken.
const IN_FLIGHT_MAX: usize = 64;
/// How often a worker prunes the webhook log, and how many rows a transaction deletes.
const PRUNE_EVERY: Duration = Duration::from_secs(3_600);
const PRUNE_BATCH: i64 = 1_000;
/// How long a worker that saw an attempt end waits for others to record with it.
const RECORD_WINDOW: Duration = Duration::from_millis(5);
/// What a lease adds to the timeout, for the outcome to be written.
const LEASE_MARGIN_SECS: i64 = 5;
/// Events fanned out per transaction.
const FAN_OUT_BATCH: i64 = 500;
/// How often an idle worker looks for work.
const IDLE_POLL: Duration = Duration::from_millis(100);

/// Where deliveries may go, and how long one may take.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Loopback addresses (127.0.0.0/8, ::1): allowed in development, refused in production.
    pub allow_loopback: bool,
    /// Private, link-local, shared and other non-public addresses (and loopback).
    pub allow_private: bool,
    /// The whole attempt, connection included.
    pub timeout: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allow_loopback: true,
            allow_private: false,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Whether deliveries may go to `ip` under `s`.
pub fn address_allowed(ip: IpAddr, s: &WebhookSettings) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    if s.allow_private {
        return true;
    }
    if ip.is_loopback() || ip.is_unspecified() {
        return s.allow_loopback;
    }
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

fn refused(url: &str) -> AppError {
    ParamError::new(
        "url",
        "url_invalid",
        format!(
            "Invalid URL: {url} points to a private, loopback or link-local address; webhooks \
             are sent only to public addresses (set CASHBOX_WEBHOOK_ALLOW_PRIVATE=true to allow it)."
        ),
    )
    .into()
}

/// A resolver that drops addresses deliveries may not go to.
struct GuardedResolver(WebhookSettings);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let settings = self.0.clone();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| address_allowed(a.ip(), &settings))
                .collect();
            if allowed.is_empty() {
                return Err(format!(
                    "{} resolves to no address webhooks may be sent to",
                    name.as_str()
                )
                .into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Installs the process's TLS crypto provider (ring), once. reqwest is built without a
/// provider of its own, so every process calls this before it builds an HTTP client.
pub fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Another caller may have installed one first; either is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The client deliveries are sent with: guarded resolution, no redirects, no proxy, the
/// settings' timeout.
pub fn webhook_client(s: &WebhookSettings) -> reqwest::Client {
    install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(s.timeout)
        .connect_timeout(s.timeout.min(Duration::from_secs(5)))
        .pool_max_idle_per_host(IN_FLIGHT_MAX)
        .dns_resolver(Arc::new(GuardedResolver(s.clone())))
        .user_agent("Cashbox/1.0 (+webhooks)")
        .build()
        .expect("the webhook client's settings are valid")
}

impl Doc for WebhookEndpoint {
    const TABLE: DocTable = DocTable::WebhookEndpoints;
    const PREFIX: &'static str = ENDPOINT_PREFIX;
    const NAME: &'static str = "webhook_endpoint";
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn customer(&self) -> Option<&str> {
        None
    }
    fn status(&self) -> String {
        if self.enabled { "enabled" } else { "disabled" }.into()
    }
}

fn attempt_json(a: &AttemptRow) -> Value {
    json!({
        "id": a.id,
        "object": "webhook_attempt",
        "created": a.attempted_at,
        "delivery": a.delivery_id,
        "webhook_endpoint": a.endpoint_id,
        "event": a.event_id,
        "status_code": a.status_code,
        "latency_ms": a.latency_ms,
        "error": a.error,
        "response_excerpt": a.response_excerpt,
    })
}

/// What one attempt came to.
struct Outcome {
    delivery: TakenDelivery,
    attempt: AttemptRow,
    ok: bool,
}

impl App {
    fn webhook_settings(&self) -> &WebhookSettings {
        &self.settings().webhooks
    }

    /// Refuses a URL that is not http(s), or whose host is or resolves to an address
    /// deliveries may not go to. A name that does not resolve yet is accepted: the client's
    /// resolver checks again at every delivery.
    async fn check_webhook_url(&self, url: &str) -> AppResult<()> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|_| ParamError::new("url", "url_invalid", format!("Invalid URL: {url}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ParamError::new(
                "url",
                "url_invalid",
                format!("Invalid URL: {url} must use http or https"),
            )
            .into());
        }
        let settings = self.webhook_settings();
        let port = parsed.port_or_known_default().unwrap_or(443);
        match parsed.host() {
            None => {
                Err(ParamError::new("url", "url_invalid", format!("Invalid URL: {url}")).into())
            }
            Some(url::Host::Ipv4(ip)) if !address_allowed(IpAddr::V4(ip), settings) => {
                Err(refused(url))
            }
            Some(url::Host::Ipv6(ip)) if !address_allowed(IpAddr::V6(ip), settings) => {
                Err(refused(url))
            }
            Some(url::Host::Domain(name)) => {
                let lookup = tokio::time::timeout(
                    Duration::from_secs(5),
                    tokio::net::lookup_host((name, port)),
                )
                .await;
                if let Ok(Ok(addrs)) = lookup {
                    for a in addrs {
                        if !address_allowed(a.ip(), settings) {
                            return Err(refused(url));
                        }
                    }
                }
                Ok(())
            }
            Some(_) => Ok(()),
        }
    }

    pub(crate) async fn endpoints(&self) -> AppResult<Vec<WebhookEndpoint>> {
        let mut out = Vec::new();
        let mut after = String::new();
        loop {
            let rows = self
                .store()
                .docs_batch(DocTable::WebhookEndpoints, &after, 500)
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.id.clone();
            for row in &rows {
                out.push(self.open_doc::<WebhookEndpoint>(row)?);
            }
        }
        Ok(out)
    }

    /// Moves up to a batch of recorded events from the outbox to deliveries for the
    /// endpoints that want them; returns how many events it took.
    pub async fn fan_out_events(&self) -> AppResult<usize> {
        // A read first, so an idle worker does not take SQLite's write turn.
        if !self.store().outbox_waiting().await? {
            return Ok(0);
        }
        self.fan_out_to(&self.endpoint_map().await?).await
    }

    /// Every endpoint, by id.
    async fn endpoint_map(&self) -> AppResult<HashMap<String, WebhookEndpoint>> {
        Ok(self
            .endpoints()
            .await?
            .into_iter()
            .map(|e| (e.id.clone(), e))
            .collect())
    }

    /// [`App::fan_out_events`] to `endpoints`, as read by the caller.
    async fn fan_out_to(&self, endpoints: &HashMap<String, WebhookEndpoint>) -> AppResult<usize> {
        let mut tx = self.store().begin().await?;
        let batch = tx.outbox_batch(FAN_OUT_BATCH).await?;
        if batch.is_empty() {
            return Ok(0);
        }
        let now = self.now();
        for ev in &batch {
            for e in endpoints
                .values()
                .filter(|e| e.wants(&ev.event_type, &ev.event_id))
            {
                tx.insert_delivery(&new_id(DELIVERY_PREFIX), &e.id, &ev.event_id, now)
                    .await?;
            }
        }
        let seqs: Vec<i64> = batch.iter().map(|e| e.seq).collect();
        tx.outbox_done(&seqs).await?;
        tx.commit().await?;
        Ok(batch.len())
    }

    /// Takes up to `limit` deliveries due now, leasing each for one attempt.
    async fn take_due_deliveries(&self, limit: i64) -> AppResult<Vec<TakenDelivery>> {
        let now = self.now();
        if limit <= 0
            || self
                .store()
                .next_delivery_at()
                .await?
                .is_none_or(|at| at > now)
        {
            return Ok(Vec::new());
        }
        let lease = i64::try_from(self.webhook_settings().timeout.as_secs()).unwrap_or(60)
            + LEASE_MARGIN_SECS;
        let mut tx = self.store().begin().await?;
        let taken = tx.take_deliveries(now, now + lease, limit).await?;
        tx.commit().await?;
        Ok(taken)
    }

    /// One attempt; never fails (what went wrong is the outcome).
    async fn attempt(
        &self,
        client: &reqwest::Client,
        endpoints: &HashMap<String, WebhookEndpoint>,
        d: TakenDelivery,
        body: Option<Bytes>,
    ) -> Outcome {
        let started = Instant::now();
        let attempted_at = self.now();
        let result = match (endpoints.get(&d.endpoint_id), body) {
            (None, _) => Err("the endpoint was deleted".to_string()),
            (Some(e), _) if !e.enabled => Err("the endpoint is disabled".to_string()),
            (Some(_), None) => Err("the event could not be read".to_string()),
            (Some(e), Some(body)) => {
                self.post_event(client, e, &d.event_id, body, attempted_at)
                    .await
            }
        };
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (status_code, error, response_excerpt) = match result {
            Ok((status, excerpt)) => (Some(i64::from(status)), None, Some(excerpt)),
            Err(e) => (None, Some(e), None),
        };
        let ok = status_code.is_some_and(|s| (200..300).contains(&s));
        Outcome {
            attempt: AttemptRow {
                id: new_id(ATTEMPT_PREFIX),
                delivery_id: d.id.clone(),
                endpoint_id: d.endpoint_id.clone(),
                event_id: d.event_id.clone(),
                attempted_at,
                status_code,
                latency_ms,
                error,
                response_excerpt,
            },
            delivery: d,
            ok,
        }
    }

    /// Posts the event, signed; the answer's status and the start of its body.
    async fn post_event(
        &self,
        client: &reqwest::Client,
        e: &WebhookEndpoint,
        event_id: &str,
        body: Bytes,
        t: i64,
    ) -> Result<(u16, String), String> {
        let url = reqwest::Url::parse(&e.url).map_err(|_| "the URL is invalid".to_string())?;
        // Literal addresses do not pass through the resolver: checked here.
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if literal.is_some_and(|ip| !address_allowed(ip, self.webhook_settings())) {
            return Err("the URL's address is private, loopback or link-local".into());
        }
        let mut req = client.post(url).header(
            reqwest::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        );
        for (name, value) in e.signature_headers(event_id, t, &body) {
            req = req.header(name, value);
        }
        let mut resp = req.body(body).send().await.map_err(describe)?;
        let status = resp.status().as_u16();
        let mut excerpt = Vec::new();
        while excerpt.len() < RESPONSE_EXCERPT_BYTES {
            match resp.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        excerpt.truncate(RESPONSE_EXCERPT_BYTES);
        Ok((status, String::from_utf8_lossy(&excerpt).into_owned()))
    }

    /// Logs a batch of attempts and moves their deliveries on, in one transaction; an
    /// endpoint that has failed for [`DISABLE_AFTER_FAILING_SECS`] is disabled, with an event.
    async fn record_outcomes(
        &self,
        endpoints: &HashMap<String, WebhookEndpoint>,
        outcomes: Vec<Outcome>,
    ) -> AppResult<()> {
        let now = self.now();
        // Per endpoint: whether any attempt succeeded, and whether any failed.
        let mut health: HashMap<&str, (bool, bool)> = HashMap::new();
        let mut tx = self.store().begin().await?;
        for o in &outcomes {
            let attempts = o.delivery.attempts + 1;
            let (status, next) = if o.ok {
                ("succeeded", None)
            } else {
                match next_retry(attempts, now) {
                    Some(at) => ("pending", Some(at)),
                    None => ("failed", None),
                }
            };
            // A deleted or disabled endpoint's deliveries end here.
            let (status, next) = match endpoints.get(&o.delivery.endpoint_id) {
                Some(e) if e.enabled => (status, next),
                _ => ("failed", None),
            };
            tx.finish_attempt(&o.attempt, status, attempts, next)
                .await?;
            if endpoints.contains_key(&o.delivery.endpoint_id) {
                let h = health.entry(o.delivery.endpoint_id.as_str()).or_default();
                h.0 |= o.ok;
                h.1 |= !o.ok;
            }
        }
        for (id, (succeeded, failed)) in health {
            let known = &endpoints[id];
            let changes = if succeeded {
                known.failing_since.is_some()
            } else {
                failed
                    && known.enabled
                    && known
                        .failing_since
                        .is_none_or(|since| now - since >= DISABLE_AFTER_FAILING_SECS)
            };
            if !changes {
                continue;
            }
            let mut e: WebhookEndpoint = self.load_for_update(&mut tx, id).await?;
            if succeeded {
                e.failing_since = None;
            } else {
                let since = *e.failing_since.get_or_insert(now);
                if e.enabled && now - since >= DISABLE_AFTER_FAILING_SECS {
                    e.enabled = false;
                    e.disabled_reason = Some(format!(
                        "Deliveries failed for {} days without a success.",
                        DISABLE_AFTER_FAILING_SECS / 86_400
                    ));
                    tracing::warn!(endpoint = %e.id, "webhook endpoint disabled after failing for days");
                    self.record_event(
                        &mut tx,
                        &RequestCtx::default(),
                        "webhook_endpoint.disabled",
                        &e.to_json(false),
                        Some(json!({"status": "enabled"})),
                    )
                    .await?;
                }
            }
            self.save_doc(&mut tx, &e).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes attempts and finished deliveries older than [`LOG_RETENTION_SECS`], a batch
    /// a transaction; returns how many rows went.
    pub async fn prune_webhook_log(&self) -> AppResult<u64> {
        let before = self.now() - LOG_RETENTION_SECS;
        let mut total = 0;
        loop {
            let mut tx = self.store().begin().await?;
            let n = tx.prune_webhook_log(before, PRUNE_BATCH).await?;
            tx.commit().await?;
            total += n;
            if n == 0 {
                return Ok(total);
            }
        }
    }

    /// One round of webhook work, all of it finished before it returns: fan out what was
    /// recorded, attempt what is due (up to the in-flight limit), record the outcomes.
    /// Returns whether it found any work.
    pub async fn run_webhooks_once(&self, client: &reqwest::Client) -> AppResult<bool> {
        let mut worker = WebhookWorker::new(self.clone(), client.clone());
        let found = worker.turn(Duration::ZERO).await?;
        worker.drain().await?;
        Ok(found)
    }

    /// `serve`'s webhook worker: runs until the task is dropped.
    pub async fn run_webhook_worker(self) {
        let client = webhook_client(self.webhook_settings());
        let mut worker = WebhookWorker::new(self, client);
        loop {
            match worker.turn(IDLE_POLL).await {
                Ok(true) => continue,
                Ok(false) if worker.in_flight() > 0 => continue,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "the webhook worker failed; retrying"),
            }
            tokio::time::sleep(IDLE_POLL).await;
        }
    }
}

/// Deliveries in flight, each recorded as soon as it ends: a slow or dead endpoint holds
/// only its own slots, never the deliveries to other endpoints behind it.
pub struct WebhookWorker {
    app: App,
    client: reqwest::Client,
    running: tokio::task::JoinSet<Outcome>,
    /// The endpoints as read when deliveries were last taken.
    endpoints: Arc<HashMap<String, WebhookEndpoint>>,
    /// When this worker last pruned the log.
    pruned: Option<Instant>,
}

impl WebhookWorker {
    pub fn new(app: App, client: reqwest::Client) -> Self {
        Self {
            app,
            client,
            running: tokio::task::JoinSet::new(),
            endpoints: Arc::default(),
            pruned: None,
        }
    }

    /// Attempts under way.
    pub fn in_flight(&self) -> usize {
        self.running.len()
    }

    /// Fans out what was recorded, starts due deliveries in the free slots, and records the
    /// attempts that have ended (waiting up to `wait` for one when some are under way and
    /// none has). Returns whether any of that happened.
    pub async fn turn(&mut self, wait: Duration) -> AppResult<bool> {
        if self.pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            self.pruned = Some(Instant::now());
            let pruned = self.app.prune_webhook_log().await?;
            if pruned > 0 {
                tracing::info!(rows = pruned, "pruned the webhook log");
            }
        }
        // The endpoints are read at most once a turn, for the fan-out and the attempts both.
        let mut read: Option<Arc<HashMap<String, WebhookEndpoint>>> = None;
        let mut fanned = 0;
        if self.app.store().outbox_waiting().await? {
            let endpoints = Arc::new(self.app.endpoint_map().await?);
            fanned = self.app.fan_out_to(&endpoints).await?;
            read = Some(endpoints);
        }
        let free = IN_FLIGHT_MAX.saturating_sub(self.running.len());
        let taken = self
            .app
            .take_due_deliveries(i64::try_from(free).unwrap_or(0))
            .await?;
        let started = taken.len();
        if started > 0 {
            self.endpoints = match read {
                Some(endpoints) => endpoints,
                None => Arc::new(self.app.endpoint_map().await?),
            };
        }
        let ids: Vec<String> = taken.iter().map(|d| d.event_id.clone()).collect();
        let bodies = self.app.delivery_bodies(&ids).await?;
        for d in taken {
            let (app, client) = (self.app.clone(), self.client.clone());
            let endpoints = Arc::clone(&self.endpoints);
            let body = bodies.get(&d.event_id).cloned();
            self.running
                .spawn(async move { app.attempt(&client, &endpoints, d, body).await });
        }
        let mut ended = Vec::new();
        if !self.running.is_empty()
            && let Ok(Some(first)) = tokio::time::timeout(wait, self.running.join_next()).await
        {
            ended.extend(first.ok());
            // Attempts end close together: a few milliseconds more records them in one
            // transaction rather than one each.
            let until = tokio::time::Instant::now() + RECORD_WINDOW;
            while ended.len() < IN_FLIGHT_MAX / 2 {
                match tokio::time::timeout_at(until, self.running.join_next()).await {
                    Ok(Some(r)) => ended.extend(r.ok()),
                    _ => break,
                }
            }
        }
        while let Some(r) = self.running.try_join_next() {
            ended.extend(r.ok());
        }
        let recorded = ended.len();
        if recorded > 0 {
            self.app.record_outcomes(&self.endpoints, ended).await?;
        }
        Ok(fanned > 0 || started > 0 || recorded > 0)
    }

    /// Waits for every attempt under way and records it.
    pub async fn drain(&mut self) -> AppResult<()> {
        let mut ended = Vec::new();
        while let Some(r) = self.running.join_next().await {
            ended.extend(r.ok());
        }
        if !ended.is_empty() {
            self.app.record_outcomes(&self.endpoints, ended).await?;
        }
        Ok(())
    }
}

fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        // The resolver's refusal or a refused connection; the source says which.
        let mut msg = "could not connect".to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            msg = format!("could not connect: {s}");
            source = s.source();
        }
        msg
    } else {
        format!("the request failed: {e}")
    }
}

crate::service!(
    WebhookEndpoints,
    webhook_endpoints,
    "Webhook endpoints, their attempts, and resending events to them."
);

impl WebhookEndpoints<'_> {
    pub async fn create(&self, ctx: &RequestCtx, p: EndpointCreateParams) -> AppResult<Value> {
        let e = WebhookEndpoint::new(new_id(ENDPOINT_PREFIX), self.now(), &p)?;
        self.check_webhook_url(&e.url).await?;
        let mut tx = self.store().begin().await?;
        self.insert_doc(&mut tx, &e).await?;
        self.finish(tx, ctx, e.to_json(true), &[]).await
    }

    pub async fn retrieve(&self, id: &str) -> AppResult<Value> {
        self.retrieve_doc(id, &[], |e: &WebhookEndpoint| e.to_json(false))
            .await
    }

    pub async fn update(
        &self,
        ctx: &RequestCtx,
        id: &str,
        p: EndpointUpdateParams,
    ) -> AppResult<Value> {
        if let Some(url) = &p.url {
            self.check_webhook_url(url).await?;
        }
        let mut tx = self.store().begin().await?;
        let mut e: WebhookEndpoint = self.load_for_update(&mut tx, id).await?;
        e.update(&p)?;
        self.save_doc(&mut tx, &e).await?;
        self.finish(tx, ctx, e.to_json(false), &[]).await
    }

    /// Ours: a new secret, returned once; the old one keeps signing for the overlap.
    pub async fn rotate_secret(
        &self,
        ctx: &RequestCtx,
        id: &str,
        p: RotateSecretParams,
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut e: WebhookEndpoint = self.load_for_update(&mut tx, id).await?;
        e.rotate(self.now(), p.overlap_seconds)?;
        self.save_doc(&mut tx, &e).await?;
        self.finish(tx, ctx, e.to_json(true), &[]).await
    }

    pub async fn delete(&self, ctx: &RequestCtx, id: &str) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let _: WebhookEndpoint = self.load_for_update(&mut tx, id).await?;
        tx.delete_doc(DocTable::WebhookEndpoints, id).await?;
        tx.close_deliveries(id).await?;
        let response = json!({"id": id, "object": "webhook_endpoint", "deleted": true});
        self.commit_response(tx, ctx, 200, &response).await?;
        Ok(response)
    }

    pub async fn list(&self, p: &EndpointListParams) -> AppResult<ListResult> {
        self.list_docs::<WebhookEndpoint>(&DocFilter::default(), &p.page()?, &[], |e| {
            e.to_json(false)
        })
        .await
    }

    /// Ours: the attempts to deliver to an endpoint, or to deliver an event, newest first.
    pub async fn list_attempts(
        &self,
        endpoint: Option<&str>,
        event: Option<&str>,
        p: &AttemptListParams,
    ) -> AppResult<ListResult> {
        if let Some(id) = endpoint {
            let _: WebhookEndpoint = self.load(id).await?;
        }
        if let Some(id) = event {
            self.events().retrieve(id).await?;
        }
        if let Some(after) = &p.starting_after
            && !has_prefix(after, ATTEMPT_PREFIX)
        {
            return Err(ParamError::invalid("starting_after", "Not a webhook attempt id.").into());
        }
        let limit = p.limit.unwrap_or(10).clamp(1, 100);
        let rows = self
            .store()
            .webhook_attempts(endpoint, event, p.starting_after.as_deref(), limit + 1)
            .await?;
        Ok(ListResult {
            has_more: rows.len() as i64 > limit,
            data: rows.iter().take(limit as usize).map(attempt_json).collect(),
        })
    }

    /// Ours: sends an event to an endpoint again now, whatever became of its delivery.
    pub async fn resend_event(
        &self,
        ctx: &RequestCtx,
        event_id: &str,
        p: ResendParams,
    ) -> AppResult<Value> {
        let event = self.events().retrieve(event_id).await?;
        let endpoint_id = p
            .webhook_endpoint
            .ok_or_else(|| ParamError::missing("webhook_endpoint"))?;
        let endpoint: WebhookEndpoint =
            self.load(&endpoint_id)
                .await
                .map_err(|_| AppError::MissingReference {
                    object: "webhook_endpoint",
                    id: endpoint_id.clone(),
                    param: "webhook_endpoint".into(),
                })?;
        if !endpoint.enabled {
            return Err(ParamError::invalid(
                "webhook_endpoint",
                "The endpoint is disabled; enable it before sending to it.",
            )
            .into());
        }
        let event_type = event["type"].as_str().unwrap_or_default();
        if !endpoint.listens_to(event_type) {
            return Err(ParamError::invalid(
                "webhook_endpoint",
                format!(
                    "The endpoint {} is not enabled for {event_type} events; add it to its enabled_events first.",
                    endpoint.id
                ),
            )
            .into());
        }
        let mut tx = self.store().begin().await?;
        let delivery = tx
            .redeliver(&new_id(DELIVERY_PREFIX), &endpoint.id, event_id, self.now())
            .await?;
        let response = json!({
            "id": delivery,
            "object": "webhook_delivery",
            "event": event_id,
            "webhook_endpoint": endpoint.id,
            "status": "pending",
        });
        self.finish(tx, ctx, response, &[]).await
    }
}
