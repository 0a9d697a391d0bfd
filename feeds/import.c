/*
 * import.c — an import of one return: its options, the events it makes
 * (ids, recording time, the boundary's checks) and its report.
 */
#include <stdlib.h>
#include <string.h>

#include <nettle/sha2.h>

#include "feeds/internal.h"

/* The report's rules: id, and what was done with what the rule names. A
 * rule that leaves something out says so first ("left out: ..."). */
static const struct {
  const char *id;
  int left_out;
  const char *action;
} rules[R_RULE_COUNT] = {
    [R_UNRECOGNISED_FILE] = {"unrecognised_file", 1,
                             "left out: the header row names no table of the return"},
    [R_UNREADABLE_RECORD] = {"unreadable_record", 1,
                             "left out: a quote never closed or a record too long; the rest of "
                             "the file was not read"},
    [R_INVALID_CHILD] = {"invalid_child_id", 1,
                         "left out: the child id is empty, too long or holds control characters"},
    [R_MISSING_VALUE] = {"missing_value", 1, "left out: a value the row needs is empty"},
    [R_INVALID_DATE] = {"invalid_date", 1,
                        "left out: a date neither DD/MM/YYYY nor YYYY-MM-DD, or no such day"},
    [R_INVALID_CODE] = {"invalid_code", 1, "left out: a code the guide does not define"},
    [R_DATE_AFTER_COLLECTION] = {"date_after_collection", 1,
                                 "left out: dated after the collection's 31 March"},
    [R_AFTER_UNTIL] = {"after_until", 1,
                       "left out: dated after --until (the live feed holds what follows)"},
    [R_REFUSED] = {"refused_by_input_rules", 1,
                   "left out: the event breaks the input boundary's rules (an id too long)"},
    [R_PERIOD_BEFORE_RETURN] = {"period_began_before_return", 0,
                                "converted: the child's first episode is not an S row, so the "
                                "period began before the return; imported as continuing (joined "
                                "to the period open that day, or a period whose start is unknown)"},
    [R_PERIOD_WITHOUT_S] = {"period_without_s_row", 0,
                            "converted: an episode after its period ended that is not an S row "
                            "starts a new period on its DECOM"},
    [R_S_WHILE_OPEN] = {"s_row_while_period_open", 0,
                        "converted: an S row while the previous episode had not ended its "
                        "period; the new period starts, the fold reports the overlap"},
    [R_OVERLAPPING_EPISODES] = {"overlapping_episodes", 0,
                                "converted: an episode starting before the previous one's DEC; "
                                "its changes apply from its own DECOM"},
    [R_REASON_WITHOUT_DATE] = {"reason_without_date", 1,
                               "left out: the end of a period with a reason ceased (REC) but no "
                               "DEC; the period stays open"},
    [R_DATE_WITHOUT_REASON] = {"date_without_reason", 1,
                               "left out: an episode end (DEC) with no reason ceased (REC); an "
                               "episode ends a period only with a reason"},
    [R_X1_NOT_CONTINUED] = {"x1_not_continued", 0,
                            "converted: REC X1 (the period goes on) but no episode starts on its "
                            "DEC; the period is left open"},
    [R_NO_SDQ_SCORE] = {"sdq_not_recorded", 1,
                        "left out: no SDQ score (SDQ_REASON says why); nothing to count"},
    [R_UNKNOWN_CODE] = {"unknown_code", 0,
                        "converted: kept as recorded, a code the DfE lists do not hold for its "
                        "year; cscflow reports it (unknown_code) and counts it as other"},
    [R_CONTRADICTS] = {"contradicts_earlier_return", 0,
                       "converted: restates an item of the earlier import (--previous) with "
                       "other values; the later-recorded holds"},
};

int import_new(const struct import_options *o, struct import **out) {
  *out = NULL;
  if (o->la == NULL || !ingest_la_code_valid(o->la) || o->emit == NULL)
    return CSC_EINVAL;
  if (o->kind == IMPORT_903 && (o->year < 1990 || o->year > 2199))
    return CSC_EINVAL;
  struct import *im = calloc(1, sizeof *im);
  if (im == NULL)
    return CSC_ENOMEM;
  im->o = *o;
  if (im->o.source_system == NULL)
    im->o.source_system = o->kind == IMPORT_CIN ? INGEST_SOURCE_CIN : INGEST_SOURCE_903;
  arena_init(&im->arena, 1 << 16);
  arena_init(&im->event, 4096);
  import_set_year(im, o->year ? o->year : 2000);
  im->o.year = o->year;
  *out = im;
  return CSC_OK;
}

