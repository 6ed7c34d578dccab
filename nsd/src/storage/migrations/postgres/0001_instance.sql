-- One row naming this database's nsd instance, written at first start.
CREATE TABLE instance (id TEXT PRIMARY KEY NOT NULL, created_at BIGINT NOT NULL);
