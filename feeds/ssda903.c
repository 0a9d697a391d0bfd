/*
 * ssda903.c — the SSDA903 return (children looked after) as events.
 *
 * Tables are recognised by their header rows: the column names of the DfE
 * guide, in any order, with any others beside them. What each becomes:
 *
 *   Header    ChildDetails: date of birth, sex (1 male, 2 female), ethnicity;
 *             dated on the birth (details are folded before anything else).
 *   UASC      ChildDetails: uasc, and uasc_ceased_on from DUC.
 *   Episodes  a child's rows in DECOM order make its periods of care:
 *               RNE S      PeriodOfCareStarted (legal status, category of
 *                          need, the first placement) on DECOM; the period
 *                          is named "P" + its start date (an item is its
 *                          kind and start date: DESIGN.md, Feeds);
 *               P, T, B, U PlacementStarted (placement, reason for change,
 *                          the RNE: T and U say the carer is the same);
 *               L, U, B    LegalStatusChanged (with the RNE);
 *               any row    CategoryOfNeedChanged when CIN differs from the
 *                          period's;
 *               REC + DEC  PeriodOfCareEnded on DEC, unless REC is X1 (the
 *                          episode ends, the period goes on).
 *             A child whose first row is not an S row had a period begun
 *             before the return: it is imported as continuing
 *             (PeriodOfCareStarted.continuing, named by the row's DECOM),
 *             never dropped; the fold joins it to the period open that day
 *             or opens one whose start is unknown.
 *   Reviews   ReviewHeld (LAC, participation code) naming the period of
 *             the episodes that holds the review date ("" if none: the
 *             fold reports review_outside_plan).
 *   Missing   MissingStarted (M missing, A away) on MIS_START and
 *             MissingEnded on MIS_END, the episode named "M" + its start.
 *   AD1       AdoptionMilestone DECISION (DATE_INT) and MATCHED (DATE_MATCH);
 *   PlacedAdoption  DECISION (DATE_PLACED), DECISION_REVERSED when it
 *             ceased other than by adoption (RD1); the episodes give
 *             PLACEMENT_ORDER (legal status E1), PLACED (the first A3-A6
 *             placement of a run; A3 and A5, with the current foster carer)
 *             and ADOPTED (E11, E12).
 *   OC2       SdqScore on 31 March; OC3 CareLeaverContact on the birthday in
 *             the year; PrevPerm PreviousPermanence on the first period the
 *             return starts; SocialWorker WorkerAllocated from SW_DECOM to
 *             SW_DEC (with SW_REASON).
 *
 * Rows are kept as read, then sorted by child (and date) so that each
 * child's events are made together.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "feeds/internal.h"

enum table {
  T_EPISODES, T_HEADER, T_UASC, T_REVIEWS, T_MISSING,
  T_AD1, T_PLACED_ADOPTION, T_OC2, T_OC3, T_PREV_PERM, T_SOCIAL_WORKER,
  T_COUNT
};

#define MAX_COLUMNS 12

/* A table: its report name, the columns kept (the first is always CHILD),
 * and the columns that recognise it (with CHILD). */
static const struct table_def {
  const char *name;
  const char *columns[MAX_COLUMNS];
  const char *signature[4];
} tables[T_COUNT] = {
    [T_EPISODES] = {"episodes",
                    {"CHILD", "DECOM", "RNE", "LS", "CIN", "PLACE", "PLACE_PROVIDER", "DEC",
                     "REC", "REASON_PLACE_CHANGE", "PL_POST"},
                    {"DECOM", "RNE", "LS", "PLACE"}},
    [T_HEADER] = {"header", {"CHILD", "SEX", "DOB", "ETHNIC"}, {"SEX", "DOB", "ETHNIC"}},
    [T_UASC] = {"uasc", {"CHILD", "DOB", "DUC"}, {"DUC"}},
    [T_REVIEWS] = {"reviews", {"CHILD", "REVIEW", "REVIEW_CODE"}, {"REVIEW", "REVIEW_CODE"}},
    [T_MISSING] = {"missing", {"CHILD", "MISSING", "MIS_START", "MIS_END"}, {"MIS_START"}},
    [T_AD1] = {"ad1", {"CHILD", "DATE_INT", "DATE_MATCH", "FOSTER_CARE"},
               {"DATE_INT", "DATE_MATCH"}},
    [T_PLACED_ADOPTION] = {"placed_for_adoption",
                           {"CHILD", "DATE_PLACED", "DATE_PLACED_CEASED", "REASON_PLACED_CEASED"},
                           {"DATE_PLACED"}},
    [T_OC2] = {"oc2", {"CHILD", "SDQ_SCORE", "SDQ_REASON"}, {"SDQ_SCORE"}},
    [T_OC3] = {"oc3", {"CHILD", "DOB", "IN_TOUCH", "ACTIV", "ACCOM"}, {"IN_TOUCH", "ACTIV"}},
    [T_PREV_PERM] = {"previous_permanence", {"CHILD", "PREV_PERM", "LA_PERM", "DATE_PERM"},
                     {"PREV_PERM"}},
    [T_SOCIAL_WORKER] = {"sw_episodes", {"CHILD", "SW_ID", "SW_DECOM", "SW_DEC", "SW_REASON"},
                         {"SW_ID", "SW_DECOM"}},
};

