//! Event schemas: admins put and delete them, server clients read them.
//! A schema is refused while a rule that is not archived reads what it
//! would refuse; a rule is refused at save when it does not fit the schemas
//! of its event types.

use questline_kit::audit::Change;
use questline_kit::{DomainError, Violations, paging};
use questline_proto::mechanics as pb;
use questline_proto::mechanics::mechanics_service_server::SERVICE_NAME;
use tonic::{Request, Response};

use super::{MechanicsApi, decode};
use crate::domain::book::RuleBook;
use crate::domain::rules::{RuleSpec, RuleStatus};
use crate::domain::schemas::{self, AttributeSpec, AttributeType, EventSchema};
use crate::store::StoredSchema;

pub(super) async fn put(
    api: &MechanicsApi,
    request: Request<pb::PutEventSchemaRequest>,
) -> tonic::Result<Response<pb::PutEventSchemaResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    let (tenant_id, event_type) = (req.tenant_id.as_str(), req.event_type.as_str());
    schema_ref(tenant_id, event_type)?;
    let schema = decode_schema(&req)?;
    caller.require_admin(tenant_id)?;
    let book = api.store.rule_book(tenant_id).await?;
    rules_still_fit(&book, event_type, &schema)?;
    let definition = serde_json::to_value(&schema).unwrap_or_default();
    let resource = format!("event-schemas/{event_type}");
    let change = Change::by(&caller, tenant_id, SERVICE_NAME, "PutEventSchema", resource)
        .with("definition", definition);
    let expected = (req.expected_version > 0).then_some(req.expected_version);
    let stored = api
        .store
        .put_event_schema(tenant_id, event_type, &schema, expected, &change)
        .await?;
    Ok(Response::new(pb::PutEventSchemaResponse {
        schema: Some(encode(stored)),
    }))
}

pub(super) async fn get(
    api: &MechanicsApi,
    request: Request<pb::GetEventSchemaRequest>,
) -> tonic::Result<Response<pb::GetEventSchemaResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    schema_ref(&req.tenant_id, &req.event_type)?;
    caller.require_server(&req.tenant_id)?;
    let stored = api
        .store
        .event_schema(&req.tenant_id, &req.event_type)
        .await?;
    Ok(Response::new(pb::GetEventSchemaResponse {
        schema: Some(encode(stored)),
    }))
}

pub(super) async fn list(
    api: &MechanicsApi,
    request: Request<pb::ListEventSchemasRequest>,
) -> tonic::Result<Response<pb::ListEventSchemasResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    decode::tenant(&req.tenant_id)?;
    let page = paging::parse(req.page_size, &req.page_token)?;
    caller.require_server(&req.tenant_id)?;
    let rows = api.store.event_schemas(&req.tenant_id, &page).await?;
    let (rows, next_page_token) = page.finish(rows, |s| s.row.event_type.as_str());
    Ok(Response::new(pb::ListEventSchemasResponse {
        schemas: rows.into_iter().map(encode).collect(),
        next_page_token,
    }))
}

pub(super) async fn delete(
    api: &MechanicsApi,
    request: Request<pb::DeleteEventSchemaRequest>,
) -> tonic::Result<Response<pb::DeleteEventSchemaResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    schema_ref(&req.tenant_id, &req.event_type)?;
    caller.require_admin(&req.tenant_id)?;
    let resource = format!("event-schemas/{}", req.event_type);
    let change = Change::by(
        &caller,
        &req.tenant_id,
        SERVICE_NAME,
        "DeleteEventSchema",
        resource,
    );
    api.store
        .delete_event_schema(&req.tenant_id, &req.event_type, &change)
        .await?;
    Ok(Response::new(pb::DeleteEventSchemaResponse {}))
}

/// Refuses `spec` (a rule about to be saved) when it reads what a schema of
/// its event types refuses, or a counter the programme does not keep; each
/// mistake under `rule.<field>`.
pub(super) fn rule_fits(book: &RuleBook, spec: &RuleSpec) -> Result<(), DomainError> {
    let found: Vec<(&str, &EventSchema)> = spec
        .event_types
        .iter()
        .filter_map(|t| book.schemas.get(t).map(|s| (t.as_str(), s)))
        .collect();
    let mut v = Violations::new();
    schemas::check_rule(&mut v, spec, &found);
    crate::domain::counters::check_rule(&mut v, spec, &book.counters);
    v.finish().map_err(|err| match err {
        DomainError::Invalid(list) => DomainError::Invalid(decode::under("rule", list)),
        other => other,
    })
}

/// The latest version of every rule not archived that listens to
/// `event_type` must fit `schema`.
fn rules_still_fit(
    book: &RuleBook,
    event_type: &str,
    schema: &EventSchema,
) -> Result<(), DomainError> {
    live_rules_fit(book, |v, spec| {
        if spec.event_types.iter().any(|t| t == event_type) {
            schemas::check_rule(v, spec, &[(event_type, schema)]);
        }
    })
}

