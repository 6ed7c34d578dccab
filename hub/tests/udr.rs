//! Usage data records on both engines: concurrent recording through the group-commit writer,
//! queries by member / agreement / period with paging, daily aggregates against a count done
//! here, CSV that parses back, and the durability contract — a record acknowledged by
//! `UdrWriter::record` is committed: a fresh pool sees it, and so does the next start after
//! the writing process is killed with SIGKILL; the writer's inbox is settled into `udrs` by
//! the writer and by every read, in order, each record exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hub::members::MemberId;
use hub::udr::export::{to_csv, UDR_COLUMNS};
use hub::udr::{
    iso8601, to_micros, DailyAggregate, Udr, UdrError, UdrFilter, UdrStore, UdrWriter,
    MICROS_PER_DAY,
};
use lorawan::ids::{DevAddr, Eui64};
use service::database::{Database, DatabaseConfig, SqliteSync};
use service::testing::{Engine, ScratchDatabase};
use time::macros::datetime;
use time::OffsetDateTime;

const SENDERS: [&str; 3] = ["ns-a", "ns-b", "ns-c"];
const RECEIVERS: [&str; 3] = ["js-x", "ns-a", "ns-b"];
const AGREEMENTS: [&str; 3] = ["a-b", "b-c", "roaming, EU \"868\""];
const MESSAGE_TYPES: [&str; 3] = ["PRStartReq", "JoinReq", "XmitDataReq"];
const START: OffsetDateTime = datetime!(2025-03-01 00:00 UTC);

/// The `n`th sample record: members, agreements, results and devices vary with `n`; the
/// requests are 250 s apart (about 3 days for 1,000) with nanoseconds the store drops.
fn sample(n: u32) -> Udr {
    let i = n as usize;
    let received_at = START + Duration::from_secs(250 * u64::from(n)) + Duration::from_nanos(789);
    let hub_answered = n.is_multiple_of(7);
    Udr {
        id: None,
        transaction_id: Some(n),
        message_type: MESSAGE_TYPES[i % 3].to_owned(),
        sender: MemberId::from(SENDERS[i % 3]),
        receiver: (!hub_answered).then(|| MemberId::from(RECEIVERS[(i / 3) % 3])),
        agreement: (!i.is_multiple_of(5)).then(|| AGREEMENTS[i % 3].to_owned()),
        dev_eui: i
            .is_multiple_of(2)
            .then(|| Eui64::from_u64(0x0004_a30b_0000_0000 | u64::from(n))),
        dev_addr: i
            .is_multiple_of(3)
            .then(|| DevAddr::from_u32(0x2601_0000 | n)),
        result_code: if hub_answered {
            "NoRoamingAgreement"
        } else if n.is_multiple_of(11) {
            "UnknownDevEUI"
        } else {
            "Success"
        }
        .to_owned(),
        request_bytes: 200 + n % 50,
        answer_bytes: 100 + n % 30,
        gateway_count: (i % 3 != 1).then_some(n % 4),
        received_at,
        forwarded_at: (!hub_answered)
            .then(|| received_at + Duration::from_micros(100 + u64::from(n % 13))),
        answered_at: received_at + Duration::from_micros(5_000 + u64::from(n % 97) * 100),
    }
}

/// `config` with the SQLite writer that commits before it acknowledges
/// (`sqlite_sync = "full"`) instead of the journal: for the tests of the inbox, which only
/// the committing writers use. PostgreSQL always commits.
fn committing(config: &DatabaseConfig) -> DatabaseConfig {
    DatabaseConfig {
        sqlite_sync: SqliteSync::Full,
        ..config.clone()
    }
}

async fn open(config: &DatabaseConfig) -> Database {
    Database::connect(config, hub::storage::MIGRATIONS)
        .await
        .expect("database opens and migrates")
}

/// Every record `filter` selects, page by page (`page` at a time); checks the pages are in
/// strictly increasing id order.
async fn all_pages(store: &UdrStore, filter: &UdrFilter, page: u32) -> Vec<Udr> {
    let mut filter = UdrFilter {
        limit: page,
        after_id: None,
        ..filter.clone()
    };
    let mut out: Vec<Udr> = Vec::new();
    loop {
        let rows = store.query(&filter).await.expect("query");
        assert!(rows.len() <= page as usize);
        for row in &rows {
            let id = row.id.expect("stored records have ids");
            if let Some(last) = out.last().and_then(|u| u.id) {
                assert!(id > last, "pages in id order: {id:?} after {last:?}");
            }
        }
        let full = rows.len() == page as usize;
        out.extend(rows);
        match (full, out.last().and_then(|u| u.id)) {
            (true, Some(last)) => filter.after_id = Some(last),
            _ => return out,
        }
    }
}