/* Column indexes of the kept columns, per table. */
enum { E_CHILD, E_DECOM, E_RNE, E_LS, E_CIN, E_PLACE, E_PROVIDER, E_DEC, E_REC, E_REASON, E_PL_POST };
enum { H_CHILD, H_SEX, H_DOB, H_ETHNIC };
enum { U_CHILD, U_DOB, U_DUC };
enum { V_CHILD, V_REVIEW, V_CODE };
enum { M_CHILD, M_KIND, M_START, M_END };
enum { A_CHILD, A_DECISION, A_MATCH, A_FOSTER };
enum { PA_CHILD, PA_DECISION, PA_CEASED, PA_REASON };
enum { S_CHILD, S_SCORE, S_REASON };
enum { L_CHILD, L_DOB, L_IN_TOUCH, L_ACTIV, L_ACCOM };
enum { PP_CHILD, PP_KIND, PP_LA, PP_DATE };
enum { W_CHILD, W_ID, W_START, W_END, W_REASON };

struct row {
  long line;
  csc_date date; /* the row's sort date (DECOM, REVIEW, MIS_START), or DATE_NEVER */
  const char *v[MAX_COLUMNS];
};

struct rows {
  struct row *r;
  size_t n, cap;
  const char *files; /* the files read, comma-separated */
  uint64_t events;
};

struct ssda903 {
  struct rows t[T_COUNT];
  struct period {
    const char *id;
    csc_date start, end;
    int continuing; /* begun before the return: start is the first day it shows */
  } *periods; /* one child's */
  size_t n_periods, cap_periods;
  struct unrecognised { const char *name; } *unrecognised;
  size_t n_unrecognised, cap_unrecognised;
};

void ssda903_free(struct ssda903 *s) {
  if (s == NULL)
    return;
  for (int t = 0; t < T_COUNT; t++)
    free(s->t[t].r);
  free(s->periods);
  free(s->unrecognised);
  free(s);
}

/* ---- reading the tables -------------------------------------------------------- */

static int column_of(const struct csv_reader *r, const char *name) {
  for (size_t i = 0; i < r->n; i++)
    if (strcasecmp(r->fields[i], name) == 0)
      return (int)i;
  return -1;
}

/* The table whose signature the header row holds, or T_COUNT. Episodes
 * first: its rows name a DOB-less child, and the Header table is tried
 * after UASC, whose columns it shares but DUC. */
static enum table recognise(const struct csv_reader *r) {
  static const enum table order[] = {T_EPISODES, T_UASC, T_HEADER, T_REVIEWS, T_MISSING,
                                     T_AD1, T_PLACED_ADOPTION, T_OC2, T_OC3, T_PREV_PERM,
                                     T_SOCIAL_WORKER};
  if (column_of(r, "CHILD") < 0)
    return T_COUNT;
  for (size_t k = 0; k < sizeof order / sizeof *order; k++) {
    const struct table_def *d = &tables[order[k]];
    int all = 1;
    for (int s = 0; s < 4 && d->signature[s] != NULL; s++)
      all &= column_of(r, d->signature[s]) >= 0;
    if (all)
      return order[k];
  }
  return T_COUNT;
}

static const int sort_column[T_COUNT] = {[T_EPISODES] = E_DECOM, [T_HEADER] = -1,
                                         [T_UASC] = -1, [T_REVIEWS] = V_REVIEW,
                                         [T_MISSING] = M_START, [T_AD1] = A_DECISION,
                                         [T_PLACED_ADOPTION] = PA_DECISION, [T_OC2] = -1,
                                         [T_OC3] = -1, [T_PREV_PERM] = -1,
                                         [T_SOCIAL_WORKER] = W_START};

/* Keeps one record of table t (where[] maps kept columns to fields). */
static int keep_row(struct import *im, enum table t, const struct csv_reader *r,
                    const int *where) {
  struct rows *rs = &im->s903->t[t];
  int rc = array_grow((void **)&rs->r, &rs->cap, rs->n + 1, sizeof *rs->r);
  if (rc != CSC_OK)
    return rc;
  struct row *row = &rs->r[rs->n++];
  memset(row, 0, sizeof *row);
  row->line = r->line;
  row->date = DATE_NEVER;
  for (int c = 0; c < MAX_COLUMNS && tables[t].columns[c] != NULL; c++) {
    const char *v = where[c] >= 0 && (size_t)where[c] < r->n ? r->fields[where[c]] : "";
    if (c == 0)
      v = import_child_id(im, v); /* CHILD, as the LA's systems know the child */
    if ((row->v[c] = arena_strdup(&im->arena, v)) == NULL)
      return CSC_ENOMEM;
  }
  const int sc = sort_column[t];
  if (sc >= 0 && row->v[sc][0] != '\0')
    feeds_parse_date(row->v[sc], &row->date); /* unparsed stays DATE_NEVER: reported later */
  return CSC_OK;
}

