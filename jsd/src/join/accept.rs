//! What JoinReq and RejoinReq share: the checks of the requester and of the join-accept
//! parameters the NS sent, the choice between the 1.0 and 1.1 join procedures, and the
//! join-accept with its session keys.

use backend::header::Header;
use backend::keys::KeyEnvelope;
use backend::values::HexBytes;
use lorawan::crypto::MicKey;
use lorawan::ids::{AesKey, DevAddr, Eui64, NetId};
use lorawan::join::{JoinAcceptBuilder, JoinNonce, JoinReqType, MacVersion};
use lorawan::keys::{derive_1_0, derive_1_1, js_enc_key, js_int_key};
use lorawan::phy::{DlSettings, PhyError};

use super::device::{AppSKeyDelivery, Home, JoinDevice, SessionKeyId, SessionRecord};
use super::error::{JoinError, KekPeer};
use super::keks::{ClearKeys, KekLookup, Packing};

/// The operator's settings for every activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JoinPolicy {
    /// Whether session keys may go in clear to a network server with no agreed KEK.
    pub clear_keys: ClearKeys,
    /// The JoinAns / RejoinAns `Lifetime` in seconds; `None` leaves it out (the session lasts
    /// until the next join, as with ChirpStack and The Things Stack).
    pub session_lifetime: Option<u32>,
}

/// The join-accept parameters of a JoinReq / RejoinReq, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AcceptParams {
    pub mac_version: MacVersion,
    pub dev_addr: DevAddr,
    pub dl_settings: DlSettings,
    pub rx_delay: u8,
    pub cf_list: Option<[u8; 16]>,
}

impl AcceptParams {
    /// Parses the fields JoinReq and RejoinReq have in common.
    pub(crate) fn parse(
        mac_version: &str,
        dev_addr: DevAddr,
        dl_settings: &HexBytes,
        rx_delay: u8,
        cf_list: Option<&HexBytes>,
    ) -> Result<Self, JoinError> {
        let mac_version = mac_version.parse().map_err(|e| JoinError::Malformed {
            field: "MACVersion",
            reason: format!("{e}"),
        })?;
        let dl_settings = match dl_settings.as_bytes() {
            [byte] => DlSettings::from_byte(*byte),
            other => {
                return Err(JoinError::Malformed {
                    field: "DLSettings",
                    reason: format!("expected 1 byte, got {}", other.len()),
                })
            }
        };
        // TS001 §6.2.3: RxDelay bits 7..4 are RFU, bits 3..0 the delay.
        if rx_delay > 0x0f {
            return Err(JoinError::Malformed {
                field: "RxDelay",
                reason: format!("{rx_delay} does not fit in the 4 bits of the RxDelay field"),
            });
        }
        let cf_list = match cf_list.map(HexBytes::as_bytes) {
            None | Some([]) => None,
            Some(bytes) => Some(
                <[u8; 16]>::try_from(bytes).map_err(|_| JoinError::Malformed {
                    field: "CFList",
                    reason: format!("expected empty or 16 bytes, got {}", bytes.len()),
                })?,
            ),
        };
        Ok(Self {
            mac_version,
            dev_addr,
            dl_settings,
            rx_delay,
            cf_list,
        })
    }
}

/// The requester's NetID: the SenderID of a JoinReq / RejoinReq (TS002: "SenderID = NetID of
/// the NS").
pub(crate) fn sender_net_id(header: &Header) -> Result<NetId, JoinError> {
    header
        .sender_net_id()
        .ok_or_else(|| JoinError::SenderNotANetId(header.sender_id.clone()))
}

/// A PHYPayload view error: a wrong length is FrameSizeError, anything else malformed.
pub(crate) fn phy_error(error: PhyError) -> JoinError {
    match error {
        PhyError::Length { .. } | PhyError::TooLong { .. } | PhyError::Empty => {
            JoinError::FrameSize(error)
        }
        other => JoinError::Malformed {
            field: "PHYPayload",
            reason: other.to_string(),
        },
    }
}

/// The device the request is about: the one the caller loaded, if it has the request's DevEUI.
pub(crate) fn known_device(
    device: Option<&JoinDevice>,
    dev_eui: Eui64,
) -> Result<&JoinDevice, JoinError> {
    device
        .filter(|d| d.dev_eui == dev_eui)
        .ok_or(JoinError::UnknownDevEui(dev_eui))
}

