/*
 * test_framing.c — message bodies in: raw protobuf and Confluent wire format
 * (ingest_unframe), unpacking (ingest_decode), envelope validation
 * (ingest_validate), and preservation of unknown fields.
 *
 * Events are built with protoc-c's generated API and packed with it; the
 * framing bytes are written out by hand from the Confluent wire format:
 *   0x00 magic, 4-byte big-endian schema id, message indexes as zigzag
 *   varints (count, then indexes; the single byte 0x00 is short for [0]).
 * Zigzag: 0 -> 0x00, 1 -> 0x02, 2 -> 0x04, -1 -> 0x01.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"
#include "ingest/ingest.h"

#define BUF_CAP 4096

struct fixture {
  Cscflow__V1__CaseEvent ev;
  Cscflow__V1__ReferralOpened r;
  Cscflow__V1__WorkforceEvent w;
};

/* A valid referral: every envelope field set, ReferralOpened payload. */
static void make_referral(struct fixture *f) {
  Cscflow__V1__CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__ReferralOpened r = CSCFLOW__V1__REFERRAL_OPENED__INIT;
  Cscflow__V1__WorkforceEvent w = CSCFLOW__V1__WORKFORCE_EVENT__INIT;
  f->ev = ev;
  f->r = r;
  f->w = w;
  f->r.referral_id = "REF-1";
  f->r.source = "1A";
  f->ev.event_id = "evt-0001";
  f->ev.la_code = "201";
  f->ev.child_id = "C000123";
  f->ev.occurred_on = 20240229;
  f->ev.recorded_at_ms = 1709215200000LL;
  f->ev.source_system = "liquidlogic";
  f->ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED;
  f->ev.referral_opened = &f->r;
}

/* A valid workforce event: no child, a worker. */
static void make_workforce(struct fixture *f) {
  make_referral(f);
  f->ev.child_id = "";
  f->w.worker_id = "W42";
  f->w.change = CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_STARTED;
  f->w.fte_x100 = 100;
  f->ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE;
  f->ev.workforce = &f->w;
}

/* Packs ev at buf + prefix_len after copying prefix there; returns total length. */
static size_t frame(const Cscflow__V1__CaseEvent *ev, const uint8_t *prefix, size_t prefix_len,
                    uint8_t *buf) {
  const size_t n = cscflow__v1__case_event__get_packed_size(ev);
  assert_true(prefix_len + n <= BUF_CAP);
  if (prefix_len)
    memcpy(buf, prefix, prefix_len);
  assert_int_equal(cscflow__v1__case_event__pack(ev, buf + prefix_len), n);
  return prefix_len + n;
}

static void assert_same_referral(const CaseEvent *got, const struct fixture *want) {
  assert_non_null(got);
  assert_string_equal(got->event_id, want->ev.event_id);
  assert_string_equal(got->la_code, want->ev.la_code);
  assert_string_equal(got->child_id, want->ev.child_id);
  assert_int_equal(got->occurred_on, want->ev.occurred_on);
  assert_int_equal(got->recorded_at_ms, want->ev.recorded_at_ms);
  assert_string_equal(got->source_system, want->ev.source_system);
  assert_string_equal(got->supersedes_event_id, "");
  assert_string_equal(got->retracts_event_id, "");
  assert_int_equal(got->payload_case, CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED);
  assert_non_null(got->referral_opened);
  assert_string_equal(got->referral_opened->referral_id, want->r.referral_id);
  assert_string_equal(got->referral_opened->source, want->r.source);
}

/* Decodes buf and expects CSC_EINVAL with exactly the given reason. */
static void expect_reject(const uint8_t *buf, size_t len, const char *want_reason) {
  struct arena a;
  arena_init(&a, 4096);
  CaseEvent *ev = NULL;
  const uint8_t *pb = NULL;
  size_t pb_len = 0;
  const char *reason = NULL;
  assert_int_equal(ingest_decode(buf, len, &a, &ev, &pb, &pb_len, &reason), CSC_EINVAL);
  assert_non_null(reason);
  assert_string_equal(reason, want_reason);
  arena_free(&a);
}

