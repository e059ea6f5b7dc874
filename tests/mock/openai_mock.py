#!/usr/bin/env python3
"""A mock OpenAI-compatible upstream for the sllmp integration tests (standard library only).

    python3 tests/mock/openai_mock.py --port 0 --port-file /tmp/mock.port

Binds 127.0.0.1 only. HTTP/1.1 with keep-alive; streams use Transfer-Encoding: chunked (or,
with the `close` option, no framing and Connection: close) and every event is flushed as it is
written (TCP_NODELAY).

Behaviour is chosen by the request's `model` (the gateway rewrites the model to the
deployment's upstream model, so a test config picks behaviour per deployment). A model is one
or more options joined with '+', e.g. `sleep-500+words-5-100+crlf`:

    echo              answer = text of the last user message (default); streamed one word
                      per chunk ("Hello", " world", ...)
    words-N-D         answer = N words "w1".."wN" (" w2" ...); streamed N chunks, D ms apart
    status-500        500 {"error":{... type server_error}}
    status-503        503 overloaded
    status-429        429 rate_limit_exceeded + Retry-After: 7, retry-after-ms: 7000,
                      x-ratelimit-limit-requests: 60, x-ratelimit-remaining-requests: 0,
                      x-ratelimit-reset-requests: 7s
    status-401        401 invalid_api_key; the message quotes the fake key sk-mock-SECRET-123
    status-403        403 (country not supported)
    status-400        400 context_length_exceeded, param "messages"
    status-404        404 model_not_found, param "model"
    status-422        422 unprocessable
    sleep-MS          sleep MS ms before sending the response headers (watching for the client
                      to leave meanwhile)
    stall-after-N     stream N content chunks, then send nothing until the client leaves
                      (unstreamed: send the headers and half of the body, then stall)
    close-after-N     stream N content chunks, then close the connection without [DONE]
    error-after-N     stream N content chunks, then `data: {"error":{...}}` and [DONE]
    crlf              SSE lines end with CRLF instead of LF
    split             every event written byte by byte, one write (and HTTP chunk) per byte
    close             no chunked encoding: Connection: close, body ends at EOF
    badjson           a 200 whose body is not JSON (unstreamed) / a chunk that is not JSON
    tools             answer with a tool call instead of content

Introspection:
    GET  /_mock/requests   JSON list of {seq, time, method, path, headers, body, raw_body}
    GET  /_mock/streams    JSON list of {seq, model, request_id, stream, chunks_sent,
                           total_chunks, aborted, aborted_at, started_at, finished_at,
                           completed, send_times}
                           (times are time.time() floats, comparable with the test process)
    POST /_mock/reset      clears both lists
Also GET /v1/models and GET /health.
"""

import argparse
import json
import re
import select
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import mockserve

FAKE_KEY = "sk-mock-SECRET-123"

LOCK = threading.Lock()
REQUESTS = []
STREAMS = []
SEQ = [0]


class ClientGone(Exception):
    pass


def now():
    return time.time()


def next_seq():
    with LOCK:
        SEQ[0] += 1
        return SEQ[0]


def parse_model(model):
    """Return a dict of options from a model string like 'sleep-100+words-5-20+crlf'."""
    opt = {"mode": "echo", "sleep_ms": 0, "status": None, "stall_after": None,
           "close_after": None, "error_after": None, "crlf": False, "split": False,
           "close": False, "badjson": False, "tools": False, "n": 0, "delay_ms": 0,
           "usage": None, "nousage": False}
    if not isinstance(model, str):
        return opt
    for tok in model.split("+"):
        tok = tok.strip()
        m = re.fullmatch(r"words-(\d+)-(\d+)", tok)
        if m:
            opt["mode"] = "words"
            opt["n"] = int(m.group(1))
            opt["delay_ms"] = int(m.group(2))
            continue
        m = re.fullmatch(r"usage-(\d+)-(\d+)-(\d+)-(\d+)", tok)
        if m:
            opt["usage"] = tuple(int(x) for x in m.groups())
            continue
        m = re.fullmatch(r"status-(\d{3})", tok)
        if m:
            opt["status"] = int(m.group(1))
            continue
        m = re.fullmatch(r"sleep-(\d+)", tok)
        if m:
            opt["sleep_ms"] = int(m.group(1))
            continue
        m = re.fullmatch(r"(stall|close|error)-after-(\d+)", tok)
        if m:
            opt[m.group(1) + "_after"] = int(m.group(2))
            continue
        if tok in ("crlf", "split", "close", "badjson", "tools", "nousage"):
            opt[tok] = True
            continue
        # "echo" and anything unknown: echo
    after = [opt[k] for k in ("stall_after", "close_after", "error_after") if opt[k] is not None]
    if after and opt["mode"] == "echo":
        # give the *-after-N options enough chunks to cut: N+10 words, 50 ms apart
        opt["mode"] = "words"
        opt["n"] = max(after) + 10
        opt["delay_ms"] = 50
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


