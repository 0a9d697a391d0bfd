-- The DuckDB side of the bench's comparison (bench/engines_compare.sh, by
-- way of bench/duckdb/run.mjs): loads events.csv of cscflow-bench-csv
-- (bench/export_csv.c), the whole history, into an in-memory database, as
-- bench/sqlite/load.sql does into SQLite. Run from the directory that holds
-- the file. One table, one row per event, the same columns as SQLite's
-- (described in export_csv.c); no index, as there.
--
-- An empty text field is '' as in SQLite's .import, not NULL (DuckDB's
-- default): force_not_null keeps the SQL's comparisons with '' the same.
-- An empty flag or value is NULL (SQLite keeps ''); the SQL only compares
-- them with numbers, where both are false.
CREATE TABLE event AS
SELECT * FROM read_csv('events.csv', header = false, auto_detect = false, delim = ',',
                       quote = '"', escape = '"',
                       columns = {'la': 'VARCHAR', 'child': 'VARCHAR', 'event_id': 'VARCHAR',
                                  'kind': 'VARCHAR', 'occurred_on': 'INTEGER',
                                  'recorded_at_ms': 'BIGINT', 'supersedes': 'VARCHAR',
                                  'retracts': 'VARCHAR', 'id': 'VARCHAR', 'parent': 'VARCHAR',
                                  'code': 'VARCHAR', 'code2': 'VARCHAR', 'flag': 'BIGINT',
                                  'value': 'BIGINT', 'code3': 'VARCHAR'},
                       force_not_null = ['la', 'child', 'event_id', 'kind', 'supersedes',
                                         'retracts', 'id', 'parent', 'code', 'code2', 'code3']);
