//! The dispatcher: sends staged email, push and SMS through their
//! providers. It looks when woken (something staged or due) and at least
//! once a second, channel by channel, with at most `per_channel` sends
//! under way on each, so a slow provider holds up only its own channel.
//!
//! Just before sending it asks identity for the member as they are now
//! (the address is never stored here) and judges the message again: a
//! member who withdrew consent, or turned the topic off, while it waited
//! for quiet hours to end gets nothing.

use questline_kit::DomainError;
use questline_kit::config::MessagingSettings;
use questline_kit::time::now_ms;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::providers::{Failure, Letter, Providers};
use super::sending::{jitter, millis, truncated};
use super::upstream::Directory;
use crate::domain::channels::{Channel, Purpose};
use crate::domain::quiet_hours::Quiet;
use crate::domain::respect;
use crate::domain::webhooks::schedule::Schedule;
use crate::flow::programmes::Programmes;
use crate::store::Store;
use crate::store::dispatches::{FAILED, Outcome, PENDING, SENT, SUPPRESSED};
use crate::store::entities::dispatch;

/// How long a claim outlives an attempt's timeout.
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// The wait after a failure on this side (identity, the database).
const NOT_YET: Duration = Duration::from_secs(30);
/// How long a dispatch may be due on a channel without a provider here
/// before it is settled as not sent: long enough for a rolling change of
/// the operator's providers to reach every replica.
const STRANDED_AFTER: Duration = Duration::from_secs(3600);
/// How often stranded dispatches are looked for.
const STRANDED_EVERY_MS: i64 = 60_000;
/// Most stranded dispatches settled by one look, per channel and purpose.
const STRANDED_BATCH: u64 = 100;

pub struct Dispatcher {
    store: Store,
    programmes: Programmes,
    providers: Providers,
    directory: Arc<dyn Directory>,
    schedule: Schedule,
    timeout: Duration,
    per_channel: usize,
    public_url: String,
    wake: Notify,
    busy: Mutex<HashMap<Channel, usize>>,
    /// When stranded dispatches are next looked for (ms).
    next_stranded_look: AtomicI64,
}

impl Dispatcher {
    pub fn new(
        store: Store,
        settings: &MessagingSettings,
        directory: Arc<dyn Directory>,
    ) -> anyhow::Result<Arc<Dispatcher>> {
        let schedule = Schedule::parse(&settings.retry_schedule)
            .map_err(|err| anyhow::anyhow!("messaging.retry_schedule: {err}"))?;
        Ok(Arc::new(Dispatcher {
            programmes: Programmes::new(store.clone()),
            store,
            providers: Providers::configured(settings)?,
            directory,
            schedule,
            timeout: Duration::from_millis(settings.timeout_ms.max(1)),
            per_channel: settings.per_channel.max(1),
            public_url: settings.public_url.trim_end_matches('/').into(),
            wake: Notify::new(),
            busy: Mutex::new(HashMap::new()),
            next_stranded_look: AtomicI64::new(0),
        }))
    }

    /// The channels this installation can send on.
    pub fn channels(&self) -> Vec<Channel> {
        self.providers.channels()
    }

