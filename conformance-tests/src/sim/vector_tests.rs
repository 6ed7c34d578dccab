//! The simulator's device crypto against the public vectors of `shared/vectors` (see its
//! README): every vector of the files it touches is checked, by id, so a vector added later
//! fails here until it is understood.

use serde_json::Value;

use super::crypto::{
    self, derive_1_0, derive_1_1, js_enc_key, js_int_key, CipherKey, DevAddr, Direction,
    FOptsCounter, MicKey,
};
use super::device::{Device, MacVersion, OtaaKeys, SessionKeys, Uplink};
use crate::corpus::shared_dir;
use crate::load::frame::{Eui64, Key};

fn vectors(name: &str) -> Vec<Value> {
    let path = shared_dir().join("vectors").join(name);
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file: Value = serde_json::from_slice(&text).expect("vector file is JSON");
    file["vectors"].as_array().expect("a vectors array").clone()
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} missing in {v}"))
}

fn bytes(v: &Value, field: &str) -> Vec<u8> {
    hex::decode(text(v, field)).unwrap_or_else(|e| panic!("{field}: {e}"))
}

fn key(v: &Value, field: &str) -> Key {
    bytes(v, field).try_into().expect("16-byte key")
}

fn num(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} missing in {v}"))
}

fn hex_u64(v: &Value, field: &str) -> u64 {
    u64::from_str_radix(text(v, field), 16).expect("hex number")
}

fn dev_addr(v: &Value) -> DevAddr {
    DevAddr(hex_u64(v, "dev_addr") as u32)
}

fn id(v: &Value) -> &str {
    text(v, "id")
}

fn dir(v: &Value) -> Direction {
    match text(v, "direction") {
        "up" => Direction::Uplink,
        "down" => Direction::Downlink,
        other => panic!("direction {other}"),
    }
}

/// A 1.0 ABP device holding `nwk`/`app` with its next FCntUp at `fcnt`.
fn abp_1_0(addr: DevAddr, nwk: Key, app: Key, fcnt: u32) -> Device {
    let mut d = Device::abp(
        MacVersion::V1_0_4,
        addr,
        SessionKeys::V1_0 {
            nwk_s_key: nwk,
            app_s_key: app,
        },
    )
    .expect("abp");
    d.set_fcnt_up(fcnt).expect("session");
    d
}

fn abp_1_1(i: &Value, f_nwk: Option<Key>) -> Device {
    Device::abp(
        MacVersion::V1_1,
        dev_addr(i),
        SessionKeys::V1_1 {
            f_nwk_s_int_key: f_nwk.unwrap_or_else(|| key(i, "f_nwk_s_int_key")),
            s_nwk_s_int_key: key(i, "s_nwk_s_int_key"),
            nwk_s_enc_key: key(i, "nwk_s_enc_key"),
            app_s_key: key(i, "app_s_key"),
        },
    )
    .expect("abp")
}

