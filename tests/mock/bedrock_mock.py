#!/usr/bin/env python3
"""A mock of AWS bedrock-runtime for the sllmp integration tests (standard library only).

    python3 tests/mock/bedrock_mock.py --port 0 --port-file /tmp/bedrock.port \\
        [--region us-east-1] [--access-key AKIDMOCK] [--secret-key mocksecret] \\
        [--session-token TOKEN] [--api-key KEY] [--max-skew 900] [--profile ID=MODEL ...]

Binds 127.0.0.1 only. HTTP/1.1 with keep-alive; streams are the binary AWS event stream
(application/vnd.amazon.eventstream) in Transfer-Encoding: chunked, one HTTP chunk per frame,
each flushed as it is written (TCP_NODELAY).

Every model request is authenticated as AWS does it, with this file's own SigV4 verifier
(service "bedrock", the --region, the --access-key / --secret-key pair; with --session-token,
x-amz-security-token must be present, signed and equal). The canonical URI is the wire path
with each segment URI-encoded once more (a model id's ':' arrives as %3A and is signed as
%253A). With --api-key, `Authorization: Bearer <key>` is accepted too (Bedrock API keys).
Failures are 403 with x-amzn-ErrorType UnrecognizedClientException (no or unknown
credentials) or InvalidSignatureException (a signature that does not match, a wrong scope, a
clock more than --max-skew seconds off; 0 turns the clock check off). Secrets are never echoed.

Endpoints (modelId is one URL-encoded path segment; an application inference profile's ARN,
arn:aws:bedrock:<region>:<12 digits>:application-inference-profile/<id>, answers as the model
given for it with --profile <id>=<modelId>, an unknown one is a 400 ValidationException):
    POST /model/{modelId}/converse                     Converse
    POST /model/{modelId}/converse-stream              ConverseStream (event stream)
    POST /model/{modelId}/invoke                       InvokeModel: Anthropic Messages bodies
                                                       ("anthropic_version":"bedrock-2023-05-31",
                                                       no "model"), Titan and Cohere embeddings
    POST /model/{modelId}/invoke-with-response-stream  InvokeModelWithResponseStream (Anthropic):
                                                       frames with :event-type chunk and payload
                                                       {"bytes":"<base64 of one Anthropic event>"}
    POST /model/{modelId}/count-tokens                 CountTokens, for Anthropic models

CountTokens (AWS's API reference: CountTokens, CountTokensInput, InvokeModelTokensRequest): the
body is {"input": X}, X a union of exactly one of "invokeModel": {"body": <the InvokeModel
body, a blob: base64 in the JSON>} and "converse": {messages, system?, toolConfig?,
additionalModelRequestFields?}; the answer is 200 {"inputTokens": N}. modelId is a
FoundationModelVersionIdentifier: a foundation model's id, so an inference profile (a region
prefix, us.anthropic...) or an application inference profile's ARN is a 400 ValidationException
"The provided model doesn't support counting tokens.", as is a model that is not Anthropic's
(the mock counts for those only). An invokeModel body is checked as InvokeModel checks it for
Claude (anthropic_version, max_tokens required, the known keys, anthropic_beta's flags among
BEDROCK_BETAS; with thinking enabled,
max_tokens above budget_tokens); a converse input as Converse's messages. N =
max(1, (characters of json.dumps(messages) + of the system text) // 4) for invokeModel, the
Converse usage's inputTokens for converse. No behaviour option but status-, sleep- and
nocount applies.

Converse requests are validated as Bedrock does: only Converse's top-level keys, turns that
alternate starting with user, no blank (empty or whitespace-only) text for any model (the AWS
CLI shows it for Titan: langchain-aws #403), in a toolResult's content too, every toolUse
answered by a toolResult in the next turn, toolUseIds of 1 to 64 of [a-zA-Z0-9_-], a toolConfig
whenever toolUse / toolResult blocks appear,
toolConfig.tools with names given once and an inputSchema.json object (for Claude an object
schema, "type": "object"), a toolChoice.tool naming one of them, reasoningContent blocks only in
assistant turns and only as {"reasoningText":{"text","signature"?}} or {"redactedContent":
<base64>} (no other key). For Anthropic models (an id with "anthropic."), as Claude checks it:
a final assistant turn must not end in whitespace (aws-sdk-net #4015); a reasoningText block
must be signed, with the mock's own text and signature (anything else is "Invalid
signature"); additionalModelRequestFields.thinking is {"type":"enabled", "budget_tokens":
>= 1024} or {"type":"disabled"}, and with thinking enabled inferenceConfig needs maxTokens
above the budget, temperature only 1, topP unset or >= 0.95, no toolChoice forcing a tool, and
the last assistant turn, when it has toolUse, must start with a reasoningContent block. Other
models take no "thinking" there. Failures are 400 ValidationException.

Prompt caching, as far as AWS documents it: a {"cachePoint": {"type": "default", "ttl"?: "5m" |
"1h"}} block (CachePointBlock, API reference) is taken in system, in a turn's content and in
toolConfig.tools (the SystemContentBlock, ContentBlock and Tool unions have the member), and
refused inside a toolResult's content (ToolResultContentBlock has none) and with any other key.
Only models that cache take one: an Anthropic model anywhere, an Amazon Nova one ("amazon.nova"
in the id) in system and messages but not in toolConfig.tools (the user guide's table of
cacheable fields, prompt-caching.html); any other model answers 403 AccessDeniedException "You
invoked an unsupported model or your request did not allow prompt caching" (as reported in
LiteLLM #39210 and strands harness-sdk #1807). The words of the location errors are the
mock's. A request with cachePoints (without the cache option) reports its cached prefix, the
text and tool blocks before the last cachePoint in AWS's order (tools, system, messages),
as characters / 4 tokens (at least 1): cacheWriteInputTokens the first time the mock sees that
prefix, cacheReadInputTokens every time after (POST /_mock/reset forgets them); inputTokens is
the rest. The 1,024-token minimum and the limit of 4 points are not checked.

Errors carry x-amzn-ErrorType as bedrock-runtime sends it, with its namespace suffix
("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"; botocore splits
at ':'), and a {"message": ...} body. Every answer has an x-amzn-RequestId.

Behaviour is chosen by the modelId (URL-decoded), options joined with '+', e.g.
`anthropic.claude-mock-v1:0+tools+cache`. Tokens the mock does not know (the model name) are
ignored, so the name decides which model family answers:

    echo              answer = text of the last user turn (default); streamed one word a delta
    words-N-D         answer = N words "w1".."wN"; streamed N deltas, D ms apart
    tools             text "Let me check." then two toolUse blocks: get_weather {"city":"Paris"}
                      (input streamed in two deltas) and get_time, streamed without any input
                      delta; stopReason tool_use
    (toolChoice.tool) whatever the options, a Converse request whose toolConfig.toolChoice
                      forces a tool is answered with one call of it and no text, stopReason
                      tool_use (unless maxTokens cut the answer first): its input fills the
                      tool's inputSchema (strings are the last user turn's text, integers 42,
                      numbers 21.5, booleans true, an enum its first value; an object schema
                      without properties {"echo": text}), streamed in two deltas
    cache             usage cacheReadInputTokens 200, cacheWriteInputTokens 100
    reasoning         (Converse) a reasoningContent block first, as Claude gives it: unstreamed
                      {"reasoningText":{"text","signature"}}; streamed, a reasoningContent
                      {"text"} delta per word, then {"signature"}, then contentBlockStop; its
                      words count as output tokens
    status-429        429 ThrottlingException (x-amzn-ErrorType, {"message":...})
    status-400        400 ValidationException;  status-500: 500 InternalServerException
    status-503        503 ServiceUnavailableException; also 403, 404, 408, 424
    exception-after-N stream N text deltas, then an exception frame (:message-type exception,
                      :exception-type throttlingException, {"message":...}) and the end
    badcrc-after-N    stream N text deltas, then a frame whose message CRC is wrong
    stall-after-N     stream N text deltas, then send nothing until the client leaves
                      (N past the last delta: every frame, then no end of body;
                      unstreamed: the headers and half the body, then stall)
    sleep-MS          sleep MS ms before the response headers (watching for the client to leave)
    nocount           CountTokens answers 400 ValidationException "The provided model doesn't
                      support counting tokens." (as for a model it does not count); the other
                      operations answer as usual

inferenceConfig.maxTokens (Converse) and max_tokens (Anthropic) cut the answer to that many
words, with stopReason max_tokens. Embeddings: "amazon.titan-embed*" takes {"inputText",
"dimensions"?, "normalize"?} and answers {"embedding":[...],"inputTextTokenCount":N} with a
deterministic vector of `dimensions` floats (default 8); "cohere.embed*" takes {"texts":[...],
"input_type", "truncate"?} and answers {"embeddings":[[8 floats]...],"id","response_type",
"texts"}.

Introspection (no authentication):
    GET  /_mock/requests   JSON list of {seq, time, method, path, model_id, operation, auth,
                           headers, body, raw_body}; auth is "sigv4", "bearer" or why it failed
    GET  /_mock/streams    JSON list of {seq, model_id, operation, stream, frames_sent,
                           total_frames, aborted, aborted_at, started_at, headers_sent_at,
                           finished_at, completed, send_times}
    POST /_mock/reset      clears both lists
    GET  /health
"""

