//! `/v1/subscriptions`, `/v1/subscription_items`, `/v1/invoices`, `/v1/invoiceitems` and
//! `/v1/credit_notes`, as
//! Stripe's API reference describes them.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use cashbox_core::billing::credit_note::{CreditNoteCreateParams, CreditNoteListParams};
use cashbox_core::billing::invoice::{
    InvoiceCreateParams, InvoiceFinalizeParams, InvoiceItemCreateParams, InvoiceItemListParams,
    InvoiceItemUpdateParams, InvoiceLinesParams, InvoiceListParams, InvoicePayParams,
    InvoiceUpdateParams,
};
use cashbox_core::billing::invoice_payment::InvoicePaymentListParams;
use cashbox_core::billing::subscription::{
    PreviewParams, SubscriptionCancelParams, SubscriptionCreateParams,
    SubscriptionItemCreateParams, SubscriptionItemListParams, SubscriptionItemUpdateParams,
    SubscriptionListParams, SubscriptionResumeParams, SubscriptionUpdateParams,
};

use crate::HttpState;
use crate::error::ApiResult;
use crate::extract::{Api, NoParams};
use crate::list::ListObject;
use crate::objects::{
    CreditNote, Invoice, InvoicePayment, Invoiceitem, LineItem, Subscription, SubscriptionItem,
};
use cashbox_core::customer::DeletedObject;

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(subscription_create, subscription_list))
        .routes(routes!(
            subscription_retrieve,
            subscription_update,
            subscription_cancel
        ))
        .routes(routes!(subscription_resume))
        .routes(routes!(subscription_item_create, subscription_item_list))
        .routes(routes!(
            subscription_item_retrieve,
            subscription_item_update,
            subscription_item_delete
        ))
        .routes(routes!(invoice_create, invoice_list))
        .routes(routes!(invoice_upcoming))
        .routes(routes!(invoice_create_preview))
        .routes(routes!(invoice_retrieve, invoice_update, invoice_delete))
        .routes(routes!(invoice_lines))
        .routes(routes!(invoice_finalize))
        .routes(routes!(invoice_pay))
        .routes(routes!(invoice_void))
        .routes(routes!(invoice_mark_uncollectible))
        .routes(routes!(invoice_send))
        .routes(routes!(invoice_payment_list))
        .routes(routes!(invoice_payment_retrieve))
        .routes(routes!(invoiceitem_create, invoiceitem_list))
        .routes(routes!(
            invoiceitem_retrieve,
            invoiceitem_update,
            invoiceitem_delete
        ))
        .routes(routes!(credit_note_create, credit_note_list))
        .routes(routes!(credit_note_retrieve))
        .routes(routes!(credit_note_void))
}

type JsonResult = ApiResult<Json<Value>>;

/// Create a subscription: items, trial (`trial_period_days`, `trial_end`, `trial_from_plan`), `billing_cycle_anchor`, discounts, `payment_behavior`, `collection_method`.
#[utoipa::path(post, path = "/v1/subscriptions", tag = "Subscriptions",
    request_body(content = SubscriptionCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Subscription)))]
async fn subscription_create(
    State(s): State<HttpState>,
    api: Api<SubscriptionCreateParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .subscriptions()
            .create(&api.call.ctx, api.params, &api.call.expand)
            .await?,
    ))
}

/// List subscriptions (`customer`, `price`, `status` incl. `all` and `ended`, `test_clock`).
#[utoipa::path(get, path = "/v1/subscriptions", params(SubscriptionListParams), tag = "Subscriptions",
    responses((status = 200, body = ListObject<Subscription>)))]
async fn subscription_list(
    State(s): State<HttpState>,
    api: Api<SubscriptionListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s
        .app
        .subscriptions()
        .list(&api.params, &api.call.expand)
        .await?;
    Ok(Json(ListObject::new(
        "/v1/subscriptions",
        page.data,
        page.has_more,
    )))
}

/// Retrieve a subscription.
#[utoipa::path(get, path = "/v1/subscriptions/{id}", tag = "Subscriptions",
    params(("id" = String, Path)),
    responses((status = 200, body = Subscription)))]
async fn subscription_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .subscriptions()
            .retrieve(&id, &api.call.expand)
            .await?,
    ))
}

/// Update a subscription: items with `proration_behavior` and `proration_date`, `cancel_at_period_end`, `cancel_at`, `pause_collection`, `trial_end=now`, discounts.
#[utoipa::path(post, path = "/v1/subscriptions/{id}", tag = "Subscriptions",
    params(("id" = String, Path)),
    request_body(content = SubscriptionUpdateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Subscription)))]
