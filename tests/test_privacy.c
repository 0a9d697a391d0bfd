/*
 * test_privacy.c — "logs never carry names or free text, only ids"
 * (DESIGN.md), and outputs carry no personal data beyond what the schema
 * puts in them by design. Through the cscflow binary (its path is argv[1]):
 *
 * A generated history (2% mess) plus a few dead letters made from real
 * events (a ChildDetails whose occurred_on is invalid, a placement without
 * an event_id, a ChildDetails cut short) is replayed with the file sink into
 * a store whose map starts small (so that state_map_grown lines are logged
 * too), and again from its stored position. Then every log line on stderr,
 * and every message of csc.indicators.v1, csc.alerts.v1 and csc.quality.v1
 * (decoded: every string field, recursively, and the key) and every key and
 * header of csc.events.dlq.v1, is searched for the generator's personal data:
 *
 *   - each child's date of birth (and expected date of birth of an unborn
 *     child), as YYYYMMDD and as YYYY-MM-DD, anywhere in the text;
 *   - each placement postcode district, as a whole token (letters and digits
 *     delimited by anything else).
 *
 * Not searched, by design: the dead-letter topic's value, which is the
 * original input message's bytes (an operator needs them to fix the record
 * at source), and the outputs' integer date fields (as_of, plan_start,
 * date_crossed, plan_end: dates of plans and of the processor's clock, not
 * of birth). A log line's "ts" (the wall clock when it was written) is
 * skipped. The schemas themselves are checked too: the input has no name,
 * address or other identifying field besides the pseudonymous ids, and no
 * output field is named like a date of birth, a name, a postcode or a
 * protected characteristic.
 */
#include "tests/testutil.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine.h"
#include "gen/gen.h"

struct strset {
  char **v;
  size_t n, cap;
};

static void strset_add(struct strset *s, const char *x) {
  for (size_t i = 0; i < s->n; i++) /* small sets: a few hundred entries */
    if (strcmp(s->v[i], x) == 0)
      return;
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 256;
    s->v = realloc(s->v, s->cap * sizeof *s->v);
    assert_non_null(s->v);
  }
  s->v[s->n] = strdup(x);
  assert_non_null(s->v[s->n]);
  s->n++;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void strset_sort(struct strset *s) { qsort(s->v, s->n, sizeof *s->v, cmp_str); }

static int strset_has(const struct strset *s, const char *x) {
  return bsearch(&x, s->v, s->n, sizeof *s->v, cmp_str) != NULL;
}

static void strset_free(struct strset *s) {
  for (size_t i = 0; i < s->n; i++)
    free(s->v[i]);
  free(s->v);
}

struct world {
  const char *cscflow;
  char dir[256];
  FILE *events;
  struct strset dobs;      /* "YYYYMMDD" */
  struct strset districts; /* "LS6" */
  size_t n_events, n_bad;
  int quiet; /* the scanner's self-check prints nothing */
  /* Copies of real events kept to make dead letters from. */
  uint8_t *child_details, *placement;
  size_t child_details_len, placement_len;
};

struct report {
  size_t lines, messages, strings, headers;
  size_t hits;
};

/* ---- the history and its personal data -------------------------------------------- */

static void write_record(struct world *w, const void *p, size_t n) {
  uint8_t v[10];
  const size_t vn = varint_encode(n, v);
  assert_int_equal(fwrite(v, 1, vn, w->events), vn);
  assert_int_equal(fwrite(p, 1, n, w->events), n);
}

static void note_dob(struct world *w, uint32_t yyyymmdd) {
  if (yyyymmdd == 0)
    return;
  char s[16];
  snprintf(s, sizeof s, "%08u", yyyymmdd);
  strset_add(&w->dobs, s);
}

static uint8_t *pack(const Cscflow__V1__CaseEvent *ev, size_t *len) {
  *len = cscflow__v1__case_event__get_packed_size(ev);
  uint8_t *b = malloc(*len ? *len : 1);
  assert_non_null(b);
  cscflow__v1__case_event__pack(ev, b);
  return b;
}

