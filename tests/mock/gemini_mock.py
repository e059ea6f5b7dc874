#!/usr/bin/env python3
"""A mock of Google's Generative Language API (Gemini) for the sllmp tests (standard library only).

    python3 tests/mock/gemini_mock.py --port 0 --port-file /tmp/gemini.port [--key AIza-mock-KEY]

Binds 127.0.0.1 only. HTTP/1.1 with keep-alive; streams use Transfer-Encoding: chunked and every
event is flushed as it is written (TCP_NODELAY).

Endpoints (under /v1beta, and /v1 too):
    POST /v1beta/models/{model}:generateContent
    POST /v1beta/models/{model}:streamGenerateContent?alt=sse
                      SSE: `data: <GenerateContentResponse>` + CRLF CRLF per event, as Google
                      sends them; no [DONE]: the stream just ends. WITHOUT alt=sse the answer is
                      a streamed JSON array ("[{...}\\n,\\r\\n{...}\\n]"), as Google does, so a
                      gateway that forgets alt=sse gets no SSE.
    POST /v1beta/models/{model}:batchEmbedContents
                      {"requests":[{"model":"models/{model}","content":{"parts":[{"text"}]},
                      "outputDimensionality"?}]} (at most 100) -> {"embeddings":[{"values"}]};
                      vectors are deterministic (from the text), of length outputDimensionality
                      or 8; no token count, as Google reports none
    POST /v1beta/models/{model}:embedContent    -> {"embedding":{"values":[...]}}
    GET  /v1beta/models                         a short model list

Auth: header x-goog-api-key (or ?key=) must equal --key. A wrong key is a 400 INVALID_ARGUMENT
"API key not valid. Please pass a valid API key." (what Google answers; the key is never echoed);
no key at all is a 403 PERMISSION_DENIED.

Requests are checked the way Google's JSON parser checks them: unknown top-level fields, roles
other than user/model, empty contents or parts, a functionResponse without a name or without an
object response, a toolConfig without functionDeclarations, systemInstruction parts that are
not text, and keywords Google's Schema (an OpenAPI subset) does not have ("additionalProperties",
"$schema", "$defs", "$ref", "const", "oneOf", ...) in responseSchema or function parameters are
400 INVALID_ARGUMENT; then, as Google's validator, an OBJECT without properties there ("*
GenerateContentRequest.tools[0].function_declarations[0].parameters.properties["tags"].properties:
should be non-empty for OBJECT type"). The JSON Schema alternatives, responseJsonSchema (with
responseMimeType application/json) and a declaration's parametersJsonSchema, are taken as they
come (additionalProperties too), but never beside responseSchema or parameters.

Behaviour is chosen by the model name in the path (URL-decoded first): options joined by '+',
e.g. `sleep-200+words-5-50`:

    echo              answer = the text of the last user turn (default); streamed one word per
                      event
    words-N-D         answer = N words "w1".."wN"; streamed N events, D ms apart
    tools             two functionCall parts (get_weather {"city":"Paris"}, get_time
                      {"timezone":"Europe/Paris"}), no ids, finishReason STOP
    signed            as Gemini 3 does (and so the default of a model with "gemini-3" in its
                      name): the first functionCall part of an answer carries
                      thoughtSignature SIGNATURE (the others none), and a request whose
                      current turn (the model turns after the last user turn with text) has a
                      model turn whose first functionCall part lacks that exact signature (or
                      DUMMY_SIGNATURE, Google's documented one for calls the model did not
                      make) is a 400 INVALID_ARGUMENT "Function call is missing a
                      thought_signature ..."
    thinking          thoughtsTokenCount 50, and, when generationConfig.thinkingConfig
                      .includeThoughts is true (Google sends thought summaries then only), a
                      first part {"text":..., "thought": true}
    cache             cachedContentTokenCount 20 (added to promptTokenCount, which includes it)
    blocked           200 with promptFeedback.blockReason SAFETY and no candidates
    maxtokens         finishReason MAX_TOKENS (also when generationConfig.maxOutputTokens cuts
                      the answer, which is then that many words)
    status-429        429 RESOURCE_EXHAUSTED with QuotaFailure, Help and RetryInfo details
                      (retryDelay "7s"; with retry-S "Ss"; with retryms-N N ms as seconds
                      with three decimals, "1.500s"), and no Retry-After header, as Google
    status-400        400 INVALID_ARGUMENT
    status-403        403 PERMISSION_DENIED
    status-404        404 NOT_FOUND
    status-500        500 INTERNAL
    status-503        503 UNAVAILABLE ("The model is overloaded. ...")
    sleep-MS          sleep MS ms before the response headers (watching for the client to leave)
    stall-after-N     stream N events, then send nothing until the client leaves (unstreamed:
                      the headers and half of the body, then stall)
    close-after-N     stream N events, then close the connection (no finishReason ever came)
    quota-after-N     streams: N events, then the status-429 error object (RetryInfo as there)
                      as one more event, and end the stream
    nonobject         streams (SSE): before the second event, five whose data is not one JSON
                      object: null, "x", 42, [1], and an event with the text "JUNK" followed by
                      " trailing"

The name before the first '+' is the model's own, as Google checks thinkingConfig for it: a
thinkingLevel is refused (400) by models that are not Gemini 3 ("gemini-3" in the name), and
one it does not have (gemini-3-pro: low, high; other Pro: medium too; Flash: minimal too,
but not gemini-3.7-flash and gemini-3.8-flash); a thinkingLevel with a thinkingBudget is a
400, and so is a thinkingBudget of 0 for a Pro model ("-pro" in the name), which cannot stop
thinking, and one under a Gemini 2.5 model's least (Flash-Lite 512, Pro 128).

generationConfig.responseLogprobs true gives each text candidate a logprobsResult, a token per
word piece (in a stream, the event's), with generationConfig.logprobs K top candidates a step.

generationConfig.candidateCount N gives N candidates (index 0 .. N-1, the same answer), in an
unstreamed answer and in each stream event alike.

usageMetadata is in every stream event and cumulative: promptTokenCount = prompt characters / 4
rounded up (the text of systemInstruction and contents, function calls and responses as JSON),
candidatesTokenCount = words so far (of every candidate), thoughtsTokenCount, cachedContentTokenCount, and
totalTokenCount = prompt + candidates + thoughts. Every answer has modelVersion and responseId.

Vertex AI (with --vertex-secret S, the secret of google_oauth_mock.py's tokens):
    POST /v1/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}
    POST /v1/projects/{project}/locations/{location}/endpoints/{id}:{method}
                      generateContent and streamGenerateContent as above (the same options),
                      and predict (embeddings: {"instances": [{"content"}] (at most 250; one
                      for gemini-embedding models), "parameters": {"outputDimensionality"}?} ->
                      {"predictions": [{"embeddings": {"values", "statistics": {"token_count",
                      "truncated"}}}]}, token_count = words of the content). Auth: an
                      Authorization: Bearer token of google_oauth_mock.py that has not
                      expired, else 401 UNAUTHENTICATED (as with option status-401); an
                      x-goog-api-key is refused (Vertex takes none). Errors come in a list
                      ([{"error": ...}]), as Vertex sends them; contents without a role are a
                      400 ("Please use a valid role: user, model."); "labels" (Vertex's
                      own field: on the Gemini API it is an unknown name) are checked as
                      Google's labels page says. Option revoke-after-use:
                      a token is revoked once it served a call of such a model (401 after).

Introspection:
    GET  /_mock/requests   JSON list of {seq, time, method, path, query, model, method_name,
                           headers, body, raw_body}
    GET  /_mock/streams    JSON list of {seq, model, sse, stream, chunks_sent, total_chunks,
                           aborted, aborted_at, started_at, headers_sent_at, finished_at,
                           completed, send_times}
    POST /_mock/reset      clears both lists
    GET  /health
"""

