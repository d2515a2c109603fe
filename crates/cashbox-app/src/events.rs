//! Recording events with the change they describe, and reading them back.

use std::collections::HashMap;
use std::sync::LazyLock;

use bytes::Bytes;
use cashbox_core::billing::invoice::Invoice;
use cashbox_core::billing::subscription::Subscription;
use cashbox_core::crypto::Compressed;
use cashbox_core::event::{
    API_VERSION, EventData, EventListParams, EventObject, EventRequest, previous_attributes,
};
use cashbox_core::id::{has_prefix, new_id};
use cashbox_core::payments::{Charge, PaymentIntent};
use cashbox_store::{EventFilter, EventRow, SealedColumn, Tx};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{App, AppError, AppResult, RequestCtx};

pub const ID_PREFIX: &str = "evt";

/// A page of rendered objects.
#[derive(Debug, Clone)]
pub struct ListResult {
    pub data: Vec<Value>,
    pub has_more: bool,
}

/// The sealed part of an event (objects carry personal data), as read: the object rendered
/// when the event was recorded (`object`, `previous_attributes`), or a document as it was
/// sealed in the event's transaction (`doc`, and `before` the change), rendered now.
#[derive(Deserialize)]
struct SealedData {
    object: Option<Value>,
    previous_attributes: Option<Value>,
    snapshot: Option<Snapshot>,
    doc: Option<Value>,
    before: Option<Value>,
}

/// The documents an event may show as a snapshot: the document's compressed form (kept from
/// sealing it in the same transaction, so recording the event neither renders nor compresses
/// anything) sealed again for the event, and rendered as `GET` renders it when read: an
/// invoice's links with the `public_url` of that moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Snapshot {
    Invoice,
    Subscription,
    PaymentIntent,
    Charge,
}

impl Snapshot {
    const ALL: [Snapshot; 4] = [
        Self::Invoice,
        Self::Subscription,
        Self::PaymentIntent,
        Self::Charge,
    ];
}

/// A document as events show it ([`App::record_snapshot`]): its kind and id, its compressed
/// form as sealed in the transaction, and for a subscription its form before the change.
pub(crate) struct Shown<'a> {
    pub(crate) kind: Snapshot,
    pub(crate) object_id: &'a str,
    pub(crate) doc: &'a Compressed,
    pub(crate) before: Option<&'a Compressed>,
}

impl<'a> Shown<'a> {
    pub(crate) fn new(kind: Snapshot, object_id: &'a str, doc: &'a Compressed) -> Self {
        Self {
            kind,
            object_id,
            doc,
            before: None,
        }
    }
}

/// The compressed JSON around a snapshot's documents: for each kind, the head before `doc`
/// alone and the head before `before`; then what goes between `before` and `doc`, and the end.
struct SnapshotFrames {
    heads: Vec<(Snapshot, Compressed, Compressed)>,
    doc_after_before: Compressed,
    end: Compressed,
}

