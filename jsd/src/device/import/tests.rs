//! Tests of the import parser: formats, every error with its line, limits, and fuzzing.

use super::*;
use proptest::prelude::*;

const KEY_A: &str = "2B7E151628AED2A6ABF7158809CF4F3C";
const KEY_B: &str = "000102030405060708090A0B0C0D0E0F";

fn parse_text(text: &str) -> Result<Vec<ImportRow>, ImportError> {
    parse(
        text.as_bytes(),
        Format::detect(text.as_bytes()),
        Limits::default(),
    )
}

fn errors(text: &str) -> Vec<RowError> {
    match parse_text(text) {
        Err(ImportError::Invalid(errors)) => errors,
        other => panic!("expected row errors, got {other:?}"),
    }
}

fn summary(errors: &[RowError]) -> Vec<(usize, Option<&str>)> {
    errors
        .iter()
        .map(|e| (e.line, e.field.as_deref()))
        .collect()
}

#[test]
fn a_csv_file_with_columns_in_any_order_and_case() {
    let text = format!(
        "lorawanversion,AppKey,DEVEUI,join_eui,NwkKey,ProfileID\r\n\
         1.0.3,{KEY_A},70B3D57ED0000001,70b3d57ed0000000,,0000-0001\r\n\
         \r\n\
         1.1,{KEY_A},70-B3-D5-7E-D0-00-00-02,70B3D57ED0000000,{KEY_B},\r\n\
         ,,,,,\r\n"
    );
    let rows = parse_text(&text).expect("valid");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].line, 2);
    assert_eq!(rows[0].dev_eui, Eui64::from_u64(0x70b3_d57e_d000_0001));
    assert_eq!(rows[0].join_eui, Eui64::from_u64(0x70b3_d57e_d000_0000));
    assert_eq!(rows[0].mac_version, MacVersion::V1_0_3);
    assert_eq!(rows[0].app_key, KEY_A.parse().expect("key"));
    assert_eq!(rows[0].nwk_key, None);
    assert_eq!(rows[0].profile_id.as_deref(), Some("0000-0001"));
    assert_eq!(rows[1].line, 4);
    assert_eq!(rows[1].mac_version, MacVersion::V1_1);
    assert_eq!(rows[1].nwk_key, Some(KEY_B.parse().expect("key")));
    assert_eq!(rows[1].profile_id, None);
}

#[test]
fn semicolons_tabs_quotes_and_a_bom() {
    let text = format!(
        "\u{feff}DevEUI;JoinEUI;AppKey;Version;Profile\n\
         70B3D57ED0000001;70B3D57ED0000000;\"{KEY_A}\";\"1.0.2-b\";\"a \"\"quoted\"\"; id\"\n"
    );
    let rows = parse_text(&text).expect("valid");
    assert_eq!(rows[0].profile_id.as_deref(), Some("a \"quoted\"; id"));
    assert_eq!(rows[0].mac_version, MacVersion::V1_0_2);

    let tabs = format!(
        "DevEUI\tJoinEUI\tAppKey\tVersion\n70B3D57ED0000001\t0000000000000000\t{KEY_A}\t1.0.4\n"
    );
    assert_eq!(parse_text(&tabs).expect("valid").len(), 1);
}