static int keep_event(void *ctx, const Cscflow__V1__CaseEvent *ev) {
  struct world *w = ctx;
  const Cscflow__V1__Placement *pl = NULL;
  if (ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS) {
    note_dob(w, ev->child_details->date_of_birth);
    note_dob(w, ev->child_details->expected_date_of_birth);
    if (w->child_details == NULL && ev->child_details->date_of_birth != 0)
      w->child_details = pack(ev, &w->child_details_len);
  } else if (ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED) {
    pl = ev->period_of_care_started->placement;
  } else if (ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_PLACEMENT_STARTED) {
    pl = ev->placement_started->placement;
    if (w->placement == NULL && pl && pl->postcode_district && *pl->postcode_district)
      w->placement = pack(ev, &w->placement_len);
  }
  if (pl && pl->postcode_district && *pl->postcode_district)
    strset_add(&w->districts, pl->postcode_district);
  size_t n;
  uint8_t *b = pack(ev, &n);
  write_record(w, b, n);
  free(b);
  w->n_events++;
  return 0;
}

/* Three dead letters made of real events, so that their bytes carry a date
 * of birth or a postcode district. */
static void add_dead_letters(struct world *w) {
  assert_non_null(w->child_details);
  assert_non_null(w->placement);
  Cscflow__V1__CaseEvent *ev =
      cscflow__v1__case_event__unpack(NULL, w->child_details_len, w->child_details);
  assert_non_null(ev);
  ev->occurred_on = 20231399; /* invalid occurred_on */
  size_t n;
  uint8_t *b = pack(ev, &n);
  write_record(w, b, n);
  free(b);
  cscflow__v1__case_event__free_unpacked(ev, NULL);

  ev = cscflow__v1__case_event__unpack(NULL, w->placement_len, w->placement);
  assert_non_null(ev);
  char *id = ev->event_id; /* put back before freeing: protobuf-c frees it */
  ev->event_id = "";        /* missing event_id */
  b = pack(ev, &n);
  write_record(w, b, n);
  free(b);
  ev->event_id = id;
  cscflow__v1__case_event__free_unpacked(ev, NULL);

  write_record(w, w->child_details, w->child_details_len - 3); /* cut short */
  w->n_bad = 3;
}

/* ---- searching text ------------------------------------------------------------------ */

/* Reports each DOB in text[0..n): every window of 8 digits, and every
 * window dddd-dd-dd. */
static size_t find_dobs(const struct world *w, const char *what, const char *text, size_t n) {
  size_t hits = 0;
  char key[9];
  for (size_t i = 0; i + 8 <= n; i++) {
    int digits = 1;
    for (size_t j = 0; j < 8 && digits; j++)
      digits = isdigit((unsigned char)text[i + j]);
    if (digits) {
      memcpy(key, text + i, 8);
      key[8] = '\0';
      if (strset_has(&w->dobs, key)) {
        if (!w->quiet)
          printf("PERSONAL DATA: date of birth %s in %s: %.*s\n", key, what, (int)(n < 300 ? n : 300),
               text);
        hits++;
      }
    }
    if (i + 10 <= n && text[i + 4] == '-' && text[i + 7] == '-') {
      const char *t = text + i;
      int ok = 1;
      for (size_t j = 0; j < 10 && ok; j++)
        ok = j == 4 || j == 7 || isdigit((unsigned char)t[j]);
      if (ok) {
        snprintf(key, sizeof key, "%.4s%.2s%.2s", t, t + 5, t + 8);
        if (strset_has(&w->dobs, key)) {
          if (!w->quiet)
            printf("PERSONAL DATA: date of birth %.10s in %s: %.*s\n", t, what,
                 (int)(n < 300 ? n : 300), text);
          hits++;
        }
      }
    }
  }
  return hits;
}

/* Reports each postcode district that is a whole token of text[0..n). */
static size_t find_districts(const struct world *w, const char *what, const char *text, size_t n) {
  size_t hits = 0;
  for (size_t i = 0; i < n;) {
    if (!isalnum((unsigned char)text[i])) {
      i++;
      continue;
    }
    size_t j = i;
    while (j < n && isalnum((unsigned char)text[j]))
      j++;
    char tok[16];
    if (j - i < sizeof tok) {
      memcpy(tok, text + i, j - i);
      tok[j - i] = '\0';
      if (strset_has(&w->districts, tok)) {
        if (!w->quiet)
          printf("PERSONAL DATA: postcode district %s in %s: %.*s\n", tok, what,
               (int)(n < 300 ? n : 300), text);
        hits++;
      }
    }
    i = j;
  }
  return hits;
}

