//! The device repository on both engines: compare-and-set of activations, alone and in a
//! group commit, where a stale write loses without disturbing the others.

use jsd::device::{commission, Home, ImportRow, Keyring, MasterKey};
use jsd::join::NonceState;
use jsd::storage::{ActivationWrite, DeviceStore, StoredDevice, MIGRATIONS};
use lorawan::ids::{AesKey, Eui64, NetId};
use lorawan::join::{JoinNonce, MacVersion};
use service::database::Database;
use service::testing::{Engine, ScratchDatabase};

fn row(n: u64) -> ImportRow {
    ImportRow {
        line: 2,
        dev_eui: Eui64::from_u64(0x0004_a30b_0000_0000 | n),
        join_eui: Eui64::from_u64(0x70b3_d57e_d000_0001),
        mac_version: MacVersion::V1_0_4,
        app_key: AesKey::new([n as u8; 16]),
        nwk_key: None,
        profile_id: None,
    }
}

fn activation(stored: &StoredDevice, join_nonce: u32) -> ActivationWrite {
    ActivationWrite {
        dev_eui: stored.record.dev_eui,
        revision: stored.revision,
        nonces: NonceState {
            dev_nonce_last: Some(join_nonce as u16),
            join_nonce_last: JoinNonce::new(join_nonce),
            ..NonceState::default()
        },
        lifecycle: None,
        at: 1_800_000_000,
        session: None,
        sessions_kept: 4,
    }
}

async fn provisioned(store: &DeviceStore, keyring: &Keyring, count: u64) -> Vec<StoredDevice> {
    let home = Home {
        net_id: NetId::from_u32(0x13).expect("24 bits"),
        nsid: None,
    };
    let mut records = Vec::new();
    for n in 1..=count {
        let (mut record, token) = commission(&row(n), keyring, 1, "test").expect("random");
        jsd::device::claim(Some(&mut record), &token, home, 2).expect("claim");
        records.push(record);
    }
    store.insert_batch(&records, 1).await.expect("insert");
    let mut stored = Vec::new();
    for record in &records {
        stored.push(
            store
                .load(record.dev_eui)
                .await
                .expect("load")
                .expect("stored"),
        );
    }
    stored
}

#[tokio::test]
async fn activations_are_compare_and_set_alone_and_in_groups() {
    let keyring = Keyring::new(MasterKey::new(AesKey::new([9; 16])), vec![]).expect("keyring");
    for engine in Engine::ALL {
        let scratch = ScratchDatabase::create(engine).await;
        let database = Database::connect(&scratch.config, MIGRATIONS)
            .await
            .expect("database");

        for (mode, store) in [
            ("single", DeviceStore::new(database.pool().clone())),
            (
                "group",
                DeviceStore::with_group_commit(database.pool().clone()),
            ),
        ] {
            let devices = provisioned(&store, &keyring, 8).await;

            // Every device wins once at its loaded revision, concurrently; a second write at
            // the same (now stale) revision loses, for every other device too.
            let won = record_all(&store, &devices, 5).await;
            assert!(won.iter().all(|w| *w), "{engine:?} {mode}: {won:?}");
            let won = record_all(&store, &devices, 6).await;
            assert!(won.iter().all(|w| !*w), "{engine:?} {mode}: {won:?}");

            for device in &devices {
                let now = store
                    .load(device.record.dev_eui)
                    .await
                    .expect("load")
                    .expect("stored");
                assert_eq!(now.nonces.join_nonce_last.map(|n| n.get()), Some(5));
                assert_eq!(now.revision, device.revision + 1);
                // Clean up for the next mode, which imports the same DevEUIs.
                sqlx_delete(&database, device.record.dev_eui).await;
            }
        }
        database.close().await;
        scratch.drop_now().await;
    }
}

/// Records an activation of every device at its loaded revision, all at once.
async fn record_all(store: &DeviceStore, devices: &[StoredDevice], join_nonce: u32) -> Vec<bool> {
    let handles: Vec<_> = devices
        .iter()
        .map(|device| {
            let store = store.clone();
            let write = activation(device, join_nonce);
            tokio::spawn(async move { store.record_activation(write).await })
        })
        .collect();
    let mut won = Vec::new();
    for handle in handles {
        won.push(handle.await.expect("task").expect("storage"));
    }
    won
}

async fn sqlx_delete(database: &Database, dev_eui: Eui64) {
    sqlx::query("DELETE FROM devices WHERE dev_eui = $1")
        .bind(dev_eui.to_string())
        .execute(database.pool())
        .await
        .expect("delete");
}
