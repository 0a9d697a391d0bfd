-- Three of cscflow's indicators computed by SQLite from the raw events that
-- bench/sqlite/load.sql loaded, for the bench's comparison with cscflow's
-- replay (bench/engines_compare.sh). Run with the as-of date T as a
-- parameter, an integer YYYYMMDD (cscflow's replay clock: the date of the
-- latest recorded_at, `as_of` of `cscflow snapshot --json`):
--
--   sqlite3 DB.sqlite -cmd 'PRAGMA temp_store = MEMORY' \
--                     -cmd '.parameter set @as_of 20240331' < indicators.sql
--
-- (temp_store must be set before the parameter: changing it drops the temp
-- database, where the sqlite3 shell keeps its parameters.)
--
-- Prints one line per LA and indicator: la|id|window|breakdown|numerator|denominator
--   rereferrals      12m   ""      (docs/indicators.md, Outcomes)
--   open_plans_over  T     CP,24m  (docs/indicators.md, Plans)
--   placements_3plus FYTD  ""      (docs/indicators.md, Outcomes; the headline window)
--
-- Everything cscflow's fold (state/fold.c) and facts (state/facts.c) decide
-- is decided here from the events, as a batch user would have to:
--   * Events fold by occurred_on; on one day, ends of what started before
--     that day first, then starts, then everything else, then the other
--     ends; ties by recorded_at, then event_id.
--   * An end closes the open episode it names: the first end dated on or
--     after the start (an end dated before its start is ignored, the episode
--     stays open). Intervals are [start, end).
--   * A referral while the child's CIN episode is open opens nothing
--     (referral_while_open); a referral is a re-referral when the previous
--     referral that opened an episode started on or after add_months(d, -12).
--   * A placement or legal status change counts only while the period of
--     care it names is open; a placement lasts until the period's next
--     placement or the period's end. A placement that lasts no day is none.
--   * Looked after on T: T is in a day of a period of care whose legal status
--     on T (the latest status recorded on or before T) is not V3/V4.
--   * "Same carer" (INDICATORS.md): a child placed for adoption with their
--     existing foster carer has not changed placement: an adoption placement
--     (A3-A6) that starts on the date of a PLACED adoption milestone saying
--     placed_with_foster_carer, when the placement it follows in its period
--     is a foster placement (U1-U6), is part of that foster placement.
--   * Months clamp to the month's end (date_add_months): adding whole years
--     to 29 February gives 28 February in a year that is not leap.
--
-- Corrections and duplicates are resolved beforehand by clean.sql (when the
-- history has any). Assumed (true of cscflow-gen's histories without mess;
-- engines_compare.sh counts exceptions with assumptions.sql): every end,
-- placement and status change names its episode by a non-empty id, and an
-- id names one episode of its kind within a child.
.mode list
.separator |
.headers off

PRAGMA cache_size = -524288;

-- T, the start of its 12-month window (exclusive) and of its financial year.
CREATE TEMP TABLE params AS
SELECT t,
       CASE WHEN t % 10000 = 229 AND NOT (((t / 10000 - 1) % 4 = 0 AND (t / 10000 - 1) % 100 <> 0)
                                           OR (t / 10000 - 1) % 400 = 0)
            THEN (t / 10000 - 1) * 10000 + 228
            ELSE t - 10000 END AS t_12m_ago,
       CASE WHEN t / 100 % 100 >= 4 THEN (t / 10000) * 10000 + 401
            ELSE (t / 10000 - 1) * 10000 + 401 END AS fy_start
FROM (SELECT CAST(@as_of AS INTEGER) AS t);

-- ---- the facts ------------------------------------------------------------------

-- One pass over the whole history (event, every kind) picks the events of
-- the nine kinds the three indicators read; each kind then gets a temp
-- table of its own, one row per event: la, child, id (the referral, plan
-- or period the event names), date (occurred_on), rec (recorded_at_ms),
-- event_id, and what else the kind carries that is used below.
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
-- has_placement: 1 when the period's first placement came with its start
-- (of type placement_type)
CREATE TEMP TABLE care_started AS
SELECT la, child, id, date, rec, event_id, code AS legal_status, flag AS has_placement,
       code3 AS placement_type
FROM fact WHERE kind = 'period_of_care_started';
CREATE TEMP TABLE care_ended AS
SELECT la, child, id, date, rec, event_id FROM fact WHERE kind = 'period_of_care_ended';
CREATE TEMP TABLE placement_started AS
SELECT la, child, id, date, rec, event_id, code AS placement_type
FROM fact WHERE kind = 'placement_started';
-- The days children were placed for adoption with their foster carer (PLACED
-- is stage 4 of AdoptionStage; code3 of load.sql: placed_with_foster_carer).
CREATE TEMP TABLE placed_with_carer AS
SELECT DISTINCT la, child, date FROM fact
WHERE kind = 'adoption_milestone' AND value = 4 AND code3 = '1';
CREATE TEMP TABLE legal_status AS
SELECT la, child, id, date, rec, event_id, code AS legal_status
FROM fact WHERE kind = 'legal_status_changed';

