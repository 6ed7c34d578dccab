//! Master-key rotation without downtime, on both engines: the jsd restarted with a new master
//! key (the old one retired) answers joins and AppSKeyReqs at once, re-seals every device and
//! kept session in the background, and then runs without the old key. A jsd given none of
//! the keys that sealed a device refuses its joins with a precise answer instead of failing.

mod common;

use std::time::{Duration, Instant};

use common::*;
use jsd::app::view::DeliveryView;
use jsd::app::Caller;
use serde_json::{json, Value};

const KEY_A: &str = "a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0";
const KEY_B: &str = "b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1";
const KEY_C: &str = "c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2";

fn app_s_key_req(device: &TestDevice, session_key_id: &str) -> Value {
    merge(
        header(
            "1.1",
            "AppSKeyReq",
            "as-1",
            &device.join_eui.to_string(),
            40,
        ),
        json!({ "DevEUI": device.dev_eui.to_string(), "SessionKeyID": session_key_id }),
    )
}

#[tokio::test]
async fn the_master_key_rotates_without_downtime() {
    for (engine, scratch) in engines().await {
        // Key A: provision, join, keep a withheld session for the AS.
        let jsd =
            TestJsd::start_with_config(&scratch, &config_toml_with_keys(KEY_A, &[], "")).await;
        let plain = TestDevice::new(20, "1.0.4");
        let withheld = TestDevice::new(21, "1.1");
        jsd.provision(&[plain.clone(), withheld.clone()], Some(home(net_13())))
            .await;
        jsd.console
            .set_app_s_key_delivery(
                Caller::Console,
                withheld.dev_eui,
                DeliveryView::ApplicationServer {
                    as_id: "as-1".into(),
                },
            )
            .await
            .expect("delivery");
        let (_, answer) = jsd
            .bi(
                Some(TOKEN_NS_13),
                &join_req("1.1", "000013", &withheld, 1, 1),
            )
            .await;
        assert_eq!(code(&answer), "Success", "{engine:?} {answer}");
        let session = answer["SessionKeyID"]
            .as_str()
            .expect("withheld")
            .to_owned();
        let old_key_id = jsd.console.key_status().await.expect("status").current;
        jsd.stop().await;

        // Key B, A retired: serves at once, re-seals in the background.
        let jsd =
            TestJsd::start_with_config(&scratch, &config_toml_with_keys(KEY_B, &[KEY_A], "")).await;
        let (_, answer) = jsd
            .bi(Some(TOKEN_NS_13), &join_req("1.1", "000013", &plain, 1, 2))
            .await;
        assert_eq!(
            code(&answer),
            "Success",
            "{engine:?} during the re-seal: {answer}"
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = jsd.console.key_status().await.expect("status");
            assert_eq!(status.retired, vec![old_key_id.clone()]);
            if status.pending() == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{engine:?}: re-seal stuck: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        jsd.stop().await;

        // Key B alone: everything was moved.
        let jsd =
            TestJsd::start_with_config(&scratch, &config_toml_with_keys(KEY_B, &[], "")).await;
        let (_, answer) = jsd
            .bi(Some(TOKEN_NS_13), &join_req("1.1", "000013", &plain, 2, 3))
            .await;
        assert_eq!(
            code(&answer),
            "Success",
            "{engine:?} after the re-seal: {answer}"
        );
        let (_, answer) = jsd
            .bi(Some(TOKEN_AS_1), &app_s_key_req(&withheld, &session))
            .await;
        assert_eq!(
            code(&answer),
            "Success",
            "{engine:?} session re-sealed: {answer}"
        );
        let shown = jsd
            .console
            .show(Caller::Console, plain.dev_eui)
            .await
            .expect("show");
        assert_eq!(
            shown.sealed_with,
            jsd.console.key_status().await.expect("s").current
        );
        jsd.stop().await;

        // A key that sealed nothing here: joins are refused precisely, nothing panics.
        let jsd =
            TestJsd::start_with_config(&scratch, &config_toml_with_keys(KEY_C, &[], "")).await;
        let (status, answer) = jsd
            .bi(Some(TOKEN_NS_13), &join_req("1.1", "000013", &plain, 3, 4))
            .await;
        assert_eq!((status, code(&answer)), (200, "Other"), "{answer}");
        assert!(
            answer["Result"]["Description"]
                .as_str()
                .is_some_and(|d| d.contains("cannot be unsealed")),
            "{answer}"
        );
        jsd.stop().await;
        scratch.drop_now().await;
    }
}
