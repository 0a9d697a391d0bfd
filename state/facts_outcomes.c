/*
 * Facts of the Outcomes group of docs/indicators.md (and the choices beyond
 * it in docs/indicators.md); rereferrals and placements_3plus are
 * in state/facts.c.
 *
 * Three building blocks serve most indicators:
 *   - the looked-after days: the union of the child's care spans (V3/V4
 *     days are in no span), merged, so that a child counts once on a day
 *     whatever periods overlap (the "in a care span started on or before"
 *     rules use the spans themselves: in_care_since);
 *   - the current-placement timeline: on each day, the placement open on it
 *     (the latest started when two periods overlap), so that a child counts
 *     once in any breakdown by placement;
 *   - "emit within": a fact over [from, to) cut to a list of regions, which
 *     is how "looked after on T", "aged 4-16 on T" and the like combine.
 * Ages are whole years from the date of birth, reached on
 * date_add_months(dob, 12 * years); a child with no date of birth is left
 * out of every age-restricted indicator.
 */
#include <stdlib.h>
#include <string.h>

#include "state/facts_internal.h"

#define MONTHS_IN_CARE_STABLE 30   /* placement_stability_long: in care 2.5 years */
#define MONTHS_IN_PLACEMENT 24     /* ... in the same placement 2 years */
#define MONTHS_IN_CARE_SDQ 12      /* sdq_mean: looked after 12 months+ */
#define DISTANCE_OVER_X10 200      /* placement_distance: over 20.0 miles */
#define CARE_ENTRIES_ALL 2         /* the bucket of every entry: the total row */

/* Court application kinds counted (CourtOrderKind in events.proto). */
#define COURT_CARE ((uint32_t)CSCFLOW__V1__COURT_ORDER_KIND__COURT_ORDER_KIND_CARE)
#define COURT_SUPERVISION ((uint32_t)CSCFLOW__V1__COURT_ORDER_KIND__COURT_ORDER_KIND_SUPERVISION)
#define ACTIVITY_EDUCATION \
  ((uint32_t)CSCFLOW__V1__CARE_LEAVER_ACTIVITY__CARE_LEAVER_ACTIVITY_EDUCATION)
#define ACTIVITY_TRAINING_EMPLOYMENT \
  ((uint32_t)CSCFLOW__V1__CARE_LEAVER_ACTIVITY__CARE_LEAVER_ACTIVITY_TRAINING_EMPLOYMENT)

static csc_date min_date(csc_date a, csc_date b) { return a < b ? a : b; }
static csc_date max_date(csc_date a, csc_date b) { return a > b ? a : b; }

/* The first day the child is aged `years`: birthdays clamp like months, so
 * a child born on 29 February has them on 28 February in other years. */
static csc_date birthday(csc_date dob, int years) { return date_add_months(dob, 12 * years); }

static int is_open_on(const struct episode *e, csc_date t) { return e->start <= t && t < e->end; }
static int lasts_a_day(const struct episode *e) { return e->start < e->end; }

static int code_in(const char *code, const char *const *list) {
  for (; *list != NULL; list++)
    if (strcmp(code, *list) == 0)
      return 1;
  return 0;
}

static int is_adoption_placement(const char *code) {
  static const char *const A[] = {"A3", "A4", "A5", "A6", NULL};
  return code_in(code, A);
}

/* ---- interval lists ---------------------------------------------------------------- */

/* Adds (measure, bucket, weight) over [from, to) cut to each of the sorted,
 * disjoint regions r. */
static int add_within(struct fact_list *l, int measure, int bucket, int32_t weight,
                      csc_date from, csc_date to, const struct interval *r, size_t nr) {
  for (size_t i = 0; i < nr && r[i].from < to; i++)
    if (fact_add(l, measure, bucket, weight, max_date(from, r[i].from), min_date(to, r[i].to)))
      return CSC_ENOMEM;
  return CSC_OK;
}

static int add_regions(struct fact_list *l, int measure, int bucket, const struct interval *r,
                       size_t nr) {
  return add_within(l, measure, bucket, 1, r[0].from, DATE_NEVER, r, nr);
}

/* Each region of r cut to [from, to), into out (capacity nr); the count. */
static size_t clip_regions(const struct interval *r, size_t nr, csc_date from, csc_date to,
                           struct interval *out) {
  size_t m = 0;
  for (size_t i = 0; i < nr; i++) {
    const struct interval c = {max_date(r[i].from, from), min_date(r[i].to, to)};
    if (c.from < c.to)
      out[m++] = c;
  }
  return m;
}

/* ---- the child's building blocks ----------------------------------------------------- */

/* A stretch of days over which placement p is the child's current one. */
struct segment {
  csc_date from, to;
  size_t p;
};

