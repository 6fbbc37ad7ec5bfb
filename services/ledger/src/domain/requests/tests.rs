//! Requests refused before they reach the book: every bad field named,
//! amounts bounded, reserved keys kept for the ledger.

use super::*;

fn header<'a>(key: &'a str) -> Header<'a> {
    Header {
        tenant_id: "acme",
        reason: "",
        reference: "",
        metadata: String::new(),
        idempotency_key: key,
        fingerprint: String::new(),
    }
}

fn legs(amounts: &[i64]) -> Result<TransferSpec, DomainError> {
    let raw: Vec<RawLeg<'_>> = amounts
        .iter()
        .map(|&amount| RawLeg {
            currency: "stars",
            debit: "system:issuance",
            credit: "member:m1",
            amount,
        })
        .collect();
    TransferSpec::validate(header("k"), &raw)
}

fn fields(err: DomainError) -> Vec<String> {
    match err {
        DomainError::Invalid(v) => v.into_iter().map(|v| v.field).collect(),
        other => panic!("expected INVALID_ARGUMENT, got {other:?}"),
    }
}

#[test]
fn amounts_must_be_positive_and_bounded() {
    assert_eq!(fields(legs(&[0]).unwrap_err()), ["legs[0].amount"]);
    assert_eq!(fields(legs(&[-5]).unwrap_err()), ["legs[0].amount"]);
    assert_eq!(
        fields(legs(&[MAX_AMOUNT + 1]).unwrap_err()),
        ["legs[0].amount"]
    );
    assert!(legs(&[5, MAX_AMOUNT]).is_ok());
}

#[test]
fn an_overflowing_multi_leg_sum_is_refused() {
    let err = legs(&[i64::MAX, i64::MAX]).unwrap_err();
    let named = fields(err);
    assert!(named.contains(&"legs[0].amount".to_string()));
    assert!(named.contains(&"legs[1].amount".to_string()));
}

#[test]
fn legs_are_counted_and_named() {
    assert_eq!(fields(legs(&[]).unwrap_err()), ["legs"]);
    assert!(legs(&[1; MAX_LEGS]).is_ok());
    assert_eq!(fields(legs(&[1; MAX_LEGS + 1]).unwrap_err()), ["legs"]);
    let raw = [RawLeg {
        currency: "stars",
        debit: "member:m1",
        credit: "member:m1",
        amount: 1,
    }];
    let err = TransferSpec::validate(header("k"), &raw).unwrap_err();
    assert_eq!(fields(err), ["legs[0].credit_account"]);
    let raw = [RawLeg {
        currency: "",
        debit: "bank:x",
        credit: "member:m1",
        amount: 1,
    }];
    let err = TransferSpec::validate(header("k"), &raw).unwrap_err();
    assert_eq!(fields(err), ["legs[0].currency", "legs[0].debit_account"]);
}

#[test]
fn every_write_needs_a_key_outside_the_reserved_ones() {
    let raw = [RawLeg {
        currency: "stars",
        debit: "system:issuance",
        credit: "member:m1",
        amount: 1,
    }];
    for bad in ["", "hold:01a2", "expiry:x", "k\u{0}"] {
        let err = TransferSpec::validate(header(bad), &raw).unwrap_err();
        assert_eq!(fields(err), ["idempotency_key"], "{bad:?}");
    }
    assert!(TransferSpec::validate(header("order-hold:1"), &raw).is_ok());
}

#[test]
fn a_hold_has_a_default_lifetime_and_bounds() {
    let hold = |ttl| HoldSpec::validate(header("k"), "m1", "stars", 5, ttl);
    assert_eq!(hold(0).unwrap().ttl_seconds, DEFAULT_HOLD_TTL_SECONDS);
    assert_eq!(fields(hold(-1).unwrap_err()), ["ttl_seconds"]);
    assert!(hold(MAX_HOLD_TTL_SECONDS + 1).is_err());
}

#[test]
fn a_reversal_amount_of_zero_means_all() {
    let all = ReversalSpec::validate(header("r"), "t1", 0).unwrap();
    assert_eq!(all.amount, None);
    assert_eq!(
        fields(ReversalSpec::validate(header("r"), "t1", -1).unwrap_err()),
        ["amount"]
    );
}
