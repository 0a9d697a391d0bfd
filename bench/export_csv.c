/*
 * cscflow-bench-csv: the event file as one flat CSV file for the SQLite
 * comparison of the bench (bench/engines_compare.sh and the SQL in bench/sqlite/).
 *
 *   cscflow-bench-csv --input EVENTS.bin --out-dir DIR
 *
 * Writes DIR/events.csv: the whole history, one row per event (every payload
 * kind, children's and workforce events alike), no header, as the nightly
 * extract a batch engine loads. The raw facts only: whatever interpretation
 * cscflow's fold does (matching ends to starts, referrals while open, short
 * breaks, windows, corrections) is left to the SQL, as a batch engine user
 * would have to do it. The columns (the table `event` of bench/sqlite/load.sql):
 *
 *   la, child        the LA and the history's subject: the child, or
 *                    "worker:<id>" / "post:<id>" for a workforce event
 *                    (history_subject)
 *   event_id, kind   kind: the payload's field name in events.proto
 *                    ("referral_opened", "workforce"), "none" for a
 *                    retraction without payload
 *   occurred_on      the integer YYYYMMDD (it sorts like the date)
 *   recorded_at_ms
 *   supersedes, retracts   the event_id a correction names, or empty
 *   id, parent, code, code2, flag, value   generic payload columns, empty
 *                    where the kind has nothing for them (see payload_columns):
 *                    id is the payload's own id (referral, plan, period of
 *                    care, enquiry, worker), parent the id it belongs to (a
 *                    referral, a post), code and code2 its main codes (legal
 *                    status, category, placement type, reason), flag a
 *                    boolean (0/1) and value a number (an enum's number, a
 *                    score, a date). Other payload details are left out.
 *   code3            the type of the placement that came with a period of
 *                    care's start ("" none); for an adoption milestone "1"
 *                    when placed with the foster carer, else "0" (the
 *                    "Same carer" rule of placements_3plus); else empty
 *
 * (occurred_on, recorded_at_ms, event_id) is the order in which cscflow
 * folds the events of one history. Events that cscflow would dead-letter
 * (ingest_decode refuses them) are skipped and counted. Corrections and
 * duplicates (an event_id received again) are written as they come; the SQL
 * resolves them (bench/sqlite/clean.sql).
 *
 * Prints csv_rows, csv_skipped, csv_corrections, csv_bytes, csv_seconds and
 * as_of (the date in Europe/London of the latest recorded_at: cscflow's
 * replay clock at the end of the file) as `name: value` lines.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/base.h"
#include "ingest/ingest.h"
#include "state/state.h"

#define CSV_FILE "events.csv"
#define OUT_BUFFER_BYTES (4u << 20)
/* "none" for a flag or value: the column is left empty */
#define NO_NUMBER (-1)

struct exporter {
  FILE *f;
  char *buf;
  uint64_t rows, skipped, corrections;
  int64_t latest_recorded_ms;
};

/* The generic payload columns of one event. Strings are borrowed from it. */
struct payload_columns {
  const char *id, *parent, *code, *code2;
  int64_t flag, value;
  const char *code3; /* a third code, see export_event */
};

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void) {
  fprintf(stderr, "usage: cscflow-bench-csv --input EVENTS.bin --out-dir DIR\n");
  return 2;
}

/* ---- the output file -------------------------------------------------------- */

static int open_output(struct exporter *x, const char *dir) {
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "cscflow-bench-csv: cannot create %s: %s\n", dir, strerror(errno));
    return CSC_EIO;
  }
  char path[4096];
  const int n = snprintf(path, sizeof path, "%s/%s", dir, CSV_FILE);
  if (n < 0 || (size_t)n >= sizeof path)
    return CSC_EINVAL;
  if ((x->f = fopen(path, "w")) == NULL) {
    fprintf(stderr, "cscflow-bench-csv: cannot write %s: %s\n", path, strerror(errno));
    return CSC_EIO;
  }
  /* a big buffer: the export is a sequential write of a few hundred MB */
  if ((x->buf = malloc(OUT_BUFFER_BYTES)) == NULL)
    return CSC_ENOMEM;
  setvbuf(x->f, x->buf, _IOFBF, OUT_BUFFER_BYTES);
  return CSC_OK;
}

