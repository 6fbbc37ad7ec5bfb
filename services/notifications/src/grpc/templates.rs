//! Message templates: admins only, each within their own tenant. A save
//! is checked whole first (shape, syntax, variables: each mistake with its
//! line and column), then kept as the next version.

use questline_kit::audit::Change;
use questline_kit::auth::Caller;
use questline_kit::paging;
use questline_kit::structs::{from_json, to_json};
use questline_kit::time::to_timestamp;
use questline_kit::{DomainError, Violations};
use questline_proto::notifications as pb;
use questline_proto::notifications::notifications_service_server::SERVICE_NAME;
use serde_json::Value;
use tonic::{Request, Response};

use super::NotificationsApi;
use super::channels::{channel_of, pb_channel};
use crate::domain::channels::Channel;
use crate::domain::templates::check::{self, Draft};
use crate::domain::templates::{Locales, Source, canonical};
use crate::domain::triggers::check_event_type;
use crate::domain::variables;
use crate::events::{known, sample};
use crate::store::entities::template as template_row;
use crate::store::programme::{TemplateSpec, template_key};

type Answer<T> = tonic::Result<Response<T>>;

/// A template's identity: tenant, event type, channel, locale (in its
/// usual case).
struct TemplateRef<'a> {
    tenant_id: &'a str,
    event_type: &'a str,
    channel: Channel,
    locale: String,
}

impl TemplateRef<'_> {
    fn key(&self) -> String {
        template_key(self.event_type, self.channel, &self.locale)
    }
}

/// The template a request names, every part checked at once.
fn template_ref<'a>(
    tenant_id: &'a str,
    event_type: &'a str,
    channel: i32,
    locale: &'a str,
    v: &mut Violations,
) -> Option<TemplateRef<'a>> {
    v.id("tenant_id", tenant_id);
    check_event_type(v, "event_type", event_type);
    v.locale("locale", locale);
    let channel = channel_of(channel);
    if channel.is_none() {
        v.add("channel", "must be INBOX, EMAIL, PUSH or SMS");
    }
    Some(TemplateRef {
        tenant_id,
        event_type,
        channel: channel?,
        locale: canonical(locale),
    })
}

/// `template_ref`, refusing at once what is wrong.
fn named<'a>(
    tenant_id: &'a str,
    event_type: &'a str,
    channel: i32,
    locale: &'a str,
) -> Result<TemplateRef<'a>, DomainError> {
    let mut v = Violations::new();
    let found = template_ref(tenant_id, event_type, channel, locale, &mut v);
    v.finish()?;
    found.ok_or_else(|| DomainError::internal("a checked template ref is missing"))
}

pub(super) async fn put(
    api: &NotificationsApi,
    request: Request<pb::PutMessageTemplateRequest>,
) -> Answer<pb::PutMessageTemplateResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    let mut v = Violations::new();
    let found = template_ref(
        &req.tenant_id,
        &req.event_type,
        req.channel,
        &req.locale,
        &mut v,
    );
    v.check(
        req.expected_version >= 0,
        "expected_version",
        "must not be negative",
    );
    v.finish()?;
    let at = found.ok_or_else(|| DomainError::internal("a checked template ref is missing"))?;
    caller.require_admin(&req.tenant_id)?;
    let draft = Draft {
        event_type: at.event_type,
        channel: at.channel,
        subject: &req.subject,
        body: &req.body,
        html: &req.html,
    };
    let example = variables::of(sample(at.event_type), variables::sample_member(&at.locale));
    check::check(&draft, &known(at.event_type).unwrap_or_default(), &example)?;
    let spec = TemplateSpec {
        event_type: at.event_type,
        channel: at.channel,
        locale: &at.locale,
        subject: &req.subject,
        body: &req.body,
        html: &req.html,
    };
    let expected = (req.expected_version > 0).then_some(req.expected_version);
    let change = change(&caller, &at, "PutMessageTemplate");
    let row = api
        .store
        .put_template(at.tenant_id, &spec, &caller.claims.cid, expected, &change)
        .await?;
    Ok(Response::new(pb::PutMessageTemplateResponse {
        template: Some(encode(row)),
    }))
}

pub(super) async fn get(
    api: &NotificationsApi,
    request: Request<pb::GetMessageTemplateRequest>,
) -> Answer<pb::GetMessageTemplateResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    let at = named(&req.tenant_id, &req.event_type, req.channel, &req.locale)?;
    if req.version < 0 {
        return Err(DomainError::invalid("version", "must not be negative").into());
    }
    caller.require_admin(&req.tenant_id)?;
    let version = (req.version > 0).then_some(req.version);
    let row = api.store.template(at.tenant_id, &at.key(), version).await?;
    Ok(Response::new(pb::GetMessageTemplateResponse {
        template: Some(encode(row)),
    }))
}

