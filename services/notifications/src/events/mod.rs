//! What notifications consumes: an event a trigger names (points credited
//! or expired, rewards redeemed, a rule's message, ...) becomes a message
//! in its member's inbox, in the words of the programme's templates;
//! `member.*` events keep its member read model, and `member.erased` also
//! deletes the member's messages and webhook deliveries. An erased member
//! is never notified again. `tenant.updated` keeps the programme's default
//! locale. Every event webhooks carry is staged for the tenant's endpoints
//! that want it, in the batch's order (an erasure's forgetting comes after
//! what preceded it); this service's own `message.dispatched` and
//! `message_preferences.changed` come back for that alone. Every other
//! event is acknowledged and left alone.

use async_trait::async_trait;
use questline_kit::DomainError;
use questline_kit::bus::EventHandler;
use questline_kit::members::{Held, MemberDirectory};
use questline_proto::events::{Event, event::Payload};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

use crate::domain::caps;
use crate::domain::channels::{Channel, Purpose};
use crate::domain::quiet_hours::Quiet;
use crate::domain::respect::{self, Preferences};
use crate::domain::templates::Locales;
use crate::domain::triggers::Trigger;
use crate::domain::unsubscribe::Unsubscribe;
use crate::domain::variables;
use crate::domain::webhooks::payload;
use crate::flow::dispatcher::Dispatcher;
use crate::flow::inbox_feed::InboxFeed;
use crate::flow::programmes::{Programme, Programmes};
use crate::flow::webhooks::Sender;
use crate::store::caps::Allowance;
use crate::store::{Delivery, Fate, Store};

mod fields;
pub mod published;
mod webhook;

use fields::triggered_as;
pub use fields::{known, sample};

/// This service's bus consumer and inbox name.
pub const CONSUMER: &str = "notifications";

/// The bus consumer: renders the event's message and puts it in the member's inbox.
pub struct Notifier {
    store: Store,
    programmes: Programmes,
    members: MemberDirectory,
    webhooks: Arc<Sender>,
    feed: Arc<InboxFeed>,
    dispatcher: Arc<Dispatcher>,
}

/// What the consumer hands messages to.
pub struct Outlets {
    pub webhooks: Arc<Sender>,
    pub feed: Arc<InboxFeed>,
    pub dispatcher: Arc<Dispatcher>,
}

impl Notifier {
    pub fn new(store: Store, members: MemberDirectory, outlets: Outlets) -> Notifier {
        Notifier {
            programmes: Programmes::new(store.clone()),
            store,
            members,
            webhooks: outlets.webhooks,
            feed: outlets.feed,
            dispatcher: outlets.dispatcher,
        }
    }
}

/// The member's own locale from the read model; empty when the member
/// gave none or is not known here yet (the programme's default then).
fn locale_of(held: &Held) -> &str {
    let Held::Known(member) = held else {
        return "";
    };
    member
        .facts
        .get("locale")
        .and_then(|l| l.as_str())
        .unwrap_or("")
}

/// The member's facts from the read model, if known here.
fn facts_of(held: &Held) -> Option<&Map<String, Value>> {
    match held {
        Held::Known(member) => Some(&member.facts),
        _ => None,
    }
}

/// `member` in a template: what the read model holds, or just the id.
fn member_of(member_id: &str, held: &Held) -> Map<String, Value> {
    match held {
        Held::Known(m) => variables::member(&m.member_id, &m.external_id, &m.facts),
        _ => variables::member(member_id, "", &Map::new()),
    }
}

