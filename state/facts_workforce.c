/*
 * Facts of the workforce group of docs/indicators.md (choices beyond the
 * spec: docs/indicators.md).
 *
 * A worker's history gives their employments (FTE x 100, EP_AGENCY),
 * absences and caseload reports; a post's history its status marks; a
 * child's history its allocations. Each derivation below finds nothing to
 * do in the histories of the other kinds.
 */
#include <string.h>

#include "state/facts_internal.h"

static int is_vacant_status(uint32_t change) {
  /* An established post is vacant until it is filled. */
  return change == CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_ESTABLISHED ||
         change == CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_VACANT;
}

/*
 * An employment that ends on the day another of the worker's employments
 * starts was a change of hours or agency status (the fold ends the old one
 * on a STARTED while employed), not a leaving.
 */
static int is_leaving(const struct child_state *st, size_t i) {
  const csc_date end = st->employments[i].end;
  if (end == DATE_NEVER)
    return 0;
  for (size_t j = 0; j < st->n_employments; j++)
    if (j != i && st->employments[j].start == end)
      return 0;
  return 1;
}

/* FTE employed on T (all, agency) and leavers' FTE in the 12 months to T:
 * a leaver on d counts from d (no longer employed) until d leaves the window. */
static int derive_employments(const struct child_state *st, struct fact_list *l) {
  for (size_t i = 0; i < st->n_employments; i++) {
    const struct episode *e = &st->employments[i];
    const int32_t fte = (int32_t)e->value;
    if (fact_add(l, M_WORKERS_FTE, 0, fte, e->start, e->end) ||
        ((e->flags & EP_AGENCY) && fact_add(l, M_WORKERS_FTE, 1, fte, e->start, e->end)))
      return CSC_ENOMEM;
    if (e->start < e->end && is_leaving(st, i) &&
        fact_add(l, M_LEAVERS_FTE_12M, 0, fte, e->end, window_end(e->end, 12)))
      return CSC_ENOMEM;
  }
  return CSC_OK;
}

/*
 * The days the worker is a leaver: from each leaving until they start again
 * (never, if they do not). Not published: state/join.c ends the
 * allocations of the worker's children on the first of them.
 */
static int derive_leaver_days(const struct child_state *st, struct fact_list *l) {
  for (size_t i = 0; i < st->n_employments; i++) {
    const struct episode *e = &st->employments[i];
    if (e->start >= e->end || !is_leaving(st, i))
      continue;
    csc_date back = DATE_NEVER;
    for (size_t j = 0; j < st->n_employments; j++)
      if (st->employments[j].start > e->end && st->employments[j].start < back)
        back = st->employments[j].start;
    if (fact_add(l, M_WORKER_LEFT, 0, 1, e->end, back))
      return CSC_ENOMEM;
  }
  return CSC_OK;
}

/* Absence days dated in the 12 months to T, whether or not the worker is
 * still employed on T. */
static int derive_absences(const struct child_state *st, struct fact_list *l) {
  for (size_t i = 0; i < st->n_absences; i++) {
    const struct mark *m = &st->absences[i];
    if (fact_add(l, M_ABSENCE_DAYS_12M, 0, (int32_t)m->value, m->date, window_end(m->date, 12)))
      return CSC_ENOMEM;
  }
  return CSC_OK;
}

/*
 * Case-holding: "when their latest start or caseload report says so"
 * (INDICATORS.md): from a STARTED or CASELOAD with case_holding (the fold
 * keeps both as caseload marks) until the next mark or the end of the spell
 * of employment the mark falls in. A report dated while not employed
 * counts for nothing. Marks are in date order (the fold applies events by
 * date, starts before reports on a day), and of two on one day the later
 * folded wins: the earlier one's interval is empty.
 */
static int derive_case_holding(const struct child_state *st, struct fact_list *l) {
  if (st->n_caseloads == 0 || st->n_employments == 0)
    return CSC_OK;
  struct interval *spells = arena_alloc(l->a, st->n_employments * sizeof *spells);
  if (spells == NULL)
    return CSC_ENOMEM;
  const size_t ns = episode_union(st->employments, st->n_employments, 0, spells);
  for (size_t i = 0; i < st->n_caseloads; i++) {
    const struct mark *m = &st->caseloads[i];
    if (!(m->flags & MK_CASE_HOLDING))
      continue;
    csc_date to = i + 1 < st->n_caseloads ? st->caseloads[i + 1].date : DATE_NEVER;
    for (size_t s = 0; s < ns; s++)
      if (spells[s].from <= m->date && m->date < spells[s].to) {
        if (spells[s].to < to)
          to = spells[s].to;
        if (fact_add(l, M_CASE_HOLDING_WORKERS, 0, 1, m->date, to))
          return CSC_ENOMEM;
        break;
      }
  }
  return CSC_OK;
}

/*
 * A post's status holds from its mark until the next mark. The FTE is the
 * mark's own; a mark with none (0) keeps the FTE of the post's previous mark.
 */
