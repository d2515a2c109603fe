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

use cashbox_core::usage::credits::{
    CreditGrantCreateParams, CreditGrantListParams, CreditGrantUpdateParams,
    SpendLimitCreateParams, SpendLimitListParams, SpendLimitUpdateParams, UsageCheckParams,
};
use cashbox_core::usage::{
    AlertCreateParams, AlertListParams, MeterAdjustmentParams, MeterCreateParams, MeterEventParams,
    MeterListParams, MeterUpdateParams, SummaryParams,
};

use crate::HttpState;
use crate::error::ApiResult;
use crate::extract::{Api, NoParams};
use crate::list::ListObject;
use crate::objects::{
    BillingAlert, BillingCreditBalanceSummary, BillingCreditGrant, BillingMeter, BillingMeterEvent,
    BillingMeterEventAdjustment, BillingMeterEventSummary, MeterEventBatch, SpendLimit, UsageCheck,
};
use cashbox_core::customer::DeletedObject;

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
        .routes(routes!(credit_grant_create, credit_grant_list))
        .routes(routes!(credit_grant_retrieve, credit_grant_update))
        .routes(routes!(credit_grant_expire))
        .routes(routes!(credit_grant_void))
        .routes(routes!(credit_balance_summary))
        .routes(routes!(spend_limit_create, spend_limit_list))
        .routes(routes!(
            spend_limit_retrieve,
            spend_limit_update,
            spend_limit_delete
        ))
        .routes(routes!(usage_check))
        .routes(routes!(alert_create, alert_list))
        .routes(routes!(alert_retrieve))
        .routes(routes!(alert_activate))
        .routes(routes!(alert_deactivate))
        .routes(routes!(alert_archive))
}

/// Create a billing meter.
#[utoipa::path(post, path = "/v1/billing/meters", tag = "Billing",
    request_body(content = MeterCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = BillingMeter)))]
async fn meter_create(
    State(s): State<HttpState>,
    api: Api<MeterCreateParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app.meters().create(&api.call.ctx, api.params).await?,
    ))
}

/// Retrieve a billing meter.
#[utoipa::path(get, path = "/v1/billing/meters/{id}", tag = "Billing",
    params(("id" = String, Path)), responses((status = 200, body = BillingMeter)))]
async fn meter_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    _api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.app.meters().retrieve(&id).await?))
}

/// Update a billing meter's display name.
#[utoipa::path(post, path = "/v1/billing/meters/{id}", tag = "Billing",
    params(("id" = String, Path)),
    request_body(content = MeterUpdateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = BillingMeter)))]
async fn meter_update(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<MeterUpdateParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .meters()
            .update(&api.call.ctx, &id, api.params)
            .await?,
    ))
}

/// Deactivate a billing meter: it refuses new events.
#[utoipa::path(post, path = "/v1/billing/meters/{id}/deactivate", tag = "Billing",
    params(("id" = String, Path)), responses((status = 200, body = BillingMeter)))]
async fn meter_deactivate(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app.meters().set_active(&api.call.ctx, &id, false).await?,
    ))
}

/// Reactivate a billing meter.
#[utoipa::path(post, path = "/v1/billing/meters/{id}/reactivate", tag = "Billing",
    params(("id" = String, Path)), responses((status = 200, body = BillingMeter)))]
async fn meter_reactivate(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app.meters().set_active(&api.call.ctx, &id, true).await?,
    ))
}

/// List billing meters, newest first.
#[utoipa::path(get, path = "/v1/billing/meters", tag = "Billing",
    params(MeterListParams),
    responses((status = 200, body = ListObject<BillingMeter>)))]
async fn meter_list(
    State(s): State<HttpState>,
    api: Api<MeterListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s.app.meters().list(&api.params).await?;
    Ok(Json(ListObject::new(
        "/v1/billing/meters",
        page.data,
        page.has_more,
    )))
}

/// A customer's usage on a meter over a range, whole or by hour or day.
#[utoipa::path(get, path = "/v1/billing/meters/{id}/event_summaries", tag = "Billing",
    params(("id" = String, Path), SummaryParams),
    responses((status = 200, body = ListObject<BillingMeterEventSummary>)))]
async fn meter_summaries(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<SummaryParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s.app.meters().summaries(&id, &api.params).await?;
    Ok(Json(ListObject::new(
        &format!("/v1/billing/meters/{id}/event_summaries"),
        page.data,
        page.has_more,
    )))
}

/// Record a meter event (counted once per `identifier`).
#[utoipa::path(post, path = "/v1/billing/meter_events", tag = "Billing",
    request_body(content = MeterEventParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = BillingMeterEvent)))]
async fn meter_event_create(
    State(s): State<HttpState>,
    api: Api<MeterEventParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .meters()
            .record_meter_event(&api.call.ctx, api.params)
            .await?,
    ))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchParams {
    pub events: Option<Vec<MeterEventParams>>,
}

