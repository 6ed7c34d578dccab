//! RejoinReq → RejoinAns (LoRaWAN 1.1 rejoin-requests, TS002 §6.3 / TS001-1.1 §6.2.4).
//!
//! Decisions:
//!
//! - The home NS sends the JS a RejoinReq for all three types: the JS alone holds NwkKey, so it
//!   alone can build the join-accept (MIC with JSIntKey, encrypted with JSEncKey, TS001-1.1
//!   §6.2.3) and derive the new session keys.
//! - Type 1 is signed with JSIntKey, which only the JS holds: the JS verifies it (MICFailed)
//!   and keeps RJcount1 (TS001-1.1 §6.2.4.4: the Join Server "ignores Rejoin-requests if
//!   (RJcount1 <= RJcount1_last)"), its JoinEUI must be the device's.
//! - Types 0 and 2 are signed with SNwkSIntKey, a session key the NS holds and the JS does not
//!   keep: the NS verifies that MIC and RJcount0 before asking (TS001-1.1 §6.2.4.3); the JS
//!   relies on that and on the requester being the home network, and checks that the frame's
//!   NetID is the home NetID (the one the device got in its last join-accept).
//! - RJcount0 / RJcount1 take DevNonce's place in the 1.1 MIC and key derivation (LoRaMac-node
//!   `LoRaMacCryptoHandleJoinAccept`; shared/vectors/devnonce_joinnonce_rules.json).
//! - Every rejoin answer takes the device's next JoinNonce: one counter for joins and rejoins.
//! - Only a 1.1 device on a 1.1 network rejoins (OptNeg set, MACVersion 1.1); anything else is
//!   JoinReqFailed.

use backend::message::{RejoinAns, RejoinReq};
use backend::result::BiResult;
use backend::values::HexBytes;
use lorawan::crypto::MicKey;
use lorawan::join::MacVersion;
use lorawan::keys::js_int_key;
use lorawan::phy::{RejoinRequest, RejoinType};
use serde_json::Map;

use super::accept::{
    claimed_device, grant, phy_error, procedure, sender_net_id, AcceptInput, AcceptParams, Grant,
    JoinPolicy, Procedure,
};
use super::device::JoinDevice;
use super::error::JoinError;
use super::join_req::Activation;
use super::keks::KekLookup;

/// An accepted RejoinReq.
pub type RejoinDecision = Activation<RejoinAns>;

