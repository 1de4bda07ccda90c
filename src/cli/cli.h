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
    /* $CTSPOOL_LOG_LEVEL when it names no level: check-config reports
     * it with the rest (every other command stops at it). */
    const char *bad_log_env;
};

/* Exit code for a result code. */
int cli_exit_code(ctspool_rc rc);
/*
 * cli_journal_failed -- after an operation on j failed with rc: a
 * damaged journal (E_CORRUPT) is moved aside as on_corrupt says
 * (sp_journal_heal).  Returns the rc to report; the message is
 * sp_journal_errmsg(j).
 */
ctspool_rc cli_journal_failed(struct sp_journal *j, ctspool_rc rc);
/* Prints obj as one line of JSON and deletes it: OK, or E_NOMEM. */
struct cJSON;
ctspool_rc cli_print_json(struct cJSON *obj);
/* Unix time t as "YYYY-MM-DDTHH:MM:SSZ" in buf; "never" when t < 0. */
void cli_fmt_time(int64_t t, char *buf, size_t len);
/*
 * cli_compact -- the retention of `compact` and the drainer's hourly
 * compaction: acknowledged points past retain_acked_hours, then
 * idempotency keys past server.idempotency_hours.  Counts into
 * *n_points, *n_keys.
 */
ctspool_rc cli_compact(struct sp_journal *j, const struct sp_config *cfg,
                       uint64_t *n_points, uint64_t *n_keys);
/* "ctspool: <command>: message" on stderr. */
void cli_error(const char *cmd, const char *fmt, ...) SP_PRINTF(2, 3);
/* Loads the configuration once; returns 0 or an exit code (printed). */
int cli_config(struct cli *c, const char *cmd);
/* Opens the configured journal, creating it if missing; returns 0 or an
 * exit code (printed). */
int cli_journal(struct cli *c, const char *cmd, struct sp_journal **j);
/* Likewise, but a missing journal is not created: exit 66 naming the
 * path and the config key (commands that only read or manage one). */
int cli_journal_existing(struct cli *c, const char *cmd,
                         struct sp_journal **j);
/* Parses an aggregation function or data stream option; 0 or exit. */
int cli_usage_hint(const char *cmd);
/* SIGHUP found setting what changed, which serve or drain read once at
 * start: logged as taking effect at the next restart. */
void cli_restart_only(const char *what);

/* ---- stage.c: append's on-disk staging file ---------------------- */
struct cli_stage;

/* An anonymous staging file beside journal_path.  E_IO, E_NOMEM (e). */
ctspool_rc cli_stage_open(const char *journal_path, struct cli_stage **out,
                          struct sp_err *e);
void cli_stage_close(struct cli_stage *s); /* NULL: no-op */
/* Appends p (copied).  E_IO, E_DISKFULL, E_INVALID: too large (e). */
ctspool_rc cli_stage_put(struct cli_stage *s, const struct sp_point *p,
                         struct sp_err *e);
uint64_t cli_stage_count(const struct cli_stage *s);
/* Flushes and rewinds for reading back every record put so far. */
ctspool_rc cli_stage_rewind(struct cli_stage *s, struct sp_err *e);
/* The next record into p, its strings in the stage's buffer until the
 * next call: 1, 0 at the end, -1 on error (e). */
int cli_stage_next(struct cli_stage *s, struct sp_point *p,
                   struct sp_err *e);

/* Commands: argv[0] is the command name. */
int cmd_append(struct cli *c, int argc, char **argv);
int cmd_status(struct cli *c, int argc, char **argv);
int cmd_list(struct cli *c, int argc, char **argv);
int cmd_dlq(struct cli *c, int argc, char **argv);
int cmd_streams(struct cli *c, int argc, char **argv);
int cmd_compact(struct cli *c, int argc, char **argv);
int cmd_salvage(struct cli *c, int argc, char **argv);
int cmd_check_config(struct cli *c, int argc, char **argv);
int cmd_drain(struct cli *c, int argc, char **argv);
int cmd_serve(struct cli *c, int argc, char **argv);

#endif
