//! Traces as an operator's collector receives them: `questline dev` exports
//! over OTLP/gRPC to a collector in this test, and one Track → credit →
//! notification flow arrives as one trace holding spans of every service,
//! with no member's personal data in any attribute or log line.

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
fn one_flow_is_one_trace_across_every_service_without_personal_data() {
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
        let services: BTreeSet<String> = in_trace
            .iter()
            .filter_map(|s| text(&s.attributes, "questline.service"))
            .collect();
        if PARTS.iter().all(|part| services.contains(*part)) {
            break in_trace;
        }
        assert!(
            Instant::now() < deadline,
            "parts missing from the trace: {services:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    dev.terminate();
    let exports = collector.0.lock().unwrap().clone();
    let names: BTreeSet<&str> = in_trace.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains("questline.mechanics.v1.MechanicsService/Track"),
        "{names:?}"
    );
    assert!(
        names.contains("questline.ledger.v1.LedgerService/Credit"),
        "{names:?}"
    );
    assert!(
        names.contains("notifications handle points.credited"),
        "{names:?}"
    );

    for export in &exports {
        for resource in export
            .resource_spans
            .iter()
            .filter_map(|r| r.resource.as_ref())
        {
            let attrs = &resource.attributes;
            assert_eq!(
                text(attrs, "service.name").as_deref(),
                Some("questline-dev")
            );
            assert!(text(attrs, "service.version").is_some());
            assert_eq!(
                text(attrs, "deployment.environment.name").as_deref(),
                Some("test")
            );
            assert!(
                !attrs.iter().any(|kv| kv.key.contains("tenant")),
                "{attrs:?}"
            );
        }
    }
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

/// Every span received so far in the trace of the gateway's purchase.
fn purchase_trace(collector: &Collector) -> Vec<Span> {
    let exports = collector.0.lock().unwrap();
    let spans: Vec<&Span> = exports
        .iter()
        .flat_map(|e| &e.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect();
    let Some(track) = spans.iter().find(|s| s.name == "POST /v1/events") else {
        return Vec::new();
    };
    spans
        .iter()
        .filter(|s| s.trace_id == track.trace_id)
        .map(|s| (*s).clone())
        .collect()
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
