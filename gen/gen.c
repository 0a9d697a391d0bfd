/*
 * gen.c — synthetic children's social care histories (see gen.h).
 *
 * How it works. For each LA, first referrals of children arrive day by day
 * (Poisson, fewer at weekends) from ten years before the history starts, so
 * that cases open on the first day have realistic ages. Each child's whole
 * life with children's services is then generated at once as a chain of CIN
 * episodes: an episode runs from referral to closure through assessment,
 * Section 47, conference, CP / CIN plans and periods of care; after it closes
 * the child may be re-referred, quickly (within 12 months of the referral)
 * or years later. Episodes that closed before the history starts are dropped
 * whole; the rest are kept whole, including events before the start.
 *
 * Each event is a 40-byte record; a child's events are ordered by date,
 * given a recorded_at time (afternoon, UK time, sometimes days late, never
 * before the event they depend on) and appended to one array, which is
 * sorted by recorded_at and turned into protobuf messages one at a time.
 *
 * Mess (gen_options.mess) is added to each child's events once they have
 * their recorded_at and event sequence, from a random stream of its own: it
 * changes some of the records in place (recorded_at, date, a code) and adds
 * others (copies, amendments, retractions, overlapping plans) whose ids are
 * derived from the event they stem from, so no counter or link needs to be
 * kept for them.
 *
 * The workforce (posts and their holders) of each LA is generated before
 * its children, each post and worker from a random stream of its own; each
 * child's allocations to its workers are made once its events have their
 * recorded_at and sequence, before the mess, from another stream, with ids
 * derived from the referral or closure they follow (see "workforce").
 *
 * Floating point: no libm (the library links only cscbase), so the natural
 * logarithm needed for exponential variates is computed here.
 */
#include "gen/gen.h"

#include <stdlib.h>
#include <string.h>

/* ---- model parameters ------------------------------------------------------ */

#define WARMUP_YEARS 10
#define POP_MIN 40000
#define POP_MAX 120000
/* First referrals (new children) per 10,000 children a year; re-referrals
 * come on top (see Q_QUICK, Q_LATER). Calibrated so that all referrals come
 * to ~540 per 10,000. */
#define NEW_CHILD_RATE 328.0
/* Probability that a child is referred again within 12 months of a referral,
 * when the episode closed early enough for that to be possible. */
#define Q_QUICK 0.27
/* Probability that a child is referred again later than that. */
#define Q_LATER 0.20
#define P_NFA_AT_REFERRAL 0.35
#define P_S47_GIVEN_ASSESSED 0.40
#define CP_MEAN_DAYS 300.0
#define CIN_MEAN_DAYS 220.0
#define LAC_MEAN_DAYS 1000.0
#define EH_MEAN_DAYS 120.0
#define MOVES_PER_YEAR 0.7
#define P_LATE 0.062
#define P_UASC 0.008

/* The social work workforce (see "workforce" below). FTE per 10,000
 * children: England has ~28 (~33,000 FTE children and family social workers
 * for ~12M children) with a mean caseload of ~16-17; the generator has
 * fewer children in need and allocates only the referrals that lead to a
 * plan, so 16 gives a mean caseload near 16. */
#define WF_FTE_PER_10K 16.0
#define WF_P_PART_TIME 0.2     /* a post of 0.5-0.9 FTE, else 1.0 */
#define WF_TENURE_DAYS 2435.0  /* mean; turnover ~15% a year */
#define WF_VACANCY_DAYS 90.0   /* mean time a post stays vacant: ~3.5% vacant */
#define WF_P_AGENCY 0.15
#define WF_P_CASE_HOLDING 0.8
#define WF_LATE_REPORTER 4
#define WF_LATE_MONTHS 3
/* Absences of 6 days on average, never two at once: ~10 days per FTE a year. */
#define WF_ABSENCES_PER_FTE_YEAR 1.72
#define WF_MAX_TENURE_YEARS 20
#define WF_PICK_TRIES 32

/* gen_run keeps about this many events in memory at once (40 bytes each). */
#define GEN_PASS_EVENTS 8000000.0
#define HOUR_MS 3600000LL
#define DAY_MS (24 * HOUR_MS)

/* ---- random numbers: xoshiro256**, seeded by splitmix64 ---------------------- */

