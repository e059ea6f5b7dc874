"""OpenAI's Responses API (POST /v1/responses) through lighttpd and the pool: the request goes
upstream as the chat completion it stands for, the answer comes back in the Responses shapes,
streamed (named events with sequence numbers, response.completed, no [DONE]) or not; tool
calls both ways; what needs a store is a 400; errors before and inside a stream; keys,
limits, cost and the trace record as for chat. The openai SDK drives the same endpoint in
tests/conformance."""

import json
import os
import re
import stat
import time
import uuid

from stack import (MASTER_KEY, UPSTREAM_KEY, Redis, StackCase, chat_only, mock_model,
                   upstream_model)
from test_keys import new_key
from test_limits import redis_cmd
from test_providers import GEMINI_KEY, GEMINI_SIGNATURE, GeminiMock, WithAnthropicMock, mock_requests, parse_sse
from test_trace import TraceCase

PATH = "/v1/responses"
KEY, DIGEST = new_key("resp-user")
NARROW_KEY, NARROW_DIGEST = new_key("resp-narrow")
OTHER_KEY, OTHER_DIGEST = new_key("resp-other")
RESP_ID = re.compile(r"^resp_[0-9a-f]{32}$")


def sse_events(text):
    """[(event name, parsed data)] of an SSE body ("[DONE]" left as text); comments left out."""
    return [(ev["event"], ev["data"] if ev["data"] == "[DONE]" else json.loads(ev["data"]))
            for ev in parse_sse(text)]


class ResponsesCase(StackCase):
    master_key = MASTER_KEY

    def upstream(self, rid):
        """The one POST the upstream got for the gateway's request rid."""
        reqs = [r for r in self.mock.requests() if r["method"] == "POST" and
                r["headers"].get("x-request-id") == rid]
        self.assertEqual(len(reqs), 1, "upstream calls of %s: %r" % (rid, reqs))
        return reqs[0]

    def post(self, payload, key=None, headers=None):
        return self.chat(payload, key=key or self.master_key, headers=headers, path=PATH)

    def events(self, payload, key=None, headers=None):
        c = self.stream(dict(payload, stream=True), key=key or self.master_key,
                        headers=headers, path=PATH).read_all()
        self.assertEqual(c.status, 200, c.text())
        self.assertTrue((c.header("content-type") or "").startswith("text/event-stream"))
        evs = sse_events(c.text())
        self.assertTrue(evs, c.text())
        self.assertNotIn("[DONE]", [d for _, d in evs], "a Responses stream has no [DONE]")
        for i, (name, data) in enumerate(evs):
            self.assertEqual(name, data.get("type"), "event name and type differ: %r" % data)
            self.assertEqual(data.get("sequence_number"), i, "sequence numbers: %r" % evs)
        return c, evs

    def check_stream_whole(self, evs):
        """The events put together the way the SDK's ResponseStream does, checked against the
        final Response: every item announced at its index, deltas into existing parts."""
        types = [n for n, _ in evs]
        self.assertEqual(types[:2], ["response.created", "response.in_progress"], types)
        self.assertIn(types[-1], ("response.completed", "response.incomplete"), types)
        rid = evs[0][1]["response"]["id"]
        self.assertRegex(rid, RESP_ID)
        output = []
        for name, d in evs:
            if "response" in d:
                self.assertEqual(d["response"]["id"], rid, d)
            if name == "response.output_item.added":
                self.assertEqual(d["output_index"], len(output), d)
                output.append(json.loads(json.dumps(d["item"])))
            elif name == "response.content_part.added":
                item = output[d["output_index"]]
                self.assertEqual(d["item_id"], item["id"], d)
                self.assertEqual(d["content_index"], len(item["content"]), d)
                item["content"].append(d["part"])
            elif name == "response.output_text.delta":
                part = output[d["output_index"]]["content"][d["content_index"]]
                self.assertEqual(part["type"], "output_text", d)
                part["text"] += d["delta"]
            elif name == "response.function_call_arguments.delta":
                item = output[d["output_index"]]
                self.assertEqual(item["type"], "function_call", d)
                item["arguments"] += d["delta"]
            elif name == "response.output_item.done":
                built = output[d["output_index"]]
                self.assertEqual(built["id"], d["item"]["id"], d)
                if built["type"] == "message":
                    self.assertEqual([p.get("text") for p in built["content"]],
                                     [p.get("text") for p in d["item"]["content"]], d)
                if built["type"] == "function_call":
                    self.assertEqual(built["arguments"], d["item"]["arguments"], d)
                output[d["output_index"]] = d["item"]
        final = evs[-1][1]["response"]
        self.assertEqual(final["output"], output, "response.completed's output differs from "
                         "the items the events built")
        return final

    def text_of(self, resp):
        return "".join(p.get("text", "") for it in resp["output"] if it["type"] == "message"
                       for p in it["content"])


