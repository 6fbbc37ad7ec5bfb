//! `questline dev` as a user runs it: the real binary, its demo programme, a
//! purchase through the gateway, SIGTERM, and a restart that keeps the data.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Dev {
    child: Child,
    gateway: String,
    api_key: String,
    member_id: String,
}

/// Starts `questline dev` on free ports and reads its welcome text.
fn start(data_dir: &std::path::Path) -> Dev {
    let mut command = Command::new(env!("CARGO_BIN_EXE_questline"));
    command.arg("dev").arg("--data-dir").arg(data_dir);
    for part in [
        "IDENTITY",
        "LEDGER",
        "MECHANICS",
        "REWARDS",
        "NOTIFICATIONS",
        "GATEWAY",
    ] {
        command.env(format!("QUESTLINE__{part}__LISTEN"), "127.0.0.1:0");
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut field = |prefix: &str| loop {
        let line = lines.next().expect("questline dev ended early").unwrap();
        if let Some(rest) = line.trim_start().strip_prefix(prefix) {
            return rest.trim().to_string();
        }
    };
    let gateway = field("gateway");
    let api_key = field("API key:");
    let member_id = field("member:")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    Dev {
        child,
        gateway,
        api_key,
        member_id,
    }
}

impl Dev {
    /// One HTTP/1.1 exchange with the gateway; returns (status, body).
    fn http(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.gateway).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nX-Api-Key: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.gateway,
            self.api_key,
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    fn stars(&self) -> String {
        let (status, body) = self.http(
            "GET",
            &format!("/v1/members/{}/balances", self.member_id),
            "",
        );
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Sends SIGTERM and returns how long the process took to exit.
    fn terminate(mut self) -> Duration {
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

#[test]
fn dev_stops_on_sigterm_within_five_seconds_and_keeps_its_data() {
    let data = tempfile::tempdir().unwrap();
    let dev = start(data.path());
    let purchase = format!(
        r#"{{"event_id":"first-coffee","member_id":"{}","type":"purchase","attributes":{{"amount":250}}}}"#,
        dev.member_id
    );
    let (status, body) = dev.http("POST", "/v1/events", &purchase);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""points":25"#), "{body}");
    let before = dev.stars();
    assert!(before.contains(r#""total":25"#), "{before}");
    let first_key = dev.api_key.clone();
    let took = dev.terminate();
    assert!(took < Duration::from_secs(5), "took {took:?}");

    let again = start(data.path());
    assert_eq!(again.api_key, first_key, "the demo is loaded once");
    assert_eq!(again.stars(), before);
    let (status, body) = again.http("POST", "/v1/events", &purchase);
    assert_eq!(status, 200, "{body}");
    assert_eq!(again.stars(), before, "a replayed purchase earns nothing");
    let took = again.terminate();
    assert!(took < Duration::from_secs(5), "took {took:?}");
}
