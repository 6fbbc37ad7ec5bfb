//! Layered settings: built-in defaults, then an optional file, then environment
//! variables `QUESTLINE__SECTION__KEY`. Every default works on a laptop.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The five gRPC services of the mesh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    Identity,
    Ledger,
    Mechanics,
    Rewards,
    Notifications,
}

impl ServiceKind {
    pub const ALL: [ServiceKind; 5] = [
        ServiceKind::Identity,
        ServiceKind::Ledger,
        ServiceKind::Mechanics,
        ServiceKind::Rewards,
        ServiceKind::Notifications,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::Identity => "identity",
            ServiceKind::Ledger => "ledger",
            ServiceKind::Mechanics => "mechanics",
            ServiceKind::Rewards => "rewards",
            ServiceKind::Notifications => "notifications",
        }
    }

    /// The fully-qualified gRPC service name, as health checks and reflection know it.
    pub fn grpc_name(self) -> &'static str {
        match self {
            ServiceKind::Identity => "questline.identity.v1.IdentityService",
            ServiceKind::Ledger => "questline.ledger.v1.LedgerService",
            ServiceKind::Mechanics => "questline.mechanics.v1.MechanicsService",
            ServiceKind::Rewards => "questline.rewards.v1.RewardsService",
            ServiceKind::Notifications => "questline.notifications.v1.NotificationsService",
        }
    }

    /// Where its admin port (`/metrics`, `/livez`, `/readyz`) listens by default.
    fn default_admin_port(self) -> u16 {
        match self {
            ServiceKind::Identity => 9101,
            ServiceKind::Ledger => 9102,
            ServiceKind::Mechanics => 9103,
            ServiceKind::Rewards => 9104,
            ServiceKind::Notifications => 9105,
        }
    }

    fn default_port(self) -> u16 {
        match self {
            ServiceKind::Identity => 50051,
            ServiceKind::Ledger => 50052,
            ServiceKind::Mechanics => 50053,
            ServiceKind::Rewards => 50054,
            ServiceKind::Notifications => 50055,
        }
    }
}

impl std::str::FromStr for ServiceKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ServiceKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("unknown service {s:?}"))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Where SQLite files live when a service has no `database_url`.
    pub data_dir: String,
    pub identity: ServiceSettings,
    pub ledger: ServiceSettings,
    pub mechanics: ServiceSettings,
    pub rewards: ServiceSettings,
    pub notifications: ServiceSettings,
    pub gateway: GatewaySettings,
    pub bus: BusSettings,
    pub telemetry: TelemetrySettings,
    pub server: ServerLimits,
    pub auth: AuthSettings,
    pub webhooks: WebhookSettings,
    pub messaging: MessagingSettings,
    /// Run each service's database migrations when it starts. Turn off where a
    /// migration job runs them first (`questline migrate`); a service then
    /// refuses to start while any are pending.
    pub migrate_on_start: bool,
}

#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServiceSettings {
    /// Address the service listens on.
    pub listen: String,
    /// Address of its admin port (`/metrics`, `/livez`, `/readyz`); empty: none.
    pub admin_listen: String,
    /// `sqlite://path?mode=rwc` or `postgres://…`; empty means a SQLite file in `data_dir`.
    pub database_url: String,
    /// How other services reach this one; empty means `http://<listen>`.
    pub endpoint: String,
    /// The service's own API key (a service client's, see identity's
    /// `CreateApiClient`), for work no caller asked for: recovery and
    /// sweeps. Empty: that work waits for a caller's replay.
    pub service_key: String,
}

