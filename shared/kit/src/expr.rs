//! CEL expressions written by programme managers (rule conditions, segment
//! predicates): parsed once, with the line and column of each mistake, and
//! evaluated against what the engine knows of a member.

use cel::common::ast::{EntryExpr, Expr, IdedEntryExpr, IdedExpr};
use cel::common::types::{
    CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString, CelUInt,
};
use cel::common::value::{CowVal, Val};
use cel::context::VariableResolver;
use cel::{Context, Program, Value};
use serde_json::{Map, Value as Json};
use std::collections::HashMap;

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

/// CEL's type names, which the standard environment resolves as identifiers
/// (`type(x) == string`).
const TYPE_NAMES: [&str; 10] = [
    "bool",
    "bytes",
    "double",
    "int",
    "list",
    "map",
    "null_type",
    "string",
    "type",
    "uint",
];

/// Parses `source`, naming every variable outside `variables` as a mistake
/// too (a typo such as `membr.country` would otherwise fail on every member).
/// For what a programme manager writes now; see `parse` for stored programs.
pub fn compile(source: &str, variables: &[&str]) -> Result<Program, Vec<ExprError>> {
    let program = parse(source)?;
    let mut unknown = Vec::new();
    undeclared(
        program.expression(),
        variables,
        &mut Vec::new(),
        &mut unknown,
    );
    if unknown.is_empty() {
        return Ok(program);
    }
    Err(unknown
        .into_iter()
        .map(|(id, name)| {
            let offset = program
                .source_info()
                .offset_for(id)
                .map_or(0, |(start, _)| start);
            let (line, column) = position_at(source, offset as usize);
            at(line, column, &format!("undeclared reference to '{name}'"))
        })
        .collect())
}

/// Parses `source` with the position of each syntax error. Programs saved
/// before a stricter `compile` keep running through this.
pub fn parse(source: &str) -> Result<Program, Vec<ExprError>> {
    if source.len() > MAX_EXPRESSION {
        return Err(vec![at(1, 1, "is longer than 4096 bytes")]);
    }
    Program::compile(source).map_err(|errors| {
        errors
            .errors
            .iter()
            .map(|e| at(e.pos.0, e.pos.1, &e.msg))
            .collect()
    })
}

/// Like `compile`, adding each mistake to `v` under `field`.
pub fn check(v: &mut Violations, field: &str, source: &str, variables: &[&str]) -> Option<Program> {
    reported(v, field, compile(source, variables))
}

/// The program, or `None` with each mistake added to `v` under `field`.
pub fn reported(
    v: &mut Violations,
    field: &str,
    compiled: Result<Program, Vec<ExprError>>,
) -> Option<Program> {
    match compiled {
        Ok(program) => Some(program),
        Err(errors) => {
            for e in errors {
                v.add(field, format!("is not valid CEL at {e}"));
            }
            None
        }
    }
}

/// Collects the identifiers of `e` that are neither `variables`, nor bound
/// by an enclosing macro (`i` in `list.exists(i, ...)`), nor type names.
fn undeclared(
    e: &IdedExpr,
    variables: &[&str],
    bound: &mut Vec<String>,
    out: &mut Vec<(u64, String)>,
) {
    let mut walk = |e: &IdedExpr, bound: &mut Vec<String>| undeclared(e, variables, bound, out);
    match &e.expr {
        Expr::Ident(name) => {
            let known = name.starts_with('@')
                || variables.contains(&name.as_str())
                || bound.contains(name)
                || TYPE_NAMES.contains(&name.as_str());
            if !known {
                out.push((e.id, name.clone()));
            }
        }
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                walk(target, bound);
            }
            call.args.iter().for_each(|a| walk(a, bound));
        }
        Expr::Comprehension(c) => {
            walk(&c.iter_range, bound);
            walk(&c.accu_init, bound);
            let depth = bound.len();
            bound.push(c.iter_var.clone());
            bound.extend(c.iter_var2.clone());
            bound.push(c.accu_var.clone());
            for part in [&c.loop_cond, &c.loop_step, &c.result] {
                walk(part, bound);
            }
            bound.truncate(depth);
        }
        Expr::List(list) => list.elements.iter().for_each(|x| walk(x, bound)),
        Expr::Map(map) => map.entries.iter().for_each(|x| entry(x, &mut walk, bound)),
        Expr::Struct(s) => s.entries.iter().for_each(|x| entry(x, &mut walk, bound)),
        Expr::Select(select) => walk(&select.operand, bound),
        Expr::Literal(_) | Expr::Unspecified => {}
    }
}

