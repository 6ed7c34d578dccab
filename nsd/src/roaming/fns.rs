//! The forwarding role (fNS, roam-in): foreign uplinks out as PRStartReq, XmitDataReq in as
//! transmissions on our gateways, their outcome back as XmitDataAns. Stateless: nothing is
//! kept per device; the answer finds its gateway through the [`UlToken`].

use std::time::{Duration, SystemTime};

use backend::header::{Header, MessageType, ProtocolVersion};
use backend::message::{PRStartAns, PRStartNotif, PRStartReq, XmitDataAns, XmitDataReq};
use backend::metadata::{DlMetaData, GwInfo, UlMetaData};
use backend::values::{ClassMode, HexBytes, Token};
use backend::{BiResult, ResultCode};
use lorawan::ids::{DevAddr, Eui64, NetId};
use lorawan::mac::Direction;
use lorawan::netid::DevAddrPool;
use lorawan::phy::{Frame, PhyPayload};
use lorawan::region::Region;
use time::OffsetDateTime;

use super::ultoken::{UlToken, UlTokenKey, UplinkContext};
use super::{hz, mhz, rf_region};
use crate::downlink::airtime::{downlink_modulation, region_modulation};
use crate::downlink::class_a::default_downlink_power_dbm;
use crate::gateway::{GatewayId, RxInfo, Transmission, TxOutcome, TxRefusal, TxTiming};
use crate::uplink::dedup::Deduplicated;

/// Who a DevAddr belongs to, seen from our network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrClass {
    /// Ours: in one of our DevAddr pools (or, without pools, in our NetID's space).
    Ours,
    /// Another network's: a candidate for roam-in. `net_id` is the NetID as far as the
    /// address tells (type and NwkID; for types 3–7 the high ID bits read as zero, so the hub,
    /// which knows the full NetIDs of its members, makes the final routing decision).
    Foreign {
        /// The home NetID the address points to.
        net_id: NetId,
    },
    /// Nobody's we can route to: a private NetID (000000 / 000001) that is not ours, or an
    /// address of no NetID type (`FF……`).
    NotRoamable,
}

/// Classifies `dev_addr` for our network on `our_net_id` with DevAddr pools `our_pools`.
///
/// With pools (NetID subnetting: "the same dedicated NetID is reused across several
/// platforms [...] each platform is assigned a distinct pool of DevAddr values within the
/// bigger NetID", seed 000), an address of our NetID outside our pools belongs to another
/// platform sharing the NetID: foreign. Private NetIDs: "private NetIDs (000000 and 000001) do
/// not support roaming-out" (seed 000), so an address of a private NetID that is not ours has
/// no home NS to forward to: [`AddrClass::NotRoamable`]. A network on a private NetID may
/// still roam in (it forwards other networks' devices).
pub fn classify(dev_addr: DevAddr, our_net_id: NetId, our_pools: &[DevAddrPool]) -> AddrClass {
    if our_pools.iter().any(|pool| pool.contains(dev_addr)) {
        return AddrClass::Ours;
    }
    let in_our_net_id = dev_addr.is_net_id(our_net_id);
    if in_our_net_id && our_pools.is_empty() {
        return AddrClass::Ours;
    }
    match dev_addr.net_id() {
        Some(net_id) if net_id.is_private() => AddrClass::NotRoamable,
        // Another platform of our (dedicated) NetID: its pool is not ours.
        Some(_) if in_our_net_id => AddrClass::Foreign { net_id: our_net_id },
        Some(net_id) => AddrClass::Foreign { net_id },
        None => AddrClass::NotRoamable,
    }
}

/// Whether `dev_addr` belongs to another network we could forward it to.
pub fn is_foreign(dev_addr: DevAddr, our_net_id: NetId, our_pools: &[DevAddrPool]) -> bool {
    matches!(
        classify(dev_addr, our_net_id, our_pools),
        AddrClass::Foreign { .. }
    )
}

/// Whether devices of a network on `net_id` may roam out (be served by partners' gateways):
/// "Roam-out use-case requires assigning a dedicated NetID > 000001 to your roaming devices,
/// since private NetIDs (000000 and 000001) do not support roaming-out" (seed 000).
pub fn may_roam_out(net_id: NetId) -> bool {
    !net_id.is_private()
}

