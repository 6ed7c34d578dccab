//! AppSKeyReq → AppSKeyAns: the application server fetches the AppSKey the JS withheld from the
//! network server (TS002 §6.4 / §7: the AS quotes the DevEUI and the SessionKeyID it got from
//! the NS).
//!
//! Decisions:
//!
//! - Only the application server named in the device's [`AppSKeyDelivery::ToApplicationServer`]
//!   may fetch (SenderID = its AS-ID, ASCII case ignored); anyone else, and any AS for a device
//!   whose AppSKey goes to the NS, gets UnknownSender. This check comes before the session
//!   lookup, so a stranger cannot probe SessionKeyIDs.
//! - An unknown device or SessionKeyID is UnknownDevEUI (TS002 has no code for an unknown
//!   session; TTS answers UnknownDevEUI too).
//! - The key is wrapped with the KEK agreed with that AS (TS002 §6.3: the JS "is in charge of
//!   delivering the key" and decides), or sent in clear when there is none and
//!   [`crate::join::ClearKeys::Allowed`].

use backend::message::{AppSKeyAns, AppSKeyReq};
use backend::result::BiResult;
use backend::values::HexBytes;
use serde_json::Map;

use super::accept::{known_device, JoinPolicy};
use super::device::{AppSKeyDelivery, JoinDevice, SessionRecord};
use super::error::{JoinError, KekPeer};
use super::keks::{KekLookup, Packing};

