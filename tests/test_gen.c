/*
 * test_gen.c — the synthetic history generator: determinism, stream order,
 * consistency of the histories, and rates near England's published figures,
 * each measured from the events by a computation independent of gen.c; the
 * mess it can add, and the shuffling of each child's events.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "gen/gen.h"
#include "ingest/ingest.h"

/* ---- helpers ------------------------------------------------------------------ */

struct hash_ctx {
  uint64_t h;
  size_t n;
  int stop_after; /* emit returns 99 after this many events (0: never) */
  int skip_staff; /* leave allocations and workforce events out, and issue
                     16's events ("<la>-X...") and fields */
};

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001B3ULL;
  }
  return h;
}

/* The payloads of an event with issue 16's fields cleared (see
 * without_issue16). */
struct pre16 {
  Cscflow__V1__ReferralOpened ro;
  Cscflow__V1__Section47Started s47s;
  Cscflow__V1__Section47Completed s47c;
  Cscflow__V1__CpPlanStarted cps;
  Cscflow__V1__PlacementStarted ps;
  Cscflow__V1__LegalStatusChanged lsc;
  Cscflow__V1__CareLeaverContact clc;
};

/* *out: ev as the generator made it before issue 16, its fields cleared
 * (payloads copied to p). */
static void without_issue16(const Cscflow__V1__CaseEvent *ev, Cscflow__V1__CaseEvent *out, struct pre16 *p) {
  *out = *ev;
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED:
    p->ro = *ev->referral_opened;
    p->ro.primary_need = "";
    p->ro.no_further_action = 0;
    out->referral_opened = &p->ro;
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_STARTED:
    p->s47s = *ev->section47_started;
    p->s47s.icpc_target_date = 0;
    out->section47_started = &p->s47s;
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_COMPLETED:
    p->s47c = *ev->section47_completed;
    p->s47c.icpc_not_required = 0;
    out->section47_completed = &p->s47c;
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED:
    p->cps = *ev->cp_plan_started;
    p->cps.previous_cp_plans = 0;
    p->cps.previous_cp_plans_recorded = 0;
    out->cp_plan_started = &p->cps;
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PLACEMENT_STARTED:
    p->ps = *ev->placement_started;
    p->ps.reason_for_new_episode = "";
    out->placement_started = &p->ps;
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_LEGAL_STATUS_CHANGED:
    p->lsc = *ev->legal_status_changed;
    p->lsc.reason_for_new_episode = "";
    out->legal_status_changed = &p->lsc;
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CARE_LEAVER_CONTACT:
    p->clc = *ev->care_leaver_contact;
    p->clc.in_touch_code = "";
    out->care_leaver_contact = &p->clc;
    break;
  default: break;
  }
}

static int hash_emit(void *vctx, const Cscflow__V1__CaseEvent *ev) {
  struct hash_ctx *c = vctx;
  Cscflow__V1__CaseEvent pre;
  struct pre16 payloads;
  if (c->skip_staff) {
    if (ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE ||
        ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED || strstr(ev->event_id, "-X"))
      return 0;
    without_issue16(ev, &pre, &payloads);
    ev = &pre;
  }
  uint8_t buf[4096];
  size_t len = cscflow__v1__case_event__get_packed_size(ev);
  assert_true(len <= sizeof buf);
  cscflow__v1__case_event__pack(ev, buf);
  c->h = fnv1a(c->h, buf, len);
  c->n++;
  if (c->stop_after && c->n == (size_t)c->stop_after) return 99;
  return 0;
}

static uint64_t run_hash(const struct gen_options *o, size_t *n) {
  struct hash_ctx c = {0xcbf29ce484222325ULL, 0, 0};
  assert_int_equal(gen_run(o, hash_emit, &c), 0);
  *n = c.n;
  return c.h;
}

static void small_options(struct gen_options *o, uint64_t seed) {
  gen_options_default(o);
  o->seed = seed;
  o->n_las = 2;
  o->years = 2;
  o->scale = 0.2;
}

/* ---- one full run (3 LAs x 5 years, scale 1, seed 1), kept compactly ------------ */

struct rec {
  int64_t rec_ms;
  csc_date day;
  uint32_t child; /* child number from "C0001234"; 0 for workforce events */
  uint32_t id;    /* number of the referral / plan / period the event names;
                     the worker of an allocation or workforce event, the post
                     of a post's */
  uint32_t seq;   /* from the event id */
  uint32_t value; /* workforce: FTE x 100 (STARTED, posts), days (ABSENCE), caseload */
  uint8_t la;
  uint8_t kind; /* payload case - 20 */
  uint8_t flag; /* V3/V4 for periods; NFA for closures; deallocated; workforce:
                   agency | case holding << 1 */
  uint8_t change; /* workforce: the WorkforceChange */
};

#define KIND_WORKFORCE (CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE - 20)
#define KIND_ALLOCATED (CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED - 20)

struct run {
  struct gen_options o;
  struct rec *r;
  size_t n, cap;
  int order_ok;
  int64_t prev_ms;
  char prev_id[32];
  size_t late, after_start;
  int bad_ids;
};

static uint32_t num_after(const char *s, const char *prefix) {
  size_t k = strlen(prefix);
  if (strncmp(s, prefix, k) != 0) return UINT32_MAX;
  return (uint32_t)strtoul(s + k, NULL, 10);
}

static int is_post_change(int change) {
  return change == CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_ESTABLISHED ||
         change == CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_VACANT ||
         change == CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_FILLED;
}

/* A workforce event names its post ("P" + digits) and no worker, or its
 * worker ("W" + digits) and no post. */
static void collect_workforce(struct run *run, const Cscflow__V1__WorkforceEvent *w, struct rec *r) {
  r->change = (uint8_t)w->change;
  r->flag = (uint8_t)(w->agency | w->case_holding << 1);
  if (is_post_change(w->change)) {
    r->id = num_after(w->post_id, "P");
    r->value = w->fte_x100;
    if (w->worker_id[0]) run->bad_ids++;
    return;
  }
  r->id = num_after(w->worker_id, "W");
  if (w->post_id[0]) run->bad_ids++;
  switch (w->change) {
  case CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_STARTED: r->value = w->fte_x100; break;
  case CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_ABSENCE: r->value = w->sickness_days; break;
  case CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_CASELOAD: r->value = w->caseload; break;
  case CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_LEFT: break;
  default: run->bad_ids++; break;
  }
}

static int collect_emit(void *vctx, const Cscflow__V1__CaseEvent *ev) {
  struct run *run = vctx;
  if (run->n == run->cap) {
    run->cap = run->cap ? run->cap * 2 : 1 << 20;
    run->r = realloc(run->r, run->cap * sizeof *run->r);
    if (!run->r) return -1;
  }
  /* Emission order: recorded_at, then event_id. */
  if (ev->recorded_at_ms < run->prev_ms ||
      (ev->recorded_at_ms == run->prev_ms && strcmp(ev->event_id, run->prev_id) <= 0))
    run->order_ok = 0;
  run->prev_ms = ev->recorded_at_ms;
  snprintf(run->prev_id, sizeof run->prev_id, "%s", ev->event_id);

  struct rec *r = &run->r[run->n++];
  memset(r, 0, sizeof *r);
  r->rec_ms = ev->recorded_at_ms;
  if (date_from_yyyymmdd(ev->occurred_on, &r->day) != 0) run->bad_ids++;
  unsigned la = 0;
  if (sscanf(ev->la_code, "E99%6u", &la) != 1 || la < 1 || la > 99) run->bad_ids++;
  r->la = (uint8_t)(la - 1);
  const char *dash = strchr(ev->event_id, '-');
  if (!dash || strncmp(ev->event_id, ev->la_code, (size_t)(dash - ev->event_id)) != 0) run->bad_ids++;
  /* "<la>-<seq>", or "<la>-A<seq>" / "<la>-W<seq>" / "<la>-X<seq>" for
   * allocations, the workforce and issue 16's events (mess is off here) */
  const char *seqp = dash && (dash[1] == 'A' || dash[1] == 'W' || dash[1] == 'X') ? dash + 2 : dash ? dash + 1 : NULL;
  r->seq = seqp ? (uint32_t)strtoul(seqp, NULL, 10) : 0;
  r->child = ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE ? 0 : num_after(ev->child_id, "C");
  if (ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE && ev->child_id[0]) run->bad_ids++;
  r->kind = (uint8_t)(ev->payload_case - 20);
  if (date_london_from_unix_ms(ev->recorded_at_ms) > r->day) run->late++;
  if (r->day >= run->o.start) run->after_start++;
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS: r->flag = ev->child_details->uasc_ceased_on != 0; break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED: r->id = num_after(ev->referral_opened->referral_id, "R"); break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED:
    r->id = num_after(ev->referral_closed->referral_id, "R");
    r->flag = ev->referral_closed->no_further_action;
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED: r->id = num_after(ev->cp_plan_started->plan_id, "CP"); break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED: r->id = num_after(ev->cp_plan_ended->plan_id, "CP"); break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED: r->id = num_after(ev->cin_plan_started->plan_id, "CIN"); break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_ENDED: r->id = num_after(ev->cin_plan_ended->plan_id, "CIN"); break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED: {
    const char *ls = ev->period_of_care_started->legal_status;
    r->id = num_after(ev->period_of_care_started->period_id, "PC");
    r->flag = strcmp(ls, "V3") == 0 || strcmp(ls, "V4") == 0;
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_ENDED:
    r->id = num_after(ev->period_of_care_ended->period_id, "PC");
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PLACEMENT_STARTED: r->id = num_after(ev->placement_started->period_id, "PC"); break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED:
    r->id = num_after(ev->worker_allocated->worker_id, "W");
    r->flag = ev->worker_allocated->deallocated;
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE: collect_workforce(run, ev->workforce, r); break;
  default: r->id = 0; break;
  }
  if (r->child == UINT32_MAX || r->id == UINT32_MAX) run->bad_ids++;
  return 0;
}

