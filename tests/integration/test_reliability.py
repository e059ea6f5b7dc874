"""Staying up when providers don't (issue 7), through lighttpd and the spawn-fcgi pool, against
the mock upstream's fault injection (tests/mock/mockserve.py: every-N, first-N, retry-S,
reset-after-N, sleep-MS): retries before the first byte only, load balancing over state the
pool shares (and every host shares, with Redis), cooldowns that end by themselves, LiteLLM's
three fallback lists, and which deployment answered in the headers and the trace."""

import concurrent.futures
import json
import time
import uuid

from stack import (MASTER_KEY, Redis, Stack, StackCase, base_config, closed_port, http_request,
                   parse_sse, user_msg, wait_for)
from test_metrics import sample
from test_trace import records
from test_providers import WithAnthropicMock

FAST = {"backoff_ms": 20, "backoff_max_ms": 100}   # sllmp.router: quick backoffs for tests


def dep(name, mock, behaviour, **params):
    """A model_list entry on the mock upstream; model_info.id = the behaviour string's last
    token when `mid` is given."""
    mid = params.pop("mid", None)
    p = {"model": "openai/" + behaviour, "api_base": mock.base,
         "api_key": "os.environ/MOCK_UPSTREAM_KEY"}
    p.update(params)
    e = {"model_name": name, "litellm_params": p}
    if mid:
        e["model_info"] = {"id": mid}
    return e


class ReliabilityCase(StackCase):
    master_key = MASTER_KEY
    sllmp = {"router": FAST, "timeouts": {"first_byte_ms": 1000}}

    def setUp(self):
        self.mock.reset()

    def ask(self, model, text="hello there", **kw):
        rid = uuid.uuid4().hex
        r = self.chat({"model": model, "messages": user_msg(text)},
                      headers={"X-Request-ID": rid}, **kw)
        r.rid = rid
        return r

    def ask_stream(self, model, text="hello there"):
        c = self.stream({"model": model, "messages": user_msg(text), "stream": True})
        c.read_all()
        return c

    def content(self, r):
        return r.json()["choices"][0]["message"]["content"]

    def record(self, rid):
        self.assertTrue(wait_for(lambda: rid in records(self.stack.spool), 10),
                        "no trace record for %s" % rid)
        recs = records(self.stack.spool)[rid]
        self.assertEqual(len(recs), 1)
        return recs[0]


class RetryTest(ReliabilityCase):
    router = {"num_retries": 2}
    sllmp = {"router": dict(FAST, backoff_ms=400, backoff_max_ms=800, max_retry_after_ms=5000),
             "timeouts": {"first_byte_ms": 1000}, "heartbeat_ms": 100}

    @classmethod
    def models(cls, mock):
        return [dep("flaky", mock, "echo+status-500+every-2", mid="flaky-1"),
                dep("always-500", mock, "status-500"),
                dep("once-429", mock, "echo+status-429+retry-1+first-1"),
                dep("long-429", mock, "echo+status-429+first-1"),
                dep("once-503", mock, "echo+status-503+first-1"),
                dep("wait-503", mock, "echo+status-503+retry-2+first-1"),
                dep("asks-503", mock, "status-503+retry-1", num_retries=0),
                dep("stall-once", mock, "echo+sleep-3000+first-1"),
                dep("reset-once", mock, "words-8-30+reset-after-3+first-1"),
                dep("bad-request", mock, "status-422"),
                dep("no-retries", mock, "status-500", num_retries=0)]

    def test_500_on_every_other_call_is_retried(self):
        for _ in range(3):
            r = self.ask("flaky", "retry me")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(self.content(r), "retry me")
            self.assertEqual(r.header("x-sllmp-attempts"), "2")
            self.assertEqual(r.header("x-sllmp-model-id"), "flaky-1")
        self.assertEqual(self.mock.calls("echo+status-500+every-2"), 6)

    def test_streamed_retry_before_the_first_byte(self):
        c = self.ask_stream("flaky", "a streamed retry")
        self.assertEqual(c.status, 200)
        datas = [d for k, d in parse_sse(c.text()) if k == "data"]
        self.assertEqual(datas[-1], "[DONE]")
        text = "".join(json.loads(d)["choices"][0]["delta"].get("content") or ""
                       for d in datas[:-1] if json.loads(d).get("choices"))
        self.assertEqual(text, "a streamed retry")
        self.assertNotIn("error", c.text())
        self.assertEqual(c.header("x-sllmp-attempts"), "2")
        self.assertEqual(self.mock.calls("echo+status-500+every-2"), 2)

    def test_retries_run_out(self):
        r = self.ask("always-500")
        self.assertOpenAIError(r, 502, "provider_error")
        self.assertEqual(r.header("x-sllmp-attempts"), "3")   # 1 + num_retries
        self.assertIsNone(r.header("x-sllmp-model-id"))
        self.assertEqual(self.mock.calls("status-500"), 3)
        rec = self.record(r.rid)
        self.assertEqual([a["status"] for a in rec["attempts"]], [500, 500, 500])
        self.assertTrue(all(a["level"] == "ERROR" for a in rec["attempts"]))

    def test_streamed_failure_keeps_its_status(self):
        # backoffs (200-800 ms) longer than heartbeat_ms (100): no heartbeat commits a 200
        # while the retries wait, so the failure goes out as a 502, not as an SSE event
        c = self.ask_stream("always-500")
        self.assertEqual(c.status, 502, c.text())
        self.assertEqual(c.header("x-sllmp-attempts"), "3")
        self.assertEqual(self.mock.calls("status-500"), 3)

    def test_429_retry_after_is_honoured(self):
        t0 = time.monotonic()
        r = self.ask("once-429", "after a wait")
        waited = time.monotonic() - t0
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.content(r), "after a wait")
        self.assertGreaterEqual(waited, 1.0)   # Retry-After: 1, never sooner
        self.assertEqual(self.mock.calls("echo+status-429+retry-1+first-1"), 2)
        # the failed attempt's x-ratelimit-* headers are not the answer's
        self.assertNotEqual(r.header("x-ratelimit-remaining-requests"), "0")

    def test_429_asking_too_long_is_not_waited_for(self):
        # Retry-After: 7 > sllmp.router.max_retry_after_ms (5000 here): the client gets it
        r = self.ask("long-429")
        self.assertOpenAIError(r, 429, "rate_limit_exceeded")
        self.assertEqual(r.header("retry-after"), "7")
        self.assertEqual(self.mock.calls("echo+status-429+first-1"), 1)

    def test_503_is_retried(self):
        r = self.ask("once-503", "overloaded once")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.mock.calls("echo+status-503+first-1"), 2)

    def test_503_retry_after_is_honoured(self):
        # Retry-After: 2 on a 503 binds as on a 429: longer than any backoff here (<= 800 ms)
        t0 = time.monotonic()
        r = self.ask("wait-503", "after an overload")
        self.assertEqual(r.status, 200, r)
        self.assertGreaterEqual(time.monotonic() - t0, 2.0)
        self.assertEqual(self.mock.calls("echo+status-503+retry-2+first-1"), 2)

    def test_503_retry_after_reaches_the_client(self):
        r = self.ask("asks-503")
        self.assertOpenAIError(r, 502, "provider_error")
        self.assertEqual(r.header("x-should-retry"), "true")
        self.assertEqual(r.header("retry-after"), "1")
        self.assertEqual(r.header("retry-after-ms"), "1000")

    def test_stall_before_the_first_byte(self):
        # first_byte_ms 1000: the stalled attempt times out, the retry answers
        for stream in (False, True):
            self.mock.reset()
            if stream:
                c = self.ask_stream("stall-once", "stalled once")
                self.assertEqual(c.status, 200)
                self.assertIn("stalled", c.text())
                self.assertTrue(c.text().rstrip().endswith("data: [DONE]"))
                self.assertNotIn('"error"', c.text())
            else:
                r = self.ask("stall-once", "stalled once")
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("x-sllmp-attempts"), "2")
            self.assertEqual(self.mock.calls("echo+sleep-3000+first-1"), 2)

    def test_reset_mid_stream_is_not_retried(self):
        c = self.ask_stream("reset-once")
        events = parse_sse(c.text())
        datas = [d for k, d in events if k == "data"]
        chunks = [json.loads(d) for d in datas if d != "[DONE]"]
        words = "".join(ch["choices"][0]["delta"].get("content") or ""
                        for ch in chunks if ch.get("choices"))
        self.assertEqual(words, "w1 w2 w3")            # the 3 chunks, nothing after
        self.assertIn("error", chunks[-1])             # then the error event
        self.assertEqual(self.mock.calls("words-8-30+reset-after-3+first-1"), 1)

    def test_reset_before_the_first_byte_is_retried(self):
        # unstreamed: the client had nothing yet when the connection was reset
        r = self.ask("reset-once")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.content(r), "w1 w2 w3 w4 w5 w6 w7 w8")
        self.assertEqual(self.mock.calls("words-8-30+reset-after-3+first-1"), 2)

    def test_bad_request_is_not_retried(self):
        r = self.ask("bad-request")
        self.assertEqual(r.status, 422, r)
        self.assertEqual(r.header("x-sllmp-attempts"), "1")
        self.assertEqual(self.mock.calls("status-422"), 1)

    def test_deployment_num_retries(self):
        r = self.ask("no-retries")
        self.assertEqual(r.status, 502)
        self.assertEqual(self.mock.calls("status-500"), 1)