import hashlib
import json
import re
import struct
import uuid
from urllib.parse import parse_qs, unquote, urlsplit

import mockserve
from google_oauth_mock import valid_token
from mockserve import now, word_pieces

DEFAULT_KEY = "AIza-mock-KEY"
THOUGHT = "Let me think about this request step by step."
# what option `signed` puts on a first functionCall part, and wants back on it
SIGNATURE = "CiQBxoV9mb2NrLWdlbWluaS10aG91Z2h0LXNpZ25hdHVyZQ=="
# what Gemini 3 takes in place of a signature on calls it did not make (Google's FAQ)
DUMMY_SIGNATURE = "skip_thought_signature_validator"

TOP_FIELDS = {"contents", "systemInstruction", "system_instruction", "tools", "toolConfig",
              "tool_config", "generationConfig", "generation_config", "safetySettings",
              "safety_settings", "cachedContent", "cached_content", "labels"}
PART_DATA = ("text", "inlineData", "inline_data", "fileData", "file_data", "functionCall",
             "function_call", "functionResponse", "function_response", "executableCode",
             "codeExecutionResult")
# the fields of Google's Schema (an OpenAPI 3.0 subset): any other name is "Unknown name"
SCHEMA_KEYS = {"type", "format", "title", "description", "nullable", "enum", "maxItems",
               "minItems", "properties", "required", "minProperties", "maxProperties",
               "minLength", "maxLength", "pattern", "example", "anyOf", "propertyOrdering",
               "default", "items", "minimum", "maximum"}


class BadRequest(Exception):
    def __init__(self, message, field=None):
        super().__init__(message)
        self.message = message
        self.field = field


def parse_model(model):
    """The options of a model name like 'sleep-100+words-5-20+thinking'."""
    opt, rest = mockserve.parse_options(
        model, ("tools", "signed", "thinking", "cache", "blocked", "maxtokens", "nonobject"),
        ("stall", "close", "quota"))
    opt["retry_ms"] = None
    # Gemini 3 signs its calls and wants the signatures back, whatever the test asked for
    opt["signed"] = opt["signed"] or (isinstance(model, str) and
                                      "gemini-3" in model.split("+")[0])
    for tok in rest:
        m = re.fullmatch(r"retryms-(\d+)", tok)
        if m:
            opt["retry_ms"] = int(m.group(1))
    return opt


def retry_delay(opt):
    """RetryInfo's retryDelay, a protobuf Duration in its JSON form."""
    if opt.get("retry_ms") is not None:
        return "%d.%03ds" % divmod(opt["retry_ms"], 1000)
    return "%ds" % mockserve.retry_after(opt)


def rpc_error(code, status, message, details=None):
    err = {"code": code, "message": message, "status": status}
    if details:
        err["details"] = details
    return {"error": err}


