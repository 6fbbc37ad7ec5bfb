//! Opening, closing and finding accounts, and who may ask for either:
//! only partner accounts are opened on purpose, and system accounts are
//! never closed.

use questline_kit::{DomainError, new_id};

use super::{Account, AccountKey, Book, Currency};
use crate::domain::Owner;

impl Account {
    /// Wallets and system accounts open themselves on first use; only a
    /// partner's is opened on purpose, so a typo cannot make a new one.
    pub fn may_open(owner: &Owner) -> Result<(), DomainError> {
        if owner.opens_itself() {
            return Err(DomainError::invalid(
                "name",
                "only partner:<id> accounts are opened on purpose; the others open themselves",
            ));
        }
        Ok(())
    }

    /// System accounts mirror every wallet and are moved without locks
    /// (docs/ledger.md, "Hot accounts"): they are never closed.
    pub fn may_close(owner: &Owner) -> Result<(), DomainError> {
        if owner.is_system() {
            return Err(DomainError::invalid(
                "name",
                "system accounts cannot be closed",
            ));
        }
        Ok(())
    }
}

impl Book {
    pub(super) fn currency(&self, tenant_id: &str, code: &str) -> Result<&Currency, DomainError> {
        self.currencies
            .get(&(tenant_id.to_string(), code.to_string()))
            .ok_or_else(|| {
                DomainError::precondition(
                    "UNKNOWN_CURRENCY",
                    format!("currencies/{code}"),
                    format!("currency {code} is not defined for this tenant"),
                )
            })
    }

    /// Refuses an account no transfer may touch: closed, or a partner's
    /// that was never opened.
    pub(super) fn usable(&self, key: &AccountKey) -> Result<(), DomainError> {
        let AccountKey {
            currency, owner, ..
        } = key;
        match self.account(key) {
            Some(a) if a.closed => Err(DomainError::precondition(
                "ACCOUNT_CLOSED",
                owner.key(),
                format!("the {currency} account {} is closed", owner.key()),
            )),
            Some(_) => Ok(()),
            None if owner.opens_itself() => Ok(()),
            None => Err(DomainError::NotFound(format!(
                "account {} in {currency} not found",
                owner.key()
            ))),
        }
    }

    /// The account's id, opening it when this is its first use.
    pub(super) fn open_or_get(&mut self, key: &AccountKey) -> String {
        if let Some(id) = self.by_key.get(key) {
            return id.clone();
        }
        let AccountKey {
            tenant_id,
            currency,
            owner,
        } = key.clone();
        let account = Account {
            account_id: new_id(),
            tenant_id,
            currency,
            may_go_negative: owner.may_go_negative_by_default(),
            owner,
            balance: 0,
            held: 0,
            closed: false,
            created_at: self.now,
        };
        let id = account.account_id.clone();
        self.changes.opened.insert(id.clone());
        self.add_account(account);
        id
    }

    pub(super) fn account_mut(&mut self, account_id: &str) -> &mut Account {
        self.changes.accounts.insert(account_id.to_string());
        self.accounts
            .get_mut(account_id)
            .expect("accounts are opened before they are changed")
    }

    /// Opens a partner's settlement account; again with the same flag, the same answer.
    pub(super) fn open(
        &mut self,
        key: &AccountKey,
        may_go_negative: bool,
    ) -> Result<Account, DomainError> {
        let AccountKey {
            tenant_id,
            currency,
            owner,
        } = key;
        self.currency(tenant_id, currency)?;
        if let Some(existing) = self.account(key) {
            return if existing.may_go_negative == may_go_negative {
                Ok(existing.clone())
            } else {
                Err(DomainError::AlreadyExists(format!(
                    "account {} in {currency} already exists with another may_go_negative",
                    owner.key()
                )))
            };
        }
        let id = self.open_or_get(key);
        let account = self.account_mut(&id);
        account.may_go_negative = may_go_negative;
        Ok(account.clone())
    }

    /// Closes an empty account; closing it again answers the same.
    pub(super) fn close(&mut self, key: &AccountKey) -> Result<Account, DomainError> {
        let AccountKey {
            currency, owner, ..
        } = key;
        let account = self.account(key).ok_or_else(|| {
            DomainError::NotFound(format!("account {} in {currency} not found", owner.key()))
        })?;
        if account.closed {
            return Ok(account.clone());
        }
        if account.balance != 0 || account.held != 0 {
            return Err(DomainError::precondition(
                "ACCOUNT_NOT_EMPTY",
                owner.key(),
                format!(
                    "the account holds {} points ({} held); move them before closing it",
                    account.balance, account.held
                ),
            ));
        }
        let id = account.account_id.clone();
        let account = self.account_mut(&id);
        account.closed = true;
        Ok(account.clone())
    }

    /// The account's balance and held points as the book has them (zero if not yet open).
    pub(super) fn standing(&self, key: &AccountKey) -> (i64, i64, bool) {
        match self.account(key) {
            Some(a) => (a.balance, a.held, a.may_go_negative),
            None => (0, 0, key.owner.may_go_negative_by_default()),
        }
    }
}
