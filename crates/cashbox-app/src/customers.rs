//! Customers: create, retrieve, update, delete, list.

use cashbox_core::ParamError;
use cashbox_core::billing::invoice::{Invoice, InvoiceCustomer, InvoiceStatus};
use cashbox_core::clock::TestClock;
use cashbox_core::crypto::Compressed;
use cashbox_core::currency::Currency;
use cashbox_core::customer::{
    Customer, CustomerCreateParams, CustomerListParams, CustomerPrivate, CustomerUpdateParams,
    DeletedObject, ID_PREFIX, InvoiceSettingsParam,
};
use cashbox_core::event::previous_attributes;
use cashbox_core::id::{has_prefix, new_id};
use cashbox_core::payments::PaymentMethod;
use cashbox_store::{CustomerFilter, CustomerRow, DocTable, SealedColumn, Tx};
use serde_json::Value;

use crate::events::ListResult;
use crate::expand::Reader;
use crate::{App, AppError, AppResult, RequestCtx};

/// Domain separation for the email blind index.
const EMAIL_INDEX_DOMAIN: &str = "customers.email";

impl App {
    pub(crate) fn seal_customer(&self, c: &Customer) -> CustomerRow {
        let plain = Compressed::of_json(&c.private).expect("customer data always serializes");
        CustomerRow {
            id: c.id.clone(),
            created: c.created,
            deleted: false,
            email_bidx: c
                .private
                .email
                .as_deref()
                .map(|e| self.keys().blind_index(EMAIL_INDEX_DOMAIN, e)),
            sealed: Some(
                self.keys()
                    .seal_compressed(&SealedColumn::Customers.aad(&c.id), &plain),
            ),
            balance: c.balance,
            currency: c.currency.map(Currency::code),
            default_payment_method: c.default_payment_method.clone(),
            delinquent: c.delinquent,
            invoice_prefix: c.invoice_prefix.clone(),
            next_invoice_sequence: c.next_invoice_sequence,
            test_clock: c.test_clock.clone(),
            search_fp: Some(self.search_fp(&cashbox_core::search::Searchable::search_entry(c))),
        }
    }

    /// A live customer's email (opened from its sealed details), or `None`.
    pub(crate) async fn customer_email(&self, id: &str) -> AppResult<Option<String>> {
        let Some(row) = self.store().customer(id).await? else {
            return Ok(None);
        };
        if row.deleted {
            return Ok(None);
        }
        Ok(self.open_customer(row)?.private.email)
    }

    pub(crate) fn open_customer(&self, r: CustomerRow) -> AppResult<Customer> {
        let private: CustomerPrivate = match &r.sealed {
            Some(sealed) => {
                let plain = self
                    .keys()
                    .open(&SealedColumn::Customers.aad(&r.id), sealed)?;
                cashbox_core::json::from_bytes(&plain)
                    .map_err(|e| AppError::Corrupt(format!("customer {}: {e}", r.id)))?
            }
            None => CustomerPrivate::default(),
        };
        let currency = r
            .currency
            .as_deref()
            .map(|c| Currency::parse("currency", c))
            .transpose()
            .map_err(|e| AppError::Corrupt(format!("customer {}: {}", r.id, e.message)))?;
        Ok(Customer {
            id: r.id,
            created: r.created,
            balance: r.balance,
            currency,
            default_payment_method: r.default_payment_method,
            delinquent: r.delinquent,
            invoice_prefix: r.invoice_prefix,
            next_invoice_sequence: r.next_invoice_sequence,
            test_clock: r.test_clock,
            private,
        })
    }

    /// A stored customer as the API shows it: deleted customers show as `deleted: true`.
    pub(crate) fn render_customer_row(&self, r: CustomerRow) -> AppResult<Value> {
        if r.deleted {
            return Ok(serde_json::to_value(DeletedObject::customer(&r.id)).expect("serializes"));
        }
        Ok(self.open_customer(r)?.to_json())
    }

