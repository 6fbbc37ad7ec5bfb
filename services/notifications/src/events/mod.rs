//! What notifications consumes: `points.credited`, `points.expired` and `reward.redeemed` become
//! inbox messages; `member.*` events keep its member read model, and
//! `member.erased` also deletes the member's messages and webhook
//! deliveries. An erased member is never notified again. Every event
//! webhooks carry is staged for the tenant's endpoints that want it, in
//! the batch's order (an erasure's forgetting comes after what preceded
//! it). Every other event is acknowledged and left alone.

use async_trait::async_trait;
use questline_kit::DomainError;
use questline_kit::bus::EventHandler;
use questline_kit::members::{Held, MemberDirectory};
use questline_proto::events::{Event, event::Payload};

use crate::domain::templates::Templates;
use crate::domain::webhooks::payload;
use crate::domain::{DEFAULT_LOCALE, Notice};
use crate::flow::webhooks::Sender;
use crate::store::{Delivery, Store};
use std::sync::Arc;

mod webhook;

/// This service's bus consumer and inbox name.
pub const CONSUMER: &str = "notifications";

/// The bus consumer: renders the event's message and puts it in the member's inbox.
pub struct Notifier {
    store: Store,
    templates: Templates,
    members: MemberDirectory,
    webhooks: Arc<Sender>,
}

impl Notifier {
    pub fn new(
        store: Store,
        templates: Templates,
        members: MemberDirectory,
        webhooks: Arc<Sender>,
    ) -> Notifier {
        Notifier {
            store,
            templates,
            members,
            webhooks,
        }
    }
}

/// The member's own locale from the read model; the default when the
/// member gave none or is not known here yet.
fn locale_of(held: &Held) -> &str {
    let Held::Known(member) = held else {
        return DEFAULT_LOCALE;
    };
    member
        .facts
        .get("locale")
        .and_then(|l| l.as_str())
        .filter(|l| !l.is_empty())
        .unwrap_or(DEFAULT_LOCALE)
}

#[async_trait]
impl EventHandler for Notifier {
    fn wants(&self, event: &Event) -> bool {
        // The read model's events include `member.erased`.
        self.members.wants(event) || notifies(event) || payload::carries(&event.r#type)
    }

    async fn handle(&self, event: &Event) -> Result<(), DomainError> {
        self.members.handle(event).await?;
        let one = std::slice::from_ref(event);
        if let Some(Payload::MemberErased(erased)) = &event.payload {
            let (tenant_id, member_id) = (&event.tenant_id, &erased.member_id);
            self.store.forget(tenant_id, member_id).await?;
            self.store.forget_deliveries(tenant_id, member_id).await?;
        } else {
            self.notify_all(one).await?;
        }
        self.stage_webhooks(one).await
    }

    /// The notices between two member events go together, in one
    /// transaction; a member event keeps its place, so a notice after an
    /// erasure or a change of locale sees it.
    async fn handle_all(&self, events: &[Event]) -> Result<(), DomainError> {
        for run in events.chunk_by(|a, b| notifies(a) && notifies(b)) {
            match run {
                [event] => self.handle(event).await?,
                notices => {
                    self.notify_all(notices).await?;
                    self.stage_webhooks(notices).await?;
                }
            }
        }
        Ok(())
    }
}

impl Notifier {
    /// Stages the webhooks of `events`, but none about an erased member
    /// (an event after the erasure, or one replayed), whose erasure itself
    /// is the last thing the brand hears of them.
    async fn stage_webhooks(&self, events: &[Event]) -> Result<(), DomainError> {
        let carried = webhook::carried(events)?;
        let held = futures::future::try_join_all(carried.iter().map(|c| async {
            if c.member_id.is_empty() || c.event_type == "member.erased" {
                return Ok(None);
            }
            self.members
                .held(&c.tenant_id, &c.member_id)
                .await
                .map(Some)
        }))
        .await?;
        let kept = carried
            .into_iter()
            .zip(held)
            .filter(|(_, held)| !matches!(held, Some(Held::Erased)))
            .map(|(carried, _)| carried)
            .collect();
        self.webhooks.stage(kept).await
    }