/* Closes the file; its size in bytes goes to *bytes. */
static int close_output(struct exporter *x, uint64_t *bytes) {
  int rc = CSC_OK;
  if (x->f != NULL) {
    const long size = ftell(x->f);
    *bytes = size > 0 ? (uint64_t)size : 0;
    if (ferror(x->f))
      rc = CSC_EIO;
    if (fclose(x->f) != 0)
      rc = CSC_EIO;
  }
  free(x->buf);
  x->f = NULL;
  x->buf = NULL;
  return rc;
}

/* One CSV field. Identifiers are plain codes, but a source system may put
 * anything in them: quote the field when it holds a separator. */
static void put_field(FILE *f, const char *s) {
  if (strpbrk(s, ",\"\r\n") == NULL) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (const char *p = s; *p; p++) {
    if (*p == '"')
      fputc('"', f);
    fputc(*p, f);
  }
  fputc('"', f);
}

static void put_number(FILE *f, int64_t v) {
  if (v != NO_NUMBER)
    fprintf(f, "%lld", (long long)v);
}

/* ---- the payload columns ---------------------------------------------------- */

/* The placement's type, or "" when the placement is not recorded. */
static const char *placement_type(const Cscflow__V1__Placement *p) {
  return p != NULL ? p->placement_type : "";
}

/* Fills the columns of the payload kinds that name a referral, plan,
 * enquiry or period (the episodes a fold matches ends to starts by). */
static int episode_columns(const CaseEvent *ev, struct payload_columns *c) {
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED:
    c->id = ev->referral_opened->referral_id;
    c->code = ev->referral_opened->source;
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED:
    c->id = ev->referral_closed->referral_id;
    c->code = ev->referral_closed->closure_reason;
    c->flag = ev->referral_closed->no_further_action;
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_STARTED:
    c->id = ev->early_help_started->episode_id;
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_ENDED:
    c->id = ev->early_help_ended->episode_id;
    c->code = ev->early_help_ended->reason;
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_STARTED:
    c->id = ev->assessment_started->assessment_id;
    c->parent = ev->assessment_started->referral_id;
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_COMPLETED:
    c->id = ev->assessment_completed->assessment_id;
    c->parent = ev->assessment_completed->referral_id;
    c->value = ev->assessment_completed->outcome;
    /* the first factor only: the others are among the details left out */
    c->code = ev->assessment_completed->n_factors > 0 ? ev->assessment_completed->factors[0] : "";
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_STRATEGY_DISCUSSION:
    c->parent = ev->strategy_discussion->referral_id;
    c->flag = ev->strategy_discussion->section47_agreed;
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_STARTED:
    c->id = ev->section47_started->enquiry_id;
    c->parent = ev->section47_started->referral_id;
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_COMPLETED:
    c->id = ev->section47_completed->enquiry_id;
    c->value = ev->section47_completed->outcome;
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ICPC_HELD:
    c->id = ev->icpc_held->enquiry_id;
    c->flag = ev->icpc_held->plan_agreed;
    return 1;
  default:
    return 0;
  }
}

