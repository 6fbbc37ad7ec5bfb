//! The inbox store's tests, and helpers the other stores' tests share.

use super::*;
use crate::domain::Content;
use questline_kit::paging;
use questline_proto::events::{MessageDispatched, event::Payload};

pub(crate) async fn store(dir: &tempfile::TempDir) -> Store {
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("notifications.db").display()
    );
    let db = questline_kit::db::connect::<migrations::Migrator>(&url)
        .await
        .unwrap();
    let bus: std::sync::Arc<dyn questline_kit::bus::EventBus> =
        std::sync::Arc::new(questline_kit::bus::MemoryBus::default());
    Store::new(db.clone(), Relay::new(db, bus, published::SOURCE))
}

/// A transactional inbox message about a points credit.
pub(crate) fn to<'a>(tenant_id: &'a str, member_id: &'a str, event_id: &'a str) -> Delivery<'a> {
    Delivery {
        tenant_id,
        member_id,
        event_id,
        event_type: "points.credited",
        channel: Channel::Inbox,
        purpose: Purpose::Transactional,
        topic: "",
        allowance: None,
        fate: Fate::Send {
            due_at: 0,
            reason: "",
        },
        unsubscribe_token: String::new(),
    }
}

pub(crate) fn content(title: &str) -> Option<Content> {
    Some(Content {
        title: title.into(),
        body: "body".into(),
        html: String::new(),
    })
}

fn first_page() -> Page {
    paging::parse(2, "").unwrap()
}

impl Store {
    /// Every domain event staged so far (audit entries aside), in order.
    pub(crate) async fn staged(&self) -> Vec<Event> {
        use outbox::entity::{Column, Entity};
        Entity::find()
            .filter(Column::EventType.ne("audit.recorded"))
            .order_by_asc(Column::EventId)
            .all(&self.db)
            .await
            .unwrap()
            .iter()
            .map(|row| questline_kit::events::decode(&row.payload).unwrap())
            .collect()
    }

    /// The `message.dispatched` staged so far, in order.
    pub(crate) async fn settled(&self) -> Vec<MessageDispatched> {
        let staged = self.staged().await;
        let settled = staged.into_iter().filter_map(|e| match e.payload {
            Some(Payload::MessageDispatched(d)) => Some(d),
            _ => None,
        });
        settled.collect()
    }
}

#[tokio::test]
async fn what_settles_is_announced_once_with_its_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let capped = Delivery {
        fate: Fate::Refused("CAPPED"),
        ..to("acme", "m1", "e2")
    };
    let email = |event_id, fate| Delivery {
        channel: Channel::Email,
        purpose: Purpose::Marketing,
        topic: "offers",
        fate,
        ..to("acme", "m1", event_id)
    };
    let now = Fate::Send {
        due_at: 0,
        reason: "",
    };
    let together = [
        to("acme", "m1", "e1"),
        capped,
        email("e3", now),
        email("e4", Fate::Refused("NO_CONSENT")),
    ];
    let delivered = store
        .deliver_all(&together, |_| content("hi"))
        .await
        .unwrap();
    let settled = store.settled().await;
    let summary: Vec<_> = settled
        .iter()
        .map(|d| {
            (
                d.event_id.as_str(),
                d.channel.as_str(),
                d.status.as_str(),
                d.reason.as_str(),
            )
        })
        .collect();
    // The email still to send settles when its attempt ends.
    assert_eq!(
        summary,
        [
            ("e1", "inbox", "SENT", ""),
            ("e2", "inbox", "SUPPRESSED", "CAPPED"),
            ("e4", "email", "SUPPRESSED", "NO_CONSENT"),
        ]
    );
    assert_eq!(settled[0].dispatch_id, delivered.messages[0].message_id);
    assert_eq!(settled[1].dispatch_id, "");
    let refused = delivered
        .dispatches
        .iter()
        .find(|d| d.event_id == "e4")
        .unwrap();
    assert_eq!(settled[2].dispatch_id, refused.dispatch_id);
    assert_eq!(
        (settled[2].purpose.as_str(), settled[2].topic.as_str()),
        ("marketing", "offers")
    );
    assert_eq!(settled[0].event_type, "points.credited");
    let staged = store.staged().await;
    assert!(
        staged
            .iter()
            .all(|e| e.subject == "m1" && e.r#type == "message.dispatched")
    );

    store
        .deliver_all(&together, |_| content("again"))
        .await
        .unwrap();
    assert_eq!(
        store.settled().await.len(),
        3,
        "a redelivery announces nothing"
    );
}

