//! Claiming a device on its join server, the pure half: the bodies of the join server's admin
//! API (`POST {admin_url}/api/devices/{dev_eui}/claim` and `…/unclaim`, as the Switchyard jsd
//! serves them) and what its answers mean. The HTTP exchange is in `app::claim`.
//!
//! A device pre-commissioned on a join server is bound to no network until its owner claims
//! it with the owner token the manufacturer's import produced; only then does the join server
//! answer our `JoinReq`s for it (else `ActivationDisallowed`). A device created on the nsd
//! with an owner token is claimed for our home network first, and released when deleted.

use lorawan::ids::{Eui64, NetId};
use serde::Deserialize;
use serde_json::{json, Value};

/// The network a device is claimed for: our NetID, and our NSID when the NetID is shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    /// Our NetID.
    pub net_id: NetId,
    /// Our NSID (TS002 1.1).
    pub nsid: Option<String>,
}

impl Home {
    fn fields(&self) -> serde_json::Map<String, Value> {
        let mut fields = serde_json::Map::new();
        fields.insert("home_net_id".into(), self.net_id.to_string().into());
        if let Some(nsid) = &self.nsid {
            fields.insert("home_nsid".into(), nsid.clone().into());
        }
        fields
    }
}

/// The path of the claim of `dev_eui`, under the admin URL.
pub fn claim_path(dev_eui: Eui64) -> String {
    format!("/api/devices/{dev_eui}/claim")
}

/// The path of the unclaim of `dev_eui`, under the admin URL.
pub fn unclaim_path(dev_eui: Eui64) -> String {
    format!("/api/devices/{dev_eui}/unclaim")
}

/// The claim body: `{"owner_token", "home_net_id", "home_nsid"?}`.
pub fn claim_body(owner_token: &str, home: &Home) -> Vec<u8> {
    let mut fields = home.fields();
    fields.insert("owner_token".into(), owner_token.into());
    Value::Object(fields).to_string().into_bytes()
}

/// The unclaim body: the home we release the device as, `{"home_net_id", "home_nsid"?}`.
pub fn unclaim_body(home: &Home) -> Vec<u8> {
    Value::Object(home.fields()).to_string().into_bytes()
}

/// A claim the join server granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// The device is now ours.
    Claimed,
    /// It was ours already; nothing changed.
    AlreadyYours,
}

/// What an unclaim did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Released {
    /// The device was ours and is released: its owner may claim it elsewhere.
    Released,
    /// Nothing of ours to release (the join server's code: `not_claimed`, the device is
    /// generic or already released; `not_pre_commissioned`, unknown to it or held by
    /// another network, which it does not show us; `not_home_network`).
    NothingToRelease(String),
}

/// Why a claim or an unclaim failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// The join server refused: its HTTP status, its `error` code (`invalid_token`,
    /// `already_claimed`, `not_pre_commissioned`, `rate_limited`, …) and its `message`.
    #[error("{message}")]
    Refused {
        /// The join server's HTTP status.
        status: u16,
        /// Its error code.
        code: String,
        /// Its message, as it wrote it.
        message: String,
    },
    /// The join server could not be reached, failed (5xx), refused our admin token, or
    /// answered something that is not its API's.
    #[error("join server unavailable: {0}")]
    Unavailable(String),
}

/// The error body of the admin API: `{"error": "<code>", "message": "…", …}`.
#[derive(Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    message: String,
}

/// The claim answer's `outcome`.
#[derive(Deserialize)]
struct ClaimAnswer {
    outcome: String,
}

/// Reads the join server's answer to a claim.
pub fn read_claim_answer(status: u16, body: &[u8]) -> Result<Claimed, ClaimError> {
    if status == 200 {
        let answer: ClaimAnswer = serde_json::from_slice(body)
            .map_err(|e| ClaimError::Unavailable(format!("unreadable claim answer: {e}")))?;
        return match answer.outcome.as_str() {
            "claimed" => Ok(Claimed::Claimed),
            "already_yours" => Ok(Claimed::AlreadyYours),
            other => Err(ClaimError::Unavailable(format!(
                "unknown claim outcome {other:?}"
            ))),
        };
    }
    Err(refusal(status, body))
}

/// Reads the join server's answer to an unclaim.
pub fn read_unclaim_answer(status: u16, body: &[u8]) -> Result<Released, ClaimError> {
    if status == 200 {
        return Ok(Released::Released);
    }
    match refusal(status, body) {
        ClaimError::Refused { code, .. }
            if matches!(
                code.as_str(),
                "not_claimed" | "not_pre_commissioned" | "not_home_network"
            ) =>
        {
            Ok(Released::NothingToRelease(code))
        }
        other => Err(other),
    }
}

