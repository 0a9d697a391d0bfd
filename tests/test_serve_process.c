/*
 * test_serve_process.c — `cscflow serve` as its own process, reading the
 * state while this process writes it through the engine, as `cscflow
 * replay` or `run` would. The writer's map starts at 1 MiB, so it grows
 * several times under the reader (LMDB then refuses the reader's next
 * transaction with MDB_MAP_RESIZED until it adopts the new size). After
 * every batch, the server must answer 200 with exactly the events the
 * writer has committed: no stale read, no failed read, no crash; and it
 * stops cleanly on SIGTERM.
 *
 * argv[1]: the cscflow binary.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/engine.h"
#include "gen/gen.h"
#include "serve/serve.h"
#include "tests/testutil.h"

extern char **environ;

static const char *cscflow_bin;
static char response[1 << 20];

struct packed {
  uint8_t *data;
  size_t len, cap, *off, n, off_cap;
};

static int collect(void *ctx, const Cscflow__V1__CaseEvent *ev) {
  struct packed *p = ctx;
  const size_t n = cscflow__v1__case_event__get_packed_size(ev);
  if (p->len + n > p->cap) {
    p->cap = (p->len + n) * 2;
    p->data = realloc(p->data, p->cap);
  }
  if (p->n + 2 > p->off_cap) {
    p->off_cap = (p->n + 2) * 2;
    p->off = realloc(p->off, p->off_cap * sizeof *p->off);
  }
  assert_true(p->data != NULL && p->off != NULL);
  cscflow__v1__case_event__pack(ev, p->data + p->len);
  p->off[p->n++] = p->len;
  p->len += n;
  p->off[p->n] = p->len;
  return CSC_OK;
}

static int free_port(void) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd);
  return ntohs(a.sin_port);
}

static size_t map_size(struct engine *e) {
  MDB_envinfo info;
  assert_int_equal(mdb_env_info(engine_store(e)->env, &info), 0);
  return info.me_mapsize;
}

static uint64_t committed_events(struct engine *e) {
  struct store *st = engine_store(e);
  MDB_txn *txn;
  struct la_state ls;
  assert_int_equal(store_read_begin(st, &txn), CSC_OK);
  assert_int_equal(store_get_la(st, txn, "E99000001", &ls), CSC_OK);
  store_read_end(st, txn);
  return ls.events_applied;
}

/* The events_applied of the served snapshot, or -1 with the status. */
static long long served_events(int port, int *status) {
  *status = test_http_get(port, "/v1/las/E99000001/snapshot", "Bearer la-secret", response,
                          sizeof response);
  const char *p = strstr(test_http_body(response), "\"events_applied\":");
  return *status == 200 && p != NULL ? atoll(p + 17) : -1;
}

static void serve_reads_while_the_writer_grows_the_map(void **state) {
  (void)state;
  char dir[256], path[320], cfg[320], log[320], port_s[16], err[512];
  test_tmpdir(dir, sizeof dir, "serve_process");
  snprintf(path, sizeof path, "%s/state", dir);
  snprintf(cfg, sizeof cfg, "%s/api.conf", dir);
  snprintf(log, sizeof log, "%s/serve.log", dir);
  char hex[2 * TOKEN_HASH_SIZE + 1];
  api_token_hash_hex("la-secret", hex);
  FILE *f = fopen(cfg, "w");
  assert_non_null(f);
  fprintf(f, "cscflow.api.token.E99000001=%s\n", hex);
  assert_int_equal(fclose(f), 0);

  struct gen_options o;
  gen_options_default(&o);
  o.n_las = 1;
  o.years = 2;
  o.scale = 0.3;
  struct packed ev = {0};
  assert_int_equal(gen_run(&o, collect, &ev), CSC_OK);
  assert_true(ev.n > 20000);

  struct sink *sink;
  char out[330];
  snprintf(out, sizeof out, "%s/out", dir);
  assert_int_equal(mkdir(out, 0750), 0);
  assert_int_equal(sink_file_open(out, &sink), CSC_OK);
  struct population pop;
  population_init(&pop);
  struct engine_options eo = {path, CLOCK_REPLAY, &pop, sink, 5000, 0, NULL};
  eo.map_size = (size_t)1 << 20;
  struct engine *e;
  assert_int_equal(engine_open(&eo, &e, err, sizeof err), CSC_OK);
  const size_t first_map = map_size(e);

  enum { BATCH = 2000 };
  static struct engine_input in[BATCH];
  size_t done = 0;
  /* One batch before the server starts, so that the state exists. */
  for (size_t i = 0; i < BATCH; i++)
    in[i] = (struct engine_input){"test", 0, (int64_t)i, (int64_t)i + 1, NULL, 0,
                                  ev.data + ev.off[i], ev.off[i + 1] - ev.off[i]};
  assert_int_equal(engine_apply_batch(e, in, BATCH), CSC_OK);
  done = BATCH;

  const int port = free_port();
  snprintf(port_s, sizeof port_s, "%d", port);
  char *argv[] = {(char *)cscflow_bin, "serve", "--state", path, "--config", cfg, "--port",
                  port_s, NULL};
  posix_spawn_file_actions_t fa;
  assert_int_equal(posix_spawn_file_actions_init(&fa), 0);
  assert_int_equal(posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0640), 0);
  assert_int_equal(posix_spawn_file_actions_adddup2(&fa, 1, 2), 0);
  pid_t pid;
  assert_int_equal(posix_spawn(&pid, cscflow_bin, &fa, NULL, argv, environ), 0);
  posix_spawn_file_actions_destroy(&fa);

  int status = 0, up = 0;
  for (int i = 0; i < 200 && !up; i++) { /* up to 10 s */
    const int fd = test_http_connect(port, 1);
    up = fd >= 0;
    if (up) {
      close(fd);
    } else {
      const struct timespec ts = {0, 50000000};
      nanosleep(&ts, NULL);
    }
  }
  assert_true(up);

  size_t reads = 0, growths = 0, last_map = first_map;
  while (done < ev.n) {
    const size_t n = ev.n - done < BATCH ? ev.n - done : BATCH;
    for (size_t i = 0; i < n; i++) {
      const size_t k = done + i;
      in[i] = (struct engine_input){"test", 0, (int64_t)k, (int64_t)k + 1, NULL, 0,
                                    ev.data + ev.off[k], ev.off[k + 1] - ev.off[k]};
    }
    assert_int_equal(engine_apply_batch(e, in, n), CSC_OK);
    done += n;
    if (map_size(e) != last_map) {
      growths++;
      last_map = map_size(e);
    }
    const long long served = served_events(port, &status);
    if (status != 200 || served != (long long)committed_events(e))
      fail_msg("after %zu events: status %d, served %lld events, committed %llu", done, status,
               served, (unsigned long long)committed_events(e));
    reads++;
  }
  print_message("%zu events in %zu batches, %zu reads by the server process, map grown %zu "
                "times (%zu KiB to %zu KiB)\n",
                ev.n, reads + 1, reads, growths, first_map >> 10, last_map >> 10);
  assert_true(growths >= 2);

  kill(pid, SIGTERM);
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  engine_close(e);
  sink->destroy(sink);
  population_free(&pop);
  free(ev.data);
  free(ev.off);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_serve_process CSCFLOW_BINARY\n");
    return 2;
  }
  cscflow_bin = argv[1];
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(serve_reads_while_the_writer_grows_the_map),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
