//! The OpenAPI 3.1 document of the partner API, generated from the handlers
//! themselves (each carries its `#[utoipa::path]`), so a route cannot exist
//! without its description. Served at `/openapi.json`, rendered at `/docs`
//! from assets compiled into the binary.

use serde_json::{Value, json};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::problem::{FieldError, Problem};

/// The media type of every error answer (RFC 9457).
pub const PROBLEM: &str = "application/problem+json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Questline partner API",
        description = "REST/JSON for partner apps — a brand's mobile app, web shop or point of sale — \
in front of Questline's gRPC services. Authenticate with `X-Api-Key` (a server client's key) or \
`Authorization: Bearer` (a client or member token). Every error is `application/problem+json` \
(RFC 9457) with an `errors` list naming each invalid field. Every POST takes an \
`Idempotency-Key` (IETF httpapi draft): the same key and body again replays the first answer with \
`Idempotent-Replayed: true`, another body under the key is 422, a retry while the first runs is \
409. Keys belong to the API client that sent them and are kept 24 hours.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&Credentials),
    security(("api_key" = []), ("bearer" = [])),
    tags(
        (name = "events", description = "Customer actions, evaluated by the rules"),
        (name = "members", description = "A member's wallets and inbox"),
        (name = "redemptions", description = "Points spent on rewards"),
        (name = "transfers", description = "Ledger transfers and their reversals"),
        (name = "rewards", description = "The rewards catalogue"),
        (name = "segments", description = "Groups of members, by a CEL predicate"),
        (name = "programme", description = "The programme manager's settings: currencies, rules, audit trail"),
        (name = "privacy", description = "GDPR access and erasure"),
        (name = "webhooks", description = "Signed deliveries of domain events to the brand's systems (Standard Webhooks)"),
        (name = "messages", description = "What messages a member, on which channels, in which words: triggers and versioned templates per event type, channel and locale"),
    )
)]
pub struct ApiDoc;

/// What any route may answer, whatever it does.
const COMMON_ANSWERS: [(&str, &str); 6] = [
    (
        "400",
        "Invalid fields, headers or parameters, each named in `errors`",
    ),
    ("401", "No or unknown credentials"),
    ("403", "Not allowed for this client, or not this member's"),
    (
        "429",
        "Over this client's rate limit (see `RateLimit-Policy`); retry after `Retry-After`",
    ),
    ("503", "A service is unavailable; retry after `Retry-After`"),
    (
        "504",
        "No answer within the gateway's deadline; retry later",
    ),
];

/// What a POST may also answer, for its `Idempotency-Key`.
const KEYED_ANSWERS: [(&str, &str); 2] = [
    (
        "409",
        "A request with this Idempotency-Key is still running; retry after `Retry-After`",
    ),
    ("422", "This Idempotency-Key was used for another request"),
];

/// Named answers the resources refer to.
const NAMED_ANSWERS: [(&str, &str); 5] = [
    ("BadRequest", "Invalid fields, each named in `errors`"),
    ("NotFound", "No such resource (or not this tenant's)"),
    (
        "Conflict",
        "Refused as things stand (`reason`: e.g. INSUFFICIENT_FUNDS, ALREADY_EXISTS)",
    ),
    ("TooLarge", "The body is larger than the gateway accepts"),
    (
        "UnsupportedMediaType",
        "The body must be `application/json`",
    ),
];

/// Links from what the hand-written routes create to where it is read.
const LINKS: [(&str, &str, &str, &str); 2] = [
    (
        "/v1/redemptions",
        "getRedemption",
        "redemption_id",
        "/redemption_id",
    ),
    (
        "/v1/events",
        "getTransfer",
        "transfer_id",
        "/awards/0/transfer_id",
    ),
];

