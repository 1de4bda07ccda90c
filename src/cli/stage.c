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
 *   uint32 record length (these 4 bytes included),
 *   int64 hour, double value, uint16 stream_len, uint16 name_len,
 *   uint8 agg, uint8 n_dims, then the stream and name bytes, then per
 *   dimension uint16 key_len, uint16 val_len, key bytes, value bytes.
 * Lengths are bounded by validation (SP_STREAM_MAX etc. < 65536).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* The file is written and read back through one buffer; a record is
 * read in place, so it must fit (validation keeps one under 16 KiB). */
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
    int fd;
    char *buf;     /* STAGE_BUF bytes */
    size_t len;    /* writing: bytes buffered; reading: bytes held */
    size_t pos;    /* reading: the next record's offset in buf */
    int reading;   /* rewound: buf holds bytes read, not to write */
    int eof;       /* reading: the file has no more bytes */
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

    *out = NULL;
    dir = sp_dir_of(journal_path);
    s = calloc(1, sizeof(*s));
    if (s) {
        s->buf = malloc(STAGE_BUF);
    }
    if (!dir || !s || !s->buf) {
        free(dir);
        if (s) {
            free(s->buf);
        }
        free(s);
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    s->fd = sp_tmpfd(dir, why, sizeof(why));
    if (s->fd < 0) {
        sp_err_set(e, "cannot create a staging file in %s: %s", dir, why);
        free(dir);
        free(s->buf);
        free(s);
        return CTSPOOL_E_IO;
    }
    free(dir);
    *out = s;
    return CTSPOOL_OK;
}

void
cli_stage_close(struct cli_stage *s)
{
    if (!s) {
        return;
    }
    close(s->fd); /* anonymous: the data goes with it */
    free(s->buf);
    free(s);
}

uint64_t
cli_stage_count(const struct cli_stage *s)
{
    return s->n;
}

static ctspool_rc
io_error(struct sp_err *e, const char *what, int err)
{
    sp_err_set(e, "%s the staging file: %s", what,
               err ? strerror(err) : "unexpected end of file");
    return err == ENOSPC ? CTSPOOL_E_DISKFULL : CTSPOOL_E_IO;
}

/* Writes out the buffered bytes. */
static ctspool_rc
flush(struct cli_stage *s, struct sp_err *e)
{
    size_t done = 0;

    while (done < s->len) {
        ssize_t w = write(s->fd, s->buf + done, s->len - done);

        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return io_error(e, "cannot write", w < 0 ? errno : ENOSPC);
        }
        done += (size_t)w;
    }
    s->len = 0;
    return CTSPOOL_OK;
}

static char *
put(char *d, const void *p, size_t n)
{
    if (n) {
        memcpy(d, p, n);
    }
    return d + n;
}

ctspool_rc
cli_stage_put(struct cli_stage *s, const struct sp_point *p,
              struct sp_err *e)
{
    struct rec_head h;
    uint32_t need = (uint32_t)(sizeof(need) + sizeof(h));
    char *d;

    if (p->stream_len > UINT16_MAX || p->name_len > UINT16_MAX ||
        p->n_dims > SP_MAX_DIMS) {
        sp_err_set(e, "cannot stage a point this large");
        return CTSPOOL_E_INVALID;
    }
    need += (uint32_t)(p->stream_len + p->name_len);
    for (size_t i = 0; i < p->n_dims; i++) {
        if (p->dims[i].key_len > UINT16_MAX ||
            p->dims[i].val_len > UINT16_MAX) {
            sp_err_set(e, "cannot stage a point this large");
            return CTSPOOL_E_INVALID;
        }
        need += (uint32_t)(2 * sizeof(uint16_t) + p->dims[i].key_len +
                           p->dims[i].val_len);
    }
    if (need > STAGE_BUF) {
        sp_err_set(e, "cannot stage a point this large");
        return CTSPOOL_E_INVALID;
    }
    if (s->len + need > STAGE_BUF) {
        ctspool_rc rc = flush(s, e);

        if (rc != CTSPOOL_OK) {
            return rc;
        }
    }
    memset(&h, 0, sizeof(h));
    h.hour = p->hour;
    h.value = p->value;
    h.stream_len = (uint16_t)p->stream_len;
    h.name_len = (uint16_t)p->name_len;
    h.agg = (uint8_t)p->agg;
    h.n_dims = (uint8_t)p->n_dims;
    d = put(s->buf + s->len, &need, sizeof(need));
    d = put(d, &h, sizeof(h));
    d = put(d, p->stream, p->stream_len);
    d = put(d, p->name, p->name_len);
    for (size_t i = 0; i < p->n_dims; i++) {
        uint16_t lens[2] = {(uint16_t)p->dims[i].key_len,
                            (uint16_t)p->dims[i].val_len};

        d = put(d, lens, sizeof(lens));
        d = put(d, p->dims[i].key, lens[0]);
        d = put(d, p->dims[i].val, lens[1]);
    }
    s->len = (size_t)(d - s->buf);
    s->n++;
    return CTSPOOL_OK;
}

