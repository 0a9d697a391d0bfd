/*
 * fold_resume.c — the copies of a fold's state that a checkpoint keeps and
 * gives back (fold_resume.h). The state's lists are named once, in LISTS:
 * a list added to struct child_state must be added here, or a resumed fold
 * would start without it; a static assertion on the struct's size fails
 * the build until it is. tests/test_store.c compares resumed folds with
 * whole ones, event by event.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "state/fold_resume.h"

struct list_field {
  size_t items, count, size; /* offsets of the array and its length; an item's size */
};

#define LIST(p, n, type) \
  {offsetof(struct child_state, p), offsetof(struct child_state, n), sizeof(type)}

/* Every list of struct child_state but the findings (fold.c orders them). */
static const struct list_field LISTS[] = {
    LIST(referrals, n_referrals, struct episode),
    LIST(assessments, n_assessments, struct episode),
    LIST(enquiries, n_enquiries, struct episode),
    LIST(plans[PLAN_EH], n_plans[PLAN_EH], struct episode),
    LIST(plans[PLAN_CIN], n_plans[PLAN_CIN], struct episode),
    LIST(plans[PLAN_CP], n_plans[PLAN_CP], struct episode),
    LIST(plans[PLAN_LAC], n_plans[PLAN_LAC], struct episode),
    LIST(strategies, n_strategies, struct mark),
    LIST(icpcs, n_icpcs, struct mark),
    LIST(visits, n_visits, struct mark),
    LIST(placements, n_placements, struct episode),
    LIST(care_spans, n_care_spans, struct episode),
    LIST(legal, n_legal, struct mark),
    LIST(needs, n_needs, struct mark),
    LIST(period_aliases, n_period_aliases, struct mark),
    LIST(reviews, n_reviews, struct mark),
    LIST(missing, n_missing, struct episode),
    LIST(prev_permanence, n_prev_permanence, struct mark),
    LIST(adoptions, n_adoptions, struct adoption),
    LIST(court, n_court, struct mark),
    LIST(permanence, n_permanence, struct mark),
    LIST(leaver_contacts, n_leaver_contacts, struct mark),
    LIST(sdq, n_sdq, struct mark),
    LIST(allocations, n_allocations, struct episode),
    LIST(employments, n_employments, struct episode),
    LIST(absences, n_absences, struct mark),
    LIST(caseloads, n_caseloads, struct mark),
    LIST(post_status, n_post_status, struct mark),
};
_Static_assert(PLAN_KIND_COUNT == 4, "LISTS names each plan kind's list");
/* struct child_state is its details, then an array and a length for each
 * list: LISTS and the findings. A list added to it and not here fails this. */
_Static_assert(sizeof(struct child_state) ==
                   sizeof(struct child_details) +
                       (sizeof LISTS / sizeof LISTS[0] + 1) * (sizeof(void *) + sizeof(size_t)),
               "every list of struct child_state but the findings is in LISTS");

static void **items_of(struct child_state *st, const struct list_field *l) {
  return (void **)((char *)st + l->items);
}
static size_t *count_of(struct child_state *st, const struct list_field *l) {
  return (size_t *)((char *)st + l->count);
}

/* Copies every list of from into to, each with room for cap(list's length)
 * items, from a. A list with no items is left NULL (the fold allocates a
 * list at its first item). */
static int copy_lists(struct child_state *to, const struct child_state *from, struct arena *a,
                      size_t cap) {
  struct child_state *src = (struct child_state *)from; /* read only */
  for (size_t i = 0; i < sizeof LISTS / sizeof LISTS[0]; i++) {
    const struct list_field *l = &LISTS[i];
    const size_t n = *count_of(src, l);
    void *items = NULL;
    if (n > 0) {
      items = arena_alloc(a, (cap ? cap : n) * l->size);
      if (items == NULL)
        return CSC_ENOMEM;
      memcpy(items, *items_of(src, l), n * l->size);
    }
    *items_of(to, l) = items;
    *count_of(to, l) = n;
  }
  return CSC_OK;
}

/* The bytes a checkpoint of st over n events holds: its lists, live, the
 * findings and room for the folding order, each rounded as the arena
 * rounds. */
static size_t checkpoint_bytes(const struct child_state *st, size_t n) {
  struct child_state *src = (struct child_state *)st; /* read only */
  const size_t align = sizeof(max_align_t);
  size_t bytes = 4 * align + n + 1 + (st->n_findings + 1) * sizeof *st->findings +
                 n * sizeof(CaseEvent *);
  for (size_t i = 0; i < sizeof LISTS / sizeof LISTS[0]; i++)
    bytes += *count_of(src, &LISTS[i]) * LISTS[i].size + align;
  return bytes;
}

struct fold_resume *fold_resume_take(const struct child_state *st, const uint8_t *live, size_t n,
                                     struct fold_resume *reuse) {
  struct fold_resume *r = reuse;
  if (r != NULL) { /* its first block kept: no malloc, no page first touched */
    struct arena kept = r->a;
    arena_reset(&kept);
    memset(r, 0, sizeof *r);
    r->a = kept;
  } else if ((r = calloc(1, sizeof *r)) != NULL) {
    arena_init(&r->a, checkpoint_bytes(st, n)); /* one block holds it all */
  } else {
    return NULL;
  }
  r->st.details = st->details;
  r->live = arena_alloc(&r->a, n + 1);
  r->a.block_size = 16384; /* what adoptions add (fold.c) goes in small blocks */
  r->st.findings = arena_alloc(&r->a, (st->n_findings + 1) * sizeof *st->findings);
  if (r->live == NULL || r->st.findings == NULL || copy_lists(&r->st, st, &r->a, 0) != CSC_OK) {
    if (r != reuse) /* reuse stays the caller's */
      fold_resume_free(r);
    return NULL;
  }
  memcpy(r->live, live, n);
  memcpy(r->st.findings, st->findings, st->n_findings * sizeof *st->findings);
  r->st.n_findings = st->n_findings;
  return r;
}

void fold_resume_free(struct fold_resume *r) {
  if (r == NULL)
    return;
  arena_free(&r->a);
  free(r);
}

size_t fold_resume_bytes(const struct fold_resume *r) {
  return r != NULL ? sizeof *r + arena_size(&r->a) : 0;
}

int fold_resume_restore(const struct fold_resume *r, struct child_state *st, struct arena *a,
                        size_t cap) {
  st->details = r->st.details;
  return copy_lists(st, &r->st, a, cap);
}
