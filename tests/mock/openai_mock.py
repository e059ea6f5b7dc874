#!/usr/bin/env python3
"""A mock OpenAI-compatible upstream for the sllmp integration tests (standard library only).

    python3 tests/mock/openai_mock.py --port 0 --port-file /tmp/mock.port [--azure-key K]

Binds 127.0.0.1 only. HTTP/1.1 with keep-alive; streams use Transfer-Encoding: chunked (or,
with the `close` option, no framing and Connection: close) and every event is flushed as it is
written (TCP_NODELAY).

Flags: --port, --port-file, --verbose, --parent-pid, --tls-cert/--tls-key (see mockserve.py),
--azure-key K: the `api-key` the Azure paths require (default "azure-mock-KEY"), and
--vertex-secret S: serve Vertex AI's OpenAI-compatible endpoint (below) for the tokens of
google_oauth_mock.py --secret S.

Endpoints (OpenAI paths: no auth checked; the Authorization header is only recorded):
    POST /v1/chat/completions, /chat/completions    chat, unstreamed or streamed
    POST /v1/completions, /completions              legacy completions, unstreamed or streamed
    POST /v1/embeddings, /embeddings                embeddings
    POST /v1/images/generations, /images/generations   images (see Images below)
    POST /v1/moderations, /moderations              moderations (see Moderations below)
    POST /v1/responses, /responses                  OpenAI's Responses API (see Responses below)
    GET  /v1/responses/{id}, /responses/{id}        a stored Response
    GET  /v1/responses/{id}/input_items             its input items (ids given where they had
                      none), newest first (order=asc: oldest), at most limit (default 20)
    POST /v1/conversations, GET/POST/DELETE /v1/conversations/{id}, GET/POST .../items
                      OpenAI's conversations, in memory ({id "conv_...", object
                      "conversation", created_at, metadata}; items as given)
    POST /v1/responses/{id}/cancel                  a stored background Response, status
                      "cancelled" (404 unknown; 400 not a background one)
    DELETE /v1/responses/{id}, /responses/{id}      a stored Response forgotten ({id, object,
                      deleted: true}; 404 when unknown)
    POST /openai/deployments/{deployment}/chat/completions?api-version=V      Azure (classic)
    POST /openai/deployments/{deployment}/completions?api-version=V
    POST /openai/deployments/{deployment}/embeddings?api-version=V
    POST /openai/deployments/{deployment}/images/generations?api-version=V   (no moderations:
                      Azure has none, 404)
    POST /openai/v1/chat/completions, /openai/v1/completions, /openai/v1/embeddings,
         /openai/v1/images/generations  (Azure v1)
    POST /openai/v1/responses                       Azure v1 Responses (deployment: body model)
    POST /openai/responses?api-version=V            Azure's dated ("preview") Responses path
    POST /v1/responses/compact, /responses/compact  the Responses API's compaction: model (a
                      string) and input, instructions, previous_response_id, prompt_cache_key,
                      prompt_cache_retention, prompt_cache_options only (else 400
                      unknown_parameter); answers {id, object "response.compaction",
                      created_at, output: the input's user messages then one compaction item
                      {type "compaction", id "cmp_...", encrypted_content}, usage (input:
                      ceil(chars / 4), output 16)}
    GET  /openai/v1/responses/{id}, /openai/responses/{id}?api-version=V
    GET  /v1/models, /models, /health
    POST /v1/projects/{project}/locations/{location}/endpoints/openapi/chat/completions
                      Vertex AI's OpenAI-compatible endpoint (with --vertex-secret): chat as
                      above, for a body model "publisher/name" (Vertex's partner models:
                      meta/llama-..., deepseek-ai/...; no "/": 400) whose name carries the
                      options. Auth: an Authorization: Bearer token of google_oauth_mock.py
                      that has not expired, else (and with option status-401) 401
                      [{"error":{"code":401,"status":"UNAUTHENTICATED",...}}], as Vertex sends
                      its errors.

Behaviour is chosen by the request's `model` (the gateway rewrites the model to the
deployment's upstream model, so a test config picks behaviour per deployment); on the classic
Azure paths by the {deployment} of the path instead (the body's model is ignored). A model is
one or more options joined with '+', e.g. `sleep-500+words-5-100+crlf`:

    echo              answer = text of the last user message (default); streamed one word
                      per chunk ("Hello", " world", ...); completions: the prompt
    words-N-D         answer = N words "w1".."wN" (" w2" ...); streamed N chunks, D ms apart
    status-500        500 {"error":{... type server_error}}
    status-503        503 overloaded
    status-429        429 rate_limit_exceeded + Retry-After: 7, retry-after-ms: 7000,
                      x-ratelimit-limit-requests: 60, x-ratelimit-remaining-requests: 0,
                      x-ratelimit-reset-requests: 7s  (Azure paths: Azure's 429, see below)
    status-401        401 invalid_api_key; the message quotes the fake key sk-mock-SECRET-123
    status-403        403 (country not supported)
    status-400        400 context_length_exceeded, param "messages"
    policy            400 content_policy_violation (with status-400 or alone)
    quota             429 insufficient_quota as type and code (with status-429 or alone): the
                      account is out of credit; no Retry-After, no x-ratelimit-* headers
    status-404        404 model_not_found, param "model"
    status-422        422 unprocessable
                      (any other status-NNN: NNN with a server_error body)
    sleep-MS          sleep MS ms before sending the response headers (watching for the client
                      to leave meanwhile)
    stall-after-N     stream N content chunks, then send nothing until the client leaves
                      (unstreamed: send the headers and half of the body, then stall)
    close-after-N     stream N content chunks, then close the connection without [DONE]
    nodone            end the stream as usual (finish chunk, usage chunk, last HTTP chunk)
                      but without data: [DONE], as some OpenAI-compatible servers do
    reset-after-N     stream N content chunks, then reset the connection (SO_LINGER 0 and
                      close: the client sees a TCP RST, no FIN); unstreamed: the headers and
                      half of the body, then the reset (stall- and reset-after-N with N >= the
                      content chunks: all of them, then the stall / reset)
    error-after-N     stream N content chunks, then `data: {"error":{...}}` and [DONE]
    mistral           answer as Mistral's API does: a body that has stream_options at all, or
                      a chat body with any field outside Mistral's chat request (MISTRAL_CHAT:
                      no max_completion_tokens, seed or user; it says max_tokens, random_seed),
                      or a name on a message other than a tool's,
                      gets 422 {"object":"error","message":{"detail":[{"type":"extra_forbidden",
                      "loc":["body",FIELD],...}, one per field]},"type":"invalid_request_error",
                      ...} (its request model forbids extra fields; not counted in
                      /_mock/calls); streams carry the usage on the finish chunk, never a chunk
                      of their own
    reasoning         chat: answer as OpenAI's reasoning models do: a body with max_tokens gets
                      400 invalid_request_error, code unsupported_parameter, param max_tokens
                      ("... Use 'max_completion_tokens' instead."). Implied by a token that is
                      an OpenAI reasoning model name (o1, o3-mini, o4-mini-2025-04-16, gpt-5,
                      gpt-5-mini, gpt-5.1; not gpt-5-chat-latest), also on the Azure paths
                      (deployment name)
    error200-NNN      unstreamed: a 200 whose body is {"error":{"code":NNN,"message":...}} and
                      no choices, as OpenRouter answers a failure after the model began;
                      streams: ignored
    crlf              SSE lines end with CRLF instead of LF
    split             every event written byte by byte, one write (and HTTP chunk) per byte
    close             no chunked encoding: Connection: close, body ends at EOF
    badjson           a 200 whose body is not JSON (unstreamed) / a chunk that is not JSON
    nonobject         streams: before the second content chunk, four events whose data is
                      JSON but no object: null, "x", 42 and [1]; unstreamed: ignored
    keepalive-P-T     streams: right after the 200's headers, the SSE comment
                      `: OPENROUTER PROCESSING` every P ms for T ms, before the first event
                      (OpenRouter's keep-alive while a model is queued); unstreamed: ignored
    tools             answer with a tool call instead of content (chat only)
    tools-once        as tools while the last message is not a tool result; after one (a
                      tool call's round trip), answer "tool said: " + that result's text
    usage-P-C-K-R     report usage prompt P, completion C, cached K (part of P), reasoning R
                      (part of C) instead of the computed figures (embeddings: prompt P)
    nousage           report no usage at all (no "usage" key / null; no usage chunk)
    quote-key         an error (status-NNN, error-after-N) quotes the key it was sent in its
                      message, as some OpenAI-compatible servers do; with mistral, each
                      detail's msg quotes its input (JSON) and then that key:
                      "... (input "x", request sent with Bearer KEY)"
    quote-key-param   an error's param quotes that key too ("messages (Bearer KEY)")
    dirty-headers     x-ratelimit-* headers a client must not get: a value with a control
                      character (ESC) and a name with a space in it
  fault injection (for retry / fallback tests; see mockserve.py):
    first-N           the failure options (status-NNN, sleep-MS, stall-/close-/error-/
                      reset-after-N) apply only to the first N calls with this exact model
                      string (Azure classic: deployment) since the start or POST /_mock/reset;
                      later calls answer normally (same content, no fault)
    every-N           the failure options apply only to calls 1, N+1, 2N+1, ... of this model
                      string (status-500+every-2 fails every other call, the first included);
                      with first-M as well, both must hold
    retry-S           status-429: Retry-After: S, retry-after-ms: S*1000 (and S in the message
                      and x-ratelimit-reset-requests) instead of 7; status-503: also sends
                      Retry-After: S and retry-after-ms: S*1000 (without retry-S, none)
Calls are counted per model string across chat, completions, embeddings and responses (GET
/_mock/calls).
Embeddings honour status-, sleep-, stall-after- and reset-after- (unstreamed), badjson,
usage-, nousage and the fault-injection options; completions honour all but tools.

Chat (§1.3/1.4 of docs/protocols.md): usage prompt_tokens = max(1, chars of all messages // 4),
completion_tokens = number of content pieces. stream_options.include_usage: every chunk has
"usage": null and one extra chunk with "choices": [] carries the usage before [DONE].
Tool calls and tool messages must pair as OpenAI checks them (400, param "messages.[N].role"):
a tool message answers a call of the assistant message before its run of tool messages, and
every call is answered right after its assistant message; a call's id is at most 40
characters (400 string_above_max_length, as OpenAI answers a longer one).

Embeddings (§1.8): input is a string, string[], int[] (one token array) or int[][]; 400
invalid_request_error param "input" when it is empty ([] or ""), holds an empty string or an
empty token array, mixes types, has > 2048 items, or an item has > 8192 tokens.
`dimensions` (int 1..65536, default 8; else 400 param "dimensions"); `encoding_format` "float"
(default) or "base64" (little-endian float32, standard base64; else 400 param
"encoding_format"). Vectors are deterministic (sha256 of the text, or of "tokens:1,2,3" for a
token array), unit length, float32-exact (the float and base64 forms decode to the same
numbers). usage {prompt_tokens, total_tokens}: ceil(chars/4) per text (token arrays: their
length), summed. "model" echoes the request's model.

Images (OpenAI's images API, generations): `prompt` a non-empty string (else 400 param
"prompt"), `n` an integer 1..10 (default 1; else 400 param "n"). A model string with a token
that starts with "gpt-image" answers as gpt-image-1: {created, background "opaque", data: n x
{"b64_json": base64 of 3000 bytes}, output_format "png", quality, size, usage {input_tokens:
ceil(prompt chars / 4), input_tokens_details {text_tokens (the same), image_tokens 0},
output_tokens: 272 a picture, total_tokens}} (usage-P-C-..: P input, C output; nousage: none).
Any other model as dall-e-3: {created, data: n x {url "https://images.mock.invalid/<hex>.png",
revised_prompt: the prompt}}, or b64_json with response_format "b64_json"; no usage. Honours
status-, sleep-, badjson and the fault-injection options.

Moderations: `input` a string, or a non-empty list of strings or of {type: text|image_url}
parts (else 400 param "input"); {id "modr-<hex>", model: the request's, results: one per input
(one for a string or a list of parts) {flagged, categories, category_scores,
category_applied_input_types}}; flagged (category violence) when the text holds "kill".

Completions (§1.9): prompt string | string[] (also int[] / int[][], echoed as the numbers
joined by spaces; else 400 param "prompt"); one choice per prompt. The answer is the prompt
(echo) or words-N-D, cut to max_tokens pieces (default 16; int >= 0, else 400 param
"max_tokens"): finish_reason "length" when cut, else "stop". Body `echo: true` puts the
prompt in front of the answer. Response object "text_completion", choices[{text, index,
logprobs: null, finish_reason}], usage (prompt: ceil(chars/4) per prompt, summed, min 1;
completion: the answer pieces). Streamed: one text_completion chunk per piece (per choice),
then per choice a chunk with "text": "" and the finish_reason, then (include_usage) a chunk
with "choices": [] and the usage, then data: [DONE].

Responses (POST /v1/responses; behaviour chosen by the body's model as for chat, also on the
Azure paths, whose deployment is the body's model): status-NNN (the same error bodies and
headers as chat; Azure's 429 on the Azure paths, operation Responses_Create), sleep-MS,
first-N / every-N / retry-S, stall-/close-/reset-after-N, error-after-N, words-N-D, echo,
usage-P-C-K-R, nousage, tools, tools-once, reasoning, badjson, nonobject, crlf, split, close,
keepalive-P-T, quote-key; nodone, mistral and error200-NNN are ignored.
  The request is checked as OpenAI does, before the options apply (a refusal is a 400
  {"error":{"message","type":"invalid_request_error","param","code"}}, not counted in
  /_mock/calls, no /_mock/streams record):
    - a top-level key outside RESPONSES_PARAMS (messages, max_tokens, max_completion_tokens,
      n, stop, ...): code unknown_parameter, param the key, "Unknown parameter: 'KEY'."; so
      is a stream_options key other than include_obfuscation ("stream_options.include_usage")
    - model missing (missing_required_parameter) or not a string (invalid_type); input not a
      string or an array (invalid_type, param "input"; absent: missing_required_parameter
      unless prompt, previous_response_id or conversation is there); max_output_tokens not an
      integer, or < 16 (integer_below_min_value, as OpenAI); include not string[]
    - tools: an array of objects with a type; function and custom tools need a string name
      at the top (chat's {"type":"function","function":{...}}: missing_required_parameter
      "tools[0].name"); hosted tools (web_search, file_search, ...) pass
    - input items: messages (type "message" or none) need role user / system / developer /
      assistant (invalid_value "input[i].role") and content, a string or parts input_text /
      output_text / input_image / input_file / refusal (invalid_value
      "input[i].content[j].type"); function_call needs string call_id, name, arguments;
      custom_tool_call call_id, name, input; function_call_output / custom_tool_call_output
      call_id and output (string or array), and the call_id must be that of a call earlier
      in the input, in an item_reference'd item or in the previous response ("No tool call
      found for function call output with call_id X.", param "input"); a reasoning item
      needs summary; without a string encrypted_content it is looked up by its id: with
      store false "Item with id 'rs_...' not found. Items are not persisted when `store` is
      set to false. Try again with `store` set to true, or remove this item from your
      input.", else (id unknown) "Item with id 'X' not found." (param "input"); an
      item_reference must name a stored output item ("Item with id 'X' not found.", param
      "input"); any other item type passes
    - previous_response_id must name a stored Response: else code
      previous_response_not_found, param previous_response_id, "Previous response with id 'X'
      not found."
  The answer: output = [a reasoning item (reasoning, or a reasoning model's name: see
  reasoning above) {type, id "rs_"+48 hex, summary [{type summary_text, text "thinking..."}],
  encrypted_content when include has "reasoning.encrypted_content"}], then
    - tools / tools-once (while the last input item is no function_call_output /
      custom_tool_call_output) with a function or custom tool in the body: a call of the first
      of them: {type function_call, id "fc_"+hex, call_id "call_"+hex, name, arguments
      '{"city":"Paris"}', status completed} or {type custom_tool_call, id "ctc_"+hex,
      call_id, name, input "print('hello')", status completed} (no such tool: as without
      tools)
    - else a message {type message, id "msg_"+hex, status, role assistant, content
      [{type output_text, annotations [], logprobs [], text}]}: text = words-N-D's words,
      tools-once's "tool said: " + the last tool output's text, or (echo) the string input /
      the last user message's content string or its input_text parts joined; cut to
      max_output_tokens pieces: then the item's and the Response's status are "incomplete",
      incomplete_details {reason: "max_output_tokens"}
  The Response: {id "resp_"+48 hex, object "response", created_at, status, background,
  error null, incomplete_details, instructions, max_output_tokens, max_tool_calls, model (the
  body's; Azure: gpt-4o-mini-2024-07-18), output, parallel_tool_calls, previous_response_id,
  prompt_cache_key, reasoning, safety_identifier, service_tier, store, temperature, text,
  tool_choice, tools, top_logprobs, top_p, truncation, usage, user, metadata} (the request's
  values echoed, else OpenAI's defaults); usage {input_tokens, input_tokens_details
  {cached_tokens}, output_tokens, output_tokens_details {reasoning_tokens}, total_tokens}:
  input = max(1, ceil(chars of instructions and input texts / 4)), output = the content (or
  call) deltas + the reasoning summary's pieces (reasoning_tokens); usage-P-C-K-R: P input
  (K of them cached), C output (R reasoning); nousage: usage null. Azure answers carry the
  Azure headers (no content filter annotations).
  Streamed (stream true): `event: TYPE` + `data: JSON` per event, each with type TYPE and
  sequence_number 0, 1, ...: response.created, response.in_progress (status in_progress,
  output [], usage null); per item response.output_item.added (status in_progress, empty
  content / arguments / input), then
    message: response.content_part.added, response.output_text.delta (one per word piece,
      D ms apart; item_id, output_index, content_index, delta, logprobs [], obfuscation
      unless stream_options.include_obfuscation is false), response.output_text.done,
      response.content_part.done
    function_call: response.function_call_arguments.delta (2 pieces), .done (arguments,
      name); custom_tool_call: response.custom_tool_call_input.delta (3 pieces), .done
      (input)
    reasoning: response.reasoning_summary_part.added, response.reasoning_summary_text.delta,
      .done, response.reasoning_summary_part.done
  and response.output_item.done (the whole item); finally response.completed (or
  response.incomplete) with the whole Response, usage included, and the last HTTP chunk: no
  data: [DONE]. The content deltas (text, arguments, custom input; not the reasoning
  summary's) are the content chunks: /_mock/streams counts them, stall-/close-/reset-/
  error-after-N cut before the N+1th; error-after-N then sends response.failed (the Response
  with status failed, output [], error {code server_error, message}) and ends the stream.
  Stored: unless store is false, the final Response is kept by id (and its output items by
  theirs) for previous_response_id, item_reference, reasoning items sent back by id and GET
  /v1/responses/{id} (unknown: 404 {"error":{"message":"No response found with id
  'X'.","type":"invalid_request_error","param":null,"code":null}}); POST /_mock/reset keeps
  them. Azure: /openai/v1/responses needs no api-version, /openai/responses needs one
  (missing or empty: the 404 below); both take the api-key / Entra auth below.

Azure (§3.2): classic paths need the query api-version (missing or empty: 404
{"error":{"code":"404","message":"Resource not found"}}; so does any other /openai/... path);
all Azure paths need the header `api-key` equal to --azure-key, or, for an Entra ID token,
`Authorization: Bearer` --azure-ad-token (protocols.md §3.2; a Bearer of the api key is not
accepted; else 401 {"error":{"code":"401","message":"Access denied due to invalid
subscription key ..."}}). The v1 paths need no api-version and take the deployment from the
body's model (missing: 400 param "model"). Responses name the underlying model
("gpt-4o-mini-2024-07-18" chat, "gpt-35-turbo-instruct" completions, "text-embedding-3-small"
embeddings), carry Azure headers (apim-request-id, x-ms-region, x-ratelimit-remaining-*) and,
for chat and completions, prompt_filter_results (top level) and content_filter_results (per
choice). Streams begin with a chunk {"id":"","object":"","created":0,"model":"",
"choices":[],"prompt_filter_results":[...]} (no usage key even with include_usage); every
chunk carrying content has full content_filter_results, the role/finish chunks have {}.
status-429 gives Azure's {"error":{"code":"429","message":"Requests to the ... Please retry
after 7 seconds. ..."}} with retry-after: 7 and retry-after-ms: 7000; other status-NNN are
as above. Classic api-versions dated before 2024-09-01 (2024-08-01-preview, 2024-06-01,
2024-02-01, 2023-05-15, ...) predate stream_options: a body that has the key at all (any
value, streamed or not) gets 400 {"error":{"message":"Unrecognized request argument supplied:
stream_options","type":"invalid_request_error","param":null,"code":null}}, before the model's
options apply (not counted in /_mock/calls, no /_mock/streams record), as Azure answers;
from 2024-09-01-preview on (GA 2024-10-21), and on the v1 paths, it is honoured.

Introspection:
    GET  /_mock/requests   JSON list of {seq, time, method, path, query, headers, header_list,
                           body, raw_body}; path is the request target as sent (query string
                           included), query the parsed query string {name: last value}
    GET  /_mock/streams    JSON list, one per answered chat/completions/embeddings/responses
                           request, of {seq, kind, model, body_model, deployment, api_version,
                           request_id, stream, chunks_sent, total_chunks, aborted, aborted_at,
                           started_at, headers_sent_at, finished_at, completed, send_times}
                           (times are time.time() floats, comparable with the test process;
                           kind is "chat", "completions", "embeddings" or "responses"; model
                           is the options string used (Azure classic: the deployment);
                           deployment and api_version are null except on Azure paths)
    GET  /_mock/calls      JSON {model string: number of calls} of chat/completions/embeddings/
                           responses (the options string used, as "model" in /_mock/streams)
    POST /_mock/reset      clears both lists and the call counters (not the stored Responses)
"""

