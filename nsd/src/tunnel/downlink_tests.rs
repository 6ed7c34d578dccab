//! Every rejection of seed 001 §7.1.5 (v1) and §7.1.6 (v2), with its exact code and text.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lorawan::ids::AesKey;

use super::*;
use crate::tunnel::AsProfile;

const KEY: &str = "46ab678cd45df4a4e4b375eacd096acc";
/// The §7.3.2 example's query line as sent in a URL (Time encoded, §5.1.2), with its token.
const EXAMPLE: &str = "DevEUI=000000000F1D8693&FPort=1&Payload=00&AS_ID=app1.sample.com&Time=2016-01-11T14%3A28%3A00.333%2B02%3A00&Token=63a4ec6532937c9bcba109a75f731d6dc192c9df662dee56757634a8a6dc3f4c";

fn key() -> AesKey {
    KEY.parse().expect("key")
}

/// The example's Time: 2016-01-11T12:28:00.333Z.
fn example_now() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_452_515_280_333)
}

fn profile() -> AsProfile {
    AsProfile::new("app1.sample.com", Some(key()), "http://127.0.0.1:1/as")
}

/// A signed query line from `params` (raw values), encoded like an AS does.
fn signed(params: &[(&str, &str)]) -> String {
    let raw: Vec<String> = params.iter().map(|(n, v)| format!("{n}={v}")).collect();
    let raw = raw.join("&");
    let token = token::to_hex(&token::downlink_token(raw.as_bytes(), &key()));
    let url: Vec<String> = params
        .iter()
        .map(|(n, v)| format!("{n}={}", crate::tunnel::encode::percent_encode(v)))
        .collect();
    format!("{}&Token={token}", url.join("&"))
}

fn check(query: &str) -> Result<DownlinkSubmission, Rejection> {
    let raw = RawDownlink::from_query(query);
    raw.dev_eui()?;
    authenticate(&raw, &profile(), example_now())?;
    validate(&raw, example_now())
}

const TIME: &str = "2016-01-11T14:28:00.333+02:00";
const DEV: &str = "000000000F1D8693";

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut params = vec![("DevEUI", DEV), ("FPort", "1"), ("Payload", "00")];
    params.extend_from_slice(extra);
    params.push(("AS_ID", "app1.sample.com"));
    params.push(("Time", TIME));
    params
}

#[test]
fn the_worked_example_is_accepted() {
    let submission = check(EXAMPLE).expect("§7.3.2 verifies");
    let frame = submission.frame.expect("a frame");
    assert_eq!(frame.f_port, 1);
    assert_eq!(frame.payload, Payload::Clear(vec![0x00]));
    assert_eq!(frame.confirmation, Confirmation::Unconfirmed);
    assert!(!submission.flush);
    // The same line with the Time sent raw (`+` not encoded) verifies as well.
    let raw_time = EXAMPLE.replace("%3A", ":").replace("%2B", "+");
    assert!(check(&raw_time).is_ok());
}

#[test]
fn every_parameter_is_read() {
    let query = signed(&with(&[
        ("FCntDn", "41"),
        ("Confirmed", "1"),
        ("FlushDownlinkQueue", "1"),
        ("ValidityTime", "60"),
        ("CorrelationID", "4434704901C7450B"),
    ]));
    let submission = check(&query).expect("accepted");
    assert!(submission.flush);
    assert_eq!(submission.counter, Some(AsCounter::FCntDn(41)));
    let frame = submission.frame.expect("frame");
    assert_eq!(frame.payload, Payload::Encrypted(vec![0]));
    assert_eq!(frame.fcnt, Some(41));
    assert_eq!(frame.confirmation, Confirmation::Confirmed);
    assert_eq!(
        frame.validity,
        Some(example_now() + Duration::from_secs(60))
    );
    assert_eq!(frame.correlation_id.as_deref(), Some("4434704901C7450B"));
    let v11 = check(&signed(&with(&[("AFCntDn", "7")]))).expect("1.1 counter");
    assert_eq!(v11.counter, Some(AsCounter::AFCntDn(7)));
    // Flush only: no FPort, no payload.
    let flush = check(&signed(&[
        ("DevEUI", DEV),
        ("FlushDownlinkQueue", "1"),
        ("AS_ID", "app1.sample.com"),
        ("Time", TIME),
    ]))
    .expect("flush only");
    assert!(flush.flush && flush.frame.is_none());
}

fn rejected(query: &str) -> Rejection {
    check(query).expect_err("rejected")
}

