//! `questline.ledger.v1.LedgerService`: decode, authenticate, validate,
//! authorise, hand the command to the store, encode the answer.

mod currency;
mod decode;
mod encode;

use questline_kit::audit::Change;
use questline_kit::auth::{Caller, Scope, TokenVerifier};
use questline_kit::members::MemberDirectory;
use questline_kit::time::from_timestamp;
use questline_kit::{DomainError, Violations, paging};
use questline_proto::ledger::ledger_service_server::{LedgerService, SERVICE_NAME};
use questline_proto::ledger::{self as pb, get_transfer_request::Lookup};
use std::collections::BTreeSet;
use std::sync::Arc;
use tonic::{Request, Response, Status};

use crate::domain::Owner;
use crate::domain::book::{AccountKey, Command, Transfer};
use crate::domain::requests::TransferSpec;
use crate::store::{EntryFilter, Store, TransferLookup};

pub struct LedgerApi {
    store: Store,
    members: MemberDirectory,
    auth: Arc<TokenVerifier>,
}

type Answer<T> = Result<Response<T>, Status>;

impl LedgerApi {
    pub fn new(store: Store, members: MemberDirectory, auth: Arc<TokenVerifier>) -> LedgerApi {
        LedgerApi {
            store,
            members,
            auth,
        }
    }

    /// Wallets belong to members the tenant knows: an unknown or another
    /// tenant's member is NOT_FOUND before anything is written.
    async fn known_members(
        &self,
        caller: &Caller,
        tenant_id: &str,
        spec_members: impl Iterator<Item = &str>,
    ) -> Result<(), Status> {
        let members: BTreeSet<&str> = spec_members.collect();
        for member_id in members {
            self.members
                .get(tenant_id, member_id, &caller.token)
                .await?;
        }
        Ok(())
    }

    /// Posts a checked transfer spec from the brand's backend.
    async fn post(&self, caller: &Caller, spec: TransferSpec) -> Result<Transfer, Status> {
        caller.require_server(&spec.tenant_id)?;
        let members = spec.legs.iter().flat_map(|l| {
            [l.debit.member_id(), l.credit.member_id()]
                .into_iter()
                .flatten()
        });
        self.known_members(caller, &spec.tenant_id, members).await?;
        Ok(self.store.transfer(Command::Transfer(spec)).await?)
    }

    /// The brand's backend ends any hold of its tenant; a member app only its member's.
    async fn authorise_hold(
        &self,
        caller: &Caller,
        tenant_id: &str,
        hold_id: &str,
    ) -> Result<(), Status> {
        decode::hold_ref(tenant_id, hold_id)?;
        caller.require(tenant_id, &[Scope::Server, Scope::Admin, Scope::Member])?;
        if caller.is_member_only() {
            let hold = self.store.hold(tenant_id, hold_id).await?;
            caller.require_member_access(tenant_id, &hold.member_id)?;
        }
        Ok(())
    }

    /// A member may read their own wallet; the brand's backend any account.
    fn authorise_account(&self, caller: &Caller, key: &AccountKey) -> Result<(), Status> {
        match &key.2 {
            Owner::Member(id) => caller.require_member_access(&key.0, id)?,
            _ => caller.require_server(&key.0)?,
        }
        Ok(())
    }

    fn admin_change(caller: &Caller, key: &AccountKey, method: &str) -> Change {
        Change::by(
            caller,
            &key.0,
            SERVICE_NAME,
            method,
            format!("accounts/{}/{}", key.1, key.2.key()),
        )
    }
}

