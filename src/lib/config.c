/*
 * config.c -- the only libconfig user: a ctspool configuration file
 * (DESIGN.md section 7) -> struct sp_config, with the built-in defaults,
 * type and range checks and the environment overrides.  Beside it:
 * config_keys.c lists the settings, config_lex.c rewrites the text
 * before libconfig reads it, config_check.c checks single values, and
 * config_file.c reads the files (the configuration, the API key file)
 * and words the permission warning.
 *
 * Every setting is one row of sp_config_keys[] (config_keys.c): its
 * name, type, default and bounds live in one place.  Loading goes:
 * defaults -> file (every setting in file order; the first error wins,
 * or, for sp_config_check(), each is reported and loading goes on) ->
 * cross-field checks -> environment.  The library never prints:
 * problems become E_CONFIG with "FILE:LINE: ..." in the sp_err, and a
 * secret in a file readable by others (or readable and writable by its
 * group) becomes c->warning for the program to log.
 *
 * Invariants (of config_*.c as well):
 * (1) No error message or warning ever contains a secret value (API key,
 *     stream token, server key); they name the setting only.
 * (2) Optional strings ("" means none) are NULL in the struct, never "".
 * (3) On failure *out is NULL and nothing is left allocated.
 */
#include <assert.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <libconfig.h>

#include "config_int.h"
#include "sp_int.h"

#define DEFAULT_CONFIG_PATH "/etc/ctspool/ctspool.cfg"
static const char *const groups[] = {"upload", "server", "limits",
                                     "health", "drain"};

/* State of one sp_config_load() or sp_config_check(). */
struct load {
    const char *path; /* the file being read */
    config_t cfg;     /* valid during load_file() */
    int has_secret;   /* the file holds a non-empty secret */
    struct sp_config *c;
    struct sp_err *e;
    sp_config_report_fn report; /* sp_config_check(): NULL otherwise */
    void *report_arg;
};

/* ---- helpers ---------------------------------------------------------- */

static char **
str_field(struct sp_config *c, const struct key *k)
{
    return (char **)(void *)((char *)c + k->off);
}

static int *
int_field(struct sp_config *c, const struct key *k)
{
    return (int *)(void *)((char *)c + k->off);
}

static long *
long_field(struct sp_config *c, const struct key *k)
{
    return (long *)(void *)((char *)c + k->off);
}

static int64_t *
int64_field(struct sp_config *c, const struct key *k)
{
    return (int64_t *)(void *)((char *)c + k->off);
}

static char ***
list_field(struct sp_config *c, const struct key *k)
{
    return (char ***)(void *)((char *)c + k->off);
}

static size_t *
count_field(struct sp_config *c, const struct key *k)
{
    return (size_t *)(void *)((char *)c + k->count_off);
}

/* Overwrite, then free: used for anything that may hold a secret. */
static void
free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

/* Replace *dst by a copy of src (NULL stays NULL). */
static ctspool_rc
set_str(char **dst, const char *src, struct sp_err *e)
{
    char *copy = NULL;

    if (src) {
        copy = strdup(src);
        if (!copy) {
            sp_err_set(e, "out of memory");
            return CTSPOOL_E_NOMEM;
        }
    }
    free_secret(*dst);
    *dst = copy;
    return CTSPOOL_OK;
}

/* "upload.poll_ms" for a key of a group, "journal" at the top. */
static void
full_name(const char *group, const char *name, char *buf, size_t buf_len)
{
    if (group) {
        snprintf(buf, buf_len, "%s.%s", group, name);
    } else {
        snprintf(buf, buf_len, "%s", name);
    }
}

static ctspool_rc fail_at(struct load *l, const config_setting_t *s,
                          const char *fmt, ...) SP_PRINTF(3, 4);

/* Sets "FILE:LINE: message" for setting s and returns E_CONFIG. */
static ctspool_rc
fail_at(struct load *l, const config_setting_t *s, const char *fmt, ...)
{
    const char *file = config_setting_source_file(s);
    va_list ap;

    if (!file) {
        file = l->path;
    }
    if (l->e) {
        va_start(ap, fmt);
        vsnprintf(l->e->msg, sizeof(l->e->msg), fmt, ap);
        va_end(ap);
        sp_err_prefix(l->e, "%s:%u: ", file,
                      (unsigned)config_setting_source_line(s));
    }
    return CTSPOOL_E_CONFIG;
}

