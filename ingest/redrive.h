/*
 * redrive.h — sending dead letters back to the input topic once their cause
 * is fixed (a new allow-list, a mapping, a longer limit): `cscflow redrive`.
 *
 * Contract:
 *   - Bounded. A run takes each partition's high watermark of the dead-letter
 *     topic when it starts and reads up to it, never further: what the engine
 *     dead-letters while the run goes on (a redriven event that is still bad
 *     included) is left for a later, explicit run. Nothing loops by itself.
 *   - Selection. A dead letter is selected when its `reason` header starts
 *     with filter.reason (a prefix: the whole reason is an exact match; NULL
 *     selects every reason) and its message timestamp lies in
 *     [filter.from_ms, filter.until_ms). Every other dead letter read is
 *     "left" on the topic, untouched.
 *   - What is sent. Each selected dead letter goes to the input topic with
 *     its original key (none if it had none) and value bytes, partitioned by
 *     murmur2_random (the partitioner of every cscflow producer, so it lands
 *     on its LA's partition), from an idempotent producer, with the headers
 *       redriven.from           "<dlq partition>:<dlq offset>"
 *       redrive.reason          the dead letter's reason
 *       redrive.source.topic, redrive.source.partition, redrive.source.offset
 *                               where the event was first read
 *     (each redrive.* header only when the dead letter carries it).
 *     With options.rekey (`--rekey`), the key is instead the canonical code
 *     of the event's la_code under that registry (cscflow.las and
 *     cscflow.la.alias.*): after a new mapping the original key ("201") is
 *     no longer the canonical code the engine demands of a key
 *     ("E09000001"), and the event would come straight back. A value that
 *     does not unpack, or whose la_code does not resolve, keeps its
 *     original key (the engine then dead-letters it again, with the reason).
 *   - Timestamps. The input topic stamps a redriven message anew (with
 *     LogAppendTime, the broker's time of the redrive): the engine's check
 *     of recorded_at against the message timestamp judges it against then.
 *   - Memory. The run's position is committed to a consumer group, per
 *     partition, only when every message it sent is delivered: a second run
 *     with the same filter reads only what came after. The group is
 *     redrive_group_name(): one per filter, because a dead letter one filter
 *     leaves must stay there for another filter. Two different filters that
 *     both select a dead letter both send it; the engine ignores the second
 *     copy of an event it applied (same event_id) and dead-letters again one
 *     that is still bad.
 *   - Failure. A delivery that fails, a read that stalls, or a stop request
 *     commits nothing: what was sent is counted, and a later run sends it
 *     again (duplicates, ignored as above).
 */
#ifndef CSCFLOW_REDRIVE_H
#define CSCFLOW_REDRIVE_H

#include <signal.h>
#include <stdint.h>

#include "base/base.h"
#include "ingest/ingest.h"

/* A run waits at most this long for the next dead letter while it has not
 * reached every watermark, and at most REDRIVE_FLUSH_MS for the deliveries. */
#define REDRIVE_STALL_MS 30000
#define REDRIVE_FLUSH_MS 60000
/* The group prefix when cscflow.redrive.group is absent. */
#define REDRIVE_GROUP_DEFAULT "cscflow-redrive"
/* Distinct reasons counted one by one in the summary; the rest are "other". */
#define REDRIVE_MAX_REASONS 32
#define REDRIVE_REASON_MAX 80

struct redrive_filter {
  const char *reason; /* prefix of the reason header; NULL: any */
  int64_t from_ms;    /* message timestamps in [from_ms, until_ms) */
  int64_t until_ms;   /* INT64_MIN / INT64_MAX: open */
};

struct redrive_options {
  const struct config *cfg; /* bootstrap.servers and other librdkafka keys */
  const char *dlq_topic;    /* csc.events.dlq.v1 */
  const char *input_topic;  /* cscflow.topic.events */
  const char *group;        /* redrive_group_name() */
  struct redrive_filter filter;
  const struct la_registry *rekey; /* NULL: original keys */
  int stall_ms, flush_ms; /* 0: the defaults above */
  volatile sig_atomic_t *stop; /* set by a signal: finish early, commit nothing */
};

struct redrive_reason_count {
  char reason[REDRIVE_REASON_MAX + 1]; /* printable ASCII without '"' or '\\'; "other" */
  uint64_t redriven, left;
};

struct redrive_stats {
  uint64_t read;     /* dead letters read (up to the watermarks) */
  uint64_t redriven; /* selected, sent and delivered */
  uint64_t left;     /* not selected, left on the dead-letter topic */
  uint64_t failed;   /* selected but not delivered */
  uint64_t rekeyed;  /* sent with a key other than the original (rekey) */
  int32_t partitions;
  int committed; /* 1 when the group's positions were committed */
  int stopped;   /* 1 when a stop request cut the run short */
  size_t n_reasons;
  struct redrive_reason_count reasons[REDRIVE_MAX_REASONS + 1];
};

/* Parses an ISO 8601 UTC time: "YYYY-MM-DD" (midnight UTC),
 * "YYYY-MM-DDTHH:MM[:SS[.fff]]Z" (the Z, or +00:00, is required: no time
 * zone is guessed). CSC_EINVAL otherwise. */
int redrive_parse_time(const char *s, int64_t *unix_ms);

/* The consumer group of a filter: prefix alone with no filter, else
 * "<prefix>/reason=<R>/from=<ms>/until=<ms>" with the parts present, so that
 * two spellings of one time share a group. CSC_EFULL when it does not fit. */
int redrive_group_name(const char *prefix, const struct redrive_filter *f, char *out,
                       size_t outlen);

/* One run, as the contract above says. Returns CSC_OK when every selected
 * dead letter was delivered and the positions committed; CSC_EKAFKA (err
 * says why) when Kafka failed, CSC_EIO when deliveries failed or the read
 * stalled, CSC_EINVAL for a bad librdkafka property. *st is filled in every
 * case. */
int redrive_run(const struct redrive_options *o, struct redrive_stats *st, char *err,
                size_t errlen);

#endif