#[tonic::async_trait]
impl LedgerService for LedgerApi {
    async fn create_currency(
        &self,
        request: Request<pb::CreateCurrencyRequest>,
    ) -> Answer<pb::CreateCurrencyResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let spec = currency::spec(&req)?;
        caller.require_admin(&req.tenant_id)?;
        let change = Change::by(
            &caller,
            &req.tenant_id,
            SERVICE_NAME,
            "CreateCurrency",
            format!("currencies/{}", spec.code),
        )
        .with("name", spec.name.as_str())
        .with("expiry", spec.expiry.to_text())
        .with("time_zone", spec.time_zone.as_str())
        .with("decimal_places", spec.decimal_places)
        .with("reversals_may_overdraw", spec.reversals_may_overdraw);
        let row = self
            .store
            .create_currency(&req.tenant_id, &spec, &change)
            .await?;
        Ok(Response::new(pb::CreateCurrencyResponse {
            currency: Some(currency::currency_pb(row)?),
        }))
    }

    async fn credit(&self, request: Request<pb::CreditRequest>) -> Answer<pb::CreditResponse> {
        let caller = self.auth.caller(&request).await?;
        let spec = decode::credit(request.get_ref())?;
        let currency = request.get_ref().currency.clone();
        let transfer = self.post(&caller, spec).await?;
        let wallet = transfer.wallet;
        Ok(Response::new(pb::CreditResponse {
            transfer: Some(encode::transfer(transfer)),
            balance: Some(encode::balance(&currency, wallet)),
        }))
    }

    async fn debit(&self, request: Request<pb::DebitRequest>) -> Answer<pb::DebitResponse> {
        let caller = self.auth.caller(&request).await?;
        let spec = decode::debit(request.get_ref())?;
        let currency = request.get_ref().currency.clone();
        let transfer = self.post(&caller, spec).await?;
        let wallet = transfer.wallet;
        Ok(Response::new(pb::DebitResponse {
            transfer: Some(encode::transfer(transfer)),
            balance: Some(encode::balance(&currency, wallet)),
        }))
    }

    async fn transfer(
        &self,
        request: Request<pb::TransferRequest>,
    ) -> Answer<pb::TransferResponse> {
        let caller = self.auth.caller(&request).await?;
        let spec = decode::transfer(request.get_ref())?;
        let transfer = self.post(&caller, spec).await?;
        Ok(Response::new(pb::TransferResponse {
            transfer: Some(encode::transfer(transfer)),
        }))
    }

    async fn reverse_transfer(
        &self,
        request: Request<pb::ReverseTransferRequest>,
    ) -> Answer<pb::ReverseTransferResponse> {
        let caller = self.auth.caller(&request).await?;
        let spec = decode::reversal(request.get_ref())?;
        caller.require_server(&spec.tenant_id)?;
        let transfer = self.store.transfer(Command::Reverse(spec)).await?;
        Ok(Response::new(pb::ReverseTransferResponse {
            transfer: Some(encode::transfer(transfer)),
        }))
    }

    async fn get_transfer(
        &self,
        request: Request<pb::GetTransferRequest>,
    ) -> Answer<pb::GetTransferResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let lookup = match &req.lookup {
            Some(Lookup::TransferId(id)) => {
                Violations::new()
                    .id("tenant_id", &req.tenant_id)
                    .id("transfer_id", id)
                    .finish()?;
                TransferLookup::Id(id)
            }
            Some(Lookup::IdempotencyKey(key)) => {
                Violations::new()
                    .id("tenant_id", &req.tenant_id)
                    .text("idempotency_key", key)
                    .finish()?;
                TransferLookup::Key(key)
            }
            None => {
                return Err(
                    DomainError::invalid("lookup", "give transfer_id or idempotency_key").into(),
                );
            }
        };
        caller.require_server(&req.tenant_id)?;
        let (transfer, reversed) = self.store.find_transfer(&req.tenant_id, lookup).await?;
        Ok(Response::new(pb::GetTransferResponse {
            transfer: Some(encode::transfer(transfer)),
            reversed_amounts: reversed,
        }))
    }

    async fn open_account(
        &self,
        request: Request<pb::OpenAccountRequest>,
    ) -> Answer<pb::OpenAccountResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let key = decode::account_ref(&req.tenant_id, &req.currency, &req.name)?;
        if !matches!(key.2, Owner::Partner(_)) {
            return Err(DomainError::invalid(
                "name",
                "only partner:<id> accounts are opened on purpose; the others open themselves",
            )
            .into());
        }
        caller.require_admin(&key.0)?;
        let command = Command::OpenAccount {
            key: key.clone(),
            may_go_negative: req.may_go_negative,
        };
        let change = Self::admin_change(&caller, &key, "OpenAccount")
            .with("may_go_negative", req.may_go_negative);
        let account = self.store.account_command(command, change).await?;
        Ok(Response::new(pb::OpenAccountResponse {
            account: Some(encode::account(account)),
        }))
    }

    async fn close_account(
        &self,
        request: Request<pb::CloseAccountRequest>,
    ) -> Answer<pb::CloseAccountResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let key = decode::account_ref(&req.tenant_id, &req.currency, &req.name)?;
        if matches!(key.2, Owner::System(_)) {
            return Err(DomainError::invalid("name", "system accounts cannot be closed").into());
        }
        caller.require_admin(&key.0)?;
        let change = Self::admin_change(&caller, &key, "CloseAccount");
        let account = self
            .store
            .account_command(Command::CloseAccount { key }, change)
            .await?;
        Ok(Response::new(pb::CloseAccountResponse {
            account: Some(encode::account(account)),
        }))
    }

    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> Answer<pb::GetAccountResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let key = decode::account_ref(&req.tenant_id, &req.currency, &req.name)?;
        self.authorise_account(&caller, &key)?;
        let account = self.store.account(&key.0, &key.1, &key.2).await?;
        Ok(Response::new(pb::GetAccountResponse {
            account: Some(encode::account(account)),
        }))
    }

    async fn list_account_entries(
        &self,
        request: Request<pb::ListAccountEntriesRequest>,
    ) -> Answer<pb::ListAccountEntriesResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let key = decode::account_ref(&req.tenant_id, &req.currency, &req.name)?;
        let page = paging::parse(req.page_size, &req.page_token)?;
        let filter = EntryFilter {
            since: req.since.as_ref().map(from_timestamp),
            until: req.until.as_ref().map(from_timestamp),
            counterparty: match req.counterparty.as_str() {
                "" => None,
                name => Some(Owner::parse("counterparty", name)?),
            },
        };
        self.authorise_account(&caller, &key)?;
        let account = self.store.account(&key.0, &key.1, &key.2).await?;
        let (entries, next_page_token) = self.store.entries(&account, &filter, &page).await?;
        Ok(Response::new(pb::ListAccountEntriesResponse {
            entries: entries.into_iter().map(encode::entry).collect(),
            next_page_token,
        }))
    }

    async fn get_balances(
        &self,
        request: Request<pb::GetBalancesRequest>,
    ) -> Answer<pb::GetBalancesResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        Violations::new()
            .id("tenant_id", &req.tenant_id)
            .id("member_id", &req.member_id)
            .check(
                (0..=3660).contains(&req.expiring_within_days),
                "expiring_within_days",
                "must be 0 to 3660",
            )
            .finish()?;
        caller.require_member_access(&req.tenant_id, &req.member_id)?;
        self.known_members(
            &caller,
            &req.tenant_id,
            [req.member_id.as_str()].into_iter(),
        )
        .await?;
        let wallets = self
            .store
            .balances(
                &req.tenant_id,
                &req.member_id,
                i64::from(req.expiring_within_days),
            )
            .await?;
        Ok(Response::new(pb::GetBalancesResponse {
            balances: wallets.into_iter().map(encode::wallet).collect(),
        }))
    }

    async fn get_programme_totals(
        &self,
        request: Request<pb::GetProgrammeTotalsRequest>,
    ) -> Answer<pb::GetProgrammeTotalsResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let mut v = Violations::new();
        v.id("tenant_id", &req.tenant_id);
        if !req.currency.is_empty() {
            v.id("currency", &req.currency);
        }
        v.finish()?;
        caller.require_server(&req.tenant_id)?;
        let only = (!req.currency.is_empty()).then_some(req.currency.as_str());
        let totals = self.store.totals(&req.tenant_id, only).await?;
        Ok(Response::new(pb::GetProgrammeTotalsResponse {
            totals: totals.into_iter().map(encode::totals).collect(),
        }))
    }

    async fn create_hold(
        &self,
        request: Request<pb::CreateHoldRequest>,
    ) -> Answer<pb::CreateHoldResponse> {
        let caller = self.auth.caller(&request).await?;
        let spec = decode::hold(request.get_ref())?;
        caller.require_member_access(&spec.tenant_id, &spec.member_id)?;
        self.known_members(
            &caller,
            &spec.tenant_id,
            [spec.member_id.as_str()].into_iter(),
        )
        .await?;
        let hold = self.store.hold_command(Command::CreateHold(spec)).await?;
        Ok(Response::new(pb::CreateHoldResponse {
            hold: Some(encode::hold(hold)),
        }))
    }

    async fn commit_hold(
        &self,
        request: Request<pb::CommitHoldRequest>,
    ) -> Answer<pb::CommitHoldResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let amount = decode::commit_amount(req.amount)?;
        self.authorise_hold(&caller, &req.tenant_id, &req.hold_id)
            .await?;
        let command = Command::CommitHold {
            tenant_id: req.tenant_id,
            hold_id: req.hold_id,
            amount,
        };
        let hold = self.store.hold_command(command).await?;
        Ok(Response::new(pb::CommitHoldResponse {
            hold: Some(encode::hold(hold)),
        }))
    }

    async fn void_hold(
        &self,
        request: Request<pb::VoidHoldRequest>,
    ) -> Answer<pb::VoidHoldResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        self.authorise_hold(&caller, &req.tenant_id, &req.hold_id)
            .await?;
        let command = Command::VoidHold {
            tenant_id: req.tenant_id,
            hold_id: req.hold_id,
        };
        let hold = self.store.hold_command(command).await?;
        Ok(Response::new(pb::VoidHoldResponse {
            hold: Some(encode::hold(hold)),
        }))
    }

    async fn export_member(
        &self,
        request: Request<pb::ExportMemberRequest>,
    ) -> Answer<pb::ExportMemberResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        let (tenant_id, member_id) = (&req.tenant_id, &req.member_id);
        questline_kit::export::authorise(&caller, &self.members, tenant_id, member_id).await?;
        let data = self.store.export_member(tenant_id, member_id).await?;
        Ok(Response::new(pb::ExportMemberResponse {
            data: Some(data.into_struct()),
        }))
    }
}
