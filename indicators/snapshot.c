#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "indicators/indicators.h"

/* The LA's sources as the snapshot's messages (ds and ptrs hold
 * LA_SOURCES_MAX + 1: "other" last); their number. */
static size_t sources_to_proto(const struct la_sources *src, Cscflow__V1__DataSource *ds,
                               Cscflow__V1__DataSource **ptrs) {
  size_t n = 0;
  for (size_t i = 0; i <= src->n; i++) {
    const int other = i == src->n;
    if (other && src->other_events == 0)
      break;
    cscflow__v1__data_source__init(&ds[n]);
    ds[n].source_system = other ? "other" : (char *)src->s[i].name;
    ds[n].has_year = ds[n].has_events = ds[n].has_last_recorded_at_ms = 1;
    ds[n].year = other ? 0 : (uint32_t)src->s[i].year;
    ds[n].events = other ? src->other_events : src->s[i].events;
    ds[n].last_recorded_at_ms = other ? src->other_last_ms : src->s[i].last_recorded_ms;
    ptrs[n] = &ds[n];
    n++;
  }
  return n;
}

int snapshot_build(struct store *st, MDB_txn *txn, const char *la, const struct la_state *ls,
                   const struct population *pop, const struct code_lists *state_codes,
                   uint32_t carries, struct snapshot_memo *memo, uint8_t **buf, size_t *len) {
  struct arena a;
  arena_init(&a, 16384);
  IndicatorSnapshot snap = CSCFLOW__V1__INDICATOR_SNAPSHOT__INIT;
  Cscflow__V1__QualityCount quality[Q_RULE_COUNT], *quality_ptrs[Q_RULE_COUNT];
  snap.la_code = (char *)la;
  snap.has_as_of = snap.has_events_applied = 1;
  snap.as_of = date_to_yyyymmdd(ls->as_of);
  snap.events_applied = ls->events_applied;
  struct agg_sums *sums = NULL;
  struct code_lists read;
  int rc = CSC_OK, have_read = 0;
  if (state_codes == NULL) {
    rc = store_get_code_lists(st, txn, &read);
    have_read = rc == CSC_OK;
    if (have_read)
      state_codes = &read;
    else if (rc == CSC_ENOTFOUND)
      rc = CSC_OK; /* a state that records no lists: breakdowns by code are "other" only */
  }
  if (rc == CSC_OK)
    rc = agg_sums_new(&sums);
  if (rc == CSC_OK)
    rc = agg_sums_load(sums, st, txn, la);
  for (int r = 0; rc == CSC_OK && r < Q_RULE_COUNT; r++) {
    const int64_t count = agg_sums_get(sums, M_QUALITY, r);
    cscflow__v1__quality_count__init(&quality[r]);
    quality[r].rule = (char *)quality_rule_ids[r];
    quality[r].has_count = 1;
    quality[r].count = (uint64_t)count;
    quality_ptrs[r] = &quality[r];
  }
  snap.quality = quality_ptrs;
  snap.n_quality = Q_RULE_COUNT;
  if (rc == CSC_OK && memo != NULL) { /* takes sums: read them before */
    rc = snapshot_memo_values(memo, la, sums, state_codes, population_lookup(pop, la, ls->as_of),
                              carries, &snap.values, &snap.n_values);
  } else if (rc == CSC_OK) {
    rc = catalogue_build(sums, state_codes, la, ls->as_of, pop, &a, &snap.values,
                         &snap.n_values);
    if (rc == CSC_OK)
      coverage_mark(carries, snap.values, snap.n_values);
  }
  struct la_sources *src = rc == CSC_OK ? malloc(sizeof *src) : NULL;
  Cscflow__V1__DataSource ds[LA_SOURCES_MAX + 1], *ds_ptrs[LA_SOURCES_MAX + 1];
  if (rc == CSC_OK && src == NULL)
    rc = CSC_ENOMEM;
  if (rc == CSC_OK && (rc = store_get_sources(st, txn, la, src)) == CSC_OK) {
    snap.n_sources = sources_to_proto(src, ds, ds_ptrs);
    snap.sources = ds_ptrs;
  }
  uint8_t *p = NULL;
  size_t n = 0;
  if (rc == CSC_OK) {
    n = cscflow__v1__indicator_snapshot__get_packed_size(&snap);
    p = malloc(n ? n : 1);
    if (p == NULL)
      rc = CSC_ENOMEM;
  }
  if (rc == CSC_OK) {
    cscflow__v1__indicator_snapshot__pack(&snap, p);
    uint8_t key[STATE_MAX_KEY];
    MDB_val k = {store_key(key, la, NULL, 0), key}, v = {n, p};
    int mrc = mdb_put(txn, st->snapshots, &k, &v, 0);
    if (mrc != 0)
      rc = store_error(mrc, "put snapshot");
  }
  arena_free(&a);
  agg_sums_free(sums);
  free(src);
  if (have_read)
    code_lists_free(&read);
  if (rc != CSC_OK) {
    free(p);
    return rc;
  }
  *buf = p;
  *len = n;
  return CSC_OK;
}

/* Numbers as a person would write them: integers without a decimal point,
 * other values to 4 decimal places without trailing zeros. */
