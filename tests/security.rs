//! The security model through real gRPC: API keys rotate and revoke, tenants
//! suspend, signing keys rotate, and member tokens reach one member only.
//! Every switch-off is felt by every service, within seconds.

#![allow(clippy::unwrap_used)]

use questline_proto::identity::{self as id};
use questline_proto::ledger::{CreditRequest, GetBalancesRequest};
use questline_proto::mechanics::ListRulesRequest;
use questline_proto::notifications::ListInboxRequest;
use questline_proto::rewards::{GetRewardRequest, RedeemRequest};
use questline_tests::{Harness, PASTRY, Programme, each_backend};
use std::time::{Duration, Instant};
use tonic::Code;

/// One read per service with `token` for the programme: what each answers.
async fn every_service(h: &Harness, p: &Programme, token: &str) -> Vec<(&'static str, Code)> {
    let mut api = h.api(Some(token));
    let tenant_id = p.tenant_id.clone();
    let member_id = p.member_id.clone();
    let code = |r: Result<(), tonic::Status>| r.err().map(|s| s.code()).unwrap_or(Code::Ok);
    let identity = api
        .identity
        .get_member(id::GetMemberRequest {
            tenant_id: tenant_id.clone(),
            member_id: member_id.clone(),
            ..Default::default()
        })
        .await
        .map(drop);
    let ledger = api
        .ledger
        .get_balances(GetBalancesRequest {
            tenant_id: tenant_id.clone(),
            member_id: member_id.clone(),
            ..Default::default()
        })
        .await
        .map(drop);
    let mechanics = api
        .mechanics
        .list_rules(ListRulesRequest {
            tenant_id: tenant_id.clone(),
            ..Default::default()
        })
        .await
        .map(drop);
    let rewards = api
        .rewards
        .get_reward(GetRewardRequest {
            tenant_id: tenant_id.clone(),
            reward_id: PASTRY.into(),
        })
        .await
        .map(drop);
    let notifications = api
        .notifications
        .list_inbox(ListInboxRequest {
            tenant_id,
            member_id,
            ..Default::default()
        })
        .await
        .map(drop);
    vec![
        ("identity", code(identity)),
        ("ledger", code(ledger)),
        ("mechanics", code(mechanics)),
        ("rewards", code(rewards)),
        ("notifications", code(notifications)),
    ]
}

