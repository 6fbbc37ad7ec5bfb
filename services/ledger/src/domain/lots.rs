//! Lots: a wallet's points grouped by when they expire. Credits add to the
//! wallet's lot of the same expiry (or open one), debits draw the lots that
//! expire first, and what is left of an expired lot moves to breakage.
//!
//! One lot per wallet and expiry keeps a wallet's open lots few (expiries
//! fall on day or period ends), so drawing reads a handful of rows however
//! often the member earned.

/// Points of a wallet sharing one expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lot {
    pub lot_id: String,
    pub account_id: String,
    /// The transfer that opened the lot (later credits of the same expiry join it).
    pub transfer_id: String,
    /// `None`: never expires.
    pub expires_at: Option<i64>,
    pub amount: i64,
    pub remaining: i64,
    pub created_at: i64,
}

/// Points taken from one lot, keeping its expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    pub expires_at: Option<i64>,
    pub amount: i64,
}

/// The order lots are drawn in: soonest expiry first, never-expiring last,
/// then oldest first.
pub fn sort(lots: &mut [Lot]) {
    lots.sort_by(|a, b| {
        let expiry = |l: &Lot| l.expires_at.unwrap_or(i64::MAX);
        expiry(a)
            .cmp(&expiry(b))
            .then(a.created_at.cmp(&b.created_at))
            .then_with(|| a.lot_id.cmp(&b.lot_id))
    });
}

/// Adds the points of `lot` to the wallet's open lot of the same expiry, or
/// opens `lot`. Returns the id of the lot that holds them and whether it is
/// new. (A lot emptied in the same batch is not reopened: whether points
/// join a lot never depends on how requests were batched.)
pub fn add(lots: &mut Vec<Lot>, lot: Lot) -> (String, bool) {
    let same_expiry = |l: &&mut Lot| l.expires_at == lot.expires_at && l.remaining > 0;
    if let Some(same) = lots.iter_mut().find(same_expiry) {
        same.amount += lot.amount;
        same.remaining += lot.amount;
        return (same.lot_id.clone(), false);
    }
    let id = lot.lot_id.clone();
    lots.push(lot);
    sort(lots);
    (id, true)
}

/// The points a reversal takes back first: those its credit brought, in
/// the lot it opened or joined (points of one wallet and expiry are alike).
#[derive(Debug)]
pub struct Preferred {
    pub transfer_id: String,
    /// The expiries the credit gave its points (`None`: never expiring).
    pub expiries: Vec<Option<i64>>,
}

impl Preferred {
    fn holds(&self, lot: &Lot) -> bool {
        lot.transfer_id == self.transfer_id || self.expiries.contains(&lot.expires_at)
    }
}

/// Takes up to `amount` points, from the `prefer`red lots first, then in
/// drawing order. Returns the pieces taken and the ids of the lots that
/// changed.
pub fn draw(
    lots: &mut [Lot],
    amount: i64,
    prefer: Option<&Preferred>,
) -> (Vec<Piece>, Vec<String>) {
    let mut order: Vec<usize> = (0..lots.len()).collect();
    // Stable: the preferred lots move to the front, in drawing order.
    order.sort_by_key(|&i| !prefer.is_some_and(|p| p.holds(&lots[i])));
    let mut left = amount;
    let mut pieces = Vec::new();
    let mut changed = Vec::new();
    for i in order {
        let lot = &mut lots[i];
        if left == 0 {
            break;
        }
        if lot.remaining == 0 {
            continue;
        }
        let take = lot.remaining.min(left);
        lot.remaining -= take;
        left -= take;
        changed.push(lot.lot_id.clone());
        pieces.push(Piece {
            expires_at: lot.expires_at,
            amount: take,
        });
    }
    (pieces, changed)
}

/// Points on lots whose expiry is at or before `at`.
pub fn due(lots: &[Lot], at: i64) -> i64 {
    lots.iter()
        .filter(|l| l.expires_at.is_some_and(|e| e <= at))
        .map(|l| l.remaining)
        .sum()
}

/// A wallet as of `now`: points past their expiry that the next sweep will
/// move (held points wait for their hold), and of the rest, how many expire
/// before `before`.
pub fn outlook(lots: &[Lot], balance: i64, held: i64, now: i64, before: Option<i64>) -> (i64, i64) {
    let expired = due(lots, now).min(balance - held).max(0);
    let expiring = before.map_or(0, |b| (due(lots, b - 1) - expired).max(0));
    (expired, expiring)
}