static size_t find_all(const struct world *w, const char *what, const char *text, size_t n) {
  return find_dobs(w, what, text, n) + find_districts(w, what, text, n);
}

/* ---- walking messages ------------------------------------------------------------------ */

/* Searches every string field of m, recursively. */
static void walk_strings(const struct world *w, const ProtobufCMessage *m, const char *what,
                         struct report *r) {
  const ProtobufCMessageDescriptor *d = m->descriptor;
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    const char *base = (const char *)m + f->offset;
    size_t count = 1;
    const void *items = base;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      count = *(const size_t *)((const char *)m + f->quantifier_offset);
      items = *(void *const *)base;
    }
    char where[160];
    snprintf(where, sizeof where, "%s.%s", what, f->name);
    for (size_t k = 0; k < count; k++) {
      if (f->type == PROTOBUF_C_TYPE_STRING) {
        const char *s = ((char *const *)items)[k];
        if (s != NULL) {
          r->strings++;
          r->hits += find_all(w, where, s, strlen(s));
        }
      } else if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
        const ProtobufCMessage *sub = ((ProtobufCMessage *const *)items)[k];
        if (sub != NULL)
          walk_strings(w, sub, where, r);
      }
    }
  }
}

/* Field names of d and of every message it holds, recursively (depth
 * bounded), appended to names as "Message.field". */
