/*
 * Facts of missing_from_care (docs/indicators.md, Outcomes). INDICATORS.md:
 * "children looked after in the window (not V3/V4) who had at least one
 * missing episode, count and % of children looked after in the window;
 * incidents, and incidents per child who went missing", 12m and FYTD, by
 * missing / away without authorisation.
 *
 * An incident is a missing episode (MissingStarted) that starts on a day
 * the child is looked after (a care span: not under V3/V4); one that starts
 * outside care is the finding missing_outside_care and counts here in
 * nothing. An episode of no recorded kind counts as missing: the 903 has
 * only the two, and DfE notes that many LAs record every incident as
 * missing. Each incident counts in the windows holding its start; the child
 * counts once per kind, on every T whose window holds one of its incidents.
 *
 * The FYTD denominator, looked after on some day from 1 April of T's
 * financial year to T, is M_LAC_IN_FYTD; the 12m one is M_LAC_IN_12M
 * (state/facts_outcomes.c). A stretch of care [a, b) has a day in the FYTD
 * of every T in [a, date_fy_end(b - 1)). Both stop at a date of death: "not
 * ... a member of any denominator for days after d" (INDICATORS.md).
 */

#include "state/facts_internal.h"

enum { KIND_MISSING, KIND_AWAY, N_KINDS };

static int bucket_of(uint32_t kind) {
  return kind == CSCFLOW__V1__MISSING_KIND__MISSING_KIND_AWAY ? KIND_AWAY : KIND_MISSING;
}

static int looked_after_on(const struct child_state *st, csc_date d) {
  for (size_t i = 0; i < st->n_care_spans; i++)
    if (st->care_spans[i].start <= d && d < st->care_spans[i].end)
      return 1;
  return 0;
}

/* Merges iv and adds measure over each region (one per child). */
static int add_union(struct fact_list *l, int measure, int bucket, struct interval *iv, size_t n) {
  n = merge_intervals(iv, n);
  for (size_t i = 0; i < n; i++)
    if (fact_add(l, measure, bucket, 1, iv[i].from, iv[i].to))
      return CSC_ENOMEM;
  return CSC_OK;
}

/* M_LAC_IN_FYTD: the care spans, cut at the death, each reaching to the end
 * of the financial year of its last day. */
static int derive_lac_in_fytd(const struct child_state *st, struct interval *tmp,
                              struct fact_list *l) {
  const csc_date alive_to = st->details.death == DATE_NEVER ? DATE_NEVER : st->details.death + 1;
  size_t n = 0;
  for (size_t i = 0; i < st->n_care_spans; i++) {
    const struct episode *s = &st->care_spans[i];
    const csc_date b = s->end < alive_to ? s->end : alive_to;
    if (s->start < b)
      tmp[n++] = (struct interval){s->start, b == DATE_NEVER ? b : date_fy_end(b - 1)};
  }
  return add_union(l, M_LAC_IN_FYTD, 0, tmp, n);
}

/* One kind's incidents in one window: each counts over [d, close(d)); the
 * child once over the union. */
static int derive_kind(const struct child_state *st, int bucket, int fytd, struct interval *tmp,
                       struct fact_list *l) {
  const int m_incidents = fytd ? M_MISSING_INCIDENTS_FYTD : M_MISSING_INCIDENTS_12M;
  const int m_children = fytd ? M_MISSING_CHILDREN_FYTD : M_MISSING_CHILDREN_12M;
  size_t n = 0;
  for (size_t i = 0; i < st->n_missing; i++) {
    const struct episode *m = &st->missing[i];
    if (bucket_of(m->value) != bucket || !looked_after_on(st, m->start))
      continue;
    const csc_date to = fytd ? date_fy_end(m->start) : window_end(m->start, 12);
    tmp[n++] = (struct interval){m->start, to};
    if (fact_add(l, m_incidents, bucket, 1, m->start, to))
      return CSC_ENOMEM;
  }
  return add_union(l, m_children, bucket, tmp, n);
}

int derive_missing(const struct child_state *st, struct fact_list *l) {
  const size_t cap = (st->n_missing > st->n_care_spans ? st->n_missing : st->n_care_spans) + 1;
  struct interval *tmp = arena_alloc(l->a, cap * sizeof *tmp);
  if (tmp == NULL)
    return CSC_ENOMEM;
  int rc = derive_lac_in_fytd(st, tmp, l);
  for (int b = 0; rc == CSC_OK && b < N_KINDS; b++)
    for (int fytd = 0; rc == CSC_OK && fytd < 2; fytd++)
      rc = derive_kind(st, b, fytd, tmp, l);
  return rc;
}
