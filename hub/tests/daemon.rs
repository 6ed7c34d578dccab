//! The real hub on a loopback port, on both database engines: health, metrics, restart.

use std::collections::BTreeMap;

use service::testing::{assert_ops_endpoints, http_get, Engine, ScratchDatabase};

async fn start(scratch: &ScratchDatabase) -> service::daemon::Running {
    let env: BTreeMap<String, String> = [
        ("HUB_SERVER__LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ("HUB_DATABASE__URL".to_owned(), scratch.config.url.clone()),
    ]
    .into();
    hub::start(&hub::Config::load(None, &env).unwrap()).await.unwrap()
}

#[tokio::test]
async fn serves_health_and_metrics_and_keeps_its_instance_on_both_engines() {
    for engine in Engine::ALL {
        let scratch = ScratchDatabase::create(engine).await;
        let hub = start(&scratch).await;
        let instance = assert_ops_endpoints(hub.local_addr, "hub", engine).await;
        hub.stop().await.unwrap();

        let hub = start(&scratch).await;
        let (_, body) = http_get(hub.local_addr, "/health").await;
        assert!(body.contains(&instance), "instance id must survive a restart: {body}");
        hub.stop().await.unwrap();
        scratch.drop_now().await;
    }
}
