//! NetID types, DevAddr prefix rules and DevAddr pools (NetID sub-netting).
//!
//! A NetID is 24 bits: the 3 most significant bits are its *type* (0–7), the remaining 21 bits
//! its ID, of which the low `id_bits` (6, 6, 9 or 21 by type) are significant. A DevAddr
//! starts with a type prefix (`0`, `10`, `110`, … `11111110`: type + 1 bits), then the NwkID
//! (the low `nwk_id_bits` of the NetID ID), then the NwkAddr chosen by the network.
//!
//! NwkID lengths follow the LoRa Alliance errata "NwkID length fix for type 3 and type 4
//! NetIDs" (Backend Interfaces 1.0 had 10 / 11 bits for types 3 / 4): 6, 6, 9, 11, 12, 13, 15,
//! 17 — the values of `vectors/netid_devaddr.json`, lrwn 4.13 and The Things Stack.
//!
//! A [`DevAddrPrefix`] is any `addr/len` range of the DevAddr space; a [`DevAddrPool`] is a
//! prefix proven to lie inside one NetID's DevAddr space, the unit in which operators that
//! share one NetID split its addresses.

use std::fmt;
use std::str::FromStr;

use crate::ids::{DevAddr, HexError, NetId};

/// NwkID length in bits per NetID type (errata values).
const NWK_ID_BITS: [u8; 8] = [6, 6, 9, 11, 12, 13, 15, 17];
/// Significant NetID ID bits per NetID type.
const ID_BITS: [u8; 8] = [6, 6, 9, 21, 21, 21, 21, 21];

/// Why a NetID / DevAddr operation or a DevAddr prefix text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetIdError {
    /// The NwkAddr does not fit in the NwkAddr bits of the NetID type.
    #[error("NwkAddr {nwk_addr:#x} does not fit in {bits} bits")]
    NwkAddrTooLarge {
        /// The NwkAddr given.
        nwk_addr: u32,
        /// NwkAddr bits available for the NetID type.
        bits: u8,
    },
    /// The prefix text is not `addr/len`.
    #[error("expected a DevAddr prefix as `addr/len`, got {0:?}")]
    PrefixSyntax(String),
    /// The address part of a prefix is not 8 hex digits.
    #[error("invalid prefix address: {0}")]
    PrefixAddress(#[from] HexError),
    /// The prefix length is not a number in 0..=32.
    #[error("invalid prefix length {0:?} (0..=32)")]
    PrefixLength(String),
    /// The prefix address has bits set after the prefix length (`26011001/20`).
    #[error("prefix {addr} has bits set beyond its length {len}")]
    HostBitsSet {
        /// The address given.
        addr: DevAddr,
        /// The prefix length given.
        len: u8,
    },
    /// A pool does not lie inside the DevAddr space of its NetID.
    #[error("pool {pool} is outside NetID {net_id} (DevAddr prefix {net_prefix})")]
    PoolOutsideNetId {
        /// The pool prefix.
        pool: DevAddrPrefix,
        /// The NetID.
        net_id: NetId,
        /// The NetID's DevAddr prefix.
        net_prefix: DevAddrPrefix,
    },
}

impl NetId {
    /// The NetID type (0–7): its 3 most significant bits.
    pub const fn net_type(self) -> u8 {
        (self.to_u32() >> 21) as u8
    }

    /// Number of significant bits of the NetID ID for this type (6, 6, 9, then 21).
    pub const fn id_bits(self) -> u8 {
        ID_BITS[self.net_type() as usize]
    }

    /// The NetID ID: the significant low bits after the type.
    pub const fn id(self) -> u32 {
        self.to_u32() & mask(self.id_bits())
    }

    /// Length in bits of the NwkID this type puts into a DevAddr (errata values).
    pub const fn nwk_id_bits(self) -> u8 {
        NWK_ID_BITS[self.net_type() as usize]
    }

    /// The NwkID carried in this NetID's DevAddrs: the low [`NetId::nwk_id_bits`] of the ID.
    pub const fn nwk_id(self) -> u32 {
        self.to_u32() & mask(self.nwk_id_bits())
    }

    /// Length in bits of the NwkAddr part of this NetID's DevAddrs.
    pub const fn nwk_addr_bits(self) -> u8 {
        32 - self.dev_addr_prefix_len()
    }

    const fn dev_addr_prefix_len(self) -> u8 {
        self.net_type() + 1 + self.nwk_id_bits()
    }