/// Refuses a change (`RULE_DOES_NOT_FIT`, naming the first rule and its
/// mistake) when `check` finds a mistake in the latest version of a rule
/// that is not archived.
pub(super) fn live_rules_fit(
    book: &RuleBook,
    check: impl Fn(&mut Violations, &RuleSpec),
) -> Result<(), DomainError> {
    for rule in &book.rules {
        let archived = rule
            .changes
            .last()
            .is_some_and(|c| c.status == RuleStatus::Archived);
        let latest = rule
            .versions
            .iter()
            .max_by_key(|(v, _)| **v)
            .map(|(_, r)| r);
        let Some(latest) = latest.filter(|_| !archived) else {
            continue;
        };
        let mut v = Violations::new();
        check(&mut v, &latest.spec);
        if let Err(DomainError::Invalid(list)) = v.finish()
            && let Some(first) = list.first()
        {
            return Err(DomainError::precondition(
                "RULE_DOES_NOT_FIT",
                format!("rules/{}", rule.rule_id),
                format!("{} {}", first.field, first.description),
            ));
        }
    }
    Ok(())
}

fn schema_ref(tenant_id: &str, event_type: &str) -> Result<(), DomainError> {
    Violations::new()
        .id("tenant_id", tenant_id)
        .id("event_type", event_type)
        .finish()
}

/// The schema of a put, each mistake under `schema.<field>`.
fn decode_schema(req: &pb::PutEventSchemaRequest) -> Result<EventSchema, DomainError> {
    let given = req
        .schema
        .as_ref()
        .ok_or_else(|| DomainError::invalid("schema", "is required"))?;
    let mut v = Violations::new();
    v.check(
        req.expected_version >= 0,
        "expected_version",
        "must not be negative",
    );
    let mut inner = Violations::new();
    inner.check(given.version >= 0, "version", "must not be negative");
    for (field, value, asked) in [
        ("tenant_id", &given.tenant_id, &req.tenant_id),
        ("event_type", &given.event_type, &req.event_type),
    ] {
        inner.check(
            value.is_empty() || value == asked,
            field,
            "must be empty or the request's",
        );
    }
    let attributes = given
        .attributes
        .iter()
        .enumerate()
        .map(|(i, a)| AttributeSpec {
            name: a.name.clone(),
            kind: attribute_type(&mut inner, i, a.r#type),
            required: a.required,
            description: a.description.clone(),
        })
        .collect();
    let schema = EventSchema {
        description: given.description.clone(),
        attributes,
        closed: given.closed,
    };
    schema.validate(&mut inner);
    let mut found = decode::invalid(v.finish());
    found.extend(decode::under("schema", decode::invalid(inner.finish())));
    if found.is_empty() {
        Ok(schema)
    } else {
        Err(DomainError::Invalid(found))
    }
}

fn attribute_type(v: &mut Violations, i: usize, raw: i32) -> AttributeType {
    use pb::AttributeType as P;
    match P::try_from(raw) {
        Ok(P::Number) => AttributeType::Number,
        Ok(P::Integer) => AttributeType::Integer,
        Ok(P::String) => AttributeType::String,
        Ok(P::Boolean) => AttributeType::Boolean,
        Ok(P::Timestamp) => AttributeType::Timestamp,
        Ok(P::Location) => AttributeType::Location,
        Ok(P::List) => AttributeType::List,
        Ok(P::Object) => AttributeType::Object,
        Ok(P::Unspecified) | Err(_) => {
            v.add(
                &format!("attributes[{i}].type"),
                "must name an attribute type",
            );
            AttributeType::Object
        }
    }
}

fn encode(s: StoredSchema) -> pb::EventSchema {
    use pb::AttributeType as P;
    let kind = |k: AttributeType| match k {
        AttributeType::Number => P::Number,
        AttributeType::Integer => P::Integer,
        AttributeType::String => P::String,
        AttributeType::Boolean => P::Boolean,
        AttributeType::Timestamp => P::Timestamp,
        AttributeType::Location => P::Location,
        AttributeType::List => P::List,
        AttributeType::Object => P::Object,
    };
    pb::EventSchema {
        tenant_id: s.row.tenant_id,
        event_type: s.row.event_type,
        description: s.schema.description,
        attributes: s
            .schema
            .attributes
            .into_iter()
            .map(|a| pb::EventAttribute {
                name: a.name,
                r#type: kind(a.kind) as i32,
                required: a.required,
                description: a.description,
            })
            .collect(),
        closed: s.schema.closed,
        version: s.row.version,
        update_time: Some(questline_kit::time::to_timestamp(s.row.updated_at)),
    }
}