def error_for(status, model, delay="7s"):
    if status == 429:
        return rpc_error(429, "RESOURCE_EXHAUSTED",
                         "You exceeded your current quota, please check your plan and billing "
                         "details. For more information on this error, head to: "
                         "https://ai.google.dev/gemini-api/docs/rate-limits.",
                         [{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                           "violations": [{
                               "quotaMetric": "generativelanguage.googleapis.com/"
                                              "generate_content_free_tier_requests",
                               "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                               "quotaDimensions": {"location": "global", "model": model},
                               "quotaValue": "10"}]},
                          {"@type": "type.googleapis.com/google.rpc.Help",
                           "links": [{"description": "Learn more about Gemini API quotas",
                                      "url": "https://ai.google.dev/gemini-api/docs/"
                                             "rate-limits"}]},
                          {"@type": "type.googleapis.com/google.rpc.RetryInfo",
                           "retryDelay": delay}])
    if status == 400:
        return rpc_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.")
    if status == 403:
        return rpc_error(403, "PERMISSION_DENIED",
                         "Permission denied: Consumer has been suspended.")
    if status == 404:
        return rpc_error(404, "NOT_FOUND", "models/%s is not found for API version v1beta, or "
                         "is not supported for generateContent." % model)
    if status == 503:
        return rpc_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    return rpc_error(status if status >= 400 else 500, "INTERNAL",
                     "An internal error has occurred. Please retry or report in "
                     "https://developers.generativeai.google/guide/troubleshooting")


# ---- request checks ------------------------------------------------------------------------

def check_schema(schema, where):
    """Google's Schema is an OpenAPI subset: other keywords are unknown fields to its parser."""
    if not isinstance(schema, dict):
        return
    for k, v in schema.items():
        if k not in SCHEMA_KEYS:
            raise BadRequest('Invalid JSON payload received. Unknown name "%s" at \'%s\': '
                             'Cannot find field.' % (k, where), where)
        if k == "properties" and isinstance(v, dict):
            for name, sub in v.items():
                check_schema(sub, "%s.properties[%d].value" % (where, list(v).index(name)))
        elif k == "items":
            check_schema(v, where + "." + k)
        elif k == "anyOf" and isinstance(v, list):
            for i, sub in enumerate(v):
                check_schema(sub, "%s.%s[%d]" % (where, k, i))


def check_objects(schema, where):
    """Google's validator, after its parser: an OBJECT needs properties (a free-form object,
    JSON Schema's additionalProperties, has no place in its Schema). `where` is the path as
    the validator writes it."""
    if not isinstance(schema, dict):
        return
    if str(schema.get("type", "")).upper() == "OBJECT" and not schema.get("properties"):
        raise BadRequest("* GenerateContentRequest.%s.properties: should be non-empty for "
                         "OBJECT type\n" % where, where)
    for name, sub in (schema.get("properties") or {}).items():
        check_objects(sub, '%s.properties["%s"]' % (where, name))
    if "items" in schema:
        check_objects(schema["items"], where + ".items")
    for i, sub in enumerate(schema.get("anyOf") or []):
        check_objects(sub, "%s.any_of[%d]" % (where, i))


def check_part(p, where, system=False):
    if not isinstance(p, dict):
        raise BadRequest("Invalid value at '%s' (Part), expected an object." % where, where)
    data = [k for k in PART_DATA if k in p]
    if system and data != ["text"]:
        raise BadRequest("systemInstruction parts must be text.", where)
    if len(data) != 1:
        raise BadRequest("Unable to submit request because it must have exactly one data "
                         "field in each part (found %d at %s)." % (len(data), where), where)
    k = data[0]
    if k == "text":
        if not isinstance(p["text"], str):
            raise BadRequest("Invalid value at '%s.text' (TYPE_STRING)." % where, where)
        if p["text"] == "":
            raise BadRequest("Unable to submit request because it has an empty text "
                             "parameter. Add a value to the parameter and try again.", where)
    elif k in ("functionResponse", "function_response"):
        fr = p[k]
        if not isinstance(fr, dict) or not fr.get("name"):
            raise BadRequest("* GenerateContentRequest.%s.function_response.name: Name cannot "
                             "be empty." % where, where)
        if not isinstance(fr.get("response"), dict):
            raise BadRequest("Invalid value at '%s.function_response.response' "
                             "(type.googleapis.com/google.protobuf.Struct)." % where, where)
    elif k in ("functionCall", "function_call"):
        fc = p[k]
        if not isinstance(fc, dict) or not fc.get("name"):
            raise BadRequest("* GenerateContentRequest.%s.function_call.name: Name cannot be "
                             "empty." % where, where)
        if "args" in fc and not isinstance(fc["args"], dict):
            raise BadRequest("Invalid value at '%s.function_call.args' "
                             "(type.googleapis.com/google.protobuf.Struct)." % where, where)
    elif k in ("inlineData", "inline_data"):
        d = p[k]
        if not isinstance(d, dict) or not d.get("mimeType", d.get("mime_type")) \
                or not isinstance(d.get("data"), str):
            raise BadRequest("inlineData needs mimeType and data.", where)
    elif k in ("fileData", "file_data"):
        d = p[k]
        if not isinstance(d, dict) or not d.get("fileUri", d.get("file_uri")):
            raise BadRequest("fileData needs a fileUri.", where)


LABEL = re.compile(r"[a-z][a-z0-9_-]{0,62}$")


