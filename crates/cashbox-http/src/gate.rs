//! The conventions every `/v1` endpoint shares, applied once before its handler runs: the
//! request id, authentication and permissions, the rate limit, parameter decoding, `expand[]`
//! and `Idempotency-Key`.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use governor::clock::{Clock, DefaultClock};
use serde_json::{Map, Value};
use tracing::Instrument;

use cashbox_app::auth::{AuthFailure, Principal};
use cashbox_app::idempotency::IdempotencyOutcome;
use cashbox_app::{App, RequestCtx};
use cashbox_core::api_key::{Access, KeyKind, Resource};
use cashbox_core::id::random_token;

use crate::HttpState;
use crate::error::{ApiError, ErrorType};
use crate::form;

/// Stripe's limit on an idempotency key's length.
pub const IDEMPOTENCY_KEY_CHARS_MAX: usize = 255;

/// This request's id, as sent in the `Request-Id` header and recorded on its events.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The route template that matched, carried out to the observer for metrics and logs.
#[derive(Debug, Clone)]
struct Route(String);

/// Everything the gate established, for the handler's extractor.
#[derive(Clone)]
pub struct ApiCall {
    pub principal: Principal,
    pub ctx: RequestCtx,
    pub params: Arc<Value>,
    pub expand: Arc<Vec<Vec<String>>>,
}

/// The longest request URL answered (longer: 414), and the most header bytes (more: 431),
/// each with Stripe's error envelope. Below the HTTP server's own limits (a 64 KB URL, 100
/// headers or 400 KB of them), which it answers itself, without a body.
pub const URI_BYTES_MAX: usize = 16 * 1024;
pub const HEADER_BYTES_MAX: usize = 32 * 1024;

fn within_limits(req: &Request) -> Result<(), ApiError> {
    if req.uri().to_string().len() > URI_BYTES_MAX {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            ErrorType::InvalidRequestError,
            format!("The request URL is longer than {URI_BYTES_MAX} bytes."),
        ));
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > HEADER_BYTES_MAX {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorType::InvalidRequestError,
            format!("The request's headers are larger than {HEADER_BYTES_MAX} bytes."),
        ));
    }
    Ok(())
}

/// Outermost layer: request id, panic-proof logging and metrics for every request, and the
/// size limits of [`within_limits`].
pub async fn observe(mut req: Request, next: Next) -> Response {
    let request_id = format!("req_{}", random_token(14));
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let method = req.method().clone();
    let span = tracing::info_span!("request", request_id = %request_id, method = %method);
    let started = Instant::now();
    let mut resp = match within_limits(&req) {
        Ok(()) => next.run(req).instrument(span.clone()).await,
        Err(e) => e.into_response(),
    };
    let route = resp
        .extensions()
        .get::<Route>()
        .map_or_else(|| "unmatched".to_string(), |r| r.0.clone());
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    let labels = [
        ("method", method.to_string()),
        ("route", route.clone()),
        ("status", status.to_string()),
    ];
    metrics::counter!("cashbox_http_requests_total", &labels).increment(1);
    metrics::histogram!("cashbox_http_request_duration_seconds", &labels)
        .record(elapsed.as_secs_f64());
    span.in_scope(|| {
        tracing::info!(route = %route, status, latency_us = elapsed.as_micros() as u64, "request")
    });
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert("request-id", v);
    }
    resp
}

/// Route-level layer: records which route template matched (ids stay out of metric labels),
/// and refuses a path that does not decode to text without NUL (an id in it would reach the
/// database) with Stripe's error envelope, before a handler's extractor answers in plain text.
pub async fn mark_route(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let mut resp = match path_is_text(req.uri().path()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    };
    if let Some(route) = route {
        resp.extensions_mut().insert(Route(route));
    }
    resp
}

fn path_is_text(path: &str) -> Result<(), ApiError> {
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8();
    match decoded {
        Ok(text) if !text.contains('\0') => Ok(()),
        _ => Err(ApiError::invalid_request(
            "The request URL must be percent-encoded UTF-8 without NUL characters.",
        )),
    }
}

