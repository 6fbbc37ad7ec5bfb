//! Webhook endpoints, secrets and the delivery log: admins only, each
//! within their own tenant (another tenant's ids are NOT_FOUND).

use questline_kit::audit::Change;
use questline_kit::auth::Caller;
use questline_kit::time::{now_ms, to_timestamp};
use questline_kit::{DomainError, Violations, paging};
use questline_proto::notifications as pb;
use questline_proto::notifications::notifications_service_server::SERVICE_NAME;
use tonic::{Request, Response};

use super::NotificationsApi;
use crate::domain::webhooks::endpoint::{self, check_grace};
use crate::domain::webhooks::signature::Secret;
use crate::flow::webhooks::types_of;
use crate::store::entities::{attempt, delivery, endpoint as endpoint_row};
use crate::store::webhooks::{DELIVERED, FAILED, PARKED, PENDING};

type Answer<T> = tonic::Result<Response<T>>;

pub(super) async fn put(
    api: &NotificationsApi,
    request: Request<pb::PutWebhookEndpointRequest>,
) -> Answer<pb::PutWebhookEndpointResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.into_inner();
    endpoint_ref(&req.tenant_id, &req.endpoint_id)?;
    let spec = endpoint::spec(
        &req.url,
        &req.description,
        &req.event_types,
        req.enabled,
        api.webhooks.allowed(),
    )?;
    caller.require_admin(&req.tenant_id)?;
    let secret = Secret::new(questline_kit::random_bytes()?);
    if req.expected_version < 0 {
        return Err(DomainError::invalid("expected_version", "must not be negative").into());
    }
    let expected = (req.expected_version > 0).then_some(req.expected_version);
    let change = change(
        &caller,
        &req.tenant_id,
        "PutWebhookEndpoint",
        &req.endpoint_id,
    )
    .with("url", spec.url.clone())
    .with("event_types", spec.event_types.clone())
    .with("enabled", spec.enabled);
    let row = api
        .store
        .put_endpoint(
            &req.tenant_id,
            &req.endpoint_id,
            &spec,
            expected,
            &secret,
            &change,
        )
        .await?;
    // Enabled again: what waited goes now.
    api.webhooks.wake();
    Ok(Response::new(pb::PutWebhookEndpointResponse {
        endpoint: Some(encode_endpoint(row)),
    }))
}

pub(super) async fn get(
    api: &NotificationsApi,
    request: Request<pb::GetWebhookEndpointRequest>,
) -> Answer<pb::GetWebhookEndpointResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    endpoint_ref(&req.tenant_id, &req.endpoint_id)?;
    caller.require_admin(&req.tenant_id)?;
    let row = api.store.endpoint(&req.tenant_id, &req.endpoint_id).await?;
    Ok(Response::new(pb::GetWebhookEndpointResponse {
        endpoint: Some(encode_endpoint(row)),
    }))
}

pub(super) async fn list(
    api: &NotificationsApi,
    request: Request<pb::ListWebhookEndpointsRequest>,
) -> Answer<pb::ListWebhookEndpointsResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    Violations::new().id("tenant_id", &req.tenant_id).finish()?;
    let page = paging::parse(req.page_size, &req.page_token)?;
    caller.require_admin(&req.tenant_id)?;
    let rows = api.store.endpoints(&req.tenant_id, &page).await?;
    let (rows, next_page_token) = page.finish(rows, |e| e.endpoint_id.as_str());
    Ok(Response::new(pb::ListWebhookEndpointsResponse {
        endpoints: rows.into_iter().map(encode_endpoint).collect(),
        next_page_token,
    }))
}

pub(super) async fn delete(
    api: &NotificationsApi,
    request: Request<pb::DeleteWebhookEndpointRequest>,
) -> Answer<pb::DeleteWebhookEndpointResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    endpoint_ref(&req.tenant_id, &req.endpoint_id)?;
    caller.require_admin(&req.tenant_id)?;
    let change = change(
        &caller,
        &req.tenant_id,
        "DeleteWebhookEndpoint",
        &req.endpoint_id,
    );
    let (tenant_id, endpoint_id) = (&req.tenant_id, &req.endpoint_id);
    api.store
        .delete_endpoint(tenant_id, endpoint_id, &change)
        .await?;
    Ok(Response::new(pb::DeleteWebhookEndpointResponse {}))
}