static void expect_reject_event(const Cscflow__V1__CaseEvent *ev, const char *want_reason) {
  uint8_t buf[BUF_CAP];
  const size_t len = frame(ev, NULL, 0, buf);
  expect_reject(buf, len, want_reason);
  /* ingest_validate on the in-memory event agrees. */
  const char *reason = NULL;
  assert_int_equal(ingest_validate(ev, &reason), CSC_EINVAL);
  assert_non_null(reason);
  assert_string_equal(reason, want_reason);
}

static void expect_accept_event(const Cscflow__V1__CaseEvent *ev) {
  uint8_t buf[BUF_CAP];
  const size_t len = frame(ev, NULL, 0, buf);
  struct arena a;
  arena_init(&a, 4096);
  CaseEvent *out = NULL;
  const uint8_t *pb = NULL;
  size_t pb_len = 0;
  const char *reason = NULL;
  assert_int_equal(ingest_decode(buf, len, &a, &out, &pb, &pb_len, &reason), CSC_OK);
  assert_non_null(out);
  assert_string_equal(out->event_id, ev->event_id);
  assert_int_equal(out->payload_case, ev->payload_case);
  assert_int_equal(ingest_validate(ev, &reason), CSC_OK);
  arena_free(&a);
}

/* ---- raw protobuf ------------------------------------------------------------ */

static void test_raw(void **state) {
  (void)state;
  struct fixture f;
  make_referral(&f);
  uint8_t buf[BUF_CAP];
  const size_t len = frame(&f.ev, NULL, 0, buf);
  /* Field 1 (event_id), wire type 2: tag byte (1<<3)|2 = 0x0a; never 0. */
  assert_int_equal(buf[0], 0x0a);

  const uint8_t *pb = NULL;
  size_t pb_len = 0;
  uint32_t schema_id = 77;
  const char *reason = NULL;
  assert_int_equal(ingest_unframe(buf, len, &pb, &pb_len, &schema_id, &reason), CSC_OK);
  assert_ptr_equal(pb, buf);
  assert_int_equal(pb_len, len);
  assert_int_equal(schema_id, 0);

  struct arena a;
  arena_init(&a, 4096);
  CaseEvent *ev = NULL;
  pb = NULL;
  pb_len = 0;
  assert_int_equal(ingest_decode(buf, len, &a, &ev, &pb, &pb_len, &reason), CSC_OK);
  assert_ptr_equal(pb, buf);
  assert_int_equal(pb_len, len);
  assert_same_referral(ev, &f);
  arena_free(&a);
}

/* ---- Confluent wire format ------------------------------------------------------ */

static void test_confluent_short_index(void **state) {
  (void)state;
  struct fixture f;
  make_referral(&f);
  /* magic 0, schema id 300 = 0x0000012C big-endian, index form 0x00 = [0]. */
  const uint8_t hdr[] = {0x00, 0x00, 0x00, 0x01, 0x2c, 0x00};
  uint8_t buf[BUF_CAP];
  const size_t len = frame(&f.ev, hdr, sizeof hdr, buf);

  const uint8_t *pb = NULL;
  size_t pb_len = 0;
  uint32_t schema_id = 0;
  const char *reason = NULL;
  assert_int_equal(ingest_unframe(buf, len, &pb, &pb_len, &schema_id, &reason), CSC_OK);
  assert_int_equal(schema_id, 300);
  assert_ptr_equal(pb, buf + 6);
  assert_int_equal(pb_len, len - 6);

  struct arena a;
  arena_init(&a, 4096);
  CaseEvent *ev = NULL;
  pb = NULL;
  assert_int_equal(ingest_decode(buf, len, &a, &ev, &pb, &pb_len, &reason), CSC_OK);
  assert_ptr_equal(pb, buf + 6);
  assert_int_equal(pb_len, len - 6);
  assert_same_referral(ev, &f);
  arena_free(&a);

  /* All four schema id bytes count, most significant first:
   * 0x12345678 = 305419896; 0xFFFFFFFE = 4294967294. */
  const uint8_t hdr2[] = {0x00, 0x12, 0x34, 0x56, 0x78, 0x00};
  const size_t len2 = frame(&f.ev, hdr2, sizeof hdr2, buf);
  assert_int_equal(ingest_unframe(buf, len2, &pb, &pb_len, &schema_id, &reason), CSC_OK);
  assert_int_equal(schema_id, 305419896u);
  const uint8_t hdr3[] = {0x00, 0xff, 0xff, 0xff, 0xfe, 0x00};
  const size_t len3 = frame(&f.ev, hdr3, sizeof hdr3, buf);
  assert_int_equal(ingest_unframe(buf, len3, &pb, &pb_len, &schema_id, &reason), CSC_OK);
  assert_true(schema_id == 4294967294u);
  assert_ptr_equal(pb, buf + 6);
}