    /// Looks again now: something was staged or became due.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Sends due dispatches until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let look = || Arc::clone(&self).look();
        super::sending::keep_looking("messaging", &self.wake, shutdown, look).await;
    }

    async fn look(self: Arc<Self>) -> Result<(), DomainError> {
        let now = now_ms();
        let lease = now + millis(self.timeout + LEASE_MARGIN);
        if self
            .next_stranded_look
            .fetch_max(now + STRANDED_EVERY_MS, Ordering::Relaxed)
            <= now
        {
            self.settle_stranded(now, lease).await?;
        }
        for channel in self.channels() {
            let room = self.room(channel);
            if channel == Channel::Inbox || room == 0 {
                continue;
            }
            // Transactional messages first: a voucher code does not wait
            // behind a night's held marketing.
            let mut due = self
                .store
                .due_dispatches(channel, Purpose::Transactional, now, room as u64)
                .await?;
            if due.len() < room {
                let left = (room - due.len()) as u64;
                due.extend(
                    self.store
                        .due_dispatches(channel, Purpose::Marketing, now, left)
                        .await?,
                );
            }
            for due in due {
                if !self.store.claim_dispatch(&due, lease).await? {
                    continue;
                }
                let slot = Slot::take(&self, channel);
                let dispatcher = Arc::clone(&self);
                tokio::spawn(async move {
                    // The whole attempt ends before its lease does, so no
                    // other look can claim a dispatch still being sent.
                    let outcome =
                        tokio::time::timeout(dispatcher.timeout, dispatcher.attempt(&due))
                            .await
                            .unwrap_or_else(|_| {
                                let why = format!(
                                    "the attempt took over {} ms",
                                    dispatcher.timeout.as_millis()
                                );
                                dispatcher.retry_or_fail(&due, why)
                            });
                    count(channel, &outcome);
                    match dispatcher.store.finish_dispatch(&due, lease, outcome).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::debug!(dispatch_id = %due.dispatch_id, "messaging: the dispatch changed during its attempt")
                        }
                        Err(err) => {
                            tracing::warn!(%err, dispatch_id = %due.dispatch_id, "messaging: recording an attempt failed")
                        }
                    }
                    drop(slot);
                    dispatcher.wake();
                });
            }
        }
        Ok(())
    }

    /// Settles as not sent (`CHANNEL_NOT_CONFIGURED`) the dispatches due
    /// for over `STRANDED_AFTER` on a channel that has no provider here —
    /// staged before the operator removed it — so every message settles
    /// and is announced once.
    async fn settle_stranded(&self, now: i64, lease: i64) -> Result<(), DomainError> {
        let offered = self.channels();
        let stranded = Channel::ALL.into_iter().filter(|c| !offered.contains(c));
        let overdue = now - millis(STRANDED_AFTER);
        for channel in stranded {
            for purpose in [Purpose::Transactional, Purpose::Marketing] {
                let due = self
                    .store
                    .due_dispatches(channel, purpose, overdue, STRANDED_BATCH);
                for due in due.await? {
                    if self.store.claim_dispatch(&due, lease).await? {
                        let outcome = suppressed("CHANNEL_NOT_CONFIGURED");
                        count(channel, &outcome);
                        self.store.finish_dispatch(&due, lease, outcome).await?;
                    }
                }
            }
        }
        Ok(())
    }

    fn room(&self, channel: Channel) -> usize {
        let busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        self.per_channel
            .saturating_sub(busy.get(&channel).copied().unwrap_or(0))
    }

    fn hold(&self, channel: Channel, by: isize) {
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        let held = busy.entry(channel).or_default();
        *held = held.saturating_add_signed(by);
    }
}

/// One send under way on a channel, given back when dropped (a panicking
/// attempt included), so the channel never loses room.
struct Slot {
    dispatcher: Arc<Dispatcher>,
    channel: Channel,
}