import base64
import hashlib
import json
import math
import re
import struct
import time
import uuid
from urllib.parse import parse_qsl, unquote, urlsplit

import mockserve
from google_oauth_mock import valid_token
from mockserve import now, split_words, word_pieces

VERTEX_OPENAPI = re.compile(r"/v1/projects/([a-z0-9.:-]+)/locations/([a-z0-9-]+)/"
                            r"endpoints/openapi/chat/completions")

FAKE_KEY = "sk-mock-SECRET-123"
AZURE_KEY = "azure-mock-KEY"
AZURE_AD_TOKEN = "azure-mock-ENTRA-TOKEN"
AZURE_MODELS = {"chat": "gpt-4o-mini-2024-07-18", "completions": "gpt-35-turbo-instruct",
                "embeddings": "text-embedding-3-small", "responses": "gpt-4o-mini-2024-07-18",
                "images": "dall-e-3"}
AZURE_OPS = {"chat": "ChatCompletions_Create", "completions": "Completions_Create",
             "embeddings": "Embeddings_Create", "responses": "Responses_Create",
             "images": "ImageGenerations_Create"}
AZURE_401 = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
             "provide a valid key for an active subscription and use a correct regional API "
             "endpoint for your resource.")
AZURE_CLASSIC = re.compile(
    r"/openai/deployments/([^/]+)/(chat/completions|completions|embeddings|images/generations)")
AZURE_V1 = re.compile(
    r"/openai/v1/(chat/completions|completions|embeddings|responses|images/generations)")
