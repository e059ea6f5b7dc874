/*
 * Translators between the OpenAI shapes the gateway speaks and each provider's own
 * (protocols.md §2-3), and the wire codecs that only some providers need (AWS SigV4, the AWS
 * binary event stream).
 *
 * Everything here is pure: cJSON in, cJSON out, no I/O and no request, so the golden tests in
 * tests/unit/ drive it directly. The adapters in src/providers/ do the HTTP and feed these.
 *
 * Ownership: a function returning cJSON * gives the caller a tree to cJSON_Delete(). Inputs are
 * never modified.
 */
#ifndef SLLMP_TRANSLATE_H
#define SLLMP_TRANSLATE_H

#include "sllmp/buf.h"
#include "sllmp/usage.h"
#include "sllmp/util.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Why a request cannot be translated: a 400 invalid_request_error for the client. */
typedef struct {
    char param[96];    /* "messages[3].tool_calls[0].function.arguments"; "" when none */
    char message[256]; /* for the client; never quotes more than a short piece of the input */
} sllmp_xerr_t;

/* Fills *e (NULL: nothing): param from pfmt, and the message "'<param>' <why>" (why alone for
 * an empty param), so the client sees where. Always -1, for `return sllmp_xerr(...)`. */
int sllmp_xerr(sllmp_xerr_t *e, const char *why, const char *pfmt, ...) SLLMP_PRINTF(3, 4);

/* The string member `name` of obj (case-sensitive); NULL when obj is none, or the member is
 * missing or not a string. */
const char *sllmp_json_str(const cJSON *obj, const char *name);

/* The member `name` of obj (case-sensitive); NULL when obj is none or not an object, or has no
 * such member. The translators' lookup. */
const cJSON *sllmp_json_get(const cJSON *obj, const char *name);

/* Whether v is there and not null (a member the client gave). */
int sllmp_json_given(const cJSON *v);

/* Whether s is the string lit; s may be NULL. */
int sllmp_str_is(const char *s, const char *lit);

/*
 * A Gemini thought signature travels in an OpenAI tool call's id (and a Responses
 * function_call item's call_id) after this separator, as LiteLLM carries it:
 * "call_abc__thought__<signature>". Clients that rebuild the assistant message from id, name
 * and arguments alone (LangChain, most agent frameworks) send it back that way, so Gemini
 * still gets the signature the next turn of its tool loop needs.
 */
#define SLLMP_THOUGHT_SEP "__thought__"

/* The length of a tool call id before SLLMP_THOUGHT_SEP: the id the provider gave, whatever
 * signature was added to it (all of id when it has none). */
size_t sllmp_thought_id_len(const char *id);

/* The thought signature a tool call id carries after SLLMP_THOUGHT_SEP, NULL when it has none
 * (or an empty one). */
const char *sllmp_thought_signature(const char *id);

/* A new cJSON string of tool call id without the signature (the part before
 * SLLMP_THOUGHT_SEP), for providers whose tool ids take ^[a-zA-Z0-9_-]+$ only (Anthropic,
 * Bedrock), which a signature's base64 breaks: a conversation begun on Gemini goes on there
 * with the call and its result still paired. */
cJSON *sllmp_bare_tool_id(const char *id);