static void test_confluent_explicit_index(void **state) {
  (void)state;
  struct fixture f;
  make_referral(&f);
  /* Index array [0]: count 1 (zigzag 0x02), index 0 (0x00). */
  const uint8_t hdr[] = {0x00, 0x00, 0x00, 0x01, 0x2c, 0x02, 0x00};
  uint8_t buf[BUF_CAP];
  const size_t len = frame(&f.ev, hdr, sizeof hdr, buf);

  const uint8_t *pb = NULL;
  size_t pb_len = 0;
  uint32_t schema_id = 0;
  const char *reason = NULL;
  assert_int_equal(ingest_unframe(buf, len, &pb, &pb_len, &schema_id, &reason), CSC_OK);
  assert_int_equal(schema_id, 300);
  assert_ptr_equal(pb, buf + 7);
  assert_int_equal(pb_len, len - 7);

  struct arena a;
  arena_init(&a, 4096);
  CaseEvent *ev = NULL;
  pb = NULL;
  assert_int_equal(ingest_decode(buf, len, &a, &ev, &pb, &pb_len, &reason), CSC_OK);
  assert_ptr_equal(pb, buf + 7);
  assert_int_equal(pb_len, len - 7);
  assert_same_referral(ev, &f);
  arena_free(&a);
}

static void expect_index_refused(const uint8_t *hdr, size_t hdr_len) {
  struct fixture f;
  make_referral(&f);
  uint8_t buf[BUF_CAP];
  const size_t len = frame(&f.ev, hdr, hdr_len, buf);
  const uint8_t *pb = NULL;
  size_t pb_len = 0;
  uint32_t schema_id = 0;
  const char *reason = NULL;
  assert_int_equal(ingest_unframe(buf, len, &pb, &pb_len, &schema_id, &reason), CSC_EINVAL);
  assert_non_null(reason);
  assert_non_null(strstr(reason, "message index"));

  struct arena a;
  arena_init(&a, 4096);
  CaseEvent *ev = NULL;
  const char *reason2 = NULL;
  assert_int_equal(ingest_decode(buf, len, &a, &ev, &pb, &pb_len, &reason2), CSC_EINVAL);
  assert_non_null(reason2);
  assert_string_equal(reason2, reason);
  arena_free(&a);
}

static void test_confluent_other_index(void **state) {
  (void)state;
  /* [1]: count 1 (0x02), index 1 (0x02) — the second message of the file. */
  const uint8_t one[] = {0x00, 0x00, 0x00, 0x01, 0x2c, 0x02, 0x02};
  expect_index_refused(one, sizeof one);
  /* [0,0]: count 2 (0x04), indexes 0, 0 — a message nested in CaseEvent. */
  const uint8_t zero_zero[] = {0x00, 0x00, 0x00, 0x01, 0x2c, 0x04, 0x00, 0x00};
  expect_index_refused(zero_zero, sizeof zero_zero);
  /* [1,0]: count 2 (0x04), indexes 1 (0x02), 0. */
  const uint8_t one_zero[] = {0x00, 0x00, 0x00, 0x01, 0x2c, 0x04, 0x02, 0x00};
  expect_index_refused(one_zero, sizeof one_zero);
  /* [-1]: count 1, index -1 (zigzag 0x01). */
  const uint8_t minus_one[] = {0x00, 0x00, 0x00, 0x01, 0x2c, 0x02, 0x01};
  expect_index_refused(minus_one, sizeof minus_one);
  /* A negative count (zigzag 0x01 = -1) is malformed. */
  const uint8_t neg_count[] = {0x00, 0x00, 0x00, 0x01, 0x2c, 0x01, 0x00};
  expect_index_refused(neg_count, sizeof neg_count);
}

