/*
 * test_log.c — the JSON-line log cannot be broken by what it logs:
 *   - a %s argument holding a quote, a backslash, a newline, a control
 *     character and bytes that are not UTF-8 gives exactly one line, one
 *     JSON object, whose value reads back as the argument (U+FFFD for each
 *     invalid byte); an argument cannot add or overwrite members;
 *   - numbers still format with every length modifier, flag and precision;
 *     a conversion outside a JSON string is a value of its own;
 *   - the event name and json_write_string are escaped the same way;
 *   - an over-long line is still one JSON object, cut where it closes,
 *     whatever byte the cut falls on;
 *   - trusted members (log_json_fields) pass as JSON, and a fragment that
 *     is not JSON members is kept as one string member;
 *   - librdkafka's own log lines arrive as kafka_log JSON lines.
 * stderr is captured in a temporary file; the one wait (for librdkafka to
 * fail a connection to a closed loopback port) is bounded in count.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "tests/harness.h"
#include "tests/testutil.h"

/* ---- capturing stderr ---------------------------------------------------------------- */

struct capture {
  FILE *file;
  int saved;
};

static void capture_begin(struct capture *c) {
  fflush(stderr);
  c->file = tmpfile();
  assert_non_null(c->file);
  c->saved = dup(STDERR_FILENO);
  assert_true(c->saved >= 0);
  assert_true(dup2(fileno(c->file), STDERR_FILENO) >= 0);
}

/* Restores stderr and returns what was written (malloc'd, NUL-terminated). */
static char *capture_end(struct capture *c, size_t *len) {
  fflush(stderr);
  assert_true(dup2(c->saved, STDERR_FILENO) >= 0);
  close(c->saved);
  assert_int_equal(fseek(c->file, 0, SEEK_END), 0);
  const long n = ftell(c->file);
  assert_true(n >= 0);
  char *buf = malloc((size_t)n + 1);
  assert_non_null(buf);
  rewind(c->file);
  assert_int_equal(fread(buf, 1, (size_t)n, c->file), (size_t)n);
  buf[n] = 0;
  fclose(c->file);
  if (len)
    *len = (size_t)n;
  return buf;
}

/* Whether s[0..len) is well-formed UTF-8 (json_loads checks it too). */
static int valid_utf8(const char *s, size_t len) {
  for (size_t i = 0; i < len;) {
    const size_t n = utf8_sequence_len((const unsigned char *)s + i, len - i);
    if (n == 0)
      return 0;
    i += n;
  }
  return 1;
}

/* The one line in out: exactly one newline, at its end; parsed. */
static json_t *one_line(const char *out, size_t len) {
  assert_true(len > 0);
  assert_int_equal(out[len - 1], '\n');
  assert_ptr_equal(strchr(out, '\n'), out + len - 1);
  assert_null(memchr(out, 0, len)); /* no NUL inside */
  assert_true(valid_utf8(out, len));
  json_error_t e;
  json_t *j = json_loadb(out, len, 0, &e);
  if (j == NULL)
    fail_msg("not JSON (%s): %s", e.text, out);
  assert_true(json_is_object(j));
  return j;
}

static const char *str_member(json_t *j, const char *key) {
  json_t *v = json_object_get(j, key);
  if (!json_is_string(v))
    fail_msg("no string member %s", key);
  return json_string_value(v);
}

/* ---- escaping --------------------------------------------------------------------------- */

/* Every kind of byte that used to break a line, in the la_code of the
 * population_missing line as engine.c writes it. */
