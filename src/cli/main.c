/*
 * main.c -- `ctspool [--config FILE] COMMAND ...`: global options, the
 * command table, and the helpers every command shares (configuration,
 * journal, exit codes).
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <sqlite3.h>

#include "cli.h"
#include "memwatch.h"

struct command {
    const char *name;
    int (*fn)(struct cli *, int, char **);
    const char *summary;
};

static const struct command commands[] = {
    {"append", cmd_append, "validate points and append them to the journal"},
    {"serve", cmd_serve, "run the local HTTP ingest endpoint"},
    {"drain", cmd_drain, "upload pending points to Cloudthread"},
    {"status", cmd_status, "show what is pending, acknowledged and dead"},
    {"list", cmd_list, "list the journal's points"},
    {"streams", cmd_streams, "show upload groups; retire a stream"},
    {"dlq", cmd_dlq, "inspect, requeue or purge dead letters"},
    {"compact", cmd_compact, "delete old acknowledged points, free space"},
    {"salvage", cmd_salvage, "recover a damaged journal's pending points"},
    {"check-config", cmd_check_config,
     "validate the configuration, and what a role needs"},
};

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: ctspool [--config FILE] [--log-level LEVEL] COMMAND "
            "[OPTIONS] [ARGS]\n"
            "\n"
            "A durable store-and-forward spool for Cloudthread custom data.\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < SP_ARRAY_LEN(commands); i++) {
        fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
    }
    fprintf(f,
            "\n"
            "Options:\n"
            "  --config FILE  configuration file (default: $CTSPOOL_CONFIG,\n"
            "                 else /etc/ctspool/ctspool.cfg)\n"
            "  --log-level LEVEL\n"
            "                 error, warn, info or debug; wins over\n"
            "                 $CTSPOOL_LOG_LEVEL and the log_level key\n"
            "  --help         this text; COMMAND --help for a command\n"
            "  --version      print the version\n"
            "\n"
            "Exit codes: 0 ok, 64 usage, 65 invalid input, 66 input missing,\n"
            "69 credentials rejected, 71 operating-system error (a listen\n"
            "address taken), 73 journal cannot be created, 74 I/O error or\n"
            "disk full, 75 temporary failure, 78 configuration error.\n");
}

int
cli_exit_code(ctspool_rc rc)
{
    switch (rc) {
    case CTSPOOL_OK:
        return EXIT_OK;
    case CTSPOOL_E_INVALID:
    case CTSPOOL_E_REJECTED:
        return EXIT_DATAERR;
    case CTSPOOL_E_NOINPUT:
    case CTSPOOL_E_NOTFOUND:
        return EXIT_NOINPUT;
    case CTSPOOL_E_AUTH:
        return EXIT_UNAVAILABLE;
    case CTSPOOL_E_CANTCREATE:
    case CTSPOOL_E_SCHEMA:
        return EXIT_CANTCREAT;
    case CTSPOOL_E_IO:
    case CTSPOOL_E_DISKFULL:
    case CTSPOOL_E_CORRUPT:
        return EXIT_IOERR;
    case CTSPOOL_E_BUSY:
    case CTSPOOL_E_TRANSIENT:
    case CTSPOOL_E_FULL:
    case CTSPOOL_E_LOCKED:
        return EXIT_TEMPFAIL;
    case CTSPOOL_E_CONFIG:
        return EXIT_CONFIG;
    case CTSPOOL_E_USAGE:
        return EXIT_USAGE;
    case CTSPOOL_E_NOMEM:
        return EXIT_OSERR;
    }
    return EXIT_SOFTWARE;
}

void
cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "ctspool: %s%s", cmd ? cmd : "", cmd ? ": " : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int
cli_config(struct cli *c, const char *cmd)
{
    struct sp_err e;
    ctspool_rc rc;

    if (c->cfg) {
        return 0;
    }
    rc = sp_config_load(c->config_path, &c->cfg, &e);
    if (rc != CTSPOOL_OK) {
        cli_error(cmd, "%s", e.msg);
        return cli_exit_code(rc);
    }
    sp_log_init(cmd, (enum sp_log_level)c->cfg->log_level);
    sp_log_set_format((enum sp_log_format)c->cfg->log_format);
    if (c->cfg->warning) {
        sp_log(SP_LOG_WARN, "%s", c->cfg->warning);
    }
    return 0;
}

static int
open_journal(struct cli *c, const char *cmd, int must_exist,
             struct sp_journal **j)
{
    struct sp_journal_opts o;
    struct sp_err e;
    ctspool_rc rc;
    int ex = cli_config(c, cmd);

    if (ex) {
        return ex;
    }
    memset(&o, 0, sizeof(o));
    o.path = c->cfg->journal;
    o.durability_full = c->cfg->durability_full;
    o.max_pending_points = (uint64_t)c->cfg->limits.max_pending_points;
    o.max_journal_bytes = (uint64_t)c->cfg->limits.max_journal_bytes;
    o.must_exist = must_exist;
    o.corrupt_stop = c->cfg->on_corrupt_stop;
    o.file_mode = sp_config_journal_mode(c->cfg);
    rc = sp_journal_open(&o, j, &e);
    if (rc == CTSPOOL_E_NOINPUT && c->cfg->path) {
        cli_error(cmd, "%s (config key \"journal\" in %s)", e.msg,
                  c->cfg->path);
    } else if (rc == CTSPOOL_E_NOINPUT) {
        cli_error(cmd,
                  "%s (config key \"journal\": the default, no "
                  "configuration file was read)",
                  e.msg);
    } else if (rc != CTSPOOL_OK) {
        cli_error(cmd, "%s", e.msg);
    }
    return rc == CTSPOOL_OK ? 0 : cli_exit_code(rc);
}

ctspool_rc
cli_print_json(cJSON *obj)
{
    char *text = cJSON_PrintUnformatted(obj);

    cJSON_Delete(obj);
    if (!text) {
        return CTSPOOL_E_NOMEM;
    }
    puts(text);
    cJSON_free(text);
    return CTSPOOL_OK;
}

void
cli_fmt_time(int64_t t, char *buf, size_t len)
{
    struct tm tm;
    time_t tt = (time_t)t;

    if (t < 0) {
        snprintf(buf, len, "never");
        return;
    }
    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

ctspool_rc
cli_journal_failed(struct sp_journal *j, ctspool_rc rc)
{
    if (rc == CTSPOOL_E_CORRUPT) {
        rc = sp_journal_heal(j);
        /* A read-only command never starts a fresh journal: still an
         * error, now naming where the damaged one went. */
        return rc == CTSPOOL_OK ? CTSPOOL_E_CORRUPT : rc;
    }
    return rc;
}

