/*
 * testutil.c -- helpers shared by the cmocka unit tests.
 */
#include "testutil.h"
#include "sp_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *
tu_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *p;
    size_t n;

    if (!base || !*base)
        base = "/tmp";
    n = strlen(base) + 32;
    p = malloc(n);
    if (!p)
        abort();
    snprintf(p, n, "%s/ctspool-test-XXXXXX", base);
    if (!mkdtemp(p))
        abort();
    return p;
}

void
tu_rmtree(char *path)
{
    char cmd[4096];

    if (!path)
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", path);
    free(path);
}

char *
tu_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);

    if (!p)
        abort();
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

void
tu_write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        abort();
}

int
tu_msg_matches(const char *msg, const char *want)
{
    size_t n = strlen(want);

    if (n > 0 && want[n - 1] == '*') {
        return strncmp(msg, want, n - 1) == 0;
    }
    return strcmp(msg, want) == 0;
}

void
tu_render_point(const struct sp_point *p, char *buf, size_t cap)
{
    size_t o;

    o = (size_t)snprintf(buf, cap, "%.*s|%s|%.*s|%lld|%.17g|",
                         (int)p->stream_len, p->stream, sp_agg_name(p->agg),
                         (int)p->name_len, p->name, (long long)p->hour,
                         p->value);
    for (size_t i = 0; i < p->n_dims && o < cap; i++) {
        o += (size_t)snprintf(buf + o, cap - o, "%s%.*s=%.*s",
                              i ? "," : "", (int)p->dims[i].key_len,
                              p->dims[i].key, (int)p->dims[i].val_len,
                              p->dims[i].val);
    }
}

int tu_skipped;

int
tu_exit(int failed)
{
    if (failed)
        return 1;
    return tu_skipped ? 77 : 0;
}
