/*
 * reload.c -- SIGHUP for `ctspool drain` (DESIGN.md section 12): the
 * configuration file is read again between two requests.  The API key
 * (and the key file or CTSPOOL_API_KEY it comes from), the default data
 * stream token, the log level, batch sizes, pacing, retry_* and poll_ms
 * take effect at once, and health.max_undelivered_s for
 * drain.metrics_listen's /healthz/upstream.  The journal,
 * upload.endpoint, upload.events_endpoint, the timeouts, upload.ca_file,
 * upload.compress, upload.proxy, upload.client_*, drain.metrics_listen,
 * on_corrupt and journal_file_mode (the journal's handle has them) need
 * a restart: a change is logged and the running value stays (the
 * endpoint names the upstream whose requests may still be in doubt and
 * whose landing record this drainer keeps: doubt.c, landing.c).  A
 * file that does not load, or a key that cannot be read, leaves
 * everything as it was.  SIGHUP never stops the drainer.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "drain_int.h"

volatile sig_atomic_t dr_reload_flag;

/* The key file's mode, by the rule of the configuration's secrets: a
 * 0640 file for a group of its own is the documented setup. */
void
dr_key_file_check(const struct sp_config *cfg)
{
    char *w = NULL;
    struct sp_err e;

    if (sp_config_key_file_warning(cfg, &w, &e) == CTSPOOL_OK && w) {
        sp_log(SP_LOG_WARN, "%s", w);
    }
    free(w);
}

static int
differs(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") != 0;
}

static void
keep_str(char **running, char **loaded, const char *what)
{
    char *t;

    if (!differs(*running, *loaded)) {
        return;
    }
    cli_restart_only(what);
    t = *running;
    *running = *loaded;
    *loaded = t;
}

static void
keep_long(long *running, long *loaded, const char *what)
{
    if (*running != *loaded) {
        cli_restart_only(what);
        *loaded = *running;
    }
}

static void
keep_int(int *running, int *loaded, const char *what)
{
    if (*running != *loaded) {
        cli_restart_only(what);
        *loaded = *running;
    }
}

/*
 * The settings that need a restart keep their running values in the
 * loaded configuration (and those loaded go to old, to be freed), so
 * that d->cfg always says what is in force.
 */
static void
keep_restart_only(struct sp_config *old, struct sp_config *cfg)
{
    keep_str(&old->journal, &cfg->journal, "journal");
    keep_str(&old->upload.endpoint, &cfg->upload.endpoint,
             "upload.endpoint");
    keep_str(&old->upload.events_endpoint, &cfg->upload.events_endpoint,
             "upload.events_endpoint");
    keep_str(&old->upload.ca_file, &cfg->upload.ca_file, "upload.ca_file");
    keep_str(&old->upload.proxy, &cfg->upload.proxy, "upload.proxy");
    keep_str(&old->upload.client_cert, &cfg->upload.client_cert,
             "upload.client_cert");
    keep_str(&old->upload.client_key, &cfg->upload.client_key,
             "upload.client_key");
    keep_str(&old->drain.metrics_listen, &cfg->drain.metrics_listen,
             "drain.metrics_listen");
    keep_long(&old->upload.connect_timeout_ms,
              &cfg->upload.connect_timeout_ms, "upload.connect_timeout_ms");
    keep_long(&old->upload.request_timeout_ms,
              &cfg->upload.request_timeout_ms, "upload.request_timeout_ms");
    keep_int(&old->upload.compress, &cfg->upload.compress,
             "upload.compress");
    keep_int(&old->on_corrupt_stop, &cfg->on_corrupt_stop, "on_corrupt");
    keep_str(&old->journal_file_mode, &cfg->journal_file_mode,
             "journal_file_mode");
}

void
dr_reload(struct dr_drainer *d)
{
    struct sp_config *old = d->cli->cfg, *cfg = NULL;
    char *key = NULL;
    char mkey[32], mstream[32], pace[96];
    struct sp_err e;
    size_t batch;

    dr_reload_flag = 0;
    if (sp_config_load(d->cli->config_path, &cfg, &e) != CTSPOOL_OK ||
        sp_config_api_key(cfg, &key, &e) != CTSPOOL_OK) {
        sp_log(SP_LOG_ERROR,
               "SIGHUP: configuration not reloaded, the previous one stays "
               "in force: %s",
               e.msg);
        sp_config_free(cfg);
        return;
    }
    if (strcmp(key, d->api_key) != 0 &&
        dr_upload_set_key(d->up, key) != CTSPOOL_OK) {
        sp_log(SP_LOG_ERROR,
               "SIGHUP: configuration not reloaded, the previous one stays "
               "in force: out of memory");
        explicit_bzero(key, strlen(key));
        free(key);
        sp_config_free(cfg);
        return;
    }
    if (cfg->warning) {
        sp_log(SP_LOG_WARN, "%s", cfg->warning);
    }
    dr_key_file_check(cfg);
    keep_restart_only(old, cfg);
    sp_log_set_level((enum sp_log_level)cfg->log_level);
    sp_log_set_format((enum sp_log_format)cfg->log_format);
    explicit_bzero(d->api_key, strlen(d->api_key));
    free(d->api_key);
    d->api_key = key;
    d->cli->cfg = cfg;
    d->cfg = cfg;
    sp_config_free(old);
    dr_metrics_reload(d->metrics, cfg);
    /* A size learned from a 413 stays while it is the smaller one. */
    batch = (size_t)cfg->upload.batch_max_points;
    if (!d->req_max_until || batch < d->req_max_points) {
        d->req_max_points = batch;
    }
    dr_pace_text(cfg, pace, sizeof(pace));
    sp_log(SP_LOG_INFO,
           "SIGHUP: configuration reloaded from %s (API key %s, default "
           "stream %s; batches of up to %ld points, %ld bytes, %s; "
           "retries after %ld to %ld ms; poll every %ld ms)",
           cfg->path ? cfg->path : "defaults",
           sp_mask(key, mkey, sizeof(mkey)),
           sp_mask(cfg->upload.data_stream_token, mstream, sizeof(mstream)),
           cfg->upload.batch_max_points, cfg->upload.batch_max_bytes, pace,
           cfg->upload.retry_base_ms, cfg->upload.retry_max_ms,
           cfg->upload.poll_ms);
}
