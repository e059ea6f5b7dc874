"""Self-test of the fault-injection options of the mocks (needs no gateway): first-N, every-N,
retry-S, reset-after-N and GET /_mock/calls, in tests/mock/openai_mock.py and
tests/mock/anthropic_mock.py (mockserve.parse_options). The retry and fallback tests are only
as good as these faults are real: a reset must be a TCP RST, not a FIN."""

import http.client
import json
import os
import socket
import threading
import time
import unittest

from stack import Mock, MockProcess, http_request

HERE = os.path.dirname(os.path.abspath(__file__))
MOCKS = os.path.join(os.path.dirname(HERE), "mock")
ANTHROPIC_KEY = "sk-ant-mock-KEY"
ANTHROPIC_HEADERS = {"Content-Type": "application/json", "x-api-key": ANTHROPIC_KEY,
                     "anthropic-version": "2023-06-01"}
JSON = {"Content-Type": "application/json"}


class AnthropicMock(MockProcess):
    SCRIPT = os.path.join(MOCKS, "anthropic_mock.py")

    def args(self):
        return ["--key", ANTHROPIC_KEY]


def raw_exchange(port, path, body, headers, timeout=10):
    """Sends one request on a fresh socket and reads until the peer ends the connection.
    Returns (bytes received, how it ended: "reset" for ECONNRESET, "eof" for a FIN)."""
    data = json.dumps(body).encode()
    head = "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n" % (path, len(data))
    head += "".join("%s: %s\r\n" % kv for kv in headers.items())
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    got = b""
    try:
        s.sendall(head.encode() + b"\r\n" + data)
        while True:
            try:
                x = s.recv(65536)
            except ConnectionResetError:
                return got, "reset"
            if not x:
                return got, "eof"
            got += x
    finally:
        s.close()


def calls(port):
    return http_request(port, "GET", "/_mock/calls", timeout=5).json()


def reset(port):
    http_request(port, "POST", "/_mock/reset", b"{}", JSON, timeout=5)


