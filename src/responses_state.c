/*
 * Kept responses as data (include/sllmp/responses.h, "kept responses"): the record of an
 * answer, and a request's conversation made whole from the records it refers to. Pure: the
 * store is the caller's (src/middleware/responses.c, include/sllmp/keep.h).
 */
#include "sllmp/responses.h"
#include "sllmp/util.h"

#include <stdio.h>
#include <string.h>


/* What an item's id starts with, by its type. */
static const char *
id_prefix(const cJSON *item)
{
    static const char *const map[][2] = {{"message", "msg"},
                                         {"function_call", "fc"},
                                         {"function_call_output", "fco"},
                                         {"reasoning", "rs"}};
    const char *type = sllmp_json_str(item, "type");

    if (type == NULL && sllmp_json_str(item, "role") != NULL) {
        type = "message";
    }
    for (size_t i = 0; type != NULL && i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(type, map[i][0]) == 0) {
            return map[i][1];
        }
    }
    return "item";
}

cJSON *
sllmp_responses_record(const char *owner, cJSON *context, const cJSON *response)
{
    const char *rid = sllmp_json_str(response, "id"), *hex = rid ? strchr(rid, '_') : NULL;
    cJSON *rec = cJSON_CreateObject(), *item;
    int i = 0;

    hex = hex != NULL ? hex + 1 : "";
    cJSON_ArrayForEach(item, context)
    {
        if (cJSON_IsObject(item) && sllmp_json_str(item, "id") == NULL) {
            char id[96];

            snprintf(id, sizeof(id), "%s_%.40si%x", id_prefix(item), hex, (unsigned)i);
            cJSON_DeleteItemFromObjectCaseSensitive(item, "id");
            cJSON_AddStringToObject(item, "id", id);
        }
        i++;
    }
    cJSON_AddStringToObject(rec, "owner", owner != NULL ? owner : "");
    cJSON_AddItemToObject(rec, "context", context != NULL ? context : cJSON_CreateArray());
    cJSON_AddItemToObject(rec, "response", cJSON_Duplicate(response, 1));
    return rec;
}

static const cJSON *
find_in(const cJSON *items, const char *id)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, items)
    {
        const char *v = sllmp_json_str(item, "id");

        if (v != NULL && strcmp(v, id) == 0) {
            return item;
        }
    }
    return NULL;
}

const cJSON *
sllmp_responses_record_item(const cJSON *record, const char *item_id)
{
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(record, "response");
    const cJSON *found = find_in(cJSON_GetObjectItemCaseSensitive(record, "context"), item_id);

    return found != NULL ? found : find_in(cJSON_GetObjectItemCaseSensitive(r, "output"), item_id);
}

int
sllmp_responses_item_response(const char *item_id, char out[38])
{
    const char *us = item_id != NULL ? strchr(item_id, '_') : NULL;

    if (us == NULL || strspn(us + 1, "0123456789abcdef") < 32) {
        return -1;
    }
    memcpy(out, "resp_", 5);
    memcpy(out + 5, us + 1, 32);
    out[37] = '\0';
    return 0;
}

/* An item_reference: {"type":"item_reference","id"}, or {"id"} with neither type nor role. */
static const char *
reference_id(const cJSON *item)
{
    const char *type = sllmp_json_str(item, "type");

    if (type != NULL ? strcmp(type, "item_reference") != 0
                     : cJSON_GetObjectItemCaseSensitive(item, "role") != NULL) {
        return NULL;
    }
    return sllmp_json_str(item, "id");
}

/* A kept item as it goes into the expanded input. For a Responses API upstream (native) it
 * goes without its id, which that upstream never made or, with store: false, kept (it would
 * refuse the item), and a reasoning item goes only with its encrypted_content, the one form an
 * upstream takes back without a stored id; NULL when it is left out. */
static cJSON *
kept_item(const cJSON *item, int native)
{
    const char *type = sllmp_json_str(item, "type");
    cJSON *out;

    if (native && type != NULL && strcmp(type, "reasoning") == 0 &&
        sllmp_json_str(item, "encrypted_content") == NULL) {
        return NULL;
    }
    out = cJSON_Duplicate(item, 1);
    if (native) {
        cJSON_DeleteItemFromObjectCaseSensitive(out, "id");
    }
    return out;
}

static void
add_all(cJSON *to, const cJSON *items, int native)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, items)
    {
        cJSON *k = kept_item(item, native);

        if (k != NULL) {
            cJSON_AddItemToArray(to, k);
        }
    }
}

cJSON *
sllmp_responses_expand(const cJSON *req, const cJSON *prev, sllmp_item_find_f *find, void *ud,
                       int native, sllmp_xerr_t *e)
{
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(req, "input"), *item, *m;
    const cJSON *list = cJSON_IsArray(input) ? input : NULL;
    cJSON *out, *items;
    int i = 0;

    memset(e, 0, sizeof(*e));
    if (!cJSON_IsString(input) && !cJSON_IsArray(input)) {
        sllmp_xerr(e, "must be a string or an array of input items.", "input");
        return NULL;
    }
    items = cJSON_CreateArray();
    if (prev != NULL) {
        add_all(items, cJSON_GetObjectItemCaseSensitive(prev, "context"), native);
        add_all(items,
                cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(prev, "response"),
                                                 "output"),
                native);
    }
    if (cJSON_IsString(input)) {
        cJSON *msg = cJSON_CreateObject();

        /* content stays a string: the chat message it becomes is then the same as without a
         * store (some OpenAI-compatible servers take no content parts) */
        cJSON_AddStringToObject(msg, "type", "message");
        cJSON_AddStringToObject(msg, "role", "user");
        cJSON_AddStringToObject(msg, "content", input->valuestring);
        cJSON_AddItemToArray(items, msg);
    }
    cJSON_ArrayForEach(item, list)
    {
        const char *ref = cJSON_IsObject(item) ? reference_id(item) : NULL;
        const cJSON *found = NULL;

        if (ref == NULL && cJSON_IsObject(item) &&
            cJSON_IsString(cJSON_GetObjectItemCaseSensitive(item, "type")) &&
            strcmp(cJSON_GetObjectItemCaseSensitive(item, "type")->valuestring, "item_reference") ==
                0) {
            sllmp_xerr(e, "must be a string.", "input[%d].id", i);
            cJSON_Delete(items);
            return NULL;
        }
        if (ref == NULL) {
            cJSON_AddItemToArray(items, cJSON_Duplicate(item, 1));
        } else {
            int rc = find(ud, ref, &found);
            cJSON *k;

            if (rc == 0 && native) {
                /* the upstream's own, perhaps: it judges */
                cJSON_AddItemToArray(items, cJSON_Duplicate(item, 1));
            } else if (rc <= 0) {
                if (rc == 0) {
                    snprintf(e->param, sizeof(e->param), "input[%d]", i);
                    snprintf(e->message, sizeof(e->message), "Item with id '%.*s' not found.",
                             sllmp_utf8_prec(ref, 100), ref);
                }
                cJSON_Delete(items);
                return NULL;
            } else if ((k = kept_item(found, native)) != NULL) {
                cJSON_AddItemToArray(items, k);
            }
        }
        i++;
    }
    out = cJSON_CreateObject();
    cJSON_ArrayForEach(m, req)
    {
        if (m->string != NULL && strcmp(m->string, "input") != 0 &&
            (strcmp(m->string, "previous_response_id") != 0 || (native && prev == NULL))) {
            cJSON_AddItemToObject(out, m->string, cJSON_Duplicate(m, 1));
        }
    }
    cJSON_AddItemToObject(out, "input", items);
    return out;
}
