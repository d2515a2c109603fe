//! A subscription's due work, one step at a time: what the step changes in the subscription
//! (decided here) and what it sets off (invoices, notices, payments), which the billing run
//! carries out.

use crate::billing::invoice::CollectionMethod;

use super::{Due, InvalidTransition, MissingPaymentMethod, SubStatus, Subscription};

/// What a step sets off beyond the subscription's own change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepEffect {
    /// `customer.subscription.trial_will_end` is announced.
    TrialWillEnd,
    /// The trial ended without a payment method to charge: the subscription was canceled.
    CanceledAtTrialEnd,
    /// The trial ended without a payment method to charge: the subscription is paused
    /// (`customer.subscription.paused`).
    PausedAtTrialEnd,
    /// The period that starts at `start` is invoiced (a trial's end, a renewal).
    Renew { start: i64 },
    /// `invoice.upcoming` is announced.
    Upcoming,
    /// The subscription has ended at `end`: the usage of its last period, up to `end`, is
    /// invoiced.
    Ended { end: i64 },
    /// The first payment did not come: the subscription expired and its invoice is voided.
    Expired,
    /// The pause is over (`restarted`: the subscription was paused and a new period starts
    /// now, `customer.subscription.resumed`).
    Resumed { restarted: bool },
}

impl StepEffect {
    /// The subscription event the step is shown by, after what it set off: none for a notice
    /// (the notice is the event).
    pub fn event(self) -> Option<&'static str> {
        match self {
            StepEffect::TrialWillEnd | StepEffect::Upcoming => None,
            StepEffect::CanceledAtTrialEnd | StepEffect::Ended { .. } => {
                Some("customer.subscription.deleted")
            }
            _ => Some("customer.subscription.updated"),
        }
    }
}

