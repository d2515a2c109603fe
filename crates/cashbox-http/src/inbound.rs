//! The processor's webhooks coming in: `POST /webhooks/stripe` (signed by Stripe, no API key),
//! and the log of what each did, `/v1/processor_events`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use cashbox_app::inbound::Received;
use cashbox_core::inbound::InboundListParams;

use crate::HttpState;
use crate::error::ApiResult;
use crate::extract::{Api, NoParams};
use crate::list::ListObject;
use crate::objects::ProcessorEvent;

/// The receiver, outside `/v1`: Stripe authenticates with its signature, not an API key.
pub fn receiver() -> axum::Router<HttpState> {
    axum::Router::new().route("/webhooks/stripe", post(receive_stripe))
}

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(event_list))
        .routes(routes!(event_retrieve))
}

/// Verifies and keeps the event, answers at once, and applies it in the background (serve's
/// recovery tick applies any left pending).
async fn receive_stripe(
    State(s): State<HttpState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let received = s.app.receive_stripe_event(signature, &body).await?;
    let (id, again) = match received {
        Received::New(id) => {
            s.app.apply_inbound_event_later(id.clone());
            (id, false)
        }
        Received::Again(id) => (id, true),
    };
    Ok(Json(
        json!({"received": true, "id": id, "duplicate": again}),
    ))
}

/// List the processor's events received, newest first, with how each was applied.
#[utoipa::path(get, path = "/v1/processor_events", tag = "Processor events",
    params(InboundListParams),
    responses((status = 200, body = ListObject<ProcessorEvent>)))]
async fn event_list(
    State(s): State<HttpState>,
    api: Api<InboundListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s.app.processor_events().list(&api.params).await?;
    Ok(Json(ListObject::new(
        "/v1/processor_events",
        page.data,
        page.has_more,
    )))
}

/// Retrieve one of the processor's events and its outcome.
#[utoipa::path(get, path = "/v1/processor_events/{id}", tag = "Processor events",
    params(("id" = String, Path)),
    responses((status = 200, body = ProcessorEvent)))]
async fn event_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    _api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.app.processor_events().retrieve(&id).await?))
}