class RetryPolicyTest(ReliabilityCase):
    """LiteLLM's retry_policy: retries per error class in place of num_retries (a class not
    retried otherwise, a 400, is then), and model_group_retry_policy for one group."""
    router = {"num_retries": 1,
              "retry_policy": {"InternalServerErrorRetries": 2, "BadRequestErrorRetries": 1},
              "model_group_retry_policy": {"strict": {"InternalServerErrorRetries": 0}}}

    @classmethod
    def models(cls, mock):
        return [dep("twice-500", mock, "echo+status-500+first-2"),
                dep("bad", mock, "status-400"),
                dep("strict", mock, "status-500+strict"),
                dep("slow-503", mock, "status-503")]

    def test_class_retries_replace_num_retries(self):
        r = self.ask("twice-500", "third time")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("x-sllmp-attempts"), "3")   # num_retries 1 would stop at 2

    def test_bad_request_retried_when_the_policy_says(self):
        r = self.ask("bad")
        self.assertEqual(r.status, 400, r)
        self.assertEqual(self.mock.calls("status-400"), 2)

    def test_group_policy_wins(self):
        r = self.ask("strict")
        self.assertEqual(r.status, 502, r)
        self.assertEqual(self.mock.calls("status-500+strict"), 1)

    def test_other_classes_keep_num_retries(self):
        # a 503 is none of the policy's classes (LiteLLM's ServiceUnavailableError)
        self.assertEqual(self.ask("slow-503").status, 502)
        self.assertEqual(self.mock.calls("status-503"), 2)


