/*
 * Anthropic's Messages API (POST /v1/messages) served through chat completions, for the models
 * without Anthropic's API of their own (OpenAI, Azure, Gemini, Bedrock's other models, Ollama,
 * any OpenAI-compatible server, the mock): Claude Code and the Anthropic SDKs pointed at the
 * gateway reach every model, as they do through LiteLLM. Anthropic's own models (anthropic/,
 * bedrock/ Claude) keep the Messages API as it is (kind MESSAGES).
 *
 * The Messages request is translated into a chat completions request (so every provider,
 * limit, budget, cost and trace works as for chat), and the chat answer, streamed or not, back
 * into a Message and its events (protocols.md §2.3, §2.4). Everything here is pure, like
 * translate.h: cJSON in, cJSON out, no I/O.
 */
#ifndef SLLMP_MESSAGES_H
#define SLLMP_MESSAGES_H

#include "sllmp/translate.h"
#include "sllmp/usage.h"

#include <cjson/cJSON.h>

/*
 * Messages request -> chat completions request (a new tree for the caller); NULL with *e
 * filled (param in Anthropic's dotted form, "messages.2.content.0.source") for what chat
 * cannot say.
 *
 *   model, temperature, top_p, stream  as they are
 *   max_tokens                 max_tokens (the OpenAI adapter renames it for reasoning models)
 *   system (string or blocks)  a first system message (blocks: their texts joined by "\n\n")
 *   messages                   in order:
 *     user: text -> {"type":"text"}; image (base64 or url) -> image_url (a data: URL for
 *       base64); document: a base64 PDF -> {"type":"file","file":{"file_data"}}, plain text ->
 *       a text part; tool_result blocks -> one {"role":"tool","tool_call_id","content"} each,
 *       before the user message of the other blocks (as Anthropic wants them first); the text
 *       of a tool_result's content blocks joined, its images moved to that user message
 *     assistant: text blocks -> content (joined); tool_use -> tool_calls {"id","type":
 *       "function","function":{"name","arguments": the input as JSON}}; thinking with a
 *       signature and redacted_thinking -> LiteLLM's thinking_blocks (a Claude model reached
 *       through chat keeps thinking through a tool loop); thinking without one (a model that
 *       signs nothing answered it) is left out
 *   stop_sequences             stop
 *   tools                      custom tools {name, description, input_schema} -> function tools;
 *                              Anthropic's server tools (a "type" other than "custom") are a 400
 *   tool_choice                auto -> "auto", any -> "required", none -> "none", tool ->
 *                              {"type":"function","function":{"name"}};
 *                              disable_parallel_tool_use -> parallel_tool_calls false
 *   thinking                   enabled with budget_tokens -> reasoning_effort: below 2048 low,
 *                              below 4096 medium, else high (the inverse of the chat ->
 *                              Anthropic constants, 1024 / 2048 / 4096); adaptive, disabled:
 *                              nothing (the model's own default)
 *   output_config.effort       reasoning_effort (max: xhigh); wins over thinking
 *   output_config.format, output_format  {"type":"json_schema","schema"} -> response_format
 *                              {"type":"json_schema","json_schema":{"name":"output","schema"}}
 *   metadata.user_id           user
 *   top_k, cache_control (everywhere), service_tier, container, inference_geo, mcp_servers and
 *   any other member: left out (chat has no place for them)
 */
cJSON *sllmp_messages_to_chat(const cJSON *req, sllmp_xerr_t *e);

/*
 * A Messages request for Anthropic's own API (passed through), with each tool_use id and
 * tool_result tool_use_id cut before SLLMP_THOUGHT_SEP: a Gemini thought signature in it (a
 * conversation begun on Gemini through chat) is base64, which Anthropic's id pattern
 * ^[a-zA-Z0-9_-]+$ refuses. Changes req in place; the number of ids cut.
 */
int sllmp_messages_bare_ids(cJSON *req);

