//! The simulated packet forwarder against a fake network server: a plain UDP socket on
//! 127.0.0.1 in the test, reading and writing Semtech UDP by hand. Every wait is bounded.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::net::UdpSocket;

use super::semtech::{self, parse_downstream, rfc3339, stat_time, SemtechError};
use super::{
    DataRate, Device, DownlinkTiming, GatewayConfig, GatewayStat, Heard, MacVersion, OtaaKeys,
    RadioParams, SimGateway, Simulation, TxAckError, TxAckMode,
};
use crate::load::frame::Eui64;

const WAIT: Duration = Duration::from_secs(5);
const SHORT: Duration = Duration::from_millis(200);
const EUI: Eui64 = Eui64(0xb827_ebff_fe61_2c3a);

struct FakeNs {
    socket: UdpSocket,
}

/// One datagram the fake server got from a gateway.
struct Got {
    from: SocketAddr,
    token: [u8; 2],
    ident: u8,
    eui: Option<u64>,
    json: Option<Value>,
}

impl FakeNs {
    async fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        Self { socket }
    }

    fn addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("addr")
    }

    async fn try_recv(&self, wait: Duration) -> Option<Got> {
        let mut buf = vec![0_u8; 65_536];
        let (n, from) = tokio::time::timeout(wait, self.socket.recv_from(&mut buf))
            .await
            .ok()?
            .expect("recv");
        let p = &buf[..n];
        assert!(n >= 4, "short datagram {p:?}");
        assert_eq!(p[0], 2, "protocol version 2");
        let eui = (n >= 12).then(|| u64::from_be_bytes(p[4..12].try_into().expect("8 bytes")));
        let json = (n > 12).then(|| serde_json::from_slice(&p[12..]).expect("JSON body"));
        Some(Got {
            from,
            token: [p[1], p[2]],
            ident: p[3],
            eui,
            json,
        })
    }

    async fn recv(&self) -> Got {
        self.try_recv(WAIT).await.expect("a datagram in time")
    }

    async fn ack(&self, got: &Got, ident: u8) {
        let packet = [2, got.token[0], got.token[1], ident];
        self.socket.send_to(&packet, got.from).await.expect("send");
    }

    async fn pull_resp(&self, to: SocketAddr, token: u16, txpk: &Value) {
        let mut packet = vec![2, (token >> 8) as u8, token as u8, semtech::PULL_RESP];
        packet.extend_from_slice(json!({ "txpk": txpk }).to_string().as_bytes());
        self.socket.send_to(&packet, to).await.expect("send");
    }
}

fn config(ns: &FakeNs) -> GatewayConfig {
    GatewayConfig {
        keepalive: None,
        ..GatewayConfig::new(EUI, ns.addr())
    }
}

fn txpk(phy: &[u8], tmst: u32) -> Value {
    json!({
        "imme": false, "tmst": tmst, "freq": 869.525, "rfch": 0, "powe": 14,
        "modu": "LORA", "datr": "SF9BW125", "codr": "4/5", "ipol": true,
        "size": phy.len(), "data": BASE64.encode(phy),
    })
}

