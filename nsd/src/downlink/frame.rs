//! Building a data downlink for a session: which frame counter, which keys, which bits.
//!
//! LoRaWAN 1.0 has one downlink counter; 1.1 splits it (TS001 1.1 §4.3.1.5): NFCntDown for
//! frames without a port or on port 0, AFCntDown for application ports. A payload the AS
//! encrypted carries the counter it encrypted for, and the frame must use exactly that one.

use lorawan::phy::{BuildError, DataFrameBuilder, FCtrl, FrmPayloadInput, MType, MAX_FOPTS_LEN};

use super::queue::{Confirmation, Payload, QueueItem};
use crate::device::{PreparedKeys, Session};

/// What goes in the frame besides the application payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameBits<'a> {
    /// Acknowledge the confirmed uplink just received.
    pub ack: bool,
    /// The ADR bit: the network drives the device's data rate.
    pub adr: bool,
    /// More frames wait in the queue.
    pub f_pending: bool,
    /// MAC commands for FOpts (at most 15 bytes).
    pub fopts: &'a [u8],
    /// The FCnt of the uplink being acknowledged (1.1 MIC, ConfFCnt).
    pub acked_uplink_f_cnt: u32,
}

/// A built downlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltDownlink {
    /// The PHYPayload.
    pub phy: Vec<u8>,
    /// The frame counter it uses.
    pub f_cnt: u32,
    /// Confirmed data down.
    pub confirmed: bool,
}

/// Why a downlink cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A clear payload but the AS holds the AppSKey: the nsd cannot encrypt it.
    #[error("payload in clear but the AppSKey is held by the application server")]
    NoAppSKey,
    /// The AS encrypted for a counter the session has passed.
    #[error("payload encrypted for FCnt {wanted}, the session is at {next}")]
    StaleCounter {
        /// The AS's counter.
        wanted: u32,
        /// The session's next counter.
        next: u32,
    },
    /// The codec refused (too long, …).
    #[error("{0}")]
    Build(#[from] BuildError),
}

