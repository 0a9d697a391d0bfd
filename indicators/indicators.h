/*
 * indicators.h — from fact differences to published figures: per-LA
 * aggregates and their calendar of fact boundaries, the plan_duration
 * alerts, the population table, and the snapshot of the catalogue.
 *
 * Incremental by construction: a child's change moves the aggregates by the
 * difference between its old and new facts; the clock moving from T to T'
 * applies the calendar entries dated in (T, T']. Nothing here scans all
 * children.
 *
 * Every call that takes a txn works inside the caller's LMDB write
 * transaction, so that state, aggregates, alerts and consumed offsets commit
 * together or not at all.
 */
#ifndef CSCFLOW_INDICATORS_H
#define CSCFLOW_INDICATORS_H

#include "base/base.h"
#include "cscflow/v1/indicators.pb-c.h"
#include "state/state.h"

typedef Cscflow__V1__IndicatorSnapshot IndicatorSnapshot;
typedef Cscflow__V1__Alert Alert;

#define TOPIC_EVENTS "csc.events.v1"
#define TOPIC_INDICATORS "csc.indicators.v1"
#define TOPIC_ALERTS "csc.alerts.v1"
#define TOPIC_QUALITY "csc.quality.v1"
#define TOPIC_DLQ "csc.events.dlq.v1"

/* ---- outputs -------------------------------------------------------------- */

/*
 * Where indicators/ puts the messages it wants published. The engine
 * implements it with the outbox table, so that a message is stored in the
 * same transaction as the state that caused it.
 */
struct output {
  int (*emit)(struct output *o, const char *topic, const char *key, const void *value,
              size_t value_len);
  /* What was emitted, counted by the emitters, for the caller's metrics. */
  uint64_t alerts_raised, alerts_withdrawn, findings_opened, findings_resolved;
};

/* ---- aggregates and the calendar ------------------------------------------ */

/*
 * Moves the LA's aggregates by (after - before) on as-of date as_of, and
 * books the boundaries that lie after as_of in the calendar. before and
 * after must be sorted by fact_compare.
 */
int agg_apply_diff(struct store *st, MDB_txn *txn, const char *la, csc_date as_of,
                   const struct fact *before, size_t n_before, const struct fact *after,
                   size_t n_after);

/*
 * Aggregate and calendar changes summed in memory and written at once. A
 * large batch moves the same keys again and again (every referral of a week
 * books the same boundary a year on), so summing first turns millions of
 * LMDB updates into one per key, written in key order. The sums are not
 * visible to agg_get or agg_advance until agg_pending_flush: the caller
 * flushes before anything reads them.
 *
 * agg_pending_diff is agg_apply_diff into p; CSC_ENOMEM when p cannot grow
 * (p is then unchanged). agg_pending_flush writes p in txn and empties it;
 * agg_pending_clear empties it without writing (after an aborted txn).
 */
struct agg_pending;
int agg_pending_new(struct agg_pending **out);
void agg_pending_free(struct agg_pending *p);
int agg_pending_diff(struct agg_pending *p, const char *la, csc_date as_of,
                     const struct fact *before, size_t n_before, const struct fact *after,
                     size_t n_after);
int agg_pending_flush(struct agg_pending *p, struct store *st, MDB_txn *txn);
void agg_pending_clear(struct agg_pending *p);

/* Applies the calendar entries of the LA dated in (from, to] and deletes them. */
int agg_advance(struct store *st, MDB_txn *txn, const char *la, csc_date from, csc_date to);

/* The LA's sum for (measure, bucket); 0 when it has none. */
int agg_get(struct store *st, MDB_txn *txn, const char *la, int measure, int bucket, int64_t *sum);

/*
 * One LA's sums held in memory (indicators/sums.c): what the catalogue
 * reads. agg_sums_load replaces s's contents with the LA's sums on its
 * as-of date, in one cursor pass. agg_sums_add moves one sum (CSC_ENOMEM
 * when s cannot grow; s is then unchanged); agg_sums_get is 0 for a sum
 * never set.
 */
struct agg_sums;
int agg_sums_new(struct agg_sums **out);
void agg_sums_free(struct agg_sums *s);
void agg_sums_clear(struct agg_sums *s);
int agg_sums_add(struct agg_sums *s, int measure, int bucket, int64_t delta);
int64_t agg_sums_get(const struct agg_sums *s, int measure, int bucket);
/* The sum of every bucket of measure but except (-1: none). */
int64_t agg_sums_measure_total(const struct agg_sums *s, int measure, int except);
int agg_sums_load(struct agg_sums *s, struct store *st, MDB_txn *txn, const char *la);
/* Sets changed[m] (m < n_measures) to 1 for each measure m with some
 * bucket whose sum differs between a and b (a sum never set is 0), and to 0
 * for the others. A measure at n_measures or above is not looked at. */
