//! The uplink hot path without I/O: deduplication, the data matcher (MIC over each
//! candidate session), the downlink frame build and the class A plan.
//!
//! ```text
//! cargo bench -p nsd --bench uplink -- --warm-up-time 1 --measurement-time 3
//! ```

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use lorawan::crypto::{CipherKey, MicKey, UplinkMicParams};
use lorawan::ids::{AesKey, DevAddr, Eui64};
use lorawan::join::MacVersion;
use lorawan::phy::{DataFrame, DataFrameBuilder, FrmPayloadInput, MType};
use lorawan::region::Region;
use nsd::device::{NetworkKeys, PreparedKeys, Session, SessionKeys};
use nsd::downlink::class_a::{plan_class_a, ClassAOptions, ClassARequest, DeviceRadio};
use nsd::downlink::duty_cycle::DutyCycleLedger;
use nsd::downlink::frame::{build_downlink, FrameBits};
use nsd::gateway::{CodeRate, RadioModulation, Reception, RxInfo};
use nsd::uplink::data::{match_uplink, Candidate, Radio};
use nsd::uplink::dedup::Collector;

const ADDR: DevAddr = DevAddr::from_be_bytes([0x26, 0x01, 0x02, 0x03]);
const RADIO: Radio = Radio {
    data_rate: 3,
    channel: 0,
};
const APP: [u8; 16] = [0xAA; 16];
const PAYLOAD: &[u8] = b"twelve bytes";

fn session(version: MacVersion, key: u8) -> Session {
    let network = if version >= MacVersion::V1_1 {
        NetworkKeys::V1_1 {
            f_nwk_s_int_key: AesKey::new([key; 16]),
            s_nwk_s_int_key: AesKey::new([key ^ 0x0f; 16]),
            nwk_s_enc_key: AesKey::new([key ^ 0xf0; 16]),
        }
    } else {
        NetworkKeys::V1_0 {
            nwk_s_key: AesKey::new([key; 16]),
        }
    };
    let mut s = Session::new(
        ADDR,
        version,
        SessionKeys {
            network,
            app_s_key: Some(AesKey::new(APP)),
        },
    );
    s.f_cnt_up_next = 41;
    s
}

/// An unconfirmed uplink of the session keyed `key`, FCnt 41, 12 bytes on FPort 1.
fn uplink(version: MacVersion, key: u8) -> Vec<u8> {
    let app = CipherKey::new(&AesKey::new(APP));
    let builder = DataFrameBuilder::new(MType::UnconfirmedDataUp, ADDR, 41).frm_payload(
        FrmPayloadInput::Plain {
            fport: 1,
            data: PAYLOAD,
            key: &app,
        },
    );
    let built = if version >= MacVersion::V1_1 {
        builder.build_uplink_1_1(
            &MicKey::new(&AesKey::new([key; 16])),
            &MicKey::new(&AesKey::new([key ^ 0x0f; 16])),
            &CipherKey::new(&AesKey::new([key ^ 0xf0; 16])),
            UplinkMicParams {
                conf_fcnt: 0,
                tx_dr: RADIO.data_rate,
                tx_ch: RADIO.channel,
            },
        )
    } else {
        builder.build_1_0(&MicKey::new(&AesKey::new([key; 16])))
    };
    built.expect("a valid frame")
}

fn rx(gateway: u64, snr_db: f32) -> RxInfo {
    RxInfo {
        gateway: Eui64::from_u64(gateway),
        frequency_hz: 902_300_000,
        modulation: RadioModulation::Lora {
            spreading_factor: 7,
            bandwidth_hz: 125_000,
            code_rate: Some(CodeRate {
                numerator: 4,
                denominator: 5,
            }),
        },
        rssi_dbm: -80,
        snr_db,
        channel: 0,
        rf_chain: 0,
        counter_us: 1_000_000,
        time: None,
        gps_time_ms: None,
        fine_timestamp_ns: None,
    }
}

