#!/usr/bin/env python3
"""A mock OpenAI-compatible upstream for the sllmp integration tests (standard library only).

    python3 tests/mock/openai_mock.py --port 0 --port-file /tmp/mock.port [--azure-key K]

Binds 127.0.0.1 only. HTTP/1.1 with keep-alive; streams use Transfer-Encoding: chunked (or,
with the `close` option, no framing and Connection: close) and every event is flushed as it is
written (TCP_NODELAY).

Flags: --port, --port-file, --verbose, --parent-pid, --tls-cert/--tls-key (see mockserve.py),
and --azure-key K: the `api-key` the Azure paths require (default "azure-mock-KEY").

Endpoints (OpenAI paths: no auth checked; the Authorization header is only recorded):
    POST /v1/chat/completions, /chat/completions    chat, unstreamed or streamed
    POST /v1/completions, /completions              legacy completions, unstreamed or streamed
    POST /v1/embeddings, /embeddings                embeddings
    POST /openai/deployments/{deployment}/chat/completions?api-version=V      Azure (classic)
    POST /openai/deployments/{deployment}/completions?api-version=V
    POST /openai/deployments/{deployment}/embeddings?api-version=V
    POST /openai/v1/chat/completions, /openai/v1/completions, /openai/v1/embeddings  (Azure v1)
    GET  /v1/models, /models, /health

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
Calls are counted per model string across chat, completions and embeddings (GET /_mock/calls).
Embeddings honour status-, sleep-, stall-after- and reset-after- (unstreamed), badjson,
usage-, nousage and the fault-injection options; completions honour all but tools.

Chat (§1.3/1.4 of docs/protocols.md): usage prompt_tokens = max(1, chars of all messages // 4),
completion_tokens = number of content pieces. stream_options.include_usage: every chunk has
"usage": null and one extra chunk with "choices": [] carries the usage before [DONE].

Embeddings (§1.8): input is a string, string[], int[] (one token array) or int[][]; 400
invalid_request_error param "input" when it is empty ([] or ""), holds an empty string or an
empty token array, mixes types, has > 2048 items, or an item has > 8192 tokens.
`dimensions` (int 1..65536, default 8; else 400 param "dimensions"); `encoding_format` "float"
(default) or "base64" (little-endian float32, standard base64; else 400 param
"encoding_format"). Vectors are deterministic (sha256 of the text, or of "tokens:1,2,3" for a
token array), unit length, float32-exact (the float and base64 forms decode to the same
numbers). usage {prompt_tokens, total_tokens}: ceil(chars/4) per text (token arrays: their
length), summed. "model" echoes the request's model.

Completions (§1.9): prompt string | string[] (also int[] / int[][], echoed as the numbers
joined by spaces; else 400 param "prompt"); one choice per prompt. The answer is the prompt
(echo) or words-N-D, cut to max_tokens pieces (default 16; int >= 0, else 400 param
"max_tokens"): finish_reason "length" when cut, else "stop". Body `echo: true` puts the
prompt in front of the answer. Response object "text_completion", choices[{text, index,
logprobs: null, finish_reason}], usage (prompt: ceil(chars/4) per prompt, summed, min 1;
completion: the answer pieces). Streamed: one text_completion chunk per piece (per choice),
then per choice a chunk with "text": "" and the finish_reason, then (include_usage) a chunk
with "choices": [] and the usage, then data: [DONE].

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
    GET  /_mock/streams    JSON list, one per answered chat/completions/embeddings request, of
                           {seq, kind, model, body_model, deployment, api_version, request_id,
                           stream, chunks_sent, total_chunks, aborted, aborted_at, started_at,
                           headers_sent_at, finished_at, completed, send_times}
                           (times are time.time() floats, comparable with the test process;
                           kind is "chat", "completions" or "embeddings"; model is the options
                           string used (Azure classic: the deployment); deployment and
                           api_version are null except on Azure paths)
    GET  /_mock/calls      JSON {model string: number of calls} of chat/completions/embeddings
                           (the options string used, as "model" in /_mock/streams)
    POST /_mock/reset      clears both lists and the call counters
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
from mockserve import now, split_words, word_pieces

FAKE_KEY = "sk-mock-SECRET-123"
AZURE_KEY = "azure-mock-KEY"
AZURE_AD_TOKEN = "azure-mock-ENTRA-TOKEN"
AZURE_MODELS = {"chat": "gpt-4o-mini-2024-07-18", "completions": "gpt-35-turbo-instruct",
                "embeddings": "text-embedding-3-small"}
AZURE_OPS = {"chat": "ChatCompletions_Create", "completions": "Completions_Create",
             "embeddings": "Embeddings_Create"}
AZURE_401 = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
             "provide a valid key for an active subscription and use a correct regional API "
             "endpoint for your resource.")
AZURE_CLASSIC = re.compile(r"/openai/deployments/([^/]+)/(chat/completions|completions|embeddings)")
AZURE_V1 = re.compile(r"/openai/v1/(chat/completions|completions|embeddings)")
KINDS = {"chat/completions": "chat", "completions": "completions", "embeddings": "embeddings"}

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
        kind = {"/v1/chat/completions": "chat", "/chat/completions": "chat",
                "/v1/completions": "completions", "/completions": "completions",
                "/v1/embeddings": "embeddings", "/embeddings": "embeddings"}.get(path)
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
        self.run(kind, body, rec, opt)
        return None

    def do_PUT(self):
        self.record(self.read_body())
        self.send_json(405, {"error": {"message": "method not allowed", "type":
                                       "invalid_request_error", "param": None,
                                       "code": None}}, extra=[("Allow", "GET, POST")])

    do_DELETE = do_PUT

    def send_bad_json(self):
        self.send_json(400, {"error": {"message": "We could not parse the JSON body of your "
                                       "request.", "type": "invalid_request_error",
                                       "param": None, "code": None}})

    # ---- Azure ----------------------------------------------------------------------

    def azure(self, path, rec):
        classic = AZURE_CLASSIC.fullmatch(path)
        v1 = AZURE_V1.fullmatch(path)
        api_version = rec["query"].get("api-version") or None
        if not (classic or v1) or (classic and not api_version):
            return self.send_json(404, {"error": {"code": "404",
                                                  "message": "Resource not found"}})
        bearer = rec["headers"].get("authorization", "")
        if (rec["headers"].get("api-key") != self.server.azure_key
                and bearer != "Bearer " + self.server.azure_ad_token):
            return self.send_json(401, {"error": {"code": "401", "message": AZURE_401}})
        body = rec["body"]
        if not isinstance(body, dict):
            return self.send_bad_json()
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
        """Answers a chat / completions / embeddings request with options `opt` (az: the
        Azure context, or None), listing its record in /_mock/streams. The call is counted
        for its model string (first-N / every-N, /_mock/calls)."""
        stream = body.get("stream") is True and kind != "embeddings"
        opt = self.call_options(az["deployment"] if az else body.get("model"), opt)
        with self.answering(rec["seq"], kind=kind,
                            model=az["deployment"] if az else body.get("model"),
                            body_model=body.get("model"),
                            deployment=az["deployment"] if az else None,
                            api_version=az["api_version"] if az else None,
                            stream=stream,
                            request_id=rec["headers"].get("x-request-id")) as srec:
            try:
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
        chunked). emit(payload, count=True) writes `data: payload` (honouring
        crlf/split/close) and counts it as a content chunk when `count`."""
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

        def emit(payload, count=True):
            write("data: " + payload + nl + nl)
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

    def sse_cut(self, opt, i, emit, chunked):
        """Applies stall-/close-/reset-/error-after-N before content piece i: stalls (raising
        ClientGone when the client leaves) or returns True when the stream ended here."""
        if opt["stall_after"] is not None and i >= opt["stall_after"]:
            self.stall()
        if opt["close_after"] is not None and i >= opt["close_after"]:
            self.hang_up()
            return True
        if opt["reset_after"] is not None and i >= opt["reset_after"]:
            self.reset_connection()
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


def main():
    def args(ap):
        ap.add_argument("--azure-key", default=AZURE_KEY,
                        help="the api-key header the Azure paths take (default %(default)s)")
        ap.add_argument("--azure-ad-token", default=AZURE_AD_TOKEN,
                        help="the Entra ID token they take as Bearer (default %(default)s)")
    srv, a = mockserve.start(Handler, __doc__, args)
    srv.azure_key = a.azure_key
    srv.azure_ad_token = a.azure_ad_token
    mockserve.serve(srv, a, "openai_mock")


if __name__ == "__main__":
    main()