#[async_trait]
impl EventHandler for Notifier {
    fn wants(&self, event: &Event) -> bool {
        // The read model's events include `member.erased`.
        self.members.wants(event)
            || notifies(event)
            || payload::carries(&event.r#type)
            || matches!(event.payload, Some(Payload::TenantUpdated(_)))
    }

    async fn handle(&self, event: &Event) -> Result<(), DomainError> {
        self.members.handle(event).await?;
        let one = std::slice::from_ref(event);
        match &event.payload {
            Some(Payload::MemberErased(erased)) => {
                let (tenant_id, member_id) = (&event.tenant_id, &erased.member_id);
                self.store.forget(tenant_id, member_id).await?;
                self.store.forget_deliveries(tenant_id, member_id).await?;
                self.store.forget_dispatches(tenant_id, member_id).await?;
                self.store.forget_preferences(tenant_id, member_id).await?;
                self.store.forget_counts(tenant_id, member_id).await?;
            }
            Some(Payload::TenantUpdated(tenant)) => {
                let as_of = event
                    .time
                    .as_ref()
                    .map(questline_kit::time::from_timestamp)
                    .unwrap_or_default();
                let (locale, zone) = (&tenant.default_locale, &tenant.time_zone);
                self.store
                    .keep_tenant(&tenant.tenant_id, locale, zone, as_of)
                    .await?;
            }
            _ => self.notify_all(one).await?,
        }
        self.stage_webhooks(one).await
    }

    /// The notices between two events that change what a notice reads go
    /// together, in one transaction, with the events webhooks alone carry
    /// (this service's own `message.dispatched` among them); an erasure, a
    /// member's change or a change of locale keeps its place, so a notice
    /// after it sees it.
    async fn handle_all(&self, events: &[Event]) -> Result<(), DomainError> {
        let joins = |e: &Event| !self.changes_what_notices_read(e);
        for run in events.chunk_by(|a, b| joins(a) && joins(b)) {
            match run {
                [event] => self.handle(event).await?,
                run => {
                    self.notify_all(run).await?;
                    self.stage_webhooks(run).await?;
                }
            }
        }
        Ok(())
    }
}

/// An event a trigger sends, with what its templates see.
struct Notice<'a> {
    event: &'a Event,
    event_type: String,
    member_id: String,
    fields: Map<String, Value>,
    programme: Arc<Programme>,
    trigger: Trigger,
}

impl Notice<'_> {
    fn marketing(&self) -> bool {
        self.trigger.purpose == Purpose::Marketing
    }

    /// The cap this message counts against on `channel`, if any.
    fn allowance(&self, channel: Channel, now_ms: i64) -> Option<Allowance> {
        let cap = self.programme.cap(channel).filter(|_| self.marketing())?;
        let windows = caps::windows(now_ms, &self.programme.time_zone);
        Some(Allowance { cap, windows })
    }

    /// What becomes of the message on `channel` for a member with these
    /// facts and preferences, `offered` the channels with a provider.
    fn fate(&self, to: &Recipient<'_>, channel: Channel, offered: &[Channel], now_ms: i64) -> Fate {
        let (purpose, topic) = (self.trigger.purpose, self.trigger.topic.as_str());
        if !offered.contains(&channel) {
            return Fate::Refused("CHANNEL_NOT_CONFIGURED");
        }
        if let Some(refusal) = respect::refusal(channel, purpose, topic, to.facts, to.preferences) {
            return Fate::Refused(refusal.reason());
        }
        let zone = respect::zone_of(to.facts, &self.programme.time_zone);
        let quiet = self.programme.quiet_hours.as_ref();
        match quiet.map(|q| q.judge(channel, purpose, now_ms, zone)) {
            Some(Quiet::HoldUntil(ends)) => Fate::Send {
                due_at: ends,
                reason: "QUIET_HOURS",
            },
            Some(Quiet::Drop) => Fate::Refused("QUIET_HOURS"),
            _ => Fate::Send {
                due_at: now_ms,
                reason: "",
            },
        }
    }

    /// The token of a marketing email's unsubscribe link; none on other
    /// channels, nor on a transactional email (a receipt, a voucher code).
    fn unsubscribe_token(&self, channel: Channel) -> String {
        if channel != Channel::Email || !self.marketing() {
            return String::new();
        }
        Unsubscribe {
            tenant_id: self.event.tenant_id.clone(),
            member_id: self.member_id.clone(),
            channel,
            topic: self.trigger.topic.clone(),
        }
        .token(&self.programme.unsubscribe_key)
    }
}

