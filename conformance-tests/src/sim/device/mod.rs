//! A simulated LoRaWAN end device, sans-IO: it builds the frames a device sends and checks the
//! frames a device receives, with the real cryptography, for LoRaWAN 1.0.2, 1.0.3, 1.0.4 and
//! 1.1, activated by personalization (ABP) or over the air (OTAA).
//!
//! What it does not do: MAC command logic (the caller passes MAC commands as raw bytes and
//! reads the network's as raw bytes — a 1.1 OTAA device, for instance, must send `RekeyInd`,
//! `0b 01`, in its FOpts until the network answers `RekeyConf`), timing (receive windows are the
//! caller's: it feeds whatever downlink the gateways got), channel plans and duty cycle.
//!
//! Every received frame is checked before it changes any state; a frame that fails a check
//! leaves the device as it was and comes back as a [`DeviceError`], never a panic.

mod join;

use crate::load::frame::{Eui64, Key};

use super::crypto::{self, CipherKey, DevAddr, Direction, FOptsCounter, MicKey};

pub use join::{cf_list_frequencies, JoinAccepted, RejoinType};

/// The largest PHYPayload LoRa can carry (regional limits are lower; they are the caller's).
pub const MAX_PHY_LEN: usize = 255;
/// The largest FOpts field (FOptsLen is 4 bits).
pub const MAX_FOPTS_LEN: usize = 15;

/// The LoRaWAN L2 versions the simulator speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MacVersion {
    /// LoRaWAN 1.0.2: random DevNonce.
    V1_0_2,
    /// LoRaWAN 1.0.3: random DevNonce.
    V1_0_3,
    /// LoRaWAN 1.0.4: DevNonce is a counter.
    V1_0_4,
    /// LoRaWAN 1.1: DevNonce is a counter, NwkKey and AppKey, four session keys.
    V1_1,
}

impl MacVersion {
    /// Whether DevNonce is a counter (1.0.4 §6.2.5, 1.1 §6.2.2) rather than random.
    pub fn dev_nonce_is_counter(self) -> bool {
        matches!(self, Self::V1_0_4 | Self::V1_1)
    }
}

/// Session keys of an activated device.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SessionKeys {
    /// LoRaWAN 1.0.x (or a 1.1 device on a 1.0 network, OptNeg = 0).
    V1_0 {
        /// NwkSKey: the MIC both ways and FPort-0 payloads.
        nwk_s_key: Key,
        /// AppSKey: payloads on FPort > 0.
        app_s_key: Key,
    },
    /// LoRaWAN 1.1.
    V1_1 {
        /// FNwkSIntKey: the uplink cmacF.
        f_nwk_s_int_key: Key,
        /// SNwkSIntKey: the uplink cmacS and the downlink MIC.
        s_nwk_s_int_key: Key,
        /// NwkSEncKey: FOpts and FPort-0 payloads.
        nwk_s_enc_key: Key,
        /// AppSKey: payloads on FPort > 0.
        app_s_key: Key,
    },
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::V1_0 { .. } => f.write_str("SessionKeys::V1_0(<redacted>)"),
            Self::V1_1 { .. } => f.write_str("SessionKeys::V1_1(<redacted>)"),
        }
    }
}

/// The root keys and identifiers of an OTAA device.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct OtaaKeys {
    /// DevEUI.
    pub dev_eui: Eui64,
    /// JoinEUI (AppEUI before 1.0.4).
    pub join_eui: Eui64,
    /// AppKey.
    pub app_key: Key,
    /// NwkKey: required for 1.1, ignored for 1.0.x.
    pub nwk_key: Option<Key>,
}

impl std::fmt::Debug for OtaaKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtaaKeys")
            .field("dev_eui", &self.dev_eui)
            .field("join_eui", &self.join_eui)
            .finish_non_exhaustive()
    }
}

