"""Trace records through lighttpd: every request leaves exactly one record in the spool's new/,
whatever its outcome (unstreamed, streamed, refused, upstream error, limit, client gone), with
the fields of docs/internals/spool.md; the capture policy per key and per model; redaction; no
key anywhere; files 0600 in 0700 directories; a full quota drops records but serves requests."""

import json
import os
import re
import stat
import time
import unittest
import uuid

from stack import (UPSTREAM_KEY, Stack, StackCase, base_config, mock_model, require_binaries,
                   upstream_model, user_msg, wait_for)
from test_keys import new_key

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")

MASTER = "sk-trace-master-key-9876"
KEY, DIGEST = new_key("alice")
META_KEY, META_DIGEST = new_key("quiet")
LIMITED_KEY, LIMITED_DIGEST = new_key("limited")


def records(spool):
    """Every record in new/, parsed, by request id."""
    out = {}
    d = os.path.join(spool, "new")
    for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        with open(os.path.join(d, name), encoding="utf-8") as f:
            text = f.read()
        rec = json.loads(text)
        out.setdefault(rec["request_id"], []).append(rec)
    return out


class TraceCase(StackCase):
    def record(self, rid, timeout=5.0):
        """The one record of request rid (waits: it is written after the response ends)."""
        found = {}

        def one():
            found.update(records(self.stack.spool))
            return rid in found
        self.assertTrue(wait_for(one, timeout), "no record for request %s" % rid)
        time.sleep(0.05)
        recs = records(self.stack.spool).get(rid, [])
        self.assertEqual(len(recs), 1, "request %s left %d records" % (rid, len(recs)))
        return recs[0]

    def post(self, payload, key=MASTER, headers=None, path="/v1/chat/completions"):
        rid = uuid.uuid4().hex
        h = {"X-Request-ID": rid}
        h.update(headers or {})
        r = self.stack.chat(payload, key=key, headers=h, path=path)
        return rid, r