-- Indexes to match ends to starts by child and id.
CREATE INDEX temp.referral_closed_by_id ON referral_closed (la, child, id, date);
CREATE INDEX temp.cp_ended_by_id ON cp_ended (la, child, id, date);
CREATE INDEX temp.care_ended_by_id ON care_ended (la, child, id, date);
CREATE INDEX temp.legal_status_by_id ON legal_status (la, child, id, date);

-- ---- rereferrals ---------------------------------------------------------------

-- Each referral, in fold order (children one after the other: rid), with
-- the end its episode would have if it opened one.
CREATE TEMP TABLE referral (rid INTEGER PRIMARY KEY, la TEXT, child TEXT, date INTEGER,
                            end_date INTEGER);
INSERT INTO referral (la, child, date, end_date)
SELECT o.la, o.child, o.date,
       (SELECT min(c.date) FROM referral_closed c
        WHERE c.la = o.la AND c.child = o.child AND c.id = o.id AND c.date >= o.date)
FROM referral_opened o
ORDER BY o.la, o.child, o.date, o.rec, o.event_id;

-- Which referrals open an episode is sequential (each depends on whether
-- the last one that did is still open), hence one walk through the
-- referrals in rid order, carrying the start and end of the child's last
-- opened episode. That episode is still open on the day d of the next
-- referral (which then opens nothing) when it has no end, ends after d, or
-- starts and ends on d (its end is folded after the day's starts). A
-- child's first referral always opens one.
CREATE TEMP TABLE referral_walk AS
WITH RECURSIVE walk (rid, la, child, date, opened, rereferral, last_start, last_end) AS (
  SELECT rid, la, child, date, 1, 0, date, end_date FROM referral WHERE rid = 1
  UNION ALL
  SELECT r.rid, r.la, r.child, r.date,
         -- opened: not blocked by the child's open episode
         NOT (r.la = w.la AND r.child = w.child AND
              (w.last_end IS NULL OR w.last_end > r.date OR
               (w.last_end = r.date AND w.last_start = r.date))),
         -- a re-referral: opened, and the child's previous opened episode
         -- started on or after add_months(d, -12)
         NOT (r.la = w.la AND r.child = w.child AND
              (w.last_end IS NULL OR w.last_end > r.date OR
               (w.last_end = r.date AND w.last_start = r.date)))
           AND r.la = w.la AND r.child = w.child
           AND w.last_start >= CASE WHEN r.date % 10000 = 229 AND
                                         NOT (((r.date / 10000 - 1) % 4 = 0 AND
                                               (r.date / 10000 - 1) % 100 <> 0) OR
                                              (r.date / 10000 - 1) % 400 = 0)
                                    THEN (r.date / 10000 - 1) * 10000 + 228
                                    ELSE r.date - 10000 END,
         CASE WHEN r.la = w.la AND r.child = w.child AND
              (w.last_end IS NULL OR w.last_end > r.date OR
               (w.last_end = r.date AND w.last_start = r.date))
              THEN w.last_start ELSE r.date END,
         CASE WHEN r.la = w.la AND r.child = w.child AND
              (w.last_end IS NULL OR w.last_end > r.date OR
               (w.last_end = r.date AND w.last_start = r.date))
              THEN w.last_end ELSE r.end_date END
  FROM walk w JOIN referral r ON r.rid = w.rid + 1
)
SELECT la, date, opened, rereferral FROM walk;

CREATE TEMP TABLE result (la TEXT, id TEXT, win TEXT, breakdown TEXT, numerator INTEGER,
                          denominator INTEGER);

-- 12m: referrals dated in (add_months(T, -12), T].
INSERT INTO result
SELECT w.la, 'rereferrals', '12m', '', sum(w.rereferral), sum(w.opened)
FROM referral_walk w, params p
WHERE w.date > p.t_12m_ago AND w.date <= p.t
GROUP BY w.la;

-- ---- open_plans_over CP 24m -------------------------------------------------------

-- CP plans open on T (started on or before T, not ended on or before T);
-- over 24 months when T >= add_months(start, 24).
INSERT INTO result
SELECT s.la, 'open_plans_over', 'T', 'CP,24m',
       sum(p.t >= CASE WHEN s.date % 10000 = 229 AND
                            NOT (((s.date / 10000 + 2) % 4 = 0 AND (s.date / 10000 + 2) % 100 <> 0)
                                 OR (s.date / 10000 + 2) % 400 = 0)
                       THEN (s.date / 10000 + 2) * 10000 + 228
                       ELSE s.date + 20000 END),
       count(*)
FROM cp_started s, params p
WHERE s.date <= p.t
  AND NOT EXISTS (SELECT 1 FROM cp_ended e
                  WHERE e.la = s.la AND e.child = s.child AND e.id = s.id
                    AND e.date >= s.date AND e.date <= p.t)
GROUP BY s.la;

-- ---- placements_3plus FYTD ---------------------------------------------------------

-- Periods of care with their end (NULL: still open).
CREATE TEMP TABLE period AS
SELECT s.la, s.child, s.id, s.date AS start, s.rec, s.event_id, s.legal_status, s.has_placement,
       s.placement_type,
       (SELECT min(e.date) FROM care_ended e
        WHERE e.la = s.la AND e.child = s.child AND e.id = s.id AND e.date >= s.date) AS end_date
FROM care_started s;
CREATE INDEX temp.period_by_id ON period (la, child, id);

-- Children looked after on T: a period open on T whose latest legal status
-- on or before T (a change on the start date comes after the start's own
-- status) is not V3/V4.
CREATE TEMP TABLE looked_after AS
SELECT DISTINCT pe.la, pe.child
FROM period pe, params p
WHERE pe.start <= p.t AND (pe.end_date IS NULL OR pe.end_date > p.t)
  AND coalesce((SELECT l.legal_status FROM legal_status l
                WHERE l.la = pe.la AND l.child = pe.child AND l.id = pe.id
                  AND l.date >= pe.start AND l.date <= p.t
                ORDER BY l.date DESC, l.rec DESC, l.event_id DESC LIMIT 1),
               pe.legal_status) NOT IN ('V3', 'V4');

-- The days on which a placement started, per period of care (placements of
-- any period count, short breaks included): a period's first placement (on
-- its start) and each PlacementStarted dated while its period is open. Only
-- periods open on some day of the window [1 April, T] matter.
--
-- A placement lasts until the next one of its period or the period's end,
-- so of the placements that start on one day only the last one folded
-- lasts a day (the period's own placement folds before a PlacementStarted
-- of its day), and it is open until the next such day. The placements of a
-- period open on some day of the window are therefore: one per day in
-- (1 April, T] on which one started, plus the one open on 1 April (the
-- last started on or before it) if any; except that a day on which the
-- child was placed for adoption with the foster carer of the placement
-- before starts no placement of its own ("Same carer", above).
CREATE TEMP TABLE placement_start AS
SELECT pe.rowid AS period, pe.la, pe.child, pe.start AS date, 0 AS pass, pe.rec, pe.event_id,
       pe.placement_type AS type
