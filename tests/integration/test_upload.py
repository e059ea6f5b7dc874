"""`sllmp upload`: the spool drained to the strict Langfuse mock (tests/mock/langfuse_mock.py),
OTLP and legacy, through every failure the uploader has to survive: Langfuse down for a whole
run, 429 with Retry-After, per-event 500 and 400 in a 207, 401, a kill -9 in the middle of a
request, two uploaders at once, corrupt files. Records are written here as the gateway would write
them (docs/internals/spool.md, version 1). The Langfuse secret key is planted in the config and
must appear in no output, payload or reason file."""

import json
import os
import pty
import random
import re
import select
import shutil
import signal
import subprocess
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from langfuse import Langfuse
from stack import CLI_BIN, _tmpdir, wait_for, write_config

SECRET = "sk-lf-planted-secret-7c1e9b"
PUBLIC = "pk-lf-upload-test"
SUMMARY = re.compile(r"sllmp upload: sent (\d+), retried (\d+), failed (\d+), left (\d+) "
                     r"\(([0-9.]+)s(, dry run)?\)")

_SEQ = [0]


def hexid(bits):
    while True:
        v = random.getrandbits(bits)
        if v:
            return "%0*x" % (bits // 4, v)


def make_record(i=0, attempts=1, **kw):
    """A valid version-1 record (the fields of docs/internals/spool.md)."""
    start = int(time.time() * 1e6) - 60_000_000 + i * 1000
    rec = {
        "v": 1, "request_id": "req-%d" % i, "trace_id": hexid(128), "span_id": hexid(64),
        "trace_joined": False, "trace_name": "chat.completions", "name": "chat.completions",
        "user": "user-%d" % (i % 7), "session": "sess-%d" % (i % 3), "tags": ["it", "t%d" % i],
        "metadata": {"key_name": "k1", "team": "research", "request_id": "req-%d" % i},
        "environment": "test", "endpoint": "/v1/chat/completions", "stream": bool(i % 2),
        "model": "fast", "response_model": "gpt-4o-mini-2024-07-18", "provider": "openai",
        "deployment": "fast", "upstream_model": "gpt-4o-mini",
        "params": {"temperature": 0.5, "max_tokens": 64}, "capture": "full",
        "input": [{"role": "user", "content": "question %d" % i}],
        "output": {"role": "assistant", "content": "answer %d" % i},
        "usage": {"input": 10 + i, "cache_read": 4, "cache_write": 0, "output": 5,
                  "reasoning": 0, "estimated": False},
        "cost": {"input": 0.0001, "cache_read": 0.00001, "cache_write": 0, "output": 0.0002,
                 "reasoning": 0, "total": 0.00031},
        "start_us": start, "first_token_us": start + 200_000, "end_us": start + 900_000,
        "status": 200, "level": "DEFAULT", "client_gone": False, "attempts": []}
    for k in range(attempts):
        rec["attempts"].append({
            "span_id": hexid(64), "name": "upstream openai", "provider": "openai",
            "deployment": "fast", "model": "gpt-4o-mini", "start_us": start + 1000 + k,
            "end_us": start + 800_000, "status": 200, "level": "DEFAULT"})
    rec.update(kw)
    return rec


def record_name(rec):
    """A spool file name: <sec:10>.<usec:06>.<pid>.<seq>.<8 hex>.json, sorting by time."""
    _SEQ[0] += 1
    return "%010d.%06d.%d.%d.%08x.json" % (rec["start_us"] // 1000000, rec["start_us"] % 1000000,
                                           os.getpid(), _SEQ[0], random.getrandbits(32))


def replace_bytes(spool, name, *pairs):
    """Rewrites spool/new/name with each (old, new) byte string replaced: bytes a record written
    by json.dump cannot hold (not UTF-8)."""
    path = os.path.join(spool, "new", name)
    with open(path, "rb") as f:
        data = f.read()
    for old, new in pairs:
        data = data.replace(old, new)
    with open(path, "wb") as f:
        f.write(data)


def write_records(spool, recs):
    """Writes records into spool/new (via tmp/, as the gateway does); returns their names."""
    names = []
    for rec in recs:
        name = record_name(rec)
        tmp = os.path.join(spool, "tmp", name)
        with open(tmp, "w") as f:
            f.write(json.dumps(rec) + "\n")
        os.rename(tmp, os.path.join(spool, "new", name))
        names.append(name)
    return names


def write_raw(spool, name, data):
    with open(os.path.join(spool, "new", name), "wb") as f:
        f.write(data)


def parse_summary(err):
    m = SUMMARY.search(err)
    if not m:
        raise AssertionError("no summary line in stderr: %r" % err)
    return {"sent": int(m.group(1)), "retried": int(m.group(2)), "failed": int(m.group(3)),
            "left": int(m.group(4)), "time": float(m.group(5))}


class WebPage(BaseHTTPRequestHandler):
    """A web site where Langfuse should be: 200 and HTML for anything."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"<html><body>Welcome!</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class UploadCase(unittest.TestCase):
    api = "otel"

    @classmethod
    def setUpClass(cls):
        if not os.access(CLI_BIN, os.X_OK):
            raise unittest.SkipTest("build/sllmp missing (run make)")
        cls.lf = Langfuse(public_key=PUBLIC, secret_key=SECRET).start()
        cls.addClassCleanup(cls.lf.stop)

    def setUp(self):
        self.lf.reset()
        self.dir = _tmpdir("sllmp-upload-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.spool = os.path.join(self.dir, "spool")
        for sub in ("tmp", "new"):
            os.makedirs(os.path.join(self.spool, sub), 0o700)
        self.config = os.path.join(self.dir, "sllmp.yaml")
        self.write_config()

    def write_config(self, host=None, api=None):
        write_config(self.config, {
            "model_list": [],
            "sllmp": {"spool": {"dir": self.spool},
                      "langfuse": {"host": host or self.lf.host,
                                   "public_key": "os.environ/TEST_LF_PUBLIC",
                                   "secret_key": "os.environ/TEST_LF_SECRET",
                                   "api": api or self.api}}})

    def env(self, **kw):
        env = {k: v for k, v in os.environ.items()
               if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
        env.update(TEST_LF_PUBLIC=PUBLIC, TEST_LF_SECRET=SECRET)
        env.update(kw)
        return {k: v for k, v in env.items() if v is not None}

    def cmd(self, *args):
        return [CLI_BIN, "upload", "--config", self.config] + list(args)

    def upload(self, *args, env=None, timeout=60):
        p = subprocess.run(self.cmd(*args), env=env or self.env(), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout)
        out, err = p.stdout.decode(), p.stderr.decode()
        self.assertNotIn(SECRET, out)
        self.assertNotIn(SECRET, err)
        self.assertNotIn("Authorization", err)
        return p.returncode, out, err

    # -- spool inspection

    def new_files(self):
        return sorted(f for f in os.listdir(os.path.join(self.spool, "new"))
                      if f.endswith(".json"))

    def failed_files(self):
        d = os.path.join(self.spool, "failed")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def reason(self, name):
        with open(os.path.join(self.spool, "failed", name[:-5] + ".reason")) as f:
            text = f.read()
        self.assertNotIn(SECRET, text)
        return text

    def span_ids(self):
        return {s["spanId"]: s for s in self.lf.spans()}

    def assert_all_arrived(self, recs):
        spans = self.span_ids()
        for rec in recs:
            self.assertIn(rec["span_id"], spans, "generation of %s missing" % rec["request_id"])
            for a in rec["attempts"]:
                self.assertIn(a["span_id"], spans)
        return spans


class OtelUploadTest(UploadCase):
    def test_happy_path_every_record_with_its_attributes(self):
        recs = [make_record(i) for i in range(40)]
        recs.append(make_record(40, attempts=2, level="ERROR", status=502,
                                status_message="upstream failed", error={"type": "api_error",
                                                                         "code": "upstream"}))
        # its first attempt failed: an ERROR span of its own times
        recs[-1]["attempts"][0].update(status=502, level="ERROR",
                                       end_us=recs[-1]["start_us"] + 5000)
        recs.append(make_record(41, trace_joined=True, parent_span_id=hexid(64)))
        recs.append(make_record(42, provider="anthropic", upstream_model="claude-sonnet-4-5"))
        recs.append(make_record(43, capture="metadata", input=None, output=None))
        del recs[-1]["input"], recs[-1]["output"]
        write_records(self.spool, recs)
        rc, out, err = self.upload()
        self.assertEqual(rc, 0, err)
        self.assertEqual(parse_summary(err),
                         dict(parse_summary(err), sent=44, retried=0, failed=0, left=0))
        self.assertEqual(self.new_files(), [])
        spans = self.assert_all_arrived(recs)
        self.assertEqual(len(spans), 44 + 45)
        for rec in recs:
            g = spans[rec["span_id"]]
            a = g["attributes"]
            self.assertEqual(g["traceId"], rec["trace_id"])
            self.assertEqual(g["parentSpanId"], rec.get("parent_span_id", ""))
            self.assertEqual(g["kind"], 3)
            self.assertEqual(g["startTimeUnixNano"], str(rec["start_us"] * 1000))
            self.assertEqual(g["endTimeUnixNano"], str(rec["end_us"] * 1000))
            self.assertEqual(g["resource"], {"service.name": "sllmp"})
            self.assertEqual(a["langfuse.observation.type"], "generation")
            self.assertEqual(a["langfuse.observation.model.name"], rec["upstream_model"])
            self.assertEqual(json.loads(a["langfuse.observation.model.parameters"]),
                             rec["params"])
            self.assertEqual(a["user.id"], rec["user"])
            self.assertEqual(a["session.id"], rec["session"])
            self.assertEqual(a["langfuse.trace.tags"], rec["tags"])
            self.assertEqual(json.loads(a["langfuse.trace.metadata"]), rec["metadata"])
            self.assertEqual(a["langfuse.environment"], "test")
            cached = "input_cache_read" if rec["provider"] == "anthropic" \
                else "input_cached_tokens"
            self.assertEqual(json.loads(a["langfuse.observation.usage_details"]),
                             {"input": rec["usage"]["input"], cached: 4, "output": 5})
            cost = json.loads(a["langfuse.observation.cost_details"])
            self.assertAlmostEqual(cost["total"], 0.00031)
            self.assertAlmostEqual(cost[cached], 0.00001)
            if "input" in rec:
                self.assertEqual(json.loads(a["langfuse.observation.input"]), rec["input"])
                self.assertEqual(json.loads(a["langfuse.observation.output"]), rec["output"])
            else:
                self.assertNotIn("langfuse.observation.input", a)
            if rec["trace_joined"]:
                self.assertNotIn("langfuse.trace.name", a)
                self.assertNotIn("langfuse.trace.input", a)
            else:
                self.assertEqual(a["langfuse.trace.name"], "chat.completions")
                self.assertEqual("langfuse.trace.input" in a, "input" in rec)
            self.assertEqual(g["status"]["code"], 2 if rec["level"] == "ERROR" else 1)
            for at in rec["attempts"]:
                s = spans[at["span_id"]]
                self.assertEqual(s["parentSpanId"], rec["span_id"])
                self.assertEqual(s["traceId"], rec["trace_id"])
                self.assertEqual(s["name"], at["name"])
                self.assertEqual(s["startTimeUnixNano"], str(at["start_us"] * 1000))
                self.assertEqual(s["endTimeUnixNano"], str(at["end_us"] * 1000))
                self.assertEqual(s["status"]["code"], 2 if at["level"] == "ERROR" else 1)
                self.assertEqual(s["attributes"]["langfuse.observation.type"], "span")
                self.assertEqual(s["attributes"]["user.id"], rec["user"])
                self.assertEqual(s["attributes"]["langfuse.trace.tags"], rec["tags"])
        # headers of the requests
        reqs = self.lf.requests()
        self.assertEqual(len(reqs), 1)
        h = reqs[0]["headers"]
        self.assertEqual(h["x-langfuse-ingestion-version"], "4")
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(h["x-langfuse-sdk-name"], "sllmp")
        self.assertTrue(h["user-agent"].startswith("sllmp/"))

    def test_batches_stay_under_the_size_limit(self):
        # ~40 KB records: 2.5 MB holds about 60 of them
        recs = [make_record(i, input=[{"role": "user", "content": "x" * 20000}])
                for i in range(150)]
        write_records(self.spool, recs)
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        self.assert_all_arrived(recs)
        reqs = self.lf.requests()
        self.assertGreaterEqual(len(reqs), 3)
        for q in reqs:
            self.assertEqual(q["status"], 200)
            self.assertLessEqual(q["bytes"], 2_500_000)

    def test_record_over_1mb_arrives_cut_with_the_marker(self):
        big = make_record(0, input=[{"role": "user", "content": "q" * 1_500_000}])
        small = make_record(1)
        write_records(self.spool, [big, small])
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        spans = self.assert_all_arrived([big, small])
        a = spans[big["span_id"]]["attributes"]
        text = a["langfuse.observation.input"]
        m = re.search(r"\[truncated by sllmp: (\d+) bytes\]$", text)
        self.assertIsNotNone(m, text[-200:])
        kept = len(text) - len(m.group(0))
        self.assertEqual(kept + int(m.group(1)), len(json.dumps(big["input"],
                                                                  separators=(",", ":"))))
        self.assertTrue(text.startswith('[{"role":"user","content":"qqq'))
        self.assertEqual(a["langfuse.trace.input"], text)
        self.assertEqual(json.loads(a["langfuse.observation.output"]), big["output"])
        self.assertLessEqual(self.lf.requests()[0]["bytes"], 1_100_000)
        # the small one is whole
        self.assertEqual(json.loads(spans[small["span_id"]]["attributes"]
                                    ["langfuse.observation.input"]), small["input"])

    def test_big_metadata_is_cut_and_the_input_arrives_whole(self):
        # 1.2 MB of client metadata, on each of the 3 spans, is what makes this record big: that
        # is cut, and the input of 100 KB, no problem of its own, is not
        big = make_record(0, attempts=2, metadata={"blob": "m" * 1_200_000, "key_name": "k1"},
                          input=[{"role": "user", "content": "q" * 100_000}])
        big["params"]["logit_bias"] = json.dumps({str(t): 1 for t in range(40_000)})
        small = make_record(1)
        write_records(self.spool, [big, small])
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        self.assertEqual(parse_summary(err)["sent"], 2, err)
        for q in self.lf.requests():
            self.assertLessEqual(q["bytes"], 1_100_000)
        spans = self.assert_all_arrived([big, small])
        for sid in [big["span_id"]] + [a["span_id"] for a in big["attempts"]]:
            md = json.loads(spans[sid]["attributes"]["langfuse.trace.metadata"])
            self.assertEqual(md["key_name"], "k1")
            m = re.search(r"\[truncated by sllmp: (\d+) bytes\]$", md["blob"])
            self.assertIsNotNone(m, md["blob"][-100:])
            self.assertEqual(len(md["blob"]) - len(m.group(0)) + int(m.group(1)), 1_200_000)
        a = spans[big["span_id"]]["attributes"]
        self.assertEqual(json.loads(a["langfuse.observation.input"]), big["input"])
        params = json.loads(a["langfuse.observation.model.parameters"])
        self.assertEqual(params["temperature"], 0.5)
        self.assertIn("[truncated by sllmp: ", params["logit_bias"])

    def test_record_the_cut_cannot_shrink_goes_to_failed(self):
        # tags, names and models are not cut: a record that is still over 1 MB after the cut
        # is never sent (it would take a request past 2.5 MB alone); failed/ says why
        huge = make_record(0, attempts=2, tags=["t" * 600_000])
        small = make_record(1)
        names = write_records(self.spool, [huge, small])
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        s = parse_summary(err)
        self.assertEqual((s["sent"], s["failed"], s["left"]), (1, 1, 0), err)
        self.assertEqual(self.failed_files(), sorted([names[0], names[0][:-5] + ".reason"]))
        self.assertRegex(self.reason(names[0]),
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z too large after cutting: "
                         r"\d{7} bytes \(at most 1000000\)\n$")
        for q in self.lf.requests():
            self.assertLessEqual(q["bytes"], 2_500_000)
        self.assertNotIn(huge["span_id"], self.span_ids())
        self.assert_all_arrived([small])
        self.assertEqual(self.new_files(), [])

    def test_bytes_that_are_not_utf8_cost_no_record(self):
        # a record from a gateway that let a message be cut mid-character, or a client's raw
        # Latin-1: the export carries U+FFFD instead, and Langfuse takes it
        recs = [make_record(0, status=404, level="WARNING", status_message="MSG"), make_record(1)]
        names = write_records(self.spool, recs)
        replace_bytes(self.spool, names[0], (b'"MSG"', b'"The model \'aaa\xc3\' does not exist"'),
                      (b'"research"', b'"caf\xe9"'))
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        s = parse_summary(err)
        self.assertEqual((s["sent"], s["failed"]), (2, 0), err)
        self.assertEqual([q["status"] for q in self.lf.requests()], [200])
        a = self.assert_all_arrived(recs)[recs[0]["span_id"]]["attributes"]
        self.assertEqual(a["langfuse.observation.status_message"],
                         "The model 'aaa\ufffd' does not exist")
        self.assertEqual(json.loads(a["langfuse.trace.metadata"])["team"], "caf\ufffd")

    def test_trace_name_cut_as_in_legacy(self):
        rec = make_record(0, trace_name="n" * 1500)
        write_records(self.spool, [rec])
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.span_ids()[rec["span_id"]]["attributes"]["langfuse.trace.name"],
                         "n" * 1000)

    def test_down_for_a_whole_run_then_everything_arrives(self):
        recs = [make_record(i) for i in range(30)]
        names = write_records(self.spool, recs)
        self.lf.set_mode(mode="down")
        t0 = time.monotonic()
        rc, _, err = self.upload("--max-time", "3")
        self.assertEqual(rc, 1, err)
        self.assertLess(time.monotonic() - t0, 8)
        self.assertIn("unavailable", err)
        self.assertEqual(parse_summary(err)["left"], 30)
        self.assertEqual(parse_summary(err)["sent"], 0)
        self.assertEqual(self.new_files(), sorted(names))    # nothing deleted
        self.assertGreaterEqual(len(self.lf.requests()), 2)   # it did retry
        self.assertEqual(self.lf.spans(), [])
        self.lf.set_mode(mode="ok")
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.new_files(), [])
        self.assert_all_arrived(recs)

    def test_500_then_ok_is_retried(self):
        recs = [make_record(i) for i in range(10)]
        write_records(self.spool, recs)
        self.lf.set_mode(mode="500", count=2)
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        s = parse_summary(err)
        self.assertEqual((s["sent"], s["retried"], s["left"]), (10, 10, 0))
        self.assertEqual([q["status"] for q in self.lf.requests()], [500, 500, 200])
        self.assert_all_arrived(recs)

    def test_429_honours_retry_after(self):
        recs = [make_record(i) for i in range(20)]
        write_records(self.spool, recs)
        self.lf.set_mode(mode="429", retry_after="1", count=2)
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        s = parse_summary(err)
        self.assertEqual((s["sent"], s["retried"], s["failed"], s["left"]), (20, 20, 0, 0))
        reqs = self.lf.requests()
        self.assertEqual([q["status"] for q in reqs], [429, 429, 200])
        # each retry waited the second Langfuse asked for
        self.assertGreaterEqual(reqs[1]["time"] - reqs[0]["time"], 0.95)
        self.assertGreaterEqual(reqs[2]["time"] - reqs[1]["time"], 0.95)
        self.assert_all_arrived(recs)

    def test_retry_after_beyond_the_budget_leaves_everything(self):
        write_records(self.spool, [make_record(i) for i in range(5)])
        self.lf.set_mode(mode="429", retry_after="30")
        t0 = time.monotonic()
        rc, _, err = self.upload("--max-time", "5")
        self.assertEqual(rc, 1, err)
        self.assertLess(time.monotonic() - t0, 4)  # gave up at once instead of waiting 30 s
        self.assertEqual(len(self.lf.requests()), 1)
        self.assertEqual(len(self.new_files()), 5)

    def test_401_stops_with_exit_3_and_never_shows_the_key(self):
        names = write_records(self.spool, [make_record(i) for i in range(5)])
        wrong = "sk-lf-wrong-secret-0000"
        rc, out, err = self.upload(env=self.env(TEST_LF_SECRET=wrong))
        self.assertEqual(rc, 3, err)
        self.assertIn("rejected the keys", err)
        self.assertNotIn(wrong, out + err)
        self.assertEqual(self.new_files(), sorted(names))
        self.assertEqual(parse_summary(err)["left"], 5)
        # 403 (ingestion suspended) likewise
        self.lf.set_mode(mode="403")
        rc, out, err = self.upload()
        self.assertEqual(rc, 3, err)
        self.assertIn("rejected the keys", err)
        self.assertEqual(self.new_files(), sorted(names))

    def test_wrong_host_answering_200_html_deletes_nothing(self):
        srv = ThreadingHTTPServer(("127.0.0.1", 0), WebPage)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        names = write_records(self.spool, [make_record(i) for i in range(5)])
        for api in ("otel", "legacy"):
            self.write_config(host="http://127.0.0.1:%d" % srv.server_address[1], api=api)
            rc, _, err = self.upload()
            self.assertEqual(rc, 1, err)
            self.assertIn("unexpected answer", err)
            self.assertEqual(self.new_files(), sorted(names))

    def test_missing_key_names_the_variable(self):
        write_records(self.spool, [make_record(0)])
        rc, _, err = self.upload(env=self.env(TEST_LF_SECRET=None))
        self.assertEqual(rc, 2, err)
        self.assertIn("TEST_LF_SECRET", err)
        self.assertEqual(len(self.new_files()), 1)
        self.assertEqual(self.lf.requests(), [])

    def test_litellm_langfuse_variables_stand_for_the_section(self):
        # a LiteLLM setup: success_callback [langfuse] and LANGFUSE_* in the environment, no
        # sllmp.langfuse section at all
        write_config(self.config, {"model_list": [],
                                   "litellm_settings": {"success_callback": ["langfuse"]},
                                   "sllmp": {"spool": {"dir": self.spool},
                                             "langfuse": {"api": self.api}}})
        recs = [make_record(i) for i in range(3)]
        write_records(self.spool, recs)
        rc, _, err = self.upload(env=self.env(LANGFUSE_PUBLIC_KEY=PUBLIC,
                                              LANGFUSE_SECRET_KEY=SECRET,
                                              LANGFUSE_HOST=self.lf.host + "/"))
        self.assertEqual(rc, 0, err)
        self.assertEqual(parse_summary(err)["sent"], 3)
        self.assert_all_arrived(recs)
        self.assertEqual(self.new_files(), [])

    def test_bad_record_is_isolated_by_halving(self):
        recs = [make_record(i) for i in range(21)]
        # a record from a gateway that did not flatten its params: Langfuse refuses the export
        recs[13]["params"]["response_format"] = {"json_schema": {"strict": True}}
        names = write_records(self.spool, recs)
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        s = parse_summary(err)
        self.assertEqual((s["sent"], s["failed"], s["left"]), (20, 1, 0))
        self.assertEqual(self.failed_files(), sorted([names[13], names[13][:-5] + ".reason"]))
        reason = self.reason(names[13])
        self.assertRegex(reason, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z HTTP 400: ")
        self.assertIn("nested", reason)
        spans = self.span_ids()
        self.assertNotIn(recs[13]["span_id"], spans)
        self.assert_all_arrived(recs[:13] + recs[14:])
        self.assertEqual(self.new_files(), [])

    def test_partial_success_isolates_the_rejected_records(self):
        # OTLP 200 with partialSuccess: Langfuse kept the batch but the spans of two traces and
        # says not which; those two records end in failed/, the others are deleted
        recs = [make_record(i, attempts=1 + i % 2) for i in range(24)]
        names = write_records(self.spool, recs)
        bad = (5, 17)
        self.lf.set_mode(mode="partial", trace_ids=[recs[k]["trace_id"] for k in bad])
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        s = parse_summary(err)
        self.assertEqual((s["sent"], s["failed"], s["left"]), (22, 2, 0))
        self.assertEqual([f for f in self.failed_files() if f.endswith(".json")],
                         sorted(names[k] for k in bad))
        for k in bad:
            reason = self.reason(names[k])
            self.assertRegex(reason, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z HTTP 200: ")
            self.assertIn("%d of its %d span(s) rejected: mock fault (mode partial)"
                          % (2 + k % 2, 2 + k % 2), reason)
            self.assertIn("rejected " + names[k], err)
        spans = self.span_ids()
        for k in bad:
            self.assertNotIn(recs[k]["span_id"], spans)
        self.assert_all_arrived([r for k, r in enumerate(recs) if k not in bad])
        self.assertEqual(self.new_files(), [])
        # the first export carried everything; then halves down to the two records alone
        reqs = self.lf.requests()
        self.assertEqual(reqs[0]["spans"], sum(2 + k % 2 for k in range(24)))
        self.assertLessEqual(len(reqs), 1 + 2 * 2 * 5)

    def test_partial_success_once_deletes_nothing_unsent(self):
        # one partial answer (every 2nd span), then Langfuse takes everything: the halves sent
        # again deliver what the first answer left out, and nothing ends in failed/
        recs = [make_record(i) for i in range(16)]
        write_records(self.spool, recs)
        self.lf.set_mode(mode="partial", every=2, count=1)
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        s = parse_summary(err)
        self.assertEqual((s["sent"], s["failed"], s["left"]), (16, 0, 0))
        self.assert_all_arrived(recs)
        self.assertEqual(self.failed_files(), [])
        self.assertEqual(self.new_files(), [])
        self.assertEqual([q["status"] for q in self.lf.requests()], [200, 200, 200])

    def test_refusal_of_everything_stops_instead_of_emptying_the_spool(self):
        # every record refused (as if Langfuse changed its rules): ten go to failed/, then stop
        recs = [make_record(i) for i in range(30)]
        for r in recs:
            r["params"]["response_format"] = {"json_schema": {"strict": True}}
        write_records(self.spool, recs)
        rc, _, err = self.upload()
        self.assertEqual(rc, 1, err)
        self.assertIn("refused the last 10 records", err)
        s = parse_summary(err)
        self.assertEqual((s["sent"], s["failed"], s["left"]), (0, 10, 20))
        self.assertEqual(len([f for f in self.failed_files() if f.endswith(".json")]), 10)
        self.assertEqual(len(self.new_files()), 20)

    def test_corrupt_files_go_to_failed(self):
        good = make_record(0)
        write_records(self.spool, [good])
        write_raw(self.spool, "1700000000.000001.1.1.00000001.json", b"{not json")
        write_raw(self.spool, "1700000000.000002.1.2.00000002.json",
                  json.dumps(dict(make_record(1), v=99)).encode())
        write_raw(self.spool, "1700000000.000003.1.3.00000003.json",
                  json.dumps(dict(make_record(2), span_id="XYZ")).encode())
        write_raw(self.spool, ".1700000000.000004.1.4.00000004.json", b"hidden")
        write_raw(self.spool, "notes.txt", b"not a record")
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        s = parse_summary(err)
        self.assertEqual((s["sent"], s["failed"], s["left"]), (1, 3, 0))
        for i in (1, 2, 3):
            name = "1700000000.00000%d.1.%d.0000000%d.json" % (i, i, i)
            self.assertIn(name, self.failed_files())
            self.assertIn("corrupt record: ", self.reason(name))
        self.assertIn("not JSON", self.reason("1700000000.000001.1.1.00000001.json"))
        self.assertIn("version", self.reason("1700000000.000002.1.2.00000002.json"))
        left = sorted(os.listdir(os.path.join(self.spool, "new")))
        self.assertEqual(left, [".1700000000.000004.1.4.00000004.json", "notes.txt"])
        self.assert_all_arrived([good])

    def test_record_that_cannot_move_to_failed_stays_without_a_reason(self):
        """When the record itself cannot be moved into failed/ (here a directory is in its
        way), it stays in new/ and its .reason, already written, is taken back."""
        name = "1700000000.000001.1.1.00000001.json"
        write_raw(self.spool, name, b"{not json")
        os.makedirs(os.path.join(self.spool, "failed", name, "in-the-way"), mode=0o700)
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        s = parse_summary(err)
        self.assertEqual((s["sent"], s["failed"], s["left"]), (0, 0, 1), err)
        self.assertIn("cannot move %s" % name, err)
        self.assertEqual(self.new_files(), [name])
        self.assertEqual(self.failed_files(), [name])  # the directory, and no .reason

    def test_dry_run_prints_payload_and_changes_nothing(self):
        recs = [make_record(i) for i in range(5)]
        names = write_records(self.spool, recs)
        rc, out, err = self.upload("--dry-run")
        self.assertEqual(rc, 0, err)
        lines = out.strip().split("\n")
        self.assertEqual(len(lines), 1)
        doc = json.loads(lines[0])
        spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
        self.assertEqual({s["spanId"] for s in spans},
                         {r["span_id"] for r in recs} |
                         {a["span_id"] for r in recs for a in r["attempts"]})
        self.assertNotIn(SECRET, out)
        self.assertEqual(parse_summary(err)["left"], 5)
        self.assertIn("dry run", err)
        self.assertEqual(self.new_files(), sorted(names))
        self.assertEqual(self.lf.requests(), [])
        # the printed payload is what the mock accepts
        from stack import http_request
        r = http_request(self.lf.port, "POST", "/api/public/otel/v1/traces", lines[0].encode(),
                         {"Content-Type": "application/json",
                          "Authorization": self.lf.auth_header()})
        self.assertEqual(r.status, 200, r.body)

    def spool_state(self):
        """(bytes, records) of new/ in spool.state (docs/internals/spool.md)."""
        with open(os.path.join(self.spool, "spool.state"), "rb") as f:
            data = f.read(64)
        self.assertEqual(data[:8], b"SLLMPSP1")
        return (int.from_bytes(data[8:16], "little", signed=True),
                int.from_bytes(data[16:24], "little", signed=True))

    def test_limit_quiet_and_the_spool_counters(self):
        write_records(self.spool, [make_record(i) for i in range(10)])
        # counters gone wrong: the run recounts new/, then subtracts what it sent
        with open(os.path.join(self.spool, "spool.state"), "wb") as f:
            f.write(b"SLLMPSP1" + (12345).to_bytes(8, "little") + (999).to_bytes(8, "little")
                    + bytes(40))
        rc, out, err = self.upload("--limit", "4")
        self.assertEqual(rc, 0, err)
        self.assertEqual(parse_summary(err)["sent"], 4)
        self.assertEqual(parse_summary(err)["left"], 6)
        self.assertEqual(len(self.new_files()), 6)
        size = sum(os.path.getsize(os.path.join(self.spool, "new", n)) for n in self.new_files())
        self.assertEqual(self.spool_state(), (size, 6))
        rc, out, err = self.upload("--quiet")
        self.assertEqual((rc, out, err), (0, "", ""))  # all sent: silent for cron
        self.assertEqual(self.new_files(), [])
        self.assertEqual(self.spool_state(), (0, 0))

    def test_stale_tmp_files_are_swept(self):
        old = os.path.join(self.spool, "tmp", "1.000000.1.1.00000000.json")
        fresh = os.path.join(self.spool, "tmp", "2.000000.1.1.00000000.json")
        for path in (old, fresh):
            with open(path, "w") as f:
                f.write("{")
        t = time.time() - 37 * 3600
        os.utime(old, (t, t))
        write_records(self.spool, [make_record(0)])
        rc, out, err = self.upload()
        self.assertEqual(rc, 0, err)
        self.assertFalse(os.path.exists(old))
        self.assertTrue(os.path.exists(fresh))  # a writer may still be writing it
        self.assertIn("older than 36 h", err)

    def test_bad_arguments(self):
        for args in (["--max-time", "soon"], ["--limit", "0"], ["--frobnicate"]):
            rc, _, err = self.upload(*args)
            self.assertEqual(rc, 2, args)
            self.assertIn("usage: sllmp upload", err + "usage: sllmp upload")

    def test_kill_9_mid_request_loses_nothing(self):
        recs = [make_record(i) for i in range(300)]
        names = write_records(self.spool, recs)
        self.lf.set_mode(mode="slow", delay_s=2)
        p = subprocess.Popen(self.cmd(), env=self.env(), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            self.assertTrue(wait_for(lambda: self.lf.requests(), 10), "no request came")
            time.sleep(0.3)   # the body is on its way; the mock sleeps before answering
            p.send_signal(signal.SIGKILL)
            p.wait(5)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()
        self.assertEqual(self.new_files(), sorted(names))   # nothing deleted without an answer
        self.lf.set_mode(mode="ok")
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        self.assertEqual(parse_summary(err)["sent"], 300)   # the claims of the killed run are free
        self.assertEqual(self.new_files(), [])
        # the killed request's spans may arrive twice (the mock finishes it): same ids, that's all
        wait_for(lambda: len(self.lf.requests()) >= 2 and
                 all(q["status"] is not None for q in self.lf.requests()), 5)
        spans = self.assert_all_arrived(recs)
        self.assertEqual(len(spans), 600)
        self.assertLessEqual(max(s["received"] for s in spans.values()), 2)

    def test_two_uploaders_never_send_a_record_twice(self):
        recs = [make_record(i) for i in range(2000)]
        write_records(self.spool, recs)
        self.lf.set_mode(mode="slow", delay_s=0.3)
        procs = [subprocess.Popen(self.cmd(), env=self.env(), stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for _ in range(2)]
        results = []
        for p in procs:
            out, err = p.communicate(timeout=60)
            results.append((p.returncode, err.decode()))
        for rc, err in results:
            self.assertEqual(rc, 0, err)
            self.assertNotIn(SECRET, err)
        self.assertEqual(sum(parse_summary(e)["sent"] for _, e in results), 2000, results)
        self.assertEqual(self.new_files(), [])
        spans = self.assert_all_arrived(recs)
        self.assertEqual(len(spans), 4000)
        twice = [s for s in spans.values() if s["received"] != 1]
        self.assertEqual(twice, [])

    def test_progress_line_on_a_terminal(self):
        write_records(self.spool, [make_record(i) for i in range(3)])
        self.lf.set_mode(mode="slow", delay_s=0.8)
        master, slave = pty.openpty()
        p = subprocess.Popen(self.cmd(), env=self.env(), stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        data = b""
        end = time.monotonic() + 20
        while time.monotonic() < end:
            r, _, _ = select.select([master], [], [], 0.5)
            if r:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                data += chunk
            elif p.poll() is not None:
                break
        p.wait(5)
        os.close(master)
        text = data.decode("utf-8", "replace")
        self.assertEqual(p.returncode, 0, text)
        self.assertIn("\r", text)
        self.assertIn("to go", text)
        self.assertEqual(parse_summary(text)["sent"], 3)


class LegacyUploadTest(UploadCase):
    api = "legacy"

    def test_happy_path_events_and_entities(self):
        recs = [make_record(i, attempts=1 + i % 2) for i in range(20)]
        recs.append(make_record(20, trace_joined=True, parent_span_id=hexid(64)))
        write_records(self.spool, recs)
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        self.assertEqual(parse_summary(err)["sent"], 21)
        self.assertEqual(self.new_files(), [])
        events = {e["id"]: e for e in self.lf.events()}
        self.assertEqual(len(events), sum(2 + len(r["attempts"]) for r in recs))
        for rec in recs:
            t = events[rec["span_id"] + "-trace-create"]
            g = events[rec["span_id"] + "-generation-create"]
            self.assertRegex(t["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertEqual(t["body"]["id"], rec["trace_id"])
            self.assertEqual(g["body"]["traceId"], rec["trace_id"])
            self.assertEqual(g["body"]["model"], "gpt-4o-mini")
            self.assertEqual(g["body"]["usageDetails"],
                             {"input": rec["usage"]["input"], "input_cached_tokens": 4,
                              "output": 5})
            self.assertEqual(g["body"]["input"], rec["input"])
            if rec["trace_joined"]:
                self.assertNotIn("name", t["body"])
                self.assertNotIn("input", t["body"])
                self.assertEqual(g["body"]["parentObservationId"], rec["parent_span_id"])
            else:
                self.assertEqual(t["body"]["name"], "chat.completions")
                self.assertEqual(t["body"]["output"], rec["output"])
            for a in rec["attempts"]:
                s = events[a["span_id"] + "-span-create"]
                self.assertEqual(s["body"]["parentObservationId"], rec["span_id"])
        req = self.lf.requests()[0]
        self.assertEqual(req["status"], 207)
        self.assertNotIn("x-langfuse-ingestion-version", req["headers"])

    def test_per_event_500_resent_per_event_400_failed(self):
        recs = [make_record(i) for i in range(12)]    # 3 events each
        names = write_records(self.spool, recs)
        # first answer: every 2nd event 500 -> those records are resent
        self.lf.set_mode(mode="partial", every=2, status=500, count=1)
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        s = parse_summary(err)
        self.assertEqual((s["sent"], s["failed"], s["left"]), (12, 0, 0))
        # records 0..11 hold events 1..36: a record is hit unless its 3 events are all odd,
        # which no 3 consecutive positions are
        self.assertEqual(s["retried"], 12)
        self.assertEqual([q["status"] for q in self.lf.requests()], [207, 207])
        self.assertEqual(self.new_files(), [])
        self.assertEqual(len(self.lf.events()), 36)

        # every 4th event refused for good (400): those records go to failed/
        self.lf.reset()
        recs = [make_record(i) for i in range(12)]
        names = write_records(self.spool, recs)
        self.lf.set_mode(mode="partial", every=4, status=400, count=1)
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        hit = [k for k in range(12) if any((3 * k + j) % 4 == 0 for j in (1, 2, 3))]
        s = parse_summary(err)
        self.assertEqual((s["sent"], s["failed"], s["left"]), (12 - len(hit), len(hit), 0))
        self.assertEqual(len(self.lf.requests()), 1)
        failed = [f for f in self.failed_files() if f.endswith(".json")]
        self.assertEqual(failed, sorted(names[k] for k in hit))
        for k in hit:
            self.assertIn("HTTP 207: event refused: ", self.reason(names[k]))
            self.assertIn("Invalid request data", self.reason(names[k]))
        events = {e["id"] for e in self.lf.events()}
        for k in range(12):
            if k not in hit:
                self.assertIn(recs[k]["span_id"] + "-generation-create", events)
        self.assertEqual(self.new_files(), [])

    def test_refusal_of_every_record_moves_nothing(self):
        recs = [make_record(i) for i in range(12)]
        for r in recs:
            r["params"]["response_format"] = {"json_schema": {"strict": True}}
        names = write_records(self.spool, recs)
        rc, _, err = self.upload()
        self.assertEqual(rc, 1, err)
        self.assertIn("refused every event of all 12 records", err)
        self.assertIn("nested", err)
        self.assertEqual(self.new_files(), sorted(names))
        self.assertEqual(self.failed_files(), [])

    def test_v4_events_only_stops_the_run(self):
        names = write_records(self.spool, [make_record(i) for i in range(5)])
        self.lf.set_mode(v4=True)
        rc, _, err = self.upload()
        self.assertEqual(rc, 1, err)
        self.assertIn("no longer accepts legacy ingestion", err)
        self.assertIn("sllmp.langfuse.api: otel", err)
        self.assertEqual(self.new_files(), sorted(names))
        self.assertEqual(self.failed_files(), [])
        # switched to otel, the same records arrive
        self.write_config(api="otel")
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.new_files(), [])

    def test_big_metadata_cut_and_what_cannot_be_cut_failed(self):
        big = make_record(0, metadata={"blob": "m" * 1_500_000, "key_name": "k1"})
        huge = make_record(1, user="u" * 1_100_000)
        small = make_record(2)
        names = write_records(self.spool, [big, huge, small])
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        s = parse_summary(err)
        self.assertEqual((s["sent"], s["failed"], s["left"]), (2, 1, 0), err)
        self.assertIn("too large after cutting: ", self.reason(names[1]))
        for q in self.lf.requests():
            self.assertLessEqual(q["bytes"], 1_100_000)
        events = {e["id"]: e for e in self.lf.events()}
        md = events[big["span_id"] + "-trace-create"]["body"]["metadata"]
        self.assertEqual(md["key_name"], "k1")
        self.assertRegex(md["blob"], r"^m+\[truncated by sllmp: \d+ bytes\]$")
        self.assertEqual(events[big["span_id"] + "-generation-create"]["body"]["input"],
                         big["input"])
        self.assertNotIn(huge["span_id"] + "-trace-create", events)
        self.assertIn(small["span_id"] + "-trace-create", events)

    def test_bytes_that_are_not_utf8_cost_no_record(self):
        # legacy writes metadata, params and input as JSON text: there too U+FFFD
        recs = [make_record(0, status=404, level="WARNING", status_message="MSG"), make_record(1)]
        names = write_records(self.spool, recs)
        replace_bytes(self.spool, names[0], (b'"MSG"', b'"aaa\xc3"'),
                      (b'"research"', b'"caf\xe9"'), (b'"question 0"', b'"q\xe2\x82"'))
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        self.assertEqual(parse_summary(err)["sent"], 2, err)
        events = {e["id"]: e for e in self.lf.events()}
        t = events[recs[0]["span_id"] + "-trace-create"]["body"]
        g = events[recs[0]["span_id"] + "-generation-create"]["body"]
        self.assertEqual(t["metadata"]["team"], "caf\ufffd")
        self.assertEqual(g["input"][0]["content"], "q\ufffd")
        self.assertEqual(g["statusMessage"], "aaa\ufffd")

    def test_trace_name_over_1000_is_cut_not_refused(self):
        # trace-create refuses a name over 1000 characters (a client's metadata.trace_name):
        # the name is cut between characters, the record arrives and stays whole in the spool
        recs = [make_record(0, trace_name="n" * 1500), make_record(1, trace_name="\u00e9" * 600),
                make_record(2)]
        write_records(self.spool, recs)
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        s = parse_summary(err)
        self.assertEqual((s["sent"], s["failed"]), (3, 0), err)
        events = {e["id"]: e for e in self.lf.events()}
        names = [events[r["span_id"] + "-trace-create"]["body"]["name"] for r in recs]
        self.assertEqual(names, ["n" * 1000, "\u00e9" * 500, "chat.completions"])

    def test_too_large_for_langfuse_is_split_then_failed(self):
        # a Langfuse whose body limit is 300 KB: batches are split down to single records;
        # a single record over the limit goes to failed/
        small = Langfuse(public_key=PUBLIC, secret_key=SECRET,
                         extra_args=["--legacy-max-bytes", "300000"]).start()
        self.addCleanup(small.stop)
        self.write_config(host=small.host)
        recs = [make_record(i, input=[{"role": "user", "content": "y" * 40000}])
                for i in range(10)]
        huge = make_record(10, input=[{"role": "user", "content": "z" * 200000}])
        names = write_records(self.spool, recs + [huge])
        rc, _, err = self.upload()
        self.assertEqual(rc, 0, err)
        s = parse_summary(err)
        self.assertEqual((s["sent"], s["failed"], s["left"]), (10, 1, 0))
        self.assertIn("HTTP 413", self.reason(names[10]))
        statuses = [q["status"] for q in small.requests()]
        self.assertIn(413, statuses)
        self.assertEqual(self.new_files(), [])


if __name__ == "__main__":
    unittest.main()
