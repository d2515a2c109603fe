//! Running billing work as it falls due: trial-end notices and trial ends, renewals,
//! `invoice.upcoming`, scheduled cancellations, incomplete expiry, resumptions, payment
//! retries and purchases whose entitlements run out. The same steps run for a test clock's objects while it advances (in the clock's
//! time, in time order) and for everything else from the wall clock (`serve`'s worker).
//!
//! Each piece of due work is indexed by its object's `due_at`. Running it is idempotent: the
//! object is locked and its due work recomputed inside the transaction, so a second worker
//! (another process) that picked the same work finds nothing left to do; a renewal claims its
//! period in `subscription_periods`, so a second invoice for one period cannot be written; a
//! payment is a PaymentIntent attempt whose pending state is its lease (the recovery sweep
//! finishes one whose process died, and its outcome settles the invoice).

use cashbox_core::billing::invoice::{CollectionMethod, Invoice, InvoiceStatus};
use cashbox_core::billing::subscription::step::StepEffect;
use cashbox_core::billing::subscription::{Due, SubStatus, Subscription};
use cashbox_core::clock::{ClockStatus, TestClock};
use cashbox_core::crypto::Compressed;
use cashbox_core::event::previous_attributes;
use cashbox_core::payments::{PaymentIntent, PaymentMethod};
use cashbox_store::{DocTable, DueKind, DueWork, Store, Tx};

use crate::billing::invoices::{CollectNow, Collection};
use crate::events::{Shown, Snapshot};
use crate::payments::payment_intents::Reply;
use crate::{App, AppError, AppResult, RequestCtx};

/// Steps one subscription may take in one run before the worker moves on.
const STEPS_MAX: usize = 1_000;
/// Pieces of due work other than subscriptions' steps (invoice retries, purchases running
/// out) run at once: they touch different rows, and on SQLite their commits share group
/// commits. (When renewals ran this way on SQLite, 64 at once filled bigger group commits
/// than 32: 100,000 renewals in 44.7–45.3 s against 46.7–48.1 s.)
pub const BILLING_CONCURRENCY: usize = 64;
/// Subscriptions whose due steps run in one transaction on PostgreSQL, their rows read ahead
/// and their writes sent together: a few statements for the batch where each subscription
/// would make a dozen round trips of its own. 10,000 renewals, 8 connections: 32 a batch,
/// 1,631/s; 64, 1,817/s; 128, 1,477/s (before the sandbox's charges were journaled together).
pub const RENEWAL_BATCH: usize = 64;
/// Batches run at once on PostgreSQL (4: 1,498/s; 8: 1,817/s; 16 on 16 connections: 1,751/s).
const BATCHES_AT_ONCE: usize = 8;
/// Subscriptions whose due steps run in one deferred transaction on SQLite: one place in the
/// write queue, one replay and one commit for the batch, where each subscription took its
/// own (and its charge's journal entry, and its outcome, one more each). 100,000 renewals
/// on a slow day, before deferred transactions read ahead: one at a time (64 at once),
/// 59.1 s; batches of 32, 8 at once, 36.9 s; of 64, 39.3 s; of 16, 44.9 s.
pub const SQLITE_RENEWAL_BATCH: usize = 32;
/// Batches run at once on SQLite (4: 39.6 s; 8: 36.9 and 42.6 s; 16: 36.3 s, within the
/// day's noise of 8).
const SQLITE_BATCHES_AT_ONCE: usize = 8;
/// Pieces of due work the billing worker takes at a time (`cashbox serve`, and
/// `bench-billing` unless told otherwise): two rounds of full batches on PostgreSQL, so that a
/// round's last batches do not leave connections idle for long. (At 200 a round, PostgreSQL
/// ran 4 batches at once, not 8.)
pub const BILLING_ROUND: i64 = (RENEWAL_BATCH * BATCHES_AT_ONCE * 2) as i64;
/// The same work coming back this many times without progress stops a clock's advance.
const REPEATS_MAX: usize = 3;

