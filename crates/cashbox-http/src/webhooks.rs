//! `/v1/webhook_endpoints` as Stripe's API reference describes them, and ours: secret
//! rotation, the attempt log, and re-sending an event.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use cashbox_core::webhooks::{
    AttemptListParams, EndpointCreateParams, EndpointListParams, EndpointUpdateParams,
    ResendParams, RotateSecretParams,
};

use crate::HttpState;
use crate::error::ApiResult;
use crate::extract::{Api, NoParams};
use crate::list::ListObject;
use crate::objects::{WebhookAttempt, WebhookDelivery, WebhookEndpoint};
use cashbox_core::customer::DeletedObject;

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(endpoint_create, endpoint_list))
        .routes(routes!(endpoint_retrieve, endpoint_update, endpoint_delete))
        .routes(routes!(endpoint_rotate_secret))
        .routes(routes!(endpoint_attempts))
        .routes(routes!(event_attempts))
        .routes(routes!(event_resend))
}

/// Create a webhook endpoint; its `secret` is in this answer only.
#[utoipa::path(post, path = "/v1/webhook_endpoints", tag = "Webhooks",
    request_body(content = EndpointCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = WebhookEndpoint)))]
async fn endpoint_create(
    State(s): State<HttpState>,
    api: Api<EndpointCreateParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .webhook_endpoints()
            .create(&api.call.ctx, api.params)
            .await?,
    ))
}

/// Retrieve a webhook endpoint.
#[utoipa::path(get, path = "/v1/webhook_endpoints/{id}", tag = "Webhooks",
    params(("id" = String, Path)), responses((status = 200, body = WebhookEndpoint)))]
async fn endpoint_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    _api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.app.webhook_endpoints().retrieve(&id).await?))
}

/// Update a webhook endpoint's URL, events, description or metadata, or disable it.
#[utoipa::path(post, path = "/v1/webhook_endpoints/{id}", tag = "Webhooks",
    params(("id" = String, Path)),
    request_body(content = EndpointUpdateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = WebhookEndpoint)))]
async fn endpoint_update(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<EndpointUpdateParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .webhook_endpoints()
            .update(&api.call.ctx, &id, api.params)
            .await?,
    ))
}

/// Delete a webhook endpoint.
#[utoipa::path(delete, path = "/v1/webhook_endpoints/{id}", tag = "Webhooks",
    params(("id" = String, Path)), responses((status = 200, body = DeletedObject)))]
async fn endpoint_delete(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app.webhook_endpoints().delete(&api.call.ctx, &id).await?,
    ))
}

/// List webhook endpoints, newest first.
#[utoipa::path(get, path = "/v1/webhook_endpoints", params(EndpointListParams), tag = "Webhooks",
    responses((status = 200, body = ListObject<WebhookEndpoint>)))]
async fn endpoint_list(
    State(s): State<HttpState>,
    api: Api<EndpointListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s.app.webhook_endpoints().list(&api.params).await?;
    Ok(Json(ListObject::new(
        "/v1/webhook_endpoints",
        page.data,
        page.has_more,
    )))
}

/// Ours: a new signing secret (in this answer only); the old one keeps signing beside it for
/// `overlap_seconds`.
#[utoipa::path(post, path = "/v1/webhook_endpoints/{id}/rotate_secret", tag = "Webhooks",
    params(("id" = String, Path)),
    request_body(content = RotateSecretParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = WebhookEndpoint)))]
async fn endpoint_rotate_secret(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<RotateSecretParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .webhook_endpoints()
            .rotate_secret(&api.call.ctx, &id, api.params)
            .await?,
    ))
}

/// Ours: the delivery attempts to an endpoint, newest first (time, status, latency, excerpt).
#[utoipa::path(get, path = "/v1/webhook_endpoints/{id}/attempts", tag = "Webhooks",
    params(("id" = String, Path), AttemptListParams), responses((status = 200, body = ListObject<WebhookAttempt>)))]
async fn endpoint_attempts(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<AttemptListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s
        .app
        .webhook_endpoints()
        .list_attempts(Some(&id), None, &api.params)
        .await?;
    Ok(Json(ListObject::new(
        &format!("/v1/webhook_endpoints/{id}/attempts"),
        page.data,
        page.has_more,
    )))
}

/// Ours: the delivery attempts of an event, newest first.
#[utoipa::path(get, path = "/v1/events/{id}/webhook_attempts", tag = "Webhooks",
    params(("id" = String, Path), AttemptListParams), responses((status = 200, body = ListObject<WebhookAttempt>)))]
async fn event_attempts(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<AttemptListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s
        .app
        .webhook_endpoints()
        .list_attempts(None, Some(&id), &api.params)
        .await?;
    Ok(Json(ListObject::new(
        &format!("/v1/events/{id}/webhook_attempts"),
        page.data,
        page.has_more,
    )))
}

/// Ours: send an event to an endpoint again, now.
#[utoipa::path(post, path = "/v1/events/{id}/resend", tag = "Webhooks",
    params(("id" = String, Path)),
    request_body(content = ResendParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = WebhookDelivery)))]
async fn event_resend(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<ResendParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .webhook_endpoints()
            .resend_event(&api.call.ctx, &id, api.params)
            .await?,
    ))
}
