/*
 * Facts of the two review indicators of docs/indicators.md (Plans):
 *
 *   cp_reviews_timely   INDICATORS.md: "of children on a CP plan on T that
 *                       has lasted at least 3 months, % whose reviews were
 *                       all held in time: the first within 3 months of the
 *                       plan's start (the ICPC), each later one within 6
 *                       months of the previous review (Working Together)"
 *   lac_reviews_timely  "of children looked after on T (not V3/V4) for at
 *                       least 20 working days, % whose reviews of the
 *                       current period were all held in time: the first
 *                       within 20 working days of the start, the second
 *                       within 3 months of the first, each later one within
 *                       6 months of the previous (Care Planning Regulations
 *                       2010, reg. 33)"
 *
 * A plan's reviews are the ReviewHeld marks of its kind that name it, or
 * that name no plan and fall on a day of it (start to end, the end date
 * included: state/fold.c, review_outside_plan). A review is in time when it
 * is held on or before its due date; the plan's reviews are "all held in
 * time" on T until the first due date that passes with no review, and never
 * again after (the measure asks whether every review of the plan so far
 * was timely, not whether the latest was):
 *
 *        start        due1          r1     due2 = r1 + 3m (LAC) / 6m (CP)
 *   plan   |-------------|------------|------------|.........
 *          [ not yet due ][ in the denominator from due1 on            )
 *                         [ in time while every due date so far was met )
 *
 * so the plan is in the denominator over [due1, end) and in the numerator
 * over [due1, late), late being the day after the first due date missed.
 * A child counts once: in the denominator on T when some plan of the kind
 * is, in the numerator when none of those is late. For LAC the days are
 * also cut to the care spans (a day under V3/V4 is not looked after).
 */
#include <string.h>

#include "state/facts_internal.h"

/* The ReviewKind of each plan kind's reviews (0: none). */
static uint32_t review_kind_of(int kind) {
  return kind == PLAN_CP    ? CSCFLOW__V1__REVIEW_KIND__REVIEW_KIND_CP
         : kind == PLAN_LAC ? CSCFLOW__V1__REVIEW_KIND__REVIEW_KIND_LAC
                            : 0;
}

static int reviews_plan(const struct mark *r, uint32_t review_kind, const struct episode *p) {
  if (r->value != review_kind || r->date < p->start || (p->end != DATE_NEVER && r->date > p->end))
    return 0;
  return r->id[0] == '\0' || strcmp(r->id, p->id) == 0;
}

/*
 * The first day on which plan p's reviews are no longer all in time, given
 * its first due date: the day after the first due date with no review held
 * on or before it. After the first review the next is due second_months
 * later, each one after that 6 months later. Reviews are in date order
 * (the fold folds by date).
 */
static csc_date first_late_day(const struct child_state *st, int kind, const struct episode *p,
                               csc_date first_due, int second_months) {
  const uint32_t review_kind = review_kind_of(kind);
  csc_date due = first_due;
  int held = 0;
  for (size_t i = 0; i < st->n_reviews; i++) {
    const struct mark *r = &st->reviews[i];
    if (!reviews_plan(r, review_kind, p))
      continue;
    if (r->date > due)
      break;
    due = date_add_months(r->date, held++ == 0 ? second_months : 6);
  }
  return due + 1;
}

/* The 20th working day after the start: reg. 33's "within 20 working days
 * of the date on which C becomes looked after" (with the inclusive
 * convention the start day itself counts as one, as in seen_per_plan). */
static csc_date lac_first_due(const struct derive_ref *ref, csc_date start) {
  int n = 20;
  if (ref->wd != NULL && ref->wd->inclusive && workdays_is_working(ref->wd, start))
    n--;
  return workdays_add(ref->wd, start, n);
}

/*
 * The first day plan p's reviews are no longer all in time, its first review
 * due on first_due. A period of care whose start is unknown
 * (EP_START_UNKNOWN: state/fold.c) had reviews before its first recorded
 * day that no source shows, so its first review seen is not its first: it
 * is due within 6 months of that day (the longest interval reg. 33 allows
 * between two reviews, so a period whose reviews were all in time has one
 * by then), each later one 6 months after the previous. It is in the
 * denominator, as any period, from 20 working days into its known days.
 */
