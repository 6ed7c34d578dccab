//! Manufacturer import files: parse and check a batch of devices to pre-commission.
//!
//! Two formats, told apart by their first character ([`Format::detect`]):
//!
//! - **JSON**: an array of objects, or `{"devices": [...]}`.
//! - **CSV**: a header row naming the columns, in any order, then one device per row.
//!   Comma, semicolon (European spreadsheet exports) or tab separated, chosen by what the
//!   header uses most; RFC 4180 quoting (`"a ""quoted"" value"`, newlines inside quotes);
//!   blank rows (including rows of empty cells, as spreadsheets export them) are skipped.
//!
//! Column and key names are matched ignoring case, `_`, `-` and spaces, so `DevEUI`,
//! `dev_eui` (ChirpStack) and `devEui` (The Things Stack) all work:
//!
//! | column | also accepted as | value |
//! |---|---|---|
//! | `DevEUI` | | 16 hex digits, not all zero |
//! | `JoinEUI` | `AppEUI` | 16 hex digits |
//! | `AppKey` | | 32 hex digits, not all zero |
//! | `NwkKey` | | 32 hex digits: required for 1.1, refused for 1.0.x |
//! | `LoRaWANVersion` | `MACVersion`, `Version` | see [`parse_version`] |
//! | `ProfileID` | `Profile` | optional, up to 64 printable ASCII characters |
//!
//! Hex values may carry `0x` and `-`, `:` or space separators (`70-B3-D5-7E-D0-00-00-01`, as
//! printed on labels). An empty cell, a missing JSON key and JSON `null` all mean "absent".
//! Unknown columns or keys are errors, not ignored: a misspelt `ProfileId2` column silently
//! dropped would lose data the manufacturer believes was imported.
//!
//! **NwkKey on a 1.0.x device is an error**, not ignored: LoRaWAN 1.0.x has a single root key,
//! so a second key almost always means the version column is wrong (a 1.1 device declared as
//! 1.0.3 would then fail every join, silently). ChirpStack v4 exports keep a 1.0.x device's
//! key in `nwk_key`; the error says to move it to `AppKey`.
//!
//! **All or nothing.** [`parse`] reports every bad row (line, field, reason) and, if there is
//! any, returns no rows at all: a manufacturer batch is one unit. A partial import would
//! leave the manufacturer unsure which devices got owner tokens (they are returned once, and
//! QR labels are printed from that answer); fixing the file and sending it again is simple
//! and safe only if nothing of the first attempt was kept. Storage keeps the same promise by
//! inserting the batch in one transaction (a DevEUI already in the database fails it whole).
//!
//! Bounds: [`Limits`] (by default 100 000 rows, 32 MiB); callers should refuse a larger body
//! before reading it, [`parse`] checks again.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use lorawan::ids::{AesKey, Eui64};
use lorawan::join::MacVersion;
use serde_json::Value;

use csv::{detect_delimiter, Record, Records};

mod csv;

/// Size bounds of one import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Devices per file.
    pub max_rows: usize,
    /// Bytes per file.
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_rows: 100_000,
            max_bytes: 32 * 1024 * 1024,
        }
    }
}

/// The file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// JSON array, or `{"devices": [...]}`.
    Json,
    /// CSV with a header row.
    Csv,
}

impl Format {
    /// JSON when the first non-blank character (after a UTF-8 byte-order mark) is `[` or `{`,
    /// CSV otherwise.
    pub fn detect(input: &[u8]) -> Self {
        let body = input.strip_prefix(BOM).unwrap_or(input);
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[' | b'{') => Self::Json,
            _ => Self::Csv,
        }
    }
}

/// One device to pre-commission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// 1-based line of the row (CSV) or of the object's opening brace (JSON).
    pub line: usize,
    /// DevEUI.
    pub dev_eui: Eui64,
    /// JoinEUI (AppEUI in 1.0.x).
    pub join_eui: Eui64,
    /// LoRaWAN L2 version.
    pub mac_version: MacVersion,
    /// AppKey.
    pub app_key: AesKey,
    /// NwkKey, for 1.1 devices (always `Some` for them, `None` otherwise).
    pub nwk_key: Option<AesKey>,
    /// Device profile (e.g. the TR005 `VendorID-VendorProfileID`), as given.
    pub profile_id: Option<String>,
}

