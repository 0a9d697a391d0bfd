/*
 * The code lists of the DfE CIN census and SSDA903 guides, read from a file
 * at start (reference/code-lists.csv; its header says the format), so that
 * a new guide's codes are an edit of data, not a rebuild. A code outside
 * its list, or outside the collection years it is valid in, is finding
 * unknown_code: the event still folds (the code is kept as sent), so a code
 * a new guide adds costs a finding until the file learns it, never a lost
 * event.
 *
 * What is stored never depends on the lists: breakdowns by code keep their
 * counts in a bucket computed from the code itself (code_bucket), and the
 * catalogue names its rows from the lists when it publishes. The one fixed
 * rule is the catalogue's spelling of categories of abuse (code_spelling).
 */
#include <stdlib.h>
#include <string.h>

#include "state/state.h"

static const char *const LIST_NAMES[CODE_LIST_COUNT] = {
    [CODE_REFERRAL_SOURCE] = "referral_source",
    [CODE_CLOSURE_REASON] = "closure_reason",
    [CODE_ABUSE_CATEGORY] = "abuse_category",
    [CODE_LEGAL_STATUS] = "legal_status",
    [CODE_NEED] = "need",
    [CODE_PLACEMENT_TYPE] = "placement_type",
    [CODE_PROVIDER] = "provider",
    [CODE_REASON_CEASED] = "reason_ceased",
    [CODE_PLACEMENT_CHANGE] = "placement_change",
    [CODE_ASSESSMENT_FACTOR] = "assessment_factor",
    [CODE_LEAVER_ACTIVITY] = "leaver_activity",
    [CODE_LEAVER_ACCOMMODATION] = "leaver_accommodation",
    [CODE_ETHNICITY] = "ethnicity",
    [CODE_DISABILITY] = "disability",
    [CODE_REASON_NEW_EPISODE] = "reason_new_episode",
    [CODE_IN_TOUCH] = "in_touch",
    [CODE_PRIMARY_NEED] = "primary_need",
    [CODE_REVIEW_PARTICIPATION] = "review_participation",
    [CODE_PREVIOUS_PERMANENCE] = "previous_permanence",
    [CODE_SW_REASON] = "sw_reason",
};

#define CODES_HEADER "list,code,first,last,note"

const char *code_list_name(enum code_list list) {
  return (unsigned)list < CODE_LIST_COUNT ? LIST_NAMES[list] : "";
}

static int list_of(const char *name, size_t len) {
  for (int l = 0; l < CODE_LIST_COUNT; l++)
    if (strlen(LIST_NAMES[l]) == len && memcmp(LIST_NAMES[l], name, len) == 0)
      return l;
  return -1;
}

/* INDICATORS.md "Codes in output": the CIN census's spellings of the
 * categories of abuse are published as the catalogue's one letter. Fixed
 * here, not in the lists: it is the catalogue's convention, and stored
 * buckets must not change meaning when a list changes. */
const char *code_spelling(enum code_list list, const char *code) {
  static const char *const CIN[][2] = {
      {"NEG", "N"}, {"PHY", "P"}, {"EMO", "E"}, {"SAB", "S"}, {"MUL", "M"}};
  if (list == CODE_ABUSE_CATEGORY && code != NULL)
    for (size_t i = 0; i < sizeof CIN / sizeof CIN[0]; i++)
      if (strcmp(CIN[i][0], code) == 0)
        return CIN[i][1];
  return code;
}

static int code_digit(char c) {
  if (c >= '0' && c <= '9')
    return 1 + (c - '0');
  if (c >= 'A' && c <= 'Z')
    return 11 + (c - 'A');
  return -1;
}

/* Base 37 over three places, 0 standing for "no character": injective on
 * the strings of 1 to 3 of [0-9A-Z], all below 37^3 = 50653. */
uint16_t code_bucket(const char *code) {
  const size_t n = code != NULL ? strlen(code) : 0;
  if (n == 0 || n > 3)
    return CODE_BUCKET_OTHER;
  unsigned v = 0;
  for (size_t i = 0; i < 3; i++) {
    const int d = i < n ? code_digit(code[i]) : 0;
    if (d < 0)
      return CODE_BUCKET_OTHER;
    v = v * 37 + (unsigned)d;
  }
  return (uint16_t)v;
}

int code_collection_year(csc_date on) {
  int y, m, d;
  date_to_ymd(on, &y, &m, &d);
  return m >= 4 ? y + 1 : y;
}

