"""Helpers for the sllmp integration tests (standard library only).

- free_port(), closed_port()
- Mock: the OpenAI mock upstream (tests/mock/openai_mock.py) as a subprocess
- to_yaml() / write_config(): the gateway's YAML config in a temp dir
- Stack: deploy/local/run.sh (lighttpd + spawn-fcgi pool) with PORT, SLLMP_CONFIG, SLLMP_RUNDIR
- Redis: a throwaway redis-server on a free port
- http(), post_chat(), StreamClient (raw socket, timestamps every chunk), parse_sse()

Everything only ever talks to 127.0.0.1.
"""

import atexit
import glob
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
RUN_SH = os.path.join(TOP, "deploy", "local", "run.sh")
MOCK_PY = os.path.join(TOP, "tests", "mock", "openai_mock.py")
FCGI_BIN = os.environ.get("SLLMP_FCGI", os.path.join(TOP, "build", "sllmp.fcgi"))
CLI_BIN = os.environ.get("SLLMP_CLI", os.path.join(TOP, "build", "sllmp"))

MASTER_KEY = "sk-test-master"
UPSTREAM_KEY = "sk-upstream-deploy-key-42"       # given to the gateway as MOCK_UPSTREAM_KEY
LITERAL_UPSTREAM_KEY = "sk-literal-deploy-key-7"  # a literal api_key in the YAML


_LIVE = set()   # started Mocks/Stacks/Redis not yet stopped; stopped at exit as a last resort


@atexit.register
def _stop_leftovers():
    for obj in list(_LIVE):
        try:
            obj.stop()
        except Exception:
            pass


def have_binaries():
    return os.access(FCGI_BIN, os.X_OK) and os.access(CLI_BIN, os.X_OK)


def require_binaries(testcase_cls=None):
    if not have_binaries():
        raise unittest.SkipTest("build/sllmp.fcgi or build/sllmp missing (run make)")


# ---------------------------------------------------------------- ports

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def closed_port():
    """A port nothing listens on (bound then released; connect() gets ECONNREFUSED)."""
    return free_port()


def wait_port_file(path, proc, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path):
            with open(path) as f:
                txt = f.read().strip()
            if txt:
                return int(txt)
        if proc.poll() is not None:
            raise RuntimeError("process exited early with %s" % proc.returncode)
        time.sleep(0.02)
    raise RuntimeError("port file %s not written within %.0fs" % (path, timeout))


def _tmpdir(prefix):
    base = os.environ.get("SLLMP_TEST_TMP") or None
    return tempfile.mkdtemp(prefix=prefix, dir=base)


