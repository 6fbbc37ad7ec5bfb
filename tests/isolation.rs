//! The isolation matrix. Every RPC of every service, enumerated from the
//! service descriptors, is attacked three ways:
//! - `OtherTenant`: tenant A's admin+server token naming tenant B and B's ids;
//! - `ForeignIds`: A's token naming its own tenant but B's ids;
//! - `OtherMember`: a member token for A's member M1 naming M2's data, or an
//!   admin or backend call.
//!
//! Each must be refused (NOT_FOUND or PERMISSION_DENIED) unless listed in
//! `ALLOWED` with its reason, and no database may change. A new RPC without a
//! case here fails the test.

#![allow(clippy::unwrap_used)]

use prost::Message;
use questline_proto::identity::{self as id};
use questline_proto::ledger::{
    self as ledger_pb, CommitHoldRequest, CreateCurrencyRequest, CreateHoldRequest,
    CreditBatchRequest, CreditRequest, DebitRequest, GetBalancesRequest, VoidHoldRequest,
};
use questline_proto::mechanics::{ListRulesRequest, TrackBatchRequest, TrackBatchResponse};
use questline_proto::notifications::{self as notify, ListInboxRequest};
use questline_proto::rewards::{
    AddVoucherCodesRequest, CreateRewardRequest, GetRedemptionRequest, GetRewardRequest,
    ListRewardsRequest,
};
use questline_proto::{ledger, mechanics, notifications, rewards};
use questline_tests::{
    Api, Harness, PASTRY, Programme, each_backend, purchase_rule, redeem, track,
};
use std::collections::BTreeSet;
use tonic::{Code, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attacker {
    OtherTenant,
    ForeignIds,
    OtherMember,
}

/// Calls that may succeed, and why.
const ALLOWED: &[(&str, Option<Attacker>, &str)] = &[
    (
        "IdentityService/GetJwks",
        None,
        "the public key set is public",
    ),
    (
        "RewardsService/GetReward",
        Some(Attacker::OtherMember),
        "the catalogue is the tenant's shop window, read by member apps",
    ),
    (
        "RewardsService/ListRewards",
        Some(Attacker::OtherMember),
        "the catalogue is the tenant's shop window, read by member apps",
    ),
];

/// RPCs that name no object but the tenant: `ForeignIds` does not apply.
const TENANT_ONLY: &[&str] = &[
    "IdentityService/CreateTenant",
    "IdentityService/GetTenant",
    "IdentityService/ListTenants",
    "IdentityService/UpdateTenant",
    "IdentityService/CreateApiClient",
    "IdentityService/ListApiClients",
    "IdentityService/IssueToken",
    "IdentityService/GetJwks",
    "IdentityService/RotateSigningKey",
    "IdentityService/UpsertMember",
    "IdentityService/ListMembers",
    "LedgerService/CreateCurrency",
    "LedgerService/OpenAccount",
    "LedgerService/GetProgrammeTotals",
    "MechanicsService/CreateRule",
    "MechanicsService/ListRules",
    // Rule and event ids are the tenant's own words: another tenant may use
    // the same ones for its own rules and events.
    "MechanicsService/UpdateRule",
    "MechanicsService/GetRule",
    "MechanicsService/ListRuleVersions",
    "MechanicsService/ActivateRule",
    "MechanicsService/ShadowRule",
    "MechanicsService/PauseRule",
    "MechanicsService/ArchiveRule",
    "MechanicsService/ValidateRule",
    "MechanicsService/ExplainEvent",
    "MechanicsService/SimulateRules",
    "MechanicsService/PutEventSchema",
    "MechanicsService/GetEventSchema",
    "MechanicsService/ListEventSchemas",
    "MechanicsService/DeleteEventSchema",
    "MechanicsService/PutCounter",
    "MechanicsService/GetCounter",
    // Endpoint ids are the tenant's own words too; the delivery log's
    // filters name only the tenant's endpoints.
    "NotificationsService/PutWebhookEndpoint",
    "NotificationsService/GetWebhookEndpoint",
    "NotificationsService/ListWebhookEndpoints",
    "NotificationsService/DeleteWebhookEndpoint",
    "NotificationsService/GetWebhookSecret",
    "NotificationsService/RotateWebhookSecret",
    "NotificationsService/ListWebhookDeliveries",
    // So are event types and template locales.
    "NotificationsService/PutNotificationTrigger",
    "NotificationsService/GetNotificationTrigger",
    "NotificationsService/ListNotificationTriggers",
    "NotificationsService/DeleteNotificationTrigger",
    "NotificationsService/PutMessageTemplate",
    "NotificationsService/GetMessageTemplate",
    "NotificationsService/ListMessageTemplates",
    "NotificationsService/ListMessageTemplateVersions",
    "NotificationsService/DeleteMessageTemplate",
    "NotificationsService/PreviewMessageTemplate",
    "NotificationsService/GetMessagingSettings",
    "NotificationsService/UpdateMessagingSettings",
    "MechanicsService/ListCounters",
    "MechanicsService/DeleteCounter",
    "RewardsService/CreateReward",
    "RewardsService/GetReward",
    "RewardsService/ListRewards",
    "RewardsService/AddVoucherCodes",
    "IdentityService/CreateSegment",
    "IdentityService/ListSegments",
    "IdentityService/ValidateSegment",
    "IdentityService/ListAuditEntries",
];

/// The rule every programme of the harness has.
const RULE: &str = "stars-per-purchase";

/// What an attack names.
#[derive(Debug, Clone)]
struct Target {
    tenant_id: String,
    member_id: String,
    client_id: String,
    hold_id: String,
    segment_id: String,
    /// The member's welcome credit.
    transfer_id: String,
    /// The member's pastry.
    redemption_id: String,
    /// A webhook delivery of the tenant's.
    delivery_id: String,
}

/// Every RPC of the five services, as `Service/Method`.
fn every_rpc() -> BTreeSet<String> {
    let set = prost_types::FileDescriptorSet::decode(questline_proto::FILE_DESCRIPTOR_SET).unwrap();
    set.file
        .iter()
        .filter(|f| f.package().starts_with("questline."))
        .flat_map(|f| f.service.iter())
        .flat_map(|s| {
            s.method
                .iter()
                .map(move |m| format!("{}/{}", s.name(), m.name()))
        })
        .collect()
}

/// Calls `rpc` naming `t`; `None` if the matrix has no case for it.
async fn call(rpc: &str, api: &mut Api, t: &Target) -> Option<Result<(), Status>> {
    let tenant_id = t.tenant_id.clone();
    let member_id = t.member_id.clone();
    match rpc {
        "IdentityService/CreateTenant" => done(
            api.identity
                .create_tenant(id::CreateTenantRequest {
                    tenant_id: "intruder-made".into(),
                    name: "x".into(),
                    ..Default::default()
                })
                .await,
        ),
        "IdentityService/GetTenant" => done(
            api.identity
                .get_tenant(id::GetTenantRequest { tenant_id })
                .await,
        ),
        "IdentityService/ListTenants" => done(
            api.identity
                .list_tenants(id::ListTenantsRequest::default())
                .await,
        ),
        "IdentityService/UpdateTenant" => done(
            api.identity
                .update_tenant(id::UpdateTenantRequest {
                    tenant_id,
                    name: Some("taken over".into()),
                    status: id::TenantStatus::Suspended as i32,
                    ..Default::default()
                })
                .await,
        ),
        "IdentityService/CreateApiClient" => done(
            api.identity
                .create_api_client(id::CreateApiClientRequest {
                    tenant_id,
                    name: "intruder".into(),
                    scopes: vec![id::Scope::Admin as i32],
                    idempotency_key: "intruder".into(),
                })
                .await,
        ),
        "IdentityService/ListApiClients" => done(
            api.identity
                .list_api_clients(id::ListApiClientsRequest {
                    tenant_id,
                    ..Default::default()
                })
                .await,
        ),
        "IdentityService/RotateApiKey" => done(
            api.identity
                .rotate_api_key(id::RotateApiKeyRequest {
                    tenant_id,
                    client_id: t.client_id.clone(),
                    grace_seconds: 0,
                    idempotency_key: "intruder".into(),
                })
                .await,
        ),
        "IdentityService/RevokeApiClient" => done(
            api.identity
                .revoke_api_client(id::RevokeApiClientRequest {
                    tenant_id,
                    client_id: t.client_id.clone(),
                })
                .await,
        ),
        // The key alone decides the tenant: a made-up key gets nothing.
        "IdentityService/IssueToken" => done(
            api.identity
                .issue_token(id::IssueTokenRequest {
                    api_key: format!("ql_live_{}", "0".repeat(53)),
                    tenant_id: String::new(),
                })
                .await,
        ),
        "IdentityService/IssueMemberToken" => done(
            api.identity
                .issue_member_token(id::IssueMemberTokenRequest {
                    tenant_id,
                    member_id,
                })
                .await,
        ),
        "IdentityService/GetJwks" => done(api.identity.get_jwks(id::GetJwksRequest {}).await),
        "IdentityService/RotateSigningKey" => done(
            api.identity
                .rotate_signing_key(id::RotateSigningKeyRequest {
                    overlap_seconds: Some(0),
                })
                .await,
        ),
        "IdentityService/UpsertMember" => done(
            api.identity
                .upsert_member(id::UpsertMemberRequest {
                    tenant_id,
                    external_id: "intruder".into(),
                    profile: None,
                })
                .await,
        ),
        "IdentityService/GetMember" => done(
            api.identity
                .get_member(id::GetMemberRequest {
                    tenant_id,
                    member_id,
                    ..Default::default()
                })
                .await,
        ),
        "IdentityService/ListMembers" => done(
            api.identity
                .list_members(id::ListMembersRequest {
                    tenant_id,
                    ..Default::default()
                })
                .await,
        ),
        "IdentityService/UpdateConsent" => done(
            api.identity
                .update_consent(id::UpdateConsentRequest {
                    tenant_id,
                    member_id,
                    choices: vec![id::ConsentChoice {
                        purpose: id::ConsentPurpose::Sms as i32,
                        granted: true,
                    }],
                    source: "intruder".into(),
                })
                .await,
        ),
        "IdentityService/EraseMember" => done(
            api.identity
                .erase_member(id::EraseMemberRequest {
                    tenant_id,
                    member_id,
                })
                .await,
        ),
        "LedgerService/CreateCurrency" => done(
            api.ledger
                .create_currency(CreateCurrencyRequest {
                    tenant_id,
                    code: "gems".into(),
                    name: "Gems".into(),
                    ..Default::default()
                })
                .await,
        ),
        "LedgerService/Credit" => done(
            api.ledger
                .credit(CreditRequest {
                    tenant_id,
                    member_id,
                    currency: "stars".into(),
                    amount: 1_000,
                    reason: "intruder".into(),
                    idempotency_key: "intruder".into(),
                    ..Default::default()
                })
                .await,
        ),
        "LedgerService/CreditBatch" => {
            let credit = CreditRequest {
                tenant_id: String::new(),
                member_id,
                currency: "stars".into(),
                amount: 1_000,
                reason: "intruder".into(),
                idempotency_key: "intruder-batch".into(),
                ..Default::default()
            };
            let batch = CreditBatchRequest {
                tenant_id,
                credits: vec![credit],
            };
            Some(api.ledger.credit_batch(batch).await.and_then(|answer| {
                let mut outcomes = answer.into_inner().outcomes;
                let outcome = outcomes.remove(0);
                refusal(outcome.error.map(|e| (e.code, e.message)))
            }))
        }
        "LedgerService/Debit" => done(
            api.ledger
                .debit(DebitRequest {
                    tenant_id,
                    member_id,
                    currency: "stars".into(),
                    amount: 1,
                    reason: "intruder".into(),
                    idempotency_key: "intruder".into(),
                    ..Default::default()
                })
                .await,
        ),
        "LedgerService/GetBalances" => done(
            api.ledger
                .get_balances(GetBalancesRequest {
                    tenant_id,
                    member_id,
                    ..Default::default()
                })
                .await,
        ),
        "LedgerService/CreateHold" => done(
            api.ledger
                .create_hold(CreateHoldRequest {
                    tenant_id,
                    member_id,
                    currency: "stars".into(),
                    amount: 1,
                    reason: "intruder".into(),
                    ttl_seconds: 60,
                    idempotency_key: "intruder".into(),
                })
                .await,
        ),
        "LedgerService/CommitHold" => done(
            api.ledger
                .commit_hold(CommitHoldRequest {
                    tenant_id,
                    hold_id: t.hold_id.clone(),
                    amount: 0,
                })
                .await,
        ),
        "LedgerService/Transfer" => done(
            api.ledger
                .transfer(ledger_pb::TransferRequest {
                    tenant_id,
                    legs: vec![ledger_pb::Leg {
                        currency: "stars".into(),
                        debit_account: "system:issuance".into(),
                        credit_account: format!("member:{member_id}"),
                        amount: 1_000,
                    }],
                    idempotency_key: "intruder".into(),
                    ..Default::default()
                })
                .await,
        ),
        "LedgerService/ReverseTransfer" => done(
            api.ledger
                .reverse_transfer(ledger_pb::ReverseTransferRequest {
                    tenant_id,
                    transfer_id: t.transfer_id.clone(),
                    idempotency_key: "intruder".into(),
                    ..Default::default()
                })
                .await,
        ),
        "LedgerService/GetTransfer" => done(
            api.ledger
                .get_transfer(ledger_pb::GetTransferRequest {
                    tenant_id,
                    lookup: Some(ledger_pb::get_transfer_request::Lookup::TransferId(
                        t.transfer_id.clone(),
                    )),
                })
                .await,
        ),
        "LedgerService/OpenAccount" => done(
            api.ledger
                .open_account(ledger_pb::OpenAccountRequest {
                    tenant_id,
                    currency: "stars".into(),
                    name: "partner:intruder".into(),
                    may_go_negative: true,
                })
                .await,
        ),
        "LedgerService/CloseAccount" => done(
            api.ledger
                .close_account(ledger_pb::CloseAccountRequest {
                    tenant_id,
                    currency: "stars".into(),
                    name: format!("member:{member_id}"),
                })
                .await,
        ),
        "LedgerService/GetAccount" => done(
            api.ledger
                .get_account(ledger_pb::GetAccountRequest {
                    tenant_id,
                    currency: "stars".into(),
                    name: format!("member:{member_id}"),
                })
                .await,
        ),
        "LedgerService/ListAccountEntries" => done(
            api.ledger
                .list_account_entries(ledger_pb::ListAccountEntriesRequest {
                    tenant_id,
                    currency: "stars".into(),
                    name: format!("member:{member_id}"),
                    ..Default::default()
                })
                .await,
        ),
        "LedgerService/GetProgrammeTotals" => done(
            api.ledger
                .get_programme_totals(ledger_pb::GetProgrammeTotalsRequest {
                    tenant_id,
                    currency: String::new(),
                })
                .await,
        ),
        "LedgerService/VoidHold" => done(
            api.ledger
                .void_hold(VoidHoldRequest {
                    tenant_id,
                    hold_id: t.hold_id.clone(),
                })
                .await,
        ),
        "MechanicsService/CreateRule" => done(
            api.mechanics
                .create_rule(purchase_rule(&tenant_id, "intruder", "true", "1000.0"))
                .await,
        ),
        "MechanicsService/ListRules" => done(
            api.mechanics
                .list_rules(ListRulesRequest {
                    tenant_id,
                    ..Default::default()
                })
                .await,
        ),
        "MechanicsService/Track" => done(
            api.mechanics
                .track(track(&tenant_id, &member_id, "intruder", 1_000.0))
                .await,
        ),
        "RewardsService/CreateReward" => done(
            api.rewards
                .create_reward(CreateRewardRequest {
                    tenant_id,
                    reward_id: "intruder".into(),
                    name: "free".into(),
                    currency: "stars".into(),
                    price: 1,
                    stock: 1,
                    voucher_source: 1,
                })
                .await,
        ),
        "RewardsService/ListRewards" => done(
            api.rewards
                .list_rewards(ListRewardsRequest {
                    tenant_id,
                    ..Default::default()
                })
                .await,
        ),
        "MechanicsService/UpdateRule" => {
            let mut update = purchase_rule(&tenant_id, RULE, "true", "1000.0");
            done(
                api.mechanics
                    .update_rule(mechanics::UpdateRuleRequest {
                        tenant_id,
                        rule: update.rule.take(),
                        expected_version: 0,
                        rule_id: RULE.into(),
                    })
                    .await,
            )
        }
        "MechanicsService/GetRule" => done(
            api.mechanics
                .get_rule(mechanics::GetRuleRequest {
                    tenant_id,
                    rule_id: RULE.into(),
                    version: 0,
                })
                .await,
        ),
        "MechanicsService/ListRuleVersions" => done(
            api.mechanics
                .list_rule_versions(mechanics::ListRuleVersionsRequest {
                    tenant_id,
                    rule_id: RULE.into(),
                })
                .await,
        ),
        "MechanicsService/ActivateRule" => done(
            api.mechanics
                .activate_rule(mechanics::ActivateRuleRequest {
                    tenant_id,
                    rule_id: RULE.into(),
                })
                .await,
        ),
        "MechanicsService/ShadowRule" => done(
            api.mechanics
                .shadow_rule(mechanics::ShadowRuleRequest {
                    tenant_id,
                    rule_id: RULE.into(),
                })
                .await,
        ),
        "MechanicsService/PauseRule" => done(
            api.mechanics
                .pause_rule(mechanics::PauseRuleRequest {
                    tenant_id,
                    rule_id: RULE.into(),
                })
                .await,
        ),
        "MechanicsService/ArchiveRule" => done(
            api.mechanics
                .archive_rule(mechanics::ArchiveRuleRequest {
                    tenant_id,
                    rule_id: RULE.into(),
                })
                .await,
        ),
        "MechanicsService/ValidateRule" => {
            let mut rule = purchase_rule(&tenant_id, RULE, "true", "1");
            done(
                api.mechanics
                    .validate_rule(mechanics::ValidateRuleRequest {
                        tenant_id,
                        rule: rule.rule.take(),
                    })
                    .await,
            )
        }
        "MechanicsService/ExplainEvent" => done(
            api.mechanics
                .explain_event(mechanics::ExplainEventRequest {
                    tenant_id,
                    event_id: "e-1".into(),
                })
                .await,
        ),
        "MechanicsService/SimulateRules" => done(
            api.mechanics
                .simulate_rules(mechanics::SimulateRulesRequest {
                    tenant_id,
                    start_time: Some(prost_types::Timestamp::default()),
                    end_time: Some(prost_types::Timestamp {
                        seconds: 86_400,
                        nanos: 0,
                    }),
                    ..Default::default()
                })
                .await,
        ),
        "MechanicsService/PutEventSchema" => done(
            api.mechanics
                .put_event_schema(mechanics::PutEventSchemaRequest {
                    tenant_id,
                    event_type: "purchase".into(),
                    schema: Some(mechanics::EventSchema {
                        attributes: vec![mechanics::EventAttribute {
                            name: "amount".into(),
                            r#type: mechanics::AttributeType::Number as i32,
                            required: true,
                            description: String::new(),
                        }],
                        ..Default::default()
                    }),
                    expected_version: 0,
                })
                .await,
        ),
        "MechanicsService/GetEventSchema" => done(
            api.mechanics
                .get_event_schema(mechanics::GetEventSchemaRequest {
                    tenant_id,
                    event_type: "purchase".into(),
                })
                .await,
        ),
        "MechanicsService/ListEventSchemas" => done(
            api.mechanics
                .list_event_schemas(mechanics::ListEventSchemasRequest {
                    tenant_id,
                    ..Default::default()
                })
                .await,
        ),
        "MechanicsService/DeleteEventSchema" => done(
            api.mechanics
                .delete_event_schema(mechanics::DeleteEventSchemaRequest {
                    tenant_id,
                    event_type: "purchase".into(),
                })
                .await,
        ),
        "MechanicsService/PutCounter" => done(
            api.mechanics
                .put_counter(mechanics::PutCounterRequest {
                    tenant_id,
                    counter_id: "scans_today".into(),
                    counter: Some(mechanics::Counter {
                        event_types: vec!["qr_scan".into()],
                        period: mechanics::Period::Day as i32,
                        time_zone: "Europe/London".into(),
                        ..Default::default()
                    }),
                    expected_version: 0,
                })
                .await,
        ),
        "MechanicsService/GetCounter" => done(
            api.mechanics
                .get_counter(mechanics::GetCounterRequest {
                    tenant_id,
                    counter_id: "scans_today".into(),
                })
                .await,
        ),
        "MechanicsService/ListCounters" => done(
            api.mechanics
                .list_counters(mechanics::ListCountersRequest {
                    tenant_id,
                    ..Default::default()
                })
                .await,
        ),
        "MechanicsService/DeleteCounter" => done(
            api.mechanics
                .delete_counter(mechanics::DeleteCounterRequest {
                    tenant_id,
                    counter_id: "scans_today".into(),
                })
                .await,
        ),
        "MechanicsService/GetMemberCounters" => done(
            api.mechanics
                .get_member_counters(mechanics::GetMemberCountersRequest {
                    tenant_id,
                    member_id: t.member_id.clone(),
                })
                .await,
        ),
        "RewardsService/GetRedemption" => done(
            api.rewards
                .get_redemption(GetRedemptionRequest {
                    tenant_id,
                    redemption_id: t.redemption_id.clone(),
                })
                .await,
        ),
        "MechanicsService/TrackBatch" => {
            let event = track(&tenant_id, &member_id, "intruder-batch", 1_000.0);
            let batch = TrackBatchRequest {
                tenant_id,
                events: vec![event],
            };
            Some(
                api.mechanics
                    .track_batch(batch)
                    .await
                    .and_then(first_outcome),
            )
        }
        "RewardsService/GetReward" => done(
            api.rewards
                .get_reward(GetRewardRequest {
                    tenant_id,
                    reward_id: PASTRY.into(),
                })
                .await,
        ),
        "RewardsService/AddVoucherCodes" => done(
            api.rewards
                .add_voucher_codes(AddVoucherCodesRequest {
                    tenant_id,
                    reward_id: PASTRY.into(),
                    codes: vec!["INTRUDER".into()],
                })
                .await,
        ),
        "RewardsService/Redeem" => done(
            api.rewards
                .redeem(redeem(&tenant_id, &member_id, "intruder", PASTRY))
                .await,
        ),
        "NotificationsService/ListInbox" => done(
            api.notifications
                .list_inbox(ListInboxRequest {
                    tenant_id,
                    member_id,
                    ..Default::default()
                })
                .await,
        ),
        "NotificationsService/GetInboxSummary" => done(
            api.notifications
                .get_inbox_summary(notify::GetInboxSummaryRequest {
                    tenant_id,
                    member_id,
                })
                .await,
        ),
        "NotificationsService/MarkInboxRead" => done(
            api.notifications
                .mark_inbox_read(notify::MarkInboxReadRequest {
                    tenant_id,
                    member_id,
                    all: true,
                    ..Default::default()
                })
                .await,
        ),
        "NotificationsService/DeleteInboxMessage" => done(
            api.notifications
                .delete_inbox_message(notify::DeleteInboxMessageRequest {
                    tenant_id,
                    member_id,
                    message_id: "01a242f4-0926-77f5-9b24-7e66a706fc16".into(),
                })
                .await,
        ),
        "NotificationsService/GetMessagePreferences" => done(
            api.notifications
                .get_message_preferences(notify::GetMessagePreferencesRequest {
                    tenant_id,
                    member_id,
                })
                .await,
        ),
        "NotificationsService/UpdateMessagePreferences" => done(
            api.notifications
                .update_message_preferences(notify::UpdateMessagePreferencesRequest {
                    tenant_id,
                    member_id,
                    topics_off: vec!["offers".into()],
                    ..Default::default()
                })
                .await,
        ),
        "NotificationsService/ListDispatches" => done(
            api.notifications
                .list_dispatches(notify::ListDispatchesRequest {
                    tenant_id,
                    member_id,
                    ..Default::default()
                })
                .await,
        ),
        // A link names its member itself: the attacker forges one for the
        // target, signed with a key of their own.
        "NotificationsService/Unsubscribe" => done(
            api.notifications
                .unsubscribe(notify::UnsubscribeRequest {
                    token: forged_unsubscribe(&tenant_id, &member_id),
                })
                .await,
        ),
        "NotificationsService/WatchInbox" => done(
            api.notifications
                .watch_inbox(notify::WatchInboxRequest {
                    tenant_id,
                    member_id,
                    ..Default::default()
                })
                .await,
        ),
        _ => call_for_member_data(rpc, api, t).await,
    }
}

/// Webhook endpoints, secrets and deliveries: admin calls.
async fn call_for_webhooks(rpc: &str, api: &mut Api, t: &Target) -> Option<Result<(), Status>> {
    let tenant_id = t.tenant_id.clone();
    let endpoint_id = WEBHOOK.to_string();
    let delivery_id = t.delivery_id.clone();
    let n = &mut api.notifications;
    match rpc {
        "NotificationsService/PutWebhookEndpoint" => done(
            n.put_webhook_endpoint(notify::PutWebhookEndpointRequest {
                tenant_id,
                endpoint_id,
                url: "http://127.0.0.1:9/intruder".into(),
                enabled: true,
                ..Default::default()
            })
            .await,
        ),
        "NotificationsService/GetWebhookEndpoint" => done(
            n.get_webhook_endpoint(notify::GetWebhookEndpointRequest {
                tenant_id,
                endpoint_id,
            })
            .await,
        ),
        "NotificationsService/ListWebhookEndpoints" => done(
            n.list_webhook_endpoints(notify::ListWebhookEndpointsRequest {
                tenant_id,
                ..Default::default()
            })
            .await,
        ),
        "NotificationsService/DeleteWebhookEndpoint" => done(
            n.delete_webhook_endpoint(notify::DeleteWebhookEndpointRequest {
                tenant_id,
                endpoint_id,
            })
            .await,
        ),
        "NotificationsService/GetWebhookSecret" => done(
            n.get_webhook_secret(notify::GetWebhookSecretRequest {
                tenant_id,
                endpoint_id,
            })
            .await,
        ),
        "NotificationsService/RotateWebhookSecret" => done(
            n.rotate_webhook_secret(notify::RotateWebhookSecretRequest {
                tenant_id,
                endpoint_id,
                grace_seconds: 60,
                idempotency_key: "intruder".into(),
            })
            .await,
        ),
        "NotificationsService/ListWebhookDeliveries" => done(
            n.list_webhook_deliveries(notify::ListWebhookDeliveriesRequest {
                tenant_id,
                ..Default::default()
            })
            .await,
        ),
        "NotificationsService/GetWebhookDelivery" => done(
            n.get_webhook_delivery(notify::GetWebhookDeliveryRequest {
                tenant_id,
                delivery_id,
            })
            .await,
        ),
        "NotificationsService/RedeliverWebhook" => done(
            n.redeliver_webhook(notify::RedeliverWebhookRequest {
                tenant_id,
                delivery_id,
            })
            .await,
        ),
        _ => None,
    }
}

/// Triggers and templates: admin calls, about the built-in credit message.
async fn call_for_messages(rpc: &str, api: &mut Api, t: &Target) -> Option<Result<(), Status>> {
    let tenant_id = t.tenant_id.clone();
    let event_type = "points.credited".to_string();
    let channel = notify::Channel::Inbox as i32;
    let locale = "en".to_string();
    let n = &mut api.notifications;
    match rpc {
        "NotificationsService/PutNotificationTrigger" => done(
            n.put_notification_trigger(notify::PutNotificationTriggerRequest {
                tenant_id,
                event_type,
                channels: vec![channel],
                purpose: notify::MessagePurpose::Marketing as i32,
                enabled: false,
                ..Default::default()
            })
            .await,
        ),
        "NotificationsService/GetNotificationTrigger" => done(
            n.get_notification_trigger(notify::GetNotificationTriggerRequest {
                tenant_id,
                event_type,
            })
            .await,
        ),
        "NotificationsService/ListNotificationTriggers" => done(
            n.list_notification_triggers(notify::ListNotificationTriggersRequest {
                tenant_id,
                ..Default::default()
            })
            .await,
        ),
        "NotificationsService/DeleteNotificationTrigger" => done(
            n.delete_notification_trigger(notify::DeleteNotificationTriggerRequest {
                tenant_id,
                event_type,
            })
            .await,
        ),
        "NotificationsService/PutMessageTemplate" => done(
            n.put_message_template(notify::PutMessageTemplateRequest {
                tenant_id,
                event_type,
                channel,
                locale,
                subject: "Intruder".into(),
                body: "{{ amount }}".into(),
                ..Default::default()
            })
            .await,
        ),
        "NotificationsService/GetMessageTemplate" => done(
            n.get_message_template(notify::GetMessageTemplateRequest {
                tenant_id,
                event_type,
                channel,
                locale,
                version: 0,
            })
            .await,
        ),
        "NotificationsService/ListMessageTemplates" => done(
            n.list_message_templates(notify::ListMessageTemplatesRequest {
                tenant_id,
                ..Default::default()
            })
            .await,
        ),
        "NotificationsService/ListMessageTemplateVersions" => done(
            n.list_message_template_versions(notify::ListMessageTemplateVersionsRequest {
                tenant_id,
                event_type,
                channel,
                locale,
                ..Default::default()
            })
            .await,
        ),
        "NotificationsService/DeleteMessageTemplate" => done(
            n.delete_message_template(notify::DeleteMessageTemplateRequest {
                tenant_id,
                event_type,
                channel,
                locale,
            })
            .await,
        ),
        "NotificationsService/GetMessagingSettings" => done(
            n.get_messaging_settings(notify::GetMessagingSettingsRequest { tenant_id })
                .await,
        ),
        "NotificationsService/UpdateMessagingSettings" => done(
            n.update_messaging_settings(notify::UpdateMessagingSettingsRequest {
                tenant_id,
                caps: vec![notify::FrequencyCap {
                    channel,
                    per_day: 1,
                    per_week: 1,
                }],
                expected_version: 0,
                ..Default::default()
            })
            .await,
        ),
        "NotificationsService/PreviewMessageTemplate" => done(
            n.preview_message_template(notify::PreviewMessageTemplateRequest {
                tenant_id,
                event_type,
                channel,
                ..Default::default()
            })
            .await,
        ),
        _ => None,
    }
}

/// The endpoint every programme of the matrix has.
const WEBHOOK: &str = "crm";

/// Gives `p` a webhook endpoint (at a closed loopback port, tried once)
/// and a member credit for it; the delivery once it has failed, so no
/// attempt changes the databases while the matrix runs.
async fn webhook_delivery(h: &Harness, p: &Programme) -> String {
    let mut api = h.api(Some(&p.token));
    api.notifications
        .put_webhook_endpoint(notify::PutWebhookEndpointRequest {
            tenant_id: p.tenant_id.clone(),
            endpoint_id: WEBHOOK.into(),
            url: "http://127.0.0.1:9/closed".into(),
            event_types: vec!["points.credited".into()],
            enabled: true,
            ..Default::default()
        })
        .await
        .unwrap();
    api.mechanics
        .track(track(&p.tenant_id, &p.member_id, "for-the-webhook", 100.0))
        .await
        .unwrap();
    questline_tests::eventually("a failed webhook delivery", || {
        let mut api = h.api(Some(&p.token));
        async move {
            let found = api
                .notifications
                .list_webhook_deliveries(notify::ListWebhookDeliveriesRequest {
                    tenant_id: p.tenant_id.clone(),
                    status: notify::WebhookDeliveryStatus::Failed as i32,
                    ..Default::default()
                })
                .await
                .unwrap()
                .into_inner()
                .deliveries;
            found.first().map(|d| d.delivery_id.clone())
        }
    })
    .await
}

/// Segments, the audit trail and GDPR exports.
async fn call_for_member_data(rpc: &str, api: &mut Api, t: &Target) -> Option<Result<(), Status>> {
    let tenant_id = t.tenant_id.clone();
    let member_id = t.member_id.clone();
    let segment_id = t.segment_id.clone();
    match rpc {
        "IdentityService/CreateSegment" => done(
            api.identity
                .create_segment(id::CreateSegmentRequest {
                    tenant_id,
                    segment_id: "intruders".into(),
                    name: "Intruders".into(),
                    predicate: "true".into(),
                    ..Default::default()
                })
                .await,
        ),
        "IdentityService/UpdateSegment" => done(
            api.identity
                .update_segment(id::UpdateSegmentRequest {
                    tenant_id,
                    segment_id,
                    predicate: Some("false".into()),
                    ..Default::default()
                })
                .await,
        ),
        "IdentityService/GetSegment" => done(
            api.identity
                .get_segment(id::GetSegmentRequest {
                    tenant_id,
                    segment_id,
                })
                .await,
        ),
        "IdentityService/ListSegments" => done(
            api.identity
                .list_segments(id::ListSegmentsRequest {
                    tenant_id,
                    ..Default::default()
                })
                .await,
        ),
        "IdentityService/DeleteSegment" => done(
            api.identity
                .delete_segment(id::DeleteSegmentRequest {
                    tenant_id,
                    segment_id,
                })
                .await,
        ),
        "IdentityService/ValidateSegment" => done(
            api.identity
                .validate_segment(id::ValidateSegmentRequest {
                    tenant_id,
                    predicate: "true".into(),
                })
                .await,
        ),
        "IdentityService/EvaluateSegment" => done(
            api.identity
                .evaluate_segment(id::EvaluateSegmentRequest {
                    tenant_id,
                    segment_id,
                    member_id,
                })
                .await,
        ),
        "IdentityService/ListSegmentMembers" => done(
            api.identity
                .list_segment_members(id::ListSegmentMembersRequest {
                    tenant_id,
                    segment_id,
                    ..Default::default()
                })
                .await,
        ),
        "IdentityService/ListAuditEntries" => done(
            api.identity
                .list_audit_entries(id::ListAuditEntriesRequest {
                    tenant_id,
                    ..Default::default()
                })
                .await,
        ),
        rpc if rpc.starts_with("NotificationsService/") && rpc.contains("Webhook") => {
            call_for_webhooks(rpc, api, t).await
        }
        rpc if rpc.starts_with("NotificationsService/")
            && (rpc.contains("Trigger")
                || rpc.contains("Template")
                || rpc.contains("MessagingSettings")) =>
        {
            call_for_messages(rpc, api, t).await
        }
        "IdentityService/ExportMember" => done(
            api.identity
                .export_member(id::ExportMemberRequest {
                    tenant_id,
                    member_id,
                })
                .await,
        ),
        "LedgerService/ExportMember" => done(
            api.ledger
                .export_member(ledger::ExportMemberRequest {
                    tenant_id,
                    member_id,
                })
                .await,
        ),
        "MechanicsService/ExportMember" => done(
            api.mechanics
                .export_member(mechanics::ExportMemberRequest {
                    tenant_id,
                    member_id,
                })
                .await,
        ),
        "RewardsService/ExportMember" => done(
            api.rewards
                .export_member(rewards::ExportMemberRequest {
                    tenant_id,
                    member_id,
                })
                .await,
        ),
        "NotificationsService/ExportMember" => done(
            api.notifications
                .export_member(notifications::ExportMemberRequest {
                    tenant_id,
                    member_id,
                })
                .await,
        ),
        _ => None,
    }
}

/// A segment of everyone who allows profiling, so every segment id exists.
async fn segment(h: &Harness, p: &Programme, segment_id: &str) -> String {
    let request = id::CreateSegmentRequest {
        tenant_id: p.tenant_id.clone(),
        segment_id: segment_id.into(),
        name: "Everyone".into(),
        predicate: "true".into(),
        ..Default::default()
    };
    let mut api = h.api(Some(&p.token));
    api.identity.create_segment(request).await.unwrap();
    segment_id.into()
}

/// An unsubscribe link for `member_id`'s email about offers, signed with
/// a key the attacker made up.
fn forged_unsubscribe(tenant_id: &str, member_id: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claim = serde_json::json!([tenant_id, member_id, "email", "offers"]).to_string();
    format!("{}.{}", b64.encode(claim), b64.encode([7u8; 16]))
}

fn done<T>(answer: Result<tonic::Response<T>, Status>) -> Option<Result<(), Status>> {
    Some(answer.map(drop))
}

/// A batch of one answers per event: its refusal is the call's.
fn first_outcome(answer: tonic::Response<TrackBatchResponse>) -> Result<(), Status> {
    let outcome = answer.into_inner().outcomes.remove(0);
    refusal(outcome.error.map(|e| (e.code, e.message)))
}

/// A batch item's refusal (its code's name and message) as the call's.
fn refusal(error: Option<(String, String)>) -> Result<(), Status> {
    let Some((code, message)) = error else {
        return Ok(());
    };
    let code = match code.as_str() {
        "NOT_FOUND" => Code::NotFound,
        "PERMISSION_DENIED" => Code::PermissionDenied,
        _ => Code::Unknown,
    };
    Err(Status::new(code, message))
}

/// A second member with points, a pending hold and a redemption, so every id exists.
async fn member_with_hold(
    h: &Harness,
    p: &Programme,
    external_id: &str,
) -> (String, String, String, String) {
    let mut api = h.api(Some(&p.token));
    let member_id = api.upsert_member(&p.tenant_id, external_id, None).await;
    let credit = CreditRequest {
        tenant_id: p.tenant_id.clone(),
        member_id: member_id.clone(),
        currency: "stars".into(),
        amount: 50,
        reason: "welcome".into(),
        idempotency_key: format!("welcome-{external_id}"),
        ..Default::default()
    };
    let transfer_id = api
        .ledger
        .credit(credit)
        .await
        .unwrap()
        .into_inner()
        .transfer
        .unwrap()
        .transfer_id;
    let hold = CreateHoldRequest {
        tenant_id: p.tenant_id.clone(),
        member_id: member_id.clone(),
        currency: "stars".into(),
        amount: 5,
        reason: "pending".into(),
        ttl_seconds: 3600,
        idempotency_key: format!("hold-{external_id}"),
    };
    let hold_id = api
        .ledger
        .create_hold(hold)
        .await
        .unwrap()
        .into_inner()
        .hold
        .unwrap()
        .hold_id;
    let treat = format!("treat-{external_id}");
    let redeemed = api
        .rewards
        .redeem(redeem(&p.tenant_id, &member_id, &treat, PASTRY))
        .await
        .unwrap();
    assert!(redeemed.into_inner().redemption.is_some());
    (member_id, hold_id, transfer_id, treat)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_rpc_crosses_a_tenant_or_a_member() {
    each_backend(|backend| async move {
        let mut h = Harness::start(backend).await;
        // One attempt, to a closed port: the deliveries settle at once.
        h.settings.webhooks.allow_networks = "127.0.0.0/8".into();
        h.settings.webhooks.retry_schedule = String::new();
        h.restart().await;
        let a = h.programme("tenant-a").await;
        let b = h.programme("tenant-b").await;
        let a_delivery = webhook_delivery(&h, &a).await;
        let b_delivery = webhook_delivery(&h, &b).await;
        let (m2, m2_hold, m2_credit, m2_treat) = member_with_hold(&h, &a, "m2").await;
        let (b_member, b_hold, b_credit, b_treat) = member_with_hold(&h, &b, "b2").await;
        let member_token = h.member_token(&a, &a.member_id).await;
        let a_segment = segment(&h, &a, "a-everyone").await;
        let b_segment = segment(&h, &b, "b-everyone").await;
        let b_ids = |tenant_id: &str| Target {
            tenant_id: tenant_id.into(),
            member_id: b_member.clone(),
            client_id: b.client_id.clone(),
            hold_id: b_hold.clone(),
            segment_id: b_segment.clone(),
            transfer_id: b_credit.clone(),
            redemption_id: b_treat.clone(),
            delivery_id: b_delivery.clone(),
        };
        let attacks = [
            (Attacker::OtherTenant, &a.token, b_ids(&b.tenant_id)),
            (Attacker::ForeignIds, &a.token, b_ids(&a.tenant_id)),
            (
                Attacker::OtherMember,
                &member_token,
                Target {
                    tenant_id: a.tenant_id.clone(),
                    member_id: m2.clone(),
                    client_id: a.client_id.clone(),
                    hold_id: m2_hold.clone(),
                    segment_id: a_segment.clone(),
                    transfer_id: m2_credit.clone(),
                    redemption_id: m2_treat.clone(),
                    delivery_id: a_delivery.clone(),
                },
            ),
        ];

        let before = h.quiet_rows().await;
        let mut missing = Vec::new();
        let mut crossed = Vec::new();
        let mut allowed_ok = 0;
        for rpc in every_rpc() {
            for (attacker, token, target) in &attacks {
                if *attacker == Attacker::ForeignIds && TENANT_ONLY.contains(&rpc.as_str()) {
                    continue;
                }
                let allowed = ALLOWED
                    .iter()
                    .any(|(r, who, _)| *r == rpc && who.is_none_or(|w| w == *attacker));
                let mut api = h.api(Some(token));
                let Some(answer) = call(&rpc, &mut api, target).await else {
                    missing.push(rpc.clone());
                    break;
                };
                let code = answer.err().map(|s| s.code()).unwrap_or(Code::Ok);
                let refusal = matches!(code, Code::NotFound | Code::PermissionDenied)
                    || (rpc == "IdentityService/IssueToken" && code == Code::Unauthenticated)
                    || (rpc == "NotificationsService/Unsubscribe" && code == Code::InvalidArgument);
                if allowed && code == Code::Ok {
                    allowed_ok += 1;
                } else if !refusal {
                    crossed.push(format!("{rpc} as {attacker:?}: {code:?}"));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "RPCs without an isolation case: {missing:?}"
        );
        assert!(crossed.is_empty(), "not refused: {crossed:#?}");
        // GetJwks twice (it names no ids), GetReward and ListRewards once: nothing else got through.
        assert_eq!(allowed_ok, 4);

        let after = h.quiet_rows().await;
        let changed: Vec<_> = after.iter().filter(|row| !before.contains(row)).collect();
        assert!(changed.is_empty(), "refused calls changed: {changed:#?}");
        assert_eq!(before.len(), after.len());
        h.cleanup().await;
    })
    .await;
}
