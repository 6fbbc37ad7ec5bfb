//! What the load is made of: seeded wallets, then a mix of credits,
//! wallet-to-wallet transfers and debits, each a ledger `Command` with its
//! own idempotency key.

use questline_kit::DomainError;
use questline_kit::fingerprint::Fields;
use questline_ledger::domain::book::Command;
use questline_ledger::domain::requests::{Header, RawLeg, TransferSpec};
use questline_ledger::store::Store;

pub const CURRENCY: &str = "pts";
const ISSUANCE: &str = "system:issuance";
const REDEMPTION: &str = "system:redemption";
/// What every wallet starts with.
pub const SEED_AMOUNT: i64 = 1_000;
const MAX_AMOUNT: u64 = 100;

/// One request of the mix.
#[derive(Debug, Clone, Copy)]
pub enum Op {
    /// system:issuance → wallet (60%).
    Credit { to: usize, amount: i64 },
    /// wallet → wallet (25%).
    Move { from: usize, to: usize, amount: i64 },
    /// wallet → system:redemption (15%).
    Debit { from: usize, amount: i64 },
}

/// How a request ended.
#[derive(Debug)]
pub enum Outcome {
    Done,
    /// INSUFFICIENT_FUNDS: a correct answer, counted as completed.
    Refused,
    Failed(DomainError),
}

/// splitmix64: small, fast and good enough to pick wallets.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0; the bias is negligible for our sizes).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn amount(&mut self) -> i64 {
        (1 + self.next() % MAX_AMOUNT) as i64
    }

    /// The next request of the mix over `wallets` wallets (at least 2).
    pub fn op(&mut self, wallets: usize) -> Op {
        let roll = self.below(100);
        let a = self.below(wallets);
        let amount = self.amount();
        if roll < 60 {
            Op::Credit { to: a, amount }
        } else if roll < 85 {
            let b = (a + 1 + self.below(wallets - 1)) % wallets;
            Op::Move {
                from: a,
                to: b,
                amount,
            }
        } else {
            Op::Debit { from: a, amount }
        }
    }
}

fn wallet(i: usize) -> String {
    format!("member:w{i}")
}

/// The ledger command for `op` under the idempotency key `key`.
pub fn command(tenant: &str, key: &str, op: Op) -> Result<Command, DomainError> {
    let (debit, credit, amount) = match op {
        Op::Credit { to, amount } => (ISSUANCE.to_string(), wallet(to), amount),
        Op::Move { from, to, amount } => (wallet(from), wallet(to), amount),
        Op::Debit { from, amount } => (wallet(from), REDEMPTION.to_string(), amount),
    };
    let header = Header {
        tenant_id: tenant,
        reason: "bench",
        reference: "",
        metadata: String::new(),
        idempotency_key: key,
        fingerprint: Fields::new("Transfer").field("n", key).finish(),
    };
    let leg = RawLeg {
        currency: CURRENCY,
        debit: &debit,
        credit: &credit,
        amount,
    };
    Ok(Command::Transfer(TransferSpec::validate(header, &[leg])?))
}

/// Carries out `op` through the store's group-commit path.
pub async fn issue(store: &Store, tenant: &str, key: &str, op: Op) -> Outcome {
    let command = match command(tenant, key, op) {
        Ok(c) => c,
        Err(err) => return Outcome::Failed(err),
    };
    match store.transfer(command).await {
        Ok(_) => Outcome::Done,
        Err(DomainError::FailedPrecondition {
            kind: "INSUFFICIENT_FUNDS",
            ..
        }) => Outcome::Refused,
        Err(err) => Outcome::Failed(err),
    }
}
