//! Schedules read on the wall clock of their zone, across both DST changes.

use super::*;

fn ms(rfc3339: &str) -> i64 {
    rfc3339
        .parse::<Timestamp>()
        .expect("an instant")
        .as_millisecond()
}

fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).expect("a zone")
}

fn schedule(days: &[Day], windows: &[(&str, &str)]) -> CompiledSchedule {
    let s = Schedule {
        days: days.to_vec(),
        windows: windows
            .iter()
            .map(|(start, end)| Window {
                start: (*start).into(),
                end: (*end).into(),
            })
            .collect(),
        ..Schedule::default()
    };
    let mut v = Violations::new();
    let compiled = s.compile(&mut v, "schedule");
    v.finish().expect("a valid schedule");
    compiled
}

#[test]
fn saturdays_nine_to_three_in_singapore() {
    let s = schedule(&[Day::Saturday], &[("09:00", "15:00")]);
    let sg = zone("Asia/Singapore");
    // 2026-12-05 is a Saturday; Singapore is UTC+8 all year.
    let table = [
        ("2026-12-05T00:59:59Z", false), // 08:59:59 local
        ("2026-12-05T01:00:00Z", true),  // 09:00 local
        ("2026-12-05T06:59:59Z", true),  // 14:59:59 local
        ("2026-12-05T07:00:00Z", false), // 15:00 local: the end is excluded
        ("2026-12-04T02:00:00Z", false), // Friday 10:00 local
        ("2026-12-05T20:00:00Z", false), // Sunday 04:00 local, Saturday in UTC
    ];
    for (at, want) in table {
        assert_eq!(s.contains(&sg, ms(at)), want, "{at}");
    }
}

#[test]
fn windows_keep_wall_clock_hours_across_spring_forward() {
    // New York springs forward on Sunday 2026-03-08 at 02:00 → 03:00.
    let ny = zone("America/New_York");
    let s = schedule(&[Day::Sunday], &[("01:00", "04:00")]);
    let table = [
        ("2026-03-08T05:59:59Z", false), // 00:59:59 EST
        ("2026-03-08T06:00:00Z", true),  // 01:00 EST
        ("2026-03-08T06:59:59Z", true),  // 01:59:59 EST
        ("2026-03-08T07:00:00Z", true),  // 03:00 EDT (02:00 never happens)
        ("2026-03-08T07:59:59Z", true),  // 03:59:59 EDT
        ("2026-03-08T08:00:00Z", false), // 04:00 EDT
    ];
    for (at, want) in table {
        assert_eq!(s.contains(&ny, ms(at)), want, "{at}");
    }
    // The skipped hour matches no instant at all that day.
    let skipped = schedule(&[], &[("02:00", "03:00")]);
    let hits = (0..24 * 60)
        .map(|m| ms("2026-03-08T05:00:00Z") + m * 60_000)
        .filter(|at| skipped.contains(&ny, *at))
        .count();
    assert_eq!(hits, 0);
}

#[test]
fn a_repeated_hour_matches_both_times_at_fall_back() {
    // New York falls back on Sunday 2026-11-01 at 02:00 EDT → 01:00 EST.
    let ny = zone("America/New_York");
    let s = schedule(&[], &[("01:00", "02:00")]);
    let minutes = (0..24 * 60)
        .map(|m| ms("2026-11-01T04:00:00Z") + m * 60_000)
        .filter(|at| s.contains(&ny, *at))
        .count();
    assert_eq!(minutes, 120, "01:00–02:00 happens twice that night");
    assert!(s.contains(&ny, ms("2026-11-01T05:30:00Z"))); // 01:30 EDT
    assert!(s.contains(&ny, ms("2026-11-01T06:30:00Z"))); // 01:30 EST
    assert!(!s.contains(&ny, ms("2026-11-01T07:00:00Z"))); // 02:00 EST
}

#[test]
fn london_saturday_mornings_through_the_october_change() {
    // London falls back on Sunday 2026-10-25; Saturday the 24th is BST (UTC+1),
    // Saturday the 31st is GMT.
    let london = zone("Europe/London");
    let s = schedule(&[Day::Saturday], &[("09:00", "12:00")]);
    assert!(s.contains(&london, ms("2026-10-24T08:00:00Z"))); // 09:00 BST
    assert!(!s.contains(&london, ms("2026-10-24T11:00:00Z"))); // 12:00 BST
    assert!(!s.contains(&london, ms("2026-10-31T08:00:00Z"))); // 08:00 GMT
    assert!(s.contains(&london, ms("2026-10-31T09:00:00Z"))); // 09:00 GMT
    assert!(s.contains(&london, ms("2026-10-31T11:59:00Z"))); // 11:59 GMT
}

#[test]
fn the_active_range_includes_its_start_and_excludes_its_end() {
    let s = Schedule {
        start_ms: Some(1_000),
        end_ms: Some(2_000),
        ..Schedule::default()
    };
    let s = s.compile(&mut Violations::new(), "schedule");
    let utc = TimeZone::UTC;
    assert!(!s.contains(&utc, 999));
    assert!(s.contains(&utc, 1_000));
    assert!(s.contains(&utc, 1_999));
    assert!(!s.contains(&utc, 2_000));
}

#[test]
fn bad_windows_and_ranges_are_field_violations() {
    let bad = Schedule {
        start_ms: Some(5),
        end_ms: Some(5),
        windows: vec![
            Window {
                start: "9:00".into(),
                end: "24:01".into(),
            },
            Window {
                start: "15:00".into(),
                end: "09:00".into(),
            },
            Window {
                start: "00:00".into(),
                end: "24:00".into(),
            },
        ],
        ..Schedule::default()
    };
    let mut v = Violations::new();
    bad.compile(&mut v, "schedule");
    let Err(questline_kit::DomainError::Invalid(violations)) = v.finish() else {
        panic!("expected violations");
    };
    let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "schedule.end_time",
            "schedule.windows[0].start",
            "schedule.windows[0].end",
            "schedule.windows[1].end"
        ]
    );
}

#[test]
fn days_number_from_monday() {
    for (i, day) in Day::ALL.iter().enumerate() {
        assert_eq!(day.number(), i as i8 + 1);
        assert_eq!(Day::from_number(day.number()), Some(*day));
    }
    assert_eq!(Day::from_number(0), None);
    assert_eq!(Day::from_number(8), None);
}
