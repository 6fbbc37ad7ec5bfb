//! The programme's messaging settings: frequency caps and quiet hours.
//! Admins only.

use questline_kit::audit::Change;
use questline_kit::time::to_timestamp;
use questline_kit::{DomainError, Violations};
use questline_proto::notifications as pb;
use questline_proto::notifications::notifications_service_server::SERVICE_NAME;
use tonic::{Request, Response};

use super::NotificationsApi;
use super::channels::{channel_of, pb_channel};
use crate::domain::caps::{self, Cap};
use crate::domain::quiet_hours::{self, QuietHours};
use crate::store::caps::quiet_hours_of;
use crate::store::entities::programme;

type Answer<T> = tonic::Result<Response<T>>;

pub(super) async fn get(
    api: &NotificationsApi,
    request: Request<pb::GetMessagingSettingsRequest>,
) -> Answer<pb::GetMessagingSettingsResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    Violations::new().id("tenant_id", &req.tenant_id).finish()?;
    caller.require_admin(&req.tenant_id)?;
    let row = api.store.programme(&req.tenant_id).await?;
    Ok(Response::new(pb::GetMessagingSettingsResponse {
        settings: Some(encode(&req.tenant_id, row.as_ref())?),
    }))
}

pub(super) async fn update(
    api: &NotificationsApi,
    request: Request<pb::UpdateMessagingSettingsRequest>,
) -> Answer<pb::UpdateMessagingSettingsResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    let (caps, quiet) = decode(req)?;
    caller.require_admin(&req.tenant_id)?;
    caps::check(&caps)?;
    if let Some(quiet) = &quiet {
        quiet_hours::check(quiet)?;
    }
    let expected = (req.expected_version > 0).then_some(req.expected_version);
    let change = Change::by(
        &caller,
        &req.tenant_id,
        SERVICE_NAME,
        "UpdateMessagingSettings",
        "messaging-settings".into(),
    )
    .with(
        "caps",
        serde_json::to_value(&caps).map_err(DomainError::internal)?,
    )
    .with(
        "quiet_hours",
        serde_json::to_value(&quiet).map_err(DomainError::internal)?,
    );
    let row = api
        .store
        .put_settings(&req.tenant_id, &caps, quiet.as_ref(), expected, &change)
        .await?;
    Ok(Response::new(pb::UpdateMessagingSettingsResponse {
        settings: Some(encode(&req.tenant_id, Some(&row))?),
    }))
}

/// The caps and quiet hours asked for, every field checked at once.
fn decode(
    req: &pb::UpdateMessagingSettingsRequest,
) -> Result<(Vec<Cap>, Option<QuietHours>), DomainError> {
    let mut v = Violations::new();
    v.id("tenant_id", &req.tenant_id);
    if req.expected_version < 0 {
        v.add("expected_version", "must not be negative");
    }
    let mut caps = Vec::with_capacity(req.caps.len());
    for (i, cap) in req.caps.iter().enumerate() {
        let at = |field: &str| format!("caps[{i}].{field}");
        let channel = channel_of(cap.channel);
        if channel.is_none() {
            v.add(&at("channel"), "must be INBOX, EMAIL, PUSH or SMS");
        }
        let limit = |field: &str, value: i32, v: &mut Violations| {
            u32::try_from(value).unwrap_or_else(|_| {
                v.add(&at(field), "must not be negative");
                0
            })
        };
        let per_day = limit("per_day", cap.per_day, &mut v);
        let per_week = limit("per_week", cap.per_week, &mut v);
        if let Some(channel) = channel {
            caps.push(Cap {
                channel,
                per_day,
                per_week,
            });
        }
    }
    let quiet = req.quiet_hours.as_ref().map(|q| quiet_of(q, &mut v));
    v.finish()?;
    Ok((caps, quiet))
}

/// Quiet hours as the request gives them; mistakes go to `v`.
fn quiet_of(q: &pb::QuietHours, v: &mut Violations) -> QuietHours {
    let mut at = |field: &str, text: &str| {
        quiet_hours::minutes(text).unwrap_or_else(|| {
            v.add(&format!("quiet_hours.{field}"), "must be HH:MM, e.g. 21:00");
            0
        })
    };
    let (start, end) = (at("start", &q.start), at("end", &q.end));
    let mut channels = Vec::with_capacity(q.channels.len());
    for (i, n) in q.channels.iter().enumerate() {
        match channel_of(*n) {
            Some(c) => channels.push(c),
            None => {
                v.add(
                    &format!("quiet_hours.channels[{i}]"),
                    "must be EMAIL, PUSH or SMS",
                );
            }
        }
    }
    let hold = match pb::QuietHoursAction::try_from(q.action) {
        Ok(pb::QuietHoursAction::Hold) => true,
        Ok(pb::QuietHoursAction::Drop) => false,
        _ => {
            v.add("quiet_hours.action", "must be HOLD or DROP");
            true
        }
    };
    QuietHours {
        start,
        end,
        channels,
        hold,
    }
}

fn encode(
    tenant_id: &str,
    row: Option<&programme::Model>,
) -> Result<pb::MessagingSettings, DomainError> {
    let caps: Vec<Cap> = match row {
        Some(p) => serde_json::from_str(&p.caps).map_err(DomainError::internal)?,
        None => Vec::new(),
    };
    let time_zone = row
        .map(|p| p.time_zone.as_str())
        .filter(|z| !z.is_empty())
        .unwrap_or("UTC");
    Ok(pb::MessagingSettings {
        tenant_id: tenant_id.into(),
        caps: caps
            .into_iter()
            .map(|c| pb::FrequencyCap {
                channel: pb_channel(c.channel) as i32,
                per_day: i32::try_from(c.per_day).unwrap_or(i32::MAX),
                per_week: i32::try_from(c.per_week).unwrap_or(i32::MAX),
            })
            .collect(),
        time_zone: time_zone.into(),
        quiet_hours: row.and_then(quiet_hours_of).map(|q| pb::QuietHours {
            start: quiet_hours::clock(q.start),
            end: quiet_hours::clock(q.end),
            channels: q.channels.iter().map(|c| pb_channel(*c) as i32).collect(),
            action: if q.hold {
                pb::QuietHoursAction::Hold
            } else {
                pb::QuietHoursAction::Drop
            } as i32,
        }),
        version: row.map_or(0, |p| p.settings_version),
        update_time: row
            .filter(|p| p.settings_updated_at > 0)
            .map(|p| to_timestamp(p.settings_updated_at)),
    })
}