/// What a gateway's operator configured about it, for GWInfo.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct GatewaySite {
    /// Latitude and longitude, degrees.
    pub location: Option<(f64, f64)>,
    /// Whether the gateway may transmit downlinks for roaming devices.
    pub dl_allowed: bool,
}

/// Who sends a PRStartReq to whom, and in which region our gateways are.
#[derive(Debug, Clone, PartialEq)]
pub struct Forwarding {
    /// The version to speak to the receiver.
    pub protocol_version: ProtocolVersion,
    /// Our NetID (SenderID).
    pub sender_net_id: NetId,
    /// Our NSID (SenderNSID, 1.1 only).
    pub sender_nsid: Option<Eui64>,
    /// The home network's NetID (ReceiverID): from the DevAddr, or from the join server's
    /// HomeNSAns for a join-request.
    pub receiver_net_id: NetId,
    /// The TransactionID of the request.
    pub transaction_id: u32,
    /// The region of our gateways.
    pub region: Region,
}

/// Why a frame cannot be forwarded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForwardError {
    /// The PHYPayload does not parse.
    #[error("PHYPayload does not parse: {0}")]
    Phy(String),
    /// Neither a data uplink nor a join-request.
    #[error("{0} frames are not forwarded")]
    NotForwardable(&'static str),
    /// No reception to describe.
    #[error("the frame has no reception")]
    NoReception,
}

/// The PRStartReq forwarding `frame` to its home network (TS002 passive roaming: the fNS sends
/// the PHYPayload with its ULMetaData to the sNS).
///
/// ULMetaData: DevAddr (data frame) or DevEUI (join-request), DataRate and ULFreq of the best
/// reception, RFRegion, RecvTime (the earliest gateway time, else `now`), GWCnt and one GWInfo
/// per reception (ID = the 8-byte gateway EUI, RFRegion, RSSI, SNR, Lat/Lon when known,
/// FineRecvTime in 1.1, DLAllowed, and a [`UlToken`] sealed with `key` for gateways that may
/// transmit). FNSULToken carries the token of the best gateway that may transmit as well, for peers that only echo
/// that one (Helium's XmitDataReq does).
pub fn pr_start_req(
    frame: &Deduplicated,
    forwarding: &Forwarding,
    site: impl Fn(GatewayId) -> GatewaySite,
    key: &UlTokenKey,
    now: SystemTime,
) -> Result<PRStartReq, ForwardError> {
    let best = frame.receptions.first().ok_or(ForwardError::NoReception)?;
    let phy = PhyPayload::parse(&frame.phy).map_err(|e| ForwardError::Phy(e.to_string()))?;
    let mut meta = UlMetaData::new(OffsetDateTime::from(recv_time(frame, now)));
    match phy.frame() {
        Frame::Data(data) if data.direction() == Direction::Uplink => {
            meta.dev_addr = Some(data.dev_addr());
        }
        Frame::JoinRequest(join) => meta.dev_eui = Some(join.dev_eui()),
        Frame::Data(_) => return Err(ForwardError::NotForwardable("downlink data")),
        Frame::JoinAccept(_) => return Err(ForwardError::NotForwardable("join-accept")),
        Frame::RejoinRequest(_) => return Err(ForwardError::NotForwardable("rejoin-request")),
        Frame::Proprietary(_) => return Err(ForwardError::NotForwardable("proprietary")),
    }
    let params = forwarding.region.params();
    let uplink_dr =
        region_modulation(&best.modulation).and_then(|m| params.dr_for(m, Direction::Uplink));
    meta.data_rate = uplink_dr;
    meta.ul_freq = Some(mhz(best.frequency_hz));
    meta.rf_region = Some(rf_region(forwarding.region));
    meta.gw_cnt = u32::try_from(frame.receptions.len()).ok();
    let v1_1 = forwarding.protocol_version == ProtocolVersion::V1_1;
    let mut gw_info = Vec::with_capacity(frame.receptions.len());
    for rx in &frame.receptions {
        let site = site(rx.gateway);
        let ul_token = site.dl_allowed.then(|| {
            let token = UlToken {
                gateway: rx.gateway,
                counter_us: rx.counter_us,
                issued_at: now,
                context: region_modulation(&rx.modulation)
                    .and_then(|m| params.dr_for(m, Direction::Uplink))
                    .map(|data_rate| UplinkContext {
                        frequency_hz: rx.frequency_hz,
                        data_rate,
                        region: forwarding.region,
                    }),
            };
            Token::from(token.seal(key))
        });
        gw_info.push(GwInfo {
            id: Some(HexBytes(rx.gateway.to_be_bytes().to_vec())),
            fine_recv_time: rx.fine_timestamp_ns.filter(|_| v1_1).map(i64::from),
            rf_region: Some(rf_region(forwarding.region)),
            rssi: Some(i32::from(rx.rssi_dbm)),
            snr: Some(f64::from(rx.snr_db)),
            lat: site.location.map(|(lat, _)| lat),
            lon: site.location.map(|(_, lon)| lon),
            ul_token,
            dl_allowed: Some(site.dl_allowed),
            ..GwInfo::default()
        });
    }
    // The best gateway that may transmit (receptions are best first).
    meta.fns_ul_token = gw_info.iter().find_map(|g| g.ul_token.clone());
    meta.gw_info = Some(gw_info);
    let mut header = Header::new(
        forwarding.protocol_version.clone(),
        MessageType::PRStartReq,
        forwarding.sender_net_id.to_string(),
        forwarding.receiver_net_id.to_string(),
        Some(forwarding.transaction_id),
    );
    if v1_1 {
        header.sender_nsid = forwarding.sender_nsid.map(|nsid| nsid.to_string());
    }
    Ok(PRStartReq {
        header,
        phy_payload: HexBytes(frame.phy.clone()),
        ul_meta_data: meta,
        extra: serde_json::Map::new(),
    })
}