import base64
import calendar
import hashlib
import hmac
import json
import re
import struct
import threading
import time
import urllib.parse
import uuid
import zlib

import mockserve
from mockserve import now, split_words, word_pieces

ERROR_NS = ":http://internal.amazon.com/coral/com.amazon.bedrock/"

# status -> (x-amzn-ErrorType, message), as bedrock-runtime words them
ERRORS = {
    400: ("ValidationException", "Malformed input request, please reformat your input and "
          "try again."),
    403: ("AccessDeniedException", "You don't have access to the model with the specified "
          "model ID."),
    404: ("ResourceNotFoundException", "The requested resource could not be found."),
    408: ("ModelTimeoutException", "Model has timed out in processing the request."),
    424: ("ModelErrorException", "The model returned an error."),
    429: ("ThrottlingException", "Too many requests, please wait before trying again."),
    500: ("InternalServerException", "The server encountered an internal error while "
          "processing the request."),
    503: ("ServiceUnavailableException", "Bedrock is unable to process your request."),
}

CONVERSE_KEYS = {"messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig",
                 "additionalModelRequestFields", "additionalModelResponseFieldPaths",
                 "promptVariables", "requestMetadata", "performanceConfig"}
INFERENCE_KEYS = {"maxTokens", "temperature", "topP", "stopSequences"}
ANTHROPIC_KEYS = {"anthropic_version", "anthropic_beta", "messages", "system", "max_tokens",
                  "temperature", "top_p", "top_k", "stop_sequences", "tools", "tool_choice",
                  "metadata", "thinking"}
# some of the flags Claude on Bedrock takes in anthropic_beta; any other is "invalid beta flag"
# (as Bedrock answers Claude Code's first-party ones: QuantumNous/new-api issue 3041)
BEDROCK_BETAS = {"computer-use-2025-01-24", "context-1m-2025-08-07", "effort-2025-11-24",
                 "fine-grained-tool-streaming-2025-05-14", "tool-search-tool-2025-10-19",
                 "context-management-2025-06-27"}
TITAN_KEYS = {"inputText", "dimensions", "normalize", "embeddingTypes"}
COHERE_KEYS = {"texts", "input_type", "truncate", "embedding_types", "images"}


class Invalid(Exception):
    """A request Bedrock would answer with 400 ValidationException."""
    status, etype = 400, "ValidationException"


class NoCaching(Invalid):
    """A cachePoint for a model without prompt caching: Bedrock answers 403."""
    status, etype = 403, "AccessDeniedException"


CACHE_LOCK = threading.Lock()
CACHED = set()  # the prefixes written to the "cache" (sha256 of their blocks)


# ---- SigV4, written apart from the gateway's C --------------------------------------------

def aws_quote(s):
    """URI-encode the AWS way: unreserved A-Z a-z 0-9 - _ . ~ stay, the rest %XX uppercase."""
    return urllib.parse.quote(s, safe="-_.~")


def canonical_uri(raw_path):
    """The wire path with each segment encoded once more (every service but S3)."""
    return "/".join(aws_quote(seg) for seg in raw_path.split("/")) or "/"


def canonical_query(raw_query):
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        k, _, v = part.partition("=")
        pairs.append((aws_quote(urllib.parse.unquote(k)), aws_quote(urllib.parse.unquote(v))))
    return "&".join("%s=%s" % kv for kv in sorted(pairs))


def parse_authorization(value):
    """{'credential': [...5 parts], 'signed': [...], 'signature': hex} or None."""
    m = re.fullmatch(r"AWS4-HMAC-SHA256\s+(.*)", value.strip())
    if not m:
        return None
    fields = {}
    for item in m.group(1).split(","):
        k, _, v = item.strip().partition("=")
        fields[k] = v
    cred = fields.get("Credential", "").split("/")
    signed = fields.get("SignedHeaders", "")
    sig = fields.get("Signature", "")
    if len(cred) != 5 or not signed or not re.fullmatch(r"[0-9a-f]{64}", sig):
        return None
    return {"credential": cred, "signed": signed.split(";"), "signature": sig}


def expected_signature(secret, method, raw_path, raw_query, header_pairs, signed, body,
                       amz_date, scope):
    values = {}
    for k, v in header_pairs:
        values.setdefault(k.lower(), []).append(" ".join(v.split()))
    canon_headers = "".join("%s:%s\n" % (h, ",".join(values.get(h, []))) for h in signed)
    creq = "\n".join([method, canonical_uri(raw_path), canonical_query(raw_query),
                      canon_headers, ";".join(signed), hashlib.sha256(body).hexdigest()])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, "/".join(scope),
                     hashlib.sha256(creq.encode()).hexdigest()])
    key = ("AWS4" + secret).encode()
    for part in scope:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()


REASONING = "The user wants an echo."
SIGNATURE = "EqQBbW9jay1iZWRyb2NrLXNpZ25hdHVyZQ=="


# ---- model options ----------------------------------------------------------------------

def parse_model(model_id):
    opt, _ = mockserve.parse_options(model_id, ("tools", "cache", "reasoning", "nocount"),
                                     ("stall", "exception", "badcrc"))
    return opt