void agg_sums_changed(const struct agg_sums *a, const struct agg_sums *b, uint8_t *changed,
                      size_t n_measures);
/* Exchanges the contents of a and b (no copy). */
void agg_sums_swap(struct agg_sums *a, struct agg_sums *b);
/* The bytes s holds from malloc. */
size_t agg_sums_bytes(const struct agg_sums *s);

/*
 * Calls fn for each ledger change of the LA dated in (after, upto], latest
 * date first: the walk that turns the sums on upto into the sums on after.
 * fn's non-zero return stops the walk and is returned.
 */
typedef int (*ledger_fn)(void *ctx, csc_date date, int measure, int bucket, int64_t delta);
int agg_ledger_walk_back(struct store *st, MDB_txn *txn, const char *la, csc_date after,
                         csc_date upto, ledger_fn fn, void *ctx);

/* ---- alerts ---------------------------------------------------------------- */

/*
 * The alert id: deterministic from (LA, child, plan kind, plan id, months),
 * "plan_duration:<la>:<child>:<kind>:<plan>:<months>m", each id escaped by
 * key_append ('%' as "%25", ':' as "%3A"), so that two alerts never share an
 * id: child "K1" with plan "P1:CIN:Q" is "...:K1:CIN:P1%3ACIN%3AQ:6m", child
 * "K1:CIN:P1" with plan "Q" "...:K1%3ACIN%3AP1:CIN:Q:6m". Ids holding neither
 * byte keep the id they always had. child is the child's history subject
 * (history_subject: escaped already). The Alert message carries the raw
 * ids. Returns its length, or 0 when it does not fit in len (the alerts
 * table keys it with the LA: la\0 + id fits STATE_MAX_KEY, or the change
 * fails with CSC_EINVAL, never a truncated id).
 *
 * An alert whose id changed when ids began to be escaped (an id held '%'
 * or ':') is published with a tombstone (a null value) for its old id,
 * unless the old id has the form of a current one (then it may be another
 * alert's and is left alone).
 */
size_t alert_id(char *buf, size_t len, const char *la, const char *child, const struct alert_fact *af);

/*
 * Reconciles a child's alert candidates after a change: a candidate that
 * disappeared is dropped from the calendar or, when it was published,
 * withdrawn; a new one is booked in the calendar or, when it is due on
 * as_of with the plan still open, raised. Emits on out.
 */
int alerts_apply_diff(struct store *st, MDB_txn *txn, const char *la, const char *child,
                      csc_date as_of, const struct alert_fact *before, size_t n_before,
                      const struct alert_fact *after, size_t n_after, struct output *out);

/* Raises the alerts of the LA that fall due in (from, to] on plans still
 * open on to. */
int alerts_advance(struct store *st, MDB_txn *txn, const char *la, csc_date from, csc_date to,
                   struct output *out);

/* ---- data-quality findings ------------------------------------------------- */

/* Room for a finding id: an LA code, a subject (HISTORY_SUBJECT_MAX), a
 * rule id and an escaped event id (3 x STATE_ID_MAX), with separators. */
#define FINDING_ID_MAX 1024

/*
 * Publishes the changes between a child's findings before and after an
 * event: a finding in after only as OPEN, one in before only as RESOLVED
 * (a later event or a correction removed it). Keyed by the finding id
 * "<la>:<child>:<rule>:<event_id>", where child is the history subject
 * (history_subject: the escaped child id, or "worker:<id>"/"post:<id>") and
 * la and the event id are escaped by key_append: LA "E99000009:Y" with
 * child "Z" is "E99000009%3AY:Z:...", LA "E99000009" with child "Y:Z"
 * "E99000009:Y%3AZ:...". Ids holding neither '%' nor ':' keep the id they
 * always had. The message carries the raw ids. A finding whose id changed
 * with the escaping is published with a tombstone for its old id, unless
 * the old id has the form of a current one. CSC_EINVAL when an id does not
 * fit FINDING_ID_MAX.
 */