#[test]
fn every_bad_row_is_reported_with_its_line_and_field() {
    let text = format!(
        "DevEUI,JoinEUI,AppKey,NwkKey,LoRaWANVersion\n\
         70B3D57ED0000001,70B3D57ED0000000,{KEY_A},,1.0.3\n\
         70B3D57ED00001,70B3D57ED0000000,{KEY_A},,1.0.3\n\
         70B3D57ED0000003,70B3D57ED0000000,{KEY_A},,1.1\n\
         70B3D57ED0000004,70B3D57ED0000000,{KEY_A},{KEY_B},1.0.2\n\
         70B3D57ED0000001,70B3D57ED0000000,{KEY_A},,1.0.3\n\
         70B3D57ED0000006,70B3D57ED0000000,,,2.0\n\
         70B3D57ED0000007,70B3D57ED0000000,{KEY_A}\n\
         0000000000000000,70B3D57ED0000000,00000000000000000000000000000000,,1.0.3\n"
    );
    let errs = errors(&text);
    assert_eq!(
        summary(&errs),
        [
            (3, Some("DevEUI")),
            (4, Some("NwkKey")),
            (5, Some("NwkKey")),
            (6, Some("DevEUI")),
            (7, Some("AppKey")),
            (7, Some("LoRaWANVersion")),
            (8, None),
            (9, Some("DevEUI")),
            (9, Some("AppKey")),
        ]
    );
    assert_eq!(errs[0].reason, "expected 16 hex digits, got 14");
    assert_eq!(errs[1].reason, "required for LoRaWAN 1.1");
    assert!(
        errs[2].reason.contains("one root key"),
        "{}",
        errs[2].reason
    );
    assert_eq!(errs[3].reason, "70b3d57ed0000001 already appears on line 2");
    assert_eq!(errs[4].reason, "missing");
    assert!(errs[5].reason.contains("\"2.0\""));
    assert_eq!(errs[6].reason, "3 fields, but the header names 5 columns");
    assert_eq!(
        errs[0].to_string(),
        "line 3, DevEUI: expected 16 hex digits, got 14"
    );
    let whole = ImportError::Invalid(errs);
    assert!(whole.to_string().starts_with("9 error(s), first: line 3"));
}

#[test]
fn header_problems_stop_before_the_rows() {
    let errs = errors("DevEUI,JoinEUI,AppKey,Serial,DevEUI\n1,2,3,4,5\n");
    assert_eq!(
        summary(&errs),
        [
            (1, Some("Serial")),
            (1, Some("DevEUI")),
            (1, Some("LoRaWANVersion"))
        ]
    );
    assert_eq!(summary(&errors("")), [(1, None)]);
    assert_eq!(summary(&errors("\n \n,,\n")), [(1, None)]);
}

#[test]
fn quoting_problems_are_row_errors() {
    let text = format!(
        "DevEUI,JoinEUI,AppKey,Version\n\
         70B3D57ED0000001,70B3D57ED0000000,{KEY_A},1.0.3\n\
         70B3D57ED0000002,70B3\"D57ED0000000,{KEY_A},1.0.3\n\
         \"70B3D57ED0000003\"x,70B3D57ED0000000,{KEY_A},1.0.3\n\
         \"70B3D57ED0000004,70B3D57ED0000000,{KEY_A},1.0.3\n\
         70B3D57ED0000005,70B3D57ED0000000,{KEY_A},1.0.3\n"
    );
    let errs = errors(&text);
    assert_eq!(summary(&errs), [(3, None), (4, None), (5, None)]);
    assert_eq!(errs[2].reason, "quoted field never closed");
}

#[test]
fn lone_cr_line_endings_count_as_lines() {
    // Excel for Mac's "CSV (Macintosh)"; also the case proptest once shrank to.
    let text = format!(
        "DevEUI,JoinEUI,AppKey,Version\r\
         70B3D57ED0000001,70B3D57ED0000000,{KEY_A},1.0.3\r\
         70B3D57ED0000002,70B3D57ED0000000,{KEY_A},9\r"
    );
    assert_eq!(summary(&errors(&text)), [(3, Some("LoRaWANVersion"))]);
    let errs = errors("V\r\"\"\r0");
    assert!(errs.iter().all(|e| e.line <= 3), "{errs:?}");
}

#[test]
fn a_quoted_newline_keeps_later_line_numbers_right() {
    let text = format!(
        "DevEUI,JoinEUI,AppKey,Version,ProfileID\n\
         70B3D57ED0000001,70B3D57ED0000000,{KEY_A},1.0.3,\"two\nlines\"\n\
         70B3D57ED0000002,70B3D57ED0000000,{KEY_A},1.0.9,\n"
    );
    let errs = errors(&text);
    assert_eq!(
        summary(&errs),
        [(2, Some("ProfileID")), (4, Some("LoRaWANVersion"))]
    );
}