/*
 * The outcome rc of one setting or check: for sp_config_check(), a
 * problem (E_CONFIG) is reported and loading goes on (OK); otherwise rc.
 */
static ctspool_rc
note(struct load *l, ctspool_rc rc)
{
    if (rc != CTSPOOL_E_CONFIG || !l->report) {
        return rc;
    }
    l->report(l->report_arg, l->e->msg);
    return CTSPOOL_OK;
}

/* ---- applying settings ------------------------------------------------ */

static const struct key *
find_key(const char *group, const char *name)
{
    for (size_t i = 0; i < sp_config_n_keys; i++) {
        const struct key *k = &sp_config_keys[i];

        if (strcmp(k->name, name) != 0) {
            continue;
        }
        if ((!group && !k->group) ||
            (group && k->group && strcmp(group, k->group) == 0)) {
            return k;
        }
    }
    return NULL;
}

static int
is_group(const char *name)
{
    for (size_t i = 0; i < SP_ARRAY_LEN(groups); i++) {
        if (strcmp(groups[i], name) == 0) {
            return 1;
        }
    }
    return 0;
}

static ctspool_rc
apply_strlist(struct load *l, const struct key *k, const char *kname,
              const config_setting_t *s)
{
    struct sp_config *c = l->c;
    struct sp_err why;
    char **list = NULL;
    size_t n = 0, i;
    int len;
    ctspool_rc rc = CTSPOOL_OK;

    if (config_setting_type(s) != CONFIG_TYPE_LIST &&
        config_setting_type(s) != CONFIG_TYPE_ARRAY) {
        return fail_at(l, s, "'%s' must be a list of strings", kname);
    }
    len = config_setting_length(s);
    n = len > 0 ? (size_t)len : 0;
    list = calloc(n + 1, sizeof(*list)); /* NULL-terminated as well */
    if (!list) {
        sp_err_set(l->e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    for (i = 0; i < n; i++) {
        const config_setting_t *el = config_setting_get_elem(s, (unsigned)i);
        const char *v;

        if (config_setting_type(el) != CONFIG_TYPE_STRING) {
            rc = fail_at(l, el, "'%s' must be a list of strings", kname);
            goto out;
        }
        v = config_setting_get_string(el);
        if (!*v) {
            rc = fail_at(l, el, "'%s' entry %zu is empty", kname, i + 1);
            goto out;
        }
        if (sp_config_has_control(v)) {
            rc = fail_at(l, el,
                         "'%s' entry %zu contains a control character",
                         kname, i + 1);
            goto out;
        }
        if (k->check && k->check(v, &why) != 0) {
            rc = fail_at(l, el, "'%s' entry %zu %s", kname, i + 1, why.msg);
            goto out;
        }
        list[i] = strdup(v);
        if (!list[i]) {
            sp_err_set(l->e, "out of memory");
            rc = CTSPOOL_E_NOMEM;
            goto out;
        }
        if (k->flags & F_SECRET) {
            l->has_secret = 1;
        }
    }
out:
    if (rc != CTSPOOL_OK) {
        for (i = 0; i < n; i++) {
            free_secret(list[i]);
        }
        free(list);
        return rc;
    }
    /* Only one definition per file (libconfig refuses duplicates). */
    assert(!*list_field(c, k));
    *list_field(c, k) = list;
    *count_field(c, k) = n;
    return CTSPOOL_OK;
}

/* Check the value of setting s against k and store it in l->c. */
static ctspool_rc
apply(struct load *l, const struct key *k, const config_setting_t *s)
{
    char kname[128];
    struct sp_err why;
    const char *str;
    long long v;
    int type = config_setting_type(s);
    int w;

    full_name(k->group, k->name, kname, sizeof(kname));
    switch (k->kind) {
    case K_STRING:
    case K_ENUM:
        if (type != CONFIG_TYPE_STRING) {
            return fail_at(l, s, "'%s' must be a string", kname);
        }
        str = config_setting_get_string(s);
        if (k->kind == K_ENUM) {
            w = k->parse(str);
            if (w < 0) {
                return fail_at(l, s, "'%s' must be %s", kname, k->words);
            }
            *int_field(l->c, k) = w;
            return CTSPOOL_OK;
        }
        if (k->check && k->check(str, &why) != 0) {
            return fail_at(l, s, "'%s' %s", kname, why.msg);
        }
        if (((k->flags & F_SECRET) && *str) ||
            ((k->flags & F_SECRET_USERINFO) &&
             sp_config_url_has_userinfo(str))) {
            l->has_secret = 1;
        }
        if ((k->flags & F_OPTIONAL) && !*str) {
            str = NULL;
        }
        return set_str(str_field(l->c, k), str, l->e);
    case K_LONG:
    case K_INT64:
        if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
            return fail_at(l, s, "'%s' must be an integer", kname);
        }
        v = config_setting_get_int64(s);
        if (v < k->min || v > k->max) {
            if (k->max == INT64_MAX || k->max == LONG_MAX) {
                return fail_at(l, s, "'%s' must be at least %lld (got %lld)",
                               kname, (long long)k->min, v);
            }
            return fail_at(l, s,
                           "'%s' must be between %lld and %lld (got %lld)",
                           kname, (long long)k->min, (long long)k->max, v);
        }
        if (k->kind == K_LONG) {
            *long_field(l->c, k) = (long)v;
        } else {
            *int64_field(l->c, k) = (int64_t)v;
        }
        return CTSPOOL_OK;
    case K_BOOL:
        if (type != CONFIG_TYPE_BOOL) {
            return fail_at(l, s, "'%s' must be a boolean (true or false)",
                           kname);
        }
        *int_field(l->c, k) = config_setting_get_bool(s) ? 1 : 0;
        return CTSPOOL_OK;
    case K_STRLIST:
        return apply_strlist(l, k, kname, s);
    }
    assert(0 && "unknown key kind");
    return CTSPOOL_E_CONFIG;
}

/* Edit distance of a and b (each at most 63 characters, else big). */
static size_t
distance(const char *a, const char *b)
{
    size_t row[64], la = strlen(a), lb = strlen(b), diag, up;

    if (la >= SP_ARRAY_LEN(row) || lb >= SP_ARRAY_LEN(row)) {
        return SIZE_MAX;
    }
    for (size_t j = 0; j <= lb; j++) {
        row[j] = j;
    }
    for (size_t i = 1; i <= la; i++) {
        diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            up = row[j];
            row[j] = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < row[j]) {
                row[j] = up + 1;
            }
            if (row[j - 1] + 1 < row[j]) {
                row[j] = row[j - 1] + 1;
            }
            diag = up;
        }
    }
    return row[lb];
}