class BalanceTest(ReliabilityCase):
    router = {"num_retries": 0, "routing_strategy": "simple-shuffle"}

    @classmethod
    def models(cls, mock):
        return [dep("weighted", mock, "echo+light", weight=1),
                dep("weighted", mock, "echo+heavy", weight=9),
                dep("by-rpm", mock, "echo+small", rpm=100),
                dep("by-rpm", mock, "echo+big", rpm=900),
                dep("capped", mock, "echo+capped", rpm=1, weight=1000),
                dep("capped", mock, "echo+spare"),
                dep("narrow", mock, "echo+sleep-600+narrow", max_parallel_requests=1,
                    weight=1000),
                dep("narrow", mock, "echo+sleep-600+wide"),
                dep("single", mock, "echo+sleep-600+single", max_parallel_requests=1)]

    def test_weights(self):
        for _ in range(100):
            self.assertEqual(self.ask("weighted").status, 200)
        light, heavy = self.mock.calls("echo+light"), self.mock.calls("echo+heavy")
        self.assertEqual(light + heavy, 100)
        self.assertGreaterEqual(heavy, 70)   # expected 90; P(< 70) is about 1e-8
        self.assertGreaterEqual(light, 1)    # expected 10; P(0) is about 3e-5

    def test_rpm_as_weight(self):
        for _ in range(60):
            self.assertEqual(self.ask("by-rpm").status, 200)
        self.assertGreaterEqual(self.mock.calls("echo+big"), 40)
        self.assertGreaterEqual(self.mock.calls("echo+small"), 1)

    def rejections(self, kind):
        _, _, body = self.stack.request("GET", "/metrics")
        return sample(body.decode(), 'sllmp_limit_rejections_total{kind="%s"}' % kind) or 0

    def test_deployment_limit_moves_requests_on(self):
        # "capped" takes (nearly) every pick by weight, but its rpm of 1 lets one through a
        # minute: the rest go to "spare", with no 429 (and no rejection in the metrics)
        before = self.rejections("rpm")
        for _ in range(5):
            r = self.ask("capped")
            self.assertEqual(r.status, 200, r)
        self.assertEqual(self.mock.calls("echo+capped"), 1)
        self.assertEqual(self.mock.calls("echo+spare"), 4)
        self.assertEqual(self.rejections("rpm"), before)

    def test_deployment_max_parallel_requests_moves_requests_on(self):
        # LiteLLM's max_parallel_requests: "narrow" (nearly every pick by weight) takes one
        # attempt at a time; two more at once go to "wide", with no 429; once it is free again
        # it takes the next one
        with concurrent.futures.ThreadPoolExecutor(3) as ex:
            rs = list(ex.map(lambda _: self.ask("narrow"), range(3)))
        self.assertEqual([r.status for r in rs], [200] * 3, rs)
        self.assertEqual(self.mock.calls("echo+sleep-600+narrow"), 1)
        self.assertEqual(self.mock.calls("echo+sleep-600+wide"), 2)
        self.assertEqual(self.ask("narrow").status, 200)
        self.assertEqual(self.mock.calls("echo+sleep-600+narrow"), 2)

    def test_deployment_max_parallel_requests_with_no_other_is_429(self):
        before = self.rejections("parallel")
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            rs = list(ex.map(lambda _: self.ask("single"), range(2)))
        self.assertEqual(sorted(r.status for r in rs), [200, 429], rs)
        self.assertEqual(self.rejections("parallel"), before + 1)   # this one the limit answered
        self.assertOpenAIError(max(rs, key=lambda r: r.status), 429, "rate_limit_exceeded")
        self.assertEqual(self.mock.calls("echo+sleep-600+single"), 1)


class DefaultParallelTest(ReliabilityCase):
    """router_settings.default_max_parallel_requests: the max_parallel_requests of each
    deployment that gives none (nor an rpm or tpm, which LiteLLM sizes it by)."""
    router = {"num_retries": 0, "default_max_parallel_requests": 1}

    @classmethod
    def models(cls, mock):
        return [dep("solo", mock, "echo+sleep-600+solo"),
                dep("own", mock, "echo+sleep-600+own", max_parallel_requests=2),
                dep("rated", mock, "echo+sleep-600+rated", rpm=1000)]

    def at_once(self, model, n):
        with concurrent.futures.ThreadPoolExecutor(n) as ex:
            return sorted(r.status for r in ex.map(lambda _: self.ask(model), range(n)))

    def test_default_applies(self):
        self.assertEqual(self.at_once("solo", 2), [200, 429])
        self.assertEqual(self.mock.calls("echo+sleep-600+solo"), 1)

    def test_own_limit_and_rpm_win(self):
        self.assertEqual(self.at_once("own", 2), [200, 200])
        self.assertEqual(self.at_once("rated", 2), [200, 200])


class RouterDefaultParamsTest(ReliabilityCase):
    """router_settings.default_litellm_params: request parameters for each deployment that
    does not give them itself; the request's own come first, then the deployment's."""
    router = {"num_retries": 0,
              "default_litellm_params": {"temperature": 0.2, "max_tokens": 50}}

    @classmethod
    def models(cls, mock):
        return [dep("plain", mock, "echo+plain"),
                dep("own", mock, "echo+own", temperature=0.9)]

    def sent(self, model, **params):
        r = self.chat(dict({"model": model, "messages": user_msg("hi")}, **params))
        self.assertEqual(r.status, 200, r)
        return self.mock.chat_requests()[-1]["body"]

    def test_defaults_reach_the_provider(self):
        b = self.sent("plain")
        self.assertEqual((b.get("temperature"), b.get("max_tokens")), (0.2, 50), b)

    def test_deployment_and_request_win(self):
        b = self.sent("own")
        self.assertEqual((b.get("temperature"), b.get("max_tokens")), (0.9, 50), b)
        b = self.sent("own", temperature=0.5, max_completion_tokens=9)
        self.assertEqual(b.get("temperature"), 0.5, b)
        self.assertNotIn("max_tokens", b)


