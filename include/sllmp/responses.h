/*
 * OpenAI's Responses API (POST /v1/responses), served through chat completions.
 *
 * A Responses request is translated into a chat completions request (so every provider, limit,
 * budget, cost and trace works as for chat), and the chat answer, streamed or not, is
 * translated back into the Responses shapes. The gateway keeps each answer (sllmp.responses,
 * include/sllmp/keep.h) as a record of what the model saw and said, so previous_response_id and
 * item_reference are expanded into the whole conversation before the translation
 * (sllmp_responses_expand). What needs other stored state (conversation, background, prompt)
 * or a hosted tool (web_search, file_search, computer use, ...) is a 400 that says so.
 *
 * The shapes are those of the openai SDK's types (openai-node 6.x,
 * resources/responses/responses.d.ts), and the streamed events follow what its ResponseStream
 * accumulates: every event carries "type" (the same as its SSE event name) and a
 * "sequence_number" counting from 0; items are announced (output_item.added) at the index they
 * keep, content parts (content_part.added) before their deltas.
 *
 * Everything here is pure, like translate.h: cJSON in, cJSON out, no I/O.
 */
#ifndef SLLMP_RESPONSES_H
#define SLLMP_RESPONSES_H

#include "sllmp/translate.h"
#include "sllmp/usage.h"

#include <cjson/cJSON.h>

/*
 * A Gemini thought signature travels in a function_call item's call_id, after
 * SLLMP_THOUGHT_SEP (translate.h; LiteLLM's): "call_abc__thought__<signature>". A Responses
 * client sends the call_id back as it got it (on the function_call and its
 * function_call_output), so Gemini gets the signature its next turn of a tool loop needs,
 * which the item has no other place for.
 */

/*
 * Signed thinking (Claude's thinking blocks, LiteLLM's thinking_blocks on the chat side) rides
 * in a reasoning item's encrypted_content: this prefix and the blocks as a JSON array. A
 * reasoning item sent back with it gives the next assistant message its thinking_blocks, so
 * Claude keeps thinking through a tool loop (it refuses thinking on a turn whose tool use comes
 * without its signed block). Other encrypted_content (OpenAI's) means nothing here.
 */
#define SLLMP_THINKING_PREFIX "sllmp.thinking.v1:"

/*
 * Responses request -> chat completions request (a new tree for the caller).
 *
 *   model                     copied
 *   instructions (string)     a first {"role":"system"} message
 *   input (string)            one user message
 *   input (array of items)    messages, in order:
 *     message items ("type":"message" or no type, with role user, system, developer or
 *     assistant; content a string or parts): input_text -> {"type":"text"}, input_image with
 *     image_url -> {"type":"image_url","image_url":{"url","detail"?}}, input_file with
 *     file_data -> {"type":"file","file":{"file_data","filename"?}}; an assistant's
 *     output_text parts -> its content as one string, refusal -> its "refusal"
 *     function_call {call_id, name, arguments} -> an assistant message's tool_calls entry
 *     {"id": call_id, "type":"function", "function":{name, arguments}} (a call_id with a
 *     thought signature: the id before SLLMP_THOUGHT_SEP, and the signature as
 *     extra_content.google.thought_signature); consecutive calls
 *     (and the assistant message just before them) make one assistant message
 *     function_call_output {call_id, output} -> {"role":"tool","tool_call_id","content"} (the
 *     call_id before SLLMP_THOUGHT_SEP)
 *     (output a string, or input_text parts)
 *     reasoning -> dropped (the chat side has no way to send it back)
 *   tools                     function tools {type,name,description,parameters,strict} ->
 *                             {"type":"function","function":{name,description,parameters,strict}}
 *   tool_choice               "auto" | "none" | "required" as they are; {"type":"function",
 *                             "name"} -> {"type":"function","function":{"name"}}; with
 *                             parallel_tool_calls, sent only when tools are (chat refuses both
 *                             without tools)
 *   max_output_tokens         max_completion_tokens
 *   reasoning.effort          reasoning_effort
 *   text.format               json_object -> response_format json_object; json_schema
 *                             {name,schema,strict,description} -> response_format
 *                             {"type":"json_schema","json_schema":{...}}; text: nothing
 *   text.verbosity            verbosity
 *   top_logprobs              logprobs true + top_logprobs (include
 *                             message.output_text.logprobs alone: logprobs true)
 *   temperature, top_p, parallel_tool_calls, user, metadata, stream, service_tier,
 *   prompt_cache_key, safety_identifier: copied
 *   store, include, truncation, background false, stream_options, max_tool_calls,
 *   prompt_cache_retention, context_management (Responses' own compaction), n (a Response
 *   has one answer; chat would bill every choice): dropped
 *   any other member           copied as it is (a client's extra parameter, as on chat)
 *
 * Refused with *e filled (NULL returned; a 400 invalid_request_error with e->param):
 * previous_response_id or conversation not null, background true, prompt, an input that is
 * neither a string nor an array, an item or part of a type sllmp cannot carry (item_reference,
 * hosted tool calls, input_image by file_id, input_file by file_id or file_url, ...), a tool
 * that is not a function tool, a tool_choice naming a hosted tool, and ill-typed members
 * (e.param names them: "input[2].content[0].text", "tools[1].type", ...).
 */