/*
 * The known name (setting or group) closest to the unknown kname, into
 * buf: the setting of that name in another group, else one close enough
 * to be a typo (at most 2 edits, and fewer than a third of the name);
 * else "".
 */
static void
suggest(const char *kname, char *buf, size_t buf_len)
{
    char cand[128];
    const char *dot = strrchr(kname, '.');
    const char *bare = dot ? dot + 1 : kname;
    size_t best = SIZE_MAX, d, limit = strlen(kname) / 3;

    buf[0] = '\0';
    /* A known setting put in the wrong group ("api_key" at the top for
     * upload.api_key): that setting. */
    for (size_t i = 0; i < sp_config_n_keys; i++) {
        if (strcmp(sp_config_keys[i].name, bare) == 0) {
            full_name(sp_config_keys[i].group, sp_config_keys[i].name, buf,
                      buf_len);
            return;
        }
    }
    if (limit > 2) {
        limit = 2;
    }
    for (size_t i = 0; i < sp_config_n_keys + SP_ARRAY_LEN(groups); i++) {
        if (i < sp_config_n_keys) {
            full_name(sp_config_keys[i].group, sp_config_keys[i].name, cand,
                      sizeof(cand));
        } else {
            snprintf(cand, sizeof(cand), "%s",
                     groups[i - sp_config_n_keys]);
        }
        d = distance(kname, cand);
        if (d <= limit && d < best) {
            best = d;
            snprintf(buf, buf_len, "%s", cand);
        }
    }
}