struct care {
  const struct child_state *st;
  struct fact_list *l;
  struct interval *lac; /* looked-after days, merged */
  size_t n_lac;
  struct segment *cur; /* the current-placement timeline, in date order */
  size_t n_cur;
  struct interval *tmp, *tmp2; /* scratch, capacity n_tmp each */
  size_t n_tmp;
};

/* The placement current on t: of those open on t, the latest started (the
 * later recorded on a tie); SIZE_MAX when none. */
static size_t placement_on(const struct child_state *st, csc_date t) {
  size_t best = SIZE_MAX;
  for (size_t i = 0; i < st->n_placements; i++) {
    const struct episode *p = &st->placements[i];
    if (is_open_on(p, t) && (best == SIZE_MAX || p->start >= st->placements[best].start))
      best = i;
  }
  return best;
}

static int date_order(const void *pa, const void *pb) {
  const csc_date a = *(const csc_date *)pa, b = *(const csc_date *)pb;
  return a < b ? -1 : a > b;
}

/* The current placement between consecutive placement boundaries (no
 * placement starts or ends inside one), neighbours of the same placement
 * joined. Returns the count (at most 2 n_placements). */
static size_t placement_timeline(const struct child_state *st, csc_date *cuts,
                                 struct segment *out) {
  size_t nc = 0, k = 0, m = 0;
  for (size_t i = 0; i < st->n_placements; i++) {
    cuts[nc++] = st->placements[i].start;
    if (st->placements[i].end != DATE_NEVER)
      cuts[nc++] = st->placements[i].end;
  }
  qsort(cuts, nc, sizeof *cuts, date_order);
  for (size_t i = 0; i < nc; i++)
    if (k == 0 || cuts[i] != cuts[k - 1])
      cuts[k++] = cuts[i];
  for (size_t i = 0; i < k; i++) {
    const size_t p = placement_on(st, cuts[i]);
    const csc_date to = i + 1 < k ? cuts[i + 1] : DATE_NEVER;
    if (p == SIZE_MAX)
      continue;
    if (m > 0 && out[m - 1].p == p && out[m - 1].to == cuts[i])
      out[m - 1].to = to;
    else
      out[m++] = (struct segment){cuts[i], to, p};
  }
  return m;
}

static int care_init(struct care *c, const struct child_state *st, struct fact_list *l) {
  memset(c, 0, sizeof *c);
  c->st = st;
  c->l = l;
  /* Scratch must hold any list built here: spans, placements, contacts,
   * scores, court applications, and the timeline's 2n segments. */
  c->n_tmp = st->n_care_spans + 2 * st->n_placements + st->n_leaver_contacts + st->n_sdq +
             st->n_court + 1;
  c->lac = arena_alloc(l->a, (st->n_care_spans + 1) * sizeof *c->lac);
  c->cur = arena_alloc(l->a, (2 * st->n_placements + 1) * sizeof *c->cur);
  c->tmp = arena_alloc(l->a, c->n_tmp * sizeof *c->tmp);
  c->tmp2 = arena_alloc(l->a, c->n_tmp * sizeof *c->tmp2);
  csc_date *cuts = arena_alloc(l->a, (2 * st->n_placements + 1) * sizeof *cuts);
  if (!c->lac || !c->cur || !c->tmp || !c->tmp2 || !cuts)
    return CSC_ENOMEM;
  c->n_lac = episode_union(st->care_spans, st->n_care_spans, 0, c->lac);
  c->n_cur = placement_timeline(st, cuts, c->cur);
  return CSC_OK;
}

/*
 * The placement a placement continues, for the adoption rules: the one that
 * ended the day p started (the fold ends a period's placement on the day
 * the next one starts), latest started first; SIZE_MAX when none.
 */
static size_t previous_placement(const struct child_state *st, size_t p) {
  const struct episode *cur = &st->placements[p];
  size_t best = SIZE_MAX;
  for (size_t i = 0; i < st->n_placements; i++) {
    const struct episode *q = &st->placements[i];
    if (i != p && lasts_a_day(q) && q->end == cur->start &&
        (best == SIZE_MAX || q->start >= st->placements[best].start))
      best = i;
  }
  return best;
}

/* ---- placement_stability_long ---------------------------------------------------------- */

/* The start that counts for "in the same placement": an adoption placement
 * (A3-A6) that continues another counts from that other's start. */
static csc_date stable_since(const struct child_state *st, size_t p) {
  const struct episode *cur = &st->placements[p];
  const size_t prev = is_adoption_placement(cur->code) ? previous_placement(st, p) : SIZE_MAX;
  return prev == SIZE_MAX ? cur->start : st->placements[prev].start;
}

/*
 * The days T on which the child is looked after in a care span started on
 * or before add_months(T, -months) (from window_end(start, months) to the
 * span's end) and is aged from..to, into c->tmp; returns the count. One
 * span: care across two spans is not continuous (sdq_mean's "looked after
 * 12 months+"; placement_stability_long follows the period instead).
 */
