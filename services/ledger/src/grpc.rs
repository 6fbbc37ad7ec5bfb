//! `questline.ledger.v1.LedgerService`: decode, authenticate, validate,
//! authorise, call the store, map the answer.

mod currency;

use questline_kit::audit::Change;
use questline_kit::auth::{Caller, Scope, TokenVerifier};
use questline_kit::members::MemberDirectory;
use questline_kit::time::to_timestamp;
use questline_kit::{DomainError, Violations, fingerprint};
use questline_proto::ledger::ledger_service_server::{LedgerService, SERVICE_NAME};
use questline_proto::ledger::{self as pb};
use std::sync::Arc;
use tonic::{Request, Response, Status};

use crate::domain::Figures;
use crate::domain::hold::HoldStatus;
use crate::domain::requests::{Movement, hold_ttl};
use crate::store::entities::{hold, transfer};
use crate::store::{Posted, Store};

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

    /// What credit, debit and hold share: authenticate, validate, authorise,
    /// and check the member. Credits and debits are the brand's backend's; a
    /// member app may also hold its own member's points (to redeem them).
    async fn movement<R: MovementRequest>(
        &self,
        request: Request<R>,
        member_may: bool,
    ) -> Result<Movement, Status> {
        let caller = self.auth.caller(&request).await?;
        let m = request.get_ref().movement()?;
        if member_may {
            caller.require_member_access(&m.tenant_id, &m.member_id)?;
        } else {
            caller.require_server(&m.tenant_id)?;
        }
        self.known_member(&caller, &m.tenant_id, &m.member_id)
            .await?;
        Ok(m)
    }

    /// The brand's backend ends any hold of its tenant; a member app only its member's.
    async fn authorise_hold(
        &self,
        caller: &Caller,
        tenant_id: &str,
        hold_id: &str,
    ) -> Result<(), Status> {
        caller.require(tenant_id, &[Scope::Server, Scope::Admin, Scope::Member])?;
        if caller.is_member_only() {
            let hold = self.store.hold(tenant_id, hold_id).await?;
            caller.require_member_access(tenant_id, &hold.member_id)?;
        }
        Ok(())
    }

    /// Wallets belong to members the tenant knows: an unknown or another
    /// tenant's member is NOT_FOUND before anything is written.
    async fn known_member(
        &self,
        caller: &Caller,
        tenant_id: &str,
        member_id: &str,
    ) -> Result<(), Status> {
        self.members
            .get(tenant_id, member_id, &caller.token)
            .await?;
        Ok(())
    }
}

