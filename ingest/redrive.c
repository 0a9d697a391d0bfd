/*
 * redrive.c — dead letters back to the input topic (contract in redrive.h).
 *
 * The consumer never joins its group: it assigns every partition itself at
 * the group's committed position and commits with rd_kafka_commit at the
 * end. A member that joined and left would hold the group in rebalance for
 * a session timeout, and a run has no use for a group's partition sharing:
 * one run reads every partition.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest/ingest.h"
#include "ingest/redrive.h"

#define KAFKA_TIMEOUT_MS 10000 /* metadata, watermarks, committed, commit */
#define POLL_MS 100
#define PROGRESS_MS 5000

struct part {
  int32_t id;
  int64_t start, hi; /* read [start, hi) */
  int done;
};

struct run {
  const struct redrive_options *o;
  rd_kafka_t *consumer;
  struct sink *sink;
  struct part *parts;
  int32_t n_parts;
  struct redrive_stats *st;
  uint64_t accepted, acked_ok, acked_failed, publish_failed;
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- times and group names ------------------------------------------------------ */

int redrive_parse_time(const char *s, int64_t *unix_ms) {
  char date[11];
  csc_date d;
  if (s == NULL || strlen(s) < 10)
    return CSC_EINVAL;
  memcpy(date, s, 10);
  date[10] = '\0';
  if (date_parse(date, &d) != CSC_OK)
    return CSC_EINVAL;
  const char *p = s + 10;
  int h = 0, mi = 0, sec = 0, ms = 0, used = 0;
  if (*p == 'T') {
    if (sscanf(p, "T%2d:%2d%n", &h, &mi, &used) != 2 || used != 6)
      return CSC_EINVAL;
    p += used;
    if (*p == ':') {
      if (sscanf(p, ":%2d%n", &sec, &used) != 1 || used != 3)
        return CSC_EINVAL;
      p += used;
      if (*p == '.') {
        if (sscanf(p, ".%3d%n", &ms, &used) != 1 || used != 4)
          return CSC_EINVAL;
        p += used;
      }
    }
    /* A time without a zone is refused: guessing London or UTC would move
     * the window by an hour half the year. */
    if (strcmp(p, "Z") != 0 && strcmp(p, "+00:00") != 0)
      return CSC_EINVAL;
    if (h > 23 || mi > 59 || sec > 59 || h < 0 || mi < 0 || sec < 0 || ms < 0)
      return CSC_EINVAL;
  } else if (*p != '\0') {
    return CSC_EINVAL;
  }
  *unix_ms = (((int64_t)d * 24 + h) * 60 + mi) * 60000 + sec * 1000 + ms;
  return CSC_OK;
}

int redrive_group_name(const char *prefix, const struct redrive_filter *f, char *out,
                       size_t outlen) {
  size_t n = (size_t)snprintf(out, outlen, "%s", prefix);
  if (n < outlen && f->reason != NULL)
    n += (size_t)snprintf(out + n, outlen - n, "/reason=%s", f->reason);
  if (n < outlen && f->from_ms != INT64_MIN)
    n += (size_t)snprintf(out + n, outlen - n, "/from=%" PRId64, f->from_ms);
  if (n < outlen && f->until_ms != INT64_MAX)
    n += (size_t)snprintf(out + n, outlen - n, "/until=%" PRId64, f->until_ms);
  return n < outlen ? CSC_OK : CSC_EFULL;
}

/* ---- counting by reason ----------------------------------------------------------- */

/* Reasons come from a topic anyone with write access can produce to: only
 * short printable ones are named in the summary, the rest count as "other". */
static int reason_printable(const char *r) {
  const size_t n = strlen(r);
  if (n == 0 || n > REDRIVE_REASON_MAX)
    return 0;
  for (const char *p = r; *p; p++)
    if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\')
      return 0;
  return 1;
}

static struct redrive_reason_count *reason_slot(struct redrive_stats *st, const char *reason) {
  const char *name = reason[0] == '\0' ? "(none)" : reason_printable(reason) ? reason : "other";
  for (size_t i = 0; i < st->n_reasons; i++)
    if (strcmp(st->reasons[i].reason, name) == 0)
      return &st->reasons[i];
  if (st->n_reasons >= REDRIVE_MAX_REASONS)
    name = "other"; /* the spare slot, for every reason past the cap */
  for (size_t i = 0; i < st->n_reasons; i++)
    if (strcmp(st->reasons[i].reason, name) == 0)
      return &st->reasons[i];
  struct redrive_reason_count *c = &st->reasons[st->n_reasons++];
  snprintf(c->reason, sizeof c->reason, "%s", name);
  return c;
}

/* ---- the clients -------------------------------------------------------------------- */

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err,
                    size_t errlen) {
  char reason[256];
  if (rd_kafka_conf_set(conf, key, value, reason, sizeof reason) == RD_KAFKA_CONF_OK)
    return CSC_OK;
  snprintf(err, errlen, "%s: %s", key, reason);
  return CSC_EINVAL;
}

