/*
 * feeds.h — adapters: what an LA already has, turned into CaseEvents.
 *
 * An adapter never touches the state. It reads a source (a statutory
 * return's files, a feed's documents), makes the events the source means,
 * and hands each to an emit callback: a file of length-delimited events for
 * `cscflow replay`, or a producer of the input topic. What it could not
 * convert, or converted with a repair, it counts in an import report by
 * rule, with the table, the row and the child, so that nothing is dropped
 * silently (DESIGN.md, Bad input).
 *
 * Ids (DESIGN.md, Feeds, "One item, whatever the source"): an event's id is
 * a hash of what the event says (the LA, the child, the kind, the date and
 * the payload), never of the file or the year it came in, so the same
 * return imported twice, or a record repeated in next year's return, makes
 * the same event, which the engine applies once. An item (a period of care)
 * is named by its kind and start date.
 *
 * The SSDA903 return (import_903_*): CSV tables, each recognised by its
 * header row (the DfE guide's column names; a file's name says nothing).
 * Dates in either form the returns use: DD/MM/YYYY or YYYY-MM-DD. The
 * events are recorded (recorded_at) at noon UTC on the collection's
 * 31 March, so a replay of one return alone leaves the LA's as-of date on
 * it. What each table becomes is documented in feeds/ssda903.c.
 *
 * Errors: CSC_ENOMEM; CSC_EIO when a file cannot be read; CSC_EINVAL for
 * options out of range. Bad rows are never errors: they are report entries.
 */
#ifndef CSCFLOW_FEEDS_H
#define CSCFLOW_FEEDS_H

#include <stdio.h>

#include "base/base.h"
#include "ingest/ingest.h"

/* Receives each event made; the event and its strings are the import's,
 * valid for the call only. Non-zero stops the import with that code. */
typedef int (*import_emit_fn)(void *ctx, const CaseEvent *ev);

enum import_return { IMPORT_903, IMPORT_CIN };

struct code_lists; /* state/state.h */

struct import_options {
  enum import_return kind;
  const char *la;        /* the LA's code, as events carry it (required) */
  int year;              /* SSDA903: the collection year, ending 31 March year
                            (the CIN census's files name theirs: 0) */
  csc_date until;        /* events dated after it are left out (--until); DATE_NEVER: none */
  const char *source_system; /* NULL: "ssda903" or "cin_census" */
  /* The DfE code lists (state.h): an event recording a code they do not
   * hold for its year is kept, and counted (unknown_code); NULL: none. */
  const struct code_lists *codes;
  import_emit_fn emit;
  void *emit_ctx;
};

struct import;

/* A new import of one return. CSC_EINVAL when la is not an LA code or, for
 * the SSDA903, the year is outside 1990..2199. */
int import_new(const struct import_options *o, struct import **out);
void import_free(struct import *im);

/*
 * Reads one SSDA903 table from f (name: the file's name, for the report).
 * The table is recognised by its header row; a file that is no 903 table
 * is reported (unrecognised_file) and read no further. Rows are kept until
 * import_903_finish, since one table's events need another's (a review
 * names the period of care the episodes hold). A second file of a table
 * already read adds its rows.
 */
int import_903_table(struct import *im, const char *name, FILE *f);

/* Makes and emits the events of every table read, child by child. */
int import_903_finish(struct import *im);

/*
 * The CIN census (feeds/cin.c): one XML file (name: for the report), its
 * events made and emitted child by child, recorded on 31 March of the
 * collection year its header names (Header/CollectionDetails/Year). A file
 * that is no census (no <Message>, not XML) is reported unrecognised_file;
 * one with no year, missing_value; neither is an error.
 */
int import_cin_file(struct import *im, const char *name, const char *xml, size_t len);

/* The report: JSON (one object: the return, the LA, the year, per table its
 * file, rows and events (SSDA903), and per rule its count, what was done
 * and the rows), and a summary of counts for a terminal (no child ids). */
int import_report_json(const struct import *im, FILE *f);
void import_report_summary(const struct import *im, FILE *f);

/*
 * --child-map: where an LA's returns name children by other ids than its
 * case-management system (whose ids the live feed carries), a CSV of two
 * columns, the id in the return and the LA's person id (a header row
 * "return_id,la_child_id" may come first). Read before the return's files;
 * an id it does not list is kept as it is. CSC_EINVAL for a row without
 * two ids or an id listed twice (*line says which), CSC_ENOMEM.
 */
int import_load_child_map(struct import *im, FILE *f, long *line);

/*
 * --previous: the events of an earlier import of the same return (a file
 * `cscflow import --out` wrote), so that the report lists what this one
 * contradicts: an event that restates an item of the earlier one (the same
 * ingest_item_key, for the same child) with other values
 * (contradicts_earlier_return). The fold keeps the later-recorded (state/
 * fold.c); the report says where. Records of the earlier return that this
 * one leaves out are not retracted: returns drop records as they age out.
 * CSC_EIO when the file cannot be read, CSC_EINVAL when it holds no events.
 */