int code_is_known(const struct code_lists *c, enum code_list list, const char *code,
                  csc_date on) {
  if (code == NULL || code[0] == '\0' || c == NULL)
    return 1;
  if ((unsigned)list >= CODE_LIST_COUNT)
    return 0;
  const int year = code_collection_year(on);
  for (size_t i = c->begin[list]; i < c->begin[list + 1]; i++) {
    const struct code_entry *e = &c->v[i];
    if (strcmp(e->code, code) == 0 &&
        (e->first == 0 || year >= e->first) && (e->last == 0 || year <= e->last))
      return 1;
  }
  return 0;
}

size_t code_list_codes(const struct code_lists *c, enum code_list list, const char **out,
                       size_t max) {
  size_t n = 0;
  if (c == NULL || (unsigned)list >= CODE_LIST_COUNT)
    return 0;
  for (size_t i = c->begin[list]; i < c->begin[list + 1]; i++) {
    const char *name = code_spelling(list, c->v[i].code);
    size_t j = 0;
    while (j < n && strcmp(out[j], name) != 0)
      j++;
    if (j == n && n < max)
      out[n++] = name;
  }
  return n;
}

/* ---- the file --------------------------------------------------------------------- */

static uint64_t fnv1a64(const char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) {
    h ^= (uint8_t)p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

/* "" (open-ended) or a year 1900..9999. */
static int parse_year(const char *s, size_t len, uint16_t *out) {
  *out = 0;
  if (len == 0)
    return 1;
  if (len != 4)
    return 0;
  unsigned v = 0;
  for (size_t i = 0; i < 4; i++) {
    if (s[i] < '0' || s[i] > '9')
      return 0;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  *out = (uint16_t)v;
  return v >= 1900;
}

/* Splits line (len bytes) at commas into at most max fields. */
static size_t split_fields(const char *line, size_t len, const char **f, size_t *fl, size_t max) {
  size_t n = 0;
  const char *p = line, *end = line + len;
  while (n < max) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *stop = comma != NULL && n + 1 < max ? comma : end;
    f[n] = p;
    fl[n++] = (size_t)(stop - p);
    if (stop == end)
      break;
    p = stop + 1;
  }
  return n;
}

static const char *entry_error(const char **f, const size_t *fl, size_t nf, struct code_entry *e) {
  if (nf < 4)
    return "expected list,code,first,last[,note]";
  const int list = list_of(f[0], fl[0]);
  if (list < 0)
    return "unknown list name";
  if (fl[1] == 0 || fl[1] >= sizeof e->code)
    return "code must be 1 to 7 characters";
  for (size_t i = 0; i < fl[1]; i++)
    if (code_digit(f[1][i]) < 0)
      return "code must be of [0-9A-Z]";
  if (!parse_year(f[2], fl[2], &e->first) || !parse_year(f[3], fl[3], &e->last))
    return "first and last must be empty or a year (YYYY, 1900 on)";
  if (e->first != 0 && e->last != 0 && e->last < e->first)
    return "last year before first year";
  e->list = (uint8_t)list;
  memcpy(e->code, f[1], fl[1]);
  e->code[fl[1]] = '\0';
  return NULL;
}

static int add_entry(struct code_lists *c, const struct code_entry *e, size_t *cap) {
  if (c->n == *cap) {
    const size_t ncap = *cap ? *cap * 2 : 256;
    struct code_entry *v = realloc(c->v, ncap * sizeof *v);
    if (v == NULL)
      return CSC_ENOMEM;
    c->v = v;
    *cap = ncap;
  }
  c->v[c->n++] = *e;
  return CSC_OK;
}

/* One line (no newline) of the file: a comment, blank, the header or an entry. */
static int parse_line(struct code_lists *c, const char *line, size_t len, int *seen_header,
                      size_t *cap, const char **why) {
  while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
    len--;
  if (len == 0 || line[0] == '#')
    return CSC_OK;
  if (!*seen_header) {
    *seen_header = 1;
    if (len == strlen(CODES_HEADER) && memcmp(line, CODES_HEADER, len) == 0)
      return CSC_OK;
    *why = "expected the header " CODES_HEADER;
    return CSC_EINVAL;
  }
  const char *f[5];
  size_t fl[5];
  struct code_entry e;
  memset(&e, 0, sizeof e);
  *why = entry_error(f, fl, split_fields(line, len, f, fl, 5), &e);
  if (*why != NULL)
    return CSC_EINVAL;
  *why = "out of memory";
  return add_entry(c, &e, cap);
}

/* Groups the entries by list, keeping the file's order within each (the
 * order of the catalogue's rows), so that a lookup scans one list only. */
static int group_by_list(struct code_lists *c) {
  struct code_entry *v = malloc((c->n ? c->n : 1) * sizeof *v);
  if (v == NULL)
    return CSC_ENOMEM;
  size_t k = 0;
  for (int l = 0; l < CODE_LIST_COUNT; l++) {
    c->begin[l] = k;
    for (size_t i = 0; i < c->n; i++)
      if (c->v[i].list == (uint8_t)l)
        v[k++] = c->v[i];
  }
  c->begin[CODE_LIST_COUNT] = k;
  free(c->v);
  c->v = v;
  return CSC_OK;
}

int code_lists_parse(struct code_lists *c, const char *text, size_t len, const char *name,
                     char *err, size_t errlen) {
  memset(c, 0, sizeof *c);
  size_t cap = 0;
  int seen_header = 0, rc = CSC_OK;
  unsigned lineno = 0;
  const char *why = "out of memory";
  for (const char *p = text, *end = text + len; rc == CSC_OK && p < end;) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *stop = nl != NULL ? nl : end;
    lineno++;
    rc = parse_line(c, p, (size_t)(stop - p), &seen_header, &cap, &why);
    p = stop + 1;
  }
  if (rc == CSC_OK && c->n == 0) {
    why = "no codes";
    rc = CSC_EINVAL;
  }
  if (rc == CSC_OK && (group_by_list(c) != CSC_OK || (c->text = malloc(len + 1)) == NULL)) {
    why = "out of memory";
    rc = CSC_ENOMEM;
  }
  if (rc != CSC_OK) {
    snprintf(err, errlen, "%s:%u: %s", name, lineno, why);
    code_lists_free(c);
    return rc;
  }
  memcpy(c->text, text, len);
  c->text[len] = '\0';
  c->text_len = len;
  snprintf(c->version, sizeof c->version, "%016llx", (unsigned long long)fnv1a64(text, len));
  return CSC_OK;
}

