//! Shared helpers for the integration tests: the vectors folder and hex / JSON accessors.
#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;

use lorawan::ids::{parse_hex_vec, AesKey, DevAddr, Eui64, NetId};
use serde_json::Value;

/// `$SWITCHYARD_SHARED/vectors`, else `shared/vectors` beside the repository.
pub fn vectors_dir() -> PathBuf {
    let shared = std::env::var_os("SWITCHYARD_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    let dir = shared.join("vectors");
    assert!(
        dir.is_dir(),
        "test vectors not found at {} — check out shared/ beside the repository or set \
         SWITCHYARD_SHARED to its path",
        dir.display()
    );
    dir
}

/// Parses `vectors/<name>`.
pub fn load(name: &str) -> Value {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The `vectors` array of a vector file.
pub fn vectors(file: &Value) -> &Vec<Value> {
    file["vectors"].as_array().expect("a `vectors` array")
}

/// `v[field]` as a string, panicking with the vector id when absent.
pub fn s<'v>(v: &'v Value, field: &str) -> &'v str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("field {field:?} missing or not a string in {v}"))
}

/// `v[field]` as bytes from hex.
pub fn hex(v: &Value, field: &str) -> Vec<u8> {
    parse_hex_vec(s(v, field)).unwrap_or_else(|e| panic!("{field}: {e}"))
}

/// `v[field]` as an integer.
pub fn int(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("field {field:?} missing or not an integer in {v}"))
}

/// `v[field]` as an AES key.
pub fn key(v: &Value, field: &str) -> AesKey {
    s(v, field)
        .parse()
        .unwrap_or_else(|e| panic!("{field}: {e}"))
}

/// `v[field]` as a DevAddr (display order).
pub fn dev_addr(v: &Value, field: &str) -> DevAddr {
    s(v, field)
        .parse()
        .unwrap_or_else(|e| panic!("{field}: {e}"))
}

/// `v[field]` as an EUI-64 (display order).
pub fn eui(v: &Value, field: &str) -> Eui64 {
    s(v, field)
        .parse()
        .unwrap_or_else(|e| panic!("{field}: {e}"))
}

/// `v[field]` as a NetID (display order).
pub fn net_id(v: &Value, field: &str) -> NetId {
    s(v, field)
        .parse()
        .unwrap_or_else(|e| panic!("{field}: {e}"))
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
