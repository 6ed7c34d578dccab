//! The JSON edge of the model: how one typed value is read from and written to a JSON value.
//!
//! Every reader is lenient in the ways deployed peers differ (`null` = absent, any hex case,
//! `0x`, integers written as `5.0`) and names the offending field in its error; every writer
//! follows the [`Dialect`]. Objects are read by taking their known fields out of the JSON map,
//! so whatever is left over is exactly the unknown fields, kept for re-emission.

use std::fmt;

use lorawan::ids::{parse_hex_vec, DevAddr, Eui64, NetId};
use serde_json::{Map, Number, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::dialect::{Absent, Dialect};
use crate::error::DecodeError;
use crate::header::ProtocolVersion;

/// Where a value sits in a message, for error descriptions: `ULMetaData.GWInfo[1].RSSI`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Path<'a> {
    /// The message itself.
    Root,
    /// A field of an object.
    Key(&'a Path<'a>, &'a str),
    /// An element of an array.
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    /// The error for a value at this path.
    pub(crate) fn invalid(&self, reason: impl Into<String>) -> DecodeError {
        DecodeError::Invalid {
            path: self.to_string(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, key) => f.write_str(key),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// A value with a JSON form.
pub(crate) trait Wire: Sized {
    /// Reads a present, non-null value.
    fn from_wire(value: Value, at: &Path<'_>) -> Result<Self, DecodeError>;
    /// Writes the value in `out`'s dialect.
    fn to_wire(&self, out: &Style<'_>) -> Value;
}

/// What a writer needs to know: the peer's dialect and the version of the message written.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Style<'d> {
    pub(crate) dialect: &'d Dialect,
    pub(crate) version: &'d ProtocolVersion,
}

/// The fields of one JSON object, taken out one by one.
pub(crate) struct Fields<'a> {
    map: Map<String, Value>,
    at: &'a Path<'a>,
}

impl<'a> Fields<'a> {
    /// Reads `value` as an object.
    pub(crate) fn object(value: Value, at: &'a Path<'a>) -> Result<Self, DecodeError> {
        match value {
            Value::Object(map) => Ok(Self { map, at }),
            other => Err(at.invalid(format!("expected object, got {}", kind(&other)))),
        }
    }

    /// Wraps an already-split map.
    pub(crate) fn from_map(map: Map<String, Value>, at: &'a Path<'a>) -> Self {
        Self { map, at }
    }

    /// A mandatory field.
    pub(crate) fn req<T: Wire>(&mut self, key: &'static str) -> Result<T, DecodeError> {
        required(self.map.remove(key), self.at, key)
    }

    /// An optional field; `null` reads as absent.
    pub(crate) fn opt<T: Wire>(&mut self, key: &'static str) -> Result<Option<T>, DecodeError> {
        optional(self.map.remove(key), self.at, key)
    }

    /// Drops a field the caller has already read another way (the header).
    pub(crate) fn discard(&mut self, key: &str) {
        self.map.remove(key);
    }

    /// The fields nobody asked for (sorted by name).
    pub(crate) fn rest(self) -> Map<String, Value> {
        self.map
    }
}

/// Reads field `key` of the object at `at`, given its value if the object has it: a missing
/// or `null` field is an error naming it.
pub(crate) fn required<T: Wire>(
    value: Option<Value>,
    at: &Path<'_>,
    key: &'static str,
) -> Result<T, DecodeError> {
    match value {
        None | Some(Value::Null) => Err(Path::Key(at, key).invalid("required field missing")),
        Some(value) => T::from_wire(value, &Path::Key(at, key)),
    }
}

/// Reads optional field `key` of the object at `at`, given its value if the object has it;
/// `null` reads as absent.
pub(crate) fn optional<T: Wire>(
    value: Option<Value>,
    at: &Path<'_>,
    key: &'static str,
) -> Result<Option<T>, DecodeError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(value) => T::from_wire(value, &Path::Key(at, key)).map(Some),
    }
}

/// Builds one JSON object in field order: known fields first, then the kept unknown ones.
pub(crate) struct Out<'d> {
    map: Map<String, Value>,
    pub(crate) style: Style<'d>,
}

impl<'d> Out<'d> {
    /// An empty object written in `style`.
    pub(crate) fn new(style: Style<'d>) -> Self {
        Self {
            map: Map::new(),
            style,
        }
    }

    /// Writes a mandatory field.
    pub(crate) fn req<T: Wire>(&mut self, key: &str, value: &T) {
        let value = value.to_wire(&self.style);
        self.map.insert(key.to_owned(), value);
    }

    /// Writes an optional field: omitted, or `null` where the dialect wants that.
    pub(crate) fn opt<T: Wire>(&mut self, key: &str, value: &Option<T>) {
        match value {
            Some(value) => self.req(key, value),
            None if self.style.dialect.absent == Absent::Null => {
                self.map.insert(key.to_owned(), Value::Null);
            }
            None => {}
        }
    }

    /// Writes the unknown fields kept from the received message; known fields win.
    pub(crate) fn extra(&mut self, extra: &Map<String, Value>) {
        for (key, value) in extra {
            if !self.map.contains_key(key) {
                self.map.insert(key.clone(), value.clone());
            }
        }
    }

    /// The object.
    pub(crate) fn into_map(self) -> Map<String, Value> {
        self.map
    }
}

/// The JSON type name of a value, for error messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn string(value: Value, at: &Path<'_>) -> Result<String, DecodeError> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(at.invalid(format!("expected string, got {}", kind(&other)))),
    }
}

