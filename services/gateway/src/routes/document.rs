//! The OpenAPI 3.1 document of the partner API, generated from the handlers
//! themselves (each carries its `#[utoipa::path]`), so a route cannot exist
//! without its description. Served at `/openapi.json`, rendered at `/docs`
//! from assets compiled into the binary.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
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
(RFC 9457) with an `errors` list naming each invalid field. Writes are idempotent by the id in \
their body or the `Idempotency-Key` header.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&Credentials),
    security(("api_key" = []), ("bearer" = [])),
    tags(
        (name = "events", description = "Customer actions, evaluated by the rules"),
        (name = "members", description = "A member's wallets and inbox"),
        (name = "redemptions", description = "Points spent on rewards"),
    )
)]
pub struct ApiDoc;

/// What any route may answer, whatever it does.
const COMMON_ANSWERS: [(&str, &str); 5] = [
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

/// The document once every route is in: each operation also names the
/// answers any request may meet, as problems.
pub fn with_common_answers(mut document: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let problem = || {
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Problem")))
            .build()
    };
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            for (status, description) in COMMON_ANSWERS {
                let answer = ResponseBuilder::new()
                    .description(description)
                    .content(PROBLEM, problem())
                    .build();
                let answers = &mut operation.responses.responses;
                answers
                    .entry(status.into())
                    .or_insert_with(|| answer.into());
            }
        }
    }
    document
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
