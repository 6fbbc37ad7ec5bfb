//! Unsubscribe links: a token naming the member, the channel and the topic
//! a message came on, signed with the programme's own key, so the link
//! works without signing in and cannot be forged or pointed at another
//! member.
//!
//! A token is `<payload>.<mac>`: the base64url of the JSON
//! `[tenant_id, member_id, channel, topic]`, and the base64url of the
//! first 16 bytes of HMAC-SHA256 over that text. Following one turns off
//! the topic, or the channel when the message had no topic.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::channels::Channel;

/// Bytes of a programme's key.
pub const KEY_BYTES: usize = 32;
/// Bytes of the MAC kept: 128 bits, as much as a guess would need.
const MAC_BYTES: usize = 16;
/// The longest token read; a real one is far shorter.
const MOST_TOKEN_BYTES: usize = 2048;

/// What one link turns off, for whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    pub tenant_id: String,
    pub member_id: String,
    pub channel: Channel,
    /// Empty: the message had no topic; the channel is turned off.
    pub topic: String,
}

impl Unsubscribe {
    /// The link's token, signed with `key`.
    pub fn token(&self, key: &[u8]) -> String {
        let payload = serde_json::json!([
            self.tenant_id,
            self.member_id,
            self.channel.name(),
            self.topic
        ]);
        let payload = URL_SAFE_NO_PAD.encode(payload.to_string());
        let mac = URL_SAFE_NO_PAD.encode(mac(key, &payload));
        format!("{payload}.{mac}")
    }
}

/// The claim a token makes, unverified: the tenant names the key to check
/// it with (`verify`).
pub fn read(token: &str) -> Option<Unsubscribe> {
    if token.len() > MOST_TOKEN_BYTES {
        return None;
    }
    let (payload, _) = token.split_once('.')?;
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let [tenant_id, member_id, channel, topic]: [String; 4] = serde_json::from_slice(&json).ok()?;
    Some(Unsubscribe {
        tenant_id,
        member_id,
        channel: Channel::parse(&channel)?,
        topic,
    })
}

/// Whether `token` was signed with `key`, compared in constant time.
pub fn verify(token: &str, key: &[u8]) -> bool {
    let Some((payload, given)) = token.split_once('.') else {
        return false;
    };
    let Ok(given) = URL_SAFE_NO_PAD.decode(given) else {
        return false;
    };
    let mut check = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    check.update(payload.as_bytes());
    given.len() == MAC_BYTES && check.verify_truncated_left(&given).is_ok()
}

fn mac(key: &[u8], payload: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(payload.as_bytes());
    mac.finalize().into_bytes()[..MAC_BYTES].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offers() -> Unsubscribe {
        Unsubscribe {
            tenant_id: "acme".into(),
            member_id: "m1".into(),
            channel: Channel::Email,
            topic: "offers".into(),
        }
    }

    #[test]
    fn a_token_reads_back_and_verifies_with_its_key_only() {
        let key = [7u8; KEY_BYTES];
        let token = offers().token(&key);
        assert_eq!(read(&token), Some(offers()));
        assert!(verify(&token, &key));
        assert!(!verify(&token, &[8u8; KEY_BYTES]));
        // The URL needs no escaping.
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        );
    }

    #[test]
    fn a_changed_member_or_a_cut_mac_fails() {
        let key = [7u8; KEY_BYTES];
        let token = offers().token(&key);
        let (_, mac) = token.split_once('.').unwrap();
        let other = Unsubscribe {
            member_id: "m2".into(),
            ..offers()
        }
        .token(&[0u8; KEY_BYTES]);
        let (other_payload, _) = other.split_once('.').unwrap();
        assert!(!verify(&format!("{other_payload}.{mac}"), &key));
        assert!(!verify(&token[..token.len() - 2], &key));
        assert!(!verify("", &key));
        assert_eq!(read("not-a-token"), None);
        assert_eq!(read(&"a".repeat(5000)), None);
    }
}
