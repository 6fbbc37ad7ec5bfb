//! Message templates (minijinja): the programme's own, by event type,
//! channel and locale, over the built-in ones. Compiled once per programme
//! revision, rendered per message.
//!
//! Rules:
//! 1. A member reads the programme's template in their locale, else their
//!    language, else the programme's default locale (then its language);
//!    else the built-in words in the same order, then English.
//! 2. Undefined variables are errors (strict mode): a template that names
//!    what the event does not carry fails, and the member reads the next
//!    template in that order instead of a half-filled message.
//! 3. Subjects and bodies are plain text (nothing is escaped, apps show
//!    them as text); an email's HTML part escapes every variable.
//! 4. A render has a fuel budget, so no template can spin, and runs in a
//!    sandbox that keeps text from growing (`sandbox`).

pub mod check;
pub mod sandbox;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use questline_kit::DomainError;
use serde_json::Value;
use std::collections::HashMap;

use super::channels::Channel;
use super::{Content, DEFAULT_LOCALE};

/// Instructions one render may run: ample for any message, not for a spin.
const FUEL: u64 = 50_000;

/// One version of a programme's template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub event_type: String,
    pub channel: Channel,
    pub locale: String,
    pub version: i32,
    pub subject: String,
    pub body: String,
    pub html: String,
}

/// Built-in words of one event type in one locale, for every channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Builtin {
    pub event_type: &'static str,
    pub locale: &'static str,
    pub title: &'static str,
    pub body: &'static str,
}

/// The words every programme starts with, until it brings its own.
pub const BUILTIN: &[Builtin] = &[
    Builtin {
        event_type: "points.credited",
        locale: DEFAULT_LOCALE,
        title: "You earned {{ amount }} {{ currency }}",
        body: "Your balance is now {{ balance }} {{ currency }}.",
    },
    Builtin {
        event_type: "points.expired",
        locale: DEFAULT_LOCALE,
        title: "{{ amount }} {{ currency }} expired",
        body: "Your balance is now {{ balance }} {{ currency }}.",
    },
    Builtin {
        event_type: "reward.redeemed",
        locale: DEFAULT_LOCALE,
        title: "Reward redeemed: {{ reward_name }}",
        body: "Your voucher code is {{ voucher_code }}.",
    },
    Builtin {
        event_type: "points.credited",
        locale: "fr",
        title: "Vous avez gagné {{ amount }} {{ currency }}",
        body: "Votre solde est maintenant de {{ balance }} {{ currency }}.",
    },
    Builtin {
        event_type: "points.expired",
        locale: "fr",
        title: "{{ amount }} {{ currency }} ont expiré",
        body: "Votre solde est maintenant de {{ balance }} {{ currency }}.",
    },
    Builtin {
        event_type: "reward.redeemed",
        locale: "fr",
        title: "Récompense obtenue : {{ reward_name }}",
        body: "Votre code est {{ voucher_code }}.",
    },
];

/// Which template rendered a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Draft,
    Programme { locale: String, version: i32 },
    Builtin { locale: String },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Draft => write!(f, "draft"),
            Source::Programme { locale, version } => write!(f, "tenant {locale} v{version}"),
            Source::Builtin { locale } => write!(f, "built-in {locale}"),
        }
    }
}

/// A rendered message and the template it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub content: Content,
    pub source: Source,
}

/// The member's locale and the programme's default, in fallback order.
pub struct Locales<'a> {
    pub member: &'a str,
    pub programme: &'a str,
}

impl Locales<'_> {
    /// `fr-CA`, `fr`, then the programme's default and its language.
    fn programme_order(&self) -> Vec<String> {
        let mut order = Vec::with_capacity(4);
        for locale in [self.member, self.programme] {
            let locale = canonical(locale);
            let language = language(&locale).to_string();
            for l in [locale, language] {
                if !l.is_empty() && !order.contains(&l) {
                    order.push(l);
                }
            }
        }
        order
    }

    /// The same, then English.
    fn builtin_order(&self) -> Vec<String> {
        let mut order = self.programme_order();
        if !order.iter().any(|l| l == DEFAULT_LOCALE) {
            order.push(DEFAULT_LOCALE.to_string());
        }
        order
    }
}

fn language(locale: &str) -> &str {
    locale.split(['-', '_']).next().unwrap_or(locale)
}