/* Fills the columns of the plan and care kinds. */
static int plan_and_care_columns(const CaseEvent *ev, struct payload_columns *c) {
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED:
    c->id = ev->cin_plan_started->plan_id;
    c->parent = ev->cin_plan_started->referral_id;
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_ENDED:
    c->id = ev->cin_plan_ended->plan_id;
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED:
    c->id = ev->cp_plan_started->plan_id;
    c->parent = ev->cp_plan_started->referral_id;
    c->code = ev->cp_plan_started->initial_category;
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED:
    c->id = ev->cp_plan_ended->plan_id;
    c->code = ev->cp_plan_ended->latest_category;
    c->code2 = ev->cp_plan_ended->reason;
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_SEEN:
    c->id = ev->child_seen->plan_id;
    c->value = ev->child_seen->seen_by;
    c->flag = ev->child_seen->seen_alone;
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED:
    c->id = ev->period_of_care_started->period_id;
    c->code = ev->period_of_care_started->legal_status;
    c->code2 = ev->period_of_care_started->category_of_need;
    /* whether the period's first placement came with its start, and its type */
    c->flag = ev->period_of_care_started->placement != NULL;
    c->code3 = placement_type(ev->period_of_care_started->placement);
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_ENDED:
    c->id = ev->period_of_care_ended->period_id;
    c->code = ev->period_of_care_ended->reason_ceased;
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PLACEMENT_STARTED:
    c->id = ev->placement_started->period_id;
    c->code = placement_type(ev->placement_started->placement);
    c->code2 = ev->placement_started->reason_for_change;
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_LEGAL_STATUS_CHANGED:
    c->id = ev->legal_status_changed->period_id;
    c->code = ev->legal_status_changed->legal_status;
    return 1;
  default:
    return 0;
  }
}

/* Fills the columns of the child's details, outcomes and the workforce. */
static int other_columns(const CaseEvent *ev, struct payload_columns *c) {
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS:
    c->code = ev->child_details->ethnicity;
    c->flag = ev->child_details->disabled;
    c->value = ev->child_details->date_of_birth;
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ADOPTION_MILESTONE:
    c->value = ev->adoption_milestone->stage;
    c->flag = ev->adoption_milestone->early_permanence;
    c->code3 = ev->adoption_milestone->placed_with_foster_carer ? "1" : "0";
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CARE_LEAVER_CONTACT:
    c->code = ev->care_leaver_contact->activity_code;
    c->code2 = ev->care_leaver_contact->accommodation_code;
    c->flag = ev->care_leaver_contact->in_touch;
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE:
    c->id = ev->workforce->worker_id;
    c->parent = ev->workforce->post_id;
    c->value = ev->workforce->change;
    c->flag = ev->workforce->agency;
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SDQ_SCORE:
    c->value = ev->sdq_score->score;
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED:
    c->id = ev->worker_allocated->worker_id;
    c->flag = ev->worker_allocated->deallocated;
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_COURT_APPLICATION:
    c->value = ev->court_application->kind;
    return 1;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERMANENCE_ORDER:
    c->value = ev->permanence_order->kind;
    return 1;
  default:
    return 0;
  }
}

static struct payload_columns payload_columns_of(const CaseEvent *ev) {
  struct payload_columns c = {"", "", "", "", NO_NUMBER, NO_NUMBER, ""};
  if (!episode_columns(ev, &c) && !plan_and_care_columns(ev, &c))
    other_columns(ev, &c); /* a payload of none of them (none at all) leaves all empty */
  return c;
}

/* The payload's field name in events.proto, "none" without payload. */
static const char *kind_of(const CaseEvent *ev) {
  if (ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD__NOT_SET)
    return "none";
  const ProtobufCFieldDescriptor *d = protobuf_c_message_descriptor_get_field(
      &cscflow__v1__case_event__descriptor, (unsigned)ev->payload_case);
  return d != NULL ? d->name : "unknown";
}

/* ---- the rows ------------------------------------------------------------------ */