int import_load_previous(struct import *im, const char *path);

/* Events emitted so far, and report entries of rules that left something out. */
uint64_t import_events(const struct import *im);
uint64_t import_left_out(const struct import *im);

/* ---- the DfE CSC API child documents (feeds/dfe.c) -------------------------- */

/*
 * The documents an early-adopter LA's sender posts to the DfE CSC API
 * (../shared/research/dfe-sender.md), read into ChildRecords (events.proto).
 * The endpoint that receives them keeps no state: each document becomes one
 * ChildRecord event, and the fold applies the difference from the child's
 * record as the state holds it.
 */
#define DFE_SOURCE INGEST_SOURCE_DFE       /* source_system of the feed's events */
#define DFE_TEST_CHILD_PREFIX "Fake1234"   /* the sender's test child: Fake1234<LA> */

struct dfe_document {
  const char *la_child_id;
  Cscflow__V1__ChildRecord *record;
  int test_child; /* the sender's test child: answered, never folded */
};

/* Why a body was refused: the document ([index], 0-based; -1 for the body
 * itself), the field as a dotted path without brackets, and the reason. */
struct dfe_problem {
  long index;       /* the document refused, -1 for the body */
  size_t documents; /* the documents of the body when it is an array, else 0 */
  char field[128];
  char reason[96];
};

/*
 * Reads a data request's body, a JSON array of child documents, into
 * docs[0..n) (in a's memory, as is everything they point to), each
 * document's record in mode (the client's setting). A body that is not
 * valid UTF-8 is read as Windows-1252 (PowerShell 5.1 sends it). CSC_EINVAL
 * with *problem for a body that is not a JSON array, or the first document
 * that is not acceptable (no la_child_id, no child_details unless a purge,
 * a value of the wrong type, a date not YYYY-MM-DD, a string the input
 * rules refuse): nothing is returned then, since the sender resends the
 * whole batch. CSC_ENOMEM.
 */
int dfe_parse(const char *body, size_t len, Cscflow__V1__RecordMode mode, struct arena *a,
              struct dfe_document **docs, size_t *n, struct dfe_problem *problem);

/*
 * The event of a document received at received_ms (Unix ms) for LA la: its
 * occurred_on and recorded_at are the receipt; its id ("dfe-" and 32 hex
 * digits) a hash of what the document says and the receipt date, so that
 * the same document sent again the same day is a duplicate, and a change
 * reverted on a later day is applied. The strings are a's or d's.
 */
int dfe_event(const char *la, const struct dfe_document *d, int64_t received_ms,
              struct arena *a, CaseEvent *ev);

/* The id the answer gives a document, in the form the senders require:
 * YYYY-MM-DD_HH:MM:SS.ff_<uuid>.json (UTC; the uuid from the event id). */
void dfe_reply_id(int64_t received_ms, const char *event_id, char *out, size_t len);

/* The postcode district of a postcode: its outward code ("LS6" of "LS6 2AB"
 * or "LS62AB"), never the full postcode. */
void feeds_postcode_district(const char *postcode, char *out, size_t len);

/* ---- CSV (feeds/csv.c) ------------------------------------------------------ */

/*
 * RFC 4180 CSV: fields separated by commas, optionally in double quotes (a
 * doubled quote inside is one quote; quoted fields may hold commas and line
 * breaks), records ended by LF or CRLF; a UTF-8 byte-order mark before the
 * first field is dropped; blank lines are skipped. Fields are trimmed of
 * spaces and tabs outside quotes.
 *
 * csv_next reads the next record into r (its fields valid until the next
 * call), with line = the line it started on. Returns 1 for a record, 0 at
 * the end, CSC_EINVAL for an unterminated quote or a record over
 * CSV_MAX_FIELDS fields or CSV_MAX_RECORD bytes (the rest of the file is
 * not read), CSC_ENOMEM.
 */
#define CSV_MAX_FIELDS 256
#define CSV_MAX_RECORD (1 << 20)
struct csv_reader {
  FILE *f;
  long line;     /* the line the last record started on (1-based) */
  long next_line;
  char *buf;     /* the fields of the last record, NUL-separated */
  size_t cap;
  char *fields[CSV_MAX_FIELDS];
  size_t offsets[CSV_MAX_FIELDS];
  size_t n;
};
void csv_init(struct csv_reader *r, FILE *f);
int csv_next(struct csv_reader *r);
void csv_free(struct csv_reader *r);

/* DD/MM/YYYY or YYYY-MM-DD (what the returns use) into *out. CSC_EINVAL
 * for anything else, or a day that does not exist. */
int feeds_parse_date(const char *s, csc_date *out);

#endif
