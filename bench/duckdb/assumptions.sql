-- bench/sqlite/assumptions.sql in DuckDB's dialect: what indicators.sql
-- takes for granted of the history, counted (run.mjs runs it after the
-- timed runs). The same two rules, the same reasons (see that file).
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
SELECT 'duckdb_assumption_' || rule || ': ' || n AS line FROM v
UNION ALL
SELECT 'duckdb_assumption_violations: ' || sum(n) FROM v;
