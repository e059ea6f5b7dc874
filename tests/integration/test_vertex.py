"""Vertex AI (vertex_ai/) through lighttpd and the spawn-fcgi pool: Gemini, Claude and the
partner models of Vertex's OpenAI-compatible endpoint at Google's URLs with OAuth access
tokens, against google_oauth_mock.py (the token endpoint, which checks the service account's
RS256 JWT with its public key, and a metadata server) and the Vertex routes of gemini_mock.py,
anthropic_mock.py and openai_mock.py, which take only its tokens."""

import json
import os
import re
import subprocess
import tempfile
import time
import unittest

from stack import MockProcess, StackCase, http_request
from test_providers import MOCKS, mock_get, mock_requests, parse_sse

SECRET = "vertex-mock-token-secret"
EMAIL = "svc@proj-mock.iam.gserviceaccount.com"
KEY_ID = "kid-mock-1"
CLIENT_SECRET = "user-client-SECRET-77"
REFRESH = "1//user-refresh-SECRET-88"
PROJECT, LOCATION = "proj-mock", "us-east5"
ROOT = "/v1/projects/%s/locations/%s" % (PROJECT, LOCATION)
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def make_key(d):
    """An RSA key pair by openssl in d: (the public key's file, the private key's PEM)."""
    priv, pub = os.path.join(d, "sa.pem"), os.path.join(d, "sa.pub.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", priv], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", priv, "-pubout", "-out", pub], check=True,
                   capture_output=True)
    with open(priv) as f:
        pem = f.read()
    return pub, pem


class OAuthMock(MockProcess):
    SCRIPT = os.path.join(MOCKS, "google_oauth_mock.py")

    def __init__(self, public_key, lifetime=3599):
        super().__init__()
        self.public_key, self.lifetime = public_key, lifetime

    def args(self):
        return ["--secret", SECRET, "--public-key", self.public_key, "--client-email", EMAIL,
                "--key-id", KEY_ID, "--client-secret", CLIENT_SECRET, "--refresh-token", REFRESH,
                "--lifetime", str(self.lifetime)]


class VertexGemini(MockProcess):
    SCRIPT = os.path.join(MOCKS, "gemini_mock.py")

    def args(self):
        return ["--vertex-secret", SECRET]


class VertexClaude(MockProcess):
    SCRIPT = os.path.join(MOCKS, "anthropic_mock.py")

    def args(self):
        return ["--vertex-secret", SECRET]


class VertexOpenAPI(MockProcess):
    SCRIPT = os.path.join(MOCKS, "openai_mock.py")

    def args(self):
        return ["--vertex-secret", SECRET]


def token_requests(oauth):
    return [r for r in mock_get(oauth, "/_mock/requests")
            if not r["path"].startswith("/_mock")]


