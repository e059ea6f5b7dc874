"""A real Prometheus server scraping loopback targets, and promtool's metrics linter, for the
/metrics tests (standard library only; Debian 12's `prometheus` package, version 2.42).

    prom = Prometheus(["127.0.0.1:%d" % port], bearer_token=None).start()
    t = time.time()                      # after the load has finished
    assert prom.wait_scrape_after(t, timeout=15)
    prom.value('sum(sllmp_requests_total{status="200"})')   # 7.0, or None: no series
    prom.query('sllmp_requests_total')                       # the API's "data" object
    prom.targets()                                           # health, lastScrape, lastError
    prom.stop()

    ok, output = promtool_check(text)    # promtool check metrics, plus exposition_problems()

Prometheus only ever listens on and scrapes 127.0.0.1, and writes only into its temp dir
(SLLMP_TEST_TMP, kept with SLLMP_KEEP_TMP=1 like the stacks' dirs).
"""

import atexit
import datetime
import http.client
import json
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.parse

from stack import free_port

PROMETHEUS_BIN = os.environ.get("SLLMP_PROMETHEUS") or "/usr/bin/prometheus"
PROMTOOL_BIN = os.environ.get("SLLMP_PROMTOOL") or "/usr/bin/promtool"

# Prometheus may move a scrape's timestamp up to 2 ms to align it with the previous interval
# (scrape.ScrapeTimestampTolerance), so lastScrape can be slightly later than the request's
# real start. A scrape counts as "after t" only beyond this margin.
ALIGN_SLACK = 0.01

_PROMS = set()   # started servers not yet stopped; stopped at exit as a last resort


@atexit.register
def _stop_leftovers():
    for p in list(_PROMS):
        try:
            p.stop()
        except Exception:
            pass


def have_prometheus():
    return os.access(PROMETHEUS_BIN, os.X_OK) and os.access(PROMTOOL_BIN, os.X_OK)


def require_prometheus():
    """Skip (not fail) where the prometheus package is not installed."""
    if not have_prometheus():
        raise unittest.SkipTest("prometheus/promtool missing (apt-get install prometheus)")


class PromQueryError(RuntimeError):
    """The HTTP API answered status "error" (a PromQL parse or evaluation error)."""


def _yaml_str(s):
    """A YAML double-quoted scalar (JSON's string escapes are a subset of YAML's)."""
    return json.dumps(str(s))


def _check_target(t):
    """Targets must be 127.0.0.1:PORT: the fixture never scrapes anything else."""
    if not re.fullmatch(r"127\.0\.0\.1:\d{1,5}", t):
        raise ValueError("target %r is not 127.0.0.1:PORT" % (t,))
    return t


def parse_go_time(s):
    """Unix seconds of an RFC 3339 time as the API prints it (nanoseconds, Z or +hh:mm);
    None for Go's zero time (a target never scraped yet)."""
    if not s or s.startswith("0001-01-01"):
        return None
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", s)
    if not m:
        raise ValueError("unexpected time %r" % s)
    zone = "+00:00" if m.group(3) == "Z" else m.group(3)
    whole = datetime.datetime.fromisoformat(m.group(1) + zone).timestamp()
    return whole + (float("0" + m.group(2)) if m.group(2) else 0.0)