impl std::fmt::Debug for ServiceSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceSettings")
            .field("listen", &self.listen)
            .field("admin_listen", &self.admin_listen)
            .field("database_url", &self.database_url)
            .field("endpoint", &self.endpoint)
            .field("service_key", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct GatewaySettings {
    pub listen: String,
    /// Address of its admin port (`/metrics`, `/livez`, `/readyz`); empty: none.
    pub admin_listen: String,
    /// Requests a second each API client may make (its burst is the same).
    pub rate_limit_per_second: u32,
    /// Clients with a quota of their own, by client id.
    pub client_rate_limits: std::collections::BTreeMap<String, u32>,
    /// Browser origins allowed to call the API, by tenant: comma-separated,
    /// e.g. `https://app.brand.example,https://shop.brand.example`.
    pub cors_origins: std::collections::BTreeMap<String, String>,
    /// Where `Idempotency-Key` answers are kept, shared by every replica:
    /// `postgres://…`; empty means a SQLite file in `data_dir`.
    pub database_url: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BusKind {
    /// In-process, for `questline dev` and tests: only works inside one process.
    Memory,
    /// NATS JetStream, for production.
    Nats,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BusSettings {
    pub kind: BusKind,
    pub nats_url: String,
    /// JetStream stream holding every domain event.
    pub stream: String,
    /// Subjects are `<subject_prefix>.<tenant>.<event type>`.
    pub subject_prefix: String,
    /// Copies JetStream keeps of the stream when it creates it (3 on a
    /// three-node cluster).
    pub stream_replicas: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetrySettings {
    /// OTLP/gRPC collector, e.g. `http://otel-collector:4317`; empty disables export.
    pub otlp_endpoint: String,
    /// Share of new traces recorded, 0 to 1; a trace begun upstream keeps its
    /// caller's decision.
    pub sampling_ratio: f64,
    /// Extra resource attributes, `key=value,key=value` as in
    /// `OTEL_RESOURCE_ATTRIBUTES` (e.g. `deployment.environment.name=prod`).
    /// Never a tenant: one process serves many.
    pub resource_attributes: String,
    /// `tracing` filter directive, e.g. `info,questline_ledger=debug`.
    pub log: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerLimits {
    /// Largest gRPC message a service decodes or encodes.
    pub max_message_bytes: usize,
    /// Deadline applied to a call that brings none (or a longer one).
    pub default_deadline_ms: u64,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthSettings {
    /// The operator key: creates tenants. Empty disables operator access.
    pub operator_key: String,
    /// Lifetime of issued tokens.
    pub token_ttl_seconds: i64,
}

impl Default for Settings {
    fn default() -> Self {
        let svc = |kind: ServiceKind| ServiceSettings {
            listen: format!("127.0.0.1:{}", kind.default_port()),
            admin_listen: format!("127.0.0.1:{}", kind.default_admin_port()),
            ..ServiceSettings::default()
        };
        Settings {
            data_dir: "./data".into(),
            identity: svc(ServiceKind::Identity),
            ledger: svc(ServiceKind::Ledger),
            mechanics: svc(ServiceKind::Mechanics),
            rewards: svc(ServiceKind::Rewards),
            notifications: svc(ServiceKind::Notifications),
            gateway: GatewaySettings::default(),
            bus: BusSettings::default(),
            telemetry: TelemetrySettings::default(),
            server: ServerLimits::default(),
            auth: AuthSettings::default(),
            webhooks: WebhookSettings::default(),
            messaging: MessagingSettings::default(),
            migrate_on_start: true,
        }
    }
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            listen: "127.0.0.1:8080".into(),
            admin_listen: "127.0.0.1:9106".into(),
            rate_limit_per_second: 200,
            client_rate_limits: Default::default(),
            cors_origins: Default::default(),
            database_url: String::new(),
        }
    }
}

impl Default for BusSettings {
    fn default() -> Self {
        BusSettings {
            kind: BusKind::Memory,
            nats_url: "nats://127.0.0.1:4222".into(),
            stream: "QUESTLINE".into(),
            subject_prefix: "questline".into(),
            stream_replicas: 1,
        }
    }
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            otlp_endpoint: String::new(),
            sampling_ratio: 1.0,
            resource_attributes: String::new(),
            log: "info,sea_orm_migration=warn".into(),
        }
    }
}

/// How notifications sends webhooks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WebhookSettings {
    /// Networks a webhook may reach although private, loopback or
    /// link-local, comma-separated CIDRs (e.g. `10.20.0.0/16`); empty: only
    /// public addresses, so a tenant's URL cannot reach the cluster inside.
    pub allow_networks: String,
    /// Waits between attempts after the first, comma-separated with a unit
    /// (`ms`, `s`, `m`, `h`); each is stretched by up to a tenth at random.
    pub retry_schedule: String,
    /// How long an attempt waits for the receiver's answer.
    pub timeout_ms: u64,
    /// Attempts under way at once per endpoint: a slow receiver holds up
    /// no more than its own deliveries.
    pub per_endpoint: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            allow_networks: String::new(),
            // Standard Webhooks' example schedule: ten attempts over three days.
            retry_schedule: "5s,5m,30m,2h,5h,10h,14h,20h,24h".into(),
            timeout_ms: 15_000,
            per_endpoint: 4,
        }
    }
}

