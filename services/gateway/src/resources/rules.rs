//! What the services accept, written as JSON Schema, so the document
//! promises no more and no less than a request that passes: identifiers,
//! texts, amounts, profile fields. Keyed by field name, as the services'
//! validators are; a field's message may narrow it further.

use prost_reflect::{FieldDescriptor, MessageDescriptor};
use serde_json::{Value, json};

/// Longest list a request may carry.
pub const MAX_LIST: usize = 1000;

/// An identifier, as `Violations::id` checks it.
pub const ID: &str = "^[A-Za-z0-9._:-]{1,256}$";
/// An optional identifier (a filter).
const OPTIONAL_ID: &str = "^[A-Za-z0-9._:-]{0,256}$";
/// An email address as identity takes it: something, `@`, a domain with a
/// dot inside; no spaces or control characters.
const EMAIL: &str = "^([^\\s\\u0000-\\u001f\\u007f-\\u009f]+@[^\\s@.\\u0000-\\u001f\\u007f-\\u009f][^\\s@\\u0000-\\u001f\\u007f-\\u009f]*\\.[^\\s@\\u0000-\\u001f\\u007f-\\u009f]*[^\\s@.\\u0000-\\u001f\\u007f-\\u009f])?$";

/// What can trigger a message: an event about one member, or a rule's message.
const TRIGGERED: &str = "^(points\\.(credited|debited|expired)|reward\\.redeemed|rule\\.message\\.[A-Za-z0-9._:-]{1,200})$";
const OPTIONAL_TRIGGERED: &str = "^(points\\.(credited|debited|expired)|reward\\.redeemed|rule\\.message\\.[A-Za-z0-9._:-]{1,200})?$";
/// A template's body or HTML part: line breaks and tabs, no other control
/// characters.
const MULTILINE: &str = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$";

/// A webhook URL as notifications takes it: http(s), no spaces or control
/// characters.
const URL: &str = "^https?://[^\\s\\u0000-\\u001f\\u007f-\\u009f]+$";

/// An account on the other side of a leg.
const COUNTERPARTY: &str = "^((member|partner):[A-Za-z0-9._:-]{1,256}|system:(issuance|redemption|breakage|adjustments))?$";

/// A page token: URL-safe base64 without padding, as the services write it.
/// (canonical: the unused bits of the last character are zero).
pub const PAGE_TOKEN: &str =
    "^([A-Za-z0-9_-]{4})*([A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$";
/// A text: no control characters, and not blank when required.
const TEXT: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$";
const REQUIRED_TEXT: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$";

/// An external id in a path: what brands use (card numbers, emails, phone
/// numbers, UUIDs), nothing a path or a list would mangle.
pub const EXTERNAL_ID: &str = "^[A-Za-z0-9._:@+-]{1,256}$";

/// Whether a request must carry `field`.
pub fn required(message: &MessageDescriptor, field: &FieldDescriptor) -> bool {
    let name = field.name();
    let listing = message.name().starts_with("List");
    if matches!(
        (message.name(), name),
        ("ListAccountEntriesRequest", "currency")
            | ("PutEventSchemaRequest", "schema")
            | ("PutCounterRequest", "counter")
            | ("PutWebhookEndpointRequest", "url")
            | ("PutMessageTemplateRequest", "body")
            | ("PreviewMessageTemplateRequest", "channel")
            | ("PutNotificationTriggerRequest", "channels")
    ) {
        return true;
    }
    // Proto3 `optional`: left out means left alone.
    if field.supports_presence() && !matches!(field.kind(), prost_reflect::Kind::Message(_)) {
        return false;
    }
    // Output only: the path names the event type.
    if (message.name(), name) == ("EventSchema", "event_type") {
        return false;
    }
    match name {
        "name" | "points" | "event_type" | "currency" | "code" | "source" | "external_id"
        | "choices" | "purpose" | "predicate" | "price" | "codes" | "voucher_source"
        | "idempotency_key" => !listing,
        _ => name.ends_with("_id") && !listing && !optional_id(message, name),
    }
}

/// Ids a request may leave out.
fn optional_id(message: &MessageDescriptor, name: &str) -> bool {
    matches!(
        (message.name(), name),
        ("RedeemRequest", "redemption_id")
            | ("TrackRequest", "event_id")
            // Output only: the tenant comes from the credentials.
            | ("Rule", "tenant_id")
            | ("EventSchema", "tenant_id")
            | ("Counter", "tenant_id")
            | ("Counter", "counter_id")
    )
}

