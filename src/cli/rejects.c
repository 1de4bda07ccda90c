/*
 * rejects.c -- `append --rejects FILE`: every input record append
 * rejects, written to FILE as it was read, so that the file can be fixed
 * and appended again:
 *
 *   NDJSON       the rejected line, as read
 *   CSV          the input's header row (before its first rejected
 *                row), then each rejected row, as read (a record's
 *                bytes are kept up to 2 MiB; a longer one, its fields
 *                quoted again as RFC 4180 says, only where needed)
 *   Cloudthread  each rejected element of "data" as one NDJSON line: its
 *                JSON text as read (line breaks between tokens made
 *                spaces), with its payload's metric_agg_func and
 *                data_stream_token put first, so the line stands alone
 *
 * The file is created mode 0600 (it may hold data stream tokens),
 * truncated at each run, and given the journal's owner when root runs
 * append.  It is written by the reader thread alone.  Records that
 * cannot be written as read are only listed on stderr: a line over
 * 1 MiB, a CSV row with broken quoting, a payload object refused as a
 * whole, an input that cannot be read at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "journal.h"
#include "rejects.h"

struct cli_rejects {
    FILE *f;
    char *path;
    int flush_each;     /* flush each record: an endless run (--follow),
                         * or our stderr or stdout, which the messages
                         * about each record also go to */
    int has_failed;     /* a write failed: errno_saved says why */
    int errno_saved;
    uint64_t n;         /* records written */
    struct sp_buf header; /* the current CSV input's header row */
    int header_written;   /* ... is in the file already */
    struct sp_reject_hook hook;
};

static void
put(struct cli_rejects *r, const char *s, size_t len)
{
    if (!r->has_failed && len && fwrite(s, 1, len, r->f) != len) {
        r->has_failed = 1;
        r->errno_saved = errno;
    }
}

static void
end_record(struct cli_rejects *r)
{
    put(r, "\n", 1);
    r->n++;
    if (r->flush_each && !r->has_failed && fflush(r->f) != 0) {
        r->has_failed = 1;
        r->errno_saved = errno;
    }
}

static void
on_line(void *ctx, const char *s, size_t len)
{
    struct cli_rejects *r = ctx;

    put(r, s, len);
    end_record(r);
}

/* One CSV field into b, quoted when it must be. */
static void
csv_field(struct sp_buf *b, const char *s, size_t len)
{
    int quote = len == 0 ? 0 : memchr(s, ',', len) || memchr(s, '"', len) ||
                                   memchr(s, '\n', len) ||
                                   memchr(s, '\r', len);

    if (!quote) {
        sp_buf_add(b, s, len);
        return;
    }
    sp_buf_add(b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        sp_buf_add(b, s[i] == '"' ? "\"\"" : s + i, s[i] == '"' ? 2 : 1);
    }
    sp_buf_add(b, "\"", 1);
}

static void
csv_row(struct sp_buf *b, const char *const *fields, const size_t *lens,
        size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i) {
            sp_buf_add(b, ",", 1);
        }
        csv_field(b, fields[i], lens[i]);
    }
}

/* A CSV row as read (raw), else its fields quoted again. */
static void
row_text(struct sp_buf *b, const char *const *fields, const size_t *lens,
         size_t n, const char *raw, size_t raw_len)
{
    sp_buf_init(b);
    if (raw) {
        sp_buf_add(b, raw, raw_len);
    } else {
        csv_row(b, fields, lens, n);
    }
}

static void
on_row(void *ctx, int is_header, const char *const *fields,
       const size_t *lens, size_t n, const char *raw, size_t raw_len)
{
    struct cli_rejects *r = ctx;
    struct sp_buf row;

    if (is_header) {
        row_text(&row, fields, lens, n, raw, raw_len);
        if (r->header_written && row.len == r->header.len &&
            memcmp(row.p, r->header.p, row.len) == 0) {
            sp_buf_cleanup(&row); /* the same header: written once */
            return;
        }
        sp_buf_cleanup(&r->header);
        r->header = row;
        r->header_written = 0;
        return;
    }
    if (!r->header_written) {
        put(r, r->header.p ? r->header.p : "", r->header.len);
        put(r, "\n", 1);
        r->header_written = 1;
    }
    row_text(&row, fields, lens, n, raw, raw_len);
    put(r, row.p ? row.p : "", row.len);
    if (row.has_failed) {
        r->has_failed = 1;
        r->errno_saved = ENOMEM;
    }
    sp_buf_cleanup(&row);
    end_record(r);
}

static void
on_element(void *ctx, const char *s, size_t len, const char *stream,
           size_t stream_len, int agg)
{
    struct cli_rejects *r = ctx;
    char *tok = NULL, *copy = NULL;
    size_t i = 0;

    /* Line breaks of a valid element lie between tokens (JSON strings
     * hold none raw): spaces keep it one line. */
    copy = malloc(len + 1);
    if (!copy) {
        r->has_failed = 1;
        r->errno_saved = ENOMEM;
        return;
    }
    for (size_t k = 0; k < len; k++) {
        copy[k] = s[k];
        if (s[k] == '\n' || s[k] == '\r') {
            copy[k] = ' ';
        }
    }
    copy[len] = '\0';
    while (i < len && copy[i] == ' ') {
        i++;
    }
    if (i < len && copy[i] == '{') {
        size_t j = i + 1;

        while (j < len && (copy[j] == ' ' || copy[j] == '\t')) {
            j++;
        }
        put(r, "{", 1);
        if (agg >= 0) {
            put(r, "\"metric_agg_func\":\"", 19);
            put(r, sp_agg_name(agg), strlen(sp_agg_name(agg)));
            put(r, "\"", 1);
        }
        if (stream && stream_len) {
            char *t = strndup(stream, stream_len);

            if (t && sp_json_string(t, &tok) == CTSPOOL_OK) {
                put(r, agg >= 0 ? "," : "", agg >= 0 ? 1 : 0);
                put(r, "\"data_stream_token\":", 20);
                put(r, tok, strlen(tok));
            }
            if (t) {
                explicit_bzero(t, stream_len);
            }
            free(t);
        }
        if ((agg >= 0 || tok) && j < len && copy[j] != '}') {
            put(r, ",", 1);
        }
        put(r, copy + i + 1, len - i - 1);
    } else {
        put(r, copy, len); /* not an object: as it is */
    }
    if (tok) {
        explicit_bzero(tok, strlen(tok));
        free(tok);
    }
    free(copy);
    end_record(r);
}

