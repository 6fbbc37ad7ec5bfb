//! Code generated from `proto/`: one module per protobuf package.

/// `questline.identity.v1`
pub mod identity {
    tonic::include_proto!("questline.identity.v1");
}
/// `questline.ledger.v1`
pub mod ledger {
    tonic::include_proto!("questline.ledger.v1");
}
/// `questline.mechanics.v1`
pub mod mechanics {
    tonic::include_proto!("questline.mechanics.v1");
}
/// `questline.rewards.v1`
pub mod rewards {
    tonic::include_proto!("questline.rewards.v1");
}
/// `questline.notifications.v1`
pub mod notifications {
    tonic::include_proto!("questline.notifications.v1");
}
/// `questline.events.v1`
pub mod events {
    tonic::include_proto!("questline.events.v1");
}

/// Every questline service and message, encoded for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/questline_descriptor.bin"));

/// Every questline service and message, for JSON and reflection.
pub fn pool() -> &'static prost_reflect::DescriptorPool {
    static POOL: std::sync::OnceLock<prost_reflect::DescriptorPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        // Compiled into the binary from `proto/`: a failure is a build defect.
        #[allow(clippy::expect_used)]
        prost_reflect::DescriptorPool::decode(FILE_DESCRIPTOR_SET)
            .expect("the compiled descriptor set decodes")
    })
}