impl Slot {
    fn take(dispatcher: &Arc<Dispatcher>, channel: Channel) -> Slot {
        dispatcher.hold(channel, 1);
        Slot {
            dispatcher: Arc::clone(dispatcher),
            channel,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.dispatcher.hold(self.channel, -1);
    }
}

impl Dispatcher {
    /// One attempt: the member as they are now, judged again, then sent.
    async fn attempt(&self, d: &dispatch::Model) -> Outcome {
        let (Some(channel), Some(purpose)) =
            (Channel::parse(&d.channel), Purpose::parse(&d.purpose))
        else {
            return failed(d, "the dispatch names an unknown channel or purpose".into());
        };
        let member = match self.directory.member(&d.tenant_id, &d.member_id).await {
            Ok(Some(member)) => member,
            Ok(None) => return suppressed("ERASED"),
            Err(err) => return not_yet(err.to_string()),
        };
        let preferences = match self.store.preferences(&d.tenant_id, &d.member_id).await {
            Ok(stored) => stored.preferences,
            Err(err) => return self.retry_or_fail(d, err.to_string()),
        };
        let facts = questline_kit::members::facts_of(&member);
        if let Some(refusal) = respect::refusal(channel, purpose, &d.topic, &facts, &preferences) {
            return suppressed(refusal.reason());
        }
        // Quiet hours again: a retry, or settings changed while it waited.
        let programme = match self.programmes.get(&d.tenant_id).await {
            Ok(programme) => programme,
            Err(err) => return not_yet(err.to_string()),
        };
        let zone = respect::zone_of(&facts, &programme.time_zone);
        let quiet = programme.quiet_hours.as_ref();
        match quiet.map(|q| q.judge(channel, purpose, now_ms(), zone)) {
            Some(Quiet::HoldUntil(ends)) => return held_until(ends),
            Some(Quiet::Drop) => return suppressed("QUIET_HOURS"),
            _ => {}
        }
        let profile = member.profile.unwrap_or_default();
        let to = match channel {
            Channel::Email => profile.email,
            Channel::Sms => profile.phone,
            _ => member.external_id,
        };
        if to.is_empty() {
            return suppressed("NO_ADDRESS");
        }
        let Some(provider) = self.providers.of(channel) else {
            return suppressed("CHANNEL_NOT_CONFIGURED");
        };
        let unsubscribe_url = if d.unsubscribe_token.is_empty() {
            String::new()
        } else {
            format!("{}/v1/unsubscribe/{}", self.public_url, d.unsubscribe_token)
        };
        let letter = Letter {
            dispatch: d,
            to,
            unsubscribe_url,
        };
        match provider.send(&letter).await {
            Ok(()) => Outcome {
                status: SENT,
                reason: "",
                due_at: d.due_at,
                sent_at: now_ms(),
                error: String::new(),
                counted: true,
            },
            Err(Failure {
                permanent: true,
                error,
            }) => failed(d, error),
            Err(Failure { error, .. }) => self.retry_or_fail(d, error),
        }
    }

