//! The error table and the hop between services.

use super::*;

#[test]
fn invalid_input_carries_every_field_violation() {
    let err = Violations::new()
        .id("tenant_id", "")
        .positive("amount", -5)
        .id("member_id", "ok-1")
        .finish()
        .unwrap_err();
    let status = Status::from(err);
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<_> = status
        .get_details_bad_request()
        .unwrap()
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["tenant_id", "amount"]);
}

#[test]
fn preconditions_survive_a_hop_between_services() {
    let err = DomainError::precondition("INSUFFICIENT_FUNDS", "member:m1", "not enough stars");
    let back = from_upstream(Status::from(err.clone()));
    assert_eq!(back, err);
}

#[test]
fn a_connection_cut_mid_call_is_unavailable_not_internal() {
    let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
    let status = Status::from_error(Box::new(reset));
    assert_eq!(status.code(), Code::Unknown, "what tonic makes of it");
    let err = from_upstream(status);
    assert!(matches!(err, DomainError::Unavailable(_)), "{err:?}");
    assert!(err.class().retryable);
    // An UNKNOWN the peer itself answered stays a fault.
    let answered = from_upstream(Status::unknown("peer bug"));
    assert_eq!(answered.code(), Code::Internal);
}

#[test]
fn a_client_timeout_is_deadline_exceeded() {
    let status = Status::from_error(Box::new(tonic::TimeoutExpired(())));
    assert_eq!(status.code(), Code::Cancelled, "what tonic makes of it");
    assert_eq!(from_upstream(status).code(), Code::DeadlineExceeded);
    assert_eq!(
        from_upstream(Status::cancelled("client went away")).code(),
        Code::Unavailable
    );
}

#[test]
fn the_error_table_reads_the_same_both_ways() {
    use http::StatusCode as H;
    let retryable = [
        (Code::Aborted, H::CONFLICT),
        (Code::ResourceExhausted, H::TOO_MANY_REQUESTS),
        (Code::Unavailable, H::SERVICE_UNAVAILABLE),
        (Code::DeadlineExceeded, H::SERVICE_UNAVAILABLE),
    ];
    for (code, http) in retryable {
        assert_eq!(class_of(code).http, http, "{code:?}");
        assert!(class_of(code).retryable, "{code:?}");
        let err = from_upstream(Status::new(code, "x"));
        assert_eq!(err.code(), code, "a hop keeps the code");
    }
    for code in [Code::Internal, Code::Unknown, Code::DataLoss] {
        assert_eq!(class_of(code).http, H::INTERNAL_SERVER_ERROR);
        assert!(!class_of(code).retryable);
    }
}

#[test]
fn a_create_again_answers_the_stored_definition() {
    assert_eq!(same_or_exists(7, true, "rule", "r1"), Ok(7));
    let err = same_or_exists(7, false, "rule", "r1").unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert_eq!(
        err.to_string(),
        "rule r1 already exists with another definition"
    );
}

#[test]
fn text_refuses_control_characters_that_databases_reject() {
    assert!(
        Violations::new()
            .text("name", "Caf\u{e9} \u{2615}")
            .finish()
            .is_ok()
    );
    assert!(Violations::new().text("name", "a\u{0}b").finish().is_err());
    assert!(
        Violations::new()
            .optional_text("reason", "")
            .finish()
            .is_ok()
    );
    assert!(Violations::new().text("name", "  ").finish().is_err());
}

#[test]
fn ids_reject_spaces_and_overlong_values() {
    assert!(Violations::new().id("x", "a b").finish().is_err());
    assert!(
        Violations::new()
            .id("x", &"a".repeat(257))
            .finish()
            .is_err()
    );
    assert!(
        Violations::new()
            .id("x", "rule:purchase-1")
            .finish()
            .is_ok()
    );
}

#[test]
fn codes_are_named_as_the_protocol_names_them() {
    assert_eq!(code_name(Code::InvalidArgument), "INVALID_ARGUMENT");
    assert_eq!(code_name(Code::NotFound), "NOT_FOUND");
    assert_eq!(code_name(Code::Ok), "OK");
    for code in [
        Code::Ok,
        Code::InvalidArgument,
        Code::FailedPrecondition,
        Code::Unauthenticated,
    ] {
        assert_eq!(code_named(&code_name(code)), code);
    }
    assert_eq!(code_named("NOT_A_CODE"), Code::Unknown);
}

#[test]
fn many_violations_fit_in_one_status() {
    let long = "x".repeat(256);
    let mut v = Violations::new();
    for i in 0..500 {
        v.add(&format!("rules[{i}].name"), long.clone());
    }
    let status = Status::from(v.finish().unwrap_err());
    let details = tonic_types::StatusExt::get_details_bad_request(&status).unwrap();
    assert_eq!(details.field_violations.len(), MAX_VIOLATIONS);
    assert!(status.message().len() < 8 * 1024);
}

#[test]
fn a_batch_holds_one_item_to_its_most() {
    let said = |len| match Violations::new().batch("credits", len, 1000).finish() {
        Ok(()) => String::new(),
        Err(DomainError::Invalid(list)) => list[0].description.clone(),
        Err(other) => panic!("{other:?}"),
    };
    assert_eq!(said(0), "is required");
    assert_eq!(said(1), "");
    assert_eq!(said(1000), "");
    assert_eq!(said(1001), "must hold at most 1000 credits");
}