    /// The DevAddr prefix of this NetID: type prefix followed by the NwkID.
    pub fn dev_addr_prefix(self) -> DevAddrPrefix {
        let net_type = u32::from(self.net_type());
        let len = self.dev_addr_prefix_len();
        // Type prefix: `net_type` ones then a zero, in the top net_type + 1 bits.
        let type_prefix = !mask(32 - net_type as u8) & !(1u32 << (31 - net_type));
        let addr = type_prefix | (self.nwk_id() << (32 - u32::from(len)));
        DevAddrPrefix {
            addr: DevAddr::from_u32(addr),
            len,
        }
    }

    /// Whether this is one of the NetIDs reserved for private / experimental networks
    /// (`000000`, `000001`). Such a network may let foreign devices roam in, but its own
    /// devices can never roam out: their DevAddr does not identify a unique home network.
    pub const fn is_private(self) -> bool {
        self.to_u32() <= 1
    }

    /// The DevAddr of NwkAddr `nwk_addr` in this NetID's address space.
    pub fn dev_addr(self, nwk_addr: u32) -> Result<DevAddr, NetIdError> {
        let bits = self.nwk_addr_bits();
        if nwk_addr & !mask(bits) != 0 {
            return Err(NetIdError::NwkAddrTooLarge { nwk_addr, bits });
        }
        Ok(DevAddr::from_u32(
            self.dev_addr_prefix().addr.to_u32() | nwk_addr,
        ))
    }
}

impl DevAddr {
    /// The NetID type encoded in the address prefix; `None` for `ff……`, which has none.
    pub const fn net_type(self) -> Option<u8> {
        let leading = self.to_u32().leading_ones();
        if leading >= 8 {
            None
        } else {
            Some(leading as u8)
        }
    }

    /// NwkID length in bits for this address's type.
    pub const fn nwk_id_bits(self) -> Option<u8> {
        match self.net_type() {
            Some(t) => Some(NWK_ID_BITS[t as usize]),
            None => None,
        }
    }

    /// NwkAddr length in bits for this address's type.
    pub const fn nwk_addr_bits(self) -> Option<u8> {
        match self.net_type() {
            Some(t) => Some(32 - (t + 1) - NWK_ID_BITS[t as usize]),
            None => None,
        }
    }

    /// The NwkID carried after the type prefix.
    pub const fn nwk_id(self) -> Option<u32> {
        match (self.nwk_id_bits(), self.nwk_addr_bits()) {
            (Some(id_bits), Some(addr_bits)) => Some((self.to_u32() >> addr_bits) & mask(id_bits)),
            _ => None,
        }
    }

    /// The NwkAddr: the bits after type prefix and NwkID.
    pub const fn nwk_addr(self) -> Option<u32> {
        match self.nwk_addr_bits() {
            Some(bits) => Some(self.to_u32() & mask(bits)),
            None => None,
        }
    }

    /// The NetID this address points to, as far as the address can tell: type and NwkID.
    ///
    /// For types 3–7 the NwkID is shorter than the 21-bit NetID ID, so the high ID bits come
    /// back as zero (The Things Stack does the same); use [`DevAddr::is_net_id`] to test an
    /// address against a known NetID.
    pub fn net_id(self) -> Option<NetId> {
        let net_type = u32::from(self.net_type()?);
        NetId::from_u32((net_type << 21) | self.nwk_id()?)
    }

    /// Whether this address lies in the DevAddr space of `net_id`.
    pub fn is_net_id(self, net_id: NetId) -> bool {
        net_id.dev_addr_prefix().contains(self)
    }

    /// This address with its prefix replaced by `net_id`'s, keeping the NwkAddr bits.
    pub fn with_net_id(self, net_id: NetId) -> DevAddr {
        let bits = net_id.nwk_addr_bits();
        DevAddr::from_u32(net_id.dev_addr_prefix().addr.to_u32() | (self.to_u32() & mask(bits)))
    }
}

/// A contiguous range of DevAddrs: the addresses whose first `len` bits equal `addr`'s.
///
/// Text form `addr/len` (`26011000/20`); the address must have no bits set after `len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DevAddrPrefix {
    addr: DevAddr,
    len: u8,
}

impl DevAddrPrefix {
    /// A prefix from its first address and length; refuses bits set after `len`.
    pub fn new(addr: DevAddr, len: u8) -> Result<Self, NetIdError> {
        if len > 32 {
            return Err(NetIdError::PrefixLength(len.to_string()));
        }
        if addr.to_u32() & mask(32 - len) != 0 {
            return Err(NetIdError::HostBitsSet { addr, len });
        }
        Ok(Self { addr, len })
    }

