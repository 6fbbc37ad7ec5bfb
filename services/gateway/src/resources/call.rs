//! One handler for every resource: JSON, path and query in; one RPC; JSON out.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use axum::{Json, Router};
use http::header::{CONTENT_TYPE, LOCATION};
use http::uri::PathAndQuery;
use http::{HeaderMap, HeaderValue, StatusCode};
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor};
use questline_kit::client::{Channel, Outgoing};
use serde_json::{Map, Value};
use std::collections::HashMap;
use tonic::service::interceptor::InterceptedService;

use super::messages::{self, DynamicCodec};
use super::rules;
use super::{RESOURCES, Resource, Verb, fill};
use crate::credentials::Credentials;
use crate::problem::Problem;
use crate::routes::Gateway;

/// `api` with every resource of the table added.
pub fn router(mut api: Router<Gateway>) -> Router<Gateway> {
    for resource in RESOURCES {
        let handler = move |State(gateway): State<Gateway>,
                            credentials: Credentials,
                            path: Result<Path<HashMap<String, String>>, PathRejection>,
                            RawQuery(query): RawQuery,
                            headers: HeaderMap,
                            body: Result<Bytes, BytesRejection>| async move {
            let Path(path) = path?;
            let body = body?;
            let parts = Parts {
                path,
                query,
                headers,
                body,
            };
            serve(resource, &gateway, &credentials, parts).await
        };
        api = api.route(resource.path, on(filter(resource.verb), handler));
    }
    api
}

fn filter(verb: Verb) -> MethodFilter {
    match verb {
        Verb::Get => MethodFilter::GET,
        Verb::Post => MethodFilter::POST,
        Verb::Put => MethodFilter::PUT,
        Verb::Patch => MethodFilter::PATCH,
        Verb::Delete => MethodFilter::DELETE,
    }
}

/// What the HTTP request brought.
struct Parts {
    path: HashMap<String, String>,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
}

async fn serve(
    resource: &'static Resource,
    gateway: &Gateway,
    credentials: &Credentials,
    parts: Parts,
) -> Result<Response, Problem> {
    let method = messages::method(resource.rpc).ok_or_else(|| {
        tracing::error!(rpc = resource.rpc, "a resource names an unknown RPC");
        Problem::internal()
    })?;
    let request = request(resource, &method.input(), credentials, &parts)?;
    let message = messages::from_json(method.input(), Value::Object(request)).map_err(|why| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            format!("the request does not fit: {why}"),
        )
    })?;
    let answer = unary(
        gateway.channel_for(resource.rpc),
        &credentials.token,
        &method,
        message,
    )
    .await?;
    let mut json = messages::to_json(&answer).map_err(|why| {
        tracing::error!(%why, "answer not written as JSON");
        Problem::internal()
    })?;
    if let Some(field) = resource.answer {
        json = json[field].take();
    }
    Ok(respond(resource, json))
}

/// The RPC's request as JSON: the body (or query), the path's fields, the tenant.
fn request(
    resource: &Resource,
    input: &MessageDescriptor,
    credentials: &Credentials,
    parts: &Parts,
) -> Result<Map<String, Value>, Problem> {
    let bound = resource.bound_fields();
    let mut request = if resource.verb.has_body() {
        body(resource, &bound, parts)?
    } else {
        query(resource, input, parts.query.as_deref())?
    };
    let value = |name: &str| parts.path.get(name).cloned();
    for (field, template) in resource.bind {
        let filled = fill(template, &value).ok_or_else(Problem::internal)?;
        request.insert((*field).to_string(), Value::String(filled));
    }
    for name in resource.path_parameters() {
        if !value(name).is_some_and(|v| rules::path_allows(name, &v)) {
            return Err(Problem::invalid(name, "is not allowed in a path here"));
        }
        if let (Some(field), Some(text)) = (input.get_field_by_name(name), value(name)) {
            request.insert(name.to_string(), typed(&field, &text)?);
        }
    }
    if input.get_field_by_name("tenant_id").is_some() {
        request.insert(
            "tenant_id".into(),
            Value::String(credentials.tenant_id.clone()),
        );
    }
    Ok(request)
}

