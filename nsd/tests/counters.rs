//! Group-committed session counters on both engines: many concurrent writes, each answered
//! only once committed, all of them stored, the MAC state with them; a write for a replaced
//! session is refused alone.

use std::sync::Arc;

use lorawan::ids::{AesKey, DevAddr, Eui64};
use lorawan::join::MacVersion;
use lorawan::region::Region;
use nsd::device::{Device, DeviceProfile, NetworkKeys, Session, SessionKeys};
use nsd::storage::{DeviceStore, StorageError, MIGRATIONS};
use service::database::Database;
use service::sealing::{Keyring, MasterKey};
use service::testing::{Engine, ScratchDatabase};

const DEVICES: u64 = 300;

fn keyring() -> Arc<Keyring> {
    Arc::new(Keyring::new(MasterKey::new(AesKey::new([7; 16])), vec![]).expect("one key"))
}

fn session(n: u64) -> Session {
    Session::new(
        DevAddr::from_be_bytes((0x2600_0000 + n as u32).to_be_bytes()),
        MacVersion::V1_0_4,
        SessionKeys {
            network: NetworkKeys::V1_0 {
                nwk_s_key: AesKey::new([4; 16]),
            },
            app_s_key: None,
        },
    )
}

#[tokio::test]
async fn concurrent_counter_writes_are_all_stored_and_a_stale_session_is_refused() {
    for engine in Engine::ALL {
        let scratch = ScratchDatabase::create(engine).await;
        let db = Database::connect(&scratch.config, MIGRATIONS)
            .await
            .expect("connect");
        let plain = DeviceStore::new(db.pool().clone(), keyring());
        let mut profile = DeviceProfile::defaults("abp", Region::Eu868, MacVersion::V1_0_4);
        profile.supports_join = false;
        plain.put_profile(&profile, 1).await.expect("profile");
        for n in 0..DEVICES {
            let device = Device {
                dev_eui: Eui64::from_u64(n),
                name: format!("d{n}"),
                tenant: "acme".into(),
                profile: "abp".into(),
                join_eui: None,
                roaming: false,
                as_link: None,
            };
            plain
                .put_device(&device, Some(&session(n)), 1)
                .await
                .expect("device");
        }

        let store = DeviceStore::with_group_commit(db.pool().clone(), keyring());
        // Every device writes three successive counters, all devices at once: the writer
        // groups them; each device's writes stay in order.
        let mut writers = tokio::task::JoinSet::new();
        for n in 0..DEVICES {
            let store = store.clone();
            writers.spawn(async move {
                let mut s = session(n);
                for f_cnt in 1..=3 {
                    s.f_cnt_up_next = f_cnt * 1000 + n as u32;
                    s.n_f_cnt_down = f_cnt;
                    s.last_confirmed_down = (f_cnt == 3).then_some(7);
                    store.save_counters(Eui64::from_u64(n), &s, 2).await?;
                }
                Ok::<(), StorageError>(())
            });
        }
        while let Some(done) = writers.join_next().await {
            done.expect("task").expect("stored");
        }

        // A write for a session that is no longer the device's (another DevAddr) is refused,
        // and alone: the write beside it in the same group is stored.
        let mut stale = session(0);
        stale.dev_addr = DevAddr::from_be_bytes([0x01, 2, 3, 4]);
        let mut fine = session(1);
        fine.f_cnt_up_next = 99_999;
        fine.n_f_cnt_down = 3;
        fine.last_confirmed_down = Some(7);
        let (refused, stored) = tokio::join!(
            store.save_counters(Eui64::from_u64(0), &stale, 3),
            store.save_counters(Eui64::from_u64(1), &fine, 3),
        );
        assert!(
            matches!(refused, Err(StorageError::Gone(_))),
            "{engine:?}: {refused:?}"
        );
        stored.expect("the other write of the group");

        // A group-committed write stores the MAC state it carries (in its own table).
        let mut with_mac = fine.clone();
        with_mac.mac = Some(
            DeviceProfile::defaults("abp", Region::Eu868, MacVersion::V1_0_4)
                .fresh_mac_state(MacVersion::V1_0_4),
        );
        store
            .save_counters(Eui64::from_u64(1), &with_mac, 4)
            .await
            .expect("counters and MAC state");

        let loaded = plain.devices().await.expect("load");
        assert_eq!(loaded.len(), DEVICES as usize);
        for d in loaded {
            let n = d.device.dev_eui.to_u64();
            let s = d.session.expect("session");
            let expected = if n == 1 { 99_999 } else { 3000 + n as u32 };
            assert_eq!(s.f_cnt_up_next, expected, "{engine:?} device {n}");
            assert_eq!(s.n_f_cnt_down, 3, "{engine:?} device {n}");
            assert_eq!(s.last_confirmed_down, Some(7), "{engine:?} device {n}");
            let expected_mac = if n == 1 { with_mac.mac.clone() } else { None };
            assert_eq!(s.mac, expected_mac, "{engine:?} device {n}");
        }

        // A new session (a join) starts without the old one's MAC state.
        plain
            .put_session(Eui64::from_u64(1), &session(1), 5)
            .await
            .expect("new session");
        let reloaded = plain.devices().await.expect("load");
        assert_eq!(reloaded[1].session.as_ref().expect("session").mac, None);
        drop(store);
        db.close().await;
        scratch.drop_now().await;
    }
}
