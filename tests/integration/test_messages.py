"""POST /v1/messages (Anthropic's API: Claude Code, the Anthropic SDKs) to models without
Anthropic's API of their own, served through chat completions as LiteLLM serves them: the
request translated into a chat request (what each upstream was sent is checked), the chat answer
back into a Message and its events, errors in Anthropic's shape, through lighttpd."""

import base64
import json
import unittest

from stack import http_request, upstream_model
from test_providers import ProvidersCase, mock_requests, parse_sse, provider_models

WEATHER = {"name": "get_weather", "description": "weather of a city",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"]}}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n not really").decode()


class MessagesThroughChatTest(ProvidersCase):
    # Claude Code's usual safety net: Claude, and GPT when Anthropic is down (a server-tool
    # request cannot go there, so it has nowhere to fall back to)
    router = {"num_retries": 0, "fallbacks": [{"claude-down": ["gpt-echo"]}]}

    @classmethod
    def models(cls, mock):
        return provider_models(mock, cls.anthropic, cls.gemini, cls.bedrock) + [
            upstream_model("gpt-echo", mock, "echo"),
            upstream_model("gpt-usage", mock, "echo+usage-100-20-40-5"),
            upstream_model("gpt-tools", mock, "tools-once"),
            upstream_model("gpt-429", mock, "status-429"),
            upstream_model("gpt-cut", mock, "words-6-10+close-after-3"),
            upstream_model("gpt-o3", mock, "o3-mini"),
            dict(upstream_model("gpt-4o-ish", mock, "echo"),
                 model_info={"max_output_tokens": 16384}),
            {"model_name": "claude-down", "litellm_params": {
                "model": "anthropic/claude-mock+status-529",
                "api_base": "http://127.0.0.1:%d" % cls.anthropic.port,
                "api_key": "os.environ/MOCK_ANTHROPIC_KEY"}},
        ]

    def post_messages(self, payload, headers=None):
        h = {"Content-Type": "application/json", "x-api-key": self.master_key,
             "anthropic-version": "2023-06-01"}
        h.update(headers or {})
        return http_request(self.stack.port, "POST", "/v1/messages",
                            json.dumps(payload).encode(), h)

    def events(self, payload):
        r = self.post_messages(dict(payload, stream=True))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("content-type"), "text/event-stream")
        evs = []
        for e in parse_sse(r.body.decode()):
            if "data" not in e:
                continue
            self.assertNotEqual(e["data"], "[DONE]")
            data = json.loads(e["data"])
            self.assertEqual(data["type"], e.get("event"), e)
            evs.append(data)
        return r, evs

    def assert_blocks_well_formed(self, evs):
        """Every block starts, takes deltas and stops in order, one at a time, indexed from 0."""
        open_index, next_index = None, 0
        for e in evs:
            if e["type"] == "content_block_start":
                self.assertIsNone(open_index, evs)
                self.assertEqual(e["index"], next_index, evs)
                open_index, next_index = e["index"], next_index + 1
            elif e["type"] in ("content_block_delta", "content_block_stop"):
                self.assertEqual(e["index"], open_index, evs)
                if e["type"] == "content_block_stop":
                    open_index = None
        self.assertIsNone(open_index, evs)

    # ---- unstreamed -------------------------------------------------------------------

    def test_unstreamed_translation_both_ways(self):
        r = self.post_messages({
            "model": "gpt-usage", "max_tokens": 300, "temperature": 0.3, "top_k": 5,
            "stop_sequences": ["END"], "metadata": {"user_id": "u-9"},
            "system": [{"type": "text", "text": "Be brief.",
                        "cache_control": {"type": "ephemeral"}},
                       {"type": "text", "text": "Be kind."}],
            "messages": [{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                             "data": PNG}},
                {"type": "text", "text": "hello there", "cache_control": {"type": "ephemeral"}}]}]})
        self.assertEqual(r.status, 200, r)
        b = r.json()
        self.assertRegex(b["id"], r"^msg_[0-9a-f]{24}$")
        self.assertEqual((b["type"], b["role"], b["model"], b["stop_reason"], b["stop_sequence"]),
                         ("message", "assistant", "gpt-usage", "end_turn", None))
        self.assertEqual(b["content"], [{"type": "text", "text": "hello there"}])
        # the mock's usage: prompt 100 with 40 cached, completion 20 with 5 reasoning;
        # Anthropic's three input counts are disjoint, output includes the thinking
        self.assertEqual(b["usage"], {"input_tokens": 60, "cache_read_input_tokens": 40,
                                      "cache_creation_input_tokens": 0, "output_tokens": 20})
        self.assertIsNotNone(r.header("x-sllmp-cost-usd"))
        sent = mock_requests(self.mock)[-1]["body"]
        self.assertEqual(sent["messages"], [
            {"role": "system", "content": "Be brief.\n\nBe kind."},
            {"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PNG}},
                {"type": "text", "text": "hello there"}]}])
        self.assertEqual((sent["max_tokens"], sent["temperature"], sent["stop"], sent["user"]),
                         (300, 0.3, ["END"], "u-9"))
        for gone in ("top_k", "metadata", "system", "stop_sequences"):
            self.assertNotIn(gone, sent)

    def test_tool_loop(self):
        first = {"model": "gpt-tools", "max_tokens": 200, "tools": [WEATHER],
                 "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
                 "messages": [{"role": "user", "content": "weather in Paris?"}]}
        r = self.post_messages(first)
        self.assertEqual(r.status, 200, r)
        b = r.json()
        self.assertEqual(b["stop_reason"], "tool_use", b)
        [use] = [c for c in b["content"] if c["type"] == "tool_use"]
        self.assertEqual(use["name"], "get_weather")
        self.assertIsInstance(use["input"], dict)
        sent = mock_requests(self.mock)[-1]["body"]
        self.assertEqual(sent["tools"], [{"type": "function", "function": {
            "name": "get_weather", "description": "weather of a city",
            "parameters": WEATHER["input_schema"]}}])
        self.assertEqual((sent["tool_choice"], sent["parallel_tool_calls"]), ("required", False))
        # the round trip, as Claude Code sends it: the assistant turn as it came, then the
        # result in the user turn (first, when text comes with it)
        turn = first["messages"] + [{"role": "assistant", "content": b["content"]}]
        result = {"type": "tool_result", "tool_use_id": use["id"],
                  "content": [{"type": "text", "text": "sunny"}, {"type": "text", "text": "22C"}]}
        r = self.post_messages(dict(first, tool_choice={"type": "auto"}, messages=turn + [
            {"role": "user", "content": [result]}]))
        self.assertEqual(r.status, 200, r)
        sent = mock_requests(self.mock)[-1]["body"]
        self.assertEqual(sent["messages"][1]["tool_calls"], [{
            "id": use["id"], "type": "function",
            "function": {"name": "get_weather", "arguments": json.dumps(use["input"],
                                                                        separators=(",", ":"))}}])
        self.assertEqual(sent["messages"][2:], [
            {"role": "tool", "tool_call_id": use["id"], "content": "sunny\n22C"}])
        self.assertEqual(sent["tool_choice"], "auto")
        self.assertNotIn("parallel_tool_calls", sent)
        # tools-once answers the tool's result once one comes back
        self.assertEqual(r.json()["content"], [{"type": "text", "text": "tool said: sunny\n22C"}])
        self.assertEqual(r.json()["stop_reason"], "end_turn")
        # text after the result: a user message after the tool message (OpenAI refuses any
        # message between the calls and their results: the mock too)
        r = self.post_messages(dict(first, messages=turn + [
            {"role": "user", "content": [result, {"type": "text", "text": "and tomorrow?"}]}]))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(mock_requests(self.mock)[-1]["body"]["messages"][2:], [
            {"role": "tool", "tool_call_id": use["id"], "content": "sunny\n22C"},
            {"role": "user", "content": [{"type": "text", "text": "and tomorrow?"}]}])

    def test_gemini_and_its_thoughts(self):
        r = self.post_messages({"model": "gem-thinking", "max_tokens": 100,
                                "thinking": {"type": "enabled", "budget_tokens": 5000},
                                "messages": [{"role": "user", "content": "think of hi"}]})
        self.assertEqual(r.status, 200, r)
        b = r.json()
        kinds = [c["type"] for c in b["content"]]
        self.assertEqual(kinds, ["thinking", "text"], b)
        self.assertTrue(b["content"][0]["thinking"])
        sent = [q for q in mock_requests(self.gemini) if "generateContent" in q["path"]][-1]
        self.assertEqual(sent["body"]["generationConfig"]["thinkingConfig"]["thinkingBudget"],
                         4096)  # thinking 5000 -> reasoning_effort high -> LiteLLM's 4096

    def test_reasoning_model_takes_max_tokens_as_its_own(self):
        r = self.post_messages({"model": "gpt-o3", "max_tokens": 64,
                                "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(r.status, 200, r)
        sent = mock_requests(self.mock)[-1]["body"]
        self.assertEqual(sent.get("max_completion_tokens"), 64)
        self.assertNotIn("max_tokens", sent)

    def test_max_tokens_cut_to_what_the_model_writes(self):
        # Claude Code asks 32000, which gpt-4o (16384) refuses: the deployment's
        # model_info.max_output_tokens is the ceiling on this path; under it, as asked
        for asked, sent_max in ((32000, 16384), (1000, 1000)):
            r = self.post_messages({"model": "gpt-4o-ish", "max_tokens": asked,
                                    "messages": [{"role": "user", "content": "hi"}]})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(mock_requests(self.mock)[-1]["body"]["max_tokens"], sent_max)
        # chat completions keep the client's own limit (its error is the client's to see)
        r = self.chat({"model": "gpt-4o-ish", "max_tokens": 32000,
                       "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(mock_requests(self.mock)[-1]["body"]["max_tokens"], 32000)

    def test_trace_record_names_the_endpoint(self):
        r = self.post_messages({"model": "gpt-echo", "max_tokens": 50,
                                "messages": [{"role": "user", "content": "trace me"}]})
        self.assertEqual(r.status, 200, r)
        rec = self.record_of(r.header("x-request-id"))
        self.assertEqual(rec["name"], "messages", rec)
        self.assertEqual(rec["output"]["content"], [{"type": "text", "text": "trace me"}], rec)

    # ---- streamed ---------------------------------------------------------------------

    def test_stream_events(self):
        r, evs = self.events({"model": "gpt-usage", "max_tokens": 50,
                              "messages": [{"role": "user", "content": "one two three"}]})
        types = [e["type"] for e in evs]
        self.assertEqual(types[:2], ["message_start", "ping"])
        self.assertEqual(types[-2:], ["message_delta", "message_stop"])
        start = evs[0]["message"]
        self.assertEqual((start["role"], start["model"], start["content"], start["stop_reason"]),
                         ("assistant", "gpt-usage", [], None))
        self.assert_blocks_well_formed(evs)
        text = "".join(e["delta"]["text"] for e in evs if e["type"] == "content_block_delta")
        self.assertEqual(text, "one two three")
        self.assertGreater(sum(e["type"] == "content_block_delta" for e in evs), 1)
        self.assertEqual(evs[-2]["delta"], {"stop_reason": "end_turn", "stop_sequence": None})
        self.assertEqual(evs[-2]["usage"], {"input_tokens": 60, "cache_read_input_tokens": 40,
                                            "cache_creation_input_tokens": 0,
                                            "output_tokens": 20})

    def test_stream_tool_use(self):
        r, evs = self.events({"model": "gpt-tools", "max_tokens": 50, "tools": [WEATHER],
                              "messages": [{"role": "user", "content": "weather?"}]})
        self.assert_blocks_well_formed(evs)
        [start] = [e for e in evs if e["type"] == "content_block_start"
                   and e["content_block"]["type"] == "tool_use"]
        block = start["content_block"]
        self.assertEqual((block["name"], block["input"]), ("get_weather", {}))
        self.assertTrue(block["id"])
        args = "".join(e["delta"]["partial_json"] for e in evs
                       if e["type"] == "content_block_delta" and e["index"] == start["index"])
        self.assertIsInstance(json.loads(args), dict)
        self.assertEqual(evs[-2]["delta"]["stop_reason"], "tool_use")

    def test_stream_cut_by_the_upstream_ends_with_an_error_event(self):
        r, evs = self.events({"model": "gpt-cut", "max_tokens": 50,
                              "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(evs[0]["type"], "message_start")
        self.assertEqual(evs[-1]["type"], "error", evs)
        self.assertIn(evs[-1]["error"]["type"], ("api_error", "overloaded_error"), evs[-1])
        self.assertNotIn("message_stop", [e["type"] for e in evs])

    def test_fallback_from_claude_goes_through_chat(self):
        for stream in (False, True):
            body = {"model": "claude-down", "max_tokens": 50, "stream": stream,
                    "messages": [{"role": "user", "content": "fall back"}]}
            if stream:
                r, evs = self.events(body)
                self.assertEqual([e["type"] for e in evs][-1], "message_stop", evs)
                text = "".join(e["delta"].get("text", "") for e in evs
                               if e["type"] == "content_block_delta")
            else:
                r = self.post_messages(body)
                self.assertEqual(r.status, 200, r)
                text = r.json()["content"][0]["text"]
                self.assertEqual(r.json()["type"], "message")
            self.assertEqual(text, "fall back")
            self.assertEqual(r.header("x-sllmp-attempts"), "2")
            sent = mock_requests(self.mock)[-1]
            self.assertEqual(sent["path"], "/v1/chat/completions")
            self.assertEqual(sent["body"]["messages"], [{"role": "user", "content": "fall back"}])
        # what chat cannot say has nowhere to go: the Anthropic failure stands
        r = self.post_messages({"model": "claude-down", "max_tokens": 5,
                                "tools": [{"type": "web_search_20250305", "name": "web_search"}],
                                "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.json()["error"]["type"], "overloaded_error")

    def test_gemini_history_goes_on_with_claude(self):
        # a Claude Code session begun on Gemini (through chat: its tool_use ids carry the
        # thought signature, base64) and switched to Claude, which takes the Messages API as it
        # is: Anthropic's id pattern refuses '+', '/' and '=' (the mocks too), so the ids go
        # without the signature, on the tool_use and its tool_result alike
        tools = [dict(WEATHER)]
        first = self.post_messages({"model": "gem-tools-signed", "max_tokens": 100,
                                    "tools": tools,
                                    "messages": [{"role": "user", "content": "weather?"}]})
        self.assertEqual(first.status, 200, first)
        uses = [b for b in first.json()["content"] if b["type"] == "tool_use"]
        self.assertIn("__thought__", uses[0]["id"])
        bare = [u["id"].split("__thought__")[0] for u in uses]
        history = [{"role": "user", "content": "weather?"},
                   {"role": "assistant", "content": first.json()["content"]},
                   {"role": "user", "content": [{"type": "tool_result", "tool_use_id": u["id"],
                                                 "content": "18C"} for u in uses]}]
        for model, mock, path in (("claude", self.anthropic, "/v1/messages"),
                                  ("br-claude", self.bedrock, "/invoke")):
            r = self.post_messages({"model": model, "max_tokens": 100, "tools": tools,
                                    "messages": history})
            self.assertEqual(r.status, 200, (model, r))
            sent = [q for q in mock_requests(mock) if q["path"].endswith(path)][-1]["body"]
            self.assertEqual([b["id"] for b in sent["messages"][1]["content"]
                              if b["type"] == "tool_use"], bare, model)
            self.assertEqual([b["tool_use_id"] for b in sent["messages"][2]["content"]], bare)

    # ---- errors -----------------------------------------------------------------------

    def test_errors_in_anthropic_shape(self):
        r = self.post_messages({"model": "gpt-429", "max_tokens": 5,
                                "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.json()["type"], "error")
        self.assertEqual(r.json()["error"]["type"], "rate_limit_error")
        self.assertIsNotNone(r.header("retry-after"))
        # what chat cannot say: Anthropic's server tools, a document by URL
        for payload, where in (
                ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]},
                 "tools.0.type"),
                ({"messages": [{"role": "user", "content": [
                    {"type": "document", "source": {"type": "url",
                                                    "url": "https://x.example/a.pdf"}}]}]},
                 "messages.0.content.0.source")):
            body = dict({"model": "gpt-echo", "max_tokens": 5,
                         "messages": [{"role": "user", "content": "x"}]}, **payload)
            r = self.post_messages(body)
            self.assertEqual(r.status, 400, r)
            err = r.json()["error"]
            self.assertEqual(err["type"], "invalid_request_error")
            self.assertIn(where, err["message"])
        # Anthropic's own checks come first, in its words
        r = self.post_messages({"model": "gpt-echo",
                                "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(r.status, 400, r)
        self.assertIn("max_tokens", r.json()["error"]["message"])


if __name__ == "__main__":
    unittest.main()
