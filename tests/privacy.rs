//! What the services keep: after an erasure no database holds the member's
//! personal values while the books stay as they were; no database and no log
//! line ever holds an API key or a token.

#![allow(clippy::unwrap_used)]

use questline_proto::identity::{self as id};
use questline_proto::ledger::CreditRequest;
use questline_proto::mechanics as mech;
use questline_tests::{
    Harness, PASTRY, each_backend, eventually, find_in, logs, purchase_rule, redeem, track,
};
use tonic::Code;

const ERIN: [&str; 5] = [
    "Erin Quigley-Zed",
    "erin.qz@example.org",
    "+6598765432",
    "1985-07-19",
    "crm-erin-5521",
];

fn erin() -> id::Profile {
    let attributes = serde_json::json!({"interests": ["running"]});
    id::Profile {
        display_name: ERIN[0].into(),
        email: ERIN[1].into(),
        phone: ERIN[2].into(),
        birthday: ERIN[3].into(),
        locale: "en-SG".into(),
        country: "SG".into(),
        attributes: attributes
            .as_object()
            .map(questline_kit::structs::from_json),
    }
}

/// The ledger's own rows (not its read models or event bookkeeping).
async fn books(h: &Harness) -> Vec<String> {
    let kept = [
        "ledger.member_snapshots",
        "ledger.inbox",
        "ledger.access_blocks",
    ];
    let mut rows: Vec<String> = h
        .database_rows()
        .await
        .into_iter()
        .filter(|(place, _)| place.starts_with("ledger.") && !kept.contains(&place.as_str()))
        .map(|(place, row)| format!("{place}: {row}"))
        .collect();
    rows.sort();
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_erased_member_leaves_no_personal_value_anywhere_and_the_books_unchanged() {
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        let p = h.programme("erasure").await;
        let mut api = h.api(Some(&p.token));
        let tenant = p.tenant_id.clone();
        let member_id = api.upsert_member(&tenant, ERIN[4], Some(erin())).await;
        api.identity
            .update_consent(id::UpdateConsentRequest {
                tenant_id: tenant.clone(),
                member_id: member_id.clone(),
                choices: vec![id::ConsentChoice {
                    purpose: id::ConsentPurpose::MarketingEmail as i32,
                    granted: true,
                }],
                source: "app".into(),
            })
            .await
            .unwrap();
        api.mechanics
            .track(track(&tenant, &member_id, "e1", 250.0))
            .await
            .unwrap();
        // A till that sends the receipt's email with the event, and a rule
        // that keeps it on the member: both are personal values too.
        let mut keeps_email = purchase_rule(&tenant, "keeps-email", "has(event.email)", "0");
        if let Some(rule) = keeps_email.rule.as_mut() {
            rule.actions = vec![mech::Action {
                action: Some(mech::action::Action::SetAttribute(mech::SetAttribute {
                    name: "receipt_email".into(),
                    value: "event.email".into(),
                })),
            }];
        }
        api.mechanics.create_rule(keeps_email).await.unwrap();
        // Under 10 spent: no stars, so no third inbox message.
        let mut receipt = track(&tenant, &member_id, "e-receipt", 5.0);
        if let Some(attributes) = receipt.attributes.as_mut() {
            attributes.fields.insert(
                "email".into(),
                prost_types::Value {
                    kind: Some(prost_types::value::Kind::StringValue(ERIN[1].into())),
                },
            );
        }
        api.mechanics.track(receipt).await.unwrap();
        api.rewards
            .redeem(redeem(&tenant, &member_id, "r1", PASTRY))
            .await
            .unwrap();
        eventually("two inbox messages", || {
            let mut api = h.api(Some(&p.token));
            let request = questline_proto::notifications::ListInboxRequest {
                tenant_id: tenant.clone(),
                member_id: member_id.clone(),
                ..Default::default()
            };
            async move {
                let page = api
                    .notifications
                    .list_inbox(request)
                    .await
                    .unwrap()
                    .into_inner();
                (page.messages.len() == 2).then_some(())
            }
        })
        .await;
        // The scan sees personal values where they are: in identity and in
        // every service's read model (birthday, external id).
        let before = h.find_in_databases(&ERIN).await;
        for service in [
            "identity.members",
            "ledger.member_snapshots",
            "notifications.member_snapshots",
            "mechanics.tracked_events",
            "mechanics.member_traits",
        ] {
            assert!(
                before.iter().any(|hit| hit.starts_with(service)),
                "{service}: {before:?}"
            );
        }
        let books_before = books(&h).await;
        export_gathers_every_service(&h, &p, &member_id).await;

        let erased = api
            .identity
            .erase_member(id::EraseMemberRequest {
                tenant_id: tenant.clone(),
                member_id: member_id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .member
            .unwrap();
        assert!(erased.erase_time.is_some());
        assert_eq!(
            erased.profile.unwrap(),
            id::Profile {
                attributes: Some(Default::default()),
                ..Default::default()
            }
        );
        // Each service has handled member.erased once its read model forgot the member.
        for service in ["ledger", "mechanics", "rewards", "notifications"] {
            let table = format!("{service}.member_snapshots");
            eventually(&format!("{service} to forget the member"), || async {
                let rows = h.database_rows().await;
                let row = rows
                    .iter()
                    .find(|(place, row)| *place == table && row.contains(&member_id));
                row.is_some_and(|(_, row)| !row.contains(ERIN[4]))
                    .then_some(())
            })
            .await;
        }

        let after = h.find_in_databases(&ERIN).await;
        assert!(after.is_empty(), "personal values left: {after:#?}");
        assert_eq!(books(&h).await, books_before);

        // An erased member can't be tracked, credited, redeemed or read.
        let tracked = api
            .mechanics
            .track(track(&tenant, &member_id, "e2", 100.0))
            .await;
        assert_eq!(tracked.unwrap_err().code(), Code::NotFound);
        let redeemed = api
            .rewards
            .redeem(redeem(&tenant, &member_id, "r2", PASTRY))
            .await;
        assert_eq!(redeemed.unwrap_err().code(), Code::NotFound);
        let credited = api
            .ledger
            .credit(CreditRequest {
                tenant_id: tenant.clone(),
                member_id: member_id.clone(),
                currency: "stars".into(),
                amount: 5,
                idempotency_key: "after-erasure".into(),
                reason: "gift".into(),
                ..Default::default()
            })
            .await;
        assert_eq!(credited.unwrap_err().code(), Code::NotFound);
        let read = api
            .identity
            .get_member(id::GetMemberRequest {
                tenant_id: tenant.clone(),
                member_id: member_id.clone(),
                ..Default::default()
            })
            .await;
        assert_eq!(read.unwrap_err().code(), Code::NotFound);
        let exported = api
            .identity
            .export_member(id::ExportMemberRequest {
                tenant_id: tenant.clone(),
                member_id: member_id.clone(),
            })
            .await;
        assert_eq!(exported.unwrap_err().code(), Code::NotFound);
        assert_eq!(books(&h).await, books_before);
        h.cleanup().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_key_or_token_is_kept_in_any_database_or_log_line() {
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        let p = h.programme("secrets").await;
        let mut server = h.api(Some(&p.token));
        let rotated = h.rotate_key(&p, 60, "rotate").await;
        let second_token = h.token_for(&rotated).await.unwrap();
        let member_token = h.member_token(&p, &p.member_id).await;
        server
            .mechanics
            .track(track(&p.tenant_id, &p.member_id, "e1", 250.0))
            .await
            .unwrap();
        let mut app = h.api(Some(&member_token));
        app.rewards
            .redeem(redeem(&p.tenant_id, &p.member_id, "r1", PASTRY))
            .await
            .unwrap();
        let operator_token = h.operator_token().await;

        let signature = |token: &str| token.rsplit('.').next().unwrap().to_string();
        let secret = |key: &str| key[key.len() - 40..].to_string();
        let secrets = [
            p.api_key.clone(),
            secret(&p.api_key),
            rotated.clone(),
            secret(&rotated),
            h.operator_key.clone(),
            p.token.clone(),
            signature(&p.token),
            second_token.clone(),
            signature(&second_token),
            member_token.clone(),
            signature(&member_token),
            operator_token.clone(),
            signature(&operator_token),
        ];
        let needles: Vec<&str> = secrets.iter().map(String::as_str).collect();

        // The scans do see what is there: prefixes in the database, the tenant in the logs.
        let prefix = &p.api_key[..20];
        assert!(!h.find_in_databases(&[prefix]).await.is_empty());
        let logged = logs();
        assert!(
            logged.contains("signing key") || logged.contains(&p.tenant_id) || logged.len() > 1000
        );

        let stored = h.find_in_databases(&needles).await;
        assert!(stored.is_empty(), "secrets stored: {stored:#?}");
        let leaked = find_in("logs", &logged, &needles);
        assert!(leaked.is_empty(), "secrets logged: {leaked:#?}");
        h.cleanup().await;
    })
    .await;
}

/// The member's own app asks for its data: one call returns identity's
/// record and every service's rows about the member.
async fn export_gathers_every_service(
    h: &Harness,
    p: &questline_tests::Programme,
    member_id: &str,
) {
    let token = h.member_token(p, member_id).await;
    let mut api = h.api(Some(&token));
    let export = api
        .identity
        .export_member(id::ExportMemberRequest {
            tenant_id: p.tenant_id.clone(),
            member_id: member_id.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(export.member.unwrap().profile.unwrap().email, ERIN[1]);
    let rows = |service: &str, table: &str| -> usize {
        let part = export
            .services
            .iter()
            .find(|s| s.service == service)
            .unwrap_or_else(|| panic!("{service} missing from the export"));
        let data = questline_kit::structs::to_json(part.data.clone().unwrap());
        data[table].as_array().map_or(0, Vec::len)
    };
    // The welcome credit from the rule, the redemption's hold and its debit.
    assert!(rows("ledger", "transfers") >= 2);
    assert_eq!(rows("ledger", "accounts"), 1);
    assert_eq!(rows("ledger", "holds"), 1);
    // The purchase and the receipt, and the attribute a rule kept.
    assert_eq!(rows("mechanics", "tracked_events"), 2);
    assert_eq!(rows("mechanics", "member_traits"), 1);
    assert_eq!(rows("rewards", "redemptions"), 1);
    assert_eq!(rows("notifications", "inbox_messages"), 2);
    for service in ["ledger", "mechanics", "rewards", "notifications"] {
        assert_eq!(rows(service, "member_snapshots"), 1, "{service}");
    }
}