static void field_names(const ProtobufCMessageDescriptor *d, struct strset *names, int depth) {
  assert_true(depth < 6);
  for (unsigned i = 0; i < d->n_fields; i++) {
    char s[160];
    snprintf(s, sizeof s, "%s.%s", d->short_name, d->fields[i].name);
    strset_add(names, s);
    if (d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
      field_names(d->fields[i].descriptor, names, depth + 1);
  }
}

static int name_has(const char *full, const char *part) {
  const char *field = strrchr(full, '.');
  return strstr(field ? field + 1 : full, part) != NULL;
}

/* ---- running the binary ------------------------------------------------------------------ */

static int run_cscflow(const char *bin, char *const args[], const char *errf) {
  fflush(stdout);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int o = open("/dev/null", O_WRONLY);
    int e = open(errf, O_WRONLY | O_CREAT | O_APPEND, 0640);
    if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
      _exit(126);
    execv(bin, args);
    _exit(127);
  }
  int status = 0;
  /* Bounded: a replay of this history takes about a second. */
  for (int i = 0; i < 12000; i++) {
    if (waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    usleep(10000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  fseek(f, 0, SEEK_END);
  const long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n + 1);
  assert_non_null(b);
  assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  b[n] = 0;
  *len = (size_t)n;
  return b;
}

/* ---- the test ------------------------------------------------------------------------- */

static void test_no_personal_data(void **state) {
  (void)state;
  struct world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  w->cscflow = getenv("CSCFLOW_TEST_BIN");
  assert_non_null(w->cscflow);
  test_tmpdir(w->dir, sizeof w->dir, "privacy");
  char events[400], pop[400], st[400], errf[400], conf[400];
  snprintf(events, sizeof events, "%s/events.bin", w->dir);
  snprintf(pop, sizeof pop, "%s/population.csv", w->dir);
  snprintf(st, sizeof st, "%s/state", w->dir);
  snprintf(errf, sizeof errf, "%s/stderr.log", w->dir);
  snprintf(conf, sizeof conf, "%s/cscflow.conf", w->dir);

  struct gen_options o;
  gen_options_default(&o);
  o.seed = 21;
  o.n_las = 2;
  o.years = 2;
  o.scale = 0.1;
  o.mess = 0.02;
  w->events = fopen(events, "wb");
  assert_non_null(w->events);
  assert_int_equal(gen_run(&o, keep_event, w), 0);
  add_dead_letters(w);
  assert_int_equal(fclose(w->events), 0);
  FILE *f = fopen(pop, "w");
  assert_non_null(f);
  assert_int_equal(gen_write_population(&o, f), 0);
  assert_int_equal(fclose(f), 0);
  strset_sort(&w->dobs);
  strset_sort(&w->districts);
  printf("personal data of the history: %zu dates of birth, %zu postcode districts, in %zu "
         "events + %zu dead letters\n",
         w->dobs.n, w->districts.n, w->n_events, w->n_bad);
  assert_true(w->dobs.n > 100);
  assert_true(w->districts.n > 20);

  /* The scanner finds what it looks for: a date of birth in both forms and
   * a district as a token, but not a district inside a longer token. */
  {
    const char *d = w->dobs.v[w->dobs.n / 2], *pc = w->districts.v[0];
    char line[256];
    w->quiet = 1;
    snprintf(line, sizeof line, "{\"a\":\"x%sx\",\"b\":\"%.4s-%.2s-%.2s\",\"c\":\"%s\"}", d, d,
             d + 4, d + 6, pc);
    assert_int_equal(find_all(w, "self-check", line, strlen(line)), 3);
    snprintf(line, sizeof line, "{\"a\":\"X%s\",\"b\":\"%sX\",\"c\":\"%.7s\"}", pc, pc, d);
    assert_int_equal(find_all(w, "self-check", line, strlen(line)), 0);
    w->quiet = 0;
  }

  /* Two replays: the second resumes at the end (replay_resume) and does
   * nothing. A 1 MiB map makes the first log its growths. */
  f = fopen(conf, "w");
  assert_non_null(f);
  fputs("cscflow.state.map_size=1048576\n", f);
  assert_int_equal(fclose(f), 0);
  char *args[] = {"cscflow", "replay", "--input", events, "--state", st, "--population", pop,
                  "--config", conf, "--batch", "500", NULL};
  for (int i = 0; i < 2; i++) {
    const int rc = run_cscflow(w->cscflow, args, errf);
    if (rc != 0) {
      size_t n;
      fail_msg("replay exited %d: %s", rc, (char *)slurp(errf, &n));
    }
  }

  struct report r = {0};
  /* Log lines. */
  size_t log_len;
  uint8_t *log = slurp(errf, &log_len);
  assert_non_null(log);
  size_t dead_letter_lines = 0, grown_lines = 0;
  for (char *line = (char *)log, *next; line < (char *)log + log_len; line = next) {
    char *nl = strchr(line, '\n');
    next = nl ? nl + 1 : (char *)log + log_len;
    const size_t n = (size_t)(next - line) - (nl ? 1 : 0);
    if (n == 0)
      continue;
    r.lines++;
    /* One JSON object a line. */
    if (line[0] != '{' || line[n - 1] != '}')
      fail_msg("not a JSON log line: %.*s", (int)n, line);
    char copy[4096];
    assert_true(n < sizeof copy);
    memcpy(copy, line, n);
    copy[n] = '\0';
    if (strstr(copy, "\"event\":\"dead_letter\""))
      dead_letter_lines++;
    if (strstr(copy, "\"event\":\"state_map_grown\""))
      grown_lines++;
    char *ts = strstr(copy, "\"ts\":\""); /* the wall clock, blanked */
    for (char *p = ts ? ts + 6 : NULL; p && *p && *p != '"'; p++)
      *p = 'x';
    r.hits += find_all(w, "a log line", copy, n);
  }
  free(log);
  assert_int_equal(dead_letter_lines, w->n_bad);
  assert_true(grown_lines >= 1);

  /* Output messages. */
  static const char *const topics[] = {TOPIC_INDICATORS, TOPIC_ALERTS, TOPIC_QUALITY, TOPIC_DLQ};
  size_t per_topic[4] = {0};
  for (size_t t = 0; t < 4; t++) {
    char path[600];
    snprintf(path, sizeof path, "%s/out/%s.bin", st, topics[t]);
    size_t len;
    uint8_t *buf = slurp(path, &len);
    assert_non_null(buf);
    size_t pos = 0;
    struct sink_record rec;
    int rc;
    while ((rc = sink_file_read_record(buf, len, &pos, &rec)) == CSC_OK) {
      per_topic[t]++;
      r.messages++;
      char what[128];
      snprintf(what, sizeof what, "%s key", topics[t]);
      r.hits += find_all(w, what, (const char *)rec.key, rec.key_len);
      ProtobufCMessage *m = NULL;
      if (t == 0)
        m = (ProtobufCMessage *)cscflow__v1__indicator_snapshot__unpack(NULL, rec.value_len,
                                                                         rec.value);
      else if (t == 1)
        m = (ProtobufCMessage *)cscflow__v1__alert__unpack(NULL, rec.value_len, rec.value);
      else if (t == 2)
        m = (ProtobufCMessage *)cscflow__v1__quality_finding__unpack(NULL, rec.value_len,
                                                                     rec.value);
      if (t < 3) {
        assert_non_null(m);
        walk_strings(w, m, topics[t], &r);
        protobuf_c_message_free_unpacked(m, NULL);
      } else {
        /* The value is the original input, by design: not searched. The
         * headers lie between the value and the next record. */
        const uint8_t *h = rec.value + rec.value_len;
        const size_t hn = (size_t)(buf + pos - h);
        r.headers += rec.n_headers;
        snprintf(what, sizeof what, "%s headers", topics[t]);
        r.hits += find_all(w, what, (const char *)h, hn);
      }
    }
    assert_int_equal(rc, CSC_ENOTFOUND);
    free(buf);
  }
  assert_true(per_topic[0] > 0 && per_topic[1] > 0 && per_topic[2] > 0);
  assert_int_equal(per_topic[3], w->n_bad);

  /* The schemas. */
  struct strset in = {0}, out = {0};
  field_names(&cscflow__v1__case_event__descriptor, &in, 0);
  static const char *const identifying[] = {"name", "address", "nhs", "upn", "phone", "email",
                                            "postcode", "school", "birth_place"};
  size_t schema_hits = 0;
  for (size_t i = 0; i < in.n; i++)
    for (size_t j = 0; j < sizeof identifying / sizeof identifying[0]; j++)
      if (name_has(in.v[i], identifying[j]) && strcmp(in.v[i], "Placement.postcode_district") != 0 &&
          strcmp(in.v[i], "RecordPlacement.postcode_district") != 0) { /* districts (feeds/dfe.c) */
        printf("PERSONAL DATA: input field %s looks identifying\n", in.v[i]);
        schema_hits++;
      }
  field_names(&cscflow__v1__indicator_snapshot__descriptor, &out, 0);
  field_names(&cscflow__v1__alert__descriptor, &out, 0);
  field_names(&cscflow__v1__quality_finding__descriptor, &out, 0);
  static const char *const personal[] = {"birth", "dob", "death", "name", "postcode", "district",
                                         "address", "ethnic", "sex", "disab", "uasc"};
  for (size_t i = 0; i < out.n; i++)
    for (size_t j = 0; j < sizeof personal / sizeof personal[0]; j++)
      if (name_has(out.v[i], personal[j])) {
        printf("PERSONAL DATA: output field %s\n", out.v[i]);
        schema_hits++;
      }
  printf("schemas: %zu input fields and %zu output fields checked\n", in.n, out.n);
  strset_free(&in);
  strset_free(&out);

  printf("scanned %zu log lines (%zu dead_letter, %zu state_map_grown) and %zu output messages "
         "(%zu snapshots, %zu alerts, %zu findings, %zu dead letters with %zu headers; %zu "
         "string fields): %zu with personal data\n",
         r.lines, dead_letter_lines, grown_lines, r.messages, per_topic[0], per_topic[1],
         per_topic[2], per_topic[3], r.headers, r.strings, r.hits + schema_hits);
  assert_int_equal(r.hits, 0);
  assert_int_equal(schema_hits, 0);

  if (getenv("CSCFLOW_TEST_KEEP") == NULL) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", w->dir);
    assert_int_equal(system(cmd), 0);
  }
  strset_free(&w->dobs);
  strset_free(&w->districts);
  free(w->child_details);
  free(w->placement);
  free(w);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_privacy PATH-TO-CSCFLOW\n");
    return 2;
  }
  if (setenv("CSCFLOW_TEST_BIN", argv[1], 1) != 0)
    return 2;
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_no_personal_data)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
