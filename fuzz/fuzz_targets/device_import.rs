//! A manufacturer import file uploaded over the jsd admin API: parsing never panics, in the
//! detected format or forced to either; what parses keeps the row invariants (NwkKey exactly
//! for 1.1 devices, DevEUIs unique, 1-based lines in file order); what is rejected says why,
//! at least once, with its errors in line order.
//!
//! Seeds (valid files of each shape) are kept in `seeds/device_import/`, as `corpus/` is not
//! tracked; pass both, the writable corpus first:
//! `cargo +nightly fuzz run device_import corpus/device_import seeds/device_import`
#![no_main]

use std::collections::HashSet;

use jsd::device::{parse_import, Format, ImportError, ImportRow, Limits};
use libfuzzer_sys::fuzz_target;
use lorawan::join::MacVersion;

fn check(rows: &[ImportRow]) {
    let mut dev_euis = HashSet::new();
    let mut previous_line = 1;
    for row in rows {
        assert_eq!(
            row.nwk_key.is_some(),
            row.mac_version == MacVersion::V1_1,
            "NwkKey presence disagrees with the version on line {}: {:?}",
            row.line,
            row.mac_version
        );
        assert!(dev_euis.insert(row.dev_eui), "DevEUI {} imported twice", row.dev_eui);
        assert!(row.line >= previous_line, "line {} after line {previous_line}", row.line);
        previous_line = row.line;
    }
}

fn parse(data: &[u8], format: Format) -> Result<Vec<ImportRow>, ImportError> {
    let parsed = parse_import(data, format, Limits::default());
    match &parsed {
        Ok(rows) => check(rows),
        Err(ImportError::Invalid(errors)) => {
            assert!(!errors.is_empty(), "rejected ({format:?}) without an error");
            assert!(errors.iter().all(|e| e.line >= 1), "line 0 in {errors:?}");
            assert!(
                errors.windows(2).all(|w| w[0].line <= w[1].line),
                "errors not in line order: {errors:?}"
            );
        }
        Err(ImportError::TooLarge { .. }) => {}
    }
    parsed
}

fuzz_target!(|data: &[u8]| {
    let detected = Format::detect(data);
    let as_detected = parse(data, detected);
    let as_json = parse(data, Format::Json);
    let as_csv = parse(data, Format::Csv);
    let forced = match detected {
        Format::Json => as_json,
        Format::Csv => as_csv,
    };
    assert_eq!(as_detected, forced, "two parses of the same input as {detected:?} differ");
});
