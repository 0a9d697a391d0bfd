/*
 * gen.h — a deterministic generator of synthetic children's social care
 * histories, for demos, tests and benchmarks.
 *
 * The generator invents N local authorities (LAs) with synthetic ONS-style
 * codes ("E99000001", ...; the E99 prefix is never a real LA) and, for each,
 * the CaseEvents its case-management system would emit over a number of
 * years: children referred (and re-referred), assessed, taken through
 * Section 47 enquiries and conferences, put on child in need (CIN) and child
 * protection (CP) plans, looked after with placements and placement moves,
 * adopted, leaving care. Its rates are near England's published figures:
 *
 *   referrals                 ~540 per 10,000 children a year
 *   re-referrals              ~22% of referrals within 12 months of the last
 *   children on a CP plan     ~42 per 10,000 on any day (most plans < 2 years)
 *   children looked after     ~70 per 10,000 on any day (excluding V3/V4
 *                                 short breaks)
 *   events recorded late      ~8% recorded 1-30 days after they occurred
 *
 * Cases already open on the first day are part of the history (their earlier
 * events carry their own dates, recorded on the day), so the point-in-time
 * counts are near their steady state from the first day; so are the care
 * histories of care leavers still being contacted. Every other event occurs
 * within [start, start + years), and is recorded before the end of the
 * history: events recorded later are not yet in the history. Referrals
 * closed before the first day are not in it, so re-referral rates of the
 * first year read low.
 *
 * Stream guarantees with mess 0 (tests/test_gen.c checks them): every
 * child's first event is its ChildDetails; an event is never recorded before
 * the event it depends on (a plan's end after its start, a re-referral after
 * the previous referral's closure), so a child never has two referrals open
 * at once; a child's events of one day, when recorded that day, are recorded
 * in the order they happened; events arrive in recorded_at order; event ids
 * are unique; every code is valid; no event is dated after it is recorded.
 * Visits (ChildSeen) are about half of all events. Working days skip
 * weekends but not bank holidays.
 *
 * The social work workforce. Each LA has about 16 FTE of social work posts
 * per 10,000 children (of 1.0 FTE, or 0.5-0.9 for one in five), which with
 * the allocations below gives a mean caseload of ~16 children per
 * case-holding worker. Posts are established before the history starts and
 * pass from holder to holder: a holder stays ~6.7 years on average
 * (turnover ~15% a year), then the post is vacant ~90 days on average
 * (~3.5% of posts vacant); ~15% of holders are agency workers and ~80%
 * case-holding. WorkforceEvents (no child_id; recorded on the day they
 * happen): POST_ESTABLISHED, POST_FILLED and POST_VACANT with the post's
 * post_id and FTE; STARTED (FTE, agency, case_holding), LEFT, ABSENCE
 * (sickness_days 1-20, ~10 days per FTE a year) and monthly CASELOAD reports
 * from the day a worker starts (caseload 10-25 when case-holding, else 0)
 * with the worker's worker_id; one worker in four reports first 3 months
 * after starting (until then their STARTED says whether they hold cases). The history holds them from 12 months before
 * its first day (so 12-month windows are full from the first day), with the
 * posts and employments they depend on and the caseload reports in force on
 * the first day. Children: a case-holding worker is allocated
 * (WorkerAllocated, recorded just after the referral) on the day of each
 * referral that leads to a CIN or CP plan or a period of care, and
 * deallocated on the day the referral closes; referrals closed at or after
 * assessment without one are not allocated. A child keeps its worker until
 * the closure even if the worker leaves. These events add ~8% to a
 * history; they come from random streams of their own, so the children's
 * other events are byte for byte those of a generator without them.
 *
 * What the returns record (issue 16), from random streams of their own
 * made after each child's other events (so those are byte for byte what
 * they were, but for the new fields), with ids "<la>-X" + a 9-digit
 * sequence of the LA's own:
 *   ReviewHeld          LAC reviews of each period of care not under V3/V4
 *                       at its start (the first within 20 working days, the
 *                       second 3 months after it, then 6-monthly, each up to
 *                       30 days early; ~5% late by 1-30 days), with a
 *                       participation code (PN0 under 4, else PN1-PN7); CP
 *                       reviews of each CP plan (the first within 3 months,
 *                       then 6-monthly; ~5% late); each names its plan
 *   MissingStarted/Ended a child in ~17% of periods of care begun at 12 or
 *                       over (2% under 12) goes missing every ~6 weeks
 *                       (~10% of children looked after in a year, ~5
 *                       missing incidents each), kind A (away) for 20%; 95%
 *                       end 0-7 days later
 *                       (within the period); short-breaks periods too (an
 *                       incident outside care)
 *   CategoryOfNeedChanged ~6% of periods (not UASC) change need once
 *   PreviousPermanence  ~8% of periods: P1-P4 or Z1, LA_PERM "201".."938"
 *                       and DATE_PERM (none for Z1)
 *   ChildDetails again  on a UASC child's 18th birthday: uasc_ceased_on
 *   LegalStatusChanged  ~15% of placement moves of a V2 or C1 period with no
 *                       later change: C2 the same day (RNE B, or U with the
 *                       same carer)
 * and fields: ReferralOpened.primary_need (N0-N9, ~57% N1) and
 * no_further_action (90% of referrals closed with NFA);
 * Section47Started.icpc_target_date (15 working days after it, 95%);
 * Section47Completed.icpc_not_required (15% of CONTINUE_CIN outcomes);
 * CpPlanStarted.previous_cp_plans (the child's earlier CP plans in the
 * history, 5% one or two more; recorded for 92%); PlacementStarted RNE (P;
 * T for 10% and for every placement for adoption with the foster carer; U/B
 * above); LegalStatusChanged RNE L; CareLeaverContact.in_touch_code (YES
 * when in touch, else NO 55, REFU 20, NREQ 12, RHOM 10, DIED 3 in 100);
 * WorkerAllocated.team_id ("T01".."T12", the worker's) and, on
 * deallocation, end_reason (MANAGE 70%, LEFTRL, FCONTA, ORGRST, OTHERS);
 * WorkforceEvent STARTED's ethnicity (CIN census codes, ~70% white, ~14%
 * black, ~8% asian), seniority (1: 70%, 2: 22%, 3: 8%) and team_id.
 *
 * Determinism: the output is a function of the options only (same options,
 * same bytes). LA i's history does not depend on n_las, so LA 0 of a 3-LA run
 * is LA 0 of a 1-LA run. There is no global state: calls are thread-safe.
 *
 * Mess. Case records are messy, and the processor must cope, so with
 * gen_options.mess = p > 0 each generated event except ChildDetails is, with
 * probability p, given one of these (weights of the kinds in brackets; a kind
 * that needs a particular event, overlap or unknown code, goes to another of
 * the child's events that qualifies, or when there is none is drawn again
 * among the kinds that fit every event, so overlaps come to ~3.5% of the
 * mess at a rate of 0.05, and fewer at higher rates):
 *   back-dated [30]     recorded 30..400 days after it occurred, whatever
 *                       depends on it (a plan's end may arrive before its
 *                       start; one recorded after the history's end is not in
 *                       it)
 *   duplicate [20]      sent twice: an exact copy (same event_id, same bytes,
 *                       same recorded_at_ms) arrives again 1..10 days after it
 *                       was recorded, so the stream is no longer in
 *                       recorded_at order
 *   supersession [20]   an amendment (same child, payload kind and ids;
 *                       supersedes_event_id the original) with occurred_on
 *                       moved by -20..+20 days (never after the amendment is
 *                       recorded) or, for events with a code, a code changed
 *                       to another valid one; recorded 1..60 days after the
 *                       original, or in 10% of cases 1..120 minutes before it
 *   retraction [15]     an event entered in error: a copy with occurred_on
 *                       moved by 1..90 days (never after it is recorded),
 *                       recorded at the same time as the original, then
 *                       a retraction of the copy (no payload, occurred_on the
 *                       day it is recorded) 1..30 days later; in 10% of cases
 *                       the real event is retracted instead and no copy made
 *   overlap [5]         CP, CIN plan or early help start only: a second plan
 *                       of the same kind (a new plan id) starting 1..30 days
 *                       after it and ending 10..60 days after that, each
 *                       recorded on the day (and kept only if it occurs
 *                       before the history ends)
 *   unknown code [5]    events with a code (ReferralOpened.source,
 *                       ReferralClosed.closure_reason,
 *                       CpPlanStarted.initial_category, PeriodOfCareStarted
 *                       legal_status / category_of_need / placement type,
 *                       PlacementStarted placement type,
 *                       PeriodOfCareEnded.reason_ceased, AssessmentCompleted
 *                       factors) only: one code is "XX", "Z9" or "Q1"
 *   bad date [5]        occurred_on a year late (after the day it is
 *                       recorded), or half the time before the child's birth
 *                       (date of birth - 1..400 days)
 * Mess comes from random streams of its own, so the history underneath is
 * the mess-0 history whatever the rate (less the back-dated events now
 * recorded after its end), and mess 0 gives the same bytes as a generator
 * without mess. Mess never touches allocations or workforce events (nor
 * ChildDetails).
 *
 * Identifiers (all unique within one LA):
 *   event_id   "<la_code>-<9-digit sequence>"    "E99000001-000000123"
 *   child_id   "C" + 7 digits                     "C0001234"
 *   referral   "R" + 8 digits; its assessment "A" + the same 8 digits, its
 *              Section 47 enquiry "S" + the same 8 digits
 *   CP plan "CP" + 7 digits, CIN plan "CIN" + 7, period of care "PC" + 7,
 *   early help episode "EH" + 7.
 *   worker "W" + 6 digits, post "P" + 5 digits.
 *   Allocations are "<la_code>-A" + the 9-digit sequence of the referral
 *   (allocation) or closure (deallocation) they follow; workforce events
 *   "<la_code>-W" + a 9-digit sequence of their own.
 * Every end event names its start (plan_id, period_id, referral_id).
 * Events the mess adds (amendments, copies made in error, retractions,
 * overlapping plans and their ends) are "<la_code>-M" + the 9-digit sequence
 * of the event they stem from + 1 or 2 ("E99000001-M0000001231"); an
 * overlapping plan's id is its kind's prefix + "M" + that 9-digit sequence
 * ("CPM000000123"). A duplicate keeps its original's id.
 */
