-- What bench/sqlite/indicators.sql takes for granted of the history, counted
-- (bench/sqlite_compare.sh runs it after the timed queries). cscflow-gen's
-- histories without mess break none; with mess an episode id can be
-- repeated (an event entered in error and not retracted by the end of the
-- history), and then the SQL's matching of ends to starts by id may differ
-- from the fold's (which ends the latest open episode of that id).
.mode list
.headers off
WITH v (rule, n) AS (
  SELECT 'empty_end_or_reference_id',
         (SELECT count(*) FROM referral_closed WHERE id = '')
         + (SELECT count(*) FROM cp_ended WHERE id = '')
         + (SELECT count(*) FROM care_ended WHERE id = '')
         + (SELECT count(*) FROM placement_started WHERE id = '')
         + (SELECT count(*) FROM legal_status WHERE id = '')
  UNION ALL
  SELECT 'repeated_episode_id',
         (SELECT count(*) FROM (SELECT 1 FROM referral_opened GROUP BY la, child, id
                                HAVING count(*) > 1))
         + (SELECT count(*) FROM (SELECT 1 FROM cp_started GROUP BY la, child, id
                                  HAVING count(*) > 1))
         + (SELECT count(*) FROM (SELECT 1 FROM care_started GROUP BY la, child, id
                                  HAVING count(*) > 1)))
SELECT 'sqlite_assumption_' || rule || ': ' || n FROM v
UNION ALL
SELECT 'sqlite_assumption_violations: ' || sum(n) FROM v;
