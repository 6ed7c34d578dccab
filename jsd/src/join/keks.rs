//! Key-encryption keys agreed with network servers and application servers, and how session
//! keys leave the JS (TS002 §6.3 KeyEnvelope).
//!
//! Decision, no KEK agreed with the receiver: the key travels in clear (no KEKLabel), unless the
//! operator set [`ClearKeys::Refused`]. TS002 Table 16: "If \[KEKLabel\] is not present, it means
//! the AESKey is transmitted in clear"; ChirpStack's join server and The Things Stack both send
//! clear keys when no KEK is configured, and the Backend Interfaces links are mutual TLS. A hub
//! operator who does not want clear keys to cross the hub refuses them.

use std::collections::HashMap;

use backend::keys::KeyEnvelope;
use lorawan::ids::{AesKey, NetId};

/// A KEK with the label both ends agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedKek {
    label: String,
    key: AesKey,
}

/// A KEKLabel that cannot name a KEK.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a KEKLabel must not be empty: an empty KEKLabel means a key in clear (TS002 §6.3)")]
pub struct EmptyKekLabel;

impl NamedKek {
    /// A KEK and its label; the label must not be empty (an empty KEKLabel reads as "clear").
    pub fn new(label: impl Into<String>, key: AesKey) -> Result<Self, EmptyKekLabel> {
        let label = label.into();
        if label.is_empty() {
            return Err(EmptyKekLabel);
        }
        Ok(Self { label, key })
    }

    /// The KEKLabel.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The KEK.
    pub fn key(&self) -> &AesKey {
        &self.key
    }

    /// `key` wrapped under this KEK (RFC 3394) and labelled.
    pub fn wrap(&self, key: &AesKey) -> KeyEnvelope {
        KeyEnvelope::wrap(self.label.clone(), &self.key, key)
    }
}

/// Where the join logic finds the KEK agreed with a peer.
pub trait KekLookup {
    /// The KEK agreed with the network server of `net_id` (the SenderID of its JoinReq).
    fn network_server(&self, net_id: NetId) -> Option<&NamedKek>;

    /// The KEK agreed with the application server `as_id` (the SenderID of its AppSKeyReq).
    fn application_server(&self, as_id: &str) -> Option<&NamedKek>;
}

/// An in-memory [`KekLookup`], loaded from config or storage.
#[derive(Debug, Clone, Default)]
pub struct KekTable {
    network_servers: HashMap<NetId, NamedKek>,
    application_servers: HashMap<String, NamedKek>,
}

impl KekTable {
    /// An empty table: every key would travel in clear.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the KEK of the network server of `net_id`.
    pub fn with_network_server(mut self, net_id: NetId, kek: NamedKek) -> Self {
        self.network_servers.insert(net_id, kek);
        self
    }

    /// Adds (or replaces) the KEK of application server `as_id`.
    pub fn with_application_server(mut self, as_id: impl Into<String>, kek: NamedKek) -> Self {
        self.application_servers.insert(as_id.into(), kek);
        self
    }
}

impl KekLookup for KekTable {
    fn network_server(&self, net_id: NetId) -> Option<&NamedKek> {
        self.network_servers.get(&net_id)
    }

    fn application_server(&self, as_id: &str) -> Option<&NamedKek> {
        self.application_servers.get(as_id)
    }
}

/// Whether session keys may leave the JS in clear when no KEK is agreed with the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ClearKeys {
    /// Send them in clear (TS002 allows it; ChirpStack and The Things Stack do it).
    #[default]
    Allowed,
    /// Refuse the request instead.
    Refused,
}

/// How the keys of one answer are packed: under a KEK, or in clear.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Packing<'a> {
    Wrapped(&'a NamedKek),
    Clear,
}

impl<'a> Packing<'a> {
    /// The packing for a receiver whose KEK is `kek`; `None` when there is none and clear keys
    /// are refused.
    pub(crate) fn for_receiver(kek: Option<&'a NamedKek>, clear: ClearKeys) -> Option<Self> {
        match (kek, clear) {
            (Some(kek), _) => Some(Self::Wrapped(kek)),
            (None, ClearKeys::Allowed) => Some(Self::Clear),
            (None, ClearKeys::Refused) => None,
        }
    }

    pub(crate) fn envelope(&self, key: &AesKey) -> KeyEnvelope {
        match self {
            Self::Wrapped(kek) => kek.wrap(key),
            Self::Clear => KeyEnvelope::clear(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_with_the_agreed_kek_or_sends_clear() {
        let net_id = NetId::from_u32(0x13).unwrap();
        let kek = NamedKek::new("ns-13", AesKey::new([8; 16])).unwrap();
        let table = KekTable::new().with_network_server(net_id, kek.clone());
        let key = AesKey::new([1; 16]);

        let packing = Packing::for_receiver(table.network_server(net_id), ClearKeys::Refused);
        let envelope = packing.expect("a KEK").envelope(&key);
        assert_eq!(envelope.label(), Some("ns-13"));
        assert_eq!(envelope.unwrap(Some(kek.key())), Ok(key));

        let other = NetId::from_u32(0x14).unwrap();
        assert!(Packing::for_receiver(table.network_server(other), ClearKeys::Refused).is_none());
        let clear = Packing::for_receiver(table.network_server(other), ClearKeys::Allowed)
            .expect("clear allowed")
            .envelope(&key);
        assert_eq!(clear.clear_key(), Some(key));
        assert!(table.application_server("as").is_none());
    }

    #[test]
    fn empty_labels_are_refused() {
        assert_eq!(NamedKek::new("", AesKey::new([0; 16])), Err(EmptyKekLabel));
    }
}