#ifndef CSCFLOW_GEN_H
#define CSCFLOW_GEN_H

#include <stdint.h>
#include <stdio.h>

#include "base/base.h"
#include "cscflow/v1/events.pb-c.h"

struct gen_options {
  uint64_t seed;  /* every random choice derives from it */
  int n_las;      /* number of LAs, 1..99 */
  int years;      /* length of the history in whole years, 1..50 */
  csc_date start; /* first day of the history (default 1 April 2021) */
  double scale;   /* multiplies every LA's child population (1.0 default; the
                     demo uses ~0.1); > 0 */
  double mess;    /* probability that an event is made messy (see above),
                     0..0.5; 0 default */
};

/* Sets o to seed 1, 3 LAs, 5 years, start 1 April 2021, scale 1.0, mess 0. */
void gen_options_default(struct gen_options *o);

/*
 * Checks o: CSC_EINVAL when n_las is outside 1..99, years outside 1..50,
 * scale not in (0, 100], mess not in [0, 0.5], or start outside
 * 1950-01-01..2100-01-01. gen_run and gen_write_population call it first.
 */
int gen_options_check(const struct gen_options *o);

/*
 * LA i (0-based, 0 <= i < 99) of the options: its code ("E99000001" for i 0,
 * "E99000002" for i 1, ...; NUL-terminated, at most 15 characters) and its
 * number of resident children aged 0-17 in the year of o->start, already
 * multiplied by o->scale (at least 1). Unscaled populations lie in
 * 40,000-120,000 and vary by LA with the seed.
 */
