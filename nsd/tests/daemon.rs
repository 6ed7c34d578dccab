//! The real nsd on a loopback port, on both database engines: health, metrics, restart.

use std::collections::BTreeMap;

use service::testing::{assert_ops_endpoints, http_get, Engine, ScratchDatabase};

async fn start(scratch: &ScratchDatabase) -> service::daemon::Running {
    let env: BTreeMap<String, String> = [
        ("NSD_SERVER__LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ("NSD_DATABASE__URL".to_owned(), scratch.config.url.clone()),
    ]
    .into();
    nsd::start(&nsd::Config::load(None, &env).unwrap()).await.unwrap()
}

#[tokio::test]
async fn serves_health_and_metrics_and_keeps_its_instance_on_both_engines() {
    for engine in Engine::ALL {
        let scratch = ScratchDatabase::create(engine).await;
        let daemon = start(&scratch).await;
        let instance = assert_ops_endpoints(daemon.local_addr, "nsd", engine).await;
        daemon.stop().await.unwrap();

        let daemon = start(&scratch).await;
        let (_, body) = http_get(daemon.local_addr, "/health").await;
        assert!(body.contains(&instance), "instance id must survive a restart: {body}");
        daemon.stop().await.unwrap();
        scratch.drop_now().await;
    }
}