#[test]
fn device_and_security_rejections() {
    assert_eq!(rejected("FPort=1&Payload=00"), Rejection::InvalidDevEui);
    assert_eq!(rejected("DevEUI=00000000F1D8693"), Rejection::InvalidDevEui);
    assert_eq!(
        rejected("DevEUI=0x0000000F1D8693"),
        Rejection::InvalidDevEui
    );
    let no_as_id = EXAMPLE.replace("&AS_ID=app1.sample.com", "");
    assert_eq!(rejected(&no_as_id), Rejection::AsIdMissing);
    let bad_as_id = EXAMPLE.replace("AS_ID=app1", "AS_ID=app2");
    assert_eq!(rejected(&bad_as_id), Rejection::BadAsId);
    let no_time = EXAMPLE.replace("&Time=2016-01-11T14%3A28%3A00.333%2B02%3A00", "");
    assert_eq!(rejected(&no_time), Rejection::TimeMissing);
    let no_token = &EXAMPLE[..EXAMPLE.find("&Token").expect("token")];
    assert_eq!(rejected(no_token), Rejection::TokenMissing);
    let short_token = &EXAMPLE[..EXAMPLE.len() - 1];
    assert_eq!(rejected(short_token), Rejection::TokenMalformed);
    let malformed = signed(&[
        ("DevEUI", DEV),
        ("FPort", "1"),
        ("Payload", "00"),
        ("AS_ID", "app1.sample.com"),
        ("Time", "2016-01-11 14:28:00"),
    ]);
    assert_eq!(rejected(&malformed), Rejection::MalformedTime);
    let late = signed(&[
        ("DevEUI", DEV),
        ("FPort", "1"),
        ("Payload", "00"),
        ("AS_ID", "app1.sample.com"),
        ("Time", "2016-01-11T14:28:31.000+02:00"),
    ]);
    assert_eq!(rejected(&late), Rejection::TimeDeviation);
    let tampered = EXAMPLE.replace("Payload=00", "Payload=01");
    assert_eq!(rejected(&tampered), Rejection::BadToken);
}

#[test]
fn frame_rejections() {
    let bad_correlation = signed(&with(&[("CorrelationID", "4434704901C7450")]));
    assert_eq!(rejected(&bad_correlation), Rejection::InvalidCorrelationId);
    let hex_correlation = signed(&with(&[("CorrelationID", "4434704901C7450G")]));
    assert_eq!(rejected(&hex_correlation), Rejection::InvalidCorrelationId);
    for (port, expected) in [("0", true), ("225", true), ("x", true), ("224", false)] {
        let q = signed(&[
            ("DevEUI", DEV),
            ("FPort", port),
            ("Payload", "00"),
            ("AS_ID", "app1.sample.com"),
            ("Time", TIME),
        ]);
        assert_eq!(
            check(&q).err() == Some(Rejection::InvalidPort),
            expected,
            "{port}"
        );
    }
    let no_port = signed(&[
        ("DevEUI", DEV),
        ("Payload", "00"),
        ("AS_ID", "app1.sample.com"),
        ("Time", TIME),
    ]);
    assert_eq!(rejected(&no_port), Rejection::InvalidPort);
    for payload in ["0", "0g", " 00"] {
        let q = signed(&[
            ("DevEUI", DEV),
            ("FPort", "1"),
            ("Payload", payload),
            ("AS_ID", "app1.sample.com"),
            ("Time", TIME),
        ]);
        assert_eq!(rejected(&q), Rejection::PayloadInvalidSize, "{payload:?}");
    }
    let big = "00".repeat(2501);
    let big_query = signed(&[
        ("DevEUI", DEV),
        ("FPort", "1"),
        ("Payload", &big),
        ("AS_ID", "app1.sample.com"),
        ("Time", TIME),
    ]);
    assert_eq!(rejected(&big_query), Rejection::PayloadTooBig);
    let max = "00".repeat(2500);
    let max_query = signed(&[
        ("DevEUI", DEV),
        ("FPort", "1"),
        ("Payload", &max),
        ("AS_ID", "app1.sample.com"),
        ("Time", TIME),
    ]);
    assert!(check(&max_query).is_ok(), "5000 characters are allowed");
    for params in [
        vec![("DevEUI", DEV), ("FPort", "1"), ("Payload", "")],
        vec![("DevEUI", DEV), ("FPort", "1")],
    ] {
        let mut params = params;
        params.push(("AS_ID", "app1.sample.com"));
        params.push(("Time", TIME));
        assert_eq!(rejected(&signed(&params)), Rejection::EmptyPayload);
    }
    let counter = signed(&with(&[("FCntDn", "-1")]));
    assert_eq!(rejected(&counter), Rejection::EncryptionRequired);
    for validity in ["0", "2016-01-11T12:28:00.000+00:00", "tomorrow"] {
        let q = signed(&with(&[("ValidityTime", validity)]));
        assert_eq!(rejected(&q), Rejection::ValidityTime, "{validity}");
    }
    let future = signed(&with(&[("ValidityTime", "2016-01-11T13:28:00.000+00:00")]));
    assert!(check(&future).is_ok());
}

