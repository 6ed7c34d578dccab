//! The serving role (sNS / hNS, roam-out): a PRStartReq becomes a frame our uplink path
//! processes like any other, its result a PRStartAns, and a downlink through the fNS's
//! gateway an XmitDataReq.

use std::time::SystemTime;

use backend::header::{Header, MessageType, ProtocolVersion};
use backend::message::{PRStartAns, PRStartReq, XmitDataReq};
use backend::metadata::{DlMetaData, GwInfo};
use backend::values::{ClassMode, HexBytes, Token};
use backend::{BiResult, ResultCode};
use lorawan::ids::{DevAddr, Eui64, NetId};
use lorawan::mac::Direction;
use lorawan::phy::{Frame, PhyPayload};
use lorawan::region::{LrFhssCodingRate, Modulation, Region};

use super::{hz, mhz, region_of};
use crate::downlink::airtime::LORAWAN_CODE_RATE;
use crate::downlink::class_a::DeviceRadio;
use crate::gateway::{CodeRate, GatewayId, RadioModulation, RxInfo};
use crate::uplink::dedup::Deduplicated;

/// RSSI read for a gateway that reported none: the bottom of any LoRa receiver's range, so
/// that gateways reporting a value rank first.
pub const UNREPORTED_RSSI_DBM: i16 = -150;

/// SNR read for a gateway that reported none (below SF12's demodulation floor of −20 dB).
pub const UNREPORTED_SNR_DB: f32 = -30.0;

/// What the roamed frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoamedFrame {
    /// A data uplink.
    Data {
        /// Its DevAddr.
        dev_addr: DevAddr,
    },
    /// A join-request.
    Join {
        /// Its JoinEUI.
        join_eui: Eui64,
        /// Its DevEUI.
        dev_eui: Eui64,
    },
}

/// One of the fNS's gateways that heard the frame.
#[derive(Debug, Clone, PartialEq)]
pub struct RoamedGateway {
    /// Its ID (the GWInfo ID: an 8-byte EUI, or a 4-byte ID zero-extended).
    pub gateway: GatewayId,
    /// The fNS's ULToken for it, to send back in DLMetaData.
    pub ul_token: Option<Token>,
    /// Whether the fNS lets it transmit (GWInfo DLAllowed; absent reads as false).
    pub dl_allowed: bool,
}

/// What the sNS must remember of a PRStartReq to answer through the fNS, and to report
/// (AS reports carry Roaming=1, ForwardingNetID, ForwardingNSID).
#[derive(Debug, Clone, PartialEq)]
pub struct RoamingContext {
    /// The version the fNS spoke.
    pub protocol_version: ProtocolVersion,
    /// The fNS's NetID (the request's SenderID).
    pub forwarding_net_id: NetId,
    /// The fNS's NSID (SenderNSID, 1.1), as received.
    pub forwarding_nsid: Option<String>,
    /// The region of the fNS's gateways.
    pub region: Region,
    /// The uplink frequency, Hz.
    pub uplink_frequency_hz: u32,
    /// The uplink data rate, in `region`.
    pub uplink_data_rate: u8,
    /// RecvTime.
    pub recv_time: SystemTime,
    /// The gateways, in GWInfo order.
    pub gateways: Vec<RoamedGateway>,
    /// The FNSULToken, to copy into DLMetaData.
    pub fns_ul_token: Option<Token>,
}

impl RoamingContext {
    /// The ULToken of `gateway`, when the fNS gave one.
    pub fn ul_token(&self, gateway: GatewayId) -> Option<&Token> {
        self.gateways
            .iter()
            .find(|g| g.gateway == gateway)
            .and_then(|g| g.ul_token.as_ref())
    }

    /// Whether a downlink may go through `gateway`: DLAllowed and a ULToken.
    pub fn may_transmit(&self, gateway: GatewayId) -> bool {
        self.gateways
            .iter()
            .any(|g| g.gateway == gateway && g.dl_allowed && g.ul_token.is_some())
    }

    /// The first of `receptions` (best first) whose gateway a downlink may go through.
    pub fn downlink_gateway(&self, receptions: &[RxInfo]) -> Option<GatewayId> {
        receptions
            .iter()
            .map(|rx| rx.gateway)
            .find(|g| self.may_transmit(*g))
    }
}

