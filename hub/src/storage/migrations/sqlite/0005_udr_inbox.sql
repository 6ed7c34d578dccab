-- Where the routing path commits UDRs (hub/src/udr/writer.rs): a table without secondary
-- indexes, so a commit writes one or two pages instead of the udrs table's five (row, four
-- indexes) plus its AUTOINCREMENT counter. Rows are moved into udrs in bulk, in order, by
-- the writer a moment later and by every query before it reads (hub/src/udr/store.rs,
-- `settle`); a row is in exactly one of the two tables at any time.
CREATE TABLE udr_inbox (
    seq INTEGER PRIMARY KEY,
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
