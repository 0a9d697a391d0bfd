/*
 * state.h — the LMDB state store, each child's history, the child state
 * machine (the fold) and the child's facts.
 *
 * A *fact* is one child's contribution to one aggregate over an interval of
 * as-of dates: the aggregate's value on T is the sum of the weights of the
 * facts with from <= T < to. The fold turns a child's whole history into
 * episodes; child_facts turns the episodes into facts, alert candidates and
 * data-quality findings. Later stages only ever see the difference between a
 * child's old and new facts.
 *
 * Tables (LMDB named databases) and their keys. Every key that belongs to an
 * LA starts with the LA code and a 0 byte, so that one LA's state is one key
 * range that can be dropped and rebuilt alone:
 *   meta       "schema_version" -> u32; "pos\0<source>\0<partition>" -> next offset (i64)
 *              "code_lists_version", "code_lists" -> the code lists it was built with
 *              (store_code_lists_check)
 *              "status" -> struct store_status (the writer's counters; see the end of this file)
 *   history    la\0 subject\0 chunk  -> the subject's events, one stream of records (varint
 *                                     length and flags + protobuf less the fields the
 *                                     history already says) cut into chunks that suit
 *                                     LMDB's pages (state/history.c; chunk: u32 from 0)
 *   derived    la\0 subject\0        -> its facts, alert candidates, findings
 *              (subject: a child id, "worker:<id>" or "post:<id>", ids escaped; see history_subject)
 *   las        la\0                  -> struct la_state
 *   aggs       la\0 measure bucket   -> i64 sum on the LA's as-of date (aggs, calendar and
 *                                     ledger: i64s as zigzag varints, indicators/aggregate.c)
 *   calendar   la\0 date measure bucket -> i64 change due when the clock reaches date
 *   ledger     la\0 date measure bucket -> i64 change that fell due on date, on or before the
 *                                     LA's clock: an aggregate's sum on any past day D is its
 *                                     sum now less its ledger changes dated after D
 *   alertcal   la\0 date alert_id    -> a pending alert: its alert_fact (alert_fact_write),
 *                                     then the child id, raw, with its 0 byte
 *   alerts     la\0 alert_id         -> Alert protobuf, the last one published
 *   snapshots  la\0                  -> IndicatorSnapshot protobuf, the latest
 *   outbox     seq (u64 big-endian)  -> an output message not yet acknowledged
 *   allocidx   la\0 worker subject\0  -> the subjects of the children ever allocated to
 *                                     the worker (sorted duplicates; state/join.c)
 * Integers inside keys are big-endian so that LMDB's byte order is numeric.
 */
#ifndef CSCFLOW_STATE_H
#define CSCFLOW_STATE_H

#include <pthread.h>
#include <stdint.h>

#include <lmdb.h>

#include "base/base.h"
#include "cscflow/v1/events.pb-c.h"

typedef Cscflow__V1__CaseEvent CaseEvent;

/*
 * The version of the state's format, stored in meta "schema_version" when a
 * store is created. Every change of what the state holds or how (a table, a
 * key, a record's layout, what a value means) bumps it. A binary opens only
 * a store of its own version, reader or writer: any other is refused with
 * CSC_EDAMAGED, untouched, and the message says how to rebuild it (replay
 * the input topic, or the files it came from, into an empty directory).
 * 5: history subjects and ids inside derived records escaped (base.h,
 * key_append) and 128 bytes long; a store of version 4 is refused.
 * 6: repeat_plan's facts as the catalogue words it, and after_death (no
 * point-in-time fact of a child past its date of death; events after it
 * folded as findings only) (issue 15): a store of version 5 holds facts
 * of the old rules and is refused, not mixed. Also in 6:
 * cin_closed_after_step_down (an episode closed on the end date counts),
 * nfa_reassessed (a new assessment started), and completions (one per id,
 * repeated_completion; one dated before its start counted).
 * 7: the rest of issue 15's definitions (a store of version 6 is refused):
 * also breakdowns by code keyed by the code itself (code_bucket), not by
 * its position in a list, and the code lists' version and text in meta
 * (store_code_lists_check).
 * "Same carer" in placements_3plus and placement_changes_avg, a STARTED as
 * a case-holding statement (a caseload mark), M_DISTANCE_UNKNOWN, and a
 * leaver's allocations ending (M_WORKER_LEFT, the table allocidx).
 * LAC entries, exits and returns home counted per child (first entry, last
 * exit) and by the legal status at entry / on the last day; LAC plans open
 * (and their plan_duration alerts raised) only on days not under V3/V4;
 * placement_stability_long over the period.
 * Issue 16: A10 counts to the start of the run of T/U moves (903 RNE)
 * that ends in the placement adopted from; repeat_plan `ever` also counts a
 * CP plan recording previous_cp_plans >= 1 (NumberOfPreviousCPP).
 * 8: a smaller state (issue 17 item 3), the same values: derived records
 * in varints, ids length-prefixed (state/derived.c; they were the structs'
 * bytes, 129-byte id buffers included); histories one stream of records
 * that leave out la_code, and child_id and source_system when the record
 * before has them, cut into chunks that fill overflow pages or fit leaf
 * pages instead of one chunk per batch (state/history.c); the alert
 * calendar's alert facts in the same varints; the sums of aggs, calendar
 * and ledger as zigzag varints. A store of version 7 is refused.
 * 9: where each LA's data came from (meta "src", state/sources.c), counted
 * from the first event, so a store of version 8, which has no such count,
 * is refused rather than shown with a partial one; with it, the rules of
 * the returns and the DfE feed (issues 18, 19): continuing periods of care,
 * a return's restatements and the feed's records folded.
 */
#define STATE_SCHEMA_VERSION 9u
#define STATE_MAX_KEY 511 /* LMDB's default maximum key size */
/* The longest id kept whole in a fact (plan ids, event ids): ingest's
 * INGEST_ID_MAX, checked at compile time in state/history.c. */
#define STATE_ID_MAX 128
/* A history subject (escaped, up to 3 bytes per id byte) is part of an LMDB
 * key, so it never needs more than STATE_MAX_KEY bytes with its NUL. */
#define HISTORY_SUBJECT_MAX STATE_MAX_KEY

/* ---- the store ------------------------------------------------------------ */

struct store {
  MDB_env *env;
  MDB_dbi meta, history, derived, las, aggs, calendar, ledger, alertcal, alerts, snapshots, outbox,
      allocidx;
  pthread_rwlock_t map_lock; /* see store_read_begin */
  int lock_fd;               /* the writer's DIR/writer.lock (store_lock_writer); -1 read-only */
  unsigned page_size;        /* LMDB's page size in this file: where history cuts chunks */
  struct history_cache *cache; /* long histories kept decoded; NULL: none */
};