#[test]
fn without_a_key_only_the_as_id_is_checked() {
    let open = AsProfile::new("app1.sample.com", None, "http://127.0.0.1:1/as");
    let raw = RawDownlink::from_query("DevEUI=000000000F1D8693&FPort=1&Payload=00");
    assert_eq!(authenticate(&raw, &open, example_now()), Ok(()));
    let raw = RawDownlink::from_query("DevEUI=000000000F1D8693&AS_ID=other&FPort=1&Payload=00");
    assert_eq!(
        authenticate(&raw, &open, example_now()),
        Err(Rejection::BadAsId)
    );
}

#[test]
fn v1_texts_are_the_seeds() {
    let cases: Vec<(Rejection, u16, &str)> = vec![
        (Rejection::InvalidDevEui, 350, "Invalid DevEUI"),
        (
            Rejection::ConfirmedNotAllowed,
            350,
            "Confirmed downlink is not authorized for this device",
        ),
        (Rejection::InvalidPort, 350, "Invalid LoRa port"),
        (
            Rejection::AsIdMissing,
            350,
            "Security Check. AS_ID is mandatory",
        ),
        (
            Rejection::TimeMissing,
            350,
            "Security Check. missing timestamp/token",
        ),
        (
            Rejection::TokenMissing,
            350,
            "Security Check. missing timestamp/token",
        ),
        (Rejection::BadAsId, 350, "Security Check. bad AS_ID"),
        (
            Rejection::TokenMalformed,
            350,
            "Security Check. Server Decrypt Error",
        ),
        (
            Rejection::MalformedTime,
            350,
            "Security Check. malformed ISO8601 time",
        ),
        (
            Rejection::TimeDeviation,
            350,
            "Security Check. Invalid downlink frame timestamp",
        ),
        (Rejection::BadToken, 350, "Security Check. bad token"),
        (
            Rejection::ValidityTime,
            350,
            "ValidityTime expired or invalid",
        ),
        (
            Rejection::PayloadTooBig,
            350,
            "Payload too big or invalid size",
        ),
        (
            Rejection::PayloadInvalidSize,
            350,
            "Payload too big or invalid size",
        ),
        (Rejection::NoBaseStation, 404, "No Base Station Available"),
        (
            Rejection::PayloadTooBigForDataRate {
                slot: SizeLimitSlot::Rx2,
                data_rate: 0,
                max_size: 51,
            },
            350,
            "Invalid payload size according to currents DR",
        ),
        (
            Rejection::InvalidCorrelationId,
            350,
            "Invalid CorrelationID. Must be a 64 bits hexadecimal value encoded as string",
        ),
        (
            Rejection::EmptyPayload,
            350,
            "Invalid payload. Must not be empty",
        ),
        (
            Rejection::EncryptionRequired,
            350,
            "Payload must be provided encrypted with the downlink counter value",
        ),
        (Rejection::TokenBucket, 350, "Token bucket limit reached"),
        (
            Rejection::CounterAlreadyUsed { expected: 1238 },
            350,
            "Downlink counter value already used. Expected=1238",
        ),
    ];
    for (rejection, status, text) in cases {
        let (s, t) = rejection.v1();
        assert_eq!((s, t.as_ref()), (status, text), "{rejection:?}");
    }
}

