/*
 * migrate.h -- the embedded schema (generated from schema/NNNN_*.sql by
 * cmake/embed_schema.cmake) and the migration runner.
 */
#ifndef SP_MIGRATE_H
#define SP_MIGRATE_H

#include <stddef.h>

struct sp_migration {
    int version;      /* NNNN of schema/NNNN_name.sql */
    const char *name; /* file name, for messages */
    const char *sql;
};

extern const struct sp_migration sp_schema[];
extern const size_t sp_schema_count;

struct sqlite3;
struct sp_err;
/*
 * sp_migrate -- apply every embedded migration newer than the journal's
 * user_version.  Returns OK, E_SCHEMA (journal newer than this binary),
 * E_CORRUPT, E_IO, E_DISKFULL; e says which migration failed and why.
 */
int sp_migrate(struct sqlite3 *db, struct sp_err *e);
/*
 * sp_migrate_is_journal -- OK when db holds no table, or the tables
 * every journal has (schema 0001 makes them in one transaction);
 * E_CANTCREATE when it holds others (another application's database:
 * e says so, to follow "cannot open journal PATH: "); E_CORRUPT or
 * E_NOMEM when its schema does not read.  Writes nothing.
 */
int sp_migrate_is_journal(struct sqlite3 *db, struct sp_err *e);

#endif
