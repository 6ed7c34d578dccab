//! The multicast group repository on both engines: groups round-trip with their keys sealed,
//! the frame counter is taken atomically, a wrong master key cannot read the keys.

use std::sync::Arc;

use lorawan::ids::{AesKey, DevAddr};
use lorawan::region::Region;
use nsd::device::multicast::{McGroup, MulticastKeys};
use nsd::downlink::multicast::MulticastClass;
use nsd::storage::{MulticastStore, StorageError, MIGRATIONS};
use service::database::Database;
use service::sealing::{Keyring, MasterKey};
use service::testing::{Engine, ScratchDatabase};
use sqlx::Row;

fn keyring(byte: u8) -> Arc<Keyring> {
    Arc::new(Keyring::new(MasterKey::new(AesKey::new([byte; 16])), vec![]).expect("one key"))
}

fn group(id: &str) -> McGroup {
    McGroup {
        id: id.into(),
        dev_addr: DevAddr::from_be_bytes([0x01, 0xab, 0xcd, 0xef]),
        keys: MulticastKeys {
            mc_nwk_s_key: AesKey::new([0x5a; 16]),
            mc_app_s_key: AesKey::new([0xa5; 16]),
        },
        f_cnt: 5,
        class: MulticastClass::C,
        region: Region::Eu868,
        frequency_hz: 869_525_000,
        data_rate: 3,
        gateway_tags: vec!["city".into(), "north".into()],
    }
}

#[tokio::test]
async fn multicast_groups_round_trip_on_both_engines() {
    for engine in Engine::ALL {
        let scratch = ScratchDatabase::create(engine).await;
        let db = Database::connect(&scratch.config, MIGRATIONS)
            .await
            .expect("connect");
        let store = MulticastStore::new(db.pool().clone(), keyring(7));
        let mut b = group("b-group");
        b.class = MulticastClass::B;
        store.put(&group("lights"), 1).await.expect("put");
        store.put(&b, 1).await.expect("put");
        assert_eq!(
            store.get("lights").await.expect("get"),
            Some(group("lights"))
        );
        assert_eq!(
            store.all().await.expect("all"),
            vec![b.clone(), group("lights")]
        );

        // Sealed at rest: the key bytes are not in the row.
        let row = sqlx::query("SELECT keys FROM multicast_groups WHERE id = 'lights'")
            .fetch_one(db.pool())
            .await
            .expect("row");
        let sealed: Vec<u8> = row.try_get("keys").expect("keys");
        assert_eq!(sealed.len(), 56);
        assert!(!sealed
            .windows(16)
            .any(|w| w == [0x5a; 16] || w == [0xa5; 16]));

        // The counter is taken before use, never twice.
        let first = store
            .take_f_cnt("lights", 2)
            .await
            .expect("take")
            .expect("group");
        let second = store
            .take_f_cnt("lights", 2)
            .await
            .expect("take")
            .expect("group");
        assert_eq!((first.f_cnt, second.f_cnt), (5, 6));
        assert_eq!(
            store
                .get("lights")
                .await
                .expect("get")
                .expect("group")
                .f_cnt,
            7
        );
        assert!(store.take_f_cnt("none", 2).await.expect("take").is_none());

        let stranger = MulticastStore::new(db.pool().clone(), keyring(8));
        assert!(matches!(
            stranger.get("lights").await,
            Err(StorageError::Corrupt { .. })
        ));
        assert!(store.delete("lights").await.expect("delete"));
        assert!(!store.delete("lights").await.expect("again"));
        assert_eq!(store.get("lights").await.expect("get"), None);
    }
}