/// A PRStartReq read back: the frame for our uplink path, what it is, and its context.
#[derive(Debug, Clone, PartialEq)]
pub struct RoamedUplink {
    /// The frame with one reception per GWInfo, in GWInfo order (counter 0: the sNS never
    /// schedules against the fNS's concentrators itself).
    pub frame: Deduplicated,
    /// Data uplink or join-request.
    pub kind: RoamedFrame,
    /// How to answer through the fNS.
    pub context: RoamingContext,
}

/// Why a PRStartReq is not accepted: the Result of the PRStartAns.
#[derive(Debug, Clone, PartialEq)]
pub struct PrRefusal {
    /// The ResultCode.
    pub code: ResultCode,
    /// The Description.
    pub description: String,
}

impl PrRefusal {
    /// No device of ours has this DevAddr: UnknownDevAddr.
    pub fn unknown_dev_addr(dev_addr: DevAddr) -> Self {
        Self::new(
            ResultCode::UnknownDevAddr,
            format!("no device with DevAddr {dev_addr}"),
        )
    }

    /// No device of ours has this DevEUI (join-request): UnknownDevEUI.
    pub fn unknown_dev_eui(dev_eui: Eui64) -> Self {
        Self::new(
            ResultCode::UnknownDevEUI,
            format!("no device with DevEUI {dev_eui}"),
        )
    }

    /// The MIC does not verify with any session of the DevAddr: MICFailed.
    pub fn mic_failed() -> Self {
        Self::new(ResultCode::MICFailed, "MIC verification failed")
    }

    /// Roam-out is off for the device: DevRoamingDisallowed for a data frame,
    /// RoamingActDisallowed for a join-request ("The device may not activate while roaming").
    pub fn roaming_disallowed(kind: &RoamedFrame) -> Self {
        match kind {
            RoamedFrame::Data { .. } => Self::new(
                ResultCode::DevRoamingDisallowed,
                "roaming is not allowed for this device",
            ),
            RoamedFrame::Join { .. } => Self::new(
                ResultCode::RoamingActDisallowed,
                "activation while roaming is not allowed for this device",
            ),
        }
    }

    /// The frame counter was already used: FrameReplayed in 1.1; TS002 1.0 has no such code,
    /// so Other with the reason.
    pub fn frame_replayed(version: &ProtocolVersion, f_cnt: u32) -> Self {
        let code = match version {
            ProtocolVersion::V1_0 => ResultCode::Other,
            _ => ResultCode::FrameReplayed,
        };
        Self::new(code, format!("frame replayed (FCnt {f_cnt})"))
    }

