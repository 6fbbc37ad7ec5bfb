//! The partner API from outside (issue 18): a member app acting for its
//! member (check 4, every route taken from the OpenAPI document, not listed
//! here) and rate limits per API client through the whole mesh (check 3).

#![allow(clippy::unwrap_used)]

use questline_tests::{Harness, PASTRY, Rest, each_backend};
use serde_json::{Value, json};

/// Reads anyone may make with a member token: the tenant's shop window.
const SHOP_WINDOW: [(&str, &str); 2] = [("get", "/v1/rewards"), ("get", "/v1/rewards/{reward_id}")];

/// An email's unsubscribe link needs no credentials: its page changes
/// nothing, and only a link the engine signed turns anything off (here,
/// one forged for Bob).
const LINKS: [(&str, &str, u16); 2] = [
    ("get", "/v1/unsubscribe/{token}", 200),
    ("post", "/v1/unsubscribe/{token}", 400),
];

/// What the routes name, all of it another member's (or the tenant's).
struct Theirs {
    member_id: String,
    /// An unsubscribe link for Bob, signed with a made-up key.
    link_token: String,
    transfer_id: String,
    redemption_id: String,
}

fn key(api_key: &str) -> [(&'static str, String); 1] {
    [("x-api-key", api_key.to_string())]
}

async fn send(
    rest: &Rest,
    verb: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<&Value>,
) -> questline_tests::Answer {
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let method = reqwest::Method::from_bytes(verb.to_uppercase().as_bytes()).unwrap();
    rest.send(method, path, &headers, body).await
}

/// Every `member_id` in `body` becomes `member_id`.
fn aimed_at(body: &mut Value, member_id: &str) {
    match body {
        Value::Object(fields) => {
            for (name, value) in fields.iter_mut() {
                if name == "member_id" {
                    *value = json!(member_id);
                } else {
                    aimed_at(value, member_id);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| aimed_at(i, member_id)),
        _ => {}
    }
}

/// A request body's example: the operation's own, or its schema's.
fn example(document: &Value, request_body: &Value) -> Value {
    let content = &request_body["content"]["application/json"];
    if !content["example"].is_null() {
        return content["example"].clone();
    }
    let name = content["schema"]["$ref"]
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .unwrap_or_default();
    document["components"]["schemas"][name]["example"].clone()
}

fn concrete(path: &str, theirs: &Theirs) -> String {
    // Messages are triggered by the engine's event types, not the tenant's.
    let messages = path.contains("notification-triggers") || path.contains("message-templates");
    let path = if messages {
        path.replace("{event_type}", "points.credited")
            .replace("{channel}", "CHANNEL_INBOX")
            .replace("{locale}", "en")
    } else {
        path.to_string()
    };
    path.replace("{member_id}", &theirs.member_id)
        .replace("{transfer_id}", &theirs.transfer_id)
        .replace("{redemption_id}", &theirs.redemption_id)
        .replace("{reward_id}", PASTRY)
        .replace("{segment_id}", "everyone")
        .replace("{external_id}", "bob")
        .replace("{rule_id}", "stars-per-purchase")
        .replace("{event_id}", "bob-1")
        .replace("{event_type}", "purchase")
        .replace("{counter_id}", "scans_today")
        .replace("{endpoint_id}", "crm")
        .replace("{delivery_id}", "msg_0")
        .replace("{message_id}", "01a242f4-0926-77f5-9b24-7e66a706fc16")
        .replace("{token}", &theirs.link_token)
}

/// An unsubscribe token naming `member_id` of `tenant_id`, signed with a made-up key.
fn forged_link(tenant_id: &str, member_id: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claim = json!([tenant_id, member_id, "email", "points"]).to_string();
    format!("{}.{}", b64.encode(claim), b64.encode([7u8; 16]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_app_reaches_its_own_member_and_no_other_on_any_route() {
    each_backend(|backend| async move {
        let h = Harness::start(backend).await;
        let p = h.programme("member-app").await;
        let rest = h.rest();
        let server = key(&p.api_key);

        // Bob, another member, with stars, a transfer and a pastry.
        let bob = send(&rest, "put", "/v1/members/by-external-id/bob", &server, Some(&json!({"display_name": "Bob"}))).await;
        let bob_id = bob.body["member"]["member_id"].as_str().unwrap().to_string();
        let earned = send(&rest, "post", "/v1/events", &server, Some(&json!({"event_id": "bob-1", "member_id": bob_id, "type": "purchase", "attributes": {"amount": 500}}))).await;
        let theirs = Theirs {
            link_token: forged_link(&p.tenant_id, &bob_id),
            member_id: bob_id.clone(),
            transfer_id: earned.body["awards"][0]["transfer_id"].as_str().unwrap().to_string(),
            redemption_id: "bob-treat".into(),
        };
        let treat = json!({"redemption_id": "bob-treat", "member_id": bob_id, "reward_id": PASTRY});
        assert_eq!(send(&rest, "post", "/v1/redemptions", &server, Some(&treat)).await.status, 200);
        let everyone = json!({"segment_id": "everyone", "name": "Everyone", "predicate": "true"});
        assert_eq!(send(&rest, "post", "/v1/segments", &server, Some(&everyone)).await.status, 201);
        // A partner may name Bob by the id it gave him instead.
        let by_card = send(&rest, "get", "/v1/members/by-external-id/bob", &server, None).await;
        assert_eq!(by_card.body["member_id"], bob_id.as_str(), "{:?}", by_card.body);
        let scan = json!({"event_id": "bob-2", "external_id": "bob", "type": "purchase", "attributes": {"amount": 100}});
        let scanned = send(&rest, "post", "/v1/events", &server, Some(&scan)).await;
        assert_eq!((scanned.status, &scanned.body["member_id"]), (200, &json!(bob_id)), "{:?}", scanned.body);
        let both = json!({"event_id": "bob-3", "member_id": bob_id, "external_id": "bob", "type": "purchase"});
        let refused = send(&rest, "post", "/v1/events", &server, Some(&both)).await;
        assert_eq!(refused.status, 400, "{:?}", refused.body);
        assert_eq!(refused.body["errors"][0]["field"], "external_id", "{:?}", refused.body);
        let bob_before = send(&rest, "get", &format!("/v1/members/{bob_id}/balances"), &server, None).await.body;

        // Alice's app: her token, her stars, her pastry, her inbox.
        let path = format!("/v1/members/{}/tokens", p.member_id);
        let minted = send(&rest, "post", &path, &server, Some(&json!({}))).await;
        let token = minted.body["access_token"].as_str().unwrap().to_string();
        let app = [("authorization", format!("Bearer {token}"))];
        let purchase = json!({"event_id": "alice-1", "member_id": p.member_id, "type": "purchase", "attributes": {"amount": 250}});
        assert_eq!(send(&rest, "post", "/v1/events", &server, Some(&purchase)).await.status, 200);
        let mine = send(&rest, "get", "/v1/me/balances", &app, None).await;
        assert_eq!(mine.body["balances"][0]["available"], 25, "{:?}", mine.body);
        let own = json!({"redemption_id": "alice-treat", "member_id": p.member_id, "reward_id": PASTRY});
        let redeemed = send(&rest, "post", "/v1/redemptions", &app, Some(&own)).await;
        assert_eq!(redeemed.body["status"], "completed", "{:?}", redeemed.body);
        let read = send(&rest, "get", "/v1/redemptions/alice-treat", &app, None).await;
        assert_eq!(read.body["voucher_code"], redeemed.body["voucher_code"]);
        assert_eq!(send(&rest, "get", "/v1/me/history?currency=stars", &app, None).await.status, 200);
        assert_eq!(send(&rest, "get", "/v1/me/inbox", &app, None).await.status, 200);
        assert_eq!(send(&rest, "get", &format!("/v1/members/{}", p.member_id), &app, None).await.status, 200);

        // Every other route of the document, aimed at Bob or the tenant.
        let document = send(&rest, "get", "/openapi.json", &[], None).await.body;
        let mut tried = 0;
        let mut crossed = Vec::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            if path == "/v1/me" || path.starts_with("/v1/me/") {
                continue;
            }
            for (verb, operation) in item.as_object().unwrap() {
                let mut body = example(&document, &operation["requestBody"]);
                let body = operation.get("requestBody").map(|_| {
                    if body.is_null() {
                        body = json!({});
                    }
                    aimed_at(&mut body, &bob_id);
                    body
                });
                let mut target = concrete(path, &theirs);
                if path.ends_with("/history") {
                    target.push_str("?currency=stars");
                }
                let answer = send(&rest, verb, &target, &app, body.as_ref()).await;
                tried += 1;
                let allowed = SHOP_WINDOW.contains(&(verb.as_str(), path.as_str()));
                let refused = matches!(answer.status, 403 | 404);
                let link = LINKS.iter().find(|(v, p, _)| v == verb && p == path);
                if let Some((_, _, status)) = link {
                    if answer.status != *status {
                        crossed.push(format!("{verb} {path}: {} {}", answer.status, answer.body));
                    }
                } else if (allowed && answer.status != 200) || (!allowed && !refused) {
                    crossed.push(format!("{verb} {path}: {} {}", answer.status, answer.body));
                }
            }
        }
        assert!(tried >= 30, "only {tried} operations in the document");
        assert!(crossed.is_empty(), "a member token reached further: {crossed:#?}");
        let bob_after = send(&rest, "get", &format!("/v1/members/{bob_id}/balances"), &server, None).await.body;
        assert_eq!(bob_after, bob_before);
        h.cleanup().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_noisy_client_is_held_to_its_quota_and_another_is_not_slowed() {
    each_backend(|backend| async move {
        let mut h = Harness::start(backend).await;
        h.settings.gateway.rate_limit_per_second = 5;
        h.restart().await;
        let p = h.programme("quota").await;
        let quiet = h.server_client(&p, "quiet-till").await;
        let rest = h.rest();
        let burst = (0..20).map(|_| {
            let (rest, key) = (rest.clone(), p.api_key.clone());
            tokio::spawn(async move {
                send(&rest, "get", "/v1/rewards", &[("x-api-key", key)], None).await
            })
        });
        let mut refused = Vec::new();
        for answer in burst {
            let answer = answer.await.unwrap();
            assert!(answer.header("ratelimit-policy").is_some());
            if answer.status == 429 {
                refused.push(answer);
            }
        }
        assert!(refused.len() >= 10, "{} of 20 refused", refused.len());
        let one = &refused[0];
        assert!(one.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
        assert!(one.header("ratelimit").unwrap().contains("r=0"));
        assert_eq!(one.header("content-type"), Some("application/problem+json"));
        for _ in 0..5 {
            let answer = send(&rest, "get", "/v1/rewards", &key(&quiet), None).await;
            assert_eq!(answer.status, 200, "{:?}", answer.body);
        }
        h.cleanup().await;
    })
    .await;
}
