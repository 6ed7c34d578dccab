//! The device lifecycle through its public API only: a manufacturer file is imported, each
//! device commissioned, then claimed, activated, unclaimed and claimed again; the master key
//! is rotated along the way.

use jsd::device::{
    claim, commission, parse_import, ClaimError, ClaimOutcome, DeviceState, EventKind, Format,
    Home, ImportError, Keyring, Limits, MasterKey, OwnerToken, Unclaimer,
};
use lorawan::ids::NetId;

const FILE: &str = "\
DevEUI,JoinEUI,AppKey,NwkKey,LoRaWANVersion,ProfileID
70B3D57ED0000001,70B3D57ED0000000,2B7E151628AED2A6ABF7158809CF4F3C,,1.0.3,0000-0001
70B3D57ED0000002,70B3D57ED0000000,2B7E151628AED2A6ABF7158809CF4F3C,000102030405060708090A0B0C0D0E0F,1.1,
";

#[test]
fn import_commission_claim_activate_unclaim_and_rotate() {
    let rows = parse_import(
        FILE.as_bytes(),
        Format::detect(FILE.as_bytes()),
        Limits::default(),
    )
    .expect("valid file");
    assert_eq!(rows.len(), 2);

    let old: MasterKey = "000102030405060708090a0b0c0d0e0f".parse().expect("hex");
    let ring = Keyring::new(old.clone(), vec![]).expect("keyring");
    let mut devices = Vec::new();
    for row in &rows {
        let (record, token) = commission(row, &ring, 1_700_000_000, "batch-42").expect("random");
        // What the manufacturer gets back, once, to print on the QR code.
        let printed = token.expose_text();
        devices.push((record, printed));
    }

    let home_a = Home {
        net_id: NetId::from_u32(0x13).expect("24 bits"),
        nsid: None,
    };
    let home_b = Home {
        net_id: NetId::from_u32(0x600_01c).expect("24 bits"),
        nsid: None,
    };
    let (record, printed) = &mut devices[1];
    // The owner types the token in groups, in lower case.
    let typed: OwnerToken = printed
        .to_lowercase()
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
        .parse()
        .expect("tolerant parsing");

    assert_eq!(
        claim(Some(record), &typed, home_a, 1_700_000_100),
        Ok(ClaimOutcome::Claimed)
    );
    assert_eq!(
        claim(Some(record), &typed, home_b, 1_700_000_200),
        Err(ClaimError::AlreadyClaimed)
    );
    assert_eq!(record.lifecycle.activate(1_700_000_300), Ok(home_a));
    record
        .lifecycle
        .unclaim(Unclaimer::Network(home_a), 1_700_000_400)
        .expect("home unclaims");
    assert_eq!(record.lifecycle.state, DeviceState::Unclaimed);
    assert_eq!(
        claim(Some(record), &typed, home_b, 1_700_000_500),
        Ok(ClaimOutcome::Claimed)
    );
    let kinds: Vec<_> = record
        .lifecycle
        .history
        .events()
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::Imported,
            EventKind::Claimed,
            EventKind::Activated,
            EventKind::Unclaimed,
            EventKind::Claimed
        ]
    );

    // Rotation: a new current key, the old one retired; records still open, then move.
    let new: MasterKey = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff".parse().expect("hex");
    let rotated = Keyring::new(new, vec![old]).expect("keyring");
    let before = record.root_keys(&rotated).expect("old key still known");
    assert!(record.reseal(&rotated).expect("reseal"));
    assert_eq!(record.root_keys(&rotated), Ok(before));
    assert_eq!(before.nwk_key, rows[1].nwk_key);

    // Logs of the whole record show no secret.
    let debug = format!("{devices:?}");
    assert!(!debug.to_lowercase().contains("2b7e1516"), "{debug}");
}

#[test]
fn a_file_with_one_bad_row_imports_nothing() {
    let bad = FILE.replace("0000-0001", "0000-0001\u{7}");
    let result = parse_import(bad.as_bytes(), Format::Csv, Limits::default());
    let Err(ImportError::Invalid(errors)) = result else {
        panic!("expected errors, got {result:?}");
    };
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].line, 2);
    assert_eq!(errors[0].field.as_deref(), Some("ProfileID"));
}
