/*
 * sources.c — where an LA's data came from (state.h, "la_sources"): what
 * the snapshot and the dashboard show beside the figures, so that a reader
 * knows which returns were imported and how fresh each live feed is.
 */
#include <string.h>

#include "state/state.h"

static const char src_prefix[] = "src"; /* meta key: "src\0" + LA + "\0" */

static size_t sources_key(uint8_t *key, const char *la) {
  const size_t n = strlen(la);
  if (sizeof src_prefix + n + 1 > STATE_MAX_KEY)
    return 0;
  memcpy(key, src_prefix, sizeof src_prefix);
  memcpy(key + sizeof src_prefix, la, n + 1);
  return sizeof src_prefix + n + 1;
}

/* The collection year of a return recorded at ms: the year whose 31 March
 * it was recorded on (London), else 0. */
static int32_t collection_year(int64_t ms) {
  int y, m, d;
  date_to_ymd(date_london_from_unix_ms(ms), &y, &m, &d);
  return m == 3 && d == 31 ? y : 0;
}

static int is_return(const char *source) {
  return strcmp(source, "ssda903") == 0 || strcmp(source, "cin_census") == 0;
}

void la_sources_note(struct la_sources *s, const char *source_system, int64_t recorded_ms) {
  const char *name = source_system ? source_system : "";
  const int32_t year = is_return(name) ? collection_year(recorded_ms) : 0;
  struct la_source *e = NULL;
  for (size_t i = 0; i < s->n && e == NULL; i++)
    if (s->s[i].year == year && strcmp(s->s[i].name, name) == 0)
      e = &s->s[i];
  if (e == NULL && s->n < LA_SOURCES_MAX && strlen(name) <= STATE_ID_MAX) {
    e = &s->s[s->n++];
    memset(e, 0, sizeof *e);
    memcpy(e->name, name, strlen(name) + 1);
    e->year = year;
  }
  uint64_t *events = e ? &e->events : &s->other_events;
  int64_t *last = e ? &e->last_recorded_ms : &s->other_last_ms;
  (*events)++;
  if (recorded_ms > *last)
    *last = recorded_ms;
}

int store_put_sources(struct store *st, MDB_txn *txn, const char *la, const struct la_sources *s) {
  uint8_t key[STATE_MAX_KEY], buf[LA_SOURCES_MAX * (STATE_ID_MAX + 40) + 40];
  MDB_val k = {sources_key(key, la), key};
  if (k.mv_size == 0)
    return CSC_EINVAL;
  size_t n = varint_encode(s->n, buf);
  for (size_t i = 0; i < s->n; i++) {
    const size_t len = strlen(s->s[i].name);
    n += varint_encode(len, buf + n);
    memcpy(buf + n, s->s[i].name, len);
    n += len;
    n += varint_encode((uint64_t)s->s[i].year, buf + n);
    n += varint_encode(s->s[i].events, buf + n);
    n += varint_encode((uint64_t)s->s[i].last_recorded_ms, buf + n);
  }
  n += varint_encode(s->other_events, buf + n);
  n += varint_encode((uint64_t)s->other_last_ms, buf + n);
  MDB_val v = {n, buf};
  const int rc = mdb_put(txn, st->meta, &k, &v, 0);
  return rc == 0 ? CSC_OK : store_error(rc, "put sources");
}

/* The next varint of [*p, end) into *v; 0 when it runs past the end. */
static int take(const uint8_t **p, const uint8_t *end, uint64_t *v) {
  const size_t n = varint_decode(*p, (size_t)(end - *p), v);
  *p += n;
  return n != 0;
}

int store_get_sources(struct store *st, MDB_txn *txn, const char *la, struct la_sources *out) {
  uint8_t key[STATE_MAX_KEY];
  MDB_val k = {sources_key(key, la), key}, v;
  memset(out, 0, sizeof *out);
  if (k.mv_size == 0)
    return CSC_EINVAL;
  int rc = mdb_get(txn, st->meta, &k, &v);
  if (rc == MDB_NOTFOUND)
    return CSC_OK;
  if (rc != 0)
    return store_error(rc, "get sources");
  const uint8_t *p = v.mv_data, *end = p + v.mv_size;
  uint64_t n, len, year, events, last;
  if (!take(&p, end, &n) || n > LA_SOURCES_MAX)
    return CSC_ESTATE;
  for (size_t i = 0; i < n; i++) {
    if (!take(&p, end, &len) || len > STATE_ID_MAX || (size_t)(end - p) < len)
      return CSC_ESTATE;
    struct la_source *e = &out->s[i];
    memcpy(e->name, p, len);
    e->name[len] = '\0';
    p += len;
    if (!take(&p, end, &year) || !take(&p, end, &events) || !take(&p, end, &last))
      return CSC_ESTATE;
    e->year = (int32_t)year;
    e->events = events;
    e->last_recorded_ms = (int64_t)last;
  }
  out->n = n;
  if (!take(&p, end, &events) || !take(&p, end, &last))
    return CSC_ESTATE;
  out->other_events = events;
  out->other_last_ms = (int64_t)last;
  return CSC_OK;
}
