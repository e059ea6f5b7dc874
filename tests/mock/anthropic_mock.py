#!/usr/bin/env python3
"""A mock of the Anthropic Messages API for the sllmp integration tests (standard library only).

    python3 tests/mock/anthropic_mock.py --port 0 --port-file /tmp/anthropic.port [--key K]

Follows docs/protocols.md section 2. Binds 127.0.0.1 only. HTTP/1.1 with keep-alive; streams
use Transfer-Encoding: chunked, one HTTP chunk per SSE event, each flushed as it is written
(TCP_NODELAY).

Flags: --port, --port-file, --verbose, --parent-pid, --tls-cert/--tls-key (see mockserve.py),
and --key K: the API key required (default "sk-ant-mock-KEY").

Endpoints:
    POST /v1/messages                 Messages, unstreamed or streamed (`stream: true`)
    POST /v1/messages/count_tokens    {"input_tokens": N}: "Count tokens in a Message"
    GET  /v1/models, /health

Claude on Vertex AI (with --vertex-secret S, the secret of google_oauth_mock.py's tokens):
    POST /v1/projects/{p}/locations/{l}/publishers/anthropic/models/{model}:rawPredict
    POST .../models/{model}:streamRawPredict      (the body's stream must be true here, and
                                                   absent or false for rawPredict)
    POST .../models/count-tokens:rawPredict       count_tokens; the body names the model
    Auth: an Authorization: Bearer token of google_oauth_mock.py that has not expired (else
    401 in Google's error shape, in a list, as Vertex sends it; project other-proj: 403
    PERMISSION_DENIED "Vertex AI API has not been used in project ..."); x-api-key and an
    anthropic-version header are not Vertex's. The body must carry "anthropic_version":
    "vertex-2023-10-16" and, but for count-tokens, no "model" (the URL names it: 400 "model:
    Extra inputs are not permitted"); the rest is then checked and answered as above, with the
    model of the URL (its options too). An anthropic-beta flag Vertex does not take is a 400
    "Unexpected value(s) `f` for the `anthropic-beta` header. ..." (as Vertex answers Claude
    Code's first-party flags: anthropics/claude-code issues 12429, 34802); it takes
    VERTEX_BETAS on rawPredict, and none on count-tokens (issue 11154).

/v1/messages/count_tokens (Anthropic's API reference, "Count tokens in a Message", and the
token-counting guide): the headers of /v1/messages (the checks below), ?beta=true allowed as
for every call of the beta SDK (Claude Code's); a body of Messages without max_tokens: model
and messages required, system, tools, tool_choice and thinking optional, as are the newer
output_config, output_format, context_management, mcp_servers and cache_control; any other
top-level field, max_tokens, stream, metadata, stop_sequences and the sampling knobs among
them, is 400 "<field>: Extra inputs are not permitted". The rest of the body is checked as for
Messages (thinking's budget against no max_tokens). The answer is 200 {"input_tokens": N},
N = max(1, prompt characters // 4) as in Messages' usage (system, text, tool inputs and
results) plus 10 a tool definition; the status- and sleep- options apply (a 429 or a 529 as
Messages gives them), no other option, and the calls are not counted in /_mock/calls.

Every POST /v1/messages* is checked as Anthropic does, in this order, and answered with
Anthropic's error body {"type":"error","error":{"type":T,"message":M},"request_id":"req_..."}:
    x-api-key (or Authorization: Bearer) must equal --key      else 401 authentication_error
                                                              (the message never quotes a key)
    anthropic-version must be 2023-06-01                       else 400 invalid_request_error
    content-type must be application/json, the body a JSON object    else 400
    then the model's fault options below (sleep-, status-), then the body (all 400
    invalid_request_error, the message naming the field as Anthropic does, e.g.
    "max_tokens: Field required"):
      - no top-level field Anthropic does not know ("seed: Extra inputs are not permitted");
      - model a string; max_tokens an integer >= 0 (required); messages a non-empty list;
      - roles user/assistant only; content a string or a list of known blocks (text, image,
        document, tool_use, tool_result, thinking, redacted_thinking), tool_use in assistant
        turns only, tool_result in user turns only;
      - text blocks non-empty ("text content blocks must be non-empty"); a message with no
        content is refused unless it is the final assistant message;
      - consecutive same-role turns are merged (as the API does), then: every tool_use is
        answered by a tool_result in the immediately following user turn, every tool_result
        answers a tool_use of the turn before, and tool_result blocks come first in their turn;
      - a final assistant turn (prefill) must not end with whitespace;
      - system a string or a list of non-empty text blocks;
      - temperature and top_p numbers in [0, 1], top_k an integer >= 0; stop_sequences
        strings that are not whitespace only;
      - tool_use ids and tool_result tool_use_ids match ^[a-zA-Z0-9_-]+$;
      - tools: name [a-zA-Z0-9_-]{1,64} and an input_schema object of type "object";
        tool_choice {"type": auto|any|tool|none} (tool needs name; none takes no
        disable_parallel_tool_use); metadata has only user_id;
      - thinking {"type":"enabled","budget_tokens": >= 1024 and < max_tokens} | adaptive |
        disabled; with thinking on: temperature only 1, top_p >= 0.95, no top_k, no forced
        tool (tool_choice any/tool), and a final assistant turn that has tool_use must start
        with a thinking block;
      - a model whose name contains "strict-sampling" rejects temperature != 1, top_p < 0.99
        and any top_k (protocols.md §0.9).

Behaviour is chosen by the request's `model`: one or more options joined with '+', e.g.
`tools+cache+ping`:

    echo              answer = text of the last user turn (default; its tool results' text
                      when it has no text); streamed one word per text_delta
    words-N-D         answer = N words "w1".."wN"; streamed N text_deltas, D ms apart
    tools             a text block ("Let me check.") then TWO tool_use blocks: get_weather
                      {"city":"Paris"} (streamed as input_json_delta fragments, the first one
                      "") and get_time {} (streamed with no input_json_delta at all);
                      stop_reason tool_use
    thinking          a thinking block first, streamed as protocols.md §2.4 has it:
                      content_block_start {"type":"thinking","thinking":""}, a thinking_delta
                      per word, a signature_delta, content_block_stop
    redacted          a redacted_thinking block {"type":"redacted_thinking","data":...} (after
                      the thinking block, if any; streamed whole in its content_block_start)
    cache             usage cache_creation_input_tokens 100 and cache_read_input_tokens 200
    maxtokens         stop_reason max_tokens
    multidelta        two message_delta events (the first with stop_reason null and half the
                      output tokens): counts are cumulative
    ping              a ping event between every two events
    nonobject         streams: before the second text delta, content_block_delta events whose
                      data is JSON but no object (null, "x", 42, [1]) and one whose object has
                      bytes after it; unstreamed: ignored
    keepalive-P-T     streams: right after the 200's headers, a ping event every P ms for
                      T ms, before message_start (Anthropic's keep-alive while the model
                      queues or thinks); unstreamed: ignored
    status-429        429 rate_limit_error + retry-after: 7 and anthropic-ratelimit-* headers
    status-529        529 overloaded_error
    status-500        500 api_error
    status-400        400 invalid_request_error
    status-401        401 authentication_error
                      (any other status-NNN: NNN with the error type Anthropic uses for it)
    sleep-MS          sleep MS ms before answering (watching for the client to leave)
    stall-after-N     stream N text deltas, then send nothing until the client leaves
                      (unstreamed: the headers and half of the body, then stall)
    close-after-N     stream N text deltas, then close the connection (unstreamed: close
                      without answering)
    error-after-N     stream N text deltas, then `event: error` overloaded_error, and end
                      (unstreamed: 529 overloaded_error)
    reset-after-N     stream N text deltas, then reset the connection (SO_LINGER 0 and close:
                      the client sees a TCP RST, no FIN); unstreamed: the headers and half of
                      the body, then the reset (stall-/reset-after-N with N >= the text deltas:
                      all of them, then the stall / reset, before the tool_use blocks)
  fault injection (for retry / fallback tests; see mockserve.py):
    first-N           the failure options (status-NNN, sleep-MS, stall-/close-/error-/
                      reset-after-N) apply only to the first N calls of /v1/messages with this
                      exact model string since the start or POST /_mock/reset; later calls
                      answer normally (same content, no fault)
    every-N           the failure options apply only to calls 1, N+1, 2N+1, ... of this model
                      string (status-529+every-2 fails every other call, the first included);
                      with first-M as well, both must hold
    retry-S           status-429: retry-after: S (and the anthropic-ratelimit-*-reset times
                      S s ahead) instead of 7; status-529 and status-503: also send
                      retry-after: S (without retry-S, none)
With a *-after-N option and no words-N-D, the answer is N+10 words, 50 ms apart. Calls are
counted (GET /_mock/calls) when a /v1/messages request passes the key, version and JSON checks
above, before its sleep- and status- options; count_tokens calls are not counted.

The answer is cut at the first of stop_sequences it contains (stop_reason stop_sequence,
stop_sequence set) and to max_tokens words (stop_reason max_tokens). Usage: input_tokens =
max(1, prompt characters // 4) (system, text, tool inputs and results; cache figures apart);
output_tokens = the words of text and thinking, plus 10 per tool_use block. message_start
carries output_tokens 1; message_delta the cumulative total. Every answer carries
`request-id: req_...`, the same id as an error body's request_id.

Introspection (no auth):
    GET  /_mock/requests   JSON list of {seq, time, method, path, headers, body, raw_body}
    GET  /_mock/streams    JSON list of {seq, model, stream, request_id, events, chunks_sent,
                           total_chunks, aborted, aborted_at, started_at, headers_sent_at,
                           finished_at, completed, send_times} (chunks = text deltas;
                           events = the event names sent, in order)
    GET  /_mock/calls      JSON {model string: number of /v1/messages calls}
    POST /_mock/reset      clears both lists and the call counters
"""

