//! Lots: a wallet's points grouped by when they expire. Credits add lots,
//! debits draw the lots that expire first, and what is left of an expired
//! lot moves to breakage.

/// Points of one credit still on the wallet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lot {
    pub lot_id: String,
    pub account_id: String,
    /// The transfer that brought these points.
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
        let key = |l: &Lot| {
            (
                l.expires_at.unwrap_or(i64::MAX),
                l.created_at,
                l.lot_id.clone(),
            )
        };
        key(a).cmp(&key(b))
    });
}

/// Takes up to `amount` points, from the lots of `prefer` (a transfer) first,
/// then in drawing order. Returns the pieces taken and the ids of the lots
/// that changed.
pub fn draw(lots: &mut [Lot], amount: i64, prefer: Option<&str>) -> (Vec<Piece>, Vec<String>) {
    let mut order: Vec<usize> = (0..lots.len()).collect();
    // Stable: the preferred transfer's lots move to the front, in drawing order.
    order.sort_by_key(|&i| prefer != Some(lots[i].transfer_id.as_str()));
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

    #[test]
    fn a_reversal_takes_its_own_credit_first() {
        let mut lots = vec![lot("soon", "t1", Some(100), 10), lot("x", "t2", None, 10)];
        let (_, changed) = draw(&mut lots, 12, Some("t2"));
        assert_eq!(changed, ["x", "soon"]);
        assert_eq!(lots[0].remaining, 8);
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
