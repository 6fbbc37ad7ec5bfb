//! Validated requests: what the book may act on without checking again.

use questline_kit::{DomainError, Violations};

use super::Owner;

/// The largest single leg: keeps every sum far from `i64` overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;
pub const MAX_LEGS: usize = 64;
pub const MAX_METADATA_BYTES: usize = 4096;
/// Keys the ledger makes itself: a hold's commit is `hold:<hold id>`, an
/// expiry `expiry:<id>`. Callers may not use them, so theirs never collide.
pub const RESERVED_KEY_PREFIXES: [&str; 2] = ["hold:", "expiry:"];
pub const DEFAULT_HOLD_TTL_SECONDS: i64 = 300;
pub const MAX_HOLD_TTL_SECONDS: i64 = 86_400;

/// One leg as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegSpec {
    pub currency: String,
    pub debit: Owner,
    pub credit: Owner,
    pub amount: i64,
}

/// A transfer as asked for: a credit, a debit, or any set of legs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferSpec {
    pub tenant_id: String,
    pub legs: Vec<LegSpec>,
    pub reason: String,
    pub reference: String,
    /// JSON text, kept as given.
    pub metadata: String,
    pub idempotency_key: String,
    /// `fingerprint::Fields` of the whole request.
    pub fingerprint: String,
}

/// The legs as given in a request, before validation.
pub struct RawLeg<'a> {
    pub currency: &'a str,
    pub debit: &'a str,
    pub credit: &'a str,
    pub amount: i64,
}

/// What every write shares: who, why, and under which key.
pub struct Header<'a> {
    pub tenant_id: &'a str,
    pub reason: &'a str,
    pub reference: &'a str,
    pub metadata: String,
    pub idempotency_key: &'a str,
    pub fingerprint: String,
}

impl TransferSpec {
    /// The members its legs name, as often as they name them.
    pub fn members(&self) -> impl Iterator<Item = &str> {
        self.legs
            .iter()
            .flat_map(|l| [l.debit.member_id(), l.credit.member_id()])
            .flatten()
    }

    pub fn validate(header: Header<'_>, raw: &[RawLeg<'_>]) -> Result<TransferSpec, DomainError> {
        let mut v = Violations::new();
        v.id("tenant_id", header.tenant_id)
            .optional_text("reason", header.reason)
            .optional_text("reference", header.reference)
            .check(
                header.metadata.len() <= MAX_METADATA_BYTES,
                "metadata",
                "must be at most 4 KiB",
            )
            .check(
                (1..=MAX_LEGS).contains(&raw.len()),
                "legs",
                "must hold 1 to 64 legs",
            );
        key(&mut v, header.idempotency_key);
        let legs: Vec<LegSpec> = raw
            .iter()
            .enumerate()
            .filter_map(|(i, leg)| self::leg(&mut v, i, leg))
            .collect();
        v.check(
            sums_fit(&legs),
            "legs",
            "the amounts of a currency must not sum past 2^63",
        );
        v.finish()?;
        Ok(TransferSpec {
            tenant_id: header.tenant_id.into(),
            legs,
            reason: header.reason.into(),
            reference: header.reference.into(),
            metadata: header.metadata,
            idempotency_key: header.idempotency_key.into(),
            fingerprint: header.fingerprint,
        })
    }
}

fn leg(v: &mut Violations, i: usize, leg: &RawLeg<'_>) -> Option<LegSpec> {
    let field = |name: &str| format!("legs[{i}].{name}");
    v.id(&field("currency"), leg.currency)
        .positive(&field("amount"), leg.amount)
        .check(
            leg.amount <= MAX_AMOUNT,
            &field("amount"),
            "must be at most 10^12",
        );
    let debit = Owner::checked(v, &field("debit_account"), leg.debit);
    let credit = Owner::checked(v, &field("credit_account"), leg.credit);
    let (debit, credit) = (debit?, credit?);
    if debit == credit {
        v.add(
            &field("credit_account"),
            "must differ from the debit account",
        );
        return None;
    }
    Some(LegSpec {
        currency: leg.currency.into(),
        debit,
        credit,
        amount: leg.amount,
    })
}