static int note_files(struct import *im, struct rows *rs, const char *name) {
  const size_t n = rs->files ? strlen(rs->files) + 1 : 0;
  char *s = arena_alloc(&im->arena, n + strlen(name) + 1);
  if (s == NULL)
    return CSC_ENOMEM;
  if (n)
    memcpy(s, rs->files, n - 1), s[n - 1] = ',';
  strcpy(s + n, name);
  rs->files = s;
  return CSC_OK;
}

static int note_unrecognised(struct import *im, const char *name) {
  struct ssda903 *s = im->s903;
  int rc = array_grow((void **)&s->unrecognised, &s->cap_unrecognised, s->n_unrecognised + 1,
                      sizeof *s->unrecognised);
  const char *copy = rc == CSC_OK ? arena_strdup(&im->arena, name) : NULL;
  if (copy == NULL)
    return CSC_ENOMEM;
  s->unrecognised[s->n_unrecognised++].name = copy;
  return import_note(im, R_UNRECOGNISED_FILE, copy, 1, "");
}

int import_903_table(struct import *im, const char *name, FILE *f) {
  if (im->s903 == NULL && (im->s903 = calloc(1, sizeof *im->s903)) == NULL)
    return CSC_ENOMEM;
  struct csv_reader r;
  csv_init(&r, f);
  int got = csv_next(&r), rc = CSC_OK;
  const enum table t = got == 1 ? recognise(&r) : T_COUNT;
  if (got == CSC_ENOMEM) {
    csv_free(&r);
    return CSC_ENOMEM;
  }
  if (t == T_COUNT) {
    csv_free(&r);
    return note_unrecognised(im, name);
  }
  int where[MAX_COLUMNS];
  for (int c = 0; c < MAX_COLUMNS; c++)
    where[c] = tables[t].columns[c] ? column_of(&r, tables[t].columns[c]) : -1;
  rc = note_files(im, &im->s903->t[t], name);
  while (rc == CSC_OK && (got = csv_next(&r)) == 1)
    rc = keep_row(im, t, &r, where);
  if (rc == CSC_OK && got == CSC_EINVAL)
    rc = import_note(im, R_UNREADABLE_RECORD, tables[t].name, r.next_line, "");
  else if (rc == CSC_OK && got < 0)
    rc = got;
  csv_free(&r);
  if (rc == CSC_OK && ferror(f))
    rc = CSC_EIO;
  return rc;
}

/* ---- making the events --------------------------------------------------------- */

static int row_compare(const void *pa, const void *pb) {
  const struct row *a = pa, *b = pb;
  const int c = strcmp(a->v[0], b->v[0]);
  if (c)
    return c;
  if (a->date != b->date)
    return a->date < b->date ? -1 : 1;
  return (a->line > b->line) - (a->line < b->line);
}

static uint32_t ymd(csc_date d) { return date_to_yyyymmdd(d); }

/* "P" or "M" and the date: an item named by its kind and start. */
static const char *item_id(struct import *im, char kind, csc_date start) {
  char buf[16];
  snprintf(buf, sizeof buf, "%c%08u", kind, (unsigned)ymd(start));
  return arena_strdup(&im->arena, buf);
}


/* A row's date in column c into *d; notes the row when it is not one. */
static int row_date(struct import *im, enum table t, const struct row *row, int c, csc_date *d,
                    int *ok) {
  *ok = 0;
  if (row->v[c][0] == '\0')
    return import_note(im, R_MISSING_VALUE, tables[t].name, row->line, row->v[0]);
  if (feeds_parse_date(row->v[c], d) != CSC_OK)
    return import_note(im, R_INVALID_DATE, tables[t].name, row->line, row->v[0]);
  *ok = 1;
  return CSC_OK;
}

static int emit_row(struct import *im, enum table t, const struct row *row, CaseEvent *ev,
                    csc_date on) {
  ev->child_id = (char *)row->v[0];
  ev->occurred_on = ymd(on);
  const uint64_t before = im->events;
  const int rc = import_emit(im, ev, tables[t].name, row->line);
  im->s903->t[t].events += im->events - before;
  return rc;
}

static int details_event(struct import *im, enum table t, const struct row *row) {
  csc_date dob;
  int ok;
  int rc = row_date(im, t, row, t == T_HEADER ? H_DOB : U_DOB, &dob, &ok);
  if (rc != CSC_OK || !ok)
    return rc;
  CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__ChildDetails d = CSCFLOW__V1__CHILD_DETAILS__INIT;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS;
  ev.child_details = &d;
  d.date_of_birth = ymd(dob);
  if (t == T_HEADER) {
    const char *sex = row->v[H_SEX];
    d.sex = strcmp(sex, "1") == 0   ? CSCFLOW__V1__SEX__SEX_MALE
            : strcmp(sex, "2") == 0 ? CSCFLOW__V1__SEX__SEX_FEMALE
                                    : CSCFLOW__V1__SEX__SEX_UNSPECIFIED;
    d.ethnicity = (char *)row->v[H_ETHNIC];
  } else {
    d.uasc = 1;
    csc_date duc;
    if (row->v[U_DUC][0] != '\0' && feeds_parse_date(row->v[U_DUC], &duc) == CSC_OK)
      d.uasc_ceased_on = ymd(duc);
    else if (row->v[U_DUC][0] != '\0' &&
             (rc = import_note(im, R_INVALID_DATE, tables[t].name, row->line, row->v[0])) != CSC_OK)
      return rc;
  }
  return emit_row(im, t, row, &ev, dob);
}

