/*
 * The JSON documents of the LA routes. Numbers that may be absent are
 * null, never 0: a ratio with an empty denominator has no value.
 */
#include <stdlib.h>
#include <string.h>

#include "indicators/indicators.h"
#include "serve/api.h"

static json_t *json_date(csc_date d) {
  char buf[16];
  return json_string(date_format(d, buf));
}

/* A whole number as an integer, so that counts read 12 and not 12.0. */
static json_t *json_number(int has, double x) {
  if (!has)
    return json_null();
  if (x == (double)(json_int_t)x && x < 9e15 && x > -9e15)
    return json_integer((json_int_t)x);
  return json_real(x);
}

/* Starts {"la":..,"as_of":..} for la; CSC_ENOTFOUND before its first event. */
static int document(struct store *st, MDB_txn *txn, const char *la, json_t **doc,
                    struct la_state *ls) {
  int rc = store_get_la(st, txn, la, ls);
  if (rc != CSC_OK)
    return rc;
  *doc = json_pack("{s:s, s:o}", "la", la, "as_of", json_date(ls->as_of));
  return *doc ? CSC_OK : CSC_ENOMEM;
}

/* Completes doc with member (consumed) under name and hands it out when rc
 * is CSC_OK; else frees both and returns rc. */
static int finish(int rc, json_t *doc, const char *name, json_t *member, json_t **out) {
  if (rc != CSC_OK)
    json_decref(member);
  else if (member == NULL || json_object_set_new(doc, name, member) != 0)
    rc = CSC_ENOMEM; /* json_object_set_new frees member when it fails */
  if (rc != CSC_OK) {
    json_decref(doc);
    return rc;
  }
  *out = doc;
  return CSC_OK;
}

/* ---- series -------------------------------------------------------------------------- */

static int parse_day(const char *s, csc_date *d) {
  return s != NULL && strlen(s) == 10 && date_parse(s, d) == CSC_OK ? CSC_OK : CSC_EINVAL;
}

int api_series(struct store *st, MDB_txn *txn, const char *la, const struct series_query *q,
               json_t **out, const char **why) {
  if (q->indicator == NULL || q->window == NULL) {
    *why = "indicator and window are required";
    return CSC_EINVAL;
  }
  struct la_state ls;
  json_t *doc;
  int rc = document(st, txn, la, &doc, &ls);
  if (rc != CSC_OK)
    return rc;
  csc_date to = ls.as_of, from;
  if (q->to != NULL && parse_day(q->to, &to) != CSC_OK) {
    json_decref(doc);
    *why = "to is not a date (YYYY-MM-DD)";
    return CSC_EINVAL;
  }
  if (to > ls.as_of)
    to = ls.as_of; /* nothing is known after the LA's clock */
  from = to - (API_SERIES_DEFAULT_DAYS - 1);
  if (q->from != NULL && parse_day(q->from, &from) != CSC_OK) {
    json_decref(doc);
    *why = "from is not a date (YYYY-MM-DD)";
    return CSC_EINVAL;
  }
  const char *breakdown = q->breakdown ? q->breakdown : "";
  struct series_point *pts = NULL;
  size_t n = 0;
  csc_date as_of;
  struct population none;
  population_init(&none); /* series carry no per 10,000 rates */
  rc = series_build(st, txn, la, q->indicator, q->window, breakdown, from, to, &none, &pts, &n,
                    &as_of);
  if (rc == CSC_EINVAL)
    *why = "from must not be after to, and at most 3660 days apart";
  if (rc == CSC_ENOTFOUND)
    *why = "no such indicator, window and breakdown";
  json_t *points = rc == CSC_OK ? json_array() : NULL;
  for (size_t i = 0; points != NULL && i < n; i++) {
    const struct series_point *p = &pts[i];
    json_t *pt = json_pack("{s:o, s:o, s:o, s:o}", "date", json_date(p->date), "numerator",
                           json_number(p->has_numerator, p->numerator), "denominator",
                           json_number(p->has_denominator, p->denominator), "value",
                           json_number(p->has_value, p->value));
    if (pt == NULL || json_array_append_new(points, pt) != 0) {
      json_decref(points);
      points = NULL;
    }
  }
  free(pts);
  if (rc == CSC_OK && json_object_update_new(doc, json_pack("{s:s, s:s, s:s, s:o, s:o}",
                                                            "indicator", q->indicator, "window",
                                                            q->window, "breakdown", breakdown,
                                                            "from", json_date(from), "to",
                                                            json_date(to))) != 0)
    rc = CSC_ENOMEM;
  return finish(rc, doc, "points", points, out);
}

