//! The table against the services' descriptors: every line names a real
//! RPC and every path parameter lands in a field.

use super::*;

#[test]
fn every_resource_names_a_real_rpc_and_a_unique_operation() {
    let mut ids = std::collections::BTreeSet::new();
    for resource in RESOURCES {
        assert!(
            messages::method(resource.rpc).is_some(),
            "{} names no RPC",
            resource.rpc
        );
        assert!(
            ids.insert(resource.operation_id),
            "{} twice",
            resource.operation_id
        );
    }
}

#[test]
fn every_path_parameter_fills_a_field_of_its_request() {
    for resource in RESOURCES {
        let input = messages::method(resource.rpc).unwrap().input();
        for field in resource.bound_fields() {
            assert!(
                input.get_field_by_name(field).is_some(),
                "{} {}: {field} is not a field of {}",
                resource.verb.name(),
                resource.path,
                input.name()
            );
        }
    }
}

#[test]
fn every_body_example_is_a_valid_request() {
    for resource in RESOURCES.iter().filter(|r| r.verb.has_body()) {
        let example = resource
            .example
            .unwrap_or_else(|| panic!("{} has no example", resource.path));
        let json: serde_json::Value = serde_json::from_str(example).unwrap();
        let input = messages::method(resource.rpc).unwrap().input();
        let request = match resource.body {
            Some(field) => serde_json::json!({ field: json }),
            None => json,
        };
        messages::from_json(input, request).unwrap_or_else(|e| panic!("{}: {e}", resource.path));
    }
}

#[test]
fn placeholders_fill_from_values() {
    let value = |name: &str| (name == "member_id").then(|| "m1".to_string());
    assert_eq!(
        fill("member:{member_id}", &value).as_deref(),
        Some("member:m1")
    );
    assert_eq!(fill("/v1/x/{other}", &value), None);
    assert_eq!(
        parameters("/v1/segments/{segment_id}/members/{member_id}"),
        ["segment_id", "member_id"]
    );
}