import datetime
import json
import re
import time
import uuid
from urllib.parse import unquote

import mockserve
from google_oauth_mock import valid_token
from mockserve import now, split_words

# the flags Claude on Vertex takes (some: enough to tell a filtered header from a raw one)
VERTEX_BETAS = ("interleaved-thinking-2025-05-14", "context-1m-2025-08-07",
                "tool-search-tool-2025-10-19", "web-search-2025-03-05",
                "context-management-2025-06-27")

DEFAULT_KEY = "sk-ant-mock-KEY"
VERSION = "2023-06-01"

COUNT_KEYS = {"model", "messages", "system", "tools", "tool_choice", "thinking", "output_config",
              "output_format", "context_management", "mcp_servers", "cache_control"}
TOP_KEYS = {"model", "messages", "max_tokens", "system", "stop_sequences", "stream",
            "temperature", "top_p", "top_k", "tools", "tool_choice", "metadata", "thinking",
            "output_config", "service_tier", "cache_control", "container", "inference_geo",
            "mcp_servers", "context_management"}
BLOCK_TYPES = {"text", "image", "document", "tool_use", "tool_result", "thinking",
               "redacted_thinking"}
IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
               403: "permission_error", 404: "not_found_error", 413: "request_too_large",
               429: "rate_limit_error", 500: "api_error", 504: "timeout_error",
               529: "overloaded_error"}
ERROR_MESSAGES = {429: "Number of request tokens has exceeded your per-minute rate limit",
                  529: "Overloaded", 500: "Internal server error",
                  400: "prompt is too long: 210000 tokens > 200000 maximum",
                  401: "invalid x-api-key",
                  402: "Your credit balance is too low to access the Anthropic API.",
                  403: "Your API key does not have permission to use the specified resource.",
                  404: "The requested resource could not be found.",
                  413: "Request exceeds the maximum allowed number of bytes.",
                  504: "Request timed out."}

WEATHER_FRAGMENTS = ["", "{\"city\": ", "\"Par", "is\"}"]


class Invalid(Exception):
    """A 400 invalid_request_error with this message."""


