#!/usr/bin/env python3
"""A strict mock of Langfuse's two ingestion endpoints (standard library only).

    python3 tests/mock/langfuse_mock.py --port 0 --port-file /tmp/lf.port [--parent-pid PID]
        [--public-key pk-lf-test] [--secret-key sk-lf-test] [--v4]
        [--otel-max-bytes 16000000] [--legacy-max-bytes 3500000]

Follows docs/protocols.md section 4. Binds 127.0.0.1 only; HTTP/1.1 keep-alive.

Ingestion endpoints (Basic auth base64("pk:sk"); wrong/missing -> 401
{"error":"UnauthorizedError","message":...}):

    POST /api/public/otel/v1/traces   OTLP/HTTP JSON only (protobuf -> 415), optional gzip;
        x-langfuse-ingestion-version must be an integer <= 4. The whole export is validated
        strictly (4.10); any violation -> 400 {"message": "<what is wrong, where>"}.
        Body (wire or decompressed) over --otel-max-bytes -> 413. Success -> 200 {}.
    POST /api/public/ingestion        legacy batch (4.2-4.6). Body must be application/json
        (no Content-Encoding; Next.js' body parser does not inflate) with `batch` an array,
        else 400 {"message":"Invalid request data","errors":[...]}; over --legacy-max-bytes
        -> 413. Otherwise 207 {"successes":[{id,status:201}],"errors":[{id,status,message,
        error}]}. With v4 on, every event but score-create/sdk-log fails with a per-event
        400 "Event type not accepted" (self-hosted v4 events_only).

Control (never subject to fault modes, no auth):

    POST /_mock/mode      JSON {"mode": M, ...options, "count": N, "v4": bool}; answers the
                          resulting state. Modes (for the ingestion endpoints only):
        ok                normal behaviour
        down              read the request head, then close the connection with a RST, no reply
        slow              sleep delay_s (default 2) after reading the body, then behave normally
        429               429 + Retry-After: retry_after (default "1"), X-RateLimit-Limit: 1000,
                          X-RateLimit-Remaining: 0, X-RateLimit-Reset: <ISO time>
        500 / 401 / 403   that whole-request status
        partial           legacy: each event at a batch position that is a multiple of `every`
                          (default 2), if otherwise valid, gets per-event `status` (default
                          500) and is not stored; OTLP: likewise every `every`-th span of the
                          export is rejected and not stored, and the answer is 200
                          {"partialSuccess":{"rejectedSpans":"N","errorMessage":...}};
                          with `trace_ids` (a list), OTLP rejects the spans of those traces
                          instead, wherever they stand in the export
        count: N          the mode applies to the next N ingestion requests, then back to ok
                          (omitted/null: until changed)
        v4: true|false    legacy v4 events_only behaviour (independent of mode and count);
                          a call without "mode" changes only v4 and keeps the current fault
    GET  /_mock/mode      the current state
    GET  /_mock/spans     accepted spans in first-received order: {traceId, spanId,
                          parentSpanId, name, kind, startTimeUnixNano, endTimeUnixNano, status,
                          attributes (dict key -> value), resource (dict), scope, received}
    GET  /_mock/events    accepted legacy events: {id, type, timestamp, body, received}
    GET  /_mock/entities  legacy entities merged by body id (4.6 upsert rules):
                          {kind: trace|observation|score, id, body, events}
    GET  /_mock/requests  every ingestion request: {seq, time, method, path, status (null when
                          the connection was dropped), bytes, decoded_bytes, spans, events,
                          mode, error, headers (Authorization value redacted)}
    POST /_mock/reset     clears everything and sets mode ok, v4 back to the --v4 flag
"""

import base64
import datetime
import gc
import json
import re
import socket
import struct
import threading
import time
import zlib

import mockserve

OTEL_PATH = "/api/public/otel/v1/traces"
LEGACY_PATH = "/api/public/ingestion"

