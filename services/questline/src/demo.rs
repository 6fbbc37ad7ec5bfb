//! "Snapping Saturday", the demo programme every newcomer sees: a stars
//! currency, the schemas of its events, two counters, its rules (one star
//! per 10 spent, a daily bonus star for a QR scan in a partner store, double
//! stars on birthdays), a pastry for 20 stars and a pizza for 60, a
//! thank-you message for partner scans in the programme's own words (English
//! and French), caps on marketing messages, a webhook endpoint for the brand's CRM (disabled until a
//! receiver listens, see the README), and a member to try it with. Loaded through the public gRPC API, with
//! client-chosen ids, so loading it twice changes nothing.

use questline_kit::client::{Intercepted, Outgoing};
use questline_kit::config::{ServiceKind, Settings};
use questline_proto::identity::{self as id, identity_service_client::IdentityServiceClient};
use questline_proto::ledger::{
    CreateCurrencyRequest, ExpiryPolicy, Period, PeriodEnd, expiry_policy,
    ledger_service_client::LedgerServiceClient,
};
use questline_proto::mechanics::{
    self as mech, CreateRuleRequest, mechanics_service_client::MechanicsServiceClient,
};
use questline_proto::notifications::{
    self as notify, PutWebhookEndpointRequest,
    notifications_service_client::NotificationsServiceClient,
};
use questline_proto::rewards::{
    CreateRewardRequest, VoucherSource, rewards_service_client::RewardsServiceClient,
};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const TENANT: &str = "snapping-saturday";
pub const CURRENCY: &str = "stars";

/// What a newcomer needs to call the demo, kept in the data directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoCredentials {
    pub tenant_id: String,
    pub api_key: String,
    pub member_id: String,
    pub member_external_id: String,
}

/// Loads the demo programme unless `data_dir/demo.json` says it is loaded.
pub async fn ensure_loaded(settings: &Settings) -> anyhow::Result<DemoCredentials> {
    let file = Path::new(&settings.data_dir).join("demo.json");
    if let Ok(text) = std::fs::read_to_string(&file) {
        return Ok(serde_json::from_str(&text)?);
    }
    let credentials = load(settings).await?;
    // It holds an admin key: owner-only, like the operator key.
    crate::write_private(&file, &serde_json::to_string_pretty(&credentials)?)?;
    Ok(credentials)
}

async fn load(settings: &Settings) -> anyhow::Result<DemoCredentials> {
    let operator = token(settings, &settings.auth.operator_key).await?;
    let mut identity = IdentityServiceClient::with_interceptor(
        questline_kit::client::channel(&settings.endpoint(ServiceKind::Identity))?,
        Outgoing::bearer(&operator),
    );
    identity
        .create_tenant(id::CreateTenantRequest {
            tenant_id: TENANT.into(),
            name: "Snapping Saturday".into(),
            time_zone: "Europe/London".into(),
            default_locale: "en-GB".into(),
        })
        .await?;
    let api_key = demo_key(&mut identity).await?;
    let server = token(settings, &api_key).await?;
    programme(settings, &server).await?;
    let attributes = serde_json::json!({"tier": "green", "interests": ["coffee", "pastry"]});
    let profile = id::Profile {
        display_name: "Alice".into(),
        locale: "en-GB".into(),
        country: "GB".into(),
        attributes: attributes
            .as_object()
            .map(questline_kit::structs::from_json),
        ..Default::default()
    };
    let member = identity
        .upsert_member(id::UpsertMemberRequest {
            tenant_id: TENANT.into(),
            external_id: "alice".into(),
            profile: Some(profile),
        })
        .await?
        .into_inner()
        .member
        .ok_or_else(|| anyhow::anyhow!("identity answered without a member"))?;
    // Alice lets the programme use her profile, so she is in its segment.
    identity
        .update_consent(id::UpdateConsentRequest {
            tenant_id: TENANT.into(),
            member_id: member.member_id.clone(),
            choices: vec![id::ConsentChoice {
                purpose: id::ConsentPurpose::Profiling as i32,
                granted: true,
            }],
            source: "demo".into(),
        })
        .await?;
    identity
        .create_segment(id::CreateSegmentRequest {
            tenant_id: TENANT.into(),
            segment_id: "coffee-lovers".into(),
            name: "Coffee lovers".into(),
            description: "Members who said they like coffee".into(),
            predicate: r#"member.attributes.interests.exists(i, i == "coffee")"#.into(),
        })
        .await?;
    Ok(DemoCredentials {
        tenant_id: TENANT.into(),
        api_key,
        member_id: member.member_id,
        member_external_id: member.external_id,
    })
}

