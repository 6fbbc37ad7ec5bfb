//! What members let the programme send: their preferences (a member token
//! reaches its own), the log of their emails, push and SMS, and the
//! unsubscribe links emails carry, which need no token.

use questline_kit::members::Held;
use questline_kit::time::to_timestamp;
use questline_kit::{DomainError, Violations, paging};
use questline_proto::notifications as pb;
use tonic::{Request, Response};

use super::NotificationsApi;
use super::channels::{channel_of, pb_channel};
use super::inbox::member;
use crate::domain::channels::{Channel, Purpose};
use crate::domain::respect::{MOST_TOPICS_OFF, Preferences};
use crate::domain::unsubscribe;
use crate::events::published::PreferencesChange;
use crate::flow::programmes::unsubscribe_key_of;
use crate::store::dispatches::{FAILED, PENDING, SENT, SUPPRESSED};
use crate::store::entities::dispatch;
use crate::store::preferences::Stored;

type Answer<T> = tonic::Result<Response<T>>;

pub(super) async fn get(
    api: &NotificationsApi,
    request: Request<pb::GetMessagePreferencesRequest>,
) -> Answer<pb::GetMessagePreferencesResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    member(api, &caller, &req.tenant_id, &req.member_id).await?;
    let stored = api
        .store
        .preferences(&req.tenant_id, &req.member_id)
        .await?;
    Ok(Response::new(pb::GetMessagePreferencesResponse {
        preferences: Some(encode(&req.tenant_id, &req.member_id, stored)),
    }))
}

pub(super) async fn update(
    api: &NotificationsApi,
    request: Request<pb::UpdateMessagePreferencesRequest>,
) -> Answer<pb::UpdateMessagePreferencesResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    let wanted = decode(req)?;
    member(api, &caller, &req.tenant_id, &req.member_id).await?;
    let expected = (req.expected_version > 0).then_some(req.expected_version);
    let stored = api
        .store
        .put_preferences(&req.tenant_id, &req.member_id, &wanted, expected)
        .await?;
    Ok(Response::new(pb::UpdateMessagePreferencesResponse {
        preferences: Some(encode(&req.tenant_id, &req.member_id, stored)),
    }))
}

pub(super) async fn list_dispatches(
    api: &NotificationsApi,
    request: Request<pb::ListDispatchesRequest>,
) -> Answer<pb::ListDispatchesResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    let page = paging::parse(req.page_size, &req.page_token)?;
    let channel =
        match req.channel {
            0 => None,
            n => Some(channel_of(n).ok_or_else(|| {
                DomainError::invalid("channel", "must be INBOX, EMAIL, PUSH or SMS")
            })?),
        };
    member(api, &caller, &req.tenant_id, &req.member_id).await?;
    let rows = api
        .store
        .dispatches(&req.tenant_id, &req.member_id, channel, &page)
        .await?;
    let (rows, next_page_token) = page.finish(rows, |d| d.dispatch_id.as_str());
    // A provider's or the engine's words are for the brand, not the member.
    let for_member = caller.is_member_only();
    let dispatches = rows
        .into_iter()
        .map(dispatch_of)
        .map(|mut d| {
            if for_member {
                d.last_error.clear();
            }
            d
        })
        .collect();
    Ok(Response::new(pb::ListDispatchesResponse {
        dispatches,
        next_page_token,
    }))
}

/// Follows an unsubscribe link. A token that does not read, or whose
/// signature fails, is INVALID_ARGUMENT; the same link again changes
/// nothing more.
pub(super) async fn unsubscribe(
    api: &NotificationsApi,
    request: Request<pb::UnsubscribeRequest>,
) -> Answer<pb::UnsubscribeResponse> {
    let token = &request.get_ref().token;
    let bad = || DomainError::invalid("token", "is not an unsubscribe link of this installation");
    if token.is_empty() {
        return Err(DomainError::invalid("token", "is required").into());
    }
    let claim = unsubscribe::read(token).ok_or_else(bad)?;
    let key = api
        .store
        .programme(&claim.tenant_id)
        .await?
        .map(|p| unsubscribe_key_of(&p))
        .unwrap_or_default();
    if key.is_empty() || !unsubscribe::verify(token, &key) {
        return Err(bad().into());
    }
    let (channel, topic) = (claim.channel, claim.topic.clone());
    // An erased member's old link: nothing to turn off, nothing to keep.
    let held = api.members.held(&claim.tenant_id, &claim.member_id).await?;
    if !matches!(held, Held::Erased) {
        let (tenant_id, member_id) = (&claim.tenant_id, &claim.member_id);
        let by_link = PreferencesChange::UnsubscribeLink;
        api.store
            .amend_preferences(tenant_id, member_id, by_link, |p| {
                opt_out(p, channel, &topic)
            })
            .await?;
    }
    tracing::info!(tenant_id = %claim.tenant_id, channel = channel.name(), topic = %claim.topic, "a member unsubscribed by link");
    Ok(Response::new(pb::UnsubscribeResponse {
        tenant_id: claim.tenant_id,
        channel: pb_channel(channel) as i32,
        topic: claim.topic,
    }))
}