int quality_emit_changes(const char *la, const char *child, csc_date as_of,
                         const struct finding *before, size_t n_before,
                         const struct finding *after, size_t n_after, struct output *out);

/* ---- population ------------------------------------------------------------ */

struct population_row {
  char la[24];
  int year;
  int64_t children; /* ONS mid-year estimate, aged 0-17 */
};

struct population {
  struct population_row *rows;
  size_t n, cap;
};

void population_init(struct population *p);
void population_free(struct population *p);
/* Adds or replaces (la, year). CSC_ENOMEM, CSC_EINVAL for an empty LA code
 * or a non-positive count. */
int population_set(struct population *p, const char *la, int year, int64_t children);
/* Reads "la_code,year,population" lines (a header line is skipped).
 * CSC_EINVAL with err "path:line: reason". */
int population_load_csv(struct population *p, const char *path, char *err, size_t errlen);
/* Takes every "cscflow.population.<LA>.<YEAR>=<children>" key of cfg. */
int population_load_config(struct population *p, const struct config *cfg, char *err, size_t errlen);
/* Children of la in the calendar year of as_of, or in the latest earlier year
 * configured; -1 when none is: the rate is then null, never 0. */
int64_t population_lookup(const struct population *p, const char *la, csc_date as_of);

/* ---- coverage: what an LA's feeds can support (indicators/coverage.c) ---------- */

/*
 * Each indicator value needs some aspects of the data (coverage_needs, a
 * bit set); each feed carries some (coverage_feed: "events" everything,
 * "ssda903", "cin_census", "dfe_csc_api"); a value whose needs the LA's
 * feeds do not carry is flagged unavailable (coverage_mark). The LAs' feeds
 * come from cscflow.feeds.<LA> (coverage_load: CSC_EINVAL with err naming
 * the key for an unknown feed or a bad LA code); an LA without the key
 * carries everything (coverage_for gives COVERAGE_ALL). With las, <LA> may
 * be an alias (cscflow.la.alias.*): it is filed under its canonical code,
 * the one coverage_for is asked about; an LA not on cscflow.las, or one
 * whose feeds are set twice (by an alias and its code), is CSC_EINVAL. las
 * NULL: <LA> is taken as written.
 */
#define COVERAGE_ALL 0xFFFFFFFFu
#define COVERAGE_MAX_LAS 512
struct coverage {
  struct {
    char la[16]; /* a canonical LA code (ingest.h, LA_CODE_SIZE) */
    uint32_t carries;
  } las[COVERAGE_MAX_LAS];
  size_t n;
};
uint32_t coverage_needs(const char *id, const char *breakdown);
int coverage_feed(const char *name, uint32_t *carries);
struct la_registry; /* ingest/ingest.h */
int coverage_load(struct coverage *c, const struct config *cfg, const struct la_registry *las,
                  char *err, size_t errlen);
uint32_t coverage_for(const struct coverage *c, const char *la);
void coverage_mark(uint32_t carries, Cscflow__V1__IndicatorValue **values, size_t n);

/* ---- the catalogue ----------------------------------------------------------- */


/*
 * The catalogue's values for la on as_of from the LA's sums on that day,
 * allocated from a: numerator always; denominator for ratios; value unless
 * the denominator is 0; per_10k only where the population is configured.
 * Breakdowns by code have one row per code of codes (the lists the state
 * was built with: store_get_code_lists) and "other" for the rest of the
 * measure; with codes NULL only "other" (every count of the measure).
 */
int catalogue_build(const struct agg_sums *sums, const struct code_lists *codes, const char *la,
                    csc_date as_of,
                    const struct population *pop, struct arena *a,
                    Cscflow__V1__IndicatorValue ***out, size_t *n_out);

/* The group of the catalogue an indicator id belongs to: "Activity",
 * "Plans", "Outcomes" or "Workforce" (docs/indicators.md); NULL for an id
 * the catalogue does not have. */
const char *catalogue_group(const char *id);

/* ---- the daily series -------------------------------------------------------- */

struct series_point {
  csc_date date;
  int has_numerator, has_denominator, has_value;
  double numerator, denominator, value;
};

#define SERIES_MAX_DAYS 3660

/*
 * The daily values of the catalogue's (id, window, breakdown) for la on the
 * days from..to, as the state now knows them: a late event or a correction
 * that changes a past day restates it. to is capped at the LA's as-of date
 * (*as_of). On CSC_OK, *points is a malloc'd array of *n_points points, one
 * per day in date order, which the caller frees. CSC_ENOTFOUND: the LA has
 * no state, or the catalogue no such value; CSC_EINVAL: from after the
 * capped to, or more than SERIES_MAX_DAYS days; CSC_ENOMEM, CSC_ESTATE.
 */
