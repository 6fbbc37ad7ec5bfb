//! Starts the whole mesh for a test: SQLite files in a temp dir and the
//! in-process bus, or — when `QUESTLINE_TEST_POSTGRES_URL` and
//! `QUESTLINE_TEST_NATS_URL` are set — fresh PostgreSQL databases and a fresh
//! JetStream stream, all with unique names and removed afterwards.

#![allow(clippy::unwrap_used)]

pub mod proxy;
pub mod raw;

use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use questline::mesh::{Mesh, Part};
use questline_kit::bus::NatsBus;
use questline_kit::client::{Intercepted, Outgoing};
use questline_kit::config::{BusKind, ServiceKind, Settings};
use questline_proto::identity::identity_service_client::IdentityServiceClient;
use questline_proto::ledger::ledger_service_client::LedgerServiceClient;
use questline_proto::mechanics::mechanics_service_client::MechanicsServiceClient;
use questline_proto::notifications::notifications_service_client::NotificationsServiceClient;
use questline_proto::rewards::rewards_service_client::RewardsServiceClient;
use sea_orm::{ConnectionTrait, Database};
use std::sync::OnceLock;
use std::time::Duration;

/// Where the services keep their data and events in a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    SqliteMemoryBus,
    PostgresNats,
}

impl Backend {
    /// SQLite always; PostgreSQL + NATS when both URLs are set (CI sets them).
    pub fn available() -> Vec<Backend> {
        let mut all = vec![Backend::SqliteMemoryBus];
        if pg_url().is_some() && nats_url().is_some() {
            all.push(Backend::PostgresNats);
        }
        all
    }
}

fn pg_url() -> Option<String> {
    std::env::var("QUESTLINE_TEST_POSTGRES_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

fn nats_url() -> Option<String> {
    std::env::var("QUESTLINE_TEST_NATS_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// Every span of every service in this test process, for trace assertions.
pub fn spans() -> &'static InMemorySpanExporter {
    static SPANS: OnceLock<InMemorySpanExporter> = OnceLock::new();
    SPANS.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let capture = tracing_subscriber::fmt::writer::BoxMakeWriter::new(|| LogLines);
        questline_kit::telemetry::init_for_tests(&provider, capture);
        // The provider must outlive every test; leak it on purpose.
        std::mem::forget(provider);
        exporter
    })
}

/// Runs `test` once per available backend.
pub async fn each_backend<F, Fut>(test: F)
where
    F: Fn(Backend) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for backend in Backend::available() {
        test(backend).await;
    }
}

/// Every log line of every service in this test process, down to `debug`.
static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct LogLines;

impl std::io::Write for LogLines {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What the services have logged so far in this process.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// Where each of `needles` (or its bytes in hex, as blobs show) appears in `text`.
pub fn find_in(place: &str, text: &str, needles: &[&str]) -> Vec<String> {
    let text = text.to_lowercase();
    needles
        .iter()
        .filter(|n| {
            let plain = n.to_lowercase();
            let hex: String = n.bytes().map(|b| format!("{b:02x}")).collect();
            text.contains(&plain) || text.contains(&hex)
        })
        .map(|n| format!("{place}: {n}"))
        .collect()
}

pub struct Harness {
    pub mesh: Option<Mesh>,
    pub settings: Settings,
    pub backend: Backend,
    pub operator_key: String,
    databases: Vec<String>,
    _dir: tempfile::TempDir,
}

impl Harness {
    pub async fn start(backend: Backend) -> Harness {
        Harness::start_with(backend, |_| {}).await
    }

    /// Starts every part with settings `configure` changes first.
    pub async fn start_with(backend: Backend, configure: impl FnOnce(&mut Settings)) -> Harness {
        spans();
        let dir = tempfile::tempdir().unwrap();
        let unique = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
        let mut settings = Settings {
            data_dir: dir.path().to_string_lossy().into_owned(),
            ..Settings::default()
        };
        settings.auth.operator_key = format!("test-operator-{unique}");
        settings.gateway.listen = "127.0.0.1:0".into();
        settings.gateway.admin_listen = "127.0.0.1:0".into();
        for kind in ServiceKind::ALL {
            settings.service_mut(kind).listen = "127.0.0.1:0".into();
            settings.service_mut(kind).admin_listen = "127.0.0.1:0".into();
        }
        let mut databases = Vec::new();
        if backend == Backend::PostgresNats {
            let admin = pg_url().unwrap();
            let db = Database::connect(admin.as_str()).await.unwrap();
            for kind in ServiceKind::ALL {
                let name = format!("ql_{unique}_{}", kind.name());
                db.execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap();
                settings.service_mut(kind).database_url = with_database(&admin, &name);
                databases.push(name);
            }
            let name = format!("ql_{unique}_gateway");
            db.execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            settings.gateway.database_url = with_database(&admin, &name);
            databases.push(name);
            settings.bus.kind = BusKind::Nats;
            settings.bus.nats_url = nats_url().unwrap();
            settings.bus.stream = format!("QT_{unique}");
            settings.bus.subject_prefix = format!("qt{unique}");
        }
        configure(&mut settings);
        let mut harness = Harness {
            mesh: None,
            settings,
            backend,
            operator_key: String::new(),
            databases,
            _dir: dir,
        };
        harness.operator_key = harness.settings.auth.operator_key.clone();
        harness.restart().await;
        harness
    }