    /// The first address of the range.
    pub const fn addr(self) -> DevAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub const fn prefix_len(self) -> u8 {
        self.len
    }

    /// Number of addresses in the range (2^(32 - len)).
    pub const fn size(self) -> u64 {
        1u64 << (32 - self.len)
    }

    /// The last address of the range.
    pub const fn last(self) -> DevAddr {
        DevAddr::from_u32(self.addr.to_u32() | mask(32 - self.len))
    }

    /// Whether `addr` is in the range.
    pub const fn contains(self, addr: DevAddr) -> bool {
        addr.to_u32() & !mask(32 - self.len) == self.addr.to_u32()
    }

    /// Whether every address of `other` is in this range.
    pub const fn covers(self, other: DevAddrPrefix) -> bool {
        self.len <= other.len && self.contains(other.addr)
    }

    /// Whether the two ranges share at least one address (prefixes either nest or are disjoint).
    pub const fn overlaps(self, other: DevAddrPrefix) -> bool {
        self.covers(other) || other.covers(self)
    }

    /// The `n`-th address of the range (0-based), for allocators; `None` past the end.
    pub fn nth(self, n: u64) -> Option<DevAddr> {
        if n >= self.size() {
            return None;
        }
        // n < 2^(32 - len) <= 2^32, so it fits.
        Some(DevAddr::from_u32(self.addr.to_u32() | n as u32))
    }

    /// The index of `addr` within the range (inverse of [`DevAddrPrefix::nth`]).
    pub fn index_of(self, addr: DevAddr) -> Option<u64> {
        self.contains(addr)
            .then(|| u64::from(addr.to_u32() & mask(32 - self.len)))
    }
}

impl fmt::Display for DevAddrPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl FromStr for DevAddrPrefix {
    type Err = NetIdError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (addr, len) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| NetIdError::PrefixSyntax(text.to_owned()))?;
        let addr: DevAddr = addr.parse()?;
        let len: u8 = len
            .trim()
            .parse()
            .map_err(|_| NetIdError::PrefixLength(len.to_owned()))?;
        Self::new(addr, len)
    }
}

/// A DevAddr range inside one NetID's address space, for operators sharing that NetID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DevAddrPool {
    net_id: NetId,
    prefix: DevAddrPrefix,
}

impl DevAddrPool {
    /// A pool of `net_id`; refuses a prefix that is not inside the NetID's DevAddr prefix.
    pub fn new(net_id: NetId, prefix: DevAddrPrefix) -> Result<Self, NetIdError> {
        let net_prefix = net_id.dev_addr_prefix();
        if !net_prefix.covers(prefix) {
            return Err(NetIdError::PoolOutsideNetId {
                pool: prefix,
                net_id,
                net_prefix,
            });
        }
        Ok(Self { net_id, prefix })
    }

    /// The whole DevAddr space of `net_id` as one pool.
    pub fn whole(net_id: NetId) -> Self {
        Self {
            net_id,
            prefix: net_id.dev_addr_prefix(),
        }
    }

    /// Parses `addr/len` as a pool of `net_id`.
    pub fn parse(net_id: NetId, text: &str) -> Result<Self, NetIdError> {
        Self::new(net_id, text.parse()?)
    }

    /// The NetID the pool belongs to.
    pub const fn net_id(self) -> NetId {
        self.net_id
    }

    /// The pool's address range.
    pub const fn prefix(self) -> DevAddrPrefix {
        self.prefix
    }

    /// Whether `addr` belongs to this pool.
    pub const fn contains(self, addr: DevAddr) -> bool {
        self.prefix.contains(addr)
    }

    /// Whether two pools share an address (a configuration error between operators).
    pub const fn overlaps(self, other: DevAddrPool) -> bool {
        self.prefix.overlaps(other.prefix)
    }

    /// Number of addresses in the pool.
    pub const fn size(self) -> u64 {
        self.prefix.size()
    }

    /// The `n`-th address of the pool (0-based); `None` past the end.
    pub fn nth(self, n: u64) -> Option<DevAddr> {
        self.prefix.nth(n)
    }
}

impl fmt::Display for DevAddrPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.prefix, f)
    }
}

/// The first pair of overlapping pools in `pools`, if any (indices into the slice).
pub fn first_overlap(pools: &[DevAddrPool]) -> Option<(usize, usize)> {
    for (i, a) in pools.iter().enumerate() {
        for (j, b) in pools.iter().enumerate().skip(i + 1) {
            if a.overlaps(*b) {
                return Some((i, j));
            }
        }
    }
    None
}