def new_id(prefix, n=24):
    return prefix + uuid.uuid4().hex[:n]


# ---- options ------------------------------------------------------------------------------

def parse_model(model):
    """A dict of options from a model string like 'tools+cache+sleep-100'."""
    opt, rest = mockserve.parse_options(
        model, ("tools", "thinking", "redacted", "cache", "maxtokens", "multidelta", "ping",
                "nonobject"),
        ("stall", "close", "error"))
    opt["keepalive"] = None
    for tok in rest:
        m = re.fullmatch(r"keepalive-(\d+)-(\d+)", tok)
        if m:
            opt["keepalive"] = (int(m.group(1)), int(m.group(2)))
    # "echo", "strict-sampling" and anything unknown: nothing more
    opt["strict"] = isinstance(model, str) and "strict-sampling" in model
    return opt


# ---- validation -----------------------------------------------------------------------------

def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_keys(obj, allowed, where):
    for k in obj:
        if k not in allowed:
            raise Invalid("%s%s: Extra inputs are not permitted" % (where, k))


def check_cache_control(b, where):
    cc = b.get("cache_control")
    if cc is None:
        return
    if not isinstance(cc, dict) or cc.get("type") != "ephemeral" or \
            cc.get("ttl", "5m") not in ("5m", "1h"):
        raise Invalid("%s.cache_control: Input should be {\"type\": \"ephemeral\"}" % where)


def check_text_block(b, where):
    check_keys(b, {"type", "text", "cache_control", "citations"}, where + ".")
    if not isinstance(b.get("text"), str):
        raise Invalid("%s.text: Field required" % where)
    if b["text"] == "":
        raise Invalid("%s: text content blocks must be non-empty" % where)
    check_cache_control(b, where)


def check_source(src, where, media_types):
    if not isinstance(src, dict):
        raise Invalid("%s.source: Field required" % where)
    if src.get("type") == "base64":
        if src.get("media_type") not in media_types:
            raise Invalid("%s.source.media_type: Input should be %s" %
                          (where, " or ".join("'%s'" % m for m in sorted(media_types))))
        if not isinstance(src.get("data"), str) or not src["data"]:
            raise Invalid("%s.source.data: Field required" % where)
    elif src.get("type") == "url":
        if not isinstance(src.get("url"), str) or \
                not src["url"].startswith(("https://", "http://")):
            raise Invalid("%s.source.url: Input should be a valid URL" % where)
    else:
        raise Invalid("%s.source.type: Input tag '%s' found using 'type' does not match any of "
                      "the expected tags: 'base64', 'url'" % (where, src.get("type")))


def check_tool_id(v, where):
    """A tool_use id (and a tool_result's tool_use_id), as Anthropic's schema takes it."""
    if not re.fullmatch(r"[a-zA-Z0-9_-]+", v):
        raise Invalid("%s: String should match pattern '^[a-zA-Z0-9_-]+$'" % where)


def check_block(b, role, where):
    if not isinstance(b, dict):
        raise Invalid("%s: Input should be a valid dictionary" % where)
    t = b.get("type")
    if t not in BLOCK_TYPES:
        raise Invalid("%s.type: Input tag '%s' found using 'type' does not match any of the "
                      "expected tags" % (where, t))
    if t == "text":
        check_text_block(b, where)
    elif t == "image":
        check_source(b.get("source"), where, IMAGE_TYPES)
        check_cache_control(b, where)
    elif t == "document":
        check_source(b.get("source"), where, {"application/pdf", "text/plain"})
        check_cache_control(b, where)
    elif t == "tool_use":
        if role != "assistant":
            raise Invalid("%s: tool_use blocks are only allowed in assistant messages" % where)
        check_keys(b, {"type", "id", "name", "input", "cache_control"}, where + ".")
        for k in ("id", "name"):
            if not isinstance(b.get(k), str) or not b[k]:
                raise Invalid("%s.%s: Field required" % (where, k))
        check_tool_id(b["id"], where + ".id")
        if not isinstance(b.get("input"), dict):
            raise Invalid("%s.input: Input should be a valid dictionary" % where)
    elif t == "tool_result":
        if role != "user":
            raise Invalid("%s: tool_result blocks are only allowed in user messages" % where)
        check_keys(b, {"type", "tool_use_id", "content", "is_error", "cache_control"}, where + ".")
        if not isinstance(b.get("tool_use_id"), str) or not b["tool_use_id"]:
            raise Invalid("%s.tool_use_id: Field required" % where)
        check_tool_id(b["tool_use_id"], where + ".tool_use_id")
        c = b.get("content")
        if isinstance(c, list):
            for k, sub in enumerate(c):
                w = "%s.content.%d" % (where, k)
                if not isinstance(sub, dict) or sub.get("type") not in ("text", "image"):
                    raise Invalid("%s.type: Input should be 'text' or 'image'" % w)
                if sub["type"] == "text":
                    check_text_block(sub, w)
                else:
                    check_source(sub.get("source"), w, IMAGE_TYPES)
        elif c is not None and not isinstance(c, str):
            raise Invalid("%s.content: Input should be a valid string or list" % where)
        if "is_error" in b and not isinstance(b["is_error"], bool):
            raise Invalid("%s.is_error: Input should be a valid boolean" % where)
    elif t in ("thinking", "redacted_thinking"):
        if role != "assistant":
            raise Invalid("%s: thinking blocks are only allowed in assistant messages" % where)
        need = ("thinking", "signature") if t == "thinking" else ("data",)
        for k in need:
            if not isinstance(b.get(k), str):
                raise Invalid("%s.%s: Field required" % (where, k))


