/*
 * From a folded child to its facts. Each fact is (measure, bucket, weight,
 * [from, to)): the child adds weight to the measure on every as-of date T
 * with from <= T < to. See INDICATORS.md for the definitions quoted below.
 */
#include <stdlib.h>
#include <string.h>

#include "state/facts_internal.h"

const char *const quality_rule_ids[Q_RULE_COUNT] = {
    "end_before_start",  "end_without_start",   "referral_while_open", "placement_outside_care",
    "overlapping_plan",  "date_before_birth",   "date_after_recorded", "unknown_code",
    "implausible_date",  "after_death",         "repeated_completion",
    "review_outside_plan", "missing_outside_care",
    "period_start_unknown"};

/* Findings stay counted whatever the as-of date. */
#define ALWAYS_FROM ((csc_date)-25567) /* 1900-01-01 */

int fact_add(struct fact_list *l, int measure, int bucket, int32_t weight, csc_date from,
             csc_date to) {
  if (from >= to || weight == 0)
    return CSC_OK;
  if (l->n == l->cap) {
    const size_t cap = l->cap ? l->cap * 2 : 32;
    struct fact *v = arena_alloc(l->a, cap * sizeof *v);
    if (v == NULL)
      return CSC_ENOMEM;
    if (l->n)
      memcpy(v, l->v, l->n * sizeof *v);
    l->v = v;
    l->cap = cap;
  }
  struct fact *f = &l->v[l->n++];
  f->measure = (uint16_t)measure;
  f->bucket = (uint16_t)bucket;
  f->weight = weight;
  f->from = from;
  f->to = to;
  return CSC_OK;
}

/*
 * "12m windows cover events with date in (T - 12 months, T]": an event on d
 * is in the window of every T >= d with add_months(T, -12) < d. Returns the
 * first T past that range. Not simply d + 12 months, because month-end
 * clamping makes add_months non-invertible: a referral on 29 Feb 2024 is
 * still inside the window on 28 Feb 2025 (whose window starts 28 Feb 2024).
 */
csc_date window_end(csc_date d, int months) {
  if (d == DATE_NEVER)
    return DATE_NEVER;
  csc_date t = date_add_months(d, months);
  while (date_add_months(t - 1, -months) >= d)
    t--;
  while (date_add_months(t, -months) < d)
    t++;
  return t;
}

static csc_date window_12m_end(csc_date d) { return window_end(d, 12); }

static int interval_compare(const void *pa, const void *pb) {
  const struct interval *a = pa, *b = pb;
  if (a->from != b->from)
    return a->from < b->from ? -1 : 1;
  return a->to < b->to ? -1 : a->to > b->to;
}

/* The regions covered by at least k of the n intervals (sorted, disjoint),
 * written over iv's scratch space `out` (capacity n). Returns the count. */
size_t coverage_at_least(const struct interval *iv, size_t n, int k, struct interval *out,
                                csc_date *scratch_from, csc_date *scratch_to) {
  for (size_t i = 0; i < n; i++) {
    scratch_from[i] = iv[i].from;
    scratch_to[i] = iv[i].to;
  }
  /* insertion sort: n is a child's placements, a handful */
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && scratch_from[j - 1] > scratch_from[j]; j--) {
      csc_date t = scratch_from[j];
      scratch_from[j] = scratch_from[j - 1];
      scratch_from[j - 1] = t;
    }
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && scratch_to[j - 1] > scratch_to[j]; j--) {
      csc_date t = scratch_to[j];
      scratch_to[j] = scratch_to[j - 1];
      scratch_to[j - 1] = t;
    }
  size_t a = 0, b = 0, m = 0;
  int depth = 0;
  csc_date region_start = 0;
  while (a < n || b < n) {
    /* Ends before starts on the same date: intervals are half-open. */
    if (b < n && (a == n || scratch_to[b] <= scratch_from[a])) {
      if (depth-- == k && m < n && region_start < scratch_to[b])
        out[m++] = (struct interval){region_start, scratch_to[b]};
      b++;
    } else {
      if (++depth == k)
        region_start = scratch_from[a];
      a++;
    }
  }
  return m;
}

