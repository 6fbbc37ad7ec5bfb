//! Every REST resource that is one RPC. The hand-written routes in
//! `routes/` are the ones that shape their answers (events, balances,
//! redemptions, the inbox and its stream).

use super::{Read, Resource, Verb};

macro_rules! rpc {
    ($service:literal, $method:literal) => {
        concat!("questline.", $service, ".v1.", $method)
    };
}

/// A resource with the usual defaults: 200, the whole request and answer.
const fn resource(
    verb: Verb,
    path: &'static str,
    rpc: &'static str,
    operation_id: &'static str,
    tag: &'static str,
    summary: &'static str,
) -> Resource {
    Resource {
        verb,
        path,
        rpc,
        operation_id,
        tag,
        summary,
        bind: &[],
        body: None,
        answer: None,
        status: 200,
        read: None,
        example: None,
    }
}

pub static RESOURCES: &[Resource] = &[
    // Members.
    Resource {
        body: Some("profile"),
        read: Some(Read {
            operation_id: "getMember",
            path: "/v1/members/{member_id}",
            parameters: &[("member_id", "/member/member_id")],
        }),
        example: Some(
            r#"{"display_name": "Alice", "email": "alice@example.com", "locale": "en-SG", "country": "SG", "birthday": "1990-02-28", "attributes": {"favourite_store": "orchard"}}"#,
        ),
        ..resource(
            Verb::Put,
            "/v1/members/by-external-id/{external_id}",
            rpc!("identity", "IdentityService/UpsertMember"),
            "upsertMember",
            "members",
            "Create or update the member a brand knows by its own id; answers `created`",
        )
    },
    // Each path names the member one way; the other way stays empty.
    Resource {
        answer: Some("member"),
        bind: &[("member_id", "")],
        ..resource(
            Verb::Get,
            "/v1/members/by-external-id/{external_id}",
            rpc!("identity", "IdentityService/GetMember"),
            "getMemberByExternalId",
            "members",
            "The member a brand knows by its own id: profile and consent",
        )
    },
    Resource {
        answer: Some("member"),
        bind: &[("external_id", "")],
        ..resource(
            Verb::Get,
            "/v1/members/{member_id}",
            rpc!("identity", "IdentityService/GetMember"),
            "getMember",
            "members",
            "A member's profile and consent",
        )
    },
    resource(
        Verb::Get,
        "/v1/members",
        rpc!("identity", "IdentityService/ListMembers"),
        "listMembers",
        "members",
        "Members, paged; `query` matches an external id, an email or part of a name",
    ),
    Resource {
        answer: Some("member"),
        example: Some(
            r#"{"choices": [{"purpose": "CONSENT_PURPOSE_MARKETING_EMAIL", "granted": true}], "source": "app"}"#,
        ),
        ..resource(
            Verb::Patch,
            "/v1/members/{member_id}/consent",
            rpc!("identity", "IdentityService/UpdateConsent"),
            "updateConsent",
            "members",
            "Record the member's consent choices, with where they were made",
        )
    },
    Resource {
        example: Some("{}"),
        ..resource(
            Verb::Post,
            "/v1/members/{member_id}/tokens",
            rpc!("identity", "IdentityService/IssueMemberToken"),
            "issueMemberToken",
            "members",
            "A token for the member's own app (a server client only); it reaches only this member",
        )
    },
    resource(
        Verb::Get,
        "/v1/members/{member_id}/export",
        rpc!("identity", "IdentityService/ExportMember"),
        "exportMember",
        "privacy",
        "GDPR access: everything every service holds about the member",
    ),
    Resource {
        answer: Some("member"),
        example: Some("{}"),
        ..resource(
            Verb::Post,
            "/v1/members/{member_id}/erasure",
            rpc!("identity", "IdentityService/EraseMember"),
            "eraseMember",
            "privacy",
            "GDPR erasure: the profile wiped in every service; the books keep the id",
        )
    },
    // Wallets.
    Resource {
        bind: &[("name", "member:{member_id}")],
        ..resource(
            Verb::Get,
            "/v1/members/{member_id}/history",
            rpc!("ledger", "LedgerService/ListAccountEntries"),
            "listHistory",
            "members",
            "The member's wallet history in one currency, newest first, paged by cursor",
        )
    },
    resource(
        Verb::Get,
        "/v1/transfers/{transfer_id}",
        rpc!("ledger", "LedgerService/GetTransfer"),
        "getTransfer",
        "transfers",
        "A transfer, and how much of each leg is reversed",
    ),
    Resource {
        answer: Some("transfer"),
        status: 201,
        read: Some(Read {
            operation_id: "getTransfer",
            path: "/v1/transfers/{transfer_id}",
            parameters: &[("transfer_id", "/transfer_id")],
        }),
        example: Some(
            r#"{"amount": 0, "reason": "order 1001 returned", "idempotency_key": "return-1001"}"#,
        ),
        ..resource(
            Verb::Post,
            "/v1/transfers/{transfer_id}/reversals",
            rpc!("ledger", "LedgerService/ReverseTransfer"),
            "reverseTransfer",
            "transfers",
            "Reverse a transfer, wholly (`amount` 0) or in part",
        )
    },
    Resource {
        answer: Some("currency"),
        status: 201,
        example: Some(
            r#"{"code": "stars", "name": "Stars", "time_zone": "Asia/Singapore", "decimal_places": 0, "expiry_policy": {"end_of_period": {"period": "PERIOD_YEAR", "periods_after": 1}}}"#,
        ),
        ..resource(
            Verb::Post,
            "/v1/currencies",
            rpc!("ledger", "LedgerService/CreateCurrency"),
            "createCurrency",
            "programme",
            "A points currency with its expiry policy (admin)",
        )
    },
    // Rules.
    Resource {
        answer: Some("rule"),
        status: 201,
        read: Some(Read {
            operation_id: "getRule",
            path: "/v1/rules/{rule_id}",
            parameters: &[("rule_id", "/rule_id")],
        }),
        example: Some(
            r#"{"rule": {"rule_id": "weekend-coffee", "name": "Double stars on weekend coffee", "event_types": ["purchase"], "condition": "event.store == 'coffee-bar'", "time_zone": "Europe/London", "schedule": {"days": ["DAY_OF_WEEK_SATURDAY", "DAY_OF_WEEK_SUNDAY"]}, "caps": [{"period": "PERIOD_DAY", "measure": "MEASURE_COUNT", "limit": "1"}], "actions": [{"award_points": {"currency": "stars", "points": "event.amount / 5.0"}}]}, "activate": true}"#,
        ),
        ..resource(
            Verb::Post,
            "/v1/rules",
            rpc!("mechanics", "MechanicsService/CreateRule"),
            "createRule",
            "programme",
            "A rule: event types, a CEL condition, schedule, special days, caps, budget and actions; a draft unless `activate`. Checks across fields (one points action, windows that end after they start) answer 400 with every mistake (admin)",
        )
    },
    Resource {
        answer: Some("rule"),
        example: Some(
            r#"{"rule": {"name": "Double stars on weekend coffee", "event_types": ["purchase"], "condition": "event.store == 'coffee-bar'", "time_zone": "Europe/London", "schedule": {"days": ["DAY_OF_WEEK_SATURDAY", "DAY_OF_WEEK_SUNDAY"]}, "caps": [{"period": "PERIOD_DAY", "measure": "MEASURE_COUNT", "limit": "1"}], "actions": [{"award_points": {"currency": "stars", "points": "event.amount / 5.0"}}]}}"#,
        ),
        ..resource(
            Verb::Put,
            "/v1/rules/{rule_id}",
            rpc!("mechanics", "MechanicsService/UpdateRule"),
            "updateRule",
            "programme",
            "A new version of the rule, its status kept; `expected_version` guards against a concurrent edit (admin)",
        )
    },
    Resource {
        answer: Some("rule"),
        example: Some("{}"),
        ..resource(
            Verb::Post,
            "/v1/rules/{rule_id}/activate",
            rpc!("mechanics", "MechanicsService/ActivateRule"),
            "activateRule",
            "programme",
            "Live events are judged by the rule from now on (admin)",
        )
    },
    Resource {
        answer: Some("rule"),
        example: Some("{}"),
        ..resource(
            Verb::Post,
            "/v1/rules/{rule_id}/shadow",
            rpc!("mechanics", "MechanicsService/ShadowRule"),
            "shadowRule",
            "programme",
            "Judge live events by the rule and record what it would do, applying nothing (admin)",
        )
    },
    Resource {
        answer: Some("rule"),
        example: Some("{}"),
        ..resource(
            Verb::Post,
            "/v1/rules/{rule_id}/pause",
            rpc!("mechanics", "MechanicsService/PauseRule"),
            "pauseRule",
            "programme",
            "Stop judging events by the rule until it is activated again (admin)",
        )
    },
    Resource {
        answer: Some("rule"),
        example: Some("{}"),
        ..resource(
            Verb::Post,
            "/v1/rules/{rule_id}/archive",
            rpc!("mechanics", "MechanicsService/ArchiveRule"),
            "archiveRule",
            "programme",
            "Retire the rule for good; its history is kept (admin)",
        )
    },
    Resource {
        answer: Some("report"),
        example: Some(
            r#"{"rules": [{"rule_id": "stars-per-purchase", "name": "1 star per 5 spent", "event_types": ["purchase"], "condition": "event.amount > 0.0", "time_zone": "Europe/London", "actions": [{"award_points": {"currency": "stars", "points": "event.amount / 5.0"}}]}], "start_time": "2026-12-01T00:00:00Z", "end_time": "2026-12-31T00:00:00Z", "sample_size": 5}"#,
        ),
        ..resource(
            Verb::Post,
            "/v1/rule-simulations",
            rpc!("mechanics", "MechanicsService/SimulateRules"),
            "simulateRules",
            "programme",
            "Backtest: replay the stored events of a time range through the live rules with `rules` put in (a draft, or a new version under a live rule's id), or `rules` alone; caps and budgets replayed in order. Answers the report: events matched, members reached, points per day and rule, the difference against what the live rules awarded, samples",
        )
    },
    Resource {
        example: Some(
            r#"{"rule": {"rule_id": "weekend-coffee", "name": "Double stars on weekend coffee", "event_types": ["purchase"], "condition": "event.store == 'coffee-bar'", "time_zone": "Europe/London", "schedule": {"days": ["DAY_OF_WEEK_SATURDAY", "DAY_OF_WEEK_SUNDAY"]}, "caps": [{"period": "PERIOD_DAY", "measure": "MEASURE_COUNT", "limit": "1"}], "actions": [{"award_points": {"currency": "stars", "points": "event.amount / 5.0"}}]}}"#,
        ),
        ..resource(
            Verb::Post,
            "/v1/rule-validations",
            rpc!("mechanics", "MechanicsService/ValidateRule"),
            "validateRule",
            "programme",
            "Check a rule without saving it: every mistake, with line and column inside expressions",
        )
    },
    resource(
        Verb::Get,
        "/v1/rules",
        rpc!("mechanics", "MechanicsService/ListRules"),
        "listRules",
        "programme",
        "The programme's rules at their current versions, paged",
    ),
    Resource {
        answer: Some("rule"),
        ..resource(
            Verb::Get,
            "/v1/rules/{rule_id}",
            rpc!("mechanics", "MechanicsService/GetRule"),
            "getRule",
            "programme",
            "A rule at its current version, or at `version`",
        )
    },
    resource(
        Verb::Get,
        "/v1/rules/{rule_id}/versions",
        rpc!("mechanics", "MechanicsService/ListRuleVersions"),
        "listRuleVersions",
        "programme",
        "Every version of a rule, newest first, and when each was in force",
    ),
    Resource {
        answer: Some("schema"),
        example: Some(
            r#"{"schema": {"description": "A purchase at a till", "attributes": [{"name": "amount", "type": "ATTRIBUTE_TYPE_NUMBER", "required": true}, {"name": "store", "type": "ATTRIBUTE_TYPE_STRING"}, {"name": "location", "type": "ATTRIBUTE_TYPE_LOCATION"}]}}"#,
        ),
        ..resource(
            Verb::Put,
            "/v1/event-schemas/{event_type}",
            rpc!("mechanics", "MechanicsService/PutEventSchema"),
            "putEventSchema",
            "programme",
            "Create or replace the schema of an event type (a new version): events that do not fit are refused field by field, rules are checked against it at save (admin)",
        )
    },
    Resource {
        answer: Some("schema"),
        ..resource(
            Verb::Get,
            "/v1/event-schemas/{event_type}",
            rpc!("mechanics", "MechanicsService/GetEventSchema"),
            "getEventSchema",
            "programme",
            "The schema of one event type",
        )
    },
    resource(
        Verb::Get,
        "/v1/event-schemas",
        rpc!("mechanics", "MechanicsService/ListEventSchemas"),
        "listEventSchemas",
        "programme",
        "The programme's event schemas, paged",
    ),
    Resource {
        status: 204,
        ..resource(
            Verb::Delete,
            "/v1/event-schemas/{event_type}",
            rpc!("mechanics", "MechanicsService/DeleteEventSchema"),
            "deleteEventSchema",
            "programme",
            "Remove an event type's schema: its events take any attributes again (admin)",
        )
    },
    Resource {
        answer: Some("counter"),
        example: Some(
            r#"{"counter": {"description": "Partner scans today", "event_types": ["qr_scan"], "period": "PERIOD_DAY", "time_zone": "Europe/London"}}"#,
        ),
        ..resource(
            Verb::Put,
            "/v1/counters/{counter_id}",
            rpc!("mechanics", "MechanicsService/PutCounter"),
            "putCounter",
            "programme",
            "Create or replace a counter (a new version): a per-member aggregate over events that rules read as `member.counters.<counter_id>`; changing what it counts starts it again from zero (admin)",
        )
    },
    Resource {
        answer: Some("counter"),
        ..resource(
            Verb::Get,
            "/v1/counters/{counter_id}",
            rpc!("mechanics", "MechanicsService/GetCounter"),
            "getCounter",
            "programme",
            "One counter's definition",
        )
    },
    resource(
        Verb::Get,
        "/v1/counters",
        rpc!("mechanics", "MechanicsService/ListCounters"),
        "listCounters",
        "programme",
        "The programme's counters, paged",
    ),
    Resource {
        status: 204,
        ..resource(
            Verb::Delete,
            "/v1/counters/{counter_id}",
            rpc!("mechanics", "MechanicsService/DeleteCounter"),
            "deleteCounter",
            "programme",
            "Remove a counter and its values; refused while a rule that may still run reads it (admin)",
        )
    },
    resource(
        Verb::Get,
        "/v1/members/{member_id}/counters",
        rpc!("mechanics", "MechanicsService/GetMemberCounters"),
        "getMemberCounters",
        "members",
        "A member's counters now, as rules read them (the member's own app may ask)",
    ),
    resource(
        Verb::Get,
        "/v1/events/{event_id}/explanation",
        rpc!("mechanics", "MechanicsService/ExplainEvent"),
        "explainEvent",
        "events",
        "For one tracked event: every rule considered and why it did or did not apply",
    ),
    // Rewards.
    Resource {
        answer: Some("reward"),
        status: 201,
        read: Some(Read {
            operation_id: "getReward",
            path: "/v1/rewards/{reward_id}",
            parameters: &[("reward_id", "/reward_id")],
        }),
        example: Some(
            r#"{"reward_id": "pastry", "name": "A pastry", "currency": "stars", "price": 20, "stock": 100, "voucher_source": "VOUCHER_SOURCE_GENERATED"}"#,
        ),
        ..resource(
            Verb::Post,
            "/v1/rewards",
            rpc!("rewards", "RewardsService/CreateReward"),
            "createReward",
            "rewards",
            "A reward in the catalogue (admin)",
        )
    },
    resource(
        Verb::Get,
        "/v1/rewards",
        rpc!("rewards", "RewardsService/ListRewards"),
        "listRewards",
        "rewards",
        "The catalogue, paged",
    ),
    Resource {
        answer: Some("reward"),
        ..resource(
            Verb::Get,
            "/v1/rewards/{reward_id}",
            rpc!("rewards", "RewardsService/GetReward"),
            "getReward",
            "rewards",
            "One reward, with its stock",
        )
    },
    Resource {
        example: Some(r#"{"codes": ["PASTRY-0001", "PASTRY-0002"]}"#),
        ..resource(
            Verb::Post,
            "/v1/rewards/{reward_id}/vouchers",
            rpc!("rewards", "RewardsService/AddVoucherCodes"),
            "addVoucherCodes",
            "rewards",
            "Upload voucher codes into a pool reward; codes already there are skipped (admin)",
        )
    },
    Resource {
        answer: Some("redemption"),
        ..resource(
            Verb::Get,
            "/v1/redemptions/{redemption_id}",
            rpc!("rewards", "RewardsService/GetRedemption"),
            "getRedemption",
            "redemptions",
            "One redemption, with its status and voucher",
        )
    },
    // Segments.
    Resource {
        answer: Some("segment"),
        status: 201,
        read: Some(Read {
            operation_id: "getSegment",
            path: "/v1/segments/{segment_id}",
            parameters: &[("segment_id", "/segment_id")],
        }),
        example: Some(
            r#"{"segment_id": "sg-coffee", "name": "Coffee lovers in Singapore", "predicate": "member.country == \"SG\""}"#,
        ),
        ..resource(
            Verb::Post,
            "/v1/segments",
            rpc!("identity", "IdentityService/CreateSegment"),
            "createSegment",
            "segments",
            "A segment: a CEL predicate over the member (admin)",
        )
    },
    resource(
        Verb::Get,
        "/v1/segments",
        rpc!("identity", "IdentityService/ListSegments"),
        "listSegments",
        "segments",
        "The programme's segments, paged",
    ),
    Resource {
        answer: Some("segment"),
        ..resource(
            Verb::Get,
            "/v1/segments/{segment_id}",
            rpc!("identity", "IdentityService/GetSegment"),
            "getSegment",
            "segments",
            "One segment",
        )
    },
    Resource {
        answer: Some("segment"),
        example: Some(
            r#"{"name": "Coffee lovers", "predicate": "member.attributes.interests.exists(i, i == \"coffee\")"}"#,
        ),
        ..resource(
            Verb::Patch,
            "/v1/segments/{segment_id}",
            rpc!("identity", "IdentityService/UpdateSegment"),
            "updateSegment",
            "segments",
            "Change a segment; fields left out keep their value (admin)",
        )
    },
    Resource {
        status: 204,
        ..resource(
            Verb::Delete,
            "/v1/segments/{segment_id}",
            rpc!("identity", "IdentityService/DeleteSegment"),
            "deleteSegment",
            "segments",
            "Delete a segment (admin)",
        )
    },
    Resource {
        example: Some(r#"{"predicate": "member.country == \"SG\""}"#),
        ..resource(
            Verb::Post,
            "/v1/segment-validations",
            rpc!("identity", "IdentityService/ValidateSegment"),
            "validateSegment",
            "segments",
            "Check a predicate: every mistake with its line and column",
        )
    },
    resource(
        Verb::Get,
        "/v1/segments/{segment_id}/members",
        rpc!("identity", "IdentityService/ListSegmentMembers"),
        "listSegmentMembers",
        "segments",
        "The segment's members, paged",
    ),
    resource(
        Verb::Get,
        "/v1/segments/{segment_id}/members/{member_id}",
        rpc!("identity", "IdentityService/EvaluateSegment"),
        "evaluateSegment",
        "segments",
        "Whether one member is in the segment, and why not",
    ),
    // The inbox beyond its list and stream (in `routes/inbox.rs`).
    resource(
        Verb::Get,
        "/v1/members/{member_id}/inbox/summary",
        rpc!("notifications", "NotificationsService/GetInboxSummary"),
        "getInboxSummary",
        "members",
        "How many messages the member has, and how many are unread",
    ),
    Resource {
        example: Some(r#"{"message_ids": ["01a242f4-0926-77f5-9b24-7e66a706fc16"]}"#),
        ..resource(
            Verb::Post,
            "/v1/members/{member_id}/inbox/read",
            rpc!("notifications", "NotificationsService/MarkInboxRead"),
            "markInboxRead",
            "members",
            "Mark messages read (up to 500 ids, or `all`); marking again changes nothing. Answers how many were marked and how many stay unread",
        )
    },
    Resource {
        status: 204,
        ..resource(
            Verb::Delete,
            "/v1/members/{member_id}/inbox/{message_id}",
            rpc!("notifications", "NotificationsService/DeleteInboxMessage"),
            "deleteInboxMessage",
            "members",
            "Delete one message from the member's inbox",
        )
    },
    // What a member lets the programme send, and what it sent.
    Resource {
        answer: Some("preferences"),
        ..resource(
            Verb::Get,
            "/v1/members/{member_id}/message-preferences",
            rpc!(
                "notifications",
                "NotificationsService/GetMessagePreferences"
            ),
            "getMessagePreferences",
            "members",
            "The channels and topics the member turned off",
        )
    },
    Resource {
        answer: Some("preferences"),
        example: Some(r#"{"channels_off": ["CHANNEL_SMS"], "topics_off": ["offers"]}"#),
        ..resource(
            Verb::Put,
            "/v1/members/{member_id}/message-preferences",
            rpc!(
                "notifications",
                "NotificationsService/UpdateMessagePreferences"
            ),
            "updateMessagePreferences",
            "members",
            "Replace what the member turned off: nothing is sent on a channel off, nor about a topic off (each at most once; up to 100 topics)",
        )
    },
    resource(
        Verb::Get,
        "/v1/members/{member_id}/dispatches",
        rpc!("notifications", "NotificationsService/ListDispatches"),
        "listDispatches",
        "members",
        "The member's emails, push and SMS, newest first: each one's status, and why one waits or was not sent (quiet hours, no consent, a channel or topic turned off, a cap)",
    ),
    // Webhooks.
    Resource {
        answer: Some("endpoint"),
        example: Some(
            r#"{"url": "https://hooks.brand.example/questline", "description": "CRM sync", "event_types": ["points.credited", "reward.redeemed"], "enabled": true}"#,
        ),
        ..resource(
            Verb::Put,
            "/v1/webhook-endpoints/{endpoint_id}",
            rpc!("notifications", "NotificationsService/PutWebhookEndpoint"),
            "putWebhookEndpoint",
            "webhooks",
            "Create or replace a webhook endpoint (Standard Webhooks): an http(s) URL on the public internet, the event types it receives (none: all that webhooks carry); a new one gets a `whsec_` secret. A URL that is not public or an unknown event type answer 400 (admin)",
        )
    },
    Resource {
        answer: Some("endpoint"),
        ..resource(
            Verb::Get,
            "/v1/webhook-endpoints/{endpoint_id}",
            rpc!("notifications", "NotificationsService/GetWebhookEndpoint"),
            "getWebhookEndpoint",
            "webhooks",
            "One endpoint: its URL, filter, and whether it is enabled (a 410 from the receiver disables it) (admin)",
        )
    },
    resource(
        Verb::Get,
        "/v1/webhook-endpoints",
        rpc!("notifications", "NotificationsService/ListWebhookEndpoints"),
        "listWebhookEndpoints",
        "webhooks",
        "The programme's webhook endpoints, paged (admin)",
    ),
    Resource {
        status: 204,
        ..resource(
            Verb::Delete,
            "/v1/webhook-endpoints/{endpoint_id}",
            rpc!(
                "notifications",
                "NotificationsService/DeleteWebhookEndpoint"
            ),
            "deleteWebhookEndpoint",
            "webhooks",
            "Remove an endpoint with its deliveries and their attempts (admin)",
        )
    },
    resource(
        Verb::Get,
        "/v1/webhook-endpoints/{endpoint_id}/secret",
        rpc!("notifications", "NotificationsService/GetWebhookSecret"),
        "getWebhookSecret",
        "webhooks",
        "The secrets deliveries are signed with: the current one, and the previous one while a rotation's grace lasts (admin)",
    ),
    Resource {
        example: Some(r#"{"grace_seconds": 86400, "idempotency_key": "rotate-2026-12"}"#),
        ..resource(
            Verb::Post,
            "/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
            rpc!("notifications", "NotificationsService/RotateWebhookSecret"),
            "rotateWebhookSecret",
            "webhooks",
            "A new secret; the old one keeps signing beside it for `grace_seconds` (at most 7 days) (admin)",
        )
    },
    resource(
        Verb::Get,
        "/v1/webhook-deliveries",
        rpc!(
            "notifications",
            "NotificationsService/ListWebhookDeliveries"
        ),
        "listWebhookDeliveries",
        "webhooks",
        "The delivery log, newest first, by endpoint and status: dead letters are `WEBHOOK_DELIVERY_STATUS_FAILED` (admin)",
    ),
    resource(
        Verb::Get,
        "/v1/webhook-deliveries/{delivery_id}",
        rpc!("notifications", "NotificationsService/GetWebhookDelivery"),
        "getWebhookDelivery",
        "webhooks",
        "One delivery with every attempt: status code, latency, error (admin)",
    ),
    Resource {
        answer: Some("delivery"),
        example: Some("{}"),
        ..resource(
            Verb::Post,
            "/v1/webhook-deliveries/{delivery_id}/redeliver",
            rpc!("notifications", "NotificationsService/RedeliverWebhook"),
            "redeliverWebhook",
            "webhooks",
            "Send a delivery again now, from the start of the retry schedule, with the same `webhook-id` (admin)",
        )
    },
    // Messages: triggers and templates.
    Resource {
        answer: Some("trigger"),
        example: Some(
            r#"{"channels": ["CHANNEL_INBOX"], "purpose": "MESSAGE_PURPOSE_MARKETING", "topic": "birthdays", "enabled": true}"#,
        ),
        ..resource(
            Verb::Put,
            "/v1/notification-triggers/{event_type}",
            rpc!(
                "notifications",
                "NotificationsService/PutNotificationTrigger"
            ),
            "putNotificationTrigger",
            "messages",
            "Which channels an event type messages its member on, and why (transactional or marketing); replaces the built-in trigger for the type. A rule's message is `rule.message.<message_type>`. A channel without a provider answers 409 `CHANNEL_NOT_CONFIGURED` (admin)",
        )
    },
    Resource {
        answer: Some("trigger"),
        ..resource(
            Verb::Get,
            "/v1/notification-triggers/{event_type}",
            rpc!(
                "notifications",
                "NotificationsService/GetNotificationTrigger"
            ),
            "getNotificationTrigger",
            "messages",
            "The trigger in force for an event type: the programme's own, else the built-in one (admin)",
        )
    },
    resource(
        Verb::Get,
        "/v1/notification-triggers",
        rpc!(
            "notifications",
            "NotificationsService/ListNotificationTriggers"
        ),
        "listNotificationTriggers",
        "messages",
        "Every trigger in force, stored and built-in, by event type (admin)",
    ),
    Resource {
        status: 204,
        ..resource(
            Verb::Delete,
            "/v1/notification-triggers/{event_type}",
            rpc!(
                "notifications",
                "NotificationsService/DeleteNotificationTrigger"
            ),
            "deleteNotificationTrigger",
            "messages",
            "Remove the programme's trigger; the built-in one, if any, applies again (admin)",
        )
    },
    Resource {
        answer: Some("settings"),
        ..resource(
            Verb::Get,
            "/v1/messaging-settings",
            rpc!("notifications", "NotificationsService/GetMessagingSettings"),
            "getMessagingSettings",
            "messages",
            "The programme's frequency caps per channel, the time zone its days and weeks are counted in, and its quiet hours (admin)",
        )
    },
    Resource {
        answer: Some("settings"),
        example: Some(
            r#"{"caps": [{"channel": "CHANNEL_INBOX", "per_day": 3, "per_week": 10}], "quiet_hours": {"start": "21:00", "end": "08:00", "channels": ["CHANNEL_PUSH", "CHANNEL_SMS"], "action": "QUIET_HOURS_ACTION_HOLD"}}"#,
        ),
        ..resource(
            Verb::Put,
            "/v1/messaging-settings",
            rpc!(
                "notifications",
                "NotificationsService/UpdateMessagingSettings"
            ),
            "updateMessagingSettings",
            "messages",
            "Cap marketing messages per member and channel, a day and a week (0: no cap; transactional ones are never capped); each channel once, a week's cap no lower than a day's. Quiet hours (HH:MM to HH:MM in the member's time zone, else the programme's) hold or drop marketing email, push or SMS (admin)",
        )
    },
    Resource {
        answer: Some("template"),
        example: Some(
            r#"{"subject": "You earned {{ amount }} {{ currency }}", "body": "Thanks, {{ member.attributes.nickname | default('friend') }}! Your balance is {{ balance }}."}"#,
        ),
        ..resource(
            Verb::Put,
            "/v1/message-templates/{event_type}/{channel}/{locale}",
            rpc!("notifications", "NotificationsService/PutMessageTemplate"),
            "putMessageTemplate",
            "messages",
            "Save a template's next version (minijinja over the event's fields and `member`); one that does not compile or names a variable the event does not give answers 400 with the line and column (admin)",
        )
    },
    Resource {
        answer: Some("template"),
        ..resource(
            Verb::Get,
            "/v1/message-templates/{event_type}/{channel}/{locale}",
            rpc!("notifications", "NotificationsService/GetMessageTemplate"),
            "getMessageTemplate",
            "messages",
            "A template's current version, or `version` (admin)",
        )
    },
    resource(
        Verb::Get,
        "/v1/message-templates",
        rpc!("notifications", "NotificationsService/ListMessageTemplates"),
        "listMessageTemplates",
        "messages",
        "The current version of each of the programme's templates, by event type, channel and locale (admin)",
    ),
    resource(
        Verb::Get,
        "/v1/message-templates/{event_type}/{channel}/{locale}/versions",
        rpc!(
            "notifications",
            "NotificationsService/ListMessageTemplateVersions"
        ),
        "listMessageTemplateVersions",
        "messages",
        "Every version of a template, newest first (admin)",
    ),
    Resource {
        status: 204,
        ..resource(
            Verb::Delete,
            "/v1/message-templates/{event_type}/{channel}/{locale}",
            rpc!(
                "notifications",
                "NotificationsService/DeleteMessageTemplate"
            ),
            "deleteMessageTemplate",
            "messages",
            "Remove a template with all its versions; members read the next one in fallback order (admin)",
        )
    },
    Resource {
        example: Some(
            r#"{"event_type": "points.credited", "channel": "CHANNEL_INBOX", "locale": "fr", "sample": {"amount": 120, "currency": "stars", "balance": 480}}"#,
        ),
        ..resource(
            Verb::Post,
            "/v1/message-template-previews",
            rpc!(
                "notifications",
                "NotificationsService/PreviewMessageTemplate"
            ),
            "previewMessageTemplate",
            "messages",
            "Render a draft, or what a member in `locale` reads, with a sample event (fields over a made-up one); nothing is saved or sent (admin)",
        )
    },
    // Audit.
    resource(
        Verb::Get,
        "/v1/audit-entries",
        rpc!("identity", "IdentityService/ListAuditEntries"),
        "listAuditEntries",
        "programme",
        "Who changed what, newest first; filter by client, action prefix and time (admin)",
    ),
];
