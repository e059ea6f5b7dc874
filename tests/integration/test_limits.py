"""Rate limits, budgets and the limit store (include/sllmp/limits.h), through real stacks.

The same limit tests run on both backends (LimitTests, mixed into RedisLimitsTest and
LocalLimitsTest): rpm exact under 500 concurrent requests (on Redis: two stacks with their own
SLLMP_RUNDIR sharing one redis-server), budgets (concurrent, 1d and total windows, held by
requests in flight: retryable), tpm with the reservation corrected to the actual usage,
max_parallel and lease renewal of long streams, users (X-User-ID, body `user`, the key's user,
named and "*"), teams, per-deployment rpm, x-ratelimit-* and Retry-After headers, a SIGKILLed
worker's lease expiring, `sllmp usage`.

AbsurdPriceTest (local store): a price whose worst case overflows nano-USD is refused by a
budget, not wrapped to a negative cost.

UpstreamFailureChargeTest (local store): what a call that failed upstream is charged, in the
budgets, `sllmp usage`, the trace record and the access log, and to the deployment (its tpm and
spend) when the failure came after the answer began.

Redis only: RedisOutageTest (Redis hung with SIGSTOP, Redis SIGKILLed mid-load and restarted,
SCRIPT FLUSH) and RedisUnreachableTest (on_error open / closed as a single word).

Every test uses keys of its own, so the tests of one class (one store) do not share counts.
"""

import calendar
import collections
import concurrent.futures
import glob
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

from stack import (CLI_BIN, UPSTREAM_KEY, Mock, Redis, Stack, StackCase, access_log_lines,
                   base_config, closed_port, mock_model, require_binaries, upstream_model, user_msg, wait_for)
from test_trace import records

LEASE_MS = 2000          # sllmp.limits.lease_ms of the limit classes
RESERVE_MAX = 50         # sllmp.limits.reserve_max_tokens: tpm reserve when max_tokens is absent
SLOW_DELAY_MS = 200      # the "slow" built-in mock: 200 ms before each word
SLOW_TEXT = " ".join("s%d" % i for i in range(1, 21))   # 20 words: a stream of at least 4 s

# The "priced" deployment: the upstream mock reports exactly 10 prompt + 10 completion tokens,
# at $0.001 per token each way: $0.02 per request. PRICED_TEXT is 40 characters, estimated at
# 10 prompt tokens, and the requests ask for max_tokens 10, so the worst case is the actual cost.
PRICE = {"input_cost_per_token": 0.001, "output_cost_per_token": 0.001}
PRICED_TEXT = "x" * 40
PRICED_COST = 0.02
BUDGET_1D = 0.11         # 5 requests fit (0.10), a 6th would not (0.12)
BUDGET_TOTAL = 0.05      # 2 requests fit (0.04), a 3rd would not (0.06)
# "priced-slow": the same, answering after SLOW_PRICED_MS. Asked with max_tokens 100, a request
# to either reserves 10 + 100 tokens: $0.11, and costs $0.02. One request does not spend
# BUDGET_HELD, but two at once do not fit: the second is refused while the first holds its
# worst case.
SLOW_PRICED_MS = 2000
BUDGET_HELD = 0.16

# ---------------------------------------------------------------- keys

SECRETS = {}


def secret(name):
    """The bearer key of the virtual key `name` (made once per run)."""
    if name not in SECRETS:
        SECRETS[name] = "sk-lim-%s-%s" % (name, secrets.token_hex(12))
    return SECRETS[name]


def key_entries(spec):
    """keys: entries for [(name, {fields})], with key_sha256 of secret(name)."""
    out = []
    for name, fields in spec:
        e = {"name": name, "key_sha256": hashlib.sha256(secret(name).encode()).hexdigest()}
        e.update(fields)
        out.append(e)
    return out


LIMIT_KEYS = [
    ("rpm-k", {"rpm": 100}),
    ("budget-k", {"budget_usd": BUDGET_1D, "budget_period": "1d"}),
    ("budget-total-k", {"budget_usd": BUDGET_TOTAL, "budget_period": "total"}),
    ("tpm-k", {"tpm": 1100}),
    ("tpm-n-k", {"tpm": 600}),
    ("par-k", {"max_parallel": 2}),
    ("kill-k", {"max_parallel": 1}),
    ("team-a1", {"team": "eng"}),
    ("team-a2", {"team": "eng"}),
    ("team-b", {"team": "ops"}),
    ("hdr-k", {"rpm": 10, "tpm": 10000}),
    ("hdr-team-k", {"team": "small", "rpm": 10}),
    ("user-k", {}),
    ("user-default-k", {"user": "gina"}),
    ("dep-k", {}),
    ("usage-k", {"rpm": 50}),
    ("probe-k", {"rpm": 1000}),
    ("budget-held-k", {"budget_usd": BUDGET_HELD, "budget_period": "total"}),
    ("budget-month-k", {"budget_usd": PRICED_COST * 1.5, "budget_period": "1mo"}),
    ("held-team-k", {"budget_usd": 0.25, "budget_period": "total", "team": "held-team"}),
]
LIMIT_TEAMS = [{"name": "eng", "rpm": 3}, {"name": "small", "rpm": 5},
               {"name": "held-team", "budget_usd": 0.15, "budget_period": "total"}]
LIMIT_USERS = [{"name": "bob", "rpm": 4}, {"name": "*", "rpm": 3}]


def limit_models(mock):
    limited = mock_model("limited", "echo", 0)
    limited["litellm_params"].update({"rpm": 2, "tpm": 1000})
    priced = upstream_model("priced", mock, "usage-10-10-0-0")
    priced["model_info"] = dict(PRICE)
    priced_slow = upstream_model("priced-slow", mock,
                                 "usage-10-10-0-0+sleep-%d" % SLOW_PRICED_MS)
    priced_slow["model_info"] = dict(PRICE)
    return [mock_model("mock", "echo", 0), mock_model("slow", "echo", SLOW_DELAY_MS),
            limited, priced, priced_slow]


# ---------------------------------------------------------------- helpers

def parallel(calls, workers):
    """Runs the callables on a thread pool; a call that raised gives its exception instead."""
    def guarded(fn):
        try:
            return fn()
        except Exception as e:  # a connection error is a result to report, not a crash
            return e
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as ex:
        return list(ex.map(guarded, calls))


def status_of(r):
    return r.status if hasattr(r, "status") else repr(r)


