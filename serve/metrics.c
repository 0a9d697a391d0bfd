/*
 * metrics.c — /metrics (Prometheus text exposition format 0.0.4) and
 * /readyz (and its JSON form, which the dashboard reads), from the writer's
 * status record (state.h) and the state as one read transaction sees it.
 * Nothing here is kept between requests: a `cscflow serve` process shows
 * exactly what the writer last recorded.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "indicators/indicators.h"
#include "ingest/ingest.h"
#include "serve/serve.h"

/* A record older than this means the writer stopped or hangs (it writes one
 * at least every 5 s while it runs). */
#define STATUS_MAX_AGE_MS 30000

static void header(FILE *f, const char *name, const char *type, const char *help) {
  fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(FILE *f, const char *name, const char *help, uint64_t v) {
  header(f, name, "counter", help);
  fprintf(f, "%s %" PRIu64 "\n", name, v);
}

/* Gauges; without a sample when the value is unknown (known == 0). */
static void gauge(FILE *f, const char *name, const char *help, int known, int64_t v) {
  header(f, name, "gauge", help);
  if (known)
    fprintf(f, "%s %" PRId64 "\n", name, v);
}

static void age(FILE *f, const char *name, const char *help, int known, int64_t ms) {
  header(f, name, "gauge", help);
  if (known)
    fprintf(f, "%s %.3f\n", name, (double)ms / 1000.0);
}

/* A label value as the exposition format escapes it (backslash, quote,
 * newline), with each byte that is not well-formed UTF-8 written as U+FFFD:
 * the format is UTF-8. Only validated LA codes come here; this is the
 * second line of defence. */
static void label_value(FILE *f, const char *s) {
  const unsigned char *u = (const unsigned char *)s;
  for (size_t len = strlen(s), i = 0; i < len;) {
    const size_t n = utf8_sequence_len(u + i, len - i);
    if (u[i] == '\\' || u[i] == '"')
      fprintf(f, "\\%c", u[i]);
    else if (u[i] == '\n')
      fputs("\\n", f);
    else if (n == 0)
      fputs("\xef\xbf\xbd", f);
    else
      fwrite(u + i, 1, n, f);
    i += n ? n : 1;
  }
}

static void histogram(FILE *f, const struct store_status *s) {
  static const char name[] = "cscflow_batch_duration_seconds";
  header(f, name, "histogram",
         "Time to apply a batch: its transaction, commit and hand-off to the producer.");
  for (int i = 0; i < STATUS_LATENCY_BUCKETS; i++) {
    if (i == STATUS_LATENCY_BUCKETS - 1)
      fprintf(f, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, s->latency[i]);
    else
      fprintf(f, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name, store_status_bounds[i],
              s->latency[i]);
  }
  fprintf(f, "%s_sum %.6f\n%s_count %" PRIu64 "\n", name, (double)s->latency_sum_us / 1e6, name,
          s->latency_count);
}

static void quality_sample(FILE *f, const char *la, int rule, int64_t n) {
  fputs("cscflow_quality_findings{la=\"", f);
  label_value(f, la);
  fprintf(f, "\",rule=\"%s\"} %" PRId64 "\n", quality_rule_ids[rule], n);
}

/* Each LA's open findings by rule: the M_QUALITY aggregate, bucket = rule.
 * Series of their own for the first METRICS_LA_LABELS_MAX valid LA codes,
 * one "other" series per rule for the sum of the rest (serve.h). */
static int quality(FILE *f, struct store *st, MDB_txn *txn) {
  header(f, "cscflow_quality_findings", "gauge",
         "Open data-quality findings, by LA and rule (docs/quality-rules.md); "
         "la=\"other\" sums the LAs past the label cap.");
  MDB_cursor *cur;
  MDB_val k, v;
  int rc = mdb_cursor_open(txn, st->las, &cur);
  if (rc != 0)
    return store_error(rc, "cursor las");
  int err = CSC_OK;
  size_t labelled = 0, others = 0;
  int64_t other[Q_RULE_COUNT] = {0};
  for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && err == CSC_OK;
       rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
    /* Room for la\0 and the 4 bytes after it in an aggregate key: an LA
     * too long for one has no aggregates to show. */
    char la[STATE_MAX_KEY - 4];
    /* The key is la\0 (state.h); anything else is not an LA of ours. */
    if (k.mv_size < 2 || k.mv_size > sizeof la || ((const char *)k.mv_data)[k.mv_size - 1] != 0)
      continue;
    memcpy(la, k.mv_data, k.mv_size);
    if (strlen(la) != k.mv_size - 1)
      continue;
    const int own = labelled < METRICS_LA_LABELS_MAX && ingest_la_code_valid(la);
    labelled += own;
    others += !own;
    for (int r = 0; r < Q_RULE_COUNT && err == CSC_OK; r++) {
      int64_t n;
      err = agg_get(st, txn, la, M_QUALITY, r, &n);
      if (err == CSC_OK && own)
        quality_sample(f, la, r, n);
      else if (err == CSC_OK)
        other[r] += n;
    }
  }
  mdb_cursor_close(cur);
  if (err == CSC_OK && rc != MDB_NOTFOUND)
    err = store_error(rc, "read las");
  for (int r = 0; r < Q_RULE_COUNT && err == CSC_OK && others > 0; r++)
    quality_sample(f, "other", r, other[r]);
  return err;
}

