//! Billing meters, meter events and what a period's usage costs: meters in Stripe's dialect,
//! events checked against their meter and recorded once per identifier, cancels by
//! identifier, summaries by window, and the usage lines of a renewal invoice.
//!
//! A period's usage is billed once: invoicing it moves the customer's watermark for the
//! meter to the period's end (under an exclusive per-(meter, customer) lock on PostgreSQL,
//! which recording takes shared), and an event timestamped before the watermark is refused.

pub mod credits;
pub mod entitlements;
pub(crate) mod usage_cache;

use std::collections::HashMap;

use cashbox_core::ParamError;
use cashbox_core::billing::invoice::LineDraft;
use cashbox_core::billing::subscription::Subscription;
use cashbox_core::customer::ID_PREFIX as CUSTOMER_PREFIX;
use cashbox_core::id::{has_prefix, new_id};
use cashbox_core::usage::{
    ALERT_PREFIX, Alert, AlertCreateParams, AlertListParams, BATCH_EVENTS_MAX,
    METER_ADJUSTMENT_PREFIX, METER_PREFIX, Meter, MeterAdjustmentParams, MeterCreateParams,
    MeterEventParams, MeterListParams, MeterUpdateParams, SummaryParams, UsageEvent, summary_json,
};
use cashbox_store::{DocFilter, DocTable, Tx};
use serde_json::{Value, json};

use crate::docs::{Doc, active_status};
use crate::events::ListResult;
use crate::usage::usage_cache::{Delta, USAGE_CHANNEL, decode, encode};
use crate::{App, AppError, AppResult, RequestCtx};

impl Doc for Alert {
    const TABLE: DocTable = DocTable::Alerts;
    const PREFIX: &'static str = ALERT_PREFIX;
    const NAME: &'static str = "billing.alert";
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
        self.status.clone()
    }
    fn parent(&self) -> Option<&str> {
        Some(&self.meter)
    }
}

impl Doc for Meter {
    const TABLE: DocTable = DocTable::Meters;
    const PREFIX: &'static str = METER_PREFIX;
    const NAME: &'static str = "billing.meter";
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
        active_status(self.active)
    }
}

/// What one transaction of recording has looked up already: each customer's time (`None`:
/// no such customer) and each (meter, customer)'s invoiced-through mark, read once under
/// the usage lock that the transaction then holds.
#[derive(Default)]
struct Memo {
    customers: HashMap<String, Option<i64>>,
    billed: HashMap<(String, String), Option<i64>>,
}

/// A refused event of a batch, as Stripe's error envelope.
fn refusal(e: &AppError) -> Value {
    let (code, param) = match e {
        AppError::Param(p) => (p.code, p.param.clone()),
        AppError::MissingReference { param, .. } => ("resource_missing", param.clone()),
        _ => ("api_error", String::new()),
    };
    json!({"error": {
        "type": "invalid_request_error",
        "code": code,
        "message": e.to_string(),
        "param": param,
    }})
}

impl App {
    /// The active meter that counts `event_name`.
    async fn meter_named(&self, event_name: &str) -> AppResult<Meter> {
        let id = self
            .store()
            .meter_for_event(event_name)
            .await?
            .ok_or_else(|| {
                ParamError::new(
                    "event_name",
                    "resource_missing",
                    format!("No active meter was found for event_name {event_name}."),
                )
            })?;
        let meter: Meter = self.load(&id).await?;
        if !meter.active {
            return Err(ParamError::new(
                "event_name",
                "billing_meter_inactive",
                format!(
                    "The meter {} for event_name {event_name} is inactive.",
                    meter.id
                ),
            )
            .into());
        }
        Ok(meter)
    }

    /// Checks one event against its meter and records it in `tx`; a repeated identifier or
    /// a timestamp in a period already invoiced is refused.
    async fn record_usage_in(
        &self,
        tx: &mut Tx,
        meter: &Meter,
        p: &MeterEventParams,
        memo: &mut Memo,
    ) -> AppResult<(UsageEvent, i64)> {
        let (event, now) = self.check_usage_event(tx, meter, p, memo).await?;
        let Some(seq) = tx.insert_usage_event(&event, now).await? else {
            return Err(duplicate(&event.identifier));
        };
        Ok((event, seq))
    }

