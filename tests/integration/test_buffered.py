"""sllmp.buffer_streams: a streamed request answered with the whole event stream at once.

For mod_fcgid without `FcgidOutputBufferSize 0`, which holds SSE back in 64 KiB lumps anyway
(docs: deployment.md 3.2). With the switch on, the gateway still streams from the upstream and
translates every event, but the client gets status, headers, a Content-Length and the complete
SSE body together at the end: no heartbeats, and a failure before the end is a JSON error with
its real status. Measured through lighttpd against a second stack with the switch off (as today),
and as a plain CGI program."""

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import unittest

from stack import (FCGI_BIN, Mock, Stack, StackCase, base_config, cgi_env, cgi_headers,
                   content_arrivals, mock_model, require_binaries, split_cgi, upstream_model,
                   user_msg, write_config)

SLLMP = {"heartbeat_ms": 150,
         "timeouts": {"connect_ms": 2000, "first_byte_ms": 4000, "idle_ms": 3000,
                      "total_ms": 60000}}


def models(mock):
    return [mock_model("mock-slow", "echo", 200),
            upstream_model("up-words", mock, "words-6-150"),
            upstream_model("up-err", mock, "error-after-2"),
            upstream_model("up-late429", mock, "sleep-1200+status-429"),
            upstream_model("up-short", mock, "words-10-100"),
            upstream_model("up-echo", mock, "echo")]


def normalised(text):
    """The body with the mock's random ids and clock seconds zeroed, for comparing two runs."""
    text = re.sub(r"chatcmpl-[0-9A-Za-z]+", "chatcmpl-0", text)
    return re.sub(r'"created": ?\d+', '"created":0', text)