LOCK = threading.Lock()
SPANS = {}       # (traceId, spanId) -> stored span
EVENTS = {}      # event id -> stored event
ENTITIES = {}    # (kind, body id) -> merged entity
REQUESTS = []    # log of ingestion requests
SEQ = [0]
MODE = {"mode": "ok", "count": None, "v4": False}
CFG = {"v4_default": False}   # set from the command line

MODES = ("ok", "down", "slow", "429", "500", "401", "403", "partial")
OBS_TYPES = ("span", "generation", "event", "agent", "tool", "chain", "retriever",
             "evaluator", "embedding", "guardrail")
LEVELS = ("DEBUG", "DEFAULT", "WARNING", "ERROR")
GEN_LIKE = ("generation-create", "generation-update", "agent-create", "tool-create",
            "chain-create", "retriever-create", "evaluator-create", "embedding-create",
            "guardrail-create", "observation-create", "observation-update")
EVENT_TYPES = ("trace-create", "span-create", "span-update", "event-create", "score-create",
               "sdk-log") + GEN_LIKE

HEX32 = re.compile(r"[0-9a-f]{32}")
HEX16 = re.compile(r"[0-9a-f]{16}")
DIGITS = re.compile(r"[0-9]+")
INT_STR = re.compile(r"-?[0-9]+")
# ISO-8601 date-time with a mandatory offset (Z or +hh:mm); fraction optional
ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")


class Invalid(Exception):
    """A validation failure; the message names the problem and where."""


def need(ok, fmt, *args):
    if not ok:
        raise Invalid(fmt % args)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class dump:
    """A value as JSON for a message, rendered only when the message is (need() fails)."""

    def __init__(self, v):
        self.v = v

    def __str__(self):
        return json.dumps(self.v)[:200]


def parse_iso(s, need_ms=False):
    """The datetime of an ISO-8601 string with offset, or None when it is not one."""
    m = ISO.fullmatch(s) if isinstance(s, str) else None
    if not m or (need_ms and len(m.group(1) or "") < 4):
        return None
    frac = (m.group(1) or "")[:7]              # python handles at most microseconds
    try:
        return datetime.datetime.fromisoformat(
            s[:19] + frac + ("+00:00" if m.group(2) == "Z" else m.group(2)))
    except ValueError:
        return None


# ---------------------------------------------------------------- shared value rules

def check_usage(u, where):
    """usage details: a map of non-negative ints, or a strict OpenAI Chat/Responses usage."""
    need(isinstance(u, dict), "%s must be a JSON object", where)
    chat = {"prompt_tokens", "completion_tokens", "total_tokens",
            "prompt_tokens_details", "completion_tokens_details"}
    resp = {"input_tokens", "output_tokens", "total_tokens",
            "input_tokens_details", "output_tokens_details"}
    strict = set(u) <= chat or set(u) <= resp
    for k, v in u.items():
        if strict and k.endswith("_details") and isinstance(v, dict):
            for dk, dv in v.items():
                need(dv is None or (is_int(dv) and dv >= 0),
                     "%s.%s.%s must be a non-negative integer", where, k, dk)
        else:
            need(is_int(v) and v >= 0, "%s.%s must be a non-negative integer, got %s",
                 where, k, dump(v))


def check_cost(c, where):
    need(isinstance(c, dict), "%s must be a JSON object", where)
    for k, v in c.items():
        need(is_num(v) and v >= 0, "%s.%s must be a non-negative number, got %s",
             where, k, dump(v))


def check_params(p, where):
    """modelParameters: string|number|bool|null|string[]|map string->string per key."""
    need(isinstance(p, dict), "%s must be a JSON object", where)
    for k, v in p.items():
        need(v is None or isinstance(v, (str, bool)) or is_num(v)
             or (isinstance(v, list) and all(isinstance(x, str) for x in v))
             or (isinstance(v, dict) and all(isinstance(x, str) for x in v.values())),
             "%s.%s: nested objects/arrays are not allowed (stringify it), got %s",
             where, k, dump(v))


# ---------------------------------------------------------------- OTLP/JSON (4.10)