    /// Checks one event against its meter, its customer and what is already invoiced;
    /// returns it with its customer's time.
    async fn check_usage_event(
        &self,
        tx: &mut Tx,
        meter: &Meter,
        p: &MeterEventParams,
        memo: &mut Memo,
    ) -> AppResult<(UsageEvent, i64)> {
        let identifier = p
            .identifier()?
            .unwrap_or_else(|| new_id("mtrevt").replace("mtrevt_", ""));
        let customer_param = format!("payload[{}]", meter.customer_key);
        let customer_id = p
            .payload
            .as_ref()
            .and_then(|m| m.get(&meter.customer_key))
            .map(|t| t.0.clone())
            .ok_or_else(|| ParamError::missing(customer_param.clone()))?;
        if !memo.customers.contains_key(&customer_id) {
            let found = match has_prefix(&customer_id, CUSTOMER_PREFIX) {
                true => tx.customer(&customer_id).await?.filter(|c| !c.deleted),
                false => None,
            };
            let now = match found {
                Some(c) => Some(self.time_of(tx, c.test_clock.as_deref()).await?),
                None => None,
            };
            memo.customers.insert(customer_id.clone(), now);
        }
        let now = memo.customers[&customer_id].ok_or_else(|| AppError::MissingReference {
            object: "customer",
            id: customer_id.clone(),
            param: customer_param,
        })?;
        let event = meter.read_event(p, identifier, now)?;
        let key = (meter.id.clone(), event.customer.clone());
        if !memo.billed.contains_key(&key) {
            tx.lock_usage(&meter.id, &event.customer, false).await?;
            let billed = tx.usage_billed_through(&meter.id, &event.customer).await?;
            memo.billed.insert(key.clone(), billed);
        }
        if let Some(billed) = memo.billed[&key]
            && event.timestamp < billed
        {
            return Err(ParamError::new(
                "timestamp",
                "meter_event_period_invoiced",
                format!(
                    "Usage before {billed} has already been invoiced for this customer; the event would not be billed."
                ),
            )
            .into());
        }
        Ok((event, now))
    }

    /// Tells other processes (PostgreSQL) about recorded events when `tx` commits.
    async fn announce_usage(&self, tx: &mut Tx, deltas: &[Delta]) -> AppResult<()> {
        if tx.is_postgres() {
            for payload in encode(&self.usage_cache().origin, deltas) {
                tx.notify(USAGE_CHANNEL, &payload).await?;
            }
        }
        Ok(())
    }

    /// Follows other processes' recorded events (PostgreSQL) into this process's cache until
    /// the store closes; `serve` runs it.
    pub async fn follow_usage(&self) -> AppResult<()> {
        let cache = self.usage_cache();
        let followed = self
            .store()
            .listen(
                USAGE_CHANNEL,
                |payload| cache.apply(&decode(&cache.origin, payload)),
                || cache.forget_all_usage(),
            )
            .await;
        // Not listening any more: what is cached can no longer be kept exact.
        cache.forget_all_usage();
        Ok(followed?)
    }

    /// What follows recording usage, after it committed: billing alerts. A failure here is
    /// logged; the usage stands and the next event re-evaluates the alert.
    async fn usage_recorded(&self, meter: &Meter, events: &[UsageEvent]) {
        if let Err(e) = self.evaluate_alerts(meter, events).await {
            tracing::warn!(meter = %meter.id, error = %e, "billing alerts were not evaluated");
        }
    }

