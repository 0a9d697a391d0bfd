/*
 * cscflow-bench-split: cuts a delimited event file (varint length + a
 * CaseEvent, as cscflow-gen writes it) into the pieces the bench's newer
 * figures replay (bench/run.sh).
 *
 *   cscflow-bench-split range --input EVENTS.bin --out OUT.bin --from A [--to B]
 *   cscflow-bench-split la --input EVENTS.bin --out OUT.bin [--la CODE] [--max-bytes N]
 *
 * range: the events of index [A, B) (B defaults to the end), bytes copied
 *   as they are. The incremental figure replays the history but its last K
 *   events, then times the last K into that state.
 * la: the events of one LA, in file order: of CODE, or of the LA with the
 *   most events. --max-bytes stops before the first event that would take
 *   the LA's bytes, counted as librdkafka's mock cluster counts a partition
 *   (value + key + RECORD_OVERHEAD, as bench/kafka.c does), past N: the
 *   largest prefix of the LA's events one mock partition holds.
 *
 * Prints split_events and split_bytes (of OUT), and for la split_la, as
 * `name: value` lines.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "ingest/ingest.h"

#define MAX_LAS 128
#define LA_CODE_MAX 16
/* Beyond key and value, what a v2 record takes at most (bench/kafka.c). */
#define RECORD_OVERHEAD 24

struct options {
  const char *mode, *input, *out, *la;
  long long from, to, max_bytes;
};

static int usage(void) {
  fputs("usage:\n"
        "  cscflow-bench-split range --input EVENTS.bin --out OUT.bin --from A [--to B]\n"
        "  cscflow-bench-split la --input EVENTS.bin --out OUT.bin [--la CODE] [--max-bytes N]\n",
        stderr);
  return 64;
}

static int fail(const char *what) {
  fprintf(stderr, "cscflow-bench-split: %s\n", what);
  return 1;
}

/* Writes one record as the file holds it: varint length, then the bytes. */
static int put_record(FILE *f, const uint8_t *buf, size_t len) {
  uint8_t prefix[10];
  const size_t n = varint_encode(len, prefix);
  return fwrite(prefix, 1, n, f) == n && fwrite(buf, 1, len, f) == len ? CSC_OK : CSC_EIO;
}

/* The LA code of a record, copied into la; CSC_EINVAL when it does not decode. */
static int la_of(const uint8_t *buf, size_t len, struct arena *a, char *la) {
  CaseEvent *ev;
  const uint8_t *pb;
  size_t pb_len;
  const char *reason;
  arena_reset(a);
  if (ingest_decode(buf, len, a, &ev, &pb, &pb_len, &reason) != CSC_OK ||
      strlen(ev->la_code) >= LA_CODE_MAX)
    return CSC_EINVAL;
  strcpy(la, ev->la_code);
  return CSC_OK;
}

/* The code of the LA with the most events in the file. */
static int busiest_la(const char *input, char *out) {
  static char codes[MAX_LAS][LA_CODE_MAX];
  long long counts[MAX_LAS] = {0};
  size_t n_las = 0;
  struct file_source *fs;
  if (file_source_open(input, &fs) != CSC_OK)
    return fail("cannot open the input file");
  struct arena a;
  arena_init(&a, 1 << 16);
  const uint8_t *buf;
  size_t len;
  int rc = CSC_OK;
  char la[LA_CODE_MAX];
  while (rc == CSC_OK && file_source_next(fs, &buf, &len) == CSC_OK) {
    if (la_of(buf, len, &a, la) != CSC_OK)
      continue; /* the replay would dead-letter it: no LA's */
    size_t i = 0;
    while (i < n_las && strcmp(codes[i], la) != 0)
      i++;
    if (i == n_las) {
      if (n_las == MAX_LAS) {
        rc = fail("more LAs than this program counts");
        break;
      }
      strcpy(codes[n_las++], la);
    }
    counts[i]++;
  }
  arena_free(&a);
  file_source_close(fs);
  if (rc != CSC_OK)
    return rc;
  if (n_las == 0)
    return fail("the input holds no event");
  size_t best = 0;
  for (size_t i = 1; i < n_las; i++)
    if (counts[i] > counts[best])
      best = i;
  strcpy(out, codes[best]);
  return CSC_OK;
}

