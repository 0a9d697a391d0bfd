/*
 * Facts of the plans group of docs/indicators.md (children_on_plan and
 * open_plans_over are in state/facts.c): children_in_need, ended_plans_over,
 * repeat_plan, seen_per_plan and cin_closed_after_step_down. Decisions
 * beyond the spec are in docs/indicators.md.
 *
 * A "plan" of kind LAC is a period of care that is not short breaks
 * (EP_SHORT_BREAKS), as for open_plans_over, so that every numerator here
 * is a subset of its denominator. Within it, INDICATORS.md, Conventions,
 * "Exclusions" decides by the legal status: "a day is looked after when
 * its status is not V3/V4; an entry counts when the status at entry is not
 * V3/V4; an exit when the status on the last day is not V3/V4". So a LAC
 * plan counts as started (repeat_plan) when is_lac_entry, as ended
 * (ended_plans_over, cin_closed_after_step_down) when is_lac_exit, and as
 * open (seen_per_plan, as M_PLANS_OPEN in state/facts.c) on its
 * looked-after days only.
 */
#include "state/facts_internal.h"

/* Ratio windows of ended and started plans: 12m and FYTD. */
enum { WIN_12M, WIN_FYTD, N_WINDOWS };

/* Buckets of M_REPEAT_PLAN_*: plan_kind * 3 + one of these. */
enum { REPEAT_12M, REPEAT_24M, REPEAT_EVER, N_REPEAT };
static const int repeat_months[REPEAT_EVER] = {12, 24};

static int is_plan(int kind, const struct episode *p) {
  return !(kind == PLAN_LAC && (p->flags & EP_SHORT_BREAKS));
}

/* The first as-of date past the window of an event on d. */
static csc_date window_close(int win, csc_date d) {
  return win == WIN_12M ? window_end(d, 12) : date_fy_end(d);
}

/* Whether plan p's start (end) counts as a start (an end) of a plan. */
static int counts_started(const struct child_state *st, int kind, const struct episode *p) {
  return kind != PLAN_LAC || is_lac_entry(st, p);
}

static int counts_ended(const struct child_state *st, int kind, const struct episode *p) {
  return p->end != DATE_NEVER && (kind != PLAN_LAC || is_lac_exit(st, p));
}

/* children_in_need: one per child on every day some CIN episode is open
 * (the union, so that an episode opened the day the last one closed does
 * not count the child twice or leave a fragment). */
static int derive_children_in_need(const struct child_state *st, struct fact_list *l) {
  if (st->n_referrals == 0)
    return CSC_OK;
  struct interval *iv = arena_alloc(l->a, st->n_referrals * sizeof *iv);
  if (iv == NULL)
    return CSC_ENOMEM;
  const size_t n = episode_union(st->referrals, st->n_referrals, 0, iv);
  int rc = CSC_OK;
  for (size_t i = 0; rc == CSC_OK && i < n; i++)
    rc = fact_add(l, M_CHILDREN_IN_NEED, 0, 1, iv[i].from, iv[i].to);
  return rc;
}

/* ended_plans_over: the plan ended on e counts in the windows holding e;
 * over n months when it was still open on start + n months (e > s + n). */
static int derive_ended(int kind, const struct episode *p, struct fact_list *l) {
  static const int den[N_WINDOWS] = {M_PLANS_ENDED_12M, M_PLANS_ENDED_FYTD};
  static const int num[N_WINDOWS] = {M_PLANS_ENDED_OVER_12M, M_PLANS_ENDED_OVER_FYTD};
  const csc_date e = p->end;
  if (e == DATE_NEVER)
    return CSC_OK;
  for (int w = 0; w < N_WINDOWS; w++) {
    const csc_date to = window_close(w, e);
    if (fact_add(l, den[w], kind, 1, e, to))
      return CSC_ENOMEM;
    for (int t = 0; t < N_THRESHOLDS; t++)
      if (e > date_add_months(p->start, plan_thresholds[t]) &&
          fact_add(l, num[w], kind * N_THRESHOLDS + t, 1, e, to))
        return CSC_ENOMEM;
  }
  return CSC_OK;
}

/*
 * What the child's earlier plans of the kind say about plans[i] (started
 * on s): *open_on_s when another plan of the kind is open on s (starts on
 * or before s and ends after it: overlapping_plan, a data-quality finding),
 * *last_end the latest end of the plans started before s (DATE_NEVER when
 * one of them has not ended; 0 when there is none). Short-breaks periods
 * are not LAC plans and take no part.
 */