    /// PENDING again after the schedule's next wait, or FAILED after the last.
    fn retry_or_fail(&self, d: &dispatch::Model, error: String) -> Outcome {
        let made = d.attempts as usize + 1;
        match self.schedule.next(made, jitter(), None) {
            Some(wait) => {
                let due_at = now_ms() + millis(wait);
                Outcome {
                    status: PENDING,
                    reason: "",
                    due_at,
                    sent_at: 0,
                    error: truncated(error),
                    counted: true,
                }
            }
            None => failed(d, error),
        }
    }
}

/// Not tried: something this side failed (identity, the database). It
/// waits a while and does not count against the provider's attempts.
fn not_yet(error: String) -> Outcome {
    Outcome {
        status: PENDING,
        reason: "",
        due_at: now_ms() + millis(NOT_YET),
        sent_at: 0,
        error: truncated(error),
        counted: false,
    }
}

fn held_until(ends: i64) -> Outcome {
    Outcome {
        status: PENDING,
        reason: "QUIET_HOURS",
        due_at: ends,
        sent_at: 0,
        error: String::new(),
        counted: false,
    }
}

fn failed(d: &dispatch::Model, error: String) -> Outcome {
    Outcome {
        status: FAILED,
        reason: "",
        due_at: d.due_at,
        sent_at: 0,
        error: truncated(error),
        counted: true,
    }
}

/// Judged again and not sent: the provider was not tried.
fn suppressed(reason: &'static str) -> Outcome {
    Outcome {
        status: SUPPRESSED,
        reason,
        due_at: 0,
        sent_at: 0,
        error: String::new(),
        counted: false,
    }
}

/// Counts what attempts led to, per channel.
fn count(channel: Channel, outcome: &Outcome) {
    let outcome = match outcome.status {
        SENT => "sent",
        FAILED => "failed",
        SUPPRESSED => "suppressed",
        _ => "retried",
    };
    metrics::counter!(questline_kit::meter::NOTIFICATIONS, "channel" => channel.name(), "outcome" => outcome)
        .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::providers::Provider;
    use async_trait::async_trait;
    use questline_proto::identity::{ConsentPurpose, ConsentState, Member, Profile};

    /// Identity as a test sets it: one member, or none.
    struct Members(Mutex<Option<Member>>);

    #[async_trait]
    impl Directory for Members {
        async fn member(&self, _: &str, _: &str) -> Result<Option<Member>, DomainError> {
            Ok(self.0.lock().unwrap().clone())
        }
    }

    /// A provider answering from a script, recording each letter's address.
    struct Scripted {
        answers: Mutex<Vec<Result<(), Failure>>>,
        sent_to: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl Provider for Scripted {
        async fn send(&self, letter: &Letter<'_>) -> Result<(), Failure> {
            self.sent_to.lock().unwrap().push(letter.to.clone());
            self.answers.lock().unwrap().remove(0)
        }
    }

    fn member(push_consent: bool, phone: &str) -> Member {
        Member {
            member_id: "m1".into(),
            tenant_id: "acme".into(),
            external_id: "alice".into(),
            profile: Some(Profile {
                phone: phone.into(),
                ..Default::default()
            }),
            consent: vec![ConsentState {
                purpose: ConsentPurpose::Push as i32,
                granted: push_consent,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn dispatch(channel: Channel, attempts: i32) -> dispatch::Model {
        dispatch::Model {
            dispatch_id: "d1".into(),
            tenant_id: "acme".into(),
            member_id: "m1".into(),
            event_id: "e1".into(),
            event_type: "rule.message.promo".into(),
            channel: channel.name().into(),
            purpose: "marketing".into(),
            topic: "offers".into(),
            subject: "A treat".into(),
            body: "Come by".into(),
            html: String::new(),
            unsubscribe_token: String::new(),
            status: PENDING.into(),
            reason: String::new(),
            due_at: 0,
            attempts,
            last_error: String::new(),
            created_at: 0,
            sent_at: 0,
        }
    }

    async fn dispatcher(
        who: Option<Member>,
        answers: Vec<Result<(), Failure>>,
    ) -> (tempfile::TempDir, Arc<Dispatcher>, Arc<Scripted>) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::tests::store(&dir).await;
        let settings = MessagingSettings {
            retry_schedule: "1m,1h".into(),
            ..MessagingSettings::default()
        };
        let provider = Arc::new(Scripted {
            answers: Mutex::new(answers),
            sent_to: Mutex::new(Vec::new()),
        });
        let mut dispatcher =
            Dispatcher::new(store, &settings, Arc::new(Members(Mutex::new(who)))).unwrap();
        let scripted: Arc<dyn Provider> = provider.clone();
        Arc::get_mut(&mut dispatcher).unwrap().providers = Providers::for_tests(scripted);
        (dir, dispatcher, provider)
    }

    #[tokio::test]
    async fn the_member_is_judged_again_when_the_message_leaves() {
        // Consent withdrawn while the message waited: not sent.
        let (_d, withdrawn, provider) = dispatcher(Some(member(false, "")), vec![]).await;
        let outcome = withdrawn.attempt(&dispatch(Channel::Push, 0)).await;
        assert_eq!((outcome.status, outcome.reason), (SUPPRESSED, "NO_CONSENT"));
        assert!(!outcome.counted, "the provider was not tried");
        assert!(provider.sent_to.lock().unwrap().is_empty());
        // Erased meanwhile.
        let (_d, erased, _) = dispatcher(None, vec![]).await;
        let outcome = erased.attempt(&dispatch(Channel::Push, 0)).await;
        assert_eq!((outcome.status, outcome.reason), (SUPPRESSED, "ERASED"));
        // An SMS to a member without a phone number.
        let mut sms = dispatch(Channel::Sms, 0);
        sms.purpose = "transactional".into();
        let (_d, no_phone, _) = dispatcher(Some(member(true, "")), vec![]).await;
        let outcome = no_phone.attempt(&sms).await;
        assert_eq!((outcome.status, outcome.reason), (SUPPRESSED, "NO_ADDRESS"));
    }

    #[tokio::test]
    async fn quiet_hours_are_judged_again_when_the_message_leaves() {
        let (_d, dispatcher, provider) = dispatcher(Some(member(true, "")), vec![]).await;
        // A window around this minute on the programme's clock (UTC here).
        let minute = ((now_ms() / 60_000) % (24 * 60)) as u16;
        let all_day = crate::domain::quiet_hours::QuietHours {
            start: (minute + 24 * 60 - 1) % (24 * 60),
            end: (minute + 2) % (24 * 60),
            channels: vec![Channel::Push],
            hold: true,
        };
        let change = questline_kit::audit::Change::new("acme", "admin", "t".into(), "q".into());
        dispatcher
            .store
            .put_settings("acme", &[], Some(&all_day), None, &change)
            .await
            .unwrap();
        let outcome = dispatcher.attempt(&dispatch(Channel::Push, 1)).await;
        assert_eq!((outcome.status, outcome.reason), (PENDING, "QUIET_HOURS"));
        assert!(outcome.due_at > now_ms() && !outcome.counted);
        assert!(provider.sent_to.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn push_goes_to_the_external_id_and_failures_retry_then_fail() {
        let answers = vec![
            Ok(()),
            Err(Failure::transient("503")),
            Err(Failure::transient("503")),
            Err(Failure::permanent("400")),
        ];
        let (_d, dispatcher, provider) =
            dispatcher(Some(member(true, "+6591234567")), answers).await;
        let sent = dispatcher.attempt(&dispatch(Channel::Push, 0)).await;
        assert_eq!(sent.status, SENT);
        assert_eq!(provider.sent_to.lock().unwrap()[0], "alice");
        // The first failure waits the schedule's first step; after the last, FAILED.
        let retried = dispatcher.attempt(&dispatch(Channel::Push, 0)).await;
        assert_eq!(retried.status, PENDING);
        assert!(retried.due_at >= now_ms() + 50_000, "{retried:?}");
        assert_eq!(retried.error, "503");
        let spent = dispatcher.attempt(&dispatch(Channel::Push, 2)).await;
        assert_eq!(spent.status, FAILED);
        let refused = dispatcher.attempt(&dispatch(Channel::Push, 0)).await;
        assert_eq!((refused.status, refused.error.as_str()), (FAILED, "400"));
    }

    #[tokio::test]
    async fn dispatches_stranded_without_a_provider_settle_after_an_hour() {
        use crate::store::Fate;
        use crate::store::tests::{content, to};
        let (_d, dispatcher, _) = dispatcher(Some(member(true, "")), vec![]).await;
        let email = |event_id, due_at| crate::store::Delivery {
            channel: Channel::Email,
            fate: Fate::Send { due_at, reason: "" },
            ..to("acme", "m1", event_id)
        };
        // No email provider here: one staged long ago, one just now.
        let fresh = now_ms();
        let staged = [email("old", 1_000), email("new", fresh)];
        let store = &dispatcher.store;
        store.deliver_all(&staged, |_| content("hi")).await.unwrap();
        Arc::clone(&dispatcher).look().await.unwrap();
        let settled = store.settled().await;
        assert_eq!(settled.len(), 1, "{settled:?}");
        assert_eq!(settled[0].event_id, "old");
        let seen = (settled[0].status.as_str(), settled[0].reason.as_str());
        assert_eq!(seen, ("SUPPRESSED", "CHANNEL_NOT_CONFIGURED"));
        assert_eq!(settled[0].attempts, 0);
        let waiting = store.due_dispatches(Channel::Email, Purpose::Transactional, fresh, 10);
        assert_eq!(
            waiting.await.unwrap().len(),
            1,
            "the new one waits its hour"
        );
    }
}