/// The earliest gateway time of the frame, else `now`.
fn recv_time(frame: &Deduplicated, now: SystemTime) -> SystemTime {
    frame
        .receptions
        .iter()
        .filter_map(|rx: &RxInfo| rx.time)
        .min()
        .unwrap_or(now)
}

/// Limits on the tokens an XmitDataReq may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XmitPolicy {
    /// Oldest token a class A answer may be scheduled against. The concentrator counter wraps
    /// every 71.6 minutes and RXDelay1 is at most 15 s, so anything older is a stale or
    /// replayed request.
    pub class_a_max_age: Duration,
    /// Oldest token a class C downlink may use (it only names the gateway).
    pub class_c_max_age: Duration,
    /// The region of our gateways, for tokens without uplink context.
    pub region: Region,
}

impl XmitPolicy {
    /// 20 s for class A, one day for class C.
    pub fn new(region: Region) -> Self {
        Self {
            class_a_max_age: Duration::from_secs(20),
            class_c_max_age: Duration::from_secs(86_400),
            region,
        }
    }
}

/// Which downlink window a planned transmission is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmitWindow {
    /// Class A RX1: counter + RXDelay1, DLFreq1 / DataRate1.
    Rx1,
    /// Class A RX2: counter + RXDelay1 + 1 s, DLFreq2 / DataRate2.
    Rx2,
    /// Class C: now, DLFreq2 / DataRate2.
    Immediate,
}

/// The transmissions to try for one XmitDataReq, in order (RX1 then RX2 for class A): the
/// first one the gateway accepts is the outcome reported.
#[derive(Debug, Clone, PartialEq)]
pub struct XmitPlan {
    /// The gateway named by the ULToken.
    pub gateway: GatewayId,
    /// The windows, in the order to try them (never empty).
    pub attempts: Vec<(XmitWindow, Transmission)>,
}

/// Why an XmitDataReq is refused before any gateway is asked: the Result of the XmitDataAns.
#[derive(Debug, Clone, PartialEq)]
pub struct XmitRefusal {
    /// The ResultCode.
    pub code: ResultCode,
    /// The Description, naming the field at fault.
    pub description: String,
}

impl XmitRefusal {
    fn malformed(version: &ProtocolVersion, description: impl Into<String>) -> Self {
        Self {
            code: ResultCode::malformed(Some(version)),
            description: description.into(),
        }
    }

    fn failed(description: impl Into<String>) -> Self {
        Self {
            code: ResultCode::XmitFailed,
            description: description.into(),
        }
    }
}