#[tokio::test]
async fn push_data_carries_a_realistic_rxpk_and_waits_for_its_push_ack() {
    let ns = FakeNs::start().await;
    let gw = SimGateway::start(config(&ns)).await.expect("gateway");
    let phy = [0x40, 1, 2, 3, 4, 0, 1, 0, 1, 0xaa, 0xbb, 0xcc, 0xdd];
    let radio = RadioParams {
        rssi_dbm: -97,
        snr_db: -3.5,
        channel: 2,
        tmst: Some(3_512_348_611),
        time: Some(UNIX_EPOCH + Duration::from_micros(1_364_746_877_528_002)),
        ..RadioParams::eu868(5, 2).expect("EU868 DR5 ch2")
    };
    let pending = gw.send_uplink_tracked(&phy, &radio).await.expect("send");
    let got = ns.recv().await;
    assert_eq!(got.ident, semtech::PUSH_DATA);
    assert_eq!(got.eui, Some(EUI.0));
    assert_eq!(u16::from_be_bytes(got.token), pending.token());
    let body = got.json.as_ref().expect("JSON");
    let rx = &body["rxpk"][0];
    assert_eq!(rx["stat"], 1);
    assert_eq!(rx["modu"], "LORA");
    assert_eq!(rx["datr"], "SF7BW125");
    assert_eq!(rx["codr"], "4/5");
    assert_eq!(rx["freq"].as_f64(), Some(868.5));
    assert_eq!(
        (rx["chan"].as_u64(), rx["rfch"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(rx["rssi"], -97);
    assert_eq!(rx["lsnr"].as_f64(), Some(-3.5));
    assert_eq!(rx["tmst"].as_u64(), Some(3_512_348_611));
    assert_eq!(rx["time"], "2013-03-31T16:21:17.528002Z");
    assert_eq!(rx["size"].as_u64(), Some(phy.len() as u64));
    let data = BASE64
        .decode(rx["data"].as_str().expect("data"))
        .expect("base64");
    assert_eq!(data, phy);
    ns.ack(&got, semtech::PUSH_ACK).await;
    assert!(pending.wait(WAIT).await, "PUSH_ACK seen");

    // A PUSH_ACK with another token does not acknowledge this one.
    let pending = gw.send_uplink_tracked(&phy, &radio).await.expect("send");
    let mut got = ns.recv().await;
    got.token[1] = got.token[1].wrapping_add(1);
    ns.ack(&got, semtech::PUSH_ACK).await;
    assert!(!pending.wait(SHORT).await, "wrong token taken as the ack");

    // Fire-and-forget: only counted.
    gw.send_uplink(&phy, &radio).await.expect("send");
    let got = ns.recv().await;
    ns.ack(&got, semtech::PUSH_ACK).await;
    let _ = gw.pull_data(SHORT).await; // a round trip, so the PUSH_ACK has been read
                                       // Every PUSH_ACK is counted, the wrong-token one too: fire-and-forget sends register no
                                       // token to match.
    let stats = gw.stats();
    assert_eq!((stats.push_sent, stats.push_acked), (3, 3));
}

#[tokio::test]
async fn pull_resp_is_answered_with_the_configured_tx_ack_and_queued() {
    let ns = FakeNs::start().await;
    let gw = SimGateway::start(config(&ns)).await.expect("gateway");
    // PULL_DATA / PULL_ACK: the fake server learns the gateway's address.
    let (acked, got) = tokio::join!(gw.pull_data(WAIT), async {
        let got = ns.recv().await;
        ns.ack(&got, semtech::PULL_ACK).await;
        got
    });
    assert!(acked.expect("sent"));
    assert_eq!(got.ident, semtech::PULL_DATA);
    assert_eq!(got.eui, Some(EUI.0));
    assert!(got.json.is_none());
    let to = got.from;

    let phy = vec![0x60, 1, 2, 3, 4, 0, 5, 0, 1, 2, 3, 4];
    let cases = [
        (TxAckMode::Ok, Some("NONE")),
        (TxAckMode::Error(TxAckError::TooLate), Some("TOO_LATE")),
        (
            TxAckMode::Error(TxAckError::GpsUnlocked),
            Some("GPS_UNLOCKED"),
        ),
        (TxAckMode::OkEmpty, None),
    ];
    for (i, (mode, code)) in cases.into_iter().enumerate() {
        gw.set_tx_ack(mode);
        let token = 0x1230 + i as u16;
        ns.pull_resp(to, token, &txpk(&phy, 1_000_000 + i as u32))
            .await;
        let ack = ns.recv().await;
        assert_eq!(ack.ident, semtech::TX_ACK);
        assert_eq!(ack.token, token.to_be_bytes());
        assert_eq!(ack.eui, Some(EUI.0));
        assert_eq!(
            ack.json.as_ref().map(|j| j["txpk_ack"]["error"].clone()),
            code.map(Value::from)
        );
        let d = gw.next_downlink(WAIT).await.expect("queued");
        assert_eq!((d.gateway, d.token, &d.phy), (EUI, token, &phy));
        assert_eq!(d.timing, DownlinkTiming::AtCounter(1_000_000 + i as u32));
        assert_eq!(d.freq_hz, 869_525_000);
        assert_eq!(d.data_rate, DataRate::Lora { sf: 9, bw_khz: 125 });
        assert_eq!((d.power_dbm, d.invert_polarity), (Some(14), Some(true)));
        assert_eq!(d.size, Some(phy.len() as u16));
    }

    // Silent: no TX_ACK, the downlink still recorded. Then a txpk that cannot be read: no
    // TX_ACK, no downlink, counted.
    gw.set_tx_ack(TxAckMode::Silent);
    ns.pull_resp(
        to,
        7,
        &json!({"imme": true, "freq": 869.525, "modu": "LORA",
        "datr": "SF12BW125", "data": BASE64.encode(&phy)}),
    )
    .await;
    let d = gw.next_downlink(WAIT).await.expect("queued");
    assert_eq!(d.timing, DownlinkTiming::Immediately);
    assert!(ns.try_recv(SHORT).await.is_none(), "a TX_ACK while silent");
    gw.set_tx_ack(TxAckMode::Ok);
    ns.pull_resp(to, 8, &json!({"imme": true, "freq": 869.525, "data": "!!"}))
        .await;
    assert!(
        ns.try_recv(SHORT).await.is_none(),
        "a TX_ACK for a bad txpk"
    );
    assert!(gw.next_downlink(SHORT).await.is_none());
    let stats = gw.stats();
    assert_eq!(
        (stats.pull_resp, stats.tx_ack_sent, stats.bad_packets),
        (5, 4, 1)
    );
}

#[tokio::test]
async fn stat_packets_and_keepalives() {
    let ns = FakeNs::start().await;
    let gw = SimGateway::start(GatewayConfig {
        keepalive: Some(Duration::from_secs(3600)),
        ..config(&ns)
    })
    .await
    .expect("gateway");
    // The first keep-alive goes at start.
    let got = ns.recv().await;
    assert_eq!(got.ident, semtech::PULL_DATA);
    let stat = GatewayStat {
        time: UNIX_EPOCH + Duration::from_secs(1_389_517_168),
        position: Some((46.24, 3.2523, 145)),
        rxnb: 2,
        rxok: 2,
        rxfw: 2,
        ackr: 100.0,
        dwnb: 2,
        txnb: 2,
    };
    let (acked, got) = tokio::join!(gw.send_stat(&stat, WAIT), async {
        let got = ns.recv().await;
        ns.ack(&got, semtech::PUSH_ACK).await;
        got
    });
    assert!(acked.expect("sent"));
    let s = &got.json.as_ref().expect("JSON")["stat"];
    assert_eq!(s["time"], "2014-01-12 08:59:28 GMT");
    assert_eq!(
        (s["lati"].as_f64(), s["alti"].as_i64()),
        (Some(46.24), Some(145))
    );
    assert_eq!(s["rxnb"], 2);
}

#[tokio::test]
async fn a_simulation_sends_one_frame_through_several_gateways_and_a_join_completes() {
    use lorawan::crypto::MicKey;
    use lorawan::ids::{AesKey, DevAddr, NetId};
    use lorawan::join::{JoinAcceptBuilder, JoinNonce};
    use lorawan::phy::{DlSettings, JoinRequest};

    let ns = FakeNs::start().await;
    let configs = (0..3)
        .map(|i| GatewayConfig {
            keepalive: None,
            ..GatewayConfig::new(Eui64(0x0016_c001_ff10_0000 + i), ns.addr())
        })
        .collect();
    let sim = Simulation::start_with(configs, 16).await.expect("gateways");
    let (connected, addrs) = tokio::join!(sim.connect(WAIT), async {
        let mut addrs = Vec::new();
        for _ in 0..3 {
            let got = ns.recv().await;
            ns.ack(&got, semtech::PULL_ACK).await;
            addrs.push((got.eui.expect("eui"), got.from));
        }
        addrs
    });
    assert!(connected);

    let app_key = [0x2b; 16];
    let mut device = Device::otaa(
        MacVersion::V1_0_4,
        OtaaKeys {
            dev_eui: Eui64(0x0004_a30b_001c_0530),
            join_eui: Eui64(0x70b3_d57e_d000_0001),
            app_key,
            nwk_key: None,
        },
    )
    .expect("otaa");
    let join = device.join_request().expect("join");
    let radio = RadioParams::lora(868_100_000, 12, 125);
    let heard = [Heard::new(0, -40, 9.0), Heard::new(2, -118, -12.5)];
    let (report, frames) = tokio::join!(sim.uplink(&join, &radio, &heard), async {
        let mut frames = Vec::new();
        for _ in 0..2 {
            let got = ns.recv().await;
            ns.ack(&got, semtech::PUSH_ACK).await;
            frames.push(got);
        }
        frames
    });
    let report = report.expect("sent");
    assert!(report.all_acked());
    let mut seen: Vec<(u64, i64)> = frames
        .iter()
        .map(|f| {
            let rx = &f.json.as_ref().expect("JSON")["rxpk"][0];
            (f.eui.expect("eui"), rx["rssi"].as_i64().expect("rssi"))
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        [(0x0016_c001_ff10_0000, -40), (0x0016_c001_ff10_0002, -118)]
    );

    // The fake server answers through gateway 2, at its tmst + 5 s, with a join-accept the
    // oracle builds.
    let rx = &frames[0].json.as_ref().expect("JSON")["rxpk"][0];
    let data = BASE64
        .decode(rx["data"].as_str().expect("data"))
        .expect("b64");
    let req = JoinRequest::parse(&data).expect("a join-request");
    req.verify_mic(&MicKey::new(&AesKey::new(app_key)))
        .expect("MIC");
    let accept = JoinAcceptBuilder {
        join_nonce: JoinNonce::new(1).expect("nonce"),
        home_net_id: NetId::from_u32(0x13).expect("net"),
        dev_addr: DevAddr::from_u32(0x2601_1bda),
        dl_settings: DlSettings::new(0, 0),
        rx_delay: 1,
        cf_list: None,
    }
    .build_1_0(&AesKey::new(app_key));
    let tmst = report.tmst(2).expect("gateway 2 heard it");
    let to = addrs
        .iter()
        .find(|(eui, _)| *eui == 0x0016_c001_ff10_0002)
        .expect("gateway 2 connected")
        .1;
    ns.pull_resp(to, 99, &txpk(&accept, tmst.wrapping_add(5_000_000)))
        .await;
    let down = sim.next_downlink(WAIT).await.expect("join-accept");
    assert_eq!(down.gateway, Eui64(0x0016_c001_ff10_0002));
    assert_eq!(
        down.timing,
        DownlinkTiming::AtCounter(tmst.wrapping_add(5_000_000))
    );
    let joined = device.accept_join_accept(&down.phy).expect("accepted");
    assert_eq!(joined.dev_addr.0, 0x2601_1bda);
    let tx_ack = ns.recv().await;
    assert_eq!(tx_ack.ident, semtech::TX_ACK);
    assert!(sim.drain_downlinks(SHORT).await.is_empty());

    // A gateway index the simulation does not have.
    assert!(sim
        .uplink(&join, &radio, &[Heard::new(3, 0, 0.0)])
        .await
        .is_err());
}

#[test]
fn wire_helpers() {
    assert_eq!(
        rfc3339(UNIX_EPOCH + Duration::from_secs(951_868_799)),
        "2000-02-29T23:59:59.000000Z"
    );
    assert_eq!(
        stat_time(UNIX_EPOCH + Duration::from_secs(1_389_517_168)),
        "2014-01-12 08:59:28 GMT"
    );
    assert!(SystemTime::now() > UNIX_EPOCH);
    assert_eq!(parse_downstream(&[2, 0, 1]), Err(SemtechError::Short(3)));
    assert_eq!(
        parse_downstream(&[3, 0, 1, 1]),
        Err(SemtechError::Version(3))
    );
    assert_eq!(
        parse_downstream(&[2, 0, 1, 0]),
        Err(SemtechError::Identifier(0))
    );
    assert_eq!(
        DataRate::from_json(&json!(50000)),
        Some(DataRate::Fsk { bitrate: 50_000 })
    );
    assert_eq!(DataRate::from_json(&json!("SF7")), None);
    for bad in [
        json!({"txpk": {"imme": true, "freq": 869.5, "modu": "FSK", "datr": "SF7BW125", "data": ""}}),
        json!({"txpk": {"freq": 869.5, "modu": "LORA", "datr": "SF7BW125", "data": ""}}),
        json!({"txpk": {"imme": true, "freq": -1.0, "modu": "LORA", "datr": "SF7BW125", "data": ""}}),
        json!({"nottxpk": {}}),
    ] {
        let body = bad.to_string();
        assert!(
            semtech::parse_txpk(EUI, 1, body.as_bytes()).is_err(),
            "{body}"
        );
    }
}