type Answer<T> = Result<Response<T>, Status>;

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
        .with("decimal_places", spec.decimal_places);
        let row = self
            .store
            .create_currency(&req.tenant_id, &spec, &change)
            .await?;
        Ok(Response::new(pb::CreateCurrencyResponse {
            currency: Some(currency::currency_pb(row)?),
        }))
    }

    async fn credit(&self, request: Request<pb::CreditRequest>) -> Answer<pb::CreditResponse> {
        let m = self.movement(request, false).await?;
        let Posted { transfer, wallet } = self.store.credit(&m).await?;
        Ok(Response::new(pb::CreditResponse {
            transfer: Some(transfer_pb(transfer)),
            balance: Some(balance_pb(&m.currency, wallet)),
        }))
    }

    async fn debit(&self, request: Request<pb::DebitRequest>) -> Answer<pb::DebitResponse> {
        let m = self.movement(request, false).await?;
        let Posted { transfer, wallet } = self.store.debit(&m).await?;
        Ok(Response::new(pb::DebitResponse {
            transfer: Some(transfer_pb(transfer)),
            balance: Some(balance_pb(&m.currency, wallet)),
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
            .finish()?;
        caller.require_member_access(&req.tenant_id, &req.member_id)?;
        self.known_member(&caller, &req.tenant_id, &req.member_id)
            .await?;
        let balances = self.store.balances(&req.tenant_id, &req.member_id).await?;
        Ok(Response::new(pb::GetBalancesResponse {
            balances: balances
                .into_iter()
                .map(|(c, f)| balance_pb(&c, f))
                .collect(),
        }))
    }

    async fn create_hold(
        &self,
        request: Request<pb::CreateHoldRequest>,
    ) -> Answer<pb::CreateHoldResponse> {
        let ttl_seconds = request.get_ref().ttl_seconds;
        let m = self.movement(request, true).await?;
        let ttl = hold_ttl(ttl_seconds)?;
        let row = self.store.create_hold(&m, ttl).await?;
        Ok(Response::new(pb::CreateHoldResponse {
            hold: Some(hold_pb(row)),
        }))
    }

    async fn commit_hold(
        &self,
        request: Request<pb::CommitHoldRequest>,
    ) -> Answer<pb::CommitHoldResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        hold_ref(&req.tenant_id, &req.hold_id)?;
        self.authorise_hold(&caller, &req.tenant_id, &req.hold_id)
            .await?;
        let row = self.store.commit_hold(&req.tenant_id, &req.hold_id).await?;
        Ok(Response::new(pb::CommitHoldResponse {
            hold: Some(hold_pb(row)),
        }))
    }

    async fn void_hold(
        &self,
        request: Request<pb::VoidHoldRequest>,
    ) -> Answer<pb::VoidHoldResponse> {
        let caller = self.auth.caller(&request).await?;
        let req = request.into_inner();
        hold_ref(&req.tenant_id, &req.hold_id)?;
        self.authorise_hold(&caller, &req.tenant_id, &req.hold_id)
            .await?;
        let row = self.store.void_hold(&req.tenant_id, &req.hold_id).await?;
        Ok(Response::new(pb::VoidHoldResponse {
            hold: Some(hold_pb(row)),
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

/// Requests that move a member's points: they carry the same fields.
trait MovementRequest: prost::Message + Sized {
    fn movement(&self) -> Result<Movement, DomainError>;
}

macro_rules! movement_request {
    ($($request:ty),*) => {$(
        impl MovementRequest for $request {
            fn movement(&self) -> Result<Movement, DomainError> {
                Movement::validate(
                    &self.tenant_id,
                    &self.member_id,
                    &self.currency,
                    self.amount,
                    &self.reason,
                    &self.idempotency_key,
                    fingerprint::of_call(stringify!($request), self),
                )
            }
        }
    )*};
}

movement_request!(pb::CreditRequest, pb::DebitRequest, pb::CreateHoldRequest);

fn hold_ref(tenant_id: &str, hold_id: &str) -> Result<(), Status> {
    Ok(Violations::new()
        .id("tenant_id", tenant_id)
        .id("hold_id", hold_id)
        .finish()?)
}

fn balance_pb(currency: &str, f: Figures) -> pb::Balance {
    pb::Balance {
        currency: currency.into(),
        total: f.total,
        held: f.held,
        available: f.available(),
    }
}

fn transfer_pb(t: transfer::Model) -> pb::Transfer {
    pb::Transfer {
        transfer_id: t.transfer_id,
        tenant_id: t.tenant_id,
        currency: t.currency,
        debit_account: t.debit_owner,
        credit_account: t.credit_owner,
        amount: t.amount,
        reason: t.reason,
        create_time: Some(to_timestamp(t.created_at)),
    }
}

fn hold_pb(h: hold::Model) -> pb::Hold {
    let status = match HoldStatus::parse(&h.status)
        .map(|s| s.at(h.expires_at, questline_kit::time::now_ms()))
    {
        Ok(HoldStatus::Pending) => pb::HoldStatus::Pending,
        Ok(HoldStatus::Committed) => pb::HoldStatus::Committed,
        Ok(HoldStatus::Voided) => pb::HoldStatus::Voided,
        Ok(HoldStatus::Expired) => pb::HoldStatus::Expired,
        Err(_) => pb::HoldStatus::Unspecified,
    };
    pb::Hold {
        hold_id: h.hold_id,
        tenant_id: h.tenant_id,
        member_id: h.member_id,
        currency: h.currency,
        amount: h.amount,
        status: status as i32,
        expire_time: Some(to_timestamp(h.expires_at)),
        transfer_id: h.transfer_id.unwrap_or_default(),
    }
}
