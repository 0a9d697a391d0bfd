/*
 * Facts of the Activity and Timeliness groups of docs/indicators.md (and
 * the choices beyond it in docs/indicators.md).
 *
 * Everything here counts an event "in the 12m window": an event on d adds
 * to every as-of date T in [d, window_end(d, 12)). The one exception is
 * cin_episode_duration on T, which counts open episodes, band by band.
 */
#include <string.h>

#include "state/facts_internal.h"

/* Assessment outcome "no further action" (AssessmentOutcome in events.proto). */
#define ASSESSMENT_NFA ((uint32_t)CSCFLOW__V1__ASSESSMENT_OUTCOME__ASSESSMENT_OUTCOME_NFA)

/* The months after which an open CIN episode moves to the next duration
 * band: <3m, 3-6m, 6-12m, 1-2y, then 2y+. */
static const int duration_months[DUR_COUNT - 1] = {3, 6, 12, 24};

/* nfa_reassessed: the look-forward windows of buckets 0 and 1. */
static const int reassessed_months[2] = {6, 12};

static csc_date min_date(csc_date a, csc_date b) { return a < b ? a : b; }

/* One event on d, counted in the 12m window of every T in [d, d + 12m). */
static int add_12m(struct fact_list *l, int measure, int bucket, csc_date d) {
  return fact_add(l, measure, bucket, 1, d, window_end(d, 12));
}

static int is_completed(const struct episode *e) { return e->end != DATE_NEVER; }

/* ---- referrals by source ------------------------------------------------------ */

/* Keyed by the source itself (code_bucket): the catalogue names the rows
 * from the code lists, so a list change moves no stored count. Unrecorded
 * sources fall in CODE_BUCKET_OTHER. */
static int derive_sources(const struct child_state *st, struct fact_list *l) {
  for (size_t i = 0; i < st->n_referrals; i++) {
    const struct episode *r = &st->referrals[i];
    const int bucket = code_bucket(r->code);
    if (add_12m(l, M_REFERRALS_BY_SOURCE_12M, bucket, r->start))
      return CSC_ENOMEM;
  }
  return CSC_OK;
}

/* ---- referral outcome ----------------------------------------------------------- */

/* The outcome a stage of each plan kind gives; the enum's order is the
 * precedence EH < CIN < CP < LAC. */
static const int stage_outcome[PLAN_KIND_COUNT] = {
    [PLAN_EH] = OUT_EH, [PLAN_CIN] = OUT_CIN, [PLAN_CP] = OUT_CP, [PLAN_LAC] = OUT_LAC};

/* The day plan p of kind k becomes a stage: its start; for a period of
 * care its first looked-after day (INDICATORS.md, "Exclusions": "a day is
 * looked after when its status is not V3/V4"), DATE_NEVER for a period
 * under V3/V4 throughout, or whose first looked-after day is its unknown
 * start (the child entered care on an earlier, unknown day: no referral can
 * be said to have led to it). The care spans of a period are in date
 * order. */
static csc_date stage_start(const struct child_state *st, int k, const struct episode *p) {
  if (k != PLAN_LAC)
    return p->start;
  const uint32_t index = (uint32_t)(p - st->plans[PLAN_LAC]);
  for (size_t i = 0; i < st->n_care_spans; i++)
    if (st->care_spans[i].value == index)
      return span_start_unknown(st, &st->care_spans[i]) ? DATE_NEVER : st->care_spans[i].start;
  return DATE_NEVER;
}

/* The earliest stage of kind k starting in [s, e] (e inclusive: a stage
 * starting on the closure date still belongs to the episode: the
 * catalogue's referral_outcome row); DATE_NEVER when none. */
static csc_date first_stage(const struct child_state *st, int k, csc_date s, csc_date e) {
  csc_date first = DATE_NEVER;
  for (size_t i = 0; i < st->n_plans[k]; i++) {
    const csc_date d = stage_start(st, k, &st->plans[k][i]);
    if (d >= s && d <= e && d < first)
      first = d;
  }
  return first;
}

/* The furthest stage reached on T of an episode closed on e (DATE_NEVER
 * while open) whose stages of each kind start on first[kind]. */
static int outcome_on(const csc_date first[PLAN_KIND_COUNT], csc_date e, csc_date t) {
  for (int k = PLAN_KIND_COUNT; k-- > 0;)
    if (first[k] <= t)
      return stage_outcome[k];
  return t >= e ? OUT_NFA : OUT_PENDING;
}

static void sort_dates(csc_date *v, size_t n) {
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
      const csc_date t = v[j];
      v[j] = v[j - 1];
      v[j - 1] = t;
    }
}

/*
 * One fact per stretch of the referral's window over which its outcome is
 * the same: the outcome only changes on a stage's first start or on the
 * closure (pending -> NFA), so those dates cut [s, window_end(s, 12)).
 */