    /// Starts (again) every part on the same data.
    pub async fn restart(&mut self) {
        self.restart_without(&[]).await;
    }

    /// Starts (again) every part but `down`, whose address then answers nothing.
    pub async fn restart_without(&mut self, down: &[ServiceKind]) {
        let mut settings = self.settings.clone();
        for kind in down {
            settings.service_mut(*kind).endpoint = "http://127.0.0.1:9".into();
        }
        let parts: Vec<Part> = Part::all()
            .into_iter()
            .filter(|p| !matches!(p, Part::Service(kind) if down.contains(kind)))
            .collect();
        self.start_parts(settings, &parts, &[]).await;
    }

    /// Starts (again) every part, each of `proxied` reached by every caller
    /// (the other parts and this harness) through its proxy.
    pub async fn restart_through(&mut self, proxied: &[(ServiceKind, &proxy::Proxy)]) {
        let mut settings = self.settings.clone();
        for (kind, proxy) in proxied {
            settings.service_mut(*kind).endpoint = proxy.endpoint();
        }
        self.start_parts(settings, &Part::all(), proxied).await;
    }

    async fn start_parts(
        &mut self,
        settings: Settings,
        parts: &[Part],
        proxied: &[(ServiceKind, &proxy::Proxy)],
    ) {
        if let Some(mesh) = self.mesh.take() {
            mesh.stop().await;
        }
        let mut mesh = Mesh::start(settings, parts).await.unwrap();
        for (kind, proxy) in proxied {
            proxy.aim(mesh.addrs[&Part::Service(*kind)]);
        }
        mesh.ready(Duration::from_secs(30)).await.unwrap();
        questline::enrol::enrol(&mesh).await.unwrap();
        self.mesh = Some(mesh);
    }

    pub fn mesh(&self) -> &Mesh {
        self.mesh.as_ref().unwrap()
    }

    pub fn gateway(&self) -> String {
        format!("http://{}", self.mesh().addrs[&Part::Gateway])
    }

    /// gRPC clients acting with `token` (or anonymously).
    pub fn api(&self, token: Option<&str>) -> Api {
        let outgoing = token.map(Outgoing::bearer).unwrap_or_default();
        let channel = |kind| questline_kit::client::channel(&self.mesh().endpoint(kind)).unwrap();
        Api {
            identity: IdentityServiceClient::with_interceptor(
                channel(ServiceKind::Identity),
                outgoing.clone(),
            ),
            ledger: LedgerServiceClient::with_interceptor(
                channel(ServiceKind::Ledger),
                outgoing.clone(),
            ),
            mechanics: MechanicsServiceClient::with_interceptor(
                channel(ServiceKind::Mechanics),
                outgoing.clone(),
            ),
            rewards: RewardsServiceClient::with_interceptor(
                channel(ServiceKind::Rewards),
                outgoing.clone(),
            ),
            notifications: NotificationsServiceClient::with_interceptor(
                channel(ServiceKind::Notifications),
                outgoing,
            ),
        }
    }