struct rng {
  uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* A stream for (seed, a, b): independent streams per LA, per child, ... */
static void rng_init(struct rng *r, uint64_t seed, uint64_t a, uint64_t b) {
  uint64_t x = seed;
  uint64_t h = splitmix64(&x);
  x = h ^ ((a + 1) * 0xD1B54A32D192ED03ULL);
  h = splitmix64(&x);
  x = h ^ ((b + 1) * 0x8CB92BA72F3D8DD7ULL);
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(struct rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

/* Uniform in [0, 1). */
static double rng_unif(struct rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

/* Uniform integer in [lo, hi]; lo when hi < lo. */
static int rng_int(struct rng *r, int lo, int hi) {
  if (hi <= lo) return lo;
  return lo + (int)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

static int rng_chance(struct rng *r, double p) { return rng_unif(r) < p; }

/* Natural logarithm of x > 0 (finite, normal). */
static double gen_log(double x) {
  uint64_t bits;
  memcpy(&bits, &x, sizeof bits);
  int e = (int)((bits >> 52) & 0x7ff) - 1023;
  bits = (bits & 0x000FFFFFFFFFFFFFULL) | 0x3FF0000000000000ULL;
  double m;
  memcpy(&m, &bits, sizeof m); /* [1, 2) */
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e++;
  }
  double z = (m - 1.0) / (m + 1.0), z2 = z * z, term = z, sum = 0.0;
  for (int k = 1; k < 25; k += 2) {
    sum += term / k;
    term *= z2;
  }
  return 2.0 * sum + e * 0.69314718055994530942;
}

static double rng_exp(struct rng *r, double mean) { return -mean * gen_log(1.0 - rng_unif(r)); }

/* Gamma with shape 2: most values near the mean, a long right tail. */
static double rng_gamma2(struct rng *r, double mean) { return rng_exp(r, mean / 2) + rng_exp(r, mean / 2); }

static int rng_poisson(struct rng *r, double lambda) {
  int n = 0;
  double t = rng_exp(r, 1.0);
  while (t < lambda) {
    n++;
    t += rng_exp(r, 1.0);
  }
  return n;
}

/* ---- code tables -------------------------------------------------------------- */

struct wcode {
  const char *code;
  unsigned w;
};

static int pick(struct rng *r, const struct wcode *t, int n) {
  unsigned total = 0;
  for (int i = 0; i < n; i++) total += t[i].w;
  unsigned x = (unsigned)(rng_next(r) % total);
  for (int i = 0; i < n; i++) {
    if (x < t[i].w) return i;
    x -= t[i].w;
  }
  return n - 1;
}

/* An index into weights w[0..n-1], drawn in proportion to them. */
static int pick_w(struct rng *r, const unsigned *w, int n) {
  unsigned total = 0;
  for (int i = 0; i < n; i++) total += w[i];
  unsigned x = (unsigned)(rng_next(r) % total);
  for (int i = 0; i < n; i++) {
    if (x < w[i]) return i;
    x -= w[i];
  }
  return n - 1;
}

#define N_OF(t) ((int)(sizeof(t) / sizeof((t)[0])))
#define PICK(r, t) pick((r), (t), N_OF(t))

/* CIN census referral sources, weighted (per 1,000). */
static const struct wcode SOURCES[] = {
    {"1A", 60}, {"1B", 10}, {"1C", 5},  {"1D", 15}, {"2A", 195}, {"2B", 10}, {"3A", 20}, {"3B", 20},
    {"3C", 5},  {"3D", 25}, {"3E", 40}, {"3F", 40}, {"4", 20},   {"5A", 50}, {"5B", 30}, {"5C", 20},
    {"5D", 40}, {"6", 300}, {"7", 20},  {"8", 30},  {"9", 5},    {"10", 40},
};
#define SRC_OTHER 19 /* "8" */

/* CIN census closure reasons. */
static const char *const CLOSURE[] = {"RC1", "RC2", "RC3", "RC4", "RC5", "RC6", "RC7", "RC8", "RC9"};
enum { RC1, RC2, RC3, RC4, RC5, RC6, RC7, RC8, RC9 };

/* CIN census assessment factors and the chance each is recorded. */
static const struct {
  const char *code;
  double p;
} FACTORS[] = {
    {"1A", .01},  {"1B", .08},  {"1C", .01},  {"2A", .02},   {"2B", .12},  {"2C", .01},  {"3A", .14},  {"3B", .20},
    {"3C", .05},  {"4A", .12},  {"4B", .22},  {"4C", .02},   {"5A", .05},  {"5B", .03},  {"6A", .03},  {"6B", .02},
    {"7A", .06},  {"8B", .02},  {"8F", .003}, {"9A", .02},   {"10A", .03}, {"11A", .04}, {"12A", .03}, {"13A", .005},
    {"14A", .002}, {"15A", .003}, {"16A", 0}, {"17A", .10},  {"18B", .14}, {"19B", .08}, {"20", .03},  {"21", .10},
};
#define FACTOR_UASC 26
#define FACTOR_OTHER 31

/* Categories of abuse as the CIN census guide spells them (cscflow
 * publishes them as N E P S M: state/codes.c code_spelling). */
static const struct wcode CATEGORIES[] = {
    {"NEG", 50}, {"EMO", 35}, {"PHY", 8}, {"SAB", 4}, {"MUL", 3}};

static const struct wcode ETHNICITY[] = {
    {"WBRI", 640}, {"WIRI", 3},  {"WIRT", 5},  {"WOTH", 60}, {"WROM", 8},  {"MWBC", 30}, {"MWBA", 10},
    {"MWAS", 10},  {"MOTH", 30}, {"AIND", 15}, {"APKN", 30}, {"ABAN", 10}, {"AOTH", 10}, {"BCRB", 12},
    {"BAFR", 40},  {"BOTH", 10}, {"CHNE", 3},  {"OOTH", 20}, {"REFU", 4},  {"NOBT", 20},
};
static const struct wcode ETHNICITY_UASC[] = {{"AOTH", 30}, {"BAFR", 35}, {"OOTH", 30}, {"WOTH", 5}};

static const char *const DISABILITIES[] = {"MOB", "HAND", "PC",  "INC", "COMM", "LD",
                                           "HEAR", "VIS", "BEH", "CON", "AUT", "DDA"};

/* SSDA903 legal statuses. */
static const char *const LEGAL[] = {"C1", "C2", "D1", "E1", "J1", "J2", "J3", "L1", "L2", "L3", "V2", "V3", "V4"};
enum { LS_C1, LS_C2, LS_D1, LS_E1, LS_J1, LS_J2, LS_J3, LS_L1, LS_L2, LS_L3, LS_V2, LS_V3, LS_V4 };
static const struct wcode LEGAL_START[] = {{"C1", 25}, {"C2", 20}, {"E1", 1}, {"J1", 3}, {"J2", 1},
                                           {"L1", 4},  {"L2", 4},  {"V2", 42}};
static const int LEGAL_START_IDX[] = {LS_C1, LS_C2, LS_E1, LS_J1, LS_J2, LS_L1, LS_L2, LS_V2};

/* SSDA903 categories of need N1..N8 (index + 1). */
static const struct wcode NEED[] = {{"N1", 620}, {"N2", 30}, {"N3", 30}, {"N4", 80},
                                    {"N5", 160}, {"N6", 20}, {"N7", 5},  {"N8", 55}};

static const char *const PLACEMENT_TYPES[] = {"U1", "U2", "U3", "U4", "U5", "U6", "K1", "K2", "R1", "S1",
                                              "P1", "P2", "H5", "Z1", "A3", "A4", "A5", "A6"};
enum { PT_U1, PT_U2, PT_U3, PT_U4, PT_U5, PT_U6, PT_K1, PT_K2, PT_R1, PT_S1,
       PT_P1, PT_P2, PT_H5, PT_Z1, PT_A3, PT_A4, PT_A5, PT_A6 };
/* Placement type mixes by age group (weights over PLACEMENT_TYPES order). */
static const unsigned PT_YOUNG[] = {100, 60, 60, 400, 60, 160, 0, 20, 20, 0, 80, 0, 0, 10, 0, 0, 0, 0};
static const unsigned PT_MID[] = {80, 50, 50, 330, 50, 120, 5, 140, 20, 10, 60, 0, 30, 10, 0, 0, 0, 0};
static const unsigned PT_OLD[] = {40, 30, 30, 200, 30, 70, 5, 150, 10, 10, 40, 80, 250, 10, 0, 0, 0, 0};
static const unsigned PT_UASC[] = {20, 20, 20, 180, 20, 100, 0, 150, 0, 0, 0, 50, 400, 10, 0, 0, 0, 0};
static const unsigned PT_BREAK[] = {0, 0, 0, 300, 0, 100, 0, 400, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0};

static const char *const PROVIDERS[] = {"PR0", "PR1", "PR2", "PR3", "PR4", "PR5"};

static const struct wcode PLACEMENT_CHANGE[] = {
    {"CARPL", 30}, {"CREQB", 12}, {"CREQO", 8}, {"CHILD", 8}, {"LAREQ", 10}, {"PLACE", 10},
    {"STAND", 4},  {"ALLEG", 2},  {"CLOSE", 3}, {"APPRR", 1}, {"CUSTOD", 2}, {"OTHER", 10},
};

/* Postcode areas the synthetic LAs (and their neighbours) are given. */
static const char *const AREAS[] = {"LS", "BD", "HX", "WF", "HD", "S",  "DN", "M",  "OL", "BL", "WN", "L",
                                    "CH", "B",  "WS", "WV", "CV", "LE", "NG", "DE", "NE", "SR", "DH", "TS",
                                    "YO", "HU", "BS", "BA", "GL", "PL", "EX", "TQ", "SO", "PO", "BN", "CT",
                                    "ME", "TN", "RH", "GU", "RG", "OX", "MK", "LU", "SG", "CM", "CO", "IP",
                                    "NR", "PE", "CB", "LN", "ST", "TF", "SY", "HR", "WR", "NN", "CA", "LA"};

/* SSDA903 reasons a period of care ceased. */
static const char *const CEASED[] = {"E11", "E12", "E13", "E14", "E15", "E16", "E17", "E2",  "E3",  "E41", "E43",
                                     "E44", "E45", "E46", "E47", "E48", "E4A", "E4B", "E5",  "E6",  "E7",  "E8",
                                     "E9"};
enum { EC_E11, EC_E12, EC_E13, EC_E14, EC_E15, EC_E16, EC_E17, EC_E2, EC_E3, EC_E41, EC_E43, EC_E44,
       EC_E45, EC_E46, EC_E47, EC_E48, EC_E4A, EC_E4B, EC_E5, EC_E6, EC_E7, EC_E8, EC_E9, EC_N };
/* Weights over CEASED by age at entry. */
static const unsigned CEASED_UNDER5[EC_N] = {60, 220, 100, 0, 0, 0, 0, 0, 3, 80, 80, 70, 5, 5, 3, 3,
                                             250, 40, 0, 0, 0, 80, 0};
static const unsigned CEASED_OLDER[EC_N] = {3, 10, 160, 15, 10, 5, 0, 0, 2, 80, 40, 40, 3, 3, 2, 2,
                                            340, 60, 0, 10, 20, 180, 30};
static const unsigned CEASED_AT18[EC_N] = {0, 0, 0, 0, 0, 0, 250, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                           0, 0, 60, 0, 330, 360, 0};

static const char *const EH_END[] = {"COMPLETED", "STEPPED_UP", "DISENGAGED", "MOVED"};

/* SSDA903 care leaver activity as the current guide spells it (F full
 * time, P part time; reference/code-lists.csv): the first four education
 * (group 1), the next four training or employment (group 2), G NEET
 * (group 3). leaver_activity_code writes F3/P3 for the last before the
 * collection year ending 31 March 2022, when F4 P4 F5 P5 came in. */
static const struct wcode LEAVER_ACTIVITY[] = {{"F1", 7},  {"P1", 2},  {"F2", 1},  {"P2", 1},
                                               {"F4", 10}, {"P4", 4},  {"F5", 12}, {"P5", 6},
                                               {"G4", 14}, {"G5", 30}, {"G6", 10}};
/* SSDA903 accommodation: a letter, then 1 suitable or 2 not suitable. */
static const struct wcode LEAVER_ACCOM[] = {{"B", 8},  {"D", 12}, {"E", 10}, {"K", 6}, {"R", 4},  {"S", 1},
                                            {"T", 4},  {"U", 35}, {"V", 2},  {"W", 1}, {"X", 2},  {"Y", 5},
                                            {"Z", 10}};

static const char *leaver_activity_code(int act, csc_date on) {
  int y, m, d;
  date_to_ymd(on, &y, &m, &d);
  const int collection_year = m >= 4 ? y + 1 : y;
  if (collection_year < 2022 && act >= 4 && act <= 7)
    return LEAVER_ACTIVITY[act].code[0] == 'F' ? "F3" : "P3";
  return LEAVER_ACTIVITY[act].code;
}

static const char *const SOURCE_SYSTEMS[] = {"liquidlogic", "mosaic", "eclipse", "paris", "azeus"};

/* ---- compact event records ------------------------------------------------------- */

enum kind {
  K_CHILD, K_REF_OPEN, K_REF_CLOSE, K_EH_START, K_EH_END, K_ASS_START, K_ASS_DONE, K_STRAT, K_S47_START,
  K_S47_DONE, K_ICPC, K_CIN_START, K_CIN_END, K_CP_START, K_CP_END, K_SEEN, K_POC_START, K_POC_END,
  K_PLACEMENT, K_LEGAL, K_ADOPT, K_LEAVER, K_SDQ, K_COURT, K_PERM, K_ALLOC, K_WF,
  /* Issue 16's events, made after the child's other events (see "issue 16") */
  K_REVIEW, K_MISS_START, K_MISS_END, K_NEED, K_PREV_PERM, K_UASC_CEASED, K_LEGAL16
};

enum { PLAN_CP = 1, PLAN_CIN = 2, PLAN_LAC = 3 };

/*
 * One event, 40 bytes. a and b hold the payload, packed per kind:
 *   K_CHILD      a = date of birth (csc_date), b = sex | eth << 2 | uasc << 7 | disabilities << 8
 *   K_REF_OPEN   a = source;  K_REF_CLOSE a = closure reason, b = NFA
 *   K_EH_END     a = reason;  K_ASS_DONE a = factor bit mask, b = outcome
 *   K_STRAT / K_ICPC a = agreed; K_S47_DONE a = outcome
 *   K_CP_START / K_CP_END a = category;  K_SEEN a = seen_by | alone << 2 | plan kind << 4
 *   K_POC_START  a = placement, b = legal | need << 5 | uasc << 9 | distance << 16
 *   K_PLACEMENT  a = placement, b = change reason << 10 | distance << 16
 *   K_POC_END    a = reason ceased; K_LEGAL a = legal status
 *   K_ADOPT      a = stage, b = early permanence | with foster carer << 1
 *   K_LEAVER     a = in touch | activity << 1 | accommodation << 6 | suitable << 11 | activity group << 12
 *   K_SDQ / K_COURT / K_PERM a = score / kind / kind
 *   K_ALLOC      a = worker number, b = deallocated; seq is that of the
 *                referral (allocation) or closure (deallocation) it follows
 *   K_WF         a = WorkforceChange, obj = worker number, ref = post number,
 *                b = fte x 100 | agency << 7 | case holding << 8 | days or caseload << 9;
 *                seq counts the LA's workforce events; child 0; STARTED's
 *                b >> 9 = ethnicity | seniority << 5 | team << 7 (issue 16)
 * Issue 16's fields on the events above, set after the child's events are
 * made (see "issue 16"), in bits the kinds leave free:
 *   K_REF_OPEN   b = primary need + 1 | ReferralNFA << 4
 *   K_S47_START  b = ICPC target recorded;  K_S47_DONE b = ICPC not required
 *   K_CP_START   b = previous CP plans | recorded << 8
 *   K_PLACEMENT  b & 7 = RNE (RNE_*);  K_LEGAL b = RNE
 *   K_LEAVER     b = IN_TOUCH code + 1 (TOUCH_CODES)
 *   K_ALLOC      b = deallocated | SW_REASON + 1 << 1 | team << 8
 * and issue 16's events (ids "<la>-X" + a 9-digit sequence of the LA's own):
 *   K_REVIEW     obj = plan number, a = ReviewKind | participation << 2
 *   K_MISS_START / K_MISS_END obj = period number, ref = incident number,
 *                a = MissingKind
 *   K_NEED       obj = period number, a = need
 *   K_PREV_PERM  a = PREV_PERM, b = DATE_PERM (csc_date), ref = LA_PERM number
 *   K_UASC_CEASED a and b as K_CHILD's: ChildDetails again with uasc_ceased_on
 *   K_LEGAL16    as K_LEGAL: a change to C2 on the day of a placement move
 * placement = type | provider << 6 | area << 9 | district << 15 | distance known << 21
 * mess is the record's part in the mess (MR_*, 0 for none); flags, unused but
 * by K_CHILD, then holds that part's detail.
 */
struct gev {
  int64_t rec_ms;
  int32_t day;
  uint32_t seq;
  uint32_t child;
  uint32_t ref;
  uint32_t obj;
  uint32_t a, b;
  uint8_t la, kind, flags, mess;
};

struct gev_vec {
  struct gev *v;
  size_t n, cap;
};

static int vec_push(struct gev_vec *vec, const struct gev *e) {
  if (vec->n == vec->cap) {
    size_t cap = vec->cap ? vec->cap * 2 : 1 << 16;
    struct gev *nv = realloc(vec->v, cap * sizeof *nv);
    if (!nv) return CSC_ENOMEM;
    vec->v = nv;
    vec->cap = cap;
  }
  vec->v[vec->n++] = *e;
  return 0;
}

/* An event of the child being generated, before it is kept or dropped. */
struct tev {
  struct gev e;
  int parent;  /* index of the event it depends on (recorded after it), -1 for none */
  int episode; /* index of its CIN episode, -1 for child details */
};

struct order {
  int32_t day;
  int idx;
  int mess; /* the kind of mess to apply to the event (GEN_MESS_*), -1 for none */
};

#define MAX_EPISODES 64

/* ---- per-LA generation ------------------------------------------------------------ */

struct roster;

struct lagen {
  const struct gen_options *o;
  int la;
  int area;      /* home postcode area */
  csc_date start, end, s0;
  int64_t end_ms;
  int64_t lo_ms, hi_ms; /* this pass keeps events recorded in [lo_ms, hi_ms) */
  struct gev_vec *out;
  /* per-LA id counters */
  uint32_t n_ref, n_cp, n_cin, n_poc, n_eh, n_children, n_seq;
  /* the child being generated */
  struct rng r;
  csc_date dob, adult;
  int disabled, uasc;
  struct tev *ev;
  size_t n, cap;
  struct order *ord;
  size_t ord_cap;
  csc_date ep_end[MAX_EPISODES]; /* latest date of each episode (closure, early help, contacts) */
  int n_ep;
  int last_close; /* index of the latest ReferralClosed, 0 (child details) before any */
  struct gen_stats *stats; /* mess counted here; NULL but in the first pass */
  int oom;
  struct roster *roster; /* the LA's social workers, to allocate children to */
  uint32_t n_wseq;       /* workforce events recorded so far */
  uint32_t n_xseq;       /* issue 16's events so far */
  struct gev_vec extra;  /* the child's issue 16 events */
};

static int add(struct lagen *g, int kind, csc_date day, int parent, uint32_t ref, uint32_t obj, uint32_t a,
               uint32_t b, uint8_t flags) {
  if (g->n == g->cap) {
    size_t cap = g->cap ? g->cap * 2 : 256;
    struct tev *nv = realloc(g->ev, cap * sizeof *nv);
    if (!nv) {
      g->oom = 1;
      return parent;
    }
    g->ev = nv;
    g->cap = cap;
  }
  struct tev *t = &g->ev[g->n];
  memset(t, 0, sizeof *t);
  t->e.day = day;
  t->e.ref = ref;
  t->e.obj = obj;
  t->e.a = a;
  t->e.b = b;
  t->e.kind = (uint8_t)kind;
  t->e.flags = flags;
  t->e.la = (uint8_t)g->la;
  t->parent = parent;
  t->episode = g->n_ep - 1;
  if (g->n_ep > 0 && day > g->ep_end[g->n_ep - 1]) g->ep_end[g->n_ep - 1] = day;
  return (int)g->n++;
}

static int weekday(csc_date d) {
  int w = (d + 3) % 7; /* 1970-01-01 was a Thursday; 0 = Monday */
  return w < 0 ? w + 7 : w;
}

/* The date n working days (Monday-Friday) after d. */
static csc_date wd_add(csc_date d, int n) {
  while (n > 0) {
    d++;
    if (weekday(d) < 5) n--;
  }
  return d;
}

static csc_date min_date(csc_date a, csc_date b) { return a < b ? a : b; }
static csc_date max_date(csc_date a, csc_date b) { return a > b ? a : b; }

static int age_years(const struct lagen *g, csc_date d) {
  int y0, m0, d0, y, m, dd;
  date_to_ymd(g->dob, &y0, &m0, &d0);
  date_to_ymd(d, &y, &m, &dd);
  int age = y - y0;
  if (m < m0 || (m == m0 && dd < d0)) age--;
  return age;
}

/* Working days from assessment start to completion: ~85% within 45. */
static int assessment_wd(struct rng *r) {
  return rng_chance(r, 0.85) ? rng_int(r, 5, 45) : rng_int(r, 46, 70);
}

static uint32_t draw_factors(struct lagen *g) {
  uint32_t mask = 0;
  for (int i = 0; i < N_OF(FACTORS); i++)
    if (rng_chance(&g->r, FACTORS[i].p)) mask |= 1u << i;
  if (g->uasc) mask |= 1u << FACTOR_UASC;
  if (!mask && rng_chance(&g->r, 0.6)) mask |= 1u << FACTOR_OTHER;
  return mask;
}

/* Visits (ChildSeen) to a plan open over [s, e): interval in working days, or
 * in calendar days for periods of care. */
static void visits(struct lagen *g, int parent, uint32_t ref, uint32_t obj, int plan, csc_date s, csc_date e) {
  struct rng *r = &g->r;
  csc_date d = s;
  for (;;) {
    switch (plan) {
    case PLAN_CP: d = wd_add(d, rng_chance(r, 0.92) ? rng_int(r, 3, 10) : rng_int(r, 11, 16)); break;
    case PLAN_CIN: d = wd_add(d, rng_chance(r, 0.92) ? rng_int(r, 8, 20) : rng_int(r, 21, 30)); break;
    default: d += rng_chance(r, 0.92) ? rng_int(r, 20, 42) : rng_int(r, 43, 60); break;
    }
    if (d >= e) break;
    uint32_t by = rng_chance(r, 0.95) ? 1 : 2;
    uint32_t alone = age_years(g, d) >= 4 && rng_chance(r, 0.7);
    add(g, K_SEEN, d, parent, ref, obj, by | alone << 2 | (uint32_t)plan << 4, 0, 0);
  }
}

static uint32_t draw_placement(struct lagen *g, const unsigned *weights, int adoption_type,
                               uint32_t *distance) {
  struct rng *r = &g->r;
  int type = adoption_type >= 0 ? adoption_type : pick_w(r, weights, N_OF(PLACEMENT_TYPES));
  int provider;
  if (type == PT_P1 || type == PT_P2 || type == PT_Z1) provider = 0;
  else if (type == PT_K2 || type == PT_H5 || type == PT_R1 || type == PT_S1) provider = rng_chance(r, 0.75) ? 4 : 1;
  else if (type >= PT_A3) provider = rng_chance(r, 0.7) ? 1 : 5;
  else {
    unsigned x = (unsigned)rng_int(r, 0, 99);
    provider = x < 60 ? 1 : x < 63 ? 2 : x < 65 ? 3 : 4;
  }
  int out_of_area = rng_chance(r, type == PT_K2 ? 0.45 : 0.18);
  int area = out_of_area ? (g->area + rng_int(r, 1, N_OF(AREAS) - 1)) % N_OF(AREAS) : g->area;
  int district = rng_int(r, 1, 30);
  uint32_t dist = out_of_area ? (uint32_t)rng_int(r, 150, 1500) : (uint32_t)rng_int(r, 3, 150);
  uint32_t known = rng_chance(r, 0.93);
  *distance = known ? dist : 0;
  return (uint32_t)type | (uint32_t)provider << 6 | (uint32_t)area << 9 | (uint32_t)district << 15 | known << 21;
}

static const unsigned *placement_mix(struct lagen *g, csc_date d) {
  if (g->uasc) return PT_UASC;
  int age = age_years(g, d);
  return age < 10 ? PT_YOUNG : age < 16 ? PT_MID : PT_OLD;
}

/* A CP plan from s; returns the index of CpPlanEnded, its date in *e. */
static int cp_plan(struct lagen *g, uint32_t ref, csc_date s, int parent, csc_date *e) {
  struct rng *r = &g->r;
  uint32_t id = ++g->n_cp;
  int cat = PICK(r, CATEGORIES);
  int ist = add(g, K_CP_START, s, parent, ref, id, (uint32_t)cat, 0, 0);
  double dur = rng_gamma2(r, CP_MEAN_DAYS);
  csc_date end = s + (dur < 14 ? 14 : (csc_date)dur);
  end = min_date(end, g->adult);
  if (end <= s) end = s + 1;
  visits(g, ist, ref, id, PLAN_CP, s, end);
  int latest = rng_chance(r, 0.85) ? cat : PICK(r, CATEGORIES);
  *e = end;
  return add(g, K_CP_END, end, ist, ref, id, (uint32_t)latest, 0, 0);
}

static int care_period(struct lagen *g, uint32_t ref, csc_date s, int parent, int short_breaks, csc_date force_end,
                       csc_date *e);

/* A CIN plan from s; returns the index of CinPlanEnded, its date in *e. */
static int cin_plan(struct lagen *g, uint32_t ref, csc_date s, int parent, csc_date *e) {
  struct rng *r = &g->r;
  uint32_t id = ++g->n_cin;
  int ist = add(g, K_CIN_START, s, parent, ref, id, 0, 0, 0);
  double dur = rng_gamma2(r, CIN_MEAN_DAYS);
  csc_date end = s + (dur < 30 ? 30 : (csc_date)dur);
  end = min_date(end, g->adult);
  if (end <= s) end = s + 1;
  visits(g, ist, ref, id, PLAN_CIN, s, end);
  /* Disabled children on a plan may have an agreed series of short breaks. */
  if (g->disabled && rng_chance(r, 0.3)) {
    csc_date bs = s + rng_int(r, 7, 60);
    if (bs + 60 < end) {
      csc_date be;
      care_period(g, ref, bs, ist, 1, end - rng_int(r, 0, 30), &be);
    }
  }
  *e = end;
  return add(g, K_CIN_END, end, ist, ref, id, 0, 0, 0);
}

/* A period of care from s; returns the index of PeriodOfCareEnded (or of the
 * last event it depends on), its date in *e. short_breaks: V3/V4 ending on
 * force_end. */
/*
 * Issue 15: changes of legal status to or from V3/V4 inside a period, so
 * that the rules by the status on the day (INDICATORS.md, "Exclusions") are
 * exercised: a short-breaks period that becomes C2 (and at times V3 again),
 * and a period of care that becomes V3/V4 (and at times C2 again). Drawn
 * from a stream of their own (per period), so that the rest of the history
 * is generated as before.
 */
static void short_breaks_changes(struct lagen *g, uint32_t ref, uint32_t id, int ist, csc_date s,
                                 csc_date end, int short_breaks) {
  struct rng x;
  rng_init(&x, g->o->seed, 6000 + (uint64_t)g->la, id);
  if (end - s < 4 || !rng_chance(&x, short_breaks ? 0.3 : 0.04)) return;
  csc_date d = s + rng_int(&x, 1, (int)(end - s) / 2);
  int to = short_breaks ? LS_C2 : rng_chance(&x, 0.7) ? LS_V3 : LS_V4;
  add(g, K_LEGAL, d, ist, ref, id, (uint32_t)to, 0, 0);
  if (!rng_chance(&x, 0.4)) return;
  csc_date back = d + rng_int(&x, 1, (int)(end - d) - 1);
  add(g, K_LEGAL, back, ist, ref, id, short_breaks ? LS_V3 : LS_C2, 0, 0);
}

static int care_period(struct lagen *g, uint32_t ref, csc_date s, int parent, int short_breaks, csc_date force_end,
                       csc_date *e) {
  struct rng *r = &g->r;
  uint32_t id = ++g->n_poc;
  int age = age_years(g, s);
  int legal, need;
  if (short_breaks) {
    legal = rng_chance(r, 0.7) ? LS_V3 : LS_V4;
    need = 1; /* N2 */
  } else if (g->uasc) {
    legal = LS_V2;
    need = 7; /* N8 */
  } else {
    legal = LEGAL_START_IDX[PICK(r, LEGAL_START)];
    need = PICK(r, NEED);
    if (legal == LS_J1 || legal == LS_J2) need = 5; /* N6 */
  }
  if (legal == LS_C1 || legal == LS_C2) {
    csc_date cd = s - rng_int(r, 0, 20);
    if (parent >= 0 && parent < (int)g->n && cd < g->ev[parent].e.day) cd = g->ev[parent].e.day;
    int ic = add(g, K_COURT, cd, parent, ref, 0, 1, 0, 0);
    parent = ic;
  }
  uint32_t dist;
  uint32_t pl = draw_placement(g, short_breaks ? PT_BREAK : placement_mix(g, s), -1, &dist);
  int ist = add(g, K_POC_START, s, parent, ref, id, pl,
                (uint32_t)legal | (uint32_t)need << 5 | (uint32_t)g->uasc << 9 | dist << 16, 0);

  csc_date end;
  int reason;
  if (short_breaks) {
    end = force_end > s ? force_end : s + 1;
    reason = EC_E8;
  } else {
    double dur = rng_gamma2(r, LAC_MEAN_DAYS);
    end = s + (dur < 1 ? 1 : (csc_date)dur);
    if (end >= g->adult) {
      end = g->adult;
      reason = pick_w(r, CEASED_AT18, EC_N);
    } else {
      reason = pick_w(r, age < 5 ? CEASED_UNDER5 : CEASED_OLDER, EC_N);
      if (g->uasc && (reason == EC_E11 || reason == EC_E12)) reason = EC_E8;
      if (reason == EC_E9 && age < 10) reason = EC_E8;
    }
    if (end <= s) end = s + 1;
  }

  int adoption = reason == EC_E11 || reason == EC_E12;
  csc_date placed = end, moves_until = end;
  int last = ist;
  if (!short_breaks) {
    /* Legal status changes: interim to full care order; emergency orders
     * end within days. */
    if (legal == LS_L1 || legal == LS_L2) {
      csc_date d = s + rng_int(r, 1, 8);
      if (d < end) add(g, K_LEGAL, d, ist, ref, id, rng_chance(r, 0.6) ? LS_C1 : LS_V2, 0, 0);
    } else if (legal == LS_C1 && rng_chance(r, 0.75)) {
      csc_date d = s + rng_int(r, 60, 320);
      if (d < end && !(adoption && d >= s + (end - s) * 45 / 100))
        add(g, K_LEGAL, d, ist, ref, id, LS_C2, 0, 0);
    }
    if (adoption) {
      csc_date span = end - s;
      csc_date decision = s + span * 30 / 100, order = s + span * 45 / 100, matched = s + span * 62 / 100;
      placed = s + span * 68 / 100;
      moves_until = order;
      int early = rng_chance(r, 0.12), foster = rng_chance(r, 0.12);
      int i1 = add(g, K_ADOPT, decision, ist, ref, id, 1, 0, 0);
      int i2 = add(g, K_LEGAL, order, i1, ref, id, LS_E1, 0, 0);
      int i3 = add(g, K_ADOPT, order, i2, ref, id, 2, 0, 0);
      int i4 = add(g, K_ADOPT, matched, i3, ref, id, 3, 0, 0);
      int type = foster ? PT_A6 : PT_A5;
      /* Half the children adopted by their foster carer move twice between
       * the placement order and the placement, to foster carers (U4, then
       * the U5 carer who adopts): the "Same carer" rule of placements_3plus
       * and placement_changes_avg then meets a placement for adoption with
       * the foster carer after 2 foster placements. Fixed placements (PR1,
       * in area, 5.0 miles): no draw, so the random stream is unchanged. */
      if (foster && id % 2 == 0 && placed - order >= 3) {
        static const int carers[2] = {PT_U4, PT_U5};
        for (int k = 0; k < 2; k++) {
          uint32_t fixed = (uint32_t)carers[k] | 1u << 6 | (uint32_t)g->area << 9 | 1u << 15 | 1u << 21;
          add(g, K_PLACEMENT, order + (placed - order) * (k + 1) / 3, i3, ref, id, fixed,
              (uint32_t)5 /* PLACE */ << 10 | 50u << 16, 0);
        }
      }
      pl = draw_placement(g, PT_YOUNG, type, &dist);
      int i5 = add(g, K_PLACEMENT, placed, i4, ref, id, pl, (uint32_t)(4 /* PLACE */) << 10 | dist << 16, 0);
      int i6 = add(g, K_ADOPT, placed, i5, ref, id, 4, (uint32_t)early | (uint32_t)foster << 1, 0);
      last = add(g, K_ADOPT, end, i6, ref, id, 5, (uint32_t)early | (uint32_t)foster << 1, 0);
    }
    /* Placement moves. */
    for (csc_date d = s + (csc_date)rng_exp(r, 365.25 / MOVES_PER_YEAR) + 1; d < moves_until;
         d += (csc_date)rng_exp(r, 365.25 / MOVES_PER_YEAR) + 1) {
      int rc = PICK(r, PLACEMENT_CHANGE);
      pl = draw_placement(g, placement_mix(g, d), -1, &dist);
      add(g, K_PLACEMENT, d, ist, ref, id, pl, (uint32_t)rc << 10 | dist << 16, 0);
    }
    /* Strengths and difficulties questionnaires, yearly, ages 4-16. */
    for (int k = 1;; k++) {
      csc_date d = date_add_months(s, 12 * k) + rng_int(r, 0, 30);
      if (d >= end) break;
      int a = age_years(g, d);
      if (a < 4 || a > 16) continue;
      int score = 0;
      for (int j = 0; j < 4; j++) score += rng_int(r, 0, 7);
      add(g, K_SDQ, d, ist, ref, id, (uint32_t)score, 0, 0);
    }
  }
  if (!adoption) short_breaks_changes(g, ref, id, ist, s, end, short_breaks);
  visits(g, ist, ref, id, PLAN_LAC, s, end);
  int iend = add(g, K_POC_END, end, last, ref, id, (uint32_t)reason, 0, 0);
  if (reason == EC_E41) add(g, K_PERM, end, iend, ref, id, 2, 0, 0);
  if (reason >= EC_E43 && reason <= EC_E48) add(g, K_PERM, end, iend, ref, id, 1, 0, 0);
  if (adoption) add(g, K_PERM, end, iend, ref, id, 3, 0, 0);
  /* Care leavers: left care at 16 or over after 13 weeks or more; contacts
   * around their birthdays up to 21. */
  if (!short_breaks && age_years(g, end) >= 16 && end - s >= 91 && !adoption) {
    for (int y = 17; y <= 21; y++) {
      csc_date d = date_add_months(g->dob, 12 * y) + rng_int(r, -20, 20);
      if (d <= end) continue;
      uint32_t touch = rng_chance(r, 0.9);
      int act = PICK(r, LEAVER_ACTIVITY), acc = PICK(r, LEAVER_ACCOM);
      uint32_t group = LEAVER_ACTIVITY[act].code[0] == 'G' ? 3 : act <= 3 ? 1 : 2;
      uint32_t suitable = rng_chance(r, 0.88);
      if (!touch) {
        act = 0;
        acc = 0;
        group = 0;
        suitable = 0;
      }
      add(g, K_LEAVER, d, iend, ref, id,
          touch | (uint32_t)act << 1 | (uint32_t)acc << 6 | suitable << 11 | group << 12,
          0, 0);
    }
  }
  *e = end;
  return iend;
}

static void close_referral(struct lagen *g, uint32_t ref, csc_date d, int parent, int reason, int nfa,
                           csc_date *close) {
  g->last_close = add(g, K_REF_CLOSE, d, parent, ref, ref, (uint32_t)reason, (uint32_t)nfa, 0);
  *close = d;
}

/* After a plan or period ended on e (index iend): close the episode. */
static void close_after(struct lagen *g, uint32_t ref, csc_date e, int iend, int reason, csc_date *close) {
  csc_date d = e >= g->adult ? e : e + rng_int(&g->r, 0, 14);
  close_referral(g, ref, d, iend, reason, 0, close);
}

static int closure_for_ceased(int reason) {
  if (reason == EC_E11 || reason == EC_E12) return RC1;
  if (reason == EC_E41) return RC3;
  if (reason >= EC_E43 && reason <= EC_E48) return RC4;
  if (reason == EC_E3) return RC2;
  if (reason == EC_E5) return RC6;
  return RC7;
}

static int is_return_home(int reason) { return reason == EC_E4A || reason == EC_E4B || reason == EC_E13; }

/*
 * Issue 15: a return home that fails: care again within months of the
 * exit home (a second period within a year), at most twice, so that a
 * failed return home followed by another is generated too. Drawn from a
 * stream of its own, swapped in for the new periods, so that the rest of
 * the history is generated as before. Returns the index of the last
 * PeriodOfCareEnded, its date in *e.
 */
static int returns_to_care(struct lagen *g, uint32_t ref, int iend, csc_date *e) {
  struct rng x;
  rng_init(&x, g->o->seed, 7000 + (uint64_t)g->la, g->n_poc);
  for (int k = 0; k < 2 && !g->oom && is_return_home((int)g->ev[iend].e.a); k++) {
    csc_date s = *e + rng_int(&x, 14, 180);
    if (!rng_chance(&x, 0.3) || s >= g->adult) break;
    struct rng main = g->r;
    g->r = x;
    iend = care_period(g, ref, s, iend, 0, 0, e);
    x = g->r;
    g->r = main;
  }
  return iend;
}

/* A period of care then the episode's closure. */
static void lac_then_close(struct lagen *g, uint32_t ref, csc_date s, int parent, csc_date *close) {
  csc_date e;
  int iend = care_period(g, ref, s, parent, 0, 0, &e);
  iend = returns_to_care(g, ref, iend, &e);
  int reason = g->oom ? RC7 : closure_for_ceased((int)g->ev[iend].e.a);
  close_after(g, ref, e, iend, reason, close);
}

static void cin_then_close(struct lagen *g, uint32_t ref, csc_date s, int parent, csc_date *close) {
  csc_date e;
  int iend = cin_plan(g, ref, s, parent, &e);
  close_after(g, ref, e, iend, RC7, close);
}

static void cp_then_next(struct lagen *g, uint32_t ref, csc_date s, int parent, csc_date *close) {
  csc_date e;
  int iend = cp_plan(g, ref, s, parent, &e);
  if (e >= g->adult) {
    close_after(g, ref, e, iend, RC7, close);
    return;
  }
  double u = rng_unif(&g->r);
  if (u < 0.45) cin_then_close(g, ref, e, iend, close);
  else if (u < 0.53) lac_then_close(g, ref, e, iend, close);
  else close_after(g, ref, e, iend, RC7, close);
}

/*
 * One CIN episode from the referral on r. Sets *close to its closure date,
 * *eh_start to the first day of an early help episode that follows it (or 0).
 */
static void episode(struct lagen *g, csc_date r, int first, csc_date *close, csc_date *eh_start) {
  struct rng *rg = &g->r;
  uint32_t ref = ++g->n_ref;
  if (g->n_ep < MAX_EPISODES) g->n_ep++;
  g->ep_end[g->n_ep - 1] = r;
  *eh_start = 0;
  int src = g->uasc && first ? SRC_OTHER : PICK(rg, SOURCES);
  /* A re-referral is recorded after the previous episode's closure; the
   * first referral after the child's details. */
  int iref = add(g, K_REF_OPEN, r, g->last_close, ref, ref, (uint32_t)src, 0, 0);
  /* A child can turn 18 soon after the referral: services end then. */
  csc_date limit = g->adult;

  if (!(g->uasc && first) && rng_chance(rg, P_NFA_AT_REFERRAL)) {
    csc_date d = rng_chance(rg, 0.4) ? r : r + rng_int(rg, 1, 5);
    close_referral(g, ref, min_date(d, max_date(limit, r)), iref, RC7, 1, close);
    return;
  }
  csc_date a = r + (rng_chance(rg, 0.5) ? 0 : rng_int(rg, 1, 3));
  int iass = add(g, K_ASS_START, a, iref, ref, ref, 0, 0, 0);

  if (g->uasc && first) {
    csc_date ac = wd_add(a, rng_int(rg, 3, 20));
    add(g, K_ASS_DONE, ac, iass, ref, ref, draw_factors(g), 5, 0);
    if (r + 14 >= limit) {
      close_referral(g, ref, max_date(ac, limit), iass, RC7, 0, close);
      return;
    }
    lac_then_close(g, ref, r + rng_int(rg, 0, 3), iref, close);
    return;
  }

  if (rng_chance(rg, P_S47_GIVEN_ASSESSED)) {
    csc_date sd = a + rng_int(rg, 0, 5);
    int istrat = add(g, K_STRAT, sd, iass, ref, ref, 1, 0, 0);
    int is47 = add(g, K_S47_START, sd, istrat, ref, ref, 0, 0, 0);
    double u = rng_unif(rg);
    int outcome = u < 0.44 ? 2 : u < 0.69 ? 3 : u < 0.97 ? 1 : 4; /* ICPC, CIN, NFA, LAC */
    int icpc_wd = rng_chance(rg, 0.78) ? rng_int(rg, 4, 15) : rng_int(rg, 16, 35);
    csc_date s47c = outcome == 2 ? wd_add(sd, rng_int(rg, 2, icpc_wd - 1)) : wd_add(sd, rng_int(rg, 5, 25));
    int i47c = add(g, K_S47_DONE, s47c, is47, ref, ref, (uint32_t)outcome, 0, 0);
    csc_date ac = max_date(s47c, wd_add(a, assessment_wd(rg)));
    add(g, K_ASS_DONE, ac, iass, ref, ref, draw_factors(g), 4, 0);
    csc_date next = max_date(ac, s47c);
    if (next + 7 >= limit) {
      close_referral(g, ref, max_date(next, limit), i47c, RC7, 0, close);
      return;
    }
    switch (outcome) {
    case 2: {
      csc_date icpc = wd_add(sd, icpc_wd);
      int agreed = rng_chance(rg, 0.88);
      int iicpc = add(g, K_ICPC, icpc, i47c, ref, ref, (uint32_t)agreed, 0, 0);
      if (icpc + 7 >= limit) close_referral(g, ref, max_date(max_date(icpc, ac), limit), iicpc, RC7, 0, close);
      else if (agreed) cp_then_next(g, ref, icpc, iicpc, close);
      else if (rng_chance(rg, 0.6)) cin_then_close(g, ref, max_date(icpc, ac) + rng_int(rg, 0, 10), iicpc, close);
      else close_referral(g, ref, max_date(icpc, ac) + rng_int(rg, 0, 10), iicpc, RC8, 0, close);
      return;
    }
    case 3: cin_then_close(g, ref, next + rng_int(rg, 0, 10), i47c, close); return;
    case 4: lac_then_close(g, ref, s47c, i47c, close); return;
    default: close_referral(g, ref, next + rng_int(rg, 0, 14), i47c, RC8, 0, close); return;
    }
  }

  csc_date ac = wd_add(a, assessment_wd(rg));
  double u = rng_unif(rg);
  int outcome = u < 0.45 ? 1 : u < 0.57 ? 2 : u < 0.91 ? 3 : 5; /* NFA, EH, CIN, LAC */
  int iac = add(g, K_ASS_DONE, ac, iass, ref, ref, draw_factors(g), (uint32_t)outcome, 0);
  if (ac + 7 >= limit) {
    close_referral(g, ref, max_date(ac, limit), iac, RC7, 0, close);
    return;
  }
  switch (outcome) {
  case 1: close_referral(g, ref, ac + rng_int(rg, 0, 10), iac, RC8, 0, close); return;
  case 2:
    close_referral(g, ref, ac + rng_int(rg, 0, 7), iac, RC9, 0, close);
    *eh_start = *close + rng_int(rg, 0, 7);
    return;
  case 3: cin_then_close(g, ref, ac + rng_int(rg, 0, 14), iac, close); return;
  default: lac_then_close(g, ref, ac + rng_int(rg, 0, 7), iac, close); return;
  }
}

static int cmp_order(const void *pa, const void *pb) {
  const struct order *a = pa, *b = pb;
  if (a->day != b->day) return a->day < b->day ? -1 : 1;
  return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* Afternoon, UK time, of day d, plus up to 6 hours. */
static int64_t afternoon_ms(struct rng *r, csc_date d) {
  return date_london_midnight_ms(d) + 12 * HOUR_MS + (int64_t)(rng_next(r) % (uint64_t)(6 * HOUR_MS));
}

/* ---- workforce ------------------------------------------------------------------------------ */

/*
 * Each LA has a fixed establishment of social work posts (about
 * WF_FTE_PER_10K FTE per 10,000 children in the first year), each a chain
 * of holders from w0 (WF_YEARS_BEFORE before the first day) to the end of
 * the history: a holder stays for an exponential time (mean
 * WF_TENURE_DAYS; from w0 for the holder on w0), then the post is vacant
 * for an exponential time (mean WF_VACANCY_DAYS) until the next holder
 * starts. A post's events come from a random stream of its own, a worker's
 * from another, a child's allocations from a third: the children's other
 * events are those of a generator without a workforce.
 *
 * A post: POST_ESTABLISHED on the day its holder on w0 started (or, for a
 * post vacant on w0, 1-90 days before w0), then POST_FILLED and POST_VACANT
 * as holders start and leave. A worker: STARTED (the post's FTE, agency,
 * case holding), a CASELOAD report on the day they start and monthly after
 * (case-holding workers 10-25 children, drifting by -2..+2 a month; reports
 * superseded before the first day are not in the history), ABSENCE events
 * of 1-20 days from w0 on (recorded on their first day, with their length,
 * as from a fit note), and LEFT. Every workforce event is recorded on the
 * day it happens.
 */
#define WF_YEARS_BEFORE 1

struct holder {
  csc_date start, end; /* end DATE_NEVER: still employed when the history ends */
  uint32_t worker;
  uint8_t fte, agency, case_holding, pad;
};

struct roster {
  struct holder *h;
  size_t n, cap;
  size_t *first; /* post p's holders are h[first[p]] .. h[first[p + 1] - 1] */
  int n_posts;
  uint32_t n_workers;
  csc_date w0; /* WF_YEARS_BEFORE before the first day */
};

/* Recording times of one post's or one worker's events: on the day, in the
 * order they happen. */
struct wf_clock {
  csc_date day;
  int64_t ms;
};

static int64_t wf_rec(struct rng *r, struct wf_clock *c, csc_date d) {
  int64_t ms = afternoon_ms(r, d);
  if (d == c->day && ms <= c->ms) ms = c->ms + 60000 + (int64_t)(rng_next(r) % 120000);
  c->day = d;
  c->ms = ms;
  return ms;
}

/* A workforce event; numbered when recorded before the history ends, kept
 * when also in this pass's share. */
static int wf_push(struct lagen *g, int change, csc_date d, int64_t ms, uint32_t worker, uint32_t post,
                   uint32_t b) {
  if (ms >= g->end_ms) return 0;
  struct gev e;
  memset(&e, 0, sizeof e);
  e.rec_ms = ms;
  e.day = d;
  e.seq = ++g->n_wseq;
  e.la = (uint8_t)g->la;
  e.kind = K_WF;
  e.a = (uint32_t)change;
  e.obj = worker;
  e.ref = post;
  e.b = b;
  if (ms < g->lo_ms || ms >= g->hi_ms) return 0;
  return vec_push(g->out, &e);
}

/* Monthly caseload reports of holder h over [h->start, stop). */
static int wf_caseloads(struct lagen *g, struct rng *r, struct wf_clock *c, const struct holder *h, csc_date stop,
                        uint32_t base) {
  int load = rng_int(r, 10, 25), rc = 0;
  for (int k = 0; !rc; k++) {
    csc_date d = date_add_months(h->start, k);
    if (d >= stop) break;
    if (k > 0) {
      load += rng_int(r, -2, 2);
      load = load < 10 ? 10 : load > 25 ? 25 : load;
    }
    if (date_add_months(h->start, k + 1) <= g->start) continue; /* superseded before the first day */
    /* One worker in WF_LATE_REPORTER makes their first report
     * WF_LATE_MONTHS after starting: until then their STARTED says whether
     * they hold cases (sw_caseload: "their latest start or caseload report"). */
    if (k < WF_LATE_MONTHS && h->worker % WF_LATE_REPORTER == 0) continue;
    uint32_t n = h->case_holding ? (uint32_t)load : 0;
    rc = wf_push(g, CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_CASELOAD, d, wf_rec(r, c, d), h->worker, 0,
                 base | n << 9);
  }
  return rc;
}

/* Absences of holder h over [max(h->start, w0), stop): about
 * WF_ABSENCES_PER_FTE_YEAR per FTE a year, never two at once. */
static int wf_absences(struct lagen *g, struct rng *r, const struct holder *h, csc_date stop, uint32_t base) {
  double gap = 365.25 / (WF_ABSENCES_PER_FTE_YEAR * h->fte / 100.0);
  int rc = 0;
  /* From the day after the start, so that STARTED is recorded first. */
  for (csc_date d = max_date(h->start, g->roster->w0) + 1 + (csc_date)rng_exp(r, gap); d < stop && !rc;) {
    uint32_t days = rng_chance(r, 0.7) ? (uint32_t)rng_int(r, 1, 5) : (uint32_t)rng_int(r, 6, 20);
    rc = wf_push(g, CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_ABSENCE, d, afternoon_ms(r, d), h->worker, 0,
                 base | days << 9);
    d += (csc_date)days + (csc_date)rng_exp(r, gap);
  }
  return rc;
}

/* A worker's events, from a stream of their own. */
/*
 * Issue 16: a worker's ethnic group, seniority and team, from a stream of
 * the worker's own (so the rest of the workforce is as before), packed as
 * ethnicity | seniority << 5 | team << 7. The groups are near the CSWW
 * census (~70% white, ~14% black, ~8% asian, ~4% mixed, ~7% not known);
 * seniority 70% practitioners, 22% senior practitioners or team managers,
 * 8% service managers or above; WF_TEAMS teams per LA.
 */
static const struct wcode WF_ETHNICITY[] = {
    {"WBRI", 580}, {"WIRI", 20}, {"WOTH", 80}, {"MWBC", 20}, {"MWBA", 10}, {"MWAS", 5}, {"MOTH", 5},
    {"AIND", 30},  {"APKN", 25}, {"ABAN", 10}, {"AOTH", 10}, {"CHNE", 5},  {"BCRB", 35}, {"BAFR", 90},
    {"BOTH", 15},  {"OOTH", 20}, {"REFU", 15}, {"NOBT", 25},
};
#define WF_TEAMS 12
static uint32_t worker_traits(const struct lagen *g, uint32_t worker) {
  static const unsigned seniority_w[3] = {70, 22, 8};
  struct rng r;
  rng_init(&r, g->o->seed, 9000 + (uint64_t)g->la, worker);
  uint32_t eth = (uint32_t)PICK(&r, WF_ETHNICITY);
  uint32_t seniority = 1 + (uint32_t)pick_w(&r, seniority_w, 3);
  uint32_t team = 1 + (uint32_t)rng_int(&r, 0, WF_TEAMS - 1);
  return eth | seniority << 5 | team << 7;
}

static int wf_worker(struct lagen *g, const struct holder *h) {
  struct rng r;
  rng_init(&r, g->o->seed, 5000 + (uint64_t)g->la, h->worker);
  struct wf_clock c = {0, 0};
  uint32_t base = h->fte | (uint32_t)h->agency << 7 | (uint32_t)h->case_holding << 8;
  csc_date stop = min_date(h->end, g->end);
  int rc = wf_push(g, CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_STARTED, h->start, wf_rec(&r, &c, h->start),
                   h->worker, 0, base | worker_traits(g, h->worker) << 9);
  if (!rc) rc = wf_caseloads(g, &r, &c, h, stop, base);
  if (!rc) rc = wf_absences(g, &r, h, stop, base);
  if (!rc && h->end != DATE_NEVER)
    rc = wf_push(g, CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_LEFT, h->end, wf_rec(&r, &c, h->end), h->worker,
                 0, base);
  return rc;
}

static int roster_push(struct roster *ro, const struct holder *h) {
  if (ro->n == ro->cap) {
    size_t cap = ro->cap ? ro->cap * 2 : 256;
    struct holder *nh = realloc(ro->h, cap * sizeof *nh);
    if (!nh) return CSC_ENOMEM;
    ro->h = nh;
    ro->cap = cap;
  }
  ro->h[ro->n++] = *h;
  return 0;
}

/* Post p (0-based; "P" + p + 1): its holders into the roster, its events
 * and theirs into the history. */
static int wf_post(struct lagen *g, struct roster *ro, int p) {
  struct rng r;
  rng_init(&r, g->o->seed, 4000 + (uint64_t)g->la, (uint64_t)p);
  struct wf_clock c = {0, 0};
  uint32_t post = (uint32_t)p + 1;
  uint32_t fte = rng_chance(&r, WF_P_PART_TIME) ? 10 * (uint32_t)rng_int(&r, 5, 9) : 100;
  csc_date est, s;
  if (rng_chance(&r, WF_VACANCY_DAYS / (WF_TENURE_DAYS + WF_VACANCY_DAYS))) {
    est = ro->w0 - rng_int(&r, 1, 90);
    s = est + 1 + (csc_date)rng_exp(&r, WF_VACANCY_DAYS);
  } else {
    double t = rng_exp(&r, WF_TENURE_DAYS);
    if (t > WF_MAX_TENURE_YEARS * 365.25) t = WF_MAX_TENURE_YEARS * 365.25;
    est = s = ro->w0 - 1 - (csc_date)t;
  }
  int rc = wf_push(g, CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_ESTABLISHED, est, wf_rec(&r, &c, est), 0,
                   post, fte);
  while (!rc && s < g->end) {
    struct holder h = {s, DATE_NEVER, ++ro->n_workers, (uint8_t)fte, 0, 0, 0};
    h.agency = (uint8_t)rng_chance(&r, WF_P_AGENCY);
    h.case_holding = (uint8_t)rng_chance(&r, WF_P_CASE_HOLDING);
    /* Leaving is memoryless: a holder on w0 stays an exponential time from then. */
    csc_date leave = max_date(s, ro->w0) + 1 + (csc_date)rng_exp(&r, WF_TENURE_DAYS);
    if (leave < g->end) h.end = leave;
    rc = wf_push(g, CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_FILLED, s, wf_rec(&r, &c, s), 0, post, fte);
    if (!rc) rc = roster_push(ro, &h);
    if (!rc) rc = wf_worker(g, &h);
    if (rc || h.end == DATE_NEVER) break;
    rc = wf_push(g, CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_VACANT, h.end, wf_rec(&r, &c, h.end), 0,
                 post, fte);
    s = h.end + 1 + (csc_date)rng_exp(&r, WF_VACANCY_DAYS);
  }
  return rc;
}

/* The LA's posts, holders and workforce events; the number of posts from its
 * population in the first year. */
static int wf_generate(struct lagen *g, double population, struct roster *ro) {
  memset(ro, 0, sizeof *ro);
  ro->w0 = date_add_months(g->start, -12 * WF_YEARS_BEFORE);
  double mean_fte = (1.0 - WF_P_PART_TIME) + WF_P_PART_TIME * 0.7;
  double posts = population / 10000.0 * WF_FTE_PER_10K / mean_fte + 0.5;
  ro->n_posts = posts < 1 ? 1 : (int)posts;
  ro->first = malloc(((size_t)ro->n_posts + 1) * sizeof *ro->first);
  if (!ro->first) return CSC_ENOMEM;
  int rc = 0;
  for (int p = 0; p < ro->n_posts && !rc; p++) {
    ro->first[p] = ro->n;
    rc = wf_post(g, ro, p);
  }
  ro->first[ro->n_posts] = ro->n;
  return rc;
}

static void roster_free(struct roster *ro) {
  free(ro->h);
  free(ro->first);
}

/* A case-holding worker employed on d (w0 for an earlier d, as referrals of
 * cases open on the first day can be years older than the workforce's
 * history): a random post's holder, or failing that after WF_PICK_TRIES
 * posts the first such worker; 0 when there is none. */
static uint32_t wf_pick(const struct roster *ro, struct rng *r, csc_date d) {
  if (d < ro->w0) d = ro->w0;
  for (int t = 0; t < WF_PICK_TRIES; t++) {
    int p = rng_int(r, 0, ro->n_posts - 1);
    for (size_t i = ro->first[p]; i < ro->first[p + 1]; i++) {
      const struct holder *h = &ro->h[i];
      if (h->start <= d && d < h->end && h->case_holding) return h->worker;
    }
  }
  for (size_t i = 0; i < ro->n; i++)
    if (ro->h[i].start <= d && d < ro->h[i].end && ro->h[i].case_holding) return ro->h[i].worker;
  return 0;
}

/* Whether the child's referral ref leads to a CIN or CP plan or a period of
 * care (whenever it starts, even after the history ends). */
static int leads_to_plan(const struct lagen *g, uint32_t ref) {
  for (size_t i = 0; i < g->n; i++) {
    const struct gev *e = &g->ev[i].e;
    if (e->ref == ref && (e->kind == K_CIN_START || e->kind == K_CP_START || e->kind == K_POC_START)) return 1;
  }
  return 0;
}

/* An allocation event following the child's event e (its referral or closure). */
static struct gev alloc_event(struct rng *r, const struct gev *e, uint32_t worker, int deallocated) {
  struct gev x;
  memset(&x, 0, sizeof x);
  x.rec_ms = e->rec_ms + 60000 + (int64_t)(rng_next(r) % 120000);
  x.day = e->day;
  x.seq = e->seq;
  x.child = e->child;
  x.la = e->la;
  x.kind = K_ALLOC;
  x.a = worker;
  x.b = (uint32_t)deallocated;
  return x;
}

/*
 * The child's allocations, from a stream of their own: a worker allocated
 * on the day of each kept referral that leads to a plan or period of care
 * (the cases a case-holding social worker holds; referrals closed at or
 * after assessment are not allocated, which keeps the events few), recorded
 * just after it, and deallocated on the day the referral closes. Called on
 * the kept events ord[0..m) with their recorded times and sequences, before
 * the mess. Writes at most 2 per referral to out.
 */
static size_t allocations(struct lagen *g, uint64_t child_no, size_t m, struct gev *out) {
  struct rng r;
  rng_init(&r, g->o->seed, 3000 + (uint64_t)g->la, child_no);
  size_t n = 0;
  for (size_t k = 0; k < m; k++) {
    const struct gev *ref = &g->ev[g->ord[k].idx].e;
    if (ref->kind != K_REF_OPEN || !ref->seq || !leads_to_plan(g, ref->ref)) continue;
    const struct gev *close = NULL;
    for (size_t j = 0; j < m && !close; j++) {
      const struct gev *c = &g->ev[g->ord[j].idx].e;
      if (c->kind == K_REF_CLOSE && c->ref == ref->ref) close = c;
    }
    uint32_t worker = wf_pick(g->roster, &r, ref->day);
    if (!worker) continue;
    out[n++] = alloc_event(&r, ref, worker, 0);
    if (close && close->seq) out[n++] = alloc_event(&r, close, worker, 1);
  }
  return n;
}

/* ---- issue 16: what the returns record ------------------------------------------------ */

/*
 * Issue 16's events and fields, made once the child's kept events have
 * their recorded_at and sequence (before the mess, like the allocations),
 * from a stream of the child's own (seed, 8000 + la, child): the child's
 * other events keep their dates, codes, times and ids. The new events have
 * ids "<la>-X" + a 9-digit sequence of the LA's own and are never messy.
 */
enum { RNE_NONE, RNE_P, RNE_T, RNE_U, RNE_B, RNE_L };
static const char *const RNE_CODES[] = {"", "P", "T", "U", "B", "L"};
/* SSDA903 IN_TOUCH; the weights are those of the children not in touch. */
static const char *const TOUCH_CODES[] = {"YES", "NO", "DIED", "REFU", "NREQ", "RHOM"};
static const unsigned TOUCH_NOT_W[] = {0, 55, 3, 20, 12, 10};
/* CIN census primary need N0..N9, near England's shares (N1 ~57%). */
static const unsigned PRIMARY_NEED_W[10] = {2, 57, 3, 3, 9, 16, 2, 1, 3, 4};
/* SSDA903 social worker episodes, SW_REASON: mostly a management decision
 * (the case closed or moved), else the worker left, ... */
static const char *const SW_REASONS[] = {"MANAGE", "LEFTRL", "FCONTA", "ORGRST", "OTHERS"};
static const unsigned SW_REASON_W[] = {70, 15, 5, 5, 5};
/* SSDA903 REVIEW_CODE: PN0 for children under 4, else PN1..PN7. */
static const unsigned PARTICIPATION_W[8] = {0, 45, 10, 8, 12, 8, 10, 7};
/* SSDA903 PREV_PERM. */
static const char *const PREV_PERM[] = {"P1", "P2", "P3", "P4", "Z1"};
static const unsigned PREV_PERM_W[] = {15, 35, 25, 10, 15};

#define P_LATE_REVIEW 0.05        /* a review held after its due date */
#define P_RUNNER_12PLUS 0.17      /* a period of a child of 12+ with missing incidents */
#define P_RUNNER_UNDER12 0.02
#define MISSING_GAP_DAYS 40.0     /* ~5 incidents in 12 months of a child who goes missing */
#define P_AWAY 0.2                /* kind A (away from placement) */
#define P_NEED_CHANGE 0.06
#define P_PREV_PERM 0.08
#define P_STATUS_WITH_MOVE 0.15   /* a V2 / C1 period becomes C2 on the day of a move */

/* Appends an issue 16 event dated d, recorded on the day and after the
 * event it depends on (recorded at after_ms); not kept when recorded after
 * the history ends. */
static void x_add(struct lagen *g, struct rng *r, const struct gev *like, int kind, csc_date d, int64_t after_ms,
                  uint32_t obj, uint32_t ref, uint32_t a, uint32_t b) {
  int64_t ms = afternoon_ms(r, d);
  if (ms <= after_ms + 60000) ms = after_ms + 60000 + (int64_t)(rng_next(r) % 120000);
  if (ms >= g->end_ms) return;
  struct gev x;
  memset(&x, 0, sizeof x);
  x.rec_ms = ms;
  x.day = d;
  x.seq = ++g->n_xseq;
  x.child = like->child;
  x.la = like->la;
  x.kind = (uint8_t)kind;
  x.obj = obj;
  x.ref = ref;
  x.a = a;
  x.b = b;
  if (vec_push(&g->extra, &x)) g->oom = 1;
}

/* The day the child's plan (start event st) ends: its end event's date,
 * or the history's end when it has none. */
static csc_date plan_end(const struct lagen *g, const struct gev *st, int end_kind) {
  for (size_t i = 0; i < g->n; i++)
    if (g->ev[i].e.kind == end_kind && g->ev[i].e.obj == st->obj) return min_date(g->ev[i].e.day, g->end);
  return g->end;
}

/* A review due on `due`: on time (up to 30 days early) or, now and then, late. */
static csc_date review_day(struct rng *r, csc_date prev, csc_date due) {
  if (rng_chance(r, P_LATE_REVIEW)) return due + rng_int(r, 1, 30);
  return max_date(prev + 1, due - rng_int(r, 0, 30));
}

/* Reviews of a period of care (LAC: the first within 20 working days, the
 * second 3 months after it, then 6-monthly) or of a CP plan (the first
 * within 3 months, then 6-monthly). */
static void reviews(struct lagen *g, struct rng *r, const struct gev *st, int lac, csc_date end) {
  csc_date d = lac ? wd_add(st->day, 20) : date_add_months(st->day, 3);
  d = rng_chance(r, P_LATE_REVIEW) ? d + rng_int(r, 1, 20) : d - rng_int(r, 0, lac ? 14 : 40);
  for (int k = 0; d < end; k++) {
    uint32_t pn = !lac ? 0 : age_years(g, d) < 4 ? 0 : (uint32_t)pick_w(r, PARTICIPATION_W, 8);
    uint32_t kind = lac ? CSCFLOW__V1__REVIEW_KIND__REVIEW_KIND_LAC : CSCFLOW__V1__REVIEW_KIND__REVIEW_KIND_CP;
    x_add(g, r, st, K_REVIEW, d, st->rec_ms, st->obj, 0, kind | pn << 2, 0);
    d = review_day(r, d, date_add_months(d, lac && k == 0 ? 3 : 6));
  }
}

/* Missing (M) and away (A) incidents of a period of care [s, end): a child
 * who goes missing does so every ~6 weeks; most return within days. */
static void missing(struct lagen *g, struct rng *r, const struct gev *st, csc_date end) {
  if (!rng_chance(r, age_years(g, st->day) >= 12 ? P_RUNNER_12PLUS : P_RUNNER_UNDER12)) return;
  uint32_t n = 0;
  for (csc_date d = st->day + (csc_date)rng_exp(r, MISSING_GAP_DAYS) + 1; d < end && n < 999;
       d += (csc_date)rng_exp(r, MISSING_GAP_DAYS) + 1) {
    uint32_t kind = rng_chance(r, P_AWAY) ? CSCFLOW__V1__MISSING_KIND__MISSING_KIND_AWAY
                                          : CSCFLOW__V1__MISSING_KIND__MISSING_KIND_MISSING;
    csc_date back = d + (rng_chance(r, 0.6) ? rng_int(r, 0, 1) : rng_int(r, 2, 7));
    x_add(g, r, st, K_MISS_START, d, st->rec_ms, st->obj, ++n, kind, 0);
    if (back < end && rng_chance(r, 0.95)) x_add(g, r, st, K_MISS_END, back, st->rec_ms, st->obj, n, kind, 0);
    d = max_date(d, back);
  }
}

/* A period's legal status on d: its first, then its changes on or before d. */
static int status_on(const struct lagen *g, const struct gev *st, csc_date d) {
  int status = (int)(st->b & 31);
  csc_date at = st->day;
  for (size_t i = 0; i < g->n; i++) {
    const struct gev *e = &g->ev[i].e;
    if (e->kind == K_LEGAL && e->obj == st->obj && e->day <= d && e->day >= at) {
      status = (int)e->a;
      at = e->day;
    }
  }
  return status;
}

static int later_legal_change(const struct lagen *g, uint32_t period, csc_date d) {
  for (size_t i = 0; i < g->n; i++)
    if (g->ev[i].e.kind == K_LEGAL && g->ev[i].e.obj == period && g->ev[i].e.day >= d) return 1;
  return 0;
}

/* RNE of the period's placement changes: P, T (the same carer: always for
 * a placement for adoption with the foster carer, A6), and now and then,
 * for a V2 or C1 period, a care order (C2) the same day: B, or U with the
 * same carer (the LegalStatusChanged carries the same code). */
static void placement_rne(struct lagen *g, struct rng *r, const struct gev *st) {
  for (size_t i = 0; i < g->n; i++) {
    struct gev *p = &g->ev[i].e;
    if (p->kind != K_PLACEMENT || p->obj != st->obj) continue;
    int same_carer = (p->a & 63) == PT_A6 || rng_chance(r, 0.1);
    uint32_t rne = same_carer ? RNE_T : RNE_P;
    int status = status_on(g, st, p->day);
    if (p->seq && p->day < g->end && (status == LS_V2 || status == LS_C1) && !later_legal_change(g, p->obj, p->day) &&
        rng_chance(r, P_STATUS_WITH_MOVE)) {
      rne = same_carer ? RNE_U : RNE_B;
      x_add(g, r, p, K_LEGAL16, p->day, p->rec_ms, p->obj, 0, LS_C2, rne);
    }
    p->b = (p->b & ~7u) | rne;
  }
}

/* Issue 16's events of a period of care st. A short-breaks period (V3/V4)
 * has no reviews, but its child may go missing from the placement: an
 * incident outside care (missing_outside_care), which missing_from_care
 * must leave out. */
static void period_extras(struct lagen *g, struct rng *r, const struct gev *st) {
  csc_date end = plan_end(g, st, K_POC_END);
  int legal = (int)(st->b & 31);
  if (legal == LS_V3 || legal == LS_V4) {
    missing(g, r, st, end);
    return;
  }
  reviews(g, r, st, 1, end);
  missing(g, r, st, end);
  placement_rne(g, r, st);
  if (!g->uasc && end - st->day > 60 && rng_chance(r, P_NEED_CHANGE)) {
    uint32_t need = (st->b >> 5) & 15, to = need;
    while (to == need) to = (uint32_t)PICK(r, NEED);
    x_add(g, r, st, K_NEED, st->day + rng_int(r, 30, (int)(end - st->day) - 1), st->rec_ms, st->obj, 0, to, 0);
  }
  if (rng_chance(r, P_PREV_PERM)) {
    uint32_t kind = (uint32_t)pick_w(r, PREV_PERM_W, N_OF(PREV_PERM));
    csc_date on = max_date(g->dob, st->day - rng_int(r, 100, 3000));
    uint32_t la = kind == 4 ? 0 : (uint32_t)rng_int(r, 201, 938);
    x_add(g, r, st, K_PREV_PERM, st->day, st->rec_ms, st->obj, la, kind, kind == 4 ? 0 : (uint32_t)on);
  }
}

/* Fields of the child's kept event e (see struct gev); cp counts the
 * child's CP plans kept so far. */
static void event_fields(struct lagen *g, struct rng *r, struct gev *e, uint32_t *cp) {
  switch (e->kind) {
  case K_REF_OPEN: {
    int nfa = 0;
    for (size_t i = 0; i < g->n; i++)
      if (g->ev[i].e.kind == K_REF_CLOSE && g->ev[i].e.ref == e->ref && g->ev[i].e.b) nfa = rng_chance(r, 0.9);
    e->b = ((uint32_t)pick_w(r, PRIMARY_NEED_W, 10) + 1) | (uint32_t)nfa << 4;
    break;
  }
  case K_S47_START: e->b = rng_chance(r, 0.95); break;
  case K_S47_DONE: e->b = e->a == 3 && rng_chance(r, 0.15); break;
  case K_CP_START: {
    uint32_t n = *cp + (rng_chance(r, 0.05) ? (uint32_t)rng_int(r, 1, 2) : 0);
    e->b = rng_chance(r, 0.92) ? n | 1u << 8 : 0;
    ++*cp;
    break;
  }
  case K_LEGAL: e->b = RNE_L; break;
  case K_LEAVER: e->b = 1 + ((e->a & 1) ? 0 : (uint32_t)pick_w(r, TOUCH_NOT_W, N_OF(TOUCH_CODES))); break;
  default: break;
  }
}

/* Issue 16's events and fields of the child's kept events ord[0..m) and its
 * allocations alloc[0..n_alloc) (see above). */
static void issue16(struct lagen *g, uint64_t child_no, size_t m, struct gev *alloc, size_t n_alloc) {
  struct rng r;
  rng_init(&r, g->o->seed, 8000 + (uint64_t)g->la, child_no);
  g->extra.n = 0;
  uint32_t cp = 0;
  for (size_t k = 0; k < m; k++) event_fields(g, &r, &g->ev[g->ord[k].idx].e, &cp);
  for (size_t k = 0; k < m; k++) {
    const struct gev *e = &g->ev[g->ord[k].idx].e;
    if (!e->seq) continue; /* a plan started after the history ends */
    if (e->kind == K_POC_START) period_extras(g, &r, e);
    if (e->kind == K_CP_START) reviews(g, &r, e, 0, plan_end(g, e, K_CP_END));
  }
  for (size_t k = 0; k < n_alloc; k++) {
    uint32_t reason = alloc[k].b ? 1 + (uint32_t)pick_w(&r, SW_REASON_W, N_OF(SW_REASONS)) : 0;
    alloc[k].b |= reason << 1 | (worker_traits(g, alloc[k].a) >> 7) << 8;
  }
  const struct gev *child = &g->ev[0].e;
  if (g->uasc && child->seq && g->adult < g->end)
    x_add(g, &r, child, K_UASC_CEASED, max_date(g->adult, child->day), child->rec_ms, 0, 0, child->a, child->b);
}

/* ---- mess ------------------------------------------------------------------------------ */

/*
 * A record's part in the mess (struct gev.mess). Records from MR_AMENDMENT on
 * are new events, with the id "<la>-M<seq><digit>" (seq is that of the event
 * they stem from; digit 1 or 2, see mess_digit).
 */
enum {
  MR_NONE,
  MR_BAD_CODE,      /* the event itself with one code invalid: flags = code | field << 2 */
  MR_DUPLICATE,     /* a copy sent again: rec_ms is where it arrives, flags days after recorded_at */
  MR_AMENDMENT,     /* supersedes event seq */
  MR_ERROR_COPY,    /* a copy entered in error */
  MR_RETRACTION,    /* retracts the error copy, or event seq itself when flags is 1; no payload */
  MR_OVERLAP_START, /* a second plan: its id is the kind's prefix + "M" + seq */
  MR_OVERLAP_END,
};

static int mess_new_id(const struct gev *e) { return e->mess >= MR_AMENDMENT; }
static unsigned mess_digit(const struct gev *e) {
  return e->mess == MR_RETRACTION || e->mess == MR_OVERLAP_END ? 2 : mess_new_id(e) ? 1 : 0;
}

/* Invalid codes an unknown-code event carries: none is a code of any table. */
static const char *const BAD_CODES[] = {"XX", "Z9", "Q1"};

static const unsigned MESS_WEIGHTS[GEN_MESS_KINDS] = {30, 20, 20, 15, 5, 5, 5};
/* The kinds any event can take, for a kind that found no event to fit. */
static const unsigned MESS_WEIGHTS_ANY[GEN_MESS_KINDS] = {30, 20, 20, 15, 0, 0, 5};

static const char *const MESS_NAMES[GEN_MESS_KINDS] = {"backdated", "duplicate",    "supersession", "retraction",
                                                       "overlap",   "unknown_code", "bad_date"};

const char *gen_mess_name(int kind) { return kind >= 0 && kind < GEN_MESS_KINDS ? MESS_NAMES[kind] : NULL; }

static int has_code(const struct gev *e) {
  switch (e->kind) {
  case K_REF_OPEN:
  case K_REF_CLOSE:
  case K_CP_START:
  case K_POC_START:
  case K_PLACEMENT:
  case K_POC_END: return 1;
  case K_ASS_DONE: return e->a != 0;
  default: return 0;
  }
}

static int mess_fits(int kind, const struct gev *e) {
  if (kind == GEN_MESS_OVERLAP) return e->kind == K_CP_START || e->kind == K_CIN_START || e->kind == K_EH_START;
  if (kind == GEN_MESS_UNKNOWN_CODE) return has_code(e);
  return 1;
}

/* An index of a table of n other than cur. */
static uint32_t other_index(struct rng *r, uint32_t cur, int n) {
  return (cur + (uint32_t)rng_int(r, 1, n - 1)) % (uint32_t)n;
}

static int popcount32(uint32_t x) {
  int n = 0;
  for (; x; x &= x - 1) n++;
  return n;
}

/* The bit of the k-th (0-based) set bit of mask. */
static uint32_t nth_bit(uint32_t mask, int k) {
  for (; mask; mask &= mask - 1)
    if (k-- == 0) return mask & -mask;
  return 0;
}

/* Changes one code of e (has_code) to another valid one. */
static void change_code(struct rng *r, struct gev *e) {
  switch (e->kind) {
  case K_REF_OPEN: e->a = other_index(r, e->a, N_OF(SOURCES)); break;
  case K_REF_CLOSE: e->a = other_index(r, e->a, N_OF(CLOSURE)); break;
  case K_CP_START: e->a = other_index(r, e->a, N_OF(CATEGORIES)); break;
  case K_POC_END: e->a = other_index(r, e->a, N_OF(CEASED)); break;
  case K_POC_START:
    switch (rng_int(r, 0, 2)) {
    case 0: e->b = (e->b & ~31u) | other_index(r, e->b & 31, N_OF(LEGAL)); break;
    case 1: e->b = (e->b & ~(15u << 5)) | other_index(r, (e->b >> 5) & 15, N_OF(NEED)) << 5; break;
    default: e->a = (e->a & ~63u) | other_index(r, e->a & 63, N_OF(PLACEMENT_TYPES)); break;
    }
    break;
  case K_PLACEMENT: e->a = (e->a & ~63u) | other_index(r, e->a & 63, N_OF(PLACEMENT_TYPES)); break;
  case K_ASS_DONE: {
    /* One factor recorded is replaced by one that was not. */
    int set = popcount32(e->a);
    if (set == 0 || set == N_OF(FACTORS)) break;
    uint32_t out = nth_bit(e->a, rng_int(r, 0, set - 1));
    uint32_t in = nth_bit(~e->a, rng_int(r, 0, N_OF(FACTORS) - set - 1));
    e->a = (e->a & ~out) | in;
    break;
  }
  default: break;
  }
}

static csc_date rec_day(const struct gev *e) { return date_london_from_unix_ms(e->rec_ms); }

/* A shift of -lo_max..hi days other than 0 (hi may be below 1: then negative). */
static int nonzero_shift(struct rng *r, int lo_max, int hi) {
  if (hi < 1) return -rng_int(r, 1, lo_max);
  int s = rng_int(r, -lo_max, hi - 1);
  return s >= 0 ? s + 1 : s;
}

/* Keeps a record the mess adds when it is recorded before the history ends
 * and in this pass's share. */
static int mess_push(struct lagen *g, const struct gev *e) {
  if (e->rec_ms >= g->end_ms || e->rec_ms < g->lo_ms || e->rec_ms >= g->hi_ms) return 0;
  return vec_push(g->out, e);
}

/* Applies mess of kind `kind` to the child's event e (recorded, with its seq). */
static int mess_apply(struct lagen *g, struct rng *r, struct gev *e, int kind) {
  struct gev c = *e;
  int rc = 0;
  switch (kind) {
  case GEN_MESS_BACKDATED: e->rec_ms = afternoon_ms(r, e->day + rng_int(r, 30, 400)); break;
  case GEN_MESS_DUPLICATE: {
    int days = rng_int(r, 1, 10);
    c.mess = MR_DUPLICATE;
    c.flags = (uint8_t)days;
    c.rec_ms += days * DAY_MS;
    rc = mess_push(g, &c);
    break;
  }
  case GEN_MESS_SUPERSESSION:
    c.mess = MR_AMENDMENT;
    /* Sometimes the correction arrives first. */
    if (rng_chance(r, 0.1)) c.rec_ms = e->rec_ms - rng_int(r, 1, 120) * 60000LL;
    else c.rec_ms = afternoon_ms(r, rec_day(e) + rng_int(r, 1, 60));
    if (has_code(e) && rng_chance(r, 0.5)) change_code(r, &c);
    else c.day = e->day + nonzero_shift(r, 20, min_date(20, rec_day(&c) - e->day));
    rc = mess_push(g, &c);
    break;
  case GEN_MESS_RETRACTION: {
    struct gev x = *e;
    x.mess = MR_RETRACTION;
    if (rng_chance(r, 0.1)) {
      x.flags = 1; /* the real event */
    } else {
      c.mess = MR_ERROR_COPY;
      int shift = rng_int(r, 1, 90);
      /* Never dated after it was recorded: that would be a bad date too. */
      c.day = e->day + shift <= rec_day(e) ? e->day + shift : e->day - shift;
      rc = mess_push(g, &c);
    }
    x.rec_ms = afternoon_ms(r, rec_day(e) + rng_int(r, 1, 30));
    x.day = rec_day(&x);
    if (!rc) rc = mess_push(g, &x);
    break;
  }
  case GEN_MESS_OVERLAP: {
    c.mess = MR_OVERLAP_START;
    c.obj = e->seq;
    c.day = e->day + rng_int(r, 1, 30);
    c.rec_ms = afternoon_ms(r, c.day);
    struct gev x = c;
    x.mess = MR_OVERLAP_END;
    x.kind = e->kind == K_CP_START ? K_CP_END : e->kind == K_CIN_START ? K_CIN_END : K_EH_END;
    x.a = e->kind == K_CP_START ? e->a : 0; /* latest category; early help "COMPLETED" */
    x.day = c.day + rng_int(r, 10, 60);
    if (x.day > g->adult && g->adult > c.day) x.day = g->adult;
    x.rec_ms = afternoon_ms(r, x.day);
    if (c.day < g->end) rc = mess_push(g, &c);
    if (!rc && x.day < g->end) rc = mess_push(g, &x);
    break;
  }
  case GEN_MESS_UNKNOWN_CODE: {
    int field = e->kind == K_POC_START  ? rng_int(r, 0, 2) /* legal status, need, placement type */
                : e->kind == K_ASS_DONE ? rng_int(r, 0, popcount32(e->a) - 1) /* the factor */
                                        : 0;
    e->mess = MR_BAD_CODE;
    e->flags = (uint8_t)(rng_int(r, 0, N_OF(BAD_CODES) - 1) | field << 2);
    break;
  }
  default: /* GEN_MESS_BAD_DATE */
    if (rng_chance(r, 0.5)) {
      e->day = g->dob - rng_int(r, 1, 400);
    } else {
      csc_date d = date_add_months(e->day, 12); /* the year mistyped */
      e->day = d > rec_day(e) ? d : rec_day(e) + 1;
    }
    break;
  }
  return rc;
}

/* Makes the child's kept events ord[0..m) messy (gen_options.mess). */
static int mess_child(struct lagen *g, uint64_t child_no, size_t m) {
  struct rng r;
  rng_init(&r, g->o->seed, 2000 + (uint64_t)g->la, child_no);
  for (size_t k = 0; k < m; k++) {
    const struct gev *e = &g->ev[g->ord[k].idx].e;
    g->ord[k].mess = -1;
    if (e->seq && e->kind != K_CHILD && rng_chance(&r, g->o->mess))
      g->ord[k].mess = pick_w(&r, MESS_WEIGHTS, GEN_MESS_KINDS);
  }
  /* A kind that needs a particular event goes to another of the child's
   * events that fits and has no mess yet, so that the kinds keep their
   * weights; failing that, another kind. */
  for (size_t k = 0; k < m; k++) {
    int kind = g->ord[k].mess;
    if (kind < 0 || mess_fits(kind, &g->ev[g->ord[k].idx].e)) continue;
    size_t fit = 0;
    for (size_t j = 0; j < m; j++) {
      const struct gev *e = &g->ev[g->ord[j].idx].e;
      if (g->ord[j].mess < 0 && e->seq && e->kind != K_CHILD && mess_fits(kind, e)) fit++;
    }
    if (fit == 0) {
      g->ord[k].mess = pick_w(&r, MESS_WEIGHTS_ANY, GEN_MESS_KINDS);
      continue;
    }
    size_t pick_no = (size_t)rng_int(&r, 0, (int)(fit - 1));
    for (size_t j = 0; j < m; j++) {
      const struct gev *e = &g->ev[g->ord[j].idx].e;
      if (g->ord[j].mess < 0 && e->seq && e->kind != K_CHILD && mess_fits(kind, e) && pick_no-- == 0) {
        g->ord[j].mess = kind;
        g->ord[k].mess = -1;
        break;
      }
    }
  }
  for (size_t k = 0; k < m; k++) {
    int kind = g->ord[k].mess;
    if (kind < 0) continue;
    int rc = mess_apply(g, &r, &g->ev[g->ord[k].idx].e, kind);
    if (rc) return rc;
    if (g->stats) g->stats->mess[kind]++;
  }
  return 0;
}

/* Keeps the child's episodes still open on the first day or later (whole,
 * with their earlier events), gives each kept event its recorded_at and
 * sequence, makes them messy (gen_options.mess), and appends them to g->out. */
static int keep_child(struct lagen *g, uint64_t child_no) {
  if (g->oom) return CSC_ENOMEM;
  struct rng *r = &g->r;
  /* Child details are recorded with the first kept referral. */
  csc_date first_day = DATE_NEVER;
  for (size_t i = 1; i < g->n; i++)
    if (g->ev[i].e.kind == K_REF_OPEN && g->ep_end[g->ev[i].episode] >= g->start) {
      first_day = g->ev[i].e.day;
      break;
    }
  if (first_day >= g->end) return 0;
  g->ev[0].e.day = first_day;

  if (g->ord_cap < g->n) {
    struct order *no = realloc(g->ord, g->n * sizeof *no);
    if (!no) return CSC_ENOMEM;
    g->ord = no;
    g->ord_cap = g->n;
  }
  size_t m = 0;
  for (size_t i = 0; i < g->n; i++) {
    const struct tev *t = &g->ev[i];
    if (t->e.day >= g->end || (t->episode >= 0 && g->ep_end[t->episode] < g->start)) continue;
    g->ord[m].day = t->e.day;
    g->ord[m].idx = (int)i;
    m++;
  }
  qsort(g->ord, m, sizeof *g->ord, cmp_order);

  uint32_t child = ++g->n_children;
  int64_t prev_ms = 0;
  csc_date prev_day = 0;
  for (size_t k = 0; k < m; k++) {
    struct tev *t = &g->ev[g->ord[k].idx];
    csc_date d = t->e.day;
    int64_t ms;
    /* Events before the first day were recorded on the day they happened. */
    if (d >= g->start && t->e.kind != K_CHILD && rng_chance(r, P_LATE)) {
      ms = afternoon_ms(r, d + rng_int(r, 1, 30));
    } else {
      ms = afternoon_ms(r, d);
      /* The child's events of one day are recorded in the order they happen. */
      if (prev_day == d && ms <= prev_ms) ms = prev_ms + 30000 + (int64_t)(rng_next(r) % 270000);
      prev_ms = ms;
      prev_day = d;
    }
    /* Never recorded before the event it depends on. */
    if (t->parent >= 0) {
      int64_t pms = g->ev[t->parent].e.rec_ms;
      if (ms <= pms + 60000) ms = pms + 60000 + (int64_t)(rng_next(r) % 120000);
    }
    t->e.rec_ms = ms;
    t->e.child = child;
  }
  for (size_t k = 0; k < m; k++) {
    struct tev *t = &g->ev[g->ord[k].idx];
    if (t->e.rec_ms < g->end_ms) t->e.seq = ++g->n_seq; /* else not yet recorded when the history ends */
  }
  /* Allocations are made before the mess, which may move their referral. */
  struct gev alloc[2 * MAX_EPISODES];
  size_t n_alloc = allocations(g, child_no, m, alloc);
  issue16(g, child_no, m, alloc, n_alloc);
  if (g->oom) return CSC_ENOMEM;
  if (g->o->mess > 0) {
    int rc = mess_child(g, child_no, m);
    if (rc) return rc;
  }
  for (size_t k = 0; k < g->extra.n; k++) {
    const struct gev *e = &g->extra.v[k];
    if (e->rec_ms < g->lo_ms || e->rec_ms >= g->hi_ms) continue; /* another pass's */
    int rc = vec_push(g->out, e);
    if (rc) return rc;
  }
  for (size_t k = 0; k < n_alloc; k++) {
    const struct gev *e = &alloc[k];
    if (e->rec_ms >= g->end_ms || e->rec_ms < g->lo_ms || e->rec_ms >= g->hi_ms) continue;
    int rc = vec_push(g->out, e);
    if (rc) return rc;
  }
  for (size_t k = 0; k < m; k++) {
    struct tev *t = &g->ev[g->ord[k].idx];
    /* rec_ms again: back-dating may have moved it past the end. */
    if (!t->e.seq || t->e.rec_ms >= g->end_ms) continue;
    if (t->e.rec_ms < g->lo_ms || t->e.rec_ms >= g->hi_ms) continue; /* another pass's */
    int rc = vec_push(g->out, &t->e);
    if (rc) return rc;
  }
  return 0;
}

/* Generates one child whose first referral is on r0. */
static int gen_child(struct lagen *g, uint64_t child_no, csc_date r0) {
  rng_init(&g->r, g->o->seed, 1000 + (uint64_t)g->la, child_no);
  struct rng *r = &g->r;
  g->n = 0;
  g->n_ep = 0;
  g->last_close = 0;
  g->oom = 0;
  g->uasc = rng_chance(r, P_UASC);
  /* Age at first referral: bands of years, weighted like England's referrals. */
  static const unsigned age_w[18] = {110, 55, 55, 50, 50, 52, 52, 52, 52, 52, 55, 58, 62, 66, 68, 64, 45, 28};
  int age = g->uasc ? rng_int(r, 14, 17) : pick_w(r, age_w, 18);
  g->dob = date_add_months(r0, -12 * age) - rng_int(r, 0, 364);
  g->adult = date_add_months(g->dob, 216);
  g->disabled = rng_chance(r, g->uasc ? 0.02 : 0.10);

  uint32_t sex = g->uasc ? (rng_chance(r, 0.92) ? 1u : 2u) : (rng_chance(r, 0.01) ? 3u : rng_chance(r, 0.52) ? 1u : 2u);
  int eth = g->uasc ? PICK(r, ETHNICITY_UASC) : PICK(r, ETHNICITY);
  uint32_t dis = 0;
  if (g->disabled) {
    int nd = rng_int(r, 1, 2);
    for (int i = 0; i < nd; i++) dis |= 1u << rng_int(r, 0, N_OF(DISABILITIES) - 1);
  }
  add(g, K_CHILD, r0, -1, 0, 0, (uint32_t)g->dob,
      sex | (uint32_t)eth << 2 | (uint32_t)g->uasc << 7 | dis << 8, g->uasc ? 1 : 0);
  g->ev[0].episode = -1;

  csc_date ref = r0;
  for (int first = 1; ref < g->end && ref < g->adult && g->n_ep < MAX_EPISODES; first = 0) {
    csc_date close, eh;
    episode(g, ref, first, &close, &eh);
    if (g->oom) return CSC_ENOMEM;
    csc_date next = DATE_NEVER;
    csc_date lim = date_add_months(ref, 12) - 2;
    double u = rng_unif(r);
    if (close + 1 < lim && u < Q_QUICK) {
      double v = rng_unif(r);
      next = close + 1 + (csc_date)((lim - close - 1) * v * (0.5 + 0.5 * v));
    } else if (u >= Q_QUICK && u < Q_QUICK + Q_LATER) {
      next = max_date(close + 1, lim + 3) + (csc_date)rng_exp(r, 600);
    }
    if (eh) {
      /* An early help episode: ends on its own, or when the child is referred again. */
      uint32_t id = ++g->n_eh;
      int ieh = add(g, K_EH_START, eh, (int)g->n - 1, 0, id, 0, 0, 0);
      csc_date ee = eh + 14 + (csc_date)rng_gamma2(r, EH_MEAN_DAYS);
      int reason = rng_chance(r, 0.7) ? 0 : rng_chance(r, 0.5) ? 2 : 3;
      if (next != DATE_NEVER && next <= ee) {
        ee = next;
        reason = 1;
      }
      ee = min_date(ee, g->adult);
      if (ee <= eh) ee = eh + 1;
      add(g, K_EH_END, ee, ieh, 0, id, (uint32_t)reason, 0, 0);
    }
    if (next == DATE_NEVER) break;
    ref = next;
  }
  if (g->oom) return CSC_ENOMEM;
  return keep_child(g, child_no);
}

/* ---- options, LAs, populations -------------------------------------------------------- */

void gen_options_default(struct gen_options *o) {
  o->seed = 1;
  o->n_las = 3;
  o->years = 5;
  o->start = date_from_ymd(2021, 4, 1);
  o->scale = 1.0;
  o->mess = 0.0;
}

int gen_options_check(const struct gen_options *o) {
  if (!o || o->n_las < 1 || o->n_las > 99 || o->years < 1 || o->years > 50) return CSC_EINVAL;
  if (!(o->scale > 0.0 && o->scale <= 100.0)) return CSC_EINVAL;
  if (!(o->mess >= 0.0 && o->mess <= 0.5)) return CSC_EINVAL;
  if (o->start < date_from_ymd(1950, 1, 1) || o->start > date_from_ymd(2100, 1, 1)) return CSC_EINVAL;
  return CSC_OK;
}

struct la_params {
  int64_t base;    /* unscaled population in start's year */
  double drift;    /* per year */
  int area;
  int system;
};

static void la_params(const struct gen_options *o, int i, struct la_params *p) {
  struct rng r;
  rng_init(&r, o->seed, 1, (uint64_t)i);
  p->base = POP_MIN + (int64_t)(rng_unif(&r) * (POP_MAX - POP_MIN));
  p->drift = -0.006 + 0.016 * rng_unif(&r);
  p->area = (int)(rng_next(&r) % (uint64_t)N_OF(AREAS));
  p->system = (int)(rng_next(&r) % (uint64_t)N_OF(SOURCE_SYSTEMS));
}

static int64_t scaled(const struct gen_options *o, double pop) {
  double s = pop * o->scale + 0.5;
  return s < 1 ? 1 : (int64_t)s;
}

void gen_la(const struct gen_options *o, int i, char code[16], int64_t *population) {
  struct la_params p;
  la_params(o, i, &p);
  snprintf(code, 16, "E99%06d", i + 1);
  if (population) *population = scaled(o, (double)p.base);
}

static double pop_year(const struct gen_options *o, const struct la_params *p, int year) {
  int y0, m0, d0;
  date_to_ymd(o->start, &y0, &m0, &d0);
  double pop = (double)p->base;
  for (int y = y0; y < year; y++) pop *= 1.0 + p->drift;
  for (int y = year; y < y0; y++) pop /= 1.0 + p->drift;
  return pop;
}

int64_t gen_la_population(const struct gen_options *o, int i, int year) {
  struct la_params p;
  la_params(o, i, &p);
  return scaled(o, pop_year(o, &p, year));
}

static csc_date history_end(const struct gen_options *o) { return date_add_months(o->start, 12 * o->years); }

int gen_write_population(const struct gen_options *o, FILE *f) {
  if (gen_options_check(o)) return CSC_EINVAL;
  int y0, y1, m, d;
  date_to_ymd(o->start, &y0, &m, &d);
  date_to_ymd(history_end(o) - 1, &y1, &m, &d);
  if (fputs("la_code,year,population\n", f) < 0) return CSC_EIO;
  for (int i = 0; i < o->n_las; i++) {
    char code[16];
    gen_la(o, i, code, NULL);
    for (int y = y0; y <= y1; y++)
      if (fprintf(f, "%s,%d,%lld\n", code, y, (long long)gen_la_population(o, i, y)) < 0) return CSC_EIO;
  }
  return ferror(f) ? CSC_EIO : CSC_OK;
}

/* ---- generation of one LA ------------------------------------------------------------- */

static int gen_la_events(const struct gen_options *o, int la, int64_t lo_ms, int64_t hi_ms, struct gev_vec *out,
                         struct gen_stats *stats) {
  struct lagen g;
  memset(&g, 0, sizeof g);
  struct la_params p;
  la_params(o, la, &p);
  g.o = o;
  g.la = la;
  g.area = p.area;
  g.start = o->start;
  g.end = history_end(o);
  g.s0 = date_add_months(o->start, -12 * WARMUP_YEARS);
  g.end_ms = date_london_midnight_ms(g.end);
  g.lo_ms = lo_ms;
  g.hi_ms = hi_ms;
  g.out = out;
  g.stats = stats;
  struct roster ro;
  g.roster = &ro;
  int y0, m0, d0;
  date_to_ymd(o->start, &y0, &m0, &d0);
  int rc = wf_generate(&g, pop_year(o, &p, y0) * o->scale, &ro);

  struct rng r;
  rng_init(&r, o->seed, 2, (uint64_t)la);
  uint64_t child_no = 0;
  int cur_year = -1;
  double per_day = 0;
  for (csc_date d = g.s0; d < g.end && !rc; d++) {
    int y, m, dd;
    date_to_ymd(d, &y, &m, &dd);
    if (y != cur_year) {
      cur_year = y;
      double pop = pop_year(o, &p, y) * o->scale;
      per_day = pop / 10000.0 * NEW_CHILD_RATE / 365.2425;
    }
    /* Weekdays 1.15, weekends 0.375, normalised to a mean of 1. */
    double f = weekday(d) < 5 ? 1.15 / 0.92857 : 0.375 / 0.92857;
    int n = rng_poisson(&r, per_day * f);
    for (int k = 0; k < n && !rc; k++) rc = gen_child(&g, child_no++, d);
  }
  free(g.ev);
  free(g.ord);
  free(g.extra.v);
  roster_free(&ro);
  return rc;
}

/* ---- emission --------------------------------------------------------------------------- */

/* The kind of an event's id: 0 "<la>-<seq>", 1 "<la>-A<seq>" (an
 * allocation), 2 "<la>-M<seq><digit>" (added by the mess), 3 "<la>-W<seq>"
 * (the workforce), 4 "<la>-X<seq>" (issue 16's events): the order of their
 * event ids. */
static int id_class(const struct gev *e) {
  if (e->kind == K_ALLOC) return 1;
  if (e->kind == K_WF) return 3;
  if (e->kind >= K_REVIEW) return 4;
  return mess_new_id(e) ? 2 : 0;
}

static int cmp_gev(const void *pa, const void *pb) {
  const struct gev *a = pa, *b = pb;
  if (a->rec_ms != b->rec_ms) return a->rec_ms < b->rec_ms ? -1 : 1;
  if (a->la != b->la) return a->la < b->la ? -1 : 1;
  /* event_id order: "<la>-<digits>", "<la>-A...", "<la>-M...", "<la>-W...", "<la>-X..." */
  if (id_class(a) != id_class(b)) return id_class(a) - id_class(b);
  if (a->seq != b->seq) return a->seq < b->seq ? -1 : 1;
  return (int)mess_digit(a) - (int)mess_digit(b);
}

/* A plan id: prefix and 7 digits, or for a plan the mess adds, prefix, "M"
 * and 9 digits (obj is then the sequence of the event it stems from). */
static void plan_id(char *buf, size_t len, const char *prefix, const struct gev *e) {
  if (e->mess == MR_OVERLAP_START || e->mess == MR_OVERLAP_END) snprintf(buf, len, "%sM%09u", prefix, e->obj);
  else snprintf(buf, len, "%s%07u", prefix, e->obj);
}

static void fill_placement(Cscflow__V1__Placement *p, uint32_t a, uint32_t b, char *district, size_t dlen) {
  p->placement_type = (char *)PLACEMENT_TYPES[a & 63];
  p->provider = (char *)PROVIDERS[(a >> 6) & 7];
  snprintf(district, dlen, "%s%u", AREAS[(a >> 9) & 63], (a >> 15) & 63);
  p->postcode_district = district;
  p->distance_known = (a >> 21) & 1;
  p->distance_miles_x10 = p->distance_known ? b >> 16 : 0;
}

static int is_post_change(uint32_t change) {
  return change == CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_ESTABLISHED ||
         change == CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_VACANT ||
         change == CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_POST_FILLED;
}

/* Emits an allocation (K_ALLOC) or workforce event (K_WF) in the envelope
 * ev. A workforce event has no child: a post's names its post, the others
 * their worker; STARTED carries FTE, agency and case holding, CASELOAD the
 * caseload and case holding, ABSENCE its days, a post's change its FTE. */
static int emit_staff(const struct gev *e, Cscflow__V1__CaseEvent *ev, gen_emit_fn emit, void *ctx) {
  char worker[16], post[16];
  snprintf(worker, sizeof worker, "W%06u", e->kind == K_ALLOC ? e->a : e->obj);
  snprintf(post, sizeof post, "P%05u", e->ref);
  if (e->kind == K_ALLOC) {
    Cscflow__V1__WorkerAllocated wa = CSCFLOW__V1__WORKER_ALLOCATED__INIT;
    char team[8];
    wa.worker_id = worker;
    wa.deallocated = e->b & 1;
    snprintf(team, sizeof team, "T%02u", (e->b >> 8) & 31);
    wa.team_id = team;
    uint32_t reason = (e->b >> 1) & 7;
    wa.end_reason = (char *)(reason ? SW_REASONS[reason - 1] : "");
    ev->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKER_ALLOCATED;
    ev->worker_allocated = &wa;
    return emit(ctx, ev);
  }
  Cscflow__V1__WorkforceEvent wf = CSCFLOW__V1__WORKFORCE_EVENT__INIT;
  char team[8];
  wf.change = (Cscflow__V1__WorkforceChange)e->a;
  const uint32_t fte = e->b & 127, value = e->b >> 9;
  const int agency = (e->b >> 7) & 1, holding = (e->b >> 8) & 1;
  if (is_post_change(e->a)) {
    wf.post_id = post;
    wf.fte_x100 = fte;
  } else {
    wf.worker_id = worker;
  }
  switch (e->a) {
  case CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_STARTED:
    wf.fte_x100 = fte;
    wf.agency = agency;
    wf.case_holding = holding;
    wf.ethnicity = (char *)WF_ETHNICITY[value & 31].code;
    wf.seniority = (Cscflow__V1__Seniority)((value >> 5) & 3);
    snprintf(team, sizeof team, "T%02u", (value >> 7) & 31);
    wf.team_id = team;
    break;
  case CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_CASELOAD:
    wf.caseload = value;
    wf.case_holding = holding;
    break;
  case CSCFLOW__V1__WORKFORCE_CHANGE__WORKFORCE_CHANGE_ABSENCE: wf.sickness_days = value; break;
  default: break;
  }
  ev->child_id = "";
  ev->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_WORKFORCE;
  ev->workforce = &wf;
  return emit(ctx, ev);
}

/* Emits one of issue 16's events (K_REVIEW .. K_LEGAL16 but K_UASC_CEASED)
 * in the envelope ev. */
static int emit_issue16(const struct gev *e, Cscflow__V1__CaseEvent *ev, gen_emit_fn emit, void *ctx) {
  char id[24], la[8];
  Cscflow__V1__ReviewHeld rh = CSCFLOW__V1__REVIEW_HELD__INIT;
  Cscflow__V1__MissingStarted ms = CSCFLOW__V1__MISSING_STARTED__INIT;
  Cscflow__V1__MissingEnded me = CSCFLOW__V1__MISSING_ENDED__INIT;
  Cscflow__V1__CategoryOfNeedChanged cn = CSCFLOW__V1__CATEGORY_OF_NEED_CHANGED__INIT;
  Cscflow__V1__PreviousPermanence pp = CSCFLOW__V1__PREVIOUS_PERMANENCE__INIT;
  Cscflow__V1__LegalStatusChanged lsc = CSCFLOW__V1__LEGAL_STATUS_CHANGED__INIT;
  static const char *const PN[8] = {"PN0", "PN1", "PN2", "PN3", "PN4", "PN5", "PN6", "PN7"};
  switch (e->kind) {
  case K_REVIEW: {
    int lac = (e->a & 3) == CSCFLOW__V1__REVIEW_KIND__REVIEW_KIND_LAC;
    snprintf(id, sizeof id, lac ? "PC%07u" : "CP%07u", e->obj);
    rh.plan_id = id;
    rh.kind = (Cscflow__V1__ReviewKind)(e->a & 3);
    rh.participation_code = (char *)(lac ? PN[(e->a >> 2) & 7] : "");
    ev->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REVIEW_HELD;
    ev->review_held = &rh;
    break;
  }
  case K_MISS_START:
  case K_MISS_END:
    snprintf(id, sizeof id, "MIS%07u%03u", e->obj, e->ref);
    if (e->kind == K_MISS_START) {
      ms.episode_id = id;
      ms.kind = (Cscflow__V1__MissingKind)e->a;
      ev->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_MISSING_STARTED;
      ev->missing_started = &ms;
    } else {
      me.episode_id = id;
      ev->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_MISSING_ENDED;
      ev->missing_ended = &me;
    }
    break;
  case K_NEED:
    snprintf(id, sizeof id, "PC%07u", e->obj);
    cn.period_id = id;
    cn.category_of_need = (char *)NEED[e->a & 15].code;
    ev->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CATEGORY_OF_NEED_CHANGED;
    ev->category_of_need_changed = &cn;
    break;
  case K_PREV_PERM:
    snprintf(la, sizeof la, "%u", e->ref);
    pp.kind_code = (char *)PREV_PERM[e->a];
    pp.la_code = e->ref ? la : "";
    pp.order_date = e->b ? date_to_yyyymmdd((csc_date)(int32_t)e->b) : 0;
    ev->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_PREVIOUS_PERMANENCE;
    ev->previous_permanence = &pp;
    break;
  default: /* K_LEGAL16 */
    snprintf(id, sizeof id, "PC%07u", e->obj);
    lsc.period_id = id;
    lsc.legal_status = (char *)LEGAL[e->a];
    lsc.reason_for_new_episode = (char *)RNE_CODES[e->b];
    ev->payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_LEGAL_STATUS_CHANGED;
    ev->legal_status_changed = &lsc;
    break;
  }
  return emit(ctx, ev);
}

static int emit_one(const struct gev *e, char codes[][16], const int *systems, gen_emit_fn emit, void *ctx) {
  Cscflow__V1__CaseEvent ev = CSCFLOW__V1__CASE_EVENT__INIT;
  char event_id[32], child_id[16], id1[16], id2[16], district[16], target[32];
  const char *factor_ptrs[32];

  switch (id_class(e)) {
  case 1: snprintf(event_id, sizeof event_id, "%s-A%09u", codes[e->la], e->seq); break;
  case 2: snprintf(event_id, sizeof event_id, "%s-M%09u%u", codes[e->la], e->seq, mess_digit(e)); break;
  case 3: snprintf(event_id, sizeof event_id, "%s-W%09u", codes[e->la], e->seq); break;
  case 4: snprintf(event_id, sizeof event_id, "%s-X%09u", codes[e->la], e->seq); break;
  default: snprintf(event_id, sizeof event_id, "%s-%09u", codes[e->la], e->seq); break;
  }
  snprintf(child_id, sizeof child_id, "C%07u", e->child);
  snprintf(id2, sizeof id2, "R%08u", e->ref);
  ev.event_id = event_id;
  ev.la_code = codes[e->la];
  ev.child_id = child_id;
  ev.occurred_on = date_to_yyyymmdd(e->day);
  /* A duplicate arrives later but is the same message. */
  ev.recorded_at_ms = e->mess == MR_DUPLICATE ? e->rec_ms - e->flags * DAY_MS : e->rec_ms;
  ev.source_system = (char *)SOURCE_SYSTEMS[systems[e->la]];
  if (e->kind == K_ALLOC || e->kind == K_WF) return emit_staff(e, &ev, emit, ctx);
  if (e->kind >= K_REVIEW && e->kind != K_UASC_CEASED) return emit_issue16(e, &ev, emit, ctx);
  if (e->mess == MR_AMENDMENT) {
    snprintf(target, sizeof target, "%s-%09u", codes[e->la], e->seq);
    ev.supersedes_event_id = target;
  } else if (e->mess == MR_RETRACTION) {
    if (e->flags & 1) snprintf(target, sizeof target, "%s-%09u", codes[e->la], e->seq);
    else snprintf(target, sizeof target, "%s-M%09u1", codes[e->la], e->seq);
    ev.retracts_event_id = target;
    return emit(ctx, &ev); /* a retraction carries no payload */
  }
  const char *bad = e->mess == MR_BAD_CODE ? BAD_CODES[e->flags & 3] : NULL;
  int bad_field = e->flags >> 2;

  Cscflow__V1__ChildDetails cd = CSCFLOW__V1__CHILD_DETAILS__INIT;
  Cscflow__V1__ReferralOpened ro = CSCFLOW__V1__REFERRAL_OPENED__INIT;
  Cscflow__V1__ReferralClosed rc = CSCFLOW__V1__REFERRAL_CLOSED__INIT;
  Cscflow__V1__EarlyHelpStarted ehs = CSCFLOW__V1__EARLY_HELP_STARTED__INIT;
  Cscflow__V1__EarlyHelpEnded ehe = CSCFLOW__V1__EARLY_HELP_ENDED__INIT;
  Cscflow__V1__AssessmentStarted as = CSCFLOW__V1__ASSESSMENT_STARTED__INIT;
  Cscflow__V1__AssessmentCompleted ac = CSCFLOW__V1__ASSESSMENT_COMPLETED__INIT;
  Cscflow__V1__StrategyDiscussion sd = CSCFLOW__V1__STRATEGY_DISCUSSION__INIT;
  Cscflow__V1__Section47Started s47s = CSCFLOW__V1__SECTION47_STARTED__INIT;
  Cscflow__V1__Section47Completed s47c = CSCFLOW__V1__SECTION47_COMPLETED__INIT;
  Cscflow__V1__IcpcHeld icpc = CSCFLOW__V1__ICPC_HELD__INIT;
  Cscflow__V1__CinPlanStarted cins = CSCFLOW__V1__CIN_PLAN_STARTED__INIT;
  Cscflow__V1__CinPlanEnded cine = CSCFLOW__V1__CIN_PLAN_ENDED__INIT;
  Cscflow__V1__CpPlanStarted cps = CSCFLOW__V1__CP_PLAN_STARTED__INIT;
  Cscflow__V1__CpPlanEnded cpe = CSCFLOW__V1__CP_PLAN_ENDED__INIT;
  Cscflow__V1__ChildSeen seen = CSCFLOW__V1__CHILD_SEEN__INIT;
  Cscflow__V1__PeriodOfCareStarted pcs = CSCFLOW__V1__PERIOD_OF_CARE_STARTED__INIT;
  Cscflow__V1__PeriodOfCareEnded pce = CSCFLOW__V1__PERIOD_OF_CARE_ENDED__INIT;
  Cscflow__V1__PlacementStarted ps = CSCFLOW__V1__PLACEMENT_STARTED__INIT;
  Cscflow__V1__Placement pl = CSCFLOW__V1__PLACEMENT__INIT;
  Cscflow__V1__LegalStatusChanged lsc = CSCFLOW__V1__LEGAL_STATUS_CHANGED__INIT;
  Cscflow__V1__AdoptionMilestone am = CSCFLOW__V1__ADOPTION_MILESTONE__INIT;
  Cscflow__V1__CareLeaverContact clc = CSCFLOW__V1__CARE_LEAVER_CONTACT__INIT;
  char accommodation[3] = {0}; /* clc.accommodation_code: letter and suitability */
  Cscflow__V1__SdqScore sdq = CSCFLOW__V1__SDQ_SCORE__INIT;
  Cscflow__V1__CourtApplication ca = CSCFLOW__V1__COURT_APPLICATION__INIT;
  Cscflow__V1__PermanenceOrder po = CSCFLOW__V1__PERMANENCE_ORDER__INIT;

  switch (e->kind) {
  case K_CHILD:
  case K_UASC_CEASED: {
    static const Cscflow__V1__Sex sexes[] = {CSCFLOW__V1__SEX__SEX_UNSPECIFIED, CSCFLOW__V1__SEX__SEX_MALE,
                                             CSCFLOW__V1__SEX__SEX_FEMALE, CSCFLOW__V1__SEX__SEX_UNKNOWN};
    cd.date_of_birth = date_to_yyyymmdd((csc_date)(int32_t)e->a);
    cd.sex = sexes[e->b & 3];
    int uasc = (e->b >> 7) & 1;
    cd.ethnicity = (char *)(uasc ? ETHNICITY_UASC : ETHNICITY)[(e->b >> 2) & 31].code;
    cd.uasc = uasc;
    if (e->kind == K_UASC_CEASED) cd.uasc_ceased_on = date_to_yyyymmdd(e->day);
    uint32_t dis = e->b >> 8;
    size_t nd = 0;
    for (int i = 0; i < N_OF(DISABILITIES); i++)
      if (dis & (1u << i)) factor_ptrs[nd++] = DISABILITIES[i];
    cd.disabled = nd > 0;
    cd.n_disabilities = nd;
    cd.disabilities = (char **)factor_ptrs;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_DETAILS;
    ev.child_details = &cd;
    break;
  }
  case K_REF_OPEN:
    ro.referral_id = id2;
    ro.source = (char *)(bad ? bad : SOURCES[e->a].code);
    snprintf(id1, sizeof id1, "N%u", (e->b & 15) - 1);
    ro.primary_need = (e->b & 15) ? id1 : "";
    ro.no_further_action = (e->b >> 4) & 1;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_OPENED;
    ev.referral_opened = &ro;
    break;
  case K_REF_CLOSE:
    rc.referral_id = id2;
    rc.no_further_action = e->b != 0;
    rc.closure_reason = (char *)(bad ? bad : CLOSURE[e->a]);
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_REFERRAL_CLOSED;
    ev.referral_closed = &rc;
    break;
  case K_EH_START:
  case K_EH_END:
    plan_id(id1, sizeof id1, "EH", e);
    if (e->kind == K_EH_START) {
      ehs.episode_id = id1;
      ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_STARTED;
      ev.early_help_started = &ehs;
    } else {
      ehe.episode_id = id1;
      ehe.reason = (char *)EH_END[e->a & 3];
      ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_EARLY_HELP_ENDED;
      ev.early_help_ended = &ehe;
    }
    break;
  case K_ASS_START:
    snprintf(id1, sizeof id1, "A%08u", e->ref);
    as.assessment_id = id1;
    as.referral_id = id2;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_STARTED;
    ev.assessment_started = &as;
    break;
  case K_ASS_DONE: {
    snprintf(id1, sizeof id1, "A%08u", e->ref);
    ac.assessment_id = id1;
    ac.referral_id = id2;
    size_t nf = 0;
    for (int i = 0; i < N_OF(FACTORS); i++)
      if (e->a & (1u << i)) factor_ptrs[nf++] = FACTORS[i].code;
    if (bad && (size_t)bad_field < nf) factor_ptrs[bad_field] = bad;
    ac.n_factors = nf;
    ac.factors = (char **)factor_ptrs;
    ac.outcome = (Cscflow__V1__AssessmentOutcome)e->b;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_ASSESSMENT_COMPLETED;
    ev.assessment_completed = &ac;
    break;
  }
  case K_STRAT:
    sd.referral_id = id2;
    sd.section47_agreed = e->a != 0;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_STRATEGY_DISCUSSION;
    ev.strategy_discussion = &sd;
    break;
  case K_S47_START:
    snprintf(id1, sizeof id1, "S%08u", e->ref);
    s47s.enquiry_id = id1;
    s47s.referral_id = id2;
    if (e->b) s47s.icpc_target_date = date_to_yyyymmdd(wd_add(e->day, 15));
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_STARTED;
    ev.section47_started = &s47s;
    break;
  case K_S47_DONE:
    snprintf(id1, sizeof id1, "S%08u", e->ref);
    s47c.enquiry_id = id1;
    s47c.outcome = (Cscflow__V1__Section47Outcome)e->a;
    s47c.icpc_not_required = e->b & 1;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_SECTION47_COMPLETED;
    ev.section47_completed = &s47c;
    break;
  case K_ICPC:
    snprintf(id1, sizeof id1, "S%08u", e->ref);
    icpc.enquiry_id = id1;
    icpc.plan_agreed = e->a != 0;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_ICPC_HELD;
    ev.icpc_held = &icpc;
    break;
  case K_CIN_START:
    plan_id(id1, sizeof id1, "CIN", e);
    cins.plan_id = id1;
    cins.referral_id = id2;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_STARTED;
    ev.cin_plan_started = &cins;
    break;
  case K_CIN_END:
    plan_id(id1, sizeof id1, "CIN", e);
    cine.plan_id = id1;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CIN_PLAN_ENDED;
    ev.cin_plan_ended = &cine;
    break;
  case K_CP_START:
    plan_id(id1, sizeof id1, "CP", e);
    cps.plan_id = id1;
    cps.referral_id = id2;
    cps.initial_category = (char *)(bad ? bad : CATEGORIES[e->a].code);
    cps.previous_cp_plans = e->b & 255;
    cps.previous_cp_plans_recorded = (e->b >> 8) & 1;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_STARTED;
    ev.cp_plan_started = &cps;
    break;
  case K_CP_END:
    plan_id(id1, sizeof id1, "CP", e);
    cpe.plan_id = id1;
    cpe.latest_category = (char *)CATEGORIES[e->a].code;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CP_PLAN_ENDED;
    ev.cp_plan_ended = &cpe;
    break;
  case K_SEEN: {
    int plan = (e->a >> 4) & 3;
    snprintf(id1, sizeof id1, plan == PLAN_CP ? "CP%07u" : plan == PLAN_CIN ? "CIN%07u" : "PC%07u", e->obj);
    seen.plan_id = id1;
    seen.seen_by = (Cscflow__V1__SeenBy)(e->a & 3);
    seen.seen_alone = (e->a >> 2) & 1;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CHILD_SEEN;
    ev.child_seen = &seen;
    break;
  }
  case K_POC_START:
    snprintf(id1, sizeof id1, "PC%07u", e->obj);
    pcs.period_id = id1;
    pcs.legal_status = (char *)(bad && bad_field == 0 ? bad : LEGAL[e->b & 31]);
    pcs.category_of_need = (char *)(bad && bad_field == 1 ? bad : NEED[(e->b >> 5) & 15].code);
    pcs.uasc = (e->b >> 9) & 1;
    fill_placement(&pl, e->a, e->b, district, sizeof district);
    if (bad && bad_field == 2) pl.placement_type = (char *)bad;
    pcs.placement = &pl;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_STARTED;
    ev.period_of_care_started = &pcs;
    break;
  case K_POC_END:
    snprintf(id1, sizeof id1, "PC%07u", e->obj);
    pce.period_id = id1;
    pce.reason_ceased = (char *)(bad ? bad : CEASED[e->a]);
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERIOD_OF_CARE_ENDED;
    ev.period_of_care_ended = &pce;
    break;
  case K_PLACEMENT:
    snprintf(id1, sizeof id1, "PC%07u", e->obj);
    ps.period_id = id1;
    fill_placement(&pl, e->a, e->b, district, sizeof district);
    if (bad) pl.placement_type = (char *)bad;
    ps.placement = &pl;
    ps.reason_for_change = (char *)PLACEMENT_CHANGE[(e->b >> 10) & 15].code;
    ps.reason_for_new_episode = (char *)RNE_CODES[e->b & 7];
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_PLACEMENT_STARTED;
    ev.placement_started = &ps;
    break;
  case K_LEGAL:
    snprintf(id1, sizeof id1, "PC%07u", e->obj);
    lsc.period_id = id1;
    lsc.legal_status = (char *)LEGAL[e->a];
    lsc.reason_for_new_episode = (char *)RNE_CODES[e->b <= RNE_L ? e->b : 0];
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_LEGAL_STATUS_CHANGED;
    ev.legal_status_changed = &lsc;
    break;
  case K_ADOPT:
    am.stage = (Cscflow__V1__AdoptionStage)e->a;
    am.early_permanence = e->b & 1;
    am.placed_with_foster_carer = (e->b >> 1) & 1;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_ADOPTION_MILESTONE;
    ev.adoption_milestone = &am;
    break;
  case K_LEAVER:
    clc.in_touch = e->a & 1;
    clc.in_touch_code = (char *)(e->b ? TOUCH_CODES[e->b - 1] : "");
    if (clc.in_touch) {
      clc.activity_code = (char *)leaver_activity_code((int)((e->a >> 1) & 31), e->day);
      clc.accommodation_suitable = (e->a >> 11) & 1;
      accommodation[0] = LEAVER_ACCOM[(e->a >> 6) & 31].code[0];
      accommodation[1] = clc.accommodation_suitable ? '1' : '2';
      clc.accommodation_code = accommodation;
      clc.activity = (Cscflow__V1__CareLeaverActivity)((e->a >> 12) & 7);
    }
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_CARE_LEAVER_CONTACT;
    ev.care_leaver_contact = &clc;
    break;
  case K_SDQ:
    sdq.score = e->a;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_SDQ_SCORE;
    ev.sdq_score = &sdq;
    break;
  case K_COURT:
    ca.kind = (Cscflow__V1__CourtOrderKind)e->a;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_COURT_APPLICATION;
    ev.court_application = &ca;
    break;
  case K_PERM:
    po.kind = (Cscflow__V1__PermanenceKind)e->a;
    ev.payload_case = CSCFLOW__V1__CASE_EVENT__PAYLOAD_PERMANENCE_ORDER;
    ev.permanence_order = &po;
    break;
  default: break;
  }
  return emit(ctx, &ev);
}

static int run_passes(const struct gen_options *o, int passes, gen_emit_fn emit, void *ctx, struct gen_stats *stats) {
  if (gen_options_check(o) || !emit || passes < 1 || passes > GEN_MAX_PASSES) return CSC_EINVAL;
  if (stats) memset(stats, 0, sizeof *stats);
  char codes[99][16];
  int systems[99];
  for (int i = 0; i < o->n_las; i++) {
    struct la_params p;
    la_params(o, i, &p);
    gen_la(o, i, codes[i], NULL);
    systems[i] = p.system;
  }
  /* Pass k keeps the events recorded in its share of the history (the
   * first also those recorded before it starts): the passes' sorted events,
   * one after the other, are the whole history sorted. */
  int64_t t0 = date_london_midnight_ms(o->start), t1 = date_london_midnight_ms(history_end(o));
  struct gev_vec all = {0};
  int rc = 0;
  for (int k = 0; k < passes && !rc; k++) {
    int64_t lo = k == 0 ? INT64_MIN : t0 + (t1 - t0) / passes * k;
    int64_t hi = k == passes - 1 ? INT64_MAX : t0 + (t1 - t0) / passes * (k + 1);
    all.n = 0;
    /* Every pass makes the same mess; the first counts it. */
    for (int i = 0; i < o->n_las && !rc; i++) rc = gen_la_events(o, i, lo, hi, &all, k == 0 ? stats : NULL);
    if (rc) break;
    qsort(all.v, all.n, sizeof *all.v, cmp_gev);
    for (size_t j = 0; j < all.n && !rc; j++) rc = emit_one(&all.v[j], codes, systems, emit, ctx);
  }
  free(all.v);
  return rc;
}

int gen_run_passes(const struct gen_options *o, int passes, gen_emit_fn emit, void *ctx) {
  return run_passes(o, passes, emit, ctx, NULL);
}

int gen_run_stats(const struct gen_options *o, gen_emit_fn emit, void *ctx, struct gen_stats *stats) {
  if (stats) memset(stats, 0, sizeof *stats);
  if (gen_options_check(o) || !emit) return CSC_EINVAL;
  /* About 0.9 events per child per year of history (seeded open cases and
   * the workforce included); plan for 1.0 and keep at most GEN_PASS_EVENTS
   * in memory. Mess adds up to ~0.8 records per event made messy. */
  double est = 0;
  for (int i = 0; i < o->n_las; i++) {
    int64_t pop;
    char code[16];
    gen_la(o, i, code, &pop);
    est += (double)pop * o->years;
  }
  est *= 1.0 + 0.8 * o->mess;
  double p = est / GEN_PASS_EVENTS;
  int passes = p <= 1 ? 1 : p >= GEN_MAX_PASSES ? GEN_MAX_PASSES : (int)p + 1;
  return run_passes(o, passes, emit, ctx, stats);
}

int gen_run(const struct gen_options *o, gen_emit_fn emit, void *ctx) { return gen_run_stats(o, emit, ctx, NULL); }