class Prometheus:
    """One prometheus process with one scrape job ("sllmp") over the given loopback targets."""

    JOB = "sllmp"

    def __init__(self, targets, metrics_path="/metrics", scrape_interval="1s",
                 bearer_token=None):
        self.target_list = [_check_target(t) for t in targets]
        self.metrics_path = metrics_path
        self.scrape_interval = scrape_interval
        self.bearer_token = bearer_token
        self.dir = None
        self.port = None
        self.proc = None
        self._log = None

    # ---- files ------------------------------------------------------------------------

    @property
    def config_path(self):
        return os.path.join(self.dir, "prometheus.yml")

    @property
    def log_path(self):
        return os.path.join(self.dir, "prometheus.log")

    def config_text(self):
        """prometheus.yml: one static job; the timeout equals the interval because 2.42
        refuses a scrape_timeout longer than the scrape_interval (the default is 10s)."""
        iv = _yaml_str(self.scrape_interval)
        lines = [
            "global:",
            "  scrape_interval: %s" % iv,
            "  scrape_timeout: %s" % iv,
            "  evaluation_interval: 1m",
            "scrape_configs:",
            "  - job_name: %s" % _yaml_str(self.JOB),
            "    metrics_path: %s" % _yaml_str(self.metrics_path),
            "    scheme: http",
            "    scrape_interval: %s" % iv,
            "    scrape_timeout: %s" % iv,
            "    follow_redirects: false",
            "    enable_http2: false",
        ]
        if self.bearer_token is not None:
            lines += ["    authorization:",
                      "      type: Bearer",
                      "      credentials: %s" % _yaml_str(self.bearer_token)]
        lines += ["    static_configs:",
                  "      - targets: [%s]" % ", ".join(_yaml_str(t) for t in self.target_list)]
        return "\n".join(lines) + "\n"

    def args(self):
        """Everything pinned to loopback and the temp dir: the listen address, the external
        URL (else derived from the hostname), storage, and the console dirs (else
        /etc/prometheus). No lifecycle/admin API, no remote write, no alertmanager."""
        d = self.dir
        return [
            PROMETHEUS_BIN,
            "--config.file=" + self.config_path,
            "--storage.tsdb.path=" + os.path.join(d, "data"),
            "--storage.tsdb.retention.time=1d",
            "--web.listen-address=127.0.0.1:%d" % self.port,
            "--web.external-url=http://127.0.0.1:%d/" % self.port,
            "--web.console.templates=" + os.path.join(d, "consoles"),
            "--web.console.libraries=" + os.path.join(d, "console_libraries"),
            "--log.level=warn",
        ]

    def log(self):
        """Prometheus's own output (for a failing test's message)."""
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    # ---- lifecycle ----------------------------------------------------------------------

    def start(self, timeout=20):
        """Start and wait for /-/ready (the TSDB is open; ~0.1 s). Retries on a lost port race.
        The first scrape comes only ~5-6 s later: 2.42 hands new targets to the scrape loops
        on a 5 s tick, and no flag of 2.42 shortens that. Start it before the load."""
        self.dir = tempfile.mkdtemp(prefix="sllmp-prom-",
                                    dir=os.environ.get("SLLMP_TEST_TMP") or None)
        with open(self.config_path, "w") as f:
            f.write(self.config_text())
        _PROMS.add(self)
        for attempt in range(3):
            self.port = free_port()
            self._spawn()
            why = self._wait_ready(timeout)
            if why is None:
                return self
            self._kill()
            if "address already in use" not in self.log() or attempt == 2:
                text = self.log()
                self.stop()
                raise RuntimeError("prometheus did not get ready (%s):\n%s" % (why, text))
        return self

    def _spawn(self):
        if self._log:
            self._log.close()
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args(), stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=self._log, cwd=self.dir, start_new_session=True)

    def _wait_ready(self, timeout):
        """None once /-/ready answers 200, else why not."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return "exited with %s" % self.proc.returncode
            try:
                status, _ = self._get("/-/ready", timeout=2)
                if status == 200:
                    return None
            except OSError:
                pass
            time.sleep(0.05)
        return "not ready within %ss" % timeout

    def _kill(self, grace=5.0):
        """SIGTERM (prometheus closes the TSDB cleanly), SIGKILL after `grace` seconds."""
        p, self.proc = self.proc, None
        if p is None:
            return
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()

    def stop(self, grace=5.0):
        """Stop the process and remove the temp dir (unless SLLMP_KEEP_TMP). Idempotent."""
        _PROMS.discard(self)
        self._kill(grace)
        if self._log:
            self._log.close()
            self._log = None
        if self.dir and not os.environ.get("SLLMP_KEEP_TMP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- HTTP API -----------------------------------------------------------------------

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def _get(self, path, timeout=10):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def api(self, path, **params):
        """The `data` of a /api/v1 call; PromQueryError with the API's error text."""
        q = ("?" + urllib.parse.urlencode(params)) if params else ""
        status, body = self._get("/api/v1/" + path + q)
        try:
            doc = json.loads(body)
        except ValueError:
            raise PromQueryError("HTTP %d, not JSON: %r" % (status, body[:200]))
        if doc.get("status") != "success":
            raise PromQueryError("%s: %s (HTTP %d)" % (doc.get("errorType"), doc.get("error"),
                                                       status))
        return doc["data"]

    def query(self, expr):
        """An instant query at the current time: {"resultType": ..., "result": ...}."""
        return self.api("query", query=expr)

    def value(self, expr):
        """The float of a single-sample result (vector or scalar); None for an empty vector.
        More than one sample is an error: aggregate with sum() first."""
        data = self.query(expr)
        res = data["result"]
        if data["resultType"] == "scalar":
            return float(res[1])
        if data["resultType"] != "vector":
            raise ValueError("%s: %s result, not a vector" % (expr, data["resultType"]))
        if not res:
            return None
        if len(res) > 1:
            raise ValueError("%s: %d samples, expected one: %r" % (expr, len(res), res))
        return float(res[0]["value"][1])

    def targets(self):
        """The active targets as the API gives them (health "up"/"down"/"unknown",
        lastScrape, lastError, scrapeUrl, labels ...) plus `last_scrape`: lastScrape in
        Unix seconds, None before the first scrape."""
        out = self.api("targets", state="active")["activeTargets"]
        for t in out:
            t["last_scrape"] = parse_go_time(t.get("lastScrape"))
        return out

    def _committed(self, target):
        """True once the samples of the target's last scrape are queryable: lastScrape is
        set before the scrape's append is committed, but `up` is committed with the data."""
        inst = target["labels"].get("instance", "")
        got = self.query('timestamp(up{job="%s",instance="%s"})' % (self.JOB, inst))
        if not got["result"]:
            return False
        return float(got["result"][0]["value"][1]) >= target["last_scrape"] - 0.002

    def _all_scraped_after(self, t_wall):
        try:
            ts = self.targets()
            if len(ts) < len(set(self.target_list)):
                return False
            for t in ts:
                if t["health"] != "up" or t["last_scrape"] is None:
                    return False
                if t["last_scrape"] <= t_wall + ALIGN_SLACK or not self._committed(t):
                    return False
            return True
        except (OSError, PromQueryError, KeyError, ValueError):
            return False

    def wait_scrape_after(self, t_wall, timeout=15):
        """Wait until every target was scraped successfully by a scrape that started after
        the wall-clock time t_wall (time.time()), and that scrape's samples are queryable.
        True/False; on False, targets() tells the lastError."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self._all_scraped_after(t_wall):
                return True
            time.sleep(0.1)
        return self._all_scraped_after(t_wall)


# ---------------------------------------------------------------- promtool check metrics

def promtool_check(text, structure=True):
    """(ok, output) of `promtool check metrics` on `text`, which fails on both kinds of problem.

    How promtool 2.42 reports, all on stderr (stdout stays empty):
      exit 0  clean.
      exit 1  a parse error, one line "error while linting: text format parsing error in line
              N: ..." (e.g. a second HELP or TYPE line for a name, TYPE after the samples, a bad
              label or value, no newline after the last line). Parsing stops there, so the
              lint problems of the same text are not reported.
      exit 3  lint problems, one line "NAME PROBLEM" each (e.g. 'x counter metrics should have
              "_total" suffix', 'x no help text', 'x_total non-counter metrics should not have
              "_total" suffix', camelCase names, non-base units such as milliseconds).
    It does not check a histogram's structure (no +Inf bucket, falling bucket counts, _count
    different from the +Inf bucket), duplicate series, or a family split into two groups:
    with `structure` those come from exposition_problems(), appended to the output as
    "structure: ..." lines, and make ok False too.
    """
    data = text.encode() if isinstance(text, str) else text
    r = subprocess.run([PROMTOOL_BIN, "check", "metrics"], input=data, capture_output=True,
                       timeout=60)
    out = (r.stdout + r.stderr).decode(errors="replace")
    ok = r.returncode == 0
    if r.returncode not in (0, 1, 3):
        out += "promtool: unexpected exit %d\n" % r.returncode
    if structure:
        problems = exposition_problems(data.decode(errors="replace"))
        out += "".join("structure: %s\n" % p for p in problems)
        ok = ok and not problems
    return ok, out


# ---------------------------------------------------------------- exposition structure

_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+(-?\d+))?")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\\n]|\\.)*)"\s*(?:,|$)')
_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}


def _labels(text):
    """[(name, value)] of a label block's inside, or None when it does not parse."""
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _LABEL.match(text, pos)
        if not m:
            return None
        out.append((m.group(1), m.group(2)))
        pos = m.end()
    return out