static int adoption_stage(struct import *im, enum table t, const struct row *row, csc_date on,
                          Cscflow__V1__AdoptionStage stage, int foster_carer) {
  CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__AdoptionMilestone m = CSCFLOW__V1__ADOPTION_MILESTONE__INIT;
  m.stage = stage;
  m.placed_with_foster_carer = foster_carer;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_ADOPTION_MILESTONE;
  ev.adoption_milestone = &m;
  return emit_row(im, t, row, &ev, on);
}

static int is_adoption_placement(const char *place) {
  return (place[0] == 'A' || place[0] == 'a') && place[1] >= '3' && place[1] <= '6' &&
         place[2] == '\0';
}

/* One child's episodes, in DECOM order: what the period open now is. */
struct care {
  const char *period;   /* NULL: none open */
  csc_date start;
  const char *ls, *cin, *place;
  csc_date episode_end; /* the last episode's DEC when it was X1, else DATE_NEVER */
  int episode_open;     /* the last episode has neither DEC nor REC */
  int ended_any;        /* a period of this child has ended */
};

/* Placed for adoption (A3-A6) from the first such placement of a run:
 * the adoption journey's "placed" (A1, A10). */
static int adoption_placement(struct import *im, const struct row *row, csc_date on,
                              struct care *c) {
  const char *place = row->v[E_PLACE];
  const int placed = is_adoption_placement(place) && !is_adoption_placement(c->place);
  c->place = place;
  /* A3 and A5 are placements for adoption "with current foster carer(s)":
   * A10's adjustment dates such a child from the move in with the carer. */
  const int foster = strcasecmp(place, "A3") == 0 || strcasecmp(place, "A5") == 0;
  return placed ? adoption_stage(im, T_EPISODES, row, on,
                                 CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_PLACED, foster)
                : CSC_OK;
}

/* Legal status E1, a placement order granted: the adoption journey's
 * placement order (A2 counts from it), once per run of E1 rows. */
static int placement_order(struct import *im, const struct row *row, csc_date on,
                           const char *before) {
  const int granted = strcasecmp(row->v[E_LS], "E1") == 0 && strcasecmp(before, "E1") != 0;
  return granted ? adoption_stage(im, T_EPISODES, row, on,
                                  CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_PLACEMENT_ORDER, 0)
                 : CSC_OK;
}

static void fill_placement(const struct row *row, Cscflow__V1__Placement *p, char *district,
                           size_t len) {
  p->placement_type = (char *)row->v[E_PLACE];
  p->provider = (char *)row->v[E_PROVIDER];
  feeds_postcode_district(row->v[E_PL_POST], district, len);
  p->postcode_district = district;
}

static int period_start(struct import *im, const struct row *row, csc_date on, int continuing,
                        struct care *c) {
  CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__PeriodOfCareStarted s = CSCFLOW__V1__PERIOD_OF_CARE_STARTED__INIT;
  Cscflow__V1__Placement p = CSCFLOW__V1__PLACEMENT__INIT;
  char district[16];
  fill_placement(row, &p, district, sizeof district);
  c->period = item_id(im, 'P', on);
  if (c->period == NULL)
    return CSC_ENOMEM;
  c->start = on;
  c->ls = row->v[E_LS];
  c->cin = row->v[E_CIN];
  c->place = "";
  s.period_id = (char *)c->period;
  s.legal_status = (char *)row->v[E_LS];
  s.category_of_need = (char *)row->v[E_CIN];
  s.placement = &p;
  s.continuing = continuing;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED;
  ev.period_of_care_started = &s;
  int rc = emit_row(im, T_EPISODES, row, &ev, on);
  struct ssda903 *x = im->s903;
  if (rc == CSC_OK)
    rc = array_grow((void **)&x->periods, &x->cap_periods, x->n_periods + 1, sizeof *x->periods);
  if (rc == CSC_OK)
    x->periods[x->n_periods++] = (struct period){c->period, on, DATE_NEVER, continuing};
  if (rc == CSC_OK)
    rc = placement_order(im, row, on, "");
  return rc == CSC_OK ? adoption_placement(im, row, on, c) : rc;
}

