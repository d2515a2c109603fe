//! `/v1/billing/meters`, `/v1/billing/meter_events` and `/v1/billing/meter_event_adjustments`
//! as Stripe's API reference describes them, and our batch endpoint
//! `/v1/billing/meter_events/batch`.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use cashbox_core::usage::{
    MeterAdjustmentParams, MeterCreateParams, MeterEventParams, MeterListParams, MeterUpdateParams,
    SummaryParams,
};

use crate::HttpState;
use crate::error::ApiResult;
use crate::extract::{Api, NoParams};
use crate::list::ListObject;

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(meter_create, meter_list))
        .routes(routes!(meter_retrieve, meter_update))
        .routes(routes!(meter_deactivate))
        .routes(routes!(meter_reactivate))
        .routes(routes!(meter_summaries))
        .routes(routes!(meter_event_create))
        .routes(routes!(meter_event_batch))
        .routes(routes!(meter_event_adjustment_create))
}

/// Create a billing meter.
#[utoipa::path(post, path = "/v1/billing/meters", tag = "Billing",
    request_body(content = MeterCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Object)))]
async fn meter_create(
    State(s): State<HttpState>,
    api: Api<MeterCreateParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.app.create_meter(&api.call.ctx, api.params).await?))
}

/// Retrieve a billing meter.
#[utoipa::path(get, path = "/v1/billing/meters/{id}", tag = "Billing",
    params(("id" = String, Path)), responses((status = 200, body = Object)))]
async fn meter_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    _api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.app.retrieve_meter(&id).await?))
}

/// Update a billing meter's display name.
#[utoipa::path(post, path = "/v1/billing/meters/{id}", tag = "Billing",
    params(("id" = String, Path)),
    request_body(content = MeterUpdateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Object)))]
async fn meter_update(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<MeterUpdateParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app.update_meter(&api.call.ctx, &id, api.params).await?,
    ))
}

/// Deactivate a billing meter: it refuses new events.
#[utoipa::path(post, path = "/v1/billing/meters/{id}/deactivate", tag = "Billing",
    params(("id" = String, Path)), responses((status = 200, body = Object)))]
async fn meter_deactivate(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app.set_meter_active(&api.call.ctx, &id, false).await?,
    ))
}

/// Reactivate a billing meter.
#[utoipa::path(post, path = "/v1/billing/meters/{id}/reactivate", tag = "Billing",
    params(("id" = String, Path)), responses((status = 200, body = Object)))]
async fn meter_reactivate(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app.set_meter_active(&api.call.ctx, &id, true).await?,
    ))
}

/// List billing meters, newest first.
#[utoipa::path(get, path = "/v1/billing/meters", tag = "Billing",
    params(("status" = Option<String>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, body = ListObject<Object>)))]
async fn meter_list(
    State(s): State<HttpState>,
    api: Api<MeterListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s.app.list_meters(&api.params).await?;
    Ok(Json(ListObject::new(
        "/v1/billing/meters",
        page.data,
        page.has_more,
    )))
}

/// A customer's usage on a meter over a range, whole or by hour or day.
#[utoipa::path(get, path = "/v1/billing/meters/{id}/event_summaries", tag = "Billing",
    params(("id" = String, Path), ("customer" = String, Query), ("start_time" = i64, Query),
        ("end_time" = i64, Query), ("value_grouping_window" = Option<String>, Query)),
    responses((status = 200, body = ListObject<Object>)))]
async fn meter_summaries(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<SummaryParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s.app.meter_summaries(&id, &api.params).await?;
    Ok(Json(ListObject::new(
        &format!("/v1/billing/meters/{id}/event_summaries"),
        page.data,
        page.has_more,
    )))
}

/// Record a meter event (counted once per `identifier`).
#[utoipa::path(post, path = "/v1/billing/meter_events", tag = "Billing",
    request_body(content = MeterEventParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Object)))]
async fn meter_event_create(
    State(s): State<HttpState>,
    api: Api<MeterEventParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app.record_meter_event(&api.call.ctx, api.params).await?,
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchParams {
    pub events: Option<Vec<MeterEventParams>>,
}

/// Ours: record up to 1,000 meter events at once (JSON or form), each recorded or refused on
/// its own; `data` answers each in order, a meter event or `{"error": …}`.
#[utoipa::path(post, path = "/v1/billing/meter_events/batch", tag = "Billing",
    request_body(content = BatchParams, content_type = "application/json"),
    responses((status = 200, body = Object)))]
async fn meter_event_batch(
    State(s): State<HttpState>,
    api: Api<BatchParams>,
) -> ApiResult<Json<Value>> {
    let events = api.params.events.unwrap_or_default();
    Ok(Json(
        s.app.record_meter_events(&api.call.ctx, events).await?,
    ))
}

/// Cancel a meter event by its identifier.
#[utoipa::path(post, path = "/v1/billing/meter_event_adjustments", tag = "Billing",
    request_body(content = MeterAdjustmentParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Object)))]
async fn meter_event_adjustment_create(
    State(s): State<HttpState>,
    api: Api<MeterAdjustmentParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app.adjust_meter_event(&api.call.ctx, api.params).await?,
    ))
}
