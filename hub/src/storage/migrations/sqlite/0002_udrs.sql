-- Usage data records: one per routed transaction (hub/src/udr). Times are microseconds since
-- the Unix epoch (UTC); the day of a record is received_at / 86400000000. DevEUI and DevAddr
-- are lower-case hex. AUTOINCREMENT: ids only grow, even after old records are deleted, so
-- paging by id never revisits one.
CREATE TABLE udrs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at INTEGER NOT NULL,
    forwarded_at INTEGER,
    answered_at INTEGER NOT NULL,
    transaction_id INTEGER,
    message_type TEXT NOT NULL,
    sender TEXT NOT NULL,
    receiver TEXT,
    agreement TEXT,
    dev_eui TEXT,
    dev_addr TEXT,
    result_code TEXT NOT NULL,
    request_bytes INTEGER NOT NULL,
    answer_bytes INTEGER NOT NULL,
    gateway_count INTEGER
);
-- Queries and aggregates select a period, optionally a member (as sender or receiver) or an
-- agreement.
CREATE INDEX udrs_received_at ON udrs (received_at);
CREATE INDEX udrs_sender ON udrs (sender, received_at);
CREATE INDEX udrs_receiver ON udrs (receiver, received_at);
CREATE INDEX udrs_agreement ON udrs (agreement, received_at);