static void earlier_plans(int kind, const struct episode *plans, size_t n, size_t i,
                          int *open_on_s, csc_date *last_end, int *any) {
  const csc_date s = plans[i].start;
  *open_on_s = *any = 0;
  *last_end = 0;
  for (size_t j = 0; j < n; j++) {
    const struct episode *q = &plans[j];
    if (j == i || !is_plan(kind, q) || q->start > s)
      continue;
    if (s < q->end)
      *open_on_s = 1;
    if (q->start < s && (!*any || q->end > *last_end)) {
      *last_end = q->end;
      *any = 1;
    }
  }
}

/*
 * Whether the record of CP plan p says the child had a CP plan before it
 * (CIN census NumberOfPreviousCPP, recorded and at least 1). A first import
 * of a census year holds only that year's plans, so the count can know
 * plans the history does not. It carries no dates: it decides `ever` only.
 * A count of 0 never overrides an earlier plan the history holds.
 */
static int record_says_previous_cp(int kind, const struct episode *p) {
  return kind == PLAN_CP && (p->flags & EP_PREVIOUS_RECORDED) && p->value >= 1;
}

/*
 * repeat_plan (INDICATORS.md: "the child's previous plan of the same kind
 * ended within 12 / 24 months before the start (a plan that starts while
 * another of its kind is still open is a data-quality finding, not a repeat
 * within 12 / 24 months)"): plans[i] counts as started in the windows
 * holding its start s; as a repeat within n months when no other plan of
 * the kind is open on s and the previous plan (of those started before s,
 * the one that ended last) ended on or after s - n months; and as `ever`
 * when any plan of the kind started before s, overlapping or not, or when
 * the CP plan's record counts a previous plan (record_says_previous_cp).
 */
static int derive_started(int kind, const struct episode *plans, size_t n, size_t i,
                          struct fact_list *l) {
  static const int den[N_WINDOWS] = {M_PLANS_STARTED_12M, M_PLANS_STARTED_FYTD};
  static const int num[N_WINDOWS] = {M_REPEAT_PLAN_12M, M_REPEAT_PLAN_FYTD};
  const csc_date s = plans[i].start;
  int open_on_s, any;
  csc_date last_end;
  earlier_plans(kind, plans, n, i, &open_on_s, &last_end, &any);
  int repeat[N_REPEAT] = {0, 0, any || record_says_previous_cp(kind, &plans[i])};
  for (int r = 0; any && !open_on_s && r < REPEAT_EVER; r++)
    repeat[r] = last_end >= date_add_months(s, -repeat_months[r]);
  for (int w = 0; w < N_WINDOWS; w++) {
    const csc_date to = window_close(w, s);
    if (fact_add(l, den[w], kind, 1, s, to))
      return CSC_ENOMEM;
    for (int r = 0; r < N_REPEAT; r++)
      if (repeat[r] && fact_add(l, num[w], kind * N_REPEAT + r, 1, s, to))
        return CSC_ENOMEM;
  }
  return CSC_OK;
}

/*
 * The first as-of date on which the gap from `last` (the plan start or a
 * visit) to T is too long: CIN, CP: the first T with wd(last, T) >
 * interval; LAC: T - last > interval. With the inclusive working-day
 * convention wd counts `last` itself when it is a working day, so one
 * working day fewer remains after it.
 */
static csc_date visit_due_by(const struct derive_ref *ref, int kind, csc_date last) {
  const int interval = ref->visit_interval[kind];
  if (kind == PLAN_LAC)
    return last + interval + 1;
  int n = interval + 1;
  if (ref->wd != NULL && ref->wd->inclusive && workdays_is_working(ref->wd, last))
    n--;
  return n > 0 ? workdays_add(ref->wd, last, n) : last;
}

/* A day visit_due_by(ref, kind, last) is never before, found without
 * counting working days: n working days after `last` are at least n
 * calendar days after it. Most visits come well within the interval, so
 * first_missed_visit counts working days only for the few that may not
 * (a child with thousands of visits re-derived each event: issue 17). */
static csc_date visit_due_no_sooner_than(const struct derive_ref *ref, int kind, csc_date last) {
  const int interval = ref->visit_interval[kind];
  if (kind == PLAN_LAC)
    return last + interval + 1;
  const int n = ref->wd != NULL && ref->wd->inclusive ? interval : interval + 1;
  return n > 0 ? last + n : last;
}

/* The first as-of date on which plan p has had a gap too long between its
 * start, the child's visits (any plan id) and T. Visits are folded in date
 * order, so the list is sorted. */
