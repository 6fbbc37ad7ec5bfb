//! The REST endpoints: decode JSON, resolve credentials, call one service over
//! gRPC as the partner, answer JSON — or a problem.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRef, MatchedPath, Path, Query, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{HeaderMap, StatusCode};
use prost_types::value::Kind;
use prost_types::{ListValue, Timestamp};
use questline_kit::client::Outgoing;
use questline_proto::ledger::GetBalancesRequest;
use questline_proto::ledger::ledger_service_client::LedgerServiceClient;
use questline_proto::mechanics::TrackRequest;
use questline_proto::mechanics::mechanics_service_client::MechanicsServiceClient;
use questline_proto::notifications::ListInboxRequest;
use questline_proto::notifications::notifications_service_client::NotificationsServiceClient;
use questline_proto::rewards::rewards_service_client::RewardsServiceClient;
use questline_proto::rewards::{RedeemRequest, RedemptionStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;
use tonic::transport::Channel;
use tracing::Instrument;

use crate::SERVICE;
use crate::credentials::{Credentials, TokenCache};
use crate::problem::Problem;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// What every handler shares: the token cache and one channel per service,
/// created once at start and reused by every request.
#[derive(Clone)]
pub struct Gateway {
    pub tokens: Arc<TokenCache>,
    pub ledger: Channel,
    pub mechanics: Channel,
    pub rewards: Channel,
    pub notifications: Channel,
}

impl FromRef<Gateway> for Arc<TokenCache> {
    fn from_ref(gateway: &Gateway) -> Arc<TokenCache> {
        gateway.tokens.clone()
    }
}

pub fn router(gateway: Gateway) -> Router {
    Router::new()
        .route("/v1/events", post(track))
        .route("/v1/members/{member_id}/balances", get(balances))
        .route("/v1/redemptions", post(redeem))
        .route("/v1/members/{member_id}/inbox", get(inbox))
        // Only API routes get a span: health probes would drown the traces.
        .route_layer(middleware::from_fn(traced))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(gateway)
}

/// A server span per request, joined to the caller's trace; the services'
/// spans become its children through the `traceparent` every call carries.
/// Also times the request for `http_server_request_duration_seconds`.
async fn traced(request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "http",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        questline.service = SERVICE,
    );
    questline_kit::telemetry::adopt_headers(&span, request.headers());
    let response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    if response.status().is_server_error() {
        span.record("otel.status_code", "error");
    }
    metrics::histogram!(
        questline_kit::meter::HTTP_DURATION,
        "http_request_method" => method_label(&method),
        "http_route" => route,
        "http_response_status_code" => response.status().as_u16().to_string(),
        "questline_service" => SERVICE,
    )
    .record(started.elapsed().as_secs_f64());
    response
}

/// A method as a bounded label: anything unusual is `_OTHER`, as
/// OpenTelemetry's HTTP conventions say.
fn method_label(method: &http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "_OTHER",
    }
}

async fn healthz() -> Json<Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "no such endpoint")
}

#[derive(Debug, Deserialize)]
struct TrackBody {
    event_id: Option<String>,
    member_id: String,
    #[serde(rename = "type")]
    event_type: String,
    occurred_at: Option<String>,
    attributes: Option<Map<String, Value>>,
}

#[derive(Debug, Serialize)]
struct Tracked {
    event_id: String,
    awards: Vec<Award>,
}

#[derive(Debug, Serialize)]
struct Award {
    rule_id: String,
    currency: String,
    points: i64,
    transfer_id: String,
}

/// Where mechanics names a field after its protobuf request, not our JSON.
const TRACK_FIELDS: &[(&str, &str)] = &[("event_type", "type"), ("occur_time", "occurred_at")];