/*
 * Streamed translation into OpenAI chat.completion.chunk objects.
 *
 * The adapter zeroes an sllmp_xstream_t, sets the fields marked "in", and feeds the provider's
 * events to the provider's *_stream_event(). Each OpenAI chunk goes to emit(), which does not
 * keep it; emit's non-zero return stops the translator, which returns that value.
 *
 * Chunk shapes (protocols.md §1.4): every chunk has the same id, object
 * "chat.completion.chunk", created, model; choices[0] = {index, delta, logprobs (null but on
 * a content chunk that has them: Gemini's), finish_reason}, index 0 but in a stream of several
 * choices (n > 1: Gemini's candidates), where sllmp_xstream_choice() says which one the chunks that
 * follow are for. Each choice has its own role chunk, tool call ordinals and finish chunk. The
 * first chunk's delta (of each choice) is {"role":"assistant","content":""}. Tool calls use the
 * OpenAI ordinal index (0, 1, 2 ...), never the provider's block index, and only the first fragment
 * of a call carries id, type and function.name (and a Gemini call's thought signature,
 * extra_content.google.thought_signature, and in the id after SLLMP_THOUGHT_SEP). A chunk with the
 * mapped finish_reason and an empty delta comes once the provider says why it stopped. At the end,
 * the translator emits ONE usage chunk, "choices": [] and the full OpenAI usage object, always (the
 * gateway drops it for clients that did not ask): prompt_tokens includes cache reads and writes,
 * prompt_tokens_details {cached_tokens: reads, cache_write_tokens: writes}, completion_tokens
 * includes reasoning, completion_tokens_details {reasoning_tokens}; so that
 * sllmp_usage_from_openai() gives back exactly the buckets in ->usage.
 *
 * Reasoning (Anthropic thinking blocks, Bedrock reasoningContent, Gemini thought parts) goes
 * out as LiteLLM's non-standard fields, the same as in unstreamed answers: each piece of
 * reasoning text is a chunk whose delta is {"reasoning_content": text} alone; a signed thinking
 * block ends with one chunk {"thinking_blocks": [{"type":"thinking","thinking": <the block's
 * whole text>, "signature": ..., "index": n}]}, and a redacted one is one chunk
 * {"thinking_blocks": [{"type":"redacted_thinking","data": ..., "index": n}]}, n counting the
 * stream's entries from 0. LiteLLM puts a fragment of thinking_blocks in every reasoning chunk
 * (the text, then "" with the signature); here the entry comes once and whole, so a client can
 * send it back as it is (the request translators take only the block's own fields, not
 * "index"), LiteLLM's stream_chunk_builder rebuilds the same block from either shape, and
 * openai-python's stream helper, which merges list entries by their "index" (and fails on an
 * entry without one), puts the stream's blocks together in order. Reasoning is neither
 * content nor counted in text_chars: usage and estimates stay as they were.
 *
 * A failure inside the stream (Anthropic `error` event, Bedrock exception frame) sets err_*
 * and makes the *_stream_event() return -1 without emitting anything for it.
 *
 * The translator may hold memory (the text of the current thinking block): the adapter calls
 * sllmp_xstream_free() once it is done with it, whatever happened.
 */
typedef int sllmp_xemit_f(void *ud, const cJSON *chunk);

/* The most choices a stream has: OpenAI's largest n. */
#define SLLMP_XSTREAM_CHOICES 128

/* What the translator keeps of each choice (the fields of the same names below are the
 * current choice's). */
typedef struct {
    int started;
    int tools;
    int tool_open;
    int tool_block;
    int tool_args;
    char finish[32];
    int finish_sent;
} sllmp_xchoice_t;

/* The longest thinking block kept whole for its thinking_blocks entry; past it the block's
 * reasoning still streams, but it gets no entry (a cut block would not match its signature). */
#define SLLMP_XSTREAM_THINKING_MAX (4 * 1024 * 1024)

