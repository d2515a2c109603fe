//! `/v1/test_helpers/test_clocks`, as Stripe's API reference describes them.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use cashbox_core::clock::{TestClockAdvanceParams, TestClockCreateParams, TestClockListParams};

use crate::HttpState;
use crate::error::ApiResult;
use crate::extract::{Api, NoParams};
use crate::list::ListObject;
use crate::objects::TestHelpersTestClock;
use cashbox_core::customer::DeletedObject;

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(clock_create, clock_list))
        .routes(routes!(clock_retrieve, clock_delete))
        .routes(routes!(clock_advance))
}

/// Create a test clock frozen at `frozen_time`.
#[utoipa::path(post, path = "/v1/test_helpers/test_clocks", tag = "TestClocks",
    request_body(content = TestClockCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = TestHelpersTestClock)))]
async fn clock_create(
    State(s): State<HttpState>,
    api: Api<TestClockCreateParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .test_clocks()
            .create(&api.call.ctx, api.params)
            .await?,
    ))
}

/// Retrieve a test clock.
#[utoipa::path(get, path = "/v1/test_helpers/test_clocks/{id}", tag = "TestClocks",
    params(("id" = String, Path)), responses((status = 200, body = TestHelpersTestClock)))]
async fn clock_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    _api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.app.test_clocks().retrieve(&id).await?))
}

/// Delete a test clock and the customers that live in it.
#[utoipa::path(delete, path = "/v1/test_helpers/test_clocks/{id}", tag = "TestClocks",
    params(("id" = String, Path)), responses((status = 200, body = DeletedObject)))]
async fn clock_delete(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.app.test_clocks().delete(&api.call.ctx, &id).await?))
}

/// Advance a test clock to `frozen_time` (any distance forward).
#[utoipa::path(post, path = "/v1/test_helpers/test_clocks/{id}/advance", tag = "TestClocks",
    params(("id" = String, Path)),
    request_body(content = TestClockAdvanceParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = TestHelpersTestClock)))]
async fn clock_advance(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<TestClockAdvanceParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .test_clocks()
            .advance(&api.call.ctx, &id, api.params)
            .await?,
    ))
}

/// List test clocks, newest first.
#[utoipa::path(get, path = "/v1/test_helpers/test_clocks", tag = "TestClocks",
    params(TestClockListParams), responses((status = 200, body = ListObject<TestHelpersTestClock>)))]
async fn clock_list(
    State(s): State<HttpState>,
    api: Api<TestClockListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s.app.test_clocks().list(&api.params).await?;
    Ok(Json(ListObject::new(
        "/v1/test_helpers/test_clocks",
        page.data,
        page.has_more,
    )))
}
