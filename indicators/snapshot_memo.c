/*
 * snapshot_memo.c — each LA's last snapshot values, so that the next
 * snapshot recomputes only the values whose inputs changed (issue 17,
 * item 2: "a batch rebuilds only the snapshot values whose aggregates
 * changed").
 *
 * WHY IT IS SAFE. A value is a pure function of its catalogue row, the
 * LA's sums of the row's measure and denominator measure, the code lists
 * (which also decide the rows, and the "other" of a breakdown by code), the
 * children of the LA (per 10,000 rates only) and what the LA's feeds carry
 * (coverage_mark). The memo keeps, per LA, the rows, the values and every
 * input they were computed from. A build compares the sums just loaded
 * from the store with the memo's, measure by measure, and recomputes the
 * rows that read a measure that changed. Nothing is tracked as it is
 * written, so nothing can be missed: a transaction that aborted, a tick
 * that moved the clock, a backfill, all show as sums that differ. Other
 * code lists or other feeds rebuild every value; so does any failure
 * part-way (the LA's memo is then dropped).
 *
 * WHAT IT SAVES. A one-event batch changes a handful of measures, and most
 * of the catalogue's rows (one per code of each breakdown, a value per
 * band) read none of them. Making every row and value again was most of a
 * live batch's snapshot; the loading of the sums, one cursor pass, is
 * cheap and stays.
 *
 *   build(la, sums) --no memo, other lists or feeds, a failure--> all rows
 *                   --memo--> rows reading a changed measure (or, for a
 *                             rate per 10,000, a changed population)
 */
#include <stdlib.h>
#include <string.h>

#include "indicators/catalogue_internal.h"
#include "ingest/ingest.h"

/* LAs remembered at once; a further one takes the place of the first
 * remembered, then of the second, ... (LAs are few: the bound is a guard). */
#define MEMO_MAX_LAS 512

struct memo_la {
  char la[LA_CODE_SIZE];
  int valid;
  struct arena a; /* rows, values and their breakdowns */
  struct row *rows;
  size_t n_rows;
  size_t *first; /* row i's values are values[first[i] .. first[i + 1]) */
  Cscflow__V1__IndicatorValue **values;
  size_t n_values;
  /* The inputs the values were computed from. */
  struct agg_sums *sums;
  int64_t children;
  char codes_version[sizeof ((struct code_lists *)0)->version];
  uint32_t carries;
};

struct snapshot_memo {
  struct memo_la *las;
  size_t n, next_evicted;
  struct row *rows;    /* scratch: CATALOGUE_MAX_ROWS, for a full build */
  struct arena values; /* scratch: a partial build's new values */
  uint8_t changed[M_COUNT];
  struct snapshot_memo_stats stats;
};

int snapshot_memo_new(struct snapshot_memo **out) {
  struct snapshot_memo *m = calloc(1, sizeof *m);
  if (m == NULL)
    return CSC_ENOMEM;
  m->las = calloc(MEMO_MAX_LAS, sizeof *m->las);
  m->rows = malloc(CATALOGUE_MAX_ROWS * sizeof *m->rows);
  if (m->las == NULL || m->rows == NULL) {
    free(m->las);
    free(m->rows);
    free(m);
    return CSC_ENOMEM;
  }
  arena_init(&m->values, 16384);
  *out = m;
  return CSC_OK;
}

void snapshot_memo_free(struct snapshot_memo *m) {
  if (m == NULL)
    return;
  for (size_t i = 0; i < m->n; i++) {
    arena_free(&m->las[i].a);
    agg_sums_free(m->las[i].sums);
  }
  arena_free(&m->values);
  free(m->las);
  free(m->rows);
  free(m);
}

void snapshot_memo_stats(const struct snapshot_memo *m, struct snapshot_memo_stats *out) {
  *out = m->stats;
  out->bytes = sizeof *m + MEMO_MAX_LAS * sizeof *m->las + CATALOGUE_MAX_ROWS * sizeof *m->rows +
               arena_size(&m->values);
  for (size_t i = 0; i < m->n; i++)
    out->bytes += arena_size(&m->las[i].a) + agg_sums_bytes(m->las[i].sums);
}

/* The LA's memo, a new (invalid) one if it has none; NULL for CSC_ENOMEM. */
static struct memo_la *memo_for(struct snapshot_memo *m, const char *la) {
  for (size_t i = 0; i < m->n; i++)
    if (strcmp(m->las[i].la, la) == 0)
      return &m->las[i];
  struct memo_la *e;
  if (m->n < MEMO_MAX_LAS) {
    e = &m->las[m->n];
    memset(e, 0, sizeof *e);
    if (agg_sums_new(&e->sums) != CSC_OK)
      return NULL;
    arena_init(&e->a, 65536);
    m->n++;
  } else {
    e = &m->las[m->next_evicted];
    m->next_evicted = (m->next_evicted + 1) % MEMO_MAX_LAS;
  }
  snprintf(e->la, sizeof e->la, "%s", la);
  e->valid = 0;
  return e;
}