static void test_confluent_malformed(void **state) {
  (void)state;
  const uint8_t *pb = NULL;
  size_t pb_len = 0;
  uint32_t schema_id = 0;
  const char *reason = NULL;

  /* Truncated header: magic plus fewer than 5 more bytes (id + index). */
  const uint8_t hdr[] = {0x00, 0x00, 0x00, 0x01, 0x2c, 0x00};
  for (size_t n = 1; n < 6; n++) {
    reason = NULL;
    assert_int_equal(ingest_unframe(hdr, n, &pb, &pb_len, &schema_id, &reason), CSC_EINVAL);
    assert_non_null(reason);
    assert_non_null(strstr(reason, "truncated"));
    expect_reject(hdr, n, reason);
  }

  /* Empty message. */
  const uint8_t empty[1] = {0x0a};
  reason = NULL;
  assert_int_equal(ingest_unframe(empty, 0, &pb, &pb_len, &schema_id, &reason), CSC_EINVAL);
  assert_non_null(reason);
  assert_string_equal(reason, "empty message");
  expect_reject(empty, 0, "empty message");

  /* Index count whose varint never ends (continuation bit on the last byte). */
  const uint8_t cont[] = {0x00, 0x00, 0x00, 0x01, 0x2c, 0x80};
  reason = NULL;
  assert_int_equal(ingest_unframe(cont, sizeof cont, &pb, &pb_len, &schema_id, &reason),
                   CSC_EINVAL);
  assert_non_null(reason);
  assert_non_null(strstr(reason, "message index"));

  /* Count 1 but the index is missing. */
  const uint8_t no_index[] = {0x00, 0x00, 0x00, 0x01, 0x2c, 0x02};
  reason = NULL;
  assert_int_equal(ingest_unframe(no_index, sizeof no_index, &pb, &pb_len, &schema_id, &reason),
                   CSC_EINVAL);
  assert_non_null(reason);
  assert_non_null(strstr(reason, "message index"));

  /* A huge count is refused without reading past the end. */
  const uint8_t huge[] = {0x00, 0x00, 0x00, 0x01, 0x2c, 0xfe, 0xff, 0xff, 0xff, 0x0f};
  reason = NULL;
  assert_int_equal(ingest_unframe(huge, sizeof huge, &pb, &pb_len, &schema_id, &reason),
                   CSC_EINVAL);
  assert_non_null(reason);

  /* A complete header with no protobuf after it unframes to zero bytes, and
   * the empty CaseEvent that unpacks from them has no event_id. */
  reason = NULL;
  assert_int_equal(ingest_unframe(hdr, sizeof hdr, &pb, &pb_len, &schema_id, &reason), CSC_OK);
  assert_ptr_equal(pb, hdr + 6);
  assert_int_equal(pb_len, 0);
  assert_int_equal(schema_id, 300);
  expect_reject(hdr, sizeof hdr, "event_id: missing");
}

static void test_garbage(void **state) {
  (void)state;
  uint8_t junk[20];
  memset(junk, 0xff, sizeof junk);
  expect_reject(junk, sizeof junk, "protobuf decode failed");

  /* The same garbage behind a valid Confluent header. */
  uint8_t framed[26] = {0x00, 0x00, 0x00, 0x01, 0x2c, 0x00};
  memset(framed + 6, 0xff, 20);
  expect_reject(framed, sizeof framed, "protobuf decode failed");

  /* A valid event cut short in the middle of a string. */
  struct fixture f;
  make_referral(&f);
  uint8_t buf[BUF_CAP];
  const size_t len = frame(&f.ev, NULL, 0, buf);
  expect_reject(buf, len - 3, "protobuf decode failed");
  /* Field 1 says 10 bytes follow, only 2 do. */
  const uint8_t short_str[] = {0x0a, 0x0a, 'a', 'b'};
  expect_reject(short_str, sizeof short_str, "protobuf decode failed");
}

/* ---- validation ---------------------------------------------------------------- */

