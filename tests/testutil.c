#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/testutil.h"

void test_tmpdir(char *path, size_t len, const char *name) {
  const char *base = getenv("CSCFLOW_TEST_TMP");
  if (base == NULL)
    base = "/tmp";
  mkdir(base, 0750);
  snprintf(path, len, "%s/%s-%d-XXXXXX", base, name, (int)getpid());
  assert_non_null(mkdtemp(path));
}

int64_t test_ms(csc_date d) { return date_london_midnight_ms(d) + 14 * 3600 * 1000LL; }
