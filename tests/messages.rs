//! A programme manager's words and triggers, as a platform team drives
//! them over gRPC: templates refused at save with the mistake's line and
//! column, every version kept, previews that save nothing; triggers that
//! replace the built-in ones; and the messages members then read, in
//! their locale, else the programme's default.

#![allow(clippy::unwrap_used)]

use questline_proto::notifications::{self as pb, Channel, MessagePurpose};
use questline_tests::{Api, Harness, Programme, each_backend, eventually, track, violations};
use tonic::Code;

fn template(
    p: &Programme,
    locale: &str,
    subject: &str,
    body: &str,
) -> pb::PutMessageTemplateRequest {
    pb::PutMessageTemplateRequest {
        tenant_id: p.tenant_id.clone(),
        event_type: "points.credited".into(),
        channel: Channel::Inbox as i32,
        locale: locale.into(),
        subject: subject.into(),
        body: body.into(),
        ..Default::default()
    }
}

fn trigger(
    p: &Programme,
    event_type: &str,
    channels: &[Channel],
    enabled: bool,
) -> pb::PutNotificationTriggerRequest {
    pb::PutNotificationTriggerRequest {
        tenant_id: p.tenant_id.clone(),
        event_type: event_type.into(),
        channels: channels.iter().map(|c| *c as i32).collect(),
        purpose: MessagePurpose::Transactional as i32,
        topic: "points".into(),
        enabled,
        expected_version: 0,
    }
}

/// The titles in the member's inbox, newest first, once one is `title`.
async fn titles(api: &Api, p: &Programme, title: &str) -> Vec<String> {
    eventually("the inbox", || {
        let mut n = api.notifications.clone();
        let request = pb::ListInboxRequest {
            tenant_id: p.tenant_id.clone(),
            member_id: p.member_id.clone(),
            ..Default::default()
        };
        async move {
            let messages = n.list_inbox(request).await.ok()?.into_inner().messages;
            let titles: Vec<String> = messages.into_iter().map(|m| m.title).collect();
            titles.iter().any(|t| t == title).then_some(titles)
        }
    })
    .await
}

/// A webhook endpoint at a closed port for `event_type`: its deliveries
/// show which events the consumer has handled, as it stages them then.
async fn watch_handled(api: &mut Api, p: &Programme, event_type: &str) {
    api.notifications
        .put_webhook_endpoint(pb::PutWebhookEndpointRequest {
            tenant_id: p.tenant_id.clone(),
            endpoint_id: "handled".into(),
            url: "http://127.0.0.1:9/handled".into(),
            event_types: vec![event_type.into()],
            enabled: true,
            ..Default::default()
        })
        .await
        .unwrap();
}