static void string_argument_is_escaped(void **state) {
  (void)state;
  static const char hostile[] = "E\"x\\y\nz\x01\x1f\x7f"
                                "\xff\xc3("        /* a lone byte, a cut sequence */
                                "\xe2\x82\xac"     /* the euro sign, kept */
                                "\xed\xa0\x80"     /* a surrogate */
                                "\xc0\xaf";        /* an overlong '/' */
  static const char expect[] = "E\"x\\y\nz\x01\x1f\x7f"
                               "\xef\xbf\xbd\xef\xbf\xbd("
                               "\xe2\x82\xac"
                               "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                               "\xef\xbf\xbd\xef\xbf\xbd";
  struct capture c;
  size_t len;
  capture_begin(&c);
  log_json(LOG_WARN, "population_missing",
           "\"la_code\":\"%s\",\"year\":%d,\"note\":\"per 10,000 rates are null\"", hostile, 2024);
  char *out = capture_end(&c, &len);
  json_t *j = one_line(out, len);
  assert_string_equal(str_member(j, "la_code"), expect);
  assert_int_equal(json_integer_value(json_object_get(j, "year")), 2024);
  assert_string_equal(str_member(j, "level"), "warn");
  assert_string_equal(str_member(j, "event"), "population_missing");
  json_decref(j);
  free(out);
}

/* A quote cannot close the string and add, or repeat, members. */
static void argument_cannot_inject_members(void **state) {
  (void)state;
  struct capture c;
  size_t len;
  capture_begin(&c);
  log_json(LOG_INFO, "dead_letter", "\"reason\":\"%s\",\"partition\":%d",
           "x\",\"level\":\"error\",\"forged\":\"1", 3);
  log_json(LOG_INFO, "run_started", "\"topic\":%s", "t,\"forged\":1");
  char *out = capture_end(&c, &len);
  char *second = strchr(out, '\n') + 1;
  json_t *j = one_line(out, (size_t)(second - out));
  assert_null(json_object_get(j, "forged"));
  assert_string_equal(str_member(j, "level"), "info");
  assert_string_equal(str_member(j, "reason"), "x\",\"level\":\"error\",\"forged\":\"1");
  assert_int_equal(json_object_size(j), 5); /* ts level event reason partition */
  json_decref(j);
  /* Outside quotes, a %s that is not a JSON value becomes a string. */
  j = one_line(second, len - (size_t)(second - out));
  assert_null(json_object_get(j, "forged"));
  assert_string_equal(str_member(j, "topic"), "t,\"forged\":1");
  json_decref(j);
  free(out);
}

static void event_name_is_escaped(void **state) {
  (void)state;
  struct capture c;
  size_t len;
  capture_begin(&c);
  log_json(LOG_ERROR, "bad\"event\n\xff", NULL);
  char *out = capture_end(&c, &len);
  json_t *j = one_line(out, len);
  assert_string_equal(str_member(j, "event"), "bad\"event\n\xef\xbf\xbd");
  assert_string_equal(str_member(j, "level"), "error");
  json_decref(j);
  free(out);
}

static void json_write_string_escapes(void **state) {
  (void)state;
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  json_write_string(f, "a\"b\\c\td\x80\xe2\x82\xac");
  fclose(f);
  assert_string_equal(buf, "\"a\\\"b\\\\c\\u0009d\\ufffd\xe2\x82\xac\"");
  json_t *j = json_loads(buf, JSON_DECODE_ANY, NULL);
  assert_non_null(j);
  assert_string_equal(json_string_value(j), "a\"b\\c\td\xef\xbf\xbd\xe2\x82\xac");
  json_decref(j);
  free(buf);
}

/* ---- numbers ------------------------------------------------------------------------------ */

