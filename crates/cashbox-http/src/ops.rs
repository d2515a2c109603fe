//! Operational endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document.

use std::sync::OnceLock;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::HttpState;

/// Latency buckets in seconds: the API answers in well under a millisecond to a few seconds.
const LATENCY_BUCKETS_SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full("cashbox_http_request_duration_seconds".into()),
                LATENCY_BUCKETS_SECONDS,
            )
            .expect("bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (tests embedding us): keep serving ours.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

#[derive(Serialize, ToSchema)]
struct Status {
    status: &'static str,
}

/// Liveness: the process is up.
#[utoipa::path(get, path = "/health", tag = "Operations", security(()),
    responses((status = 200, body = Status)))]
async fn health() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/ready", tag = "Operations", security(()),
    responses((status = 200, body = Status), (status = 503, body = Status)))]
async fn ready(State(s): State<HttpState>) -> Response {
    match s.app.store().ping().await {
        Ok(()) => Json(Status { status: "ready" }).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Status {
                    status: "database unavailable",
                }),
            )
                .into_response()
        }
    }
}

/// Prometheus metrics: request counts and latency histograms by route and status.
#[utoipa::path(get, path = "/metrics", tag = "Operations", security(()),
    responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics() -> Response {
    // How the fast transactions ended, read as they are now: a rise in fall-backs shows a
    // fast path that stopped applying.
    let fast = cashbox_store::fast_path_stats();
    for (kind, outcome, n) in [
        ("deferred", "committed", fast.deferred_committed),
        ("deferred", "conflict", fast.deferred_conflicts),
        ("buffered", "committed", fast.buffered_committed),
        ("buffered", "conflict", fast.buffered_conflicts),
        ("any", "failure_rerun", fast.failures_rerun),
        ("deferred", "not_deferrable", fast.not_deferrable),
    ] {
        metrics::counter!("cashbox_fast_transactions_total", "kind" => kind, "outcome" => outcome)
            .absolute(n);
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics_handle().render(),
    )
        .into_response()
}

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "Operations", security(()),
    responses((status = 200, content_type = "application/json", body = Object)))]
async fn openapi_json(State(s): State<HttpState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        s.openapi_json.as_str().to_owned(),
    )
        .into_response()
}
