//! Passive roaming (TS002 1.1 §12, stateless): the pure logic of both roles, no HTTP, no
//! storage.
//!
//! A device of operator A ("home") heard only by operator B's gateways keeps its session
//! with A. B's network server is the **forwarding NS** (fNS, "roam-in"): it sees an uplink
//! whose DevAddr is not its own, wraps it in a `PRStartReq` with the radio metadata of every
//! gateway that heard it, and sends it through the hub to A. A's network server is the
//! **serving / home NS** (sNS, "roam-out"): it processes the frame as if its own gateway had
//! heard it (MIC, FCnt, MAC, AS report), answers `PRStartAns`, and when it has something to
//! send back through B's gateway it sends B an `XmitDataReq` with the downlink metadata. B
//! schedules it and answers `XmitDataAns` with what the gateway said.
//!
//! ```text
//!  device ─► B gateway ─► B nsd (fNS) ── PRStartReq ──► hub ──► A nsd (sNS) ─► A's AS
//!                                      ◄─ PRStartAns ──     ◄──
//!  device ◄─ B gateway ◄─ B nsd (fNS) ◄─ XmitDataReq ── hub ◄── A nsd (sNS)
//!                                      ── XmitDataAns ─►    ──►
//! ```
//!
//! The fNS keeps no state per device: everything it needs to transmit the answer comes back
//! in the XmitDataReq, inside the authenticated [`ultoken::UlToken`] it put in each GWInfo.
//!
//! - [`ultoken`]: the fNS's own ULToken (gateway, concentrator counter, uplink context,
//!   issue time), sealed with HMAC-SHA256 so a forged token cannot make our gateway transmit.
//! - [`fns`]: the forwarding role: whether a DevAddr is foreign ([`fns::classify`]), the
//!   PRStartReq of a deduplicated frame ([`fns::pr_start_req`]), the transmission of an
//!   XmitDataReq ([`fns::transmission_for`]) and the XmitDataAns of its outcome.
//! - [`sns`]: the serving role: a PRStartReq back into a [`crate::uplink::dedup::Deduplicated`]
//!   frame plus its [`sns::RoamingContext`] ([`sns::deduplicated_from`]), the PRStartAns
//!   ([`sns::pr_start_ans`]) and the XmitDataReq of a downlink ([`sns::xmit_data_req`]).
//!
//! Timing: the round trip gateway → fNS → hub → sNS → hub → fNS → gateway takes 0.5–0.9 s on
//! good links, so roaming devices use a longer RX1 delay (5 s by default, as other stacks
//! chose); the fNS schedules the answer at the uplink's concentrator counter plus RXDelay1
//! (RX1) or RXDelay1 + 1 s (RX2), exactly like a home class A answer.

pub mod config;
pub mod fns;
pub mod peers;
pub mod sns;
pub mod ultoken;

use backend::values::RfRegion;
use lorawan::region::Region;

/// The Backend Interfaces RFRegion of a region.
pub fn rf_region(region: Region) -> RfRegion {
    match region {
        Region::Eu868 => RfRegion::Eu868,
        Region::Us915 => RfRegion::Us915,
        Region::Au915 => RfRegion::Au915,
        Region::As923_1 => RfRegion::As923(1),
        Region::As923_2 => RfRegion::As923(2),
        Region::As923_3 => RfRegion::As923(3),
        Region::As923_4 => RfRegion::As923(4),
        Region::Kr920 => RfRegion::Kr920,
        Region::Ru864 => RfRegion::Ru864,
        Region::Eu433 => RfRegion::Eu433,
    }
}

/// The region of a Backend Interfaces RFRegion; `None` for one the region tables lack
/// (CN470, CN779, IN865, ISM2400, unknown names).
pub fn region_of(rf_region: &RfRegion) -> Option<Region> {
    Some(match rf_region {
        RfRegion::Eu868 => Region::Eu868,
        RfRegion::Us915 => Region::Us915,
        RfRegion::Au915 => Region::Au915,
        RfRegion::As923(1) => Region::As923_1,
        RfRegion::As923(2) => Region::As923_2,
        RfRegion::As923(3) => Region::As923_3,
        RfRegion::As923(4) => Region::As923_4,
        RfRegion::Kr920 => Region::Kr920,
        RfRegion::Ru864 => Region::Ru864,
        RfRegion::Eu433 => Region::Eu433,
        _ => return None,
    })
}

/// MHz (the Backend Interfaces unit) of a frequency in Hz.
pub fn mhz(frequency_hz: u32) -> f64 {
    f64::from(frequency_hz) / 1_000_000.0
}

/// Hz of a frequency in MHz; `None` unless finite, positive and within `u32`.
pub fn hz(mhz: f64) -> Option<u32> {
    let hz = (mhz * 1_000_000.0).round();
    if hz.is_finite() && hz > 0.0 && hz <= f64::from(u32::MAX) {
        // In range and integral: the conversion is exact.
        Some(hz as u32)
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