AZURE_DATED = re.compile(r"/openai/(responses)")   # the dated ("preview") Responses path
KINDS = {"chat/completions": "chat", "completions": "completions", "embeddings": "embeddings",
         "responses": "responses", "images/generations": "images"}
MODERATION_CATEGORIES = ("harassment", "harassment/threatening", "hate", "hate/threatening",
                         "illicit", "illicit/violent", "self-harm", "self-harm/instructions",
                         "self-harm/intent", "sexual", "sexual/minors", "violence",
                         "violence/graphic")
IMAGE_TOKENS = 272  # gpt-image-1's output tokens for one low-quality 1024x1024 picture
RESPONSE_GET = re.compile(r"(?:/v1|/openai/v1|/openai)?/responses/([^/]+)")
RESPONSE_ITEMS = re.compile(r"(?:/v1)?/responses/([^/]+)/input_items")
RESPONSE_CANCEL = re.compile(r"(?:/v1)?/responses/([^/]+)/cancel")
CONVERSATION = re.compile(r"(?:/v1)?/conversations(?:/([^/]+)(/items)?)?")

# The fields of Mistral's chat request (its client's ChatCompletionRequest); any other is
# refused with 422 extra_forbidden
MISTRAL_CHAT = {"model", "messages", "temperature", "top_p", "max_tokens", "stream", "stop",
                "random_seed", "response_format", "tools", "tool_choice", "presence_penalty",
                "frequency_penalty", "n", "prediction", "parallel_tool_calls", "safe_prompt"}
# OpenAI's reasoning models, which refuse max_tokens
REASONING_MODEL = re.compile(r"o[1-9](-.*)?|gpt-5(?!-chat)(?!\d).*")

EMBED_MAX_ITEMS = 2048
EMBED_MAX_TOKENS = 8192
EMBED_DEFAULT_DIMS = 8
EMBED_MAX_DIMS = 65536

class BadRequest(Exception):
    """A 400 invalid_request_error about `param`."""

    def __init__(self, message, param, code=None):
        super().__init__(message)
        self.message, self.param, self.code = message, param, code

    def body(self):
        return {"error": {"message": self.message, "type": "invalid_request_error",
                          "param": self.param, "code": self.code}}


def check_tool_pairs(msgs):
    """OpenAI's pairing of tool calls and tool messages: every tool message answers a call of
    the assistant message before the run of tool messages it is in, and every call of an
    assistant message is answered by the tool messages right after it (400 otherwise, with
    OpenAI's messages)."""
    if not isinstance(msgs, list):
        return
    ids, unanswered, owner = set(), set(), None

    def unanswered_error():
        return BadRequest("An assistant message with 'tool_calls' must be followed by tool "
                          "messages responding to each 'tool_call_id'. The following "
                          "tool_call_ids did not have response messages: %s"
                          % ", ".join(sorted(unanswered)), "messages.[%d].role" % owner)

    for i, m in enumerate(msgs):
        role = m.get("role") if isinstance(m, dict) else None
        if role == "tool":
            if m.get("tool_call_id") not in ids:
                raise BadRequest("Invalid parameter: messages with role 'tool' must be a "
                                 "response to a preceeding message with 'tool_calls'.",
                                 "messages.[%d].role" % i)
            unanswered.discard(m.get("tool_call_id"))
            continue
        if unanswered:
            raise unanswered_error()
        calls = m.get("tool_calls") if role == "assistant" else None
        for k, c in enumerate(calls if isinstance(calls, list) else []):
            cid = c.get("id") if isinstance(c, dict) else None
            if isinstance(cid, str) and len(cid) > 40:
                raise BadRequest("Invalid 'messages[%d].tool_calls[%d].id': string too long. "
                                 "Expected a string with maximum length 40, but got a string "
                                 "with length %d instead." % (i, k, len(cid)),
                                 "messages[%d].tool_calls[%d].id" % (i, k),
                                 "string_above_max_length")
        ids = {c.get("id") for c in calls if isinstance(c, dict)} \
            if isinstance(calls, list) else set()
        unanswered, owner = set(ids), i
    if unanswered:
        raise unanswered_error()


def parse_model(model):
    """Return a dict of options from a model string like 'sleep-100+words-5-20+crlf'."""
    opt, rest = mockserve.parse_options(
        model, ("crlf", "split", "close", "badjson", "tools", "nousage", "quote-key",
                "quote-key-param", "dirty-headers", "nodone", "nonobject", "mistral", "reasoning"),
        ("stall", "close", "error"))
    opt["usage"] = None
    opt["keepalive"] = None
    opt["error200"] = None
    opt["tools_once"] = "tools-once" in rest
    opt["gpt_image"] = any(tok.startswith("gpt-image") for tok in rest)
    # policy: a 400 content_policy_violation (status-400 alone is a context-length error)
    opt["policy"] = "policy" in rest
    if opt["policy"] and opt["status"] is None:
        opt["status"] = 400
    # quota: a 429 insufficient_quota (status-429 alone is a passing rate limit)
    opt["quota"] = "quota" in rest
    if opt["quota"] and opt["status"] is None:
        opt["status"] = 429
    for tok in rest:
        if REASONING_MODEL.fullmatch(tok):
            opt["reasoning"] = True
        m = re.fullmatch(r"usage-(\d+)-(\d+)-(\d+)-(\d+)", tok)
        if m:
            opt["usage"] = tuple(int(x) for x in m.groups())
        m = re.fullmatch(r"keepalive-(\d+)-(\d+)", tok)
        if m:
            opt["keepalive"] = (int(m.group(1)), int(m.group(2)))
        m = re.fullmatch(r"error200-(\d{3})", tok)
        if m:
            opt["error200"] = int(m.group(1))
        # "echo" and anything unknown: echo
    return opt


def last_user_text(body):
    msgs = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(msgs, list):
        return ""
    for m in reversed(msgs):
        if isinstance(m, dict) and m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, str):
                return c
            if isinstance(c, list):
                return "".join(p.get("text", "") for p in c
                               if isinstance(p, dict) and p.get("type") == "text")
            return ""
    return ""


def prompt_chars(body):
    n = 0
    for m in (body.get("messages") or []) if isinstance(body, dict) else []:
        if isinstance(m, dict):
            c = m.get("content")
            if isinstance(c, str):
                n += len(c)
            elif isinstance(c, list):
                n += sum(len(p.get("text", "")) for p in c if isinstance(p, dict))
    return n


def ceil_tokens(text):
    """The mock's token count of a text: ceil(chars / 4)."""
    return (len(text) + 3) // 4


def make_usage(opt, prompt_tokens, completion_tokens):
    """The usage the answer reports: usage-P-C-CACHED-REASONING fixes every figure (cached is
    part of P and reasoning part of C, as OpenAI counts them); nousage reports none."""
    if opt["nousage"]:
        return None
    if opt["usage"] is None:
        return usage_obj(prompt_tokens, completion_tokens)
    p, c, cached, reasoning = opt["usage"]
    u = usage_obj(p, c)
    u["prompt_tokens_details"]["cached_tokens"] = cached
    u["completion_tokens_details"]["reasoning_tokens"] = reasoning
    return u


def usage_obj(prompt_tokens, completion_tokens):
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    }


