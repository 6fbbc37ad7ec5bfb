//! Protobuf messages as JSON, and gRPC calls without generated types: the
//! services' own descriptors say what every request and answer holds, so a
//! REST resource is one line of `table.rs`, never a hand-copied struct.
//!
//! JSON follows protobuf's canonical mapping with the proto field names
//! (`member_id`, not `memberId`), 64-bit integers as numbers, enums by name,
//! `Timestamp` as RFC 3339 and `Struct` as any object.

use prost::Message;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor, MethodDescriptor,
    SerializeOptions,
};
use serde_json::Value;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Every service and message of the mesh.
pub fn pool() -> &'static DescriptorPool {
    questline_proto::pool()
}

/// The method `service/method`, e.g. `questline.identity.v1.IdentityService/GetMember`.
pub fn method(path: &str) -> Option<MethodDescriptor> {
    let (service, name) = path.split_once('/')?;
    pool()
        .get_service_by_name(service)?
        .methods()
        .find(|m| m.name() == name)
}

/// A request message from JSON; unknown fields and wrong types are refused
/// with the parser's words.
pub fn from_json(desc: MessageDescriptor, json: Value) -> Result<DynamicMessage, String> {
    let options = DeserializeOptions::new().deny_unknown_fields(true);
    DynamicMessage::deserialize_with_options(desc, json, &options).map_err(|e| e.to_string())
}

/// An answer as JSON, every field present (defaults included), so clients
/// and the document agree on the shape.
pub fn to_json(message: &DynamicMessage) -> Result<Value, String> {
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .stringify_64_bit_integers(false)
        .skip_default_fields(false);
    message
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| e.to_string())
}

/// Encodes any message; decodes the answer as `answer` describes it.
#[derive(Clone)]
pub struct DynamicCodec {
    pub answer: MessageDescriptor,
}

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> DynamicEncoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> DynamicDecoder {
        DynamicDecoder(self.answer.clone())
    }
}

pub struct DynamicEncoder;

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn encode(&mut self, item: DynamicMessage, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(buf)
            .map_err(|e| Status::internal(format!("request not encoded: {e}")))
    }
}

pub struct DynamicDecoder(MessageDescriptor);

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, Status> {
        DynamicMessage::decode(self.0.clone(), buf)
            .map(Some)
            .map_err(|e| Status::internal(format!("answer not decoded: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_method_of_the_mesh_is_found_by_its_path() {
        let get = method("questline.identity.v1.IdentityService/GetMember").unwrap();
        assert_eq!(get.input().name(), "GetMemberRequest");
        assert!(method("questline.identity.v1.IdentityService/Nope").is_none());
        assert!(method("nonsense").is_none());
    }

    #[test]
    fn json_round_trips_with_proto_names_and_numbers() {
        let desc = pool()
            .get_message_by_name("questline.rewards.v1.CreateRewardRequest")
            .unwrap();
        let request = from_json(
            desc,
            json!({"reward_id": "pastry", "price": 20, "voucher_source": "VOUCHER_SOURCE_POOL"}),
        )
        .unwrap();
        let back = to_json(&request).unwrap();
        assert_eq!(back["price"], 20);
        assert_eq!(back["voucher_source"], "VOUCHER_SOURCE_POOL");
        assert_eq!(back["name"], "");
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_refused() {
        let desc = pool()
            .get_message_by_name("questline.rewards.v1.CreateRewardRequest")
            .unwrap();
        assert!(from_json(desc.clone(), json!({"colour": "red"})).is_err());
        assert!(from_json(desc.clone(), json!({"price": "a lot"})).is_err());
        assert!(from_json(desc, json!([1])).is_err());
    }
}