/// Receive-window settings from a join-accept (DLSettings, RxDelay).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxSettings {
    /// RX1DRoffset (DLSettings bits 6..4).
    pub rx1_dr_offset: u8,
    /// RX2 data rate (DLSettings bits 3..0).
    pub rx2_dr: u8,
    /// RX1 delay in seconds (RxDelay 0 means 1).
    pub rx1_delay_s: u8,
}

/// What a device builds: one data uplink. Start from [`Uplink::unconfirmed`],
/// [`Uplink::confirmed`] or [`Uplink::mac_only`] and set fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Uplink<'a> {
    /// ConfirmedDataUp rather than UnconfirmedDataUp.
    pub confirmed: bool,
    /// FPort; `None` sends no FPort and no FRMPayload.
    pub fport: Option<u8>,
    /// FRMPayload in clear (encrypted by the device); needs an FPort.
    pub payload: &'a [u8],
    /// MAC commands in clear for FOpts (at most 15 bytes; encrypted with NwkSEncKey in 1.1).
    pub fopts: &'a [u8],
    /// FCtrl.ADR.
    pub adr: bool,
    /// FCtrl.ADRACKReq.
    pub adr_ack_req: bool,
    /// FCtrl.ACK: acknowledges the last confirmed downlink (whose counter goes into the 1.1
    /// MIC as ConfFCnt).
    pub ack: bool,
    /// FCtrl bit 4 (ClassB in uplinks).
    pub class_b: bool,
    /// TxDr for the 1.1 MIC: the data rate index the frame is sent at.
    pub tx_dr: u8,
    /// TxCh for the 1.1 MIC: the index of the channel the frame is sent on.
    pub tx_ch: u8,
}

impl<'a> Uplink<'a> {
    /// An unconfirmed uplink of `payload` on `fport`.
    pub fn unconfirmed(fport: u8, payload: &'a [u8]) -> Self {
        Self {
            fport: Some(fport),
            payload,
            ..Self::default()
        }
    }

    /// A confirmed uplink of `payload` on `fport`.
    pub fn confirmed(fport: u8, payload: &'a [u8]) -> Self {
        Self {
            confirmed: true,
            ..Self::unconfirmed(fport, payload)
        }
    }

    /// An uplink with MAC commands in FOpts and no FPort (empty `fopts` makes an empty frame,
    /// e.g. a bare ACK).
    pub fn mac_only(fopts: &'a [u8]) -> Self {
        Self {
            fopts,
            ..Self::default()
        }
    }
}

/// A verified, decrypted data downlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downlink {
    /// ConfirmedDataDown: the device must acknowledge it.
    pub confirmed: bool,
    /// The full 32-bit frame counter (FCntDown in 1.0; NFCntDown or AFCntDown in 1.1).
    pub fcnt: u32,
    /// FCtrl.ADR.
    pub adr: bool,
    /// FCtrl.ACK: the network acknowledges the last confirmed uplink.
    pub ack: bool,
    /// FCtrl.FPending: the network has more to send.
    pub fpending: bool,
    /// FOpts in clear.
    pub fopts: Vec<u8>,
    /// FPort, when present.
    pub fport: Option<u8>,
    /// FRMPayload in clear.
    pub payload: Vec<u8>,
}

impl Downlink {
    /// The MAC commands: FOpts, or the FRMPayload on FPort 0.
    pub fn mac_commands(&self) -> &[u8] {
        if self.fport == Some(0) {
            &self.payload
        } else {
            &self.fopts
        }
    }
}