/*
 * The cache of decoded long histories (state/history_cache.h): a writer
 * keeps up to max_bytes of them between transactions, so that an event
 * appended to a long history does not decode it again. Off (NULL) unless
 * set; CSC_ENOMEM. Trim before each write transaction (never during one:
 * the fold's results point into the cached events); clear when the
 * histories are emptied. store_close frees it.
 */
struct history_cache;
int store_history_cache(struct store *st, size_t max_bytes);
void store_history_cache_trim(struct store *st);
void store_history_cache_clear(struct store *st);
void store_history_cache_free(struct store *st);
/* Entries used, and entries found out of date (read again), so far. */
void store_history_cache_stats(const struct store *st, uint64_t *hits, uint64_t *stale);
/* Folds of cached histories, and of them those that started from the last
 * fold's checkpoint instead of the first event (child_fold_from), so far. */
void store_history_cache_folds(const struct store *st, uint64_t *folds, uint64_t *resumed);

/*
 * Opens (creating if needed, unless read_only) the environment in directory
 * dir. Errors, with err saying why and what to do:
 *   CSC_ELOCKED   another process writes dir (a writer only; store_lock_writer);
 *   CSC_EDAMAGED  data.mdb is empty, shorter than the pages its meta page
 *                 says it holds (truncated), not an LMDB file, corrupted, or
 *                 the store has another schema version (check_schema);
 *   CSC_ENOSPC    the store could not be written (a new store on a full disk);
 *   CSC_ESTATE, CSC_EIO  anything else (permissions, not a directory, ...).
 * A refused store is left as it was: nothing is written to data.mdb before
 * every check has passed (a refused writer leaves only writer.lock).
 *
 * The file-size check is what stops a truncated data.mdb before any page of
 * it is touched: mapped pages past the end of a file raise SIGBUS, not an
 * error code. It cannot see a file truncated later, while the store is open;
 * store_install_fault_handler is the last line of defence for that.
 */
int store_open(const char *dir, int read_only, struct store **out, char *err, size_t errlen);
/* store_open with a first map size of map_size bytes (0: STORE_MAP_SIZE_DEFAULT;
 * the config key cscflow.state.map_size). A small map costs nothing but a
 * few growths (store_grow); it lets tests reach MDB_MAP_FULL on small data. */
#define STORE_MAP_SIZE_DEFAULT ((size_t)1 << 30)
int store_open_sized(const char *dir, int read_only, size_t map_size, struct store **out,
                     char *err, size_t errlen);
void store_close(struct store *st);

/*
 * One writer at a time. A writer (store_open with read_only 0: `run`,
 * `replay`, `demo`) takes an exclusive flock(2) on DIR/writer.lock, kept for
 * the store's life, and writes "PID COMMAND LINE\n" into it. A second
 * writer gets CSC_ELOCKED and err naming the holder's pid and command.
 * flock, not a pid file: the kernel releases the lock when its process ends,
 * however it ends, so the file a crashed writer leaves blocks no one.
 * Readers (read_only 1: `snapshot`, `serve`) take no lock and open beside
 * the writer, as LMDB allows. CSC_EIO / CSC_ENOSPC when the file cannot be
 * created or written. *fd is closed by store_close (via st->lock_fd).
 */
#define STORE_WRITER_LOCK "writer.lock"
#define STORE_HOLDER_MAX 512
int store_lock_writer(const char *dir, int *fd, char *err, size_t errlen);

/* Bytes free for an unprivileged user on dir's filesystem, or -1. */
int64_t store_free_bytes(const char *dir);

/*
 * The last line of defence against SIGBUS. LMDB maps data.mdb and lock.mdb;
 * a page of the map that the file cannot back (a data.mdb truncated while
 * open, a disk that fails, lock.mdb on a full disk) raises SIGBUS where
 * another API would return an error. The handler finds the faulting
 * address in /proc/self/maps: inside data.mdb it writes a state_fault log
 * line and exits with damaged_status; inside lock.mdb with
 * nospace_status; anywhere else it restores the default action (a fault
 * that is not the state's stays a crash, as before). Exiting at once is
 * safe: a fault inside a transaction is like a kill, which LMDB survives
 * with every commit before it (tests/test_crash.c). Call once, early, in a
 * program that opens a store; process-wide.
 */
int store_install_fault_handler(int damaged_status, int nospace_status);

/* Durable (the default): every commit is synced to disk before it returns.
 * Not durable (LMDB's MDB_NOSYNC): commits reach the page cache only, which
 * survives a process crash but not a machine crash; a machine crash may
 * undo the last commits but never breaks the store. Turning durability on
 * syncs what is pending. store_sync syncs now (CSC_ESTATE on failure). */
int store_set_durable(struct store *st, int durable);
int store_sync(struct store *st);

/* Unmaps the store's pages from this process's memory without losing any:
 * they stay in the kernel's page cache and are mapped again on the next
 * access. Call with no transaction open. LMDB maps the whole file, so the
 * pages a long replay has touched would otherwise all count as the
 * process's resident memory. CSC_EIO when the kernel refuses. */
int store_release_memory(struct store *st);

/* The bytes of the data file in use (up to its last page; the file itself
 * may be larger and sparse) and the number of histories (children, workers
 * and posts). */
int store_usage(struct store *st, uint64_t *bytes, uint64_t *histories);

/* A read transaction that other threads may hold while this process's
 * writer grows the map, and that adopts a map another process grew. Pair
 * each CSC_OK with store_read_end. CSC_ESTATE when LMDB refuses. */
int store_read_begin(struct store *st, MDB_txn **txn);
void store_read_end(struct store *st, MDB_txn *txn);

/* Doubles the map size. Call with no transaction open, after one failed with
 * CSC_EMAPFULL (LMDB's MDB_MAP_FULL), then retry it. The map starts at
 * 1 GiB (or the size given to store_open_sized), or at the size of an
 * existing data file if larger. */
int store_grow(struct store *st);
/* store_grow when more than three quarters of the map are in use: a batch
 * that fills the map is applied twice, so it pays to grow before. Call with
 * no transaction open. */
int store_grow_early(struct store *st);

/* The next offset to read of (source, partition), or CSC_ENOTFOUND. */
int store_get_position(struct store *st, MDB_txn *txn, const char *source, int32_t partition,
                       int64_t *next);
int store_put_position(struct store *st, MDB_txn *txn, const char *source, int32_t partition,
                       int64_t next);

/* Builds "la\0rest" into key (STATE_MAX_KEY bytes); returns its length, or 0
 * when it does not fit. rest may hold 0 bytes; rest_len counts them. */
size_t store_key(uint8_t *key, const char *la, const void *rest, size_t rest_len);

/* Dates inside keys: 4 big-endian bytes with the sign bit flipped, so that
 * LMDB's byte order is date order. */
void store_put_date(uint8_t *p, csc_date date);
csc_date store_get_date(const uint8_t *p);

/* Maps an LMDB return code to a CSC_E* code (logging the LMDB reason). */
int store_error(int mdb_rc, const char *what);

/* ---- per-LA bookkeeping --------------------------------------------------- */

