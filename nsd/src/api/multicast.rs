//! `/api/multicast-groups/…`: multicast groups (provisioning, and a frame sent now). Part of
//! the admin API ([`super::admin`] owns the route list, the authentication and the error
//! mapping); kept apart to keep that file short. Group keys go in and never come out.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use lorawan::ids::{AesKey, DevAddr};
use lorawan::region::Region;
use serde::Deserialize;
use serde_json::{json, Value};
use service::rest::{parse_field, JsonBody, NoQuery};

use super::admin::{bad, AdminState, ApiError, Operator};
use crate::app::multicast::MulticastReport;
use crate::device::multicast::{McGroup, MulticastKeys};
use crate::downlink::multicast::MulticastClass;
use crate::storage::class_letter;

/// A group as the API writes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GroupBody {
    dev_addr: String,
    mc_nwk_s_key: String,
    mc_app_s_key: String,
    #[serde(default)]
    f_cnt: u32,
    #[serde(default = "class_c")]
    class: String,
    region: String,
    #[serde(default)]
    frequency_hz: Option<u32>,
    #[serde(default)]
    data_rate: Option<u8>,
    gateway_tags: Vec<String>,
}

fn class_c() -> String {
    "C".into()
}

// Keys never reach logs, even in a debug print of a request.
impl std::fmt::Debug for GroupBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupBody")
            .field("dev_addr", &self.dev_addr)
            .finish_non_exhaustive()
    }
}

/// A frame to send to a group.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SendBody {
    f_port: u8,
    payload_hex: String,
}

fn group_json(g: &McGroup) -> Value {
    json!({
        "id": g.id, "dev_addr": g.dev_addr.to_string(), "f_cnt": g.f_cnt,
        "class": class_letter(g.class), "region": g.region.name(),
        "frequency_hz": g.frequency_hz, "data_rate": g.data_rate,
        "gateway_tags": g.gateway_tags,
    })
}

fn report_json(report: &MulticastReport) -> Value {
    let gateways: Vec<Value> = report
        .gateways
        .iter()
        .map(|g| {
            json!({
                "gateway_id": g.gateway.to_string(),
                "attempts": g.attempts,
                "sent": g.result.is_ok(),
                "cause": g.result.err().map(|c| c.code()),
            })
        })
        .collect();
    json!({ "f_cnt": report.f_cnt, "gateways": gateways })
}

fn aes_key(field: &str, text: &str) -> Result<AesKey, ApiError> {
    text.trim()
        .parse()
        .map_err(|_| bad(field, "a 128-bit key (32 hex digits)"))
}

pub(super) async fn list_groups(
    State(state): State<AdminState>,
    _: Operator,
    _: NoQuery,
) -> Result<Json<Value>, ApiError> {
    let groups = state.server().multicast_groups().await?;
    let groups: Vec<Value> = groups.iter().map(group_json).collect();
    Ok(Json(json!({ "multicast_groups": groups })))
}

pub(super) async fn show_group(
    State(state): State<AdminState>,
    _: Operator,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let group = state.server().multicast_group(&id).await?;
    Ok(Json(group_json(&group)))
}

pub(super) async fn put_group(
    State(state): State<AdminState>,
    _: Operator,
    _: NoQuery,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<GroupBody>,
) -> Result<Json<Value>, ApiError> {
    let dev_addr: DevAddr = parse_field("dev_addr", &body.dev_addr, "a DevAddr (8 hex digits)")?;
    let region: Region = parse_field("region", &body.region, "a region (EU868, US915, …)")?;
    let class = match body.class.trim() {
        "B" | "b" => MulticastClass::B,
        "C" | "c" => MulticastClass::C,
        _ => return Err(bad("class", "B or C")),
    };
    let rx2 = region.params().rx2_default();
    let group = McGroup {
        id,
        dev_addr,
        keys: MulticastKeys {
            mc_nwk_s_key: aes_key("mc_nwk_s_key", &body.mc_nwk_s_key)?,
            mc_app_s_key: aes_key("mc_app_s_key", &body.mc_app_s_key)?,
        },
        f_cnt: body.f_cnt,
        class,
        region,
        frequency_hz: body.frequency_hz.unwrap_or(rx2.frequency),
        data_rate: body.data_rate.unwrap_or(rx2.data_rate),
        gateway_tags: body.gateway_tags,
    };
    let shown = group_json(&group);
    state.server().put_multicast_group(group).await?;
    Ok(Json(shown))
}

pub(super) async fn delete_group(
    State(state): State<AdminState>,
    _: Operator,
    _: NoQuery,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.server().delete_multicast_group(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn send(
    State(state): State<AdminState>,
    _: Operator,
    _: NoQuery,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<SendBody>,
) -> Result<Json<Value>, ApiError> {
    let payload = hex::decode(body.payload_hex.trim())
        .map_err(|e| bad("payload_hex", format!("not hex: {e}")))?;
    let report = state
        .server()
        .send_multicast(&id, body.f_port, &payload)
        .await?;
    Ok(Json(report_json(&report)))
}
