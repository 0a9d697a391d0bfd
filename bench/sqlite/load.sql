-- The SQLite side of the bench's comparison (bench/engines_compare.sh): loads
-- events.csv of cscflow-bench-csv (bench/export_csv.c), the whole history,
-- into a file database, as a nightly batch loads the whole extract. Run from
-- the directory that holds the file:
--
--   sqlite3 DB.sqlite < load.sql
--
-- One table, one row per event of every kind (children's and workforce
-- events alike), the raw facts only; the columns are described in
-- export_csv.c. occurred_on is the integer YYYYMMDD (it sorts like the
-- date); (occurred_on, recorded_at_ms, event_id) is the order in which
-- cscflow folds the events of one history (la, child). No index: what the
-- queries need they build in their own time (indicators.sql).
--
-- The PRAGMAs give the batch engine its best shot: no rollback journal, no
-- fsync, a large page cache, temporary b-trees in memory.
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
PRAGMA locking_mode = EXCLUSIVE;
PRAGMA cache_size = -524288;
PRAGMA temp_store = MEMORY;
PRAGMA page_size = 16384;

CREATE TABLE event (la TEXT, child TEXT, event_id TEXT, kind TEXT, occurred_on INTEGER,
                    recorded_at_ms INTEGER, supersedes TEXT, retracts TEXT, id TEXT, parent TEXT,
                    code TEXT, code2 TEXT, flag INTEGER, value INTEGER, code3 TEXT);

BEGIN;
.import --csv events.csv event
COMMIT;