async fn subscription_update(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<SubscriptionUpdateParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .subscriptions()
            .update(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// Cancel a subscription now (`invoice_now`, `prorate`).
#[utoipa::path(delete, path = "/v1/subscriptions/{id}", tag = "Subscriptions",
    params(("id" = String, Path)),
    request_body(content = SubscriptionCancelParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Subscription)))]
async fn subscription_cancel(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<SubscriptionCancelParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .subscriptions()
            .cancel(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// Resume a paused subscription with a new period from now.
#[utoipa::path(post, path = "/v1/subscriptions/{id}/resume", tag = "Subscriptions",
    params(("id" = String, Path)),
    request_body(content = SubscriptionResumeParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Subscription)))]
async fn subscription_resume(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<SubscriptionResumeParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .subscriptions()
            .resume(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// List a subscription's items (`subscription` is required).
#[utoipa::path(get, path = "/v1/subscription_items", params(SubscriptionItemListParams), tag = "Subscriptions",
    responses((status = 200, body = ListObject<SubscriptionItem>)))]
async fn subscription_item_list(
    State(s): State<HttpState>,
    api: Api<SubscriptionItemListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s
        .app
        .subscription_items()
        .list(&api.params, &api.call.expand)
        .await?;
    Ok(Json(ListObject::new(
        "/v1/subscription_items",
        page.data,
        page.has_more,
    )))
}

/// Retrieve a subscription item.
#[utoipa::path(get, path = "/v1/subscription_items/{id}", tag = "Subscriptions",
    params(("id" = String, Path)),
    responses((status = 200, body = SubscriptionItem)))]
async fn subscription_item_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .subscription_items()
            .retrieve(&id, &api.call.expand)
            .await?,
    ))
}

/// Create a draft invoice (`pending_invoice_items_behavior=include` takes the customer's pending items).
#[utoipa::path(post, path = "/v1/invoices", tag = "Invoices",
    request_body(content = InvoiceCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Invoice)))]
async fn invoice_create(State(s): State<HttpState>, api: Api<InvoiceCreateParams>) -> JsonResult {
    Ok(Json(
        s.app
            .invoices()
            .create(&api.call.ctx, api.params, &api.call.expand)
            .await?,
    ))
}

/// List invoices (`customer`, `subscription`, `status`, `collection_method`).
#[utoipa::path(get, path = "/v1/invoices", params(InvoiceListParams), tag = "Invoices",
    responses((status = 200, body = ListObject<Invoice>)))]
async fn invoice_list(
    State(s): State<HttpState>,
    api: Api<InvoiceListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s.app.invoices().list(&api.params, &api.call.expand).await?;
    Ok(Json(ListObject::new(
        "/v1/invoices",
        page.data,
        page.has_more,
    )))
}

/// List invoice payments (`invoice`, `payment[payment_intent]`, `status`): one per
/// PaymentIntent made to pay an invoice.
#[utoipa::path(get, path = "/v1/invoice_payments", params(InvoicePaymentListParams), tag = "Invoices",
    responses((status = 200, body = ListObject<InvoicePayment>)))]
async fn invoice_payment_list(
    State(s): State<HttpState>,
    api: Api<InvoicePaymentListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s
        .app
        .invoice_payments()
        .list(&api.params, &api.call.expand)
        .await?;
    Ok(Json(ListObject::new(
        "/v1/invoice_payments",
        page.data,
        page.has_more,
    )))
}

/// Retrieve an invoice payment.
#[utoipa::path(get, path = "/v1/invoice_payments/{id}", tag = "Invoices",
    params(("id" = String, Path)),
    responses((status = 200, body = InvoicePayment)))]
async fn invoice_payment_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .invoice_payments()
            .retrieve(&id, &api.call.expand)
            .await?,
    ))
}

/// The next invoice of a subscription, optionally with proposed `subscription_items`.
#[utoipa::path(get, path = "/v1/invoices/upcoming", params(PreviewParams), tag = "Invoices",
    responses((status = 200, body = Invoice)))]
async fn invoice_upcoming(State(s): State<HttpState>, api: Api<PreviewParams>) -> JsonResult {
    Ok(Json(
        s.app.subscriptions().preview_invoice(api.params).await?,
    ))
}

/// The next invoice of a subscription, optionally with proposed `subscription_details[items]`.
#[utoipa::path(post, path = "/v1/invoices/create_preview", tag = "Invoices",
    request_body(content = PreviewParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Invoice)))]