/// Only the claimed home network may activate a device. With TS002 1.1 NSIDs on both sides,
/// the SenderNSID must be the home NSID too; a 1.0 requester (no SenderNSID) is judged by
/// NetID alone.
/// The device a join or rejoin request is about, checked against the request's PHYPayload
/// and its claim: the frame must carry the request's DevEUI, the device must exist, and the
/// sender must be its home network (before any key is touched).
pub(crate) fn claimed_device<'d>(
    device: Option<&'d JoinDevice>,
    header: &Header,
    sender: NetId,
    request_dev_eui: Eui64,
    frame_dev_eui: Eui64,
) -> Result<(&'d JoinDevice, &'d Home), JoinError> {
    if frame_dev_eui != request_dev_eui {
        return Err(JoinError::DevEuiMismatch {
            message: request_dev_eui,
            phy: frame_dev_eui,
        });
    }
    let device = known_device(device, request_dev_eui)?;
    let home = check_home(device, header, sender)?;
    Ok((device, home))
}

pub(crate) fn check_home<'d>(
    device: &'d JoinDevice,
    header: &Header,
    sender: NetId,
) -> Result<&'d Home, JoinError> {
    let home = device
        .home
        .as_ref()
        .ok_or(JoinError::NotClaimed(device.dev_eui))?;
    if home.net_id != sender {
        return Err(JoinError::NotHomeNetwork {
            dev_eui: device.dev_eui,
            sender,
        });
    }
    if let (Some(home_nsid), Some(sender_nsid)) = (home.nsid, &header.sender_nsid) {
        if !same_nsid(home_nsid, sender_nsid) {
            return Err(JoinError::NotHomeNetworkServer {
                dev_eui: device.dev_eui,
                sender_nsid: sender_nsid.clone(),
            });
        }
    }
    Ok(home)
}

/// NSIDs are EUI-64s by the spec (any hex case, optional `0x`): a sender NSID that is not
/// one cannot be the home network server's.
fn same_nsid(home: Eui64, sender: &str) -> bool {
    sender.parse::<Eui64>().is_ok_and(|sender| sender == home)
}

/// The join procedure a request selects.
#[derive(Clone, Copy)]
pub(crate) enum Procedure<'d> {
    /// LoRaWAN 1.0 (OptNeg clear): one root key for MIC, encryption and both session keys:
    /// AppKey for a 1.0.x device, NwkKey for a 1.1 device on a 1.0 network (TS001-1.1
    /// §6.1.1.3: such a device "SHALL use NwkKey" in place of AppKey).
    V1_0 { root: &'d AesKey },
    /// LoRaWAN 1.1 (OptNeg set).
    V1_1 { nwk_key: &'d AesKey },
}

/// Chooses the procedure. The OptNeg bit must say what MACVersion says (TS001-1.1 §6.2.3:
/// OptNeg set means the network implements 1.1); a 1.0.x device cannot be served by 1.1; any
/// 1.0.x MACVersion serves any 1.0.x device (the patch level is the NS's regional concern and
/// does not change the join), and a 1.1 device may join a 1.0 network.
pub(crate) fn procedure<'d>(
    device: &'d JoinDevice,
    params: &AcceptParams,
) -> Result<Procedure<'d>, JoinError> {
    let requested_1_1 = params.mac_version == MacVersion::V1_1;
    if params.dl_settings.opt_neg() != requested_1_1 {
        return Err(JoinError::OptNegMismatch {
            mac_version: params.mac_version,
            opt_neg: params.dl_settings.opt_neg(),
        });
    }
    let nwk_key = || {
        device
            .nwk_key
            .as_ref()
            .ok_or(JoinError::MissingNwkKey(device.dev_eui))
    };
    match (device.mac_version == MacVersion::V1_1, requested_1_1) {
        (false, true) => Err(JoinError::MacVersionMismatch {
            requested: params.mac_version,
            device: device.mac_version,
        }),
        (false, false) => Ok(Procedure::V1_0 {
            root: &device.app_key,
        }),
        (true, false) => Ok(Procedure::V1_0 { root: nwk_key()? }),
        (true, true) => Ok(Procedure::V1_1 {
            nwk_key: nwk_key()?,
        }),
    }
}

/// Everything needed to build one join-accept.
pub(crate) struct AcceptInput<'a> {
    pub device: &'a JoinDevice,
    pub params: &'a AcceptParams,
    pub procedure: Procedure<'a>,
    pub home_net_id: NetId,
    pub join_nonce: JoinNonce,
    /// JoinReqType of the 1.1 MIC ([`JoinReqType::Join`] for a join-request).
    pub join_req_type: JoinReqType,
    /// DevNonce, or RJcount0 / RJcount1 for a rejoin: the nonce of the MIC and derivation.
    pub nonce: u16,
}