class ResponsesTest(ResponsesCase):
    @classmethod
    def models(cls, mock):
        return [mock_model("mock-echo", "echo", 0),
                chat_only(upstream_model("up-echo", mock, "echo")),
                chat_only(upstream_model("up-tools", mock, "tools")),
                chat_only(upstream_model("up-usage", mock, "usage-2000-300-1500-100+words-3-1")),
                chat_only(upstream_model("up-500", mock, "status-500")),
                chat_only(upstream_model("up-400", mock, "status-400")),
                chat_only(upstream_model("up-mistral", mock, "mistral")),
                chat_only(upstream_model("up-cut", mock, "error-after-2+words-5-1")),
                # under first_byte_ms (3000 in base_config): a slow first token, not a timeout
                chat_only(upstream_model("up-slow", mock, "sleep-1600"))]

    @classmethod
    def make_config(cls):
        cfg = super().make_config()
        cfg["keys"] = [{"name": "resp-user", "key_sha256": DIGEST},
                       {"name": "resp-narrow", "key_sha256": NARROW_DIGEST,
                        "models": ["mock-echo"]}]
        return cfg

    def test_unstreamed_text(self):
        rid = uuid.uuid4().hex
        r = self.post({"model": "up-echo", "input": "hello responses",
                       "instructions": "be brief", "max_output_tokens": 50,
                       "temperature": 0.5, "metadata": {"k": "v"}},
                      headers={"X-Request-ID": rid})
        self.assertEqual(r.status, 200, r)
        self.assertTrue((r.header("content-type") or "").startswith("application/json"))
        body = r.json()
        self.assertRegex(body["id"], RESP_ID)
        self.assertEqual((body["object"], body["status"], body["model"]),
                         ("response", "completed", "up-echo"), body)
        self.assertEqual(self.text_of(body), "hello responses", body)
        msg = body["output"][0]
        self.assertEqual((msg["type"], msg["role"], msg["status"]),
                         ("message", "assistant", "completed"), body)
        self.assertTrue(msg["id"].startswith("msg_"), body)
        self.assertEqual((body["instructions"], body["max_output_tokens"], body["temperature"],
                          body["metadata"]), ("be brief", 50, 0.5, {"k": "v"}), body)
        self.assertIsNone(body["error"], body)
        self.assertIsNone(body["incomplete_details"], body)
        u = body["usage"]
        self.assertEqual(u["total_tokens"], u["input_tokens"] + u["output_tokens"], u)
        self.assertGreater(u["output_tokens"], 0, u)
        self.assertIsNotNone(r.header("x-sllmp-cost-usd"), r)
        # upstream: the chat completion it stands for
        b = self.upstream(rid)["body"]
        self.assertEqual(b["model"], "echo", b)
        self.assertEqual(b["messages"], [{"role": "system", "content": "be brief"},
                                         {"role": "user", "content": "hello responses"}], b)
        self.assertEqual(b.get("max_completion_tokens"), 50, b)
        self.assertNotIn("input", b)
        self.assertNotIn("instructions", b)
        self.assertNotIn("max_output_tokens", b)

    def test_also_at_the_path_without_v1(self):
        r = self.chat({"model": "mock-echo", "input": "short path"}, key=self.master_key,
                      path="/responses")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.text_of(r.json()), "short path", r)

    def test_usage_buckets(self):
        r = self.post({"model": "up-usage", "input": "count"})
        self.assertEqual(r.status, 200, r)
        u = r.json()["usage"]
        self.assertEqual(u, {"input_tokens": 2000,
                             "input_tokens_details": {"cached_tokens": 1500,
                                                      "cache_write_tokens": 0},
                             "output_tokens": 300,
                             "output_tokens_details": {"reasoning_tokens": 100},
                             "total_tokens": 2300}, u)

    def test_streamed_text(self):
        c, evs = self.events({"model": "up-echo", "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "stream these four"}]}]})
        final = self.check_stream_whole(evs)
        self.assertEqual(final["status"], "completed", final)
        self.assertEqual(self.text_of(final), "stream these four", final)
        deltas = [d["delta"] for n, d in evs if n == "response.output_text.delta"]
        self.assertEqual(len(deltas), 3, "one delta per upstream chunk: %r" % deltas)
        done = [d for n, d in evs if n == "response.output_text.done"]
        self.assertEqual([d["text"] for d in done], ["stream these four"], evs)
        self.assertGreater(final["usage"]["output_tokens"], 0, final)
        self.assertIsNone(evs[0][1]["response"].get("usage"), evs[0])
        self.assertEqual(evs[0][1]["response"]["status"], "in_progress", evs[0])

    def test_builtin_mock_streamed(self):
        _, evs = self.events({"model": "mock-echo", "input": "one two"})
        self.assertEqual(self.text_of(self.check_stream_whole(evs)), "one two")

    def test_tool_call_round_trip(self):
        tools = [{"type": "function", "name": "get_weather", "description": "weather",
                  "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]
        r = self.post({"model": "up-tools", "input": "weather in Paris?", "tools": tools,
                       "tool_choice": "auto"})
        self.assertEqual(r.status, 200, r)
        body = r.json()
        calls = [it for it in body["output"] if it["type"] == "function_call"]
        self.assertEqual(len(calls), 1, body)
        call = calls[0]
        self.assertEqual((call["call_id"], call["name"], json.loads(call["arguments"]),
                          call["status"]),
                         ("call_mock1", "get_weather", {"city": "Paris"}, "completed"), body)
        self.assertTrue(call["id"].startswith("fc_"), call)
        self.assertEqual(body["tools"], tools, body)
        # streamed, the same call
        _, evs = self.events({"model": "up-tools", "input": "weather in Paris?",
                              "tools": tools})
        final = self.check_stream_whole(evs)
        scall = [it for it in final["output"] if it["type"] == "function_call"]
        self.assertEqual([(c["call_id"], c["name"], c["arguments"]) for c in scall],
                         [(call["call_id"], call["name"], call["arguments"])], final)
        self.assertIn("response.function_call_arguments.done", [n for n, _ in evs])
        # the next turn sends the call and its output back
        rid = uuid.uuid4().hex
        r = self.post({"model": "up-echo", "tools": tools, "input": [
            {"role": "user", "content": "weather in Paris?"},
            {"type": "function_call", "call_id": "call_mock1", "name": "get_weather",
             "arguments": "{\"city\":\"Paris\"}"},
            {"type": "function_call_output", "call_id": "call_mock1", "output": "sunny"},
            {"role": "user", "content": "thanks"}]}, headers={"X-Request-ID": rid})
        self.assertEqual(r.status, 200, r)
        b = self.upstream(rid)["body"]
        self.assertEqual(b["messages"][1]["role"], "assistant", b)
        self.assertEqual(b["messages"][1]["tool_calls"], [
            {"id": "call_mock1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}], b)
        self.assertEqual(b["messages"][2], {"role": "tool", "tool_call_id": "call_mock1",
                                            "content": "sunny"}, b)
        self.assertEqual(b["tools"], [{"type": "function", "function": {
            "name": "get_weather", "description": "weather",
            "parameters": tools[0]["parameters"]}}], b)

    def test_json_schema_format(self):
        rid = uuid.uuid4().hex
        fmt = {"type": "json_schema", "name": "city", "strict": True,
               "schema": {"type": "object", "properties": {"name": {"type": "string"}},
                          "required": ["name"], "additionalProperties": False}}
        r = self.post({"model": "up-echo", "input": "{\"name\":\"Paris\"}",
                       "text": {"format": fmt}, "reasoning": {"effort": "low"}},
                      headers={"X-Request-ID": rid})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["text"]["format"], fmt, r)
        b = self.upstream(rid)["body"]
        self.assertEqual(b["response_format"], {"type": "json_schema", "json_schema": {
            "name": "city", "strict": True, "schema": fmt["schema"]}}, b)
        self.assertEqual(b["reasoning_effort"], "low", b)

    def test_what_cannot_be_carried_is_refused(self):
        cases = [({"tools": [{"type": "web_search"}]}, "tools[0].type"),
                 ({"conversation": "conv_1"}, "conversation"),
                 ({"background": True}, "background"),
                 ({"input": 42}, "input")]
        for extra, param in cases:
            with self.subTest(extra=extra):
                r = self.post(dict({"model": "mock-echo", "input": "x"}, **extra))
                err = self.assertOpenAIError(r, 400, etype="invalid_request_error")
                self.assertTrue((err["param"] or "").startswith(param), err)
        self.assertEqual(self.post({"model": "nope", "input": "x"}).status, 404)
        self.assertOpenAIError(self.post({"input": "x"}), 400, param="model")

    def test_unknown_kept_responses(self):
        r = self.post({"model": "mock-echo", "input": "x", "previous_response_id": "resp_abc"})
        err = self.assertOpenAIError(r, 400, "previous_response_not_found",
                                     param="previous_response_id")
        self.assertEqual(err["message"], "Previous response with id 'resp_abc' not found.")
        r = self.post({"model": "mock-echo", "input": [
            {"role": "user", "content": "x"}, {"type": "item_reference", "id": "msg_1"}]})
        err = self.assertOpenAIError(r, 400, param="input[1]")
        self.assertEqual(err["message"], "Item with id 'msg_1' not found.")
        for path in ("/v1/responses/resp_123", "/v1/responses/" + "resp_" + "0" * 32,
                     "/v1/responses/..%2F..%2Fetc%2Fpasswd", "/responses/resp_x/input_items"):
            with self.subTest(path=path):
                r = self.stack.request("GET", path, None,
                                       {"Authorization": "Bearer " + self.master_key}, 10)
                err = self.assertOpenAIError(r, 404)
                self.assertRegex(err["message"], "not found|Unknown path", err)
        r = self.stack.request("GET", "/v1/responses", None, {}, 10)
        self.assertEqual(r.status, 405, r)
        r = self.stack.request("PUT", "/v1/responses/resp_123", None, {}, 10)
        self.assertEqual(r.status, 405, r)
        self.assertEqual(r.header("allow"), "GET, DELETE, OPTIONS", r)
        r = self.stack.request("GET", "/v1/responses/resp_123", None, {}, 10)
        self.assertOpenAIError(r, 401)

    def test_keys_and_models(self):
        self.assertOpenAIError(self.post({"model": "mock-echo", "input": "x"}, key="sk-wrong"),
                               401)
        self.assertEqual(self.post({"model": "mock-echo", "input": "x"}, key=KEY).status, 200)
        self.assertOpenAIError(self.post({"model": "up-echo", "input": "x"}, key=NARROW_KEY),
                               403, "permission_denied", param="model")
        self.assertEqual(self.post({"model": "mock-echo", "input": "x"},
                                   key=NARROW_KEY).status, 200)

    def test_upstream_error_before_the_stream_is_json(self):
        r = self.post({"model": "up-500", "input": "x"})
        self.assertOpenAIError(r, 502)
        c = self.stream({"model": "up-500", "input": "x", "stream": True},
                        key=self.master_key, path=PATH).read_all()
        self.assertEqual(c.status, 502, c.text())
        self.assertIn("error", json.loads(c.body), c.text())

    def test_upstream_error_names_the_responses_parameter(self):
        # the upstream judged the chat request the gateway made: its param names a chat member
        # the client never sent, which the client must find under its Responses name
        for stream in (False, True):
            with self.subTest(stream=stream):
                r = self.stream({"model": "up-400", "input": "x" * 50, "stream": stream},
                                key=self.master_key, path=PATH).read_all()
                self.assertEqual(r.status, 400, r.text())
                err = json.loads(r.body)["error"]
                self.assertEqual((err["code"], err["param"]), ("context_length_exceeded",
                                                               "input"), err)
        # Mistral's 422 names reasoning_effort, which the client sent as reasoning.effort
        r = self.post({"model": "up-mistral", "input": "x", "reasoning": {"effort": "low"}})
        err = self.assertOpenAIError(r, 422)
        self.assertEqual(err["param"], "reasoning.effort", err)
        # a member the client did send under its chat name keeps it
        r = self.post({"model": "up-mistral", "input": "x", "seed": 3})
        self.assertEqual(self.assertOpenAIError(r, 422)["param"], "seed")

    def test_error_inside_the_stream_fails_the_response(self):
        c = self.stream({"model": "up-cut", "input": "x", "stream": True},
                        key=self.master_key, path=PATH).read_all()
        self.assertEqual(c.status, 200, c.text())
        evs = sse_events(c.text())
        names = [n for n, _ in evs]
        self.assertEqual(names[:2], ["response.created", "response.in_progress"], names)
        self.assertEqual(names[-2:], ["error", "response.failed"], names)
        self.assertNotIn("[DONE]", [d for _, d in evs])
        self.assertEqual([d["sequence_number"] for _, d in evs], list(range(len(evs))))
        err = evs[-2][1]
        self.assertIsInstance(err.get("message"), str, err)
        self.assertIn("code", err)
        failed = evs[-1][1]["response"]
        self.assertEqual(failed["status"], "failed", failed)
        self.assertIsInstance(failed["error"]["message"], str, failed)
        self.assertIn("w1 w2", self.text_of(failed) or "".join(
            d["delta"] for n, d in evs if n == "response.output_text.delta"))

    def test_heartbeats_are_comments(self):
        # a slow first token: SSE comments keep the connection, and the events follow
        c = self.stream({"model": "up-slow", "input": "slow one", "stream": True},
                        key=self.master_key, path=PATH).read_all()
        self.assertEqual(c.status, 200, c.text())
        self.assertIn(": ping", c.text(), "no heartbeat while the upstream was silent")
        evs = sse_events(c.text())
        self.assertEqual(self.text_of(self.check_stream_whole(evs)), "slow one")


class ResponsesTraceTest(ResponsesCase, TraceCase):
    @classmethod
    def models(cls, mock):
        return [chat_only(upstream_model("up-echo", mock, "echo")),
                chat_only(upstream_model("up-tools", mock, "tools"))]

    def test_records_the_chat_it_stood_for(self):
        for stream in (False, True):
            with self.subTest(stream=stream):
                rid = uuid.uuid4().hex
                payload = {"model": "up-echo", "input": "traced words", "instructions": "sys",
                           "stream": stream}
                if stream:
                    self.events(payload, headers={"X-Request-ID": rid})
                else:
                    self.assertEqual(self.post(payload, headers={"X-Request-ID": rid}).status,
                                     200)
                rec = self.record(rid)
                self.assertEqual((rec["status"], rec["name"]), (200, "responses"), rec)
                self.assertEqual(rec["output"]["content"], "traced words", rec)
                self.assertEqual(rec["input"], [{"role": "system", "content": "sys"},
                                                {"role": "user", "content": "traced words"}],
                                 rec)
                self.assertGreater(rec["usage"]["output"], 0, rec)

    def test_tool_calls_recorded(self):
        for stream in (False, True):
            with self.subTest(stream=stream):
                rid = uuid.uuid4().hex
                payload = {"model": "up-tools", "input": "weather?", "stream": stream,
                           "tools": [{"type": "function", "name": "get_weather",
                                      "parameters": {"type": "object"}}]}
                if stream:
                    self.events(payload, headers={"X-Request-ID": rid})
                else:
                    self.assertEqual(self.post(payload, headers={"X-Request-ID": rid}).status,
                                     200)
                calls = self.record(rid)["output"]["tool_calls"]
                self.assertEqual([(c["id"], c["function"]["name"]) for c in calls],
                                 [("call_mock1", "get_weather")], calls)


UPSTREAM_ID = re.compile(r"^resp_[0-9a-f]{48}$")  # the mock's, as long as OpenAI's
PRICED = {"input_cost_per_token": 1e-6, "cache_read_input_token_cost": 0.5e-6,
          "output_cost_per_token": 2e-6}


AZURE_KEY = "azure-mock-KEY"  # the mock's
SECOND_ACCOUNT = "sk-second-upstream-account"


def azure(name, mock, api_version):
    """An azure/ deployment of the mock (api_version None: the v1 API)."""
    p = {"model": "azure/echo", "api_base": "http://127.0.0.1:%d" % mock.port,
         "api_key": "os.environ/MOCK_AZURE_KEY"}
    if api_version is not None:
        p["api_version"] = api_version
    return {"model_name": name, "litellm_params": p}


class NativeCase(ResponsesCase):
    """POST /v1/responses to openai/ deployments: sent to the upstream's own /v1/responses as
    it is, its answer and events coming back as they were."""

    @classmethod
    def models(cls, mock):
        return [upstream_model("nat-echo", mock, "echo"),
                upstream_model("nat-words", mock, "words-4-1"),
                upstream_model("nat-tools", mock, "tools"),
                upstream_model("nat-reasoning", mock, "reasoning"),
                dict(upstream_model("nat-usage", mock, "usage-2000-300-1500-100+words-3-1"),
                     model_info=PRICED),
                upstream_model("nat-cut", mock, "error-after-2+words-5-1"),
                upstream_model("nat-cut-quote", mock, "error-after-2+words-5-1+quote-key"),
                upstream_model("nat-close", mock, "close-after-2+words-5-1"),
                upstream_model("nat-500", mock, "status-500"),
                chat_only(upstream_model("up-echo", mock, "echo")),
                azure("nat-az", mock, "2025-04-01-preview"),
                azure("nat-az-v1", mock, None),
                # one model on two upstream accounts (two keys)
                upstream_model("nat-pair", mock, "echo"),
                upstream_model("nat-pair", mock, "echo", api_key=SECOND_ACCOUNT),
                # LiteLLM's request defaults in litellm_params
                upstream_model("nat-defaults", mock, "echo", temperature=0.3, max_tokens=100,
                               reasoning_effort="low", stop="END")]

    server_env = {"MOCK_AZURE_KEY": AZURE_KEY}

    @classmethod
    def make_config(cls):
        cfg = super().make_config()
        cfg["keys"] = [{"name": "resp-user", "key_sha256": DIGEST},
                       {"name": "resp-other", "key_sha256": OTHER_DIGEST}]
        return cfg

    def turn(self, payload, key=KEY, stream=False):
        """One call; (the Response, what the upstream was sent)."""
        rid = uuid.uuid4().hex
        if stream:
            _, evs = self.events(payload, key=key, headers={"X-Request-ID": rid})
            self.assertEqual(evs[-1][0], "response.completed", evs)
            resp = evs[-1][1]["response"]
        else:
            r = self.post(payload, key=key, headers={"X-Request-ID": rid})
            self.assertEqual(r.status, 200, r)
            resp = r.json()
        return resp, self.upstream(rid)


class ResponsesNativeTest(NativeCase):
    def test_sent_as_it_is(self):
        # every Responses parameter goes on (the translation would drop include, truncation,
        # store...), under the upstream's path, with the deployment's model and key
        payload = {"model": "nat-echo", "input": [{"role": "user", "content": "hello native"}],
                   "instructions": "be brief", "include": ["message.output_text.logprobs"],
                   "truncation": "auto", "store": False, "max_output_tokens": 50,
                   "metadata": {"app": "t"}, "prompt_cache_key": "k1"}
        resp, up = self.turn(payload)
        self.assertTrue(up["path"].endswith("/v1/responses"), up["path"])
        self.assertEqual(up["body"], dict(payload, model="echo"), up["body"])
        self.assertEqual(up["headers"]["authorization"], "Bearer " + UPSTREAM_KEY, up)
        self.assertRegex(resp["id"], UPSTREAM_ID)
        self.assertEqual(self.text_of(resp), "hello native", resp)
        self.assertGreater(resp["usage"]["output_tokens"], 0, resp)

    def test_the_gateways_own_members_stay_here(self):
        # LiteLLM's members (the Responses API refuses them: unknown_parameter) and a metadata
        # that is LiteLLM's (tags as a list; OpenAI takes strings only) do not go upstream, as
        # for chat; the trace still reads them
        resp, up = self.turn({"model": "nat-echo", "input": "x", "num_retries": 2,
                              "tags": ["t"], "metadata": {"tags": ["a"], "trace_name": "n"}})
        self.assertEqual(sorted(up["body"]), ["input", "model"], up["body"])
        self.assertEqual(self.text_of(resp), "x", resp)

    def test_deployment_defaults_under_responses_names(self):
        # the deployment's temperature, max_tokens (max_output_tokens) and reasoning_effort
        # (reasoning.effort) where the client sent none; its stop, which the Responses API has
        # not, left out (the upstream would refuse it)
        _, up = self.turn({"model": "nat-defaults", "input": "x"})
        body = up["body"]
        self.assertEqual((body.get("temperature"), body.get("max_output_tokens"),
                          body.get("reasoning")), (0.3, 100, {"effort": "low"}), body)
        self.assertNotIn("stop", body)
        _, up = self.turn({"model": "nat-defaults", "input": "x", "temperature": 1,
                           "max_output_tokens": 20})
        self.assertEqual((up["body"]["temperature"], up["body"]["max_output_tokens"]), (1, 20))

    def test_azure(self):
        # a dated api-version: /openai/responses?api-version=; the v1 API: /openai/v1/responses;
        # both with the deployment in the body's model and the key as api-key
        for name, path in (("nat-az", "/openai/responses?api-version=2025-04-01-preview"),
                           ("nat-az-v1", "/openai/v1/responses")):
            for stream in (False, True):
                with self.subTest(name=name, stream=stream):
                    resp, up = self.turn({"model": name, "input": "to azure", "stream": stream},
                                         stream=stream)
                    self.assertEqual(up["path"], path)
                    self.assertEqual((up["body"]["model"], up["headers"].get("api-key")),
                                     ("echo", AZURE_KEY), up)
                    self.assertNotIn("authorization", up["headers"])
                    self.assertEqual(self.text_of(resp), "to azure", resp)

    def test_compact(self):
        # Codex's compaction: to the upstream's /responses/compact as it is, its answer back
        body = {"model": "nat-echo", "instructions": "keep it short",
                "input": [{"role": "user", "content": "a long talk"},
                          {"type": "message", "role": "assistant",
                           "content": [{"type": "output_text", "text": "yes"}]}]}
        for path in ("/v1/responses/compact", "/responses/compact"):
            with self.subTest(path=path):
                rid = uuid.uuid4().hex
                r = self.chat(body, key=KEY, path=path, headers={"X-Request-ID": rid})
                self.assertEqual(r.status, 200, r)
                got = r.json()
                self.assertEqual(got["object"], "response.compaction", got)
                self.assertEqual(got["output"][-1]["type"], "compaction", got)
                self.assertIsNotNone(r.header("x-sllmp-cost-usd"), r)
                up = self.upstream(rid)
                self.assertEqual(up["path"], "/v1/responses/compact")
                self.assertEqual(up["body"], dict(body, model="echo"))
        r = self.chat(dict(body, stream=True), key=KEY, path="/v1/responses/compact")
        self.assertEqual((r.status, r.json()["error"]["param"]), (400, "stream"), r)
        # a model without the Responses API of its own has no compaction to give
        r = self.chat(dict(body, model="up-echo"), key=KEY, path="/v1/responses/compact")
        self.assertEqual((r.status, r.json()["error"]["param"]), (400, "model"), r)
        r = self.chat(dict(body, model="no-such"), key=KEY, path="/v1/responses/compact")
        self.assertEqual(r.status, 404, r)

    def test_compact_without_the_deployment_defaults(self):
        # a deployment's request defaults (temperature, max_tokens, reasoning_effort) are for
        # generations: the compaction takes none of them (the upstream refuses them)
        body = {"model": "nat-defaults", "input": [{"role": "user", "content": "a long talk"}]}
        rid = uuid.uuid4().hex
        r = self.chat(body, key=KEY, path="/v1/responses/compact", headers={"X-Request-ID": rid})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.upstream(rid)["body"], dict(body, model="echo"))

    def test_streamed_events_as_they_came(self):
        rid = uuid.uuid4().hex
        c, evs = self.events({"model": "nat-words", "input": "x"},
                             headers={"X-Request-ID": rid})
        types = [n for n, _ in evs]
        self.assertEqual(types[0], "response.created", types)
        self.assertEqual(types[-1], "response.completed", types)
        deltas = "".join(d["delta"] for n, d in evs if n == "response.output_text.delta")
        self.assertEqual(deltas, "w1 w2 w3 w4", evs)
        self.assertRegex(evs[0][1]["response"]["id"], UPSTREAM_ID)
        self.assertEqual(c.header("cache-control"), "no-cache", c)
        self.assertTrue(self.upstream(rid)["body"]["stream"])

    def test_tools_sllmp_cannot_translate_go_through(self):
        # Codex's freeform apply_patch and a hosted tool: a 400 through chat completions
        tools = [{"type": "custom", "name": "apply_patch", "description": "patch files",
                  "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}},
                 {"type": "web_search"}]
        for stream in (False, True):
            with self.subTest(stream=stream):
                resp, up = self.turn({"model": "nat-tools", "input": "fix it", "tools": tools,
                                      "stream": stream}, stream=stream)
                self.assertEqual(up["body"]["tools"], tools)
                calls = [it for it in resp["output"] if it["type"] == "custom_tool_call"]
                self.assertEqual([c["name"] for c in calls], ["apply_patch"], resp)
        r = self.post({"model": "up-echo", "input": "fix it", "tools": tools})
        self.assertEqual((r.status, r.json()["error"]["param"]), (400, "tools[0].type"), r)

    def test_cost_and_usage(self):
        # 2000 in (1500 cached), 300 out (100 reasoning): 500 x 1 + 1500 x 0.5 + 300 x 2 micro-$
        for stream in (False, True):
            with self.subTest(stream=stream):
                payload = {"model": "nat-usage", "input": "x", "stream": stream}
                if stream:
                    c, evs = self.events(payload)
                    self.assertEqual(evs[-1][1]["response"]["usage"]["input_tokens"], 2000)
                    self.assertIn(": x-sllmp-cost-usd 0.00185\n", c.text())
                else:
                    r = self.post(payload)
                    self.assertEqual(r.status, 200, r)
                    self.assertEqual(r.header("x-sllmp-cost-usd"), "0.00185", r)

    def test_reasoning_goes_back_encrypted(self):
        # stateless (store: false), as Codex runs: the reasoning item comes with its
        # encrypted_content and goes back in the next turn's input; the upstream takes it
        first, _ = self.turn({"model": "nat-reasoning", "input": "think", "store": False,
                              "include": ["reasoning.encrypted_content"]})
        items = first["output"]
        self.assertEqual(items[0]["type"], "reasoning", items)
        self.assertIn("encrypted_content", items[0])
        nxt, up = self.turn({"model": "nat-reasoning", "store": False,
                             "include": ["reasoning.encrypted_content"],
                             "input": [{"role": "user", "content": "think"}] + items +
                                      [{"role": "user", "content": "again"}]})
        self.assertEqual(up["body"]["input"][1], items[0])
        self.assertEqual(self.text_of(nxt), "again", nxt)

    def test_the_upstreams_own_state_is_its_own(self):
        # an id the upstream made goes back to it as it is: previous_response_id and
        # item_reference (the AI SDK's next turn), which the upstream resolves
        first, _ = self.turn({"model": "nat-echo", "input": "remember me"})
        second, up = self.turn({"model": "nat-echo", "input": "and now",
                                "previous_response_id": first["id"]})
        self.assertEqual(up["body"]["previous_response_id"], first["id"])
        self.assertEqual(up["body"]["input"], "and now")
        msg = [it for it in first["output"] if it["type"] == "message"][0]
        _, up = self.turn({"model": "nat-echo", "input": [
            {"role": "user", "content": "remember me"},
            {"type": "item_reference", "id": msg["id"]},
            {"role": "user", "content": "third"}]})
        self.assertEqual(up["body"]["input"][1], {"type": "item_reference", "id": msg["id"]})
        # nothing of an upstream's answer is kept here
        r = self.stack.request("GET", "/v1/responses/" + second["id"], None,
                               {"Authorization": "Bearer " + MASTER_KEY})
        self.assertEqual(r.status, 404, r)

    def test_an_upstreams_response_is_the_keys_and_stays_on_its_account(self):
        first, up = self.turn({"model": "nat-pair", "input": "account one"})
        account = up["headers"]["authorization"]
        # the next turns go to the upstream account that keeps it, whichever the router picks
        for i in range(6):
            nxt, up = self.turn({"model": "nat-pair", "input": "turn %d" % i,
                                 "previous_response_id": first["id"]})
            self.assertEqual(up["headers"]["authorization"], account, i)
            self.assertEqual(up["body"]["previous_response_id"], first["id"])
        # another key's: not found, and nothing goes upstream
        before = len(self.mock.responses_requests())
        r = self.post({"model": "nat-pair", "input": "x", "previous_response_id": first["id"]},
                      key=OTHER_KEY)
        self.assertEqual((r.status, r.json()["error"]["code"]),
                         (400, "previous_response_not_found"), r)
        self.assertEqual(len(self.mock.responses_requests()), before)
        # through chat completions it cannot go on: the conversation is the upstream's
        r = self.post({"model": "up-echo", "input": "x", "previous_response_id": first["id"]},
                      key=KEY)
        self.assertEqual((r.status, r.json()["error"]["param"]), (400, "previous_response_id"), r)
        self.assertIn("own Responses API", r.json()["error"]["message"])

    def test_get_input_items_and_delete_reach_the_upstream(self):
        first, _ = self.turn({"model": "nat-pair", "input": "kept upstream"})
        rid = first["id"]
        h = {"Authorization": "Bearer " + KEY}
        r = self.stack.request("GET", "/v1/responses/" + rid, None, h)
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json()["id"], self.text_of(r.json())), (rid, "kept upstream"), r)
        r = self.stack.request("GET", "/v1/responses/%s/input_items?order=asc&limit=5" % rid,
                               None, h)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"][0]["content"], "kept upstream", r)
        got = [q for q in self.mock.requests() if q["method"] == "GET" and rid in q["path"]]
        self.assertEqual(got[-1]["path"], "/v1/responses/%s/input_items?order=asc&limit=5" % rid)
        self.assertNotEqual(got[-1]["headers"]["authorization"], "Bearer " + KEY)
        # another key: not found, not asked upstream
        r = self.stack.request("GET", "/v1/responses/" + rid, None,
                               {"Authorization": "Bearer " + OTHER_KEY})
        self.assertEqual(r.status, 404, r)
        r = self.stack.request("DELETE", "/v1/responses/" + rid, None, h)
        self.assertEqual((r.status, r.json().get("deleted")), (200, True), r)
        r = self.stack.request("GET", "/v1/responses/" + rid, None, h)
        self.assertEqual(r.status, 404, r)

    def test_head_of_an_upstreams_response(self):
        # HEAD goes where GET does: the upstream is asked with a GET, the answer has no body
        first, _ = self.turn({"model": "nat-pair", "input": "kept upstream"})
        h = {"Authorization": "Bearer " + KEY}
        t0 = time.monotonic()
        r = self.stack.request("HEAD", "/v1/responses/" + first["id"], None, h, 10)
        self.assertEqual(r.status, 200, r)
        self.assertLess(time.monotonic() - t0, 2)
        got = [q for q in self.mock.requests() if first["id"] in q["path"]]
        self.assertEqual(got[-1]["method"], "GET", got[-1])

    def test_background_and_cancel_reach_the_upstream(self):
        # background (o3-pro's, deep research's) goes as it is; its cancel reaches the upstream
        # that keeps it; one answered here had nothing running to cancel
        first, up = self.turn({"model": "nat-pair", "input": "long job", "background": True})
        self.assertIs(up["body"]["background"], True)
        h = {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"}
        r = self.stack.request("POST", "/v1/responses/%s/cancel" % first["id"], "", h)
        self.assertEqual((r.status, r.json().get("status")), (200, "cancelled"), r)
        r = self.stack.request("POST", "/v1/responses/%s/cancel" % first["id"], "",
                               dict(h, Authorization="Bearer " + OTHER_KEY))
        self.assertEqual(r.status, 404, r)
        kept = self.post({"model": "up-echo", "input": "answered here"}, key=KEY).json()
        r = self.stack.request("POST", "/v1/responses/%s/cancel" % kept["id"], "", h)
        self.assertEqual(r.status, 400, r)
        # the methods of each path
        r = self.stack.request("POST", "/v1/responses/" + kept["id"], "", h)
        self.assertEqual((r.status, r.header("allow")), (405, "GET, DELETE, OPTIONS"), r)
        r = self.stack.request("GET", "/v1/responses/%s/cancel" % kept["id"], None, h)
        self.assertEqual((r.status, r.header("allow")), (405, "POST, OPTIONS"), r)
        r = self.stack.request("GET", "/v1/responses/%s/other" % kept["id"], None, h)
        self.assertEqual(r.status, 404, r)

    def test_conversations_reach_the_upstream_that_keeps_them(self):
        h = {"Authorization": "Bearer " + KEY, "Content-Type": "application/json"}
        other = dict(h, Authorization="Bearer " + OTHER_KEY)
        r = self.stack.request("POST", "/v1/conversations",
                               json.dumps({"metadata": {"topic": "t"}}), h)
        self.assertEqual(r.status, 200, r)
        cid = r.json()["id"]
        made = [q for q in self.mock.requests() if q["path"] == "/v1/conversations"][-1]
        self.assertEqual(made["headers"]["authorization"], "Bearer " + UPSTREAM_KEY)
        r = self.stack.request("POST", "/v1/conversations/%s/items" % cid, json.dumps(
            {"items": [{"type": "message", "role": "user", "content": "hi"}]}), h)
        self.assertEqual(r.status, 200, r)
        r = self.stack.request("GET", "/v1/conversations/%s/items?limit=5" % cid, None, h)
        self.assertEqual((r.status, len(r.json()["data"])), (200, 1), r)
        # another key: not found, not asked upstream
        asked = lambda: [q for q in self.mock.requests() if "/_mock" not in q["path"]]
        before = len(asked())
        r = self.stack.request("GET", "/v1/conversations/" + cid, None, other)
        self.assertEqual(r.status, 404, r)
        r = self.post({"model": "nat-pair", "input": "x", "conversation": cid}, key=OTHER_KEY)
        self.assertEqual((r.status, r.json()["error"]["param"]), (400, "conversation"), r)
        self.assertEqual(len(asked()), before)
        # its responses go to the account that keeps it, whichever the router picks
        for i in range(6):
            _, up = self.turn({"model": "nat-pair", "input": "turn %d" % i,
                               "conversation": cid})
            self.assertEqual(up["headers"]["authorization"], "Bearer " + UPSTREAM_KEY, i)
            self.assertEqual(up["body"]["conversation"], cid)
        r = self.stack.request("DELETE", "/v1/conversations/" + cid, None, h)
        self.assertEqual((r.status, r.json().get("deleted")), (200, True), r)
        r = self.stack.request("GET", "/v1/conversations/" + cid, None, h)
        self.assertEqual(r.status, 404, r)

    def test_a_conversation_kept_here_goes_whole(self):
        # begun through chat completions (kept here), gone on natively: the whole conversation
        # is sent, without the ids the upstream never made
        first = self.post({"model": "up-echo", "input": "begun translated"}, key=KEY)
        self.assertEqual(first.status, 200, first)
        self.assertRegex(first.json()["id"], RESP_ID)
        resp, up = self.turn({"model": "nat-echo", "input": "continued native",
                              "previous_response_id": first.json()["id"]})
        body = up["body"]
        self.assertNotIn("previous_response_id", body)
        self.assertEqual([(it.get("role"), "id" in it) for it in body["input"]],
                         [("user", False), ("assistant", False), ("user", False)], body)
        self.assertEqual(self.text_of(resp), "continued native", resp)
        # another key does not see it: the same 400 as through chat completions
        r = self.post({"model": "nat-echo", "input": "x",
                       "previous_response_id": first.json()["id"]})
        self.assertEqual((r.status, r.json()["error"]["code"]),
                         (400, "previous_response_not_found"), r)

    def test_upstream_error_before_the_stream(self):
        for stream in (False, True):
            with self.subTest(stream=stream):
                r = self.post({"model": "nat-500", "input": "x", "stream": stream})
                self.assertEqual(r.status, 502, r)
                self.assertEqual(r.json()["error"]["type"], "server_error", r)
                self.assertEqual(r.header("x-should-retry"), "true", r)

    def test_failure_inside_the_stream(self):
        # the upstream's own response.failed goes on as it came, and nothing after it
        _, evs = self.events({"model": "nat-cut", "input": "x"})
        types = [n for n, _ in evs]
        self.assertEqual(types[-1], "response.failed", types)
        self.assertEqual(types.count("response.failed"), 1, types)
        self.assertEqual(types.count("response.output_text.delta"), 2, types)

    def test_failure_inside_the_stream_keeps_the_key(self):
        # an upstream's failure that quotes the key it was sent goes on without it, as chat's
        # error event does
        c, evs = self.events({"model": "nat-cut-quote", "input": "x"})
        self.assertEqual(evs[-1][0], "response.failed", evs)
        self.assertIn("Bearer [REDACTED]", evs[-1][1]["response"]["error"]["message"], evs)
        self.assertNotIn(UPSTREAM_KEY, c.text())

    def test_cut_stream_ends_failed(self):
        # the upstream's connection closes mid-answer: the gateway ends the stream as the
        # upstream would have, an error event then response.failed, numbered on
        _, evs = self.events({"model": "nat-close", "input": "x"})
        types = [n for n, _ in evs]
        self.assertEqual(types[-2:], ["error", "response.failed"], types)
        failed = evs[-1][1]["response"]
        self.assertEqual(failed["status"], "failed", failed)
        self.assertEqual(failed["id"], evs[0][1]["response"]["id"], failed)
        self.assertTrue(failed["error"]["message"], failed)


class ResponsesNativeTraceTest(NativeCase, TraceCase):
    def test_record_keeps_the_items(self):
        for stream in (False, True):
            with self.subTest(stream=stream):
                rid = uuid.uuid4().hex
                payload = {"model": "nat-reasoning", "input": "traced native",
                           "instructions": "sys", "store": False, "stream": stream,
                           "include": ["reasoning.encrypted_content"]}
                if stream:
                    self.events(payload, headers={"X-Request-ID": rid})
                else:
                    self.assertEqual(self.post(payload, headers={"X-Request-ID": rid}).status,
                                     200)
                rec = self.record(rid)
                self.assertEqual((rec["status"], rec["name"]), (200, "responses"), rec)
                self.assertEqual(rec["input"], {"instructions": "sys",
                                                "input": "traced native"}, rec)
                types = [it["type"] for it in rec["output"]]
                self.assertEqual(types, ["reasoning", "message"], rec)
                self.assertEqual([it for it in rec["output"] if "encrypted_content" in it], [],
                                 rec)
                self.assertFalse(rec["usage"].get("estimated"), rec)
                self.assertGreater(rec["usage"]["output"], 0, rec)

    def test_a_failed_stream_is_an_error_record(self):
        rid = uuid.uuid4().hex
        self.events({"model": "nat-cut", "input": "x"}, headers={"X-Request-ID": rid})
        rec = self.record(rid)
        self.assertEqual(rec["level"], "ERROR", rec)


class ResponsesAnthropicTest(WithAnthropicMock, ResponsesCase):
    """Another provider behind the same door: Claude's thinking comes back as a reasoning
    item, before the message."""

    @classmethod
    def models(cls, mock):
        return [cls.anthropic_model("claude-think", "thinking"),
                cls.anthropic_model("claude-think-tools", "thinking+tools")]

    def test_codex_shaped_request(self):
        # what Codex sends a model it gives function tools (a Claude behind the gateway):
        # stateless, streamed, its include, prompt_cache_key, text.verbosity, summary "auto"
        body = {"model": "claude-think-tools", "instructions": "You are Codex.",
                "input": [{"type": "message", "role": "user",
                           "content": [{"type": "input_text", "text": "list files"}]}],
                "tools": [{"type": "function", "name": "shell", "description": "run a command",
                           "strict": False,
                           "parameters": {"type": "object", "properties": {
                               "command": {"type": "array", "items": {"type": "string"}}},
                               "required": ["command"], "additionalProperties": False}}],
                "tool_choice": "auto", "parallel_tool_calls": False,
                "reasoning": {"effort": "medium", "summary": "auto"}, "store": False,
                "include": ["reasoning.encrypted_content"], "prompt_cache_key": str(uuid.uuid4()),
                "text": {"verbosity": "medium"}}
        _, evs = self.events(body)
        first = self.check_stream_whole(evs)
        calls = [it for it in first["output"] if it["type"] == "function_call"]
        self.assertTrue(calls, first)
        nxt = dict(body, input=body["input"] + first["output"] + [
            {"type": "function_call_output", "call_id": c["call_id"], "output": "a.txt"}
            for c in calls])
        _, evs = self.events(nxt)
        self.assertEqual(evs[-1][0], "response.completed", evs)
        sent = mock_requests(self.anthropic)[-1]["body"]
        self.assertEqual(sent["messages"][1]["content"][0]["type"], "thinking", sent)

    def test_thinking_goes_back_signed_through_a_tool_loop(self):
        # Claude refuses thinking on a turn whose tool use comes without its signed block: the
        # block rides in the reasoning item's encrypted_content and comes back on the next turn,
        # whether the client sends the items again or previous_response_id
        tools = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}}]
        for stream in (False, True):
            with self.subTest(stream=stream):
                payload = {"model": "claude-think-tools", "input": "weather?", "tools": tools,
                           "reasoning": {"effort": "low"}}
                if stream:
                    _, evs = self.events(payload)
                    first = self.check_stream_whole(evs)
                else:
                    r = self.post(payload)
                    self.assertEqual(r.status, 200, r)
                    first = r.json()
                reasoning = [it for it in first["output"] if it["type"] == "reasoning"]
                self.assertTrue(reasoning and reasoning[0].get("encrypted_content"), first)
                outputs = [{"type": "function_call_output", "call_id": it["call_id"],
                            "output": "18C"}
                           for it in first["output"] if it["type"] == "function_call"]
                for nxt in ({"input": [{"role": "user", "content": "weather?"}] +
                             first["output"] + outputs},
                            {"previous_response_id": first["id"], "input": outputs}):
                    r = self.post(dict({"model": "claude-think-tools", "tools": tools,
                                        "reasoning": {"effort": "low"}}, **nxt))
                    self.assertEqual(r.status, 200, r)
                    sent = mock_requests(self.anthropic)[-1]["body"]
                    self.assertEqual(sent["thinking"]["type"], "enabled", sent)
                    self.assertEqual(sent["messages"][1]["content"][0]["type"], "thinking", sent)
                    self.assertTrue(sent["messages"][1]["content"][0]["signature"], sent)

    def test_reasoning_items(self):
        payload = {"model": "claude-think", "input": "think about it",
                   "reasoning": {"effort": "low"}}
        r = self.post(payload)
        self.assertEqual(r.status, 200, r)
        body = r.json()
        types = [it["type"] for it in body["output"]]
        self.assertEqual(types, ["reasoning", "message"], body)
        summary = body["output"][0]["summary"]
        self.assertTrue(summary and summary[0]["type"] == "summary_text" and summary[0]["text"],
                        body)
        self.assertGreater(body["usage"]["output_tokens"], 0, body)
        _, evs = self.events(payload)
        final = self.check_stream_whole(evs)
        self.assertEqual([it["type"] for it in final["output"]], ["reasoning", "message"])
        self.assertEqual(final["output"][0]["summary"][0]["text"], summary[0]["text"])
        self.assertEqual(self.text_of(final), self.text_of(body))
        self.assertIn("response.reasoning_summary_text.delta", [n for n, _ in evs])


TOOLS = [{"type": "function", "name": "get_weather", "description": "weather",
          "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}]


class KeptTests:
    """The kept responses (sllmp.responses): previous_response_id and item_reference send the
    whole conversation upstream, GET / DELETE / input_items, per key. Subclasses pick where
    the records live."""

    @classmethod
    def models(cls, mock):
        return [mock_model("mock-echo", "echo", 0),
                chat_only(upstream_model("up-echo", mock, "echo")),
                chat_only(upstream_model("up-tools", mock, "tools"))]

    @classmethod
    def make_config(cls):
        cfg = super().make_config()
        cfg["keys"] = [{"name": "resp-user", "key_sha256": DIGEST},
                       {"name": "resp-other", "key_sha256": OTHER_DIGEST}]
        return cfg

    def upstream_messages(self, rid):
        return self.upstream(rid)["body"]["messages"]

    def turn(self, payload, key=KEY):
        rid = uuid.uuid4().hex
        r = self.post(payload, key=key, headers={"X-Request-ID": rid})
        self.assertEqual(r.status, 200, r)
        return r.json(), self.upstream_messages(rid)

    def get(self, path, key=KEY, method="GET"):
        return self.stack.request(method, path, None, {"Authorization": "Bearer " + key}, 10)

    def test_previous_response_id_sends_the_whole_conversation(self):
        first, _ = self.turn({"model": "up-echo", "instructions": "be brief",
                              "input": "first turn"})
        self.assertTrue(first["store"], first)
        self.assertIsNone(first["previous_response_id"], first)
        second, sent = self.turn({"model": "up-echo", "input": "second turn",
                                  "instructions": "be kind", "previous_response_id": first["id"]})
        # the earlier instructions are not carried over (OpenAI's rule), the turns are
        self.assertEqual(sent, [{"role": "system", "content": "be kind"},
                                {"role": "user", "content": "first turn"},
                                {"role": "assistant", "content": "first turn"},
                                {"role": "user", "content": "second turn"}])
        self.assertEqual(second["previous_response_id"], first["id"], second)
        self.assertNotEqual(second["id"], first["id"])
        _, sent = self.turn({"model": "up-echo", "previous_response_id": second["id"],
                             "input": [{"role": "user", "content": "third turn"}]})
        self.assertEqual([m["content"] for m in sent],
                         ["first turn", "first turn", "second turn", "second turn", "third turn"])

    def test_a_streamed_answer_is_kept(self):
        _, evs = self.events({"model": "up-echo", "input": "streamed turn"}, key=KEY)
        final = self.check_stream_whole(evs)
        self.assertTrue(final["store"], final)
        got = self.get("/v1/responses/" + final["id"])
        self.assertEqual(got.status, 200, got)
        self.assertEqual(got.json(), final)
        _, sent = self.turn({"model": "up-echo", "input": "next",
                             "previous_response_id": final["id"]})
        self.assertEqual([m["content"] for m in sent], ["streamed turn", "streamed turn", "next"])

    def test_item_references(self):
        first, _ = self.turn({"model": "up-echo", "input": "remember me"})
        msg_id = first["output"][0]["id"]
        # the AI SDK's form, and the typeless one the openai types allow
        for ref in ({"type": "item_reference", "id": msg_id}, {"id": msg_id}):
            with self.subTest(ref=ref):
                _, sent = self.turn({"model": "up-echo", "input": [
                    {"role": "user", "content": "remember me"}, ref,
                    {"role": "user", "content": "and now"}]})
                self.assertEqual(sent, [{"role": "user", "content": "remember me"},
                                        {"role": "assistant", "content": "remember me"},
                                        {"role": "user", "content": "and now"}])
        # an input item of a kept response can be named too (its id from input_items)
        items = self.get("/v1/responses/%s/input_items" % first["id"]).json()["data"]
        _, sent = self.turn({"model": "up-echo", "input": [
            {"type": "item_reference", "id": items[0]["id"]}]})
        self.assertEqual(sent, [{"role": "user", "content": "remember me"}])
        r = self.post({"model": "up-echo", "input": [
            {"role": "user", "content": "x"},
            {"type": "item_reference", "id": msg_id[:-2] + "7f"}]}, key=KEY)
        self.assertOpenAIError(r, 400, param="input[1]")

    def test_tool_round_trip_by_previous_response_id(self):
        first, _ = self.turn({"model": "up-tools", "input": "weather in Paris?",
                              "tools": TOOLS})
        call = [it for it in first["output"] if it["type"] == "function_call"][0]
        _, sent = self.turn({"model": "up-echo", "tools": TOOLS,
                             "previous_response_id": first["id"],
                             "input": [{"type": "function_call_output",
                                        "call_id": call["call_id"], "output": "sunny"}]})
        self.assertEqual(sent[0], {"role": "user", "content": "weather in Paris?"})
        self.assertEqual(sent[1]["role"], "assistant", sent)
        self.assertEqual(sent[1]["tool_calls"], [{
            "id": call["call_id"], "type": "function",
            "function": {"name": "get_weather", "arguments": call["arguments"]}}], sent)
        self.assertEqual(sent[2], {"role": "tool", "tool_call_id": call["call_id"],
                                   "content": "sunny"})

    def test_an_error_names_the_clients_own_item(self):
        first, _ = self.turn({"model": "up-echo", "input": "one"})
        r = self.post({"model": "up-echo", "previous_response_id": first["id"],
                       "input": [{"role": "user", "content": "ok"},
                                 {"type": "no_such_item"}]}, key=KEY)
        err = self.assertOpenAIError(r, 400)
        self.assertEqual(err["param"], "input[1].type", err)
        r = self.post({"model": "up-echo", "input": "x", "previous_response_id": 42}, key=KEY)
        self.assertOpenAIError(r, 400, param="previous_response_id")

    def test_store_false_is_not_kept(self):
        body, _ = self.turn({"model": "up-echo", "input": "forget me", "store": False})
        self.assertFalse(body["store"], body)
        self.assertOpenAIError(self.get("/v1/responses/" + body["id"]), 404)
        r = self.post({"model": "up-echo", "input": "x", "previous_response_id": body["id"]},
                      key=KEY)
        self.assertOpenAIError(r, 400, "previous_response_not_found")
        # while it may still refer to kept ones (what the AI SDK does with store: false is
        # send everything, which works either way)
        kept, _ = self.turn({"model": "up-echo", "input": "keep me"})
        _, sent = self.turn({"model": "up-echo", "input": "y", "store": False,
                             "previous_response_id": kept["id"]})
        self.assertEqual(len(sent), 3, sent)

    def test_another_key_sees_nothing(self):
        body, _ = self.turn({"model": "up-echo", "input": "mine"})
        rid = body["id"]
        for key in (OTHER_KEY, self.master_key):
            with self.subTest(key=key[:8]):
                self.assertOpenAIError(self.get("/v1/responses/" + rid, key=key), 404)
                self.assertOpenAIError(self.get("/v1/responses/%s/input_items" % rid, key=key),
                                       404)
                self.assertOpenAIError(self.get("/v1/responses/" + rid, key=key,
                                                method="DELETE"), 404)
                r = self.post({"model": "up-echo", "input": "x", "previous_response_id": rid},
                              key=key)
                self.assertOpenAIError(r, 400, "previous_response_not_found")
                r = self.post({"model": "up-echo", "input": [
                    {"type": "item_reference", "id": body["output"][0]["id"]}]}, key=key)
                self.assertOpenAIError(r, 400, param="input[0]")
        self.assertEqual(self.get("/v1/responses/" + rid).status, 200)

    def test_input_items_and_delete(self):
        first, _ = self.turn({"model": "up-echo", "input": "a"})
        second, _ = self.turn({"model": "up-echo", "previous_response_id": first["id"],
                               "input": [{"role": "user", "content": "b"},
                                         {"role": "user", "content": "c"}]})
        lst = self.get("/v1/responses/%s/input_items" % second["id"]).json()
        self.assertEqual(lst["object"], "list", lst)
        # newest first, as OpenAI's; every message a message item with content parts
        self.assertEqual([(it["type"], it["role"], it["content"][0]["type"],
                           it["content"][0]["text"]) for it in lst["data"]],
                         [("message", "user", "input_text", "c"),
                          ("message", "user", "input_text", "b"),
                          ("message", "assistant", "output_text", "a"),
                          ("message", "user", "input_text", "a")], lst)
        self.assertFalse(lst["has_more"], lst)
        self.assertEqual((lst["first_id"], lst["last_id"]),
                         (lst["data"][0]["id"], lst["data"][-1]["id"]), lst)
        self.assertEqual(len({it["id"] for it in lst["data"]}), 4, lst)
        asc = self.get("/v1/responses/%s/input_items?order=asc&limit=2" % second["id"]).json()
        self.assertEqual([it["id"] for it in asc["data"]],
                         [it["id"] for it in reversed(lst["data"])][:2], asc)
        self.assertTrue(asc["has_more"], asc)
        rest = self.get("/v1/responses/%s/input_items?order=asc&limit=2&after=%s"
                        % (second["id"], asc["last_id"])).json()
        self.assertEqual([it["id"] for it in asc["data"] + rest["data"]],
                         [it["id"] for it in reversed(lst["data"])], rest)
        self.assertFalse(rest["has_more"], rest)
        r = self.get("/v1/responses/%s/input_items?limit=0" % second["id"])
        self.assertOpenAIError(r, 400, param="limit")
        # delete: gone for GET, for previous_response_id and for a second delete
        r = self.get("/v1/responses/" + first["id"], method="DELETE")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"id": first["id"], "object": "response", "deleted": True})
        self.assertOpenAIError(self.get("/v1/responses/" + first["id"]), 404)
        self.assertOpenAIError(self.get("/v1/responses/" + first["id"], method="DELETE"), 404)
        r = self.post({"model": "up-echo", "input": "x", "previous_response_id": first["id"]},
                      key=KEY)
        self.assertOpenAIError(r, 400, "previous_response_not_found")
        # the later turn holds its own copy of the conversation
        _, sent = self.turn({"model": "up-echo", "input": "d",
                             "previous_response_id": second["id"]})
        self.assertEqual(len(sent), 6, sent)


class ResponsesKeptTest(KeptTests, ResponsesCase):
    """Kept in files under the pool's runtime directory (no Redis)."""

    def kept_file(self, rid):
        return os.path.join(self.stack.rundir, "responses", rid + ".json")

    def test_files_are_private_and_hold_no_key(self):
        body, _ = self.turn({"model": "up-echo", "input": "private"})
        path = self.kept_file(body["id"])
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode), 0o700)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        rec = json.loads(text)
        self.assertEqual(rec["owner"], "resp-user", rec)
        self.assertEqual(rec["response"], body)
        self.assertNotIn(KEY, text)
        self.assertNotIn(DIGEST, text)

    def test_expired_is_gone(self):
        body, _ = self.turn({"model": "up-echo", "input": "old"})
        path = self.kept_file(body["id"])
        past = time.time() - 31 * 86400   # the default ttl is 30d
        os.utime(path, (past, past))
        self.assertOpenAIError(self.get("/v1/responses/" + body["id"]), 404)
        self.assertFalse(os.path.exists(path), "an expired record read is removed")
        r = self.post({"model": "up-echo", "input": "x", "previous_response_id": body["id"]},
                      key=KEY)
        self.assertOpenAIError(r, 400, "previous_response_not_found")


