//! The usage check's memory: what a check reads is kept in this process so the check answers
//! without scanning usage.
//!
//! - **Usage**: per (meter, customer, period start), the aggregate of live events from that
//!   start on. Loaded once from the store, then kept exact by applying each recorded event as
//!   its transaction commits: this process's own at once, other processes' (PostgreSQL) from
//!   `NOTIFY cashbox_usage`, which PostgreSQL delivers after their commit. A load that races
//!   with new events buffers them and adds those its read did not see (by arrival number), so
//!   nothing is counted twice or lost. A cancel drops the entries it touches; losing the
//!   listening connection drops everything.
//! - **Profiles**: per customer, the subscriptions, spend limits, credit grants and meter
//!   formulas a check needs, tagged with the customer's version. Every transaction that
//!   changes one of them bumps the version in the store, and a check reads the version (one
//!   primary-key read) before trusting its profile, so a change made by any process is seen
//!   by the next check.
//! - **Entitlements**: per customer, what they are entitled to, tagged with their version and
//!   the catalog-wide one (product features), and good until the soonest period or grant end.
//!   A quota's use is read from the store on each check (one primary-key read): consumes are
//!   exact there.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use cashbox_core::billing::subscription::Subscription;
use cashbox_core::usage::credits::{CreditGrant, SpendLimit};
use cashbox_core::usage::{Aggregate, Formula};

pub(crate) const USAGE_CHANNEL: &str = "cashbox_usage";

/// One recorded event, as a change to the cached aggregates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Delta {
    pub meter: String,
    pub customer: String,
    pub seq: i64,
    pub ts: i64,
    pub value: i64,
}

/// What a usage check needs to know about a customer, as of `version`.
#[derive(Debug, Clone)]
pub(crate) struct Profile {
    pub version: i64,
    pub test_clock: Option<String>,
    pub subscriptions: Vec<Subscription>,
    pub limits: Vec<SpendLimit>,
    pub grants: Vec<CreditGrant>,
    /// Meter id → (event name, formula), for the meters of the subscriptions' items.
    pub meters: HashMap<String, (String, Formula)>,
}

type Key = (String, String);

#[derive(Default)]
struct Loading {
    loaders: usize,
    deltas: Vec<Delta>,
    poisoned: bool,
}

/// A customer's entitlements as of both versions, good until `valid_until` (the soonest a
/// period or a purchase's grant ends).
#[derive(Debug, Clone)]
pub(crate) struct Entitlements {
    pub versions: (i64, i64),
    pub test_clock: Option<String>,
    pub valid_until: i64,
    pub by_feature:
        std::collections::BTreeMap<String, cashbox_core::usage::entitlements::Entitlement>,
}

#[derive(Default)]
struct State {
    usage: HashMap<Key, Vec<(i64, Aggregate)>>,
    loading: HashMap<Key, Loading>,
    profiles: HashMap<String, Arc<Profile>>,
    entitlements: HashMap<String, Arc<Entitlements>>,
}

pub(crate) struct UsageCache {
    /// This process, in notifications: its own are applied when it commits, not again.
    pub origin: String,
    state: Mutex<State>,
}

impl Default for UsageCache {
    fn default() -> Self {
        Self {
            origin: cashbox_core::id::random_token(12),
            state: Mutex::default(),
        }
    }
}

impl UsageCache {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached aggregate of (meter, customer) from `from` on.
    pub fn usage(&self, meter: &str, customer: &str, from: i64) -> Option<Aggregate> {
        let s = self.state();
        let entries = s.usage.get(&(meter.to_string(), customer.to_string()))?;
        entries.iter().find(|(f, _)| *f == from).map(|(_, a)| *a)
    }

    /// Marks a load of (meter, customer) as started: events applied from now on are kept
    /// for it.
    pub fn begin_load(&self, meter: &str, customer: &str) {
        let mut s = self.state();
        let l = s
            .loading
            .entry((meter.to_string(), customer.to_string()))
            .or_default();
        l.loaders += 1;
    }

    /// Installs what a load read (`rows`: seq, ts, value) for (meter, customer) from `from`,
    /// with the events that committed meanwhile; returns the aggregate.
    pub fn finish_load(
        &self,
        meter: &str,
        customer: &str,
        from: i64,
        rows: &[(i64, i64, i64)],
    ) -> Aggregate {
        let key = (meter.to_string(), customer.to_string());
        let mut agg = Aggregate::default();
        let mut seen = HashSet::with_capacity(rows.len());
        for (seq, ts, value) in rows {
            agg.add(*ts, *value);
            seen.insert(*seq);
        }
        let mut s = self.state();
        let mut install = true;
        if let Some(l) = s.loading.get_mut(&key) {
            for d in &l.deltas {
                if d.ts >= from && !seen.contains(&d.seq) {
                    agg.add(d.ts, d.value);
                }
            }
            install = !l.poisoned;
            l.loaders -= 1;
            if l.loaders == 0 {
                s.loading.remove(&key);
            }
        }
        if install {
            let entries = s.usage.entry(key).or_default();
            entries.retain(|(f, _)| *f != from);
            entries.push((from, agg));
        }
        agg
    }