static void on_ack(void *ctx, uint64_t seq, int err) {
  (void)seq;
  struct run *r = ctx;
  if (err == CSC_OK)
    r->acked_ok++;
  else
    r->acked_failed++;
}

/* The producer keys as every cscflow producer does (murmur2_random: an LA's
 * events share a partition, as the Java clients would put them); the sink
 * adds idempotence and one request in flight. */
static int open_producer(struct run *r, char *err, size_t errlen) {
  rd_kafka_conf_t *conf = kafka_conf_from_config(r->o->cfg, "producer", err, errlen);
  if (conf == NULL)
    return CSC_EINVAL;
  if (conf_set(conf, "partitioner", "murmur2_random", err, errlen) != CSC_OK) {
    rd_kafka_conf_destroy(conf);
    return CSC_EINVAL;
  }
  const int rc = kafka_sink_new(conf, &r->sink, err, errlen);
  if (rc == CSC_OK) {
    r->sink->on_ack = on_ack;
    r->sink->ack_ctx = r;
  }
  return rc;
}

static int open_consumer(struct run *r, char *err, size_t errlen) {
  rd_kafka_conf_t *conf = kafka_conf_from_config(r->o->cfg, "consumer", err, errlen);
  if (conf == NULL)
    return CSC_EINVAL;
  /* The group is the redrive's own, whatever group.id the engine's config
   * names; positions move only by the explicit commit after delivery. */
  if (conf_set(conf, "group.id", r->o->group, err, errlen) != CSC_OK ||
      conf_set(conf, "enable.auto.commit", "false", err, errlen) != CSC_OK ||
      conf_set(conf, "enable.auto.offset.store", "false", err, errlen) != CSC_OK ||
      conf_set(conf, "auto.offset.reset", "earliest", err, errlen) != CSC_OK ||
      conf_set(conf, "enable.partition.eof", "false", err, errlen) != CSC_OK) {
    rd_kafka_conf_destroy(conf);
    return CSC_EINVAL;
  }
  r->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
  if (r->consumer == NULL) {
    rd_kafka_conf_destroy(conf);
    return CSC_EKAFKA;
  }
  rd_kafka_poll_set_consumer(r->consumer);
  return CSC_OK;
}

/* ---- where to read: partitions, watermarks, the group's positions ---------------------- */

static int find_partitions(struct run *r, char *err, size_t errlen) {
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(r->consumer, r->o->dlq_topic, NULL);
  if (rkt == NULL) {
    snprintf(err, errlen, "%s: %s", r->o->dlq_topic, rd_kafka_err2str(rd_kafka_last_error()));
    return CSC_EKAFKA;
  }
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t e = rd_kafka_metadata(r->consumer, 0, rkt, &md, KAFKA_TIMEOUT_MS);
  if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1)
    e = md->topics[0].err;
  int rc = CSC_OK;
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    snprintf(err, errlen, "metadata of %s: %s", r->o->dlq_topic, rd_kafka_err2str(e));
    rc = CSC_EKAFKA;
  } else {
    const int n = md->topics[0].partition_cnt;
    r->parts = calloc(n > 0 ? (size_t)n : 1, sizeof *r->parts);
    if (r->parts == NULL) {
      rc = CSC_ENOMEM;
      snprintf(err, errlen, "out of memory");
    } else {
      for (int i = 0; i < n; i++)
        r->parts[i].id = md->topics[0].partitions[i].id;
      r->n_parts = n;
    }
  }
  if (md)
    rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  return rc;
}

static rd_kafka_topic_partition_list_t *part_list(const struct run *r) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(r->n_parts);
  for (int32_t i = 0; i < r->n_parts; i++)
    rd_kafka_topic_partition_list_add(l, r->o->dlq_topic, r->parts[i].id);
  return l;
}