size_t episode_union(const struct episode *eps, size_t n, uint32_t skip_flags,
                            struct interval *out) {
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (!(eps[i].flags & skip_flags) && eps[i].start < eps[i].end)
      out[m++] = (struct interval){eps[i].start, eps[i].end};
  qsort(out, m, sizeof *out, interval_compare);
  size_t u = 0;
  for (size_t i = 0; i < m; i++) {
    if (u > 0 && out[i].from <= out[u - 1].to) {
      if (out[i].to > out[u - 1].to)
        out[u - 1].to = out[i].to;
    } else {
      out[u++] = out[i];
    }
  }
  return u;
}

/* Adds a fact for each intersection of regions with the looked-after spans. */
int add_intersections(struct fact_list *l, int measure, const struct interval *regions,
                             size_t nr, const struct interval *lac, size_t nl) {
  for (size_t i = 0; i < nr; i++)
    for (size_t j = 0; j < nl; j++) {
      const csc_date from = regions[i].from > lac[j].from ? regions[i].from : lac[j].from;
      const csc_date to = regions[i].to < lac[j].to ? regions[i].to : lac[j].to;
      int rc = fact_add(l, measure, 0, 1, from, to);
      if (rc)
        return rc;
    }
  return CSC_OK;
}

static int derive_referrals(const struct child_state *st, struct fact_list *l) {
  int rc = CSC_OK;
  for (size_t i = 0; rc == CSC_OK && i < st->n_referrals; i++) {
    const csc_date d = st->referrals[i].start;
    const int re = (st->referrals[i].flags & EP_REREFERRAL) != 0;
    rc = fact_add(l, M_REFERRALS_12M, 0, 1, d, window_12m_end(d));
    if (rc == CSC_OK)
      rc = fact_add(l, M_REFERRALS_FYTD, 0, 1, d, date_fy_end(d));
    if (rc == CSC_OK && re)
      rc = fact_add(l, M_REREFERRALS_12M, 0, 1, d, window_12m_end(d));
    if (rc == CSC_OK && re)
      rc = fact_add(l, M_REREFERRALS_FYTD, 0, 1, d, date_fy_end(d));
  }
  return rc;
}

static int interval_order(const void *pa, const void *pb) {
  const struct interval *a = pa, *b = pb;
  if (a->from != b->from)
    return a->from < b->from ? -1 : 1;
  return a->to < b->to ? -1 : a->to > b->to;
}

/* Sorts iv and merges what overlaps or touches; returns the new count. */
size_t merge_intervals(struct interval *iv, size_t n) {
  size_t m = 0;
  qsort(iv, n, sizeof *iv, interval_order);
  for (size_t i = 0; i < n; i++) {
    if (iv[i].from >= iv[i].to)
      continue;
    if (m > 0 && iv[i].from <= iv[m - 1].to)
      iv[m - 1].to = (iv[i].to > iv[m - 1].to ? iv[i].to : iv[m - 1].to);
    else
      iv[m++] = iv[i];
  }
  return m;
}

int period_looked_after_on(const struct child_state *st, const struct episode *period,
                           csc_date d) {
  const uint32_t index = (uint32_t)(period - st->plans[PLAN_LAC]);
  for (size_t i = 0; i < st->n_care_spans; i++) {
    const struct episode *span = &st->care_spans[i];
    if (span->value == index && span->start <= d && d < span->end)
      return 1;
  }
  return 0;
}

int is_lac_entry(const struct child_state *st, const struct episode *period) {
  return !(period->flags & EP_START_UNKNOWN) && period_looked_after_on(st, period, period->start);
}

int span_start_unknown(const struct child_state *st, const struct episode *span) {
  const struct episode *period = &st->plans[PLAN_LAC][span->value];
  return (period->flags & EP_START_UNKNOWN) && span->start == period->start;
}

int is_lac_exit(const struct child_state *st, const struct episode *period) {
  return period->end != DATE_NEVER && period_looked_after_on(st, period, period->end - 1);
}