fn entry(
    e: &IdedEntryExpr,
    walk: &mut impl FnMut(&IdedExpr, &mut Vec<String>),
    bound: &mut Vec<String>,
) {
    match &e.expr {
        EntryExpr::MapEntry(m) => {
            walk(&m.key, bound);
            walk(&m.value, bound);
        }
        EntryExpr::StructField(f) => walk(&f.value, bound),
    }
}

/// Where an expression reads `variable.field` (`event.amount`), and the CEL
/// type of a literal it is compared or combined with there: what a schema of
/// the variable's fields checks at save.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldUse {
    pub field: String,
    pub line: u32,
    pub column: u32,
    /// Only tested for presence (`has(event.sku)`).
    pub tested: bool,
    /// The type of the literal on the operator's other side (`"string"` in
    /// `event.amount > "10"`).
    pub against: Option<&'static str>,
}

/// Operators whose two sides must be of compatible types.
const BINARY: [&str; 11] = [
    "_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_", "_+_", "_-_", "_*_", "_/_", "_%_",
];

/// Every read of a field of `path` in `program` (parsed from `source`):
/// `"event"` finds `event.amount`, `"member.counters"` finds
/// `member.counters.scans_today`.
pub fn field_uses(source: &str, program: &Program, path: &str) -> Vec<FieldUse> {
    let path: Vec<&str> = path.split('.').collect();
    let mut found = Vec::new();
    visit_fields(program.expression(), &path, None, &mut found);
    found
        .into_iter()
        .map(|(id, field, tested, against)| {
            let offset = program
                .source_info()
                .offset_for(id)
                .map_or(0, |(start, _)| start);
            let (line, column) = position_at(source, offset as usize);
            let ExprError { line, column, .. } = at(line, column, "");
            FieldUse {
                field,
                line,
                column,
                tested,
                against,
            }
        })
        .collect()
}

type Found = (u64, String, bool, Option<&'static str>);

fn visit_fields(e: &IdedExpr, path: &[&str], against: Option<&'static str>, out: &mut Vec<Found>) {
    match &e.expr {
        Expr::Select(s) if is_path(&s.operand, path) => {
            out.push((e.id, s.field.clone(), s.test, against));
        }
        Expr::Call(call) if BINARY.contains(&call.func_name.as_str()) && call.args.len() == 2 => {
            let [left, right] = [&call.args[0], &call.args[1]];
            visit_fields(left, path, literal_type(right), out);
            visit_fields(right, path, literal_type(left), out);
        }
        _ => children(e)
            .into_iter()
            .for_each(|c| visit_fields(c, path, None, out)),
    }
}

/// Whether `e` is `path` (`member.counters` as selects on an identifier).
fn is_path(e: &IdedExpr, path: &[&str]) -> bool {
    match (&e.expr, path) {
        (Expr::Ident(name), [only]) => name == only,
        (Expr::Select(s), [init @ .., last]) if !init.is_empty() => {
            s.field == *last && !s.test && is_path(&s.operand, init)
        }
        _ => false,
    }
}

fn literal_type(e: &IdedExpr) -> Option<&'static str> {
    use cel::common::ast::LiteralValue as L;
    match &e.expr {
        Expr::Literal(L::Boolean(_)) => Some("bool"),
        Expr::Literal(L::Bytes(_)) => Some("bytes"),
        Expr::Literal(L::Double(_)) => Some("double"),
        Expr::Literal(L::Int(_)) => Some("int"),
        Expr::Literal(L::Null) => Some("null"),
        Expr::Literal(L::String(_)) => Some("string"),
        Expr::Literal(L::UInt(_)) => Some("uint"),
        _ => None,
    }
}

