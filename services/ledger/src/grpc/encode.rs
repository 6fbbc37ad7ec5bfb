//! The book's answers as protobuf.

use questline_kit::time::{now_ms, to_timestamp};
use questline_kit::{DomainError, structs};
use questline_proto::ledger::{self as pb, expiry_policy::Rule};

use crate::domain::book::{Account, Hold, Transfer};
use crate::domain::expiry::{ExpiryPolicy, Period};
use crate::domain::hold::HoldStatus;
use crate::domain::{Figures, Totals};
use crate::store::entities::currency;
use crate::store::{Entry, WalletView};

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

pub fn currency(row: currency::Model) -> Result<pb::Currency, DomainError> {
    let rule = match ExpiryPolicy::parse(&row.expiry)? {
        ExpiryPolicy::Never => Rule::Never(pb::NeverExpire {}),
        ExpiryPolicy::DaysAfterEarn(days) => Rule::DaysAfterEarn(days as i32),
        ExpiryPolicy::EndOfPeriod { period, after } => Rule::EndOfPeriod(pb::PeriodEnd {
            period: match period {
                Period::Month => pb::Period::Month,
                Period::Quarter => pb::Period::Quarter,
                Period::Year => pb::Period::Year,
            } as i32,
            periods_after: after as i32,
        }),
    };
    Ok(pb::Currency {
        tenant_id: row.tenant_id,
        code: row.code,
        name: row.name,
        expiry_policy: Some(pb::ExpiryPolicy { rule: Some(rule) }),
        time_zone: row.time_zone,
        decimal_places: row.decimal_places,
        reversals_may_overdraw: row.reversals_may_overdraw,
    })
}