void import_set_year(struct import *im, int year) {
  im->o.year = year;
  im->collection_end = date_from_ymd(year, 3, 31);
  /* Noon UTC: 31 March in London whether or not summer time has begun. */
  im->recorded_at_ms = (int64_t)im->collection_end * 86400000 + 12 * 3600000;
}

static const char *return_name(const struct import *im) {
  return im->o.kind == IMPORT_CIN ? "cin_census" : "ssda903";
}

void ssda903_free(struct ssda903 *s);

void import_free(struct import *im) {
  if (im == NULL)
    return;
  ssda903_free(im->s903);
  free(im->map);
  free(im->previous);
  for (int r = 0; r < R_RULE_COUNT; r++)
    free(im->rules[r].rows);
  arena_free(&im->arena);
  arena_free(&im->event);
  free(im);
}

int import_note(struct import *im, enum import_rule rule, const char *table, long line,
                const char *child) {
  struct report_entry *e = &im->rules[rule];
  e->count++;
  if (e->n_rows == REPORT_ROWS_MAX)
    return CSC_OK;
  if (array_grow((void **)&e->rows, &e->cap_rows, e->n_rows + 1, sizeof *e->rows) != CSC_OK)
    return CSC_ENOMEM;
  const char *c = arena_strdup(&im->arena, child ? child : "");
  if (c == NULL)
    return CSC_ENOMEM;
  e->rows[e->n_rows++] = (struct report_row){table, line, c};
  return CSC_OK;
}

/* The id of what ev says: "903-" (or "cin-") and 32 hex digits of the
 * SHA-256 of its bytes with no id and no recording time, the LA, the child
 * and the source system included. */
static int event_id_of(CaseEvent *ev, const char *prefix, struct arena *a, char *id,
                       size_t idlen) {
  const size_t n = cscflow__v1__case_event__get_packed_size(ev);
  uint8_t *buf = arena_alloc(a, n ? n : 1);
  if (buf == NULL)
    return CSC_ENOMEM;
  cscflow__v1__case_event__pack(ev, buf);
  struct sha256_ctx ctx;
  uint8_t digest[16];
  sha256_init(&ctx);
  sha256_update(&ctx, n, buf);
  sha256_digest(&ctx, sizeof digest, digest);
  size_t k = (size_t)snprintf(id, idlen, "%s", prefix);
  for (size_t i = 0; i < sizeof digest && k + 2 < idlen; i++)
    k += (size_t)snprintf(id + k, idlen - k, "%02x", digest[i]);
  return CSC_OK;
}

/* ---- what an earlier import said --------------------------------------------------- */

static int previous_compare(const void *pa, const void *pb) {
  return strcmp(((const struct previous_event *)pa)->key, ((const struct previous_event *)pb)->key);
}

/* child \x1e item key, in buf; 0 when the event has no key. */
static size_t child_item_key(const CaseEvent *ev, char *buf, size_t len) {
  const int n = snprintf(buf, len, "%s\x1e", ev->child_id);
  if (n <= 0 || (size_t)n >= len)
    return 0;
  const size_t k = ingest_item_key(ev, buf + n, len - (size_t)n);
  return k ? (size_t)n + k : 0;
}

static int keep_previous(struct import *im, size_t *cap, const CaseEvent *ev) {
  char key[INGEST_ID_MAX + INGEST_ITEM_KEY_MAX + 2];
  if (strcmp(ev->la_code, im->o.la) != 0 || child_item_key(ev, key, sizeof key) == 0)
    return CSC_OK;
  if (array_grow((void **)&im->previous, cap, im->n_previous + 1, sizeof *im->previous) != CSC_OK)
    return CSC_ENOMEM;
  const char *k = arena_strdup(&im->arena, key), *id = arena_strdup(&im->arena, ev->event_id);
  if (k == NULL || id == NULL)
    return CSC_ENOMEM;
  im->previous[im->n_previous++] = (struct previous_event){k, id};
  return CSC_OK;
}