typedef struct {
    /* in */
    sllmp_xemit_f *emit;
    void *ud;
    const char *model; /* every chunk's "model": the name the client asked for */
    long created;      /* every chunk's "created" (unix seconds) */
    const char *id;    /* every chunk's "id" when the provider gives none (Gemini, Bedrock) */

    /* kept by the translator */
    char id_buf[128]; /* the provider's message id, when it gives one */
    int started;      /* the role chunk went out */
    int tools;        /* tool calls started so far: the next one's OpenAI index */
    /* The tool call whose block is open. Anthropic streams each block from its start to its
     * stop before the next one starts (protocols.md §2.4), Bedrock's ConverseStream the same
     * (§3.3), and Gemini's calls come whole: one block at most is open, and a tool call's is
     * the last call started (OpenAI index tools - 1). The provider's index only matches the
     * deltas and the stop to it, so it may be any int (web search citations and interleaved
     * thinking take Anthropic past a hundred blocks). */
    int tool_open;          /* a tool call's block is open */
    int tool_block;         /* its provider block index */
    int tool_args;          /* it sent argument text */
    char finish[32];        /* mapped finish reason once known, "" before */
    int finish_sent;        /* the finish chunk went out */
    int ended;              /* the provider said the message is over (message_stop, ...) */
    int usage_sent;         /* the usage chunk went out */
    sllmp_usage_t usage;    /* the provider's usage as last reported (cumulative) */
    size_t text_chars;      /* content and tool-argument characters emitted, for estimates */
    sllmp_buf_t thinking;   /* the current thinking block's text, for its signed entry */
    int thinking_cut;       /* that block outgrew SLLMP_XSTREAM_THINKING_MAX: no entry for it */
    int thinking_entries;   /* thinking_blocks entries sent: the next one's "index" */
    int unsigned_reasoning; /* the provider signs no reasoning (Gemini): none of it is kept */
    /* JSON mode (Bedrock's response_format, sllmp_bedrock_json_mode()): the input of the
     * SLLMP_BEDROCK_JSON_TOOL call streams as content, not as a tool call */
    int json_mode;  /* in */
    int json_open;  /* that call's block is open */
    int json_block; /* its provider block index */
    int json_args;  /* it sent input text */
    int json_seen;  /* the answer had one */

    /* n > 1 (Gemini's candidates): the index of the choice the fields above are for (the
     * chunks' choices[0].index), and each choice's saved state (the current one's is stale). */
    int choice;
    sllmp_xchoice_t *choices;
    int nchoices; /* choices[] has room for indices 0 .. nchoices - 1 */

    /* out: a failure inside the stream */
    int err_status;    /* the HTTP status it stands for: 429, 400, 500, 503 (529 -> 503) */
    char err_type[64]; /* the provider's error type: "overloaded_error", ... */
    char err_message[512];
} sllmp_xstream_t;

/*
 * The emitters every stream translator uses, so the chunks are the same whoever made them.
 * Each returns emit's value (0 to go on).
 */
/* The role chunk {"role":"assistant","content":""}, once. */
int sllmp_xstream_start(sllmp_xstream_t *s);
/* A content delta (after the role chunk, which it sends first if needed); "" sends nothing. */
int sllmp_xstream_text(sllmp_xstream_t *s, const char *text, size_t len);
/* The same, with logprobs ({"content": [...], "refusal": null}) on its chunk instead of null;
 * logprobs is taken (freed, whether it went out or not); NULL: none. */
int sllmp_xstream_text_logprobs(sllmp_xstream_t *s, const char *text, size_t len, cJSON *logprobs);
/* The first fragment of a tool call for provider block `block`: index (the next OpenAI
 * ordinal), id, type, function.name, arguments "". id NULL or "": one is made up ("call_...").
 * signature (Gemini's thoughtSignature of the call's part; NULL or "": none) goes on that
 * fragment as extra_content.google.thought_signature, and at the end of its id after
 * SLLMP_THOUGHT_SEP, where the unstreamed answer's tool call has it and the request translator
 * reads it back. A tool call whose block is still open ends first, as its block_stop would end
 * it. */
int sllmp_xstream_tool_start(sllmp_xstream_t *s, int block, const char *id, const char *name,
                             const char *signature);
/* Argument text for the tool call of provider block `block` ("" sends nothing); nothing
 * either when that block is not the open tool call's. */
int sllmp_xstream_tool_args(sllmp_xstream_t *s, int block, const char *text, size_t len);
/* A refusal delta {"refusal": text} (after the role chunk); "" sends nothing. */
int sllmp_xstream_refusal(sllmp_xstream_t *s, const char *text, size_t len);
/* Reasoning text: a {"reasoning_content": text} delta ("" sends nothing), kept as well for the
 * entry of the thinking block it belongs to, should a signature come. */
int sllmp_xstream_reasoning(sllmp_xstream_t *s, const char *text, size_t len);
/* The signature of the current thinking block: its thinking_blocks entry, with all the text
 * since the block began (or since the last signature). */
int sllmp_xstream_thinking_signature(sllmp_xstream_t *s, const char *signature);
/* A redacted thinking block: its thinking_blocks entry {"type":"redacted_thinking","data"}. */
int sllmp_xstream_redacted_thinking(sllmp_xstream_t *s, const char *data);
/* The end of block `block`: a tool call that sent no argument text gets "{}"; the text of a
 * thinking block that got no signature is forgotten. */