    async fn evaluate_alerts(&self, meter: &Meter, events: &[UsageEvent]) -> AppResult<()> {
        let filter = DocFilter {
            parent: Some(meter.id.clone()),
            status: Some("active".into()),
            ..DocFilter::default()
        };
        let page = cashbox_core::list::Page::parse(Some(100), None, None)?;
        let rows = self
            .store()
            .list_docs(DocTable::Alerts, &filter, &page)
            .await?;
        if rows.data.is_empty() {
            return Ok(());
        }
        let alerts: Vec<Alert> = rows
            .data
            .iter()
            .map(|r| self.open_doc(r))
            .collect::<AppResult<_>>()?;
        let customers: std::collections::BTreeSet<&str> =
            events.iter().map(|e| e.customer.as_str()).collect();
        for customer in customers {
            let mut start = None;
            for row in self
                .store()
                .docs_of_customer(
                    DocTable::Subscriptions,
                    customer,
                    &["trialing", "active", "past_due"],
                )
                .await?
            {
                let sub: Subscription = self.open_doc(&row)?;
                if sub.items.iter().any(|i| i.meter() == Some(&meter.id)) {
                    start = Some(sub.current_period_start);
                    break;
                }
            }
            for alert in alerts
                .iter()
                .filter(|a| a.customer.as_deref().is_none_or(|c| c == customer))
            {
                let from = start.unwrap_or(alert.created);
                let mut usage = cashbox_core::usage::Aggregate::default();
                for (ts, v) in self
                    .store()
                    .usage_events(&meter.id, customer, from, i64::MAX)
                    .await?
                {
                    usage.add(ts, v);
                }
                let value = usage.value(meter.formula);
                if value < alert.gte {
                    continue;
                }
                let mut tx = self.store().begin().await?;
                if tx
                    .claim_alert_trigger(&alert.id, customer, value, self.now())
                    .await?
                {
                    let object = json!({
                        "object": "billing.alert_triggered",
                        "alert": alert.to_json(),
                        "created": self.now(),
                        "customer": customer,
                        "external_customer_id": null,
                        "livemode": false,
                        "value": value,
                    });
                    self.record_event(
                        &mut tx,
                        &RequestCtx::default(),
                        "billing.alert.triggered",
                        &object,
                        None,
                    )
                    .await?;
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// The lines that bill `sub`'s metered items for their usage over `[from, to)`, with the
    /// usage marked invoiced through `to` (credit grants pay for them once the invoice has
    /// its discounts). Locks each (meter, customer) against late recording while it reads.
    pub(crate) async fn usage_lines(
        &self,
        tx: &mut Tx,
        sub: &Subscription,
        (from, to): (i64, i64),
        name: &(dyn Fn(&str) -> String + Sync),
    ) -> AppResult<Vec<LineDraft>> {
        let mut lines = Vec::new();
        for item in sub.items.iter().filter(|i| i.is_metered()) {
            let quantity = match item.meter() {
                Some(meter_id) => {
                    tx.lock_usage(meter_id, &sub.customer, true).await?;
                    let formula = match tx.doc(DocTable::Meters, meter_id).await? {
                        Some(row) => self.open_doc::<Meter>(&row)?.formula,
                        None => cashbox_core::usage::Formula::Sum,
                    };
                    let usage = tx.usage_in(meter_id, &sub.customer, from, to).await?;
                    tx.set_usage_billed_through(meter_id, &sub.customer, to)
                        .await?;
                    usage.quantity(formula)
                }
                None => 0,
            };
            let line = item
                .usage_line(
                    sub.currency,
                    quantity,
                    (from, to),
                    &name(&item.price.product),
                )
                .map_err(|e| AppError::Corrupt(format!("subscription {}: {e}", sub.id)))?;
            lines.push(line);
        }
        Ok(lines)
    }
}

fn delta(e: &UsageEvent, seq: i64) -> Delta {
    Delta {
        meter: e.meter.clone(),
        customer: e.customer.clone(),
        seq,
        ts: e.timestamp,
        value: e.value,
    }
}

fn duplicate(identifier: &str) -> AppError {
    ParamError::new(
        "identifier",
        "meter_event_duplicate",
        format!(
            "A meter event with identifier {identifier} was already recorded; it is counted once."
        ),
    )
    .into()
}

/// Pages a list computed in memory whose items have no ids of their own: by position.
fn page_values(data: Vec<Value>, page: &cashbox_core::list::Page) -> ListResult {
    use cashbox_core::list::Cursor;
    let limit = page.limit as usize;
    let position = |id: &str| data.iter().position(|v| v["id"] == id);
    let window: Vec<Value> = match &page.cursor {
        Cursor::Start => data.iter().take(limit + 1).cloned().collect(),
        Cursor::After(id) => {
            let from = position(id).map_or(data.len(), |i| i + 1);
            data[from..].iter().take(limit + 1).cloned().collect()
        }
        Cursor::Before(id) => {
            let to = position(id).unwrap_or(0);
            let from = to.saturating_sub(limit + 1);
            data[from..to].to_vec()
        }
    };
    let has_more = window.len() > limit;
    let data = match &page.cursor {
        Cursor::Before(_) if has_more => window[1..].to_vec(),
        _ => window.into_iter().take(limit).collect(),
    };
    ListResult { data, has_more }
}

crate::service!(
    Meters,
    meters,
    "Billing meters, their events, summaries and alerts."
);

impl Meters<'_> {
    pub async fn create(&self, ctx: &RequestCtx, p: MeterCreateParams) -> AppResult<Value> {
        let meter = Meter::new(new_id(METER_PREFIX), self.now(), &p)?;
        let mut tx = self.store().begin().await?;
        if !tx.claim_event_name(&meter.event_name, &meter.id).await? {
            return Err(ParamError::new(
                "event_name",
                "resource_already_exists",
                format!(
                    "A meter with event_name {} already exists.",
                    meter.event_name
                ),
            )
            .into());
        }
        self.insert_doc(&mut tx, &meter).await?;
        self.record_event(
            &mut tx,
            ctx,
            "billing.meter.created",
            &meter.to_json(),
            None,
        )
        .await?;
        self.finish(tx, ctx, meter.to_json(), &[]).await
    }

    pub async fn retrieve(&self, id: &str) -> AppResult<Value> {
        self.retrieve_doc(id, &[], Meter::to_json).await
    }

    pub async fn list(&self, p: &MeterListParams) -> AppResult<ListResult> {
        let status = match p.status.as_deref() {
            None => None,
            Some(s @ ("active" | "inactive")) => Some(s.to_string()),
            Some(other) => {
                return Err(ParamError::invalid(
                    "status",
                    format!("Invalid status: {other}; use active or inactive"),
                )
                .into());
            }
        };
        let filter = DocFilter {
            status,
            ..DocFilter::default()
        };
        self.list_docs::<Meter>(&filter, &p.page()?, &[], Meter::to_json)
            .await
    }

    pub async fn update(
        &self,
        ctx: &RequestCtx,
        id: &str,
        p: MeterUpdateParams,
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut meter: Meter = self.load_for_update(&mut tx, id).await?;
        let before = meter.to_json();
        meter.update(&p, self.now())?;
        self.save_doc(&mut tx, &meter).await?;
        self.finish_update(
            tx,
            ctx,
            &meter,
            (&before, meter.to_json()),
            "billing.meter.updated",
            &[],
        )
        .await
    }

    /// Deactivates (`active = false`) or reactivates a meter. An inactive meter refuses
    /// events; its prices keep billing what it recorded.
    pub async fn set_active(&self, ctx: &RequestCtx, id: &str, active: bool) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut meter: Meter = self.load_for_update(&mut tx, id).await?;
        meter.set_active(active, self.now())?;
        self.save_doc(&mut tx, &meter).await?;
        let event = if active {
            "billing.meter.reactivated"
        } else {
            "billing.meter.deactivated"
        };
        self.record_event(&mut tx, ctx, event, &meter.to_json(), None)
            .await?;
        self.finish(tx, ctx, meter.to_json(), &[]).await
    }

    /// `POST /v1/billing/meter_events`.
    pub async fn record_meter_event(
        &self,
        ctx: &RequestCtx,
        p: MeterEventParams,
    ) -> AppResult<Value> {
        let name = p.event_name()?.to_string();
        let meter = self.meter_named(&name).await?;
        let mut tx = self.store().begin().await?;
        let (event, seq) = self
            .record_usage_in(&mut tx, &meter, &p, &mut Memo::default())
            .await?;
        let deltas = [delta(&event, seq)];
        self.announce_usage(&mut tx, &deltas).await?;
        let response = event.to_json(&name, &p, self.now());
        let response = self.finish(tx, ctx, response, &[]).await?;
        self.usage_cache().apply(&deltas);
        self.usage_recorded(&meter, &[event]).await;
        Ok(response)
    }

    /// `POST /v1/billing/meter_events/batch` (ours): up to [`BATCH_EVENTS_MAX`] events in one
    /// transaction, each recorded or refused on its own.
    pub async fn record_meter_events(
        &self,
        ctx: &RequestCtx,
        events: Vec<MeterEventParams>,
    ) -> AppResult<Value> {
        if events.is_empty() {
            return Err(ParamError::missing("events").into());
        }
        if events.len() > BATCH_EVENTS_MAX {
            return Err(ParamError::invalid(
                "events",
                format!("At most {BATCH_EVENTS_MAX} events may be sent at once."),
            )
            .into());
        }
        let mut meters: HashMap<String, Option<Meter>> = HashMap::new();
        let mut memo = Memo::default();
        let mut deltas = Vec::new();
        let mut tx = self.store().begin().await?;
        let mut out = Vec::with_capacity(events.len());
        let mut recorded: Vec<(Meter, UsageEvent)> = Vec::new();
        let mut checked = Vec::new();
        for p in &events {
            let name = match p.event_name() {
                Ok(n) => n.to_string(),
                Err(e) => {
                    out.push(refusal(&e.into()));
                    continue;
                }
            };
            if !meters.contains_key(&name) {
                let found = self.meter_named(&name).await.ok();
                meters.insert(name.clone(), found);
            }
            let Some(meter) = meters[&name].clone() else {
                // The same refusal as the first time (no meter, or an inactive one).
                let e = match self.meter_named(&name).await {
                    Err(e) => e,
                    Ok(_) => ParamError::new(
                        "event_name",
                        "billing_meter_inactive",
                        format!("The meter for event_name {name} changed during the request."),
                    )
                    .into(),
                };
                out.push(refusal(&e));
                continue;
            };
            match self.check_usage_event(&mut tx, &meter, p, &mut memo).await {
                Ok((e, now)) => {
                    out.push(Value::Null);
                    checked.push((out.len() - 1, name, meter, e, now));
                }
                Err(e @ (AppError::Param(_) | AppError::MissingReference { .. })) => {
                    out.push(refusal(&e));
                }
                Err(e) => return Err(e),
            }
        }
        // Written a few hundred rows a statement; an identifier already recorded (or twice
        // in this batch) is written once and refused after.
        let rows: Vec<(&UsageEvent, i64)> = checked.iter().map(|c| (&c.3, c.4)).collect();
        let mut inserted = tx.insert_usage_events(&rows).await?;
        for (slot, _, meter, e, _) in checked {
            match inserted.remove(&e.identifier) {
                Some(seq) => {
                    out[slot] = json!({"identifier": e.identifier, "timestamp": e.timestamp});
                    deltas.push(delta(&e, seq));
                    recorded.push((meter, e));
                }
                None => out[slot] = refusal(&duplicate(&e.identifier)),
            }
        }
        let body = json!({
            "object": "list",
            "url": "/v1/billing/meter_events/batch",
            "recorded": recorded.len(),
            "refused": out.len() - recorded.len(),
            "data": out,
        });
        self.announce_usage(&mut tx, &deltas).await?;
        self.commit_response(tx, ctx, 200, &body).await?;
        self.usage_cache().apply(&deltas);
        let mut by_meter: HashMap<String, (Meter, Vec<UsageEvent>)> = HashMap::new();
        for (meter, e) in recorded {
            by_meter
                .entry(meter.id.clone())
                .or_insert_with(|| (meter, Vec::new()))
                .1
                .push(e);
        }
        for (meter, events) in by_meter.values() {
            self.usage_recorded(meter, events).await;
        }
        Ok(body)
    }

    pub async fn create_alert(&self, ctx: &RequestCtx, p: AlertCreateParams) -> AppResult<Value> {
        let alert = Alert::new(new_id(ALERT_PREFIX), self.now(), &p)?;
        let _: Meter = self
            .load(&alert.meter)
            .await
            .map_err(|_| AppError::MissingReference {
                object: "billing.meter",
                id: alert.meter.clone(),
                param: "usage_threshold[meter]".into(),
            })?;
        if let Some(c) = &alert.customer {
            let live = has_prefix(c, CUSTOMER_PREFIX)
                && self.store().customer(c).await?.is_some_and(|r| !r.deleted);
            if !live {
                return Err(AppError::MissingReference {
                    object: "customer",
                    id: c.clone(),
                    param: "usage_threshold[filters][0][customer]".into(),
                });
            }
        }
        let mut tx = self.store().begin().await?;
        self.insert_doc(&mut tx, &alert).await?;
        self.finish(tx, ctx, alert.to_json(), &[]).await
    }

    pub async fn retrieve_alert(&self, id: &str) -> AppResult<Value> {
        self.retrieve_doc(id, &[], Alert::to_json).await
    }

    pub async fn list_alerts(&self, p: &AlertListParams) -> AppResult<ListResult> {
        if let Some(t) = &p.alert_type
            && t != "usage_threshold"
        {
            return Err(
                ParamError::invalid("alert_type", format!("Invalid alert_type: {t}")).into(),
            );
        }
        let filter = DocFilter {
            parent: p.meter.clone(),
            ..DocFilter::default()
        };
        self.list_docs::<Alert>(&filter, &p.page()?, &[], Alert::to_json)
            .await
    }

    /// Activates, deactivates or archives an alert (an archived alert stays archived).
    pub async fn set_alert_status(
        &self,
        ctx: &RequestCtx,
        id: &str,
        status: &str,
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut alert: Alert = self.load_for_update(&mut tx, id).await?;
        if alert.status == "archived" {
            return Err(
                ParamError::new("", "alert_archived", format!("Alert {id} is archived.")).into(),
            );
        }
        alert.status = status.to_string();
        self.save_doc(&mut tx, &alert).await?;
        self.finish(tx, ctx, alert.to_json(), &[]).await
    }

    /// `POST /v1/billing/meter_event_adjustments`: cancels an event by identifier.
    pub async fn adjust_event(
        &self,
        ctx: &RequestCtx,
        p: MeterAdjustmentParams,
    ) -> AppResult<Value> {
        let name = p
            .event_name
            .clone()
            .ok_or_else(|| ParamError::missing("event_name"))?;
        let identifier = p.identifier()?.to_string();
        let id = self.store().meter_for_event(&name).await?.ok_or_else(|| {
            ParamError::new(
                "event_name",
                "resource_missing",
                format!("No meter was found for event_name {name}."),
            )
        })?;
        let mut tx = self.store().begin().await?;
        let Some((customer, ts, _)) = tx.cancel_usage_event(&id, &identifier).await? else {
            return Err(ParamError::new(
                "cancel[identifier]",
                "resource_missing",
                format!("No meter event with identifier {identifier} to cancel."),
            )
            .into());
        };
        tx.lock_usage(&id, &customer, false).await?;
        if let Some(billed) = tx.usage_billed_through(&id, &customer).await?
            && ts < billed
        {
            return Err(ParamError::new(
                "cancel[identifier]",
                "meter_event_period_invoiced",
                "The event's period has already been invoiced; it cannot be canceled.",
            )
            .into());
        }
        let forget = (id.clone(), customer.clone());
        let response = json!({
            "id": new_id(METER_ADJUSTMENT_PREFIX),
            "object": "billing.meter_event_adjustment",
            "cancel": {"identifier": identifier},
            "event_name": name,
            "livemode": false,
            "status": "complete",
            "type": "cancel",
        });
        tx.bump_customer_version(&forget.1).await?;
        let response = self.finish(tx, ctx, response, &[]).await?;
        self.usage_cache().forget_usage(&forget.0, &forget.1);
        Ok(response)
    }

    /// `GET /v1/billing/meters/{id}/event_summaries`: one summary for the range, or one per
    /// hour or day window in it, newest first as Stripe lists them.
    pub async fn summaries(&self, id: &str, p: &SummaryParams) -> AppResult<ListResult> {
        let meter: Meter = self.load(id).await?;
        let range = p.checked()?;
        let events = self
            .store()
            .usage_events(&meter.id, &range.customer, range.start, range.end)
            .await?;
        let mut buckets: Vec<((i64, i64), cashbox_core::usage::Aggregate)> = range
            .windows()
            .map(|window| (window, Default::default()))
            .collect();
        for (ts, value) in events {
            if let Some(b) = range.window_of(ts).and_then(|i| buckets.get_mut(i)) {
                b.1.add(ts, value);
            }
        }
        let page = cashbox_core::list::Page::parse(
            p.limit,
            p.starting_after.clone(),
            p.ending_before.clone(),
        )?;
        let mut data: Vec<Value> = buckets
            .iter()
            .map(|((s, e), a)| summary_json(&meter.id, *s, *e, a.value(meter.formula)))
            .collect();
        data.reverse();
        Ok(page_values(data, &page))
    }
}