#[test]
fn data_mic_vectors() {
    let all = vectors("data_mic.json");
    assert_eq!(all.len(), 22, "README lists 22 data_mic vectors");
    let mut checked = 0;
    for v in &all {
        let i = &v["inputs"];
        let e = &v["expected"];
        let vid = id(v);
        if vid.starts_with("tts-") {
            let msg = bytes(i, "msg_without_mic");
            let fcnt = num(i, "fcnt") as u32;
            let k = &i["keys"];
            let mic = match (text(v, "lorawan_version"), dir(v)) {
                ("1.0", d) => crypto::data_mic_1_0(
                    &MicKey::new(&key(k, "nwk_s_key")),
                    d,
                    dev_addr(i),
                    fcnt,
                    &msg,
                ),
                ("1.1", Direction::Uplink) => crypto::uplink_mic_1_1(
                    &MicKey::new(&key(k, "f_nwk_s_int_key")),
                    &MicKey::new(&key(k, "s_nwk_s_int_key")),
                    dev_addr(i),
                    fcnt,
                    num(i, "conf_fcnt") as u16,
                    num(i, "tx_dr") as u8,
                    num(i, "tx_ch") as u8,
                    &msg,
                ),
                ("1.1", Direction::Downlink) => crypto::downlink_mic_1_1(
                    &MicKey::new(&key(k, "s_nwk_s_int_key")),
                    dev_addr(i),
                    fcnt,
                    num(i, "conf_fcnt") as u16,
                    &msg,
                ),
                (other, _) => panic!("{vid}: version {other}"),
            };
            assert_eq!(mic.expect("mic"), bytes(e, "mic")[..], "{vid}");
        } else if vid.starts_with("generated-fcnt32-") {
            let msg = bytes(i, "msg_without_mic");
            let fcnt = num(i, "full_fcnt") as u32;
            let conf = num(i, "conf_fcnt_used") as u16;
            let k = &i["keys"];
            let (mic10, mic11) = match dir(v) {
                Direction::Uplink => {
                    let f = MicKey::new(&key(k, "f_nwk_s_int_key_or_nwk_s_key"));
                    let s = MicKey::new(&key(k, "s_nwk_s_int_key"));
                    let (dr, ch) = (num(i, "tx_dr") as u8, num(i, "tx_ch") as u8);
                    (
                        crypto::data_mic_1_0(&f, Direction::Uplink, dev_addr(i), fcnt, &msg),
                        crypto::uplink_mic_1_1(&f, &s, dev_addr(i), fcnt, conf, dr, ch, &msg),
                    )
                }
                Direction::Downlink => {
                    let s = MicKey::new(&key(k, "s_nwk_s_int_key_or_nwk_s_key"));
                    (
                        crypto::data_mic_1_0(&s, Direction::Downlink, dev_addr(i), fcnt, &msg),
                        crypto::downlink_mic_1_1(&s, dev_addr(i), fcnt, conf, &msg),
                    )
                }
            };
            assert_eq!(mic10.expect("mic"), bytes(e, "mic_1_0")[..], "{vid}");
            assert_eq!(mic11.expect("mic"), bytes(e, "mic_1_1")[..], "{vid}");
        } else {
            check_full_frame(vid, i, e);
        }
        checked += 1;
    }
    assert_eq!(checked, 22);
}

