//! Requests to validated commands, with their field-by-field fingerprints.

use questline_kit::fingerprint::Fields;
use questline_kit::structs;
use questline_kit::{DomainError, Violations};
use questline_proto::ledger as pb;

use crate::domain::Owner;
use crate::domain::requests::{Header, HoldSpec, RawLeg, ReversalSpec, TransferSpec};

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
        Header {
            tenant_id: &req.tenant_id,
            reason: &req.reason,
            reference: "",
            metadata: String::new(),
            idempotency_key: &req.idempotency_key,
            fingerprint,
        },
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
        Header {
            tenant_id: &req.tenant_id,
            reason: &req.reason,
            reference: "",
            metadata: String::new(),
            idempotency_key: &req.idempotency_key,
            fingerprint,
        },
        &req.member_id,
        &req.currency,
        req.amount,
        req.ttl_seconds,
    )
}

/// `(tenant, currency, account)` named by a request, checked.
pub fn account_ref(
    tenant_id: &str,
    currency: &str,
    name: &str,
) -> Result<(String, String, Owner), DomainError> {
    let mut v = Violations::new();
    v.id("tenant_id", tenant_id).id("currency", currency);
    let owner = Owner::checked(&mut v, "name", name);
    v.finish()?;
    let owner = owner.ok_or_else(|| DomainError::internal("a refused name passed the checks"))?;
    Ok((tenant_id.into(), currency.into(), owner))
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