VALUE_KINDS = ("stringValue", "intValue", "doubleValue", "boolValue", "arrayValue")


def any_value(v, where):
    """Validate an OTLP AnyValue and return it decoded to a plain Python value."""
    need(isinstance(v, dict) and len(v) == 1 and next(iter(v)) in VALUE_KINDS,
         "%s: value must be an object with exactly one of %s, got %s",
         where, "/".join(VALUE_KINDS), dump(v))
    k, x = next(iter(v.items()))
    if k == "stringValue" and isinstance(x, str):
        return x
    if k == "intValue" and ((isinstance(x, str) and INT_STR.fullmatch(x)) or is_int(x)):
        return int(x)
    if k == "doubleValue" and is_num(x):
        return float(x)
    if k == "boolValue" and isinstance(x, bool):
        return x
    if k == "arrayValue" and isinstance(x, dict) and list(x) == ["values"] \
            and isinstance(x["values"], list):
        return [any_value(e, "%s.arrayValue.values[%d]" % (where, i))
                for i, e in enumerate(x["values"])]
    raise Invalid("%s: bad %s %s" % (where, k, dump(x)))


def attributes(lst, where):
    """Validate an OTLP attribute list; return it as a dict."""
    need(isinstance(lst, list),
         "%s must be a list of {key, value} (a JSON object map is not allowed)", where)
    out = {}
    for i, a in enumerate(lst):
        w = "%s[%d]" % (where, i)
        need(isinstance(a, dict) and set(a) == {"key", "value"},
             "%s must be exactly {key, value}", w)
        key = a["key"]
        need(isinstance(key, str) and key, "%s.key must be a non-empty string", w)
        need(key not in out, "%s: duplicate attribute key %r", w, key)
        out[key] = any_value(a["value"], "%s (%s)" % (w, key))
    return out


def langfuse_attrs(attrs, raw, w):
    """Attribute-level rules of Langfuse's OTel processor (raw: key -> AnyValue)."""
    def string(key):
        return isinstance(raw[key].get("stringValue"), str)

    for key, check in (("langfuse.observation.usage_details", check_usage),
                       ("langfuse.observation.cost_details", check_cost),
                       ("langfuse.observation.model.parameters", check_params)):
        if key in attrs:
            need(string(key), "%s: %s must be a stringValue holding a JSON object, got %s",
                 w, key, dump(raw[key]))
            try:
                obj = json.loads(attrs[key])
            except ValueError:
                raise Invalid("%s: %s: stringValue is not valid JSON" % (w, key))
            check(obj, "%s: %s" % (w, key))
    for key, allowed in (("langfuse.observation.type", OBS_TYPES),
                         ("langfuse.observation.level", LEVELS)):
        need(key not in attrs or (string(key) and attrs[key] in allowed),
             "%s: %s must be a stringValue, one of %s, got %s",
             w, key, ", ".join(allowed), dump(raw.get(key)))
    key = "langfuse.observation.completion_start_time"
    need(key not in attrs or (string(key) and parse_iso(attrs[key])),
         "%s: %s must be an ISO-8601 date-time string with offset, got %s",
         w, key, dump(raw.get(key)))
    key = "langfuse.trace.tags"
    need(key not in attrs or ("arrayValue" in raw[key] and all(
        "stringValue" in x for x in raw[key]["arrayValue"]["values"])),
        "%s: %s must be an arrayValue of stringValues", w, key)


def validate_otlp(doc):
    """Validate a whole OTLP export; return the decoded spans (all or nothing)."""
    need(isinstance(doc, dict) and isinstance(doc.get("resourceSpans"), list),
         "resourceSpans must be a list")
    spans = []
    for ri, rs in enumerate(doc["resourceSpans"]):
        w = "resourceSpans[%d]" % ri
        need(isinstance(rs, dict) and isinstance(rs.get("resource"), dict),
             "%s.resource must be an object", w)
        res = attributes(rs["resource"].get("attributes"), w + ".resource.attributes")
        need(isinstance(rs.get("scopeSpans"), list), "%s.scopeSpans must be a list", w)
        for si, ss in enumerate(rs["scopeSpans"]):
            ws = "%s.scopeSpans[%d]" % (w, si)
            need(isinstance(ss, dict) and isinstance(ss.get("scope"), dict),
                 "%s.scope must be an object", ws)
            need(isinstance(ss.get("spans"), list), "%s.spans must be a list", ws)
            for pi, sp in enumerate(ss["spans"]):
                spans.append(validate_span(sp, "%s.spans[%d]" % (ws, pi), res, ss["scope"]))
    return spans