int code_lists_load(struct code_lists *c, const char *path, char *err, size_t errlen) {
  memset(c, 0, sizeof *c);
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    snprintf(err, errlen, "%s: cannot open the code lists", path);
    return CSC_EIO;
  }
  char *buf = NULL;
  size_t len = 0, cap = 0, got;
  int rc = CSC_OK;
  do {
    if (len + 4096 > cap) {
      char *nb = realloc(buf, cap = cap * 2 + 4096);
      if (nb == NULL) {
        rc = CSC_ENOMEM;
        break;
      }
      buf = nb;
    }
    got = fread(buf + len, 1, cap - len, f);
    len += got;
  } while (got > 0);
  if (rc == CSC_OK && ferror(f))
    rc = CSC_EIO;
  fclose(f);
  if (rc == CSC_OK)
    rc = code_lists_parse(c, buf, len, path, err, errlen);
  else
    snprintf(err, errlen, "%s: cannot read the code lists", path);
  free(buf);
  return rc;
}

void code_lists_free(struct code_lists *c) {
  free(c->v);
  free(c->text);
  memset(c, 0, sizeof *c);
}

/* ---- an event's codes ------------------------------------------------------------ */

struct judge {
  const struct code_lists *c;
  csc_date on;
};

static int known(const struct judge *f, enum code_list list, const char *code) {
  return code_is_known(f->c, list, code, f->on);
}

static int any_unknown(const struct judge *f, enum code_list list, char **codes, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!known(f, list, codes[i]))
      return 1;
  return 0;
}

static int placement_unknown(const struct judge *f, const Cscflow__V1__Placement *p) {
  return p != NULL && (!known(f, CODE_PLACEMENT_TYPE, p->placement_type) ||
                       !known(f, CODE_PROVIDER, p->provider));
}

