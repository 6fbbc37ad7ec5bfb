//! Message templates (minijinja), compiled once and rendered per event.
//!
//! Inbox messages are plain text, so nothing is HTML-escaped: apps must show
//! them as text. Undefined variables are errors (strict mode), so a template
//! that names a variable the event does not carry fails loudly.

use minijinja::{Environment, UndefinedBehavior};
use questline_kit::DomainError;

use super::{Content, DEFAULT_LOCALE, Notice};

/// The title and body of one event type in one locale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template<'a> {
    pub event_type: &'a str,
    pub locale: &'a str,
    pub title: &'a str,
    pub body: &'a str,
}

/// The templates every programme starts with, until it brings its own.
pub const BUILTIN: &[Template<'static>] = &[
    Template {
        event_type: "points.credited",
        locale: DEFAULT_LOCALE,
        title: "You earned {{ amount }} {{ currency }}",
        body: "Your balance is now {{ balance }} {{ currency }}.",
    },
    Template {
        event_type: "points.expired",
        locale: DEFAULT_LOCALE,
        title: "{{ amount }} {{ currency }} expired",
        body: "Your balance is now {{ balance }} {{ currency }}.",
    },
    Template {
        event_type: "reward.redeemed",
        locale: DEFAULT_LOCALE,
        title: "Reward redeemed: {{ reward_name }}",
        body: "Your voucher code is {{ voucher_code }}.",
    },
    Template {
        event_type: "points.credited",
        locale: "fr",
        title: "Vous avez gagné {{ amount }} {{ currency }}",
        body: "Votre solde est maintenant de {{ balance }} {{ currency }}.",
    },
    Template {
        event_type: "points.expired",
        locale: "fr",
        title: "{{ amount }} {{ currency }} ont expiré",
        body: "Votre solde est maintenant de {{ balance }} {{ currency }}.",
    },
    Template {
        event_type: "reward.redeemed",
        locale: "fr",
        title: "Récompense obtenue : {{ reward_name }}",
        body: "Votre code est {{ voucher_code }}.",
    },
];

/// Compiled templates, built once: parsing per event would be wasted work.
pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn builtin() -> Result<Templates, DomainError> {
        Templates::new(BUILTIN)
    }

    /// Compiles `templates`; a syntax error in any of them is refused here,
    /// before the first event arrives.
    pub fn new(templates: &[Template<'_>]) -> Result<Templates, DomainError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for t in templates {
            for (part, source) in [("title", t.title), ("body", t.body)] {
                let name = template_name(t.event_type, t.locale, part);
                env.add_template_owned(name.clone(), source.to_string())
                    .map_err(|err| DomainError::internal(format!("template {name}: {err}")))?;
            }
        }
        Ok(Templates { env })
    }

    /// Renders `notice` in `locale`, falling back to its language, then to the default.
    pub fn render(&self, notice: &Notice, locale: &str) -> Result<Content, DomainError> {
        let event_type = notice.event_type();
        let locale = self.locale_for(event_type, locale).ok_or_else(|| {
            DomainError::internal(format!("no template for {event_type} in {locale}"))
        })?;
        Ok(Content {
            title: self.render_part(&template_name(event_type, locale, "title"), notice)?,
            body: self.render_part(&template_name(event_type, locale, "body"), notice)?,
        })
    }

    /// The best locale with a template for `event_type`: `fr-CA`, then `fr`, then the default.
    fn locale_for<'a>(&self, event_type: &str, locale: &'a str) -> Option<&'a str> {
        let language = locale.split(['-', '_']).next().unwrap_or(locale);
        [locale, language, DEFAULT_LOCALE].into_iter().find(|l| {
            self.env
                .get_template(&template_name(event_type, l, "title"))
                .is_ok()
        })
    }

    fn render_part(&self, name: &str, notice: &Notice) -> Result<String, DomainError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(notice))
            .map_err(|err| DomainError::internal(format!("template {name}: {err}")))
    }
}

fn template_name(event_type: &str, locale: &str, part: &str) -> String {
    format!("{event_type}/{locale}/{part}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::{credited, redeemed};

    /// `notice` rendered by the built-in templates in `locale`.
    fn builtin(notice: &Notice, locale: &str) -> Content {
        Templates::builtin()
            .unwrap()
            .render(notice, locale)
            .unwrap()
    }

    #[test]
    fn renders_points_credited() {
        let content = builtin(&credited(), DEFAULT_LOCALE);
        assert_eq!(content.title, "You earned 5 stars");
        assert_eq!(content.body, "Your balance is now 25 stars.");
    }

    #[test]
    fn renders_points_expired_in_french() {
        let expired = Notice::PointsExpired {
            member_id: "m1".into(),
            currency: "étoiles".into(),
            amount: 12,
            balance: 30,
        };
        let content = builtin(&expired, "fr-CA");
        assert_eq!(content.title, "12 étoiles ont expiré");
    }

    #[test]
    fn renders_reward_redeemed() {
        let content = builtin(&redeemed(), DEFAULT_LOCALE);
        assert_eq!(content.title, "Reward redeemed: Pastry");
        assert_eq!(content.body, "Your voucher code is PASTRY-7Q2X.");
    }

    #[test]
    fn a_missing_variable_is_an_error_not_a_blank() {
        let templates = Templates::new(&[Template {
            event_type: "points.credited",
            locale: "en",
            title: "Hi {{ nickname }}",
            body: "{{ amount }}",
        }])
        .unwrap();
        assert!(matches!(
            templates.render(&credited(), "en"),
            Err(DomainError::Internal(_))
        ));
    }

    #[test]
    fn a_syntax_error_is_refused_when_compiling() {
        let broken = Template {
            event_type: "points.credited",
            locale: "en",
            title: "{{ amount ",
            body: "",
        };
        assert!(Templates::new(&[broken]).is_err());
    }

    #[test]
    fn locale_falls_back_to_language_then_default() {
        let templates = Templates::new(&[
            BUILTIN[0],
            Template {
                event_type: "points.credited",
                locale: "fr",
                title: "Vous avez gagné {{ amount }} {{ currency }}",
                body: "Solde : {{ balance }} {{ currency }}.",
            },
        ])
        .unwrap();
        let french = templates.render(&credited(), "fr-CA").unwrap();
        assert_eq!(french.title, "Vous avez gagné 5 stars");
        let fallback = templates.render(&credited(), "de").unwrap();
        assert_eq!(fallback.title, "You earned 5 stars");
    }

    #[test]
    fn an_event_type_without_templates_is_an_error() {
        let templates = Templates::new(&BUILTIN[..1]).unwrap();
        assert!(templates.render(&redeemed(), "en").is_err());
    }
}