def hex_id(v, pattern):
    return isinstance(v, str) and pattern.fullmatch(v) and v.strip("0")


def validate_span(sp, w, res, scope):
    need(isinstance(sp, dict), "%s must be an object", w)
    tid, sid, pid = sp.get("traceId"), sp.get("spanId"), sp.get("parentSpanId", "")
    need(hex_id(tid, HEX32), "%s.traceId must be 32 lowercase hex chars (hex, not base64), "
         "not all zero, got %s", w, dump(tid))
    need(hex_id(sid, HEX16), "%s.spanId must be 16 lowercase hex chars (hex, not base64), "
         "not all zero, got %s", w, dump(sid))
    need(pid == "" or hex_id(pid, HEX16),
         "%s.parentSpanId must be empty or 16 lowercase hex chars, got %s", w, dump(pid))
    need(isinstance(sp.get("name"), str), "%s.name must be a string", w)
    kind = sp.get("kind")
    need(is_int(kind) and 0 <= kind <= 5, "%s.kind must be an integer 0-5, got %s",
         w, dump(kind))
    for k in ("startTimeUnixNano", "endTimeUnixNano"):
        need(isinstance(sp.get(k), str) and DIGITS.fullmatch(sp[k]),
             "%s.%s must be a decimal string of digits, got %s", w, k, dump(sp.get(k)))
    need(int(sp["endTimeUnixNano"]) >= int(sp["startTimeUnixNano"]),
         "%s: endTimeUnixNano is before startTimeUnixNano", w)
    attrs = attributes(sp.get("attributes", []), w + ".attributes")
    langfuse_attrs(attrs, {a["key"]: a["value"] for a in sp.get("attributes", [])}, w)
    st = sp.get("status")
    need(st is None or isinstance(st, dict), "%s.status must be an object", w)
    need(st is None or (is_int(st.get("code", 0)) and st.get("code", 0) in (0, 1, 2)),
         "%s.status.code must be 0, 1 or 2, got %s", w, dump((st or {}).get("code")))
    need(st is None or isinstance(st.get("message", ""), str),
         "%s.status.message must be a string", w)
    return {"traceId": tid, "spanId": sid, "parentSpanId": pid, "name": sp["name"],
            "kind": kind, "startTimeUnixNano": sp["startTimeUnixNano"],
            "endTimeUnixNano": sp["endTimeUnixNano"], "status": st,
            "attributes": attrs, "resource": res, "scope": scope}


# ---------------------------------------------------------------- legacy batch (4.2-4.6)

def s_max(n):
    return (lambda v: isinstance(v, str) and len(v) <= n), "string (<= %d chars)" % n


STR = (lambda v: isinstance(v, str)), "string"
TIME = (lambda v: parse_iso(v) is not None), "ISO-8601 datetime with offset"
TRACE_SPEC = {"id": s_max(800), "timestamp": TIME, "name": s_max(1000), "userId": STR,
              "sessionId": STR, "release": STR, "version": STR, "environment": STR,
              "tags": ((lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v)),
                       "string[]"),
              "public": ((lambda v: isinstance(v, bool)), "boolean")}
SPAN_SPEC = {"id": s_max(800), "traceId": s_max(800), "parentObservationId": STR,
             "name": STR, "startTime": TIME, "endTime": TIME, "statusMessage": STR,
             "level": ((lambda v: v in LEVELS), " | ".join(LEVELS)), "version": STR,
             "environment": STR}