struct la_state {
  csc_date as_of;          /* the LA's clock: aggregates hold the values on this date */
  uint32_t pad;
  uint64_t events_applied; /* events of this LA applied (duplicates excluded) */
};

/* CSC_ENOTFOUND for an LA never seen. */
int store_get_la(struct store *st, MDB_txn *txn, const char *la, struct la_state *out);
int store_put_la(struct store *st, MDB_txn *txn, const char *la, const struct la_state *ls);

/*
 * A backfill in progress (engine/backfill.c): meta "backfill" holds the
 * first outbox key the backfill wrote, from its first commit to its last.
 * A state that holds it is not one the streaming path could have left.
 * store_get_backfill: CSC_ENOTFOUND when no backfill is in progress.
 * store_is_empty: *empty is 1 when no LA and no history is stored.
 * store_empty: drops every LA's state (histories, facts, aggregates, the
 * calendars, the ledger, alerts, snapshots, the allocation index, the
 * sources), every stored position, the outbox from key first_seq on and the
 * backfill mark,
 * in txn; the code lists, the schema version and the status stay.
 */
int store_put_backfill(struct store *st, MDB_txn *txn, uint64_t first_seq);
int store_get_backfill(struct store *st, MDB_txn *txn, uint64_t *first_seq);
int store_del_backfill(struct store *st, MDB_txn *txn);
int store_is_empty(struct store *st, MDB_txn *txn, int *empty);
int store_empty(struct store *st, MDB_txn *txn, uint64_t first_seq);

/*
 * Where an LA's data came from (state/sources.c): per source system, and
 * for a statutory return per collection year, the events admitted and the
 * latest recording time. Meta "src\0" + LA, varints. A return's year is
 * read from its recording time (the importers record on the collection's
 * 31 March); any other source is a live feed (year 0). At most
 * LA_SOURCES_MAX entries: input names its source, so what exceeds them is
 * counted under "other" rather than growing the record.
 * store_get_sources: an LA never seen has none (CSC_OK, n 0).
 * la_sources_note: one admitted event of source_system recorded at ms.
 */
#define LA_SOURCES_MAX 32
struct la_source {
  char name[STATE_ID_MAX + 1]; /* source_system ("" when unnamed) */
  int32_t year;                       /* a return's collection year; 0: a live feed */
  uint64_t events;
  int64_t last_recorded_ms;
};
struct la_sources {
  size_t n;
  struct la_source s[LA_SOURCES_MAX];
  uint64_t other_events; /* of sources beyond LA_SOURCES_MAX */
  int64_t other_last_ms;
};
int store_get_sources(struct store *st, MDB_txn *txn, const char *la, struct la_sources *out);
int store_put_sources(struct store *st, MDB_txn *txn, const char *la, const struct la_sources *s);
void la_sources_note(struct la_sources *s, const char *source_system, int64_t recorded_ms);

/* ---- facts ---------------------------------------------------------------- */

/*
 * The measures facts contribute to. Each is a counter per bucket; a fact's
 * weight is 1 unless noted (a sum). indicators/ turns the counters into the
 * catalogue's values (docs/indicators.md). Measures are stored by number:
 * append, never reorder.
 */
enum measure {
  M_REFERRALS_12M,        /* referral date d: [d, d+12m) */
  M_REFERRALS_FYTD,       /* [d, end of d's financial year) */
  M_REREFERRALS_12M,      /* a referral within 12 months of the child's previous one */
  M_REREFERRALS_FYTD,
  M_CHILDREN_ON_PLAN,     /* bucket: enum plan_kind; one per child however many plans */
  M_PLANS_OPEN,           /* bucket: enum plan_kind; one per plan */
  M_PLANS_OPEN_OVER,      /* bucket: plan_kind * 3 + threshold index (6m, 12m, 24m) */
  M_PLACEMENTS3_FYTD,     /* looked after on T with 3+ placements during the FYTD */
  M_PLACEMENTS3_12M,      /* ... during the 12 months to T */
  M_QUALITY,              /* bucket: enum quality_rule; open findings */
  /* Activity (state/facts_activity.c) */
  M_REFERRALS_BY_SOURCE_12M, /* bucket: code_bucket(source) */
  M_REFERRAL_OUTCOME_12M,    /* bucket: enum referral_outcome */
  M_ASSESSMENTS_12M,
  M_S47_12M,
  M_ICPCS_12M,
  M_CP_STARTS_12M,           /* bucket: code_bucket(category as spelt in output), and
                                CODE_BUCKET_ALL for every plan */
  M_ASSESSMENT_FACTORS_12M,  /* bucket: code_bucket(factor) */
  M_NFA_ASSESSMENTS_12M,     /* denominator of nfa_reassessed */
  M_NFA_REASSESSED_12M,      /* bucket: 0 = within 6m, 1 = within 12m */
  /* Timeliness (state/facts_activity.c) */
  M_REFERRAL_TO_ASSESSMENT_WD, /* bucket: working days, capped at DIST_MAX */
  M_S47_TO_ICPC_WD,            /* bucket: working days, capped at DIST_MAX */
  M_CIN_DURATION_OPEN,         /* bucket: enum duration_band */
  M_CIN_DURATION_CLOSED_12M,   /* bucket: enum duration_band */
  /* Plans (state/facts_plans.c) */
  M_CHILDREN_IN_NEED,
  M_PLANS_ENDED_12M,           /* bucket: plan_kind */
  M_PLANS_ENDED_FYTD,
  M_PLANS_ENDED_OVER_12M,      /* bucket: plan_kind * 3 + threshold index */
  M_PLANS_ENDED_OVER_FYTD,
  M_PLANS_STARTED_12M,         /* bucket: plan_kind */
  M_PLANS_STARTED_FYTD,
  M_REPEAT_PLAN_12M,           /* bucket: plan_kind * 3 + (0 = 12m, 1 = 24m, 2 = ever) */
  M_REPEAT_PLAN_FYTD,
  M_SEEN_ON_TIME,              /* bucket: plan_kind */
  M_STEP_DOWN_ENDS_12M,        /* bucket: 0 = after CP, 1 = after LAC */
  M_STEP_DOWN_CLOSED_12M,
  /* Outcomes (state/facts_outcomes.c) */
  M_STABILITY_LONG_DEN,
  M_STABILITY_LONG_NUM,
  M_LAC_IN_12M,                /* looked after on some day of the window */
  M_PLACEMENT_CHANGES_12M,     /* weight: changes in the window (of such a child) */
  M_PLACEMENT_GROUP,           /* bucket: enum placement_group */
  M_DISTANCE_KNOWN,
  M_DISTANCE_OVER_20,
  M_DISTANCE_SUM,              /* weight: tenths of a mile */
  M_CARE_ENTRIES_12M,          /* bucket: 0 = UASC, 1 = not UASC, 2 = all */
  M_CARE_ENTRIES_FYTD,
  M_CARE_EXITS_12M,            /* bucket: 0 all, 1 adoption, 2 special guardianship, 3 CAO */
  M_CARE_EXITS_FYTD,
  M_REUNIFICATIONS_12M,        /* bucket: 0 = exits home, 1 = sustained */
  M_ADOPTION_COUNT_12M,        /* bucket: 0 = A1, 1 = A2, 2 = A10 */
  M_ADOPTION_DAYS_12M,         /* bucket as above; weight: days */
  M_PLACED_FOR_ADOPTION_12M,   /* bucket: 0 = all, 1 = early permanence */
  M_CARE_LEAVERS_12M,          /* bucket: 0 = contacted, 1 in touch, 2 EET, 3 suitable;
                                  LEAVER_IN_TOUCH_VALUES + i: the 903 IN_TOUCH value i */
  M_SDQ_COUNT,                 /* bucket: 0 = all, 1 = 0-13, 2 = 14-16, 3 = 17+ */
  M_SDQ_SUM,                   /* weight: score */
  M_COURT_APPLICATIONS_6M,
  /* Workforce (state/facts_workforce.c); weights in FTE x 100 unless noted */
  M_POSTS_FTE,                 /* bucket: 0 = all posts, 1 = vacant */
  M_WORKERS_FTE,               /* bucket: 0 = all, 1 = agency */
  M_LEAVERS_FTE_12M,
  M_ABSENCE_DAYS_12M,          /* weight: days */
  M_CASE_HOLDING_WORKERS,      /* weight 1 */
  M_CHILDREN_ALLOCATED,        /* weight 1, one per child */
  /* Outcomes, appended (state/facts_outcomes.c) */
  M_DISTANCE_UNKNOWN,          /* looked after on T, no known distance (or no placement) */
  M_WORKER_LEFT,               /* a worker's days as a leaver (state/join.c); not published */
  /* Reviews (state/facts_reviews.c); one per child */
  M_CP_REVIEWS_DUE,            /* on a CP plan that has lasted 3 months */
  M_CP_REVIEWS_TIMELY,         /* ... whose reviews were all held in time */
  M_LAC_REVIEWS_DUE,           /* looked after 20 working days into the period */
  M_LAC_REVIEWS_TIMELY,
  /* missing_from_care (state/facts_missing.c); bucket: 0 missing, 1 away */
  M_LAC_IN_FYTD,               /* looked after on some day of the FYTD; bucket 0 */
  M_MISSING_CHILDREN_12M,      /* one per child with an incident in the window */
  M_MISSING_CHILDREN_FYTD,
  M_MISSING_INCIDENTS_12M,     /* one per incident */
  M_MISSING_INCIDENTS_FYTD,
  /* sw_diversity (state/facts_workforce.c); weight FTE x 100 */
  M_DIVERSITY_FTE,             /* bucket: DIVERSITY_BUCKET(seniority, group) */
  M_COUNT
};