ctspool_rc
cli_stage_rewind(struct cli_stage *s, struct sp_err *e)
{
    /* Rewound before (a merge retried): nothing is buffered to write. */
    ctspool_rc rc = s->reading ? CTSPOOL_OK : flush(s, e);

    if (rc != CTSPOOL_OK) {
        return rc;
    }
    if (lseek(s->fd, 0, SEEK_SET) != 0) {
        return io_error(e, "cannot read", errno);
    }
    s->reading = 1;
    s->len = 0;
    s->pos = 0;
    s->eof = 0;
    s->left = s->n;
    return CTSPOOL_OK;
}

/* Makes at least want bytes from pos readable in buf, unless the file
 * ends first: keeps what is unread, reads on until the buffer is full. */
static ctspool_rc
fill(struct cli_stage *s, size_t want, struct sp_err *e)
{
    if (s->len - s->pos >= want || s->eof) {
        return CTSPOOL_OK;
    }
    memmove(s->buf, s->buf + s->pos, s->len - s->pos);
    s->len -= s->pos;
    s->pos = 0;
    while (s->len < STAGE_BUF && !s->eof) {
        ssize_t r = read(s->fd, s->buf + s->len, STAGE_BUF - s->len);

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return io_error(e, "cannot read", errno);
        }
        s->eof = r == 0;
        s->len += (size_t)r;
    }
    return CTSPOOL_OK;
}

/* The next n bytes of the record being read; NULL when they are not
 * all there (a damaged or truncated record). */
static const char *
take(struct cli_stage *s, size_t n)
{
    const char *p = s->buf + s->pos;

    if (s->len - s->pos < n) {
        return NULL;
    }
    s->pos += n;
    return p;
}

int
cli_stage_next(struct cli_stage *s, struct sp_point *p, struct sp_err *e)
{
    struct rec_head h;
    uint32_t len;
    size_t end;
    const char *c;

    if (!s->left) {
        return 0;
    }
    /* The record whole in the buffer: its fields are read in place. */
    if (fill(s, sizeof(len), e) != CTSPOOL_OK) {
        return -1;
    }
    if (!(c = take(s, sizeof(len)))) {
        goto truncated;
    }
    memcpy(&len, c, sizeof(len));
    if (len < sizeof(len) + sizeof(h) || len > STAGE_BUF) {
        goto damaged;
    }
    s->pos -= sizeof(len);
    if (fill(s, len, e) != CTSPOOL_OK) {
        return -1;
    }
    end = s->pos + len;
    if (s->len < end) {
        goto truncated;
    }
    s->pos += sizeof(len);
    memcpy(&h, take(s, sizeof(h)), sizeof(h));
    if (h.n_dims > SP_MAX_DIMS) {
        goto damaged;
    }
    memset(p, 0, sizeof(*p));
    p->hour = h.hour;
    p->value = h.value;
    p->agg = h.agg;
    p->n_dims = h.n_dims;
    p->stream_len = h.stream_len;
    p->name_len = h.name_len;
    if (!(p->stream = take(s, h.stream_len)) ||
        !(p->name = take(s, h.name_len))) {
        goto truncated;
    }
    for (size_t i = 0; i < h.n_dims; i++) {
        uint16_t lens[2];

        if (!(c = take(s, sizeof(lens)))) {
            goto truncated;
        }
        memcpy(lens, c, sizeof(lens));
        p->dims[i].key_len = lens[0];
        p->dims[i].val_len = lens[1];
        if (!(p->dims[i].key = take(s, lens[0])) ||
            !(p->dims[i].val = take(s, lens[1]))) {
            goto truncated;
        }
    }
    if (s->pos != end) {
        goto damaged;
    }
    s->left--;
    return 1;
truncated:
    io_error(e, "cannot read", 0);
    return -1;
damaged:
    sp_err_set(e, "cannot read the staging file: a damaged record");
    return -1;
}