/* The high watermarks first, then the committed positions: [start, hi) of
 * each partition. A position below the low watermark (retention deleted
 * what came after it) starts at the low watermark; a position past the high
 * one (the topic was recreated) starts at the beginning, with a warning. */
static int plan_reads(struct run *r, char *err, size_t errlen) {
  int64_t *lo = calloc(r->n_parts > 0 ? (size_t)r->n_parts : 1, sizeof *lo);
  if (lo == NULL)
    return CSC_ENOMEM;
  for (int32_t i = 0; i < r->n_parts; i++) {
    const rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(
        r->consumer, r->o->dlq_topic, r->parts[i].id, &lo[i], &r->parts[i].hi, KAFKA_TIMEOUT_MS);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      snprintf(err, errlen, "watermarks of %s [%d]: %s", r->o->dlq_topic, (int)r->parts[i].id,
               rd_kafka_err2str(e));
      free(lo);
      return CSC_EKAFKA;
    }
  }
  rd_kafka_topic_partition_list_t *l = part_list(r);
  rd_kafka_resp_err_t e = rd_kafka_committed(r->consumer, l, KAFKA_TIMEOUT_MS);
  for (int32_t i = 0; e == RD_KAFKA_RESP_ERR_NO_ERROR && i < r->n_parts; i++) {
    const rd_kafka_topic_partition_t *tp = &l->elems[i];
    struct part *p = &r->parts[i];
    if (tp->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      e = tp->err;
      break;
    }
    p->start = tp->offset >= 0 ? tp->offset : lo[i];
    if (p->start < lo[i])
      p->start = lo[i];
    if (p->start > p->hi) {
      log_json(LOG_WARN, "redrive_position_past_end",
               "\"partition\":%d,\"position\":%lld,\"high\":%lld", (int)p->id,
               (long long)p->start, (long long)p->hi);
      p->start = lo[i];
    }
    p->done = p->start >= p->hi;
  }
  rd_kafka_topic_partition_list_destroy(l);
  free(lo);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    snprintf(err, errlen, "committed positions of group %s: %s", r->o->group,
             rd_kafka_err2str(e));
    return CSC_EKAFKA;
  }
  return CSC_OK;
}

static int assign_reads(struct run *r, char *err, size_t errlen) {
  rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(r->n_parts);
  for (int32_t i = 0; i < r->n_parts; i++)
    if (!r->parts[i].done)
      rd_kafka_topic_partition_list_add(l, r->o->dlq_topic, r->parts[i].id)->offset =
          r->parts[i].start;
  const rd_kafka_resp_err_t e = rd_kafka_assign(r->consumer, l);
  rd_kafka_topic_partition_list_destroy(l);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    snprintf(err, errlen, "assign %s: %s", r->o->dlq_topic, rd_kafka_err2str(e));
    return CSC_EKAFKA;
  }
  return CSC_OK;
}

/* ---- one dead letter ------------------------------------------------------------------- */

/* Header name's last value as a string in buf ("" when absent; cut at
 * buflen - 1 bytes and at the first NUL). Returns 1 when present. */