int sllmp_xstream_block_stop(sllmp_xstream_t *s, int block);
/* Records the finish reason and sends the finish chunk (empty delta), once. */
int sllmp_xstream_finish_reason(sllmp_xstream_t *s, const char *reason);
/* Makes choice `index` (0 .. SLLMP_XSTREAM_CHOICES - 1) the current one, whose state the
 * fields above hold and which the chunks that follow are for; -1 for an index out of range,
 * which changes nothing. */
int sllmp_xstream_choice(sllmp_xstream_t *s, int index);
/* The choices that began (sent their role chunk) and have not sent their finish chunk. */
int sllmp_xstream_open_choices(const sllmp_xstream_t *s);
/* The finish chunk of each choice that began (with its finish, else "stop"; choice 0 gets
 * one even if it did not begin) and the usage chunk, each if it has not gone out yet: for
 * providers whose stream just ends (Gemini) and at message_stop. */
int sllmp_xstream_finish(sllmp_xstream_t *s);
/* Frees what the translator holds; s may be used again only after zeroing it. */
void sllmp_xstream_free(sllmp_xstream_t *s);

/* A LiteLLM thinking_blocks entry: {"type":"thinking","thinking","signature"} when signature is
 * given and not "", else {"type":"redacted_thinking","data"} when data is, else NULL; with
 * "index" after the type when index >= 0 (a stream's entries). */
cJSON *sllmp_thinking_entry(int index, const char *thinking, const char *signature,
                            const char *data);

/* An OpenAI usage object for u (the shape described above). */
cJSON *sllmp_usage_to_openai(const sllmp_usage_t *u);

/* What an unstreamed answer of one choice says, for sllmp_chat_answer(). */
typedef struct {
    const char *id;         /* NULL: "chatcmpl-sllmp" */
    const char *model;      /* NULL: "" */
    long created;           /* unix seconds */
    const char *content;    /* NULL: null */
    const char *refusal;    /* NULL: null */
    const char *reasoning;  /* reasoning_content; NULL: none */
    cJSON *thinking_blocks; /* taken; NULL: none */
    cJSON *tool_calls;      /* taken; NULL: none */
    const char *finish;     /* finish_reason */
    const sllmp_usage_t *usage;
} sllmp_chat_answer_t;

/* The chat.completion of one choice every unstreamed translator answers with: id, object,
 * created, model, choices [{index 0, message {role assistant, content, refusal,
 * reasoning_content, thinking_blocks, tool_calls}, logprobs null, finish_reason}], usage
 * (sllmp_usage_to_openai). */
cJSON *sllmp_chat_answer(const sllmp_chat_answer_t *a);

/* ---------------------------------------------------------------------------------------- */
/* Chat completions through OpenAI's Responses API (src/providers/responses_xlate.c), for the   */
/* deployments whose models have no chat completions (chat_via_responses)                    */

/*
 * OpenAI chat request -> Responses request for `model`: messages -> input items (system,
 * developer and user messages as message items of their role with input_text / input_image /
 * input_file / input_audio parts; an assistant's text as an output_text part, its refusal as a
 * refusal part, its tool_calls as function_call items; tool messages as function_call_output
 * items), tools flattened ({"type":"function", name, description, parameters, strict}),
 * tool_choice ({"type":"function","name"}), response_format -> text.format (json_schema's
 * members one level up), verbosity -> text.verbosity, max_completion_tokens (else max_tokens)
 * -> max_output_tokens, reasoning_effort -> reasoning.effort, logprobs -> include
 * message.output_text.logprobs (with top_logprobs), store false unless the client says true;
 * temperature, top_p, user, metadata, parallel_tool_calls, stream, service_tier,
 * prompt_cache_key, safety_identifier and any other member copied; stop, seed, penalties,
 * logit_bias, prediction, stream_options dropped. A 400 (NULL, *e filled): n > 1, audio output,
 * the legacy functions API, a tool that is not a function, a part or role it cannot carry.
 */
