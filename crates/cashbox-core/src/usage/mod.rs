//! Usage: what customers consume and may consume. Prepaid [`credits`] and spend limits,
//! [`entitlements`] to features and purchases, and (here) billing meters and meter events as
//! Stripe has them: a meter names the events it counts (`event_name`), which payload key
//! names the customer and which the value, and how a period's events aggregate (sum, count
//! or the last value). Meter events are checked here
//! (timestamp window, value, customer key) before the store records them.

pub mod credits;
pub mod entitlements;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::ParamError;
use crate::billing::catalog::Text;
use crate::payments::check_text;

pub const METER_PREFIX: &str = "mtr";
pub const METER_EVENT_SUMMARY_PREFIX: &str = "mtrusg";
pub const METER_ADJUSTMENT_PREFIX: &str = "mtradj";
/// Stripe accepts meter events up to 35 days old …
pub const EVENT_MAX_AGE_SECS: i64 = 35 * 86_400;
/// … and up to 5 minutes in the future.
pub const EVENT_MAX_AHEAD_SECS: i64 = 5 * 60;
/// Usage that arrives after its period ended but within this grace window is still billed
/// on that period's invoice: a subscription with metered prices renews this long after its
/// period ends (the new period still starts at the boundary). Stripe keeps renewal invoices
/// in draft for about an hour for the same reason.
pub const USAGE_GRACE_SECS: i64 = 3_600;
pub const EVENT_NAME_CHARS_MAX: usize = 100;
pub const IDENTIFIER_CHARS_MAX: usize = 100;
/// Events one request of the batch endpoint may carry.
pub const BATCH_EVENTS_MAX: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Formula {
    Sum,
    Count,
    Last,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meter {
    pub id: String,
    pub created: i64,
    pub updated: i64,
    pub display_name: String,
    pub event_name: String,
    pub formula: Formula,
    pub customer_key: String,
    pub value_key: String,
    pub active: bool,
    pub deactivated_at: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeterCreateParams {
    pub display_name: Option<String>,
    pub event_name: Option<String>,
    pub default_aggregation: Option<AggregationParams>,
    pub customer_mapping: Option<CustomerMappingParams>,
    pub value_settings: Option<ValueSettingsParams>,
    pub event_time_window: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AggregationParams {
    pub formula: Option<Formula>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerMappingParams {
    pub event_payload_key: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ValueSettingsParams {
    pub event_payload_key: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeterUpdateParams {
    pub display_name: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MeterListParams {
    pub status: Option<String>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(MeterListParams);

fn payload_key(param: &str, v: &Option<String>, default: &str) -> Result<String, ParamError> {
    match v {
        None => Ok(default.to_string()),
        Some(k) if k.trim().is_empty() => Err(ParamError::empty(param)),
        Some(k) => {
            check_text(param, v, EVENT_NAME_CHARS_MAX)?;
            Ok(k.clone())
        }
    }
}

impl Meter {
    pub fn new(id: String, now: i64, p: &MeterCreateParams) -> Result<Self, ParamError> {
        let display_name = p
            .display_name
            .clone()
            .ok_or_else(|| ParamError::missing("display_name"))?;
        check_text("display_name", &p.display_name, 250)?;
        let event_name = p
            .event_name
            .clone()
            .ok_or_else(|| ParamError::missing("event_name"))?;
        if event_name.trim().is_empty() {
            return Err(ParamError::empty("event_name"));
        }
        check_text("event_name", &p.event_name, EVENT_NAME_CHARS_MAX)?;
        let formula = p
            .default_aggregation
            .as_ref()
            .and_then(|a| a.formula)
            .ok_or_else(|| ParamError::missing("default_aggregation[formula]"))?;
        if let Some(kind) = p.customer_mapping.as_ref().and_then(|m| m.kind.as_deref())
            && kind != "by_id"
        {
            return Err(ParamError::invalid(
                "customer_mapping[type]",
                format!("Invalid customer_mapping[type]: {kind}; the only mapping is by_id"),
            ));
        }
        if let Some(w) = &p.event_time_window {
            return Err(ParamError::invalid(
                "event_time_window",
                format!(
                    "event_time_window={w} is not supported; events are summarized by summaries' value_grouping_window"
                ),
            ));
        }
        Ok(Self {
            id,
            created: now,
            updated: now,
            display_name,
            event_name,
            formula,
            customer_key: payload_key(
                "customer_mapping[event_payload_key]",
                &p.customer_mapping
                    .as_ref()
                    .and_then(|m| m.event_payload_key.clone()),
                "stripe_customer_id",
            )?,
            value_key: payload_key(
                "value_settings[event_payload_key]",
                &p.value_settings
                    .as_ref()
                    .and_then(|v| v.event_payload_key.clone()),
                "value",
            )?,
            active: true,
            deactivated_at: None,
        })
    }

    pub fn update(&mut self, p: &MeterUpdateParams, now: i64) -> Result<(), ParamError> {
        if let Some(name) = &p.display_name {
            check_text("display_name", &p.display_name, 250)?;
            if name.trim().is_empty() {
                return Err(ParamError::empty("display_name"));
            }
            self.display_name = name.clone();
        }
        self.updated = now;
        Ok(())
    }

    pub fn set_active(&mut self, active: bool, now: i64) -> Result<(), ParamError> {
        if self.active == active {
            let state = if active { "active" } else { "inactive" };
            return Err(ParamError::new(
                "",
                "billing_meter_invalid_status",
                format!("The meter {} is already {state}.", self.id),
            ));
        }
        self.active = active;
        self.deactivated_at = (!active).then_some(now);
        self.updated = now;
        Ok(())
    }

    pub fn status(&self) -> &'static str {
        if self.active { "active" } else { "inactive" }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "billing.meter",
            "created": self.created,
            "customer_mapping": {"event_payload_key": self.customer_key, "type": "by_id"},
            "default_aggregation": {"formula": self.formula},
            "display_name": self.display_name,
            "event_name": self.event_name,
            "event_time_window": null,
            "livemode": false,
            "status": self.status(),
            "status_transitions": {"deactivated_at": self.deactivated_at},
            "updated": self.updated,
            "value_settings": {"event_payload_key": self.value_key},
        })
    }

    /// Checks one meter event against this meter at `now` (the customer's time): what the
    /// store records.
    pub fn read_event(
        &self,
        p: &MeterEventParams,
        identifier: String,
        now: i64,
    ) -> Result<UsageEvent, ParamError> {
        let key = |k: &str| format!("payload[{k}]");
        let customer = p
            .payload
            .as_ref()
            .and_then(|m| m.get(&self.customer_key))
            .map(|t| t.0.clone())
            .filter(|c| !c.is_empty())
            .ok_or_else(|| ParamError::missing(key(&self.customer_key)))?;
        let value = match p.payload.as_ref().and_then(|m| m.get(&self.value_key)) {
            None if self.formula == Formula::Count => 1,
            None => return Err(ParamError::missing(key(&self.value_key))),
            Some(t) => t.0.trim().parse::<i64>().map_err(|_| {
                ParamError::invalid(
                    key(&self.value_key),
                    format!(
                        "Invalid {}: meter event values must be whole numbers, got {:?}",
                        key(&self.value_key),
                        t.0
                    ),
                )
            })?,
        };
        let timestamp = p.timestamp.unwrap_or(now);
        check_timestamp(timestamp, now)?;
        Ok(UsageEvent {
            meter: self.id.clone(),
            customer,
            identifier,
            timestamp,
            value,
        })
    }
}

/// Stripe's window for an event's timestamp: at most 35 days old, at most 5 minutes ahead.
pub fn check_timestamp(ts: i64, now: i64) -> Result<(), ParamError> {
    if ts < now - EVENT_MAX_AGE_SECS {
        return Err(ParamError::new(
            "timestamp",
            "timestamp_too_far_in_past",
            "Meter event timestamps must be within the past 35 days.",
        ));
    }
    if ts > now + EVENT_MAX_AHEAD_SECS {
        return Err(ParamError::new(
            "timestamp",
            "timestamp_in_future",
            "Meter event timestamps may be at most 5 minutes in the future.",
        ));
    }
    Ok(())
}

#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeterEventParams {
    pub event_name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub payload: Option<BTreeMap<String, Text>>,
    pub identifier: Option<String>,
    pub timestamp: Option<i64>,
}

impl MeterEventParams {
    pub fn event_name(&self) -> Result<&str, ParamError> {
        let name = self
            .event_name
            .as_deref()
            .ok_or_else(|| ParamError::missing("event_name"))?;
        check_text("event_name", &self.event_name, EVENT_NAME_CHARS_MAX)?;
        Ok(name)
    }

    /// The caller's identifier, checked, or `None` (one is generated).
    pub fn identifier(&self) -> Result<Option<String>, ParamError> {
        match &self.identifier {
            Some(i) if i.is_empty() => Err(ParamError::empty("identifier")),
            Some(i) => {
                check_text("identifier", &self.identifier, IDENTIFIER_CHARS_MAX)?;
                Ok(Some(i.clone()))
            }
            None => Ok(None),
        }
    }
}

/// A meter event as stored: which meter and customer, when, and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEvent {
    pub meter: String,
    pub customer: String,
    pub identifier: String,
    pub timestamp: i64,
    pub value: i64,
}

impl UsageEvent {
    /// Stripe's `billing.meter_event` answer.
    pub fn to_json(&self, event_name: &str, p: &MeterEventParams, created: i64) -> Value {
        let payload: serde_json::Map<String, Value> = p
            .payload
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), Value::String(v.0.clone())))
            .collect();
        json!({
            "object": "billing.meter_event",
            "created": created,
            "event_name": event_name,
            "identifier": self.identifier,
            "livemode": false,
            "payload": payload,
            "timestamp": self.timestamp,
        })
    }
}