#[test]
fn v2_codes_and_messages_are_the_seeds() {
    use serde_json::json;
    let cases = vec![
        (
            Rejection::InvalidDevEui,
            json!({"code":100,"message":"Invalid DevEUI"}),
        ),
        (
            Rejection::CounterAlreadyUsed { expected: 12 },
            json!({"code":101,"message":"Downlink counter value already used","expected":12}),
        ),
        (
            Rejection::CounterIncrementTooLarge { expected: 12 },
            json!({"code":102,"message":"Downlink counter value increment too large","expected":12}),
        ),
        (
            Rejection::ConfirmedNotAllowed,
            json!({"code":103,"message":"Confirmed downlink is not authorized for this device"}),
        ),
        (
            Rejection::InvalidPort,
            json!({"code":104,"message":"Invalid LoRa port"}),
        ),
        (
            Rejection::AsIdMissing,
            json!({"code":105,"message":"Security Check: AS_ID is mandatory"}),
        ),
        (
            Rejection::TimeMissing,
            json!({"code":106,"message":"Security Check: Missing timestamp"}),
        ),
        (
            Rejection::BadAsId,
            json!({"code":107,"message":"Security Check: Bad AS_ID"}),
        ),
        (
            Rejection::TokenMissing,
            json!({"code":108,"message":"Security Check: Server Decrypt Error"}),
        ),
        (
            Rejection::TokenMalformed,
            json!({"code":108,"message":"Security Check: Server Decrypt Error"}),
        ),
        (
            Rejection::MalformedTime,
            json!({"code":109,"message":"Security Check: Malformed ISO 8601 time"}),
        ),
        (
            Rejection::TimeDeviation,
            json!({"code":110,"message":"Security Check: Invalid downlink frame timestamp"}),
        ),
        (
            Rejection::BadToken,
            json!({"code":111,"message":"Security Check: Bad token"}),
        ),
        (
            Rejection::ValidityTime,
            json!({"code":112,"message":"Validity time expired or invalid"}),
        ),
        (
            Rejection::PayloadTooBig,
            json!({"code":113,"message":"Payload too big or invalid size","maxSize":5000}),
        ),
        (
            Rejection::PayloadInvalidSize,
            json!({"code":113,"message":"Payload too big or invalid size"}),
        ),
        (
            Rejection::TransmissionDisabled,
            json!({"code":114,"message":"Downlink transmission disabled"}),
        ),
        (
            Rejection::QueueFull { max: 5 },
            json!({"code":114,"message":"Downlink transmission disabled","maxQueueSize":5}),
        ),
        (
            Rejection::NoBaseStation,
            json!({"code":115,"message":"No Base Station Available"}),
        ),
        (
            Rejection::PayloadTooBigForDataRate {
                slot: SizeLimitSlot::Rx2,
                data_rate: 0,
                max_size: 51,
            },
            json!({"code":116,"message":"Invalid payload size according to currents DR","rx2DR":0,"maxSize":51}),
        ),
        (
            Rejection::PayloadTooBigForDataRate {
                slot: SizeLimitSlot::PingSlot,
                data_rate: 3,
                max_size: 115,
            },
            json!({"code":116,"message":"Invalid payload size according to currents DR","pingSlotDR":3,"maxSize":115}),
        ),
        (
            Rejection::InvalidCorrelationId,
            json!({"code":117,"message":"Invalid Correlation ID. Must be a 64 bits hexadecimal value encoded as string"}),
        ),
        (
            Rejection::EmptyPayload,
            json!({"code":118,"message":"Invalid payload. Must not be empty"}),
        ),
        (
            Rejection::EncryptionRequired,
            json!({"code":119,"message":"Payload must be provided encrypted with the downlink counter value"}),
        ),
        (
            Rejection::TokenBucket,
            json!({"code":121,"message":"Token bucket limit reached"}),
        ),
    ];
    for (rejection, expected) in cases {
        assert_eq!(rejection.v2_json(), expected, "{rejection:?}");
    }
}

#[test]
fn network_refusals_map_to_codes() {
    use crate::downlink::queue::QueueError;
    assert_eq!(
        Rejection::from(DownlinkRefusal::from(QueueError::AlreadyExpired))
            .v2()
            .0,
        112
    );
    assert_eq!(
        Rejection::from(DownlinkRefusal::from(QueueError::InvalidFPort(0)))
            .v2()
            .0,
        104
    );
    assert_eq!(
        Rejection::from(DownlinkRefusal::from(QueueError::MissingFCnt))
            .v2()
            .0,
        119
    );
    assert_eq!(
        Rejection::from(DownlinkRefusal::from(QueueError::Full { max: 5 })),
        Rejection::QueueFull { max: 5 }
    );
    assert_eq!(Rejection::from(DownlinkRefusal::UnknownDevice).v2().0, 100);
    assert_eq!(Rejection::from(DownlinkRefusal::NoBaseStation).v1().0, 404);
}

