-- Devices pre-commissioned by manufacturers, with their lifecycle and join nonces.
-- Nothing here is a clear secret: root keys are sealed with the master key (28 bytes: key id
-- then RFC 3394 wrap), the owner token is kept as a SHA-256 hash.
CREATE TABLE devices (
    dev_eui TEXT PRIMARY KEY NOT NULL,          -- 16 lowercase hex digits
    join_eui TEXT NOT NULL,
    mac_version TEXT NOT NULL,                  -- "1.0.2", "1.0.4", "1.1"
    profile_id TEXT,
    app_key BYTEA NOT NULL,                      -- sealed
    nwk_key BYTEA,                               -- sealed, 1.1 only
    sealed_with TEXT NOT NULL,                  -- id of the master key sealing the root keys
    owner_token_hash BYTEA NOT NULL,
    state TEXT NOT NULL,                        -- generic | claimed | activated | unclaimed
    home_net_id TEXT,
    home_nsid TEXT,
    activated_at BIGINT,                        -- first join since the claim, unix seconds
    history TEXT NOT NULL,                      -- JSON lifecycle history
    app_s_key_as_id TEXT,                       -- AppSKey withheld for this AS; NULL: to the NS
    dev_nonce_last BIGINT,
    dev_nonce_history BYTEA NOT NULL,            -- u16 LE values, oldest first (1.0.0-1.0.3)
    join_nonce_last BIGINT,
    rj_count1_last BIGINT,
    last_join_at BIGINT,
    revision BIGINT NOT NULL,                   -- compare-and-set guard of every update
    created_at BIGINT NOT NULL
);
CREATE INDEX devices_state ON devices (state, dev_eui);
CREATE INDEX devices_sealed_with ON devices (sealed_with);

-- Sessions whose AppSKey the JS withheld from the NS, to answer the AS's AppSKeyReq.
CREATE TABLE sessions (
    dev_eui TEXT NOT NULL,
    session_key_id BYTEA NOT NULL,
    app_s_key BYTEA NOT NULL,                    -- sealed
    sealed_with TEXT NOT NULL,
    join_nonce BIGINT NOT NULL,
    dev_addr TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (dev_eui, session_key_id)
);
CREATE INDEX sessions_sealed_with ON sessions (sealed_with);