static csc_date late_day(const struct child_state *st, int kind, const struct episode *p,
                         csc_date first_due) {
  if (kind == PLAN_LAC && (p->flags & EP_START_UNKNOWN))
    return first_late_day(st, kind, p, date_add_months(p->start, 6), 6);
  return first_late_day(st, kind, p, first_due, kind == PLAN_CP ? 6 : 3);
}

/* [from, to) cut to the looked-after days of period p (period_spans: its
 * days not under V3/V4), appended to out; spans is scratch of
 * st->n_care_spans. */
static size_t cut_to_care(const struct child_state *st, const struct episode *p, csc_date from,
                          csc_date to, struct interval *spans, struct interval *out, size_t n) {
  const size_t ns = period_spans(st, p, spans);
  for (size_t i = 0; i < ns; i++) {
    const csc_date a = spans[i].from > from ? spans[i].from : from;
    const csc_date b = spans[i].to < to ? spans[i].to : to;
    if (a < b)
      out[n++] = (struct interval){a, b};
  }
  return n;
}

/* Adds measure over each region of a (sorted, disjoint) less the regions of
 * b (sorted, disjoint). */
static int add_difference(struct fact_list *l, int measure, const struct interval *a, size_t na,
                          const struct interval *b, size_t nb) {
  for (size_t i = 0; i < na; i++) {
    csc_date from = a[i].from;
    for (size_t j = 0; j < nb && from < a[i].to; j++) {
      if (b[j].to <= from || b[j].from >= a[i].to)
        continue;
      if (fact_add(l, measure, 0, 1, from, b[j].from))
        return CSC_ENOMEM;
      from = b[j].to;
    }
    if (fact_add(l, measure, 0, 1, from, a[i].to))
      return CSC_ENOMEM;
  }
  return CSC_OK;
}

/* The denominator regions (due) and late regions of one kind's plans, then
 * the child's facts: due, and due less late. */
static int derive_kind(const struct child_state *st, const struct derive_ref *ref, int kind,
                       int m_due, int m_timely, struct fact_list *l) {
  const size_t n = st->n_plans[kind];
  if (n == 0)
    return CSC_OK;
  /* A LAC plan's days can be cut in pieces by the care spans. */
  const size_t cap = kind == PLAN_LAC ? n + st->n_care_spans : n;
  struct interval *due = arena_alloc(l->a, cap * sizeof *due);
  struct interval *late = arena_alloc(l->a, cap * sizeof *late);
  struct interval *spans = arena_alloc(l->a, (st->n_care_spans + 1) * sizeof *spans);
  if (due == NULL || late == NULL || spans == NULL)
    return CSC_ENOMEM;
  size_t nd = 0, nl = 0;
  for (size_t i = 0; i < n; i++) {
    const struct episode *p = &st->plans[kind][i];
    const csc_date first_due =
        kind == PLAN_CP ? date_add_months(p->start, 3) : lac_first_due(ref, p->start);
    if (first_due >= p->end)
      continue; /* ended before any review fell due */
    const csc_date late_from = late_day(st, kind, p, first_due);
    if (kind == PLAN_LAC) {
      nd = cut_to_care(st, p, first_due, p->end, spans, due, nd);
      nl = cut_to_care(st, p, late_from, p->end, spans, late, nl);
    } else {
      due[nd++] = (struct interval){first_due, p->end};
      if (late_from < p->end)
        late[nl++] = (struct interval){late_from, p->end};
    }
  }
  nd = merge_intervals(due, nd);
  nl = merge_intervals(late, nl);
  for (size_t i = 0; i < nd; i++)
    if (fact_add(l, m_due, 0, 1, due[i].from, due[i].to))
      return CSC_ENOMEM;
  return add_difference(l, m_timely, due, nd, late, nl);
}

int derive_reviews(const struct child_state *st, const struct derive_ref *ref,
                   struct fact_list *l) {
  int rc = derive_kind(st, ref, PLAN_CP, M_CP_REVIEWS_DUE, M_CP_REVIEWS_TIMELY, l);
  if (rc == CSC_OK)
    rc = derive_kind(st, ref, PLAN_LAC, M_LAC_REVIEWS_DUE, M_LAC_REVIEWS_TIMELY, l);
  return rc;
}
