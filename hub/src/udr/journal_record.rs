//! One UDR as the journal holds it: the values of its `udrs` row, in the order the insert
//! binds them ([`columns_of`]), as tagged binary values.
//!
//! The record is written on the answer path and read back by the drainer, so it is the row
//! itself rather than the record's JSON: no timestamps formatted as text and parsed again,
//! no field names. Layout: the format byte [`FORMAT`], then per column a tag (`1` INTEGER as
//! i64 little-endian, `2` TEXT as a u32 little-endian length and UTF-8, `3` / `4` an
//! INTEGER / TEXT column's NULL).
//!
//! Journals written before this format hold the record's JSON (it starts with `{`); they are
//! still read, so a hub killed before an upgrade loses nothing after it.

use std::borrow::Cow;

use super::model::Udr;
use super::store::{columns_of, Column, BINDS_PER_ROW};

/// The first byte of a binary record (a JSON record starts with `{`).
const FORMAT: u8 = 1;
const INTEGER: u8 = 1;
const TEXT: u8 = 2;
const NULL_INTEGER: u8 = 3;
const NULL_TEXT: u8 = 4;

/// The values of one `udrs` row.
pub(super) type Row<'a> = [Column<'a>; BINDS_PER_ROW];

/// The journal record of `udr`.
pub(super) fn encode(udr: &Udr) -> Vec<u8> {
    let mut out = Vec::with_capacity(192);
    out.push(FORMAT);
    for column in columns_of(udr) {
        match column {
            Column::Int(Some(value)) => {
                out.push(INTEGER);
                out.extend_from_slice(&value.to_le_bytes());
            }
            Column::Text(Some(text)) => {
                out.push(TEXT);
                // Member ids, agreement names and codes are short; a text over 4 GiB cannot
                // be in a record that fits the journal, so the length is cut, not wrapped.
                let length = u32::try_from(text.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&length.to_le_bytes());
                out.extend_from_slice(&text.as_bytes()[..length as usize]);
            }
            Column::Int(None) => out.push(NULL_INTEGER),
            Column::Text(None) => out.push(NULL_TEXT),
        }
    }
    out
}

/// The row a journal record holds; texts are borrowed from `payload`. Fails, naming why, on
/// a record that is cut short, has an unknown tag, or is not a record at all.
pub(super) fn decode(payload: &[u8]) -> Result<Row<'_>, String> {
    match payload.first() {
        Some(&FORMAT) => decode_binary(&payload[1..]),
        Some(b'{') => decode_json(payload),
        Some(other) => Err(format!("unknown record format {other:#04x}")),
        None => Err("empty record".into()),
    }
}

/// `payload` for a log line: its row when it can be read, else its bytes in hex.
pub(super) fn describe(payload: &[u8]) -> String {
    match decode(payload) {
        Ok(row) => format!("{row:?}"),
        Err(_) => payload.iter().map(|byte| format!("{byte:02x}")).collect(),
    }
}

fn decode_binary(mut rest: &[u8]) -> Result<Row<'_>, String> {
    // Error texts are built only on failure: this runs for every record the drainer stores.
    let cut_short = |index: usize| format!("record cut short in column {index}");
    let mut row: Vec<Column<'_>> = Vec::with_capacity(BINDS_PER_ROW);
    for index in 0..BINDS_PER_ROW {
        let (&tag, tail) = rest.split_first().ok_or_else(|| cut_short(index))?;
        rest = tail;
        let column = match tag {
            NULL_INTEGER => Column::Int(None),
            NULL_TEXT => Column::Text(None),
            INTEGER => {
                let (bytes, tail) = rest
                    .split_first_chunk::<8>()
                    .ok_or_else(|| cut_short(index))?;
                rest = tail;
                Column::Int(Some(i64::from_le_bytes(*bytes)))
            }
            TEXT => {
                let (length, tail) = rest
                    .split_first_chunk::<4>()
                    .ok_or_else(|| cut_short(index))?;
                let length = u32::from_le_bytes(*length) as usize;
                if tail.len() < length {
                    return Err(cut_short(index));
                }
                let (bytes, tail) = tail.split_at(length);
                rest = tail;
                let text =
                    std::str::from_utf8(bytes).map_err(|e| format!("column {index}: {e}"))?;
                Column::Text(Some(Cow::Borrowed(text)))
            }
            tag => return Err(format!("column {index}: unknown tag {tag}")),
        };
        row.push(column);
    }
    if !rest.is_empty() {
        return Err(format!("{} bytes after the last column", rest.len()));
    }
    row.try_into()
        .map_err(|_| "wrong number of columns".to_owned())
}

/// A record of the journal's first format: the UDR's JSON.
fn decode_json(payload: &[u8]) -> Result<Row<'static>, String> {
    let udr: Udr = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    Ok(columns_of(&udr).map(|column| match column {
        Column::Int(value) => Column::Int(value),
        Column::Text(text) => Column::Text(text.map(|t| Cow::Owned(t.into_owned()))),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The model's sample record, with NULL in an INTEGER column (gateway_count) as well as
    /// in TEXT ones (dev_eui).
    fn udr() -> Udr {
        Udr {
            gateway_count: None,
            ..crate::udr::model::tests::udr()
        }
    }

    #[test]
    fn a_record_reads_back_as_the_row_it_was_written_from() {
        let udr = udr();
        let payload = encode(&udr);
        assert_eq!(decode(&payload).expect("reads"), columns_of(&udr));
    }

    #[test]
    fn a_record_of_the_json_format_still_reads() {
        let udr = udr();
        let payload = serde_json::to_vec(&udr).expect("json");
        assert_eq!(decode(&payload).expect("reads"), columns_of(&udr));
    }

    #[test]
    fn damaged_records_are_refused_with_a_reason() {
        let payload = encode(&udr());
        for cut in [1, 2, 10, payload.len() - 1] {
            let error = decode(&payload[..cut]).expect_err("cut short");
            assert!(error.contains("cut short"), "{cut}: {error}");
        }
        let mut longer = payload.clone();
        longer.push(0);
        assert!(decode(&longer)
            .expect_err("extra")
            .contains("after the last"));
        let mut bad_tag = payload.clone();
        bad_tag[1] = 9;
        assert!(decode(&bad_tag).expect_err("tag").contains("unknown tag"));
        assert!(decode(&[7]).expect_err("format").contains("format"));
        assert!(decode(&[]).is_err());
        assert_eq!(describe(&[7, 255]), "07ff");
    }
}
