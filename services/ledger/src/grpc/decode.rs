//! Requests to validated commands, with their field-by-field fingerprints,
//! and the reads' arguments checked: every bad field is reported at once.

use questline_kit::fingerprint::Fields;
use questline_kit::time::from_timestamp;
use questline_kit::{DomainError, Violations, structs};
use questline_proto::ledger::{self as pb, expiry_policy::Rule, get_transfer_request::Lookup};

use crate::domain::Owner;
use crate::domain::book::AccountKey;
use crate::domain::currency::CurrencySpec;
use crate::domain::expiry::{ExpiryPolicy, Period};
use crate::domain::requests::{Header, HoldSpec, RawLeg, ReversalSpec, TransferSpec};
use crate::store::{EntryFilter, TransferLookup};

fn metadata_text(metadata: &Option<prost_types::Struct>) -> String {
    match metadata {
        Some(m) if !m.fields.is_empty() => {
            serde_json::Value::Object(structs::to_json(m.clone())).to_string()
        }
        _ => String::new(),
    }
}

/// What a credit and a debit both carry.
struct MemberMove<'a> {
    tenant_id: &'a str,
    member_id: &'a str,
    currency: &'a str,
    amount: i64,
    reason: &'a str,
    reference: &'a str,
    metadata: &'a Option<prost_types::Struct>,
    idempotency_key: &'a str,
}

macro_rules! member_move {
    ($req:expr) => {
        MemberMove {
            tenant_id: &$req.tenant_id,
            member_id: &$req.member_id,
            currency: &$req.currency,
            amount: $req.amount,
            reason: &$req.reason,
            reference: &$req.reference,
            metadata: &$req.metadata,
            idempotency_key: &$req.idempotency_key,
        }
    };
}

/// A credit: issuance → the member's wallet.
pub fn credit(req: &pb::CreditRequest) -> Result<TransferSpec, DomainError> {
    let wallet = format!("member:{}", req.member_id);
    one_leg("Credit", member_move!(req), "system:issuance", &wallet)
}

/// A debit: the member's wallet → redemption.
pub fn debit(req: &pb::DebitRequest) -> Result<TransferSpec, DomainError> {
    let wallet = format!("member:{}", req.member_id);
    one_leg("Debit", member_move!(req), &wallet, "system:redemption")
}

/// One leg between a member's wallet and a system account, its mistakes
/// named as the request names its fields (`amount`, not `legs[0].amount`).
fn one_leg(
    call: &str,
    m: MemberMove<'_>,
    debit: &str,
    credit: &str,
) -> Result<TransferSpec, DomainError> {
    Violations::new().id("member_id", m.member_id).finish()?;
    let metadata = metadata_text(m.metadata);
    let fingerprint = Fields::new(call)
        .field("member_id", m.member_id)
        .field("currency", m.currency)
        .field("amount", m.amount.to_string())
        .field("reason", m.reason)
        .field("reference", m.reference)
        .field("metadata", &metadata)
        .finish();
    let legs = [RawLeg {
        currency: m.currency,
        debit,
        credit,
        amount: m.amount,
    }];
    let header = Header {
        tenant_id: m.tenant_id,
        reason: m.reason,
        reference: m.reference,
        metadata,
        idempotency_key: m.idempotency_key,
        fingerprint,
    };
    TransferSpec::validate(header, &legs).map_err(request_names)
}

fn request_names(err: DomainError) -> DomainError {
    match err {
        DomainError::Invalid(mut violations) => {
            for v in &mut violations {
                if let Some(field) = v.field.strip_prefix("legs[0].") {
                    v.field = field.to_string();
                }
            }
            DomainError::Invalid(violations)
        }
        other => other,
    }
}

pub fn transfer(req: &pb::TransferRequest) -> Result<TransferSpec, DomainError> {
    let legs: Vec<RawLeg<'_>> = req
        .legs
        .iter()
        .map(|l| RawLeg {
            currency: &l.currency,
            debit: &l.debit_account,
            credit: &l.credit_account,
            amount: l.amount,
        })
        .collect();
    let metadata = metadata_text(&req.metadata);
    let mut fingerprint = Fields::new("Transfer").field("legs", req.legs.len().to_string());
    for (i, l) in req.legs.iter().enumerate() {
        fingerprint = fingerprint
            .field(&format!("legs[{i}].currency"), &l.currency)
            .field(&format!("legs[{i}].debit_account"), &l.debit_account)
            .field(&format!("legs[{i}].credit_account"), &l.credit_account)
            .field(&format!("legs[{i}].amount"), l.amount.to_string());
    }
    let fingerprint = fingerprint
        .field("reason", &req.reason)
        .field("reference", &req.reference)
        .field("metadata", &metadata)
        .finish();
    TransferSpec::validate(
        Header {
            tenant_id: &req.tenant_id,
            reason: &req.reason,
            reference: &req.reference,
            metadata,
            idempotency_key: &req.idempotency_key,
            fingerprint,
        },
        &legs,
    )
}

pub fn reversal(req: &pb::ReverseTransferRequest) -> Result<ReversalSpec, DomainError> {
    let fingerprint = Fields::new("ReverseTransfer")
        .field("transfer_id", &req.transfer_id)
        .field("amount", req.amount.to_string())
        .field("reason", &req.reason)
        .finish();
    ReversalSpec::validate(
        plain_header(
            &req.tenant_id,
            &req.reason,
            &req.idempotency_key,
            fingerprint,
        ),
        &req.transfer_id,
        req.amount,
    )
}

