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

/// A credit: issuance → the member's wallet.
pub fn credit(req: &pb::CreditRequest) -> Result<TransferSpec, DomainError> {
    let legs = [RawLeg {
        currency: &req.currency,
        debit: "system:issuance",
        credit: &format!("member:{}", req.member_id),
        amount: req.amount,
    }];
    let metadata = metadata_text(&req.metadata);
    let fingerprint = Fields::new("Credit")
        .field("member_id", &req.member_id)
        .field("currency", &req.currency)
        .field("amount", req.amount.to_string())
        .field("reason", &req.reason)
        .field("reference", &req.reference)
        .field("metadata", &metadata)
        .finish();
    member(&req.member_id)?;
    one_leg(TransferSpec::validate(
        Header {
            tenant_id: &req.tenant_id,
            reason: &req.reason,
            reference: &req.reference,
            metadata,
            idempotency_key: &req.idempotency_key,
            fingerprint,
        },
        &legs,
    ))
}

/// A debit: the member's wallet → redemption.
pub fn debit(req: &pb::DebitRequest) -> Result<TransferSpec, DomainError> {
    let legs = [RawLeg {
        currency: &req.currency,
        debit: &format!("member:{}", req.member_id),
        credit: "system:redemption",
        amount: req.amount,
    }];
    let metadata = metadata_text(&req.metadata);
    let fingerprint = Fields::new("Debit")
        .field("member_id", &req.member_id)
        .field("currency", &req.currency)
        .field("amount", req.amount.to_string())
        .field("reason", &req.reason)
        .field("reference", &req.reference)
        .field("metadata", &metadata)
        .finish();
    member(&req.member_id)?;
    one_leg(TransferSpec::validate(
        Header {
            tenant_id: &req.tenant_id,
            reason: &req.reason,
            reference: &req.reference,
            metadata,
            idempotency_key: &req.idempotency_key,
            fingerprint,
        },
        &legs,
    ))
}

/// Names a one-leg request's fields as the request does (`amount`, not `legs[0].amount`).
fn one_leg(spec: Result<TransferSpec, DomainError>) -> Result<TransferSpec, DomainError> {
    spec.map_err(|err| match err {
        DomainError::Invalid(mut violations) => {
            for v in &mut violations {
                if let Some(field) = v.field.strip_prefix("legs[0].") {
                    v.field = field.to_string();
                }
            }
            DomainError::Invalid(violations)
        }
        other => other,
    })
}

fn member(member_id: &str) -> Result<(), DomainError> {
    Violations::new().id("member_id", member_id).finish()
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
    let owner = Owner::parse("name", name);
    if let Err(DomainError::Invalid(found)) = &owner {
        for f in found {
            v.add(&f.field, f.description.clone());
        }
    }
    v.finish()?;
    Ok((tenant_id.into(), currency.into(), owner?))
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