cJSON *sllmp_responses_to_chat(const cJSON *req, sllmp_xerr_t *e);

/*
 * An error's param about the chat request a Responses request became (an upstream's 400 names
 * what it was sent) under the name the client knows: messages... -> input (its indexes are the
 * chat messages', not the input items'), max_completion_tokens and max_tokens ->
 * max_output_tokens, response_format (and response_format.json_schema) -> text.format,
 * reasoning_effort -> reasoning.effort, verbosity -> text.verbosity, tools[i].function... ->
 * tools[i]..., tool_choice.function... -> tool_choice.... A member the client itself sent under
 * that chat name (an extra parameter) keeps its name, as does anything else. Returns param, or
 * out (len bytes) holding the new name.
 */
const char *sllmp_responses_param(const cJSON *req, const char *param, char *out, size_t len);

/*
 * The Response object around `output` (taken: it becomes the object's "output"; NULL for
 * []): id, "object":"response", created_at, status, error null (status "failed": {code,
 * message} from err_code and err_message), incomplete_details (status "incomplete":
 * {"reason": incomplete}), model, and the request's echoes: instructions, max_output_tokens,
 * metadata ({} when none), parallel_tool_calls (true), previous_response_id (null when none),
 * reasoning {effort, summary}, store (m->store), temperature, text {"format": the request's or
 * {"type":"text"}} (with its verbosity), tool_choice ("auto"), tools ([]), top_p,
 * truncation "disabled", user (only when given). usage (NULL: "usage" null) as ResponseUsage:
 * input_tokens = prompt total, input_tokens_details.cached_tokens = cache reads (and
 * cache_write_tokens = cache writes, which the openai SDK's type requires),
 * output_tokens = completion total (reasoning included), output_tokens_details.reasoning_tokens,
 * total_tokens.
 */
typedef struct {
    const cJSON *req;  /* the client's Responses request */
    const char *id;    /* "resp_..." */
    long created_at;   /* unix seconds */
    const char *model; /* as the client named it */
    int store;         /* the answer is kept: "store" echoes true */
} sllmp_responses_meta_t;

cJSON *sllmp_responses_object(const sllmp_responses_meta_t *m, const char *status,
                              const char *incomplete, const char *err_code, const char *err_message,
                              cJSON *output, const sllmp_usage_t *u);

/*
 * An unstreamed chat.completion -> a Response (choices[0] only; Responses has no n):
 * message.reasoning_content -> a reasoning item {"type":"reasoning","id":"rs_...",
 * "summary":[{"type":"summary_text","text"}]}; content -> a message item {"type":"message",
 * "id":"msg_...","status":"completed","role":"assistant","content":[{"type":"output_text",
 * "text","annotations":[],"logprobs":[]}]} (a refusal: a {"type":"refusal","refusal"} part);
 * each tool call -> {"type":"function_call","id":"fc_...","call_id","name","arguments",
 * "status":"completed"}. finish_reason length -> status "incomplete", reason
 * "max_output_tokens"; content_filter -> "incomplete", "content_filter" (the last message or
 * call then has status "incomplete" too, as OpenAI marks a cut item); else "completed". No
 * content, refusal or call: no item. Logprobs (asked for with top_logprobs) go into the
 * output_text part. Item ids are derived from m->id ("msg_" / "fc_" / "rs_", the id after its
 * first "_", the output index in hex), so the same answer gets the same ids, streamed or not.
 * u NULL: the completion's own usage. NULL when completion is not a chat.completion.
 */
cJSON *sllmp_responses_from_chat(const sllmp_responses_meta_t *m, const cJSON *completion,
                                 const sllmp_usage_t *u);