/// Why a device refused to build or accept a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// No session: ABP not configured and no join accepted yet.
    #[error("the device has no session (not activated)")]
    NotActivated,
    /// An OTAA operation on an ABP-only device.
    #[error("the device has no OTAA root keys")]
    NotOtaa,
    /// A LoRaWAN 1.1 device without NwkKey.
    #[error("a LoRaWAN 1.1 device needs a NwkKey")]
    MissingNwkKey,
    /// Session keys of a version this device is not.
    #[error("1.1 session keys given to a 1.0.x device")]
    KeysVersion,
    /// A feature of another LoRaWAN version (rejoin on 1.0.x, or on a 1.0-mode session).
    #[error("not available in this LoRaWAN version: {0}")]
    Version(&'static str),
    /// The caller's uplink cannot be encoded.
    #[error("invalid uplink: {0}")]
    InvalidUplink(&'static str),
    /// All 2^32 uplink counters are used: the device must rejoin.
    #[error("FCntUp exhausted")]
    FCntExhausted,
    /// No DevNonce left (a counter at 65535, or no unused random value).
    #[error("no DevNonce left")]
    DevNonceExhausted,
    /// A join-accept arrived with no join- or rejoin-request pending.
    #[error("no join-request pending")]
    NoPendingJoin,
    /// A frame of a length the type cannot have.
    #[error("frame of {0} bytes has an impossible length")]
    Length(usize),
    /// Not the expected MHDR (MType or Major).
    #[error("unexpected MHDR {0:02x}")]
    Mhdr(u8),
    /// A data downlink for another DevAddr.
    #[error("downlink for DevAddr {0}")]
    DevAddr(DevAddr),
    /// The MIC does not verify.
    #[error("MIC does not verify")]
    Mic,
    /// A downlink whose counter is not above the last one received (a replay).
    #[error("downlink FCnt {fcnt} is not above the last one received, {last}")]
    FCntReplay {
        /// The frame's full counter.
        fcnt: u32,
        /// The last accepted counter of the same kind.
        last: u32,
    },
    /// A join-accept whose JoinNonce breaks the version's rule.
    #[error("JoinNonce {join_nonce} refused (last {last})")]
    JoinNonce {
        /// The accept's JoinNonce.
        join_nonce: u32,
        /// The last JoinNonce accepted.
        last: u32,
    },
    /// MAC commands in FOpts and an FPort-0 payload at once (1.0.4 §4.3.1.6, paraphrased:
    /// a frame never carries MAC commands in both).
    #[error("MAC commands in both FOpts and FRMPayload")]
    MacCommandsInBoth,
}

/// A device's session: address, keys, counters, receive settings.
#[derive(Debug, Clone)]
pub struct Session {
    dev_addr: DevAddr,
    keys: SessionKeys,
    crypto: SessionCrypto,
    /// Next FCntUp to use (u64 so that using 2^32 - 1 can be told from running out).
    fcnt_up: u64,
    /// Last NFCntDown (1.1) / FCntDown (1.0) accepted.
    nfcnt_down: Option<u32>,
    /// Last AFCntDown accepted (1.1 only).
    afcnt_down: Option<u32>,
    /// FCnt of the last confirmed uplink, until a downlink acknowledges it.
    confirmed_up: Option<u32>,
    /// FCnt of the last confirmed downlink, for the next uplink's ACK.
    confirmed_down: Option<u32>,
    net_id: Option<u32>,
    rx: Option<RxSettings>,
    cf_list: Option<[u8; 16]>,
    rj_count0: u16,
}

/// The session keys, prepared.
#[derive(Debug, Clone)]
struct SessionCrypto {
    /// A 1.1 session (four keys, 1.1 MIC and FOpts encryption).
    v1_1: bool,
    f_nwk_s_int: MicKey,
    s_nwk_s_int: MicKey,
    nwk_s_enc: CipherKey,
    app_s: CipherKey,
}

impl Session {
    fn new(dev_addr: DevAddr, keys: SessionKeys) -> Self {
        let crypto = match &keys {
            SessionKeys::V1_0 {
                nwk_s_key,
                app_s_key,
            } => SessionCrypto {
                v1_1: false,
                f_nwk_s_int: MicKey::new(nwk_s_key),
                s_nwk_s_int: MicKey::new(nwk_s_key),
                nwk_s_enc: CipherKey::new(nwk_s_key),
                app_s: CipherKey::new(app_s_key),
            },
            SessionKeys::V1_1 {
                f_nwk_s_int_key,
                s_nwk_s_int_key,
                nwk_s_enc_key,
                app_s_key,
            } => SessionCrypto {
                v1_1: true,
                f_nwk_s_int: MicKey::new(f_nwk_s_int_key),
                s_nwk_s_int: MicKey::new(s_nwk_s_int_key),
                nwk_s_enc: CipherKey::new(nwk_s_enc_key),
                app_s: CipherKey::new(app_s_key),
            },
        };
        Self {
            dev_addr,
            keys,
            crypto,
            fcnt_up: 0,
            nfcnt_down: None,
            afcnt_down: None,
            confirmed_up: None,
            confirmed_down: None,
            net_id: None,
            rx: None,
            cf_list: None,
            rj_count0: 0,
        }
    }

    /// The DevAddr.
    pub fn dev_addr(&self) -> DevAddr {
        self.dev_addr
    }

    /// The session keys.
    pub fn keys(&self) -> &SessionKeys {
        &self.keys
    }

    /// The FCntUp the next uplink will carry (`None` when all are used).
    pub fn next_fcnt_up(&self) -> Option<u32> {
        u32::try_from(self.fcnt_up).ok()
    }

    /// The last FCntDown (1.0) / NFCntDown (1.1) accepted.
    pub fn nfcnt_down(&self) -> Option<u32> {
        self.nfcnt_down
    }

    /// The last AFCntDown accepted (1.1).
    pub fn afcnt_down(&self) -> Option<u32> {
        self.afcnt_down
    }

    /// The home NetID (from the join-accept, or [`Device::set_net_id`]).
    pub fn net_id(&self) -> Option<u32> {
        self.net_id
    }

    /// Receive settings from the join-accept.
    pub fn rx(&self) -> Option<RxSettings> {
        self.rx
    }

    /// The CFList from the join-accept.
    pub fn cf_list(&self) -> Option<[u8; 16]> {
        self.cf_list
    }

    /// Whether the session uses the 1.1 frame formats.
    pub fn is_1_1(&self) -> bool {
        self.crypto.v1_1
    }
}

/// A join- or rejoin-request awaiting its accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PendingJoin {
    /// JoinReqType: 0xff for a join-request, 0/1/2 for a rejoin.
    req_type: u8,
    /// DevNonce, or the RJcount of a rejoin.
    nonce: u16,
}