static int derive_posts(const struct child_state *st, struct fact_list *l) {
  int32_t fte = 0;
  for (size_t i = 0; i < st->n_post_status; i++) {
    const struct mark *m = &st->post_status[i];
    if (m->value != 0)
      fte = (int32_t)m->value;
    const csc_date to = i + 1 < st->n_post_status ? st->post_status[i + 1].date : DATE_NEVER;
    if (fact_add(l, M_POSTS_FTE, 0, fte, m->date, to) ||
        (is_vacant_status(m->flags) && fact_add(l, M_POSTS_FTE, 1, fte, m->date, to)))
      return CSC_ENOMEM;
  }
  return CSC_OK;
}

const char *const ethnic_group_names[EG_COUNT] = {"white", "mixed", "asian",
                                                  "black", "other", "not_known"};

/* The DfE major group of each CIN census ethnicity code (Chinese is Asian
 * in the 2011 and 2021 census classifications). A fixed classification,
 * not read from the code lists, so that a list change never changes what a
 * stored fact means; REFU, NOBT, nothing recorded and any other code are
 * not known. */
static const struct {
  const char code[5];
  int group;
} ETHNIC_GROUPS[] = {
    {"WBRI", EG_WHITE}, {"WIRI", EG_WHITE}, {"WIRT", EG_WHITE}, {"WOTH", EG_WHITE},
    {"WROM", EG_WHITE}, {"MWBC", EG_MIXED}, {"MWBA", EG_MIXED}, {"MWAS", EG_MIXED},
    {"MOTH", EG_MIXED}, {"AIND", EG_ASIAN}, {"APKN", EG_ASIAN}, {"ABAN", EG_ASIAN},
    {"AOTH", EG_ASIAN}, {"CHNE", EG_ASIAN}, {"BCRB", EG_BLACK}, {"BAFR", EG_BLACK},
    {"BOTH", EG_BLACK}, {"OOTH", EG_OTHER},
};

int ethnic_group_of(const char *code) {
  for (size_t i = 0; code != NULL && i < sizeof ETHNIC_GROUPS / sizeof *ETHNIC_GROUPS; i++)
    if (strcmp(ETHNIC_GROUPS[i].code, code) == 0)
      return ETHNIC_GROUPS[i].group;
  return EG_UNKNOWN;
}

/*
 * sw_diversity: the FTE of each employment on its days, in its ethnic
 * group at all levels (seniority 0), and at its own seniority level with
 * that level's total (DIVERSITY_ALL_GROUPS). The all-levels total is
 * M_WORKERS_FTE bucket 0. A worker of no recorded seniority counts at all
 * levels only.
 */
static int derive_diversity(const struct child_state *st, struct fact_list *l) {
  for (size_t i = 0; i < st->n_employments; i++) {
    const struct episode *e = &st->employments[i];
    const int32_t fte = (int32_t)e->value;
    const int group = ethnic_group_of(e->code), level = (int)EP_SENIORITY(e->flags);
    if (fact_add(l, M_DIVERSITY_FTE, DIVERSITY_BUCKET(0, group), fte, e->start, e->end))
      return CSC_ENOMEM;
    if (level > 0 &&
        (fact_add(l, M_DIVERSITY_FTE, DIVERSITY_BUCKET(level, group), fte, e->start, e->end) ||
         fact_add(l, M_DIVERSITY_FTE, DIVERSITY_BUCKET(level, DIVERSITY_ALL_GROUPS), fte, e->start,
                  e->end)))
      return CSC_ENOMEM;
  }
  return CSC_OK;
}

/* One per child while it has an open allocation to any worker (its end
 * already cut to the worker's leaving: state/join.c). */
static int derive_allocations(const struct child_state *st, struct fact_list *l) {
  if (st->n_allocations == 0)
    return CSC_OK;
  struct interval *u = arena_alloc(l->a, st->n_allocations * sizeof *u);
  if (u == NULL)
    return CSC_ENOMEM;
  const size_t n = episode_union(st->allocations, st->n_allocations, 0, u);
  for (size_t i = 0; i < n; i++)
    if (fact_add(l, M_CHILDREN_ALLOCATED, 0, 1, u[i].from, u[i].to))
      return CSC_ENOMEM;
  return CSC_OK;
}

int derive_workforce(const struct child_state *st, const struct derive_ref *ref,
                     struct fact_list *l) {
  (void)ref; /* no calendar: every workforce window is in calendar days */
  int rc = derive_employments(st, l);
  if (rc == CSC_OK)
    rc = derive_leaver_days(st, l);
  if (rc == CSC_OK)
    rc = derive_absences(st, l);
  if (rc == CSC_OK)
    rc = derive_case_holding(st, l);
  if (rc == CSC_OK)
    rc = derive_posts(st, l);
  if (rc == CSC_OK)
    rc = derive_allocations(st, l);
  if (rc == CSC_OK)
    rc = derive_diversity(st, l);
  return rc;
}
