/*
 * ingest.h — getting case events in: decoding message bodies (raw protobuf or
 * Confluent framing), validating the envelope, the length-delimited file
 * source, and the Kafka clients (consumer of csc.events.v1 and the producer
 * sink that carries every output topic, the dead-letter topic included).
 *
 * Ownership: decoded events are allocated from the caller's arena and die
 * with it. Messages returned by a source are borrowed until the next call.
 */
#ifndef CSCFLOW_INGEST_H
#define CSCFLOW_INGEST_H

#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "base/base.h"
#include "cscflow/v1/events.pb-c.h"

typedef Cscflow__V1__CaseEvent CaseEvent;

/* ---- identifiers and LA codes (ids.c, las.c) ------------------------------------ */

/*
 * Every identifier an event carries (event, child, referral, plan, period,
 * enquiry, assessment, placement, worker and post ids; the corrections'
 * event ids) and every other string field (codes) is valid UTF-8, at most
 * INGEST_ID_MAX bytes, and holds no control character (U+0000-U+001F,
 * U+007F). Anything else may appear: case-management ids with '/', '-',
 * ':' or spaces are valid. The identifiers an event needs (event_id,
 * la_code, child_id or worker_id / post_id) are at least one byte.
 */
#define INGEST_ID_MAX 128
#define INGEST_ID_MAX_TEXT "128"

/* Checks len bytes against the rule above (no lower bound). 0, or
 * CSC_EINVAL with *problem, a static string ("not valid UTF-8", ...). */
int ingest_check_string(const uint8_t *s, size_t len, const char **problem);
/* The same for a required identifier: also "missing" when s is empty. */
int ingest_check_id(const char *s, const char **problem);

/*
 * Walks the encoded CaseEvent pb[0..len) and checks every string field,
 * nested payloads included, against the rule above, on the wire: an
 * embedded NUL, which unpacking would hide, is seen here. Unknown fields
 * are skipped. 0, or CSC_EINVAL with *reason naming the field
 * ("child_id: not valid UTF-8", "referral_opened.referral_id: control
 * character"), allocated from arena a.
 */
int ingest_check_strings(const uint8_t *pb, size_t len, struct arena *a, const char **reason);

/*
 * An LA code is the DfE three-digit LA number ("201") or a nine-character
 * ONS-style code: an upper-case letter and eight digits ("E09000001"; the
 * generator's fictional "E99000001" too). True when s is one.
 */
int ingest_la_code_valid(const char *s);

#define LA_CODE_SIZE 10 /* the longest code and its NUL */

struct la_alias {
  char code[LA_CODE_SIZE];      /* a code a feed may use ("201") */
  char canonical[LA_CODE_SIZE]; /* the LA's one code ("E09000001") */
};

/*
 * The LAs a deployment serves, from the config:
 *   cscflow.las=CODE[,CODE...]          the allow-list (absent: any valid code)
 *   cscflow.la.alias.<CODE>=<CANONICAL> a second code of one LA
 * Every output, route and label uses the canonical code.
 */
struct la_registry {
  char (*allowed)[LA_CODE_SIZE];
  size_t n_allowed;
  int has_allow_list;
  struct la_alias *aliases;
  size_t n_aliases;
};

/* Loads the registry from cfg. CSC_EINVAL with err naming the key for a
 * bad code, an alias of an alias, or an alias to an LA not on the
 * allow-list; CSC_ENOMEM. The registry is empty (every valid code its own
 * LA) when the config names neither key. */
int la_registry_load(struct la_registry *r, const struct config *cfg, char *err, size_t errlen);
void la_registry_free(struct la_registry *r);

/*
 * The canonical code of code: the alias's target, or code itself (the
 * pointer returned is r's or code's). NULL with *reason (static) when code
 * is not a valid LA code or, with an allow-list, not an LA it names. r may
 * be NULL: the rule alone applies.
 */
const char *la_registry_resolve(const struct la_registry *r, const char *code,
                                const char **reason);

/* ---- decoding -------------------------------------------------------------- */