/// The full-frame vectors: the device builds the uplinks byte for byte, and accepts and
/// decrypts the downlinks.
fn check_full_frame(vid: &str, i: &Value, e: &Value) {
    let phy = bytes(i, "phy");
    let fcnt = num(i, "fcnt") as u32;
    let built = match vid {
        "brocaar-1.0-up-frmpayload" => {
            abp_1_0(dev_addr(i), key(i, "nwk_s_key"), key(i, "app_s_key"), fcnt).uplink(&Uplink {
                adr: true,
                ..Uplink::unconfirmed(1, b"hello")
            })
        }
        "brocaar-1.0-up-fopts" => {
            abp_1_0(dev_addr(i), key(i, "nwk_s_key"), key(i, "app_s_key"), fcnt).uplink(&Uplink {
                fopts: &[0x02, 0x03, 0x05],
                ..Uplink::unconfirmed(1, &[1, 2, 3, 4])
            })
        }
        "brocaar-1.0-up-maccmd-frmpayload" => {
            abp_1_0(dev_addr(i), key(i, "nwk_s_key"), key(i, "app_s_key"), fcnt)
                .uplink(&Uplink::unconfirmed(0, &[0x02, 0x03, 0x05]))
        }
        "lrwn-doc-1.0-confirmed-up" => {
            abp_1_0(dev_addr(i), key(i, "nwk_s_key"), key(i, "app_s_key"), fcnt).uplink(&Uplink {
                fopts: &bytes(e, "fopts"),
                ..Uplink::confirmed(10, &bytes(e, "frm_payload_plaintext"))
            })
        }
        "brocaar-1.1-up-frmpayload" => {
            let mut d = abp_1_1(i, None);
            d.set_fcnt_up(fcnt).expect("session");
            d.uplink(&Uplink {
                adr: true,
                tx_dr: num(i, "tx_dr") as u8,
                tx_ch: num(i, "tx_ch") as u8,
                ..Uplink::unconfirmed(1, b"hello")
            })
        }
        "brocaar-1.1-up-maccmd-frmpayload" => {
            // The vector's FPort-0 payload is the 1.0 frame's (encrypted with the AppSKey,
            // where 1.1 uses NwkSEncKey): only its MIC is a 1.1 fact, so check that alone.
            let msg = &phy[..phy.len() - 4];
            let mic = crypto::uplink_mic_1_1(
                &MicKey::new(&key(i, "f_nwk_s_int_key")),
                &MicKey::new(&key(i, "s_nwk_s_int_key")),
                dev_addr(i),
                fcnt,
                0, // ACK clear
                num(i, "tx_dr") as u8,
                num(i, "tx_ch") as u8,
                msg,
            );
            assert_eq!(mic.expect("mic"), bytes(e, "mic")[..], "{vid}");
            return;
        }
        "brocaar-1.1-up-ack" => {
            // ConfFCnt = 1: the device acknowledges the confirmed downlink it got with
            // NFCntDown 1; have it receive one (built by hand from the same keys).
            let mut d = abp_1_1(i, None);
            let s = MicKey::new(&key(i, "s_nwk_s_int_key"));
            let mut down = vec![0xa0, 0x04, 0x03, 0x02, 0x01, 0x00, 0x01, 0x00];
            let mic = crypto::downlink_mic_1_1(&s, dev_addr(i), 1, 0, &down).expect("mic");
            down.extend_from_slice(&mic);
            let got = d.accept_downlink(&down).expect("confirmed downlink");
            assert!(got.confirmed && got.fcnt == 1, "{vid}");
            d.set_fcnt_up(fcnt).expect("session");
            d.uplink(&Uplink {
                adr: true,
                ack: true,
                tx_dr: num(i, "tx_dr") as u8,
                tx_ch: num(i, "tx_ch") as u8,
                ..Uplink::unconfirmed(1, b"hello")
            })
        }
        "brocaar-1.1-down-fopts-encrypted" | "brocaar-1.1-down-fopts-plain" => {
            let mut d = abp_1_1(i, None);
            let got = d
                .accept_downlink(&phy)
                .unwrap_or_else(|e| panic!("{vid}: {e}"));
            assert_eq!(got.fcnt, fcnt, "{vid}");
            if vid.ends_with("encrypted") {
                assert_eq!(got.fopts, bytes(e, "fopts_plaintext"), "{vid}");
                assert_eq!(
                    got.mac_commands(),
                    &bytes(e, "fopts_plaintext")[..],
                    "{vid}"
                );
                assert_eq!(got.fport, None, "{vid}");
            } else {
                assert_eq!(got.fport, Some(1), "{vid}");
            }
            return;
        }
        "lrwn-doc-1.1-down-encrypted-fopts" => {
            let mut d = abp_1_1(i, Some([0; 16]));
            let got = d
                .accept_downlink(&phy)
                .unwrap_or_else(|e| panic!("{vid}: {e}"));
            assert_eq!(got.fopts, bytes(e, "fopts_plaintext"), "{vid}");
            assert_eq!(got.fport, Some(1), "{vid}");
            assert_eq!(got.payload, bytes(e, "frm_payload_plaintext"), "{vid}");
            assert_eq!(d.session().and_then(|s| s.afcnt_down()), Some(0), "{vid}");
            assert_eq!(d.session().and_then(|s| s.nfcnt_down()), None, "{vid}");
            return;
        }
        other => panic!("data_mic vector {other} not understood by this test"),
    };
    assert_eq!(hex::encode(built.expect(vid)), hex::encode(&phy), "{vid}");
}