int
cli_journal(struct cli *c, const char *cmd, struct sp_journal **j)
{
    return open_journal(c, cmd, 0, j);
}

int
cli_journal_existing(struct cli *c, const char *cmd, struct sp_journal **j)
{
    return open_journal(c, cmd, 1, j);
}

int
cli_usage_hint(const char *cmd)
{
    fprintf(stderr, "Try 'ctspool %s --help'.\n", cmd);
    return EXIT_USAGE;
}

void
cli_restart_only(const char *what)
{
    sp_log(SP_LOG_WARN,
           "SIGHUP: %s changed; it takes effect at the next restart", what);
}

/*
 * The level of --log-level (level_arg, NULL if not given), else of
 * $CTSPOOL_LOG_LEVEL when set and not empty, pinned over the
 * configuration's log_level.  0 or an exit code (printed); a bad
 * $CTSPOOL_LOG_LEVEL goes to c->bad_log_env instead when defer is set.
 */
static int
pin_log_level(struct cli *c, const char *level_arg, int defer)
{
    const char *env = getenv("CTSPOOL_LOG_LEVEL");
    int level;

    if (level_arg) {
        level = sp_log_level_parse(level_arg);
        if (level < 0) {
            cli_error(NULL,
                      "--log-level: unknown level '%s' (error, warn, "
                      "info or debug)",
                      level_arg);
            usage(stderr);
            return EXIT_USAGE;
        }
    } else if (env && *env) {
        level = sp_log_level_parse(env);
        if (level < 0 && defer) {
            c->bad_log_env = env;
            return 0;
        }
        if (level < 0) {
            cli_error(NULL,
                      "CTSPOOL_LOG_LEVEL: unknown level '%s' (error, "
                      "warn, info or debug)",
                      env);
            return EXIT_CONFIG;
        }
    } else {
        return 0;
    }
    sp_log_pin_level((enum sp_log_level)level);
    return 0;
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"log-level", required_argument, NULL, 'l'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *level_arg = NULL;
    struct cli c;
    int ch, ex;

    memset(&c, 0, sizeof(c));
    sp_log_init("ctspool", SP_LOG_INFO);
    /* Before any other SQLite call: no global allocation statistics, so
     * no global mutex on every SQLite allocation. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    /* Counts SQLite's failed allocations, so that "out of memory" can be
     * told from damage (the journal's open, salvage). */
    sp_memwatch_install(NULL);
    /* '+': stop at the command; its options are its own. */
    while ((ch = getopt_long(argc, argv, "+c:hl:V", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            c.config_path = optarg;
            break;
        case 'l':
            level_arg = optarg;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case 'V':
            printf("ctspool %s\n", CTSPOOL_VERSION_STRING);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    ex = pin_log_level(&c, level_arg,
                       strcmp(argv[optind], "check-config") == 0);
    if (ex) {
        return ex;
    }
    for (size_t i = 0; i < SP_ARRAY_LEN(commands); i++) {
        if (strcmp(argv[optind], commands[i].name) == 0) {
            int sub_argc = argc - optind;
            char **sub_argv = argv + optind;

            optind = 1; /* commands run getopt_long on their own argv */
            ex = commands[i].fn(&c, sub_argc, sub_argv);
            sp_config_free(c.cfg);
            return ex;
        }
    }
    cli_error(NULL, "unknown command '%s'", argv[optind]);
    usage(stderr);
    return EXIT_USAGE;
}
