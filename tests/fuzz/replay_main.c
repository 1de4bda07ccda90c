/*
 * replay_main.c -- a stand-in for libFuzzer's main() in ordinary builds
 * (gcc, or clang without -fsanitize=fuzzer): runs a harness's
 * LLVMFuzzerTestOneInput() once on every file named on the command line,
 * or on every file of a directory named there.  ctest's fuzz-smoke tests
 * replay each harness's committed corpus this way, so the contracts the
 * harnesses check run in the plain and the ASan test passes too.
 *
 *   fuzz_payload_replay tests/fuzz/corpus/payload [FILE...]
 *
 * Exit 0 when every input ran (a broken contract aborts), 1 when an input
 * cannot be read or there were none.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs the harness on one file; returns 0, or 1 if it cannot be read. */
static int
run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL, *nb;
    size_t len = 0, cap = 0, n;

    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return 1;
    }
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            nb = realloc(buf, cap);
            if (!nb) {
                fprintf(stderr, "replay: %s: out of memory\n", path);
                free(buf);
                fclose(f);
                return 1;
            }
            buf = nb;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            break;
        }
    }
    if (ferror(f)) {
        fprintf(stderr, "replay: %s: read error\n", path);
        free(buf);
        fclose(f);
        return 1;
    }
    fclose(f);
    /* An exact-size copy: a read past the input's end is an ASan error,
     * as under libFuzzer. */
    nb = malloc(len ? len : 1);
    if (!nb) {
        free(buf);
        return 1;
    }
    if (len) {
        memcpy(nb, buf, len);
    }
    free(buf);
    (void)LLVMFuzzerTestOneInput(nb, len);
    free(nb);
    return 0;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of dir, in name order; *n_run counts them. */
static int
run_dir(const char *dir, size_t *n_run)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL, **nn;
    size_t n = 0, cap = 0;
    int bad = 0;

    if (!d) {
        fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            nn = realloc(names, cap * sizeof(*names));
            if (!nn) {
                bad = 1;
                break;
            }
            names = nn;
        }
        names[n] = malloc(strlen(dir) + strlen(de->d_name) + 2);
        if (!names[n]) {
            bad = 1;
            break;
        }
        snprintf(names[n], strlen(dir) + strlen(de->d_name) + 2, "%s/%s",
                 dir, de->d_name);
        n++;
    }
    closedir(d);
    if (n > 1) {
        qsort(names, n, sizeof(*names), name_cmp);
    }
    for (size_t i = 0; i < n; i++) {
        struct stat st;

        if (!bad && stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            bad |= run_file(names[i]);
            (*n_run)++;
        }
        free(names[i]);
    }
    free(names);
    return bad;
}

int
main(int argc, char **argv)
{
    size_t n_run = 0;
    int bad = 0;

    for (int i = 1; i < argc; i++) {
        struct stat st;

        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
            bad = 1;
        } else if (S_ISDIR(st.st_mode)) {
            bad |= run_dir(argv[i], &n_run);
        } else {
            bad |= run_file(argv[i]);
            n_run++;
        }
    }
    if (n_run == 0) {
        fprintf(stderr, "replay: no input files\n");
        return 1;
    }
    printf("replay: %zu inputs ran\n", n_run);
    return bad;
}