cJSON *sllmp_chat_to_responses(const cJSON *req, const char *model, sllmp_xerr_t *e);

/* A Response -> chat.completion ("model" model, "created" created): output_text parts joined
 * as content, refusal parts as refusal, reasoning summaries as reasoning_content,
 * function_call items as tool_calls; finish_reason tool_calls, stop, or for status incomplete
 * length (content_filter when that was the reason); *u the usage. NULL when resp is no
 * Response (no output array). */
cJSON *sllmp_responses_to_chat_answer(const cJSON *resp, const char *model, long created,
                                      sllmp_usage_t *u);

/* One event of a Responses stream (its type, parsed data) -> chat chunks: response.created
 * the role chunk (its id the chunks'), output_text deltas content, refusal deltas refusal,
 * reasoning summary deltas
 * reasoning_content, function calls tool call fragments (by output_index), response.completed
 * or response.incomplete the finish chunk and the usage chunk (ended set); response.failed and
 * error set err_* and return -1. */
int sllmp_responses_chat_event(sllmp_xstream_t *s, const char *type, const cJSON *data);

/* ---------------------------------------------------------------------------------------- */
/* Anthropic Messages (protocols.md §2)                                                     */

#define SLLMP_ANTHROPIC_VERSION         "2023-06-01"
#define SLLMP_ANTHROPIC_DEFAULT_MAX     4096 /* max_tokens when the client sets none (LiteLLM's) */
#define SLLMP_BEDROCK_ANTHROPIC_VERSION "bedrock-2023-05-31"

/*
 * OpenAI chat request -> Anthropic Messages body for `model` (§2.6): system and developer
 * messages into `system`; tool messages into user tool_result blocks (consecutive user/tool
 * turns merged); assistant tool_calls into tool_use blocks (arguments parsed; invalid JSON is a
 * 400); image_url parts into image blocks (data: URLs as base64, http(s) as url); stop into
 * stop_sequences (whitespace-only dropped); max_tokens / max_completion_tokens (default
 * SLLMP_ANTHROPIC_DEFAULT_MAX); temperature clamped to 0..1, top_p, top_k as given; tools,
 * tool_choice, parallel_tool_calls:false -> disable_parallel_tool_use; user -> metadata.user_id;
 * stream copied; n > 1 is a 400; response_format json_schema -> output_config.format (a schema
 * that is not an object is a 400); logprobs, logit_bias, penalties, seed, json_object and other
 * OpenAI-only fields are dropped. NULL with *e filled when it cannot be translated.
 */
cJSON *sllmp_anthropic_request(const cJSON *req, const char *model, sllmp_xerr_t *e);

/*
 * Thinking for Anthropic models, shared by the Anthropic and the Bedrock Converse translators:
 * the thinking budget for an OpenAI reasoning_effort (minimal and low 1024, medium 2048, high,
 * xhigh and max 4096, LiteLLM's constants; 0 for none, NULL or anything else: no thinking),
 * and the room for the answer that max_tokens keeps above the budget when thinking is on.
 */
#define SLLMP_ANTHROPIC_THINKING_ROOM 1024
long sllmp_anthropic_thinking_budget(const char *effort);

/*
 * Whether an Anthropic model takes thinking with this translated body: an Anthropic Messages
 * body, or a Converse body for an Anthropic model on Bedrock. Not when the tool choice forces
 * a tool (tool_choice any / tool; toolConfig.toolChoice any / tool), nor when the last
 * assistant turn has tool use (tool_use; toolUse) without a thinking block first (thinking or
 * redacted_thinking; reasoningContent): the model would refuse either with a 400.
 */
int sllmp_anthropic_thinking_allowed(const cJSON *body);

/*
 * An OpenAI tool call's function.arguments as the object Anthropic's tool_use and Converse's
 * toolUse take (both request translators): a JSON text of an object (the whole text: nothing
 * but whitespace after it), or the object itself (some clients send it so), copied; absent,
 * null, "" or whitespace mean no arguments, {}. NULL for anything else (the client's 400).
 */
cJSON *sllmp_tool_input(const cJSON *args);