/// One problem in an import file. The manufacturer's file is to blame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line in the file.
    pub line: usize,
    /// The column or key, when one is at fault.
    pub field: Option<String>,
    /// What is wrong, for a person to fix.
    pub reason: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "line {}, {field}: {}", self.line, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

/// Why nothing was imported. The manufacturer's file is to blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The file is larger than [`Limits::max_bytes`].
    #[error("file of {bytes} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// Rows (or the file's structure) are invalid: every problem found, in file order.
    #[error("{} error(s), first: {}", .0.len(), .0.first().map(ToString::to_string).unwrap_or_default())]
    Invalid(Vec<RowError>),
}

/// Parses and checks a whole file: all its devices, or every problem in it.
pub fn parse(input: &[u8], format: Format, limits: Limits) -> Result<Vec<ImportRow>, ImportError> {
    if input.len() > limits.max_bytes {
        return Err(ImportError::TooLarge {
            bytes: input.len(),
            max: limits.max_bytes,
        });
    }
    let input = input.strip_prefix(BOM).unwrap_or(input);
    let text = std::str::from_utf8(input).map_err(|e| {
        let line = line_of(input, e.valid_up_to());
        ImportError::Invalid(vec![RowError {
            line,
            field: None,
            reason: "not UTF-8 text".to_owned(),
        }])
    })?;
    let raw = match format {
        Format::Json => json_rows(text, limits.max_rows),
        Format::Csv => csv_rows(text, limits.max_rows),
    };
    let (rows, mut errors) = raw.map_err(ImportError::Invalid)?;
    let mut seen = HashMap::new();
    let mut devices = Vec::with_capacity(rows.len());
    for row in rows {
        match check_row(&row, &mut seen) {
            Ok(device) => devices.push(device),
            Err(mut row_errors) => errors.append(&mut row_errors),
        }
    }
    if errors.is_empty() {
        Ok(devices)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(ImportError::Invalid(errors))
    }
}

/// A LoRaWAN version as manufacturers write it. Accepted: `1.0`, `1.0.0` … `1.0.4`, `1.1`,
/// `1.1.0`, with an optional `v`, `LoRaWAN` or `MAC` prefix, `_` for `.` (ChirpStack's
/// `LORAWAN_1_0_2`, `MAC_V1_0_2`), and a revision suffix `A`/`B` written `-b`, `b`, `rB`,
/// `revB` or ` rev B`. The revision is dropped: `1.0.2rB` names the Regional Parameters
/// revision, and L2 1.0.2 rev A and rev B have the same join procedure.
pub fn parse_version(text: &str) -> Option<MacVersion> {
    let lower = text.trim().to_ascii_lowercase();
    let mut rest = lower.as_str();
    loop {
        let stripped = ["lorawan", "mac", "v", " ", "_", "-"]
            .iter()
            .find_map(|p| rest.strip_prefix(p));
        match stripped {
            Some(s) => rest = s,
            None => break,
        }
    }
    let number_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_len);
    let number = number.replace('_', ".");
    let number = number.trim_end_matches('.');
    let suffix: String = suffix
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_' | '.'))
        .collect();
    let revision_ok = matches!(
        suffix.as_str(),
        "" | "a" | "b" | "ra" | "rb" | "reva" | "revb" | "revisiona" | "revisionb"
    );
    if !revision_ok {
        return None;
    }
    MacVersion::from_str(number).ok()
}

const BOM: &[u8] = b"\xef\xbb\xbf";
const MAX_PROFILE_ID_LEN: usize = 64;

/// The columns of an import file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Column {
    DevEui,
    JoinEui,
    AppKey,
    NwkKey,
    Version,
    ProfileId,
}

