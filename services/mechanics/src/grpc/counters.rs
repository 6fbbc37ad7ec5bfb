//! Counters: admins put and delete them, server clients read them, and a
//! member app reads its own member's values.

use questline_kit::audit::Change;
use questline_kit::error::Violation;
use questline_kit::{DomainError, Violations, paging};
use questline_proto::mechanics as pb;
use questline_proto::mechanics::mechanics_service_server::SERVICE_NAME;
use tonic::{Request, Response};

use super::{MechanicsApi, decode, encode, schemas, zones};
use crate::domain::counters::{self, CounterSpec, MAX_COUNTERS, Window};
use crate::domain::rules::Period;
use crate::store::StoredCounter;

pub(super) async fn put(
    api: &MechanicsApi,
    request: Request<pb::PutCounterRequest>,
) -> tonic::Result<Response<pb::PutCounterResponse>> {
    let caller = api.auth.caller(&request).await?;
    let mut req = request.into_inner();
    let zone = req.counter.as_mut().map(|c| &mut c.time_zone);
    zones::fill(api, &caller, &req.tenant_id, zone).await?;
    let (tenant_id, counter_id) = (req.tenant_id.as_str(), req.counter_id.as_str());
    decode::tenant(tenant_id)?;
    let spec = decode_counter(&req)?;
    caller.require_admin(tenant_id)?;
    let book = api.store.rule_book(tenant_id).await?;
    let known = book.counters.iter().any(|c| c.counter_id == counter_id);
    if !known && book.counters.len() >= MAX_COUNTERS {
        return Err(
            DomainError::invalid("counter_id", "a programme has at most 50 counters").into(),
        );
    }
    let definition = serde_json::to_value(&spec).unwrap_or_default();
    let resource = format!("counters/{counter_id}");
    let change = Change::by(&caller, tenant_id, SERVICE_NAME, "PutCounter", resource)
        .with("definition", definition);
    let expected = (req.expected_version > 0).then_some(req.expected_version);
    let stored = api
        .store
        .put_counter(tenant_id, counter_id, &spec, expected, &change)
        .await?;
    Ok(Response::new(pb::PutCounterResponse {
        counter: Some(encode_counter(stored)),
    }))
}

pub(super) async fn get(
    api: &MechanicsApi,
    request: Request<pb::GetCounterRequest>,
) -> tonic::Result<Response<pb::GetCounterResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    counter_ref(&req.tenant_id, &req.counter_id)?;
    caller.require_server(&req.tenant_id)?;
    let stored = api.store.counter(&req.tenant_id, &req.counter_id).await?;
    Ok(Response::new(pb::GetCounterResponse {
        counter: Some(encode_counter(stored)),
    }))
}

pub(super) async fn list(
    api: &MechanicsApi,
    request: Request<pb::ListCountersRequest>,
) -> tonic::Result<Response<pb::ListCountersResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    decode::tenant(&req.tenant_id)?;
    let page = paging::parse(req.page_size, &req.page_token)?;
    caller.require_server(&req.tenant_id)?;
    let rows = api.store.counters(&req.tenant_id, &page).await?;
    let (rows, next_page_token) = page.finish(rows, |c| c.row.counter_id.as_str());
    Ok(Response::new(pb::ListCountersResponse {
        counters: rows.into_iter().map(encode_counter).collect(),
        next_page_token,
    }))
}

pub(super) async fn delete(
    api: &MechanicsApi,
    request: Request<pb::DeleteCounterRequest>,
) -> tonic::Result<Response<pb::DeleteCounterResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    counter_ref(&req.tenant_id, &req.counter_id)?;
    caller.require_admin(&req.tenant_id)?;
    // No rule that may still run is left reading a counter that is gone.
    let book = api.store.rule_book(&req.tenant_id).await?;
    let kept: Vec<_> = book
        .counters
        .iter()
        .filter(|c| c.counter_id != req.counter_id)
        .map(|c| c.counter_id.as_str())
        .collect();
    schemas::live_rules_fit(&book, |v, spec| counters::check_names(v, spec, &kept))?;
    let resource = format!("counters/{}", req.counter_id);
    let change = Change::by(
        &caller,
        &req.tenant_id,
        SERVICE_NAME,
        "DeleteCounter",
        resource,
    );
    api.store
        .delete_counter(&req.tenant_id, &req.counter_id, &change)
        .await?;
    Ok(Response::new(pb::DeleteCounterResponse {}))
}