/// A language tag in its usual case, so `FR_ca` finds `fr-CA`: the
/// language lower, a script title (`Hant`), a region upper.
pub fn canonical(tag: &str) -> String {
    tag.split(['-', '_'])
        .enumerate()
        .map(|(i, part)| match (i, part.len()) {
            (0, _) => part.to_ascii_lowercase(),
            (_, 2) => part.to_ascii_uppercase(),
            (_, 4) => {
                let lower = part.to_ascii_lowercase();
                let mut chars = lower.chars();
                chars
                    .next()
                    .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default()
            }
            _ => part.to_ascii_lowercase(),
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// A programme's templates with the built-in ones, compiled.
pub struct Templates {
    env: Environment<'static>,
    /// The programme's templates: their version, and whether they have HTML.
    stored: HashMap<(String, Channel, String), (i32, bool)>,
}

/// A fresh environment with this service's settings.
pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    sandbox::restrict(&mut env);
    // Only the HTML part is escaped; subjects and bodies are text.
    env.set_auto_escape_callback(|name| {
        if name.ends_with("/html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env
}

impl Templates {
    pub fn builtin() -> Result<Templates, DomainError> {
        Templates::new(Vec::new())
    }

    /// The built-in templates with `programme`'s current versions. A stored
    /// template that no longer compiles (checked at save, so only after an
    /// upgrade of the engine) is left out and logged, never fatal.
    pub fn new(programme: Vec<Template>) -> Result<Templates, DomainError> {
        let mut env = environment();
        for b in BUILTIN {
            for (part, source) in [("subject", b.title), ("body", b.body)] {
                let name = builtin_name(b.event_type, b.locale, part);
                env.add_template_owned(name.clone(), source.to_string())
                    .map_err(|err| DomainError::internal(format!("template {name}: {err}")))?;
            }
        }
        let mut stored = HashMap::new();
        for t in programme {
            let parts = [("subject", t.subject), ("body", t.body), ("html", t.html)];
            let has_html = !parts[2].1.is_empty();
            let compiled = parts.into_iter().try_for_each(|(part, source)| {
                let name = stored_name(&t.event_type, t.channel, &t.locale, part);
                env.add_template_owned(name, source)
            });
            if let Err(err) = compiled {
                tracing::warn!(event_type = %t.event_type, locale = %t.locale, version = t.version, %err, "a stored template does not compile; left out");
                continue;
            }
            stored.insert((t.event_type, t.channel, t.locale), (t.version, has_html));
        }
        Ok(Templates { env, stored })
    }

    /// What a member in `locales` reads about `event_type` on `channel`,
    /// from the first template in fallback order that renders; Err names
    /// why none did.
    pub fn render(
        &self,
        event_type: &str,
        channel: Channel,
        locales: &Locales<'_>,
        variables: &Value,
    ) -> Result<Rendered, String> {
        let mut failures = Vec::new();
        for locale in locales.programme_order() {
            let locale = locale.as_str();
            let key = (event_type.to_string(), channel, locale.to_string());
            let Some(&(version, has_html)) = self.stored.get(&key) else {
                continue;
            };
            let name = |part| stored_name(event_type, channel, locale, part);
            let html = has_html.then(|| name("html"));
            match self.render_parts(&name("subject"), &name("body"), html.as_deref(), variables) {
                Ok(content) => {
                    let locale = locale.to_string();
                    let source = Source::Programme { locale, version };
                    return Ok(Rendered { content, source });
                }
                Err(err) => failures.push(format!("{locale} v{version}: {err}")),
            }
        }
        for locale in locales.builtin_order() {
            let locale = locale.as_str();
            let name = |part| builtin_name(event_type, locale, part);
            if self.env.get_template(&name("subject")).is_err() {
                continue;
            }
            match self.render_parts(&name("subject"), &name("body"), None, variables) {
                Ok(content) => {
                    let source = Source::Builtin {
                        locale: locale.to_string(),
                    };
                    return Ok(Rendered { content, source });
                }
                Err(err) => failures.push(format!("built-in {locale}: {err}")),
            }
        }
        if failures.is_empty() {
            return Err(format!(
                "no template for {event_type} on {}",
                channel.name()
            ));
        }
        Err(failures.join("; "))
    }

    fn render_parts(
        &self,
        subject: &str,
        body: &str,
        html: Option<&str>,
        variables: &Value,
    ) -> Result<Content, minijinja::Error> {
        let part = |name: &str| render_capped(&self.env, name, variables);
        Ok(Content {
            title: part(subject)?,
            body: part(body)?,
            html: html.map(part).transpose()?.unwrap_or_default(),
        })
    }
}

/// Renders template `name` into at most `sandbox::MAX_OUTPUT` bytes.
pub(crate) fn render_capped(
    env: &Environment<'static>,
    name: &str,
    variables: &Value,
) -> Result<String, minijinja::Error> {
    let mut out = sandbox::Capped::default();
    env.get_template(name)?
        .render_captured_to(variables, &mut out)?;
    String::from_utf8(out.0)
        .map_err(|_| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "not UTF-8"))
}

fn builtin_name(event_type: &str, locale: &str, part: &str) -> String {
    format!("builtin/{event_type}/{locale}/{part}")
}

fn stored_name(event_type: &str, channel: Channel, locale: &str, part: &str) -> String {
    format!("{event_type}/{}/{locale}/{part}", channel.name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::{credited, redeemed};

    fn en() -> Locales<'static> {
        Locales {
            member: "en",
            programme: "en",
        }
    }

    fn template(locale: &str, version: i32, subject: &str) -> Template {
        Template {
            event_type: "points.credited".into(),
            channel: Channel::Inbox,
            locale: locale.into(),
            version,
            subject: subject.into(),
            body: "{{ balance }}".into(),
            html: String::new(),
        }
    }

    fn title(templates: &Templates, locales: &Locales<'_>) -> (String, Source) {
        let rendered = templates
            .render("points.credited", Channel::Inbox, locales, &credited())
            .unwrap();
        (rendered.content.title, rendered.source)
    }

    #[test]
    fn builtin_words_in_english_and_french() {
        let templates = Templates::builtin().unwrap();
        let (english, _) = title(&templates, &en());
        assert_eq!(english, "You earned 5 stars");
        let fr_ca = Locales {
            member: "fr-CA",
            programme: "en",
        };
        assert_eq!(title(&templates, &fr_ca).0, "Vous avez gagné 5 stars");
        let redeemed = templates
            .render("reward.redeemed", Channel::Email, &en(), &redeemed())
            .unwrap();
        assert_eq!(redeemed.content.body, "Your voucher code is PASTRY-7Q2X.");
    }

    #[test]
    fn the_programmes_words_come_first_in_fallback_order() {
        let templates = Templates::new(vec![
            template("de", 2, "Gut: {{ amount }}"),
            template("fr", 3, "Bravo : {{ amount }}"),
        ])
        .unwrap();
        let member = |member| Locales {
            member,
            programme: "de",
        };
        // Their own language, then the programme's default locale.
        assert_eq!(
            title(&templates, &member("fr-BE")),
            (
                "Bravo : 5".into(),
                Source::Programme {
                    locale: "fr".into(),
                    version: 3
                }
            )
        );
        assert_eq!(title(&templates, &member("ja")).0, "Gut: 5");
        // No programme template in either: the built-in words.
        let plain = Locales {
            member: "ja",
            programme: "ja",
        };
        assert_eq!(
            title(&templates, &plain),
            (
                "You earned 5 stars".into(),
                Source::Builtin {
                    locale: "en".into()
                }
            )
        );
    }

    #[test]
    fn tags_match_whatever_their_case() {
        assert_eq!(canonical("FR_ca"), "fr-CA");
        assert_eq!(canonical("zh-hant-tw"), "zh-Hant-TW");
        let templates = Templates::new(vec![template("fr-CA", 1, "Bravo {{ amount }}")]).unwrap();
        let shouting = Locales {
            member: "FR-ca",
            programme: "en",
        };
        assert_eq!(title(&templates, &shouting).0, "Bravo 5");
        let french = Locales {
            member: "FR",
            programme: "EN",
        };
        assert_eq!(title(&templates, &french).0, "Vous avez gagné 5 stars");
    }

    #[test]
    fn a_template_that_fails_gives_way_to_the_next() {
        let templates = Templates::new(vec![template(
            "en",
            1,
            "Hi {{ member.attributes.nickname }}",
        )])
        .unwrap();
        let (title, source) = title(&templates, &en());
        assert_eq!(title, "You earned 5 stars");
        assert_eq!(source.to_string(), "built-in en");
    }

    #[test]
    fn nothing_to_render_is_an_error_that_says_why() {
        let templates = Templates::builtin().unwrap();
        let none = templates.render("rule.message.hello", Channel::Inbox, &en(), &credited());
        assert!(none.unwrap_err().contains("no template"));
    }

    #[test]
    fn only_the_html_part_is_escaped() {
        let mut t = template("en", 1, "{{ reason }}");
        t.channel = Channel::Email;
        t.body = "{{ reason }}".into();
        t.html = "<p>{{ reason }}</p>".into();
        let templates = Templates::new(vec![t]).unwrap();
        let mut variables = credited();
        variables["reason"] = "<b>&</b>".into();
        let rendered = templates
            .render("points.credited", Channel::Email, &en(), &variables)
            .unwrap();
        assert_eq!(rendered.content.title, "<b>&</b>");
        assert_eq!(rendered.content.body, "<b>&</b>");
        assert_eq!(
            rendered.content.html,
            "<p>&lt;b&gt;&amp;&lt;&#x2f;b&gt;</p>"
        );
    }

    #[test]
    fn a_spinning_template_runs_out_of_fuel() {
        let spin =
            "{% for a in range(10000) %}{% for b in range(10000) %}x{% endfor %}{% endfor %}";
        let templates = Templates::new(vec![template("en", 1, spin)]).unwrap();
        // It fails, and the built-in words stand in.
        assert_eq!(title(&templates, &en()).0, "You earned 5 stars");
    }
}