size_t period_spans(const struct child_state *st, const struct episode *period,
                    struct interval *out) {
  const uint32_t index = (uint32_t)(period - st->plans[PLAN_LAC]);
  size_t n = 0;
  for (size_t i = 0; i < st->n_care_spans; i++)
    if (st->care_spans[i].value == index)
      out[n++] = (struct interval){st->care_spans[i].start, st->care_spans[i].end};
  return n; /* derive_care_spans pushes a period's spans in date order */
}

/*
 * The days plan p of kind k is open, into days (capacity: one, or
 * st->n_care_spans for LAC); returns the count. A LAC plan (a period of
 * care) is open only on its looked-after days (INDICATORS.md, "Exclusions":
 * "a day is looked after when its status is not V3/V4"), so that
 * open_plans_over and seen_per_plan count the plans children_on_plan counts
 * the children of.
 */
static size_t plan_open_days(const struct child_state *st, int k, const struct episode *p,
                             struct interval *days) {
  if (k == PLAN_LAC)
    return period_spans(st, p, days);
  days[0] = (struct interval){p->start, p->end};
  return 1;
}

/*
 * open_plans_over: the plan counts on its open days, and as lasted n months
 * on those from p->start + n months. For LAC, p->start is the period's
 * start even when the period began under V3/V4 (docs/indicators.md,
 * open_plans_over: the plan is the period, as "continuously" follows the
 * period in placement_stability_long).
 */
static int derive_plans(const struct child_state *st, struct fact_list *l, struct interval *tmp) {
  for (int k = 0; k < PLAN_KIND_COUNT; k++) {
    /* Looked after: the days not under V3/V4, whatever the periods. */
    const size_t nu = k == PLAN_LAC ? episode_union(st->care_spans, st->n_care_spans, 0, tmp)
                                    : episode_union(st->plans[k], st->n_plans[k], 0, tmp);
    for (size_t i = 0; i < nu; i++)
      if (fact_add(l, M_CHILDREN_ON_PLAN, k, 1, tmp[i].from, tmp[i].to))
        return CSC_ENOMEM;
    for (size_t i = 0; i < st->n_plans[k]; i++) {
      const struct episode *p = &st->plans[k][i];
      const size_t nd = plan_open_days(st, k, p, tmp);
      for (size_t d = 0; d < nd; d++) {
        if (fact_add(l, M_PLANS_OPEN, k, 1, tmp[d].from, tmp[d].to))
          return CSC_ENOMEM;
        for (int t = 0; t < N_THRESHOLDS; t++) {
          const csc_date over = date_add_months(p->start, plan_thresholds[t]);
          if (fact_add(l, M_PLANS_OPEN_OVER, k * N_THRESHOLDS + t, 1,
                       over > tmp[d].from ? over : tmp[d].from, tmp[d].to))
            return CSC_ENOMEM;
        }
      }
    }
  }
  return CSC_OK;
}

static int is_foster_code(const char *code) {
  return code[0] == 'U' && code[1] >= '1' && code[1] <= '6' && code[2] == '\0';
}

static int is_adoption_code(const char *code) {
  return code[0] == 'A' && code[1] >= '3' && code[1] <= '6' && code[2] == '\0';
}

/* Whether a journey placed for adoption on d was placed with the child's
 * foster carer (the milestone's placed_with_foster_carer). */
static int placed_with_carer_on(const struct child_state *st, csc_date d) {
  for (size_t i = 0; i < st->n_adoptions; i++)
    if (st->adoptions[i].placed == d && (st->adoptions[i].flags & MK_FOSTER_CARER))
      return 1;
  return 0;
}

/*
 * INDICATORS.md, "Same carer": "a child placed for adoption with their
 * existing foster carer has not changed placement". Placement p is that
 * placement when it is an adoption placement (A3-A6) starting on the placed
 * date of a journey placed with the foster carer, and a foster placement
 * (U1-U6, lasting a day) ended that day: the fold ends a period's placement
 * when the next starts, so that is the carer's placement p re-records.
 * Returns that foster placement (the latest started, should two end that
 * day), or SIZE_MAX when p is an ordinary placement.
 */