/* What sb (the file at path) is that --rejects must not write over:
 * "the journal", "an input", or NULL. */
static const char *
taken(const struct stat *sb, const char *journal, FILE *const *inputs,
      int n_inputs)
{
    static const char *const sides[] = {"", "-wal", "-shm", "-drain.lock",
                                        "-salvage.lock"};
    char side[PATH_MAX + 16];
    struct stat o;

    for (size_t i = 0; i < SP_ARRAY_LEN(sides); i++) {
        snprintf(side, sizeof(side), "%s%s", journal, sides[i]);
        if (stat(side, &o) == 0 && o.st_dev == sb->st_dev &&
            o.st_ino == sb->st_ino) {
            return "the journal's";
        }
    }
    for (int i = 0; i < n_inputs; i++) {
        if (inputs[i] && fstat(fileno(inputs[i]), &o) == 0 &&
            S_ISREG(o.st_mode) && o.st_dev == sb->st_dev &&
            o.st_ino == sb->st_ino) {
            return "an input";
        }
    }
    return NULL;
}

/* Our stdout or stderr, when sb is the file it writes to: 1, 2, or -1. */
static int
std_stream(const struct stat *sb)
{
    struct stat o;

    for (int fd = 1; fd <= 2; fd++) {
        if (fstat(fd, &o) == 0 && o.st_dev == sb->st_dev &&
            o.st_ino == sb->st_ino) {
            return fd;
        }
    }
    return -1;
}

int
cli_rejects_open(const char *path, const char *journal,
                 FILE *const *inputs, int n_inputs, int is_follow,
                 struct cli_rejects **out)
{
    struct cli_rejects *r;
    struct stat sb;
    const char *what;
    int fd, std = -1, exists = stat(path, &sb) == 0, regular = 1;

    *out = NULL;
    if (exists && (what = taken(&sb, journal, inputs, n_inputs))) {
        cli_error("append", "--rejects: %s is %s file; name another file",
                  path, what);
        return EXIT_USAGE;
    }
    if (!(r = calloc(1, sizeof(*r))) || !(r->path = strdup(path))) {
        free(r);
        cli_error("append", "out of memory");
        return EXIT_OSERR;
    }
    if (exists && (std = std_stream(&sb)) >= 0) {
        /* /dev/stderr (or stdout, or the file either goes to): written
         * through that stream's own open file, at its offset, as it is:
         * `2>>app.log` must not lose app.log. */
        regular = 0;
        fd = fcntl(std, F_DUPFD_CLOEXEC, 3);
    } else if (exists && !S_ISREG(sb.st_mode)) {
        /* A device or a pipe: written as it is. */
        regular = 0;
        fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
    } else {
        fd = open(path,
                  O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY |
                      (exists ? 0 : O_EXCL),
                  0600);
    }
    /* Mode 0600 whatever the umask or an existing file's mode (it may
     * hold data stream tokens); made here by root, the journal's owner
     * (an existing file keeps its own). */
    if (fd >= 0 && regular &&
        (fchmod(fd, 0600) != 0 ||
         (!exists && sp_owner_adopt(fd, journal) != 0))) {
        int saved = errno;

        close(fd);
        fd = -1;
        errno = saved;
    }
    if (fd < 0 || !(r->f = fdopen(fd, "w"))) {
        cli_error("append", "--rejects: cannot create %s: %s", path,
                  strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        free(r->path);
        free(r);
        return EXIT_CANTCREAT;
    }
    /* Through stderr, a record written by halves would be cut by the
     * message about it (or the next); stdout, likewise by the summary. */
    r->flush_each = is_follow || std >= 0;
    sp_buf_init(&r->header);
    r->hook.ctx = r;
    r->hook.line = on_line;
    r->hook.row = on_row;
    r->hook.element = on_element;
    *out = r;
    return 0;
}

const struct sp_reject_hook *
cli_rejects_hook(const struct cli_rejects *r)
{
    return r ? &r->hook : NULL;
}

int
cli_rejects_close(struct cli_rejects *r)
{
    int ex = 0;

    if (!r) {
        return 0;
    }
    if (fflush(r->f) != 0 && !r->has_failed) {
        r->has_failed = 1;
        r->errno_saved = errno;
    }
    if (fsync(fileno(r->f)) != 0 && errno != EINVAL && !r->has_failed) {
        r->has_failed = 1;
        r->errno_saved = errno;
    }
    if (fclose(r->f) != 0 && !r->has_failed) {
        r->has_failed = 1;
        r->errno_saved = errno;
    }
    if (r->has_failed) {
        cli_error("append", "--rejects: cannot write %s: %s", r->path,
                  strerror(r->errno_saved));
        ex = EXIT_IOERR;
    } else if (r->n) {
        fprintf(stderr, "ctspool: append: %llu rejected record%s written "
                        "to %s\n",
                (unsigned long long)r->n, r->n == 1 ? "" : "s", r->path);
    }
    sp_buf_cleanup(&r->header);
    free(r->path);
    free(r);
    return ex;
}
