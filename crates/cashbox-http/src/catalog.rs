//! `/v1/products` and `/v1/prices`, as Stripe's API reference describes them.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use cashbox_core::billing::catalog::{
    PriceCreateParams, PriceListParams, PriceUpdateParams, ProductCreateParams, ProductListParams,
    ProductUpdateParams,
};

use crate::HttpState;
use crate::error::ApiResult;
use crate::extract::{Api, NoParams};
use crate::list::ListObject;
use crate::objects::{Price, Product};
use cashbox_core::customer::DeletedObject;

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(product_create, product_list))
        .routes(routes!(product_retrieve, product_update, product_delete))
        .routes(routes!(price_create, price_list))
        .routes(routes!(price_retrieve, price_update))
}

type JsonResult = ApiResult<Json<Value>>;
type ListResult = ApiResult<Json<ListObject<Value>>>;

/// Create a product (`id` may be your own; `default_price_data` creates its default price).
#[utoipa::path(post, path = "/v1/products", tag = "Products",
    request_body(content = ProductCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Product)))]
async fn product_create(State(s): State<HttpState>, api: Api<ProductCreateParams>) -> JsonResult {
    Ok(Json(
        s.app
            .products()
            .create(&api.call.ctx, api.params, &api.call.expand)
            .await?,
    ))
}

/// Retrieve a product.
#[utoipa::path(get, path = "/v1/products/{id}", tag = "Products",
    params(("id" = String, Path)), responses((status = 200, body = Product)))]
async fn product_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(
        s.app.products().retrieve(&id, &api.call.expand).await?,
    ))
}

/// Update a product; `default_price` must be an active price of the product.
#[utoipa::path(post, path = "/v1/products/{id}", tag = "Products",
    params(("id" = String, Path)),
    request_body(content = ProductUpdateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Product)))]
async fn product_update(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<ProductUpdateParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .products()
            .update(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// Delete a product that has no prices.
#[utoipa::path(delete, path = "/v1/products/{id}", tag = "Products",
    params(("id" = String, Path)), responses((status = 200, body = DeletedObject)))]
async fn product_delete(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(s.app.products().delete(&api.call.ctx, &id).await?))
}

/// List products, newest first (`active`, `ids[]`, `created` filters).
#[utoipa::path(get, path = "/v1/products", tag = "Products",
    params(ProductListParams),
    responses((status = 200, body = ListObject<Product>)))]
async fn product_list(State(s): State<HttpState>, api: Api<ProductListParams>) -> ListResult {
    let page = s.app.products().list(&api.params, &api.call.expand).await?;
    Ok(Json(ListObject::new(
        "/v1/products",
        page.data,
        page.has_more,
    )))
}

/// Create a price: per unit (`unit_amount` or `unit_amount_decimal`) or tiered (`tiers`,
/// `tiers_mode`), one-time or `recurring`, with `currency_options`, `transform_quantity` and
/// a `lookup_key`.
#[utoipa::path(post, path = "/v1/prices", tag = "Prices",
    request_body(content = PriceCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Price)))]
async fn price_create(State(s): State<HttpState>, api: Api<PriceCreateParams>) -> JsonResult {
    Ok(Json(
        s.app
            .prices()
            .create(&api.call.ctx, api.params, &api.call.expand)
            .await?,
    ))
}

/// Retrieve a price (`expand[]=tiers` / `currency_options` include those fields).
#[utoipa::path(get, path = "/v1/prices/{id}", tag = "Prices",
    params(("id" = String, Path)), responses((status = 200, body = Price)))]
async fn price_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(s.app.prices().retrieve(&id, &api.call.expand).await?))
}

/// Update a price. Amounts never change; `lookup_key` moves with `transfer_lookup_key`.
#[utoipa::path(post, path = "/v1/prices/{id}", tag = "Prices",
    params(("id" = String, Path)),
    request_body(content = PriceUpdateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Price)))]
async fn price_update(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<PriceUpdateParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .prices()
            .update(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// List prices, newest first (`active`, `product`, `type`, `currency`, `lookup_keys[]`,
/// `recurring[interval]`, `recurring[usage_type]`, `created` filters).
#[utoipa::path(get, path = "/v1/prices", tag = "Prices",
    params(PriceListParams),
    responses((status = 200, body = ListObject<Price>)))]
async fn price_list(State(s): State<HttpState>, api: Api<PriceListParams>) -> ListResult {
    let page = s.app.prices().list(&api.params, &api.call.expand).await?;
    Ok(Json(ListObject::new(
        "/v1/prices",
        page.data,
        page.has_more,
    )))
}