/*
 * Claude's prefill rule, for the Anthropic and the Bedrock Converse translators: when the last
 * of messages (translated turns, {"role", "content": [blocks]}) is the assistant's, Claude
 * continues it and refuses it ending in whitespace. The whitespace at the end of its last text
 * block ({"type":"text","text"} or Converse's {"text"}; Converse cachePoint blocks after it are
 * looked past, as they mark its end) is cut; a block left empty is removed, and the one before
 * it cut in turn; a turn left with no blocks but cachePoints is removed.
 */
void sllmp_anthropic_strip_prefill(cJSON *messages);

/* Whether a Claude model id (Anthropic's, or Bedrock's with "claude-" in it) names a model
 * released after Claude Opus 4.6, which refuses temperature, top_p and top_k (§0.9). */
int sllmp_anthropic_strict_sampling(const char *model);

/* Anthropic Message -> OpenAI chat.completion (§2.7), "model" set to model, "created" to
 * created; *u gets the usage. NULL when msg is not a Message. */
cJSON *sllmp_anthropic_response(const cJSON *msg, const char *model, long created,
                                sllmp_usage_t *u);

/* One Anthropic stream event (its `event:` name and parsed data) -> OpenAI chunks (§2.7). */
int sllmp_anthropic_stream_event(sllmp_xstream_t *s, const char *event, const cJSON *data);

/* stop_reason -> finish_reason (end_turn, stop_sequence, pause_turn and unknown -> stop;
 * max_tokens and model_context_window_exceeded -> length; tool_use -> tool_calls; refusal ->
 * content_filter). */
const char *sllmp_anthropic_finish(const char *stop_reason);

/* Merges an Anthropic usage object into u: the fields present replace (they are cumulative),
 * the absent ones stay (message_delta often carries output_tokens only). */
void sllmp_anthropic_usage_merge(sllmp_usage_t *u, const cJSON *usage);

/* The metadata of a /v1/messages body as Anthropic (and Bedrock) takes it: a new object with
 * the client's user_id alone; NULL when md has none. The other members (LiteLLM's tags and
 * trace names) are the gateway's, and Anthropic refuses them ("metadata.tags: Extra inputs
 * are not permitted"). */
cJSON *sllmp_anthropic_metadata(const cJSON *md);

/* ---------------------------------------------------------------------------------------- */
/* Google Gemini generateContent (protocols.md §3.1)                                        */

/* OpenAI chat request -> GenerateContentRequest (systemInstruction, contents with roles user
 * and model, functionCall / functionResponse parts (the name found from the earlier
 * tool_calls), inlineData for data: images, fileData for URLs, tools.functionDeclarations,
 * toolConfig, generationConfig). model (the deployment's, as in the URL; NULL for none) decides
 * what Gemini 3 takes instead of Gemini 2's (thinkingLevel). NULL with *e filled when it
 * cannot be translated. */
cJSON *sllmp_gemini_request(const cJSON *req, const char *model, sllmp_xerr_t *e);

/* GenerateContentResponse -> chat.completion, a choice for each candidate; synthesises call
 * ids; finish "tool_calls" when a functionCall is present; a blocked prompt gives
 * content_filter with empty content; a candidate's logprobsResult is its choice's
 * logprobs.content; usage: completion = candidates + thoughts, reasoning = thoughts, cached =
 * cachedContentTokenCount. */
cJSON *sllmp_gemini_response(const cJSON *resp, const char *model, long created, sllmp_usage_t *u);

/* One SSE event of streamGenerateContent?alt=sse (a whole GenerateContentResponse), each of
 * its candidates as the choice of its index (candidateCount > 1). The stream has no
 * terminator: call sllmp_xstream_finish() when it ends. */
int sllmp_gemini_stream_event(sllmp_xstream_t *s, const cJSON *data);

/* The wait a Gemini error body ({"error":{...,"details":[...]}}, or a streamed array holding
 * one) asks for: its google.rpc.RetryInfo retryDelay, a protobuf Duration ("37s", "1.5s"), in
 * milliseconds rounded up; -1 when there is none, or it is not a Duration of 0 s or more. */
int64_t sllmp_gemini_retry_delay_ms(const cJSON *body);