/// Records as stored, keyed by TransactionID, ids removed (ids depend on commit order).
fn by_transaction(udrs: impl IntoIterator<Item = Udr>) -> BTreeMap<u32, Udr> {
    udrs.into_iter()
        .map(|u| {
            let tid = u.transaction_id.expect("samples have TransactionIDs");
            (tid, Udr { id: None, ..u })
        })
        .collect()
}

/// The aggregates, counted here.
fn aggregate_in_rust(udrs: &[Udr], filter: &UdrFilter) -> Vec<DailyAggregate> {
    let mut groups: BTreeMap<_, DailyAggregate> = BTreeMap::new();
    for udr in udrs.iter().filter(|u| filter.matches(u)) {
        let day = hub::udr::day_from_epoch_days(to_micros(udr.received_at) / MICROS_PER_DAY)
            .expect("a day");
        let key = (
            day,
            udr.sender.clone(),
            udr.receiver.clone(),
            udr.agreement.clone(),
            udr.message_type.clone(),
            udr.result_code.clone(),
        );
        let latency = udr.total_latency_us();
        let entry = groups.entry(key).or_insert_with(|| DailyAggregate {
            day,
            sender: udr.sender.clone(),
            receiver: udr.receiver.clone(),
            agreement: udr.agreement.clone(),
            message_type: udr.message_type.clone(),
            result_code: udr.result_code.clone(),
            count: 0,
            request_bytes: 0,
            answer_bytes: 0,
            mean_total_latency_us: 0,
            max_total_latency_us: i64::MIN,
        });
        entry.count += 1;
        entry.request_bytes += u64::from(udr.request_bytes);
        entry.answer_bytes += u64::from(udr.answer_bytes);
        // The running sum, divided below.
        entry.mean_total_latency_us += latency;
        entry.max_total_latency_us = entry.max_total_latency_us.max(latency);
    }
    groups
        .into_values()
        .map(|mut a| {
            a.mean_total_latency_us /= i64::try_from(a.count).expect("small");
            a
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_records_are_all_stored_and_queried() {
    for engine in Engine::ALL {
        let scratch = ScratchDatabase::create(engine).await;
        let database = open(&scratch.config).await;
        let writer = UdrWriter::start(&database).expect("UDR writer");
        let store = UdrStore::flushing(database.pool().clone(), &writer);

        let samples: Vec<Udr> = (0..1_000).map(sample).collect();
        let mut tasks = tokio::task::JoinSet::new();
        for udr in samples.clone() {
            let writer = writer.clone();
            tasks.spawn(async move { writer.record(udr).await });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("task").expect("recorded");
        }
        let expected: Vec<Udr> = samples.into_iter().map(Udr::at_storage_precision).collect();

        // Everything, in pages that do not divide 1,000.
        let everything = UdrFilter::period(START, START + Duration::from_secs(30 * 86_400), 0);
        let stored = all_pages(&store, &everything, 37).await;
        assert_eq!(stored.len(), 1_000, "{engine:?}");
        assert_eq!(by_transaction(stored), by_transaction(expected.clone()));

        // By member (as sender or receiver), by agreement, by period, and combined.
        let day_two = UdrFilter::period(
            datetime!(2025-03-02 00:00 UTC),
            datetime!(2025-03-03 00:00 UTC),
            0,
        );
        let filters = [
            everything.clone().member("ns-a".into()),
            everything.clone().member("js-x".into()),
            everything.clone().member("nobody".into()),
            everything.clone().agreement(AGREEMENTS[2]),
            day_two.clone(),
            day_two.clone().member("ns-b".into()).agreement("b-c"),
        ];
        for filter in &filters {
            let want: Vec<Udr> = expected
                .iter()
                .filter(|u| filter.matches(u))
                .cloned()
                .collect();
            let got = all_pages(&store, filter, 50).await;
            assert_eq!(got.len(), want.len(), "{engine:?} {filter:?}");
            assert_eq!(by_transaction(got), by_transaction(want), "{filter:?}");
        }
        // `from` is inclusive and `until` exclusive, to the microsecond.
        let first = &expected[4];
        let exact = UdrFilter::period(
            first.received_at,
            first.received_at + Duration::from_micros(1),
            10,
        );
        let got = store.query(&exact).await.expect("query");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].transaction_id, Some(4));
        let before = UdrFilter::period(START, first.received_at, 1_000);
        assert_eq!(store.query(&before).await.expect("query").len(), 4);

        // Aggregates, computed by the database, against a count done here.
        for filter in [&everything, &filters[0], &filters[3], &filters[5]] {
            let got = store.daily_aggregates(filter).await.expect("aggregates");
            let want = aggregate_in_rust(&expected, filter);
            assert_eq!(got, want, "{engine:?} {filter:?}");
        }
        let all = store
            .daily_aggregates(&everything)
            .await
            .expect("aggregates");
        assert_eq!(all.iter().map(|a| a.count).sum::<u64>(), 1_000);
        assert_eq!(
            all.iter().map(|a| a.day).collect::<BTreeSet<_>>().len(),
            3,
            "1,000 records 250 s apart span three days"
        );

        drop(writer);
        database.close().await;
        scratch.drop_now().await;
    }
}

/// A minimal RFC 4180 reader: quoted fields, doubled quotes, CRLF record ends.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {
                chars.next();
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(
        !quoted && field.is_empty() && record.is_empty(),
        "ends in CRLF"
    );
    records
}

