"""Chat completions, unstreamed and streamed, through the built-in mock and the upstream mock;
what goes upstream (model, stream_options, key, X-Request-ID); response headers."""

import json
import re
import unittest

from stack import (LITERAL_UPSTREAM_KEY, MASTER_KEY, UPSTREAM_KEY, StackCase, mock_model,
                   upstream_model, user_msg)

HEX32 = re.compile(r"^[0-9a-f]{32}$")


class ChatTest(StackCase):
    master_key = MASTER_KEY

    @classmethod
    def models(cls, mock):
        return [mock_model("mock-echo", "echo", 10),
                upstream_model("up-echo", mock, "echo"),
                upstream_model("up-literal", mock, "echo", api_key=LITERAL_UPSTREAM_KEY),
                upstream_model("up-sleep", mock, "sleep-300"),
                upstream_model("up-tools", mock, "tools"),
                upstream_model("up-dirty-headers", mock, "echo+dirty-headers")]

    # -- helpers

    def last_upstream(self, request_id=None):
        reqs = self.mock.chat_requests()
        self.assertTrue(reqs, "the mock upstream received no chat request")
        if request_id:
            matching = [r for r in reqs if r["headers"].get("x-request-id") == request_id]
            self.assertTrue(matching, "no upstream request with X-Request-ID %s; got %r"
                            % (request_id, [r["headers"].get("x-request-id") for r in reqs]))
            return matching[-1]
        return reqs[-1]

    def check_completion(self, r, content):
        self.assertEqual(r.status, 200, r)
        self.assertTrue((r.header("content-type") or "").startswith("application/json"), r)
        body = r.json()
        self.assertTrue(str(body.get("id", "")).startswith("chatcmpl-"), body)
        self.assertEqual(body.get("object"), "chat.completion", body)
        self.assertIsInstance(body.get("created"), int, body)
        self.assertIsInstance(body.get("model"), str, body)
        ch = body["choices"]
        self.assertEqual(len(ch), 1, body)
        self.assertEqual(ch[0].get("index"), 0, body)
        self.assertIn("logprobs", ch[0], body)
        self.assertEqual(ch[0].get("finish_reason"), "stop", body)
        self.assertEqual(ch[0]["message"].get("role"), "assistant", body)
        self.assertEqual(ch[0]["message"].get("content"), content, body)
        u = body.get("usage") or {}
        for k in ("prompt_tokens", "completion_tokens", "total_tokens"):
            self.assertIsInstance(u.get(k), int, body)
        self.assertEqual(u["total_tokens"], u["prompt_tokens"] + u["completion_tokens"], body)
        self.assertRegex(r.header("x-request-id") or "", HEX32, r)
        self.assertRegex(r.header("x-duration-ms") or "", r"^\d+$", r)
        return body

    def check_stream(self, c, content, usage_expected):
        self.assertEqual(c.status, 200, c.text())
        self.assertTrue((c.header("content-type") or "").startswith("text/event-stream"),
                        c.headers)
        self.assertEqual(c.header("cache-control"), "no-cache", c.headers)
        self.assertEqual((c.header("x-accel-buffering") or "").lower(), "no", c.headers)
        self.assertRegex(c.header("x-request-id") or "", HEX32, c.headers)
        self.assertRegex(c.header("x-duration-ms") or "", r"^\d+$", c.headers)
        data = c.data_events()
        self.assertTrue(data, c.text())
        self.assertEqual(data[-1], "[DONE]", c.text())
        self.assertEqual(data.count("[DONE]"), 1, c.text())
        evs = [json.loads(d) for d in data[:-1]]
        for ev in evs:
            self.assertNotIn("error", ev, c.text())
            self.assertEqual(ev.get("object"), "chat.completion.chunk", ev)
        self.assertEqual(len({ev["id"] for ev in evs}), 1, "chunk ids differ")
        self.assertEqual(evs[0]["choices"][0]["delta"].get("role"), "assistant", evs[0])
        self.assertEqual(c.content(), content, c.text())
        with_choices = [ev for ev in evs if ev.get("choices")]
        usage_chunks = [ev for ev in evs if ev.get("choices") == []]
        self.assertEqual(with_choices[-1]["choices"][0].get("finish_reason"), "stop", c.text())
        self.assertEqual(with_choices[-1]["choices"][0].get("delta"), {}, c.text())
        if usage_expected:
            self.assertEqual(len(usage_chunks), 1, c.text())
            self.assertIs(evs[-1], usage_chunks[0], "the usage chunk must come last")
            u = usage_chunks[0].get("usage") or {}
            self.assertIsInstance(u.get("prompt_tokens"), int, u)
            self.assertIsInstance(u.get("completion_tokens"), int, u)
            self.assertIsInstance(u.get("total_tokens"), int, u)
        else:
            self.assertEqual(usage_chunks, [], "usage chunk sent though the client did not "
                             "ask for stream_options.include_usage:\n" + c.text())
        return evs

    # -- built-in mock

    def test_builtin_unstreamed(self):
        r = self.chat({"model": "mock-echo", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "first question"},
            {"role": "assistant", "content": "an answer"},
            {"role": "user", "content": "hello  big world"}]})
        self.check_completion(r, "hello  big world")

    def test_builtin_no_user_message(self):
        r = self.chat({"model": "mock-echo",
                       "messages": [{"role": "system", "content": "only a system prompt"}]})
        self.check_completion(r, "(empty)")

    def test_builtin_content_parts(self):
        r = self.chat({"model": "mock-echo", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "parts work"}]}]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["choices"][0]["message"]["content"], "parts work", r)

    def test_builtin_streamed(self):
        c = self.stream({"model": "mock-echo", "stream": True,
                         "messages": user_msg("one two three four")}).read_all()
        evs = self.check_stream(c, "one two three four", usage_expected=False)
        deltas = [ev["choices"][0]["delta"].get("content") for ev in evs
                  if ev.get("choices") and ev["choices"][0]["delta"].get("content")]
        self.assertEqual(len(deltas), 4, "one word per chunk expected: %r" % deltas)

    def test_builtin_streamed_with_usage(self):
        c = self.stream({"model": "mock-echo", "stream": True,
                         "stream_options": {"include_usage": True},
                         "messages": user_msg("count these words")}).read_all()
        self.check_stream(c, "count these words", usage_expected=True)

    # -- upstream mock

    def test_upstream_unstreamed(self):
        r = self.chat({"model": "up-echo", "messages": user_msg("via the upstream")})
        self.check_completion(r, "via the upstream")

    def test_upstream_request_rewritten(self):
        r = self.chat({"model": "up-echo", "messages": user_msg("check upstream"),
                       "temperature": 0.25, "some_future_field": {"x": [1, 2]}, "user": "u-1"})
        self.assertEqual(r.status, 200, r)
        up = self.last_upstream(r.header("x-request-id"))
        self.assertEqual(up["path"], "/v1/chat/completions", up)
        b = up["body"]
        self.assertEqual(b.get("model"), "echo", b)
        self.assertEqual(b.get("messages"), user_msg("check upstream"), b)
        self.assertEqual(b.get("temperature"), 0.25, b)
        self.assertEqual(b.get("some_future_field"), {"x": [1, 2]}, b)
        self.assertNotIn("stream_options", b, "stream_options added to an unstreamed call")

    def test_upstream_gets_deployment_key_not_client_key(self):
        r = self.chat({"model": "up-echo", "messages": user_msg("keys")})
        self.assertEqual(r.status, 200, r)
        up = self.last_upstream(r.header("x-request-id"))
        self.assertEqual(up["headers"].get("authorization"), "Bearer " + UPSTREAM_KEY, up)
        self.assertNotIn(MASTER_KEY, json.dumps(up["header_list"]), up)
        self.assertNotIn(MASTER_KEY, up["raw_body"], up)

    def test_upstream_literal_key(self):
        r = self.chat({"model": "up-literal", "messages": user_msg("literal")})
        self.assertEqual(r.status, 200, r)
        up = self.last_upstream(r.header("x-request-id"))
        self.assertEqual(up["headers"].get("authorization"), "Bearer " + LITERAL_UPSTREAM_KEY,
                         up)

    def test_request_id_sent_upstream(self):
        r = self.chat({"model": "up-echo", "messages": user_msg("rid")})
        self.assertEqual(r.status, 200, r)
        rid = r.header("x-request-id")
        self.assertRegex(rid or "", HEX32, r)
        # the upstream's own x-request-id (req_mock_...) must not replace or duplicate ours
        self.assertEqual(r.header_all("x-request-id"), [rid], r)
        up = self.last_upstream()
        self.assertEqual(up["headers"].get("x-request-id"), rid, up)

    def test_client_request_id_kept(self):
        rid = "client-Req_1.2-abc"
        r = self.chat({"model": "up-echo", "messages": user_msg("rid")},
                      headers={"X-Request-ID": rid})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header_all("x-request-id"), [rid], r)
        self.assertEqual(self.last_upstream()["headers"].get("x-request-id"), rid)

    def test_client_request_id_invalid_replaced(self):
        for bad in ("has spaces in it", "x" * 129, "semi;colon", "quote\"s"):
            with self.subTest(bad=bad):
                r = self.chat({"model": "mock-echo", "messages": user_msg("rid")},
                              headers={"X-Request-ID": bad})
                self.assertEqual(r.status, 200, r)
                self.assertRegex(r.header("x-request-id") or "", HEX32, r)

    def test_upstream_streamed_without_usage(self):
        c = self.stream({"model": "up-echo", "stream": True,
                         "messages": user_msg("stream me please")}).read_all()
        self.check_stream(c, "stream me please", usage_expected=False)
        up = self.last_upstream(c.header("x-request-id"))
        self.assertEqual(up["body"].get("model"), "echo")
        self.assertIs(up["body"].get("stream"), True)
        self.assertEqual((up["body"].get("stream_options") or {}).get("include_usage"), True,
                         "include_usage not forced upstream: %r" % up["body"])

    def test_upstream_streamed_include_usage_false(self):
        c = self.stream({"model": "up-echo", "stream": True,
                         "stream_options": {"include_usage": False},
                         "messages": user_msg("no usage wanted")}).read_all()
        self.check_stream(c, "no usage wanted", usage_expected=False)
        up = self.last_upstream(c.header("x-request-id"))
        self.assertEqual((up["body"].get("stream_options") or {}).get("include_usage"), True,
                         up["body"])

    def test_upstream_streamed_with_usage(self):
        c = self.stream({"model": "up-echo", "stream": True,
                         "stream_options": {"include_usage": True},
                         "messages": user_msg("usage wanted here")}).read_all()
        self.check_stream(c, "usage wanted here", usage_expected=True)

    def test_upstream_streamed_tool_calls(self):
        c = self.stream({"model": "up-tools", "stream": True,
                         "messages": user_msg("weather?")}).read_all()
        self.assertEqual(c.status, 200, c.text())
        evs = c.json_events()
        args = "".join(tc["function"].get("arguments", "")
                       for ev in evs for ch in ev.get("choices") or []
                       for tc in (ch.get("delta") or {}).get("tool_calls") or [])
        self.assertEqual(json.loads(args), {"city": "Paris"}, c.text())
        self.assertEqual(c.data_events()[-1], "[DONE]")

    def test_alias_path(self):
        r = self.chat({"model": "up-echo", "messages": user_msg("alias works")},
                      path="/chat/completions")
        self.check_completion(r, "alias works")
        r = self.chat({"model": "mock-echo", "messages": user_msg("alias works")},
                      path="/chat/completions")
        self.check_completion(r, "alias works")

    def test_query_string_ignored(self):
        r = self.chat({"model": "mock-echo", "messages": user_msg("q")},
                      path="/v1/chat/completions?api-version=2024-01-01")
        self.check_completion(r, "q")

    def test_user_headers_and_metadata_null(self):
        r = self.chat({"model": "up-echo", "messages": user_msg("meta"), "metadata": None,
                       "user": "end-user-7"},
                      headers={"X-User-ID": "user-42", "X-Session-ID": "sess-1"})
        self.check_completion(r, "meta")
        r = self.chat({"model": "mock-echo", "messages": user_msg("meta"),
                       "metadata": {"team": "a", "purpose": "test"}},
                      headers={"X-User-ID": "user-42"})
        self.check_completion(r, "meta")

    def test_duration_header(self):
        r = self.chat({"model": "up-sleep", "messages": user_msg("slow")})
        self.check_completion(r, "slow")
        self.assertGreaterEqual(int(r.header("x-duration-ms")), 250, r)
        self.assertLess(int(r.header("x-duration-ms")), 5000, r)

    def test_ratelimit_headers_with_control_characters_are_dropped(self):
        """An upstream's x-ratelimit-* header goes on only as a clean header: not with a control
        character in its value, not with a name that is no token; the clean ones still do."""
        for stream in (False, True):
            body = {"model": "up-dirty-headers", "stream": stream,
                    "messages": user_msg("rl dirty")}
            r = self.stream(body).read_all() if stream else self.chat(body)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("x-ratelimit-remaining-requests"), "4999", r)
            names = [k.lower() for k, _ in r.headers]
            self.assertNotIn("x-ratelimit-reset-tokens-esc", names, r.headers)
            self.assertFalse([k for k in names if "bad" in k], r.headers)
            self.assertFalse([v for _, v in r.headers if "\x1b" in v], r.headers)

    def test_ratelimit_headers_passed_through(self):
        r = self.chat({"model": "up-echo", "messages": user_msg("rl")})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("x-ratelimit-limit-requests"), "5000", r)
        self.assertEqual(r.header("x-ratelimit-remaining-requests"), "4999", r)
        self.assertEqual(r.header("x-ratelimit-reset-requests"), "12ms", r)
        self.assertEqual(r.header("x-ratelimit-remaining-tokens"), "1999990", r)
        c = self.stream({"model": "up-echo", "stream": True,
                         "messages": user_msg("rl stream")}).read_all()
        self.assertEqual(c.status, 200)
        self.assertEqual(c.header("x-ratelimit-remaining-requests"), "4999", c.headers)

    def test_unicode_round_trip(self):
        txt = "h\u00e9llo \u4e16\u754c \U0001f389 \"q\" \\ \u2028 tab\there"
        for model in ("mock-echo", "up-echo"):
            with self.subTest(model=model):
                r = self.chat({"model": model, "messages": user_msg(txt)})
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json()["choices"][0]["message"]["content"], txt)
                c = self.stream({"model": model, "stream": True,
                                 "messages": user_msg(txt)}).read_all()
                self.assertEqual(c.content(), txt, c.text())

    def test_litellm_only_parameters_stay_here(self):
        # what LiteLLM's clients send for LiteLLM (its router's per-request settings, mocks,
        # caching, credentials): LiteLLM never forwards them, and OpenAI refuses a body with any
        litellm = {"fallbacks": ["up-echo"], "num_retries": 3, "timeout": 30,
                   "mock_response": "canned", "caching": True, "cache": {"no-cache": True},
                   "tags": ["t1"], "guardrails": ["g"], "litellm_metadata": {"a": 1},
                   "api_key": "sk-client-side-1234", "api_base": "http://127.0.0.1:9/"}
        for stream in (False, True):
            payload = dict({"model": "up-echo", "stream": stream, "temperature": 0.3,
                            "messages": [{"role": "user", "content": "plain"}]}, **litellm)
            r = self.chat(payload)
            self.assertEqual(r.status, 200, r)
            up = self.last_upstream(r.header("x-request-id"))
            self.assertEqual(sorted(set(up["body"]) & set(litellm)), [], up["body"])
            self.assertEqual(up["body"]["temperature"], 0.3)
            self.assertNotIn("sk-client-side-1234", up["raw_body"])

    def test_duplicate_names_the_last_counts_everywhere(self):
        # Python's json (LiteLLM, the providers) reads the last of two members of one name: the
        # gateway must route, check and trace by that one, and send no other upstream
        body = ('{"model":"no-such-model","model":"up-echo","messages":[{"role":"user",'
                '"content":"hidden from the trace","content":"what the model reads"}]}')
        r = self.chat(body.encode())
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["choices"][0]["message"]["content"], "what the model reads")
        up = self.last_upstream(r.header("x-request-id"))
        self.assertNotIn("hidden from the trace", up["raw_body"])
        self.assertEqual(up["raw_body"].count('"model"'), 1, up["raw_body"])
        # an object of many members (sorted, not compared pairwise): the same, and no other
        # member lost
        extra = "".join('"x_%d":%d,' % (i, i) for i in range(40))
        body = ('{"model":"no-such-model",%s"x_7":"last","model":"up-echo","messages":'
                '[{"role":"user","content":"many members"}]}' % extra)
        r = self.chat(body.encode())
        self.assertEqual(r.status, 200, r)
        up = self.last_upstream(r.header("x-request-id"))
        self.assertEqual(up["raw_body"].count('"model"'), 1, up["raw_body"])
        self.assertEqual(up["raw_body"].count('"x_7"'), 1, up["raw_body"])
        self.assertEqual(up["body"]["x_7"], "last")
        self.assertEqual(sorted(k for k in up["body"] if k.startswith("x_")),
                         sorted("x_%d" % i for i in range(40)))
        # the gateway's model first, another one last: the upstream must not be asked for it
        body = ('{"model":"up-echo","model":"gpt-4-unlisted","messages":'
                '[{"role":"user","content":"which model"}]}')
        r = self.chat(body.encode())
        self.assertOpenAIError(r, 404, "model_not_found", param="model")
        self.assertFalse([q for q in self.mock.chat_requests()
                          if "gpt-4-unlisted" in q["raw_body"]])

    def test_chunked_request_body(self):
        import socket
        body = json.dumps({"model": "up-echo", "messages": user_msg("chunked body")}).encode()
        s = socket.create_connection(("127.0.0.1", self.stack.port), timeout=10)
        try:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                      b"Authorization: Bearer " + MASTER_KEY.encode() + b"\r\n"
                      b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                      b"Connection: close\r\n\r\n"
                      + b"%x\r\n" % 10 + body[:10] + b"\r\n"
                      + b"%x\r\n" % (len(body) - 10) + body[10:] + b"\r\n0\r\n\r\n")
            data = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
        finally:
            s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:300])
        self.assertIn(b'"chunked body"', data)

    def test_concurrent_requests(self):
        import concurrent.futures as cf

        def one(i):
            model = "up-echo" if i % 2 else "mock-echo"
            r = self.chat({"model": model, "messages": user_msg("n%d" % i)})
            return r.status, r.json()["choices"][0]["message"]["content"] \
                if r.status == 200 else r.body
        with cf.ThreadPoolExecutor(12) as ex:
            res = list(ex.map(one, range(36)))
        self.assertEqual(res, [(200, "n%d" % i) for i in range(36)])


if __name__ == "__main__":
    unittest.main()
