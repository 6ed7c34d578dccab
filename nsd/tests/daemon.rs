//! The real nsd on a loopback port, on both database engines: health, metrics, restart.

#[tokio::test]
async fn serves_health_and_metrics_and_keeps_its_instance_on_both_engines() {
    service::testing::check_daemon_lifecycle_with::<nsd::Nsd>(&[
        ("NSD_KEYS__MASTER_KEY", "000102030405060708090a0b0c0d0e0f"),
        // Port 0: tests run in parallel, and 1700 may be taken.
        ("NSD_GATEWAYS__UDP_LISTEN", "127.0.0.1:0"),
    ])
    .await;
}