pub fn hold(req: &pb::CreateHoldRequest) -> Result<HoldSpec, DomainError> {
    let fingerprint = Fields::new("CreateHold")
        .field("member_id", &req.member_id)
        .field("currency", &req.currency)
        .field("amount", req.amount.to_string())
        .field("reason", &req.reason)
        .field("ttl_seconds", req.ttl_seconds.to_string())
        .finish();
    HoldSpec::validate(
        plain_header(
            &req.tenant_id,
            &req.reason,
            &req.idempotency_key,
            fingerprint,
        ),
        &req.member_id,
        &req.currency,
        req.amount,
        req.ttl_seconds,
    )
}

/// The header of a write that carries no reference nor metadata.
fn plain_header<'a>(
    tenant_id: &'a str,
    reason: &'a str,
    idempotency_key: &'a str,
    fingerprint: String,
) -> Header<'a> {
    Header {
        tenant_id,
        reason,
        reference: "",
        metadata: String::new(),
        idempotency_key,
        fingerprint,
    }
}

/// The account a request names by tenant, currency and name, checked.
pub fn account_key(tenant_id: &str, currency: &str, name: &str) -> Result<AccountKey, DomainError> {
    let mut v = Violations::new();
    v.id("tenant_id", tenant_id).id("currency", currency);
    let owner = Owner::checked(&mut v, "name", name);
    v.finish()?;
    let owner = owner.ok_or_else(|| DomainError::internal("a refused name passed the checks"))?;
    Ok(AccountKey::new(tenant_id, currency, owner))
}

pub fn hold_ref(tenant_id: &str, hold_id: &str) -> Result<(), DomainError> {
    Violations::new()
        .id("tenant_id", tenant_id)
        .id("hold_id", hold_id)
        .finish()
}

/// The commit's amount: 0 means all of the hold.
pub fn commit_amount(amount: i64) -> Result<Option<i64>, DomainError> {
    match amount {
        0 => Ok(None),
        a if a > 0 => Ok(Some(a)),
        _ => Err(DomainError::invalid(
            "amount",
            "must be positive, or 0 for all of the hold",
        )),
    }
}

/// A transfer named by its id or by its idempotency key.
pub fn transfer_lookup(req: &pb::GetTransferRequest) -> Result<TransferLookup<'_>, DomainError> {
    match &req.lookup {
        Some(Lookup::TransferId(id)) => {
            Violations::new()
                .id("tenant_id", &req.tenant_id)
                .id("transfer_id", id)
                .finish()?;
            Ok(TransferLookup::Id(id))
        }
        Some(Lookup::IdempotencyKey(key)) => {
            Violations::new()
                .id("tenant_id", &req.tenant_id)
                .text("idempotency_key", key)
                .finish()?;
            Ok(TransferLookup::Key(key))
        }
        None => Err(DomainError::invalid(
            "lookup",
            "give transfer_id or idempotency_key",
        )),
    }
}

/// Which of an account's entries to list.
pub fn entry_filter(req: &pb::ListAccountEntriesRequest) -> Result<EntryFilter, DomainError> {
    Ok(EntryFilter {
        since: req.since.as_ref().map(from_timestamp),
        until: req.until.as_ref().map(from_timestamp),
        counterparty: match req.counterparty.as_str() {
            "" => None,
            name => Some(Owner::parse("counterparty", name)?),
        },
    })
}

/// The member's ids checked, and how many days ahead points count as expiring.
pub fn expiring_within_days(req: &pb::GetBalancesRequest) -> Result<i64, DomainError> {
    Violations::new()
        .id("tenant_id", &req.tenant_id)
        .id("member_id", &req.member_id)
        .check(
            (0..=3660).contains(&req.expiring_within_days),
            "expiring_within_days",
            "must be 0 to 3660",
        )
        .finish()?;
    Ok(i64::from(req.expiring_within_days))
}

/// The one currency asked for, if any (empty: every currency).
pub fn totals_currency(req: &pb::GetProgrammeTotalsRequest) -> Result<Option<&str>, DomainError> {
    let mut v = Violations::new();
    v.id("tenant_id", &req.tenant_id);
    if !req.currency.is_empty() {
        v.id("currency", &req.currency);
    }
    v.finish()?;
    Ok((!req.currency.is_empty()).then_some(req.currency.as_str()))
}

/// The currency a `CreateCurrency` defines, validated.
pub fn currency(req: &pb::CreateCurrencyRequest) -> Result<CurrencySpec, DomainError> {
    let expiry = match req.expiry_policy.as_ref().and_then(|p| p.rule.as_ref()) {
        None | Some(Rule::Never(_)) => ExpiryPolicy::Never,
        Some(Rule::DaysAfterEarn(days)) => ExpiryPolicy::DaysAfterEarn(i64::from(*days)),
        Some(Rule::EndOfPeriod(end)) => ExpiryPolicy::EndOfPeriod {
            period: period(end.period)?,
            after: i64::from(end.periods_after),
        },
    };
    let mut spec = CurrencySpec::validate(
        &req.tenant_id,
        &req.code,
        &req.name,
        expiry,
        &req.time_zone,
        req.decimal_places,
    )?;
    spec.reversals_may_overdraw = req.reversals_may_overdraw;
    Ok(spec)
}

fn period(value: i32) -> Result<Period, DomainError> {
    match pb::Period::try_from(value) {
        Ok(pb::Period::Month) => Ok(Period::Month),
        Ok(pb::Period::Quarter) => Ok(Period::Quarter),
        Ok(pb::Period::Year) => Ok(Period::Year),
        _ => Err(DomainError::invalid(
            "expiry_policy.end_of_period.period",
            "must be PERIOD_MONTH, PERIOD_QUARTER or PERIOD_YEAR",
        )),
    }
}