def blocks_of(content):
    """A message's content as a list of blocks (a string is one text block)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return content


def check_messages(body, thinking_on):
    msgs = body.get("messages")
    if "messages" not in body:
        raise Invalid("messages: Field required")
    if not isinstance(msgs, list):
        raise Invalid("messages: Input should be a valid list")
    if not msgs:
        raise Invalid("messages: at least one message is required")
    for i, m in enumerate(msgs):
        where = "messages.%d" % i
        if not isinstance(m, dict):
            raise Invalid("%s: Input should be a valid dictionary" % where)
        check_keys(m, {"role", "content"}, where + ".")
        if m.get("role") not in ("user", "assistant"):
            raise Invalid("%s.role: Input should be 'user' or 'assistant'" % where)
        c = m.get("content")
        if "content" not in m:
            raise Invalid("%s.content: Field required" % where)
        if isinstance(c, list):
            for k, b in enumerate(c):
                check_block(b, m["role"], "%s.content.%d" % (where, k))
        elif not isinstance(c, str):
            raise Invalid("%s.content: Input should be a valid string or list" % where)
        final = i == len(msgs) - 1
        if (c == "" or c == []) and not (final and m["role"] == "assistant"):
            raise Invalid("%s: all messages must have non-empty content except for the "
                          "optional final assistant message" % where)

    # the API merges consecutive turns of one role; the pairing rules apply to the merged turns
    turns = []  # [role, blocks, index of the first message]
    for i, m in enumerate(msgs):
        if turns and turns[-1][0] == m["role"]:
            turns[-1][1].extend(blocks_of(m["content"]))
        else:
            turns.append([m["role"], list(blocks_of(m["content"])), i])
    for j, (role, blocks, first) in enumerate(turns):
        where = "messages.%d" % first
        if role == "assistant":
            ids = [b["id"] for b in blocks if b.get("type") == "tool_use"]
            if not ids:
                continue
            nxt = turns[j + 1] if j + 1 < len(turns) else None
            answered = {b.get("tool_use_id") for b in nxt[1]
                        if b.get("type") == "tool_result"} if nxt else set()
            missing = [x for x in ids if x not in answered]
            if missing:
                raise Invalid("%s: `tool_use` ids were found without `tool_result` blocks "
                              "immediately after: %s. Each `tool_use` block must have a "
                              "corresponding `tool_result` block in the next message."
                              % (where, ", ".join(missing)))
        else:
            prev = turns[j - 1] if j > 0 else None
            used = {b.get("id") for b in prev[1] if b.get("type") == "tool_use"} if prev else set()
            seen_other = False
            for k, b in enumerate(blocks):
                if b.get("type") != "tool_result":
                    seen_other = True
                    continue
                if seen_other:
                    raise Invalid("%s.content.%d: `tool_result` blocks must come first in the "
                                  "user message, before any other content" % (where, k))
                if b.get("tool_use_id") not in used:
                    raise Invalid("%s.content.%d: unexpected `tool_use_id` found in "
                                  "`tool_result` blocks: %s. Each `tool_result` block must "
                                  "have a corresponding `tool_use` block in the previous "
                                  "message." % (where, k, b.get("tool_use_id")))
    role, blocks, first = turns[-1]
    if role == "assistant" and blocks:
        last = blocks[-1]
        if last.get("type") == "text" and last.get("text", "") != last.get("text", "").rstrip():
            raise Invalid("messages: final assistant content cannot end with trailing "
                          "whitespace")
    if thinking_on:
        last_asst = [t for t in turns if t[0] == "assistant"]
        if last_asst:
            role, blocks, first = last_asst[-1]
            if any(b.get("type") == "tool_use" for b in blocks) and \
                    blocks[0].get("type") not in ("thinking", "redacted_thinking"):
                raise Invalid("messages.%d.content.0.type: Expected `thinking` or "
                              "`redacted_thinking`, but found `%s`. When `thinking` is enabled, "
                              "a final `assistant` message must start with a thinking block "
                              "(preceeding the lastmost set of `tool_use` and `tool_result` "
                              "blocks)." % (first, blocks[0].get("type")))
    return turns


def check_body(body, opt, count_only=False):
    """Raises Invalid for what Anthropic would refuse with 400."""
    if not isinstance(body, dict):
        raise Invalid("Input should be a valid dictionary")
    check_keys(body, COUNT_KEYS if count_only else TOP_KEYS, "")
    if not isinstance(body.get("model"), str):
        raise Invalid("model: Field required")
    if not count_only:
        if "max_tokens" not in body:
            raise Invalid("max_tokens: Field required")
        if not is_int(body["max_tokens"]):
            raise Invalid("max_tokens: Input should be a valid integer")
        if body["max_tokens"] < 0:
            raise Invalid("max_tokens: Input should be greater than or equal to 0")

    th = body.get("thinking")
    thinking_on = False
    if th is not None:
        if not isinstance(th, dict) or th.get("type") not in ("enabled", "adaptive", "disabled"):
            raise Invalid("thinking.type: Input should be 'enabled', 'adaptive' or 'disabled'")
        if th["type"] == "enabled":
            bt = th.get("budget_tokens")
            if not is_int(bt) or bt < 1024:
                raise Invalid("thinking.enabled.budget_tokens: Input should be greater than or "
                              "equal to 1024")
            if not count_only and bt >= body["max_tokens"]:
                raise Invalid("`max_tokens` must be greater than `thinking.budget_tokens`. "
                              "Please consult our documentation at "
                              "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
                              "#max-tokens-and-context-window-size")
        thinking_on = th["type"] != "disabled"

    check_messages(body, thinking_on)

    system = body.get("system")
    if isinstance(system, list):
        for k, b in enumerate(system):
            if not isinstance(b, dict) or b.get("type") != "text":
                raise Invalid("system.%d.type: Input should be 'text'" % k)
            check_text_block(b, "system.%d" % k)
    elif system is not None and not isinstance(system, str):
        raise Invalid("system: Input should be a valid string or list")

    for name, hi in (("temperature", 1), ("top_p", 1)):
        v = body.get(name)
        if v is None:
            continue
        if not is_num(v):
            raise Invalid("%s: Input should be a valid number" % name)
        if v < 0:
            raise Invalid("%s: Input should be greater than or equal to 0" % name)
        if v > hi:
            raise Invalid("%s: Input should be less than or equal to %d" % (name, hi))
    if body.get("top_k") is not None:
        if not is_int(body["top_k"]) or body["top_k"] < 0:
            raise Invalid("top_k: Input should be a valid integer greater than or equal to 0")
    if opt["strict"]:
        if body.get("temperature") is not None and body["temperature"] != 1:
            raise Invalid("temperature: this model only supports the default temperature (1.0)")
        if body.get("top_p") is not None and body["top_p"] < 0.99:
            raise Invalid("top_p: this model only supports top_p >= 0.99")
        if body.get("top_k") is not None:
            raise Invalid("top_k: this model does not support top_k")
    if thinking_on:
        if body.get("temperature") is not None and body["temperature"] != 1:
            raise Invalid("`temperature` may only be set to 1 when thinking is enabled. Please "
                          "consult our documentation at https://docs.claude.com/en/docs/"
                          "build-with-claude/extended-thinking#feature-compatibility")
        if body.get("top_p") is not None and body["top_p"] < 0.95:
            raise Invalid("`top_p` must be greater than or equal to 0.95 or unset when thinking "
                          "is enabled.")
        if body.get("top_k") is not None:
            raise Invalid("`top_k` must be unset when thinking is enabled.")

    ss = body.get("stop_sequences")
    if ss is not None:
        if not isinstance(ss, list) or not all(isinstance(s, str) for s in ss):
            raise Invalid("stop_sequences: Input should be a valid list of strings")
        for s in ss:
            if not s.strip():
                raise Invalid("stop_sequences: each stop sequence must contain non-whitespace")

    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise Invalid("tools: Input should be a valid list")
        for k, t in enumerate(tools):
            where = "tools.%d" % k
            if not isinstance(t, dict):
                raise Invalid("%s: Input should be a valid dictionary" % where)
            if t.get("type") not in (None, "custom"):
                continue  # a server tool (web_search_..., ...): not checked here
            check_keys(t, {"type", "name", "description", "input_schema", "cache_control",
                           "strict"}, where + ".")
            if not isinstance(t.get("name"), str) or \
                    not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", t["name"]):
                raise Invalid("%s.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'"
                              % where)
            sch = t.get("input_schema")
            if not isinstance(sch, dict):
                raise Invalid("%s.input_schema: Field required" % where)
            if sch.get("type") != "object":
                raise Invalid("%s.input_schema.type: Input should be 'object'" % where)
            if "description" in t and not isinstance(t["description"], str):
                raise Invalid("%s.description: Input should be a valid string" % where)

    tc = body.get("tool_choice")
    if tc is not None:
        if not isinstance(tc, dict) or tc.get("type") not in ("auto", "any", "tool", "none"):
            raise Invalid("tool_choice: Input tag '%s' found using 'type' does not match any of "
                          "the expected tags: 'auto', 'any', 'tool', 'none'"
                          % (tc.get("type") if isinstance(tc, dict) else tc))
        allowed = {"type", "disable_parallel_tool_use"}
        if tc["type"] == "tool":
            allowed.add("name")
            if not isinstance(tc.get("name"), str):
                raise Invalid("tool_choice.tool.name: Field required")
        if tc["type"] == "none":
            allowed = {"type"}
        check_keys(tc, allowed, "tool_choice.%s." % tc["type"])
        if "disable_parallel_tool_use" in tc and not isinstance(tc["disable_parallel_tool_use"],
                                                                bool):
            raise Invalid("tool_choice.%s.disable_parallel_tool_use: Input should be a valid "
                          "boolean" % tc["type"])
        if thinking_on and tc["type"] in ("any", "tool"):
            raise Invalid("Thinking may not be enabled when tool_choice forces tool use.")

    md = body.get("metadata")
    if md is not None:
        if not isinstance(md, dict):
            raise Invalid("metadata: Input should be a valid dictionary")
        check_keys(md, {"user_id"}, "metadata.")
        if md.get("user_id") is not None and (not isinstance(md["user_id"], str) or
                                              len(md["user_id"]) > 256):
            raise Invalid("metadata.user_id: String should have at most 256 characters")

    oc = body.get("output_config")
    if oc is not None:
        if not isinstance(oc, dict):
            raise Invalid("output_config: Input should be a valid dictionary")
        check_keys(oc, {"effort", "format"}, "output_config.")
        fmt = oc.get("format")
        if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or
                                not isinstance(fmt.get("schema"), dict)):
            raise Invalid("output_config.format: Input should be {\"type\": \"json_schema\", "
                          "\"schema\": {...}}")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise Invalid("stream: Input should be a valid boolean")


# ---- answers ------------------------------------------------------------------------------

def block_text(b):
    """The text a block carries, for echo and for counting input."""
    t = b.get("type")
    if t == "text":
        return b.get("text", "")
    if t == "tool_result":
        c = b.get("content")
        if isinstance(c, str):
            return c
        if isinstance(c, list):
            return "".join(s.get("text", "") for s in c if isinstance(s, dict))
    if t == "tool_use":
        return json.dumps(b.get("input"))
    return ""


def echo_text(body):
    for m in reversed(body["messages"]):
        if m["role"] != "user":
            continue
        blocks = blocks_of(m["content"])
        text = "".join(b["text"] for b in blocks if b.get("type") == "text")
        if not text:
            text = " ".join(block_text(b) for b in blocks if b.get("type") == "tool_result")
        return text
    return ""


def prompt_chars(body):
    n = 0
    system = body.get("system")
    if isinstance(system, str):
        n += len(system)
    elif isinstance(system, list):
        n += sum(len(b.get("text", "")) for b in system)
    for m in body["messages"]:
        n += sum(len(block_text(b)) for b in blocks_of(m["content"]))
    return n


def plan(body, opt):
    """What to answer: {thinking: [pieces], text: [pieces], tools: [...], stop_reason,
    stop_sequence, usage}."""
    if opt["tools"]:
        text = "Let me check."
    elif opt["mode"] == "words":
        text = " ".join("w%d" % (i + 1) for i in range(opt["n"]))
    else:
        text = echo_text(body)
    stop_reason = "tool_use" if opt["tools"] else "end_turn"
    stop_sequence = None
    cut = None
    for s in body.get("stop_sequences") or []:
        at = text.find(s)
        if at >= 0 and (cut is None or at < cut[0]):
            cut = (at, s)
    if cut is not None:
        text = text[:cut[0]]
        stop_reason, stop_sequence = "stop_sequence", cut[1]
    pieces = split_words(text)
    thinking = split_words("Let me think about this step by step.") if opt["thinking"] else []
    tools = []
    if opt["tools"] and stop_reason == "tool_use":
        tools = [{"id": new_id("toolu_mock_"), "name": "get_weather",
                  "input": {"city": "Paris"}, "fragments": WEATHER_FRAGMENTS},
                 {"id": new_id("toolu_mock_"), "name": "get_time", "input": {},
                  "fragments": []}]
    max_tokens = body.get("max_tokens")
    if is_int(max_tokens) and len(thinking) + len(pieces) > max_tokens:
        keep = max(0, max_tokens - len(thinking))
        pieces = pieces[:keep]
        tools = []
        stop_reason, stop_sequence = "max_tokens", None
    if opt["maxtokens"]:
        tools = []
        stop_reason, stop_sequence = "max_tokens", None
    usage = {"input_tokens": max(1, prompt_chars(body) // 4),
             "cache_creation_input_tokens": 100 if opt["cache"] else 0,
             "cache_read_input_tokens": 200 if opt["cache"] else 0,
             "output_tokens": len(thinking) + len(pieces) + 10 * len(tools)}
    return {"thinking": thinking, "redacted": opt["redacted"], "text": pieces, "tools": tools,
            "stop_reason": stop_reason, "stop_sequence": stop_sequence, "usage": usage}


def full_usage(u):
    return dict(u, cache_creation={"ephemeral_5m_input_tokens": u["cache_creation_input_tokens"],
                                   "ephemeral_1h_input_tokens": 0},
                service_tier="standard")


SIGNATURE = "EqQBCkYIBxgCKkBtb2NrLXNpZ25hdHVyZQ=="
REDACTED_DATA = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"


def message_object(body, p, msg_id):
    content = []
    if p["thinking"]:
        content.append({"type": "thinking", "thinking": "".join(p["thinking"]),
                        "signature": SIGNATURE})
    if p.get("redacted"):
        content.append({"type": "redacted_thinking", "data": REDACTED_DATA})
    if p["text"] or not p["tools"]:
        content.append({"type": "text", "text": "".join(p["text"])})
    for t in p["tools"]:
        content.append({"type": "tool_use", "id": t["id"], "name": t["name"],
                        "input": t["input"]})
    return {"id": msg_id, "type": "message", "role": "assistant", "model": body["model"],
            "content": content, "stop_reason": p["stop_reason"],
            "stop_sequence": p["stop_sequence"], "usage": full_usage(p["usage"])}


def rfc3339(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def error_headers(status, retry_s=None):
    """The headers of a status-NNN answer; retry_s: the retry-S option (None: absent; 429
    then says 7 s and 503 / 529 send no retry-after)."""
    ra = mockserve.DEFAULT_RETRY_S if retry_s is None else retry_s
    if status in (503, 529) and retry_s is not None:
        return [("retry-after", str(ra))]
    if status != 429:
        return []
    reset = rfc3339(now() + ra)
    hdrs = [("retry-after", str(ra))]
    for kind, limit in (("requests", "50"), ("tokens", "80000"), ("input-tokens", "40000"),
                        ("output-tokens", "8000")):
        hdrs += [("anthropic-ratelimit-%s-limit" % kind, limit),
                 ("anthropic-ratelimit-%s-remaining" % kind,
                  "0" if kind == "requests" else limit),
                 ("anthropic-ratelimit-%s-reset" % kind, reset)]
    return hdrs


# ---- HTTP ---------------------------------------------------------------------------------

class Handler(mockserve.MockHandler):
    server_version = "anthropic-mock/1.0"
    log_name = "anthropic_mock"

    # ---- plumbing ---------------------------------------------------------------------

    def send_json(self, status, obj, extra=(), request_id=None):
        if request_id:
            extra = [("request-id", request_id)] + list(extra)
        self.send_bytes(status, json.dumps(obj).encode(), extra=extra)

    def send_error_body(self, status, etype, message, request_id, extra=()):
        self.send_json(status, {"type": "error", "error": {"type": etype, "message": message},
                                "request_id": request_id}, extra=extra, request_id=request_id)

    # ---- routes -----------------------------------------------------------------------

    def do_GET(self):
        path = self.path.split("?")[0]
        self.record(b"")
        if self.introspect(path):
            return None
        if path == "/health":
            return self.send_json(200, {"status": "ok"})
        rid = new_id("req_mock_")
        if path == "/v1/models":
            if not self.authorized():
                return self.send_error_body(401, "authentication_error", "invalid x-api-key",
                                            rid)
            models = [{"type": "model", "id": m, "display_name": m,
                       "created_at": "2025-01-01T00:00:00Z"}
                      for m in ("echo", "tools", "thinking+cache")]
            return self.send_json(200, {"data": models, "has_more": False,
                                        "first_id": models[0]["id"],
                                        "last_id": models[-1]["id"]}, request_id=rid)
        return self.send_error_body(404, "not_found_error", "Not found", rid)

    def vertex(self, v, rec, rid):
        """Claude on Vertex AI (v: the path's match)."""
        project, model, method = v.group(1), unquote(v.group(2)), v.group(3)
        # a copy: the record keeps the body as it came
        body = dict(rec["body"]) if isinstance(rec["body"], dict) else rec["body"]
        if method not in ("rawPredict", "streamRawPredict"):
            return self.send_error_body(404, "not_found_error", "Not found", rid)
        if not valid_token(self.server.vertex_secret, self.headers.get("Authorization")) or \
                self.headers.get("x-api-key") is not None:
            return self.send_json(401, [{"error": {
                "code": 401, "status": "UNAUTHENTICATED",
                "message": "Request had invalid authentication credentials. Expected OAuth 2 "
                           "access token, login cookie or other valid authentication "
                           "credential."}}])
        if project == "other-proj":
            return self.send_json(403, [{"error": {
                "code": 403, "status": "PERMISSION_DENIED",
                "message": "Vertex AI API has not been used in project other-proj before or it "
                           "is disabled."}}])
        beta = [b.strip() for b in (self.headers.get("anthropic-beta") or "").split(",")
                if b.strip()]
        taken = () if model == "count-tokens" else VERTEX_BETAS
        if any(b not in taken for b in beta):
            return self.send_error_body(
                400, "invalid_request_error", "Unexpected value(s) %s for the `anthropic-beta` "
                "header. Please consult our documentation at docs.anthropic.com or try again "
                "without the header." % ", ".join("`%s`" % b for b in beta if b not in taken),
                rid)
        if not isinstance(body, dict):
            return self.send_error_body(400, "invalid_request_error", "not a JSON object", rid)
        if body.pop("anthropic_version", None) != "vertex-2023-10-16":
            return self.send_error_body(400, "invalid_request_error",
                                        "anthropic_version: vertex-2023-10-16 is required", rid)
        if model == "count-tokens":
            if not isinstance(body.get("model"), str):
                return self.send_error_body(400, "invalid_request_error",
                                            "model: Field required", rid)
            return self.count_tokens(body, parse_model(body["model"]), rid)
        if "model" in body:
            return self.send_error_body(400, "invalid_request_error",
                                        "model: Extra inputs are not permitted", rid)
        if bool(body.get("stream")) != (method == "streamRawPredict"):
            return self.send_error_body(400, "invalid_request_error",
                                        "stream must be true for streamRawPredict only", rid)
        body["model"] = model
        return self.messages(body, parse_model(model), rec, rid)

    def do_POST(self):
        path = self.path.split("?")[0]
        raw = self.read_body()
        if self.introspect(path):
            return None
        rec = self.record(raw)
        rid = new_id("req_mock_")
        v = re.fullmatch(r"/v1/projects/([a-z0-9-]+)/locations/[a-z0-9-]+/publishers/anthropic/"
                         r"models/([^:/]+):([A-Za-z]+)", path)
        if v and self.server.vertex_secret:
            return self.vertex(v, rec, rid)
        if path not in ("/v1/messages", "/v1/messages/count_tokens"):
            return self.send_error_body(404, "not_found_error", "Not found", rid)
        if not self.authorized():
            return self.send_error_body(401, "authentication_error", "invalid x-api-key", rid)
        version = self.headers.get("anthropic-version")
        if version is None:
            return self.send_error_body(400, "invalid_request_error",
                                        "anthropic-version: header is required", rid)
        if version != VERSION:
            return self.send_error_body(400, "invalid_request_error",
                                        "anthropic-version: invalid version %s" % version[:40],
                                        rid)
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return self.send_error_body(400, "invalid_request_error",
                                        "Content-Type must be application/json", rid)
        body = rec["body"]
        if not isinstance(body, dict):
            return self.send_error_body(400, "invalid_request_error",
                                        "There was an error parsing the body of your request: "
                                        "it is not a JSON object", rid)
        opt = parse_model(body.get("model"))
        if path.endswith("/count_tokens"):
            return self.count_tokens(body, opt, rid)
        self.messages(body, opt, rec, rid)

    def count_tokens(self, body, opt, rid):
        try:
            self.pause(opt["sleep_ms"] / 1000.0)
        except mockserve.ClientGone:
            return None
        if opt["status"]:
            st = opt["status"]
            return self.send_error_body(st, ERROR_TYPES.get(st, "api_error"),
                                        ERROR_MESSAGES.get(st, "Error %d" % st), rid,
                                        extra=error_headers(st, opt["retry_s"]))
        try:
            check_body(body, opt, count_only=True)
        except Invalid as e:
            return self.send_error_body(400, "invalid_request_error", str(e), rid)
        n = max(1, prompt_chars(body) // 4) + 10 * len(body.get("tools") or [])
        return self.send_json(200, {"input_tokens": n}, request_id=rid)

    def do_PUT(self):
        self.record(self.read_body())
        self.send_error_body(405, "invalid_request_error", "Method not allowed",
                             new_id("req_mock_"))

    do_DELETE = do_PUT

    def authorized(self):
        key = self.headers.get("x-api-key")
        if key is None:
            auth = self.headers.get("Authorization") or ""
            if auth.startswith("Bearer "):
                key = auth[7:]
        return key == self.server.key

    # ---- messages ---------------------------------------------------------------------

    def messages(self, body, opt, rec, rid):
        stream = body.get("stream") is True
        opt = self.call_options(body.get("model"), opt)   # first-N / every-N, /_mock/calls
        with self.answering(rec["seq"], model=body.get("model"), stream=stream,
                            request_id=rid, events=[]) as srec:
            self.pause(opt["sleep_ms"] / 1000.0)
            if opt["status"]:
                st = opt["status"]
                srec["headers_sent_at"] = now()
                self.send_error_body(st, ERROR_TYPES.get(st, "api_error"),
                                     ERROR_MESSAGES.get(st, "Error %d" % st), rid,
                                     extra=error_headers(st, opt["retry_s"]))
                srec["completed"] = True
                return
            try:
                check_body(body, opt)
            except Invalid as e:
                srec["headers_sent_at"] = now()
                self.send_error_body(400, "invalid_request_error", str(e), rid)
                srec["completed"] = True
                return
            p = plan(body, opt)
            srec["total_chunks"] = len(p["text"])
            if stream:
                self.messages_stream(body, opt, p, srec, rid)
            else:
                self.messages_unary(body, opt, p, srec, rid)

    def messages_unary(self, body, opt, p, srec, rid):
        if opt["error_after"] is not None:
            srec["headers_sent_at"] = now()
            self.send_error_body(529, "overloaded_error", "Overloaded", rid)
            srec["completed"] = True
            return
        if opt["close_after"] is not None:
            self.hang_up()
            return
        msg = message_object(body, p, new_id("msg_mock_"))
        data = json.dumps(msg).encode()
        if opt["stall_after"] is not None:
            self.send_half_and_stall(srec, data, extra=[("request-id", rid)])
        if opt["reset_after"] is not None:
            self.send_half_and_reset(srec, data, extra=[("request-id", rid)])
            return
        srec["headers_sent_at"] = now()
        self.send_json(200, msg, request_id=rid,
                       extra=[("anthropic-organization-id", "org-mock")])
        srec["chunks_sent"] = len(p["text"])
        srec["send_times"].append(now())
        srec["completed"] = True

    def messages_stream(self, body, opt, p, srec, rid):
        self.start_stream(srec, "text/event-stream; charset=utf-8",
                          [("Cache-Control", "no-cache"), ("request-id", rid),
                           ("anthropic-organization-id", "org-mock"),
                           ("Transfer-Encoding", "chunked")])
        delay = opt["delay_ms"] / 1000.0
        first = [True]

        def event(name, data):
            if opt["ping"] and not first[0]:
                send("ping", {"type": "ping"})
            first[0] = False
            send(name, data)

        def send(name, data):
            self.check_peer()
            self.write_chunk(("event: %s\ndata: %s\n\n" % (name, json.dumps(data))).encode())
            srec["events"].append(name)

        if opt["keepalive"]:
            every, during = opt["keepalive"]
            end = time.monotonic() + during / 1000.0
            while time.monotonic() < end:
                send("ping", {"type": "ping"})
                self.pause(min(every / 1000.0, max(0.0, end - time.monotonic())))
        u = p["usage"]
        start = message_object(body, dict(p, thinking=[], redacted=False, text=[], tools=[]),
                               new_id("msg_mock_"))
        start.update(content=[], stop_reason=None, stop_sequence=None,
                     usage=full_usage(dict(u, output_tokens=1)))
        event("message_start", {"type": "message_start", "message": start})
        index = 0
        if p["thinking"]:
            event("content_block_start", {"type": "content_block_start", "index": index,
                                          "content_block": {"type": "thinking",
                                                            "thinking": ""}})
            for piece in p["thinking"]:
                event("content_block_delta", {"type": "content_block_delta", "index": index,
                                              "delta": {"type": "thinking_delta",
                                                        "thinking": piece}})
            event("content_block_delta", {"type": "content_block_delta", "index": index,
                                          "delta": {"type": "signature_delta",
                                                    "signature": SIGNATURE}})
            event("content_block_stop", {"type": "content_block_stop", "index": index})
            index += 1
        if p["redacted"]:
            event("content_block_start", {"type": "content_block_start", "index": index,
                                          "content_block": {"type": "redacted_thinking",
                                                            "data": REDACTED_DATA}})
            event("content_block_stop", {"type": "content_block_stop", "index": index})
            index += 1
        if p["text"] or not p["tools"]:
            event("content_block_start", {"type": "content_block_start", "index": index,
                                          "content_block": {"type": "text", "text": ""}})
            for i, piece in enumerate(p["text"]):
                if i > 0:
                    self.pause(delay)
                if opt["stall_after"] is not None and i >= opt["stall_after"]:
                    self.stall()
                if opt["close_after"] is not None and i >= opt["close_after"]:
                    self.hang_up()
                    return
                if opt["reset_after"] is not None and i >= opt["reset_after"]:
                    self.reset_connection()
                    return
                if opt["error_after"] is not None and i >= opt["error_after"]:
                    event("error", {"type": "error", "error": {"type": "overloaded_error",
                                                               "message": "Overloaded"}})
                    self.end_chunks()
                    srec["completed"] = True
                    return
                if opt["nonobject"] and i == 1:
                    junk = json.dumps({"type": "content_block_delta", "index": index,
                                       "delta": {"type": "text_delta", "text": "JUNK"}})
                    for payload in ("null", '"x"', "42", "[1]", junk + " trailing"):
                        self.check_peer()
                        self.write_chunk(("event: content_block_delta\ndata: %s\n\n"
                                          % payload).encode())
                event("content_block_delta", {"type": "content_block_delta", "index": index,
                                              "delta": {"type": "text_delta", "text": piece}})
                srec["chunks_sent"] += 1
                srec["send_times"].append(now())
            event("content_block_stop", {"type": "content_block_stop", "index": index})
            index += 1
        if opt["stall_after"] is not None and opt["stall_after"] >= len(p["text"]):
            self.stall()
        if opt["reset_after"] is not None and opt["reset_after"] >= len(p["text"]):
            self.reset_connection()
            return
        for t in p["tools"]:
            event("content_block_start", {"type": "content_block_start", "index": index,
                                          "content_block": {"type": "tool_use", "id": t["id"],
                                                            "name": t["name"], "input": {}}})
            for frag in t["fragments"]:
                event("content_block_delta", {"type": "content_block_delta", "index": index,
                                              "delta": {"type": "input_json_delta",
                                                        "partial_json": frag}})
            event("content_block_stop", {"type": "content_block_stop", "index": index})
            index += 1
        if opt["multidelta"]:
            event("message_delta", {"type": "message_delta",
                                    "delta": {"stop_reason": None, "stop_sequence": None},
                                    "usage": {"output_tokens": u["output_tokens"] // 2}})
        event("message_delta", {"type": "message_delta",
                                "delta": {"stop_reason": p["stop_reason"],
                                          "stop_sequence": p["stop_sequence"]},
                                "usage": {"output_tokens": u["output_tokens"]}})
        event("message_stop", {"type": "message_stop"})
        self.end_chunks()
        srec["completed"] = True


def main():
    def args(ap):
        ap.add_argument("--key", default=DEFAULT_KEY, help="the API key required")
        ap.add_argument("--vertex-secret", help="serve Vertex AI's routes (google_oauth_mock)")

    srv, a = mockserve.start(Handler, __doc__, args)
    srv.key = a.key
    srv.vertex_secret = a.vertex_secret
    mockserve.serve(srv, a, "anthropic_mock")


if __name__ == "__main__":
    main()
