//! Cashbox's HTTP edge: the Stripe dialect (auth, form and JSON parameters, errors, lists,
//! `expand[]`, idempotency), thin handlers per resource, and the operational endpoints.
//!
//! Handlers extract, call one use case and render; they contain no SQL and no business rules.

mod billing;
mod catalog;
mod checkout;
mod checkout_pages;
mod clocks;
pub mod customers;
mod discounts;
mod entitlements;
pub mod error;
pub mod events;
pub mod extract;
pub mod form;
pub mod gate;
mod inbound;
mod invoice_pages;
pub mod list;
pub mod objects;
pub mod ops;
pub mod pages;
pub mod params;
pub mod payments;
mod pdf;
mod portal;
mod portal_pages;
mod search;
mod templates;
mod usage;
mod webhooks;

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Router;
use axum::http::{Method, Uri};
use axum::middleware;
use axum::response::IntoResponse;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tower_http::catch_panic::CatchPanicLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use cashbox_app::App;

use crate::error::ApiError;

/// Limits of the HTTP edge.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub body_limit_bytes: usize,
    /// Sustained requests per second per API key; `None` turns the limit off.
    pub rate_limit_per_second: Option<NonZeroU32>,
    pub rate_limit_burst: NonZeroU32,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            rate_limit_per_second: NonZeroU32::new(10_000),
            rate_limit_burst: NonZeroU32::new(20_000).expect("non-zero"),
        }
    }
}

#[derive(Clone)]
pub struct HttpState {
    pub app: App,
    pub limiter: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    /// Cards tried per hosted checkout or portal session ([`CARD_ATTEMPTS_PER_MINUTE`]): a
    /// customer needs a few; testing stolen cards through one session needs many.
    pub card_attempts: Arc<DefaultKeyedRateLimiter<String>>,
    pub body_limit_bytes: usize,
    pub openapi_json: Arc<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cashbox API",
        description = "Self-hosted billing and payments in Stripe's dialect. Bodies are form-encoded in Stripe's bracket notation or JSON; authenticate with `Authorization: Bearer sk_…`.",
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    // Schemas that only query parameters name (bodies and answers register their own).
    components(schemas(
        cashbox_core::billing::invoice_payment::InvoicePaymentStatus,
        cashbox_core::billing::invoice_payment::PaymentFilter,
        cashbox_core::billing::catalog::PriceRecurringFilter,
        cashbox_core::checkout::SessionStatus,
    )),
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every `/v1` endpoint, with its OpenAPI description generated from the handlers.
fn api_routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(search::routes())
        .merge(customers::routes())
        .merge(events::routes())
        .merge(payments::routes())
        .merge(catalog::routes())
        .merge(checkout::routes())
        .merge(portal::routes())
        .merge(discounts::routes())
        .merge(clocks::routes())
        .merge(billing::routes())
        .merge(usage::routes())
        .merge(entitlements::routes())
        .merge(webhooks::routes())
        .merge(inbound::routes())
}

impl HttpState {
    /// Whether session `id` may try another card now. Sessions idle long enough to have
    /// their full allowance back are forgotten once many are remembered.
    pub(crate) fn may_try_card(&self, id: &str) -> bool {
        if self.card_attempts.len() > 10_000 {
            self.card_attempts.retain_recent();
        }
        self.card_attempts.check_key(&id.to_string()).is_ok()
    }
}

/// Cards one checkout or portal session may try a minute, after a first burst of as many:
/// enough to retry a declined card, too few to test stolen ones.
pub const CARD_ATTEMPTS_PER_MINUTE: u32 = 5;

/// The error statuses any `/v1` operation may answer with Stripe's error envelope: a bad
/// request, a bad key, a declined card, a key without the permission, a missing object, an
/// idempotency key in use, a body too large, too many requests.
pub const ERROR_STATUSES: [u16; 8] = [400, 401, 402, 403, 404, 409, 413, 429];

/// The OpenAPI document of the whole API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = api_routes().split_for_parts();
    declare_errors(&mut doc);
    let (_, ops_doc) = ops::routes().split_for_parts();
    doc.merge(ops_doc);
    name_operations(&mut doc);
    doc
}

/// Every operation's id is its method and path, as Stripe names its own (`PostCustomersId`
/// for `POST /v1/customers/{id}`): unique by construction, where the handlers' names
/// (`create`, `list`) repeat across resources and would collapse in a generated client.
fn name_operations(doc: &mut utoipa::openapi::OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let words: String = path
            .trim_start_matches("/v1")
            .split(['/', '_', '.'])
            .map(|w| w.trim_matches(['{', '}']))
            .filter(|w| !w.is_empty())
            .map(|w| w[..1].to_ascii_uppercase() + &w[1..])
            .collect();
        for (method, op) in [
            ("Get", &mut item.get),
            ("Post", &mut item.post),
            ("Delete", &mut item.delete),
            ("Put", &mut item.put),
            ("Patch", &mut item.patch),
        ] {
            if let Some(op) = op {
                op.operation_id = Some(format!("{method}{words}"));
            }
        }
    }
}

/// Every `/v1` operation declares [`ERROR_STATUSES`] with the error envelope (a component:
/// the customers' handlers name it): the gate and the error mapping answer them for any
/// operation, so a handler need not list them.
fn declare_errors(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{RefOr, ResponseBuilder, content::ContentBuilder, schema::Ref};
    let envelope = || {
        ResponseBuilder::new()
            .description("Stripe's error envelope")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorEnvelope")))
                    .build(),
            )
            .build()
    };
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.delete,
            &mut item.put,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            for status in ERROR_STATUSES {
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| RefOr::T(envelope()));
            }
        }
    }
}

/// The whole HTTP application.
pub fn router(app: App, config: &HttpConfig) -> Router {
    // Install the recorder before the first request, or its metrics would go nowhere.
    ops::metrics_handle();
    let limiter = config.rate_limit_per_second.map(|per_second| {
        Arc::new(RateLimiter::keyed(
            Quota::per_second(per_second).allow_burst(config.rate_limit_burst),
        ))
    });
    let openapi_json = openapi()
        .to_json()
        .expect("the OpenAPI document always serializes");
    let state = HttpState {
        app,
        limiter,
        card_attempts: Arc::new(RateLimiter::keyed(Quota::per_minute(
            NonZeroU32::new(CARD_ATTEMPTS_PER_MINUTE).expect("non-zero"),
        ))),
        body_limit_bytes: config.body_limit_bytes,
        openapi_json: Arc::new(openapi_json),
    };
    let (api, _) = api_routes().split_for_parts();
    let api = api.route_layer(middleware::from_fn_with_state(
        state.clone(),
        gate::api_gate,
    ));
    let (ops, _) = ops::routes().split_for_parts();
    Router::new()
        .merge(api)
        .merge(ops)
        .merge(pages::routes())
        .merge(inbound::receiver())
        .route_layer(middleware::from_fn(gate::mark_route))
        .fallback(unrecognized)
        .method_not_allowed_fallback(unrecognized)
        .with_state(state)
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("a request handler panicked");
            ApiError::internal().into_response()
        }))
        .layer(middleware::from_fn(gate::observe))
}

async fn unrecognized(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        error::ErrorType::InvalidRequestError,
        format!("Unrecognized request URL ({method}: {}).", uri.path()),
    )
}
