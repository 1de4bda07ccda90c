/*
 * testutil.c -- helpers shared by the cmocka unit tests.
 */
#include "testutil.h"

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