static size_t in_care_since(struct care *c, int months, csc_date from, csc_date to) {
  const struct child_state *st = c->st;
  size_t n = 0;
  for (size_t i = 0; i < st->n_care_spans; i++) {
    const struct episode *span = &st->care_spans[i];
    c->tmp2[n++] = (struct interval){window_end(span->start, months), span->end};
  }
  n = merge_intervals(c->tmp2, n);
  return clip_regions(c->tmp2, n, from, to, c->tmp);
}

/* The days in both a and b (each sorted and disjoint), into out (capacity
 * na + nb); returns the count. */
static size_t intersect_regions(const struct interval *a, size_t na, const struct interval *b,
                                size_t nb, struct interval *out) {
  size_t i = 0, j = 0, m = 0;
  while (i < na && j < nb) {
    const struct interval x = {max_date(a[i].from, b[j].from), min_date(a[i].to, b[j].to)};
    if (x.from < x.to)
      out[m++] = x;
    if (a[i].to < b[j].to)
      i++;
    else
      j++;
  }
  return m;
}

/*
 * placement_stability_long's cohort: the days T on which the child is
 * looked after (not under V3/V4 on T), aged under 16, in a period of care
 * that started on or before add_months(T, -30) (from window_end(start, 30)
 * to the period's end). The period, not the care span: "'continuously'
 * follows the period's chain of episodes, so a change of legal status
 * inside a period (to or from V3/V4 included) does not break it"
 * (INDICATORS.md). Into *out (arena); returns the count or SIZE_MAX.
 */
static size_t stability_cohort(struct care *c, struct interval **out) {
  const struct child_state *st = c->st;
  const size_t np = st->n_plans[PLAN_LAC];
  struct interval *since = arena_alloc(c->l->a, (np + 1) * sizeof *since);
  *out = arena_alloc(c->l->a, (np + c->n_lac + 1) * sizeof **out);
  if (since == NULL || *out == NULL)
    return SIZE_MAX;
  size_t n = 0;
  for (size_t i = 0; i < np; i++) {
    const struct episode *period = &st->plans[PLAN_LAC][i];
    since[n++] = (struct interval){window_end(period->start, MONTHS_IN_CARE_STABLE), period->end};
  }
  n = merge_intervals(since, n);
  n = clip_regions(since, n, st->details.dob, birthday(st->details.dob, 16), since);
  return intersect_regions(since, n, c->lac, c->n_lac, *out);
}

/*
 * Denominator on T: the cohort (stability_cohort). Numerator: of those, the
 * current placement (with the adoption rule) started on or before
 * add_months(T, -24), i.e. from window_end(start, 24).
 */
static int derive_stability(struct care *c) {
  const struct child_state *st = c->st;
  if (st->details.dob == DATE_NEVER)
    return CSC_OK;
  struct interval *cohort;
  const size_t nd = stability_cohort(c, &cohort);
  if (nd == SIZE_MAX)
    return CSC_ENOMEM;
  if (nd == 0)
    return CSC_OK;
  if (add_regions(c->l, M_STABILITY_LONG_DEN, 0, cohort, nd))
    return CSC_ENOMEM;
  for (size_t i = 0; i < c->n_cur; i++) {
    const struct segment *s = &c->cur[i];
    const csc_date from = window_end(stable_since(st, s->p), MONTHS_IN_PLACEMENT);
    if (add_within(c->l, M_STABILITY_LONG_NUM, 0, 1, max_date(from, s->from), s->to, cohort, nd))
      return CSC_ENOMEM;
  }
  return CSC_OK;
}

/* ---- placement_changes_avg ------------------------------------------------------------- */

/* The period of care placement p belongs to: its ref names it and its
 * start lies in it. NULL when none does. */
static const struct episode *period_of(const struct child_state *st, const struct episode *p) {
  for (size_t i = 0; i < st->n_plans[PLAN_LAC]; i++) {
    const struct episode *period = &st->plans[PLAN_LAC][i];
    if (strcmp(period->id, p->ref) == 0 && is_open_on(period, p->start))
      return period;
  }
  return NULL;
}

/* A change: a placement (lasting a day) after another of its period started
 * earlier in the period. A placement lasting no day is no placement, and a
 * placement for adoption with the foster carer is no change (INDICATORS.md,
 * "Same carer": "a child placed for adoption with their existing foster
 * carer has not changed placement"; same_carer_continues). */
static int is_placement_change(const struct child_state *st, size_t p) {
  const struct episode *cur = &st->placements[p];
  const struct episode *period = period_of(st, cur);
  if (period == NULL || !lasts_a_day(cur) || same_carer_continues(st, p) != SIZE_MAX)
    return 0;
  for (size_t i = 0; i < st->n_placements; i++) {
    const struct episode *q = &st->placements[i];
    if (i != p && lasts_a_day(q) && strcmp(q->ref, cur->ref) == 0 && q->start >= period->start &&
        q->start < cur->start)
      return 1;
  }
  return 0;
}

