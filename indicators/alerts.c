/*
 * plan_duration alerts. A child's alert candidate is a plan that was still
 * open on the day it passed 6, 12 or 24 months: due on from = start +
 * months, with from < to (the plan's end). An alert is true on as-of date T
 * when its candidate exists and from <= T. That makes the set of raised
 * alerts a function of the child's facts and the clock only, never of the
 * order events arrived in: a plan whose start and end both arrive after its
 * threshold passed is raised too, exactly as if the events had arrived on
 * time. An alert is published once per status change; its plan_end is set
 * when the plan had already ended, as far as the processor knew, when the
 * message was published (a plan that ends after its alert was raised does
 * not republish it).
 *
 * A candidate due after the LA's as-of date waits in the alert calendar;
 * the clock reaching it raises the alert. The alerts table keeps the last
 * message published for each id, so that raising is once only and a
 * correction that makes a raised alert untrue publishes its withdrawal
 * under the same id.
 */
#include <stdlib.h>
#include <string.h>

#include "indicators/indicators.h"

size_t alert_id(char *buf, size_t len, const char *la, const char *child,
                const struct alert_fact *af) {
  char months[8];
  snprintf(months, sizeof months, "%dm", af->months);
  size_t n = 0;
  if (len == 0)
    return 0;
  buf[0] = '\0';
  /* child is a history subject, escaped already: appended as it is. */
  const int rc = key_append(buf, len, &n, ':', "plan_duration") ||
                 key_append(buf, len, &n, ':', la) || key_append_key(buf, len, &n, ':', child) ||
                 key_append(buf, len, &n, ':', plan_kind_names[af->plan_kind]) ||
                 key_append(buf, len, &n, ':', af->plan_id) ||
                 key_append(buf, len, &n, ':', months);
  return rc == CSC_OK ? n : 0;
}

/* The id the same alert had before ids were escaped, when it was another
 * (an id held '%' or ':') and it cannot be any alert's id now: what its
 * tombstone deletes. 0 when there is none to delete. */
static size_t legacy_alert_id(char *buf, size_t len, const char *id, const char *la,
                              const char *child, const struct alert_fact *af) {
  const int n = snprintf(buf, len, "plan_duration:%s:%s:%s:%s:%dm", la, child,
                         plan_kind_names[af->plan_kind], af->plan_id, af->months);
  if (n <= 0 || (size_t)n >= len || strcmp(buf, id) == 0 ||
      key_fields(buf, ':') == 6)
    return 0;
  return (size_t)n;
}

static int same_identity(const struct alert_fact *a, const struct alert_fact *b) {
  return a->plan_kind == b->plan_kind && a->months == b->months &&
         strcmp(a->plan_id, b->plan_id) == 0;
}

static const struct alert_fact *find_identity(const struct alert_fact *v, size_t n,
                                              const struct alert_fact *af) {
  for (size_t i = 0; i < n; i++)
    if (same_identity(&v[i], af))
      return &v[i];
  return NULL;
}

static int identical(const struct alert_fact *a, const struct alert_fact *b) {
  return same_identity(a, b) && a->plan_start == b->plan_start && a->from == b->from &&
         a->to == b->to;
}

static const struct alert_fact *find_identical(const struct alert_fact *v, size_t n,
                                               const struct alert_fact *af) {
  for (size_t i = 0; i < n; i++)
    if (identical(&v[i], af))
      return &v[i];
  return NULL;
}

/* Calendar key: la\0 + due date (biased big-endian) + alert id. */
static size_t calendar_key(uint8_t *key, const char *la, csc_date due, const char *id) {
  uint8_t rest[STATE_MAX_KEY];
  store_put_date(rest, due);
  const size_t n = strlen(id);
  if (4 + n > sizeof rest)
    return 0;
  memcpy(rest + 4, id, n);
  return store_key(key, la, rest, 4 + n);
}

/* Calendar value: the alert fact (alert_fact_write), then the child id
 * (raw, as the API shows it) with its 0 byte. child is the child's history
 * subject. */
