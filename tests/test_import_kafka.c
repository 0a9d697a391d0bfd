/*
 * test_import_kafka.c — `cscflow import 903 --config` (the binary's path is
 * argv[1]) against librdkafka's mock cluster hosted in this process: the
 * events go to csc.events.v1 with the producer options of the config,
 * keyed by the LA's canonical code (cscflow.la.alias.201=E09000001), all on
 * the partition murmur2 gives that key, in the order and with the bytes
 * `--out` writes to a file; and an LA the config does not serve is refused
 * (exit 64) before anything is produced.
 *
 * Every wait is bounded in count and time.
 */
#include "tests/testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine.h"

/* After engine.h: rdkafka_mock.h needs rdkafka.h's RD_EXPORT. */
#include <librdkafka/rdkafka_mock.h>

#define PARTITIONS 4
#define MAX_MSGS 64
#define RUN_BOUND_S 60.0

static const char *cscflow_bin;

static int run_cscflow(char *const args[], const char *errf) {
  fflush(stdout);
  fflush(stderr);
  const pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    const int o = open("/dev/null", O_WRONLY);
    const int e = open(errf, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
      _exit(126);
    execv(cscflow_bin, args);
    _exit(127);
  }
  const double deadline = test_now_s() + RUN_BOUND_S;
  int status = 0;
  for (int i = 0; i < 100000 && test_now_s() < deadline; i++) {
    if (waitpid(pid, &status, WNOHANG) == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    test_sleep_ms(20);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  fail_msg("cscflow import still running after %.0f s", RUN_BOUND_S);
  return -1;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  assert_int_equal(fclose(f), 0);
}

static void test_import_to_topic(void **state) {
  (void)state;
  char err[512], dir[256], conf[320], eps[320], out[320], errf[320];
  rd_kafka_conf_t *kc = rd_kafka_conf_new();
  assert_int_equal(rd_kafka_conf_set(kc, "test.mock.num.brokers", "1", err, sizeof err),
                   RD_KAFKA_CONF_OK);
  rd_kafka_t *owner = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof err);
  assert_non_null(owner);
  rd_kafka_mock_cluster_t *mock = rd_kafka_handle_mock_cluster(owner);
  assert_non_null(mock);
  assert_int_equal(rd_kafka_mock_topic_create(mock, TOPIC_EVENTS, PARTITIONS, 1), 0);
  const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mock);

  test_tmpdir(dir, sizeof dir, "import_kafka");
  snprintf(conf, sizeof conf, "%s/cscflow.conf", dir);
  snprintf(eps, sizeof eps, "%s/episodes.csv", dir);
  snprintf(out, sizeof out, "%s/events.bin", dir);
  snprintf(errf, sizeof errf, "%s/stderr.log", dir);
  FILE *f = fopen(conf, "w");
  assert_non_null(f);
  fprintf(f, "bootstrap.servers=%s\ncscflow.las=E09000001,E09000002\n"
             "cscflow.la.alias.201=E09000001\nproducer.linger.ms=1\n"
             "producer.message.timeout.ms=10000\n", bootstraps);
  assert_int_equal(fclose(f), 0);
  /* Two children: four events (a start, a move, an end; a start). */
  write_file(eps, "CHILD,DECOM,RNE,LS,CIN,PLACE,PLACE_PROVIDER,DEC,REC\n"
                  "C1,10/05/2023,S,C2,N1,U1,PR1,01/09/2023,X1\n"
                  "C1,01/09/2023,P,C2,N1,U3,PR1,15/01/2024,E13\n"
                  "C2,01/06/2023,S,C2,N2,U1,PR1,,\n");

  /* An LA the config does not serve: refused before anything is sent. */
  char *refused[] = {"cscflow", "import", "903", "--la", "202", "--year", "2024",
                     "--config", conf, eps, NULL};
  assert_int_equal(run_cscflow(refused, errf), 64);

  char *to_topic[] = {"cscflow", "import", "903", "--la", "201", "--year", "2024",
                      "--config", conf, eps, NULL};
  assert_int_equal(run_cscflow(to_topic, errf), 0);
  char *to_file[] = {"cscflow", "import", "903", "--la", "201", "--year", "2024",
                     "--out", out, eps, NULL};
  assert_int_equal(run_cscflow(to_file, errf), 0);

  static struct test_msg got[MAX_MSGS];
  const size_t n = test_read_topic(bootstraps, TOPIC_EVENTS, PARTITIONS, got, MAX_MSGS);
  assert_int_equal(n, 4);
  /* The file's records, in order: each message's value is one of them. */
  struct file_source *fs;
  assert_int_equal(file_source_open(out, &fs), CSC_OK);
  for (size_t i = 0; i < n; i++) {
    const uint8_t *buf;
    size_t len;
    assert_int_equal(file_source_next(fs, &buf, &len), CSC_OK);
    assert_string_equal(got[i].key, "E09000001"); /* the canonical code */
    assert_int_equal(got[i].partition, got[0].partition);
    assert_int_equal(got[i].len, len);
    assert_memory_equal(got[i].value, buf, len);
    CaseEvent *ev = cscflow__v1__case_event__unpack(NULL, len, buf);
    assert_non_null(ev);
    assert_string_equal(ev->la_code, "201"); /* as given: the engine resolves it */
    cscflow__v1__case_event__free_unpacked(ev, NULL);
  }
  const uint8_t *buf;
  size_t len;
  assert_int_equal(file_source_next(fs, &buf, &len), CSC_ENOTFOUND); /* nothing more */
  file_source_close(fs);
  rd_kafka_destroy(owner);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_import_kafka PATH_TO_CSCFLOW\n");
    return 2;
  }
  cscflow_bin = argv[1];
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_import_to_topic)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
