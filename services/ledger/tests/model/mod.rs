//! The in-memory model: wallets with lots, holds and transfers, following
//! the rules the ledger documents, written as plainly as possible.

use questline_kit::DomainError;
use questline_kit::fingerprint::Fields;
use questline_ledger::domain::Owner;
use questline_ledger::domain::book::{AccountKey, Command, Transfer};
use questline_ledger::domain::hold::HoldStatus;
use questline_ledger::domain::requests::{Header, HoldSpec, RawLeg, ReversalSpec, TransferSpec};
use questline_ledger::store::{Store, TransferLookup};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub const MEMBERS: usize = 2;
pub const CURRENCY: &str = "pts";
pub const EXPIRY_DAYS: i64 = 2;
const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
const HOLD_TTL_SECONDS: i64 = 86_400;

#[derive(Debug, Clone)]
pub enum Op {
    Credit(usize, i64),
    Debit(usize, i64),
    /// From a member to the one `k` places on.
    Gift(usize, usize, i64),
    /// Two legs from one member: `a` to redemption, `b` to the next member.
    Split(usize, i64, i64),
    Hold(usize, i64),
    Commit(usize, Option<i64>),
    Void(usize),
    /// Sent twice at once, like a replay (below).
    Reverse(usize, Option<i64>),
    /// The request of an earlier transfer again, or (`true`) another under
    /// its key; sent twice at once, as a retry overtaking its first try.
    Replay(usize, bool),
    /// Hours.
    Advance(i64),
    Sweep,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Wallet(usize),
    System,
}

#[derive(Debug, Clone)]
struct Lot {
    transfer: usize,
    expires_at: i64,
    remaining: i64,
}

#[derive(Debug, Default, Clone)]
struct Wallet {
    balance: i64,
    held: i64,
    lots: Vec<Lot>,
}

struct ModelHold {
    id: String,
    member: usize,
    amount: i64,
    status: HoldStatus,
    expires_at: i64,
    committed: i64,
}

struct ModelTransfer {
    legs: Vec<(Side, Side, i64)>,
    reversed: Vec<i64>,
    is_reversal: bool,
    /// The request, when a caller made it (replayable).
    command: Option<Command>,
    first: Transfer,
}

pub struct Model {
    tenant: String,
    now: i64,
    wallets: Vec<Wallet>,
    holds: Vec<ModelHold>,
    transfers: Vec<ModelTransfer>,
    keys: usize,
}

type Outcome = Result<(), String>;

impl Model {
    pub fn new(tenant: String, now: i64) -> Model {
        Model {
            tenant,
            now,
            wallets: vec![Wallet::default(); MEMBERS],
            holds: Vec::new(),
            transfers: Vec::new(),
            keys: 0,
        }
    }

    /// Runs `op` on the store and the model, then compares them.
    pub async fn step(&mut self, store: &Store, clock: &Arc<AtomicI64>, op: &Op) -> Outcome {
        match op.clone() {
            Op::Credit(m, a) => {
                self.transfer(store, vec![(Side::System, Side::Wallet(m), a)])
                    .await?
            }
            Op::Debit(m, a) => {
                self.transfer(store, vec![(Side::Wallet(m), Side::System, a)])
                    .await?
            }
            Op::Gift(m, k, a) => {
                let to = (m + k) % MEMBERS;
                self.transfer(store, vec![(Side::Wallet(m), Side::Wallet(to), a)])
                    .await?
            }
            Op::Split(m, a, b) => {
                let to = (m + 1) % MEMBERS;
                let legs = vec![
                    (Side::Wallet(m), Side::System, a),
                    (Side::Wallet(m), Side::Wallet(to), b),
                ];
                self.transfer(store, legs).await?
            }
            Op::Hold(m, a) => self.hold(store, m, a).await?,
            Op::Commit(h, part) => self.commit(store, h, part).await?,
            Op::Void(h) => self.void(store, h).await?,
            Op::Reverse(t, part) => self.reverse(store, t, part).await?,
            Op::Replay(t, tamper) => self.replay(store, t, tamper).await?,
            Op::Advance(hours) => {
                self.now += hours * HOUR + 1;
                clock.store(self.now, Ordering::SeqCst);
            }
            Op::Sweep => {
                store.sweep_due().await.map_err(|e| e.to_string())?;
                for m in 0..MEMBERS {
                    self.sweep(m);
                }
            }
        }
        self.compare(store).await
    }

