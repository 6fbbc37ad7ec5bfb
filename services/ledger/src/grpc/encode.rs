//! The book's answers as protobuf.

use questline_kit::structs;
use questline_kit::time::{now_ms, to_timestamp};
use questline_proto::ledger as pb;

use crate::domain::Figures;
use crate::domain::book::{Account, Hold, Transfer};
use crate::domain::hold::HoldStatus;
use crate::store::{Entry, Totals, WalletView};

pub fn balance(currency: &str, f: Figures) -> pb::Balance {
    pb::Balance {
        currency: currency.into(),
        total: f.total,
        held: f.held,
        available: f.available(),
        expiring: 0,
        expiring_before: None,
    }
}

pub fn wallet(w: WalletView) -> pb::Balance {
    pb::Balance {
        expiring: w.expiring,
        expiring_before: w.before.map(to_timestamp),
        ..balance(&w.currency, w.figures)
    }
}

pub fn transfer(t: Transfer) -> pb::Transfer {
    let metadata = serde_json::from_str::<serde_json::Value>(&t.metadata)
        .ok()
        .and_then(|v| v.as_object().map(structs::from_json));
    pb::Transfer {
        transfer_id: t.transfer_id,
        tenant_id: t.tenant_id,
        legs: t
            .legs
            .into_iter()
            .map(|l| pb::Leg {
                currency: l.currency,
                debit_account: l.debit.key(),
                credit_account: l.credit.key(),
                amount: l.amount,
            })
            .collect(),
        reason: t.reason,
        reference: t.reference,
        metadata,
        idempotency_key: t.idempotency_key,
        reverses_transfer_id: t.reverses.unwrap_or_default(),
        create_time: Some(to_timestamp(t.created_at)),
    }
}

pub fn hold(h: Hold) -> pb::Hold {
    let status = match h.status.at(h.expires_at, now_ms()) {
        HoldStatus::Pending => pb::HoldStatus::Pending,
        HoldStatus::Committed => pb::HoldStatus::Committed,
        HoldStatus::Voided => pb::HoldStatus::Voided,
        HoldStatus::Expired => pb::HoldStatus::Expired,
    };
    pb::Hold {
        hold_id: h.hold_id,
        tenant_id: h.tenant_id,
        member_id: h.member_id,
        currency: h.currency,
        amount: h.amount,
        status: status as i32,
        expire_time: Some(to_timestamp(h.expires_at)),
        transfer_id: h.transfer_id.unwrap_or_default(),
        committed_amount: h.committed_amount,
    }
}

pub fn account(a: Account) -> pb::Account {
    pb::Account {
        tenant_id: a.tenant_id,
        currency: a.currency,
        name: a.owner.key(),
        balance: a.balance,
        held: a.held,
        may_go_negative: a.may_go_negative,
        closed: a.closed,
        create_time: Some(to_timestamp(a.created_at)),
    }
}

pub fn entry(e: Entry) -> pb::AccountEntry {
    pb::AccountEntry {
        transfer_id: e.transfer_id,
        leg: e.leg,
        counterparty: e.counterparty,
        amount: e.amount,
        reason: e.reason,
        reference: e.reference,
        create_time: Some(to_timestamp(e.created_at)),
    }
}

pub fn totals(t: Totals) -> pb::CurrencyTotals {
    pb::CurrencyTotals {
        currency: t.currency,
        issued: t.issued,
        burned: t.burned,
        expired: t.expired,
        adjusted: t.adjusted,
        outstanding: t.outstanding,
        partners: t.partners,
    }
}
