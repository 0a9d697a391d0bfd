#include "cli/cli.h"
int cmd_demo(int argc, char **argv, volatile sig_atomic_t *stop) { (void)argc; (void)argv; (void)stop; return 1; }