#[test]
fn the_json_body_of_seed_002() {
    // Seed 002's first example, authenticated with AS_KEY (the optional-fields example).
    let body = br#"{"DevEUI_downlink": {
        "Time": "2016-01-11T12:28:00.333+00:00",
        "DevEUI": "0018B20000000B20",
        "FPort": 1,
        "payload_hex": "9e1c4852512000220020e3831071",
        "AS_ID": "app1.sample.com",
        "AS_KEY": "46ab678cd45df4a4e4b375eacd096acc",
        "Confirmed": "1",
        "FlushDownlinkQueue": "1",
        "DriverCfg": {"app": {"pId": "abeeway", "mId": "asset-tracker", "ver": "1"}}
    }}"#;
    let raw = RawDownlink::from_json(body, "").expect("JSON");
    assert_eq!(
        raw.dev_eui().map(|d| d.to_string()),
        Ok("0018b20000000b20".to_owned())
    );
    assert_eq!(authenticate(&raw, &profile(), example_now()), Ok(()));
    let submission = validate(&raw, example_now()).expect("valid");
    assert!(submission.flush);
    assert!(submission.driver_cfg.is_some());
    let frame = submission.frame.expect("frame");
    assert_eq!(frame.f_port, 1);
    assert_eq!(frame.confirmation, Confirmation::Confirmed);
    assert_eq!(frame.payload.bytes().len(), 14);

    let wrong_key = std::str::from_utf8(body).expect("utf8").replace(
        "46ab678cd45df4a4e4b375eacd096acc",
        "46ab678cd45df4a4e4b375eacd096acd",
    );
    let raw = RawDownlink::from_json(wrong_key.as_bytes(), "").expect("JSON");
    assert_eq!(
        authenticate(&raw, &profile(), example_now()),
        Err(Rejection::BadToken)
    );

    // A Token in the body covers the body's parameters in §7.1.3's order.
    let canonical = "DevEUI=0018B20000000B20&FPort=1&Payload=00&AS_ID=app1.sample.com&Time=2016-01-11T12:28:00.333+00:00";
    let token = token::to_hex(&token::downlink_token(canonical.as_bytes(), &key()));
    let signed_body = format!(
        r#"{{"DevEUI_downlink":{{"Time":"2016-01-11T12:28:00.333+00:00","DevEUI":"0018B20000000B20","FPort":1,"payload_hex":"00","AS_ID":"app1.sample.com","Token":"{token}"}}}}"#
    );
    let raw = RawDownlink::from_json(signed_body.as_bytes(), "").expect("JSON");
    assert_eq!(authenticate(&raw, &profile(), example_now()), Ok(()));

    // A Token in the query line with the frame in the body: it covers both, merged.
    let canonical = "DevEUI=0018B20000000B20&FPort=2&Payload=0102&AS_ID=app1.sample.com&Time=2016-01-11T12:28:00.333+00:00";
    let token = token::to_hex(&token::downlink_token(canonical.as_bytes(), &key()));
    let query =
        format!("AS_ID=app1.sample.com&Time=2016-01-11T12%3A28%3A00.333%2B00%3A00&Token={token}");
    let frame =
        br#"{"DevEUI_downlink":{"DevEUI":"0018B20000000B20","FPort":2,"payload_hex":"0102"}}"#;
    let raw = RawDownlink::from_json(frame, &query).expect("JSON");
    assert_eq!(authenticate(&raw, &profile(), example_now()), Ok(()));
    let swapped =
        br#"{"DevEUI_downlink":{"DevEUI":"0018B20000000B20","FPort":2,"payload_hex":"0103"}}"#;
    let raw = RawDownlink::from_json(swapped, &query).expect("JSON");
    assert_eq!(
        authenticate(&raw, &profile(), example_now()),
        Err(Rejection::BadToken),
        "another payload under a captured token"
    );

    let both = br#"{"DevEUI_downlink":{"DevEUI":"0018B20000000B20","FPort":1,"payload_hex":"00","payload":{"a":1}}}"#;
    let raw = RawDownlink::from_json(both, "").expect("JSON");
    assert_eq!(
        validate(&raw, example_now()),
        Err(Rejection::PayloadInvalidSize)
    );
    assert_eq!(
        RawDownlink::from_json(b"{not json", "").err(),
        Some(Rejection::InvalidDevEui)
    );
}

#[test]
fn the_governor_drops_over_the_bucket() {
    use std::num::{NonZeroU32, NonZeroUsize};
    use std::time::Instant;
    let governor = DownlinkGovernor::new(NonZeroUsize::new(16).expect("16"));
    let quota = Quota::per_second(
        NonZeroU32::new(1).expect("1"),
        NonZeroU32::new(2).expect("2"),
    );
    let dev: Eui64 = DEV.parse().expect("eui");
    let other: Eui64 = "0018B20000000B20".parse().expect("eui");
    let t0 = Instant::now();
    assert_eq!(governor.admit(dev, quota, t0), Ok(()));
    assert_eq!(governor.admit(dev, quota, t0), Ok(()));
    assert_eq!(governor.admit(dev, quota, t0), Err(Rejection::TokenBucket));
    assert_eq!(governor.admit(other, quota, t0), Ok(()), "per device");
    assert_eq!(
        governor.admit(dev, quota, t0 + Duration::from_secs(1)),
        Ok(())
    );
}
