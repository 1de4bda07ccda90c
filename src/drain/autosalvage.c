/*
 * autosalvage.c -- the drainer's auto_salvage (DESIGN.md section 11): an
 * unattended edge host delivers what was readable in a quarantined
 * journal without anyone logging in.  Between two requests the drainer
 * looks for quarantined sets of its journal (NAME.corrupt-*: at start,
 * when its journal was replaced (dr_handover_moved), and every
 * SALVAGE_EVERY_MS for those other processes set aside), salvages each
 * into the live journal in small transactions (producers wait at most
 * one of them) and renames it NAME.salvaged-*.  The points become
 * pending like any other.
 */
#include "drain_int.h"
#include "salvage.h"

#define SALVAGE_EVERY_MS ((int64_t)60 * 1000)
#define SALVAGE_RETRY_MS ((int64_t)10 * 60 * 1000)
#define SALVAGE_TXN_ITEMS 200

/* Salvages one quarantined set; 0 done (renamed), -1 to retry later. */
static int
salvage_one(struct dr_drainer *d, const char *file)
{
    struct sp_salvage_report rep;
    char words[256], renamed[4096];
    struct sp_err e;
    ctspool_rc rc;

    sp_log(SP_LOG_INFO, "salvaging quarantined journal %s", file);
    rc = sp_salvage(d->j, file, SALVAGE_TXN_ITEMS, &rep, &e);
    sp_salvage_describe(&rep, words, sizeof(words));
    if (rc != CTSPOOL_OK) {
        sp_log(SP_LOG_WARN,
               "salvage of %s stopped: %s (so far: %s); trying again in "
               "%d min",
               file, e.msg, words, (int)(SALVAGE_RETRY_MS / 60000));
        return -1;
    }
    if (!rep.read_anything) {
        sp_log(SP_LOG_ERROR,
               "salvage of %s: could read nothing from it (damaged beyond "
               "what SQLite can read: %s); setting it aside as salvaged",
               file, words);
    } else {
        sp_log(SP_LOG_INFO, "salvaged %s: %s", file, words);
    }
    if (sp_journal_mark_salvaged(file, renamed, sizeof(renamed), &e) !=
        CTSPOOL_OK) {
        sp_log(SP_LOG_WARN, "%s; it will be salvaged again (adds nothing)",
               e.msg);
        return -1;
    }
    if (*renamed) {
        sp_log(SP_LOG_INFO, "renamed %s to %s", file, renamed);
    }
    return 0;
}

void
dr_salvage_soon(struct dr_drainer *d)
{
    d->next_salvage = 0;
}

void
dr_maybe_salvage(struct dr_drainer *d)
{
    char **names = NULL;
    size_t n = 0;
    struct sp_err e;
    int failed = 0;

    if (!d->cfg->auto_salvage || sp_clock_ms() < d->next_salvage) {
        return;
    }
    if (sp_journal_quarantined(d->cfg->journal, &names, &n, &e) !=
        CTSPOOL_OK) {
        sp_log(SP_LOG_WARN, "cannot look for quarantined journals: %s",
               e.msg);
        n = 0;
        failed = 1;
    }
    /* Newest first: its values of a point are newer than an older
     * set's, and salvage keeps what the journal holds. */
    for (size_t i = n; i > 0 && !dr_stop_flag; i--) {
        failed |= salvage_one(d, names[i - 1]) != 0;
    }
    sp_journal_quarantined_free(names, n);
    d->next_salvage = sp_clock_ms() + (failed ? SALVAGE_RETRY_MS
                                              : SALVAGE_EVERY_MS);
}
