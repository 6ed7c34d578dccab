//! The real hub on a loopback port, on both database engines: health, metrics, restart.

#[tokio::test]
async fn serves_health_and_metrics_and_keeps_its_instance_on_both_engines() {
    service::testing::check_daemon_lifecycle::<hub::Hub>().await;
}
