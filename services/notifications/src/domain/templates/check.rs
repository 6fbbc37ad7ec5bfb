//! A template as an admin writes it, checked before it is saved: its
//! shape for the channel, what the sandbox forbids, then each part
//! compiled, every variable it names known to its event type, and every
//! filter and test it uses known (rendered once with a sample). Each
//! mistake names the part, the line and the column.

use minijinja::{ErrorKind, UndefinedBehavior};
use questline_kit::{DomainError, Violations};
use serde_json::Value;

use super::sandbox::{self, Capped};
use super::{environment, render_capped};
use crate::domain::Content;
use crate::domain::channels::Channel;
use crate::domain::triggers::check_event_type;

/// Longest subject, body and HTML part, in characters.
pub const MAX_SUBJECT: usize = 1_000;
pub const MAX_BODY: usize = 20_000;
pub const MAX_HTML: usize = 100_000;

/// What minijinja itself provides: never a missing variable.
const GLOBALS: &[&str] = &["range", "dict", "namespace", "debug", "loop"];

/// A template's parts before they are saved or previewed.
#[derive(Debug, Clone, Copy)]
pub struct Draft<'a> {
    pub event_type: &'a str,
    pub channel: Channel,
    pub subject: &'a str,
    pub body: &'a str,
    pub html: &'a str,
}

impl Draft<'_> {
    fn parts(&self) -> [(&'static str, &str); 3] {
        [
            ("subject", self.subject),
            ("body", self.body),
            ("html", self.html),
        ]
    }
}

/// Every mistake in `draft`, or Ok; `known` are the variables its event
/// type gives, `sample` an event of the type.
pub fn check(draft: &Draft<'_>, known: &[String], sample: &Value) -> Result<(), DomainError> {
    let mut v = Violations::new();
    check_event_type(&mut v, "event_type", draft.event_type);
    check_shape(&mut v, draft);
    v.finish()?;
    let mut env = environment();
    // The sample render looks for unknown filters and tests only.
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    for (field, source) in draft.parts() {
        let forbidden = sandbox::forbidden(source);
        for (line, column, why) in &forbidden {
            v.add(field, format!("line {line}, column {column}: {why}"));
        }
        if !forbidden.is_empty() {
            continue;
        }
        match env.template_from_str(source) {
            Err(err) => {
                v.add(field, at(source, &err));
            }
            Ok(template) => {
                let mut unknown: Vec<String> = template
                    .undeclared_variables(false)
                    .into_iter()
                    .filter(|name| !known.contains(name) && !GLOBALS.contains(&name.as_str()))
                    .collect();
                unknown.sort();
                if unknown.is_empty()
                    && let Err(err) = template.render_captured_to(sample, &mut Capped::default())
                    && matches!(
                        err.kind(),
                        ErrorKind::UnknownFilter
                            | ErrorKind::UnknownTest
                            | ErrorKind::UnknownFunction
                    )
                {
                    v.add(field, at(source, &err));
                }
                for name in unknown {
                    let (line, column) = position_of(source, &name);
                    v.add(
                        field,
                        format!(
                            "line {line}, column {column}: unknown variable `{name}`; {} gives {}",
                            draft.event_type,
                            known.join(", ")
                        ),
                    );
                }
            }
        }
    }
    v.finish()
}

/// The parts' lengths and characters, and which parts the channel has.
fn check_shape(v: &mut Violations, draft: &Draft<'_>) {
    let too_long = |text: &str, most: usize| text.chars().count() > most;
    if draft.channel.has_subject() && draft.subject.trim().is_empty() {
        v.add("subject", "is required");
    }
    if !draft.channel.has_subject() && !draft.subject.is_empty() {
        v.add("subject", "must be empty: SMS has no subject");
    }
    if too_long(draft.subject, MAX_SUBJECT) {
        v.add(
            "subject",
            format!("must be at most {MAX_SUBJECT} characters"),
        );
    }
    if draft.subject.chars().any(char::is_control) {
        v.add("subject", "must be one line without control characters");
    }
    if draft.body.trim().is_empty() {
        v.add("body", "is required");
    }
    if !draft.channel.has_html() && !draft.html.is_empty() {
        v.add("html", "must be empty: only email has an HTML part");
    }
    for (field, text, most) in [
        ("body", draft.body, MAX_BODY),
        ("html", draft.html, MAX_HTML),
    ] {
        if too_long(text, most) {
            v.add(field, format!("must be at most {most} characters"));
        }
        if text
            .chars()
            .any(|c| c.is_control() && !"\n\r\t".contains(c))
        {
            v.add(
                field,
                "must not contain control characters but line breaks and tabs",
            );
        }
    }
}

/// Renders `draft` with `variables`, for a preview; a part that fails
/// names its line and column.
pub fn render(
    draft: &Draft<'_>,
    known: &[String],
    variables: &Value,
) -> Result<Content, DomainError> {
    check(draft, known, variables)?;
    let mut env = environment();
    let mut v = Violations::new();
    let mut rendered = Vec::with_capacity(3);
    for (field, source) in draft.parts() {
        // The HTML part's name is what switches escaping on.
        let name = format!("draft/{field}");
        let result = env
            .add_template_owned(name.clone(), source.to_string())
            .and_then(|()| render_capped(&env, &name, variables));
        match result {
            Ok(text) => rendered.push(text),
            Err(err) => {
                v.add(field, at(source, &err));
                rendered.push(String::new());
            }
        }
    }
    v.finish()?;
    let [title, body, html] = <[String; 3]>::try_from(rendered)
        .map_err(|_| DomainError::internal("a draft has three parts"))?;
    Ok(Content { title, body, html })
}