static int header_string(rd_kafka_headers_t *h, const char *name, char *buf, size_t buflen) {
  const void *v = NULL;
  size_t n = 0;
  buf[0] = '\0';
  if (h == NULL || rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return 0;
  if (n >= buflen)
    n = buflen - 1;
  if (v != NULL)
    memcpy(buf, v, n);
  buf[n] = '\0';
  return 1;
}

static int selected(const struct redrive_filter *f, const char *reason, int64_t ts) {
  if (f->reason != NULL && strncmp(reason, f->reason, strlen(f->reason)) != 0)
    return 0;
  if (f->from_ms == INT64_MIN && f->until_ms == INT64_MAX)
    return 1;
  return ts >= 0 && ts >= f->from_ms && ts < f->until_ms; /* -1: no timestamp */
}

/* The canonical code of the la_code of the event in buf[0..len), into out;
 * 0 when the value does not unpack or the code does not resolve. Unpacked
 * without ingest_validate: only la_code matters here, and the engine
 * judges the rest when the event comes back. */
static int canonical_key(const struct la_registry *reg, const void *buf, size_t len, char *out,
                         size_t outlen) {
  const uint8_t *pb;
  size_t pb_len;
  uint32_t schema;
  const char *why;
  if (buf == NULL || ingest_unframe(buf, len, &pb, &pb_len, &schema, &why) != CSC_OK)
    return 0;
  CaseEvent *ev = cscflow__v1__case_event__unpack(NULL, pb_len, pb);
  if (ev == NULL)
    return 0;
  const char *canonical =
      ev->la_code != NULL && ev->la_code[0] != '\0' ? la_registry_resolve(reg, ev->la_code, &why)
                                                    : NULL;
  const int ok = canonical != NULL && strlen(canonical) < outlen;
  if (ok)
    memcpy(out, canonical, strlen(canonical) + 1);
  cscflow__v1__case_event__free_unpacked(ev, NULL);
  return ok;
}

static void send_one(struct run *r, const rd_kafka_message_t *m, rd_kafka_headers_t *h,
                     const char *reason) {
  char from[48], topic[256], part[24], offset[24];
  snprintf(from, sizeof from, "%d:%lld", (int)m->partition, (long long)m->offset);
  struct sink_header out[5] = {{"redriven.from", from}};
  size_t n = 1;
  if (reason[0] != '\0')
    out[n++] = (struct sink_header){"redrive.reason", reason};
  if (header_string(h, "source.topic", topic, sizeof topic))
    out[n++] = (struct sink_header){"redrive.source.topic", topic};
  if (header_string(h, "source.partition", part, sizeof part))
    out[n++] = (struct sink_header){"redrive.source.partition", part};
  if (header_string(h, "source.offset", offset, sizeof offset))
    out[n++] = (struct sink_header){"redrive.source.offset", offset};
  const void *key = m->key;
  size_t key_len = m->key ? m->key_len : 0;
  char canonical[64];
  if (r->o->rekey != NULL &&
      canonical_key(r->o->rekey, m->payload, m->len, canonical, sizeof canonical)) {
    if (key_len != strlen(canonical) || memcmp(key, canonical, key_len) != 0)
      r->st->rekeyed++;
    key = canonical;
    key_len = strlen(canonical);
  }
  const struct sink_message sm = {.topic = r->o->input_topic,
                                  .key = key,
                                  .key_len = key_len,
                                  .value = m->payload ? m->payload : "",
                                  .value_len = m->payload ? m->len : 0,
                                  .headers = out,
                                  .n_headers = n,
                                  .seq = (uint64_t)m->offset};
  if (r->sink->publish(r->sink, &sm) == CSC_OK)
    r->accepted++;
  else
    r->publish_failed++;
}

static void handle(struct run *r, const rd_kafka_message_t *m) {
  rd_kafka_headers_t *h = NULL;
  if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
    h = NULL;
  char reason[256];
  header_string(h, "reason", reason, sizeof reason);
  r->st->read++;
  struct redrive_reason_count *c = reason_slot(r->st, reason);
  if (selected(&r->o->filter, reason, rd_kafka_message_timestamp(m, NULL))) {
    c->redriven++;
    send_one(r, m, h, reason);
  } else {
    c->left++;
    r->st->left++;
  }
}

/* ---- the read loop ------------------------------------------------------------------------ */

static struct part *part_of(struct run *r, int32_t id) {
  for (int32_t i = 0; i < r->n_parts; i++)
    if (r->parts[i].id == id)
      return &r->parts[i];
  return NULL;
}

/* After an empty poll: a partition whose position reached its watermark
 * is done even if the last offsets held no message to hand out. */
static int32_t check_positions(struct run *r) {
  rd_kafka_topic_partition_list_t *l = part_list(r);
  int32_t remaining = 0;
  if (rd_kafka_position(r->consumer, l) == RD_KAFKA_RESP_ERR_NO_ERROR)
    for (int32_t i = 0; i < r->n_parts; i++)
      if (!r->parts[i].done && l->elems[i].offset >= r->parts[i].hi)
        r->parts[i].done = 1;
  for (int32_t i = 0; i < r->n_parts; i++)
    remaining += !r->parts[i].done;
  rd_kafka_topic_partition_list_destroy(l);
  return remaining;
}

static void progress(const struct run *r) {
  log_json(LOG_INFO, "redrive_progress", "\"read\":%llu,\"sent\":%llu,\"left\":%llu",
           (unsigned long long)r->st->read, (unsigned long long)r->accepted,
           (unsigned long long)r->st->left);
}

static int read_all(struct run *r, char *err, size_t errlen) {
  const int stall_ms = r->o->stall_ms > 0 ? r->o->stall_ms : REDRIVE_STALL_MS;
  int32_t remaining = check_positions(r);
  int64_t last_msg = now_ms(), last_log = last_msg;
  while (remaining > 0) {
    if (r->o->stop != NULL && *r->o->stop) {
      r->st->stopped = 1;
      return CSC_OK;
    }
    rd_kafka_message_t *m = rd_kafka_consumer_poll(r->consumer, POLL_MS);
    r->sink->poll(r->sink, 0);
    const int64_t t = now_ms();
    if (t - last_log >= PROGRESS_MS) {
      progress(r);
      last_log = t;
    }
    if (m == NULL) {
      remaining = check_positions(r);
      if (remaining > 0 && t - last_msg > stall_ms) {
        snprintf(err, errlen, "no dead letter read for %d ms before the watermarks", stall_ms);
        return CSC_EIO;
      }
      continue;
    }
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      log_json(LOG_WARN, "redrive_read_error", "\"error\":\"%s\"", rd_kafka_err2str(m->err));
    } else {
      struct part *p = part_of(r, m->partition);
      if (p != NULL && !p->done && m->offset >= p->start && m->offset < p->hi) {
        handle(r, m);
        last_msg = t;
        if (m->offset + 1 >= p->hi) {
          p->done = 1;
          remaining--;
        }
      }
    }
    rd_kafka_message_destroy(m);
  }
  return CSC_OK;
}