#[test]
fn frm_payload_and_fopts_encryption_vectors() {
    let all = vectors("frm_payload_encryption.json");
    assert_eq!(all.len(), 8);
    for v in &all {
        let (i, e, vid) = (&v["inputs"], &v["expected"], id(v));
        let fcnt = num(i, "fcnt") as u32;
        if vid.starts_with("tts-") {
            let k = CipherKey::new(&key(i, "key"));
            let mut data = bytes(i, "plaintext");
            match text(i, "a_block_bytes_1_to_4") {
                "00000000" => crypto::crypt_frm_payload(&k, dir(i), dev_addr(i), fcnt, &mut data),
                "00000001" => crypto::crypt_fopts(
                    &k,
                    FOptsCounter::NetworkOrUp,
                    dir(i),
                    dev_addr(i),
                    fcnt,
                    &mut data,
                ),
                other => panic!("{vid}: A block {other}"),
            }
            assert_eq!(hex::encode(&data), text(e, "ciphertext"), "{vid}");
        } else {
            let mut data = bytes(i, "plaintext_33_bytes");
            let k = CipherKey::new(&key(i, "frm_key"));
            crypto::crypt_frm_payload(&k, dir(i), dev_addr(i), fcnt, &mut data);
            assert_eq!(hex::encode(&data), text(e, "frm_ciphertext"), "{vid}");
            let nk = CipherKey::new(&key(i, "nwk_s_enc_key"));
            for (counter, field) in [
                (FOptsCounter::NetworkOrUp, "fopts_ciphertext_a4_01"),
                (FOptsCounter::AppDown, "fopts_ciphertext_a4_02"),
            ] {
                let mut fopts = bytes(i, "fopts_plaintext");
                crypto::crypt_fopts(&nk, counter, dir(i), dev_addr(i), fcnt, &mut fopts);
                assert_eq!(hex::encode(&fopts), text(e, field), "{vid} {field}");
            }
        }
    }
}

#[test]
fn join_request_and_rejoin_mic_vectors() {
    let all = vectors("join_request_mic.json");
    assert_eq!(all.len(), 8);
    for v in &all {
        let (i, e, vid) = (&v["inputs"], &v["expected"], id(v));
        let k = key(i, "key");
        match vid {
            "tts-join-request-mic" | "lrwn-brocaar-join-request" | "brocaar-join-request-2" => {
                // The device builds the whole frame, as a 1.0.x (AppKey) and as a 1.1 (NwkKey)
                // device.
                let ids = if vid == "brocaar-join-request-2" {
                    e
                } else {
                    i
                };
                let keys = OtaaKeys {
                    dev_eui: Eui64(hex_u64(ids, "dev_eui")),
                    join_eui: Eui64(hex_u64(ids, "join_eui")),
                    app_key: k,
                    nwk_key: None,
                };
                let nonce = num(ids, "dev_nonce") as u16;
                let mut v10 = Device::otaa(MacVersion::V1_0_3, keys).expect("otaa");
                let phy = v10.join_request_with_dev_nonce(nonce).expect("join");
                let mut v11 = Device::otaa(
                    MacVersion::V1_1,
                    OtaaKeys {
                        app_key: [0; 16],
                        nwk_key: Some(k),
                        ..keys
                    },
                )
                .expect("otaa");
                let phy11 = v11.join_request_with_dev_nonce(nonce).expect("join");
                assert_eq!(phy, phy11, "{vid}");
                assert_eq!(hex::encode(&phy[19..]), text(e, "mic"), "{vid}");
                if vid == "tts-join-request-mic" {
                    assert_eq!(hex::encode(&phy[..19]), text(i, "msg_without_mic"), "{vid}");
                } else {
                    assert_eq!(hex::encode(phy), text(i, "phy"), "{vid}");
                }
            }
            _ if vid.starts_with("tts-rejoin") => {
                let mic = MicKey::new(&k).mic(&[&bytes(i, "msg_without_mic")]);
                assert_eq!(hex::encode(mic), text(e, "mic"), "{vid}");
            }
            _ if vid.starts_with("brocaar-rejoin") => {
                let phy = bytes(i, "phy");
                let mic = MicKey::new(&k).mic(&[&phy[..phy.len() - 4]]);
                assert_eq!(hex::encode(mic), text(e, "mic"), "{vid}");
            }
            other => panic!("join_request_mic vector {other} not understood by this test"),
        }
    }
}

