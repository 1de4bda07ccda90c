/*
 * serve.c -- `ctspool serve`: not yet implemented in this build.
 */
#include "cli.h"

int
cmd_serve(struct cli *c, int argc, char **argv)
{
    (void)c;
    (void)argc;
    (void)argv;
    cli_error("serve", "not available in this build yet");
    return EXIT_SOFTWARE;
}
