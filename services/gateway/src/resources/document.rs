//! The OpenAPI operations of the resources, from the table and the
//! services' descriptors.

use prost_reflect::{Kind, MessageDescriptor};
use serde_json::{Map, Value, json};

use super::schemas::{Schemas, Side};
use super::{RESOURCES, Resource};
use super::{messages, rules};

/// Adds every resource's operation, and the schemas they use, to `document`.
pub fn describe(document: &mut Value) {
    let mut schemas = Schemas::default();
    for resource in RESOURCES {
        let Some(method) = messages::method(resource.rpc) else {
            continue;
        };
        let operation = operation(resource, &method.input(), &method.output(), &mut schemas);
        document["paths"][resource.path][resource.verb.name()] = operation;
    }
    let components = &mut document["components"]["schemas"];
    for (name, schema) in schemas.components {
        components[name] = schema;
    }
}

fn operation(
    resource: &Resource,
    input: &MessageDescriptor,
    output: &MessageDescriptor,
    schemas: &mut Schemas,
) -> Value {
    let mut skip = resource.bound_fields();
    skip.push("tenant_id");
    // Every field's schema, for the path's and the query's parameters.
    let fields = schemas.object(input, Side::Request, &[]);
    let mut parameters = path_parameters(resource, input, &fields);
    let mut operation = json!({
        "operationId": resource.operation_id,
        "tags": [resource.tag],
        "summary": resource.summary,
        "responses": {
            "400": {"$ref": "#/components/responses/BadRequest"},
            "404": {"$ref": "#/components/responses/NotFound"},
            "409": {"$ref": "#/components/responses/Conflict"},
        },
    });
    if resource.verb.has_body() {
        let body = match resource.body {
            Some(field) => input
                .get_field_by_name(field)
                .and_then(|f| match f.kind() {
                    Kind::Message(m) => Some(schemas.object(&m, Side::Request, &[])),
                    _ => None,
                })
                .unwrap_or_else(|| json!({"type": "object"})),
            None => schemas.object(input, Side::Request, &skip),
        };
        let mut content = json!({"schema": body});
        if let Some(example) = resource
            .example
            .and_then(|e| serde_json::from_str::<Value>(e).ok())
        {
            content["example"] = example;
        }
        operation["requestBody"] =
            json!({"required": true, "content": {"application/json": content}});
        operation["responses"]["413"] = json!({"$ref": "#/components/responses/TooLarge"});
        operation["responses"]["415"] =
            json!({"$ref": "#/components/responses/UnsupportedMediaType"});
    } else {
        parameters.extend(query_parameters(resource, input, &skip, schemas));
    }
    if !parameters.is_empty() {
        operation["parameters"] = Value::Array(parameters);
    }
    operation["responses"][resource.status.to_string()] = success(resource, output, schemas);
    operation
}

fn path_parameters(resource: &Resource, input: &MessageDescriptor, fields: &Value) -> Vec<Value> {
    resource
        .path_parameters()
        .into_iter()
        .map(|name| {
            let schema = match input.get_field_by_name(name) {
                Some(_) => fields["properties"][name].clone(),
                None => json!({"type": "string", "pattern": rules::ID}),
            };
            json!({"name": name, "in": "path", "required": true, "schema": schema})
        })
        .collect()
}

/// The query fields (`Resource::query_fields`), each with its schema and
/// whether the service requires it.
fn query_parameters(
    resource: &Resource,
    input: &MessageDescriptor,
    skip: &[&str],
    schemas: &mut Schemas,
) -> Vec<Value> {
    let object = schemas.object(input, Side::Request, skip);
    let required: Vec<Value> = object["required"].as_array().cloned().unwrap_or_default();
    resource
        .query_fields(input)
        .iter()
        .map(|f| {
            let name = f.name();
            json!({
                "name": name,
                "in": "query",
                "required": required.contains(&Value::from(name)),
                "schema": object["properties"][name].clone(),
            })
        })
        .collect()
}

fn success(resource: &Resource, output: &MessageDescriptor, schemas: &mut Schemas) -> Value {
    if resource.status == 204 {
        return json!({"description": "Done; nothing to answer"});
    }
    let schema = match resource.answer.and_then(|f| output.get_field_by_name(f)) {
        Some(field) => match field.kind() {
            Kind::Message(m) => schemas.message(&m, Side::Answer),
            _ => json!({}),
        },
        None => schemas.message(output, Side::Answer),
    };
    let mut answer = json!({
        "description": resource.summary,
        "content": {"application/json": {"schema": schema}},
    });
    if let Some(read) = &resource.read {
        let mut parameters = Map::new();
        for (parameter, pointer) in read.parameters {
            parameters.insert(
                (*parameter).to_string(),
                Value::String(format!("$response.body#{pointer}")),
            );
        }
        answer["links"] = json!({
            read.operation_id: {
                "operationId": read.operation_id,
                "parameters": parameters,
                "description": "Read what was just written",
            }
        });
        if resource.status == 201 {
            answer["headers"] = json!({"Location": {
                "description": "Where the new resource is read",
                "schema": {"type": "string"},
            }});
        }
    }
    answer
}
