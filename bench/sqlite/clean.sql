-- Resolves corrections and duplicates in the table event of load.sql, as
-- cscflow's history and fold do (state/history.c, state/fold.c), within
-- each history (la, child: a child, or a workforce event's worker or post):
--   * an event_id received again within a history is a duplicate: the first
--     received (the lowest rowid: .import keeps the file's order) stands;
--   * an event that another event of the history supersedes or retracts
--     takes no part; the amendment stands in its place, on its own date,
--     and the retraction of an amendment removes both.
-- bench/engines_compare.sh runs it before indicators.sql, in the timed query
-- phase, when the history has corrections (cscflow-gen --mess > 0; the
-- bench's history has none, and then nothing here would change anything).
-- It works on every event of the history, not only on the kinds the
-- indicators read: a duplicate is one by its event_id, whatever its kind.
PRAGMA cache_size = -524288;
PRAGMA temp_store = MEMORY;

CREATE INDEX event_by_event_id ON event (la, child, event_id);

DELETE FROM event
WHERE rowid NOT IN (SELECT min(rowid) FROM event GROUP BY la, child, event_id);

-- target: an event that a (first received) event of the history supersedes
-- or retracts; by_event: that event (an event naming itself does not take itself
-- out: state/fold.c resolve_corrections)
CREATE TEMP TABLE correction AS
SELECT la, child, supersedes AS target, event_id AS by_event FROM event WHERE supersedes <> ''
UNION ALL
SELECT la, child, retracts, event_id FROM event WHERE retracts <> '';

DELETE FROM event
WHERE rowid IN (SELECT e.rowid FROM correction c
                JOIN event e ON e.la = c.la AND e.child = c.child AND e.event_id = c.target
                WHERE c.target <> c.by_event);