/// `POST /v1/events`: a customer action, evaluated by the rules.
async fn track(
    State(gateway): State<Gateway>,
    partner: Credentials,
    headers: HeaderMap,
    body: Result<Json<TrackBody>, JsonRejection>,
) -> Result<Json<Tracked>, Problem> {
    let Json(body) = body?;
    let event_id = client_id("event_id", body.event_id, &headers)?;
    let occur_time = body.occurred_at.as_deref().map(rfc3339).transpose()?;
    let mut mechanics = MechanicsServiceClient::with_interceptor(
        gateway.mechanics.clone(),
        Outgoing::bearer(&partner.token),
    );
    let tracked = mechanics
        .track(TrackRequest {
            tenant_id: partner.tenant_id,
            event_id,
            member_id: body.member_id,
            event_type: body.event_type,
            occur_time,
            attributes: body.attributes.map(to_struct),
        })
        .await
        .map_err(|status| Problem::from(status).renamed(TRACK_FIELDS))?
        .into_inner();
    Ok(Json(Tracked {
        event_id: tracked.event_id,
        awards: tracked
            .awards
            .into_iter()
            .map(|a| Award {
                rule_id: a.rule_id,
                currency: a.currency,
                points: a.points,
                transfer_id: a.transfer_id,
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize)]
struct Balances {
    member_id: String,
    balances: Vec<Balance>,
}

#[derive(Debug, Serialize)]
struct Balance {
    currency: String,
    total: i64,
    held: i64,
    available: i64,
    /// With `?expiring_within_days=N`: of the total, points that expire
    /// before `expiring_before` (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    expiring: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiring_before: Option<String>,
}

#[derive(Debug, Deserialize)]
struct BalancesQuery {
    /// 1 to 3660; the ledger checks the range.
    expiring_within_days: Option<i32>,
}

/// `GET /v1/members/{member_id}/balances[?expiring_within_days=N]`: every
/// wallet of a member, and what expires soon when asked.
async fn balances(
    State(gateway): State<Gateway>,
    partner: Credentials,
    member_id: Result<Path<String>, PathRejection>,
    query: Result<Query<BalancesQuery>, QueryRejection>,
) -> Result<Json<Balances>, Problem> {
    let Path(member_id) = member_id?;
    let Query(query) = query?;
    let asked = query.expiring_within_days.is_some();
    let mut ledger = LedgerServiceClient::with_interceptor(
        gateway.ledger.clone(),
        Outgoing::bearer(&partner.token),
    );
    let found = ledger
        .get_balances(GetBalancesRequest {
            tenant_id: partner.tenant_id,
            member_id: member_id.clone(),
            expiring_within_days: query.expiring_within_days.unwrap_or_default(),
        })
        .await?
        .into_inner();
    Ok(Json(Balances {
        member_id,
        balances: found
            .balances
            .into_iter()
            .map(|b| Balance {
                currency: b.currency,
                total: b.total,
                held: b.held,
                available: b.available,
                expiring: asked.then_some(b.expiring),
                expiring_before: b.expiring_before.filter(|_| asked).map(|t| t.to_string()),
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize)]
struct RedeemBody {
    redemption_id: Option<String>,
    member_id: String,
    reward_id: String,
}

#[derive(Debug, Serialize)]
struct Redeemed {
    redemption_id: String,
    status: &'static str,
    voucher_code: String,
    reward_id: String,
    currency: String,
    price: i64,
}

/// `POST /v1/redemptions`: a member spends points on a reward.
async fn redeem(
    State(gateway): State<Gateway>,
    partner: Credentials,
    headers: HeaderMap,
    body: Result<Json<RedeemBody>, JsonRejection>,
) -> Result<Json<Redeemed>, Problem> {
    let Json(body) = body?;
    let redemption_id = client_id("redemption_id", body.redemption_id, &headers)?;
    let mut rewards = RewardsServiceClient::with_interceptor(
        gateway.rewards.clone(),
        Outgoing::bearer(&partner.token),
    );
    let redemption = rewards
        .redeem(RedeemRequest {
            tenant_id: partner.tenant_id,
            redemption_id,
            member_id: body.member_id,
            reward_id: body.reward_id,
        })
        .await?
        .into_inner()
        .redemption
        .ok_or_else(|| {
            tracing::error!("rewards answered Redeem without a redemption");
            Problem::internal()
        })?;
    Ok(Json(Redeemed {
        status: redemption_status(redemption.status),
        redemption_id: redemption.redemption_id,
        voucher_code: redemption.voucher_code,
        reward_id: redemption.reward_id,
        currency: redemption.currency,
        price: redemption.price,
    }))
}

fn redemption_status(status: i32) -> &'static str {
    match RedemptionStatus::try_from(status) {
        Ok(RedemptionStatus::Pending) => "pending",
        Ok(RedemptionStatus::Completed) => "completed",
        Ok(RedemptionStatus::Failed) => "failed",
        Ok(RedemptionStatus::Unspecified) | Err(_) => "unspecified",
    }
}

#[derive(Debug, Deserialize)]
struct InboxQuery {
    page_size: Option<i32>,
    page_token: Option<String>,
}

#[derive(Debug, Serialize)]
struct Inbox {
    messages: Vec<InboxMessage>,
    next_page_token: String,
}

#[derive(Debug, Serialize)]
struct InboxMessage {
    message_id: String,
    event_type: String,
    title: String,
    body: String,
    /// RFC 3339.
    created_at: Option<String>,
}

/// `GET /v1/members/{member_id}/inbox`: a member's messages, newest first.
async fn inbox(
    State(gateway): State<Gateway>,
    partner: Credentials,
    member_id: Result<Path<String>, PathRejection>,
    query: Result<Query<InboxQuery>, QueryRejection>,
) -> Result<Json<Inbox>, Problem> {
    let Path(member_id) = member_id?;
    let Query(query) = query?;
    let mut notifications = NotificationsServiceClient::with_interceptor(
        gateway.notifications.clone(),
        Outgoing::bearer(&partner.token),
    );
    let page = notifications
        .list_inbox(ListInboxRequest {
            tenant_id: partner.tenant_id,
            member_id,
            page_size: query.page_size.unwrap_or_default(),
            page_token: query.page_token.unwrap_or_default(),
        })
        .await?
        .into_inner();
    Ok(Json(Inbox {
        messages: page
            .messages
            .into_iter()
            .map(|m| InboxMessage {
                message_id: m.message_id,
                event_type: m.event_type,
                title: m.title,
                body: m.body,
                created_at: m.create_time.map(|t| t.to_string()),
            })
            .collect(),
        next_page_token: page.next_page_token,
    }))
}

/// The client-chosen id of a write: the body's `field`, or the
/// `Idempotency-Key` header when the body has none. Both, differing, is refused.
fn client_id(field: &str, in_body: Option<String>, headers: &HeaderMap) -> Result<String, Problem> {
    let header = headers
        .get(IDEMPOTENCY_KEY)
        .map(|v| {
            v.to_str()
                .map(str::trim)
                .map_err(|_| Problem::invalid("Idempotency-Key", "must be visible ASCII"))
        })
        .transpose()?
        .filter(|key| !key.is_empty());
    match (in_body.filter(|id| !id.is_empty()), header) {
        (Some(id), Some(key)) if id != key => Err(Problem::invalid(
            "Idempotency-Key",
            format!("differs from {field} in the body"),
        )),
        (Some(id), _) => Ok(id),
        (None, Some(key)) => Ok(key.to_string()),
        (None, None) => Err(Problem::invalid(
            field,
            "is required, in the body or as the Idempotency-Key header",
        )),
    }
}

fn rfc3339(text: &str) -> Result<Timestamp, Problem> {
    text.parse().map_err(|_| {
        Problem::invalid(
            "occurred_at",
            "must be an RFC 3339 time, e.g. 2025-05-03T09:30:00Z",
        )
    })
}

/// JSON attributes as a protobuf `Struct`. Protobuf has one number type, so
/// every number becomes an `f64`: integers beyond 2^53 lose precision.
pub fn to_struct(object: Map<String, Value>) -> prost_types::Struct {
    prost_types::Struct {
        fields: object.into_iter().map(|(k, v)| (k, to_value(v))).collect(),
    }
}

fn to_value(value: Value) -> prost_types::Value {
    let kind = match value {
        Value::Null => Kind::NullValue(prost_types::NullValue::NullValue.into()),
        Value::Bool(b) => Kind::BoolValue(b),
        // Every JSON number has an f64 form (serde_json without arbitrary precision).
        Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
        Value::String(s) => Kind::StringValue(s),
        Value::Array(items) => Kind::ListValue(ListValue {
            values: items.into_iter().map(to_value).collect(),
        }),
        Value::Object(object) => Kind::StructValue(to_struct(object)),
    };
    prost_types::Value { kind: Some(kind) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::CONTENT_TYPE_PROBLEM;
    use crate::test_support::headers;
    use axum::body::Body;
    use http::header::CONTENT_TYPE;
    use serde_json::json;
    use tower::ServiceExt;

    #[test]
    fn the_idempotency_key_stands_in_for_a_missing_id() {
        let key = headers(&[("idempotency-key", "k-1")]);
        assert_eq!(client_id("event_id", None, &key).unwrap(), "k-1");
        assert_eq!(
            client_id("event_id", Some(String::new()), &key).unwrap(),
            "k-1"
        );
        assert_eq!(
            client_id("event_id", Some("k-1".into()), &key).unwrap(),
            "k-1"
        );
        assert_eq!(
            client_id("event_id", Some("e-9".into()), &HeaderMap::new()).unwrap(),
            "e-9"
        );
    }

    #[test]
    fn a_differing_or_missing_id_is_a_bad_request() {
        let key = headers(&[("idempotency-key", "k-1")]);
        let differs = client_id("event_id", Some("e-9".into()), &key).unwrap_err();
        assert_eq!(differs.status, StatusCode::BAD_REQUEST);
        assert_eq!(differs.errors[0].field, "Idempotency-Key");
        let missing = client_id("redemption_id", None, &HeaderMap::new()).unwrap_err();
        assert_eq!(missing.errors[0].field, "redemption_id");
    }

    #[test]
    fn json_attributes_become_a_struct() {
        let Value::Object(object) = json!({
            "amount": 42,
            "ratio": 0.5,
            "store": "paris-01",
            "first": true,
            "coupon": null,
            "items": [1, "two", {"sku": "A1"}],
        }) else {
            panic!("an object")
        };
        let fields = to_struct(object).fields;
        let kind = |name: &str| fields[name].kind.clone().unwrap();
        assert_eq!(kind("amount"), Kind::NumberValue(42.0));
        assert_eq!(kind("ratio"), Kind::NumberValue(0.5));
        assert_eq!(kind("store"), Kind::StringValue("paris-01".into()));
        assert_eq!(kind("first"), Kind::BoolValue(true));
        assert_eq!(kind("coupon"), Kind::NullValue(0));
        let Kind::ListValue(items) = kind("items") else {
            panic!("a list")
        };
        assert_eq!(items.values[0].kind, Some(Kind::NumberValue(1.0)));
        let Some(Kind::StructValue(nested)) = &items.values[2].kind else {
            panic!("a struct")
        };
        assert_eq!(
            nested.fields["sku"].kind,
            Some(Kind::StringValue("A1".into()))
        );
    }

    #[test]
    fn occurred_at_must_be_rfc3339() {
        assert_eq!(
            rfc3339("2025-05-03T09:30:00+02:00").unwrap().seconds,
            1_746_257_400
        );
        assert_eq!(
            rfc3339("saturday").unwrap_err().errors[0].field,
            "occurred_at"
        );
    }

    /// A gateway whose services are never reached: every request here fails first.
    fn app() -> Router {
        let nowhere = || questline_kit::client::channel("http://127.0.0.1:9").unwrap();
        router(Gateway {
            tokens: Arc::new(TokenCache::new(nowhere())),
            ledger: nowhere(),
            mechanics: nowhere(),
            rewards: nowhere(),
            notifications: nowhere(),
        })
    }

    fn post_event() -> http::request::Builder {
        Request::post("/v1/events")
            .header("authorization", "Bearer eyJ.a.b")
            .header("x-tenant-id", "acme")
            .header(CONTENT_TYPE, "application/json")
    }

    async fn send(request: http::Request<Body>) -> (StatusCode, HeaderMap, Value) {
        let response = app().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, headers, serde_json::from_slice(&bytes).unwrap())
    }

    async fn problem(request: http::Request<Body>) -> (StatusCode, Value) {
        let (status, headers, body) = send(request).await;
        assert_eq!(headers[CONTENT_TYPE], CONTENT_TYPE_PROBLEM);
        assert_eq!(body["status"], status.as_u16());
        (status, body)
    }

    #[tokio::test]
    async fn health_answers_ok() {
        let (status, _, body) = send(Request::get("/healthz").body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({ "status": "ok" }));
    }

    #[tokio::test]
    async fn bad_json_is_a_problem_not_plain_text() {
        let malformed = post_event().body(Body::from("{\"member_id\":")).unwrap();
        assert_eq!(problem(malformed).await.0, StatusCode::BAD_REQUEST);
        let wrong_type = post_event()
            .body(Body::from(r#"{"member_id": 5, "type": "purchase"}"#))
            .unwrap();
        assert_eq!(problem(wrong_type).await.0, StatusCode::BAD_REQUEST);
        let not_an_object = post_event()
            .body(Body::from(
                r#"{"event_id": "e1", "member_id": "m1", "type": "purchase", "attributes": [1]}"#,
            ))
            .unwrap();
        assert_eq!(problem(not_an_object).await.0, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn an_idempotency_key_that_contradicts_the_body_is_refused() {
        let request = post_event()
            .header("idempotency-key", "k-1")
            .body(Body::from(
                r#"{"event_id": "e-9", "member_id": "m1", "type": "purchase"}"#,
            ))
            .unwrap();
        let (status, body) = problem(request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["errors"][0]["field"], "Idempotency-Key");
    }

    #[tokio::test]
    async fn bodies_over_a_mebibyte_are_refused() {
        let big = format!(
            r#"{{"member_id": "m1", "type": "purchase", "attributes": {{"x": "{}"}}}}"#,
            "a".repeat(MAX_BODY_BYTES)
        );
        let request = post_event().body(Body::from(big)).unwrap();
        assert_eq!(problem(request).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn no_credentials_no_entry() {
        let request = Request::get("/v1/members/m1/balances")
            .body(Body::empty())
            .unwrap();
        assert_eq!(problem(request).await.0, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn bad_query_parameters_and_an_unknown_path_are_problems() {
        for uri in [
            "/v1/members/m1/inbox?page_size=many",
            "/v1/members/m1/balances?expiring_within_days=soon",
            "/v1/members/m1/balances?expiring_within_days=99999999999",
        ] {
            let request = Request::get(uri)
                .header("authorization", "Bearer eyJ.a.b")
                .header("x-tenant-id", "acme")
                .body(Body::empty())
                .unwrap();
            assert_eq!(problem(request).await.0, StatusCode::BAD_REQUEST, "{uri}");
        }
        let unknown = Request::get("/v1/nothing").body(Body::empty()).unwrap();
        assert_eq!(problem(unknown).await.0, StatusCode::NOT_FOUND);
    }
}
