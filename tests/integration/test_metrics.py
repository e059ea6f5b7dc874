"""GET /metrics, the access log and the timing headers, through lighttpd (and Apache's
mod_fcgid) and the pool.

- the exposition passes `promtool check metrics` and has every family, after requests of
  every outcome (success, stream, 400, 401, 404, a key's 429, an upstream 502)
- a real Prometheus scrapes the gateway through lighttpd, with a Bearer token, while load
  spreads over several workers that are recycled every few requests: its query for the request
  total equals the requests sent, and it saw no counter reset; every expression of the Grafana
  dashboard parses there, and names metrics the gateway exposes
- mod_fcgid's independent processes (no master) are summed the same way
- addresses outside sllmp.metrics.allow get 401 without the token
- one JSON access log line per request, with no key and no message
- X-Request-ID, X-Trace-ID, X-Duration-Ms, X-Sllmp-Overhead-Ms on answers, streams and errors
"""

import json
import os
import re
import sys
import time
import unittest
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from stack import (MASTER_KEY, Mock, Stack, base_config, mock_model, require_binaries,  # noqa
                   upstream_model, wait_for, write_config)
import check_dashboard  # noqa: E402
import prom  # noqa: E402

KEY = "sk-metrics-virtual-key-0042"
TOKEN = "scrape-token-for-the-tests-0123"
# prices with few significant digits, so the log's 9 decimals can be checked exactly
PRICE = {"input_cost_per_token": 0.0000025, "output_cost_per_token": 0.00001}
BODY = {"model": "m", "messages": [{"role": "user", "content": "secret words of the prompt"}]}


def sample(text, series):
    """The value of the sample line `series value`, None when there is none."""
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def families(text):
    return set(re.findall(r"^# TYPE (\S+) ", text, re.M))


