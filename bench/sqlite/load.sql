-- The SQLite side of the bench's comparison (bench/sqlite_compare.sh): loads
-- the CSV files of cscflow-bench-csv (bench/export_csv.c) into a file
-- database. Run from the directory that holds the CSV files:
--
--   sqlite3 DB.sqlite < load.sql
--
-- One table per event kind, one row per event, the raw facts only. Every
-- table starts with la, child, id (the referral, plan or period the event
-- names), date (occurred_on as the integer YYYYMMDD, which sorts like the
-- date), rec (recorded_at in ms) and event_id; (date, rec, event_id) is the
-- order in which cscflow folds one child's events of a day.
--
-- The PRAGMAs give the batch engine its best shot: no rollback journal, no
-- fsync, a large page cache, temporary b-trees in memory.
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
PRAGMA locking_mode = EXCLUSIVE;
PRAGMA cache_size = -524288;
PRAGMA temp_store = MEMORY;
PRAGMA page_size = 16384;

CREATE TABLE referral_opened (la TEXT, child TEXT, id TEXT, date INTEGER, rec INTEGER,
                              event_id TEXT);
CREATE TABLE referral_closed (la TEXT, child TEXT, id TEXT, date INTEGER, rec INTEGER,
                              event_id TEXT);
CREATE TABLE cp_started (la TEXT, child TEXT, id TEXT, date INTEGER, rec INTEGER,
                         event_id TEXT);
CREATE TABLE cp_ended (la TEXT, child TEXT, id TEXT, date INTEGER, rec INTEGER, event_id TEXT);
-- has_placement: 1 when the period's first placement came with its start
CREATE TABLE care_started (la TEXT, child TEXT, id TEXT, date INTEGER, rec INTEGER,
                           event_id TEXT, legal_status TEXT, has_placement INTEGER);
CREATE TABLE care_ended (la TEXT, child TEXT, id TEXT, date INTEGER, rec INTEGER,
                         event_id TEXT);
CREATE TABLE placement_started (la TEXT, child TEXT, id TEXT, date INTEGER, rec INTEGER,
                                event_id TEXT);
CREATE TABLE legal_status (la TEXT, child TEXT, id TEXT, date INTEGER, rec INTEGER,
                           event_id TEXT, legal_status TEXT);
-- target: an event that an event of the child supersedes or retracts
CREATE TABLE correction (la TEXT, child TEXT, target TEXT);

BEGIN;
.import --csv referral_opened.csv referral_opened
.import --csv referral_closed.csv referral_closed
.import --csv cp_started.csv cp_started
.import --csv cp_ended.csv cp_ended
.import --csv care_started.csv care_started
.import --csv care_ended.csv care_ended
.import --csv placement_started.csv placement_started
.import --csv legal_status.csv legal_status
.import --csv correction.csv correction
COMMIT;
