/*
 * testutil_serve.c — the helpers of testutil.h that need the serve library,
 * linked only into the tests that use them (tests/CMakeLists.txt).
 */
#include "serve/serve.h"
#include "tests/testutil.h"

void test_config_set_hash(struct config *cfg, const char *key, const char *secret) {
  char hex[2 * TOKEN_HASH_SIZE + 1];
  api_token_hash_hex(secret, hex);
  assert_int_equal(config_set(cfg, key, hex), CSC_OK);
}
