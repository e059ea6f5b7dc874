"""Streaming behaviour measured with a raw-socket client: chunks flushed one at a time,
heartbeats whenever the client has been sent nothing (upstream keep-alives it never sees do not
count), client disconnects stopping the upstream, odd upstream framing (CRLF, byte-by-byte),
and failures after the first byte."""

import json
import statistics
import time
import unittest

from stack import (StackCase, StreamClient, content_arrivals, mock_model, upstream_model,
                   user_msg)
from test_providers import WithAnthropicMock


def assert_pings_on_time(test, c, heartbeat_s):
    """Every `: ping` of stream c before its first data event came on time: the first within
    about one heartbeat of the request, each next one within about one heartbeat of the one
    before, and the first data event too."""
    evs = c.events()
    first_data = next(i for i, e in enumerate(evs) if e[0] == "data")
    pings = [e for e in evs[:first_data] if e == ("comment", "ping")]
    test.assertGreaterEqual(len(pings), 4, "pings before the first event: %r" % evs[:8])
    times = [t for t, d in c.chunks if b": ping" in d]
    data_at = next(t for t, d in c.chunks if b"data:" in d)
    marks = [c.t0] + [t for t in times if t < data_at] + [data_at]
    gaps = [b - a for a, b in zip(marks, marks[1:])]
    test.assertLess(max(gaps), heartbeat_s + 0.5, "gaps between what the client got: %r" %
                    gaps)


