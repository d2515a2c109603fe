//! Customers: create, retrieve, update, delete, list.

use cashbox_core::customer::{
    Customer, CustomerCreateParams, CustomerListParams, CustomerPrivate, CustomerUpdateParams,
    DeletedObject, ID_PREFIX, InvoiceSettingsParam,
};
use cashbox_core::event::previous_attributes;
use cashbox_core::id::{has_prefix, new_id};
use cashbox_store::{CustomerFilter, CustomerRow, SealedColumn};
use serde_json::Value;

use crate::events::ListResult;
use crate::expand::Reader;
use crate::{App, AppError, AppResult, RequestCtx};

/// Domain separation for the email blind index.
const EMAIL_INDEX_DOMAIN: &str = "customers.email";

impl App {
    fn seal_customer(&self, c: &Customer) -> CustomerRow {
        let plain = serde_json::to_vec(&c.private).expect("customer data always serializes");
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
                    .seal(&SealedColumn::Customers.aad(&c.id), &plain),
            ),
            balance: c.balance,
            currency: c.currency.clone(),
            default_payment_method: c.default_payment_method.clone(),
            delinquent: c.delinquent,
            invoice_prefix: c.invoice_prefix.clone(),
            next_invoice_sequence: c.next_invoice_sequence,
            test_clock: c.test_clock.clone(),
        }
    }

    fn open_customer(&self, r: CustomerRow) -> AppResult<Customer> {
        let private: CustomerPrivate = match &r.sealed {
            Some(sealed) => {
                let plain = self
                    .keys()
                    .open(&SealedColumn::Customers.aad(&r.id), sealed)?;
                serde_json::from_slice(&plain)
                    .map_err(|e| AppError::Corrupt(format!("customer {}: {e}", r.id)))?
            }
            None => CustomerPrivate::default(),
        };
        Ok(Customer {
            id: r.id,
            created: r.created,
            balance: r.balance,
            currency: r.currency,
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

    /// Objects a customer parameter may name that this version does not have yet are refused
    /// the way Stripe refuses an unknown id.
    fn check_customer_references(
        test_clock: Option<&str>,
        payment_methods: &[(&str, Option<&str>)],
    ) -> AppResult<()> {
        if let Some(clock) = test_clock {
            return Err(AppError::MissingReference {
                object: "test clock",
                id: clock.to_string(),
                param: "test_clock".into(),
            });
        }
        for (param, pm) in payment_methods {
            if let Some(pm) = pm {
                return Err(AppError::MissingReference {
                    object: "PaymentMethod",
                    id: pm.to_string(),
                    param: param.to_string(),
                });
            }
        }
        Ok(())
    }

    pub async fn create_customer(
        &self,
        ctx: &RequestCtx,
        params: CustomerCreateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        Self::check_customer_references(
            params.test_clock.as_deref(),
            &[
                ("payment_method", params.payment_method.as_deref()),
                (
                    "invoice_settings[default_payment_method]",
                    InvoiceSettingsParam::requested_default(&params.invoice_settings),
                ),
            ],
        )?;
        let customer = Customer::create(new_id(ID_PREFIX), self.now(), params)?;
        let row = self.seal_customer(&customer);
        let object = customer.to_json();

        let mut tx = self.store().begin().await?;
        tx.insert_customer(&row).await?;
        self.record_event(&mut tx, ctx, "customer.created", &object, None)
            .await?;
        self.finish(tx, ctx, object, expand).await
    }

    pub async fn retrieve_customer(&self, id: &str, expand: &[Vec<String>]) -> AppResult<Value> {
        let row = self.customer_row(id).await?;
        let deleted = row.deleted;
        let mut object = self.render_customer_row(row)?;
        if !deleted {
            self.expand(&mut Reader::Store(self.store()), &mut object, expand)
                .await?;
        }
        Ok(object)
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

    pub async fn update_customer(
        &self,
        ctx: &RequestCtx,
        id: &str,
        params: CustomerUpdateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        if !has_prefix(id, ID_PREFIX) {
            return Err(AppError::not_found("customer", id));
        }
        Self::check_customer_references(
            None,
            &[(
                "invoice_settings[default_payment_method]",
                InvoiceSettingsParam::requested_default(&params.invoice_settings),
            )],
        )?;
        let mut tx = self.store().begin().await?;
        let row = tx
            .customer_for_update(id)
            .await?
            .filter(|r| !r.deleted)
            .ok_or_else(|| AppError::not_found("customer", id))?;
        let before = self.open_customer(row)?;
        let after = before.updated(params)?;
        let object = after.to_json();
        if after != before {
            tx.update_customer(&self.seal_customer(&after)).await?;
            let previous = previous_attributes(&before.to_json(), &object);
            self.record_event(&mut tx, ctx, "customer.updated", &object, previous)
                .await?;
        }
        self.finish(tx, ctx, object, expand).await
    }

    /// Deletes a customer: the row stays as a tombstone (`deleted: true`) and its personal data
    /// is erased.
    pub async fn delete_customer(&self, ctx: &RequestCtx, id: &str) -> AppResult<Value> {
        if !has_prefix(id, ID_PREFIX) {
            return Err(AppError::not_found("customer", id));
        }
        let mut tx = self.store().begin().await?;
        let row = tx
            .customer_for_update(id)
            .await?
            .filter(|r| !r.deleted)
            .ok_or_else(|| AppError::not_found("customer", id))?;
        let customer = self.open_customer(row.clone())?;
        let tombstone = CustomerRow {
            deleted: true,
            sealed: None,
            email_bidx: None,
            ..row
        };
        tx.update_customer(&tombstone).await?;
        self.record_event(&mut tx, ctx, "customer.deleted", &customer.to_json(), None)
            .await?;
        let response = serde_json::to_value(DeletedObject::customer(id)).expect("serializes");
        self.finish(tx, ctx, response, &[]).await
    }

    pub async fn list_customers(
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

    /// The blind index of an email under the primary key, for re-indexing during rotation.
    pub(crate) fn email_index(&self, email: &str) -> Vec<u8> {
        self.keys().blind_index(EMAIL_INDEX_DOMAIN, email)
    }
}