/// The transmissions an XmitDataReq asks for (TS002 passive roaming: the sNS sends the
/// downlink PHYPayload with DLMetaData; Table 22: the ULToken received for each GW "SHALL be
/// present in DLMetadata").
///
/// The gateway and counter come from the first GWInfo ULToken that is ours and authentic (or,
/// failing that, the FNSULToken). Class A (ClassMode A or absent): RX1 at counter + RXDelay1
/// (0 means 1 s, as in RXTimingSetupReq) on DLFreq1 / DataRate1 when given, RX2 one second
/// later on DLFreq2 / DataRate2 when given. Class C: immediately on DLFreq2 / DataRate2. Power:
/// the region's default downlink power at that frequency. Refusals: MalformedRequest /
/// MalformedMessage for a missing or invalid field, XmitFailed for a token that is not ours,
/// forged or too old, Other for class B.
pub fn transmission_for(
    xmit: &XmitDataReq,
    key: &UlTokenKey,
    policy: &XmitPolicy,
    now: SystemTime,
) -> Result<XmitPlan, XmitRefusal> {
    plan(
        &xmit.header.protocol_version,
        xmit.phy_payload.as_ref(),
        xmit.dl_meta_data.as_ref(),
        key,
        policy,
        now,
    )
}

/// The transmissions of the join-accept in a successful PRStartAns (the answer to a
/// join-request we forwarded), read exactly like an XmitDataReq's; report their fate to the
/// sNS with [`pr_start_notif`].
pub fn join_accept_transmission(
    ans: &PRStartAns,
    key: &UlTokenKey,
    policy: &XmitPolicy,
    now: SystemTime,
) -> Result<XmitPlan, XmitRefusal> {
    plan(
        &ans.header.protocol_version,
        ans.phy_payload.as_ref(),
        ans.dl_meta_data.as_ref(),
        key,
        policy,
        now,
    )
}

fn plan(
    version: &ProtocolVersion,
    phy: Option<&HexBytes>,
    dl: Option<&DlMetaData>,
    key: &UlTokenKey,
    policy: &XmitPolicy,
    now: SystemTime,
) -> Result<XmitPlan, XmitRefusal> {
    let phy = phy
        .filter(|p| !p.is_empty())
        .ok_or_else(|| XmitRefusal::malformed(version, "PHYPayload missing"))?;
    let dl = dl.ok_or_else(|| XmitRefusal::malformed(version, "DLMetaData missing"))?;
    let token = token_of(dl, key)?;
    let class = dl.class_mode.clone().unwrap_or(ClassMode::A);
    let max_age = match class {
        ClassMode::A => policy.class_a_max_age,
        ClassMode::C => policy.class_c_max_age,
        ClassMode::B => {
            return Err(XmitRefusal {
                code: ResultCode::Other,
                description: "DLMetaData.ClassMode B is not supported by this fNS".into(),
            })
        }
        ClassMode::Other(other) => {
            return Err(XmitRefusal::malformed(
                version,
                format!("DLMetaData.ClassMode {other:?} is not A, B or C"),
            ))
        }
    };
    let age = token.age(now);
    if age > max_age {
        return Err(XmitRefusal::failed(format!(
            "DLMetaData.GWInfo.ULToken is {} ms old, more than the {} ms a class {} downlink may use",
            age.as_millis(),
            max_age.as_millis(),
            if class == ClassMode::A { "A" } else { "C" },
        )));
    }
    let region = token.context.map_or(policy.region, |c| c.region);
    let window = |field_freq: &str,
                  field_dr: &str,
                  freq: Option<f64>,
                  dr: Option<u8>|
     -> Result<Option<(u32, u8)>, XmitRefusal> {
        match (freq, dr) {
            (None, None) => Ok(None),
            (Some(freq), Some(dr)) => {
                let hz = hz(freq).ok_or_else(|| {
                    XmitRefusal::malformed(
                        version,
                        format!("DLMetaData.{field_freq} {freq} is not a frequency"),
                    )
                })?;
                Ok(Some((hz, dr)))
            }
            (Some(_), None) => Err(XmitRefusal::malformed(
                version,
                format!("DLMetaData.{field_dr} missing (given with {field_freq})"),
            )),
            (None, Some(_)) => Err(XmitRefusal::malformed(
                version,
                format!("DLMetaData.{field_freq} missing (given with {field_dr})"),
            )),
        }
    };
    let rx1 = window("DLFreq1", "DataRate1", dl.dl_freq1, dl.data_rate1)?;
    let rx2 = window("DLFreq2", "DataRate2", dl.dl_freq2, dl.data_rate2)?;
    let transmission = |timing: TxTiming, (frequency_hz, dr): (u32, u8), field: &str| {
        let modulation = downlink_modulation(region.params(), dr).ok_or_else(|| {
            XmitRefusal::malformed(
                version,
                format!("DLMetaData.{field} {dr} is not a downlink data rate of {region}"),
            )
        })?;
        Ok(Transmission {
            gateway: token.gateway,
            timing,
            frequency_hz,
            modulation,
            power_dbm: default_downlink_power_dbm(region, frequency_hz),
            // RF chain 0 is the transmit-capable chain of the reference gateway designs.
            rf_chain: 0,
            invert_polarity: true,
            phy: phy.as_bytes().to_vec(),
        })
    };
    let mut attempts = Vec::with_capacity(2);
    if class == ClassMode::C {
        let rx2 = rx2.ok_or_else(|| {
            XmitRefusal::malformed(
                version,
                "DLMetaData.DLFreq2 / DataRate2 missing for class C",
            )
        })?;
        attempts.push((
            XmitWindow::Immediate,
            transmission(TxTiming::Immediately, rx2, "DataRate2")?,
        ));
    } else {
        // RXDelay1 in seconds, as RXTimingSetupReq's Del: 0 and 1 both mean 1 s, 15 at most.
        let delay_s = match dl.rx_delay1.unwrap_or(1) {
            0 => 1,
            d @ 1..=15 => u32::from(d),
            d => {
                return Err(XmitRefusal::malformed(
                    version,
                    format!("DLMetaData.RXDelay1 {d} is more than 15 s"),
                ))
            }
        };
        let rx1_at = token.counter_us.wrapping_add(delay_s * 1_000_000);
        if let Some(rx1) = rx1 {
            attempts.push((
                XmitWindow::Rx1,
                transmission(TxTiming::AtCounter(rx1_at), rx1, "DataRate1")?,
            ));
        }
        if let Some(rx2) = rx2 {
            let rx2_at = rx1_at.wrapping_add(1_000_000);
            attempts.push((
                XmitWindow::Rx2,
                transmission(TxTiming::AtCounter(rx2_at), rx2, "DataRate2")?,
            ));
        }
        if attempts.is_empty() {
            return Err(XmitRefusal::malformed(
                version,
                "DLMetaData has neither DLFreq1 / DataRate1 nor DLFreq2 / DataRate2",
            ));
        }
    }
    Ok(XmitPlan {
        gateway: token.gateway,
        attempts,
    })
}