class LeastBusyTest(ReliabilityCase):
    router = {"num_retries": 0, "routing_strategy": "least-busy"}
    sllmp = {"router": FAST, "timeouts": {"first_byte_ms": 5000}}

    @classmethod
    def models(cls, mock):
        return [dep("busy", mock, "echo+sleep-2500+one"),
                dep("busy", mock, "echo+sleep-2500+two")]

    def test_in_flight_spreads_evenly_over_the_pool(self):
        # 10 slow requests, 150 ms apart, answered by both workers, all in flight together:
        # each pick sees the others' attempts. After an even number the two are level, so the
        # next is a coin toss and the one after must go to the other deployment: every pair
        # (1st and 2nd, 3rd and 4th, ...) is split. A random pick splits all five pairs 1 time
        # in 32.
        with concurrent.futures.ThreadPoolExecutor(10) as ex:
            futs = []
            for _ in range(10):
                futs.append(ex.submit(self.ask, "busy"))
                time.sleep(0.15)
            self.assertTrue(all(f.result().status == 200 for f in futs))
        order = [s["model"] for s in sorted(self.mock.streams(), key=lambda s: s["seq"])]
        self.assertEqual(len(order), 10, order)
        for k in range(0, 10, 2):
            self.assertNotEqual(order[k], order[k + 1], "pair %d not split: %r" % (k // 2, order))
        self.assertEqual(order.count("echo+sleep-2500+one"), 5, order)


class LatencyTest(ReliabilityCase):
    router = {"num_retries": 0, "routing_strategy": "latency-based-routing"}

    @classmethod
    def models(cls, mock):
        return [dep("lat", mock, "echo+sleep-10+fast"),
                dep("lat", mock, "echo+sleep-400+slow")]

    def test_the_faster_deployment_takes_the_traffic(self):
        for _ in range(12):
            self.assertEqual(self.ask("lat").status, 200)
        # each is measured once (unmeasured ones go first), then the fast one answers
        self.assertLessEqual(self.mock.calls("echo+sleep-400+slow"), 1)
        self.assertGreaterEqual(self.mock.calls("echo+sleep-10+fast"), 11)


class CooldownTest(ReliabilityCase):
    router = {"num_retries": 1, "allowed_fails": 1, "cooldown_time": 2}

    @classmethod
    def models(cls, mock):
        return [dep("cg", mock, "status-500+broken", mid="broken"),
                dep("cg", mock, "echo+healthy", mid="healthy")]

    def test_failing_deployment_cools_down_for_the_pool_and_comes_back(self):
        for _ in range(30):
            r = self.ask("cg", "still answered")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("x-sllmp-model-id"), "healthy")
        # allowed_fails 1: the second failure cools it down, for both workers at once
        self.assertEqual(self.mock.calls("status-500+broken"), 2)
        time.sleep(2.3)
        for _ in range(30):
            self.assertEqual(self.ask("cg").status, 200)
        self.assertGreater(self.mock.calls("status-500+broken"), 2)   # back by itself
        self.assertLessEqual(self.mock.calls("status-500+broken"), 4)  # and cooled again


class AllowedFailsPolicyTest(ReliabilityCase):
    """LiteLLM's allowed_fails_policy: the failures of a class a deployment may have before it
    cools down, in place of allowed_fails (and of a 429's immediate cooldown)."""
    router = {"num_retries": 0, "cooldown_time": 30,
              "allowed_fails_policy": {"RateLimitErrorAllowedFails": 2,
                                       "InternalServerErrorAllowedFails": 0}}

    @classmethod
    def models(cls, mock):
        # order 1 takes every request while it is not cooling; num_retries 0: its failure hands
        # the request to order 2 at once
        return [dep("rl", mock, "status-429+rl-first", order=1),
                dep("rl", mock, "echo+rl-second", order=2, mid="rl-second"),
                dep("ise", mock, "status-500+ise-first", order=1),
                dep("ise", mock, "echo+ise-second", order=2, mid="ise-second"),
                dep("other", mock, "status-503+other-first", order=1),
                dep("other", mock, "echo+other-second", order=2, mid="other-second")]

    def asks(self, model, n):
        attempts = []
        for _ in range(n):
            r = self.ask(model)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("x-sllmp-model-id"), model + "-second")
            attempts.append(r.header("x-sllmp-attempts"))
        return attempts

    def test_rate_limits_allowed_before_the_cooldown(self):
        # a 429 would cool it at once; two are allowed: the third cools it
        self.assertEqual(self.asks("rl", 6), ["2", "2", "2", "1", "1", "1"])
        self.assertEqual(self.mock.calls("status-429+rl-first"), 3)

    def test_no_internal_server_error_allowed(self):
        # allowed_fails (3) would let four 500s through; 0 cools it at the first
        self.assertEqual(self.asks("ise", 5), ["2", "1", "1", "1", "1"])
        self.assertEqual(self.mock.calls("status-500+ise-first"), 1)

    def test_other_classes_keep_allowed_fails(self):
        # a 503 is none of the policy's classes: allowed_fails 3, the fourth cools it
        self.assertEqual(self.asks("other", 6), ["2", "2", "2", "2", "1", "1"])


class OrderTest(ReliabilityCase):
    """LiteLLM's litellm_params.order: the lowest order available takes the requests, with its
    retries; the next order only when it is unavailable or its attempts failed."""
    router = {"num_retries": 1, "cooldown_time": 30}

    @classmethod
    def models(cls, mock):
        return [dep("ordered", mock, "echo+second", order=2, weight=1000, mid="second"),
                dep("ordered", mock, "echo+first", order=1, mid="first"),
                dep("ordered", mock, "echo+unordered", mid="unordered"),
                dep("tiered", mock, "status-500+tier1", order=1),
                dep("tiered", mock, "echo+tier2", order=2, mid="tier2"),
                dep("fast-over", mock, "status-500+primary", order=1, num_retries=0),
                dep("fast-over", mock, "echo+backup", order=2, mid="backup"),
                dep("last", mock, "status-500+ordered-last", order=1, num_retries=0),
                dep("last", mock, "echo+plain", mid="plain"),
                dep("cooled", mock, "status-429+c1", order=1),
                dep("cooled", mock, "echo+c2", order=2, weight=1000, mid="c2"),
                dict(dep("info", mock, "echo+info-second", weight=1000),
                     model_info={"id": "info-second", "order": 2}),
                dict(dep("info", mock, "echo+info-first"),
                     model_info={"id": "info-first", "order": 1})]

    def test_lowest_order_takes_every_request(self):
        # "second" would take nearly every pick by weight, and "unordered" a third of them
        for _ in range(20):
            r = self.ask("ordered")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("x-sllmp-model-id"), "first")
        self.assertEqual(self.mock.calls("echo+first"), 20)

    def test_retries_stay_in_the_order_then_the_next_one(self):
        r = self.ask("tiered", "from the second order")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.content(r), "from the second order")
        self.assertEqual(r.header("x-sllmp-model-id"), "tier2")
        self.assertEqual(r.header("x-sllmp-attempts"), "3")   # 1 + num_retries, then order 2
        self.assertEqual(self.mock.calls("status-500+tier1"), 2)
        self.assertEqual(self.mock.calls("echo+tier2"), 1)

    def test_no_retries_goes_over_at_once(self):
        # num_retries 0 on the primary: its one failure hands the request to order 2
        r = self.ask("fast-over")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("x-sllmp-model-id"), "backup")
        self.assertEqual(self.mock.calls("status-500+primary"), 1)

    def test_no_order_comes_last(self):
        r = self.ask("last")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("x-sllmp-model-id"), "plain")
        self.assertEqual(r.header("x-sllmp-attempts"), "2")

    def test_model_info_order(self):
        # newer LiteLLM's place for the order: "info-second" would take nearly every pick
        for _ in range(10):
            r = self.ask("info")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("x-sllmp-model-id"), "info-first")

    def test_cooling_order_is_passed_over(self):
        # "c1" goes first, whatever the weights; its 429 cools it (a group of two): this request
        # goes on to order 2, and so do the next ones without trying it
        for i in range(5):
            r = self.ask("cooled")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("x-sllmp-model-id"), "c2")
            self.assertEqual(r.header("x-sllmp-attempts"), "2" if i == 0 else "1")
        self.assertEqual(self.mock.calls("status-429+c1"), 1)
        self.assertEqual(self.mock.calls("echo+c2"), 5)


