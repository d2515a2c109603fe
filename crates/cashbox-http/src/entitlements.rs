//! `/v1/entitlements/features`, `/v1/products/{id}/features` and
//! `/v1/entitlements/active_entitlements` as Stripe's API reference describes them, and ours:
//! `GET /v1/entitlements/check` and `POST /v1/entitlements/consume` for quotas.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use cashbox_core::usage::entitlements::{
    ActiveEntitlementListParams, EntitlementCheckParams, FeatureCreateParams, FeatureListParams,
    FeatureUpdateParams, ProductFeatureCreateParams, ProductFeatureListParams,
};

use crate::HttpState;
use crate::error::ApiResult;
use crate::extract::{Api, NoParams};
use crate::list::ListObject;
use crate::objects::{
    EntitlementCheck, EntitlementConsumption, EntitlementsActiveEntitlement, EntitlementsFeature,
    ProductFeature,
};
use cashbox_core::customer::DeletedObject;

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(feature_create, feature_list))
        .routes(routes!(feature_retrieve, feature_update))
        .routes(routes!(product_feature_create, product_feature_list))
        .routes(routes!(product_feature_retrieve, product_feature_delete))
        .routes(routes!(active_entitlement_list))
        .routes(routes!(entitlement_check))
        .routes(routes!(entitlement_consume))
}

/// Create a feature.
#[utoipa::path(post, path = "/v1/entitlements/features", tag = "Entitlements",
    request_body(content = FeatureCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = EntitlementsFeature)))]
async fn feature_create(
    State(s): State<HttpState>,
    api: Api<FeatureCreateParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app.features().create(&api.call.ctx, api.params).await?,
    ))
}

/// Retrieve a feature.
#[utoipa::path(get, path = "/v1/entitlements/features/{id}", tag = "Entitlements",
    params(("id" = String, Path)), responses((status = 200, body = EntitlementsFeature)))]
async fn feature_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    _api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.app.features().retrieve(&id).await?))
}

/// Update a feature's name, metadata or whether it is active.
#[utoipa::path(post, path = "/v1/entitlements/features/{id}", tag = "Entitlements",
    params(("id" = String, Path)),
    request_body(content = FeatureUpdateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = EntitlementsFeature)))]
async fn feature_update(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<FeatureUpdateParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .features()
            .update(&api.call.ctx, &id, api.params)
            .await?,
    ))
}

/// List features, newest first.
#[utoipa::path(get, path = "/v1/entitlements/features", tag = "Entitlements",
    params(FeatureListParams),
    responses((status = 200, body = ListObject<EntitlementsFeature>)))]
async fn feature_list(
    State(s): State<HttpState>,
    api: Api<FeatureListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s.app.features().list(&api.params).await?;
    Ok(Json(ListObject::new(
        "/v1/entitlements/features",
        page.data,
        page.has_more,
    )))
}

/// Attach a feature to a product (ours: with a `quota` per period and `grant_days`).
#[utoipa::path(post, path = "/v1/products/{id}/features", tag = "Entitlements",
    params(("id" = String, Path)),
    request_body(content = ProductFeatureCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = ProductFeature)))]
async fn product_feature_create(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<ProductFeatureCreateParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .features()
            .create_product_feature(&api.call.ctx, &id, api.params)
            .await?,
    ))
}

/// A product's features.
#[utoipa::path(get, path = "/v1/products/{id}/features", tag = "Entitlements",
    params(("id" = String, Path), ProductFeatureListParams), responses((status = 200, body = ListObject<ProductFeature>)))]
async fn product_feature_list(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<ProductFeatureListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s
        .app
        .features()
        .list_product_features(&id, &api.params)
        .await?;
    Ok(Json(ListObject::new(
        &format!("/v1/products/{id}/features"),
        page.data,
        page.has_more,
    )))
}

/// Retrieve one of a product's features.
#[utoipa::path(get, path = "/v1/products/{product}/features/{id}", tag = "Entitlements",
    params(("product" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = ProductFeature)))]
async fn product_feature_retrieve(
    State(s): State<HttpState>,
    Path((product, id)): Path<(String, String)>,
    _api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .features()
            .retrieve_product_feature(&product, &id)
            .await?,
    ))
}

/// Detach a feature from a product.
#[utoipa::path(delete, path = "/v1/products/{product}/features/{id}", tag = "Entitlements",
    params(("product" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = DeletedObject)))]
async fn product_feature_delete(
    State(s): State<HttpState>,
    Path((product, id)): Path<(String, String)>,
    api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .features()
            .delete_product_feature(&api.call.ctx, &product, &id)
            .await?,
    ))
}

/// A customer's active entitlements.
#[utoipa::path(get, path = "/v1/entitlements/active_entitlements", tag = "Entitlements",
    params(ActiveEntitlementListParams), responses((status = 200, body = ListObject<EntitlementsActiveEntitlement>)))]
async fn active_entitlement_list(
    State(s): State<HttpState>,
    api: Api<ActiveEntitlementListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s.app.entitlements().list_active(&api.params).await?;
    Ok(Json(ListObject::new(
        "/v1/entitlements/active_entitlements",
        page.data,
        page.has_more,
    )))
}

/// Ours: would `quantity` uses of a feature be allowed now? (`allowed`, `reason`, `quota`,
/// `used`, `remaining`, the period.)
#[utoipa::path(get, path = "/v1/entitlements/check", tag = "Entitlements",
    params(EntitlementCheckParams),
    responses((status = 200, body = EntitlementCheck)))]
async fn entitlement_check(
    State(s): State<HttpState>,
    api: Api<EntitlementCheckParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.app.entitlements().check(&api.params).await?))
}

/// Ours: use `quantity` of a feature's quota, all or nothing; a repeated `key` counts once.
#[utoipa::path(post, path = "/v1/entitlements/consume", tag = "Entitlements",
    request_body(content = EntitlementCheckParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = EntitlementConsumption)))]
async fn entitlement_consume(
    State(s): State<HttpState>,
    api: Api<EntitlementCheckParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .entitlements()
            .consume(&api.call.ctx, &api.params)
            .await?,
    ))
}