static int setup_full(void **state) {
  struct run *run = calloc(1, sizeof *run);
  if (!run) return -1;
  gen_options_default(&run->o);
  run->o.seed = 1;
  run->o.n_las = 3;
  run->o.years = 5;
  run->o.scale = 1.0;
  run->order_ok = 1;
  if (gen_run(&run->o, collect_emit, run) != 0) return -1;
  *state = run;
  return 0;
}

static int teardown_full(void **state) {
  struct run *run = *state;
  if (run) free(run->r);
  free(run);
  return 0;
}

/* Events of one kind, ordered by (la, id, stream position). */
struct keyed {
  uint8_t la;
  uint32_t id;
  uint32_t child;
  size_t pos;
};

static int cmp_keyed(const void *pa, const void *pb) {
  const struct keyed *a = pa, *b = pb;
  if (a->la != b->la) return a->la < b->la ? -1 : 1;
  if (a->id != b->id) return a->id < b->id ? -1 : 1;
  return a->pos < b->pos ? -1 : a->pos > b->pos;
}

static int find_keyed(const struct keyed *v, size_t n, uint8_t la, uint32_t id) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (v[mid].la < la || (v[mid].la == la && v[mid].id < id)) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && v[lo].la == la && v[lo].id == id ? (int)lo : -1;
}

static struct keyed *index_kind(const struct run *run, int kind, size_t *n) {
  struct keyed *v = malloc((run->n + 1) * sizeof *v);
  assert_non_null(v);
  size_t m = 0;
  for (size_t i = 0; i < run->n; i++)
    if (run->r[i].kind == kind) {
      v[m].la = run->r[i].la;
      v[m].id = run->r[i].id;
      v[m].child = run->r[i].child;
      v[m].pos = i;
      m++;
    }
  qsort(v, m, sizeof *v, cmp_keyed);
  *n = m;
  return v;
}

/* Every end event names a start of the same child, emitted before it; starts
 * are unique, and so are ends when unique_end. */
static void check_ends_name_starts(const struct run *run, int start_kind, int end_kind, int unique_end) {
  size_t ns, ne;
  struct keyed *s = index_kind(run, start_kind, &ns);
  struct keyed *e = index_kind(run, end_kind, &ne);
  for (size_t i = 0; i < ne; i++) {
    int k = find_keyed(s, ns, e[i].la, e[i].id);
    assert_true(k >= 0);
    assert_int_equal(s[k].child, e[i].child);
    assert_true(s[k].pos < e[i].pos);
    if (unique_end && i > 0) assert_false(e[i].la == e[i - 1].la && e[i].id == e[i - 1].id);
  }
  for (size_t i = 1; i < ns; i++) assert_false(s[i].la == s[i - 1].la && s[i].id == s[i - 1].id);
  free(s);
  free(e);
}

/* ---- rates, computed from the events --------------------------------------------- */

struct interval {
  uint8_t la;
  uint32_t child;
  csc_date from, to; /* [from, to); to = DATE_NEVER when open */
  int flag;
};

static int cmp_interval(const void *pa, const void *pb) {
  const struct interval *a = pa, *b = pb;
  if (a->la != b->la) return a->la < b->la ? -1 : 1;
  if (a->child != b->child) return a->child < b->child ? -1 : 1;
  return a->from < b->from ? -1 : a->from > b->from;
}

/* Intervals [start, end) of the objects opened by start_kind, per LA and id. */
static struct interval *intervals(const struct run *run, int start_kind, int end_kind, size_t *n) {
  size_t ns, ne;
  struct keyed *s = index_kind(run, start_kind, &ns);
  struct keyed *e = index_kind(run, end_kind, &ne);
  struct interval *v = malloc((ns + 1) * sizeof *v);
  assert_non_null(v);
  for (size_t i = 0; i < ns; i++) {
    const struct rec *r = &run->r[s[i].pos];
    v[i].la = r->la;
    v[i].child = r->child;
    v[i].from = r->day;
    v[i].flag = r->flag;
    int k = find_keyed(e, ne, s[i].la, s[i].id);
    v[i].to = k >= 0 ? run->r[e[k].pos].day : DATE_NEVER;
  }
  free(s);
  free(e);
  *n = ns;
  return v;
}

struct rates {
  double referrals_per_10k, rereferral_share, cp_per_10k, lac_per_10k, late_share;
  long referrals, cp, lac;
  double pop;
};

static void measure(const struct run *run, csc_date T, struct rates *out) {
  memset(out, 0, sizeof *out);
  int y, m, d;
  date_to_ymd(T, &y, &m, &d);
  for (int i = 0; i < run->o.n_las; i++) out->pop += (double)gen_la_population(&run->o, i, y);

  /* Referrals in (T - 12 months, T], and re-referrals among them. */
  size_t nref;
  struct interval *ref = intervals(run, 1 /* ReferralOpened */, 2 /* ReferralClosed */, &nref);
  qsort(ref, nref, sizeof *ref, cmp_interval);
  csc_date from = date_add_months(T, -12);
  long re = 0;
  for (size_t i = 0; i < nref; i++) {
    if (!(ref[i].from > from && ref[i].from <= T)) continue;
    out->referrals++;
    if (i > 0 && ref[i - 1].la == ref[i].la && ref[i - 1].child == ref[i].child &&
        ref[i - 1].from >= date_add_months(ref[i].from, -12))
      re++;
  }
  free(ref);

  size_t ncp, nlac;
  struct interval *cp = intervals(run, 13 /* CpPlanStarted */, 14 /* CpPlanEnded */, &ncp);
  for (size_t i = 0; i < ncp; i++)
    if (cp[i].from <= T && T < cp[i].to) out->cp++;
  free(cp);
  struct interval *lac = intervals(run, 16 /* PeriodOfCareStarted */, 17 /* PeriodOfCareEnded */, &nlac);
  for (size_t i = 0; i < nlac; i++)
    if (!lac[i].flag && lac[i].from <= T && T < lac[i].to) out->lac++;
  free(lac);

  out->referrals_per_10k = out->referrals / out->pop * 10000.0;
  out->rereferral_share = out->referrals ? (double)re / out->referrals : 0;
  out->cp_per_10k = out->cp / out->pop * 10000.0;
  out->lac_per_10k = out->lac / out->pop * 10000.0;
  out->late_share = run->after_start ? (double)run->late / run->after_start : 0;
}

/* ---- tests -------------------------------------------------------------------------- */