/// Writes `bytes` as hex in the dialect's case and prefix.
pub(crate) fn hex_text(bytes: &[u8], dialect: &Dialect) -> String {
    dialect.hex(bytes)
}

impl Wire for String {
    fn from_wire(value: Value, at: &Path<'_>) -> Result<Self, DecodeError> {
        string(value, at)
    }
    fn to_wire(&self, _: &Style<'_>) -> Value {
        Value::String(self.clone())
    }
}

impl Wire for bool {
    fn from_wire(value: Value, at: &Path<'_>) -> Result<Self, DecodeError> {
        match value {
            Value::Bool(b) => Ok(b),
            other => Err(at.invalid(format!("expected boolean, got {}", kind(&other)))),
        }
    }
    fn to_wire(&self, _: &Style<'_>) -> Value {
        Value::Bool(*self)
    }
}

impl Wire for f64 {
    fn from_wire(value: Value, at: &Path<'_>) -> Result<Self, DecodeError> {
        match &value {
            Value::Number(n) => n.as_f64().ok_or_else(|| at.invalid("number out of range")),
            other => Err(at.invalid(format!("expected number, got {}", kind(other)))),
        }
    }
    fn to_wire(&self, _: &Style<'_>) -> Value {
        Number::from_f64(*self).map_or(Value::Null, Value::Number)
    }
}

/// Reads an integer; `5.0` counts as 5 (JSON Schema's `integer` says the same).
fn integer(value: &Value, at: &Path<'_>, min: i64, max: i64) -> Result<i64, DecodeError> {
    let out_of_range = || at.invalid(format!("expected integer in {min}..={max}"));
    let Value::Number(n) = value else {
        return Err(at.invalid(format!("expected integer, got {}", kind(value))));
    };
    let int = if let Some(i) = n.as_i64() {
        i
    } else if n.as_u64().is_some() {
        return Err(out_of_range());
    } else {
        let f = n.as_f64().unwrap_or(f64::NAN);
        if f.fract() != 0.0 || !f.is_finite() || f.abs() > 9.0e15 {
            return Err(at.invalid(format!("expected integer, got {n}")));
        }
        // In range of i64 by the check above; the fraction is zero.
        f as i64
    };
    if int < min || int > max {
        return Err(out_of_range());
    }
    Ok(int)
}

macro_rules! wire_int {
    ($($t:ty),*) => {$(
        impl Wire for $t {
            fn from_wire(value: Value, at: &Path<'_>) -> Result<Self, DecodeError> {
                let int = integer(&value, at, i64::from(<$t>::MIN), i64::from(<$t>::MAX))?;
                <$t>::try_from(int).map_err(|_| at.invalid("integer out of range"))
            }
            fn to_wire(&self, _: &Style<'_>) -> Value {
                Value::from(*self)
            }
        }
    )*};
}

wire_int!(u8, u16, u32, i32);

impl Wire for i64 {
    fn from_wire(value: Value, at: &Path<'_>) -> Result<Self, DecodeError> {
        integer(&value, at, i64::MIN, i64::MAX)
    }
    fn to_wire(&self, _: &Style<'_>) -> Value {
        Value::from(*self)
    }
}

impl<T: Wire> Wire for Vec<T> {
    fn from_wire(value: Value, at: &Path<'_>) -> Result<Self, DecodeError> {
        match value {
            Value::Array(items) => items
                .into_iter()
                .enumerate()
                .map(|(i, item)| T::from_wire(item, &Path::Index(at, i)))
                .collect(),
            other => Err(at.invalid(format!("expected array, got {}", kind(&other)))),
        }
    }
    fn to_wire(&self, style: &Style<'_>) -> Value {
        Value::Array(self.iter().map(|item| item.to_wire(style)).collect())
    }
}