class ResponsesKeptRedisTest(KeptTests, ResponsesCase):
    """Kept in Redis when the limits store is Redis: every host sees them, with a TTL."""

    @classmethod
    def setUpClass(cls):
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.cleanup)
        cls.redis.start()
        super().setUpClass()

    @classmethod
    def make_config(cls):
        cfg = super().make_config()
        cfg["sllmp"]["redis"] = {"url": cls.redis.url, "timeout_ms": 1000}
        cfg["sllmp"]["responses"] = {"ttl": "2h"}
        return cfg

    def test_kept_in_redis_with_a_ttl(self):
        body, _ = self.turn({"model": "up-echo", "input": "in redis"})
        key = "{sllmp:doc:%s}" % body["id"]
        rec = json.loads(redis_cmd(self.redis.port, "GET", key))
        self.assertEqual(rec["response"], body)
        ttl = redis_cmd(self.redis.port, "TTL", key)
        self.assertTrue(7000 < ttl <= 7200, ttl)
        self.assertFalse(os.path.exists(os.path.join(self.stack.rundir, "responses")),
                         "with Redis, no files")
        # deleted behind the gateway's back (expired): not found
        redis_cmd(self.redis.port, "DEL", key)
        self.assertOpenAIError(self.get("/v1/responses/" + body["id"]), 404)

    def test_redis_down(self):
        body, _ = self.turn({"model": "up-echo", "input": "before"})
        self.redis.stop()
        try:
            t0 = time.monotonic()
            r = self.post({"model": "up-echo", "input": "x",
                           "previous_response_id": body["id"]}, key=KEY)
            self.assertOpenAIError(r, 503, "store_unavailable")
            self.assertLess(time.monotonic() - t0, 10)
            self.assertOpenAIError(self.get("/v1/responses/" + body["id"]), 503,
                                   "store_unavailable")
            # an answer is still given when it cannot be kept
            r = self.post({"model": "up-echo", "input": "still answered"}, key=KEY)
            self.assertEqual(r.status, 200, r)
        finally:
            self.redis.start()
            # each thread's connection tries again once its short down time is over
            deadline = time.monotonic() + 10
            while self.get("/v1/responses/" + body["id"]).status == 503:
                self.assertLess(time.monotonic(), deadline, "Redis back, the store still down")
                time.sleep(0.2)


