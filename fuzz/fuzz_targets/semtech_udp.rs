//! A datagram from anyone on the gateway port (Semtech UDP packet forwarder): reading the
//! header and every body never panics; a header that reads re-encodes to a datagram that
//! reads the same; a `PULL_RESP` txpk and a `TX_ACK` body re-encode to what reads the same;
//! the frames a `PUSH_DATA` yields belong to its gateway, and its skipped entries are
//! reported in order. `nsd/src/gateway/semtech/codec/tests.rs` replays the same checks with
//! proptest on stable.
//!
//! Seeds (real forwarder datagrams) are kept in `seeds/semtech_udp/`; pass both, the
//! writable corpus first:
//! `cargo +nightly fuzz run semtech_udp corpus/semtech_udp seeds/semtech_udp`
#![no_main]

use libfuzzer_sys::fuzz_target;
use nsd::gateway::semtech::codec::{self, Body, ProtocolVersion};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = codec::parse(data) else { return };
    assert_eq!(codec::parse(&packet.encode()), Ok(packet));
    match packet.body {
        Body::PushData { gateway, json } => {
            if let Ok(push) = codec::parse_push_data(gateway, json) {
                for uplink in &push.uplinks {
                    assert_eq!(uplink.reception.rx.gateway, gateway);
                    assert!(uplink.reception.rx.frequency_hz > 0);
                }
                let indices: Vec<usize> = push.skipped.iter().map(|s| s.index).collect();
                assert!(indices.windows(2).all(|w| w[0] < w[1]), "{indices:?}");
            }
        }
        Body::PullResp { json } => {
            let gateway = nsd::gateway::GatewayId::from_u64(1);
            // The first encoding normalises (a missing code rate becomes 4/5, FSK drops
            // `ipol`); from then on decode → encode → decode is the identity.
            let Ok(first) = codec::parse_txpk(json, gateway) else { return };
            let Ok(bytes) = codec::pull_resp(ProtocolVersion::V2, packet.token, &first) else {
                return;
            };
            let again = codec::parse(&bytes).expect("our PULL_RESP reads");
            let Body::PullResp { json } = again.body else { panic!("not a PULL_RESP: {again:?}") };
            let second = codec::parse_txpk(json, gateway).expect("our txpk reads");
            assert_eq!(
                (second.timing, second.frequency_hz, &second.phy, second.power_dbm),
                (first.timing, first.frequency_hz, &first.phy, first.power_dbm)
            );
            let bytes = codec::pull_resp(ProtocolVersion::V2, packet.token, &second)
                .expect("what we encoded encodes");
            let Body::PullResp { json } = codec::parse(&bytes).expect("reads").body else {
                panic!("not a PULL_RESP")
            };
            assert_eq!(codec::parse_txpk(json, gateway), Ok(second));
        }
        Body::TxAck { gateway, json } => {
            if let Ok(status) = codec::parse_tx_ack(json) {
                let bytes = codec::tx_ack(packet.version, packet.token, gateway, &status);
                let again = codec::parse(&bytes).expect("our TX_ACK reads");
                let Body::TxAck { json, .. } = again.body else { panic!("not a TX_ACK") };
                assert_eq!(codec::parse_tx_ack(json), Ok(status));
            }
        }
        Body::PushAck | Body::PullData { .. } | Body::PullAck => {}
    }
});