#[test]
fn join_accept_vectors() {
    let all = vectors("join_accept.json");
    assert_eq!(all.len(), 14);
    for v in &all {
        let (i, e, vid) = (&v["inputs"], &v["expected"], id(v));
        match vid {
            "tts-join-accept-encryption" => {
                // The device "decrypts" with AES encrypt: ciphertext → plaintext.
                let mut data = bytes(e, "ciphertext");
                CipherKey::new(&key(i, "key")).encrypt_blocks(&mut data);
                assert_eq!(hex::encode(data), text(i, "plaintext_payload_and_mic"));
            }
            "tts-legacy-join-accept-mic" => {
                let mic = crypto::join_accept_mic(
                    &MicKey::new(&key(i, "key")),
                    None,
                    &bytes(i, "mhdr_and_payload"),
                );
                assert_eq!(hex::encode(mic), text(e, "mic"));
            }
            "tts-join-accept-mic-1.1" => {
                let ctx = (
                    0xff,
                    Eui64(hex_u64(i, "join_eui")),
                    num(i, "dev_nonce") as u16,
                );
                let mic = crypto::join_accept_mic(
                    &MicKey::new(&key(i, "js_int_key")),
                    Some(ctx),
                    &bytes(i, "mhdr_and_payload"),
                );
                assert_eq!(hex::encode(mic), text(e, "mic"));
            }
            "brocaar-join-accept-1.0" | "lrwn-brocaar-join-accept-1.0" => {
                // A 1.0 device accepts the frame whole.
                let (k, phy) = if vid.starts_with("brocaar") {
                    (key(i, "app_key"), bytes(i, "phy_encrypted"))
                } else {
                    (key(i, "key"), bytes(e, "phy_encrypted"))
                };
                let mut d = Device::otaa(
                    MacVersion::V1_0_2,
                    OtaaKeys {
                        dev_eui: Eui64(1),
                        join_eui: Eui64(2),
                        app_key: k,
                        nwk_key: None,
                    },
                )
                .expect("otaa");
                d.join_request_with_dev_nonce(258).expect("join");
                let got = d
                    .accept_join_accept(&phy)
                    .unwrap_or_else(|e| panic!("{vid}: {e}"));
                let (nonce, net, addr) = if vid.starts_with("brocaar") {
                    (num(e, "join_nonce"), text(e, "net_id"), text(e, "dev_addr"))
                } else {
                    (
                        num(i, "join_nonce"),
                        text(i, "home_net_id"),
                        text(i, "dev_addr"),
                    )
                };
                assert_eq!(u64::from(got.join_nonce), nonce, "{vid}");
                assert_eq!(format!("{:06x}", got.net_id), net, "{vid}");
                assert_eq!(got.dev_addr.to_string(), addr, "{vid}");
                assert!(!got.opt_neg, "{vid}");
            }
            _ => {
                // 1.1 vectors with stand-in keys (one key as both JSIntKey and encryption
                // key): the primitives, decryption then MIC.
                let (mic_key, enc_key, plain) = if vid == "lrwn-brocaar-join-accept-1.1-optneg" {
                    let mut plain = bytes(i, "plaintext_mhdr_and_payload");
                    plain.extend_from_slice(&bytes(e, "mic"));
                    (key(i, "key"), key(i, "key"), plain)
                } else {
                    assert!(
                        vid.starts_with("generated-join-accept-1.1"),
                        "{vid} unknown"
                    );
                    (
                        key(i, "js_int_key"),
                        key(i, "encryption_key"),
                        bytes(i, "plaintext_phy"),
                    )
                };
                let mut phy = bytes(e, "phy_encrypted");
                CipherKey::new(&enc_key).encrypt_blocks(&mut phy[1..]);
                assert_eq!(hex::encode(&phy), hex::encode(&plain), "{vid}");
                let req_type =
                    u8::from_str_radix(text(i, "join_req_type").trim_start_matches("0x"), 16)
                        .expect("JoinReqType");
                let nonce = i["dev_nonce"]
                    .as_u64()
                    .or(i["dev_nonce_or_rjcount"].as_u64())
                    .expect("nonce") as u16;
                let ctx = (req_type, Eui64(hex_u64(i, "join_eui")), nonce);
                let msg = &plain[..plain.len() - 4];
                let mic = crypto::join_accept_mic(&MicKey::new(&mic_key), Some(ctx), msg);
                assert_eq!(hex::encode(mic), text(e, "mic"), "{vid}");
            }
        }
    }
}