class BufferedStreamTest(StackCase):
    sllmp = dict(SLLMP, buffer_streams=True)

    @classmethod
    def models(cls, mock):
        return models(mock)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # the same gateway as today, for comparison
        cls.flushed = Stack(base_config(models(cls.mock), **dict(SLLMP, buffer_streams=False)))
        cls.addClassCleanup(cls.flushed.cleanup)
        cls.flushed.start()

    def assert_whole(self, c, min_wait):
        """c arrived as one piece: headers after the answer was made, a Content-Length, every
        content event at the same moment, [DONE] last; returns the body as text."""
        self.assertEqual(c.status, 200, c.text())
        self.assertEqual(c.header("content-type"), "text/event-stream")
        self.assertIsNotNone(c.header("content-length"), c.headers)
        self.assertFalse(c.chunked, c.headers)
        self.assertEqual(int(c.header("content-length")), len(c.body))
        self.assertGreater(c.headers_at - c.t0, min_wait,
                           "the headers went out before the answer was complete")
        t = content_arrivals(c)
        self.assertGreater(len(t), 1, c.text())
        self.assertLess(max(t) - min(t), 0.05, "content events spread out: %r" %
                        [round(x - c.t0, 3) for x in t])
        self.assertLess(min(t) - c.headers_at, 0.05, "the body lagged the headers")
        text = c.text()
        self.assertTrue(text.endswith("data: [DONE]\n\n"), text[-200:])
        self.assertEqual(c.data_events()[-1], "[DONE]")
        self.assertNotIn(": ping", text)
        return text

    def test_builtin_stream_arrives_whole(self):
        # 6 words 200 ms apart: 1.2 s of answer (and, flushed, a heartbeat every word)
        req = {"model": "mock-slow", "stream": True, "messages": user_msg("a b c d e f")}
        c = self.stream(req).read_all()
        text = self.assert_whole(c, 1.0)
        self.assertEqual(c.content(), "a b c d e f")
        self.assertEqual(len(content_arrivals(c)), 6)
        self.assertIn(": x-sllmp-cost-usd ", text)   # as on any stream, before [DONE]
        # and, as nothing went out before the cost was known, as a header too
        self.assertEqual(c.header("x-sllmp-cost-usd"),
                         text.split(": x-sllmp-cost-usd ", 1)[1].split("\n", 1)[0])

        # the same request with the switch off: spread out as today, with heartbeats, and
        # otherwise the same bytes
        f = self.flushed.stream(req).read_all()
        self.assertEqual(f.status, 200, f.text())
        self.assertIsNone(f.header("content-length"), f.headers)
        self.assertLess(f.headers_at - f.t0, 0.5)
        t = content_arrivals(f)
        self.assertEqual(len(t), 6, f.chunks)
        self.assertGreater(t[-1] - t[0], 0.8, "flushed content arrived in a burst")
        self.assertIn(": ping", f.text())
        self.assertEqual(normalised(f.text().replace(": ping\n\n", "")), normalised(text))

    def test_upstream_stream_arrives_whole(self):
        req = {"model": "up-words", "stream": True, "stream_options": {"include_usage": True},
               "messages": user_msg("x")}
        c = self.stream(req).read_all()
        text = self.assert_whole(c, 0.7)
        self.assertEqual(c.content(), "w1 w2 w3 w4 w5 w6")
        data = c.data_events()
        self.assertEqual(json.loads(data[-2]).get("choices"), [], "usage chunk last")
        self.assertIn(": x-sllmp-cost-usd ", text)

        f = self.flushed.stream(req).read_all()
        t = content_arrivals(f)
        self.assertEqual(len(t), 6, f.chunks)
        self.assertGreater(t[-1] - t[0], 0.6, "flushed content arrived in a burst")
        self.assertEqual(normalised(f.text().replace(": ping\n\n", "")), normalised(text))

    def test_error_mid_stream_is_json(self):
        # two events went out of the upstream, then an error: nothing had reached the client
        r = self.chat({"model": "up-err", "stream": True, "messages": user_msg("x")})
        self.assertOpenAIError(r, 502, "provider_error")
        self.assertNotIn(b"data:", r.body)
        self.assertEqual(int(r.header("content-length")), len(r.body))
        # no deployment answered: no x-sllmp-model-id, though the first held event set it
        self.assertIsNone(r.header("x-sllmp-model-id"), r)
        self.assertEqual(r.header("x-sllmp-attempts"), "1", r)
        # flushed: the 200 had gone, so the error is an event
        f = self.flushed.stream({"model": "up-err", "stream": True,
                                 "messages": user_msg("x")}).read_all()
        self.assertEqual(f.status, 200)
        self.assertIn('"error"', f.data_events()[-2])

    def test_late_failure_keeps_its_status(self):
        # silent for 1.2 s then 429: flushed, heartbeats would have sent a 200 meanwhile
        t0 = time.monotonic()
        r = self.chat({"model": "up-late429", "stream": True, "messages": user_msg("x")})
        self.assertGreater(time.monotonic() - t0, 1.0)
        self.assertOpenAIError(r, 429, "rate_limit_exceeded")
        self.assertEqual(r.header("retry-after"), "7")
        self.assertEqual(r.header("x-should-retry"), "true")
        self.assertEqual(r.header("x-ratelimit-remaining-requests"), "0")

    def test_client_leaving(self):
        # Nothing is written until the end, so no failed write tells the web server that the
        # client left; lighttpd notices an idle client's reset only sometimes. So the call is
        # either stopped (the server hung up the FastCGI connection, which the gateway polls
        # while it waits) or runs to its end, accepted for buffer_streams. Either way the held
        # answer meets a server without a client: the worker must survive and serve on.
        body = json.dumps({"model": "up-short", "stream": True,
                           "messages": user_msg("x")}).encode()
        s = socket.create_connection(("127.0.0.1", self.stack.port), timeout=5)
        s.sendall(("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Connection: close\r\nContent-Type: application/json\r\n"
                   "X-Request-ID: buffered-leaver-1\r\nContent-Length: %d\r\n\r\n"
                   % len(body)).encode() + body)
        time.sleep(0.3)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        st = None
        end = time.monotonic() + 5.0
        while time.monotonic() < end:
            found = [x for x in self.mock.streams() if x.get("request_id") == "buffered-leaver-1"]
            st = found[-1] if found else None
            if st and (st["aborted"] or st["completed"]):
                break
            time.sleep(0.05)
        self.assertTrue(st and (st["aborted"] or st["completed"]), "upstream call: %r" % st)
        time.sleep(0.2)
        r = self.chat({"model": "up-echo", "messages": user_msg("still alive")})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["choices"][0]["message"]["content"], "still alive")