int series_build(struct store *st, MDB_txn *txn, const char *la, const char *id,
                 const char *window, const char *breakdown, csc_date from, csc_date to,
                 const struct population *pop, struct series_point **points, size_t *n_points,
                 csc_date *as_of);

/* ---- snapshots ------------------------------------------------------------- */

/*
 * Builds the LA's snapshot on its as-of date from its aggregates into a
 * malloc'd protobuf buffer (*buf, *len), stores it in the snapshots table
 * and returns it for publication. state_codes are the code lists the state
 * was built with (the writer's, once store_code_lists_check accepted them),
 * or NULL to read them from the state: parsing them took a third of the CPU
 * of a one-event batch. carries: what the LA's feeds carry (coverage_for);
 * the values they cannot support are flagged unavailable. CSC_ENOMEM,
 * CSC_ESTATE.
 */
struct snapshot_memo;
int snapshot_build(struct store *st, MDB_txn *txn, const char *la, const struct la_state *ls,
                   const struct population *pop, const struct code_lists *state_codes,
                   uint32_t carries, struct snapshot_memo *memo, uint8_t **buf, size_t *len);

/*
 * A memo of each LA's last snapshot values (indicators/snapshot_memo.c),
 * given to snapshot_build so that it recomputes only the values whose
 * inputs changed: the rows reading a measure whose sums differ from the
 * memo's, and the rates per 10,000 when the population changed. Other code
 * lists or other feeds (carries) rebuild every value. The snapshot is the
 * same, byte for byte, as one built without a memo (snapshot_build with
 * memo NULL); the memo only saves the work. It holds about 220 KB of its
 * own and 150 KB an LA with the shipped code lists (stats: bytes), for at
 * most 512 LAs (a further one takes the place of the first remembered,
 * then the second, ...).
 * One memo serves one writer: it is not shared between threads.
 *
 * snapshot_memo_values is snapshot_build's use of it: la's values from
 * sums (the LA's sums just loaded, which it takes: sums then holds other
 * sums, to be loaded again before any use), codes (NULL: none), children
 * (population_lookup: -1 when not known) and carries (coverage_for). The
 * values stay the memo's, valid until its next call (for any LA: a new LA
 * may take la's place) or its free.
 * CSC_ENOMEM (la's memo is then dropped: the next call builds all).
 */
struct snapshot_memo_stats {
  uint64_t builds;          /* snapshot_memo_values calls */
  uint64_t full_builds;     /* of them, every value computed */
  uint64_t values_computed; /* values computed, in all */
  uint64_t values_reused;   /* values kept from the memo, in all */
  uint64_t bytes;           /* what the memo holds now, from malloc */
};
int snapshot_memo_new(struct snapshot_memo **out);
void snapshot_memo_free(struct snapshot_memo *m);
void snapshot_memo_stats(const struct snapshot_memo *m, struct snapshot_memo_stats *out);
int snapshot_memo_values(struct snapshot_memo *m, const char *la, struct agg_sums *sums,
                         const struct code_lists *codes, int64_t children, uint32_t carries,
                         Cscflow__V1__IndicatorValue ***values, size_t *n);

/* Writes one snapshot as one JSON line:
 * {"la":..,"as_of":"YYYY-MM-DD","events_applied":..,"indicators":[{"id","group","window",
 *  "breakdown","numerator","denominator","value","per_10k","provisional"}],"quality":{rule:count},
 *  "sources":[{"source","kind":"return"|"feed","year","events","last_recorded_at"}]}
 * Absent numbers are null. */
int snapshot_write_json(FILE *f, const IndicatorSnapshot *snap);

/* The value (id, window, breakdown) of snap, or NULL when it has none. */
const Cscflow__V1__IndicatorValue *snapshot_find(const IndicatorSnapshot *snap, const char *id,
                                                 const char *window, const char *breakdown);

/* Calls fn for the stored snapshot of la, or of every LA when la is NULL,
 * in LA order. CSC_ENOTFOUND when la has none. */
typedef int (*snapshot_fn)(void *ctx, const IndicatorSnapshot *snap);
int snapshot_each(struct store *st, MDB_txn *txn, const char *la, snapshot_fn fn, void *ctx);

#endif
