//! `/v1/payment_methods`, `/v1/setup_intents`, `/v1/payment_intents`, `/v1/charges`,
//! `/v1/refunds`, `/v1/disputes`. Request bodies follow Stripe's API reference for these resources.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use cashbox_core::dispute::{DisputeListParams, DisputeUpdateParams};
use cashbox_core::payments::{
    AuthenticateParams, ChargeListParams, IntentRetrieveParams, PaymentIntentCancelParams,
    PaymentIntentCaptureParams, PaymentIntentConfirmParams, PaymentIntentCreateParams,
    PaymentIntentListParams, PaymentIntentUpdateParams, PaymentMethodAttachParams,
    PaymentMethodCreateParams, PaymentMethodListParams, PaymentMethodUpdateParams,
    RefundCreateParams, RefundListParams, RefundUpdateParams, SetupIntentCancelParams,
    SetupIntentConfirmParams, SetupIntentCreateParams, SetupIntentListParams,
};

use crate::HttpState;
use crate::error::{ApiError, ApiResult, ErrorEnvelope, ErrorType};
use crate::extract::{Api, NoParams};
use crate::list::ListObject;
use crate::objects::{Charge, Dispute, PaymentIntent, PaymentMethod, Refund, SetupIntent};
use axum::http::StatusCode;

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(pm_create, pm_list))
        .routes(routes!(pm_retrieve, pm_update))
        .routes(routes!(pm_attach))
        .routes(routes!(pm_detach))
        .routes(routes!(customer_pm_list))
        .routes(routes!(seti_create, seti_list))
        .routes(routes!(seti_retrieve))
        .routes(routes!(seti_confirm))
        .routes(routes!(seti_cancel))
        .routes(routes!(seti_authenticate))
        .routes(routes!(pi_create, pi_list))
        .routes(routes!(pi_retrieve, pi_update))
        .routes(routes!(pi_confirm))
        .routes(routes!(pi_capture))
        .routes(routes!(pi_cancel))
        .routes(routes!(pi_authenticate))
        .routes(routes!(charge_list))
        .routes(routes!(charge_retrieve))
        .routes(routes!(refund_create, refund_list))
        .routes(routes!(refund_retrieve, refund_update))
        .routes(routes!(refund_cancel))
        .routes(routes!(dispute_list))
        .routes(routes!(dispute_retrieve, dispute_update))
        .routes(routes!(dispute_close))
}

type JsonResult = ApiResult<Json<Value>>;
type ListResult = ApiResult<Json<ListObject<Value>>>;

fn list(url: &str, page: cashbox_app::events::ListResult) -> Json<ListObject<Value>> {
    Json(ListObject::new(url, page.data, page.has_more))
}

// PaymentMethods ---------------------------------------------------------------------------

/// Create a card PaymentMethod from `card[token]` (`tok_visa`) or, in the sandbox, from a raw
/// test card (`card[number]`, `card[exp_month]`, `card[exp_year]`, `card[cvc]`). The number and
/// CVC are never stored.
#[utoipa::path(post, path = "/v1/payment_methods", tag = "PaymentMethods",
    request_body(content = PaymentMethodCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = PaymentMethod), (status = 400, body = ErrorEnvelope), (status = 402, body = ErrorEnvelope)))]
async fn pm_create(State(s): State<HttpState>, api: Api<PaymentMethodCreateParams>) -> JsonResult {
    // A publishable key is public: it may make a card, never attach one to a customer.
    if api.params.customer.is_some() && api.client_auth(None) != cashbox_app::ClientAuth::Secret {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ErrorType::PermissionError,
            "A publishable API key cannot attach a PaymentMethod to a customer; attach it from your server.",
        )
        .param("customer"));
    }
    Ok(Json(
        s.app
            .payment_methods()
            .create(&api.call.ctx, api.params, &api.call.expand)
            .await?,
    ))
}

/// Retrieve a PaymentMethod.
#[utoipa::path(get, path = "/v1/payment_methods/{id}", tag = "PaymentMethods",
    params(("id" = String, Path)), responses((status = 200, body = PaymentMethod), (status = 404, body = ErrorEnvelope)))]
async fn pm_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .payment_methods()
            .retrieve(&id, &api.call.expand)
            .await?,
    ))
}

/// Update billing details, expiry or metadata.
#[utoipa::path(post, path = "/v1/payment_methods/{id}", tag = "PaymentMethods",
    params(("id" = String, Path)), request_body(content = PaymentMethodUpdateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = PaymentMethod), (status = 400, body = ErrorEnvelope)))]
async fn pm_update(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<PaymentMethodUpdateParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .payment_methods()
            .update(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// Attach to a customer. The processor checks the card first: a declining card is a 402.
#[utoipa::path(post, path = "/v1/payment_methods/{id}/attach", tag = "PaymentMethods",
    params(("id" = String, Path)), request_body(content = PaymentMethodAttachParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = PaymentMethod), (status = 402, body = ErrorEnvelope)))]