size_t same_carer_continues(const struct child_state *st, size_t p) {
  const struct episode *cur = &st->placements[p];
  if (!is_adoption_code(cur->code) || !placed_with_carer_on(st, cur->start))
    return SIZE_MAX;
  size_t best = SIZE_MAX;
  for (size_t i = 0; i < st->n_placements; i++) {
    const struct episode *q = &st->placements[i];
    if (i != p && q->start < q->end && q->end == cur->start && is_foster_code(q->code) &&
        (best == SIZE_MAX || q->start >= st->placements[best].start))
      best = i;
  }
  return best;
}

/*
 * The child's stays for placements_3plus: its placements, except that a
 * placement for adoption with the foster carer (same_carer_continues) is
 * no placement of its own: it extends the foster placement it continues.
 * Into out (capacity n_placements), as [start, end), using cont (the same)
 * as scratch; returns the count.
 */
static size_t placement_stays(const struct child_state *st, size_t *cont, struct interval *out) {
  const size_t n = st->n_placements;
  for (size_t i = 0; i < n; i++) {
    cont[i] = same_carer_continues(st, i);
    out[i] = (struct interval){st->placements[i].start, st->placements[i].end};
  }
  for (size_t i = 0; i < n; i++)
    if (cont[i] != SIZE_MAX)
      out[cont[i]].to = st->placements[i].end;
  size_t m = 0;
  for (size_t i = 0; i < n; i++)
    if (cont[i] == SIZE_MAX)
      out[m++] = out[i];
  return m;
}

/*
 * placements_3plus: looked after on T with 3 or more placements during the
 * window, where a placement counts when it is open on any day of the window
 * (a placement for adoption with the foster carer is part of the foster
 * placement it continues: placement_stays).
 * FYTD: placement p counts for T in its financial year from max(start, 1 April).
 * 12m: p counts while add_months(T, -12) < p.end - 1 (its last open day is in
 * the window), i.e. for T in [p.start, window_12m_end(p.end - 1)).
 */
static int derive_placements(const struct child_state *st, struct fact_list *l,
                             struct arena *a) {
  const size_t n0 = st->n_placements;
  if (n0 < 3)
    return CSC_OK;
  struct interval *lac = arena_alloc(a, (st->n_care_spans + 1) * sizeof *lac);
  struct interval *stays = arena_alloc(a, n0 * sizeof *stays);
  size_t *cont = arena_alloc(a, n0 * sizeof *cont);
  struct interval *iv = arena_alloc(a, n0 * sizeof *iv);
  struct interval *regions = arena_alloc(a, n0 * sizeof *regions);
  csc_date *s1 = arena_alloc(a, n0 * sizeof *s1), *s2 = arena_alloc(a, n0 * sizeof *s2);
  if (!lac || !stays || !cont || !iv || !regions || !s1 || !s2)
    return CSC_ENOMEM;
  const size_t nl = episode_union(st->care_spans, st->n_care_spans, 0, lac);
  const size_t n = placement_stays(st, cont, stays);
  if (nl == 0 || n < 3)
    return CSC_OK;

  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    const struct interval *p = &stays[i];
    if (p->from >= p->to)
      continue;
    iv[m].from = p->from;
    iv[m].to = p->to == DATE_NEVER ? DATE_NEVER : window_12m_end(p->to - 1);
    m++;
  }
  size_t nr = coverage_at_least(iv, m, 3, regions, s1, s2);
  int rc = add_intersections(l, M_PLACEMENTS3_12M, regions, nr, lac, nl);

  csc_date first = DATE_NEVER, last = 0;
  for (size_t i = 0; i < n; i++) {
    const struct interval *p = &stays[i];
    if (p->from < first)
      first = p->from;
    if (p->from > last)
      last = p->from;
    if (p->to != DATE_NEVER && p->to > last)
      last = p->to;
  }
  csc_date fy = date_fy_start(first);
  for (; rc == CSC_OK && fy <= last; fy = date_add_months(fy, 12)) {
    const csc_date fy_end = date_add_months(fy, 12);
    m = 0;
    for (size_t i = 0; i < n; i++) {
      const struct interval *p = &stays[i];
      if (p->from < p->to && p->from < fy_end && p->to > fy)
        iv[m++] = (struct interval){p->from > fy ? p->from : fy, fy_end};
    }
    nr = coverage_at_least(iv, m, 3, regions, s1, s2);
    rc = add_intersections(l, M_PLACEMENTS3_FYTD, regions, nr, lac, nl);
  }
  /* After the last start or end every year looks the same: only the open
   * placements reach it, each on every day. Three or more open at once
   * (overlapping periods of care) count in every later year. */
  size_t open = 0;
  for (size_t i = 0; i < n; i++)
    open += stays[i].from < DATE_NEVER && stays[i].to == DATE_NEVER;
  if (rc == CSC_OK && open >= 3) {
    const struct interval rest = {fy, DATE_NEVER};
    rc = add_intersections(l, M_PLACEMENTS3_FYTD, &rest, 1, lac, nl);
  }
  return rc;
}