impl Column {
    const ALL: [Self; 6] = [
        Self::DevEui,
        Self::JoinEui,
        Self::AppKey,
        Self::NwkKey,
        Self::Version,
        Self::ProfileId,
    ];

    fn from_name(name: &str) -> Option<Self> {
        let key: String = name
            .chars()
            .filter(|c| !matches!(c, '_' | '-' | ' '))
            .collect::<String>()
            .to_ascii_lowercase();
        match key.as_str() {
            "deveui" => Some(Self::DevEui),
            "joineui" | "appeui" => Some(Self::JoinEui),
            "appkey" => Some(Self::AppKey),
            "nwkkey" => Some(Self::NwkKey),
            "lorawanversion" | "macversion" | "version" => Some(Self::Version),
            "profileid" | "profile" => Some(Self::ProfileId),
            _ => None,
        }
    }

    const fn name(self) -> &'static str {
        match self {
            Self::DevEui => "DevEUI",
            Self::JoinEui => "JoinEUI",
            Self::AppKey => "AppKey",
            Self::NwkKey => "NwkKey",
            Self::Version => "LoRaWANVersion",
            Self::ProfileId => "ProfileID",
        }
    }

    const fn required(self) -> bool {
        matches!(
            self,
            Self::DevEui | Self::JoinEui | Self::AppKey | Self::Version
        )
    }
}

fn expected_columns() -> String {
    Column::ALL.map(Column::name).join(", ")
}

/// A row before checking: its line and its present, non-empty cells.
struct RawRow {
    line: usize,
    cells: HashMap<Column, String>,
    /// Columns whose value was already reported as malformed (not to be called missing).
    reported: Vec<Column>,
}

type RawRows = (Vec<RawRow>, Vec<RowError>);

fn error(line: usize, field: Option<&str>, reason: impl Into<String>) -> RowError {
    RowError {
        line,
        field: field.map(str::to_owned),
        reason: reason.into(),
    }
}

fn too_many_rows(line: usize, max_rows: usize) -> RowError {
    error(
        line,
        None,
        format!("more than {max_rows} devices in one file; split it"),
    )
}

fn check_row(row: &RawRow, seen: &mut HashMap<Eui64, usize>) -> Result<ImportRow, Vec<RowError>> {
    let line = row.line;
    let mut errors = Vec::new();
    let cell = |column: Column| row.cells.get(&column).map(String::as_str);
    let required = |column: Column, errors: &mut Vec<RowError>| {
        let value = cell(column);
        if value.is_none() && !row.reported.contains(&column) {
            errors.push(error(line, Some(column.name()), "missing"));
        }
        value
    };

    let dev_eui = required(Column::DevEui, &mut errors)
        .and_then(|v| field(line, Column::DevEui, parse_eui(v), &mut errors))
        .and_then(|eui| {
            if eui.to_u64() == 0 {
                errors.push(error(line, Some("DevEUI"), "all zero: not a device EUI"));
                return None;
            }
            if let Some(first) = seen.get(&eui) {
                errors.push(error(
                    line,
                    Some("DevEUI"),
                    format!("{eui} already appears on line {first}"),
                ));
                return None;
            }
            seen.insert(eui, line);
            Some(eui)
        });
    let join_eui = required(Column::JoinEui, &mut errors)
        .and_then(|v| field(line, Column::JoinEui, parse_eui(v), &mut errors));
    let app_key = required(Column::AppKey, &mut errors)
        .and_then(|v| field(line, Column::AppKey, parse_key(v), &mut errors));
    let mac_version = required(Column::Version, &mut errors).and_then(|v| {
        let version = parse_version(v).ok_or_else(|| {
            format!("unknown LoRaWAN version {v:?}; expected 1.0.0 to 1.0.4 or 1.1")
        });
        field(line, Column::Version, version, &mut errors)
    });
    let nwk_key =
        cell(Column::NwkKey).and_then(|v| field(line, Column::NwkKey, parse_key(v), &mut errors));
    match (mac_version, cell(Column::NwkKey)) {
        (Some(MacVersion::V1_1), None) => {
            errors.push(error(line, Some("NwkKey"), "required for LoRaWAN 1.1"));
        }
        (Some(version), Some(_)) if version != MacVersion::V1_1 => errors.push(error(
            line,
            Some("NwkKey"),
            format!(
                "LoRaWAN {version} devices have one root key, AppKey: \
                 check the version, or move the key to AppKey"
            ),
        )),
        _ => {}
    }
    let profile_id = cell(Column::ProfileId).and_then(|v| {
        let checked = if v.len() > MAX_PROFILE_ID_LEN {
            Err(format!("longer than {MAX_PROFILE_ID_LEN} characters"))
        } else if !v.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
            Err("only printable ASCII characters are allowed".to_owned())
        } else {
            Ok(v.to_owned())
        };
        field(line, Column::ProfileId, checked, &mut errors)
    });

    match (dev_eui, join_eui, app_key, mac_version) {
        (Some(dev_eui), Some(join_eui), Some(app_key), Some(mac_version)) if errors.is_empty() => {
            Ok(ImportRow {
                line,
                dev_eui,
                join_eui,
                mac_version,
                app_key,
                nwk_key,
                profile_id,
            })
        }
        _ => Err(errors),
    }
}

