/*
 * testutil_serve.h — the shared test helpers that need the serve library
 * (tests/testutil_serve.c, linked only into the tests that include this).
 */
#ifndef CSCFLOW_TESTUTIL_SERVE_H
#define CSCFLOW_TESTUTIL_SERVE_H

#include "serve/feed.h"
#include "serve/serve.h"
#include "tests/testutil.h"

/* Sets key in cfg to the SHA-256 hex of secret (as a token's or a feed
 * client's secret is configured); fails the test on error. */
void test_config_set_hash(struct config *cfg, const char *key, const char *secret);

/* A feed endpoint's configuration: cfg, and what is loaded from it. */
struct test_feed_conf {
  struct config cfg;
  struct la_registry las;
  struct api_tokens tokens;
  struct feed_config fc;
};
/* Loads las, tokens and fc from c->cfg (asserting each); freed by
 * test_feed_conf_free. */
void test_feed_conf_load(struct test_feed_conf *c);
/* Frees fc, tokens, las and cfg. */
void test_feed_conf_free(struct test_feed_conf *c);

#endif