/*
 * The day plan_duration's alert for a threshold due on `due` is raised:
 * `due` itself, but for a LAC plan the first day on or after it that the
 * plan is open (not under V3/V4: INDICATORS.md, "Exclusions"), as the
 * alert is for "a ... LAC plan that is still open" and a period under
 * V3/V4 on its due date is no looked-after plan that day. DATE_NEVER when
 * the plan is never open again.
 */
static csc_date alert_due(const struct child_state *st, int k, const struct episode *p,
                          csc_date due) {
  if (k != PLAN_LAC)
    return due < p->end ? due : DATE_NEVER;
  const uint32_t index = (uint32_t)(p - st->plans[PLAN_LAC]);
  csc_date first = DATE_NEVER;
  for (size_t i = 0; i < st->n_care_spans; i++) {
    const struct episode *span = &st->care_spans[i];
    const csc_date from = span->start > due ? span->start : due;
    if (span->value == index && from < span->end && from < first)
      first = from;
  }
  return first;
}

static int derive_alerts(const struct child_state *st, struct arena *a, struct derived *out) {
  size_t cap = 0;
  for (int k = 0; k < PLAN_KIND_COUNT; k++)
    cap += st->n_plans[k] * N_THRESHOLDS;
  out->alerts = arena_alloc(a, (cap ? cap : 1) * sizeof *out->alerts);
  if (out->alerts == NULL)
    return CSC_ENOMEM;
  out->n_alerts = 0;
  for (int k = 0; k < PLAN_KIND_COUNT; k++)
    for (size_t i = 0; i < st->n_plans[k]; i++) {
      const struct episode *p = &st->plans[k][i];
      if (k == PLAN_LAC && (p->flags & EP_SHORT_BREAKS))
        continue;
      for (int t = 0; t < N_THRESHOLDS; t++) {
        const csc_date due = alert_due(st, k, p, date_add_months(p->start, plan_thresholds[t]));
        if (due == DATE_NEVER)
          continue;
        struct alert_fact *af = &out->alerts[out->n_alerts++];
        memset(af, 0, sizeof *af);
        af->plan_kind = (uint8_t)k;
        af->months = (uint8_t)plan_thresholds[t];
        af->plan_start = p->start;
        af->from = due;
        af->to = p->end;
        /* A plan without a source id is named by its start date: stable
         * as long as the start is. */
        if (p->id[0])
          snprintf(af->plan_id, sizeof af->plan_id, "%s", p->id);
        else
          snprintf(af->plan_id, sizeof af->plan_id, "%u", date_to_yyyymmdd(p->start));
      }
    }
  return CSC_OK;
}

int fact_compare(const struct fact *a, const struct fact *b) {
  if (a->measure != b->measure)
    return a->measure < b->measure ? -1 : 1;
  if (a->bucket != b->bucket)
    return a->bucket < b->bucket ? -1 : 1;
  if (a->from != b->from)
    return a->from < b->from ? -1 : 1;
  if (a->to != b->to)
    return a->to < b->to ? -1 : 1;
  return a->weight < b->weight ? -1 : a->weight > b->weight;
}

static int fact_qsort(const void *a, const void *b) { return fact_compare(a, b); }

void derive_ref_default(struct derive_ref *ref) {
  memset(ref, 0, sizeof *ref);
  ref->visit_interval[PLAN_CIN] = VISIT_DEFAULT_CIN;
  ref->visit_interval[PLAN_CP] = VISIT_DEFAULT_CP;
  ref->visit_interval[PLAN_LAC] = VISIT_DEFAULT_LAC;
}

