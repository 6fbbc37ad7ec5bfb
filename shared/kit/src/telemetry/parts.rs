//! One `service.name` per part, even when `questline dev` runs every part in
//! one process: each span knows its part (`questline.service`, set by the
//! span or inherited from its parent), and spans are exported through one
//! exporter per part, each with its own resource — so a trace viewer shows
//! identity, ledger, mechanics, … as the separate services they are.

use opentelemetry::KeyValue;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use std::collections::BTreeMap;
use std::time::Duration;
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::config::ServiceKind;

/// The span attribute that names a span's part.
pub const PART: &str = "questline.service";

/// Every part that may run in a process, as spans name them.
fn parts() -> impl Iterator<Item = &'static str> {
    ServiceKind::ALL
        .into_iter()
        .map(ServiceKind::name)
        .chain(["gateway"])
}

/// The part a span belongs to, kept in its extensions.
#[derive(Debug, Clone, Copy)]
struct Part(&'static str);

/// Remembers each span's part: its own `questline.service`, else its parent's.
pub struct PartLayer;

impl<S> tracing_subscriber::Layer<S> for PartLayer
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut own = PartVisitor(None);
        attrs.record(&mut own);
        let part = own.0.map(Part).or_else(|| {
            span.parent()
                .and_then(|parent| parent.extensions().get::<Part>().copied())
        });
        if let Some(part) = part {
            span.extensions_mut().insert(part);
        }
    }

    /// A part recorded after the span began (`rpc_span` records it so).
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut own = PartVisitor(None);
        values.record(&mut own);
        if let (Some(part), Some(span)) = (own.0, ctx.span(id)) {
            span.extensions_mut().replace(Part(part));
        }
    }
}

/// A span's own part, when it names one of the known parts.
struct PartVisitor(Option<&'static str>);

impl tracing::field::Visit for PartVisitor {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == PART {
            self.0 = parts().find(|part| *part == value);
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == PART {
            let value = format!("{value:?}");
            self.0 = parts().find(|part| *part == value.trim_matches('"'));
        }
    }
}

/// Sets `span`'s `questline.service` from its parent's part, for spans
/// made where the part is not known (an outgoing call's CLIENT span).
pub fn inherit_part(span: &tracing::Span) {
    let part = span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        let span = registry.span(id)?;
        span.extensions().get::<Part>().map(|p| p.0)
    });
    if let Some(part) = part.flatten() {
        span.record(PART, part);
    }
}

/// Sends each span through the exporter of its part; spans of no known part
/// (a CLI command) go through `other`, under the process's own name.
#[derive(Debug)]
pub struct ByPart<E> {
    parts: BTreeMap<&'static str, E>,
    other: E,
}

impl<E: SpanExporter> ByPart<E> {
    pub fn new(mut exporter: impl FnMut() -> anyhow::Result<E>) -> anyhow::Result<ByPart<E>> {
        let mut by_part = BTreeMap::new();
        for part in parts() {
            by_part.insert(part, exporter()?);
        }
        Ok(ByPart {
            parts: by_part,
            other: exporter()?,
        })
    }

    /// The known part `span` belongs to, if any.
    fn part_of(span: &SpanData) -> Option<&'static str> {
        let named = span.attributes.iter().find(|kv| kv.key.as_str() == PART)?;
        let name = named.value.as_str();
        parts().find(|part| *part == name)
    }
}

impl<E: SpanExporter> SpanExporter for ByPart<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut groups: BTreeMap<Option<&'static str>, Vec<SpanData>> = BTreeMap::new();
        for span in batch {
            groups.entry(Self::part_of(&span)).or_default().push(span);
        }
        let mut outcome = Ok(());
        for (part, spans) in groups {
            let exporter = part.and_then(|p| self.parts.get(p)).unwrap_or(&self.other);
            if let Err(err) = exporter.export(spans).await {
                outcome = Err(err);
            }
        }
        outcome
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.all()
            .try_for_each(|e| e.shutdown_with_timeout(timeout))
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.all().try_for_each(|e| e.force_flush())
    }

    fn set_resource(&mut self, resource: &Resource) {
        for (part, exporter) in &mut self.parts {
            exporter.set_resource(&named(resource, &format!("questline-{part}")));
        }
        self.other.set_resource(resource);
    }
}

impl<E> ByPart<E> {
    fn all(&self) -> impl Iterator<Item = &E> {
        self.parts.values().chain([&self.other])
    }
}

/// `resource` with another `service.name`.
fn named(resource: &Resource, service_name: &str) -> Resource {
    let attributes = resource
        .iter()
        .filter(|(key, _)| key.as_str() != "service.name")
        .map(|(key, value)| KeyValue::new(key.clone(), value.clone()));
    Resource::builder_empty()
        .with_attributes(attributes)
        .with_service_name(service_name.to_string())
        .build()
}
