//! Test clocks: create, retrieve, list, delete (with the customers that live in them) and
//! advance. An advance marks the clock advancing, runs what falls due up to the new time (see
//! `billing_run`), and leaves it ready; it is answered once the clock is ready again.

use cashbox_core::clock::{
    TEST_CLOCK_PREFIX, TestClock, TestClockAdvanceParams, TestClockCreateParams,
    TestClockListParams,
};
use cashbox_core::id::new_id;
use cashbox_store::{DocFilter, DocTable};
use serde_json::{Value, json};

use crate::docs::Doc;
use crate::events::ListResult;
use crate::{App, AppResult, RequestCtx};

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
    pub async fn create_test_clock(
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

    pub async fn retrieve_test_clock(&self, id: &str) -> AppResult<Value> {
        self.retrieve_doc(id, &[], TestClock::to_json).await
    }

    pub async fn list_test_clocks(&self, params: &TestClockListParams) -> AppResult<ListResult> {
        self.list_docs::<TestClock>(
            &DocFilter::default(),
            &params.page()?,
            &[],
            TestClock::to_json,
        )
        .await
    }

    /// Deletes the clock and, as Stripe does, the customers that live in it.
    pub async fn delete_test_clock(&self, ctx: &RequestCtx, id: &str) -> AppResult<Value> {
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

    /// Moves the clock to `frozen_time`, with Stripe's `advancing` and `ready` events.
    pub async fn advance_test_clock(
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
        // in its own transactions and in the clock's time.
        self.run_clock(id, until).await?;
        let mut tx = self.store().begin().await?;
        let mut clock: TestClock = self.load_for_update(&mut tx, id).await?;
        clock.finish_advance();
        self.save_doc(&mut tx, &clock).await?;
        self.record_event(
            &mut tx,
            ctx,
            "test_helpers.test_clock.ready",
            &clock.to_json(),
            None,
        )
        .await?;
        self.finish(tx, ctx, clock.to_json(), &[]).await
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
        let ctx = RequestCtx::default();
        for row in &rows {
            let clock: TestClock = self.open_doc(row)?;
            let Some(until) = clock.advancing_to else {
                continue;
            };
            self.run_clock(&clock.id, until).await?;
            let mut tx = self.store().begin().await?;
            let mut clock: TestClock = self.load_for_update(&mut tx, &clock.id).await?;
            clock.finish_advance();
            self.save_doc(&mut tx, &clock).await?;
            self.record_event(
                &mut tx,
                &ctx,
                "test_helpers.test_clock.ready",
                &clock.to_json(),
                None,
            )
            .await?;
            tx.commit().await?;
        }
        Ok(rows.len())
    }
}
