//! Each programme's triggers and compiled templates, kept between batches
//! and compiled again only when the programme's revision (or the tenant's
//! default locale) has moved: one small read per tenant per batch.

use questline_kit::DomainError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::domain::DEFAULT_LOCALE;
use crate::domain::caps::Cap;
use crate::domain::channels::{Channel, Purpose};
use crate::domain::quiet_hours::QuietHours;
use crate::domain::templates::{Template, Templates};
use crate::domain::triggers::{self, Trigger};
use crate::store::Store;
use crate::store::entities::{programme, template, trigger};

/// What one programme messages, and with which words.
pub struct Programme {
    revision: i64,
    pub default_locale: String,
    /// The programme's calendar for caps; UTC until identity names one.
    pub time_zone: String,
    triggers: HashMap<String, Trigger>,
    caps: Vec<Cap>,
    pub quiet_hours: Option<QuietHours>,
    /// What the programme's unsubscribe links are signed with.
    pub unsubscribe_key: Vec<u8>,
    pub templates: Templates,
}

impl Programme {
    /// The trigger in force for `event_type`: the programme's own, else
    /// the built-in one; None when nothing (or a disabled one) is there.
    pub fn trigger(&self, event_type: &str) -> Option<Trigger> {
        self.triggers
            .get(event_type)
            .cloned()
            .or_else(|| triggers::builtin_for(event_type))
            .filter(|t| t.enabled)
    }

    /// The cap on `channel`'s marketing messages, if it has one.
    pub fn cap(&self, channel: Channel) -> Option<Cap> {
        self.caps
            .iter()
            .find(|c| c.channel == channel && (c.per_day > 0 || c.per_week > 0))
            .copied()
    }
}

/// The programmes the consumer has compiled, by tenant.
pub struct Programmes {
    store: Store,
    compiled: Mutex<HashMap<String, Arc<Programme>>>,
}

impl Programmes {
    pub fn new(store: Store) -> Programmes {
        Programmes {
            store,
            compiled: Mutex::new(HashMap::new()),
        }
    }

    /// The tenant's programme as it stands now.
    pub async fn get(&self, tenant_id: &str) -> Result<Arc<Programme>, DomainError> {
        let mut row = self.store.programme(tenant_id).await?;
        if row.as_ref().is_none_or(|p| p.unsubscribe_key.is_empty()) {
            row = Some(self.store.with_unsubscribe_key(tenant_id).await?);
        }
        let (revision, default_locale, time_zone) = settings_of(row.as_ref());
        if let Some(known) = self.known(tenant_id)
            && known.revision == revision
            && known.default_locale == default_locale
            && known.time_zone == time_zone
        {
            return Ok(known);
        }
        let programme = Arc::new(self.compile(tenant_id, row.as_ref()).await?);
        self.compiled
            .lock()
            .map_err(|_| DomainError::internal("programmes lock poisoned"))?
            .insert(tenant_id.to_string(), Arc::clone(&programme));
        Ok(programme)
    }

    fn known(&self, tenant_id: &str) -> Option<Arc<Programme>> {
        let compiled = self.compiled.lock().ok()?;
        compiled.get(tenant_id).cloned()
    }

    async fn compile(
        &self,
        tenant_id: &str,
        row: Option<&programme::Model>,
    ) -> Result<Programme, DomainError> {
        let parts = self.store.programme_parts(tenant_id).await?;
        let triggers = parts
            .triggers
            .iter()
            .filter_map(trigger_of)
            .map(|t| (t.event_type.clone(), t))
            .collect();
        let templates = parts
            .templates
            .into_iter()
            .filter_map(template_of)
            .collect();
        let (revision, default_locale, time_zone) = settings_of(row);
        let caps = match row {
            Some(p) => serde_json::from_str(&p.caps).unwrap_or_else(|err| {
                tracing::warn!(%tenant_id, %err, "stored caps do not read back; none applied");
                Vec::new()
            }),
            None => Vec::new(),
        };
        let quiet_hours = row.and_then(crate::store::caps::quiet_hours_of);
        let unsubscribe_key = row.map(unsubscribe_key_of).unwrap_or_default();
        Ok(Programme {
            revision,
            default_locale: default_locale.to_string(),
            time_zone: time_zone.to_string(),
            triggers,
            caps,
            quiet_hours,
            unsubscribe_key,
            templates: Templates::new(templates)?,
        })
    }
}

/// The revision, default locale and time zone a programme row gives: the
/// defaults where it is missing or identity named none.
fn settings_of(row: Option<&programme::Model>) -> (i64, &str, &str) {
    (
        row.map_or(0, |p| p.revision),
        named(row.map(|p| p.default_locale.as_str()), DEFAULT_LOCALE),
        named(row.map(|p| p.time_zone.as_str()), "UTC"),
    )
}

/// The key a programme row holds, as bytes; empty when it has none.
pub fn unsubscribe_key_of(row: &programme::Model) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(&row.unsubscribe_key)
        .unwrap_or_default()
}

/// `given` unless it is missing or empty.
fn named<'a>(given: Option<&'a str>, otherwise: &'static str) -> &'a str {
    given.filter(|g| !g.is_empty()).unwrap_or(otherwise)
}

/// A stored trigger as the domain reads it; one that does not read back
/// is logged and left out.
pub fn trigger_of(row: &trigger::Model) -> Option<Trigger> {
    let channels: Option<Vec<Channel>> = serde_json::from_str::<Vec<String>>(&row.channels)
        .ok()
        .and_then(|names| names.iter().map(|n| Channel::parse(n)).collect());
    let (Some(channels), Some(purpose)) = (channels, Purpose::parse(&row.purpose)) else {
        tracing::warn!(tenant_id = %row.tenant_id, event_type = %row.event_type, "a stored trigger does not read back; left out");
        return None;
    };
    Some(Trigger {
        event_type: row.event_type.clone(),
        channels,
        purpose,
        topic: row.topic.clone(),
        enabled: row.enabled,
    })
}

/// A stored template version as the domain reads it.
pub fn template_of(row: template::Model) -> Option<Template> {
    Some(Template {
        channel: Channel::parse(&row.channel)?,
        event_type: row.event_type,
        locale: row.locale,
        version: row.version,
        subject: row.subject,
        body: row.body,
        html: row.html,
    })
}
