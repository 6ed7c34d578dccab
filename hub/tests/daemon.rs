//! The real hub on a loopback port, on both database engines: health, metrics, restart.

use std::collections::BTreeMap;

use service::testing::{Engine, ScratchDatabase};

async fn start(scratch: &ScratchDatabase) -> service::daemon::Running {
    let env: BTreeMap<String, String> = [
        ("HUB_SERVER__LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
        ("HUB_DATABASE__URL".to_owned(), scratch.config.url.clone()),
    ]
    .into();
    let config = hub::Config::load(None, &env).unwrap();
    hub::start(&config).await.unwrap()
}

#[tokio::test]
async fn serves_health_and_metrics_on_both_engines() {
    let client = reqwest::Client::new();
    for engine in Engine::ALL {
        let scratch = ScratchDatabase::create(engine).await;
        let hub = start(&scratch).await;
        let base = format!("http://{}", hub.local_addr);

        let health = client.get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        let body: serde_json::Value = serde_json::from_str(&health.text().await.unwrap()).unwrap();
        assert_eq!(body["status"], "ok");
        assert_eq!(body["daemon"], "hub");
        let expected_db = if engine == Engine::Sqlite { "sqlite" } else { "postgres" };
        assert_eq!(body["database"], expected_db);
        let instance = body["instance"].as_str().unwrap().to_owned();

        let missing = client.get(format!("{base}/nope")).send().await.unwrap();
        assert_eq!(missing.status(), 404);

        let metrics = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains("switchyard_hub_build_info"), "{metrics}");
        assert!(
            metrics.contains(r#"switchyard_hub_http_requests_total{route="/health",method="GET",status="200"} 1"#),
            "{metrics}"
        );
        assert!(metrics.contains(r#"route="unmatched""#), "{metrics}");
        hub.stop().await.unwrap();

        // Same database, new process state: the instance id persists.
        let hub = start(&scratch).await;
        let body: serde_json::Value = serde_json::from_str(
            &client.get(format!("http://{}/health", hub.local_addr)).send().await.unwrap().text().await.unwrap(),
        )
        .unwrap();
        assert_eq!(body["instance"], instance.as_str());
        hub.stop().await.unwrap();
        scratch.drop_now().await;
    }
}
