/*
 * failmalloc.c -- the torture test's allocation hook (failmalloc.h):
 * the __wrap_ functions the linker substitutes for the C library's
 * allocators in the test and in the static libctspool, SQLite's memory
 * methods, the region's counter and its table of live allocations.
 *
 * --wrap rather than defining malloc() in the executable: it works the
 * same under AddressSanitizer, whose own malloc stays underneath
 * (__real_malloc) and keeps finding overflows and use after free, and
 * it leaves the other shared libraries' allocations alone, except
 * SQLite's, taken over explicitly, and cJSON's, which come back through
 * payload.c's hooks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "failmalloc.h"
#include "memwatch.h"

void *__real_malloc(size_t n);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

/* ---- the region ------------------------------------------------------- */

static int is_in_region;
static long fail_at;   /* 0: none */
static long n_allocs;
static int has_fired;

/* Counts one allocation of the region; 1 when it must fail. */
static int
must_fail(void)
{
    if (!is_in_region) {
        return 0;
    }
    n_allocs++;
    if (n_allocs == fail_at) {
        has_fired = 1;
        return 1;
    }
    return 0;
}

/* ---- live allocations of the region: open addressing on the address -- */

#define TAB_SLOTS ((size_t)1 << 16)
#define TOMBSTONE ((void *)1)

static struct slot {
    void *p; /* NULL: empty */
    long seq;
    size_t size;
} tab[TAB_SLOTS];
static size_t n_live, n_used; /* n_used: live + tombstones */
static size_t used[TAB_SLOTS / 2]; /* slots to empty at the next region */

static size_t
slot_of(const void *p)
{
    uint64_t h = (uint64_t)(uintptr_t)p;

    h = (h >> 4) * UINT64_C(0x9E3779B97F4A7C15);
    return (size_t)(h >> (64 - 16));
}

static void
track(void *p, size_t size)
{
    size_t i;

    if (!is_in_region || !p) {
        return;
    }
    if (n_used >= TAB_SLOTS / 2) {
        fprintf(stderr, "failmalloc: more than %zu allocations live\n",
                TAB_SLOTS / 2);
        abort();
    }
    for (i = slot_of(p); tab[i].p; i = (i + 1) & (TAB_SLOTS - 1)) {
        if (tab[i].p == TOMBSTONE) {
            break;
        }
    }
    if (!tab[i].p) {
        used[n_used++] = i;
    }
    tab[i].p = p;
    tab[i].seq = n_allocs;
    tab[i].size = size;
    n_live++;
}

static void
untrack(const void *p)
{
    if (!p || n_live == 0) {
        return;
    }
    for (size_t i = slot_of(p); tab[i].p; i = (i + 1) & (TAB_SLOTS - 1)) {
        if (tab[i].p == p) {
            tab[i].p = TOMBSTONE;
            n_live--;
            return;
        }
    }
}

void
fm_begin(long n)
{
    for (size_t i = 0; i < n_used; i++) {
        tab[used[i]].p = NULL;
    }
    n_live = n_used = 0;
    fail_at = n;
    n_allocs = 0;
    has_fired = 0;
    is_in_region = 1;
}

int
fm_has_fired(void)
{
    return has_fired;
}

void
fm_end(struct fm_result *r)
{
    is_in_region = 0;
    r->n_allocs = n_allocs;
    r->has_fired = has_fired;
    r->n_live = n_live;
}

void
fm_print_live(const char *prefix)
{
    for (size_t i = 0; i < TAB_SLOTS; i++) {
        if (tab[i].p && tab[i].p != TOMBSTONE) {
            fprintf(stderr, "%sallocation #%ld (%zu bytes) never freed\n",
                    prefix, tab[i].seq, tab[i].size);
        }
    }
}

/* ---- the C library's allocators ---------------------------------------- */

void *
__wrap_malloc(size_t n)
{
    void *p;

    if (must_fail()) {
        return NULL;
    }
    p = __real_malloc(n);
    track(p, n);
    return p;
}

void *
__wrap_calloc(size_t n, size_t size)
{
    void *p;

    if (must_fail()) {
        return NULL;
    }
    if (size && n > SIZE_MAX / size) {
        return NULL;
    }
    /* Not __real_calloc: a large block would come as fresh zero pages,
     * and the journal's 5 MB cache table, zeroed slot by slot when it is
     * closed, would then cost a copy-on-write fault per page (most of
     * the time of the append runs under ASan). */
    p = __real_malloc(n * size);
    if (p) {
        memset(p, 0, n * size);
    }
    track(p, n * size);
    return p;
}

void *
__wrap_realloc(void *p, size_t n)
{
    void *q;

    if (must_fail()) {
        return NULL; /* p untouched, as a real failure leaves it */
    }
    q = __real_realloc(p, n);
    if (q || n == 0) {
        untrack(p);
        track(q, n);
    }
    return q;
}

void
__wrap_free(void *p)
{
    if (p) {
        untrack(p);
        __real_free(p);
    }
}

char *
__wrap_strdup(const char *s)
{
    return __wrap_strndup(s, strlen(s));
}

char *
__wrap_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = __wrap_malloc(len + 1);

    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

/* ---- SQLite's memory methods: the size is kept in a header ----------- */

#define HDR 16 /* keeps malloc's 16-byte alignment */

static void *
sq_malloc(int n)
{
    unsigned char *b;

    if (n <= 0 || must_fail()) {
        return NULL;
    }
    b = __real_malloc(HDR + (size_t)n);
    if (!b) {
        return NULL;
    }
    memcpy(b, &n, sizeof(n));
    track(b + HDR, (size_t)n);
    return b + HDR;
}

static void
sq_free(void *p)
{
    if (p) {
        untrack(p);
        __real_free((unsigned char *)p - HDR);
    }
}

static void *
sq_realloc(void *p, int n)
{
    unsigned char *b;

    if (n <= 0 || must_fail()) {
        return NULL;
    }
    b = __real_realloc((unsigned char *)p - HDR, HDR + (size_t)n);
    if (!b) {
        return NULL;
    }
    memcpy(b, &n, sizeof(n));
    untrack(p);
    track(b + HDR, (size_t)n);
    return b + HDR;
}

static int
sq_size(void *p)
{
    int n;

    memcpy(&n, (unsigned char *)p - HDR, sizeof(n));
    return n;
}

static int
sq_roundup(int n)
{
    return (n + 7) & ~7;
}

static int
sq_init(void *ctx)
{
    (void)ctx;
    return SQLITE_OK;
}

static void
sq_shutdown(void *ctx)
{
    (void)ctx;
}

int
fm_install_sqlite(void)
{
    static const sqlite3_mem_methods m = {
        sq_malloc, sq_free,   sq_realloc, sq_size,
        sq_roundup, sq_init, sq_shutdown, NULL,
    };

    /* Under the counter the programs put there (memwatch.c), so that a
     * failure here is a real shortage to it, as in the programs. */
    return sp_memwatch_install(&m);
}