class StreamingTest(StackCase):
    sllmp = {"heartbeat_ms": 500,
             "timeouts": {"connect_ms": 2000, "first_byte_ms": 4000, "idle_ms": 1500,
                          "total_ms": 60000}}

    @classmethod
    def models(cls, mock):
        return [mock_model("mock-slow", "echo", 200),
                upstream_model("up-words10", mock, "words-10-200"),
                upstream_model("up-gap", mock, "words-3-1300"),
                upstream_model("up-sleep", mock, "sleep-2500"),
                upstream_model("up-sleep-long", mock, "sleep-3800"),
                upstream_model("up-long", mock, "words-100-100"),
                upstream_model("up-crlf", mock, "crlf+words-6-30"),
                upstream_model("up-split", mock, "split+words-6-30"),
                upstream_model("up-nochunk", mock, "close+words-6-30"),
                upstream_model("up-stall", mock, "stall-after-2"),
                upstream_model("up-err", mock, "error-after-2"),
                upstream_model("up-cut", mock, "close-after-2"),
                upstream_model("up-late500", mock, "sleep-2000+status-500"),
                upstream_model("up-keepalive", mock, "keepalive-250-3000+words-3-50"),
                upstream_model("up-nonobject", mock, "nonobject+words-3-0"),
                upstream_model("up-keepalive-long", mock, "keepalive-250-8000+words-3-50"),
                upstream_model("up-echo", mock, "echo")]

    def mock_stream(self, request_id, wait=0.0):
        """The mock's record of the upstream call made for request_id."""
        end = time.monotonic() + wait
        while True:
            found = [s for s in self.mock.streams() if s.get("request_id") == request_id]
            if found or time.monotonic() >= end:
                self.assertTrue(found, "the mock saw no call with X-Request-ID %s" % request_id)
                return found[-1]
            time.sleep(0.05)

    def assert_gateway_alive(self):
        r = self.stack.chat({"model": "up-echo", "messages": user_msg("still alive")})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["choices"][0]["message"]["content"], "still alive")

    # -- flushing

    def test_chunks_arrive_one_at_a_time_upstream(self):
        c = self.stream({"model": "up-words10", "stream": True,
                         "messages": user_msg("x")}).read_all()
        self.assertEqual(c.status, 200, c.text())
        self.assertEqual(c.content(), " ".join("w%d" % i for i in range(1, 11)), c.text())
        t = content_arrivals(c)
        self.assertEqual(len(t), 10, "expected 10 content events, each in its own read")
        gaps = [b - a for a, b in zip(t, t[1:])]
        self.assertGreater(t[-1] - t[0], 1.4, "content arrived in a burst: gaps %r" % gaps)
        med = statistics.median(gaps)
        self.assertTrue(0.12 <= med <= 0.4, "median gap %.3f s, gaps %r" % (med, gaps))
        self.assertLess(max(gaps), 0.7, gaps)
        # compare with the mock's send times: each chunk reaches the client promptly
        st = self.mock_stream(c.header("x-request-id"))
        self.assertEqual(len(st["send_times"]), 10, st)
        lags = [a - s for a, s in zip(t, st["send_times"])]
        self.assertLess(max(lags), 0.15, "client arrival minus mock send time: %r" % lags)

    def test_chunks_arrive_one_at_a_time_builtin(self):
        c = self.stream({"model": "mock-slow", "stream": True,
                         "messages": user_msg("a b c d e f")}).read_all()
        self.assertEqual(c.status, 200, c.text())
        self.assertEqual(c.content(), "a b c d e f")
        t = content_arrivals(c)
        self.assertEqual(len(t), 6, c.chunks)
        gaps = [b - a for a, b in zip(t, t[1:])]
        self.assertTrue(0.12 <= statistics.median(gaps) <= 0.4, gaps)
        self.assertGreater(t[-1] - t[0], 0.8, gaps)

    # -- heartbeats

    def test_heartbeats_before_first_token(self):
        c = self.stream({"model": "up-sleep", "stream": True, "messages": user_msg("hb")})
        self.assertEqual(c.status, 200)
        # the headers (and pings) go out long before the upstream's first byte at 2.5 s
        self.assertLess(c.headers_at - c.t0, 1.6, "headers only after %.2fs" %
                        (c.headers_at - c.t0))
        c.read_all()
        evs = c.events()
        first_data = next(i for i, e in enumerate(evs) if e[0] == "data")
        pings = [e for e in evs[:first_data] if e == ("comment", "ping")]
        self.assertGreaterEqual(len(pings), 2, "pings before the first token: %r" % evs[:6])
        self.assertIn(": ping", c.text())
        # the first ping arrived early, not together with the data
        first_ping_at = next(t for t, d in c.chunks if b": ping" in d)
        self.assertLess(first_ping_at - c.t0, 1.6)
        self.assertEqual(c.content(), "hb")
        self.assertEqual(c.data_events()[-1], "[DONE]")

    def test_heartbeats_between_tokens(self):
        c = self.stream({"model": "up-gap", "stream": True,
                         "messages": user_msg("x")}).read_all()
        self.assertEqual(c.status, 200)
        self.assertEqual(c.content(), "w1 w2 w3")
        evs = c.events()
        idx = [i for i, e in enumerate(evs) if e[0] == "data" and "w1" in e[1]]
        self.assertTrue(idx, evs)
        after = evs[idx[0] + 1:]
        pings = [e for e in after if e == ("comment", "ping")]
        self.assertGreaterEqual(len(pings), 2, "pings between tokens: %r" % evs)

    def test_heartbeats_while_upstream_keepalives_are_swallowed(self):
        # OpenRouter-style comments every 250 ms for 3 s reach the gateway but never the
        # client: its heartbeats must count from what the client got, not from what arrived
        c = self.stream({"model": "up-keepalive", "stream": True, "messages": user_msg("x")})
        self.assertEqual(c.status, 200)
        self.assertLess(c.headers_at - c.t0, 1.2, "headers only after %.2fs" %
                        (c.headers_at - c.t0))
        c.read_all()
        self.assertEqual(c.content(), "w1 w2 w3", c.text())
        self.assertNotIn("OPENROUTER", c.text())
        assert_pings_on_time(self, c, 0.5)

    def test_client_gone_while_upstream_keepalives_flow(self):
        # behind lighttpd only a write notices an HTTP/1.1 client that left: the heartbeats
        # are that write, so they must go on while the upstream's comments do
        c = self.stream({"model": "up-keepalive-long", "stream": True,
                         "messages": user_msg("x")})
        rid = c.header("x-request-id")
        c.close()
        left = time.time()
        st = self.mock_stream(rid, wait=1)
        end = time.monotonic() + 4.0
        while time.monotonic() < end and not (st["aborted"] or st["completed"]):
            time.sleep(0.05)
            st = self.mock_stream(rid)
        self.assertTrue(st["aborted"], "upstream call kept going after the client left: %r" % st)
        self.assertLess(st["aborted_at"] - left, 3.0, st)
        self.assert_gateway_alive()

    # -- client leaves

    def test_client_disconnect_mid_stream_stops_upstream(self):
        c = self.stream({"model": "up-long", "stream": True, "messages": user_msg("x")})
        self.assertEqual(c.status, 200)
        rid = c.header("x-request-id")
        c.read_until(lambda cl: len(content_arrivals(cl)) >= 3, timeout=5)
        c.close()
        left = time.time()
        end = time.monotonic() + 3.0
        st = None
        while time.monotonic() < end:
            st = self.mock_stream(rid)
            if st["aborted"]:
                break
            time.sleep(0.05)
        self.assertTrue(st["aborted"], "upstream call not aborted 3 s after the client left: "
                        "%r" % {k: st[k] for k in ("chunks_sent", "completed")})
        self.assertLess(st["aborted_at"] - left, 2.0, st)
        self.assertLess(st["chunks_sent"], 30, st)
        self.assert_gateway_alive()

    def test_client_disconnect_before_first_token(self):
        c = self.stream({"model": "up-sleep-long", "stream": True, "messages": user_msg("x")})
        rid = c.header("x-request-id")
        time.sleep(0.3)
        c.close()
        left = time.time()
        end = time.monotonic() + 4.5
        st = None
        while time.monotonic() < end:
            st = self.mock_stream(rid, wait=1)
            if st["aborted"] or st["completed"]:
                break
            time.sleep(0.05)
        self.assertTrue(st["aborted"], "upstream call kept going after the client left: %r" % st)
        self.assertLess(st["aborted_at"] - left, 3.0, st)
        self.assert_gateway_alive()

    # -- upstream framing

    def check_words6(self, model):
        c = self.stream({"model": model, "stream": True,
                         "stream_options": {"include_usage": True},
                         "messages": user_msg("x")}).read_all()
        self.assertEqual(c.status, 200, c.text())
        self.assertEqual(c.content(), "w1 w2 w3 w4 w5 w6", c.text())
        data = c.data_events()
        self.assertEqual(data[-1], "[DONE]", c.text())
        for d in data[:-1]:
            ev = json.loads(d)            # every event is whole JSON
            self.assertNotIn("error", ev, d)
        deltas = [ch["delta"].get("content") for d in data[:-1]
                  for ch in json.loads(d).get("choices") or [] if ch["delta"].get("content")]
        self.assertEqual(deltas, ["w1", " w2", " w3", " w4", " w5", " w6"], data)
        self.assertEqual(json.loads(data[-2]).get("choices"), [], "usage chunk last")
        # the gateway emits LF-terminated events whatever the upstream used
        self.assertNotIn("\r", c.text())

    def test_upstream_crlf_lines(self):
        self.check_words6("up-crlf")

    def test_upstream_split_writes(self):
        self.check_words6("up-split")

    def test_upstream_without_chunked_encoding(self):
        self.check_words6("up-nochunk")

    def test_upstream_events_that_are_no_object_skipped(self):
        # `data: null`, `data: "x"` ... are JSON but no chunk: SDKs that read chunk.choices
        # would crash on them
        c = self.stream({"model": "up-nonobject", "stream": True,
                         "messages": user_msg("x")}).read_all()
        self.assertEqual(c.status, 200, c.text())
        data = c.data_events()
        self.assertEqual(data[-1], "[DONE]", c.text())
        for d in data[:-1]:
            self.assertIsInstance(json.loads(d), dict, c.text())
        self.assertEqual(c.content(), "w1 w2 w3", c.text())

    # -- failures after the first byte

    def assert_error_then_done(self, c, code=None):
        data = c.data_events()
        self.assertGreaterEqual(len(data), 2, c.text())
        self.assertEqual(data[-1], "[DONE]", c.text())
        err = json.loads(data[-2])
        self.assertIn("error", err, c.text())
        for k in ("message", "type", "param", "code"):
            self.assertIn(k, err["error"], err)
        if code:
            self.assertEqual(err["error"]["code"], code, err)
        errors = [d for d in data if d.startswith('{"error"') or '"error":' in d[:12]]
        self.assertEqual(len(errors), 1, "exactly one error event: %r" % data)
        return err

    def test_idle_timeout_mid_stream(self):
        t0 = time.monotonic()
        c = self.stream({"model": "up-stall", "stream": True,
                         "messages": user_msg("x")}).read_all(timeout=10)
        dt = time.monotonic() - t0
        self.assertEqual(c.status, 200)
        self.assertEqual(c.content(), "w1 w2", c.text())
        self.assert_error_then_done(c, "timeout")
        self.assertGreater(dt, 1.3, "idle_ms is 1500")
        self.assertLess(dt, 4.0, "idle timeout took %.1fs" % dt)
        rid = c.header("x-request-id")
        ok = False
        end = time.monotonic() + 2.0
        while not ok and time.monotonic() < end:
            st = self.mock_stream(rid, wait=1)
            ok = st["aborted"]
            time.sleep(0.05)
        self.assertTrue(ok, "the stalled upstream connection was not closed: %r" % st)

    def test_upstream_error_event_mid_stream(self):
        c = self.stream({"model": "up-err", "stream": True,
                         "messages": user_msg("x")}).read_all(timeout=10)
        self.assertEqual(c.status, 200)
        self.assertEqual(c.content(), "w1 w2", c.text())
        self.assert_error_then_done(c)

    def test_upstream_error_after_heartbeats(self):
        # pings went out before the upstream answered 500: the status is already 200, so the
        # failure must be an SSE error event + [DONE] (or, had nothing gone out, a 502)
        c = self.stream({"model": "up-late500", "stream": True,
                         "messages": user_msg("x")}).read_all(timeout=10)
        if c.status == 200:
            self.assertIn(": ping", c.text())
            err = self.assert_error_then_done(c, "provider_error")
            self.assertEqual(err["error"]["type"], "server_error")
        else:
            self.assertEqual(c.status, 502, c.text())

    def test_upstream_cut_mid_stream(self):
        c = self.stream({"model": "up-cut", "stream": True,
                         "messages": user_msg("x")}).read_all(timeout=10)
        self.assertEqual(c.status, 200)
        self.assertEqual(c.content(), "w1 w2", c.text())
        self.assert_error_then_done(c)


