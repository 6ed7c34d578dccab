//! What every Backend Interfaces answer must look like, checked from the wire up (TS002 1.1
//! §12 / 1.0 §11: common header; §13 Result).

use serde_json::Value;

/// Every ResultCode of TS002 1.1, plus 1.0's MalformedRequest and the spec's own
/// misspelling `UnkownReceiver` that deployed peers emit.
pub const RESULT_CODES: &[&str] = &[
    "Success",
    "MICFailed",
    "JoinReqFailed",
    "NoRoamingAgreement",
    "DevRoamingDisallowed",
    "RoamingActDisallowed",
    "ActivationDisallowed",
    "UnknownDevEUI",
    "UnknownDevAddr",
    "UnknownSender",
    "UnknownReceiver",
    "UnkownReceiver",
    "Deferred",
    "XmitFailed",
    "InvalidFPort",
    "InvalidProtocolVersion",
    "StaleDeviceProfile",
    "MalformedRequest",
    "MalformedMessage",
    "FrameSizeError",
    "NoAction",
    "FrameReplayed",
    "Other",
];

/// Checks that `answer` is a well-formed answer to `request` and returns its ResultCode.
///
/// Required: a JSON object; ProtocolVersion; MessageType = the request's type with `Req`
/// replaced by `Ans`; SenderID = the request's ReceiverID and ReceiverID = its SenderID
/// (compared case-insensitively, ignoring `0x`); the request's TransactionID; a Result with a
/// known ResultCode.
pub fn check_answer(request: &Value, answer: &Value) -> Result<String, String> {
    let answer = answer.as_object().ok_or("answer is not a JSON object")?;
    let field = |name: &str| answer.get(name).filter(|v| !v.is_null());
    field("ProtocolVersion")
        .and_then(Value::as_str)
        .ok_or("answer has no ProtocolVersion")?;
    if let Some(request_type) = request.get("MessageType").and_then(Value::as_str) {
        let expected = request_type
            .strip_suffix("Req")
            .map(|base| format!("{base}Ans"));
        let got = field("MessageType")
            .and_then(Value::as_str)
            .ok_or("answer has no MessageType")?;
        if let Some(expected) = expected {
            if got != expected {
                return Err(format!("MessageType {got:?}, expected {expected:?}"));
            }
        }
    }
    for (ours, theirs) in [("SenderID", "ReceiverID"), ("ReceiverID", "SenderID")] {
        if let (Some(a), Some(r)) = (
            field(ours).and_then(Value::as_str),
            request.get(theirs).and_then(Value::as_str),
        ) {
            if normalise_id(a) != normalise_id(r) {
                return Err(format!("{ours} {a:?} is not the request's {theirs} {r:?}"));
            }
        }
    }
    if let Some(tid) = request.get("TransactionID").filter(|v| !v.is_null()) {
        if field("TransactionID") != Some(tid) {
            return Err(format!(
                "TransactionID {:?}, expected {tid}",
                field("TransactionID")
            ));
        }
    }
    let code = field("Result")
        .and_then(|r| r.get("ResultCode"))
        .and_then(Value::as_str)
        .ok_or("answer has no Result.ResultCode")?;
    if !RESULT_CODES.contains(&code) {
        return Err(format!("unknown ResultCode {code:?}"));
    }
    Ok(code.to_owned())
}

fn normalise_id(id: &str) -> String {
    let id = id.trim();
    id.strip_prefix("0x")
        .or_else(|| id.strip_prefix("0X"))
        .unwrap_or(id)
        .to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request() -> Value {
        json!({"ProtocolVersion": "1.1", "SenderID": "000001", "ReceiverID": "0x70B3D57ED0000000",
               "TransactionID": 7, "MessageType": "JoinReq"})
    }

    #[test]
    fn a_swapped_and_matching_answer_passes() {
        let answer = json!({"ProtocolVersion": "1.1", "SenderID": "70b3d57ed0000000", "ReceiverID": "000001",
                            "TransactionID": 7, "MessageType": "JoinAns",
                            "Result": {"ResultCode": "UnknownDevEUI"}});
        assert_eq!(
            check_answer(&request(), &answer),
            Ok("UnknownDevEUI".into())
        );
    }

    #[test]
    fn each_defect_is_named() {
        let good = json!({"ProtocolVersion": "1.1", "SenderID": "70b3d57ed0000000", "ReceiverID": "000001",
                          "TransactionID": 7, "MessageType": "JoinAns", "Result": {"ResultCode": "Success"}});
        let cases = [
            ("MessageType", json!("HomeNSAns"), "MessageType"),
            ("TransactionID", json!(8), "TransactionID"),
            ("SenderID", json!("000001"), "SenderID"),
            (
                "Result",
                json!({"ResultCode": "Fine"}),
                "unknown ResultCode",
            ),
            ("Result", json!(null), "Result"),
        ];
        for (field, value, expected) in cases {
            let mut answer = good.clone();
            answer[field] = value;
            let err = check_answer(&request(), &answer).unwrap_err();
            assert!(err.contains(expected), "{field}: {err}");
        }
        assert!(check_answer(&request(), &json!([1])).is_err());
    }
}