static void write_number(FILE *f, int has, double x) {
  if (!has || !isfinite(x)) {
    fputs("null", f);
    return;
  }
  if (x == floor(x) && fabs(x) < 9e15) {
    fprintf(f, "%.0f", x);
    return;
  }
  char buf[64];
  snprintf(buf, sizeof buf, "%.4f", x);
  char *e = buf + strlen(buf);
  while (e[-1] == '0')
    *--e = '\0';
  if (e[-1] == '.')
    *--e = '\0';
  fputs(buf, f);
}

int snapshot_write_json(FILE *f, const IndicatorSnapshot *snap) {
  char date[11];
  csc_date as_of = 0;
  date_from_yyyymmdd(snap->as_of, &as_of);
  fputs("{\"la\":", f);
  json_write_string(f, snap->la_code);
  fprintf(f, ",\"as_of\":\"%s\",\"events_applied\":%llu,\"indicators\":[", date_format(as_of, date),
          (unsigned long long)snap->events_applied);
  for (size_t i = 0; i < snap->n_values; i++) {
    const Cscflow__V1__IndicatorValue *v = snap->values[i];
    fputs(i ? ",{\"id\":" : "{\"id\":", f);
    json_write_string(f, v->id);
    const char *group = catalogue_group(v->id);
    fputs(",\"group\":", f);
    if (group != NULL)
      json_write_string(f, group);
    else
      fputs("null", f);
    fputs(",\"window\":", f);
    json_write_string(f, v->window);
    fputs(",\"breakdown\":", f);
    json_write_string(f, v->breakdown);
    fputs(",\"numerator\":", f);
    write_number(f, v->has_numerator, v->numerator);
    fputs(",\"denominator\":", f);
    write_number(f, v->has_denominator, v->denominator);
    fputs(",\"value\":", f);
    write_number(f, v->has_value, v->value);
    fputs(",\"per_10k\":", f);
    write_number(f, v->has_per_10k, v->per_10k);
    fprintf(f, ",\"provisional\":%s,\"unavailable\":%s}", v->provisional ? "true" : "false",
            v->unavailable ? "true" : "false");
  }
  fputs("],\"quality\":{", f);
  for (size_t i = 0; i < snap->n_quality; i++) {
    if (i)
      fputc(',', f);
    json_write_string(f, snap->quality[i]->rule);
    fprintf(f, ":%llu", (unsigned long long)snap->quality[i]->count);
  }
  fputs("},\"sources\":[", f);
  for (size_t i = 0; i < snap->n_sources; i++) {
    const Cscflow__V1__DataSource *s = snap->sources[i];
    fputs(i ? ",{\"source\":" : "{\"source\":", f);
    json_write_string(f, s->source_system);
    fprintf(f, ",\"kind\":\"%s\",\"year\":", s->year ? "return" : "feed");
    if (s->year)
      fprintf(f, "%u", (unsigned)s->year);
    else
      fputs("null", f);
    const time_t t = (time_t)(s->last_recorded_at_ms / 1000);
    struct tm tm;
    char at[32] = "";
    if (gmtime_r(&t, &tm) != NULL)
      strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(f, ",\"events\":%llu,\"last_recorded_at\":\"%s\"}",
            (unsigned long long)s->events, at);
  }
  fputs("]}\n", f);
  return ferror(f) ? CSC_EIO : CSC_OK;
}

const Cscflow__V1__IndicatorValue *snapshot_find(const IndicatorSnapshot *snap, const char *id,
                                                 const char *window, const char *breakdown) {
  for (size_t i = 0; i < snap->n_values; i++) {
    const Cscflow__V1__IndicatorValue *v = snap->values[i];
    if (strcmp(v->id, id) == 0 && strcmp(v->window, window) == 0 &&
        strcmp(v->breakdown, breakdown) == 0)
      return v;
  }
  return NULL;
}

static int call_with(const MDB_val *v, snapshot_fn fn, void *ctx) {
  IndicatorSnapshot *snap = cscflow__v1__indicator_snapshot__unpack(NULL, v->mv_size, v->mv_data);
  if (snap == NULL)
    return CSC_ESTATE;
  int rc = fn(ctx, snap);
  cscflow__v1__indicator_snapshot__free_unpacked(snap, NULL);
  return rc;
}

int snapshot_each(struct store *st, MDB_txn *txn, const char *la, snapshot_fn fn, void *ctx) {
  if (la != NULL) {
    uint8_t key[STATE_MAX_KEY];
    MDB_val k = {store_key(key, la, NULL, 0), key}, v;
    int rc = mdb_get(txn, st->snapshots, &k, &v);
    if (rc != 0)
      return store_error(rc, "get snapshot");
    return call_with(&v, fn, ctx);
  }
  MDB_cursor *cur;
  MDB_val k, v;
  int rc = mdb_cursor_open(txn, st->snapshots, &cur);
  if (rc != 0)
    return store_error(rc, "cursor snapshots");
  int err = CSC_OK;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && err == CSC_OK;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
    err = call_with(&v, fn, ctx);
  mdb_cursor_close(cur);
  return err;
}
