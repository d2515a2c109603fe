//! Credit notes: create (against an open invoice, lowering what is due; against a paid one,
//! refunded to the card, credited to the customer's balance or settled outside), retrieve,
//! list, void (only while its invoice is open).
//!
//! A refund is made before the credit note that records it is written: the refund has its own
//! three-phase flow with the processor, and the note is written once it has an id. Everything
//! the note needs is checked before the refund is asked for.

use cashbox_core::ParamError;
use cashbox_core::billing::credit_note::{
    CREDIT_NOTE_LINE_PREFIX, CREDIT_NOTE_PREFIX, CreditNote, CreditNoteCreateParams,
    CreditNoteListParams, REASONS, creditable, lines_from, split_checked,
};
use cashbox_core::billing::invoice::{Invoice, InvoiceStatus};
use cashbox_core::billing::mul_div_round;
use cashbox_core::event::previous_attributes;
use cashbox_core::id::new_id;
use cashbox_core::ledger::{CreditNoteAmounts, Posting};
use cashbox_core::payments::{RefundCreateParams, RefundReason, apply_metadata};
use cashbox_store::{DocFilter, DocTable};
use serde_json::Value;

use crate::billing::invoices::inner_ctx;
use crate::docs::Doc;
use crate::events::ListResult;
use crate::{AppError, AppResult, RequestCtx};

impl Doc for CreditNote {
    const TABLE: DocTable = DocTable::CreditNotes;
    const PREFIX: &'static str = CREDIT_NOTE_PREFIX;
    const NAME: &'static str = "credit_note";
    fn id(&self) -> &str {
        &self.id
    }
    fn created(&self) -> i64 {
        self.created
    }
    fn customer(&self) -> Option<&str> {
        Some(&self.customer)
    }
    fn status(&self) -> String {
        if self.voided_at.is_some() {
            "void"
        } else {
            "issued"
        }
        .into()
    }
    fn parent(&self) -> Option<&str> {
        Some(&self.invoice)
    }
}

fn ledger_amounts(n: &CreditNote) -> CreditNoteAmounts {
    CreditNoteAmounts {
        amount: n.amount,
        tax: n.tax_amount,
        pre_payment: n.pre_payment,
        credit: n.credit_amount,
        refund: n.refund_amount,
        out_of_band: n.out_of_band_amount,
    }
}

/// What a new credit note will be, from its parameters and its invoice as it is now.
fn plan(inv: &Invoice, p: &CreditNoteCreateParams, now: i64) -> AppResult<CreditNote> {
    let (pre_payment, available) = creditable(inv)?;
    let (lines, amount) = lines_from(inv, p, &mut || new_id(CREDIT_NOTE_LINE_PREFIX))?;
    if amount > available {
        return Err(ParamError::invalid(
            "amount",
            format!("The credit note's amount ({amount}) is more than the invoice has left to credit ({available})."),
        )
        .into());
    }
    let split = [p.credit_amount, p.refund_amount, p.out_of_band_amount];
    let (credit, refund, out_of_band) = if pre_payment {
        if split.iter().any(Option::is_some) {
            return Err(ParamError::invalid(
                "credit_amount",
                "credit_amount, refund_amount and out_of_band_amount are for credit notes on paid invoices.",
            )
            .into());
        }
        (0, 0, 0)
    } else if split.iter().any(Option::is_some) {
        let [c, r, o] = split;
        split_checked(amount, c, r, o)?
    } else if inv.payment_intent.is_some() && !inv.paid_out_of_band {
        (0, amount, 0)
    } else {
        (amount, 0, 0)
    };
    if refund > 0 && (inv.payment_intent.is_none() || inv.paid_out_of_band) {
        return Err(ParamError::invalid(
            "refund_amount",
            "This invoice was not paid by card; credit the customer's balance instead.",
        )
        .into());
    }
    let taxes = inv
        .total_taxes
        .iter()
        .try_fold(0i64, |sum, t| sum.checked_add(t.amount))
        .ok_or_else(|| AppError::Corrupt(format!("invoice {}: its taxes overflow", inv.id)))?;
    let tax_amount = if inv.total > 0 {
        mul_div_round(amount, taxes, inv.total).unwrap_or(0)
    } else {
        0
    };
    Ok(CreditNote {
        id: new_id(CREDIT_NOTE_PREFIX),
        created: now,
        customer: inv.customer.clone(),
        invoice: inv.id.clone(),
        currency: inv.currency,
        number: String::new(),
        amount,
        tax_amount,
        pre_payment,
        voided_at: None,
        reason: p.reason.clone(),
        memo: p.memo.clone(),
        credit_amount: credit,
        refund_amount: refund,
        refund: None,
        out_of_band_amount: out_of_band,
        lines,
        metadata: apply_metadata(&Default::default(), &p.metadata)?,
    })
}

/// The ledger lines an issued credit note stands for (none once void: its voiding reversed it).
pub(crate) fn expected_lines(n: &CreditNote) -> Vec<(&'static str, i64)> {
    if n.voided_at.is_some() {
        Vec::new()
    } else {
        ledger_amounts(n).lines()
    }
}

crate::service!(CreditNotes, credit_notes, "Credit notes on invoices.");