    /// A default payment method must be one of the customer's own, as Stripe requires.
    fn default_not_attached(id: &str) -> AppError {
        ParamError::invalid(
            "invoice_settings[default_payment_method]",
            format!(
                "The customer does not have a payment method with the ID {id}. The payment method must be attached to the customer."
            ),
        )
        .into()
    }

    /// Unsets a customer's default payment method when that method is detached.
    pub(crate) async fn clear_default_payment_method(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        customer_id: &str,
        pm_id: &str,
    ) -> AppResult<()> {
        let Some(row) = tx.customer_for_update(customer_id).await? else {
            return Ok(());
        };
        if row.deleted || row.default_payment_method.as_deref() != Some(pm_id) {
            return Ok(());
        }
        let before = self.open_customer(row)?;
        let mut after = before.clone();
        after.default_payment_method = None;
        tx.update_customer(&self.seal_customer(&after)).await?;
        let object = after.to_json();
        let previous = previous_attributes(&before.to_json(), &object);
        self.record_event(tx, ctx, "customer.updated", &object, previous)
            .await
    }

    async fn customer_row(&self, id: &str) -> AppResult<CustomerRow> {
        if !has_prefix(id, ID_PREFIX) {
            return Err(AppError::not_found("customer", id));
        }
        self.store()
            .customer(id)
            .await?
            .ok_or_else(|| AppError::not_found("customer", id))
    }

    /// The customer's draft invoices show its details as they are now (Stripe's `customer_email`
    /// and the rest follow the customer until an invoice is finalized). Nothing is read when
    /// the change leaves them as they were (a new default card, metadata).
    async fn drafts_follow(&self, tx: &mut Tx, before: &Customer, c: &Customer) -> AppResult<()> {
        let details = InvoiceCustomer::of(&c.private);
        if details == InvoiceCustomer::of(&before.private) {
            return Ok(());
        }
        for row in tx
            .docs_of_customer(DocTable::Invoices, &c.id, &["draft"])
            .await?
        {
            let mut inv: Invoice = self.load_for_update(tx, &row.id).await?;
            if inv.status == InvoiceStatus::Draft && inv.customer_details != details {
                inv.customer_details = details.clone();
                self.save_invoice(tx, &inv).await?;
            }
        }
        Ok(())
    }

    /// Deletes a locked, live customer in `tx`: its personal data goes, its subscriptions are
    /// canceled at once and its payment methods detached (as in Stripe), and
    /// `customer.deleted` is recorded.
    pub(crate) async fn delete_customer_in(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        row: CustomerRow,
    ) -> AppResult<()> {
        let id = row.id.clone();
        // What checks keep in memory about the customer is stale from here.
        tx.bump_customer_version(&id).await?;
        let customer = self.open_customer(row.clone())?;
        let tombstone = CustomerRow {
            deleted: true,
            sealed: None,
            email_bidx: None,
            // Being deleted marks it for indexing: the indexer takes it out.
            search_fp: None,
            ..row
        };
        tx.update_customer(&tombstone).await?;
        let now = self.now();
        for row in tx.docs_by_customer(DocTable::Subscriptions, &id).await? {
            let mut sub: cashbox_core::billing::subscription::Subscription = self.open_doc(&row)?;
            if sub.status.is_terminal() {
                continue;
            }
            let at = match &sub.test_clock {
                Some(_) => self.time_of(tx, sub.test_clock.as_deref()).await?,
                None => now,
            };
            sub.cancel(at, "cancellation_requested")?;
            self.save_subscription(tx, &sub).await?;
            self.record_event(
                tx,
                ctx,
                "customer.subscription.deleted",
                &self.render_subscription(&sub),
                None,
            )
            .await?;
        }
        for row in tx.docs_by_customer(DocTable::PaymentMethods, &id).await? {
            let mut pm: PaymentMethod = self.open_doc(&row)?;
            pm.customer = None;
            self.save_doc(tx, &pm).await?;
            self.record_event(tx, ctx, "payment_method.detached", &pm.to_json(), None)
                .await?;
        }
        self.record_event(tx, ctx, "customer.deleted", &customer.to_json(), None)
            .await
    }

