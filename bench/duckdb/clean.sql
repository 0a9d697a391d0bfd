-- bench/sqlite/clean.sql in DuckDB's dialect: resolves corrections and
-- duplicates in the table event of load.sql within each history (la,
-- child), as cscflow's history and fold do. The same rules (see that file):
-- the first received copy of an event_id stands (the lowest rowid: the CSV
-- is loaded in file order, DuckDB preserves insertion order); an event that
-- another event of the history supersedes or retracts takes no part.
-- run.mjs runs it in the timed query phase when the history has corrections.
DELETE FROM event
WHERE rowid NOT IN (SELECT min(rowid) FROM event GROUP BY la, child, event_id);

CREATE TEMP TABLE correction AS
SELECT la, child, supersedes AS target, event_id AS by_event FROM event WHERE supersedes <> ''
UNION ALL
SELECT la, child, retracts, event_id FROM event WHERE retracts <> '';

DELETE FROM event
WHERE rowid IN (SELECT e.rowid FROM correction c
                JOIN event e ON e.la = c.la AND e.child = c.child AND e.event_id = c.target
                WHERE c.target <> c.by_event);
DROP TABLE correction;
