//! Time triggers come once: a birthday a year, an inactivity a lapse.

use super::*;
use jiff::civil::date;

fn dates(birthday: Option<Date>, joined: Option<Date>) -> MemberDates {
    MemberDates { birthday, joined }
}

#[test]
fn a_birthday_comes_once_a_year_and_29_february_on_the_28th() {
    let leap = dates(Some(date(2000, 2, 29)), None);
    let due = birthday("m1", leap, date(2027, 2, 28)).unwrap();
    assert_eq!(due.event_id, "birthday:m1:2027");
    assert_eq!(due.attributes["age"], 27);
    assert!(birthday("m1", leap, date(2027, 3, 1)).is_none());
    assert!(
        birthday("m1", leap, date(2028, 2, 28)).is_none(),
        "2028 has a 29th"
    );
    assert!(birthday("m1", dates(None, None), date(2027, 2, 28)).is_none());
}

#[test]
fn a_signup_anniversary_starts_the_year_after() {
    let joined = dates(None, Some(date(2025, 12, 6)));
    assert!(signup_anniversary("m1", joined, date(2025, 12, 6)).is_none());
    let due = signup_anniversary("m1", joined, date(2026, 12, 6)).unwrap();
    assert_eq!(
        (due.event_id.as_str(), &due.attributes["years"]),
        ("signup_anniversary:m1:2026", &json!(1))
    );
}

#[test]
fn inactivity_counts_from_the_last_event_or_the_sign_up_once_per_lapse() {
    let day = DAY_MS;
    let now = 100 * day;
    assert!(inactivity("winback", 21, "m1", Some(now - 20 * day), None, now).is_none());
    let due = inactivity("winback", 21, "m1", Some(now - 21 * day), None, now).unwrap();
    assert_eq!(
        due.event_id,
        format!("inactive:winback:m1:{}", now - 21 * day)
    );
    // A day later the same lapse has the same id: tracked once.
    let later = inactivity("winback", 21, "m1", Some(now - 21 * day), None, now + day).unwrap();
    assert_eq!(later.event_id, due.event_id);
    // Never active: counted from the sign-up.
    assert!(inactivity("winback", 21, "m1", None, Some(now - 30 * day), now).is_some());
    assert!(inactivity("winback", 21, "m1", None, None, now).is_none());
}

#[test]
fn clients_may_not_send_the_engines_own_types() {
    assert!(client_may_send("purchase").is_ok());
    assert!(client_may_send(BIRTHDAY).is_err());
}
