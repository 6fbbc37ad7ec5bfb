//! Email, push and SMS as a member meets them: nothing sent without
//! consent, nothing on a topic the member turned off, marketing held
//! through quiet hours and sent after; and emails that arrive through a
//! real SMTP relay in the member's language, with an unsubscribe link that
//! works. The push provider is a receiver started here; the relay is
//! `aiosmtpd`, started by `.ci/run` (the email test runs when
//! `QUESTLINE_TEST_SMTP_URL` and `QUESTLINE_TEST_SMTP_MAILDIR` are set).

#![allow(clippy::unwrap_used)]

use axum::extract::State;
use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use questline_proto::identity::{ConsentChoice, ConsentPurpose, UpdateConsentRequest};
use questline_proto::notifications::{self as pb, Channel, DispatchStatus, MessagePurpose};
use questline_tests::{Api, Harness, Programme, each_backend, eventually, track};
use sha2::Sha256;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the push provider received: headers and body of each POST.
#[derive(Default)]
struct Provider {
    got: Mutex<Vec<(HeaderMap, String)>>,
}

async fn receive(State(p): State<Arc<Provider>>, headers: HeaderMap, body: String) -> &'static str {
    p.got.lock().unwrap().push((headers, body));
    "ok"
}

/// Starts the provider on loopback; its URL.
async fn start_provider(provider: Arc<Provider>) -> String {
    let app = axum::Router::new()
        .route("/push", axum::routing::post(receive))
        .route("/hooks", axum::routing::post(|| async { "ok" }))
        .with_state(provider);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{at}/push")
}

impl Provider {
    /// The JSON bodies received for `dispatch_id`, each signature checked.
    fn bodies_of(&self, secret: &str, dispatch_id: &str) -> Vec<serde_json::Value> {
        let got = self.got.lock().unwrap();
        got.iter()
            .filter(|(h, _)| h["webhook-id"] == dispatch_id)
            .map(|(headers, body)| {
                assert!(
                    signed(secret, headers, body),
                    "a push not signed with the provider's secret"
                );
                serde_json::from_str(body).unwrap()
            })
            .collect()
    }
}

/// Standard Webhooks' check, as the brand's gateway makes it: some `v1,`
/// signature is the HMAC-SHA256 of `id.timestamp.body` under the secret.
fn signed(secret: &str, headers: &HeaderMap, body: &str) -> bool {
    let text = |name: &str| headers[name].to_str().unwrap().to_string();
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(
        format!(
            "{}.{}.{body}",
            text("webhook-id"),
            text("webhook-timestamp")
        )
        .as_bytes(),
    );
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    text("webhook-signature").split(' ').any(|s| s == expected)
}

fn new_secret() -> String {
    format!("whsec_{}", STANDARD.encode(uuid::Uuid::new_v4().as_bytes()))
}

/// Points credited become a marketing message about `points` on these channels.
async fn points_trigger(api: &mut Api, p: &Programme, channels: &[Channel]) {
    api.notifications
        .put_notification_trigger(pb::PutNotificationTriggerRequest {
            tenant_id: p.tenant_id.clone(),
            event_type: "points.credited".into(),
            channels: channels.iter().map(|c| *c as i32).collect(),
            purpose: MessagePurpose::Marketing as i32,
            topic: "points".into(),
            enabled: true,
            expected_version: 0,
        })
        .await
        .unwrap();
}

async fn consent(api: &mut Api, p: &Programme, member_id: &str, purpose: ConsentPurpose) {
    api.identity
        .update_consent(UpdateConsentRequest {
            tenant_id: p.tenant_id.clone(),
            member_id: member_id.into(),
            choices: vec![ConsentChoice {
                purpose: purpose as i32,
                granted: true,
            }],
            source: "app".into(),
        })
        .await
        .unwrap();
}

async fn dispatches(api: &Api, p: &Programme, member_id: &str) -> Vec<pb::Dispatch> {
    let request = pb::ListDispatchesRequest {
        tenant_id: p.tenant_id.clone(),
        member_id: member_id.into(),
        page_size: 100,
        ..Default::default()
    };
    let mut n = api.notifications.clone();
    n.list_dispatches(request)
        .await
        .unwrap()
        .into_inner()
        .dispatches
}