/* The changes a non-S row makes to the open period. */
static int period_changes(struct import *im, const struct row *row, csc_date on,
                          struct care *c) {
  const char *rne = row->v[E_RNE];
  int rc = CSC_OK;
  if (strchr("PTBU", rne[0]) != NULL) {
    CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
    Cscflow__V1__PlacementStarted ps = CSCFLOW__V1__PLACEMENT_STARTED__INIT;
    Cscflow__V1__Placement p = CSCFLOW__V1__PLACEMENT__INIT;
    char district[16];
    fill_placement(row, &p, district, sizeof district);
    ps.period_id = (char *)c->period;
    ps.placement = &p;
    ps.reason_for_change = (char *)row->v[E_REASON];
    ps.reason_for_new_episode = (char *)rne;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_PLACEMENT_STARTED;
    ev.placement_started = &ps;
    rc = emit_row(im, T_EPISODES, row, &ev, on);
    if (rc == CSC_OK)
      rc = adoption_placement(im, row, on, c);
  }
  if (rc == CSC_OK && (strchr("LBU", rne[0]) != NULL || strcmp(row->v[E_LS], c->ls) != 0)) {
    CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
    Cscflow__V1__LegalStatusChanged l = CSCFLOW__V1__LEGAL_STATUS_CHANGED__INIT;
    l.period_id = (char *)c->period;
    l.legal_status = (char *)row->v[E_LS];
    l.reason_for_new_episode = (char *)rne;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_LEGAL_STATUS_CHANGED;
    ev.legal_status_changed = &l;
    rc = emit_row(im, T_EPISODES, row, &ev, on);
    if (rc == CSC_OK)
      rc = placement_order(im, row, on, c->ls);
    c->ls = row->v[E_LS];
  }
  if (rc == CSC_OK && strcmp(row->v[E_CIN], c->cin) != 0) {
    CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
    Cscflow__V1__CategoryOfNeedChanged n = CSCFLOW__V1__CATEGORY_OF_NEED_CHANGED__INIT;
    n.period_id = (char *)c->period;
    n.category_of_need = (char *)row->v[E_CIN];
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CATEGORY_OF_NEED_CHANGED;
    ev.category_of_need_changed = &n;
    rc = emit_row(im, T_EPISODES, row, &ev, on);
    c->cin = row->v[E_CIN];
  }
  return rc;
}

/* The end of the row's episode: the period ends with a reason ceased other
 * than X1 and a date; X1 leaves it open for the next row. */
static int episode_end(struct import *im, const struct row *row, struct care *c) {
  const char *rec = row->v[E_REC], *dec = row->v[E_DEC];
  const char *tn = tables[T_EPISODES].name;
  c->episode_end = DATE_NEVER;
  c->episode_open = rec[0] == '\0' && dec[0] == '\0';
  if (c->episode_open)
    return CSC_OK; /* open at the end of the year */
  if (dec[0] == '\0')
    return import_note(im, R_REASON_WITHOUT_DATE, tn, row->line, row->v[0]);
  if (rec[0] == '\0')
    return import_note(im, R_DATE_WITHOUT_REASON, tn, row->line, row->v[0]);
  csc_date end;
  if (feeds_parse_date(dec, &end) != CSC_OK)
    return import_note(im, R_INVALID_DATE, tn, row->line, row->v[0]);
  if (strcasecmp(rec, "X1") == 0) {
    c->episode_end = end;
    return CSC_OK;
  }
  int rc = CSC_OK;
  if (strcasecmp(rec, "E11") == 0 || strcasecmp(rec, "E12") == 0)
    rc = adoption_stage(im, T_EPISODES, row, end, CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_ADOPTED,
                        0);
  if (rc != CSC_OK)
    return rc;
  CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__PeriodOfCareEnded e = CSCFLOW__V1__PERIOD_OF_CARE_ENDED__INIT;
  e.period_id = (char *)c->period;
  e.reason_ceased = (char *)rec;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_ENDED;
  ev.period_of_care_ended = &e;
  rc = emit_row(im, T_EPISODES, row, &ev, end);
  if (im->s903->n_periods > 0)
    im->s903->periods[im->s903->n_periods - 1].end = end;
  c->period = NULL;
  c->ended_any = 1;
  return rc;
}

/* One episode row of a child (rows in DECOM order). */
static int episode(struct import *im, const struct row *row, int first, struct care *c) {
  const char *tn = tables[T_EPISODES].name;
  csc_date on;
  int ok;
  int rc = row_date(im, T_EPISODES, row, E_DECOM, &on, &ok);
  if (rc != CSC_OK || !ok)
    return rc;
  const char *rne = row->v[E_RNE];
  if (rne[0] == '\0' || rne[1] != '\0' || strchr("SLPTBU", rne[0]) == NULL)
    return import_note(im, rne[0] ? R_INVALID_CODE : R_MISSING_VALUE, tn, row->line, row->v[0]);
  if (row->v[E_LS][0] == '\0')
    return import_note(im, R_MISSING_VALUE, tn, row->line, row->v[0]);
  /* How this row meets the last one: on the DEC of an X1 episode. */
  if (c->period != NULL && c->episode_open)
    rc = import_note(im, R_OVERLAPPING_EPISODES, tn, row->line, row->v[0]);
  else if (c->period != NULL && c->episode_end != DATE_NEVER && on != c->episode_end)
    rc = import_note(im, on < c->episode_end ? R_OVERLAPPING_EPISODES : R_X1_NOT_CONTINUED, tn,
                     row->line, row->v[0]);
  if (rc != CSC_OK)
    return rc;
  if (rne[0] == 'S') {
    if (c->period != NULL)
      rc = import_note(im, R_S_WHILE_OPEN, tn, row->line, row->v[0]);
    if (rc == CSC_OK)
      rc = period_start(im, row, on, 0, c);
  } else if (c->period == NULL) {
    /* A period the return does not start: begun before it (the first
     * row), or after an end with no S row (a known start: its DECOM). */
    const int before_return = first && !c->ended_any;
    rc = import_note(im, before_return ? R_PERIOD_BEFORE_RETURN : R_PERIOD_WITHOUT_S, tn,
                     row->line, row->v[0]);
    if (rc == CSC_OK)
      rc = period_start(im, row, on, before_return, c);
  } else {
    rc = period_changes(im, row, on, c);
  }
  return rc == CSC_OK ? episode_end(im, row, c) : rc;
}

