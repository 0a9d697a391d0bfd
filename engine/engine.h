/*
 * engine.h — the processing loop that ties the stages together: a batch of
 * raw messages in, one LMDB write transaction that applies them (state,
 * aggregates, alerts, snapshots, outbox, consumed positions), then
 * publication of the outbox through a sink.
 *
 * Exactly-once effect: a batch and the positions it consumed commit
 * together. Output messages are written to the outbox in the same
 * transaction and deleted only once the sink acknowledges them, so a crash
 * at any point loses nothing; a re-publication after a crash repeats
 * messages whose key makes them idempotent (snapshot per LA, alert id).
 */
#ifndef CSCFLOW_ENGINE_H
#define CSCFLOW_ENGINE_H

#include <signal.h>
#include <stdint.h>

#include "base/base.h"
#include "indicators/indicators.h"
#include "ingest/ingest.h"

/*
 * Test-only fault points (tests/test_crash.c kills the process at them with
 * SIGKILL, through CSCFLOW_TEST_KILL_AT, read by cli/cscflow.c only). The
 * engine calls opt.fault, when it is not NULL, at each point it passes:
 */
enum engine_fault_point {
  ENGINE_FAULT_COMMIT,    /* a batch's transaction is written, just before its commit */
  ENGINE_FAULT_COMMITTED, /* just after that commit, before its outbox is published */
  ENGINE_FAULT_PUBLISH    /* just after one outbox message is handed to the sink */
};

enum engine_clock {
  CLOCK_REPLAY, /* an LA's as-of date is the London date of the latest recorded_at read */
  CLOCK_LIVE    /* the as-of date is today in London */
};

struct engine_options {
  const char *state_dir;
  enum engine_clock clock;
  const struct population *population; /* borrowed; may be empty */
  struct sink *sink;                   /* borrowed; acknowledgements are routed to the engine */
  size_t batch_max;                    /* messages per transaction (default 5000) */
  int batch_ms;                        /* longest wait to fill a batch (default 5) */
  const struct refdata *ref;           /* borrowed; NULL: weekends-only working days,
                                          default visit intervals */
  /* Test-only: NULL in production, where each point costs one pointer test. */
  void (*fault)(void *ctx, enum engine_fault_point point);
  void *fault_ctx;
  size_t map_size; /* first LMDB map size in bytes (0: 1 GiB); it doubles when full */
  /*
   * 0: apply a batch one event at a time, in arrival order. 1: one subject
   * (child, worker, post) at a time, in key order, all of its events in the
   * batch folded once (history_apply_events); the LAs' clocks first move to
   * the latest event of the batch. The state a batch leaves is the same
   * either way. What differs is only what lived and died inside one batch:
   * an alert raised and withdrawn, a finding opened and resolved, are not
   * published; an alert raised in the batch carries the batch's as-of date.
   * Replay groups (its batch boundaries are fixed, so its outputs stay
   * reproducible); run groups only when cscflow.batch.by_child asks, since
   * its outputs would then depend on how the consumer's polls cut the
   * stream.
   */
  int group_by_subject;
  /* 0: every commit is synced to disk (MDB_NOSYNC off). 1: commits are not
   * synced; the store is synced at engine_close. A process crash loses
   * nothing either way (the page cache survives it); a machine crash may
   * undo the last commits, which the stored positions then re-read. */
  int no_sync;
  /* The LAs served (allow-list) and their canonical codes; NULL: every
   * code that meets the LA code rule is an LA of its own (ingest.h). */
  const struct la_registry *las;
  /*
   * An event whose recorded_at is more than this after its input's
   * timestamp (engine_input.timestamp_ms) is dead-lettered and never moves
   * its LA's clock (0: the default, one day). One event from 2199 would
   * otherwise move its LA's replay clock there for good.
   */
  int64_t clock_tolerance_ms;
  /* The timestamp a replayed file's inputs carry (replay's --now), in Unix
   * ms; 0: the wall clock when engine_replay_file starts. */
  int64_t file_now_ms;
  /*
   * What run does when a partition's events before the position the state
   * needs are gone from the log (retention, deleted records: an offset gap;
   * engine/gaps.c). 0 (cscflow.on_offset_gap=stop): the partition is not
   * consumed, `offset_gap` is logged and /readyz is 503 naming it, until an
   * operator decides. 1 (skip): it is consumed from the log start, logged
   * as `offset_gap_skipped`; the events in between are never applied.
   */
  int offset_gap_skip;
  /*
   * 1: engine_replay_file applies a file to an empty state as a backfill
   * (engine/backfill.c): every child's records grouped, each child folded
   * once in key order, each LA's final snapshot published; the state is
   * the one the batches would have built. Implies group_by_subject. A state
   * that is not empty is replayed in batches of batch_max as with 0.
   */
  int backfill;
  /* The records a backfill indexes before it folds them (12 bytes each,
   * plus each child's key): input beyond that is taken in segments, each
   * folded into what the earlier ones left. 0: BACKFILL_SEGMENT_DEFAULT. */
  size_t backfill_segment;
  /* The bytes of one bucket of a backfill's gather, which the fold keeps
   * mapped at a time (engine/backfill.c). 0: 64 MiB. Tests set it small
   * to fold across many buckets. */
  size_t backfill_bucket_bytes;
  /* What engine_open does with a state holding a backfill that never
   * finished (a crash, a stop): 1 (replay) empties it, so the replay
   * starts again; 0 (run) refuses it with CSC_ESTATE. */
  int reset_unfinished_backfill;
  /* What each LA's feeds carry (cscflow.feeds.<LA>; indicators.h,
   * coverage): values they cannot support are flagged unavailable. NULL:
   * every LA's feeds carry everything. Borrowed. */
  const struct coverage *coverage;
};