/* Distributions in working days keep one bucket per day up to DIST_MAX
 * (everything longer in DIST_MAX). */
#define DIST_MAX 400

enum referral_outcome { OUT_NFA, OUT_EH, OUT_CIN, OUT_CP, OUT_LAC, OUT_PENDING, OUT_COUNT };
enum duration_band { DUR_UNDER_3M, DUR_3_6M, DUR_6_12M, DUR_1_2Y, DUR_2Y_PLUS, DUR_COUNT };
enum placement_group {
  PG_FOSTER, PG_ADOPTION, PG_RESIDENTIAL, PG_SECURE, PG_PARENTS, PG_INDEPENDENT, PG_OTHER,
  PG_COUNT
};

enum plan_kind { PLAN_EH, PLAN_CIN, PLAN_CP, PLAN_LAC, PLAN_KIND_COUNT };

/* The SSDA903 IN_TOUCH values of care_leavers, in the order of their
 * buckets of M_CARE_LEAVERS_12M (from LEAVER_IN_TOUCH_VALUES): "YES", "NO",
 * "REFU", "NREQ", "RHOM", "DIED". Stored by number: append, never reorder. */
/* sw_diversity's ethnic groups (DfE's five major groups and not known) and
 * seniority levels (0: all levels; then Cscflow__V1__Seniority 1..3); group
 * DIVERSITY_ALL_GROUPS is every group of a level (its denominator). */
enum ethnic_group { EG_WHITE, EG_MIXED, EG_ASIAN, EG_BLACK, EG_OTHER, EG_UNKNOWN, EG_COUNT };
extern const char *const ethnic_group_names[EG_COUNT];
#define DIVERSITY_ALL_GROUPS 7
#define DIVERSITY_BUCKET(seniority, group) ((seniority) * 8 + (group))
int ethnic_group_of(const char *ethnicity_code);
#define LEAVER_IN_TOUCH_VALUES 4
#define LEAVER_IN_TOUCH_COUNT 6
extern const char *const leaver_in_touch_codes[LEAVER_IN_TOUCH_COUNT];
extern const char *const plan_kind_names[PLAN_KIND_COUNT]; /* "EH", "CIN", "CP", "LAC" */

/* Thresholds of open_plans_over and of the plan_duration alert, in months. */
#define N_THRESHOLDS 3
extern const int plan_thresholds[N_THRESHOLDS]; /* 6, 12, 24 */

struct fact {
  uint16_t measure;
  uint16_t bucket;
  int32_t weight;
  csc_date from, to;
};

/* A plan that passes a threshold while open: pending from `from` (start +
 * months) until `to` (the plan's end). */
struct alert_fact {
  uint8_t plan_kind;
  uint8_t months;
  uint16_t pad;
  csc_date plan_start, from, to;
  char plan_id[STATE_ID_MAX + 1]; /* raw, as received */
};

/* ---- data-quality rules --------------------------------------------------- */

/*
 * Each rule has a stable id (quality_rule_ids), documented with its
 * treatment in docs/quality-rules.md. New rules are appended: the numbers
 * are stored (the bucket of M_QUALITY).
 */
enum quality_rule {
  Q_END_BEFORE_START,      /* an end, closure or ceasing dated before its start */
  Q_END_WITHOUT_START,     /* an end, closure or change of something that never started */
  Q_REFERRAL_WHILE_OPEN,   /* a referral while the child's CIN episode is open */
  Q_PLACEMENT_OUTSIDE_CARE,/* a placement with no open period of care */
  Q_OVERLAPPING_PLAN,      /* a plan starting while one of the same kind is open */
  Q_DATE_BEFORE_BIRTH,     /* an event dated before the child's date of birth */
  Q_DATE_AFTER_RECORDED,   /* occurred_on after the day the case system recorded it */
  Q_UNKNOWN_CODE,          /* a code the DfE guides do not define */
  Q_IMPLAUSIBLE_DATE,      /* occurred_on before 1900: the event is not folded */
  Q_AFTER_DEATH,           /* dated after the child's date of death: the event is not folded */
  Q_REPEATED_COMPLETION,   /* a second completion of an assessment or S47 enquiry: not counted */
  Q_REVIEW_OUTSIDE_PLAN,   /* a review of a CP plan or period of care not open on its date */
  Q_MISSING_OUTSIDE_CARE,  /* a missing or away episode that starts with no period of care open */
  Q_PERIOD_START_UNKNOWN,  /* a continuing period of care joined to no open period: its start is
                              unknown (SSDA903 import; state/fold.c) */
  Q_RULE_COUNT
};
extern const char *const quality_rule_ids[Q_RULE_COUNT];