async fn pm_attach(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<PaymentMethodAttachParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .payment_methods()
            .attach(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// Detach from its customer (and stop being the customer's default).
#[utoipa::path(post, path = "/v1/payment_methods/{id}/detach", tag = "PaymentMethods",
    params(("id" = String, Path)), responses((status = 200, body = PaymentMethod), (status = 400, body = ErrorEnvelope)))]
async fn pm_detach(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .payment_methods()
            .detach(&api.call.ctx, &id, &api.call.expand)
            .await?,
    ))
}

/// List PaymentMethods, optionally a customer's.
#[utoipa::path(get, path = "/v1/payment_methods", tag = "PaymentMethods",
    params(PaymentMethodListParams),
    responses((status = 200, body = ListObject<PaymentMethod>)))]
async fn pm_list(State(s): State<HttpState>, api: Api<PaymentMethodListParams>) -> ListResult {
    Ok(list(
        "/v1/payment_methods",
        s.app
            .payment_methods()
            .list(&api.params, &api.call.expand)
            .await?,
    ))
}

/// List a customer's PaymentMethods.
#[utoipa::path(get, path = "/v1/customers/{id}/payment_methods", tag = "PaymentMethods",
    params(("id" = String, Path), PaymentMethodListParams),
    responses((status = 200, body = ListObject<PaymentMethod>)))]
async fn customer_pm_list(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    mut api: Api<PaymentMethodListParams>,
) -> ListResult {
    s.app.customers().retrieve(&id, &[]).await?;
    api.params.customer = Some(id.clone());
    let page = s
        .app
        .payment_methods()
        .list(&api.params, &api.call.expand)
        .await?;
    Ok(list(&format!("/v1/customers/{id}/payment_methods"), page))
}

// SetupIntents -----------------------------------------------------------------------------

/// Create a SetupIntent (with `confirm=true`, confirm it at once).
#[utoipa::path(post, path = "/v1/setup_intents", tag = "SetupIntents",
    request_body(content = SetupIntentCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = SetupIntent), (status = 402, body = ErrorEnvelope)))]
async fn seti_create(State(s): State<HttpState>, api: Api<SetupIntentCreateParams>) -> JsonResult {
    Ok(Json(
        s.app
            .setup_intents()
            .create(&api.call.ctx, api.params, &api.call.expand)
            .await?,
    ))
}

/// Retrieve a SetupIntent (a publishable key needs `client_secret`).
#[utoipa::path(get, path = "/v1/setup_intents/{id}", tag = "SetupIntents",
    params(("id" = String, Path), IntentRetrieveParams), responses((status = 200, body = SetupIntent)))]
async fn seti_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<IntentRetrieveParams>,
) -> JsonResult {
    let auth = api.client_auth(api.params.client_secret.as_deref());
    Ok(Json(
        s.app
            .setup_intents()
            .retrieve(&id, auth, &api.call.expand)
            .await?,
    ))
}

/// Confirm a SetupIntent.
#[utoipa::path(post, path = "/v1/setup_intents/{id}/confirm", tag = "SetupIntents",
    params(("id" = String, Path)), request_body(content = SetupIntentConfirmParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = SetupIntent), (status = 402, body = ErrorEnvelope)))]
async fn seti_confirm(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<SetupIntentConfirmParams>,
) -> JsonResult {
    let secret = api.params.client_secret.clone();
    let auth = api.client_auth(secret.as_deref());
    Ok(Json(
        s.app
            .setup_intents()
            .confirm(&api.call.ctx, &id, api.params, auth, &api.call.expand)
            .await?,
    ))
}

/// Cancel a SetupIntent.
#[utoipa::path(post, path = "/v1/setup_intents/{id}/cancel", tag = "SetupIntents",
    params(("id" = String, Path)), request_body(content = SetupIntentCancelParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = SetupIntent)))]
async fn seti_cancel(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<SetupIntentCancelParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .setup_intents()
            .cancel(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// Sandbox: complete the authentication a SetupIntent asks for (`success=true` or `false`),
/// as the hosted page does.
#[utoipa::path(post, path = "/v1/setup_intents/{id}/_authenticate", tag = "SetupIntents",
    params(("id" = String, Path)), request_body(content = AuthenticateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = SetupIntent)))]
async fn seti_authenticate(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<AuthenticateParams>,
) -> JsonResult {
    let auth = api.client_auth(api.params.client_secret.as_deref());
    let success = api.params.success.unwrap_or(true);
    Ok(Json(
        s.app
            .setup_intents()
            .authenticate(&api.call.ctx, &id, auth, success)
            .await?,
    ))
}