static void test_same_seed_same_bytes(void **state) {
  (void)state;
  struct gen_options o;
  small_options(&o, 7);
  size_t n1, n2, n3;
  uint64_t h1 = run_hash(&o, &n1), h2 = run_hash(&o, &n2);
  assert_true(n1 > 1000);
  assert_int_equal(n1, n2);
  assert_true(h1 == h2);
  small_options(&o, 8);
  uint64_t h3 = run_hash(&o, &n3);
  assert_true(h3 != h1);
}

static void test_passes_same_stream(void **state) {
  (void)state;
  /* Generating in several passes (to bound memory) changes nothing emitted. */
  struct gen_options o;
  small_options(&o, 5);
  size_t n1;
  uint64_t h1 = run_hash(&o, &n1);
  for (int passes = 2; passes <= 7; passes += 5) {
    struct hash_ctx c = {0xcbf29ce484222325ULL, 0, 0};
    assert_int_equal(gen_run_passes(&o, passes, hash_emit, &c), 0);
    assert_int_equal(c.n, n1);
    assert_true(c.h == h1);
  }
  struct hash_ctx c = {0, 0, 0};
  assert_int_equal(gen_run_passes(&o, 0, hash_emit, &c), CSC_EINVAL);
  assert_int_equal(gen_run_passes(&o, GEN_MAX_PASSES + 1, hash_emit, &c), CSC_EINVAL);
}

static void test_la_independent_of_n_las(void **state) {
  (void)state;
  /* LA 0 has the same code and population whatever the number of LAs. */
  struct gen_options a, b;
  small_options(&a, 3);
  small_options(&b, 3);
  b.n_las = 5;
  char ca[16], cb[16];
  int64_t pa, pb;
  gen_la(&a, 0, ca, &pa);
  gen_la(&b, 0, cb, &pb);
  assert_string_equal(ca, "E99000001");
  assert_string_equal(ca, cb);
  assert_true(pa == pb);
  gen_la(&b, 4, cb, &pb);
  assert_string_equal(cb, "E99000005");
  /* Unscaled populations are 40k-120k and differ between LAs. */
  struct gen_options u;
  gen_options_default(&u);
  int64_t p0, p1;
  gen_la(&u, 0, ca, &p0);
  gen_la(&u, 1, cb, &p1);
  assert_true(p0 >= 40000 && p0 <= 120000);
  assert_true(p1 >= 40000 && p1 <= 120000);
  assert_true(p0 != p1);
}

static void test_emit_stops(void **state) {
  (void)state;
  struct gen_options o;
  small_options(&o, 7);
  struct hash_ctx c = {0, 0, 10};
  assert_int_equal(gen_run(&o, hash_emit, &c), 99);
  assert_int_equal(c.n, 10);
  o.n_las = 0;
  assert_int_equal(gen_run(&o, hash_emit, &c), CSC_EINVAL);
  small_options(&o, 7);
  o.years = 0;
  assert_int_equal(gen_run(&o, hash_emit, &c), CSC_EINVAL);
  small_options(&o, 7);
  o.scale = 0;
  assert_int_equal(gen_run(&o, hash_emit, &c), CSC_EINVAL);
}

static int write_emit(void *ctx, const Cscflow__V1__CaseEvent *ev) {
  struct {
    FILE *f;
    size_t n;
    char first[32];
  } *w = ctx;
  if (w->n++ == 0) snprintf(w->first, sizeof w->first, "%s", ev->event_id);
  return ingest_write_delimited(w->f, ev);
}

static void test_delimited_round_trip(void **state) {
  (void)state;
  struct gen_options o;
  small_options(&o, 11);
  o.n_las = 1;
  o.years = 1;
  struct {
    FILE *f;
    size_t n;
    char first[32];
  } w = {tmpfile(), 0, ""};
  assert_non_null(w.f);
  assert_int_equal(gen_run(&o, write_emit, &w), 0);
  long size = ftell(w.f);
  assert_true(size > 0);
  uint8_t *buf = malloc((size_t)size);
  assert_non_null(buf);
  rewind(w.f);
  assert_int_equal(fread(buf, 1, (size_t)size, w.f), (size_t)size);
  fclose(w.f);
  size_t pos = 0, count = 0;
  while (pos < (size_t)size) {
    uint64_t len;
    size_t k = varint_decode(buf + pos, (size_t)size - pos, &len);
    assert_true(k > 0);
    pos += k;
    assert_true(pos + len <= (size_t)size);
    Cscflow__V1__CaseEvent *ev = cscflow__v1__case_event__unpack(NULL, (size_t)len, buf + pos);
    assert_non_null(ev);
    if (count == 0) assert_string_equal(ev->event_id, w.first);
    assert_true(ev->payload_case != CSCFLOW__V1__CASE_EVENT__PAYLOAD__NOT_SET);
    cscflow__v1__case_event__free_unpacked(ev, NULL);
    pos += len;
    count++;
  }
  assert_int_equal(count, w.n);
  free(buf);
}

static void test_population_table(void **state) {
  (void)state;
  struct gen_options o;
  gen_options_default(&o); /* 1 April 2021, 5 years: calendar years 2021..2026 */
  o.n_las = 2;
  FILE *f = tmpfile();
  assert_non_null(f);
  assert_int_equal(gen_write_population(&o, f), 0);
  rewind(f);
  char line[128];
  assert_non_null(fgets(line, sizeof line, f));
  assert_string_equal(line, "la_code,year,population\n");
  int lines = 0;
  while (fgets(line, sizeof line, f)) {
    char code[16];
    int year;
    long long pop;
    assert_int_equal(sscanf(line, "%15[^,],%d,%lld", code, &year, &pop), 3);
    int la = lines / 6;
    char want[16];
    gen_la(&o, la, want, NULL);
    assert_string_equal(code, want);
    assert_int_equal(year, 2021 + lines % 6);
    assert_true(pop == gen_la_population(&o, la, year));
    lines++;
  }
  assert_int_equal(lines, 12);
  fclose(f);
}

static void test_stream_order(void **state) {
  struct run *run = *state;
  assert_true(run->n > 100000);
  assert_int_equal(run->bad_ids, 0);
  assert_true(run->order_ok);
  /* Everything happened before the end of the history and was recorded by
   * then; events before the start are the history of cases open on it. */
  csc_date end = date_add_months(run->o.start, 12 * run->o.years);
  int64_t end_ms = date_london_midnight_ms(end);
  size_t before = 0;
  for (size_t i = 0; i < run->n; i++) {
    assert_true(run->r[i].day < end);
    assert_true(run->r[i].rec_ms < end_ms);
    assert_true(date_london_from_unix_ms(run->r[i].rec_ms) >= run->r[i].day);
    if (run->r[i].day < run->o.start) {
      before++;
      assert_true(date_london_from_unix_ms(run->r[i].rec_ms) == run->r[i].day);
    }
  }
  assert_true(before > 0);
}

static void test_ends_name_starts(void **state) {
  struct run *run = *state;
  check_ends_name_starts(run, 13, 14, 1); /* CP plans */
  check_ends_name_starts(run, 11, 12, 1); /* CIN plans */
  check_ends_name_starts(run, 16, 17, 1); /* periods of care */
  check_ends_name_starts(run, 1, 2, 1);   /* referrals */
  check_ends_name_starts(run, 16, 18, 0); /* placements name their period */
}

static void test_child_details_first(void **state) {
  struct run *run = *state;
  /* Each child's first event in the stream is its ChildDetails, and it has
   * exactly one but for the UASC child's update on its 18th birthday
   * (uasc_ceased_on, issue 16), which comes later. */
  size_t nchild = 0;
  for (size_t i = 0; i < run->n; i++)
    if (run->r[i].child > nchild) nchild = run->r[i].child;
  uint8_t *seen = calloc((nchild + 1) * 3, 1);
  assert_non_null(seen);
  for (size_t i = 0; i < run->n; i++) {
    if (run->r[i].kind == KIND_WORKFORCE) continue; /* no child */
    size_t k = run->r[i].la * (nchild + 1) + run->r[i].child;
    if (run->r[i].kind == 0 && !run->r[i].flag) {
      assert_int_equal(seen[k], 0);
      seen[k] = 1;
    } else {
      assert_int_equal(seen[k], 1);
    }
  }
  free(seen);
}

