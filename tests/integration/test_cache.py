"""The response cache (LiteLLM's litellm_settings.cache) through real stacks.

FilesCacheTest (cache_params.type local: files under $SLLMP_RUNDIR/cache, shared by the pool):
a miss then a hit that the upstream never sees, streamed and unstreamed requests sharing
entries, the key (member order, temperature, user, model group), the body's controls (no-cache,
no-store, s-maxage, ttl, namespace, cache_key, Cache-Control), a key's metadata.cache replacing
the body's, a hit costing nothing (header and budget), embeddings, an upstream failure not kept,
the trace record's cache_hit and cache_key, `sllmp check`'s line.

DefaultOffTest: cache_params.mode default_off (only cache.use-cache requests) and
cache_params.namespace.

RedisCacheTest: `cache: true` with no cache_params is LiteLLM's Redis: two stacks (two pools,
two rundirs) sharing one redis-server share their answers; Redis killed, answers are misses,
never errors.

The upstream is the mock of tests/mock/openai_mock.py; every test sends a text of its own (a
marker) and counts the calls that reached the mock with it.
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import uuid

from stack import (CLI_BIN, ONE_ATTEMPT, Mock, Redis, Stack, StackCase, access_log_lines,
                   base_config, require_binaries, upstream_model, user_msg, wait_for)
from test_keys import new_key
from test_limits import cli_env, redis_cmd
from test_trace import records

MASTER = "sk-cache-master-" + uuid.uuid4().hex[:12]
HEX64 = re.compile(r"^[0-9a-f]{64}$")

# the priced deployment: the mock reports 10 prompt and 10 completion tokens, at $0.001 each
PRICE = {"input_cost_per_token": 0.001, "output_cost_per_token": 0.001}
PRICED_COST = 0.02

BUDGET_KEY, BUDGET_DIGEST = new_key("cache-budget")
NOSTORE_KEY, NOSTORE_DIGEST = new_key("cache-nostore")
MAXAGE_KEY, MAXAGE_DIGEST = new_key("cache-maxage")
LIMITED_KEY, LIMITED_DIGEST = new_key("cache-limited")


def marker():
    return "m" + uuid.uuid4().hex[:12]


class CacheAsserts:
    """Requests and assertions shared by the classes here (mixed into StackCase subclasses)."""

    def upstream(self, text, mock=None):
        """How many requests reached the mock with text in their body."""
        return sum(1 for r in (mock or self.mock).requests()
                   if r["method"] == "POST" and text in r["raw_body"])

    def ask(self, text, model="up-echo", stack=None, key=MASTER, headers=None, **body):
        payload = {"model": model, "messages": user_msg(text)}
        payload.update(body)
        return (stack or self.stack).chat(payload, key=key, headers=headers)

    def assertMiss(self, r):
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("x-sllmp-cache"), "miss", r)
        self.assertTrue(r.header("x-litellm-cache-key"), r)
        return r.header("x-litellm-cache-key")

    def assertHit(self, r):
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("x-sllmp-cache"), "hit", r)
        self.assertTrue(r.header("x-litellm-cache-key"), r)
        # no provider was asked
        self.assertIsNone(r.header("x-sllmp-model-id"), r)
        self.assertIn(r.header("x-sllmp-attempts"), (None, "0"), r)
        return r.header("x-litellm-cache-key")

    def content(self, r):
        return r.json()["choices"][0]["message"]["content"]

    def check_line(self, stack):
        """The "cache: ..." line of `sllmp check` on stack's config."""
        p = subprocess.run([CLI_BIN, "check", stack.config_path], env=cli_env(stack),
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        lines = [l for l in p.stdout.splitlines() if l.startswith("cache:")]
        self.assertEqual(len(lines), 1, p.stdout)
        return lines[0]


# ---------------------------------------------------------------- in files

class FilesCacheTest(CacheAsserts, StackCase):
    master_key = MASTER
    router = dict(ONE_ATTEMPT, fallbacks=[{"up-down": ["up-echo"]}])

    @classmethod
    def models(cls, mock):
        priced = upstream_model("up-priced", mock, "usage-10-10-0-0")
        priced["model_info"] = dict(PRICE)
        return [upstream_model("up-echo", mock, "echo"),
                upstream_model("up-echo-b", mock, "echo"),
                upstream_model("up-500", mock, "status-500"),
                upstream_model("up-down", mock, "status-503"),
                upstream_model("up-tools", mock, "tools"),
                upstream_model("up-cut", mock, "words-6-0+close-after-2"),
                priced]

    @classmethod
    def make_config(cls):
        cls.log_dir = tempfile.mkdtemp(prefix="sllmp-it-log-")
        cls.addClassCleanup(shutil.rmtree, cls.log_dir, True)
        cfg = super().make_config()
        cfg["sllmp"]["access_log"] = os.path.join(cls.log_dir, "access.log")
        cfg["litellm_settings"] = {"cache": True, "cache_params": {"type": "local"}}
        cfg["keys"] = [{"name": "cache-budget", "key_sha256": BUDGET_DIGEST,
                        "budget_usd": 1, "budget_period": "total"},
                       {"name": "cache-nostore", "key_sha256": NOSTORE_DIGEST,
                        "metadata": {"cache": {"no-store": True}}},
                       {"name": "cache-maxage", "key_sha256": MAXAGE_DIGEST,
                        "metadata": {"cache": {"s-maxage": 3600}}},
                       {"name": "cache-limited", "key_sha256": LIMITED_DIGEST,
                        "allowed_cache_controls": ["no-cache"]}]
        return cfg

    def access_lines(self, rids):
        """The access log's lines of the requests rids (waits: written after the response)."""
        found = access_log_lines(os.path.join(self.log_dir, "access.log"), rids)
        self.assertEqual(len(found), len(rids), "not every request logged: %r" % found)
        return found

    # -- a miss, then a hit

    def test_unstreamed_miss_then_hit(self):
        m = marker()
        r1 = self.ask("hello " + m)
        key = self.assertMiss(r1)
        self.assertRegex(key, HEX64)
        self.assertIsNotNone(r1.header("x-sllmp-model-id"), r1)
        self.assertEqual(self.content(r1), "hello " + m)
        self.assertEqual(self.upstream(m), 1)
        r2 = self.ask("hello " + m)
        self.assertEqual(self.assertHit(r2), key)
        self.assertEqual(self.upstream(m), 1, "the hit called the upstream")
        # the stored answer as it was: same id, created, model and usage
        self.assertEqual(r2.json(), r1.json())
        self.assertTrue(r2.header("content-type", "").startswith("application/json"), r2)

    def test_kept_in_a_file_named_by_the_key_until_its_expiry(self):
        m = marker()
        t0 = time.time()
        key = self.assertMiss(self.ask(m))
        path = os.path.join(self.stack.rundir, "cache",
                            hashlib.sha256(key.encode()).hexdigest() + ".json")
        self.assertTrue(os.path.exists(path), os.listdir(os.path.dirname(path)))
        # the file's mtime is its expiry: LiteLLM's 600 s for an in-memory cache
        self.assertAlmostEqual(os.stat(path).st_mtime, t0 + 600, delta=3)
        # a line of what the cache needs, then the answer as the client got it
        with open(path) as f:
            meta, answer = f.read().split("\n", 1)
        self.assertEqual(json.loads(meta)["v"], 1, meta)
        self.assertAlmostEqual(json.loads(meta)["created"], t0, delta=3)
        self.assertEqual(json.loads(answer)["choices"][0]["message"]["content"], m, answer)

    # -- streamed and unstreamed share entries

    def test_stream_then_unstreamed_hit(self):
        m = marker()
        text = "alpha beta " + m
        c = self.stream({"model": "up-echo", "stream": True, "messages": user_msg(text)})
        c.read_all()
        self.assertEqual(c.status, 200, c.text())
        self.assertEqual(c.header("x-sllmp-cache"), "miss", c.headers)
        self.assertEqual(c.content(), text)
        r = self.ask(text)
        self.assertEqual(self.assertHit(r), c.header("x-litellm-cache-key"))
        self.assertEqual(self.upstream(m), 1)
        body = r.json()
        # the stream made whole: a chat.completion with the stream's id, text and finish
        self.assertEqual(body["object"], "chat.completion", body)
        self.assertEqual(body["id"], c.json_events()[0]["id"], body)
        self.assertEqual(body["choices"][0]["message"], {"role": "assistant", "content": text},
                         body)
        self.assertEqual(body["choices"][0]["finish_reason"], "stop", body)
        # the usage the client did not ask for was kept all the same
        self.assertGreater(body["usage"]["completion_tokens"], 0, body)
        # and a stream again: the same text
        c = self.stream({"model": "up-echo", "stream": True, "messages": user_msg(text)})
        c.read_all()
        self.assertEqual((c.header("x-sllmp-cache"), c.content()), ("hit", text), c.text())
        self.assertEqual(self.upstream(m), 1)

    def test_unstreamed_then_streamed_hits(self):
        m = marker()
        text = "gamma delta " + m
        r = self.ask(text)
        key = self.assertMiss(r)
        first = r.json()

        def replay(**extra):
            body = {"model": "up-echo", "stream": True, "messages": user_msg(text)}
            body.update(extra)
            c = self.stream(body)
            c.read_all()
            self.assertEqual(c.status, 200, c.text())
            self.assertEqual(c.header("x-sllmp-cache"), "hit", c.headers)
            self.assertEqual(c.header("x-litellm-cache-key"), key, c.headers)
            self.assertTrue(c.header("content-type", "").startswith("text/event-stream"),
                            c.headers)
            self.assertEqual(c.data_events()[-1], "[DONE]", c.text())
            self.assertEqual(c.content(), text, c.text())
            events = c.json_events()
            for ev in events:
                self.assertEqual((ev["id"], ev["object"]), (first["id"], "chat.completion.chunk"),
                                 ev)
            finishes = [ch["finish_reason"] for ev in events for ch in ev["choices"]
                        if ch.get("finish_reason")]
            self.assertEqual(finishes, ["stop"], c.text())
            return c, events

        c, events = replay()
        # the usage chunk nobody asked for is not shown
        self.assertFalse([e for e in events if e["choices"] == []], c.text())
        c, events = replay(stream_options={"include_usage": True})
        self.assertEqual(events[-1]["choices"], [], c.text())
        self.assertEqual(events[-1]["usage"], first["usage"], c.text())
        self.assertEqual(self.upstream(m), 1)

    def test_tool_calls_streamed_and_not(self):
        m = marker()
        c = self.stream({"model": "up-tools", "stream": True, "messages": user_msg(m)})
        c.read_all()
        self.assertEqual(c.header("x-sllmp-cache"), "miss", c.headers)
        r = self.ask(m, model="up-tools")
        self.assertHit(r)
        choice = r.json()["choices"][0]
        self.assertEqual(choice["finish_reason"], "tool_calls", choice)
        self.assertEqual(choice["message"]["tool_calls"],
                         [{"id": "call_mock1", "type": "function",
                           "function": {"name": "get_weather",
                                        "arguments": '{"city":"Paris"}'}}], choice)
        # and replayed as a stream: the calls in one delta, with their index
        c = self.stream({"model": "up-tools", "stream": True, "messages": user_msg(m)})
        c.read_all()
        self.assertEqual(c.header("x-sllmp-cache"), "hit", c.headers)
        calls = [tc for ev in c.json_events() for ch in ev["choices"]
                 for tc in ch["delta"].get("tool_calls") or []]
        self.assertEqual(calls, [dict(choice["message"]["tool_calls"][0], index=0)], c.text())
        finishes = [ch["finish_reason"] for ev in c.json_events() for ch in ev["choices"]]
        self.assertEqual(finishes[-1], "tool_calls", c.text())
        self.assertEqual(self.upstream(m), 1)

    def test_text_completions_streamed_and_not(self):
        m = marker()
        body = {"model": "up-echo", "prompt": "once upon " + m, "stream": True}
        c = self.stack.stream(body, key=MASTER, path="/v1/completions")
        c.read_all()
        self.assertEqual((c.status, c.header("x-sllmp-cache")), (200, "miss"), c.text())
        streamed = "".join(ch["text"] for ev in c.json_events() for ch in ev["choices"])
        self.assertEqual(streamed, "once upon " + m)
        del body["stream"]
        r = self.stack.chat(body, key=MASTER, path="/v1/completions")
        self.assertEqual(self.assertHit(r), c.header("x-litellm-cache-key"))
        got = r.json()
        self.assertEqual(got["object"], "text_completion", got)
        self.assertEqual((got["choices"][0]["text"], got["choices"][0]["finish_reason"]),
                         (streamed, "stop"), got)
        body["stream"] = True
        c = self.stack.stream(body, key=MASTER, path="/v1/completions")
        c.read_all()
        self.assertEqual(c.header("x-sllmp-cache"), "hit", c.headers)
        self.assertEqual(c.data_events()[-1], "[DONE]", c.text())
        events = c.json_events()
        self.assertEqual("".join(ch["text"] for ev in events for ch in ev["choices"]), streamed)
        self.assertTrue(all(ev["object"] == "text_completion" for ev in events), events)
        self.assertEqual(self.upstream(m), 1)

    # -- the key

    def test_member_order_does_not_change_the_key(self):
        m = marker()
        a = {"model": "up-echo", "temperature": 0.5,
             "messages": [{"role": "user", "content": m}], "max_tokens": 50}
        b = {"max_tokens": 50, "messages": [{"content": m, "role": "user"}],
             "temperature": 0.5, "model": "up-echo"}
        key = self.assertMiss(self.chat(a))
        self.assertEqual(self.assertHit(self.chat(b)), key)
        self.assertEqual(self.upstream(m), 1)

    def test_temperature_user_and_model_group_change_the_key(self):
        m = marker()
        key = self.assertMiss(self.ask(m, temperature=0.5, user="ann"))
        self.assertEqual(self.assertHit(self.ask(m, temperature=0.5, user="ann")), key)
        others = [("temperature", self.ask(m, temperature=0.7, user="ann")),
                  ("user", self.ask(m, temperature=0.5, user="bob")),
                  ("model group", self.ask(m, model="up-echo-b", temperature=0.5, user="ann"))]
        keys = {key}
        for what, r in others:
            keys.add(self.assertMiss(r))
            self.assertRegex(r.header("x-litellm-cache-key"), HEX64, what)
        self.assertEqual(len(keys), 4, keys)
        self.assertEqual(self.upstream(m), 4)

    def test_metadata_and_litellm_settings_not_in_the_key(self):
        m = marker()
        key = self.assertMiss(self.ask(m))
        r = self.ask(m, metadata={"note": "x"}, tags=["t1"], num_retries=1, timeout=30)
        self.assertEqual(self.assertHit(r), key)

    # -- the body's controls

    def test_no_cache_skips_the_read_not_the_write(self):
        m = marker()
        # a fresh answer, and kept
        r = self.ask(m, cache={"no-cache": True})
        key = self.assertMiss(r)
        self.assertEqual(self.upstream(m), 1)
        self.assertEqual(self.assertHit(self.ask(m)), key)
        # an answer there already: asked again
        r = self.ask(m, cache={"no-cache": True})
        self.assertEqual(self.assertMiss(r), key)
        self.assertEqual(self.upstream(m), 2)
        # `cache` is the gateway's: never sent upstream
        for req in self.mock.requests():
            if m in req["raw_body"]:
                self.assertNotIn("cache", req["body"], req["body"])

    def test_no_store_is_not_kept(self):
        m = marker()
        self.assertMiss(self.ask(m, cache={"no-store": True}))
        self.assertMiss(self.ask(m))
        self.assertEqual(self.upstream(m), 2)
        self.assertHit(self.ask(m))
        self.assertEqual(self.upstream(m), 2)

    def test_s_maxage_refuses_an_older_answer(self):
        m = marker()
        old = self.ask(m)
        key = self.assertMiss(old)
        self.assertHit(self.ask(m, cache={"s-maxage": 60}))
        time.sleep(2)
        r = self.ask(m, cache={"s-maxage": 1})
        self.assertEqual(self.assertMiss(r), key)
        self.assertEqual(self.upstream(m), 2)
        # the fresh answer took the old one's place
        r = self.ask(m)
        self.assertHit(r)
        self.assertNotEqual(r.json()["id"], old.json()["id"], r)
        # s-maxage 0: never a stored answer
        self.assertMiss(self.ask(m, cache={"s-max-age": 0}))
        self.assertEqual(self.upstream(m), 3)

    def test_ttl_of_the_request_and_of_cache_control(self):
        m, n = marker(), marker()
        self.assertMiss(self.ask(m, cache={"ttl": 1}))
        self.assertMiss(self.ask(n, headers={"Cache-Control": "s-maxage=1"}))
        self.assertHit(self.ask(m))
        self.assertHit(self.ask(n))
        time.sleep(2.5)
        self.assertMiss(self.ask(m))
        self.assertMiss(self.ask(n))
        self.assertEqual((self.upstream(m), self.upstream(n)), (2, 2))

    # Cache-Control's s-maxage is the ttl also when the key's metadata has cache controls (here
    # s-maxage 3600, no ttl): LiteLLM's proxy makes the header a top-level `ttl`, apart from
    # the `cache` object the key's controls replace.
    def test_cache_control_ttl_with_key_controls(self):
        m = marker()
        self.assertMiss(self.ask(m, key=MAXAGE_KEY, headers={"Cache-Control": "s-maxage=1"}))
        self.assertHit(self.ask(m))
        time.sleep(2.5)
        self.assertMiss(self.ask(m))

    def test_namespace(self):
        m = marker()
        plain = self.assertMiss(self.ask(m))
        r = self.ask(m, cache={"namespace": "ns"})
        key = self.assertMiss(r)
        self.assertEqual(key, "ns:" + plain, r)
        self.assertEqual(self.assertHit(self.ask(m, cache={"namespace": "ns"})), key)
        # LiteLLM's metadata.redis_namespace, when the body's cache names none
        r = self.ask(m, metadata={"redis_namespace": "rns"})
        self.assertEqual(self.assertMiss(r), "rns:" + plain)
        self.assertEqual(self.upstream(m), 3)

    def test_own_cache_key_used_verbatim(self):
        m = marker()
        own = "my-own-key-" + m
        r1 = self.ask("first " + m, cache_key=own)
        self.assertEqual(self.assertMiss(r1), own)
        # no namespace before it either
        self.assertEqual(self.assertHit(self.ask("third " + m, cache_key=own,
                                                 cache={"namespace": "ns"})), own)
        # another body under the same key: the first answer
        r2 = self.ask("second " + m, cache_key=own)
        self.assertEqual(self.assertHit(r2), own)
        self.assertEqual(self.content(r2), "first " + m)
        self.assertEqual(self.upstream(m), 1)
        # the same key at another front door is not the chat's answer
        body = {"model": "up-echo", "input": ["emb " + m], "cache_key": own}
        r3 = self.stack.chat(body, key=MASTER, path="/v1/embeddings")
        self.assertEqual(self.assertMiss(r3), own)
        self.assertIn("embedding", r3.json()["data"][0], r3)

    def test_damaged_entry_is_a_miss(self):
        m = marker()
        key = self.assertMiss(self.ask(m))
        path = os.path.join(self.stack.rundir, "cache",
                            hashlib.sha256(key.encode()).hexdigest() + ".json")
        st = os.stat(path)
        for text in ('{"v":1,"kind":0,"created":1}\n{"choices": [', "not json at all"):
            with open(path, "w") as f:
                f.write(text)
            os.utime(path, (st.st_atime, st.st_mtime))  # still unexpired
            r = self.ask(m)
            self.assertMiss(r)
            self.assertEqual(self.content(r), m)
        self.assertHit(self.ask(m))  # the fresh answer was kept over it

    def test_cache_not_an_object_refused(self):
        m = marker()
        for bad in ("no-cache", True, ["no-store"], 5):
            r = self.ask(m, cache=bad)
            self.assertOpenAIError(r, 400, param="cache", etype="invalid_request_error")
        self.assertEqual(self.upstream(m), 0)

    # -- the key's controls

    def test_allowed_cache_controls(self):
        # LiteLLM's key permission: only the controls it lists, 403 for another
        m = marker()
        r = self.ask(m, key=LIMITED_KEY, cache={"no-store": True})
        self.assertEqual(r.status, 403, r)
        err = r.json()["error"]
        self.assertEqual(err["param"], "cache", err)
        self.assertIn("no-store", err["message"], err)
        self.assertEqual(self.upstream(m), 0)
        self.assertMiss(self.ask(m, key=LIMITED_KEY, cache={"no-cache": True}))
        self.assertHit(self.ask(m, key=LIMITED_KEY))
        # the master key (and a key without the list) may set any
        self.assertMiss(self.ask(m, cache={"no-store": True, "no-cache": True}))

    # -- /cache/ping, /cache/delete, /cache/flushall

    def admin(self, method, path, body=None, key=MASTER):
        h = {"Authorization": "Bearer " + key}
        if body is not None:
            h["Content-Type"] = "application/json"
            body = json.dumps(body)
        return self.stack.request(method, path, body, h)

    def test_ping(self):
        r = self.admin("GET", "/cache/ping")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"status": "healthy", "cache_type": "local",
                                    "ping_response": True, "set_cache_response": "success"})
        # its probe is not left behind
        d = os.path.join(self.stack.rundir, "cache")
        before = set(os.listdir(d))
        self.assertEqual(self.admin("GET", "/cache/ping").status, 200)
        self.assertEqual(set(os.listdir(d)), before)
        self.assertEqual(self.stack.request("GET", "/cache/ping").status, 401)

    def test_delete_by_key(self):
        m, n = marker(), marker()
        key = self.assertMiss(self.ask(m))
        self.assertMiss(self.ask(n))
        r = self.admin("POST", "/cache/delete", {"keys": [key, "no-such-key"]})
        self.assertEqual((r.status, r.json()), (200, {"status": "success"}), r)
        self.assertMiss(self.ask(m))
        self.assertHit(self.ask(n))
        r = self.admin("POST", "/cache/delete", {"keys": key})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["error"]["param"], "keys", r)
        # a virtual key may not delete, the master key's gateway
        r = self.admin("POST", "/cache/delete", {"keys": [key]}, key=BUDGET_KEY)
        self.assertEqual(r.status, 403, r)
        self.assertHit(self.ask(m))

    def test_flushall(self):
        m = marker()
        self.assertMiss(self.ask(m))
        self.assertHit(self.ask(m))
        r = self.admin("POST", "/cache/flushall", key=BUDGET_KEY)
        self.assertEqual(r.status, 403, r)
        self.assertHit(self.ask(m))
        r = self.admin("POST", "/cache/flushall", {})
        self.assertEqual((r.status, r.json()), (200, {"status": "success"}), r)
        self.assertEqual([f for f in os.listdir(os.path.join(self.stack.rundir, "cache"))
                          if f.endswith(".json")], [])
        self.assertMiss(self.ask(m))

    def test_key_metadata_controls_replace_the_body(self):
        # the key says no-store: its answers are not kept, whatever the body says
        m = marker()
        self.assertMiss(self.ask(m, key=NOSTORE_KEY, cache={"ttl": 300}))
        self.assertMiss(self.ask(m))
        self.assertEqual(self.upstream(m), 2)
        # ... and the body's no-cache is replaced too: the key reads what is there
        n = marker()
        key = self.assertMiss(self.ask(n))
        r = self.ask(n, key=NOSTORE_KEY, cache={"no-cache": True})
        self.assertEqual(self.assertHit(r), key)
        self.assertEqual(self.upstream(n), 1)

    # -- cost

    def test_hit_costs_nothing(self):
        m = marker()
        # max_tokens: the budget's worst case is about the actual cost
        r1 = self.ask(m, model="up-priced", key=BUDGET_KEY, max_tokens=10)
        self.assertMiss(r1)
        self.assertAlmostEqual(float(r1.header("x-sllmp-cost-usd")), PRICED_COST, places=9)
        r2 = self.ask(m, model="up-priced", key=BUDGET_KEY, max_tokens=10)
        self.assertHit(r2)
        self.assertEqual(r2.header("x-sllmp-cost-usd"), "0", r2)
        self.assertEqual(r2.json()["usage"], r1.json()["usage"])
        rows = {}

        def settled():
            p = subprocess.run([CLI_BIN, "usage", "--json", self.stack.config_path],
                               env=cli_env(self.stack), capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            rows.update({row["subject"]: row for row in json.loads(p.stdout)})
            return rows.get("key:cache-budget", {}).get("requests") == 2
        self.assertTrue(wait_for(settled, 5), "the requests never settled: %r" % rows)
        k = rows["key:cache-budget"]
        # the budget paid for the miss only
        self.assertAlmostEqual(k["spent_usd"], PRICED_COST, places=9)
        self.assertEqual(k["reserved_usd"], 0, k)
        # but its tokens count, as LiteLLM's tpm counts a hit's usage
        self.assertEqual((k["tokens_in"], k["tokens_out"]), (20, 20), k)

    # -- embeddings

    def embed_twice(self, m):
        body = {"model": "up-echo", "input": ["one " + m, "two " + m]}
        r1 = self.stack.chat(body, key=MASTER, path="/v1/embeddings")
        key = self.assertMiss(r1)
        self.assertEqual(len(r1.json()["data"]), 2, r1)
        r2 = self.stack.chat(body, key=MASTER, path="/v1/embeddings")
        self.assertEqual(self.assertHit(r2), key)
        return r1.json(), r2.json()

    def test_embeddings_miss_then_hit(self):
        m = marker()
        first, hit = self.embed_twice(m)
        self.assertEqual(self.upstream(m), 1)
        self.assertEqual([d["index"] for d in hit["data"]], [0, 1], hit)
        self.assertEqual(hit["usage"], first["usage"])
        for a, b in zip(first["data"], hit["data"]):
            self.assertEqual(len(a["embedding"]), len(b["embedding"]))
            for x, y in zip(a["embedding"], b["embedding"]):
                self.assertAlmostEqual(x, y, places=12)
        # the same input in a chat: another key
        self.assertMiss(self.ask("one " + m))

    # the hit's vectors are the stored answer's bytes: printed again, cJSON's %1.15g would do
    # for a number that reads back within an epsilon (0.506807565689087 for 0.5068075656890869)
    def test_embeddings_hit_vectors_exact(self):
        first, hit = self.embed_twice(marker())
        self.assertEqual(hit, first)

    # -- what is not kept

    def test_upstream_failure_not_kept(self):
        m = marker()
        for i in range(2):
            r = self.ask(m, model="up-500")
            self.assertGreaterEqual(r.status, 500, r)
            self.assertNotEqual(r.header("x-sllmp-cache"), "hit", r)
        self.assertEqual(self.upstream(m), 2, "the failure was kept")

    def test_empty_answer_not_kept(self):
        # the echo of an empty message is an answer with nothing in it
        m = marker()
        for i in range(2):
            r = self.ask("", user=m)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("x-sllmp-cache"), "miss", r)
            self.assertEqual(self.content(r), "", r)
        self.assertEqual(self.upstream(m), 2)

    def test_broken_stream_not_kept(self):
        # two words, then the upstream hangs up: not an answer to keep
        m = marker()
        c = self.stream({"model": "up-cut", "stream": True, "messages": user_msg(m)})
        c.read_all()
        self.assertEqual(c.header("x-sllmp-cache"), "miss", c.headers)
        self.assertIn('"error"', c.text())
        r = self.ask(m, model="up-cut")
        self.assertEqual(r.header("x-sllmp-cache"), "miss", r)
        self.assertEqual(self.content(r), "w1 w2 w3 w4 w5 w6", r)
        self.assertEqual(self.upstream(m), 2)

    def test_fallback_answer_not_kept(self):
        # up-down fails, up-echo answers for it: not up-down's answer to keep
        m = marker()
        for i in range(2):
            r = self.ask(m, model="up-down")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("x-sllmp-cache"), "miss", r)
            self.assertEqual(self.content(r), m)
        self.assertEqual(self.upstream(m), 4)

    # -- the trace

    def test_trace_record_and_access_log_say_hit_or_miss(self):
        m = marker()
        rids = [uuid.uuid4().hex, uuid.uuid4().hex]
        key = self.assertMiss(self.ask(m, model="up-priced", max_tokens=10,
                                       headers={"X-Request-ID": rids[0]}))
        self.assertHit(self.ask(m, model="up-priced", max_tokens=10,
                                headers={"X-Request-ID": rids[1]}))
        self.assertTrue(wait_for(lambda: all(rid in records(self.stack.spool) for rid in rids),
                                 5), "no trace records")
        recs = records(self.stack.spool)
        miss, hit = recs[rids[0]][0], recs[rids[1]][0]
        self.assertIs(miss["metadata"]["cache_hit"], False, miss["metadata"])
        self.assertIs(hit["metadata"]["cache_hit"], True, hit["metadata"])
        self.assertEqual((miss["metadata"]["cache_key"], hit["metadata"]["cache_key"]),
                         (key, key))
        # the hit's usage is the stored answer's
        self.assertEqual(hit["usage"], miss["usage"])
        logged = self.access_lines(set(rids))
        self.assertEqual((logged[rids[0]]["cache"], logged[rids[1]]["cache"]), ("miss", "hit"))
        self.assertAlmostEqual(logged[rids[0]]["cost_usd"], PRICED_COST, places=9)
        self.assertEqual(logged[rids[1]]["cost_usd"], 0, logged[rids[1]])
        # a request the cache takes no part in says nothing of it
        r = self.stack.request("GET", "/v1/models", headers={"Authorization": "Bearer " + MASTER})
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.header("x-sllmp-cache"), r)

    # the trace record of a hit costs nothing, as its x-sllmp-cost-usd, its access log line and
    # the budgets say (LiteLLM logs a hit with response cost 0), though it keeps its usage
    def test_trace_record_of_a_hit_costs_nothing(self):
        m = marker()
        rids = [uuid.uuid4().hex, uuid.uuid4().hex]
        for rid in rids:
            r = self.ask(m, model="up-priced", max_tokens=10, headers={"X-Request-ID": rid})
            self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("x-sllmp-cache"), "hit", r)
        self.assertTrue(wait_for(lambda: all(rid in records(self.stack.spool) for rid in rids),
                                 5), "no trace records")
        recs = records(self.stack.spool)
        self.assertAlmostEqual(recs[rids[0]][0]["cost"]["total"], PRICED_COST, places=9)
        self.assertEqual(recs[rids[1]][0]["cost"]["total"], 0, recs[rids[1]][0]["cost"])

    # -- sllmp check

    def test_check_prints_the_cache(self):
        self.assertEqual(self.check_line(self.stack),
                         "cache: local, in files in %s (quota 256 MB), ttl 600s; caches chat, "
                         "text completions, embeddings" % os.path.join(self.stack.rundir,
                                                                       "cache"))