    /// A refusal with this code and description.
    pub fn new(code: ResultCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    fn malformed(version: &ProtocolVersion, description: impl Into<String>) -> Self {
        Self::new(ResultCode::malformed(Some(version)), description)
    }
}

/// Reads a PRStartReq back into a frame our uplink path takes: the sNS processes a roamed
/// frame like one its own gateways heard (MIC, FCnt, MAC, AS report).
///
/// The region is ULMetaData RFRegion, else the first GWInfo RFRegion, else `fallback_region`
/// (a region the tables lack is refused with Other). DataRate and ULFreq are required (the
/// MAC layer needs them). A GWInfo ID of 8 bytes is the gateway EUI; one of 4 bytes (TS002
/// 1.0) is zero-extended; absent or another length is malformed. RSSI and SNR absent read as
/// [`UNREPORTED_RSSI_DBM`] / [`UNREPORTED_SNR_DB`]. Receptions are sorted best first, as the
/// deduplicator's are.
pub fn deduplicated_from(
    pr: &PRStartReq,
    fallback_region: Region,
) -> Result<RoamedUplink, PrRefusal> {
    let version = &pr.header.protocol_version;
    let forwarding_net_id = pr.header.sender_net_id().ok_or_else(|| {
        PrRefusal::new(
            ResultCode::UnknownSender,
            format!("SenderID {:?} is not a NetID", pr.header.sender_id),
        )
    })?;
    let phy = pr.phy_payload.as_bytes();
    let parsed = PhyPayload::parse(phy)
        .map_err(|e| PrRefusal::malformed(version, format!("PHYPayload: {e}")))?;
    let meta = &pr.ul_meta_data;
    let kind = match parsed.frame() {
        Frame::Data(data) if data.direction() == Direction::Uplink => {
            if let Some(claimed) = meta.dev_addr {
                if claimed != data.dev_addr() {
                    return Err(PrRefusal::malformed(
                        version,
                        format!(
                            "ULMetaData.DevAddr {claimed} differs from the PHYPayload's {}",
                            data.dev_addr()
                        ),
                    ));
                }
            }
            RoamedFrame::Data {
                dev_addr: data.dev_addr(),
            }
        }
        Frame::JoinRequest(join) => RoamedFrame::Join {
            join_eui: join.join_eui(),
            dev_eui: join.dev_eui(),
        },
        _ => {
            return Err(PrRefusal::malformed(
                version,
                "PHYPayload is neither a data uplink nor a join-request",
            ))
        }
    };
    let gw_info: &[GwInfo] = meta.gw_info.as_deref().unwrap_or_default();
    let rf_region = meta
        .rf_region
        .as_ref()
        .or_else(|| gw_info.iter().find_map(|g| g.rf_region.as_ref()));
    let region = match rf_region {
        None => fallback_region,
        Some(named) => region_of(named).ok_or_else(|| {
            PrRefusal::new(
                ResultCode::Other,
                format!(
                    "ULMetaData.RFRegion {} is not supported",
                    named.rp002_name()
                ),
            )
        })?,
    };
    let data_rate = meta
        .data_rate
        .ok_or_else(|| PrRefusal::malformed(version, "ULMetaData.DataRate missing"))?;
    let modulation = region
        .params()
        .data_rate(data_rate)
        .filter(|dr| dr.usage.allows(Direction::Uplink))
        .map(|dr| radio_modulation(dr.modulation))
        .ok_or_else(|| {
            PrRefusal::malformed(
                version,
                format!("ULMetaData.DataRate {data_rate} is not an uplink data rate of {region}"),
            )
        })?;
    let frequency_hz = meta
        .ul_freq
        .ok_or_else(|| PrRefusal::malformed(version, "ULMetaData.ULFreq missing"))
        .and_then(|f| {
            hz(f).ok_or_else(|| {
                PrRefusal::malformed(version, format!("ULMetaData.ULFreq {f} is not a frequency"))
            })
        })?;
    let recv_time = SystemTime::from(meta.recv_time);
    let mut receptions = Vec::with_capacity(gw_info.len());
    let mut gateways = Vec::with_capacity(gw_info.len());
    for (at, info) in gw_info.iter().enumerate() {
        let gateway = gateway_id(info.id.as_ref()).ok_or_else(|| {
            PrRefusal::malformed(
                version,
                format!("ULMetaData.GWInfo[{at}].ID is not a 4- or 8-byte gateway ID"),
            )
        })?;
        receptions.push(RxInfo {
            gateway,
            frequency_hz,
            modulation,
            rssi_dbm: info.rssi.map_or(UNREPORTED_RSSI_DBM, |rssi| {
                i16::try_from(rssi.clamp(i32::from(i16::MIN), i32::from(i16::MAX)))
                    .unwrap_or(UNREPORTED_RSSI_DBM)
            }),
            snr_db: info
                .snr
                .filter(|snr| snr.is_finite())
                .map_or(UNREPORTED_SNR_DB, |snr| snr as f32),
            channel: 0,
            rf_chain: 0,
            counter_us: 0,
            time: Some(recv_time),
            gps_time_ms: None,
            fine_timestamp_ns: info
                .fine_recv_time
                .and_then(|ns| u32::try_from(ns).ok())
                .filter(|ns| *ns < 1_000_000_000),
        });
        gateways.push(RoamedGateway {
            gateway,
            ul_token: info.ul_token.clone(),
            dl_allowed: info.dl_allowed.unwrap_or(false),
        });
    }
    receptions.sort_by(|a, b| {
        b.snr_db
            .total_cmp(&a.snr_db)
            .then(b.rssi_dbm.cmp(&a.rssi_dbm))
    });
    let heard = meta
        .gw_cnt
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(receptions.len())
        .max(receptions.len());
    Ok(RoamedUplink {
        frame: Deduplicated {
            phy: phy.to_vec(),
            receptions,
            heard,
        },
        kind,
        context: RoamingContext {
            protocol_version: version.clone(),
            forwarding_net_id,
            forwarding_nsid: pr.header.sender_nsid.clone(),
            region,
            uplink_frequency_hz: frequency_hz,
            uplink_data_rate: data_rate,
            recv_time,
            gateways,
            fns_ul_token: meta.fns_ul_token.clone(),
        },
    })
}

fn gateway_id(id: Option<&HexBytes>) -> Option<GatewayId> {
    let bytes = id?.as_bytes();
    match bytes.len() {
        8 => Some(GatewayId::from_be_bytes(bytes.try_into().ok()?)),
        4 => {
            let short: [u8; 4] = bytes.try_into().ok()?;
            Some(GatewayId::from_u64(u64::from(u32::from_be_bytes(short))))
        }
        _ => None,
    }
}

/// The gateway-layer modulation of a region data rate (LoRa at coding rate 4/5).
fn radio_modulation(modulation: Modulation) -> RadioModulation {
    match modulation {
        Modulation::Lora {
            spreading_factor,
            bandwidth_hz,
        } => RadioModulation::Lora {
            spreading_factor,
            bandwidth_hz,
            code_rate: Some(LORAWAN_CODE_RATE),
        },
        Modulation::Fsk { bitrate } => RadioModulation::Fsk { bitrate },
        Modulation::LrFhss {
            occupied_channel_width_hz,
            coding_rate,
        } => RadioModulation::LrFhss {
            occupied_channel_width_hz,
            code_rate: Some(match coding_rate {
                LrFhssCodingRate::OneThird => CodeRate {
                    numerator: 1,
                    denominator: 3,
                },
                LrFhssCodingRate::TwoThirds => CodeRate {
                    numerator: 2,
                    denominator: 3,
                },
            }),
        },
    }
}

/// How the sNS's processing of a PRStartReq ended.
#[derive(Debug, Clone, PartialEq)]
pub enum PrOutcome {
    /// A data frame accepted (MIC, FCnt and roam-out all fine).
    Accepted {
        /// The device's DevEUI (sent in 1.1).
        dev_eui: Eui64,
    },
    /// A join-request accepted: the join-accept for the fNS to transmit.
    Joined {
        /// The device's DevEUI (sent in 1.1).
        dev_eui: Eui64,
        /// The join-accept PHYPayload.
        join_accept: Vec<u8>,
        /// Its DLMetaData (the join-accept windows, with the ULTokens).
        dl_meta_data: DlMetaData,
    },
    /// Refused.
    Refused(PrRefusal),
}

/// The PRStartAns answering `request`.
///
/// Stateless passive roaming: Lifetime 0 on success (the fNS keeps no session, issue 7), so
/// no session keys are sent. DevEUI goes with a success in 1.1 only (issue 7: "Lifetime 0,
/// DevEUI in 1.1").
pub fn pr_start_ans(request: &Header, outcome: PrOutcome) -> PRStartAns {
    let v1_1 = request.protocol_version == ProtocolVersion::V1_1;
    let mut answer = PRStartAns {
        header: request.answer_header(),
        result: BiResult::success(),
        phy_payload: None,
        dev_eui: None,
        lifetime: None,
        f_nwk_s_int_key: None,
        nwk_s_key: None,
        f_cnt_up: None,
        service_profile: None,
        dl_meta_data: None,
        dev_addr: None,
        extra: serde_json::Map::new(),
    };
    match outcome {
        PrOutcome::Accepted { dev_eui } => {
            answer.lifetime = Some(0);
            answer.dev_eui = v1_1.then_some(dev_eui);
        }
        PrOutcome::Joined {
            dev_eui,
            join_accept,
            dl_meta_data,
        } => {
            answer.lifetime = Some(0);
            answer.dev_eui = v1_1.then_some(dev_eui);
            answer.phy_payload = Some(HexBytes(join_accept));
            answer.dl_meta_data = Some(dl_meta_data);
        }
        PrOutcome::Refused(refusal) => {
            answer.result = BiResult::with_description(refusal.code, refusal.description);
        }
    }
    answer
}

/// The receive windows of a downlink through the fNS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownlinkWindows {
    /// Class A: RX1 and / or RX2, `(frequency Hz, data rate)`.
    ClassA {
        /// RXDelay1, seconds (1..=15).
        rx1_delay_s: u8,
        /// RX1, when offered.
        rx1: Option<(u32, u8)>,
        /// RX2, when offered.
        rx2: Option<(u32, u8)>,
    },
    /// Class C: at once, on the RX2 frequency and data rate.
    ClassC {
        /// Frequency, Hz.
        frequency_hz: u32,
        /// Data rate.
        data_rate: u8,
    },
}