/*
 * Strips the framing of a message body and returns the protobuf bytes.
 *
 * Raw protobuf is passed through. A body whose first byte is 0 is Confluent
 * wire format: magic byte 0, 4-byte big-endian schema id, then the message
 * indexes: a zigzag varint count followed by that many zigzag varint indexes,
 * where the single byte 0x00 (count 0) stands for [0]. A raw CaseEvent can
 * never start with 0 (field number 0 does not exist), so the two cannot be
 * confused. CaseEvent is message [0] of events.proto; any other index path
 * is refused.
 *
 * Returns 0 and sets *pb, *pb_len (pointing into buf) and *schema_id (0 for
 * raw); or CSC_EINVAL with *reason, a static string for the dead-letter
 * header.
 */
int ingest_unframe(const uint8_t *buf, size_t len, const uint8_t **pb, size_t *pb_len,
                   uint32_t *schema_id, const char **reason);

/*
 * Unframes, unpacks and validates one message body: ingest_validate, and
 * every string field on the wire (ingest_check_strings). The event is
 * allocated from arena a. On CSC_EINVAL, *reason says why ("protobuf decode
 * failed", "event_id: missing", "child_id: not valid UTF-8", ...). On success *pb and *pb_len are the protobuf bytes
 * (inside buf), which is what the history stores, unknown fields included.
 */
int ingest_decode(const uint8_t *buf, size_t len, struct arena *a, CaseEvent **out,
                  const uint8_t **pb, size_t *pb_len, const char **reason);
/* ingest_decode of a message ingest_decode accepted before (the second
 * pass of a grouped batch or a backfill): unframed and unpacked, not
 * validated again. CSC_ENOMEM when the arena cannot grow; CSC_EINVAL only
 * for a message that was never accepted. */
int ingest_decode_admitted(const uint8_t *buf, size_t len, struct arena *a, CaseEvent **out,
                           const uint8_t **pb, size_t *pb_len);

/*
 * Checks what the processor needs of an envelope: event_id, la_code and
 * occurred_on always; recorded_at_ms in [0, 2200-01-01); child_id unless it
 * is a workforce event (which needs worker_id, or post_id for a change to a
 * post); a payload unless the event retracts another; every envelope
 * identifier by the rule above and la_code by the LA code rule (the
 * allow-list and mapping are the engine's: la_registry_resolve). Returns 0
 * or CSC_EINVAL with *reason (static), naming the field.
 */
int ingest_validate(const CaseEvent *ev, const char **reason);

/* True for a workforce change to a post (established, vacant, filled): it
 * belongs to the post's history, every other change to the worker's. */
int ingest_is_post_change(const Cscflow__V1__WorkforceEvent *w);

/*
 * Statutory returns restate (ingest/items.c). The source_system of the
 * importers' events, and whether a source is one of them.
 * ingest_item_key: for an event of a return source that names an item (a
 * period of care, a plan, an enquiry, ...), the kind of the event, the item
 * and, for what happens within it, the day, into buf (NUL-terminated; at
 * least INGEST_ITEM_KEY_MAX bytes); its length, or 0 when the event has no
 * key (another source, or nothing a later return restates). Two events of
 * one source with one key say one thing; the later-recorded holds.
 */
#define INGEST_SOURCE_903 "ssda903"
#define INGEST_SOURCE_CIN "cin_census"
#define INGEST_ITEM_KEY_MAX (INGEST_ID_MAX + 24)
int ingest_is_return_source(const char *source_system);
size_t ingest_item_key(const CaseEvent *ev, char *buf, size_t len);

/* Writes ev as varint(length) + protobuf bytes. CSC_EIO, CSC_ENOMEM. */
int ingest_write_delimited(FILE *f, const CaseEvent *ev);

/* ---- file source: length-delimited CaseEvents ------------------------------ */

struct file_source;

/* Maps path read-only. CSC_EIO (errno kept) when it cannot be opened. */
int file_source_open(const char *path, struct file_source **out);
/* file_source_open of an open file descriptor, which it takes (closed on
 * return, success or not): a file already unlinked, for one. */
int file_source_open_fd(int fd, struct file_source **out);
void file_source_close(struct file_source *fs);
/* Total size in bytes, and the offset of the next record to be read. */
uint64_t file_source_size(const struct file_source *fs);
uint64_t file_source_position(const struct file_source *fs);
/* Continues from byte offset pos, which must be a record boundary that an
 * earlier run stored. CSC_EINVAL when pos is past the end. */