static void test_validation(void **state) {
  (void)state;
  struct fixture f;

  make_referral(&f);
  expect_accept_event(&f.ev);

  make_referral(&f);
  f.ev.event_id = "";
  expect_reject_event(&f.ev, "event_id: missing");

  make_referral(&f);
  f.ev.la_code = "";
  expect_reject_event(&f.ev, "la_code: missing");

  make_referral(&f);
  f.ev.child_id = "";
  expect_reject_event(&f.ev, "child_id: missing");

  make_referral(&f);
  f.ev.occurred_on = 20230229; /* 2023 is not a leap year */
  expect_reject_event(&f.ev, "occurred_on: not a date");

  make_referral(&f);
  f.ev.occurred_on = 0; /* not recorded */
  expect_reject_event(&f.ev, "occurred_on: not a date");

  make_referral(&f);
  f.ev.occurred_on = 20241301;
  expect_reject_event(&f.ev, "occurred_on: not a date");

  /* recorded_at moves the replay clock: before 1970 or from 2200 on is a
   * broken value (the fold fuzzer found such a time overflowing the date
   * arithmetic). 2199-12-31T23:59:59.999Z is still accepted. */
  make_referral(&f);
  f.ev.recorded_at_ms = -1;
  expect_reject_event(&f.ev, "recorded_at_ms: out of range");
  make_referral(&f);
  f.ev.recorded_at_ms = 7258118400000LL;
  expect_reject_event(&f.ev, "recorded_at_ms: out of range");
  make_referral(&f);
  f.ev.recorded_at_ms = 7258118399999LL;
  {
    const char *reason = NULL;
    assert_int_equal(ingest_validate(&f.ev, &reason), CSC_OK);
  }

  make_referral(&f);
  f.ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD__NOT_SET;
  f.ev.referral_opened = NULL;
  expect_reject_event(&f.ev, "no payload");

  /* A retraction needs no payload. */
  make_referral(&f);
  f.ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD__NOT_SET;
  f.ev.referral_opened = NULL;
  f.ev.retracts_event_id = "evt-0000";
  expect_accept_event(&f.ev);

  /* A superseding event still needs one. */
  make_referral(&f);
  f.ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD__NOT_SET;
  f.ev.referral_opened = NULL;
  f.ev.supersedes_event_id = "evt-0000";
  expect_reject_event(&f.ev, "no payload");

  /* Workforce events are keyed by worker, not child. */
  make_workforce(&f);
  expect_accept_event(&f.ev);

  make_workforce(&f);
  f.w.worker_id = "";
  expect_reject_event(&f.ev, "workforce.worker_id: missing");

  /* One limit for every identifier: 128 bytes (INGEST_ID_MAX). */
  char id129[130];
  memset(id129, 'e', 129);
  id129[129] = '\0';

  make_referral(&f);
  f.ev.event_id = id129 + 1; /* 128 */
  f.ev.child_id = id129 + 1;
  f.r.referral_id = id129 + 1;
  expect_accept_event(&f.ev);

  make_referral(&f);
  f.ev.event_id = id129;
  expect_reject_event(&f.ev, "event_id: longer than 128 bytes");
  make_referral(&f);
  f.ev.child_id = id129;
  expect_reject_event(&f.ev, "child_id: longer than 128 bytes");
  make_referral(&f);
  f.ev.supersedes_event_id = id129;
  expect_reject_event(&f.ev, "supersedes_event_id: longer than 128 bytes");
  make_workforce(&f);
  f.w.worker_id = id129;
  expect_reject_event(&f.ev, "workforce.worker_id: longer than 128 bytes");
}

/* ---- identifiers: UTF-8, no control characters; LA codes ------------------------- */

/* Case-management ids may hold '/', '-', ':' and spaces, and any
 * character beyond ASCII: all valid. */
static void test_identifier_characters(void **state) {
  (void)state;
  struct fixture f;
  make_referral(&f);
  f.ev.child_id = "K1:CIN/2024-05 a";
  f.ev.event_id = "ev:1/2 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"; /* e-acute, euro, an emoji */
  expect_accept_event(&f.ev);

  make_referral(&f);
  f.ev.child_id = "X\xff"; /* not UTF-8 */
  expect_reject_event(&f.ev, "child_id: not valid UTF-8");
  make_referral(&f);
  f.ev.child_id = "X\xc0\x80"; /* an overlong NUL */
  expect_reject_event(&f.ev, "child_id: not valid UTF-8");
  make_referral(&f);
  f.ev.child_id = "X\xed\xa0\x80"; /* a surrogate */
  expect_reject_event(&f.ev, "child_id: not valid UTF-8");
  make_referral(&f);
  f.ev.child_id = "X\na";
  expect_reject_event(&f.ev, "child_id: control character");
  make_referral(&f);
  f.ev.event_id = "e\x7f";
  expect_reject_event(&f.ev, "event_id: control character");
  make_referral(&f);
  f.ev.retracts_event_id = "e\x1f";
  expect_reject_event(&f.ev, "retracts_event_id: control character");
}

