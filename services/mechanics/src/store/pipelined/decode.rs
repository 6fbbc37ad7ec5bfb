//! PostgreSQL rows into the store's row types, column by name.

use questline_kit::decode_row;
use questline_kit::members::entity as snapshot;
use tokio_postgres::{Error, Row};

use crate::store::entities::{award, member_counter, member_trait, tracked_event};

type Decoded<T> = Result<T, Error>;

pub fn tracked_event(row: &Row) -> Decoded<tracked_event::Model> {
    decode_row!(row => tracked_event::Model {
        tenant_id, event_id, member_id, event_type, fingerprint, status, occurred_at,
        created_at, attributes, verdicts,
    })
}

pub fn award(row: &Row) -> Decoded<award::Model> {
    decode_row!(row => award::Model {
        tenant_id, event_id, rule_id, rule_name, member_id, currency, points, transfer_id,
        rule_version,
    })
}

pub fn member_snapshot(row: &Row) -> Decoded<snapshot::Model> {
    decode_row!(row => snapshot::Model { tenant_id, member_id, external_id, facts, erased, as_of })
}

pub fn member_trait(row: &Row) -> Decoded<member_trait::Model> {
    decode_row!(row => member_trait::Model { tenant_id, member_id, kind, name, value, updated_at })
}

pub fn member_counter(row: &Row) -> Decoded<member_counter::Model> {
    decode_row!(row => member_counter::Model { tenant_id, member_id, counter_id, bucket, value })
}