#[test]
fn session_key_vectors() {
    let all = vectors("session_keys.json");
    assert_eq!(all.len(), 4);
    for v in &all {
        let (i, e, vid) = (&v["inputs"], &v["expected"], id(v));
        let hex_of = |k: Key| hex::encode(k);
        match vid {
            "tts-key-derivation" => {
                let root = key(i, "root_key");
                let nonce = num(i, "join_nonce") as u32;
                let dn = num(i, "dev_nonce") as u16;
                let je = Eui64(hex_u64(i, "join_eui"));
                let de = Eui64(hex_u64(i, "dev_eui"));
                let [f, s, n, a] = derive_1_1(&root, &root, nonce, je, dn);
                assert_eq!(hex_of(f), text(e, "f_nwk_s_int_key"));
                assert_eq!(hex_of(s), text(e, "s_nwk_s_int_key"));
                assert_eq!(hex_of(n), text(e, "nwk_s_enc_key"));
                assert_eq!(hex_of(a), text(e, "app_s_key_1.1"));
                let (nwk, app) = derive_1_0(&root, nonce, hex_u64(i, "net_id") as u32, dn);
                assert_eq!(hex_of(nwk), text(e, "nwk_s_key_1.0"));
                assert_eq!(hex_of(app), text(e, "app_s_key_1.0"));
                assert_eq!(hex_of(js_int_key(&root, de)), text(e, "js_int_key"));
                assert_eq!(hex_of(js_enc_key(&root, de)), text(e, "js_enc_key"));
            }
            "lrwn-keys-1.0" => {
                let (nwk, app) = derive_1_0(
                    &key(i, "nwk_key_or_app_key"),
                    num(i, "join_nonce") as u32,
                    hex_u64(i, "net_id") as u32,
                    num(i, "dev_nonce") as u16,
                );
                assert_eq!(hex_of(nwk), text(e, "nwk_s_key"));
                assert_eq!(hex_of(app), text(e, "app_s_key"));
            }
            "lrwn-keys-1.1" => {
                let [f, s, n, a] = derive_1_1(
                    &key(i, "nwk_key"),
                    &key(i, "app_key"),
                    num(i, "join_nonce") as u32,
                    Eui64(hex_u64(i, "join_eui")),
                    num(i, "dev_nonce") as u16,
                );
                assert_eq!(hex_of(f), text(e, "f_nwk_s_int_key"));
                assert_eq!(hex_of(s), text(e, "s_nwk_s_int_key"));
                assert_eq!(hex_of(n), text(e, "nwk_s_enc_key"));
                assert_eq!(hex_of(a), text(e, "app_s_key"));
            }
            "generated-keys" => generated_keys_through_the_device(i, e),
            other => panic!("session_keys vector {other} not understood by this test"),
        }
    }
}

