"""Self-test of tests/mock/openai_mock.py (needs no gateway): if the mock lies, every other
test is meaningless."""

import json
import time
import unittest

from stack import Mock, StreamClient, content_arrivals, http_request


class MockSelfTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = Mock().start()
        cls.addClassCleanup(cls.mock.stop)

    def post(self, body):
        return http_request(self.mock.port, "POST", "/v1/chat/completions", json.dumps(body),
                            {"Content-Type": "application/json"}, timeout=10)

    def stream(self, body):
        return StreamClient(self.mock.port, "/v1/chat/completions", json.dumps(body).encode(),
                            {"Content-Type": "application/json"}, timeout=10)

    def test_echo_unstreamed_shape(self):
        r = self.post({"model": "echo", "messages": [{"role": "user", "content": "a b"}]})
        self.assertEqual(r.status, 200)
        b = r.json()
        self.assertTrue(b["id"].startswith("chatcmpl-"))
        self.assertEqual(b["object"], "chat.completion")
        self.assertEqual(b["choices"][0]["message"]["content"], "a b")
        self.assertIn("logprobs", b["choices"][0])
        self.assertIn("prompt_tokens_details", b["usage"])
        self.assertIn("completion_tokens_details", b["usage"])

    def test_stream_shape_with_usage(self):
        c = self.stream({"model": "echo", "stream": True,
                         "stream_options": {"include_usage": True},
                         "messages": [{"role": "user", "content": "one two"}]}).read_all()
        self.assertTrue(c.chunked)
        data = c.data_events()
        self.assertEqual(data[-1], "[DONE]")
        evs = [json.loads(d) for d in data[:-1]]
        self.assertEqual(evs[0]["choices"][0]["delta"]["role"], "assistant")
        self.assertEqual(evs[-1]["choices"], [])
        self.assertIsNotNone(evs[-1]["usage"])
        self.assertTrue(all(e["usage"] is None for e in evs[:-1]))
        self.assertEqual(evs[-2]["choices"][0]["finish_reason"], "stop")
        self.assertEqual(c.content(), "one two")

    def test_stream_without_usage_has_no_usage_key(self):
        c = self.stream({"model": "echo", "stream": True,
                         "messages": [{"role": "user", "content": "x"}]}).read_all()
        for ev in c.json_events():
            self.assertNotIn("usage", ev)
            self.assertTrue(ev["choices"])

    def test_words_timing_and_record(self):
        self.mock.reset()
        c = self.stream({"model": "words-4-100", "stream": True, "messages": []}).read_all()
        t = content_arrivals(c)
        self.assertEqual(len(t), 4)
        self.assertGreater(t[-1] - t[0], 0.25)
        end = time.monotonic() + 2
        while True:
            st = self.mock.streams()[-1]
            if st["completed"] or time.monotonic() > end:
                break
            time.sleep(0.02)
        self.assertEqual(st["chunks_sent"], 4)
        self.assertTrue(st["completed"])
        self.assertEqual(len(st["send_times"]), 4)

    def test_429_headers(self):
        r = self.post({"model": "status-429", "messages": []})
        self.assertEqual(r.status, 429)
        self.assertEqual(r.header("retry-after"), "7")
        self.assertEqual(r.header("x-ratelimit-remaining-requests"), "0")
        self.assertEqual(r.header("x-ratelimit-reset-requests"), "7s")
        self.assertEqual(r.json()["error"]["code"], "rate_limit_exceeded")

    def test_401_quotes_fake_key(self):
        r = self.post({"model": "status-401", "messages": []})
        self.assertEqual(r.status, 401)
        self.assertIn("sk-mock-SECRET-123", r.json()["error"]["message"])

    def test_split_and_crlf(self):
        for model, sep in (("split+words-3-0", "\n\n"), ("crlf+words-3-0", "\r\n\r\n")):
            c = self.stream({"model": model, "stream": True, "messages": []}).read_all()
            self.assertEqual(c.content(), "w1 w2 w3")
            self.assertIn(sep, c.text())
            if model.startswith("split"):
                self.assertGreater(len(c.chunks), 1)

    def test_keepalive_comments_before_the_first_event(self):
        c = self.stream({"model": "keepalive-100-450+words-2-0", "stream": True,
                         "messages": []}).read_all()
        self.assertEqual(c.content(), "w1 w2")
        evs = c.events()
        self.assertEqual(evs[:5], [("comment", "OPENROUTER PROCESSING")] * 5, evs)
        self.assertEqual(evs[5][0], "data", evs)
        first = next(t for t, d in c.chunks if b"data:" in d)
        self.assertGreater(first - c.headers_at, 0.4)

    def test_azure_old_api_version_refuses_stream_options(self):
        for version, status in (("2024-06-01", 400), ("2024-08-01-preview", 400),
                                ("2024-09-01-preview", 200), ("2024-10-21", 200)):
            r = http_request(self.mock.port, "POST", "/openai/deployments/echo/chat/completions"
                             "?api-version=" + version,
                             json.dumps({"messages": [], "stream_options": None}),
                             {"Content-Type": "application/json", "api-key": "azure-mock-KEY"})
            self.assertEqual(r.status, status, (version, r))
            if status == 400:
                self.assertEqual(r.json()["error"]["message"],
                                 "Unrecognized request argument supplied: stream_options")

    def test_mistral_refuses_stream_options_and_reports_usage_on_the_finish(self):
        r = self.post({"model": "echo+mistral", "stream": True, "messages": [],
                       "stream_options": {"include_usage": True}})
        self.assertEqual(r.status, 422)
        self.assertEqual(r.json()["message"]["detail"][0]["type"], "extra_forbidden")
        c = self.stream({"model": "echo+mistral", "stream": True,
                         "messages": [{"role": "user", "content": "one two"}]}).read_all()
        evs = c.json_events()
        self.assertEqual(c.content(), "one two")
        self.assertTrue(all(e["choices"] for e in evs), evs)
        self.assertEqual(evs[-1]["choices"][0]["finish_reason"], "stop")
        self.assertEqual(evs[-1]["usage"]["completion_tokens"], 2)
        self.assertTrue(all("usage" not in e for e in evs[:-1]), evs)

    def test_mistral_refuses_fields_it_does_not_define(self):
        r = self.post({"model": "echo+mistral", "messages": [], "seed": 1, "user": "u",
                       "max_completion_tokens": 5, "random_seed": 1, "max_tokens": 5})
        self.assertEqual(r.status, 422)
        self.assertEqual(sorted(d["loc"][1] for d in r.json()["message"]["detail"]),
                         ["max_completion_tokens", "seed", "user"])
        r = self.post({"model": "echo+mistral", "messages": [], "random_seed": 1,
                       "max_tokens": 5, "tool_choice": "required"})
        self.assertEqual(r.status, 200, r)

    def test_reasoning_models_refuse_max_tokens(self):
        for model in ("o1", "o3-mini", "o4-mini-2025-04-16", "gpt-5", "gpt-5.1", "echo+reasoning"):
            r = self.post({"model": model, "messages": [], "max_tokens": 5})
            self.assertEqual(r.status, 400, model)
            self.assertEqual(r.json()["error"]["code"], "unsupported_parameter")
            self.assertEqual(r.json()["error"]["param"], "max_tokens")
            r = self.post({"model": model, "messages": [], "max_completion_tokens": 5})
            self.assertEqual(r.status, 200, model)
        for model in ("gpt-5-chat-latest", "gpt-4o", "echo"):
            r = self.post({"model": model, "messages": [], "max_tokens": 5})
            self.assertEqual(r.status, 200, model)

    def test_error_in_a_200(self):
        r = self.post({"model": "echo+error200-502", "messages": []})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["error"]["code"], 502)
        self.assertNotIn("choices", r.json())

    def test_abort_recorded(self):
        self.mock.reset()
        c = self.stream({"model": "words-50-50", "stream": True, "messages": []})
        c.read_until(lambda cl: len(content_arrivals(cl)) >= 2, timeout=5)
        c.close()
        time.sleep(0.3)
        st = self.mock.streams()[-1]
        self.assertTrue(st["aborted"])
        self.assertLess(st["chunks_sent"], 10)

    def test_requests_recorded(self):
        self.mock.reset()
        http_request(self.mock.port, "POST", "/v1/chat/completions",
                     json.dumps({"model": "echo", "messages": []}),
                     {"Authorization": "Bearer k", "X-Request-ID": "abc"})
        reqs = self.mock.chat_requests()
        self.assertEqual(len(reqs), 1)
        self.assertEqual(reqs[0]["headers"]["authorization"], "Bearer k")
        self.assertEqual(reqs[0]["headers"]["x-request-id"], "abc")
        self.assertEqual(reqs[0]["body"]["model"], "echo")


if __name__ == "__main__":
    unittest.main()
