-- Audit log of refused messages (hub/src/audit): every message the hub refused itself, with
-- what it claimed to be. Times are microseconds since the Unix epoch (UTC). Numbered 0004:
-- 0003 is taken by the RF parameter sets. AUTOINCREMENT: ids only grow, so paging by id
-- never revisits an entry.
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    remote_addr TEXT,
    member TEXT,
    message_type TEXT,
    transaction_id INTEGER,
    sender_id TEXT,
    receiver_id TEXT,
    result_code TEXT NOT NULL,
    reason TEXT NOT NULL,
    description TEXT NOT NULL
);
-- Queries select a period, optionally a member or a ResultCode, newest first.
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_member ON audit (member, at);
CREATE INDEX audit_result_code ON audit (result_code, at);