static int episodes_of_child(struct import *im, const struct row *rows, size_t n) {
  struct care c = {NULL, DATE_NEVER, "", "", "", DATE_NEVER, 0, 0};
  im->s903->n_periods = 0;
  int rc = CSC_OK;
  for (size_t i = 0; rc == CSC_OK && i < n; i++)
    rc = episode(im, &rows[i], i == 0, &c);
  if (rc == CSC_OK && c.period != NULL && c.episode_end != DATE_NEVER)
    rc = import_note(im, R_X1_NOT_CONTINUED, tables[T_EPISODES].name, rows[n - 1].line,
                     rows[n - 1].v[0]);
  return rc;
}

/* The period that holds date d (its start to its end, the end included:
 * the review that ends a plan is its review), or "". */
static const char *period_on(const struct ssda903 *s, csc_date d) {
  for (size_t i = s->n_periods; i-- > 0;)
    if (s->periods[i].start <= d && d <= s->periods[i].end)
      return s->periods[i].id;
  return "";
}

static int review_event(struct import *im, const struct row *row) {
  csc_date on;
  int ok;
  int rc = row_date(im, T_REVIEWS, row, V_REVIEW, &on, &ok);
  if (rc != CSC_OK || !ok)
    return rc;
  CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__ReviewHeld r = CSCFLOW__V1__REVIEW_HELD__INIT;
  r.plan_id = (char *)period_on(im->s903, on);
  r.kind = CSCFLOW__V1__REVIEW_KIND__REVIEW_KIND_LAC;
  r.participation_code = (char *)row->v[V_CODE];
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REVIEW_HELD;
  ev.review_held = &r;
  return emit_row(im, T_REVIEWS, row, &ev, on);
}

static int missing_events(struct import *im, const struct row *row) {
  csc_date start, end;
  int ok;
  int rc = row_date(im, T_MISSING, row, M_START, &start, &ok);
  if (rc != CSC_OK || !ok)
    return rc;
  const char *kind = row->v[M_KIND];
  if (strcasecmp(kind, "M") != 0 && strcasecmp(kind, "A") != 0)
    return import_note(im, kind[0] ? R_INVALID_CODE : R_MISSING_VALUE, tables[T_MISSING].name,
                       row->line, row->v[0]);
  const char *id = item_id(im, 'M', start);
  if (id == NULL)
    return CSC_ENOMEM;
  CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__MissingStarted ms = CSCFLOW__V1__MISSING_STARTED__INIT;
  ms.episode_id = (char *)id;
  ms.kind = strcasecmp(kind, "M") == 0 ? CSCFLOW__V1__MISSING_KIND__MISSING_KIND_MISSING
                                       : CSCFLOW__V1__MISSING_KIND__MISSING_KIND_AWAY;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_MISSING_STARTED;
  ev.missing_started = &ms;
  rc = emit_row(im, T_MISSING, row, &ev, start);
  if (rc != CSC_OK || row->v[M_END][0] == '\0')
    return rc;
  if ((rc = row_date(im, T_MISSING, row, M_END, &end, &ok)) != CSC_OK || !ok)
    return rc;
  CaseEvent ee = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__MissingEnded me = CSCFLOW__V1__MISSING_ENDED__INIT;
  me.episode_id = (char *)id;
  ee.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_MISSING_ENDED;
  ee.missing_ended = &me;
  return emit_row(im, T_MISSING, row, &ee, end);
}

/* AD1: the decision that the child should be placed for adoption
 * (DATE_INT) and the match (DATE_MATCH); FOSTER_CARE 1: adopted by their
 * foster carer (A10's adjustment). */
static int ad1_events(struct import *im, const struct row *row) {
  const int foster = strcmp(row->v[A_FOSTER], "1") == 0 || strcasecmp(row->v[A_FOSTER], "true") == 0;
  csc_date on;
  int ok;
  int rc = row_date(im, T_AD1, row, A_DECISION, &on, &ok);
  if (rc == CSC_OK && ok)
    rc = adoption_stage(im, T_AD1, row, on, CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_DECISION,
                        foster);
  if (rc == CSC_OK && row->v[A_MATCH][0] != '\0' &&
      (rc = row_date(im, T_AD1, row, A_MATCH, &on, &ok)) == CSC_OK && ok)
    rc = adoption_stage(im, T_AD1, row, on, CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_MATCHED,
                        foster);
  return rc;
}

/* Placed for adoption: the decision (DATE_PLACED), and its reversal when
 * it ceased for a reason other than RD1 (the child was adopted: the
 * episodes' E11/E12 say so). */
