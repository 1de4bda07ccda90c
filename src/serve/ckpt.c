/*
 * ckpt.c -- serve's checkpointer: a thread with a journal connection of
 * its own that checkpoints the WAL the writer thread fills, so that the
 * writer, the serial path of every request, does not (journal_ckpt.c).
 *
 *   writer commits --WAL >= CKPT_PAGES--> sv_ckpt_want() --> thread:
 *   PASSIVE checkpoint on its own connection, then waits for the next
 *
 * Should the checkpointer fall behind or fail, the WAL keeps growing;
 * commit.c then checkpoints in the writer itself once it passes
 * SV_CKPT_VALVE_PAGES, so the WAL stays bounded either way.
 *
 * Invariants:
 * (1) Only the thread uses c->j, from sv_ckpt_start() to sv_ckpt_stop().
 * (2) A request arriving while a checkpoint runs is remembered (want)
 *     and served by the next one: no WAL growth goes unnoticed.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

struct sv_ckpt {
    struct sp_journal *j;
    pthread_t thread;
    pthread_mutex_t lock; /* guards want, stop */
    pthread_cond_t cond;
    int want, stop;
    ctspool_rc last_rc; /* thread only: logged when it changes */
};

static void
checkpoint(struct sv_ckpt *c)
{
    int pages = 0, copied = 0;
    ctspool_rc rc = sp_journal_checkpoint(c->j, &pages, &copied);

    if (rc == CTSPOOL_OK) {
        sp_log(SP_LOG_DEBUG, "checkpoint: %d of %d WAL pages in the "
               "journal", copied, pages);
    } else if (rc != CTSPOOL_E_BUSY && rc != c->last_rc) {
        sp_log(SP_LOG_WARN, "the checkpointer cannot checkpoint the "
               "journal (the writer will): %s", sp_journal_errmsg(c->j));
    }
    if (rc != CTSPOOL_E_BUSY) {
        c->last_rc = rc;
    }
}

static void *
ckpt_main(void *arg)
{
    struct sv_ckpt *c = arg;

    for (;;) {
        pthread_mutex_lock(&c->lock);
        while (!c->want && !c->stop) {
            pthread_cond_wait(&c->cond, &c->lock);
        }
        if (c->stop) {
            pthread_mutex_unlock(&c->lock);
            break;
        }
        c->want = 0; /* invariant 2: one coming meanwhile runs again */
        pthread_mutex_unlock(&c->lock);
        checkpoint(c);
    }
    return NULL;
}

ctspool_rc
sv_ckpt_start(struct sp_journal *j, struct sv_ckpt **out, struct sp_err *e)
{
    struct sv_ckpt *c;
    int r;

    *out = NULL;
    c = calloc(1, sizeof(*c));
    if (!c) {
        sp_journal_close(j);
        sp_err_set(e, "out of memory");
        return CTSPOOL_E_NOMEM;
    }
    c->j = j;
    c->last_rc = CTSPOOL_OK;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    r = pthread_create(&c->thread, NULL, ckpt_main, c);
    if (r != 0) {
        sp_err_set(e, "cannot start the checkpoint thread: %s", strerror(r));
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->lock);
        sp_journal_close(j);
        free(c);
        return CTSPOOL_E_NOMEM;
    }
    *out = c;
    return CTSPOOL_OK;
}

void
sv_ckpt_want(struct sv_ckpt *c)
{
    pthread_mutex_lock(&c->lock);
    c->want = 1;
    pthread_mutex_unlock(&c->lock);
    pthread_cond_signal(&c->cond);
}

void
sv_ckpt_stop(struct sv_ckpt *c)
{
    if (!c) {
        return;
    }
    pthread_mutex_lock(&c->lock);
    c->stop = 1;
    pthread_mutex_unlock(&c->lock);
    pthread_cond_signal(&c->cond);
    pthread_join(c->thread, NULL);
    sp_journal_close(c->j);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