#[test]
fn json_arrays_and_the_devices_wrapper() {
    let array = format!(
        r#"[
  {{"DevEUI": "70B3D57ED0000001", "JoinEUI": "70B3D57ED0000000",
"AppKey": "{KEY_A}", "LoRaWANVersion": "1.0.3", "NwkKey": null}},
  {{
"devEui": "70B3D57ED0000002", "join_eui": "70B3D57ED0000000",
"appKey": "{KEY_A}", "nwkKey": "{KEY_B}", "macVersion": 1.1,
"profileId": "0000-0001"
  }}
]"#
    );
    let rows = parse_text(&array).expect("valid");
    assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 4]);
    assert_eq!(rows[1].mac_version, MacVersion::V1_1);

    let wrapped = format!("{{\"devices\": {array}}}");
    let rows = parse_text(&wrapped).expect("valid");
    assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 4]);
}

#[test]
fn json_row_errors_name_the_line_of_the_object() {
    let text = format!(
        r#"{{"devices": [
  {{"DevEUI": "70B3D57ED0000001", "JoinEUI": "70B3D57ED0000000",
"AppKey": "{KEY_A}", "LoRaWANVersion": "1.0.3"}},
  "not an object",
  {{"DevEUI": "70B3D57ED0000001", "JoinEUI": "70B3D57ED0000000",
"AppKey": 5, "LoRaWANVersion": "1.0.3", "Serial": "x", "dev_eui": "1"}},
  {{"note": "a string with [brackets], {{braces}} and \"quotes\""}}
]}}"#
    );
    let errs = errors(&text);
    assert_eq!(
        summary(&errs)[..3],
        [(4, None), (5, Some("AppKey")), (5, Some("Serial"))]
    );
    assert!(summary(&errs).contains(&(5, Some("DevEUI"))));
    assert!(summary(&errs).contains(&(7, Some("note"))));
    assert!(summary(&errs).contains(&(7, Some("DevEUI"))));
}

#[test]
fn json_syntax_and_shape_errors() {
    let errs = errors("[\n{\"DevEUI\": \"1\",\n}\n]");
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].line, 3);
    assert_eq!(summary(&errors("{\"rows\": []}")), [(1, None)]);
    assert_eq!(summary(&errors("{\"devices\": [], \"x\": 1}")), [(1, None)]);
    assert_eq!(parse_text("[]").expect("empty is fine"), []);
}

#[test]
fn row_and_size_limits() {
    let mut text = String::from("DevEUI,JoinEUI,AppKey,Version\n");
    for i in 1..=4u64 {
        text.push_str(&format!("{:016X},0000000000000000,{KEY_A},1.0.3\n", i));
    }
    let limits = Limits {
        max_rows: 3,
        max_bytes: 10_000,
    };
    let err = parse(text.as_bytes(), Format::Csv, limits).expect_err("too many");
    assert_eq!(err, ImportError::Invalid(vec![too_many_rows(5, 3)]));
    let small = Limits {
        max_rows: 10,
        max_bytes: 20,
    };
    assert!(matches!(
        parse(text.as_bytes(), Format::Csv, small),
        Err(ImportError::TooLarge { max: 20, .. })
    ));
    let json = format!("[{}]", ["{}"; 4].join(",\n"));
    assert_eq!(
        parse(json.as_bytes(), Format::Json, limits),
        Err(ImportError::Invalid(
            (1..=3)
                .flat_map(|line| {
                    ["DevEUI", "JoinEUI", "AppKey", "LoRaWANVersion"]
                        .map(|f| error(line, Some(f), "missing"))
                })
                .chain([too_many_rows(4, 3)])
                .collect()
        ))
    );
}