/// The demo partner app's key. A key is shown only once, so if the first one
/// was lost a new client is made.
async fn demo_key(identity: &mut IdentityServiceClient<Intercepted>) -> anyhow::Result<String> {
    let mut request = id::CreateApiClientRequest {
        tenant_id: TENANT.into(),
        name: "Demo partner app".into(),
        scopes: vec![id::Scope::Admin as i32, id::Scope::Server as i32],
        idempotency_key: "demo-partner-app".into(),
    };
    let first = identity
        .create_api_client(request.clone())
        .await?
        .into_inner();
    if !first.api_key.is_empty() {
        return Ok(first.api_key);
    }
    request.idempotency_key = format!("demo-partner-app-{}", questline_kit::new_id());
    Ok(identity
        .create_api_client(request)
        .await?
        .into_inner()
        .api_key)
}

/// The currency, the earning rule and the rewards.
async fn programme(settings: &Settings, token: &str) -> anyhow::Result<()> {
    let channel = |kind| questline_kit::client::channel(&settings.endpoint(kind));
    let auth = Outgoing::bearer(token);
    LedgerServiceClient::with_interceptor(channel(ServiceKind::Ledger)?, auth.clone())
        .create_currency(CreateCurrencyRequest {
            tenant_id: TENANT.into(),
            code: CURRENCY.into(),
            name: "Stars".into(),
            // Stars last until the end of the twelfth month after they are earned.
            expiry_policy: Some(ExpiryPolicy {
                rule: Some(expiry_policy::Rule::EndOfPeriod(PeriodEnd {
                    period: Period::Month as i32,
                    periods_after: 12,
                })),
            }),
            time_zone: "Europe/London".into(),
            decimal_places: 0,
            reversals_may_overdraw: false,
        })
        .await?;
    let mut mechanics =
        MechanicsServiceClient::with_interceptor(channel(ServiceKind::Mechanics)?, auth.clone());
    for (event_type, attributes) in schemas() {
        mechanics
            .put_event_schema(mech::PutEventSchemaRequest {
                tenant_id: TENANT.into(),
                event_type: event_type.into(),
                schema: Some(mech::EventSchema {
                    attributes,
                    ..Default::default()
                }),
                expected_version: 0,
            })
            .await?;
    }
    for (counter_id, counter) in counters() {
        mechanics
            .put_counter(mech::PutCounterRequest {
                tenant_id: TENANT.into(),
                counter_id: counter_id.into(),
                counter: Some(counter),
                expected_version: 0,
            })
            .await?;
    }
    for rule in rules() {
        mechanics
            .create_rule(CreateRuleRequest {
                tenant_id: TENANT.into(),
                rule: Some(rule),
                activate: true,
            })
            .await?;
    }
    let mut rewards =
        RewardsServiceClient::with_interceptor(channel(ServiceKind::Rewards)?, auth.clone());
    for (reward_id, name, price) in [("pastry", "A pastry", 20), ("pizza", "A pizza", 60)] {
        rewards
            .create_reward(CreateRewardRequest {
                tenant_id: TENANT.into(),
                reward_id: reward_id.into(),
                name: name.into(),
                currency: CURRENCY.into(),
                price,
                stock: 1000,
                voucher_source: VoucherSource::Generated as i32,
            })
            .await?;
    }
    let mut notifications =
        NotificationsServiceClient::with_interceptor(channel(ServiceKind::Notifications)?, auth);
    notifications
        .put_notification_trigger(thanks_trigger())
        .await?;
    for template in thanks_templates() {
        notifications.put_message_template(template).await?;
    }
    notifications.update_messaging_settings(caps()).await?;
    notifications.put_webhook_endpoint(crm_webhook()).await?;
    Ok(())
}

