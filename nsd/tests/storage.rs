//! The nsd repositories on both engines: profiles, devices with sealed sessions, counters and
//! gateways survive a reconnect exactly.

use std::sync::Arc;

use lorawan::ids::{AesKey, DevAddr, Eui64};
use lorawan::join::MacVersion;
use lorawan::region::Region;
use nsd::device::{Device, DeviceProfile, NetworkKeys, Session, SessionKeys};
use nsd::gateway::registry::{Gateway, Location};
use nsd::storage::{DeviceStore, GatewayStore, StorageError, MIGRATIONS};
use service::database::Database;
use service::sealing::{Keyring, MasterKey};
use service::testing::{Engine, ScratchDatabase};

fn keyring() -> Arc<Keyring> {
    Arc::new(Keyring::new(MasterKey::new(AesKey::new([7; 16])), vec![]).expect("one key"))
}

fn device(n: u64, profile: &str) -> Device {
    Device {
        dev_eui: Eui64::from_u64(0x0004_a30b_0000_0000 | n),
        name: format!("meter {n}"),
        tenant: "acme".into(),
        profile: profile.into(),
        join_eui: n
            .is_multiple_of(2)
            .then(|| Eui64::from_u64(0x70b3_d57e_d000_0001)),
        roaming: false,
        as_link: (n == 1).then(|| nsd::tunnel::config::DeviceAsLink {
            as_id: "as-1".into(),
            lrn_infos: "meters".into(),
            customer_id: "100".into(),
            customer_data: Some(serde_json::json!({"loc": "hall"})),
            driver_cfg: None,
            downlink_rate_per_s: None,
            downlink_burst: None,
            confirmed_downlinks: true,
        }),
    }
}

fn session(split: bool, app: bool) -> Session {
    let network = if split {
        NetworkKeys::V1_1 {
            f_nwk_s_int_key: AesKey::new([1; 16]),
            s_nwk_s_int_key: AesKey::new([2; 16]),
            nwk_s_enc_key: AesKey::new([3; 16]),
        }
    } else {
        NetworkKeys::V1_0 {
            nwk_s_key: AesKey::new([4; 16]),
        }
    };
    let mut s = Session::new(
        DevAddr::from_be_bytes([0x26, 0, 0, 9]),
        if split {
            MacVersion::V1_1
        } else {
            MacVersion::V1_0_3
        },
        SessionKeys {
            network,
            app_s_key: app.then(|| AesKey::new([5; 16])),
        },
    );
    s.f_cnt_up_next = 70_000;
    s.n_f_cnt_down = 12;
    s.a_f_cnt_down = 3;
    s
}

#[tokio::test]
async fn devices_sessions_and_gateways_round_trip_on_both_engines() {
    for engine in Engine::ALL {
        let scratch = ScratchDatabase::create(engine).await;
        let db = Database::connect(&scratch.config, MIGRATIONS)
            .await
            .expect("connect");
        let store = DeviceStore::new(db.pool().clone(), keyring());

        let mut profile = DeviceProfile::defaults("meters", Region::Eu868, MacVersion::V1_0_3);
        profile.rx1_delay_s = 5;
        profile.abp_counter_reset = true;
        store.put_profile(&profile, 1).await.expect("profile");
        store
            .put_profile(
                &DeviceProfile::defaults("us", Region::Us915, MacVersion::V1_1),
                1,
            )
            .await
            .expect("profile");
        assert_eq!(store.profiles().await.expect("profiles")[0], profile);

        let one = session(false, true);
        let two = session(true, false);
        store
            .put_device(&device(1, "meters"), Some(&one), 2)
            .await
            .expect("d1");
        store
            .put_device(&device(2, "us"), Some(&two), 2)
            .await
            .expect("d2");
        store
            .put_device(&device(3, "us"), None, 2)
            .await
            .expect("d3");

        let mut moved = one.clone();
        moved.f_cnt_up_next += 1;
        moved.n_f_cnt_down += 1;
        moved.last_confirmed_down = Some(12);
        store
            .save_counters(device(1, "").dev_eui, &moved, 3)
            .await
            .expect("counters");

        // Counters without the MAC state: the stored MAC state stays as it was.
        moved.mac = Some(
            nsd::device::DeviceProfile::defaults("p", Region::Eu868, moved.mac_version)
                .fresh_mac_state(moved.mac_version),
        );
        store
            .save_counters(device(1, "").dev_eui, &moved, 3)
            .await
            .expect("counters and MAC state");
        let mut later = moved.clone();
        later.f_cnt_up_next += 1;
        if let Some(mac) = later.mac.as_mut() {
            mac.last_fcnt = Some(99);
        }
        store
            .save_counters_only(device(1, "").dev_eui, &later, 4)
            .await
            .expect("counters only");
        let loaded = store.devices().await.expect("devices");
        let stored = loaded[0].session.as_ref().expect("session");
        assert_eq!(stored.f_cnt_up_next, later.f_cnt_up_next);
        assert_eq!(stored.mac, moved.mac, "the MAC state of the last full save");
        let moved = Session {
            f_cnt_up_next: later.f_cnt_up_next,
            ..moved
        };

        let loaded = store.devices().await.expect("devices");
        assert_eq!(loaded.len(), 3);
        assert_eq!(loaded[0].device, device(1, "meters"));
        assert_eq!(loaded[0].session.as_ref(), Some(&moved));
        assert_eq!(loaded[1].session.as_ref(), Some(&two));
        assert_eq!(loaded[2].session, None);

        // A profile in use cannot go; a device can, with its session.
        assert!(matches!(
            store.delete_profile("us").await,
            Err(StorageError::InUse { .. })
        ));
        assert!(store
            .delete_device(device(2, "").dev_eui)
            .await
            .expect("delete"));
        assert!(!store
            .delete_device(device(2, "").dev_eui)
            .await
            .expect("again"));
        // A wrong master key cannot read the sessions back.
        let wrong = Arc::new(Keyring::new(MasterKey::new(AesKey::new([8; 16])), vec![]).unwrap());
        let stranger = DeviceStore::new(db.pool().clone(), wrong);
        assert!(matches!(
            stranger.devices().await,
            Err(StorageError::Corrupt { .. })
        ));

        let gateways = GatewayStore::new(db.pool().clone());
        let gw = Gateway {
            id: Eui64::from_u64(0xaa55_0000_0000_0001),
            name: "roof".into(),
            tenant: Some("acme".into()),
            tags: vec!["north".into(), "gps".into()],
            location: Some(Location {
                lat: 48.85,
                lon: 2.35,
                alt_m: 35.0,
            }),
        };
        gateways.put(&gw, 1).await.expect("gateway");
        gateways
            .put(
                &Gateway {
                    id: Eui64::from_u64(2),
                    name: "shared".into(),
                    tenant: None,
                    tags: vec![],
                    location: None,
                },
                1,
            )
            .await
            .expect("gateway");
        let all = gateways.all().await.expect("all");
        assert_eq!(all.len(), 2);
        assert_eq!(all[1], gw);
        assert!(gateways.delete(gw.id).await.expect("delete"));

        db.close().await;
        scratch.drop_now().await;
    }
}