/* ---- delivery and commit -------------------------------------------------------------------- */

static int commit_positions(struct run *r, char *err, size_t errlen) {
  rd_kafka_topic_partition_list_t *l = part_list(r);
  for (int32_t i = 0; i < r->n_parts; i++)
    l->elems[i].offset = r->parts[i].hi;
  rd_kafka_resp_err_t e = rd_kafka_commit(r->consumer, l, 0);
  for (int32_t i = 0; e == RD_KAFKA_RESP_ERR_NO_ERROR && i < l->cnt; i++)
    e = l->elems[i].err;
  rd_kafka_topic_partition_list_destroy(l);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR__NO_OFFSET) {
    snprintf(err, errlen, "commit of group %s: %s", r->o->group, rd_kafka_err2str(e));
    return CSC_EKAFKA;
  }
  return CSC_OK;
}

/* Waits for every delivery report; counts what was not delivered. */
static int deliver(struct run *r, char *err, size_t errlen) {
  const int flush_ms = r->o->flush_ms > 0 ? r->o->flush_ms : REDRIVE_FLUSH_MS;
  r->sink->flush(r->sink, flush_ms);
  r->sink->poll(r->sink, 0);
  r->st->redriven = r->acked_ok;
  r->st->failed = r->publish_failed + (r->accepted - r->acked_ok);
  if (r->st->failed > 0) {
    snprintf(err, errlen, "%llu dead letters not delivered to %s",
             (unsigned long long)r->st->failed, r->o->input_topic);
    return CSC_EIO;
  }
  return CSC_OK;
}

int redrive_run(const struct redrive_options *o, struct redrive_stats *st, char *err,
                size_t errlen) {
  memset(st, 0, sizeof *st);
  struct run r = {.o = o, .st = st};
  int rc = open_producer(&r, err, errlen);
  if (rc == CSC_OK)
    rc = open_consumer(&r, err, errlen);
  if (rc == CSC_OK)
    rc = find_partitions(&r, err, errlen);
  if (rc == CSC_OK)
    rc = plan_reads(&r, err, errlen);
  if (rc == CSC_OK)
    rc = assign_reads(&r, err, errlen);
  st->partitions = r.n_parts;
  if (rc == CSC_OK)
    rc = read_all(&r, err, errlen);
  if (r.sink != NULL) {
    /* Even after a failed read: what was sent is counted. The first
     * error is the one reported. */
    char derr[256];
    const int drc = deliver(&r, derr, sizeof derr);
    if (rc == CSC_OK && drc != CSC_OK) {
      rc = drc;
      snprintf(err, errlen, "%s", derr);
    }
  }
  if (rc == CSC_OK && !st->stopped) {
    rc = commit_positions(&r, err, errlen);
    st->committed = rc == CSC_OK;
  }
  if (r.consumer != NULL) {
    rd_kafka_consumer_close(r.consumer);
    rd_kafka_destroy(r.consumer);
  }
  if (r.sink != NULL)
    r.sink->destroy(r.sink);
  free(r.parts);
  return rc;
}
