//! `/v1/me/...`: a member app's own resources, without knowing its member
//! id. The path becomes `/v1/members/<the token's member>/...` before
//! routing, so `/v1/me` is every member route, answered the same way; the
//! services still check the token on every call.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::AUTHORIZATION;
use http::uri::{PathAndQuery, Uri};
use http::{HeaderMap, StatusCode};
use questline_kit::auth::Scope;
use serde_json::Value;
use std::sync::Arc;

use crate::credentials::{Credentials, TokenCache};
use crate::problem::Problem;

const ME: &str = "/v1/me";

/// The member routes a member app reaches as `/v1/me...` too.
const MIRRORED: [&str; 11] = [
    "/v1/members/{member_id}",
    "/v1/members/{member_id}/consent",
    "/v1/members/{member_id}/balances",
    "/v1/members/{member_id}/history",
    "/v1/members/{member_id}/inbox",
    "/v1/members/{member_id}/inbox/stream",
    "/v1/members/{member_id}/inbox/summary",
    "/v1/members/{member_id}/inbox/read",
    "/v1/members/{member_id}/inbox/{message_id}",
    "/v1/members/{member_id}/message-preferences",
    "/v1/members/{member_id}/dispatches",
];

pub(super) async fn rewrite(
    State(tokens): State<Arc<TokenCache>>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let Some(rest) = path
        .strip_prefix(ME)
        .filter(|r| r.is_empty() || r.starts_with('/'))
    else {
        return next.run(request).await;
    };
    let rest = rest.to_string();
    let headers = request.headers().clone();
    let (credentials, member_id) = match member_of(&tokens, &headers).await {
        Ok(found) => found,
        Err(problem) => return problem.into_response(),
    };
    request.extensions_mut().insert(credentials);
    let query = request
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let rewritten = format!("/v1/members/{member_id}{rest}{query}");
    match rewritten.parse::<PathAndQuery>() {
        Ok(path) => {
            let mut parts = request.uri().clone().into_parts();
            parts.path_and_query = Some(path);
            if let Ok(uri) = Uri::from_parts(parts) {
                *request.uri_mut() = uri;
            }
            next.run(request).await
        }
        Err(_) => Problem::new(StatusCode::NOT_FOUND, "no such endpoint").into_response(),
    }
}

/// The member a member token was issued for, with the resolved
/// credentials; any other credential has no `/v1/me`.
async fn member_of(
    tokens: &TokenCache,
    headers: &HeaderMap,
) -> Result<(Credentials, String), Problem> {
    if !headers.contains_key(AUTHORIZATION) {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "/v1/me takes a member token: Authorization: Bearer <token>",
        ));
    }
    let (credentials, claims) = tokens.caller(headers).await?;
    let member_only = claims.scopes == [Scope::Member];
    if !member_only {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "/v1/me is for member tokens; a client names the member: /v1/members/{member_id}",
        ));
    }
    Ok((credentials, claims.sub))
}

/// Adds a `/v1/me...` twin of every mirrored member operation to `document`.
pub(super) fn describe(document: &mut Value) {
    for path in MIRRORED {
        let Some(item) = document["paths"].get(path).cloned() else {
            continue;
        };
        let mut item = item;
        if let Some(operations) = item.as_object_mut() {
            for operation in operations.values_mut() {
                twin(operation);
            }
        }
        let mine = path.replacen("/v1/members/{member_id}", ME, 1);
        document["paths"][mine] = item;
    }
}

/// The operation as a member app calls it: no member id, a member token.
fn twin(operation: &mut Value) {
    if let Some(id) = operation["operationId"].as_str() {
        operation["operationId"] = Value::String(format!("my{}", capitalised(id)));
    }
    if let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    {
        parameters.retain(|p| p["name"] != "member_id");
    }
    operation["security"] = serde_json::json!([{"bearer": []}]);
    let summary = operation["summary"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    operation["summary"] = Value::String(format!("{summary} (the member token's own)"));
}

fn capitalised(id: &str) -> String {
    let mut chars = id.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}