static void numbers_still_format(void **state) {
  (void)state;
  struct capture c;
  size_t len;
  capture_begin(&c);
  log_json(LOG_INFO, "replay_progress",
           "\"a\":%lld,\"b\":%zu,\"c\":%.1f,\"d\":%llu,\"e\":%ld,\"f\":%d,\"g\":%u,\"h\":%.0f,"
           "\"pad\":\"%05d|%-4s|%4s|%.2s|%.*s|%x|%c|%%\",\"stopped\":%s,\"nan\":%f,\"hex\":%x,"
           "\"n\":%hhd,\"z\":%zd,\"j\":%jd,\"w\":%*d",
           -9000000000000LL, (size_t)9000000000000000001ULL, 2.25, 9000000000000000002ULL,
           -7L, -1, 4000000000u, 1e6, 42, "ab", "cd", "xyz", 3, "hello", 255, 'q', "true", NAN,
           255, (signed char)-5, (ssize_t)-12, (intmax_t)77, 6, 9);
  char *out = capture_end(&c, &len);
  json_t *j = one_line(out, len);
  assert_int_equal(json_integer_value(json_object_get(j, "a")), -9000000000000LL);
  assert_int_equal(json_integer_value(json_object_get(j, "b")), 9000000000000000001LL);
  assert_int_equal(json_integer_value(json_object_get(j, "d")), 9000000000000000002LL);
  assert_true(fabs(json_number_value(json_object_get(j, "c")) - 2.2) < 1e-9 ||
              fabs(json_number_value(json_object_get(j, "c")) - 2.3) < 1e-9);
  assert_int_equal(json_integer_value(json_object_get(j, "e")), -7);
  assert_int_equal(json_integer_value(json_object_get(j, "f")), -1);
  assert_int_equal(json_integer_value(json_object_get(j, "g")), 4000000000LL);
  assert_int_equal(json_integer_value(json_object_get(j, "h")), 1000000);
  assert_string_equal(str_member(j, "pad"), "00042|ab  |  cd|xy|hel|ff|q|%");
  assert_true(json_is_true(json_object_get(j, "stopped")));
  assert_string_equal(str_member(j, "nan"), "nan"); /* not a JSON number: a string */
  assert_string_equal(str_member(j, "hex"), "ff");
  assert_int_equal(json_integer_value(json_object_get(j, "n")), -5);
  assert_int_equal(json_integer_value(json_object_get(j, "z")), -12);
  assert_int_equal(json_integer_value(json_object_get(j, "j")), 77);
  assert_int_equal(json_integer_value(json_object_get(j, "w")), 9);
  assert_non_null(strstr(out, "\"w\":     9}")); /* the width kept */
  json_decref(j);
  free(out);
}

/* ---- long lines ------------------------------------------------------------------------- */

/* Cuts at every offset of a run of multi-byte characters and escapes: each
 * line is one JSON object, at most 4096 bytes, marked truncated, and its
 * value is a prefix of what was logged. */
static void long_lines_close(void **state) {
  (void)state;
  enum { PIECE = 6, RUN = 8000 };
  static const char piece[PIECE + 1] = "\"\xe2\x82\xac\\\n"; /* 1 + 3 + 1 + 1 bytes */
  static char big[RUN + 64];
  for (size_t i = 0; i + PIECE <= RUN; i += PIECE)
    memcpy(big + i, piece, PIECE);
  for (int shift = 0; shift < 12; shift++) {
    char lead[16];
    memset(lead, 'a', (size_t)shift);
    lead[shift] = 0;
    struct capture c;
    size_t len;
    capture_begin(&c);
    log_json(LOG_INFO, "long", "\"lead\":\"%s\",\"message\":\"%s\",\"after\":1", lead, big);
    log_json(LOG_INFO, "long", "\"list\":[\"%s\",\"%s\"],\"after\":1", lead, big);
    char *out = capture_end(&c, &len);
    char *second = strchr(out, '\n') + 1;
    const size_t first_len = (size_t)(second - out);
    assert_true(first_len <= 4096);
    json_t *j = one_line(out, first_len);
    assert_true(json_is_true(json_object_get(j, "truncated")));
    assert_null(json_object_get(j, "after"));
    const char *m = str_member(j, "message");
    assert_true(strlen(m) > 1500); /* about 4000 bytes escaped */
    assert_int_equal(memcmp(m, big, strlen(m)), 0); /* a prefix, no character split */
    json_decref(j);
    /* Cut inside an array: the unfinished member goes, the line closes. */
    assert_true(len - first_len <= 4096);
    j = one_line(second, len - first_len);
    assert_true(json_is_true(json_object_get(j, "truncated")));
    assert_null(json_object_get(j, "list"));
    assert_string_equal(str_member(j, "event"), "long");
    json_decref(j);
    free(out);
  }
}