int metrics_write(FILE *f, struct store *st, MDB_txn *txn, int64_t now_ms) {
  struct store_status s;
  int rc = store_get_status(st, txn, &s);
  const int have = rc == CSC_OK;
  if (rc == CSC_ENOTFOUND) { /* nothing recorded yet: all counts are 0 */
    memset(&s, 0, sizeof s);
    s.consumer_lag = -1;
  } else if (rc != CSC_OK) {
    return rc;
  }
  counter(f, "cscflow_events_consumed_total",
          "Input messages read, dead letters and duplicates included.", s.consumed);
  counter(f, "cscflow_events_applied_total",
          "Events applied to a history (duplicates and dead letters excluded).", s.applied);
  counter(f, "cscflow_events_dead_lettered_total",
          "Messages that could not be applied, sent to csc.events.dlq.v1.", s.dead_lettered);
  counter(f, "cscflow_events_duplicate_total",
          "Events ignored because their event_id was applied before.", s.duplicates);
  counter(f, "cscflow_alerts_raised_total", "plan_duration alerts raised.", s.alerts_raised);
  counter(f, "cscflow_findings_opened_total", "Data-quality findings opened.", s.findings_opened);
  counter(f, "cscflow_offset_gaps_total",
          "Input partitions found with events gone from the log before the position the "
          "state needs (docs/operations.md), stopped or skipped.",
          s.offset_gaps);
  counter(f, "cscflow_offset_gaps_skipped_total",
          "Offset gaps skipped by cscflow.on_offset_gap=skip: their events were never applied.",
          s.offset_gaps_skipped);
  histogram(f, &s);
  gauge(f, "cscflow_consumer_lag",
        "Messages of the assigned input partitions not applied yet, stopped partitions "
        "excluded; absent when unknown.",
        s.consumer_lag >= 0, s.consumer_lag);
  gauge(f, "cscflow_partitions_assigned", "Input partitions the consumer is assigned.", 1,
        s.partitions_assigned);
  gauge(f, "cscflow_partitions_stopped",
        "Input partitions not consumed because Kafka cannot serve the position the state needs.",
        1, s.partitions_stopped);
  age(f, "cscflow_snapshot_age_seconds",
      "Seconds since the last snapshot was built; absent before the first.",
      s.last_snapshot_ms > 0, now_ms - s.last_snapshot_ms);
  age(f, "cscflow_status_age_seconds",
      "Seconds since the writer last recorded its status; absent before the first.", have,
      now_ms - s.updated_ms);
  rc = quality(f, st, txn);
  if (rc == CSC_OK && (fflush(f) != 0 || ferror(f)))
    rc = CSC_ENOMEM; /* a memory stream that could not grow */
  return rc;
}