/// Waits until the consumer has handled `events` of the watched type.
async fn handled(api: &Api, p: &Programme, events: usize) {
    eventually("the events handled", || {
        let mut n = api.notifications.clone();
        let request = pb::ListWebhookDeliveriesRequest {
            tenant_id: p.tenant_id.clone(),
            endpoint_id: "handled".into(),
            page_size: 500,
            ..Default::default()
        };
        async move {
            let found = n.list_webhook_deliveries(request).await.ok()?;
            (found.into_inner().deliveries.len() >= events).then_some(())
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn templates_and_triggers_shape_what_members_read() {
    each_backend(|backend| async move {
        let mut h = Harness::start(backend).await;
        h.settings.webhooks.allow_networks = "127.0.0.0/8".into();
        h.restart().await;
        let p = h.programme("words").await;
        let mut api = h.api(Some(&p.token));
        watch_handled(&mut api, &p, "points.credited").await;
        let n = &mut api.notifications;

        // Refused at save, every mistake with its place; nothing stored.
        let broken = template(
            &p,
            "en",
            "Hi {{ member.external_id }",
            "You have {{ points }}",
        );
        let refused = n.put_message_template(broken).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        let found = violations(&refused);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].starts_with("subject: line 1, column "),
            "{found:?}"
        );
        assert!(
            found[1].starts_with("body: line 1, column 13: unknown variable `points`"),
            "{found:?}"
        );
        let listed = n
            .list_message_templates(pb::ListMessageTemplatesRequest {
                tenant_id: p.tenant_id.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(listed.templates.is_empty());

        // Versions: a change is the next one, the same words again are not.
        let first = template(
            &p,
            "en",
            "+{{ amount }} {{ currency }}",
            "Now {{ balance }}.",
        );
        let v1 = n
            .put_message_template(first.clone())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(v1.template.unwrap().version, 1);
        let again = n.put_message_template(first).await.unwrap().into_inner();
        assert_eq!(again.template.unwrap().version, 1);
        let second = template(
            &p,
            "en",
            "{{ amount }} {{ currency }} for you",
            "Now {{ balance }}.",
        );
        let stale = pb::PutMessageTemplateRequest {
            expected_version: 7,
            ..second.clone()
        };
        assert_eq!(
            n.put_message_template(stale).await.unwrap_err().code(),
            Code::Aborted
        );
        n.put_message_template(second).await.unwrap();
        let versions = n
            .list_message_template_versions(pb::ListMessageTemplateVersionsRequest {
                tenant_id: p.tenant_id.clone(),
                event_type: "points.credited".into(),
                channel: Channel::Inbox as i32,
                locale: "en".into(),
                page_size: 1,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(versions.templates[0].version, 2);
        assert!(!versions.next_page_token.is_empty());
        let old = n
            .get_message_template(pb::GetMessageTemplateRequest {
                tenant_id: p.tenant_id.clone(),
                event_type: "points.credited".into(),
                channel: Channel::Inbox as i32,
                locale: "en".into(),
                version: 1,
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            old.template.unwrap().subject,
            "+{{ amount }} {{ currency }}"
        );

        // A preview of what a member reads, and of a draft.
        let sample = serde_json::json!({"amount": 120, "currency": "stars"});
        let preview = pb::PreviewMessageTemplateRequest {
            tenant_id: p.tenant_id.clone(),
            event_type: "points.credited".into(),
            channel: Channel::Inbox as i32,
            locale: "en-SG".into(),
            sample: sample.as_object().map(questline_kit::structs::from_json),
            ..Default::default()
        };
        let stored = n
            .preview_message_template(preview.clone())
            .await
            .unwrap()
            .into_inner();
        assert_eq!(stored.subject, "120 stars for you");
        assert_eq!(stored.source, "tenant en v2");
        let draft = pb::PreviewMessageTemplateRequest {
            subject: "Draft {{ amount }}".into(),
            body: "{{ member.attributes.tier | default('none') }}".into(),
            ..preview
        };
        let drafted = n
            .preview_message_template(draft)
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            (drafted.subject.as_str(), drafted.body.as_str()),
            ("Draft 120", "none")
        );
        assert_eq!(drafted.source, "draft");

        // Triggers: email has no provider here; the built-in one shows.
        let email = n
            .put_notification_trigger(trigger(&p, "points.credited", &[Channel::Email], true))
            .await
            .unwrap_err();
        assert_eq!(email.code(), Code::FailedPrecondition);
        let builtin = n
            .get_notification_trigger(pb::GetNotificationTriggerRequest {
                tenant_id: p.tenant_id.clone(),
                event_type: "points.credited".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .trigger
            .unwrap();
        assert!(builtin.builtin);

        // A member reads the programme's words.
        api.mechanics
            .track(track(&p.tenant_id, &p.member_id, "words-1", 100.0))
            .await
            .unwrap();
        assert_eq!(
            titles(&api, &p, "10 stars for you").await[0],
            "10 stars for you"
        );

        // Switched off, the credit messages nobody.
        let mut n = api.notifications.clone();
        n.put_notification_trigger(trigger(&p, "points.credited", &[Channel::Inbox], false))
            .await
            .unwrap();
        api.mechanics
            .track(track(&p.tenant_id, &p.member_id, "words-2", 50.0))
            .await
            .unwrap();
        handled(&api, &p, 2).await;
        n.delete_notification_trigger(pb::DeleteNotificationTriggerRequest {
            tenant_id: p.tenant_id.clone(),
            event_type: "points.credited".into(),
        })
        .await
        .unwrap();
        api.mechanics
            .track(track(&p.tenant_id, &p.member_id, "words-3", 70.0))
            .await
            .unwrap();
        let read = titles(&api, &p, "7 stars for you").await;
        assert_eq!(read[0], "7 stars for you", "{read:?}");
        assert!(!read.contains(&"5 stars for you".to_string()), "{read:?}");

        // Another tenant's admin sees none of it.
        let other = h.programme("other").await;
        let mut theirs = h.api(Some(&other.token));
        let crossed = theirs
            .notifications
            .get_message_template(pb::GetMessageTemplateRequest {
                tenant_id: p.tenant_id.clone(),
                event_type: "points.credited".into(),
                channel: Channel::Inbox as i32,
                locale: "en".into(),
                version: 0,
            })
            .await
            .unwrap_err();
        assert_eq!(crossed.code(), Code::PermissionDenied);
        h.cleanup().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cap_of_three_a_day_holds_under_fifty_concurrent_events() {
    use questline_proto::mechanics as mech;
    each_backend(|backend| async move {
        let mut h = Harness::start(backend).await;
        h.settings.webhooks.allow_networks = "127.0.0.0/8".into();
        h.restart().await;
        let p = h.programme("caps").await;
        let mut api = h.api(Some(&p.token));
        watch_handled(&mut api, &p, "rule.message").await;
        let n = &mut api.notifications;
        let mut promo = trigger(&p, "rule.message.promo", &[Channel::Inbox], true);
        promo.purpose = MessagePurpose::Marketing as i32;
        n.put_notification_trigger(promo).await.unwrap();
        n.put_message_template(pb::PutMessageTemplateRequest {
            event_type: "rule.message.promo".into(),
            ..template(&p, "en", "A treat for you", "Come by today.")
        })
        .await
        .unwrap();
        let caps = |per_day| pb::UpdateMessagingSettingsRequest {
            tenant_id: p.tenant_id.clone(),
            caps: vec![pb::FrequencyCap {
                channel: Channel::Inbox as i32,
                per_day,
                per_week: 0,
            }],
            expected_version: 0,
            ..Default::default()
        };
        // A week's cap below a day's, or a negative one: refused.
        let refused = n
            .update_messaging_settings(pb::UpdateMessagingSettingsRequest {
                caps: vec![pb::FrequencyCap {
                    channel: Channel::Inbox as i32,
                    per_day: 5,
                    per_week: 2,
                }],
                ..caps(3)
            })
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert_eq!(
            n.update_messaging_settings(caps(-1))
                .await
                .unwrap_err()
                .code(),
            Code::InvalidArgument
        );
        let settings = n
            .update_messaging_settings(caps(3))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(settings.settings.unwrap().version, 1);
        // Days are the tenant's: its time zone arrives from identity.
        eventually("the tenant's time zone", || {
            let mut n = api.notifications.clone();
            let request = pb::GetMessagingSettingsRequest {
                tenant_id: p.tenant_id.clone(),
            };
            async move {
                let settings = n.get_messaging_settings(request).await.ok()?.into_inner();
                let zone = settings.settings?.time_zone;
                (zone == "Europe/London").then_some(())
            }
        })
        .await;

        let rule = mech::Rule {
            rule_id: "promo".into(),
            name: "A promo for small baskets".into(),
            event_types: vec!["purchase".into()],
            condition: "event.amount == 7.0".into(),
            time_zone: "Europe/London".into(),
            actions: vec![mech::Action {
                action: Some(mech::action::Action::EmitMessage(mech::EmitMessage {
                    message_type: "promo".into(),
                })),
            }],
            ..Default::default()
        };
        api.mechanics
            .create_rule(mech::CreateRuleRequest {
                tenant_id: p.tenant_id.clone(),
                rule: Some(rule),
                activate: true,
            })
            .await
            .unwrap();

        // Fifty at once; each emits the promo.
        let tracked = (0..50).map(|i| {
            let mut mechanics = api.mechanics.clone();
            let request = track(&p.tenant_id, &p.member_id, &format!("basket-{i}"), 7.0);
            async move { mechanics.track(request).await }
        });
        for answer in futures::future::join_all(tracked).await {
            answer.unwrap();
        }
        handled(&api, &p, 50).await;
        let inbox = api
            .notifications
            .clone()
            .list_inbox(pb::ListInboxRequest {
                tenant_id: p.tenant_id.clone(),
                member_id: p.member_id.clone(),
                page_size: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .messages;
        let promos = inbox
            .iter()
            .filter(|m| m.event_type == "rule.message.promo")
            .count();
        assert_eq!(promos, 3, "{inbox:?}");

        // Transactional messages are never capped.
        api.mechanics
            .track(track(&p.tenant_id, &p.member_id, "big-basket", 100.0))
            .await
            .unwrap();
        titles(&api, &p, "You earned 10 stars").await;
        h.cleanup().await;
    })
    .await;
}