pub(super) async fn secret(
    api: &NotificationsApi,
    request: Request<pb::GetWebhookSecretRequest>,
) -> Answer<pb::GetWebhookSecretResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    endpoint_ref(&req.tenant_id, &req.endpoint_id)?;
    caller.require_admin(&req.tenant_id)?;
    let row = api.store.endpoint(&req.tenant_id, &req.endpoint_id).await?;
    let (secret, previous_secret, previous_expire_time) = secrets(row);
    Ok(Response::new(pb::GetWebhookSecretResponse {
        secret,
        previous_secret,
        previous_expire_time,
    }))
}

pub(super) async fn rotate(
    api: &NotificationsApi,
    request: Request<pb::RotateWebhookSecretRequest>,
) -> Answer<pb::RotateWebhookSecretResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    endpoint_ref(&req.tenant_id, &req.endpoint_id)?;
    check_grace(req.grace_seconds)?;
    Violations::new()
        .text("idempotency_key", &req.idempotency_key)
        .finish()?;
    caller.require_admin(&req.tenant_id)?;
    let fresh = Secret::new(questline_kit::random_bytes()?);
    let until = now_ms() + req.grace_seconds * 1000;
    let change = change(
        &caller,
        &req.tenant_id,
        "RotateWebhookSecret",
        &req.endpoint_id,
    )
    .with("grace_seconds", req.grace_seconds);
    let (tenant_id, endpoint_id, key) = (&req.tenant_id, &req.endpoint_id, &req.idempotency_key);
    let row = api
        .store
        .rotate_secret(tenant_id, endpoint_id, &fresh, until, key, &change)
        .await?;
    let (secret, previous_secret, previous_expire_time) = secrets(row);
    Ok(Response::new(pb::RotateWebhookSecretResponse {
        secret,
        previous_secret,
        previous_expire_time,
    }))
}

pub(super) async fn deliveries(
    api: &NotificationsApi,
    request: Request<pb::ListWebhookDeliveriesRequest>,
) -> Answer<pb::ListWebhookDeliveriesResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    let mut v = Violations::new();
    v.id("tenant_id", &req.tenant_id);
    if !req.endpoint_id.is_empty() {
        v.id("endpoint_id", &req.endpoint_id);
    }
    v.finish()?;
    let status = status_filter(req.status)?;
    let page = paging::parse(req.page_size, &req.page_token)?;
    caller.require_admin(&req.tenant_id)?;
    let rows = api
        .store
        .deliveries(&req.tenant_id, &req.endpoint_id, status, &page)
        .await?;
    let (rows, next_page_token) = page.finish(rows, |d| d.delivery_id.as_str());
    Ok(Response::new(pb::ListWebhookDeliveriesResponse {
        deliveries: rows.into_iter().map(encode_delivery).collect(),
        next_page_token,
    }))
}

pub(super) async fn delivery(
    api: &NotificationsApi,
    request: Request<pb::GetWebhookDeliveryRequest>,
) -> Answer<pb::GetWebhookDeliveryResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    delivery_ref(&req.tenant_id, &req.delivery_id)?;
    caller.require_admin(&req.tenant_id)?;
    let (found, attempts) = api.store.delivery(&req.tenant_id, &req.delivery_id).await?;
    Ok(Response::new(pb::GetWebhookDeliveryResponse {
        delivery: Some(encode_delivery(found)),
        attempts: attempts.into_iter().map(encode_attempt).collect(),
    }))
}