int code_event_unknown(const struct code_lists *c, const CaseEvent *ev, csc_date on) {
  const struct judge j = {c, on}, *f = &j;
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS:
    return !known(f, CODE_ETHNICITY, ev->child_details->ethnicity) ||
           any_unknown(f, CODE_DISABILITY, ev->child_details->disabilities,
                       ev->child_details->n_disabilities);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED:
    return !known(f, CODE_REFERRAL_SOURCE, ev->referral_opened->source) ||
           !known(f, CODE_PRIMARY_NEED, ev->referral_opened->primary_need);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED:
    return !known(f, CODE_CLOSURE_REASON, ev->referral_closed->closure_reason);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_COMPLETED:
    return any_unknown(f, CODE_ASSESSMENT_FACTOR, ev->assessment_completed->factors,
                       ev->assessment_completed->n_factors);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED:
    return !known(f, CODE_ABUSE_CATEGORY, ev->cp_plan_started->initial_category);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED:
    return !known(f, CODE_ABUSE_CATEGORY, ev->cp_plan_ended->latest_category);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED: {
    const Cscflow__V1__PeriodOfCareStarted *p = ev->period_of_care_started;
    return !known(f, CODE_LEGAL_STATUS, p->legal_status) ||
           !known(f, CODE_NEED, p->category_of_need) || placement_unknown(f, p->placement);
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_ENDED:
    return !known(f, CODE_REASON_CEASED, ev->period_of_care_ended->reason_ceased);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PLACEMENT_STARTED:
    return placement_unknown(f, ev->placement_started->placement) ||
           !known(f, CODE_PLACEMENT_CHANGE, ev->placement_started->reason_for_change) ||
           !known(f, CODE_REASON_NEW_EPISODE, ev->placement_started->reason_for_new_episode);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_LEGAL_STATUS_CHANGED:
    return !known(f, CODE_LEGAL_STATUS, ev->legal_status_changed->legal_status) ||
           !known(f, CODE_REASON_NEW_EPISODE, ev->legal_status_changed->reason_for_new_episode);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CARE_LEAVER_CONTACT:
    return !known(f, CODE_LEAVER_ACTIVITY, ev->care_leaver_contact->activity_code) ||
           !known(f, CODE_LEAVER_ACCOMMODATION, ev->care_leaver_contact->accommodation_code) ||
           !known(f, CODE_IN_TOUCH, ev->care_leaver_contact->in_touch_code);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CATEGORY_OF_NEED_CHANGED:
    return !known(f, CODE_NEED, ev->category_of_need_changed->category_of_need);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REVIEW_HELD:
    return !known(f, CODE_REVIEW_PARTICIPATION, ev->review_held->participation_code);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PREVIOUS_PERMANENCE:
    return !known(f, CODE_PREVIOUS_PERMANENCE, ev->previous_permanence->kind_code);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED:
    return !known(f, CODE_SW_REASON, ev->worker_allocated->end_reason);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE:
    return !known(f, CODE_ETHNICITY, ev->workforce->ethnicity);
  default:
    return 0;
  }
}

/* ---- the lists a state was built with -------------------------------------------- */

static MDB_val meta_key(const char *k) { return (MDB_val){strlen(k), (void *)k}; }

int store_get_code_lists(struct store *st, MDB_txn *txn, struct code_lists *out) {
  MDB_val k = meta_key(STORE_CODE_LISTS_KEY), v;
  memset(out, 0, sizeof *out);
  const int rc = mdb_get(txn, st->meta, &k, &v);
  if (rc == MDB_NOTFOUND)
    return CSC_ENOTFOUND;
  if (rc != 0)
    return store_error(rc, "get code lists");
  char err[256];
  return code_lists_parse(out, v.mv_data, v.mv_size, "state", err, sizeof err) == CSC_OK
             ? CSC_OK
             : CSC_ESTATE;
}

int store_code_lists_check(struct store *st, MDB_txn *txn, const struct code_lists *c,
                           char recorded[17]) {
  MDB_val k = meta_key(STORE_CODE_LISTS_VERSION_KEY), v;
  recorded[0] = '\0';
  int rc = mdb_get(txn, st->meta, &k, &v);
  if (rc == 0) {
    snprintf(recorded, 17, "%.*s", (int)(v.mv_size < 16 ? v.mv_size : 16), (char *)v.mv_data);
    return strcmp(recorded, c->version) == 0 ? CSC_OK : CSC_EINVAL;
  }
  if (rc != MDB_NOTFOUND)
    return store_error(rc, "get code lists version");
  v = (MDB_val){strlen(c->version), (void *)c->version};
  rc = mdb_put(txn, st->meta, &k, &v, 0);
  MDB_val tk = meta_key(STORE_CODE_LISTS_KEY), tv = {c->text_len, c->text};
  if (rc == 0)
    rc = mdb_put(txn, st->meta, &tk, &tv, 0);
  if (rc == 0)
    snprintf(recorded, 17, "%s", c->version);
  return rc == 0 ? CSC_OK : store_error(rc, "put code lists");
}