#[tokio::test]
async fn csv_export_parses_back() {
    let scratch = ScratchDatabase::create(Engine::Sqlite).await;
    let database = open(&scratch.config).await;
    let store = UdrStore::new(database.pool().clone());
    let mut samples: Vec<Udr> = (0..60).map(sample).collect();
    samples[1].message_type = "Line\r\nbreak".to_owned();
    store.insert(&samples).await.expect("insert");
    let stored = store
        .query(&UdrFilter::period(
            START,
            START + Duration::from_secs(86_400),
            100,
        ))
        .await
        .expect("query");
    assert_eq!(stored.len(), 60);

    let csv = to_csv(&stored);
    assert!(
        csv.contains(",\"roaming, EU \"\"868\"\"\","),
        "a field with a comma and quotes is quoted, its quotes doubled"
    );
    let records = parse_csv(&csv);
    assert_eq!(records[0], UDR_COLUMNS);
    assert_eq!(records.len(), stored.len() + 1);
    for (row, udr) in records[1..].iter().zip(&stored) {
        let field = |name: &str| -> &str {
            let at = UDR_COLUMNS
                .iter()
                .position(|c| *c == name)
                .expect("a column");
            &row[at]
        };
        let text = |value: Option<String>| value.unwrap_or_default();
        assert_eq!(row.len(), UDR_COLUMNS.len());
        assert_eq!(field("id"), udr.id.expect("id").0.to_string());
        assert_eq!(
            field("transaction_id"),
            text(udr.transaction_id.map(|t| t.to_string()))
        );
        assert_eq!(field("message_type"), udr.message_type);
        assert_eq!(field("sender"), udr.sender.0);
        assert_eq!(
            field("receiver"),
            text(udr.receiver.as_ref().map(|r| r.0.clone()))
        );
        assert_eq!(field("agreement"), text(udr.agreement.clone()));
        assert_eq!(field("dev_eui"), text(udr.dev_eui.map(|e| e.to_string())));
        assert_eq!(field("dev_addr"), text(udr.dev_addr.map(|a| a.to_string())));
        assert_eq!(field("result_code"), udr.result_code);
        assert_eq!(field("request_bytes"), udr.request_bytes.to_string());
        assert_eq!(field("received_at"), iso8601(udr.received_at));
        assert_eq!(field("forwarded_at"), text(udr.forwarded_at.map(iso8601)));
        let received = OffsetDateTime::parse(
            field("answered_at"),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("ISO 8601");
        assert_eq!(received, udr.answered_at);
        assert_eq!(
            field("total_latency_us"),
            udr.total_latency_us().to_string()
        );
    }
    database.close().await;
    scratch.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_record_is_committed() {
    for engine in Engine::ALL {
        let scratch = ScratchDatabase::create(engine).await;
        let writing = open(&scratch.config).await;
        let writer = UdrWriter::start(&writing).expect("UDR writer");
        // Another pool, as the admin API's queries use; like them it has the writer store
        // what it journaled first.
        let reading = open(&scratch.config).await;
        let store = UdrStore::flushing(reading.pool().clone(), &writer);
        let everything = UdrFilter::period(START, START + Duration::from_secs(86_400), 100);
        for n in 0..20 {
            writer.record(sample(n)).await.expect("recorded");
            let seen = store.query(&everything).await.expect("query");
            assert_eq!(seen.len(), n as usize + 1, "{engine:?}");
            assert!(seen.iter().any(|u| u.transaction_id == Some(n)));
        }
        drop(writer);
        writing.close().await;
        reading.close().await;
        scratch.drop_now().await;
    }
}

/// Rows in `table` (the writer's `udr_inbox` or the queried `udrs`).
async fn rows_in(database: &Database, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(database.pool())
        .await
        .expect("count")
}

/// Waits (no reader settling meanwhile) until the writer has emptied `udr_inbox`; fails
/// after `intervals` settle intervals.
async fn wait_until_the_writer_settles(database: &Database, engine: Engine, intervals: u32) {
    let deadline = Instant::now() + hub::udr::SETTLE_EVERY * intervals;
    while rows_in(database, "udr_inbox").await > 0 {
        assert!(Instant::now() < deadline, "{engine:?}: inbox never settled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_is_settled_in_order_by_the_writer_and_by_readers_losing_nothing() {
    for engine in Engine::ALL {
        let scratch = ScratchDatabase::create(engine).await;
        let database = open(&committing(&scratch.config)).await;
        let writer = UdrWriter::start(&database).expect("UDR writer");
        let store = UdrStore::new(database.pool().clone());
        let everything = UdrFilter::period(START, START + Duration::from_secs(30 * 86_400), 0);

        // Writers and readers at once: every read settles the inbox while batches commit.
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..600 {
            let writer = writer.clone();
            tasks.spawn(async move { writer.record(sample(n)).await.map(|()| 0) });
        }
        for _ in 0..6 {
            let store = store.clone();
            let filter = everything.clone().member("ns-a".into());
            tasks.spawn(async move { store.query(&filter).await.map(|found| found.len()) });
        }
        while let Some(done) = tasks.join_next().await {
            done.expect("task").expect("recorded or read");
        }
        let stored = all_pages(&store, &everything, 1_000).await;
        assert_eq!(stored.len(), 600, "{engine:?}: each record once, none lost");
        assert_eq!(
            by_transaction(stored.clone()).len(),
            600,
            "{engine:?}: no duplicate"
        );
        assert_eq!(rows_in(&database, "udr_inbox").await, 0, "{engine:?}");

        // Settled in the order committed: ids grow with the order the writer received them.
        let (first, second) = (sample(10_000), sample(10_001));
        writer.record(first).await.expect("recorded");
        writer.record(second).await.expect("recorded");
        // Without any reader, the writer moves them within its settle interval.
        wait_until_the_writer_settles(&database, engine, 10).await;
        let ids: Vec<(u32, i64)> = sqlx::query_as::<_, (i64, i64)>(
            "SELECT transaction_id, id FROM udrs WHERE transaction_id >= 10000 ORDER BY id",
        )
        .fetch_all(database.pool())
        .await
        .expect("ids")
        .into_iter()
        .map(|(tid, id)| (u32::try_from(tid).expect("tid"), id))
        .collect();
        assert_eq!(
            ids.iter().map(|(tid, _)| *tid).collect::<Vec<_>>(),
            vec![10_000, 10_001],
            "{engine:?}"
        );

        drop(writer);
        database.close().await;
        scratch.drop_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_record_does_not_take_its_batch_with_it() {
    for engine in Engine::ALL {
        let scratch = ScratchDatabase::create(engine).await;
        let database = open(&committing(&scratch.config)).await;
        // PostgreSQL refuses a NUL character in TEXT; SQLite stores it, so there a trigger
        // refuses the record instead.
        if engine == Engine::Sqlite {
            sqlx::query(
                "CREATE TRIGGER refuse_for_the_test BEFORE INSERT ON udr_inbox \
                 WHEN NEW.transaction_id = 1000 \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
            )
            .execute(database.pool())
            .await
            .expect("trigger");
        }
        let writer = UdrWriter::start(&database).expect("UDR writer");
        let store = UdrStore::new(database.pool().clone());
        let mut poisoned = sample(1_000);
        poisoned.message_type = "PRStart\0Req".to_owned();
        let mut tasks = tokio::task::JoinSet::new();
        for udr in (0..200).map(sample).chain([poisoned]) {
            let writer = writer.clone();
            tasks.spawn(async move { (udr.transaction_id, writer.record(udr).await) });
        }
        let mut refused = Vec::new();
        while let Some(done) = tasks.join_next().await {
            let (tid, outcome) = done.expect("task");
            if let Err(e) = outcome {
                assert!(
                    matches!(
                        e,
                        UdrError::Database(_) | UdrError::Sqlite(_) | UdrError::Batch(_)
                    ),
                    "{e}"
                );
                refused.push(tid);
            }
        }
        let stored = store
            .query(&UdrFilter::period(
                START,
                START + Duration::from_secs(10 * 86_400),
                1_000,
            ))
            .await
            .expect("query");
        assert_eq!(
            refused,
            [Some(1_000)],
            "{engine:?}: only the refused record fails"
        );
        assert_eq!(stored.len(), 200, "{engine:?}");
        drop(writer);
        database.close().await;
        scratch.drop_now().await;
    }
}

/// How the child process is told where to write (see [`udr_writer_child`]).
const CHILD_DATABASE: &str = "SWITCHYARD_UDR_CHILD_DATABASE_URL";
/// And, on SQLite, with which writer: `full` (commits) or `normal` (the journal).
const CHILD_SQLITE_SYNC: &str = "SWITCHYARD_UDR_CHILD_SQLITE_SYNC";

/// Not a test on its own: when started by [`kill_9_keeps_every_acknowledged_record`] with
/// [`CHILD_DATABASE`] set, records UDRs from 64 callers as fast as it can and prints
/// `acked <TransactionID>` once each is acknowledged, until killed (or 60 s pass).
#[test]
fn udr_writer_child() {
    let Ok(url) = std::env::var(CHILD_DATABASE) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let sqlite_sync = match std::env::var(CHILD_SQLITE_SYNC).as_deref() {
            Ok("full") => SqliteSync::Full,
            _ => SqliteSync::Normal,
        };
        let config = DatabaseConfig {
            url,
            sqlite_sync,
            ..DatabaseConfig::sqlite("unused")
        };
        let database = open(&config).await;
        let writer = UdrWriter::start(&database).expect("UDR writer");
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut callers = tokio::task::JoinSet::new();
        for caller in 0..64u32 {
            let writer = writer.clone();
            callers.spawn(async move {
                for k in 0.. {
                    if Instant::now() > deadline {
                        break;
                    }
                    let tid = caller * 1_000_000 + k;
                    let udr = Udr {
                        transaction_id: Some(tid),
                        ..sample(k % 1_000)
                    };
                    writer.record(udr).await.expect("recorded");
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "acked {tid}").expect("stdout");
                    out.flush().expect("stdout");
                }
            });
        }
        while callers.join_next().await.is_some() {}
    });
}

/// Acknowledgements a round waits for before it kills the child.
const ACKS_BEFORE_KILL: usize = 3_000;

#[test]
fn kill_9_keeps_every_acknowledged_record() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // SQLite with the journal (the default) and with the committing writer, and PostgreSQL.
    let cases = [
        (Engine::Sqlite, "normal"),
        (Engine::Sqlite, "full"),
        (Engine::Postgres, "normal"),
    ];
    for (engine, sqlite_sync) in cases {
        let scratch = runtime.block_on(ScratchDatabase::create(engine));
        // Migrated before the child starts, as the hub's database is before it routes.
        runtime.block_on(async { open(&scratch.config).await.close().await });
        let mut acked = BTreeSet::new();
        for round in 0..2 {
            let mut child = Command::new(std::env::current_exe().expect("test binary"))
                .args([
                    "udr_writer_child",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_DATABASE, &scratch.config.url)
                .env(CHILD_SQLITE_SYNC, sqlite_sync)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("start the child");
            let stdout = child.stdout.take().expect("piped");
            let (acks, acknowledged) = std::sync::mpsc::channel();
            let reader = std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(tid) = line.strip_prefix("acked ") {
                        let _ = acks.send(tid.parse::<u32>().expect("a TransactionID"));
                    }
                }
            });
            // SIGKILL once enough came in (the writer is then busy with more), or after 20 s.
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut this_round = 0;
            while this_round < ACKS_BEFORE_KILL {
                let left = deadline.saturating_duration_since(Instant::now());
                match acknowledged.recv_timeout(left) {
                    Ok(tid) => {
                        acked.insert(tid);
                        this_round += 1;
                    }
                    Err(_) => break,
                }
            }
            assert!(
                matches!(child.try_wait(), Ok(None)),
                "the child is still writing when it is killed"
            );
            child.kill().expect("SIGKILL");
            child.wait().expect("reaped");
            reader.join().expect("reader");
            // What the child printed before it died was acknowledged too.
            acked.extend(acknowledged.try_iter());
            assert!(
                this_round >= ACKS_BEFORE_KILL,
                "{engine:?} ({sqlite_sync}) round {round}: only {this_round} acknowledgements in 20 s"
            );
        }
        // The restarted hub's view: every acknowledged record is there. Its writer stores
        // what the killed one journaled before it takes anything.
        runtime.block_on(async {
            let database = open(&scratch.config).await;
            let writer = UdrWriter::start(&database).expect("restarted writer");
            let store = UdrStore::flushing(database.pool().clone(), &writer);
            let everything = UdrFilter::period(START, START + Duration::from_secs(30 * 86_400), 0);
            let stored: BTreeSet<u32> = all_pages(&store, &everything, 5_000)
                .await
                .into_iter()
                .filter_map(|u| u.transaction_id)
                .collect();
            let lost: Vec<_> = acked.difference(&stored).take(10).collect();
            assert!(
                lost.is_empty(),
                "{engine:?} ({sqlite_sync}): acknowledged, not stored: {lost:?}"
            );
            assert!(stored.len() >= acked.len());
            database.close().await;
            scratch.drop_now().await;
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbox_of_many_steps_is_settled_by_the_writer_alone_in_order() {
    for engine in Engine::ALL {
        let scratch = ScratchDatabase::create(engine).await;
        let database = open(&committing(&scratch.config)).await;
        let writer = UdrWriter::start(&database).expect("UDR writer");
        let store = UdrStore::new(database.pool().clone());
        let everything = UdrFilter::period(START, START + Duration::from_secs(30 * 86_400), 0);

        // One after the other, so the inbox order is the transaction order; more than four
        // of the writer's settle steps, and no reader to move them.
        let records = u32::try_from(4 * hub::udr::SETTLE_STEP + 7).expect("small");
        for n in 0..records {
            writer.record(sample(n)).await.expect("recorded");
        }
        wait_until_the_writer_settles(&database, engine, 20).await;
        let moved: Vec<i64> = sqlx::query_scalar("SELECT transaction_id FROM udrs ORDER BY id")
            .fetch_all(database.pool())
            .await
            .expect("moved");
        assert_eq!(
            moved,
            (0..i64::from(records)).collect::<Vec<_>>(),
            "{engine:?}: every record once, in the order recorded"
        );
        assert_eq!(
            all_pages(&store, &everything, 1_000).await.len(),
            usize::try_from(records).expect("small"),
            "{engine:?}"
        );

        drop(writer);
        database.close().await;
        scratch.drop_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journaled_records_reach_the_database_without_readers_once_each() {
    let scratch = ScratchDatabase::create(Engine::Sqlite).await;
    let database = open(&scratch.config).await;
    let writer = UdrWriter::start(&database).expect("UDR writer");
    for n in 0..50 {
        writer.record(sample(n)).await.expect("recorded");
    }
    // Nobody reads through the writer: its drainer stores them within its interval.
    let deadline = Instant::now() + hub::udr::DRAIN_EVERY * 30;
    while rows_in(&database, "udrs").await < 50 {
        assert!(Instant::now() < deadline, "the journal was not drained");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A second writer on the same database is refused while the first holds the journal.
    assert!(UdrWriter::start(&database).is_err());
    for n in 50..80 {
        writer.record(sample(n)).await.expect("recorded");
    }
    // Gone, the writer stores what it held; a new one starts on the same journal and
    // stores nothing twice.
    drop(writer);
    let deadline = Instant::now() + Duration::from_secs(5);
    let writer = loop {
        match UdrWriter::start(&database) {
            Ok(writer) => break writer,
            Err(e) => {
                assert!(Instant::now() < deadline, "journal never released: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    writer.record(sample(80)).await.expect("recorded");
    let store = UdrStore::flushing(database.pool().clone(), &writer);
    let everything = UdrFilter::period(START, START + Duration::from_secs(30 * 86_400), 0);
    let stored = all_pages(&store, &everything, 1_000).await;
    assert_eq!(by_transaction(stored).len(), 81);
    assert_eq!(rows_in(&database, "udrs").await, 81, "each record once");
    drop(writer);
    database.close().await;
    scratch.drop_now().await;
}