/*
 * Streamed: chat.completion.chunk objects in, Responses events out.
 *
 * The caller zeroes an sllmp_rstream_t, sets the "in" fields, feeds every chunk to
 * sllmp_rstream_chunk() and ends with exactly one of sllmp_rstream_finish() or
 * sllmp_rstream_fail(), then sllmp_rstream_free(). Each event goes to emit(type, data),
 * which does not keep data; a non-zero return stops the translator, which returns it.
 *
 * Events: response.created and response.in_progress (the Response with status "in_progress",
 * output [], usage null) before anything else; then for each item, in the order the chunks
 * bring them (a new kind of delta closes the item before it):
 *   reasoning_content  output_item.added (reasoning, summary []), reasoning_summary_part.added,
 *                      reasoning_summary_text.delta ...; on close reasoning_summary_text.done,
 *                      reasoning_summary_part.done, output_item.done
 *   content            output_item.added (message, status in_progress, content []),
 *                      content_part.added (output_text, text ""), output_text.delta ...; on
 *                      close output_text.done, content_part.done, output_item.done
 *   refusal            the same with a refusal part and refusal.delta / refusal.done
 *   tool_calls         per call (a new index): output_item.added (function_call, arguments "",
 *                      status in_progress), function_call_arguments.delta ...; on close
 *                      function_call_arguments.done, output_item.done
 * Chunks of choices other than index 0, usage-only chunks and empty deltas give nothing (not
 * even response.created: the stream starts at the first chunk of choice 0).
 * finish(u) closes the open item and sends response.completed (or response.incomplete, as
 * sllmp_responses_from_chat decides from the finish reason) with the whole Response: every
 * item as output_item.done had it, and the usage. fail(code, message) closes nothing and sends
 * an "error" event {code, message, param null} and response.failed (status "failed", the
 * items done so far). Both send response.created first if nothing went out yet.
 */
typedef int sllmp_revent_f(void *ud, const char *type, const cJSON *data);

typedef struct {
    /* in */
    sllmp_responses_meta_t meta;
    sllmp_revent_f *emit;
    void *ud;

    /* kept by the translator */
    long seq;         /* the next sequence_number */
    int started;      /* response.created went out */
    cJSON *items;     /* the items closed so far, as output_item.done had them */
    int open;         /* the kind of the open item: 0 none, else the translator's own */
    cJSON *item;      /* the open item */
    sllmp_buf_t text; /* its text (or arguments) so far */
    cJSON *logprobs;  /* the open message's output_text logprobs so far (NULL: none) */
    cJSON *thinking;  /* the open reasoning item's thinking_blocks entries (NULL: none) */
    int call_index;   /* the open call's chat index */
    char finish[32];  /* the chat finish_reason, "" before */
    int ended;        /* finish or fail ran */
    int stopped;      /* emit's non-zero return, once it stopped the translator; every call
                       * returns it from then on and emits nothing */
} sllmp_rstream_t;

int sllmp_rstream_chunk(sllmp_rstream_t *s, const cJSON *chunk);
int sllmp_rstream_finish(sllmp_rstream_t *s, const sllmp_usage_t *u);
int sllmp_rstream_fail(sllmp_rstream_t *s, const char *code, const char *message);
void sllmp_rstream_free(sllmp_rstream_t *s);

/*
 * ---- kept responses ----
 *
 * A kept response is a record {"owner", "context", "response"}: owner is who may read it (the
 * key's name, "" on an open gateway), context the input items the model saw (the earlier turns
 * included), response the Response object as the client got it (its "output" the answer's
 * items). The next turn's context is context + response.output + its own input.
 */

/*
 * The record of the response `response` (not taken) with the context the expansion made
 * (taken): context items without an "id" get one, "<prefix>_" + the response id's hex part + "i"
 * + their index in hex (prefix msg, fc, fco for function_call_output, rs, item), so
 * input_items can list them and an item_reference can name them.
 */
cJSON *sllmp_responses_record(const char *owner, cJSON *context, const cJSON *response);

/* The item with that id in a record (its context first, then its output); NULL when none. */
const cJSON *sllmp_responses_record_item(const cJSON *record, const char *item_id);

/* The id of the response an item id of ours ("msg_" + 32 hex + ..., see above) belongs to,
 * "resp_" + those 32 hex digits, into out; -1 when item_id is not of that form. */
int sllmp_responses_item_response(const char *item_id, char out[38]);

/* Looks an item up for an item_reference: 1 and *item (kept by the callee until the
 * expansion returns), 0 when there is none (or it is not the caller's), -1 when the store
 * failed. */
typedef int sllmp_item_find_f(void *ud, const char *id, const cJSON **item);

/*
 * The request with its conversation made whole (a new tree): previous_response_id gone, input
 * the array prev's context + prev's response.output (prev a record, NULL for none) + the
 * request's own input (a string becomes a user message item with that string as content), each
 * item_reference (type "item_reference", or an object with an id and neither type nor role)
 * replaced by the item find returns. NULL with *e filled when an item_reference has no string id
 * (param input[i].id), when an item is not found ("Item with
 * id '...' not found.", param input[i]) or the input is neither a string nor an array; when
 * find failed, e->message is empty.
 *
 * native: for a Responses API upstream (kind RESPONSES), which is sent the result as it is: the
 * kept items (prev's, and those find returns) go without their "id" and reasoning items without
 * encrypted_content are left out (see kept_item() in responses_state.c); an item_reference find
 * does not know, and previous_response_id when prev is NULL, stay as they are (the upstream's
 * own, perhaps: it judges).
 */
cJSON *sllmp_responses_expand(const cJSON *req, const cJSON *prev, sllmp_item_find_f *find,
                              void *ud, int native, sllmp_xerr_t *e);

#endif