# ---------------------------------------------------------------- mode default_off

class DefaultOffTest(CacheAsserts, StackCase):
    master_key = MASTER

    @classmethod
    def models(cls, mock):
        return [upstream_model("up-echo", mock, "echo")]

    @classmethod
    def make_config(cls):
        cfg = super().make_config()
        cfg["litellm_settings"] = {"cache": True,
                                   "cache_params": {"mode": "default_off", "namespace": "team1",
                                                    "ttl": 30}}
        return cfg

    def test_only_use_cache_requests_are_cached(self):
        m = marker()
        for i in range(2):
            r = self.ask(m)
            self.assertEqual(r.status, 200, r)
            self.assertIsNone(r.header("x-sllmp-cache"), r)
            self.assertIsNone(r.header("x-litellm-cache-key"), r)
        self.assertEqual(self.upstream(m), 2)
        key = self.assertMiss(self.ask(m, cache={"use-cache": True}))
        self.assertTrue(key.startswith("team1:") and HEX64.match(key[6:]), key)
        self.assertEqual(self.assertHit(self.ask(m, cache={"use-cache": True})), key)
        # what use-cache kept is not read without it either
        self.assertIsNone(self.ask(m).header("x-sllmp-cache"))
        self.assertEqual(self.upstream(m), 4)

    def test_check_prints_the_cache(self):
        # cache_params without a type: LiteLLM's in-memory cache, here files
        self.assertEqual(self.check_line(self.stack),
                         "cache: local, in files in %s (quota 256 MB), ttl 30s, namespace team1, "
                         "only requests with cache.use-cache; caches chat, text completions, "
                         "embeddings" % os.path.join(self.stack.rundir, "cache"))


