"""What every mock of tests/mock/ shares around its provider logic: the common flags, exiting
with the test process, telling it the port, serving; the HTTP plumbing of the request handler
(MockHandler: reading bodies, chunked writes, noticing a client that left); the record of
requests and answers and the call counters behind the /_mock/requests, /_mock/streams,
/_mock/calls and /_mock/reset routes (Recorder); and the model-name options every mock knows
(parse_options) with the words its answers are made of (split_words, word_pieces).

Fault injection for retry and fallback tests, shared by the mocks that implement it (openai_mock
and anthropic_mock; the others parse these options but ignore them):
    first-N           the failure options of the model (status-NNN, sleep-MS and the
                      X-after-N cuts) apply only to the first N calls with this exact model
                      string; later calls answer normally (first-0: never)
    every-N           the failure options apply only to calls 1, N+1, 2N+1, ... of this model
                      string (N >= 1); with first-M too, a call must satisfy both
    retry-S           the Retry-After of the error answers in seconds (integer), and
                      retry-after-ms S*1000 where the mock sends that header: status-429
                      (default 7, as without the option) and, only when retry-S is given,
                      status-503 / status-529 too
    reset-after-N     stream N content chunks, then reset the TCP connection (SO_LINGER on with
                      linger 0, then close: the peer sees RST); unstreamed: the headers of a
                      200 and half of the body, then the reset
Calls are counted per model string (the options string the answer is chosen by), from the start
or the last POST /_mock/reset, by MockHandler.call_options, which numbers the call and drops the
failure options of a call they do not apply to. "Answers normally" means the answer the model
would give without its failure options: the content stays that of the model (with an X-after-N
and no words-N-D, N+10 words 50 ms apart), only the fault is gone. GET /_mock/calls shows the
counters as {model string: calls}."""

import argparse
import contextlib
import fcntl
import io
import json
import os
import re
import select
import socket
import struct
import sys
import termios
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ClientGone(Exception):
    """The client went away: a write to it failed, or it closed while the mock waited."""


def now():
    return time.time()