pub(super) async fn redeliver(
    api: &NotificationsApi,
    request: Request<pb::RedeliverWebhookRequest>,
) -> Answer<pb::RedeliverWebhookResponse> {
    let caller = api.auth.caller(&request).await?;
    let req = request.get_ref();
    delivery_ref(&req.tenant_id, &req.delivery_id)?;
    caller.require_admin(&req.tenant_id)?;
    let (found, _) = api.store.delivery(&req.tenant_id, &req.delivery_id).await?;
    let endpoint = api
        .store
        .endpoint(&req.tenant_id, &found.endpoint_id)
        .await?;
    if !endpoint.enabled {
        return Err(DomainError::FailedPrecondition {
            kind: "ENDPOINT_DISABLED",
            subject: format!("webhook-endpoints/{}", endpoint.endpoint_id),
            message: "the delivery's endpoint is disabled; enable it first".into(),
        }
        .into());
    }
    let resource = format!("webhook-deliveries/{}", req.delivery_id);
    let change = Change::by(
        &caller,
        &req.tenant_id,
        SERVICE_NAME,
        "RedeliverWebhook",
        resource,
    );
    let found = api.store.redeliver(found, &change).await?;
    api.webhooks.wake();
    Ok(Response::new(pb::RedeliverWebhookResponse {
        delivery: Some(encode_delivery(found)),
    }))
}

/// The audit entry of an admin's change to an endpoint (never its secret).
fn change(caller: &Caller, tenant_id: &str, method: &str, endpoint_id: &str) -> Change {
    let resource = format!("webhook-endpoints/{endpoint_id}");
    Change::by(caller, tenant_id, SERVICE_NAME, method, resource)
}

fn endpoint_ref(tenant_id: &str, endpoint_id: &str) -> Result<(), DomainError> {
    Violations::new()
        .id("tenant_id", tenant_id)
        .id("endpoint_id", endpoint_id)
        .finish()
}

fn delivery_ref(tenant_id: &str, delivery_id: &str) -> Result<(), DomainError> {
    Violations::new()
        .id("tenant_id", tenant_id)
        .id("delivery_id", delivery_id)
        .finish()
}

fn status_filter(status: i32) -> Result<Option<&'static str>, DomainError> {
    use pb::WebhookDeliveryStatus as S;
    match S::try_from(status) {
        Ok(S::Unspecified) => Ok(None),
        Ok(S::Pending) => Ok(Some(PENDING)),
        Ok(S::Delivered) => Ok(Some(DELIVERED)),
        Ok(S::Failed) => Ok(Some(FAILED)),
        Err(_) => Err(DomainError::invalid("status", "is not a delivery status")),
    }
}

fn secrets(row: endpoint_row::Model) -> (String, String, Option<prost_types::Timestamp>) {
    match row.previous_secret_at(now_ms()) {
        Some(previous) => {
            let until = Some(to_timestamp(row.previous_expires_at));
            (row.secret.clone(), previous.to_string(), until)
        }
        None => (row.secret, String::new(), None),
    }
}

fn encode_endpoint(row: endpoint_row::Model) -> pb::WebhookEndpoint {
    pb::WebhookEndpoint {
        event_types: types_of(&row).unwrap_or_default(),
        tenant_id: row.tenant_id,
        endpoint_id: row.endpoint_id,
        url: row.url,
        description: row.description,
        enabled: row.enabled,
        disabled_reason: row.disabled_reason,
        version: row.version,
        create_time: Some(to_timestamp(row.created_at)),
        update_time: Some(to_timestamp(row.updated_at)),
    }
}

fn encode_delivery(row: delivery::Model) -> pb::WebhookDelivery {
    use pb::WebhookDeliveryStatus as S;
    let status = match row.status.as_str() {
        PENDING => S::Pending,
        DELIVERED => S::Delivered,
        FAILED => S::Failed,
        _ => S::Unspecified,
    };
    // A parked delivery (its endpoint disabled) has no next attempt.
    let next = (row.status == PENDING && row.next_attempt_at != PARKED)
        .then(|| to_timestamp(row.next_attempt_at));
    pb::WebhookDelivery {
        tenant_id: row.tenant_id,
        delivery_id: row.delivery_id,
        endpoint_id: row.endpoint_id,
        event_id: row.event_id,
        event_type: row.event_type,
        status: status as i32,
        attempts: row.attempts,
        last_status_code: row.last_status_code,
        last_error: row.last_error,
        next_attempt_time: next,
        create_time: Some(to_timestamp(row.created_at)),
        payload: row.payload,
    }
}

fn encode_attempt(row: attempt::Model) -> pb::WebhookAttempt {
    pb::WebhookAttempt {
        attempt: row.attempt,
        attempt_time: Some(to_timestamp(row.at)),
        status_code: row.status_code,
        latency_ms: row.latency_ms,
        error: row.error,
    }
}