# ---------------------------------------------------------------- in Redis

class RedisCacheTest(CacheAsserts, StackCase):
    """Two stacks (each its own lighttpd, pool and SLLMP_RUNDIR) sharing one redis-server."""

    @classmethod
    def setUpClass(cls):
        require_binaries()
        cls.mock = Mock().start()
        cls.addClassCleanup(cls.mock.stop)
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.cleanup)
        cls.redis.start()
        cls.stacks = []
        for i in range(2):
            models = [upstream_model("up-echo", cls.mock, "echo")]
            if i == 0:
                # LiteLLM: cache on with no cache_params is Redis, here the gateway's
                cfg = base_config(models, master_key=MASTER,
                                  redis={"url": cls.redis.url, "timeout_ms": 1000})
                cfg["litellm_settings"] = {"cache": True}
            else:
                # no Redis of its own: the one cache_params names becomes the gateway's
                cfg = base_config(models, master_key=MASTER)
                cfg["litellm_settings"] = {"cache": True,
                                           "cache_params": {"type": "redis",
                                                            "host": "127.0.0.1",
                                                            "port": cls.redis.port}}
            st = Stack(cfg)
            cls.addClassCleanup(st.cleanup)
            st.start()
            cls.stacks.append(st)
        cls.stack = cls.stacks[0]

    def setUp(self):
        self.addCleanup(self.redis_up)

    def redis_up(self):
        if self.redis.proc is None or self.redis.proc.poll() is not None:
            self.redis.start()

    def test_miss_on_one_stack_is_a_hit_on_the_other(self):
        a, b = self.stacks
        m = marker()
        r1 = self.ask(m, stack=a)
        key = self.assertMiss(r1)
        r2 = self.ask(m, stack=b)
        self.assertEqual(self.assertHit(r2), key)
        self.assertEqual(r2.json(), r1.json())
        self.assertEqual(self.upstream(m), 1)
        # kept in Redis, for LiteLLM's 60 s, under the SHA-256 of the key
        name = hashlib.sha256(key.encode()).hexdigest()
        names = [n.decode() for n in redis_cmd(self.redis.port, "KEYS", "*" + name + "*")]
        self.assertEqual(names, ["{sllmp:doc:cache:%s}" % name])
        ttl = redis_cmd(self.redis.port, "TTL", names[0])
        self.assertTrue(50 <= ttl <= 60, ttl)
        # not in files
        for st in self.stacks:
            d = os.path.join(st.rundir, "cache")
            self.assertFalse(os.path.isdir(d) and os.listdir(d), d)

    def test_redis_down_answers_are_misses(self):
        m = marker()
        self.assertMiss(self.ask(m))
        self.redis.proc.kill()
        self.redis.proc.wait()
        for st in self.stacks * 2:
            r = self.ask(m, stack=st)
            self.assertLess(r.status, 500, r)
            self.assertMiss(r)
            self.assertEqual(self.content(r), m)
        self.assertEqual(self.upstream(m), 5)
        # Redis back (and past the half second a failed store stays down): kept and found
        self.redis.start()
        time.sleep(0.6)
        self.assertMiss(self.ask(m, stack=self.stacks[1]))
        self.assertHit(self.ask(m, stack=self.stacks[0]))
        self.assertEqual(self.upstream(m), 6)

    def test_ping_flushall_and_delete_in_redis(self):
        m, n = marker(), marker()
        r = self.stack.request("GET", "/cache/ping", headers={"Authorization": "Bearer " + MASTER})
        self.assertEqual((r.status, r.json()["cache_type"]), (200, "redis"), r)
        key = self.assertMiss(self.ask(m))
        self.assertMiss(self.ask(n))
        # another document of the gateway's, which a flush leaves alone
        redis_cmd(self.redis.port, "SET", "{sllmp:doc:resp_keepme}", "x")
        h = {"Authorization": "Bearer " + MASTER, "Content-Type": "application/json"}
        r = self.stacks[1].request("POST", "/cache/delete", json.dumps({"keys": [key]}), h)
        self.assertEqual(r.status, 200, r)
        self.assertMiss(self.ask(m))
        self.assertHit(self.ask(n))
        r = self.stacks[1].request("POST", "/cache/flushall", "{}", h)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(redis_cmd(self.redis.port, "KEYS", "{sllmp:doc:cache:*"), [])
        self.assertEqual(redis_cmd(self.redis.port, "GET", "{sllmp:doc:resp_keepme}"), b"x")
        redis_cmd(self.redis.port, "DEL", "{sllmp:doc:resp_keepme}")
        self.assertMiss(self.ask(n))
        # Redis down: the probe fails
        self.redis.proc.kill()
        self.redis.proc.wait()
        r = self.stack.request("GET", "/cache/ping", headers={"Authorization": "Bearer " + MASTER})
        self.assertEqual(r.status, 503, r)

    def test_check_prints_the_cache(self):
        for st in self.stacks:
            self.assertEqual(self.check_line(st), "cache: in redis, ttl 60s; caches chat, "
                             "text completions, embeddings")


if __name__ == "__main__":
    unittest.main()