/* ---- alerts --------------------------------------------------------------------------- */

static json_t *alert_json(const char *id, const char *child, const char *kind,
                          const char *plan_id, csc_date start, int months, csc_date due,
                          csc_date as_of) {
  const int soon = due > as_of;
  return json_pack("{s:s, s:s, s:s, s:s, s:o, s:i, s:o, s:s, s:i}", "id", id, "child_id", child,
                   "plan_kind", kind, "plan_id", plan_id, "plan_start", json_date(start),
                   "months", months, "due", json_date(due), "state",
                   soon ? "due_soon" : "past", "days", (int)(soon ? due - as_of : as_of - due));
}

/* Whether the child's plan of alert a is still open on as_of, as its
 * derived record says now (the alert was published before any end known). */
static int plan_open(struct store *st, MDB_txn *txn, const char *la, const Alert *a,
                     csc_date as_of, struct arena *ar) {
  uint8_t key[STATE_MAX_KEY];
  char subject[HISTORY_SUBJECT_MAX]; /* the alert names the child raw; its history is escaped */
  const size_t n = history_child_subject(a->child_id, subject, sizeof subject);
  MDB_val k = {n ? store_key(key, la, subject, n + 1) : 0, key}, v;
  struct derived d;
  if (k.mv_size == 0 || mdb_get(txn, st->derived, &k, &v) != 0 ||
      derived_decode(v.mv_data, v.mv_size, ar, &d) != CSC_OK)
    return 0;
  for (size_t i = 0; i < d.n_alerts; i++) {
    const struct alert_fact *af = &d.alerts[i];
    if (af->months == a->threshold_months && strcmp(af->plan_id, a->plan_id) == 0 &&
        strcmp(plan_kind_names[af->plan_kind], a->plan_kind) == 0)
      return af->from <= as_of && as_of < af->to;
  }
  return 0;
}

/* The raised alerts of la whose plans are still open on as_of. */
static int alerts_past(struct store *st, MDB_txn *txn, const char *la, csc_date as_of,
                       json_t *list) {
  uint8_t key[STATE_MAX_KEY];
  const size_t la_len = strlen(la) + 1;
  MDB_val k = {store_key(key, la, NULL, 0), key}, v;
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, st->alerts, &cur);
  if (rc != 0)
    return store_error(rc, "cursor alerts");
  struct arena ar;
  arena_init(&ar, 16384);
  int err = CSC_OK;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && err == CSC_OK;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    if (k.mv_size < la_len || memcmp(k.mv_data, key, la_len) != 0)
      break;
    Alert *a = cscflow__v1__alert__unpack(NULL, v.mv_size, v.mv_data);
    if (a == NULL) {
      err = CSC_ESTATE;
      break;
    }
    csc_date start, due;
    arena_reset(&ar);
    if (a->status == CSCFLOW__V1__ALERT_STATUS__ALERT_STATUS_RAISED && !a->has_plan_end &&
        date_from_yyyymmdd(a->plan_start, &start) == CSC_OK &&
        date_from_yyyymmdd(a->date_crossed, &due) == CSC_OK &&
        plan_open(st, txn, la, a, as_of, &ar)) {
      json_t *j = alert_json(a->alert_id, a->child_id, a->plan_kind, a->plan_id, start,
                             (int)a->threshold_months, due, as_of);
      if (j == NULL || json_array_append_new(list, j) != 0)
        err = CSC_ENOMEM;
    }
    cscflow__v1__alert__free_unpacked(a, NULL);
  }
  mdb_cursor_close(cur);
  arena_free(&ar);
  if (err != CSC_OK)
    return err;
  return rc == 0 || rc == MDB_NOTFOUND ? CSC_OK : store_error(rc, "read alerts");
}