class ExpositionTest(unittest.TestCase):
    """One stack: requests of every outcome, then the exposition, the log and the headers."""

    @classmethod
    def setUpClass(cls):
        require_binaries()
        cls.mock = Mock().start()
        priced = dict(mock_model("m", delay_ms=0), model_info=PRICE)
        cfg = base_config([priced,
                           upstream_model("slow", cls.mock, "sleep-300"),
                           upstream_model("broken", cls.mock, "status-500")],
                          master_key=MASTER_KEY)
        cfg["keys"] = [{"name": "team-a", "key": KEY, "rpm": 2}]
        cls.stack = Stack(cfg)
        cls.log_path = os.path.join(cls.stack.dir, "access.log")
        cfg["sllmp"]["access_log"] = cls.log_path
        write_config(cls.stack.config_path, cfg)
        cls.stack.start()
        cls.sent = []   # (status) of every model request sent

    @classmethod
    def tearDownClass(cls):
        cls.stack.stop()
        cls.stack.cleanup()
        cls.mock.stop()

    def chat(self, body, key=MASTER_KEY, **kw):
        r = self.stack.chat(body, key=key, **kw)
        self.sent.append(r.status)
        return r

    def scrape(self):
        st, headers, body = self.stack.request("GET", "/metrics")
        self.assertEqual(st, 200, body)
        return body.decode()

    def test_1_every_outcome_then_promtool(self):
        self.assertEqual(self.chat(BODY).status, 200)
        s = self.stack.stream(dict(BODY, stream=True), key=MASTER_KEY)
        s.read_all()
        self.sent.append(s.status)
        self.assertEqual(self.chat({"model": "m"}).status, 400)
        self.assertEqual(self.chat(BODY, key="sk-wrong").status, 401)
        self.assertEqual(self.chat(dict(BODY, model="nope")).status, 404)
        self.assertEqual(self.chat(dict(BODY, model="broken")).status, 502)
        statuses = [self.chat(BODY, key=KEY).status for _ in range(3)]
        self.assertEqual(statuses, [200, 200, 429])
        text = self.scrape()
        ok, out = prom.promtool_check(text)
        self.assertTrue(ok, out + "\n" + text)
        self.assertFalse(set(check_dashboard.FAMILIES) - families(text))
        total = sum(float(line.split()[-1]) for line in text.splitlines()
                    if line.startswith("sllmp_requests_total{"))
        self.assertEqual(total, len(self.sent))
        self.assertEqual(sample(text, 'sllmp_requests_total{model="m",provider="sllmp",'
                                      'status="200"}'), 4)
        self.assertEqual(sample(text, 'sllmp_requests_total{model="broken",provider="openai",'
                                      'status="502"}'), 1)
        self.assertEqual(sample(text, 'sllmp_errors_total{type="auth"}'), 1)
        self.assertEqual(sample(text, 'sllmp_errors_total{type="provider"}'), 1)
        self.assertEqual(sample(text, 'sllmp_limit_rejections_total{kind="rpm"}'), 1)
        self.assertEqual(sample(text, 'sllmp_key_requests_total{key="team-a",status="200"}'), 2)
        self.assertGreater(sample(text, 'sllmp_key_tokens_total{key="team-a",type="input"}'), 0)
        self.assertEqual(sample(text, "sllmp_active_requests"), 0)
        # the streamed request had its first token
        self.assertGreaterEqual(
            sample(text, 'sllmp_time_to_first_token_seconds_count{model="m"}'), 2)
        # the trace records are waiting in the spool (nobody uploads here); each is written
        # after its response ended, so the last may come a moment after
        n = len(self.sent)
        self.assertEqual(wait_for(lambda: sample(self.scrape(), "sllmp_spool_records") == n, 5)
                         and n, n)
        self.assertEqual(sample(text, "sllmp_spool_dropped_total"), 0)

    def test_2_access_log(self):
        answer = self.chat(BODY, headers={"X-User-ID": "u-42"})
        self.assertEqual(answer.status, 200)

        def chats_logged():
            with open(self.log_path) as f:
                lines = f.read().splitlines()
            recs = [json.loads(line) for line in lines]
            return lines, recs, [r for r in recs if r.get("path") == "/v1/chat/completions"]

        # a line is written once its response has ended: the last may come a moment later
        wait_for(lambda: len(chats_logged()[2]) >= len(self.sent), 5)
        lines, recs, chats = chats_logged()
        self.assertEqual(len(chats), len(self.sent))
        text = "\n".join(lines)
        self.assertNotIn(KEY, text)
        self.assertNotIn(MASTER_KEY, text)
        self.assertNotIn("sk-upstream", text)
        self.assertNotIn("secret words", text)
        # each worker writes its line once the response ended: the file's order is the order
        # in which they did, not the order of the requests
        mine = [r for r in chats if r.get("user") == "u-42"]
        self.assertEqual(len(mine), 1, chats)
        last = mine[0]
        for field in ("time", "request_id", "trace_id", "status", "key", "user", "model",
                      "provider", "duration_ms", "overhead_ms", "tokens", "cost_usd",
                      "client_gone"):
            self.assertIn(field, last)
        self.assertEqual(last["key"], "master")
        self.assertEqual(last["user"], "u-42")
        # the cost: the answer's usage at the model's price, as the response header says
        usage = answer.json()["usage"]
        tok = last["tokens"]
        self.assertEqual((tok["input"], tok["output"]),
                         (usage["prompt_tokens"], usage["completion_tokens"]))
        want = (tok["input"] * 25 + tok["output"] * 100) / 1e7   # exact in 9 decimals
        self.assertGreater(want, 0)
        self.assertEqual("%.9f" % last["cost_usd"], "%.9f" % want)
        self.assertAlmostEqual(float(answer.header("x-sllmp-cost-usd")), want, places=12)
        raw = [line for line in lines if '"u-42"' in line][0]
        self.assertIn('"cost_usd":%.9f' % want, raw)
        self.assertEqual(sorted(r["status"] for r in chats if r.get("key") == "team-a"),
                         [200, 200, 429])
        streamed = [r for r in chats if r.get("stream")]
        self.assertTrue(streamed and "ttft_ms" in streamed[0], chats)
        self.assertTrue(any(r["status"] == 502 and r.get("error") for r in chats), chats)
        # the scrapes are logged too, outside the pipeline
        self.assertTrue(any(r.get("path") == "/metrics" for r in recs))

    def test_2b_proxied_loopback_needs_the_token(self):
        # a proxy on the same host makes every client loopback: its requests need the token
        code, _, body = self.stack.request("GET", "/metrics",
                                           headers={"X-Forwarded-For": "198.51.100.7"})
        self.assertEqual(code, 403)
        self.assertNotIn(b"sllmp_requests_total", body)

    def test_3_headers(self):
        r = self.chat(dict(BODY, model="slow"))
        self.assertEqual(r.status, 200, r.body)
        for h in ("X-Request-ID", "X-Trace-ID", "X-Duration-Ms", "X-Sllmp-Overhead-Ms"):
            self.assertIsNotNone(r.header(h), h)
        self.assertRegex(r.header("X-Trace-ID"), "^[0-9a-f]{32}$")
        duration = float(r.header("X-Duration-Ms"))
        overhead = float(r.header("X-Sllmp-Overhead-Ms"))
        # the upstream took its 300 ms: that is not the gateway's own time
        self.assertGreaterEqual(duration, 300)
        self.assertLessEqual(overhead, duration - 250)
        s = self.stack.stream(dict(BODY, stream=True), key=MASTER_KEY)
        s.read_all()
        self.sent.append(s.status)
        for h in ("X-Request-ID", "X-Trace-ID", "X-Duration-Ms", "X-Sllmp-Overhead-Ms"):
            self.assertIsNotNone(s.header(h), h)
        err = self.chat({"model": "m"})
        self.assertEqual(err.status, 400)
        for h in ("X-Request-ID", "X-Duration-Ms", "X-Sllmp-Overhead-Ms"):
            self.assertIsNotNone(err.header(h), h)