/// `generated-keys` end to end: 1.0.4 and 1.1 devices join with a join-accept made by the
/// `lorawan` crate (the oracle) from the vector's inputs and end with the vector's keys.
fn generated_keys_through_the_device(i: &Value, e: &Value) {
    use lorawan::ids::{AesKey, DevAddr as LDevAddr, Eui64 as LEui64, NetId};
    use lorawan::join::{JoinAcceptBuilder, JoinNonce, JoinReqType};
    use lorawan::phy::DlSettings;

    let nwk_key = key(i, "nwk_key");
    let app_key = key(i, "app_key");
    let join_eui = hex_u64(i, "join_eui");
    let dev_eui = hex_u64(i, "dev_eui");
    let dev_nonce = num(i, "dev_nonce") as u16;
    let builder = JoinAcceptBuilder {
        join_nonce: JoinNonce::new(num(i, "join_nonce") as u32).expect("24 bits"),
        home_net_id: NetId::from_u32(hex_u64(i, "net_id") as u32).expect("24 bits"),
        dev_addr: LDevAddr::from_u32(0x2601_1bda),
        dl_settings: DlSettings::new(1, 3),
        rx_delay: 1,
        cf_list: None,
    };

    // 1.0.4: the vector's v10 keys use nwk_key as the root, i.e. as the 1.0 AppKey.
    let keys = OtaaKeys {
        dev_eui: Eui64(dev_eui),
        join_eui: Eui64(join_eui),
        app_key: nwk_key,
        nwk_key: None,
    };
    let mut d = Device::otaa(MacVersion::V1_0_4, keys).expect("otaa");
    d.join_request_with_dev_nonce(dev_nonce).expect("join");
    let accept = builder.build_1_0(&AesKey::new(nwk_key));
    let got = d.accept_join_accept(&accept).expect("1.0 accept");
    assert_eq!(got.dev_addr, DevAddr(0x2601_1bda));
    assert_eq!(
        (got.rx.rx1_dr_offset, got.rx.rx2_dr, got.rx.rx1_delay_s),
        (1, 3, 1)
    );
    let Some(SessionKeys::V1_0 {
        nwk_s_key,
        app_s_key,
    }) = d.session().map(|s| *s.keys())
    else {
        panic!("1.0 session expected");
    };
    assert_eq!(hex::encode(nwk_s_key), text(e, "v10_nwk_s_key"));
    assert_eq!(hex::encode(app_s_key), text(e, "v10_app_s_key"));

    // 1.1, OptNeg set: JSIntKey MIC over JoinReqType | JoinEUI | DevNonce, NwkKey encryption.
    let keys = OtaaKeys {
        app_key,
        nwk_key: Some(nwk_key),
        ..keys
    };
    let mut d = Device::otaa(MacVersion::V1_1, keys).expect("otaa");
    d.join_request_with_dev_nonce(dev_nonce).expect("join");
    let nk = AesKey::new(nwk_key);
    let js_int = lorawan::keys::js_int_key(&nk, LEui64::from_u64(dev_eui));
    let accept = builder.build_1_1(
        &lorawan::crypto::MicKey::new(&js_int),
        &nk,
        JoinReqType::Join,
        LEui64::from_u64(join_eui),
        dev_nonce,
    );
    let got = d.accept_join_accept(&accept).expect("1.1 accept");
    assert!(got.opt_neg);
    let Some(SessionKeys::V1_1 {
        f_nwk_s_int_key,
        s_nwk_s_int_key,
        nwk_s_enc_key,
        app_s_key,
    }) = d.session().map(|s| *s.keys())
    else {
        panic!("1.1 session expected");
    };
    assert_eq!(hex::encode(f_nwk_s_int_key), text(e, "v11_f_nwk_s_int_key"));
    assert_eq!(hex::encode(s_nwk_s_int_key), text(e, "v11_s_nwk_s_int_key"));
    assert_eq!(hex::encode(nwk_s_enc_key), text(e, "v11_nwk_s_enc_key"));
    assert_eq!(
        hex::encode(app_s_key),
        text(e, "v11_app_s_key_from_app_key")
    );
    assert_eq!(hex::encode(js_int.bytes()), text(e, "js_int_key"));
    assert_eq!(
        hex::encode(js_enc_key(&nwk_key, Eui64(dev_eui))),
        text(e, "js_enc_key")
    );
}
