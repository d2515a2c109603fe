//! Payment objects are sealed documents: one generic way to read, lock, insert and save them.

use cashbox_core::crypto::Compressed;
use cashbox_core::event::previous_attributes;
use cashbox_core::id::has_prefix;
use cashbox_core::payments::{
    CHARGE_PREFIX, Charge, PI_PREFIX, PM_PREFIX, PaymentIntent, PaymentMethod, REFUND_PREFIX,
    Refund, SETI_PREFIX, SetupIntent,
};
use cashbox_store::{DocRow, DocTable, SealedColumn, Tx};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::expand::Reader;
use crate::{App, AppError, AppResult, RequestCtx};

/// A payment object stored as a sealed document.
pub(crate) trait Doc: Serialize + DeserializeOwned {
    const TABLE: DocTable;
    const PREFIX: &'static str;
    /// The name Stripe uses in "No such …" messages.
    const NAME: &'static str;
    fn id(&self) -> &str;
    fn created(&self) -> i64;
    fn customer(&self) -> Option<&str>;
    fn status(&self) -> String;
    fn parent(&self) -> Option<&str> {
        None
    }
    /// What a searchable document indexes ([`cashbox_core::search::Searchable`]): its digest
    /// is written with it, and a change of it marks it for indexing.
    fn search_entry(&self) -> Option<cashbox_core::search::Entry> {
        None
    }
    /// Whether `id` could name one of these: Cashbox's `prefix_…` ids unless the type lets
    /// callers choose their own.
    fn valid_id(id: &str) -> bool {
        has_prefix(id, Self::PREFIX)
    }
}

/// The lookup column of objects that are active or not (products, prices, codes, rates).
pub(crate) fn active_status(active: bool) -> String {
    if active { "active" } else { "inactive" }.into()
}

impl Doc for PaymentMethod {
    const TABLE: DocTable = DocTable::PaymentMethods;
    const PREFIX: &'static str = PM_PREFIX;
    const NAME: &'static str = "PaymentMethod";
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn customer(&self) -> Option<&str> {
        self.customer.as_deref()
    }
    fn status(&self) -> String {
        if self.customer.is_some() {
            "attached"
        } else {
            "unattached"
        }
        .into()
    }
}

impl Doc for PaymentIntent {
    const TABLE: DocTable = DocTable::PaymentIntents;
    const PREFIX: &'static str = PI_PREFIX;
    const NAME: &'static str = "payment_intent";
    fn search_entry(&self) -> Option<cashbox_core::search::Entry> {
        Some(cashbox_core::search::Searchable::search_entry(self))
    }
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn customer(&self) -> Option<&str> {
        self.customer.as_deref()
    }
    /// Any processor call in flight shows as `processing` in the lookup column, so the
    /// recovery sweep finds it (the API renders a pending capture as `requires_capture`).
    fn status(&self) -> String {
        match self.pending {
            Some(_) => "processing".into(),
            None => self.status.as_str().into(),
        }
    }
    /// The invoice it pays: an invoice's payments are listed by it.
    fn parent(&self) -> Option<&str> {
        self.invoice.as_deref()
    }
}

impl Doc for SetupIntent {
    const TABLE: DocTable = DocTable::SetupIntents;
    const PREFIX: &'static str = SETI_PREFIX;
    const NAME: &'static str = "setup_intent";
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn customer(&self) -> Option<&str> {
        self.customer.as_deref()
    }
    fn status(&self) -> String {
        self.status.as_str().into()
    }
    fn parent(&self) -> Option<&str> {
        self.payment_method.as_deref()
    }
}

impl Doc for Charge {
    const TABLE: DocTable = DocTable::Charges;
    const PREFIX: &'static str = CHARGE_PREFIX;
    const NAME: &'static str = "charge";
    fn search_entry(&self) -> Option<cashbox_core::search::Entry> {
        Some(cashbox_core::search::Searchable::search_entry(self))
    }
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn customer(&self) -> Option<&str> {
        self.customer.as_deref()
    }
    fn status(&self) -> String {
        self.status.as_str().into()
    }
    fn parent(&self) -> Option<&str> {
        Some(&self.payment_intent)
    }
}

impl Doc for Refund {
    const TABLE: DocTable = DocTable::Refunds;
    const PREFIX: &'static str = REFUND_PREFIX;
    const NAME: &'static str = "refund";
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn customer(&self) -> Option<&str> {
        None
    }
    fn status(&self) -> String {
        self.status.as_str().into()
    }
    fn parent(&self) -> Option<&str> {
        Some(&self.charge)
    }
}

impl App {
    pub(crate) fn seal_doc<T: Doc>(&self, d: &T) -> DocRow {
        self.seal_doc_keeping(d).0
    }

    /// [`App::seal_doc`], with the document's compressed form kept: an event that shows the
    /// document as it is now seals that again instead of rendering it (`events.rs`).
    pub(crate) fn seal_doc_keeping<T: Doc>(&self, d: &T) -> (DocRow, Compressed) {
        let compressed = self.snapshot_of(d);
        let row = DocRow {
            id: d.id().to_string(),
            created: d.created(),
            customer: d.customer().map(str::to_string),
            status: d.status(),
            parent: d.parent().map(str::to_string),
            search_fp: d.search_entry().map(|e| self.search_fp(&e)),
            sealed: self
                .keys()
                .seal_compressed(&SealedColumn::Doc(T::TABLE).aad(d.id()), &compressed),
        };
        (row, compressed)
    }

    /// A document's compressed form for an event that shows it as it is now, when it is not
    /// sealed as it is now in the same transaction (see [`App::seal_doc_keeping`]).
    pub(crate) fn snapshot_of<T: Doc>(&self, d: &T) -> Compressed {
        Compressed::of_json(d).expect("documents always serialize")
    }