struct finding {
  uint16_t rule;
  char event_id[STATE_ID_MAX + 1]; /* raw, as received */
};

/* ---- the child state machine ---------------------------------------------- */

/*
 * The folded state of one history. Every pointer points into the decoded
 * events or the arena given to child_fold; nothing is owned separately.
 * A history is a child's (la\0child) or, for workforce events, a worker's
 * (la\0worker:<id>) or a post's (la\0post:<id>), ids escaped as
 * history_subject says; the sections that do not apply stay empty.
 */

/* One interval: a CIN episode, plan, period of care, placement, assessment,
 * Section 47 enquiry, worker allocation or employment. end is DATE_NEVER
 * while open. */
struct episode {
  csc_date start, end;
  const char *id;       /* the source's id (referral, plan, period, worker); "" if none */
  const char *ref;      /* what it belongs to: a plan's, assessment's or enquiry's
                           referral id; a placement's period id; "" if none */
  const char *code;     /* at the start: referral source, initial category of
                           abuse, legal status, placement type */
  const char *end_code; /* at the end: closure reason, latest category of
                           abuse, reason episode ceased */
  const char *extra;    /* placement provider; period's category of need */
  const char *reason;   /* reason for the placement change that began it;
                           CP plan or early help end reason */
  const char *start_event; /* event_id of the event that opened it */
  const char *rne;      /* placement: the SSDA903 reason for new episode of the
                           change that began it ("" if not recorded) */
  csc_date due;         /* S47 enquiry: the ICPC's target date (DATE_NEVER if none) */
  uint32_t value;       /* assessment or S47 outcome (enum value); placement
                           distance in tenths of a mile; employment FTE x 100;
                           a care span's period (index in plans[PLAN_LAC]);
                           CP plan: previous CP plans (EP_PREVIOUS_RECORDED);
                           missing episode: Cscflow__V1__MissingKind */
  uint32_t flags;       /* EP_* */
  char **factors;       /* assessment factors (the event's array) */
  size_t n_factors;
};
#define EP_SHORT_BREAKS 1u  /* period of care under V3/V4 only: not a looked-after plan */
#define EP_REREFERRAL 2u    /* referral within 12 months of the previous one */
#define EP_NFA 4u           /* referral closed with no further action */
#define EP_UASC 8u          /* period of care of an unaccompanied asylum-seeking child */
#define EP_NO_START 16u     /* ended with no start recorded (assessment, enquiry) */
#define EP_DISTANCE 32u     /* placement: value holds a known distance */
#define EP_END_BEFORE_START 128u /* assessment, enquiry: completed before its start;
                                   counted, left out of timeliness */
#define EP_AGENCY 64u       /* employment through an agency */
#define EP_NFA_AT_REFERRAL 256u   /* referral: CIN census ReferralNFA recorded on it */
#define EP_ICPC_NOT_REQUIRED 512u /* S47 enquiry: ICPC not required */
#define EP_PREVIOUS_RECORDED 1024u /* CP plan: value holds the record's previous CP plans */
#define EP_START_UNKNOWN 2048u /* period of care opened by a continuing PeriodOfCareStarted: it
                                  began before start, on a day unknown; no entry to care */
/* Employment: the worker's seniority (Cscflow__V1__Seniority, 0..3) in bits 16-17. */
#define EP_SENIORITY_SHIFT 16
#define EP_SENIORITY(flags) (((flags) >> EP_SENIORITY_SHIFT) & 3u)

/* One dated record: a strategy discussion, ICPC, visit, legal status,
 * adoption step, court application, permanence order, care leaver contact,
 * SDQ score, absence, caseload or post status. Field use per list below. */
struct mark {
  csc_date date;
  const char *id;   /* referral (strategy), enquiry (ICPC), plan (visit), period (legal status) */
  const char *code; /* legal status; care leaver activity code */
  const char *code2;/* care leaver accommodation code; legal status: its RNE;
                       previous permanence: LA_PERM */
  const char *code3;/* care leaver in-touch code (SSDA903 IN_TOUCH) */
  uint32_t value;   /* see the list */
  uint32_t flags;   /* MK_* */
};
#define MK_AGREED 1u      /* strategy: S47 agreed; ICPC: plan agreed */
#define MK_ALONE 2u       /* visit: seen alone */
#define MK_IN_TOUCH 4u    /* care leaver contact */
#define MK_SUITABLE 8u    /* care leaver accommodation suitable */
#define MK_CASE_HOLDING 16u
#define MK_EARLY_PERMANENCE 32u
#define MK_FOSTER_CARER 64u

/* An adoption journey: from the decision to adoption or reversal. Dates are
 * DATE_NEVER until reached. */
struct adoption {
  csc_date decision, placement_order, matched, placed, adopted, reversed;
  uint32_t flags; /* MK_EARLY_PERMANENCE, MK_FOSTER_CARER */
};

struct child_details {
  csc_date dob;          /* DATE_NEVER when unknown (or unborn) */
  csc_date expected_dob; /* DATE_NEVER when not recorded */
  csc_date death;        /* DATE_NEVER when not recorded (INDICATORS.md "After death") */
  csc_date uasc_ceased;  /* DATE_NEVER when not recorded (SSDA903 UASC table, DUC) */
  int sex;               /* Cscflow__V1__Sex */
  const char *ethnicity; /* "" when not recorded */
  int disabled, uasc;
};

