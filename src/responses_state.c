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

static void
add_all(cJSON *to, const cJSON *items)
{
    const cJSON *item;

    cJSON_ArrayForEach(item, items)
    {
        cJSON_AddItemToArray(to, cJSON_Duplicate(item, 1));
    }
}

cJSON *
sllmp_responses_expand(const cJSON *req, const cJSON *prev, sllmp_item_find_f *find, void *ud,
                       sllmp_xerr_t *e)
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
        add_all(items, cJSON_GetObjectItemCaseSensitive(prev, "context"));
        add_all(items, cJSON_GetObjectItemCaseSensitive(
                           cJSON_GetObjectItemCaseSensitive(prev, "response"), "output"));
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

            if (rc <= 0) {
                if (rc == 0) {
                    snprintf(e->param, sizeof(e->param), "input[%d]", i);
                    snprintf(e->message, sizeof(e->message), "Item with id '%.*s' not found.",
                             sllmp_utf8_prec(ref, 100), ref);
                }
                cJSON_Delete(items);
                return NULL;
            }
            cJSON_AddItemToArray(items, cJSON_Duplicate(found, 1));
        }
        i++;
    }
    out = cJSON_CreateObject();
    cJSON_ArrayForEach(m, req)
    {
        if (m->string != NULL && strcmp(m->string, "input") != 0 &&
            strcmp(m->string, "previous_response_id") != 0) {
            cJSON_AddItemToObject(out, m->string, cJSON_Duplicate(m, 1));
        }
    }
    cJSON_AddItemToObject(out, "input", items);
    return out;
}
