//! JoinReq → JoinAns: the home network asks the JS to accept a join-request.
//!
//! Order of the checks (decode → validate → decide), each failure a [`JoinError`]:
//!
//! 1. SenderID is a NetID (UnknownSender); MACVersion, DLSettings, RxDelay, CFList parse and the
//!    PHYPayload is a join-request (MalformedRequest / MalformedMessage, FrameSizeError for a
//!    wrong length) whose DevEUI is the JoinReq's DevEUI (Malformed…: the message contradicts
//!    itself).
//! 2. The device is known (UnknownDevEUI), claimed, and the requester is its home network
//!    (ActivationDisallowed). This comes before any crypto: a stranger learns nothing about
//!    the device's keys or nonces, and costs no AES work.
//! 3. The frame's JoinEUI is the device's (JoinReqFailed: the device is known, but presents an
//!    identity it was not provisioned with; TTS would say UnknownDevEUI as it looks devices up by
//!    JoinEUI and DevEUI, we say which part is wrong); MACVersion / OptNeg fit the device
//!    (JoinReqFailed).
//! 4. The MIC verifies with AppKey (1.0.x) or NwkKey (1.1) (MICFailed).
//! 5. The DevNonce was never used (JoinReqFailed, "DevNonce … already used"): counters for
//!    1.0.4 / 1.1, the recent history for ≤ 1.0.3. Only after the MIC: forged frames cannot burn
//!    DevNonces.
//! 6. The next JoinNonce exists (JoinReqFailed when all 2^24 - 1 are used).
//! 7. Keys are derived, the join-accept built with the NS's DevAddr, DLSettings, RxDelay and
//!    CFList and the home NetID, and the keys wrapped for the requesting NS.

use backend::message::JoinAns;
use backend::message::JoinReq;
use backend::result::BiResult;
use backend::values::HexBytes;
use lorawan::crypto::MicKey;
use lorawan::join::JoinReqType;
use lorawan::phy::JoinRequest;
use serde_json::Map;

use super::accept::{
    claimed_device, grant, phy_error, procedure, sender_net_id, AcceptInput, AcceptParams, Grant,
    JoinPolicy,
};
use super::device::{JoinDevice, NonceState, SessionRecord};
use super::error::JoinError;
use super::keks::KekLookup;

/// An accepted join or rejoin: the answer, and what the caller must store.
#[derive(Debug, Clone)]
pub struct Activation<A> {
    /// The Success answer, join-accept and keys inside.
    pub answer: A,
    /// The device's nonce state after this activation. **Persist it before sending
    /// `answer`** (see [`decide_join`]).
    pub new_nonces: NonceState,
    /// The new session: keep it (AppSKey sealed) to answer the AS's AppSKeyReq.
    pub session: SessionRecord,
}

/// An accepted JoinReq.
pub type JoinDecision = Activation<JoinAns>;