/// A non-200 answer: a refusal with the join server's code when it is a 4xx in the API's
/// error shape, else the join server is unavailable to us. A 401 means our admin token is
/// wrong, which is our configuration's fault, not the device owner's.
fn refusal(status: u16, body: &[u8]) -> ClaimError {
    let parsed = serde_json::from_slice::<ErrorBody>(body).ok();
    match parsed {
        Some(e) if (400..500).contains(&status) && status != 401 => ClaimError::Refused {
            status,
            code: e.error,
            message: e.message,
        },
        Some(e) => ClaimError::Unavailable(format!("HTTP {status} {}: {}", e.error, e.message)),
        None => ClaimError::Unavailable(format!(
            "HTTP {status}, not an admin API answer: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )),
    }
}

/// The JSON the nsd's own admin API shows for a claim error: the join server's code and
/// message, unchanged.
pub fn error_json(error: &ClaimError) -> Value {
    match error {
        ClaimError::Refused { code, message, .. } => json!({"error": code, "message": message}),
        ClaimError::Unavailable(_) => {
            json!({"error": "join_server_unavailable", "message": error.to_string()})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home(nsid: Option<&str>) -> Home {
        Home {
            net_id: NetId::from_u32(0x13).expect("24 bits"),
            nsid: nsid.map(str::to_owned),
        }
    }

    #[test]
    fn bodies_name_our_home_and_the_token() {
        let body: Value =
            serde_json::from_slice(&claim_body("00112233445566778899aabbccddeeff", &home(None)))
                .expect("JSON");
        assert_eq!(
            body,
            json!({"owner_token": "00112233445566778899aabbccddeeff", "home_net_id": "000013"})
        );
        let body: Value =
            serde_json::from_slice(&unclaim_body(&home(Some("70b3d57ed0000013")))).expect("JSON");
        assert_eq!(
            body,
            json!({"home_net_id": "000013", "home_nsid": "70b3d57ed0000013"})
        );
        assert_eq!(
            claim_path(Eui64::from_u64(0x0004_a30b_001c_0530)),
            "/api/devices/0004a30b001c0530/claim"
        );
    }

    #[test]
    fn claim_answers() {
        let ok = br#"{"outcome":"claimed","device":{"dev_eui":"0004a30b001c0530"}}"#;
        assert_eq!(read_claim_answer(200, ok), Ok(Claimed::Claimed));
        let again = br#"{"outcome":"already_yours","device":{}}"#;
        assert_eq!(read_claim_answer(200, again), Ok(Claimed::AlreadyYours));
        let wrong = br#"{"error":"invalid_token","message":"invalid owner token"}"#;
        assert_eq!(
            read_claim_answer(403, wrong),
            Err(ClaimError::Refused {
                status: 403,
                code: "invalid_token".into(),
                message: "invalid owner token".into()
            })
        );
        // Our own admin token refused: not the owner's fault.
        let unauthorized = br#"{"error":"unauthorized","message":"a known bearer token"}"#;
        assert!(matches!(
            read_claim_answer(401, unauthorized),
            Err(ClaimError::Unavailable(_))
        ));
        // A wrong admin_url: some web server's 404 page.
        assert!(matches!(
            read_claim_answer(404, b"<html>Not Found</html>"),
            Err(ClaimError::Unavailable(_))
        ));
        assert!(matches!(
            read_claim_answer(503, br#"{"error":"unavailable","message":"db"}"#),
            Err(ClaimError::Unavailable(_))
        ));
        assert!(matches!(
            read_claim_answer(200, br#"{"outcome":"maybe"}"#),
            Err(ClaimError::Unavailable(_))
        ));
    }

    #[test]
    fn unclaim_answers() {
        assert_eq!(read_unclaim_answer(200, b"{}"), Ok(Released::Released));
        let generic = br#"{"error":"not_claimed","message":"device is not claimed"}"#;
        assert_eq!(
            read_unclaim_answer(409, generic),
            Ok(Released::NothingToRelease("not_claimed".into()))
        );
        let limited = br#"{"error":"rate_limited","message":"slow down","retry_after_s":3}"#;
        assert_eq!(
            read_unclaim_answer(429, limited),
            Err(ClaimError::Refused {
                status: 429,
                code: "rate_limited".into(),
                message: "slow down".into()
            })
        );
        assert!(matches!(
            read_unclaim_answer(502, b""),
            Err(ClaimError::Unavailable(_))
        ));
    }

    #[test]
    fn errors_shown_with_the_join_servers_code() {
        let refused = ClaimError::Refused {
            status: 409,
            code: "already_claimed".into(),
            message: "device already claimed by another network".into(),
        };
        assert_eq!(
            error_json(&refused),
            json!({"error": "already_claimed", "message": "device already claimed by another network"})
        );
        assert_eq!(
            error_json(&ClaimError::Unavailable("timeout".into()))["error"],
            "join_server_unavailable"
        );
    }
}
