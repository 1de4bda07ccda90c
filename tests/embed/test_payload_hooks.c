/*
 * test_payload_hooks.c -- a program embedding libctspool keeps cJSON to
 * itself: it installs its own cJSON allocation hooks, then loads the
 * shared library (its constructors run) and appends a payload through
 * the public API.  Its hooks must still serve its own cJSON calls, every
 * tree it allocated must come back to its own free hook, and whatever
 * the library did with cJSON meanwhile must have been released.  Linked
 * with cJSON only; the library is dlopen()ed, as a plugin would be, so
 * nothing of it runs before the hooks are in place.
 */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "ctspool.h"

/* ---- counting hooks ------------------------------------------------------ */

#define MAGIC 0x686F6F6Bu /* "hook" */

/* Each block carries a header, so a block from another allocator is
 * recognised when it reaches hook_free. */
struct hdr {
    unsigned magic;
    max_align_t pad;
};

static size_t n_alloc, n_free, n_foreign;

static void *
hook_malloc(size_t n)
{
    struct hdr *h = malloc(sizeof(*h) + n);

    if (!h) {
        return NULL;
    }
    h->magic = MAGIC;
    n_alloc++;
    return h + 1;
}

static void
hook_free(void *p)
{
    struct hdr *h;

    if (!p) {
        return;
    }
    h = (struct hdr *)p - 1;
    if (h->magic != MAGIC) {
        n_foreign++; /* not ours: leaked rather than freed wrongly */
        return;
    }
    h->magic = 0;
    n_free++;
    free(h);
}

/* ---- the library, loaded at run time --------------------------------- */

struct lib {
    void *dl;
    ctspool_rc (*open)(const char *, unsigned, ctspool **);
    void (*close)(ctspool *);
    const char *(*errmsg)(const ctspool *);
    ctspool_rc (*append_json)(ctspool *, const char *, size_t,
                              ctspool_append_result *);
};

static void *
sym(void *dl, const char *name)
{
    void *p = dlsym(dl, name);

    if (!p) {
        fail_msg("dlsym %s: %s", name, dlerror());
    }
    return p;
}

static void
lib_load(struct lib *l)
{
    l->dl = dlopen(CTSPOOL_SHARED_LIB, RTLD_NOW | RTLD_LOCAL);
    if (!l->dl) {
        fail_msg("dlopen %s: %s", CTSPOOL_SHARED_LIB, dlerror());
    }
    *(void **)&l->open = sym(l->dl, "ctspool_open");
    *(void **)&l->close = sym(l->dl, "ctspool_close");
    *(void **)&l->errmsg = sym(l->dl, "ctspool_errmsg");
    *(void **)&l->append_json = sym(l->dl, "ctspool_append_json");
}

/* ---- the test ------------------------------------------------------------ */

static const char doc[] = "{\"a\": [1, \"two\", {\"three\": null}]}";

/* Parses doc with cJSON; asserts each allocation went through the hooks
 * (per_parse: how many a parse makes; 0 to learn it). */
static cJSON *
parse_counted(size_t *per_parse)
{
    size_t before = n_alloc;
    cJSON *t = cJSON_Parse(doc);

    assert_non_null(t);
    if (*per_parse == 0) {
        *per_parse = n_alloc - before;
        assert_true(*per_parse >= 6); /* nodes and strings */
    }
    assert_int_equal(n_alloc - before, *per_parse);
    return t;
}

static void
test_hooks_survive_the_library(void **state)
{
    static const char payload[] =
        "{\"data_stream_token\": \"tok-1234567890\", \"metric_agg_func\": "
        "\"Sum\", \"data\": [{\"timestamp\": \"2022-10-01 05:00:00\", "
        "\"metric_name\": \"requests\", \"metric_value\": 12.5, "
        "\"custom_dimensions\": {\"region\": \"eu\", \"host\": \"a\"}}]}";
    static const char invalid[] =
        "{\"data_stream_token\": \"tok-1234567890\", \"metric_agg_func\": "
        "\"Sum\", \"data\": [{\"timestamp\": 1, \"metric_name\": \"x\"}]}";
    cJSON_Hooks hooks = {hook_malloc, hook_free};
    const char *tmp = getenv("TMPDIR");
    char dir[4096], path[4200];
    size_t per_parse = 0, a0, f0;
    ctspool_append_result res;
    cJSON *before, *after;
    struct lib l;
    ctspool *h = NULL;

    (void)state;
    cJSON_InitHooks(&hooks);
    before = parse_counted(&per_parse);

    lib_load(&l);
    snprintf(dir, sizeof(dir), "%s/ctspool-hooks-XXXXXX",
             tmp && tmp[0] ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/journal.db", dir);
    assert_int_equal(l.open(path, CTSPOOL_DURABILITY_NORMAL, &h),
                     CTSPOOL_OK);

    /* The library parses: what it takes from the hooks, it gives back. */
    a0 = n_alloc;
    f0 = n_free;
    assert_int_equal(l.append_json(h, payload, sizeof(payload) - 1, &res),
                     CTSPOOL_OK);
    assert_int_equal(res.n_new, 1);
    assert_int_equal(l.append_json(h, invalid, sizeof(invalid) - 1, &res),
                     CTSPOOL_E_INVALID);
    assert_non_null(strstr(l.errmsg(h), "data[0]: "));
    assert_int_equal(l.append_json(h, "{\"data\": [", 10, &res),
                     CTSPOOL_E_INVALID);
    assert_non_null(strstr(l.errmsg(h), "invalid JSON"));
    assert_int_equal(n_alloc - a0, n_free - f0);

    /* The program's own cJSON still allocates and frees through its
     * hooks, before and after the library was loaded and used. */
    after = parse_counted(&per_parse);
    cJSON_Delete(before);
    cJSON_Delete(after);
    assert_int_equal(n_foreign, 0);
    assert_int_equal(n_alloc, n_free);

    l.close(h);
    assert_int_equal(dlclose(l.dl), 0);
    cJSON_Delete(parse_counted(&per_parse));
    assert_int_equal(n_alloc, n_free);
    assert_int_equal(n_foreign, 0);

    unlink(path);
    snprintf(path, sizeof(path), "%s/journal.db-wal", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/journal.db-shm", dir);
    unlink(path);
    assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hooks_survive_the_library),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