    /// Puts the notices among `events` in their members' inboxes, each
    /// once, in the member's locale; an erased member gets none.
    async fn notify_all(&self, events: &[Event]) -> Result<(), DomainError> {
        let notices: Vec<(&Event, Notice)> = events
            .iter()
            .filter_map(|event| Some((event, notice(event.payload.as_ref()?)?)))
            .collect();
        // Asked side by side, so the read model answers them in one query.
        let held = futures::future::try_join_all(
            notices
                .iter()
                .map(|(event, notice)| self.members.held(&event.tenant_id, notice.member_id())),
        )
        .await?;
        let mut letters = Vec::with_capacity(notices.len());
        let mut to = Vec::with_capacity(notices.len());
        for ((event, notice), held) in notices.iter().zip(&held) {
            if matches!(held, Held::Erased) {
                tracing::debug!(event_type = %event.r#type, "member erased; not notified");
                sent("suppressed", 1);
                continue;
            }
            to.push(Delivery {
                tenant_id: &event.tenant_id,
                member_id: notice.member_id(),
                event_id: &event.event_id,
                event_type: notice.event_type(),
            });
            letters.push((notice, locale_of(held)));
        }
        if to.is_empty() {
            return Ok(());
        }
        let delivered = self
            .store
            .deliver_all(&to, |i| {
                let (notice, locale) = letters[i];
                self.templates.render(notice, locale)
            })
            .await
            .inspect_err(|_| sent("failed", to.len()))?;
        sent("sent", delivered);
        tracing::debug!(delivered, "inbox messages delivered");
        Ok(())
    }
}

/// Whether the event gives a notice.
fn notifies(event: &Event) -> bool {
    event.payload.as_ref().and_then(notice).is_some()
}

/// Counts notices' fate on the inbox channel (the only one so far).
fn sent(outcome: &'static str, notices: usize) {
    metrics::counter!(questline_kit::meter::NOTIFICATIONS, "channel" => "inbox", "outcome" => outcome)
        .increment(notices as u64);
}

/// The notice an event gives, if it is one that notifies.
fn notice(payload: &Payload) -> Option<Notice> {
    match payload {
        Payload::PointsCredited(p) => Some(Notice::PointsCredited {
            member_id: p.member_id.clone(),
            currency: p.currency.clone(),
            amount: p.amount,
            balance: p.balance,
            reason: p.reason.clone(),
        }),
        Payload::PointsExpired(p) => Some(Notice::PointsExpired {
            member_id: p.member_id.clone(),
            currency: p.currency.clone(),
            amount: p.amount,
            balance: p.balance,
        }),
        Payload::RewardRedeemed(r) => Some(Notice::RewardRedeemed {
            member_id: r.member_id.clone(),
            redemption_id: r.redemption_id.clone(),
            reward_id: r.reward_id.clone(),
            reward_name: r.reward_name.clone(),
            currency: r.currency.clone(),
            price: r.price,
            voucher_code: r.voucher_code.clone(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support;
    use crate::store::entities::message;
    use questline_kit::events::{new_event, type_of};
    use questline_kit::paging;
    use questline_proto::events::{PointsCredited, PointsDebited, PointsExpired, RewardRedeemed};

    /// The payload `notice` reads `n` from: its inverse, so the tests' events
    /// and the templates' tests share their fixtures.
    fn payload(n: Notice) -> Payload {
        match n {
            Notice::PointsCredited {
                member_id,
                currency,
                amount,
                balance,
                reason,
            } => Payload::PointsCredited(PointsCredited {
                member_id,
                currency,
                amount,
                transfer_id: "t1".into(),
                reason,
                balance,
            }),
            Notice::PointsExpired {
                member_id,
                currency,
                amount,
                balance,
            } => Payload::PointsExpired(PointsExpired {
                member_id,
                currency,
                amount,
                transfer_id: "t1".into(),
                balance,
            }),
            Notice::RewardRedeemed {
                member_id,
                redemption_id,
                reward_id,
                reward_name,
                currency,
                price,
                voucher_code,
            } => Payload::RewardRedeemed(RewardRedeemed {
                redemption_id,
                member_id,
                reward_id,
                reward_name,
                currency,
                price,
                voucher_code,
            }),
        }
    }

    fn credited() -> Payload {
        payload(test_support::credited())
    }

    fn redeemed() -> Payload {
        payload(test_support::redeemed())
    }

    /// Every message in the `acme` inbox of `member_id`, newest first.
    async fn inbox(store: &Store, member_id: &str) -> Vec<message::Model> {
        let page = paging::parse(10, "").unwrap();
        store
            .inbox("acme", member_id, &page)
            .await
            .unwrap()
            .messages
    }

    #[test]
    fn notices_carry_the_event_type_of_their_payload() {
        for expected in [test_support::credited(), test_support::redeemed()] {
            let payload = payload(expected.clone());
            let notice = notice(&payload).unwrap();
            assert_eq!(notice.event_type(), type_of(&payload));
            assert_eq!(notice, expected);
        }
        let debited = Payload::PointsDebited(PointsDebited::default());
        assert_eq!(notice(&debited), None);
    }

    /// A notifier on a fresh database; identity is unreachable.
    async fn notifier() -> (tempfile::TempDir, Store, Notifier) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("n.db").display());
        let db = questline_kit::db::connect::<crate::store::migrations::Migrator>(&url)
            .await
            .unwrap();
        let store = Store::new(db.clone());
        let identity = questline_kit::client::channel("http://127.0.0.1:9").unwrap();
        let members = MemberDirectory::new(db, identity, CONSUMER);
        let settings = questline_kit::config::WebhookSettings::default();
        let webhooks = Sender::new(store.clone(), &settings).unwrap();
        let notifier = Notifier::new(
            store.clone(),
            Templates::builtin().unwrap(),
            members,
            webhooks,
        );
        (dir, store, notifier)
    }

    #[tokio::test]
    async fn each_event_lands_once_in_the_members_inbox() {
        let (_dir, store, notifier) = notifier().await;

        let points = new_event("acme", "ledger", "m1", credited());
        let reward = new_event("acme", "rewards", "m1", redeemed());
        let ignored = new_event(
            "acme",
            "ledger",
            "m1",
            Payload::PointsDebited(Default::default()),
        );
        for event in [&points, &points, &reward, &ignored, &reward] {
            notifier.handle(event).await.unwrap();
        }

        let messages = inbox(&store, "m1").await;
        let titles: Vec<_> = messages.iter().map(|m| m.title.as_str()).collect();
        assert_eq!(titles, ["Reward redeemed: Pastry", "You earned 5 stars"]);

        // Erased: the messages go, and the member is never notified again.
        let erased = Payload::MemberErased(questline_proto::events::MemberErased {
            member_id: "m1".into(),
        });
        notifier
            .handle(&new_event("acme", "identity", "m1", erased))
            .await
            .unwrap();
        let later = new_event("acme", "ledger", "m1", credited());
        notifier.handle(&later).await.unwrap();
        assert!(inbox(&store, "m1").await.is_empty());
    }

    #[tokio::test]
    async fn a_member_reads_messages_in_their_own_locale() {
        let (_dir, store, notifier) = notifier().await;
        let facts = serde_json::json!({"locale": "fr-CA", "country": "CA"});
        let upserted = Payload::MemberUpserted(questline_proto::events::MemberUpserted {
            member_id: "m1".into(),
            external_id: "claire".into(),
            facts: facts.as_object().map(questline_kit::structs::from_json),
        });
        notifier
            .handle(&new_event("acme", "identity", "m1", upserted))
            .await
            .unwrap();
        let points = new_event("acme", "ledger", "m1", credited());
        notifier.handle(&points).await.unwrap();
        // A member not known here yet gets the default locale.
        let mut other = credited();
        if let Payload::PointsCredited(p) = &mut other {
            p.member_id = "m2".into();
        }
        notifier
            .handle(&new_event("acme", "ledger", "m2", other))
            .await
            .unwrap();

        assert_eq!(
            inbox(&store, "m1").await[0].title,
            "Vous avez gagné 5 stars"
        );
        assert_eq!(inbox(&store, "m2").await[0].title, "You earned 5 stars");
    }

    #[tokio::test]
    async fn events_handled_together_are_notified_in_their_order() {
        let (_dir, store, notifier) = notifier().await;
        let for_member = |member: &str, payload: Payload| {
            let mut payload = payload;
            if let Payload::PointsCredited(p) = &mut payload {
                p.member_id = member.into();
            }
            new_event("acme", "ledger", member, payload)
        };
        let facts = serde_json::json!({"locale": "fr"});
        let french = Payload::MemberUpserted(questline_proto::events::MemberUpserted {
            member_id: "m2".into(),
            external_id: "claire".into(),
            facts: facts.as_object().map(questline_kit::structs::from_json),
        });
        let erased = Payload::MemberErased(questline_proto::events::MemberErased {
            member_id: "m3".into(),
        });
        let points = for_member("m1", credited());
        let events = [
            points.clone(),
            for_member("m2", credited()),
            new_event("acme", "identity", "m2", french),
            for_member("m2", credited()),
            points,
            new_event("acme", "ledger", "m1", redeemed()),
            for_member("m3", credited()),
            new_event("acme", "identity", "m3", erased),
            for_member("m3", credited()),
        ];
        notifier.handle_all(&events).await.unwrap();
        // Replayed whole, nothing changes.
        notifier.handle_all(&events).await.unwrap();

        let titles = |messages: Vec<message::Model>| {
            let mut titles: Vec<_> = messages.into_iter().map(|m| m.title).collect();
            titles.sort();
            titles
        };
        assert_eq!(
            titles(inbox(&store, "m1").await),
            ["Reward redeemed: Pastry", "You earned 5 stars"]
        );
        assert_eq!(
            titles(inbox(&store, "m2").await),
            ["Vous avez gagné 5 stars", "You earned 5 stars"]
        );
        assert!(inbox(&store, "m3").await.is_empty());
    }

    #[tokio::test]
    async fn no_webhook_about_an_erased_member_is_kept_but_the_erasure() {
        use crate::domain::webhooks::endpoint::EndpointSpec;
        use crate::domain::webhooks::signature::{NEW_SECRET_BYTES, Secret};
        let (_dir, store, notifier) = notifier().await;
        let spec = EndpointSpec {
            url: "https://crm.brand.example/in".into(),
            description: String::new(),
            event_types: vec![],
            enabled: true,
        };
        let change = questline_kit::audit::Change::new("acme", "admin", "t".into(), "e".into());
        let secret = Secret::new([5; NEW_SECRET_BYTES]);
        store
            .put_endpoint("acme", "crm", &spec, None, &secret, &change)
            .await
            .unwrap();
        let credit = |member: &str| {
            let mut payload = credited();
            if let Payload::PointsCredited(p) = &mut payload {
                p.member_id = member.into();
            }
            new_event("acme", "ledger", member, payload)
        };
        let erased = Payload::MemberErased(questline_proto::events::MemberErased {
            member_id: "m3".into(),
        });
        let events = [
            credit("m3"),
            credit("m1"),
            new_event("acme", "identity", "m3", erased),
            credit("m3"),
        ];
        notifier.handle_all(&events).await.unwrap();
        // Replayed whole: the first credit is not staged again either.
        notifier.handle_all(&events).await.unwrap();
        let page = paging::parse(10, "").unwrap();
        let staged = store.deliveries("acme", "crm", None, &page).await.unwrap();
        let mut seen: Vec<(&str, &str)> = staged
            .iter()
            .map(|d| (d.member_id.as_str(), d.event_type.as_str()))
            .collect();
        seen.sort();
        assert_eq!(seen, [("m1", "points.credited"), ("m3", "member.erased")]);
    }
}