/// A period's events folded by a meter's formula. Sums saturate rather than wrap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Aggregate {
    pub sum: i64,
    pub count: i64,
    /// The value of the latest event (by timestamp, then by arrival).
    pub last: Option<(i64, i64)>,
}

impl Aggregate {
    pub fn add(&mut self, timestamp: i64, value: i64) {
        self.sum = self.sum.saturating_add(value);
        self.count += 1;
        if self.last.is_none_or(|(t, _)| timestamp >= t) {
            self.last = Some((timestamp, value));
        }
    }

    pub fn merge(&mut self, other: &Aggregate) {
        self.sum = self.sum.saturating_add(other.sum);
        self.count += other.count;
        if let Some((t, v)) = other.last
            && self.last.is_none_or(|(mine, _)| t >= mine)
        {
            self.last = Some((t, v));
        }
    }

    pub fn value(&self, formula: Formula) -> i64 {
        match formula {
            Formula::Sum => self.sum,
            Formula::Count => self.count,
            Formula::Last => self.last.map_or(0, |(_, v)| v),
        }
    }

    /// The billable quantity: usage below zero bills nothing.
    pub fn quantity(&self, formula: Formula) -> u64 {
        u64::try_from(self.value(formula).max(0)).unwrap_or(0)
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeterAdjustmentParams {
    pub event_name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub cancel: Option<CancelParams>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelParams {
    pub identifier: Option<String>,
}

impl MeterAdjustmentParams {
    /// The identifier of the event to cancel.
    pub fn identifier(&self) -> Result<&str, ParamError> {
        match self.kind.as_deref() {
            None | Some("cancel") => {}
            Some(other) => {
                return Err(ParamError::invalid(
                    "type",
                    format!("Invalid type: {other}; the only adjustment is cancel"),
                ));
            }
        }
        self.cancel
            .as_ref()
            .and_then(|c| c.identifier.as_deref())
            .filter(|i| !i.is_empty())
            .ok_or_else(|| ParamError::missing("cancel[identifier]"))
    }
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SummaryParams {
    pub customer: Option<String>,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub value_grouping_window: Option<String>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}

/// At most this many windows are summarized by one request.
pub const SUMMARY_WINDOWS_MAX: i64 = 10_000;

/// What a summary request asks for: the customer's usage over `[start, end)`, in windows of
/// `width` seconds (the last one cut at `end`), at most [`SUMMARY_WINDOWS_MAX`] of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryRange {
    pub customer: String,
    pub start: i64,
    pub end: i64,
    width: i64,
}

impl SummaryRange {
    /// The windows' `[start, end)`, oldest first.
    pub fn windows(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        (self.start..self.end)
            .step_by(self.width as usize)
            .map(|s| (s, (s + self.width).min(self.end)))
    }

    /// The index of the window holding `timestamp`, if one does.
    pub fn window_of(&self, timestamp: i64) -> Option<usize> {
        if !(self.start..self.end).contains(&timestamp) {
            return None;
        }
        usize::try_from((timestamp - self.start) / self.width).ok()
    }
}

impl SummaryParams {
    /// The customer, the range and its windows. Times are timestamps up to
    /// [`crate::clock::TIME_MAX`] on whole minutes, and on whole windows when a window is asked
    /// for.
    pub fn checked(&self) -> Result<SummaryRange, ParamError> {
        let customer = self
            .customer
            .clone()
            .ok_or_else(|| ParamError::missing("customer"))?;
        let start = self
            .start_time
            .ok_or_else(|| ParamError::missing("start_time"))?;
        let end = self
            .end_time
            .ok_or_else(|| ParamError::missing("end_time"))?;
        let start = crate::clock::check_time("start_time", start)?;
        let end = crate::clock::check_time("end_time", end)?;
        if end <= start {
            return Err(ParamError::invalid(
                "end_time",
                "end_time must be after start_time.",
            ));
        }
        let window = match self.value_grouping_window.as_deref() {
            None => None,
            Some("hour") => Some(3_600),
            Some("day") => Some(86_400),
            Some(other) => {
                return Err(ParamError::invalid(
                    "value_grouping_window",
                    format!("Invalid value_grouping_window: {other}; use hour or day"),
                ));
            }
        };
        let unit = window.unwrap_or(60);
        for (param, t) in [("start_time", start), ("end_time", end)] {
            if t.rem_euclid(unit) != 0 {
                let what = match window {
                    None => "a whole minute",
                    Some(3_600) => "a whole hour",
                    _ => "a whole day (UTC)",
                };
                return Err(ParamError::invalid(
                    param,
                    format!("{param} must fall on {what}."),
                ));
            }
        }
        // Both are in [0, TIME_MAX]: the difference cannot overflow.
        let width = window.unwrap_or(end - start);
        if (end - start + width - 1) / width > SUMMARY_WINDOWS_MAX {
            return Err(ParamError::invalid(
                "end_time",
                "At most 10,000 windows may be summarized at once.",
            ));
        }
        Ok(SummaryRange {
            customer,
            start,
            end,
            width,
        })
    }
}

/// Stripe's `billing.meter_event_summary`.
pub fn summary_json(meter: &str, start: i64, end: i64, value: i64) -> Value {
    json!({
        "id": format!("{METER_EVENT_SUMMARY_PREFIX}_{meter}_{start}"),
        "object": "billing.meter_event_summary",
        "aggregated_value": value,
        "end_time": end,
        "livemode": false,
        "meter": meter,
        "start_time": start,
    })
}

pub const ALERT_PREFIX: &str = "alrt";

/// A usage-threshold billing alert: `billing.alert.triggered` once a customer's usage of
/// the meter in their current billing period reaches `gte` (once per customer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub created: i64,
    pub title: String,
    pub meter: String,
    pub gte: i64,
    pub customer: Option<String>,
    /// active, inactive or archived.
    pub status: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertCreateParams {
    pub alert_type: Option<String>,
    pub title: Option<String>,
    pub usage_threshold: Option<UsageThresholdParams>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageThresholdParams {
    pub gte: Option<i64>,
    pub meter: Option<String>,
    pub recurrence: Option<String>,
    pub filters: Option<Vec<AlertFilterParams>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertFilterParams {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub customer: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertListParams {
    pub alert_type: Option<String>,
    pub meter: Option<String>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(AlertListParams);

impl Alert {
    pub fn new(id: String, now: i64, p: &AlertCreateParams) -> Result<Self, ParamError> {
        match p.alert_type.as_deref() {
            Some("usage_threshold") => {}
            Some(other) => {
                return Err(ParamError::invalid(
                    "alert_type",
                    format!("Invalid alert_type: {other}; the only type is usage_threshold"),
                ));
            }
            None => return Err(ParamError::missing("alert_type")),
        }
        let title = p
            .title
            .clone()
            .ok_or_else(|| ParamError::missing("title"))?;
        check_text("title", &p.title, 256)?;
        let u = p
            .usage_threshold
            .as_ref()
            .ok_or_else(|| ParamError::missing("usage_threshold"))?;
        let gte = u
            .gte
            .ok_or_else(|| ParamError::missing("usage_threshold[gte]"))?;
        if gte < 1 {
            return Err(ParamError::invalid(
                "usage_threshold[gte]",
                "Invalid usage_threshold[gte]: must be at least 1",
            ));
        }
        let meter = u
            .meter
            .clone()
            .ok_or_else(|| ParamError::missing("usage_threshold[meter]"))?;
        match u.recurrence.as_deref() {
            None | Some("one_time") => {}
            Some(other) => {
                return Err(ParamError::invalid(
                    "usage_threshold[recurrence]",
                    format!("Invalid recurrence: {other}; the only recurrence is one_time"),
                ));
            }
        }
        let mut customer = None;
        for (i, f) in u.filters.iter().flatten().enumerate() {
            if f.kind.as_deref() != Some("customer") {
                return Err(ParamError::invalid(
                    format!("usage_threshold[filters][{i}][type]"),
                    "The only filter type is customer.",
                ));
            }
            customer = Some(f.customer.clone().ok_or_else(|| {
                ParamError::missing(format!("usage_threshold[filters][{i}][customer]"))
            })?);
        }
        Ok(Self {
            id,
            created: now,
            title,
            meter,
            gte,
            customer,
            status: "active".into(),
        })
    }

    pub fn to_json(&self) -> Value {
        let filters: Vec<Value> = self
            .customer
            .iter()
            .map(|c| json!({"customer": c, "type": "customer"}))
            .collect();
        json!({
            "id": self.id,
            "object": "billing.alert",
            "alert_type": "usage_threshold",
            "livemode": false,
            "status": self.status,
            "title": self.title,
            "usage_threshold": {
                "filters": if filters.is_empty() { Value::Null } else { Value::Array(filters) },
                "gte": self.gte,
                "meter": self.meter,
                "recurrence": "one_time",
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter(formula: Formula) -> Meter {
        Meter::new(
            "mtr_1".into(),
            1_000,
            &MeterCreateParams {
                display_name: Some("Tokens".into()),
                event_name: Some("tokens".into()),
                default_aggregation: Some(AggregationParams {
                    formula: Some(formula),
                }),
                ..Default::default()
            },
        )
        .unwrap()
    }

    fn event(customer: &str, value: &str, ts: Option<i64>) -> MeterEventParams {
        let mut payload = BTreeMap::new();
        payload.insert("stripe_customer_id".into(), Text(customer.into()));
        payload.insert("value".into(), Text(value.into()));
        MeterEventParams {
            event_name: Some("tokens".into()),
            payload: Some(payload),
            identifier: None,
            timestamp: ts,
        }
    }

    #[test]
    fn events_are_read_by_the_meters_keys_within_stripes_window() {
        let m = meter(Formula::Sum);
        let now = 100 * 86_400;
        let e = m
            .read_event(&event("cus_1", "25", None), "id1".into(), now)
            .unwrap();
        assert_eq!(
            (e.customer.as_str(), e.value, e.timestamp),
            ("cus_1", 25, now)
        );
        let old = event("cus_1", "1", Some(now - EVENT_MAX_AGE_SECS - 1));
        assert_eq!(
            m.read_event(&old, "x".into(), now).unwrap_err().code,
            "timestamp_too_far_in_past"
        );
        let ahead = event("cus_1", "1", Some(now + EVENT_MAX_AHEAD_SECS + 1));
        assert_eq!(
            m.read_event(&ahead, "x".into(), now).unwrap_err().code,
            "timestamp_in_future"
        );
        let edge = event("cus_1", "1", Some(now + EVENT_MAX_AHEAD_SECS));
        assert!(m.read_event(&edge, "x".into(), now).is_ok());
        let frac = event("cus_1", "1.5", None);
        assert_eq!(
            m.read_event(&frac, "x".into(), now).unwrap_err().param,
            "payload[value]"
        );
        let mut nocus = event("", "1", None);
        nocus.payload.as_mut().unwrap().remove("stripe_customer_id");
        assert_eq!(
            m.read_event(&nocus, "x".into(), now).unwrap_err().param,
            "payload[stripe_customer_id]"
        );
    }

    #[test]
    fn count_meters_need_no_value() {
        let m = meter(Formula::Count);
        let mut p = event("cus_1", "9", None);
        p.payload.as_mut().unwrap().remove("value");
        assert_eq!(m.read_event(&p, "x".into(), 0).unwrap().value, 1);
    }

    #[test]
    fn aggregates_follow_the_formula() {
        let mut a = Aggregate::default();
        a.add(10, 5);
        a.add(30, 7);
        a.add(20, 100);
        assert_eq!(a.value(Formula::Sum), 112);
        assert_eq!(a.value(Formula::Count), 3);
        assert_eq!(a.value(Formula::Last), 7);
        let mut b = Aggregate::default();
        b.add(40, -3);
        a.merge(&b);
        assert_eq!(a.value(Formula::Last), -3);
        assert_eq!(a.quantity(Formula::Last), 0);
        assert_eq!(a.quantity(Formula::Sum), 109);
    }

    fn summary_params(start: i64, end: i64, window: Option<&str>) -> SummaryParams {
        SummaryParams {
            customer: Some("cus_1".into()),
            start_time: Some(start),
            end_time: Some(end),
            value_grouping_window: window.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn summary_ranges_fall_on_their_windows() {
        let p = summary_params;
        let range = p(0, 7_200, Some("hour")).checked().unwrap();
        assert_eq!(
            range.windows().collect::<Vec<_>>(),
            [(0, 3_600), (3_600, 7_200)]
        );
        assert_eq!(range.window_of(3_600), Some(1));
        assert_eq!(range.window_of(7_200), None);
        assert_eq!(range.window_of(-1), None);
        assert_eq!(
            p(60, 7_200, Some("hour")).checked().unwrap_err().param,
            "start_time"
        );
        assert!(p(60, 120, None).checked().is_ok());
        assert_eq!(p(61, 120, None).checked().unwrap_err().param, "start_time");
        assert_eq!(p(120, 60, None).checked().unwrap_err().param, "end_time");
        let whole = p(0, 180, None).checked().unwrap();
        assert_eq!(whole.windows().collect::<Vec<_>>(), [(0, 180)]);
    }

    /// Found by a probe: `end - start` overflowed and the window loop then allocated without
    /// bound.
    #[test]
    fn summary_ranges_are_bounded() {
        let p = summary_params;
        let far = i64::MAX - i64::MAX.rem_euclid(86_400);
        let near_min = -far;
        for w in [None, Some("hour"), Some("day")] {
            assert_eq!(
                p(near_min, far, w).checked().unwrap_err().param,
                "start_time"
            );
            assert_eq!(p(0, far, w).checked().unwrap_err().param, "end_time");
        }
        let time_max = crate::clock::TIME_MAX - crate::clock::TIME_MAX.rem_euclid(86_400);
        let all = p(0, time_max, None).checked().unwrap();
        assert_eq!(all.windows().count(), 1);
        assert_eq!(
            p(0, time_max, Some("day")).checked().unwrap_err().param,
            "end_time"
        );
        let most = p(0, 10_000 * 86_400, Some("day")).checked().unwrap();
        assert_eq!(most.windows().count(), 10_000);
        assert!(p(0, 10_001 * 86_400, Some("day")).checked().is_err());
    }
}