/*
 * Looked after on some day of the 12m window to T: a stretch [a, b) has a
 * day in (add_months(T, -12), T] for T in [a, window_end(b - 1, 12)). The
 * child counts once (regions merged); each change on d counts over [d,
 * window_end(d, 12)) where the child does.
 */
static int derive_changes(struct care *c) {
  const struct child_state *st = c->st;
  /* INDICATORS.md, "After death": not "a member of any denominator for days
   * after d": only the looked-after days up to d count. A period of care
   * has no end after d (after_death), so without this cut it would. */
  const csc_date alive_to = st->details.death == DATE_NEVER ? DATE_NEVER : st->details.death + 1;
  size_t n = 0;
  for (size_t i = 0; i < c->n_lac; i++) {
    const csc_date b = min_date(c->lac[i].to, alive_to);
    if (c->lac[i].from >= b)
      continue;
    c->tmp[n++] = (struct interval){c->lac[i].from, b == DATE_NEVER ? b : window_end(b - 1, 12)};
  }
  n = merge_intervals(c->tmp, n);
  if (n == 0)
    return CSC_OK;
  if (add_regions(c->l, M_LAC_IN_12M, 0, c->tmp, n))
    return CSC_ENOMEM;
  for (size_t i = 0; i < st->n_placements; i++) {
    const csc_date d = st->placements[i].start;
    if (is_placement_change(st, i) &&
        add_within(c->l, M_PLACEMENT_CHANGES_12M, 0, 1, d, window_end(d, 12), c->tmp, n))
      return CSC_ENOMEM;
  }
  return CSC_OK;
}

/* ---- placement_type_mix, placement_distance ---------------------------------------------- */

static int placement_group(const char *code) {
  static const char *const FOSTER[] = {"U1", "U2", "U3", "U4", "U5", "U6", NULL};
  static const char *const RESIDENTIAL[] = {"K2", "R1", "S1", NULL};
  static const char *const INDEPENDENT[] = {"P2", "H5", NULL};
  if (code_in(code, FOSTER))
    return PG_FOSTER;
  if (is_adoption_placement(code))
    return PG_ADOPTION;
  if (code_in(code, RESIDENTIAL))
    return PG_RESIDENTIAL;
  if (strcmp(code, "K1") == 0)
    return PG_SECURE;
  if (strcmp(code, "P1") == 0)
    return PG_PARENTS;
  return code_in(code, INDEPENDENT) ? PG_INDEPENDENT : PG_OTHER;
}

/* Looked after on [from, to) with no current placement: group `other`, so
 * that the groups add up to the children looked after, and distance not
 * known (placement_distance keeps them in its denominator). */
static int add_unplaced_days(struct care *c, csc_date from, csc_date to) {
  if (fact_add(c->l, M_PLACEMENT_GROUP, PG_OTHER, 1, from, to) ||
      fact_add(c->l, M_DISTANCE_UNKNOWN, 0, 1, from, to))
    return CSC_ENOMEM;
  return CSC_OK;
}

/* The looked-after days with no current placement (add_unplaced_days). */
static int add_unplaced(struct care *c) {
  size_t s = 0;
  for (size_t i = 0; i < c->n_lac; i++) {
    csc_date from = c->lac[i].from;
    const csc_date to = c->lac[i].to;
    for (; s < c->n_cur && c->cur[s].from < to; s++) {
      if (c->cur[s].to <= from)
        continue;
      if (add_unplaced_days(c, from, c->cur[s].from))
        return CSC_ENOMEM;
      from = max_date(from, c->cur[s].to);
      if (c->cur[s].to > to)
        break; /* the segment runs on into the next stretch */
    }
    if (add_unplaced_days(c, from, to))
      return CSC_ENOMEM;
  }
  return CSC_OK;
}

static int derive_placement_now(struct care *c) {
  for (size_t i = 0; i < c->n_cur; i++) {
    const struct segment *s = &c->cur[i];
    const struct episode *p = &c->st->placements[s->p];
    struct fact_list *l = c->l;
    const struct interval *r = c->lac;
    const size_t nr = c->n_lac;
    if (add_within(l, M_PLACEMENT_GROUP, placement_group(p->code), 1, s->from, s->to, r, nr))
      return CSC_ENOMEM;
    /* INDICATORS.md, placement_distance: "distance not known stays in the
     * denominator, and its share is its own value". */
    if (!(p->flags & EP_DISTANCE)) {
      if (add_within(l, M_DISTANCE_UNKNOWN, 0, 1, s->from, s->to, r, nr))
        return CSC_ENOMEM;
      continue;
    }
    if (add_within(l, M_DISTANCE_KNOWN, 0, 1, s->from, s->to, r, nr) ||
        add_within(l, M_DISTANCE_SUM, 0, (int32_t)p->value, s->from, s->to, r, nr) ||
        (p->value > DISTANCE_OVER_X10 &&
         add_within(l, M_DISTANCE_OVER_20, 0, 1, s->from, s->to, r, nr)))
      return CSC_ENOMEM;
  }
  return add_unplaced(c);
}