#[test]
fn invalid_utf8_is_reported_at_its_line() {
    let mut bytes = b"DevEUI,JoinEUI,AppKey,Version\nab".to_vec();
    bytes.push(0xff);
    assert_eq!(
        parse(&bytes, Format::Csv, Limits::default()),
        Err(ImportError::Invalid(vec![error(2, None, "not UTF-8 text")]))
    );
}

#[test]
fn version_spellings() {
    use MacVersion::*;
    for (text, version) in [
        ("1.0", V1_0_0),
        ("1.0.0", V1_0_0),
        ("1.0.1", V1_0_1),
        ("1.0.2", V1_0_2),
        ("1.0.2-b", V1_0_2),
        ("1.0.2b", V1_0_2),
        ("1.0.2rB", V1_0_2),
        ("1.0.2 rev B", V1_0_2),
        ("v1.0.3", V1_0_3),
        ("1.0.3revA", V1_0_3),
        ("LoRaWAN 1.0.4", V1_0_4),
        ("LORAWAN_1_0_4", V1_0_4),
        ("MAC_V1_0_2", V1_0_2),
        ("1.1", V1_1),
        ("1.1.0", V1_1),
        (" 1.1.0-a ", V1_1),
    ] {
        assert_eq!(parse_version(text), Some(version), "{text}");
    }
    for text in [
        "", "1", "1.0.5", "1.2", "2.0", "1.0.2-c", "1.0.2x", "lorawan", "1..0",
    ] {
        assert_eq!(parse_version(text), None, "{text}");
    }
}

#[test]
fn format_detection() {
    assert_eq!(Format::detect(b"  \n[ ]"), Format::Json);
    assert_eq!(Format::detect(b"\xef\xbb\xbf{}"), Format::Json);
    assert_eq!(Format::detect(b"DevEUI,JoinEUI"), Format::Csv);
    assert_eq!(Format::detect(b""), Format::Csv);
}

#[test]
fn keys_never_appear_in_debug_output() {
    let text =
        format!("DevEUI,JoinEUI,AppKey,Version\n70B3D57ED0000001,70B3D57ED0000000,{KEY_A},1.0.3\n");
    let rows = parse_text(&text).expect("valid");
    let debug = format!("{rows:?}");
    assert!(!debug.to_lowercase().contains("2b7e"), "{debug}");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse(&bytes, Format::Csv, Limits::default());
        let _ = parse(&bytes, Format::Json, Limits::default());
    }

    #[test]
    fn arbitrary_csv_like_text_never_panics(text in "[A-Fa-f0-9,;\t\"\r\n .vV_-]{0,300}") {
        let text = format!("DevEUI,JoinEUI,AppKey,Version\n{text}");
        if let Err(ImportError::Invalid(errors)) = parse_text(&text) {
            // A lone CR ends a line too (Excel for Mac "CSV (Macintosh)").
            let unix = text.replace("\r\n", "\n").replace('\r', "\n");
            let lines = unix.lines().count().max(1) + 1;
            prop_assert!(errors.iter().all(|e| e.line >= 1 && e.line <= lines));
        }
    }

    #[test]
    fn json_element_lines_match_the_elements(
        layout in proptest::collection::vec((0usize..3, any::<bool>()), 0..20),
    ) {
        // Elements of varied shapes, separated by varied numbers of newlines.
        let mut text = String::from("[");
        let mut expected = Vec::new();
        let mut line = 1;
        for (i, (newlines, nested)) in layout.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            for _ in 0..*newlines {
                text.push('\n');
                line += 1;
            }
            expected.push(line);
            if *nested {
                text.push_str("{\"a\": [1, {\"b\": \"],\\\"[\"}],\n\"c\": {}}");
                line += 1;
            } else {
                text.push_str("\"x,[\"");
            }
        }
        text.push(']');
        prop_assert!(serde_json::from_str::<Value>(&text).is_ok());
        prop_assert_eq!(element_lines(&text, 1), expected);
    }
}
