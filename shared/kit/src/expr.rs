//! CEL expressions written by programme managers (rule conditions, segment
//! predicates): parsed once, with the line and column of each mistake, and
//! evaluated against what the engine knows of a member.

use cel::{Context, Program, Value};
use serde_json::{Map, Value as Json};

use crate::Violations;

/// An expression longer than this is refused: programmes stay readable and
/// parsing stays cheap.
pub const MAX_EXPRESSION: usize = 4096;

/// One mistake in an expression; `line` and `column` count from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl std::fmt::Display for ExprError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// Parses `source`, naming every variable outside `variables` as a mistake
/// too (a typo such as `membr.country` would otherwise fail on every member).
pub fn compile(source: &str, variables: &[&str]) -> Result<Program, Vec<ExprError>> {
    if source.len() > MAX_EXPRESSION {
        return Err(vec![at(1, 1, "is longer than 4096 bytes")]);
    }
    let program = Program::compile(source).map_err(|errors| {
        errors
            .errors
            .iter()
            .map(|e| at(e.pos.0, e.pos.1, &e.msg))
            .collect::<Vec<_>>()
    })?;
    let unknown: Vec<ExprError> = program
        .references()
        .variables()
        .into_iter()
        .filter(|name| !variables.contains(name) && !is_bound_by_macro(source, name))
        .map(|name| {
            let (line, column) = position_of(source, name);
            at(line, column, &format!("undeclared reference to '{name}'"))
        })
        .collect();
    if unknown.is_empty() {
        Ok(program)
    } else {
        Err(unknown)
    }
}

/// Like `compile`, adding each mistake to `v` under `field`.
pub fn check(v: &mut Violations, field: &str, source: &str, variables: &[&str]) -> Option<Program> {
    match compile(source, variables) {
        Ok(program) => Some(program),
        Err(errors) => {
            for e in errors {
                v.add(field, format!("is not valid CEL at {e}"));
            }
            None
        }
    }
}

/// `i` in `list.exists(i, ...)`: a name the expression binds itself (the
/// parser reports it among the variables).
fn is_bound_by_macro(source: &str, name: &str) -> bool {
    const MACROS: [&str; 6] = [
        "all",
        "exists",
        "exists_one",
        "map",
        "filter",
        "transformList",
    ];
    source.match_indices('.').any(|(dot, _)| {
        let rest = &source[dot + 1..];
        let Some(m) = MACROS.iter().find(|m| rest.starts_with(*m)) else {
            return false;
        };
        let Some(args) = rest[m.len()..].trim_start().strip_prefix('(') else {
            return false;
        };
        // One or two loop variables, each followed by a comma.
        let mut args = args;
        for _ in 0..2 {
            let trimmed = args.trim_start();
            let end = trimmed
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(trimmed.len());
            let (ident, after) = trimmed.split_at(end);
            let Some(after) = after.trim_start().strip_prefix(',') else {
                return false;
            };
            if ident == name {
                return true;
            }
            args = after;
        }
        false
    })
}

/// Where `name` first stands as a whole word in `source`.
fn position_of(source: &str, name: &str) -> (isize, isize) {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let offset = source
        .match_indices(name)
        .map(|(i, _)| i)
        .find(|&i| {
            !source[..i].ends_with(|c: char| word(c) || c == '.')
                && !source[i + name.len()..].starts_with(word)
        })
        .unwrap_or(0);
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line as isize, column as isize)
}

fn at(line: isize, column: isize, message: &str) -> ExprError {
    ExprError {
        line: line.max(1) as u32,
        column: column.max(1) as u32,
        message: message.to_string(),
    }
}

/// The `member` an expression sees: identity's facts (locale, country,
/// birthday, attributes, consent) plus its `id` and `external_id`.
pub fn member(member_id: &str, external_id: &str, facts: &Map<String, Json>) -> Json {
    let mut member = facts.clone();
    member.insert("id".into(), member_id.into());
    member.insert("external_id".into(), external_id.into());
    Json::Object(member)
}

/// Runs `program` with each `(name, value)` bound.
pub fn run(program: &Program, bindings: &[(&str, &Json)]) -> Result<Value, String> {
    let mut context = Context::default();
    for (name, value) in bindings {
        let value = cel::to_value(value).map_err(|e| e.to_string())?;
        context.add_variable_from_value(*name, value);
    }
    program.execute(&context).map_err(|e| e.to_string())
}

/// Runs a predicate: true, false, or why it could not say.
pub fn holds(program: &Program, bindings: &[(&str, &Json)]) -> Result<bool, String> {
    match run(program, bindings)? {
        Value::Bool(b) => Ok(b),
        other => Err(format!("gave {other:?}, not a bool")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_syntax_error_names_its_line_and_column() {
        let errors = compile("member.country ==\n  && true", &["member"]).unwrap_err();
        assert_eq!((errors[0].line, errors[0].column), (2, 3), "{errors:?}");
        assert!(!errors[0].message.is_empty());
    }

    #[test]
    fn unknown_variables_are_mistakes_but_macro_variables_are_not() {
        let errors = compile("membr.country == 'SG'", &["member"]).unwrap_err();
        assert_eq!((errors[0].line, errors[0].column), (1, 1));
        assert!(errors[0].message.contains("membr"));
        let ok = "member.country == 'SG' && member.attributes.interests.exists(i, i == 'coffee')";
        assert!(compile(ok, &["member"]).is_ok());
        let spaced = "member.attributes.tags.all( tag ,\n tag != 'x')";
        assert!(compile(spaced, &["member"]).is_ok());
        let stray = "member.attributes.tags.all(t, t != x)";
        assert!(
            compile(stray, &["member"]).unwrap_err()[0]
                .message
                .contains("'x'")
        );
        assert!(compile(&"1 + ".repeat(2000), &["member"]).is_err());
    }

    #[test]
    fn predicates_hold_fail_or_explain() {
        let facts = json!({"country": "SG", "attributes": {"interests": ["coffee", "tea"]}});
        let m = member("m1", "alice", facts.as_object().unwrap());
        let coffee = compile(
            "member.country == 'SG' && member.attributes.interests.exists(i, i == 'coffee')",
            &["member"],
        )
        .unwrap();
        assert_eq!(holds(&coffee, &[("member", &m)]), Ok(true));
        let id = compile("member.external_id == 'bob'", &["member"]).unwrap();
        assert_eq!(holds(&id, &[("member", &m)]), Ok(false));
        let missing = compile("member.attributes.tier == 'gold'", &["member"]).unwrap();
        assert!(holds(&missing, &[("member", &m)]).is_err());
        let number = compile("1 + 1", &["member"]).unwrap();
        assert!(holds(&number, &[("member", &m)]).is_err());
    }
}