def pieces_for(opt, text):
    if opt["mode"] == "words":
        return word_pieces(opt["n"])
    return split_words(text)


def padding(i):
    """AWS pads some event payloads with a "p" key against length side channels."""
    return "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0"[: 3 + (i * 7) % 40]


def vector(text, dims, normalize):
    """A deterministic embedding of text."""
    out = []
    seed = text.encode()
    i = 0
    while len(out) < dims:
        h = hashlib.sha256(seed + struct.pack(">I", i)).digest()
        out.extend((b - 127.5) / 127.5 for b in h)
        i += 1
    out = out[:dims]
    if normalize:
        norm = sum(x * x for x in out) ** 0.5 or 1.0
        out = [x / norm for x in out]
    return [round(x, 6) for x in out]


# ---- the event stream -------------------------------------------------------------------

def frame(headers, payload, bad_crc=False):
    """One event-stream message; headers are (name, string value) pairs."""
    hb = b""
    for name, value in headers:
        n, v = name.encode(), value.encode()
        hb += bytes([len(n)]) + n + b"\x07" + struct.pack(">H", len(v)) + v
    total = 12 + len(hb) + len(payload) + 4
    prelude = struct.pack(">II", total, len(hb))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    msg = prelude + hb + payload
    crc = zlib.crc32(msg)
    if bad_crc:
        crc ^= 0xFFFFFFFF
    return msg + struct.pack(">I", crc)


def event_frame(event_type, obj, bad_crc=False):
    return frame([(":event-type", event_type), (":content-type", "application/json"),
                  (":message-type", "event")], json.dumps(obj).encode(), bad_crc)


def exception_frame(exception_type, message):
    return frame([(":exception-type", exception_type), (":content-type", "application/json"),
                  (":message-type", "exception")], json.dumps({"message": message}).encode())


# ---- request helpers --------------------------------------------------------------------

def converse_text(msgs):
    """Text of the last user turn (tool results included), for echo."""
    for m in reversed(msgs):
        if m.get("role") == "user":
            out = []
            for b in m.get("content") or []:
                if "text" in b:
                    out.append(b["text"])
                elif "toolResult" in b:
                    out.extend(c.get("text", "") for c in b["toolResult"].get("content") or []
                               if isinstance(c, dict))
            return "".join(out)
    return ""


def converse_chars(body):
    n = sum(len(s.get("text", "")) for s in body.get("system") or [] if isinstance(s, dict))
    for m in body.get("messages") or []:
        for b in m.get("content") or []:
            if isinstance(b, dict):
                n += len(b.get("text", "")) + len(json.dumps(b.get("toolUse", "")))
    return n


def is_anthropic(model_id):
    return "anthropic." in model_id


def is_nova(model_id):
    return "amazon.nova" in model_id


def validate_cache_point(b, where, model_id, tools=False):
    """A cachePoint block's value, and whether the model (and place) takes one."""
    cp = b["cachePoint"]
    if not isinstance(cp, dict) or cp.get("type") != "default" or \
            any(k not in ("type", "ttl") for k in cp) or cp.get("ttl", "5m") not in ("5m", "1h"):
        raise Invalid("Malformed input request: #/%s/cachePoint: expected {\"type\": "
                      "\"default\", \"ttl\"?: \"5m\" | \"1h\"}, please reformat your "
                      "input and try again." % where.replace(".", "/"))
    if not (is_anthropic(model_id) or is_nova(model_id)):
        raise NoCaching("You invoked an unsupported model or your request did not allow prompt "
                        "caching. See the documentation for more information.")
    if tools and not is_anthropic(model_id):
        raise Invalid("Malformed input request: #/%s: extraneous key [cachePoint] is not "
                      "permitted, please reformat your input and try again."
                      % where.replace(".", "/"))


def cache_blocks(body):
    """The request's blocks in AWS's cache order: toolConfig.tools, system, messages."""
    out = list((body.get("toolConfig") or {}).get("tools") or [])
    out += body.get("system") or []
    for m in body.get("messages") or []:
        out += m.get("content") or []
    return [b for b in out if isinstance(b, dict)]


def block_chars(b):
    return len(b.get("text", "")) + sum(len(json.dumps(b[k])) for k in ("toolUse", "toolSpec")
                                        if k in b)


def cache_prefix(body):
    """(sha256, characters) of the blocks before the last cachePoint; None without one."""
    blocks = cache_blocks(body)
    last = max((i for i, b in enumerate(blocks) if "cachePoint" in b), default=None)
    if last is None:
        return None
    prefix = [b for b in blocks[:last] if "cachePoint" not in b]
    key = hashlib.sha256(json.dumps(prefix, sort_keys=True).encode()).hexdigest()
    return key, sum(block_chars(b) for b in prefix)


def validate_reasoning(b, where, anthropic):
    """A reasoningContent block's value, as Bedrock (and Claude behind it) checks it."""
    rc = b["reasoningContent"]
    if not isinstance(rc, dict) or len(rc) != 1 or \
            next(iter(rc)) not in ("reasoningText", "redactedContent"):
        raise Invalid("%s.reasoningContent must have exactly one member: reasoningText or "
                      "redactedContent." % where)
    if "redactedContent" in rc:
        try:
            base64.b64decode(rc["redactedContent"], validate=True)
        except (TypeError, ValueError):
            raise Invalid("%s.reasoningContent.redactedContent is not base64." % where)
        return
    rt = rc["reasoningText"]
    if not isinstance(rt, dict) or not isinstance(rt.get("text"), str):
        raise Invalid("%s.reasoningContent.reasoningText.text is required." % where)
    for k in rt:
        if k not in ("text", "signature"):
            raise Invalid("Malformed input request: extraneous key [%s] is not permitted, "
                          "please reformat your input and try again." % k)
    if anthropic and (rt.get("text"), rt.get("signature")) != (REASONING, SIGNATURE):
        raise Invalid("The model returned the following errors: %s: Invalid `signature` in "
                      "`thinking` block" % where)


def validate_tool_spec(spec, i, model_id, names):
    """A toolSpec: a name given once, an inputSchema.json object; for Claude, whose tools'
    input_schema must be an object schema, {"type": "object", ...}."""
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise Invalid("toolConfig.tools.%d.toolSpec.name is required." % i)
    if name in names:
        raise Invalid("The toolConfig.tools field has duplicate tool names: %s" % name)
    names.append(name)
    schema = (spec.get("inputSchema") or {}).get("json")
    if not isinstance(schema, dict):
        raise Invalid("toolConfig.tools.%d.toolSpec.inputSchema.json must be an object." % i)
    if is_anthropic(model_id) and schema.get("type") != "object":
        raise Invalid("The model returned the following errors: tools.%d.custom.input_schema."
                      "type: Input should be 'object'" % i)


def forced_tool(body):
    """The toolSpec toolConfig.toolChoice.tool names: the model must call it."""
    tc = body.get("toolConfig") or {}
    name = ((tc.get("toolChoice") or {}).get("tool") or {}).get("name")
    if name is None:
        return None
    for t in tc.get("tools") or []:
        if isinstance(t, dict) and (t.get("toolSpec") or {}).get("name") == name:
            return t["toolSpec"]
    return None


