//! Triggers: admins only, each within their own tenant. A built-in trigger
//! shows until the programme stores its own for the event type.

use questline_kit::audit::Change;
use questline_kit::auth::Caller;
use questline_kit::paging::{self, Page};
use questline_kit::time::to_timestamp;
use questline_kit::{DomainError, Violations};
use questline_proto::notifications as pb;
use questline_proto::notifications::notifications_service_server::SERVICE_NAME;
use tonic::{Request, Response};

use super::NotificationsApi;
use super::channels::{channel_of, pb_channel};
use crate::domain::channels::Purpose;
use crate::domain::triggers::{self, Trigger, check_event_type};
use crate::flow::programmes::trigger_of;
use crate::store::entities::trigger as trigger_row;

type Answer<T> = tonic::Result<Response<T>>;

pub(super) async fn put(
    api: &NotificationsApi,
    request: Request<pb::PutNotificationTriggerRequest>,
) -> Answer<pb::PutNotificationTriggerResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    let spec = decode(&req)?;
    caller.require_admin(&req.tenant_id)?;
    let spec = triggers::spec(spec, &api.channels)?;
    let expected = (req.expected_version > 0).then_some(req.expected_version);
    let change = change(&caller, &req.tenant_id, "PutNotificationTrigger", &spec)
        .with("enabled", spec.enabled)
        .with("purpose", spec.purpose.name());
    let row = api
        .store
        .put_trigger(&req.tenant_id, &spec, expected, &change)
        .await?;
    Ok(Response::new(pb::PutNotificationTriggerResponse {
        trigger: Some(stored(&row)?),
    }))
}

pub(super) async fn get(
    api: &NotificationsApi,
    request: Request<pb::GetNotificationTriggerRequest>,
) -> Answer<pb::GetNotificationTriggerResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    trigger_ref(&req.tenant_id, &req.event_type)?;
    caller.require_admin(&req.tenant_id)?;
    let trigger = match api.store.trigger(&req.tenant_id, &req.event_type).await? {
        Some(row) => stored(&row)?,
        None => triggers::builtin_for(&req.event_type)
            .map(|t| builtin(&req.tenant_id, &t))
            .ok_or_else(|| DomainError::NotFound(format!("no trigger for {}", req.event_type)))?,
    };
    Ok(Response::new(pb::GetNotificationTriggerResponse {
        trigger: Some(trigger),
    }))
}

/// The stored triggers and the built-in ones they do not replace, merged
/// by event type and paged by it.
pub(super) async fn list(
    api: &NotificationsApi,
    request: Request<pb::ListNotificationTriggersRequest>,
) -> Answer<pb::ListNotificationTriggersResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    Violations::new().id("tenant_id", &req.tenant_id).finish()?;
    let page = paging::parse(req.page_size, &req.page_token)?;
    caller.require_admin(&req.tenant_id)?;
    let after = page.after.as_deref();
    let rows = api
        .store
        .triggers(&req.tenant_id, after, page.fetch_limit())
        .await?;
    let merged = merge(&req.tenant_id, rows, &page)?;
    let (triggers, next_page_token) = page.finish(merged, |t| t.event_type.as_str());
    Ok(Response::new(pb::ListNotificationTriggersResponse {
        triggers,
        next_page_token,
    }))
}

fn merge(
    tenant_id: &str,
    rows: Vec<trigger_row::Model>,
    page: &Page,
) -> Result<Vec<pb::NotificationTrigger>, DomainError> {
    let after = page.after.as_deref().unwrap_or("");
    let mut merged = rows.iter().map(stored).collect::<Result<Vec<_>, _>>()?;
    // Built-in ones are few: those past the page's start and not replaced.
    let replaced = |t: &Trigger| rows.iter().any(|r| r.event_type == t.event_type);
    merged.extend(
        triggers::builtin()
            .iter()
            .filter(|t| t.event_type.as_str() > after && !replaced(t))
            .map(|t| builtin(tenant_id, t)),
    );
    merged.sort_by(|a, b| a.event_type.cmp(&b.event_type));
    merged.truncate(page.fetch_limit() as usize);
    Ok(merged)
}