/// Ours: record up to 1,000 meter events at once (JSON or form), each recorded or refused on
/// its own; `data` answers each in order: `{"identifier", "timestamp"}` when recorded, or
/// `{"error": …}` (Stripe's error object) when refused.
#[utoipa::path(post, path = "/v1/billing/meter_events/batch", tag = "Billing",
    request_body(content = BatchParams, content_type = "application/json"),
    responses((status = 200, body = MeterEventBatch)))]
async fn meter_event_batch(
    State(s): State<HttpState>,
    api: Api<BatchParams>,
) -> ApiResult<Json<Value>> {
    let events = api.params.events.unwrap_or_default();
    Ok(Json(
        s.app
            .meters()
            .record_meter_events(&api.call.ctx, events)
            .await?,
    ))
}

/// Cancel a meter event by its identifier.
#[utoipa::path(post, path = "/v1/billing/meter_event_adjustments", tag = "Billing",
    request_body(content = MeterAdjustmentParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = BillingMeterEventAdjustment)))]
async fn meter_event_adjustment_create(
    State(s): State<HttpState>,
    api: Api<MeterAdjustmentParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .meters()
            .adjust_event(&api.call.ctx, api.params)
            .await?,
    ))
}

/// Create a credit grant.
#[utoipa::path(post, path = "/v1/billing/credit_grants", tag = "Billing",
    request_body(content = CreditGrantCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = BillingCreditGrant)))]
async fn credit_grant_create(
    State(s): State<HttpState>,
    api: Api<CreditGrantCreateParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .credit_grants()
            .create(&api.call.ctx, api.params)
            .await?,
    ))
}

/// Retrieve a credit grant.
#[utoipa::path(get, path = "/v1/billing/credit_grants/{id}", tag = "Billing",
    params(("id" = String, Path)), responses((status = 200, body = BillingCreditGrant)))]
async fn credit_grant_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    _api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.app.credit_grants().retrieve(&id).await?))
}

/// Update a credit grant's expiry or metadata.
#[utoipa::path(post, path = "/v1/billing/credit_grants/{id}", tag = "Billing",
    params(("id" = String, Path)),
    request_body(content = CreditGrantUpdateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = BillingCreditGrant)))]
async fn credit_grant_update(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<CreditGrantUpdateParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .credit_grants()
            .change(&api.call.ctx, &id, Some(api.params), "update")
            .await?,
    ))
}

/// Expire a credit grant now.
#[utoipa::path(post, path = "/v1/billing/credit_grants/{id}/expire", tag = "Billing",
    params(("id" = String, Path)), responses((status = 200, body = BillingCreditGrant)))]
async fn credit_grant_expire(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .credit_grants()
            .change(&api.call.ctx, &id, None, "expire")
            .await?,
    ))
}

/// Void a credit grant.
#[utoipa::path(post, path = "/v1/billing/credit_grants/{id}/void", tag = "Billing",
    params(("id" = String, Path)), responses((status = 200, body = BillingCreditGrant)))]
async fn credit_grant_void(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .credit_grants()
            .change(&api.call.ctx, &id, None, "void")
            .await?,
    ))
}

/// List credit grants, newest first.
#[utoipa::path(get, path = "/v1/billing/credit_grants", tag = "Billing",
    params(CreditGrantListParams), responses((status = 200, body = ListObject<BillingCreditGrant>)))]
async fn credit_grant_list(
    State(s): State<HttpState>,
    api: Api<CreditGrantListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s.app.credit_grants().list(&api.params).await?;
    Ok(Json(ListObject::new(
        "/v1/billing/credit_grants",
        page.data,
        page.has_more,
    )))
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BalanceSummaryParams {
    pub customer: Option<String>,
    /// Accepted as Stripe sends it; credits apply to metered prices only.
    #[schema(value_type = Option<Object>)]
    #[param(value_type = Option<Object>)]
    pub filter: Option<Value>,
}

/// A customer's credit balance.
#[utoipa::path(get, path = "/v1/billing/credit_balance_summary", tag = "Billing",
    params(BalanceSummaryParams), responses((status = 200, body = BillingCreditBalanceSummary)))]
async fn credit_balance_summary(
    State(s): State<HttpState>,
    api: Api<BalanceSummaryParams>,
) -> ApiResult<Json<Value>> {
    let scope = &api
        .params
        .filter
        .as_ref()
        .map(|f| &f["applicability_scope"]["price_type"]);
    if let Some(Value::String(t)) = scope
        && t != "metered"
    {
        let e = cashbox_core::ParamError::invalid(
            "filter[applicability_scope][price_type]",
            format!("Invalid price_type: {t}; credits apply to metered prices"),
        );
        return Err(cashbox_app::AppError::from(e).into());
    }
    let customer = api
        .params
        .customer
        .ok_or_else(|| cashbox_core::ParamError::missing("customer"))
        .map_err(cashbox_app::AppError::from)?;
    Ok(Json(
        s.app.credit_grants().balance_summary(&customer).await?,
    ))
}