class AccessRuleTest(unittest.TestCase):
    """Loopback is outside the allowed range here: only the token opens /metrics."""

    def test_token_and_addresses(self):
        require_binaries()
        cfg = base_config([mock_model("m", delay_ms=0)], master_key=MASTER_KEY,
                          metrics={"allow": ["10.0.0.0/8"], "token": TOKEN})
        st = Stack(cfg).start()
        try:
            code, headers, body = st.request("GET", "/metrics")
            self.assertEqual(code, 401)
            self.assertIn("sllmp.metrics.token", json.loads(body)["error"]["message"])
            self.assertNotIn(b"sllmp_requests_total", body)
            code, _, body = st.request("GET", "/metrics",
                                       headers={"Authorization": "Bearer " + MASTER_KEY})
            self.assertEqual(code, 401)
            code, _, body = st.request("GET", "/metrics",
                                       headers={"Authorization": "Bearer " + TOKEN})
            self.assertEqual(code, 200)
            self.assertIn(b"# TYPE sllmp_requests_total counter", body)
        finally:
            st.stop()
            st.cleanup()


class PrometheusScrapeTest(unittest.TestCase):
    """A real Prometheus scraping through lighttpd while 3 workers serve and are recycled."""

    N = 240

    def test_prometheus_counts_every_request(self):
        require_binaries()
        prom.require_prometheus()
        cfg = base_config([mock_model("m", delay_ms=5)], master_key=MASTER_KEY,
                          workers=3, threads=4, max_requests=25,
                          metrics={"allow": [], "token": TOKEN})
        st = Stack(cfg).start()
        p = prom.Prometheus(["127.0.0.1:%d" % st.port], bearer_token=TOKEN)
        try:
            p.start()
            before = set(st.workers())
            # Prometheus sees the gateway at zero first, so that a reset would show
            self.assertTrue(p.wait_scrape_after(time.time(), timeout=30), p.targets())
            seen = set()

            def one(i):
                return st.chat(dict(BODY, stream=(i % 3 == 0)), key=MASTER_KEY).status

            with ThreadPoolExecutor(12) as ex:
                futures = [ex.submit(one, i) for i in range(self.N)]
                while not all(f.done() for f in futures):
                    seen.update(st.workers())
                    time.sleep(0.05)
                statuses = [f.result() for f in futures]
            self.assertEqual(statuses.count(200), self.N, statuses)
            t_end = time.time()
            self.assertTrue(p.wait_scrape_after(t_end, timeout=30), p.targets())
            total = p.value("sum(sllmp_requests_total)")
            self.assertEqual(total, self.N)
            # the workers were recycled under the load, and no counter went back
            self.assertGreater(len(seen | set(st.workers())), len(before))
            self.assertEqual(p.value("sum(resets(sllmp_requests_total[10m]))"), 0)
            self.assertEqual(p.value("sum(sllmp_requests_total) - sum(sllmp_key_requests_total)"),
                             0)
            # several processes served it: each one that recycled served max_requests
            with open(st.out_path, errors="replace") as f:
                recycled = set(re.findall(r"sllmp\[(\d+)\] INFO served 25 requests", f.read()))
            self.assertGreaterEqual(len(recycled), 3, recycled)
            self.assertGreaterEqual(p.value("max_over_time(sllmp_processes[10m])"), 1)
            # the dashboard's expressions parse, and name only what the gateway exposes
            code, _, text = st.request("GET", "/metrics",
                                       headers={"Authorization": "Bearer " + TOKEN})
            exposed = families(text.decode())
            for expr in check_dashboard.dashboard_exprs():
                p.query(expr)
                unknown = check_dashboard.metric_names(expr) - exposed
                self.assertFalse(unknown, expr)
            self.assertFalse(check_dashboard.missing_families())
        finally:
            p.stop()
            st.stop()
            st.cleanup()


class ModFcgidTest(unittest.TestCase):
    """mod_fcgid starts processes of its own, with no master: they are summed all the same."""

    def test_processes_summed(self):
        require_binaries()
        cfg = base_config([mock_model("m", delay_ms=20)], master_key=MASTER_KEY)
        st = Stack(cfg, server="apache-fcgid").start(timeout=20)
        try:
            with ThreadPoolExecutor(6) as ex:
                statuses = list(ex.map(lambda i: st.chat(BODY, key=MASTER_KEY).status,
                                       range(30)))
            self.assertEqual(statuses.count(200), 30)
            code, _, text = st.request("GET", "/metrics")
            self.assertEqual(code, 200, text)
            text = text.decode()
            self.assertEqual(sample(text, 'sllmp_requests_total{model="m",provider="sllmp",'
                                          'status="200"}'), 30)
            ok, out = prom.promtool_check(text)
            self.assertTrue(ok, out)
        finally:
            st.stop()
            st.cleanup()


if __name__ == "__main__":
    unittest.main()