/*
 * INDICATORS.md, Conventions, "After death": "a child with a date of death d
 * is not counted in any point-in-time measure on T > d (open plans, looked
 * after, allocations), nor as a member of any denominator for days after d."
 * The measures counted on T for what the child is on T: their facts end at
 * d + 1 at the latest (counted on T <= d, the day of death included). The
 * window measures count what happened on dates in the window, and an event
 * after d was never folded (after_death, state/fold.c), so they need no cut.
 */
static int point_in_time(int measure) {
  switch (measure) {
  case M_CHILDREN_ON_PLAN:
  case M_PLANS_OPEN:
  case M_PLANS_OPEN_OVER:
  case M_PLACEMENTS3_FYTD:
  case M_PLACEMENTS3_12M:
  case M_CIN_DURATION_OPEN:
  case M_CHILDREN_IN_NEED:
  case M_SEEN_ON_TIME:
  case M_STABILITY_LONG_DEN:
  case M_STABILITY_LONG_NUM:
  case M_PLACEMENT_GROUP:
  case M_DISTANCE_KNOWN:
  case M_DISTANCE_OVER_20:
  case M_DISTANCE_SUM:
  case M_DISTANCE_UNKNOWN:
  case M_CARE_LEAVERS_12M:
  case M_SDQ_COUNT:
  case M_SDQ_SUM:
  case M_CHILDREN_ALLOCATED:
  case M_CP_REVIEWS_DUE:
  case M_CP_REVIEWS_TIMELY:
  case M_LAC_REVIEWS_DUE:
  case M_LAC_REVIEWS_TIMELY:
    return 1;
  default:
    return 0;
  }
}

static void cut_after_death(struct fact_list *l, csc_date death) {
  if (death == DATE_NEVER)
    return;
  size_t m = 0;
  for (size_t i = 0; i < l->n; i++) {
    struct fact f = l->v[i];
    if (point_in_time(f.measure) && f.to > death + 1)
      f.to = death + 1;
    if (f.from < f.to)
      l->v[m++] = f;
  }
  l->n = m;
}

int child_derive(const struct child_state *st, const struct derive_ref *ref, struct arena *a,
                 struct derived *out) {
  struct derive_ref defaults;
  if (ref == NULL) {
    derive_ref_default(&defaults);
    ref = &defaults;
  }
  memset(out, 0, sizeof *out);
  struct fact_list l = {NULL, 0, 0, a};
  size_t most = st->n_referrals + st->n_placements + st->n_care_spans + 1;
  for (int k = 0; k < PLAN_KIND_COUNT; k++)
    most += st->n_plans[k];
  struct interval *tmp = arena_alloc(a, most * sizeof *tmp);
  if (tmp == NULL)
    return CSC_ENOMEM;
  int rc = derive_referrals(st, &l);
  if (rc == CSC_OK)
    rc = derive_plans(st, &l, tmp);
  if (rc == CSC_OK)
    rc = derive_placements(st, &l, a);
  if (rc == CSC_OK)
    rc = derive_activity(st, ref, &l);
  if (rc == CSC_OK)
    rc = derive_plan_outcomes(st, ref, &l);
  if (rc == CSC_OK)
    rc = derive_outcomes(st, ref, &l);
  if (rc == CSC_OK)
    rc = derive_workforce(st, ref, &l);
  if (rc == CSC_OK)
    rc = derive_reviews(st, ref, &l);
  if (rc == CSC_OK)
    rc = derive_missing(st, &l);
  if (rc == CSC_OK)
    cut_after_death(&l, st->details.death);
  for (size_t i = 0; rc == CSC_OK && i < st->n_findings; i++)
    rc = fact_add(&l, M_QUALITY, st->findings[i].rule, 1, ALWAYS_FROM, DATE_NEVER);
  if (rc == CSC_OK)
    rc = derive_alerts(st, a, out);
  if (rc != CSC_OK)
    return rc;
  if (l.n > 1)
    qsort(l.v, l.n, sizeof *l.v, fact_qsort);
  out->facts = l.v;
  out->n_facts = l.n;
  out->findings = st->findings;
  out->n_findings = st->n_findings;
  return CSC_OK;
}
