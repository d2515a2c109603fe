//! Behaviour both backends must share. Runs on SQLite, and on PostgreSQL when
//! `CASHBOX_TEST_DATABASE_URL` is set.

use cashbox_core::list::Page;
use cashbox_store::testing::fresh_store;
use cashbox_store::{
    Claim, CustomerFilter, CustomerRow, IDEMPOTENCY_LEASE_SECS, IDEMPOTENCY_TTL_SECS,
};

const NOW: i64 = 1_700_000_000;

fn claimed(c: Claim) -> (String, String) {
    match c {
        Claim::Claimed { row_id, token } => (row_id, token),
        other => panic!("expected a claim, got {other:?}"),
    }
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let store = fresh_store().await.unwrap();
    assert_eq!(store.migrate().await.unwrap(), Vec::<i64>::new());
    store.ping().await.unwrap();
}

#[tokio::test]
async fn idempotency_claim_complete_replay() {
    let store = fresh_store().await.unwrap();
    let (row, token) = claimed(
        store
            .claim_idempotency("key_a", "k1", b"h1", NOW)
            .await
            .unwrap(),
    );

    // While the first request runs, the same key is in flight; other parameters mismatch.
    assert_eq!(
        store
            .claim_idempotency("key_a", "k1", b"h1", NOW)
            .await
            .unwrap(),
        Claim::InFlight
    );
    assert_eq!(
        store
            .claim_idempotency("key_a", "k1", b"h2", NOW)
            .await
            .unwrap(),
        Claim::Mismatch
    );
    // Keys are scoped per API key.
    claimed(
        store
            .claim_idempotency("key_b", "k1", b"h2", NOW)
            .await
            .unwrap(),
    );

    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.complete_idempotency(&row, &token, 200, b"sealed", false)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();

    match store
        .claim_idempotency("key_a", "k1", b"h1", NOW + 5)
        .await
        .unwrap()
    {
        Claim::Replay {
            status,
            sealed_body,
            ..
        } => {
            assert_eq!(status, 200);
            assert_eq!(sealed_body, b"sealed");
        }
        other => panic!("expected a replay, got {other:?}"),
    }
    assert_eq!(
        store
            .claim_idempotency("key_a", "k1", b"h2", NOW + 5)
            .await
            .unwrap(),
        Claim::Mismatch
    );
    // After the replay window the key is fresh again.
    claimed(
        store
            .claim_idempotency("key_a", "k1", b"h2", NOW + IDEMPOTENCY_TTL_SECS)
            .await
            .unwrap(),
    );
}

