-- Resolves corrections and duplicates in the tables of load.sql, as
-- cscflow's history and fold do (state/history.c, state/fold.c):
--   * an event_id received again within a child's history is a duplicate:
--     the first received (the lowest rowid: .import keeps the file's order)
--     stands;
--   * an event that another event of the child supersedes or retracts
--     (correction.csv) takes no part; the amendment stands in its place, on
--     its own date, and the retraction of an amendment removes both.
-- bench/sqlite_compare.sh runs it before indicators.sql, in the timed query
-- phase, when the history has corrections (cscflow-gen --mess > 0; the
-- bench's history has none, and then nothing here would change anything).
CREATE INDEX IF NOT EXISTS correction_by_target ON correction (la, child, target);

DELETE FROM referral_opened
WHERE rowid NOT IN (SELECT min(rowid) FROM referral_opened GROUP BY la, child, event_id)
   OR EXISTS (SELECT 1 FROM correction c
              WHERE c.la = referral_opened.la AND c.child = referral_opened.child AND c.target = referral_opened.event_id);

DELETE FROM referral_closed
WHERE rowid NOT IN (SELECT min(rowid) FROM referral_closed GROUP BY la, child, event_id)
   OR EXISTS (SELECT 1 FROM correction c
              WHERE c.la = referral_closed.la AND c.child = referral_closed.child AND c.target = referral_closed.event_id);

DELETE FROM cp_started
WHERE rowid NOT IN (SELECT min(rowid) FROM cp_started GROUP BY la, child, event_id)
   OR EXISTS (SELECT 1 FROM correction c
              WHERE c.la = cp_started.la AND c.child = cp_started.child AND c.target = cp_started.event_id);

DELETE FROM cp_ended
WHERE rowid NOT IN (SELECT min(rowid) FROM cp_ended GROUP BY la, child, event_id)
   OR EXISTS (SELECT 1 FROM correction c
              WHERE c.la = cp_ended.la AND c.child = cp_ended.child AND c.target = cp_ended.event_id);

DELETE FROM care_started
WHERE rowid NOT IN (SELECT min(rowid) FROM care_started GROUP BY la, child, event_id)
   OR EXISTS (SELECT 1 FROM correction c
              WHERE c.la = care_started.la AND c.child = care_started.child AND c.target = care_started.event_id);

DELETE FROM care_ended
WHERE rowid NOT IN (SELECT min(rowid) FROM care_ended GROUP BY la, child, event_id)
   OR EXISTS (SELECT 1 FROM correction c
              WHERE c.la = care_ended.la AND c.child = care_ended.child AND c.target = care_ended.event_id);

DELETE FROM placement_started
WHERE rowid NOT IN (SELECT min(rowid) FROM placement_started GROUP BY la, child, event_id)
   OR EXISTS (SELECT 1 FROM correction c
              WHERE c.la = placement_started.la AND c.child = placement_started.child AND c.target = placement_started.event_id);

DELETE FROM legal_status
WHERE rowid NOT IN (SELECT min(rowid) FROM legal_status GROUP BY la, child, event_id)
   OR EXISTS (SELECT 1 FROM correction c
              WHERE c.la = legal_status.la AND c.child = legal_status.child AND c.target = legal_status.event_id);