static void test_no_overlapping_referrals(void **state) {
  struct run *run = *state;
  size_t n;
  struct interval *v = intervals(run, 1, 2, &n);
  qsort(v, n, sizeof *v, cmp_interval);
  for (size_t i = 0; i < n; i++) {
    assert_true(v[i].to >= v[i].from);
    if (i + 1 < n && v[i + 1].la == v[i].la && v[i + 1].child == v[i].child) {
      assert_true(v[i].to != DATE_NEVER);
      assert_true(v[i].to <= v[i + 1].from);
    }
  }
  free(v);
}

static void test_rates(void **state) {
  struct run *run = *state;
  /* A day in the last year of the history. */
  csc_date T = date_add_months(run->o.start, 12 * (run->o.years - 1) + 6);
  struct rates r;
  measure(run, T, &r);
  print_message("events %zu; on %u: referrals %ld (%.0f/10k/yr), re-referrals %.3f, CP %ld (%.1f/10k), "
                "LAC %ld (%.1f/10k), late %.3f\n",
                run->n, date_to_yyyymmdd(T), r.referrals, r.referrals_per_10k, r.rereferral_share, r.cp,
                r.cp_per_10k, r.lac, r.lac_per_10k, r.late_share);
  assert_true(r.referrals_per_10k >= 440 && r.referrals_per_10k <= 640);
  assert_true(r.rereferral_share >= 0.17 && r.rereferral_share <= 0.27);
  assert_true(r.cp_per_10k >= 32 && r.cp_per_10k <= 52);
  assert_true(r.lac_per_10k >= 55 && r.lac_per_10k <= 85);
  assert_true(r.late_share >= 0.03 && r.late_share <= 0.15);
  /* The seeded open cases keep the first day near the steady state. */
  measure(run, run->o.start, &r);
  print_message("on the first day: CP %.1f/10k, LAC %.1f/10k\n", r.cp_per_10k, r.lac_per_10k);
  assert_true(r.cp_per_10k >= 30 && r.cp_per_10k <= 55);
  assert_true(r.lac_per_10k >= 50 && r.lac_per_10k <= 90);
}

static void test_cp_plans_mostly_under_two_years(void **state) {
  struct run *run = *state;
  size_t n;
  struct interval *v = intervals(run, 13, 14, &n);
  long ended = 0, over2 = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i].to == DATE_NEVER || v[i].to < run->o.start) continue;
    ended++;
    if (v[i].to > date_add_months(v[i].from, 24)) over2++;
  }
  free(v);
  assert_true(ended > 1000);
  double share = (double)over2 / ended;
  print_message("CP plans ended in the history: %ld, lasting over 2 years: %.3f\n", ended, share);
  assert_true(share > 0.005 && share < 0.10);
}

/* ---- the workforce and allocations ---------------------------------------------------------- */

/* One worker, post or child of one LA, by number. */
struct staff_index {
  size_t n_workers, n_posts, n_children; /* per LA, largest number + 1 */
};

static void staff_sizes(const struct run *run, struct staff_index *ix) {
  memset(ix, 0, sizeof *ix);
  for (size_t i = 0; i < run->n; i++) {
    const struct rec *r = &run->r[i];
    if (r->child + 1 > ix->n_children) ix->n_children = r->child + 1;
    if (r->kind == KIND_WORKFORCE && is_post_change(r->change) && r->id + 1 > ix->n_posts) ix->n_posts = r->id + 1;
    if ((r->kind == KIND_ALLOCATED || (r->kind == KIND_WORKFORCE && !is_post_change(r->change))) &&
        r->id + 1 > ix->n_workers)
      ix->n_workers = r->id + 1;
  }
}

struct worker {
  csc_date start, end, report; /* report: the latest CASELOAD on or before T */
  uint32_t fte;
  uint8_t started, agency, holding;
};

struct post {
  uint32_t fte;
  uint8_t status; /* WorkforceChange of the latest event on or before T; 0 none */
  uint8_t last;   /* of the latest event of all */
};

struct wf_totals {
  double fte, agency, leavers, absence_days, posts, vacant, holding, employed, allocated;
};

/* A worker's event, in stream order: checks it and adds it up for T. */
static void worker_event(struct worker *w, const struct rec *r, csc_date T, struct wf_totals *t) {
  const csc_date from = date_add_months(T, -12);
  switch (r->change) {
  case CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_STARTED:
    assert_false(w->started); /* one employment per worker */
    w->started = 1;
    w->start = r->day;
    w->end = DATE_NEVER;
    w->fte = r->value;
    w->agency = r->flag & 1;
    w->holding = (r->flag >> 1) & 1;
    assert_true(w->fte >= 50 && w->fte <= 100);
    break;
  case CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_LEFT:
    assert_true(w->started && w->end == DATE_NEVER && r->day > w->start);
    w->end = r->day;
    break;
  case CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_ABSENCE:
    assert_true(w->started && r->day >= w->start);
    assert_true(r->value >= 1 && r->value <= 20);
    if (r->day > from && r->day <= T) t->absence_days += r->value;
    break;
  default: /* CASELOAD */
    assert_true(w->started && r->day >= w->start);
    assert_int_equal((r->flag >> 1) & 1, w->holding);
    if (w->holding) assert_true(r->value >= 10 && r->value <= 25);
    else assert_int_equal(r->value, 0);
    if (r->day <= T) w->report = r->day;
    break;
  }
}

/* A post's event, in stream order: established first, then filled and
 * vacant in turn. */
static void post_event(struct post *p, const struct rec *r, csc_date T) {
  if (p->last == 0) assert_int_equal(r->change, CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_ESTABLISHED);
  else if (r->change == CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_FILLED)
    assert_true(p->last != CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_FILLED);
  else assert_int_equal(r->change, CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_VACANT);
  if (p->last == CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_VACANT)
    assert_int_equal(r->change, CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_FILLED);
  p->last = r->change;
  p->fte = r->value;
  if (r->day <= T) p->status = r->change;
}

/* A child's allocation event, in stream order: a child has at most one
 * allocation open, and a deallocation names its worker. *worker and *since
 * are the child's open allocation (worker 0: none); one closed around T
 * counts in t->allocated (those still open are counted at the end). */
static void allocation_event(uint32_t *worker, csc_date *since, const struct rec *r, csc_date T,
                             struct wf_totals *t) {
  if (!r->flag) {
    assert_int_equal(*worker, 0);
    *worker = r->id;
    *since = r->day;
    return;
  }
  assert_int_equal(*worker, r->id);
  assert_true(r->day >= *since);
  if (*since <= T && T < r->day) t->allocated++;
  *worker = 0;
}

/* The workforce figures of docs/indicators.md on T over all LAs, from the
 * events alone. */
static void workforce_totals(const struct run *run, csc_date T, struct wf_totals *t) {
  memset(t, 0, sizeof *t);
  struct staff_index ix;
  staff_sizes(run, &ix);
  const size_t las = (size_t)run->o.n_las;
  struct worker *w = calloc(las * ix.n_workers + 1, sizeof *w);
  struct post *p = calloc(las * ix.n_posts + 1, sizeof *p);
  uint32_t *alloc = calloc(las * ix.n_children + 1, sizeof *alloc);
  csc_date *since = calloc(las * ix.n_children + 1, sizeof *since);
  assert_true(w && p && alloc && since);
  for (size_t i = 0; i < run->n; i++) {
    const struct rec *r = &run->r[i];
    if (r->kind == KIND_ALLOCATED) {
      assert_true(r->id > 0 && r->child > 0);
      allocation_event(&alloc[r->la * ix.n_children + r->child], &since[r->la * ix.n_children + r->child], r, T, t);
    } else if (r->kind == KIND_WORKFORCE && is_post_change(r->change)) {
      post_event(&p[r->la * ix.n_posts + r->id], r, T);
    } else if (r->kind == KIND_WORKFORCE) {
      struct worker *x = &w[r->la * ix.n_workers + r->id];
      if (r->change != CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_STARTED) assert_true(x->started);
      worker_event(x, r, T, t);
    }
  }
  for (size_t i = 0; i < las * ix.n_children; i++)
    if (alloc[i] && since[i] <= T) t->allocated++;
  for (size_t i = 0; i < las * ix.n_posts; i++) {
    if (!p[i].status) continue;
    t->posts += p[i].fte;
    if (p[i].status != CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_FILLED) t->vacant += p[i].fte;
  }
  const csc_date from = date_add_months(T, -12);
  for (size_t i = 0; i < las * ix.n_workers; i++) {
    const struct worker *x = &w[i];
    if (!x->started) continue;
    if (x->end != DATE_NEVER && x->end > from && x->end <= T) t->leavers += x->fte;
    if (!(x->start <= T && T < x->end)) continue;
    t->employed++;
    t->fte += x->fte;
    if (x->agency) t->agency += x->fte;
    /* Reports are monthly from the start: the one in force is under a month
     * old; except that one worker in four makes no report in their first 3
     * months (their STARTED says whether they hold cases). */
    assert_true(x->report >= date_add_months(T, -1) - 3 ||
                (x->report == 0 && x->start > date_add_months(T, -3) - 3));
    if (x->holding) t->holding++;
  }
  free(w);
  free(p);
  free(alloc);
  free(since);
}