def check_generate(body, vertex=False):
    if not isinstance(body, dict):
        raise BadRequest("Invalid JSON payload received. Expected an object.")
    for k in body:
        # labels are Vertex's: the Gemini API knows no such field (LiteLLM issue 14556)
        if k not in TOP_FIELDS or k == "labels" and not vertex:
            raise BadRequest('Invalid JSON payload received. Unknown name "%s": Cannot find '
                             'field.' % k, k)
    labels = body.get("labels", {})
    if not isinstance(labels, dict) or len(labels) > 64 or not all(
            LABEL.match(k) and isinstance(v, str) and re.match(r"[a-z0-9_-]{0,63}$", v)
            for k, v in labels.items()):
        raise BadRequest("labels: at most 64, keys and values of lowercase letters, digits, "
                         "'_' and '-', at most 63 characters, keys starting with a letter",
                         "labels")
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise BadRequest("* GenerateContentRequest.contents: contents is not specified",
                         "contents")
    for i, c in enumerate(contents):
        where = "contents[%d]" % i
        if not isinstance(c, dict):
            raise BadRequest("Invalid value at '%s' (Content)." % where, where)
        if c.get("role") not in ("user", "model"):
            raise BadRequest("Please use a valid role: user, model.", where + ".role")
        parts = c.get("parts")
        if not isinstance(parts, list) or not parts:
            raise BadRequest("* GenerateContentRequest.%s.parts: contents.parts must not be "
                             "empty." % where, where + ".parts")
        for j, p in enumerate(parts):
            check_part(p, "%s.parts[%d]" % (where, j))
    si = body.get("systemInstruction", body.get("system_instruction"))
    if si is not None:
        parts = si.get("parts") if isinstance(si, dict) else None
        if not isinstance(parts, list) or not parts:
            raise BadRequest("systemInstruction needs parts.", "systemInstruction")
        for j, p in enumerate(parts):
            check_part(p, "system_instruction.parts[%d]" % j, system=True)
    gc = body.get("generationConfig", body.get("generation_config")) or {}
    if not isinstance(gc, dict):
        raise BadRequest("Invalid value at 'generation_config'.", "generationConfig")
    rs = gc.get("responseSchema", gc.get("response_schema"))
    check_schema(rs, "generation_config.response_schema")
    rjs = gc.get("responseJsonSchema", gc.get("response_json_schema"))
    if rjs is not None:
        # the JSON Schema alternative: either field, never both, and a JSON answer
        if rs is not None:
            raise BadRequest("response_schema and response_json_schema cannot both be set.",
                             "generation_config")
        if not isinstance(rjs, dict):
            raise BadRequest("Invalid value at 'generation_config.response_json_schema'.",
                             "generation_config.response_json_schema")
        if gc.get("responseMimeType", gc.get("response_mime_type")) != "application/json":
            raise BadRequest("response_mime_type must be application/json with "
                             "response_json_schema.", "generation_config.response_mime_type")
    declared = any((t or {}).get("functionDeclarations", (t or {}).get("function_declarations"))
                   for t in body.get("tools") or [])
    if body.get("toolConfig", body.get("tool_config")) is not None and not declared:
        raise BadRequest("Function calling config is set without function_declarations.",
                         "tool_config")
    for i, t in enumerate(body.get("tools") or []):
        decls = (t or {}).get("functionDeclarations", (t or {}).get("function_declarations"))
        for j, d in enumerate(decls or []):
            if not isinstance(d, dict) or not d.get("name"):
                raise BadRequest("* GenerateContentRequest.tools[%d].function_declarations[%d]"
                                 ".name: Name cannot be empty." % (i, j))
            where = "tools[%d].function_declarations[%d]" % (i, j)
            check_schema(d.get("parameters"), where + ".parameters")
            pjs = d.get("parametersJsonSchema", d.get("parameters_json_schema"))
            if pjs is not None and d.get("parameters") is not None:
                raise BadRequest("parameters and parameters_json_schema cannot both be set.",
                                 where)
            if pjs is not None and not isinstance(pjs, dict):
                raise BadRequest("Invalid value at '%s.parameters_json_schema'." % where, where)
    # the validator runs once the parser took the whole request
    check_objects(rs, "generation_config.response_schema")
    for i, t in enumerate(body.get("tools") or []):
        decls = (t or {}).get("functionDeclarations", (t or {}).get("function_declarations"))
        for j, d in enumerate(decls or []):
            check_objects(d.get("parameters"),
                          "tools[%d].function_declarations[%d].parameters" % (i, j))


def thinking_levels(name):
    """The thinkingLevels a model takes (None: not a Gemini 3, which takes none): Gemini 3 Pro
    low and high, 3.1 Pro medium too, Flash minimal as well, but 3.7 and 3.8 Flash not."""
    if "gemini-3" not in name:
        return None
    if "flash" in name:
        if "gemini-3.7-flash" in name or "gemini-3.8-flash" in name:
            return ("low", "medium", "high")
        return ("minimal", "low", "medium", "high")
    if "gemini-3-pro" in name:
        return ("low", "high")
    return ("low", "medium", "high")


def budget_floor(name):
    """The least thinkingBudget above 0 a Gemini 2.5 model takes (-1 and 0 aside), None when
    the mock does not check it: Flash-Lite 512, Pro 128."""
    if "gemini-2.5-flash-lite" in name or "gemini-flash-lite" in name:
        return 512
    if "gemini-2.5-pro" in name:
        return 128
    return None


