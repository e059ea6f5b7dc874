"""The same binary as a plain CGI program: stdin a pipe, the request in the environment."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

from stack import (FCGI_BIN, base_config, cgi_env, cgi_headers, mock_model,
                   require_binaries, split_cgi, write_config)


class CGITest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_binaries()
        cls.dir = tempfile.mkdtemp(prefix="sllmp-cgi-")
        cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        cfg = base_config([mock_model("mock-echo", "echo", 0)],
                          spool_dir=os.path.join(cls.dir, "spool"))
        cls.config = write_config(os.path.join(cls.dir, "sllmp.yaml"), cfg)

    def cgi(self, method, uri, body=b"", extra=None):
        env = cgi_env(uri, method, dict({"SLLMP_CONFIG": self.config, "SLLMP_RUNDIR": self.dir},
                                        **(extra or {})),
                      body if body or method == "POST" else None)
        p = subprocess.run([FCGI_BIN], input=body, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=15)
        out = p.stdout
        self.assertEqual(p.returncode, 0, "exit %s, stderr %r" % (p.returncode, p.stderr))
        head, payload = split_cgi(out)
        self.assertTrue(head, "no blank line after the CGI headers: %r" % out)
        headers = cgi_headers(head)
        self.assertIn("status", headers, "no Status: header: %r" % out)
        self.assertRegex(headers["status"], r"^\d{3}( |$)", headers)
        return int(headers["status"][:3]), headers, payload

    def test_model_path_escapes(self):
        status, _, payload = self.cgi("GET", "/v1/models/mock%2Decho")
        self.assertEqual(status, 200, payload)
        self.assertEqual(json.loads(payload)["id"], "mock-echo")
        # a control character or a bad escape is not decoded: it names no model (and no line
        # of the log is split by a %0A)
        for path in ("/v1/models/mock%0Aecho", "/v1/models/mock%00echo", "/v1/models/mock%zz",
                     "/v1/models/mock-ech%6"):
            status, _, payload = self.cgi("GET", path)
            self.assertEqual(status, 404, (path, payload))
            self.assertEqual(json.loads(payload)["error"]["code"], "model_not_found", payload)

    def test_broken_config_ready_is_503_chat_is_500(self):
        bad = os.path.join(self.dir, "broken.yaml")
        with open(bad, "w") as f:
            f.write("model_list:\n  - model_name: [unclosed\n")
        status, headers, payload = self.cgi("GET", "/ready", extra={"SLLMP_CONFIG": bad})
        self.assertEqual(status, 503, payload)
        body = json.loads(payload)
        self.assertEqual(body["status"], "not_ready", body)
        self.assertEqual(body["checks"]["config"], "failed", body)
        self.assertTrue(body["reasons"], body)
        self.assertNotIn("unclosed", payload.decode())   # the details go to the log only
        status, _, payload = self.cgi("POST", "/v1/chat/completions", json.dumps(
            {"model": "mock-echo", "messages": [{"role": "user", "content": "x"}]}).encode(),
            extra={"SLLMP_CONFIG": bad})
        self.assertEqual(status, 500, payload)
        self.assertEqual(json.loads(payload)["error"]["type"], "server_error")

    def test_record_survives_the_servers_sigterm_at_eof(self):
        """lighttpd and Apache SIGTERM a CGI once its stdout reaches EOF: the trace record
        must be written by then (the response may not end before it)."""
        import signal
        req = json.dumps({"model": "mock-echo",
                          "messages": [{"role": "user", "content": "cgi trace"}]}).encode()
        new = os.path.join(self.dir, "spool", "new")
        before = set(os.listdir(new)) if os.path.isdir(new) else set()
        env = cgi_env("/v1/chat/completions", "POST",
                      {"SLLMP_CONFIG": self.config, "SLLMP_RUNDIR": self.dir}, req)
        p = subprocess.Popen([FCGI_BIN], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, env=env)
        p.stdin.write(req)
        p.stdin.close()
        out = p.stdout.read()  # until EOF, as the server reads
        try:
            p.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        p.wait(10)
        self.assertIn(b"cgi trace", out)
        added = set(os.listdir(new)) - before
        self.assertEqual(len(added), 1, "records written: %r" % added)

    def test_health(self):
        st, h, body = self.cgi("GET", "/health")
        self.assertEqual(st, 200)
        self.assertTrue(h.get("content-type", "").startswith("application/json"), h)
        self.assertEqual(json.loads(body), {"status": "ok"})

    def test_chat(self):
        req = json.dumps({"model": "mock-echo",
                          "messages": [{"role": "user", "content": "as cgi"}]}).encode()
        st, h, body = self.cgi("POST", "/v1/chat/completions", req)
        self.assertEqual(st, 200, body)
        self.assertEqual(json.loads(body)["choices"][0]["message"]["content"], "as cgi")
        self.assertRegex(h.get("x-request-id", ""), r"^[0-9a-f]{32}$", h)

    def test_chat_stream(self):
        req = json.dumps({"model": "mock-echo", "stream": True,
                          "messages": [{"role": "user", "content": "cgi stream"}]}).encode()
        st, h, body = self.cgi("POST", "/v1/chat/completions", req)
        self.assertEqual(st, 200, body)
        self.assertTrue(h.get("content-type", "").startswith("text/event-stream"), h)
        self.assertTrue(body.rstrip().endswith(b"data: [DONE]"), body)

    def test_bad_json(self):
        st, h, body = self.cgi("POST", "/v1/chat/completions", b"{nope")
        self.assertEqual(st, 400)
        self.assertEqual(json.loads(body)["error"]["code"], "invalid_json")

    def test_unknown_path(self):
        st, h, body = self.cgi("GET", "/nope?x=1")
        self.assertEqual(st, 404)
        self.assertEqual(json.loads(body)["error"]["code"], "not_found")


if __name__ == "__main__":
    unittest.main()