FROM period pe, params p
WHERE pe.has_placement AND (pe.end_date IS NULL OR pe.start < pe.end_date)
  AND pe.start <= p.t AND (pe.end_date IS NULL OR pe.end_date > p.fy_start)
UNION ALL
SELECT pe.rowid, pe.la, pe.child, ps.date, 1, ps.rec, ps.event_id, ps.placement_type
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
DELETE FROM placement_day
WHERE type IN ('A3', 'A4', 'A5', 'A6')
  AND previous_type IN ('U1', 'U2', 'U3', 'U4', 'U5', 'U6')
  AND EXISTS (SELECT 1 FROM placed_with_carer c
              WHERE c.la = placement_day.la AND c.child = placement_day.child
                AND c.date = placement_day.date);

-- FYTD: looked after on T with 3 or more placements open on some day of
-- [1 April, T].
INSERT INTO result
SELECT lac.la, 'placements_3plus', 'FYTD', '', sum(coalesce(pl.n, 0) >= 3), count(*)
FROM looked_after lac
LEFT JOIN (SELECT la, child, sum(n) AS n
           FROM (SELECT d.la, d.child,
                        count(DISTINCT CASE WHEN d.date > p.fy_start THEN d.date END)
                          + max(d.date <= p.fy_start) AS n
                 FROM placement_day d, params p
                 GROUP BY d.period)
           GROUP BY la, child) pl
  ON pl.la = lac.la AND pl.child = lac.child
GROUP BY lac.la;

-- ---- out ---------------------------------------------------------------------------

-- Every LA with events of these kinds gets its three lines; 0 / 0 where
-- nothing counted.
WITH las (la) AS (SELECT la FROM referral_opened UNION SELECT la FROM cp_started
                  UNION SELECT la FROM care_started),
     rows (id, win, breakdown) AS (VALUES ('rereferrals', '12m', ''),
                                          ('open_plans_over', 'T', 'CP,24m'),
                                          ('placements_3plus', 'FYTD', ''))
SELECT l.la, r.id, r.win, r.breakdown, coalesce(x.numerator, 0), coalesce(x.denominator, 0)
FROM las l CROSS JOIN rows r
LEFT JOIN result x ON x.la = l.la AND x.id = r.id
ORDER BY l.la, r.id;