int file_source_seek(struct file_source *fs, uint64_t pos);
/* Lets the kernel drop the pages of the file before pos from this
 * process's memory (they are read again if needed): a replay's resident
 * size then does not grow with the file. Records before pos must no longer
 * be in use. */
void file_source_release(struct file_source *fs, uint64_t pos);
/*
 * The next record's bytes (borrowed, valid until close). CSC_ENOTFOUND at the
 * end of the file; CSC_EINVAL when the length prefix is malformed or runs past
 * the end (a truncated file: the records before it stand, the position stays
 * at the bad record).
 */
int file_source_next(struct file_source *fs, const uint8_t **buf, size_t *len);
/* The bytes of the record at offset pos (a position file_source_position
 * gave before a file_source_next that succeeded), without moving the
 * position: random access for a backfill that reads records grouped by
 * child. CSC_EINVAL when pos holds no whole record. */
int file_source_record_at(const struct file_source *fs, uint64_t pos, const uint8_t **buf,
                          size_t *len);
/* The offset in the file of p, a pointer into a record's bytes that
 * file_source_next or file_source_record_at gave (the record after the one
 * at pos starts at file_source_offset_of(buf) + len). */
uint64_t file_source_offset_of(const struct file_source *fs, const uint8_t *p);

/* ---- Kafka -------------------------------------------------------------- */

/*
 * Copies every librdkafka property of cfg into a new rd_kafka_conf_t for the
 * given role ("consumer" or "producer"): keys without the "cscflow." prefix
 * go to both roles, keys with a "consumer." or "producer." prefix go to that
 * role with the prefix removed. librdkafka's own log lines go to the JSON
 * log (kafka_log_json). On failure returns NULL with err holding the key and
 * librdkafka's reason.
 */
rd_kafka_conf_t *kafka_conf_from_config(const struct config *cfg, const char *role, char *err,
                                        size_t errlen);

/*
 * A librdkafka log callback (rd_kafka_conf_set_log_cb) that writes each line
 * as {"event":"kafka_log","kafka_level":N,"client":"...","facility":"...",
 * "message":"..."} through log_json, so that an operator reads one format:
 * syslog levels 0-3 as error, 4 as warn, 5-7 as info. Safe on librdkafka's
 * threads. Every rd_kafka_conf_t cscflow makes sets it.
 */
void kafka_log_json(const rd_kafka_t *rk, int level, const char *facility, const char *message);

/*
 * A sink that produces to Kafka. Takes ownership of conf, and sets
 * enable.idempotence=true and max.in.flight.requests.per.connection=1 over
 * it (a retried request must not land after newer messages of its key).
 * Delivery reports acknowledge each message; a full producer queue makes
 * publish wait (serving delivery reports) rather than drop. CSC_EKAFKA with
 * err on failure.
 */
int kafka_sink_new(rd_kafka_conf_t *conf, struct sink **out, char *err, size_t errlen);

/* Producer handle of a sink made by kafka_sink_new (for metrics and tests). */
rd_kafka_t *kafka_sink_handle(struct sink *s);

/*
 * Asks for the position of each partition when it is assigned, from the
 * rebalance callback (on the thread that polls rk, which the callback may
 * use for a bounded request such as rd_kafka_query_watermark_offsets): the
 * callback returns the offset to fetch from, an absolute one. A position
 * the brokers cannot serve is never moved by librdkafka (below): it stops
 * fetching that partition and the next poll returns an error message
 * RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET naming it.
 */
typedef int64_t (*kafka_position_fn)(void *ctx, rd_kafka_t *rk, const char *topic,
                                     int32_t partition);

/*
 * A consumer in group group.id subscribed to topic, with enable.auto.commit
 * and enable.auto.offset.store off: positions come from the state store
 * through position_fn on every assignment. auto.offset.reset is set to
 * error, over whatever the configuration says: an offset reset never
 * skips events silently (earliest would skip those between the position
 * and the log start); the consumer's owner decides (engine/gaps.c). Takes
 * ownership of conf.
 */
int kafka_consumer_new(rd_kafka_conf_t *conf, const char *topic, kafka_position_fn position_fn,
                       void *ctx, rd_kafka_t **out, char *err, size_t errlen);
/* Leaves the group (revoking partitions) and frees the consumer. */
void kafka_consumer_destroy(rd_kafka_t *rk);

#endif
