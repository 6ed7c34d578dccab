-- Which generation of each segment of the UDR journal (hub/src/udr/journal.rs, a file
-- beside this database) has been stored in udrs. The drainer notes it in the transaction
-- that stores the segment's records, so a hub started after a kill replays exactly the
-- segments whose records are not here yet.
CREATE TABLE udr_journal (
    segment INTEGER PRIMARY KEY,
    generation INTEGER NOT NULL
);
