//! Traces as an operator's collector receives them: `questline dev` exports
//! over OTLP/gRPC to a collector in this test, and one Track → credit →
//! notification flow arrives as one trace holding spans of every part, each
//! part under its own `service.name`, every gRPC hop a CLIENT span with its
//! SERVER child and every bus hop a PRODUCER span with its CONSUMERs — with
//! no member's personal data in any attribute or log line.

#![allow(clippy::unwrap_used)]

mod support;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use questline_kit::client::Outgoing;
use questline_proto::identity as id;
use questline_proto::identity::identity_service_client::IdentityServiceClient;
use std::collections::BTreeSet;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{PARTS, purchase, start_with, wait_for_inbox};

/// What a collector keeps: every export request, as received.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<ExportTraceServiceRequest>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.lock().unwrap().push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

const NAME: &str = "Noor Haddad";
const EMAIL: &str = "noor.haddad@example.org";
const PHONE: &str = "+447700900123";

#[test]
fn one_purchase_is_one_trace_across_the_parts_it_touches_without_personal_data() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let collector = Collector::default();
    let endpoint = runtime.block_on(serve(collector.clone()));
    let data = tempfile::tempdir().unwrap();
    let log_path = data.path().join("questline.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let dev = start_with(
        &data.path().join("data"),
        &[
            ("QUESTLINE__TELEMETRY__OTLP_ENDPOINT", endpoint.as_str()),
            ("QUESTLINE__TELEMETRY__SAMPLING_RATIO", "1"),
            (
                "QUESTLINE__TELEMETRY__RESOURCE_ATTRIBUTES",
                "deployment.environment.name=test",
            ),
            (
                "QUESTLINE__TELEMETRY__LOG",
                "debug,h2=info,hyper=info,tower=info,sqlx=info",
            ),
        ],
        Stdio::from(log),
    );
    let (member_id, external_id) = runtime.block_on(async {
        let token = dev.token().await;
        let mut identity = IdentityServiceClient::with_interceptor(
            dev.channel("identity"),
            Outgoing::bearer(&token),
        );
        let member = identity
            .upsert_member(id::UpsertMemberRequest {
                tenant_id: dev.tenant_id.clone(),
                external_id: "crm-58213".into(),
                profile: Some(id::Profile {
                    display_name: NAME.into(),
                    email: EMAIL.into(),
                    phone: PHONE.into(),
                    birthday: "1990-04-01".into(),
                    ..Default::default()
                }),
            })
            .await
            .unwrap()
            .into_inner()
            .member
            .unwrap();
        (member.member_id, member.external_id)
    });
    let (status, body) = dev.http("POST", "/v1/events", &purchase(&member_id, "otlp-1", 250));
    assert_eq!(status, 200, "{body}");
    wait_for_inbox(&dev, &member_id, 1);
    // Spans leave in batches every few seconds: wait for the whole trace.
    let deadline = Instant::now() + Duration::from_secs(30);
    let in_trace = loop {
        let in_trace = purchase_trace(&collector);
        let parts: BTreeSet<&str> = in_trace.iter().map(|(part, _)| part.as_str()).collect();
        if TOUCHED.iter().all(|part| parts.contains(part)) && hops_complete(&in_trace) {
            break in_trace;
        }
        assert!(
            Instant::now() < deadline,
            "parts missing from the trace: {parts:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    dev.terminate();
    let exports = collector.0.lock().unwrap().clone();
    let names: BTreeSet<&str> = in_trace.iter().map(|(_, s)| s.name.as_str()).collect();
    for name in [
        "questline.mechanics.v1.MechanicsService/Track",
        // Mechanics credits in batches; each credit carries its event's trace.
        "questline.ledger.v1.LedgerService/CreditBatch",
        "ledger credit",
        "notifications handle points.credited",
        "ledger publish points.credited",
    ] {
        assert!(names.contains(name), "{name} not in {names:?}");
    }
    every_hop_is_drawn(&in_trace);
    // Rewards ignores `points.credited`: the bus does not hand it over, so
    // no idle consumer span fills the trace.
    assert!(
        !in_trace.iter().any(|(part, _)| part == "rewards"),
        "{names:?}"
    );
    each_part_exports_under_its_own_name(&exports);
    let personal = [NAME, EMAIL, PHONE, "1990-04-01", external_id.as_str()];
    let exported = format!("{exports:?}");
    assert!(
        exported.contains("points.credited"),
        "attribute values are scanned"
    );
    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(logged.contains("serving"), "the log was captured");
    for data in personal {
        assert!(!exported.contains(data), "{data:?} was exported in a span");
        assert!(!logged.contains(data), "{data:?} was logged");
    }
}

/// The parts that act on a purchase: the gateway takes it, mechanics judges
/// it, the ledger credits it, notifications tells the member.
const TOUCHED: [&str; 4] = ["gateway", "mechanics", "ledger", "notifications"];

const SERVER: i32 = 2;
const CLIENT: i32 = 3;
const PRODUCER: i32 = 4;
const CONSUMER: i32 = 5;
/// `Status.code` of a span whose status is Error.
const ERROR: i32 = 2;

/// Every span received so far in the trace of the gateway's purchase, with
/// the part (`service.name` without `questline-`) that exported it.
fn purchase_trace(collector: &Collector) -> Vec<(String, Span)> {
    let exports = collector.0.lock().unwrap();
    let spans: Vec<(String, &Span)> = exports
        .iter()
        .flat_map(|e| &e.resource_spans)
        .flat_map(|r| {
            let attrs = r
                .resource
                .as_ref()
                .map(|r| r.attributes.as_slice())
                .unwrap_or_default();
            let name = text(attrs, "service.name").unwrap_or_default();
            let part = name.trim_start_matches("questline-").to_string();
            r.scope_spans
                .iter()
                .flat_map(|s| &s.spans)
                .map(move |span| (part.clone(), span))
        })
        .collect();
    let Some((_, track)) = spans.iter().find(|(_, s)| s.name == "POST /v1/events") else {
        return Vec::new();
    };
    spans
        .iter()
        .filter(|(_, s)| s.trace_id == track.trace_id)
        .map(|(part, s)| (part.clone(), (*s).clone()))
        .collect()
}

fn children<'a>(trace: &'a [(String, Span)], parent: &Span, kind: i32) -> Vec<&'a Span> {
    trace
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.parent_span_id == parent.span_id && s.kind == kind)
        .collect()
}