/* Why a stopped partition is not consumed, naming it and the offsets. */
static void stopped_why(const struct store_status *s, char *why, size_t why_len) {
  char more[64] = "";
  if (s->partitions_stopped > 1)
    snprintf(more, sizeof more, " (and %" PRIu32 " more partitions stopped)",
             s->partitions_stopped - 1);
  if (s->stopped_position < s->stopped_log_start)
    snprintf(why, why_len,
             "offset gap: partition %d of %.*s stopped: stored position %" PRId64
             ", log start %" PRId64 ": events %" PRId64 " to %" PRId64
             " are gone from the log%s",
             (int)s->stopped_partition, STATUS_TOPIC_SIZE, s->stopped_topic, s->stopped_position,
             s->stopped_log_start, s->stopped_position, s->stopped_log_start - 1, more);
  else
    snprintf(why, why_len,
             "offset out of range: partition %d of %.*s stopped: stored position %" PRId64
             " is past the log end %" PRId64 " (log start %" PRId64 ")%s",
             (int)s->stopped_partition, STATUS_TOPIC_SIZE, s->stopped_topic, s->stopped_position,
             s->stopped_log_end, s->stopped_log_start, more);
}

int ready_check(struct store *st, MDB_txn *txn, int64_t now_ms, int64_t max_lag, char *why,
                size_t why_len) {
  struct store_status s;
  const int rc = store_get_status(st, txn, &s);
  if (rc == CSC_ENOTFOUND) {
    snprintf(why, why_len, "no status recorded: the writer has not started");
    return 0;
  }
  if (rc != CSC_OK) {
    snprintf(why, why_len, "the state cannot be read");
    return 0;
  }
  if (!s.restored) {
    snprintf(why, why_len, "the state is being restored");
    return 0;
  }
  if (s.mode == STATUS_MODE_RUN) {
    const int64_t age = now_ms - s.updated_ms;
    if (age > STATUS_MAX_AGE_MS) {
      snprintf(why, why_len, "status %" PRId64 " s old: the writer is not running", age / 1000);
      return 0;
    }
    if (s.partitions_stopped > 0) {
      stopped_why(&s, why, why_len);
      return 0;
    }
    if (s.partitions_assigned == 0) {
      snprintf(why, why_len, "no partitions assigned");
      return 0;
    }
    if (s.consumer_lag < 0) {
      snprintf(why, why_len, "consumer lag unknown");
      return 0;
    }
    if (s.consumer_lag > max_lag) {
      snprintf(why, why_len, "consumer lag %" PRId64 " over %" PRId64, s.consumer_lag, max_lag);
      return 0;
    }
  }
  snprintf(why, why_len, "ready");
  return 1;
}

/* ---- the writer's state for the dashboard (GET /readyz?format=json) ------------------- */

static json_t *ms_or_null(int64_t ms) { return ms > 0 ? json_integer(ms) : json_null(); }

int ready_json(struct store *st, MDB_txn *txn, int64_t now_ms, int64_t max_lag, json_t **out) {
  char why[200];
  const int ready = ready_check(st, txn, now_ms, max_lag, why, sizeof why);
  struct store_status s;
  const int have = store_get_status(st, txn, &s) == CSC_OK;
  if (!have)
    memset(&s, 0, sizeof s);
  const char *writer;
  if (!have)
    writer = "none";
  else if (s.stopped_ms > 0)
    writer = "stopped";
  else if (now_ms - s.updated_ms > STATUS_MAX_AGE_MS)
    writer = "not_responding";
  else
    writer = "running";
  json_t *doc = json_object();
  if (doc == NULL)
    return CSC_ENOMEM;
  int bad = json_object_set_new(doc, "ready", json_boolean(ready));
  bad |= json_object_set_new(doc, "reason", json_string(why));
  bad |= json_object_set_new(doc, "live", json_boolean(ready && strcmp(writer, "running") == 0));
  bad |= json_object_set_new(doc, "writer", json_string(writer));
  bad |= json_object_set_new(
      doc, "mode",
      have ? json_string(s.mode == STATUS_MODE_RUN ? "run" : "replay") : json_null());
  bad |= json_object_set_new(doc, "now_ms", json_integer(now_ms));
  bad |= json_object_set_new(doc, "updated_ms", ms_or_null(s.updated_ms));
  bad |= json_object_set_new(doc, "last_applied_ms", ms_or_null(s.last_applied_ms));
  bad |= json_object_set_new(doc, "last_snapshot_ms", ms_or_null(s.last_snapshot_ms));
  bad |= json_object_set_new(doc, "stopped_ms", ms_or_null(s.stopped_ms));
  if (bad) {
    json_decref(doc);
    return CSC_ENOMEM;
  }
  *out = doc;
  return CSC_OK;
}