static int derive_outcome(const struct child_state *st, const struct episode *r,
                          struct fact_list *l) {
  const csc_date s = r->start, e = r->end, window = window_end(s, 12);
  csc_date first[PLAN_KIND_COUNT], cuts[PLAN_KIND_COUNT + 1];
  size_t n = 0;
  for (int k = 0; k < PLAN_KIND_COUNT; k++)
    if ((first[k] = first_stage(st, k, s, e)) != DATE_NEVER)
      cuts[n++] = first[k];
  if (e != DATE_NEVER)
    cuts[n++] = e;
  sort_dates(cuts, n);
  csc_date from = s;
  int current = outcome_on(first, e, s);
  for (size_t i = 0; i < n && cuts[i] < window; i++) {
    const int next = outcome_on(first, e, cuts[i]);
    if (cuts[i] <= from || next == current)
      continue;
    if (fact_add(l, M_REFERRAL_OUTCOME_12M, current, 1, from, cuts[i]))
      return CSC_ENOMEM;
    from = cuts[i];
    current = next;
  }
  return fact_add(l, M_REFERRAL_OUTCOME_12M, current, 1, from, window);
}

static int derive_outcomes_of_referrals(const struct child_state *st, struct fact_list *l) {
  for (size_t i = 0; i < st->n_referrals; i++)
    if (derive_outcome(st, &st->referrals[i], l))
      return CSC_ENOMEM;
  return CSC_OK;
}

/* ---- assessments ---------------------------------------------------------------- */

/* Factor f of a (index i) is counted once per assessment, however often it
 * is recorded; "" is no factor. Keyed by the code (code_bucket): every code
 * too long to pack shares CODE_BUCKET_OTHER, and counts once there. */
static int factor_seen_before(const struct episode *a, size_t i, uint16_t bucket) {
  for (size_t j = 0; j < i; j++)
    if (a->factors[j] != NULL && a->factors[j][0] != '\0' && code_bucket(a->factors[j]) == bucket)
      return 1;
  return 0;
}

static int derive_factors(const struct episode *a, struct fact_list *l) {
  for (size_t i = 0; i < a->n_factors; i++) {
    if (a->factors[i] == NULL || a->factors[i][0] == '\0')
      continue;
    const uint16_t bucket = code_bucket(a->factors[i]);
    if (!factor_seen_before(a, i, bucket) &&
        add_12m(l, M_ASSESSMENT_FACTORS_12M, (int)bucket, a->end))
      return CSC_ENOMEM;
  }
  return CSC_OK;
}

/* The earliest start of another assessment dated after c (one recorded
 * only by its completion starts, as the fold keeps it, on that date);
 * DATE_NEVER when none. */
static csc_date next_start(const struct child_state *st, const struct episode *a) {
  csc_date next = DATE_NEVER;
  for (size_t i = 0; i < st->n_assessments; i++) {
    const struct episode *o = &st->assessments[i];
    if (o != a && o->start > a->end && o->start < next)
      next = o->start;
  }
  return next;
}

/*
 * nfa_reassessed: the NFA completion on c is in the denominator over its
 * 12m window; it joins the numerator of n months on the date s2 the next
 * assessment started when s2 <= add_months(c, n) (provisional: only once s2
 * has happened), until it leaves the window.
 */
static int derive_nfa(const struct child_state *st, const struct episode *a,
                      struct fact_list *l) {
  const csc_date c = a->end, window = window_end(c, 12), next = next_start(st, a);
  if (add_12m(l, M_NFA_ASSESSMENTS_12M, 0, c))
    return CSC_ENOMEM;
  for (int b = 0; b < 2; b++)
    if (next <= date_add_months(c, reassessed_months[b]) &&
        fact_add(l, M_NFA_REASSESSED_12M, b, 1, next, window))
      return CSC_ENOMEM;
  return CSC_OK;
}

/*
 * The episode an assessment or an ICPC belongs to: the one its id names,
 * else the latest with a recorded start on or before the date. Of several
 * episodes with the id, the latest started on or before the date (else the
 * first). A named episode that starts after the date is still used: the
 * span is then 0 working days, as wd(a, b) is for b <= a. A named enquiry
 * known only by its completion has no start date: the ICPC is left out,
 * rather than timed from another enquiry's start.
 */
static const struct episode *owner_of(const struct episode *eps, size_t n, const char *id,
                                      csc_date date) {
  const struct episode *named = NULL, *latest = NULL;
  for (size_t i = 0; i < n; i++) {
    const struct episode *e = &eps[i];
    const int before = e->start <= date;
    if (id[0] != '\0' && strcmp(e->id, id) == 0 && (named == NULL || before))
      named = e;
    if (before && !(e->flags & EP_NO_START) && (latest == NULL || e->start >= latest->start))
      latest = e;
  }
  if (named != NULL)
    return named->flags & EP_NO_START ? NULL : named;
  return latest;
}

static int wd_bucket(const struct derive_ref *ref, csc_date from, csc_date to) {
  const int wd = workdays_between(ref->wd, from, to);
  return wd < DIST_MAX ? wd : DIST_MAX;
}

/* referral_to_assessment_wd: wd(referral, completion), in the 12m window
 * of the completion. */