/* "unknown setting 'KNAME'", with a suggestion when one is close. */
static ctspool_rc
fail_unknown(struct load *l, const config_setting_t *s, const char *kname)
{
    char near[128];

    suggest(kname, near, sizeof(near));
    if (near[0]) {
        return fail_at(l, s, "unknown setting '%s'; did you mean '%s'?",
                       kname, near);
    }
    return fail_at(l, s, "unknown setting '%s'", kname);
}

/* Every setting of the parsed file, in file order. */
static ctspool_rc
apply_all(struct load *l)
{
    const config_setting_t *root = config_root_setting(&l->cfg);
    const config_setting_t *s, *g;
    const struct key *k;
    char kname[256];
    const char *gname;
    ctspool_rc rc;
    int n = config_setting_length(root), m;

    for (int i = 0; i < n; i++) {
        s = config_setting_get_elem(root, (unsigned)i);
        gname = config_setting_name(s);
        if (!is_group(gname)) {
            k = find_key(NULL, gname);
            rc = note(l, k ? apply(l, k, s) : fail_unknown(l, s, gname));
            if (rc != CTSPOOL_OK) {
                return rc;
            }
            continue;
        }
        if (config_setting_type(s) != CONFIG_TYPE_GROUP) {
            rc = note(l, fail_at(l, s, "'%s' must be a group", gname));
            if (rc != CTSPOOL_OK) {
                return rc;
            }
            continue;
        }
        g = s;
        m = config_setting_length(g);
        for (int j = 0; j < m; j++) {
            s = config_setting_get_elem(g, (unsigned)j);
            k = find_key(gname, config_setting_name(s));
            if (k) {
                rc = apply(l, k, s);
            } else {
                full_name(gname, config_setting_name(s), kname,
                          sizeof(kname));
                rc = fail_unknown(l, s, kname);
            }
            rc = note(l, rc);
            if (rc != CTSPOOL_OK) {
                return rc;
            }
        }
    }
    return CTSPOOL_OK;
}

/* The default stream is in the streams list (or the list is empty). */
static int
default_stream_listed(const struct sp_config *c)
{
    const struct sp_defaults d = {.agg = -1, .streams = c->streams,
                                  .n_streams = c->n_streams};
    const char *t = c->upload.data_stream_token;
    struct sp_err ignored;

    return !t ||
           sp_valid_stream_listed(&d, t, strlen(t), &ignored) == CTSPOOL_OK;
}

/* Checks between settings, once all are known. */
static ctspool_rc
check_all(struct load *l)
{
    const struct sp_config *c = l->c;
    const config_setting_t *s;
    const char *env = getenv("CTSPOOL_DATA_STREAM_TOKEN");
    ctspool_rc rc;

    if (c->upload.retry_base_ms > c->upload.retry_max_ms) {
        /* Both defaults agree, so at least one was in the file. */
        s = config_lookup(&l->cfg, "upload.retry_base_ms");
        if (!s) {
            s = config_lookup(&l->cfg, "upload.retry_max_ms");
        }
        assert(s);
        rc = note(l, fail_at(l, s,
                             "'upload.retry_base_ms' (%ld) must not exceed "
                             "'upload.retry_max_ms' (%ld)",
                             c->upload.retry_base_ms,
                             c->upload.retry_max_ms));
        if (rc != CTSPOOL_OK) {
            return rc;
        }
    }
    if (!c->upload.client_cert != !c->upload.client_key) {
        /* Both defaults are "", so the file set the one given. */
        s = config_lookup(&l->cfg, c->upload.client_cert
                                       ? "upload.client_cert"
                                       : "upload.client_key");
        assert(s);
        rc = note(l, fail_at(l, s,
                             "'upload.client_cert' and 'upload.client_key' "
                             "go together: set both, or neither"));
        if (rc != CTSPOOL_OK) {
            return rc;
        }
    }
    /* A token from the environment replaces the file's: apply_env()
     * checks that one. */
    if (!(env && *env) && !default_stream_listed(c)) {
        /* The default has none, so the file set both. */
        s = config_lookup(&l->cfg, "upload.data_stream_token");
        assert(s);
        return note(l, fail_at(l, s,
                               "'upload.data_stream_token' is not in "
                               "'streams': add it to the list, or change "
                               "the default stream"));
    }
    return CTSPOOL_OK;
}

