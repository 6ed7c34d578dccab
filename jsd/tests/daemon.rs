//! The real jsd on a loopback port, on both database engines: health, metrics, restart.

#[tokio::test]
async fn serves_health_and_metrics_and_keeps_its_instance_on_both_engines() {
    service::testing::check_daemon_lifecycle_with::<jsd::Jsd>(&[(
        "JSD_KEYS__MASTER_KEY",
        "000102030405060708090a0b0c0d0e0f",
    )])
    .await;
}