/// A brand's endpoint (the receiver at `url`) hearing what became of each
/// message and every change of preferences.
async fn analytics_endpoint(api: &mut Api, p: &Programme, url: &str) {
    let types = ["message.dispatched", "message_preferences.changed"];
    let request = pb::PutWebhookEndpointRequest {
        tenant_id: p.tenant_id.clone(),
        endpoint_id: "analytics".into(),
        url: url.into(),
        description: "the brand's analytics".into(),
        event_types: types.iter().map(|t| t.to_string()).collect(),
        enabled: true,
        expected_version: 0,
    };
    api.notifications
        .put_webhook_endpoint(request)
        .await
        .unwrap();
}

/// The events the analytics endpoint was sent so far: type and data.
async fn announced(api: &Api, p: &Programme) -> Vec<(String, serde_json::Value)> {
    let request = pb::ListWebhookDeliveriesRequest {
        tenant_id: p.tenant_id.clone(),
        endpoint_id: "analytics".into(),
        page_size: 100,
        ..Default::default()
    };
    let mut n = api.notifications.clone();
    let found = n.list_webhook_deliveries(request).await.unwrap();
    let bodies = found.into_inner().deliveries.into_iter().map(|d| {
        let body: serde_json::Value = serde_json::from_str(&d.payload).unwrap();
        (d.event_type, body["data"].clone())
    });
    bodies.collect()
}

/// What was announced about one dispatch.
fn about(log: &[(String, serde_json::Value)], dispatch_id: &str) -> Vec<serde_json::Value> {
    log.iter()
        .filter(|(t, d)| t == "message.dispatched" && d["dispatch_id"] == dispatch_id)
        .map(|(_, d)| d.clone())
        .collect()
}