/// `err` with its line and column in `source`.
fn at(source: &str, err: &minijinja::Error) -> String {
    let what = match err.detail() {
        Some(detail) => format!("{}: {detail}", err.kind()),
        None => err.kind().to_string(),
    };
    match (err.line(), err.range()) {
        (Some(_), Some(range)) => {
            let (line, column) = sandbox::position(source, range.start);
            format!("line {line}, column {column}: {what}")
        }
        (Some(line), None) => format!("line {line}: {what}"),
        _ => what,
    }
}

/// The line and column where `name` first appears as a whole word.
fn position_of(source: &str, name: &str) -> (usize, usize) {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    for (n, line) in source.lines().enumerate() {
        let mut from = 0;
        while let Some(found) = line[from..].find(name) {
            let start = from + found;
            let end = start + name.len();
            let before = line[..start].chars().next_back();
            let after = line[end..].chars().next();
            if !before.is_some_and(ident) && !after.is_some_and(ident) {
                return (n + 1, line[..start].chars().count() + 1);
            }
            from = end;
        }
    }
    (1, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::test_support::credited;

    fn draft<'a>(subject: &'a str, body: &'a str) -> Draft<'a> {
        Draft {
            event_type: "points.credited",
            channel: Channel::Inbox,
            subject,
            body,
            html: "",
        }
    }

    /// What a points credit gives.
    fn known() -> Vec<String> {
        let names = [
            "amount",
            "balance",
            "currency",
            "event_id",
            "member",
            "member_id",
            "reason",
        ];
        names.map(String::from).to_vec()
    }

    /// The violations of `draft`, as "field: description".
    fn mistakes(draft: &Draft<'_>) -> Vec<String> {
        match check(draft, &known(), &credited()) {
            Ok(()) => vec![],
            Err(DomainError::Invalid(v)) => v
                .into_iter()
                .map(|v| format!("{}: {}", v.field, v.description))
                .collect(),
            Err(other) => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_good_template_passes() {
        let ok = draft(
            "You earned {{ amount }} {{ currency }}",
            "Hi {{ member.attributes.nickname | default('there') }},\n{% for i in range(2) %}*{% endfor %}",
        );
        assert_eq!(mistakes(&ok), Vec::<String>::new());
    }

    #[test]
    fn a_syntax_error_names_its_line_and_column() {
        let broken = draft("ok", "Hello\n  {{ amount }");
        let found = mistakes(&broken);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("body: line 2, column "),
            "{}",
            found[0]
        );
        assert!(found[0].contains("syntax error"), "{}", found[0]);
    }

    #[test]
    fn an_unknown_variable_names_where_it_is_and_what_is_known() {
        let found = mistakes(&draft("Hi", "Thanks!\nYou have {{ points }} now"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].starts_with("body: line 2, column 13: unknown variable `points`"),
            "{}",
            found[0]
        );
        assert!(found[0].contains("balance"), "{}", found[0]);
    }

    #[test]
    fn each_channel_has_its_parts() {
        let mut sms = draft("a subject", "{{ amount }}");
        sms.channel = Channel::Sms;
        assert_eq!(
            mistakes(&sms),
            ["subject: must be empty: SMS has no subject"]
        );
        let mut inbox = draft("", "x");
        inbox.html = "<p>x</p>";
        assert_eq!(
            mistakes(&inbox),
            [
                "subject: is required",
                "html: must be empty: only email has an HTML part"
            ]
        );
        let control = draft("a\nb", "tab\tand newline\n ok \u{7}");
        assert_eq!(mistakes(&control).len(), 2);
        let mut unknown = draft("x", "y");
        unknown.event_type = "member.erased";
        assert_eq!(mistakes(&unknown).len(), 1);
    }

    #[test]
    fn a_preview_renders_or_says_where_it_failed() {
        let content = render(
            &draft("{{ amount }}!", "{{ balance }}"),
            &known(),
            &credited(),
        )
        .unwrap();
        assert_eq!(
            (content.title.as_str(), content.body.as_str()),
            ("5!", "25")
        );
        let fails = render(
            &draft("x", "{{ member.attributes.nickname }}"),
            &known(),
            &credited(),
        );
        let Err(DomainError::Invalid(v)) = fails else {
            panic!("{fails:?}")
        };
        assert_eq!(v[0].field, "body");
        assert!(v[0].description.contains("line 1"), "{}", v[0].description);
    }

    #[test]
    fn what_the_sandbox_forbids_and_unknown_filters_are_refused() {
        let found = mistakes(&draft(
            "{{ amount * 1000 }}",
            "{% set x = 1 %}{{ balance|nofilter }}",
        ));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].starts_with("subject: line 1, column 11: the `*` operator"),
            "{found:?}"
        );
        assert!(
            found[1].starts_with("body: line 1, column 3: `{% set %}`"),
            "{found:?}"
        );
        let unknown = mistakes(&draft("ok", "{{ balance|nofilter }}"));
        assert_eq!(unknown.len(), 1, "{unknown:?}");
        assert!(unknown[0].contains("unknown filter"), "{unknown:?}");
    }
}