/// Every CLIENT span has its SERVER child, every PRODUCER its CONSUMERs.
fn hops_complete(trace: &[(String, Span)]) -> bool {
    let spans = || trace.iter().map(|(_, s)| s);
    let calls = spans().filter(|s| s.kind == CLIENT);
    let publishes = spans().filter(|s| s.kind == PRODUCER);
    spans().any(|s| s.kind == CLIENT)
        && spans().any(|s| s.kind == PRODUCER)
        && calls.clone().all(|c| children(trace, c, SERVER).len() == 1)
        && publishes
            .clone()
            .all(|p| !children(trace, p, CONSUMER).is_empty())
}

/// The picture a trace viewer draws: caller → callee through CLIENT and
/// SERVER spans, publisher → consumers through PRODUCER and CONSUMER spans,
/// each with the attributes OpenTelemetry's conventions name.
fn every_hop_is_drawn(trace: &[(String, Span)]) {
    for (part, span) in trace {
        let attrs = &span.attributes;
        assert_eq!(
            text(attrs, "questline.service").as_deref(),
            Some(part.as_str()),
            "{}",
            span.name
        );
        match span.kind {
            CLIENT | SERVER if text(attrs, "rpc.system").is_some() => {
                for key in ["rpc.service", "rpc.method", "server.address"] {
                    assert!(text(attrs, key).is_some(), "{} lacks {key}", span.name);
                }
                assert_eq!(int(attrs, "rpc.grpc.status_code"), Some(0), "{}", span.name);
                assert_ne!(
                    span.status.as_ref().map(|s| s.code),
                    Some(ERROR),
                    "{}",
                    span.name
                );
                if span.kind == CLIENT {
                    assert!(int(attrs, "server.port").is_some(), "{}", span.name);
                } else {
                    // A callee's SERVER span hangs under its caller's CLIENT span.
                    let parent = trace.iter().find(|(_, s)| s.span_id == span.parent_span_id);
                    assert_eq!(parent.map(|(_, s)| s.kind), Some(CLIENT), "{}", span.name);
                }
            }
            PRODUCER | CONSUMER => {
                for key in [
                    "messaging.system",
                    "messaging.operation.type",
                    "messaging.operation.name",
                    "messaging.destination.name",
                ] {
                    assert!(text(attrs, key).is_some(), "{} lacks {key}", span.name);
                }
                if span.kind == CONSUMER {
                    let parent = trace.iter().find(|(_, s)| s.span_id == span.parent_span_id);
                    assert_eq!(parent.map(|(_, s)| s.kind), Some(PRODUCER), "{}", span.name);
                    assert!(text(attrs, "messaging.consumer.group.name").is_some());
                }
            }
            _ => {}
        }
    }
}

/// Each part exports under `questline-<part>`, the process's own attributes kept.
fn each_part_exports_under_its_own_name(exports: &[ExportTraceServiceRequest]) {
    let mut names = BTreeSet::new();
    for batch in exports.iter().flat_map(|e| &e.resource_spans) {
        let attrs = &batch.resource.as_ref().unwrap().attributes;
        let name = text(attrs, "service.name").unwrap();
        assert!(text(attrs, "service.version").is_some());
        assert_eq!(
            text(attrs, "deployment.environment.name").as_deref(),
            Some("test")
        );
        assert!(
            !attrs.iter().any(|kv| kv.key.contains("tenant")),
            "{attrs:?}"
        );
        for span in batch.scope_spans.iter().flat_map(|s| &s.spans) {
            // What no part did (the CLI loading the demo) is the process's own.
            let owner = text(&span.attributes, "questline.service")
                .map_or("questline-dev".to_string(), |part| {
                    format!("questline-{part}")
                });
            assert_eq!(name, owner, "{}", span.name);
        }
        names.insert(name);
    }
    for part in PARTS {
        assert!(names.contains(&format!("questline-{part}")), "{names:?}");
    }
}

/// Starts the collector on a free port; returns its endpoint.
async fn serve(collector: Collector) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    format!("http://{addr}")
}

/// An integer attribute's value.
fn int(attributes: &[KeyValue], key: &str) -> Option<i64> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|AnyValue { value }| match value {
            Some(any_value::Value::IntValue(i)) => Some(*i),
            _ => None,
        })
}

/// A string attribute's value.
fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|AnyValue { value }| match value {
            Some(any_value::Value::StringValue(s)) => Some(s.clone()),
            _ => None,
        })
}