/// Decides a JoinReq for `device`, the device the caller loaded by the JoinReq's DevEUI
/// (`None` when there is none).
///
/// # Durability contract
///
/// The caller MUST persist [`Activation::new_nonces`] (the accepted DevNonce and the JoinNonce
/// of this join-accept) durably **before** sending the answer, and persist it only if the stored
/// state is still `device.nonces` (compare-and-set, or a per-device lock around load → decide →
/// store); when the store fails or lost the race, answer with an error (or decide again on the
/// fresh state), never with this answer. Then a crash or a concurrent request can never send
/// two join-accepts with the same JoinNonce (TS001-1.0.4 §6.2.3: the JoinNonce "SHALL never
/// be reused"), nor accept a DevNonce twice. A JoinNonce persisted but never sent is simply
/// skipped; devices accept gaps.
pub fn decide_join(
    device: Option<&JoinDevice>,
    request: &JoinReq,
    keks: &impl KekLookup,
    policy: &JoinPolicy,
) -> Result<JoinDecision, JoinError> {
    let sender = sender_net_id(&request.header)?;
    let params = AcceptParams::parse(
        &request.mac_version,
        request.dev_addr,
        &request.dl_settings,
        request.rx_delay,
        request.cf_list.as_ref(),
    )?;
    let frame = JoinRequest::parse(request.phy_payload.as_bytes()).map_err(phy_error)?;
    let (device, home) = claimed_device(
        device,
        &request.header,
        sender,
        request.dev_eui,
        frame.dev_eui(),
    )?;
    if frame.join_eui() != device.join_eui {
        return Err(JoinError::JoinEuiMismatch {
            dev_eui: device.dev_eui,
            received: frame.join_eui(),
        });
    }
    let procedure = procedure(device, &params)?;

    let mic_key = device
        .join_request_mic_key()
        .ok_or(JoinError::MissingNwkKey(device.dev_eui))?;
    frame
        .verify_mic(&MicKey::new(mic_key))
        .map_err(|_| JoinError::MicFailed("join-request"))?;

    // TS001-1.0.4 §6.2.5: the Join Server "SHALL ignore Join-Requests whose DevNonce is not
    // greater than the last one"; 1.0.3 §6.2.4: it "ignores join requests with any of these
    // [recently used] DevNonce values".
    let dev_nonce = frame.dev_nonce();
    device
        .nonces
        .check_dev_nonce(device.mac_version, dev_nonce)
        .map_err(JoinError::DevNonceReused)?;
    let join_nonce = device
        .nonces
        .next_join_nonce()
        .map_err(|_| JoinError::JoinNonceExhausted(device.dev_eui))?;

    let grant = grant(
        &AcceptInput {
            device,
            params: &params,
            procedure,
            home_net_id: home.net_id,
            join_nonce,
            join_req_type: JoinReqType::Join,
            nonce: dev_nonce,
        },
        sender,
        keks,
        policy,
    )?;
    let new_nonces = device
        .nonces
        .clone()
        .with_dev_nonce(device.mac_version, dev_nonce)
        .with_join_nonce(join_nonce);
    let session_key_id = grant.session_key_id();
    let Grant {
        phy_payload,
        nwk_s_key,
        f_nwk_s_int_key,
        s_nwk_s_int_key,
        nwk_s_enc_key,
        app_s_key,
        lifetime,
        session,
    } = grant;
    let answer = JoinAns {
        header: request.header.answer_header(),
        result: BiResult::success(),
        phy_payload: Some(HexBytes(phy_payload)),
        lifetime,
        s_nwk_s_int_key,
        f_nwk_s_int_key,
        nwk_s_enc_key,
        nwk_s_key,
        app_s_key,
        session_key_id: Some(session_key_id),
        extra: Map::new(),
    };
    Ok(Activation {
        answer,
        new_nonces,
        session,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::join::fixtures::*;
    use backend::header::ProtocolVersion;
    use backend::result::ResultCode;
    use lorawan::crypto::CipherKey;
    use lorawan::ids::{AesKey, Eui64};
    use lorawan::join::{JoinNonce, MacVersion};
    use lorawan::keys::{derive_1_0, derive_1_1, js_int_key};
    use lorawan::phy::{DlSettings, EncryptedJoinAccept};
    use proptest::prelude::*;

    use crate::join::device::AppSKeyDelivery;
    use crate::join::keks::{ClearKeys, KekTable};

    fn code(result: Result<JoinDecision, JoinError>) -> ResultCode {
        let error = result.expect_err("a refusal");
        error.result_code(&ProtocolVersion::V1_1)
    }

    #[test]
    fn accepts_a_1_0_join_and_wraps_keys_for_the_home_ns() {
        let device = device_1_0(MacVersion::V1_0_3);
        let request = join_req(&device, 0x1234, DlSettings::new(1, 3), "1.0.3");
        let decision = decide_join(Some(&device), &request, &keks(), &JoinPolicy::default())
            .expect("accepted");
        let ans = &decision.answer;
        assert!(ans.result.result_code.is_success());
        assert_eq!(ans.header.receiver_id, request.header.sender_id);
        let phy = ans.phy_payload.as_ref().expect("PHYPayload");
        let accept = EncryptedJoinAccept::parse(phy.as_bytes())
            .expect("a join-accept")
            .decrypt(&CipherKey::new(&device.app_key));
        accept
            .verify_mic_1_0(&MicKey::new(&device.app_key))
            .expect("MIC");
        assert_eq!(accept.join_nonce().get(), 1);
        assert_eq!(accept.home_net_id(), HOME);
        assert_eq!(accept.dev_addr(), request.dev_addr);
        assert_eq!(accept.dl_settings(), DlSettings::new(1, 3));
        let keys = derive_1_0(&device.app_key, accept.join_nonce(), HOME, 0x1234);
        let nwk = ans.nwk_s_key.as_ref().expect("NwkSKey");
        assert_eq!(nwk.label(), Some(KEK_LABEL));
        assert_eq!(nwk.unwrap(Some(&kek())), Ok(keys.nwk_s_key));
        let app = ans.app_s_key.as_ref().expect("AppSKey to the NS");
        assert_eq!(app.unwrap(Some(&kek())), Ok(keys.app_s_key));
        assert!(ans.f_nwk_s_int_key.is_none() && ans.s_nwk_s_int_key.is_none());
        assert_eq!(decision.session.app_s_key, keys.app_s_key);
        assert_eq!(
            ans.session_key_id.as_ref().map(HexBytes::as_bytes),
            Some(&decision.session.session_key_id.as_bytes()[..])
        );
        assert_eq!(decision.new_nonces.dev_nonce_last, Some(0x1234));
        assert_eq!(decision.new_nonces.dev_nonce_history, vec![0x1234]);
        assert_eq!(
            decision.new_nonces.join_nonce_last.map(JoinNonce::get),
            Some(1)
        );
    }

    #[test]
    fn accepts_a_1_1_join_with_opt_neg_and_withholds_the_app_s_key() {
        let mut device = device_1_1();
        device.app_s_key_delivery = AppSKeyDelivery::ToApplicationServer {
            as_id: "as.example".into(),
        };
        let request = join_req(&device, 7, DlSettings::new(0, 0).with_opt_neg(), "1.1");
        let decision = decide_join(Some(&device), &request, &keks(), &JoinPolicy::default())
            .expect("accepted");
        let ans = &decision.answer;
        let nwk_key = device.nwk_key.expect("NwkKey");
        let phy = ans.phy_payload.as_ref().expect("PHYPayload");
        let accept = EncryptedJoinAccept::parse(phy.as_bytes())
            .expect("a join-accept")
            .decrypt(&CipherKey::new(&nwk_key));
        let js_int = MicKey::new(&js_int_key(&nwk_key, device.dev_eui));
        accept
            .verify_mic_1_1(&js_int, JoinReqType::Join, device.join_eui, 7)
            .expect("1.1 MIC");
        assert!(accept.dl_settings().opt_neg());
        let keys = derive_1_1(
            &nwk_key,
            &device.app_key,
            accept.join_nonce(),
            device.join_eui,
            7,
        );
        let unwrap = |e: &Option<backend::keys::KeyEnvelope>| {
            e.as_ref()
                .expect("key")
                .unwrap(Some(&kek()))
                .expect("unwraps")
        };
        assert_eq!(unwrap(&ans.f_nwk_s_int_key), keys.f_nwk_s_int_key);
        assert_eq!(unwrap(&ans.s_nwk_s_int_key), keys.s_nwk_s_int_key);
        assert_eq!(unwrap(&ans.nwk_s_enc_key), keys.nwk_s_enc_key);
        assert!(ans.nwk_s_key.is_none());
        assert!(ans.app_s_key.is_none(), "withheld for the AS");
        assert_eq!(decision.session.app_s_key, keys.app_s_key);
        assert!(decision.new_nonces.dev_nonce_history.is_empty());
    }

    #[test]
    fn a_1_1_device_on_a_1_0_network_uses_nwk_key_as_root() {
        let device = device_1_1();
        let request = join_req(&device, 9, DlSettings::new(0, 0), "1.0.3");
        let decision = decide_join(
            Some(&device),
            &request,
            &KekTable::new(),
            &JoinPolicy::default(),
        )
        .expect("accepted");
        let nwk_key = device.nwk_key.expect("NwkKey");
        let phy = decision.answer.phy_payload.expect("PHYPayload");
        let accept = EncryptedJoinAccept::parse(phy.as_bytes())
            .expect("a join-accept")
            .decrypt(&CipherKey::new(&nwk_key));
        accept.verify_mic_1_0(&MicKey::new(&nwk_key)).expect("MIC");
        let keys = derive_1_0(&nwk_key, accept.join_nonce(), HOME, 9);
        let nwk = decision.answer.nwk_s_key.expect("NwkSKey");
        assert_eq!(nwk.clear_key(), Some(keys.nwk_s_key), "no KEK: clear");
    }

    #[test]
    fn every_refusal_has_its_code() {
        let device = device_1_0(MacVersion::V1_0_4);
        let policy = JoinPolicy::default();
        let good = join_req(&device, 1, DlSettings::new(0, 0), "1.0.4");
        let decide = |d: Option<&JoinDevice>, r: &JoinReq| decide_join(d, r, &keks(), &policy);

        let mut r = good.clone();
        r.header.sender_id = "70b3d57ed0000001".into();
        assert_eq!(code(decide(Some(&device), &r)), ResultCode::UnknownSender);

        let mut r = good.clone();
        r.dl_settings = HexBytes(vec![0, 0]);
        assert_eq!(
            code(decide(Some(&device), &r)),
            ResultCode::MalformedMessage
        );
        let mut r = good.clone();
        r.header.protocol_version = ProtocolVersion::V1_0;
        r.cf_list = Some(HexBytes(vec![0; 15]));
        let error = decide(Some(&device), &r).expect_err("bad CFList");
        assert_eq!(
            error.result_code(&ProtocolVersion::V1_0),
            ResultCode::MalformedRequest
        );
        assert_eq!(
            error.join_ans(&r.header).result.result_code,
            ResultCode::MalformedRequest
        );
        let mut r = good.clone();
        r.mac_version = "2.0".into();
        assert_eq!(
            code(decide(Some(&device), &r)),
            ResultCode::MalformedMessage
        );
        let mut r = good.clone();
        r.rx_delay = 16;
        assert_eq!(
            code(decide(Some(&device), &r)),
            ResultCode::MalformedMessage
        );
        let mut r = good.clone();
        r.phy_payload = HexBytes(vec![0x40, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            code(decide(Some(&device), &r)),
            ResultCode::MalformedMessage
        );
        let mut r = good.clone();
        r.phy_payload.0.pop();
        assert_eq!(code(decide(Some(&device), &r)), ResultCode::FrameSizeError);
        let mut r = good.clone();
        r.phy_payload = HexBytes(Vec::new());
        assert_eq!(code(decide(Some(&device), &r)), ResultCode::FrameSizeError);
        let mut r = good.clone();
        r.dev_eui = Eui64::from_u64(99);
        assert_eq!(
            code(decide(Some(&device), &r)),
            ResultCode::MalformedMessage
        );

        assert_eq!(code(decide(None, &good)), ResultCode::UnknownDevEUI);
        let mut other = device.clone();
        other.dev_eui = Eui64::from_u64(5);
        assert_eq!(code(decide(Some(&other), &good)), ResultCode::UnknownDevEUI);

        let mut unclaimed = device.clone();
        unclaimed.home = None;
        assert_eq!(
            code(decide(Some(&unclaimed), &good)),
            ResultCode::ActivationDisallowed
        );
        let mut r = good.clone();
        r.header.sender_id = "000014".into();
        assert_eq!(
            code(decide(Some(&device), &r)),
            ResultCode::ActivationDisallowed
        );
        let mut with_nsid = device.clone();
        if let Some(home) = with_nsid.home.as_mut() {
            home.nsid = Some("0000000000000001".parse().unwrap());
        }
        let mut r = good.clone();
        r.header.sender_nsid = Some("0x0000000000000002".into());
        assert_eq!(
            code(decide(Some(&with_nsid), &r)),
            ResultCode::ActivationDisallowed
        );
        r.header.sender_nsid = Some("0X0000000000000001".into());
        assert!(
            decide(Some(&with_nsid), &r).is_ok(),
            "same NSID, other spelling"
        );

        let mut moved = device.clone();
        moved.join_eui = Eui64::from_u64(0x77);
        assert_eq!(code(decide(Some(&moved), &good)), ResultCode::JoinReqFailed);
        let mut r = good.clone();
        r.mac_version = "1.1".into();
        r.dl_settings = HexBytes(vec![0x80]);
        assert_eq!(code(decide(Some(&device), &r)), ResultCode::JoinReqFailed);
        let mut r = good.clone();
        r.dl_settings = HexBytes(vec![0x80]);
        assert_eq!(code(decide(Some(&device), &r)), ResultCode::JoinReqFailed);

        let mut rekeyed = device.clone();
        rekeyed.app_key = AesKey::new([0x55; 16]);
        assert_eq!(code(decide(Some(&rekeyed), &good)), ResultCode::MICFailed);

        let mut used = device.clone();
        used.nonces.dev_nonce_last = Some(1);
        let error = decide(Some(&used), &good).expect_err("replay");
        assert_eq!(
            error.result_code(&ProtocolVersion::V1_1),
            ResultCode::JoinReqFailed
        );
        assert!(error.to_string().contains("DevNonce 1 already used"));

        let mut exhausted = device.clone();
        exhausted.nonces.join_nonce_last = Some(JoinNonce::MAX);
        assert_eq!(
            code(decide(Some(&exhausted), &good)),
            ResultCode::JoinReqFailed
        );

        let strict = JoinPolicy {
            clear_keys: ClearKeys::Refused,
            session_lifetime: None,
        };
        let refused = decide_join(Some(&device), &good, &KekTable::new(), &strict);
        assert_eq!(code(refused), ResultCode::JoinReqFailed);

        let mut keyless = device_1_1();
        keyless.nwk_key = None;
        let r = join_req(
            &device_1_1(),
            1,
            DlSettings::new(0, 0).with_opt_neg(),
            "1.1",
        );
        assert_eq!(code(decide(Some(&keyless), &r)), ResultCode::Other);
    }

    #[test]
    fn refusals_leave_the_nonces_alone_and_replays_are_refused() {
        for version in [MacVersion::V1_0_2, MacVersion::V1_0_4] {
            let mut device = device_1_0(version);
            let first = join_req(&device, 100, DlSettings::new(0, 0), "1.0.2");
            let decision = decide_join(Some(&device), &first, &keks(), &JoinPolicy::default())
                .expect("accepted");
            device.nonces = decision.new_nonces;
            let replay = decide_join(Some(&device), &first, &keks(), &JoinPolicy::default());
            assert_eq!(code(replay), ResultCode::JoinReqFailed, "{version}");
            let lower = join_req(&device, 50, DlSettings::new(0, 0), "1.0.2");
            let result = decide_join(Some(&device), &lower, &keks(), &JoinPolicy::default());
            // Random DevNonces (≤ 1.0.3) may go down; counters (1.0.4) may not.
            assert_eq!(result.is_ok(), version == MacVersion::V1_0_2, "{version}");
        }
    }

    #[test]
    fn join_nonces_increase_across_decisions() {
        let mut device = device_1_1();
        let mut last = 0;
        for dev_nonce in [1u16, 2, 10, 11] {
            let r = join_req(
                &device,
                dev_nonce,
                DlSettings::new(0, 0).with_opt_neg(),
                "1.1",
            );
            let decision =
                decide_join(Some(&device), &r, &keks(), &JoinPolicy::default()).expect("accepted");
            let sent = decision.session.join_nonce.get();
            assert!(sent > last);
            last = sent;
            device.nonces = decision.new_nonces;
        }
        assert_eq!(last, 4);
    }

    proptest! {
        /// Whatever join-requests arrive (replays, lower DevNonces, forged MICs, any version),
        /// no two accepted answers carry the same JoinNonce, and JoinNonces only go up.
        #[test]
        fn accepted_join_nonces_never_repeat(
            version in prop::sample::select(vec![MacVersion::V1_0_2, MacVersion::V1_0_4]),
            frames in prop::collection::vec((0u16..32, any::<bool>()), 1..40),
        ) {
            let mut device = device_1_0(version);
            let mut sent = Vec::new();
            for (dev_nonce, forged) in frames {
                let mut r = join_req(&device, dev_nonce, DlSettings::new(0, 0), "1.0.2");
                if forged {
                    if let Some(byte) = r.phy_payload.0.last_mut() {
                        *byte ^= 1;
                    }
                }
                if let Ok(decision) =
                    decide_join(Some(&device), &r, &keks(), &JoinPolicy::default())
                {
                    prop_assert!(!forged);
                    let phy = decision.answer.phy_payload.clone().unwrap_or_default();
                    let accept = EncryptedJoinAccept::parse(phy.as_bytes())
                        .map(|ja| ja.decrypt(&CipherKey::new(&device.app_key)));
                    prop_assert!(accept.is_ok());
                    let join_nonce = accept.map(|ja| ja.join_nonce().get()).unwrap_or(0);
                    prop_assert_eq!(join_nonce, decision.session.join_nonce.get());
                    prop_assert!(sent.last().is_none_or(|last| *last < join_nonce));
                    sent.push(join_nonce);
                    device.nonces = decision.new_nonces;
                }
            }
        }
    }
}
