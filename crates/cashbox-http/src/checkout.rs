//! `/v1/checkout/sessions`, as Stripe's API reference describes them. The hosted page is in
//! `checkout_pages`.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use cashbox_core::checkout::{
    CheckoutSessionCreateParams, CheckoutSessionListParams, CheckoutSessionUpdateParams,
    SessionLineItemsParams,
};

use crate::HttpState;
use crate::error::ApiResult;
use crate::extract::{Api, NoParams};
use crate::list::ListObject;
use crate::objects::{CheckoutSession, CheckoutSessionLineItem};

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(session_create, session_list))
        .routes(routes!(session_retrieve, session_update))
        .routes(routes!(session_expire))
        .routes(routes!(session_line_items))
}

/// Create a Checkout Session: `mode` payment, subscription or setup; `line_items`;
/// `success_url` (`{CHECKOUT_SESSION_ID}` is filled in) and `cancel_url`. Its `url` is the
/// hosted page to send the customer to.
#[utoipa::path(post, path = "/v1/checkout/sessions", tag = "Checkout",
    request_body(content = CheckoutSessionCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = CheckoutSession)))]
async fn session_create(
    State(s): State<HttpState>,
    api: Api<CheckoutSessionCreateParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .checkout_sessions()
            .create(&api.call.ctx, api.params, &api.call.expand)
            .await?,
    ))
}

/// Retrieve a Checkout Session (`expand[]=line_items` includes its line items).
#[utoipa::path(get, path = "/v1/checkout/sessions/{id}", tag = "Checkout",
    params(("id" = String, Path)), responses((status = 200, body = CheckoutSession)))]
async fn session_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .checkout_sessions()
            .retrieve(&api.call.ctx, &id, &api.call.expand)
            .await?,
    ))
}

/// Update a Checkout Session's metadata.
#[utoipa::path(post, path = "/v1/checkout/sessions/{id}", tag = "Checkout",
    params(("id" = String, Path)),
    request_body(content = CheckoutSessionUpdateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = CheckoutSession)))]
async fn session_update(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<CheckoutSessionUpdateParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .checkout_sessions()
            .update(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// Expire an open Checkout Session: it can no longer be paid (`checkout.session.expired`).
#[utoipa::path(post, path = "/v1/checkout/sessions/{id}/expire", tag = "Checkout",
    params(("id" = String, Path)), responses((status = 200, body = CheckoutSession)))]
async fn session_expire(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .checkout_sessions()
            .expire(&api.call.ctx, &id, &api.call.expand)
            .await?,
    ))
}

/// List Checkout Sessions, newest first (`customer`, `payment_intent`, `subscription`,
/// `status`).
#[utoipa::path(get, path = "/v1/checkout/sessions", tag = "Checkout",
    params(CheckoutSessionListParams),
    responses((status = 200, body = ListObject<CheckoutSession>)))]
async fn session_list(
    State(s): State<HttpState>,
    api: Api<CheckoutSessionListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s
        .app
        .checkout_sessions()
        .list(&api.params, &api.call.expand)
        .await?;
    Ok(Json(ListObject::new(
        "/v1/checkout/sessions",
        page.data,
        page.has_more,
    )))
}

/// A Checkout Session's line items.
#[utoipa::path(get, path = "/v1/checkout/sessions/{id}/line_items", tag = "Checkout",
    params(("id" = String, Path), SessionLineItemsParams),
    responses((status = 200, body = ListObject<CheckoutSessionLineItem>)))]
async fn session_line_items(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<SessionLineItemsParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let all = s.app.checkout_sessions().line_items(&id).await?;
    let limit = api.params.limit.unwrap_or(10).clamp(1, 100) as usize;
    let start = match &api.params.starting_after {
        Some(after) => all
            .iter()
            .position(|l| l["id"] == after.as_str())
            .map_or(all.len(), |i| i + 1),
        None => 0,
    };
    let has_more = all.len() > start + limit;
    let data = all.into_iter().skip(start).take(limit).collect();
    Ok(Json(ListObject::new(
        &format!("/v1/checkout/sessions/{id}/line_items"),
        data,
        has_more,
    )))
}
