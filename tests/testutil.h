/*
 * testutil.h — helpers shared by the tests: building events, temporary
 * directories, reading sink files.
 */
#ifndef CSCFLOW_TESTUTIL_H
#define CSCFLOW_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "base/base.h"
#include "cscflow/v1/events.pb-c.h"

/* A fresh empty directory under $CSCFLOW_TEST_TMP (or /tmp); path is static
 * per call site's buffer of at least 256 bytes. Fails the test on error. */
void test_tmpdir(char *path, size_t len, const char *name);

/* Date literal: D(2024, 2, 29). */
#define D(y, m, d) date_from_ymd((y), (m), (d))

/* Unix ms of 14:00 London time on date d (the usual recording time). */
int64_t test_ms(csc_date d);

#endif