class ResponsesNotKeptTest(ResponsesCase):
    """sllmp.responses.store: false: nothing is kept, and what needs it says how to do
    without (what the AI SDK does with store: false)."""

    sllmp = {"responses": {"store": False}}

    @classmethod
    def models(cls, mock):
        return [mock_model("mock-echo", "echo", 0)]

    def test_nothing_kept(self):
        r = self.post({"model": "mock-echo", "input": "x"})
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertFalse(body["store"], body)
        self.assertFalse(os.path.exists(os.path.join(self.stack.rundir, "responses")))
        r = self.stack.request("GET", "/v1/responses/" + body["id"], None,
                               {"Authorization": "Bearer " + self.master_key}, 10)
        err = self.assertOpenAIError(r, 404)
        self.assertIn("keeps no responses", err["message"], err)
        for extra, param in (({"previous_response_id": body["id"]}, "previous_response_id"),
                             ({"input": [{"type": "item_reference", "id": "msg_1"}]},
                              "input[0]")):
            with self.subTest(param=param):
                r = self.post(dict({"model": "mock-echo", "input": "x"}, **extra))
                err = self.assertOpenAIError(r, 400, param=Ellipsis)
                self.assertTrue(err["param"].startswith(param), err)
                self.assertIn("store: false", err["message"], err)


