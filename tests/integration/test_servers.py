"""One scenario suite, five servers (issue 5): the same requests through

    lighttpd + spawn-fcgi      lighttpd bin-path       Apache + mod_proxy_fcgi + spawn-fcgi
    Apache + mod_fcgid with only the shared-hosting .htaccess in a user directory (/~alice/)
    Apache CGI (the same user directory on a host without mod_fcgid)

started by deploy/local/run.sh exactly as `make run SERVER=...` starts them. Each scenario runs
against each server: unstreamed, streamed with chunks arriving one at a time, the
Authorization header, bad input, upstream errors, a client leaving mid-stream and before the
first token (the upstream call must stop), and a graceful reload with a stream in flight.

SLLMP_SCENARIO_REPORT=FILE appends one JSON line per measurement (disconnect latency per
server) for the README's table.
"""

import json
import os
import re
import shutil
import signal
import tempfile
import time

from stack import (StackCase, base_config, chat_only, content_arrivals, make_bundle,
                   mock_model, require_server, upstream_model, user_msg, wait_for)

WORDS = " ".join("w%d" % i for i in range(1, 21))


def report(**kw):
    path = os.environ.get("SLLMP_SCENARIO_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(kw) + "\n")


class Scenarios:
    """Mixed into one StackCase per server (the classes at the end)."""

    master_key = "sk-test-master"
    server_refuses_in_reload = False
    sllmp = {"heartbeat_ms": 300, "max_body_bytes": 65536,
             "timeouts": {"connect_ms": 2000, "first_byte_ms": 8000, "idle_ms": 3000,
                          "total_ms": 60000}}

    @classmethod
    def models(cls, mock):
        return [mock_model("mock-echo", "echo", 0),
                mock_model("org/mock echo", "echo", 0),
                upstream_model("up-echo", mock, "echo"),
                chat_only(upstream_model("up-echo-chat", mock, "echo")),
                upstream_model("up-words", mock, "words-6-250"),
                upstream_model("up-words20", mock, "words-20-150"),
                upstream_model("up-long", mock, "words-200-100"),
                upstream_model("up-sleep", mock, "sleep-4000"),
                upstream_model("up-500", mock, "status-500"),
                upstream_model("up-429", mock, "status-429"),
                upstream_model("up-err", mock, "error-after-2")]

    def mock_call(self, request_id, wait=2.0):
        """The mock's record of the upstream call made for request_id."""
        found = wait_for(lambda: [s for s in self.mock.streams()
                                  if s.get("request_id") == request_id], wait)
        self.assertTrue(found, "the mock saw no call for request %s" % request_id)
        return found[-1]

    # -- answers

    def test_unstreamed(self):
        new = os.path.join(self.stack.spool, "new")
        before = len(os.listdir(new)) if os.path.isdir(new) else 0
        r = self.chat({"model": "up-echo", "messages": user_msg("hello " + self.server)})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["choices"][0]["message"]["content"], "hello " + self.server)
        self.assertRegex(r.header("x-request-id") or "", r"^[0-9a-f]{32}$", r)
        self.assertTrue(r.header("content-type", "").startswith("application/json"), r)
        # the trace record reached the spool, whoever the server runs the gateway as
        self.assertTrue(wait_for(lambda: os.path.isdir(new) and
                                 len(os.listdir(new)) > before, 5),
                        "no trace record in %s" % new)

    def test_models_and_health(self):
        for path in ("/health", "/health/liveliness", "/health/liveness"):  # LiteLLM's too
            r = self.stack.request("GET", path)
            self.assertEqual((r.status, r.json()), (200, {"status": "ok"}), (path, r))
        r = self.stack.request("GET", "/health/readiness")
        self.assertEqual((r.status, r.json()["status"]), (200, "ready"), r)
        for path in ("/v1/models", "/models"):
            r = self.stack.request("GET", path,
                                   headers={"Authorization": "Bearer " + self.master_key})
            self.assertEqual(r.status, 200, (path, r))
            self.assertIn("up-echo", [m["id"] for m in r.json()["data"]])

    def test_api_without_v1(self):
        # a base URL without /v1 (LiteLLM's proxy is used so): /chat/completions, ...
        r = self.chat({"model": "up-echo", "messages": user_msg("no v1")},
                      path="/chat/completions")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["choices"][0]["message"]["content"], "no v1")

    def test_responses_api(self):
        # /v1/responses and /responses (the .htaccess routes both), unstreamed and streamed:
        # named events flushed through this server, no [DONE]
        for path in ("/v1/responses", "/responses"):
            r = self.chat({"model": "up-echo", "input": "responses via " + self.server},
                          path=path)
            self.assertEqual(r.status, 200, (path, r))
            out = r.json()["output"]
            self.assertEqual(out[0]["content"][0]["text"], "responses via " + self.server, r)
        c = self.stream({"model": "up-echo", "input": "streamed responses", "stream": True},
                        path="/responses").read_all()
        self.assertEqual(c.status, 200, c.text())
        names = re.findall(r"^event: (\S+)$", c.text(), re.M)
        self.assertEqual((names[0], names[-1]), ("response.created", "response.completed"),
                         c.text())
        self.assertNotIn("[DONE]", c.text())
        deltas = [json.loads(d)["delta"] for d in c.data_events()
                  if json.loads(d)["type"] == "response.output_text.delta"]
        self.assertEqual("".join(deltas), "streamed responses", c.text())

    def test_conversations(self):
        # OpenAI's conversations, forwarded to the upstream that keeps them, with and without
        # /v1 (the shared-hosting .htaccess routes both)
        h = {"Authorization": "Bearer " + self.auth(), "Content-Type": "application/json"}
        r = self.stack.request("POST", "/conversations", json.dumps({"metadata": {"s": "x"}}), h)
        self.assertEqual(r.status, 200, r)
        cid = r.json()["id"]
        r = self.stack.request("GET", "/v1/conversations/%s/items?limit=2" % cid, None, h)
        self.assertEqual((r.status, r.json().get("object")), (200, "list"), r)
        r = self.stack.request("DELETE", "/conversations/" + cid, None, h)
        self.assertEqual((r.status, r.json().get("deleted")), (200, True), r)

    def test_kept_responses(self):
        # the answers are kept whatever runs the responder (a CGI process lives one request):
        # previous_response_id, and GET (with a query string) and DELETE through this server
        first = self.chat({"model": "up-echo-chat", "input": "kept via " + self.server},
                          path="/v1/responses")
        self.assertEqual(first.status, 200, first)
        rid = first.json()["id"]
        r = self.chat({"model": "up-echo-chat", "input": "next", "previous_response_id": rid},
                      path="/responses")
        self.assertEqual(r.status, 200, r)
        h = {"Authorization": "Bearer " + self.auth()}
        r = self.stack.request("GET", "/v1/responses/%s/input_items?order=asc&limit=1"
                               % r.json()["id"], None, h)
        self.assertEqual(r.status, 200, r)
        lst = r.json()
        self.assertEqual(lst["data"][0]["content"],
                         [{"type": "input_text", "text": "kept via " + self.server}], lst)
        self.assertTrue(lst["has_more"], lst)
        r = self.stack.request("DELETE", "/responses/" + rid, None, h)
        self.assertEqual((r.status, r.json().get("deleted")), (200, True), r)
        r = self.stack.request("GET", "/v1/responses/" + rid, None, h)
        self.assertEqual(r.status, 404, r)

    def test_count_tokens(self):
        # Claude Code's POST /v1/messages/count_tokens?beta=true, with x-api-key: routed (the
        # .htaccess too, query and all) and answered in Anthropic's shapes
        h = {"Content-Type": "application/json", "x-api-key": self.master_key,
             "anthropic-version": "2023-06-01"}
        body = {"model": "mock-echo", "messages": [{"role": "user", "content": "abcdefgh"}]}
        r = self.stack.request("POST", "/v1/messages/count_tokens?beta=true",
                               json.dumps(body), h)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"input_tokens": 3})  # ("user" + "abcdefgh") / 4
        self.assertEqual(r.header("x-sllmp-tokens-estimated"), "true", r)
        r = self.stack.request("POST", "/v1/messages/count_tokens?beta=true",
                               json.dumps(body), dict(h, **{"x-api-key": "sk-wrong"}))
        self.assertEqual(r.status, 401, r)
        self.assertEqual(r.json()["error"]["type"], "authentication_error", r)

    def test_model_id_with_an_encoded_slash(self):
        # the openai SDKs encode the id: models.retrieve("org/mock echo") asks for
        # /v1/models/org%2Fmock%20echo (a LiteLLM config's model_names often hold a '/')
        for path in ("/v1/models/org%2Fmock%20echo", "/v1/models/org/mock%20echo"):
            r = self.stack.request("GET", path,
                                   headers={"Authorization": "Bearer " + self.master_key})
            self.assertEqual(r.status, 200, (path, r))
            self.assertEqual(r.json().get("id"), "org/mock echo", (path, r))

    def gateway_processes(self):
        """(pid, threads, parent) of every sllmp.fcgi process the stack started."""
        out = []
        for pid in set(self.stack.all_pids()):
            try:
                exe = os.readlink("/proc/%d/exe" % pid)
                with open("/proc/%d/status" % pid) as f:
                    st = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
            except OSError:
                continue
            if os.path.basename(exe) == "sllmp.fcgi":
                out.append((pid, int(st["Threads"]), int(st["PPid"])))
        return out

    def test_server_and_process_model(self):
        r = self.stack.request("GET", "/health")
        self.assertIn(self.server_header, r.header("server") or "", r.headers)
        procs = self.gateway_processes()
        pids = {p for p, _, _ in procs}
        if self.processes == "pool":
            # a master and its two workers (once an old generation from a reload has gone)
            def settled():
                ps = self.gateway_processes()
                own = {p for p, _, _ in ps}
                return len(ps) == 3 and len([p for p, _, pp in ps if pp not in own]) == 1
            self.assertTrue(wait_for(settled, 10), self.gateway_processes())
        elif self.processes == "fcgid":
            # mod_fcgid's processes: no master, no workers, one accept thread each
            self.assertGreaterEqual(len(procs), 1, procs)
            for pid, threads, parent in procs:
                self.assertNotIn(parent, pids, procs)
                self.assertLessEqual(threads, 2, procs)
        else:
            # a CGI program exits after its one request
            self.assertTrue(wait_for(lambda: not self.gateway_processes(), 5),
                            self.gateway_processes())

    def test_authorization_header_reaches_the_gateway(self):
        # refused without the key, and with a wrong one: the header is what decides
        self.assertOpenAIError(self.stack.chat({"model": "up-echo", "messages": user_msg("x")}),
                               401)
        self.assertOpenAIError(self.stack.chat({"model": "up-echo", "messages": user_msg("x")},
                                               key="sk-wrong"), 401)
        r = self.stack.chat({"model": "up-echo", "messages": user_msg("x")},
                            key=self.master_key)
        self.assertEqual(r.status, 200, r)

    def test_streamed_one_chunk_at_a_time(self):
        c = self.stream({"model": "up-words", "stream": True,
                         "messages": user_msg("x")}).read_all()
        self.assertEqual(c.status, 200, c.text())
        self.assertTrue(c.header("content-type", "").startswith("text/event-stream"), c.headers)
        self.assertNotIn("gzip", c.header("content-encoding") or "", c.headers)
        self.assertEqual(c.content(), "w1 w2 w3 w4 w5 w6", c.text())
        self.assertEqual(c.data_events()[-1], "[DONE]", c.text())
        t = content_arrivals(c)
        self.assertEqual(len(t), 6, "each content event in its own read: %r" % c.chunks)
        gaps = [round(b - a, 3) for a, b in zip(t, t[1:])]
        # 250 ms apart upstream: none may be held back and released with the next one
        self.assertGreater(min(gaps), 0.1, "chunks arrived together: gaps %r" % gaps)
        self.assertGreater(t[-1] - t[0], 1.0, "content arrived in a burst: gaps %r" % gaps)

    def test_streamed_with_gzip_asked(self):
        # the servers compress JSON and text (the test configs turn that on as hosts do):
        # event streams must stay uncompressed and streamed
        c = self.stream({"model": "up-words", "stream": True, "messages": user_msg("x")},
                        headers={"Accept-Encoding": "gzip"}).read_all()
        self.assertEqual(c.status, 200, c.text())
        self.assertIsNone(c.header("content-encoding"), c.headers)
        self.assertEqual(c.content(), "w1 w2 w3 w4 w5 w6", c.text())
        t = content_arrivals(c)
        self.assertGreater(t[-1] - t[0], 1.0, "content arrived in a burst")

    # -- bad input

    def test_bad_json(self):
        self.assertOpenAIError(self.chat(b"{nope"), 400, "invalid_json")

    def test_missing_messages(self):
        self.assertOpenAIError(self.chat({"model": "up-echo"}), 400)

    def test_unknown_model(self):
        self.assertOpenAIError(self.chat({"model": "nope", "messages": user_msg("x")}), 404)

    def test_body_too_large(self):
        big = {"model": "up-echo", "messages": user_msg("x" * 100000)}
        self.assertOpenAIError(self.chat(big), 413)

    def test_unknown_path(self):
        r = self.stack.request("GET", "/v1/nope")
        self.assertOpenAIError(r, 404, "not_found")

    # -- upstream errors

    def test_upstream_500(self):
        r = self.chat({"model": "up-500", "messages": user_msg("x")})
        self.assertOpenAIError(r, 502, "provider_error", etype="server_error")
        r = self.chat({"model": "up-500", "stream": True, "messages": user_msg("x")})
        self.assertOpenAIError(r, 502, "provider_error")

    def test_upstream_429_keeps_retry_after(self):
        r = self.chat({"model": "up-429", "messages": user_msg("x")})
        self.assertOpenAIError(r, 429, "rate_limit_exceeded")
        self.assertEqual(r.header("retry-after"), "7", r)

    def test_upstream_error_mid_stream(self):
        c = self.stream({"model": "up-err", "stream": True,
                         "messages": user_msg("x")}).read_all()
        self.assertEqual(c.status, 200)
        data = c.data_events()
        self.assertEqual(data[-1], "[DONE]", c.text())
        self.assertIn("error", json.loads(data[-2]), c.text())
        # nothing of the server's own (an HTML error page) after the stream
        self.assertNotIn("<html", c.text().lower())

    # -- the client leaves

    def check_upstream_stopped(self, rid, left, what, within=2.0):
        st = None
        end = time.monotonic() + 8
        while time.monotonic() < end:
            st = self.mock_call(rid)
            if st["aborted"] or st["completed"]:
                break
            time.sleep(0.05)
        self.assertTrue(st["aborted"], "%s: the upstream call went on: %r" % (what, st))
        latency = st["aborted_at"] - left
        report(server=self.server, scenario=what, seconds=round(latency, 3))
        # mid-stream: the next chunk's write fails; before the first token: the next
        # heartbeat's (300 ms), well before the upstream's first byte (4 s)
        self.assertLess(latency, within, st)
        return st

    def test_client_leaves_mid_stream(self):
        c = self.stream({"model": "up-long", "stream": True, "messages": user_msg("x")})
        self.assertEqual(c.status, 200)
        rid = c.header("x-request-id")
        c.read_until(lambda cl: len(content_arrivals(cl)) >= 3, timeout=10)
        c.close()
        st = self.check_upstream_stopped(rid, time.time(), "disconnect mid-stream")
        self.assertLess(st["chunks_sent"], 150, st)
        r = self.chat({"model": "up-echo", "messages": user_msg("still here")})
        self.assertEqual(r.status, 200, r)

    def test_client_leaves_before_first_token(self):
        c = self.stream({"model": "up-sleep", "stream": True, "messages": user_msg("x")})
        rid = c.header("x-request-id")
        time.sleep(0.3)
        c.close()
        self.check_upstream_stopped(rid, time.time(), "disconnect before first token")

    # -- reload

    def reload(self):
        """The server's graceful reload, plus the pool's where the pool is separate."""
        raise NotImplementedError

    def test_reload_keeps_streams_and_takes_new_config(self):
        c = self.stream({"model": "up-words20", "stream": True, "messages": user_msg("x")})
        self.assertEqual(c.status, 200)
        c.read_until(lambda cl: len(content_arrivals(cl)) >= 2, timeout=10)
        models = self.models(self.mock) + [mock_model("mock-new", "echo", 0)]
        self.stack.rewrite_config(base_config(models, master_key=self.master_key,
                                              **self.sllmp))
        self.reload()
        statuses = []
        for _ in range(10):   # requests while the server reloads
            r = self.chat({"model": "up-echo", "messages": user_msg("r")}, timeout=15)
            if (r.status == 503 and self.server_refuses_in_reload
                    and not (r.header("content-type") or "").startswith("application/json")):
                continue   # the server's own refusal: the gateway never saw the request
            statuses.append(r.status)
            time.sleep(0.05)
        self.assertEqual(statuses, [200] * len(statuses))
        self.assertGreaterEqual(len(statuses), 5)
        seen = wait_for(lambda: self.chat({"model": "mock-new", "messages": user_msg("n")},
                                          timeout=10).status == 200, 8, 0.2)
        self.assertTrue(seen, "the new model is not served 8 s after the reload")
        c.read_all(timeout=20)
        self.assertEqual(c.content(), WORDS, "stream broken by the reload:\n" + c.text()[-600:])
        self.assertEqual(c.data_events()[-1], "[DONE]")