/// Turns `topic` off, or `channel` when there is no topic (or no room for
/// another topic: the member still hears nothing more of it).
fn opt_out(p: &mut Preferences, channel: Channel, topic: &str) {
    if p.topics_off.iter().any(|t| t == topic) || p.channels_off.contains(&channel) {
        return;
    }
    if topic.is_empty() || p.topics_off.len() >= MOST_TOPICS_OFF {
        p.channels_off.push(channel);
    } else {
        p.topics_off.push(topic.into());
    }
}

/// The preferences asked for, every field checked at once.
fn decode(req: &pb::UpdateMessagePreferencesRequest) -> Result<Preferences, DomainError> {
    let mut v = Violations::new();
    v.id("tenant_id", &req.tenant_id)
        .id("member_id", &req.member_id);
    if req.expected_version < 0 {
        v.add("expected_version", "must not be negative");
    }
    let mut channels_off: Vec<Channel> = Vec::with_capacity(req.channels_off.len());
    for (i, n) in req.channels_off.iter().enumerate() {
        match channel_of(*n) {
            Some(c) if !channels_off.contains(&c) => channels_off.push(c),
            Some(_) => {
                v.add(&format!("channels_off[{i}]"), "must name each channel once");
            }
            None => {
                v.add(
                    &format!("channels_off[{i}]"),
                    "must be INBOX, EMAIL, PUSH or SMS",
                );
            }
        }
    }
    v.check(
        req.topics_off.len() <= MOST_TOPICS_OFF,
        "topics_off",
        &format!("must have at most {MOST_TOPICS_OFF} topics"),
    );
    for (i, topic) in req.topics_off.iter().enumerate().take(MOST_TOPICS_OFF) {
        v.id(&format!("topics_off[{i}]"), topic);
        if req.topics_off[..i].contains(topic) {
            v.add(&format!("topics_off[{i}]"), "must name each topic once");
        }
    }
    v.finish()?;
    channels_off.sort();
    let mut topics_off = req.topics_off.clone();
    topics_off.sort();
    Ok(Preferences {
        channels_off,
        topics_off,
    })
}

fn encode(tenant_id: &str, member_id: &str, stored: Stored) -> pb::MessagePreferences {
    pb::MessagePreferences {
        tenant_id: tenant_id.into(),
        member_id: member_id.into(),
        channels_off: stored
            .preferences
            .channels_off
            .iter()
            .map(|c| pb_channel(*c) as i32)
            .collect(),
        topics_off: stored.preferences.topics_off,
        version: stored.version,
        update_time: (stored.updated_at > 0).then(|| to_timestamp(stored.updated_at)),
    }
}

fn dispatch_of(d: dispatch::Model) -> pb::Dispatch {
    let status = match d.status.as_str() {
        PENDING => pb::DispatchStatus::Pending,
        SENT => pb::DispatchStatus::Sent,
        FAILED => pb::DispatchStatus::Failed,
        SUPPRESSED => pb::DispatchStatus::Suppressed,
        _ => pb::DispatchStatus::Unspecified,
    };
    let purpose = match Purpose::parse(&d.purpose) {
        Some(Purpose::Transactional) => pb::MessagePurpose::Transactional,
        Some(Purpose::Marketing) => pb::MessagePurpose::Marketing,
        None => pb::MessagePurpose::Unspecified,
    };
    let channel = Channel::parse(&d.channel).map_or(pb::Channel::Unspecified, pb_channel);
    let at = |ms: i64| (ms > 0).then(|| to_timestamp(ms));
    pb::Dispatch {
        channel: channel as i32,
        purpose: purpose as i32,
        status: status as i32,
        create_time: at(d.created_at),
        due_time: at(d.due_at).filter(|_| d.status == PENDING),
        send_time: at(d.sent_at),
        dispatch_id: d.dispatch_id,
        tenant_id: d.tenant_id,
        member_id: d.member_id,
        event_id: d.event_id,
        event_type: d.event_type,
        topic: d.topic,
        reason: d.reason,
        subject: d.subject,
        body: d.body,
        attempts: d.attempts,
        last_error: d.last_error,
    }
}