/* ---- trusted members --------------------------------------------------------------------- */

static void trusted_fields_pass_as_json(void **state) {
  (void)state;
  struct capture c;
  size_t len;
  capture_begin(&c);
  log_json_fields(LOG_INFO, "gen_done", "\"seed\":1,\"per_la\":[{\"la_code\":\"E99000001\"}]");
  log_json_fields(LOG_INFO, "gen_done", "\"seed\":1,\"per_la\":[{\"la_code\":\"E\n\xff");
  log_json_fields(LOG_INFO, "gen_done", "\"a\":1},{\"b\":2");
  char *out = capture_end(&c, &len);
  char *second = strchr(out, '\n') + 1;
  json_t *j = one_line(out, (size_t)(second - out));
  assert_int_equal(json_integer_value(json_object_get(j, "seed")), 1);
  json_t *la = json_object_get(json_array_get(json_object_get(j, "per_la"), 0), "la_code");
  assert_string_equal(json_string_value(la), "E99000001");
  assert_null(json_object_get(j, "truncated"));
  json_decref(j);
  /* Not JSON members: kept whole, as one string. */
  char *third = strchr(second, '\n') + 1;
  j = one_line(second, (size_t)(third - second));
  assert_null(json_object_get(j, "seed"));
  assert_string_equal(str_member(j, "fields"),
                      "\"seed\":1,\"per_la\":[{\"la_code\":\"E\n\xef\xbf\xbd");
  json_decref(j);
  j = one_line(third, len - (size_t)(third - out));
  assert_null(json_object_get(j, "b"));
  assert_string_equal(str_member(j, "fields"), "\"a\":1},{\"b\":2");
  json_decref(j);
  free(out);
}

/* ---- librdkafka ----------------------------------------------------------------------------- */

/* A producer of kafka_conf_from_config that cannot connect (a closed port on
 * loopback) logs the failure: it must arrive as a kafka_log JSON line. */
static void kafka_logs_are_json_lines(void **state) {
  (void)state;
  struct config cfg;
  char err[512];
  config_init(&cfg);
  assert_int_equal(config_set(&cfg, "bootstrap.servers", "127.0.0.1:1"), CSC_OK);
  assert_int_equal(config_set(&cfg, "reconnect.backoff.ms", "10"), CSC_OK);
  rd_kafka_conf_t *conf = kafka_conf_from_config(&cfg, "producer", err, sizeof err);
  assert_non_null(conf);
  config_free(&cfg);
  struct capture c;
  size_t len;
  capture_begin(&c);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  assert_non_null(rk);
  int seen = 0;
  for (int i = 0; i < 100 && !seen; i++) { /* at most 100 polls of 100 ms */
    rd_kafka_poll(rk, 100);
    fflush(stderr);
    seen = ftell(c.file) > 0;
  }
  rd_kafka_destroy(rk);
  char *out = capture_end(&c, &len);
  assert_true(seen);
  size_t kafka_lines = 0;
  for (char *line = out; *line;) {
    char *end = strchr(line, '\n');
    assert_non_null(end); /* every line ends */
    json_t *j = one_line(line, (size_t)(end + 1 - line));
    assert_string_equal(str_member(j, "event"), "kafka_log");
    assert_true(json_is_integer(json_object_get(j, "kafka_level")));
    assert_true(strlen(str_member(j, "facility")) > 0);
    str_member(j, "message");
    kafka_lines++;
    json_decref(j);
    line = end + 1;
  }
  assert_true(kafka_lines > 0);
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(string_argument_is_escaped),
      cmocka_unit_test(argument_cannot_inject_members),
      cmocka_unit_test(event_name_is_escaped),
      cmocka_unit_test(json_write_string_escapes),
      cmocka_unit_test(numbers_still_format),
      cmocka_unit_test(long_lines_close),
      cmocka_unit_test(trusted_fields_pass_as_json),
      cmocka_unit_test(kafka_logs_are_json_lines),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