class VertexCase(StackCase):
    """One stack with Vertex deployments of every kind of credentials."""

    start_mock = False
    router = {"num_retries": 0, "fallbacks": [{"vclaude-down": ["direct"]}]}

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sllmp-vertex-")
        pub, pem = make_key(cls.tmp)
        cls.pem = pem
        cls.oauth = OAuthMock(pub).start()
        cls.addClassCleanup(cls.oauth.stop)
        cls.short = OAuthMock(pub, lifetime=1).start()  # tokens that expire at once
        cls.addClassCleanup(cls.short.stop)
        cls.gemini = VertexGemini().start()
        cls.addClassCleanup(cls.gemini.stop)
        cls.claude = VertexClaude().start()
        cls.addClassCleanup(cls.claude.stop)
        cls.openapi = VertexOpenAPI().start()
        cls.addClassCleanup(cls.openapi.stop)
        o = "http://127.0.0.1:%d" % cls.oauth.port
        cls.key_file = os.path.join(cls.tmp, "sa.json")
        with open(cls.key_file, "w") as f:
            json.dump({"type": "service_account", "project_id": PROJECT,
                       "private_key_id": KEY_ID, "private_key": pem, "client_email": EMAIL,
                       "client_id": "1234", "token_uri": o + "/token"}, f)
        cls.short_key = os.path.join(cls.tmp, "sa-short.json")
        with open(cls.short_key, "w") as f:
            json.dump({"type": "service_account", "project_id": PROJECT,
                       "private_key_id": KEY_ID, "private_key": pem, "client_email": EMAIL,
                       "token_uri": "http://127.0.0.1:%d/token" % cls.short.port}, f)
        cls.user_creds = json.dumps({"type": "authorized_user", "client_id":
                                     "cid.apps.googleusercontent.com",
                                     "client_secret": CLIENT_SECRET, "refresh_token": REFRESH,
                                     "quota_project_id": "billing-proj", "token_uri": o + "/token"})
        cls.server_env = {"VERTEX_USER_CREDS": cls.user_creds,
                          "GCE_METADATA_HOST": "127.0.0.1:%d" % cls.oauth.port}
        super().setUpClass()

    @classmethod
    def models(cls, mock):
        g = "http://127.0.0.1:%d" % cls.gemini.port
        c = "http://127.0.0.1:%d" % cls.claude.port
        o = "http://127.0.0.1:%d" % cls.openapi.port

        def m(name, model, base, **p):
            params = {"model": "vertex_ai/" + model, "api_base": base,
                      "vertex_credentials": cls.key_file, "vertex_location": LOCATION}
            params.update(p)
            # None: the entry goes without that parameter
            return {"model_name": name,
                    "litellm_params": {k: v for k, v in params.items() if v is not None}}

        return [
            m("vgem", "gemini-2.5-flash+words-4-10", g, extra_headers={"X-Extra": "hdr-7"}),
            m("vgem-tools", "gemini-2.5-flash+tools", g),
            m("vgem-401", "gemini-2.5-flash+status-401", g),
            m("vgem-revoked", "gemini-2.5-flash+revoke-after-use+echo", g),
            m("vgem-429", "gemini-2.5-flash+status-429+retry-3", g),
            m("vemb", "text-embedding-005", g),
            m("vemb-gem", "gemini-embedding-001", g),
            m("vclaude", "claude-mock@20250514+words-4-10", c),
            m("vclaude-tools", "claude-mock+tools", c),
            m("vclaude-down", "claude-mock+status-529", c),
            m("vclaude-403", "claude-mock+echo", c, vertex_project="other-proj"),
            # partner models at the OpenAI-compatible endpoint; the first one priced by
            # conf/pricing.yaml
            m("vllama", "meta/llama-4-maverick-17b-128e-instruct-maas", o),
            m("vllama-401", "meta/llama-mock+status-401", o),
            {"model_name": "direct", "litellm_params": {
                "model": "anthropic/claude-mock+echo", "api_base": c,
                "api_key": "sk-ant-mock-KEY"}},
            # a pattern: Claude or Gemini by the name asked for
            {"model_name": "vx/*", "litellm_params": {
                "model": "vertex_ai/*", "api_base": c, "vertex_credentials": cls.key_file,
                "vertex_location": LOCATION}},
            # LiteLLM's api_base: the whole URL up to the model's name
            m("vfull", "gemini-2.5-flash", "%s%s/publishers/google/models/gemini-2.5-flash+echo"
              % (g, ROOT)),
            m("vuser", "gemini-2.5-flash+echo", g,
              vertex_credentials="os.environ/VERTEX_USER_CREDS"),
            m("vmeta", "gemini-2.5-flash+echo", g, vertex_credentials=None,
              vertex_project=PROJECT),
            m("vshort", "gemini-2.5-flash+echo", g, vertex_credentials=cls.short_key),
            m("vbad", "gemini-2.5-flash+echo", g, vertex_credentials=json.dumps({
                "type": "service_account", "project_id": PROJECT, "private_key_id": "other-kid",
                "private_key": cls.pem, "client_email": EMAIL, "token_uri": "http://127.0.0.1:"
                "%d/token" % cls.oauth.port})),
        ]

    def setUp(self):
        for mock in (self.gemini, self.claude, self.openapi):
            http_request(mock.port, "POST", "/_mock/reset", b"")

    def post(self, path, payload, headers=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        return http_request(self.stack.port, "POST", path, json.dumps(payload).encode(), h)

    def chunks(self, payload):
        r = self.post("/v1/chat/completions", dict(payload, stream=True))
        self.assertEqual(r.status, 200, r)
        data = [e["data"] for e in parse_sse(r.body.decode())]
        self.assertEqual(data[-1], "[DONE]", data)
        return [json.loads(d) for d in data[:-1]]

    def user(self, text="hello brave new world"):
        return [{"role": "user", "content": text}]


class GeminiOnVertexTest(VertexCase):

    def test_chat_signs_in_and_reaches_the_model_url(self):
        before = len(token_requests(self.oauth))
        r = self.chat({"model": "vgem", "messages": self.user()})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["choices"][0]["message"]["content"], "w1 w2 w3 w4")
        sent = mock_requests(self.gemini)[-1]
        self.assertEqual(sent["path"], ROOT + "/publishers/google/models/"
                         "gemini-2.5-flash%2Bwords-4-10:generateContent")
        self.assertTrue(sent["headers"]["authorization"].startswith("Bearer ya29.mock."))
        self.assertNotIn("x-goog-api-key", sent["headers"])
        self.assertEqual(sent["headers"].get("x-extra"), "hdr-7")
        self.assertEqual(sent["body"]["contents"][0]["role"], "user")
        # the token came from the service account's signed JWT (the mock checked it) ...
        jwt = [t for t in token_requests(self.oauth)[before:] if t["grant_type"] == JWT_GRANT]
        self.assertLessEqual(len(jwt), 1, jwt)
        self.assertTrue(all(t["content_type"] == "application/x-www-form-urlencoded"
                            for t in jwt), jwt)
        # ... and is kept: the next calls fetch none, but in the pool's other worker
        before = len(token_requests(self.oauth))
        for _ in range(4):
            self.assertEqual(self.chat({"model": "vgem", "messages": self.user()}).status, 200)
        self.assertLessEqual(len(token_requests(self.oauth)) - before, 1)
        # the deployment's extra headers are for the model, never for the token endpoint
        self.assertTrue(all(t.get("extra_header") is None for t in token_requests(self.oauth)))

    def test_labels_go_to_vertex(self):
        # Vertex's own field (billing by label), passed on as LiteLLM does; Vertex checks them
        labels = {"team": "search", "env": "prod-1"}
        r = self.chat({"model": "vgem", "messages": self.user(), "labels": labels})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(mock_requests(self.gemini)[-1]["body"]["labels"], labels)
        r = self.chat({"model": "vgem", "messages": self.user(), "labels": {"Team": "x"}})
        self.assertEqual(r.status, 400, r)
        self.assertIn("labels", r.json()["error"]["message"])

    def test_stream(self):
        chunks = self.chunks({"model": "vgem", "messages": self.user()})
        texts = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
        self.assertEqual("".join(t for t in texts if t), "w1 w2 w3 w4")
        sent = mock_requests(self.gemini)[-1]
        self.assertEqual(sent["path"], ROOT + "/publishers/google/models/"
                         "gemini-2.5-flash%2Bwords-4-10:streamGenerateContent")
        self.assertEqual(sent["query"], {"alt": "sse"})

    def test_tools(self):
        r = self.chat({"model": "vgem-tools", "messages": self.user(), "tools": [
            {"type": "function", "function": {"name": "get_weather", "parameters": {
                "type": "object", "properties": {"city": {"type": "string"}}}}}]})
        self.assertEqual(r.status, 200, r)
        calls = r.json()["choices"][0]["message"]["tool_calls"]
        self.assertEqual(calls[0]["function"]["name"], "get_weather")

    def test_litellm_api_base_names_the_model(self):
        r = self.chat({"model": "vfull", "messages": self.user("echo me")})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["choices"][0]["message"]["content"], "echo me")
        self.assertEqual(mock_requests(self.gemini)[-1]["path"],
                         ROOT + "/publishers/google/models/gemini-2.5-flash+echo:generateContent")

    def test_errors_in_a_list_keep_their_status(self):
        r = self.chat({"model": "vgem-429", "messages": self.user()})
        self.assertEqual(r.status, 429, r)
        self.assertIn("exceeded your current quota", r.json()["error"]["message"])
        # the RetryInfo inside the list is the client's Retry-After, as with Gemini's API
        self.assertEqual(r.header("Retry-After"), "3")

    def test_embeddings_through_predict(self):
        r = self.post("/v1/embeddings", {"model": "vemb", "input": ["one two", "three"],
                                         "dimensions": 4})
        self.assertEqual(r.status, 200, r)
        out = json.loads(r.body)
        self.assertEqual([len(d["embedding"]) for d in out["data"]], [4, 4])
        self.assertEqual([d["index"] for d in out["data"]], [0, 1])
        self.assertEqual(out["usage"]["prompt_tokens"], 3)  # Vertex's token_count, summed
        sent = mock_requests(self.gemini)
        self.assertEqual(len(sent), 1)
        self.assertTrue(sent[0]["path"].endswith("/models/text-embedding-005:predict"))
        self.assertEqual(sent[0]["body"], {"instances": [{"content": "one two"},
                                                         {"content": "three"}],
                                           "parameters": {"outputDimensionality": 4}})
        # gemini-embedding-001 takes one input a request: three calls, one answer
        r = self.post("/v1/embeddings", {"model": "vemb-gem", "input": ["a", "b c", "d"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(json.loads(r.body)["data"]), 3)
        self.assertEqual(len(mock_requests(self.gemini)), 4)

    def test_authorized_user_credentials(self):
        before = len(token_requests(self.oauth))
        r = self.chat({"model": "vuser", "messages": self.user("hi there")})
        self.assertEqual(r.status, 200, r)
        sent = mock_requests(self.gemini)[-1]
        self.assertEqual(sent["headers"].get("x-goog-user-project"), "billing-proj")
        grants = [t["grant_type"] for t in token_requests(self.oauth)[before:]]
        self.assertIn(grants, ([], ["refresh_token"]))

    def test_metadata_server(self):
        r = self.chat({"model": "vmeta", "messages": self.user("from the vm")})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["choices"][0]["message"]["content"], "from the vm")
        meta = [t for t in token_requests(self.oauth) if t["path"].startswith("/computeMetadata")]
        self.assertTrue(meta)
        self.assertTrue(all(t["flavor"] == "Google" for t in meta))

    def test_expired_token_is_replaced(self):
        for _ in range(3):
            r = self.chat({"model": "vshort", "messages": self.user()})
            self.assertEqual(r.status, 200, r)
            time.sleep(1.2)
        # a token lives a second: every call needed a new one
        self.assertGreaterEqual(len(token_requests(self.short)), 3)

    def test_refused_token_is_forgotten(self):
        r = self.chat({"model": "vgem", "messages": self.user()})
        self.assertEqual(r.status, 200, r)
        # the same credentials: Vertex refuses the token (revoked, say) ...
        r = self.chat({"model": "vgem-401", "messages": self.user()})
        self.assertEqual(r.status, 502, r)
        self.assertEqual(r.json()["error"]["code"], "provider_auth_error")
        self.assertNotIn("ya29", r.body.decode())
        # ... and the process that saw it asks for a new one; its other worker may still have
        # its own: send until a fetch follows
        before = len(token_requests(self.oauth))
        for _ in range(6):
            self.assertEqual(self.chat({"model": "vgem", "messages": self.user()}).status, 200)
        self.assertGreater(len(token_requests(self.oauth)), before)

    def test_refused_token_is_replaced_at_once(self):
        # each token serves one call: every later call's cached token is refused, and the
        # request still succeeds, with a new token sent again at once (google-auth's way)
        before = len(token_requests(self.oauth))
        for i in range(6):
            r = self.chat({"model": "vgem-revoked", "messages": self.user("try %d" % i)})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.json()["choices"][0]["message"]["content"], "try %d" % i)
        self.assertGreaterEqual(len(token_requests(self.oauth)) - before, 4)
        # a token refused twice (a second 401 after the new one) is the client's 502
        r = self.chat({"model": "vgem-401", "messages": self.user()})
        self.assertEqual(r.status, 502, r)
        self.assertEqual(len([s for s in mock_requests(self.gemini)
                              if "status-401" in s["path"]]), 2)

    def test_refused_credentials(self):
        r = self.chat({"model": "vbad", "messages": self.user()})
        self.assertEqual(r.status, 502, r)
        self.assertEqual(r.json()["error"]["code"], "provider_auth_error")
        self.assertIn("Google refused the credentials", r.json()["error"]["message"])
        logs = open(self.stack.out_path, encoding="utf-8", errors="replace").read()
        self.assertIn("Invalid JWT header", logs)
        for secret in (self.pem.splitlines()[1], CLIENT_SECRET, REFRESH, "ya29.mock"):
            self.assertNotIn(secret, logs)
            self.assertNotIn(secret, r.body.decode())


