"""Self-test of the Responses API of tests/mock/openai_mock.py (needs no gateway): POST
/v1/responses and its Azure paths, spoken to over HTTP directly. The gateway's native
pass-through of /v1/responses is only tested as well as this mock answers like OpenAI."""

import json
import re
import time
import unittest

from stack import Mock, StreamClient, http_request
from test_providers import parse_sse

JSON = {"Content-Type": "application/json"}
AZURE_KEY = "azure-mock-KEY"
AZURE_AD_TOKEN = "azure-mock-ENTRA-TOKEN"
RESP_ID = re.compile(r"^resp_[0-9a-f]{48}$")
WEATHER = {"type": "function", "name": "get_weather", "description": "weather of a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
GRAMMAR = {"type": "custom", "name": "run_python", "description": "runs Python code"}


def user(text):
    return {"role": "user", "content": [{"type": "input_text", "text": text}]}


class ResponsesMockTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.mock = Mock().start()
        cls.addClassCleanup(cls.mock.stop)

    def post(self, body, path="/v1/responses", headers=None):
        return http_request(self.mock.port, "POST", path, json.dumps(body),
                            dict(JSON, **(headers or {})), timeout=10)

    def stream(self, body, path="/v1/responses", headers=None):
        """(client, [(event name, data)]) of a streamed request read to its end."""
        c = StreamClient(self.mock.port, path, json.dumps(dict(body, stream=True)).encode(),
                         dict(JSON, **(headers or {})), timeout=10).read_all()
        self.assertEqual(c.status, 200, c.text())
        evs = [(e["event"], json.loads(e["data"])) for e in parse_sse(c.text())]
        for i, (name, data) in enumerate(evs):
            self.assertEqual(name, data["type"], evs)
            self.assertEqual(data["sequence_number"], i, evs)
        return c, evs

    def assertInvalid(self, r, param, code, message=None):
        self.assertEqual(r.status, 400, r)
        err = r.json()["error"]
        self.assertEqual(sorted(err), ["code", "message", "param", "type"], err)
        self.assertEqual(err["type"], "invalid_request_error", err)
        self.assertEqual(err["param"], param, err)
        self.assertEqual(err["code"], code, err)
        if message is not None:
            self.assertEqual(err["message"], message)

    # ---- unstreamed -------------------------------------------------------------------------

    def test_echo_unstreamed_shape_and_usage(self):
        r = self.post({"model": "echo", "instructions": "Be brief.", "temperature": 0.5,
                       "metadata": {"k": "v"},
                       "input": [{"role": "developer", "content": "dev text"},
                                 {"role": "user", "content": [
                                     {"type": "input_text", "text": "hello big"},
                                     {"type": "input_image", "image_url": "https://x/y.png"},
                                     {"type": "input_text", "text": " world"}]}]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("content-type"), "application/json")
        b = r.json()
        self.assertRegex(b["id"], RESP_ID)
        self.assertEqual((b["object"], b["status"], b["error"], b["incomplete_details"]),
                         ("response", "completed", None, None))
        self.assertEqual((b["model"], b["instructions"], b["temperature"], b["metadata"],
                          b["store"], b["previous_response_id"]),
                         ("echo", "Be brief.", 0.5, {"k": "v"}, True, None))
        self.assertIsInstance(b["created_at"], int)
        [msg] = b["output"]
        self.assertRegex(msg["id"], r"^msg_[0-9a-f]{48}$")
        self.assertEqual((msg["type"], msg["role"], msg["status"]),
                         ("message", "assistant", "completed"))
        self.assertEqual(msg["content"], [{"type": "output_text", "annotations": [],
                                           "logprobs": [], "text": "hello big world"}])
        # input: ceil((9 + 8 + 15) / 4) = 8; output: 3 words
        self.assertEqual(b["usage"], {"input_tokens": 8,
                                      "input_tokens_details": {"cached_tokens": 0},
                                      "output_tokens": 3,
                                      "output_tokens_details": {"reasoning_tokens": 0},
                                      "total_tokens": 11})
        self.assertNotIn("choices", b)

        r = self.post({"model": "usage-100-20-40-5+words-2-0", "input": "x"})
        self.assertEqual(r.json()["output"][0]["content"][0]["text"], "w1 w2")
        self.assertEqual(r.json()["usage"], {"input_tokens": 100,
                                             "input_tokens_details": {"cached_tokens": 40},
                                             "output_tokens": 20,
                                             "output_tokens_details": {"reasoning_tokens": 5},
                                             "total_tokens": 120})
        self.assertIsNone(self.post({"model": "echo+nousage", "input": "x"}).json()["usage"])

    def test_max_output_tokens_cuts_to_incomplete(self):
        r = self.post({"model": "words-20-0", "input": "x", "max_output_tokens": 16})
        b = r.json()
        self.assertEqual((b["status"], b["incomplete_details"], b["max_output_tokens"]),
                         ("incomplete", {"reason": "max_output_tokens"}, 16))
        self.assertEqual(b["output"][0]["status"], "incomplete")
        self.assertEqual(b["output"][0]["content"][0]["text"].split(), ["w%d" % i
                                                                         for i in range(1, 17)])
        self.assertEqual(b["usage"]["output_tokens"], 16)
        self.assertInvalid(self.post({"model": "echo", "input": "x", "max_output_tokens": 5}),
                           "max_output_tokens", "integer_below_min_value")
        _, evs = self.stream({"model": "words-20-0", "input": "x", "max_output_tokens": 16})
        self.assertEqual(evs[-1][0], "response.incomplete")
        self.assertEqual(len([1 for n, _ in evs if n == "response.output_text.delta"]), 16)

    # ---- streamed ---------------------------------------------------------------------------

    def test_stream_event_order_and_sequence_numbers(self):
        self.mock.reset()
        c, evs = self.stream({"model": "echo", "input": [user("one two three")]})
        self.assertTrue(c.header("content-type").startswith("text/event-stream"))
        self.assertNotIn("[DONE]", c.text())
        names = [n for n, _ in evs]
        self.assertEqual(names, ["response.created", "response.in_progress",
                                 "response.output_item.added", "response.content_part.added"]
                         + ["response.output_text.delta"] * 3 +
                         ["response.output_text.done", "response.content_part.done",
                          "response.output_item.done", "response.completed"])
        for _, d in evs[:2]:
            self.assertEqual((d["response"]["status"], d["response"]["output"],
                              d["response"]["usage"]), ("in_progress", [], None))
        item_id = evs[2][1]["item"]["id"]
        self.assertEqual(evs[2][1]["item"]["status"], "in_progress")
        deltas = [d for n, d in evs if n == "response.output_text.delta"]
        self.assertEqual("".join(d["delta"] for d in deltas), "one two three")
        for d in deltas:
            self.assertEqual((d["item_id"], d["output_index"], d["content_index"],
                              d["logprobs"]), (item_id, 0, 0, []))
        self.assertEqual(evs[7][1]["text"], "one two three")
        final = evs[-1][1]["response"]
        self.assertEqual(final["status"], "completed")
        self.assertEqual(final["id"], evs[0][1]["response"]["id"])
        self.assertEqual(final["output"], [evs[-2][1]["item"]])
        self.assertEqual(final["usage"]["output_tokens"], 3)
        st = self.mock.streams()[-1]
        self.assertEqual((st["kind"], st["stream"], st["chunks_sent"], st["total_chunks"],
                          st["completed"]), ("responses", True, 3, 3, True))
        self.assertEqual(len(self.mock.responses_requests()), 1)
        self.assertEqual(self.mock.calls(), {"echo": 1})

    def test_error_after_n_ends_with_response_failed(self):
        c, evs = self.stream({"model": "words-5-0+error-after-2", "input": "x"})
        names = [n for n, _ in evs]
        self.assertEqual(names.count("response.output_text.delta"), 2, names)
        self.assertEqual(names[-1], "response.failed", names)
        self.assertNotIn("response.completed", names)
        resp = evs[-1][1]["response"]
        self.assertEqual(resp["status"], "failed")
        self.assertEqual(resp["error"]["code"], "server_error")
        self.assertTrue(resp["error"]["message"])
        self.assertTrue(c.done)        # the last HTTP chunk came: the stream ended cleanly,
        self.assertFalse(c.eof)        # not by the connection's end
        self.assertNotIn("[DONE]", c.text())

    def test_close_after_n_cuts_the_stream(self):
        c, evs = self.stream({"model": "words-5-0+close-after-2", "input": "x"})
        names = [n for n, _ in evs]
        self.assertEqual(names.count("response.output_text.delta"), 2, names)
        self.assertNotIn("response.completed", names)
        self.assertNotIn("response.failed", names)

    # ---- refusals ---------------------------------------------------------------------------

    def test_unknown_parameters_refused(self):
        for extra, param in (({"messages": []}, "messages"), ({"max_tokens": 20}, "max_tokens"),
                             ({"max_completion_tokens": 20}, "max_completion_tokens"),
                             ({"stream_options": {"include_usage": True}},
                              "stream_options.include_usage")):
            self.assertInvalid(self.post(dict({"model": "echo", "input": "x"}, **extra)),
                               param, "unknown_parameter", "Unknown parameter: '%s'." % param)
        # chat's tool shape: the name is not where the Responses API wants it
        self.assertInvalid(self.post({"model": "echo", "input": "x", "tools": [
            {"type": "function", "function": {"name": "f", "parameters": {}}}]}),
            "tools[0].name", "missing_required_parameter")
        self.assertInvalid(self.post({"model": "echo", "input": {"role": "user"}}),
                           "input", "invalid_type")
        self.assertInvalid(self.post({"model": "echo", "input": [{"role": "bot",
                                                                  "content": "x"}]}),
                           "input[0].role", "invalid_value")
        self.assertInvalid(self.post({"model": "echo", "input": [
            {"role": "user", "content": [{"type": "text", "text": "x"}]}]}),
            "input[0].content[0].type", "invalid_value")
        self.assertInvalid(self.post({"input": "x"}), "model", "missing_required_parameter")
        # every known parameter passes
        r = self.post({"model": "echo", "input": "x", "instructions": "i", "tools": [WEATHER],
                       "tool_choice": "none", "parallel_tool_calls": False,
                       "max_output_tokens": 100, "max_tool_calls": 2, "temperature": 0.2,
                       "top_p": 0.9, "top_logprobs": 0, "stream": False,
                       "stream_options": {"include_obfuscation": False}, "store": False,
                       "include": [], "metadata": {}, "user": "u", "safety_identifier": "s",
                       "prompt_cache_key": "k", "prompt_cache_retention": "24h",
                       "reasoning": {"effort": "low"}, "text": {"format": {"type": "text"}},
                       "truncation": "auto", "background": False, "service_tier": "auto",
                       "context_management": [], "conversation": "conv_1"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["output"][0]["content"][0]["text"], "x")

    # ---- tools ------------------------------------------------------------------------------

    def test_function_call_and_tools_once_round_trip(self):
        body = {"model": "tools-once", "input": [user("weather?")], "tools": [WEATHER]}
        b = self.post(body).json()
        [fc] = b["output"]
        self.assertEqual((fc["type"], fc["name"], fc["status"]),
                         ("function_call", "get_weather", "completed"))
        self.assertRegex(fc["id"], r"^fc_[0-9a-f]{48}$")
        self.assertTrue(fc["call_id"].startswith("call_"))
        self.assertEqual(json.loads(fc["arguments"]), {"city": "Paris"})
        body["input"] += [fc, {"type": "function_call_output", "call_id": fc["call_id"],
                               "output": "sunny"}]
        b = self.post(body).json()
        self.assertEqual(b["output"][0]["content"][0]["text"], "tool said: sunny")
        # an output whose call is nowhere
        self.assertInvalid(self.post({"model": "echo", "input": [
            {"type": "function_call_output", "call_id": "call_x", "output": "y"}]}),
            "input", None)
        _, evs = self.stream({"model": "tools", "input": "x", "tools": [WEATHER]})
        names = [n for n, _ in evs]
        self.assertIn("response.function_call_arguments.delta", names)
        done = [d for n, d in evs if n == "response.function_call_arguments.done"][0]
        self.assertEqual(json.loads(done["arguments"]), {"city": "Paris"})
        self.assertNotIn("response.output_text.delta", names)

    def test_custom_tool_call(self):
        b = self.post({"model": "tools", "input": "run it", "tools": [GRAMMAR]}).json()
        [ctc] = b["output"]
        self.assertEqual((ctc["type"], ctc["name"]), ("custom_tool_call", "run_python"))
        self.assertRegex(ctc["id"], r"^ctc_[0-9a-f]{48}$")
        self.assertTrue(ctc["call_id"].startswith("call_"))
        self.assertIsInstance(ctc["input"], str)
        self.assertTrue(ctc["input"])
        self.assertNotIn("arguments", ctc)
        _, evs = self.stream({"model": "tools", "input": "run it", "tools": [GRAMMAR]})
        names = [n for n, _ in evs]
        self.assertEqual(names[2], "response.output_item.added")
        self.assertEqual(evs[2][1]["item"]["type"], "custom_tool_call")
        deltas = [d["delta"] for n, d in evs if n == "response.custom_tool_call_input.delta"]
        done = [d for n, d in evs if n == "response.custom_tool_call_input.done"]
        self.assertTrue(deltas)
        self.assertEqual(done[0]["input"], "".join(deltas))
        self.assertEqual(evs[-1][1]["response"]["output"][0]["input"], "".join(deltas))
        # its output answered with tools-once
        r = self.post({"model": "tools-once", "tools": [GRAMMAR], "input": [
            ctc, {"type": "custom_tool_call_output", "call_id": ctc["call_id"],
                  "output": "hello"}]})
        self.assertEqual(r.json()["output"][0]["content"][0]["text"], "tool said: hello")

    # ---- reasoning and the store ------------------------------------------------------------

    def test_reasoning_with_encrypted_content(self):
        b = self.post({"model": "echo+reasoning", "input": "why", "store": False,
                       "include": ["reasoning.encrypted_content"]}).json()
        rs, msg = b["output"]
        self.assertRegex(rs["id"], r"^rs_[0-9a-f]{48}$")
        self.assertEqual((rs["type"], rs["summary"][0]["type"]), ("reasoning", "summary_text"))
        self.assertIsInstance(rs["encrypted_content"], str)
        self.assertEqual(msg["content"][0]["text"], "why")
        self.assertEqual(b["usage"]["output_tokens_details"]["reasoning_tokens"], 1)
        # without the include: no encrypted_content; a reasoning model name implies reasoning
        b = self.post({"model": "o4-mini", "input": "why"}).json()
        self.assertEqual(b["output"][0]["type"], "reasoning")
        self.assertNotIn("encrypted_content", b["output"][0])
        _, evs = self.stream({"model": "echo+reasoning", "input": "why",
                              "include": ["reasoning.encrypted_content"]})
        names = [n for n, _ in evs]
        self.assertEqual(names[2:9], ["response.output_item.added",
                                      "response.reasoning_summary_part.added",
                                      "response.reasoning_summary_text.delta",
                                      "response.reasoning_summary_text.done",
                                      "response.reasoning_summary_part.done",
                                      "response.output_item.done",
                                      "response.output_item.added"])
        self.assertIsInstance(evs[7][1]["item"]["encrypted_content"], str)
        self.assertEqual(evs[9][1]["output_index"], 1)

    def test_store_false_reasoning_item_refused(self):
        b = self.post({"model": "echo+reasoning", "input": "why", "store": False}).json()
        rs = b["output"][0]
        again = {"model": "echo+reasoning", "store": False,
                 "input": [user("why"), rs, b["output"][1], user("more")]}
        self.assertInvalid(self.post(again), "input", None,
                           "Item with id '%s' not found. Items are not persisted when `store` "
                           "is set to false. Try again with `store` set to true, or remove "
                           "this item from your input." % rs["id"])
        # with its encrypted_content it goes
        b = self.post({"model": "echo+reasoning", "input": "why", "store": False,
                       "include": ["reasoning.encrypted_content"]}).json()
        again["input"][1] = b["output"][0]
        r = self.post(again)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["output"][1]["content"][0]["text"], "more")

    def test_previous_response_id_and_item_reference(self):
        first = self.post({"model": "echo+reasoning", "input": "hi"}).json()
        r = self.post({"model": "echo", "input": "next", "previous_response_id": first["id"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["previous_response_id"], first["id"])
        # a stored reasoning item goes back by id alone, or as an item_reference
        r = self.post({"model": "echo", "input": [first["output"][0], user("a"),
                                                  {"type": "item_reference",
                                                   "id": first["output"][1]["id"]}]})
        self.assertEqual(r.status, 200, r)
        self.assertInvalid(self.post({"model": "echo", "input": "x",
                                      "previous_response_id": "resp_nope"}),
                           "previous_response_id", "previous_response_not_found",
                           "Previous response with id 'resp_nope' not found.")
        self.assertInvalid(self.post({"model": "echo", "input": [
            {"type": "item_reference", "id": "msg_nope"}]}), "input", None,
            "Item with id 'msg_nope' not found.")
        # an answer with store false is not kept
        unstored = self.post({"model": "echo", "input": "x", "store": False}).json()
        self.assertInvalid(self.post({"model": "echo", "input": "x",
                                      "previous_response_id": unstored["id"]}),
                           "previous_response_id", "previous_response_not_found")
        # streamed answers are kept too, and GET gives them back
        _, evs = self.stream({"model": "echo", "input": "streamed"})
        rid = evs[-1][1]["response"]["id"]
        g = http_request(self.mock.port, "GET", "/v1/responses/" + rid, timeout=5)
        self.assertEqual(g.status, 200)
        self.assertEqual(g.json(), evs[-1][1]["response"])
        g = http_request(self.mock.port, "GET", "/v1/responses/" + unstored["id"], timeout=5)
        self.assertEqual(g.status, 404)
        self.assertEqual(g.json()["error"]["message"],
                         "No response found with id '%s'." % unstored["id"])

    # ---- faults and errors ------------------------------------------------------------------

    def test_status_and_first_n(self):
        self.mock.reset()
        r = self.post({"model": "status-429+first-1", "input": "x"})
        self.assertEqual(r.status, 429)
        self.assertEqual(r.header("retry-after"), "7")
        self.assertEqual(r.json()["error"]["code"], "rate_limit_exceeded")
        r = self.post({"model": "status-429+first-1", "input": "a b"})
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["output"][0]["content"][0]["text"], "a b")
        self.assertEqual(self.mock.calls("status-429+first-1"), 2)

    def test_words_pacing(self):
        c, evs = self.stream({"model": "words-3-150", "input": "x"})
        self.assertEqual("".join(d["delta"] for n, d in evs
                                 if n == "response.output_text.delta"), "w1 w2 w3")
        times = [t for t, data in c.chunks if b"output_text.delta" in data]
        self.assertGreater(times[-1] - times[0], 0.25)

    # ---- Azure ------------------------------------------------------------------------------

    def test_azure_v1_path_auth(self):
        path = "/openai/v1/responses"
        body = {"model": "echo", "input": "hi azure"}
        r = self.post(body, path)
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["error"]["code"], "401")
        self.assertEqual(self.post(body, path, {"api-key": "wrong"}).status, 401)
        self.assertEqual(self.post(body, path, {"Authorization": "Bearer " + AZURE_KEY}).status,
                         401)
        for auth in ({"api-key": AZURE_KEY}, {"Authorization": "Bearer " + AZURE_AD_TOKEN}):
            r = self.post(body, path, auth)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["output"][0]["content"][0]["text"], "hi azure")
            self.assertEqual(r.json()["model"], "gpt-4o-mini-2024-07-18")
            self.assertTrue(r.header("apim-request-id"))
        c, evs = self.stream(body, path, {"api-key": AZURE_KEY})
        self.assertTrue(c.header("x-ms-region"))
        self.assertEqual(evs[-1][0], "response.completed")
        # Azure's 429 on an Azure path; the checks as on OpenAI's
        r = self.post({"model": "status-429", "input": "x"}, path, {"api-key": AZURE_KEY})
        self.assertEqual(r.status, 429)
        self.assertIn("Responses_Create", r.json()["error"]["message"])
        self.assertInvalid(self.post({"model": "echo", "input": "x", "max_tokens": 1}, path,
                                     {"api-key": AZURE_KEY}), "max_tokens", "unknown_parameter")

    def test_azure_dated_path_needs_api_version(self):
        body = {"model": "echo", "input": "dated"}
        for q in ("", "?api-version="):
            r = self.post(body, "/openai/responses" + q, {"api-key": AZURE_KEY})
            self.assertEqual(r.status, 404, q)
            self.assertEqual(r.json(), {"error": {"code": "404",
                                                  "message": "Resource not found"}})
        path = "/openai/responses?api-version=2025-04-01-preview"
        self.assertEqual(self.post(body, path).status, 401)
        self.mock.reset()
        r = self.post(body, path, {"api-key": AZURE_KEY})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["output"][0]["content"][0]["text"], "dated")
        st = self.mock.streams()[-1]
        self.assertEqual((st["kind"], st["deployment"], st["api_version"]),
                         ("responses", "echo", "2025-04-01-preview"))
        g = http_request(self.mock.port, "GET", "/openai/v1/responses/" + r.json()["id"],
                         headers={"api-key": AZURE_KEY}, timeout=5)
        self.assertEqual(g.status, 200)
        self.assertEqual(g.json()["id"], r.json()["id"])


if __name__ == "__main__":
    unittest.main()
