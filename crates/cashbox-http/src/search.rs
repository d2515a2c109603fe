//! `GET /v1/{resource}/search`: Stripe's search query language (`query`), pages through
//! `page`/`next_page`, `expand[]=total_count`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use cashbox_app::search::SearchResult;
use cashbox_core::search::SearchParams;

use crate::HttpState;
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::Api;
use crate::objects::{Charge, Invoice, PaymentIntent, Price, Product, Subscription};
use cashbox_core::customer::CustomerObject;

/// Stripe's search result envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct SearchObject<T> {
    /// Always `search_result`.
    pub object: &'static str,
    pub url: String,
    pub has_more: bool,
    pub data: Vec<T>,
    /// The `page` value of the next page; null on the last.
    pub next_page: Option<String>,
    /// Present with `expand[]=total_count`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_count: Option<i64>,
}

fn envelope(url: &str, r: SearchResult) -> Json<SearchObject<Value>> {
    Json(SearchObject {
        object: "search_result",
        url: url.to_string(),
        has_more: r.has_more,
        data: r.data,
        next_page: r.next_page,
        total_count: r.total_count,
    })
}

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(customers_search))
        .routes(routes!(prices_search))
        .routes(routes!(products_search))
        .routes(routes!(subscriptions_search))
        .routes(routes!(invoices_search))
        .routes(routes!(payment_intents_search))
        .routes(routes!(charges_search))
}

/// Search customers: `email`, `name` and `phone` match exactly (they are encrypted; a substring search on them is refused), `metadata['key']`, `created`.
#[utoipa::path(get, path = "/v1/customers/search", tag = "Customers",
    params(SearchParams),
    responses((status = 200, body = SearchObject<CustomerObject>), (status = 400, body = ErrorEnvelope)))]
async fn customers_search(
    State(s): State<HttpState>,
    api: Api<SearchParams>,
) -> ApiResult<Json<SearchObject<Value>>> {
    let found = s
        .app
        .customers()
        .search(&api.params, &api.call.expand)
        .await?;
    Ok(envelope("/v1/customers/search", found))
}

/// Search prices: `active`, `currency`, `lookup_key`, `product`, `type`, `metadata['key']`, `created`.
#[utoipa::path(get, path = "/v1/prices/search", tag = "Prices",
    params(SearchParams),
    responses((status = 200, body = SearchObject<Price>), (status = 400, body = ErrorEnvelope)))]
async fn prices_search(
    State(s): State<HttpState>,
    api: Api<SearchParams>,
) -> ApiResult<Json<SearchObject<Value>>> {
    let found = s.app.prices().search(&api.params, &api.call.expand).await?;
    Ok(envelope("/v1/prices/search", found))
}

/// Search products: `active`, `name` and `description` (exact, or substring with `~`), `shippable`, `url`, `metadata['key']`, `created`.
#[utoipa::path(get, path = "/v1/products/search", tag = "Products",
    params(SearchParams),
    responses((status = 200, body = SearchObject<Product>), (status = 400, body = ErrorEnvelope)))]
async fn products_search(
    State(s): State<HttpState>,
    api: Api<SearchParams>,
) -> ApiResult<Json<SearchObject<Value>>> {
    let found = s
        .app
        .products()
        .search(&api.params, &api.call.expand)
        .await?;
    Ok(envelope("/v1/products/search", found))
}

/// Search subscriptions: `status`, `metadata['key']`, `created`.
#[utoipa::path(get, path = "/v1/subscriptions/search", tag = "Subscriptions",
    params(SearchParams),
    responses((status = 200, body = SearchObject<Subscription>), (status = 400, body = ErrorEnvelope)))]
async fn subscriptions_search(
    State(s): State<HttpState>,
    api: Api<SearchParams>,
) -> ApiResult<Json<SearchObject<Value>>> {
    let found = s
        .app
        .subscriptions()
        .search(&api.params, &api.call.expand)
        .await?;
    Ok(envelope("/v1/subscriptions/search", found))
}

/// Search invoices: `currency`, `customer`, `number`, `status`, `subscription`, `total`, `metadata['key']`, `created`.
#[utoipa::path(get, path = "/v1/invoices/search", tag = "Invoices",
    params(SearchParams),
    responses((status = 200, body = SearchObject<Invoice>), (status = 400, body = ErrorEnvelope)))]
async fn invoices_search(
    State(s): State<HttpState>,
    api: Api<SearchParams>,
) -> ApiResult<Json<SearchObject<Value>>> {
    let found = s
        .app
        .invoices()
        .search(&api.params, &api.call.expand)
        .await?;
    Ok(envelope("/v1/invoices/search", found))
}

/// Search payment intents: `amount`, `currency`, `customer`, `status`, `metadata['key']`, `created`.
#[utoipa::path(get, path = "/v1/payment_intents/search", tag = "PaymentIntents",
    params(SearchParams),
    responses((status = 200, body = SearchObject<PaymentIntent>), (status = 400, body = ErrorEnvelope)))]
async fn payment_intents_search(
    State(s): State<HttpState>,
    api: Api<SearchParams>,
) -> ApiResult<Json<SearchObject<Value>>> {
    let found = s
        .app
        .payment_intents()
        .search(&api.params, &api.call.expand)
        .await?;
    Ok(envelope("/v1/payment_intents/search", found))
}

/// Search charges: `amount`, `currency`, `customer`, `payment_intent`, `status`, `refunded`, `disputed`, `billing_details.address.postal_code`, `payment_method_details.card.{brand,last4,exp_month,exp_year}`, `metadata['key']`, `created`.
#[utoipa::path(get, path = "/v1/charges/search", tag = "Charges",
    params(SearchParams),
    responses((status = 200, body = SearchObject<Charge>), (status = 400, body = ErrorEnvelope)))]
async fn charges_search(
    State(s): State<HttpState>,
    api: Api<SearchParams>,
) -> ApiResult<Json<SearchObject<Value>>> {
    let found = s
        .app
        .charges()
        .search(&api.params, &api.call.expand)
        .await?;
    Ok(envelope("/v1/charges/search", found))
}
