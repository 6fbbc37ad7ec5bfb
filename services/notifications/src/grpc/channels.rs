//! Channels between the API's enum and the domain's.

use questline_proto::notifications as pb;

use crate::domain::channels::Channel;

/// The channel a request names; None for UNSPECIFIED or an unknown number.
pub fn channel_of(value: i32) -> Option<Channel> {
    match pb::Channel::try_from(value).ok()? {
        pb::Channel::Inbox => Some(Channel::Inbox),
        pb::Channel::Email => Some(Channel::Email),
        pb::Channel::Push => Some(Channel::Push),
        pb::Channel::Sms => Some(Channel::Sms),
        pb::Channel::Unspecified => None,
    }
}

pub fn pb_channel(channel: Channel) -> pb::Channel {
    match channel {
        Channel::Inbox => pb::Channel::Inbox,
        Channel::Email => pb::Channel::Email,
        Channel::Push => pb::Channel::Push,
        Channel::Sms => pb::Channel::Sms,
    }
}