def parse_json(raw):
    """The JSON value of a request body, or None when it is empty or not JSON."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


FAULT_AFTERS = ("reset",)   # the X-after-N cuts every mock's options have besides its afters
DEFAULT_RETRY_S = 7


def parse_options(model, flags=(), afters=("stall", "close")):
    """The options of a model name like 'sleep-100+words-5-20+tools', '+'-joined tokens in the
    grammar every mock shares: words-N-D (mode "words", n, delay_ms; else mode "echo"),
    status-NNN (status), sleep-MS (sleep_ms), X-after-N for each X of afters and of
    FAULT_AFTERS (X_after), the flags (True when present), and the fault-injection options
    (see the top of this file): first-N (first), every-N (every, N >= 1), retry-S (retry_s,
    None when absent: retry_after(opt) is S or the default 7) and reset-after-N (reset_after).
    With an X-after-N and no words-N-D the answer is N+10 words, 50 ms apart, so that there is
    something to cut. Returns (options, the tokens left over: "echo", the mock's own and
    unknown ones); a model that is not a string has no tokens."""
    opt = {"mode": "echo", "n": 0, "delay_ms": 0, "sleep_ms": 0, "status": None,
           "first": None, "every": None, "retry_s": None}
    afters = tuple(afters) + tuple(x for x in FAULT_AFTERS if x not in afters)
    opt.update((x + "_after", None) for x in afters)
    opt.update((f, False) for f in flags)
    after_re = re.compile(r"(%s)-after-(\d+)" % "|".join(afters))
    rest = []
    for tok in model.split("+") if isinstance(model, str) else []:
        tok = tok.strip()
        m = re.fullmatch(r"words-(\d+)-(\d+)", tok)
        if m:
            opt["mode"] = "words"
            opt["n"] = int(m.group(1))
            opt["delay_ms"] = int(m.group(2))
            continue
        m = re.fullmatch(r"status-(\d{3})", tok)
        if m:
            opt["status"] = int(m.group(1))
            continue
        m = re.fullmatch(r"sleep-(\d+)", tok)
        if m:
            opt["sleep_ms"] = int(m.group(1))
            continue
        m = after_re.fullmatch(tok)
        if m:
            opt[m.group(1) + "_after"] = int(m.group(2))
            continue
        m = re.fullmatch(r"(first|every|retry)-(\d+)", tok)
        if m and not (m.group(1) == "every" and int(m.group(2)) == 0):
            opt["retry_s" if m.group(1) == "retry" else m.group(1)] = int(m.group(2))
            continue
        if tok in flags:
            opt[tok] = True
            continue
        rest.append(tok)
    after = [opt[x + "_after"] for x in afters if opt[x + "_after"] is not None]
    if after and opt["mode"] == "echo":
        opt["mode"] = "words"
        opt["n"] = max(after) + 10
        opt["delay_ms"] = 50
    return opt, rest


def fault_applies(opt, call):
    """Whether the failure options of opt apply to the call-th call (1-based) of its model
    string under first-N / every-N."""
    if opt.get("first") is not None and call > opt["first"]:
        return False
    if opt.get("every") is not None and (call - 1) % opt["every"] != 0:
        return False
    return True


def without_faults(opt):
    """opt with its failure options off: no status, no sleep, no X-after-N cut (the answer's
    content, mode and word delay stay)."""
    opt = dict(opt)
    opt["status"] = None
    opt["sleep_ms"] = 0
    for k in opt:
        if k.endswith("_after"):
            opt[k] = None
    return opt


def retry_after(opt):
    """The Retry-After seconds of an error answer: retry-S, else 7."""
    s = opt.get("retry_s")
    return DEFAULT_RETRY_S if s is None else s


def split_words(text):
    """The text in pieces of one word each with its leading whitespace (trailing whitespace
    goes to the last piece; whitespace only is one piece)."""
    pieces = re.findall(r"\s*\S+", text)
    rest = text[len("".join(pieces)):]
    if pieces and rest:
        pieces[-1] += rest
    if not pieces and text:
        pieces = [text]
    return pieces


def word_pieces(n):
    """The words-N-D answer: "w1", " w2", ... " wN"."""
    return ["w%d" % (i + 1) if i == 0 else " w%d" % (i + 1) for i in range(n)]


class Recorder:
    """The requests a mock received and the records of its answers (one per model call), both
    numbered by one sequence, as /_mock/requests and /_mock/streams show them; and the
    number of model calls per model string (/_mock/calls, first-N / every-N)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.streams = []
        self.calls = {}
        self.seq = 0

    def next_seq(self):
        with self.lock:
            self.seq += 1
            return self.seq

    def add_request(self, rec):
        with self.lock:
            self.requests.append(rec)
        return rec

    def add_stream(self, srec):
        with self.lock:
            self.streams.append(srec)
        return srec

    def list_requests(self):
        with self.lock:
            return list(self.requests)

    def list_streams(self):
        with self.lock:
            return [dict(s) for s in self.streams]

    def count_call(self, model):
        """Counts one call of the model string; returns its number (1 for the first)."""
        with self.lock:
            n = self.calls.get(model, 0) + 1
            self.calls[model] = n
            return n

    def list_calls(self):
        with self.lock:
            return dict(self.calls)

    def reset(self):
        """Forgets both lists and the call counters (the sequence goes on)."""
        with self.lock:
            self.requests.clear()
            self.streams.clear()
            self.calls.clear()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.verbose = False
        self.recorder = Recorder()


class MockHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, no Python version in the Server header, quiet unless
    --verbose, every write sent at once (TCP_NODELAY). A subclass sets server_version and
    log_name and provides send_json(status, obj) (introspect answers with it)."""

    protocol_version = "HTTP/1.1"
    server_version = "mock/1.0"
    sys_version = ""
    log_name = "mock"           # the prefix of the --verbose log lines
    tcp_nodelay = True
    record_header_list = False  # requests also record the headers as [[name, value], ...]

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):  # quiet unless asked
        if self.server.verbose:
            sys.stderr.write(self.log_name + ": " + (fmt % args) + "\n")

    def setup(self):
        super().setup()
        if not self.tcp_nodelay:
            return
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    # ---- reading and recording --------------------------------------------------------

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

    def record(self, raw, path=None, **fields):
        """Lists and returns {seq, time, method, path, **fields, headers, [header_list,] body,
        raw_body}: path is the request target unless given, body the JSON of raw (or None)."""
        body = parse_json(raw)
        rec = {"seq": self.server.recorder.next_seq(), "time": now(), "method": self.command,
               "path": self.path if path is None else path}
        rec.update(fields)
        rec["headers"] = {k.lower(): v for k, v in self.headers.items()}
        if self.record_header_list:
            rec["header_list"] = [[k, v] for k, v in self.headers.items()]
        rec["body"] = body
        rec["raw_body"] = raw.decode("utf-8", "replace")
        return self.server.recorder.add_request(rec)

    def introspect(self, path):
        """Answers GET /_mock/requests, GET /_mock/streams, GET /_mock/calls and POST
        /_mock/reset (True); False for any other request."""
        recorder = self.server.recorder
        if self.command == "GET" and path == "/_mock/requests":
            self.send_json(200, recorder.list_requests())
        elif self.command == "GET" and path == "/_mock/streams":
            self.send_json(200, recorder.list_streams())
        elif self.command == "GET" and path == "/_mock/calls":
            self.send_json(200, recorder.list_calls())
        elif self.command == "POST" and path == "/_mock/reset":
            recorder.reset()
            self.send_json(200, {"ok": True})
        else:
            return False
        return True

    def call_options(self, model, opt):
        """Counts a model call of the model string `model` (a model that is not a string is
        not counted) and returns opt as this call uses it: without its failure options when
        first-N / every-N say they do not apply to this call."""
        if not isinstance(model, str):
            return opt
        call = self.server.recorder.count_call(model)
        return opt if fault_applies(opt, call) else without_faults(opt)

    @contextlib.contextmanager
    def answering(self, seq, unit="chunks", **fields):
        """Lists a stream record {seq, **fields, <unit>_sent, total_<unit>, aborted,
        aborted_at, started_at, headers_sent_at, finished_at, completed, send_times} and
        yields it for the answer written in the with block. ClientGone ends the block quietly,
        marking the record aborted; finished_at is set in any case."""
        srec = {"seq": seq}
        srec.update(fields)
        srec.update({unit + "_sent": 0, "total_" + unit: None, "aborted": False,
                     "aborted_at": None, "started_at": now(), "headers_sent_at": None,
                     "finished_at": None, "completed": False, "send_times": []})
        self.server.recorder.add_stream(srec)
        try:
            yield srec
        except ClientGone:
            srec["aborted"] = True
            srec["aborted_at"] = now()
            self.close_connection = True
        finally:
            srec["finished_at"] = now()

    # ---- writing ----------------------------------------------------------------------

    def send_head(self, status, ctype, length=None, extra=()):
        """The status line and headers: Content-Type, Content-Length (unless None), extra."""
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if length is not None:
            self.send_header("Content-Length", str(length))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()

    def send_bytes(self, status, data, ctype="application/json", extra=()):
        self.send_head(status, ctype, len(data), extra)
        self.wfile.write(data)

    def start_stream(self, srec, ctype, extra):
        """Sends a 200's headers (Content-Type, then extra, which names the framing), notes
        the time in srec and flushes them."""
        self.send_head(200, ctype, None, extra)
        srec["headers_sent_at"] = now()
        try:
            self.wfile.flush()
        except OSError:
            raise ClientGone()

    def send_half_and_stall(self, srec, data, ctype="application/json", extra=()):
        """The stall-after-N of an unstreamed answer: the headers of a 200 with body data and
        half of it, then nothing until the client leaves (ClientGone)."""
        self.send_head(200, ctype, len(data), extra)
        srec["headers_sent_at"] = now()
        self.raw_write(data[: len(data) // 2])
        self.stall()

    def send_half_and_reset(self, srec, data, ctype="application/json", extra=()):
        """The reset-after-N of an unstreamed answer: the headers of a 200 with body data and
        half of it, then a TCP reset."""
        self.send_head(200, ctype, len(data), extra)
        srec["headers_sent_at"] = now()
        self.raw_write(data[: len(data) // 2])
        self.reset_connection()

    def raw_write(self, data):
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            raise ClientGone()

    def write_chunk(self, data):
        """One HTTP chunk of a Transfer-Encoding: chunked body."""
        self.raw_write(b"%x\r\n%s\r\n" % (len(data), data))

    def end_chunks(self):
        self.raw_write(b"0\r\n\r\n")

    def hang_up(self):
        """Closes the connection at once, mid-answer (the close-after-N options)."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def wait_sent(self, limit):
        """Waits (at most `limit` seconds) until the kernel has no unacknowledged bytes of this
        connection left (Linux SIOCOUTQ), so that an abortive close does not drop what was
        written before it; returns at once where that cannot be asked."""
        end = time.monotonic() + limit
        buf = bytearray(struct.pack("i", 0))
        while time.monotonic() < end:
            try:
                fcntl.ioctl(self.connection.fileno(), termios.TIOCOUTQ, buf)
            except (OSError, ValueError, AttributeError):
                return
            if struct.unpack("i", buf)[0] <= 0:
                return
            time.sleep(0.005)

    def reset_connection(self):
        """Resets the connection at once, mid-answer (the reset-after-N options): once what was
        written has reached the peer (wait_sent, at most 1 s), SO_LINGER on with linger 0,
        then the socket closed, so the peer gets a RST (no FIN first). The
        handler's files are swapped for empty ones so that what the server does after the
        answer (flush, shutdown, close) neither fails nor reaches the closed socket."""
        self.close_connection = True
        self.wait_sent(1.0)
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        for f in (self.wfile, self.rfile):
            try:
                f.close()
            except OSError:
                pass
        try:
            self.connection.close()
        except OSError:
            pass
        self.wfile, self.rfile = io.BytesIO(), io.BytesIO()

    # ---- the client leaving -----------------------------------------------------------

    def peer_closed(self):
        """True when the client has closed its side (readable with EOF) or reset it."""
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            if not r:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except (ConnectionResetError, OSError):
            return True

    def check_peer(self):
        """Raises ClientGone when the client has left."""
        if self.peer_closed():
            raise ClientGone()

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

    def pause(self, seconds):
        """Sleeps `seconds` (none when 0), raising ClientGone when the client leaves meanwhile."""
        if seconds and self.wait_or_gone(seconds):
            raise ClientGone()

    def stall(self):
        """Sends nothing until the client leaves, then raises ClientGone."""
        while not self.wait_or_gone(3600):
            pass
        raise ClientGone()


