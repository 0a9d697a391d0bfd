/*
 * base.h — what every stage of cscflow shares: calendar dates, JSON-line
 * logging, the flat configuration file, an arena allocator, varints, and the
 * output sink through which every stage publishes.
 *
 * Conventions for the whole project:
 *   - Functions that can fail because of input return an int: 0 on success,
 *     a negative CSC_E* code otherwise. Nothing input can cause aborts.
 *   - Strings passed in are borrowed for the duration of the call unless a
 *     function says it keeps them.
 *   - No global mutable state: everything lives in structs the caller owns.
 */
#ifndef CSCFLOW_BASE_H
#define CSCFLOW_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <protobuf-c/protobuf-c.h>

/* ---- error codes ---------------------------------------------------------- */

#define CSC_OK 0
#define CSC_ENOMEM (-1)    /* allocation failed */
#define CSC_EINVAL (-2)    /* malformed input (message, date, config value) */
#define CSC_EIO (-3)       /* file or network I/O failed */
#define CSC_ENOTFOUND (-4) /* key, file or record absent */
#define CSC_ESTATE (-5)    /* the state store failed or is unusable */
#define CSC_EKAFKA (-6)    /* librdkafka reported an error */
#define CSC_EFULL (-7)     /* a bounded buffer or queue is full */
#define CSC_EMAPFULL (-8)  /* the LMDB map is full: grow it and retry */
#define CSC_ETXNFULL (-9)  /* one LMDB transaction wrote too many pages: split it */
#define CSC_ENOSPC (-10)   /* the state could not be written: no space, quota, file size limit or
                              an I/O error; what was committed before is kept */
#define CSC_EDAMAGED (-11) /* the state cannot be used as it is: damaged (truncated, not LMDB,
                              corrupted pages) or of another schema version */
#define CSC_ELOCKED (-12)  /* another process writes the state directory */

/* A short, static, human-readable name for a CSC_E* code. */
const char *csc_strerror(int err);

/* ---- dates ---------------------------------------------------------------- */

/*
 * A calendar date in England, as the number of days since 1970-01-01.
 * Intervals of dates are half-open, [from, to): open on from, not on to.
 * DATE_NEVER stands for "no end yet" and compares after every real date.
 */
typedef int32_t csc_date;
#define DATE_NEVER INT32_MAX

/* Days since 1970-01-01 of a proleptic Gregorian date. Valid for years 1..9999;
 * m and d are not checked (use date_from_yyyymmdd for untrusted input). */
csc_date date_from_ymd(int y, int m, int d);
void date_to_ymd(csc_date date, int *y, int *m, int *d);

/* YYYYMMDD integer (as on the wire) to a date. Returns CSC_EINVAL for 0, for
 * a month or day out of range (20230229) and for years outside 1900..2199. */
int date_from_yyyymmdd(uint32_t yyyymmdd, csc_date *out);
/* As date_from_yyyymmdd, but from year 1000: any eight-digit date, as a
 * worker may have mistyped it. For occurred_on, where a date before 1900 is
 * a data-quality finding (implausible_date), not a date that is not a date. */
int date_from_yyyymmdd_early(uint32_t yyyymmdd, csc_date *out);
uint32_t date_to_yyyymmdd(csc_date date);

/* "YYYY-MM-DD" into buf (at least 11 bytes); returns buf. */
char *date_format(csc_date date, char *buf);
/* Parses "YYYY-MM-DD" exactly; CSC_EINVAL otherwise. */
int date_parse(const char *s, csc_date *out);

int date_days_in_month(int y, int m);
/* 0 = Monday .. 6 = Sunday. */
int date_weekday(csc_date date);

/* The same day n calendar months later (n may be negative), clamped to the
 * last day of the month where that day does not exist: 31 Jan + 1 month is
 * 28 (or 29) Feb; 29 Feb 2024 + 12 months is 28 Feb 2025. */
csc_date date_add_months(csc_date date, int n);

/* 1 April that starts the financial year containing date, and the 1 April
 * that ends it (exclusive end). */
csc_date date_fy_start(csc_date date);
csc_date date_fy_end(csc_date date);

/* The calendar date in Europe/London of a Unix time in milliseconds. British
 * Summer Time runs from 01:00 UTC on the last Sunday of March to 01:00 UTC on
 * the last Sunday of October; computed, so no tz database is needed. */
csc_date date_london_from_unix_ms(int64_t unix_ms);
/* Midnight Europe/London starting date, as Unix ms. */
int64_t date_london_midnight_ms(csc_date date);

/* ---- working days -------------------------------------------------------------- */

/*
 * Working days are Monday to Friday except the bank holidays of a data
 * file (one ISO date a line; '#' starts a comment), loaded at run time so
 * that next year's holidays need no rebuild. A zeroed struct workdays (or a
 * NULL pointer) knows no holidays: weekends only.
 */
struct workdays {
  csc_date *holidays; /* sorted, distinct */
  size_t n;
  int inclusive; /* workdays_between counts the start day too */
};