static int placed_adoption_events(struct import *im, const struct row *row) {
  csc_date on;
  int ok;
  int rc = row_date(im, T_PLACED_ADOPTION, row, PA_DECISION, &on, &ok);
  if (rc == CSC_OK && ok)
    rc = adoption_stage(im, T_PLACED_ADOPTION, row, on,
                        CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_DECISION, 0);
  if (rc != CSC_OK || row->v[PA_CEASED][0] == '\0' || strcasecmp(row->v[PA_REASON], "RD1") == 0)
    return rc;
  if ((rc = row_date(im, T_PLACED_ADOPTION, row, PA_CEASED, &on, &ok)) != CSC_OK || !ok)
    return rc;
  return adoption_stage(im, T_PLACED_ADOPTION, row, on,
                        CSCFLOW__V1__ADOPTION_STAGE__ADOPTION_STAGE_DECISION_REVERSED, 0);
}

/* OC2: the year's SDQ score, dated on the collection's 31 March (the table
 * holds no date). A blank score with a reason (SDQ_REASON) is no score. */
static int sdq_event(struct import *im, const struct row *row) {
  const char *score = row->v[S_SCORE];
  char *end;
  if (score[0] == '\0')
    return import_note(im, R_NO_SDQ_SCORE, tables[T_OC2].name, row->line, row->v[0]);
  const long v = strtol(score, &end, 10);
  if (*end != '\0' || v < 0 || v > 40)
    return import_note(im, R_INVALID_CODE, tables[T_OC2].name, row->line, row->v[0]);
  CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__SdqScore q = CSCFLOW__V1__SDQ_SCORE__INIT;
  q.score = (uint32_t)v;
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_SDQ_SCORE;
  ev.sdq_score = &q;
  return emit_row(im, T_OC2, row, &ev, im->collection_end);
}

/* OC3: a care leaver's contact, dated on their birthday in the collection
 * year (the guide asks for the contact around it; the table holds no
 * date). Accommodation codes ending in 1 are suitable, in 2 not. */
static int leaver_event(struct import *im, const struct row *row) {
  csc_date dob;
  int ok;
  int rc = row_date(im, T_OC3, row, L_DOB, &dob, &ok);
  if (rc != CSC_OK || !ok)
    return rc;
  int y, m, d;
  date_to_ymd(dob, &y, &m, &d);
  const csc_date year_start = date_from_ymd(im->o.year - 1, 4, 1);
  csc_date on = date_add_months(dob, 12 * (im->o.year - 1 - y));
  if (on < year_start)
    on = date_add_months(on, 12);
  const char *accom = row->v[L_ACCOM];
  const size_t n = strlen(accom);
  CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__CareLeaverContact c = CSCFLOW__V1__CARE_LEAVER_CONTACT__INIT;
  c.in_touch_code = (char *)row->v[L_IN_TOUCH];
  c.in_touch = strcasecmp(row->v[L_IN_TOUCH], "YES") == 0;
  c.activity_code = (char *)row->v[L_ACTIV];
  c.accommodation_code = (char *)accom;
  c.accommodation_suitable = n > 1 && accom[n - 1] == '1';
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CARE_LEAVER_CONTACT;
  ev.care_leaver_contact = &c;
  return emit_row(im, T_OC3, row, &ev, on);
}

/* Previous permanence: recorded when a period starts; dated on the first
 * period of care the return starts for the child (else its 31 March). */
static int prev_perm_event(struct import *im, const struct row *row) {
  csc_date on = im->collection_end, perm;
  for (size_t i = 0; i < im->s903->n_periods; i++)
    if (!im->s903->periods[i].continuing) {
      on = im->s903->periods[i].start;
      break;
    }
  CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__PreviousPermanence p = CSCFLOW__V1__PREVIOUS_PERMANENCE__INIT;
  if (row->v[PP_KIND][0] == '\0')
    return import_note(im, R_MISSING_VALUE, tables[T_PREV_PERM].name, row->line, row->v[0]);
  p.kind_code = (char *)row->v[PP_KIND];
  p.la_code = (char *)row->v[PP_LA];
  if (row->v[PP_DATE][0] != '\0' && feeds_parse_date(row->v[PP_DATE], &perm) == CSC_OK)
    p.order_date = ymd(perm);
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_PREVIOUS_PERMANENCE;
  ev.previous_permanence = &p;
  return emit_row(im, T_PREV_PERM, row, &ev, on);
}

/* Social worker episodes: the allocation from SW_DECOM, and its end on
 * SW_DEC with the reason (SW_REASON). */
static int worker_events(struct import *im, const struct row *row) {
  csc_date on;
  int ok;
  if (row->v[W_ID][0] == '\0')
    return import_note(im, R_MISSING_VALUE, tables[T_SOCIAL_WORKER].name, row->line, row->v[0]);
  int rc = row_date(im, T_SOCIAL_WORKER, row, W_START, &on, &ok);
  if (rc != CSC_OK || !ok)
    return rc;
  CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__WorkerAllocated w = CSCFLOW__V1__WORKER_ALLOCATED__INIT;
  w.worker_id = (char *)row->v[W_ID];
  ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED;
  ev.worker_allocated = &w;
  rc = emit_row(im, T_SOCIAL_WORKER, row, &ev, on);
  if (rc != CSC_OK || row->v[W_END][0] == '\0')
    return rc;
  if ((rc = row_date(im, T_SOCIAL_WORKER, row, W_END, &on, &ok)) != CSC_OK || !ok)
    return rc;
  w.deallocated = 1;
  w.end_reason = (char *)row->v[W_REASON];
  return emit_row(im, T_SOCIAL_WORKER, row, &ev, on);
}