#define BACKFILL_SEGMENT_DEFAULT ((size_t)16 << 20)

/* Bytes of decoded long histories kept between batches (the live path). */
#define ENGINE_HISTORY_CACHE_BYTES ((size_t)64 << 20)

#define ENGINE_CLOCK_TOLERANCE_DEFAULT_MS (24 * 3600 * 1000LL)

/* One raw input message. next_position is the position to resume from once
 * this message is applied: the Kafka offset + 1, or the file offset after it. */
struct engine_input {
  const char *source; /* topic name, or "file:<path>" */
  int32_t partition;
  int64_t position;      /* of this message: Kafka offset, or file offset of the record */
  int64_t next_position;
  const void *key; /* Kafka key (LA code) or NULL */
  size_t key_len;
  const void *value;
  size_t value_len;
  /* The time the input was written to its log in Unix ms (a Kafka
   * message's timestamp; LogAppendTime makes it the broker's), or the
   * replay's --now for a file; 0: unknown, and recorded_at is not checked
   * against it. */
  int64_t timestamp_ms;
  /* 1 for a Kafka message: its key must be the canonical code of its
   * la_code (a missing key is dead-lettered too). Files have no keys. */
  int keyed;
};

struct engine_stats {
  uint64_t consumed, applied, duplicates, dead_lettered, alerts_raised, alerts_withdrawn,
      findings, findings_resolved, snapshots, batches; /* findings: opened */
  /* The largest resident memory not mapping a file (the heap: batches,
   * arenas, sums) seen after a commit. The state's map is not in it: its
   * pages belong to the page cache and are handed back after commits. */
  uint64_t peak_anon_bytes;
  /* Snapshot values computed, and kept from the LA's last snapshot because
   * nothing they read changed; the bytes the memo of those values holds
   * (indicators.h, snapshot_memo). */
  uint64_t snapshot_values_computed, snapshot_values_reused, snapshot_memo_bytes;
  /* Folds of histories the cache keeps decoded, and of them those that
   * started from the last fold's last day (state.h, child_fold_from). */
  uint64_t folds_cached, folds_resumed;
};

struct engine;

/* Opens the state store, republishes what the outbox still holds from an
 * earlier run. err says why on failure. With opt.ref, a new state records
 * the code lists of opt.ref; a state built with other lists is refused with
 * CSC_EINVAL (ENGINE_ECODES) and a code_lists_changed log line: a state
 * never mixes two versions, and a replay into an empty directory applies
 * the new lists to history. */
#define ENGINE_ECODES CSC_EINVAL
int engine_open(const struct engine_options *opt, struct engine **out, char *err, size_t errlen);
/* Flushes the sink (up to 10 s), clears acknowledged outbox entries, closes. */
void engine_close(struct engine *e);

/*
 * Applies in[0..n) and publishes the result. A bad message is
 * dead-lettered and the rest still applied. A batch that cannot be applied
 * whole (a fault input caused, such as a key too long for the store) is
 * split in two and each half applied, down to single events; a single
 * event that still cannot be applied is dead-lettered with the reason. So
 * only a fault of the store itself (I/O, memory, a broken map) returns an
 * error, and then nothing of the batch took effect.
 */
int engine_apply_batch(struct engine *e, const struct engine_input *in, size_t n);

/* Moves every LA's clock to today (live clock) and publishes what changed. */
int engine_tick(struct engine *e, csc_date today);

/* The stored next position of (source, partition), or CSC_ENOTFOUND. */
int engine_position(struct engine *e, const char *source, int32_t partition, int64_t *next);

const struct engine_stats *engine_stats(const struct engine *e);
struct store *engine_store(struct engine *e);

/* Replays a length-delimited file from the stored position, printing
 * progress on stderr every second, until the end or *stop. */
int engine_replay_file(struct engine *e, const char *path, volatile sig_atomic_t *stop);

/*
 * Consumes with consumer rk (made by kafka_consumer_new, with
 * engine_kafka_position as its position function) until *stop; or until
 * run_ms have passed, when run_ms > 0; or until idle_exit_ms pass with
 * nothing to read, when idle_exit_ms > 0. Returns 0, or the error that
 * stopped it (the failed batch did not commit).
 */
int engine_run_kafka(struct engine *e, rd_kafka_t *rk, volatile sig_atomic_t *stop, int run_ms,
                     int idle_exit_ms);
/*
 * The consumer's position function (kafka_position_fn): the stored next
 * offset of the partition, or 0 when the state holds none (the partition
 * is read from its first event, and a trimmed partition then is a gap, not
 * a silent start at its log start). It compares that position with the
 * partition's watermarks first (engine/gaps.c): a gap, or a position past
 * the log end, is decided there.
 */
int64_t engine_kafka_position(void *engine, rd_kafka_t *rk, const char *topic,
                              int32_t partition);

#endif