/* Loads path into w (which it initialises). CSC_EIO when the file cannot be
 * read, CSC_EINVAL with err "path:line: reason" for a bad line, CSC_ENOMEM. */
int workdays_load(struct workdays *w, const char *path, char *err, size_t errlen);
void workdays_free(struct workdays *w);
int workdays_is_working(const struct workdays *w, csc_date d);
/* The working days d with start < d <= end (start too when w->inclusive and
 * it is a working day); 0 when end < start. */
int workdays_between(const struct workdays *w, csc_date start, csc_date end);
/* The n-th working day after d (n >= 1); d itself for n <= 0. */
csc_date workdays_add(const struct workdays *w, csc_date d, int n);

/* ---- logging: one JSON object a line on stderr ------------------------------- */

enum log_level { LOG_INFO, LOG_WARN, LOG_ERROR };

/*
 * Writes {"ts":"<UTC ISO-8601>","level":"info","event":"<event>",<fields>}\n
 * to stderr in one write(2) of at most 4096 bytes (PIPE_BUF), safe to call
 * from any thread (librdkafka's log callback does). fields_fmt is a printf
 * format for the remaining JSON members (or NULL); its literal text is JSON
 * syntax, and log_json formats each conversion itself, so that no argument
 * can break the line:
 *   - inside a JSON string of the format ("\"la\":\"%s\""), a %s or %c
 *     argument is escaped: quote, backslash and control characters
 *     (\u00XX), each byte that is not well-formed UTF-8 as \ufffd;
 *   - outside one ("\"n\":%lld", "\"stopped\":%s"), a conversion is a value
 *     of its own: bare when its text is a JSON number, true, false or null,
 *     a JSON string otherwise (inf, nan, hex, or input bytes);
 *   - the event name is escaped the same way.
 * Every printf flag, width, precision and length modifier works. A line that
 * would be longer is cut at a whole member (an open string value is closed)
 * and ends with "truncated":true, still one valid JSON object. Callers pass
 * identifiers and numbers only, never names or free text; identifiers from
 * input only once validated (ingest.h).
 */
void log_json(enum log_level level, const char *event, const char *fields_fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/*
 * log_json for members rendered as JSON already ("\"a\":1,\"b\":[2]"), which
 * a %s would escape into a string: fields_json is JSON built by cscflow,
 * never bytes from input. It is checked all the same: text that is not JSON
 * members goes whole into one escaped string member, "fields"; strings are
 * made valid UTF-8. The line may pass 4096 bytes to keep a long summary
 * whole (one write still, atomic on a pipe only up to PIPE_BUF).
 */
void log_json_fields(enum log_level level, const char *event, const char *fields_json);

/* Writes s to f as a JSON string literal, escaped as log_json escapes %s
 * (invalid UTF-8 as \ufffd), so that f stays valid UTF-8. */
void json_write_string(FILE *f, const char *s);

/* Length of the well-formed UTF-8 sequence at s (n > 0 bytes left): 1 to 4,
 * or 0 when it is not one (overlong, surrogate, past U+10FFFF, cut short). */
size_t utf8_sequence_len(const unsigned char *s, size_t n);

/* ---- configuration: a flat list of key=value lines ------------------------- */

/*
 * The file format is librdkafka's: one "key=value" a line, '#' starts a
 * comment line, blank lines are skipped, whitespace around key and value is
 * trimmed. Keys starting with "cscflow." are cscflow's own; every other key is
 * a librdkafka property and is passed to Kafka clients unchanged ("consumer."
 * and "producer." prefixes address one client only).
 */
struct config_entry {
  char *key;
  char *value;
};

struct config {
  struct config_entry *entries;
  size_t n, cap;
};

void config_init(struct config *cfg);
void config_free(struct config *cfg);
/* Reads path into cfg (later keys override earlier ones). On CSC_EINVAL or
 * CSC_EIO, err holds "path:line: reason". */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);
/* Sets key (copies both strings); CSC_ENOMEM on allocation failure. */
int config_set(struct config *cfg, const char *key, const char *value);
/* The value of key, or NULL. The pointer lives as long as cfg is unchanged. */
const char *config_get(const struct config *cfg, const char *key);
/* The value of key as an integer, def when absent; CSC_EINVAL when present but
 * not an integer. */
int config_get_long(const struct config *cfg, const char *key, long def, long *out);

/* ---- arena: bump allocation, freed all at once ------------------------------ */

/*
 * Decoding a child's history allocates many small objects that all die
 * together when the fold is done; an arena makes that one reset instead of
 * hundreds of free() calls.
 */
struct arena_block;
struct arena {
  struct arena_block *head;
  size_t block_size;
};

void arena_init(struct arena *a, size_t block_size);
/* NULL on allocation failure. Memory is aligned for any type. */
void *arena_alloc(struct arena *a, size_t n);
char *arena_strdup(struct arena *a, const char *s);
/* Frees everything allocated since init but keeps the first block. */
void arena_reset(struct arena *a);
void arena_free(struct arena *a);
/* The bytes the arena holds from malloc (its blocks). */
size_t arena_size(const struct arena *a);
/* Grows *v, an array of *cap elements of size bytes, to hold at least need
 * (doubling, from 16): CSC_OK, or CSC_ENOMEM with *v and *cap unchanged. */