/* Every row and value of e again, from sums. */
static int build_all(struct snapshot_memo *m, struct memo_la *e, const struct agg_sums *sums,
                     const struct code_lists *codes, int64_t children, uint32_t carries) {
  arena_reset(&e->a);
  e->valid = 0;
  const size_t n = catalogue_rows(m->rows, codes);
  size_t cap = 0;
  for (size_t i = 0; i < n; i++)
    cap += catalogue_row_width(&m->rows[i]);
  e->rows = arena_alloc(&e->a, (n ? n : 1) * sizeof *e->rows);
  e->first = arena_alloc(&e->a, (n + 1) * sizeof *e->first);
  e->values = arena_alloc(&e->a, (cap ? cap : 1) * sizeof *e->values);
  if (e->rows == NULL || e->first == NULL || e->values == NULL)
    return CSC_ENOMEM;
  memcpy(e->rows, m->rows, n * sizeof *e->rows);
  e->n_rows = n;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    e->first[i] = k;
    const int rc = catalogue_row_values(&e->rows[i], sums, codes, children, &e->a, e->values, &k);
    if (rc != CSC_OK)
      return rc;
  }
  e->first[n] = k;
  e->n_values = k;
  coverage_mark(carries, e->values, k);
  m->stats.full_builds++;
  m->stats.values_computed += k;
  return CSC_OK;
}

/* Whether row r reads what changed since e's values were computed. */
static int row_changed(const struct snapshot_memo *m, const struct row *r, int children_changed) {
  const int num = r->measure < 0 || r->measure >= M_COUNT || m->changed[r->measure];
  const int den = r->den_measure >= M_COUNT || (r->den_measure >= 0 && m->changed[r->den_measure]);
  return num || den || (r->per_10k && children_changed);
}

/* Row i's values again, from sums, over e's in place (their breakdowns, the
 * same strings, are kept). */
static int rebuild_row(struct snapshot_memo *m, struct memo_la *e, size_t i,
                       const struct agg_sums *sums, const struct code_lists *codes,
                       int64_t children, uint32_t carries) {
  Cscflow__V1__IndicatorValue *fresh[CATALOGUE_MAX_CODES + 8];
  const size_t width = e->first[i + 1] - e->first[i];
  size_t k = 0;
  if (catalogue_row_width(&e->rows[i]) > sizeof fresh / sizeof fresh[0])
    return CSC_ESTATE;
  int rc = catalogue_row_values(&e->rows[i], sums, codes, children, &m->values, fresh, &k);
  if (rc != CSC_OK)
    return rc;
  if (k != width) /* a row's values are a function of the row alone */
    return CSC_ESTATE;
  coverage_mark(carries, fresh, k);
  for (size_t j = 0; j < k; j++) {
    Cscflow__V1__IndicatorValue *v = e->values[e->first[i] + j];
    char *breakdown = v->breakdown;
    *v = *fresh[j];
    v->breakdown = breakdown;
  }
  m->stats.values_computed += k;
  return CSC_OK;
}

/* The rows of e that read a measure that differs between e's sums and
 * sums, again. */
static int build_changed(struct snapshot_memo *m, struct memo_la *e, const struct agg_sums *sums,
                         const struct code_lists *codes, int64_t children, uint32_t carries) {
  agg_sums_changed(e->sums, sums, m->changed, M_COUNT);
  const int children_changed = children != e->children;
  arena_reset(&m->values);
  int rc = CSC_OK;
  for (size_t i = 0; rc == CSC_OK && i < e->n_rows; i++) {
    if (row_changed(m, &e->rows[i], children_changed))
      rc = rebuild_row(m, e, i, sums, codes, children, carries);
    else
      m->stats.values_reused += e->first[i + 1] - e->first[i];
  }
  return rc;
}

int snapshot_memo_values(struct snapshot_memo *m, const char *la, struct agg_sums *sums,
                         const struct code_lists *codes, int64_t children, uint32_t carries,
                         Cscflow__V1__IndicatorValue ***values, size_t *n) {
  struct memo_la *e = memo_for(m, la);
  if (e == NULL)
    return CSC_ENOMEM;
  const char *version = codes != NULL ? codes->version : "";
  const int same = e->valid && e->carries == carries && strcmp(e->codes_version, version) == 0;
  int rc = same ? build_changed(m, e, sums, codes, children, carries)
                : build_all(m, e, sums, codes, children, carries);
  m->stats.builds++;
  if (rc != CSC_OK) {
    e->valid = 0;
    return rc;
  }
  agg_sums_swap(e->sums, sums);
  e->children = children;
  e->carries = carries;
  snprintf(e->codes_version, sizeof e->codes_version, "%s", version);
  e->valid = 1;
  *values = e->values;
  *n = e->n_values;
  return CSC_OK;
}