/// List SetupIntents.
#[utoipa::path(get, path = "/v1/setup_intents", tag = "SetupIntents",
    params(SetupIntentListParams),
    responses((status = 200, body = ListObject<SetupIntent>)))]
async fn seti_list(State(s): State<HttpState>, api: Api<SetupIntentListParams>) -> ListResult {
    Ok(list(
        "/v1/setup_intents",
        s.app
            .setup_intents()
            .list(&api.params, &api.call.expand)
            .await?,
    ))
}

// PaymentIntents ---------------------------------------------------------------------------

/// Create a PaymentIntent (with `confirm=true`, confirm it at once; a decline is a 402
/// `card_error` carrying the PaymentIntent).
#[utoipa::path(post, path = "/v1/payment_intents", tag = "PaymentIntents",
    request_body(content = PaymentIntentCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = PaymentIntent), (status = 400, body = ErrorEnvelope), (status = 402, body = ErrorEnvelope)))]
async fn pi_create(State(s): State<HttpState>, api: Api<PaymentIntentCreateParams>) -> JsonResult {
    Ok(Json(
        s.app
            .payment_intents()
            .create(&api.call.ctx, api.params, &api.call.expand)
            .await?,
    ))
}

/// Retrieve a PaymentIntent (a publishable key needs `client_secret`).
#[utoipa::path(get, path = "/v1/payment_intents/{id}", tag = "PaymentIntents",
    params(("id" = String, Path), IntentRetrieveParams), responses((status = 200, body = PaymentIntent)))]
async fn pi_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<IntentRetrieveParams>,
) -> JsonResult {
    let auth = api.client_auth(api.params.client_secret.as_deref());
    Ok(Json(
        s.app
            .payment_intents()
            .retrieve(&id, auth, &api.call.expand)
            .await?,
    ))
}

/// Update a PaymentIntent that is not yet processing.
#[utoipa::path(post, path = "/v1/payment_intents/{id}", tag = "PaymentIntents",
    params(("id" = String, Path)), request_body(content = PaymentIntentUpdateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = PaymentIntent), (status = 400, body = ErrorEnvelope)))]
async fn pi_update(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<PaymentIntentUpdateParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .payment_intents()
            .update(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// Confirm a PaymentIntent.
#[utoipa::path(post, path = "/v1/payment_intents/{id}/confirm", tag = "PaymentIntents",
    params(("id" = String, Path)), request_body(content = PaymentIntentConfirmParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = PaymentIntent), (status = 402, body = ErrorEnvelope)))]
async fn pi_confirm(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<PaymentIntentConfirmParams>,
) -> JsonResult {
    let secret = api.params.client_secret.clone();
    let auth = api.client_auth(secret.as_deref());
    Ok(Json(
        s.app
            .payment_intents()
            .confirm(&api.call.ctx, &id, api.params, auth, &api.call.expand)
            .await?,
    ))
}

/// Capture an authorized PaymentIntent, in full or in part (`amount_to_capture`).
#[utoipa::path(post, path = "/v1/payment_intents/{id}/capture", tag = "PaymentIntents",
    params(("id" = String, Path)), request_body(content = PaymentIntentCaptureParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = PaymentIntent), (status = 400, body = ErrorEnvelope)))]
async fn pi_capture(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<PaymentIntentCaptureParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .payment_intents()
            .capture(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// Cancel a PaymentIntent (an uncaptured authorization is released).
#[utoipa::path(post, path = "/v1/payment_intents/{id}/cancel", tag = "PaymentIntents",
    params(("id" = String, Path)), request_body(content = PaymentIntentCancelParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = PaymentIntent), (status = 400, body = ErrorEnvelope)))]
async fn pi_cancel(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<PaymentIntentCancelParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .payment_intents()
            .cancel(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// Sandbox: complete the 3-D Secure step a PaymentIntent asks for (`success=true` or `false`),
/// as the hosted page does. Compatible with localstripe's endpoint.
#[utoipa::path(post, path = "/v1/payment_intents/{id}/_authenticate", tag = "PaymentIntents",
    params(("id" = String, Path)), request_body(content = AuthenticateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = PaymentIntent)))]
async fn pi_authenticate(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<AuthenticateParams>,
) -> JsonResult {
    let auth = api.client_auth(api.params.client_secret.as_deref());
    let success = api.params.success.unwrap_or(true);
    Ok(Json(
        s.app
            .payment_intents()
            .authenticate(&api.call.ctx, &id, auth, success)
            .await?,
    ))
}

/// List PaymentIntents, optionally a customer's.
#[utoipa::path(get, path = "/v1/payment_intents", tag = "PaymentIntents",
    params(PaymentIntentListParams),
    responses((status = 200, body = ListObject<PaymentIntent>)))]