/// The sub-expressions of `e`.
fn children(e: &IdedExpr) -> Vec<&IdedExpr> {
    match &e.expr {
        Expr::Call(call) => call.target.iter().map(|t| &**t).chain(&call.args).collect(),
        Expr::Comprehension(c) => vec![
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ],
        Expr::List(list) => list.elements.iter().collect(),
        Expr::Map(map) => map.entries.iter().flat_map(entry_parts).collect(),
        Expr::Struct(s) => s.entries.iter().flat_map(entry_parts).collect(),
        Expr::Select(select) => vec![&select.operand],
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => vec![],
    }
}

fn entry_parts(x: &IdedEntryExpr) -> Vec<&IdedExpr> {
    match &x.expr {
        EntryExpr::MapEntry(m) => vec![&m.key, &m.value],
        EntryExpr::StructField(f) => vec![&f.value],
    }
}

/// The 1-based line and column of the character at `offset`.
fn position_at(source: &str, offset: usize) -> (isize, isize) {
    let before: String = source.chars().take(offset).collect();
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

/// Whether the member with `facts` granted `profiling` consent. Without it
/// a member is in no segment, wherever segments are evaluated: that purpose
/// governs the use of a profile for targeting.
pub fn may_profile(facts: &Map<String, Json>) -> bool {
    facts
        .get("consent")
        .and_then(|c| c.get("profiling"))
        .and_then(Json::as_bool)
        .unwrap_or(false)
}

/// The `member` an expression sees: identity's facts (locale, country,
/// birthday, attributes, consent) plus its `id` and `external_id`.
pub fn member(member_id: &str, external_id: &str, facts: &Map<String, Json>) -> Json {
    let mut member = facts.clone();
    member.insert("id".into(), member_id.into());
    member.insert("external_id".into(), external_id.into());
    Json::Object(member)
}

thread_local! {
    /// The standard library and Questline's functions, built once per
    /// thread: every evaluation is a child scope of it.
    static ROOT: Context<'static, 'static> = root();
}

fn root() -> Context<'static, 'static> {
    let mut context = Context::default();
    if let Err(err) = context.add_function("distance", distance) {
        tracing::error!(%err, "the distance function could not be declared");
    }
    context
}

/// A variable's value as expressions see it: converted once, then bound by
/// reference in as many scopes as need it.
#[derive(Debug)]
pub struct Variable(Box<dyn Val>);

/// The variables of one evaluation, shared by every expression run against
/// them, with the functions rules may call: `distance(lat1, lng1, lat2,
/// lng2)`, the great-circle distance in metres.
pub struct Scope<'a> {
    context: Context<'a, 'a>,
}

impl Scope<'_> {
    pub fn run(&self, program: &Program) -> Result<Value, String> {
        program.execute(&self.context).map_err(|e| e.to_string())
    }

    /// Runs a predicate: true, false, or why it could not say.
    pub fn holds(&self, program: &Program) -> Result<bool, String> {
        match self.run(program)? {
            Value::Bool(b) => Ok(b),
            other => Err(format!("gave {other:?}, not a bool")),
        }
    }

    /// Runs `f` in a scope that adds `bindings` to these.
    pub fn with<R>(&self, bindings: &[(&str, &Variable)], f: impl FnOnce(&Scope) -> R) -> R {
        let named = Named(bindings);
        f(&child(&self.context, &named))
    }
}

/// Variables lent to a scope: read in place, never copied into it.
struct Named<'a>(&'a [(&'a str, &'a Variable)]);

impl VariableResolver for Named<'_> {
    fn resolve<'b>(&'b self, name: &str) -> Option<CowVal<'b, 'b>> {
        self.0
            .iter()
            .find(|(bound, _)| *bound == name)
            .map(|(_, variable)| CowVal::Borrowed(variable.0.as_ref()))
    }
}

/// A child scope of `parent` that sees `named`.
fn child<'a>(parent: &'a Context<'a, 'a>, named: &'a Named<'a>) -> Scope<'a> {
    let mut context = parent.new_inner_scope();
    context.set_variable_resolver(named);
    Scope { context }
}

