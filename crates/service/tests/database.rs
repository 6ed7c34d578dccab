//! The database layer on both engines: migrations applied once, `$n` parameters and the types
//! repositories use (integers, text, bytes) round-trip, and a reopened database keeps its data.

use service::database::{Database, Migrations};
use service::testing::{Engine, ScratchDatabase};
use sqlx::migrate::Migrator;
use sqlx::Row;

static SQLITE: Migrator = sqlx::migrate!("tests/migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("tests/migrations/postgres");
const MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE,
    postgres: &POSTGRES,
};

#[tokio::test]
async fn migrate_write_reopen_read_on_both_engines() {
    for engine in Engine::ALL {
        let scratch = ScratchDatabase::create(engine).await;
        let db = Database::connect(&scratch.config, MIGRATIONS)
            .await
            .unwrap();
        assert_eq!(db.backend(), engine);
        db.ping().await.unwrap();
        sqlx::query("INSERT INTO notes (id, body, key) VALUES ($1, $2, $3)")
            .bind(7_i64)
            .bind("seven")
            .bind(vec![0_u8, 255, 16])
            .execute(db.pool())
            .await
            .unwrap();
        let instance = db.instance_id().await.unwrap();
        assert_eq!(instance.len(), 16);
        db.close().await;

        // Reopening runs the migrator again: already-applied migrations must be skipped.
        let db = Database::connect(&scratch.config, MIGRATIONS)
            .await
            .unwrap();
        let row = sqlx::query("SELECT id, body, key FROM notes WHERE id = $1")
            .bind(7_i64)
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(row.get::<i64, _>("id"), 7, "{engine:?}");
        assert_eq!(row.get::<String, _>("body"), "seven", "{engine:?}");
        assert_eq!(
            row.get::<Vec<u8>, _>("key"),
            vec![0_u8, 255, 16],
            "{engine:?}"
        );
        assert_eq!(
            db.instance_id().await.unwrap(),
            instance,
            "instance id must survive restart"
        );
        db.close().await;
        scratch.drop_now().await;
    }
}

#[tokio::test]
async fn unreachable_database_is_a_clear_error() {
    let config = service::database::DatabaseConfig {
        url: "postgres://nobody:pw@127.0.0.1:1/none".into(),
        max_connections: 1,
        connect_timeout_ms: 300,
        ..service::database::DatabaseConfig::sqlite("unused")
    };
    let err = Database::connect(&config, MIGRATIONS)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert!(!err.contains("pw"), "password leaked: {err}");
}