static SNAPSHOT_FRAMES: LazyLock<SnapshotFrames> = LazyLock::new(|| SnapshotFrames {
    heads: Snapshot::ALL
        .into_iter()
        .map(|kind| {
            let name = serde_json::to_string(&kind).expect("a name serializes");
            (
                kind,
                Compressed::new(format!(r#"{{"snapshot":{name},"doc":"#).as_bytes()),
                Compressed::new(format!(r#"{{"snapshot":{name},"before":"#).as_bytes()),
            )
        })
        .collect(),
    doc_after_before: Compressed::new(br#","doc":"#),
    end: Compressed::new(b"}"),
});

/// [`SealedData`] as written, borrowing what it seals.
#[derive(Serialize)]
struct SealedDataRef<'a, T: Serialize> {
    object: &'a T,
    previous_attributes: Option<&'a Value>,
}

impl App {
    /// Writes an event in `tx`, the transaction of the change it records.
    pub(crate) async fn record_event(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        event_type: &str,
        object: &Value,
        previous_attributes: Option<Value>,
    ) -> AppResult<()> {
        let row = self.prepare_event(ctx, event_type, object, previous_attributes.as_ref());
        tx.insert_event(row);
        Ok(())
    }

    /// Writes one event of each of `event_types` about the same object (`object_id`, rendered
    /// as `object`: a JSON tree, or a type that serializes as one) in `tx`, the object
    /// serialized and compressed once for all of them.
    pub(crate) async fn record_events<T: Serialize>(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        event_types: &[&str],
        object_id: &str,
        object: &T,
    ) -> AppResult<()> {
        let data = SealedDataRef {
            object,
            previous_attributes: None,
        };
        let compressed = Compressed::of_json(&data).expect("rendered objects always serialize");
        for event_type in event_types {
            let row = self.sealed_event(ctx, event_type, object_id, &compressed);
            tx.insert_event(row);
        }
        Ok(())
    }

    /// Writes one event of each of `event_types` showing a document as sealed in `tx` (its
    /// compressed form, kept by [`App::seal_doc_keeping`]), and for a subscription as it was
    /// before (for `previous_attributes`); rendered when read.
    pub(crate) fn record_snapshot(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        event_types: &[&str],
        shown: Shown<'_>,
    ) {
        let Shown {
            kind,
            object_id,
            doc,
            before,
        } = shown;
        let frames = &*SNAPSHOT_FRAMES;
        let (_, head, before_head) = frames
            .heads
            .iter()
            .find(|(k, ..)| *k == kind)
            .expect("every kind has its frames");
        let data = match before {
            None => Compressed::concat(&[head, doc, &frames.end]),
            Some(b) => {
                Compressed::concat(&[before_head, b, &frames.doc_after_before, doc, &frames.end])
            }
        };
        for event_type in event_types {
            let row = self.sealed_event(ctx, event_type, object_id, &data);
            tx.insert_event(row);
        }
    }

    /// A snapshot's object and `previous_attributes`, rendered at `created` (when the event was
    /// recorded, as the object would have been rendered then).
    fn render_snapshot(
        &self,
        event_id: &str,
        created: i64,
        kind: Snapshot,
        doc: Value,
        before: Option<Value>,
    ) -> AppResult<(Value, Option<Value>)> {
        fn parse<T: serde::de::DeserializeOwned>(id: &str, v: Value) -> AppResult<T> {
            serde_json::from_value(v).map_err(|e| AppError::Corrupt(format!("event {id}: {e}")))
        }
        Ok(match kind {
            Snapshot::Invoice => (self.render_invoice(&parse::<Invoice>(event_id, doc)?), None),
            Snapshot::Subscription => {
                let after = parse::<Subscription>(event_id, doc)?.to_json(created);
                let previous = match before {
                    Some(b) => previous_attributes(
                        &parse::<Subscription>(event_id, b)?.to_json(created),
                        &after,
                    ),
                    None => None,
                };
                (after, previous)
            }
            Snapshot::PaymentIntent => (parse::<PaymentIntent>(event_id, doc)?.to_json(), None),
            Snapshot::Charge => (parse::<Charge>(event_id, doc)?.to_json(), None),
        })
    }

    /// An event's row, sealed and ready to insert: built before a transaction when its
    /// content is known in advance, so the write turn is not spent serializing and sealing.
    pub(crate) fn prepare_event(
        &self,
        ctx: &RequestCtx,
        event_type: &str,
        object: &Value,
        previous_attributes: Option<&Value>,
    ) -> EventRow {
        let data = SealedDataRef {
            object,
            previous_attributes,
        };
        let compressed = Compressed::of_json(&data).expect("JSON values always serialize");
        let object_id = object["id"].as_str().unwrap_or_default();
        self.sealed_event(ctx, event_type, object_id, &compressed)
    }

    /// An event's row from its serialized data, compressed: a new id, the data sealed under it.
    fn sealed_event(
        &self,
        ctx: &RequestCtx,
        event_type: &str,
        object_id: &str,
        data: &Compressed,
    ) -> EventRow {
        let id = new_id(ID_PREFIX);
        EventRow {
            sealed: self
                .keys()
                .seal_compressed(&SealedColumn::Events.aad(&id), data),
            id,
            event_type: event_type.to_string(),
            created: self.now(),
            object_id: object_id.to_string(),
            request_id: ctx.request_id.clone(),
            idempotency_key: ctx.idempotency_key(),
        }
    }

    fn render_event(&self, row: EventRow) -> AppResult<Value> {
        let plain = self
            .keys()
            .open(&SealedColumn::Events.aad(&row.id), &row.sealed)?;
        let data: SealedData = cashbox_core::json::from_bytes(&plain)
            .map_err(|e| AppError::Corrupt(format!("event {}: {e}", row.id)))?;
        let (object, previous_attributes) = match (data.snapshot, data.doc, data.object) {
            (Some(kind), Some(doc), _) => {
                self.render_snapshot(&row.id, row.created, kind, doc, data.before)?
            }
            (None, _, Some(object)) => (object, data.previous_attributes),
            _ => {
                return Err(AppError::Corrupt(format!(
                    "event {}: neither an object nor a snapshot",
                    row.id
                )));
            }
        };
        let event = EventObject {
            id: row.id,
            object: "event",
            api_version: API_VERSION,
            created: row.created,
            data: EventData {
                object,
                previous_attributes,
            },
            livemode: false,
            pending_webhooks: 0,
            request: EventRequest {
                id: row.request_id,
                idempotency_key: row.idempotency_key,
            },
            event_type: row.event_type,
        };
        Ok(serde_json::to_value(event).expect("events always serialize"))
    }

    /// The bodies webhook deliveries send: each event as `GET /v1/events/{id}` renders it,
    /// read and counted together for a batch of deliveries. An event that is gone is left
    /// out.
    pub(crate) async fn delivery_bodies(
        &self,
        ids: &[String],
    ) -> AppResult<HashMap<String, Bytes>> {
        let mut unique = ids.to_vec();
        unique.sort();
        unique.dedup();
        let mut events = Vec::with_capacity(unique.len());
        for row in self.store().events_by_id(&unique).await? {
            events.push(self.render_event(row)?);
        }
        self.count_pending_webhooks(&mut events).await?;
        Ok(events
            .into_iter()
            .map(|e| {
                let id = e["id"].as_str().unwrap_or_default().to_string();
                let body = serde_json::to_vec(&e).expect("events serialize");
                (id, Bytes::from(body))
            })
            .collect())
    }

    /// Sets `pending_webhooks`: the endpoints that have yet to acknowledge each event.
    async fn count_pending_webhooks(&self, events: &mut [Value]) -> AppResult<()> {
        let ids: Vec<String> = events
            .iter()
            .filter_map(|e| e["id"].as_str().map(str::to_string))
            .collect();
        let pending = self.store().pending_webhooks(&ids).await?;
        // An event not yet fanned out is pending for every endpoint that wants it.
        let waiting = self.store().in_outbox(&ids).await?;
        let endpoints = if waiting.is_empty() {
            Vec::new()
        } else {
            self.endpoints().await?
        };
        for e in events.iter_mut() {
            let id = e["id"].as_str().unwrap_or_default();
            let mut n = pending.get(id).copied().unwrap_or(0);
            if waiting.contains(id) {
                let event_type = e["type"].as_str().unwrap_or_default();
                n += endpoints.iter().filter(|w| w.wants(event_type, id)).count() as i64;
            }
            e["pending_webhooks"] = n.into();
        }
        Ok(())
    }
}

crate::service!(
    Events,
    events,
    "Events: retrieve and list; resending one is a webhook's."
);

impl Events<'_> {
    pub async fn retrieve(&self, id: &str) -> AppResult<Value> {
        if !has_prefix(id, ID_PREFIX) {
            return Err(AppError::not_found("event", id));
        }
        let row = self
            .store()
            .event(id)
            .await?
            .ok_or_else(|| AppError::not_found("event", id))?;
        let mut events = vec![self.render_event(row)?];
        self.count_pending_webhooks(&mut events).await?;
        Ok(events.remove(0))
    }

    pub async fn list(&self, params: &EventListParams) -> AppResult<ListResult> {
        let page = params.page()?;
        let types = params.type_filter()?;
        if let Some((param, id)) = page.cursor_id()
            && self.store().event(id).await?.is_none()
        {
            return Err(AppError::MissingReference {
                object: "event",
                id: id.to_string(),
                param: param.to_string(),
            });
        }
        let filter = EventFilter {
            types: types.exact,
            type_prefixes: types.prefixes,
            created: params.created.unwrap_or_default(),
        };
        let listed = self.store().list_events(&filter, &page).await?;
        let mut data: Vec<Value> = listed
            .data
            .into_iter()
            .map(|row| self.render_event(row))
            .collect::<AppResult<_>>()?;
        self.count_pending_webhooks(&mut data).await?;
        Ok(ListResult {
            data,
            has_more: listed.has_more,
        })
    }
}
