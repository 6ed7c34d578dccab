//! Channel masks: `LinkADRReq` `ChMaskCntl` semantics per channel plan, and the join-accept
//! CFList (type 0: frequencies, type 1: channel masks).

use std::fmt;

use super::{CfListType, ChannelPlan, RegionError, RegionParams};

/// A set of uplink channel indices 0..=127 (bit *i* = channel *i* enabled).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChannelMask(u128);

impl ChannelMask {
    /// No channel.
    pub const EMPTY: ChannelMask = ChannelMask(0);

    /// From the raw bits.
    pub const fn from_bits(bits: u128) -> Self {
        Self(bits)
    }

    /// The raw bits.
    pub const fn bits(self) -> u128 {
        self.0
    }

    /// Channels `0..count`.
    pub const fn first(count: usize) -> Self {
        if count >= 128 {
            Self(u128::MAX)
        } else {
            Self((1u128 << count) - 1)
        }
    }

    /// Channels `start..end`.
    pub const fn range(start: usize, end: usize) -> Self {
        Self(Self::first(end).0 & !Self::first(start).0)
    }

    /// From channel indices; indices ≥ 128 are an error.
    pub fn from_indices(indices: impl IntoIterator<Item = usize>) -> Result<Self, RegionError> {
        indices.into_iter().try_fold(Self::EMPTY, |mask, i| {
            if i >= 128 {
                Err(RegionError::TooManyChannels(i + 1))
            } else {
                Ok(mask.with(i, true))
            }
        })
    }

    /// Whether channel `i` is enabled.
    pub const fn contains(self, i: usize) -> bool {
        i < 128 && self.0 & (1 << i) != 0
    }

    /// This mask with channel `i` set to `enabled` (ignored for `i` ≥ 128).
    pub const fn with(self, i: usize, enabled: bool) -> Self {
        if i >= 128 {
            self
        } else if enabled {
            Self(self.0 | (1 << i))
        } else {
            Self(self.0 & !(1 << i))
        }
    }

    /// Number of enabled channels.
    pub const fn count(self) -> u32 {
        self.0.count_ones()
    }

    /// Whether no channel is enabled.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The enabled channel indices, ascending.
    pub fn indices(self) -> impl Iterator<Item = usize> {
        (0..128).filter(move |&i| self.contains(i))
    }

    /// The 16 channels `16 * block ..` as a `ChMask` value.
    pub const fn block(self, block: usize) -> u16 {
        if block >= 8 {
            return 0;
        }
        // Truncation to the 16 bits of the block is the point.
        (self.0 >> (16 * block)) as u16
    }

    /// This mask with the 16 channels of `block` replaced by `mask`.
    pub const fn with_block(self, block: usize, mask: u16) -> Self {
        if block >= 8 {
            return self;
        }
        let shift = 16 * block;
        Self((self.0 & !(0xffff_u128 << shift)) | ((mask as u128) << shift))
    }

    /// Channels in both masks.
    pub const fn intersection(self, other: ChannelMask) -> Self {
        Self(self.0 & other.0)
    }

    /// Channels in either mask.
    pub const fn union(self, other: ChannelMask) -> Self {
        Self(self.0 | other.0)
    }
}

impl fmt::Debug for ChannelMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.indices()).finish()
    }
}

/// A join-accept CFList (16 bytes), decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CfList {
    /// Type 0: frequencies in Hz of channels 3..7 (dynamic plans); 0 = no channel.
    Frequencies([u32; 5]),
    /// Type 1: `ChMask0..ChMask4` (channels 0..79; fixed plans).
    ChannelMask(ChannelMask),
    /// Another CFListType value, kept as received.
    Unknown {
        /// The CFListType byte.
        cf_list_type: u8,
        /// The 15 bytes before it.
        bytes: [u8; 15],
    },
}