/// The whole document: the hand-written routes' (from `ApiDoc` and their
/// annotations), the resources', what every operation may answer, and the
/// `/v1/me` twins.
pub fn finish(document: utoipa::openapi::OpenApi) -> Value {
    let mut document = serde_json::to_value(document).unwrap_or_else(|_| json!({}));
    crate::resources::describe(&mut document);
    one_way_to_the_member(&mut document["components"]["schemas"]["TrackBody"]);
    for (name, description) in NAMED_ANSWERS {
        document["components"]["responses"][name] = problem(description);
    }
    for (path, operation_id, parameter, pointer) in LINKS {
        document["paths"][path]["post"]["responses"]["200"]["links"][operation_id] = json!({
            "operationId": operation_id,
            "parameters": {parameter: format!("$response.body#{pointer}")},
        });
    }
    let Some(paths) = document["paths"].as_object_mut() else {
        return document;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (verb, operation) in item.iter_mut() {
            if verb == "post" {
                keyed(operation);
            }
            add_problems(operation, &COMMON_ANSWERS);
            identifiers_in_paths(operation);
        }
    }
    super::me::describe(&mut document);
    document
}

/// A customer action names its member by `member_id` or by `external_id`,
/// never both: two whole object schemas, each without the other field (a
/// bare `oneOf` of `required` lists beside closed properties is more than
/// test generators can satisfy).
fn one_way_to_the_member(schema: &mut Value) {
    let Some(fields) = schema.as_object_mut() else {
        return;
    };
    let shape = ["type", "properties", "required", "additionalProperties"];
    let mut object = serde_json::Map::new();
    for key in shape {
        if let Some(value) = fields.remove(key) {
            object.insert(key.to_string(), value);
        }
    }
    let way = |keep: &str, drop: &str| {
        let mut branch = Value::Object(object.clone());
        if let Some(properties) = branch["properties"].as_object_mut() {
            properties.remove(drop);
        }
        let mut required = branch["required"].as_array().cloned().unwrap_or_default();
        required.retain(|field| field != drop && field != keep);
        required.push(json!(keep));
        branch["required"] = Value::Array(required);
        branch
    };
    fields.insert(
        "oneOf".into(),
        json!([
            way("member_id", "external_id"),
            way("external_id", "member_id")
        ]),
    );
}

/// Every id in a path is an identifier, as the services check it.
fn identifiers_in_paths(operation: &mut Value) {
    // `get_mut`: indexing would add `"parameters": null` where there are none.
    let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for parameter in parameters.iter_mut().filter(|p| p["in"] == "path") {
        let schema = &mut parameter["schema"];
        if schema["type"] == "string" && schema.get("pattern").is_none() {
            schema["pattern"] = json!(crate::resources::rules::ID);
        }
    }
}

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    })
}

/// Adds each of `answers` the operation does not name itself.
fn add_problems(operation: &mut Value, answers: &[(&str, &str)]) {
    for (status, description) in answers {
        let responses = &mut operation["responses"];
        if responses.get(*status).is_none() {
            responses[*status] = problem(description);
        }
    }
}

/// The `Idempotency-Key` header, its answers, and the replay marker on
/// every success.
fn keyed(post: &mut Value) {
    let key = json!({
        "name": "Idempotency-Key",
        "in": "header",
        "required": false,
        "description": "Makes the request safe to retry: the same key and body again replays the \
    first answer. Kept 24 hours, per API client. A structured-field string (`\"…\"`) or bare, 1 to \
    255 visible ASCII characters.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    });
    match post["parameters"].as_array_mut() {
        Some(parameters) => parameters.push(key),
        None => post["parameters"] = json!([key]),
    }
    add_problems(post, &KEYED_ANSWERS);
    let Some(responses) = post["responses"].as_object_mut() else {
        return;
    };
    for (status, answer) in responses.iter_mut() {
        if status.starts_with('2') && answer.get("$ref").is_none() {
            answer["headers"]["Idempotent-Replayed"] = json!({
                "description": "`true` when this is the replay of an earlier answer",
                "schema": {"type": "string", "enum": ["true"]},
            });
        }
    }
}

/// The two ways to authenticate, as security schemes.
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "A server client's API key, `ql_live_…`; exchanged for a token and cached.",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("A client or member token issued by identity."))
                    .build(),
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_both_schemes() {
        let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
        assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
        let schemes = &document["components"]["securitySchemes"];
        assert_eq!(schemes["api_key"]["name"], "X-Api-Key");
        assert_eq!(schemes["bearer"]["scheme"], "bearer");
        assert!(document["components"]["schemas"]["Problem"].is_object());
    }
}