/// Whether every currency's legs sum inside `i64`.
fn sums_fit(legs: &[LegSpec]) -> bool {
    let mut sums = std::collections::HashMap::<&str, i64>::new();
    legs.iter().all(|l| {
        let sum = sums.entry(l.currency.as_str()).or_default();
        match sum.checked_add(l.amount) {
            Some(s) => {
                *sum = s;
                true
            }
            None => false,
        }
    })
}

fn key(v: &mut Violations, idempotency_key: &str) {
    v.text("idempotency_key", idempotency_key).check(
        !RESERVED_KEY_PREFIXES
            .iter()
            .any(|p| idempotency_key.starts_with(p)),
        "idempotency_key",
        "must not start with a reserved prefix ('hold:', 'expiry:')",
    );
}

/// A hold as asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldSpec {
    pub tenant_id: String,
    pub member_id: String,
    pub currency: String,
    pub amount: i64,
    pub reason: String,
    pub ttl_seconds: i64,
    pub idempotency_key: String,
    pub fingerprint: String,
}

impl HoldSpec {
    pub fn validate(
        header: Header<'_>,
        member_id: &str,
        currency: &str,
        amount: i64,
        ttl_seconds: i64,
    ) -> Result<HoldSpec, DomainError> {
        let mut v = Violations::new();
        v.id("tenant_id", header.tenant_id)
            .id("member_id", member_id)
            .id("currency", currency)
            .positive("amount", amount)
            .check(amount <= MAX_AMOUNT, "amount", "must be at most 10^12")
            .optional_text("reason", header.reason);
        key(&mut v, header.idempotency_key);
        let ttl = hold_ttl(&mut v, ttl_seconds);
        v.finish()?;
        Ok(HoldSpec {
            tenant_id: header.tenant_id.into(),
            member_id: member_id.into(),
            currency: currency.into(),
            amount,
            reason: header.reason.into(),
            ttl_seconds: ttl,
            idempotency_key: header.idempotency_key.into(),
            fingerprint: header.fingerprint,
        })
    }
}

/// The hold's lifetime in seconds: 0 means the default.
fn hold_ttl(v: &mut Violations, ttl_seconds: i64) -> i64 {
    match ttl_seconds {
        0 => DEFAULT_HOLD_TTL_SECONDS,
        t if (1..=MAX_HOLD_TTL_SECONDS).contains(&t) => t,
        _ => {
            v.add(
                "ttl_seconds",
                format!("must be between 1 and {MAX_HOLD_TTL_SECONDS}, or 0 for the default"),
            );
            0
        }
    }
}

/// A reversal as asked for: `amount` `None` means all that remains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReversalSpec {
    pub tenant_id: String,
    pub transfer_id: String,
    pub amount: Option<i64>,
    pub reason: String,
    pub idempotency_key: String,
    pub fingerprint: String,
}

impl ReversalSpec {
    pub fn validate(
        header: Header<'_>,
        transfer_id: &str,
        amount: i64,
    ) -> Result<ReversalSpec, DomainError> {
        let mut v = Violations::new();
        v.id("tenant_id", header.tenant_id)
            .id("transfer_id", transfer_id)
            .check(amount >= 0, "amount", "must not be negative")
            .check(amount <= MAX_AMOUNT, "amount", "must be at most 10^12")
            .optional_text("reason", header.reason);
        key(&mut v, header.idempotency_key);
        v.finish()?;
        Ok(ReversalSpec {
            tenant_id: header.tenant_id.into(),
            transfer_id: transfer_id.into(),
            amount: (amount > 0).then_some(amount),
            reason: header.reason.into(),
            idempotency_key: header.idempotency_key.into(),
            fingerprint: header.fingerprint,
        })
    }
}

#[cfg(test)]
mod tests;
