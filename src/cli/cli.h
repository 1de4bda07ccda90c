/*
 * cli.h -- what the `ctspool` command files share: the parsed global
 * options, configuration and journal opening, and the mapping of result
 * codes onto sysexits exit codes (DESIGN.md section 4).
 */
#ifndef CTSPOOL_CLI_H
#define CTSPOOL_CLI_H

#include <stdio.h>

#include "journal.h"
#include "sp_int.h"

/* sysexits.h values, spelled out so the contract is visible here. */
enum {
    EXIT_OK = 0,
    EXIT_USAGE = 64,
    EXIT_DATAERR = 65,
    EXIT_NOINPUT = 66,
    EXIT_UNAVAILABLE = 69,
    EXIT_SOFTWARE = 70,
    EXIT_OSERR = 71,
    EXIT_CANTCREAT = 73,
    EXIT_IOERR = 74,
    EXIT_TEMPFAIL = 75,
    EXIT_CONFIG = 78
};

struct cli {
    const char *config_path; /* --config, or NULL */
    struct sp_config *cfg;   /* loaded by cli_config() */
};

/* Exit code for a result code. */
int cli_exit_code(ctspool_rc rc);
/* "ctspool: <command>: message" on stderr. */
void cli_error(const char *cmd, const char *fmt, ...) SP_PRINTF(2, 3);
/* Loads the configuration once; returns 0 or an exit code (printed). */
int cli_config(struct cli *c, const char *cmd);
/* Opens the configured journal; returns 0 or an exit code (printed). */
int cli_journal(struct cli *c, const char *cmd, struct sp_journal **j);
/* Parses an aggregation function or data stream option; 0 or exit. */
int cli_usage_hint(const char *cmd);

/* Commands: argv[0] is the command name. */
int cmd_append(struct cli *c, int argc, char **argv);
int cmd_status(struct cli *c, int argc, char **argv);
int cmd_list(struct cli *c, int argc, char **argv);
int cmd_dlq(struct cli *c, int argc, char **argv);
int cmd_compact(struct cli *c, int argc, char **argv);
int cmd_check_config(struct cli *c, int argc, char **argv);
int cmd_drain(struct cli *c, int argc, char **argv);
int cmd_serve(struct cli *c, int argc, char **argv);

#endif