def fill_schema(schema, text):
    """A value of the JSON schema's type, its strings the echo text (an object schema without
    properties gets {"echo": text})."""
    t = schema.get("type") if isinstance(schema, dict) else None
    if t == "object" or (t is None and isinstance(schema, dict) and "properties" in schema):
        props = schema.get("properties") or {}
        if not props:
            return {"echo": text}
        return {k: fill_schema(v, text) for k, v in props.items()}
    if t == "array":
        return [fill_schema(schema.get("items") or {}, text)]
    if t == "integer":
        return 42
    if t == "number":
        return 21.5
    if t == "boolean":
        return True
    if t == "null":
        return None
    if isinstance(schema, dict) and isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    return text


def validate_thinking(body, model_id):
    """additionalModelRequestFields.thinking; True when it turns thinking on."""
    amrf = body.get("additionalModelRequestFields")
    if amrf is None:
        return False
    if not isinstance(amrf, dict):
        raise Invalid("additionalModelRequestFields must be an object.")
    if "thinking" not in amrf:
        return False
    if not is_anthropic(model_id):
        raise Invalid("Malformed input request: #: extraneous key [thinking] is not permitted, "
                      "please reformat your input and try again.")
    th = amrf["thinking"]
    if not isinstance(th, dict) or th.get("type") not in ("enabled", "disabled"):
        raise Invalid("The model returned the following errors: thinking.type: Input should be "
                      "'enabled' or 'disabled'")
    if th["type"] == "disabled":
        return False
    bt = th.get("budget_tokens")
    if not isinstance(bt, int) or isinstance(bt, bool) or bt < 1024:
        raise Invalid("The model returned the following errors: thinking.enabled.budget_tokens: "
                      "Input should be greater than or equal to 1024")
    ic = body.get("inferenceConfig") or {}
    mt = ic.get("maxTokens")
    if not isinstance(mt, int) or mt <= bt:
        raise Invalid("The model returned the following errors: `max_tokens` must be greater "
                      "than `thinking.budget_tokens`.")
    if ic.get("temperature") not in (None, 1):
        raise Invalid("The model returned the following errors: `temperature` may only be set "
                      "to 1 when thinking is enabled.")
    if ic.get("topP") is not None and ic["topP"] < 0.95:
        raise Invalid("The model returned the following errors: `top_p` must be greater than "
                      "or equal to 0.95 or unset when thinking is enabled.")
    choice = (body.get("toolConfig") or {}).get("toolChoice") or {}
    if "any" in choice or "tool" in choice:
        raise Invalid("The model returned the following errors: Thinking may not be enabled "
                      "when tool_choice forces tool use.")
    return True


def check_tool_use_id(v, where):
    """A toolUseId as Converse's model takes it: 1 to 64 of [a-zA-Z0-9_-]."""
    if not isinstance(v, str) or not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", v):
        raise Invalid("1 validation error detected: Value '%s' at '%s' failed to satisfy "
                      "constraint: Member must satisfy regular expression pattern: "
                      "^[a-zA-Z0-9_-]+$" % (v, where))


def validate_converse(body, tools_configured, model_id=""):
    if not isinstance(body, dict):
        raise Invalid("Malformed input request, please reformat your input and try again.")
    for k in body:
        if k not in CONVERSE_KEYS:
            raise Invalid("Malformed input request: extraneous key [%s] is not permitted, "
                          "please reformat your input and try again." % k)
    ic = body.get("inferenceConfig")
    if ic is not None:
        if not isinstance(ic, dict):
            raise Invalid("inferenceConfig must be an object.")
        for k in ic:
            if k not in INFERENCE_KEYS:
                raise Invalid("Malformed input request: extraneous key [%s] is not "
                              "permitted." % k)
    tc = body.get("toolConfig")
    names = []
    for i, t in enumerate((tc.get("tools") or []) if isinstance(tc, dict) else []):
        if isinstance(t, dict) and "cachePoint" in t:
            validate_cache_point(t, "toolConfig.tools.%d" % i, model_id, tools=True)
        elif isinstance(t, dict) and isinstance(t.get("toolSpec"), dict):
            validate_tool_spec(t["toolSpec"], i, model_id, names)
    choice = (tc.get("toolChoice") if isinstance(tc, dict) else None) or {}
    if "tool" in choice and (choice["tool"] or {}).get("name") not in names:
        raise Invalid("The value at toolConfig.toolChoice.tool.name must be the name of a tool "
                      "in toolConfig.tools.")
    for i, s in enumerate(body.get("system") or []):
        if isinstance(s, dict) and "cachePoint" in s:
            validate_cache_point(s, "system.%d" % i, model_id)
            continue
        if isinstance(s, dict) and "guardContent" in s:
            continue
        if not isinstance(s, dict) or not (isinstance(s.get("text"), str) and s["text"].strip()):
            raise Invalid("The text field in the SystemContentBlock object at system.%d is "
                          "blank. Add text to the text field, and try again." % i)
    thinking_on = validate_thinking(body, model_id)
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise Invalid("The messages field is required and must not be empty.")
    pending = None  # toolUse ids the next turn must answer
    uses_tools = False
    for i, m in enumerate(msgs):
        role = m.get("role") if isinstance(m, dict) else None
        want = "user" if i % 2 == 0 else "assistant"
        if role != want:
            if i == 0:
                raise Invalid("A conversation must start with a user message. Try again with "
                              "a conversation that starts with a user message.")
            raise Invalid("A conversation must alternate between user and assistant roles. "
                          "Make sure the conversation alternates between user and assistant "
                          "roles and try again.")
        content = m.get("content")
        if not isinstance(content, list) or not content:
            raise Invalid("The content field in the Message object at messages.%d is empty. "
                          "Add a ContentBlock object to the content field and try again." % i)
        uses, results = [], []
        for j, b in enumerate(content):
            if not isinstance(b, dict) or len(b) != 1:
                raise Invalid("messages.%d.content.%d must have exactly one member." % (i, j))
            kind = next(iter(b))
            if kind == "text":
                if not isinstance(b["text"], str) or not b["text"].strip():
                    raise Invalid("The text field in the ContentBlock object at "
                                  "messages.%d.content.%d is blank. Add text to the text "
                                  "field, and try again." % (i, j))
            elif kind == "image":
                img = b["image"]
                if img.get("format") not in ("png", "jpeg", "gif", "webp") or \
                        not isinstance(img.get("source", {}).get("bytes"), str):
                    raise Invalid("messages.%d.content.%d.image is malformed." % (i, j))
                try:
                    base64.b64decode(img["source"]["bytes"], validate=True)
                except ValueError:
                    raise Invalid("messages.%d.content.%d.image.source.bytes is not base64."
                                  % (i, j))
            elif kind == "toolUse":
                tu = b["toolUse"]
                if role != "assistant" or not isinstance(tu.get("input"), dict) or \
                        not tu.get("toolUseId") or not tu.get("name"):
                    raise Invalid("messages.%d.content.%d.toolUse is malformed." % (i, j))
                check_tool_use_id(tu["toolUseId"], "messages.%d.member.content.%d.member.toolUse"
                                  ".toolUseId" % (i + 1, j + 1))
                uses.append(tu["toolUseId"])
            elif kind == "toolResult":
                tr = b["toolResult"]
                if role != "user" or not isinstance(tr.get("content"), list):
                    raise Invalid("messages.%d.content.%d.toolResult is malformed." % (i, j))
                check_tool_use_id(tr.get("toolUseId"), "messages.%d.member.content.%d.member."
                                  "toolResult.toolUseId" % (i + 1, j + 1))
                for k, c in enumerate(tr["content"]):
                    if isinstance(c, dict) and "cachePoint" in c:
                        # ToolResultContentBlock has no cachePoint member
                        raise Invalid("Malformed input request: #/messages/%d/content/%d/"
                                      "toolResult/content/%d: extraneous key [cachePoint] is "
                                      "not permitted, please reformat your input and try "
                                      "again." % (i, j, k))
                    # as everywhere: Claude refuses any empty text block ("text content
                    # blocks must be non-empty", seen through Bedrock in opencode #48846)
                    if isinstance(c, dict) and "text" in c and \
                            (not isinstance(c["text"], str) or not c["text"].strip()):
                        raise Invalid("The text field in the ToolResultContentBlock object at "
                                      "messages.%d.content.%d.toolResult.content.%d is blank. "
                                      "Add text to the text field, and try again." % (i, j, k))
                results.append(tr.get("toolUseId"))
            elif kind == "reasoningContent":
                if role != "assistant":
                    raise Invalid("messages.%d.content.%d: reasoningContent is only allowed in "
                                  "assistant messages." % (i, j))
                validate_reasoning(b, "messages.%d.content.%d" % (i, j), is_anthropic(model_id))
            elif kind == "cachePoint":
                validate_cache_point(b, "messages.%d.content.%d" % (i, j), model_id)
            elif kind not in ("document", "guardContent"):
                raise Invalid("messages.%d.content.%d: unsupported block %s" % (i, j, kind))
        if uses or results:
            uses_tools = True
        if pending is not None:
            missing = [t for t in pending if t not in results]
            if missing:
                raise Invalid("Expected toolResult blocks at messages.%d.content for the "
                              "following Ids: %s" % (i, ", ".join(missing)))
        stray = [t for t in results if pending is None or t not in pending]
        if stray:
            raise Invalid("messages.%d: toolResult for unknown toolUseId %s" % (i, stray[0]))
        pending = uses or None
    # a cachePoint marks the end of the block before it, which stays the last one for Claude
    final = [b for b in msgs[-1]["content"] if "cachePoint" not in b][-1:] or [{}]
    final = final[0]
    if is_anthropic(model_id) and msgs[-1]["role"] == "assistant" and "text" in final and \
            final["text"] != final["text"].rstrip():
        # Claude's prefill rule, which Converse passes on as the model's error (aws-sdk-net
        # #4015, langchain-aws #599)
        raise Invalid("The model returned the following errors: messages: final assistant "
                      "content cannot end with trailing whitespace")
    if uses_tools and not tools_configured:
        raise Invalid("The toolConfig field must be defined when using toolUse and toolResult "
                      "content blocks.")
    last = [(i, m["content"]) for i, m in enumerate(msgs) if m["role"] == "assistant"]
    if thinking_on and last and any("toolUse" in b for b in last[-1][1]) and \
            "reasoningContent" not in last[-1][1][0]:
        raise Invalid("The model returned the following errors: messages.%d.content.0.type: "
                      "Expected `thinking` or `redacted_thinking`, but found `%s`. When "
                      "`thinking` is enabled, a final `assistant` message must start with a "
                      "thinking block (preceeding the lastmost set of `tool_use` and "
                      "`tool_result` blocks)." % (last[-1][0], next(iter(last[-1][1][0]))))