class OpenAIMockFaults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = Mock().start()
        cls.addClassCleanup(cls.mock.stop)

    def setUp(self):
        reset(self.mock.port)

    def chat(self, model, stream=False, content="hello there"):
        return http_request(self.mock.port, "POST", "/v1/chat/completions",
                            json.dumps({"model": model, "stream": stream,
                                        "messages": [{"role": "user", "content": content}]}),
                            JSON, timeout=10)

    def test_first_n(self):
        self.assertEqual([self.chat("status-500+first-2").status for _ in range(4)],
                         [500, 500, 200, 200])
        r = self.chat("status-500+first-2", content="a b c")
        self.assertEqual(r.json()["choices"][0]["message"]["content"], "a b c")
        # another model string has its own counter
        self.assertEqual(self.chat("status-503+first-1").status, 503)
        self.assertEqual(calls(self.mock.port),
                         {"status-500+first-2": 5, "status-503+first-1": 1})

    def test_first_zero_never_fails(self):
        self.assertEqual(self.chat("status-500+first-0").status, 200)

    def test_every_n(self):
        self.assertEqual([self.chat("status-500+every-2").status for _ in range(5)],
                         [500, 200, 500, 200, 500])
        self.assertEqual([self.chat("status-429+every-3+first-5").status for _ in range(8)],
                         [429, 200, 200, 429, 200, 200, 200, 200])

    def test_reset_clears_counters(self):
        self.assertEqual(self.chat("status-500+first-1").status, 500)
        self.assertEqual(self.chat("status-500+first-1").status, 200)
        self.assertEqual(calls(self.mock.port), {"status-500+first-1": 2})
        reset(self.mock.port)
        self.assertEqual(calls(self.mock.port), {})
        self.assertEqual(self.chat("status-500+first-1").status, 500)

    def test_sleep_only_on_failing_calls(self):
        t = time.monotonic()
        self.assertEqual(self.chat("sleep-400+first-1").status, 200)
        self.assertGreaterEqual(time.monotonic() - t, 0.4)
        t = time.monotonic()
        self.assertEqual(self.chat("sleep-400+first-1").status, 200)
        self.assertLess(time.monotonic() - t, 0.3)

    def test_counters_thread_safe(self):
        statuses = []
        lock = threading.Lock()

        def one():
            st = self.chat("status-500+first-5").status
            with lock:
                statuses.append(st)
        threads = [threading.Thread(target=one) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(sorted(statuses), [200] * 15 + [500] * 5)
        self.assertEqual(calls(self.mock.port), {"status-500+first-5": 20})

    def test_retry_after(self):
        r = self.chat("status-429")
        self.assertEqual((r.header("retry-after"), r.header("retry-after-ms")), ("7", "7000"))
        r = self.chat("status-429+retry-2")
        self.assertEqual(r.status, 429)
        self.assertEqual((r.header("retry-after"), r.header("retry-after-ms")), ("2", "2000"))
        self.assertIn("try again in 2s", r.json()["error"]["message"])
        r = self.chat("status-503")
        self.assertIsNone(r.header("retry-after"))
        r = self.chat("status-503+retry-3")
        self.assertEqual((r.status, r.header("retry-after"), r.header("retry-after-ms")),
                         (503, "3", "3000"))
        r = http_request(self.mock.port, "POST",
                         "/openai/deployments/status-429+retry-4/chat/completions"
                         "?api-version=2024-10-21",
                         json.dumps({"messages": [{"role": "user", "content": "x"}]}),
                         {"Content-Type": "application/json", "api-key": "azure-mock-KEY"},
                         timeout=10)
        self.assertEqual((r.status, r.header("retry-after"), r.header("retry-after-ms")),
                         (429, "4", "4000"))
        self.assertIn("retry after 4 seconds", r.json()["error"]["message"])

    def test_reset_after_streamed(self):
        body = {"model": "reset-after-3+first-1", "stream": True,
                "messages": [{"role": "user", "content": "hi"}]}
        got, how = raw_exchange(self.mock.port, "/v1/chat/completions", body, JSON)
        self.assertEqual(how, "reset")          # a RST, no FIN before it
        text = got.decode()
        self.assertIn(" 200 ", text.split("\r\n")[0])
        self.assertEqual([w for w in ("w1", " w2", " w3", " w4") if '"content": "%s"' % w in text],
                         ["w1", " w2", " w3"])
        self.assertNotIn("[DONE]", text)
        # the second call answers normally: all 13 words and [DONE]
        got, how = raw_exchange(self.mock.port, "/v1/chat/completions",
                                dict(body, stream=True), dict(JSON, Connection="close"))
        self.assertEqual(how, "eof")
        self.assertIn("[DONE]", got.decode())
        self.assertIn('"content": " w13"', got.decode())

    def test_reset_after_streamed_http_client(self):
        c = http.client.HTTPConnection("127.0.0.1", self.mock.port, timeout=10)
        c.request("POST", "/v1/chat/completions",
                  json.dumps({"model": "words-6-0+reset-after-2", "stream": True,
                              "messages": [{"role": "user", "content": "hi"}]}), JSON)
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        lines = []
        with self.assertRaises(ConnectionResetError):
            for line in r:
                lines.append(line)
        c.close()
        data = [ln for ln in lines if ln.startswith(b"data: ")]
        self.assertEqual(len(data), 3)          # the role chunk and two content chunks

    def test_reset_after_unstreamed(self):
        c = http.client.HTTPConnection("127.0.0.1", self.mock.port, timeout=10)
        c.request("POST", "/v1/chat/completions",
                  json.dumps({"model": "reset-after-1", "messages":
                              [{"role": "user", "content": "hi"}]}), JSON)
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        length = int(r.getheader("Content-Length"))
        with self.assertRaises(ConnectionResetError):
            r.read()
        c.close()
        got, how = raw_exchange(self.mock.port, "/v1/chat/completions",
                                {"model": "reset-after-1",
                                 "messages": [{"role": "user", "content": "hi"}]}, JSON)
        self.assertEqual(how, "reset")
        self.assertEqual(len(got.split(b"\r\n\r\n", 1)[1]), length // 2)

    def test_reset_after_embeddings_and_completions(self):
        got, how = raw_exchange(self.mock.port, "/v1/embeddings",
                                {"model": "reset-after-0+first-1", "input": "abc"}, JSON)
        self.assertEqual(how, "reset")
        r = http_request(self.mock.port, "POST", "/v1/embeddings",
                         json.dumps({"model": "reset-after-0+first-1", "input": "abc"}), JSON)
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.json()["data"]), 1)
        got, how = raw_exchange(self.mock.port, "/v1/completions",
                                {"model": "reset-after-2", "prompt": "a", "stream": True}, JSON)
        self.assertEqual(how, "reset")
        self.assertEqual(got.count(b'"text": "'), 2)
        self.assertEqual(calls(self.mock.port),
                         {"reset-after-0+first-1": 2, "reset-after-2": 1})

    def test_close_after_first_then_normal(self):
        body = {"model": "close-after-2+first-1", "stream": True,
                "messages": [{"role": "user", "content": "hi"}]}
        got, how = raw_exchange(self.mock.port, "/v1/chat/completions", body, JSON)
        self.assertEqual(how, "eof")
        self.assertNotIn(b"[DONE]", got)
        got, how = raw_exchange(self.mock.port, "/v1/chat/completions", body,
                                dict(JSON, Connection="close"))
        self.assertIn(b"[DONE]", got)