/* What every translation of one answer needs. */
typedef struct {
    const char *id;    /* "msg_..." */
    const char *model; /* as the client named it */
} sllmp_messages_meta_t;

/*
 * The stop_reason of a chat finish_reason: length -> max_tokens, tool_calls and function_call
 * -> tool_use, content_filter -> refusal, anything else end_turn (tool_use when the answer has
 * tool calls, whatever the reason said).
 */
const char *sllmp_messages_stop_reason(const char *finish, int has_tool_use);

/* The Message's usage from the gateway's buckets: input_tokens the prompt tokens neither read
 * from nor written to a cache, cache_read_input_tokens, cache_creation_input_tokens, and
 * output_tokens with the reasoning in it (Anthropic's three inputs are disjoint); u NULL: all 0. */
cJSON *sllmp_messages_usage(const sllmp_usage_t *u);

/*
 * An unstreamed chat.completion -> a Message {"id","type":"message","role":"assistant",
 * "model","content","stop_reason","stop_sequence":null,"usage"} (choices[0] only): thinking
 * blocks first (LiteLLM's thinking_blocks as they are, else reasoning_content as one thinking
 * block with an empty signature), then the text (content, or the refusal), then one tool_use
 * per tool call, its input the arguments parsed ({} when they are not a JSON object). u NULL:
 * the completion's own usage. NULL when completion is not a chat.completion.
 */
cJSON *sllmp_messages_from_chat(const sllmp_messages_meta_t *m, const cJSON *completion,
                                const sllmp_usage_t *u);

/*
 * Streamed: chat.completion.chunk objects in, Anthropic's events out.
 *
 * The caller zeroes an sllmp_mstream_t, sets the "in" fields, feeds every chunk to
 * sllmp_mstream_chunk() and ends with sllmp_mstream_finish() unless the stream failed (the
 * failure is then one "error" event, the caller's). Each event goes to emit(type, data), which
 * does not keep data; a non-zero return stops the translator, which returns it from then on.
 *
 * Events: message_start (the Message with content [], stop_reason null, usage all 0) and a
 * ping at the first chunk of choice 0; then content blocks, numbered from 0 in the order the
 * deltas bring them, a new kind of delta closing the block before it (content_block_stop):
 *   reasoning_content   content_block_start {"type":"thinking","thinking":"","signature":""},
 *                       thinking_delta ...; a thinking_blocks entry then gives its
 *                       signature_delta and closes it (an entry without reasoning_content
 *                       before it opens the block and sends its text first); a
 *                       redacted_thinking entry is a block of its own
 *   content, refusal    content_block_start {"type":"text","text":""}, text_delta ...
 *   tool_calls          per call (a new chat index): content_block_start {"type":"tool_use",
 *                       "id","name","input":{}}, input_json_delta {"partial_json"} ...
 * Other choices, usage-only chunks and empty deltas give nothing. finish(u) closes the open
 * block and sends message_delta {"delta":{"stop_reason","stop_sequence":null},"usage"} (the
 * whole usage: the SDKs take input and cache counts from it too) and message_stop; message_start
 * first when nothing went out yet; u NULL: a usage of 0.
 */
typedef int sllmp_mevent_f(void *ud, const char *type, const cJSON *data);

typedef struct {
    /* in */
    sllmp_messages_meta_t meta;
    sllmp_mevent_f *emit;
    void *ud;

    /* kept by the translator */
    int started;    /* message_start went out */
    int blocks;     /* content blocks opened so far: the next one's index */
    int open;       /* the open block's kind: 0 none, else the translator's own */
    int call_index; /* the open tool_use's chat index */
    int tool_use;   /* a tool_use block went out */
    char finish[32];
    int stopped; /* emit's non-zero return, once it stopped the translator */
} sllmp_mstream_t;

int sllmp_mstream_chunk(sllmp_mstream_t *s, const cJSON *chunk);
int sllmp_mstream_finish(sllmp_mstream_t *s, const sllmp_usage_t *u);

#endif
