//! Decode + MIC-verify + decrypt a LoRaWAN 1.0 data uplink with a 20-byte FRMPayload: ours
//! (warm: keys prepared once per session, as nsd keeps them; cold: from raw key bytes) against
//! lrwn 4.13 (decode + MIC + decrypt, the way ChirpStack does it).
//!
//! Run: `cargo bench -p lorawan --bench uplink -- --warm-up-time 1 --measurement-time 3`

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use lorawan::crypto::{CipherKey, MicKey};
use lorawan::ids::{AesKey, DevAddr};
use lorawan::phy::{DataFrameBuilder, FCtrl, FrmPayloadInput, MType, PhyPayload};

const FCNT: u32 = 0x0001_0042;

fn frame(nwk: &AesKey, app: &AesKey) -> Vec<u8> {
    let payload: Vec<u8> = (0u8..20).collect();
    DataFrameBuilder::new(
        MType::UnconfirmedDataUp,
        DevAddr::from_u32(0x2601_1bda),
        FCNT,
    )
    .fctrl(FCtrl::from_byte(FCtrl::ADR))
    .frm_payload(FrmPayloadInput::Plain {
        fport: 10,
        data: &payload,
        key: &CipherKey::new(app),
    })
    .build_1_0(&MicKey::new(nwk))
    .expect("a valid frame")
}

fn bench(c: &mut Criterion) {
    let nwk = AesKey::new([0x2b; 16]);
    let app = AesKey::new([0x7e; 16]);
    let bytes = frame(&nwk, &app);
    let mut group = c.benchmark_group("uplink_1_0_20B");

    // Warm: the NS holds prepared keys per session.
    let mic_key = MicKey::new(&nwk);
    let app_key = CipherKey::new(&app);
    group.bench_function("ours_warm_into_buffer", |b| {
        b.iter(|| {
            let phy = PhyPayload::parse(black_box(&bytes)).expect("parses");
            let data = phy.data().expect("data frame");
            data.verify_mic_1_0(&mic_key, FCNT).expect("MIC");
            let mut out = [0u8; 242];
            let plain = data
                .decrypt_frm_payload_into(&app_key, FCNT, &mut out)
                .expect("fits");
            black_box(plain.len())
        })
    });
    group.bench_function("ours_warm_vec", |b| {
        b.iter(|| {
            let phy = PhyPayload::parse(black_box(&bytes)).expect("parses");
            let data = phy.data().expect("data frame");
            data.verify_mic_1_0(&mic_key, FCNT).expect("MIC");
            black_box(data.frm_payload_decrypted(&app_key, FCNT))
        })
    });
    group.bench_function("ours_warm_mic_only", |b| {
        b.iter(|| {
            let phy = PhyPayload::parse(black_box(&bytes)).expect("parses");
            let data = phy.data().expect("data frame");
            black_box(data.verify_mic_1_0(&mic_key, FCNT)).expect("MIC")
        })
    });

    // Cold: keys expanded from raw bytes on every frame.
    group.bench_function("ours_cold_vec", |b| {
        b.iter(|| {
            let phy = PhyPayload::parse(black_box(&bytes)).expect("parses");
            let data = phy.data().expect("data frame");
            data.verify_mic_1_0(&MicKey::new(black_box(&nwk)), FCNT)
                .expect("MIC");
            black_box(data.frm_payload_decrypted(&CipherKey::new(black_box(&app)), FCNT))
        })
    });

    // lrwn 4.13: decode, set the 32-bit FCnt, MIC over the re-encoded frame, decrypt.
    let l_nwk = lrwn::AES128Key::from_bytes(*nwk.bytes());
    let l_app = lrwn::AES128Key::from_bytes(*app.bytes());
    let lrwn_decode = |bytes: &[u8]| {
        let mut phy = lrwn::PhyPayload::from_slice(bytes).expect("lrwn decodes");
        if let lrwn::Payload::MACPayload(pl) = &mut phy.payload {
            pl.fhdr.f_cnt = FCNT;
        }
        phy
    };
    group.bench_function("lrwn_decode_mic", |b| {
        b.iter(|| {
            let phy = lrwn_decode(black_box(&bytes));
            let ok = phy
                .validate_uplink_data_mic(lrwn::MACVersion::LoRaWAN1_0, 0, 0, 0, &l_nwk, &l_nwk)
                .expect("lrwn MIC");
            black_box(ok)
        })
    });
    group.bench_function("lrwn_decode_mic_decrypt", |b| {
        b.iter(|| {
            let mut phy = lrwn_decode(black_box(&bytes));
            let ok = phy
                .validate_uplink_data_mic(lrwn::MACVersion::LoRaWAN1_0, 0, 0, 0, &l_nwk, &l_nwk)
                .expect("lrwn MIC");
            phy.decrypt_frm_payload(&l_app).expect("lrwn decrypt");
            black_box((ok, phy))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