class TagRoutingTest(ReliabilityCase):
    """LiteLLM's tag routing (router_settings.enable_tag_filtering): a request's tags (the body's
    tags or metadata.tags, x-litellm-tags, its key's) send it to the deployments tagged so only;
    untagged or unmatched, to those tagged "default"; none of those either: LiteLLM's 401."""
    router = {"num_retries": 1, "cooldown_time": 30, "enable_tag_filtering": True,
              "fallbacks": [{"down": ["teams", "tiered"]}]}
    TEAM_KEY = "sk-tags-team-a-0123456789"

    @classmethod
    def make_config(cls):
        cfg = super().make_config()
        cfg["keys"] = [{"name": "team-a", "key": cls.TEAM_KEY, "metadata": {"tags": ["teamA"]}}]
        return cfg

    @classmethod
    def models(cls, mock):
        return [dep("tiered", mock, "echo+free", tags=["free"], weight=1000, mid="free"),
                dep("tiered", mock, "echo+paid", tags=["paid", "eu"], mid="paid"),
                dep("tiered", mock, "echo+dflt", tags=["default"], mid="dflt"),
                dep("tiered", mock, "echo+untagged", weight=1000, mid="untagged"),
                dep("teams", mock, "echo+team-a", tags=["teamA"], mid="team-a"),
                dep("teams", mock, "echo+team-b", tags=["teamB"], weight=1000, mid="team-b"),
                dep("failing", mock, "status-500+fail-paid", tags=["paid"]),
                dep("failing", mock, "echo+fail-free", tags=["free"], mid="fail-free"),
                dep("down", mock, "status-500+down", tags=["paid"])]

    def ask_tagged(self, model, key=None, headers=None, **body):
        payload = dict({"model": model, "messages": user_msg("hello there")}, **body)
        return self.chat(payload, headers=headers or {}, **({"key": key} if key else {}))

    def test_metadata_tags_pick_the_deployments(self):
        # "free" and "untagged" would take nearly every pick by weight
        for _ in range(10):
            r = self.ask_tagged("tiered", metadata={"tags": ["paid"]})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("x-sllmp-model-id"), "paid")
        self.assertEqual(self.mock.calls("echo+paid"), 10)

    def test_body_tags_and_header(self):
        r = self.ask_tagged("tiered", tags=["eu"])
        self.assertEqual(r.header("x-sllmp-model-id"), "paid", r)
        r = self.ask_tagged("tiered", headers={"x-litellm-tags": " gold , free"})
        self.assertEqual(r.header("x-sllmp-model-id"), "free", r)

    def test_untagged_and_unmatched_go_to_default(self):
        for body in ({}, {"metadata": {"tags": ["gold"]}}):
            for _ in range(5):
                r = self.ask_tagged("tiered", **body)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.header("x-sllmp-model-id"), "dflt")
        self.assertEqual(self.mock.calls("echo+dflt"), 10)

    def test_no_deployment_for_the_tags(self):
        r = self.ask_tagged("teams", metadata={"tags": ["gold", "x"]})
        self.assertOpenAIError(r, 401, code="no_deployments_with_tag_routing", param=None)
        self.assertIn("Not allowed to access model due to tags configuration. Passed "
                      "model=teams and tags=['gold', 'x']", r.json()["error"]["message"])
        self.assertEqual(self.mock.calls("echo+team-a") + self.mock.calls("echo+team-b"), 0)
        # without tags and without a "default" deployment: any of them
        self.assertEqual(self.ask_tagged("teams").status, 200)

    def test_key_tags(self):
        for _ in range(5):
            r = self.ask_tagged("teams", key=self.TEAM_KEY)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("x-sllmp-model-id"), "team-a")

    def test_retries_stay_with_the_tags(self):
        # the paid deployment fails: its retry goes to it again, never to the free one
        r = self.ask_tagged("failing", metadata={"tags": ["paid"]})
        self.assertEqual(r.status, 502, r)
        self.assertEqual(r.header("x-sllmp-attempts"), "2")
        self.assertEqual(self.mock.calls("status-500+fail-paid"), 2)
        self.assertEqual(self.mock.calls("echo+fail-free"), 0)

    def test_fallback_without_a_deployment_for_the_tags_is_skipped(self):
        # "down" fails; "teams" has nothing for "paid" (nor a "default"): "tiered" answers
        r = self.ask_tagged("down", metadata={"tags": ["paid"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("x-sllmp-attempts"), "3")
        self.assertEqual(r.header("x-sllmp-model-id"), "paid")
        self.assertEqual(self.mock.calls("echo+team-a") + self.mock.calls("echo+team-b"), 0)


class RefusedCredentialsTest(ReliabilityCase):
    router = {"num_retries": 1, "cooldown_time": 30}

    @classmethod
    def models(cls, mock):
        down = dep("net", mock, "echo+nowhere", mid="nowhere")
        down["litellm_params"]["api_base"] = "http://127.0.0.1:%d/v1" % closed_port()
        gone = dep("gone", mock, "echo+gone")
        gone["litellm_params"]["api_base"] = "http://127.0.0.1:%d/v1" % closed_port()
        return [dep("ag", mock, "status-401+badkey", mid="badkey"),
                dep("ag", mock, "echo+goodkey", mid="goodkey"),
                down, dep("net", mock, "echo+reachable", mid="reachable"), gone,
                dep("qg", mock, "quota+spent", mid="spent"),
                dep("qg", mock, "echo+funded", mid="funded"),
                dep("broke", mock, "quota")]

    def test_refused_connection_is_retried_elsewhere(self):
        for _ in range(6):
            r = self.ask("net", "over the network")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("x-sllmp-model-id"), "reachable")

    def test_refused_connection_retried_after_the_backoff_only(self):
        # the client's Retry-After: 1 is the gateway's hint, not the upstream's ask: the retry
        # on the only deployment goes after the backoff (20-100 ms here), not after 1 s
        t0 = time.monotonic()
        r = self.ask("gone")
        self.assertLess(time.monotonic() - t0, 0.5)
        self.assertOpenAIError(r, 503, "provider_unavailable")
        self.assertEqual(r.header("x-sllmp-attempts"), "2")
        self.assertEqual(r.header("retry-after"), "1")

    def test_quota_is_not_retried_and_says_so(self):
        # an account out of credit stays so: no retry (num_retries 1), and the client is told
        # not to either, in OpenAI's words
        r = self.ask("broke")
        self.assertOpenAIError(r, 429, "insufficient_quota")
        self.assertEqual(r.json()["error"]["type"], "insufficient_quota")
        self.assertEqual(r.header("x-should-retry"), "false")
        self.assertIsNone(r.header("retry-after"))
        self.assertEqual(r.header("x-sllmp-attempts"), "1")
        self.assertEqual(self.mock.calls("quota"), 1)

    def test_quota_moves_on_to_another_deployment(self):
        # another deployment may bill another account: it answers at once, and the spent one
        # cools down
        for _ in range(12):
            r = self.ask("qg", "paid for")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("x-sllmp-model-id"), "funded")
        self.assertLessEqual(self.mock.calls("quota+spent"), 1)

    def test_refused_key_moves_on_to_another_deployment(self):
        # a 401 is not retried on its deployment (and cools it), but the group's other one
        # answers at once; the provider's words (they quote the key) never reach the client
        for _ in range(12):
            r = self.ask("ag", "any key will do")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("x-sllmp-model-id"), "goodkey")
        self.assertLessEqual(self.mock.calls("status-401+badkey"), 1)