def wait_for(pred, timeout, interval=0.05):
    """pred()'s first true value within timeout seconds, else its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    return pred()


def access_log_lines(path, rids, timeout=5):
    """The JSON access log lines at path of the requests rids, by request id: waits up to
    timeout seconds for all of them (a line is written after its response); fewer when some
    never came."""
    found = {}

    def read():
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if rec.get("request_id") in rids:
                    found[rec["request_id"]] = rec
        return len(found) == len(rids)
    wait_for(read, timeout)
    return found


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie counts as gone
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
        if st.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except OSError:
        return False
    return True


def children_of(pid):
    """PIDs of the direct children of pid (from /proc/<pid>/task/*/children)."""
    kids = []
    for path in glob.glob("/proc/%d/task/*/children" % pid):
        try:
            with open(path) as f:
                kids.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return sorted(k for k in set(kids) if pid_alive(k))


def _exe(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return ""


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def kill_and_wait(pids, grace=3.0):
    """SIGTERM is assumed sent already; wait `grace`, then SIGKILL the survivors."""
    end = time.monotonic() + grace
    while time.monotonic() < end and any(pid_alive(p) for p in pids):
        time.sleep(0.05)
    for p in pids:
        if pid_alive(p):
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
    end = time.monotonic() + 2
    while time.monotonic() < end and any(pid_alive(p) for p in pids):
        time.sleep(0.05)


# ---------------------------------------------------------------- the mock upstream

def terminate(proc, grace=3.0):
    """SIGTERM a child process we started, SIGKILL it after `grace` seconds, and reap it."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class MockProcess:
    """A mock of tests/mock/ run as a subprocess on a free port (it writes the port to a file
    and exits with this process). Subclasses set SCRIPT and PREFIX and may add args()."""

    SCRIPT = None
    PREFIX = "sllmp-mock-"

    def __init__(self):
        self.dir = _tmpdir(self.PREFIX)
        self.port_file = os.path.join(self.dir, "port")
        self.err_path = os.path.join(self.dir, "stderr")
        self.proc = None
        self.port = None

    def args(self):
        return []

    def start(self):
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, self.SCRIPT, "--port", "0", "--port-file", self.port_file,
             "--parent-pid", str(os.getpid())] + self.args(),
            stdin=subprocess.DEVNULL, stdout=self._err, stderr=self._err)
        _LIVE.add(self)
        self.port = wait_port_file(self.port_file, self.proc)
        return self

    def stop(self):
        _LIVE.discard(self)
        terminate(self.proc)
        if getattr(self, "_err", None):
            self._err.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Mock(MockProcess):
    """The mock OpenAI-compatible upstream (tests/mock/openai_mock.py)."""

    SCRIPT = MOCK_PY

    @property
    def base(self):
        return "http://127.0.0.1:%d/v1" % self.port

    def _get(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            c.request("GET", path)
            return json.loads(c.getresponse().read())
        finally:
            c.close()

    def requests(self):
        return self._get("/_mock/requests")

    def chat_requests(self):
        return [r for r in self.requests()
                if r["method"] == "POST" and r["path"].split("?")[0].endswith("/chat/completions")]

    def responses_requests(self):
        """The POST requests to a Responses path (/v1/responses, /openai/v1/responses,
        /openai/responses?api-version=...)."""
        return [r for r in self.requests()
                if r["method"] == "POST" and r["path"].split("?")[0].endswith("/responses")]

    def streams(self):
        return self._get("/_mock/streams")

    def calls(self, model=None):
        """Calls per model string since the last reset (or those of one model)."""
        got = self._get("/_mock/calls")
        return got if model is None else got.get(model, 0)

    def reset(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            c.request("POST", "/_mock/reset", body=b"{}")
            c.getresponse().read()
        finally:
            c.close()


# ---------------------------------------------------------------- YAML

_PLAIN = re.compile(r"^[A-Za-z0-9_./@][A-Za-z0-9_./:@+-]*$")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n"}


def _scalar(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return repr(v)
    s = str(v)
    if _PLAIN.match(s) and s.lower() not in _RESERVED and not re.match(r"^[0-9.+-]+$", s) \
            and ": " not in s and " #" not in s:
        return s
    return json.dumps(s)  # a YAML double-quoted string


def to_yaml(obj, indent=0):
    """Block-style YAML for dicts/lists/scalars (enough for the gateway's config)."""
    pad = " " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            k = _scalar(k) if isinstance(k, str) else k
            if isinstance(v, (dict, list)) and v:
                out.append("%s%s:" % (pad, k))
                out.append(to_yaml(v, indent + 2))
            elif isinstance(v, dict):
                out.append("%s%s: {}" % (pad, k))
            elif isinstance(v, list):
                out.append("%s%s: []" % (pad, k))
            else:
                out.append("%s%s: %s" % (pad, k, _scalar(v)))
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, dict) and v:
                sub = to_yaml(v, indent + 2).split("\n")
                sub[0] = pad + "- " + sub[0][indent + 2:]
                out.append("\n".join(sub))
            elif isinstance(v, list) and v:
                out.append("%s-" % pad)
                out.append(to_yaml(v, indent + 2))
            else:
                out.append("%s- %s" % (pad, _scalar(v) if not isinstance(v, (dict, list))
                                       else ("{}" if isinstance(v, dict) else "[]")))
    else:
        out.append(pad + _scalar(obj))
    return "\n".join(out)


def write_config(path, cfg):
    """cfg: a dict (serialised with to_yaml) or YAML text. Written atomically."""
    text = cfg if isinstance(cfg, str) else to_yaml(cfg) + "\n"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


def mock_model(name, behaviour="echo", delay_ms=None):
    p = {"model": "mock/" + behaviour}
    if delay_ms is not None:
        p["mock_delay_ms"] = delay_ms
    return {"model_name": name, "litellm_params": p}


def upstream_model(name, mock, behaviour, api_key="os.environ/MOCK_UPSTREAM_KEY",
                   api_base=None, **params):
    """A model_list entry for the mock upstream; params are more litellm_params."""
    p = {"model": "openai/" + behaviour, "api_base": api_base or mock.base}
    if api_key is not None:
        p["api_key"] = api_key
    p.update(params)
    return {"model_name": name, "litellm_params": p}


def chat_only(entry):
    """A model_list entry whose /v1/responses goes through chat completions (its
    model_info.supported_endpoints leaves /v1/responses out), as for a server without the
    Responses API; openai/ entries are otherwise sent /v1/responses as it is."""
    entry.setdefault("model_info", {})["supported_endpoints"] = ["/v1/chat/completions"]
    return entry


# The tests of one attempt's behaviour (error mapping, streams, limits) want one attempt: the
# retries sllmp makes by default (LiteLLM's 2) are tested in test_reliability.py.
ONE_ATTEMPT = {"num_retries": 0}


def base_config(models, master_key=None, spool_dir=None, router_settings=ONE_ATTEMPT, **sllmp):
    s = {"workers": 2, "threads": 8, "max_requests": 0, "max_body_bytes": 65536,
         "max_json_depth": 64, "heartbeat_ms": 500,
         "timeouts": {"connect_ms": 2000, "first_byte_ms": 3000, "idle_ms": 3000,
                      "total_ms": 60000},
         "log_level": "info"}
    if spool_dir:
        s["spool"] = {"dir": spool_dir}
    for k, v in sllmp.items():
        if isinstance(v, dict) and isinstance(s.get(k), dict):
            s[k] = dict(s[k], **v)
        else:
            s[k] = v
    cfg = {"model_list": models}
    if master_key:
        cfg["general_settings"] = {"master_key": master_key}
    if router_settings:
        cfg["router_settings"] = router_settings
    cfg["sllmp"] = s
    return cfg


# ---------------------------------------------------------------- the stack

class StackError(Exception):
    pass


SERVERS = ("lighttpd", "lighttpd-binpath", "apache", "apache-fcgid", "apache-cgi")


def apache_binary():
    return shutil.which("apache2") or shutil.which("httpd")


def require_server(server):
    if server.startswith("apache"):
        if not apache_binary():
            raise unittest.SkipTest("Apache not installed (apt-get install apache2 "
                                    "libapache2-mod-fcgid)")
        if server == "apache-fcgid" and not os.path.exists(
                "/usr/lib/apache2/modules/mod_fcgid.so"):
            raise unittest.SkipTest("mod_fcgid not installed (libapache2-mod-fcgid)")


BUNDLE_SH = os.path.join(TOP, "deploy", "shared-hosting", "bundle.sh")


def make_bundle(out):
    """`make bundle` into out (deploy/shared-hosting/bundle.sh): sllmp.fcgi, sllmp and lib/.
    Objects stay in build/bundle/obj between runs: only the first run compiles."""
    p = subprocess.run(["bash", BUNDLE_SH, out], cwd=TOP, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=600)
    log = p.stdout.decode(errors="replace")
    if p.returncode != 0:
        raise AssertionError("bundle.sh failed (%d):\n%s" % (p.returncode, log[-4000:]))
    return log


def _service_user():
    """(uid, gid) that run.sh gives Apache when started as root, else None."""
    if os.getuid() != 0:
        return None
    import pwd
    pw = pwd.getpwnam("nobody")
    return pw.pw_uid, pw.pw_gid


class Stack:
    """deploy/local/run.sh on a free port with its own SLLMP_RUNDIR.

    server: one of SERVERS (run.sh's SERVER). Paths given to request()/chat()/stream() are the
    gateway's own (/v1/...); `base` is where the server mounts it (/~alice/ in the
    shared-hosting layouts)."""

    def __init__(self, cfg, env=None, port=None, server="lighttpd"):
        require_server(server)
        self.server = server
        self.base = "/~alice" if server in ("apache-fcgid", "apache-cgi") else ""
        self.dir = _tmpdir("sllmp-it-")
        self.rundir = os.path.join(self.dir, "run")
        self.config_path = os.path.join(self.dir, "sllmp.yaml")
        self.spool = os.path.join(self.dir, "spool")
        if isinstance(cfg, dict):
            cfg.setdefault("sllmp", {}).setdefault("spool", {"dir": self.spool})
        write_config(self.config_path, cfg)
        self.port = port or free_port()
        self.extra_env = dict(env or {})
        self.proc = None
        self.out_path = os.path.join(self.dir, "run.sh.out")

    # -- lifecycle

    def start(self, timeout=10.0):
        env = dict(os.environ)
        env.update({"PORT": str(self.port), "SLLMP_CONFIG": self.config_path,
                    "SLLMP_RUNDIR": self.rundir, "MOCK_UPSTREAM_KEY": UPSTREAM_KEY,
                    "SLLMP_FCGI": FCGI_BIN, "SLLMP_CLI": CLI_BIN})
        env["SERVER"] = self.server
        env.update(self.extra_env)
        owner = _service_user() if self.server.startswith("apache") else None
        if owner:
            # Apache's processes run as nobody: they read the YAML and write the spool
            os.chmod(self.dir, 0o755)
            os.makedirs(self.spool, exist_ok=True)
            for d in (self.dir, self.spool, self.config_path):
                os.chown(d, *owner)
        self._out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(["bash", RUN_SH], cwd=TOP, env=env,
                                     stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        _LIVE.add(self)
        end = time.monotonic() + timeout
        last = None
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                last = "run.sh exited with %s" % self.proc.returncode
                break
            try:
                st, _, _ = self.request("GET", "/health", timeout=1)
                if st == 200:
                    return self
                last = "GET /health -> %s" % st
            except OSError as e:
                last = repr(e)
            time.sleep(0.05)
        diag = self.diagnostics()
        self.stop()
        raise StackError("stack did not become healthy (%s)\n%s" % (last, diag))

    def diagnostics(self):
        parts = []
        try:
            with open(self.out_path, "rb") as f:
                parts.append("--- run.sh stdout/stderr:\n" + f.read().decode("utf-8", "replace"))
        except OSError:
            pass
        for p in sorted(glob.glob(os.path.join(self.rundir, "log", "*"))):
            try:
                with open(p, "rb") as f:
                    data = f.read()
                parts.append("--- %s:\n%s" % (p, data[-8000:].decode("utf-8", "replace")))
            except OSError:
                pass
        return "\n".join(parts)

    @property
    def master_pid(self):
        """The pool's master: spawn-fcgi's exec'd process, or lighttpd's bin-path child.
        None under mod_fcgid and CGI, which have no master."""
        if self.server == "lighttpd-binpath":
            kids = [k for k in children_of(self.server_pid or 0)
                    if os.path.basename(_exe(k)) == os.path.basename(FCGI_BIN)]
            return kids[0] if kids else None
        return read_pid(os.path.join(self.rundir, "sllmp.pid"))

    @property
    def lighttpd_pid(self):
        return read_pid(os.path.join(self.rundir, "lighttpd.pid"))

    @property
    def server_pid(self):
        """The web server's main process (lighttpd, or Apache's parent)."""
        return read_pid(os.path.join(self.rundir, "server.pid"))

    def workers(self):
        m = self.master_pid
        return children_of(m) if m else []

    def all_pids(self):
        pids = []
        for p in (self.master_pid, self.server_pid):
            if p:
                pids.append(p)
                pids.extend(children_of(p))
                for k in children_of(p):   # mod_fcgid's processes are grandchildren
                    pids.extend(children_of(k))
        return pids

    def stop(self, grace=6.0):
        _LIVE.discard(self)
        if self.proc is None:
            return
        pids = self.all_pids()
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except OSError:
                pass
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        pids = sorted(set(pids + self.all_pids()))
        kill_and_wait(pids, grace=1.0)
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait()
        # anything left in run.sh's session (it was started with its own)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        self._out.close()
        self.proc = None

    def cleanup(self):
        self.stop()
        if os.environ.get("SLLMP_KEEP_TMP"):
            return
        shutil.rmtree(self.dir, ignore_errors=True)

    def crashes(self):
        """Lines of the master's log saying a worker died of a bug (not of a test's SIGKILL)."""
        text = ""
        # run.sh's output, lighttpd's breakagelog (bin-path), Apache's error log (mod_fcgid
        # reports a process that died of a signal; a CGI's crash shows as a premature end)
        for path in [self.out_path] + glob.glob(os.path.join(self.rundir, "log", "*.log")):
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    text += f.read()
            except OSError:
                pass
        return re.findall(r".*(?:killed by signal|get unexpected signal|get signal) (?:4|6|7|8|11)\b.*",
                          text)

    def rewrite_config(self, cfg):
        if isinstance(cfg, dict):
            cfg.setdefault("sllmp", {}).setdefault("spool", {"dir": self.spool})
        write_config(self.config_path, cfg)

    def signal_master(self, sig):
        os.kill(self.master_pid, sig)

    # -- HTTP

    def request(self, method, path, body=None, headers=None, timeout=30):
        return http_request(self.port, method, self.base + path, body, headers, timeout)

    def chat(self, payload, key=None, headers=None, timeout=30, path="/v1/chat/completions"):
        h = {"Content-Type": "application/json"}
        if key:
            h["Authorization"] = "Bearer " + key
        h.update(headers or {})
        body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        return self.request("POST", path, body, h, timeout)

    def stream(self, payload, key=None, headers=None, timeout=30, path="/v1/chat/completions",
               **kw):
        h = {"Content-Type": "application/json"}
        if key:
            h["Authorization"] = "Bearer " + key
        h.update(headers or {})
        return StreamClient(self.port, self.base + path,
                            json.dumps(payload).encode(),
                            h, timeout=timeout, **kw)


class Redis:
    def __init__(self, password=None):
        self.port = free_port()
        self.dir = _tmpdir("sllmp-redis-")
        self.proc = None
        self.password = password   # requirepass

    def start(self):
        exe = shutil.which("redis-server")
        if not exe:
            raise unittest.SkipTest("redis-server not installed")
        self.proc = subprocess.Popen(
            [exe, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--daemonize", "no",
             "--protected-mode", "yes"]
            + (["--requirepass", self.password] if self.password else []),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _LIVE.add(self)
        end = time.monotonic() + 5
        while time.monotonic() < end:
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=0.5)
                s.sendall(b"PING\r\n")
                if s.recv(64).startswith((b"+PONG", b"-NOAUTH")):
                    s.close()
                    return self
                s.close()
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start")

    def stop(self):
        _LIVE.discard(self)
        terminate(self.proc)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port


# ---------------------------------------------------------------- HTTP clients

def find_header(headers, name, default=None):
    """The first value of header `name` (any case) in a list of (name, value)."""
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return default


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers        # list of (name, value)
        self.body = body              # bytes

    def header(self, name, default=None):
        return find_header(self.headers, name, default)

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body)

    def __iter__(self):  # status, headers, body unpacking
        return iter((self.status, self.headers, self.body))

    def __repr__(self):
        return "<Response %s %r %r>" % (self.status, self.headers, self.body[:500])


def http_request(port, method, path, body=None, headers=None, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        if isinstance(body, str):
            body = body.encode()
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return Response(r.status, r.getheaders(), data)
    finally:
        c.close()


def parse_sse(text):
    """Events from an SSE body: list of ('comment', text) / ('data', text). Accepts LF/CRLF/CR."""
    events = []
    data = []
    for line in re.split(r"\r\n|\r|\n", text):
        if line == "":
            if data:
                events.append(("data", "\n".join(data)))
                data = []
            continue
        if line.startswith(":"):
            events.append(("comment", line[1:].strip()))
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
    return events


class StreamClient:
    """A raw-socket HTTP/1.1 client that records the arrival time of every body chunk.

    After construction the request is sent and the response headers are read. Then
    read_all() or read_until(pred) consume the body; `chunks` is a list of (time, bytes) of
    decoded body data as it arrived from the socket; `events()` parses the SSE received so far.
    """

    def __init__(self, port, path, body, headers, timeout=30, method="POST"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.t0 = time.time()
        lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1:%d" % port,
                 "Connection: close", "Content-Length: %d" % len(body)]
        lines += ["%s: %s" % kv for kv in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        self.raw = b""
        self.body = b""
        self.chunks = []          # (arrival time, decoded bytes)
        self.eof = False
        self.closed = False
        self._read_headers()

    def _recv(self):
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            raise
        if not d:
            self.eof = True
        return d

    def _read_headers(self):
        while b"\r\n\r\n" not in self.raw:
            d = self._recv()
            if not d:
                raise ConnectionError("connection closed before headers: %r" % self.raw)
            self.raw += d
        head, rest = self.raw.split(b"\r\n\r\n", 1)
        self.headers_at = time.time()
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = []
        for l in lines[1:]:
            k, _, v = l.partition(":")
            self.headers.append((k.strip(), v.strip()))
        self.chunked = "chunked" in (self.header("transfer-encoding") or "").lower()
        cl = self.header("content-length")
        self.remaining = int(cl) if cl is not None and not self.chunked else None
        self._pending = b""       # undecoded transfer bytes
        self.done = False         # end of body reached (last chunk / length / EOF)
        if rest:
            self._feed(rest, self.headers_at)

    def header(self, name, default=None):
        return find_header(self.headers, name, default)

    def _feed(self, data, t):
        out = b""
        if not self.chunked:
            out = data
            if self.remaining is not None:
                out = data[: self.remaining]
                self.remaining -= len(out)
                if self.remaining <= 0:
                    self.done = True
        else:
            self._pending += data
            while not self.done:
                if b"\r\n" not in self._pending:
                    break
                line, rest = self._pending.split(b"\r\n", 1)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.done = True
                    self._pending = b""
                    break
                if len(rest) < size + 2:
                    break
                out += rest[:size]
                self._pending = rest[size + 2:]
        if out:
            self.body += out
            self.chunks.append((t, out))

    def read_some(self, timeout=None):
        """Read once (up to timeout). Returns False at end of body / EOF."""
        if self.done or self.eof:
            return False
        self.sock.settimeout(timeout if timeout is not None else self.timeout)
        d = self._recv()
        if not d:
            self.done = True
            return False
        self._feed(d, time.time())
        return not self.done

    def read_all(self, timeout=None):
        end = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while not self.done and not self.eof:
            left = end - time.monotonic()
            if left <= 0:
                raise socket.timeout("stream not finished within timeout")
            self.read_some(left)
        self.close()
        return self

    def read_until(self, pred, timeout=None):
        """Read until pred(self) is true; returns True, or False at end of body."""
        end = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while not pred(self):
            if self.done or self.eof:
                return False
            left = end - time.monotonic()
            if left <= 0:
                raise socket.timeout("condition not met within timeout")
            self.read_some(left)
        return True

    def text(self):
        return self.body.decode("utf-8", "replace")

    def events(self):
        return parse_sse(self.text())

    def data_events(self):
        return [d for kind, d in self.events() if kind == "data"]

    def json_events(self):
        out = []
        for d in self.data_events():
            if d == "[DONE]":
                continue
            out.append(json.loads(d))
        return out

    def content(self):
        s = ""
        for ev in self.json_events():
            for ch in ev.get("choices") or []:
                c = (ch.get("delta") or {}).get("content")
                if c:
                    s += c
        return s

    def close(self):
        if not self.closed:
            self.closed = True
            try:
                self.sock.close()
            except OSError:
                pass


def content_arrivals(client):
    """Arrival times of each data event that carries delta.content (one per event)."""
    out = []
    buf = ""
    for t, data in client.chunks:
        buf += data.decode("utf-8", "replace")
        while True:
            m = re.search(r"\r\n\r\n|\n\n|\r\r", buf)
            if not m:
                break
            ev, buf = buf[: m.start()], buf[m.end():]
            for kind, d in parse_sse(ev + "\n\n"):
                if kind == "data" and d != "[DONE]":
                    try:
                        obj = json.loads(d)
                    except ValueError:
                        continue
                    for ch in obj.get("choices") or []:
                        if (ch.get("delta") or {}).get("content"):
                            out.append(t)
    return out


# ---------------------------------------------------------------- plain CGI

def cgi_env(uri, method="GET", extra=None, body=None):
    """The environment a web server gives a CGI program for `method uri` (with a body:
    CONTENT_LENGTH and CONTENT_TYPE), plus extra."""
    path, _, query = uri.partition("?")
    env = {"PATH": "/usr/bin:/bin", "GATEWAY_INTERFACE": "CGI/1.1",
           "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_SOFTWARE": "test", "SERVER_NAME": "127.0.0.1",
           "SERVER_PORT": "80", "REMOTE_ADDR": "127.0.0.1", "REQUEST_METHOD": method,
           "REQUEST_URI": uri, "SCRIPT_NAME": path, "QUERY_STRING": query}
    if body is not None:
        env["CONTENT_LENGTH"] = str(len(body))
        env["CONTENT_TYPE"] = "application/json"
    env.update(extra or {})
    return env


def split_cgi(out):
    """A CGI program's stdout as (header block text, body); the block is empty when no blank
    line ends it."""
    sep = b"\r\n\r\n" if b"\r\n\r\n" in out else b"\n\n"
    head, found, body = out.partition(sep)
    return (head.decode("latin-1"), body) if found else ("", out)


def cgi_headers(head):
    """{lower-case name: value} of a CGI header block."""
    headers = {}
    for line in head.splitlines():
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return headers


def proc_env_ok():
    return os.path.isdir("/proc/self/task")


# ---------------------------------------------------------------- base test case

class StackCase(unittest.TestCase):
    """One mock upstream + one stack per test class.

    Subclasses set `master_key`, `sllmp` (overrides for the sllmp: section) and override
    models(mock) to return the model_list."""

    master_key = None
    sllmp = {}
    router = ONE_ATTEMPT  # router_settings
    start_mock = True
    server = "lighttpd"   # run.sh's SERVER
    server_env = {}       # more environment for run.sh

    @classmethod
    def models(cls, mock):
        return [mock_model("mock-echo", "echo", 20),
                upstream_model("up-echo", mock, "echo")]

    @classmethod
    def make_config(cls):
        return base_config(cls.models(cls.mock), master_key=cls.master_key,
                           router_settings=cls.router,
                           **cls.sllmp)

    @classmethod
    def setUpClass(cls):
        require_binaries()
        require_server(cls.server)
        cls.mock = None
        if cls.start_mock:
            cls.mock = Mock().start()
            cls.addClassCleanup(cls.mock.stop)
        cls.stack = Stack(cls.make_config(), server=cls.server, env=cls.server_env)
        cls.addClassCleanup(cls.stack.cleanup)
        cls.addClassCleanup(cls._no_crash)
        cls.prepare(cls.stack)
        cls.stack.start()

    @classmethod
    def prepare(cls, stack):
        """Runs once the stack's directory and YAML are written, before it starts."""

    @classmethod
    def _no_crash(cls):
        # a worker may crash after its client had the whole answer (complete runs after the
        # response ended): no test would see it, so the class fails here
        crashes = cls.stack.crashes()
        if crashes:
            raise AssertionError("a worker crashed during %s:\n%s" % (cls.__name__,
                                                                      "\n".join(crashes)))

    # helpers
    def auth(self):
        return self.master_key

    def chat(self, payload, **kw):
        kw.setdefault("key", self.auth())
        return self.stack.chat(payload, **kw)

    def stream(self, payload, **kw):
        kw.setdefault("key", self.auth())
        return self.stack.stream(payload, **kw)

    def assertOpenAIError(self, r, status, code=None, param=Ellipsis, etype=None):
        msg = "response was %r" % (r,)
        self.assertEqual(r.status, status, msg)
        ctype = r.header("content-type") or ""
        self.assertTrue(ctype.startswith("application/json"), msg)
        body = r.json()
        self.assertIsInstance(body.get("error"), dict, msg)
        err = body["error"]
        for k in ("message", "type", "param", "code"):
            self.assertIn(k, err, msg)
        self.assertIsInstance(err["message"], str, msg)
        self.assertIsInstance(err["type"], str, msg)
        if code is not None:
            self.assertEqual(err["code"], code, msg)
        if param is not Ellipsis:
            self.assertEqual(err["param"], param, msg)
        if etype is not None:
            self.assertEqual(err["type"], etype, msg)
        return err


def user_msg(text):
    return [{"role": "user", "content": text}]
