/*
 * sources.c — the loops that feed batches to the engine: a length-delimited
 * file (replay) and a Kafka consumer (run). Where a Kafka partition starts,
 * and what happens when Kafka cannot serve its position, is gaps.c's.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/internal.h"

/* ---- sources -------------------------------------------------------------------- */

int engine_replay_file(struct engine *e, const char *path, volatile sig_atomic_t *stop) {
  char real[PATH_MAX], source[PATH_MAX + 8];
  struct file_source *fs;
  if (realpath(path, real) == NULL || file_source_open(real, &fs) != CSC_OK) {
    log_json(LOG_ERROR, "replay_open_failed", "\"reason\":\"cannot open input\"");
    return CSC_EIO;
  }
  snprintf(source, sizeof source, "file:%s", real);
  status_set_mode(e, STATUS_MODE_REPLAY);
  int64_t pos = 0;
  int rc = engine_position(e, source, 0, &pos);
  if (rc == CSC_OK && file_source_seek(fs, (uint64_t)pos) != CSC_OK)
    rc = CSC_EINVAL;
  else if (rc == CSC_ENOTFOUND)
    rc = CSC_OK;
  if (rc != CSC_OK) {
    file_source_close(fs);
    return rc;
  }
  if (pos > 0)
    log_json(LOG_INFO, "replay_resume", "\"position\":%lld", (long long)pos);
  /* What "now" is for the clock check: --now, else the wall clock. */
  const int64_t now_ms = e->opt.file_now_ms > 0 ? e->opt.file_now_ms : wall_ms();
  int empty = 0;
  if (e->opt.backfill && pos == 0 && (rc = backfill_eligible(e, &empty)) == CSC_OK && empty) {
    const double started = now_seconds();
    rc = backfill_file(e, fs, source, now_ms, stop);
    if (rc != BACKFILL_FALLBACK) {
      /* The batch path's last line, for whatever reads it (the bench). */
      const double t = now_seconds() - started > 1e-9 ? now_seconds() - started : 1e-9;
      const uint64_t size = file_source_size(fs), done = e->stats.consumed;
      log_json(LOG_INFO, "replay_done",
               "\"events\":%llu,\"events_per_s\":%.0f,\"window_events_per_s\":%.0f,"
               "\"elapsed_s\":%.3f,\"position\":%llu,\"size\":%llu,\"percent\":%.1f,"
               "\"dead_lettered\":%llu,\"path\":\"backfill\"",
               (unsigned long long)done, done / t, done / t, t, (unsigned long long)size,
               (unsigned long long)size, 100.0, (unsigned long long)e->stats.dead_lettered);
      file_source_close(fs);
      return rc;
    }
    rc = file_source_seek(fs, 0); /* the state is empty again: replay in batches */
  }
  if (rc != CSC_OK) {
    file_source_close(fs);
    return rc;
  }

  struct engine_input *batch = malloc(e->opt.batch_max * sizeof *batch);
  if (batch == NULL) {
    file_source_close(fs);
    return CSC_ENOMEM;
  }
  const double start = now_seconds();
  double last_report = start;
  uint64_t done = 0, reported = 0;
  const uint64_t size = file_source_size(fs);
  int more = 1;
  while (rc == CSC_OK && more && !*stop) {
    size_t n = 0;
    while (n < e->opt.batch_max) {
      const uint8_t *buf;
      size_t len;
      const uint64_t at = file_source_position(fs);
      int r = file_source_next(fs, &buf, &len);
      if (r == CSC_ENOTFOUND) {
        more = 0;
        break;
      }
      if (r != CSC_OK) {
        log_json(LOG_ERROR, "replay_truncated_record", "\"position\":%llu", (unsigned long long)at);
        rc = CSC_EINVAL;
        more = 0;
        break;
      }
      batch[n++] = (struct engine_input){source, 0, (int64_t)at, (int64_t)file_source_position(fs),
                                         NULL, 0, buf, len, now_ms, 0};
    }
    if (n > 0) {
      int r = engine_apply_batch(e, batch, n);
      if (r != CSC_OK)
        rc = r;
      done += n;
      file_source_release(fs, file_source_position(fs));
    }
    const double t = now_seconds();
    if (t - last_report >= 1.0 || !more) {
      /* The rate since the last line shows whether the cost per event
       * rises as histories grow; the rate since the start hides it. */
      const uint64_t at = file_source_position(fs);
      const double window = t - last_report > 1e-9 ? t - last_report : 1e-9;
      log_json(LOG_INFO, more ? "replay_progress" : "replay_done",
               "\"events\":%llu,\"events_per_s\":%.0f,\"window_events_per_s\":%.0f,"
               "\"elapsed_s\":%.3f,\"position\":%llu,\"size\":%llu,\"percent\":%.1f,"
               "\"dead_lettered\":%llu",
               (unsigned long long)done, done / (t - start > 1e-9 ? t - start : 1e-9),
               (double)(done - reported) / window, t - start, (unsigned long long)at,
               (unsigned long long)size, size ? 100.0 * (double)at / (double)size : 100.0,
               (unsigned long long)e->stats.dead_lettered);
      last_report = t;
      reported = done;
    }
    e->opt.sink->poll(e->opt.sink, 0);
  }
  free(batch);
  file_source_close(fs);
  return rc;
}