class AllCoolingTest(ReliabilityCase):
    router = {"num_retries": 1, "allowed_fails": 0, "cooldown_time": 30}

    @classmethod
    def models(cls, mock):
        return [dep("down", mock, "status-503+a"), dep("down", mock, "status-503+b")]

    def test_every_deployment_cooling(self):
        r = self.ask("down")
        self.assertOpenAIError(r, 502, "provider_error")   # each failed once, both now cool
        self.assertEqual(self.mock.calls("status-503+a") + self.mock.calls("status-503+b"), 2)
        r = self.ask("down")
        self.assertOpenAIError(r, 503)
        self.assertIn("cooling down", r.json()["error"]["message"])
        ra = int(r.header("retry-after"))
        self.assertTrue(20 <= ra <= 30, ra)
        self.assertEqual(self.mock.calls("status-503+a") + self.mock.calls("status-503+b"), 2)


class FallbackTest(ReliabilityCase):
    router = {"num_retries": 1,
              "fallbacks": [{"primary": ["broken-too", "backup"]},
                            {"streamer": ["backup"]}, {"picky": ["backup"]},
                            {"doomed": ["broken-too"]}],
              "context_window_fallbacks": [{"small": ["big"]}],
              "content_policy_fallbacks": [{"strict": ["lenient"]}]}

    @classmethod
    def models(cls, mock):
        price = {"input_cost_per_token": 0.000001, "output_cost_per_token": 0.000002}
        dear = {"input_cost_per_token": 0.001, "output_cost_per_token": 0.002}
        return [dep("primary", mock, "status-500+p", mid="primary-1", **dear),
                dep("broken-too", mock, "status-502+b", mid="broken-1"),
                dep("backup", mock, "echo+backup", mid="backup-1", **price),
                dep("streamer", mock, "words-6-30+reset-after-2"),
                dep("picky", mock, "status-422"),
                dep("small", mock, "status-400+small"),
                dep("big", mock, "echo+big", mid="big-1"),
                dep("strict", mock, "policy+strict"),
                dep("lenient", mock, "echo+lenient", mid="lenient-1"),
                dep("doomed", mock, "status-500+d")]

    def test_fallbacks_in_order_after_retries(self):
        r = self.ask("primary", "fall back please")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.content(r), "fall back please")
        self.assertEqual(r.header("x-sllmp-model-id"), "backup-1")
        self.assertEqual(r.header("x-sllmp-attempts"), "5")   # 2 + 2 + 1
        self.assertEqual(self.mock.calls("status-500+p"), 2)
        self.assertEqual(self.mock.calls("status-502+b"), 2)
        self.assertEqual(self.mock.calls("echo+backup"), 1)
        # cost at the price of the model that answered
        u = r.json()["usage"]
        want = u["prompt_tokens"] * 0.000001 + u["completion_tokens"] * 0.000002
        self.assertAlmostEqual(float(r.header("x-sllmp-cost-usd")), want, places=9)
        # each attempt a child span; the generation is the one that answered
        rec = self.record(r.rid)
        self.assertEqual([a["deployment"] for a in rec["attempts"]],
                         ["primary", "primary", "broken-too", "broken-too", "backup"])
        self.assertEqual([a["status"] for a in rec["attempts"]], [500, 500, 502, 502, 200])
        self.assertEqual(rec["deployment"], "backup")

    def test_streamed_fallback(self):
        c = self.ask_stream("primary", "streamed fallback")
        self.assertEqual(c.status, 200)
        self.assertEqual(c.header("x-sllmp-model-id"), "backup-1")
        self.assertIn("streamed", c.text())
        self.assertTrue(c.text().rstrip().endswith("data: [DONE]"))

    def test_never_half_a_stream_then_another_model(self):
        c = self.ask_stream("streamer")
        datas = [d for k, d in parse_sse(c.text()) if k == "data"]
        chunks = [json.loads(d) for d in datas if d != "[DONE]"]
        words = "".join(ch["choices"][0]["delta"].get("content") or ""
                        for ch in chunks if ch.get("choices"))
        self.assertEqual(words, "w1 w2")
        self.assertIn("error", chunks[-1])
        self.assertEqual(self.mock.calls("echo+backup"), 0)

    def test_bad_request_does_not_fall_back(self):
        r = self.ask("picky")
        self.assertEqual(r.status, 422)
        self.assertEqual(self.mock.calls("echo+backup"), 0)

    def test_context_window_fallback(self):
        r = self.ask("small", "too long for small")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("x-sllmp-model-id"), "big-1")
        self.assertEqual(r.header("x-sllmp-attempts"), "2")   # not retried: it would not fit
        self.assertEqual(self.mock.calls("status-400+small"), 1)

    def test_content_policy_fallback(self):
        r = self.ask("strict", "something spicy")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("x-sllmp-model-id"), "lenient-1")
        self.assertEqual(self.mock.calls("policy+strict"), 1)

    def test_every_fallback_failing(self):
        r = self.ask("doomed")
        self.assertOpenAIError(r, 502)
        self.assertEqual(r.header("x-sllmp-attempts"), "4")   # 2 on doomed, 2 on broken-too
        self.assertEqual(self.mock.calls("status-500+d"), 2)
        self.assertEqual(self.mock.calls("status-502+b"), 2)