pub(super) async fn member_values(
    api: &MechanicsApi,
    request: Request<pb::GetMemberCountersRequest>,
) -> tonic::Result<Response<pb::GetMemberCountersResponse>> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    Violations::new()
        .id("tenant_id", &req.tenant_id)
        .id("member_id", &req.member_id)
        .finish()?;
    caller.require_member_access(&req.tenant_id, &req.member_id)?;
    // NOT_FOUND for a member the tenant does not know.
    api.tracker
        .members()
        .get(&req.tenant_id, &req.member_id, &caller.token)
        .await?;
    let book = api.store.rule_book(&req.tenant_id).await?;
    let buckets = api
        .store
        .counter_buckets(&req.tenant_id, &req.member_id)
        .await?;
    let now = questline_kit::time::now_ms();
    let values = counters::values(&book.counters, &buckets, now);
    Ok(Response::new(pb::GetMemberCountersResponse {
        counters: values
            .into_iter()
            .map(|(counter_id, value)| pb::CounterValue {
                counter_id,
                value: value.as_f64().unwrap_or_default(),
            })
            .collect(),
    }))
}

fn counter_ref(tenant_id: &str, counter_id: &str) -> Result<(), DomainError> {
    Violations::new()
        .id("tenant_id", tenant_id)
        .id("counter_id", counter_id)
        .finish()
}

/// The counter of a put, compiled to check it; each mistake under
/// `counter.<field>`, but the request's own `counter_id` and
/// `expected_version`.
fn decode_counter(req: &pb::PutCounterRequest) -> Result<CounterSpec, DomainError> {
    let given = req
        .counter
        .as_ref()
        .ok_or_else(|| DomainError::invalid("counter", "is required"))?;
    let mut v = Violations::new();
    v.check(given.version >= 0, "version", "must not be negative");
    for (field, value, asked) in [
        ("tenant_id", &given.tenant_id, &req.tenant_id),
        ("counter_id", &given.counter_id, &req.counter_id),
    ] {
        v.check(
            value.is_empty() || value == asked,
            field,
            "must be empty or the request's",
        );
    }
    let window = window(&mut v, given);
    let spec = CounterSpec {
        description: given.description.clone(),
        event_types: given.event_types.clone(),
        condition: given.condition.clone(),
        sum_of: given.sum_of.clone(),
        window,
        time_zone: given.time_zone.clone(),
    };
    let mut inner = decode::invalid(v.finish());
    let mut outer = Vec::new();
    if req.expected_version < 0 {
        outer.push(Violation {
            field: "expected_version".into(),
            description: "must not be negative".into(),
        });
    }
    for found in decode::invalid(spec.clone().compile(&req.counter_id).map(drop)) {
        if found.field == "counter_id" {
            outer.push(found);
        } else {
            inner.push(found);
        }
    }
    outer.extend(decode::under("counter", inner));
    if outer.is_empty() {
        Ok(spec)
    } else {
        Err(DomainError::Invalid(outer))
    }
}

/// A calendar period, or the last `rolling_days` days: one of the two.
fn window(v: &mut Violations, given: &pb::Counter) -> Window {
    match (given.period, given.rolling_days) {
        (0, days) if days != 0 => Window::RollingDays(days),
        (period, 0) => {
            let period = decode::period(v, "period", period);
            Window::Period(period.unwrap_or(Period::Lifetime))
        }
        _ => {
            v.add("period", "give a period or rolling_days, not both");
            Window::RollingDays(given.rolling_days)
        }
    }
}

fn encode_counter(c: StoredCounter) -> pb::Counter {
    let (period, rolling_days) = match c.spec.window {
        Window::Period(p) => (encode::period(p) as i32, 0),
        Window::RollingDays(days) => (0, days),
    };
    pb::Counter {
        tenant_id: c.row.tenant_id,
        counter_id: c.row.counter_id,
        description: c.spec.description,
        event_types: c.spec.event_types,
        condition: c.spec.condition,
        sum_of: c.spec.sum_of,
        period,
        rolling_days,
        time_zone: c.spec.time_zone,
        version: c.row.version,
        update_time: Some(questline_kit::time::to_timestamp(c.row.updated_at)),
    }
}