/// The key from `Authorization: Bearer KEY` or HTTP basic auth with the key as user name.
fn presented_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_string());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let user = decoded.split_once(':').map_or(decoded.as_str(), |(u, _)| u);
        return Some(user.to_string());
    }
    None
}

/// What a browser holding a publishable key may call: create a card (sandbox), and read,
/// confirm or authenticate an intent it holds the client secret of.
const PUBLISHABLE_ROUTES: &[(Method, &str)] = &[
    (Method::POST, "/v1/payment_methods"),
    (Method::GET, "/v1/payment_intents/{id}"),
    (Method::POST, "/v1/payment_intents/{id}/confirm"),
    (Method::POST, "/v1/payment_intents/{id}/_authenticate"),
    (Method::GET, "/v1/setup_intents/{id}"),
    (Method::POST, "/v1/setup_intents/{id}/confirm"),
    (Method::POST, "/v1/setup_intents/{id}/_authenticate"),
];

fn check_permission(
    principal: &Principal,
    method: &Method,
    path: &str,
    route: &str,
) -> Result<(), ApiError> {
    let access = if method == Method::GET {
        Access::Read
    } else {
        Access::Write
    };
    if principal.grants.kind == KeyKind::Publishable
        && PUBLISHABLE_ROUTES
            .iter()
            .any(|(m, r)| m == method && *r == route)
    {
        return Ok(());
    }
    if principal.grants.kind == KeyKind::Publishable {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorType::PermissionError,
            "This API call cannot be made with a publishable API key. Please use a secret API key.",
        ));
    }
    let allowed = Resource::for_path(path)
        .is_some_and(|resource| principal.grants.allows(resource, access))
        || principal.grants.kind == KeyKind::Secret;
    if !allowed {
        let what = Resource::for_path(path).map_or("this resource", Resource::as_str);
        let access = if access == Access::Read {
            "read"
        } else {
            "write"
        };
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorType::PermissionError,
            format!(
                "The provided key does not have the required permissions for this endpoint ({what}:{access})."
            ),
        ));
    }
    Ok(())
}

/// Parameters from the query string (GET, DELETE) or the body (form or JSON).
fn decode_params(
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> Result<Map<String, Value>, ApiError> {
    let from_body = method == Method::POST;
    let value = if !from_body {
        form::decode(query.unwrap_or_default().as_bytes())?
    } else {
        let is_json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.trim_start().starts_with("application/json"));
        if is_json && !body.is_empty() {
            let value = serde_json::from_slice(body).map_err(|e| {
                ApiError::invalid_request(format!("Invalid JSON body: {e}"))
                    .code("parameter_invalid")
            })?;
            form::refuse_nul_in(&value, "")?;
            value
        } else {
            form::decode(body)?
        }
    };
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::invalid_request(
            "The request body must be an object of parameters.",
        )),
    }
}

fn expand_paths(params: &mut Map<String, Value>) -> Result<Vec<Vec<String>>, ApiError> {
    let Some(raw) = params.remove("expand") else {
        return Ok(Vec::new());
    };
    let bad =
        || ApiError::invalid_request("Invalid expand: must be an array of strings").param("expand");
    let paths: Vec<String> = match raw {
        Value::Null => Vec::new(),
        Value::Array(items) => items
            .into_iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(bad))
            .collect::<Result<_, _>>()?,
        Value::Object(map) => {
            let mut items: Vec<(usize, Value)> = map
                .into_iter()
                .map(|(k, v)| k.parse().map(|i| (i, v)).map_err(|_| bad()))
                .collect::<Result<_, _>>()?;
            items.sort_by_key(|(i, _)| *i);
            items
                .into_iter()
                .map(|(_, v)| v.as_str().map(str::to_string).ok_or_else(bad))
                .collect::<Result<_, _>>()?
        }
        _ => return Err(bad()),
    };
    Ok(cashbox_app::expand::parse_paths(&paths)?)
}