class GenericFallbackTest(ReliabilityCase):
    """LiteLLM's generic fallback entry {"*": [...]} serves every model without a list of its
    own, and default_fallbacks becomes such an entry, the last (router_settings' over
    litellm_settings'); a model's own list wins, and a model never falls back to itself."""
    router = {"num_retries": 0,
              "fallbacks": [{"own": ["own-backup"]}, {"*": ["star-backup"]}],
              "default_fallbacks": ["default-backup"]}
    litellm = {"default_fallbacks": ["litellm-backup"]}

    @classmethod
    def make_config(cls):
        cfg = super().make_config()
        cfg["litellm_settings"] = cls.litellm
        return cfg

    @classmethod
    def models(cls, mock):
        return [dep("plain", mock, "status-500+plain"),
                dep("own", mock, "status-500+own"),
                dep("own-backup", mock, "echo+ob", mid="own-backup"),
                dep("star-backup", mock, "echo+sb", mid="star-backup"),
                dep("default-backup", mock, "status-500+db", mid="default-backup"),
                dep("litellm-backup", mock, "echo+lb", mid="litellm-backup")]

    def test_default_fallbacks_serve_a_model_without_a_list(self):
        r = self.ask("plain", "any backup")
        # default_fallbacks is the last "*" entry: it wins over the one written in fallbacks
        self.assertOpenAIError(r, 502)
        self.assertEqual(r.header("x-sllmp-attempts"), "2")
        self.assertEqual(self.mock.calls("status-500+plain"), 1)
        self.assertEqual(self.mock.calls("status-500+db"), 1)
        self.assertEqual(self.mock.calls("echo+sb") + self.mock.calls("echo+lb"), 0)

    def test_own_list_wins_over_the_generic_one(self):
        r = self.ask("own", "own backup")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("x-sllmp-model-id"), "own-backup")
        self.assertEqual(self.mock.calls("status-500+db"), 0)

    def test_the_default_backup_does_not_fall_back_to_itself(self):
        r = self.ask("default-backup")
        self.assertOpenAIError(r, 502)
        self.assertEqual(r.header("x-sllmp-attempts"), "1")
        self.assertEqual(self.mock.calls("status-500+db"), 1)


class DeploymentDefaultsTest(ReliabilityCase):
    """LiteLLM's request parameters in litellm_params (temperature, max_tokens, stop, ...) go
    with a request that has none of its own, as LiteLLM's Router merges them under the
    client's; a fallback to another deployment gets that one's, not the first one's."""
    router = {"num_retries": 0, "fallbacks": [{"tuned-broken": ["plain"]}]}

    @classmethod
    def models(cls, mock):
        return [dep("tuned", mock, "echo+tuned", temperature=0.3, max_tokens=77,
                    stop=["END"], reasoning_effort="low"),
                dep("tuned-broken", mock, "status-500+tb", temperature=0.9, seed=7),
                dep("plain", mock, "echo+plain"),
                dep("vllm", mock, "echo+eb",
                    extra_body={"chat_template_kwargs": {"enable_thinking": False},
                                "top_k": 5, "model": "not-this-one"})]

    def sent(self, behaviour):
        from test_providers import mock_requests
        bodies = [r["body"] if isinstance(r["body"], dict) else json.loads(r["body"])
                  for r in mock_requests(self.mock)]
        return [b for b in bodies if b.get("model") == behaviour]

    def test_defaults_go_with_a_request_without_them(self):
        r = self.ask("tuned", "defaults please")
        self.assertEqual(r.status, 200, r)
        [body] = self.sent("echo+tuned")
        self.assertEqual((body["temperature"], body["max_tokens"], body["stop"],
                          body["reasoning_effort"]), (0.3, 77, ["END"], "low"))

    def test_the_request_own_win(self):
        r = self.chat({"model": "tuned", "messages": user_msg("mine"), "temperature": 1.0,
                       "max_completion_tokens": 5, "stop": "STOP"})
        self.assertEqual(r.status, 200, r)
        [body] = self.sent("echo+tuned")
        self.assertEqual((body["temperature"], body["max_completion_tokens"], body["stop"]),
                         (1.0, 5, "STOP"))
        self.assertNotIn("max_tokens", body)   # one limit: the client's
        self.assertEqual(body["reasoning_effort"], "low")

    def test_extra_body_members_go_in_the_body(self):
        # as the OpenAI client merges extra_body: vLLM's own parameters reach it; the
        # request's own win, and nothing replaces what makes the request what it is
        r = self.chat({"model": "vllm", "messages": user_msg("x"), "top_k": 9})
        self.assertEqual(r.status, 200, r)
        [body] = self.sent("echo+eb")
        self.assertEqual(body["chat_template_kwargs"], {"enable_thinking": False})
        self.assertEqual(body["top_k"], 9)
        self.assertNotIn("extra_body", body)

    def test_a_fallback_gets_its_own_defaults_only(self):
        r = self.ask("tuned-broken", "fall back")
        self.assertEqual(r.status, 200, r)
        [first] = self.sent("status-500+tb")
        self.assertEqual((first["temperature"], first["seed"]), (0.9, 7))
        [second] = self.sent("echo+plain")
        self.assertNotIn("temperature", second)
        self.assertNotIn("seed", second)

    def test_the_trace_has_the_parameters_sent(self):
        # the generation's parameters are those the answer was made with: the deployment's
        # defaults too (LiteLLM's modelParameters are the merged ones), the answering one's only
        rec = self.record(self.ask("tuned", "traced").rid)
        self.assertEqual((rec["params"].get("temperature"), rec["params"].get("max_tokens"),
                          rec["params"].get("reasoning_effort")), (0.3, 77, "low"), rec["params"])
        rec = self.record(self.ask("tuned-broken", "fall back traced").rid)
        self.assertNotIn("temperature", rec["params"])
        self.assertNotIn("seed", rec["params"])


