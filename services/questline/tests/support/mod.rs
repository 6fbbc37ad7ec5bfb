//! The real `questline dev` binary on free ports, as the tests drive it:
//! its welcome text read for addresses and the demo's credentials, HTTP/1.1
//! by hand to the gateway and the admin ports.

#![allow(dead_code, clippy::unwrap_used)]

use questline_proto::identity::IssueTokenRequest;
use questline_proto::identity::identity_service_client::IdentityServiceClient;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PARTS: [&str; 6] = [
    "identity",
    "ledger",
    "mechanics",
    "rewards",
    "notifications",
    "gateway",
];

pub struct Dev {
    child: Child,
    pub gateway: String,
    /// Each part's gRPC (or HTTP, for the gateway) address.
    pub addrs: BTreeMap<String, String>,
    /// Each part's admin port.
    pub admin: BTreeMap<String, String>,
    pub tenant_id: String,
    pub api_key: String,
    pub member_id: String,
}

/// Starts `questline dev` on free ports and reads its welcome text.
pub fn start(data_dir: &std::path::Path) -> Dev {
    start_with(data_dir, &[], Stdio::null())
}

/// Like `start`, with extra environment variables and its log to `stderr`.
pub fn start_with(data_dir: &std::path::Path, env: &[(&str, &str)], stderr: Stdio) -> Dev {
    let mut command = Command::new(env!("CARGO_BIN_EXE_questline"));
    command.arg("dev").arg("--data-dir").arg(data_dir);
    for part in PARTS {
        let part = part.to_uppercase();
        command.env(format!("QUESTLINE__{part}__LISTEN"), "127.0.0.1:0");
        command.env(format!("QUESTLINE__{part}__ADMIN_LISTEN"), "127.0.0.1:0");
    }
    command.envs(env.iter().copied());
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut field = |prefix: &str| loop {
        let line = lines.next().expect("questline dev ended early").unwrap();
        if let Some(rest) = line.trim_start().strip_prefix(prefix) {
            return rest.trim().to_string();
        }
    };
    let (mut addrs, mut admin) = (BTreeMap::new(), BTreeMap::new());
    for part in PARTS {
        // "  ledger         127.0.0.1:50052    metrics http://127.0.0.1:9102/metrics"
        let line = field(part);
        let words: Vec<&str> = line.split_whitespace().collect();
        addrs.insert(part.to_string(), words[0].to_string());
        let metrics = words[2].trim_start_matches("http://");
        admin.insert(
            part.to_string(),
            metrics.trim_end_matches("/metrics").to_string(),
        );
    }
    let tenant_id = field("Demo programme")
        .rsplit_once("tenant ")
        .map(|(_, t)| t.trim_end_matches("):").to_string())
        .unwrap();
    let api_key = field("API key:");
    let member_id = field("member:")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    Dev {
        child,
        gateway: addrs["gateway"].clone(),
        addrs,
        admin,
        tenant_id,
        api_key,
        member_id,
    }
}

/// A failed test must not leave the engine running.
impl Drop for Dev {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Dev {
    /// One HTTP/1.1 exchange with the gateway; returns (status, body).
    pub fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        exchange(&self.gateway, method, path, &self.api_key, body)
    }

    /// GET `path` on `part`'s admin port; returns (status, body).
    pub fn admin(&self, part: &str, path: &str) -> (u16, String) {
        exchange(&self.admin[part], "GET", path, "", "")
    }