GEN_SPEC = dict(SPAN_SPEC, completionStartTime=TIME, model=STR, promptName=STR,
                promptVersion=(is_int, "integer"),
                usage=((lambda v: isinstance(v, dict)), "object"))


def validate_event(ev):
    """Envelope (4.2/4.3) and body (4.4) of one legacy event."""
    need(isinstance(ev, dict), "event must be an object")
    eid, etype = ev.get("id"), ev.get("type")
    need(isinstance(eid, str) and 1 <= len(eid) <= 800 and "\r" not in eid,
         "id: must be a string of 1-800 chars without \\r")
    need(etype in EVENT_TYPES, "type: invalid event type %s", dump(etype))
    need(parse_iso(ev.get("timestamp"), need_ms=True),
         "timestamp: must be ISO-8601 with offset and milliseconds, got %s",
         dump(ev.get("timestamp")))
    body = ev.get("body")
    need(isinstance(body, dict), "body: must be an object")
    if etype == "sdk-log":
        need("log" in body, "sdk-log body.log: Required")
    if etype in ("sdk-log", "score-create"):
        return
    if etype == "trace-create":
        spec = TRACE_SPEC
    else:                      # observations: the id is required on the server
        need(isinstance(body.get("id"), str) and body["id"],
             "%s body.id: Required (non-empty string)", etype)
        spec = GEN_SPEC if etype in GEN_LIKE else SPAN_SPEC
        if etype == "event-create":
            spec = {k: v for k, v in spec.items() if k != "endTime"}
    for f, (ok, desc) in spec.items():          # null counts as absent (zod .nullish())
        need(body.get(f) is None or ok(body[f]), "%s body.%s: expected %s, got %s",
             etype, f, desc, dump(body.get(f)))
    if etype in GEN_LIKE:
        for f, check in (("modelParameters", check_params), ("usageDetails", check_usage),
                         ("costDetails", check_cost)):
            if body.get(f) is not None:
                check(body[f], "%s body.%s" % (etype, f))
        need((body.get("promptName") is None) == (body.get("promptVersion") is None),
             "%s body: promptName and promptVersion must be set together", etype)


def merge(old, new, trace):
    """Langfuse upsert: later non-null values win, {} never overwrites, metadata deep-merges,
    tags union; a trace's timestamp/environment/id never change after the first write."""
    out = dict(old)
    for k, v in new.items():
        if v is None or v == {} or (trace and k in old and k in ("id", "timestamp",
                                                                 "environment")):
            continue
        if k == "metadata" and isinstance(v, dict) and isinstance(old.get(k), dict):
            out[k] = merge(old[k], v, False)
        elif k == "tags" and isinstance(v, list) and isinstance(old.get(k), list):
            out[k] = old[k] + [t for t in v if t not in old[k]]
        else:
            out[k] = v
    return out


def store_events(accepted):
    """Record accepted events (re-sent id = duplicate) and upsert their entities, creates
    before updates, each group by envelope timestamp (4.6)."""
    now = time.time()
    with LOCK:
        for ev in sorted(accepted, key=lambda e: (e["type"].endswith("-update"),
                                                  parse_iso(e["timestamp"]))):
            old = EVENTS.get(ev["id"])
            EVENTS[ev["id"]] = dict(ev, received=old["received"] + 1 if old else 1,
                                    last_received=now)
            kind = {"trace-create": "trace", "score-create": "score",
                    "sdk-log": None}.get(ev["type"], "observation")
            bid = ev["body"].get("id")
            if kind is None or not isinstance(bid, str):
                continue
            ent = ENTITIES.setdefault((kind, bid), {"kind": kind, "id": bid, "body": {},
                                                    "events": []})
            ent["body"] = merge(ent["body"], ev["body"], kind == "trace")
            if ev["id"] not in ent["events"]:
                ent["events"].append(ev["id"])


