-- The MAC state leaves the session row. A session row is written on every uplink (its
-- counters); with the MAC state (about 2 KB of JSON) in it, each row filled a page of its
-- own and every counter write rewrote a whole page: 400 MB of table for 100,000 devices
-- and a disk that stalled commits at 10,000 uplinks/s. The MAC state is written only when
-- it changes beyond its ADR history (and every few frames for that history).
CREATE TABLE session_mac (
    dev_eui TEXT PRIMARY KEY NOT NULL REFERENCES sessions (dev_eui) ON DELETE CASCADE,
    mac_state TEXT NOT NULL                     -- JSON of mac::MacState
);

INSERT INTO session_mac (dev_eui, mac_state)
    SELECT dev_eui, mac_state FROM sessions WHERE mac_state IS NOT NULL;

ALTER TABLE sessions DROP COLUMN mac_state;