static void test_workforce(void **state) {
  struct run *run = *state;
  size_t staff = 0;
  for (size_t i = 0; i < run->n; i++) staff += run->r[i].kind == KIND_WORKFORCE || run->r[i].kind == KIND_ALLOCATED;
  const double growth = (double)staff / (double)(run->n - staff);
  const csc_date days[] = {run->o.start, date_add_months(run->o.start, 12 * (run->o.years - 1) + 6)};
  for (int k = 0; k < 2; k++) {
    const csc_date T = days[k];
    int y, m, d;
    date_to_ymd(T, &y, &m, &d);
    double pop = 0;
    for (int i = 0; i < run->o.n_las; i++) pop += (double)gen_la_population(&run->o, i, y);
    struct wf_totals t;
    workforce_totals(run, T, &t);
    const double fte_10k = t.fte / 100.0 / pop * 10000.0, vacancy = 100.0 * t.vacant / t.posts,
                 turnover = 100.0 * t.leavers / t.fte, sickness = t.absence_days / (t.fte / 100.0),
                 agency = 100.0 * t.agency / t.fte, holding = t.holding / t.employed,
                 caseload = t.allocated / t.holding;
    print_message("on %u: staff events %.3f of the others; FTE %.0f (%.1f/10k); vacancy %.1f%%, turnover %.1f%%, "
                  "sickness %.1f days/FTE, agency %.1f%%, case-holding %.2f, caseload %.1f\n",
                  date_to_yyyymmdd(T), growth, t.fte / 100.0, fte_10k, vacancy, turnover, sickness, agency, holding,
                  caseload);
    /* Sizes and rates: 16 FTE per 10,000 children, ~3.5% vacant, ~15%
     * turnover, ~10 days' absence per FTE, ~15% agency, ~80% case-holding,
     * caseloads 10-25; the workforce adds under 10% to the events. */
    assert_true(growth > 0.03 && growth < 0.10);
    assert_true(fte_10k >= 13 && fte_10k <= 19);
    assert_true(vacancy >= 1 && vacancy <= 8);
    assert_true(turnover >= 9 && turnover <= 22);
    assert_true(sickness >= 7 && sickness <= 13);
    assert_true(agency >= 9 && agency <= 21);
    assert_true(holding >= 0.7 && holding <= 0.9);
    assert_true(caseload >= 10 && caseload <= 25);
  }
}

/* ---- mess ------------------------------------------------------------------------------ */

/* The history of small_options(7) as generated before mess existed: mess 0
 * must give exactly these bytes. (A deliberate change to the generator
 * changes them too; record the new digest then.) The workforce and the
 * children's allocations changed them: the digest below is that of the
 * history with them. Without them the history is still, byte for byte, the
 * one generated before they existed (NO_STAFF_*, the earlier pinned digest):
 * their random streams leave the children's events untouched. Issue 15
 * changed both deliberately: the current guides' spellings (NEG..
 * categories of abuse, P1.. care leaver activity, B1/B2.. accommodation),
 * the two foster moves before some placements for adoption with the foster
 * carer (children's events, no new draws), the late first caseload reports
 * (staff events), and changes of legal status to and from V3/V4 and
 * returns to care after a return home (gen/gen.c, short_breaks_changes,
 * returns_to_care: streams of their own, so the other children's events
 * are drawn as before and only later period ids move). Issue 16 changed
 * MESS0_* deliberately: reviews, missing and away incidents, category of
 * need changes, previous permanence, UASC ceased updates and C2 orders on
 * the day of a move (new events, "<la>-X<seq>"), and the new fields of
 * referrals, enquiries, CP plans, placements, legal statuses, care leavers,
 * allocations and workers, and missing incidents from short-breaks
 * placements (outside care). They come from streams of their own and are
 * made after the child's other events, so NO_STAFF_* stays as it was: the
 * history without staff events, issue 16's events and its fields (cleared
 * by hash_emit) is byte for byte the earlier one. */
#define MESS0_EVENTS 91468
#define MESS0_DIGEST 0x824ab455f203c58cULL
#define NO_STAFF_EVENTS 78623
#define NO_STAFF_DIGEST 0x1e766bec6e289025ULL

static void test_mess_zero_unchanged(void **state) {
  (void)state;
  struct gen_options o;
  small_options(&o, 7);
  assert_true(o.mess == 0.0);
  size_t n;
  uint64_t h = run_hash(&o, &n);
  print_message("mess 0: %zu events, digest 0x%016llx\n", n, (unsigned long long)h);
  assert_int_equal(n, MESS0_EVENTS);
  assert_true(h == MESS0_DIGEST);
  struct hash_ctx children = {0xcbf29ce484222325ULL, 0, 0, 1};
  assert_int_equal(gen_run(&o, hash_emit, &children), 0);
  print_message("without staff: %zu events, digest 0x%016llx\n", (size_t)children.n,
                (unsigned long long)children.h);
  assert_int_equal(children.n, NO_STAFF_EVENTS);
  assert_true(children.h == NO_STAFF_DIGEST);
  struct hash_ctx c = {0xcbf29ce484222325ULL, 0, 0};
  struct gen_stats st;
  assert_int_equal(gen_run_stats(&o, hash_emit, &c, &st), 0);
  assert_true(c.h == MESS0_DIGEST);
  for (int k = 0; k < GEN_MESS_KINDS; k++) assert_true(st.mess[k] == 0);
}

static void test_mess_deterministic(void **state) {
  (void)state;
  struct gen_options o;
  small_options(&o, 7);
  o.mess = 0.05;
  size_t n1, n2;
  uint64_t h1 = run_hash(&o, &n1), h2 = run_hash(&o, &n2);
  assert_int_equal(n1, n2);
  assert_true(h1 == h2);
  assert_true(h1 != MESS0_DIGEST);
  assert_true(n1 > MESS0_EVENTS);
  /* Every pass makes the same mess. */
  struct hash_ctx c = {0xcbf29ce484222325ULL, 0, 0};
  assert_int_equal(gen_run_passes(&o, 3, hash_emit, &c), 0);
  assert_int_equal(c.n, n1);
  assert_true(c.h == h1);
  /* The rate is 0..0.5. */
  o.mess = 0.5;
  assert_int_equal(gen_options_check(&o), 0);
  const double bad[] = {-0.01, 0.51, 1.0, NAN};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    o.mess = bad[i];
    assert_int_equal(gen_options_check(&o), CSC_EINVAL);
    assert_int_equal(gen_run(&o, hash_emit, &c), CSC_EINVAL);
  }
  assert_string_equal(gen_mess_name(GEN_MESS_BACKDATED), "backdated");
  assert_null(gen_mess_name(GEN_MESS_KINDS));
  assert_null(gen_mess_name(-1));
}

/* A whole history in memory, in the delimited format. */
struct membuf {
  uint8_t *b;
  size_t n, cap;
};

static int mem_emit(void *vctx, const Cscflow__V1__CaseEvent *ev) {
  struct membuf *m = vctx;
  size_t len = cscflow__v1__case_event__get_packed_size(ev);
  if (m->n + len + 10 > m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 1 << 20;
    while (cap < m->n + len + 10) cap *= 2;
    uint8_t *nb = realloc(m->b, cap);
    if (!nb) return CSC_ENOMEM;
    m->b = nb;
    m->cap = cap;
  }
  m->n += varint_encode(len, m->b + m->n);
  cscflow__v1__case_event__pack(ev, m->b + m->n);
  m->n += len;
  return 0;
}

/* The records of a delimited buffer: message offset and length each. */
struct slice {
  size_t off, len;
};