struct child_state {
  struct child_details details;
  /* The children's social care pathway. */
  struct episode *referrals, *assessments, *enquiries, *plans[PLAN_KIND_COUNT];
  size_t n_referrals, n_assessments, n_enquiries, n_plans[PLAN_KIND_COUNT];
  struct mark *strategies, *icpcs, *visits; /* visit: value = SeenBy, MK_ALONE */
  size_t n_strategies, n_icpcs, n_visits;
  /* Care: plans[PLAN_LAC] are the periods of care. */
  struct episode *placements, *care_spans; /* spans: days looked after, V3/V4 excluded;
                                              a span's value is its period's index */
  size_t n_placements, n_care_spans;
  struct mark *legal; /* legal status in force from date: id and value (its index
                         in plans[PLAN_LAC]) name the period, code the status,
                         code2 the RNE of the change */
  size_t n_legal;
  struct mark *needs; /* category of need from date: as legal, code the need */
  size_t n_needs;
  struct mark *period_aliases; /* id = the period_id of a continuing PeriodOfCareStarted
                                  joined to an open period, value = that period's index in
                                  plans[PLAN_LAC]: the period answers to both ids */
  size_t n_period_aliases;
  struct mark *reviews; /* id = plan or period reviewed, value = Cscflow__V1__ReviewKind,
                           code = participation code, code2 = the event's id */
  size_t n_reviews;
  struct episode *missing; /* id = episode id, value = Cscflow__V1__MissingKind */
  size_t n_missing;
  struct mark *prev_permanence; /* code = PREV_PERM, code2 = LA_PERM, value = DATE_PERM
                                   as YYYYMMDD (0 if not known) */
  size_t n_prev_permanence;
  struct adoption *adoptions;
  size_t n_adoptions;
  struct mark *court, *permanence; /* value = CourtOrderKind / PermanenceKind */
  size_t n_court, n_permanence;
  struct mark *leaver_contacts; /* value = CareLeaverActivity, code, code2, MK_IN_TOUCH, MK_SUITABLE */
  size_t n_leaver_contacts;
  struct mark *sdq; /* value = score */
  size_t n_sdq;
  struct episode *allocations; /* id = worker id, ref = team id, reason = end reason */
  size_t n_allocations;
  /* Workforce histories. */
  struct episode *employments; /* value = FTE x 100, EP_AGENCY, EP_SENIORITY;
                                  code = ethnicity, extra = team id */
  size_t n_employments;
  struct mark *absences, *caseloads; /* value = days / caseload, MK_CASE_HOLDING; a
                                        STARTED is a caseload mark too (caseload 0) */
  size_t n_absences, n_caseloads;
  struct mark *post_status; /* value = FTE x 100, flags = WorkforceChange (ESTABLISHED, VACANT, FILLED) */
  size_t n_post_status;
  struct finding *findings;
  size_t n_findings;
};

/*
 * Folds events (a whole history, any order) into st, allocating from a.
 * The events are sorted in place (occurred_on, then recorded_at, then
 * event_id), so that arrival order never changes the result; the state
 * machine is documented in state/fold.c, the order of a history's fold in
 * state/fold_history.c. Codes are judged by codes (NULL:
 * none is unknown_code); categories of abuse are kept as the catalogue
 * spells them (code_spelling). Returns 0 or CSC_ENOMEM.
 */
struct code_lists;
int child_fold(CaseEvent **events, size_t n, const struct code_lists *codes, struct arena *a,
               struct child_state *st);
/*
 * child_fold, resumable (state/fold_resume.h): *resume is what an earlier
 * fold of the same history left, or NULL. When events[0..n) are that
 * history (the same decoded events, in the same stored order) with later
 * events appended that cannot change what was folded before its last day,
 * the fold starts from that day instead of the first; otherwise it folds
 * the whole history. Either way st is what child_fold gives, and *resume
 * is replaced by what this fold leaves (or NULL): the old one is freed, or
 * reused as the new one.
 * The events must outlive *resume (the history cache keeps both). With
 * resume NULL this is child_fold.
 */
struct fold_resume;
int child_fold_from(CaseEvent **events, size_t n, const struct code_lists *codes,
                    struct arena *a, struct child_state *st, struct fold_resume **resume);

/*
 * The DfE feed's ChildRecords among events[0..n), merged in receipt order
 * and expanded into the events they mean (state/record.c), after the
 * others: *out (a's memory; events itself when there is no record) and
 * *out_n. CSC_ENOMEM.
 */
int record_expand(CaseEvent **events, size_t n, struct arena *a, CaseEvent ***out,
                  size_t *out_n);

/*
 * The code lists of the DfE guides (state/codes.c), loaded from a file at
 * start (reference/code-lists.csv; its header documents the format): each
 * code of each list with the first and last collection year it is valid in
 * (0: open-ended). A collection year is named by the 31 March it ends on:
 * an event dated 1 April 2024 .. 31 March 2025 is judged by year 2025.
 * version is the FNV-1a 64-bit hash of the file's bytes (16 hex digits);
 * text the bytes themselves (recorded in the state: store_code_lists_check).
 */
enum code_list {
  CODE_REFERRAL_SOURCE, CODE_CLOSURE_REASON, CODE_ABUSE_CATEGORY, CODE_LEGAL_STATUS,
  CODE_NEED, CODE_PLACEMENT_TYPE, CODE_PROVIDER, CODE_REASON_CEASED, CODE_PLACEMENT_CHANGE,
  CODE_ASSESSMENT_FACTOR, CODE_LEAVER_ACTIVITY, CODE_LEAVER_ACCOMMODATION, CODE_ETHNICITY,
  CODE_DISABILITY, CODE_REASON_NEW_EPISODE, CODE_IN_TOUCH, CODE_PRIMARY_NEED,
  CODE_REVIEW_PARTICIPATION, CODE_PREVIOUS_PERMANENCE, CODE_SW_REASON, CODE_LIST_COUNT
};
struct code_entry {
  uint8_t list; /* enum code_list */
  char code[8];
  uint16_t first, last;
};
struct code_lists {
  struct code_entry *v; /* grouped by list, in file order within each */
  size_t n;
  size_t begin[CODE_LIST_COUNT + 1]; /* list l is v[begin[l]] .. v[begin[l + 1] - 1] */
  char *text;
  size_t text_len;
  char version[17];
};
/* Loads path (code_lists_parse of its bytes). CSC_EIO when it cannot be read;
 * CSC_EINVAL with err "path:line: reason" for a malformed line; CSC_ENOMEM.
 * On error c is left empty. */
int code_lists_load(struct code_lists *c, const char *path, char *err, size_t errlen);
/* Parses len bytes of text (copied), name naming them in err. */
int code_lists_parse(struct code_lists *c, const char *text, size_t len, const char *name,
                     char *err, size_t errlen);
void code_lists_free(struct code_lists *c);
/* "referral_source", ...: the list's name in the file; "" for no list. */
const char *code_list_name(enum code_list list);
/* True when code is in list and valid in the collection year of on; "" (not
 * recorded) is valid, and so is every code when c is NULL (no lists: no
 * code is judged). */
int code_is_known(const struct code_lists *c, enum code_list list, const char *code,
                  csc_date on);
/* Whether an event records a code its list does not hold, or holds only
 * for other collection years than on's (the unknown_code rule); 0 with no
 * lists (c NULL). */
int code_event_unknown(const struct code_lists *c, const CaseEvent *ev, csc_date on);
/* The collection year of on: the year of the 31 March that ends it. */
int code_collection_year(csc_date on);
/* The catalogue's spelling of code (INDICATORS.md "Codes in output"): the
 * CIN census's categories of abuse NEG PHY EMO SAB MUL are N P E S M; any
 * other code is itself. A fixed rule, not part of the lists. */