fn body(resource: &Resource, bound: &[&str], parts: &Parts) -> Result<Map<String, Value>, Problem> {
    let json_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim)
        .is_some_and(|t| t == "application/json" || t.ends_with("+json"));
    if !json_type {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the body as Content-Type: application/json",
        ));
    }
    let json: Value = serde_json::from_slice(&parts.body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not JSON: {e}"),
        )
    })?;
    if let Some(path) = null_at(&json, "") {
        return Err(Problem::invalid(
            &path,
            "must not be null: leave the field out instead",
        ));
    }
    if let Some(field) = resource.body {
        return Ok(Map::from_iter([(field.to_string(), json)]));
    }
    let Value::Object(fields) = json else {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object",
        ));
    };
    if let Some(taken) = fields
        .keys()
        .find(|k| *k == "tenant_id" || bound.contains(&k.as_str()))
    {
        return Err(Problem::invalid(
            taken,
            "comes from the credentials or the path, not the body",
        ));
    }
    Ok(fields)
}

/// Where `json` holds a `null`, if anywhere: protobuf would read it as the
/// default, which the document does not promise.
fn null_at(json: &Value, at: &str) -> Option<String> {
    match json {
        Value::Null => Some(at.trim_start_matches('.').to_string()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| null_at(item, &format!("{at}[{i}]"))),
        Value::Object(fields) => fields
            .iter()
            .find_map(|(name, value)| null_at(value, &format!("{at}.{name}"))),
        _ => None,
    }
}

/// The query's parameters that are query fields of the request; any other
/// parameter is ignored.
fn query(
    resource: &Resource,
    input: &MessageDescriptor,
    query: Option<&str>,
) -> Result<Map<String, Value>, Problem> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|e| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                format!("the query is malformed: {e}"),
            )
        })?;
    let fields = resource.query_fields(input);
    let mut request = Map::new();
    for (name, text) in pairs {
        if let Some(field) = fields.iter().find(|f| f.name() == name) {
            request.insert(name, typed(field, &text)?);
        }
    }
    Ok(request)
}

/// A path or query text as the JSON value its field takes.
fn typed(field: &FieldDescriptor, text: &str) -> Result<Value, Problem> {
    let number = || {
        text.parse::<i64>()
            .map(Value::from)
            .map_err(|_| Problem::invalid(field.name(), "must be an integer"))
    };
    match field.kind() {
        Kind::Int32
        | Kind::Int64
        | Kind::Sint32
        | Kind::Sint64
        | Kind::Uint32
        | Kind::Uint64
        | Kind::Fixed32
        | Kind::Fixed64
        | Kind::Sfixed32
        | Kind::Sfixed64 => number(),
        Kind::Bool => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(Problem::invalid(field.name(), "must be true or false")),
        },
        Kind::Double | Kind::Float => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| Problem::invalid(field.name(), "must be a number")),
        _ => Ok(Value::String(text.to_string())),
    }
}

/// Calls the RPC; of a server-streaming one (a backtest's progress, then its
/// report), the answer is the last message.
async fn unary(
    channel: Channel,
    token: &str,
    method: &MethodDescriptor,
    message: DynamicMessage,
) -> Result<DynamicMessage, Problem> {
    let mut grpc =
        tonic::client::Grpc::new(InterceptedService::new(channel, Outgoing::bearer(token)));
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
    let path = PathAndQuery::try_from(path).map_err(|_| Problem::internal())?;
    let codec = DynamicCodec {
        answer: method.output(),
    };
    if !method.is_server_streaming() {
        let answer = grpc
            .unary(tonic::Request::new(message), path, codec)
            .await?;
        return Ok(answer.into_inner());
    }
    let mut stream = grpc
        .server_streaming(tonic::Request::new(message), path, codec)
        .await?
        .into_inner();
    let mut last = None;
    while let Some(message) = stream.message().await? {
        last = Some(message);
    }
    last.ok_or_else(|| {
        tracing::error!(rpc = %method.full_name(), "a stream ended without an answer");
        Problem::internal()
    })
}

fn respond(resource: &Resource, json: Value) -> Response {
    match resource.status {
        204 => StatusCode::NO_CONTENT.into_response(),
        201 => {
            let mut response = (StatusCode::CREATED, Json(&json)).into_response();
            let location = resource.read.as_ref().and_then(|read| {
                let value = |name: &str| {
                    let pointer = read.parameters.iter().find(|(p, _)| *p == name)?.1;
                    json.pointer(pointer)?.as_str().map(str::to_string)
                };
                fill(read.path, &value)
            });
            if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
                response.headers_mut().insert(LOCATION, location);
            }
            response
        }
        _ => Json(json).into_response(),
    }
}