/// A keyed digest of the request: parameters may hold a card number, so a plain hash of them
/// must never be stored.
fn request_hash(
    app: &App,
    method: &Method,
    path: &str,
    params: &Map<String, Value>,
    expand: &[Vec<String>],
) -> Vec<u8> {
    // serde_json's maps are ordered by key, so equal parameters serialize equally.
    let canonical = serde_json::json!({"method": method.as_str(), "path": path, "params": params, "expand": expand});
    app.request_fingerprint(&canonical.to_string())
}

fn replayed(status: u16, body: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    resp
}

pub async fn api_gate(State(state): State<HttpState>, req: Request, next: Next) -> Response {
    match gate(&state, req, next).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn gate(state: &HttpState, req: Request, next: Next) -> Result<Response, ApiError> {
    let app: &App = &state.app;
    let secret = presented_key(req.headers()).ok_or_else(ApiError::missing_key)?;
    let principal = match app.authenticate(&secret).await? {
        Ok(p) => p,
        Err(AuthFailure::Invalid { redacted }) => return Err(ApiError::invalid_key(&redacted)),
    };
    drop(secret);
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_default();
    check_permission(&principal, req.method(), req.uri().path(), &route)?;

    if let Some(limiter) = &state.limiter
        && let Err(not_until) = limiter.check_key(&principal.key_id)
    {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorType::RateLimitError,
            "Too many requests hit the API too quickly. Please retry after the time in Retry-After.",
        )
        .code("rate_limit");
        e.retry_after_secs = Some(wait.as_secs().max(1));
        return Err(e);
    }

    let (mut parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, state.body_limit_bytes)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorType::InvalidRequestError,
                format!(
                    "The request body is larger than {} bytes.",
                    state.body_limit_bytes
                ),
            )
        })?;
    let mut params = decode_params(&parts.method, &parts.headers, parts.uri.query(), &bytes)?;
    let expand = expand_paths(&mut params)?;

    let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone());
    let mut ctx = RequestCtx {
        request_id,
        idempotency: None,
    };
    let idem_key = parts
        .headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_string));
    if parts.method == Method::POST
        && let Some(key) = idem_key
    {
        let key =
            key.map_err(|_| ApiError::invalid_request("Idempotency-Key must be printable ASCII."))?;
        if key.is_empty() || key.chars().count() > IDEMPOTENCY_KEY_CHARS_MAX {
            return Err(ApiError::invalid_request(format!(
                "Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_CHARS_MAX} characters."
            ))
            .code("idempotency_key_invalid"));
        }
        let hash = request_hash(app, &parts.method, parts.uri.path(), &params, &expand);
        match app
            .claim_idempotency(&principal.key_id, &key, &hash)
            .await?
        {
            IdempotencyOutcome::Proceed(claim) => ctx.idempotency = Some(claim),
            IdempotencyOutcome::Replay { status, body } => {
                return Ok(replayed(status, body.to_vec()));
            }
            IdempotencyOutcome::Mismatch => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ErrorType::IdempotencyError,
                    format!(
                        "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
                    ),
                ));
            }
            IdempotencyOutcome::InFlight => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    ErrorType::IdempotencyError,
                    "There is currently another in-progress request using this Idempotency-Key. Retry after it completes.",
                )
                .code("idempotency_key_in_use"));
            }
        }
    }

    let claim = ctx.idempotency.clone();
    parts.extensions.insert(ApiCall {
        principal,
        ctx,
        params: Arc::new(Value::Object(params)),
        expand: Arc::new(expand),
    });
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;

    // A request that completed nothing (it failed validation, or found nothing to change)
    // gives its key back, as Stripe saves no result for those.
    if let Some(claim) = claim
        && !claim.is_completed()
        && let Err(e) = app.release_idempotency(&claim).await
    {
        tracing::warn!(error = %e, "could not release an idempotency key; it frees itself when its lease ends");
    }
    Ok(resp)
}
