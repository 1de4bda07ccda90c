/*
 * payload_out.c -- JSON text that ctspool writes with cJSON: the
 * canonical custom_dimensions object stored with each record, and JSON
 * string literals.  Parsing lives in payload.c.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "journal.h"

/* cJSON wants NUL-terminated strings; points carry lengths. */
static char *
dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

ctspool_rc
sp_payload_dims_json(const struct sp_point *p, char **out)
{
    cJSON *obj = NULL;
    char *text = NULL;
    ctspool_rc rc = CTSPOOL_E_NOMEM;

    *out = NULL;
    obj = cJSON_CreateObject();
    if (!obj) {
        goto out;
    }
    /* dims are sorted: the object's key order is canonical. */
    for (size_t i = 0; i < p->n_dims; i++) {
        char *k = dup_n(p->dims[i].key, p->dims[i].key_len);
        char *v = dup_n(p->dims[i].val, p->dims[i].val_len);
        cJSON *item = v ? cJSON_CreateString(v) : NULL;

        if (!k || !item || !cJSON_AddItemToObject(obj, k, item)) {
            free(k);
            free(v);
            cJSON_Delete(item);
            goto out;
        }
        free(k);
        free(v);
    }
    text = cJSON_PrintUnformatted(obj);
    if (!text) {
        goto out;
    }
    *out = strdup(text);
    cJSON_free(text);
    rc = *out ? CTSPOOL_OK : CTSPOOL_E_NOMEM;
out:
    cJSON_Delete(obj);
    return rc;
}

ctspool_rc
sp_json_string(const char *s, char **out)
{
    cJSON *str = cJSON_CreateString(s);
    char *text;

    *out = NULL;
    if (!str) {
        return CTSPOOL_E_NOMEM;
    }
    text = cJSON_PrintUnformatted(str);
    cJSON_Delete(str);
    if (!text) {
        return CTSPOOL_E_NOMEM;
    }
    *out = strdup(text);
    cJSON_free(text);
    return *out ? CTSPOOL_OK : CTSPOOL_E_NOMEM;
}