static struct slice *slices(const uint8_t *b, size_t n, size_t *count) {
  size_t cap = 1024, m = 0, pos = 0;
  struct slice *v = malloc(cap * sizeof *v);
  assert_non_null(v);
  while (pos < n) {
    uint64_t len;
    size_t k = varint_decode(b + pos, n - pos, &len);
    assert_true(k > 0 && len <= n - pos - k);
    if (m == cap) {
      cap *= 2;
      v = realloc(v, cap * sizeof *v);
      assert_non_null(v);
    }
    v[m].off = pos + k;
    v[m].len = (size_t)len;
    m++;
    pos += k + (size_t)len;
  }
  *count = m;
  return v;
}

struct idref {
  const char *id;
  size_t i;
};

static int cmp_idref(const void *pa, const void *pb) {
  const struct idref *a = pa, *b = pb;
  int c = strcmp(a->id, b->id);
  return c ? c : (a->i < b->i ? -1 : a->i > b->i);
}

static int find_id(const struct idref *v, size_t n, const char *id) {
  size_t lo = 0, hi = n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (strcmp(v[mid].id, id) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && strcmp(v[lo].id, id) == 0;
}

static int is_bad_code(const char *s) {
  return strcmp(s, "XX") == 0 || strcmp(s, "Z9") == 0 || strcmp(s, "Q1") == 0;
}

static int has_bad_code(const Cscflow__V1__CaseEvent *ev) {
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED: return is_bad_code(ev->referral_opened->source);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED: return is_bad_code(ev->referral_closed->closure_reason);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED: return is_bad_code(ev->cp_plan_started->initial_category);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED: {
    const Cscflow__V1__PeriodOfCareStarted *p = ev->period_of_care_started;
    return is_bad_code(p->legal_status) || is_bad_code(p->category_of_need) ||
           (p->placement && is_bad_code(p->placement->placement_type));
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PLACEMENT_STARTED:
    return ev->placement_started->placement && is_bad_code(ev->placement_started->placement->placement_type);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_ENDED:
    return is_bad_code(ev->period_of_care_ended->reason_ceased);
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_COMPLETED:
    for (size_t i = 0; i < ev->assessment_completed->n_factors; i++)
      if (is_bad_code(ev->assessment_completed->factors[i])) return 1;
    return 0;
  default: return 0;
  }
}

/* A plan the mess added: "CPM...", "CINM...", "EHM...". */
static int is_mess_plan(const Cscflow__V1__CaseEvent *ev) {
  const char *id = NULL;
  if (ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED) id = ev->cp_plan_started->plan_id + 2;
  if (ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED) id = ev->cin_plan_started->plan_id + 3;
  if (ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_STARTED)
    id = ev->early_help_started->episode_id + 2;
  return id && id[0] == 'M';
}

/* An allocation or a workforce event: the generator's staff events. */
static int is_staff(const Cscflow__V1__CaseEvent *ev) {
  return ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE ||
         ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED;
}

static void test_mess_kinds(void **state) {
  (void)state;
  struct gen_options o;
  small_options(&o, 3);
  o.n_las = 1;
  /* The history without mess: the events mess can touch. */
  struct membuf m0 = {0};
  assert_int_equal(gen_run(&o, mem_emit, &m0), 0);
  size_t n0;
  struct slice *s0 = slices(m0.b, m0.n, &n0);
  /* Mess never touches ChildDetails, allocations or workforce events. */
  size_t untouched = 0, staff0 = 0;
  uint64_t staff_sum0 = 0;
  for (size_t i = 0; i < n0; i++) {
    Cscflow__V1__CaseEvent *ev = cscflow__v1__case_event__unpack(NULL, s0[i].len, m0.b + s0[i].off);
    assert_non_null(ev);
    if (ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS) untouched++;
    if (is_staff(ev)) {
      untouched++;
      staff0++;
      staff_sum0 += fnv1a(0xcbf29ce484222325ULL, m0.b + s0[i].off, s0[i].len);
    }
    cscflow__v1__case_event__free_unpacked(ev, NULL);
  }
  free(s0);
  free(m0.b);

  o.mess = 0.05;
  struct membuf mb = {0};
  struct gen_stats st;
  assert_int_equal(gen_run_stats(&o, mem_emit, &mb, &st), 0);
  uint64_t total = 0;
  for (int k = 0; k < GEN_MESS_KINDS; k++) {
    print_message("mess %s: %llu\n", gen_mess_name(k), (unsigned long long)st.mess[k]);
    assert_true(st.mess[k] >= 1);
    total += st.mess[k];
  }
  double share = (double)total / (double)(n0 - untouched);
  print_message("%zu events, %zu mess never touches; %llu made messy: %.4f\n", n0, untouched,
                (unsigned long long)total, share);
  assert_true(share >= 0.04 && share <= 0.06);
  /* Roughly the weights: back-dating the most common, overlaps rare. */
  assert_true(st.mess[GEN_MESS_BACKDATED] > st.mess[GEN_MESS_RETRACTION]);
  assert_true(st.mess[GEN_MESS_OVERLAP] < st.mess[GEN_MESS_DUPLICATE]);

  size_t n;
  struct slice *sl = slices(mb.b, mb.n, &n);
  assert_true(n > n0);
  Cscflow__V1__CaseEvent **evs = calloc(n, sizeof *evs);
  struct idref *ids = malloc(n * sizeof *ids);
  assert_non_null(evs);
  assert_non_null(ids);
  /* Dates of birth by child number, from ChildDetails. */
  size_t max_child = 0;
  for (size_t i = 0; i < n; i++) {
    evs[i] = cscflow__v1__case_event__unpack(NULL, sl[i].len, mb.b + sl[i].off);
    assert_non_null(evs[i]);
    ids[i].id = evs[i]->event_id;
    ids[i].i = i;
    if (evs[i]->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE) continue; /* no child */
    uint32_t c = num_after(evs[i]->child_id, "C");
    assert_true(c != UINT32_MAX);
    if (c > max_child) max_child = c;
  }
  csc_date *dob = calloc(max_child + 1, sizeof *dob);
  uint8_t *has_details = calloc(max_child + 1, 1);
  assert_non_null(dob);
  assert_non_null(has_details);
  for (size_t i = 0; i < n; i++)
    if (evs[i]->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS) {
      uint32_t c = num_after(evs[i]->child_id, "C");
      assert_int_equal(date_from_yyyymmdd(evs[i]->child_details->date_of_birth, &dob[c]), 0);
      has_details[c] = 1;
    }
  qsort(ids, n, sizeof *ids, cmp_idref);

  /* An id seen twice is a duplicate: the same bytes. */
  size_t dups = 0;
  for (size_t i = 1; i < n; i++)
    if (strcmp(ids[i].id, ids[i - 1].id) == 0) {
      const struct slice *a = &sl[ids[i - 1].i], *b = &sl[ids[i].i];
      assert_int_equal(a->len, b->len);
      assert_memory_equal(mb.b + a->off, mb.b + b->off, a->len);
      assert_true(i < 2 || strcmp(ids[i - 2].id, ids[i].id) != 0); /* twice, never three times */
      dups++;
    }

  size_t supersedes = 0, retracts = 0, plans = 0, codes = 0, late_dates = 0, before_birth = 0, new_ids = 0;
  size_t staff = 0;
  uint64_t staff_sum = 0;
  int64_t prev_ms = INT64_MIN;
  for (size_t i = 0; i < n; i++) {
    const Cscflow__V1__CaseEvent *ev = evs[i];
    csc_date day;
    assert_int_equal(date_from_yyyymmdd(ev->occurred_on, &day), 0);
    if (is_staff(ev)) {
      /* The same records as without mess (checked below), never a copy. */
      staff++;
      staff_sum += fnv1a(0xcbf29ce484222325ULL, mb.b + sl[i].off, sl[i].len);
      assert_true(ev->recorded_at_ms >= prev_ms);
      prev_ms = ev->recorded_at_ms;
      if (ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE) continue;
    }
    /* A valid event, of a child whose details are in the stream. */
    assert_true(ev->event_id[0] && ev->la_code[0] && ev->child_id[0] && ev->recorded_at_ms > 0);
    uint32_t c = num_after(ev->child_id, "C");
    assert_true(has_details[c]);
    csc_date rec = date_london_from_unix_ms(ev->recorded_at_ms);
    if (strncmp(ev->event_id, "E99000001-M", 11) == 0) new_ids++;
    if (ev->supersedes_event_id[0]) {
      assert_true(find_id(ids, n, ev->supersedes_event_id));
      assert_true(ev->payload_case != CSCFLOW__V1__CASE_EVENT__PAYLOAD__NOT_SET);
      supersedes++;
    }
    if (ev->retracts_event_id[0]) {
      assert_true(find_id(ids, n, ev->retracts_event_id));
      assert_int_equal(ev->payload_case, CSCFLOW__V1__CASE_EVENT__PAYLOAD__NOT_SET);
      assert_int_equal(day, rec);
      retracts++;
    } else {
      assert_true(ev->payload_case != CSCFLOW__V1__CASE_EVENT__PAYLOAD__NOT_SET);
    }
    if (is_mess_plan(ev)) plans++;
    if (has_bad_code(ev)) codes++;
    if (day > rec) late_dates++;
    if (day < dob[c]) before_birth++;
    /* Arrival is in recorded_at order but for the second copy of a duplicate. */
    struct idref key = {ev->event_id, i};
    struct idref *first = bsearch(&key, ids, n, sizeof *ids, cmp_idref);
    assert_non_null(first);
    int second = first > ids && strcmp((first - 1)->id, ev->event_id) == 0;
    if (!second) {
      assert_true(ev->recorded_at_ms >= prev_ms);
      prev_ms = ev->recorded_at_ms;
    }
  }
  print_message("duplicates %zu, supersessions %zu, retractions %zu, extra plans %zu, unknown codes %zu, "
                "dated after recorded %zu, before birth %zu\n",
                dups, supersedes, retracts, plans, codes, late_dates, before_birth);
  assert_true(dups >= 1 && supersedes >= 1 && retracts >= 1 && plans >= 1 && codes >= 1);
  assert_true(late_dates >= 1 && before_birth >= 1 && new_ids >= 1);
  assert_true(staff0 > 100);
  assert_int_equal(staff, staff0);
  assert_true(staff_sum == staff_sum0);

  for (size_t i = 0; i < n; i++) cscflow__v1__case_event__free_unpacked(evs[i], NULL);
  free(evs);
  free(ids);
  free(dob);
  free(has_details);
  free(sl);
  free(mb.b);
}

/* ---- shuffling each child's events ------------------------------------------------------------ */

/* A child's key: la_code and child_id, or worker id for workforce events. */
static void child_key(const uint8_t *b, const struct slice *s, char *key, size_t len) {
  Cscflow__V1__CaseEvent *ev = cscflow__v1__case_event__unpack(NULL, s->len, b + s->off);
  if (!ev) {
    snprintf(key, len, "?%zu", s->off); /* undecodable: a key of its own */
    return;
  }
  if (!ev->child_id[0] && ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE)
    snprintf(key, len, "%s/W/%s", ev->la_code, ev->workforce->worker_id);
  else snprintf(key, len, "%s/C/%s", ev->la_code, ev->child_id);
  cscflow__v1__case_event__free_unpacked(ev, NULL);
}

struct rec_bytes {
  const uint8_t *p;
  size_t len;
};

static int cmp_rec_bytes(const void *pa, const void *pb) {
  const struct rec_bytes *a = pa, *b = pb;
  if (a->len != b->len) return a->len < b->len ? -1 : 1;
  return memcmp(a->p, b->p, a->len);
}

/* The records of buf, sorted by their bytes: a multiset to compare. */
static struct rec_bytes *sorted_records(const uint8_t *b, const struct slice *s, size_t n) {
  struct rec_bytes *v = malloc((n + 1) * sizeof *v);
  assert_non_null(v);
  for (size_t i = 0; i < n; i++) {
    v[i].p = b + s[i].off;
    v[i].len = s[i].len;
  }
  qsort(v, n, sizeof *v, cmp_rec_bytes);
  return v;
}

/* Appends one event to m, delimited. */
static void add_event(struct membuf *m, const Cscflow__V1__CaseEvent *ev) { assert_int_equal(mem_emit(m, ev), 0); }

static void test_shuffle_children(void **state) {
  (void)state;
  struct gen_options o;
  small_options(&o, 11);
  o.n_las = 1;
  o.years = 1;
  o.scale = 0.1;
  o.mess = 0.05;
  struct membuf in = {0};
  /* An undecodable record first, and workforce events of one worker. */
  const uint8_t junk[] = {3, 0xff, 0xff, 0xff};
  in.b = malloc(sizeof junk);
  assert_non_null(in.b);
  memcpy(in.b, junk, sizeof junk);
  in.n = in.cap = sizeof junk;
  Cscflow__V1__CaseEvent wev = CSCFLOW__V1__CASE_EVENT__INIT;
  Cscflow__V1__WorkforceEvent wf = CSCFLOW__V1__WORKFORCE_EVENT__INIT;
  char wid[32];
  wev.la_code = "E99000001";
  wev.occurred_on = 20210401;
  wev.recorded_at_ms = 1617285600000LL;
  wev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE;
  wev.workforce = &wf;
  wf.worker_id = "W001";
  for (int i = 0; i < 6; i++) {
    snprintf(wid, sizeof wid, "E99000001-W%02d", i);
    wev.event_id = wid;
    wf.caseload = (uint32_t)i;
    add_event(&in, &wev);
  }
  assert_int_equal(gen_run(&o, mem_emit, &in), 0);

  uint8_t *out = NULL, *again = NULL;
  size_t out_len = 0, again_len = 0;
  assert_int_equal(gen_shuffle_children(in.b, in.n, 42, &out, &out_len), 0);
  assert_int_equal(out_len, in.n);
  size_t ni, no;
  struct slice *si = slices(in.b, in.n, &ni), *so = slices(out, out_len, &no);
  assert_int_equal(ni, no);
  assert_true(ni > 5000);

  /* The same records... */
  struct rec_bytes *ri = sorted_records(in.b, si, ni), *ro = sorted_records(out, so, no);
  for (size_t i = 0; i < ni; i++) assert_int_equal(cmp_rec_bytes(&ri[i], &ro[i]), 0);
  free(ri);
  free(ro);
  /* ...each child's at the positions the child's occupied; the undecodable
   * record where it was; and some in another order. */
  assert_int_equal(so[0].off, si[0].off);
  assert_memory_equal(out, in.b, sizeof junk);
  size_t moved = 0, worker_moved = 0;
  for (size_t i = 0; i < ni; i++) {
    char ka[96], kb[96];
    child_key(in.b, &si[i], ka, sizeof ka);
    child_key(out, &so[i], kb, sizeof kb);
    if (i > 0) assert_string_equal(ka, kb); /* position 0: the undecodable record's own key */
    if (si[i].len != so[i].len || memcmp(in.b + si[i].off, out + so[i].off, si[i].len) != 0) {
      moved++;
      if (i >= 1 && i <= 6) worker_moved++;
    }
  }
  print_message("%zu records, %zu at a position of another of their child's\n", ni, moved);
  assert_true(moved > ni / 10);
  assert_true(worker_moved > 0);

  /* Deterministic from the seed. */
  assert_int_equal(gen_shuffle_children(in.b, in.n, 42, &again, &again_len), 0);
  assert_int_equal(again_len, out_len);
  assert_memory_equal(again, out, out_len);
  free(again);
  assert_int_equal(gen_shuffle_children(in.b, in.n, 43, &again, &again_len), 0);
  assert_int_equal(again_len, out_len);
  assert_true(memcmp(again, out, out_len) != 0);
  free(again);

  free(si);
  free(so);
  free(out);
  free(in.b);
}

static void test_shuffle_malformed(void **state) {
  (void)state;
  struct gen_options o;
  small_options(&o, 11);
  o.n_las = 1;
  o.years = 1;
  o.scale = 0.05;
  struct membuf in = {0};
  assert_int_equal(gen_run(&o, mem_emit, &in), 0);
  uint8_t *out = (uint8_t *)&o; /* must not be freed or kept on failure */
  size_t out_len = 123;
  /* Cut short: the last record runs past the end. */
  assert_int_equal(gen_shuffle_children(in.b, in.n - 1, 1, &out, &out_len), CSC_EINVAL);
  assert_null(out);
  /* A length past the end, a varint of 11 bytes. */
  const uint8_t past[] = {0x05, 0x0a, 0x01};
  assert_int_equal(gen_shuffle_children(past, sizeof past, 1, &out, &out_len), CSC_EINVAL);
  const uint8_t long_varint[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
  assert_int_equal(gen_shuffle_children(long_varint, sizeof long_varint, 1, &out, &out_len), CSC_EINVAL);
  assert_int_equal(gen_shuffle_children(NULL, 5, 1, &out, &out_len), CSC_EINVAL);
  assert_int_equal(gen_shuffle_children(in.b, in.n, 1, NULL, &out_len), CSC_EINVAL);
  /* Empty in, empty out. */
  assert_int_equal(gen_shuffle_children(in.b, 0, 1, &out, &out_len), 0);
  assert_int_equal(out_len, 0);
  free(out);
  free(in.b);
}

/* ---- issue 16's events and fields ------------------------------------------------------ */

struct counts16 {
  size_t reviews[3], bad_pn, missing[3], missing_ended, need_changes, prev_perm, uasc_ceased;
  size_t referrals, with_need, nfa_opened, s47, with_target, icpc_not_required;
  size_t cp_starts, recorded_previous, placements, rne[5], legal, legal_l, contacts, touch_ok;
  size_t started, with_traits, allocations, with_team, deallocations, with_reason;
};

static int in_codes(const char *code, const char *const *codes, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(code, codes[i]) == 0) return 1;
  return 0;
}

static void count_rne(struct counts16 *c, const char *rne) {
  static const char *const codes[] = {"P", "T", "U", "B"};
  for (int i = 0; i < 4; i++)
    if (strcmp(rne, codes[i]) == 0) c->rne[i]++;
  if (rne[0] == '\0') c->rne[4]++;
}

static void count_workforce16(struct counts16 *c, const Cscflow__V1__CaseEvent *ev) {
  if (ev->payload_case == CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED) {
    const Cscflow__V1__WorkerAllocated *w = ev->worker_allocated;
    c->allocations++;
    c->with_team += w->team_id[0] == 'T';
    c->deallocations += w->deallocated;
    c->with_reason += w->deallocated && w->end_reason[0] != '\0';
  } else if (ev->workforce->change == CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_STARTED) {
    c->started++;
    c->with_traits += strlen(ev->workforce->ethnicity) == 4 && ev->workforce->seniority >= 1 &&
                      ev->workforce->seniority <= 3 && ev->workforce->team_id[0] == 'T';
  }
}

static int count16_emit(void *vctx, const Cscflow__V1__CaseEvent *ev) {
  static const char *const pn[] = {"PN0", "PN1", "PN2", "PN3", "PN4", "PN5", "PN6", "PN7"};
  static const char *const touch[] = {"NO", "DIED", "REFU", "NREQ", "RHOM"};
  struct counts16 *c = vctx;
  switch (ev->payload_case) {
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REVIEW_HELD:
    c->reviews[ev->review_held->kind % 3]++;
    c->bad_pn += ev->review_held->kind == CSCFLOW__V1__REVIEW_KIND__REVIEW_KIND_LAC &&
                 !in_codes(ev->review_held->participation_code, pn, 8);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_MISSING_STARTED: c->missing[ev->missing_started->kind % 3]++; break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_MISSING_ENDED: c->missing_ended++; break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CATEGORY_OF_NEED_CHANGED: c->need_changes++; break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PREVIOUS_PERMANENCE: c->prev_perm++; break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS: c->uasc_ceased += ev->child_details->uasc_ceased_on != 0; break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED:
    c->referrals++;
    c->with_need += strlen(ev->referral_opened->primary_need) == 2 && ev->referral_opened->primary_need[0] == 'N';
    c->nfa_opened += ev->referral_opened->no_further_action;
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_STARTED: {
    csc_date d, t;
    c->s47++;
    c->with_target += ev->section47_started->icpc_target_date != 0 &&
                      date_from_yyyymmdd(ev->occurred_on, &d) == 0 &&
                      date_from_yyyymmdd(ev->section47_started->icpc_target_date, &t) == 0 && t - d >= 19 &&
                      t - d <= 21; /* 15 working days: 3 weeks */
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_COMPLETED:
    c->icpc_not_required += ev->section47_completed->icpc_not_required;
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED:
    c->cp_starts++;
    c->recorded_previous += ev->cp_plan_started->previous_cp_plans_recorded;
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_PLACEMENT_STARTED:
    c->placements++;
    count_rne(c, ev->placement_started->reason_for_new_episode);
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_LEGAL_STATUS_CHANGED:
    c->legal++;
    c->legal_l += strcmp(ev->legal_status_changed->reason_for_new_episode, "L") == 0;
    break;
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_CARE_LEAVER_CONTACT: {
    const Cscflow__V1__CareLeaverContact *l = ev->care_leaver_contact;
    c->contacts++;
    c->touch_ok += l->in_touch ? strcmp(l->in_touch_code, "YES") == 0 : in_codes(l->in_touch_code, touch, 5);
    break;
  }
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED:
  case CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE: count_workforce16(c, ev); break;
  default: break;
  }
  return 0;
}

/* Issue 16: every new event type and field is emitted, at about its rate
 * (gen.h), and its codes are the guides'. */
static void test_issue16(void **state) {
  (void)state;
  struct gen_options o;
  small_options(&o, 3);
  struct counts16 c;
  memset(&c, 0, sizeof c);
  assert_int_equal(gen_run(&o, count16_emit, &c), 0);
  print_message("issue 16: reviews LAC %zu CP %zu; missing %zu away %zu ended %zu; need changes %zu, "
                "previous permanence %zu, UASC ceased %zu; RNE P %zu T %zu U %zu B %zu none %zu\n",
                c.reviews[1], c.reviews[2], c.missing[1], c.missing[2], c.missing_ended, c.need_changes,
                c.prev_perm, c.uasc_ceased, c.rne[0], c.rne[1], c.rne[2], c.rne[3], c.rne[4]);
  assert_true(c.reviews[1] > 0 && c.reviews[2] > 0 && c.reviews[0] == 0 && c.bad_pn == 0);
  assert_true(c.missing[1] > 0 && c.missing[2] > 0 && c.missing[0] == 0);
  assert_true(c.missing_ended > (c.missing[1] + c.missing[2]) * 8 / 10);
  assert_true(c.need_changes > 0 && c.prev_perm > 0);
  assert_true(c.with_need == c.referrals && c.nfa_opened > 0);
  assert_true(c.with_target > c.s47 * 9 / 10 && c.icpc_not_required > 0);
  assert_true(c.recorded_previous > c.cp_starts * 8 / 10);
  assert_true(c.rne[0] > c.placements / 2 && c.rne[1] > 0 && c.rne[4] == 0);
  assert_true(c.legal_l > 0 && c.legal_l < c.legal);
  assert_true(c.touch_ok == c.contacts && c.contacts > 0);
  assert_true(c.with_traits == c.started && c.started > 0);
  assert_true(c.with_team == c.allocations && c.with_reason == c.deallocations && c.deallocations > 0);
}

int main(void) {
  const struct CMUnitTest unit[] = {
      cmocka_unit_test(test_same_seed_same_bytes),
      cmocka_unit_test(test_passes_same_stream),
      cmocka_unit_test(test_la_independent_of_n_las),
      cmocka_unit_test(test_emit_stops),
      cmocka_unit_test(test_delimited_round_trip),
      cmocka_unit_test(test_population_table),
      cmocka_unit_test(test_mess_zero_unchanged),
      cmocka_unit_test(test_mess_deterministic),
      cmocka_unit_test(test_mess_kinds),
      cmocka_unit_test(test_shuffle_children),
      cmocka_unit_test(test_shuffle_malformed),
      cmocka_unit_test(test_issue16),
  };
  const struct CMUnitTest full[] = {
      cmocka_unit_test(test_stream_order),
      cmocka_unit_test(test_ends_name_starts),
      cmocka_unit_test(test_child_details_first),
      cmocka_unit_test(test_no_overlapping_referrals),
      cmocka_unit_test(test_rates),
      cmocka_unit_test(test_cp_plans_mostly_under_two_years),
      cmocka_unit_test(test_workforce),
  };
  int failed = cmocka_run_group_tests_name("gen", unit, NULL, NULL);
  failed += cmocka_run_group_tests_name("gen_full", full, setup_full, teardown_full);
  return failed;
}
