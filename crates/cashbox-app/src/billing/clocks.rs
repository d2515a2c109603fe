//! Test clocks: create, retrieve, list, delete (with the customers that live in them) and
//! advance. An advance marks the clock advancing, runs what falls due up to the new time (see
//! `billing_run`), and leaves it ready; it is answered once the clock is ready again, or
//! after [`ADVANCE_ANSWER_WITHIN`] with the clock still advancing.

use std::time::Duration;

use cashbox_core::clock::{
    TEST_CLOCK_PREFIX, TestClock, TestClockAdvanceParams, TestClockCreateParams,
    TestClockListParams,
};
use cashbox_core::id::new_id;
use cashbox_store::{DocFilter, DocTable};
use serde_json::{Value, json};

use crate::docs::Doc;
use crate::events::ListResult;
use crate::{App, AppError, AppResult, RequestCtx};

/// How long an advance request waits for its advance before it answers with the clock still
/// `advancing` (the advance goes on; poll the clock until it is `ready`, as with Stripe).
pub const ADVANCE_ANSWER_WITHIN: Duration = Duration::from_secs(10);

impl Doc for TestClock {
    const TABLE: DocTable = DocTable::TestClocks;
    const PREFIX: &'static str = TEST_CLOCK_PREFIX;
    const NAME: &'static str = "test_clock";
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
        serde_json::to_value(self.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

impl App {
    async fn delete_test_clock_once(&self, ctx: &RequestCtx, id: &str) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let clock: TestClock = self.load_for_update(&mut tx, id).await?;
        for row in tx.customers_on_clock(&clock.id).await? {
            self.delete_customer_in(&mut tx, ctx, row).await?;
        }
        tx.delete_doc(DocTable::TestClocks, &clock.id).await?;
        self.record_event(
            &mut tx,
            ctx,
            "test_helpers.test_clock.deleted",
            &clock.to_json(),
            None,
        )
        .await?;
        let response =
            json!({"id": clock.id, "object": "test_helpers.test_clock", "deleted": true});
        self.commit_response(tx, ctx, 200, &response).await?;
        Ok(response)
    }

    /// Runs what falls due on the clock up to `until`, then marks it `ready` at `until`.
    async fn complete_advance(&self, id: &str, until: i64) -> AppResult<()> {
        self.run_clock(id, until).await?;
        let mut tx = self.store().begin().await?;
        let mut clock: TestClock = self.load_for_update(&mut tx, id).await?;
        if clock.advancing_to != Some(until) {
            // Another advance's, or none: not this one's to finish.
            return Ok(());
        }
        clock.finish_advance();
        self.save_doc(&mut tx, &clock).await?;
        self.record_event(
            &mut tx,
            &RequestCtx::default(),
            "test_helpers.test_clock.ready",
            &clock.to_json(),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl App {
    /// Finishes advances that a stopped process left half done (clocks still `advancing`):
    /// their remaining work runs, as idempotently as the first time, and they end `ready`.
    pub async fn resume_clock_advances(&self) -> AppResult<usize> {
        let filter = DocFilter {
            status: Some("advancing".into()),
            ..DocFilter::default()
        };
        let page = cashbox_core::list::Page::parse(Some(100), None, None)?;
        let rows = self
            .store()
            .list_docs(DocTable::TestClocks, &filter, &page)
            .await?
            .data;
        for row in &rows {
            let clock: TestClock = self.open_doc(row)?;
            let Some(until) = clock.advancing_to else {
                continue;
            };
            self.complete_advance(&clock.id, until).await?;
        }
        Ok(rows.len())
    }
}

crate::service!(
    TestClocks,
    test_clocks,
    "Test clocks: create, advance, delete."
);

impl TestClocks<'_> {
    pub async fn create(
        &self,
        ctx: &RequestCtx,
        params: TestClockCreateParams,
    ) -> AppResult<Value> {
        let clock = TestClock::new(new_id(TEST_CLOCK_PREFIX), self.now(), &params)?;
        let mut tx = self.store().begin().await?;
        self.insert_doc(&mut tx, &clock).await?;
        self.record_event(
            &mut tx,
            ctx,
            "test_helpers.test_clock.created",
            &clock.to_json(),
            None,
        )
        .await?;
        self.finish(tx, ctx, clock.to_json(), &[]).await
    }

    pub async fn retrieve(&self, id: &str) -> AppResult<Value> {
        self.retrieve_doc(id, &[], TestClock::to_json).await
    }

    pub async fn list(&self, params: &TestClockListParams) -> AppResult<ListResult> {
        self.list_docs::<TestClock>(
            &DocFilter::default(),
            &params.page()?,
            &[],
            TestClock::to_json,
        )
        .await
    }

    /// Deletes the clock and, as Stripe does, the customers that live in it.
    pub async fn delete(&self, ctx: &RequestCtx, id: &str) -> AppResult<Value> {
        // An advance under way locks the clock's subscriptions and customers in its own
        // order; a delete that meets it over a lock wrote nothing, and tries again.
        let mut tries = 0;
        loop {
            match self.delete_test_clock_once(ctx, id).await {
                Err(AppError::Store(e)) if e.is_lock_conflict() && tries < 5 => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50 * tries)).await;
                }
                done => return done,
            }
        }
    }

    /// Moves the clock to `frozen_time`, with Stripe's `advancing` and `ready` events.
    pub async fn advance(
        &self,
        ctx: &RequestCtx,
        id: &str,
        params: TestClockAdvanceParams,
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut clock: TestClock = self.load_for_update(&mut tx, id).await?;
        let until = clock.start_advance(&params)?;
        self.save_doc(&mut tx, &clock).await?;
        self.record_event(
            &mut tx,
            ctx,
            "test_helpers.test_clock.advancing",
            &clock.to_json(),
            None,
        )
        .await?;
        tx.commit().await?;
        // Everything that falls due between the two times runs, in time order, each piece
        // in its own transactions and in the clock's time: in a task of its own, which the
        // request waits for only so long. A long advance goes on after the answer (the
        // clock shows `advancing` until it is `ready`, as Stripe's does); deleting the clock
        // stops it, and a stopped process finishes it when it starts again.
        let app = self.app.clone();
        let clock_id = id.to_string();
        let mut advance = tokio::spawn(async move {
            let done = app.complete_advance(&clock_id, until).await;
            if let Err(e) = &done {
                tracing::error!(clock = %clock_id, error = %e, "a test clock's advance failed");
            }
            done
        });
        let wait = self
            .settings()
            .advance_answer_within
            .unwrap_or(ADVANCE_ANSWER_WITHIN);
        match tokio::time::timeout(wait, &mut advance).await {
            Ok(Ok(done)) => done?,
            Ok(Err(e)) => {
                return Err(AppError::Corrupt(format!(
                    "test clock {id}: its advance stopped: {e}"
                )));
            }
            // Still advancing: it goes on without the request.
            Err(_) => {}
        }
        let mut tx = self.store().begin().await?;
        let clock: TestClock = self.load_for_update(&mut tx, id).await?;
        self.finish(tx, ctx, clock.to_json(), &[]).await
    }
}