const char *code_spelling(enum code_list list, const char *code);
/*
 * The bucket of a breakdown by code: the code itself, packed. Codes of 1 to
 * 3 of [0-9A-Z] map one to one to 1..50652 (base 37, 0 standing for no
 * character); anything else ("" not recorded, longer, other bytes) to
 * CODE_BUCKET_OTHER. A bucket never depends on the lists, so a list change
 * never changes what a stored count means.
 */
#define CODE_BUCKET_OTHER 65534u
#define CODE_BUCKET_ALL 65535u
uint16_t code_bucket(const char *code);
/*
 * The lists a state was built with: meta "code_lists_version" (16 hex
 * digits) and "code_lists" (the file's bytes, for readers that name rows:
 * the catalogue). A state never mixes two versions.
 * store_code_lists_check: records c in a state that has none (a new one)
 * and returns CSC_OK; CSC_OK when the state's version is c's; CSC_EINVAL when
 * it differs (nothing written; recorded holds the state's version);
 * CSC_ESTATE on an LMDB failure. Needs a write transaction.
 * store_get_code_lists: the state's lists into out (code_lists_free them),
 * CSC_ENOTFOUND when it records none, CSC_ESTATE when unreadable.
 */
#define STORE_CODE_LISTS_KEY "code_lists"
#define STORE_CODE_LISTS_VERSION_KEY "code_lists_version"
struct store;
int store_code_lists_check(struct store *st, MDB_txn *txn, const struct code_lists *c,
                           char recorded[17]);
int store_get_code_lists(struct store *st, MDB_txn *txn, struct code_lists *out);
/* The distinct output spellings (code_spelling) of list's codes, in file
 * order, at most max of them into out (pointers into static strings or c). */
size_t code_list_codes(const struct code_lists *c, enum code_list list, const char **out,
                       size_t max);

/* The facts, alert candidates and findings of one child. Arrays are
 * allocated from the arena given to child_derive. */
struct derived {
  struct fact *facts;
  size_t n_facts;
  struct alert_fact *alerts;
  size_t n_alerts;
  struct finding *findings;
  size_t n_findings;
};

/* Derives a child's facts from its folded state. Facts come out sorted
 * (fact_compare) so that two sets can be diffed by merging. */
/*
 * Reference data the facts depend on, per LA: the working-day calendar and
 * the visit intervals of seen_per_plan (CIN and CP in working days, LAC in
 * days). NULL gives weekends-only working days and the default intervals.
 */
struct derive_ref {
  const struct workdays *wd;
  const struct code_lists *codes; /* the fold's (child_fold); NULL: no code judged */
  int visit_interval[PLAN_KIND_COUNT];
};
#define VISIT_DEFAULT_CIN 20
#define VISIT_DEFAULT_CP 10
#define VISIT_DEFAULT_LAC 42
void derive_ref_default(struct derive_ref *ref);

/*
 * The reference data of every LA, from configuration (keys in
 * state/refdata.c): the bank-holiday file (default_holidays unless
 * cscflow.calendar.bank_holidays names another), the code lists
 * (REFDATA_CODES_FILE in default_holidays' directory unless
 * cscflow.codes.file names another; code_lists_load) and visit intervals.
 * refdata_load: CSC_EIO / CSC_EINVAL with err naming the file (and line) or key.
 * refdata_for: the LA's derive_ref (the defaults for an LA with no keys);
 * NULL for a NULL r. Pointers stay valid until refdata_free.
 */
#define REFDATA_CODES_FILE "code-lists.csv"
struct refdata_la {
  char la[24];
  struct derive_ref ref;
  int set[PLAN_KIND_COUNT];
};
struct refdata {
  struct workdays wd;
  struct code_lists codes;
  struct derive_ref defaults;
  struct refdata_la *las;
  size_t n_las;
};
int refdata_load(struct refdata *r, const struct config *cfg, const char *default_holidays,
                 char *err, size_t errlen);
void refdata_free(struct refdata *r);
const struct derive_ref *refdata_for(const struct refdata *r, const char *la);

int child_derive(const struct child_state *st, const struct derive_ref *ref, struct arena *a,
                 struct derived *out);

int fact_compare(const struct fact *a, const struct fact *b);

/* The stored form of d: derived_size bytes, written by derived_write into
 * space the caller provides (an LMDB MDB_RESERVE value: no copy, no malloc),
 * parsed back by derived_decode into arena-allocated arrays (CSC_EINVAL on a
 * malformed record). Varints, ids length-prefixed: the layout is in
 * state/derived.c. */
size_t derived_size(const struct derived *d);
void derived_write(const struct derived *d, uint8_t *buf);
int derived_decode(const uint8_t *buf, size_t len, struct arena *a, struct derived *out);
/* One alert candidate in the same form (the alert calendar's values):
 * alert_fact_write writes at most ALERT_FACT_MAX bytes and returns them;
 * alert_fact_decode returns the bytes it read from buf[0..len), 0 when they
 * are not one. */
#define ALERT_FACT_MAX (6 * 10 + STATE_ID_MAX) /* six varints and the id: the most it takes */
size_t alert_fact_write(const struct alert_fact *af, uint8_t *buf);
size_t alert_fact_decode(const uint8_t *buf, size_t len, struct alert_fact *out);

/* ---- history ------------------------------------------------------------- */

/*
 * The subject whose history the event belongs to, written to buf: the
 * child id escaped (key_append with ':', so "a:b" is "a%3Ab"); for workforce
 * events "post:<post_id>" when the change is to a post (established,
 * vacant, filled), "worker:<worker_id>" otherwise, the id escaped the same
 * way. An escaped child id never holds ':', so a child named "worker:W1"
 * ("worker%3AW1") never shares worker W1's history; ids without '%' or ':'
 * keep their bytes. The subject is also the child component of alert and
 * finding ids. Returns its length, or 0 when the event has none or it does
 * not fit in len (HISTORY_SUBJECT_MAX always fits a subject that fits a key).
 */
size_t history_subject(const CaseEvent *ev, char *buf, size_t len);
/* The subject of child id child (its escaped form), as history_subject. */
size_t history_child_subject(const char *child, char *buf, size_t len);

/*
 * The result of applying one event to its child: the child's derived record
 * before and after. For a duplicate event_id nothing changes and
 * *duplicate is set.
 */
struct child_change {
  struct derived before, after;
  int duplicate;   /* nothing was appended: every event was a duplicate */
  size_t appended; /* events appended to the history */
};

/*
 * Appends the event (protobuf bytes pb, decoded as ev) to its child's
 * history in txn, re-folds the history, stores the new derived record and
 * returns both records, allocated from a. CSC_ESTATE on an LMDB failure.
 */
int history_apply(struct store *st, MDB_txn *txn, const CaseEvent *ev, const uint8_t *pb,
                  size_t pb_len, const struct derive_ref *ref, struct arena *a,
                  struct child_change *out);