/// A join-accept and the keys that go with it, ready to become a JoinAns or RejoinAns.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub phy_payload: Vec<u8>,
    pub nwk_s_key: Option<KeyEnvelope>,
    pub f_nwk_s_int_key: Option<KeyEnvelope>,
    pub s_nwk_s_int_key: Option<KeyEnvelope>,
    pub nwk_s_enc_key: Option<KeyEnvelope>,
    pub app_s_key: Option<KeyEnvelope>,
    pub lifetime: Option<u32>,
    pub session: SessionRecord,
}

impl Grant {
    pub(crate) fn session_key_id(&self) -> HexBytes {
        HexBytes(self.session.session_key_id.as_bytes().to_vec())
    }
}

/// Derives the session keys, builds and encrypts the join-accept, and packs the keys for the
/// requesting NS (`sender`).
pub(crate) fn grant(
    input: &AcceptInput<'_>,
    sender: NetId,
    keks: &impl KekLookup,
    policy: &JoinPolicy,
) -> Result<Grant, JoinError> {
    let packing = Packing::for_receiver(keks.network_server(sender), policy.clear_keys)
        .ok_or(JoinError::NoKek(KekPeer::NetworkServer(sender)))?;
    let device = input.device;
    let params = input.params;
    let builder = JoinAcceptBuilder {
        join_nonce: input.join_nonce,
        // TS001 §6.2.3 Home_NetID: the home network's NetID; the requester is the home network
        // (checked), so this is also the JoinReq's SenderID, as ChirpStack uses.
        home_net_id: input.home_net_id,
        dev_addr: params.dev_addr,
        dl_settings: params.dl_settings,
        rx_delay: params.rx_delay,
        cf_list: params.cf_list,
    };
    let none = || -> Option<KeyEnvelope> { None };
    let (phy_payload, app_s_key, [nwk_s_key, f_nwk_s_int_key, s_nwk_s_int_key, nwk_s_enc_key]) =
        match input.procedure {
            Procedure::V1_0 { root } => {
                let keys = derive_1_0(root, input.join_nonce, input.home_net_id, input.nonce);
                let network = [
                    Some(packing.envelope(&keys.nwk_s_key)),
                    none(),
                    none(),
                    none(),
                ];
                (builder.build_1_0(root), keys.app_s_key, network)
            }
            Procedure::V1_1 { nwk_key } => {
                let keys = derive_1_1(
                    nwk_key,
                    &device.app_key,
                    input.join_nonce,
                    device.join_eui,
                    input.nonce,
                );
                let js_int = MicKey::new(&js_int_key(nwk_key, device.dev_eui));
                // TS001-1.1 §6.2.3: a join-accept answering a join-request is encrypted with
                // NwkKey, one answering a rejoin-request with JSEncKey.
                let enc_key = match input.join_req_type {
                    JoinReqType::Join => *nwk_key,
                    _ => js_enc_key(nwk_key, device.dev_eui),
                };
                let phy = builder.build_1_1(
                    &js_int,
                    &enc_key,
                    input.join_req_type,
                    device.join_eui,
                    input.nonce,
                );
                let network = [
                    none(),
                    Some(packing.envelope(&keys.f_nwk_s_int_key)),
                    Some(packing.envelope(&keys.s_nwk_s_int_key)),
                    Some(packing.envelope(&keys.nwk_s_enc_key)),
                ];
                (phy, keys.app_s_key, network)
            }
        };
    Ok(Grant {
        phy_payload,
        nwk_s_key,
        f_nwk_s_int_key,
        s_nwk_s_int_key,
        nwk_s_enc_key,
        app_s_key: match device.app_s_key_delivery {
            AppSKeyDelivery::ToNetworkServer => Some(packing.envelope(&app_s_key)),
            // Withheld: the AS fetches it with AppSKeyReq and the SessionKeyID.
            AppSKeyDelivery::ToApplicationServer { .. } => None,
        },
        lifetime: policy.session_lifetime,
        session: SessionRecord {
            session_key_id: SessionKeyId::derive(device.dev_eui, device.join_eui, input.join_nonce),
            app_s_key,
            join_nonce: input.join_nonce,
            dev_addr: params.dev_addr,
        },
    })
}