/* ---- care entries, exits, reunification ------------------------------------------------ */

/* Bucket of M_CARE_EXITS_*: 1 adoption, 2 special guardianship, 3 child
 * arrangements order; 0 (all exits) only for other reasons. */
static int exit_group(const char *reason) {
  static const char *const ADOPTION[] = {"E11", "E12", NULL};
  static const char *const SGO[] = {"E43", "E44", "E45", "E46", "E47", "E48", NULL};
  if (code_in(reason, ADOPTION))
    return 1;
  if (code_in(reason, SGO))
    return 2;
  return strcmp(reason, "E41") == 0 ? 3 : 0;
}

static int is_return_home(const char *reason) {
  static const char *const HOME[] = {"E4A", "E4B", "E13", NULL};
  return code_in(reason, HOME);
}

/* The first day on or after e the child is looked after; DATE_NEVER when
 * never again. */
static csc_date next_looked_after(const struct care *c, csc_date e) {
  for (size_t i = 0; i < c->n_lac; i++)
    if (c->lac[i].to > e)
      return max_date(c->lac[i].from, e);
  return DATE_NEVER;
}

/*
 * INDICATORS.md, Conventions, "Children, not periods": "a count of children
 * who started (or ceased) to be looked after counts each child once in the
 * window: on the first start (the last exit), as DfE's children-looked-after
 * tables do."
 *
 * With the child's counted entries sorted, d1 < d2 < ..., entry i is the
 * first in the 12m window of T when d_i is in it (T in [d_i,
 * window_end(d_i, 12))) and d_{i-1} is not (d_{i-1} <= add_months(T, -12),
 * i.e. T >= window_end(d_{i-1}, 12)); entries before d_{i-1} are then out
 * of the window too. So entry i counts over
 *   [max(d_i, window_end(d_{i-1}, 12)), window_end(d_i, 12)).
 * FYTD: [max(d_i, date_fy_end(d_{i-1})), date_fy_end(d_i)); when d_{i-1} is
 * in d_i's financial year that is empty, else it is d_i's year from d_i.
 * Two entries on one day: the later one's range is empty.
 *
 * Exits e1 < e2 < ...: exit i is the last in the window of T when e_i is in
 * it and e_{i+1} is not yet (T < e_{i+1}: a later exit never leaves a
 * window before an earlier one), i.e. over
 *   [e_i, min(window_end(e_i, 12), e_{i+1}))   and
 *   [e_i, min(date_fy_end(e_i), e_{i+1}))      for FYTD.
 * Two exits on one day: the earlier one's range is empty.
 */

/* The LAC periods for which keep() holds, as indices sorted by key (start
 * or end), ties in the order of plans[PLAN_LAC]; into idx, returns the count. */
static size_t sorted_periods(const struct child_state *st, int by_end,
                             int (*keep)(const struct child_state *, const struct episode *),
                             size_t *idx) {
  const struct episode *p = st->plans[PLAN_LAC];
  size_t n = 0;
  for (size_t i = 0; i < st->n_plans[PLAN_LAC]; i++)
    if (keep(st, &p[i]))
      idx[n++] = i;
  for (size_t i = 1; i < n; i++) /* insertion sort: stable, and n is a handful */
    for (size_t j = i; j > 0; j--) {
      const csc_date a = by_end ? p[idx[j - 1]].end : p[idx[j - 1]].start;
      const csc_date b = by_end ? p[idx[j]].end : p[idx[j]].start;
      if (a <= b)
        break;
      const size_t t = idx[j];
      idx[j] = idx[j - 1];
      idx[j - 1] = t;
    }
  return n;
}

static int is_return_home_exit(const struct child_state *st, const struct episode *p) {
  return is_lac_exit(st, p) && is_return_home(p->end_code);
}

/* Adds (m12, mfytd, bucket) for an exit on e followed by the next counted
 * exit on next (DATE_NEVER when none): the ranges above. */
static int add_last_exit(struct fact_list *l, int m12, int mfytd, int bucket, csc_date e,
                         csc_date next) {
  if (fact_add(l, m12, bucket, 1, e, min_date(window_end(e, 12), next)) ||
      fact_add(l, mfytd, bucket, 1, e, min_date(date_fy_end(e), next)))
    return CSC_ENOMEM;
  return CSC_OK;
}

