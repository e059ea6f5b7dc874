"""Every provider behind the one OpenAI API, through lighttpd and the spawn-fcgi pool, against
mocks that follow protocols.md: Anthropic, Gemini, Azure OpenAI, Bedrock (SigV4 checked by the
mock, binary event stream), OpenAI-compatible servers by their LiteLLM names; /v1/embeddings,
/v1/completions and the /v1/messages front door; what each provider was sent; errors and
streaming quirks; cost and trace records. The official SDKs run against the same stack in
test_sdk_providers.py."""

import base64
import glob
import json
import os
import re
import struct
import time
import unittest

from stack import (MASTER_KEY, UPSTREAM_KEY, MockProcess, StackCase, http_request,
                   require_binaries)

HERE = os.path.dirname(os.path.abspath(__file__))
MOCKS = os.path.join(os.path.dirname(HERE), "mock")

ANTHROPIC_KEY = "sk-ant-mock-KEY"
GEMINI_KEY = "AIza-mock-KEY"
GEMINI_SIGNATURE = "CiQBxoV9mb2NrLWdlbWluaS10aG91Z2h0LXNpZ25hdHVyZQ=="  # the mock's, option signed
AZURE_KEY = "azure-mock-KEY"
AZURE_AD_TOKEN = "azure-mock-ENTRA-TOKEN"  # the mock's default
HEADER_SECRET = "hdr-secret-value-31"
AWS_ID, AWS_SECRET, AWS_REGION = "AKIDMOCK", "mocksecret", "us-east-1"
# an application inference profile of the mock's Claude: its ARN names no model
PROFILE_ARN = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/claudeprof1"
SECRETS = (ANTHROPIC_KEY, GEMINI_KEY, AZURE_KEY, AWS_SECRET, "sk-mock-SECRET-123")


class AnthropicMock(MockProcess):
    SCRIPT = os.path.join(MOCKS, "anthropic_mock.py")

    def args(self):
        return ["--key", ANTHROPIC_KEY]


class WithAnthropicMock:
    """Mixed in before a StackCase: an Anthropic mock for the class, started before the stack,
    whose key the stack has as MOCK_ANTHROPIC_KEY; anthropic_model() names a deployment on it."""

    server_env = {"MOCK_ANTHROPIC_KEY": ANTHROPIC_KEY}

    @classmethod
    def setUpClass(cls):
        cls.anthropic = AnthropicMock().start()
        cls.addClassCleanup(cls.anthropic.stop)
        super().setUpClass()

    @classmethod
    def anthropic_model(cls, name, options):
        """model_name name served by the mock's claude-mock+options."""
        return {"model_name": name, "litellm_params": {
            "model": "anthropic/claude-mock+" + options,
            "api_base": "http://127.0.0.1:%d" % cls.anthropic.port,
            "api_key": "os.environ/MOCK_ANTHROPIC_KEY"}}


class GeminiMock(MockProcess):
    SCRIPT = os.path.join(MOCKS, "gemini_mock.py")

    def args(self):
        return ["--key", GEMINI_KEY]


class BedrockMock(MockProcess):
    SCRIPT = os.path.join(MOCKS, "bedrock_mock.py")

    def args(self):
        return ["--access-key", AWS_ID, "--secret-key", AWS_SECRET, "--region", AWS_REGION,
                "--profile", "claudeprof1=anthropic.claude-mock-v1:0"]


def parse_sse(text):
    """SSE events as dicts {"event": name or None, "data": text}; comments are left out."""
    events, data, name = [], [], None
    for line in re.split(r"\r\n|\r|\n", text):
        if line == "":
            if data:
                events.append({"event": name, "data": "\n".join(data)})
            data, name = [], None
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value
    return events


def mock_get(mock, path):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", mock.port, timeout=5)
    try:
        c.request("GET", path)
        return json.loads(c.getresponse().read())
    finally:
        c.close()


def mock_requests(mock):
    return [r for r in mock_get(mock, "/_mock/requests") if r["method"] == "POST"
            and not r["path"].startswith("/_mock")]


def provider_models(openai, anthropic, gemini, bedrock):
    """The deployments of the suite: one per provider and behaviour."""
    a = "http://127.0.0.1:%d" % anthropic.port
    g = "http://127.0.0.1:%d" % gemini.port
    b = "http://127.0.0.1:%d" % bedrock.port
    az = "http://127.0.0.1:%d" % openai.port
    aws = {"aws_access_key_id": AWS_ID, "aws_secret_access_key": "os.environ/MOCK_AWS_SECRET",
           "aws_region_name": AWS_REGION, "aws_bedrock_runtime_endpoint": b}

    def m(name, **p):
        return {"model_name": name, "litellm_params": p}

    models = [
        m("claude", model="anthropic/claude-mock", api_base=a,
          api_key="os.environ/MOCK_ANTHROPIC_KEY"),
        m("claude-tools", model="anthropic/claude-mock+tools", api_base=a,
          api_key="os.environ/MOCK_ANTHROPIC_KEY"),
        m("claude-cache", model="anthropic/claude-mock+cache", api_base=a,
          api_key="os.environ/MOCK_ANTHROPIC_KEY",
          input_cost_per_token=0.000003, output_cost_per_token=0.000015,
          cache_read_input_token_cost=0.0000003, cache_creation_input_token_cost=0.00000375),
        m("claude-529", model="anthropic/claude-mock+status-529", api_base=a,
          api_key="os.environ/MOCK_ANTHROPIC_KEY"),
        m("claude-err", model="anthropic/claude-mock+words-6-10+error-after-3", api_base=a,
          api_key="os.environ/MOCK_ANTHROPIC_KEY"),
        m("claude-strict", model="anthropic/claude-opus-4-7+strict-sampling", api_base=a,
          api_key="os.environ/MOCK_ANTHROPIC_KEY"),
        m("claude-nonobject", model="anthropic/claude-mock+words-4-0+nonobject", api_base=a,
          api_key="os.environ/MOCK_ANTHROPIC_KEY"),
        m("claude-cut", model="anthropic/claude-mock+words-6-10+close-after-3", api_base=a,
          api_key="os.environ/MOCK_ANTHROPIC_KEY"),
        # message_start says output_tokens 1; the cut comes long before message_delta's count
        m("claude-long-cut", model="anthropic/claude-mock+words-200-0+close-after-150",
          api_base=a, api_key="os.environ/MOCK_ANTHROPIC_KEY"),
        m("gem-cut", model="gemini/gemini-mock+words-6-10+close-after-3", api_base=g,
          api_key="os.environ/MOCK_GEMINI_KEY"),
        m("claude-badkey", model="anthropic/claude-mock", api_base=a, api_key="sk-ant-wrong"),
        m("claude-thinking", model="anthropic/claude-mock+thinking", api_base=a,
          api_key="os.environ/MOCK_ANTHROPIC_KEY"),
        m("claude-thinking-redacted", model="anthropic/claude-mock+thinking+redacted",
          api_base=a, api_key="os.environ/MOCK_ANTHROPIC_KEY"),
        m("claude-thinking-tools", model="anthropic/claude-mock+thinking+tools", api_base=a,
          api_key="os.environ/MOCK_ANTHROPIC_KEY"),
        m("gem", model="gemini/gemini-mock", api_base=g, api_key="os.environ/MOCK_GEMINI_KEY"),
        m("gem-tools", model="gemini/gemini-mock+tools", api_base=g,
          api_key="os.environ/MOCK_GEMINI_KEY"),
        m("gem-thinking", model="gemini/gemini-mock+thinking", api_base=g,
          api_key="os.environ/MOCK_GEMINI_KEY"),
        # Gemini 3 takes thinkingLevel, and its Pro cannot stop thinking (the mock knows both)
        m("gem3-pro", model="gemini/gemini-3-pro-preview+thinking", api_base=g,
          api_key="os.environ/MOCK_GEMINI_KEY"),
        # Gemini 2.5 Flash-Lite thinks no less than 512 tokens (the mock knows it)
        m("gem-lite", model="gemini/gemini-2.5-flash-lite+thinking", api_base=g,
          api_key="os.environ/MOCK_GEMINI_KEY"),
        m("gem-tools-signed", model="gemini/gemini-mock+tools+signed", api_base=g,
          api_key="os.environ/MOCK_GEMINI_KEY"),
        # a Gemini 3 model: the mock signs its calls and wants them signed, as Google does
        m("gem3-tools", model="gemini/gemini-3-flash-preview+tools", api_base=g,
          api_key="os.environ/MOCK_GEMINI_KEY"),
        m("gem-429", model="gemini/gemini-mock+status-429", api_base=g,
          api_key="os.environ/MOCK_GEMINI_KEY"),
        m("gem-429-frac", model="gemini/gemini-mock+status-429+retryms-1500", api_base=g,
          api_key="os.environ/MOCK_GEMINI_KEY"),
        m("gem-429-long", model="gemini/gemini-mock+status-429+retry-90", api_base=g,
          api_key="os.environ/MOCK_GEMINI_KEY"),
        m("gem-quota", model="gemini/gemini-mock+quota-after-0+retryms-1500", api_base=g,
          api_key="os.environ/MOCK_GEMINI_KEY"),
        m("gem-embed", model="gemini/text-embedding-mock", api_base=g,
          api_key="os.environ/MOCK_GEMINI_KEY"),
        m("gem-nonobject", model="gemini/gemini-mock+words-4-0+nonobject", api_base=g,
          api_key="os.environ/MOCK_GEMINI_KEY"),
        m("gem-badkey", model="gemini/gemini-mock", api_base=g, api_key="AIza-wrong-KEY"),
        m("nova", model="bedrock/amazon.nova-mock-v1:0", **aws),
        m("nova-tools", model="bedrock/converse/amazon.nova-mock-v1:0+tools", **aws),
        m("nova-exc", model="bedrock/amazon.nova-mock-v1:0+words-6-10+exception-after-3", **aws),
        m("nova-badsig", model="bedrock/amazon.nova-mock-v1:0",
          **dict(aws, aws_secret_access_key="wrong-secret")),
        m("br-claude", model="bedrock/anthropic.claude-mock-v1:0", **aws),
        m("br-claude-priced", model="bedrock/anthropic.claude-mock-v1:0",
          input_cost_per_token=0.000003, output_cost_per_token=0.000015,
          cache_read_input_token_cost=0.0000003, cache_creation_input_token_cost=0.00000375,
          **aws),
        m("br-llama", model="bedrock/meta.llama-mock-v1:0", **aws),
        m("br-profile", model="bedrock/anthropic.claude-mock-v1:0", model_id=PROFILE_ARN, **aws),
        # CountTokens refuses: a model it does not count, IAM without bedrock:CountTokens, down
        m("br-claude-nocount", model="bedrock/anthropic.claude-mock-v1:0+nocount", **aws),
        m("br-claude-403", model="bedrock/anthropic.claude-mock-v1:0+status-403", **aws),
        m("br-claude-503", model="bedrock/anthropic.claude-mock-v1:0+status-503",
          num_retries=0, **aws),
        m("br-claude-reasoning", model="bedrock/anthropic.claude-mock-v1:0+reasoning", **aws),
        m("br-claude-reasoning-tools",
          model="bedrock/anthropic.claude-mock-v1:0+reasoning+tools", **aws),
        m("titan", model="bedrock/amazon.titan-embed-text-v2:0", **aws),
        m("cohere", model="bedrock/cohere.embed-english-v3", **aws),
        m("az", model="azure/echo", api_base=az, api_key="os.environ/MOCK_AZURE_KEY",
          api_version="2024-10-21"),
        m("az-embed", model="azure/embed", api_base=az, api_key="os.environ/MOCK_AZURE_KEY"),
        # LiteLLM's names of the v1 API
        m("az-preview", model="azure/echo", api_base=az, api_key="os.environ/MOCK_AZURE_KEY",
          api_version="preview"),
        m("az-latest", model="azure/echo", api_base=az, api_key="os.environ/MOCK_AZURE_KEY",
          api_version="latest"),
        # api-versions from before stream_options (the mock refuses it, as Azure does) and
        # the first one that takes it
        m("az-2024-06", model="azure/echo", api_base=az, api_key="os.environ/MOCK_AZURE_KEY",
          api_version="2024-06-01"),
        m("az-2024-08p", model="azure/echo", api_base=az, api_key="os.environ/MOCK_AZURE_KEY",
          api_version="2024-08-01-preview"),
        m("az-2024-09p", model="azure/echo", api_base=az, api_key="os.environ/MOCK_AZURE_KEY",
          api_version="2024-09-01-preview"),
        # LiteLLM's organization, headers and extra_headers (one replacing sllmp's Accept,
        # two with an empty value) and an Entra ID token in place of Azure's api-key
        m("oa-headers", model="openai/echo", api_base=openai.base,
          api_key="os.environ/MOCK_UPSTREAM_KEY", organization="org-mock-7",
          headers={"X-Empty-Too": ""},
          extra_headers={"X-Title": "sllmp tests", "HTTP-Referer": "https://app.example",
                         "accept": "application/json; q=0.9", "X-Empty": "",
                         "X-Secret-Header": "os.environ/MOCK_HEADER_SECRET"}),
        m("az-entra", model="azure/echo", api_base=az, azure_ad_token="os.environ/MOCK_AZURE_AD",
          api_version="2024-10-21"),
        m("groq-echo", model="groq/echo", api_base=openai.base,
          api_key="os.environ/MOCK_UPSTREAM_KEY"),
        m("ollama-echo", model="ollama/echo", api_base="http://127.0.0.1:%d" % openai.port),
        m("vllm-echo", model="hosted_vllm/echo", api_base=openai.base),
        # LiteLLM's custom_llm_provider: a model named without its provider (a vLLM model's
        # Hugging Face name, whose first part is no provider)
        m("custom-provider", model="mock-org/echo", custom_llm_provider="openai",
          api_base=openai.base, api_key="os.environ/MOCK_UPSTREAM_KEY"),
        m("ollama-chat-echo", model="ollama_chat/echo",
          api_base="http://127.0.0.1:%d" % openai.port),
        m("mistral-echo", model="mistral/echo+mistral", api_base=openai.base,
          api_key="os.environ/MOCK_UPSTREAM_KEY"),
        m("xai-echo", model="xai/echo", api_base=openai.base,
          api_key="os.environ/MOCK_UPSTREAM_KEY"),
        m("fw-echo", model="fireworks_ai/echo", api_base=openai.base,
          api_key="os.environ/MOCK_UPSTREAM_KEY"),
        # its 422's detail quotes the input and the key it was sent
        m("mistral-quote", model="mistral/echo+mistral+quote-key", api_base=openai.base,
          api_key="os.environ/MOCK_UPSTREAM_KEY"),
        # OpenAI's reasoning models refuse max_tokens (the mock does too, by the model name or
        # an Azure deployment's); an Azure deployment of another name is one by LiteLLM's
        # azure/o_series/ route or by model_info.base_model
        m("o3", model="openai/o3-mini", api_base=openai.base,
          api_key="os.environ/MOCK_UPSTREAM_KEY"),
        m("gpt5", model="openai/gpt-5-mini", api_base=openai.base,
          api_key="os.environ/MOCK_UPSTREAM_KEY"),
        m("gpt5-chat", model="openai/gpt-5-chat-latest", api_base=openai.base,
          api_key="os.environ/MOCK_UPSTREAM_KEY"),
        m("az-o3", model="azure/o3-mini", api_base=az, api_key="os.environ/MOCK_AZURE_KEY",
          api_version="2024-12-01-preview"),
        m("az-o-series", model="azure/o_series/echo+reasoning", api_base=az,
          api_key="os.environ/MOCK_AZURE_KEY"),
        dict(m("az-base-model", model="azure/echo+reasoning", api_base=az,
               api_key="os.environ/MOCK_AZURE_KEY"),
             model_info={"base_model": "azure/o3-mini"}),
        # a wildcard over Azure deployments: the name asked for may carry LiteLLM's route
        m("az-any/*", model="azure/*", api_base=az, api_key="os.environ/MOCK_AZURE_KEY"),
        m("or-error200", model="openrouter/echo+error200-502", api_base=openai.base,
          api_key="os.environ/MOCK_UPSTREAM_KEY"),
        m("or-error200-429", model="openrouter/echo+error200-429", api_base=openai.base,
          api_key="os.environ/MOCK_UPSTREAM_KEY"),
        m("oa-embed", model="openai/text-embedding-3-small", api_base=openai.base,
          api_key="os.environ/MOCK_UPSTREAM_KEY"),
        m("instruct", model="text-completion-openai/echo", api_base=openai.base,
          api_key="os.environ/MOCK_UPSTREAM_KEY"),
    ]
    return models