class StarFallbackTest(ReliabilityCase):
    router = {"num_retries": 0, "fallbacks": [{"*": ["star-backup"]}]}

    @classmethod
    def models(cls, mock):
        return [dep("plain", mock, "status-500+plain"),
                dep("star-backup", mock, "echo+sb", mid="star-backup")]

    def test_star_entry_is_every_model_fallback(self):
        r = self.ask("plain", "star backup")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("x-sllmp-model-id"), "star-backup")
        self.assertEqual(self.content(r), "star backup")


class RouterOverLitellmSettingsTest(ReliabilityCase):
    """LiteLLM's Router takes its own arguments over litellm_settings' (`num_retries or
    litellm.num_retries`, `timeout or litellm.request_timeout`, `fallbacks or
    litellm.fallbacks`): router_settings wins, here written first, then litellm_settings."""
    router = {"num_retries": 1, "timeout": 1,
              "fallbacks": [{"failing": ["router-backup"]}]}
    litellm = {"num_retries": 4, "request_timeout": 5,
               "fallbacks": [{"failing": ["litellm-backup"]}]}

    @classmethod
    def make_config(cls):
        cfg = super().make_config()
        cfg["litellm_settings"] = cls.litellm   # after router_settings in the file
        return cfg

    @classmethod
    def models(cls, mock):
        return [dep("failing", mock, "status-500+f"),
                dep("router-backup", mock, "echo+rb", mid="router-backup"),
                dep("litellm-backup", mock, "echo+lb", mid="litellm-backup"),
                dep("slow", mock, "echo+sleep-2500", num_retries=0)]

    def test_router_settings_num_retries_and_fallbacks_win(self):
        r = self.ask("failing", "which backup")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("x-sllmp-model-id"), "router-backup")
        self.assertEqual(r.header("x-sllmp-attempts"), "3")   # 1 + router's 1 retry, fallback
        self.assertEqual(self.mock.calls("status-500+f"), 2)
        self.assertEqual(self.mock.calls("echo+lb"), 0)

    def test_router_settings_timeout_wins(self):
        t0 = time.monotonic()
        r = self.ask("slow")
        self.assertOpenAIError(r, 504, "timeout")
        self.assertLess(time.monotonic() - t0, 2.4)


class LatencyTimeoutTest(ReliabilityCase):
    """A deployment that only times out gets a penalty sample (10 x its wait) into its moving
    average: without one it would stay unmeasured and so first for every request until its
    cooldown (allowed_fails 3 here)."""

    router = {"num_retries": 1, "routing_strategy": "latency-based-routing",
              "allowed_fails": 3, "cooldown_time": 30}
    sllmp = {"router": FAST, "timeouts": {"first_byte_ms": 400}}

    @classmethod
    def models(cls, mock):
        return [dep("lat", mock, "echo+fast"), dep("lat", mock, "echo+sleep-3000+hang")]

    def test_hanging_deployment_is_demoted(self):
        for stream in (False, True):   # latency, then time to first byte
            self.mock.reset()
            for _ in range(8):
                if stream:
                    self.assertEqual(self.ask_stream("lat").status, 200)
                else:
                    self.assertEqual(self.ask("lat").status, 200)
            self.assertLessEqual(self.mock.calls("echo+sleep-3000+hang"), 1)


class LatencyTimeoutRedisTest(LatencyTimeoutTest):
    """The same through the Redis store's script."""

    @classmethod
    def setUpClass(cls):
        cls.redis = Redis().start()
        cls.addClassCleanup(cls.redis.cleanup)
        cls.sllmp = dict(LatencyTimeoutTest.sllmp, redis={"url": cls.redis.url})
        super().setUpClass()


class SharedCooldownRedisTest(ReliabilityCase):
    """Two pools (two "hosts") on one Redis: a cooldown one of them starts keeps the other off
    the deployment too; least-busy counts the other host's attempts."""

    start_mock = True
    router = {"num_retries": 1, "allowed_fails": 0, "cooldown_time": 20}

    @classmethod
    def models(cls, mock):
        return [dep("cg", mock, "status-500+down"), dep("cg", mock, "echo+up")]

    @classmethod
    def setUpClass(cls):
        cls.redis = Redis().start()
        cls.addClassCleanup(cls.redis.cleanup)
        cls.sllmp = {"router": FAST, "redis": {"url": cls.redis.url}}
        super().setUpClass()
        cls.other = Stack(base_config(cls.models(cls.mock), master_key=MASTER_KEY,
                                      router_settings=cls.router, **cls.sllmp))
        cls.addClassCleanup(cls.other.cleanup)
        cls.other.start()

    def test_cooldown_crosses_hosts(self):
        # on this host until the broken deployment has failed once (allowed_fails 0: cooled)
        for _ in range(20):
            self.assertEqual(self.ask("cg").status, 200)
            if self.mock.calls("status-500+down"):
                break
        self.assertEqual(self.mock.calls("status-500+down"), 1)
        for _ in range(20):
            r = self.other.chat({"model": "cg", "messages": user_msg("x")}, key=MASTER_KEY)
            self.assertEqual(r.status, 200, r)
        self.assertEqual(self.mock.calls("status-500+down"), 1)   # the other host kept off


class AnthropicOverloadTest(WithAnthropicMock, ReliabilityCase):
    """Anthropic's 529 "overloaded" is retried like any 5xx, on /v1/chat/completions and on
    /v1/messages (whose clients see Anthropic's shapes)."""

    router = {"num_retries": 1}

    @classmethod
    def models(cls, mock):
        return [cls.anthropic_model("claude", "status-529+retry-1+first-1")]

    def setUp(self):
        super().setUp()
        http_request(self.anthropic.port, "POST", "/_mock/reset", b"{}", {})   # call 1 again

    def test_529_retried(self):
        r = self.ask("claude", "overloaded once")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.content(r), "overloaded once")
        self.assertEqual(r.header("x-sllmp-attempts"), "2")

    def test_529_retried_on_messages(self):
        body = {"model": "claude", "max_tokens": 50,
                "messages": [{"role": "user", "content": "messages overloaded"}]}
        r = self.stack.request("POST", "/v1/messages", json.dumps(body),
                               {"Content-Type": "application/json", "x-api-key": MASTER_KEY})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["content"][0]["text"], "messages overloaded")
        self.assertEqual(r.header("x-sllmp-attempts"), "2")