impl CreditNotes<'_> {
    pub async fn create(
        &self,
        ctx: &RequestCtx,
        p: CreditNoteCreateParams,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let inv_id = p
            .invoice
            .clone()
            .ok_or_else(|| ParamError::missing("invoice"))?;
        if let Some(r) = &p.reason
            && !REASONS.contains(&r.as_str())
        {
            return Err(ParamError::invalid("reason", format!("Invalid reason: {r}")).into());
        }
        cashbox_core::billing::invoice::check_description(&p.memo)
            .map_err(|e| ParamError::invalid("memo", e.message))?;
        let missing = || AppError::MissingReference {
            object: "invoice",
            id: inv_id.clone(),
            param: "invoice".into(),
        };
        // Checked first, so a refund is asked for only when the note can be written.
        let inv: Invoice = self.load(&inv_id).await.map_err(|_| missing())?;
        let probe = plan(&inv, &p, self.now())?;
        let refund = if probe.refund_amount > 0 {
            let pi = inv.payment_intent.clone();
            let r = self
                .refunds()
                .create(
                    &inner_ctx(ctx),
                    RefundCreateParams {
                        payment_intent: pi,
                        amount: Some(probe.refund_amount),
                        reason: match p.reason.as_deref() {
                            Some("duplicate") => Some(RefundReason::Duplicate),
                            Some("fraudulent") => Some(RefundReason::Fraudulent),
                            _ => Some(RefundReason::RequestedByCustomer),
                        },
                        ..RefundCreateParams::default()
                    },
                    &[],
                )
                .await?;
            r["id"].as_str().map(str::to_string)
        } else {
            None
        };

        let mut tx = self.store().begin().await?;
        let mut inv: Invoice = self
            .find_for_update(&mut tx, &inv_id)
            .await?
            .ok_or_else(missing)?;
        let now = self.time_of(&mut tx, inv.test_clock.as_deref()).await?;
        let mut note = plan(&inv, &p, now)?;
        if note.refund_amount != probe.refund_amount {
            return Err(AppError::Corrupt(format!(
                "invoice {inv_id} changed while a credit note's refund was made ({refund:?})"
            )));
        }
        note.refund = refund;
        let count = tx
            .docs_by_parent(DocTable::CreditNotes, &inv.id)
            .await?
            .len();
        note.number = format!(
            "{}-CN-{:02}",
            inv.number.as_deref().unwrap_or(&inv.id),
            count + 1
        );
        let before = self.render_invoice(&inv);
        if note.pre_payment {
            inv.amount_due -= note.amount;
            inv.amount_remaining -= note.amount;
            inv.pre_payment_credit_notes_amount += note.amount;
            if inv.amount_remaining == 0 {
                inv.mark_paid(now);
            }
        } else {
            inv.post_payment_credit_notes_amount += note.amount;
        }
        if note.credit_amount > 0 {
            self.move_balance(&mut tx, ctx, &inv.customer, -note.credit_amount)
                .await?;
        }
        if let Some(posting) =
            Posting::credit_note_issued(&note.id, &ledger_amounts(&note), note.currency)
        {
            self.post(&mut tx, posting).await?;
        }
        self.insert_doc(&mut tx, &note).await?;
        self.save_invoice(&mut tx, &inv).await?;
        let object = note.to_json();
        self.record_event(&mut tx, ctx, "credit_note.created", &object, None)
            .await?;
        let after = self.render_invoice(&inv);
        self.record_event(
            &mut tx,
            ctx,
            "invoice.updated",
            &after,
            previous_attributes(&before, &after),
        )
        .await?;
        if inv.status == InvoiceStatus::Paid && note.pre_payment {
            self.record_event(&mut tx, ctx, "invoice.paid", &after, None)
                .await?;
        }
        self.finish(tx, ctx, object, expand).await
    }

    pub async fn retrieve(&self, id: &str, expand: &[Vec<String>]) -> AppResult<Value> {
        self.retrieve_doc(id, expand, CreditNote::to_json).await
    }

    pub async fn list(
        &self,
        p: &CreditNoteListParams,
        expand: &[Vec<String>],
    ) -> AppResult<ListResult> {
        let filter = DocFilter {
            customer: p.customer.clone(),
            parent: p.invoice.clone(),
            ..DocFilter::default()
        };
        self.list_docs::<CreditNote>(&filter, &p.page()?, expand, CreditNote::to_json)
            .await
    }

    /// Voids a credit note on an invoice that is still open: what it took off is due again.
    pub async fn void(
        &self,
        ctx: &RequestCtx,
        id: &str,
        expand: &[Vec<String>],
    ) -> AppResult<Value> {
        let mut tx = self.store().begin().await?;
        let mut note: CreditNote = self.load_for_update(&mut tx, id).await?;
        if note.voided_at.is_some() {
            return Err(ParamError::invalid("", "This credit note is already void.").into());
        }
        let mut inv: Invoice = self.load_for_update(&mut tx, &note.invoice).await?;
        if !note.pre_payment || inv.status != InvoiceStatus::Open {
            return Err(ParamError::invalid(
                "",
                "A credit note can only be voided while its invoice is open.",
            )
            .into());
        }
        let now = self.time_of(&mut tx, inv.test_clock.as_deref()).await?;
        inv.amount_due += note.amount;
        inv.amount_remaining += note.amount;
        inv.pre_payment_credit_notes_amount -= note.amount;
        note.voided_at = Some(now);
        if let Some(posting) =
            Posting::credit_note_voided(&note.id, &ledger_amounts(&note), note.currency)
        {
            self.post(&mut tx, posting).await?;
        }
        self.save_invoice(&mut tx, &inv).await?;
        self.save_doc(&mut tx, &note).await?;
        let object = note.to_json();
        self.record_event(&mut tx, ctx, "credit_note.voided", &object, None)
            .await?;
        self.finish(tx, ctx, object, expand).await
    }
}