PROVIDER_ENV = {"MOCK_ANTHROPIC_KEY": ANTHROPIC_KEY, "MOCK_GEMINI_KEY": GEMINI_KEY,
                "MOCK_AZURE_KEY": AZURE_KEY, "MOCK_AWS_SECRET": AWS_SECRET,
                "MOCK_AZURE_AD": AZURE_AD_TOKEN, "MOCK_HEADER_SECRET": HEADER_SECRET}


class ProvidersCase(StackCase):
    """The four mocks and one stack with every provider's deployments."""

    master_key = MASTER_KEY
    server_env = PROVIDER_ENV

    @classmethod
    def setUpClass(cls):
        require_binaries()
        cls.anthropic = AnthropicMock().start()
        cls.addClassCleanup(cls.anthropic.stop)
        cls.gemini = GeminiMock().start()
        cls.addClassCleanup(cls.gemini.stop)
        cls.bedrock = BedrockMock().start()
        cls.addClassCleanup(cls.bedrock.stop)
        super().setUpClass()

    @classmethod
    def models(cls, mock):
        return provider_models(mock, cls.anthropic, cls.gemini, cls.bedrock)

    def post(self, path, payload, key=None, headers=None):
        h = {"Content-Type": "application/json",
             "Authorization": "Bearer " + (key or self.master_key)}
        h.update(headers or {})
        return http_request(self.stack.port, "POST", path, json.dumps(payload).encode(), h)

    def sse(self, path, payload, headers=None):
        r = self.post(path, payload, headers=headers)
        return r, parse_sse(r.body.decode())

    def no_secrets(self, text):
        for s in SECRETS:
            self.assertNotIn(s, text)

    def chat_text(self, model, text="hello brave new world", **extra):
        r = self.chat(dict({"model": model, "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": text}]}, **extra))
        self.assertEqual(r.status, 200, r)
        return r, r.json()

    def stream_events(self, model, text="hello brave new world", **extra):
        payload = dict({"model": model, "stream": True, "messages": [
            {"role": "user", "content": text}]}, **extra)
        r, evs = self.sse("/v1/chat/completions", payload)
        self.assertEqual(r.status, 200, r)
        data = [e["data"] for e in evs if "data" in e]
        self.assertEqual(data[-1], "[DONE]", data)
        self.assertEqual(data.count("[DONE]"), 1, data)
        chunks = [json.loads(d) for d in data[:-1]]
        for c in chunks:
            self.assertNotIn("error", c, chunks)
        return r, chunks

    def assert_stream_shape(self, chunks, content, usage_asked=False):
        self.assertEqual(len({c["id"] for c in chunks}), 1, chunks)
        self.assertEqual(chunks[0]["choices"][0]["delta"].get("role"), "assistant", chunks)
        self.assertTrue(all(c["object"] == "chat.completion.chunk" for c in chunks), chunks)
        text = "".join(c["choices"][0]["delta"].get("content") or ""
                       for c in chunks if c["choices"])
        self.assertEqual(text, content)
        finishes = [c["choices"][0]["finish_reason"] for c in chunks
                    if c["choices"] and c["choices"][0].get("finish_reason")]
        self.assertEqual(len(finishes), 1, chunks)
        empty = [c for c in chunks if c["choices"] == []]
        if usage_asked:
            self.assertEqual(len(empty), 1, chunks)
            self.assertIs(empty[0], chunks[-1])
            u = empty[0]["usage"]
            self.assertEqual(u["total_tokens"], u["prompt_tokens"] + u["completion_tokens"])
        else:
            self.assertEqual(empty, [], "a chunk without choices reached a client that did not "
                             "ask for usage")
        return finishes[0]

    def reasoning_streamed(self, chunks):
        """(reasoning text, thinking_blocks entries) of a stream: reasoning chunks carry
        reasoning_content alone, entry chunks thinking_blocks alone, both before the answer;
        each entry has the stream's next "index" (0, 1, ...: openai-python's stream helper
        merges list entries by it), returned without it, as unstreamed answers have them."""
        deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
        first_content = next((i for i, d in enumerate(deltas) if d.get("content")), len(deltas))
        text, blocks = "", []
        for i, d in enumerate(deltas):
            if "reasoning_content" in d or "thinking_blocks" in d:
                self.assertEqual(len(d), 1, d)
                self.assertLess(i, first_content, deltas)
            text += d.get("reasoning_content", "")
            for b in d.get("thinking_blocks", []):
                self.assertEqual(b.get("index"), len(blocks), deltas)
                blocks.append({k: v for k, v in b.items() if k != "index"})
        return text, blocks

    def record_of(self, rid):
        for _ in range(50):
            for p in glob.glob(os.path.join(self.stack.spool, "new", "*")):
                rec = json.load(open(p))
                if rec.get("request_id") == rid:
                    return rec
            time.sleep(0.1)
        self.fail("no trace record for %s" % rid)

    def tool_calls_streamed(self, chunks):
        calls = {}
        for c in chunks:
            for tc in (c["choices"][0]["delta"].get("tool_calls") or []) if c["choices"] else []:
                slot = calls.setdefault(tc["index"], {"id": None, "name": None, "args": ""})
                if "id" in tc:
                    self.assertIsNone(slot["id"], "id sent twice for index %d" % tc["index"])
                    slot["id"] = tc["id"]
                    slot["name"] = tc["function"]["name"]
                slot["args"] += tc.get("function", {}).get("arguments") or ""
        return calls