/// What is known of the member a notice is for.
struct Recipient<'a> {
    facts: &'a Map<String, Value>,
    preferences: &'a Preferences,
    locale: &'a str,
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

    /// The events among `events` that a trigger sends.
    async fn notices<'a>(&self, events: &'a [Event]) -> Result<Vec<Notice<'a>>, DomainError> {
        let mut programmes: HashMap<&str, Arc<Programme>> = HashMap::new();
        let mut notices = Vec::new();
        for event in events {
            let Some(event_type) = triggered_as(event) else {
                continue;
            };
            let programme = match programmes.get(event.tenant_id.as_str()) {
                Some(p) => Arc::clone(p),
                None => {
                    let p = self.programmes.get(&event.tenant_id).await?;
                    programmes.insert(&event.tenant_id, Arc::clone(&p));
                    p
                }
            };
            let Some(trigger) = programme.trigger(&event_type) else {
                continue;
            };
            let fields = fields::of(event).map_err(DomainError::internal)?;
            let member_id = fields
                .get("member_id")
                .and_then(Value::as_str)
                .unwrap_or("");
            if member_id.is_empty() {
                continue;
            }
            notices.push(Notice {
                event,
                event_type,
                member_id: member_id.to_string(),
                fields,
                programme,
                trigger,
            });
        }
        Ok(notices)
    }

    /// The preferences of the members `notices` are for, by tenant and member.
    async fn preferences(
        &self,
        notices: &[Notice<'_>],
    ) -> Result<HashMap<(String, String), Preferences>, DomainError> {
        let mut by_tenant: HashMap<&str, Vec<&str>> = HashMap::new();
        for n in notices {
            by_tenant
                .entry(n.event.tenant_id.as_str())
                .or_default()
                .push(&n.member_id);
        }
        let mut all = HashMap::new();
        for (tenant_id, member_ids) in by_tenant {
            let found = self.store.preferences_among(tenant_id, &member_ids).await?;
            all.extend(
                found
                    .into_iter()
                    .map(|(m, p)| ((tenant_id.to_string(), m), p)),
            );
        }
        Ok(all)
    }

    /// Puts the notices among `events` in their members' inboxes and
    /// stages them on their other channels, each once per channel, in the
    /// member's locale, as far as the member lets them; an erased member
    /// gets none.
    async fn notify_all(&self, events: &[Event]) -> Result<(), DomainError> {
        let notices = self.notices(events).await?;
        // Asked side by side, so the read model answers them in one query.
        let held = futures::future::try_join_all(
            notices
                .iter()
                .map(|n| self.members.held(&n.event.tenant_id, &n.member_id)),
        )
        .await?;
        let preferences = self.preferences(&notices).await?;
        let offered = self.dispatcher.channels();
        let (none, nothing_off) = (Map::new(), Preferences::default());
        let now = questline_kit::time::now_ms();
        let mut to = Vec::with_capacity(notices.len());
        let mut letters = Vec::with_capacity(notices.len());
        for (notice, held) in notices.iter().zip(&held) {
            if matches!(held, Held::Erased) {
                tracing::debug!(event_type = %notice.event_type, "member erased; not notified");
                sent(Channel::Inbox, "suppressed", 1);
                continue;
            }
            let key = (notice.event.tenant_id.clone(), notice.member_id.clone());
            let recipient = Recipient {
                facts: facts_of(held).unwrap_or(&none),
                preferences: preferences.get(&key).unwrap_or(&nothing_off),
                locale: locale_of(held),
            };
            let vars = variables::of(notice.fields.clone(), member_of(&notice.member_id, held));
            for &channel in &notice.trigger.channels {
                to.push(Delivery {
                    tenant_id: &notice.event.tenant_id,
                    member_id: &notice.member_id,
                    event_id: &notice.event.event_id,
                    event_type: &notice.event_type,
                    channel,
                    purpose: notice.trigger.purpose,
                    topic: &notice.trigger.topic,
                    allowance: notice.allowance(channel, now),
                    fate: notice.fate(&recipient, channel, &offered, now),
                    unsubscribe_token: notice.unsubscribe_token(channel),
                });
                letters.push((notice, recipient.locale, channel, vars.clone()));
            }
        }
        if to.is_empty() {
            return Ok(());
        }
        let delivered = self
            .store
            .deliver_all(&to, |i| {
                let (notice, locale, channel, vars) = &letters[i];
                let locales = Locales {
                    member: locale,
                    programme: &notice.programme.default_locale,
                };
                let rendered = notice.programme.templates.render(
                    &notice.event_type,
                    *channel,
                    &locales,
                    vars,
                );
                match rendered {
                    Ok(rendered) => Some(rendered.content),
                    Err(why) => {
                        tracing::warn!(tenant_id = %notice.event.tenant_id, event_type = %notice.event_type, channel = channel.name(), %why, "no template rendered; message not sent");
                        sent(*channel, "failed", 1);
                        None
                    }
                }
            })
            .await
            .inspect_err(|_| sent(Channel::Inbox, "failed", to.len()))?;
        sent(Channel::Inbox, "sent", delivered.messages.len());
        for d in &delivered.dispatches {
            if d.status == crate::store::dispatches::SUPPRESSED {
                let channel = Channel::parse(&d.channel).unwrap_or(Channel::Inbox);
                sent(
                    channel,
                    if d.reason == "CAPPED" {
                        "capped"
                    } else {
                        "suppressed"
                    },
                    1,
                );
            }
        }
        tracing::debug!(
            delivered = delivered.messages.len(),
            staged = delivered.dispatches.len(),
            capped = delivered.capped,
            refused = delivered.refused,
            "notices delivered"
        );
        self.feed.publish(&delivered.messages);
        if delivered
            .dispatches
            .iter()
            .any(|d| d.status == crate::store::dispatches::PENDING)
        {
            self.dispatcher.wake();
        }
        Ok(())
    }
}