async fn invoice_create_preview(State(s): State<HttpState>, api: Api<PreviewParams>) -> JsonResult {
    Ok(Json(
        s.app.subscriptions().preview_invoice(api.params).await?,
    ))
}

/// Retrieve an invoice.
#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "Invoices",
    params(("id" = String, Path)),
    responses((status = 200, body = Invoice)))]
async fn invoice_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(
        s.app.invoices().retrieve(&id, &api.call.expand).await?,
    ))
}

/// Update an invoice (amount-changing fields only while draft).
#[utoipa::path(post, path = "/v1/invoices/{id}", tag = "Invoices",
    params(("id" = String, Path)),
    request_body(content = InvoiceUpdateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Invoice)))]
async fn invoice_update(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<InvoiceUpdateParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .invoices()
            .update(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// Delete a draft invoice.
#[utoipa::path(delete, path = "/v1/invoices/{id}", tag = "Invoices",
    params(("id" = String, Path)),
    responses((status = 200, body = Invoice)))]
async fn invoice_delete(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(s.app.invoices().delete(&api.call.ctx, &id).await?))
}

/// Finalize a draft: numbered, the customer's balance applied, open for payment.
#[utoipa::path(post, path = "/v1/invoices/{id}/finalize", tag = "Invoices",
    params(("id" = String, Path)),
    request_body(content = InvoiceFinalizeParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Invoice)))]
async fn invoice_finalize(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<InvoiceFinalizeParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .invoices()
            .finalize(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// Pay an invoice now (`payment_method`, `paid_out_of_band`).
#[utoipa::path(post, path = "/v1/invoices/{id}/pay", tag = "Invoices",
    params(("id" = String, Path)),
    request_body(content = InvoicePayParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Invoice)))]
async fn invoice_pay(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<InvoicePayParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .invoices()
            .pay(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// Void an open invoice.
#[utoipa::path(post, path = "/v1/invoices/{id}/void", tag = "Invoices",
    params(("id" = String, Path)),
    responses((status = 200, body = Invoice)))]
async fn invoice_void(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .invoices()
            .void(&api.call.ctx, &id, &api.call.expand)
            .await?,
    ))
}

/// Mark an open invoice uncollectible.
#[utoipa::path(post, path = "/v1/invoices/{id}/mark_uncollectible", tag = "Invoices",
    params(("id" = String, Path)),
    responses((status = 200, body = Invoice)))]
async fn invoice_mark_uncollectible(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .invoices()
            .mark_uncollectible(&api.call.ctx, &id, &api.call.expand)
            .await?,
    ))
}

/// Send an open `send_invoice` invoice (records `invoice.sent`).
#[utoipa::path(post, path = "/v1/invoices/{id}/send", tag = "Invoices",
    params(("id" = String, Path)),
    responses((status = 200, body = Invoice)))]
async fn invoice_send(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .invoices()
            .send(&api.call.ctx, &id, &api.call.expand)
            .await?,
    ))
}

/// Create an invoice item (`amount`, `price` and `quantity`, or `unit_amount_decimal`), pending or on a draft `invoice`.
#[utoipa::path(post, path = "/v1/invoiceitems", tag = "Invoices",
    request_body(content = InvoiceItemCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Invoiceitem)))]
async fn invoiceitem_create(
    State(s): State<HttpState>,
    api: Api<InvoiceItemCreateParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .invoice_items()
            .create(&api.call.ctx, api.params, &api.call.expand)
            .await?,
    ))
}

/// List invoice items (`customer`, `invoice`, `pending`).
#[utoipa::path(get, path = "/v1/invoiceitems", params(InvoiceItemListParams), tag = "Invoices",
    responses((status = 200, body = ListObject<Invoiceitem>)))]
async fn invoiceitem_list(
    State(s): State<HttpState>,
    api: Api<InvoiceItemListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s
        .app
        .invoice_items()
        .list(&api.params, &api.call.expand)
        .await?;
    Ok(Json(ListObject::new(
        "/v1/invoiceitems",
        page.data,
        page.has_more,
    )))
}

/// Retrieve an invoice item.
#[utoipa::path(get, path = "/v1/invoiceitems/{id}", tag = "Invoices",
    params(("id" = String, Path)),
    responses((status = 200, body = Invoiceitem)))]
async fn invoiceitem_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .invoice_items()
            .retrieve(&id, &api.call.expand)
            .await?,
    ))
}

/// Update a pending invoice item or one on a draft.
#[utoipa::path(post, path = "/v1/invoiceitems/{id}", tag = "Invoices",
    params(("id" = String, Path)),
    request_body(content = InvoiceItemUpdateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Invoiceitem)))]
