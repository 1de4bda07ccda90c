/*
 * drain.c -- `ctspool drain`: not yet implemented in this build.
 */
#include "cli.h"

int
cmd_drain(struct cli *c, int argc, char **argv)
{
    (void)c;
    (void)argc;
    (void)argv;
    cli_error("drain", "not available in this build yet");
    return EXIT_SOFTWARE;
}