def check_thinking(body, model):
    """generationConfig.thinkingConfig as Google checks it for the model (the name before the
    first '+'): thinkingLevel on Gemini 3 only, and one of its levels; never with a
    thinkingBudget; a budget of 0 (thinking off) refused by the Pro models, which always think."""
    name = model.split("+")[0] if isinstance(model, str) else ""
    gc = body.get("generationConfig", body.get("generation_config")) or {}
    tc = gc.get("thinkingConfig", gc.get("thinking_config"))
    if not isinstance(tc, dict):
        return
    level = tc.get("thinkingLevel", tc.get("thinking_level"))
    budget = tc.get("thinkingBudget", tc.get("thinking_budget"))
    if level is not None and budget is not None:
        raise BadRequest("thinking_budget and thinking_level are not supported together.",
                         "generation_config.thinking_config")
    if level is not None:
        levels = thinking_levels(name)
        if levels is None:
            raise BadRequest("Thinking level is not supported for this model.",
                             "generation_config.thinking_config.thinking_level")
        if not isinstance(level, str) or level.lower() not in levels:
            raise BadRequest("Thinking level is unsupported: THINKING_LEVEL_%s"
                             % str(level).upper(),
                             "generation_config.thinking_config.thinking_level")
    if budget == 0 and "-pro" in name:
        raise BadRequest("Budget 0 is invalid. This model only works in thinking mode.",
                         "generation_config.thinking_config.thinking_budget")
    least = budget_floor(name)
    if isinstance(budget, int) and least is not None and 0 < budget < least:
        raise BadRequest("The thinking budget %d is invalid. Please choose a value between "
                         "%d and 24576." % (budget, least),
                         "generation_config.thinking_config.thinking_budget")


def check_signatures(body):
    """Gemini 3's rule: in the current turn (what follows the last user turn with text), each
    model turn's first functionCall part must carry the thoughtSignature it came with."""
    contents = body.get("contents") or []
    start = 0
    for i, c in enumerate(contents):
        if c.get("role") == "user" and any("text" in p for p in c.get("parts") or []
                                           if isinstance(p, dict)):
            start = i + 1
    for i, c in enumerate(contents[start:], start):
        if c.get("role") != "model":
            continue
        for j, p in enumerate(c.get("parts") or []):
            fc = p.get("functionCall", p.get("function_call")) if isinstance(p, dict) else None
            if fc is None:
                continue
            if p.get("thoughtSignature", p.get("thought_signature")) not in (SIGNATURE,
                                                                              DUMMY_SIGNATURE):
                raise BadRequest(
                    "Function call is missing a thought_signature in functionCall parts. This "
                    "is required for tools to work correctly, and missing thought_signature may "
                    "lead to degraded model performance. Additional data, function call "
                    "`default_api:%s` , position %d. please refer to "
                    "https://ai.google.dev/gemini-api/docs/thought-signatures for more details."
                    % (fc.get("name"), i), "contents[%d].parts[%d]" % (i, j))
            break


# ---- answers -------------------------------------------------------------------------------

def part_chars(p):
    if not isinstance(p, dict):
        return 0
    if isinstance(p.get("text"), str):
        return len(p["text"])
    for k in ("functionCall", "functionResponse", "function_call", "function_response"):
        if k in p:
            return len(json.dumps(p[k], separators=(",", ":")))
    return 0


def prompt_tokens(body):
    n = 0
    si = body.get("systemInstruction", body.get("system_instruction")) or {}
    for p in si.get("parts") or []:
        n += part_chars(p)
    for c in body.get("contents") or []:
        for p in c.get("parts") or []:
            n += part_chars(p)
    return max(1, (n + 3) // 4)


def last_user_text(body):
    for c in reversed(body.get("contents") or []):
        if c.get("role") == "user":
            texts = [p["text"] for p in c.get("parts") or []
                     if isinstance(p, dict) and isinstance(p.get("text"), str)]
            if texts:
                return " ".join(texts)
    return ""


def words(opt, body):
    if opt["mode"] == "words":
        return word_pieces(opt["n"])
    text = last_user_text(body)
    pieces = re.findall(r"\s*\S+", text)
    if pieces and text[len("".join(pieces)):]:
        pieces[-1] += text[len("".join(pieces)):]
    return pieces or ["(empty)"]


def usage(opt, ptok, cand):
    u = {"promptTokenCount": ptok, "candidatesTokenCount": cand,
         "totalTokenCount": ptok + cand}
    if opt["cache"]:
        u["cachedContentTokenCount"] = 20
    if opt["thinking"]:
        u["thoughtsTokenCount"] = 50
        u["totalTokenCount"] += 50
    return u


def safety_ratings():
    return [{"category": c, "probability": "NEGLIGIBLE"} for c in
            ("HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_DANGEROUS_CONTENT",
             "HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_SEXUALLY_EXPLICIT")]


TOOL_CALLS = [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
              {"functionCall": {"name": "get_time", "args": {"timezone": "Europe/Paris"}}}]


def tool_parts(opt):
    """The functionCall parts of an answer; with `signed`, Gemini signs the first only."""
    parts = json.loads(json.dumps(TOOL_CALLS))
    if opt["signed"]:
        parts[0]["thoughtSignature"] = SIGNATURE
    return parts


def plan(opt, body):
    """(pieces, finishReason, prompt tokens) of the answer; pieces are text strings."""
    gc = body.get("generationConfig", body.get("generation_config")) or {}
    pieces = words(opt, body)
    finish = "STOP"
    limit = gc.get("maxOutputTokens", gc.get("max_output_tokens"))
    if isinstance(limit, int) and 0 < limit < len(pieces):
        pieces = pieces[:limit]
        finish = "MAX_TOKENS"
    if opt["maxtokens"]:
        finish = "MAX_TOKENS"
    ptok = prompt_tokens(body) + (20 if opt["cache"] else 0)
    return pieces, finish, ptok


def envelope(model, rid, obj):
    obj["modelVersion"] = model
    obj["responseId"] = rid
    return obj


def summaries(opt, body):
    """Whether the answer carries a thought part: a thinking model asked for its summaries."""
    gc = body.get("generationConfig", body.get("generation_config")) or {}
    tc = gc.get("thinkingConfig", gc.get("thinking_config")) or {}
    return opt["thinking"] and tc.get("includeThoughts", tc.get("include_thoughts")) is True


def logprobs_result(body, pieces):
    """With generationConfig.responseLogprobs: a logprobsResult for these text pieces (one token
    each, logProbability -0.1 x its place, the first's 0 left out as Google's JSON does), and
    with logprobs K, K top candidates a step (the chosen one first, then "alt1" ...)."""
    gc = body.get("generationConfig", body.get("generation_config")) or {}
    if gc.get("responseLogprobs", gc.get("response_logprobs")) is not True:
        return None
    k = gc.get("logprobs") or 0
    chosen, top = [], []
    for i, p in enumerate(pieces):
        c = {"token": p}
        if i:
            c["logProbability"] = round(-0.1 * i, 3)
        chosen.append(c)
        top.append({"candidates": ([c] + [{"token": "alt%d" % j, "logProbability": -5.0 - j}
                                          for j in range(1, k)])[:k]})
    res = {"chosenCandidates": chosen}
    if k:
        res["topCandidates"] = top
    return res


def unary_answer(opt, body, model):
    rid = uuid.uuid4().hex[:22]
    pieces, finish, ptok = plan(opt, body)
    if opt["blocked"]:
        return envelope(model, rid, {
            "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
                {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}]},
            "usageMetadata": usage(dict(opt, thinking=False), ptok, 0)})
    gc = body.get("generationConfig", body.get("generation_config")) or {}
    n = gc.get("candidateCount", gc.get("candidate_count")) or 1
    cands = []
    for i in range(n if isinstance(n, int) and n > 0 else 1):
        parts = []
        if summaries(opt, body):
            parts.append({"text": THOUGHT, "thought": True})
        if opt["tools"]:
            parts += tool_parts(opt)
        else:
            parts.append({"text": "".join(pieces)})
        cands.append({"content": {"role": "model", "parts": parts}, "finishReason": finish,
                      "index": i, "safetyRatings": safety_ratings()})
        lp = None if opt["tools"] else logprobs_result(body, pieces)
        if lp is not None:
            cands[-1]["logprobsResult"] = lp
    ctok = (12 if opt["tools"] else len(pieces)) * len(cands)
    return envelope(model, rid, {"candidates": cands, "usageMetadata": usage(opt, ptok, ctok)})