async fn invoiceitem_update(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<InvoiceItemUpdateParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .invoice_items()
            .update(&api.call.ctx, &id, api.params, &api.call.expand)
            .await?,
    ))
}

/// Delete a pending invoice item or one on a draft.
#[utoipa::path(delete, path = "/v1/invoiceitems/{id}", tag = "Invoices",
    params(("id" = String, Path)),
    responses((status = 200, body = DeletedObject)))]
async fn invoiceitem_delete(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(
        s.app.invoice_items().delete(&api.call.ctx, &id).await?,
    ))
}

/// Issue a credit note for an open invoice (lowers what is due) or a paid one (refund, credit
/// to the customer's balance, or out of band).
#[utoipa::path(post, path = "/v1/credit_notes", tag = "CreditNotes",
    request_body(content = CreditNoteCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = CreditNote)))]
async fn credit_note_create(
    State(s): State<HttpState>,
    api: Api<CreditNoteCreateParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .credit_notes()
            .create(&api.call.ctx, api.params, &api.call.expand)
            .await?,
    ))
}

/// List credit notes (`customer`, `invoice`).
#[utoipa::path(get, path = "/v1/credit_notes", params(CreditNoteListParams), tag = "CreditNotes",
    responses((status = 200, body = ListObject<CreditNote>)))]
async fn credit_note_list(
    State(s): State<HttpState>,
    api: Api<CreditNoteListParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s
        .app
        .credit_notes()
        .list(&api.params, &api.call.expand)
        .await?;
    Ok(Json(ListObject::new(
        "/v1/credit_notes",
        page.data,
        page.has_more,
    )))
}

/// Retrieve a credit note.
#[utoipa::path(get, path = "/v1/credit_notes/{id}", tag = "CreditNotes",
    params(("id" = String, Path)), responses((status = 200, body = CreditNote)))]
async fn credit_note_retrieve(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(
        s.app.credit_notes().retrieve(&id, &api.call.expand).await?,
    ))
}

/// Void a credit note while its invoice is open.
#[utoipa::path(post, path = "/v1/credit_notes/{id}/void", tag = "CreditNotes",
    params(("id" = String, Path)), responses((status = 200, body = CreditNote)))]
async fn credit_note_void(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<NoParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .credit_notes()
            .void(&api.call.ctx, &id, &api.call.expand)
            .await?,
    ))
}

/// Add an item to a subscription (prorated as `proration_behavior` says).
#[utoipa::path(post, path = "/v1/subscription_items", tag = "Subscriptions",
    request_body(content = SubscriptionItemCreateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = SubscriptionItem)))]
async fn subscription_item_create(
    State(s): State<HttpState>,
    api: Api<SubscriptionItemCreateParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .subscription_items()
            .create(&api.call.ctx, api.params, &api.call.expand)
            .await?,
    ))
}

/// Change an item's price or quantity (prorated as `proration_behavior` says).
#[utoipa::path(post, path = "/v1/subscription_items/{id}", tag = "Subscriptions",
    params(("id" = String, Path)),
    request_body(content = SubscriptionItemUpdateParams, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = SubscriptionItem)))]
async fn subscription_item_update(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<SubscriptionItemUpdateParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .subscription_items()
            .update(&api.call.ctx, &id, api.params, false, &api.call.expand)
            .await?,
    ))
}

/// Remove an item from its subscription (credited as `proration_behavior` says).
#[utoipa::path(delete, path = "/v1/subscription_items/{id}", tag = "Subscriptions",
    params(("id" = String, Path)), responses((status = 200, body = DeletedObject)))]
async fn subscription_item_delete(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<SubscriptionItemUpdateParams>,
) -> JsonResult {
    Ok(Json(
        s.app
            .subscription_items()
            .update(&api.call.ctx, &id, api.params, true, &api.call.expand)
            .await?,
    ))
}

/// An invoice's lines.
#[utoipa::path(get, path = "/v1/invoices/{id}/lines", tag = "Invoices",
    params(("id" = String, Path), InvoiceLinesParams), responses((status = 200, body = ListObject<LineItem>)))]
async fn invoice_lines(
    State(s): State<HttpState>,
    Path(id): Path<String>,
    api: Api<InvoiceLinesParams>,
) -> ApiResult<Json<ListObject<Value>>> {
    let page = s.app.invoices().lines(&id, &api.params).await?;
    Ok(Json(ListObject::new(
        &format!("/v1/invoices/{id}/lines"),
        page.data,
        page.has_more,
    )))
}