/*
 * history_apply for n events of one subject (the same la_code and
 * history_subject), in arrival order: each is appended unless its event_id
 * is already in the history or earlier in evs (then dup[i] is set; dup has
 * n entries), and the history is folded and derived once for all of them.
 * The result is the one n calls of history_apply would leave; only the
 * records in between are never computed. This is what makes a large batch
 * cheap: a child with k events in it costs one fold, not k.
 */
int history_apply_events(struct store *st, MDB_txn *txn, CaseEvent *const *evs,
                         const uint8_t *const *pbs, const size_t *pb_lens, size_t n,
                         const struct derive_ref *ref, struct arena *a, uint8_t *dup,
                         struct child_change *out);

/*
 * Re-folds and re-derives the history of subject (la, subject) as it
 * stands, with no new event: *out as history_apply_events gives it
 * (appended 0). For the children of a worker whose leavings changed.
 */
int history_rederive(struct store *st, MDB_txn *txn, const char *la, const char *subject,
                     const struct derive_ref *ref, struct arena *a, struct child_change *out);

/*
 * The events of the history of subject (la, subject) as stored, in the order
 * they were appended, decoded into arena memory: each is the event received
 * (the fields a record leaves out set back). *n is 0 for a history never
 * written. CSC_ESTATE for a history that does not decode.
 */
int history_read_events(struct store *st, MDB_txn *txn, const char *la, const char *subject,
                        struct arena *a, CaseEvent ***events, size_t *n);

/* ---- the allocation join (state/join.c) ------------------------------------ */

/* The history subject of worker id worker ("worker:<id>", escaped as
 * history_subject); its length, or 0 when it does not fit in len. */
size_t history_worker_subject(const char *worker, char *buf, size_t len);
/* Ends each of cs's allocations on the first day, on or after its start,
 * that its worker is a leaver (the worker's derived M_WORKER_LEFT), and
 * records child_subject in allocidx under each worker. */
int allocations_join(struct store *st, MDB_txn *txn, const char *la, const char *child_subject,
                     struct child_state *cs);
/* The subjects of the children ever allocated to the worker, arena strings. */
int allocations_dependents(struct store *st, MDB_txn *txn, const char *la,
                           const char *worker_subject, struct arena *a, char ***out, size_t *n);
/* Whether a worker's M_WORKER_LEFT facts differ between the two records. */
int worker_leavings_changed(const struct derived *before, const struct derived *after);

/* ---- the writer's status -------------------------------------------------- */

/*
 * meta "status" -> struct store_status: what the one process that writes the
 * store (cscflow run, replay or demo) last said about itself. /metrics and
 * /readyz read it, in that process or in a separate read-only `cscflow serve`,
 * so both show the same.
 *
 * Ownership: only the engine writes it: in every transaction that commits a
 * batch, once at engine_open (restored = 0 while the outbox is republished),
 * at engine_close (stopped_ms set: the writer is gone), and between batches
 * of `run` when something changed (at most once a second) or else every 5 s. Readers copy it out of any read
 * transaction with store_get_status; nothing points into the map.
 *
 * Layout: the struct as it is in memory (native byte order, as LMDB's own
 * pages), fields of fixed width in an order without padding (checked at
 * compile time), version first. A record whose version or size is not this
 * build's is absent to store_get_status (CSC_ENOTFOUND), never misread; a
 * change of layout takes a new STORE_STATUS_VERSION, and the counters then
 * start again from 0.
 *
 * Versions: 1 the first; 2 added last_applied_ms and stopped_ms (the
 * dashboard's "not live" state, GET /readyz?format=json) and the offset
 * gaps (engine/gaps.c): the partitions the consumer stopped because the
 * position the state needs is no longer in the log, the first of them
 * named, and the gaps found.
 */
#define STORE_STATUS_VERSION 2u
#define STATUS_MODE_REPLAY 0u
#define STATUS_MODE_RUN 1u
/* Batch latency buckets, in seconds: le 0.001 0.0025 0.005 0.01 0.025 0.05
 * 0.1 0.25 0.5 1 2.5 5, and +Inf last (store_status_bounds). */
#define STATUS_LATENCY_BUCKETS 13
extern const double store_status_bounds[STATUS_LATENCY_BUCKETS];
/* Room for a Kafka topic name (at most 249 bytes) and its NUL. */
#define STATUS_TOPIC_SIZE 256

struct store_status {
  uint32_t version;             /* STORE_STATUS_VERSION (set by store_put_status) */
  uint32_t mode;                /* STATUS_MODE_*: `run` must also be consuming to be ready */
  uint32_t restored;            /* 1 once engine_open finished (the outbox republished) */
  uint32_t partitions_assigned; /* input partitions the consumer holds (run) */
  int64_t consumer_lag;         /* sum over them of high watermark - next position; -1 unknown */
  int64_t updated_ms;           /* unix ms (wall clock) of this record */
  int64_t last_snapshot_ms;     /* unix ms of the last transaction that built a snapshot; 0 never */
  int64_t last_applied_ms;      /* unix ms of the last transaction that applied at least one
                                   event (duplicates and dead letters are not applied); 0 never.
                                   Carried over by each engine, as the counters are */
  int64_t stopped_ms;           /* unix ms at which the writer closed (engine_close); 0 while it
                                   runs, or when it ended without closing (then only updated_ms
                                   growing old tells) */
  /* Since the state was created: each engine carries them over at open. */
  uint64_t consumed, applied, duplicates, dead_lettered, alerts_raised, alerts_withdrawn,
      findings_opened, findings_resolved, snapshots, batches;
  /* engine_apply_batch's time (transaction, commit, hand-off to the sink):
   * latency[i] counts the batches that took at most store_status_bounds[i]
   * (cumulative, as Prometheus buckets are); the sum in microseconds. */
  uint64_t latency[STATUS_LATENCY_BUCKETS];
  uint64_t latency_count, latency_sum_us;
  /* Offset gaps (version 2). offset_gaps counts each partition found with
   * events gone from the log before the position the state needs, stopped
   * or skipped; offset_gaps_skipped those skipped (cscflow.on_offset_gap=
   * skip). Carried over at open, as the counters above. */
  uint64_t offset_gaps, offset_gaps_skipped;
  /* The input partitions not consumed now because Kafka cannot serve the
   * position the state needs (set by the running engine, 0 at open); the
   * first of them, by topic and partition: the position needed, and the
   * log's start and end when it was found (-1: unknown). A position below
   * the log start is a gap; one past the log end a log that lost events
   * the state has. */
  uint32_t partitions_stopped;
  int32_t stopped_partition;
  int64_t stopped_position, stopped_log_start, stopped_log_end;
  char stopped_topic[STATUS_TOPIC_SIZE]; /* NUL-terminated, cut if longer */
};

/* CSC_ENOTFOUND when there is no record of this version. */
int store_get_status(struct store *st, MDB_txn *txn, struct store_status *out);
int store_put_status(struct store *st, MDB_txn *txn, const struct store_status *s);
/* Counts one batch that took seconds in s's histogram. */
void store_status_observe(struct store_status *s, double seconds);

#endif
