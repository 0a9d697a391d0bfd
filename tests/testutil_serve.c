/*
 * testutil_serve.c — the helpers of testutil.h that need the serve library,
 * linked only into the tests that use them (tests/CMakeLists.txt).
 */
#include "tests/testutil_serve.h"

void test_config_set_hash(struct config *cfg, const char *key, const char *secret) {
  char hex[2 * TOKEN_HASH_SIZE + 1];
  api_token_hash_hex(secret, hex);
  assert_int_equal(config_set(cfg, key, hex), CSC_OK);
}

void test_feed_conf_load(struct test_feed_conf *c) {
  char err[512];
  assert_int_equal(la_registry_load(&c->las, &c->cfg, err, sizeof err), CSC_OK);
  assert_int_equal(api_tokens_load(&c->tokens, &c->cfg, err, sizeof err), CSC_OK);
  assert_int_equal(feed_config_load(&c->fc, &c->cfg, &c->las, err, sizeof err), CSC_OK);
}

void test_feed_conf_free(struct test_feed_conf *c) {
  feed_config_free(&c->fc);
  api_tokens_free(&c->tokens);
  la_registry_free(&c->las);
  config_free(&c->cfg);
}