void gen_la(const struct gen_options *o, int i, char code[16], int64_t *population);

/*
 * The population of LA i in calendar year `year`: gen_la's population,
 * drifting by a per-LA rate of -0.6% .. +1.0% a year from start's year.
 */
int64_t gen_la_population(const struct gen_options *o, int i, int year);

/*
 * The population table the generator assumed, as CSV for the processor's
 * population config: the header "la_code,year,population\n", then one line
 * per LA and calendar year, from start's year to the year of the history's
 * last day ("E99000001,2021,81234\n"). CSC_EINVAL for bad options, CSC_EIO
 * when writing to f fails. f stays open and owned by the caller.
 */
int gen_write_population(const struct gen_options *o, FILE *f);

/*
 * Called once per event. ev and everything it points to are borrowed: valid
 * only during the call (copy or serialize what you keep). Return 0 to go on;
 * any other value stops gen_run, which returns it.
 */
typedef int (*gen_emit_fn)(void *ctx, const Cscflow__V1__CaseEvent *ev);

/*
 * Generates every event of every LA, then calls emit once per event in
 * recorded_at_ms order (ties: event_id order), except that a duplicate (mess)
 * comes where a message recorded 1..10 days after its recorded_at_ms would.
 * Returns 0 when every event was
 * emitted, the first non-zero value emit returned (generation stops there),
 * CSC_EINVAL for bad options or a NULL emit, CSC_ENOMEM on allocation
 * failure. All memory is freed before it returns.
 *
 * Memory: events are held as 40-byte records, ~0.9 per child per year of
 * history (3 LAs x 5 years at scale 1 is ~1.1M events, ~43 MB). When the
 * history would exceed ~8M events, gen_run works in several passes (see
 * gen_run_passes), so memory stays near 320 MB whatever the size, at the cost
 * of generating the whole history again in each pass.
 */