int import_load_previous(struct import *im, const char *path) {
  struct file_source *fs;
  if (file_source_open(path, &fs) != CSC_OK)
    return CSC_EIO;
  size_t cap = im->n_previous, events = 0;
  const uint8_t *buf;
  size_t len;
  int rc = CSC_OK, got;
  while (rc == CSC_OK && (got = file_source_next(fs, &buf, &len)) == CSC_OK) {
    CaseEvent *ev = cscflow__v1__case_event__unpack(NULL, len, buf);
    if (ev == NULL) {
      rc = CSC_EINVAL;
      break;
    }
    rc = keep_previous(im, &cap, ev);
    cscflow__v1__case_event__free_unpacked(ev, NULL);
    events++;
  }
  file_source_close(fs);
  if (rc == CSC_OK && (got != CSC_ENOTFOUND || events == 0))
    rc = CSC_EINVAL;
  if (rc == CSC_OK && im->n_previous > 1)
    qsort(im->previous, im->n_previous, sizeof *im->previous, previous_compare);
  return rc;
}

/* Notes ev (its id set) when it restates an item of the earlier import
 * with other values. */
static int check_previous(struct import *im, const CaseEvent *ev, const char *table, long line) {
  char key[INGEST_ID_MAX + INGEST_ITEM_KEY_MAX + 2];
  if (im->n_previous == 0 || child_item_key(ev, key, sizeof key) == 0)
    return CSC_OK;
  const struct previous_event probe = {key, NULL};
  const struct previous_event *p =
      bsearch(&probe, im->previous, im->n_previous, sizeof *im->previous, previous_compare);
  if (p == NULL || strcmp(p->id, ev->event_id) == 0)
    return CSC_OK;
  return import_note(im, R_CONTRADICTS, table, line, ev->child_id);
}

int import_emit(struct import *im, CaseEvent *ev, const char *table, long line) {
  csc_date on;
  if (date_from_yyyymmdd(ev->occurred_on, &on) != CSC_OK)
    return import_note(im, R_INVALID_DATE, table, line, ev->child_id);
  if (on > im->collection_end)
    return import_note(im, R_DATE_AFTER_COLLECTION, table, line, ev->child_id);
  if (on > im->o.until)
    return import_note(im, R_AFTER_UNTIL, table, line, ev->child_id);
  char id[40];
  ev->la_code = (char *)im->o.la;
  ev->source_system = (char *)im->o.source_system;
  ev->event_id = "";
  ev->recorded_at_ms = 0;
  int rc = event_id_of(ev, im->o.kind == IMPORT_CIN ? "cin-" : "903-", &im->event, id,
                       sizeof id);
  if (rc != CSC_OK)
    return rc;
  ev->event_id = id;
  ev->recorded_at_ms = im->recorded_at_ms;
  if ((rc = check_previous(im, ev, table, line)) != CSC_OK)
    return rc;
  if (code_event_unknown(im->o.codes, ev, on) &&
      (rc = import_note(im, R_UNKNOWN_CODE, table, line, ev->child_id)) != CSC_OK)
    return rc;
  const char *reason;
  if (ingest_validate(ev, &reason) != CSC_OK)
    return import_note(im, R_REFUSED, table, line, ev->child_id);
  rc = im->o.emit(im->o.emit_ctx, ev);
  if (rc == CSC_OK)
    im->events++;
  arena_reset(&im->event);
  return rc;
}

/* ---- the child map ------------------------------------------------------------- */

static int map_compare(const void *pa, const void *pb) {
  return strcmp(((const struct child_map_entry *)pa)->from,
                ((const struct child_map_entry *)pb)->from);
}

static int map_add(struct import *im, size_t *cap, const char *from, const char *to) {
  if (array_grow((void **)&im->map, cap, im->n_map + 1, sizeof *im->map) != CSC_OK)
    return CSC_ENOMEM;
  const char *f = arena_strdup(&im->arena, from), *t = arena_strdup(&im->arena, to);
  if (f == NULL || t == NULL)
    return CSC_ENOMEM;
  im->map[im->n_map++] = (struct child_map_entry){f, t};
  return CSC_OK;
}