/// Waits until every service answers `token` with `expected`; returns how long it took.
async fn until_every_service(h: &Harness, p: &Programme, token: &str, expected: Code) -> Duration {
    let started = Instant::now();
    loop {
        let answers = every_service(h, p, token).await;
        if answers.iter().all(|(_, code)| *code == expected) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still {answers:?}, expected {expected:?} everywhere"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_rotate_with_grace_and_a_revoked_client_is_refused_everywhere_within_seconds() {
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        let p = h.programme("keys").await;
        assert!(p.api_key.starts_with("ql_live_"), "{}", p.api_key);
        assert_eq!(
            until_every_service(&h, &p, &p.token, Code::Ok)
                .await
                .as_secs(),
            0
        );

        // A rotation with grace: old and new keys both work, a replay shows no key.
        let second = h.rotate_key(&p, 3600, "rotate-1").await;
        assert!(second.starts_with("ql_live_") && second != p.api_key);
        assert_eq!(h.rotate_key(&p, 3600, "rotate-1").await, "");
        h.token_for(&p.api_key).await.unwrap();
        h.token_for(&second).await.unwrap();
        // Without grace the replaced key stops at once.
        let third = h.rotate_key(&p, 0, "rotate-2").await;
        for old in [&p.api_key, &second] {
            let refused = h.token_for(old).await.unwrap_err();
            assert_eq!(refused.code(), Code::Unauthenticated);
        }
        let token = h.token_for(&third).await.unwrap();

        // Listing shows prefixes and last use, never a key or its hash.
        let listed = h
            .api(Some(&token))
            .identity
            .list_api_clients(id::ListApiClientsRequest {
                tenant_id: p.tenant_id.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        let client = &listed.clients[0];
        assert_eq!(client.keys.len(), 1);
        assert!(third.starts_with(&client.key_prefix));
        assert!(client.keys[0].last_use_time.is_some());
        let shown = format!("{listed:?}");
        assert!(!shown.contains(&third[client.key_prefix.len()..]));

        // A malformed key is refused before any lookup.
        // One character changed (never to itself, or the "typo" would be the key).
        let (head, last) = third.split_at(third.len() - 1);
        let typo = format!("{head}{}", if last == "0" { "1" } else { "0" });
        assert_eq!(
            h.token_for(&typo).await.unwrap_err().code(),
            Code::Unauthenticated
        );

        // Revoked: no new token, and tokens already out are refused everywhere.
        let revoked = h
            .api(Some(&h.operator_token().await))
            .identity
            .revoke_api_client(id::RevokeApiClientRequest {
                tenant_id: p.tenant_id.clone(),
                client_id: p.client_id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .client
            .unwrap();
        assert_eq!(revoked.status, id::ApiClientStatus::Revoked as i32);
        let took = until_every_service(&h, &p, &token, Code::Unauthenticated).await;
        eprintln!("revocation felt by every service after {took:?}");
        assert!(took < Duration::from_secs(5), "revocation took {took:?}");
        assert_eq!(
            h.token_for(&third).await.unwrap_err().code(),
            Code::Unauthenticated
        );
        h.cleanup().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_suspended_tenant_is_refused_everywhere_until_the_operator_reactivates_it() {
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        let p = h.programme("suspend").await;
        let mut admin = h.api(Some(&p.token));
        let mut operator = h.api(Some(&h.operator_token().await));

        // The tenant's admin changes settings, but cannot suspend.
        let renamed = admin
            .identity
            .update_tenant(id::UpdateTenantRequest {
                tenant_id: p.tenant_id.clone(),
                name: Some("Renamed".into()),
                default_locale: Some("fr-FR".into()),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .tenant
            .unwrap();
        assert_eq!(
            (renamed.name.as_str(), renamed.time_zone.as_str()),
            ("Renamed", "Europe/London")
        );
        let suspend = id::UpdateTenantRequest {
            tenant_id: p.tenant_id.clone(),
            status: id::TenantStatus::Suspended as i32,
            ..Default::default()
        };
        let refused = admin
            .identity
            .update_tenant(suspend.clone())
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);

        operator.identity.update_tenant(suspend).await.unwrap();
        let took = until_every_service(&h, &p, &p.token, Code::PermissionDenied).await;
        eprintln!("suspension felt by every service after {took:?}");
        assert!(took < Duration::from_secs(5), "suspension took {took:?}");
        assert_eq!(
            h.token_for(&p.api_key).await.unwrap_err().code(),
            Code::PermissionDenied
        );

        let listed = operator
            .identity
            .list_tenants(id::ListTenantsRequest::default())
            .await
            .unwrap()
            .into_inner();
        let shown = listed
            .tenants
            .iter()
            .find(|t| t.tenant_id == p.tenant_id)
            .unwrap();
        assert_eq!(shown.status, id::TenantStatus::Suspended as i32);
        assert_eq!(
            admin
                .identity
                .list_tenants(id::ListTenantsRequest::default())
                .await
                .unwrap_err()
                .code(),
            Code::PermissionDenied
        );

        operator
            .identity
            .update_tenant(id::UpdateTenantRequest {
                tenant_id: p.tenant_id.clone(),
                status: id::TenantStatus::Active as i32,
                ..Default::default()
            })
            .await
            .unwrap();
        until_every_service(&h, &p, &p.token, Code::Ok).await;
        h.cleanup().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_token_reaches_its_own_member_only() {
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        let p = h.programme("members").await;
        let mut server = h.api(Some(&p.token));
        let other = server.upsert_member(&p.tenant_id, "bob", None).await;
        for member_id in [&p.member_id, &other] {
            server
                .ledger
                .credit(CreditRequest {
                    tenant_id: p.tenant_id.clone(),
                    member_id: member_id.clone(),
                    currency: "stars".into(),
                    amount: 50,
                    idempotency_key: format!("gift-{member_id}"),
                    reason: "welcome".into(),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        let minted = server
            .identity
            .issue_member_token(id::IssueMemberTokenRequest {
                tenant_id: p.tenant_id.clone(),
                member_id: p.member_id.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(minted.token_type, "Bearer");
        let token = minted.access_token;

        // Its own member in every service (rules are the programme's
        // configuration, not the member's), and a redemption end to end.
        let answers = every_service(&h, &p, &token).await;
        let expected = |service: &str| match service {
            "mechanics" => Code::PermissionDenied,
            _ => Code::Ok,
        };
        assert!(
            answers.iter().all(|(s, c)| *c == expected(s)),
            "{answers:?}"
        );
        let mut app = h.api(Some(&token));
        let redeemed = app
            .rewards
            .redeem(RedeemRequest {
                tenant_id: p.tenant_id.clone(),
                redemption_id: "app-1".into(),
                member_id: p.member_id.clone(),
                reward_id: PASTRY.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert!(!redeemed.redemption.unwrap().voucher_code.is_empty());

        // Another member: refused in every service, and nothing changes.
        let other_programme = Programme {
            member_id: other.clone(),
            ..p.clone()
        };
        let answers = every_service(&h, &other_programme, &token).await;
        let reachable: Vec<_> = answers
            .iter()
            .filter(|(service, code)| {
                // The catalogue is the programme's shop window, not a member's data.
                *service != "rewards" && *code != Code::PermissionDenied
            })
            .collect();
        assert!(reachable.is_empty(), "{answers:?}");
        let stolen = app
            .rewards
            .redeem(RedeemRequest {
                tenant_id: p.tenant_id.clone(),
                redemption_id: "app-2".into(),
                member_id: other.clone(),
                reward_id: PASTRY.into(),
            })
            .await
            .unwrap_err();
        assert_eq!(stolen.code(), Code::PermissionDenied);
        let balance = server
            .ledger
            .get_balances(GetBalancesRequest {
                tenant_id: p.tenant_id.clone(),
                member_id: other.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .balances;
        assert_eq!(balance[0].total, 50);

        // Not a backend: no credits, no admin calls, no minting.
        let credit = app
            .ledger
            .credit(CreditRequest {
                tenant_id: p.tenant_id.clone(),
                member_id: p.member_id.clone(),
                currency: "stars".into(),
                amount: 1_000,
                idempotency_key: "self-service".into(),
                reason: "free points".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(credit.code(), Code::PermissionDenied);
        let mint = app
            .identity
            .issue_member_token(id::IssueMemberTokenRequest {
                tenant_id: p.tenant_id.clone(),
                member_id: other,
            })
            .await
            .unwrap_err();
        assert_eq!(mint.code(), Code::PermissionDenied);

        // Revoking the server client that minted it ends the member token too.
        h.api(Some(&p.token))
            .identity
            .revoke_api_client(id::RevokeApiClientRequest {
                tenant_id: p.tenant_id.clone(),
                client_id: p.client_id.clone(),
            })
            .await
            .unwrap();
        until_every_service(&h, &p, &token, Code::Unauthenticated).await;
        h.cleanup().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn signing_keys_rotate_with_overlap_and_a_retired_key_stops_verifying_everywhere() {
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        let p = h.programme("signing").await;
        let mut operator = h.api(Some(&h.operator_token().await));
        let jwks = |keys: &id::GetJwksResponse| {
            keys.keys.iter().map(|k| k.kid.clone()).collect::<Vec<_>>()
        };
        let before = jwks(
            &operator
                .identity
                .get_jwks(id::GetJwksRequest {})
                .await
                .unwrap()
                .into_inner(),
        );
        assert_eq!(before.len(), 1);

        // Default overlap: both keys listed, tokens of either verify.
        let rotated = operator
            .identity
            .rotate_signing_key(id::RotateSigningKeyRequest::default())
            .await
            .unwrap()
            .into_inner();
        assert!(rotated.retired_kids.is_empty());
        let both = jwks(
            &operator
                .identity
                .get_jwks(id::GetJwksRequest {})
                .await
                .unwrap()
                .into_inner(),
        );
        assert_eq!(both, vec![rotated.kid.clone(), before[0].clone()]);
        let fresh = h.token_for(&p.api_key).await.unwrap();
        until_every_service(&h, &p, &p.token, Code::Ok).await;
        until_every_service(&h, &p, &fresh, Code::Ok).await;

        // A leaked key: overlap 0 ends every earlier key at once, everywhere.
        let emergency = operator
            .identity
            .rotate_signing_key(id::RotateSigningKeyRequest {
                overlap_seconds: Some(0),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(emergency.retired_kids.len(), 2);
        let took = until_every_service(&h, &p, &p.token, Code::Unauthenticated).await;
        eprintln!("retirement felt by every service after {took:?}");
        assert!(took < Duration::from_secs(5), "retirement took {took:?}");
        until_every_service(&h, &p, &fresh, Code::Unauthenticated).await;
        let now = jwks(
            &operator
                .identity
                .get_jwks(id::GetJwksRequest {})
                .await
                .unwrap()
                .into_inner(),
        );
        assert_eq!(now, vec![emergency.kid]);
        let newest = h.token_for(&p.api_key).await.unwrap();
        until_every_service(&h, &p, &newest, Code::Ok).await;

        // Only the operator rotates.
        let refused = h
            .api(Some(&newest))
            .identity
            .rotate_signing_key(id::RotateSigningKeyRequest::default())
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied);
        h.cleanup().await;
    })
    .await;
}

/// A token of the service key `key` acting for `tenant_id`.
async fn service_token(h: &Harness, key: &str, tenant_id: &str) -> Result<String, tonic::Status> {
    let request = id::IssueTokenRequest {
        api_key: key.into(),
        tenant_id: tenant_id.into(),
    };
    let answer = h.api(None).identity.issue_token(request).await?;
    Ok(answer.into_inner().access_token)
}

fn credit(p: &Programme, key: &str) -> CreditRequest {
    CreditRequest {
        tenant_id: p.tenant_id.clone(),
        member_id: p.member_id.clone(),
        currency: "stars".into(),
        amount: 5,
        reason: "recovered award".into(),
        idempotency_key: key.into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_service_token_does_its_services_duties_in_one_tenant_until_revoked() {
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        let (p, other) = (h.programme("svc").await, h.programme("svc-other").await);
        let mut operator = h.api(Some(&h.operator_token().await));
        let create = |tenant_id: &str, name: &str, scope: id::Scope| id::CreateApiClientRequest {
            tenant_id: tenant_id.into(),
            name: name.into(),
            scopes: vec![scope as i32],
            idempotency_key: format!("{tenant_id}-{name}"),
        };
        // Only the operator creates service clients, named after a service.
        let by_admin = h
            .api(Some(&p.token))
            .identity
            .create_api_client(create("_installation", "mechanics", id::Scope::Service))
            .await
            .unwrap_err();
        assert_eq!(by_admin.code(), Code::PermissionDenied, "{by_admin:?}");
        for (tenant_id, name, scope) in [
            ("_installation", "billing", id::Scope::Service),
            ("_installation", "mechanics", id::Scope::Server),
            (p.tenant_id.as_str(), "mechanics", id::Scope::Service),
        ] {
            let refused = operator
                .identity
                .create_api_client(create(tenant_id, name, scope))
                .await
                .unwrap_err();
            assert_eq!(refused.code(), Code::InvalidArgument, "{name} {scope:?}");
        }
        let created = operator
            .identity
            .create_api_client(create("_installation", "mechanics", id::Scope::Service))
            .await
            .unwrap()
            .into_inner();
        let (key, client_id) = (created.api_key, created.client.unwrap().client_id);

        // One tenant per token, named when asked; a tenant key cannot switch.
        let missing = service_token(&h, &key, "").await.unwrap_err();
        assert_eq!(missing.code(), Code::InvalidArgument);
        let nowhere = service_token(&h, &key, "no-such-tenant").await.unwrap_err();
        assert_eq!(nowhere.code(), Code::NotFound);
        let switched = service_token(&h, &p.api_key, &other.tenant_id)
            .await
            .unwrap_err();
        assert_eq!(switched.code(), Code::PermissionDenied);
        let token = service_token(&h, &key, &p.tenant_id).await.unwrap();

        // Its duties: credit awards and read members, in its tenant only.
        let mut service = h.api(Some(&token));
        service.ledger.credit(credit(&p, "svc-1")).await.unwrap();
        service
            .identity
            .get_member(id::GetMemberRequest {
                tenant_id: p.tenant_id.clone(),
                member_id: p.member_id.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        // ...and read its tenant's time zone, the default of rules, but not
        // change the tenant.
        let tenant = |tenant_id: &str| id::GetTenantRequest {
            tenant_id: tenant_id.into(),
        };
        let read = service.identity.get_tenant(tenant(&p.tenant_id)).await;
        assert!(
            !read
                .unwrap()
                .into_inner()
                .tenant
                .unwrap()
                .time_zone
                .is_empty()
        );
        let change = service
            .identity
            .update_tenant(id::UpdateTenantRequest {
                tenant_id: p.tenant_id.clone(),
                time_zone: Some("UTC".into()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(change.code(), Code::PermissionDenied);
        let theirs = service.identity.get_tenant(tenant(&other.tenant_id)).await;
        assert_eq!(theirs.unwrap_err().code(), Code::PermissionDenied);
        let elsewhere = service
            .ledger
            .credit(credit(&other, "svc-2"))
            .await
            .unwrap_err();
        assert_eq!(elsewhere.code(), Code::PermissionDenied);
        // Nothing else: no debit, no programme management.
        let debit = service
            .ledger
            .debit(questline_proto::ledger::DebitRequest {
                tenant_id: p.tenant_id.clone(),
                member_id: p.member_id.clone(),
                currency: "stars".into(),
                amount: 1,
                reason: "not a duty".into(),
                idempotency_key: "svc-3".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(debit.code(), Code::PermissionDenied);
        let answers = every_service(&h, &p, &token).await;
        assert_eq!(
            answers,
            vec![
                ("identity", Code::Ok),
                ("ledger", Code::PermissionDenied),
                ("mechanics", Code::PermissionDenied),
                ("rewards", Code::PermissionDenied),
                ("notifications", Code::PermissionDenied),
            ]
        );

        // Revoked like any client: its tokens stop everywhere within seconds.
        operator
            .identity
            .revoke_api_client(id::RevokeApiClientRequest {
                tenant_id: "_installation".into(),
                client_id,
            })
            .await
            .unwrap();
        let took = until_every_service(&h, &p, &token, Code::Unauthenticated).await;
        assert!(took < Duration::from_secs(5), "revocation took {took:?}");
        let refused = service_token(&h, &key, &p.tenant_id).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated);
        h.cleanup().await;
    })
    .await;
}
