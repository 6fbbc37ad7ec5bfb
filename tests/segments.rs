//! Segments and the audit trail, as a programme manager and the brand's
//! backend use them through the mesh.

#![allow(clippy::unwrap_used)]

use questline_proto::identity::{self as id};
use questline_proto::rewards::AddVoucherCodesRequest;
use questline_tests::{Harness, Programme, each_backend, eventually};
use tonic::Code;

const COFFEE_IN_SG: &str =
    r#"member.country == "SG" && member.attributes.interests.exists(i, i == "coffee")"#;

async fn member(
    h: &Harness,
    p: &Programme,
    external_id: &str,
    country: &str,
    interests: &[&str],
    profiling: bool,
) -> String {
    let mut api = h.api(Some(&p.token));
    let attributes = serde_json::json!({ "interests": interests });
    let profile = id::Profile {
        country: country.into(),
        attributes: attributes
            .as_object()
            .map(questline_kit::structs::from_json),
        ..Default::default()
    };
    let member_id = api
        .upsert_member(&p.tenant_id, external_id, Some(profile))
        .await;
    api.identity
        .update_consent(id::UpdateConsentRequest {
            tenant_id: p.tenant_id.clone(),
            member_id: member_id.clone(),
            choices: vec![id::ConsentChoice {
                purpose: id::ConsentPurpose::Profiling as i32,
                granted: profiling,
            }],
            source: "app".into(),
        })
        .await
        .unwrap();
    member_id
}

