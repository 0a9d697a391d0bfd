/*
 * internal.h — what the files of feeds/ share: the import in progress, its
 * report's rules, and making an event (its id, its recording time) and
 * handing it on. Programs use feeds/feeds.h only.
 *
 *   import.c   the import: options, events made and emitted, the report
 *   ssda903.c  the SSDA903 tables: recognised, kept, turned into events
 *   cin.c      the CIN census XML: each child's episodes turned into events
 *   csv.c      the CSV records the tables come in
 */
#ifndef CSCFLOW_FEEDS_INTERNAL_H
#define CSCFLOW_FEEDS_INTERNAL_H

#include "feeds/feeds.h"
#include "state/state.h"

/* What the report counts. Each rule says what was done: left out (with
 * why), or converted with a repair (what it was). */
enum import_rule {
  R_UNRECOGNISED_FILE,
  R_UNREADABLE_RECORD,
  R_INVALID_CHILD,
  R_MISSING_VALUE,
  R_INVALID_DATE,
  R_INVALID_CODE,
  R_DATE_AFTER_COLLECTION,
  R_AFTER_UNTIL,
  R_REFUSED,
  R_PERIOD_BEFORE_RETURN,
  R_PERIOD_WITHOUT_S,
  R_S_WHILE_OPEN,
  R_OVERLAPPING_EPISODES,
  R_REASON_WITHOUT_DATE,
  R_DATE_WITHOUT_REASON,
  R_X1_NOT_CONTINUED,
  R_NO_SDQ_SCORE,
  R_CONTRADICTS,
  R_UNKNOWN_CODE,
  R_RULE_COUNT
};

/* One row a rule names. */
struct report_row {
  const char *table;
  long line;
  const char *child; /* "" when the row has none */
};

/* Rows listed per rule in the JSON report; the count goes on. */
#define REPORT_ROWS_MAX 1000

struct report_entry {
  uint64_t count;
  struct report_row *rows;
  size_t n_rows, cap_rows;
};

struct ssda903;

struct child_map_entry {
  const char *from, *to;
};

struct import {
  struct import_options o;
  struct arena arena;  /* rows, names and ids: freed with the import */
  struct arena event;  /* one event's strings: reset after each */
  int64_t recorded_at_ms;
  csc_date collection_end; /* the collection's 31 March */
  uint64_t events;
  struct report_entry rules[R_RULE_COUNT];
  struct ssda903 *s903;
  struct child_map_entry *map; /* sorted by from */
  size_t n_map;
  uint64_t mapped;             /* child ids the map changed */
  struct previous_event { const char *key, *id; } *previous; /* sorted by key */
  size_t n_previous;
};

/* The LA's id for a child the return names id (the --child-map's, or id). */
const char *import_child_id(struct import *im, const char *id);

/* Sets the collection year (the CIN census reads it from its file). */
void import_set_year(struct import *im, int year);

/* Counts rule for a row of table (line, child) in the report. */
int import_note(struct import *im, enum import_rule rule, const char *table, long line,
                const char *child);

/*
 * Gives ev (la_code, child_id, occurred_on and its payload set; event_id,
 * recorded_at and source_system are set here) its id and recording time,
 * checks it as the input boundary would, and emits it. A date after the
 * collection or after --until leaves it out, noted against (table, line).
 * Returns CSC_OK when emitted or left out, or the emit callback's code.
 */
int import_emit(struct import *im, CaseEvent *ev, const char *table, long line);

#endif