    pub(crate) fn open_doc<T: Doc>(&self, row: &DocRow) -> AppResult<T> {
        let plain = self
            .keys()
            .open(&SealedColumn::Doc(T::TABLE).aad(&row.id), &row.sealed)?;
        Self::parse_doc(&row.id, &plain)
    }

    fn parse_doc<T: Doc>(id: &str, plain: &[u8]) -> AppResult<T> {
        cashbox_core::json::from_bytes(plain)
            .map_err(|e| AppError::Corrupt(format!("{} {id}: {e}", T::NAME)))
    }

    /// The document locked in `tx` and its compressed form as stored (see
    /// [`App::seal_doc_keeping`]): what it was before a change an event will show.
    pub(crate) async fn load_for_update_keeping<T: Doc>(
        &self,
        tx: &mut Tx,
        id: &str,
    ) -> AppResult<(T, Compressed)> {
        let row = if T::valid_id(id) {
            tx.doc_for_update(T::TABLE, id).await?
        } else {
            None
        };
        let row = row.ok_or_else(|| AppError::not_found(T::NAME, id))?;
        let (plain, compressed) = self
            .keys()
            .open_keeping(&SealedColumn::Doc(T::TABLE).aad(&row.id), &row.sealed)?;
        Ok((Self::parse_doc(&row.id, &plain)?, compressed))
    }

    pub(crate) async fn load<T: Doc>(&self, id: &str) -> AppResult<T> {
        if !T::valid_id(id) {
            return Err(AppError::not_found(T::NAME, id));
        }
        let row = self
            .store()
            .doc(T::TABLE, id)
            .await?
            .ok_or_else(|| AppError::not_found(T::NAME, id))?;
        self.open_doc(&row)
    }

    /// The document as `tx` sees it, not locked: for reading what an object links to.
    pub(crate) async fn read_in<T: Doc>(&self, tx: &mut Tx, id: &str) -> AppResult<T> {
        let row = if T::valid_id(id) {
            tx.doc(T::TABLE, id).await?
        } else {
            None
        };
        let row = row.ok_or_else(|| AppError::not_found(T::NAME, id))?;
        self.open_doc(&row)
    }

    /// The document locked in `tx`, or `None`: for references named by parameters.
    pub(crate) async fn find_for_update<T: Doc>(
        &self,
        tx: &mut Tx,
        id: &str,
    ) -> AppResult<Option<T>> {
        if !T::valid_id(id) {
            return Ok(None);
        }
        match tx.doc_for_update(T::TABLE, id).await? {
            Some(row) => Ok(Some(self.open_doc(&row)?)),
            None => Ok(None),
        }
    }

    pub(crate) async fn load_for_update<T: Doc>(&self, tx: &mut Tx, id: &str) -> AppResult<T> {
        self.find_for_update(tx, id)
            .await?
            .ok_or_else(|| AppError::not_found(T::NAME, id))
    }

    /// A document rendered with `render`, with `expand[]` applied: every retrieve endpoint.
    pub(crate) async fn retrieve_doc<T: Doc>(
        &self,
        id: &str,
        expand: &[Vec<String>],
        render: impl Fn(&T) -> Value,
    ) -> AppResult<Value> {
        let doc: T = self.load(id).await?;
        let mut object = render(&doc);
        self.expand(&mut Reader::Store(self.store()), &mut object, expand)
            .await?;
        Ok(object)
    }

    /// Ends an update: saves `doc`, records `event` with what changed from `before` to
    /// `object` (the two renderings of the document), and answers with `object`.
    pub(crate) async fn finish_update<T: Doc>(
        &self,
        mut tx: Tx,
        ctx: &RequestCtx,
        doc: &T,
        (before, object): (&Value, Value),
        event: &str,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        self.save_doc(&mut tx, doc).await?;
        let previous = previous_attributes(before, &object);
        self.record_event(&mut tx, ctx, event, &object, previous)
            .await?;
        self.finish(tx, ctx, object, expand).await
    }

    pub(crate) async fn insert_doc<T: Doc>(&self, tx: &mut Tx, d: &T) -> AppResult<()> {
        self.insert_doc_keeping(tx, d).await.map(drop)
    }

    pub(crate) async fn save_doc<T: Doc>(&self, tx: &mut Tx, d: &T) -> AppResult<()> {
        self.save_doc_keeping(tx, d).await.map(drop)
    }

    /// [`App::insert_doc`], returning the document's compressed form.
    pub(crate) async fn insert_doc_keeping<T: Doc>(
        &self,
        tx: &mut Tx,
        d: &T,
    ) -> AppResult<Compressed> {
        let (row, compressed) = self.seal_doc_keeping(d);
        tx.insert_doc(T::TABLE, &row).await?;
        Ok(compressed)
    }

    /// [`App::save_doc`], returning the document's compressed form.
    pub(crate) async fn save_doc_keeping<T: Doc>(
        &self,
        tx: &mut Tx,
        d: &T,
    ) -> AppResult<Compressed> {
        let (row, compressed) = self.seal_doc_keeping(d);
        tx.update_doc(T::TABLE, &row).await?;
        Ok(compressed)
    }

    /// A live customer named by a parameter, or Stripe's "No such customer". A plain read:
    /// locking the customer would serialize all of its payments for nothing.
    pub(crate) async fn check_customer(&self, tx: &mut Tx, id: &str, param: &str) -> AppResult<()> {
        let live = has_prefix(id, cashbox_core::customer::ID_PREFIX)
            && tx.customer(id).await?.is_some_and(|c| !c.deleted);
        if !live {
            return Err(AppError::MissingReference {
                object: "customer",
                id: id.to_string(),
                param: param.to_string(),
            });
        }
        Ok(())
    }
}