/// Class A windows of a device answering a roamed uplink: RX1 from the uplink's frequency and
/// data rate in the fNS's region (`rx1_frequency`, `rx1_data_rate` with the device's offset and
/// dwell), RX2 the device's; `rx1` is `None` when the region cannot derive it.
pub fn class_a_windows(context: &RoamingContext, device: &DeviceRadio) -> DownlinkWindows {
    let params = context.region.params();
    let rx1 = params
        .rx1_frequency(context.uplink_frequency_hz)
        .zip(params.rx1_data_rate(
            context.uplink_data_rate,
            device.rx1_dr_offset,
            device.downlink_dwell,
        ));
    DownlinkWindows::ClassA {
        rx1_delay_s: u8::try_from(device.rx1_delay.as_secs().clamp(1, 15)).unwrap_or(1),
        rx1,
        rx2: Some((device.rx2_frequency_hz, device.rx2_data_rate)),
    }
}

/// Who the sNS is, for the headers it writes.
#[derive(Debug, Clone, PartialEq)]
pub struct ServingNs {
    /// Our NetID (SenderID).
    pub net_id: NetId,
    /// Our NSID (SenderNSID, 1.1 only).
    pub nsid: Option<Eui64>,
}

/// Frame details DLMetaData may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DownlinkDetails {
    /// DevEUI.
    pub dev_eui: Option<Eui64>,
    /// FPort.
    pub f_port: Option<u8>,
    /// FCntDown.
    pub f_cnt_down: Option<u32>,
    /// Confirmed downlink.
    pub confirmed: Option<bool>,
}