def stream_events(opt, body, model):
    """The GenerateContentResponse of each event, in order."""
    rid = uuid.uuid4().hex[:22]
    pieces, finish, ptok = plan(opt, body)
    if opt["blocked"]:
        return [envelope(model, rid, {
            "promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": usage(dict(opt, thinking=False), ptok, 0)})]
    gc = body.get("generationConfig", body.get("generation_config")) or {}
    n = gc.get("candidateCount", gc.get("candidate_count")) or 1
    n = n if isinstance(n, int) and n > 0 else 1
    events = []
    if opt["tools"]:
        parts = ([{"text": THOUGHT, "thought": True}] if summaries(opt, body) else []) + \
            tool_parts(opt)
        events.append({"candidates": [{"content": {"role": "model", "parts": parts},
                                       "finishReason": "STOP", "index": c} for c in range(n)],
                       "usageMetadata": usage(opt, ptok, 12 * n)})
    else:
        for i, w in enumerate(pieces):
            parts = [{"text": w}]
            if i == 0 and summaries(opt, body):
                parts.insert(0, {"text": THOUGHT, "thought": True})
            cands = []
            lp = logprobs_result(body, [w])
            if lp is not None:   # a stream's: this event's token, its place in the answer
                for c in lp["chosenCandidates"]:
                    c.pop("logProbability", None)
                    if i:
                        c["logProbability"] = round(-0.1 * i, 3)
            for c in range(n):
                cand = {"content": {"role": "model", "parts": parts}, "index": c}
                if lp is not None:
                    cand["logprobsResult"] = lp
                if i == len(pieces) - 1:
                    cand["finishReason"] = finish
                cands.append(cand)
            events.append({"candidates": cands, "usageMetadata": usage(opt, ptok, (i + 1) * n)})
    return [envelope(model, rid, e) for e in events]


def vector(text, dims):
    """A deterministic vector for text: floats in [-1, 1] from SHA-256, 6 decimals."""
    out = []
    for i in range(dims):
        h = hashlib.sha256(("%s|%d" % (text, i)).encode()).digest()
        out.append(round(struct.unpack(">I", h[:4])[0] / 2147483647.5 - 1.0, 6))
    return out


def embed_one(req, model, where):
    if not isinstance(req, dict):
        raise BadRequest("Invalid value at '%s' (EmbedContentRequest)." % where, where)
    content = req.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list) or not parts:
        raise BadRequest("* BatchEmbedContentsRequest.%s.content.parts: contents.parts must "
                         "not be empty." % where, where)
    texts = []
    for j, p in enumerate(parts):
        check_part(p, "%s.content.parts[%d]" % (where, j))
        if "text" not in p:
            raise BadRequest("Only text can be embedded.", where)
        texts.append(p["text"])
    dims = req.get("outputDimensionality", req.get("output_dimensionality")) or 8
    if not isinstance(dims, int) or dims < 1 or dims > 3072:
        raise BadRequest("outputDimensionality must be between 1 and 3072.", where)
    return {"values": vector("".join(texts), dims)}