class AnthropicKeepaliveTest(WithAnthropicMock, StackCase):
    """Anthropic's ping events are dropped on both paths (translated to OpenAI chunks, and
    passed through on /v1/messages, where the gateway sends its own heartbeats): while they
    keep arriving the client still gets heartbeats."""

    start_mock = False
    sllmp = StreamingTest.sllmp

    @classmethod
    def models(cls, mock):
        return [cls.anthropic_model("claude-keepalive", "keepalive-250-3000")]

    def test_heartbeats_through_pings_translated(self):
        c = self.stream({"model": "claude-keepalive", "stream": True,
                         "messages": user_msg("hi there")})
        self.assertEqual(c.status, 200)
        c.read_all()
        self.assertEqual(c.content(), "hi there", c.text())
        assert_pings_on_time(self, c, 0.5)

    def test_heartbeats_through_pings_on_messages(self):
        body = {"model": "claude-keepalive", "max_tokens": 50, "stream": True,
                "messages": user_msg("hi there")}
        c = StreamClient(self.stack.port, self.stack.base + "/v1/messages",
                         json.dumps(body).encode(), {"Content-Type": "application/json"})
        self.assertEqual(c.status, 200)
        c.read_all()
        self.assertNotIn("event: ping", c.text())
        self.assertIn("event: message_stop", c.text())
        assert_pings_on_time(self, c, 0.5)


if __name__ == "__main__":
    unittest.main()