    /// Every row of every table of every service's database, one text per
    /// row, as `(service.table, row)`.
    pub async fn database_rows(&self) -> Vec<(String, String)> {
        let mut all = Vec::new();
        for kind in ServiceKind::ALL {
            let url = self.settings.database_url(kind);
            let db = Database::connect(url.as_str()).await.unwrap();
            let sqlite = url.starts_with("sqlite");
            let tables = if sqlite {
                "SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            } else {
                "SELECT tablename::text AS t FROM pg_tables WHERE schemaname = 'public'"
            };
            for table in texts(&db, tables, "t").await {
                let rows = if sqlite {
                    let columns = texts(
                        &db,
                        &format!("SELECT name AS c FROM pragma_table_info('{table}')"),
                        "c",
                    )
                    .await;
                    let quoted: Vec<String> =
                        columns.iter().map(|c| format!("quote(\"{c}\")")).collect();
                    format!(
                        "SELECT {} AS r FROM \"{table}\"",
                        quoted.join(" || '|' || ")
                    )
                } else {
                    format!("SELECT t::text AS r FROM \"{table}\" t")
                };
                for row in texts(&db, &rows, "r").await {
                    all.push((format!("{}.{table}", kind.name()), row));
                }
            }
            db.close().await.unwrap();
        }
        all
    }

    /// Every database's rows once the services are idle: events staged by
    /// earlier calls (audit entries, read models, inbox marks) are consumed
    /// in the background, so a "nothing changed" check starts from here.
    pub async fn quiet_rows(&self) -> Vec<(String, String)> {
        let mut last = self.database_rows().await;
        loop {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let now = self.database_rows().await;
            if now == last {
                return now;
            }
            last = now;
        }
    }

    /// Where any of `needles` appears in any service's database.
    pub async fn find_in_databases(&self, needles: &[&str]) -> Vec<String> {
        let mut found = Vec::new();
        for (place, row) in self.database_rows().await {
            found.extend(find_in(&place, &row, needles));
        }
        found
    }

    /// Stops the mesh and removes the databases and stream it used.
    pub async fn cleanup(mut self) {
        if let Some(mesh) = self.mesh.take() {
            mesh.stop().await;
        }
        if self.backend == Backend::PostgresNats {
            remove(
                std::mem::take(&mut self.databases),
                self.settings.bus.clone(),
            )
            .await;
        }
    }
}

/// A test that panicked never reached `cleanup`: remove what it made anyway,
/// on a runtime of its own since the test's may be gone.
impl Drop for Harness {
    fn drop(&mut self) {
        if self.backend != Backend::PostgresNats || self.databases.is_empty() {
            return;
        }
        let databases = std::mem::take(&mut self.databases);
        let bus = self.settings.bus.clone();
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(remove(databases, bus));
        })
        .join();
    }
}

async fn remove(databases: Vec<String>, bus: questline_kit::config::BusSettings) {
    if let Ok(db) = Database::connect(pg_url().unwrap().as_str()).await {
        for name in &databases {
            let dropped = db
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
            if let Err(err) = dropped {
                tracing::warn!(%name, %err, "test database left behind");
            }
        }
    }
    if let Ok(nats) = NatsBus::connect(&bus).await {
        let _ = nats.delete_stream().await;
    }
}

async fn texts(db: &sea_orm::DatabaseConnection, sql: &str, column: &str) -> Vec<String> {
    let statement = sea_orm::Statement::from_string(db.get_database_backend(), sql);
    db.query_all_raw(statement)
        .await
        .unwrap()
        .into_iter()
        .map(|row| row.try_get::<String>("", column).unwrap())
        .collect()
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let root = base.rsplit_once('/').map(|(r, _)| r).unwrap_or(base);
    format!("{root}/{name}{query}")
}

/// The gateway's REST API as a partner app calls it.
#[derive(Clone)]
pub struct Rest {
    pub base: String,
    pub http: reqwest::Client,
}

/// An answer of the REST API: status, headers and the body as JSON
/// (`Null` when empty or not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: serde_json::Value,
    pub bytes: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Rest {
    /// A request to `path` with `headers` (name, value) and an optional JSON body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap().to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Answer {
            status,
            headers,
            body,
            bytes,
        }
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.send(reqwest::Method::GET, path, headers, None).await
    }

    pub async fn post(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &serde_json::Value,
    ) -> Answer {
        self.send(reqwest::Method::POST, path, headers, Some(body))
            .await
    }
}

impl Harness {
    pub fn rest(&self) -> Rest {
        Rest {
            base: self.gateway(),
            http: reqwest::Client::new(),
        }
    }
}

#[derive(Clone)]
pub struct Api {
    pub identity: IdentityServiceClient<Intercepted>,
    pub ledger: LedgerServiceClient<Intercepted>,
    pub mechanics: MechanicsServiceClient<Intercepted>,
    pub rewards: RewardsServiceClient<Intercepted>,
    pub notifications: NotificationsServiceClient<Intercepted>,
}