fn dedup(c: &mut Criterion) {
    let phy = uplink(MacVersion::V1_0_4, 1);
    let mut group = c.benchmark_group("dedup");
    // A frame heard by two gateways: two offers and the close, in an otherwise empty
    // collector and in one holding 2,500 open frames (10,000 frames/s × a 250 ms window).
    for open in [0u32, 2_500] {
        let mut collector = Collector::new(10);
        for i in 0..open {
            let mut other = phy.clone();
            other[6..10].copy_from_slice(&i.to_le_bytes());
            collector.offer(Reception {
                phy: other,
                rx: rx(9, 1.0),
            });
        }
        group.bench_function(format!("offer x2 + close, {open} frames open"), |b| {
            b.iter_batched(
                || {
                    (
                        Reception {
                            phy: phy.clone(),
                            rx: rx(1, 7.5),
                        },
                        Reception {
                            phy: phy.clone(),
                            rx: rx(2, -3.0),
                        },
                    )
                },
                |(first, second)| {
                    collector.offer(first);
                    collector.offer(second);
                    black_box(collector.close(&phy))
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn matcher(c: &mut Criterion) {
    let mut group = c.benchmark_group("match_uplink");
    for version in [MacVersion::V1_0_4, MacVersion::V1_1] {
        let phy = uplink(version, 3);
        for count in [1u8, 3] {
            // The sender is the last candidate: the worst case, every other MIC computed.
            let sessions: Vec<Session> = (4 - count..=3).map(|k| session(version, k)).collect();
            let keys: Vec<PreparedKeys> = sessions
                .iter()
                .map(|s| PreparedKeys::new(&s.keys))
                .collect();
            let candidates: Vec<Candidate<'_>> = sessions
                .iter()
                .zip(&keys)
                .map(|(session, keys)| Candidate {
                    session,
                    keys,
                    counter_reset_allowed: false,
                })
                .collect();
            group.bench_function(
                format!("{version}, {count} candidate(s), parse + match"),
                |b| {
                    b.iter(|| {
                        let frame = DataFrame::parse(black_box(&phy)).expect("parses");
                        let matched = match_uplink(&frame, &candidates, RADIO).expect("matches");
                        black_box(matched)
                    })
                },
            );
        }
    }
    group.finish();
}

fn downlink(c: &mut Criterion) {
    let mut group = c.benchmark_group("downlink");
    for version in [MacVersion::V1_0_4, MacVersion::V1_1] {
        let session = session(version, 3);
        let keys = PreparedKeys::new(&session.keys);
        group.bench_function(format!("{version}, ACK frame build"), |b| {
            b.iter_batched(
                || session.clone(),
                |mut s| {
                    let bits = FrameBits {
                        ack: true,
                        adr: true,
                        f_pending: false,
                        fopts: &[],
                        acked_uplink_f_cnt: 41,
                    };
                    black_box(build_downlink(&mut s, &keys, bits, None).expect("built"))
                },
                BatchSize::SmallInput,
            )
        });
    }
    for region in [Region::Us915, Region::Eu868] {
        let params = region.params();
        let radio = DeviceRadio::defaults(params);
        let mut receptions = vec![rx(1, 7.5), rx(2, -3.0)];
        if region == Region::Eu868 {
            for r in &mut receptions {
                r.frequency_hz = 868_100_000;
            }
        }
        let ledger = DutyCycleLedger::new(region);
        let options = ClassAOptions::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        group.bench_function(format!("{region:?}, class A plan, 2 receptions"), |b| {
            b.iter(|| {
                let request = ClassARequest {
                    receptions: &receptions,
                    device: &radio,
                    region: params,
                    phy_len: 12,
                    elapsed: Duration::from_millis(260),
                    now,
                };
                black_box(plan_class_a(&request, &options, &ledger, |_| true).expect("a plan"))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, dedup, matcher, downlink);
criterion_main!(benches);