def go_duration_ms(s):
    """Milliseconds of a Go duration as OpenAI's x-ratelimit-reset-* ("59.4s", "1m0s", "12ms")."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ns|us|µs|ms)", s or "")
    if m:
        return float(m.group(1)) * {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0}[m.group(2)]
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(\d+(?:\.\d+)?)s", s or "")
    if m:
        return ((int(m.group(1) or 0) * 60 + int(m.group(2) or 0)) * 60
                + float(m.group(3))) * 1000.0
    return None


def redis_cmd(port, *args, timeout=5, password=None):
    """One command to the redis-server on port (RESP); the reply as str/int/bytes/list.
    With password, an AUTH first."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        def send(*cmd):
            parts = [a if isinstance(a, bytes) else str(a).encode() for a in cmd]
            s.sendall(b"*%d\r\n" % len(parts)
                      + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        f = s.makefile("rb")

        def read():
            line = f.readline()
            kind, rest = line[:1], line[1:-2]
            if kind == b"+":
                return rest.decode()
            if kind == b"-":
                raise RuntimeError("redis: " + rest.decode())
            if kind == b":":
                return int(rest)
            if kind == b"$":
                n = int(rest)
                return None if n < 0 else f.read(n + 2)[:-2]
            if kind == b"*":
                n = int(rest)
                return None if n < 0 else [read() for _ in range(n)]
            raise RuntimeError("redis: unexpected reply %r" % line)
        if password is not None:
            send("AUTH", password)
            read()
        send(*args)
        return read()
    finally:
        s.close()


def cli_env(stack):
    env = dict(os.environ)
    env.update({"SLLMP_RUNDIR": stack.rundir, "SLLMP_CONFIG": stack.config_path,
                "MOCK_UPSTREAM_KEY": UPSTREAM_KEY})
    return env


class LimitAsserts:
    """Assertions shared by the classes here (mixed into StackCase subclasses)."""

    def usage_rows(self, stack=None):
        """`sllmp usage --json` of the stack (self.stack by default), by subject."""
        stack = stack or self.stack
        p = subprocess.run([CLI_BIN, "usage", "--json", stack.config_path], env=cli_env(stack),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return {row["subject"]: row for row in json.loads(p.stdout)}

    def assertLimited(self, r, etype, code="rate_limit_exceeded", subject=None, status=429):
        err = self.assertOpenAIError(r, status, code=code, param=None, etype=etype)
        if subject is not None:
            self.assertIn(subject, err["message"], r)
        body = r.body.decode("utf-8", "replace")
        for s in SECRETS.values():
            self.assertNotIn(s, body, "a key leaked into the error")
        return err

    def assertRateRetry(self, r, window_s=60):
        """Retry-After (integer seconds >= 1), retry-after-ms, x-should-retry: true."""
        ra = r.header("retry-after")
        ms = r.header("retry-after-ms")
        self.assertIsNotNone(ra, r)
        self.assertIsNotNone(ms, r)
        self.assertRegex(ra, r"^[0-9]+$", r)
        self.assertRegex(ms, r"^[0-9]+$", r)
        self.assertTrue(1 <= int(ra) <= window_s, r)
        self.assertTrue(1 <= int(ms) <= window_s * 1000, r)
        self.assertLessEqual(abs(int(ra) * 1000 - int(ms)), 1000, r)
        self.assertEqual(r.header("x-should-retry"), "true", r)

    def assertHeldRetry(self, r):
        """A budget held by requests in flight: retry within a second, as for max_parallel."""
        self.assertRateRetry(r, window_s=1)

    def assertUnavailable(self, r):
        self.assertLimited(r, "server_error", code="limits_unavailable", status=503)
        self.assertEqual(r.header("retry-after"), "1", r)


# ---------------------------------------------------------------- the limits, on each backend

class LimitTests(LimitAsserts):
    """The limit tests; subclasses set `backend` ("redis" or "local") and `nstacks`."""

    backend = None
    nstacks = 1

    @classmethod
    def setUpClass(cls):
        require_binaries()
        cls.mock = Mock().start()
        cls.addClassCleanup(cls.mock.stop)
        cls.redis = None
        if cls.backend == "redis":
            cls.redis = Redis()
            cls.addClassCleanup(cls.redis.cleanup)
            cls.redis.start()
        cls.stacks = []
        for _ in range(cls.nstacks):
            st = Stack(cls.make_config())   # a fresh dict each: each stack its own spool
            cls.addClassCleanup(st.cleanup)
            st.start()
            cls.stacks.append(st)
        cls.stack = cls.stacks[0]

    @classmethod
    def make_config(cls):
        # backend left to `auto`: redis when redis.url is set, else the local file
        sl = {"limits": {"lease_ms": LEASE_MS, "reserve_max_tokens": RESERVE_MAX}}
        if cls.redis is not None:
            # past the command timeout (50 ms by default) rates fail open, by design: on a
            # loaded machine (a build beside two stacks taking 500 requests) that may let a few
            # more through the 100-rpm key; the counts here are about the scripts, not the
            # timeout (RedisOutageTest has its own)
            sl["redis"] = {"url": cls.redis.url, "timeout_ms": 1000}
        cfg = base_config(limit_models(cls.mock), **sl)
        cfg["keys"] = key_entries(LIMIT_KEYS)
        cfg["teams"] = [dict(t) for t in LIMIT_TEAMS]
        cfg["users"] = [dict(u) for u in LIMIT_USERS]
        return cfg

    def at(self, i):
        """The stacks in turn: on Redis, consecutive requests go to different stacks."""
        return self.stacks[i % len(self.stacks)]

    def req(self, name, i=0, text="hi", model="mock", headers=None, timeout=30, **body):
        payload = {"model": model, "messages": user_msg(text)}
        payload.update(body)
        return self.at(i).chat(payload, key=secret(name), headers=headers, timeout=timeout)

    def sstream(self, name, i=0, text=SLOW_TEXT, model="slow"):
        return self.at(i).stream({"model": model, "stream": True, "messages": user_msg(text)},
                                 key=secret(name))

    # -- rpm

    def test_rpm_exact_under_500_concurrent_requests(self):
        n, limit = 500, 100
        results = parallel([lambda i=i: self.req("rpm-k", i, text="r%d" % i, timeout=60)
                            for i in range(n)], workers=64)
        counts = collections.Counter(status_of(r) for r in results)
        self.assertEqual(dict(counts), {200: limit, 429: n - limit},
                         "rpm %d over %d stack(s): %r" % (limit, len(self.stacks), counts))
        for i, r in enumerate(results):
            if r.status == 200:
                self.assertEqual(r.json()["choices"][0]["message"]["content"], "r%d" % i, r)
            else:
                self.assertLimited(r, "requests", subject="key rpm-k")

    # -- budget

    def priced(self, name, i=0):
        return self.req(name, i, text=PRICED_TEXT, model="priced", max_tokens=10)

    def test_budget_concurrent(self):
        results = parallel([lambda i=i: self.priced("budget-k", i) for i in range(12)],
                           workers=12)
        self.assertFalse([r for r in results if not hasattr(r, "status")], results)
        ok = [r for r in results if r.status == 200]
        refused = [r for r in results if r.status != 200]
        costs = [float(r.header("x-sllmp-cost-usd")) for r in ok]
        for c in costs:
            self.assertAlmostEqual(c, PRICED_COST, places=9)
        self.assertLessEqual(sum(costs), BUDGET_1D + 1e-9, "spent past the budget: %r" % costs)
        # the worst case is the actual cost here, so exactly floor(budget / cost) fit
        self.assertEqual(len(ok), 5, [status_of(r) for r in results])
        for r in refused:
            err = self.assertLimited(r, "budget_exceeded", code="budget_exceeded",
                                     subject="key budget-k")
            # refused while fewer than 5 had settled: only the others' worst cases stood in
            # the way, which a retry may find gone; refused after: spent
            if "held by requests in flight" in err["message"]:
                self.assertHeldRetry(r)
            else:
                self.assertEqual(r.header("x-should-retry"), "false", r)

        # settled: a later request is refused too, with Retry-After = the end of the UTC day
        r = self.priced("budget-k", 1)
        self.assertLimited(r, "budget_exceeded", code="budget_exceeded", subject="key budget-k")
        self.assertEqual(r.header("x-should-retry"), "false", r)
        ra = r.header("retry-after")
        self.assertIsNotNone(ra, r)
        self.assertRegex(ra, r"^[0-9]+$", r)
        now = time.time()
        to_midnight = (int(now) // 86400 + 1) * 86400 - now
        self.assertTrue(1 <= int(ra) <= 86400, r)
        if to_midnight > 30:   # not when the day ends during the test
            self.assertLessEqual(abs(int(ra) - to_midnight), 5, (ra, to_midnight))

    def test_budget_month(self):
        # 1mo, LiteLLM's spelling of its 30d: the UTC calendar month, which resets on the 1st
        r = self.priced("budget-month-k")
        self.assertEqual(r.status, 200, r)
        r = self.priced("budget-month-k", 1)
        err = self.assertLimited(r, "budget_exceeded", code="budget_exceeded",
                                 subject="key budget-month-k")
        self.assertIn("per month (UTC)", err["message"])
        self.assertEqual(r.header("x-should-retry"), "false", r)
        ra = int(r.header("retry-after"))
        now = time.time()
        t = time.gmtime(now)
        first = calendar.timegm((t.tm_year + (t.tm_mon == 12), t.tm_mon % 12 + 1, 1, 0, 0, 0))
        if first - now > 30:   # not when the month ends during the test
            self.assertLessEqual(abs(ra - (first - now)), 5, (ra, first - now))

    def test_budget_held_by_requests_in_flight(self):
        def worst_011(i, model="priced"):
            return self.req("budget-held-k", i, text=PRICED_TEXT, model=model, max_tokens=100)

        first = {}
        t = threading.Thread(target=lambda: first.update(r=worst_011(0, "priced-slow")))
        t.start()
        try:
            held = wait_for(lambda: self.usage_rows()["key:budget-held-k"]["in_flight"] == 1, 5)
            self.assertTrue(held, "the first request never held its reservation")
            # $0 spent + $0.11 held + $0.11 > $0.16, yet $0 + $0.11 fits: (on Redis, asked of
            # the other stack) refused for now, and told to retry soon
            r = worst_011(1)
        finally:
            t.join(30)
        self.assertEqual(status_of(first.get("r")), 200, first)
        err = self.assertLimited(r, "budget_exceeded", code="budget_exceeded",
                                 subject="key budget-held-k")
        self.assertIn("held by requests in flight", err["message"])
        self.assertHeldRetry(r)
        # the first settled at $0.02: $0.02 + $0.11, then $0.04 + $0.11 fit
        for i in range(2):
            r = worst_011(i)
            self.assertEqual(r.status, 200, "request %d after the first settled: %r" % (i, r))
        # $0.06 spent + $0.11 does not fit whatever settles: final (a total budget: no
        # Retry-After)
        r = worst_011(0)
        err = self.assertLimited(r, "budget_exceeded", code="budget_exceeded",
                                 subject="key budget-held-k")
        self.assertNotIn("held by requests in flight", err["message"])
        self.assertEqual(r.header("x-should-retry"), "false", r)
        self.assertIsNone(r.header("retry-after"), r)
        k = self.usage_rows()["key:budget-held-k"]
        self.assertAlmostEqual(k["spent_usd"], 3 * PRICED_COST, places=9)
        self.assertEqual((k["reserved_usd"], k["in_flight"]), (0, 0), k)

    def test_spent_team_budget_outweighs_a_held_key_budget(self):
        # the slow request holds $0.11 of the key's $0.25 and of the team's $0.15; then one
        # asking max_tokens 200 ($0.21 worst case): the key would fit it once the first ends
        # (held), the team never will (spent): the client hears of the team, with no retry
        first = {}
        t = threading.Thread(target=lambda: first.update(
            r=self.req("held-team-k", 0, text=PRICED_TEXT, model="priced-slow",
                       max_tokens=100)))
        t.start()
        try:
            held = wait_for(lambda: self.usage_rows()["key:held-team-k"]["in_flight"] == 1, 5)
            self.assertTrue(held, "the first request never held its reservation")
            r = self.req("held-team-k", 1, text=PRICED_TEXT, model="priced", max_tokens=200)
        finally:
            t.join(30)
        self.assertEqual(status_of(first.get("r")), 200, first)
        err = self.assertLimited(r, "budget_exceeded", code="budget_exceeded",
                                 subject="team held-team")
        self.assertNotIn("held by requests in flight", err["message"])
        self.assertEqual(r.header("x-should-retry"), "false", r)

    def test_budget_total(self):
        for i in range(2):
            r = self.priced("budget-total-k", i)
            self.assertEqual(r.status, 200, r)
        r = self.priced("budget-total-k", 2)
        self.assertLimited(r, "budget_exceeded", code="budget_exceeded",
                           subject="key budget-total-k")
        self.assertEqual(r.header("x-should-retry"), "false", r)
        self.assertIsNone(r.header("retry-after"), "a total budget never resets: %r" % (r,))

    # -- tpm

    def test_tpm_reserve_corrected_to_usage(self):
        # 400 characters: 100 prompt tokens; the echo answers them, 100 completion tokens.
        # max_tokens 500 reserves 600 tokens, settled to 200. tpm 1100:
        #   200 settled + 600 ok, 400 + 600 ok, 600 + 600 refused (1 passes without the correction)
        text = "x" * 400
        for i in range(3):
            r = self.req("tpm-k", i, text=text, max_tokens=500)
            self.assertEqual(r.status, 200, "request %d: %r" % (i, r))
            self.assertEqual(r.header("x-ratelimit-limit-tokens"), "1100", r)
        r = self.req("tpm-k", 3, text=text, max_tokens=500)
        self.assertLimited(r, "tokens", subject="key tpm-k")
        self.assertRateRetry(r)
        self.assertEqual(r.header("x-ratelimit-limit-tokens"), "1100", r)
        # smaller requests still fit what is left: 600 + 200, 800 + 200, then 1000 + 200 no
        for i in range(2):
            r = self.req("tpm-k", i, text=text, max_tokens=100)
            self.assertEqual(r.status, 200, "small request %d: %r" % (i, r))
        r = self.req("tpm-k", 2, text=text, max_tokens=100)
        self.assertLimited(r, "tokens", subject="key tpm-k")

    def test_tpm_reserve_counts_every_choice(self):
        # 40 characters: 10 prompt tokens; the echo uses 20 tokens, n or not. max_tokens 300
        # reserves 310 tokens; with n=3 the request may write 3 x 300 and reserves 910, which
        # is more than the whole tpm of 600 and so waits for an empty window.
        r = self.req("tpm-n-k", 0, text="x" * 40, max_tokens=300)
        self.assertEqual(r.status, 200, r)
        r = self.req("tpm-n-k", 1, text="x" * 40, max_tokens=300, n=3)
        self.assertLimited(r, "tokens", subject="key tpm-n-k")
        self.assertIn("may use 910", r.json()["error"]["message"], r)
        # the same without n fits (20 used + 310): the refusal was the n choices
        r = self.req("tpm-n-k", 0, text="x" * 40, max_tokens=300)
        self.assertEqual(r.status, 200, r)

    # -- max_parallel, lease renewal

    def test_max_parallel(self):
        t0 = time.monotonic()
        s1 = self.sstream("par-k", 0)
        s2 = self.sstream("par-k", 1)
        try:
            self.assertEqual((s1.status, s2.status), (200, 200), (s1.headers, s2.headers))
            r = self.req("par-k", 0)
            self.assertLimited(r, "requests", subject="key par-k")
            # past lease_ms, the streams (which last >= 4 s) have renewed their leases
            time.sleep(max(0.0, t0 + LEASE_MS / 1000.0 + 0.6 - time.monotonic()))
            r = self.req("par-k", 1)
            if time.monotonic() - t0 < 20 * SLOW_DELAY_MS / 1000.0 - 0.3:
                self.assertLimited(r, "requests", subject="key par-k")
            s1.read_all(timeout=20)
            s2.read_all(timeout=20)
        finally:
            s1.close()
            s2.close()
        self.assertEqual(s1.content(), SLOW_TEXT)
        self.assertEqual(s2.content(), SLOW_TEXT)
        # both ended: a new one passes (allowing the settle a moment after the last byte)
        last = []
        ok = wait_for(lambda: last.append(self.req("par-k", 0, text="after")) or
                      last[-1].status == 200, 5, interval=0.1)
        self.assertTrue(ok, "still refused after the streams ended: %r" % (last[-1],))

    def test_sigkilled_worker_lease_expires(self):
        st = self.stacks[0]
        before = wait_for(lambda: len(st.workers()) == 2 and st.workers(), 5)
        self.assertTrue(before, st.workers())
        t0 = time.monotonic()
        s = self.sstream("kill-k", 0)
        try:
            self.assertEqual(s.status, 200, s.headers)
            for pid in st.workers():
                os.kill(pid, signal.SIGKILL)
        finally:
            s.close()
        # the master respawns them
        respawned = wait_for(lambda: (len(st.workers()) == 2
                                      and not set(before) & set(st.workers())), 5)
        self.assertTrue(respawned, "workers not replaced: %r" % st.workers())
        # the lease (max_parallel 1) is still held: refused (on Redis, asked of the other stack)
        r = self.req("kill-k", 1, timeout=10)
        if time.monotonic() - t0 < LEASE_MS / 1000.0 * 0.9:
            self.assertLimited(r, "requests", subject="key kill-k")
        else:
            self.assertIn(r.status, (200, 429), r)  # too slow to tell; the lease may be gone
        # ... until lease_ms after it was taken
        last = []
        ok = wait_for(lambda: last.append(self.req("kill-k", 0, timeout=10)) or
                      last[-1].status == 200, LEASE_MS / 1000.0 + 8, interval=0.1)
        self.assertTrue(ok, "the killed worker's lease was never freed: %r" % (last[-1],))
        self.assertGreaterEqual(time.monotonic() - t0, LEASE_MS / 1000.0 * 0.8,
                                "the lease was freed before lease_ms")

    # -- users, teams, deployments

    def test_users(self):
        def run(n, **kw):
            return [self.req("user-k", i, **kw).status for i in range(n)]

        bob = {"X-User-ID": "bob"}
        # bob has an entry of his own (rpm 4), which replaces "*" (rpm 3)
        self.assertEqual(run(4, headers=bob), [200] * 4)
        self.assertLimited(self.req("user-k", headers=bob), "requests", subject="user bob")
        # every other user has "*" apart
        self.assertEqual(run(3, headers={"X-User-ID": "carol"}), [200] * 3)
        self.assertLimited(self.req("user-k", headers={"X-User-ID": "carol"}), "requests",
                           subject="user carol")
        self.assertEqual(run(3, headers={"X-User-ID": "dave"}), [200] * 3)
        # the OpenAI `user` of the body
        self.assertEqual(run(3, user="erin"), [200] * 3)
        self.assertLimited(self.req("user-k", user="erin"), "requests", subject="user erin")
        # X-User-ID comes before the body's user
        r = self.req("user-k", user="erin", headers={"X-User-ID": "frank"})
        self.assertEqual(r.status, 200, r)
        # no header, no body user: the key's user
        self.assertEqual([self.req("user-default-k", i).status for i in range(3)], [200] * 3)
        self.assertLimited(self.req("user-default-k"), "requests", subject="user gina")
        r = self.req("user-default-k", headers={"X-User-ID": "henry"})
        self.assertEqual(r.status, 200, r)

    def test_team_shared_by_its_keys(self):
        # team eng: rpm 3 over team-a1 and team-a2
        for i, name in enumerate(("team-a1", "team-a2", "team-a1")):
            r = self.req(name, i)
            self.assertEqual(r.status, 200, "%s: %r" % (name, r))
        self.assertLimited(self.req("team-a2", 1), "requests", subject="team eng")
        self.assertLimited(self.req("team-a1", 0), "requests", subject="team eng")
        # another team is not affected
        self.assertEqual([self.req("team-b", i).status for i in range(5)], [200] * 5)

    def test_deployment_rpm(self):
        for i in range(2):
            r = self.req("dep-k", i, model="limited", max_tokens=10)
            self.assertEqual(r.status, 200, r)
        r = self.req("dep-k", 2, model="limited", max_tokens=10)
        self.assertLimited(r, "requests")
        # the key itself and the other deployments are not limited
        r = self.req("dep-k", 3, model="mock")
        self.assertEqual(r.status, 200, r)

    # -- headers

    def test_ratelimit_headers(self):
        text = "hdr"   # 1 prompt token; reserve 1 + reserve_max_tokens (no max_tokens)
        rem_req, rem_tok = [], []
        for i in range(10):
            r = self.req("hdr-k", i, text=text)
            self.assertEqual(r.status, 200, "request %d: %r" % (i, r))
            self.assertEqual(r.header("x-ratelimit-limit-requests"), "10", r)
            self.assertEqual(r.header("x-ratelimit-limit-tokens"), "10000", r)
            for h in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"):
                ms = go_duration_ms(r.header(h))
                self.assertIsNotNone(ms, "%s is not a Go duration: %r" % (h, r))
                self.assertTrue(0 < ms <= 60000, "%s: %r" % (h, r))
            rem_req.append(int(r.header("x-ratelimit-remaining-requests")))
            rem_tok.append(int(r.header("x-ratelimit-remaining-tokens")))
        self.assertEqual(rem_req, list(range(9, -1, -1)), "remaining counts this request")
        self.assertEqual(rem_tok[0], 10000 - (1 + RESERVE_MAX), rem_tok)
        self.assertTrue(all(a > b for a, b in zip(rem_tok, rem_tok[1:])), rem_tok)

        r = self.req("hdr-k", 10, text=text)
        err = self.assertLimited(r, "requests", subject="key hdr-k")
        self.assertIn("10", err["message"], "the message names the limit")
        self.assertRateRetry(r)
        self.assertEqual(r.header("x-ratelimit-limit-requests"), "10", r)
        self.assertEqual(r.header("x-ratelimit-remaining-requests"), "0", r)

    def test_ratelimit_headers_most_restrictive(self):
        # key rpm 10, its team "small" rpm 5: the headers show the team
        r = self.req("hdr-team-k")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("x-ratelimit-limit-requests"), "5", r)
        self.assertEqual(r.header("x-ratelimit-remaining-requests"), "4", r)

    # -- sllmp usage

    def test_usage_cli(self):
        for i in range(7):
            r = self.req("usage-k", i)
            self.assertEqual(r.status, 200, r)
        p = subprocess.run([CLI_BIN, "usage", self.stack.config_path], env=cli_env(self.stack),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        lines = [l for l in p.stdout.splitlines() if re.search(r"\busage-k\b", l)]
        self.assertTrue(lines, "usage-k not in the output:\n" + p.stdout)
        self.assertTrue(any(re.search(r"\b7\b", l) for l in lines),
                        "no line shows usage-k's 7 requests:\n" + p.stdout)
        self.assertNotIn(secret("usage-k"), p.stdout + p.stderr)


class RedisLimitsTest(LimitTests, StackCase):
    """Two stacks (each its own lighttpd, pool and SLLMP_RUNDIR) sharing one redis-server."""

    backend = "redis"
    nstacks = 2

    def test_counts_are_in_redis(self):
        r = self.req("probe-k", 0, text="in redis")
        self.assertEqual(r.status, 200, r)
        self.assertGreater(redis_cmd(self.redis.port, "DBSIZE"), 0)
        for st in self.stacks:
            self.assertFalse(os.path.exists(os.path.join(st.rundir, "limits.db")),
                             "backend auto with a redis url must not use the local file")


class RouterSettingsRedisTest(LimitAsserts, StackCase):
    """LiteLLM's router_settings.redis_host / redis_port / redis_password (no sllmp.redis.url):
    the pool's Redis, as LiteLLM's Router instances share theirs; the password is sent as it is
    written, characters a URL would have to escape included."""

    start_mock = False
    PASSWORD = "p@ss:w/rd#1"

    @classmethod
    def setUpClass(cls):
        require_binaries()
        cls.redis = Redis(password=cls.PASSWORD)
        cls.addClassCleanup(cls.redis.cleanup)
        cls.redis.start()
        cfg = base_config([mock_model("mock", "echo", 0)])
        cfg["keys"] = key_entries([("rs-redis-k", {"rpm": 2})])
        cfg["router_settings"] = {"redis_host": "127.0.0.1", "redis_port": str(cls.redis.port),
                                  "redis_password": cls.PASSWORD}
        cls.stack = Stack(cfg)
        cls.addClassCleanup(cls.stack.cleanup)
        cls.stack.start()

    def test_limits_count_in_that_redis(self):
        for i in range(3):
            r = self.stack.chat({"model": "mock", "messages": user_msg("hi %d" % i)},
                                key=secret("rs-redis-k"))
            if i < 2:
                self.assertEqual(r.status, 200, r)
        self.assertLimited(r, "requests", subject="key rs-redis-k")
        self.assertGreater(redis_cmd(self.redis.port, "DBSIZE", password=self.PASSWORD), 0)
        self.assertFalse(os.path.exists(os.path.join(self.stack.rundir, "limits.db")))
        ready = self.stack.request("GET", "/ready")
        self.assertEqual(ready.status, 200, ready)
        for path in [self.stack.out_path] + glob.glob(os.path.join(self.stack.rundir, "log", "*")):
            with open(path, encoding="utf-8", errors="replace") as f:
                self.assertNotIn(self.PASSWORD, f.read(), path)


class LocalLimitsTest(LimitTests, StackCase):
    """One stack, no redis url: the local file shared by the pool's worker processes."""

    backend = "local"

    def test_local_file_in_rundir(self):
        r = self.req("probe-k", 0, text="local")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(os.path.exists(os.path.join(self.stack.rundir, "limits.db")),
                        "the default local_file is $SLLMP_RUNDIR/limits.db")


class GlobalBudgetTest(LimitAsserts, StackCase):
    """LiteLLM's litellm_settings.max_budget / budget_duration: one budget for every request,
    whichever key (or the master key) sends it; on the local store."""

    master_key = "sk-global-master-" + secrets.token_hex(8)
    GLOBAL_KEYS = [("glob-a", {}), ("glob-b", {"budget_usd": 5})]

    @classmethod
    def models(cls, mock):
        return limit_models(mock)

    @classmethod
    def make_config(cls):
        cfg = super().make_config()
        cfg["keys"] = key_entries(cls.GLOBAL_KEYS)
        cfg["litellm_settings"] = {"max_budget": BUDGET_TOTAL + PRICED_COST,  # 3 fit, not 4
                                   "budget_duration": "1d"}
        return cfg

    def priced(self, key):
        return self.stack.chat({"model": "priced", "messages": user_msg(PRICED_TEXT),
                                "max_tokens": 10}, key=key)

    def test_every_key_spends_the_one_budget(self):
        for key in (secret("glob-a"), secret("glob-b"), self.master_key):
            r = self.priced(key)
            self.assertEqual(r.status, 200, r)
        for key in (secret("glob-a"), secret("glob-b"), self.master_key):
            r = self.priced(key)
            err = self.assertLimited(r, "budget_exceeded", code="budget_exceeded",
                                     subject="the gateway (every request)")
            self.assertIn("$0.07 per day", err["message"])
            self.assertEqual(r.header("x-should-retry"), "false", r)
            self.assertRegex(r.header("retry-after") or "", r"^[0-9]+$", r)
        # an unpriced model costs nothing: the budget does not stop it
        r = self.stack.chat({"model": "mock", "messages": user_msg("free")},
                            key=secret("glob-a"))
        self.assertEqual(r.status, 200, r)

        p = subprocess.run([CLI_BIN, "usage", "--json", self.stack.config_path],
                           env=cli_env(self.stack), capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        rows = {row["subject"]: row for row in json.loads(p.stdout)}
        g = rows["global:all"]
        self.assertEqual((g["window"], g["requests"]), ("1d", 4), g)
        self.assertAlmostEqual(g["spent_usd"], 3 * PRICED_COST, places=9)
        self.assertAlmostEqual(g["budget_usd"], BUDGET_TOTAL + PRICED_COST, places=9)
        self.assertNotIn(self.master_key, p.stdout + p.stderr)


class AbsurdPriceTest(LimitAsserts, StackCase):
    """A deployment priced absurdly (the most the config takes, $1,000 a token, times a huge
    max_tokens): its worst case overflows nano-USD. It must be refused by a budget as a request
    that never fits, never wrap to a negative cost that passes it. On the local store."""

    @classmethod
    def make_config(cls):
        absurd = upstream_model("absurd", cls.mock, "usage-10-10-0-0")
        absurd["model_info"] = {"input_cost_per_token": 1000, "output_cost_per_token": 1000}
        cfg = base_config([absurd], limits={"lease_ms": LEASE_MS,
                                            "reserve_max_tokens": RESERVE_MAX})
        cfg["keys"] = key_entries([("absurd-k", {"budget_usd": 1000, "budget_period": "total"})])
        return cfg

    @classmethod
    def setUpClass(cls):
        require_binaries()
        cls.mock = Mock().start()
        cls.addClassCleanup(cls.mock.stop)
        cls.stack = Stack(cls.make_config())
        cls.addClassCleanup(cls.stack.cleanup)
        cls.stack.start()

    def test_overflowing_worst_case_is_refused(self):
        for _ in range(2):
            r = self.stack.chat({"model": "absurd", "messages": user_msg(PRICED_TEXT),
                                 "max_tokens": 10 ** 8}, key=secret("absurd-k"))
            self.assertLimited(r, "budget_exceeded", code="budget_exceeded",
                               subject="key absurd-k")
            self.assertEqual(r.header("x-should-retry"), "false", r)
        row = self.usage_rows()["key:absurd-k"]
        self.assertEqual((row["spent_usd"], row["requests"]), (0, 0), row)


# ---------------------------------------------------------------- what a failed call costs

class UpstreamFailureChargeTest(LimitAsserts, StackCase):
    """What a request whose upstream call failed is charged, in the budgets, `sllmp usage`, the
    trace record and the access log, and to its deployment. On the local store: the amounts are
    the limits middleware's, the same whichever store records them."""

    REFUSED = [("rejected", "status-400", 400), ("throttled", "status-429", 429),
               ("failing", "status-500", 502)]
    # deployments with a tpm of their own (so `sllmp usage` shows their last minute's tokens):
    # "broken" streams 20 of its 40 words and hangs up; "flaky" answers its first (unstreamed)
    # call with a 200 and resets the connection halfway through the body, and is retried once
    WITH_TPM = [("broken", "words-40-0+close-after-20", {}),
                ("flaky", "first-1+reset-after-0", {"num_retries": 1})]

    @classmethod
    def make_config(cls):
        models = []
        for name, behaviour, _ in cls.REFUSED:
            models.append(upstream_model(name, cls.mock, behaviour))
        for name, behaviour, params in cls.WITH_TPM:
            models.append(upstream_model(name, cls.mock, behaviour, tpm=100000, **params))
        for m in models:
            m["model_info"] = dict(PRICE)
        cls.log_dir = tempfile.mkdtemp(prefix="sllmp-it-log-")
        cls.addClassCleanup(shutil.rmtree, cls.log_dir, True)
        cfg = base_config(models, limits={"lease_ms": LEASE_MS, "reserve_max_tokens": RESERVE_MAX},
                          access_log=os.path.join(cls.log_dir, "access.log"))
        cfg["keys"] = key_entries([("refused-k", {"rpm": len(cls.REFUSED),
                                                  "budget_usd": 1, "budget_period": "total"}),
                                   ("midstream-k", {"tpm": 100000}),
                                   ("retried-k", {"tpm": 100000})])
        return cfg

    def access_lines(self, rids):
        """The access log's lines of the requests rids (waits: written after the response)."""
        found = access_log_lines(os.path.join(self.log_dir, "access.log"), rids)
        self.assertEqual(len(found), len(rids), "not every request logged: %r" % found)
        return found

    def wait_record(self, rid):
        """The trace record of request rid (written after the response ended)."""
        self.assertTrue(wait_for(lambda: rid in records(self.stack.spool), 5),
                        "no trace record for %s" % rid)
        return records(self.stack.spool)[rid][0]

    def test_upstream_refusal_costs_nothing(self):
        # providers do not bill a 400 (context_length_exceeded), a 429 or a 5xx
        rids = []
        for name, _, status in self.REFUSED:
            rid = uuid.uuid4().hex
            r = self.stack.chat({"model": name, "messages": user_msg(PRICED_TEXT),
                                 "max_tokens": 10},
                                key=secret("refused-k"), headers={"X-Request-ID": rid})
            self.assertEqual(r.status, status, r)
            self.assertIsNone(r.header("x-sllmp-cost-usd"), r)
            rids.append(rid)
        # ... yet each was a request: the rpm counts it
        r = self.stack.chat({"model": "rejected", "messages": user_msg(PRICED_TEXT)},
                            key=secret("refused-k"))
        self.assertLimited(r, "requests", subject="key refused-k")

        recs = {rid: self.wait_record(rid) for rid in rids}
        logged = self.access_lines(set(rids))
        rows = self.usage_rows()
        k = rows["key:refused-k"]
        self.assertEqual((k["spent_usd"], k["reserved_usd"], k["requests"]), (0, 0, 3), k)
        self.assertEqual((k["tokens_in"], k["tokens_out"]), (0, 0), k)
        for name, _, _ in self.REFUSED:
            m = rows["model:" + name]
            self.assertEqual((m["spent_usd"], m["requests"]), (0, 1), m)
        zero = {"input": 0, "cache_read": 0, "cache_write": 0, "output": 0, "reasoning": 0}
        for rid in rids:
            self.assertEqual(recs[rid]["usage"], dict(zero, estimated=False), recs[rid])
            self.assertEqual(recs[rid]["cost"]["total"], 0, recs[rid])
            self.assertEqual(logged[rid]["tokens"], dict(zero, estimated=False), logged[rid])
            self.assertEqual(logged[rid]["cost_usd"], 0, logged[rid])

    def settled_rows(self, key, model):
        """`sllmp usage` of key and the deployment of model, once key's request settled."""
        rows = {}

        def settled():
            rows.update(self.usage_rows())
            return rows.get("key:" + key, {}).get("requests") == 1
        self.assertTrue(wait_for(settled, 5), "the request never settled: %r" % rows)
        deps = [row for s, row in rows.items() if s.startswith("dep:%s." % model)]
        self.assertEqual(len(deps), 1, rows)
        return rows["key:" + key], deps[0]

    def assertSameCharge(self, k, dep, attempts=1):
        """The deployment got what the key got: tokens (in its last minute too) and spend; and
        a request per attempt."""
        for field in ("tokens_last_minute", "tokens_in", "tokens_out", "spent_usd"):
            self.assertEqual(dep[field], k[field], "%s: key %r, deployment %r" % (field, k, dep))
        self.assertEqual(dep["requests"], attempts, dep)

    def test_stream_broken_midway_charges_the_deployment(self):
        s = self.stack.stream({"model": "broken", "stream": True,
                               "messages": user_msg(PRICED_TEXT)}, key=secret("midstream-k"))
        try:
            s.read_all(timeout=10)
        finally:
            s.close()
        self.assertEqual(s.status, 200, s.headers)
        self.assertTrue(s.content(), "nothing streamed before the upstream hung up")
        k, dep = self.settled_rows("midstream-k", "broken")
        # what streamed is estimated and charged to the key, and so to the deployment's tpm
        # and spend
        self.assertGreater(k["tokens_out"], 0, k)
        self.assertGreater(k["spent_usd"], 0, k)
        self.assertSameCharge(k, dep)

    def test_retry_after_an_answered_attempt_ends_its_reservation(self):
        # the first attempt came back (200) and failed with nothing streamed: the retry's
        # usage is what complete settles, and the first attempt's worst case must not stay
        # counted in the deployment's tpm
        r = self.stack.chat({"model": "flaky", "messages": user_msg(PRICED_TEXT)},
                            key=secret("retried-k"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("x-sllmp-attempts"), "2", r)
        self.assertTrue(r.json()["choices"][0]["message"]["content"], r)
        k, dep = self.settled_rows("retried-k", "flaky")
        self.assertSameCharge(k, dep, attempts=2)


# ---------------------------------------------------------------- Redis trouble

OUTAGE_KEYS = [
    ("load-k", {"rpm": 100000}),
    ("out-rpm-k", {"rpm": 3}),
    ("out-budget-k", {"budget_usd": 10}),
    ("hung-rpm-k", {"rpm": 1000}),
    ("hung-budget-k", {"budget_usd": 10}),
    ("resume-k", {"rpm": 3}),
    ("flush-k", {"rpm": 4, "budget_usd": 100}),   # budget closed: any store failure is a 503
    ("idle-k", {"budget_usd": 100}),
]


class RedisOutageTest(LimitAsserts, StackCase):
    """Redis hung, killed mid-load and restarted, its script cache flushed."""

    start_mock = False

    @classmethod
    def setUpClass(cls):
        require_binaries()
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.cleanup)
        cls.redis.start()
        super().setUpClass()

    @classmethod
    def make_config(cls):
        cfg = base_config([mock_model("mock", "echo", 0)],
                          redis={"url": cls.redis.url, "timeout_ms": 50,
                                 "connect_timeout_ms": 100,
                                 "on_error": {"rpm": "open", "tpm": "open", "parallel": "open",
                                              "budget": "closed"}},
                          limits={"backend": "redis", "lease_ms": LEASE_MS})
        cfg["keys"] = key_entries(OUTAGE_KEYS)
        return cfg

    def setUp(self):
        self.addCleanup(self.redis_up)

    def redis_up(self):
        """Leaves redis-server running (continued, or started again on its port)."""
        proc = self.redis.proc
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
        else:
            self.redis.start()

    def redis_kill(self):
        self.redis.proc.kill()
        self.redis.proc.wait()

    def timed(self, name, text="hi"):
        t0 = time.monotonic()
        r = self.stack.chat({"model": "mock", "messages": user_msg(text)}, key=secret(name),
                            timeout=30)
        return r, time.monotonic() - t0

    def req(self, name, text="hi"):
        return self.timed(name, text)[0]

    def assert_counting_resumes(self, name, limit):
        """Requests of a fresh rpm-`limit` key get a 429 again once the gateway reconnected."""
        seen = []

        def refused():
            r = self.req(name)
            seen.append(r.status)
            self.assertIn(r.status, (200, 429), r)
            return r.status == 429
        self.assertTrue(wait_for(refused, 15, interval=0.05),
                        "rpm %d of %s never enforced again: %r" % (limit, name, seen))
        self.assertGreaterEqual(len(seen), limit + 1, seen)

    def test_hung_redis_times_out(self):
        r = self.req("hung-rpm-k")
        self.assertEqual(r.status, 200, r)
        os.kill(self.redis.proc.pid, signal.SIGSTOP)
        try:
            for i in range(5):
                r, dt = self.timed("hung-rpm-k")
                self.assertEqual(r.status, 200, "rpm is open: %r" % (r,))
                self.assertLess(dt, 2.0, "waited %.2fs on a hung Redis" % dt)
                r, dt = self.timed("hung-budget-k")
                self.assertUnavailable(r)
                self.assertLess(dt, 2.0, "waited %.2fs on a hung Redis" % dt)
        finally:
            os.kill(self.redis.proc.pid, signal.SIGCONT)
        self.assert_counting_resumes("resume-k", 3)

    def test_redis_killed_mid_load_and_restarted(self):
        # out-rpm-k over its rpm before the outage
        self.assertEqual([self.req("out-rpm-k").status for _ in range(3)], [200] * 3)
        self.assertLimited(self.req("out-rpm-k"), "requests", subject="key out-rpm-k")
        self.assertEqual(self.req("out-budget-k").status, 200)

        results = []          # (status, seconds, after the kill)
        lock = threading.Lock()
        stop = threading.Event()
        killed = threading.Event()

        def load():
            while not stop.is_set():
                try:
                    r, dt = self.timed("load-k", "load")
                    st = r.status
                except Exception as e:
                    st, dt = repr(e), 0.0
                with lock:
                    results.append((st, dt, killed.is_set()))

        def count(after):
            with lock:
                return sum(1 for x in results if x[2] == after)

        threads = [threading.Thread(target=load, daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            self.assertTrue(wait_for(lambda: count(False) >= 20, 20), "no load before the kill")
            self.redis_kill()
            killed.set()
            self.assertTrue(wait_for(lambda: count(True) >= 40, 30), "no load after the kill")
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        bad = [x for x in results if x[0] != 200]
        self.assertFalse(bad, "rpm is open: every request should pass: %r" % bad[:10])
        slowest = max(x[1] for x in results)
        self.assertLess(slowest, 2.0, "a request waited %.2fs for the limit check" % slowest)

        # Redis down: rpm open lets the exhausted key through, budget closed refuses
        for _ in range(3):
            r = self.req("out-rpm-k")
            self.assertEqual(r.status, 200, "rpm is open: %r" % (r,))
        self.assertUnavailable(self.req("out-budget-k"))

        # Redis back (same port, empty): the gateway reconnects and counts again
        self.redis.start()
        seen = []
        ok = wait_for(lambda: seen.append(self.req("out-budget-k")) or seen[-1].status == 200,
                      15, interval=0.05)
        self.assertTrue(ok, "budget key still refused after Redis came back: %r" % (seen[-1],))
        self.assert_counting_resumes("out-rpm-k", 3)

    def test_script_flush(self):
        for i in range(2):
            r = self.req("flush-k")
            self.assertEqual(r.status, 200, r)
        self.assertEqual(redis_cmd(self.redis.port, "SCRIPT", "FLUSH"), "OK")
        for i in range(2):
            r = self.req("flush-k")
            self.assertEqual(r.status, 200, "after SCRIPT FLUSH (NOSCRIPT -> EVAL): %r" % (r,))
        # the counts went on: this is the 5th request of rpm 4
        self.assertLimited(self.req("flush-k"), "requests", subject="key flush-k")


    def test_connection_closed_by_redis_while_idle(self):
        # Redis drops clients idle for 1 s (its `timeout`): the pool's threads find their
        # connections closed on their next request and must take a new one, not answer 503.
        self.assertEqual(redis_cmd(self.redis.port, "CONFIG", "SET", "timeout", "1"), "OK")
        self.addCleanup(redis_cmd, self.redis.port, "CONFIG", "SET", "timeout", "0")
        for _ in range(8):   # several pool threads hold a connection
            self.assertEqual(self.req("idle-k").status, 200)
        time.sleep(2.5)
        for i in range(8):
            r = self.req("idle-k")
            self.assertEqual(r.status, 200, "request %d after the idle close: %r" % (i, r))


class RedisUnreachableTest(LimitAsserts, StackCase):
    """Redis never there: `on_error: closed` answers 503, `on_error: open` lets everything in,
    and neither waits."""

    start_mock = False
    KEYS = [("unr-rpm-k", {"rpm": 100}), ("unr-budget-k", {"budget_usd": 10})]

    @classmethod
    def setUpClass(cls):
        require_binaries()
        url = "redis://127.0.0.1:%d/0" % closed_port()
        cls.stacks = {}
        for policy in ("closed", "open"):
            cfg = base_config([mock_model("mock", "echo", 0)],
                              redis={"url": url, "on_error": policy})
            cfg["keys"] = key_entries(cls.KEYS)
            st = Stack(cfg)
            cls.addClassCleanup(st.cleanup)
            st.start()
            cls.stacks[policy] = st
        cls.stack = cls.stacks["closed"]

    def timed(self, policy, name):
        t0 = time.monotonic()
        r = self.stacks[policy].chat({"model": "mock", "messages": user_msg("hi")},
                                     key=secret(name), timeout=30)
        dt = time.monotonic() - t0
        self.assertLess(dt, 2.0, "waited %.2fs for an unreachable Redis" % dt)
        return r

    def test_closed_refuses(self):
        for name in ("unr-rpm-k", "unr-budget-k"):
            self.assertUnavailable(self.timed("closed", name))

    def test_open_lets_through(self):
        for name in ("unr-rpm-k", "unr-budget-k"):
            r = self.timed("open", name)
            self.assertEqual(r.status, 200, "%s: %r" % (name, r))


if __name__ == "__main__":
    unittest.main()
