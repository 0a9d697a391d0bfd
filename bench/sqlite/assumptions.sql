-- What bench/sqlite/indicators.sql takes for granted of the history, counted
-- (bench/engines_compare.sh runs it after the timed queries). cscflow-gen's
-- histories without mess break none; with mess an episode id can be
-- repeated (an event entered in error and not retracted by the end of the
-- history), and then the SQL's matching of ends to starts by id may differ
-- from the fold's (which ends the latest open episode of that id).
.mode list
.headers off
PRAGMA cache_size = -524288;
PRAGMA temp_store = MEMORY;
WITH v (rule, n) AS (
  SELECT 'empty_end_or_reference_id',
         (SELECT count(*) FROM event
          WHERE kind IN ('referral_closed', 'cp_plan_ended', 'period_of_care_ended',
                         'placement_started', 'legal_status_changed')
            AND id = '')
  UNION ALL
  SELECT 'repeated_episode_id',
         (SELECT count(*) FROM (SELECT 1 FROM event
                                WHERE kind IN ('referral_opened', 'cp_plan_started',
                                               'period_of_care_started')
                                GROUP BY la, child, kind, id
                                HAVING count(*) > 1)))
SELECT 'sqlite_assumption_' || rule || ': ' || n FROM v
UNION ALL
SELECT 'sqlite_assumption_violations: ' || sum(n) FROM v;