class LighttpdSpawnFcgi(Scenarios, StackCase):
    server = "lighttpd"
    server_header = "lighttpd"
    processes = "pool"

    def reload(self):
        self.stack.signal_master(signal.SIGHUP)


class LighttpdBinPath(Scenarios, StackCase):
    server = "lighttpd-binpath"
    server_header = "lighttpd"
    processes = "pool"

    def reload(self):
        # lighttpd supervises the pool, but its own restart restarts the processes it spawned
        # (bin-path turns off server.graceful-restart-bg): the pool reloads itself instead
        self.stack.signal_master(signal.SIGHUP)


class ApacheProxyFcgi(Scenarios, StackCase):
    server = "apache"
    server_header = "Apache"
    processes = "pool"

    def reload(self):
        os.kill(self.stack.server_pid, signal.SIGUSR1)   # apachectl graceful
        self.stack.signal_master(signal.SIGHUP)


class ApacheFcgid(Scenarios, StackCase):
    """As on a shared host: Apache runs as nobody, the user's web space holds only the
    .htaccess of deploy/shared-hosting and what `make bundle` made."""
    server = "apache-fcgid"
    server_header = "mod_fcgid"
    processes = "fcgid"

    @classmethod
    def setUpClass(cls):
        require_server(cls.server)
        tmp = tempfile.mkdtemp(prefix="sllmp-bundle-", dir=os.environ.get("SLLMP_TEST_TMP"))
        cls.addClassCleanup(shutil.rmtree, tmp, True)
        make_bundle(os.path.join(tmp, "sllmp"))
        cls.server_env = {"SLLMP_FCGI": os.path.join(tmp, "sllmp", "sllmp.fcgi")}
        super().setUpClass()

    def test_web_space_is_the_upload(self):
        web = os.path.join(self.stack.rundir, "home", "alice", "public_html")
        self.assertEqual(sorted(os.listdir(web)), [".htaccess", "lib", "sllmp", "sllmp.fcgi"])
        st = os.stat(web)
        if os.getuid() == 0:
            self.assertNotEqual(st.st_uid, 0, "the web space should belong to the user")
        # only the API is reachable: not the libraries, the tool or the .htaccess
        for path, status in (("/lib/" + sorted(os.listdir(os.path.join(web, "lib")))[0], 404),
                             ("/sllmp", 404), ("/.htaccess", 403)):
            self.assertEqual(self.stack.request("GET", path).status, status, path)

    def reload(self):
        os.kill(self.stack.server_pid, signal.SIGUSR1)   # apachectl graceful