static int derive_entries(struct care *c, size_t *idx) {
  const struct child_state *st = c->st;
  const size_t n = sorted_periods(st, 0, is_lac_entry, idx);
  for (size_t i = 0; i < n; i++) {
    const struct episode *p = &st->plans[PLAN_LAC][idx[i]];
    const csc_date d = p->start;
    const csc_date prev = i ? st->plans[PLAN_LAC][idx[i - 1]].start : DATE_NEVER;
    const csc_date from12 = i ? max_date(d, window_end(prev, 12)) : d;
    const csc_date from_fy = i ? max_date(d, date_fy_end(prev)) : d;
    const int buckets[2] = {((p->flags & EP_UASC) || st->details.uasc) ? 0 : 1,
                            CARE_ENTRIES_ALL};
    for (int b = 0; b < 2; b++)
      if (fact_add(c->l, M_CARE_ENTRIES_12M, buckets[b], 1, from12, window_end(d, 12)) ||
          fact_add(c->l, M_CARE_ENTRIES_FYTD, buckets[b], 1, from_fy, date_fy_end(d)))
        return CSC_ENOMEM;
  }
  return CSC_OK;
}

static int derive_exits(struct care *c, size_t *idx) {
  const struct child_state *st = c->st;
  const size_t n = sorted_periods(st, 1, is_lac_exit, idx);
  for (size_t i = 0; i < n; i++) {
    const struct episode *p = &st->plans[PLAN_LAC][idx[i]];
    const csc_date next = i + 1 < n ? st->plans[PLAN_LAC][idx[i + 1]].end : DATE_NEVER;
    const int group = exit_group(p->end_code);
    if (add_last_exit(c->l, M_CARE_EXITS_12M, M_CARE_EXITS_FYTD, 0, p->end, next) ||
        (group && add_last_exit(c->l, M_CARE_EXITS_12M, M_CARE_EXITS_FYTD, group, p->end, next)))
      return CSC_ENOMEM;
  }
  return CSC_OK;
}

/*
 * reunification_sustained: each child once, on the last exit home in the
 * 12m window: the exit home on e, followed by the child's next exit home
 * on h (DATE_NEVER when none), is in the denominator over [e, min(h,
 * window_end(e, 12))). Provisional numerator: "not looked after again on or
 * before min(add_months(e, 12), T)" holds on T until the return date r, so
 * it counts over [e, min(r, h, window_end(e, 12))). A return after
 * add_months(e, 12) changes nothing: it is on or after window_end(e, 12)
 * (at most a day later: only 29 February clamps over 12 months). (h > e
 * means a return before h, so r < h whenever a later exit home exists.)
 */
static int derive_reunification(struct care *c, size_t *idx) {
  const struct child_state *st = c->st;
  const size_t n = sorted_periods(st, 1, is_return_home_exit, idx);
  for (size_t i = 0; i < n; i++) {
    const csc_date e = st->plans[PLAN_LAC][idx[i]].end;
    const csc_date h = i + 1 < n ? st->plans[PLAN_LAC][idx[i + 1]].end : DATE_NEVER;
    const csc_date to = min_date(h, window_end(e, 12));
    if (fact_add(c->l, M_REUNIFICATIONS_12M, 0, 1, e, to) ||
        fact_add(c->l, M_REUNIFICATIONS_12M, 1, 1, e, min_date(next_looked_after(c, e), to)))
      return CSC_ENOMEM;
  }
  return CSC_OK;
}

static int derive_entries_exits(struct care *c) {
  size_t *idx = arena_alloc(c->l->a, (c->st->n_plans[PLAN_LAC] + 1) * sizeof *idx);
  if (idx == NULL)
    return CSC_ENOMEM;
  if (derive_entries(c, idx) || derive_exits(c, idx) || derive_reunification(c, idx))
    return CSC_ENOMEM;
  return CSC_OK;
}

/* ---- adoption ------------------------------------------------------------------------ */

/* The start of the care span the child was placed for adoption in (the
 * one open on the placed date); DATE_NEVER when none is, or when the span
 * begins on the unknown start of its period: A1 and A10 count from
 * entering care, and a span measured from the first day a return shows
 * would understate them by an unknown time (docs/indicators.md). */
static csc_date care_span_start(const struct child_state *st, csc_date placed) {
  for (size_t i = 0; i < st->n_care_spans; i++)
    if (is_open_on(&st->care_spans[i], placed))
      return span_start_unknown(st, &st->care_spans[i]) ? DATE_NEVER : st->care_spans[i].start;
  return DATE_NEVER;
}

/* Whether the move into placement p kept the carer (903 RNE T: change of
 * placement, same carer; U: change of legal status and placement, same
 * carer). "" (not recorded), S, P and B did not, or may not have. */
static int moved_in_with_same_carer(const struct episode *p) {
  return strcmp(p->rne, "T") == 0 || strcmp(p->rne, "U") == 0;
}

/*
 * A10's "placement they were adopted from": the placement open on the
 * placed date; when that is an adoption placement (A3-A6) that began on the
 * placed date, the foster placement it continues (the carer's placement
 * re-recorded as an adoption placement). Returns its index; SIZE_MAX when
 * none.
 */
