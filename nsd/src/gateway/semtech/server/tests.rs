//! The front end on a real UDP socket on 127.0.0.1, with a test playing the gateway.
//!
//! The server handles datagrams one at a time in arrival order, so a `PULL_DATA` answered
//! after a datagram that gets no answer proves that datagram was handled.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::*;
use crate::gateway::registry::Gateway;
use crate::gateway::semtech::codec::{TxAckStatus, PULL_RESP};
use crate::gateway::{CodeRate, RadioModulation, TxRefusal, TxTiming};

const GATEWAY: GatewayId = GatewayId::from_u64(0xaa55_5a00_0000_0101);
const STRANGER: GatewayId = GatewayId::from_u64(0x0102_0304_0506_0708);
/// Bounds every wait of these tests: only a broken server comes near it.
const PATIENCE: Duration = Duration::from_secs(10);

struct Harness {
    link: SemtechUdp,
    server: SocketAddr,
    uplinks: mpsc::Receiver<Reception>,
    stop: Option<oneshot::Sender<()>>,
    serving: JoinHandle<()>,
}

impl Harness {
    async fn start(tx_ack_timeout: Duration, channel: usize) -> Self {
        let registry = Arc::new(Registry::new());
        registry.provision(Gateway {
            id: GATEWAY,
            name: "roof".into(),
            location: None,
            tags: vec![],
            tenant: None,
        });
        let (sender, uplinks) = mpsc::channel(channel);
        let config = SemtechConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            tx_ack_timeout,
            ..SemtechConfig::default()
        };
        let link = SemtechUdp::bind(config, registry, sender)
            .await
            .expect("bind 127.0.0.1");
        let server = link.local_addr().expect("bound");
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn({
            let link = link.clone();
            async move {
                link.serve(async {
                    let _ = stopped.await;
                })
                .await;
            }
        });
        Self {
            link,
            server,
            uplinks,
            stop: Some(stop),
            serving,
        }
    }

    async fn gateway_socket(&self) -> UdpSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        socket.connect(self.server).await.expect("connect");
        socket
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(PATIENCE, self.serving)
            .await
            .expect("serve stops on shutdown")
            .expect("serve does not panic");
    }

    fn counters(&self) -> CountersSnapshot {
        self.link.counters().snapshot()
    }
}

async fn receive(socket: &UdpSocket) -> Vec<u8> {
    let mut buffer = vec![0u8; 4096];
    let len = tokio::time::timeout(PATIENCE, socket.recv(&mut buffer))
        .await
        .expect("an answer in time")
        .expect("recv");
    buffer.truncate(len);
    buffer
}

fn datagram(version: u8, token: u16, identifier: u8, gateway: GatewayId, json: &[u8]) -> Vec<u8> {
    let mut out = vec![version];
    out.extend_from_slice(&token.to_be_bytes());
    out.push(identifier);
    out.extend_from_slice(&gateway.to_be_bytes());
    out.extend_from_slice(json);
    out
}

/// Sends a `PULL_DATA` and checks its `PULL_ACK`: also a barrier (see the module docs).
async fn keep_alive(socket: &UdpSocket, version: u8, token: u16) {
    socket
        .send(&datagram(version, token, codec::PULL_DATA, GATEWAY, b""))
        .await
        .expect("send");
    let [t1, t2] = token.to_be_bytes();
    assert_eq!(receive(socket).await, [version, t1, t2, codec::PULL_ACK]);
}

const RXPK: &str = r#"{"tmst":3512348611,"time":"2013-03-31T16:21:17.528002Z","chan":2,"rfch":0,
    "freq":868.1,"stat":1,"modu":"LORA","datr":"SF7BW125","codr":"4/5","rssi":-35,"lsnr":5.1,
    "size":18,"data":"QAQDAgGAAQABppRkJhXWw7WC"}"#;

