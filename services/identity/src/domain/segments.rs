//! Segments: named CEL predicates over what rules see of a member (`facts`,
//! its id and external id; never a name, email or phone).
//!
//! Invariant: a member who has not granted `profiling` consent is in no
//! segment, whatever the predicate says; that purpose is what governs the
//! use of a profile for targeting.

use cel::Program;
use questline_kit::Violations;
use questline_kit::expr::{self, ExprError};
use serde_json::{Map, Value as Json};

/// The one name a predicate may use.
pub const VARIABLES: [&str; 1] = ["member"];

/// Whether a member is in a segment, and why not when the predicate did not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Membership {
    In,
    Out,
    NoProfilingConsent,
    /// The predicate failed on this member, e.g. on a missing attribute.
    Failed(String),
}

impl Membership {
    pub fn is_in(&self) -> bool {
        *self == Membership::In
    }

    /// The reason to give a caller, empty when the predicate decided.
    pub fn reason(&self) -> String {
        match self {
            Membership::In | Membership::Out => String::new(),
            Membership::NoProfilingConsent => "the member has not consented to profiling".into(),
            Membership::Failed(why) => format!("the predicate failed: {why}"),
        }
    }
}

/// Checks a predicate, every mistake with its position.
pub fn compile(predicate: &str) -> Result<Program, Vec<ExprError>> {
    if predicate.trim().is_empty() {
        return Err(vec![ExprError {
            line: 1,
            column: 1,
            message: "a predicate is required".into(),
        }]);
    }
    expr::compile(predicate, &VARIABLES)
}

/// Like `compile`, adding each mistake to `v` as a violation of `predicate`.
pub fn check(v: &mut Violations, predicate: &str) -> Option<Program> {
    expr::reported(v, "predicate", compile(predicate))
}

/// Whether the member with these facts is in the segment of `program`.
pub fn membership(
    program: &Program,
    member_id: &str,
    external_id: &str,
    facts: &Map<String, Json>,
) -> Membership {
    if !expr::may_profile(facts) {
        return Membership::NoProfilingConsent;
    }
    let member = expr::member(member_id, external_id, facts);
    match expr::holds(program, &[("member", &member)]) {
        Ok(true) => Membership::In,
        Ok(false) => Membership::Out,
        Err(why) => Membership::Failed(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const COFFEE_IN_SG: &str =
        r#"member.country == "SG" && member.attributes.interests.exists(i, i == "coffee")"#;

    fn facts(country: &str, interests: &[&str], profiling: bool) -> Map<String, Json> {
        json!({
            "country": country,
            "attributes": {"interests": interests},
            "consent": {"profiling": profiling, "push": true},
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    #[test]
    fn the_issue_example_selects_coffee_lovers_in_singapore() {
        let p = compile(COFFEE_IN_SG).unwrap();
        let sg_coffee = facts("SG", &["tea", "coffee"], true);
        assert_eq!(membership(&p, "m1", "a", &sg_coffee), Membership::In);
        let fr_coffee = facts("FR", &["coffee"], true);
        assert_eq!(membership(&p, "m2", "b", &fr_coffee), Membership::Out);
        let sg_tea = facts("SG", &["tea"], true);
        assert_eq!(membership(&p, "m3", "c", &sg_tea), Membership::Out);
    }

    #[test]
    fn without_profiling_consent_a_member_is_in_no_segment() {
        let p = compile("true").unwrap();
        let m = membership(&p, "m1", "a", &facts("SG", &[], false));
        assert_eq!(m, Membership::NoProfilingConsent);
        assert!(!m.is_in() && m.reason().contains("profiling"));
    }

    #[test]
    fn a_failing_predicate_leaves_the_member_out_with_a_reason() {
        let p = compile("member.attributes.tier == 'gold'").unwrap();
        let m = membership(&p, "m1", "a", &facts("SG", &[], true));
        assert!(matches!(m, Membership::Failed(_)) && !m.is_in());
        assert!(m.reason().starts_with("the predicate failed"));
    }

    #[test]
    fn mistakes_come_with_positions() {
        let errors = compile("member.country == 'SG' &&\n  membr.tier == 1").unwrap_err();
        assert_eq!((errors[0].line, errors[0].column), (2, 3), "{errors:?}");
        assert!(compile("  ").is_err());
        assert!(compile("member.country ==").is_err());
        let mut v = Violations::new();
        assert!(check(&mut v, "(").is_none());
        assert!(v.finish().is_err());
    }
}