class ChatViaResponsesTest(ResponsesCase):
    """Chat completions to a deployment whose model has only the Responses API (LiteLLM's
    openai/responses/<model> route): the chat request goes to the upstream's /v1/responses,
    translated, and its answer comes back as a chat completion, streamed or not."""

    @classmethod
    def models(cls, mock):
        return [upstream_model("br-echo", mock, "responses/echo"),
                upstream_model("br-words", mock, "responses/words-4-1"),
                upstream_model("br-tools", mock, "responses/tools-once"),
                upstream_model("br-reasoning", mock, "responses/reasoning"),
                upstream_model("br-cut", mock, "responses/error-after-2+words-5-1"),
                dict(upstream_model("br-usage", mock,
                                    "responses/usage-2000-300-1500-100+words-3-1"),
                     model_info=PRICED)]

    def call(self, payload, stream=False):
        """(the chat completion, or the chunks; what the upstream was sent)"""
        rid = uuid.uuid4().hex
        h = {"X-Request-ID": rid}
        if stream:
            c = self.stream(dict(payload, stream=True), key=self.master_key, headers=h).read_all()
            self.assertEqual(c.status, 200, c.text())
            got = [d for _, d in sse_events(c.text())]
            self.assertEqual(got[-1], "[DONE]", got)
        else:
            r = self.chat(payload, key=self.master_key, headers=h)
            self.assertEqual(r.status, 200, r)
            got = r.json()
        up = self.upstream(rid)
        self.assertTrue(up["path"].endswith("/v1/responses"), up["path"])
        return got, up["body"]

    def test_unstreamed(self):
        resp, body = self.call({"model": "br-echo", "max_tokens": 50, "temperature": 0.2,
                                "stop": ["\n"], "seed": 7,
                                "messages": [{"role": "system", "content": "be brief"},
                                             {"role": "user", "content": "hello bridge"}]})
        self.assertEqual(resp["object"], "chat.completion")
        self.assertEqual(resp["choices"][0]["message"]["content"], "hello bridge", resp)
        self.assertEqual(resp["choices"][0]["finish_reason"], "stop")
        self.assertGreater(resp["usage"]["completion_tokens"], 0, resp)
        self.assertEqual(body["model"], "echo")
        self.assertEqual((body["max_output_tokens"], body["temperature"], body["store"]),
                         (50, 0.2, False), body)
        self.assertEqual(body["input"], [
            {"type": "message", "role": "system",
             "content": [{"type": "input_text", "text": "be brief"}]},
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": "hello bridge"}]}], body)
        for gone in ("messages", "max_tokens", "stop", "seed"):
            self.assertNotIn(gone, body)
        # the gateway's own members (LiteLLM's) and a metadata that is not a map of strings
        # stay here: the Responses API refuses them
        resp, body = self.call({"model": "br-echo", "num_retries": 1, "tags": ["t"],
                                "metadata": {"tags": ["a"], "app": "x"},
                                "messages": [{"role": "user", "content": "held"}]})
        self.assertEqual(resp["choices"][0]["message"]["content"], "held")
        for gone in ("num_retries", "tags", "metadata"):
            self.assertNotIn(gone, body)
        _, body = self.call({"model": "br-echo", "metadata": {"app": "x"},
                             "messages": [{"role": "user", "content": "kept"}]})
        self.assertEqual(body["metadata"], {"app": "x"})

    def test_streamed(self):
        chunks, body = self.call({"model": "br-words", "stream_options": {"include_usage": True},
                                  "messages": [{"role": "user", "content": "x"}]}, stream=True)
        data = chunks[:-1]
        self.assertTrue(all(c["object"] == "chat.completion.chunk" for c in data), data)
        self.assertEqual(data[0]["choices"][0]["delta"].get("role"), "assistant", data)
        text = "".join(c["choices"][0]["delta"].get("content") or "" for c in data
                       if c["choices"])
        self.assertEqual(text, "w1 w2 w3 w4")
        self.assertEqual([c["choices"][0]["finish_reason"] for c in data if c["choices"] and
                          c["choices"][0]["finish_reason"]], ["stop"], data)
        self.assertEqual(data[-1]["choices"], [], data)  # the usage chunk the client asked for
        self.assertGreater(data[-1]["usage"]["completion_tokens"], 0, data)
        self.assertNotIn("stream_options", body)
        self.assertTrue(body["stream"])

    def test_tool_round_trip(self):
        tools = [{"type": "function", "function": {
            "name": "get_weather", "parameters": {"type": "object"}}}]
        for stream in (False, True):
            with self.subTest(stream=stream):
                msgs = [{"role": "user", "content": "weather?"}]
                got, body = self.call({"model": "br-tools", "messages": msgs, "tools": tools,
                                       "tool_choice": {"type": "function",
                                                       "function": {"name": "get_weather"}}},
                                      stream=stream)
                self.assertEqual(body["tools"], [{"type": "function", "name": "get_weather",
                                                  "parameters": {"type": "object"}}])
                self.assertEqual(body["tool_choice"], {"type": "function", "name": "get_weather"})
                if stream:
                    frags = [tc for c in got[:-1] if c["choices"]
                             for tc in c["choices"][0]["delta"].get("tool_calls") or []]
                    call = {"id": frags[0]["id"], "name": frags[0]["function"]["name"],
                            "arguments": "".join(f["function"].get("arguments", "")
                                                 for f in frags)}
                    finish = [c["choices"][0]["finish_reason"] for c in got[:-1]
                              if c["choices"] and c["choices"][0]["finish_reason"]]
                else:
                    tc = got["choices"][0]["message"]["tool_calls"][0]
                    call = {"id": tc["id"], "name": tc["function"]["name"],
                            "arguments": tc["function"]["arguments"]}
                    finish = [got["choices"][0]["finish_reason"]]
                self.assertEqual((call["name"], finish), ("get_weather", ["tool_calls"]), got)
                json.loads(call["arguments"])
                msgs += [{"role": "assistant", "content": None, "tool_calls": [
                             {"id": call["id"], "type": "function",
                              "function": {"name": "get_weather",
                                           "arguments": call["arguments"]}}]},
                         {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}]
                got, body = self.call({"model": "br-tools", "messages": msgs, "tools": tools})
                self.assertEqual(got["choices"][0]["message"]["content"], "tool said: sunny",
                                 got)
                self.assertEqual([it["type"] for it in body["input"]],
                                 ["message", "function_call", "function_call_output"], body)

    def test_reasoning_and_format(self):
        got, body = self.call({"model": "br-reasoning", "reasoning_effort": "low",
                               "verbosity": "low",
                               "response_format": {"type": "json_schema", "json_schema": {
                                   "name": "r", "schema": {"type": "object"}, "strict": True}},
                               "messages": [{"role": "user", "content": "think"}]})
        self.assertEqual(body["reasoning"], {"effort": "low"})
        self.assertEqual(body["text"], {"format": {"type": "json_schema", "name": "r",
                                                   "schema": {"type": "object"},
                                                   "strict": True}, "verbosity": "low"})
        msg = got["choices"][0]["message"]
        self.assertEqual(msg["content"], "think", got)
        self.assertTrue(msg.get("reasoning_content"), got)

    def test_cost(self):
        for stream in (False, True):
            with self.subTest(stream=stream):
                payload = {"model": "br-usage", "messages": [{"role": "user", "content": "x"}]}
                if stream:
                    c = self.stream(dict(payload, stream=True), key=self.master_key).read_all()
                    self.assertIn(": x-sllmp-cost-usd 0.00185\n", c.text())
                else:
                    r = self.chat(payload, key=self.master_key)
                    self.assertEqual(r.header("x-sllmp-cost-usd"), "0.00185", r)
                    self.assertEqual(r.json()["usage"]["prompt_tokens_details"]["cached_tokens"],
                                     1500, r)

    def test_refused_and_failed(self):
        r = self.chat({"model": "br-echo", "n": 2, "messages": [{"role": "user", "content": "x"}]},
                      key=self.master_key)
        self.assertEqual((r.status, r.json()["error"]["param"]), (400, "n"), r)
        # the upstream's response.failed inside the stream: the chat error event and [DONE]
        c = self.stream({"model": "br-cut", "stream": True,
                         "messages": [{"role": "user", "content": "x"}]},
                        key=self.master_key).read_all()
        evs = [d for _, d in sse_events(c.text())]
        self.assertEqual(evs[-1], "[DONE]", evs)
        self.assertIn("error", evs[-2], evs)


class ResponsesNativeBufferedTest(NativeCase):
    """sllmp.buffer_streams: a native stream is held until its end."""

    sllmp = {"buffer_streams": True}

    def test_failure_inside_the_stream(self):
        # the upstream's response.failed: nothing of the held stream went out, so the failure
        # is the client's as JSON with its status, as chat's is
        c = self.stream({"model": "nat-cut", "input": "x", "stream": True},
                        key=self.master_key, path=PATH).read_all()
        self.assertEqual(c.status, 502, (c.status, c.text()))
        self.assertTrue(json.loads(c.text())["error"]["message"], c.text())


class ResponsesNativeFallbackTest(NativeCase):
    """A passed-through request's fallback to a model whose deployments have no Responses API."""

    router = {"fallbacks": [{"nat-500": ["up-echo"]}]}

    def test_falls_back_through_chat_completions(self):
        # up-echo's deployment takes chat completions only: the fallback is the translation,
        # answered (and kept) here, streamed or not
        r = self.post({"model": "nat-500", "input": "fall back"})
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertRegex(body["id"], RESP_ID)
        self.assertEqual(self.text_of(body), "fall back", body)
        got = self.stack.request("GET", "/v1/responses/" + body["id"], None,
                                 {"Authorization": "Bearer " + MASTER_KEY})
        self.assertEqual(got.status, 200, got)
        _, evs = self.events({"model": "nat-500", "input": "streamed back"})
        self.assertEqual(self.text_of(self.check_stream_whole(evs)), "streamed back", evs)

    def test_a_conversation_kept_here_falls_back_and_is_kept(self):
        # begun here, continued on the native model, which fails: the fallback answers the
        # whole conversation and its answer is kept too
        first = self.post({"model": "up-echo", "input": "first here"}).json()
        r = self.post({"model": "nat-500", "input": "then native",
                       "previous_response_id": first["id"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.text_of(r.json()), "then native", r)
        got = self.stack.request("GET", "/v1/responses/" + r.json()["id"], None,
                                 {"Authorization": "Bearer " + MASTER_KEY})
        self.assertEqual(got.status, 200, got)

    def test_what_does_not_translate_does_not_fall_back(self):
        # a custom tool has no chat completion: the primary's failure is the answer, not the
        # translation's 400
        r = self.post({"model": "nat-500", "input": "x",
                       "tools": [{"type": "custom", "name": "apply_patch"}]})
        self.assertEqual(r.status, 502, r)
        self.assertEqual(r.json()["error"]["code"], "provider_error", r)


class ResponsesGeminiTest(ResponsesCase):
    """A Gemini 3 tool loop through /v1/responses: the thought signature of the model's call
    (which Gemini wants back on the next turn, or it answers 400) rides in the function_call's
    call_id, so it comes back whether the client sends the items again or previous_response_id."""

    server_env = {"MOCK_GEMINI_KEY": GEMINI_KEY}

    @classmethod
    def setUpClass(cls):
        cls.gemini = GeminiMock().start()
        cls.addClassCleanup(cls.gemini.stop)
        super().setUpClass()

    @classmethod
    def models(cls, mock):
        return [{"model_name": "gem-signed", "litellm_params": {
            "model": "gemini/gemini-mock+tools+signed",
            "api_base": "http://127.0.0.1:%d" % cls.gemini.port,
            "api_key": "os.environ/MOCK_GEMINI_KEY"}}]

    TOOLS = [{"type": "function", "name": "get_weather", "parameters": {"type": "object"}},
             {"type": "function", "name": "get_time", "parameters": {"type": "object"}}]

    def test_tool_loop_keeps_the_signature(self):
        for stream in (False, True):
            with self.subTest(stream=stream):
                payload = {"model": "gem-signed", "input": "weather and time?",
                           "tools": self.TOOLS}
                if stream:
                    _, evs = self.events(payload)
                    first = evs[-1][1]["response"]
                else:
                    r = self.post(payload)
                    self.assertEqual(r.status, 200, r)
                    first = r.json()
                calls = [it for it in first["output"] if it["type"] == "function_call"]
                self.assertEqual(len(calls), 2, first)
                # the signature once, though the chat call's id carries it already
                self.assertTrue(calls[0]["call_id"].endswith("__thought__" + GEMINI_SIGNATURE),
                                calls)
                self.assertEqual(calls[0]["call_id"].count("__thought__"), 1, calls)
                self.assertNotIn("__thought__", calls[1]["call_id"], calls)
                outputs = [{"type": "function_call_output", "call_id": c["call_id"],
                            "output": "fine"} for c in calls]
                # stateless: the items sent back as they came
                r = self.post({"model": "gem-signed", "tools": self.TOOLS,
                               "input": [{"role": "user", "content": "weather and time?"}] +
                                        calls + outputs})
                self.assertEqual(r.status, 200, r)
                # kept: previous_response_id
                r = self.post({"model": "gem-signed", "tools": self.TOOLS,
                               "previous_response_id": first["id"], "input": outputs})
                self.assertEqual(r.status, 200, r)