def _family_of(name, types):
    """The family a sample belongs to: x for x_bucket/_sum/_count of a TYPEd histogram or
    summary, else the name itself."""
    for fam_type, suffixes in _SUFFIXES.items():
        for suf in suffixes:
            if name.endswith(suf) and types.get(name[:-len(suf)]) == fam_type:
                return name[:-len(suf)]
    return name


def parse_exposition(text):
    """(samples, types, problems): samples are (line_no, name, labels dict, value, family) of
    a text-format 0.0.4 exposition; types maps family -> TYPE."""
    samples, types, problems = [], {}, []
    for no, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 4 and parts[1] == "TYPE":
                types[parts[2]] = parts[3].strip()
            continue
        m = _SAMPLE.fullmatch(line.rstrip())
        labels = _labels(m.group(2)) if m and m.group(2) is not None else []
        if not m or labels is None:
            problems.append("line %d: cannot parse %r" % (no, line[:120]))
            continue
        names = [k for k, _ in labels]
        if len(set(names)) != len(names):
            problems.append("line %d: a label name repeats: %s" % (no, line[:120]))
        try:
            value = float(m.group(3))
        except ValueError:
            problems.append("line %d: bad value %r" % (no, m.group(3)))
            continue
        fam = _family_of(m.group(1), types)
        samples.append((no, m.group(1), dict(labels), value, fam))
    return samples, types, problems