/// A simulated end device. See the [module documentation](self).
#[derive(Debug, Clone)]
pub struct Device {
    version: MacVersion,
    otaa: Option<OtaaKeys>,
    session: Option<Session>,
    /// The next DevNonce of a counter-DevNonce device (u32: 65536 means used up).
    next_dev_nonce: u32,
    /// Random DevNonces already sent by a 1.0.2/1.0.3 device.
    used_dev_nonces: Vec<u16>,
    rng: u64,
    pending: Option<PendingJoin>,
    last_join_nonce: Option<u32>,
    rj_count1: u16,
}

impl Device {
    /// A device activated by personalization. A 1.0.x device takes [`SessionKeys::V1_0`];
    /// a 1.1 device takes either (1.0 keys: a 1.1 device on a 1.0 network).
    pub fn abp(
        version: MacVersion,
        dev_addr: DevAddr,
        keys: SessionKeys,
    ) -> Result<Self, DeviceError> {
        if version != MacVersion::V1_1 && matches!(keys, SessionKeys::V1_1 { .. }) {
            return Err(DeviceError::KeysVersion);
        }
        let mut device = Self::blank(version, u64::from(dev_addr.0));
        device.session = Some(Session::new(dev_addr, keys));
        Ok(device)
    }

    /// A device to be activated over the air ([`Self::join_request`]). 1.1 needs the NwkKey.
    pub fn otaa(version: MacVersion, keys: OtaaKeys) -> Result<Self, DeviceError> {
        if version == MacVersion::V1_1 && keys.nwk_key.is_none() {
            return Err(DeviceError::MissingNwkKey);
        }
        let mut device = Self::blank(version, keys.dev_eui.0);
        device.otaa = Some(keys);
        Ok(device)
    }