def anthropic_text(body):
    for m in reversed(body.get("messages") or []):
        if isinstance(m, dict) and m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, str):
                return c
            out = []
            for b in c if isinstance(c, list) else []:
                if isinstance(b, dict) and b.get("type") == "text":
                    out.append(b.get("text", ""))
                elif isinstance(b, dict) and b.get("type") == "tool_result":
                    tc = b.get("content")
                    if isinstance(tc, str):
                        out.append(tc)
                    elif isinstance(tc, list):
                        out.extend(x.get("text", "") for x in tc if isinstance(x, dict))
            return "".join(out)
    return ""


def validate_anthropic(body):
    if not isinstance(body, dict):
        raise Invalid("Malformed input request, please reformat your input and try again.")
    if "anthropic_version" not in body:
        raise Invalid("Malformed input request: #: required key [anthropic_version] not "
                      "found, please reformat your input and try again.")
    if body["anthropic_version"] != "bedrock-2023-05-31":
        raise Invalid("Invalid API version: %s" % str(body["anthropic_version"])[:40])
    for k in body:
        if k not in ANTHROPIC_KEYS:
            raise Invalid("Malformed input request: #: extraneous key [%s] is not permitted, "
                          "please reformat your input and try again." % k)
    beta = body.get("anthropic_beta")
    if beta is not None and not (isinstance(beta, list) and
                                 all(isinstance(b, str) and b for b in beta)):
        # AWS's Claude request body: "anthropic_beta": ["computer-use-2024-10-22"], a list
        raise Invalid("Malformed input request: #/anthropic_beta: expected type: JSONArray of "
                      "non-empty strings, please reformat your input and try again.")
    if beta is not None and any(b not in BEDROCK_BETAS for b in beta):
        raise Invalid("invalid beta flag")
    if not isinstance(body.get("max_tokens"), int):
        raise Invalid("Malformed input request: #: required key [max_tokens] not found, "
                      "please reformat your input and try again.")
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise Invalid("Malformed input request: #: required key [messages] not found, "
                      "please reformat your input and try again.")