impl App {
    /// Runs work due by now for objects on the wall clock, up to `limit` pieces; returns how
    /// many were found (a full batch means there may be more).
    pub async fn run_due_billing(&self, limit: i64) -> AppResult<usize> {
        let work = self.store().due_work(self.now(), limit).await?;
        let found = work.len();
        self.run_all(work).await;
        Ok(found)
    }

    pub(crate) async fn run_work(&self, w: &DueWork) -> AppResult<()> {
        match w.kind {
            DueKind::Subscription => self.advance_subscription(&w.id).await,
            DueKind::Invoice => self.retry_invoice(&w.id).await,
            DueKind::Entitlements => self.entitlements_due(&w.id).await,
        }
    }

    /// Runs everything due for one subscription up to its time, one step per transaction
    /// (deferred on SQLite: worked out outside the write turn).
    async fn advance_subscription(&self, id: &str) -> AppResult<()> {
        let ctx = &RequestCtx::default();
        for _ in 0..STEPS_MAX {
            let stepped = self
                .transact(move |mut tx| {
                    Box::pin(async move {
                        let r = self.advance_step(&mut tx, ctx, id).await;
                        (tx, r)
                    })
                })
                .await?;
            let Some((collection, more)) = stepped else {
                return Ok(());
            };
            self.finish_collection(ctx, collection).await?;
            if !more {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Takes the next due step of each of `ids` in one transaction, then collects their
    /// renewals' payments together; a subscription with more due, and every one of a batch
    /// that failed, goes on alone ([`App::advance_subscription`]).
    async fn advance_batch(&self, ids: Vec<String>) {
        let ctx = &RequestCtx::default();
        let ids = &ids;
        let stepped = self
            .transact(move |mut tx| {
                Box::pin(async move {
                    let r = self.batch_steps(&mut tx, ctx, ids).await;
                    (tx, r)
                })
            })
            .await;
        let alone: Vec<&String> = match stepped {
            Ok(stepped) => {
                let mut collections = Vec::new();
                let mut more = Vec::new();
                for (id, step) in ids.iter().zip(stepped) {
                    if let Some((collection, again)) = step {
                        collections.push(collection);
                        if again {
                            more.push(id);
                        }
                    }
                }
                match self.finish_collections(ctx, collections, ids).await {
                    Ok(()) => more,
                    // As alone: a subscription whose payment did not finish goes no further
                    // now; its next step stays due.
                    Err(e) => {
                        tracing::warn!(error = %e, "billing payments failed; the recovery sweep finishes them");
                        Vec::new()
                    }
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "a billing batch failed: its subscriptions run one by one");
                ids.iter().collect()
            }
        };
        for id in alone {
            if let Err(e) = self.advance_subscription(id).await {
                tracing::warn!(object = %id, error = %e, "billing work failed; it stays due and is retried");
            }
        }
    }

    /// The next due step of each of `ids` (see [`App::advance_step`]), their rows read
    /// ahead where that saves round trips.
    async fn batch_steps(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        ids: &[String],
    ) -> AppResult<Vec<Option<(Collection, bool)>>> {
        if tx.reads_ahead() {
            tx.read_ahead_docs(DocTable::Subscriptions, ids).await?;
            let mut customers = Vec::new();
            for id in ids {
                if let Some(row) = tx.doc_for_update(DocTable::Subscriptions, id).await? {
                    customers.extend(row.customer);
                }
            }
            tx.read_ahead_customers(&customers).await?;
            let mut methods = Vec::new();
            for id in &customers {
                if let Some(row) = tx.customer_for_update(id).await? {
                    methods.extend(row.default_payment_method);
                }
            }
            tx.read_ahead_docs(DocTable::PaymentMethods, &methods)
                .await?;
            tx.read_ahead_docs_by_customer(DocTable::InvoiceItems, &customers)
                .await?;
        }
        let mut stepped = Vec::with_capacity(ids.len());
        for id in ids {
            stepped.push(self.advance_step(tx, ctx, id).await?);
        }
        Ok(stepped)
    }

    /// Finishes the payments `collections` began: asks the processor for each outcome, then
    /// applies them all in one transaction (`subscriptions`: those they may settle, read
    /// ahead with the intents, cards and invoices); if that fails, each on its own.
    async fn finish_collections(
        &self,
        ctx: &RequestCtx,
        collections: Vec<Collection>,
        subscriptions: &[String],
    ) -> AppResult<()> {
        let pending: Vec<_> = collections
            .into_iter()
            .filter_map(|c| match c {
                Collection::Pending { pi, pm, attempt } => Some((pi, pm, attempt)),
                _ => None,
            })
            .collect();
        let asked: Vec<_> = pending
            .iter()
            .map(|(pi, pm, attempt)| (&**pi, &**pm, *attempt))
            .collect();
        let answers = self.authorize_attempts(&asked).await;
        let outcomes: Vec<_> = pending
            .into_iter()
            .zip(answers)
            .filter_map(|((pi, pm, attempt), outcome)| Some((pi, pm, attempt, outcome?)))
            .collect();
        if outcomes.is_empty() {
            return Ok(());
        }
        let outcomes = &outcomes;
        let applied = self
            .transact(move |mut tx| {
                Box::pin(async move {
                    let r = async {
                        if tx.reads_ahead() {
                            let ids =
                                |f: &dyn Fn(&PaymentIntent, &PaymentMethod) -> Option<String>| {
                                    outcomes
                                        .iter()
                                        .filter_map(|(pi, pm, ..)| f(pi, pm))
                                        .collect::<Vec<String>>()
                                };
                            tx.read_ahead_docs(
                                DocTable::PaymentIntents,
                                &ids(&|pi, _| Some(pi.id.clone())),
                            )
                            .await?;
                            tx.read_ahead_docs(
                                DocTable::PaymentMethods,
                                &ids(&|_, pm| Some(pm.id.clone())),
                            )
                            .await?;
                            tx.read_ahead_docs(
                                DocTable::Invoices,
                                &ids(&|pi, _| pi.invoice.clone()),
                            )
                            .await?;
                            tx.read_ahead_docs(DocTable::Subscriptions, subscriptions)
                                .await?;
                        }
                        for (pi, pm, attempt, outcome) in outcomes {
                            self.apply_outcome(
                                &mut tx,
                                ctx,
                                &pi.id,
                                pm,
                                *attempt,
                                outcome,
                                Reply::Unread,
                            )
                            .await?;
                        }
                        Ok(())
                    }
                    .await;
                    (tx, r)
                })
            })
            .await;
        if let Err(e) = applied {
            tracing::debug!(error = %e, "a batch of payment outcomes failed: each is applied alone");
            for (pi, pm, attempt, _) in outcomes {
                match self
                    .run_confirmation(ctx, (**pi).clone(), (**pm).clone(), *attempt, &[])
                    .await
                {
                    Ok(_) | Err(AppError::Card { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Takes the subscription's next step if it is due; returns the collection it began and
    /// whether more is due.
    async fn advance_step(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        id: &str,
    ) -> AppResult<Option<(Collection, bool)>> {
        let (mut sub, stored): (Subscription, _) = self.load_for_update_keeping(tx, id).await?;
        let now = self.time_of(tx, sub.test_clock.as_deref()).await?;
        let Some(due) = sub.next_due().filter(|d| d.at() <= now) else {
            // Nothing is due after all (another worker ran it): keep the index true.
            tx.set_due(
                DocTable::Subscriptions,
                &sub.id,
                sub.due_at(),
                sub.test_clock.as_deref(),
            )
            .await?;
            return Ok(None);
        };
        let collection = self.step(tx, ctx, &mut sub, &stored, due).await?;
        // Collecting changes the status at most, never when the next work falls due.
        let more = sub.next_due().is_some_and(|d| d.at() <= now);
        Ok(Some((collection, more)))
    }

    /// One due step of a subscription at its due time, saved; returns the collection it began
    /// (a renewal's payment, pending, to finish once the step commits). `stored` is the
    /// subscription's compressed form as loaded: its event shows what changed from it.
    async fn step(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        sub: &mut Subscription,
        stored: &Compressed,
        due: Due,
    ) -> AppResult<Collection> {
        let before = sub.clone();
        let t = due.at();
        let customer = match tx.customer_for_update(&sub.customer).await? {
            Some(row) if !row.deleted => self.open_customer(row)?,
            _ => {
                // Its customer is gone: so is the subscription.
                sub.cancel(t, "cancellation_requested")?;
                self.record_event(
                    tx,
                    ctx,
                    "customer.subscription.deleted",
                    &self.render_subscription(sub),
                    None,
                )
                .await?;
                self.save_subscription(tx, sub).await?;
                return Ok(Collection::Nothing);
            }
        };
        let pm = sub
            .default_payment_method
            .clone()
            .or_else(|| customer.default_payment_method.clone());
        // A renewal charged automatically with a card at hand begins its payment before its
        // invoice is written (once); otherwise the invoice is collected after the step.
        let mut collect_now = pm
            .clone()
            .filter(|_| sub.collection_method == CollectionMethod::ChargeAutomatically)
            .map(|pm| CollectNow { pm, began: None });
        let effect = sub.take_step(due, pm.is_some())?;
        let mut collect: Option<Invoice> = None;
        match effect {
            StepEffect::TrialWillEnd => {
                let object = self.render_subscription(sub);
                self.record_event(
                    tx,
                    ctx,
                    "customer.subscription.trial_will_end",
                    &object,
                    None,
                )
                .await?;
            }
            StepEffect::CanceledAtTrialEnd => {}
            StepEffect::PausedAtTrialEnd => {
                let object = self.render_subscription(sub);
                self.record_event(tx, ctx, "customer.subscription.paused", &object, None)
                    .await?;
            }
            StepEffect::Renew { start } => {
                collect = self
                    .renew(tx, ctx, sub, &customer, (start, t), collect_now.as_mut())
                    .await?;
            }
            StepEffect::Upcoming => {
                let preview = self.build_preview(tx, sub, &customer, Vec::new()).await?;
                let mut object = self.render_invoice(&preview);
                object["id"] = serde_json::Value::Null;
                self.record_event(tx, ctx, "invoice.upcoming", &object, None)
                    .await?;
            }
            StepEffect::Ended { end } => {
                collect = self
                    .final_usage_invoice(tx, ctx, sub, &customer, end, t)
                    .await?;
            }
            StepEffect::Expired => self.void_first_invoice(tx, ctx, sub, t).await?,
            StepEffect::Resumed { restarted } => {
                if restarted {
                    if let Some(id) = self
                        .start_period(tx, ctx, sub, &customer, t, "subscription_update")
                        .await?
                    {
                        collect = Some(self.load_for_update(tx, &id).await?);
                    }
                    let object = self.render_subscription(sub);
                    self.record_event(tx, ctx, "customer.subscription.resumed", &object, None)
                        .await?;
                }
            }
        }
        let saved = self.save_subscription_keeping(tx, sub).await?;
        // An update that changed nothing shows no event. A step changes what it does not
        // render (the notices it sent) only where it records no update, so the documents
        // differ exactly when their renderings do.
        if let Some(e) = effect.event()
            && (*sub != before || e != "customer.subscription.updated")
        {
            let shown = Shown {
                before: Some(stored),
                ..Shown::new(Snapshot::Subscription, &sub.id, &saved)
            };
            self.record_snapshot(tx, ctx, &[e], shown);
        }
        // The renewal's payment begins in the renewal's own transaction: with a card, before
        // its invoice was written (above); without one, here, after the subscription is saved,
        // since that attempt fails at once and marks the subscription past_due.
        match (collect_now.and_then(|c| c.began), collect) {
            (Some(began), _) => Ok(began),
            (None, Some(mut inv))
                if sub.collection_method == CollectionMethod::ChargeAutomatically =>
            {
                self.begin_collection(tx, ctx, &mut inv, pm.as_deref(), true, t)
                    .await
            }
            _ => Ok(Collection::Nothing),
        }
    }

    /// An expired subscription's first invoice is voided, unless its payment is in flight
    /// (then the expiry waits for it).
    async fn void_first_invoice(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        sub: &Subscription,
        t: i64,
    ) -> AppResult<()> {
        let Some(inv_id) = &sub.latest_invoice else {
            return Ok(());
        };
        let mut inv: Invoice = self.load_for_update(tx, inv_id).await?;
        if inv.status != InvoiceStatus::Open {
            return Ok(());
        }
        match self
            .close_in(tx, ctx, &mut inv, InvoiceStatus::Void, t)
            .await
        {
            Err(AppError::Param(_)) => Err(AppError::Corrupt(format!(
                "subscription {}: its first payment is still in flight",
                sub.id
            ))),
            r => r,
        }
    }

    /// Starts the period that begins at `t` and invoices it at `now`; returns the invoice to
    /// collect (its collection begun in `collect`, if given and the invoice is to be charged).
    async fn renew(
        &self,
        tx: &mut Tx,
        ctx: &RequestCtx,
        sub: &mut Subscription,
        customer: &cashbox_core::customer::Customer,
        (t, now): (i64, i64),
        collect: Option<&mut CollectNow>,
    ) -> AppResult<Option<Invoice>> {
        let end = sub.period_end_after(t).ok_or_else(|| {
            AppError::Corrupt(format!("subscription {}: no billing period", sub.id))
        })?;
        let inv = self
            .period_invoice(
                tx,
                ctx,
                sub,
                customer,
                "subscription_cycle",
                (t, end),
                false,
                now,
                collect,
            )
            .await?;
        sub.current_period_start = t;
        sub.current_period_end = end;
        Ok(inv.filter(|i| {
            i.status == InvoiceStatus::Open
                && i.collection_method == CollectionMethod::ChargeAutomatically
        }))
    }

    /// Retries an invoice's payment if it is due.
    async fn retry_invoice(&self, id: &str) -> AppResult<()> {
        let mut tx = self.store().begin().await?;
        let mut inv: Invoice = self.load_for_update(&mut tx, id).await?;
        let now = self.time_of(&mut tx, inv.test_clock.as_deref()).await?;
        let overdue = inv.status == InvoiceStatus::Open
            && inv.collection_method == CollectionMethod::SendInvoice
            && !inv.overdue_noted
            && inv.due_date.is_some_and(|d| d <= now);
        if overdue {
            // Unpaid by its due date: Stripe's invoice.overdue, and its subscription past_due.
            let ctx = RequestCtx::default();
            inv.overdue_noted = true;
            self.save_invoice(&mut tx, &inv).await?;
            self.record_event(
                &mut tx,
                &ctx,
                "invoice.overdue",
                &self.render_invoice(&inv),
                None,
            )
            .await?;
            if let Some(sub_id) = &inv.subscription {
                let mut sub: Subscription = self.load_for_update(&mut tx, sub_id).await?;
                if sub.status == SubStatus::Active {
                    let before = self.render_subscription(&sub);
                    sub.transition(SubStatus::PastDue)?;
                    self.save_subscription(&mut tx, &sub).await?;
                    let object = self.render_subscription(&sub);
                    let previous = previous_attributes(&before, &object);
                    self.record_event(
                        &mut tx,
                        &ctx,
                        "customer.subscription.updated",
                        &object,
                        previous,
                    )
                    .await?;
                }
            }
            tx.commit().await?;
            return Ok(());
        }
        let due =
            inv.status == InvoiceStatus::Open && inv.next_payment_attempt.is_some_and(|t| t <= now);
        if !due {
            self.save_invoice(&mut tx, &inv).await?;
            tx.commit().await?;
            return Ok(());
        }
        drop(tx);
        self.collect_invoice(&RequestCtx::default(), id, None, true)
            .await?;
        Ok(())
    }

    /// Runs, in time order, everything on `clock` that falls due up to `until`, moving the
    /// clock's time to each moment as its work runs; the pieces due at one moment (the
    /// renewals of subscriptions that started together) run side by side.
    pub(crate) async fn run_clock(&self, clock_id: &str, until: i64) -> AppResult<()> {
        let mut last: Option<(String, i64)> = None;
        let mut repeats = 0;
        loop {
            let mut tx = self.store().begin().await?;
            let work = tx
                .next_due_on_clock(clock_id, until, BILLING_CONCURRENCY as i64 * 8)
                .await?;
            let Some(first) = work.first() else {
                tx.commit().await?;
                return Ok(());
            };
            let key = (first.id.clone(), first.due_at);
            if last.as_ref() == Some(&key) {
                repeats += 1;
                if repeats >= REPEATS_MAX {
                    let mut clock: TestClock = self.load_for_update(&mut tx, clock_id).await?;
                    clock.status = ClockStatus::InternalFailure;
                    self.save_doc(&mut tx, &clock).await?;
                    tx.commit().await?;
                    return Err(AppError::Corrupt(format!(
                        "test clock {clock_id}: work on {} at {} does not progress",
                        key.0, key.1
                    )));
                }
            } else {
                repeats = 0;
            }
            last = Some(key);
            let mut clock: TestClock = self.load_for_update(&mut tx, clock_id).await?;
            if first.due_at > clock.frozen_time {
                clock.frozen_time = first.due_at;
                self.save_doc(&mut tx, &clock).await?;
            }
            tx.commit().await?;
            self.run_all(work).await;
        }
    }

    /// Runs pieces of work side by side: subscriptions' steps in batches ([`RENEWAL_BATCH`]
    /// on PostgreSQL, [`SQLITE_RENEWAL_BATCH`] on SQLite), the rest at most
    /// [`BILLING_CONCURRENCY`] at once; a piece that fails stays due and is logged.
    async fn run_all(&self, work: Vec<DueWork>) {
        let (size, at_once) = match self.store() {
            Store::Postgres(_) => (RENEWAL_BATCH, BATCHES_AT_ONCE),
            Store::Sqlite(_) => (SQLITE_RENEWAL_BATCH, SQLITE_BATCHES_AT_ONCE),
        };
        let (subscriptions, rest): (Vec<DueWork>, Vec<DueWork>) = work
            .into_iter()
            .partition(|w| w.kind == DueKind::Subscription);
        let mut running = tokio::task::JoinSet::new();
        for batch in subscriptions.chunks(size) {
            while running.len() >= at_once {
                running.join_next().await;
            }
            let app = self.clone();
            let batch = batch.iter().map(|w| w.id.clone()).collect();
            running.spawn(async move { app.advance_batch(batch).await });
        }
        while running.join_next().await.is_some() {}
        for w in rest {
            while running.len() >= BILLING_CONCURRENCY {
                running.join_next().await;
            }
            let app = self.clone();
            running.spawn(async move {
                if let Err(e) = app.run_work(&w).await {
                    tracing::warn!(object = %w.id, error = %e, "billing work failed; it stays due and is retried");
                }
            });
        }
        while running.join_next().await.is_some() {}
    }
}

/// What the invoices say, without their ids: to compare two billing runs of the same setup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvoiceDigest {
    pub invoices: usize,
    pub paid: usize,
    pub total: i64,
    pub amount_paid: i64,
    /// FNV-1a over every invoice's periods, reason, status, amounts and line amounts, sorted.
    pub hash: u64,
}

impl App {
    pub async fn invoice_digest(&self) -> AppResult<InvoiceDigest> {
        let mut rows = Vec::new();
        let mut d = InvoiceDigest::default();
        let mut after = String::new();
        loop {
            let batch = self
                .store()
                .docs_batch(DocTable::Invoices, &after, 500)
                .await?;
            let Some(last) = batch.last() else { break };
            after = last.id.clone();
            for row in &batch {
                let inv: Invoice = self.open_doc(row)?;
                d.invoices += 1;
                d.paid += usize::from(inv.status == InvoiceStatus::Paid);
                d.total += inv.total;
                d.amount_paid += inv.amount_paid;
                let lines: Vec<(i64, i64, i64)> = inv
                    .lines
                    .iter()
                    .map(|l| (l.amount, l.period_start, l.period_end))
                    .collect();
                rows.push(format!(
                    "{}|{}|{}|{}|{}|{}|{}|{:?}",
                    inv.period_start,
                    inv.period_end,
                    inv.billing_reason,
                    inv.status.as_str(),
                    inv.total,
                    inv.amount_paid,
                    inv.attempt_count,
                    lines
                ));
            }
        }
        rows.sort();
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for b in rows.join("\n").bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        d.hash = hash;
        Ok(d)
    }
}