class TraceRecordTest(TraceCase):
    master_key = MASTER
    sllmp = {"langfuse": {"environment": "staging", "release": "v1.2.3",
                          "redact": [r"[0-9]{3}-[0-9]{2}-[0-9]{4}"]}}

    @classmethod
    def models(cls, mock):
        usage = upstream_model("up-usage", mock, "usage-2000-300-1500-100+words-5-1")
        usage["model_info"] = {"input_cost_per_token": 0.0000025,
                               "output_cost_per_token": 0.00001}
        secret_model = mock_model("mock-private", "echo", 0)
        secret_model["model_info"] = {"capture": "none"}
        meta_model = mock_model("mock-meta", "echo", 0)
        meta_model["model_info"] = {"capture": "metadata"}
        return [mock_model("mock-echo", "echo", 0), usage, secret_model, meta_model,
                upstream_model("up-echo", mock, "echo"),
                upstream_model("up-words", mock, "words-6-10"),
                upstream_model("up-tools", mock, "tools"),
                upstream_model("up-500", mock, "status-500"),
                upstream_model("up-stall", mock, "stall-after-2"),
                upstream_model("up-eof", mock, "close+close-after-2+words-5-1"),
                upstream_model("up-nodone", mock, "nodone+words-5-1")]

    @classmethod
    def make_config(cls):
        cfg = super().make_config()
        cfg["keys"] = [{"name": "alice", "key_sha256": DIGEST, "user": "alice-user",
                        "team": "research"},
                       {"name": "quiet", "key_sha256": META_DIGEST, "capture": "metadata"},
                       {"name": "limited", "key_sha256": LIMITED_DIGEST, "rpm": 1}]
        return cfg

    def test_tags_as_litellm_gives_them(self):
        # the body's, metadata's and the x-litellm-tags header's: each once
        rid, r = self.post({"model": "up-usage", "messages": user_msg("tagged"),
                            "tags": ["body-tag", "prod"],
                            "metadata": {"tags": ["prod", "t2"]}},
                           key=KEY, headers={"x-litellm-tags": "hdr-a, hdr-b,prod"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(sorted(self.record(rid)["tags"]),
                         ["body-tag", "hdr-a", "hdr-b", "prod", "t2"])

    def test_unstreamed_record_has_every_field(self):
        rid, r = self.post({"model": "up-usage", "messages": user_msg("count please"),
                            "temperature": 0.2, "max_tokens": 50,
                            "response_format": {"type": "text"},
                            "metadata": {"trace_user_id": "meta-user", "session_id": "sess-1",
                                         "tags": ["prod", "t2"], "generation_name": "gen-x",
                                         "trace_name": "my-trace", "customer": "acme"}},
                           key=KEY)
        self.assertEqual(r.status, 200, r)
        rec = self.record(rid)
        self.assertEqual(rec["v"], 1)
        self.assertRegex(rec["trace_id"], HEX32)
        self.assertEqual(rec["trace_id"], r.header("x-trace-id"))
        self.assertRegex(rec["span_id"], HEX16)
        self.assertFalse(rec["trace_joined"])
        self.assertNotIn("parent_span_id", rec)
        self.assertEqual((rec["trace_name"], rec["name"]), ("my-trace", "gen-x"))
        self.assertEqual((rec["user"], rec["session"]), ("meta-user", "sess-1"))
        self.assertEqual(rec["tags"], ["prod", "t2"])
        self.assertEqual(rec["metadata"]["customer"], "acme")
        self.assertEqual((rec["metadata"]["key_name"], rec["metadata"]["team"]),
                         ("alice", "research"))
        self.assertEqual((rec["environment"], rec["release"]), ("staging", "v1.2.3"))
        self.assertEqual((rec["model"], rec["provider"], rec["deployment"]),
                         ("up-usage", "openai", "up-usage"))
        self.assertEqual(rec["upstream_model"], "usage-2000-300-1500-100+words-5-1")
        self.assertIn("response_model", rec)
        self.assertEqual(rec["params"]["temperature"], 0.2)
        self.assertEqual(rec["params"]["max_tokens"], 50)
        # nested objects travel as JSON strings: Langfuse refuses them in modelParameters
        self.assertEqual(json.loads(rec["params"]["response_format"]), {"type": "text"})
        self.assertEqual(rec["capture"], "full")
        self.assertEqual(rec["input"], user_msg("count please"))
        self.assertEqual(rec["output"]["role"], "assistant")
        self.assertEqual(rec["output"]["content"], r.json()["choices"][0]["message"]["content"])
        self.assertEqual(rec["usage"], {"input": 500, "cache_read": 1500, "cache_write": 0,
                                        "output": 200, "reasoning": 100, "estimated": False})
        self.assertAlmostEqual(rec["cost"]["total"], float(r.header("x-sllmp-cost-usd")), 9)
        self.assertLessEqual(rec["start_us"], rec["first_token_us"])
        self.assertLessEqual(rec["first_token_us"], rec["end_us"])
        self.assertLess(abs(rec["start_us"] / 1e6 - time.time()), 60)
        self.assertEqual((rec["status"], rec["level"]), (200, "DEFAULT"))
        self.assertFalse(rec["client_gone"])
        self.assertEqual(len(rec["attempts"]), 1, rec["attempts"])
        a = rec["attempts"][0]
        self.assertRegex(a["span_id"], HEX16)
        self.assertNotEqual(a["span_id"], rec["span_id"])
        self.assertEqual((a["status"], a["deployment"], a["provider"]), (200, "up-usage", "openai"))
        self.assertLessEqual(rec["start_us"], a["start_us"])
        self.assertLessEqual(a["end_us"], rec["end_us"])

    def test_headers_win_and_key_user_is_the_fallback(self):
        rid, r = self.post({"model": "mock-echo", "messages": user_msg("hi")}, key=KEY,
                           headers={"X-User-ID": "hdr-user", "X-Session-ID": "hdr-sess"})
        rec = self.record(rid)
        self.assertEqual((rec["user"], rec["session"]), ("hdr-user", "hdr-sess"))
        rid, r = self.post({"model": "mock-echo", "messages": user_msg("hi"), "user": "oa-user"},
                           key=KEY)
        self.assertEqual(self.record(rid)["user"], "oa-user")
        rid, r = self.post({"model": "mock-echo", "messages": user_msg("hi")}, key=KEY)
        self.assertEqual(self.record(rid)["user"], "alice-user")

    def test_streamed_record_rebuilds_the_answer(self):
        rid = uuid.uuid4().hex
        c = self.stack.stream({"model": "up-words", "stream": True, "messages": user_msg("x")},
                              key=MASTER, headers={"X-Request-ID": rid}).read_all()
        self.assertEqual(c.status, 200)
        rec = self.record(rid)
        self.assertTrue(rec["stream"])
        self.assertEqual(rec["output"]["content"], c.content())
        self.assertEqual(rec["output"]["content"], "w1 w2 w3 w4 w5 w6")
        self.assertIn("first_token_us", rec)
        self.assertLess(rec["first_token_us"], rec["end_us"])
        self.assertEqual((rec["status"], rec["level"]), (200, "DEFAULT"))

    def test_stream_cut_at_a_clean_end_is_an_error(self):
        # the upstream's body ends at EOF (no chunked encoding) after two words, no [DONE] and
        # no finish_reason: the client must not take it for a whole answer
        rid = uuid.uuid4().hex
        c = self.stack.stream({"model": "up-eof", "stream": True, "messages": user_msg("x")},
                              key=MASTER, headers={"X-Request-ID": rid}).read_all()
        self.assertEqual(c.status, 200)
        self.assertEqual(c.content(), "w1 w2", c.text())
        data = c.data_events()
        self.assertEqual(data[-1], "[DONE]", c.text())
        err = json.loads(data[-2])["error"]
        self.assertIn("ended before the answer was complete", err["message"])
        rec = self.record(rid)
        # the status the client got (the stream had begun), the level and message of a failure
        self.assertEqual((rec["status"], rec["level"]), (200, "ERROR"))
        self.assertIn("ended before the answer was complete", rec["status_message"])
        self.assertEqual(rec["output"]["content"], "w1 w2")

    def test_stream_without_done_but_finished_is_whole(self):
        # a server that leaves out [DONE] but says finish_reason: a whole answer, and the
        # client still gets its [DONE]
        rid = uuid.uuid4().hex
        c = self.stack.stream({"model": "up-nodone", "stream": True, "messages": user_msg("x")},
                              key=MASTER, headers={"X-Request-ID": rid}).read_all()
        self.assertEqual(c.status, 200)
        self.assertEqual(c.content(), "w1 w2 w3 w4 w5", c.text())
        data = c.data_events()
        self.assertEqual(data[-1], "[DONE]", c.text())
        self.assertFalse([d for d in data if '"error"' in d], c.text())
        finish = [ch.get("finish_reason") for ev in c.json_events()
                  for ch in ev.get("choices") or []]
        self.assertEqual(finish[-1], "stop")
        rec = self.record(rid)
        self.assertEqual((rec["status"], rec["level"]), (200, "DEFAULT"))

    def test_streamed_tool_calls_are_put_together(self):
        rid = uuid.uuid4().hex
        c = self.stack.stream({"model": "up-tools", "stream": True, "messages": user_msg("x"),
                               "tools": [{"type": "function", "function": {"name": "get_weather",
                                                                           "parameters": {}}}]},
                              key=MASTER, headers={"X-Request-ID": rid}).read_all()
        self.assertEqual(c.status, 200)
        calls = {}
        for ev in c.json_events():
            for ch in ev.get("choices") or []:
                for tc in (ch.get("delta") or {}).get("tool_calls") or []:
                    d = calls.setdefault(tc["index"], {"name": "", "arguments": ""})
                    fn = tc.get("function") or {}
                    d["name"] += fn.get("name") or ""
                    d["arguments"] += fn.get("arguments") or ""
        rec = self.record(rid)
        self.assertIn("tools", rec["input"])
        got = [{"name": t["function"]["name"], "arguments": t["function"]["arguments"]}
               for t in rec["output"]["tool_calls"]]
        self.assertEqual(got, [calls[i] for i in sorted(calls)])
        self.assertTrue(all(t["id"] for t in rec["output"]["tool_calls"]))

    def test_upstream_error_is_an_error_record(self):
        rid, r = self.post({"model": "up-500", "messages": user_msg("x")})
        self.assertEqual(r.status, 502, r)
        rec = self.record(rid)
        self.assertEqual((rec["status"], rec["level"]), (502, "ERROR"))
        self.assertTrue(rec["status_message"])
        self.assertEqual(rec["error"]["type"], r.json()["error"]["type"])
        self.assertEqual([a["status"] for a in rec["attempts"]], [500])
        self.assertEqual(rec["attempts"][0]["level"], "ERROR")
        self.assertNotIn("output", rec)

    def test_refused_requests_leave_records(self):
        rid, r = self.post({"model": "no-such-model", "messages": user_msg("x")})
        self.assertEqual(r.status, 404, r)
        rec = self.record(rid)
        self.assertEqual((rec["status"], rec["level"], rec["model"]), (404, "WARNING",
                                                                       "no-such-model"))
        self.assertEqual(rec["attempts"], [])
        # not JSON at all
        rid = uuid.uuid4().hex
        r = self.stack.request("POST", "/v1/chat/completions", body=b"[1, 2]",
                               headers={"X-Request-ID": rid, "Authorization": "Bearer " + MASTER,
                                        "Content-Type": "application/json"})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(self.record(rid)["status"], 400)
        # a wrong key
        rid, r = self.post({"model": "mock-echo", "messages": user_msg("x")}, key="sk-wrong-key-1")
        self.assertEqual(r.status, 401, r)
        rec = self.record(rid)
        self.assertEqual(rec["error"]["type"], r.json()["error"]["type"])
        self.assertNotIn("sk-wrong-key-1", json.dumps(rec))
        # without a valid key nobody's text goes to the spool (or to Langfuse)
        self.assertEqual(rec["capture"], "metadata")
        self.assertNotIn("input", rec)

    def test_without_a_valid_key_the_body_chooses_nothing_in_the_record(self):
        # whoever reaches the gateway without a key must not fill the spool (or Langfuse) with
        # what they choose: no metadata, tags, parameters or names from the body, and the model
        # name as long as the error message quotes it
        big = "m" * 5000  # eight times, within this stack's 64 KB body limit
        rid, r = self.post({"model": "x" * 5000, "messages": user_msg("x"), "user": big,
                            "temperature": 0.5, "junk": big,
                            "metadata": {"note": big, "tags": ["t" * 200] * 50,
                                         "trace_user_id": big, "session_id": big,
                                         "generation_name": big, "trace_name": big,
                                         "trace_metadata": {"k": big}}},
                           key="sk-wrong-key-2")
        self.assertEqual(r.status, 401, r)
        rec = self.record(rid)
        text = json.dumps(rec)
        self.assertLess(len(text), 4000, text[:2000])
        self.assertFalse(big[:200] in text, text[:2000])
        self.assertEqual(rec["model"], "x" * 200)
        self.assertEqual((rec["params"], rec["tags"]), ({}, []))
        self.assertEqual(sorted(rec["metadata"]), ["request_id"])
        self.assertNotIn("user", rec)
        self.assertNotIn("session", rec)
        self.assertEqual(rec["name"], "chat.completions")
        # with the key, the same names count
        rid, r = self.post({"model": "mock-echo", "messages": user_msg("x"), "user": "u1",
                            "temperature": 0.5, "metadata": {"note": "n", "tags": ["t1"],
                                                             "generation_name": "g1"}})
        self.assertEqual(r.status, 200, r)
        rec = self.record(rid)
        self.assertEqual((rec["user"], rec["tags"], rec["name"], rec["metadata"]["note"],
                          rec["params"]["temperature"]), ("u1", ["t1"], "g1", "n", 0.5))

    def test_error_message_cut_between_characters(self):
        # the message quotes at most 200 bytes of the model name; its 200th byte is the first
        # of 'é': the cut goes before the character, in the client's JSON and in the record
        model = "a" * 199 + "\u00e9"
        rid, r = self.post({"model": model, "messages": user_msg("x")})
        self.assertEqual(r.status, 404, r)
        want = "The model '%s' does not exist or is not configured on this gateway." % ("a" * 199)
        self.assertEqual(json.loads(r.body.decode("utf-8"))["error"]["message"], want)
        rec = self.record(rid)  # records() reads the file as UTF-8
        self.assertEqual(rec["status_message"], want)
        self.assertEqual(rec["model"], model)

    def test_bytes_that_are_not_utf8_become_replacement(self):
        # cJSON takes raw bytes that are not UTF-8: the client's error JSON and the record are
        # UTF-8 all the same, each ill-formed sequence U+FFFD
        rid = uuid.uuid4().hex
        body = (b'{"model": "bad\xff\xc3", "metadata": {"note": "caf\xe9"}, '
                b'"messages": [{"role": "user", "content": "x \xe2\x82 y"}]}')
        r = self.stack.request("POST", "/v1/chat/completions", body=body,
                               headers={"X-Request-ID": rid, "Authorization": "Bearer " + MASTER,
                                        "Content-Type": "application/json"})
        self.assertEqual(r.status, 404, r)
        msg = json.loads(r.body.decode("utf-8"))["error"]["message"]
        self.assertIn("'bad\ufffd\ufffd'", msg)
        rec = self.record(rid)
        self.assertEqual(rec["model"], "bad\ufffd\ufffd")
        self.assertEqual(rec["metadata"]["note"], "caf\ufffd")
        self.assertEqual(rec["input"][0]["content"], "x \ufffd y")
        self.assertEqual(rec["status_message"], msg)

    def test_limit_rejection_leaves_a_record(self):
        first, r = self.post({"model": "mock-echo", "messages": user_msg("x")}, key=LIMITED_KEY)
        self.assertEqual(r.status, 200, r)
        rid, r = self.post({"model": "mock-echo", "messages": user_msg("x")}, key=LIMITED_KEY)
        self.assertEqual(r.status, 429, r)
        rec = self.record(rid)
        self.assertEqual((rec["status"], rec["level"]), (429, "WARNING"))
        self.assertEqual(rec["error"]["code"], r.json()["error"]["code"])
        self.assertEqual(rec["attempts"], [])

    def test_client_gone_mid_stream(self):
        rid = uuid.uuid4().hex
        c = self.stack.stream({"model": "up-stall", "stream": True, "messages": user_msg("x")},
                              key=MASTER, headers={"X-Request-ID": rid})
        c.read_until(lambda cl: cl.content(), timeout=5)
        c.close()
        rec = self.record(rid, timeout=10)
        self.assertTrue(rec["client_gone"])
        self.assertEqual((rec["status"], rec["level"]), (499, "WARNING"))
        self.assertTrue(rec["output"]["content"])
        self.assertEqual(len(rec["attempts"]), 1)

    def test_client_trace_is_joined(self):
        tid, parent = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
        rid, r = self.post({"model": "mock-echo", "messages": user_msg("x")},
                           headers={"traceparent": "00-%s-%s-01" % (tid, parent)})
        rec = self.record(rid)
        self.assertEqual((rec["trace_id"], rec["parent_span_id"]), (tid, parent))
        self.assertTrue(rec["trace_joined"])
        self.assertEqual(r.header("x-trace-id"), tid)
        # X-Trace-ID: 32 hex as is (lower-cased), a UUID without dashes, anything else hashed
        rid, r = self.post({"model": "mock-echo", "messages": user_msg("x")},
                           headers={"X-Trace-ID": tid.upper()})
        self.assertEqual(self.record(rid)["trace_id"], tid)
        u = uuid.uuid4()
        rid, r = self.post({"model": "mock-echo", "messages": user_msg("x")},
                           headers={"X-Trace-ID": str(u)})
        self.assertEqual(self.record(rid)["trace_id"], u.hex)
        ids = []
        for _ in range(2):
            rid, r = self.post({"model": "mock-echo", "messages": user_msg("x")},
                               headers={"X-Trace-ID": "my-conversation-7"})
            rec = self.record(rid)
            self.assertRegex(rec["trace_id"], HEX32)
            self.assertEqual(rec["metadata"]["x_trace_id"], "my-conversation-7")
            ids.append(rec["trace_id"])
        self.assertEqual(ids[0], ids[1])
        # LiteLLM's metadata.existing_trace_id
        rid, r = self.post({"model": "mock-echo", "messages": user_msg("x"),
                            "metadata": {"existing_trace_id": tid}})
        self.assertEqual(self.record(rid)["trace_id"], tid)
        # a malformed traceparent is ignored, not trusted
        rid, r = self.post({"model": "mock-echo", "messages": user_msg("x")},
                           headers={"traceparent": "00-%s-%s-01" % ("0" * 32, parent)})
        rec = self.record(rid)
        self.assertFalse(rec["trace_joined"])
        self.assertNotEqual(rec["trace_id"], "0" * 32)

    def test_capture_policy_per_key_and_model(self):
        rid, r = self.post({"model": "mock-echo", "messages": user_msg("quiet words")},
                           key=META_KEY)
        self.assertEqual(r.status, 200, r)
        rec = self.record(rid)
        self.assertEqual(rec["capture"], "metadata")
        self.assertNotIn("input", rec)
        self.assertNotIn("output", rec)
        self.assertNotIn("quiet words", json.dumps(rec))
        self.assertEqual(rec["usage"]["input"] > 0, True)
        rid, r = self.post({"model": "mock-meta", "messages": user_msg("meta words")}, key=KEY)
        rec = self.record(rid)
        self.assertEqual(rec["capture"], "metadata")
        self.assertNotIn("meta words", json.dumps(rec))
        # capture none: no record at all (and the request is served)
        rid, r = self.post({"model": "mock-private", "messages": user_msg("private")}, key=KEY)
        self.assertEqual(r.status, 200, r)
        self.post({"model": "mock-echo", "messages": user_msg("after")})
        time.sleep(0.3)
        self.assertNotIn(rid, records(self.stack.spool))

    def test_user_text_outside_messages_is_input(self):
        # predicted outputs (the document being edited), a completion's suffix, Anthropic's
        # system prompt and embeddings' input are the user's text: under capture metadata none
        # of it is in the record (not even as a parameter); under full it is the input
        doc = {"type": "content", "content": "PRIVATE-DOCUMENT the user is editing"}
        sent = [("/v1/chat/completions", {"model": "mock-echo", "messages": user_msg("x"),
                                          "prediction": doc, "temperature": 0.1}),
                ("/v1/completions", {"model": "up-echo", "prompt": "PRIVATE-PROMPT",
                                     "suffix": "PRIVATE-SUFFIX", "max_tokens": 5}),
                ("/v1/embeddings", {"model": "up-echo", "input": "PRIVATE-EMBED"}),
                ("/v1/messages", {"model": "mock-echo", "max_tokens": 5,
                                  "system": "PRIVATE-SYSTEM", "messages": user_msg("x")})]
        for path, payload in sent:
            rid, r = self.post(payload, key=META_KEY, path=path)
            rec = self.record(rid)
            self.assertEqual(rec["capture"], "metadata", path)
            self.assertNotIn("input", rec)
            self.assertNotIn("PRIVATE-", json.dumps(rec), path)
            for field in ("prediction", "suffix", "system", "prompt", "input"):
                self.assertNotIn(field, rec["params"], path)
        # full: the same text is the input
        rid, r = self.post(sent[0][1], key=KEY, path=sent[0][0])
        self.assertEqual(r.status, 200, r)
        rec = self.record(rid)
        self.assertEqual(rec["input"], {"messages": user_msg("x"), "prediction": doc})
        self.assertEqual(rec["params"], {"temperature": 0.1})
        rid, r = self.post(sent[1][1], key=KEY, path=sent[1][0])
        self.assertEqual(r.status, 200, r)
        rec = self.record(rid)
        self.assertEqual(rec["input"], {"prompt": "PRIVATE-PROMPT", "suffix": "PRIVATE-SUFFIX"})
        self.assertEqual(rec["params"], {"max_tokens": 5})
        rid, r = self.post(sent[3][1], key=KEY, path=sent[3][0])
        self.assertEqual(self.record(rid)["input"][0],
                         {"role": "system", "content": "PRIVATE-SYSTEM"})

    def test_redaction_and_no_key_anywhere(self):
        planted = "my key is %s and %s and %s and ssn 123-45-6789" % (MASTER, KEY, UPSTREAM_KEY)
        rid, r = self.post({"model": "up-echo", "messages": user_msg(planted),
                            "metadata": {"note": "master " + MASTER, "tags": [KEY]}}, key=KEY,
                           headers={"X-User-ID": "u-" + UPSTREAM_KEY})
        self.assertEqual(r.status, 200, r)
        rec = self.record(rid)
        text = json.dumps(rec)
        for secret in (MASTER, KEY, UPSTREAM_KEY, "123-45-6789"):
            self.assertNotIn(secret, text)
        self.assertIn("[REDACTED]", rec["input"][0]["content"])
        self.assertIn("[REDACTED]", rec["output"]["content"])
        self.assertIn("ssn [REDACTED]", rec["output"]["content"])
        # a key where a name goes: the model, a metadata member's name, the trace name
        rid, r = self.post({"model": MASTER, "messages": user_msg("x"),
                            "metadata": {MASTER: "v", "trace_name": "t " + KEY}}, key=KEY)
        self.assertEqual(r.status, 404, r)
        text = json.dumps(self.record(rid))
        for secret in (MASTER, KEY):
            self.assertNotIn(secret, text)
        for root, _, files in os.walk(self.stack.dir):
            for name in files:
                if not os.path.isfile(os.path.join(root, name)):
                    continue  # the pool's socket
                with open(os.path.join(root, name), "rb") as f:
                    data = f.read()
                for secret in (MASTER, KEY, UPSTREAM_KEY):
                    if name == "sllmp.yaml" and secret == MASTER:
                        continue  # the master key is in the test's own config
                    self.assertNotIn(secret.encode(), data, os.path.join(root, name))

    def test_credentials_in_the_body_are_no_params(self):
        # LiteLLM lets clients send their own provider key (and others) in the body: none of
        # it is a parameter, and the redactor does not know those values
        plants = ["sk-client-own-%d-planted" % i for i in range(5)]
        rid, r = self.post({"model": "up-echo", "messages": user_msg("x"), "temperature": 0.5,
                            "max_tokens": 7, "api_key": plants[0],
                            "mcp_servers": [{"type": "url", "url": "https://mcp.example",
                                             "name": "m", "authorization_token": plants[1]}],
                            "extra_headers": {"Authorization": "Bearer " + plants[2]},
                            "aws_secret_access_key": plants[3], "vertex_credentials": plants[4]},
                           key=KEY)
        self.assertEqual(r.status, 200, r)
        rec = self.record(rid)
        self.assertEqual(rec["params"], {"temperature": 0.5, "max_tokens": 7}, rec["params"])
        text = json.dumps(rec)
        for p in plants:
            self.assertNotIn(p, text)

    def test_files_and_directories_are_private(self):
        rid, r = self.post({"model": "mock-echo", "messages": user_msg("x")})
        self.record(rid)
        spool = self.stack.spool
        for d in ("", "tmp", "new", "failed"):
            mode = stat.S_IMODE(os.stat(os.path.join(spool, d)).st_mode)
            self.assertEqual(mode, 0o700, d)
        for name in os.listdir(os.path.join(spool, "new")):
            mode = stat.S_IMODE(os.stat(os.path.join(spool, "new", name)).st_mode)
            self.assertEqual(mode, 0o600, name)
            self.assertRegex(name, r"^\d{10}\.\d{6}\.\d+\.\d+\.[0-9a-f]{8}\.json$")
        self.assertEqual(os.listdir(os.path.join(spool, "tmp")), [])

    def test_one_record_per_request_under_load(self):
        import concurrent.futures as cf
        rids = [uuid.uuid4().hex for _ in range(60)]

        def go(rid):
            if int(rid, 16) % 2:
                return self.stack.stream({"model": "up-words", "stream": True,
                                          "messages": user_msg("x")}, key=MASTER,
                                         headers={"X-Request-ID": rid}).read_all().status
            return self.stack.chat({"model": "up-echo", "messages": user_msg("x")}, key=MASTER,
                                   headers={"X-Request-ID": rid}).status
        with cf.ThreadPoolExecutor(12) as ex:
            self.assertEqual(set(ex.map(go, rids)), {200})
        self.assertTrue(wait_for(lambda: all(r in records(self.stack.spool) for r in rids), 10))
        recs = records(self.stack.spool)
        self.assertEqual([len(recs[r]) for r in rids], [1] * len(rids))


class GatewayToLangfuseTest(TraceCase):
    """The whole path: requests through lighttpd, records in the spool, `sllmp upload` (as cron
    runs it, with the gateway's own YAML), spans at the mock Langfuse; no key on the way."""
    master_key = MASTER

    @classmethod
    def setUpClass(cls):
        from langfuse import Langfuse
        cls.lf = Langfuse().start()
        cls.addClassCleanup(cls.lf.stop)
        super().setUpClass()

    @classmethod
    def models(cls, mock):
        return [upstream_model("up-echo", mock, "echo"),
                upstream_model("up-words", mock, "words-4-5"),
                upstream_model("up-500", mock, "status-500"),
                upstream_model("up-stall", mock, "stall-after-2"),
                upstream_model("up-eof", mock, "close+close-after-2+words-5-1"),
                upstream_model("up-nodone", mock, "nodone+words-5-1")]

    @classmethod
    def make_config(cls):
        cfg = super().make_config()
        cfg["sllmp"]["langfuse"] = {"host": cls.lf.host, "public_key": "os.environ/LF_PK",
                                    "secret_key": "os.environ/LF_SK", "environment": "e2e"}
        return cfg

    def upload(self):
        import subprocess
        from stack import CLI_BIN
        env = dict(os.environ, LF_PK=self.lf.public_key, LF_SK=self.lf.secret_key,
                   MOCK_UPSTREAM_KEY=UPSTREAM_KEY)
        p = subprocess.run([CLI_BIN, "upload", "--config", self.stack.config_path], env=env,
                           cwd=self.stack.dir, capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout + p.stderr

    def test_requests_arrive_as_spans(self):
        planted = "secret " + MASTER + " " + UPSTREAM_KEY
        rids = {}
        rids["plain"], r = self.post({"model": "up-echo", "messages": user_msg(planted),
                                      "metadata": {"tags": ["e2e"]}},
                                     headers={"X-User-ID": "u-e2e", "X-Session-ID": "s-e2e"})
        self.assertEqual(r.status, 200, r)
        rid = uuid.uuid4().hex
        self.stack.stream({"model": "up-words", "stream": True, "messages": user_msg("x")},
                          key=MASTER, headers={"X-Request-ID": rid}).read_all()
        rids["stream"] = rid
        rids["error"], r = self.post({"model": "up-500", "messages": user_msg("x")})
        self.assertEqual(r.status, 502)
        rid = uuid.uuid4().hex
        c = self.stack.stream({"model": "up-stall", "stream": True, "messages": user_msg("x")},
                              key=MASTER, headers={"X-Request-ID": rid})
        c.read_until(lambda cl: cl.content(), timeout=5)
        c.close()
        rids["gone"] = rid
        recs = {k: self.record(v, timeout=10) for k, v in rids.items()}

        rc, out = self.upload()
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"sent 4, retried 0, failed 0, left 0")
        self.assertEqual(os.listdir(os.path.join(self.stack.spool, "new")), [])
        spans = {s["spanId"]: s for s in self.lf.spans()}
        self.assertEqual(len(spans), 8)  # a generation and one attempt each
        for k, rec in recs.items():
            g = spans[rec["span_id"]]
            a = g["attributes"]
            self.assertEqual(g["traceId"], rec["trace_id"])
            self.assertEqual(a["langfuse.observation.type"], "generation")
            self.assertEqual(a["langfuse.environment"], "e2e")
            self.assertEqual(a["langfuse.observation.model.name"], rec["upstream_model"])
            self.assertEqual(g["status"]["code"], 2 if k == "error" else 1, k)
            att = spans[rec["attempts"][0]["span_id"]]
            self.assertEqual(att["parentSpanId"], rec["span_id"])
        plain = spans[recs["plain"]["span_id"]]["attributes"]
        self.assertEqual((plain["user.id"], plain["session.id"]), ("u-e2e", "s-e2e"))
        self.assertEqual(plain["langfuse.trace.tags"], ["e2e"])
        self.assertEqual(json.loads(plain["langfuse.observation.input"])[0]["content"],
                         "secret [REDACTED] [REDACTED]")
        stream = spans[recs["stream"]["span_id"]]["attributes"]
        self.assertEqual(json.loads(stream["langfuse.observation.output"])["content"],
                         "w1 w2 w3 w4")
        self.assertIn("langfuse.observation.completion_start_time", stream)
        gone = spans[recs["gone"]["span_id"]]["attributes"]
        self.assertEqual(gone["langfuse.observation.level"], "WARNING")
        sent = json.dumps(self.lf.spans()) + json.dumps(self.lf.requests())
        for secret in (MASTER, UPSTREAM_KEY, self.lf.secret_key):
            self.assertNotIn(secret, sent)
            self.assertNotIn(secret, out)


class SpoolQuotaTest(unittest.TestCase):
    """A spool of 1 MB fills up: records are dropped and counted, requests keep working; a
    spool removed at run time is made again."""

    def test_removed_spool_is_made_again(self):
        import shutil
        require_binaries()
        stack = Stack(base_config([mock_model("mock-echo", "echo", 0)]))
        self.addCleanup(stack.cleanup)
        stack.start()
        for _ in range(4):  # reach both workers
            self.assertEqual(stack.chat({"model": "mock-echo", "messages": user_msg("a")}).status,
                             200)
        self.assertTrue(wait_for(lambda: len(records(stack.spool)) == 4, 5))
        shutil.rmtree(stack.spool)
        for _ in range(4):
            self.assertEqual(stack.chat({"model": "mock-echo", "messages": user_msg("b")}).status,
                             200)
        self.assertTrue(wait_for(lambda: len(records(stack.spool)) == 4, 5),
                        "records after the spool was removed: %d" % len(records(stack.spool)))
        self.assertEqual(stack.crashes(), [])
        stack.stop()

    def test_full_spool_drops_records_not_requests(self):
        require_binaries()
        cfg = base_config([mock_model("mock-echo", "echo", 0)], max_body_bytes=1048576)
        cfg["sllmp"]["spool"] = {"max_mb": 1, "fsync": False}
        stack = Stack(cfg)
        cfg["sllmp"]["spool"]["dir"] = stack.spool
        from stack import write_config
        write_config(stack.config_path, cfg)
        self.addCleanup(stack.cleanup)
        stack.start()
        big = "word " * 30000  # ~150 KB a request, ~300 KB a record (input and output)
        for i in range(8):
            r = stack.chat({"model": "mock-echo", "messages": user_msg(big)})
            self.assertEqual(r.status, 200, r)
        time.sleep(0.3)
        files = os.listdir(os.path.join(stack.spool, "new"))
        size = sum(os.path.getsize(os.path.join(stack.spool, "new", f)) for f in files)
        self.assertLess(len(files), 8)
        self.assertGreater(len(files), 0)
        self.assertLessEqual(size, 1024 * 1024)
        self.assertIn("spool", stack.diagnostics())
        self.assertIn("max_mb", stack.diagnostics())
        with open(os.path.join(stack.spool, "spool.state"), "rb") as f:
            state = f.read()
        dropped = int.from_bytes(state[24:32], "little")
        self.assertEqual(dropped, 8 - len(files))
        # and the operator's view of it
        import subprocess
        from stack import CLI_BIN
        out = subprocess.run([CLI_BIN, "spool", stack.config_path], capture_output=True,
                             text=True, check=True).stdout
        self.assertIn("waiting: %d records" % len(files), out)
        self.assertIn("written: %d, dropped: %d" % (len(files), dropped), out)
        stack.stop()


if __name__ == "__main__":
    unittest.main()
