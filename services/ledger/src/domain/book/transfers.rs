//! Transfers: check every leg, then post them all.

use questline_kit::{DomainError, fingerprint, new_id};
use std::collections::HashMap;

use super::{AccountKey, Book, Leg, Notice, NoticeKind, Transfer};
use crate::domain::lots::{self, Lot, Piece, Preferred};
use crate::domain::requests::TransferSpec;
use crate::domain::{Figures, Owner};

/// What a posting may do to a wallet that cannot cover it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shortfall {
    /// Refuse: INSUFFICIENT_FUNDS.
    Refuse,
    /// A reversal: go negative if the currency allows, else POINTS_ALREADY_SPENT.
    ReversalPolicy,
}

/// A checked transfer, ready to post.
pub(super) struct Posting<'a> {
    pub tenant_id: &'a str,
    pub legs: Vec<Leg>,
    pub reason: &'a str,
    pub reference: &'a str,
    pub metadata: &'a str,
    pub idempotency_key: String,
    pub fingerprint: &'a str,
    pub reverses: Option<&'a str>,
    /// Per leg, when points credited to a wallet from outside expire.
    pub expiries: Vec<Option<i64>>,
}

impl Book {
    pub(super) fn transfer_spec(&mut self, spec: &TransferSpec) -> Result<Transfer, DomainError> {
        if let Some(first) =
            self.replayed(&spec.tenant_id, &spec.idempotency_key, &spec.fingerprint)?
        {
            return Ok(first);
        }
        let legs: Vec<Leg> = spec
            .legs
            .iter()
            .map(|l| Leg {
                currency: l.currency.clone(),
                debit: l.debit.clone(),
                credit: l.credit.clone(),
                amount: l.amount,
                reverses_leg: None,
            })
            .collect();
        let expiries = self.check(&spec.tenant_id, &legs, Shortfall::Refuse)?;
        Ok(self.post(Posting {
            tenant_id: &spec.tenant_id,
            legs,
            reason: &spec.reason,
            reference: &spec.reference,
            metadata: &spec.metadata,
            idempotency_key: spec.idempotency_key.clone(),
            fingerprint: &spec.fingerprint,
            reverses: None,
            expiries,
        }))
    }

    /// The first answer for a reused key, or a refusal naming what differs.
    pub(super) fn replayed(
        &self,
        tenant_id: &str,
        key: &str,
        fingerprint: &str,
    ) -> Result<Option<Transfer>, DomainError> {
        let found = self
            .transfer_keys
            .get(&(tenant_id.to_string(), key.to_string()))
            .and_then(|id| self.transfers.get(id));
        match found {
            Some(first) => {
                fingerprint::same_fields(&first.fingerprint, fingerprint)?;
                Ok(Some(first.clone()))
            }
            None => Ok(None),
        }
    }

    /// Checks the legs in order, each against the balances the earlier ones
    /// leave; returns, per leg, the expiry of points it brings into a wallet.
    pub(super) fn check(
        &self,
        tenant_id: &str,
        legs: &[Leg],
        shortfall: Shortfall,
    ) -> Result<Vec<Option<i64>>, DomainError> {
        let mut moved: HashMap<(&str, &Owner), i64> = HashMap::new();
        let mut expiries = Vec::with_capacity(legs.len());
        for leg in legs {
            let currency = self.currency(tenant_id, &leg.currency)?;
            let debit = AccountKey::new(tenant_id, &leg.currency, leg.debit.clone());
            let credit = AccountKey::new(tenant_id, &leg.currency, leg.credit.clone());
            self.usable(&debit)?;
            self.usable(&credit)?;
            let (balance, held, may_go_negative) = self.standing(&debit);
            let out = moved.entry((&leg.currency, &leg.debit)).or_default();
            *out -= leg.amount;
            let overdraw = shortfall == Shortfall::ReversalPolicy
                && leg.debit.is_wallet()
                && currency.reversals_may_overdraw;
            if !may_go_negative && !overdraw && balance - held + *out < 0 {
                return Err(short(shortfall, &leg.debit, &leg.currency));
            }
            let (balance, _, _) = self.standing(&credit);
            let into = moved.entry((&leg.currency, &leg.credit)).or_default();
            *into += leg.amount;
            if balance.checked_add(*into).is_none() {
                return Err(DomainError::precondition(
                    "BALANCE_LIMIT",
                    leg.credit.key(),
                    "the account's balance would pass 2^63 minor units",
                ));
            }
            expiries.push(currency.expiry.expires_at(self.now, &currency.zone)?);
        }
        Ok(expiries)
    }