/// The value, or `None` with the error recorded against `column`.
fn field<T, E: fmt::Display>(
    line: usize,
    column: Column,
    parsed: Result<T, E>,
    errors: &mut Vec<RowError>,
) -> Option<T> {
    parsed
        .map_err(|e| errors.push(error(line, Some(column.name()), e.to_string())))
        .ok()
}

/// Hex with the separators labels use removed.
fn compact_hex(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, '-' | ':' | ' '))
        .collect()
}

fn parse_eui(text: &str) -> Result<Eui64, String> {
    compact_hex(text).parse().map_err(|e| format!("{e}"))
}

fn parse_key(text: &str) -> Result<AesKey, String> {
    let key: AesKey = compact_hex(text).parse().map_err(|e| format!("{e}"))?;
    if key.bytes().iter().all(|&b| b == 0) {
        return Err("all zero: a placeholder, not a key".to_owned());
    }
    Ok(key)
}

fn line_of(input: &[u8], offset: usize) -> usize {
    1 + input.iter().take(offset).filter(|&&b| b == b'\n').count()
}

// ---------------------------------------------------------------------------------------
// JSON

fn json_rows(text: &str, max_rows: usize) -> Result<RawRows, Vec<RowError>> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| vec![error(e.line().max(1), None, e.to_string())])?;
    let shape_error = || {
        vec![error(
            1,
            None,
            r#"expected an array of devices, or {"devices": [...]}"#,
        )]
    };
    let (items, depth) = match value {
        Value::Array(items) => (items, 1),
        Value::Object(map) if map.len() == 1 => match map.into_iter().next() {
            Some((key, Value::Array(items))) if key.eq_ignore_ascii_case("devices") => (items, 2),
            _ => return Err(shape_error()),
        },
        _ => return Err(shape_error()),
    };
    let lines = element_lines(text, depth);
    let mut rows = Vec::with_capacity(items.len().min(max_rows));
    let mut errors = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let line = lines.get(index).copied().unwrap_or(1);
        if index >= max_rows {
            errors.push(too_many_rows(line, max_rows));
            break;
        }
        let Value::Object(map) = item else {
            errors.push(error(line, None, "expected an object"));
            continue;
        };
        let mut cells = HashMap::new();
        let mut reported = Vec::new();
        let mut names: HashMap<Column, String> = HashMap::new();
        for (key, value) in map {
            let Some(column) = Column::from_name(&key) else {
                errors.push(error(
                    line,
                    Some(&key),
                    format!("unknown field; expected {}", expected_columns()),
                ));
                continue;
            };
            if let Some(first) = names.get(&column) {
                errors.push(error(line, Some(&key), format!("same field as {first:?}")));
                continue;
            }
            names.insert(column, key.clone());
            let text = match value {
                Value::Null => continue,
                Value::String(s) => s,
                Value::Number(n) if column == Column::Version => n.to_string(),
                _ => {
                    errors.push(error(line, Some(column.name()), "expected a string"));
                    reported.push(column);
                    continue;
                }
            };
            let text = text.trim();
            if !text.is_empty() {
                cells.insert(column, text.to_owned());
            }
        }
        rows.push(RawRow {
            line,
            cells,
            reported,
        });
    }
    Ok((rows, errors))
}

