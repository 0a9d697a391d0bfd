/*
 * internal.h — what the engine's files share: the engine's own structure
 * and the functions one file of engine/ calls in another. Not a public
 * contract: programs and other stages use engine/engine.h only.
 *
 * A batch's path through the files:
 *
 *   sources.c      the two loops that feed batches (a file, a Kafka
 *                  consumer) call engine_apply_batch
 *   transaction.c  runs the batch in one write transaction; when input
 *                  makes it fail, splits it down to the one input that
 *                  fails alone and refuses that (a dead letter). At the
 *                  end it writes back the LAs the batch touched with their
 *                  snapshots, the positions and the status record, commits,
 *                  then logs the dead letters and publishes the outbox.
 *                  The daily tick (engine_tick) runs the same way.
 *   admit.c        each input of the batch: decoded and checked, or
 *                  dead-lettered; its LA loaded into the batch and the LA's
 *                  clock moved to it; its position noted
 *   apply.c        an admitted input applied one at a time: its history
 *                  folded, the change moved into the LA's aggregates,
 *                  alerts and findings, and into a worker's children
 *   group.c        or, with group_by_subject, the batch applied one subject
 *                  (child, worker, post) at a time, through admit.c and
 *                  apply_change/apply_dependents of apply.c
 *   outbox.c       the outbox table: output messages written in the
 *                  batch's transaction, handed to the sink after its commit
 *   status.c       the status record /readyz and /metrics read, consumer lag
 *
 * A replayed file into an empty state takes another path:
 *
 *   backfill.c     the file scanned once (admit.c), its records indexed by
 *                  subject, each subject folded once in key order (group.c's
 *                  apply_subject_values) in transactions of bounded size,
 *                  then the LAs' final snapshots (transaction.c's
 *                  finish_batch)
 *
 * Beside that path:
 *
 *   engine.c       open and close, the code lists the state was built
 *                  with, what programs read of an engine
 *   gaps.c         positions Kafka can no longer serve: offset gaps,
 *                  stopped partitions
 */
#ifndef CSCFLOW_ENGINE_INTERNAL_H
#define CSCFLOW_ENGINE_INTERNAL_H

#include <stdlib.h>
#include <time.h>

#include "engine/engine.h"

/* What a batch has of one LA. Allocated once and reused by later batches:
 * a batch keeps pointers to them (a subject group's LA), so they never
 * move when a batch meets more LAs than the last one did. */
struct batch_la {
  char la[LA_CODE_SIZE]; /* canonical code */
  struct la_state ls;
  int is_new;
  int sources_loaded;        /* sources read: the batch admitted events of the LA */
  struct la_sources sources; /* where its data came from (state.h) */
};

struct batch_position {
  const char *source;
  int32_t partition;
  int64_t next;
};

/*
 * The subjects of a grouped batch: a hash table from history key to group,
 * each group listing its inputs in arrival order (through next_input).
 * Grouping by hash and sorting only the groups costs far less than sorting
 * every input by key: a batch has several inputs per subject.
 */
struct subject_group {
  const uint8_t *key; /* la\0subject\0 (the history key), in the batch arena */
  size_t key_len;
  uint64_t hash;
  struct batch_la *la;
  size_t first, last, count; /* inputs, linked by next_input */
};

struct subject_table {
  struct subject_group *groups;
  size_t n_groups;
  size_t *slots;      /* group index + 1, or 0; a power of 2, at least twice the inputs */
  size_t n_slots;
  size_t *next_input; /* per input: the next input of its group, or SIZE_MAX */
  size_t cap_inputs;
};


/* An input partition not consumed because Kafka cannot serve the position
 * the state needs (gaps.c). */
struct partition_stop {
  char topic[STATUS_TOPIC_SIZE];
  int32_t partition;
  int64_t position;            /* the next offset the state needs */
  int64_t log_start, log_end;  /* when it was found */
};

/* The output of one transaction: messages go to the outbox table. */
struct outbox {
  struct output base;
  struct engine *e;
  MDB_txn *txn;
};