/// Tracks a purchase worth 5 stars; the member's dispatch for it once
/// settled (sent, not sent, or held for a reason).
async fn purchase(api: &Api, p: &Programme, member_id: &str, event_id: &str) -> pb::Dispatch {
    let before = dispatches(api, p, member_id).await.len();
    let mut mechanics = api.mechanics.clone();
    mechanics
        .track(track(&p.tenant_id, member_id, event_id, 50.0))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let found = dispatches(api, p, member_id).await;
        if found.len() > before {
            let newest = &found[0];
            if newest.status != DispatchStatus::Pending as i32 || !newest.reason.is_empty() {
                return newest.clone();
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no dispatch for {event_id}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Tracks purchases until one's dispatch is sent (consent reaches
/// notifications by event, a moment after identity answers).
async fn until_sent(api: &Api, p: &Programme, member_id: &str, name: &str) -> pb::Dispatch {
    let mut last = None;
    for i in 0..20 {
        let d = purchase(api, p, member_id, &format!("{name}-{i}")).await;
        if d.status == DispatchStatus::Sent as i32 {
            return d;
        }
        last = Some(d);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("nothing sent after 20 purchases; the last: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn push_waits_for_consent_preferences_and_quiet_hours() {
    each_backend(|backend| async move {
        let provider = Arc::new(Provider::default());
        let url = start_provider(provider.clone()).await;
        let secret = new_secret();
        let h = Harness::start_with(backend, |s| {
            s.messaging.push_url = url.clone();
            s.messaging.push_secret = secret.clone();
            s.webhooks.allow_networks = "127.0.0.0/8".into();
        })
        .await;
        let p = h.programme("push").await;
        let mut api = h.api(Some(&p.token));
        points_trigger(&mut api, &p, &[Channel::Inbox, Channel::Push]).await;
        analytics_endpoint(&mut api, &p, &url.replace("/push", "/hooks")).await;

        // No push consent: recorded as not sent, the provider hears nothing.
        let first = purchase(&api, &p, &p.member_id, "before-consent").await;
        assert_eq!(first.status, DispatchStatus::Suppressed as i32);
        assert_eq!(first.reason, "NO_CONSENT");
        assert!(provider.got.lock().unwrap().is_empty());

        // Consent given: sent once, signed, in the member's words.
        consent(&mut api, &p, &p.member_id, ConsentPurpose::Push).await;
        let sent = until_sent(&api, &p, &p.member_id, "with-consent").await;
        let bodies = provider.bodies_of(&secret, &sent.dispatch_id);
        assert_eq!(bodies.len(), 1);
        assert_eq!(bodies[0]["type"], "push");
        assert_eq!(bodies[0]["external_id"], "alice");
        assert_eq!(bodies[0]["title"], "You earned 5 stars");
        assert_eq!(bodies[0]["purpose"], "marketing");
        assert_eq!(sent.attempts, 1);

        // The member turns the topic off from the app: nothing more.
        let member = h.api(Some(&h.member_token(&p, &p.member_id).await));
        let prefs = |topics: &[&str]| pb::UpdateMessagePreferencesRequest {
            tenant_id: p.tenant_id.clone(),
            member_id: p.member_id.clone(),
            topics_off: topics.iter().map(|t| t.to_string()).collect(),
            ..Default::default()
        };
        let mut n = member.notifications.clone();
        let off = n
            .update_message_preferences(prefs(&["points"]))
            .await
            .unwrap();
        assert_eq!(off.into_inner().preferences.unwrap().version, 1);
        let muted = purchase(&api, &p, &p.member_id, "topic-off").await;
        assert_eq!(muted.reason, "TOPIC_OFF");
        n.update_message_preferences(prefs(&[])).await.unwrap();

        // Quiet hours that end a minute or two from now, on the tenant's
        // clock (London): held, then sent once they end.
        let ends = quiet_now(&mut api, &p).await;
        let held = purchase(&api, &p, &p.member_id, "at-night").await;
        assert_eq!(held.status, DispatchStatus::Pending as i32);
        assert_eq!(held.reason, "QUIET_HOURS");
        assert_eq!(held.due_time.unwrap().seconds, ends.as_second());
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(provider.bodies_of(&secret, &held.dispatch_id).is_empty());
        let waiting = announced(&api, &p).await;
        assert!(
            about(&waiting, &held.dispatch_id).is_empty(),
            "held is not settled"
        );
        let deadline = tokio::time::Instant::now() + Duration::from_secs(150);
        let after = loop {
            let d = dispatches(&api, &p, &p.member_id).await;
            let d = d
                .into_iter()
                .find(|d| d.dispatch_id == held.dispatch_id)
                .unwrap();
            if d.status == DispatchStatus::Sent as i32 {
                break d;
            }
            assert!(tokio::time::Instant::now() < deadline, "still held: {d:?}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        assert!(after.send_time.unwrap().seconds >= ends.as_second());
        assert_eq!(provider.bodies_of(&secret, &held.dispatch_id).len(), 1);
        announced_as_they_settled(&api, &p, [&first, &sent, &muted, &held]).await;
        h.cleanup().await;
    })
    .await;
}

/// The brand's endpoint heard each dispatch once, as it settled, each
/// inbox message, and both changes of preferences; never an address or
/// the message's words.
async fn announced_as_they_settled(
    api: &Api,
    p: &Programme,
    [first, sent, muted, held]: [&pb::Dispatch; 4],
) {
    let log = eventually("the held push announced", || async {
        let log = announced(api, p).await;
        (about(&log, &held.dispatch_id).len() == 1).then_some(log)
    })
    .await;
    let one = |d: &pb::Dispatch| {
        let found = about(&log, &d.dispatch_id);
        assert_eq!(found.len(), 1, "{found:?}");
        let d = &found[0];
        let kind = (d["channel"].as_str(), d["purpose"].as_str());
        assert_eq!(kind, (Some("push"), Some("marketing")));
        assert_eq!(d["topic"], "points");
        let (status, reason) = (d["status"].as_str(), d["reason"].as_str());
        (
            status.unwrap().to_string(),
            reason.unwrap().to_string(),
            d["attempts"].as_i64(),
        )
    };
    let suppressed = |reason: &str| ("SUPPRESSED".to_string(), reason.to_string(), Some(0));
    assert_eq!(one(first), suppressed("NO_CONSENT"));
    assert_eq!(one(sent), ("SENT".into(), "".into(), Some(1)));
    assert_eq!(one(muted), suppressed("TOPIC_OFF"));
    // Held through quiet hours: sent, and why it waited.
    assert_eq!(one(held), ("SENT".into(), "QUIET_HOURS".into(), Some(1)));
    // Every purchase gave a push dispatch and an inbox message, but the
    // one whose topic was off.
    let purchases = dispatches(api, p, &p.member_id).await.len();
    let inbox = |status: &str, reason: &str, put: bool| {
        let found = log.iter().filter(|(t, d)| {
            t == "message.dispatched"
                && d["channel"] == "inbox"
                && d["status"] == status
                && d["reason"] == reason
                && (d["dispatch_id"] != "") == put
        });
        found.count()
    };
    assert_eq!(inbox("SENT", "", true), purchases - 1);
    assert_eq!(inbox("SUPPRESSED", "TOPIC_OFF", false), 1);
    let text = serde_json::to_string(&log).unwrap();
    for private in ["alice", "You earned", "stars"] {
        assert!(!text.contains(private), "{private} in {text}");
    }
    preferences_announced(&log, &[(1, &["points"]), (2, &[])], "api");
}

/// The preference changes announced, by version: topics off and how.
fn preferences_announced(log: &[(String, serde_json::Value)], want: &[(i64, &[&str])], how: &str) {
    let mut changes: Vec<_> = log
        .iter()
        .filter(|(t, _)| t == "message_preferences.changed")
        .map(|(_, d)| {
            (
                d["version"].as_i64().unwrap(),
                d["topics_off"].clone(),
                d["change"].clone(),
            )
        })
        .collect();
    changes.sort_by_key(|c| c.0);
    let want: Vec<_> = want
        .iter()
        .map(|(v, topics)| (*v, serde_json::json!(topics), serde_json::json!(how)))
        .collect();
    assert_eq!(changes, want);
}

/// Sets quiet hours from an hour ago to the next whole minute at least
/// 30 s away, London time; when they end.
async fn quiet_now(api: &mut Api, p: &Programme) -> jiff::Timestamp {
    let zone = jiff::tz::TimeZone::get("Europe/London").unwrap();
    let now = jiff::Timestamp::now().to_zoned(zone);
    let end = (&now + jiff::Span::new().seconds(90))
        .with()
        .second(0)
        .subsec_nanosecond(0)
        .build()
        .unwrap();
    let start = &now - jiff::Span::new().hours(1);
    let clock = |z: &jiff::Zoned| format!("{:02}:{:02}", z.hour(), z.minute());
    api.notifications
        .update_messaging_settings(pb::UpdateMessagingSettingsRequest {
            tenant_id: p.tenant_id.clone(),
            quiet_hours: Some(pb::QuietHours {
                start: clock(&start),
                end: clock(&end),
                channels: vec![Channel::Push as i32],
                action: pb::QuietHoursAction::Hold as i32,
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    end.timestamp()
}

/// The relay and the maildir it writes to, when `.ci/run` started one.
fn relay() -> Option<(String, std::path::PathBuf)> {
    let url = std::env::var("QUESTLINE_TEST_SMTP_URL").ok()?;
    let maildir = std::env::var("QUESTLINE_TEST_SMTP_MAILDIR").ok()?;
    Some((url, maildir.into()))
}

/// Every message in the maildir addressed to `to`, raw.
fn mail_to(maildir: &std::path::Path, to: &str) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(maildir.join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let raw = std::fs::read(entry.path()).unwrap();
            let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
            let addressed = parsed
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .is_some_and(|a| a == to);
            if addressed {
                found.push(raw);
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_email_arrives_in_the_members_language_and_its_link_unsubscribes() {
    let Some((smtp_url, maildir)) = relay() else {
        eprintln!("no SMTP relay: set QUESTLINE_TEST_SMTP_URL and QUESTLINE_TEST_SMTP_MAILDIR");
        return;
    };
    each_backend(|backend| {
        let (smtp_url, maildir) = (smtp_url.clone(), maildir.clone());
        async move {
            // Links point at the gateway: its port is chosen first.
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let h = Harness::start_with(backend, |s| {
                s.messaging.smtp_url = smtp_url.clone();
                s.messaging.email_from = "Questline Tests <tests@questline.example>".into();
                s.gateway.listen = format!("127.0.0.1:{port}");
                s.messaging.public_url = format!("http://127.0.0.1:{port}");
                s.webhooks.allow_networks = "127.0.0.0/8".into();
            })
            .await;
            let p = h.programme("email").await;
            let mut api = h.api(Some(&p.token));
            let address = format!(
                "claire-{}@example.com",
                &uuid::Uuid::new_v4().simple().to_string()[..10]
            );
            let profile = questline_proto::identity::Profile {
                display_name: "Claire".into(),
                email: address.clone(),
                locale: "fr-CA".into(),
                ..Default::default()
            };
            let claire = api
                .upsert_member(&p.tenant_id, "claire", Some(profile))
                .await;
            points_trigger(&mut api, &p, &[Channel::Inbox, Channel::Email]).await;
            consent(&mut api, &p, &claire, ConsentPurpose::MarketingEmail).await;
            // Nothing listens there: the delivery log keeps what was sent.
            analytics_endpoint(&mut api, &p, "http://127.0.0.1:9/hooks").await;

            let sent = until_sent(&api, &p, &claire, "email").await;
            let raw = tokio::time::timeout(Duration::from_secs(10), async {
                loop {
                    if let Some(raw) = mail_to(&maildir, &address).pop() {
                        return raw;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
            .await
            .expect("the relay received no email");
            let mail = mail_parser::MessageParser::default().parse(&raw).unwrap();
            assert_eq!(mail.subject(), Some("Vous avez gagné 5 stars"));
            assert_eq!(sent.subject, "Vous avez gagné 5 stars");
            let text = mail.body_text(0).unwrap();
            assert!(text.contains("Votre solde est maintenant de"), "{text}");
            let header = |name: &str| {
                mail.header_raw(name)
                    .map(|v| v.trim().to_string())
                    .unwrap_or_default()
            };
            assert_eq!(
                header("List-Unsubscribe-Post"),
                "List-Unsubscribe=One-Click"
            );
            let link = header("List-Unsubscribe")
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string();
            assert!(
                link.starts_with(&format!("{}/v1/unsubscribe/", h.gateway())),
                "{link}"
            );
            assert!(text.contains(&link), "the text carries the link too");

            // The link: a page that changes nothing, then its button.
            let http = reqwest::Client::new();
            let page = http.get(&link).send().await.unwrap();
            assert_eq!(page.status(), 200);
            assert!(page.text().await.unwrap().contains("<form method=\"post\""));
            let prefs = |api: &Api| {
                let mut n = api.notifications.clone();
                let request = pb::GetMessagePreferencesRequest {
                    tenant_id: p.tenant_id.clone(),
                    member_id: claire.clone(),
                };
                async move {
                    n.get_message_preferences(request)
                        .await
                        .unwrap()
                        .into_inner()
                        .preferences
                        .unwrap()
                }
            };
            assert!(prefs(&api).await.topics_off.is_empty());
            let done = http
                .post(&link)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("List-Unsubscribe=One-Click")
                .send()
                .await
                .unwrap();
            assert_eq!(done.status(), 200);
            assert!(done.text().await.unwrap().contains("messages about points"));
            assert_eq!(prefs(&api).await.topics_off, ["points"]);
            // Followed again: nothing more changes.
            assert_eq!(http.post(&link).send().await.unwrap().status(), 200);
            assert_eq!(prefs(&api).await.version, 1);
            let log = eventually("the unsubscribe announced", || async {
                let log = announced(&api, &p).await;
                let heard = log.iter().any(|(t, _)| t == "message_preferences.changed");
                (heard && !about(&log, &sent.dispatch_id).is_empty()).then_some(log)
            })
            .await;
            preferences_announced(&log, &[(1, &["points"])], "unsubscribe_link");
            let emailed = about(&log, &sent.dispatch_id);
            assert_eq!(
                (
                    emailed[0]["channel"].as_str(),
                    emailed[0]["status"].as_str()
                ),
                (Some("email"), Some("SENT"))
            );
            assert!(
                !serde_json::to_string(&log).unwrap().contains(&address),
                "no address is announced"
            );

            // No more points emails; the inbox still has them.
            let next = purchase(&api, &p, &claire, "after-unsubscribe").await;
            assert_eq!(next.reason, "TOPIC_OFF");
            assert_eq!(mail_to(&maildir, &address).len(), 1);

            // A link made up, or one of another member's changed: refused.
            let (payload, mac) = link.rsplit_once('/').unwrap().1.split_once('.').unwrap();
            let forged = format!(
                "{}/v1/unsubscribe/{payload}.{}",
                h.gateway(),
                mac.chars().rev().collect::<String>()
            );
            let refused = http.post(&forged).send().await.unwrap();
            assert_eq!(refused.status(), 400);
            assert_eq!(
                refused.headers()["content-type"],
                "application/problem+json"
            );
            h.cleanup().await;
        }
    })
    .await;
}

#[tokio::test]
async fn bad_preferences_settings_and_links_are_refused_and_change_nothing() {
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        let p = h.programme("refusals").await;
        let api = h.api(Some(&p.token));
        let mut n = api.notifications.clone();
        let many: Vec<String> = (0..101).map(|i| format!("topic-{i}")).collect();
        for (channels_off, topics_off, field) in [
            (vec![0], vec![], "channels_off[0]"),
            (
                vec![Channel::Sms as i32, Channel::Sms as i32],
                vec![],
                "channels_off[1]",
            ),
            (vec![], vec!["".to_string()], "topics_off[0]"),
            (vec![], vec!["no spaces".to_string()], "topics_off[0]"),
            (
                vec![],
                vec!["a".to_string(), "a".to_string()],
                "topics_off[1]",
            ),
            (vec![], many.clone(), "topics_off"),
        ] {
            let refused = n
                .update_message_preferences(pb::UpdateMessagePreferencesRequest {
                    tenant_id: p.tenant_id.clone(),
                    member_id: p.member_id.clone(),
                    channels_off,
                    topics_off,
                    expected_version: 0,
                })
                .await
                .unwrap_err();
            assert_eq!(refused.code(), tonic::Code::InvalidArgument);
            let named = questline_tests::violations(&refused);
            assert!(
                named.iter().any(|v| v.starts_with(field)),
                "{field}: {named:?}"
            );
        }
        let get = pb::GetMessagePreferencesRequest {
            tenant_id: p.tenant_id.clone(),
            member_id: p.member_id.clone(),
        };
        let untouched = n
            .get_message_preferences(get.clone())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(untouched.preferences.unwrap().version, 0);

        // Two apps change them from the same version: one wins, one is ABORTED.
        let change = |topic: &str, expected_version| pb::UpdateMessagePreferencesRequest {
            tenant_id: p.tenant_id.clone(),
            member_id: p.member_id.clone(),
            topics_off: vec![topic.into()],
            expected_version,
            ..Default::default()
        };
        n.update_message_preferences(change("points", 0))
            .await
            .unwrap();
        let (mut first, mut second) = (api.notifications.clone(), api.notifications.clone());
        let (a, b) = tokio::join!(
            first.update_message_preferences(change("offers", 1)),
            second.update_message_preferences(change("news", 1)),
        );
        let codes = [a.is_ok(), b.is_ok()];
        assert_eq!(codes.iter().filter(|ok| **ok).count(), 1, "{a:?} {b:?}");
        let loser = a.err().or(b.err()).unwrap();
        assert_eq!(loser.code(), tonic::Code::Aborted);
        let after = n.get_message_preferences(get).await.unwrap().into_inner();
        assert_eq!(after.preferences.unwrap().version, 2);

        // Quiet hours that are not a window of HH:MM on email, push or SMS.
        let refused = n
            .update_messaging_settings(pb::UpdateMessagingSettingsRequest {
                tenant_id: p.tenant_id.clone(),
                quiet_hours: Some(pb::QuietHours {
                    start: "25:00".into(),
                    end: "9:00".into(),
                    channels: vec![0],
                    action: 0,
                }),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        let named = questline_tests::violations(&refused);
        for field in [
            "quiet_hours.start",
            "quiet_hours.end",
            "quiet_hours.channels[0]",
            "quiet_hours.action",
        ] {
            assert!(
                named.iter().any(|v| v.starts_with(field)),
                "{field}: {named:?}"
            );
        }
        let inbox_quiet = n
            .update_messaging_settings(pb::UpdateMessagingSettingsRequest {
                tenant_id: p.tenant_id.clone(),
                quiet_hours: Some(pb::QuietHours {
                    start: "21:00".into(),
                    end: "21:00".into(),
                    channels: vec![Channel::Inbox as i32],
                    action: pb::QuietHoursAction::Drop as i32,
                }),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(inbox_quiet.code(), tonic::Code::InvalidArgument);
        let settings = n
            .get_messaging_settings(pb::GetMessagingSettingsRequest {
                tenant_id: p.tenant_id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
            .settings
            .unwrap();
        assert!(settings.quiet_hours.is_none());
        assert_eq!(settings.version, 0);

        // Links: empty, not one, or huge.
        for token in [String::new(), "not-a-link".into(), "a".repeat(10_000)] {
            let refused = n
                .unsubscribe(pb::UnsubscribeRequest { token })
                .await
                .unwrap_err();
            assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        }
        h.cleanup().await;
    })
    .await;
}
