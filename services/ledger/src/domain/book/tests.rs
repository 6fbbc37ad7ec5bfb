//! The book alone, without a database: refusals change nothing.

use super::*;
use crate::domain::SystemAccount;
use crate::domain::expiry::ExpiryPolicy;
use crate::domain::requests::{Header, RawLeg};
use questline_kit::DomainError;

fn book() -> Book {
    let mut book = Book::new(1_000);
    let stars = Currency {
        expiry: ExpiryPolicy::DaysAfterEarn(1),
        zone: TimeZone::UTC,
        reversals_may_overdraw: false,
    };
    book.add_currency("acme", "stars", stars);
    book
}

fn transfer(key: &str, legs: &[(&str, &str, i64)]) -> Command {
    let raw: Vec<RawLeg<'_>> = legs
        .iter()
        .map(|&(debit, credit, amount)| RawLeg {
            currency: "stars",
            debit,
            credit,
            amount,
        })
        .collect();
    let header = Header {
        tenant_id: "acme",
        reason: "",
        reference: "",
        metadata: String::new(),
        idempotency_key: key,
        fingerprint: format!("{legs:?}"),
    };
    Command::Transfer(TransferSpec::validate(header, &raw).unwrap())
}

#[test]
fn a_refused_transfer_leaves_the_book_as_it_was() {
    let mut book = book();
    book.apply(&transfer("c", &[("system:issuance", "member:m1", 10)]))
        .unwrap();
    let before = (
        book.accounts.clone(),
        book.lots.clone(),
        book.changes.transfers.len(),
    );
    let greedy = transfer(
        "g",
        &[
            ("member:m1", "member:m2", 10),
            ("member:m1", "system:redemption", 1),
        ],
    );
    assert!(book.apply(&greedy).is_err());
    assert_eq!(
        before,
        (
            book.accounts.clone(),
            book.lots.clone(),
            book.changes.transfers.len()
        )
    );
}

#[test]
fn points_passed_between_wallets_keep_their_expiry() {
    let mut book = book();
    book.apply(&transfer("c", &[("system:issuance", "member:m1", 10)]))
        .unwrap();
    book.apply(&transfer("g", &[("member:m1", "member:m2", 4)]))
        .unwrap();
    let m2 = book
        .account(&AccountKey::new(
            "acme",
            "stars",
            Owner::Member("m2".into()),
        ))
        .unwrap()
        .account_id
        .clone();
    // Earned on day 0, expiring at the end of day 1.
    assert_eq!(book.lots[&m2][0].expires_at, Some(2 * 86_400_000));
    assert_eq!(book.changes.notices.len(), 3);
}

#[test]
fn a_system_account_is_written_as_what_the_batch_moved() {
    let mut book = book();
    // As loaded (figures possibly stale: the store writes only the change).
    book.add_account(Account {
        account_id: "iss".into(),
        tenant_id: "acme".into(),
        currency: "stars".into(),
        owner: Owner::ISSUANCE,
        balance: -500,
        held: 0,
        may_go_negative: true,
        closed: false,
        created_at: 1,
    });
    book.apply(&transfer("a", &[("system:issuance", "member:m1", 10)]))
        .unwrap();
    book.apply(&transfer("b", &[("system:issuance", "member:m2", 5)]))
        .unwrap();
    assert_eq!(book.moved("iss"), Some((-15, 0)));
    let m1 = book
        .account(&AccountKey::new(
            "acme",
            "stars",
            Owner::Member("m1".into()),
        ))
        .unwrap()
        .account_id
        .clone();
    // Opened by this batch: it moved from nothing.
    assert_eq!(book.moved(&m1), Some((10, 0)));
    assert_eq!(book.moved("unknown"), None);
}

#[test]
fn only_partner_accounts_are_opened_on_purpose() {
    assert!(Account::may_open(&Owner::Partner("cafe".into())).is_ok());
    for owner in [Owner::Member("m1".into()), Owner::ISSUANCE] {
        let Err(DomainError::Invalid(v)) = Account::may_open(&owner) else {
            panic!("{owner:?} opened on purpose");
        };
        assert_eq!(v[0].field, "name");
    }
}

#[test]
fn system_accounts_cannot_be_closed() {
    for system in SystemAccount::ALL {
        let owner = Owner::System(system);
        assert!(matches!(
            Account::may_close(&owner),
            Err(DomainError::Invalid(_))
        ));
    }
    assert!(Account::may_close(&Owner::Member("m1".into())).is_ok());
    assert!(Account::may_close(&Owner::Partner("cafe".into())).is_ok());
}