fn create(p: &Programme, segment_id: &str, predicate: &str) -> id::CreateSegmentRequest {
    id::CreateSegmentRequest {
        tenant_id: p.tenant_id.clone(),
        segment_id: segment_id.into(),
        name: "Coffee lovers in Singapore".into(),
        description: "For the SG coffee launch".into(),
        predicate: predicate.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn segments_select_consenting_members_by_their_facts() {
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        let p = h.programme("segments").await;
        let mut api = h.api(Some(&p.token));
        let ana = member(&h, &p, "ana", "SG", &["coffee", "jazz"], true).await;
        let ben = member(&h, &p, "ben", "SG", &["tea"], true).await;
        let cy = member(&h, &p, "cy", "SG", &["coffee"], false).await;
        let dee = member(&h, &p, "dee", "FR", &["coffee"], true).await;
        let eve = member(&h, &p, "eve", "SG", &["coffee"], true).await;

        let created = api
            .identity
            .create_segment(create(&p, "sg-coffee", COFFEE_IN_SG))
            .await
            .unwrap();
        assert_eq!(
            created.into_inner().segment.unwrap().predicate,
            COFFEE_IN_SG
        );
        // Same definition again: the same segment; another one under the id: refused.
        api.identity
            .create_segment(create(&p, "sg-coffee", COFFEE_IN_SG))
            .await
            .unwrap();
        let clash = api
            .identity
            .create_segment(create(&p, "sg-coffee", "true"))
            .await;
        assert_eq!(clash.unwrap_err().code(), Code::AlreadyExists);

        let evaluate = |member_id: &str| id::EvaluateSegmentRequest {
            tenant_id: p.tenant_id.clone(),
            segment_id: "sg-coffee".into(),
            member_id: member_id.into(),
        };
        let ana_in = api
            .identity
            .evaluate_segment(evaluate(&ana))
            .await
            .unwrap()
            .into_inner();
        assert!(ana_in.member_in_segment && ana_in.reason.is_empty());
        let ben_in = api
            .identity
            .evaluate_segment(evaluate(&ben))
            .await
            .unwrap()
            .into_inner();
        assert!(!ben_in.member_in_segment && ben_in.reason.is_empty());
        let cy_in = api
            .identity
            .evaluate_segment(evaluate(&cy))
            .await
            .unwrap()
            .into_inner();
        assert!(!cy_in.member_in_segment && cy_in.reason.contains("profiling"));

        // Paged: one member a page, in joining order, then the end.
        let mut seen = Vec::new();
        let mut page_token = String::new();
        loop {
            let page = api
                .identity
                .list_segment_members(id::ListSegmentMembersRequest {
                    tenant_id: p.tenant_id.clone(),
                    segment_id: "sg-coffee".into(),
                    page_size: 1,
                    page_token: page_token.clone(),
                })
                .await
                .unwrap()
                .into_inner();
            assert!(page.members.len() <= 1);
            seen.extend(page.members.into_iter().map(|m| m.member_id));
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        assert_eq!(
            seen,
            [ana.clone(), eve.clone()],
            "dee is in FR, cy did not consent"
        );
        let _ = dee;

        // A changed predicate changes membership at once.
        api.identity
            .update_segment(id::UpdateSegmentRequest {
                tenant_id: p.tenant_id.clone(),
                segment_id: "sg-coffee".into(),
                predicate: Some(r#"member.attributes.interests.exists(i, i == "tea")"#.into()),
                ..Default::default()
            })
            .await
            .unwrap();
        let ben_in = api
            .identity
            .evaluate_segment(evaluate(&ben))
            .await
            .unwrap()
            .into_inner();
        assert!(ben_in.member_in_segment);

        api.identity
            .delete_segment(id::DeleteSegmentRequest {
                tenant_id: p.tenant_id.clone(),
                segment_id: "sg-coffee".into(),
            })
            .await
            .unwrap();
        let gone = api.identity.evaluate_segment(evaluate(&ben)).await;
        assert_eq!(gone.unwrap_err().code(), Code::NotFound);
        h.cleanup().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_predicate_is_refused_with_its_position_and_nothing_is_kept() {
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        let p = h.programme("predicates").await;
        let mut api = h.api(Some(&p.token));
        let validate = |predicate: &str| id::ValidateSegmentRequest {
            tenant_id: p.tenant_id.clone(),
            predicate: predicate.into(),
        };
        let ok = api
            .identity
            .validate_segment(validate(COFFEE_IN_SG))
            .await
            .unwrap()
            .into_inner();
        assert!(ok.valid && ok.errors.is_empty());
        let typo = "member.country == \"SG\" &&\n  membr.attributes.vip == true";
        let bad = api
            .identity
            .validate_segment(validate(typo))
            .await
            .unwrap()
            .into_inner();
        assert!(!bad.valid);
        assert_eq!(
            (bad.errors[0].line, bad.errors[0].column),
            (2, 3),
            "{:?}",
            bad.errors
        );
        let syntax = api
            .identity
            .validate_segment(validate("member.country =="))
            .await
            .unwrap()
            .into_inner();
        assert!(
            !syntax.valid && syntax.errors[0].line == 1 && !syntax.errors[0].message.is_empty()
        );

        let before = h.quiet_rows().await;
        for (segment_id, predicate) in [
            ("typo", typo),
            ("empty", ""),
            ("huge", &"true && ".repeat(1000)),
            ("", "true"),
            ("bad id!", "true"),
        ] {
            let answer = api
                .identity
                .create_segment(create(&p, segment_id, predicate))
                .await;
            let status = answer.unwrap_err();
            assert_eq!(
                status.code(),
                Code::InvalidArgument,
                "{segment_id}: {status:?}"
            );
        }
        let typo_status = api
            .identity
            .create_segment(create(&p, "typo", typo))
            .await
            .unwrap_err();
        assert!(
            typo_status.message().contains("line 2, column 3"),
            "{}",
            typo_status.message()
        );
        assert_eq!(h.quiet_rows().await, before);
        h.cleanup().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_admin_change_in_every_service_is_audited_with_its_client() {
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        let p = h.programme("audit").await;
        let mut api = h.api(Some(&p.token));
        api.identity
            .create_segment(create(&p, "everyone", "true"))
            .await
            .unwrap();
        api.rewards
            .add_voucher_codes(AddVoucherCodesRequest {
                tenant_id: p.tenant_id.clone(),
                reward_id: questline_tests::MUG.into(),
                codes: vec!["MUG-1".into(), "MUG-2".into()],
            })
            .await
            .unwrap();
        // The programme's set-up: the tenant and client by the operator, the
        // currency, rule and rewards by the backend client, then the above.
        let wanted = [
            (
                "operator",
                "questline.identity.v1.IdentityService/CreateTenant",
            ),
            (
                "operator",
                "questline.identity.v1.IdentityService/CreateApiClient",
            ),
            (
                p.client_id.as_str(),
                "questline.ledger.v1.LedgerService/CreateCurrency",
            ),
            (
                p.client_id.as_str(),
                "questline.mechanics.v1.MechanicsService/CreateRule",
            ),
            (
                p.client_id.as_str(),
                "questline.rewards.v1.RewardsService/CreateReward",
            ),
            (
                p.client_id.as_str(),
                "questline.identity.v1.IdentityService/CreateSegment",
            ),
            (
                p.client_id.as_str(),
                "questline.rewards.v1.RewardsService/AddVoucherCodes",
            ),
        ];
        let list = |client_id: &str, action_prefix: &str| id::ListAuditEntriesRequest {
            tenant_id: p.tenant_id.clone(),
            client_id: client_id.into(),
            action_prefix: action_prefix.into(),
            ..Default::default()
        };
        let entries = eventually("every audit entry", || {
            let mut api = h.api(Some(&p.token));
            let request = list("", "");
            async move {
                let entries = api
                    .identity
                    .list_audit_entries(request)
                    .await
                    .unwrap()
                    .into_inner()
                    .entries;
                let found = wanted.iter().all(|(client, action)| {
                    entries
                        .iter()
                        .any(|e| e.client_id == *client && e.action == *action)
                });
                found.then_some(entries)
            }
        })
        .await;
        // Newest first; the voucher upload says how many codes it added.
        assert_eq!(entries[0].action, wanted[6].1);
        let upload = questline_kit::structs::to_json(entries[0].details.clone().unwrap());
        assert_eq!(upload["added"].as_f64(), Some(2.0));
        assert_eq!(
            entries[0].resource,
            format!("rewards/{}", questline_tests::MUG)
        );

        // Filters: by client, by action prefix; paging without repeats.
        let by_operator = api
            .identity
            .list_audit_entries(list("operator", ""))
            .await
            .unwrap()
            .into_inner();
        assert!(
            by_operator
                .entries
                .iter()
                .all(|e| e.client_id == "operator")
        );
        assert!(by_operator.entries.len() >= 2);
        let rewards = api
            .identity
            .list_audit_entries(list("", "questline.rewards.v1."))
            .await
            .unwrap()
            .into_inner();
        assert!(rewards.entries.len() >= 2);
        assert!(
            rewards
                .entries
                .iter()
                .all(|e| e.action.starts_with("questline.rewards.v1."))
        );
        let first = api
            .identity
            .list_audit_entries(id::ListAuditEntriesRequest {
                page_size: 3,
                ..list("", "")
            })
            .await
            .unwrap()
            .into_inner();
        let second = api
            .identity
            .list_audit_entries(id::ListAuditEntriesRequest {
                page_size: 3,
                page_token: first.next_page_token.clone(),
                ..list("", "")
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(first.entries.len(), 3);
        assert!(
            second
                .entries
                .iter()
                .all(|e| first.entries.iter().all(|f| f.audit_id != e.audit_id))
        );
        assert!(
            second
                .entries
                .iter()
                .all(|e| e.audit_id < first.entries[2].audit_id)
        );

        // The action prefix is exact, case included, on every database.
        let shouting = api
            .identity
            .list_audit_entries(list("", "QUESTLINE.rewards.v1."))
            .await
            .unwrap()
            .into_inner();
        assert!(shouting.entries.is_empty());

        // Bad filters are refused; a member token sees no trail.
        let bad = api.identity.list_audit_entries(list("", "50%_off")).await;
        assert_eq!(bad.unwrap_err().code(), Code::InvalidArgument);
        let member_token = h.member_token(&p, &p.member_id).await;
        let denied = h
            .api(Some(&member_token))
            .identity
            .list_audit_entries(list("", ""))
            .await;
        assert_eq!(denied.unwrap_err().code(), Code::PermissionDenied);
        h.cleanup().await;
    })
    .await;
}
