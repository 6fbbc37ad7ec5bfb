//! The key rules on a real SQLite file; `tests/idempotency.rs` runs them
//! through the gateway on PostgreSQL too.

use super::*;

async fn keys(dir: &tempfile::TempDir) -> Keys {
    let url = format!("sqlite://{}/gateway.db?mode=rwc", dir.path().display());
    Keys::new(
        questline_kit::db::connect::<migrations::Migrator>(&url)
            .await
            .unwrap(),
    )
}

fn answer(status: u16) -> Answer {
    Answer {
        status,
        content_type: "application/json".into(),
        body: br#"{"ok":true}"#.to_vec(),
    }
}

#[tokio::test]
async fn a_key_runs_once_then_replays_its_answer() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(&dir).await;
    assert_eq!(
        keys.claim("t/c", "k", "fp", 0, 30).await.unwrap(),
        Claim::Run
    );
    assert_eq!(
        keys.claim("t/c", "k", "fp", 1, 31).await.unwrap(),
        Claim::InFlight
    );
    keys.keep("t/c", "k", &answer(201)).await.unwrap();
    assert_eq!(
        keys.claim("t/c", "k", "fp", 2, 32).await.unwrap(),
        Claim::Replay(answer(201))
    );
    // A later answer never replaces the first.
    keys.keep("t/c", "k", &answer(500)).await.unwrap();
    assert_eq!(
        keys.claim("t/c", "k", "fp", 3, 33).await.unwrap(),
        Claim::Replay(answer(201))
    );
}

#[tokio::test]
async fn another_body_under_the_same_key_is_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(&dir).await;
    keys.claim("t/c", "k", "fp", 0, 30).await.unwrap();
    assert_eq!(
        keys.claim("t/c", "k", "other", 1, 31).await.unwrap(),
        Claim::Mismatch
    );
    keys.keep("t/c", "k", &answer(200)).await.unwrap();
    assert_eq!(
        keys.claim("t/c", "k", "other", 2, 32).await.unwrap(),
        Claim::Mismatch
    );
}

#[tokio::test]
async fn keys_are_each_clients_own() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(&dir).await;
    keys.claim("t/a", "k", "fp", 0, 30).await.unwrap();
    keys.keep("t/a", "k", &answer(200)).await.unwrap();
    assert_eq!(
        keys.claim("t/b", "k", "fp", 1, 31).await.unwrap(),
        Claim::Run
    );
    assert_eq!(
        keys.claim("u/a", "k", "x", 1, 31).await.unwrap(),
        Claim::Run
    );
}

#[tokio::test]
async fn a_lapsed_lease_passes_to_the_next_request_once() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(&dir).await;
    keys.claim("t/c", "k", "fp", 0, 30).await.unwrap();
    assert_eq!(
        keys.claim("t/c", "k", "fp", 31, 60).await.unwrap(),
        Claim::Run
    );
    assert_eq!(
        keys.claim("t/c", "k", "fp", 32, 61).await.unwrap(),
        Claim::InFlight
    );
}

#[tokio::test]
async fn a_released_or_expired_key_runs_again() {
    let dir = tempfile::tempdir().unwrap();
    let keys = keys(&dir).await;
    keys.claim("t/c", "k", "fp", 0, 30).await.unwrap();
    keys.release("t/c", "k").await.unwrap();
    assert_eq!(
        keys.claim("t/c", "k", "x", 1, 31).await.unwrap(),
        Claim::Run
    );
    keys.keep("t/c", "k", &answer(200)).await.unwrap();
    let later = 1 + KEPT_MS;
    assert_eq!(
        keys.claim("t/c", "k", "y", later, later + 30)
            .await
            .unwrap(),
        Claim::Run
    );
    assert_eq!(keys.prune(later + KEPT_MS).await.unwrap(), 1);
}