    /// The blind index of an email under the primary key, for re-indexing during rotation.
    pub(crate) fn email_index(&self, email: &str) -> Vec<u8> {
        self.keys().blind_index(EMAIL_INDEX_DOMAIN, email)
    }
}

crate::service!(
    Customers,
    customers,
    "Customers: create, retrieve, update, delete, list."
);

impl Customers<'_> {
    pub async fn create(
        &self,
        ctx: &RequestCtx,
        mut params: CustomerCreateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let named = params.payment_method.clone();
        self.mirror_param(&mut params.payment_method).await?;
        if let (Some(named), Some(settings)) = (named, params.invoice_settings.as_mut())
            && settings.default_payment_method.as_ref() == Some(&Some(named))
        {
            settings.default_payment_method = Some(params.payment_method.clone());
        }
        let attach = params.payment_method.clone();
        if let Some(default) = InvoiceSettingsParam::requested_default(&params.invoice_settings)
            && attach.as_deref() != Some(default)
        {
            return Err(App::default_not_attached(default));
        }
        let mut customer = Customer::create(new_id(ID_PREFIX), self.now(), params)?;
        // A test id (`pm_card_visa`) makes a new PaymentMethod, as in Stripe's test mode.
        let test_pm = match &attach {
            Some(pm_id) => self.test_payment_method(pm_id, "payment_method")?,
            None => None,
        };
        if let Some(pm) = &test_pm {
            self.verify_for_attach(pm, &customer.id, Some(&customer))
                .await?;
            if customer.default_payment_method == attach {
                customer.default_payment_method = Some(pm.id.clone());
            }
        }
        let pm = match &attach {
            Some(_) if test_pm.is_some() => test_pm.as_ref().map(|pm| pm.id.clone()),
            Some(pm_id) => {
                let pm: PaymentMethod = self.load(pm_id).await.map_err(|e| match e {
                    AppError::NotFound { .. } => AppError::MissingReference {
                        object: "PaymentMethod",
                        id: pm_id.clone(),
                        param: "payment_method".into(),
                    },
                    other => other,
                })?;
                self.verify_for_attach(&pm, &customer.id, Some(&customer))
                    .await?;
                Some(pm.id)
            }
            None => None,
        };
        let row = self.seal_customer(&customer);
        let object = customer.to_json();

        let mut tx = self.store().begin().await?;
        if let Some(clock) = &customer.test_clock {
            let found: Option<TestClock> = self.find_for_update(&mut tx, clock).await?;
            if found.is_none() {
                return Err(AppError::MissingReference {
                    object: "test_clock",
                    id: clock.clone(),
                    param: "test_clock".into(),
                });
            }
        }
        tx.insert_customer(&row).await?;
        self.record_event(&mut tx, ctx, "customer.created", &object, None)
            .await?;
        if let Some(pm) = &test_pm {
            self.insert_doc(&mut tx, pm).await?;
        }
        if let Some(pm_id) = pm {
            let mut pm: PaymentMethod = self.load_for_update(&mut tx, &pm_id).await?;
            if pm.customer.is_some() {
                return Err(ParamError::new(
                    "payment_method",
                    "payment_method_unexpected_state",
                    "The payment method you provided has already been attached to a customer.",
                )
                .into());
            }
            self.attach_in(&mut tx, ctx, &mut pm, &customer.id).await?;
            self.save_doc(&mut tx, &pm).await?;
        }
        self.finish(tx, ctx, object, expand).await
    }

    pub async fn retrieve(&self, id: &str, expand: &[Vec<String>]) -> AppResult<Value> {
        let row = self.customer_row(id).await?;
        let deleted = row.deleted;
        let mut object = self.render_customer_row(row)?;
        if !deleted {
            self.expand(&mut Reader::Store(self.store()), &mut object, expand)
                .await?;
        }
        Ok(object)
    }

    pub async fn update(
        &self,
        ctx: &RequestCtx,
        id: &str,
        mut params: CustomerUpdateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        if !has_prefix(id, ID_PREFIX) {
            return Err(AppError::not_found("customer", id));
        }
        if let Some(Some(default)) = params
            .invoice_settings
            .as_mut()
            .and_then(|s| s.default_payment_method.as_mut())
        {
            self.mirror_foreign_card(default).await?;
        }
        let new_default =
            InvoiceSettingsParam::requested_default(&params.invoice_settings).map(str::to_string);
        let mut tx = self.store().begin().await?;
        if let Some(pm_id) = &new_default {
            let pm = self
                .find_for_update::<PaymentMethod>(&mut tx, pm_id)
                .await?;
            if pm.and_then(|pm| pm.customer).as_deref() != Some(id) {
                return Err(App::default_not_attached(pm_id));
            }
        }
        let row = tx
            .customer_for_update(id)
            .await?
            .filter(|r| !r.deleted)
            .ok_or_else(|| AppError::not_found("customer", id))?;
        let before = self.open_customer(row)?;
        let after = before.updated(params)?;
        let object = after.to_json();
        let new_payment_method = after.default_payment_method.is_some()
            && after.default_payment_method != before.default_payment_method;
        if after != before {
            tx.update_customer(&self.seal_customer(&after)).await?;
            let previous = previous_attributes(&before.to_json(), &object);
            self.record_event(&mut tx, ctx, "customer.updated", &object, previous)
                .await?;
            self.drafts_follow(&mut tx, &before, &after).await?;
        }
        let response = self.finish(tx, ctx, object, expand).await?;
        // A payment method added while invoices are failing is tried on them at once.
        if new_payment_method && let Err(e) = self.retry_failed_invoices(ctx, id).await {
            // The update stands; the invoices stay due for their scheduled retries.
            tracing::warn!(customer = %id, error = %e, "could not retry failed invoices with the new payment method");
        }
        Ok(response)
    }

    /// Deletes a customer: the row stays as a tombstone (`deleted: true`) and its personal data
    /// is erased.
    pub async fn delete(&self, ctx: &RequestCtx, id: &str) -> AppResult<Value> {
        if !has_prefix(id, ID_PREFIX) {
            return Err(AppError::not_found("customer", id));
        }
        let mut tx = self.store().begin().await?;
        let row = tx
            .customer_for_update(id)
            .await?
            .filter(|r| !r.deleted)
            .ok_or_else(|| AppError::not_found("customer", id))?;
        self.delete_customer_in(&mut tx, ctx, row).await?;
        let response = serde_json::to_value(DeletedObject::customer(id)).expect("serializes");
        self.finish(tx, ctx, response, &[]).await
    }

    pub async fn list(
        &self,
        params: &CustomerListParams,
        expand: &[Vec<String>],
    ) -> AppResult<ListResult> {
        let page = params.page()?;
        if let Some((param, id)) = page.cursor_id()
            && (!has_prefix(id, ID_PREFIX) || self.store().customer(id).await?.is_none())
        {
            return Err(AppError::MissingReference {
                object: "customer",
                id: id.to_string(),
                param: param.to_string(),
            });
        }
        let filter = CustomerFilter {
            email_bidx: params
                .email
                .as_deref()
                .map(|e| self.keys().blind_indexes(EMAIL_INDEX_DOMAIN, e)),
            created: params.created.unwrap_or_default(),
            test_clock: params.test_clock.clone(),
        };
        let listed = self.store().list_customers(&filter, &page).await?;
        let mut data = listed
            .data
            .into_iter()
            .map(|r| self.render_customer_row(r))
            .collect::<AppResult<Vec<_>>>()?;
        self.expand_items(&mut Reader::Store(self.store()), &mut data, expand)
            .await?;
        Ok(ListResult {
            data,
            has_more: listed.has_more,
        })
    }
}
