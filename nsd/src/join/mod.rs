//! Joins (OTAA), the network server's half: the nsd never holds a device's root keys, so a
//! join-request goes to the join server owning the JoinEUI as a `JoinReq`, and its
//! `JoinAns` brings the join-accept to transmit and the session keys.
//!
//! Pure: [`join_req`] builds the request from the frame and the device's profile;
//! [`session_from`] reads the answer into a [`Session`]. Sending, storing and transmitting
//! are in `app::join`. [`claim`]: claiming devices on their join server (owner tokens).

pub mod claim;

use backend::header::{Header, MessageType, ProtocolVersion};
use backend::keys::KeyEnvelope;
use backend::message::{JoinAns, JoinReq, RejoinAns, RejoinReq};
use backend::result::ResultCode;
use backend::values::HexBytes;
use lorawan::ids::{AesKey, DevAddr, Eui64, NetId};
use lorawan::join::MacVersion;
use lorawan::netid::DevAddrPool;
use lorawan::phy::DlSettings;
use serde_json::Map;

use crate::device::{DeviceProfile, NetworkKeys, Session, SessionKeys};

/// TS001: the join-accept is sent JOIN_ACCEPT_DELAY1 (5 s) after the join-request (RX1) or
/// JOIN_ACCEPT_DELAY2 (6 s) after it (RX2).
pub const JOIN_ACCEPT_DELAY1_S: u8 = 5;

/// Why a join failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinFailure {
    /// The join server refused it (its ResultCode and Description).
    #[error("join server answered {code}: {description}")]
    Refused {
        /// Its ResultCode.
        code: String,
        /// Its Description.
        description: String,
    },
    /// The answer is unusable: keys missing or not unwrappable, no join-accept.
    #[error("unusable JoinAns: {0}")]
    BadAnswer(String),
}

/// The JoinReq for a join-request `phy` of a device provisioned with `profile`.
#[allow(clippy::too_many_arguments)] // each is one field of the request
pub fn join_req(
    phy: &[u8],
    dev_eui: Eui64,
    dev_addr: DevAddr,
    profile: &DeviceProfile,
    net_id: NetId,
    sender_nsid: Option<&str>,
    receiver_id: &str,
    transaction_id: u32,
) -> JoinReq {
    let settings = profile.join_accept_settings();
    let mut dl_settings = DlSettings::new(settings.rx1_dr_offset, settings.rx2_data_rate);
    // TS001 1.1 §6.2.3: OptNeg set tells a 1.1 device the network runs 1.1 (split keys).
    if profile.mac_version >= MacVersion::V1_1 {
        dl_settings = dl_settings.with_opt_neg();
    }
    let mut header = Header::new(
        ProtocolVersion::parse("1.1"),
        MessageType::parse("JoinReq"),
        net_id.to_string(),
        receiver_id,
        Some(transaction_id),
    );
    header.sender_nsid = sender_nsid.map(str::to_owned);
    JoinReq {
        header,
        mac_version: profile.mac_version.to_string(),
        phy_payload: HexBytes(phy.to_vec()),
        dev_eui,
        dev_addr,
        dl_settings: HexBytes(vec![dl_settings.byte()]),
        rx_delay: settings.rx1_delay,
        cf_list: settings
            .cf_list
            .and_then(|cf| cf.encode().ok())
            .map(|bytes| HexBytes(bytes.to_vec())),
        extra: Map::new(),
    }
}

/// The RejoinReq carrying the same fields as `req` (TS002 gives both the same body).
pub fn as_rejoin_req(req: JoinReq) -> RejoinReq {
    let mut header = req.header;
    header.message_type = MessageType::parse("RejoinReq");
    RejoinReq {
        header,
        mac_version: req.mac_version,
        phy_payload: req.phy_payload,
        dev_eui: req.dev_eui,
        dev_addr: req.dev_addr,
        dl_settings: req.dl_settings,
        rx_delay: req.rx_delay,
        cf_list: req.cf_list,
        extra: req.extra,
    }
}