/// How notifications reaches members outside the app: an SMTP relay for
/// email, and a generic HTTP provider each for push and SMS (a JSON POST
/// signed like a webhook, so a brand puts its own gateway behind it). A
/// channel without its provider is not offered.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MessagingSettings {
    /// The relay, e.g. `smtp://relay.internal:25`,
    /// `smtp://user:pass@smtp.example.com:587?tls=required` or
    /// `smtps://…:465`; empty: no email.
    pub smtp_url: String,
    /// The sender, e.g. `Questline <no-reply@brand.example>`.
    pub email_from: String,
    /// Where members reach the gateway, for the unsubscribe links in
    /// emails, e.g. `https://loyalty.brand.example`.
    pub public_url: String,
    /// The push provider's URL; empty: no push.
    pub push_url: String,
    /// Its signing secret (`whsec_…`).
    pub push_secret: String,
    /// The SMS provider's URL; empty: no SMS.
    pub sms_url: String,
    /// Its signing secret (`whsec_…`).
    pub sms_secret: String,
    /// Waits between attempts after the first, as for webhooks.
    pub retry_schedule: String,
    /// How long one attempt may take.
    pub timeout_ms: u64,
    /// Messages under way at once per channel.
    pub per_channel: usize,
}

impl std::fmt::Debug for MessagingSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessagingSettings")
            .field("email_from", &self.email_from)
            .field("public_url", &self.public_url)
            .field("push_url", &self.push_url)
            .field("sms_url", &self.sms_url)
            .field("retry_schedule", &self.retry_schedule)
            .field("timeout_ms", &self.timeout_ms)
            .field("per_channel", &self.per_channel)
            .finish_non_exhaustive()
    }
}

impl Default for MessagingSettings {
    fn default() -> Self {
        MessagingSettings {
            smtp_url: String::new(),
            email_from: String::new(),
            public_url: "http://127.0.0.1:8080".into(),
            push_url: String::new(),
            push_secret: String::new(),
            sms_url: String::new(),
            sms_secret: String::new(),
            retry_schedule: "5s,1m,10m,1h".into(),
            timeout_ms: 15_000,
            per_channel: 16,
        }
    }
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_message_bytes: 4 * 1024 * 1024,
            default_deadline_ms: 10_000,
        }
    }
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("operator_key", &"<redacted>")
            .field("token_ttl_seconds", &self.token_ttl_seconds)
            .finish()
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            operator_key: String::new(),
            token_ttl_seconds: 900,
        }
    }
}

impl Settings {
    /// Defaults, then `file` if given, then `QUESTLINE__…` environment variables.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
        let mut builder =
            config::Config::builder().add_source(config::Config::try_from(&Settings::default())?);
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("QUESTLINE")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        Ok(builder.build()?.try_deserialize()?)
    }

    pub fn service(&self, kind: ServiceKind) -> &ServiceSettings {
        match kind {
            ServiceKind::Identity => &self.identity,
            ServiceKind::Ledger => &self.ledger,
            ServiceKind::Mechanics => &self.mechanics,
            ServiceKind::Rewards => &self.rewards,
            ServiceKind::Notifications => &self.notifications,
        }
    }

    pub fn service_mut(&mut self, kind: ServiceKind) -> &mut ServiceSettings {
        match kind {
            ServiceKind::Identity => &mut self.identity,
            ServiceKind::Ledger => &mut self.ledger,
            ServiceKind::Mechanics => &mut self.mechanics,
            ServiceKind::Rewards => &mut self.rewards,
            ServiceKind::Notifications => &mut self.notifications,
        }
    }

    /// The database of `kind`: its own URL, or a SQLite file in `data_dir`.
    pub fn database_url(&self, kind: ServiceKind) -> String {
        let own = &self.service(kind).database_url;
        if own.is_empty() {
            let dir = self.data_dir.trim_end_matches('/');
            format!("sqlite://{dir}/{}.db?mode=rwc", kind.name())
        } else {
            own.clone()
        }
    }

    /// The gateway's database: its own URL, or a SQLite file in `data_dir`.
    pub fn gateway_database_url(&self) -> String {
        if self.gateway.database_url.is_empty() {
            let dir = self.data_dir.trim_end_matches('/');
            format!("sqlite://{dir}/gateway.db?mode=rwc")
        } else {
            self.gateway.database_url.clone()
        }
    }

    /// The URL other services use to call `kind`.
    pub fn endpoint(&self, kind: ServiceKind) -> String {
        let svc = self.service(kind);
        if svc.endpoint.is_empty() {
            format!("http://{}", svc.listen)
        } else {
            svc.endpoint.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_work_on_a_laptop() {
        let s = Settings::default();
        assert_eq!(s.endpoint(ServiceKind::Ledger), "http://127.0.0.1:50052");
        assert_eq!(
            s.database_url(ServiceKind::Rewards),
            "sqlite://./data/rewards.db?mode=rwc"
        );
        assert_eq!(s.bus.kind, BusKind::Memory);
    }

    #[test]
    fn service_names_round_trip() {
        for kind in ServiceKind::ALL {
            assert_eq!(kind.name().parse::<ServiceKind>(), Ok(kind));
        }
        assert!("billing".parse::<ServiceKind>().is_err());
    }
}
