-- RF parameter sets published by members themselves (hub/src/rfparams; PUT /control/rf-param-sets):
-- one row per member, its last publication, replaced whole by the next one. `sets` is the JSON
-- array as validated (region names canonical); `published_at` is microseconds since the Unix
-- epoch (UTC). Sets declared in the members file are not stored here.
CREATE TABLE rf_param_sets (
    member TEXT PRIMARY KEY,
    sets TEXT NOT NULL,
    published_at BIGINT NOT NULL
);