/// The chosen gateway gave no ULToken: the fNS could not schedule on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the fNS gave no ULToken for gateway {0}")]
pub struct NoUlToken(pub GatewayId);

/// The DLMetaData of a downlink through `gateway`: the windows, and the ULToken of that
/// gateway copied unchanged ("Copy of the ULToken received for each GW. If provided in
/// ULMetadata, it SHALL be present in DLMetadata", TS002 1.1 Table 22), plus FNSULToken.
pub fn dl_meta_data(
    context: &RoamingContext,
    gateway: GatewayId,
    windows: &DownlinkWindows,
    details: &DownlinkDetails,
) -> Result<DlMetaData, NoUlToken> {
    let token = context.ul_token(gateway).ok_or(NoUlToken(gateway))?;
    let mut dl = DlMetaData {
        dev_eui: details.dev_eui,
        f_port: details.f_port,
        f_cnt_down: details.f_cnt_down,
        confirmed: details.confirmed,
        fns_ul_token: context.fns_ul_token.clone(),
        gw_info: Some(vec![GwInfo {
            ul_token: Some(token.clone()),
            ..GwInfo::default()
        }]),
        ..DlMetaData::default()
    };
    match *windows {
        DownlinkWindows::ClassA {
            rx1_delay_s,
            rx1,
            rx2,
        } => {
            dl.class_mode = Some(ClassMode::A);
            dl.rx_delay1 = Some(rx1_delay_s);
            if let Some((frequency, dr)) = rx1 {
                dl.dl_freq1 = Some(mhz(frequency));
                dl.data_rate1 = Some(dr);
            }
            if let Some((frequency, dr)) = rx2 {
                dl.dl_freq2 = Some(mhz(frequency));
                dl.data_rate2 = Some(dr);
            }
        }
        DownlinkWindows::ClassC {
            frequency_hz,
            data_rate,
        } => {
            dl.class_mode = Some(ClassMode::C);
            dl.dl_freq2 = Some(mhz(frequency_hz));
            dl.data_rate2 = Some(data_rate);
        }
    }
    Ok(dl)
}

/// The XmitDataReq sending `phy` through the fNS's `gateway` (TS002 1.1 §12.2), in the
/// version the fNS spoke, to its NetID (and NSID in 1.1).
pub fn xmit_data_req(
    phy: Vec<u8>,
    context: &RoamingContext,
    gateway: GatewayId,
    windows: &DownlinkWindows,
    details: &DownlinkDetails,
    sender: &ServingNs,
    transaction_id: u32,
) -> Result<XmitDataReq, NoUlToken> {
    let dl = dl_meta_data(context, gateway, windows, details)?;
    let mut header = Header::new(
        context.protocol_version.clone(),
        MessageType::XmitDataReq,
        sender.net_id.to_string(),
        context.forwarding_net_id.to_string(),
        Some(transaction_id),
    );
    if context.protocol_version == ProtocolVersion::V1_1 {
        header.sender_nsid = sender.nsid.map(|nsid| nsid.to_string());
        header.receiver_nsid = context.forwarding_nsid.clone();
    }
    Ok(XmitDataReq {
        header,
        phy_payload: Some(HexBytes(phy)),
        frm_payload: None,
        ul_meta_data: None,
        dl_meta_data: Some(dl),
        extra: serde_json::Map::new(),
    })
}