/// Narrows the schema of `field` to what its service accepts.
pub fn narrow(message: &MessageDescriptor, field: &FieldDescriptor, schema: &mut Value) {
    let listing = message.name().starts_with("List");
    let set = |schema: &mut Value, extra: Value| {
        if let (Some(target), Value::Object(extra)) = (schema.as_object_mut(), extra) {
            target.extend(extra);
        }
    };
    match field.name() {
        "condition" => set(
            schema,
            json!({"format": "questline-cel-condition", "maxLength": 4096}),
        ),
        "points" => set(
            schema,
            json!({"format": "questline-cel-points", "maxLength": 4096}),
        ),
        "predicate" => set(
            schema,
            json!({"format": "questline-cel-predicate", "maxLength": 4096}),
        ),
        "page_token" => set(schema, json!({"pattern": PAGE_TOKEN})),
        // Above 500 is read as 500 (AIP-158), so no maximum is promised.
        "page_size" => set(schema, json!({"minimum": 0})),
        "counterparty" => set(schema, json!({"pattern": COUNTERPARTY})),
        "action_prefix" => set(schema, json!({"pattern": "^[A-Za-z0-9./]{0,200}$"})),
        "time_zone" => set(schema, json!({"format": "iana-time-zone"})),
        // A webhook's URL; that it parses and its address is public are
        // checked behind (JSON Schema's `uri` is ASCII only, URLs are not).
        "url" => set(schema, json!({"maxLength": 2000, "pattern": URL})),
        "grace_seconds" => set(schema, json!({"minimum": 0, "maximum": 604_800})),
        "decimal_places" => set(schema, json!({"minimum": 0, "maximum": 4})),
        // A rule version; 0 asks for the current one.
        "version" | "expected_version" => set(schema, json!({"minimum": 0})),
        "price" => set(
            schema,
            json!({"minimum": 1, "maximum": 1_000_000_000_000_i64}),
        ),
        "stock" => set(schema, json!({"minimum": 0, "maximum": 1_000_000_000})),
        "amount" => set(
            schema,
            json!({"minimum": 0, "maximum": 1_000_000_000_000_i64}),
        ),
        "days_after_earn" => set(schema, json!({"minimum": 1, "maximum": 36600})),
        "periods_after" => set(schema, json!({"minimum": 0, "maximum": 1200})),
        "email" => set(schema, json!({"pattern": EMAIL, "maxLength": 254})),
        "phone" => set(schema, json!({"pattern": "^(\\+[1-9][0-9]{7,14})?$"})),
        "birthday" => set(
            schema,
            json!({"pattern": "^((19[0-9]{2}|20[0-9]{2})-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8]))?$"}),
        ),
        "locale" => set(
            schema,
            json!({"pattern": "^([a-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3})?$"}),
        ),
        "country" => set(schema, json!({"pattern": "^([A-Za-z]{2})?$"})),
        "topic" => set(schema, json!({"pattern": OPTIONAL_ID})),
        "per_day" | "per_week" => set(schema, json!({"minimum": 0, "maximum": 1000})),
        "message_ids" => set(schema, json!({"pattern": ID})),
        // A template's parts as saved; what renders from them is any text.
        "subject" | "body" | "html" | "title" if !message.name().ends_with("Request") => {}
        "subject" => set(schema, json!({"pattern": TEXT, "maxLength": 1000})),
        "body" => set(schema, json!({"pattern": MULTILINE, "maxLength": 20_000})),
        "html" => set(schema, json!({"pattern": MULTILINE, "maxLength": 100_000})),
        "event_type" if triggers(message) => {
            let pattern = if required(message, field) {
                TRIGGERED
            } else {
                OPTIONAL_TRIGGERED
            };
            set(schema, json!({"pattern": pattern}));
        }
        "attributes" => set(schema, attributes()),
        "codes" => set(schema, json!({"pattern": "^[!-~]{1,64}$"})),
        name if name.ends_with("_id") || matches!(name, "code" | "currency" | "event_type") => {
            let pattern = if required(message, field) {
                ID
            } else {
                OPTIONAL_ID
            };
            set(schema, json!({"pattern": pattern}));
        }
        "external_id" if !listing => set(schema, json!({"pattern": EXTERNAL_ID})),
        "idempotency_key" if !listing => {
            set(schema, json!({"pattern": REQUIRED_TEXT, "maxLength": 256}))
        }
        "name" | "source" if !listing => {
            set(schema, json!({"pattern": REQUIRED_TEXT, "maxLength": 256}));
        }
        _ if schema["type"] == "string" && schema.get("format").is_none() => {
            set(schema, json!({"pattern": TEXT, "maxLength": 256}));
        }
        _ => {}
    }
}

/// Whether `message` names a trigger's or a template's event type.
fn triggers(message: &MessageDescriptor) -> bool {
    let name = message.name();
    name.contains("NotificationTrigger") || name.contains("MessageTemplate")
}

/// Narrows a list field: how many items it takes.
pub fn narrow_list(field: &FieldDescriptor, schema: &mut Value) {
    match field.name() {
        "channels" => {
            schema["minItems"] = json!(1);
            schema["uniqueItems"] = json!(true);
        }
        "codes" => schema["minItems"] = json!(1),
        "choices" => schema["minItems"] = json!(1),
        "message_ids" => schema["maxItems"] = json!(500),
        // A programme's caps: one per channel at most.
        "caps" if field.parent_message().name() == "UpdateMessagingSettingsRequest" => {
            schema["maxItems"] = json!(4)
        }
        _ => {}
    }
}

/// Whether a path's `name` may hold `value`: the gateway's own check where
/// a path is stricter than the field behind it.
pub fn path_allows(name: &str, value: &str) -> bool {
    match name {
        "external_id" => {
            (1..=256).contains(&value.len())
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._:@+-".contains(c))
        }
        _ => true,
    }
}

/// A member's custom attributes: at most 64 keys of letters, digits and
/// `_`; strings, numbers, booleans, or lists of strings or numbers.
fn attributes() -> Value {
    let text = json!({"type": "string", "maxLength": 1024, "pattern": TEXT});
    json!({
        "maxProperties": 64,
        "propertyNames": {"pattern": "^[A-Za-z0-9_]{1,64}$"},
        "additionalProperties": {
            "anyOf": [
                text,
                {"type": "number"},
                {"type": "boolean"},
                {"type": "array", "maxItems": 64, "items": {"anyOf": [text, {"type": "number"}]}}
            ]
        }
    })
}