int import_load_child_map(struct import *im, FILE *f, long *line) {
  struct csv_reader r;
  size_t cap = im->n_map;
  int got, rc = CSC_OK;
  csv_init(&r, f);
  *line = 0;
  while (rc == CSC_OK && (got = csv_next(&r)) == 1) {
    *line = r.line;
    if (r.line == 1 && r.n == 2 && strcmp(r.fields[0], "return_id") == 0)
      continue;
    rc = r.n == 2 && r.fields[0][0] && r.fields[1][0] ? map_add(im, &cap, r.fields[0], r.fields[1])
                                                      : CSC_EINVAL;
  }
  if (rc == CSC_OK && got < 0)
    rc = got;
  csv_free(&r);
  if (rc != CSC_OK)
    return rc;
  qsort(im->map, im->n_map, sizeof *im->map, map_compare);
  for (size_t i = 1; i < im->n_map; i++)
    if (strcmp(im->map[i - 1].from, im->map[i].from) == 0) {
      *line = 0; /* a duplicate: the line is not known after the sort */
      return CSC_EINVAL;
    }
  return CSC_OK;
}

const char *import_child_id(struct import *im, const char *id) {
  const struct child_map_entry key = {id, NULL};
  const struct child_map_entry *e =
      im->n_map ? bsearch(&key, im->map, im->n_map, sizeof *im->map, map_compare) : NULL;
  if (e == NULL)
    return id;
  im->mapped++;
  return e->to;
}

uint64_t import_events(const struct import *im) { return im->events; }

uint64_t import_left_out(const struct import *im) {
  uint64_t n = 0;
  for (int r = 0; r < R_RULE_COUNT; r++)
    if (rules[r].left_out)
      n += im->rules[r].count;
  return n;
}

/* ---- the report ---------------------------------------------------------------- */

void ssda903_report_tables(const struct ssda903 *s, FILE *f);

int import_report_json(const struct import *im, FILE *f) {
  char date[11];
  fprintf(f, "{\"return\":\"%s\",\"la\":", return_name(im));
  json_write_string(f, im->o.la);
  fprintf(f, ",\"year\":%d,\"collection_end\":\"%s\"", im->o.year,
          date_format(im->collection_end, date));
  fputs(",\"until\":", f);
  if (im->o.until == DATE_NEVER)
    fputs("null", f);
  else
    fprintf(f, "\"%s\"", date_format(im->o.until, date));
  fprintf(f, ",\"events\":%llu,\"left_out\":%llu,\"child_ids_mapped\":%llu,\"tables\":",
          (unsigned long long)im->events, (unsigned long long)import_left_out(im),
          (unsigned long long)im->mapped);
  ssda903_report_tables(im->s903, f);
  fputs(",\"rules\":[", f);
  int first = 1;
  for (int r = 0; r < R_RULE_COUNT; r++) {
    const struct report_entry *e = &im->rules[r];
    if (e->count == 0)
      continue;
    fprintf(f, "%s{\"rule\":\"%s\",\"count\":%llu,\"left_out\":%s,\"action\":", first ? "" : ",",
            rules[r].id, (unsigned long long)e->count, rules[r].left_out ? "true" : "false");
    json_write_string(f, rules[r].action);
    fprintf(f, ",\"rows_listed\":%zu,\"rows\":[", e->n_rows);
    for (size_t i = 0; i < e->n_rows; i++) {
      fprintf(f, "%s{\"table\":\"%s\",\"line\":%ld,\"child\":", i ? "," : "", e->rows[i].table,
              e->rows[i].line);
      json_write_string(f, e->rows[i].child);
      fputc('}', f);
    }
    fputs("]}", f);
    first = 0;
  }
  fputs("]}\n", f);
  return ferror(f) ? CSC_EIO : CSC_OK;
}

void import_report_summary(const struct import *im, FILE *f) {
  fprintf(f, "import %s %s, year ending 31 March %d: %llu events, %llu rows or values left "
             "out\n",
          return_name(im), im->o.la, im->o.year, (unsigned long long)im->events,
          (unsigned long long)import_left_out(im));
  for (int r = 0; r < R_RULE_COUNT; r++)
    if (im->rules[r].count > 0)
      fprintf(f, "  %-28s %8llu  %s\n", rules[r].id, (unsigned long long)im->rules[r].count,
              rules[r].action);
}