def _group_problems(samples, types):
    """Each family in one group, no series twice, every family TYPEd, no negative counter."""
    problems, done, seen, current = [], set(), set(), None
    for no, name, labels, value, fam in samples:
        if fam != current:
            if fam in done:
                problems.append("line %d: family %s continues after another family" % (no, fam))
            if current is not None:
                done.add(current)
            current = fam
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            problems.append("line %d: duplicate series %s%s" % (no, name, dict(key[1])))
        seen.add(key)
        if fam not in types:
            problems.append("%s has no TYPE line" % fam)
        elif types[fam] == "counter" and not value >= 0:
            problems.append("line %d: counter %s is %r" % (no, name, value))
        elif types[fam] == "histogram" and name == fam:
            problems.append("line %d: histogram %s has a sample without a suffix" % (no, fam))
    return sorted(set(problems), key=problems.index)


def _histogram_problems(samples, types):
    """Per histogram series (its labels but le): an +Inf bucket, cumulative counts that never
    fall, no le twice, a _sum, and a _count equal to the +Inf bucket."""
    series = {}
    for no, name, labels, value, fam in samples:
        if types.get(fam) != "histogram" or name == fam:
            continue
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        s = series.setdefault((fam, rest), {"buckets": [], "sum": None, "count": None})
        if name == fam + "_bucket":
            s["buckets"].append((labels.get("le"), value))
        else:
            s[name[len(fam) + 1:]] = value
    problems = []
    for (fam, rest), s in series.items():
        where = fam + (str(dict(rest)) if rest else "")
        problems += _one_histogram(where, s)
    return problems


def _one_histogram(where, s):
    problems, les = [], []
    for le, count in s["buckets"]:
        try:
            les.append((float(le), count))
        except (TypeError, ValueError):
            problems.append("%s: bucket with le=%r" % (where, le))
    bounds = [b for b, _ in les]
    if len(set(bounds)) != len(bounds):
        problems.append("%s: an le appears twice" % where)
    les.sort()
    if any(b[1] < a[1] for a, b in zip(les, les[1:])):
        problems.append("%s: bucket counts fall as le grows: %r" % (where, les))
    inf = [c for b, c in les if b == math.inf]
    if not inf:
        problems.append('%s: no le="+Inf" bucket' % where)
    if s["sum"] is None:
        problems.append("%s: no _sum" % where)
    if s["count"] is None:
        problems.append("%s: no _count" % where)
    elif inf and s["count"] != inf[0]:
        problems.append("%s: _count %r != +Inf bucket %r" % (where, s["count"], inf[0]))
    return problems


def exposition_problems(text):
    """What promtool 2.42 lets through but a correct exposition must not have (see
    promtool_check). [] when fine."""
    samples, types, problems = parse_exposition(text)
    return problems + _group_problems(samples, types) + _histogram_problems(samples, types)