static size_t adopted_from(const struct child_state *st, csc_date placed) {
  const size_t p = placement_on(st, placed);
  if (p == SIZE_MAX)
    return SIZE_MAX;
  const struct episode *cur = &st->placements[p];
  if (is_adoption_placement(cur->code) && cur->start == placed) {
    const size_t prev = previous_placement(st, p);
    if (prev != SIZE_MAX)
      return prev;
  }
  return p;
}

/*
 * INDICATORS.md, "Same carer": "A10 dates from the day the child moved in
 * with the carer who adopts them (the start of the run of T/U moves)". From
 * placement p (adopted from), back while the move into the placement kept
 * the carer, to the placement that move left (previous_placement); its start
 * is the day the child moved in with the carer. Without RNE recorded the run
 * is p alone. Starts strictly decrease along the walk, so it ends.
 */
static csc_date moved_in_with_carer(const struct child_state *st, size_t p) {
  while (moved_in_with_same_carer(&st->placements[p])) {
    const size_t prev = previous_placement(st, p);
    if (prev == SIZE_MAX)
      break;
    p = prev;
  }
  return st->placements[p].start;
}

/* One journey's days for adoption_timeliness bucket b, counted over the
 * 12m window of the adoption order. */
static int add_adoption_days(struct fact_list *l, int bucket, csc_date adopted, int32_t days) {
  const csc_date window = window_end(adopted, 12);
  if (fact_add(l, M_ADOPTION_COUNT_12M, bucket, 1, adopted, window) ||
      fact_add(l, M_ADOPTION_DAYS_12M, bucket, days, adopted, window))
    return CSC_ENOMEM;
  return CSC_OK;
}

/* A1, A10 (need the placed date in a care span) and A2 (need the
 * placement order and the match); a journey missing one is left out of it.
 * A10 never counts before the span: a child with the carer before being
 * looked after moved in, for A10, on entering care (0 days). */
static int derive_adoption_times(const struct child_state *st, const struct adoption *j,
                                 struct fact_list *l) {
  const csc_date entered = j->placed == DATE_NEVER ? DATE_NEVER : care_span_start(st, j->placed);
  if (entered != DATE_NEVER) {
    if (add_adoption_days(l, 0, j->adopted, (int32_t)(j->placed - entered)))
      return CSC_ENOMEM;
    csc_date moved_in = j->placed;
    if (j->flags & MK_FOSTER_CARER) {
      const size_t from = adopted_from(st, j->placed);
      moved_in = from == SIZE_MAX ? DATE_NEVER : moved_in_with_carer(st, from);
    }
    if (moved_in != DATE_NEVER &&
        add_adoption_days(l, 2, j->adopted, (int32_t)(max_date(moved_in, entered) - entered)))
      return CSC_ENOMEM;
  }
  if (j->placement_order != DATE_NEVER && j->matched != DATE_NEVER &&
      add_adoption_days(l, 1, j->adopted, (int32_t)(j->matched - j->placement_order)))
    return CSC_ENOMEM;
  return CSC_OK;
}

static int derive_adoptions(const struct child_state *st, struct fact_list *l) {
  for (size_t i = 0; i < st->n_adoptions; i++) {
    const struct adoption *j = &st->adoptions[i];
    if (j->adopted != DATE_NEVER && derive_adoption_times(st, j, l))
      return CSC_ENOMEM;
    if (j->placed == DATE_NEVER)
      continue;
    const csc_date window = window_end(j->placed, 12);
    if (fact_add(l, M_PLACED_FOR_ADOPTION_12M, 0, 1, j->placed, window) ||
        ((j->flags & MK_EARLY_PERMANENCE) &&
         fact_add(l, M_PLACED_FOR_ADOPTION_12M, 1, 1, j->placed, window)))
      return CSC_ENOMEM;
  }
  return CSC_OK;
}

/* ---- care leavers, SDQ ------------------------------------------------------------------- */

/* Marks are folded in date order. Mark i is the latest on or before T for
 * T in [date, next date); a mark followed by another on its day never is. */
static csc_date superseded_on(const struct mark *m, size_t n, size_t i) {
  return i + 1 < n ? m[i + 1].date : DATE_NEVER;
}

const char *const leaver_in_touch_codes[LEAVER_IN_TOUCH_COUNT] = {"YES",  "NO",   "REFU",
                                                                  "NREQ", "RHOM", "DIED"};

static int is_eet(const struct mark *m) {
  if (m->value == ACTIVITY_EDUCATION || m->value == ACTIVITY_TRAINING_EMPLOYMENT)
    return 1;
  /* No activity recorded: the SSDA903 code. In the current guide's list
   * (reference/code-lists.csv) the codes of education, training or
   * employment are F (full time) and P (part time): F1 P1 F2 P2 F4 P4 F5
   * P5, F3 P3 in earlier years; G codes are NEET, 0 not applicable. A
   * fixed rule, not read from the lists: a stored fact never depends on
   * them. */
  return m->value == 0 && (m->code[0] == 'F' || m->code[0] == 'P');
}