struct engine {
  struct engine_options opt;
  struct store *st;
  struct engine_stats stats;
  struct arena arena;   /* per event: the decoded event, the child's history and facts */
  struct arena batch_arena; /* per batch: the history keys of a grouped batch */
  struct subject_table subjects;  /* a grouped batch's inputs by subject */
  struct agg_pending *pending;    /* a grouped batch's aggregate changes */
  struct snapshot_memo *memo;     /* each LA's last snapshot values; NULL in a backfill */
  uint64_t next_seq;    /* next outbox key */
  uint64_t unpublished; /* first outbox key not yet handed to the sink */
  uint64_t *acked;      /* outbox entries the sink has acknowledged, to delete */
  size_t n_acked, cap_acked;
  int ack_overflow;     /* acks lost to allocation failure: entries are re-published later */
  csc_date today;       /* live clock */
  double memory_checked; /* when release_mapped_memory last looked */
  /* Nothing input controls has a fixed limit here: a batch may name any
   * number of LAs and partitions (a corrupted stream once failed every
   * batch with more than 256), so these arrays grow. */
  struct batch_la **las; /* the LAs the batch touched: n_las in use, cap_las made */
  size_t n_las, cap_las;
  struct batch_position *positions;
  size_t n_positions, cap_positions;
  struct no_population {
    char la[LA_CODE_SIZE];
    int year;
  } *no_population; /* (LA, year)s already logged as missing */
  size_t n_no_population, cap_no_population;
  /* The dead letters of the transaction in progress, logged once it
   * commits: a batch that is split and applied again must not log the
   * dead letters of an attempt that was rolled back. */
  struct dead_letter_note {
    char reason[128];
    int32_t partition;
    int64_t offset;
  } *dl_notes;
  size_t n_dl_notes, cap_dl_notes;
  /* The status record (state.h): what the next one says, except for the
   * counters, which are those carried over at open plus this engine's. */
  struct store_status status;
  struct engine_stats carried;
  int status_dirty;      /* something changed since the last record was written */
  double status_written; /* when it was (monotonic seconds) */
  double lag_checked;    /* when the consumer's assignment and lag were last read */
  /* gaps.c: the partitions stopped now, and whether the assignment must be
   * made again (librdkafka stopped fetching a partition whose position it
   * could not serve; a seek cannot restart it). */
  struct partition_stop *stops;
  size_t n_stops, cap_stops;
  int reassign;
  double reassigned; /* when it last was (monotonic seconds) */
};

static inline double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int64_t wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline csc_date london_today(void) { return date_london_from_unix_ms(wall_ms()); }

/* Grows *v (of *cap elements of size bytes) to hold at least need. */
static inline int grow(void **v, size_t *cap, size_t need, size_t size) {
  return array_grow(v, cap, need, size);
}

/* The hash of a history key (la\0subject\0) in the subject tables of a
 * grouped batch (group.c) and of a backfill (backfill.c). FNV-1a. */
static inline uint64_t history_key_hash(const uint8_t *key, size_t len) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < len; i++)
    h = (h ^ key[i]) * 1099511628211ull;
  return h ^ h >> 31;
}

/* outbox.c */
uint64_t read_be64(const uint8_t *p);
int outbox_put(struct engine *e, MDB_txn *txn, const char *topic, const void *key, size_t key_len,
               const void *value, size_t value_len, const struct sink_header *h, size_t nh);
int outbox_emit(struct output *o, const char *topic, const char *key, const void *value,
                size_t value_len);
int publish_pending(struct engine *e);
void on_ack(void *ctx, uint64_t seq, int err);
int outbox_delete_acked_in(struct engine *e, MDB_txn *txn);
int commit_acks(struct engine *e);

/* status.c */
void status_record(const struct engine *e, struct store_status *r);
void status_write(struct engine *e);
void status_open(struct engine *e);
void status_set_mode(struct engine *e, uint32_t mode);
void status_poll(struct engine *e, rd_kafka_t *rk, int idle);

/* admit.c */
/* An input admitted by admit_input: ev is NULL when it was dead-lettered. */
struct admitted {
  CaseEvent *ev;    /* in the engine's per-event arena; la_code is canonical */
  const uint8_t *pb; /* its protobuf bytes, inside the input */
  size_t pb_len;
  char subject[HISTORY_SUBJECT_MAX]; /* the escaped child, "worker:<id>" or "post:<id>" */
  struct batch_la *la;
};
int admit_input(struct engine *e, MDB_txn *txn, const struct engine_input *in, struct output *out,
                struct admitted *a);
