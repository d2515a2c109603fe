//! `/v1/customers`.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use cashbox_core::customer::{
    CustomerCreateParams, CustomerListParams, CustomerObject, CustomerUpdateParams, DeletedObject,
};

use crate::HttpState;
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::{Api, NoParams};
use crate::list::ListObject;

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(retrieve, update, delete))
}

/// Create a customer.
#[utoipa::path(post, path = "/v1/customers", tag = "Customers",
    request_body(content = CustomerCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = CustomerObject), (status = 400, body = ErrorEnvelope)))]
async fn create(
    State(s): State<HttpState>,
    api: Api<CustomerCreateParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .customers()
            .create(&api.call.ctx, api.params, &api.call.expand)
            .await?,
    ))
}

/// What retrieving a customer answers: the customer, or, once deleted, the deleted object.
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // a schema only: the handler renders the application's JSON
enum CustomerOrDeleted {
    Customer(Box<CustomerObject>),
    Deleted(DeletedObject),
}

/// Retrieve a customer; a deleted one answers `{"id", "object", "deleted": true}`.
#[utoipa::path(get, path = "/v1/customers/{id}", tag = "Customers",
    params(("id" = String, Path, description = "Customer id")),
    responses((status = 200, body = CustomerOrDeleted), (status = 404, body = ErrorEnvelope)))]
async fn retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app.customers().retrieve(&id, &api.call.expand).await?,
    ))
}

/// Update a customer. An empty value (`description=`) clears a field; `metadata[key]=` deletes
/// one key.
#[utoipa::path(post, path = "/v1/customers/{id}", tag = "Customers",
    params(("id" = String, Path, description = "Customer id")),
    request_body(content = CustomerUpdateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = CustomerObject), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn update(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<CustomerUpdateParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.app
            .customers()
            .update(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// Delete a customer. Its personal data is erased; the id remains as a tombstone.
#[utoipa::path(delete, path = "/v1/customers/{id}", tag = "Customers",
    params(("id" = String, Path, description = "Customer id")),
    responses((status = 200, body = DeletedObject), (status = 404, body = ErrorEnvelope)))]
async fn delete(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> ApiResult<Json<Value>> {
    Ok(Json(s.app.customers().delete(&api.call.ctx, &id).await?))
}

/// List customers, newest first.
#[utoipa::path(get, path = "/v1/customers", tag = "Customers",
    params(CustomerListParams),
    responses((status = 200, body = ListObject<CustomerObject>), (status = 400, body = ErrorEnvelope)))]
async fn list(
    State(s): State<HttpState>,
    api: Api<CustomerListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s
        .app
        .customers()
        .list(&api.params, &api.call.expand)
        .await?;
    Ok(Json(ListObject::new(
        "/v1/customers",
        page.data,
        page.has_more,
    )))
}