static ctspool_rc
set_defaults(struct sp_config *c, struct sp_err *e)
{
    ctspool_rc rc;

    for (size_t i = 0; i < sp_config_n_keys; i++) {
        const struct key *k = &sp_config_keys[i];

        switch (k->kind) {
        case K_STRING:
            rc = set_str(str_field(c, k), k->def_str, e);
            if (rc != CTSPOOL_OK) {
                return rc;
            }
            break;
        case K_ENUM:
        case K_BOOL:
            *int_field(c, k) = (int)k->def_int;
            break;
        case K_LONG:
            *long_field(c, k) = (long)k->def_int;
            break;
        case K_INT64:
            *int64_field(c, k) = k->def_int;
            break;
        case K_STRLIST:
            break; /* empty */
        }
    }
    return CTSPOOL_OK;
}

/* $CTSPOOL_API_KEY and $CTSPOOL_DATA_STREAM_TOKEN, when non-empty. */
static ctspool_rc
apply_env(struct load *l)
{
    struct sp_config *c = l->c;
    struct sp_err *e = l->e, why;
    const char *v;
    ctspool_rc rc;

    v = getenv("CTSPOOL_API_KEY");
    if (v && *v) {
        if (sp_config_check_secret(v, &why) != 0) {
            sp_err_set(e, "$CTSPOOL_API_KEY %s", why.msg);
            rc = note(l, CTSPOOL_E_CONFIG);
        } else {
            rc = set_str(&c->upload.api_key, v, e);
        }
        if (rc != CTSPOOL_OK) {
            return rc;
        }
    }
    v = getenv("CTSPOOL_DATA_STREAM_TOKEN");
    if (v && *v) {
        if (sp_config_check_stream(v, &why) != 0) {
            sp_err_set(e, "$CTSPOOL_DATA_STREAM_TOKEN %s", why.msg);
            return note(l, CTSPOOL_E_CONFIG);
        }
        rc = set_str(&c->upload.data_stream_token, v, e);
        if (rc != CTSPOOL_OK) {
            return rc;
        }
        if (!default_stream_listed(c)) {
            /* A list is set only by a file. */
            sp_err_set(e,
                       "$CTSPOOL_DATA_STREAM_TOKEN is not in 'streams' of "
                       "%s: add it to the list, or change the default "
                       "stream",
                       c->path ? c->path : "the configuration");
            return note(l, CTSPOOL_E_CONFIG);
        }
    }
    return CTSPOOL_OK;
}

/*
 * upload.events_endpoint when not set: upload.endpoint with its trailing
 * "streams/ingest" replaced by "events" (DESIGN.md section 7); left
 * unset when the endpoint does not end so (the drainer then says so).
 */