/// Runs `f` in a scope binding each `(name, variable)`.
pub fn in_scope<R>(bindings: &[(&str, &Variable)], f: impl FnOnce(&Scope) -> R) -> R {
    let named = Named(bindings);
    ROOT.with(|root| f(&child(root, &named)))
}

/// A JSON value as expressions see it; convert once, bind many times. A
/// non-negative integer is a `uint`, as serde gives it.
pub fn value(json: &Json) -> Variable {
    Variable(val(json))
}

fn val(json: &Json) -> Box<dyn Val> {
    match json {
        Json::Null => Box::new(CelNull),
        Json::Bool(b) => Box::new(CelBool::from(*b)),
        Json::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Box::new(CelUInt::from(u)),
            (None, Some(i)) => Box::new(CelInt::from(i)),
            (None, None) => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        },
        Json::String(s) => Box::new(CelString::from(s.clone())),
        Json::Array(items) => Box::new(CelList::from(items.iter().map(val).collect::<Vec<_>>())),
        Json::Object(fields) => {
            let entries = fields
                .iter()
                .map(|(name, field)| (CelMapKey::from(name.clone()), val(field)));
            Box::new(CelMap::from(entries.collect::<HashMap<_, _>>()))
        }
    }
}

/// Mean radius of the Earth in metres (IUGG).
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Haversine distance in metres between two latitude/longitude points in degrees.
pub fn distance(lat1: f64, lng1: f64, lat2: f64, lng2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lng2 - lng1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
}

/// Runs `f` in a scope binding each `(name, JSON)`, converted first.
fn in_json_scope<R>(bindings: &[(&str, &Json)], f: impl FnOnce(&Scope) -> R) -> R {
    let values: Vec<_> = bindings
        .iter()
        .map(|(name, json)| (*name, value(json)))
        .collect();
    let bound: Vec<_> = values.iter().map(|(n, v)| (*n, v)).collect();
    in_scope(&bound, f)
}

/// Runs `program` with each `(name, value)` bound.
pub fn run(program: &Program, bindings: &[(&str, &Json)]) -> Result<Value, String> {
    in_json_scope(bindings, |scope| scope.run(program))
}

/// Runs a predicate: true, false, or why it could not say.
pub fn holds(program: &Program, bindings: &[(&str, &Json)]) -> Result<bool, String> {
    in_json_scope(bindings, |scope| scope.holds(program))
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

    #[test]
    fn field_uses_name_each_read_its_position_and_the_literal_it_meets() {
        let source =
            "event.amount > \"10\" &&\n  has(event.sku) && [1].exists(i, event.store == i)";
        let program = parse(source).unwrap();
        let uses = field_uses(source, &program, "event");
        let seen: Vec<_> = uses
            .iter()
            .map(|u| (u.field.as_str(), u.line, u.tested, u.against))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("amount", 1, false, Some("string")),
                ("sku", 2, true, None),
                ("store", 2, false, None),
            ]
        );
        assert_eq!(uses[0].column, 6, "{uses:?}");
        let source = "member.counters.scans_today >= 2 && member.country == 'SG'";
        let program = parse(source).unwrap();
        let read: Vec<_> = field_uses(source, &program, "member.counters")
            .into_iter()
            .map(|u| u.field)
            .collect();
        assert_eq!(read, ["scans_today"]);
    }

    #[test]
    fn distance_is_in_metres_and_rules_can_call_it() {
        // Two points on Marina Bay, about 790 m apart.
        let d = distance(1.2834, 103.8607, 1.2868, 103.8545);
        assert!((700.0..820.0).contains(&d), "{d}");
        assert!(distance(1.3, 103.8, 1.3, 103.8).abs() < 1e-6);
        // A quarter of the Earth's circumference along the equator.
        let quarter = distance(0.0, 0.0, 0.0, 90.0);
        assert!((quarter - 10_007_557.0).abs() < 10.0, "{quarter}");
        let event = json!({"location": {"lat": 1.2834, "lng": 103.8607}});
        let near = compile(
            "distance(event.location.lat, event.location.lng, 1.2868, 103.8545) < 1000.0",
            &["event"],
        )
        .unwrap();
        assert_eq!(holds(&near, &[("event", &event)]), Ok(true));
    }
}
