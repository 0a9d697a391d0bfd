/*
 * Kafka clients. Configuration is passed through to librdkafka unchanged;
 * cscflow only sets what correctness depends on, over whatever the
 * configuration says: no auto commit and no automatic offset reset on
 * the consumer (positions live in the state store), idempotence and one
 * request in flight on the producer (each output partition keeps its order
 * through retries).
 */
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"

static int conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, char *err,
                    size_t errlen) {
  char reason[512];
  if (rd_kafka_conf_set(conf, key, value, reason, sizeof reason) != RD_KAFKA_CONF_OK) {
    snprintf(err, errlen, "%s: %s", key, reason);
    return CSC_EINVAL;
  }
  return CSC_OK;
}

void kafka_log_json(const rd_kafka_t *rk, int level, const char *facility, const char *message) {
  /* The message may hold anything a broker or the network sent: log_json
   * escapes it. */
  const enum log_level l = level <= 3 ? LOG_ERROR : level == 4 ? LOG_WARN : LOG_INFO;
  log_json(l, "kafka_log",
           "\"kafka_level\":%d,\"client\":\"%s\",\"facility\":\"%s\",\"message\":\"%s\"",
           level, rk ? rd_kafka_name(rk) : "", facility ? facility : "", message ? message : "");
}

rd_kafka_conf_t *kafka_conf_from_config(const struct config *cfg, const char *role, char *err,
                                        size_t errlen) {
  static const char *const roles[] = {"consumer.", "producer."};
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  if (conf == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  rd_kafka_conf_set_log_cb(conf, kafka_log_json);
  const size_t role_len = strlen(role);
  /* Shared keys first, role keys second, so that a role key overrides. */
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < cfg->n; i++) {
      const char *key = cfg->entries[i].key;
      if (strncmp(key, "cscflow.", 8) == 0)
        continue;
      const int is_role = strncmp(key, roles[0], 9) == 0 || strncmp(key, roles[1], 9) == 0;
      if (pass == 0 && is_role)
        continue;
      if (pass == 1) {
        if (!is_role || strncmp(key, role, role_len) != 0 || key[role_len] != '.')
          continue;
        key += role_len + 1;
      }
      if (conf_set(conf, key, cfg->entries[i].value, err, errlen) != CSC_OK) {
        rd_kafka_conf_destroy(conf);
        return NULL;
      }
    }
  }
  return conf;
}

/* ---- the producer sink ------------------------------------------------------ */

struct kafka_sink {
  struct sink base;
  rd_kafka_t *rk;
};

static void delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  (void)rk;
  struct kafka_sink *ks = opaque;
  const uint64_t seq = (uint64_t)(uintptr_t)m->_private;
  if (m->err)
    log_json(LOG_WARN, "kafka_delivery_failed", "\"topic\":\"%s\",\"error\":\"%s\"",
             rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
  if (ks->base.on_ack)
    ks->base.on_ack(ks->base.ack_ctx, seq, m->err ? CSC_EKAFKA : CSC_OK);
}