impl CfList {
    /// Decodes the 16 CFList bytes (the last one is CFListType). Never fails: an unknown type
    /// is kept as [`CfList::Unknown`].
    pub fn decode(bytes: [u8; 16]) -> Self {
        let mut body = [0u8; 15];
        body.copy_from_slice(&bytes[..15]);
        match bytes[15] {
            0 => CfList::Frequencies(std::array::from_fn(|i| {
                let b = &body[3 * i..3 * i + 3];
                u32::from_le_bytes([b[0], b[1], b[2], 0]) * 100
            })),
            1 => {
                let mask = (0..5).fold(ChannelMask::EMPTY, |mask, block| {
                    let value = u16::from_le_bytes([body[2 * block], body[2 * block + 1]]);
                    mask.with_block(block, value)
                });
                CfList::ChannelMask(mask)
            }
            other => CfList::Unknown {
                cf_list_type: other,
                bytes: body,
            },
        }
    }

    /// Encodes the 16 CFList bytes; RFU bytes are zero.
    pub fn encode(&self) -> Result<[u8; 16], RegionError> {
        let mut out = [0u8; 16];
        match self {
            CfList::Frequencies(frequencies) => {
                for (i, &hz) in frequencies.iter().enumerate() {
                    if hz % 100 != 0 || hz / 100 > 0x00ff_ffff {
                        return Err(RegionError::Frequency(hz));
                    }
                    out[3 * i..3 * i + 3].copy_from_slice(&(hz / 100).to_le_bytes()[..3]);
                }
                out[15] = 0;
            }
            CfList::ChannelMask(mask) => {
                if mask.bits() >> 80 != 0 {
                    return Err(RegionError::TooManyChannels(
                        mask.indices().last().unwrap_or(0) + 1,
                    ));
                }
                for block in 0..5 {
                    out[2 * block..2 * block + 2].copy_from_slice(&mask.block(block).to_le_bytes());
                }
                out[15] = 1;
            }
            CfList::Unknown {
                cf_list_type,
                bytes,
            } => {
                out[..15].copy_from_slice(bytes);
                out[15] = *cf_list_type;
            }
        }
        Ok(out)
    }

    /// The CFList type, if it is one of the two defined ones.
    pub fn cf_list_type(&self) -> Option<CfListType> {
        match self {
            CfList::Frequencies(_) => Some(CfListType::Frequencies),
            CfList::ChannelMask(_) => Some(CfListType::ChannelMask),
            CfList::Unknown { .. } => None,
        }
    }
}

impl RegionParams {
    /// A type-0 CFList announcing up to five extra channels (dynamic plans only).
    pub fn cflist_frequencies(&self, extra: &[u32]) -> Result<CfList, RegionError> {
        if self.cflist_type() != CfListType::Frequencies {
            return Err(RegionError::WrongCfListType(self.cflist_type()));
        }
        if extra.len() > 5 {
            return Err(RegionError::TooManyChannels(extra.len()));
        }
        let mut frequencies = [0u32; 5];
        frequencies[..extra.len()].copy_from_slice(extra);
        Ok(CfList::Frequencies(frequencies))
    }

    /// A type-1 CFList enabling `enabled` (fixed plans only; channels 0..71).
    pub fn cflist_channel_mask(&self, enabled: ChannelMask) -> Result<CfList, RegionError> {
        if self.cflist_type() != CfListType::ChannelMask {
            return Err(RegionError::WrongCfListType(self.cflist_type()));
        }
        if let Some(undefined) = enabled.indices().find(|&i| i >= self.max_uplink_channels) {
            return Err(RegionError::UndefinedChannel(undefined));
        }
        Ok(CfList::ChannelMask(enabled))
    }