/* "X\0a" and "X\0b" once folded as one child "X": unpacking hides the NUL,
 * so the wire is checked. Nested payload ids are checked the same way. */
static void test_identifier_nul_on_the_wire(void **state) {
  (void)state;
  struct fixture f;
  uint8_t buf[BUF_CAP];
  make_referral(&f);
  f.ev.child_id = "X?a";
  size_t len = frame(&f.ev, NULL, 0, buf);
  uint8_t *q = memchr(buf, '?', len);
  assert_non_null(q);
  *q = 0; /* child_id is now the 3 bytes X, NUL, a */
  expect_reject(buf, len, "child_id: control character");

  make_referral(&f);
  f.r.referral_id = "R?1";
  len = frame(&f.ev, NULL, 0, buf);
  q = memchr(buf, '?', len);
  assert_non_null(q);
  *q = 0;
  expect_reject(buf, len, "referral_opened.referral_id: control character");

  make_referral(&f);
  f.r.source = "1\xfe";
  len = frame(&f.ev, NULL, 0, buf);
  expect_reject(buf, len, "referral_opened.source: not valid UTF-8");
}

/* An LA code is the DfE number or a letter and eight digits, nothing
 * else: "E99000009:Y" once wrote into E99000009's finding ids. */
static void test_la_code_rule(void **state) {
  (void)state;
  const char *good[] = {"201", "E09000001", "E99000009", "W06000015", "S12000033"};
  const char *bad[] = {"LA1", "E99000009:Y", "e09000001", "E0900000", "E090000011", "20",
                       "2011", "E0900000A", "E09 00001", ""};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    assert_true(ingest_la_code_valid(good[i]));
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    assert_false(ingest_la_code_valid(bad[i]));
  struct fixture f;
  make_referral(&f);
  f.ev.la_code = "E99000009:Y";
  expect_reject_event(&f.ev, "la_code: not a DfE LA number or ONS code");
}

/* The allow-list and the mapping: a DfE number and an ONS code are one
 * LA, under its canonical code; an LA not on the list is refused. */
static void test_la_registry(void **state) {
  (void)state;
  struct config cfg;
  config_init(&cfg);
  assert_int_equal(config_set(&cfg, "cscflow.las", "E09000001, E09000002"), CSC_OK);
  assert_int_equal(config_set(&cfg, "cscflow.la.alias.201", "E09000001"), CSC_OK);
  struct la_registry r;
  char err[256];
  assert_int_equal(la_registry_load(&r, &cfg, err, sizeof err), CSC_OK);
  const char *reason = NULL;
  assert_string_equal(la_registry_resolve(&r, "201", &reason), "E09000001");
  assert_string_equal(la_registry_resolve(&r, "E09000001", &reason), "E09000001");
  assert_string_equal(la_registry_resolve(&r, "E09000002", &reason), "E09000002");
  assert_null(la_registry_resolve(&r, "E09000003", &reason));
  assert_string_equal(reason, "la_code: not in cscflow.las");
  assert_null(la_registry_resolve(&r, "202", &reason)); /* a number with no mapping */
  assert_null(la_registry_resolve(&r, "LA1", &reason));
  assert_string_equal(reason, "la_code: not a DfE LA number or ONS code");
  la_registry_free(&r);
  /* No registry: the rule alone. */
  assert_string_equal(la_registry_resolve(NULL, "202", &reason), "202");

  /* A mapping to an LA off the list, an alias of an alias, a bad code:
   * refused at load, naming the key. */
  assert_int_equal(config_set(&cfg, "cscflow.la.alias.202", "E09000003"), CSC_OK);
  assert_int_equal(la_registry_load(&r, &cfg, err, sizeof err), CSC_EINVAL);
  assert_non_null(strstr(err, "cscflow.la.alias.202"));
  config_free(&cfg);
  config_init(&cfg);
  assert_int_equal(config_set(&cfg, "cscflow.la.alias.201", "202"), CSC_OK);
  assert_int_equal(config_set(&cfg, "cscflow.la.alias.202", "E09000001"), CSC_OK);
  assert_int_equal(la_registry_load(&r, &cfg, err, sizeof err), CSC_EINVAL);
  config_free(&cfg);
  config_init(&cfg);
  assert_int_equal(config_set(&cfg, "cscflow.las", "E09000001,LA1"), CSC_OK);
  assert_int_equal(la_registry_load(&r, &cfg, err, sizeof err), CSC_EINVAL);
  assert_non_null(strstr(err, "LA1"));
  config_free(&cfg);
}