/// The first authentic token of ours in `dl`: GWInfo ULTokens in order, then FNSULToken.
fn token_of(dl: &DlMetaData, key: &UlTokenKey) -> Result<UlToken, XmitRefusal> {
    let candidates: Vec<(&'static str, &Token)> = dl
        .gw_info
        .iter()
        .flatten()
        .filter_map(|g| g.ul_token.as_ref().map(|t| ("GWInfo.ULToken", t)))
        .chain(dl.fns_ul_token.as_ref().map(|t| ("FNSULToken", t)))
        .collect();
    let mut first_error = None;
    for (field, token) in &candidates {
        match UlToken::open(token.as_bytes(), key) {
            Ok(token) => return Ok(token),
            Err(e) => {
                first_error.get_or_insert_with(|| format!("DLMetaData.{field}: {e}"));
            }
        }
    }
    Err(XmitRefusal::failed(first_error.unwrap_or_else(|| {
        "DLMetaData.GWInfo.ULToken missing: no gateway to send through".into()
    })))
}

/// The XmitDataAns for `request` after the gateway's answer: Success for
/// [`TxOutcome::Sent`], XmitFailed ("The fNS could not transmit the downlink") with the
/// gateway's `TX_ACK` cause in the Description otherwise.
pub fn xmit_data_ans(request: &Header, outcome: TxOutcome) -> XmitDataAns {
    let result = match outcome {
        TxOutcome::Sent => BiResult::success(),
        TxOutcome::Refused(refusal) => BiResult::with_description(
            ResultCode::XmitFailed,
            format!("gateway refused: TX_ACK {}", tx_ack_name(refusal)),
        ),
        TxOutcome::NotConnected => {
            BiResult::with_description(ResultCode::XmitFailed, "gateway not connected")
        }
        TxOutcome::NoAnswer => {
            BiResult::with_description(ResultCode::XmitFailed, "gateway did not acknowledge")
        }
    };
    XmitDataAns {
        header: request.answer_header(),
        result,
        extra: serde_json::Map::new(),
    }
}

/// The XmitDataAns refusing `request` before any gateway was asked.
pub fn xmit_data_refusal(request: &Header, refusal: &XmitRefusal) -> XmitDataAns {
    XmitDataAns {
        header: request.answer_header(),
        result: BiResult::with_description(refusal.code.clone(), refusal.description.clone()),
        extra: serde_json::Map::new(),
    }
}

/// The PRStartNotif (TS002 1.1 only) telling the sNS what became of the join-accept of
/// `ans`: Success when the gateway took it, XmitFailed with the cause otherwise. Its header is
/// the answer's with sender and receiver swapped back (our NetID / NSID as sender), and the
/// same TransactionID, so the sNS can match it to its PRStartAns. `None` when the exchange was
/// in TS002 1.0, which has no PRStartNotif.
pub fn pr_start_notif(
    ans: &PRStartAns,
    outcome: Result<TxOutcome, &XmitRefusal>,
) -> Option<PRStartNotif> {
    if ans.header.protocol_version != ProtocolVersion::V1_1 {
        return None;
    }
    let result = match outcome {
        Ok(outcome) => xmit_data_ans(&ans.header, outcome).result,
        Err(refusal) => {
            BiResult::with_description(refusal.code.clone(), refusal.description.clone())
        }
    };
    let mut header = ans.header.answer_header();
    header.message_type = MessageType::PRStartNotif;
    Some(PRStartNotif {
        header,
        result,
        extra: serde_json::Map::new(),
    })
}

/// The Semtech `TX_ACK` error name of a refusal.
pub fn tx_ack_name(refusal: TxRefusal) -> &'static str {
    match refusal {
        TxRefusal::TooLate => "TOO_LATE",
        TxRefusal::TooEarly => "TOO_EARLY",
        TxRefusal::CollisionPacket => "COLLISION_PACKET",
        TxRefusal::CollisionBeacon => "COLLISION_BEACON",
        TxRefusal::Frequency => "TX_FREQ",
        TxRefusal::Power => "TX_POWER",
        TxRefusal::GpsUnlocked => "GPS_UNLOCKED",
        TxRefusal::Other => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net_id(text: &str) -> NetId {
        text.parse().expect("NetID")
    }

    #[test]
    fn netid_rules_of_the_seed() {
        let ours = net_id("000002");
        let our_addr = ours.dev_addr(1).expect("addr");
        assert_eq!(our_addr, DevAddr::from_u32(0x0400_0001));
        assert_eq!(classify(our_addr, ours, &[]), AddrClass::Ours);
        // NetID 000013 (type 0, NwkID 0x13): a partner.
        let partner = net_id("000013").dev_addr(7).expect("addr");
        assert_eq!(partner, DevAddr::from_u32(0x2600_0007));
        assert_eq!(
            classify(partner, ours, &[]),
            AddrClass::Foreign {
                net_id: net_id("000013")
            }
        );
        assert!(is_foreign(partner, ours, &[]));
        // A private network's device has no home we can reach.
        let private = DevAddr::from_u32(0x0000_0001);
        assert_eq!(classify(private, ours, &[]), AddrClass::NotRoamable);
        assert!(!is_foreign(private, ours, &[]));
        // A network on private NetID 000001 may roam in (forward the partner's device)…
        assert!(is_foreign(partner, net_id("000001"), &[]));
        // …but never out.
        assert!(!may_roam_out(net_id("000000")));
        assert!(!may_roam_out(net_id("000001")));
        assert!(may_roam_out(ours));
        // No NetID type.
        let none = DevAddr::from_u32(0xff00_0001);
        assert_eq!(classify(none, ours, &[]), AddrClass::NotRoamable);
    }

    #[test]
    fn netid_subnetting_makes_the_other_platforms_pool_foreign() {
        let ours = net_id("000002");
        let pool = DevAddrPool::parse(ours, "04000000/10").expect("pool");
        assert_eq!(
            classify(DevAddr::from_u32(0x0400_0010), ours, &[pool]),
            AddrClass::Ours
        );
        assert_eq!(
            classify(DevAddr::from_u32(0x0440_0010), ours, &[pool]),
            AddrClass::Foreign { net_id: ours }
        );
    }
}