impl Api {
    /// Registers (or finds) the tenant's member by `external_id`; its member id.
    pub async fn upsert_member(
        &mut self,
        tenant_id: &str,
        external_id: &str,
        profile: Option<questline_proto::identity::Profile>,
    ) -> String {
        self.identity
            .upsert_member(questline_proto::identity::UpsertMemberRequest {
                tenant_id: tenant_id.into(),
                external_id: external_id.into(),
                profile,
            })
            .await
            .unwrap()
            .into_inner()
            .member
            .unwrap()
            .member_id
    }
}

/// Retries `check` until it returns Some, for effects that travel by event.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A tenant with a server key, the stars currency, a purchase rule, two
/// rewards (one generated, one from an empty pool) and one member.
#[derive(Debug, Clone)]
pub struct Programme {
    pub tenant_id: String,
    /// The backend client (admin + server), its key and a token of it.
    pub client_id: String,
    pub api_key: String,
    pub token: String,
    pub member_id: String,
}

pub const PASTRY: &str = "pastry";
/// Priced 5 stars, pool-sourced, with no codes uploaded: redeeming it always
/// fails after the points are held.
pub const MUG: &str = "mug";

impl Harness {
    pub async fn operator_token(&self) -> String {
        self.token_for(&self.operator_key).await.unwrap()
    }

    /// A member token for `member_id`, minted by the programme's backend.
    pub async fn member_token(&self, p: &Programme, member_id: &str) -> String {
        use questline_proto::identity::IssueMemberTokenRequest;
        let request = IssueMemberTokenRequest {
            tenant_id: p.tenant_id.clone(),
            member_id: member_id.into(),
        };
        let mut api = self.api(Some(&p.token));
        let minted = api.identity.issue_member_token(request).await.unwrap();
        minted.into_inner().access_token
    }

    /// Rotates the programme's backend key; the new key, or empty on a replay.
    pub async fn rotate_key(&self, p: &Programme, grace_seconds: i64, key: &str) -> String {
        use questline_proto::identity::RotateApiKeyRequest;
        let request = RotateApiKeyRequest {
            tenant_id: p.tenant_id.clone(),
            client_id: p.client_id.clone(),
            grace_seconds,
            idempotency_key: key.into(),
        };
        let mut api = self.api(Some(&p.token));
        let rotated = api.identity.rotate_api_key(request).await.unwrap();
        rotated.into_inner().api_key
    }

    /// A second `server` client of the programme's tenant; its API key.
    pub async fn server_client(&self, p: &Programme, name: &str) -> String {
        use questline_proto::identity::{CreateApiClientRequest, Scope};
        let request = CreateApiClientRequest {
            tenant_id: p.tenant_id.clone(),
            name: name.into(),
            scopes: vec![Scope::Server as i32],
            idempotency_key: name.into(),
        };
        let mut api = self.api(Some(&p.token));
        let created = api.identity.create_api_client(request).await.unwrap();
        created.into_inner().api_key
    }

    /// Exchanges an API key for a token.
    pub async fn token_for(&self, api_key: &str) -> Result<String, tonic::Status> {
        use questline_proto::identity::IssueTokenRequest;
        let request = IssueTokenRequest {
            api_key: api_key.into(),
            tenant_id: String::new(),
        };
        let answer = self.api(None).identity.issue_token(request).await?;
        Ok(answer.into_inner().access_token)
    }