fn transmission() -> Transmission {
    Transmission {
        gateway: GATEWAY,
        timing: TxTiming::AtCounter(3_513_348_611),
        frequency_hz: 868_100_000,
        modulation: RadioModulation::Lora {
            spreading_factor: 7,
            bandwidth_hz: 125_000,
            code_rate: Some(CodeRate {
                numerator: 4,
                denominator: 5,
            }),
        },
        power_dbm: 14,
        rf_chain: 0,
        invert_polarity: true,
        phy: vec![0x60, 1, 2, 3, 4, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef],
    }
}

#[tokio::test]
async fn push_data_is_acknowledged_and_its_frames_delivered() {
    let mut h = Harness::start(PATIENCE, 16).await;
    let gw = h.gateway_socket().await;
    let stat = r#""stat":{"time":"2014-01-12 08:59:28 GMT","rxnb":1,"rxok":1,"rxfw":1,"ackr":100.0,"dwnb":0,"txnb":0}"#;
    let json = format!(r#"{{"rxpk":[{RXPK}],{stat}}}"#);
    gw.send(&datagram(
        2,
        0x1234,
        codec::PUSH_DATA,
        GATEWAY,
        json.as_bytes(),
    ))
    .await
    .expect("send");
    assert_eq!(receive(&gw).await, [2, 0x12, 0x34, codec::PUSH_ACK]);

    let reception = tokio::time::timeout(PATIENCE, h.uplinks.recv())
        .await
        .expect("in time")
        .expect("a reception");
    assert_eq!(
        reception.phy,
        [0x40, 4, 3, 2, 1, 0x80, 1, 0, 1, 0xa6, 0x94, 0x64, 0x26, 0x15, 0xd6, 0xc3, 0xb5, 0x82]
    );
    assert_eq!(reception.rx.gateway, GATEWAY);
    assert_eq!(reception.rx.frequency_hz, 868_100_000);
    assert_eq!(reception.rx.counter_us, 3_512_348_611);

    keep_alive(&gw, 2, 1).await;
    let status = h.link.registry().status(GATEWAY).expect("provisioned");
    assert_eq!(status.frames_received, 1);
    assert_eq!(status.uplink_addr, Some(gw.local_addr().expect("bound")));
    assert_eq!(status.protocol_version, Some(2));
    assert!(status.last_seen.is_some());
    let stats = status.last_stats.expect("stat recorded");
    assert_eq!(
        (stats.rx_received, stats.ack_ratio_percent),
        (Some(1), Some(100.0))
    );
    let counters = h.counters();
    assert_eq!(
        (counters.push_data, counters.receptions, counters.stats),
        (1, 1, 1)
    );
    h.stop().await;
}

#[tokio::test]
async fn unknown_gateways_are_refused_without_an_answer() {
    let mut h = Harness::start(PATIENCE, 16).await;
    let gw = h.gateway_socket().await;
    let json = format!(r#"{{"rxpk":[{RXPK}]}}"#);
    gw.send(&datagram(2, 7, codec::PUSH_DATA, STRANGER, json.as_bytes()))
        .await
        .expect("send");
    gw.send(&datagram(2, 8, codec::PULL_DATA, STRANGER, b""))
        .await
        .expect("send");
    gw.send(&datagram(2, 9, codec::TX_ACK, STRANGER, b""))
        .await
        .expect("send");
    // The first answer is the one to the provisioned gateway: the stranger got none.
    keep_alive(&gw, 2, 10).await;
    assert!(h.uplinks.try_recv().is_err(), "no frame from a stranger");
    let counters = h.counters();
    assert_eq!(counters.unknown_gateway, 3);
    assert_eq!((counters.push_data, counters.pull_data), (0, 1));
    assert_eq!(h.link.registry().status(STRANGER), None);
    h.stop().await;
}

#[tokio::test]
async fn pull_data_is_acknowledged_and_sets_the_downlink_route() {
    let h = Harness::start(PATIENCE, 16).await;
    let gw = h.gateway_socket().await;
    keep_alive(&gw, 1, 0xbeef).await;
    let status = h.link.registry().status(GATEWAY).expect("provisioned");
    let route = status.downlink.expect("a downlink route");
    assert_eq!(route.addr, gw.local_addr().expect("bound"));
    assert_eq!(
        (route.protocol_version, status.protocol_version),
        (1, Some(1))
    );
    assert!(status.last_keepalive.is_some());
    h.stop().await;
}

/// Receives the `PULL_RESP` for `expected` and returns its token.
async fn expect_pull_resp(gw: &UdpSocket, version: u8, expected: &Transmission) -> Token {
    let datagram = receive(gw).await;
    let packet = codec::parse(&datagram).expect("a Semtech datagram");
    assert_eq!(packet.version.byte(), version);
    assert_eq!(datagram[3], PULL_RESP);
    let codec::Body::PullResp { json } = packet.body else {
        panic!("PULL_RESP expected, got {packet:?}")
    };
    assert_eq!(codec::parse_txpk(json, GATEWAY).as_ref(), Ok(expected));
    packet.token
}

#[tokio::test]
async fn transmit_waits_for_the_tx_ack_of_a_version_2_gateway() {
    let h = Harness::start(PATIENCE, 16).await;
    let gw = h.gateway_socket().await;
    keep_alive(&gw, 2, 1).await;

    for (answer, expected) in [
        (
            TxAckStatus::Refused {
                error: "TOO_LATE".into(),
            },
            TxOutcome::Refused(TxRefusal::TooLate),
        ),
        (TxAckStatus::Accepted { warning: None }, TxOutcome::Sent),
    ] {
        let link = h.link.clone();
        let transmit = tokio::spawn(async move { link.transmit(transmission()).await });
        let token = expect_pull_resp(&gw, 2, &transmission()).await;
        // A TX_ACK with another token answers nothing.
        let other = Token(token.0.wrapping_add(1));
        gw.send(&codec::tx_ack(ProtocolVersion::V2, other, GATEWAY, &answer))
            .await
            .expect("send");
        gw.send(&codec::tx_ack(ProtocolVersion::V2, token, GATEWAY, &answer))
            .await
            .expect("send");
        let outcome = tokio::time::timeout(PATIENCE, transmit)
            .await
            .expect("in time")
            .expect("no panic");
        assert_eq!(outcome, expected);
    }
    let status = h.link.registry().status(GATEWAY).expect("provisioned");
    assert_eq!((status.frames_sent, status.frames_refused), (1, 1));
    let counters = h.counters();
    assert_eq!((counters.tx_sent, counters.tx_refused), (1, 1));
    assert_eq!((counters.tx_acks, counters.tx_acks_unmatched), (4, 2));
    h.stop().await;
}

#[tokio::test]
async fn no_tx_ack_is_no_answer_after_the_timeout() {
    let h = Harness::start(Duration::from_millis(50), 16).await;
    let gw = h.gateway_socket().await;
    keep_alive(&gw, 2, 1).await;
    let outcome = h.link.transmit(transmission()).await;
    assert_eq!(outcome, TxOutcome::NoAnswer);
    // The PULL_RESP did go out.
    let token = expect_pull_resp(&gw, 2, &transmission()).await;
    // A TX_ACK after the wait is matched to nothing.
    gw.send(&codec::tx_ack(
        ProtocolVersion::V2,
        token,
        GATEWAY,
        &TxAckStatus::Accepted { warning: None },
    ))
    .await
    .expect("send");
    keep_alive(&gw, 2, 2).await;
    let counters = h.counters();
    assert_eq!((counters.tx_no_answer, counters.tx_acks_unmatched), (1, 1));
    h.stop().await;
}

#[tokio::test]
async fn a_version_1_gateway_gets_its_pull_resp_without_a_tx_ack() {
    let h = Harness::start(PATIENCE, 16).await;
    let gw = h.gateway_socket().await;
    keep_alive(&gw, 1, 1).await;
    assert_eq!(h.link.transmit(transmission()).await, TxOutcome::Sent);
    let token = expect_pull_resp(&gw, 1, &transmission()).await;
    assert_eq!(token, Token(0), "version 1 leaves the token unused");
    h.stop().await;
}

#[tokio::test]
async fn gateways_without_a_keepalive_are_not_connected() {
    let h = Harness::start(PATIENCE, 16).await;
    let gw = h.gateway_socket().await;
    // Uplinks alone give no downlink route.
    let json = format!(r#"{{"rxpk":[{RXPK}]}}"#);
    gw.send(&datagram(2, 5, codec::PUSH_DATA, GATEWAY, json.as_bytes()))
        .await
        .expect("send");
    assert_eq!(receive(&gw).await, [2, 0, 5, codec::PUSH_ACK]);
    assert_eq!(
        h.link.transmit(transmission()).await,
        TxOutcome::NotConnected
    );
    let mut stranger = transmission();
    stranger.gateway = STRANGER;
    assert_eq!(h.link.transmit(stranger).await, TxOutcome::NotConnected);
    assert_eq!(h.counters().tx_not_connected, 2);
    h.stop().await;
}

#[tokio::test]
async fn garbage_is_counted_and_ignored() {
    let h = Harness::start(PATIENCE, 16).await;
    let gw = h.gateway_socket().await;
    let mut bad_json = datagram(2, 1, codec::PUSH_DATA, GATEWAY, b"{\"rxpk\":[{]");
    bad_json.push(0xff);
    for junk in [
        &b""[..],
        &[0xff][..],
        b"GET / HTTP/1.1\r\n\r\n",
        &[2, 0, 1, codec::PUSH_ACK],
        &[2, 0, 1, codec::PULL_RESP, b'{', b'}'],
        &[2, 0, 1, codec::PULL_DATA, 1, 2],
        &[9, 0, 1, codec::PULL_DATA, 1, 2, 3, 4, 5, 6, 7, 8],
    ] {
        gw.send(junk).await.expect("send");
    }
    // A readable header with an unreadable body is acknowledged, then counted.
    gw.send(&bad_json).await.expect("send");
    assert_eq!(receive(&gw).await, [2, 0, 1, codec::PUSH_ACK]);
    keep_alive(&gw, 2, 2).await;
    let counters = h.counters();
    assert_eq!(counters.garbage, 7);
    assert_eq!(counters.malformed, 1);
    assert_eq!(counters.datagrams, 9);
    h.stop().await;
}

#[tokio::test]
async fn a_full_uplink_channel_drops_frames_without_blocking() {
    let mut h = Harness::start(PATIENCE, 1).await;
    let gw = h.gateway_socket().await;
    let json = format!(r#"{{"rxpk":[{RXPK},{RXPK},{RXPK}]}}"#);
    gw.send(&datagram(2, 3, codec::PUSH_DATA, GATEWAY, json.as_bytes()))
        .await
        .expect("send");
    assert_eq!(receive(&gw).await, [2, 0, 3, codec::PUSH_ACK]);
    // Keep-alives are still served while nobody reads the uplinks.
    keep_alive(&gw, 2, 4).await;
    let counters = h.counters();
    assert_eq!((counters.receptions, counters.receptions_dropped), (1, 2));
    assert!(h.uplinks.try_recv().is_ok());
    let status = h.link.registry().status(GATEWAY).expect("provisioned");
    assert_eq!(status.frames_received, 1);
    h.stop().await;
}

#[tokio::test]
async fn the_socket_asks_for_a_larger_receive_buffer() {
    let plain = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let default = socket2::SockRef::from(&plain).recv_buffer_size().unwrap();
    let socket = bind_socket(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
    let granted = socket2::SockRef::from(&socket).recv_buffer_size().unwrap();
    // The kernel caps what it grants (net.core.rmem_max on Linux), so only "not less than
    // its default" holds everywhere.
    println!("SO_RCVBUF: default {default} bytes, granted {granted} bytes");
    assert!(granted >= default, "granted {granted} < default {default}");
}