/// Builds the downlink and advances the session's counter (the caller stores the session
/// before transmitting, so a counter is never used twice).
pub fn build_downlink(
    session: &mut Session,
    keys: &PreparedKeys,
    bits: FrameBits<'_>,
    item: Option<&QueueItem>,
) -> Result<BuiltDownlink, FrameError> {
    let app_port = item.is_some_and(|i| i.f_port > 0);
    let split = session.is_1_1();
    // 1.1: application ports count on AFCntDown; everything else on NFCntDown.
    let next = if split && app_port {
        session.a_f_cnt_down
    } else {
        session.n_f_cnt_down
    };
    let f_cnt = match item.and_then(|i| match i.payload {
        Payload::Encrypted(_) => i.fcnt,
        Payload::Clear(_) => None,
    }) {
        Some(wanted) if wanted < next => return Err(FrameError::StaleCounter { wanted, next }),
        Some(wanted) => wanted,
        None => next,
    };
    let confirmed = item.is_some_and(|i| i.confirmation == Confirmation::Confirmed);
    let mtype = if confirmed {
        MType::ConfirmedDataDown
    } else {
        MType::UnconfirmedDataDown
    };
    let mut fctrl = 0u8;
    if bits.adr {
        fctrl |= 0x80;
    }
    if bits.ack {
        fctrl |= 0x20;
    }
    if bits.f_pending {
        fctrl |= 0x10;
    }
    // MAC commands longer than FOpts allows go alone as an FPort-0 payload (encrypted with
    // the network key); the caller only plans that when there is no application payload.
    let port0 = item.is_none() && bits.fopts.len() > MAX_FOPTS_LEN;
    // The network encryption key, expanded here only when the frame uses it: for an FPort-0
    // payload, and in 1.1 for FOpts.
    let nwk_s_enc = (port0 || split).then(|| session.keys.nwk_s_enc());
    let mut builder =
        DataFrameBuilder::new(mtype, session.dev_addr, f_cnt).fctrl(FCtrl::from_byte(fctrl));
    builder = match (&nwk_s_enc, port0) {
        (Some(key), true) => builder.frm_payload(FrmPayloadInput::Plain {
            fport: 0,
            data: bits.fopts,
            key,
        }),
        _ => builder.fopts(bits.fopts),
    };
    // AppSKey, expanded when a clear payload is to be encrypted.
    let app_s;
    if let Some(item) = item {
        builder = builder.frm_payload(match &item.payload {
            Payload::Encrypted(data) => FrmPayloadInput::Encrypted {
                fport: item.f_port,
                data,
            },
            Payload::Clear(data) => {
                app_s = session.keys.app_s().ok_or(FrameError::NoAppSKey)?;
                FrmPayloadInput::Plain {
                    fport: item.f_port,
                    data,
                    key: &app_s,
                }
            }
        });
    }
    let phy = match (&nwk_s_enc, split) {
        (Some(nwk_s_enc), true) => builder.build_downlink_1_1(
            &keys.s_nwk_s_int(&session.keys),
            nwk_s_enc,
            bits.acked_uplink_f_cnt,
        )?,
        _ => builder.build_1_0(&keys.s_nwk_s_int(&session.keys))?,
    };
    let after = f_cnt.wrapping_add(1);
    if split && app_port {
        session.a_f_cnt_down = after;
    } else {
        session.n_f_cnt_down = after;
    }
    if confirmed {
        session.last_confirmed_down = Some(f_cnt);
    }
    Ok(BuiltDownlink {
        phy,
        f_cnt,
        confirmed,
    })
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use lorawan::crypto::CipherKey;
    use lorawan::ids::{AesKey, DevAddr};
    use lorawan::join::MacVersion;
    use lorawan::phy::DataFrame;

    use super::*;
    use crate::device::{NetworkKeys, SessionKeys};

    fn session(split: bool) -> Session {
        let network = if split {
            NetworkKeys::V1_1 {
                f_nwk_s_int_key: AesKey::new([1; 16]),
                s_nwk_s_int_key: AesKey::new([2; 16]),
                nwk_s_enc_key: AesKey::new([3; 16]),
            }
        } else {
            NetworkKeys::V1_0 {
                nwk_s_key: AesKey::new([2; 16]),
            }
        };
        let mut s = Session::new(
            DevAddr::from_be_bytes([0x26, 0, 0, 5]),
            if split {
                MacVersion::V1_1
            } else {
                MacVersion::V1_0_4
            },
            SessionKeys {
                network,
                app_s_key: Some(AesKey::new([4; 16])),
            },
        );
        s.n_f_cnt_down = 10;
        s.a_f_cnt_down = 20;
        s
    }

    fn item(payload: Payload, fcnt: Option<u32>, confirmation: Confirmation) -> QueueItem {
        QueueItem {
            id: 1,
            f_port: 3,
            payload,
            confirmation,
            validity: None,
            correlation_id: None,
            fcnt,
            enqueued_at: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_1_0_downlink_uses_the_one_counter_and_decrypts_with_the_app_key() {
        let mut s = session(false);
        let keys = PreparedKeys::new(&s.keys);
        let queued = item(
            Payload::Clear(b"on".to_vec()),
            None,
            Confirmation::Confirmed,
        );
        let bits = FrameBits {
            ack: true,
            adr: true,
            f_pending: true,
            ..FrameBits::default()
        };
        let built = build_downlink(&mut s, &keys, bits, Some(&queued)).unwrap();
        assert_eq!((built.f_cnt, s.n_f_cnt_down, s.a_f_cnt_down), (10, 11, 20));
        assert_eq!(s.last_confirmed_down, Some(10));
        let frame = DataFrame::parse(&built.phy).unwrap();
        assert!(frame.confirmed());
        assert!(frame.fctrl().ack() && frame.fctrl().adr() && frame.fctrl().f_pending());
        frame
            .verify_mic_1_0(&keys.s_nwk_s_int(&s.keys), 10)
            .unwrap();
        let app = CipherKey::new(&AesKey::new([4; 16]));
        assert_eq!(frame.frm_payload_decrypted(&app, 10), b"on");
    }

    #[test]
    fn a_1_1_downlink_counts_application_ports_on_afcntdown() {
        let mut s = session(true);
        let keys = PreparedKeys::new(&s.keys);
        let queued = item(Payload::Clear(vec![1]), None, Confirmation::Unconfirmed);
        let built = build_downlink(&mut s, &keys, FrameBits::default(), Some(&queued)).unwrap();
        assert_eq!((built.f_cnt, s.a_f_cnt_down, s.n_f_cnt_down), (20, 21, 10));
        let frame = DataFrame::parse(&built.phy).unwrap();
        frame
            .verify_downlink_mic_1_1(&keys.s_nwk_s_int(&s.keys), 20, 0)
            .unwrap();
        // MAC-only frame: NFCntDown.
        let built = build_downlink(&mut s, &keys, FrameBits::default(), None).unwrap();
        assert_eq!((built.f_cnt, s.n_f_cnt_down), (10, 11));
    }

    #[test]
    fn an_as_encrypted_payload_keeps_its_counter_and_a_stale_one_is_refused() {
        let mut s = session(false);
        let keys = PreparedKeys::new(&s.keys);
        let ahead = item(
            Payload::Encrypted(vec![9, 9]),
            Some(15),
            Confirmation::Unconfirmed,
        );
        let built = build_downlink(&mut s, &keys, FrameBits::default(), Some(&ahead)).unwrap();
        assert_eq!((built.f_cnt, s.n_f_cnt_down), (15, 16));
        let stale = item(
            Payload::Encrypted(vec![9]),
            Some(3),
            Confirmation::Unconfirmed,
        );
        assert_eq!(
            build_downlink(&mut s, &keys, FrameBits::default(), Some(&stale)),
            Err(FrameError::StaleCounter {
                wanted: 3,
                next: 16
            })
        );
        let mut held = session(false);
        held.keys.app_s_key = None;
        let keys = PreparedKeys::new(&held.keys);
        let clear = item(Payload::Clear(vec![1]), None, Confirmation::Unconfirmed);
        assert_eq!(
            build_downlink(&mut held, &keys, FrameBits::default(), Some(&clear)),
            Err(FrameError::NoAppSKey)
        );
    }
}
