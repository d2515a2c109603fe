//! `/v1/coupons`, `/v1/promotion_codes` and `/v1/tax_rates`, as Stripe's API reference
//! describes them.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use cashbox_core::billing::discounts::{
    CouponCreateParams, CouponListParams, CouponUpdateParams, PromotionCodeCreateParams,
    PromotionCodeListParams, PromotionCodeUpdateParams, TaxRateCreateParams, TaxRateListParams,
    TaxRateUpdateParams,
};

use crate::HttpState;
use crate::error::ApiResult;
use crate::extract::{Api, NoParams};
use crate::list::ListObject;
use crate::objects::{Coupon, PromotionCode, TaxRate};
use cashbox_core::customer::DeletedObject;

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(coupon_create, coupon_list))
        .routes(routes!(coupon_retrieve, coupon_update, coupon_delete))
        .routes(routes!(promo_create, promo_list))
        .routes(routes!(promo_retrieve, promo_update))
        .routes(routes!(tax_rate_create, tax_rate_list))
        .routes(routes!(tax_rate_retrieve, tax_rate_update))
}

type JsonResult = ApiResult<Json<Value>>;
type ListResult = ApiResult<Json<ListObject<Value>>>;

/// Create a coupon: `percent_off`, or `amount_off` with `currency`; `duration` once,
/// repeating (with `duration_in_months`) or forever.
#[utoipa::path(post, path = "/v1/coupons", tag = "Coupons",
    request_body(content = CouponCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Coupon)))]
async fn coupon_create(State(s): State<HttpState>, api: Api<CouponCreateParams>) -> JsonResult {
    Ok(Json(
        s.app
            .coupons()
            .create(&api.call.ctx, api.params, &api.call.expand)
            .await?,
    ))
}

/// Retrieve a coupon (`expand[]=applies_to` / `currency_options` include those fields).
#[utoipa::path(get, path = "/v1/coupons/{id}", tag = "Coupons",
    params(("id" = String, Path)), responses((status = 200, body = Coupon)))]
async fn coupon_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(s.app.coupons().retrieve(&id, &api.call.expand).await?))
}

/// Update a coupon's name, metadata or currency options; its terms never change.
#[utoipa::path(post, path = "/v1/coupons/{id}", tag = "Coupons",
    params(("id" = String, Path)),
    request_body(content = CouponUpdateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Coupon)))]
async fn coupon_update(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<CouponUpdateParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .coupons()
            .update(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// Delete a coupon: no new redemptions; discounts already applied keep working.
#[utoipa::path(delete, path = "/v1/coupons/{id}", tag = "Coupons",
    params(("id" = String, Path)), responses((status = 200, body = DeletedObject)))]
async fn coupon_delete(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(s.app.coupons().delete(&api.call.ctx, &id).await?))
}

/// List coupons, newest first.
#[utoipa::path(get, path = "/v1/coupons", tag = "Coupons",
    params(CouponListParams), responses((status = 200, body = ListObject<Coupon>)))]
async fn coupon_list(State(s): State<HttpState>, api: Api<CouponListParams>) -> ListResult {
    let page = s.app.coupons().list(&api.params, &api.call.expand).await?;
    Ok(Json(ListObject::new(
        "/v1/coupons",
        page.data,
        page.has_more,
    )))
}

/// Create a promotion code for a coupon (`promotion[coupon]`, or `coupon` as older API
/// versions send it); `code` is unique among active codes, case-insensitively.
#[utoipa::path(post, path = "/v1/promotion_codes", tag = "PromotionCodes",
    request_body(content = PromotionCodeCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = PromotionCode)))]
async fn promo_create(
    State(s): State<HttpState>,
    api: Api<PromotionCodeCreateParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .promotion_codes()
            .create(&api.call.ctx, api.params, &api.call.expand)
            .await?,
    ))
}

/// Retrieve a promotion code.
#[utoipa::path(get, path = "/v1/promotion_codes/{id}", tag = "PromotionCodes",
    params(("id" = String, Path)), responses((status = 200, body = PromotionCode)))]
async fn promo_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .promotion_codes()
            .retrieve(&id, &api.call.expand)
            .await?,
    ))
}

/// Activate or deactivate a promotion code, or change its metadata.
#[utoipa::path(post, path = "/v1/promotion_codes/{id}", tag = "PromotionCodes",
    params(("id" = String, Path)),
    request_body(content = PromotionCodeUpdateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = PromotionCode)))]
async fn promo_update(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<PromotionCodeUpdateParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .promotion_codes()
            .update(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// List promotion codes (`active`, `code`, `coupon`, `customer`, `created` filters).
#[utoipa::path(get, path = "/v1/promotion_codes", tag = "PromotionCodes",
    params(PromotionCodeListParams),
    responses((status = 200, body = ListObject<PromotionCode>)))]
async fn promo_list(State(s): State<HttpState>, api: Api<PromotionCodeListParams>) -> ListResult {
    let page = s
        .app
        .promotion_codes()
        .list(&api.params, &api.call.expand)
        .await?;
    Ok(Json(ListObject::new(
        "/v1/promotion_codes",
        page.data,
        page.has_more,
    )))
}

/// Create a tax rate (`display_name`, `percentage`, `inclusive`).
#[utoipa::path(post, path = "/v1/tax_rates", tag = "TaxRates",
    request_body(content = TaxRateCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = TaxRate)))]
async fn tax_rate_create(State(s): State<HttpState>, api: Api<TaxRateCreateParams>) -> JsonResult {
    Ok(Json(
        s.app
            .tax_rates()
            .create(&api.call.ctx, api.params, &api.call.expand)
            .await?,
    ))
}

/// Retrieve a tax rate.
#[utoipa::path(get, path = "/v1/tax_rates/{id}", tag = "TaxRates",
    params(("id" = String, Path)), responses((status = 200, body = TaxRate)))]
async fn tax_rate_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(
        s.app.tax_rates().retrieve(&id, &api.call.expand).await?,
    ))
}

/// Update a tax rate; its percentage and inclusiveness never change.
#[utoipa::path(post, path = "/v1/tax_rates/{id}", tag = "TaxRates",
    params(("id" = String, Path)),
    request_body(content = TaxRateUpdateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = TaxRate)))]
async fn tax_rate_update(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<TaxRateUpdateParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .tax_rates()
            .update(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// List tax rates (`active`, `inclusive`, `created` filters).
#[utoipa::path(get, path = "/v1/tax_rates", tag = "TaxRates",
    params(TaxRateListParams),
    responses((status = 200, body = ListObject<TaxRate>)))]
async fn tax_rate_list(State(s): State<HttpState>, api: Api<TaxRateListParams>) -> ListResult {
    let page = s
        .app
        .tax_rates()
        .list(&api.params, &api.call.expand)
        .await?;
    Ok(Json(ListObject::new(
        "/v1/tax_rates",
        page.data,
        page.has_more,
    )))
}
