//! What a template sees: the event's fields at the top (as the `.proto`
//! names them, with `event_id` and `member_id`: `events::fields` reads
//! them), and `member`, the member's facts (locale, country, birthday,
//! attributes, joined) with their ids. Never a name, email or phone: other
//! services do not hold them.

use serde_json::{Map, Value, json};

/// The names every template may use beside the event's fields.
pub const ALWAYS: &[&str] = &["event_id", "member_id", "member"];

/// A made-up member for previews, in `locale`.
pub fn sample_member(locale: &str) -> Map<String, Value> {
    let member = json!({
        "member_id": "<member_id>",
        "external_id": "<external_id>",
        "locale": locale,
        "country": "",
        "birthday": "",
        "joined": "",
        "attributes": {},
    });
    member.as_object().cloned().unwrap_or_default()
}

/// The variables for one event and its member. Whole numbers read as
/// such: a Struct carries every number as a double, and `120.0 stars`
/// is not what anyone wrote.
pub fn of(mut fields: Map<String, Value>, member: Map<String, Value>) -> Value {
    fields.insert("member".into(), Value::Object(member));
    let mut variables = Value::Object(fields);
    whole_numbers(&mut variables);
    variables
}

/// Integral doubles within the exact range of a double as integers.
fn whole_numbers(value: &mut Value) {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < EXACT)
                && !n.is_i64()
                && !n.is_u64()
            {
                *value = json!(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

/// The member's facts with its ids, as `member` in a template; a fact not
/// known (a member not seen here yet) is empty rather than missing.
pub fn member(
    member_id: &str,
    external_id: &str,
    facts: &Map<String, Value>,
) -> Map<String, Value> {
    let mut member = facts.clone();
    // Consent is for deciding, not for printing.
    member.remove("consent");
    for fact in ["locale", "country", "birthday", "joined"] {
        member.entry(fact).or_insert(json!(""));
    }
    member.entry("attributes").or_insert(json!({}));
    member.insert("member_id".into(), json!(member_id));
    member.insert("external_id".into(), json!(external_id));
    member
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_read_as_integers() {
        let fields = json!({"amount": 120.0, "rate": 1.5, "list": [2.0]});
        let member = json!({"attributes": {"visits": 3.0}});
        let vars = of(
            fields.as_object().unwrap().clone(),
            member.as_object().unwrap().clone(),
        );
        assert_eq!(vars["amount"].to_string(), "120");
        assert_eq!(vars["rate"].to_string(), "1.5");
        assert_eq!(vars["list"][0].to_string(), "2");
        assert_eq!(vars["member"]["attributes"]["visits"].to_string(), "3");
    }

    #[test]
    fn the_member_shows_facts_and_ids_not_consent() {
        let facts =
            json!({"locale": "fr", "consent": {"sms": true}, "attributes": {"tier": "gold"}});
        let member = member("m1", "alice", facts.as_object().unwrap());
        assert_eq!(member["locale"], "fr");
        assert_eq!(member["external_id"], "alice");
        assert_eq!(member["attributes"]["tier"], "gold");
        assert!(!member.contains_key("consent"));
        let unknown = super::member("m2", "", &Map::new());
        assert_eq!(unknown["country"], "");
        assert_eq!(unknown["attributes"], json!({}));
    }
}