class Handler(mockserve.MockHandler):
    server_version = "gemini-mock/1.0"
    log_name = "gemini-mock"

    # ---- plumbing -------------------------------------------------------------------

    def record(self, raw, model=None, method=None):
        u = urlsplit(self.path)
        return super().record(raw, path=u.path,
                              query={k: v[-1] for k, v in parse_qs(u.query).items()},
                              model=model, method_name=method)

    def send_json(self, status, obj, extra=()):
        self.send_bytes(status, json.dumps(obj, indent=2).encode(),
                        "application/json; charset=UTF-8",
                        [("Vary", "Origin, X-Origin, Referer")] + list(extra))

    def send_bad(self, e):
        details = [{"@type": "type.googleapis.com/google.rpc.BadRequest",
                    "fieldViolations": [{"field": e.field, "description": e.message}]}] \
            if e.field else None
        self.send_json(400, rpc_error(400, "INVALID_ARGUMENT", e.message, details))

    def key_ok(self):
        """None when the key is right, else the error already sent."""
        key = self.headers.get("x-goog-api-key")
        if key is None:
            key = parse_qs(urlsplit(self.path).query).get("key", [None])[-1]
        if key is None or key == "":
            self.send_json(403, rpc_error(
                403, "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API."))
            return False
        if key != self.server.key:
            self.send_json(400, rpc_error(
                400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                  "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                  "metadata": {"service": "generativelanguage.googleapis.com"}},
                 {"@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                  "locale": "en-US",
                  "message": "API key not valid. Please pass a valid API key."}]))
            return False
        return True

    # ---- routes ---------------------------------------------------------------------

    def do_GET(self):
        path = urlsplit(self.path).path
        if self.introspect(path):
            return None
        if path == "/health":
            return self.send_json(200, {"status": "ok"})
        self.record(b"")
        if re.fullmatch(r"/v1(beta)?/models", path):
            if not self.key_ok():
                return None
            return self.send_json(200, {"models": [
                {"name": "models/" + m, "displayName": m,
                 "supportedGenerationMethods": ["generateContent", "countTokens"]}
                for m in ("echo", "tools", "thinking")]})
        return self.send_json(404, rpc_error(404, "NOT_FOUND", "Not found: %s" % path))

    def vertex(self, v, u, raw):
        """A Vertex AI call (v: the path's match)."""
        model, method = v.group(3), v.group(4)
        rec = self.record(raw, model, method)
        self.on_vertex = True
        if method not in ("generateContent", "streamGenerateContent", "predict"):
            return self.send_json(404, [rpc_error(404, "NOT_FOUND", "Not found: %s" % u.path)])
        if self.headers.get("x-goog-api-key") is not None:
            return self.send_json(400, [rpc_error(400, "INVALID_ARGUMENT",
                                                  "API keys are not supported by this API.")])
        token = self.headers.get("Authorization")
        if not valid_token(self.server.vertex_secret, token) or "status-401" in model.split("+") \
                or "revoke-after-use" in model.split("+") and token in self.server.revoked:
            return self.send_json(401, [rpc_error(
                401, "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                "login cookie or other valid authentication credential.")])
        if "revoke-after-use" in model.split("+"):
            self.server.revoked.add(token)
        body = rec["body"]
        if body is None:
            return self.send_json(400, [rpc_error(400, "INVALID_ARGUMENT",
                                                  "Invalid JSON payload received.")])
        if method == "predict":
            return self.predict(model, body)
        for c in body.get("contents", []) if isinstance(body, dict) else []:
            if isinstance(c, dict) and c.get("role") not in ("user", "model"):
                return self.send_json(400, [rpc_error(
                    400, "INVALID_ARGUMENT",
                    "Unable to submit request because Please use a valid role: user, model.")])
        self.run(model, method, rec, parse_qs(u.query).get("alt", [""])[-1] == "sse")
        return None

    def predict(self, model, body):
        inst = body.get("instances") if isinstance(body, dict) else None
        params = body.get("parameters") or {}
        most = 1 if "gemini-embedding" in model else 250
        if not isinstance(inst, list) or not inst or len(inst) > most or \
                not all(isinstance(i, dict) and isinstance(i.get("content"), str) for i in inst):
            return self.send_json(400, [rpc_error(
                400, "INVALID_ARGUMENT", "Invalid instances: 1 to %d of {content}." % most)])
        dims = params.get("outputDimensionality") or 8
        return self.send_json(200, {"predictions": [
            {"embeddings": {"values": vector(i["content"], dims),
                            "statistics": {"token_count": len(i["content"].split()),
                                           "truncated": False}}} for i in inst],
            "metadata": {"billableCharacterCount": sum(len(i["content"]) for i in inst)}})

    def do_POST(self):
        u = urlsplit(self.path)
        raw = self.read_body()
        if self.introspect(u.path):
            return None
        self.on_vertex = False
        v = re.fullmatch(r"/v1/projects/([a-z0-9-]+)/locations/([a-z0-9-]+)/"
                         r"(?:publishers/google/models|endpoints)/([^:]+):([A-Za-z]+)",
                         unquote(u.path))
        if v and self.server.vertex_secret:
            return self.vertex(v, u, raw)
        m = re.fullmatch(r"/v1(?:beta)?/models/(.+):([A-Za-z]+)", unquote(u.path))
        model, method = (m.group(1), m.group(2)) if m else (None, None)
        rec = self.record(raw, model, method)
        if m is None or method not in ("generateContent", "streamGenerateContent",
                                       "batchEmbedContents", "embedContent"):
            return self.send_json(404, rpc_error(404, "NOT_FOUND",
                                                 "Not found: %s" % u.path))
        if not self.key_ok():
            return None
        if rec["body"] is None:
            return self.send_bad(BadRequest("Invalid JSON payload received. Unexpected token."))
        sse = parse_qs(u.query).get("alt", [""])[-1] == "sse"
        self.run(model, method, rec, sse)
        return None

    def do_PUT(self):
        self.record(self.read_body())
        self.send_json(405, rpc_error(405, "INVALID_ARGUMENT", "Method not allowed"))

    do_DELETE = do_PUT

    # ---- the model ------------------------------------------------------------------

    def run(self, model, method, rec, sse):
        opt = parse_model(model)
        stream = method == "streamGenerateContent"
        with self.answering(rec["seq"], model=model, method=method, stream=stream,
                            sse=sse) as srec:
            self.pause(opt["sleep_ms"] / 1000.0)
            if opt["status"]:
                srec["headers_sent_at"] = now()
                err = error_for(opt["status"], model, retry_delay(opt))
                # the JSON-array stream wraps its error in the array too; so does Vertex
                self.send_json(opt["status"], [err] if (stream and not sse) or
                               getattr(self, "on_vertex", False) else err)
                srec["completed"] = True
                return
            body = rec["body"]
            try:
                if method in ("generateContent", "streamGenerateContent"):
                    check_generate(body, getattr(self, "on_vertex", False))
                    check_thinking(body, model)
                    if opt["signed"]:
                        check_signatures(body)
                elif method == "embedContent":
                    answer = {"embedding": embed_one(body, model, "request")}
                else:
                    reqs = body.get("requests") if isinstance(body, dict) else None
                    if not isinstance(reqs, list) or not reqs:
                        raise BadRequest("* BatchEmbedContentsRequest.requests: requests is not "
                                         "specified", "requests")
                    if len(reqs) > 100:
                        raise BadRequest("* BatchEmbedContentsRequest.requests: at most 100 "
                                         "requests can be in one batch", "requests")
                    for i, r in enumerate(reqs):
                        want = "models/" + model
                        if isinstance(r, dict) and r.get("model") != want:
                            raise BadRequest("Model names should match: requests[%d].model is "
                                             "%r, the URL has %r." % (i, r.get("model"), want),
                                             "requests[%d].model" % i)
                    answer = {"embeddings": [embed_one(r, model, "requests[%d]" % i)
                                             for i, r in enumerate(reqs)]}
            except BadRequest as e:
                srec["headers_sent_at"] = now()
                self.send_bad(e)
                srec["completed"] = True
                return
            if method == "streamGenerateContent":
                self.stream(opt, body, model, srec, sse)
                return
            if method == "generateContent":
                answer = unary_answer(opt, body, model)
            self.unary(opt, answer, srec)

    def unary(self, opt, answer, srec):
        srec["total_chunks"] = 1
        if opt["stall_after"] is not None:
            self.send_half_and_stall(srec, json.dumps(answer, indent=2).encode(),
                                     "application/json; charset=UTF-8")
        srec["headers_sent_at"] = now()
        self.send_json(200, answer, extra=[("Server-Timing", "gfet4t7; dur=12")])
        srec["chunks_sent"] = 1
        srec["send_times"].append(now())
        srec["completed"] = True

    def stream(self, opt, body, model, srec, sse):
        events = stream_events(opt, body, model)
        delay = opt["delay_ms"] / 1000.0 if opt["mode"] == "words" else 0.0
        srec["total_chunks"] = len(events)
        self.start_stream(srec, "text/event-stream" if sse
                          else "application/json; charset=UTF-8",
                          [("Transfer-Encoding", "chunked"),
                           ("Vary", "Origin, X-Origin, Referer")])

        def chunk(data):
            self.check_peer()
            self.write_chunk(data)

        for i, ev in enumerate(events):
            if i > 0:
                self.pause(delay)
            if opt["stall_after"] is not None and i >= opt["stall_after"]:
                self.stall()
            if opt["close_after"] is not None and i >= opt["close_after"]:
                self.hang_up()
                return
            if opt["quota_after"] is not None and i >= opt["quota_after"]:
                ev = error_for(429, model, retry_delay(opt))
            if sse and opt["nonobject"] and i == 1:
                junk = json.dumps({"candidates": [{"content": {"role": "model", "parts": [
                    {"text": "JUNK"}]}, "index": 0}]}, separators=(",", ":"))
                for payload in ("null", '"x"', "42", "[1]", junk + " trailing"):
                    chunk(("data: " + payload + "\r\n\r\n").encode())
            if sse:
                data = ("data: " + json.dumps(ev, separators=(",", ":")) + "\r\n\r\n").encode()
            else:
                text = json.dumps(ev, indent=2)
                data = (("[" if i == 0 else "\n,\r\n") + text).encode()
            chunk(data)
            srec["chunks_sent"] += 1
            srec["send_times"].append(now())
            if "error" in ev:
                break
        if opt["stall_after"] is not None and opt["stall_after"] >= len(events):
            self.stall()
        if not sse:
            chunk(b"\n]" if events else b"[]")
        self.end_chunks()
        srec["completed"] = True


def main():
    def args(ap):
        ap.add_argument("--key", default=DEFAULT_KEY, help="the API key callers must send")
        ap.add_argument("--vertex-secret", help="serve Vertex AI's routes (google_oauth_mock)")

    srv, a = mockserve.start(Handler, __doc__, args)
    srv.key = a.key
    srv.vertex_secret = a.vertex_secret
    srv.revoked = set()
    mockserve.serve(srv, a, "gemini_mock")


if __name__ == "__main__":
    main()