/// Answers an AppSKeyReq about `device` (loaded by the request's DevEUI) from the device's
/// stored `sessions` (any order; the storage may keep only the latest).
pub fn decide_app_s_key(
    device: Option<&JoinDevice>,
    sessions: &[SessionRecord],
    request: &AppSKeyReq,
    keks: &impl KekLookup,
    policy: &JoinPolicy,
) -> Result<AppSKeyAns, JoinError> {
    let device = known_device(device, request.dev_eui)?;
    let sender = request.header.sender_id.as_str();
    match &device.app_s_key_delivery {
        AppSKeyDelivery::ToApplicationServer { as_id } if as_id.eq_ignore_ascii_case(sender) => {}
        _ => return Err(JoinError::NotTheDevicesApplicationServer(sender.to_owned())),
    }
    let asked = request.session_key_id.as_bytes();
    let session = sessions
        .iter()
        .find(|s| s.session_key_id.as_bytes()[..] == *asked)
        .ok_or_else(|| JoinError::UnknownSession {
            dev_eui: device.dev_eui,
            session_key_id: asked.iter().map(|b| format!("{b:02x}")).collect(),
        })?;
    let packing = Packing::for_receiver(keks.application_server(sender), policy.clear_keys)
        .ok_or_else(|| JoinError::NoKek(KekPeer::ApplicationServer(sender.to_owned())))?;
    Ok(AppSKeyAns {
        header: request.header.answer_header(),
        result: BiResult::success(),
        dev_eui: Some(device.dev_eui),
        app_s_key: Some(packing.envelope(&session.app_s_key)),
        session_key_id: Some(HexBytes(session.session_key_id.as_bytes().to_vec())),
        extra: Map::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::join::fixtures::*;
    use crate::join::keks::{ClearKeys, KekTable, NamedKek};
    use crate::join::SessionKeyId;
    use backend::header::{MessageType, ProtocolVersion};
    use backend::result::ResultCode;
    use lorawan::ids::{AesKey, DevAddr};
    use lorawan::join::{JoinNonce, MacVersion};

    const AS_ID: &str = "as.example.org";

    fn fixture() -> (JoinDevice, Vec<SessionRecord>, AppSKeyReq) {
        let mut device = device_1_0(MacVersion::V1_0_4);
        device.app_s_key_delivery = AppSKeyDelivery::ToApplicationServer {
            as_id: AS_ID.into(),
        };
        let sessions: Vec<SessionRecord> = (1..=2)
            .filter_map(JoinNonce::new)
            .map(|join_nonce| SessionRecord {
                session_key_id: SessionKeyId::derive(device.dev_eui, device.join_eui, join_nonce),
                app_s_key: AesKey::new([join_nonce.get() as u8; 16]),
                join_nonce,
                dev_addr: DevAddr::from_u32(1),
            })
            .collect();
        let mut header = header(MessageType::AppSKeyReq, &device);
        header.sender_id = "AS.example.org".into();
        header.receiver_id = device.join_eui.to_string();
        let request = AppSKeyReq {
            header,
            dev_eui: device.dev_eui,
            session_key_id: HexBytes(sessions[1].session_key_id.as_bytes().to_vec()),
            extra: Map::new(),
        };
        (device, sessions, request)
    }

    fn as_keks() -> KekTable {
        let kek = NamedKek::new("as-kek", kek()).expect("a label");
        KekTable::new().with_application_server("AS.example.org", kek)
    }

    #[test]
    fn serves_the_devices_application_server_wrapped() {
        let (device, sessions, request) = fixture();
        let ans = decide_app_s_key(
            Some(&device),
            &sessions,
            &request,
            &as_keks(),
            &JoinPolicy::default(),
        )
        .expect("served");
        assert!(ans.result.result_code.is_success());
        assert_eq!(ans.dev_eui, Some(device.dev_eui));
        assert_eq!(ans.session_key_id, Some(request.session_key_id.clone()));
        let key = ans.app_s_key.expect("AppSKey");
        assert_eq!(key.label(), Some("as-kek"));
        assert_eq!(key.unwrap(Some(&kek())), Ok(sessions[1].app_s_key));
        assert_eq!(ans.header.message_type, MessageType::AppSKeyAns);
    }

    #[test]
    fn refuses_strangers_unknown_sessions_and_clear_keys_when_told() {
        let (device, sessions, request) = fixture();
        let policy = JoinPolicy::default();
        let code = |r: Result<AppSKeyAns, JoinError>| {
            r.expect_err("refused").result_code(&ProtocolVersion::V1_1)
        };
        let keks = as_keks();

        let mut stranger = request.clone();
        stranger.header.sender_id = "other.example.org".into();
        assert_eq!(
            code(decide_app_s_key(
                Some(&device),
                &sessions,
                &stranger,
                &keks,
                &policy
            )),
            ResultCode::UnknownSender
        );
        let mut to_ns = device.clone();
        to_ns.app_s_key_delivery = AppSKeyDelivery::ToNetworkServer;
        assert_eq!(
            code(decide_app_s_key(
                Some(&to_ns),
                &sessions,
                &request,
                &keks,
                &policy
            )),
            ResultCode::UnknownSender
        );
        let mut unknown_session = request.clone();
        unknown_session.session_key_id = HexBytes(vec![1, 2, 3]);
        let error = decide_app_s_key(Some(&device), &sessions, &unknown_session, &keks, &policy)
            .expect_err("no such session");
        let ans = error.app_s_key_ans(&unknown_session.header);
        assert_eq!(ans.result.result_code, ResultCode::UnknownDevEUI);
        assert!(ans.app_s_key.is_none());
        assert_eq!(
            code(decide_app_s_key(None, &sessions, &request, &keks, &policy)),
            ResultCode::UnknownDevEUI
        );
        let strict = JoinPolicy {
            clear_keys: ClearKeys::Refused,
            session_lifetime: None,
        };
        let none = KekTable::new();
        assert_eq!(
            code(decide_app_s_key(
                Some(&device),
                &sessions,
                &request,
                &none,
                &strict
            )),
            ResultCode::Other
        );
        let clear = decide_app_s_key(Some(&device), &sessions, &request, &none, &policy)
            .expect("clear allowed");
        assert_eq!(
            clear.app_s_key.and_then(|k| k.clear_key()),
            Some(sessions[1].app_s_key)
        );
    }
}
