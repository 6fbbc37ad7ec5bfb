//! `questline.ledger.v1.LedgerService`: decode, authenticate, validate,
//! authorise, hand the command to the store, encode the answer. One line
//! per RPC here, grouped by resource; each resource's handlers live in
//! its own file.

mod accounts;
mod balances;
mod credit_batch;
mod currencies;
mod decode;
mod encode;
mod holds;
mod transfers;

use questline_kit::auth::{Caller, TokenVerifier};
use questline_kit::members::MemberDirectory;
use questline_proto::ledger::{self as pb, ledger_service_server::LedgerService};
use std::collections::BTreeSet;
use std::sync::Arc;
use tonic::{Request, Response};

use crate::domain::Owner;
use crate::domain::book::AccountKey;
use crate::store::Store;

pub struct LedgerApi {
    store: Store,
    members: MemberDirectory,
    auth: Arc<TokenVerifier>,
}

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
        members: impl Iterator<Item = &str>,
    ) -> tonic::Result<()> {
        let members: BTreeSet<&str> = members.collect();
        for member_id in members {
            self.members
                .get(tenant_id, member_id, &caller.token)
                .await?;
        }
        Ok(())
    }

    /// A member may read their own wallet; the brand's backend any account.
    fn authorise_account(caller: &Caller, key: &AccountKey) -> tonic::Result<()> {
        match &key.owner {
            Owner::Member(id) => caller.require_member_access(&key.tenant_id, id)?,
            _ => caller.require_server(&key.tenant_id)?,
        }
        Ok(())
    }
}

#[tonic::async_trait]
impl LedgerService for LedgerApi {
    // Currencies.

    async fn create_currency(
        &self,
        request: Request<pb::CreateCurrencyRequest>,
    ) -> tonic::Result<Response<pb::CreateCurrencyResponse>> {
        currencies::create(self, request).await
    }

    // Accounts.

    async fn open_account(
        &self,
        request: Request<pb::OpenAccountRequest>,
    ) -> tonic::Result<Response<pb::OpenAccountResponse>> {
        accounts::open(self, request).await
    }

    async fn close_account(
        &self,
        request: Request<pb::CloseAccountRequest>,
    ) -> tonic::Result<Response<pb::CloseAccountResponse>> {
        accounts::close(self, request).await
    }

    async fn get_account(
        &self,
        request: Request<pb::GetAccountRequest>,
    ) -> tonic::Result<Response<pb::GetAccountResponse>> {
        accounts::get(self, request).await
    }

    // Transfers.

    async fn credit(
        &self,
        request: Request<pb::CreditRequest>,
    ) -> tonic::Result<Response<pb::CreditResponse>> {
        transfers::credit(self, request).await
    }

    async fn credit_batch(
        &self,
        request: Request<pb::CreditBatchRequest>,
    ) -> tonic::Result<Response<pb::CreditBatchResponse>> {
        credit_batch::credit_batch(self, request).await
    }

    async fn debit(
        &self,
        request: Request<pb::DebitRequest>,
    ) -> tonic::Result<Response<pb::DebitResponse>> {
        transfers::debit(self, request).await
    }

    async fn transfer(
        &self,
        request: Request<pb::TransferRequest>,
    ) -> tonic::Result<Response<pb::TransferResponse>> {
        transfers::transfer(self, request).await
    }

    async fn get_transfer(
        &self,
        request: Request<pb::GetTransferRequest>,
    ) -> tonic::Result<Response<pb::GetTransferResponse>> {
        transfers::get(self, request).await
    }

    // Holds.

    async fn create_hold(
        &self,
        request: Request<pb::CreateHoldRequest>,
    ) -> tonic::Result<Response<pb::CreateHoldResponse>> {
        holds::create(self, request).await
    }

    async fn commit_hold(
        &self,
        request: Request<pb::CommitHoldRequest>,
    ) -> tonic::Result<Response<pb::CommitHoldResponse>> {
        holds::commit(self, request).await
    }

    async fn void_hold(
        &self,
        request: Request<pb::VoidHoldRequest>,
    ) -> tonic::Result<Response<pb::VoidHoldResponse>> {
        holds::void(self, request).await
    }

    // Reversals.

    async fn reverse_transfer(
        &self,
        request: Request<pb::ReverseTransferRequest>,
    ) -> tonic::Result<Response<pb::ReverseTransferResponse>> {
        transfers::reverse(self, request).await
    }

    // Balances, history and totals.

    async fn get_balances(
        &self,
        request: Request<pb::GetBalancesRequest>,
    ) -> tonic::Result<Response<pb::GetBalancesResponse>> {
        balances::balances(self, request).await
    }

    async fn list_account_entries(
        &self,
        request: Request<pb::ListAccountEntriesRequest>,
    ) -> tonic::Result<Response<pb::ListAccountEntriesResponse>> {
        balances::history(self, request).await
    }

    async fn get_programme_totals(
        &self,
        request: Request<pb::GetProgrammeTotalsRequest>,
    ) -> tonic::Result<Response<pb::GetProgrammeTotalsResponse>> {
        balances::totals(self, request).await
    }

    // Export.

    async fn export_member(
        &self,
        request: Request<pb::ExportMemberRequest>,
    ) -> tonic::Result<Response<pb::ExportMemberResponse>> {
        questline_kit::export::handle(&self.auth, &self.members, request, async |t, m| {
            self.store.export_member(t, m).await
        })
        .await
    }
}