    fn key(&mut self) -> String {
        self.keys += 1;
        format!("k{}", self.keys)
    }

    // The model's rules.

    /// Releases the member's lapsed holds, then expires due lots not held.
    fn sweep(&mut self, m: usize) {
        for h in &mut self.holds {
            if h.member == m && h.status == HoldStatus::Pending && h.expires_at <= self.now {
                h.status = HoldStatus::Expired;
                self.wallets[m].held -= h.amount;
            }
        }
        let w = &self.wallets[m];
        let due: i64 = w
            .lots
            .iter()
            .filter(|l| l.expires_at <= self.now)
            .map(|l| l.remaining)
            .sum();
        let expire = due.min(w.balance - w.held);
        if expire > 0 {
            self.wallets[m].balance -= expire;
            draw(&mut self.wallets[m].lots, expire, None);
        }
    }

    /// Whether the legs can move, each against what the earlier ones leave.
    fn covers(&self, legs: &[(Side, Side, i64)]) -> Option<&'static str> {
        let mut moved = [0i64; MEMBERS];
        for &(from, to, amount) in legs {
            if let Side::Wallet(m) = from {
                moved[m] -= amount;
                let w = &self.wallets[m];
                if w.balance - w.held + moved[m] < 0 {
                    return Some("short");
                }
            }
            if let Side::Wallet(m) = to {
                moved[m] += amount;
            }
        }
        None
    }

    /// Moves checked legs; returns the model transfer's index.
    fn post(&mut self, legs: Vec<(Side, Side, i64)>, prefer: Option<&Preferred>) -> usize {
        let index = self.transfers.len();
        for &(from, to, amount) in &legs {
            let pieces = match from {
                Side::Wallet(m) => {
                    self.wallets[m].balance -= amount;
                    draw(&mut self.wallets[m].lots, amount, prefer)
                }
                Side::System => vec![(earned_expiry(self.now), amount)],
            };
            if let Side::Wallet(m) = to {
                self.wallets[m].balance += amount;
                let lots = &mut self.wallets[m].lots;
                for (expires_at, amount) in pieces {
                    // Points join the wallet's open lot of the same expiry.
                    match lots
                        .iter_mut()
                        .find(|l| l.expires_at == expires_at && l.remaining > 0)
                    {
                        Some(lot) => lot.remaining += amount,
                        None => lots.push(Lot {
                            transfer: index,
                            expires_at,
                            remaining: amount,
                        }),
                    }
                }
                lots.sort_by_key(|l| l.expires_at);
            }
        }
        index
    }

    fn drawn(legs: &[(Side, Side, i64)]) -> Vec<usize> {
        legs.iter()
            .filter_map(|(from, _, _)| match from {
                Side::Wallet(m) => Some(*m),
                Side::System => None,
            })
            .collect()
    }

    // Each operation on both sides.

    async fn transfer(&mut self, store: &Store, legs: Vec<(Side, Side, i64)>) -> Outcome {
        let key = self.key();
        let command = transfer_command(&self.tenant, &key, &legs);
        let answer = store.transfer(command.clone()).await;
        for m in Self::drawn(&legs) {
            self.sweep(m);
        }
        match self.covers(&legs) {
            Some(_) => expect_refusal(answer, "INSUFFICIENT_FUNDS"),
            None => {
                let first = answer.map_err(|e| format!("expected a transfer, got {e:?}"))?;
                let index = self.post(legs.clone(), None);
                self.transfers.push(ModelTransfer {
                    reversed: vec![0; legs.len()],
                    legs,
                    is_reversal: false,
                    command: Some(command),
                    first,
                });
                debug_assert_eq!(index + 1, self.transfers.len());
                Ok(())
            }
        }
    }

    async fn hold(&mut self, store: &Store, m: usize, amount: i64) -> Outcome {
        let key = self.key();
        let spec = HoldSpec::validate(
            header(&self.tenant, &key, format!("hold {m} {amount}")),
            &member(m),
            CURRENCY,
            amount,
            HOLD_TTL_SECONDS,
        )
        .map_err(|e| e.to_string())?;
        let answer = store.hold_command(Command::CreateHold(spec)).await;
        self.sweep(m);
        let w = &self.wallets[m];
        if w.balance - w.held < amount {
            return expect_refusal(answer, "INSUFFICIENT_FUNDS");
        }
        let hold = answer.map_err(|e| format!("expected a hold, got {e:?}"))?;
        self.wallets[m].held += amount;
        self.holds.push(ModelHold {
            id: hold.hold_id,
            member: m,
            amount,
            status: HoldStatus::Pending,
            expires_at: self.now + HOLD_TTL_SECONDS * 1000,
            committed: 0,
        });
        Ok(())
    }

    async fn commit(&mut self, store: &Store, h: usize, part: Option<i64>) -> Outcome {
        if self.holds.is_empty() {
            return Ok(());
        }
        let h = h % self.holds.len();
        let command = Command::CommitHold {
            tenant_id: self.tenant.clone(),
            hold_id: self.holds[h].id.clone(),
            amount: part,
        };
        let answer = store.hold_command(command).await;
        self.sweep(self.holds[h].member);
        let hold = &self.holds[h];
        let refusal = match hold.status {
            HoldStatus::Pending if part.is_some_and(|p| p > hold.amount) => {
                Some("HOLD_AMOUNT_EXCEEDED")
            }
            HoldStatus::Pending => None,
            HoldStatus::Committed if part.is_none_or(|p| p == hold.committed) => {
                return answer
                    .map(drop)
                    .map_err(|e| format!("a repeated commit failed: {e:?}"));
            }
            HoldStatus::Committed | HoldStatus::Voided => Some("HOLD_NOT_PENDING"),
            HoldStatus::Expired => Some("HOLD_EXPIRED"),
        };
        if let Some(kind) = refusal {
            return expect_refusal(answer, kind);
        }
        let stored = answer.map_err(|e| format!("expected a commit, got {e:?}"))?;
        let (m, amount) = (hold.member, hold.amount);
        let spend = part.unwrap_or(amount);
        self.wallets[m].held -= amount;
        let legs = vec![(Side::Wallet(m), Side::System, spend)];
        self.post(legs.clone(), None);
        let first = store
            .find_transfer(
                &self.tenant,
                TransferLookup::Id(stored.transfer_id.as_deref().unwrap_or_default()),
            )
            .await
            .map_err(|e| e.to_string())?
            .0;
        self.transfers.push(ModelTransfer {
            reversed: vec![0],
            legs,
            is_reversal: false,
            command: None,
            first,
        });
        let hold = &mut self.holds[h];
        hold.status = HoldStatus::Committed;
        hold.committed = spend;
        Ok(())
    }

    async fn void(&mut self, store: &Store, h: usize) -> Outcome {
        if self.holds.is_empty() {
            return Ok(());
        }
        let h = h % self.holds.len();
        let command = Command::VoidHold {
            tenant_id: self.tenant.clone(),
            hold_id: self.holds[h].id.clone(),
        };
        let answer = store.hold_command(command).await;
        self.sweep(self.holds[h].member);
        let hold = &mut self.holds[h];
        match hold.status {
            HoldStatus::Committed => expect_refusal(answer, "HOLD_NOT_PENDING"),
            HoldStatus::Pending => {
                hold.status = HoldStatus::Voided;
                self.wallets[hold.member].held -= hold.amount;
                answer
                    .map(drop)
                    .map_err(|e| format!("expected a void, got {e:?}"))
            }
            _ => answer
                .map(drop)
                .map_err(|e| format!("a repeated void failed: {e:?}")),
        }
    }

    async fn reverse(&mut self, store: &Store, t: usize, part: Option<i64>) -> Outcome {
        if self.transfers.is_empty() {
            return Ok(());
        }
        let t = t % self.transfers.len();
        let key = self.key();
        let original = &self.transfers[t];
        let spec = ReversalSpec::validate(
            header(&self.tenant, &key, format!("reverse {t} {part:?}")),
            &original.first.transfer_id,
            part.unwrap_or(0),
        )
        .map_err(|e| e.to_string())?;
        let answer = twice(store, Command::Reverse(spec)).await?;
        let back: Vec<(Side, Side, i64)> =
            original.legs.iter().map(|&(f, to, a)| (to, f, a)).collect();
        for m in Self::drawn(&back) {
            self.sweep(m);
        }
        let original = &self.transfers[t];
        if original.is_reversal {
            return expect_refusal(answer, "NOTHING_TO_REVERSE");
        }
        let remaining: Vec<i64> = original
            .legs
            .iter()
            .zip(&original.reversed)
            .map(|(l, r)| l.2 - r)
            .collect();
        let amounts = match part {
            Some(_) if original.legs.len() > 1 => return expect_refusal(answer, "INVALID"),
            Some(p) if p > remaining[0] => return expect_refusal(answer, "REVERSAL_TOO_LARGE"),
            Some(p) => vec![p],
            None => remaining,
        };
        if amounts.iter().all(|&a| a == 0) {
            return expect_refusal(answer, "NOTHING_TO_REVERSE");
        }
        let legs: Vec<(Side, Side, i64)> = back
            .iter()
            .zip(&amounts)
            .filter(|(_, a)| **a > 0)
            .map(|(l, a)| (l.0, l.1, *a))
            .collect();
        if self.covers(&legs).is_some() {
            return expect_refusal(answer, "POINTS_ALREADY_SPENT");
        }
        let first = answer.map_err(|e| format!("expected a reversal, got {e:?}"))?;
        let prefer = Preferred {
            transfer: t,
            expiries: original
                .legs
                .iter()
                .filter(|(from, to, _)| *from == Side::System && matches!(to, Side::Wallet(_)))
                .map(|_| earned_expiry(original.first.created_at))
                .collect(),
        };
        self.post(legs.clone(), Some(&prefer));
        for (done, a) in self.transfers[t].reversed.iter_mut().zip(&amounts) {
            *done += a;
        }
        self.transfers.push(ModelTransfer {
            reversed: vec![0; legs.len()],
            legs,
            is_reversal: true,
            command: None,
            first,
        });
        Ok(())
    }

    async fn replay(&mut self, store: &Store, t: usize, tamper: bool) -> Outcome {
        let replayable: Vec<usize> = (0..self.transfers.len())
            .filter(|&i| self.transfers[i].command.is_some())
            .collect();
        if replayable.is_empty() {
            return Ok(());
        }
        let t = replayable[t % replayable.len()];
        let Some(Command::Transfer(mut spec)) = self.transfers[t].command.clone() else {
            return Err("a replayable transfer without its request".into());
        };
        if tamper {
            spec.legs[0].amount += 1;
            spec.fingerprint = fingerprint(&spec.legs.iter().map(|l| l.amount).collect::<Vec<_>>());
        }
        let answer = twice(store, Command::Transfer(spec)).await?;
        for m in Self::drawn(&self.transfers[t].legs) {
            self.sweep(m);
        }
        if tamper {
            return expect_refusal(answer, "KEY_REUSED");
        }
        let again = answer.map_err(|e| format!("a replay failed: {e:?}"))?;
        if again != self.transfers[t].first {
            return Err(format!(
                "a replay answered {again:?}, not {:?}",
                self.transfers[t].first
            ));
        }
        Ok(())
    }

    // Comparing.

    async fn compare(&self, store: &Store) -> Outcome {
        let mut outstanding = 0;
        for (m, w) in self.wallets.iter().enumerate() {
            let wallet = AccountKey::new(&self.tenant, CURRENCY, Owner::Member(member(m)));
            let stored = match store.account(&wallet).await {
                Ok(a) => (a.balance, a.held),
                Err(DomainError::NotFound(_)) => (0, 0),
                Err(e) => return Err(e.to_string()),
            };
            if stored != (w.balance, w.held) {
                return Err(format!(
                    "member {m}: store has {stored:?}, model {:?}",
                    (w.balance, w.held)
                ));
            }
            if w.balance < 0 || w.held > w.balance || w.held < 0 {
                return Err(format!("member {m} broke a rule: {w:?}"));
            }
            outstanding += w.balance;
        }
        for h in &self.holds {
            let stored = store
                .hold(&self.tenant, &h.id)
                .await
                .map_err(|e| e.to_string())?;
            if (stored.status, stored.committed_amount) != (h.status, h.committed) {
                return Err(format!(
                    "hold {}: store {:?}, model {:?}",
                    h.id, stored.status, h.status
                ));
            }
        }
        let totals = store
            .totals(&self.tenant, Some(CURRENCY))
            .await
            .map_err(|e| e.to_string())?;
        let t = &totals[0];
        if t.outstanding != outstanding
            || t.issued - t.burned - t.expired + t.adjusted != t.outstanding + t.partners
        {
            return Err(format!(
                "the books do not balance: {t:?}, model outstanding {outstanding}"
            ));
        }
        Ok(())
    }

    /// Every transfer reads as first answered, with its reversals counted.
    pub async fn transfers_unchanged(&self, store: &Store) -> Outcome {
        for t in &self.transfers {
            let (stored, reversed) = store
                .find_transfer(&self.tenant, TransferLookup::Id(&t.first.transfer_id))
                .await
                .map_err(|e| e.to_string())?;
            if stored != t.first || reversed != t.reversed {
                return Err(format!(
                    "transfer changed: {stored:?} {reversed:?}, first {:?} {:?}",
                    t.first, t.reversed
                ));
            }
        }
        Ok(())
    }
}