impl Notifier {
    /// Whether handling `event` changes what a later notice reads: the
    /// member read model (erasure included) or the programme's locale.
    fn changes_what_notices_read(&self, event: &Event) -> bool {
        self.members.wants(event) || matches!(event.payload, Some(Payload::TenantUpdated(_)))
    }
}

/// Whether the event may give a notice (its trigger decides).
fn notifies(event: &Event) -> bool {
    triggered_as(event).is_some()
}

/// Counts notices' fate on a channel as the consumer decides it (the
/// dispatcher counts what its attempts lead to).
fn sent(channel: Channel, outcome: &'static str, notices: usize) {
    metrics::counter!(questline_kit::meter::NOTIFICATIONS, "channel" => channel.name(), "outcome" => outcome)
        .increment(notices as u64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::entities::message;
    use questline_kit::events::new_event;
    use questline_kit::paging;
    use questline_proto::events::{PointsCredited, RewardRedeemed};

    fn credited() -> Payload {
        Payload::PointsCredited(PointsCredited {
            member_id: "m1".into(),
            currency: "stars".into(),
            amount: 5,
            transfer_id: "t1".into(),
            reason: "purchase".into(),
            balance: 25,
        })
    }

    fn redeemed() -> Payload {
        Payload::RewardRedeemed(RewardRedeemed {
            redemption_id: "r1".into(),
            member_id: "m1".into(),
            reward_id: "pastry".into(),
            reward_name: "Pastry".into(),
            currency: "stars".into(),
            price: 20,
            voucher_code: "PASTRY-7Q2X".into(),
        })
    }

    /// Every message in the `acme` inbox of `member_id`, newest first.
    async fn inbox(store: &Store, member_id: &str) -> Vec<message::Model> {
        let page = paging::parse(10, "").unwrap();
        store
            .inbox("acme", member_id, false, &page)
            .await
            .unwrap()
            .messages
    }

    /// A notifier on a fresh database; identity is unreachable.
    async fn notifier() -> (tempfile::TempDir, Store, Notifier) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("n.db").display());
        let db = questline_kit::db::connect::<crate::store::migrations::Migrator>(&url)
            .await
            .unwrap();
        let bus: Arc<dyn questline_kit::bus::EventBus> =
            Arc::new(questline_kit::bus::MemoryBus::default());
        let relay = questline_kit::outbox::Relay::new(db.clone(), bus, published::SOURCE);
        let store = Store::new(db.clone(), relay);
        let identity = questline_kit::client::channel("http://127.0.0.1:9").unwrap();
        let members = MemberDirectory::new(db, identity.clone(), CONSUMER);
        let settings = questline_kit::config::WebhookSettings::default();
        let webhooks = Sender::new(store.clone(), &settings).unwrap();
        let feed = InboxFeed::new(store.clone());
        let messaging = questline_kit::config::MessagingSettings::default();
        let credential = Arc::new(questline_kit::credential::ServiceCredential::new(
            String::new(),
            identity.clone(),
        ));
        let directory = Arc::new(crate::flow::upstream::Identity::new(identity, credential));
        let dispatcher = Dispatcher::new(store.clone(), &messaging, directory).unwrap();
        let outlets = Outlets {
            webhooks,
            feed,
            dispatcher,
        };
        let notifier = Notifier::new(store.clone(), members, outlets);
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

    async fn put_template(store: &Store, event_type: &str, subject: &str, body: &str) {
        let spec = crate::store::programme::TemplateSpec {
            event_type,
            channel: Channel::Inbox,
            locale: "en",
            subject,
            body,
            html: "",
        };
        let change = questline_kit::audit::Change::new("acme", "admin", "t".into(), "t".into());
        store
            .put_template("acme", &spec, "admin", None, &change)
            .await
            .unwrap();
    }

    async fn put_trigger(store: &Store, event_type: &str, enabled: bool) {
        let trigger = crate::domain::triggers::Trigger {
            event_type: event_type.into(),
            channels: vec![Channel::Inbox],
            purpose: crate::domain::channels::Purpose::Marketing,
            topic: String::new(),
            enabled,
        };
        let change = questline_kit::audit::Change::new("acme", "admin", "t".into(), "t".into());
        store
            .put_trigger("acme", &trigger, None, &change)
            .await
            .unwrap();
    }

    fn credit_of(member: &str, amount: i64) -> Event {
        let mut payload = credited();
        if let Payload::PointsCredited(p) = &mut payload {
            p.member_id = member.into();
            p.amount = amount;
        }
        new_event("acme", "ledger", member, payload)
    }

    #[tokio::test]
    async fn the_programmes_templates_and_triggers_shape_its_messages() {
        let (_dir, store, notifier) = notifier().await;
        notifier.handle(&credit_of("m1", 5)).await.unwrap();
        put_template(
            &store,
            "points.credited",
            "+{{ amount }} for {{ member.member_id }}",
            "{{ balance }}",
        )
        .await;
        // Saved between batches: the next one reads it.
        notifier.handle(&credit_of("m1", 7)).await.unwrap();
        let titles: Vec<_> = inbox(&store, "m1")
            .await
            .into_iter()
            .map(|m| m.title)
            .collect();
        assert_eq!(titles, ["+7 for m1", "You earned 5 stars"]);

        // A disabled trigger silences even a built-in one.
        put_trigger(&store, "points.credited", false).await;
        notifier.handle(&credit_of("m1", 9)).await.unwrap();
        assert_eq!(inbox(&store, "m1").await.len(), 2);

        // A rule's message: sent once the programme has a trigger for it.
        let message = |id: &str| {
            let attributes = serde_json::json!({"store": "orchard"});
            let payload = Payload::RuleMessage(questline_proto::events::RuleMessage {
                member_id: "m1".into(),
                message_type: "welcome".into(),
                attributes: attributes
                    .as_object()
                    .map(questline_kit::structs::from_json),
                ..Default::default()
            });
            let mut event = new_event("acme", "mechanics", "m1", payload);
            event.event_id = id.into();
            event
        };
        notifier.handle(&message("w1")).await.unwrap();
        assert_eq!(inbox(&store, "m1").await.len(), 2);
        put_trigger(&store, "rule.message.welcome", true).await;
        put_template(
            &store,
            "rule.message.welcome",
            "Welcome to {{ attributes.store }}",
            "Glad you came.",
        )
        .await;
        notifier.handle(&message("w2")).await.unwrap();
        assert_eq!(inbox(&store, "m1").await[0].title, "Welcome to orchard");
        assert_eq!(
            inbox(&store, "m1").await[0].event_type,
            "rule.message.welcome"
        );
    }

    #[tokio::test]
    async fn a_member_without_a_locale_reads_the_programmes_default() {
        let (_dir, store, notifier) = notifier().await;
        let tenant = Payload::TenantUpdated(questline_proto::events::TenantUpdated {
            tenant_id: "acme".into(),
            default_locale: "fr".into(),
            time_zone: "Europe/Paris".into(),
            ..Default::default()
        });
        notifier
            .handle(&new_event("acme", "identity", "acme", tenant))
            .await
            .unwrap();
        notifier.handle(&credit_of("m9", 3)).await.unwrap();
        assert_eq!(
            inbox(&store, "m9").await[0].title,
            "Vous avez gagné 3 stars"
        );
    }

    #[tokio::test]
    async fn a_message_no_template_renders_is_skipped_not_retried() {
        let (_dir, store, notifier) = notifier().await;
        put_trigger(&store, "rule.message.nothing_written", true).await;
        let payload = Payload::RuleMessage(questline_proto::events::RuleMessage {
            member_id: "m1".into(),
            message_type: "nothing_written".into(),
            ..Default::default()
        });
        let event = new_event("acme", "mechanics", "m1", payload);
        notifier.handle(&event).await.unwrap();
        assert!(inbox(&store, "m1").await.is_empty());
    }
}