class AnthropicMockFaults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = AnthropicMock().start()
        cls.addClassCleanup(cls.mock.stop)

    def setUp(self):
        reset(self.mock.port)

    def body(self, model, stream=False):
        return {"model": model, "stream": stream, "max_tokens": 100,
                "messages": [{"role": "user", "content": "hello there"}]}

    def msg(self, model, stream=False):
        return http_request(self.mock.port, "POST", "/v1/messages",
                            json.dumps(self.body(model, stream)), ANTHROPIC_HEADERS, timeout=10)

    def test_first_and_every(self):
        self.assertEqual([self.msg("status-529+first-1").status for _ in range(3)],
                         [529, 200, 200])
        self.assertEqual([self.msg("status-500+every-2", True).status for _ in range(3)],
                         [500, 200, 500])
        self.assertEqual(calls(self.mock.port),
                         {"status-529+first-1": 3, "status-500+every-2": 3})
        reset(self.mock.port)
        self.assertEqual(calls(self.mock.port), {})

    def test_retry_after(self):
        r = self.msg("status-429")
        self.assertEqual(r.header("retry-after"), "7")
        r = self.msg("status-429+retry-5")
        self.assertEqual((r.status, r.header("retry-after")), (429, "5"))
        self.assertIsNone(self.msg("status-529").header("retry-after"))
        r = self.msg("status-529+retry-2")
        self.assertEqual((r.status, r.header("retry-after")), (529, "2"))

    def test_reset_after_streamed(self):
        got, how = raw_exchange(self.mock.port, "/v1/messages",
                                self.body("reset-after-3+first-1", True), ANTHROPIC_HEADERS)
        self.assertEqual(how, "reset")
        self.assertEqual(got.count(b'"text_delta"'), 3)
        self.assertNotIn(b"message_stop", got)
        got, how = raw_exchange(self.mock.port, "/v1/messages",
                                self.body("reset-after-3+first-1", True),
                                dict(ANTHROPIC_HEADERS, Connection="close"))
        self.assertEqual(got.count(b'"text_delta"'), 13)
        self.assertIn(b"message_stop", got)

    def test_reset_after_unstreamed(self):
        got, how = raw_exchange(self.mock.port, "/v1/messages", self.body("reset-after-1"),
                                ANTHROPIC_HEADERS)
        self.assertEqual(how, "reset")
        head, part = got.split(b"\r\n\r\n", 1)
        self.assertIn(b" 200 ", head.split(b"\r\n")[0])
        length = int([ln.split(b":")[1] for ln in head.split(b"\r\n")
                      if ln.lower().startswith(b"content-length:")][0])
        self.assertEqual(len(part), length // 2)


if __name__ == "__main__":
    unittest.main()