int array_grow(void **v, size_t *cap, size_t need, size_t size);
/* A protobuf-c allocator that allocates from a (free is a no-op). */
ProtobufCAllocator arena_protobuf_allocator(struct arena *a);

/* ---- varints (protobuf base-128) ---------------------------------------------- */

/* Writes v into out (at least 10 bytes); returns the number of bytes. */
size_t varint_encode(uint64_t v, uint8_t *out);
/* Reads a varint from buf; returns bytes used, or 0 when buf ends first or the
 * varint is longer than 10 bytes. */
size_t varint_decode(const uint8_t *buf, size_t len, uint64_t *out);

/* ---- composite keys built from input ids ------------------------------------ */

/*
 * key_append: appends one component to the composite key key[0..*len): the
 * separator sep first unless the key is empty, then the component with
 * every '%' written "%25" and every sep written as '%' and its two
 * upper-case hex digits (':' is "%3A"). So no escaped component holds sep,
 * splitting on sep gives the components back, and two different tuples of
 * one length never give the same bytes (every key form has a fixed number
 * of components; ("", "a") and ("a") are both "a"); a component holding
 * neither '%' nor sep keeps its bytes. Ids (la codes, child, event, plan, worker and post ids) go in
 * through it, never through a printf format.
 *
 * Buffer contract: key holds size bytes, key[0..*len) is the key so far
 * (*len is 0 for a new key) and component must not overlap it. An escaped
 * component takes up to 3 bytes for each of its bytes. On CSC_OK the key
 * is NUL-terminated and *len is its new length. Errors: CSC_EFULL when the
 * separator, the escaped component and a NUL do not fit (key and *len are
 * left as they were: nothing is truncated); CSC_EINVAL when sep is '%' or
 * NUL or *len >= size.
 */
int key_append(char *key, size_t size, size_t *len, char sep, const char *component);

/* Appends sep (unless the key is empty) and escaped, an already escaped
 * component or key (a history subject, "worker:<id>"), as it is. Same
 * buffer contract and errors as key_append (sep may be '%' here: nothing is
 * escaped). */
int key_append_key(char *key, size_t size, size_t *len, char sep, const char *escaped);

/* Decodes one escaped component (or a key whose separators are to stay)
 * into out (size bytes, NUL-terminated; out may be in): every "%XX" becomes
 * the byte XX. CSC_EINVAL for a '%' that key_append did not write (not two
 * upper-case hex digits, or "%00"), CSC_EFULL when out is too small. */
int key_unescape(const char *in, char *out, size_t size);

/* The number of components of key when key_append (with sep) could have
 * written it: every '%' starts "%25" or sep's escape. -1 otherwise. Tells
 * whether a key built some other way may collide with such keys. */
int key_fields(const char *key, char sep);

/* ---- sinks: where output messages go -------------------------------------- */

struct sink_header {
  const char *name;
  const char *value;
};

struct sink_message {
  const char *topic;
  const void *key;   /* NULL: no key (a dead letter of a message that had none) */
  size_t key_len;
  const void *value; /* NULL (value_len 0): a tombstone, Kafka's null value */
  size_t value_len;
  const struct sink_header *headers;
  size_t n_headers;
  uint64_t seq; /* caller's id, passed back to on_ack */
};

/*
 * A sink publishes messages and later acknowledges each one through on_ack,
 * with err 0 when it is durable (a Kafka delivery report, a completed file
 * write) or a CSC_E* code when it failed for good. A sink never drops a
 * message silently: publish either accepts it (and will ack it) or returns an
 * error and the caller keeps it.
 */
struct sink {
  int (*publish)(struct sink *s, const struct sink_message *m);
  /* Serves acknowledgements; waits at most timeout_ms for the first one. */
  void (*poll)(struct sink *s, int timeout_ms);
  /* Waits until every accepted message is acknowledged or timeout_ms passes;
   * CSC_EIO when some are still outstanding. */
  int (*flush)(struct sink *s, int timeout_ms);
  void (*destroy)(struct sink *s);
  void (*on_ack)(void *ctx, uint64_t seq, int err);
  void *ack_ctx;
};

/*
 * A sink that appends each message to DIR/<topic>.bin as one record:
 *   varint key_len, key, varint value_len, value,
 *   varint n_headers, then per header varint len, name, varint len, value.
 * Used by replay (no Kafka) and by tests. Writes are acked on flush.
 */
int sink_file_open(const char *dir, struct sink **out);

/* One record of a sink file, borrowed from the buffer it was read from. */
struct sink_record {
  const uint8_t *key;
  size_t key_len;
  const uint8_t *value;
  size_t value_len;
  size_t n_headers;
};
/* Reads the record at buf[*pos], advancing *pos. CSC_ENOTFOUND at the end,
 * CSC_EINVAL when the record is truncated or malformed. */
int sink_file_read_record(const uint8_t *buf, size_t len, size_t *pos, struct sink_record *rec);

#endif