/// Delivers one message titled `title`; the messages put (none if seen).
pub(crate) async fn put(store: &Store, to: Delivery<'_>, title: &str) -> Vec<message::Model> {
    store
        .deliver_all(&[to], |_| content(title))
        .await
        .unwrap()
        .messages
}

async fn deliver(store: &Store, to: Delivery<'_>, title: &str) -> usize {
    put(store, to, title).await.len()
}

#[tokio::test]
async fn a_redelivered_event_gives_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    assert_eq!(deliver(&store, to("acme", "m1", "e1"), "once").await, 1);
    let again = store
        .deliver_all(&[to("acme", "m1", "e1")], |_| {
            panic!("a redelivery must not render")
        })
        .await
        .unwrap();
    assert!(again.messages.is_empty());
    let page = store
        .inbox("acme", "m1", false, &first_page())
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.messages[0].title, "once");
}

#[tokio::test]
async fn events_delivered_together_give_one_message_each_the_new_ones_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    deliver(&store, to("acme", "m1", "e1"), "before").await;
    let together = [
        to("acme", "m1", "e1"),
        to("acme", "m1", "e2"),
        to("acme", "m2", "e3"),
        to("acme", "m1", "e2"),
    ];
    let titles = ["seen before", "second", "to m2", "second again"];
    let delivered = store
        .deliver_all(&together, |i| content(titles[i]))
        .await
        .unwrap();
    assert_eq!(delivered.messages.len(), 2);
    let m1 = store
        .inbox("acme", "m1", false, &first_page())
        .await
        .unwrap();
    let mut m1: Vec<_> = m1.messages.iter().map(|m| m.title.as_str()).collect();
    m1.sort();
    assert_eq!(m1, ["before", "second"]);
    let m2 = store
        .inbox("acme", "m2", false, &first_page())
        .await
        .unwrap();
    assert_eq!(m2.messages[0].title, "to m2");
}

#[tokio::test]
async fn a_message_without_words_is_left_out_and_its_event_handled() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    let together = [to("acme", "m1", "e1"), to("acme", "m1", "e2")];
    let delivered = store
        .deliver_all(&together, |i| match i {
            0 => content("fine"),
            _ => None,
        })
        .await
        .unwrap();
    assert_eq!(delivered.messages.len(), 1);
    let again = store
        .deliver_all(&together, |_| panic!("handled events do not render"))
        .await
        .unwrap();
    assert!(again.messages.is_empty());
    let page = store
        .inbox("acme", "m1", false, &first_page())
        .await
        .unwrap();
    assert_eq!(page.messages.len(), 1);
}

#[tokio::test]
async fn pages_run_newest_first_and_stay_in_their_tenant_and_member() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    for (n, event_id) in ["e1", "e2", "e3"].into_iter().enumerate() {
        deliver(&store, to("acme", "m1", event_id), &format!("message {n}")).await;
    }
    deliver(&store, to("acme", "m2", "e4"), "another member").await;
    deliver(&store, to("globex", "m1", "e5"), "another tenant").await;

    let first = store
        .inbox("acme", "m1", false, &first_page())
        .await
        .unwrap();
    let titles: Vec<_> = first.messages.iter().map(|m| m.title.as_str()).collect();
    assert_eq!(titles, ["message 2", "message 1"]);
    assert!(!first.next_page_token.is_empty());

    let next = paging::parse(2, &first.next_page_token).unwrap();
    let second = store.inbox("acme", "m1", false, &next).await.unwrap();
    let titles: Vec<_> = second.messages.iter().map(|m| m.title.as_str()).collect();
    assert_eq!(titles, ["message 0"]);
    assert_eq!(second.next_page_token, "");
}
