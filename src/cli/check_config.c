/*
 * check_config.c -- `ctspool check-config [--role ROLE]...`: every
 * problem of the configuration file, one a line, and with --role what
 * that role refuses at start, by the very checks serve and drain run.
 * Nothing is started, bound or created; no message holds a secret.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "drain_int.h"
#include "lock.h"
#include "serve.h"

#define CMD "check-config"

enum { ROLE_SERVE = 1, ROLE_DRAIN = 2, ROLE_APPEND = 4 };

static const char usage[] =
    "usage: ctspool check-config [--role serve|drain|append|all]...\n"
    "\n"
    "Loads and validates the configuration without starting anything.\n"
    "Every problem is reported on a line of its own (file, line and\n"
    "setting); for an unknown setting, the closest known one is named.\n"
    "Exit 78 if there is any, else \"FILE: ok\" and exit 0.\n"
    "\n"
    "  --role ROLE  also check what ROLE needs at start (may be given\n"
    "               more than once; without it, only the file):\n"
    "                 serve   server.listen resolves; API keys set\n"
    "                         (server.api_keys, a readable\n"
    "                         server.api_keys_file, or\n"
    "                         CTSPOOL_SERVER_API_KEYS), or\n"
    "                         server.allow_unauthenticated with a\n"
    "                         loopback server.listen\n"
    "                 drain   an upload API key (upload.api_key, a\n"
    "                         readable upload.api_key_file, or\n"
    "                         CTSPOOL_API_KEY); upload.ca_file a PEM\n"
    "                         file when set; upload.client_cert and\n"
    "                         upload.client_key readable when set;\n"
    "                         drain.metrics_listen resolves when set;\n"
    "                         the drainer's lock file, if there, is\n"
    "                         one this user can open\n"
    "                 append  the journal's directory exists and\n"
    "                         this user can write there and to the\n"
    "                         journal's files (every role checks this)\n"
    "                 all     the three\n";

/* Reports one problem: the count lives in *arg. */
static void
report(void *arg, const char *msg)
{
    unsigned *n = arg;

    cli_error(CMD, "%s", msg);
    (*n)++;
}

static int
parse_role(const char *s)
{
    if (strcmp(s, "serve") == 0) {
        return ROLE_SERVE;
    }
    if (strcmp(s, "drain") == 0) {
        return ROLE_DRAIN;
    }
    if (strcmp(s, "append") == 0) {
        return ROLE_APPEND;
    }
    if (strcmp(s, "all") == 0) {
        return ROLE_SERVE | ROLE_DRAIN | ROLE_APPEND;
    }
    return 0;
}

/* What `ctspool drain` refuses at start, short of the journal. */
static void
check_drain(const struct sp_config *cfg, unsigned *n)
{
    struct sp_err e;
    char *key = NULL;
    ctspool_rc rc;

    rc = sp_config_api_key(cfg, &key, &e);
    if (key) {
        explicit_bzero(key, strlen(key));
        free(key);
    }
    if (rc != CTSPOOL_OK) {
        /* Without an inline key, the key file was at fault. */
        cli_error(CMD, "drain: %s%s",
                  cfg->upload.api_key || !cfg->upload.api_key_file
                      ? ""
                      : "upload.api_key_file: ",
                  e.msg);
        (*n)++;
    } else {
        dr_key_file_check(cfg);
    }
    if (dr_upload_check_ca(cfg->upload.ca_file, &e) != CTSPOOL_OK) {
        cli_error(CMD, "drain: %s", e.msg);
        (*n)++;
    }
    /* One of the two alone: the file's check has reported it. */
    if (!cfg->upload.client_cert == !cfg->upload.client_key &&
        dr_upload_check_client(cfg->upload.client_cert,
                               cfg->upload.client_key, &e) != CTSPOOL_OK) {
        cli_error(CMD, "drain: %s", e.msg);
        (*n)++;
    }
    if (dr_metrics_check(cfg, &e) != CTSPOOL_OK) {
        cli_error(CMD, "drain: %s", e.msg);
        (*n)++;
    }
    if (dr_lock_check(cfg->journal, &e) != CTSPOOL_OK) {
        cli_error(CMD, "drain: %s", e.msg);
        (*n)++;
    }
}

int
cmd_check_config(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"role", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct sp_config *cfg = NULL;
    struct sp_err e;
    unsigned n = 0;
    int ch, roles = 0, r;
    ctspool_rc rc;

    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            r = parse_role(optarg);
            if (!r) {
                cli_error(CMD, "--role: \"%s\" is not serve, drain, "
                               "append or all", optarg);
                return cli_usage_hint(CMD);
            }
            roles |= r;
            break;
        case 'h':
            printf("%s", usage);
            return EXIT_OK;
        default:
            return cli_usage_hint(CMD);
        }
    }
    if (optind != argc) {
        cli_error(CMD, "unexpected argument '%s'", argv[optind]);
        return cli_usage_hint(CMD);
    }
    if (c->bad_log_env) {
        cli_error(NULL,
                  "CTSPOOL_LOG_LEVEL: unknown level '%s' (error, warn, "
                  "info or debug)",
                  c->bad_log_env);
        n++;
    }
    rc = sp_config_check(c->config_path, report, &n, &cfg, &e);
    if (rc != CTSPOOL_OK) {
        cli_error(CMD, "%s", e.msg);
        return cli_exit_code(rc);
    }
    sp_log_init(CMD, (enum sp_log_level)cfg->log_level);
    sp_log_set_format((enum sp_log_format)cfg->log_format);
    if (cfg->warning) {
        sp_log(SP_LOG_WARN, "%s", cfg->warning);
    }
    if (roles && sp_journal_check_dir(cfg->journal, &e) != CTSPOOL_OK) {
        cli_error(CMD, "journal: %s", e.msg);
        n++;
    }
    if ((roles & ROLE_SERVE) && sv_check_config(cfg, &e) != CTSPOOL_OK) {
        cli_error(CMD, "serve: %s", e.msg);
        n++;
    }
    if (roles & ROLE_DRAIN) {
        check_drain(cfg, &n);
    }
    if (n == 0) {
        printf("%s: ok\n", cfg->path ? cfg->path : "(built-in defaults)");
    }
    sp_config_free(cfg);
    return n ? EXIT_CONFIG : EXIT_OK;
}