/* The rows of table t for child (from *at on, sorted): [*at, end). */
static size_t rows_of(const struct rows *rs, size_t *at, const char *child) {
  while (*at < rs->n && strcmp(rs->r[*at].v[0], child) < 0)
    (*at)++;
  size_t end = *at;
  while (end < rs->n && strcmp(rs->r[end].v[0], child) == 0)
    end++;
  return end;
}

/* The next child id of any table, after the cursors, or NULL. */
static const char *next_child(const struct ssda903 *s, const size_t *at) {
  const char *min = NULL;
  for (int t = 0; t < T_COUNT; t++)
    if (at[t] < s->t[t].n && (min == NULL || strcmp(s->t[t].r[at[t]].v[0], min) < 0))
      min = s->t[t].r[at[t]].v[0];
  return min;
}

static int child_events(struct import *im, const char *child, size_t *at) {
  struct ssda903 *s = im->s903;
  const char *problem;
  size_t end[T_COUNT];
  for (int t = 0; t < T_COUNT; t++)
    end[t] = rows_of(&s->t[t], &at[t], child);
  int rc = CSC_OK;
  if (ingest_check_id(child, &problem) != CSC_OK) {
    for (int t = 0; rc == CSC_OK && t < T_COUNT; t++)
      for (size_t i = at[t]; rc == CSC_OK && i < end[t]; i++)
        rc = import_note(im, R_INVALID_CHILD, tables[t].name, s->t[t].r[i].line, "");
  } else {
    for (size_t i = at[T_HEADER]; rc == CSC_OK && i < end[T_HEADER]; i++)
      rc = details_event(im, T_HEADER, &s->t[T_HEADER].r[i]);
    for (size_t i = at[T_UASC]; rc == CSC_OK && i < end[T_UASC]; i++)
      rc = details_event(im, T_UASC, &s->t[T_UASC].r[i]);
    if (rc == CSC_OK)
      rc = episodes_of_child(im, s->t[T_EPISODES].r + at[T_EPISODES],
                             end[T_EPISODES] - at[T_EPISODES]);
    for (size_t i = at[T_REVIEWS]; rc == CSC_OK && i < end[T_REVIEWS]; i++)
      rc = review_event(im, &s->t[T_REVIEWS].r[i]);
    for (size_t i = at[T_MISSING]; rc == CSC_OK && i < end[T_MISSING]; i++)
      rc = missing_events(im, &s->t[T_MISSING].r[i]);
    for (size_t i = at[T_AD1]; rc == CSC_OK && i < end[T_AD1]; i++)
      rc = ad1_events(im, &s->t[T_AD1].r[i]);
    for (size_t i = at[T_PLACED_ADOPTION]; rc == CSC_OK && i < end[T_PLACED_ADOPTION]; i++)
      rc = placed_adoption_events(im, &s->t[T_PLACED_ADOPTION].r[i]);
    for (size_t i = at[T_OC2]; rc == CSC_OK && i < end[T_OC2]; i++)
      rc = sdq_event(im, &s->t[T_OC2].r[i]);
    for (size_t i = at[T_OC3]; rc == CSC_OK && i < end[T_OC3]; i++)
      rc = leaver_event(im, &s->t[T_OC3].r[i]);
    for (size_t i = at[T_PREV_PERM]; rc == CSC_OK && i < end[T_PREV_PERM]; i++)
      rc = prev_perm_event(im, &s->t[T_PREV_PERM].r[i]);
    for (size_t i = at[T_SOCIAL_WORKER]; rc == CSC_OK && i < end[T_SOCIAL_WORKER]; i++)
      rc = worker_events(im, &s->t[T_SOCIAL_WORKER].r[i]);
  }
  for (int t = 0; t < T_COUNT; t++)
    at[t] = end[t];
  return rc;
}

int import_903_finish(struct import *im) {
  struct ssda903 *s = im->s903;
  if (s == NULL)
    return CSC_OK;
  for (int t = 0; t < T_COUNT; t++)
    if (s->t[t].n > 1)
      qsort(s->t[t].r, s->t[t].n, sizeof *s->t[t].r, row_compare);
  size_t at[T_COUNT] = {0};
  int rc = CSC_OK;
  const char *child;
  while (rc == CSC_OK && (child = next_child(s, at)) != NULL)
    rc = child_events(im, child, at);
  return rc;
}

void ssda903_report_tables(const struct ssda903 *s, FILE *f) {
  fputc('{', f);
  int first = 1;
  for (int t = 0; s != NULL && t < T_COUNT; t++) {
    const struct rows *rs = &s->t[t];
    if (rs->files == NULL)
      continue;
    fprintf(f, "%s\"%s\":{\"files\":", first ? "" : ",", tables[t].name);
    json_write_string(f, rs->files);
    fprintf(f, ",\"rows\":%zu,\"events\":%llu}", rs->n, (unsigned long long)rs->events);
    first = 0;
  }
  fputc('}', f);
}