    fn blank(version: MacVersion, seed: u64) -> Self {
        Self {
            version,
            otaa: None,
            session: None,
            next_dev_nonce: 0,
            used_dev_nonces: Vec::new(),
            rng: seed ^ 0x5eed_1e55_c0ff_ee00,
            pending: None,
            last_join_nonce: None,
            rj_count1: 0,
        }
    }

    /// The seed of the random DevNonces of a 1.0.2 / 1.0.3 device (by default derived from
    /// the DevEUI, so runs are reproducible).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = seed;
        self
    }

    /// The LoRaWAN version.
    pub fn version(&self) -> MacVersion {
        self.version
    }

    /// The current session, once activated.
    pub fn session(&self) -> Option<&Session> {
        self.session.as_ref()
    }

    /// The OTAA keys, for an OTAA device.
    pub fn otaa_keys(&self) -> Option<&OtaaKeys> {
        self.otaa.as_ref()
    }

    /// Sets the FCntUp of the next uplink (to test counter rules: a jump, a replay).
    pub fn set_fcnt_up(&mut self, fcnt: u32) -> Result<(), DeviceError> {
        let session = self.session.as_mut().ok_or(DeviceError::NotActivated)?;
        session.fcnt_up = u64::from(fcnt);
        Ok(())
    }

    /// Sets the NetID of an ABP session (needed by 1.1 rejoin-requests of type 0 and 2).
    pub fn set_net_id(&mut self, net_id: u32) -> Result<(), DeviceError> {
        let session = self.session.as_mut().ok_or(DeviceError::NotActivated)?;
        session.net_id = Some(net_id & 0xff_ffff);
        Ok(())
    }

    /// Sets the next DevNonce of a counter-DevNonce device (1.0.4, 1.1). The specification
    /// starts the counter at 0; LoRaMac-node sends 1 first.
    pub fn set_next_dev_nonce(&mut self, dev_nonce: u16) {
        self.next_dev_nonce = u32::from(dev_nonce);
    }

    /// Builds the next data uplink and advances FCntUp.
    pub fn uplink(&mut self, up: &Uplink<'_>) -> Result<Vec<u8>, DeviceError> {
        let mut out = Vec::with_capacity(13 + up.fopts.len() + up.payload.len());
        self.uplink_into(up, &mut out)?;
        Ok(out)
    }

    /// Builds the next data uplink into `out` (cleared first; no allocation once `out` has
    /// grown) and advances FCntUp. Returns the FCnt used.
    pub fn uplink_into(&mut self, up: &Uplink<'_>, out: &mut Vec<u8>) -> Result<u32, DeviceError> {
        let session = self.session.as_mut().ok_or(DeviceError::NotActivated)?;
        if up.fopts.len() > MAX_FOPTS_LEN {
            return Err(DeviceError::InvalidUplink("more than 15 bytes of FOpts"));
        }
        if up.fport.is_none() && !up.payload.is_empty() {
            return Err(DeviceError::InvalidUplink("a payload needs an FPort"));
        }
        if up.fport == Some(0) && !up.fopts.is_empty() {
            return Err(DeviceError::MacCommandsInBoth);
        }
        let len = 12 + up.fopts.len() + usize::from(up.fport.is_some()) + up.payload.len();
        if len > MAX_PHY_LEN {
            return Err(DeviceError::InvalidUplink("frame longer than 255 bytes"));
        }
        let fcnt = u32::try_from(session.fcnt_up).map_err(|_| DeviceError::FCntExhausted)?;
        let dev_addr = session.dev_addr;
        let sc = &session.crypto;

        out.clear();
        out.push(if up.confirmed { 0x80 } else { 0x40 });
        out.extend_from_slice(&dev_addr.air_bytes());
        let mut fctrl = up.fopts.len() as u8; // at most 15, checked above
        for (set, bit) in [
            (up.adr, 0x80),
            (up.adr_ack_req, 0x40),
            (up.ack, 0x20),
            (up.class_b, 0x10),
        ] {
            if set {
                fctrl |= bit;
            }
        }
        out.push(fctrl);
        out.extend_from_slice(&(fcnt as u16).to_le_bytes()); // the 16 low bits go on air
        let fopts_at = out.len();
        out.extend_from_slice(up.fopts);
        if sc.v1_1 {
            // 1.1 §4.3.1.6: FOpts are encrypted with NwkSEncKey (errata form, A[4] = 1 up).
            crypto::crypt_fopts(
                &sc.nwk_s_enc,
                FOptsCounter::NetworkOrUp,
                Direction::Uplink,
                dev_addr,
                fcnt,
                &mut out[fopts_at..],
            );
        }
        if let Some(fport) = up.fport {
            out.push(fport);
            let at = out.len();
            out.extend_from_slice(up.payload);
            let key = if fport == 0 { &sc.nwk_s_enc } else { &sc.app_s };
            crypto::crypt_frm_payload(key, Direction::Uplink, dev_addr, fcnt, &mut out[at..]);
        }
        let mic = if sc.v1_1 {
            // 1.1 §4.4: ConfFCnt is the acknowledged downlink's counter when ACK is set, else 0.
            let conf_fcnt = match (up.ack, session.confirmed_down) {
                (true, Some(down)) => down as u16,
                _ => 0,
            };
            crypto::uplink_mic_1_1(
                &sc.f_nwk_s_int,
                &sc.s_nwk_s_int,
                dev_addr,
                fcnt,
                conf_fcnt,
                up.tx_dr,
                up.tx_ch,
                out,
            )
        } else {
            crypto::data_mic_1_0(&sc.f_nwk_s_int, Direction::Uplink, dev_addr, fcnt, out)
        }
        .map_err(|_| DeviceError::InvalidUplink("frame longer than 255 bytes"))?;
        out.extend_from_slice(&mic);

        session.fcnt_up += 1;
        if up.confirmed {
            session.confirmed_up = Some(fcnt);
        }
        if up.ack {
            session.confirmed_down = None;
        }
        Ok(fcnt)
    }

    /// Checks and decrypts a data downlink: MHDR, DevAddr, MIC (1.0: NwkSKey; 1.1: SNwkSIntKey
    /// with ConfFCnt), counter above the last one of its kind; then updates the counters.
    pub fn accept_downlink(&mut self, phy: &[u8]) -> Result<Downlink, DeviceError> {
        let session = self.session.as_mut().ok_or(DeviceError::NotActivated)?;
        if phy.len() < 12 || phy.len() > MAX_PHY_LEN {
            return Err(DeviceError::Length(phy.len()));
        }
        let mhdr = phy[0];
        // MType 011 (unconfirmed down) or 101 (confirmed down), Major 00 (LoRaWAN R1).
        let confirmed = match mhdr {
            0x60 => false,
            0xa0 => true,
            other => return Err(DeviceError::Mhdr(other)),
        };
        let dev_addr = DevAddr(u32::from_le_bytes([phy[1], phy[2], phy[3], phy[4]]));
        if dev_addr != session.dev_addr {
            return Err(DeviceError::DevAddr(dev_addr));
        }
        let fctrl = phy[5];
        let fopts_len = usize::from(fctrl & 0x0f);
        let fcnt16 = u16::from_le_bytes([phy[6], phy[7]]);
        let (msg, mic) = phy.split_at(phy.len() - 4);
        let rest = msg.get(8..).ok_or(DeviceError::Length(phy.len()))?;
        if rest.len() < fopts_len {
            return Err(DeviceError::Length(phy.len()));
        }
        let (fopts, port_and_payload) = rest.split_at(fopts_len);
        let fport = port_and_payload.first().copied();
        if fport == Some(0) && fopts_len > 0 {
            return Err(DeviceError::MacCommandsInBoth);
        }
        let sc = &session.crypto;
        // 1.1 §4.3.1.5: downlinks on FPort > 0 count with AFCntDown, the others with NFCntDown;
        // 1.0.x has the one FCntDown (kept in the NFCntDown slot).
        let app_counter = sc.v1_1 && fport.is_some_and(|p| p > 0);
        let last = if app_counter {
            session.afcnt_down
        } else {
            session.nfcnt_down
        };
        let conf_fcnt = match (fctrl & 0x20 != 0, session.confirmed_up) {
            (true, Some(up)) => up as u16,
            _ => 0,
        };
        let verify = |fcnt: u32| -> bool {
            let expected = if sc.v1_1 {
                crypto::downlink_mic_1_1(&sc.s_nwk_s_int, dev_addr, fcnt, conf_fcnt, msg)
            } else {
                crypto::data_mic_1_0(&sc.s_nwk_s_int, Direction::Downlink, dev_addr, fcnt, msg)
            };
            expected.is_ok_and(|m| crypto::mic_eq(&m, mic))
        };
        let fcnt = match last {
            None if verify(u32::from(fcnt16)) => u32::from(fcnt16),
            None => return Err(DeviceError::Mic),
            Some(last) => match full_fcnt(last, fcnt16) {
                Some(fcnt) if verify(fcnt) => fcnt,
                candidate => {
                    // 1.0.4 / 1.1 §4.3.1.5 (paraphrased): a device only accepts a downlink
                    // whose counter is above the last one it accepted. A frame that verifies
                    // with a counter at or below it is a replay; tell it from a bad MIC.
                    let old = (last & 0xffff_0000) | u32::from(fcnt16);
                    if candidate.is_none() || (old <= last && verify(old)) {
                        return Err(DeviceError::FCntReplay { fcnt: old, last });
                    }
                    return Err(DeviceError::Mic);
                }
            },
        };

        let mut fopts = fopts.to_vec();
        if sc.v1_1 {
            let counter = if app_counter {
                FOptsCounter::AppDown
            } else {
                FOptsCounter::NetworkOrUp
            };
            crypto::crypt_fopts(
                &sc.nwk_s_enc,
                counter,
                Direction::Downlink,
                dev_addr,
                fcnt,
                &mut fopts,
            );
        }
        let mut payload = port_and_payload.get(1..).unwrap_or_default().to_vec();
        if let Some(port) = fport {
            let key = if port == 0 { &sc.nwk_s_enc } else { &sc.app_s };
            crypto::crypt_frm_payload(key, Direction::Downlink, dev_addr, fcnt, &mut payload);
        }

        let ack = fctrl & 0x20 != 0;
        if app_counter {
            session.afcnt_down = Some(fcnt);
        } else {
            session.nfcnt_down = Some(fcnt);
        }
        if ack {
            session.confirmed_up = None;
        }
        if confirmed {
            session.confirmed_down = Some(fcnt);
        }
        Ok(Downlink {
            confirmed,
            fcnt,
            adr: fctrl & 0x80 != 0,
            ack,
            fpending: fctrl & 0x10 != 0,
            fopts,
            fport,
            payload,
        })
    }
}

/// The full 32-bit counter of a frame whose 16 low bits are `fcnt16`, the smallest one above
/// `last`; `None` when `last` is `u32::MAX` (nothing is above it).
fn full_fcnt(last: u32, fcnt16: u16) -> Option<u32> {
    let next = u64::from(last) + 1;
    let mut full = (next & !0xffff) | u64::from(fcnt16);
    if full < next {
        full += 0x1_0000;
    }
    u32::try_from(full).ok()
}