#[tokio::test]
async fn released_and_abandoned_claims_can_be_retaken() {
    let store = fresh_store().await.unwrap();
    let (row, token) = claimed(
        store
            .claim_idempotency("key_a", "k", b"h", NOW)
            .await
            .unwrap(),
    );
    store.release_idempotency(&row, &token).await.unwrap();
    // A release frees the key, even for different parameters (the first attempt changed nothing).
    let (row2, token2) = claimed(
        store
            .claim_idempotency("key_a", "k", b"other", NOW)
            .await
            .unwrap(),
    );

    // A claim whose lease ran out is taken over; the old owner can no longer complete it.
    let (row3, token3) = claimed(
        store
            .claim_idempotency("key_a", "k", b"other", NOW + IDEMPOTENCY_LEASE_SECS + 1)
            .await
            .unwrap(),
    );
    let mut tx = store.begin().await.unwrap();
    assert!(
        !tx.complete_idempotency(&row2, &token2, 200, b"late", false)
            .await
            .unwrap()
    );
    assert!(
        tx.complete_idempotency(&row3, &token3, 201, b"won", false)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn completion_rolls_back_with_its_transaction() {
    let store = fresh_store().await.unwrap();
    let (row, token) = claimed(
        store
            .claim_idempotency("key_a", "k", b"h", NOW)
            .await
            .unwrap(),
    );
    {
        let mut tx = store.begin().await.unwrap();
        assert!(
            tx.complete_idempotency(&row, &token, 200, b"x", false)
                .await
                .unwrap()
        );
        // Dropped without commit.
    }
    assert_eq!(
        store
            .claim_idempotency("key_a", "k", b"h", NOW)
            .await
            .unwrap(),
        Claim::InFlight
    );
}

fn customer(id: &str, created: i64, bidx: Option<&[u8]>) -> CustomerRow {
    CustomerRow {
        id: id.into(),
        created,
        deleted: false,
        email_bidx: bidx.map(|b| b.to_vec()),
        sealed: Some(vec![1, 2, 3]),
        balance: 0,
        currency: None,
        default_payment_method: None,
        delinquent: false,
        invoice_prefix: "ABC".into(),
        next_invoice_sequence: 1,
        test_clock: None,
        search_fp: None,
    }
}

#[tokio::test]
async fn lists_page_newest_first_in_both_directions() {
    let store = fresh_store().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    // Mixed case on purpose: ordering must be bytewise on both backends.
    let ids = ["cus_0A", "cus_0B", "cus_0a", "cus_0b", "cus_1Z"];
    for (i, id) in ids.iter().enumerate() {
        tx.insert_customer(&customer(id, NOW + i as i64, Some(b"x")))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let all = CustomerFilter::default();

    let p1 = store
        .list_customers(&all, &Page::parse(Some(2), None, None).unwrap())
        .await
        .unwrap();
    let got: Vec<&str> = p1.data.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(got, ["cus_1Z", "cus_0b"]);
    assert!(p1.has_more);

    let p2 = store
        .list_customers(
            &all,
            &Page::parse(Some(2), Some("cus_0b".into()), None).unwrap(),
        )
        .await
        .unwrap();
    let got: Vec<&str> = p2.data.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(got, ["cus_0a", "cus_0B"]);
    assert!(p2.has_more);

    let back = store
        .list_customers(
            &all,
            &Page::parse(Some(10), None, Some("cus_0a".into())).unwrap(),
        )
        .await
        .unwrap();
    let got: Vec<&str> = back.data.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(got, ["cus_1Z", "cus_0b"]);
    assert!(!back.has_more);

    let by_created = CustomerFilter {
        created: serde_json::from_value(serde_json::json!({"gte": NOW + 3})).unwrap(),
        ..Default::default()
    };
    let recent = store
        .list_customers(&by_created, &Page::parse(None, None, None).unwrap())
        .await
        .unwrap();
    assert_eq!(recent.data.len(), 2);
}

/// Writers that run at once (on SQLite: grouped into shared commits) each commit or roll back
/// on their own: a failed statement or an abandoned transaction takes nobody else's work
/// with it, and a commit that returned is visible to every reader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_commit_or_roll_back_alone() {
    let fresh = fresh_store().await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..90 {
        let store = fresh.store.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("cus_{i:03}");
            let mut tx = store.begin().await.unwrap();
            tx.insert_customer(&customer(&id, NOW, Some(b"x")))
                .await
                .unwrap();
            match i % 3 {
                0 => {
                    // A failing statement, then the transaction is abandoned.
                    let again = tx.insert_customer(&customer(&id, NOW, Some(b"x"))).await;
                    assert!(again.is_err(), "a duplicate id must be refused");
                    drop(tx);
                }
                1 => {
                    tx.commit().await.unwrap();
                    assert!(
                        store.customer(&id).await.unwrap().is_some(),
                        "a committed write is visible once commit returns"
                    );
                }
                _ => drop(tx),
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let page = Page::parse(Some(100), None, None).unwrap();
    let listed = fresh
        .list_customers(&CustomerFilter::default(), &page)
        .await
        .unwrap();
    let mut got: Vec<String> = listed.data.into_iter().map(|c| c.id).collect();
    got.sort();
    let want: Vec<String> = (0..90)
        .filter(|i| i % 3 == 1)
        .map(|i| format!("cus_{i:03}"))
        .collect();
    assert_eq!(got, want);
}

fn doc(id: &str, status: &str) -> cashbox_store::DocRow {
    cashbox_store::DocRow {
        id: id.into(),
        created: NOW,
        customer: None,
        status: status.into(),
        parent: None,
        sealed: status.as_bytes().to_vec(),
        search_fp: None,
    }
}

/// A deferred transaction (SQLite only) whose reads still hold writes what it built.
#[tokio::test]
async fn a_deferred_transaction_writes_what_it_built_when_its_reads_hold() {
    use cashbox_store::DocTable::Invoices;
    let store = fresh_store().await.unwrap();
    let Some(mut tx) = store.deferred() else {
        return;
    };
    insert_committed(&store, "in_1").await;

    let read = tx.doc_for_update(Invoices, "in_1").await.unwrap().unwrap();
    assert_eq!(read.status, "draft");
    tx.update_doc(Invoices, &doc("in_1", "open")).await.unwrap();
    tx.insert_doc(Invoices, &doc("in_2", "draft"))
        .await
        .unwrap();
    // Nothing is written before the commit.
    assert_eq!(
        store.doc(Invoices, "in_1").await.unwrap().unwrap().status,
        "draft"
    );
    assert!(store.doc(Invoices, "in_2").await.unwrap().is_none());
    tx.commit().await.unwrap();
    assert_eq!(
        store.doc(Invoices, "in_1").await.unwrap().unwrap().status,
        "open"
    );
    assert!(store.doc(Invoices, "in_2").await.unwrap().is_some());
}

/// A deferred transaction whose reads changed before its commit writes nothing and says so,
/// also when what changed is a row that was missing, or a count it was told.
#[tokio::test]
async fn a_deferred_transaction_whose_reads_changed_writes_nothing() {
    use cashbox_store::DocTable::Invoices;
    let store = fresh_store().await.unwrap();
    if store.deferred().is_none() {
        return;
    }
    insert_committed(&store, "in_1").await;

    // A row it read was changed meanwhile.
    let mut tx = store.deferred().unwrap();
    tx.doc_for_update(Invoices, "in_1").await.unwrap().unwrap();
    tx.insert_doc(Invoices, &doc("in_2", "draft"))
        .await
        .unwrap();
    let mut other = store.begin().await.unwrap();
    other
        .update_doc(Invoices, &doc("in_1", "void"))
        .await
        .unwrap();
    other.commit().await.unwrap();
    conflicts_leaving_out(&store, tx, "in_2").await;

    // A row it found missing was made meanwhile.
    let mut tx = store.deferred().unwrap();
    assert!(tx.doc_for_update(Invoices, "in_3").await.unwrap().is_none());
    tx.insert_doc(Invoices, &doc("in_4", "draft"))
        .await
        .unwrap();
    insert_committed(&store, "in_3").await;
    conflicts_leaving_out(&store, tx, "in_4").await;

    // A write the code was told changed one row changes none at commit: it was deleted.
    let mut tx = store.deferred().unwrap();
    assert!(tx.delete_doc(Invoices, "in_3").await.unwrap());
    tx.insert_doc(Invoices, &doc("in_5", "draft"))
        .await
        .unwrap();
    let mut other = store.begin().await.unwrap();
    assert!(other.delete_doc(Invoices, "in_3").await.unwrap());
    other.commit().await.unwrap();
    conflicts_leaving_out(&store, tx, "in_5").await;
    // A write that fails at commit (a duplicate key) is a conflict, and leaves nothing.
    let mut tx = store.deferred().unwrap();
    tx.insert_doc(Invoices, &doc("in_6", "draft"))
        .await
        .unwrap();
    tx.insert_doc(Invoices, &doc("in_1", "draft"))
        .await
        .unwrap();
    conflicts_leaving_out(&store, tx, "in_6").await;
}

/// A buffered transaction (PostgreSQL only) holds its writes and sends them together: it
/// reads what it wrote, a write that follows a held one to the same rows sees it, and writes
/// to several tables (with events) land together at commit.
#[tokio::test]
async fn a_buffered_transaction_writes_in_order_and_reads_its_own_writes() {
    use cashbox_store::DocTable::{Invoices, PaymentIntents};
    let store = fresh_store().await.unwrap();
    let Some(mut tx) = store.buffered().await.unwrap() else {
        return;
    };
    insert_committed(&store, "in_1").await;

    tx.doc_for_update(Invoices, "in_1").await.unwrap().unwrap();
    tx.insert_doc(Invoices, &doc("in_2", "draft"))
        .await
        .unwrap();
    // The same row written twice in a row: the update must find the insert.
    tx.update_doc(Invoices, &doc("in_2", "open")).await.unwrap();
    tx.update_doc(Invoices, &doc("in_1", "paid")).await.unwrap();
    tx.insert_doc(PaymentIntents, &doc("pi_1", "succeeded"))
        .await
        .unwrap();
    tx.insert_event(event(1));
    // A read of a table with held writes sees them.
    let read = tx.doc_for_update(Invoices, "in_2").await.unwrap().unwrap();
    assert_eq!(read.status, "open");
    tx.update_doc(PaymentIntents, &doc("pi_1", "canceled"))
        .await
        .unwrap();
    // Nothing is visible outside before the commit.
    assert!(store.doc(Invoices, "in_2").await.unwrap().is_none());
    tx.commit().await.unwrap();

    let status = |t, id: &'static str| {
        let store = store.clone();
        async move { store.doc(t, id).await.unwrap().map(|d| d.status) }
    };
    assert_eq!(status(Invoices, "in_1").await.as_deref(), Some("paid"));
    assert_eq!(status(Invoices, "in_2").await.as_deref(), Some("open"));
    assert_eq!(
        status(PaymentIntents, "pi_1").await.as_deref(),
        Some("canceled")
    );
    assert_eq!(store.event("evt_0001").await.unwrap(), Some(event(1)));
}

/// A buffered transaction whose held write fails when sent (a duplicate key) or changes
/// another number of rows than the code was told (a row gone) is a conflict at commit, and
/// leaves nothing of its writes, on either table.
#[tokio::test]
async fn a_buffered_transaction_whose_writes_fail_writes_nothing() {
    use cashbox_store::DocTable::{Invoices, PaymentIntents};
    let store = fresh_store().await.unwrap();
    if store.buffered().await.unwrap().is_none() {
        return;
    }
    insert_committed(&store, "in_1").await;

    let mut tx = store.buffered().await.unwrap().unwrap();
    tx.insert_doc(PaymentIntents, &doc("pi_1", "draft"))
        .await
        .unwrap();
    tx.insert_doc(Invoices, &doc("in_1", "open")).await.unwrap();
    let err = tx.commit().await.unwrap_err();
    assert!(matches!(err, cashbox_store::StoreError::Conflict), "{err}");
    assert!(store.doc(PaymentIntents, "pi_1").await.unwrap().is_none());
    let kept = store.doc(Invoices, "in_1").await.unwrap().unwrap();
    assert_eq!(kept.status, "draft");

    let mut tx = store.buffered().await.unwrap().unwrap();
    tx.insert_doc(Invoices, &doc("in_2", "draft"))
        .await
        .unwrap();
    assert!(tx.delete_doc(PaymentIntents, "pi_gone").await.unwrap());
    conflicts_leaving_out(&store, tx, "in_2").await;
}

/// A deferred transaction (SQLite only) that reads rows ahead answers their reads from what
/// it read, also after writes to other rows of their table, and its replay checks the read
/// ahead: a row changed since by someone else is a conflict.
#[tokio::test]
async fn a_deferred_transaction_reads_ahead_and_checks_what_it_read() {
    use cashbox_store::DocTable::Invoices;
    let store = fresh_store().await.unwrap();
    let Some(mut tx) = store.deferred() else {
        return;
    };
    let ids = three_invoices_read_ahead(&store, &mut tx).await;
    let status = |row: Option<cashbox_store::DocRow>| row.map(|d| d.status);
    in_1_as_read_ahead_then_opened(&mut tx).await;
    // Another row of the table written is still answered as read ahead.
    assert_eq!(
        locked_status(&mut tx, "in_2").await.as_deref(),
        Some("draft")
    );
    tx.update_doc(Invoices, &doc("in_2", "paid")).await.unwrap();
    tx.commit().await.unwrap();
    let now = |id: &'static str| {
        let store = store.clone();
        async move { status(store.doc(Invoices, id).await.unwrap()) }
    };
    assert_eq!(now("in_1").await.as_deref(), Some("open"));
    assert_eq!(now("in_2").await.as_deref(), Some("paid"));

    // A row read ahead changes outside before the replay: nothing is written.
    let mut tx = store.deferred().unwrap();
    tx.read_ahead_docs(Invoices, &ids).await.unwrap();
    let mut other = store.begin().await.unwrap();
    other
        .update_doc(Invoices, &doc("in_3", "outside"))
        .await
        .unwrap();
    other.commit().await.unwrap();
    // The transaction still sees what it read ahead.
    assert_eq!(
        locked_status(&mut tx, "in_3").await.as_deref(),
        Some("draft")
    );
    tx.update_doc(Invoices, &doc("in_1", "void")).await.unwrap();
    tx.insert_doc(Invoices, &doc("in_4", "draft"))
        .await
        .unwrap();
    conflicts_leaving_out(&store, tx, "in_4").await;
    assert_eq!(now("in_1").await.as_deref(), Some("open"));
    assert_eq!(now("in_3").await.as_deref(), Some("outside"));
}

/// A buffered transaction (PostgreSQL only) that reads rows ahead answers their reads from
/// what it read until it writes them; writes of one text to different rows go as one, and a
/// second write to a row already written goes after the first: every write lands as made.
#[tokio::test]
async fn a_buffered_transaction_reads_ahead_and_sends_like_writes_together() {
    use cashbox_store::DocTable::Invoices;
    let store = fresh_store().await.unwrap();
    let Some(mut tx) = store.buffered().await.unwrap() else {
        return;
    };
    three_invoices_read_ahead(&store, &mut tx).await;
    // Changed since, outside: the read ahead holds the row locked, so the change waits.
    let outside = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut other = store.begin().await.unwrap();
            other
                .update_doc(Invoices, &doc("in_3", "outside"))
                .await
                .unwrap();
            other.commit().await.unwrap();
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(!outside.is_finished(), "the row read ahead is locked");
    in_1_as_read_ahead_then_opened(&mut tx).await;
    // The row written is read again from the server, the write before it sent first.
    assert_eq!(
        locked_status(&mut tx, "in_1").await.as_deref(),
        Some("open")
    );
    // The other rows read ahead are still as read.
    assert_eq!(
        locked_status(&mut tx, "in_2").await.as_deref(),
        Some("draft")
    );
    tx.update_doc(Invoices, &doc("in_2", "paid")).await.unwrap();
    tx.update_doc(Invoices, &doc("in_3", "void")).await.unwrap();
    tx.update_doc(Invoices, &doc("in_2", "uncollectible"))
        .await
        .unwrap();
    tx.insert_doc(Invoices, &doc("in_4", "draft"))
        .await
        .unwrap();
    tx.insert_doc(Invoices, &doc("in_5", "draft"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    outside.await.unwrap();

    let now = |id: &'static str| {
        let store = store.clone();
        async move { store.doc(Invoices, id).await.unwrap().map(|d| d.status) }
    };
    assert_eq!(now("in_1").await.as_deref(), Some("open"));
    assert_eq!(now("in_2").await.as_deref(), Some("uncollectible"));
    // The change from outside waited for the commit and came after it.
    assert_eq!(now("in_3").await.as_deref(), Some("outside"));
    assert_eq!(now("in_4").await.as_deref(), Some("draft"));
    assert_eq!(now("in_5").await.as_deref(), Some("draft"));
}

/// Commits the invoice documents `in_1` to `in_3` (drafts) and reads them ahead in `tx`,
/// with `in_9`, which has no row; returns the keys read ahead.
async fn three_invoices_read_ahead(
    store: &cashbox_store::Store,
    tx: &mut cashbox_store::Tx,
) -> Vec<String> {
    for id in ["in_1", "in_2", "in_3"] {
        insert_committed(store, id).await;
    }
    assert!(tx.reads_ahead());
    let ids: Vec<String> = ["in_3", "in_1", "in_2", "in_9"].map(String::from).to_vec();
    tx.read_ahead_docs(cashbox_store::DocTable::Invoices, &ids)
        .await
        .unwrap();
    ids
}

/// In `tx`, after [`three_invoices_read_ahead`]: `in_1` reads as read ahead (a draft) and
/// `in_9` as none, then `in_1` is written open.
async fn in_1_as_read_ahead_then_opened(tx: &mut cashbox_store::Tx) {
    use cashbox_store::DocTable::Invoices;
    assert_eq!(locked_status(tx, "in_1").await.as_deref(), Some("draft"));
    assert_eq!(tx.doc_for_update(Invoices, "in_9").await.unwrap(), None);
    tx.update_doc(Invoices, &doc("in_1", "open")).await.unwrap();
}

/// The status of the invoice document `id`, read for update in `tx`.
async fn locked_status(tx: &mut cashbox_store::Tx, id: &str) -> Option<String> {
    let row = tx
        .doc_for_update(cashbox_store::DocTable::Invoices, id)
        .await
        .unwrap();
    row.map(|d| d.status)
}

/// Commits an invoice document `id` in an ordinary transaction.
async fn insert_committed(store: &cashbox_store::Store, id: &str) {
    let mut tx = store.begin().await.unwrap();
    tx.insert_doc(cashbox_store::DocTable::Invoices, &doc(id, "draft"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// `tx`'s commit is a conflict, and the document `id` it would have written is not there.
async fn conflicts_leaving_out(store: &cashbox_store::Store, tx: cashbox_store::Tx, id: &str) {
    let err = tx.commit().await.unwrap_err();
    assert!(matches!(err, cashbox_store::StoreError::Conflict), "{err}");
    let doc = store
        .doc(cashbox_store::DocTable::Invoices, id)
        .await
        .unwrap();
    assert!(doc.is_none(), "{id} was written");
}

/// A webhook endpoint, so that events are queued for fan-out.
async fn add_endpoint(store: &cashbox_store::Store) {
    let mut tx = store.begin().await.unwrap();
    let endpoint = doc("we_1", "enabled");
    tx.insert_doc(cashbox_store::DocTable::WebhookEndpoints, &endpoint)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

fn event(n: usize) -> cashbox_store::EventRow {
    cashbox_store::EventRow {
        id: format!("evt_{n:04}"),
        event_type: "invoice.paid".into(),
        created: NOW,
        object_id: format!("in_{n}"),
        sealed: vec![n as u8],
        request_id: None,
        idempotency_key: n.is_multiple_of(2).then(|| format!("key-{n}")),
    }
}

/// Events a transaction records are written when it commits, all of them (more than one
/// statement's worth), each into the webhook outbox while an endpoint exists; a transaction
/// dropped writes none.
#[tokio::test]
async fn events_are_written_at_commit_and_only_then() {
    let store = fresh_store().await.unwrap();
    add_endpoint(&store).await;
    let mut dropped = store.begin().await.unwrap();
    dropped.insert_event(event(1000));
    drop(dropped);
    assert!(store.event("evt_1000").await.unwrap().is_none());
    assert!(!store.outbox_waiting().await.unwrap());

    let mut tx = store.begin().await.unwrap();
    let recorded: Vec<_> = (0..150).map(event).collect();
    for e in &recorded {
        tx.insert_event(e.clone());
    }
    assert!(store.event("evt_0000").await.unwrap().is_none());
    tx.commit().await.unwrap();
    for e in &recorded {
        assert_eq!(store.event(&e.id).await.unwrap().as_ref(), Some(e));
    }
    let mut outbox = store.begin().await.unwrap();
    let queued = outbox.outbox_batch(1_000).await.unwrap();
    let ids: Vec<&str> = queued.iter().map(|o| o.event_id.as_str()).collect();
    let expected: Vec<&str> = recorded.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, expected, "queued once each, in the order recorded");
}

/// With no webhook endpoint, nobody could want an event (an endpoint only gets events made
/// after it), so none is queued for fan-out, on every kind of transaction; once one exists,
/// the next events are.
#[tokio::test]
async fn events_are_queued_for_fan_out_only_while_an_endpoint_exists() {
    let store = fresh_store().await.unwrap();
    let mut txs = vec![store.begin().await.unwrap()];
    txs.extend(store.deferred());
    txs.extend(store.buffered().await.unwrap());
    for (n, mut tx) in txs.into_iter().enumerate() {
        tx.insert_event(event(n));
        tx.commit().await.unwrap();
        assert!(store.event(&event(n).id).await.unwrap().is_some());
    }
    assert!(!store.outbox_waiting().await.unwrap());

    add_endpoint(&store).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_event(event(10));
    tx.commit().await.unwrap();
    let mut outbox = store.begin().await.unwrap();
    let queued = outbox.outbox_batch(1_000).await.unwrap();
    let ids: Vec<&str> = queued.iter().map(|o| o.event_id.as_str()).collect();
    assert_eq!(ids, ["evt_0010"]);
}

/// A transaction whose events cannot be written (an id already taken) fails at commit and
/// writes none of them, nor anything else, on both backends and for a deferred transaction;
/// the store goes on committing after it.
#[tokio::test]
async fn events_that_cannot_be_written_fail_their_whole_transaction() {
    let store = fresh_store().await.unwrap();
    add_endpoint(&store).await;
    let mut first = store.begin().await.unwrap();
    first.insert_event(event(1));
    first.commit().await.unwrap();

    let mut txs = vec![store.begin().await.unwrap()];
    txs.extend(store.deferred());
    txs.extend(store.buffered().await.unwrap());
    for mut tx in txs {
        tx.insert_event(event(2));
        tx.insert_event(event(1));
        tx.insert_event(event(3));
        assert!(tx.commit().await.is_err(), "evt_0001 is taken");
        for n in [2, 3] {
            let id = format!("evt_{n:04}");
            assert!(
                store.event(&id).await.unwrap().is_none(),
                "{id} was written"
            );
        }
    }
    let mut outbox = store.begin().await.unwrap();
    let queued = outbox.outbox_batch(100).await.unwrap();
    assert_eq!(queued.len(), 1, "only evt_0001 is queued");
    drop(outbox);

    let mut after = store.begin().await.unwrap();
    after.insert_event(event(4));
    after.commit().await.unwrap();
    assert_eq!(store.event("evt_0004").await.unwrap(), Some(event(4)));
}

/// Two transactions locking two rows in opposite orders deadlock on PostgreSQL: the one it
/// gives up says so ([`StoreError::is_lock_conflict`]), so that it is run again or answered
/// as Stripe's `lock_timeout`, not as a 500. (SQLite's one writer cannot deadlock.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_is_told_apart_as_a_lock_conflict() {
    let store = fresh_store().await.unwrap();
    if !matches!(&*store, cashbox_store::Store::Postgres(_)) {
        return;
    }
    let mut tx = store.begin().await.unwrap();
    tx.insert_customer(&customer("cus_a", NOW, None))
        .await
        .unwrap();
    tx.insert_customer(&customer("cus_b", NOW, None))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let (mut one, mut two) = (store.begin().await.unwrap(), store.begin().await.unwrap());
    one.customer_for_update("cus_a").await.unwrap();
    two.customer_for_update("cus_b").await.unwrap();
    let (a, b) = tokio::join!(
        async {
            let r = one.customer_for_update("cus_b").await;
            (r, one)
        },
        async {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            let r = two.customer_for_update("cus_a").await;
            (r, two)
        }
    );
    let errors: Vec<_> = [&a.0, &b.0]
        .into_iter()
        .filter_map(|r| r.as_ref().err())
        .collect();
    assert_eq!(errors.len(), 1, "one of the two is given up");
    assert!(errors[0].is_lock_conflict(), "{}", errors[0]);
}
