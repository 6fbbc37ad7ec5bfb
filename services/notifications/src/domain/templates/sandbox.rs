//! What a template may do: print, test, branch and loop over what the
//! event and the member carry — nothing that makes text grow beyond them.
//! Rules:
//! 1. Statements are `if`, `for` and `raw` only: no `set`, macros or
//!    includes, so nothing accumulates across a loop and no part reaches
//!    another.
//! 2. No `*` or `**` (they repeat text), no filters that pad or multiply
//!    (`indent`, `format`, `replace`); `join` and `range` are capped.
//! 3. A rendered part stops at `MAX_OUTPUT` bytes: an error, and the next
//!    template in fallback order speaks instead.

use minijinja::value::Rest;
use minijinja::{Environment, Error, ErrorKind, Value};
use std::io;

/// Most bytes one rendered part may hold.
pub const MAX_OUTPUT: usize = 64 * 1024;
/// Most items `range` gives.
const MOST_RANGE: i64 = 1_000;

/// The statements a message template may use.
const STATEMENTS: &[&str] = &[
    "if", "elif", "else", "endif", "for", "endfor", "raw", "endraw",
];

/// Removes what could make text grow, and caps what is kept.
pub fn restrict(env: &mut Environment<'static>) {
    for filter in ["indent", "format", "replace", "join"] {
        env.remove_filter(filter);
    }
    env.add_filter("join", join);
    env.add_function("range", range);
}

/// `join`, refusing a result beyond `MAX_OUTPUT`.
fn join(items: Value, separator: Option<String>) -> Result<String, Error> {
    let separator = separator.unwrap_or_default();
    let mut joined = String::new();
    for (i, item) in items.try_iter()?.enumerate() {
        if i > 0 {
            joined.push_str(&separator);
        }
        joined.push_str(&item.to_string());
        if joined.len() > MAX_OUTPUT {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "joined text is too long",
            ));
        }
    }
    Ok(joined)
}

/// `range(stop)`, `range(start, stop[, step])`, of at most `MOST_RANGE` items.
fn range(args: Rest<i64>) -> Result<Vec<i64>, Error> {
    let (start, stop, step) = match args.as_slice() {
        [stop] => (0, *stop, 1),
        [start, stop] => (*start, *stop, 1),
        [start, stop, step] if *step != 0 => (*start, *stop, *step),
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "range takes 1 to 3 integers, step not 0",
            ));
        }
    };
    let count = (stop.saturating_sub(start)) / step;
    if count > MOST_RANGE {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("range gives at most {MOST_RANGE} items"),
        ));
    }
    let mut items = Vec::new();
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        items.push(i);
        i += step;
    }
    Ok(items)
}

/// A writer that fails once `MAX_OUTPUT` bytes are written.
#[derive(Default)]
pub struct Capped(pub Vec<u8>);

impl io::Write for Capped {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.0.len() + bytes.len() > MAX_OUTPUT {
            return Err(io::Error::other("the rendered text is too long"));
        }
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Each construct of `source` rule 1 or 2 forbids: line, column, why.
pub fn forbidden(source: &str) -> Vec<(usize, usize, String)> {
    let mut found = Vec::new();
    let mut at = 0;
    let mut raw = false;
    while let Some(open) = find_tag(source, at) {
        let (kind, start) = open;
        let close = match kind {
            '#' => "#}",
            '%' => "%}",
            _ => "}}",
        };
        let inner_start = start + 2;
        let Some(end) = closing(source, inner_start, close) else {
            // Unclosed: compiling says where.
            break;
        };
        let inner = &source[inner_start..end];
        at = end + 2;
        if kind == '#' {
            continue;
        }
        let word = statement(inner);
        if raw {
            raw = word != "endraw";
            continue;
        }
        if kind == '%' {
            if word == "raw" {
                raw = true;
            }
            if !STATEMENTS.contains(&word) {
                let (line, column) = position(source, inner_start);
                found.push((
                    line,
                    column,
                    format!(
                        "`{{% {word} %}}` is not allowed in a message template; use if and for"
                    ),
                ));
                continue;
            }
        }
        if let Some(offset) = star(inner) {
            let (line, column) = position(source, inner_start + offset);
            found.push((
                line,
                column,
                "the `*` operator is not allowed in a message template".into(),
            ));
        }
    }
    found
}

/// The next `{{`, `{%` or `{#` at or after `from`: its kind and offset.
fn find_tag(source: &str, from: usize) -> Option<(char, usize)> {
    let rest = source.get(from..)?;
    let offset = rest.match_indices('{').find_map(|(i, _)| {
        let kind = rest[i + 1..].chars().next()?;
        matches!(kind, '{' | '%' | '#').then_some((kind, i))
    })?;
    Some((offset.0, from + offset.1))
}

/// Where `close` ends the tag begun at `from`, strings skipped.
fn closing(source: &str, from: usize, close: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in source[from..].char_indices() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if source[from + i..].starts_with(close) => return Some(from + i),
            None => {}
        }
    }
    None
}

/// The first word of a tag's inside, whitespace control left out.
fn statement(inner: &str) -> &str {
    let trimmed = inner.trim_start_matches(['-', '+', '~']).trim_start();
    let end = trimmed
        .find(|c: char| !c.is_alphanumeric() && c != '_')
        .unwrap_or(trimmed.len());
    &trimmed[..end]
}

/// The offset of a `*` outside strings in a tag's inside.
fn star(inner: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in inner.char_indices() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '*' => return Some(i),
            None => {}
        }
    }
    None
}

/// The 1-based line and column of byte `offset` in `source`.
pub fn position(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(source: &str) -> Vec<String> {
        forbidden(source)
            .into_iter()
            .map(|(line, column, why)| format!("{line}:{column} {why}"))
            .collect()
    }

    #[test]
    fn branches_loops_and_plain_output_pass() {
        let ok = "{% if amount > 5 %}{{ amount }}{% endif %}\n{%- for i in range(3) -%}{{ i }}{% endfor %}{# a * note #}{{ \"*\" }}{% raw %}{% set x %}{% endraw %}";
        assert_eq!(why(ok), Vec::<String>::new());
    }

    #[test]
    fn what_grows_text_is_named_where_it_is() {
        let found = why("Hi\n{% set a = 'x' %}{{ amount * 2 }}{% include 'body' %}");
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with("2:3 `{% set %}`"), "{found:?}");
        assert!(found[1].starts_with("2:28 the `*` operator"), "{found:?}");
        assert!(found[2].contains("`{% include %}`"), "{found:?}");
    }

    #[test]
    fn capped_helpers_refuse_what_is_too_big() {
        let mut env = Environment::new();
        restrict(&mut env);
        let render = |source: &str| env.render_str(source, ());
        assert_eq!(render("{{ range(3)|join(', ') }}").unwrap(), "0, 1, 2");
        assert!(render("{{ range(100000)|join }}").is_err());
        assert!(render("{{ 'x'|indent(9) }}").is_err());
        let wide = "x".repeat(1000);
        let source = format!("{{{{ range(1000)|join('{wide}') }}}}");
        assert!(render(&source).is_err());
    }

    #[test]
    fn the_writer_stops_at_the_cap() {
        use std::io::Write;
        let mut capped = Capped::default();
        assert!(capped.write_all(&[b'x'; MAX_OUTPUT]).is_ok());
        assert!(capped.write_all(b"x").is_err());
    }
}