/// Decides a RejoinReq for `device`, the device the caller loaded by the RejoinReq's DevEUI.
///
/// The durability contract of [`crate::join::decide_join`] applies: persist
/// [`Activation::new_nonces`] (JoinNonce, and RJcount1 for type 1) before answering.
pub fn decide_rejoin(
    device: Option<&JoinDevice>,
    request: &RejoinReq,
    keks: &impl KekLookup,
    policy: &JoinPolicy,
) -> Result<RejoinDecision, JoinError> {
    let sender = sender_net_id(&request.header)?;
    let params = AcceptParams::parse(
        &request.mac_version,
        request.dev_addr,
        &request.dl_settings,
        request.rx_delay,
        request.cf_list.as_ref(),
    )?;
    let frame = RejoinRequest::parse(request.phy_payload.as_bytes()).map_err(phy_error)?;
    let (device, home) = claimed_device(
        device,
        &request.header,
        sender,
        request.dev_eui,
        frame.dev_eui(),
    )?;
    let nwk_key = match procedure(device, &params)? {
        Procedure::V1_1 { nwk_key } => nwk_key,
        // A 1.1 device on a 1.0 network: 1.0 has no rejoin.
        Procedure::V1_0 { .. } => {
            return Err(JoinError::MacVersionMismatch {
                requested: params.mac_version,
                device: MacVersion::V1_1,
            })
        }
    };

    let rj_count = frame.rj_count();
    let mut new_nonces = device.nonces.clone();
    match (frame.rejoin_type(), frame.join_eui(), frame.net_id()) {
        (RejoinType::Type1, Some(join_eui), _) => {
            if join_eui != device.join_eui {
                return Err(JoinError::JoinEuiMismatch {
                    dev_eui: device.dev_eui,
                    received: join_eui,
                });
            }
            let js_int = MicKey::new(&js_int_key(nwk_key, device.dev_eui));
            frame
                .verify_mic(&js_int)
                .map_err(|_| JoinError::MicFailed("rejoin-request type 1"))?;
            if let Some(last) = device.nonces.rj_count1_last {
                if rj_count <= last {
                    return Err(JoinError::RjCount1Reused {
                        last,
                        received: rj_count,
                    });
                }
            }
            new_nonces.rj_count1_last = Some(rj_count);
        }
        (_, _, Some(net_id)) if net_id != home.net_id => {
            return Err(JoinError::RejoinNetIdMismatch {
                received: net_id,
                home: home.net_id,
            });
        }
        // Types 0 / 2: MIC and RJcount0 checked by the NS (SNwkSIntKey).
        _ => {}
    }

    let join_nonce = device
        .nonces
        .next_join_nonce()
        .map_err(|_| JoinError::JoinNonceExhausted(device.dev_eui))?;
    let grant = grant(
        &AcceptInput {
            device,
            params: &params,
            procedure: Procedure::V1_1 { nwk_key },
            home_net_id: home.net_id,
            join_nonce,
            join_req_type: frame.rejoin_type().join_req_type(),
            nonce: rj_count,
        },
        sender,
        keks,
        policy,
    )?;
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
    let answer = RejoinAns {
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
        new_nonces: new_nonces.with_join_nonce(join_nonce),
        session,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::join::fixtures::*;
    use backend::header::{MessageType, ProtocolVersion};
    use backend::result::ResultCode;
    use lorawan::crypto::CipherKey;
    use lorawan::ids::{AesKey, DevAddr, Eui64, NetId};
    use lorawan::join::{build_rejoin_request, JoinNonce, RejoinIdent};
    use lorawan::keys::{derive_1_1, js_enc_key};
    use lorawan::phy::{DlSettings, EncryptedJoinAccept};

    fn rejoin_req(device: &JoinDevice, ident: RejoinIdent, rj_count: u16) -> RejoinReq {
        // Types 0/2 are signed with SNwkSIntKey, which the JS does not check: any key will do.
        let key = match ident {
            RejoinIdent::JoinEui(_) => {
                js_int_key(device.nwk_key.as_ref().expect("NwkKey"), device.dev_eui)
            }
            RejoinIdent::NetId(..) => AesKey::new([0x99; 16]),
        };
        let phy = build_rejoin_request(&MicKey::new(&key), ident, device.dev_eui, rj_count);
        RejoinReq {
            header: header(MessageType::RejoinReq, device),
            mac_version: "1.1".into(),
            phy_payload: HexBytes(phy),
            dev_eui: device.dev_eui,
            dev_addr: DevAddr::from_u32(0x2601_1bdb),
            dl_settings: HexBytes(vec![DlSettings::new(1, 3).with_opt_neg().byte()]),
            rx_delay: 1,
            cf_list: None,
            extra: Map::new(),
        }
    }

    fn code(result: Result<RejoinDecision, JoinError>) -> ResultCode {
        result
            .expect_err("a refusal")
            .result_code(&ProtocolVersion::V1_1)
    }

    #[test]
    fn answers_every_rejoin_type_with_a_js_enc_key_accept() {
        let device = device_1_1();
        let nwk_key = device.nwk_key.expect("NwkKey");
        for (ident, rj_count) in [
            (RejoinIdent::NetId(RejoinType::Type0, HOME), 3),
            (RejoinIdent::JoinEui(device.join_eui), 4),
            (RejoinIdent::NetId(RejoinType::Type2, HOME), 5),
        ] {
            let request = rejoin_req(&device, ident, rj_count);
            let decision = decide_rejoin(Some(&device), &request, &keks(), &JoinPolicy::default())
                .expect("accepted");
            let phy = decision.answer.phy_payload.clone().expect("PHYPayload");
            let accept = EncryptedJoinAccept::parse(phy.as_bytes())
                .expect("a join-accept")
                .decrypt(&CipherKey::new(&js_enc_key(&nwk_key, device.dev_eui)));
            let frame = RejoinRequest::parse(request.phy_payload.as_bytes()).expect("a rejoin");
            let js_int = MicKey::new(&js_int_key(&nwk_key, device.dev_eui));
            let join_req_type = frame.rejoin_type().join_req_type();
            accept
                .verify_mic_1_1(&js_int, join_req_type, device.join_eui, rj_count)
                .expect("1.1 MIC with RJcount");
            let keys = derive_1_1(
                &nwk_key,
                &device.app_key,
                accept.join_nonce(),
                device.join_eui,
                rj_count,
            );
            let s = decision.answer.s_nwk_s_int_key.expect("SNwkSIntKey");
            assert_eq!(s.unwrap(Some(&kek())), Ok(keys.s_nwk_s_int_key));
            assert_eq!(
                decision.new_nonces.join_nonce_last.map(JoinNonce::get),
                Some(1)
            );
            let expected_rj1 = (frame.rejoin_type() == RejoinType::Type1).then_some(rj_count);
            assert_eq!(decision.new_nonces.rj_count1_last, expected_rj1);
        }
    }

    #[test]
    fn refuses_what_it_must() {
        let device = device_1_1();
        let policy = JoinPolicy::default();
        let type1 = rejoin_req(&device, RejoinIdent::JoinEui(device.join_eui), 10);
        let decide = |d: &JoinDevice, r: &RejoinReq| decide_rejoin(Some(d), r, &keks(), &policy);

        let mut replayed = device.clone();
        replayed.nonces.rj_count1_last = Some(10);
        assert_eq!(code(decide(&replayed, &type1)), ResultCode::JoinReqFailed);

        let mut rekeyed = device.clone();
        rekeyed.nwk_key = Some(AesKey::new([0x11; 16]));
        assert_eq!(code(decide(&rekeyed, &type1)), ResultCode::MICFailed);

        let other_eui = rejoin_req(&device, RejoinIdent::JoinEui(Eui64::from_u64(1)), 10);
        assert_eq!(code(decide(&device, &other_eui)), ResultCode::JoinReqFailed);

        let elsewhere = NetId::from_u32(0x14).expect("24 bits");
        let type0 = rejoin_req(&device, RejoinIdent::NetId(RejoinType::Type0, elsewhere), 1);
        assert_eq!(code(decide(&device, &type0)), ResultCode::JoinReqFailed);

        let mut on_1_0 = type1.clone();
        on_1_0.mac_version = "1.0.4".into();
        on_1_0.dl_settings = HexBytes(vec![0]);
        assert_eq!(code(decide(&device, &on_1_0)), ResultCode::JoinReqFailed);

        let old = device_1_0(MacVersion::V1_0_4);
        let r = RejoinReq {
            dev_eui: old.dev_eui,
            ..type1.clone()
        };
        assert_eq!(code(decide(&old, &r)), ResultCode::JoinReqFailed);

        let mut not_a_rejoin = type1.clone();
        not_a_rejoin.phy_payload = HexBytes(vec![0x00; 23]);
        assert_eq!(
            code(decide(&device, &not_a_rejoin)),
            ResultCode::MalformedMessage
        );
        let mut short = type1.clone();
        short.phy_payload.0.truncate(20);
        assert_eq!(code(decide(&device, &short)), ResultCode::FrameSizeError);

        let mut foreign = type1.clone();
        foreign.header.sender_id = "000014".into();
        assert_eq!(
            code(decide(&device, &foreign)),
            ResultCode::ActivationDisallowed
        );
        let unknown = decide_rejoin(None, &type1, &keks(), &policy);
        assert_eq!(code(unknown), ResultCode::UnknownDevEUI);
        let error = decide(&rekeyed, &type1).expect_err("refused");
        assert_eq!(
            error.rejoin_ans(&type1.header).header.message_type,
            MessageType::RejoinAns
        );
    }
}