/// A RejoinAns read as the JoinAns it mirrors field for field.
pub fn from_rejoin_ans(ans: RejoinAns) -> JoinAns {
    let mut header = ans.header;
    header.message_type = MessageType::parse("JoinAns");
    JoinAns {
        header,
        result: ans.result,
        phy_payload: ans.phy_payload,
        lifetime: ans.lifetime,
        s_nwk_s_int_key: ans.s_nwk_s_int_key,
        f_nwk_s_int_key: ans.f_nwk_s_int_key,
        nwk_s_enc_key: ans.nwk_s_enc_key,
        nwk_s_key: ans.nwk_s_key,
        app_s_key: ans.app_s_key,
        session_key_id: ans.session_key_id,
        extra: ans.extra,
    }
}

/// A successful join: the session and the join-accept to transmit.
#[derive(Debug, Clone, PartialEq)]
pub struct Joined {
    /// The new session (counters at zero).
    pub session: Session,
    /// The encrypted join-accept PHYPayload.
    pub join_accept: Vec<u8>,
}

/// Reads a JoinAns; `kek` unwraps keys the join server wrapped for us (by KEKLabel).
pub fn session_from(
    answer: &JoinAns,
    dev_addr: DevAddr,
    profile: &DeviceProfile,
    kek: impl Fn(&str) -> Option<AesKey>,
) -> Result<Joined, JoinFailure> {
    if answer.result.result_code != ResultCode::parse("Success") {
        return Err(JoinFailure::Refused {
            code: answer.result.result_code.as_str().to_owned(),
            description: answer.result.description.clone().unwrap_or_default(),
        });
    }
    let open =
        |name: &str, envelope: &Option<KeyEnvelope>| -> Result<Option<AesKey>, JoinFailure> {
            let Some(envelope) = envelope else {
                return Ok(None);
            };
            let key = envelope.label().and_then(&kek);
            if envelope.is_wrapped() && key.is_none() {
                return Err(JoinFailure::BadAnswer(format!(
                    "{name} is wrapped with KEK {:?}, which is not configured",
                    envelope.label().unwrap_or_default()
                )));
            }
            envelope
                .unwrap(key.as_ref())
                .map(Some)
                .map_err(|e| JoinFailure::BadAnswer(format!("{name}: {e}")))
        };
    let nwk_s_key = open("NwkSKey", &answer.nwk_s_key)?;
    let f = open("FNwkSIntKey", &answer.f_nwk_s_int_key)?;
    let s = open("SNwkSIntKey", &answer.s_nwk_s_int_key)?;
    let e = open("NwkSEncKey", &answer.nwk_s_enc_key)?;
    let app_s_key = open("AppSKey", &answer.app_s_key)?;
    let (network, mac_version) = match (nwk_s_key, f, s, e) {
        (_, Some(f), Some(s), Some(e)) => (
            NetworkKeys::V1_1 {
                f_nwk_s_int_key: f,
                s_nwk_s_int_key: s,
                nwk_s_enc_key: e,
            },
            MacVersion::V1_1,
        ),
        // A 1.1 device served by 1.0 rules (OptNeg unset by the JS) runs a 1.0.4 session.
        (Some(k), None, None, None) => (
            NetworkKeys::V1_0 { nwk_s_key: k },
            profile.mac_version.min(MacVersion::V1_0_4),
        ),
        _ => {
            return Err(JoinFailure::BadAnswer(
                "neither NwkSKey nor the three 1.1 network keys".into(),
            ))
        }
    };
    let join_accept = answer
        .phy_payload
        .as_ref()
        .map(|p| p.0.clone())
        .filter(|p| !p.is_empty())
        .ok_or_else(|| JoinFailure::BadAnswer("no PHYPayload".into()))?;
    Ok(Joined {
        session: Session::new(dev_addr, mac_version, SessionKeys { network, app_s_key }),
        join_accept,
    })
}

/// A free DevAddr of `pool`: random, so addresses do not reveal join order, and not in use
/// according to `in_use`. `None` when a bounded number of draws found none (a full pool).
pub fn allocate_dev_addr(pool: DevAddrPool, in_use: impl Fn(DevAddr) -> bool) -> Option<DevAddr> {
    let size = pool.size();
    for _ in 0..64 {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).ok()?;
        let addr = pool.nth(u64::from_le_bytes(bytes) % size.max(1))?;
        if !in_use(addr) {
            return Some(addr);
        }
    }
    None
}

#[cfg(test)]
mod tests;
