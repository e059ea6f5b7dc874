"""/health, /ready, /v1/models, CORS preflight, 404 and 405 (http-contract.md, Endpoints)."""

import re
import unittest

from stack import MASTER_KEY, StackCase, mock_model, upstream_model

ORIGIN = "https://app.example"
LONG_ORIGIN = "https://" + "a" * 240 + ".example"   # longer than the header buffer once was


class EndpointsTest(StackCase):
    master_key = MASTER_KEY
    sllmp = {"cors": {"origins": [ORIGIN, LONG_ORIGIN]}}

    @classmethod
    def models(cls, mock):
        return [mock_model("mock-echo", "echo", 20),
                upstream_model("up-echo", mock, "echo"),
                mock_model("org/mock echo", "echo", 0)]

    def get(self, path, key=None, headers=None):
        h = dict(headers or {})
        if key:
            h["Authorization"] = "Bearer " + key
        return self.stack.request("GET", path, headers=h)

    # -- health / ready

    def test_health_no_auth(self):
        r = self.get("/health")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.header("content-type", "").startswith("application/json"), r)
        self.assertEqual(r.json(), {"status": "ok"})

    def test_health_query_string_ignored(self):
        r = self.get("/health?probe=1&x=y")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"status": "ok"})

    def test_ready_ok_without_redis(self):
        r = self.get("/ready")
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual(body.get("status"), "ready", r)
        checks = body.get("checks") or {}
        self.assertEqual(checks.get("config"), "ok", r)
        self.assertEqual(checks.get("spool"), "ok", r)
        self.assertEqual(checks.get("redis"), "not configured", r)

    # -- models

    def check_models(self, r):
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual(body.get("object"), "list", r)
        ids = [m.get("id") for m in body.get("data", [])]
        self.assertEqual(sorted(ids), ["mock-echo", "org/mock echo", "up-echo"], r)
        for m in body["data"]:
            self.assertEqual(m.get("object"), "model", m)
            self.assertIsInstance(m.get("created"), int, m)
            self.assertIsInstance(m.get("owned_by"), str, m)

    def test_models(self):
        self.check_models(self.get("/v1/models", key=MASTER_KEY))

    def test_models_alias(self):
        self.check_models(self.get("/models", key=MASTER_KEY))

    def test_models_requires_master_key(self):
        self.assertOpenAIError(self.get("/v1/models"), 401, "invalid_api_key",
                               etype="invalid_request_error")
        self.assertOpenAIError(self.get("/v1/models", key="sk-wrong"), 401, "invalid_api_key")
        r = self.get("/v1/models", headers={"Authorization": "Basic " + MASTER_KEY})
        self.assertOpenAIError(r, 401, "invalid_api_key")

    def test_model_by_id(self):
        # README: GET /v1/models/{id}
        r = self.get("/v1/models/mock-echo", key=MASTER_KEY)
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual(body.get("id"), "mock-echo", r)
        self.assertEqual(body.get("object"), "model", r)

    def test_model_by_id_percent_encoded(self):
        # the openai SDKs encode the id: retrieve("org/mock echo") asks for org%2Fmock%20echo
        for path in ("/v1/models/org%2Fmock%20echo", "/v1/models/org/mock%20echo"):
            r = self.get(path, key=MASTER_KEY)
            self.assertEqual(r.status, 200, (path, r))
            self.assertEqual(r.json().get("id"), "org/mock echo", r)
        # (lighttpd refuses bad escapes and control characters itself: test_cgi has those)

    # -- 404 / 405

    def test_unknown_path_404(self):
        for path in ("/v1/nothing-here", "/", "/v1/chat/completions/extra", "/v2/models"):
            with self.subTest(path=path):
                r = self.get(path, key=MASTER_KEY)
                self.assertOpenAIError(r, 404, "not_found", etype="invalid_request_error")
                self.assertEqual(r.header("x-should-retry"), "false", r)
        r = self.stack.request("POST", "/v1/nope", body=b"{}",
                               headers={"Authorization": "Bearer " + MASTER_KEY,
                                        "Content-Type": "application/json"})
        self.assertOpenAIError(r, 404, "not_found")

    def test_wrong_method_405(self):
        cases = [("GET", "/v1/chat/completions", "POST"),
                 ("PUT", "/v1/chat/completions", "POST"),
                 ("GET", "/chat/completions", "POST"),
                 ("POST", "/health", "GET"),
                 ("DELETE", "/v1/models", "GET"),
                 ("POST", "/ready", "GET")]
        for method, path, allowed in cases:
            with self.subTest(method=method, path=path):
                r = self.stack.request(method, path, body=b"{}" if method != "GET" else None,
                                       headers={"Authorization": "Bearer " + MASTER_KEY,
                                                "Content-Type": "application/json"})
                self.assertOpenAIError(r, 405, "method_not_allowed")
                self.assertEqual(r.header("x-should-retry"), "false", r)
                allow = r.header("allow")
                self.assertIsNotNone(allow, r)
                self.assertIn(allowed, [m.strip() for m in allow.split(",")], r)

    # -- CORS

    def preflight(self, origin, path="/v1/chat/completions"):
        return self.stack.request("OPTIONS", path, headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})

    def test_cors_preflight_allowed(self):
        for path in ("/v1/chat/completions", "/chat/completions", "/v1/models"):
            with self.subTest(path=path):
                r = self.preflight(ORIGIN, path)
                self.assertEqual(r.status, 204, r)
                self.assertIn(r.header("access-control-allow-origin"), (ORIGIN, "*"), r)
                methods = (r.header("access-control-allow-methods") or "").upper()
                if path.endswith("completions"):
                    self.assertIn("POST", methods, r)
                else:
                    self.assertIn("GET", methods, r)
                hdrs = (r.header("access-control-allow-headers") or "").lower()
                self.assertTrue("authorization" in hdrs or hdrs.strip() == "*", r)
                self.assertTrue("content-type" in hdrs or hdrs.strip() == "*", r)
                self.assertRegex(r.header("access-control-max-age") or "", r"^\d+$", r)

    def test_cors_preflight_disallowed(self):
        r = self.preflight("https://evil.example")
        self.assertOpenAIError(r, 403, "origin_not_allowed", etype="invalid_request_error")
        self.assertEqual(r.header("x-should-retry"), "false", r)
        self.assertNotIn(r.header("access-control-allow-origin"),
                         ("https://evil.example", "*"), r)

    def test_cors_on_actual_request(self):
        r = self.stack.chat({"model": "mock-echo",
                             "messages": [{"role": "user", "content": "hi"}]},
                            key=MASTER_KEY, headers={"Origin": ORIGIN})
        self.assertEqual(r.status, 200, r)
        self.assertIn(r.header("access-control-allow-origin"), (ORIGIN, "*"), r)

    def test_cors_long_allowed_origin(self):
        r = self.stack.chat({"model": "mock-echo",
                             "messages": [{"role": "user", "content": "hi"}]},
                            key=MASTER_KEY, headers={"Origin": LONG_ORIGIN})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("access-control-allow-origin"), LONG_ORIGIN, r)
        self.assertEqual(r.header("vary"), "Origin", r)
        self.assertIn("X-Request-ID", r.header("access-control-expose-headers") or "", r)
        self.assertEqual(r.json()["choices"][0]["message"]["content"], "hi")


if __name__ == "__main__":
    unittest.main()