    pub fn stars(&self) -> String {
        let (status, body) = self.http(
            "GET",
            &format!("/v1/members/{}/balances", self.member_id),
            "",
        );
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Sends SIGKILL: no shutdown, whatever was in flight is cut off.
    pub fn kill(mut self) {
        let status = Command::new("kill")
            .args(["-KILL", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and returns how long the process took to exit.
    pub fn terminate(mut self) -> Duration {
        let started = Instant::now();
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "questline dev exited with {exit}");
        started.elapsed()
    }
}

impl Dev {
    /// A lazy gRPC channel to `part`.
    pub fn channel(&self, part: &str) -> tonic::transport::Channel {
        tonic::transport::Endpoint::from_shared(format!("http://{}", self.addrs[part]))
            .unwrap()
            .connect_lazy()
    }

    /// A token for the demo's API key (admin and server scopes).
    pub async fn token(&self) -> String {
        IdentityServiceClient::new(self.channel("identity"))
            .issue_token(IssueTokenRequest {
                api_key: self.api_key.clone(),
                tenant_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .access_token
    }
}

pub fn purchase(member_id: &str, event_id: &str, amount: u32) -> String {
    format!(
        r#"{{"event_id":"{event_id}","member_id":"{member_id}","type":"purchase","attributes":{{"amount":{amount}}}}}"#
    )
}

pub fn redeem(dev: &Dev, redemption_id: &str, reward_id: &str) -> String {
    format!(
        r#"{{"redemption_id":"{redemption_id}","member_id":"{}","reward_id":"{reward_id}"}}"#,
        dev.member_id
    )
}

/// Waits until `member_id`'s inbox holds `n` messages; returns how many it holds.
pub fn wait_for_inbox(dev: &Dev, member_id: &str, n: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = dev.http("GET", &format!("/v1/members/{member_id}/inbox"), "");
        assert_eq!(status, 200, "{body}");
        let held = body.matches("\"message_id\"").count();
        if held >= n || Instant::now() > deadline {
            assert_eq!(held, n, "{body}");
            return held;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn exchange(addr: &str, method: &str, path: &str, api_key: &str, body: &str) -> (u16, String) {
    try_exchange(addr, method, path, api_key, body).expect("the gateway answered")
}

/// Like `exchange`, `None` when the connection fails or is cut off.
pub fn try_exchange(
    addr: &str,
    method: &str,
    path: &str,
    api_key: &str,
    body: &str,
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nX-Api-Key: {api_key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.get(9..12)?.parse().ok()?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

/// One sample of a Prometheus text exposition: name, labels, value.
#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the text format (the subset Questline writes: no timestamps).
pub fn parse_metrics(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, labels_of(rest.trim_end_matches('}'))),
                None => (series, BTreeMap::new()),
            };
            Sample {
                name: name.to_string(),
                labels,
                value: value.parse().unwrap(),
            }
        })
        .collect()
}

fn labels_of(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while let Some((key, after)) = rest.split_once("=\"") {
        let end = after.find('"').unwrap();
        labels.insert(
            key.trim_start_matches(',').to_string(),
            after[..end].to_string(),
        );
        rest = &after[end + 1..];
    }
    labels
}

/// Scrapes `part`'s admin port until `done` holds of what it shows (counters
/// move just after the effects a test can see), or fails after 10 s.
pub fn settled(dev: &Dev, part: &str, done: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, text) = dev.admin(part, "/metrics");
        assert_eq!(status, 200, "{text}");
        let samples = parse_metrics(&text);
        if done(&samples) {
            return samples;
        }
        assert!(Instant::now() < deadline, "metrics never settled:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `settled` over every part's admin port at once. Each port must show only
/// its own part's series (by their `questline_service` label).
pub fn settled_all(dev: &Dev, done: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut all = Vec::new();
        for part in PARTS {
            let (status, text) = dev.admin(part, "/metrics");
            assert_eq!(status, 200, "{text}");
            let samples = parse_metrics(&text);
            let strangers: Vec<_> = samples
                .iter()
                .filter(|s| s.labels.get("questline_service").is_some_and(|p| p != part))
                .collect();
            assert!(strangers.is_empty(), "{part}'s port shows {strangers:?}");
            all.extend(samples);
        }
        if done(&all) {
            return all;
        }
        assert!(Instant::now() < deadline, "metrics never settled");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The samples named `name` whose labels include `with`.
fn matching<'a>(samples: &'a [Sample], name: &str, with: &[(&str, &str)]) -> Vec<&'a Sample> {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            with.iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
        })
        .collect()
}

/// The value of the one sample named `name` with labels `with`, if one.
pub fn find(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> Option<f64> {
    let found = matching(samples, name, with);
    (found.len() == 1).then(|| found[0].value)
}

/// The value of the one sample named `name` whose labels include `with`.
pub fn value(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> f64 {
    let found = matching(samples, name, with);
    assert_eq!(found.len(), 1, "{name} {with:?}: {found:?}");
    found[0].value
}

/// The demo's member makes two purchases (25 and 10 stars), one of them
/// replayed, buys a pastry for 20 stars and is refused a pizza for want of
/// stars; returns once her inbox holds its 3 messages.
pub fn demo_flow(dev: &Dev) -> usize {
    for (event_id, amount) in [("order-1", 250), ("order-2", 100), ("order-1", 250)] {
        let (status, body) = dev.http(
            "POST",
            "/v1/events",
            &purchase(&dev.member_id, event_id, amount),
        );
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = dev.http("POST", "/v1/redemptions", &redeem(dev, "treat-1", "pastry"));
    assert_eq!(status, 200, "{body}");
    let (status, body) = dev.http("POST", "/v1/redemptions", &redeem(dev, "treat-2", "pizza"));
    assert_eq!(status, 409, "{body}");
    wait_for_inbox(dev, &dev.member_id, 3)
}