/// When points earned at `at` expire: the end of the `EXPIRY_DAYS`th day
/// after (UTC, the test currency's zone).
fn earned_expiry(at: i64) -> i64 {
    (at.div_euclid(DAY) + 1 + EXPIRY_DAYS) * DAY
}

/// What a reversal takes first: the lots its original opened, and those of
/// the expiry its earns gave.
struct Preferred {
    transfer: usize,
    expiries: Vec<i64>,
}

/// Takes `amount` from lots, `prefer`red first, then soonest expiry first.
fn draw(lots: &mut [Lot], amount: i64, prefer: Option<&Preferred>) -> Vec<(i64, i64)> {
    let preferred = |l: &Lot| {
        prefer.is_some_and(|p| l.transfer == p.transfer || p.expiries.contains(&l.expires_at))
    };
    let mut order: Vec<usize> = (0..lots.len()).collect();
    order.sort_by_key(|&i| (!preferred(&lots[i]), lots[i].expires_at));
    let mut left = amount;
    let mut pieces = Vec::new();
    for i in order {
        let take = lots[i].remaining.min(left);
        if take > 0 {
            lots[i].remaining -= take;
            left -= take;
            pieces.push((lots[i].expires_at, take));
        }
    }
    pieces
}

fn member(m: usize) -> String {
    format!("m{m}")
}

