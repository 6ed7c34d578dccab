//! HomeNSReq → HomeNSAns: a network that hears a device it does not serve asks the device's
//! JS where its home is (TS002 §12, the roaming join: fNS → HomeNSReq → PRStartReq to the home).
//!
//! Decisions:
//!
//! - Any network may ask: the answer reveals only the NetID (and NSID) the fNS needs to start
//!   roaming, and the hub decides who may roam where. The requester is not checked.
//! - A device nobody has claimed has no home to tell: UnknownDevEUI, with a Description saying it
//!   is not claimed (TS002 lists UnknownDevEUI among HomeNSAns codes, and ActivationDisallowed
//!   would wrongly suggest a home network refused the requester).
//! - HNSID is a TS002 1.1 field: sent in 1.1 answers when the home has an NSID, never in 1.0.

use backend::header::ProtocolVersion;
use backend::message::{HomeNSAns, HomeNSReq};
use backend::result::BiResult;
use serde_json::Map;

use super::accept::known_device;
use super::device::JoinDevice;
use super::error::JoinError;

/// Answers a HomeNSReq about `device`, the device the caller loaded by its DevEUI.
pub fn decide_home_ns(
    device: Option<&JoinDevice>,
    request: &HomeNSReq,
) -> Result<HomeNSAns, JoinError> {
    let device = known_device(device, request.dev_eui)?;
    let home = device
        .home
        .as_ref()
        .ok_or(JoinError::NoHome(device.dev_eui))?;
    let h_nsid = match request.header.protocol_version {
        ProtocolVersion::V1_0 => None,
        _ => home.nsid.map(|nsid| nsid.to_string()),
    };
    Ok(HomeNSAns {
        header: request.header.answer_header(),
        result: BiResult::success(),
        h_net_id: Some(home.net_id),
        h_nsid,
        extra: Map::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::join::fixtures::*;
    use backend::header::MessageType;
    use backend::result::ResultCode;
    use lorawan::join::MacVersion;

    fn home_ns_req(version: ProtocolVersion) -> HomeNSReq {
        let device = device_1_0(MacVersion::V1_0_3);
        let mut header = header(MessageType::HomeNSReq, &device);
        header.protocol_version = version;
        header.sender_id = "000014".into();
        HomeNSReq {
            header,
            dev_eui: device.dev_eui,
            extra: Map::new(),
        }
    }

    #[test]
    fn tells_any_network_the_home_of_a_claimed_device() {
        let mut device = device_1_0(MacVersion::V1_0_3);
        if let Some(home) = device.home.as_mut() {
            home.nsid = Some("0000000000000013".parse().unwrap());
        }
        let ans =
            decide_home_ns(Some(&device), &home_ns_req(ProtocolVersion::V1_1)).expect("answered");
        assert!(ans.result.result_code.is_success());
        assert_eq!(ans.h_net_id, Some(HOME));
        assert_eq!(ans.h_nsid.as_deref(), Some("0000000000000013"));
        assert_eq!(ans.header.message_type, MessageType::HomeNSAns);
        assert_eq!(ans.header.receiver_id, "000014");

        let ans =
            decide_home_ns(Some(&device), &home_ns_req(ProtocolVersion::V1_0)).expect("answered");
        assert_eq!(ans.h_nsid, None, "HNSID is a 1.1 field");
    }

    #[test]
    fn unknown_and_unclaimed_devices_are_unknown() {
        let request = home_ns_req(ProtocolVersion::V1_1);
        let error = decide_home_ns(None, &request).expect_err("unknown");
        assert_eq!(
            error.home_ns_ans(&request.header).result.result_code,
            ResultCode::UnknownDevEUI
        );
        let mut device = device_1_0(MacVersion::V1_0_3);
        device.home = None;
        let error = decide_home_ns(Some(&device), &request).expect_err("unclaimed");
        let ans = error.home_ns_ans(&request.header);
        assert_eq!(ans.result.result_code, ResultCode::UnknownDevEUI);
        assert!(ans
            .result
            .description
            .is_some_and(|d| d.contains("not claimed")));
    }
}