/// Ours: set a spending limit on a customer's (or one subscription's) metered usage per
/// billing period.
#[utoipa::path(post, path = "/v1/billing/spend_limits", tag = "Billing",
    request_body(content = SpendLimitCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = SpendLimit)))]
async fn spend_limit_create(
    State(s): State<HttpState>,
    api: Api<SpendLimitCreateParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .spend_limits()
            .create(&api.call.ctx, api.params)
            .await?,
    ))
}

/// Ours: retrieve a spend limit.
#[utoipa::path(get, path = "/v1/billing/spend_limits/{id}", tag = "Billing",
    params(("id" = String, Path)), responses((status = 200, body = SpendLimit)))]
async fn spend_limit_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    _api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.app.spend_limits().retrieve(&id).await?))
}

/// Ours: change a spend limit's amount, behavior or metadata.
#[utoipa::path(post, path = "/v1/billing/spend_limits/{id}", tag = "Billing",
    params(("id" = String, Path)),
    request_body(content = SpendLimitUpdateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = SpendLimit)))]
async fn spend_limit_update(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<SpendLimitUpdateParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .spend_limits()
            .update(&api.call.ctx, &id, api.params)
            .await?,
    ))
}

/// Ours: remove a spend limit.
#[utoipa::path(delete, path = "/v1/billing/spend_limits/{id}", tag = "Billing",
    params(("id" = String, Path)), responses((status = 200, body = DeletedObject)))]
async fn spend_limit_delete(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.app.spend_limits().delete(&api.call.ctx, &id).await?))
}

/// Ours: a customer's spend limits.
#[utoipa::path(get, path = "/v1/billing/spend_limits", tag = "Billing",
    params(SpendLimitListParams), responses((status = 200, body = ListObject<SpendLimit>)))]
async fn spend_limit_list(
    State(s): State<HttpState>,
    api: Api<SpendLimitListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s.app.spend_limits().list(&api.params).await?;
    Ok(Json(ListObject::new(
        "/v1/billing/spend_limits",
        page.data,
        page.has_more,
    )))
}

/// Ours: before doing metered work, would `quantity` more units on `event_name` fit the
/// spend limit? (`allowed`, `reason`, `used`, `cost`, `remaining`, `limit`,
/// `credit_balance`, the period.)
#[utoipa::path(get, path = "/v1/billing/usage_check", tag = "Billing",
    params(UsageCheckParams),
    responses((status = 200, body = UsageCheck)))]
async fn usage_check(
    State(s): State<HttpState>,
    api: Api<UsageCheckParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.app.spend_limits().check(&api.params).await?))
}

/// Create a usage-threshold billing alert.
#[utoipa::path(post, path = "/v1/billing/alerts", tag = "Billing",
    request_body(content = AlertCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = BillingAlert)))]
async fn alert_create(
    State(s): State<HttpState>,
    api: Api<AlertCreateParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .meters()
            .create_alert(&api.call.ctx, api.params)
            .await?,
    ))
}

/// Retrieve a billing alert.
#[utoipa::path(get, path = "/v1/billing/alerts/{id}", tag = "Billing",
    params(("id" = String, Path)), responses((status = 200, body = BillingAlert)))]
async fn alert_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    _api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.app.meters().retrieve_alert(&id).await?))
}

/// List billing alerts, newest first.
#[utoipa::path(get, path = "/v1/billing/alerts", tag = "Billing",
    params(AlertListParams), responses((status = 200, body = ListObject<BillingAlert>)))]
async fn alert_list(
    State(s): State<HttpState>,
    api: Api<AlertListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s.app.meters().list_alerts(&api.params).await?;
    Ok(Json(ListObject::new(
        "/v1/billing/alerts",
        page.data,
        page.has_more,
    )))
}

/// Reactivate a billing alert.
#[utoipa::path(post, path = "/v1/billing/alerts/{id}/activate", tag = "Billing",
    params(("id" = String, Path)), responses((status = 200, body = BillingAlert)))]
async fn alert_activate(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .meters()
            .set_alert_status(&api.call.ctx, &id, "active")
            .await?,
    ))
}

/// Deactivate a billing alert.
#[utoipa::path(post, path = "/v1/billing/alerts/{id}/deactivate", tag = "Billing",
    params(("id" = String, Path)), responses((status = 200, body = BillingAlert)))]
async fn alert_deactivate(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .meters()
            .set_alert_status(&api.call.ctx, &id, "inactive")
            .await?,
    ))
}

/// Archive a billing alert for good.
#[utoipa::path(post, path = "/v1/billing/alerts/{id}/archive", tag = "Billing",
    params(("id" = String, Path)), responses((status = 200, body = BillingAlert)))]
async fn alert_archive(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .meters()
            .set_alert_status(&api.call.ctx, &id, "archived")
            .await?,
    ))
}