/* Whether a Gemini error body (or a streamed array holding one) refuses the API key: an
 * ErrorInfo whose reason is API_KEY_... Google answers a wrong key with 400 INVALID_ARGUMENT,
 * which would otherwise read as the client's bad request. */
int sllmp_gemini_key_refused(const cJSON *body);

/* OpenAI embeddings request -> batchEmbedContents body for models/<model>. */
cJSON *sllmp_gemini_embed_request(const cJSON *req, const char *model, sllmp_xerr_t *e);

/* OpenAI embeddings request -> Vertex AI's :predict body of its inputs first .. first+count-1
 * ({"instances": [{"content"}], "parameters": {"outputDimensionality"}}). */
cJSON *sllmp_vertex_embed_request(const cJSON *req, int first, int count, sllmp_xerr_t *e);

/* batchEmbedContents (or Vertex AI's :predict) response -> OpenAI embeddings list (base64:
 * little-endian float32 as base64 strings, as openai-node asks by default). *u gets estimated input
 * when the provider gave no count. */
cJSON *sllmp_gemini_embed_response(const cJSON *resp, const char *model, int base64,
                                   sllmp_usage_t *u);

/* ---------------------------------------------------------------------------------------- */
/* AWS Bedrock (protocols.md §3.3)                                                          */

/*
 * OpenAI chat request -> Converse body (messages, system, inferenceConfig, toolConfig) for the
 * Bedrock model model_id (a model id, an inference profile or an ARN). For Anthropic models
 * (model_id containing "anthropic."), reasoning_effort turns thinking on through
 * additionalModelRequestFields.thinking, and assistant thinking_blocks go back as
 * reasoningContent blocks (bedrock_xlate.c says how). response_format json_object / json_schema
 * becomes the SLLMP_BEDROCK_JSON_TOOL tool, forced (LiteLLM's way; a schema that is not an
 * object, or a client tool of that name, is a 400). NULL with *e filled when it cannot be
 * translated.
 */
cJSON *sllmp_bedrock_request(const cJSON *req, const char *model_id, sllmp_xerr_t *e);

/*
 * The client's anthropic-beta header (comma-separated flags; NULL: none) into an InvokeModel
 * body for Claude, which takes the flags in the body as "anthropic_beta": [...] (Bedrock has
 * no such header). Each flag is trimmed; empty ones are skipped; flags are added to the body's
 * own anthropic_beta array, or to a new one, unless already there. A body whose anthropic_beta
 * is not an array is left as it is (Bedrock will say why).
 */
void sllmp_bedrock_anthropic_beta(cJSON *body, const char *header);

/*
 * The tool LiteLLM has a Converse model call for response_format (its RESPONSE_FORMAT_TOOL_NAME):
 * its input is the answer.
 */
#define SLLMP_BEDROCK_JSON_TOOL "json_tool_call"

/* Whether the request's response_format asks for JSON (json_object or json_schema), which
 * sllmp_bedrock_request() turns into the SLLMP_BEDROCK_JSON_TOOL call and the answer's
 * translators (json_mode) back into content. */
int sllmp_bedrock_json_mode(const cJSON *req);

/* Converse response -> chat.completion. json_mode: sllmp_bedrock_json_mode() of the request. */
cJSON *sllmp_bedrock_response(const cJSON *resp, const char *model, long created, sllmp_usage_t *u,
                              int json_mode);

/* One decoded ConverseStream event (:event-type and its JSON payload) -> chunks. */
int sllmp_bedrock_stream_event(sllmp_xstream_t *s, const char *event_type, const cJSON *payload);

/* A Bedrock exception (:exception-type of an exception frame, or the x-amzn-ErrorType of an
 * HTTP error) -> the HTTP status it stands for (throttlingException 429, validationException
 * 400, modelStreamErrorException 424, serviceUnavailableException 503, ... else 500). */
int sllmp_bedrock_exception_status(const char *type);

/* Bedrock embedding models (InvokeModel): Amazon Titan (one text per call:
 * {"inputText","dimensions"?}) and Cohere ({"texts":[...],"input_type":"search_document"}). */