/* Copies the records the mode selects from input to f. */
static int copy_selected(const struct options *o, const char *la, FILE *f, long long *events) {
  struct file_source *fs;
  if (file_source_open(o->input, &fs) != CSC_OK)
    return fail("cannot open the input file");
  struct arena a;
  arena_init(&a, 1 << 16);
  const uint8_t *buf;
  size_t len;
  int rc = CSC_OK;
  long long index = 0, bytes = 0;
  char code[LA_CODE_MAX];
  *events = 0;
  for (; rc == CSC_OK && file_source_next(fs, &buf, &len) == CSC_OK; index++) {
    if (la == NULL) {
      if (index < o->from)
        continue;
      if (o->to >= 0 && index >= o->to)
        break;
    } else {
      if (la_of(buf, len, &a, code) != CSC_OK || strcmp(code, la) != 0)
        continue;
      bytes += (long long)(len + strlen(la) + RECORD_OVERHEAD);
      if (o->max_bytes > 0 && bytes > o->max_bytes)
        break;
    }
    rc = put_record(f, buf, len);
    ++*events;
  }
  arena_free(&a);
  file_source_close(fs);
  return rc == CSC_OK ? CSC_OK : fail("cannot write the output file");
}

static int parse_options(int argc, char **argv, struct options *o) {
  static const struct option opts[] = {{"input", required_argument, 0, 'i'},
                                       {"out", required_argument, 0, 'o'},
                                       {"from", required_argument, 0, 'f'},
                                       {"to", required_argument, 0, 't'},
                                       {"la", required_argument, 0, 'l'},
                                       {"max-bytes", required_argument, 0, 'm'},
                                       {0, 0, 0, 0}};
  memset(o, 0, sizeof *o);
  o->from = -1;
  o->to = -1;
  if (argc < 2)
    return usage();
  o->mode = argv[1];
  optind = 2;
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'i': o->input = optarg; break;
    case 'o': o->out = optarg; break;
    case 'f': o->from = atoll(optarg); break;
    case 't': o->to = atoll(optarg); break;
    case 'l': o->la = optarg; break;
    case 'm': o->max_bytes = atoll(optarg); break;
    default: return usage();
    }
  }
  const int range = strcmp(o->mode, "range") == 0, by_la = strcmp(o->mode, "la") == 0;
  if (optind != argc || o->input == NULL || o->out == NULL || (!range && !by_la) ||
      (range && (o->from < 0 || (o->to >= 0 && o->to < o->from))) || o->max_bytes < 0 ||
      (o->la != NULL && strlen(o->la) >= LA_CODE_MAX))
    return usage();
  return 0;
}

int main(int argc, char **argv) {
  struct options o;
  const int urc = parse_options(argc, argv, &o);
  if (urc != 0)
    return urc;
  char la[LA_CODE_MAX] = "";
  const int by_la = strcmp(o.mode, "la") == 0;
  if (by_la) {
    if (o.la != NULL)
      snprintf(la, sizeof la, "%s", o.la);
    else if (busiest_la(o.input, la) != CSC_OK)
      return 1;
  }
  FILE *f = fopen(o.out, "wb");
  if (f == NULL) {
    fprintf(stderr, "cscflow-bench-split: cannot write %s: %s\n", o.out, strerror(errno));
    return 1;
  }
  long long events = 0;
  int rc = copy_selected(&o, by_la ? la : NULL, f, &events);
  const long bytes = ftell(f);
  if (fclose(f) != 0 && rc == CSC_OK)
    rc = fail("cannot write the output file");
  if (rc != CSC_OK)
    return 1;
  if (by_la)
    printf("split_la: %s\n", la);
  printf("split_events: %lld\n", events);
  printf("split_bytes: %ld\n", bytes);
  return 0;
}