static int kafka_sink_publish(struct sink *s, const struct sink_message *m) {
  struct kafka_sink *ks = (struct kafka_sink *)s;
  rd_kafka_headers_t *hdrs = NULL;
  if (m->n_headers > 0) {
    hdrs = rd_kafka_headers_new(m->n_headers);
    for (size_t i = 0; i < m->n_headers; i++)
      rd_kafka_header_add(hdrs, m->headers[i].name, -1, m->headers[i].value, -1);
  }
  for (;;) {
    /* produceva, not producev: the headers are optional, and a conditional
     * inside producev's variable argument list would misalign it. */
    rd_kafka_vu_t vu[7];
    size_t n = 0;
    vu[n].vtype = RD_KAFKA_VTYPE_TOPIC;
    vu[n++].u.cstr = m->topic;
    vu[n].vtype = RD_KAFKA_VTYPE_KEY;
    vu[n].u.mem.ptr = (void *)m->key;
    vu[n++].u.mem.size = m->key_len;
    vu[n].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[n].u.mem.ptr = (void *)m->value;
    vu[n++].u.mem.size = m->value_len;
    vu[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[n++].u.i = RD_KAFKA_MSG_F_COPY;
    vu[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vu[n++].u.ptr = (void *)(uintptr_t)m->seq;
    if (hdrs) {
      vu[n].vtype = RD_KAFKA_VTYPE_HEADERS;
      vu[n++].u.headers = hdrs;
    }
    rd_kafka_error_t *error = rd_kafka_produceva(ks->rk, vu, n);
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (error) {
      err = rd_kafka_error_code(error);
      rd_kafka_error_destroy(error);
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
      return CSC_OK; /* the headers now belong to the message */
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      if (hdrs)
        rd_kafka_headers_destroy(hdrs);
      char fatal[256] = "";
      if (err == RD_KAFKA_RESP_ERR__FATAL)
        rd_kafka_fatal_error(ks->rk, fatal, sizeof fatal);
      log_json(LOG_ERROR, "kafka_produce_failed",
               "\"topic\":\"%s\",\"error\":\"%s\",\"fatal\":\"%s\"", m->topic,
               rd_kafka_err2str(err), fatal);
      return CSC_EKAFKA;
    }
    /* Queue full: wait for deliveries to make room, never drop. */
    rd_kafka_poll(ks->rk, 100);
  }
}

static void kafka_sink_poll(struct sink *s, int timeout_ms) {
  rd_kafka_poll(((struct kafka_sink *)s)->rk, timeout_ms);
}

static int kafka_sink_flush(struct sink *s, int timeout_ms) {
  struct kafka_sink *ks = (struct kafka_sink *)s;
  return rd_kafka_flush(ks->rk, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR ? CSC_OK : CSC_EIO;
}

static void kafka_sink_destroy(struct sink *s) {
  struct kafka_sink *ks = (struct kafka_sink *)s;
  rd_kafka_flush(ks->rk, 10000);
  rd_kafka_destroy(ks->rk);
  free(ks);
}

int kafka_sink_new(rd_kafka_conf_t *conf, struct sink **out, char *err, size_t errlen) {
  struct kafka_sink *ks = calloc(1, sizeof *ks);
  if (ks == NULL) {
    rd_kafka_conf_destroy(conf);
    snprintf(err, errlen, "out of memory");
    return CSC_ENOMEM;
  }
  /* A request that fails and is retried must not land after messages
   * produced later: a snapshot or alert would then be followed by an older
   * one of the same key, which a compacted topic keeps. Without idempotence
   * librdkafka gives no such order, even with one request in flight: the
   * next request is already built and goes out before the retry
   * (tests/test_faults.c saw snapshots go back with Produce errors, with and
   * without max.in.flight 1). The idempotent producer holds the partition
   * until the failed request is through, and writes no duplicate. One
   * request in flight on top: the mock cluster of librdkafka 2.0.2 does not
   * check the sequence numbers a real broker checks, so with more in flight
   * it takes a later request while an earlier one is being retried, and the
   * client then counts the earlier as written (the tests saw an alert lost
   * that way); outputs are small, so one request at a time costs little. */
  if (conf_set(conf, "enable.idempotence", "true", err, errlen) != CSC_OK ||
      conf_set(conf, "max.in.flight.requests.per.connection", "1", err, errlen) != CSC_OK) {
    rd_kafka_conf_destroy(conf);
    free(ks);
    return CSC_EINVAL;
  }
  rd_kafka_conf_set_dr_msg_cb(conf, delivery_report);
  rd_kafka_conf_set_opaque(conf, ks);
  ks->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
  if (ks->rk == NULL) {
    rd_kafka_conf_destroy(conf);
    free(ks);
    return CSC_EKAFKA;
  }
  ks->base.publish = kafka_sink_publish;
  ks->base.poll = kafka_sink_poll;
  ks->base.flush = kafka_sink_flush;
  ks->base.destroy = kafka_sink_destroy;
  *out = &ks->base;
  return CSC_OK;
}

rd_kafka_t *kafka_sink_handle(struct sink *s) { return ((struct kafka_sink *)s)->rk; }

/* ---- the consumer ----------------------------------------------------------- */

struct consumer_ctx {
  kafka_position_fn position_fn;
  void *ctx;
};

static void rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *parts, void *opaque) {
  struct consumer_ctx *cc = opaque;
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    for (int i = 0; i < parts->cnt; i++) {
      rd_kafka_topic_partition_t *p = &parts->elems[i];
      p->offset = cc->position_fn(cc->ctx, rk, p->topic, p->partition);
      log_json(LOG_INFO, "partition_assigned", "\"topic\":\"%s\",\"partition\":%d,\"offset\":%lld",
               p->topic, (int)p->partition, (long long)p->offset);
    }
    rd_kafka_assign(rk, parts);
  } else {
    for (int i = 0; i < parts->cnt; i++)
      log_json(LOG_INFO, "partition_revoked", "\"topic\":\"%s\",\"partition\":%d",
               parts->elems[i].topic, (int)parts->elems[i].partition);
    rd_kafka_assign(rk, NULL);
  }
}

int kafka_consumer_new(rd_kafka_conf_t *conf, const char *topic, kafka_position_fn position_fn,
                       void *ctx, rd_kafka_t **out, char *err, size_t errlen) {
  struct consumer_ctx *cc = malloc(sizeof *cc);
  if (cc == NULL) {
    rd_kafka_conf_destroy(conf);
    snprintf(err, errlen, "out of memory");
    return CSC_ENOMEM;
  }
  cc->position_fn = position_fn;
  cc->ctx = ctx;
  /* librdkafka resets a partition's position by auto.offset.reset when a
   * broker answers a Fetch with OFFSET_OUT_OF_RANGE (retention or deleted
   * records moved the log start past it, an unclean leader election cut
   * the log) or a ListOffsets fails for good. Its default, the end, skips
   * every event not yet read; the earliest offset, which cscflow used to
   * force, skips silently every event between the position and the new log
   * start (issue 14). "error" moves nothing: librdkafka stops fetching the
   * partition and reports RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET to the
   * consumer, and the engine decides (engine/gaps.c): a gap stops the
   * partition unless cscflow.on_offset_gap=skip says to go on. */
  if (conf_set(conf, "enable.auto.commit", "false", err, errlen) != CSC_OK ||
      conf_set(conf, "enable.auto.offset.store", "false", err, errlen) != CSC_OK ||
      conf_set(conf, "auto.offset.reset", "error", err, errlen) != CSC_OK) {
    rd_kafka_conf_destroy(conf);
    free(cc);
    return CSC_EINVAL;
  }
  rd_kafka_conf_set_rebalance_cb(conf, rebalance);
  rd_kafka_conf_set_opaque(conf, cc);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, errlen);
  if (rk == NULL) {
    rd_kafka_conf_destroy(conf);
    free(cc);
    return CSC_EKAFKA;
  }
  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, topic, RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (e) {
    snprintf(err, errlen, "subscribe %s: %s", topic, rd_kafka_err2str(e));
    rd_kafka_destroy(rk);
    free(cc);
    return CSC_EKAFKA;
  }
  *out = rk;
  return CSC_OK;
}

void kafka_consumer_destroy(rd_kafka_t *rk) {
  if (rk == NULL)
    return;
  struct consumer_ctx *cc = rd_kafka_opaque(rk);
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  free(cc);
}