/* ---- unknown fields --------------------------------------------------------------- */

static int contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m) {
  for (size_t i = 0; i + m <= n; i++)
    if (memcmp(hay + i, needle, m) == 0)
      return 1;
  return 0;
}

static void test_unknown_fields_kept(void **state) {
  (void)state;
  struct fixture f;
  make_referral(&f);
  uint8_t buf[BUF_CAP];
  const size_t n = frame(&f.ev, NULL, 0, buf);
  /* Field 900, wire type 0 (varint): tag (900 << 3) | 0 = 7200 = 56*128 + 32,
   * as a varint 0xa0 (32 | 0x80), 0x38 (56); value 150 = 22 + 1*128 -> 0x96 0x01. */
  const uint8_t extra[] = {0xa0, 0x38, 0x96, 0x01};
  assert_false(contains(buf, n, extra, sizeof extra));
  memcpy(buf + n, extra, sizeof extra);
  const size_t len = n + sizeof extra;

  struct arena a;
  arena_init(&a, 4096);
  CaseEvent *ev = NULL;
  const uint8_t *pb = NULL;
  size_t pb_len = 0;
  const char *reason = NULL;
  assert_int_equal(ingest_decode(buf, len, &a, &ev, &pb, &pb_len, &reason), CSC_OK);
  assert_same_referral(ev, &f);
  /* The stored bytes are the whole body, unknown field included. */
  assert_ptr_equal(pb, buf);
  assert_int_equal(pb_len, len);
  assert_int_equal(ev->base.n_unknown_fields, 1);

  /* Re-packing the decoded message writes the unknown field back. */
  const size_t m = cscflow__v1__case_event__get_packed_size(ev);
  assert_int_equal(m, len);
  uint8_t *re = malloc(m);
  assert_non_null(re);
  assert_int_equal(cscflow__v1__case_event__pack(ev, re), m);
  assert_true(contains(re, m, extra, sizeof extra));
  free(re);
  arena_free(&a);

  /* Same through Confluent framing: pb excludes the header, keeps the field. */
  const uint8_t hdr[] = {0x00, 0x00, 0x00, 0x01, 0x2c, 0x00};
  uint8_t framed[BUF_CAP];
  memcpy(framed, hdr, sizeof hdr);
  memcpy(framed + sizeof hdr, buf, len);
  arena_init(&a, 4096);
  assert_int_equal(ingest_decode(framed, sizeof hdr + len, &a, &ev, &pb, &pb_len, &reason),
                   CSC_OK);
  assert_ptr_equal(pb, framed + 6);
  assert_int_equal(pb_len, len);
  assert_true(contains(pb, pb_len, extra, sizeof extra));
  arena_free(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_raw),
      cmocka_unit_test(test_confluent_short_index),
      cmocka_unit_test(test_confluent_explicit_index),
      cmocka_unit_test(test_confluent_other_index),
      cmocka_unit_test(test_confluent_malformed),
      cmocka_unit_test(test_garbage),
      cmocka_unit_test(test_validation),
      cmocka_unit_test(test_identifier_characters),
      cmocka_unit_test(test_identifier_nul_on_the_wire),
      cmocka_unit_test(test_la_code_rule),
      cmocka_unit_test(test_la_registry),
      cmocka_unit_test(test_unknown_fields_kept),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
