/*
 * fuzz_decode — libFuzzer target for a message body as it comes off the
 * events topic: ingest_unframe, ingest_decode and ingest_validate on
 * arbitrary bytes, in both framings (raw protobuf; Confluent: byte 0, a
 * 4-byte schema id, the message-index varints, then protobuf).
 *
 * Invariants, for any input (a failure aborts, which libFuzzer reports as
 * a crash and saves the input):
 *   - unframe and decode return CSC_OK or CSC_EINVAL, and CSC_EINVAL comes
 *     with a non-empty reason (the dead-letter header);
 *   - the protobuf bytes unframe returns are the tail of the input (so the
 *     history stores exactly what was sent), the whole input when byte 0 is
 *     not 0 (raw, schema id 0);
 *   - decode succeeds exactly when unframe does, the bytes unpack and the
 *     event validates, and then returns the bytes unframe returned;
 *   - a decoded event has a history subject (history_subject is non-empty
 *     and fits the store's key), so history_apply can always file it;
 *   - the protobuf bytes decode returns (what the history stores) unpack
 *     again to the same event, with the same subject;
 *   - the event packs to exactly get_packed_size bytes. (Repacking is not
 *     required to round-trip: protobuf-c keeps an unknown field numbered 0
 *     when its key is a non-minimal varint, 81 00, then packs it as the
 *     key 01 that its own unpack refuses. Nothing in cscflow repacks a
 *     received event: the history keeps the bytes as received.)
 * The sanitizers (address, undefined, leaks) add theirs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/ingest.h"
#include "state/state.h"

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "fuzz_decode: invariant failed: " __VA_ARGS__);                              \
      fprintf(stderr, "\n");                                                                       \
      abort();                                                                                     \
    }                                                                                              \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* libFuzzer may hand over a NULL pointer for an empty input. */
  static const uint8_t empty[1] = {0};
  if (data == NULL)
    data = empty;

  const uint8_t *pb = NULL;
  size_t pb_len = 0;
  uint32_t schema_id = 0xffffffffu;
  const char *reason = NULL;
  const int urc = ingest_unframe(data, size, &pb, &pb_len, &schema_id, &reason);
  if (urc == CSC_OK) {
    CHECK(pb != NULL && pb >= data && pb_len <= size && pb + pb_len == data + size,
          "unframe returned bytes that are not the input's tail");
    if (data[0] != 0)
      CHECK(pb == data && schema_id == 0, "raw protobuf was not passed through");
  } else {
    CHECK(urc == CSC_EINVAL, "unframe returned %d", urc);
    CHECK(reason != NULL && reason[0] != '\0', "unframe failed without a reason");
  }

  struct arena a;
  arena_init(&a, 4096);
  CaseEvent *ev = NULL;
  const uint8_t *dpb = NULL;
  size_t dpb_len = 0;
  reason = NULL;
  const int drc = ingest_decode(data, size, &a, &ev, &dpb, &dpb_len, &reason);
  if (drc != CSC_OK) {
    CHECK(drc == CSC_EINVAL, "decode returned %d", drc);
    CHECK(reason != NULL && reason[0] != '\0', "decode failed without a reason");
    CHECK(urc == CSC_OK || strcmp(reason, "protobuf decode failed") != 0,
          "decode reached the protobuf of a message unframe refused");
    arena_free(&a);
    return 0;
  }
  CHECK(urc == CSC_OK, "decode accepted a message unframe refused");
  CHECK(ev != NULL && dpb == pb && dpb_len == pb_len,
        "decode's protobuf bytes differ from unframe's");
  CHECK(ingest_validate(ev, &reason) == CSC_OK, "a decoded event does not validate");

  char subject[HISTORY_SUBJECT_MAX];
  const size_t sn = history_subject(ev, subject, sizeof subject);
  CHECK(sn > 0 && strlen(subject) == sn, "a valid event has no history subject");
  uint8_t key[STATE_MAX_KEY];
  CHECK(store_key(key, ev->la_code, subject, sn + 1) > 0,
        "a valid event's history key does not fit");

  /* The history stores the protobuf bytes as received and unpacks them
   * again on every fold (history_decode): they must give the same event. */
  ProtobufCAllocator al = arena_protobuf_allocator(&a);
  CaseEvent *again = cscflow__v1__case_event__unpack(&al, pb_len, pb);
  CHECK(again != NULL, "the stored bytes of a decoded event do not unpack again");
  CHECK(ingest_validate(again, &reason) == CSC_OK,
        "the stored bytes, unpacked again, do not validate");
  CHECK(strcmp(again->event_id, ev->event_id) == 0 && again->payload_case == ev->payload_case &&
            again->occurred_on == ev->occurred_on,
        "the stored bytes, unpacked again, give another event");
  char subject2[HISTORY_SUBJECT_MAX];
  CHECK(history_subject(again, subject2, sizeof subject2) == sn && strcmp(subject, subject2) == 0,
        "the stored bytes, unpacked again, give another history subject");

  /* Packing a decoded event (not done by the engine, which keeps the bytes
   * it received) must still stay within the size protobuf-c computes. */
  const size_t n = cscflow__v1__case_event__get_packed_size(ev);
  uint8_t *buf = malloc(n ? n : 1);
  CHECK(buf != NULL, "malloc");
  CHECK(cscflow__v1__case_event__pack(ev, buf) == n, "pack wrote other than get_packed_size");
  free(buf);
  arena_free(&a);
  return 0;
}
