//! `/v1/billing_portal/configurations` and `/v1/billing_portal/sessions`, as Stripe's API
//! reference describes them. The portal page is in `portal_pages`.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use cashbox_core::portal::{
    ConfigurationListParams, ConfigurationParams, PortalSessionCreateParams,
};

use crate::HttpState;
use crate::error::ApiResult;
use crate::extract::{Api, NoParams};
use crate::list::ListObject;
use crate::objects::{PortalConfiguration, PortalSession};

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(configuration_create, configuration_list))
        .routes(routes!(configuration_retrieve, configuration_update))
        .routes(routes!(session_create))
}

/// Create a portal configuration: what customers may do (`features`), the business profile
/// and the default return URL. The first one is the default.
#[utoipa::path(post, path = "/v1/billing_portal/configurations", tag = "BillingPortal",
    request_body(content = ConfigurationParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = PortalConfiguration)))]
async fn configuration_create(
    State(s): State<HttpState>,
    api: Api<ConfigurationParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .billing_portal_configurations()
            .create(&api.call.ctx, api.params, &api.call.expand)
            .await?,
    ))
}

/// Retrieve a portal configuration.
#[utoipa::path(get, path = "/v1/billing_portal/configurations/{id}", tag = "BillingPortal",
    params(("id" = String, Path)), responses((status = 200, body = PortalConfiguration)))]
async fn configuration_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .billing_portal_configurations()
            .retrieve(&id, &api.call.expand)
            .await?,
    ))
}

/// Update a portal configuration.
#[utoipa::path(post, path = "/v1/billing_portal/configurations/{id}", tag = "BillingPortal",
    params(("id" = String, Path)),
    request_body(content = ConfigurationParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = PortalConfiguration)))]
async fn configuration_update(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<ConfigurationParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .billing_portal_configurations()
            .update(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// List portal configurations (`active`, `is_default`).
#[utoipa::path(get, path = "/v1/billing_portal/configurations", tag = "BillingPortal",
    params(ConfigurationListParams),
    responses((status = 200, body = ListObject<PortalConfiguration>)))]
async fn configuration_list(
    State(s): State<HttpState>,
    api: Api<ConfigurationListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s
        .app
        .billing_portal_configurations()
        .list(&api.params, &api.call.expand)
        .await?;
    Ok(Json(ListObject::new(
        "/v1/billing_portal/configurations",
        page.data,
        page.has_more,
    )))
}

/// Create a portal session for `customer`: its `url` must be opened within five minutes,
/// and then works for an hour. `flow_data` deep-links to one action.
#[utoipa::path(post, path = "/v1/billing_portal/sessions", tag = "BillingPortal",
    request_body(content = PortalSessionCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = PortalSession)))]
async fn session_create(
    State(s): State<HttpState>,
    api: Api<PortalSessionCreateParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .billing_portal_sessions()
            .create(&api.call.ctx, api.params, &api.call.expand)
            .await?,
    ))
}