class AnthropicTest(ProvidersCase):
    def test_unstreamed_translation_and_what_went_upstream(self):
        self.anthropic_reset()
        r, body = self.chat_text("claude", stop=["  ", "END"], temperature=1.6, n=1,
                                 user="u-42")
        self.assertEqual(body["object"], "chat.completion")
        self.assertEqual(body["model"], "claude")
        self.assertEqual(body["choices"][0]["message"]["content"], "hello brave new world")
        self.assertEqual(body["choices"][0]["finish_reason"], "stop")
        u = body["usage"]
        self.assertEqual(u["total_tokens"], u["prompt_tokens"] + u["completion_tokens"])
        self.assertGreater(float(r.header("x-sllmp-cost-usd")), -1)
        sent = mock_requests(self.anthropic)[-1]
        self.assertEqual(sent["path"], "/v1/messages")
        self.assertEqual(sent["headers"].get("x-api-key"), ANTHROPIC_KEY)
        self.assertEqual(sent["headers"].get("anthropic-version"), "2023-06-01")
        self.assertNotIn("authorization", {k.lower() for k in sent["headers"]})
        b = sent["body"]
        self.assertEqual(b["model"], "claude-mock")
        self.assertEqual(b["system"], [{"type": "text", "text": "be brief"}])
        self.assertEqual(b["messages"], [{"role": "user", "content": [
            {"type": "text", "text": "hello brave new world"}]}])
        self.assertEqual(b["max_tokens"], 4096)
        self.assertEqual(b["stop_sequences"], ["END"])  # whitespace-only dropped
        self.assertEqual(b["temperature"], 1)           # clamped to Anthropic's 0..1
        self.assertNotIn("n", b)

    def test_jpg_data_url_goes_as_jpeg(self):
        # the mock refuses any media_type but Anthropic's four, as Anthropic does
        part = {"type": "image_url", "image_url": {"url": "data:image/jpg;base64,/9j/4AAQ"}}
        r = self.chat({"model": "claude", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "what is it"}, part]}]})
        self.assertEqual(r.status, 200, r)
        sent = mock_requests(self.anthropic)[-1]["body"]["messages"][0]["content"][1]
        self.assertEqual(sent["source"]["media_type"], "image/jpeg")
        part["image_url"]["url"] = "data:image/tiff;base64,SUkqAA=="
        r = self.chat({"model": "claude", "messages": [{"role": "user", "content": [part]}]})
        self.assertOpenAIError(r, 400, param="messages[0].content[0].image_url.url")

    def test_streamed_with_usage(self):
        r, chunks = self.stream_events("claude", stream_options={"include_usage": True})
        self.assertEqual(self.assert_stream_shape(chunks, "hello brave new world", True), "stop")

    def test_streamed_without_usage_chunk(self):
        r, chunks = self.stream_events("claude")
        self.assert_stream_shape(chunks, "hello brave new world")

    def test_tools_streamed_get_openai_indices(self):
        r, chunks = self.stream_events("claude-tools", tools=[
            {"type": "function", "function": {"name": "get_weather", "parameters": {
                "type": "object", "properties": {"city": {"type": "string"}}}}},
            {"type": "function", "function": {"name": "get_time"}}], tool_choice="required")
        calls = self.tool_calls_streamed(chunks)
        self.assertEqual(sorted(calls), [0, 1], calls)
        self.assertEqual(calls[0]["name"], "get_weather")
        self.assertEqual(json.loads(calls[0]["args"]), {"city": "Paris"})
        self.assertEqual(calls[1]["name"], "get_time")
        self.assertEqual(json.loads(calls[1]["args"]), {})
        finish = [c["choices"][0]["finish_reason"] for c in chunks
                  if c["choices"] and c["choices"][0]["finish_reason"]]
        self.assertEqual(finish, ["tool_calls"])
        sent = mock_requests(self.anthropic)[-1]["body"]
        self.assertEqual(sent["tool_choice"], {"type": "any"})
        self.assertEqual(sent["tools"][1]["input_schema"], {"type": "object", "properties": {}})

    def test_tool_round_trip_unstreamed(self):
        r = self.chat({"model": "claude-tools", "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "toolu_1", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
            {"role": "user", "content": "and now?"}],
            "tools": [{"type": "function", "function": {"name": "get_weather"}}]})
        self.assertEqual(r.status, 200, r)
        msg = r.json()["choices"][0]["message"]
        self.assertEqual([c["function"]["name"] for c in msg["tool_calls"]],
                         ["get_weather", "get_time"])
        self.assertEqual(r.json()["choices"][0]["finish_reason"], "tool_calls")
        sent = mock_requests(self.anthropic)[-1]["body"]["messages"]
        self.assertEqual([m["role"] for m in sent], ["user", "assistant", "user"])
        self.assertEqual(sent[1]["content"][0]["type"], "tool_use")
        self.assertEqual(sent[1]["content"][0]["input"], {"city": "Paris"})
        self.assertEqual(sent[2]["content"][0], {"type": "tool_result", "tool_use_id": "toolu_1",
                                                 "content": "18C"})

    def test_invalid_tool_arguments_is_400_naming_the_field(self):
        r = self.chat({"model": "claude", "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "tool_calls": [{"id": "t", "type": "function", "function": {
                "name": "f", "arguments": "{not json"}}]},
            {"role": "tool", "tool_call_id": "t", "content": "y"}]})
        self.assertOpenAIError(r, 400)
        self.assertIn("arguments", r.json()["error"]["param"])

    def test_schema_that_is_no_object_is_400_naming_it(self):
        # OpenAI refuses it; dropped, the client would get JSON of any shape (or free text)
        for model in ("claude", "gem"):
            for schema in ('{"type": "object"}', [{"type": "object"}]):
                before = len(mock_requests(self.anthropic)) + len(mock_requests(self.gemini))
                r = self.chat({"model": model, "messages": [{"role": "user", "content": "x"}],
                               "response_format": {"type": "json_schema", "json_schema": {
                                   "name": "s", "schema": schema}}})
                self.assertOpenAIError(r, 400, param="response_format.json_schema.schema")
                after = len(mock_requests(self.anthropic)) + len(mock_requests(self.gemini))
                self.assertEqual(after, before, "nothing goes upstream")

    def test_cache_usage_priced_apart(self):
        r, body = self.chat_text("claude-cache")
        u = body["usage"]
        self.assertEqual(u["prompt_tokens_details"]["cached_tokens"], 200)
        self.assertEqual(u["prompt_tokens_details"].get("cache_write_tokens"), 100)
        # prompt = input + 200 read + 100 written, each at its own price
        inp = u["prompt_tokens"] - 300
        want = (inp * 3 + 200 * 0.3 + 100 * 3.75 + u["completion_tokens"] * 15) / 1e6
        self.assertAlmostEqual(float(r.header("x-sllmp-cost-usd")), want, places=9)

    def test_sampling_dropped_for_models_that_reject_it(self):
        r = self.chat({"model": "claude-strict", "temperature": 0.2, "top_p": 0.5,
                       "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(r.status, 200, r)
        sent = mock_requests(self.anthropic)[-1]["body"]
        self.assertNotIn("temperature", sent)
        self.assertNotIn("top_p", sent)

    def test_529_is_a_retryable_503(self):
        r = self.chat({"model": "claude-529", "messages": [{"role": "user", "content": "x"}]})
        self.assertOpenAIError(r, 503)
        self.assertEqual(r.header("x-should-retry"), "true")
        self.assertIsNotNone(r.header("retry-after"))

    def test_error_event_after_200_becomes_sse_error(self):
        r, evs = self.sse("/v1/chat/completions", {"model": "claude-err", "stream": True,
                                                   "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(r.status, 200)
        data = [e["data"] for e in evs if "data" in e]
        self.assertEqual(data[-1], "[DONE]")
        err = json.loads(data[-2])
        self.assertIn("error", err, data)
        text = "".join(json.loads(d)["choices"][0]["delta"].get("content") or ""
                       for d in data[:-2] if json.loads(d).get("choices"))
        self.assertEqual(text, "w1 w2 w3")

    def test_provider_refusing_the_key_is_not_echoed(self):
        r = self.chat({"model": "claude-badkey", "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(r.status, 502, r)
        self.assertNotIn("sk-ant-wrong", r.body.decode())

    THOUGHT = "Let me think about this step by step."   # the mock's thinking
    SIGNATURE = "EqQBCkYIBxgCKkBtb2NrLXNpZ25hdHVyZQ=="
    REDACTED = "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpP"

    def test_streamed_thinking_as_litellm_sends_it(self):
        msgs = [{"role": "user", "content": "hello brave new world"}]
        r, chunks = self.stream_events("claude-thinking", stream_options={"include_usage": True})
        self.assertEqual(self.assert_stream_shape(chunks, "hello brave new world", True), "stop")
        self.assertEqual(mock_get(self.anthropic, "/_mock/streams")[-1]["events"][:5],
                         ["message_start", "content_block_start", "content_block_delta",
                          "content_block_delta", "content_block_delta"])
        text, blocks = self.reasoning_streamed(chunks)
        # one reasoning chunk per thinking_delta, then the block once, whole and signed
        self.assertEqual(text, self.THOUGHT)
        self.assertEqual(sum(1 for c in chunks if c["choices"] and
                             "reasoning_content" in c["choices"][0]["delta"]),
                         len(self.THOUGHT.split()))
        self.assertEqual(blocks, [{"type": "thinking", "thinking": self.THOUGHT,
                                   "signature": self.SIGNATURE}])
        # what the unstreamed answer says, usage included
        r2 = self.chat({"model": "claude-thinking", "messages": msgs})
        self.assertEqual(r2.status, 200, r2)
        msg = r2.json()["choices"][0]["message"]
        self.assertEqual(msg["reasoning_content"], text)
        self.assertEqual(msg["thinking_blocks"], blocks)
        self.assertEqual(chunks[-1]["usage"], r2.json()["usage"])
        # the trace records keep the same answer either way
        streamed = self.record_of(r.header("x-request-id"))["output"]
        unstreamed = self.record_of(r2.header("x-request-id"))["output"]
        self.assertEqual(streamed["reasoning_content"], self.THOUGHT, streamed)
        self.assertEqual(streamed["thinking_blocks"], blocks, streamed)
        for k in ("role", "content", "reasoning_content", "thinking_blocks"):
            self.assertEqual(streamed[k], unstreamed[k], k)

    def test_streamed_redacted_thinking(self):
        r, chunks = self.stream_events("claude-thinking-redacted")
        self.assert_stream_shape(chunks, "hello brave new world")
        text, blocks = self.reasoning_streamed(chunks)
        self.assertEqual(text, self.THOUGHT)
        want = [{"type": "thinking", "thinking": self.THOUGHT, "signature": self.SIGNATURE},
                {"type": "redacted_thinking", "data": self.REDACTED}]
        self.assertEqual(blocks, want)
        r2 = self.chat({"model": "claude-thinking-redacted",
                        "messages": [{"role": "user", "content": "hello brave new world"}]})
        self.assertEqual(r2.json()["choices"][0]["message"]["thinking_blocks"], want)

    def test_streamed_thinking_blocks_go_back_signed(self):
        # a tool call with thinking on, streamed; the client sends the blocks back as they came
        tools = [{"type": "function", "function": {"name": "get_weather"}},
                 {"type": "function", "function": {"name": "get_time"}}]
        r, chunks = self.stream_events("claude-thinking-tools", text="weather?", tools=tools,
                                       reasoning_effort="low")
        self.assertEqual(mock_requests(self.anthropic)[-1]["body"]["thinking"],
                         {"type": "enabled", "budget_tokens": 1024})
        text, blocks = self.reasoning_streamed(chunks)
        calls = self.tool_calls_streamed(chunks)
        # as the stream gave them, "index" included: Anthropic must not get it
        echoed = [dict(b, index=i) for i, b in enumerate(blocks)]
        assistant = {"role": "assistant", "content": None, "thinking_blocks": echoed,
                     "tool_calls": [{"id": c["id"], "type": "function",
                                     "function": {"name": c["name"], "arguments": c["args"]}}
                                    for _, c in sorted(calls.items())]}
        results = [{"role": "tool", "tool_call_id": c["id"], "content": "18C"}
                   for _, c in sorted(calls.items())]
        r2 = self.chat({"model": "claude-thinking-tools", "tools": tools,
                        "reasoning_effort": "low",
                        "messages": [{"role": "user", "content": "weather?"}, assistant] + results})
        self.assertEqual(r2.status, 200, r2)
        sent = mock_requests(self.anthropic)[-1]["body"]
        # thinking stays on: the turn with tool_use starts with the block, signed
        self.assertEqual(sent["thinking"], {"type": "enabled", "budget_tokens": 1024})
        self.assertEqual(sent["messages"][1]["content"][0],
                         {"type": "thinking", "thinking": self.THOUGHT,
                          "signature": self.SIGNATURE})

    def anthropic_reset(self):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.anthropic.port, timeout=5)
        c.request("POST", "/_mock/reset", body=b"{}")
        c.getresponse().read()
        c.close()


class CutStreamTest(ProvidersCase):
    def test_a_stream_cut_before_its_end_is_an_error_not_a_stop(self):
        for model in ("claude-cut", "gem-cut"):
            r, evs = self.sse("/v1/chat/completions", {"model": model, "stream": True,
                                                       "messages": [{"role": "user",
                                                                     "content": "x"}]})
            data = [e["data"] for e in evs]
            self.assertEqual(data[-1], "[DONE]", model)
            self.assertIn("error", json.loads(data[-2]), (model, data))
            finishes = [json.loads(d)["choices"][0].get("finish_reason") for d in data[:-2]
                        if json.loads(d).get("choices")]
            self.assertEqual([f for f in finishes if f], [], (model, data))


class GeminiTest(ProvidersCase):
    def test_unstreamed_and_what_went_upstream(self):
        r, body = self.chat_text("gem", max_tokens=50, temperature=0.2)
        self.assertEqual(body["choices"][0]["message"]["content"], "hello brave new world")
        self.assertEqual(body["choices"][0]["finish_reason"], "stop")
        sent = mock_requests(self.gemini)[-1]
        self.assertTrue(sent["path"].startswith("/v1beta/models/gemini-mock:generateContent"),
                        sent["path"])
        self.assertNotIn("key", sent["query"])  # the key never goes in a URL
        self.assertEqual(sent["headers"].get("x-goog-api-key"), GEMINI_KEY)
        b = sent["body"]
        self.assertEqual(b["systemInstruction"], {"parts": [{"text": "be brief"}]})
        self.assertEqual(b["contents"], [{"role": "user", "parts": [
            {"text": "hello brave new world"}]}])
        self.assertEqual(b["generationConfig"]["maxOutputTokens"], 50)
        # Vertex's labels are no field of the Gemini API (which refuses them): left behind
        r, body = self.chat_text("gem", labels={"team": "search"})
        self.assertNotIn("labels", mock_requests(self.gemini)[-1]["body"])

    def test_streamed_uses_alt_sse(self):
        r, chunks = self.stream_events("gem", stream_options={"include_usage": True})
        self.assertEqual(self.assert_stream_shape(chunks, "hello brave new world", True), "stop")
        self.assertEqual(mock_requests(self.gemini)[-1]["query"].get("alt"), "sse")

    def test_streamed_candidates_are_choices(self):
        # n goes up as candidateCount, and every candidate comes back as its own choice,
        # streamed as unstreamed, each with its role chunk and its finish_reason
        r, chunks = self.stream_events("gem", n=2, stream_options={"include_usage": True})
        self.assertEqual(mock_requests(self.gemini)[-1]["body"]["generationConfig"]
                         ["candidateCount"], 2)
        text, roles, finishes = {}, {}, {}
        for c in chunks:
            for ch in c["choices"]:
                i = ch["index"]
                text[i] = text.get(i, "") + (ch["delta"].get("content") or "")
                roles[i] = roles.get(i, 0) + (ch["delta"].get("role") == "assistant")
                if ch["finish_reason"]:
                    finishes.setdefault(i, []).append(ch["finish_reason"])
        self.assertEqual(text, {0: "hello brave new world", 1: "hello brave new world"})
        self.assertEqual(roles, {0: 1, 1: 1}, chunks)
        self.assertEqual(finishes, {0: ["stop"], 1: ["stop"]}, chunks)
        self.assertEqual(chunks[-1]["choices"], [])
        body = self.chat({"model": "gem", "n": 2, "messages": [
            {"role": "user", "content": "hello brave new world"}]}).json()
        self.assertEqual([(ch["index"], ch["message"]["content"], ch["finish_reason"])
                          for ch in body["choices"]],
                         [(i, text[i], "stop") for i in (0, 1)])
        self.assertEqual(chunks[-1]["usage"], body["usage"])

    def test_logprobs_both_ways(self):
        # as LiteLLM maps them: logprobs -> responseLogprobs, top_logprobs -> logprobs, and the
        # logprobsResult back as OpenAI's logprobs.content, streamed as unstreamed
        r, body = self.chat_text("gem", logprobs=True, top_logprobs=2)
        self.assertEqual({k: v for k, v in mock_requests(self.gemini)[-1]["body"]
                          ["generationConfig"].items() if "ogprobs" in k},
                         {"responseLogprobs": True, "logprobs": 2})
        lp = body["choices"][0]["logprobs"]
        self.assertIsNone(lp["refusal"])
        self.assertEqual("".join(e["token"] for e in lp["content"]), "hello brave new world")
        self.assertEqual([e["logprob"] for e in lp["content"]], [0, -0.1, -0.2, -0.3])
        for e in lp["content"]:
            self.assertEqual(bytes(e["bytes"]), e["token"].encode())
            self.assertEqual([t["token"] for t in e["top_logprobs"]], [e["token"], "alt1"])
        r, chunks = self.stream_events("gem", logprobs=True, top_logprobs=2)
        streamed = [e for c in chunks if c["choices"] and c["choices"][0]["logprobs"]
                    for e in c["choices"][0]["logprobs"]["content"]]
        self.assertEqual(streamed, lp["content"])
        # not asked for: none
        r, body = self.chat_text("gem")
        self.assertIsNone(body["choices"][0]["logprobs"])

    def test_tools_and_finish_reason(self):
        r, chunks = self.stream_events("gem-tools", tools=[
            {"type": "function", "function": {"name": "get_weather"}}])
        calls = self.tool_calls_streamed(chunks)
        self.assertEqual(sorted(calls), [0, 1], calls)
        self.assertTrue(all(c["id"] for c in calls.values()))
        finish = [c["choices"][0]["finish_reason"] for c in chunks
                  if c["choices"] and c["choices"][0]["finish_reason"]]
        self.assertEqual(finish, ["tool_calls"])

    def test_streamed_tool_call_thought_signature_goes_back(self):
        # Gemini 3 signs a call and refuses the next turn of the tool loop without it; a
        # streaming agent gets it on the call's first fragment, where Google's OpenAI endpoint
        # puts it, and sends it back on the call as an unstreamed answer gave it
        tools = [{"type": "function", "function": {"name": "get_weather"}},
                 {"type": "function", "function": {"name": "get_time"}}]
        r, chunks = self.stream_events("gem-tools-signed", text="weather?", tools=tools)
        calls = self.tool_calls_streamed(chunks)
        self.assertEqual(sorted(calls), [0, 1], calls)
        extras = {}
        for c in chunks:
            for tc in (c["choices"][0]["delta"].get("tool_calls") or []) if c["choices"] else []:
                if "extra_content" in tc:
                    self.assertIn("id", tc, "a signature on a later fragment: %r" % tc)
                    extras[tc["index"]] = tc["extra_content"]
        signed = {"google": {"thought_signature": GEMINI_SIGNATURE}}
        self.assertEqual(extras, {0: signed}, chunks)   # Gemini signs the first call only
        unstreamed = self.chat({"model": "gem-tools-signed", "tools": tools,
                                "messages": [{"role": "user", "content": "weather?"}]})
        self.assertEqual(unstreamed.status, 200, unstreamed)
        self.assertEqual(
            [tc.get("extra_content") for tc in unstreamed.json()["choices"][0]["message"]
             ["tool_calls"]], [signed, None])
        # and in the id, after "__thought__", as LiteLLM gives it, streamed or not
        for ids in ([c["id"] for _, c in sorted(calls.items())],
                    [tc["id"] for tc in unstreamed.json()["choices"][0]["message"]
                     ["tool_calls"]]):
            self.assertTrue(ids[0].endswith("__thought__" + GEMINI_SIGNATURE), ids)
            self.assertEqual(ids[0].count("__thought__"), 1, ids)
            self.assertNotIn("__thought__", ids[1], ids)
        # the trace records keep it alike, streamed or not
        for resp in (r, unstreamed):
            out = self.record_of(resp.header("x-request-id"))["output"]
            self.assertEqual([tc.get("extra_content") for tc in out["tool_calls"]],
                             [signed, None], out)

        def next_turn(extra, ids, result_ids=None):
            # extra: the calls' extra_content sent back; ids, result_ids: the ids on the
            # assistant's calls and on the tool messages (what a client kept of each id)
            assistant = {"role": "assistant", "content": None, "tool_calls": [
                dict({"id": ids(c["id"]), "type": "function",
                      "function": {"name": c["name"], "arguments": c["args"]}},
                     **({"extra_content": extras[i]} if extra and i in extras else {}))
                for i, c in sorted(calls.items())]}
            results = [{"role": "tool", "tool_call_id": (result_ids or ids)(c["id"]),
                        "content": "18C"} for _, c in sorted(calls.items())]
            return self.chat({"model": "gem-tools-signed", "stream": True, "tools": tools,
                              "messages": [{"role": "user", "content": "weather?"},
                                           assistant] + results})

        def bare(cid):
            return cid.split("__thought__")[0]

        def same(cid):
            return cid

        # the call back as it came; with extra_content only (the id before the separator);
        # with the id only, as LangChain and most agent frameworks rebuild it, the tool
        # messages' ids with the signature or without
        for extra, ids, result_ids in ((True, same, None), (True, bare, None),
                                       (False, same, None), (False, same, bare)):
            r2 = next_turn(extra, ids, result_ids)
            self.assertEqual(r2.status, 200, r2)
            turn = mock_requests(self.gemini)[-1]["body"]["contents"][1]
            self.assertEqual(turn["role"], "model")
            self.assertEqual(turn["parts"][0], {
                "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                "thoughtSignature": GEMINI_SIGNATURE})
            self.assertNotIn("thoughtSignature", turn["parts"][1])
            self.assertEqual([p["functionResponse"]["name"] for p in
                              mock_requests(self.gemini)[-1]["body"]["contents"][2]["parts"]],
                             ["get_weather", "get_time"])
        # the call back without it anywhere is Gemini's 400 (this model is no gemini-3 the
        # gateway would sign for)
        self.assertOpenAIError(next_turn(False, bare), 400)

    def test_gemini3_takes_history_it_did_not_write(self):
        # a tool loop begun on another model (no signatures anywhere) goes on with Gemini 3:
        # the first call of each assistant message gets Google's documented dummy signature,
        # which Gemini 3 takes in place of its own (without it: its 400)
        tools = [{"type": "function", "function": {"name": "get_weather"}},
                 {"type": "function", "function": {"name": "get_time"}}]
        history = [{"role": "user", "content": "weather?"},
                   {"role": "assistant", "content": None, "tool_calls": [
                       {"id": "call_w", "type": "function",
                        "function": {"name": "get_weather", "arguments": "{}"}},
                       {"id": "call_t", "type": "function",
                        "function": {"name": "get_time", "arguments": "{}"}}]},
                   {"role": "tool", "tool_call_id": "call_w", "content": "18C"},
                   {"role": "tool", "tool_call_id": "call_t", "content": "12:00"}]
        for stream in (False, True):
            r = self.chat({"model": "gem3-tools", "stream": stream, "tools": tools,
                           "messages": history})
            self.assertEqual(r.status, 200, r)
            turn = mock_requests(self.gemini)[-1]["body"]["contents"][1]
            self.assertEqual([p.get("thoughtSignature") for p in turn["parts"]],
                             ["skip_thought_signature_validator", None], turn)
        # a signature the client kept is what goes, never the dummy
        first = self.chat({"model": "gem3-tools", "tools": tools,
                           "messages": [{"role": "user", "content": "weather?"}]})
        self.assertEqual(first.status, 200, first)
        calls = first.json()["choices"][0]["message"]["tool_calls"]
        r = self.chat({"model": "gem3-tools", "tools": tools, "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": c["id"], "type": "function", "function": c["function"]} for c in calls]}] +
            [{"role": "tool", "tool_call_id": c["id"], "content": "x"} for c in calls]})
        self.assertEqual(r.status, 200, r)
        turn = mock_requests(self.gemini)[-1]["body"]["contents"][1]
        self.assertEqual([p.get("thoughtSignature") for p in turn["parts"]],
                         [GEMINI_SIGNATURE, None], turn)
        # a model that is no Gemini 3 gets no made-up signature (this mock one wants its own)
        self.assertOpenAIError(self.chat({"model": "gem-tools-signed", "tools": tools,
                                          "messages": history}), 400)
        self.assertNotIn("thoughtSignature",
                         mock_requests(self.gemini)[-1]["body"]["contents"][1]["parts"][0])

    def test_tool_loop_begun_on_gemini_goes_on_with_claude(self):
        # the ids carry Gemini's signature after "__thought__" (base64: '+', '/', '='), which
        # Anthropic's tool_use ids and Bedrock's toolUseIds refuse: the id before it goes, on
        # the call and its result alike, whichever side the client kept it on
        tools = [{"type": "function", "function": {"name": "get_weather"}},
                 {"type": "function", "function": {"name": "get_time"}}]
        first = self.chat({"model": "gem-tools-signed", "tools": tools,
                           "messages": [{"role": "user", "content": "weather?"}]})
        self.assertEqual(first.status, 200, first)
        calls = first.json()["choices"][0]["message"]["tool_calls"]
        self.assertIn("__thought__", calls[0]["id"])
        bare = [c["id"].split("__thought__")[0] for c in calls]
        history = [{"role": "user", "content": "weather?"},
                   {"role": "assistant", "content": None, "tool_calls": calls},
                   {"role": "tool", "tool_call_id": calls[0]["id"], "content": "18C"},
                   {"role": "tool", "tool_call_id": bare[1], "content": "12:00"}]
        r = self.chat({"model": "claude", "tools": tools, "messages": history})
        self.assertEqual(r.status, 200, r)
        sent = mock_requests(self.anthropic)[-1]["body"]["messages"]
        self.assertEqual([b["id"] for b in sent[1]["content"]], bare)
        self.assertEqual([b["tool_use_id"] for b in sent[2]["content"]], bare)
        for model in ("br-claude", "nova"):
            r = self.chat({"model": model, "tools": tools, "messages": history})
            self.assertEqual(r.status, 200, (model, r))
            sent = mock_requests(self.bedrock)[-1]["body"]["messages"]
            self.assertEqual([b["toolUse"]["toolUseId"] for b in sent[1]["content"]], bare)
            self.assertEqual([b["toolResult"]["toolUseId"] for b in sent[2]["content"]], bare)
        # OpenAI refuses tool call ids over 40 characters (the mock too): OpenAI-compatible
        # upstreams, Mistral's included, get the ids without the signatures as well
        for model in ("groq-echo", "az", "mistral-echo"):
            r = self.chat({"model": model, "tools": tools, "messages": history})
            self.assertEqual(r.status, 200, (model, r))
            sent = mock_requests(self.mock)[-1]["body"]["messages"]
            self.assertEqual([c["id"] for c in sent[1]["tool_calls"]], bare, model)
            self.assertEqual([m["tool_call_id"] for m in sent[2:]], bare, model)

    def test_thinking_tokens_in_usage(self):
        r, body = self.chat_text("gem-thinking")
        u = body["usage"]
        self.assertEqual(u["completion_tokens_details"]["reasoning_tokens"], 50)
        self.assertGreaterEqual(u["completion_tokens"], 50)

    def test_429_passes_with_status(self):
        r = self.chat({"model": "gem-429", "messages": [{"role": "user", "content": "x"}]})
        self.assertOpenAIError(r, 429)

    def test_429_retry_info_is_retry_after(self):
        # Google says when in the body's RetryInfo ("7s", "1.500s"), never in a header
        for model, secs, ms in (("gem-429", "7", "7000"), ("gem-429-frac", "2", "1500")):
            for stream in (False, True):
                r = self.chat({"model": model, "stream": stream,
                               "messages": [{"role": "user", "content": "x"}]})
                self.assertOpenAIError(r, 429)
                self.assertEqual(r.header("retry-after"), secs, (model, stream, r))
                self.assertEqual(r.header("retry-after-ms"), ms, (model, stream, r))

    def test_streamed_thoughts_are_reasoning(self):
        # Google sends thought summaries only when includeThoughts asks for them: a client
        # asking for reasoning (reasoning_effort) gets it, as from LiteLLM
        r, chunks = self.stream_events("gem-thinking", stream_options={"include_usage": True},
                                       reasoning_effort="minimal")
        self.assert_stream_shape(chunks, "hello brave new world", True)
        self.assertEqual(mock_requests(self.gemini)[-1]["body"]["generationConfig"]
                         ["thinkingConfig"], {"thinkingBudget": 128, "includeThoughts": True})
        text, blocks = self.reasoning_streamed(chunks)
        self.assertEqual(text, "Let me think about this request step by step.")
        self.assertEqual(blocks, [])   # Gemini's thoughts carry nothing to send back
        r2 = self.chat({"model": "gem-thinking", "reasoning_effort": "high",
                        "messages": [{"role": "user", "content": "hello brave new world"}]})
        self.assertEqual(r2.json()["choices"][0]["message"]["reasoning_content"], text)
        self.assertEqual(chunks[-1]["usage"], r2.json()["usage"])

    def test_gemini3_takes_thinking_levels(self):
        # LiteLLM's mapping: Gemini 3 Pro thinks at low or high; none is low with no thoughts
        # shown (a thinkingBudget of 0 is Google's 400: the model cannot stop thinking)
        for effort, want in (("none", {"thinkingLevel": "low", "includeThoughts": False}),
                             ("medium", {"thinkingLevel": "high", "includeThoughts": True})):
            r = self.chat({"model": "gem3-pro", "reasoning_effort": effort,
                           "messages": [{"role": "user", "content": "hello"}]})
            self.assertEqual(r.status, 200, (effort, r))
            self.assertEqual(mock_requests(self.gemini)[-1]["body"]["generationConfig"]
                             ["thinkingConfig"], want)
        # Gemini has no level above high: refused before any call, naming the parameter
        before = len(mock_requests(self.gemini))
        r = self.chat({"model": "gem3-pro", "reasoning_effort": "xhigh",
                       "messages": [{"role": "user", "content": "hello"}]})
        self.assertOpenAIError(r, 400, param="reasoning_effort")
        self.assertEqual(len(mock_requests(self.gemini)), before)

    def test_flash_lite_minimal_takes_its_least_budget(self):
        # LiteLLM's minimal is the model's least budget: 512 on 2.5 Flash-Lite, whose range
        # starts there (128 is Google's 400 "The thinking budget 128 is invalid")
        r = self.chat({"model": "gem-lite", "reasoning_effort": "minimal",
                       "messages": [{"role": "user", "content": "hello"}]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(mock_requests(self.gemini)[-1]["body"]["generationConfig"]
                         ["thinkingConfig"], {"thinkingBudget": 512, "includeThoughts": True})

    def test_anthropic_thinking_parameter(self):
        # LiteLLM takes Anthropic's thinking on OpenAI requests and gives it to Gemini as
        # thinkingConfig: the budget, and thought summaries (reasoning_content) when enabled
        r = self.chat({"model": "gem-thinking",
                       "thinking": {"type": "enabled", "budget_tokens": 1024},
                       "messages": [{"role": "user", "content": "hello"}]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(mock_requests(self.gemini)[-1]["body"]["generationConfig"]
                         ["thinkingConfig"], {"thinkingBudget": 1024, "includeThoughts": True})
        self.assertEqual(r.json()["choices"][0]["message"]["reasoning_content"],
                         "Let me think about this request step by step.")
        # Gemini 3 takes no budget: thoughts shown, the level the model's own
        r = self.chat({"model": "gem3-pro",
                       "thinking": {"type": "enabled", "budget_tokens": 1024},
                       "messages": [{"role": "user", "content": "hello"}]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(mock_requests(self.gemini)[-1]["body"]["generationConfig"]
                         ["thinkingConfig"], {"includeThoughts": True})
        # with reasoning_effort too, LiteLLM refuses it for Gemini 3: before any call
        before = len(mock_requests(self.gemini))
        r = self.chat({"model": "gem3-pro", "reasoning_effort": "low",
                       "thinking": {"type": "enabled", "budget_tokens": 1024},
                       "messages": [{"role": "user", "content": "hello"}]})
        self.assertOpenAIError(r, 400, param="thinking")
        self.assertEqual(len(mock_requests(self.gemini)), before)

    def test_events_that_are_no_object_skipped(self):
        # data: null, [1] or an object with bytes after it is no GenerateContentResponse
        r, chunks = self.stream_events("gem-nonobject")
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("JUNK", r.body.decode())
        self.assert_stream_shape(chunks, "w1 w2 w3 w4", False)

    def test_pydantic_schema_of_nested_models(self):
        # what openai-python's .parse() sends for a model holding another: $defs and $refs,
        # additionalProperties false everywhere, which Google's Schema refuses by name
        step = {"type": "object", "title": "Step", "additionalProperties": False,
                "properties": {"n": {"type": "integer", "title": "N"}}, "required": ["n"]}
        schema = {"$defs": {"Step": step}, "type": "object", "title": "Plan",
                  "additionalProperties": False, "required": ["steps", "note"],
                  "properties": {"steps": {"type": "array", "items": {"$ref": "#/$defs/Step"}},
                                 "note": {"anyOf": [{"type": "string"}, {"type": "null"}]}}}
        r = self.chat({"model": "gem", "messages": [{"role": "user", "content": "plan"}],
                       "response_format": {"type": "json_schema", "json_schema": {
                           "name": "Plan", "strict": True, "schema": schema}},
                       "tools": [{"type": "function", "function": {
                           "name": "f", "parameters": schema}}]})
        self.assertEqual(r.status, 200, r)
        sent = mock_requests(self.gemini)[-1]["body"]
        want_step = {"type": "object", "title": "Step",
                     "properties": {"n": {"type": "integer", "title": "N"}}, "required": ["n"]}
        self.assertEqual(sent["generationConfig"]["responseSchema"]["properties"]["steps"],
                         {"type": "array", "items": want_step})

    def test_free_form_objects_go_as_json_schema(self):
        # Pydantic's dict[str, str] is an object with additionalProperties and no properties:
        # Google's Schema has no way to say it ("properties: should be non-empty for OBJECT
        # type"), its JSON Schema fields have
        tags = {"type": "object", "additionalProperties": {"type": "string"}, "title": "Tags"}
        schema = {"type": "object", "title": "Item", "additionalProperties": False,
                  "properties": {"name": {"type": "string"}, "tags": tags},
                  "required": ["name", "tags"]}
        r = self.chat({"model": "gem", "messages": [{"role": "user", "content": "item"}],
                       "response_format": {"type": "json_schema", "json_schema": {
                           "name": "Item", "strict": True, "schema": schema}},
                       "tools": [{"type": "function", "function": {
                           "name": "save", "parameters": schema}},
                                 {"type": "function", "function": {
                                     "name": "label", "parameters": tags}}]})
        self.assertEqual(r.status, 200, r)
        sent = mock_requests(self.gemini)[-1]["body"]
        gc = sent["generationConfig"]
        self.assertNotIn("responseSchema", gc)
        self.assertEqual(gc["responseJsonSchema"]["properties"]["tags"], tags)
        self.assertIs(gc["responseJsonSchema"]["additionalProperties"], False)
        decls = sent["tools"][0]["functionDeclarations"]
        self.assertEqual([sorted(d) for d in decls], [["name", "parametersJsonSchema"]] * 2)
        self.assertEqual(decls[0]["parametersJsonSchema"], gc["responseJsonSchema"])
        self.assertEqual(decls[1]["parametersJsonSchema"], tags)

    def test_wrong_key_is_the_gateways_credentials(self):
        # Google answers a key it does not know with 400 INVALID_ARGUMENT (ErrorInfo reason
        # API_KEY_INVALID), not 401: the client's request is fine, the deployment's key is not
        for stream in (False, True):
            r = self.chat({"model": "gem-badkey", "stream": stream,
                           "messages": [{"role": "user", "content": "x"}]})
            self.assertOpenAIError(r, 502, "provider_auth_error", etype="server_error")
            self.assertNotIn("AIza-wrong-KEY", r.body.decode())
        r = self.post("/v1/embeddings", {"model": "gem-badkey", "input": "x"})
        self.assertOpenAIError(r, 502, "provider_auth_error", etype="server_error")

    def test_embeddings_float_and_base64(self):
        r = self.post("/v1/embeddings", {"model": "gem-embed", "input": ["a b", "c"]})
        self.assertEqual(r.status, 200, r)
        b = r.json()
        self.assertEqual([d["index"] for d in b["data"]], [0, 1])
        vec = b["data"][0]["embedding"]
        self.assertTrue(all(isinstance(x, float) for x in vec))
        r2 = self.post("/v1/embeddings", {"model": "gem-embed", "input": ["a b", "c"],
                                          "encoding_format": "base64"})
        raw = base64.b64decode(r2.json()["data"][0]["embedding"])
        self.assertEqual(len(raw), 4 * len(vec))
        for got, want in zip(struct.unpack("<%df" % len(vec), raw), vec):
            self.assertAlmostEqual(got, want, delta=1e-6)  # float32 of the same number
        self.assertTrue(mock_requests(self.gemini)[-1]["path"].endswith(":batchEmbedContents"))


class GeminiRetryWaitTest(ProvidersCase):
    """Gemini's RetryInfo is the router's wait too, as another provider's Retry-After."""

    router = {"num_retries": 1}

    def calls(self, model):
        return sum(1 for q in mock_requests(self.gemini) if "/models/%s:" % model in
                   q["path"].replace("%2B", "+"))

    def test_retry_waits_what_retry_info_asks(self):
        t0 = time.monotonic()
        r = self.chat({"model": "gem-429-frac", "messages": [{"role": "user", "content": "x"}]})
        took = time.monotonic() - t0
        self.assertOpenAIError(r, 429)
        self.assertEqual(r.header("x-sllmp-attempts"), "2", r)
        self.assertEqual(self.calls("gemini-mock+status-429+retryms-1500"), 2)
        self.assertGreaterEqual(took, 1.5)   # the backoff alone is 0.25 to 0.5 s
        self.assertEqual(r.header("retry-after"), "2")

    def test_quota_event_in_a_stream_waits_its_retry_info(self):
        # RESOURCE_EXHAUSTED as the stream's first event: nothing reached the client yet, so
        # the router waits its RetryInfo and tries again, and the client gets it as a 429's
        t0 = time.monotonic()
        r = self.chat({"model": "gem-quota", "stream": True,
                       "messages": [{"role": "user", "content": "x"}]})
        took = time.monotonic() - t0
        self.assertOpenAIError(r, 429)
        self.assertEqual(r.header("x-sllmp-attempts"), "2", r)
        self.assertEqual(self.calls("gemini-mock+quota-after-0+retryms-1500"), 2)
        self.assertGreaterEqual(took, 1.5)
        self.assertEqual(r.header("retry-after"), "2", r)
        self.assertEqual(r.header("retry-after-ms"), "1500", r)

    def test_no_retry_when_retry_info_asks_too_long(self):
        # 90 s is past max_retry_after_ms (60 s): the client gets it at once, to wait itself
        t0 = time.monotonic()
        r = self.chat({"model": "gem-429-long", "messages": [{"role": "user", "content": "x"}]})
        self.assertOpenAIError(r, 429)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual(r.header("x-sllmp-attempts"), "1", r)
        self.assertEqual(self.calls("gemini-mock+status-429+retry-90"), 1)
        self.assertEqual(r.header("retry-after"), "90")
        self.assertEqual(r.header("retry-after-ms"), "90000")


class BedrockTest(ProvidersCase):
    def test_converse_signed_and_translated(self):
        r, body = self.chat_text("nova", max_tokens=64)
        self.assertEqual(body["choices"][0]["message"]["content"], "hello brave new world")
        sent = mock_requests(self.bedrock)[-1]
        # the mock verified the SigV4 signature itself; the path carries the encoded ':'
        self.assertEqual(sent["path"], "/model/amazon.nova-mock-v1%3A0/converse")
        self.assertTrue(sent["headers"]["authorization"].startswith(
            "AWS4-HMAC-SHA256 Credential=%s/" % AWS_ID))
        self.assertNotIn(AWS_SECRET, json.dumps(sent))
        self.assertEqual(sent["body"]["system"], [{"text": "be brief"}])
        self.assertEqual(sent["body"]["inferenceConfig"]["maxTokens"], 64)

    def test_wrong_secret_is_refused_credentials(self):
        r = self.chat({"model": "nova-badsig", "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(r.status, 502, r)
        self.no_secrets(r.body.decode())

    def test_converse_stream_event_stream(self):
        r, chunks = self.stream_events("nova", stream_options={"include_usage": True})
        self.assertEqual(self.assert_stream_shape(chunks, "hello brave new world", True), "stop")
        self.assertTrue(mock_requests(self.bedrock)[-1]["path"].endswith("/converse-stream"))

    def test_converse_stream_reasoning(self):
        r, chunks = self.stream_events("br-claude-reasoning",
                                       stream_options={"include_usage": True})
        self.assert_stream_shape(chunks, "hello brave new world", True)
        self.assertTrue(mock_requests(self.bedrock)[-1]["path"].endswith("/converse-stream"))
        text, blocks = self.reasoning_streamed(chunks)
        self.assertEqual(text, "The user wants an echo.")
        self.assertEqual(blocks, [{"type": "thinking", "thinking": text,
                                   "signature": "EqQBbW9jay1iZWRyb2NrLXNpZ25hdHVyZQ=="}])
        r2 = self.chat({"model": "br-claude-reasoning",
                        "messages": [{"role": "user", "content": "hello brave new world"}]})
        self.assertEqual(r2.status, 200, r2)
        msg = r2.json()["choices"][0]["message"]
        self.assertEqual(msg["content"], "hello brave new world")
        self.assertEqual(msg["reasoning_content"], text)
        self.assertEqual(msg["thinking_blocks"], blocks)
        self.assertEqual(chunks[-1]["usage"], r2.json()["usage"])

    def test_streamed_reasoning_goes_back_as_reasoning_content(self):
        # a tool call with thinking on, streamed; the client sends the blocks back as they came
        tools = [{"type": "function", "function": {"name": "get_weather"}},
                 {"type": "function", "function": {"name": "get_time"}}]
        thinking = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
        r, chunks = self.stream_events("br-claude-reasoning-tools", text="weather?", tools=tools,
                                       reasoning_effort="low", temperature=0.2)
        sent = mock_requests(self.bedrock)[-1]
        self.assertTrue(sent["path"].endswith("/converse-stream"), sent["path"])
        # reasoning_effort as LiteLLM maps it for Claude; temperature goes, maxTokens rises
        self.assertEqual(sent["body"]["additionalModelRequestFields"], thinking)
        self.assertEqual(sent["body"]["inferenceConfig"], {"maxTokens": 4096})
        text, blocks = self.reasoning_streamed(chunks)
        self.assertEqual(blocks, [{"type": "thinking", "thinking": "The user wants an echo.",
                                   "signature": "EqQBbW9jay1iZWRyb2NrLXNpZ25hdHVyZQ=="}])
        calls = self.tool_calls_streamed(chunks)
        self.assertEqual(sorted(calls), [0, 1], calls)
        # as the stream gave them, "index" included: Bedrock must not get it
        echoed = [dict(b, index=i) for i, b in enumerate(blocks)]
        assistant = {"role": "assistant", "content": "Let me check.", "thinking_blocks": echoed,
                     "tool_calls": [{"id": c["id"], "type": "function",
                                     "function": {"name": c["name"], "arguments": c["args"]}}
                                    for _, c in sorted(calls.items())]}
        results = [{"role": "tool", "tool_call_id": c["id"], "content": "18C"}
                   for _, c in sorted(calls.items())]
        msgs = [{"role": "user", "content": "weather?"}, assistant] + results
        r2 = self.chat({"model": "br-claude-reasoning-tools", "tools": tools,
                        "reasoning_effort": "low", "messages": msgs})
        self.assertEqual(r2.status, 200, r2)
        sent = mock_requests(self.bedrock)[-1]["body"]
        # thinking stays on: the turn with toolUse starts with the block, signed, as it came
        self.assertEqual(sent["additionalModelRequestFields"], thinking)
        turn = sent["messages"][1]["content"]
        self.assertEqual(turn[0], {"reasoningContent": {"reasoningText": {
            "text": blocks[0]["thinking"], "signature": blocks[0]["signature"]}}})
        self.assertEqual([next(iter(b)) for b in turn],
                         ["reasoningContent", "text", "toolUse", "toolUse"])
        # without the blocks thinking stays off (Bedrock would refuse it), and the turn goes
        del assistant["thinking_blocks"]
        r3 = self.chat({"model": "br-claude-reasoning-tools", "tools": tools,
                        "reasoning_effort": "low", "messages": msgs})
        self.assertEqual(r3.status, 200, r3)
        sent = mock_requests(self.bedrock)[-1]["body"]
        self.assertNotIn("additionalModelRequestFields", sent)
        self.assertEqual([next(iter(b)) for b in sent["messages"][1]["content"]],
                         ["text", "toolUse", "toolUse"])

    def test_whitespace_converse_and_claude_refuse(self):
        # "\n\n" beside tool_calls is a blank text block to Converse, whatever the model
        tools = [{"type": "function", "function": {"name": "get_weather"}}]
        msgs = [{"role": "user", "content": "weather?"},
                {"role": "assistant", "content": "\n\n", "tool_calls": [
                    {"id": "t1", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "t1", "content": "18C"}]
        for model in ("nova", "br-claude"):
            r = self.chat({"model": model, "tools": tools, "messages": msgs})
            self.assertEqual(r.status, 200, r)
            sent = mock_requests(self.bedrock)[-1]["body"]
            self.assertEqual(sent["messages"][1]["content"][0]["toolUse"]["toolUseId"], "t1")
        # a prefill ending in whitespace: Claude refuses it, so it goes stripped
        prefill = [{"role": "user", "content": "hello brave new world"},
                   {"role": "assistant", "content": "```json\n"}]
        r = self.chat({"model": "br-claude", "messages": prefill})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(mock_requests(self.bedrock)[-1]["body"]["messages"][-1],
                         {"role": "assistant", "content": [{"text": "```json"}]})

    def test_empty_tool_result_is_not_blank_text(self):
        tools = [{"type": "function", "function": {"name": "get_weather"}}]
        msgs = [{"role": "user", "content": "weather?"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "t1", "type": "function",
                     "function": {"name": "get_weather", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "t1", "content": ""}]
        r = self.chat({"model": "br-claude", "tools": tools, "messages": msgs})
        self.assertEqual(r.status, 200, r)
        sent = mock_requests(self.bedrock)[-1]["body"]
        self.assertEqual(sent["messages"][2]["content"][0]["toolResult"]["content"],
                         [{"text": "(empty)"}])

    def test_cache_control_becomes_cache_points(self):
        # LiteLLM's breakpoints: on a string message, on a part, on a tool; each becomes a
        # cachePoint right after its block, and the cache buckets are priced apart
        cp = {"cachePoint": {"type": "default"}}
        doc = "Cache test %f: a long, stable document. " % time.time() * 30
        tools = [{"type": "function", "function": {"name": "get_weather"},
                  "cache_control": {"type": "ephemeral"}},
                 {"type": "function", "function": {"name": "get_time"}}]
        msgs = [{"role": "system", "content": doc, "cache_control": {"type": "ephemeral"}},
                {"role": "user", "content": [
                    {"type": "text", "text": "Part one.", "cache_control": {"type": "ephemeral"}},
                    {"type": "text", "text": "hello brave new world"}]}]
        req = {"model": "br-claude-priced", "tools": tools, "messages": msgs}
        r = self.chat(req)
        self.assertEqual(r.status, 200, r)
        sent = mock_requests(self.bedrock)[-1]["body"]
        self.assertEqual(sent["system"], [{"text": doc}, cp])
        self.assertEqual(sent["messages"], [{"role": "user", "content": [
            {"text": "Part one."}, cp, {"text": "hello brave new world"}]}])
        self.assertEqual([next(iter(t)) for t in sent["toolConfig"]["tools"]],
                         ["toolSpec", "cachePoint", "toolSpec"])
        self.assertEqual(sent["toolConfig"]["tools"][1], cp)
        # the mock writes the prefix the first time and reads it after, streamed or not
        first = r.json()["usage"]
        written = first["prompt_tokens_details"].get("cache_write_tokens")
        self.assertGreater(written, len(doc) // 4 - 1)
        self.assertEqual(first["prompt_tokens_details"]["cached_tokens"], 0)
        want = ((first["prompt_tokens"] - written) * 3 + written * 3.75 +
                first["completion_tokens"] * 15) / 1e6
        self.assertAlmostEqual(float(r.header("x-sllmp-cost-usd")), want, places=9)
        r2 = self.chat(req)
        again = r2.json()["usage"]
        self.assertEqual(again["prompt_tokens_details"]["cached_tokens"], written)
        self.assertFalse(again["prompt_tokens_details"].get("cache_write_tokens"))
        self.assertEqual(again["prompt_tokens"], first["prompt_tokens"])
        want = ((again["prompt_tokens"] - written) * 3 + written * 0.3 +
                again["completion_tokens"] * 15) / 1e6
        self.assertAlmostEqual(float(r2.header("x-sllmp-cost-usd")), want, places=9)
        _, chunks = self.stream_events("br-claude-priced", tools=tools, messages=msgs,
                                       stream_options={"include_usage": True})
        self.assertEqual(chunks[-1]["usage"]["prompt_tokens_details"]["cached_tokens"], written)
        # Nova: not after tool definitions (AWS lists no tools for it); a model that does not
        # cache gets none at all (the mock answers a cachePoint with Bedrock's 403)
        r = self.chat(dict(req, model="nova"))
        self.assertEqual(r.status, 200, r)
        sent = mock_requests(self.bedrock)[-1]["body"]
        self.assertEqual(sent["system"], [{"text": doc}, cp])
        self.assertNotIn(cp, sent["toolConfig"]["tools"])
        r = self.chat(dict(req, model="br-llama"))
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("cachePoint", json.dumps(mock_requests(self.bedrock)[-1]["body"]))
        # a marked prefill still loses its trailing whitespace, which Claude refuses
        r = self.chat({"model": "br-claude", "messages": [
            {"role": "user", "content": "hello brave new world"},
            {"role": "assistant", "content": "```json\n",
             "cache_control": {"type": "ephemeral"}}]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(mock_requests(self.bedrock)[-1]["body"]["messages"][-1],
                         {"role": "assistant", "content": [{"text": "```json"}, cp]})

    WEATHER = {"type": "json_schema", "json_schema": {
        "name": "weather", "description": "the weather asked for", "strict": True,
        "schema": {"type": "object", "properties": {"city": {"type": "string"},
                                                    "temp": {"type": "number"}},
                   "required": ["city", "temp"], "additionalProperties": False}}}

    def assert_json_tool_sent(self, schema, forced=True):
        sent = mock_requests(self.bedrock)[-1]["body"]["toolConfig"]
        spec = sent["tools"][-1]["toolSpec"]
        self.assertEqual(spec["name"], "json_tool_call")
        self.assertEqual(spec["inputSchema"]["json"], schema)
        if forced:
            self.assertEqual(sent["toolChoice"], {"tool": {"name": "json_tool_call"}})
        return sent

    def test_response_format_is_the_content(self):
        # LiteLLM's way: a forced json_tool_call whose input comes back as the content
        r, body = self.chat_text("br-claude", text="Paris", response_format=self.WEATHER)
        choice = body["choices"][0]
        self.assertEqual(json.loads(choice["message"]["content"]),
                         {"city": "Paris", "temp": 21.5})
        self.assertNotIn("tool_calls", choice["message"])
        self.assertEqual(choice["finish_reason"], "stop")
        self.assertEqual(self.assert_json_tool_sent(self.WEATHER["json_schema"]["schema"])
                         ["tools"][-1]["toolSpec"]["description"], "the weather asked for")
        # json_object: any object
        r, body = self.chat_text("nova", text="Paris", response_format={"type": "json_object"})
        self.assertEqual(json.loads(body["choices"][0]["message"]["content"]), {"echo": "Paris"})
        self.assertEqual(body["choices"][0]["finish_reason"], "stop")
        self.assert_json_tool_sent({"type": "object", "additionalProperties": True,
                                    "properties": {}})

    def test_response_format_streamed_as_content(self):
        r, chunks = self.stream_events("br-claude", text="Paris", response_format=self.WEATHER,
                                       stream_options={"include_usage": True})
        self.assertTrue(mock_requests(self.bedrock)[-1]["path"].endswith("/converse-stream"))
        self.assert_json_tool_sent(self.WEATHER["json_schema"]["schema"])
        deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
        self.assertFalse([d for d in deltas if "tool_calls" in d], deltas)
        pieces = [d["content"] for d in deltas if d.get("content")]
        self.assertGreater(len(pieces), 1, "the input streams as it comes")
        self.assertEqual(json.loads("".join(pieces)), {"city": "Paris", "temp": 21.5})
        self.assertEqual(self.assert_stream_shape(chunks, "".join(pieces), True), "stop")

    def test_response_format_beside_the_clients_tools(self):
        tools = [{"type": "function", "function": {"name": "get_weather"}}]
        # no tool_choice of its own: the JSON tool is forced, the client's tools go too
        r, body = self.chat_text("nova-tools", text="Paris", tools=tools,
                                 response_format={"type": "json_object"})
        self.assertEqual(json.loads(body["choices"][0]["message"]["content"]), {"echo": "Paris"})
        sent = self.assert_json_tool_sent({"type": "object", "additionalProperties": True,
                                           "properties": {}})
        self.assertEqual(sent["tools"][0]["toolSpec"]["name"], "get_weather")
        # its own tool_choice wins: its tools are called, as tool calls
        r, body = self.chat_text("nova-tools", text="Paris", tools=tools, tool_choice="auto",
                                 response_format={"type": "json_object"})
        msg = body["choices"][0]["message"]
        self.assertEqual([c["function"]["name"] for c in msg["tool_calls"]],
                         ["get_weather", "get_time"])
        self.assertEqual(body["choices"][0]["finish_reason"], "tool_calls")
        self.assertEqual(mock_requests(self.bedrock)[-1]["body"]["toolConfig"]["toolChoice"],
                         {"auto": {}})
        # a tool of its own by the JSON tool's name is refused
        r = self.chat({"model": "nova", "messages": [{"role": "user", "content": "x"}],
                       "tools": [{"type": "function", "function": {"name": "json_tool_call"}}],
                       "response_format": {"type": "json_object"}})
        self.assertOpenAIError(r, 400, param="tools[0].function.name")

    def test_response_format_schema_that_is_no_object_is_400(self):
        before = len(mock_requests(self.bedrock))
        r = self.chat({"model": "br-claude", "messages": [{"role": "user", "content": "x"}],
                       "response_format": {"type": "json_schema", "json_schema": {
                           "name": "s", "schema": '{"type": "object"}'}}})
        self.assertOpenAIError(r, 400, param="response_format.json_schema.schema")
        self.assertEqual(len(mock_requests(self.bedrock)), before)

    def test_stream_tools(self):
        r, chunks = self.stream_events("nova-tools", tools=[
            {"type": "function", "function": {"name": "get_weather"}}])
        calls = self.tool_calls_streamed(chunks)
        self.assertEqual(sorted(calls), [0, 1], calls)
        self.assertEqual(json.loads(calls[0]["args"]), {"city": "Paris"})
        self.assertEqual(json.loads(calls[1]["args"]), {})

    def test_exception_frame_after_200_becomes_sse_error(self):
        r, evs = self.sse("/v1/chat/completions", {"model": "nova-exc", "stream": True,
                                                   "messages": [{"role": "user", "content": "x"}]})
        data = [e["data"] for e in evs if "data" in e]
        self.assertEqual(data[-1], "[DONE]")
        self.assertIn("error", json.loads(data[-2]))

    def test_embeddings_titan_and_cohere(self):
        for model in ("titan", "cohere"):
            r = self.post("/v1/embeddings", {"model": model, "input": ["one", "two", "three"]})
            self.assertEqual(r.status, 200, r)
            b = r.json()
            self.assertEqual([d["index"] for d in b["data"]], [0, 1, 2], model)
            self.assertGreater(b["usage"]["prompt_tokens"], 0)
        paths = [q["path"] for q in mock_requests(self.bedrock)[-4:]]
        self.assertEqual(paths[-1], "/model/cohere.embed-english-v3/invoke")

    def test_messages_front_door_through_invoke(self):
        r = self.post("/v1/messages", {"model": "br-claude", "max_tokens": 100, "messages": [
            {"role": "user", "content": "hi there"}]}, headers={"anthropic-version": "2023-06-01"})
        self.assertEqual(r.status, 200, r)
        b = r.json()
        self.assertEqual(b["type"], "message")
        self.assertEqual(b["content"][0]["text"], "hi there")
        sent = mock_requests(self.bedrock)[-1]
        self.assertEqual(sent["path"], "/model/anthropic.claude-mock-v1%3A0/invoke")
        self.assertEqual(sent["body"]["anthropic_version"], "bedrock-2023-05-31")
        self.assertNotIn("model", sent["body"])

    def test_messages_beta_header_goes_in_the_body(self):
        # InvokeModel has no anthropic-beta header: Claude on Bedrock takes the flags in the
        # body, merged with the client's own; of Claude Code's first-party flags only those
        # Bedrock takes, under its names (else "invalid beta flag")
        r = self.post("/v1/messages", {
            "model": "br-claude", "max_tokens": 100,
            "anthropic_beta": ["computer-use-2025-01-24"],
            "messages": [{"role": "user", "content": "hi there"}]},
            headers={"anthropic-version": "2023-06-01",
                     "anthropic-beta": "context-1m-2025-08-07, claude-code-20250219,"
                                       "computer-use-2025-01-24,interleaved-thinking-2025-05-14,"
                                       "advanced-tool-use-2025-11-20"})
        self.assertEqual(r.status, 200, r)
        sent = mock_requests(self.bedrock)[-1]
        self.assertEqual(sent["body"]["anthropic_beta"], [
            "computer-use-2025-01-24", "context-1m-2025-08-07", "tool-search-tool-2025-10-19"])
        self.assertNotIn("anthropic-beta", {k.lower() for k in sent["headers"]})

    def test_model_id_names_the_profile_in_the_url(self):
        """LiteLLM's litellm_params.model_id: the URL names the ARN (one encoded segment, signed
        as such), while model says which model answers: a Claude, so /v1/messages goes through
        InvokeModel and Converse gets Claude's rules."""
        enc = "/model/" + PROFILE_ARN.replace(":", "%3A").replace("/", "%2F")
        r, body = self.chat_text("br-profile", max_tokens=64)
        self.assertEqual(body["choices"][0]["message"]["content"], "hello brave new world")
        sent = mock_requests(self.bedrock)[-1]
        self.assertEqual(sent["path"], enc + "/converse")
        self.assertEqual(sent["auth"], "sigv4")
        r = self.post("/v1/messages", {"model": "br-profile", "max_tokens": 100, "messages": [
            {"role": "user", "content": "hi there"}]}, headers={"anthropic-version": "2023-06-01"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["content"][0]["text"], "hi there")
        sent = mock_requests(self.bedrock)[-1]
        self.assertEqual(sent["path"], enc + "/invoke")
        self.assertEqual(sent["body"]["anthropic_version"], "bedrock-2023-05-31")

    def test_messages_front_door_stream_through_invoke(self):
        r, evs = self.sse("/v1/messages", {"model": "br-claude", "max_tokens": 100,
                                           "stream": True, "messages": [
                                               {"role": "user", "content": "hi there"}]})
        self.assertEqual(r.status, 200, r)
        names = [e.get("event") for e in evs if "data" in e]
        self.assertEqual(names[0], "message_start")
        self.assertEqual(names[-1], "message_stop")
        text = "".join(json.loads(e["data"])["delta"].get("text", "")
                       for e in evs if e.get("event") == "content_block_delta")
        self.assertEqual(text, "hi there")


class OpenAICompatibleTest(ProvidersCase):
    def test_names_reach_the_mock(self):
        for model in ("groq-echo", "ollama-echo", "vllm-echo"):
            r, body = self.chat_text(model)
            self.assertEqual(body["choices"][0]["message"]["content"], "hello brave new world")
        paths = [q["path"] for q in mock_requests(self.mock)[-3:]]
        self.assertTrue(all(p.startswith("/v1/chat/completions") for p in paths), paths)
        # ollama's LiteLLM-style api_base without /v1 got one; no key was invented for it
        last = mock_requests(self.mock)[-2]
        self.assertNotIn("authorization", {k.lower() for k in last["headers"]})

    def test_ollama_chat_prefix(self):
        # LiteLLM's recommended prefix for Ollama's chat models: Ollama's OpenAI API too
        r, body = self.chat_text("ollama-chat-echo")
        self.assertEqual(body["choices"][0]["message"]["content"], "hello brave new world")
        sent = mock_requests(self.mock)[-1]
        self.assertEqual(sent["path"], "/v1/chat/completions")
        self.assertEqual(sent["body"]["model"], "echo")

    def test_custom_llm_provider(self):
        # model: mock-org/echo with custom_llm_provider: openai is LiteLLM's openai/mock-org/echo
        r, body = self.chat_text("custom-provider")
        self.assertEqual(r.status, 200, body)
        self.assertEqual(body["choices"][0]["message"]["content"], "hello brave new world")
        sent = mock_requests(self.mock)[-1]
        self.assertEqual(sent["path"], "/v1/chat/completions")
        self.assertEqual(sent["body"]["model"], "mock-org/echo")

    def test_mistral_streams_without_stream_options(self):
        # Mistral's API refuses any field it does not know (422 extra_forbidden), the
        # stream_options the gateway asks every upstream for included; it reports a stream's
        # usage on its finish chunk unasked
        text = "hello brave new world"
        for asked in (False, True):
            extra = {"stream_options": {"include_usage": True}} if asked else {}
            r, chunks = self.stream_events("mistral-echo", text, **extra)
            sent = mock_requests(self.mock)[-1]
            self.assertNotIn("stream_options", sent["body"])
            content = "".join(c["choices"][0]["delta"].get("content") or ""
                              for c in chunks if c["choices"])
            self.assertEqual(content, text)
            usages = [c["usage"] for c in chunks if c.get("usage")]
            if asked:
                self.assertEqual([(u["prompt_tokens"], u["completion_tokens"])
                                  for u in usages], [(5, 4)], chunks)
            rec = self.record_of(r.header("x-request-id"))
            self.assertFalse(rec["usage"]["estimated"], rec["usage"])
        r, body = self.chat_text("mistral-echo", text)
        self.assertEqual(body["choices"][0]["message"]["content"], text)

    def test_reasoning_models_get_max_completion_tokens(self):
        # OpenAI's o-series and gpt-5 answer a max_tokens with 400 unsupported_parameter;
        # LiteLLM sends it as max_completion_tokens, and so does the gateway
        for model in ("o3", "gpt5", "az-o3", "az-o-series", "az-base-model"):
            r, body = self.chat_text(model, max_tokens=50)
            self.assertEqual(body["choices"][0]["message"]["content"], "hello brave new world")
            sent = mock_requests(self.mock)[-1]
            self.assertNotIn("max_tokens", sent["body"], model)
            self.assertEqual(sent["body"]["max_completion_tokens"], 50, model)
            if model == "az-o-series":
                # the route is LiteLLM's, not the deployment's name
                self.assertTrue(sent["path"].startswith(
                    "/openai/deployments/echo%2Breasoning/chat/completions?"), sent["path"])
        r, chunks = self.stream_events("o3", max_tokens=50)
        self.assert_stream_shape(chunks, "hello brave new world")
        self.assertEqual(mock_requests(self.mock)[-1]["body"]["max_completion_tokens"], 50)
        # both given: max_completion_tokens, the one the limits reserved for
        r, body = self.chat_text("o3", max_tokens=50, max_completion_tokens=70)
        sent = mock_requests(self.mock)[-1]["body"]
        self.assertNotIn("max_tokens", sent)
        self.assertEqual(sent["max_completion_tokens"], 70)
        # the trace keeps what the client sent
        rec = self.record_of(r.header("x-request-id"))
        self.assertEqual((rec["params"]["max_tokens"], rec["params"]["max_completion_tokens"]),
                         (50, 70), rec["params"])
        # gpt-5-chat is a chat model: its max_tokens goes as it is
        self.chat_text("gpt5-chat", max_tokens=50)
        self.assertEqual(mock_requests(self.mock)[-1]["body"]["max_tokens"], 50)

    def test_azure_routes_through_a_wildcard(self):
        # azure/* serves azure/o_series/<deployment> as a fixed entry does: the URL names the
        # deployment alone, and its max_tokens goes as max_completion_tokens
        for route in ("o_series", "gpt5_series"):
            r, body = self.chat_text("az-any/%s/echo+reasoning" % route, max_tokens=50)
            self.assertEqual(body["choices"][0]["message"]["content"], "hello brave new world")
            sent = mock_requests(self.mock)[-1]
            self.assertTrue(sent["path"].startswith(
                "/openai/deployments/echo%2Breasoning/chat/completions?"), sent["path"])
            self.assertNotIn("max_tokens", sent["body"])
            self.assertEqual(sent["body"]["max_completion_tokens"], 50)
        # a deployment of another name keeps its max_tokens
        self.chat_text("az-any/echo", max_tokens=50)
        sent = mock_requests(self.mock)[-1]
        self.assertTrue(sent["path"].startswith("/openai/deployments/echo/"), sent["path"])
        self.assertEqual(sent["body"]["max_tokens"], 50)

    def test_mistral_parameter_names(self):
        # Mistral's API refuses fields it does not define (422 extra_forbidden): LiteLLM's
        # clients' max_completion_tokens and seed go as Mistral's max_tokens and random_seed,
        # user is left out; tool_choice "required" is Mistral's own too
        for stream in (False, True):
            extra = dict(max_completion_tokens=40, seed=7, user="alice",
                         tool_choice="required", tools=[{"type": "function", "function": {
                             "name": "f", "parameters": {"type": "object"}}}],
                         store=False, service_tier="auto", safety_identifier="u-1",
                         prompt_cache_key="k")
            if stream:
                self.stream_events("mistral-echo", **extra)
            else:
                self.chat_text("mistral-echo", **extra)
            sent = mock_requests(self.mock)[-1]["body"]
            self.assertEqual(sent["max_tokens"], 40)
            self.assertEqual(sent["random_seed"], 7)
            self.assertEqual(sent["tool_choice"], "required")
            for name in ("max_completion_tokens", "seed", "user", "store", "service_tier",
                         "safety_identifier", "prompt_cache_key"):
                self.assertNotIn(name, sent)

    def test_mistral_messages_without_names(self):
        # Mistral's user, system and assistant messages have no name (422 extra_forbidden, at
        # body.messages.N.user.name); LiteLLM leaves it out, a tool message's it keeps
        msgs = [{"role": "system", "content": "be brief", "name": "rules"},
                {"role": "user", "content": "hello brave new world", "name": "alice"},
                {"role": "assistant", "content": None, "name": "bot", "tool_calls": [
                    {"id": "c1", "type": "function",
                     "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "name": "f", "content": "ok"},
                {"role": "user", "content": "hello brave new world"}]
        for stream in (False, True):
            r = self.chat({"model": "mistral-echo", "messages": msgs, "stream": stream})
            self.assertEqual(r.status, 200, r)
            sent = mock_requests(self.mock)[-1]["body"]["messages"]
            self.assertEqual([m.get("name") for m in sent], [None, None, None, "f", None])
            self.assertEqual([m["content"] for m in sent], [m["content"] for m in msgs])
        # the trace keeps what the client sent
        rec = self.record_of(r.header("x-request-id"))
        self.assertEqual(rec["input"][1].get("name"), "alice", rec["input"])
        # other deployments get the names as they came
        self.chat_text("groq-echo", messages=msgs[:2])
        self.assertEqual(mock_requests(self.mock)[-1]["body"]["messages"][1]["name"], "alice")

    def test_xai_messages_without_names_but_the_users(self):
        # xAI answers a name on any but a user message with 400 "Only messages of role 'user'
        # can have a name"; LiteLLM leaves those out
        msgs = [{"role": "system", "content": "be brief", "name": "rules"},
                {"role": "user", "content": "hello brave new world", "name": "alice"},
                {"role": "assistant", "content": "hi", "name": "bot"},
                {"role": "user", "content": "hello brave new world"}]
        for stream in (False, True):
            r = self.chat({"model": "xai-echo", "messages": msgs, "stream": stream})
            self.assertEqual(r.status, 200, r)
            sent = mock_requests(self.mock)[-1]["body"]
            self.assertEqual([m.get("name") for m in sent["messages"]],
                             [None, "alice", None, None])
            self.assertEqual(sent["model"], "echo")

    def test_fireworks_short_model_names(self):
        # LiteLLM sends fireworks_ai/<name> as Fireworks' own accounts/fireworks/models/<name>
        r, body = self.chat_text("fw-echo")
        self.assertEqual(body["choices"][0]["message"]["content"], "hello brave new world")
        sent = mock_requests(self.mock)[-1]
        self.assertEqual(sent["path"], "/v1/chat/completions")
        self.assertEqual(sent["body"]["model"], "accounts/fireworks/models/echo")

    def test_validation_error_details_reach_the_client(self):
        # a field neither sllmp nor Mistral maps: Mistral's 422 names it in FastAPI's shape
        # ({"message": {"detail": [{"loc": ["body", F], "msg": ...}]}}), which the client gets
        # as the message and param of the 422 it passes on, not a bare "The provider rejected
        # the request."
        r = self.chat({"model": "mistral-echo", "messages": [{"role": "user", "content": "x"}],
                       "logprobs": True, "logit_bias": {"1": 2}})
        err = self.assertOpenAIError(r, 422, etype="invalid_request_error")
        self.assertEqual(err["message"], "logprobs: Extra inputs are not permitted; "
                         "logit_bias: Extra inputs are not permitted")
        self.assertEqual(err["param"], "logprobs")

    def test_validation_error_details_redacted_before_the_cut(self):
        # a detail's msg is cut at 200 bytes; the key it quotes, placed across that cut, is
        # redacted before it: no start of it in the client's error or the trace record
        pre = 'Extra inputs are not permitted (input "'
        mid = '", request sent with Bearer '
        pad = "a" * (190 - len(pre) - len(mid))  # the key's first 10 bytes before the cut
        r = self.chat({"model": "mistral-quote", "messages": [{"role": "user", "content": "x"}],
                       "x_pad": pad})
        err = self.assertOpenAIError(r, 422, etype="invalid_request_error")
        self.assertTrue(err["message"].startswith("x_pad: " + pre + pad + mid), err)
        self.assertEqual(err["param"], "x_pad")
        rec = json.dumps(self.record_of(r.header("x-request-id")))
        for text in (rec, r.body.decode()):
            self.assertNotIn(UPSTREAM_KEY[:6], text)

    def test_error_in_a_200_is_an_error(self):
        # OpenRouter answers a failure after the model began with a 200 whose body is
        # {"error": {"code": 502, ...}}: an OpenAI-shaped error with that status, not a 200
        # without choices
        r = self.chat({"model": "or-error200", "messages": [{"role": "user", "content": "x"}]})
        err = self.assertOpenAIError(r, 502)
        self.assertIn("502", err["message"])
        r = self.chat({"model": "or-error200-429",
                       "messages": [{"role": "user", "content": "x"}]})
        self.assertOpenAIError(r, 429)
        self.assertEqual(r.header("x-should-retry"), "true")

    def test_azure_chat_path_key_and_filter_chunk(self):
        r, body = self.chat_text("az")
        self.assertEqual(body["choices"][0]["message"]["content"], "hello brave new world")
        sent = mock_requests(self.mock)[-1]
        self.assertEqual(sent["path"].split("?")[0], "/openai/deployments/echo/chat/completions")
        self.assertTrue(sent["path"].endswith("?api-version=2024-10-21"), sent["path"])
        self.assertEqual(sent["headers"].get("api-key"), AZURE_KEY)
        self.assertNotIn("authorization", {k.lower() for k in sent["headers"]})
        # Azure's stream opens with a choices-less content-filter chunk: never passed on
        r, chunks = self.stream_events("az")
        self.assert_stream_shape(chunks, "hello brave new world")

    def test_litellm_extra_headers_and_organization(self):
        # litellm_params.organization, headers and extra_headers reach the upstream on every
        # call, one of a name sllmp sends replacing it; values from the environment never leave
        # in logs
        for stream in (False, True):
            if stream:
                r, chunks = self.stream_events("oa-headers")
                self.assert_stream_shape(chunks, "hello brave new world")
            else:
                r, body = self.chat_text("oa-headers")
                self.assertEqual(body["choices"][0]["message"]["content"], "hello brave new world")
            sent = mock_requests(self.mock)[-1]
            h = sent["headers"]
            self.assertEqual(h.get("openai-organization"), "org-mock-7")
            self.assertEqual(h.get("x-title"), "sllmp tests")
            self.assertEqual(h.get("http-referer"), "https://app.example")
            self.assertEqual(h.get("x-secret-header"), HEADER_SECRET)
            self.assertEqual(h.get("authorization"), "Bearer " + UPSTREAM_KEY)
            accepts = [v for k, v in sent["header_list"] if k.lower() == "accept"]
            self.assertEqual(accepts, ["application/json; q=0.9"])
            # an empty value is sent empty, as LiteLLM sends it, not left out
            for name in ("x-empty", "x-empty-too"):
                self.assertEqual([v for k, v in sent["header_list"] if k.lower() == name],
                                 [""], sent["header_list"])
        self.assertNotIn(HEADER_SECRET, self.stack.diagnostics())

    def test_azure_entra_id_token(self):
        # litellm_params.azure_ad_token: Authorization: Bearer instead of api-key
        r, body = self.chat_text("az-entra")
        self.assertEqual(body["choices"][0]["message"]["content"], "hello brave new world")
        sent = mock_requests(self.mock)[-1]
        self.assertEqual(sent["headers"].get("authorization"), "Bearer " + AZURE_AD_TOKEN)
        self.assertNotIn("api-key", sent["headers"])
        r, chunks = self.stream_events("az-entra")
        self.assert_stream_shape(chunks, "hello brave new world")

    def test_azure_preview_and_latest_are_the_v1_api(self):
        # api_version preview / latest (LiteLLM's names of the v1 API) go to /openai/v1 with
        # the deployment as the model, not to the classic paths, which know dated versions only
        for model, version in (("az-preview", "preview"), ("az-latest", "latest")):
            r, body = self.chat_text(model)
            sent = mock_requests(self.mock)[-1]
            self.assertEqual(sent["path"], "/openai/v1/chat/completions?api-version=" + version)
            self.assertEqual(sent["body"]["model"], "echo")
            self.assertEqual(sent["headers"].get("api-key"), AZURE_KEY)
            r, chunks = self.stream_events(model)
            self.assert_stream_shape(chunks, "hello brave new world")
            self.assertTrue(mock_requests(self.mock)[-1]["path"].startswith("/openai/v1/"))

    def test_azure_stream_options_by_api_version(self):
        # Azure api-versions before 2024-09-01-preview refuse a body with stream_options (400
        # "Unrecognized request argument supplied"): none goes upstream, not even the
        # client's, and a client that asked for include_usage gets the estimate (4 characters
        # a token: 6 and 6 here) where newer versions give the upstream's figures (5 and 4)
        text = "hello brave new world"
        for model, takes in (("az-2024-06", False), ("az-2024-08p", False),
                             ("az-2024-09p", True), ("az", True)):
            for asked in (False, True):
                extra = {"stream_options": {"include_usage": True}} if asked else {}
                r, chunks = self.stream_events(model, text, **extra)
                what = "%s, include_usage asked: %s" % (model, asked)
                self.assert_stream_shape(chunks, text, usage_asked=asked)
                sent = mock_requests(self.mock)[-1]
                self.assertTrue(sent["path"].startswith("/openai/deployments/echo/"), sent)
                if takes:
                    self.assertEqual(sent["body"].get("stream_options"),
                                     {"include_usage": True}, what)
                else:
                    self.assertNotIn("stream_options", sent["body"], what)
                if asked:
                    u = chunks[-1]["usage"]
                    self.assertEqual((u["prompt_tokens"], u["completion_tokens"]),
                                     (5, 4) if takes else (6, 6), what)
                    self.assertEqual(chunks[-1]["id"], chunks[0]["id"], what)
                    rec = self.record_of(r.header("x-request-id"))
                    self.assertEqual(rec["usage"]["estimated"], not takes, (what, rec["usage"]))

    def test_embeddings_openai_and_azure(self):
        for model in ("oa-embed", "az-embed"):
            r = self.post("/v1/embeddings", {"model": model, "input": "hello",
                                             "encoding_format": "base64"})
            self.assertEqual(r.status, 200, r)
            b = r.json()
            self.assertIsInstance(b["data"][0]["embedding"], str)
            self.assertGreater(b["usage"]["prompt_tokens"], 0)
        self.assertEqual(mock_requests(self.mock)[-1]["path"].split("?")[0],
                         "/openai/deployments/embed/embeddings")

    def test_legacy_completions(self):
        r = self.post("/v1/completions", {"model": "instruct", "prompt": "say this",
                                          "max_tokens": 5})
        self.assertEqual(r.status, 200, r)
        b = r.json()
        self.assertEqual(b["object"], "text_completion")
        self.assertIn("say this", b["choices"][0]["text"])
        r, evs = self.sse("/v1/completions", {"model": "instruct", "prompt": "say this",
                                              "stream": True})
        data = [e["data"] for e in evs if "data" in e]
        self.assertEqual(data[-1], "[DONE]")
        chunks = [json.loads(d) for d in data[:-1]]
        self.assertEqual([c for c in chunks if c["choices"] == []], [])
        self.assertIn("say this", "".join(c["choices"][0]["text"] for c in chunks))

    def test_legacy_completions_choices_in_the_record(self):
        # one choice per prompt: the first is the output, the others the metadata's choices,
        # as for chat's n > 1 (their texts, not nothing)
        r = self.post("/v1/completions", {"model": "instruct", "prompt": ["a b", "c d", "e"],
                                          "max_tokens": 5})
        self.assertEqual(r.status, 200, r)
        self.assertEqual([c["text"] for c in r.json()["choices"]], ["a b", "c d", "e"])
        rec = self.record_of(r.header("x-request-id"))
        self.assertEqual(rec["output"], "a b", rec)
        self.assertEqual(rec["metadata"].get("choices"), ["c d", "e"], rec)

    def test_endpoint_the_provider_does_not_serve(self):
        r = self.post("/v1/completions", {"model": "claude", "prompt": "x"})
        self.assertOpenAIError(r, 400)
        r = self.post("/v1/embeddings", {"model": "claude", "input": "x"})
        self.assertOpenAIError(r, 400)

    def test_token_arrays_are_one_input(self):
        r = self.post("/v1/embeddings", {"model": "oa-embed", "input": list(range(3000))})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(r.json()["data"]), 1)
        r = self.post("/v1/embeddings", {"model": "oa-embed", "input": ["a"] * 2049})
        self.assertOpenAIError(r, 400)

    def test_embeddings_validation(self):
        for bad in ({"model": "oa-embed"}, {"model": "oa-embed", "input": ""},
                    {"model": "oa-embed", "input": []}, {"model": "oa-embed", "input": [1, "a"]},
                    {"model": "oa-embed", "input": "x", "encoding_format": "int8"}):
            r = self.post("/v1/embeddings", bad)
            self.assertOpenAIError(r, 400)


class MessagesFrontDoorTest(ProvidersCase):
    def post_messages(self, payload, key=None, headers=None):
        h = {"Content-Type": "application/json", "x-api-key": key or self.master_key,
             "anthropic-version": "2023-06-01"}
        h.update(headers or {})
        return http_request(self.stack.port, "POST", "/v1/messages",
                            json.dumps(payload).encode(), h)

    def test_passthrough_unstreamed(self):
        r = self.post_messages({"model": "claude", "max_tokens": 50, "system": "short",
                                "messages": [{"role": "user", "content": "hi there"}]})
        self.assertEqual(r.status, 200, r)
        b = r.json()
        self.assertEqual(b["type"], "message")
        self.assertEqual(b["content"][0]["text"], "hi there")
        self.assertIsNotNone(r.header("x-sllmp-cost-usd"))
        sent = mock_requests(self.anthropic)[-1]
        self.assertEqual(sent["body"]["model"], "claude-mock")
        self.assertEqual(sent["body"]["system"], "short")
        self.assertEqual(sent["headers"].get("x-api-key"), ANTHROPIC_KEY)

    def test_passthrough_stream(self):
        r = self.post_messages({"model": "claude-tools", "max_tokens": 50, "stream": True,
                                "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(r.status, 200, r)
        evs = [e for e in parse_sse(r.body.decode()) if "data" in e]
        names = [e.get("event") for e in evs]
        self.assertEqual(names[0], "message_start")
        self.assertEqual(names[-1], "message_stop")
        self.assertNotIn("[DONE]", [e["data"] for e in evs])
        for e in evs:
            self.assertEqual(json.loads(e["data"])["type"], e["event"])

    def test_errors_take_anthropic_shape(self):
        r = self.post_messages({"model": "claude", "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(r.status, 400, r)
        b = r.json()
        self.assertEqual(b["type"], "error")
        self.assertEqual(b["error"]["type"], "invalid_request_error")
        self.assertIn("max_tokens", b["error"]["message"])
        r = self.post_messages({"model": "claude", "max_tokens": 5,
                                "messages": [{"role": "user", "content": "x"}]}, key="sk-nope")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json()["error"]["type"], "authentication_error")
        # (a model without Anthropic's API is served through chat: test_messages.py)
        r = self.post_messages({"model": "claude-529", "max_tokens": 5,
                                "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(r.status, 503)
        self.assertEqual(r.json()["error"]["type"], "overloaded_error")

    def test_gateway_metadata_stays_at_the_gateway(self):
        # LiteLLM's metadata (tags, trace names) is the gateway's, read into the trace record;
        # Anthropic's schema (Bedrock's too) allows metadata.user_id alone and answers any
        # other member with 400 "metadata.tags: Extra inputs are not permitted"
        md = {"user_id": "u-77", "tags": ["team-a"], "trace_name": "claude-code"}
        for model, mock in (("claude", self.anthropic), ("br-claude", self.bedrock)):
            r = self.post_messages({"model": model, "max_tokens": 20, "metadata": md,
                                    "messages": [{"role": "user", "content": "hi"}]})
            self.assertEqual(r.status, 200, (model, r))
            self.assertEqual(mock_requests(mock)[-1]["body"].get("metadata"),
                             {"user_id": "u-77"}, model)
            rec = self.record_of(r.header("x-request-id"))
            self.assertEqual(rec["tags"], ["team-a"], rec)
            self.assertEqual(rec["trace_name"], "claude-code", rec)
            self.assertEqual(rec["user"], "u-77", rec)
        # only gateway members: no metadata at all goes upstream
        r = self.post_messages({"model": "claude", "max_tokens": 20,
                                "metadata": {"tags": ["team-a"]},
                                "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("metadata", mock_requests(self.anthropic)[-1]["body"])

    def test_streamed_record_has_the_content_blocks(self):
        # a streamed answer's record holds the content blocks an unstreamed one's does: the
        # thinking, the text and each tool_use with its input (Claude Code's answers are
        # mostly tool calls), not the text alone
        def strip(blocks):
            return [{k: v for k, v in b.items() if k != "id"} for b in blocks]
        body = {"model": "claude-thinking-tools", "max_tokens": 2000,
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "tools": [{"name": "get_weather", "input_schema": {"type": "object"}},
                          {"name": "get_time", "input_schema": {"type": "object"}}],
                "messages": [{"role": "user", "content": "weather?"}]}
        r = self.post_messages(body)
        self.assertEqual(r.status, 200, r)
        want = self.record_of(r.header("x-request-id"))["output"]
        self.assertEqual(strip(want["content"]), strip(r.json()["content"]))
        types = [b["type"] for b in want["content"]]
        self.assertIn("tool_use", types)
        self.assertIn("thinking", types)
        r = self.post_messages(dict(body, stream=True))
        self.assertEqual(r.status, 200, r)
        got = self.record_of(r.header("x-request-id"))["output"]
        self.assertEqual(got["role"], "assistant", got)
        self.assertEqual(strip(got["content"]), strip(want["content"]), got)

    def test_cut_stream_is_an_error_not_a_success(self):
        r = self.post_messages({"model": "claude-cut", "max_tokens": 50, "stream": True,
                                "messages": [{"role": "user", "content": "x"}]})
        evs = [e for e in parse_sse(r.body.decode()) if "data" in e]
        self.assertNotIn("message_stop", [e.get("event") for e in evs])
        self.assertEqual(evs[-1].get("event"), "error", evs)
        self.assertEqual(json.loads(evs[-1]["data"])["error"]["type"], "api_error")

    def test_cut_stream_counts_what_was_streamed(self):
        # message_start's output_tokens (1) is a placeholder: a stream cut before message_delta
        # (or left by its client) is settled and traced with the output estimated from what
        # went out, as on the OpenAI side, not with that 1
        r = self.post_messages({"model": "claude-long-cut", "max_tokens": 500, "stream": True,
                                "messages": [{"role": "user", "content": "x"}]})
        evs = [e for e in parse_sse(r.body.decode()) if "data" in e]
        text = "".join(json.loads(e["data"])["delta"].get("text", "") for e in evs
                       if e.get("event") == "content_block_delta")
        self.assertGreater(len(text), 500, evs)
        self.assertEqual(evs[-1].get("event"), "error", evs)
        rec = self.record_of(r.header("x-request-id"))
        self.assertGreaterEqual(rec["usage"]["output"], len(text) // 4, rec["usage"])
        self.assertTrue(rec["usage"]["estimated"], rec["usage"])
        self.assertGreater(rec["usage"]["input"], 0, rec["usage"])  # message_start's, kept
        # a whole stream keeps the provider's own figures
        r = self.post_messages({"model": "claude", "max_tokens": 50, "stream": True,
                                "messages": [{"role": "user", "content": "one two three"}]})
        rec = self.record_of(r.header("x-request-id"))
        self.assertEqual(rec["usage"]["output"], 3, rec["usage"])
        self.assertFalse(rec["usage"]["estimated"], rec["usage"])

    def test_events_that_are_no_object_skipped(self):
        # data: null (or an object with bytes after it) would crash an SDK reading event.type
        r = self.post_messages({"model": "claude-nonobject", "max_tokens": 50, "stream": True,
                                "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(r.status, 200, r)
        evs = [e for e in parse_sse(r.body.decode()) if "data" in e]
        for e in evs:
            self.assertIsInstance(json.loads(e["data"]), dict, e)
        self.assertNotIn("JUNK", r.body.decode())
        self.assertEqual(evs[-1].get("event"), "message_stop", evs)
        text = "".join(json.loads(e["data"])["delta"].get("text", "") for e in evs
                       if e.get("event") == "content_block_delta")
        self.assertEqual(text, "w1 w2 w3 w4")
        # the translated path too
        r, chunks = self.sse("/v1/chat/completions", {"model": "claude-nonobject",
                                                      "stream": True, "messages": [
                                                          {"role": "user", "content": "x"}]})
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("JUNK", r.body.decode())

    def test_error_event_mid_stream(self):
        r = self.post_messages({"model": "claude-err", "max_tokens": 50, "stream": True,
                                "messages": [{"role": "user", "content": "x"}]})
        evs = [e for e in parse_sse(r.body.decode()) if "data" in e]
        self.assertEqual(evs[-1].get("event"), "error")
        self.assertEqual(json.loads(evs[-1]["data"])["type"], "error")


class MessagesTraceAndLimitsTest(ProvidersCase):
    """The front door shares keys, limits, cost and traces with the OpenAI one."""

    master_key = None

    @classmethod
    def make_config(cls):
        import hashlib
        cfg = super().make_config()
        cfg["keys"] = [{"name": "claude-user", "models": ["claude"], "rpm": 2,
                        "key_sha256": hashlib.sha256(b"sk-claude-user-1").hexdigest()}]
        cfg["general_settings"] = {"master_key": MASTER_KEY}
        return cfg

    def post_messages(self, payload, key):
        return http_request(self.stack.port, "POST", "/v1/messages", json.dumps(payload).encode(),
                            {"Content-Type": "application/json", "x-api-key": key,
                             "anthropic-version": "2023-06-01"})

    def test_rpm_applies_and_trace_records_usage(self):
        body = {"model": "claude", "max_tokens": 20, "messages": [
            {"role": "user", "content": "count me"}]}
        for _ in range(2):
            r = self.post_messages(body, "sk-claude-user-1")
            self.assertEqual(r.status, 200, r)
        r = self.post_messages(body, "sk-claude-user-1")
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.json()["error"]["type"], "rate_limit_error")
        r = self.post_messages(dict(body, model="gem"), "sk-claude-user-1")
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.json()["error"]["type"], "permission_error")
        recs = []
        for _ in range(50):
            recs = [json.load(open(p)) for p in glob.glob(os.path.join(self.stack.spool, "new", "*"))]
            recs = [x for x in recs if x["metadata"].get("key_name") == "claude-user"]
            if len(recs) >= 4:
                break
            time.sleep(0.1)
        ok = [x for x in recs if x.get("status") == 200]
        self.assertEqual(len(ok), 2, recs)
        for x in ok:
            self.assertEqual(x["provider"], "anthropic")
            self.assertGreater(x["usage"]["input"], 0, x)
            self.assertGreater(x["usage"]["output"], 0, x)
            self.assertIn("count me", json.dumps(x.get("input")))
            self.no_secrets(json.dumps(x))

    def test_embeddings_completions_and_messages_records(self):
        cases = [("/v1/embeddings", {"model": "oa-embed", "input": ["secret-ish text"]},
                  "embeddings", "input"),
                 ("/v1/completions", {"model": "instruct", "prompt": "say this"},
                  "completions", "prompt"),
                 ("/v1/messages", {"model": "claude", "max_tokens": 9, "system": "sys words",
                                   "messages": [{"role": "user", "content": "hi"}]},
                  "messages", None)]
        for path, body, name, field in cases:
            r = http_request(self.stack.port, "POST", path, json.dumps(body).encode(),
                             {"Content-Type": "application/json",
                              "Authorization": "Bearer " + MASTER_KEY})
            self.assertEqual(r.status, 200, r)
            rec = self.record_of(r.header("x-request-id"))
            self.assertEqual(rec["name"], name, rec)
            self.assertGreater(rec["usage"]["input"], 0, rec)
            # the input is the capture policy's: never among the parameters
            self.assertNotIn("input", rec.get("params", {}))
            self.assertNotIn("prompt", rec.get("params", {}))
            self.assertNotIn("system", rec.get("params", {}))
            if field:
                self.assertEqual(rec["input"], body[field], rec)
            else:
                self.assertEqual(rec["input"][0], {"role": "system", "content": "sys words"})
                self.assertEqual(rec["output"]["content"][0]["text"], "hi", rec)



class CountTokensTest(ProvidersCase):
    """POST /v1/messages/count_tokens (Claude Code's LLM-gateway requirements): Anthropic's count
    forwarded, Bedrock's CountTokens for its Claude, the gateway's estimate for the rest; keys,
    models and routing as /v1/messages, errors in Anthropic's shape; no limit, spend or trace
    record, as nothing is generated."""

    master_key = None

    @classmethod
    def make_config(cls):
        import hashlib
        import tempfile
        cfg = super().make_config()
        cfg["keys"] = [{"name": "counter", "models": ["claude", "br-claude", "gem"], "rpm": 1,
                        "budget_usd": 0.000001, "budget_period": "1d",
                        "key_sha256": hashlib.sha256(b"sk-counter-1").hexdigest()}]
        cfg["general_settings"] = {"master_key": MASTER_KEY}
        cls.log_dir = tempfile.mkdtemp(prefix="sllmp-count-")
        cls.log_path = os.path.join(cls.log_dir, "access.log")
        cfg["sllmp"]["access_log"] = cls.log_path
        return cfg

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        import shutil
        shutil.rmtree(cls.log_dir, ignore_errors=True)

    def count(self, payload, key=MASTER_KEY, headers=None, query=""):
        h = {"Content-Type": "application/json", "x-api-key": key,
             "anthropic-version": "2023-06-01"}
        h.update(headers or {})
        return http_request(self.stack.port, "POST", "/v1/messages/count_tokens" + query,
                            json.dumps(payload).encode(), h)

    def assert_anthropic_error(self, r, status, etype, words=None):
        self.assertEqual(r.status, status, r)
        b = r.json()
        self.assertEqual(b["type"], "error", b)
        self.assertEqual(b["error"]["type"], etype, b)
        self.assertEqual(b["request_id"], r.header("x-request-id"), b)
        if words is not None:
            self.assertIn(words, b["error"]["message"], b)
        self.no_secrets(r.body.decode())

    def test_anthropic_forwarded(self):
        tools = [{"name": "get_weather", "description": "weather",
                  "input_schema": {"type": "object"}}]
        body = {"model": "claude", "system": "be brief", "tools": tools,
                "tool_choice": {"type": "auto"}, "thinking": {"type": "disabled"},
                "messages": [{"role": "user", "content": "count these words please"}]}
        r = self.count(body, query="?beta=true",
                       headers={"anthropic-beta": "token-counting-2024-11-01,extra-flag"})
        self.assertEqual(r.status, 200, r)
        # the mock's count: (8 + 24) // 4, and 10 a tool
        self.assertEqual(r.json(), {"input_tokens": 18})
        self.assertEqual(r.header("x-sllmp-cost-usd"), "0")
        self.assertIsNone(r.header("x-sllmp-tokens-estimated"))
        sent = mock_requests(self.anthropic)[-1]
        self.assertEqual(sent["path"], "/v1/messages/count_tokens?beta=true")
        self.assertEqual(sent["headers"].get("x-api-key"), ANTHROPIC_KEY)
        self.assertEqual(sent["headers"].get("anthropic-version"), "2023-06-01")
        self.assertEqual(sent["headers"].get("anthropic-beta"),
                         "token-counting-2024-11-01,extra-flag")
        self.assertEqual(sent["body"], dict(body, model="claude-mock"))
        # without ?beta=true none goes up; Bearer works as for /v1/messages
        r = http_request(self.stack.port, "POST", "/v1/messages/count_tokens",
                         json.dumps(body).encode(), {"Content-Type": "application/json",
                                                     "Authorization": "Bearer " + MASTER_KEY})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(mock_requests(self.anthropic)[-1]["path"], "/v1/messages/count_tokens")
        self.assertNotIn("anthropic-beta", mock_requests(self.anthropic)[-1]["headers"])

    def test_anthropic_refusals_pass_in_its_shape(self):
        msgs = [{"role": "user", "content": "x"}]
        # count_tokens takes no max_tokens (Anthropic: "Extra inputs are not permitted")
        r = self.count({"model": "claude", "max_tokens": 10, "messages": msgs})
        self.assert_anthropic_error(r, 400, "invalid_request_error", "max_tokens")
        r = self.count({"model": "claude-529", "messages": msgs})
        self.assert_anthropic_error(r, 503, "overloaded_error")
        # the deployment's key refused: the gateway's fault, never the client's 401
        r = self.count({"model": "claude-badkey", "messages": msgs})
        self.assert_anthropic_error(r, 502, "api_error")

    def test_bedrock_count_tokens(self):
        body = {"model": "br-claude", "system": "sys",
                "thinking": {"type": "enabled", "budget_tokens": 2048},
                "messages": [{"role": "user", "content": "how many tokens is this"}]}
        for model in ("br-claude", "br-profile"):
            r = self.count(dict(body, model=model),
                           headers={"anthropic-beta": "effort-2025-11-24,oauth-2025-04-20"})
            self.assertEqual(r.status, 200, (model, r))
            sent = mock_requests(self.bedrock)[-1]
            # a foundation model: never the application profile's ARN, which CountTokens refuses
            self.assertEqual(sent["path"], "/model/anthropic.claude-mock-v1%3A0/count-tokens")
            self.assertEqual(sent["auth"], "sigv4")
            self.assertEqual(list(sent["body"]), ["input"])
            invoke = json.loads(base64.b64decode(sent["body"]["input"]["invokeModel"]["body"]))
            self.assertEqual(invoke["anthropic_version"], "bedrock-2023-05-31")
            self.assertEqual(invoke["anthropic_beta"], ["effort-2025-11-24"])
            self.assertEqual(invoke["max_tokens"], 2049)  # above the budget, as Claude wants
            self.assertNotIn("model", invoke)
            self.assertEqual(invoke["messages"], body["messages"])
            want = (len(json.dumps(invoke["messages"])) + len("sys")) // 4
            self.assertEqual(r.json(), {"input_tokens": want})
            self.assertIsNone(r.header("x-sllmp-tokens-estimated"))

    def test_bedrock_refusal_falls_back_to_the_estimate(self):
        # CountTokens refusing the count (400: a model it does not count; 403: an IAM policy
        # without bedrock:CountTokens) is answered with the gateway's estimate, as LiteLLM falls
        # back to its local count; a failure worth a retry (503) is still passed on
        body = {"system": "sys", "messages": [{"role": "user", "content": "how many tokens"}]}
        want = self.count(dict(body, model="gem"))
        self.assertEqual(want.status, 200, want)
        for model, op in (("br-claude-nocount", "nocount"), ("br-claude-403", "status-403")):
            r = self.count(dict(body, model=model))
            self.assertEqual(r.status, 200, (model, r))
            self.assertEqual(r.json(), want.json())
            self.assertEqual(r.header("x-sllmp-tokens-estimated"), "true")
            sent = mock_requests(self.bedrock)[-1]
            self.assertTrue(sent["path"].endswith(op + "/count-tokens"), sent["path"])
        r = self.count(dict(body, model="br-claude-503"))
        self.assert_anthropic_error(r, 502, "api_error", "HTTP 503")
        self.assertIsNone(r.header("x-sllmp-tokens-estimated"))

    def test_estimate_where_the_provider_counts_none(self):
        png = base64.b64encode(b"\x89PNG" + b"\0" * 3000).decode()
        body = {"model": "gem",
                "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
                "messages": [{"role": "user", "content": [
                    {"type": "text", "text": "abcdefgh"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                 "data": png}}]}]}
        before = len(mock_requests(self.gemini))
        r = self.count(body)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("x-sllmp-tokens-estimated"), "true")
        # 4 characters a token over the texts (user, text, abcdefgh, image: 21) and the tool
        # with its schema's names (37), the image a flat 1600
        self.assertEqual(r.json(), {"input_tokens": (21 + 37 + 3) // 4 + 1600})
        self.assertEqual(len(mock_requests(self.gemini)), before)

    def test_refusals_in_anthropic_shape(self):
        msgs = [{"role": "user", "content": "x"}]
        self.assert_anthropic_error(self.count({"model": "nope", "messages": msgs}), 404,
                                    "not_found_error", "nope")
        self.assert_anthropic_error(self.count({"model": "claude", "messages": msgs},
                                               key="sk-wrong"), 401, "authentication_error")
        self.assert_anthropic_error(self.count({"model": "claude", "messages": msgs}, key=""),
                                    401, "authentication_error")
        self.assert_anthropic_error(self.count({"model": "claude-tools", "messages": msgs},
                                               key="sk-counter-1"), 403, "permission_error")
        self.assert_anthropic_error(self.count({"model": "claude"}), 400,
                                    "invalid_request_error", "messages")
        self.assert_anthropic_error(self.count({"model": "claude", "messages": []}), 400,
                                    "invalid_request_error", "messages")
        self.assert_anthropic_error(self.count({"messages": msgs}), 400,
                                    "invalid_request_error", "model")
        r = http_request(self.stack.port, "GET", "/v1/messages/count_tokens", None,
                         {"x-api-key": MASTER_KEY})
        self.assert_anthropic_error(r, 405, "invalid_request_error")

    def test_no_limit_spend_or_trace_record(self):
        msgs = [{"role": "user", "content": "count me in"}]
        rids = []
        for model in ("claude", "br-claude", "gem", "claude"):
            r = self.count({"model": model, "messages": msgs}, key="sk-counter-1")
            self.assertEqual(r.status, 200, (model, r))  # rpm 1 and a tiny budget: untouched
            rids.append(r.header("x-request-id"))
        # the key's one request a minute is still there for a generation, then used
        gen = {"model": "claude", "max_tokens": 5, "messages": msgs}
        r = http_request(self.stack.port, "POST", "/v1/messages", json.dumps(gen).encode(),
                         {"Content-Type": "application/json", "x-api-key": "sk-counter-1",
                          "anthropic-version": "2023-06-01"})
        self.assertEqual(r.status, 200, r)
        self.record_of(r.header("x-request-id"))  # the generation's record is there
        r = self.count({"model": "claude", "messages": msgs}, key="sk-counter-1")
        self.assertEqual(r.status, 200, r)
        rids.append(r.header("x-request-id"))
        recs = [json.load(open(p)) for p in glob.glob(os.path.join(self.stack.spool, "new", "*"))]
        self.assertFalse([x for x in recs if x.get("request_id") in rids], recs)
        # the access log has a line for each, with no tokens and no cost
        lines = []
        for _ in range(50):
            with open(self.log_path) as f:
                lines = [json.loads(x) for x in f.read().splitlines()]
            lines = [x for x in lines if x.get("request_id") in rids]
            if len(lines) == len(rids):
                break
            time.sleep(0.1)
        self.assertEqual(len(lines), len(rids), lines)
        for x in lines:
            self.assertEqual(x["path"], "/v1/messages/count_tokens", x)
            self.assertEqual(x["status"], 200, x)
            self.assertEqual(x["key"], "counter", x)
            self.assertEqual(x["cost_usd"], 0, x)
            self.assertEqual(x["tokens"]["input"], 0, x)


if __name__ == "__main__":
    unittest.main()