/// The pieces a credit of `amount` leaves as lots when it takes the wallet
/// from `before` to `before + amount`: a negative wallet's debt is paid
/// first, with the pieces that expire soonest.
pub fn kept(pieces: &[Piece], amount: i64, before: i64) -> Vec<Piece> {
    let mut debt = amount - ((before + amount).max(0) - before.max(0));
    let mut out = Vec::new();
    for piece in pieces {
        let paid = debt.min(piece.amount);
        debt -= paid;
        if piece.amount > paid {
            out.push(Piece {
                expires_at: piece.expires_at,
                amount: piece.amount - paid,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lot(id: &str, transfer: &str, expires_at: Option<i64>, remaining: i64) -> Lot {
        Lot {
            lot_id: id.into(),
            account_id: "a".into(),
            transfer_id: transfer.into(),
            expires_at,
            amount: remaining,
            remaining,
            created_at: 0,
        }
    }

    #[test]
    fn debits_draw_the_soonest_expiring_points_first() {
        let mut lots = vec![
            lot("never", "t1", None, 10),
            lot("late", "t2", Some(200), 10),
            lot("soon", "t3", Some(100), 10),
        ];
        sort(&mut lots);
        let (pieces, changed) = draw(&mut lots, 15, None);
        assert_eq!(changed, ["soon", "late"]);
        assert_eq!(pieces[0].expires_at, Some(100));
        assert_eq!(pieces[1].amount, 5);
        assert_eq!(lots.iter().map(|l| l.remaining).sum::<i64>(), 15);
    }

    fn preferred(transfer: &str, expiries: &[Option<i64>]) -> Preferred {
        Preferred {
            transfer_id: transfer.into(),
            expiries: expiries.to_vec(),
        }
    }

    #[test]
    fn a_reversal_takes_its_own_credit_first() {
        let mut lots = vec![lot("soon", "t1", Some(100), 10), lot("x", "t2", None, 10)];
        let (_, changed) = draw(&mut lots, 12, Some(&preferred("t2", &[])));
        assert_eq!(changed, ["x", "soon"]);
        assert_eq!(lots[0].remaining, 8);
    }

    #[test]
    fn a_reversal_finds_its_credit_in_the_lot_it_joined() {
        let mut lots = vec![
            lot("soon", "t1", Some(100), 10),
            lot("late", "t2", Some(200), 30),
        ];
        // t3's credit joined t2's lot, which expires at 200.
        let (pieces, changed) = draw(&mut lots, 5, Some(&preferred("t3", &[Some(200)])));
        assert_eq!(changed, ["late"]);
        assert_eq!(pieces[0].expires_at, Some(200));
    }

    #[test]
    fn credits_of_one_expiry_share_a_lot() {
        let mut lots = vec![lot("a", "t1", Some(100), 10)];
        let joined = add(&mut lots, lot("b", "t2", Some(100), 5));
        assert_eq!(joined, ("a".to_string(), false));
        assert_eq!((lots[0].amount, lots[0].remaining), (15, 15));
        let (id, new) = add(&mut lots, lot("c", "t3", Some(50), 7));
        assert_eq!((id.as_str(), new), ("c", true));
        assert_eq!(lots.len(), 2);
        // Kept in drawing order.
        assert_eq!(lots[0].lot_id, "c");
    }

    #[test]
    fn only_lots_past_their_expiry_are_due() {
        let lots = vec![lot("a", "t", Some(100), 4), lot("b", "t", Some(101), 5)];
        assert_eq!(due(&lots, 100), 4);
        assert_eq!(due(&lots, 99), 0);
    }

    #[test]
    fn the_outlook_leaves_out_what_expired_but_not_what_a_hold_keeps() {
        let lots = vec![lot("a", "t", Some(100), 10), lot("b", "t", Some(200), 5)];
        assert_eq!(outlook(&lots, 15, 0, 150, Some(250)), (10, 5));
        assert_eq!(outlook(&lots, 15, 12, 150, None), (3, 0));
        assert_eq!(outlook(&lots, 15, 0, 50, Some(200)), (0, 10));
    }

    #[test]
    fn a_credit_to_a_negative_wallet_pays_the_debt_first() {
        let pieces = [
            Piece {
                expires_at: Some(1),
                amount: 5,
            },
            Piece {
                expires_at: None,
                amount: 10,
            },
        ];
        let kept = kept(&pieces, 15, -7);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].amount, 8);
        assert_eq!(super::kept(&pieces, 15, 3).len(), 2);
        assert!(super::kept(&pieces, 15, -20).is_empty());
    }
}
