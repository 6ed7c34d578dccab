//! Recording UDRs through the writer: many callers at once, each waiting until its record is
//! durable (as routing does before answering). Reports records per second on SQLite with
//! `synchronous = NORMAL` (the journal: a copy into the mapped file, drained into the
//! database behind; sustained, since a full journal makes callers wait for the drainer) and
//! `FULL` (group commit), and on PostgreSQL (group commit) when
//! `SWITCHYARD_BENCH_POSTGRES=1` (the server of `service::testing`, default
//! 127.0.0.1:5432).
//!
//! Run: `cargo bench -p hub --bench udr -- --warm-up-time 1 --measurement-time 5`

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hub::udr::{Udr, UdrWriter};
use lorawan::ids::{DevAddr, Eui64};
use service::database::{Database, DatabaseConfig, SqliteSync};
use service::testing::{Engine, ScratchDatabase};
use time::OffsetDateTime;

/// Records per measured iteration.
const RECORDS: usize = 20_000;
/// Callers recording at once (transactions in flight in the hub): many (big batches) and as
/// many as the hub-relay load driver's connections, and few (batches of a few records, as
/// the hub makes them at its closed-loop rate).
const CALLERS: [usize; 3] = [512, 32, 4];

fn udr(n: usize) -> Udr {
    let now = OffsetDateTime::now_utc();
    Udr {
        id: None,
        transaction_id: u32::try_from(n).ok(),
        message_type: "PRStartReq".into(),
        sender: "operator-a-ns".into(),
        receiver: Some("operator-b-ns".into()),
        agreement: Some("a-b-passive".into()),
        dev_eui: None,
        dev_addr: Some(DevAddr::from_u32(0x2601_0000 | (n as u32 & 0xffff))),
        result_code: "Success".into(),
        request_bytes: 412,
        answer_bytes: 233,
        gateway_count: Some(3),
        received_at: now,
        forwarded_at: Some(now + Duration::from_micros(180)),
        answered_at: now + Duration::from_millis(12),
    }
    .with_dev_eui(n)
}

trait WithDevEui {
    fn with_dev_eui(self, n: usize) -> Self;
}

impl WithDevEui for Udr {
    fn with_dev_eui(mut self, n: usize) -> Self {
        if n.is_multiple_of(2) {
            self.dev_eui = Some(Eui64::from_u64(0x0004_a30b_0000_0000 | n as u64));
        }
        self
    }
}

async fn record_all(writer: &UdrWriter, callers_at_once: usize) {
    let mut callers = tokio::task::JoinSet::new();
    for caller in 0..callers_at_once {
        let writer = writer.clone();
        callers.spawn(async move {
            for n in (caller..RECORDS).step_by(callers_at_once) {
                writer.record(udr(n)).await.expect("recorded");
            }
        });
    }
    while let Some(done) = callers.join_next().await {
        done.expect("caller");
    }
}

fn bench_engine(c: &mut Criterion, name: &str, engine: Engine, sync: SqliteSync) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (scratch, database, writer) = runtime.block_on(async {
        let scratch = ScratchDatabase::create(engine).await;
        let config = DatabaseConfig {
            sqlite_sync: sync,
            ..scratch.config.clone()
        };
        let database = Database::connect(&config, hub::storage::MIGRATIONS)
            .await
            .expect("database");
        let writer = UdrWriter::start(&database).expect("UDR writer");
        (scratch, database, writer)
    });
    let mut group = c.benchmark_group("udr");
    group.sample_size(10);
    group.throughput(Throughput::Elements(RECORDS as u64));
    for callers in CALLERS {
        let mut cpu = 0.0;
        let mut records = 0;
        group.bench_function(format!("{name}, {callers} callers"), |b| {
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let cpu_before = service::process::cpu_seconds();
                    let start = Instant::now();
                    for _ in 0..iters {
                        record_all(&writer, callers).await;
                    }
                    let elapsed = start.elapsed();
                    cpu += service::process::cpu_seconds() - cpu_before;
                    records += iters as usize * RECORDS;
                    elapsed
                })
            })
        });
        if records > 0 {
            println!(
                "{name}, {callers} callers: {:.1} µs of CPU per record",
                cpu * 1e6 / records as f64
            );
        }
    }
    group.finish();
    runtime.block_on(async {
        drop(writer);
        database.close().await;
        scratch.drop_now().await;
    });
}

fn record(c: &mut Criterion) {
    bench_engine(
        c,
        "record sqlite normal",
        Engine::Sqlite,
        SqliteSync::Normal,
    );
    bench_engine(c, "record sqlite full", Engine::Sqlite, SqliteSync::Full);
    if std::env::var("SWITCHYARD_BENCH_POSTGRES").is_ok_and(|v| v == "1") {
        bench_engine(c, "record postgres", Engine::Postgres, SqliteSync::Normal);
    }
}

criterion_group!(benches, record);
criterion_main!(benches);
