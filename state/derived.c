/*
 * The stored form of a derived record (state.h: derived_size, derived_write,
 * derived_decode; the table `derived`).
 *
 * Varints throughout, because the record was mostly padding and repetition:
 * the in-memory structs (16 bytes a fact; an alert or a finding carries a
 * 129-byte id buffer whatever the id's length) were a third of the state.
 * Layout (varint: protobuf base-128; zz: zigzag, so small negatives stay
 * one byte; every difference computed in 64 bits, so any int32 value
 * round-trips):
 *   varint n_facts, varint n_alerts, varint n_findings
 *   each fact, against the fact before it (the first against all zeros):
 *     varint measure
 *     varint bucket                 when measure differs from the previous;
 *     varint zz(bucket - previous)  when it is the same (facts are sorted,
 *                                   fact_compare, so this is small)
 *     varint zz(weight)
 *     varint zz(from - previous from)
 *     to: 0 for DATE_NEVER, else varint zz(to - from) + 1
 *   each alert: varint plan_kind, varint months, varint zz(plan_start),
 *     varint zz(from - plan_start), to as a fact's (against from),
 *     varint length + the plan id's bytes (no NUL)
 *   each finding: varint rule, varint length + the event id's bytes
 * Encoding is a function of the values alone, so a record decoded and
 * written again is the same bytes (fuzz/fuzz_fold.c checks it), and two
 * equal derivations store equal records (tests compare them byte for byte).
 * An alert candidate alone has the same form in the alert calendar
 * (alert_fact_write, indicators/alerts.c).
 * The facts of a record can also be read in place, one at a time
 * (derived_facts_begin / derived_facts_next, facts_internal.h), as the
 * allocation join does with a worker's record.
 */
#include <string.h>

#include "state/facts_internal.h"

