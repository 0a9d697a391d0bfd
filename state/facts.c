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
    "review_outside_plan", "missing_outside_care"};

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

static int derive_plans(const struct child_state *st, struct fact_list *l, struct interval *tmp) {
  for (int k = 0; k < PLAN_KIND_COUNT; k++) {
    const uint32_t skip = k == PLAN_LAC ? EP_SHORT_BREAKS : 0;
    /* Looked after: the days not under V3/V4, whatever the periods. */
    const size_t nu = k == PLAN_LAC ? episode_union(st->care_spans, st->n_care_spans, 0, tmp)
                                    : episode_union(st->plans[k], st->n_plans[k], 0, tmp);
    for (size_t i = 0; i < nu; i++)
      if (fact_add(l, M_CHILDREN_ON_PLAN, k, 1, tmp[i].from, tmp[i].to))
        return CSC_ENOMEM;
    for (size_t i = 0; i < st->n_plans[k]; i++) {
      const struct episode *p = &st->plans[k][i];
      if (p->flags & skip)
        continue;
      if (fact_add(l, M_PLANS_OPEN, k, 1, p->start, p->end))
        return CSC_ENOMEM;
      for (int t = 0; t < N_THRESHOLDS; t++)
        if (fact_add(l, M_PLANS_OPEN_OVER, k * N_THRESHOLDS + t, 1,
                     date_add_months(p->start, plan_thresholds[t]), p->end))
          return CSC_ENOMEM;
    }
  }
  return CSC_OK;
}

/*
 * placements_3plus: looked after on T with 3 or more placements during the
 * window, where a placement counts when it is open on any day of the window.
 * FYTD: placement p counts for T in its financial year from max(start, 1 April).
 * 12m: p counts while add_months(T, -12) < p.end - 1 (its last open day is in
 * the window), i.e. for T in [p.start, window_12m_end(p.end - 1)).
 */
static int derive_placements(const struct child_state *st, struct fact_list *l,
                             struct arena *a) {
  const size_t n = st->n_placements;
  if (n < 3)
    return CSC_OK;
  struct interval *lac = arena_alloc(a, (st->n_care_spans + 1) * sizeof *lac);
  struct interval *iv = arena_alloc(a, n * sizeof *iv);
  struct interval *regions = arena_alloc(a, n * sizeof *regions);
  csc_date *s1 = arena_alloc(a, n * sizeof *s1), *s2 = arena_alloc(a, n * sizeof *s2);
  if (!lac || !iv || !regions || !s1 || !s2)
    return CSC_ENOMEM;
  const size_t nl = episode_union(st->care_spans, st->n_care_spans, 0, lac);
  if (nl == 0)
    return CSC_OK;

  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    const struct episode *p = &st->placements[i];
    if (p->start >= p->end)
      continue;
    iv[m].from = p->start;
    iv[m].to = p->end == DATE_NEVER ? DATE_NEVER : window_12m_end(p->end - 1);
    m++;
  }
  size_t nr = coverage_at_least(iv, m, 3, regions, s1, s2);
  int rc = add_intersections(l, M_PLACEMENTS3_12M, regions, nr, lac, nl);

  csc_date first = DATE_NEVER, last = 0;
  for (size_t i = 0; i < n; i++) {
    const struct episode *p = &st->placements[i];
    if (p->start < first)
      first = p->start;
    if (p->start > last)
      last = p->start;
    if (p->end != DATE_NEVER && p->end > last)
      last = p->end;
  }
  csc_date fy = date_fy_start(first);
  for (; rc == CSC_OK && fy <= last; fy = date_add_months(fy, 12)) {
    const csc_date fy_end = date_add_months(fy, 12);
    m = 0;
    for (size_t i = 0; i < n; i++) {
      const struct episode *p = &st->placements[i];
      if (p->start < p->end && p->start < fy_end && p->end > fy)
        iv[m++] = (struct interval){p->start > fy ? p->start : fy, fy_end};
    }
    nr = coverage_at_least(iv, m, 3, regions, s1, s2);
    rc = add_intersections(l, M_PLACEMENTS3_FYTD, regions, nr, lac, nl);
  }
  /* After the last start or end every year looks the same: only the open
   * placements reach it, each on every day. Three or more open at once
   * (overlapping periods of care) count in every later year. */
  size_t open = 0;
  for (size_t i = 0; i < n; i++)
    open += st->placements[i].start < DATE_NEVER && st->placements[i].end == DATE_NEVER;
  if (rc == CSC_OK && open >= 3) {
    const struct interval rest = {fy, DATE_NEVER};
    rc = add_intersections(l, M_PLACEMENTS3_FYTD, &rest, 1, lac, nl);
  }
  return rc;
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
        const csc_date due = date_add_months(p->start, plan_thresholds[t]);
        if (due >= p->end)
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

/* Record layout: u32 n_facts, u32 n_alerts, u32 n_findings, then the three
 * arrays as stored in memory (zero padding, native byte order: the store is
 * local to the machine that writes it). */
size_t derived_size(const struct derived *d) {
  return 12 + d->n_facts * sizeof *d->facts + d->n_alerts * sizeof *d->alerts +
         d->n_findings * sizeof *d->findings;
}

void derived_write(const struct derived *d, uint8_t *p) {
  const uint32_t counts[3] = {(uint32_t)d->n_facts, (uint32_t)d->n_alerts,
                              (uint32_t)d->n_findings};
  memcpy(p, counts, 12);
  size_t off = 12;
  if (d->n_facts)
    memcpy(p + off, d->facts, d->n_facts * sizeof *d->facts);
  off += d->n_facts * sizeof *d->facts;
  if (d->n_alerts)
    memcpy(p + off, d->alerts, d->n_alerts * sizeof *d->alerts);
  off += d->n_alerts * sizeof *d->alerts;
  if (d->n_findings)
    memcpy(p + off, d->findings, d->n_findings * sizeof *d->findings);
}

int derived_decode(const uint8_t *buf, size_t len, struct arena *a, struct derived *out) {
  memset(out, 0, sizeof *out);
  uint32_t counts[3];
  if (len < 12)
    return CSC_EINVAL;
  memcpy(counts, buf, 12);
  const size_t sizes[3] = {counts[0] * sizeof *out->facts, counts[1] * sizeof *out->alerts,
                           counts[2] * sizeof *out->findings};
  if (12 + sizes[0] + sizes[1] + sizes[2] != len)
    return CSC_EINVAL;
  void *arrays[3];
  size_t off = 12;
  for (int i = 0; i < 3; i++) {
    arrays[i] = arena_alloc(a, sizes[i] ? sizes[i] : 1);
    if (arrays[i] == NULL)
      return CSC_ENOMEM;
    if (sizes[i])
      memcpy(arrays[i], buf + off, sizes[i]);
    off += sizes[i];
  }
  out->facts = arrays[0];
  out->n_facts = counts[0];
  out->alerts = arrays[1];
  out->n_alerts = counts[1];
  out->findings = arrays[2];
  out->n_findings = counts[2];
  return CSC_OK;
}