/* Writes the row of ev. */
static void export_event(struct exporter *x, const CaseEvent *ev) {
  FILE *f = x->f;
  char subject[HISTORY_SUBJECT_MAX];
  if (history_subject(ev, subject, sizeof subject) == 0)
    subject[0] = '\0'; /* validated events always have one */
  const struct payload_columns c = payload_columns_of(ev);

  put_field(f, ev->la_code);
  fputc(',', f);
  put_field(f, subject);
  fputc(',', f);
  put_field(f, ev->event_id);
  fprintf(f, ",%s,%u,%lld,", kind_of(ev), ev->occurred_on, (long long)ev->recorded_at_ms);
  put_field(f, ev->supersedes_event_id);
  fputc(',', f);
  put_field(f, ev->retracts_event_id);
  fputc(',', f);
  put_field(f, c.id);
  fputc(',', f);
  put_field(f, c.parent);
  fputc(',', f);
  put_field(f, c.code);
  fputc(',', f);
  put_field(f, c.code2);
  fputc(',', f);
  put_number(f, c.flag);
  fputc(',', f);
  put_number(f, c.value);
  fputc(',', f);
  put_field(f, c.code3);
  fputc('\n', f);

  x->rows++;
  if (ev->supersedes_event_id[0] != '\0' || ev->retracts_event_id[0] != '\0')
    x->corrections++;
}

/* ---- the file --------------------------------------------------------------- */

static int export_file(struct exporter *x, const char *input) {
  struct file_source *fs;
  int rc = file_source_open(input, &fs);
  if (rc != CSC_OK) {
    fprintf(stderr, "cscflow-bench-csv: cannot read %s: %s\n", input, strerror(errno));
    return rc;
  }
  struct arena a;
  arena_init(&a, 64 * 1024);
  const uint8_t *buf;
  size_t len;
  /* bounded by the file: each record advances the position */
  while ((rc = file_source_next(fs, &buf, &len)) == CSC_OK) {
    CaseEvent *ev;
    const uint8_t *pb;
    size_t pb_len;
    const char *reason;
    arena_reset(&a);
    if (ingest_decode(buf, len, &a, &ev, &pb, &pb_len, &reason) != CSC_OK) {
      x->skipped++; /* cscflow dead-letters it */
      continue;
    }
    if (ev->recorded_at_ms > x->latest_recorded_ms)
      x->latest_recorded_ms = ev->recorded_at_ms;
    export_event(x, ev);
  }
  arena_free(&a);
  file_source_close(fs);
  if (rc != CSC_ENOTFOUND) {
    fprintf(stderr, "cscflow-bench-csv: %s: malformed record: %s\n", input, csc_strerror(rc));
    return rc;
  }
  return CSC_OK;
}

int main(int argc, char **argv) {
  const char *input = NULL, *out_dir = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--input") == 0 && i + 1 < argc)
      input = argv[++i];
    else if (strcmp(argv[i], "--out-dir") == 0 && i + 1 < argc)
      out_dir = argv[++i];
    else
      return usage();
  }
  if (input == NULL || out_dir == NULL)
    return usage();

  const double t0 = now_seconds();
  struct exporter x;
  memset(&x, 0, sizeof x);
  uint64_t bytes = 0;
  int rc = open_output(&x, out_dir);
  if (rc == CSC_OK)
    rc = export_file(&x, input);
  const int close_rc = close_output(&x, &bytes);
  if (rc == CSC_OK && close_rc != CSC_OK) {
    fprintf(stderr, "cscflow-bench-csv: writing %s/%s failed\n", out_dir, CSV_FILE);
    rc = close_rc;
  }
  if (rc != CSC_OK)
    return 1;
  const double seconds = now_seconds() - t0;

  char date[16] = "none";
  if (x.latest_recorded_ms > 0)
    date_format(date_london_from_unix_ms(x.latest_recorded_ms), date);
  printf("csv_rows: %llu\n", (unsigned long long)x.rows);
  printf("csv_skipped: %llu\n", (unsigned long long)x.skipped);
  printf("csv_corrections: %llu\n", (unsigned long long)x.corrections);
  printf("csv_bytes: %llu\n", (unsigned long long)bytes);
  printf("csv_seconds: %.3f\n", seconds);
  printf("as_of: %s\n", date);
  return 0;
}
