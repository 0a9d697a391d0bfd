/*
 * facts_internal.h — what the files of state/facts*.c share: the fact list
 * they append to, window arithmetic and interval helpers, and one derive
 * function per group of the catalogue (docs/indicators.md). Private to
 * state/.
 */
#ifndef CSCFLOW_FACTS_INTERNAL_H
#define CSCFLOW_FACTS_INTERNAL_H

#include "state/state.h"

struct fact_list {
  struct fact *v;
  size_t n, cap;
  struct arena *a;
};

/* The facts of a stored derived record read in place, one at a time
 * (state/derived.c), without decoding the rest: derived_facts_begin (CSC_OK,
 * CSC_EINVAL for a malformed record), then derived_facts_next until it
 * returns 0 (no more); 1 with *f set; CSC_EINVAL when malformed. */
struct derived_facts {
  const uint8_t *buf;
  size_t len, pos, left;
  struct fact prev;
};
int derived_facts_begin(struct derived_facts *it, const uint8_t *buf, size_t len);
int derived_facts_next(struct derived_facts *it, struct fact *f);

/* Appends (measure, bucket, weight, [from, to)); nothing when from >= to or
 * weight is 0. CSC_ENOMEM. */
int fact_add(struct fact_list *l, int measure, int bucket, int32_t weight, csc_date from,
             csc_date to);

/* The first as-of date T past the `months` window of an event on d: the
 * event is in the window of every T in [d, window_end(d, months)), i.e.
 * add_months(T, -months) < d <= T. DATE_NEVER for DATE_NEVER. */
csc_date window_end(csc_date d, int months);

struct interval {
  csc_date from, to;
};

/* The union of the episodes' [start, end) (skipping those with any of
 * skip_flags), sorted and disjoint, into out (capacity n). Returns the count. */
size_t episode_union(const struct episode *eps, size_t n, uint32_t skip_flags,
                     struct interval *out);

/* Sorts iv (by start, then end), drops empty intervals and merges what
 * overlaps or touches, in place; returns the new count. */
size_t merge_intervals(struct interval *iv, size_t n);

/* The regions covered by at least k of the n intervals, into out (capacity
 * n), using two scratch arrays of n dates. Returns the count. */
size_t coverage_at_least(const struct interval *iv, size_t n, int k, struct interval *out,
                         csc_date *scratch_from, csc_date *scratch_to);

/* Adds a fact (weight 1, bucket 0) for each intersection of regions with
 * the looked-after spans lac. */
int add_intersections(struct fact_list *l, int measure, const struct interval *regions, size_t nr,
                      const struct interval *lac, size_t nl);

/* The foster placement that placement p (an index into st->placements)
 * continues when p is the child's placement for adoption with their foster
 * carer (INDICATORS.md, "Same carer"; state/facts.c); SIZE_MAX otherwise. */
size_t same_carer_continues(const struct child_state *st, size_t p);

/*
 * INDICATORS.md, Conventions, "Exclusions": "a day is looked after when its
 * status is not V3/V4; an entry counts when the status at entry is not
 * V3/V4; an exit when the status on the last day is not V3/V4." The care
 * spans hold exactly the looked-after days of each period, so:
 *   period_looked_after_on  d is a day of the period not under V3/V4;
 *   is_lac_entry            its first day is (a period that lasts no day
 *                           has no entry: it was looked after on no day),
 *                           and its start is known: a period whose start
 *                           is unknown (EP_START_UNKNOWN, state/fold.c)
 *                           began before its first recorded day, so that
 *                           day is no entry to care;
 *   span_start_unknown      care span `span` begins on the unknown start of
 *                           its period (the day measured from is not the
 *                           day the child became looked after);
 *   is_lac_exit             it has ended and its last day (end - 1) is;
 *   period_spans            the period's looked-after days, sorted and
 *                           disjoint, into out (capacity st->n_care_spans);
 *                           returns the count.
 */
int period_looked_after_on(const struct child_state *st, const struct episode *period,
                           csc_date d);
int is_lac_entry(const struct child_state *st, const struct episode *period);
int span_start_unknown(const struct child_state *st, const struct episode *span);
int is_lac_exit(const struct child_state *st, const struct episode *period);
size_t period_spans(const struct child_state *st, const struct episode *period,
                    struct interval *out);

/* One per group of docs/indicators.md. Each appends its facts to l. */
int derive_activity(const struct child_state *st, const struct derive_ref *ref,
                    struct fact_list *l);
int derive_plan_outcomes(const struct child_state *st, const struct derive_ref *ref,
                         struct fact_list *l);
int derive_outcomes(const struct child_state *st, const struct derive_ref *ref,
                    struct fact_list *l);
int derive_workforce(const struct child_state *st, const struct derive_ref *ref,
                     struct fact_list *l);
int derive_reviews(const struct child_state *st, const struct derive_ref *ref,
                   struct fact_list *l);
int derive_missing(const struct child_state *st, struct fact_list *l);

#endif