static ctspool_rc
derive_events_endpoint(struct load *l)
{
    static const char tail[] = "streams/ingest";
    struct sp_config *c = l->c;
    const char *ep = c->upload.endpoint;
    size_t n, t = sizeof(tail) - 1;
    char *s;

    if ((c->upload.events_endpoint && c->upload.events_endpoint[0]) || !ep) {
        return CTSPOOL_OK;
    }
    n = strlen(ep);
    if (n < t || strcmp(ep + n - t, tail) != 0) {
        return CTSPOOL_OK;
    }
    s = malloc(n - t + sizeof("events"));
    if (!s) {
        sp_err_set(l->e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    memcpy(s, ep, n - t);
    memcpy(s + n - t, "events", sizeof("events"));
    free(c->upload.events_endpoint);
    c->upload.events_endpoint = s;
    return CTSPOOL_OK;
}

/*
 * load_file -- parse the text of l->path (mode: its permissions) into
 * l->c, over the defaults already there.
 */
static ctspool_rc
load_file(struct load *l, const char *text, size_t text_len, mode_t mode)
{
    char *promoted = NULL;
    ctspool_rc rc;
    int has_cfg = 0;

    rc = sp_config_promote_int64(l->path, text, text_len, &promoted, l->e);
    if (rc != CTSPOOL_OK) {
        goto out;
    }
    config_init(&l->cfg);
    has_cfg = 1;
    if (config_read_string(&l->cfg, promoted) != CONFIG_TRUE) {
        char names[256];
        int line = config_error_line(&l->cfg);

        /* libconfig gives the line, not the setting: name it. */
        sp_config_names_on_line(text, text_len, line > 0 ? (unsigned)line : 0,
                                names, sizeof(names));
        sp_err_set(l->e, "%s:%d: %s%s%s%s",
                   config_error_file(&l->cfg) ? config_error_file(&l->cfg)
                                              : l->path,
                   line, config_error_text(&l->cfg),
                   names[0] ? " (the line sets " : "", names,
                   names[0] ? ")" : "");
        rc = CTSPOOL_E_CONFIG;
        goto out;
    }
    rc = apply_all(l);
    if (rc != CTSPOOL_OK) {
        goto out;
    }
    rc = check_all(l);
    if (rc != CTSPOOL_OK) {
        goto out;
    }
    rc = set_str(&l->c->path, l->path, l->e);
    if (rc != CTSPOOL_OK) {
        goto out;
    }
    rc = sp_config_set_warning(l->c, l->path, l->has_secret, mode, l->e);
out:
    if (has_cfg) {
        config_destroy(&l->cfg);
    }
    if (promoted) {
        explicit_bzero(promoted, strlen(promoted));
        free(promoted);
    }
    return rc;
}

/* ---- the interface ---------------------------------------------------- */

static ctspool_rc
load(const char *path, sp_config_report_fn report, void *arg,
     struct sp_config **out, struct sp_err *e)
{
    struct load l;
    char *text = NULL;
    size_t text_len = 0;
    mode_t mode = 0;
    int missing_ok = 0;
    ctspool_rc rc;

    assert(out);
    *out = NULL;
    memset(&l, 0, sizeof(l));
    l.e = e;
    l.report = report;
    l.report_arg = arg;
    l.c = calloc(1, sizeof(*l.c));
    if (!l.c) {
        sp_err_set(e, "out of memory");
        rc = CTSPOOL_E_NOMEM;
        goto out;
    }
    rc = set_defaults(l.c, e);
    if (rc != CTSPOOL_OK) {
        goto out;
    }
    if (!path || !*path) {
        path = getenv("CTSPOOL_CONFIG");
    }
    if (!path || !*path) {
        path = DEFAULT_CONFIG_PATH;
        missing_ok = 1;
    }
    l.path = path;
    rc = sp_config_read_file(path, missing_ok, &text, &text_len, &mode, e);
    if (rc == CTSPOOL_OK) {
        rc = load_file(&l, text, text_len, mode);
    } else if (rc == CTSPOOL_E_NOTFOUND) {
        rc = CTSPOOL_OK; /* nothing at the default place: defaults */
    }
    if (rc != CTSPOOL_OK) {
        goto out;
    }
    rc = apply_env(&l);
    if (rc == CTSPOOL_OK) {
        rc = derive_events_endpoint(&l);
    }
out:
    if (text) {
        explicit_bzero(text, text_len);
        free(text);
    }
    if (rc != CTSPOOL_OK) {
        sp_config_free(l.c);
        return rc;
    }
    *out = l.c;
    return CTSPOOL_OK;
}

ctspool_rc
sp_config_load(const char *path, struct sp_config **out, struct sp_err *e)
{
    return load(path, NULL, NULL, out, e);
}

ctspool_rc
sp_config_check(const char *path, sp_config_report_fn report, void *arg,
                struct sp_config **out, struct sp_err *e)
{
    struct sp_err mine;

    assert(report);
    return load(path, report, arg, out, e ? e : &mine);
}

void
sp_config_free(struct sp_config *c)
{
    if (!c) {
        return;
    }
    for (size_t i = 0; i < sp_config_n_keys; i++) {
        const struct key *k = &sp_config_keys[i];
        char **list;

        if (k->kind == K_STRING) {
            free_secret(*str_field(c, k));
        } else if (k->kind == K_STRLIST && (list = *list_field(c, k))) {
            for (size_t j = 0; j < *count_field(c, k); j++) {
                free_secret(list[j]);
            }
            free(list);
        }
    }
    free(c->path);
    free(c->warning);
    free(c);
}