    /// Applies one `LinkADRReq` channel mask to `current`, the way the end-device does.
    ///
    /// `defined` is the set of channels the device has (default + CFList + `NewChannelReq`);
    /// for a fixed plan it is ignored (all 72 exist). A block of several `LinkADRReq` is
    /// applied in order with [`RegionParams::apply_link_adr_block`].
    pub fn apply_link_adr(
        &self,
        ch_mask_cntl: u8,
        ch_mask: u16,
        current: ChannelMask,
        defined: ChannelMask,
    ) -> Result<ChannelMask, RegionError> {
        match self.plan {
            ChannelPlan::Dynamic => match ch_mask_cntl {
                0 => {
                    let wanted = ChannelMask::EMPTY.with_block(0, ch_mask);
                    // TS001 1.0.4 §5.3: "If the ChMask field value enables a yet undefined
                    // channel, the end-device SHALL reject the command".
                    if let Some(i) = wanted.indices().find(|&i| !defined.contains(i)) {
                        return Err(RegionError::UndefinedChannel(i));
                    }
                    Ok(wanted)
                }
                // RP002: "ChMaskCntl = 6: All channels ON — the end-device SHALL enable all
                // currently defined channels independently of the ChMask field value".
                6 => Ok(defined),
                other => Err(RegionError::UnsupportedChMaskCntl(other)),
            },
            ChannelPlan::Fixed72 => {
                let wide = u16::from(ch_mask as u8);
                Ok(match ch_mask_cntl {
                    // ChMask applies to channels 16 × ChMaskCntl .. +15.
                    0..=3 => current.with_block(usize::from(ch_mask_cntl), ch_mask),
                    // ChMask applies to channels 64..71.
                    4 => current.with_block(4, wide),
                    // Each of the 8 LSBs enables a sub-band: 125 kHz channels 8i..8i+7 and
                    // 500 kHz channel 64 + i (RP002-1.0.4, US915 / AU915
                    // LinkADRReq); the 8 MSBs are RFU. lrwn 4.13 does not implement 5.
                    5 => (0..8).fold(ChannelMask::EMPTY, |mask, band| {
                        if ch_mask & (1 << band) == 0 {
                            mask
                        } else {
                            mask.union(ChannelMask::range(8 * band, 8 * band + 8))
                                .with(64 + band, true)
                        }
                    }),
                    // All 125 kHz channels on (6) or off (7); ChMask applies to 64..71.
                    6 => ChannelMask::first(64).with_block(4, wide),
                    7 => ChannelMask::EMPTY.with_block(4, wide),
                    other => return Err(RegionError::UnsupportedChMaskCntl(other)),
                })
            }
        }
    }

    /// Applies a contiguous block of `(ChMaskCntl, ChMask)` in order; the result must enable
    /// at least one channel (TS001 1.0.4 §5.3: a mask that disables all channels is rejected).
    pub fn apply_link_adr_block(
        &self,
        masks: &[(u8, u16)],
        current: ChannelMask,
        defined: ChannelMask,
    ) -> Result<ChannelMask, RegionError> {
        let result = masks.iter().try_fold(current, |mask, &(cntl, ch_mask)| {
            self.apply_link_adr(cntl, ch_mask, mask, defined)
        })?;
        if result.is_empty() {
            return Err(RegionError::NoChannelEnabled);
        }
        Ok(result)
    }

    /// The `(ChMaskCntl, ChMask)` sequence that turns any device state into `wanted`, for
    /// one `LinkADRReq` block; the data rate, TX power and NbTrans of the block are the
    /// caller's (the end-device applies those of the last command).
    pub fn link_adr_masks(&self, wanted: ChannelMask) -> Result<Vec<(u8, u16)>, RegionError> {
        if wanted.is_empty() {
            return Err(RegionError::NoChannelEnabled);
        }
        if let Some(i) = wanted.indices().find(|&i| i >= self.max_uplink_channels) {
            return Err(RegionError::UndefinedChannel(i));
        }
        Ok(match self.plan {
            ChannelPlan::Dynamic => vec![(0, wanted.block(0))],
            ChannelPlan::Fixed72 => {
                let wide = wanted.block(4);
                let narrow = wanted.intersection(ChannelMask::first(64));
                if narrow == ChannelMask::first(64) {
                    vec![(6, wide)]
                } else {
                    // All 125 kHz off and the 500 kHz mask, then each non-empty block.
                    let mut masks = vec![(7, wide)];
                    masks.extend(
                        (0..4u8)
                            .map(|b| (b, wanted.block(usize::from(b))))
                            .filter(|&(_, m)| m != 0),
                    );
                    masks
                }
            }
        })
    }
}