def error_for(status):
    """(headers, body) of an OpenAI-shaped error."""
    hdrs = []
    if status == 429:
        err = {"message": "Rate limit reached for requests in organization org-mock on "
                          "requests per min (RPM): Limit 60, Used 60, Requested 1. "
                          "Please try again in 7s.",
               "type": "requests", "param": None, "code": "rate_limit_exceeded"}
        hdrs = [("Retry-After", "7"), ("retry-after-ms", "7000"),
                ("x-ratelimit-limit-requests", "60"),
                ("x-ratelimit-remaining-requests", "0"),
                ("x-ratelimit-reset-requests", "7s"),
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
    else:
        err = {"message": "The server had an error while processing your request. Sorry "
                          "about that!", "type": "server_error", "param": None, "code": None}
    return hdrs, {"error": err}


def content_pieces(opt, body):
    if opt["mode"] == "words":
        return ["w%d" % (i + 1) if i == 0 else " w%d" % (i + 1) for i in range(opt["n"])]
    text = last_user_text(body)
    pieces = re.findall(r"\s*\S+", text)
    if pieces and text[len("".join(pieces)):]:
        pieces[-1] += text[len("".join(pieces)):]
    if not pieces and text:
        pieces = [text]
    return pieces


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "openai-mock/1.0"
    sys_version = ""

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):  # quiet unless asked
        if self.server.verbose:
            sys.stderr.write("mock: " + (fmt % args) + "\n")

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    # ---- plumbing -------------------------------------------------------------------

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            data = b""
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
            return data
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def record(self, raw):
        body = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        rec = {"seq": next_seq(), "time": now(), "method": self.command, "path": self.path,
               "headers": {k.lower(): v for k, v in self.headers.items()},
               "header_list": [[k, v] for k, v in self.headers.items()],
               "body": body, "raw_body": raw.decode("utf-8", "replace")}
        with LOCK:
            REQUESTS.append(rec)
        return rec

    def send_json(self, status, obj, extra=(), close=False):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def peer_closed(self):
        """True when the client has closed its side (readable with EOF) or reset it."""
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if not r:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (ConnectionResetError, OSError):
            return True

    def wait_or_gone(self, seconds):
        """Sleep `seconds`, returning early (True) when the client goes away."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return False
            try:
                r, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            except (OSError, ValueError):
                return True
            if r:
                try:
                    if self.connection.recv(1, socket.MSG_PEEK) == b"":
                        return True
                except OSError:
                    return True
                # unexpected bytes (a pipelined request); just wait
                time.sleep(min(left, 0.05))

    def raw_write(self, data):
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            raise ClientGone()

    # ---- routes ---------------------------------------------------------------------

    def do_GET(self):
        path = self.path.split("?")[0]
        self.record(b"")
        if path == "/_mock/requests":
            with LOCK:
                data = list(REQUESTS)
            return self.send_json(200, data)
        if path == "/_mock/streams":
            with LOCK:
                data = [dict(s) for s in STREAMS]
            return self.send_json(200, data)
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
        if path == "/_mock/reset":
            with LOCK:
                REQUESTS.clear()
                STREAMS.clear()
            return self.send_json(200, {"ok": True})
        rec = self.record(raw)
        if path not in ("/v1/chat/completions", "/chat/completions"):
            return self.send_json(404, {"error": {"message": "Unknown path %s" % path,
                                                  "type": "invalid_request_error",
                                                  "param": None, "code": "not_found"}})
        body = rec["body"]
        if not isinstance(body, dict):
            return self.send_json(400, {"error": {"message": "We could not parse the JSON "
                                                  "body of your request.",
                                                  "type": "invalid_request_error",
                                                  "param": None, "code": None}})
        self.chat(body, rec)

    def do_PUT(self):
        self.record(self.read_body())
        self.send_json(405, {"error": {"message": "method not allowed", "type":
                                       "invalid_request_error", "param": None,
                                       "code": None}}, extra=[("Allow", "GET, POST")])

    do_DELETE = do_PUT

    # ---- chat -----------------------------------------------------------------------

    def chat(self, body, rec):
        model = body.get("model")
        opt = parse_model(model)
        stream = body.get("stream") is True
        srec = {"seq": rec["seq"], "model": model, "stream": stream,
                "request_id": rec["headers"].get("x-request-id"),
                "chunks_sent": 0, "total_chunks": None, "aborted": False, "aborted_at": None,
                "started_at": now(), "headers_sent_at": None, "finished_at": None,
                "completed": False, "send_times": []}
        with LOCK:
            STREAMS.append(srec)
        try:
            if opt["sleep_ms"]:
                if self.wait_or_gone(opt["sleep_ms"] / 1000.0):
                    raise ClientGone()
            if opt["status"]:
                hdrs, err = error_for(opt["status"])
                srec["headers_sent_at"] = now()
                self.send_json(opt["status"], err, extra=hdrs)
                srec["completed"] = True
                return
            if stream:
                self.chat_stream(body, opt, srec)
            else:
                self.chat_unary(body, opt, srec)
        except ClientGone:
            srec["aborted"] = True
            srec["aborted_at"] = now()
            self.close_connection = True
        finally:
            srec["finished_at"] = now()

    def common_headers(self):
        return [("x-request-id", "req_mock_" + uuid.uuid4().hex[:16]),
                ("openai-processing-ms", "12"),
                ("openai-version", "2020-10-01"),
                ("x-ratelimit-limit-requests", "5000"),
                ("x-ratelimit-remaining-requests", "4999"),
                ("x-ratelimit-reset-requests", "12ms"),
                ("x-ratelimit-limit-tokens", "2000000"),
                ("x-ratelimit-remaining-tokens", "1999990"),
                ("x-ratelimit-reset-tokens", "0s")]

    def chat_unary(self, body, opt, srec):
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
                "created": int(now()), "model": body.get("model"),
                "system_fingerprint": "fp_mock", "service_tier": "default",
                "choices": [{"index": 0, "message": msg, "logprobs": None,
                             "finish_reason": finish}],
                "usage": make_usage(opt, ptok, ctok)}
        srec["total_chunks"] = 1
        if opt["badjson"]:
            data = b"<html>not json</html>"
        else:
            data = json.dumps(resp).encode()
        if opt["stall_after"] is not None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            srec["headers_sent_at"] = now()
            self.raw_write(data[: len(data) // 2])
            while not self.wait_or_gone(3600):
                pass
            raise ClientGone()
        srec["headers_sent_at"] = now()
        if opt["badjson"]:
            self._send_raw(200, data, "application/json")
        else:
            self.send_json(200, resp, extra=self.common_headers())
        srec["chunks_sent"] = 1
        srec["send_times"].append(now())
        srec["completed"] = True

    def _send_raw(self, status, data, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def chat_stream(self, body, opt, srec):
        chunked = not opt["close"]
        nl = "\r\n" if opt["crlf"] else "\n"
        so = body.get("stream_options")
        include_usage = isinstance(so, dict) and so.get("include_usage") is True
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(now())
        model = body.get("model")
        pieces = content_pieces(opt, body)
        delay = opt["delay_ms"] / 1000.0 if opt["mode"] == "words" else 0.0
        ptok = max(1, prompt_chars(body) // 4)

        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        for k, v in self.common_headers():
            self.send_header(k, v)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        srec["headers_sent_at"] = now()
        try:
            self.wfile.flush()
        except OSError:
            raise ClientGone()

        def emit(payload, count=True):
            text = "data: " + payload + nl + nl
            data = text.encode()
            if self.peer_closed():
                raise ClientGone()
            parts = [data[i:i + 1] for i in range(len(data))] if opt["split"] else [data]
            for p in parts:
                self.raw_write(b"%x\r\n%s\r\n" % (len(p), p) if chunked else p)
            if count:
                srec["chunks_sent"] += 1
                srec["send_times"].append(now())

        def chunk(delta, finish=None, choices=True, usage=None):
            obj = {"id": cid, "object": "chat.completion.chunk", "created": created,
                   "model": model, "system_fingerprint": "fp_mock",
                   "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                "finish_reason": finish}] if choices else []}
            if include_usage:
                obj["usage"] = usage
            return json.dumps(obj)

        srec["total_chunks"] = len(pieces)
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
            if i > 0 and delay:
                if self.wait_or_gone(delay):
                    raise ClientGone()
            if opt["stall_after"] is not None and i >= opt["stall_after"]:
                while not self.wait_or_gone(3600):
                    pass
                raise ClientGone()
            if opt["close_after"] is not None and i >= opt["close_after"]:
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if opt["error_after"] is not None and i >= opt["error_after"]:
                emit(json.dumps({"error": {"message": "The server had an error while "
                                           "processing your request.", "type": "server_error",
                                           "param": None, "code": None}}), count=False)
                emit("[DONE]", count=False)
                if chunked:
                    self.raw_write(b"0\r\n\r\n")
                return
            if opt["badjson"] and i == 1:
                emit("{this is not json", count=False)
            emit(chunk({"content": piece}))
        if opt["stall_after"] is not None and opt["stall_after"] >= len(pieces):
            while not self.wait_or_gone(3600):
                pass
            raise ClientGone()
        emit(chunk({}, finish="tool_calls" if opt["tools"] else "stop"), count=False)
        if include_usage:
            u = make_usage(opt, ptok, len(pieces))
            if u is not None:
                emit(chunk(None, choices=False, usage=u), count=False)
        emit("[DONE]", count=False)
        if chunked:
            self.raw_write(b"0\r\n\r\n")
        srec["completed"] = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mockserve.add_common_args(ap)
    a = ap.parse_args()
    if a.parent_pid:
        mockserve.watch_parent(a.parent_pid)
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.verbose = a.verbose
    mockserve.serve(srv, a, "openai_mock")


if __name__ == "__main__":
    main()
