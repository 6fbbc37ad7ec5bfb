//! Inbox messages as protobuf.

use questline_kit::time::to_timestamp;
use questline_proto::notifications as pb;

use crate::store::entities::message as message_row;

pub fn message(m: message_row::Model) -> pb::InboxMessage {
    pb::InboxMessage {
        message_id: m.message_id,
        tenant_id: m.tenant_id,
        member_id: m.member_id,
        event_type: m.event_type,
        title: m.title,
        body: m.body,
        create_time: Some(to_timestamp(m.created_at)),
        read_time: (m.read_at > 0).then(|| to_timestamp(m.read_at)),
    }
}