static int derive_assessment_time(const struct child_state *st, const struct derive_ref *ref,
                                  const struct episode *a, struct fact_list *l) {
  /* INDICATORS.md, Completions: "a completion dated before its start counts
   * as completed but is left out of timeliness". */
  if (a->flags & EP_END_BEFORE_START)
    return CSC_OK;
  const struct episode *r = owner_of(st->referrals, st->n_referrals, a->ref, a->end);
  if (r == NULL)
    return CSC_OK;
  return add_12m(l, M_REFERRAL_TO_ASSESSMENT_WD, wd_bucket(ref, r->start, a->end), a->end);
}

static int derive_assessments(const struct child_state *st, const struct derive_ref *ref,
                              struct fact_list *l) {
  for (size_t i = 0; i < st->n_assessments; i++) {
    const struct episode *a = &st->assessments[i];
    if (!is_completed(a))
      continue;
    if (add_12m(l, M_ASSESSMENTS_12M, 0, a->end) || derive_factors(a, l) ||
        (a->value == ASSESSMENT_NFA && derive_nfa(st, a, l)) ||
        derive_assessment_time(st, ref, a, l))
      return CSC_ENOMEM;
  }
  return CSC_OK;
}

/* ---- Section 47 enquiries, ICPCs, CP plan starts -------------------------------- */

/* An enquiry recorded only by its completion starts, for the count, on
 * that date (the fold gives it start = completion). */
static int derive_enquiries(const struct child_state *st, struct fact_list *l) {
  for (size_t i = 0; i < st->n_enquiries; i++)
    if (add_12m(l, M_S47_12M, 0, st->enquiries[i].start))
      return CSC_ENOMEM;
  return CSC_OK;
}

/* icpcs and s47_to_icpc_wd, both in the 12m window of the ICPC. */
static int derive_icpcs(const struct child_state *st, const struct derive_ref *ref,
                        struct fact_list *l) {
  for (size_t i = 0; i < st->n_icpcs; i++) {
    const struct mark *m = &st->icpcs[i];
    if (add_12m(l, M_ICPCS_12M, 0, m->date))
      return CSC_ENOMEM;
    const struct episode *q = owner_of(st->enquiries, st->n_enquiries, m->id, m->date);
    if (q != NULL && add_12m(l, M_S47_TO_ICPC_WD, wd_bucket(ref, q->start, m->date), m->date))
      return CSC_ENOMEM;
  }
  return CSC_OK;
}

/* Bucket per initial category as the catalogue spells it (the fold keeps
 * it so: NEG is N), keyed by the code (code_bucket), and CODE_BUCKET_ALL
 * for all plans: the total row. */
static int derive_cp_starts(const struct child_state *st, struct fact_list *l) {
  const int all = CODE_BUCKET_ALL;
  for (size_t i = 0; i < st->n_plans[PLAN_CP]; i++) {
    const struct episode *p = &st->plans[PLAN_CP][i];
    const int bucket = code_bucket(p->code);
    if (add_12m(l, M_CP_STARTS_12M, bucket, p->start) || add_12m(l, M_CP_STARTS_12M, all, p->start))
      return CSC_ENOMEM;
  }
  return CSC_OK;
}

/* ---- CIN episode duration ------------------------------------------------------- */

/* The band of an episode that started on s, on day t: the first whose
 * limit add_months(s, n) is still ahead. */
static int duration_band(csc_date s, csc_date t) {
  for (int b = 0; b < DUR_COUNT - 1; b++)
    if (t < date_add_months(s, duration_months[b]))
      return b;
  return DUR_2Y_PLUS;
}

/* Open on T: band b from add_months(s, previous limit) to add_months(s,
 * its limit), cut at the closure. Closed: the band of the closure date, in
 * the 12m window of the closure. */
static int derive_duration(const struct episode *r, struct fact_list *l) {
  csc_date from = r->start;
  for (int b = 0; b < DUR_COUNT && from < r->end; b++) {
    const csc_date to =
        b < DUR_COUNT - 1 ? date_add_months(r->start, duration_months[b]) : DATE_NEVER;
    if (fact_add(l, M_CIN_DURATION_OPEN, b, 1, from, min_date(to, r->end)))
      return CSC_ENOMEM;
    from = to;
  }
  if (r->end == DATE_NEVER)
    return CSC_OK;
  return add_12m(l, M_CIN_DURATION_CLOSED_12M, duration_band(r->start, r->end), r->end);
}

static int derive_durations(const struct child_state *st, struct fact_list *l) {
  for (size_t i = 0; i < st->n_referrals; i++)
    if (derive_duration(&st->referrals[i], l))
      return CSC_ENOMEM;
  return CSC_OK;
}

int derive_activity(const struct child_state *st, const struct derive_ref *ref,
                    struct fact_list *l) {
  if (derive_sources(st, l) || derive_outcomes_of_referrals(st, l) ||
      derive_assessments(st, ref, l) || derive_enquiries(st, l) || derive_icpcs(st, ref, l) ||
      derive_cp_starts(st, l) || derive_durations(st, l))
    return CSC_ENOMEM;
  return CSC_OK;
}