fn account(side: Side) -> String {
    match side {
        Side::Wallet(m) => format!("member:{}", member(m)),
        Side::System => "system:redemption".into(),
    }
}

fn fingerprint(amounts: &[i64]) -> String {
    Fields::new("Transfer")
        .field("amounts", format!("{amounts:?}"))
        .finish()
}

fn header<'a>(tenant: &'a str, key: &'a str, print: String) -> Header<'a> {
    Header {
        tenant_id: tenant,
        reason: "model",
        reference: "",
        metadata: String::new(),
        idempotency_key: key,
        fingerprint: Fields::new("op").field("op", print).finish(),
    }
}

fn transfer_command(tenant: &str, key: &str, legs: &[(Side, Side, i64)]) -> Command {
    let names: Vec<(String, String)> = legs
        .iter()
        .map(|&(from, to, _)| match (from, to) {
            (Side::System, to) => ("system:issuance".into(), account(to)),
            (from, to) => (account(from), account(to)),
        })
        .collect();
    let raw: Vec<RawLeg<'_>> = legs
        .iter()
        .zip(&names)
        .map(|(l, (debit, credit))| RawLeg {
            currency: CURRENCY,
            debit,
            credit,
            amount: l.2,
        })
        .collect();
    let amounts: Vec<i64> = legs.iter().map(|l| l.2).collect();
    let mut h = header(tenant, key, String::new());
    h.fingerprint = fingerprint(&amounts);
    Command::Transfer(TransferSpec::validate(h, &raw).expect("the model makes valid transfers"))
}

/// Sends `command` twice at once, as a client whose retry overtakes its
/// first try: both usually land in one batch. The two must be answered
/// alike; the ledger applies the command once.
async fn twice(store: &Store, command: Command) -> Result<Result<Transfer, DomainError>, String> {
    let (first, twin) = tokio::join!(store.transfer(command.clone()), store.transfer(command));
    if format!("{first:?}") != format!("{twin:?}") {
        return Err(format!(
            "one request answered twice differently: {first:?} and {twin:?}"
        ));
    }
    Ok(first)
}

fn expect_refusal<T: std::fmt::Debug>(answer: Result<T, DomainError>, kind: &str) -> Outcome {
    let got = match &answer {
        Err(DomainError::FailedPrecondition { kind, .. }) => *kind,
        Err(DomainError::Invalid(_)) => "INVALID",
        Err(DomainError::KeyReused { .. }) => "KEY_REUSED",
        Err(DomainError::NotFound(_)) => "NOT_FOUND",
        _ => "",
    };
    if got == kind {
        Ok(())
    } else {
        Err(format!("expected {kind}, got {answer:?}"))
    }
}