pub(super) async fn list(
    api: &NotificationsApi,
    request: Request<pb::ListMessageTemplatesRequest>,
) -> Answer<pb::ListMessageTemplatesResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    let mut v = Violations::new();
    v.id("tenant_id", &req.tenant_id);
    if !req.event_type.is_empty() {
        check_event_type(&mut v, "event_type", &req.event_type);
    }
    v.finish()?;
    let page = paging::parse(req.page_size, &req.page_token)?;
    caller.require_admin(&req.tenant_id)?;
    let event_type = Some(req.event_type.as_str()).filter(|t| !t.is_empty());
    let rows = api
        .store
        .templates(&req.tenant_id, event_type, &page)
        .await?;
    let (rows, next_page_token) = page.finish(rows, |t| t.template_key.as_str());
    Ok(Response::new(pb::ListMessageTemplatesResponse {
        templates: rows.into_iter().map(encode).collect(),
        next_page_token,
    }))
}

pub(super) async fn versions(
    api: &NotificationsApi,
    request: Request<pb::ListMessageTemplateVersionsRequest>,
) -> Answer<pb::ListMessageTemplateVersionsResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    let at = named(&req.tenant_id, &req.event_type, req.channel, &req.locale)?;
    let page = paging::parse(req.page_size, &req.page_token)?;
    caller.require_admin(&req.tenant_id)?;
    let rows = api
        .store
        .template_versions(at.tenant_id, &at.key(), &page)
        .await?;
    // Paged by version, a number.
    let fetched = rows.len();
    let mut rows = rows;
    rows.truncate(page.size as usize);
    let last = rows.last().map(|t| t.version.to_string());
    let next_page_token = paging::next_token(page.size, fetched, last.as_deref());
    Ok(Response::new(pb::ListMessageTemplateVersionsResponse {
        templates: rows.into_iter().map(encode).collect(),
        next_page_token,
    }))
}

pub(super) async fn delete(
    api: &NotificationsApi,
    request: Request<pb::DeleteMessageTemplateRequest>,
) -> Answer<pb::DeleteMessageTemplateResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    let at = named(&req.tenant_id, &req.event_type, req.channel, &req.locale)?;
    caller.require_admin(&req.tenant_id)?;
    let change = change(&caller, &at, "DeleteMessageTemplate");
    api.store
        .delete_template(at.tenant_id, &at.key(), &change)
        .await?;
    Ok(Response::new(pb::DeleteMessageTemplateResponse {}))
}

/// Renders a draft, or what a member in `locale` reads, with a sample event.
pub(super) async fn preview(
    api: &NotificationsApi,
    request: Request<pb::PreviewMessageTemplateRequest>,
) -> Answer<pb::PreviewMessageTemplateResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    // The locale may be left out: the programme's default then.
    let locale = if req.locale.is_empty() {
        "en"
    } else {
        &req.locale
    };
    let at = named(&req.tenant_id, &req.event_type, req.channel, locale)?;
    caller.require_admin(&req.tenant_id)?;
    let mut fields = sample(at.event_type);
    fields.extend(to_json(req.sample.clone().unwrap_or_default()));
    let mut member = variables::sample_member(&at.locale);
    member.extend(to_json(req.member.clone().unwrap_or_default()));
    let vars = variables::of(fields, member);
    let draft = Draft {
        event_type: at.event_type,
        channel: at.channel,
        subject: &req.subject,
        body: &req.body,
        html: &req.html,
    };
    let drafted = [draft.subject, draft.body, draft.html]
        .iter()
        .any(|p| !p.is_empty());
    let (content, source) = if drafted {
        {
            let known = known(at.event_type).unwrap_or_default();
            (check::render(&draft, &known, &vars)?, Source::Draft)
        }
    } else {
        let programme = api.programmes.get(at.tenant_id).await?;
        let member_locale = if req.locale.is_empty() {
            programme.default_locale.as_str()
        } else {
            at.locale.as_str()
        };
        let locales = Locales {
            member: member_locale,
            programme: &programme.default_locale,
        };
        let rendered = programme
            .templates
            .render(at.event_type, at.channel, &locales, &vars)
            .map_err(|why| {
                DomainError::precondition("TEMPLATE_DOES_NOT_RENDER", at.event_type, why)
            })?;
        (rendered.content, rendered.source)
    };
    let Value::Object(vars) = vars else {
        return Err(DomainError::internal("variables are an object").into());
    };
    Ok(Response::new(pb::PreviewMessageTemplateResponse {
        subject: content.title,
        body: content.body,
        html: content.html,
        source: source.to_string(),
        variables: Some(from_json(&vars)),
    }))
}

fn change(caller: &Caller, at: &TemplateRef<'_>, method: &str) -> Change {
    let resource = format!("message-templates/{}", at.key());
    Change::by(caller, at.tenant_id, SERVICE_NAME, method, resource)
}

fn encode(row: template_row::Model) -> pb::MessageTemplate {
    let channel = Channel::parse(&row.channel).map_or(pb::Channel::Unspecified, pb_channel);
    pb::MessageTemplate {
        tenant_id: row.tenant_id,
        event_type: row.event_type,
        channel: channel as i32,
        locale: row.locale,
        version: row.version,
        subject: row.subject,
        body: row.body,
        html: row.html,
        create_time: Some(to_timestamp(row.created_at)),
        saved_by: row.saved_by,
    }
}