/// The scan rule's message, `thanks_for_visiting`, goes to the inbox.
fn thanks_trigger() -> notify::PutNotificationTriggerRequest {
    notify::PutNotificationTriggerRequest {
        tenant_id: TENANT.into(),
        event_type: format!("rule.message.{THANKS}"),
        channels: vec![notify::Channel::Inbox as i32],
        purpose: notify::MessagePurpose::Transactional as i32,
        topic: "visits".into(),
        enabled: true,
        expected_version: 0,
    }
}

/// Its words, in English and French; the scan's store comes from the event.
fn thanks_templates() -> Vec<notify::PutMessageTemplateRequest> {
    [
        (
            "en",
            "Thanks for visiting the {{ attributes.store }}",
            "Here is your bonus star. See you next Saturday!",
        ),
        (
            "fr",
            "Merci de votre visite ({{ attributes.store }})",
            "Voici votre étoile bonus. À samedi prochain !",
        ),
    ]
    .into_iter()
    .map(
        |(locale, subject, body)| notify::PutMessageTemplateRequest {
            tenant_id: TENANT.into(),
            event_type: format!("rule.message.{THANKS}"),
            channel: notify::Channel::Inbox as i32,
            locale: locale.into(),
            subject: subject.into(),
            body: body.into(),
            ..Default::default()
        },
    )
    .collect()
}

/// At most 3 marketing messages a day in the inbox, 10 a week; no
/// marketing push or SMS between 21:00 and 08:00 (held until morning).
fn caps() -> notify::UpdateMessagingSettingsRequest {
    notify::UpdateMessagingSettingsRequest {
        tenant_id: TENANT.into(),
        caps: vec![notify::FrequencyCap {
            channel: notify::Channel::Inbox as i32,
            per_day: 3,
            per_week: 10,
        }],
        quiet_hours: Some(notify::QuietHours {
            start: "21:00".into(),
            end: "08:00".into(),
            channels: vec![notify::Channel::Push as i32, notify::Channel::Sms as i32],
            action: notify::QuietHoursAction::Hold as i32,
        }),
        expected_version: 0,
    }
}

/// The message a partner scan sends.
const THANKS: &str = "thanks_for_visiting";

/// Where the brand's CRM hears of stars, rewards, each message's fate and
/// members' message preferences: a receiver on this
/// machine, so the endpoint starts disabled (the README's tour enables it).
fn crm_webhook() -> PutWebhookEndpointRequest {
    PutWebhookEndpointRequest {
        tenant_id: TENANT.into(),
        endpoint_id: "crm".into(),
        url: "http://127.0.0.1:8099/questline".into(),
        description: "The brand's CRM: stars, rewards and messages".into(),
        event_types: [
            "points.credited",
            "reward.redeemed",
            "message.dispatched",
            "message_preferences.changed",
        ]
        .map(String::from)
        .to_vec(),
        enabled: false,
        expected_version: 0,
    }
}

/// What the tills and the app send: a purchase carries its amount; a QR
/// scan names its store and may carry where the phone was.
fn schemas() -> Vec<(&'static str, Vec<mech::EventAttribute>)> {
    use mech::AttributeType::{Location, Number, String as Text};
    let attribute = |name: &str, kind: mech::AttributeType, required: bool| mech::EventAttribute {
        name: name.into(),
        r#type: kind as i32,
        required,
        description: String::new(),
    };
    vec![
        (
            "purchase",
            vec![
                attribute("amount", Number, true),
                attribute("store", Text, false),
                attribute("sku", Text, false),
            ],
        ),
        (
            "qr_scan",
            vec![
                attribute("store", Text, true),
                attribute("code", Text, false),
                attribute("location", Location, false),
            ],
        ),
    ]
}