class ApacheCGI(Scenarios, StackCase):
    server = "apache-cgi"
    server_header = "Apache"
    processes = "cgi"
    # mod_cgid restarts its CGI daemon on a graceful restart; a request that cannot reach it
    # meanwhile gets Apache's own 503 page (seen under the full suite's load)
    server_refuses_in_reload = True

    def reload(self):
        os.kill(self.stack.server_pid, signal.SIGUSR1)   # apachectl graceful

    def test_query_without_equals_is_not_arguments(self):
        # RFC 3875 4.4: Apache passes "?foo" to a CGI program as argv; it is not an option
        for q in ("?foo", "?--version", "?-v"):
            r = self.stack.request("GET", "/health" + q)
            self.assertEqual(r.status, 200, (q, r))
            self.assertEqual(r.json().get("status"), "ok", (q, r))
        r = self.stack.chat({"model": "mock-echo", "messages": user_msg("q")},
                            path="/v1/chat/completions?x", key=self.auth())
        self.assertEqual(r.status, 200, r)


class ApacheFcgidHostDefaults(StackCase):
    """A host whose admin never set FcgidOutputBufferSize 0 (nor the timeouts): mod_fcgid
    holds the stream back; sllmp.buffer_streams turns that into one whole, valid answer."""
    server = "apache-fcgid"
    server_env = {"SLLMP_FCGID_DEFAULTS": "1"}
    master_key = "sk-test-master"
    buffer_streams = True

    @classmethod
    def make_config(cls):
        return base_config([upstream_model("up-words", cls.mock, "words-6-250"),
                            upstream_model("up-late429", cls.mock, "sleep-1200+status-429")],
                           master_key=cls.master_key, buffer_streams=cls.buffer_streams,
                           heartbeat_ms=300)

    def test_stream_arrives_whole_and_valid(self):
        c = self.stream({"model": "up-words", "stream": True,
                         "messages": user_msg("x")}).read_all()
        self.assertEqual(c.status, 200, c.text())
        self.assertEqual(c.content(), "w1 w2 w3 w4 w5 w6", c.text())
        self.assertEqual(int(c.header("content-length")), len(c.body), c.headers)
        self.assertTrue(c.text().endswith("data: [DONE]\n\n"), c.text()[-200:])
        self.assertNotIn("<html", c.text().lower())
        t = content_arrivals(c)
        self.assertLess(t[-1] - t[0], 0.05, "the whole body at once")

    def test_late_upstream_error_keeps_its_status(self):
        # heartbeats would have sent a 200 before the upstream's 429 came; held, it is a 429
        r = self.stack.chat({"model": "up-late429", "stream": True, "messages": user_msg("x")},
                            key=self.master_key)
        if self.buffer_streams:
            self.assertOpenAIError(r, 429, "rate_limit_exceeded")
            self.assertEqual(r.header("retry-after"), "7", r)
        else:
            self.assertEqual(r.status, 200, r)
            self.assertIn(b"rate_limit_exceeded", r.body)


class ApacheFcgidHostDefaultsUnbuffered(ApacheFcgidHostDefaults):
    """The same host without the switch: what the README warns about (proves the host above
    really buffers, so the switch is what made its answer whole)."""
    buffer_streams = False

    def test_stream_arrives_whole_and_valid(self):
        c = self.stream({"model": "up-words", "stream": True,
                         "messages": user_msg("x")}).read_all()
        self.assertEqual(c.status, 200, c.text())
        self.assertEqual(c.content(), "w1 w2 w3 w4 w5 w6", c.text())
        t = content_arrivals(c)
        # mod_fcgid released the six events together, after the last one was written
        self.assertLess(t[-1] - t[0], 0.05, "mod_fcgid streamed after all: %r" % t)
        self.assertGreater(c.headers_at - c.t0, 1.2, "the headers came before the answer")


if __name__ == "__main__":
    import unittest
    unittest.main()