    pub async fn programme(&self, name: &str) -> Programme {
        use questline_proto::identity::{self as id};
        use questline_proto::ledger::CreateCurrencyRequest;
        use questline_proto::rewards::{CreateRewardRequest, VoucherSource};
        let tenant_id = format!("{name}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let operator = self.api(Some(&self.operator_token().await));
        let mut identity = operator.identity;
        identity
            .create_tenant(id::CreateTenantRequest {
                tenant_id: tenant_id.clone(),
                name: name.into(),
                time_zone: "Europe/London".into(),
                default_locale: "en-GB".into(),
            })
            .await
            .unwrap();
        let created = identity
            .create_api_client(id::CreateApiClientRequest {
                tenant_id: tenant_id.clone(),
                name: "backend".into(),
                scopes: vec![id::Scope::Admin as i32, id::Scope::Server as i32],
                idempotency_key: "backend".into(),
            })
            .await
            .unwrap()
            .into_inner();
        let api_key = created.api_key;
        let client_id = created.client.unwrap().client_id;
        let token = self.token_for(&api_key).await.unwrap();
        let mut api = self.api(Some(&token));
        api.ledger
            .create_currency(CreateCurrencyRequest {
                tenant_id: tenant_id.clone(),
                code: "stars".into(),
                name: "Stars".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        api.mechanics
            .create_rule(purchase_rule(
                &tenant_id,
                "stars-per-purchase",
                "event.amount > 0.0",
                "event.amount / 10.0",
            ))
            .await
            .unwrap();
        for (reward_id, price, source) in [
            (PASTRY, 20, VoucherSource::Generated),
            (MUG, 5, VoucherSource::Pool),
        ] {
            api.rewards
                .create_reward(CreateRewardRequest {
                    tenant_id: tenant_id.clone(),
                    reward_id: reward_id.into(),
                    name: reward_id.into(),
                    currency: "stars".into(),
                    price,
                    stock: 3,
                    voucher_source: source as i32,
                })
                .await
                .unwrap();
        }
        let member_id = api.upsert_member(&tenant_id, "alice", Some(alice())).await;
        Programme {
            tenant_id,
            client_id,
            api_key,
            token,
            member_id,
        }
    }
}

/// The field violations of a refusal, as `field: description`.
pub fn violations(status: &tonic::Status) -> Vec<String> {
    tonic_types::StatusExt::get_details_bad_request(status)
        .map(|details| {
            details
                .field_violations
                .iter()
                .map(|v| format!("{}: {}", v.field, v.description))
                .collect()
        })
        .unwrap_or_default()
}

/// The programme's first member's profile: every personal field filled.
pub fn alice() -> questline_proto::identity::Profile {
    let attributes = serde_json::json!({"tier": "green", "interests": ["coffee"]});
    questline_proto::identity::Profile {
        display_name: "Alice Tan".into(),
        email: "alice.tan@example.com".into(),
        phone: "+6591234567".into(),
        birthday: "1990-04-01".into(),
        locale: "en-SG".into(),
        country: "SG".into(),
        attributes: attributes
            .as_object()
            .map(questline_kit::structs::from_json),
    }
}

/// A purchase of `amount` by the member, as mechanics tracks it.
pub fn track(
    tenant_id: &str,
    member_id: &str,
    event_id: &str,
    amount: f64,
) -> questline_proto::mechanics::TrackRequest {
    questline_proto::mechanics::TrackRequest {
        tenant_id: tenant_id.into(),
        event_id: event_id.into(),
        member_id: member_id.into(),
        event_type: "purchase".into(),
        occur_time: None,
        external_id: String::new(),
        attributes: Some(purchase(amount)),
    }
}

pub fn redeem(
    tenant_id: &str,
    member_id: &str,
    redemption_id: &str,
    reward_id: &str,
) -> questline_proto::rewards::RedeemRequest {
    questline_proto::rewards::RedeemRequest {
        tenant_id: tenant_id.into(),
        redemption_id: redemption_id.into(),
        member_id: member_id.into(),
        reward_id: reward_id.into(),
    }
}

/// A purchase of `amount` as event attributes.
pub fn purchase(amount: f64) -> prost_types::Struct {
    use prost_types::value::Kind;
    prost_types::Struct {
        fields: [(
            "amount".to_string(),
            prost_types::Value {
                kind: Some(Kind::NumberValue(amount)),
            },
        )]
        .into(),
    }
}

/// An active rule on `purchase` events awarding `points` stars when
/// `condition` holds, read in London time.
pub fn purchase_rule(
    tenant_id: &str,
    rule_id: &str,
    condition: &str,
    points: &str,
) -> questline_proto::mechanics::CreateRuleRequest {
    use questline_proto::mechanics as mech;
    mech::CreateRuleRequest {
        tenant_id: tenant_id.into(),
        rule: Some(mech::Rule {
            rule_id: rule_id.into(),
            name: rule_id.replace('-', " "),
            event_types: vec!["purchase".into()],
            condition: condition.into(),
            time_zone: "Europe/London".into(),
            actions: vec![mech::Action {
                action: Some(mech::action::Action::AwardPoints(mech::AwardPoints {
                    currency: "stars".into(),
                    points: points.into(),
                    rounding: mech::Rounding::Floor as i32,
                })),
            }],
            ..Default::default()
        }),
        activate: true,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_names_replace_the_path_only() {
        assert_eq!(
            super::with_database("postgres://postgres@127.0.0.1:5432/test", "ql_x"),
            "postgres://postgres@127.0.0.1:5432/ql_x"
        );
        assert_eq!(
            super::with_database("postgres://u@h/test?sslmode=disable", "d"),
            "postgres://u@h/d?sslmode=disable"
        );
    }
}