# ---- the process ----------------------------------------------------------------------------

def add_common_args(ap):
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--parent-pid", type=int,
                    help="exit when this process is gone (no orphaned mocks after a crash)")
    ap.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM) ...")
    ap.add_argument("--tls-key", help="... and this key")


def watch_parent(pid):
    """Exits this process once pid is gone."""
    def watch():
        while True:
            time.sleep(0.5)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass
    threading.Thread(target=watch, daemon=True).start()


def start(handler, doc, add_args=None):
    """Parses the command line (the common flags, then those add_args(ap) adds; the
    description is doc's first line), watches --parent-pid and binds a Server on 127.0.0.1
    with `handler`. Returns (server, args); serve() then serves it."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    add_common_args(ap)
    if add_args:
        add_args(ap)
    a = ap.parse_args()
    if a.parent_pid:
        watch_parent(a.parent_pid)
    srv = Server(("127.0.0.1", a.port), handler)
    srv.verbose = a.verbose
    return srv, a


def serve(srv, a, name):
    """Writes the bound port to --port-file (atomically), then serves until interrupted."""
    port = srv.server_address[1]
    scheme = "http"
    if getattr(a, "tls_cert", None):
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        scheme = "https"
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, a.port_file)
    sys.stderr.write("%s: listening on %s://127.0.0.1:%d\n" % (name, scheme, port))
    sys.stderr.flush()
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