class ClaudeOnVertexTest(VertexCase):

    def test_chat(self):
        r = self.chat({"model": "vclaude", "messages": self.user(), "max_tokens": 50})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["choices"][0]["message"]["content"], "w1 w2 w3 w4")
        sent = mock_requests(self.claude)[-1]
        self.assertEqual(sent["path"], ROOT + "/publishers/anthropic/models/"
                         "claude-mock@20250514%2Bwords-4-10:rawPredict")
        self.assertEqual(sent["body"]["anthropic_version"], "vertex-2023-10-16")
        self.assertNotIn("model", sent["body"])
        self.assertNotIn("x-api-key", sent["headers"])
        self.assertNotIn("anthropic-version", sent["headers"])

    def test_chat_stream(self):
        chunks = self.chunks({"model": "vclaude", "messages": self.user(),
                              "stream_options": {"include_usage": True}})
        self.assertEqual("".join(c["choices"][0]["delta"].get("content") or ""
                                 for c in chunks if c["choices"]), "w1 w2 w3 w4")
        self.assertTrue(chunks[-1]["usage"]["completion_tokens"] > 0)
        self.assertTrue(mock_requests(self.claude)[-1]["path"].endswith(":streamRawPredict"))

    def test_messages_passed_through(self):
        payload = {"model": "vclaude-tools", "max_tokens": 100, "messages": self.user(),
                   "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}]}
        r = self.post("/v1/messages", payload, {"anthropic-version": "2023-06-01"})
        self.assertEqual(r.status, 200, r)
        msg = json.loads(r.body)
        self.assertEqual(msg["type"], "message")
        self.assertEqual(msg["content"][-1]["type"], "tool_use")
        sent = mock_requests(self.claude)[-1]
        self.assertTrue(sent["path"].endswith("/models/claude-mock%2Btools:rawPredict"))
        self.assertEqual(sent["body"]["anthropic_version"], "vertex-2023-10-16")
        self.assertNotIn("model", sent["body"])
        # streamed: Anthropic's events as they came
        payload["stream"] = True
        r = self.post("/v1/messages", payload, {"anthropic-version": "2023-06-01"})
        self.assertEqual(r.status, 200, r)
        names = [e["event"] for e in parse_sse(r.body.decode())]
        self.assertEqual(names[0], "message_start")
        self.assertEqual(names[-1], "message_stop")
        self.assertTrue(mock_requests(self.claude)[-1]["path"].endswith(":streamRawPredict"))

    def test_fallback_to_anthropic_gets_the_request_as_the_client_sent_it(self):
        # Vertex's body (its version, no model) is printed for the attempt only: the fallback
        # to Anthropic's own API gets the client's request with its model
        payload = {"model": "vclaude-down", "max_tokens": 50, "messages": self.user("hi there")}
        r = self.post("/v1/messages", payload, {"anthropic-version": "2023-06-01"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(json.loads(r.body)["content"][0]["text"], "hi there")
        sent = mock_requests(self.claude)
        self.assertEqual(len(sent), 2, sent)
        self.assertTrue(sent[0]["path"].endswith("claude-mock%2Bstatus-529:rawPredict"))
        self.assertEqual(sent[1]["path"], "/v1/messages")
        self.assertEqual(sent[1]["body"]["model"], "claude-mock+echo")
        self.assertNotIn("anthropic_version", sent[1]["body"])
        # a client's own anthropic_version: Vertex gets one, Vertex's; the fallback the
        # client's as it came (which Anthropic refuses, as it would have from the client)
        payload["anthropic_version"] = "bedrock-2023-05-31"
        r = self.post("/v1/messages", payload, {"anthropic-version": "2023-06-01"})
        sent = mock_requests(self.claude)
        self.assertEqual(sent[2]["raw_body"].count('"anthropic_version"'), 1, sent[2]["raw_body"])
        self.assertEqual(sent[2]["body"]["anthropic_version"], "vertex-2023-10-16")
        self.assertEqual(sent[3]["body"]["anthropic_version"], "bedrock-2023-05-31")

    def test_pattern_serves_messages_natively(self):
        payload = {"model": "vx/claude-mock@20250514+tools", "max_tokens": 50,
                   "messages": self.user(), "tools": [
                       {"name": "get_weather", "input_schema": {"type": "object"}}]}
        r = self.post("/v1/messages", payload, {"anthropic-version": "2023-06-01"})
        self.assertEqual(r.status, 200, r)
        sent = mock_requests(self.claude)[-1]
        self.assertTrue(sent["path"].endswith("/models/claude-mock@20250514%2Btools:rawPredict"))
        # passed through, not translated to chat and back: the client's tool as it came
        self.assertEqual(sent["body"]["tools"], payload["tools"])
        self.assertEqual(json.loads(r.body)["id"][:8], "msg_mock")

    def test_google_words_on_a_refusal_reach_the_log_only(self):
        r = self.chat({"model": "vclaude-403", "messages": self.user(), "max_tokens": 20})
        self.assertEqual(r.status, 502, r)
        self.assertNotIn("other-proj", r.body.decode())
        logs = open(self.stack.out_path, encoding="utf-8", errors="replace").read()
        self.assertIn("PERMISSION_DENIED Vertex AI API has not been used in project other-proj",
                      logs)

    def test_beta_flags_vertex_takes(self):
        # Claude Code's first-party flags: Vertex refuses those it does not take (400), so
        # only its own go, under its names (advanced-tool-use is its tool-search-tool)
        flags = ("claude-code-20250219, interleaved-thinking-2025-05-14,effort-2025-11-24,"
                 "advanced-tool-use-2025-11-20,oauth-2025-04-20,tool-search-tool-2025-10-19")
        payload = {"model": "vclaude", "max_tokens": 50, "messages": self.user()}
        for stream in (False, True):
            r = self.post("/v1/messages", dict(payload, stream=stream),
                          {"anthropic-version": "2023-06-01", "anthropic-beta": flags})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(mock_requests(self.claude)[-1]["headers"].get("anthropic-beta"),
                             "interleaved-thinking-2025-05-14,tool-search-tool-2025-10-19")
        # none of them left: no header at all
        r = self.post("/v1/messages", payload, {"anthropic-version": "2023-06-01",
                                                "anthropic-beta": "claude-code-20250219"})
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("anthropic-beta", mock_requests(self.claude)[-1]["headers"])
        # count-tokens takes none
        r = self.post("/v1/messages/count_tokens", {"model": "vclaude", "messages": self.user()},
                      {"anthropic-beta": "context-1m-2025-08-07,web-search-2025-03-05"})
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("anthropic-beta", mock_requests(self.claude)[-1]["headers"])

    def test_count_tokens(self):
        r = self.post("/v1/messages/count_tokens", {"model": "vclaude",
                                                    "messages": self.user()})
        self.assertEqual(r.status, 200, r)
        self.assertGreater(json.loads(r.body)["input_tokens"], 0)
        sent = mock_requests(self.claude)[-1]
        self.assertEqual(sent["path"], ROOT + "/publishers/anthropic/models/"
                         "count-tokens:rawPredict")
        self.assertEqual(sent["body"]["model"], "claude-mock@20250514+words-4-10")
        self.assertEqual(sent["body"]["anthropic_version"], "vertex-2023-10-16")


class PartnerOnVertexTest(VertexCase):
    """Llama, DeepSeek, Qwen and gpt-oss: OpenAI's API at .../endpoints/openapi."""

    MODEL = "meta/llama-4-maverick-17b-128e-instruct-maas"

    def test_chat(self):
        r = self.chat({"model": "vllama", "messages": self.user("echo me"),
                       "max_completion_tokens": 40})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["choices"][0]["message"]["content"], "echo me")
        self.assertGreater(r.json()["usage"]["completion_tokens"], 0)
        self.assertGreater(float(r.header("x-sllmp-cost-usd")), 0)  # pricing.yaml's price
        sent = mock_requests(self.openapi)[-1]
        self.assertEqual(sent["path"], ROOT + "/endpoints/openapi/chat/completions")
        self.assertTrue(sent["headers"]["authorization"].startswith("Bearer ya29.mock."))
        self.assertEqual(sent["body"]["model"], self.MODEL)
        # Llama's limit under the name LiteLLM sends it as
        self.assertEqual(sent["body"]["max_tokens"], 40)
        self.assertNotIn("max_completion_tokens", sent["body"])

    def test_stream(self):
        r = self.post("/v1/chat/completions", {
            "model": "vllama", "messages": self.user("one two three"), "stream": True,
            "stream_options": {"include_usage": True}})
        self.assertEqual(r.status, 200, r)
        text = r.body.decode()
        events = [e["data"] for e in parse_sse(text)]
        self.assertEqual(events[-1], "[DONE]", events)
        chunks = [json.loads(d) for d in events[:-1]]
        self.assertEqual("".join(c["choices"][0]["delta"].get("content") or ""
                                 for c in chunks if c["choices"]), "one two three")
        self.assertGreater(chunks[-1]["usage"]["completion_tokens"], 0)
        cost = re.search(r"^: x-sllmp-cost-usd ([0-9.]+)", text, re.M)
        self.assertIsNotNone(cost, text)
        self.assertGreater(float(cost.group(1)), 0)
        sent = mock_requests(self.openapi)[-1]
        self.assertEqual(sent["path"], ROOT + "/endpoints/openapi/chat/completions")
        self.assertEqual(sent["body"]["model"], self.MODEL)
        self.assertTrue(sent["body"]["stream"])

    def test_chat_only(self):
        # Vertex's OpenAI-compatible endpoint has chat completions alone: the other OpenAI
        # endpoints are the gateway's 400, never a call to a path Vertex does not have
        before = len(mock_requests(self.openapi))
        for path, body in (("/v1/completions", {"prompt": "hi"}),
                           ("/v1/images/generations", {"prompt": "a cat"}),
                           ("/v1/moderations", {"input": "hi"})):
            r = self.post(path, dict(body, model="vllama"))
            self.assertEqual(r.status, 400, (path, r))
            self.assertEqual(r.json()["error"]["param"], "model", path)
        self.assertEqual(len(mock_requests(self.openapi)), before)

    def test_refused_token(self):
        r = self.chat({"model": "vllama-401", "messages": self.user()})
        self.assertEqual(r.status, 502, r)
        self.assertEqual(r.json()["error"]["code"], "provider_auth_error")
        self.assertNotIn("ya29", r.body.decode())
        logs = open(self.stack.out_path, encoding="utf-8", errors="replace").read()
        self.assertIn("UNAUTHENTICATED Request had invalid authentication credentials", logs)


if __name__ == "__main__":
    unittest.main()