typedef enum { SLLMP_BEDROCK_EMBED_TITAN, SLLMP_BEDROCK_EMBED_COHERE } sllmp_bedrock_embed_t;
sllmp_bedrock_embed_t sllmp_bedrock_embed_kind(const char *model_id);

/* The InvokeModel body for the texts [first, first + count) of the request's input (a string or
 * an array of strings), or NULL with *e filled (token arrays are not supported). Titan takes
 * count 1. */
cJSON *sllmp_bedrock_embed_request(sllmp_bedrock_embed_t kind, const cJSON *req, int first,
                                   int count, sllmp_xerr_t *e);

/* Adds the vectors of one InvokeModel answer to the OpenAI list `data` (index from first),
 * as floats or base64; adds the input tokens it reports to *input_tokens. -1 when malformed. */
int sllmp_bedrock_embed_response(sllmp_bedrock_embed_t kind, const cJSON *resp, int first,
                                 int base64, cJSON *data, long *input_tokens);

/* The number of texts in an embeddings request's input, -1 when it is not a string or an
 * array of non-empty strings. */
int sllmp_embed_input_count(const cJSON *req);

/* A float vector as OpenAI's base64 (little-endian float32). */
char *sllmp_embedding_base64(const cJSON *floats);

/* ---- AWS SigV4 (§3.3) ---- */

typedef struct {
    const char *name; /* lowercase */
    const char *value;
} sllmp_kv_t;

/*
 * The Authorization header value (without "Authorization: ") for a request signed with SigV4.
 * path is the path as it goes on the wire (segments already URI-encoded once); it is encoded
 * again for the canonical request, as every service but S3 requires. query is the canonical
 * query string or "". headers (lowercase names, any order) must include host and x-amz-date
 * (and x-amz-security-token with temporary credentials); they are all signed. amz_date is
 * YYYYMMDD'T'HHMMSS'Z'. Returns 0, or -1 when out is too small.
 */
int sllmp_sigv4_authorization(const char *access_key, const char *secret_key, const char *region,
                              const char *service, const char *method, const char *path,
                              const char *query, const sllmp_kv_t *headers, size_t nheaders,
                              const void *body, size_t len, const char *amz_date, char *out,
                              size_t outlen);

/* YYYYMMDD'T'HHMMSS'Z' for t (UTC) into out[17]. */
void sllmp_amz_date(time_t t, char out[17]);

/* URI-encodes s the AWS way (unreserved A-Z a-z 0-9 - _ . ~ stay, everything else %XX
 * uppercase; '/' kept when keep_slash). */
int sllmp_aws_uri_encode(sllmp_buf_t *out, const char *s, size_t n, int keep_slash);

/* ---- AWS event stream (application/vnd.amazon.eventstream) ---- */

typedef struct {
    const char *message_type;   /* ":message-type": "event", "exception", "error"; "" absent */
    const char *event_type;     /* ":event-type" */
    const char *exception_type; /* ":exception-type" */
    const char *error_code;     /* ":error-code" (message type "error") */
    const char *payload;        /* not NUL-terminated */
    size_t payload_len;
} sllmp_evs_msg_t;

/* One whole, CRC-checked message; non-zero stops the decoder. */
typedef int sllmp_evs_f(void *ud, const sllmp_evs_msg_t *m);

typedef struct {
    sllmp_buf_t buf;
    size_t max; /* the largest message accepted */
    sllmp_evs_f *cb;
    void *ud;
    char error[128]; /* why the last feed returned -1 */
} sllmp_evs_t;

void sllmp_evs_init(sllmp_evs_t *p, size_t max, sllmp_evs_f *cb, void *ud);
/* Bytes in, however split: 0; -1 on a bad frame (prelude or message CRC mismatch, lengths out
 * of range, a header that runs past its block; p->error says which); or cb's non-zero. */
int sllmp_evs_feed(sllmp_evs_t *p, const char *data, size_t n);
void sllmp_evs_free(sllmp_evs_t *p);

/* CRC-32 (IEEE 802.3, as zlib's crc32): crc 0 to start, the previous value to continue. */
uint32_t sllmp_crc32(uint32_t crc, const void *data, size_t n);

#endif