int gen_run(const struct gen_options *o, gen_emit_fn emit, void *ctx);

/*
 * gen_run in exactly `passes` passes (1..64): each pass generates the whole
 * history again but keeps only the events recorded in 1/passes of it, so the
 * memory needed falls by about that factor. The events emitted, and their
 * order, are the same for every number of passes. CSC_EINVAL when passes is
 * out of range; otherwise as gen_run.
 */
#define GEN_MAX_PASSES 64
int gen_run_passes(const struct gen_options *o, int passes, gen_emit_fn emit, void *ctx);

/* The kinds of mess (see the top of this file). */
enum gen_mess_kind {
  GEN_MESS_BACKDATED,
  GEN_MESS_DUPLICATE,
  GEN_MESS_SUPERSESSION,
  GEN_MESS_RETRACTION,
  GEN_MESS_OVERLAP,
  GEN_MESS_UNKNOWN_CODE,
  GEN_MESS_BAD_DATE,
  GEN_MESS_KINDS
};

/* "backdated", "duplicate", "supersession", "retraction", "overlap",
 * "unknown_code", "bad_date"; NULL for any other value. */
const char *gen_mess_name(int kind);

struct gen_stats {
  /* Mess applied, per kind: one per event made messy, whether or not all
   * the records it adds are recorded before the history ends. */
  uint64_t mess[GEN_MESS_KINDS];
};

/* gen_run that also fills *stats (zeroed first; NULL to skip). */
int gen_run_stats(const struct gen_options *o, gen_emit_fn emit, void *ctx, struct gen_stats *stats);

/*
 * Reads a delimited history (varint length + CaseEvent protobuf, repeated)
 * from in[0..len) and writes to *out (malloc'd, *out_len bytes; caller frees)
 * the same records where, for each child (la_code, child_id; workforce events
 * with an empty child_id key on their worker id, so the post events of an
 * LA, which name no worker, share one key), the child's records are
 * randomly permuted among the positions that child's records occupy (so
 * every child's events arrive in a random order, while the interleaving of
 * children is unchanged). Records that fail to decode stay where they are.
 * Records are copied byte for byte, so *out_len == len. Deterministic from
 * seed. CSC_EINVAL for a malformed input (a bad varint, a record running past
 * the end) or NULL arguments, CSC_ENOMEM.
 */
int gen_shuffle_children(const uint8_t *in, size_t len, uint64_t seed, uint8_t **out, size_t *out_len);

#endif