impl Wire for Map<String, Value> {
    fn from_wire(value: Value, at: &Path<'_>) -> Result<Self, DecodeError> {
        match value {
            Value::Object(map) => Ok(map),
            other => Err(at.invalid(format!("expected object, got {}", kind(&other)))),
        }
    }
    fn to_wire(&self, _: &Style<'_>) -> Value {
        Value::Object(self.clone())
    }
}

/// Hex text → bytes, with a description naming what was expected.
pub(crate) fn hex(value: Value, at: &Path<'_>) -> Result<(Vec<u8>, String), DecodeError> {
    let text = string(value, at)?;
    let bytes = parse_hex_vec(&text).map_err(|e| at.invalid(format!("expected hex: {e}")))?;
    Ok((bytes, text))
}

fn hex_array<const N: usize>(
    value: Value,
    at: &Path<'_>,
    what: &str,
) -> Result<[u8; N], DecodeError> {
    let (bytes, _) = hex(value, at)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| {
        at.invalid(format!(
            "expected {what} ({N} bytes of hex), got {} bytes",
            bytes.len()
        ))
    })
}

impl Wire for Eui64 {
    fn from_wire(value: Value, at: &Path<'_>) -> Result<Self, DecodeError> {
        hex_array(value, at, "EUI-64").map(Eui64::from_be_bytes)
    }
    fn to_wire(&self, style: &Style<'_>) -> Value {
        Value::String(hex_text(&self.to_be_bytes(), style.dialect))
    }
}

impl Wire for DevAddr {
    fn from_wire(value: Value, at: &Path<'_>) -> Result<Self, DecodeError> {
        hex_array(value, at, "DevAddr").map(DevAddr::from_be_bytes)
    }
    fn to_wire(&self, style: &Style<'_>) -> Value {
        Value::String(hex_text(&self.to_be_bytes(), style.dialect))
    }
}

impl Wire for NetId {
    fn from_wire(value: Value, at: &Path<'_>) -> Result<Self, DecodeError> {
        hex_array(value, at, "NetID").map(NetId::from_be_bytes)
    }
    fn to_wire(&self, style: &Style<'_>) -> Value {
        Value::String(hex_text(&self.to_be_bytes(), style.dialect))
    }
}

impl Wire for OffsetDateTime {
    fn from_wire(value: Value, at: &Path<'_>) -> Result<Self, DecodeError> {
        let text = string(value, at)?;
        parse_time(&text)
            .ok_or_else(|| at.invalid(format!("expected ISO 8601 date-time, got {text:?}")))
    }
    fn to_wire(&self, _: &Style<'_>) -> Value {
        Value::String(self.format(&Rfc3339).unwrap_or_default())
    }
}

/// RFC 3339 / ISO 8601 with `Z` or an offset, any fraction, `T`, `t` or a space as separator.
pub(crate) fn parse_time(text: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t);
    }
    // Rfc3339 wants upper-case `T`/`Z`; peers also send `t`, `z` or a space.
    let fixed: String = text
        .char_indices()
        .map(|(i, c)| match c {
            ' ' | 't' if i == 10 => 'T',
            'z' => 'Z',
            other => other,
        })
        .collect();
    OffsetDateTime::parse(&fixed, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_read_like_field_references() {
        let root = Path::Root;
        let ul = Path::Key(&root, "ULMetaData");
        let gw = Path::Key(&ul, "GWInfo");
        let one = Path::Index(&gw, 1);
        assert_eq!(
            Path::Key(&one, "RSSI").to_string(),
            "ULMetaData.GWInfo[1].RSSI"
        );
    }

    #[test]
    fn integers_accept_integral_floats_only() {
        let at = Path::Root;
        assert_eq!(u8::from_wire(serde_json::json!(5.0), &at).ok(), Some(5));
        assert!(u8::from_wire(serde_json::json!(5.5), &at).is_err());
        assert!(u8::from_wire(serde_json::json!(256), &at).is_err());
        assert!(u32::from_wire(serde_json::json!(-1), &at).is_err());
        assert!(i64::from_wire(serde_json::json!(u64::MAX), &at).is_err());
    }

    #[test]
    fn times_accept_the_deployed_spellings() {
        for text in [
            "2024-05-01T12:34:56.789Z",
            "2024-05-01T12:34:56+00:00",
            "2024-05-01t12:34:56.123456789z",
            "2024-05-01 12:34:56Z",
        ] {
            assert!(parse_time(text).is_some(), "{text}");
        }
        assert!(parse_time("2024-13-01T00:00:00Z").is_none());
    }
}