async fn pi_list(State(s): State<HttpState>, api: Api<PaymentIntentListParams>) -> ListResult {
    Ok(list(
        "/v1/payment_intents",
        s.app
            .payment_intents()
            .list(&api.params, &api.call.expand)
            .await?,
    ))
}

// Charges and refunds ----------------------------------------------------------------------

/// Retrieve a charge.
#[utoipa::path(get, path = "/v1/charges/{id}", tag = "Charges",
    params(("id" = String, Path)), responses((status = 200, body = Charge), (status = 404, body = ErrorEnvelope)))]
async fn charge_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(s.app.charges().retrieve(&id, &api.call.expand).await?))
}

/// List charges, by customer or PaymentIntent.
#[utoipa::path(get, path = "/v1/charges", tag = "Charges",
    params(ChargeListParams),
    responses((status = 200, body = ListObject<Charge>)))]
async fn charge_list(State(s): State<HttpState>, api: Api<ChargeListParams>) -> ListResult {
    Ok(list(
        "/v1/charges",
        s.app.charges().list(&api.params, &api.call.expand).await?,
    ))
}

/// Refund a charge or a PaymentIntent's charge, in full or in part.
#[utoipa::path(post, path = "/v1/refunds", tag = "Refunds",
    request_body(content = RefundCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Refund), (status = 400, body = ErrorEnvelope)))]
async fn refund_create(State(s): State<HttpState>, api: Api<RefundCreateParams>) -> JsonResult {
    Ok(Json(
        s.app
            .refunds()
            .create(&api.call.ctx, api.params, &api.call.expand)
            .await?,
    ))
}

/// Retrieve a refund.
#[utoipa::path(get, path = "/v1/refunds/{id}", tag = "Refunds",
    params(("id" = String, Path)), responses((status = 200, body = Refund), (status = 404, body = ErrorEnvelope)))]
async fn refund_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(s.app.refunds().retrieve(&id, &api.call.expand).await?))
}

/// Update a refund's metadata.
#[utoipa::path(post, path = "/v1/refunds/{id}", tag = "Refunds",
    params(("id" = String, Path)), request_body(content = RefundUpdateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Refund)))]
async fn refund_update(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<RefundUpdateParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .refunds()
            .update(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// Cancel a refund that awaits action (Stripe allows no other).
#[utoipa::path(post, path = "/v1/refunds/{id}/cancel", tag = "Refunds",
    params(("id" = String, Path)), responses((status = 200, body = Refund), (status = 400, body = ErrorEnvelope)))]
async fn refund_cancel(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(s.app.refunds().cancel(&api.call.ctx, &id).await?))
}

/// List refunds, by charge or PaymentIntent.
#[utoipa::path(get, path = "/v1/refunds", tag = "Refunds",
    params(RefundListParams),
    responses((status = 200, body = ListObject<Refund>)))]
async fn refund_list(State(s): State<HttpState>, api: Api<RefundListParams>) -> ListResult {
    Ok(list(
        "/v1/refunds",
        s.app.refunds().list(&api.params, &api.call.expand).await?,
    ))
}

// Disputes ---------------------------------------------------------------------------------

/// List disputes, newest first, by charge or PaymentIntent.
#[utoipa::path(get, path = "/v1/disputes", tag = "Disputes",
    params(DisputeListParams),
    responses((status = 200, body = ListObject<Dispute>)))]
async fn dispute_list(State(s): State<HttpState>, api: Api<DisputeListParams>) -> ListResult {
    Ok(list(
        "/v1/disputes",
        s.app.disputes().list(&api.params, &api.call.expand).await?,
    ))
}

/// Retrieve a dispute.
#[utoipa::path(get, path = "/v1/disputes/{id}", tag = "Disputes",
    params(("id" = String, Path)), responses((status = 200, body = Dispute), (status = 404, body = ErrorEnvelope)))]
async fn dispute_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(
        s.app.disputes().retrieve(&id, &api.call.expand).await?,
    ))
}

/// Stage or submit evidence (`submit=false` stages it), and update metadata. On the sandbox,
/// `evidence[uncategorized_text]=winning_evidence` or `losing_evidence` decides a submitted
/// dispute at once, as in Stripe's test mode.
#[utoipa::path(post, path = "/v1/disputes/{id}", tag = "Disputes",
    params(("id" = String, Path)), request_body(content = DisputeUpdateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Dispute), (status = 400, body = ErrorEnvelope)))]
async fn dispute_update(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<DisputeUpdateParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .disputes()
            .update(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// Accept a dispute: it is lost, and a one-time purchase's grants are taken back.
#[utoipa::path(post, path = "/v1/disputes/{id}/close", tag = "Disputes",
    params(("id" = String, Path)), responses((status = 200, body = Dispute), (status = 400, body = ErrorEnvelope)))]
async fn dispute_close(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .disputes()
            .close(&api.call.ctx, &id, &api.call.expand)
            .await?,
    ))
}