/* Writes an input to the dead-letter topic; logged once the transaction commits. */
int dead_letter(struct engine *e, MDB_txn *txn, const struct engine_input *in,
                const char *reason);
/* The batch's view of an LA (e->las): loaded once, written back at commit. */
int batch_la(struct engine *e, MDB_txn *txn, const char *la, struct batch_la **out);
/* Moves an LA's clock forward to date, applying what falls due. */
int advance_la(struct engine *e, MDB_txn *txn, struct batch_la *b, csc_date date,
               struct output *out);
/* Notes the position after an input (e->positions), written at commit. */
int note_position(struct engine *e, const struct engine_input *in);

/* apply.c */
int apply_change(struct engine *e, MDB_txn *txn, struct batch_la *b, const char *subject,
                 const struct child_change *ch, size_t n, struct output *out);
/* After apply_change of a worker's history: re-derives and applies the
 * children allocated to the worker when the worker's leavings changed. */
int apply_dependents(struct engine *e, MDB_txn *txn, struct batch_la *b, const char *subject,
                     const struct child_change *ch, struct output *out);
/* Admits and applies one input (a batch not grouped by subject). */
int apply_one(struct engine *e, MDB_txn *txn, const struct engine_input *in,
              struct output *out);

/* gaps.c */
void gaps_on_reset(struct engine *e, const rd_kafka_message_t *m);
void gaps_reassign(struct engine *e, rd_kafka_t *rk);
void gaps_prune(struct engine *e, const rd_kafka_topic_partition_list_t *assigned);
void gaps_free(struct engine *e);
int gaps_stopped(struct engine *e, const char *topic, int32_t partition);

/* group.c */
int apply_grouped(struct engine *e, MDB_txn *txn, const struct engine_input *in, size_t n,
                  struct output *out);
/* Applies the k inputs of one subject (values, in arrival order) of LA b:
 * decoded, folded once, the change applied. The caller has reset the
 * per-event arena; values may live in it. */
int apply_subject_values(struct engine *e, MDB_txn *txn, struct batch_la *b, const char *subject,
                         const void *const *values, const size_t *value_lens, size_t k,
                         struct output *out);

/* transaction.c */
/* After a commit: hands the state's mapped pages back when they exceed the
 * budget (at most ten times a second). _now: at once, at any time. */
void release_mapped_memory(struct engine *e, double now);
void release_mapped_memory_now(struct engine *e);
/* Writes the positions and the LAs the batch touched, with a new snapshot
 * of each, in txn. */
int finish_batch(struct engine *e, MDB_txn *txn, struct output *out);
/* Logs the dead letters a transaction committed. */
void log_dead_letters(struct engine *e);
/* Adds what a transaction's output emitted to the engine's counters. */
void count_outputs(struct engine *e, const struct output *o);
/* Ends a transaction that wrote everything: the fault hook, then the
 * commit; or, when err is set (or the commit fails), the abort. Returns
 * the error, or CSC_OK when committed. */
int commit_or_abort(struct engine *e, MDB_txn *txn, int err);
/* Whether rc is a fault input can cause (splitting a batch cures it), as
 * opposed to one of the store or the machine. */
int input_fault(int rc);

/* backfill.c */
/* backfill_file's answer when a fault input caused made it empty the state
 * again: the caller replays the file in batches. */
#define BACKFILL_FALLBACK 1
/* Applies the file fs (named source; its inputs timestamped now_ms) to an
 * empty state, each subject folded once (see backfill.c). CSC_OK when
 * done, or stopped by *stop (the state then stays marked unfinished). */
int backfill_file(struct engine *e, struct file_source *fs, const char *source, int64_t now_ms,
                  volatile sig_atomic_t *stop);
/* *eligible: 1 when the state is empty, so that a replay may backfill. */
int backfill_eligible(struct engine *e, int *eligible);
/* At open: a state marked with an unfinished backfill is emptied
 * (opt.reset_unfinished_backfill) or refused with CSC_ESTATE and err. */
int backfill_unfinished(struct engine *e, char *err, size_t errlen);
void subject_table_free(struct subject_table *t);

#endif