pub(super) async fn delete(
    api: &NotificationsApi,
    request: Request<pb::DeleteNotificationTriggerRequest>,
) -> Answer<pb::DeleteNotificationTriggerResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    trigger_ref(&req.tenant_id, &req.event_type)?;
    caller.require_admin(&req.tenant_id)?;
    let resource = format!("notification-triggers/{}", req.event_type);
    let change = Change::by(
        &caller,
        &req.tenant_id,
        SERVICE_NAME,
        "DeleteNotificationTrigger",
        resource,
    );
    api.store
        .delete_trigger(&req.tenant_id, &req.event_type, &change)
        .await?;
    Ok(Response::new(pb::DeleteNotificationTriggerResponse {}))
}

/// The request's trigger, every field checked at once.
fn decode(req: &pb::PutNotificationTriggerRequest) -> Result<Trigger, DomainError> {
    let mut v = Violations::new();
    v.id("tenant_id", &req.tenant_id);
    check_event_type(&mut v, "event_type", &req.event_type);
    let channels: Vec<_> = req
        .channels
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let channel = channel_of(*c);
            if channel.is_none() {
                v.add(&format!("channels[{i}]"), "must be a channel");
            }
            channel
        })
        .collect();
    let purpose = match pb::MessagePurpose::try_from(req.purpose) {
        Ok(pb::MessagePurpose::Transactional) => Some(Purpose::Transactional),
        Ok(pb::MessagePurpose::Marketing) => Some(Purpose::Marketing),
        _ => None,
    };
    if purpose.is_none() {
        v.add("purpose", "must be TRANSACTIONAL or MARKETING");
    }
    if req.expected_version < 0 {
        v.add("expected_version", "must not be negative");
    }
    v.finish()?;
    Ok(Trigger {
        event_type: req.event_type.clone(),
        channels,
        purpose: purpose.unwrap_or(Purpose::Transactional),
        topic: req.topic.clone(),
        enabled: req.enabled,
    })
}

fn trigger_ref(tenant_id: &str, event_type: &str) -> Result<(), DomainError> {
    let mut v = Violations::new();
    v.id("tenant_id", tenant_id);
    check_event_type(&mut v, "event_type", event_type);
    v.finish()
}

fn change(caller: &Caller, tenant_id: &str, method: &str, spec: &Trigger) -> Change {
    let resource = format!("notification-triggers/{}", spec.event_type);
    let channels: Vec<&str> = spec.channels.iter().map(|c| c.name()).collect();
    Change::by(caller, tenant_id, SERVICE_NAME, method, resource).with("channels", channels)
}

fn stored(row: &trigger_row::Model) -> Result<pb::NotificationTrigger, DomainError> {
    let trigger = trigger_of(row)
        .ok_or_else(|| DomainError::internal(format!("trigger {} unreadable", row.event_type)))?;
    Ok(pb::NotificationTrigger {
        version: row.version,
        builtin: false,
        update_time: Some(to_timestamp(row.updated_at)),
        ..builtin(&row.tenant_id, &trigger)
    })
}

fn builtin(tenant_id: &str, t: &Trigger) -> pb::NotificationTrigger {
    let purpose = match t.purpose {
        Purpose::Transactional => pb::MessagePurpose::Transactional,
        Purpose::Marketing => pb::MessagePurpose::Marketing,
    };
    pb::NotificationTrigger {
        tenant_id: tenant_id.into(),
        event_type: t.event_type.clone(),
        channels: t.channels.iter().map(|c| pb_channel(*c) as i32).collect(),
        purpose: purpose as i32,
        topic: t.topic.clone(),
        enabled: t.enabled,
        version: 0,
        builtin: true,
        update_time: None,
    }
}