    /// Moves the points of checked legs, opening accounts on first use.
    pub(super) fn post(&mut self, p: Posting<'_>) -> Transfer {
        let transfer_id = new_id();
        // A reversal draws the points its original brought first.
        let prefer = p
            .reverses
            .and_then(|id| self.transfers.get(id))
            .map(|original| self.preferred(original));
        for (leg, expiry) in p.legs.iter().zip(&p.expiries) {
            let debit = self.open_or_get(&AccountKey::new(
                p.tenant_id,
                &leg.currency,
                leg.debit.clone(),
            ));
            let credit = self.open_or_get(&AccountKey::new(
                p.tenant_id,
                &leg.currency,
                leg.credit.clone(),
            ));
            let before = self.account_mut(&credit).balance;
            self.account_mut(&debit).balance -= leg.amount;
            self.account_mut(&credit).balance += leg.amount;
            let pieces = if leg.debit.is_wallet() {
                self.draw(&debit, leg.amount, prefer.as_ref())
            } else {
                vec![Piece {
                    expires_at: *expiry,
                    amount: leg.amount,
                }]
            };
            if leg.credit.is_wallet() {
                self.add_new_lots(&credit, &transfer_id, &pieces, leg.amount, before);
            }
            self.notify(p.tenant_id, leg, &debit, &credit, &transfer_id, p.reason);
        }
        let wallet = p
            .legs
            .iter()
            .find_map(|l| {
                let owner = [&l.credit, &l.debit].into_iter().find(|o| o.is_wallet())?;
                self.account(&AccountKey::new(p.tenant_id, &l.currency, owner.clone()))
            })
            .map(|a| a.figures())
            .unwrap_or(Figures::default());
        let transfer = Transfer {
            transfer_id,
            tenant_id: p.tenant_id.into(),
            legs: p.legs,
            reason: p.reason.into(),
            reference: p.reference.into(),
            metadata: p.metadata.into(),
            idempotency_key: p.idempotency_key,
            fingerprint: p.fingerprint.into(),
            reverses: p.reverses.map(str::to_string),
            created_at: self.now,
            wallet,
        };
        let reversed = vec![0; transfer.legs.len()];
        self.add_transfer(transfer.clone(), reversed);
        self.changes.transfers.push(transfer.clone());
        transfer
    }

    /// Takes points off a wallet's lots, soonest expiry first.
    fn draw(&mut self, account_id: &str, amount: i64, prefer: Option<&Preferred>) -> Vec<Piece> {
        let Some(lots) = self.lots.get_mut(account_id) else {
            debug_assert!(false, "lots of a drawn wallet are loaded");
            return Vec::new();
        };
        let (pieces, changed) = lots::draw(lots, amount, prefer);
        for lot_id in changed {
            let id = (account_id.to_string(), lot_id);
            if !self.changes.new_lots.contains(&id) {
                self.changes.lots.insert(id);
            }
        }
        pieces
    }

    fn add_new_lots(
        &mut self,
        account_id: &str,
        transfer_id: &str,
        pieces: &[Piece],
        amount: i64,
        before: i64,
    ) {
        for piece in lots::kept(pieces, amount, before) {
            let lot = Lot {
                lot_id: new_id(),
                account_id: account_id.into(),
                transfer_id: transfer_id.into(),
                expires_at: piece.expires_at,
                amount: piece.amount,
                remaining: piece.amount,
                created_at: self.now,
            };
            let wallet_lots = self.lots.entry(account_id.into()).or_default();
            let (lot_id, opened) = lots::add(wallet_lots, lot);
            let id = (account_id.to_string(), lot_id);
            if opened {
                self.changes.new_lots.insert(id);
            } else if !self.changes.new_lots.contains(&id) {
                self.changes.lots.insert(id);
            }
        }
    }

    fn notify(
        &mut self,
        tenant_id: &str,
        leg: &Leg,
        debit: &str,
        credit: &str,
        transfer_id: &str,
        reason: &str,
    ) {
        let sides = [
            (&leg.debit, debit, NoticeKind::Debited),
            (&leg.credit, credit, NoticeKind::Credited),
        ];
        for (owner, account_id, kind) in sides {
            let Some(member_id) = owner.member_id() else {
                continue;
            };
            let kind = match (kind, &leg.credit) {
                (NoticeKind::Debited, c) if *c == Owner::BREAKAGE => NoticeKind::Expired,
                (kind, _) => kind,
            };
            let balance = self.accounts.get(account_id).map_or(0, |a| a.balance);
            self.changes.notices.push(Notice {
                tenant_id: tenant_id.into(),
                member_id: member_id.into(),
                currency: leg.currency.clone(),
                kind,
                amount: leg.amount,
                transfer_id: transfer_id.into(),
                reason: reason.into(),
                balance,
            });
        }
    }
}

fn short(shortfall: Shortfall, owner: &Owner, currency: &str) -> DomainError {
    match shortfall {
        Shortfall::Refuse => DomainError::precondition(
            "INSUFFICIENT_FUNDS",
            owner.key(),
            format!("not enough {currency} available on {}", owner.key()),
        ),
        Shortfall::ReversalPolicy => DomainError::precondition(
            "POINTS_ALREADY_SPENT",
            owner.key(),
            format!(
                "{} has already spent these {currency}, and the currency does not let a reversal overdraw a wallet",
                owner.key()
            ),
        ),
    }
}