/// The 1-based lines where the elements of the array at nesting `depth` start (1: the
/// top-level array; 2: the array inside the top-level object), for text already known to
/// be valid JSON. serde_json keeps no positions, hence this small scanner.
fn element_lines(text: &str, depth: usize) -> Vec<usize> {
    let mut lines = Vec::new();
    let mut line = 1;
    let mut stack: Vec<u8> = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    let mut expect_element = false;
    for b in text.bytes() {
        if b == b'\n' {
            line += 1;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        if expect_element && !b.is_ascii_whitespace() {
            expect_element = false;
            if b != b']' {
                lines.push(line);
            }
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                stack.push(b);
                expect_element = b == b'[' && stack.len() == depth;
            }
            b']' | b'}' => {
                stack.pop();
            }
            b',' if stack.len() == depth && stack.last() == Some(&b'[') => expect_element = true,
            _ => {}
        }
    }
    lines
}

// ---------------------------------------------------------------------------------------
// CSV

fn csv_rows(text: &str, max_rows: usize) -> Result<RawRows, Vec<RowError>> {
    let delimiter = detect_delimiter(text);
    let mut records = Records::new(text, delimiter)
        .filter(|r| r.problem.is_some() || r.fields.iter().any(|f| !f.trim().is_empty()));
    let Some(header) = records.next() else {
        return Err(vec![error(
            1,
            None,
            format!(
                "empty file; expected a header row naming {}",
                expected_columns()
            ),
        )]);
    };
    let columns = header_columns(&header)?;

    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (index, record) in records.enumerate() {
        if index >= max_rows {
            errors.push(too_many_rows(record.line, max_rows));
            break;
        }
        if let Some(problem) = record.problem {
            errors.push(error(record.line, None, problem));
            continue;
        }
        if record.fields.len() != columns.len() {
            errors.push(error(
                record.line,
                None,
                format!(
                    "{} fields, but the header names {} columns",
                    record.fields.len(),
                    columns.len()
                ),
            ));
            continue;
        }
        let cells = columns
            .iter()
            .zip(record.fields)
            .filter_map(|(&column, value)| {
                let value = value.trim();
                (!value.is_empty()).then(|| (column, value.to_owned()))
            })
            .collect();
        rows.push(RawRow {
            line: record.line,
            cells,
            reported: Vec::new(),
        });
    }
    Ok((rows, errors))
}

fn header_columns(header: &Record) -> Result<Vec<Column>, Vec<RowError>> {
    let line = header.line;
    if let Some(problem) = header.problem {
        return Err(vec![error(line, None, problem)]);
    }
    let mut errors = Vec::new();
    let mut columns = Vec::with_capacity(header.fields.len());
    for name in &header.fields {
        let name = name.trim();
        match Column::from_name(name) {
            None => errors.push(error(
                line,
                Some(name),
                format!("unknown column; expected {}", expected_columns()),
            )),
            Some(column) if columns.contains(&column) => {
                errors.push(error(line, Some(name), "column named twice"));
            }
            Some(column) => columns.push(column),
        }
    }
    for column in Column::ALL {
        if column.required() && !columns.contains(&column) {
            errors.push(error(line, Some(column.name()), "missing column"));
        }
    }
    if errors.is_empty() {
        Ok(columns)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests;
