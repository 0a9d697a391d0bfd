/*
 * feed_writer.h — the sending side of the DfE CSC API feed, for the round
 * trip test (test_feed_roundtrip.c): a case-management system's records
 * kept as the Standard Safeguarding Dataset keeps them, and the documents
 * the published sender (dfe-csc-api-data-flows) posts from them each night.
 *
 * Written from ../shared/research/dfe-sender.md (sections 2 and 3) and
 * adopters.md (section 1.2, the cohort), never from feeds/ or state/record.c:
 * the point of the round trip is that two independent readings of the
 * sender agree.
 *
 * What the writer reproduces of the sender:
 *   - the cohort: a child is sent while it has a social care episode or a
 *     placement overlapping the window (1 April of the financial year of
 *     the run date less 24 months, to the run date); nested items are cut
 *     to the window; placements, adoption and the care leaver's record are
 *     nested in episodes (adoption and care_leavers repeated in each), so a
 *     child with no episode in the window sends none of them;
 *   - change detection: a child is sent only when the SHA-256 of its
 *     "semantic" document changed since its last send; that document leaves
 *     out the ids, the pupil numbers, the placements' start, end and change
 *     reasons, the assessments' factors and the ICPC flag, so a change to
 *     only those is never sent;
 *   - full mode: the whole document; partial mode (Python's
 *     USE_PARTIAL_PAYLOAD, after a first full run): la_child_id,
 *     mis_child_id, the whole child_details and only what changed against
 *     the last payload sent (list items matched by their *_id keep it, and
 *     purge:false under episodes and CIN and CP plans; nested objects carry
 *     only changed keys; lists without ids whole), and never a child that
 *     has no previous payload (a child new since the switch to partial);
 *   - dates YYYY-MM-DD, absent values left out, names and postcodes
 *     present (the receiver must drop them), ASCII JSON with \u escapes.
 */
#ifndef CSCFLOW_TESTS_FEED_WRITER_H
#define CSCFLOW_TESTS_FEED_WRITER_H

#include <stddef.h>

#include "base/base.h"
#include "cscflow/v1/events.pb-c.h"

struct writer;

/* A writer for the sender in full mode (partial_from 0), or in full mode
 * until partial_from and in partial mode from then on (the LA's first
 * full run, then Python's partial mode). */
struct writer *writer_new(csc_date partial_from);
void writer_free(struct writer *w);

/* One event as the case-management system records it: the SSD row it
 * changes. Events of kinds the document does not carry are counted and
 * otherwise ignored. */
void writer_take(struct writer *w, const Cscflow__V1__CaseEvent *ev);

/* One document of a night's run. */
struct writer_doc {
  char child[64];
  char *json; /* malloc'd: one document, no enclosing array */
};

/* The night's run on run date day: the documents the sender posts (in
 * child order), *n of them, in a malloc'd array the caller frees with
 * writer_docs_free. */
struct writer_doc *writer_run(struct writer *w, csc_date day, size_t *n);
void writer_docs_free(struct writer_doc *docs, size_t n);

/* What the sender's rules lost, per child and in all. */
struct writer_stats {
  size_t children, runs, documents;
  size_t partials;             /* documents sent as partial-mode diffs */
  size_t ignored_events;       /* events of kinds the document does not carry */
  size_t new_never_sent;       /* partial mode: children new since the switch */
  size_t changes_never_sent;   /* a document changed only in fields the hash ignores */
  size_t items_without_episode; /* placements, adoption or care leavers with no episode to sit in */
};
const struct writer_stats *writer_stats(const struct writer *w);

/* Whether every change of the child reached the receiver: it was sent, no
 * change of it was lost to the hash, and nothing of it went unsent for
 * want of an episode. */
int writer_child_faithful(const struct writer *w, const char *child);

#endif
