//! Test clocks: a frozen time that customers (and what they own) live in, moved forward only
//! by `advance`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::ParamError;
use crate::payments::check_text;

pub const TEST_CLOCK_PREFIX: &str = "clock";

/// The latest time Cashbox takes (9999-12-31T23:59:59Z): every timestamp a request gives is
/// at most this, so that sums and differences of two of them, and a period or two added to
/// one, stay far inside `i64` and inside the calendar.
pub const TIME_MAX: i64 = 253_402_300_799;

/// How far one advance may move a test clock: ten years (3,660 days). The work an advance
/// does grows with it (a daily subscription renews 3,650 times in ten years).
pub const ADVANCE_SPAN_MAX_SECS: i64 = 3_660 * 86_400;

/// Checks a timestamp parameter: a Unix time from 1970 to [`TIME_MAX`].
pub fn check_time(param: &str, t: i64) -> Result<i64, ParamError> {
    if (0..=TIME_MAX).contains(&t) {
        Ok(t)
    } else {
        Err(ParamError::invalid(
            param,
            format!("Invalid {param}: must be a Unix timestamp from 0 to {TIME_MAX} (9999-12-31)."),
        ))
    }
}
/// Stripe deletes a test clock 30 days after it was created.
pub const TEST_CLOCK_LIFETIME_SECS: i64 = 30 * 24 * 60 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockStatus {
    Ready,
    Advancing,
    InternalFailure,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestClock {
    pub id: String,
    pub created: i64,
    pub name: Option<String>,
    pub frozen_time: i64,
    pub status: ClockStatus,
    /// While advancing: the time it is advancing to.
    pub advancing_to: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestClockCreateParams {
    pub frozen_time: Option<i64>,
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestClockAdvanceParams {
    pub frozen_time: Option<i64>,
}

#[derive(Debug, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TestClockListParams {
    pub limit: Option<i64>,
    pub starting_after: Option<String>,
    pub ending_before: Option<String>,
}
crate::impl_page!(TestClockListParams);

impl TestClock {
    pub fn new(id: String, now: i64, p: &TestClockCreateParams) -> Result<Self, ParamError> {
        let frozen_time = p
            .frozen_time
            .ok_or_else(|| ParamError::missing("frozen_time"))?;
        check_time("frozen_time", frozen_time)?;
        check_text("name", &p.name, 300)?;
        Ok(Self {
            id,
            created: now,
            name: p.name.clone(),
            frozen_time,
            status: ClockStatus::Ready,
            advancing_to: None,
        })
    }

    /// Checks an advance and marks the clock advancing. One advance goes at most
    /// [`ADVANCE_SPAN_MAX_SECS`] (Stripe's goes two billing intervals of the clock's
    /// subscriptions), and never past [`TIME_MAX`].
    pub fn start_advance(&mut self, p: &TestClockAdvanceParams) -> Result<i64, ParamError> {
        let to = p
            .frozen_time
            .ok_or_else(|| ParamError::missing("frozen_time"))?;
        check_time("frozen_time", to)?;
        if self.status != ClockStatus::Ready {
            return Err(ParamError::new(
                "",
                "test_clock_not_ready",
                "The test clock is advancing; wait until its status is ready.",
            ));
        }
        if to <= self.frozen_time {
            return Err(ParamError::invalid(
                "frozen_time",
                format!(
                    "The frozen_time must be after the test clock's current frozen_time ({}).",
                    self.frozen_time
                ),
            ));
        }
        if to - self.frozen_time > ADVANCE_SPAN_MAX_SECS {
            return Err(ParamError::invalid(
                "frozen_time",
                format!(
                    "A test clock advances at most {} days at a time; advance it again to go further.",
                    ADVANCE_SPAN_MAX_SECS / 86_400
                ),
            ));
        }
        self.status = ClockStatus::Advancing;
        self.advancing_to = Some(to);
        Ok(to)
    }

    /// Ends an advance: the clock shows the new time and is ready again.
    pub fn finish_advance(&mut self) {
        if let Some(to) = self.advancing_to.take() {
            self.frozen_time = to;
        }
        self.status = ClockStatus::Ready;
    }

    pub fn to_json(&self) -> Value {
        let details = match self.advancing_to {
            Some(to) => json!({"advancing": {"target_frozen_time": to}}),
            None => json!({}),
        };
        json!({
            "id": self.id,
            "object": "test_helpers.test_clock",
            "created": self.created,
            "deletes_after": self.created + TEST_CLOCK_LIFETIME_SECS,
            "frozen_time": self.frozen_time,
            "livemode": false,
            "name": self.name,
            "status": self.status,
            "status_details": details,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_only_move_forward() {
        let mut c = TestClock::new(
            "clock_1".into(),
            10,
            &TestClockCreateParams {
                frozen_time: Some(1_000),
                name: None,
            },
        )
        .unwrap();
        let back = TestClockAdvanceParams {
            frozen_time: Some(999),
        };
        assert_eq!(c.start_advance(&back).unwrap_err().param, "frozen_time");
        let far = TestClockAdvanceParams {
            frozen_time: Some(1_000 + 10 * 365 * 86_400),
        };
        assert_eq!(c.start_advance(&far).unwrap(), 1_000 + 10 * 365 * 86_400);
        assert_eq!(c.to_json()["status"], "advancing");
        assert_eq!(
            c.start_advance(&far).unwrap_err().code,
            "test_clock_not_ready"
        );
        c.finish_advance();
        assert_eq!(c.frozen_time, 1_000 + 10 * 365 * 86_400);
        assert_eq!(c.to_json()["status"], "ready");
        assert_eq!(c.to_json()["deletes_after"], 10 + TEST_CLOCK_LIFETIME_SECS);
    }

    /// Found by a probe: an advance to year 9999 ran for ever, and one from a frozen_time of
    /// 9999999999999 failed the clock for good.
    #[test]
    fn clocks_stay_within_the_calendar_and_advance_a_bounded_span() {
        let create = |t| TestClockCreateParams {
            frozen_time: Some(t),
            name: None,
        };
        let to = |t| TestClockAdvanceParams {
            frozen_time: Some(t),
        };
        assert!(TestClock::new("c".into(), 0, &create(9_999_999_999_999)).is_err());
        assert!(TestClock::new("c".into(), 0, &create(-1)).is_err());
        let mut c = TestClock::new("c".into(), 0, &create(1_000)).unwrap();
        let year_9999 = 253_370_764_800;
        assert_eq!(
            c.start_advance(&to(year_9999)).unwrap_err().param,
            "frozen_time"
        );
        assert!(c.start_advance(&to(i64::MAX)).is_err());
        assert_eq!(
            c.status,
            ClockStatus::Ready,
            "a refused advance changes nothing"
        );
        assert_eq!(
            c.start_advance(&to(1_000 + ADVANCE_SPAN_MAX_SECS)),
            Ok(1_000 + ADVANCE_SPAN_MAX_SECS)
        );
        let mut late = TestClock::new("c".into(), 0, &create(TIME_MAX - 10)).unwrap();
        assert!(late.start_advance(&to(TIME_MAX + 1)).is_err());
        assert_eq!(late.start_advance(&to(TIME_MAX)), Ok(TIME_MAX));
    }
}
