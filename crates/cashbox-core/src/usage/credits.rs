//! Credit grants (Stripe's billing credits: paid or promotional money a customer's metered
//! charges draw on first) and, beyond Stripe, spend limits: how much metered usage a customer
//! or subscription may run up in a billing period before usage is refused (or billed as
//! overage), answered by a usage check before the work is done.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::ParamError;
use crate::currency::Currency;
use crate::metadata::{Metadata, MetadataParam, present};
use crate::money::CHARGE_AMOUNT_MAX_MINOR as MAX_AMOUNT;
use crate::payments::check_text;

pub const CREDIT_GRANT_PREFIX: &str = "credgr";
pub const SPEND_LIMIT_PREFIX: &str = "spl";
/// The PaymentIntent metadata key that makes a payment a top-up: when it succeeds, its
/// amount becomes a paid credit grant for its customer.
pub const TOP_UP_METADATA_KEY: &str = "cashbox_top_up";
pub const PRIORITY_DEFAULT: i64 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GrantCategory {
    Paid,
    Promotional,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditGrant {
    pub id: String,
    pub created: i64,
    pub updated: i64,
    pub customer: String,
    pub currency: Currency,
    /// What was granted, in minor units.
    pub amount: i64,
    /// What is left of it.
    pub remaining: i64,
    pub category: GrantCategory,
    pub priority: i64,
    pub effective_at: i64,
    pub expires_at: Option<i64>,
    pub voided_at: Option<i64>,
    pub name: Option<String>,
    pub metadata: Metadata,
    pub test_clock: Option<String>,
    /// The top-up PaymentIntent that paid for it.
    pub payment_intent: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditGrantCreateParams {
    pub customer: Option<String>,
    pub amount: Option<GrantAmountParams>,
    pub applicability_config: Option<ApplicabilityParams>,
    pub category: Option<GrantCategory>,
    pub effective_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub name: Option<String>,
    pub priority: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantAmountParams {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub monetary: Option<MonetaryParams>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonetaryParams {
    pub currency: Option<String>,
    pub value: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicabilityParams {
    pub scope: Option<ScopeParams>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeParams {
    pub price_type: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditGrantUpdateParams {
    pub expires_at: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CreditGrantListParams {
    pub customer: Option<String>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(CreditGrantListParams);

impl CreditGrant {
    pub fn new(
        id: String,
        now: i64,
        p: &CreditGrantCreateParams,
        test_clock: Option<String>,
    ) -> Result<Self, ParamError> {
        let customer = p
            .customer
            .clone()
            .ok_or_else(|| ParamError::missing("customer"))?;
        let amount = p
            .amount
            .as_ref()
            .ok_or_else(|| ParamError::missing("amount"))?;
        if let Some(kind) = amount.kind.as_deref()
            && kind != "monetary"
        {
            return Err(ParamError::invalid(
                "amount[type]",
                format!("Invalid amount[type]: {kind}; the only type is monetary"),
            ));
        }
        let monetary = amount
            .monetary
            .as_ref()
            .ok_or_else(|| ParamError::missing("amount[monetary]"))?;
        let currency = Currency::parse(
            "amount[monetary][currency]",
            monetary
                .currency
                .as_deref()
                .ok_or_else(|| ParamError::missing("amount[monetary][currency]"))?,
        )?;
        let value = monetary
            .value
            .ok_or_else(|| ParamError::missing("amount[monetary][value]"))?;
        if !(1..=MAX_AMOUNT).contains(&value) {
            return Err(ParamError::invalid(
                "amount[monetary][value]",
                format!("Invalid amount[monetary][value]: must be between 1 and {MAX_AMOUNT}"),
            ));
        }
        match p
            .applicability_config
            .as_ref()
            .and_then(|a| a.scope.as_ref())
            .and_then(|s| s.price_type.as_deref())
        {
            Some("metered") => {}
            Some(other) => {
                return Err(ParamError::invalid(
                    "applicability_config[scope][price_type]",
                    format!("Invalid price_type: {other}; credits apply to metered prices"),
                ));
            }
            None => {
                return Err(ParamError::missing(
                    "applicability_config[scope][price_type]",
                ));
            }
        }
        let category = p.category.ok_or_else(|| ParamError::missing("category"))?;
        let priority = p.priority.unwrap_or(PRIORITY_DEFAULT);
        if !(0..=100).contains(&priority) {
            return Err(ParamError::invalid(
                "priority",
                "Invalid priority: must be between 0 and 100",
            ));
        }
        let effective_at = p.effective_at.unwrap_or(now);
        if let Some(e) = p.expires_at
            && e <= effective_at
        {
            return Err(ParamError::invalid(
                "expires_at",
                "expires_at must be after effective_at.",
            ));
        }
        check_text("name", &p.name, 100)?;
        let metadata = match &p.metadata {
            Some(m) => m.apply(&Metadata::new())?,
            None => Metadata::new(),
        };
        Ok(Self {
            id,
            created: now,
            updated: now,
            customer,
            currency,
            amount: value,
            remaining: value,
            category,
            priority,
            effective_at,
            expires_at: p.expires_at,
            voided_at: None,
            name: p.name.clone(),
            metadata,
            test_clock,
            payment_intent: None,
        })
    }

    /// Whether it can be drawn on at `now`.
    pub fn available_at(&self, now: i64) -> bool {
        self.voided_at.is_none()
            && self.effective_at <= now
            && self.expires_at.is_none_or(|e| e > now)
            && self.remaining > 0
    }

    /// The order grants are drawn on: priority (lower first), soonest expiry, oldest.
    pub fn draw_order(&self) -> (i64, i64, i64, String) {
        (
            self.priority,
            self.expires_at.unwrap_or(i64::MAX),
            self.created,
            self.id.clone(),
        )
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "billing.credit_grant",
            "amount": {"monetary": {"currency": self.currency, "value": self.amount}, "type": "monetary"},
            "applicability_config": {"scope": {"price_type": "metered"}},
            "category": self.category,
            "created": self.created,
            "customer": self.customer,
            "customer_account": null,
            "effective_at": self.effective_at,
            "expires_at": self.expires_at,
            "livemode": false,
            "metadata": self.metadata,
            "name": self.name,
            "priority": self.priority,
            "test_clock": self.test_clock,
            "updated": self.updated,
            "voided_at": self.voided_at,
        })
    }
}

/// Draws up to `want` from `grants` (already filtered to what is available, in any order)
/// in draw order; returns what each gives as (grant id, amount), largest total first.
pub fn draw(grants: &mut [CreditGrant], want: i64) -> Vec<(String, i64)> {
    grants.sort_by_key(CreditGrant::draw_order);
    let mut left = want.max(0);
    let mut out = Vec::new();
    for g in grants.iter_mut() {
        if left == 0 {
            break;
        }
        let take = g.remaining.min(left);
        if take > 0 {
            g.remaining -= take;
            left -= take;
            out.push((g.id.clone(), take));
        }
    }
    out
}

/// Spreads what was drawn over lines that have `room` each for credit, in line order; returns
/// per line the (grant id, amount) pieces it takes. Nothing is placed beyond the room.
pub fn allocate(drawn: &[(String, i64)], room: &[i64]) -> Vec<Vec<(String, i64)>> {
    let mut out = vec![Vec::new(); room.len()];
    let mut line = 0;
    let mut left_in_line = room.first().copied().unwrap_or(0).max(0);
    for (grant, amount) in drawn {
        let mut left = *amount;
        while left > 0 && line < room.len() {
            let take = left.min(left_in_line);
            if take > 0 {
                out[line].push((grant.clone(), take));
                left -= take;
                left_in_line -= take;
            }
            if left_in_line == 0 {
                line += 1;
                left_in_line = room.get(line).copied().unwrap_or(0).max(0);
            }
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitBehavior {
    /// Usage that would pass the limit is refused.
    Block,
    /// Usage past the limit is allowed and billed as overage.
    BillOverage,
}

/// A spending limit on metered usage per billing period, for a customer (all their
/// subscriptions) or one subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpendLimit {
    pub id: String,
    pub created: i64,
    pub customer: String,
    pub subscription: Option<String>,
    pub currency: Currency,
    pub amount: i64,
    pub behavior: LimitBehavior,
    pub metadata: Metadata,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpendLimitCreateParams {
    pub customer: Option<String>,
    pub subscription: Option<String>,
    pub amount: Option<i64>,
    pub currency: Option<String>,
    pub behavior: Option<LimitBehavior>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpendLimitUpdateParams {
    pub amount: Option<i64>,
    pub behavior: Option<LimitBehavior>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<std::collections::HashMap<String, String>>)]
    pub metadata: Option<MetadataParam>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SpendLimitListParams {
    pub customer: Option<String>,
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(SpendLimitListParams);

fn check_limit_amount(v: i64) -> Result<i64, ParamError> {
    if !(0..=MAX_AMOUNT).contains(&v) {
        return Err(ParamError::invalid(
            "amount",
            format!("Invalid amount: must be between 0 and {MAX_AMOUNT}"),
        ));
    }
    Ok(v)
}

impl SpendLimit {
    pub fn new(id: String, now: i64, p: &SpendLimitCreateParams) -> Result<Self, ParamError> {
        let customer = p
            .customer
            .clone()
            .ok_or_else(|| ParamError::missing("customer"))?;
        let amount = check_limit_amount(p.amount.ok_or_else(|| ParamError::missing("amount"))?)?;
        let currency = Currency::parse(
            "currency",
            p.currency
                .as_deref()
                .ok_or_else(|| ParamError::missing("currency"))?,
        )?;
        let metadata = match &p.metadata {
            Some(m) => m.apply(&Metadata::new())?,
            None => Metadata::new(),
        };
        Ok(Self {
            id,
            created: now,
            customer,
            subscription: p.subscription.clone(),
            currency,
            amount,
            behavior: p.behavior.unwrap_or(LimitBehavior::Block),
            metadata,
        })
    }

    pub fn update(&mut self, p: &SpendLimitUpdateParams) -> Result<(), ParamError> {
        if let Some(a) = p.amount {
            self.amount = check_limit_amount(a)?;
        }
        if let Some(b) = p.behavior {
            self.behavior = b;
        }
        if let Some(m) = &p.metadata {
            self.metadata = m.apply(&self.metadata)?;
        }
        Ok(())
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "spend_limit",
            "amount": self.amount,
            "behavior": self.behavior,
            "created": self.created,
            "currency": self.currency,
            "customer": self.customer,
            "livemode": false,
            "metadata": self.metadata,
            "subscription": self.subscription,
        })
    }
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageCheckParams {
    pub customer: Option<String>,
    pub subscription: Option<String>,
    /// The meter the proposed usage is on (by event name).
    pub event_name: Option<String>,
    /// Units of proposed usage on that meter (default 0: is there anything left at all?).
    pub quantity: Option<i64>,
}

/// What a usage check answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageVerdict {
    pub allowed: bool,
    pub reason: &'static str,
    /// What the period's metered usage costs so far, in minor units.
    pub used: i64,
    /// What the proposed usage would add.
    pub cost: i64,
    pub limit: Option<i64>,
    pub credit_balance: i64,
    /// `limit + credit_balance - used`, never below zero.
    pub remaining: Option<i64>,
}

/// Decides a usage check: without a limit anything goes; with one, the proposed cost must
/// fit in what the limit and the credits leave (a `bill_overage` limit only reports).
pub fn verdict(
    used: i64,
    cost: i64,
    credit_balance: i64,
    limit: Option<&SpendLimit>,
) -> UsageVerdict {
    let Some(l) = limit else {
        return UsageVerdict {
            allowed: true,
            reason: "no_limit",
            used,
            cost,
            limit: None,
            credit_balance,
            remaining: None,
        };
    };
    let room = l.amount.saturating_add(credit_balance).saturating_sub(used);
    let fits = if cost == 0 { room > 0 } else { cost <= room };
    let (allowed, reason) = match (fits, l.behavior) {
        (true, _) => (true, "within_limit"),
        (false, LimitBehavior::BillOverage) => (true, "overage"),
        (false, LimitBehavior::Block) => (false, "limit_reached"),
    };
    UsageVerdict {
        allowed,
        reason,
        used,
        cost,
        limit: Some(l.amount),
        credit_balance,
        remaining: Some(room.max(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::currency::USD;

    #[test]
    fn allocation_fills_lines_in_order_and_never_past_their_room() {
        let drawn = vec![("g1".to_string(), 700), ("g2".to_string(), 200)];
        let out = allocate(&drawn, &[500, 0, 300, 1_000]);
        assert_eq!(out[0], vec![("g1".to_string(), 500)]);
        assert!(out[1].is_empty());
        assert_eq!(
            out[2],
            vec![("g1".to_string(), 200), ("g2".to_string(), 100)]
        );
        assert_eq!(out[3], vec![("g2".to_string(), 100)]);
        // More drawn than room: the excess is placed nowhere.
        let out = allocate(&drawn, &[100, -50]);
        assert_eq!(out, vec![vec![("g1".to_string(), 100)], vec![]]);
    }

    fn grant(id: &str, priority: i64, expires: Option<i64>, remaining: i64) -> CreditGrant {
        CreditGrant {
            id: id.into(),
            created: 0,
            updated: 0,
            customer: "cus_1".into(),
            currency: USD,
            amount: remaining,
            remaining,
            category: GrantCategory::Paid,
            priority,
            effective_at: 0,
            expires_at: expires,
            voided_at: None,
            name: None,
            metadata: Metadata::new(),
            test_clock: None,
            payment_intent: None,
        }
    }

    #[test]
    fn credits_are_drawn_by_priority_then_expiry() {
        let mut gs = vec![
            grant("a", 50, None, 300),
            grant("b", 10, None, 100),
            grant("c", 50, Some(99), 100),
        ];
        let d = draw(&mut gs, 350);
        assert_eq!(
            d,
            vec![("b".into(), 100), ("c".into(), 100), ("a".into(), 150)]
        );
        assert_eq!(gs.iter().map(|g| g.remaining).sum::<i64>(), 150);
        assert!(draw(&mut gs, 0).is_empty());
    }

    #[test]
    fn a_limit_blocks_what_would_pass_it_unless_overage_is_billed() {
        let mut l = SpendLimit {
            id: "spl_1".into(),
            created: 0,
            customer: "cus_1".into(),
            subscription: None,
            currency: USD,
            amount: 1_000,
            behavior: LimitBehavior::Block,
            metadata: Metadata::new(),
        };
        let v = verdict(900, 100, 0, Some(&l));
        assert_eq!((v.allowed, v.remaining), (true, Some(100)));
        let v = verdict(900, 101, 0, Some(&l));
        assert_eq!((v.allowed, v.reason), (false, "limit_reached"));
        // A top-up's credit raises the room at once.
        let v = verdict(1_000, 50, 500, Some(&l));
        assert_eq!((v.allowed, v.remaining), (true, Some(500)));
        let v = verdict(1_000, 0, 0, Some(&l));
        assert!(!v.allowed);
        l.behavior = LimitBehavior::BillOverage;
        let v = verdict(5_000, 10, 0, Some(&l));
        assert_eq!(
            (v.allowed, v.reason, v.remaining),
            (true, "overage", Some(0))
        );
        assert_eq!(verdict(5, 5, 0, None).reason, "no_limit");
    }
}