def error_for(status, retry_s=None, policy=False, quota=False):
    """(headers, body) of an OpenAI-shaped error; retry_s: the retry-S option (None: absent;
    429 then says 7 s and 503 sends no Retry-After); policy: the 400 is a content-policy
    refusal instead of a context-length one; quota: the 429 is OpenAI's out-of-credit one."""
    hdrs = []
    ra = mockserve.DEFAULT_RETRY_S if retry_s is None else retry_s
    if status == 429 and quota:
        err = {"message": "You exceeded your current quota, please check your plan and billing "
                          "details.", "type": "insufficient_quota", "param": None,
               "code": "insufficient_quota"}
    elif status == 400 and policy:
        err = {"message": "Your request was rejected as a result of our safety system.",
               "type": "invalid_request_error", "param": None,
               "code": "content_policy_violation"}
    elif status == 429:
        err = {"message": "Rate limit reached for requests in organization org-mock on "
                          "requests per min (RPM): Limit 60, Used 60, Requested 1. "
                          "Please try again in %ds." % ra,
               "type": "requests", "param": None, "code": "rate_limit_exceeded"}
        hdrs = [("Retry-After", str(ra)), ("retry-after-ms", str(ra * 1000)),
                ("x-ratelimit-limit-requests", "60"),
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "%ds" % ra),
                ("x-ratelimit-limit-tokens", "150000"),
                ("x-ratelimit-remaining-tokens", "149000"),
                ("x-ratelimit-reset-tokens", "400ms")]
    elif status == 401:
        err = {"message": "Incorrect API key provided: %s. You can find your API key at "
                          "https://platform.openai.com/account/api-keys." % FAKE_KEY,
               "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}
        hdrs = [("www-authenticate", 'Bearer realm="OpenAI", key="%s"' % FAKE_KEY)]
    elif status == 403:
        err = {"message": "Country, region, or territory not supported (key %s)" % FAKE_KEY,
               "type": "invalid_request_error", "param": None,
               "code": "unsupported_country_region_territory"}
    elif status == 400:
        err = {"message": "This model's maximum context length is 8192 tokens. However, your "
                          "messages resulted in 9000 tokens. Please reduce the length of the "
                          "messages.",
               "type": "invalid_request_error", "param": "messages",
               "code": "context_length_exceeded"}
    elif status == 404:
        err = {"message": "The model `mock-x` does not exist or you do not have access to it.",
               "type": "invalid_request_error", "param": "model", "code": "model_not_found"}
    elif status == 422:
        err = {"message": "Unprocessable entity", "type": "invalid_request_error",
               "param": "tools", "code": "unprocessable"}
    elif status == 503:
        err = {"message": "The engine is currently overloaded, please try again later",
               "type": "server_error", "param": None, "code": None}
        if retry_s is not None:
            hdrs = [("Retry-After", str(ra)), ("retry-after-ms", str(ra * 1000))]
    else:
        err = {"message": "The server had an error while processing your request. Sorry "
                          "about that!", "type": "server_error", "param": None, "code": None}
    return hdrs, {"error": err}


def azure_takes_stream_options(api_version):
    """Whether a classic Azure api-version (YYYY-MM-DD[-preview]) knows stream_options: from
    2024-09-01-preview on; a version of another shape is taken for a newer one."""
    m = re.match(r"\d{4}-\d{2}-\d{2}", api_version or "")
    return not m or m.group(0) >= "2024-09-01"


def azure_error_for(status, kind, api_version, retry_s=None):
    """(headers, body) of an error on an Azure path: Azure's own 429, else as error_for."""
    if status != 429:
        return error_for(status, retry_s)
    ra = mockserve.DEFAULT_RETRY_S if retry_s is None else retry_s
    msg = ("Requests to the %s Operation under Azure OpenAI API version %s have exceeded call "
           "rate limit of your current OpenAI S0 pricing tier. Please retry after %d seconds. "
           "Please go here: https://aka.ms/oai/quotaincrease if you would like to further "
           "increase the default rate limit." % (AZURE_OPS[kind], api_version or "v1", ra))
    hdrs = [("retry-after", str(ra)), ("retry-after-ms", str(ra * 1000)),
            ("x-ratelimit-remaining-requests", "0"), ("x-ratelimit-remaining-tokens", "0"),
            ("apim-request-id", str(uuid.uuid4())), ("x-ms-region", "Sweden Central")]
    return hdrs, {"error": {"code": "429", "message": msg}}


def azure_cfr(output=True):
    """Azure's content_filter_results when nothing was filtered."""
    safe = {"filtered": False, "severity": "safe"}
    r = {"hate": dict(safe), "self_harm": dict(safe), "sexual": dict(safe),
         "violence": dict(safe)}
    if output:
        r["protected_material_code"] = {"filtered": False, "detected": False}
        r["protected_material_text"] = {"filtered": False, "detected": False}
    else:
        r["jailbreak"] = {"filtered": False, "detected": False}
    return r


def azure_prompt_filter(n):
    return [{"prompt_index": i, "content_filter_results": azure_cfr(output=False)}
            for i in range(n)]


def azure_prelude(n_prompts):
    """The first chunk of an Azure stream: no choices, the prompt filter results only."""
    return json.dumps({"choices": [], "created": 0, "id": "", "model": "", "object": "",
                       "prompt_filter_results": azure_prompt_filter(n_prompts)})


def last_tool_text(body):
    """The text of the last message when it is a tool result, else None."""
    msgs = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(msgs, list) or not msgs or not isinstance(msgs[-1], dict) \
            or msgs[-1].get("role") != "tool":
        return None
    c = msgs[-1].get("content")
    if isinstance(c, list):
        return "".join(p.get("text", "") for p in c if isinstance(p, dict))
    return c if isinstance(c, str) else ""


def content_pieces(opt, body):
    if opt["mode"] == "words":
        return word_pieces(opt["n"])
    if opt["tools_once"]:
        result = last_tool_text(body)
        opt["tools"] = result is None
        if result is not None:
            return split_words("tool said: " + result)
    return split_words(last_user_text(body))


def is_int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def is_token_list(x):
    return isinstance(x, list) and all(is_int(t) for t in x)


def embedding_inputs(inp):
    """[(hash key bytes, tokens)] of a request's `input`; BadRequest when it is invalid."""
    def bad(msg):
        return BadRequest(msg, "input")
    if inp is None:
        raise bad("'input' is a required property")
    if isinstance(inp, str):
        items = [inp]
    elif isinstance(inp, list):
        if not inp:
            raise bad("'$.input' is invalid: the input array must not be empty.")
        if all(is_int(x) for x in inp):
            items = [inp]                       # int[]: one input given as tokens
        elif all(isinstance(x, str) for x in inp) or all(is_token_list(x) for x in inp):
            items = inp
        else:
            raise bad("'$.input' is invalid: expected a string, an array of strings, an array "
                      "of integers or an array of arrays of integers.")
        if len(items) > EMBED_MAX_ITEMS:
            raise bad("'$.input' is too long: at most %d inputs per request, got %d."
                      % (EMBED_MAX_ITEMS, len(items)))
    else:
        raise bad("'$.input' is invalid: expected a string, an array of strings, an array of "
                  "integers or an array of arrays of integers.")
    out = []
    for i, it in enumerate(items):
        if isinstance(it, str):
            if it == "":
                raise bad("'$.input' is invalid: input %d is an empty string." % i)
            key, tokens = it.encode("utf-8"), ceil_tokens(it)
        else:
            if not it:
                raise bad("'$.input' is invalid: input %d is an empty token array." % i)
            key, tokens = ("tokens:" + ",".join(str(t) for t in it)).encode(), len(it)
        if tokens > EMBED_MAX_TOKENS:
            raise bad("This model's maximum context length is %d tokens, however you "
                      "requested %d tokens (%d in your prompt; 0 for the completion). Please "
                      "reduce your prompt; or completion length."
                      % (EMBED_MAX_TOKENS, tokens, tokens))
        out.append((key, tokens))
    return out


def embed_vector(key, dims):
    """A deterministic unit vector of `dims` float32-exact numbers derived from sha256(key)."""
    vals = []
    block = 0
    while len(vals) < dims:
        h = hashlib.sha256(key + b"\x00" + str(block).encode()).digest()
        block += 1
        for i in range(0, 32, 4):
            vals.append(int.from_bytes(h[i:i + 4], "little") / 2147483648.0 - 1.0)
    vals = vals[:dims]
    norm = math.sqrt(sum(v * v for v in vals)) or 1.0
    return [struct.unpack("<f", struct.pack("<f", v / norm))[0] for v in vals]


def completion_prompts(prompt):
    """The prompts of a legacy completions request as texts; BadRequest when invalid."""
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt:
        if all(isinstance(p, str) for p in prompt):
            return list(prompt)
        if all(is_int(t) for t in prompt):
            return [" ".join(str(t) for t in prompt)]
        if all(is_token_list(p) and p for p in prompt):
            return [" ".join(str(t) for t in p) for p in prompt]
    if prompt is None:
        raise BadRequest("'prompt' is a required property", "prompt")
    raise BadRequest("'$.prompt' is invalid: expected a string, an array of strings, an array "
                     "of integers or an array of arrays of integers.", "prompt")


# ---- the Responses API ------------------------------------------------------------------------

# The top-level parameters of POST /v1/responses; any other is a 400 unknown_parameter
RESPONSES_PARAMS = {"model", "input", "instructions", "tools", "tool_choice",
                    "parallel_tool_calls", "max_output_tokens", "max_tool_calls", "temperature",
                    "top_p", "top_logprobs", "stream", "stream_options", "store", "include",
                    "metadata", "user", "safety_identifier", "prompt_cache_key",
                    "prompt_cache_retention", "previous_response_id", "conversation",
                    "reasoning", "text", "truncation", "background", "service_tier", "prompt",
                    "context_management"}
RESPONSES_STREAM_OPTIONS = {"include_obfuscation"}
RESPONSES_ROLES = ("user", "system", "developer", "assistant")
RESPONSES_PARTS = ("input_text", "output_text", "input_image", "input_file", "refusal")
RESPONSES_MIN_OUTPUT = 16
RESPONSES_REASONING_SUMMARY = "thinking..."
RESPONSES_TOOL_ARGS = ['{"city":', '"Paris"}']
RESPONSES_CUSTOM_INPUT = ["print(", "'hello'", ")"]
RESPONSES_SERVER_ERROR = "The server had an error while processing your request."


def hex48():
    """48 hex digits, the body of an OpenAI response / item id."""
    return (uuid.uuid4().hex + uuid.uuid4().hex)[:48]


def json_kind(x):
    """'a string', 'an object', ... as OpenAI's type errors name a JSON value."""
    if x is None:
        return "null"
    if isinstance(x, bool):
        return "a boolean"
    if isinstance(x, int):
        return "an integer"
    if isinstance(x, float):
        return "a decimal"
    if isinstance(x, str):
        return "a string"
    if isinstance(x, list):
        return "an array"
    return "an object"


def unknown_parameter(name):
    return BadRequest("Unknown parameter: '%s'." % name, name, "unknown_parameter")


def missing_parameter(name):
    return BadRequest("Missing required parameter: '%s'." % name, name,
                      "missing_required_parameter")


def invalid_type(name, expected, got):
    return BadRequest("Invalid type for '%s': expected %s, but got %s instead."
                      % (name, expected, json_kind(got)), name, "invalid_type")


def invalid_value(name, got, supported):
    names = ["'%s'" % s for s in supported]
    listed = ", ".join(names[:-1]) + ", and " + names[-1] if len(names) > 1 else names[0]
    return BadRequest("Invalid value: %s. Supported values are: %s."
                      % (json.dumps(got), listed), name, "invalid_value")


def parts_text(content, types=("input_text", "output_text")):
    """The text of a message's content: the string, or its parts of `types` joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, dict)
                       and p.get("type") in types and isinstance(p.get("text"), str))
    return ""


def is_message_item(it):
    return isinstance(it, dict) and it.get("type", "message") == "message"


def responses_input_items(body):
    """The input of a Responses request as a list of items (a string input is one user
    message)."""
    inp = body.get("input")
    if isinstance(inp, str):
        return [{"type": "message", "role": "user", "content": inp}]
    return inp if isinstance(inp, list) else []


def responses_last_user_text(body):
    """echo: the string input, or the text (input_text parts) of the last user message."""
    for it in reversed(responses_input_items(body)):
        if is_message_item(it) and it.get("role") == "user":
            return parts_text(it.get("content"), ("input_text",))
    return ""


def responses_last_tool_output(body):
    """The output text of the last input item when it is a function_call_output or a
    custom_tool_call_output, else None."""
    items = responses_input_items(body)
    if not items or not isinstance(items[-1], dict) or items[-1].get("type") not in (
            "function_call_output", "custom_tool_call_output"):
        return None
    return parts_text(items[-1].get("output"), ("input_text", "output_text"))


def responses_input_chars(body):
    """The characters the default input_tokens are counted from: the instructions and the text
    of every input item."""
    n = len(body["instructions"]) if isinstance(body.get("instructions"), str) else 0
    for it in responses_input_items(body):
        if not isinstance(it, dict):
            continue
        if is_message_item(it):
            n += len(parts_text(it.get("content"), RESPONSES_PARTS))
        for k in ("arguments", "input"):
            if isinstance(it.get(k), str):
                n += len(it[k])
        if it.get("type") in ("function_call_output", "custom_tool_call_output"):
            n += len(parts_text(it.get("output"), ("input_text", "output_text")))
    return n


def responses_usage(opt, input_tokens, output_tokens, reasoning_tokens):
    """The usage of a Response: usage-P-C-K-R fixes every figure; nousage: None."""
    if opt["nousage"]:
        return None
    cached = 0
    if opt["usage"] is not None:
        input_tokens, output_tokens, cached, reasoning_tokens = opt["usage"]
    return {"input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": cached},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "total_tokens": input_tokens + output_tokens}


def responses_check(body, responses, items):
    """Validates a Responses request as OpenAI does (BadRequest when it would refuse it);
    responses and items are the stored Responses and output items by id."""
    for k in body:
        if k not in RESPONSES_PARAMS:
            raise unknown_parameter(k)
    so = body.get("stream_options")
    if isinstance(so, dict):
        for k in so:
            if k not in RESPONSES_STREAM_OPTIONS:
                raise unknown_parameter("stream_options." + k)
    elif so is not None:
        raise invalid_type("stream_options", "an object", so)
    if "model" not in body:
        raise missing_parameter("model")
    if not isinstance(body["model"], str):
        raise invalid_type("model", "a string", body["model"])
    if "input" not in body:
        if "prompt" not in body and "previous_response_id" not in body \
                and "conversation" not in body:
            raise missing_parameter("input")
    elif not isinstance(body["input"], (str, list)):
        raise invalid_type("input", "one of a string or array of input items", body["input"])
    mot = body.get("max_output_tokens")
    if mot is not None:
        if not is_int(mot):
            raise invalid_type("max_output_tokens", "an integer", mot)
        if mot < RESPONSES_MIN_OUTPUT:
            raise BadRequest("Invalid 'max_output_tokens': integer below minimum value. "
                             "Expected a value >= %d, but got %d instead."
                             % (RESPONSES_MIN_OUTPUT, mot), "max_output_tokens",
                             "integer_below_min_value")
    inc = body.get("include")
    if inc is not None and not (isinstance(inc, list) and all(isinstance(x, str) for x in inc)):
        raise invalid_type("include", "an array of strings", inc)
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise invalid_type("tools", "an array", tools)
        for i, t in enumerate(tools):
            name = "tools[%d]" % i
            if not isinstance(t, dict):
                raise invalid_type(name, "an object", t)
            if "type" not in t:
                raise missing_parameter(name + ".type")
            if t["type"] in ("function", "custom"):
                if "name" not in t:
                    raise missing_parameter(name + ".name")
                if not isinstance(t["name"], str):
                    raise invalid_type(name + ".name", "a string", t["name"])
                if t["type"] == "function" and "function" in t:
                    raise unknown_parameter(name + ".function")
    store = body.get("store") is not False
    prev = body.get("previous_response_id")
    calls = set()                    # the call_ids a tool output may answer
    if prev is not None:
        if not isinstance(prev, str):
            raise invalid_type("previous_response_id", "a string", prev)
        if prev not in responses:
            raise BadRequest("Previous response with id '%s' not found." % prev,
                             "previous_response_id", "previous_response_not_found")
        calls.update(it.get("call_id") for it in responses[prev].get("output", [])
                     if isinstance(it, dict))
    if not isinstance(body.get("input"), list):
        return
    for i, it in enumerate(body["input"]):
        name = "input[%d]" % i
        if not isinstance(it, dict):
            raise invalid_type(name, "an object", it)
        typ = it.get("type", "message")
        if typ == "message":
            if "role" not in it:
                raise missing_parameter(name + ".role")
            if it["role"] not in RESPONSES_ROLES:
                raise invalid_value(name + ".role", it["role"], sorted(RESPONSES_ROLES))
            if "content" not in it:
                raise missing_parameter(name + ".content")
            c = it["content"]
            if isinstance(c, list):
                for j, p in enumerate(c):
                    pname = "%s.content[%d]" % (name, j)
                    if not isinstance(p, dict):
                        raise invalid_type(pname, "an object", p)
                    if p.get("type") not in RESPONSES_PARTS:
                        raise invalid_value(pname + ".type", p.get("type"), RESPONSES_PARTS)
            elif not isinstance(c, str):
                raise invalid_type(name + ".content", "one of a string or array of input "
                                   "content parts", c)
        elif typ in ("function_call", "custom_tool_call"):
            fields = ("call_id", "name", "arguments" if typ == "function_call" else "input")
            for k in fields:
                if k not in it:
                    raise missing_parameter("%s.%s" % (name, k))
                if not isinstance(it[k], str):
                    raise invalid_type("%s.%s" % (name, k), "a string", it[k])
            calls.add(it["call_id"])
        elif typ in ("function_call_output", "custom_tool_call_output"):
            for k in ("call_id", "output"):
                if k not in it:
                    raise missing_parameter("%s.%s" % (name, k))
            if not isinstance(it["output"], (str, list)):
                raise invalid_type(name + ".output", "one of a string or array", it["output"])
            if it["call_id"] not in calls:
                raise BadRequest("No tool call found for %s output with call_id %s." % (
                    "function call" if typ == "function_call_output" else "custom tool call",
                    it["call_id"]), "input")
        elif typ == "reasoning":
            if "summary" not in it:
                raise missing_parameter(name + ".summary")
            if isinstance(it.get("encrypted_content"), str):
                continue
            rid = it.get("id")
            if not isinstance(rid, str):
                raise BadRequest("Reasoning input items must have an id or an encrypted_content; "
                                 "this one has neither.", name + ".encrypted_content",
                                 "missing_required_parameter")
            if not store:
                raise BadRequest("Item with id '%s' not found. Items are not persisted when "
                                 "`store` is set to false. Try again with `store` set to true, "
                                 "or remove this item from your input." % rid, "input")
            if rid not in items:
                raise BadRequest("Item with id '%s' not found." % rid, "input")
        elif typ == "item_reference":
            if not isinstance(it.get("id"), str):
                raise missing_parameter(name + ".id")
            if it["id"] not in items:
                raise BadRequest("Item with id '%s' not found." % it["id"], "input")
            calls.add(items[it["id"]].get("call_id"))
        # any other item type passes as it is


class Handler(mockserve.MockHandler):
    server_version = "openai-mock/1.0"
    log_name = "mock"
    record_header_list = True

    # ---- plumbing -------------------------------------------------------------------

    def record(self, raw):
        return super().record(raw, query=dict(parse_qsl(urlsplit(self.path).query,
                                                        keep_blank_values=True)))

    def send_json(self, status, obj, extra=(), close=False):
        extra = list(extra)
        if close:
            extra.append(("Connection", "close"))
            self.close_connection = True
        self.send_bytes(status, json.dumps(obj).encode(), extra=extra)

    # ---- routes ---------------------------------------------------------------------

    def do_GET(self):
        path = self.path.split("?")[0]
        self.record(b"")
        if self.introspect(path):
            return None
        if path in ("/v1/models", "/models"):
            return self.send_json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 1686935002, "owned_by": "mock"}
                for m in ("echo", "words-3-10", "status-500")]})
        if path == "/health":
            return self.send_json(200, {"status": "ok"})
        m = RESPONSE_GET.fullmatch(path)
        if m:
            return self.get_response(path, unquote(m.group(1)))
        m = RESPONSE_ITEMS.fullmatch(path)
        if m and not path.startswith("/openai/"):
            return self.input_items(unquote(m.group(1)))
        m = CONVERSATION.fullmatch(path)
        if m:
            return self.conversation("GET", m, None)
        return self.send_json(404, {"error": {"message": "Unknown path %s" % path,
                                              "type": "invalid_request_error",
                                              "param": None, "code": "not_found"}})

    def do_POST(self):
        path = self.path.split("?")[0]
        raw = self.read_body()
        if self.introspect(path):
            return None
        rec = self.record(raw)
        if path.startswith("/openai/"):
            return self.azure(path, rec)
        if self.server.vertex_secret and VERTEX_OPENAPI.fullmatch(path):
            return self.vertex(rec)
        if path in ("/v1/responses/compact", "/responses/compact"):
            return self.compact(rec["body"])
        m = RESPONSE_CANCEL.fullmatch(path)
        if m:
            return self.cancel(unquote(m.group(1)))
        m = CONVERSATION.fullmatch(path)
        if m:
            return self.conversation("POST", m, rec["body"])
        kind = {"/v1/chat/completions": "chat", "/chat/completions": "chat",
                "/v1/completions": "completions", "/completions": "completions",
                "/v1/embeddings": "embeddings", "/embeddings": "embeddings",
                "/v1/images/generations": "images", "/images/generations": "images",
                "/v1/moderations": "moderations", "/moderations": "moderations",
                "/v1/responses": "responses", "/responses": "responses"}.get(path)
        if kind is None:
            return self.send_json(404, {"error": {"message": "Unknown path %s" % path,
                                                  "type": "invalid_request_error",
                                                  "param": None, "code": "not_found"}})
        body = rec["body"]
        if not isinstance(body, dict):
            return self.send_bad_json()
        opt = parse_model(body.get("model"))
        extra = [(["body", k], body[k]) for k in body if k == "stream_options" or
                 (kind == "chat" and k not in MISTRAL_CHAT)] if opt["mistral"] else []
        if opt["mistral"] and kind == "chat" and isinstance(body.get("messages"), list):
            # its user, system and assistant messages have no name (a tool's may)
            extra += [(["body", "messages", i, m.get("role"), "name"], m["name"])
                      for i, m in enumerate(body["messages"])
                      if isinstance(m, dict) and "name" in m and m.get("role") != "tool"]
        if extra:
            return self.send_json(422, {"object": "error", "message": {"detail": [{
                "type": "extra_forbidden", "loc": loc,
                "msg": self.quote_detail(opt, "Extra inputs are not permitted", v),
                "input": v} for loc, v in extra]},
                "type": "invalid_request_error", "param": None, "code": None})
        if kind == "responses" and not self.responses_valid(body):
            return None
        self.run(kind, body, rec, opt)
        return None

    def do_PUT(self):
        self.record(self.read_body())
        self.send_json(405, {"error": {"message": "method not allowed", "type":
                                       "invalid_request_error", "param": None,
                                       "code": None}}, extra=[("Allow", "GET, POST")])

    def do_DELETE(self):
        """DELETE /v1/responses/{id} (OpenAI's paths): a stored Response forgotten."""
        path = self.path.split("?")[0]
        self.record(b"")
        m = CONVERSATION.fullmatch(path)
        if m:
            return self.conversation("DELETE", m, None)
        m = RESPONSE_GET.fullmatch(path)
        if not m or path.startswith("/openai/"):
            return self.do_PUT()
        rid = unquote(m.group(1))
        if self.server.responses.pop(rid, None) is None:
            return self.send_json(404, {"error": {
                "message": "No response found with id '%s'." % rid,
                "type": "invalid_request_error", "param": None, "code": None}})
        return self.send_json(200, {"id": rid, "object": "response", "deleted": True})

    def conversation(self, method, m, body):
        """OpenAI's conversations: create (POST /v1/conversations {items?, metadata?}), GET,
        POST (metadata) and DELETE /v1/conversations/{id}, GET and POST (items) .../items."""
        cid, items = m.group(1), m.group(2)
        convs = self.server.conversations
        if cid is None:
            if method != "POST":
                return self.do_PUT()
            body = body if isinstance(body, dict) else {}
            cid = "conv_" + hex48()
            convs[cid] = {"conv": {"id": cid, "object": "conversation", "created_at": int(now()),
                                   "metadata": body.get("metadata") or {}},
                          "items": list(body.get("items") or [])}
            return self.send_json(200, convs[cid]["conv"])
        cid = unquote(cid)
        if cid not in convs:
            return self.send_json(404, {"error": {
                "message": "Conversation with id '%s' not found." % cid,
                "type": "invalid_request_error", "param": None, "code": None}})
        c = convs[cid]
        if items:
            if method == "POST":
                c["items"] += list((body or {}).get("items") or [])
            data = c["items"] if method == "POST" else list(reversed(c["items"]))
            return self.send_json(200, {"object": "list", "data": data, "has_more": False,
                                        "first_id": None, "last_id": None})
        if method == "DELETE":
            del convs[cid]
            return self.send_json(200, {"id": cid, "object": "conversation.deleted",
                                        "deleted": True})
        if method == "POST":
            c["conv"]["metadata"] = (body or {}).get("metadata") or {}
        return self.send_json(200, c["conv"])

    def cancel(self, rid):
        """POST /v1/responses/{id}/cancel: a stored background Response, now cancelled; 404
        unknown; 400 when it was not a background one."""
        resp = self.server.responses.get(rid)
        if resp is None:
            return self.send_json(404, {"error": {
                "message": "No response found with id '%s'." % rid,
                "type": "invalid_request_error", "param": None, "code": None}})
        if not resp.get("background"):
            return self.send_json(400, BadRequest("Only responses created with background: "
                                                  "true can be cancelled.", None).body())
        resp = dict(resp, status="cancelled")
        self.server.responses[rid] = resp
        return self.send_json(200, resp)

    def input_items(self, rid):
        """GET /v1/responses/{id}/input_items: the stored Response's input, newest first
        (order=asc: oldest), at most limit (default 20); OpenAI's list shape."""
        query = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        resp = self.server.responses.get(rid)
        if resp is None:
            return self.send_json(404, {"error": {
                "message": "No response found with id '%s'." % rid,
                "type": "invalid_request_error", "param": None, "code": None}})
        items = list(self.server.inputs.get(rid, []))
        if query.get("order") != "asc":
            items.reverse()
        limit = int(query.get("limit", "20"))
        data = items[:limit]
        return self.send_json(200, {"object": "list", "data": data,
                                    "first_id": data[0].get("id") if data else None,
                                    "last_id": data[-1].get("id") if data else None,
                                    "has_more": len(items) > limit})

    def send_bad_json(self):
        self.send_json(400, {"error": {"message": "We could not parse the JSON body of your "
                                       "request.", "type": "invalid_request_error",
                                       "param": None, "code": None}})

    # ---- Azure ----------------------------------------------------------------------

    def azure(self, path, rec):
        classic = AZURE_CLASSIC.fullmatch(path)
        v1 = AZURE_V1.fullmatch(path)
        dated = AZURE_DATED.fullmatch(path)
        api_version = rec["query"].get("api-version") or None
        if not (classic or v1 or dated) or ((classic or dated) and not api_version):
            return self.send_json(404, {"error": {"code": "404",
                                                  "message": "Resource not found"}})
        if not self.azure_auth(rec):
            return None
        body = rec["body"]
        if not isinstance(body, dict):
            return self.send_bad_json()
        if dated or v1 and v1.group(1) == "responses":
            if not self.responses_valid(body, self.azure_headers()):
                return None
            az = {"deployment": body["model"], "api_version": api_version, "v1": bool(v1),
                  "model": AZURE_MODELS["responses"]}
            return self.run("responses", body, rec, parse_model(body["model"]), az)
        if classic and "stream_options" in body and not azure_takes_stream_options(api_version):
            return self.send_json(400, {"error": {
                "message": "Unrecognized request argument supplied: stream_options",
                "type": "invalid_request_error", "param": None, "code": None}})
        if classic:
            deployment, kind = unquote(classic.group(1)), KINDS[classic.group(2)]
        else:
            deployment, kind = body.get("model"), KINDS[v1.group(1)]
            if not isinstance(deployment, str) or not deployment:
                return self.send_json(400, BadRequest("you must provide a model parameter",
                                                      "model").body())
        az = {"deployment": deployment, "api_version": api_version, "v1": bool(v1),
              "model": AZURE_MODELS[kind]}
        self.run(kind, body, rec, parse_model(deployment), az)

    def vertex(self, rec):
        """Vertex AI's OpenAI-compatible endpoint: a Google access token, a partner model's
        publisher/name in the body; Google's errors come in a list."""
        body = rec["body"]
        model = body.get("model") if isinstance(body, dict) else None
        name = model.split("/", 1)[1] if isinstance(model, str) and "/" in model else None
        if not valid_token(self.server.vertex_secret, self.headers.get("Authorization")) \
                or (name is not None and "status-401" in name.split("+")):
            return self.send_json(401, [{"error": {
                "code": 401, "status": "UNAUTHENTICATED",
                "message": "Request had invalid authentication credentials. Expected OAuth 2 "
                           "access token, login cookie or other valid authentication "
                           "credential."}}])
        if not name:
            return self.send_json(400, [{"error": {
                "code": 400, "status": "INVALID_ARGUMENT",
                "message": "Invalid model: %r (publisher/model expected)" % (model,)}}])
        return self.run("chat", body, rec, parse_model(name))

    def azure_auth(self, rec):
        """Whether the request has the api-key or the Entra ID bearer token (else a 401 is
        sent)."""
        bearer = rec["headers"].get("authorization", "")
        if (rec["headers"].get("api-key") != self.server.azure_key
                and bearer != "Bearer " + self.server.azure_ad_token):
            self.send_json(401, {"error": {"code": "401", "message": AZURE_401}})
            return False
        return True

    def azure_headers(self):
        return [("apim-request-id", str(uuid.uuid4())),
                ("x-request-id", str(uuid.uuid4())),
                ("x-ms-region", "Sweden Central"),
                ("x-ms-rai-invoked", "true"),
                ("azureml-model-session", "d001-20240718"),
                ("x-ratelimit-limit-requests", "100"),
                ("x-ratelimit-remaining-requests", "99"),
                ("x-ratelimit-limit-tokens", "100000"),
                ("x-ratelimit-remaining-tokens", "99990")]

    # ---- one answer -----------------------------------------------------------------

    def chat(self, body, rec):
        self.run("chat", body, rec, parse_model(body.get("model")))

    def run(self, kind, body, rec, opt, az=None):
        """Answers a chat / completions / embeddings / responses request with options `opt` (az: the
        Azure context, or None), listing its record in /_mock/streams. The call is counted
        for its model string (first-N / every-N, /_mock/calls)."""
        stream = body.get("stream") is True and kind in ("chat", "completions", "responses")
        opt = self.call_options(az["deployment"] if az else body.get("model"), opt)
        with self.answering(rec["seq"], kind=kind,
                            model=az["deployment"] if az else body.get("model"),
                            body_model=body.get("model"),
                            deployment=az["deployment"] if az else None,
                            api_version=az["api_version"] if az else None,
                            stream=stream,
                            request_id=rec["headers"].get("x-request-id")) as srec:
            try:
                if kind == "chat":
                    check_tool_pairs(body.get("messages"))
                if kind == "chat" and opt["reasoning"] and "max_tokens" in body:
                    raise BadRequest("Unsupported parameter: 'max_tokens' is not supported with "
                                     "this model. Use 'max_completion_tokens' instead.",
                                     "max_tokens", "unsupported_parameter")
                self.pause(opt["sleep_ms"] / 1000.0)
                if opt["status"]:
                    if az:
                        hdrs, err = azure_error_for(opt["status"], kind, az["api_version"],
                                                    opt["retry_s"])
                    else:
                        hdrs, err = error_for(opt["status"], opt["retry_s"], opt["policy"],
                                              opt["quota"])
                    err = self.quote_key(opt, err)
                    srec["headers_sent_at"] = now()
                    self.send_json(opt["status"], err, extra=hdrs)
                    srec["completed"] = True
                    return
                if kind == "chat":
                    if stream:
                        self.chat_stream(body, opt, srec, az)
                    else:
                        self.chat_unary(body, opt, srec, az)
                elif kind == "completions":
                    self.completions(body, opt, srec, az, stream)
                elif kind == "responses":
                    self.responses_answer(body, opt, srec, az, stream)
                elif kind == "images":
                    self.images(body, opt, srec, az)
                elif kind == "moderations":
                    self.moderations(body, opt, srec)
                else:
                    self.embeddings(body, opt, srec, az)
            except BadRequest as e:
                srec["headers_sent_at"] = now()
                self.send_json(400, e.body())
                srec["completed"] = True

    def common_headers(self, opt):
        dirty = [("x-ratelimit-reset-tokens-esc", "0s\x1b[31m"),
                 ("x-ratelimit-bad name", "1")] if opt.get("dirty-headers") else []
        return dirty + [("x-request-id", "req_mock_" + uuid.uuid4().hex[:16]),
                ("openai-processing-ms", "12"),
                ("openai-version", "2020-10-01"),
                ("x-ratelimit-limit-requests", "5000"),
                ("x-ratelimit-remaining-requests", "4999"),
                ("x-ratelimit-reset-requests", "12ms"),
                ("x-ratelimit-limit-tokens", "2000000"),
                ("x-ratelimit-remaining-tokens", "1999990"),
                ("x-ratelimit-reset-tokens", "0s")]

    def send_unary(self, resp, opt, srec, headers):
        """Sends a 200 JSON answer, or what badjson / stall-after-N / reset-after-N make of
        it."""
        srec["total_chunks"] = 1
        if opt["badjson"]:
            data = b"<html>not json</html>"
        else:
            data = json.dumps(resp).encode()
        if opt["stall_after"] is not None:
            self.send_half_and_stall(srec, data)
        if opt["reset_after"] is not None:
            self.send_half_and_reset(srec, data)
            return
        srec["headers_sent_at"] = now()
        if opt["badjson"]:
            self.send_bytes(200, data)
        else:
            self.send_json(200, resp, extra=headers)
        srec["chunks_sent"] = 1
        srec["send_times"].append(now())
        srec["completed"] = True

    # ---- SSE plumbing -----------------------------------------------------------------

    def sse_start(self, opt, srec, headers):
        """Sends the 200 event-stream headers, then keepalive-P-T's comments; returns (emit,
        chunked). emit(payload, count=True, event=None) writes `data: payload` (after `event:
        event` when given; honouring crlf/split/close) and counts it as a content chunk when
        `count`."""
        chunked = not opt["close"]
        nl = "\r\n" if opt["crlf"] else "\n"
        if not chunked:
            self.close_connection = True
        self.start_stream(srec, "text/event-stream; charset=utf-8",
                          [("Cache-Control", "no-cache")] + list(headers) +
                          [("Transfer-Encoding", "chunked") if chunked
                           else ("Connection", "close")])

        def write(text):
            data = text.encode()
            self.check_peer()
            parts = [data[i:i + 1] for i in range(len(data))] if opt["split"] else [data]
            for p in parts:
                if chunked:
                    self.write_chunk(p)
                else:
                    self.raw_write(p)

        def emit(payload, count=True, event=None):
            write(("event: " + event + nl if event else "") + "data: " + payload + nl + nl)
            if count:
                srec["chunks_sent"] += 1
                srec["send_times"].append(now())

        if opt["keepalive"]:
            every, during = opt["keepalive"]
            end = time.monotonic() + during / 1000.0
            while time.monotonic() < end:
                write(": OPENROUTER PROCESSING" + nl + nl)
                self.pause(min(every / 1000.0, max(0.0, end - time.monotonic())))
        return emit, chunked

    def sse_done(self, emit, chunked, opt=None):
        if not (opt or {}).get("nodone"):
            emit("[DONE]", count=False)
        if chunked:
            self.end_chunks()

    def quote_key(self, opt, err):
        """quote-key: err's message with the Authorization the request came with."""
        if opt.get("quote-key") and isinstance(err.get("error"), dict):
            err["error"]["message"] += " (request sent with %s)" % (
                self.headers.get("Authorization") or "no key")
        if opt.get("quote-key-param") and isinstance(err.get("error"), dict):
            err["error"]["param"] = "%s (%s)" % (err["error"].get("param"),
                                                 self.headers.get("Authorization") or "no key")
        return err

    def quote_detail(self, opt, msg, value):
        """quote-key: a FastAPI 422 detail's msg with the input and the Authorization the
        request came with."""
        if opt.get("quote-key"):
            msg += " (input %s, request sent with %s)" % (
                json.dumps(value), self.headers.get("Authorization") or "no key")
        return msg

    def sse_cut(self, opt, i, emit, chunked, fail=None):
        """Applies stall-/close-/reset-/error-after-N before content piece i: stalls (raising
        ClientGone when the client leaves) or returns True when the stream ended here.
        error-after-N calls fail() to end the stream when given, else sends chat's error
        event and [DONE]."""
        if opt["stall_after"] is not None and i >= opt["stall_after"]:
            self.stall()
        if opt["close_after"] is not None and i >= opt["close_after"]:
            self.hang_up()
            return True
        if opt["reset_after"] is not None and i >= opt["reset_after"]:
            self.reset_connection()
            return True
        if opt["error_after"] is not None and i >= opt["error_after"] and fail:
            fail()
            return True
        if opt["error_after"] is not None and i >= opt["error_after"]:
            emit(json.dumps(self.quote_key(opt, {"error": {
                "message": "The server had an error while processing your request.",
                "type": "server_error", "param": None, "code": None}})), count=False)
            self.sse_done(emit, chunked)
            return True
        return False

    def sse_stall_at_end(self, opt, n):
        """stall-/reset-after-N with N >= the n content pieces: all of them were sent, then
        the stream stalls or (returning True: it ended here) is reset."""
        if opt["stall_after"] is not None and opt["stall_after"] >= n:
            self.stall()
        if opt["reset_after"] is not None and opt["reset_after"] >= n:
            self.reset_connection()
            return True
        return False

    # ---- chat -----------------------------------------------------------------------

    def chat_unary(self, body, opt, srec, az=None):
        pieces = content_pieces(opt, body)
        text = "".join(pieces)
        ptok = max(1, prompt_chars(body) // 4)
        ctok = len(pieces)
        msg = {"role": "assistant", "content": text, "refusal": None, "annotations": []}
        finish = "stop"
        if opt["tools"]:
            msg["content"] = None
            msg["tool_calls"] = [{"id": "call_mock1", "type": "function",
                                  "function": {"name": "get_weather",
                                               "arguments": "{\"city\":\"Paris\"}"}}]
            finish = "tool_calls"
        resp = {"id": "chatcmpl-" + uuid.uuid4().hex[:24], "object": "chat.completion",
                "created": int(now()), "model": az["model"] if az else body.get("model"),
                "system_fingerprint": "fp_mock", "service_tier": "default",
                "choices": [{"index": 0, "message": msg, "logprobs": None,
                             "finish_reason": finish}],
                "usage": make_usage(opt, ptok, ctok)}
        if az:
            resp["prompt_filter_results"] = azure_prompt_filter(1)
            resp["choices"][0]["content_filter_results"] = azure_cfr()
        if opt["error200"] is not None:
            resp = {"error": {"code": opt["error200"],
                              "message": "Provider returned error (%d)" % opt["error200"],
                              "metadata": {"provider_name": "Mock"}}}
        self.send_unary(resp, opt, srec, self.azure_headers() if az else self.common_headers(opt))

    def chat_stream(self, body, opt, srec, az=None):
        so = body.get("stream_options")
        include_usage = isinstance(so, dict) and so.get("include_usage") is True
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(now())
        model = az["model"] if az else body.get("model")
        pieces = content_pieces(opt, body)
        delay = opt["delay_ms"] / 1000.0 if opt["mode"] == "words" else 0.0
        ptok = max(1, prompt_chars(body) // 4)

        emit, chunked = self.sse_start(
            opt, srec, self.azure_headers() if az else self.common_headers(opt))

        def chunk(delta, finish=None, choices=True, usage=None):
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            if az and choices:
                choice["content_filter_results"] = (azure_cfr() if delta.get("content")
                                                    else {})
            obj = {"id": cid, "object": "chat.completion.chunk", "created": created,
                   "model": model, "system_fingerprint": "fp_mock",
                   "choices": [choice] if choices else []}
            if include_usage or (opt["mistral"] and usage is not None):
                obj["usage"] = usage
            return json.dumps(obj)

        srec["total_chunks"] = len(pieces)
        if az:
            emit(azure_prelude(1), count=False)
        # first chunk: the role (no content chunk counted)
        emit(chunk({"role": "assistant", "content": "", "refusal": None}), count=False)
        if opt["tools"]:
            emit(chunk({"tool_calls": [{"index": 0, "id": "call_mock1", "type": "function",
                                        "function": {"name": "get_weather",
                                                     "arguments": ""}}]}))
            emit(chunk({"tool_calls": [{"index": 0, "function":
                                        {"arguments": "{\"city\":\"Paris\"}"}}]}))
            pieces = []
        for i, piece in enumerate(pieces):
            if i > 0:
                self.pause(delay)
            if self.sse_cut(opt, i, emit, chunked):
                return
            if opt["badjson"] and i == 1:
                emit("{this is not json", count=False)
            if opt["nonobject"] and i == 1:
                for payload in ("null", '"x"', "42", "[1]"):
                    emit(payload, count=False)
            emit(chunk({"content": piece}))
        if self.sse_stall_at_end(opt, len(pieces)):
            return
        if opt["mistral"]:
            # Mistral: the usage rides on the finish chunk, asked for or not
            emit(chunk({}, finish="tool_calls" if opt["tools"] else "stop",
                       usage=make_usage(opt, ptok, len(pieces))), count=False)
            self.sse_done(emit, chunked, opt)
            srec["completed"] = True
            return
        emit(chunk({}, finish="tool_calls" if opt["tools"] else "stop"), count=False)
        if include_usage:
            u = make_usage(opt, ptok, len(pieces))
            if u is not None:
                emit(chunk(None, choices=False, usage=u), count=False)
        self.sse_done(emit, chunked, opt)
        srec["completed"] = True

    # ---- legacy completions -----------------------------------------------------------

    def completions(self, body, opt, srec, az, stream):
        prompts = completion_prompts(body.get("prompt"))
        max_tokens = body.get("max_tokens")
        if max_tokens is None:
            max_tokens = 16
        if not is_int(max_tokens) or max_tokens < 0:
            raise BadRequest("%r is not a valid max_tokens: expected an integer >= 0."
                             % (max_tokens,), "max_tokens")
        echo = body.get("echo") is True
        answers = []                # per choice: (answer pieces, finish_reason, echo prefix)
        for p in prompts:
            pieces = word_pieces(opt["n"]) if opt["mode"] == "words" else split_words(p)
            finish = "stop"
            if len(pieces) > max_tokens:
                pieces, finish = pieces[:max_tokens], "length"
            answers.append((pieces, finish, p if echo else ""))
        ptok = max(1, sum(ceil_tokens(p) for p in prompts))
        ctok = sum(len(a[0]) for a in answers)
        model = az["model"] if az else body.get("model")
        cid = "cmpl-" + uuid.uuid4().hex[:24]
        created = int(now())
        headers = self.azure_headers() if az else self.common_headers(opt)
        if not stream:
            choices = []
            for k, (pieces, finish, prefix) in enumerate(answers):
                c = {"text": prefix + "".join(pieces), "index": k, "logprobs": None,
                     "finish_reason": finish}
                if az:
                    c["content_filter_results"] = azure_cfr()
                choices.append(c)
            resp = {"id": cid, "object": "text_completion", "created": created,
                    "model": model, "system_fingerprint": "fp_mock", "choices": choices,
                    "usage": make_usage(opt, ptok, ctok)}
            if az:
                resp["prompt_filter_results"] = azure_prompt_filter(len(prompts))
            return self.send_unary(resp, opt, srec, headers)

        so = body.get("stream_options")
        include_usage = isinstance(so, dict) and so.get("include_usage") is True
        delay = opt["delay_ms"] / 1000.0 if opt["mode"] == "words" else 0.0
        # what each round streams: per choice its i-th piece (the echoed prompt goes in front
        # of the first one)
        streamed = []
        for pieces, _, prefix in answers:
            if prefix:
                pieces = [prefix + pieces[0]] + pieces[1:] if pieces else [prefix]
            streamed.append(pieces)
        rounds = max(len(s) for s in streamed)

        def chunk(k, text, finish=None, usage=None, choices=True):
            choice = {"text": text, "index": k, "logprobs": None, "finish_reason": finish}
            if az:
                choice["content_filter_results"] = azure_cfr() if text else {}
            obj = {"id": cid, "object": "text_completion", "created": created,
                   "model": model, "system_fingerprint": "fp_mock",
                   "choices": [choice] if choices else []}
            if include_usage:
                obj["usage"] = usage
            return json.dumps(obj)

        emit, chunked = self.sse_start(opt, srec, headers)
        srec["total_chunks"] = sum(len(s) for s in streamed)
        if az:
            emit(azure_prelude(len(prompts)), count=False)
        for i in range(rounds):
            if i > 0:
                self.pause(delay)
            if self.sse_cut(opt, i, emit, chunked):
                return
            if opt["badjson"] and i == 1:
                emit("{this is not json", count=False)
            if opt["nonobject"] and i == 1:
                for payload in ("null", '"x"', "42", "[1]"):
                    emit(payload, count=False)
            for k, s in enumerate(streamed):
                if i < len(s):
                    emit(chunk(k, s[i]))
        if self.sse_stall_at_end(opt, rounds):
            return
        for k, (_, finish, _) in enumerate(answers):
            emit(chunk(k, "", finish=finish), count=False)
        if include_usage:
            u = make_usage(opt, ptok, ctok)
            if u is not None:
                emit(chunk(0, None, usage=u, choices=False), count=False)
        self.sse_done(emit, chunked, opt)
        srec["completed"] = True

    # ---- embeddings -------------------------------------------------------------------

    def embeddings(self, body, opt, srec, az):
        inputs = embedding_inputs(body.get("input"))
        fmt = body.get("encoding_format")
        if fmt is None:
            fmt = "float"
        if fmt not in ("float", "base64"):
            raise BadRequest("%s is not one of ['float', 'base64'] - 'encoding_format'"
                             % json.dumps(fmt), "encoding_format")
        dims = body.get("dimensions")
        if dims is None:
            dims = EMBED_DEFAULT_DIMS
        if not is_int(dims) or not 1 <= dims <= EMBED_MAX_DIMS:
            raise BadRequest("%s is not a valid dimensions: expected an integer from 1 to %d."
                             % (json.dumps(dims), EMBED_MAX_DIMS), "dimensions")
        data = []
        for i, (key, _) in enumerate(inputs):
            vec = embed_vector(key, dims)
            if fmt == "base64":
                emb = base64.b64encode(struct.pack("<%df" % dims, *vec)).decode("ascii")
            else:
                emb = vec
            data.append({"object": "embedding", "index": i, "embedding": emb})
        resp = {"object": "list", "data": data,
                "model": az["model"] if az else body.get("model")}
        if not opt["nousage"]:
            ptok = opt["usage"][0] if opt["usage"] else sum(t for _, t in inputs)
            resp["usage"] = {"prompt_tokens": ptok, "total_tokens": ptok}
        self.send_unary(resp, opt, srec, self.azure_headers() if az else self.common_headers(opt))


    # ---- images and moderations ---------------------------------------------------------

    def images(self, body, opt, srec, az):
        """POST /v1/images/generations: gpt-image-1's answer (b64_json and usage) for a
        gpt-image model, else dall-e-3's (urls)."""
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            raise missing_parameter("prompt") if prompt is None else BadRequest(
                "Invalid type for 'prompt': expected a non-empty string.", "prompt")
        n = body.get("n", 1)
        if n is None:
            n = 1
        if not is_int(n) or not 1 <= n <= 10:
            raise BadRequest("%s is not a valid n: expected an integer from 1 to 10."
                             % json.dumps(n), "n")
        gpt_image = opt["gpt_image"]
        if gpt_image or body.get("response_format") == "b64_json":
            pic = base64.b64encode(hashlib.sha256(prompt.encode()).digest() * 94
                                   + b"png.").decode("ascii")
            data = [{"b64_json": pic} for _ in range(n)]
        else:
            data = [{"url": "https://images.mock.invalid/%s.png" % hex48(),
                     "revised_prompt": prompt} for _ in range(n)]
        resp = {"created": int(now()), "data": data}
        if gpt_image:
            resp.update(background="opaque", output_format="png",
                        quality=body.get("quality") or "low",
                        size=body.get("size") or "1024x1024")
            if not opt["nousage"]:
                tin = opt["usage"][0] if opt["usage"] else ceil_tokens(prompt)
                tout = opt["usage"][1] if opt["usage"] else IMAGE_TOKENS * n
                resp["usage"] = {"input_tokens": tin, "output_tokens": tout,
                                 "total_tokens": tin + tout,
                                 "input_tokens_details": {"text_tokens": tin,
                                                          "image_tokens": 0}}
        self.send_unary(resp, opt, srec, self.azure_headers() if az else self.common_headers(opt))

    def moderations(self, body, opt, srec):
        """POST /v1/moderations: one result per input, flagged for violence at "kill"."""
        inp = body.get("input")
        if inp is None:
            raise missing_parameter("input")
        if isinstance(inp, str):
            texts = [inp]
        elif isinstance(inp, list) and inp and all(isinstance(x, str) for x in inp):
            texts = inp
        elif isinstance(inp, list) and inp and all(
                isinstance(x, dict) and x.get("type") in ("text", "image_url") for x in inp):
            texts = [" ".join(x.get("text", "") for x in inp if x.get("type") == "text")]
        else:
            raise BadRequest("Invalid value for 'input': expected a string, an array of "
                             "strings or an array of multi-modal inputs.", "input")
        results = []
        for text in texts:
            flagged = "kill" in text.lower()
            results.append({
                "flagged": flagged,
                "categories": {c: flagged and c == "violence" for c in MODERATION_CATEGORIES},
                "category_scores": {c: 0.91 if flagged and c == "violence" else 0.0001
                                    for c in MODERATION_CATEGORIES},
                "category_applied_input_types": {c: ["text"] for c in MODERATION_CATEGORIES}})
        resp = {"id": "modr-" + hex48(), "model": body.get("model"), "results": results}
        self.send_unary(resp, opt, srec, self.common_headers(opt))

    # ---- Responses --------------------------------------------------------------------

    def responses_valid(self, body, headers=()):
        """Checks a Responses request (responses_check against what this mock stored); sends
        the 400 and returns False when it is refused (not counted, no /_mock/streams record)."""
        try:
            responses_check(body, self.server.responses, self.server.items)
        except BadRequest as e:
            self.send_json(400, e.body(), extra=headers)
            return False
        return True

    def compact(self, body):
        """POST /v1/responses/compact: the user messages kept, the rest one compaction item."""
        known = {"model", "input", "instructions", "previous_response_id", "prompt_cache_key",
                 "prompt_cache_retention", "prompt_cache_options"}
        if not isinstance(body, dict):
            return self.send_bad_json()
        for k in body:
            if k not in known:
                return self.send_json(400, BadRequest("Unknown parameter: '%s'." % k, k,
                                                      "unknown_parameter").body())
        if not isinstance(body.get("model"), str):
            return self.send_json(400, BadRequest("you must provide a model parameter",
                                                  "model").body())
        kept = [{"type": "message", "role": "user",
                 "content": [{"type": "input_text", "text": it["content"]}]
                 if isinstance(it.get("content"), str) else it.get("content")}
                for it in responses_input_items(body)
                if isinstance(it, dict) and it.get("role") == "user"]
        kept.append({"type": "compaction", "id": "cmp_" + hex48(),
                     "encrypted_content": "gAAAAAB" + base64.b64encode(
                         uuid.uuid4().bytes * 2).decode("ascii")})
        inp = max(1, (responses_input_chars(body) + 3) // 4)
        return self.send_json(200, {
            "id": "resp_" + hex48(), "object": "response.compaction", "created_at": int(now()),
            "output": kept,
            "usage": {"input_tokens": inp, "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens": 16, "output_tokens_details": {"reasoning_tokens": 0},
                      "total_tokens": inp + 16}}, extra=self.common_headers(parse_model("")))

    def get_response(self, path, rid):
        """GET /v1/responses/{id} (and the Azure paths, with their auth): a stored Response."""
        az = path.startswith("/openai/")
        if az:
            query = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
            if path.startswith("/openai/responses/") and not query.get("api-version"):
                return self.send_json(404, {"error": {"code": "404",
                                                      "message": "Resource not found"}})
            if not self.azure_auth({"headers": {k.lower(): v
                                                for k, v in self.headers.items()}}):
                return None
        resp = self.server.responses.get(rid)
        headers = self.azure_headers() if az else []
        if resp is None:
            return self.send_json(404, {"error": {
                "message": "No response found with id '%s'." % rid,
                "type": "invalid_request_error", "param": None, "code": None}}, extra=headers)
        return self.send_json(200, resp, extra=headers)

    def responses_answer(self, body, opt, srec, az, stream):
        """A Response (unstreamed) or its events (streamed): [a reasoning item, then] a message,
        a function_call or a custom_tool_call; stored by id unless store is false."""
        model = az["model"] if az else body.get("model")
        include = body.get("include") if isinstance(body.get("include"), list) else []
        store = body.get("store") is not False
        tools = [t for t in body.get("tools") or []
                 if isinstance(t, dict) and t.get("type") in ("function", "custom")]
        use_tool = opt["tools"]
        if opt["mode"] == "words":
            pieces = word_pieces(opt["n"])
        else:
            out = responses_last_tool_output(body) if opt["tools_once"] else None
            if opt["tools_once"]:
                use_tool = out is None
            pieces = split_words("tool said: " + out if out is not None
                                 else responses_last_user_text(body))
        tool = tools[0] if use_tool and tools else None
        mot = body.get("max_output_tokens")
        incomplete = tool is None and mot is not None and len(pieces) > mot
        if incomplete:
            pieces = pieces[:mot]

        # the items (as the final Response has them) and the deltas each is streamed in
        plan = []
        if opt["reasoning"]:
            item = {"id": "rs_" + hex48(), "type": "reasoning",
                    "summary": [{"type": "summary_text", "text": RESPONSES_REASONING_SUMMARY}]}
            if "reasoning.encrypted_content" in include:
                item["encrypted_content"] = "gAAAAAB" + base64.b64encode(
                    uuid.uuid4().bytes * 4).decode("ascii")
            plan.append((item, split_words(RESPONSES_REASONING_SUMMARY)))
        if tool is not None and tool["type"] == "function":
            plan.append(({"id": "fc_" + hex48(), "type": "function_call",
                          "status": "completed", "arguments": "".join(RESPONSES_TOOL_ARGS),
                          "call_id": "call_" + uuid.uuid4().hex[:24], "name": tool["name"]},
                         RESPONSES_TOOL_ARGS))
        elif tool is not None:
            plan.append(({"id": "ctc_" + hex48(), "type": "custom_tool_call",
                          "status": "completed", "call_id": "call_" + uuid.uuid4().hex[:24],
                          "input": "".join(RESPONSES_CUSTOM_INPUT), "name": tool["name"]},
                         RESPONSES_CUSTOM_INPUT))
        else:
            plan.append(({"id": "msg_" + hex48(), "type": "message",
                          "status": "incomplete" if incomplete else "completed",
                          "content": [{"type": "output_text", "annotations": [],
                                       "logprobs": [], "text": "".join(pieces)}],
                          "role": "assistant"}, pieces))
        reasoning_tokens = len(plan[0][1]) if opt["reasoning"] else 0
        counted = sum(len(d) for it, d in plan if it["type"] != "reasoning")
        usage = responses_usage(opt, max(1, (responses_input_chars(body) + 3) // 4),
                                counted + reasoning_tokens, reasoning_tokens)
        rid = "resp_" + hex48()
        created = int(now())

        def response(status, output, usage=None, error=None):
            r = {"id": rid, "object": "response", "created_at": created, "status": status,
                 "background": body.get("background") is True, "error": error,
                 "incomplete_details": ({"reason": "max_output_tokens"}
                                        if status == "incomplete" else None),
                 "instructions": body.get("instructions"),
                 "max_output_tokens": mot, "max_tool_calls": body.get("max_tool_calls"),
                 "model": model, "output": output,
                 "parallel_tool_calls": body.get("parallel_tool_calls", True),
                 "previous_response_id": body.get("previous_response_id"),
                 "prompt_cache_key": body.get("prompt_cache_key"),
                 "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
                 "safety_identifier": body.get("safety_identifier"),
                 "service_tier": body.get("service_tier") or "default", "store": store,
                 "temperature": body.get("temperature", 1.0),
                 "text": body.get("text") or {"format": {"type": "text"},
                                              "verbosity": "medium"},
                 "tool_choice": body.get("tool_choice", "auto"), "tools": body.get("tools") or [],
                 "top_logprobs": body.get("top_logprobs", 0), "top_p": body.get("top_p", 1.0),
                 "truncation": body.get("truncation") or "disabled", "usage": usage,
                 "user": body.get("user"), "metadata": body.get("metadata") or {}}
            if body.get("conversation") is not None:
                conv = body["conversation"]
                r["conversation"] = {"id": conv.get("id") if isinstance(conv, dict) else conv}
            return r

        final = response("incomplete" if incomplete else "completed",
                         [it for it, _ in plan], usage)

        def keep():
            if store:
                self.server.inputs[rid] = [dict(it, id=it.get("id") or "item_" + hex48())
                                           for it in responses_input_items(body)
                                           if isinstance(it, dict)]
                self.server.responses[rid] = final
                for it in final["output"]:
                    self.server.items[it["id"]] = it

        headers = self.azure_headers() if az else self.common_headers(opt)
        if not stream:
            keep()
            return self.send_unary(final, opt, srec, headers)

        obfuscate = (body.get("stream_options") or {}).get("include_obfuscation") is not False
        delay = opt["delay_ms"] / 1000.0 if opt["mode"] == "words" else 0.0
        emit, chunked = self.sse_start(opt, srec, headers)
        srec["total_chunks"] = counted
        seq = [0]

        def send(etype, count=False, **fields):
            ev = {"type": etype, "sequence_number": seq[0]}
            ev.update(fields)
            seq[0] += 1
            emit(json.dumps(ev), count=count, event=etype)

        def fail():
            err = self.quote_key(opt, {"error": {"code": "server_error",
                                                 "message": RESPONSES_SERVER_ERROR}})
            send("response.failed", response=response("failed", [], None, err["error"]))
            if chunked:
                self.end_chunks()

        def obf(ev):
            if obfuscate:
                ev["obfuscation"] = uuid.uuid4().hex[:2 + len(ev["delta"]) % 12]
            return ev

        send("response.created", response=response("in_progress", []))
        send("response.in_progress", response=response("in_progress", []))
        i = 0                       # the content deltas sent so far
        for k, (item, deltas) in enumerate(plan):
            iid, typ = item["id"], item["type"]
            at = {"item_id": iid, "output_index": k}
            if typ == "reasoning":
                start = {"id": iid, "type": typ, "summary": []}
                if "encrypted_content" in item:
                    start["encrypted_content"] = item["encrypted_content"]
                send("response.output_item.added", output_index=k, item=start)
                part = {"type": "summary_text", "text": ""}
                send("response.reasoning_summary_part.added", summary_index=0, part=part, **at)
                for d in deltas:
                    send("response.reasoning_summary_text.delta",
                         **obf(dict(at, summary_index=0, delta=d)))
                text = "".join(deltas)
                send("response.reasoning_summary_text.done", summary_index=0, text=text, **at)
                send("response.reasoning_summary_part.done", summary_index=0,
                     part={"type": "summary_text", "text": text}, **at)
                send("response.output_item.done", output_index=k, item=item)
                continue
            start = dict(item, status="in_progress")
            if typ == "message":
                start["content"] = []
            elif typ == "function_call":
                start["arguments"] = ""
            else:
                start["input"] = ""
            send("response.output_item.added", output_index=k, item=start)
            if typ == "message":
                at["content_index"] = 0
                send("response.content_part.added",
                     part={"type": "output_text", "annotations": [], "logprobs": [],
                           "text": ""}, **at)
            for d in deltas:
                if i > 0:
                    self.pause(delay)
                if self.sse_cut(opt, i, emit, chunked, fail):
                    return
                if opt["badjson"] and i == 1:
                    emit("{this is not json", count=False)
                if opt["nonobject"] and i == 1:
                    for payload in ("null", '"x"', "42", "[1]"):
                        emit(payload, count=False)
                if typ == "message":
                    send("response.output_text.delta", count=True,
                         **obf(dict(at, delta=d, logprobs=[])))
                elif typ == "function_call":
                    send("response.function_call_arguments.delta", count=True,
                         **obf(dict(at, delta=d)))
                else:
                    send("response.custom_tool_call_input.delta", count=True,
                         **obf(dict(at, delta=d)))
                i += 1
            if self.sse_stall_at_end(opt, counted):
                return
            if typ == "message":
                part = item["content"][0]
                send("response.output_text.done", text=part["text"], logprobs=[], **at)
                send("response.content_part.done", part=part, **at)
            elif typ == "function_call":
                send("response.function_call_arguments.done", arguments=item["arguments"],
                     name=item["name"], **at)
            else:
                send("response.custom_tool_call_input.done", input=item["input"], **at)
            send("response.output_item.done", output_index=k, item=item)
        keep()
        send("response.incomplete" if incomplete else "response.completed", response=final)
        if chunked:
            self.end_chunks()
        srec["completed"] = True


def main():
    def args(ap):
        ap.add_argument("--azure-key", default=AZURE_KEY,
                        help="the api-key header the Azure paths take (default %(default)s)")
        ap.add_argument("--azure-ad-token", default=AZURE_AD_TOKEN,
                        help="the Entra ID token they take as Bearer (default %(default)s)")
        ap.add_argument("--vertex-secret",
                        help="serve Vertex AI's OpenAI-compatible endpoint (google_oauth_mock)")
    srv, a = mockserve.start(Handler, __doc__, args)
    srv.azure_key = a.azure_key
    srv.azure_ad_token = a.azure_ad_token
    srv.vertex_secret = a.vertex_secret
    srv.responses = {}          # the stored Responses by id
    srv.items = {}              # their output items by id
    srv.inputs = {}             # their input items by id (GET .../input_items)
    srv.conversations = {}      # conversations by id: {conv, items}
    mockserve.serve(srv, a, "openai_mock")


if __name__ == "__main__":
    main()
