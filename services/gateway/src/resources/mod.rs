//! The REST resources that map one-to-one onto an RPC: a line of `table.rs`
//! each. A request's JSON, path and query become the RPC's request message
//! (the tenant always from the credentials); the answer message, or one of
//! its fields, becomes the JSON answer. The OpenAPI operation of each is
//! made from the same line and the services' descriptors, so the document
//! and the route cannot drift apart.

mod call;
mod document;
pub mod messages;
pub mod rules;
mod schemas;
mod table;

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};

pub use document::describe;
pub use table::RESOURCES;

/// The HTTP method of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    pub fn has_body(self) -> bool {
        matches!(self, Verb::Post | Verb::Put | Verb::Patch)
    }

    pub fn name(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
            Verb::Put => "put",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
        }
    }
}

/// One REST resource onto one RPC.
pub struct Resource {
    pub verb: Verb,
    /// With `{name}` parameters, e.g. `/v1/segments/{segment_id}`.
    pub path: &'static str,
    /// `<service>/<method>`, e.g. `questline.identity.v1.IdentityService/GetSegment`.
    pub rpc: &'static str,
    pub operation_id: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    /// Request fields the path fills through a template, e.g.
    /// `("name", "member:{member_id}")`; any other `{x}` fills field `x`.
    pub bind: &'static [(&'static str, &'static str)],
    /// The body is this field of the request (e.g. `profile`); none: the
    /// whole request, less the tenant and the path's fields.
    pub body: Option<&'static str>,
    /// The answer is this field of the response; none: the whole response.
    pub answer: Option<&'static str>,
    /// 200, 201 (with `Location` and a link to `read`) or 204 (no body).
    pub status: u16,
    /// Where the created resource is read: an operation id and, for each of
    /// its path parameters, the answer's field that fills it.
    pub read: Option<Read>,
    /// An example body, as JSON.
    pub example: Option<&'static str>,
}

pub struct Read {
    pub operation_id: &'static str,
    pub path: &'static str,
    pub parameters: &'static [(&'static str, &'static str)],
}

impl Resource {
    /// The path's `{name}` parameters, in order.
    pub fn path_parameters(&self) -> Vec<&'static str> {
        parameters(self.path)
    }

    /// Fields set from the path (directly or through a template).
    fn bound_fields(&self) -> Vec<&'static str> {
        let templated: Vec<&str> = self.bind.iter().map(|(field, _)| *field).collect();
        let direct = self.path_parameters().into_iter().filter(|p| {
            !self
                .bind
                .iter()
                .any(|(_, t)| t.contains(&format!("{{{p}}}")))
        });
        templated.into_iter().chain(direct).collect()
    }
}

impl Resource {
    /// The request fields a GET or DELETE takes from its query: every scalar
    /// (or time) the path does not give, nor a `oneof` sibling of one it
    /// gives (the path made that choice). The document lists exactly these,
    /// and the handler reads only these.
    pub fn query_fields(&self, input: &MessageDescriptor) -> Vec<FieldDescriptor> {
        let bound = self.bound_fields();
        let given = |name: &str| name == "tenant_id" || bound.contains(&name);
        let chosen: Vec<String> = bound
            .iter()
            .filter_map(|name| input.get_field_by_name(name)?.containing_oneof())
            .map(|oneof| oneof.name().to_string())
            .collect();
        input
            .fields()
            .filter(|f| !given(f.name()) && !f.is_list() && !f.is_map())
            .filter(|f| {
                f.containing_oneof()
                    .is_none_or(|o| !chosen.iter().any(|c| c == o.name()))
            })
            .filter(|f| match f.kind() {
                Kind::Message(m) => m.full_name() == "google.protobuf.Timestamp",
                _ => true,
            })
            .collect()
    }
}

fn parameters(path: &'static str) -> Vec<&'static str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

/// Fills `{name}` placeholders of `template` from `values`.
fn fill(template: &str, values: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let end = rest[start..].find('}')? + start;
        out.push_str(&rest[..start]);
        out.push_str(&values(&rest[start + 1..end])?);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

pub use call::router;

#[cfg(test)]
mod tests;