static int book(struct store *st, MDB_txn *txn, const char *la, const char *child,
                const struct alert_fact *af, int add) {
  char id[STATE_MAX_KEY];
  uint8_t key[STATE_MAX_KEY];
  if (alert_id(id, sizeof id, la, child, af) == 0)
    return CSC_EINVAL;
  MDB_val k = {calendar_key(key, la, af->from, id), key};
  if (k.mv_size == 0)
    return CSC_EINVAL;
  int rc;
  if (add) {
    uint8_t val[ALERT_FACT_MAX + HISTORY_SUBJECT_MAX];
    const size_t fl = alert_fact_write(af, val);
    if ((rc = key_unescape(child, (char *)val + fl, HISTORY_SUBJECT_MAX)) != CSC_OK)
      return rc;
    const size_t cl = strlen((char *)val + fl) + 1;
    MDB_val v = {fl + cl, val};
    rc = mdb_put(txn, st->alertcal, &k, &v, 0);
  } else {
    rc = mdb_del(txn, st->alertcal, &k, NULL);
    if (rc == MDB_NOTFOUND)
      rc = 0;
  }
  return rc ? store_error(rc, "alert calendar") : CSC_OK;
}

/* The status of the last message published for id (0 when none). */
static int published_status(struct store *st, MDB_txn *txn, const char *la, const char *id,
                            int *status) {
  uint8_t key[STATE_MAX_KEY];
  MDB_val k = {store_key(key, la, id, strlen(id)), key}, v;
  *status = 0;
  int rc = mdb_get(txn, st->alerts, &k, &v);
  if (rc == MDB_NOTFOUND)
    return CSC_OK;
  if (rc != 0)
    return store_error(rc, "get alert");
  Alert *a = cscflow__v1__alert__unpack(NULL, v.mv_size, v.mv_data);
  if (a == NULL)
    return CSC_ESTATE;
  *status = a->status;
  cscflow__v1__alert__free_unpacked(a, NULL);
  return CSC_OK;
}

/* Publishes a tombstone for the id the alert had before ids were escaped,
 * when that differs (so the compacted topic does not keep the old key). */
static int delete_legacy(const char *id, const char *la, const char *raw_child,
                         const struct alert_fact *af, struct output *out) {
  char old[2 * STATE_MAX_KEY];
  if (legacy_alert_id(old, sizeof old, id, la, raw_child, af) == 0)
    return CSC_OK;
  return out->emit(out, TOPIC_ALERTS, old, NULL, 0);
}

static int publish(struct store *st, MDB_txn *txn, const char *la, const char *child,
                   const struct alert_fact *af, csc_date as_of, int status, struct output *out) {
  char id[STATE_MAX_KEY], kind[8], plan_id[sizeof af->plan_id], raw_child[HISTORY_SUBJECT_MAX];
  if (alert_id(id, sizeof id, la, child, af) == 0)
    return CSC_EINVAL;
  int rc = key_unescape(child, raw_child, sizeof raw_child); /* messages carry raw ids */
  if (rc != CSC_OK)
    return rc;
  snprintf(kind, sizeof kind, "%s", plan_kind_names[af->plan_kind]);
  snprintf(plan_id, sizeof plan_id, "%s", af->plan_id);
  Alert a = CSCFLOW__V1__ALERT__INIT;
  a.alert_id = id;
  a.kind = "plan_duration";
  a.la_code = (char *)la;
  a.child_id = raw_child;
  a.plan_kind = kind;
  a.plan_id = plan_id;
  a.has_threshold_months = a.has_plan_start = a.has_date_crossed = a.has_status = a.has_as_of = 1;
  a.threshold_months = af->months;
  a.plan_start = date_to_yyyymmdd(af->plan_start);
  a.date_crossed = date_to_yyyymmdd(af->from);
  a.status = (Cscflow__V1__AlertStatus)status;
  a.as_of = date_to_yyyymmdd(as_of);
  if (af->to <= as_of) {
    a.has_plan_end = 1;
    a.plan_end = date_to_yyyymmdd(af->to);
  }
  const size_t len = cscflow__v1__alert__get_packed_size(&a);
  uint8_t *buf = malloc(len ? len : 1);
  if (buf == NULL)
    return CSC_ENOMEM;
  cscflow__v1__alert__pack(&a, buf);
  uint8_t key[STATE_MAX_KEY];
  MDB_val k = {store_key(key, la, id, strlen(id)), key}, v = {len, buf};
  rc = mdb_put(txn, st->alerts, &k, &v, 0);
  int err = rc ? store_error(rc, "put alert") : delete_legacy(id, la, raw_child, af, out);
  if (err == CSC_OK)
    err = out->emit(out, TOPIC_ALERTS, id, buf, len);
  free(buf);
  if (err == CSC_OK && status == CSCFLOW__V1__ALERT_STATUS__ALERT_STATUS_RAISED)
    out->alerts_raised++;
  else if (err == CSC_OK)
    out->alerts_withdrawn++;
  return err;
}