def store_spans(spans):
    now = time.time()
    with LOCK:
        for sp in spans:
            old = SPANS.get((sp["traceId"], sp["spanId"]))
            sp.update(received=old["received"] + 1 if old else 1, last_received=now,
                      first_received=old["first_received"] if old else now)
            SPANS[(sp["traceId"], sp["spanId"])] = sp


# ---------------------------------------------------------------- mode bookkeeping

def take_mode():
    """The fault for this ingestion request (consuming one of `count`)."""
    with LOCK:
        m = dict(MODE)
        if MODE["mode"] != "ok" and MODE["count"] is not None:
            MODE["count"] -= 1
            if MODE["count"] <= 0:
                MODE.update(mode="ok", count=None)
        return m


def reset_all():
    with LOCK:
        for store in (SPANS, EVENTS, ENTITIES, MODE):
            store.clear()
        REQUESTS.clear()
        MODE.update(mode="ok", count=None, v4=CFG["v4_default"])


def media(value, default=""):
    return (value or default).split(";")[0].strip().lower()


class Handler(mockserve.MockHandler):
    server_version = "langfuse-mock/1.0"
    log_name = "langfuse_mock"
    tcp_nodelay = False

    # ---- plumbing -------------------------------------------------------------------

    def read_body(self, limit):
        """The raw body, or None when over `limit` bytes (then drained and dropped)."""
        parts, size = [], 0
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        left = 0 if chunked else int(self.headers.get("Content-Length") or 0)
        while True:
            if chunked:
                n = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                data = self.rfile.read(n)
                self.rfile.readline()
            else:
                data = self.rfile.read(min(left, 1 << 20)) if left > 0 else b""
                if not data:
                    break
                left -= len(data)
            size += len(data)
            if size <= limit:
                parts.append(data)
        self.wire_bytes = size
        return b"".join(parts) if size <= limit else None

    def send_json(self, status, obj, extra=()):
        data = json.dumps(obj).encode()
        # recorded before the answer goes out: a client that has it may ask for the record
        self.rec["status"] = status
        if status >= 300 and status != 207:
            self.rec["error"] = obj.get("message")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    # ---- routes ---------------------------------------------------------------------

    def do_GET(self):
        path = self.path.split("?")[0]
        views = {"/_mock/spans": SPANS, "/_mock/events": EVENTS,
                 "/_mock/entities": ENTITIES, "/_mock/requests": REQUESTS, "/_mock/mode": MODE}
        self.rec = {}
        if path in views:
            v = views[path]
            with LOCK:            # serialise under the lock: a consistent deep copy
                data = json.loads(json.dumps(list(v.values()) if v is not MODE
                                             and isinstance(v, dict) else v))
            return self.send_json(200, data)
        if path in (OTEL_PATH, LEGACY_PATH):
            return self.fail(405, "Method not allowed", error="MethodNotAllowedError")
        self.fail(404, "Not found: %s" % path)

    def do_POST(self):
        path = self.path.split("?")[0]
        self.rec = {}
        if path.startswith("/_mock/"):
            return self.control(path)
        if path not in (OTEL_PATH, LEGACY_PATH):
            self.read_body(1 << 20)
            return self.fail(404, "Not found: %s" % path)
        mode = take_mode()
        with LOCK:
            SEQ[0] += 1
            self.rec = {"seq": SEQ[0], "time": time.time(), "method": "POST", "path": path,
                        "status": None, "bytes": 0, "decoded_bytes": None, "spans": None,
                        "events": None, "mode": mode["mode"], "error": None,
                        "headers": {k.lower(): "<redacted>" if k.lower() == "authorization"
                                    else v for k, v in self.headers.items()}}
            REQUESTS.append(self.rec)
        if mode["mode"] == "down":
            # no reply at all; linger 0 makes the close send a RST
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            self.rec["error"] = "connection dropped (mode down)"
            return
        otel = path == OTEL_PATH
        limit = self.server.otel_max if otel else self.server.legacy_max
        raw = self.read_body(limit)
        self.rec["bytes"] = self.wire_bytes
        if mode["mode"] == "slow":
            time.sleep(float(mode.get("delay_s", 2)))
        if not self.auth_ok() or mode["mode"] == "401":
            return self.fail(401, "Invalid credentials. Confirm that you've configured the "
                             "correct host.", error="UnauthorizedError")
        if mode["mode"] == "403":
            return self.fail(403, "Ingestion suspended: usage threshold exceeded",
                             error="ForbiddenError")
        if mode["mode"] == "429":
            ra = str(mode.get("retry_after", "1"))
            reset = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
                seconds=float(ra) if re.fullmatch(r"\d+(\.\d+)?", ra) else 1)
            return self.fail(429, "Rate limit exceeded", extra=[
                ("Retry-After", ra), ("X-RateLimit-Limit", "1000"),
                ("X-RateLimit-Remaining", "0"),
                ("X-RateLimit-Reset", reset.isoformat(timespec="seconds"))])
        if mode["mode"] == "500":
            return self.fail(500, "Internal Server Error", error="mock fault (mode 500)")
        if raw is None:
            return self.fail(413, "Request body too large (%d bytes > %d)"
                             % (self.wire_bytes, limit))
        (self.otel if otel else self.legacy)(raw, mode)

    def fail(self, status, message, extra=(), **more):
        self.send_json(status, dict(more, message=message), extra)

    def auth_ok(self):
        h = self.headers.get("Authorization") or ""
        try:
            pair = base64.b64decode(h[6:].strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        return h.startswith("Basic ") and pair == "%s:%s" % (self.server.public_key,
                                                             self.server.secret_key)

    # ---- OTLP -----------------------------------------------------------------------

    def otel(self, raw, mode):
        ctype = media(self.headers.get("Content-Type"))
        if ctype != "application/json":
            return self.fail(415, "Unsupported Content-Type %r: this mock only accepts "
                             "application/json (OTLP/JSON)" % ctype)
        ver = self.headers.get("x-langfuse-ingestion-version")
        if ver is not None and not (re.fullmatch(r"\s*-?\d+\s*", ver) and int(ver) <= 4):
            return self.fail(400, "x-langfuse-ingestion-version must be an integer <= 4, "
                             "got %r" % ver)
        enc = media(self.headers.get("Content-Encoding"), "identity")
        if enc == "gzip":
            cap = self.server.otel_max
            try:
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)
                raw = d.decompress(raw, cap + 1)          # bounded: no gzip bombs
                if not d.eof and len(raw) <= cap:
                    raise zlib.error("truncated gzip stream")
            except zlib.error as e:
                return self.fail(400, "Invalid gzip body: %s" % e)
            if len(raw) > cap:
                return self.fail(413, "Decompressed body larger than %d bytes" % cap)
        elif enc != "identity":
            return self.fail(415, "Unsupported Content-Encoding %r" % enc)
        self.rec["decoded_bytes"] = len(raw)
        try:
            spans = validate_otlp(json.loads(raw))
        except (ValueError, UnicodeDecodeError) as e:
            return self.fail(400, "Body is not valid JSON: %s" % e)
        except Invalid as e:
            return self.fail(400, "Invalid OTLP export: %s" % e)
        self.rec["spans"] = len(spans)
        every = int(mode.get("every", 2)) if mode["mode"] == "partial" else 0
        poison = set(mode.get("trace_ids") or ()) if every else set()
        if poison:
            kept = [sp for sp in spans if sp["traceId"] not in poison]
        else:
            kept = [sp for i, sp in enumerate(spans) if not (every and (i + 1) % every == 0)]
        store_spans(kept)
        if len(kept) < len(spans):
            return self.send_json(200, {"partialSuccess": {
                "rejectedSpans": str(len(spans) - len(kept)),
                "errorMessage": "mock fault (mode partial)"}})
        self.send_json(200, {})

    # ---- legacy batch ---------------------------------------------------------------

    def legacy(self, raw, mode):
        # Next.js' body parser only parses application/json and never inflates
        doc = None
        if media(self.headers.get("Content-Type")) == "application/json" \
                and media(self.headers.get("Content-Encoding"), "identity") == "identity":
            try:
                doc = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                pass
        self.rec["decoded_bytes"] = len(raw)
        if not isinstance(doc, dict) or not isinstance(doc.get("batch"), list):
            got = type(doc.get("batch")).__name__ if isinstance(doc, dict) else "unparsed"
            return self.fail(400, "Invalid request data", errors=[
                {"code": "invalid_type", "expected": "array", "received": got,
                 "path": ["batch"], "message": "batch must be an array (body must be "
                 "application/json, uncompressed)"}])
        self.rec["events"] = len(doc["batch"])
        every = int(mode.get("every", 2)) if mode["mode"] == "partial" else 0
        forced = int(mode.get("status", 500))
        successes, errors, accepted = [], [], []
        for i, ev in enumerate(doc["batch"]):
            eid = ev["id"] if isinstance(ev, dict) and isinstance(ev.get("id"), str) \
                else "unknown"
            try:
                validate_event(ev)
            except Invalid as e:
                errors.append({"id": eid, "status": 400, "message": "Invalid request data",
                               "error": str(e)})
                continue
            if mode["v4"] and ev["type"] not in ("score-create", "sdk-log"):
                errors.append({"id": eid, "status": 400, "message": "Event type not accepted",
                               "error": "%s is not accepted in events_only write mode "
                               "(Langfuse v4); use the OTel endpoint" % ev["type"]})
            elif every and (i + 1) % every == 0:
                errors.append({"id": eid, "status": forced, "message": {
                    400: "Invalid request data", 401: "Unauthorized", 404: "Not found"}.get(
                        forced, "Internal Server Error"), "error": "mock fault (mode partial)"})
            else:
                successes.append({"id": eid, "status": 201})
                accepted.append(ev)
        store_events(accepted)
        self.send_json(207, {"successes": successes, "errors": errors})

    # ---- control --------------------------------------------------------------------

    def control(self, path):
        raw = self.read_body(1 << 20) or b""
        if path == "/_mock/reset":
            reset_all()
            return self.send_json(200, {"ok": True})
        if path != "/_mock/mode":
            return self.fail(404, "Not found: %s" % path)
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            req = None
        if not isinstance(req, dict):
            return self.fail(400, "mode body must be a JSON object")
        m, count = str(req.get("mode", MODE["mode"])), req.get("count")
        if m not in MODES:
            return self.fail(400, "unknown mode %r (one of %s)" % (m, ", ".join(MODES)))
        if count is not None and not (is_int(count) and count > 0):
            return self.fail(400, "count must be a positive integer or null")
        with LOCK:
            if "v4" in req:
                MODE["v4"] = bool(req["v4"])
            if "mode" in req:        # a new fault replaces the old one and its options
                v4 = MODE["v4"]
                MODE.clear()
                MODE.update({k: v for k, v in req.items() if k not in ("mode", "count", "v4")})
                MODE.update(mode=m, count=None if m == "ok" else count, v4=v4)
            state = dict(MODE)
        self.send_json(200, state)


def add_args(ap):
    ap.add_argument("--public-key", default="pk-lf-test")
    ap.add_argument("--secret-key", default="sk-lf-test")
    ap.add_argument("--v4", action="store_true",
                    help="legacy endpoint behaves like self-hosted v4 events_only")
    ap.add_argument("--otel-max-bytes", type=int, default=16_000_000)
    ap.add_argument("--legacy-max-bytes", type=int, default=3_500_000)


def main():
    srv, a = mockserve.start(Handler, __doc__, add_args)
    # the stores only grow and hold no cycles: the collector's passes over them cost seconds
    gc.disable()
    CFG["v4_default"] = a.v4
    reset_all()
    srv.public_key, srv.secret_key = a.public_key, a.secret_key
    srv.otel_max, srv.legacy_max = a.otel_max_bytes, a.legacy_max_bytes
    mockserve.serve(srv, a, "langfuse_mock")


if __name__ == "__main__":
    main()
