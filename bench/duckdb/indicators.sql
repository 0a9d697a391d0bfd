-- bench/sqlite/indicators.sql in DuckDB's dialect: the same three of
-- cscflow's indicators, computed from the raw events load.sql loaded, with
-- every rule and assumption of that file (read it first: fold order, ends
-- matched to starts by id, referrals while open, placements that last no
-- day, legal status on T, "Same carer", months clamped to the month's end;
-- corrections resolved beforehand by clean.sql). Run by run.mjs, on a
-- connection of its own per as-of date T, an integer YYYYMMDD:
--
--   SET VARIABLE as_of = 20240331;
--
-- Returns one row per LA and indicator: la, id, window, breakdown,
-- numerator, denominator.
--
-- What differs from the SQLite text, and why (the results do not):
--   * `//` for integer division (DuckDB's `/` gives a double);
--   * booleans are counted with count_if or CASE (no sum of a boolean);
--   * the walk that decides which referrals open an episode steps through
--     each child's referrals (k = 1, 2, ...) for all children at once,
--     instead of one row at a time through every referral of the history:
--     the same decisions (a child's walk starts afresh at its first
--     referral either way), but as many steps as the longest child's
--     referrals rather than as there are referrals;
--   * a period's latest legal status on T is taken with row_number() rather
--     than a correlated ORDER BY ... LIMIT 1 (the same row);
--   * periods are numbered with row_number() (SQLite used its rowid).

-- The year's leap rule, and the 12 months before / 24 months after a date,
-- clamped to the month's end (date_add_months): 29 February less or plus
-- whole years is 28 February in a year that is not leap.
CREATE OR REPLACE TEMP MACRO leap(y) AS (y % 4 = 0 AND y % 100 <> 0) OR y % 400 = 0;
CREATE OR REPLACE TEMP MACRO minus_12m(d) AS
  CASE WHEN d % 10000 = 229 AND NOT leap(d // 10000 - 1) THEN (d // 10000 - 1) * 10000 + 228
       ELSE d - 10000 END;
CREATE OR REPLACE TEMP MACRO plus_24m(d) AS
  CASE WHEN d % 10000 = 229 AND NOT leap(d // 10000 + 2) THEN (d // 10000 + 2) * 10000 + 228
       ELSE d + 20000 END;

-- T, the start of its 12-month window (exclusive) and of its financial year.
CREATE TEMP TABLE params AS
SELECT t, minus_12m(t) AS t_12m_ago,
       CASE WHEN (t // 100) % 100 >= 4 THEN (t // 10000) * 10000 + 401
            ELSE (t // 10000 - 1) * 10000 + 401 END AS fy_start
FROM (SELECT CAST(getvariable('as_of') AS INTEGER) AS t);

-- ---- the facts ------------------------------------------------------------------

CREATE TEMP TABLE fact AS
SELECT kind, la, child, id, occurred_on AS date, recorded_at_ms AS rec, event_id, code, flag,
       value, code3
FROM event
WHERE kind IN ('referral_opened', 'referral_closed', 'cp_plan_started', 'cp_plan_ended',
               'period_of_care_started', 'period_of_care_ended', 'placement_started',
               'legal_status_changed', 'adoption_milestone');

CREATE TEMP TABLE referral_opened AS
SELECT la, child, id, date, rec, event_id FROM fact WHERE kind = 'referral_opened';
CREATE TEMP TABLE referral_closed AS
SELECT la, child, id, date, rec, event_id FROM fact WHERE kind = 'referral_closed';
CREATE TEMP TABLE cp_started AS
SELECT la, child, id, date, rec, event_id FROM fact WHERE kind = 'cp_plan_started';
CREATE TEMP TABLE cp_ended AS
SELECT la, child, id, date, rec, event_id FROM fact WHERE kind = 'cp_plan_ended';
CREATE TEMP TABLE care_started AS
SELECT la, child, id, date, rec, event_id, code AS legal_status, flag AS has_placement,
       code3 AS placement_type
FROM fact WHERE kind = 'period_of_care_started';
CREATE TEMP TABLE care_ended AS
SELECT la, child, id, date, rec, event_id FROM fact WHERE kind = 'period_of_care_ended';
CREATE TEMP TABLE placement_started AS
SELECT la, child, id, date, rec, event_id, code AS placement_type
FROM fact WHERE kind = 'placement_started';
CREATE TEMP TABLE placed_with_carer AS
SELECT DISTINCT la, child, date FROM fact
WHERE kind = 'adoption_milestone' AND value = 4 AND code3 = '1';
CREATE TEMP TABLE legal_status AS
SELECT la, child, id, date, rec, event_id, code AS legal_status
FROM fact WHERE kind = 'legal_status_changed';

-- ---- rereferrals ---------------------------------------------------------------

-- Each referral with its rank k in the child's fold order, and the end its
-- episode would have if it opened one.
CREATE TEMP TABLE referral AS
SELECT o.la, o.child, o.date,
       row_number() OVER (PARTITION BY o.la, o.child ORDER BY o.date, o.rec, o.event_id) AS k,
       (SELECT min(c.date) FROM referral_closed c
        WHERE c.la = o.la AND c.child = o.child AND c.id = o.id AND c.date >= o.date) AS end_date
FROM referral_opened o;

-- The walk (see indicators.sql of SQLite): the child's last opened episode
-- is still open on the day d of the next referral (which then opens
-- nothing) when it has no end, ends after d, or starts and ends on d.
CREATE TEMP TABLE referral_walk AS
WITH RECURSIVE walk (la, child, k, date, opened, rereferral, last_start, last_end) AS (
  SELECT la, child, k, date, 1, 0, date, end_date FROM referral WHERE k = 1
  UNION ALL
  SELECT r.la, r.child, r.k, r.date,
         CASE WHEN b.blocked THEN 0 ELSE 1 END,
         CASE WHEN NOT b.blocked AND w.last_start >= minus_12m(r.date) THEN 1 ELSE 0 END,
         CASE WHEN b.blocked THEN w.last_start ELSE r.date END,
         CASE WHEN b.blocked THEN w.last_end ELSE r.end_date END
  FROM walk w
  JOIN referral r ON r.la = w.la AND r.child = w.child AND r.k = w.k + 1,
  LATERAL (SELECT w.last_end IS NULL OR w.last_end > r.date
                  OR (w.last_end = r.date AND w.last_start = r.date) AS blocked) b
)
SELECT la, date, opened, rereferral FROM walk;

CREATE TEMP TABLE result (la VARCHAR, id VARCHAR, win VARCHAR, breakdown VARCHAR,
                          numerator BIGINT, denominator BIGINT);

-- 12m: referrals dated in (add_months(T, -12), T].
INSERT INTO result
SELECT w.la, 'rereferrals', '12m', '', sum(w.rereferral), sum(w.opened)
FROM referral_walk w, params p
WHERE w.date > p.t_12m_ago AND w.date <= p.t
GROUP BY w.la;

-- ---- open_plans_over CP 24m -------------------------------------------------------

INSERT INTO result
SELECT s.la, 'open_plans_over', 'T', 'CP,24m', count_if(p.t >= plus_24m(s.date)), count(*)
FROM cp_started s, params p
WHERE s.date <= p.t
  AND NOT EXISTS (SELECT 1 FROM cp_ended e
                  WHERE e.la = s.la AND e.child = s.child AND e.id = s.id
                    AND e.date >= s.date AND e.date <= p.t)
GROUP BY s.la;

-- ---- placements_3plus FYTD ---------------------------------------------------------

CREATE TEMP TABLE period AS
SELECT row_number() OVER () AS pid, s.la, s.child, s.id, s.date AS start, s.rec, s.event_id,
       s.legal_status, s.has_placement, s.placement_type,
       (SELECT min(e.date) FROM care_ended e
        WHERE e.la = s.la AND e.child = s.child AND e.id = s.id AND e.date >= s.date) AS end_date
FROM care_started s;

-- Children looked after on T: a period open on T whose latest legal status
-- on or before T is not V3/V4.
CREATE TEMP TABLE looked_after AS
WITH open_on_t AS (
  SELECT pe.* FROM period pe, params p
  WHERE pe.start <= p.t AND (pe.end_date IS NULL OR pe.end_date > p.t)),
latest AS (
  SELECT o.pid, l.legal_status,
         row_number() OVER (PARTITION BY o.pid
                            ORDER BY l.date DESC, l.rec DESC, l.event_id DESC) AS k
  FROM open_on_t o
  JOIN legal_status l ON l.la = o.la AND l.child = o.child AND l.id = o.id
                     AND l.date >= o.start,
  params p
  WHERE l.date <= p.t)
SELECT DISTINCT o.la, o.child
FROM open_on_t o LEFT JOIN latest x ON x.pid = o.pid AND x.k = 1
WHERE coalesce(x.legal_status, o.legal_status) NOT IN ('V3', 'V4');

-- The days on which a placement started, per period of care open on some
-- day of [1 April, T] (see SQLite's text for why these are the ones).
CREATE TEMP TABLE placement_start AS
SELECT pe.pid AS period, pe.la, pe.child, pe.start AS date, 0 AS pass, pe.rec, pe.event_id,
       pe.placement_type AS type
FROM period pe, params p
WHERE coalesce(pe.has_placement, 0) <> 0 AND (pe.end_date IS NULL OR pe.start < pe.end_date)
  AND pe.start <= p.t AND (pe.end_date IS NULL OR pe.end_date > p.fy_start)
UNION ALL
SELECT pe.pid, pe.la, pe.child, ps.date, 1, ps.rec, ps.event_id, ps.placement_type
FROM placement_started ps
JOIN period pe ON pe.la = ps.la AND pe.child = ps.child AND pe.id = ps.id, params p
WHERE ps.date >= pe.start AND (pe.end_date IS NULL OR ps.date < pe.end_date)
  AND ps.date <= p.t AND (pe.end_date IS NULL OR pe.end_date > p.fy_start);

-- Each day's lasting placement, with the type of the one before it in the period.
CREATE TEMP TABLE placement_day AS
SELECT period, la, child, date, type,
       lag(type) OVER (PARTITION BY period ORDER BY date) AS previous_type
FROM (SELECT period, la, child, date, type,
             row_number() OVER (PARTITION BY period, date
                                ORDER BY pass DESC, rec DESC, event_id DESC) AS k
      FROM placement_start)
WHERE k = 1;
DELETE FROM placement_day USING placed_with_carer c
WHERE placement_day.type IN ('A3', 'A4', 'A5', 'A6')
  AND placement_day.previous_type IN ('U1', 'U2', 'U3', 'U4', 'U5', 'U6')
  AND c.la = placement_day.la AND c.child = placement_day.child
  AND c.date = placement_day.date;

-- FYTD: looked after on T with 3 or more placements open on some day of
-- [1 April, T].
INSERT INTO result
SELECT lac.la, 'placements_3plus', 'FYTD', '', count_if(coalesce(pl.n, 0) >= 3), count(*)
FROM looked_after lac
LEFT JOIN (SELECT la, child, sum(n) AS n
           FROM (SELECT d.period, d.la, d.child,
                        count(DISTINCT CASE WHEN d.date > p.fy_start THEN d.date END)
                          + max(CASE WHEN d.date <= p.fy_start THEN 1 ELSE 0 END) AS n
                 FROM placement_day d, params p
                 GROUP BY d.period, d.la, d.child)
           GROUP BY la, child) pl
  ON pl.la = lac.la AND pl.child = lac.child
GROUP BY lac.la;

-- ---- out ---------------------------------------------------------------------------

WITH las (la) AS (SELECT la FROM referral_opened UNION SELECT la FROM cp_started
                  UNION SELECT la FROM care_started),
     rows (id, win, breakdown) AS (VALUES ('rereferrals', '12m', ''),
                                          ('open_plans_over', 'T', 'CP,24m'),
                                          ('placements_3plus', 'FYTD', ''))
SELECT l.la, r.id, r.win, r.breakdown, coalesce(x.numerator, 0) AS numerator,
       coalesce(x.denominator, 0) AS denominator
FROM las l CROSS JOIN rows r
LEFT JOIN result x ON x.la = l.la AND x.id = r.id
ORDER BY l.la, r.id;