    /// Applies committed events.
    pub fn apply(&self, deltas: &[Delta]) {
        let mut s = self.state();
        for d in deltas {
            let key = (d.meter.clone(), d.customer.clone());
            if let Some(entries) = s.usage.get_mut(&key) {
                for (from, agg) in entries.iter_mut() {
                    if d.ts >= *from {
                        agg.add(d.ts, d.value);
                    }
                }
            }
            if let Some(l) = s.loading.get_mut(&key) {
                l.deltas.push(d.clone());
            }
        }
    }

    /// Drops what is cached for (meter, customer): an event was canceled.
    pub fn forget_usage(&self, meter: &str, customer: &str) {
        let mut s = self.state();
        let key = (meter.to_string(), customer.to_string());
        s.usage.remove(&key);
        if let Some(l) = s.loading.get_mut(&key) {
            l.poisoned = true;
        }
    }

    /// Drops every usage aggregate (notifications may have been missed).
    pub fn forget_all_usage(&self) {
        let mut s = self.state();
        s.usage.clear();
        for l in s.loading.values_mut() {
            l.poisoned = true;
        }
    }

    pub fn profile(&self, customer: &str, version: i64) -> Option<Arc<Profile>> {
        let s = self.state();
        s.profiles
            .get(customer)
            .filter(|p| p.version == version)
            .cloned()
    }

    pub fn entitlements(&self, customer: &str, versions: (i64, i64)) -> Option<Arc<Entitlements>> {
        self.state()
            .entitlements
            .get(customer)
            .filter(|e| e.versions == versions)
            .cloned()
    }

    pub fn set_entitlements(&self, customer: &str, e: Entitlements) -> Arc<Entitlements> {
        let e = Arc::new(e);
        self.state()
            .entitlements
            .insert(customer.to_string(), e.clone());
        e
    }

    pub fn set_profile(&self, customer: &str, p: Profile) -> Arc<Profile> {
        let p = Arc::new(p);
        self.state()
            .profiles
            .insert(customer.to_string(), p.clone());
        p
    }
}

/// Notification payloads: one line per event, `origin|meter|customer|seq|ts|value`, split
/// into payloads under PostgreSQL's 8,000-byte limit.
pub(crate) fn encode(origin: &str, deltas: &[Delta]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for d in deltas {
        let line = format!(
            "{origin}|{}|{}|{}|{}|{}\n",
            d.meter, d.customer, d.seq, d.ts, d.value
        );
        if cur.len() + line.len() > 7_500 {
            out.push(std::mem::take(&mut cur));
        }
        cur.push_str(&line);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The events in a payload that came from another process.
pub(crate) fn decode(own: &str, payload: &str) -> Vec<Delta> {
    payload
        .lines()
        .filter_map(|line| {
            let mut f = line.split('|');
            let origin = f.next()?;
            if origin == own {
                return None;
            }
            Some(Delta {
                meter: f.next()?.to_string(),
                customer: f.next()?.to_string(),
                seq: f.next()?.parse().ok()?,
                ts: f.next()?.parse().ok()?,
                value: f.next()?.parse().ok()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(seq: i64, ts: i64, value: i64) -> Delta {
        Delta {
            meter: "mtr_1".into(),
            customer: "cus_1".into(),
            seq,
            ts,
            value,
        }
    }

    #[test]
    fn a_load_racing_with_commits_counts_each_event_once() {
        let c = UsageCache::default();
        c.begin_load("mtr_1", "cus_1");
        // Committed during the load: seq 3 was seen by the read, seq 4 was not.
        c.apply(&[d(3, 100, 5), d(4, 101, 7)]);
        let agg = c.finish_load("mtr_1", "cus_1", 50, &[(1, 60, 1), (3, 100, 5)]);
        assert_eq!(agg.value(Formula::Sum), 13);
        assert_eq!(agg.value(Formula::Count), 3);
        // After the load, events apply directly; earlier ones than the period do not count.
        c.apply(&[d(5, 120, 10), d(6, 40, 1000)]);
        let cached = c.usage("mtr_1", "cus_1", 50).unwrap();
        assert_eq!(cached.value(Formula::Sum), 23);
        assert_eq!(cached.value(Formula::Last), 10);
    }

    #[test]
    fn a_cancel_during_a_load_keeps_its_result_out_of_the_cache() {
        let c = UsageCache::default();
        c.begin_load("mtr_1", "cus_1");
        c.forget_usage("mtr_1", "cus_1");
        c.finish_load("mtr_1", "cus_1", 0, &[(1, 1, 1)]);
        assert!(c.usage("mtr_1", "cus_1", 0).is_none());
    }

    #[test]
    fn payloads_round_trip_and_skip_this_process() {
        let many: Vec<Delta> = (0..300).map(|i| d(i, 1_000 + i, i)).collect();
        let payloads = encode("me", &many);
        assert!(payloads.len() > 1 && payloads.iter().all(|p| p.len() < 8_000));
        let back: Vec<Delta> = payloads.iter().flat_map(|p| decode("other", p)).collect();
        assert_eq!(back, many);
        assert!(payloads.iter().all(|p| decode("me", p).is_empty()));
    }
}