class Handler(mockserve.MockHandler):
    server_version = "bedrock-mock/1.0"
    log_name = "bedrock_mock"

    # ---- plumbing -------------------------------------------------------------------

    def send_json(self, status, obj, extra=()):
        self.send_bytes(status, json.dumps(obj).encode(),
                        extra=[("x-amzn-RequestId", str(uuid.uuid4()))] + list(extra))

    def send_error_type(self, status, etype, message):
        self.send_json(status, {"message": message}, extra=[("x-amzn-ErrorType", etype + ERROR_NS)])

    # ---- authentication -------------------------------------------------------------

    def authenticate(self, raw_path, raw_query, body):
        """None when the request is properly signed, else (x-amzn-ErrorType, message, why)."""
        a = self.server.args
        auth = self.headers.get("Authorization")
        bad_sig = ("InvalidSignatureException",
                   "The request signature we calculated does not match the signature you "
                   "provided. Check your AWS Secret Access Key and signing method. Consult the "
                   "service documentation for details.")
        unknown = ("UnrecognizedClientException",
                   "The security token included in the request is invalid.")
        if auth is None:
            return unknown + ("no Authorization header",)
        if auth.startswith("Bearer "):
            if a.api_key and hmac.compare_digest(auth[7:].strip().encode(), a.api_key.encode()):
                return None
            return unknown + ("bearer key not accepted",)
        p = parse_authorization(auth)
        if p is None:
            return bad_sig + ("malformed Authorization",)
        ak, date, region, service, term = p["credential"]
        if ak != a.access_key:
            return unknown + ("unknown access key",)
        if region != a.region or service != "bedrock" or term != "aws4_request":
            return bad_sig + ("credential scope %s/%s/%s" % (region, service, term),)
        amz_date = self.headers.get("x-amz-date", "")
        if not re.fullmatch(r"\d{8}T\d{6}Z", amz_date) or amz_date[:8] != date:
            return bad_sig + ("x-amz-date missing or not the scope's date",)
        if a.max_skew:
            t = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
            if abs(t - now()) > a.max_skew:
                return ("InvalidSignatureException", "Signature expired: %s is now earlier or "
                        "later than the allowed time skew." % amz_date, "clock skew")
        signed = p["signed"]
        if signed != sorted(signed) or "host" not in signed or "x-amz-date" not in signed:
            return bad_sig + ("SignedHeaders not sorted or without host and x-amz-date",)
        present = {k.lower() for k in self.headers.keys()}
        if any(h not in present for h in signed):
            return bad_sig + ("a signed header is missing",)
        if a.session_token:
            tok = self.headers.get("x-amz-security-token")
            if tok is None or not hmac.compare_digest(tok.encode(), a.session_token.encode()):
                return unknown + ("x-amz-security-token missing or wrong",)
            if "x-amz-security-token" not in signed:
                return bad_sig + ("x-amz-security-token not signed",)
        want = expected_signature(a.secret_key, self.command, raw_path, raw_query,
                                  self.headers.items(), signed, body, amz_date,
                                  [date, region, service, term])
        if not hmac.compare_digest(want, p["signature"]):
            return bad_sig + ("signature mismatch",)
        return None

    # ---- routes ---------------------------------------------------------------------

    def introspect(self, path):
        if self.command == "POST" and path == "/_mock/reset":
            with CACHE_LOCK:
                CACHED.clear()
        return super().introspect(path)

    def do_GET(self):
        path = self.path.split("?")[0]
        if self.introspect(path):
            return None
        if path == "/health":
            return self.send_json(200, {"status": "ok"})
        return self.send_error_type(404, "UnknownOperationException", "Unknown operation")

    def do_POST(self):
        raw_path, _, raw_query = self.path.partition("?")
        body_raw = self.read_body()
        if self.introspect(raw_path):
            return None
        m = re.fullmatch(r"/model/([^/]+)/(converse|converse-stream|invoke|"
                         r"invoke-with-response-stream|count-tokens)", raw_path)
        model_id = urllib.parse.unquote(m.group(1)) if m else None
        op = m.group(2) if m else None
        rec = self.record(body_raw, model_id=model_id, operation=op, auth=None)
        body = rec["body"]
        failed = self.authenticate(raw_path, raw_query, body_raw)
        if failed is not None:
            rec["auth"] = "failed: " + failed[2]
            return self.send_error_type(403, failed[0], failed[1])
        rec["auth"] = "bearer" if self.headers.get("Authorization", "").startswith("Bearer ") \
            else "sigv4"
        if m is None:
            return self.send_error_type(404, "UnknownOperationException", "Unknown operation")
        if body is None:
            return self.send_error_type(400, "ValidationException",
                                        "Malformed input request, please reformat your input "
                                        "and try again.")
        if op == "count-tokens":
            return self.count_tokens(model_id, body, rec)
        prof = re.fullmatch(r"arn:aws:bedrock:[a-z0-9-]+:[0-9]{12}:"
                            r"application-inference-profile/([a-z0-9]+)", model_id)
        if prof is not None:
            # an application inference profile answers as the model it was made for
            model_id = dict(p.split("=", 1) for p in self.server.args.profile).get(prof.group(1))
            if model_id is None:
                return self.send_error_type(400, "ValidationException",
                                            "The provided model identifier is invalid.")
        self.model_call(model_id, op, body, rec)

    def do_PUT(self):
        self.read_body()
        self.send_error_type(405, "UnknownOperationException", "Method not allowed")

    do_DELETE = do_PUT

    # ---- CountTokens ----------------------------------------------------------------

    def count_tokens(self, model_id, body, rec):
        opt = parse_model(model_id)
        with self.answering(rec["seq"], "frames", model_id=model_id, operation="count-tokens",
                            stream=False) as srec:
            self.pause(opt["sleep_ms"] / 1000.0)
            srec["headers_sent_at"] = now()
            srec["completed"] = True
            if opt["status"]:
                etype, msg = ERRORS.get(opt["status"], ERRORS[500])
                return self.send_error_type(opt["status"], etype, msg)
            try:
                if opt["nocount"]:
                    raise Invalid("The provided model doesn't support counting tokens.")
                n = self.count_of(model_id, body)
            except Invalid as e:
                return self.send_error_type(e.status, e.etype, str(e))
            self.send_json(200, {"inputTokens": n})

    @staticmethod
    def count_of(model_id, body):
        if not re.match(r"anthropic\.", model_id):
            raise Invalid("The provided model doesn't support counting tokens.")
        inp = body.get("input") if isinstance(body, dict) else None
        if not isinstance(body, dict) or set(body) != {"input"} or not isinstance(inp, dict) \
                or len(inp) != 1 or list(inp)[0] not in ("invokeModel", "converse"):
            raise Invalid("Malformed input request, please reformat your input and try again.")
        if "converse" in inp:
            validate_converse(inp["converse"], bool((inp["converse"].get("toolConfig") or {})
                                                    .get("tools")), model_id)
            return max(1, converse_chars(inp["converse"]) // 4)
        im = inp["invokeModel"]
        raw = im.get("body") if isinstance(im, dict) else None
        try:
            invoke = json.loads(base64.b64decode(raw, validate=True))
        except (TypeError, ValueError):
            raise Invalid("Malformed input request, please reformat your input and try again.")
        validate_anthropic(invoke)
        th = invoke.get("thinking")
        if isinstance(th, dict) and th.get("type") == "enabled" and \
                not invoke["max_tokens"] > th.get("budget_tokens", 0):
            raise Invalid("`max_tokens` must be greater than `thinking.budget_tokens`")
        system = invoke.get("system")
        chars = len(system) if isinstance(system, str) else sum(
            len(b.get("text", "")) for b in system or [] if isinstance(b, dict))
        return max(1, (len(json.dumps(invoke["messages"])) + chars) // 4)

    # ---- model calls ----------------------------------------------------------------

    def model_call(self, model_id, op, body, rec):
        opt = parse_model(model_id)
        stream = op in ("converse-stream", "invoke-with-response-stream")
        with self.answering(rec["seq"], "frames", model_id=model_id, operation=op,
                            stream=stream) as srec:
            self.pause(opt["sleep_ms"] / 1000.0)
            if opt["status"]:
                etype, msg = ERRORS.get(opt["status"], ERRORS[500])
                srec["headers_sent_at"] = now()
                self.send_error_type(opt["status"], etype, msg)
                srec["completed"] = True
                return
            try:
                tc = body.get("toolConfig") if isinstance(body, dict) else None
                embedder = "titan-embed" in model_id or "cohere.embed" in model_id
                if op.startswith("converse") and embedder:
                    raise Invalid("This action doesn't support the model that you provided. "
                                  "Try again with a supported text or chat model.")
                if op.startswith("converse"):
                    validate_converse(body, isinstance(tc, dict) and bool(tc.get("tools")),
                                      model_id)
                    answer = self.converse_answer(opt, body)
                elif embedder:
                    if stream:
                        raise Invalid("The model does not support response streaming.")
                    return self.embed(model_id, body, srec)
                elif re.match(r"^([a-z]+\.)?anthropic\.", model_id):
                    validate_anthropic(body)
                    answer = self.anthropic_answer(opt, body)
                else:
                    raise Invalid("The provided model identifier is invalid.")
            except Invalid as e:
                srec["headers_sent_at"] = now()
                self.send_error_type(e.status, e.etype, str(e))
                srec["completed"] = True
                return
            if op == "converse":
                self.unary(opt, self.converse_body(answer), srec)
            elif op == "invoke":
                self.unary(opt, self.anthropic_body(answer), srec)
            elif op == "converse-stream":
                self.stream(opt, self.converse_frames(answer), answer, srec)
            else:
                self.stream(opt, self.anthropic_frames(answer), answer, srec)

    def answer(self, opt, text, max_tokens, prompt_chars):
        pieces = pieces_for(opt, text)
        stop = "end_turn"
        if isinstance(max_tokens, int) and 0 < max_tokens < len(pieces):
            pieces = pieces[:max_tokens]
            stop = "max_tokens"
        tools = []
        if opt["tools"] and stop == "end_turn":
            pieces = ["Let", " me", " check."]
            tools = [("tooluse_mock1", "get_weather", ['{"city":', '"Paris"}']),
                     ("tooluse_mock2", "get_time", [])]
            stop = "tool_use"
        reasoning = split_words(REASONING) if opt["reasoning"] else []
        return {"pieces": pieces, "tools": tools, "stop": stop, "reasoning": reasoning,
                "input": max(1, prompt_chars // 4),
                "output": len(reasoning) + len(pieces) + 5 * len(tools),
                "cache_read": 200 if opt["cache"] else 0,
                "cache_write": 100 if opt["cache"] else 0}

    def converse_answer(self, opt, body):
        a = self.answer(opt, converse_text(body["messages"]),
                        (body.get("inferenceConfig") or {}).get("maxTokens"),
                        converse_chars(body))
        spec = forced_tool(body)
        if spec is not None and a["stop"] != "max_tokens":
            # a forced tool is what the model answers with, and nothing else (Claude writes no
            # text before a tool it was made to call); its input fills the tool's schema
            args = json.dumps(fill_schema(spec["inputSchema"]["json"],
                                          converse_text(body["messages"])))
            cut = max(1, len(args) // 2)
            a.update(pieces=[], stop="tool_use",
                     tools=[("tooluse_forced", spec["name"], [args[:cut], args[cut:]])],
                     output=len(a["reasoning"]) + 5)
        prefix = None if opt["cache"] else cache_prefix(body)
        if prefix is not None:
            key, chars = prefix
            with CACHE_LOCK:
                hit = key in CACHED
                CACHED.add(key)
            rest = sum(block_chars(b) for b in cache_blocks(body)) - chars
            a["input"] = max(1, rest // 4)
            a["cache_read" if hit else "cache_write"] = max(1, chars // 4)
        return a

    def anthropic_answer(self, opt, body):
        return self.answer(opt, anthropic_text(body), body.get("max_tokens"),
                           len(json.dumps(body.get("messages"))))

    # ---- Converse -------------------------------------------------------------------

    @staticmethod
    def converse_usage(a):
        u = {"inputTokens": a["input"], "outputTokens": a["output"],
             "totalTokens": a["input"] + a["output"] + a["cache_read"] + a["cache_write"]}
        if a["cache_read"] or a["cache_write"]:
            u["cacheReadInputTokens"] = a["cache_read"]
            u["cacheWriteInputTokens"] = a["cache_write"]
        return u

    def converse_body(self, a):
        content = []
        if a["reasoning"]:
            content.append({"reasoningContent": {"reasoningText": {
                "text": "".join(a["reasoning"]), "signature": SIGNATURE}}})
        if a["pieces"]:
            content.append({"text": "".join(a["pieces"])})
        for tid, name, parts in a["tools"]:
            content.append({"toolUse": {"toolUseId": tid, "name": name,
                                        "input": json.loads("".join(parts) or "{}")}})
        return {"output": {"message": {"role": "assistant", "content": content}},
                "stopReason": a["stop"], "usage": self.converse_usage(a),
                "metrics": {"latencyMs": 42}}

    def converse_frames(self, a):
        """[(kind, frame)]: kind "text" marks the deltas the *-after-N options count."""
        out = [("meta", event_frame("messageStart", {"role": "assistant", "p": padding(0)}))]
        base = 0
        if a["reasoning"]:
            for piece in a["reasoning"]:
                out.append(("meta", event_frame("contentBlockDelta", {
                    "contentBlockIndex": 0, "delta": {"reasoningContent": {"text": piece}}})))
            out.append(("meta", event_frame("contentBlockDelta", {
                "contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": SIGNATURE}}})))
            out.append(("meta", event_frame("contentBlockStop", {"contentBlockIndex": 0})))
            base = 1
        for i, piece in enumerate(a["pieces"]):
            ev = {"contentBlockIndex": base, "delta": {"text": piece}}
            if i % 2 == 0:
                ev["p"] = padding(i + 1)
            out.append(("text", event_frame("contentBlockDelta", ev)))
        if a["pieces"]:
            out.append(("meta", event_frame("contentBlockStop", {"contentBlockIndex": base})))
        for k, (tid, name, parts) in enumerate(a["tools"]):
            idx = base + k + 1
            out.append(("meta", event_frame("contentBlockStart", {
                "contentBlockIndex": idx, "start": {"toolUse": {"toolUseId": tid, "name": name}},
                "p": padding(idx)})))
            for part in parts:
                out.append(("meta", event_frame("contentBlockDelta", {
                    "contentBlockIndex": idx, "delta": {"toolUse": {"input": part}}})))
            out.append(("meta", event_frame("contentBlockStop", {"contentBlockIndex": idx})))
        out.append(("meta", event_frame("messageStop", {"stopReason": a["stop"]})))
        out.append(("meta", event_frame("metadata", {
            "usage": self.converse_usage(a), "metrics": {"latencyMs": 42},
            "p": padding(3)})))
        return out

    # ---- Anthropic on InvokeModel ---------------------------------------------------

    @staticmethod
    def anthropic_usage(a, output):
        return {"input_tokens": a["input"], "cache_creation_input_tokens": a["cache_write"],
                "cache_read_input_tokens": a["cache_read"], "output_tokens": output}

    def anthropic_body(self, a):
        content = []
        if a["pieces"]:
            content.append({"type": "text", "text": "".join(a["pieces"])})
        for tid, name, parts in a["tools"]:
            content.append({"type": "tool_use", "id": tid, "name": name,
                            "input": json.loads("".join(parts) or "{}")})
        return {"id": "msg_bdrk_" + uuid.uuid4().hex[:24], "type": "message",
                "role": "assistant", "model": "claude-mock", "content": content,
                "stop_reason": a["stop"], "stop_sequence": None,
                "usage": self.anthropic_usage(a, a["output"])}

    def anthropic_frames(self, a):
        def chunk(kind, ev):
            b64 = base64.b64encode(json.dumps(ev).encode()).decode()
            return (kind, frame([(":event-type", "chunk"), (":content-type", "application/json"),
                                 (":message-type", "event")],
                                json.dumps({"bytes": b64, "p": padding(len(b64))}).encode()))

        msg = self.anthropic_body(a)
        msg["content"] = []
        msg["stop_reason"] = None
        msg["usage"] = self.anthropic_usage(a, 1)
        out = [chunk("meta", {"type": "message_start", "message": msg}),
               chunk("meta", {"type": "ping"})]
        idx = 0
        if a["pieces"]:
            out.append(chunk("meta", {"type": "content_block_start", "index": 0,
                                      "content_block": {"type": "text", "text": ""}}))
            for piece in a["pieces"]:
                out.append(chunk("text", {"type": "content_block_delta", "index": 0,
                                          "delta": {"type": "text_delta", "text": piece}}))
            out.append(chunk("meta", {"type": "content_block_stop", "index": 0}))
            idx = 1
        for tid, name, parts in a["tools"]:
            out.append(chunk("meta", {"type": "content_block_start", "index": idx,
                                      "content_block": {"type": "tool_use", "id": tid,
                                                        "name": name, "input": {}}}))
            for part in parts:
                out.append(chunk("meta", {"type": "content_block_delta", "index": idx,
                                          "delta": {"type": "input_json_delta",
                                                    "partial_json": part}}))
            out.append(chunk("meta", {"type": "content_block_stop", "index": idx}))
            idx += 1
        out.append(chunk("meta", {"type": "message_delta",
                                  "delta": {"stop_reason": a["stop"], "stop_sequence": None},
                                  "usage": {"output_tokens": a["output"]}}))
        out.append(chunk("meta", {"type": "message_stop", "amazon-bedrock-invocationMetrics": {
            "inputTokenCount": a["input"], "outputTokenCount": a["output"],
            "invocationLatency": 42, "firstByteLatency": 10}}))
        return out

    # ---- embeddings -----------------------------------------------------------------

    def embed(self, model_id, body, srec):
        if not isinstance(body, dict):
            raise Invalid("Malformed input request, please reformat your input and try again.")
        if "titan-embed" in model_id:
            for k in body:
                if k not in TITAN_KEYS:
                    raise Invalid("Malformed input request: extraneous key [%s] is not "
                                  "permitted, please reformat your input and try again." % k)
            text = body.get("inputText")
            if not isinstance(text, str) or not text:
                raise Invalid("Malformed input request: #/inputText: expected minLength: 1, "
                              "please reformat your input and try again.")
            dims = body.get("dimensions", 8)
            if not isinstance(dims, int) or not 1 <= dims <= 1024:
                raise Invalid("Malformed input request: #/dimensions: invalid value")
            resp = {"embedding": vector(text, dims, body.get("normalize", True) is True),
                    "inputTextTokenCount": max(1, len(text) // 4)}
        else:
            for k in body:
                if k not in COHERE_KEYS:
                    raise Invalid("Malformed input request: extraneous key [%s] is not "
                                  "permitted, please reformat your input and try again." % k)
            texts = body.get("texts")
            if not isinstance(texts, list) or not 1 <= len(texts) <= 96 or \
                    not all(isinstance(t, str) and t for t in texts):
                raise Invalid("Malformed input request: #/texts: expected 1 to 96 non-empty "
                              "strings, please reformat your input and try again.")
            if body.get("input_type") not in ("search_document", "search_query",
                                              "classification", "clustering"):
                raise Invalid("Malformed input request: #: required key [input_type] not "
                              "found, please reformat your input and try again.")
            if body.get("truncate", "NONE") not in ("NONE", "START", "END"):
                raise Invalid("Malformed input request: #/truncate: invalid value")
            resp = {"embeddings": [vector(t, 8, True) for t in texts],
                    "id": str(uuid.uuid4()), "response_type": "embeddings_floats",
                    "texts": [t.lower() for t in texts]}
        srec["headers_sent_at"] = now()
        self.send_json(200, resp, extra=[
            ("X-Amzn-Bedrock-Input-Token-Count",
             str(resp.get("inputTextTokenCount", 0)))])
        srec["frames_sent"] = 1
        srec["completed"] = True

    # ---- writing --------------------------------------------------------------------

    def unary(self, opt, resp, srec):
        data = json.dumps(resp).encode()
        srec["total_frames"] = 1
        if opt["stall_after"] is not None:
            self.send_half_and_stall(srec, data)
        srec["headers_sent_at"] = now()
        self.send_json(200, resp)
        srec["frames_sent"] = 1
        srec["send_times"].append(now())
        srec["completed"] = True

    def stream(self, opt, frames, a, srec):
        delay = opt["delay_ms"] / 1000.0 if opt["mode"] == "words" else 0.0
        self.start_stream(srec, "application/vnd.amazon.eventstream",
                          [("Transfer-Encoding", "chunked"),
                           ("x-amzn-RequestId", str(uuid.uuid4()))])
        srec["total_frames"] = len(frames)

        def send(data):
            self.write_chunk(data)
            srec["frames_sent"] += 1
            srec["send_times"].append(now())

        texts = 0
        for kind, data in frames:
            if kind == "text":
                if texts > 0:
                    self.pause(delay)
                if opt["stall_after"] is not None and texts >= opt["stall_after"]:
                    self.stall()
                if opt["exception_after"] is not None and texts >= opt["exception_after"]:
                    send(exception_frame("throttlingException",
                                         "Too many requests, please wait before trying again."))
                    self.end_chunks()
                    srec["completed"] = True
                    return
                if opt["badcrc_after"] is not None and texts >= opt["badcrc_after"]:
                    send(data[:-4] + struct.pack(">I", struct.unpack(">I", data[-4:])[0] ^ 1))
                    self.end_chunks()
                    srec["completed"] = True
                    return
                texts += 1
            send(data)
        # the *-after-N options with N at or past the last delta act at the end
        if opt["stall_after"] is not None:
            self.stall()
        self.end_chunks()
        srec["completed"] = True


def add_args(ap):
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--access-key", default="AKIDMOCK")
    ap.add_argument("--secret-key", default="mocksecret")
    ap.add_argument("--session-token", help="require this x-amz-security-token (signed)")
    ap.add_argument("--api-key", help="also accept Authorization: Bearer <this key>")
    ap.add_argument("--max-skew", type=int, default=900,
                    help="largest x-amz-date offset from now, seconds (0: no check)")
    ap.add_argument("--profile", action="append", default=[], metavar="ID=MODEL",
                    help="an application inference profile: the model id that answers for "
                    "arn:aws:bedrock:<region>:<account>:application-inference-profile/ID")


def main():
    srv, a = mockserve.start(Handler, __doc__, add_args)
    srv.args = a
    mockserve.serve(srv, a, "bedrock_mock")


if __name__ == "__main__":
    main()
