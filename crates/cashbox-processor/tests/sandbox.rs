//! The sandbox processor against a real store: Stripe's test cards, idempotent retries, and
//! refusals a real processor would make.

use cashbox_processor::sandbox::SandboxProcessor;
use cashbox_processor::{
    AuthorizeRequest, CaptureRequest, Outcome, Processor, ProcessorError, RawCard, RefundRequest,
    VerifyRequest,
};
use cashbox_store::testing::{FreshStore, fresh_store};
use zeroize::Zeroizing;

async fn sandbox() -> (FreshStore, SandboxProcessor) {
    let store = fresh_store().await.unwrap();
    let p = SandboxProcessor::new(store.store.clone(), Zeroizing::new([7u8; 32]), || {
        1_700_000_000
    });
    (store, p)
}

fn charge<'a>(key: &'a str, token: &'a str, amount: i64) -> AuthorizeRequest<'a> {
    AuthorizeRequest {
        customer: None,
        save_card: false,
        resume: None,
        idempotency_key: key,
        amount_minor: amount,
        currency: "usd",
        card_token: token,
        capture: true,
        off_session: false,
        card_set_up: false,
        request_authentication: false,
        authenticated: false,
    }
}

fn token(p: &SandboxProcessor, id: &str) -> String {
    p.test_card(id).unwrap().token
}

/// The amount the sandbox's journal holds for a succeeded operation.
async fn journaled_amount(s: &FreshStore, outcome: &Outcome) -> i64 {
    let Outcome::Succeeded { reference } = outcome else {
        panic!("not succeeded: {outcome:?}")
    };
    s.sandbox_op(reference).await.unwrap().unwrap().amount_minor
}

#[tokio::test]
async fn test_cards_behave_as_stripes() {
    let (_s, p) = sandbox().await;
    let visa = token(&p, "pm_card_visa");
    assert!(matches!(
        p.authorize(charge("k1", &visa, 1000)).await.unwrap(),
        Outcome::Succeeded { .. }
    ));
    for (id, code, decline) in [
        ("pm_card_chargeDeclined", "card_declined", "generic_decline"),
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            "card_declined",
            "insufficient_funds",
        ),
        (
            "tok_chargeDeclinedExpiredCard",
            "expired_card",
            "expired_card",
        ),
        (
            "pm_card_chargeCustomerFail",
            "card_declined",
            "generic_decline",
        ),
    ] {
        let t = token(&p, id);
        match p.authorize(charge(id, &t, 1000)).await.unwrap() {
            Outcome::Declined(d) => assert_eq!(
                (
                    d.code.as_str(),
                    d.decline_code.as_deref().unwrap_or_default()
                ),
                (code, decline),
                "{id}"
            ),
            other => panic!("{id}: {other:?}"),
        }
    }
    let three_ds = token(&p, "pm_card_authenticationRequired");
    assert_eq!(
        p.authorize(charge("a1", &three_ds, 1000)).await.unwrap(),
        Outcome::RequiresAction(Default::default())
    );
    let mut done = charge("a2", &three_ds, 1000);
    done.authenticated = true;
    assert!(matches!(
        p.authorize(done).await.unwrap(),
        Outcome::Succeeded { .. }
    ));
    let mut off = charge("a3", &three_ds, 1000);
    off.off_session = true;
    assert!(
        matches!(p.authorize(off).await.unwrap(), Outcome::Declined(d) if d.code == "authentication_required")
    );

    // 3155 needs authentication on session, and off session only until it is set up.
    let once = token(&p, "pm_card_authenticationRequiredOnSetup");
    let mut off = charge("o1", &once, 1000);
    off.off_session = true;
    assert!(matches!(
        p.authorize(off.clone()).await.unwrap(),
        Outcome::Declined(_)
    ));
    off.idempotency_key = "o2";
    off.card_set_up = true;
    assert!(matches!(
        p.authorize(off).await.unwrap(),
        Outcome::Succeeded { .. }
    ));

    // Attaching: declining cards refuse, 0341 attaches.
    let declined = token(&p, "pm_card_chargeDeclined");
    let attach = VerifyRequest {
        customer: None,
        resume: None,
        idempotency_key: "v1",
        card_token: &declined,
        for_setup: false,
        authenticated: false,
    };
    assert!(matches!(
        p.verify(attach).await.unwrap(),
        Outcome::Declined(_)
    ));
    let fails_later = token(&p, "pm_card_chargeCustomerFail");
    let attach = VerifyRequest {
        customer: None,
        resume: None,
        idempotency_key: "v2",
        card_token: &fails_later,
        for_setup: false,
        authenticated: false,
    };
    assert!(matches!(
        p.verify(attach).await.unwrap(),
        Outcome::Succeeded { .. }
    ));
    let setup = VerifyRequest {
        customer: None,
        resume: None,
        idempotency_key: "v3",
        card_token: &three_ds,
        for_setup: true,
        authenticated: false,
    };
    assert_eq!(
        p.verify(setup).await.unwrap(),
        Outcome::RequiresAction(Default::default())
    );
}

#[tokio::test]
async fn retries_with_one_key_charge_once() {
    let (s, p) = sandbox().await;
    let visa = token(&p, "pm_card_visa");
    let a = p.authorize(charge("same", &visa, 1000)).await.unwrap();
    let b = p.authorize(charge("same", &visa, 1000)).await.unwrap();
    assert_eq!(a, b);
    assert_eq!(journaled_amount(&s, &a).await, 1000);
    // The same key for another amount is refused, as Stripe refuses it.
    assert!(matches!(
        p.authorize(charge("same", &visa, 2000)).await,
        Err(ProcessorError::Rejected(_))
    ));
}