int engine_run_kafka(struct engine *e, rd_kafka_t *rk, volatile sig_atomic_t *stop, int run_ms,
                     int idle_exit_ms) {
  rd_kafka_message_t **msgs = malloc(e->opt.batch_max * sizeof *msgs);
  struct engine_input *batch = malloc(e->opt.batch_max * sizeof *batch);
  if (msgs == NULL || batch == NULL) {
    free(msgs);
    free(batch);
    return CSC_ENOMEM;
  }
  int rc = CSC_OK;
  const double started = now_seconds();
  double idle_since = started;
  status_set_mode(e, STATUS_MODE_RUN);
  while (rc == CSC_OK && !*stop && (run_ms <= 0 || (now_seconds() - started) * 1000 < run_ms)) {
    size_t n = 0;
    double deadline = 0;
    while (n < e->opt.batch_max) {
      /* Wait up to 100 ms for the first message, then at most batch_ms for
       * the rest of the batch: latency stays bounded at low rates. */
      int wait_ms = 100;
      if (n > 0) {
        const double left = deadline - now_seconds();
        wait_ms = left > 0 ? (int)(left * 1000) : 0;
      }
      rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, wait_ms);
      if (m == NULL)
        break;
      if (m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET)
          gaps_on_reset(e, m); /* a position Kafka cannot serve: gaps.c decides */
        else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
          log_json(LOG_WARN, "kafka_consume_error", "\"error\":\"%s\"", rd_kafka_err2str(m->err));
        rd_kafka_message_destroy(m);
        continue;
      }
      if (n == 0)
        deadline = now_seconds() + e->opt.batch_ms / 1000.0;
      msgs[n] = m;
      rd_kafka_timestamp_type_t ts_type;
      const int64_t ts = rd_kafka_message_timestamp(m, &ts_type);
      batch[n] = (struct engine_input){rd_kafka_topic_name(m->rkt),
                                       m->partition,
                                       m->offset,
                                       m->offset + 1,
                                       m->key,
                                       m->key_len,
                                       m->payload,
                                       m->len,
                                       ts_type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? 0 : ts,
                                       1};
      n++;
    }
    if (e->opt.clock == CLOCK_LIVE)
      rc = engine_tick(e, london_today());
    if (rc == CSC_OK && n > 0)
      rc = engine_apply_batch(e, batch, n);
    for (size_t i = 0; i < n; i++)
      rd_kafka_message_destroy(msgs[i]);
    e->opt.sink->poll(e->opt.sink, 0);
    /* After the batch: the stored positions are those of every message
     * applied, which is where a new assignment starts. */
    if (rc == CSC_OK)
      gaps_reassign(e, rk);
    if (rc == CSC_OK)
      status_poll(e, rk, n == 0);
    if (n > 0)
      idle_since = now_seconds();
    else if (idle_exit_ms > 0 && (now_seconds() - idle_since) * 1000 >= idle_exit_ms)
      break;
  }
  free(msgs);
  free(batch);
  return rc;
}
