/*
 * cscflow-bench-csv: the event file as flat CSV files for the SQLite
 * comparison of the bench (bench/sqlite_compare.sh and the SQL in bench/sqlite/).
 *
 *   cscflow-bench-csv --input EVENTS.bin --out-dir DIR
 *
 * One file per event kind the three compared indicators need, one row per
 * event, no header, the raw facts only: whatever interpretation cscflow's
 * fold does (matching ends to starts, referrals while open, short breaks,
 * windows) is left to the SQL, as a batch engine user would have to do it.
 * Every row starts with la,child,id,date,recorded_at_ms,event_id: date is
 * occurred_on as the integer YYYYMMDD (it sorts like the date), and
 * (date, recorded_at_ms, event_id) is the order in which cscflow folds the
 * events of one child.
 *
 * Events that cscflow would dead-letter (ingest_decode refuses them) are
 * skipped and counted. Corrections are written as they come: an amendment
 * in its kind's file, and for every correction a row la,child,target_event_id
 * in correction.csv (the SQL drops the events named there). Duplicates (an
 * event_id received again) are written again; the SQL keeps the first.
 *
 * Prints csv_rows, csv_skipped, csv_corrections, csv_seconds and as_of (the
 * date in Europe/London of the latest recorded_at: cscflow's replay clock at
 * the end of the file) as `name: value` lines.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/base.h"
#include "ingest/ingest.h"

/* The files written; the tables of bench/sqlite/load.sql. */
enum table {
  T_REFERRAL_OPENED,
  T_REFERRAL_CLOSED,
  T_CP_STARTED,
  T_CP_ENDED,
  T_CARE_STARTED,
  T_CARE_ENDED,
  T_PLACEMENT_STARTED,
  T_LEGAL_STATUS,
  T_CORRECTION,
  T_COUNT
};

static const char *const table_files[T_COUNT] = {
    "referral_opened.csv", "referral_closed.csv", "cp_started.csv",        "cp_ended.csv",
    "care_started.csv",    "care_ended.csv",      "placement_started.csv", "legal_status.csv",
    "correction.csv"};

#define OUT_BUFFER_BYTES (4u << 20)

struct out_file {
  FILE *f;
  char *buf;
};

struct exporter {
  struct out_file out[T_COUNT];
  uint64_t rows, skipped, corrections;
  int64_t latest_recorded_ms;
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

/* ---- output files --------------------------------------------------------- */

static int open_outputs(struct exporter *x, const char *dir) {
  if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
    fprintf(stderr, "cscflow-bench-csv: cannot create %s: %s\n", dir, strerror(errno));
    return CSC_EIO;
  }
  for (int t = 0; t < T_COUNT; t++) {
    char path[4096];
    const int n = snprintf(path, sizeof path, "%s/%s", dir, table_files[t]);
    if (n < 0 || (size_t)n >= sizeof path)
      return CSC_EINVAL;
    struct out_file *o = &x->out[t];
    if ((o->f = fopen(path, "w")) == NULL) {
      fprintf(stderr, "cscflow-bench-csv: cannot write %s: %s\n", path, strerror(errno));
      return CSC_EIO;
    }
    /* a big buffer: the export is a sequential write of a few hundred MB */
    if ((o->buf = malloc(OUT_BUFFER_BYTES)) == NULL)
      return CSC_ENOMEM;
    setvbuf(o->f, o->buf, _IOFBF, OUT_BUFFER_BYTES);
  }
  return CSC_OK;
}

static int close_outputs(struct exporter *x) {
  int rc = CSC_OK;
  for (int t = 0; t < T_COUNT; t++) {
    struct out_file *o = &x->out[t];
    if (o->f != NULL && (ferror(o->f) || fclose(o->f) != 0))
      rc = CSC_EIO;
    free(o->buf);
    o->f = NULL;
    o->buf = NULL;
  }
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

/* la,child,id,date,recorded_at_ms,event_id — the columns every table starts with. */
static FILE *begin_row(struct exporter *x, enum table t, const CaseEvent *ev, const char *id) {
  FILE *f = x->out[t].f;
  put_field(f, ev->la_code);
  fputc(',', f);
  put_field(f, ev->child_id);
  fputc(',', f);
  put_field(f, id);
  fprintf(f, ",%u,%lld,", ev->occurred_on, (long long)ev->recorded_at_ms);
  put_field(f, ev->event_id);
  x->rows++;
  return f;
}

static void end_row(FILE *f) { fputc('\n', f); }

/* la,child,target_event_id: the event ev supersedes or retracts. */
static void export_correction(struct exporter *x, const CaseEvent *ev, const char *target) {
  FILE *f = x->out[T_CORRECTION].f;
  put_field(f, ev->la_code);
  fputc(',', f);
  put_field(f, ev->child_id);
  fputc(',', f);
  put_field(f, target);
  end_row(f);
  x->rows++;
  x->corrections++;
}

/* Writes the rows of ev, if it is of a kind the comparison needs. */
static void export_event(struct exporter *x, const CaseEvent *ev) {
  FILE *f;
  if (ev->supersedes_event_id[0] != '\0')
    export_correction(x, ev, ev->supersedes_event_id);
  if (ev->retracts_event_id[0] != '\0')
    export_correction(x, ev, ev->retracts_event_id);
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED:
    end_row(begin_row(x, T_REFERRAL_OPENED, ev, ev->referral_opened->referral_id));
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED:
    end_row(begin_row(x, T_REFERRAL_CLOSED, ev, ev->referral_closed->referral_id));
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED:
    end_row(begin_row(x, T_CP_STARTED, ev, ev->cp_plan_started->plan_id));
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED:
    end_row(begin_row(x, T_CP_ENDED, ev, ev->cp_plan_ended->plan_id));
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED: {
    const Cscflow__V1__PeriodOfCareStarted *p = ev->period_of_care_started;
    f = begin_row(x, T_CARE_STARTED, ev, p->period_id);
    fputc(',', f);
    put_field(f, p->legal_status);
    fputs(p->placement != NULL ? ",1" : ",0", f);
    end_row(f);
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_ENDED:
    end_row(begin_row(x, T_CARE_ENDED, ev, ev->period_of_care_ended->period_id));
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PLACEMENT_STARTED:
    end_row(begin_row(x, T_PLACEMENT_STARTED, ev, ev->placement_started->period_id));
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_LEGAL_STATUS_CHANGED:
    f = begin_row(x, T_LEGAL_STATUS, ev, ev->legal_status_changed->period_id);
    fputc(',', f);
    put_field(f, ev->legal_status_changed->legal_status);
    end_row(f);
    break;
  default:
    break;
  }
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
  int rc = open_outputs(&x, out_dir);
  if (rc == CSC_OK)
    rc = export_file(&x, input);
  const int close_rc = close_outputs(&x);
  if (rc == CSC_OK && close_rc != CSC_OK) {
    fprintf(stderr, "cscflow-bench-csv: writing %s failed\n", out_dir);
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
  printf("csv_seconds: %.3f\n", seconds);
  printf("as_of: %s\n", date);
  return 0;
}