/* The alert calendar's entries of la due in (as_of, as_of + API_DUE_SOON_DAYS]:
 * key la\0 date id, value the alert fact then the child id. */
static int alerts_due_soon(struct store *st, MDB_txn *txn, const char *la, csc_date as_of,
                           json_t *list) {
  uint8_t key[STATE_MAX_KEY], rest[4];
  const size_t la_len = strlen(la) + 1;
  store_put_date(rest, as_of + 1);
  MDB_val k = {store_key(key, la, rest, sizeof rest), key}, v;
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, st->alertcal, &cur);
  if (rc != 0)
    return store_error(rc, "cursor alert calendar");
  int err = CSC_OK;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && err == CSC_OK;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    const uint8_t *kb = k.mv_data;
    if (k.mv_size <= la_len + 4 || memcmp(kb, key, la_len) != 0)
      break;
    const csc_date due = store_get_date(kb + la_len);
    if (due > as_of + API_DUE_SOON_DAYS)
      break;
    struct alert_fact af;
    const size_t fl = alert_fact_decode(v.mv_data, v.mv_size, &af);
    const char *child = (const char *)v.mv_data + fl;
    if (fl == 0 || v.mv_size <= fl || ((const char *)v.mv_data)[v.mv_size - 1] != '\0' ||
        k.mv_size - la_len - 4 >= STATE_MAX_KEY) {
      err = CSC_ESTATE;
      break;
    }
    char id[STATE_MAX_KEY];
    memcpy(id, kb + la_len + 4, k.mv_size - la_len - 4);
    id[k.mv_size - la_len - 4] = '\0';
    af.plan_id[sizeof af.plan_id - 1] = '\0';
    json_t *j = alert_json(id, child, plan_kind_names[af.plan_kind % PLAN_KIND_COUNT],
                           af.plan_id, af.plan_start, af.months, due, as_of);
    if (j == NULL || json_array_append_new(list, j) != 0)
      err = CSC_ENOMEM;
  }
  mdb_cursor_close(cur);
  if (err != CSC_OK)
    return err;
  return rc == 0 || rc == MDB_NOTFOUND ? CSC_OK : store_error(rc, "read alert calendar");
}

int api_alerts(struct store *st, MDB_txn *txn, const char *la, const char *status, json_t **out,
               const char **why) {
  if (status != NULL && strcmp(status, "open") != 0) {
    *why = "status must be open";
    return CSC_EINVAL;
  }
  struct la_state ls;
  json_t *doc, *list = json_array();
  int rc = list ? document(st, txn, la, &doc, &ls) : CSC_ENOMEM;
  if (rc != CSC_OK) {
    json_decref(list);
    return rc;
  }
  rc = alerts_past(st, txn, la, ls.as_of, list);
  if (rc == CSC_OK)
    rc = alerts_due_soon(st, txn, la, ls.as_of, list);
  return finish(rc, doc, "alerts", list, out);
}

/* ---- quality -------------------------------------------------------------------------- */

int api_quality(struct store *st, MDB_txn *txn, const char *la, json_t **out) {
  struct la_state ls;
  json_t *doc, *rules = json_array();
  int rc = rules ? document(st, txn, la, &doc, &ls) : CSC_ENOMEM;
  if (rc != CSC_OK) {
    json_decref(rules);
    return rc;
  }
  int64_t total = 0;
  for (int r = 0; rc == CSC_OK && r < Q_RULE_COUNT; r++) {
    int64_t count;
    rc = agg_get(st, txn, la, M_QUALITY, r, &count);
    if (rc == CSC_OK && json_array_append_new(rules, json_pack("{s:s, s:I}", "rule",
                                                               quality_rule_ids[r], "count",
                                                               (json_int_t)count)) != 0)
      rc = CSC_ENOMEM;
    total += count;
  }
  if (rc == CSC_OK && json_object_set_new(doc, "total", json_integer((json_int_t)total)) != 0)
    rc = CSC_ENOMEM;
  return finish(rc, doc, "rules", rules, out);
}