static int raise_if_due(struct store *st, MDB_txn *txn, const char *la, const char *child,
                        const struct alert_fact *af, csc_date as_of, struct output *out) {
  if (af->from > as_of)
    return CSC_OK;
  char id[STATE_MAX_KEY];
  int status;
  if (alert_id(id, sizeof id, la, child, af) == 0)
    return CSC_EINVAL;
  int rc = published_status(st, txn, la, id, &status);
  if (rc == CSC_OK && status != CSCFLOW__V1__ALERT_STATUS__ALERT_STATUS_RAISED)
    rc = publish(st, txn, la, child, af, as_of, CSCFLOW__V1__ALERT_STATUS__ALERT_STATUS_RAISED, out);
  return rc;
}

int alerts_apply_diff(struct store *st, MDB_txn *txn, const char *la, const char *child,
                      csc_date as_of, const struct alert_fact *before, size_t n_before,
                      const struct alert_fact *after, size_t n_after, struct output *out) {
  int rc = CSC_OK;
  for (size_t i = 0; rc == CSC_OK && i < n_before; i++) {
    const struct alert_fact *o = &before[i];
    if (find_identical(after, n_after, o))
      continue;
    if (o->from > as_of)
      rc = book(st, txn, la, child, o, 0);
    const struct alert_fact *now = find_identity(after, n_after, o);
    if (rc == CSC_OK && (now == NULL || now->from > as_of)) {
      char id[STATE_MAX_KEY];
      int status;
      if (alert_id(id, sizeof id, la, child, o) == 0)
        return CSC_EINVAL;
      rc = published_status(st, txn, la, id, &status);
      if (rc == CSC_OK && status == CSCFLOW__V1__ALERT_STATUS__ALERT_STATUS_RAISED)
        rc = publish(st, txn, la, child, o, as_of,
                     CSCFLOW__V1__ALERT_STATUS__ALERT_STATUS_WITHDRAWN, out);
    }
  }
  for (size_t i = 0; rc == CSC_OK && i < n_after; i++) {
    const struct alert_fact *a = &after[i];
    if (find_identical(before, n_before, a))
      continue;
    if (a->from > as_of)
      rc = book(st, txn, la, child, a, 1);
    else
      rc = raise_if_due(st, txn, la, child, a, as_of, out);
  }
  return rc;
}

int alerts_advance(struct store *st, MDB_txn *txn, const char *la, csc_date from, csc_date to,
                   struct output *out) {
  if (to <= from)
    return CSC_OK;
  uint8_t key[STATE_MAX_KEY], here[STATE_MAX_KEY];
  MDB_val k = {calendar_key(key, la, from + 1, ""), key}, v;
  const size_t la_len = strlen(la) + 1;
  uint8_t end[STATE_MAX_KEY]; /* entries due after `to` stay booked */
  if (k.mv_size == 0 || calendar_key(end, la, to + 1, "") == 0)
    return CSC_EINVAL;
  MDB_cursor *cur;
  int rc = mdb_cursor_open(txn, st->alertcal, &cur);
  if (rc != 0)
    return store_error(rc, "cursor alert calendar");
  int err = CSC_OK;
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)) {
    if (k.mv_size < la_len + 4 || memcmp(k.mv_data, key, la_len) != 0 ||
        memcmp((uint8_t *)k.mv_data + la_len, end + la_len, 4) >= 0)
      break;
    struct alert_fact af;
    char child[HISTORY_SUBJECT_MAX], subject[HISTORY_SUBJECT_MAX];
    const size_t fl = alert_fact_decode(v.mv_data, v.mv_size, &af);
    if (fl == 0 || v.mv_size <= fl || v.mv_size - fl > sizeof child) {
      err = CSC_ESTATE;
      break;
    }
    memcpy(child, (uint8_t *)v.mv_data + fl, v.mv_size - fl);
    child[sizeof child - 1] = '\0';
    if (history_child_subject(child, subject, sizeof subject) == 0) {
      err = CSC_ESTATE; /* it was one when booked */
      break;
    }
    memcpy(here, k.mv_data, k.mv_size);
    k.mv_data = here;
    if ((rc = mdb_cursor_del(cur, 0)) != 0)
      break;
    if ((err = raise_if_due(st, txn, la, subject, &af, to, out)) != CSC_OK)
      break;
  }
  mdb_cursor_close(cur);
  if (err != CSC_OK)
    return err;
  return rc == 0 || rc == MDB_NOTFOUND ? CSC_OK : store_error(rc, "advance alerts");
}