static csc_date first_missed_visit(const struct child_state *st, const struct derive_ref *ref,
                                   int kind, const struct episode *p) {
  csc_date last = p->start;
  for (size_t i = 0; i < st->n_visits; i++) {
    const csc_date v = st->visits[i].date;
    if (v < p->start)
      continue;
    if (v >= p->end)
      break;
    if (v < visit_due_no_sooner_than(ref, kind, last)) {
      last = v;
      continue;
    }
    const csc_date due = visit_due_by(ref, kind, last);
    if (v >= due)
      return due;
    last = v;
  }
  return visit_due_by(ref, kind, last);
}

/* seen_per_plan: the plan counts on time from its start until the first
 * missed visit or its end. */
static int derive_seen(const struct child_state *st, const struct derive_ref *ref, int kind,
                       const struct episode *p, struct fact_list *l) {
  const csc_date missed = first_missed_visit(st, ref, kind, p);
  return fact_add(l, M_SEEN_ON_TIME, kind, 1, p->start, missed < p->end ? missed : p->end);
}

/*
 * seen_per_plan of a LAC plan: each run of its looked-after days is timed
 * as a plan of its own, the clock starting on the run's first day. The
 * catalogue is silent on a period that changes to or from V3/V4; the
 * 6-weekly visits are due while the child is looked after, and days under
 * short breaks have their own visiting rules (docs/indicators.md), so a gap
 * in them neither counts against the plan nor carries over.
 */
static int derive_seen_lac(const struct child_state *st, const struct derive_ref *ref,
                           const struct episode *period, struct fact_list *l) {
  const uint32_t index = (uint32_t)(period - st->plans[PLAN_LAC]);
  for (size_t i = 0; i < st->n_care_spans; i++) {
    const struct episode *span = &st->care_spans[i];
    if (span->value == index && derive_seen(st, ref, PLAN_LAC, span, l))
      return CSC_ENOMEM;
  }
  return CSC_OK;
}

/* The child's CIN episode at a step-down on d: the one closed on d (the
 * case closed with the plan) if any, else the one open on d (s <= d < e),
 * which includes one opened on d; NULL when none. Episodes never overlap
 * (referral_while_open), so at most one of each. */
static const struct episode *cin_episode_at_end(const struct child_state *st, csc_date d) {
  const struct episode *open = NULL;
  for (size_t i = 0; i < st->n_referrals; i++) {
    const struct episode *r = &st->referrals[i];
    if (r->start <= d && r->end == d)
      return r;
    if (r->start <= d && d < r->end)
      open = r;
  }
  return open;
}

/* cin_closed_after_step_down: a CP plan or period of care ended on e is in
 * the 12m window from e; in the numerator from the day its CIN episode
 * closed, when that is on or before e + 6 months, e itself included
 * (provisional: only what has closed by T counts). */
static int derive_step_down(const struct child_state *st, int kind, const struct episode *p,
                            struct fact_list *l) {
  const int bucket = kind == PLAN_CP ? 0 : 1;
  const csc_date e = p->end;
  if (!counts_ended(st, kind, p))
    return CSC_OK;
  const csc_date to = window_end(e, 12);
  if (fact_add(l, M_STEP_DOWN_ENDS_12M, bucket, 1, e, to))
    return CSC_ENOMEM;
  const struct episode *cin = cin_episode_at_end(st, e);
  if (cin == NULL || cin->end > date_add_months(e, 6))
    return CSC_OK;
  return fact_add(l, M_STEP_DOWN_CLOSED_12M, bucket, 1, cin->end, to);
}

static int derive_plan(const struct child_state *st, const struct derive_ref *ref, int kind,
                       size_t i, struct fact_list *l) {
  const struct episode *p = &st->plans[kind][i];
  int rc = counts_ended(st, kind, p) ? derive_ended(kind, p, l) : CSC_OK;
  if (rc == CSC_OK && counts_started(st, kind, p))
    rc = derive_started(kind, st->plans[kind], st->n_plans[kind], i, l);
  if (rc == CSC_OK && kind == PLAN_LAC)
    rc = derive_seen_lac(st, ref, p, l);
  else if (rc == CSC_OK && kind != PLAN_EH)
    rc = derive_seen(st, ref, kind, p, l);
  if (rc == CSC_OK && (kind == PLAN_CP || kind == PLAN_LAC))
    rc = derive_step_down(st, kind, p, l);
  return rc;
}

int derive_plan_outcomes(const struct child_state *st, const struct derive_ref *ref,
                         struct fact_list *l) {
  int rc = derive_children_in_need(st, l);
  for (int k = 0; rc == CSC_OK && k < PLAN_KIND_COUNT; k++)
    for (size_t i = 0; rc == CSC_OK && i < st->n_plans[k]; i++)
      if (is_plan(k, &st->plans[k][i]))
        rc = derive_plan(st, ref, k, i, l);
  return rc;
}
