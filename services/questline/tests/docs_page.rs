//! `/docs` as a browser shows it (issue 18, check 5): headless Chromium
//! renders the Swagger UI page from the real `questline dev`, takes a
//! screenshot, and every request the page made went to the gateway itself.
//! Chromium comes from Debian (`.ci/run` installs it); without it the test
//! is skipped, except in CI where it fails.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::Command;

/// Chromium, headless, with its own background traffic off and every host
/// but loopback unresolvable: nothing can leave the machine.
fn chromium(out: &Path, url: &str, extra: &[&str]) -> std::process::Output {
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1800",
            "--virtual-time-budget=8000",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        ])
        .arg(format!("--user-data-dir={}", out.join("profile").display()))
        .args(extra)
        .arg(url)
        .output()
        .unwrap()
}

fn have_chromium() -> bool {
    let found = Command::new("chromium").arg("--version").output().is_ok();
    assert!(
        found || std::env::var("CI").is_err(),
        "CI needs Chromium (Debian's chromium package) for the /docs page"
    );
    found
}

#[test]
fn the_docs_page_renders_from_the_binary_alone() {
    if !have_chromium() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let dev = support::start(data.path());
    let origin = format!("http://{}", dev.gateway);
    let page = format!("{origin}/docs/");

    let net_log = out.path().join("net.json");
    let dom = chromium(
        out.path(),
        &page,
        &[
            "--dump-dom",
            &format!("--log-net-log={}", net_log.display()),
        ],
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    // Rendered by Swagger UI's script from /openapi.json, not in the HTML.
    assert!(dom.contains("Questline partner API"), "{dom}");
    assert!(dom.contains("/v1/events/batch"));
    assert!(dom.contains("/v1/me/inbox/stream"));

    // Every request the page made (its initiator is the page's origin) went
    // to the gateway: the assets are compiled into the binary.
    let log: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&net_log).unwrap()).unwrap();
    let by_page: Vec<&str> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["params"]["initiator"] == origin.as_str())
        .filter_map(|e| e["params"]["url"].as_str())
        .collect();
    assert!(
        by_page.iter().any(|u| u.ends_with("/openapi.json")),
        "{by_page:?}"
    );
    assert!(by_page.iter().any(|u| u.ends_with("swagger-ui-bundle.js")));
    let elsewhere: Vec<_> = by_page.iter().filter(|u| !u.starts_with(&origin)).collect();
    assert!(elsewhere.is_empty(), "the page fetched {elsewhere:?}");

    let shot = out.path().join("docs.png");
    chromium(
        out.path(),
        &page,
        &[&format!("--screenshot={}", shot.display())],
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    // A blank page of that size compresses to a few kilobytes.
    assert!(png.len() > 50_000, "screenshot of {} bytes", png.len());
    dev.terminate();
}