impl Subscription {
    /// Takes the `due` step (at its due time): changes the subscription and says what else the
    /// step does. `has_payment_method`: the subscription or its customer has a default one.
    pub fn take_step(
        &mut self,
        due: Due,
        has_payment_method: bool,
    ) -> Result<StepEffect, InvalidTransition> {
        let t = due.at();
        Ok(match due {
            Due::TrialWillEnd(_) => {
                self.trial_will_end_sent = true;
                StepEffect::TrialWillEnd
            }
            Due::TrialEnd(_) => {
                let unpaid = !has_payment_method
                    && self.collection_method == CollectionMethod::ChargeAutomatically;
                match self.missing_payment_method {
                    MissingPaymentMethod::Cancel if unpaid => {
                        self.cancel(t, "cancellation_requested")?;
                        StepEffect::CanceledAtTrialEnd
                    }
                    MissingPaymentMethod::Pause if unpaid => {
                        self.transition(SubStatus::Paused)?;
                        StepEffect::PausedAtTrialEnd
                    }
                    _ => {
                        self.transition(SubStatus::Active)?;
                        StepEffect::Renew { start: t }
                    }
                }
            }
            Due::Upcoming(_) => {
                self.upcoming_sent_for = Some(self.current_period_end);
                StepEffect::Upcoming
            }
            Due::CancelAt(_) => {
                self.cancel(t, "cancellation_requested")?;
                StepEffect::Ended { end: t }
            }
            Due::PeriodEnd(_) if self.cancel_at_period_end => {
                let end = self.current_period_end;
                self.cancel(end, "cancellation_requested")?;
                StepEffect::Ended { end }
            }
            // The new period starts at the boundary, also when the renewal runs later (after
            // the usage grace window).
            Due::PeriodEnd(_) => StepEffect::Renew {
                start: self.current_period_end,
            },
            Due::IncompleteExpiry(_) => {
                self.expire(t)?;
                StepEffect::Expired
            }
            Due::Resume(_) => {
                self.pause_collection = None;
                let restarted = self.status == SubStatus::Paused;
                if restarted {
                    self.unpause(t)?;
                }
                StepEffect::Resumed { restarted }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::change::tests::{NOW, active, create, item};
    use super::*;

    fn trialing(missing: &str) -> Subscription {
        create(
            json!({"customer": "cus_1", "items": [{"price": "price_a"}], "trial_period_days": 14,
                   "trial_settings": {"end_behavior": {"missing_payment_method": missing}}}),
            vec![item("a", 1_000, "month")],
        )
        .unwrap()
    }

    #[test]
    fn a_trial_ends_by_its_missing_payment_method_rule() {
        let end = NOW + 14 * 86_400;
        let mut s = trialing("cancel");
        assert_eq!(s.next_due(), Some(Due::TrialWillEnd(end - 3 * 86_400)));
        assert_eq!(
            s.take_step(Due::TrialWillEnd(end - 3 * 86_400), false),
            Ok(StepEffect::TrialWillEnd)
        );
        assert!(s.trial_will_end_sent);
        assert_eq!(s.next_due(), Some(Due::TrialEnd(end)));
        let effect = s.take_step(Due::TrialEnd(end), false).unwrap();
        assert_eq!(effect, StepEffect::CanceledAtTrialEnd);
        assert_eq!(effect.event(), Some("customer.subscription.deleted"));
        assert_eq!((s.status, s.ended_at), (SubStatus::Canceled, Some(end)));

        let mut s = trialing("pause");
        assert_eq!(
            s.take_step(Due::TrialEnd(end), false),
            Ok(StepEffect::PausedAtTrialEnd)
        );
        assert_eq!(s.status, SubStatus::Paused);

        // With a card, or invoices sent to be paid, the first paid period begins.
        let mut s = trialing("cancel");
        assert_eq!(
            s.take_step(Due::TrialEnd(end), true),
            Ok(StepEffect::Renew { start: end })
        );
        assert_eq!(s.status, SubStatus::Active);
    }

    #[test]
    fn a_period_end_renews_from_the_boundary_or_ends_the_subscription() {
        let mut s = active();
        let boundary = s.current_period_end;
        // Run late (a grace window, a slow worker): the period still starts at the boundary.
        let effect = s.take_step(Due::PeriodEnd(boundary + 3_600), true).unwrap();
        assert_eq!(effect, StepEffect::Renew { start: boundary });
        assert_eq!(effect.event(), Some("customer.subscription.updated"));

        let mut s = active();
        s.cancel_at_period_end = true;
        let effect = s.take_step(Due::PeriodEnd(boundary), true).unwrap();
        assert_eq!(effect, StepEffect::Ended { end: boundary });
        assert_eq!(
            (s.status, s.ended_at),
            (SubStatus::Canceled, Some(boundary))
        );
        assert!(!s.cancel_at_period_end);

        let mut s = active();
        let at = NOW + 86_400;
        assert_eq!(
            s.take_step(Due::CancelAt(at), true),
            Ok(StepEffect::Ended { end: at })
        );
    }

    #[test]
    fn notices_and_expiry_and_resumption() {
        let mut s = active();
        let effect = s
            .take_step(Due::Upcoming(s.current_period_end - 7 * 86_400), true)
            .unwrap();
        assert_eq!((effect, effect.event()), (StepEffect::Upcoming, None));
        assert_eq!(s.upcoming_sent_for, Some(s.current_period_end));

        let mut s = create(
            json!({"customer": "cus_1", "items": [{"price": "price_a"}]}),
            vec![item("a", 1_000, "month")],
        )
        .unwrap();
        let at = NOW + 23 * 3_600;
        assert_eq!(s.next_due(), Some(Due::IncompleteExpiry(at)));
        assert_eq!(
            s.take_step(Due::IncompleteExpiry(at), false),
            Ok(StepEffect::Expired)
        );
        assert_eq!(s.status, SubStatus::IncompleteExpired);
        assert_eq!(s.next_due(), None);

        let mut s = trialing("pause");
        s.take_step(Due::TrialEnd(NOW + 14 * 86_400), false)
            .unwrap();
        let at = NOW + 20 * 86_400;
        assert_eq!(
            s.take_step(Due::Resume(at), false),
            Ok(StepEffect::Resumed { restarted: true })
        );
        assert_eq!((s.status, s.billing_cycle_anchor), (SubStatus::Active, at));
        // A collection pause of an active subscription just ends.
        let mut s = active();
        assert_eq!(
            s.take_step(Due::Resume(at), true),
            Ok(StepEffect::Resumed { restarted: false })
        );
        assert_eq!(s.status, SubStatus::Active);
    }
}