class BufferedCGITest(unittest.TestCase):
    """The same under plain CGI: stdout carries Status, Content-Length and the whole body."""

    @classmethod
    def setUpClass(cls):
        require_binaries()
        cls.dir = tempfile.mkdtemp(prefix="sllmp-cgi-buf-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cls.mock = Mock().start()
        cls.addClassCleanup(cls.mock.stop)
        cfg = base_config([mock_model("mock-echo", "echo", 30),
                           upstream_model("up-err", cls.mock, "error-after-2", api_key=None)],
                          spool_dir=os.path.join(cls.dir, "spool"),
                          **dict(SLLMP, buffer_streams=True))
        cls.config = write_config(os.path.join(cls.dir, "sllmp.yaml"), cfg)

    def cgi(self, payload):
        body = json.dumps(payload).encode()
        env = cgi_env("/v1/chat/completions", "POST",
                      {"SLLMP_CONFIG": self.config, "SLLMP_RUNDIR": self.dir}, body)
        p = subprocess.run([FCGI_BIN], input=body, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=15)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"\r\n\r\n", p.stdout)
        head, out = split_cgi(p.stdout)
        headers = cgi_headers(head)
        return int(headers["status"][:3]), headers, out

    def test_stream_whole(self):
        st, h, out = self.cgi({"model": "mock-echo", "stream": True,
                               "messages": user_msg("over cgi")})
        self.assertEqual(st, 200, out)
        self.assertEqual(h["content-type"], "text/event-stream")
        self.assertEqual(int(h["content-length"]), len(out))
        text = out.decode()
        self.assertTrue(text.endswith("data: [DONE]\n\n"), text)
        self.assertIn('"content":"over"', text)
        self.assertIn('"content":" cgi"', text)

    def test_failure_mid_stream_is_json(self):
        st, h, out = self.cgi({"model": "up-err", "stream": True, "messages": user_msg("x")})
        self.assertEqual(st, 502, out)
        self.assertTrue(h["content-type"].startswith("application/json"), h)
        self.assertEqual(int(h["content-length"]), len(out))
        self.assertEqual(json.loads(out)["error"]["code"], "provider_error")

class HeldTooLongTest(StackCase):
    """A stream still going after buffer_streams_max_ms is released and flushed from then on:
    a host's read timeout (FcgidIOTimeout, 40 s by default) must never see a silent gateway."""
    sllmp = dict(SLLMP, buffer_streams=True, buffer_streams_max_ms=600)

    @classmethod
    def models(cls, mock):
        return [mock_model("mock-slow", "echo", 200),
                upstream_model("up-sleep", mock, "sleep-1500+words-3-100")]

    def test_long_stream_goes_on_flushed(self):
        words = "a b c d e f g h"   # 8 words 200 ms apart: 1.6 s, held for the first 0.6 s
        c = self.stream({"model": "mock-slow", "stream": True,
                         "messages": user_msg(words)}).read_all()
        self.assertEqual(c.status, 200, c.text())
        self.assertEqual(c.content(), words, c.text())
        self.assertIsNone(c.header("content-length"), c.headers)
        self.assertEqual(c.data_events()[-1], "[DONE]")
        self.assertGreater(c.headers_at - c.t0, 0.5, "released before buffer_streams_max_ms")
        t = content_arrivals(c)
        # the held part (about three words) at once, then one word at a time
        first = [x for x in t if x - t[0] < 0.05]
        self.assertGreaterEqual(len(first), 2, t)
        self.assertGreater(t[-1] - t[0], 0.6, "the rest was not flushed as it came: %r" % t)
        self.assertIn(": ping", c.text())   # heartbeats are back once released

    def test_silent_upstream_gets_heartbeats_after_the_hold(self):
        c = self.stream({"model": "up-sleep", "stream": True,
                         "messages": user_msg("x")}).read_all()
        self.assertEqual(c.status, 200, c.text())
        self.assertEqual(c.content(), "w1 w2 w3", c.text())
        # the headers and pings went out during the upstream's 1.5 s of silence
        self.assertLess(c.headers_at - c.t0, 1.3, "held through the whole silence")
        self.assertIn(": ping", c.text())


if __name__ == "__main__":
    unittest.main()
