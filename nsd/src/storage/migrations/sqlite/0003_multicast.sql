-- Multicast groups: a "virtual" device (McAddr, McNwkSKey, McAppSKey, McFCnt) whose frames go
-- through every gateway carrying one of its tags. Keys are sealed with the master key like
-- session keys (key id + RFC 3394 wrap, 28 bytes each, McNwkSKey then McAppSKey). The
-- counter is advanced in the database before a frame is built, so it is never reused.
CREATE TABLE multicast_groups (
    id TEXT PRIMARY KEY NOT NULL,
    dev_addr TEXT NOT NULL,                     -- 8 hex digits
    keys BLOB NOT NULL,                         -- sealed, see above
    sealed_with TEXT NOT NULL,
    f_cnt BIGINT NOT NULL,                      -- the next McFCnt to use
    class TEXT NOT NULL,                        -- B | C
    region TEXT NOT NULL,
    frequency_hz BIGINT NOT NULL,
    data_rate INTEGER NOT NULL,
    gateway_tags TEXT NOT NULL,                 -- JSON array of strings
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