/* The contact's 903 IN_TOUCH value (its index in leaver_in_touch_codes):
 * the code when recorded, else YES or NO from the in-touch flag; -1 for a
 * code in no list (unknown_code), which counts in no value's share. */
static int in_touch_value(const struct mark *m) {
  const char *code = m->code3[0] != '\0' ? m->code3 : (m->flags & MK_IN_TOUCH) ? "YES" : "NO";
  for (int i = 0; i < LEAVER_IN_TOUCH_COUNT; i++)
    if (strcmp(leaver_in_touch_codes[i], code) == 0)
      return i;
  return -1;
}

/*
 * care_leavers: aged 17-21 on T (from the 17th birthday to the 22nd), the
 * latest contact on or before T dated in the 12m window: contact i counts
 * over [d, min(next contact, window_end(d, 12))) within those ages, in
 * bucket 0 (contacted) and in each of 1 in touch, 2 EET, 3 suitable that
 * it records.
 */
static int derive_care_leavers(const struct child_state *st, struct fact_list *l) {
  if (st->details.dob == DATE_NEVER)
    return CSC_OK;
  const struct interval ages = {birthday(st->details.dob, 17), birthday(st->details.dob, 22)};
  for (size_t i = 0; i < st->n_leaver_contacts; i++) {
    const struct mark *m = &st->leaver_contacts[i];
    const csc_date to = min_date(superseded_on(st->leaver_contacts, st->n_leaver_contacts, i),
                                 window_end(m->date, 12));
    const int in_bucket[4] = {1, (m->flags & MK_IN_TOUCH) != 0, is_eet(m),
                              (m->flags & MK_SUITABLE) != 0};
    const int value = in_touch_value(m);
    if (value >= 0 && add_within(l, M_CARE_LEAVERS_12M, LEAVER_IN_TOUCH_VALUES + value, 1,
                                 m->date, to, &ages, 1))
      return CSC_ENOMEM;
    for (int b = 0; b < 4; b++)
      if (in_bucket[b] && add_within(l, M_CARE_LEAVERS_12M, b, 1, m->date, to, &ages, 1))
        return CSC_ENOMEM;
  }
  return CSC_OK;
}

static int sdq_band(uint32_t score) { return score <= 13 ? 1 : score <= 16 ? 2 : 3; }

/*
 * sdq_mean on T: looked after in a care span started on or before
 * add_months(T, -12), aged 4-16, the latest score on or before T.
 */
static int derive_sdq(struct care *c) {
  const struct child_state *st = c->st;
  if (st->details.dob == DATE_NEVER || st->n_sdq == 0)
    return CSC_OK;
  const size_t n = in_care_since(c, MONTHS_IN_CARE_SDQ, birthday(st->details.dob, 4),
                                 birthday(st->details.dob, 17));
  for (size_t i = 0; n > 0 && i < st->n_sdq; i++) {
    const struct mark *m = &st->sdq[i];
    const csc_date to = superseded_on(st->sdq, st->n_sdq, i);
    if (add_within(c->l, M_SDQ_COUNT, 0, 1, m->date, to, c->tmp, n) ||
        add_within(c->l, M_SDQ_COUNT, sdq_band(m->value), 1, m->date, to, c->tmp, n) ||
        add_within(c->l, M_SDQ_SUM, 0, (int32_t)m->value, m->date, to, c->tmp, n))
      return CSC_ENOMEM;
  }
  return CSC_OK;
}

/* ---- court applications --------------------------------------------------------------- */

/* Children with an application in the 6m window: the windows of the
 * child's applications, merged, so that the child counts once. */
static int derive_court(struct care *c) {
  const struct child_state *st = c->st;
  size_t n = 0;
  for (size_t i = 0; i < st->n_court; i++) {
    const struct mark *m = &st->court[i];
    if (m->value == COURT_CARE || m->value == COURT_SUPERVISION)
      c->tmp[n++] = (struct interval){m->date, window_end(m->date, 6)};
  }
  n = merge_intervals(c->tmp, n);
  return n ? add_regions(c->l, M_COURT_APPLICATIONS_6M, 0, c->tmp, n) : CSC_OK;
}

int derive_outcomes(const struct child_state *st, const struct derive_ref *ref,
                    struct fact_list *l) {
  (void)ref; /* no working days here */
  struct care c;
  if (care_init(&c, st, l))
    return CSC_ENOMEM;
  if (derive_stability(&c) || derive_changes(&c) || derive_placement_now(&c) ||
      derive_entries_exits(&c) || derive_adoptions(st, l) || derive_care_leavers(st, l) ||
      derive_sdq(&c) || derive_court(&c))
    return CSC_ENOMEM;
  return CSC_OK;
}
