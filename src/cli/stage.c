/*
 * stage.c -- the staging file of `ctspool append`: validated points
 * written to disk while the input is read, replayed into the journal
 * afterwards, so the journal's write lock is never held while append
 * waits for input and memory stays bounded whatever the input's size.
 *
 * The file is anonymous (O_TMPFILE) in the journal's directory: it lives
 * on the same file system (a full disk shows while staging, before the
 * journal is touched) and disappears with the process, whatever ends it;
 * where O_TMPFILE is unsupported, a mkstemp() name is unlinked at once.
 *
 * Record (host byte order; the file never outlives the process):
 *   int64 hour, double value, uint16 stream_len, uint16 name_len,
 *   uint8 agg, uint8 n_dims, then the stream and name bytes, then per
 *   dimension uint16 key_len, uint16 val_len, key bytes, value bytes.
 * Lengths are bounded by validation (SP_STREAM_MAX etc. < 65536).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define STAGE_BUF ((size_t)1 << 20)

struct rec_head {
    int64_t hour;
    double value;
    uint16_t stream_len;
    uint16_t name_len;
    uint8_t agg;
    uint8_t n_dims;
};

struct cli_stage {
    FILE *f;
    char *buf;     /* stdio buffer */
    uint64_t n;    /* records written */
    uint64_t left; /* records still to read back */
};

ctspool_rc
cli_stage_open(const char *journal_path, struct cli_stage **out,
               struct sp_err *e)
{
    struct cli_stage *s;
    char why[128] = "";
    char *dir;
    int fd;

    *out = NULL;
    dir = sp_dir_of(journal_path);
    s = calloc(1, sizeof(*s));
    if (!dir || !s) {
        free(dir);
        free(s);
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    fd = sp_tmpfd(dir, why, sizeof(why));
    if (fd < 0) {
        sp_err_set(e, "cannot create a staging file in %s: %s", dir, why);
        free(dir);
        free(s);
        return CTSPOOL_E_IO;
    }
    free(dir);
    s->f = fdopen(fd, "w+b");
    s->buf = malloc(STAGE_BUF);
    if (!s->f || !s->buf) {
        if (s->f) {
            fclose(s->f);
        } else {
            close(fd);
        }
        free(s->buf);
        free(s);
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    setvbuf(s->f, s->buf, _IOFBF, STAGE_BUF);
    *out = s;
    return CTSPOOL_OK;
}

void
cli_stage_close(struct cli_stage *s)
{
    if (!s) {
        return;
    }
    fclose(s->f); /* anonymous: the data goes with it */
    free(s->buf);
    free(s);
}

uint64_t
cli_stage_count(const struct cli_stage *s)
{
    return s->n;
}

static ctspool_rc
io_error(struct sp_err *e, const char *what)
{
    int err = errno;

    sp_err_set(e, "%s the staging file: %s", what,
               err ? strerror(err) : "unexpected end of file");
    return err == ENOSPC ? CTSPOOL_E_DISKFULL : CTSPOOL_E_IO;
}

/* The functions, not glibc's macros (putc loops the analyzers misread);
 * unlocked: only the calling thread uses the file. */
static int
put_bytes(struct cli_stage *s, const void *p, size_t n)
{
    return (fwrite_unlocked)(p, 1, n, s->f) == n;
}

static int
get_bytes(struct cli_stage *s, void *p, size_t n)
{
    return (fread_unlocked)(p, 1, n, s->f) == n;
}

ctspool_rc
cli_stage_put(struct cli_stage *s, const struct sp_point *p,
              struct sp_err *e)
{
    struct rec_head h;

    memset(&h, 0, sizeof(h));
    h.hour = p->hour;
    h.value = p->value;
    h.stream_len = (uint16_t)p->stream_len;
    h.name_len = (uint16_t)p->name_len;
    h.agg = (uint8_t)p->agg;
    h.n_dims = (uint8_t)p->n_dims;
    errno = 0;
    if (!put_bytes(s, &h, sizeof(h)) ||
        !put_bytes(s, p->stream, p->stream_len) ||
        !put_bytes(s, p->name, p->name_len)) {
        return io_error(e, "cannot write");
    }
    for (size_t i = 0; i < p->n_dims; i++) {
        uint16_t lens[2] = {(uint16_t)p->dims[i].key_len,
                            (uint16_t)p->dims[i].val_len};

        if (!put_bytes(s, lens, sizeof(lens)) ||
            !put_bytes(s, p->dims[i].key, lens[0]) ||
            !put_bytes(s, p->dims[i].val, lens[1])) {
            return io_error(e, "cannot write");
        }
    }
    s->n++;
    return CTSPOOL_OK;
}

ctspool_rc
cli_stage_rewind(struct cli_stage *s, struct sp_err *e)
{
    errno = 0;
    if (fflush(s->f) != 0 || fseeko(s->f, 0, SEEK_SET) != 0) {
        return io_error(e, "cannot write");
    }
    s->left = s->n;
    return CTSPOOL_OK;
}

/* n bytes of the file into the arena; NULL (e set) on error. */
static const char *
read_bytes(struct cli_stage *s, size_t n, char **arena, size_t *room,
           struct sp_err *e)
{
    char *d = *arena;

    if (n > *room) {
        sp_err_set(e, "staging record too large");
        return NULL;
    }
    errno = 0;
    if (n && !get_bytes(s, d, n)) {
        io_error(e, "cannot read");
        return NULL;
    }
    *arena += n;
    *room -= n;
    return d;
}

int
cli_stage_next(struct cli_stage *s, struct sp_point *p, char *arena,
               size_t arena_len, struct sp_err *e)
{
    struct rec_head h;
    size_t room = arena_len;

    if (!s->left) {
        return 0;
    }
    errno = 0;
    if (!get_bytes(s, &h, sizeof(h)) || h.n_dims > SP_MAX_DIMS) {
        io_error(e, "cannot read");
        return -1;
    }
    memset(p, 0, sizeof(*p));
    p->hour = h.hour;
    p->value = h.value;
    p->agg = h.agg;
    p->n_dims = h.n_dims;
    p->stream_len = h.stream_len;
    p->name_len = h.name_len;
    if (!(p->stream = read_bytes(s, h.stream_len, &arena, &room, e)) ||
        !(p->name = read_bytes(s, h.name_len, &arena, &room, e))) {
        return -1;
    }
    for (size_t i = 0; i < h.n_dims; i++) {
        uint16_t lens[2];

        if (!get_bytes(s, lens, sizeof(lens))) {
            io_error(e, "cannot read");
            return -1;
        }
        p->dims[i].key_len = lens[0];
        p->dims[i].val_len = lens[1];
        if (!(p->dims[i].key = read_bytes(s, lens[0], &arena, &room, e)) ||
            !(p->dims[i].val = read_bytes(s, lens[1], &arena, &room, e))) {
            return -1;
        }
    }
    s->left--;
    return 1;
}
