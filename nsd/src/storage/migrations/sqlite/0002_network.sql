-- Gateways the nsd serves; frames from any other gateway are refused.
CREATE TABLE gateways (
    gateway_id TEXT PRIMARY KEY NOT NULL,       -- 16 lowercase hex digits
    name TEXT NOT NULL,
    tenant TEXT,                                -- NULL: shared by every tenant
    tags TEXT NOT NULL,                         -- JSON array of strings
    latitude DOUBLE PRECISION,
    longitude DOUBLE PRECISION,
    altitude DOUBLE PRECISION,
    created_at BIGINT NOT NULL
);

-- Device profiles: how devices of a kind behave on air.
CREATE TABLE device_profiles (
    id TEXT PRIMARY KEY NOT NULL,
    region TEXT NOT NULL,
    mac_version TEXT NOT NULL,
    class TEXT NOT NULL,                        -- A | B | C
    supports_join INTEGER NOT NULL,             -- 0 | 1
    rx1_delay_s INTEGER NOT NULL,
    rx1_dr_offset INTEGER NOT NULL,
    rx2_data_rate INTEGER NOT NULL,
    rx2_frequency_hz BIGINT NOT NULL,
    adr INTEGER NOT NULL,
    abp_counter_reset INTEGER NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE devices (
    dev_eui TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    tenant TEXT NOT NULL,
    profile_id TEXT NOT NULL REFERENCES device_profiles (id),
    join_eui TEXT,
    as_link TEXT,                               -- JSON of tunnel::config::DeviceAsLink; NULL: no AS
    created_at BIGINT NOT NULL
);
CREATE INDEX devices_profile ON devices (profile_id);

-- A device's current session. Keys are sealed with the master key (key id + RFC 3394 wrap,
-- 28 bytes each, concatenated in the order NwkSKey | FNwkSIntKey SNwkSIntKey NwkSEncKey,
-- then AppSKey when the nsd holds it). Counters are written before they are used, so a
-- restart never reuses a downlink counter nor accepts a replayed uplink.
CREATE TABLE sessions (
    dev_eui TEXT PRIMARY KEY NOT NULL REFERENCES devices (dev_eui) ON DELETE CASCADE,
    dev_addr TEXT NOT NULL,
    mac_version TEXT NOT NULL,
    split_keys INTEGER NOT NULL,                -- 1: LoRaWAN 1.1 network keys
    has_app_s_key INTEGER NOT NULL,
    keys BLOB NOT NULL,                         -- sealed, see above
    sealed_with TEXT NOT NULL,
    f_cnt_up_next BIGINT NOT NULL,
    n_f_cnt_down BIGINT NOT NULL,
    a_f_cnt_down BIGINT NOT NULL,
    last_confirmed_down BIGINT,
    mac_state TEXT,                             -- JSON of mac::MacState; NULL before the first uplink
    rj_count0_last BIGINT,                      -- 1.1 rejoin types 0/2: last RJcount0 accepted
    updated_at BIGINT NOT NULL
);
CREATE INDEX sessions_dev_addr ON sessions (dev_addr);

-- Each device's downlink queue (JSON of downlink::queue::DeviceQueue: frames waiting, the
-- confirmed frame awaiting its acknowledgement).
CREATE TABLE device_queues (
    dev_eui TEXT PRIMARY KEY NOT NULL REFERENCES devices (dev_eui) ON DELETE CASCADE,
    queue TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