/// A mask of the `bits` low bits (`bits` in 0..=32).
const fn mask(bits: u8) -> u32 {
    if bits >= 32 {
        u32::MAX
    } else {
        (1u32 << bits) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> NetId {
        text.parse().unwrap()
    }

    fn addr(text: &str) -> DevAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ttn_netid() {
        let ttn = net("000013");
        assert_eq!(ttn.net_type(), 0);
        assert_eq!(ttn.dev_addr_prefix().to_string(), "26000000/7");
        assert!(addr("260126b4").is_net_id(ttn));
        assert!(!addr("280126b4").is_net_id(ttn));
        assert_eq!(ttn.nwk_addr_bits(), 25);
    }

    #[test]
    fn private_netids() {
        assert!(net("000000").is_private());
        assert!(net("000001").is_private());
        assert!(!net("000002").is_private());
        assert_eq!(net("000001").dev_addr_prefix().to_string(), "02000000/7");
    }

    #[test]
    fn dev_addr_from_nwk_addr() {
        let n = net("000013");
        assert_eq!(n.dev_addr(0x0126b4).unwrap(), addr("260126b4"));
        assert_eq!(
            n.dev_addr(1 << 25),
            Err(NetIdError::NwkAddrTooLarge {
                nwk_addr: 1 << 25,
                bits: 25
            })
        );
    }

    #[test]
    fn ff_prefix_has_no_type() {
        let a = addr("ff000001");
        assert_eq!(a.net_type(), None);
        assert_eq!(a.nwk_id(), None);
        assert_eq!(a.net_id(), None);
    }

    #[test]
    fn pools() {
        let n = net("000013");
        let a = DevAddrPool::parse(n, "26011000/20").unwrap();
        let b = DevAddrPool::parse(n, "26012000/20").unwrap();
        let c = DevAddrPool::parse(n, "26010000/16").unwrap();
        assert_eq!(a.to_string(), "26011000/20");
        assert!(a.contains(addr("26011fff")));
        assert!(!a.contains(addr("26012000")));
        assert!(!a.overlaps(b));
        assert!(a.overlaps(c) && c.overlaps(b));
        assert_eq!(first_overlap(&[a, b, c]), Some((0, 2)));
        assert_eq!(first_overlap(&[a, b]), None);
        assert_eq!(a.size(), 4096);
        assert_eq!(a.nth(0x42), Some(addr("26011042")));
        assert_eq!(a.nth(4096), None);
        assert_eq!(a.prefix().index_of(addr("26011042")), Some(0x42));
        assert!(matches!(
            DevAddrPool::parse(n, "28000000/8"),
            Err(NetIdError::PoolOutsideNetId { .. })
        ));
        assert!(matches!(
            DevAddrPool::parse(n, "24000000/6"),
            Err(NetIdError::PoolOutsideNetId { .. })
        ));
        assert!(matches!(
            "26011001/20".parse::<DevAddrPrefix>(),
            Err(NetIdError::HostBitsSet { .. })
        ));
        assert!(matches!(
            "26011000/33".parse::<DevAddrPrefix>(),
            Err(NetIdError::PrefixLength(_))
        ));
        assert!(matches!(
            "26011000".parse::<DevAddrPrefix>(),
            Err(NetIdError::PrefixSyntax(_))
        ));
        let all: DevAddrPrefix = "00000000/0".parse().unwrap();
        assert_eq!(all.size(), 1 << 32);
        assert_eq!(all.last(), addr("ffffffff"));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn dev_addr_of_net_id_round_trips(raw in 0u32..=0x00ff_ffff, nwk_addr in any::<u32>()) {
            let net_id = NetId::from_u32(raw).unwrap();
            let nwk_addr = nwk_addr & mask(net_id.nwk_addr_bits());
            let addr = net_id.dev_addr(nwk_addr).unwrap();
            prop_assert!(addr.is_net_id(net_id));
            prop_assert_eq!(addr.net_type(), Some(net_id.net_type()));
            prop_assert_eq!(addr.nwk_id(), Some(net_id.nwk_id()));
            prop_assert_eq!(addr.nwk_addr(), Some(nwk_addr));
            prop_assert!(addr.net_id().unwrap().dev_addr_prefix() == net_id.dev_addr_prefix());
        }

        #[test]
        fn any_dev_addr_parses_without_panic(raw in any::<u32>()) {
            let addr = DevAddr::from_u32(raw);
            if let Some(net_id) = addr.net_id() {
                prop_assert!(addr.is_net_id(net_id));
                prop_assert_eq!(addr.with_net_id(net_id), addr);
            }
        }
    }
}