#[tokio::test]
async fn charges_asked_together_answer_as_asked_one_by_one() {
    let (s, p) = sandbox().await;
    let visa = token(&p, "pm_card_visa");
    let declined = token(&p, "pm_card_chargeDeclined");
    let earlier = p.authorize(charge("k-earlier", &visa, 500)).await.unwrap();
    let answers = p
        .authorize_many(vec![
            charge("k-new", &visa, 1000),
            // Asked before: the earlier answer, not a second charge.
            charge("k-earlier", &visa, 500),
            charge("k-declined", &declined, 700),
            // Asked twice in one call: charged once.
            charge("k-new", &visa, 1000),
            // A key reused for another amount is refused, alone.
            charge("k-earlier", &visa, 900),
        ])
        .await;
    assert_eq!(answers.len(), 5);
    let new = answers[0].clone().unwrap();
    assert!(matches!(&new, Outcome::Succeeded { .. }), "{new:?}");
    assert_eq!(answers[1].clone().unwrap(), earlier);
    assert!(
        matches!(answers[2], Ok(Outcome::Declined(_))),
        "{:?}",
        answers[2]
    );
    assert_eq!(answers[3].clone().unwrap(), new);
    assert!(matches!(answers[4], Err(ProcessorError::Rejected(_))));
    // Asked again one by one, every key answers the same: each was journaled once.
    assert_eq!(
        p.authorize(charge("k-new", &visa, 1000)).await.unwrap(),
        new
    );
    assert_eq!(
        p.authorize(charge("k-declined", &declined, 700))
            .await
            .unwrap(),
        answers[2].clone().unwrap()
    );
    assert_eq!(journaled_amount(&s, &new).await, 1000);
}

#[tokio::test]
async fn captures_and_refunds_cannot_exceed_what_was_paid() {
    let (_s, p) = sandbox().await;
    let visa = token(&p, "pm_card_visa");
    let mut hold = charge("auth", &visa, 1000);
    hold.capture = false;
    let Outcome::Succeeded { reference: auth } = p.authorize(hold).await.unwrap() else {
        panic!()
    };
    let cap = |key: &'static str, amount| CaptureRequest {
        idempotency_key: key,
        authorization: &auth,
        amount_minor: amount,
        currency: "usd",
    };
    assert!(p.capture(cap("c1", 1001)).await.is_err());
    assert!(matches!(
        p.capture(cap("c2", 600)).await.unwrap(),
        Outcome::Succeeded { .. }
    ));
    let refund = |key: &'static str, amount| RefundRequest {
        idempotency_key: key,
        charge_reference: &auth,
        amount_minor: amount,
        currency: "usd",
    };
    assert!(matches!(
        p.refund(refund("r1", 400)).await.unwrap(),
        Outcome::Succeeded { .. }
    ));
    assert!(p.refund(refund("r2", 201)).await.is_err());
    assert!(matches!(
        p.refund(refund("r3", 200)).await.unwrap(),
        Outcome::Succeeded { .. }
    ));
}

#[test]
fn raw_cards_become_tokens_without_the_number() {
    let p = SandboxProcessor::new(futures_free_store(), Zeroizing::new([1u8; 32]), || 0);
    let card = p
        .tokenize_card(RawCard {
            number: "4242424242424242",
            exp_month: 12,
            exp_year: 2030,
            cvc: Some("123"),
            today: (2026, 11),
        })
        .unwrap();
    assert_eq!((card.brand.as_str(), card.last4.as_str()), ("visa", "4242"));
    assert!(!card.token.contains("4242424242424242"));
    assert!(!card.fingerprint.contains("4242"));
    let again = p.test_card("pm_card_visa").unwrap();
    assert_eq!(
        card.fingerprint, again.fingerprint,
        "the same card has the same fingerprint"
    );
    let err = p
        .tokenize_card(RawCard {
            number: "4242424242424241",
            exp_month: 12,
            exp_year: 2030,
            cvc: None,
            today: (2026, 11),
        })
        .err()
        .unwrap();
    assert_eq!((err.code, err.param), ("incorrect_number", "card[number]"));
}

/// Tokenizing needs no database; an unmigrated scratch file, unlinked at once, stands in.
fn futures_free_store() -> cashbox_store::Store {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let path = std::env::temp_dir().join(format!(
        "cashbox-tokenize-{}.db",
        cashbox_core::id::random_token(12)
    ));
    let url = format!("sqlite://{}", path.display());
    let store = rt.block_on(cashbox_store::Store::connect(&url, 1)).unwrap();
    cashbox_store::testing::remove_test_database(&url);
    store
}

#[tokio::test]
async fn a_merchant_may_ask_a_present_customer_to_authenticate_any_card() {
    let (_s, p) = sandbox().await;
    let visa = token(&p, "pm_card_visa");
    let mut asked = charge("r1", &visa, 1000);
    asked.request_authentication = true;
    assert!(matches!(
        p.authorize(asked.clone()).await.unwrap(),
        Outcome::RequiresAction(_)
    ));
    // Authenticated, it goes through; off session nobody is asked.
    asked.idempotency_key = "r2";
    asked.authenticated = true;
    assert!(matches!(
        p.authorize(asked.clone()).await.unwrap(),
        Outcome::Succeeded { .. }
    ));
    asked.idempotency_key = "r3";
    asked.authenticated = false;
    asked.off_session = true;
    assert!(matches!(
        p.authorize(asked).await.unwrap(),
        Outcome::Succeeded { .. }
    ));
    // A declining card declines whatever was asked.
    let declined = token(&p, "pm_card_chargeDeclined");
    let mut asked = charge("r4", &declined, 1000);
    asked.request_authentication = true;
    assert!(matches!(
        p.authorize(asked).await.unwrap(),
        Outcome::Declined(_)
    ));
}
