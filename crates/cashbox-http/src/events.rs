//! `/v1/events`.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use cashbox_core::event::{EventListParams, EventObject};

use crate::HttpState;
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::{Api, NoParams};
use crate::list::ListObject;

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(retrieve))
}

/// Retrieve an event.
#[utoipa::path(get, path = "/v1/events/{id}", tag = "Events",
    params(("id" = String, Path, description = "Event id")),
    responses((status = 200, body = EventObject), (status = 404, body = ErrorEnvelope)))]
async fn retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    _api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.app.events().retrieve(&id).await?))
}

/// List events, newest first.
#[utoipa::path(get, path = "/v1/events", tag = "Events",
    params(EventListParams),
    responses((status = 200, body = ListObject<EventObject>), (status = 400, body = ErrorEnvelope)))]
async fn list(
    State(s): State<HttpState>,
    api: Api<EventListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s.app.events().list(&api.params).await?;
    Ok(Json(ListObject::new(
        "/v1/events",
        page.data,
        page.has_more,
    )))
}