static uint64_t zz(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static int64_t unzz(uint64_t u) { return (int64_t)(u >> 1) ^ -(int64_t)(u & 1); }

/* Appends varint v at *p (when p is not NULL) and counts its bytes in *n. */
static void put(uint8_t *p, size_t *n, uint64_t v) {
  uint8_t tmp[10];
  *n += varint_encode(v, p != NULL ? p + *n : tmp);
}

static void put_bytes(uint8_t *p, size_t *n, const char *s) {
  const size_t len = strlen(s);
  put(p, n, len);
  if (p != NULL)
    memcpy(p + *n, s, len);
  *n += len;
}

static uint64_t to_code(csc_date from, csc_date to) {
  return to == DATE_NEVER ? 0 : zz((int64_t)to - from) + 1;
}

static void put_fact(uint8_t *p, size_t *n, const struct fact *f, const struct fact *prev) {
  put(p, n, f->measure);
  put(p, n, f->measure != prev->measure ? f->bucket : zz((int64_t)f->bucket - prev->bucket));
  put(p, n, zz(f->weight));
  put(p, n, zz((int64_t)f->from - prev->from));
  put(p, n, to_code(f->from, f->to));
}

static void put_alert(uint8_t *p, size_t *n, const struct alert_fact *af) {
  put(p, n, af->plan_kind);
  put(p, n, af->months);
  put(p, n, zz(af->plan_start));
  put(p, n, zz((int64_t)af->from - af->plan_start));
  put(p, n, to_code(af->from, af->to));
  put_bytes(p, n, af->plan_id);
}

/* Writes the record at p (NULL: only counts) and returns its length. */
static size_t encode(const struct derived *d, uint8_t *p) {
  size_t n = 0;
  put(p, &n, d->n_facts);
  put(p, &n, d->n_alerts);
  put(p, &n, d->n_findings);
  struct fact prev = {0};
  for (size_t i = 0; i < d->n_facts; i++) {
    put_fact(p, &n, &d->facts[i], &prev);
    prev = d->facts[i];
  }
  for (size_t i = 0; i < d->n_alerts; i++)
    put_alert(p, &n, &d->alerts[i]);
  for (size_t i = 0; i < d->n_findings; i++) {
    put(p, &n, d->findings[i].rule);
    put_bytes(p, &n, d->findings[i].event_id);
  }
  return n;
}

size_t derived_size(const struct derived *d) { return encode(d, NULL); }

void derived_write(const struct derived *d, uint8_t *buf) { encode(d, buf); }

/* A reader over buf[0..len). Each get fails (returns 0) once anything is
 * malformed, and stays failed. */
struct rd {
  const uint8_t *p;
  size_t len, pos;
  int bad;
};

static uint64_t get(struct rd *r, uint64_t max) {
  uint64_t v = 0;
  const size_t used = r->bad ? 0 : varint_decode(r->p + r->pos, r->len - r->pos, &v);
  if (used == 0 || v > max) {
    r->bad = 1;
    return 0;
  }
  r->pos += used;
  return v;
}

/* base + unzz(code), which must be a csc_date. */
static csc_date get_date(struct rd *r, int64_t base) {
  const int64_t v = base + unzz(get(r, UINT64_MAX));
  if (v < INT32_MIN || v > INT32_MAX) {
    r->bad = 1;
    return 0;
  }
  return (csc_date)v;
}

/* A to coded against from; an explicit DATE_NEVER is malformed (its code
 * is 0), so that every record has one encoding. */
static csc_date get_to(struct rd *r, csc_date from) {
  const uint64_t code = get(r, UINT64_MAX);
  if (code == 0)
    return DATE_NEVER;
  const int64_t v = (int64_t)from + unzz(code - 1);
  if (v < INT32_MIN || v >= DATE_NEVER) {
    r->bad = 1;
    return 0;
  }
  return (csc_date)v;
}

/* An id into out (STATE_ID_MAX + 1 bytes, NUL-terminated); no NUL inside. */
static void get_id(struct rd *r, char *out) {
  const uint64_t n = get(r, STATE_ID_MAX);
  if (r->bad || n > r->len - r->pos || memchr(r->p + r->pos, '\0', n) != NULL) {
    r->bad = 1;
    out[0] = '\0';
    return;
  }
  memcpy(out, r->p + r->pos, n);
  out[n] = '\0';
  r->pos += n;
}

static void get_fact(struct rd *r, struct fact *f, const struct fact *prev) {
  f->measure = (uint16_t)get(r, UINT16_MAX);
  if (f->measure != prev->measure) {
    f->bucket = (uint16_t)get(r, UINT16_MAX);
  } else {
    const int64_t b = prev->bucket + unzz(get(r, UINT64_MAX));
    if (b < 0 || b > UINT16_MAX)
      r->bad = 1;
    f->bucket = (uint16_t)b;
  }
  const int64_t w = unzz(get(r, UINT64_MAX));
  if (w < INT32_MIN || w > INT32_MAX)
    r->bad = 1;
  f->weight = (int32_t)w;
  f->from = get_date(r, prev->from);
  f->to = get_to(r, f->from);
}

static void get_alert(struct rd *r, struct alert_fact *af) {
  memset(af, 0, sizeof *af);
  af->plan_kind = (uint8_t)get(r, UINT8_MAX);
  af->months = (uint8_t)get(r, UINT8_MAX);
  af->plan_start = get_date(r, 0);
  af->from = get_date(r, af->plan_start);
  af->to = get_to(r, af->from);
  get_id(r, af->plan_id);
}

/* The three counts; each element takes at least 2 bytes, which bounds
 * what a malformed record can make the decoder allocate. */
static void get_counts(struct rd *r, uint64_t counts[3]) {
  for (int i = 0; i < 3; i++)
    counts[i] = get(r, r->len / 2);
}

int derived_decode(const uint8_t *buf, size_t len, struct arena *a, struct derived *out) {
  memset(out, 0, sizeof *out);
  struct rd r = {buf, len, 0, 0};
  uint64_t counts[3];
  get_counts(&r, counts);
  if (r.bad)
    return CSC_EINVAL;
  out->facts = arena_alloc(a, (counts[0] ? counts[0] : 1) * sizeof *out->facts);
  out->alerts = arena_alloc(a, (counts[1] ? counts[1] : 1) * sizeof *out->alerts);
  out->findings = arena_alloc(a, (counts[2] ? counts[2] : 1) * sizeof *out->findings);
  if (out->facts == NULL || out->alerts == NULL || out->findings == NULL)
    return CSC_ENOMEM;
  struct fact prev = {0};
  for (size_t i = 0; i < counts[0] && !r.bad; i++) {
    get_fact(&r, &out->facts[i], &prev);
    prev = out->facts[i];
  }
  for (size_t i = 0; i < counts[1] && !r.bad; i++)
    get_alert(&r, &out->alerts[i]);
  for (size_t i = 0; i < counts[2] && !r.bad; i++) {
    struct finding *f = &out->findings[i];
    memset(f, 0, sizeof *f);
    f->rule = (uint16_t)get(&r, UINT16_MAX);
    get_id(&r, f->event_id);
  }
  if (r.bad || r.pos != len) {
    memset(out, 0, sizeof *out);
    return CSC_EINVAL;
  }
  out->n_facts = counts[0];
  out->n_alerts = counts[1];
  out->n_findings = counts[2];
  return CSC_OK;
}

int derived_facts_begin(struct derived_facts *it, const uint8_t *buf, size_t len) {
  struct rd r = {buf, len, 0, 0};
  uint64_t counts[3];
  get_counts(&r, counts);
  memset(it, 0, sizeof *it);
  if (r.bad)
    return CSC_EINVAL;
  it->buf = buf;
  it->len = len;
  it->pos = r.pos;
  it->left = counts[0];
  return CSC_OK;
}

int derived_facts_next(struct derived_facts *it, struct fact *f) {
  if (it->left == 0)
    return 0;
  struct rd r = {it->buf, it->len, it->pos, 0};
  get_fact(&r, f, &it->prev);
  if (r.bad)
    return CSC_EINVAL;
  it->pos = r.pos;
  it->prev = *f;
  it->left--;
  return 1;
}

size_t alert_fact_write(const struct alert_fact *af, uint8_t *buf) {
  size_t n = 0;
  put_alert(buf, &n, af);
  return n;
}

size_t alert_fact_decode(const uint8_t *buf, size_t len, struct alert_fact *out) {
  struct rd r = {buf, len, 0, 0};
  get_alert(&r, out);
  return r.bad ? 0 : r.pos;
}