/// What the programme keeps count of per member, for rules and apps:
/// purchases in the last 30 days and spend this month.
fn counters() -> Vec<(&'static str, mech::Counter)> {
    let counter = |description: &str| mech::Counter {
        description: description.into(),
        event_types: vec!["purchase".into()],
        time_zone: "Europe/London".into(),
        ..Default::default()
    };
    vec![
        (
            "purchases_30d",
            mech::Counter {
                rolling_days: 30,
                ..counter("Purchases in the last 30 days")
            },
        ),
        (
            "spend_month",
            mech::Counter {
                sum_of: "amount".into(),
                period: mech::Period::Month as i32,
                ..counter("Spend this calendar month")
            },
        ),
    ]
}

/// Snapping Saturday's rules: 1 star per 10 spent; a QR scan in a partner
/// store (within 200 m of it, when the app sends a location) earns a bonus
/// star and a thank-you message once a day; birthdays double the stars; members of the
/// coffee-lovers segment earn two more at the coffee bar; 30 days without a
/// purchase bring 10 stars to win the member back.
fn rules() -> Vec<mech::Rule> {
    let award = |points: &str| mech::Action {
        action: Some(mech::action::Action::AwardPoints(mech::AwardPoints {
            currency: CURRENCY.into(),
            points: points.into(),
            rounding: mech::Rounding::Floor as i32,
        })),
    };
    let rule = |rule_id: &str, name: &str, event_type: &str, condition: &str| mech::Rule {
        rule_id: rule_id.into(),
        name: name.into(),
        event_types: vec![event_type.into()],
        condition: condition.into(),
        time_zone: "Europe/London".into(),
        ..Default::default()
    };
    let per_purchase = mech::Rule {
        actions: vec![award("event.amount / 10.0")],
        ..rule(
            "stars-per-purchase",
            "1 star per 10 spent",
            "purchase",
            "event.amount > 0.0",
        )
    };
    let thanks = mech::Action {
        action: Some(mech::action::Action::EmitMessage(mech::EmitMessage {
            message_type: THANKS.into(),
        })),
    };
    let scan = mech::Rule {
        actions: vec![award("1"), thanks],
        caps: vec![mech::Cap {
            period: mech::Period::Day as i32,
            measure: mech::cap::Measure::Count as i32,
            limit: 1,
        }],
        ..rule(
            "partner-scan-bonus",
            "A bonus star for a QR scan in a partner store, once a day",
            "qr_scan",
            "event.store in ['bakery', 'coffee-bar'] && (!has(event.location) \
             || distance(event.location.lat, event.location.lng, 51.5138, -0.1349) <= 200.0)",
        )
    };
    let birthday = mech::Rule {
        priority: 10,
        special_days: Some(mech::SpecialDays {
            birthday: true,
            ..Default::default()
        }),
        actions: vec![mech::Action {
            action: Some(mech::action::Action::MultiplyAwards(mech::MultiplyAwards {
                currency: CURRENCY.into(),
                factor: 2.0,
            })),
        }],
        ..rule(
            "birthday-double",
            "Birthdays double the stars",
            "purchase",
            "",
        )
    };
    let coffee = mech::Rule {
        actions: vec![award("2")],
        ..rule(
            "coffee-lover-bonus",
            "Two more stars for coffee lovers at the coffee bar",
            "purchase",
            "'coffee-lovers' in member.segments && has(event.store) && event.store == 'coffee-bar'",
        )
    };
    let win_back = mech::Rule {
        actions: vec![award("10")],
        inactive_days: 30,
        inactive_of: vec!["purchase".into()],
        ..rule(
            "we-miss-you",
            "10 stars after 30 days without a purchase, once per lapse",
            "questline.inactive",
            "",
        )
    };
    vec![per_purchase, scan, birthday, coffee, win_back]
}

/// Exchanges an API key for a token.
pub async fn token(settings: &Settings, api_key: &str) -> anyhow::Result<String> {
    let mut identity = IdentityServiceClient::with_interceptor(
        questline_kit::client::channel(&settings.endpoint(ServiceKind::Identity))?,
        Outgoing::default(),
    );
    Ok(identity
        .issue_token(id::IssueTokenRequest {
            api_key: api_key.into(),
            tenant_id: String::new(),
        })
        .await?
        .into_inner()
        .access_token)
}
