"""POST /v1/images/generations and /v1/moderations through lighttpd, against the mock upstream:
the body goes up with the deployment's model and the gateway's key (Azure: its deployment path
and api-key), the answer comes back as it came, priced (gpt-image's tokens, else a per-image
price, a moderation nothing); bad input, other providers and keys not allowed the model are
refused in OpenAI's shape; the trace record keeps the prompt but no picture's base64."""

import json
import os
import unittest
import uuid

from stack import UPSTREAM_KEY, StackCase, upstream_model, wait_for
from test_keys import new_key
from test_trace import records

MASTER = "sk-images-master-key-4242"
KEY, DIGEST = new_key("painter")
AZURE_KEY = "azure-mock-KEY"  # the mock's default --azure-key
IMAGES = "/v1/images/generations"
MODERATIONS = "/v1/moderations"

# gpt-image-1 as LiteLLM prices it: $5 per 1M input tokens, $40 per 1M image output tokens
GPT_IMAGE_PRICES = {"input_cost_per_token": 0.000005, "output_cost_per_token": 0.00004}


def priced(entry, **model_info):
    entry["model_info"] = model_info
    return entry


def elsewhere(name, model):
    """A deployment of another provider; it is never called (the gateway refuses first)."""
    return {"model_name": name, "litellm_params": {"model": model, "api_key": "sk-unused",
                                                   "api_base": "http://127.0.0.1:9"}}


class ImagesCase(StackCase):
    master_key = MASTER
    server_env = {"MOCK_AZURE_KEY": AZURE_KEY}

    @classmethod
    def models(cls, mock):
        az = "http://127.0.0.1:%d" % mock.port
        return [priced(upstream_model("img", mock, "gpt-image-1"), **GPT_IMAGE_PRICES),
                upstream_model("img-free", mock, "gpt-image-1"),
                priced(upstream_model("dalle", mock, "dall-e-3"), output_cost_per_image=0.04),
                upstream_model("dalle-free", mock, "dall-e-3"),
                upstream_model("img-500", mock, "gpt-image-1+status-500"),
                # priced by its tokens, which a moderation is not
                priced(upstream_model("omni-moderation-latest", mock, "omni-moderation-latest"),
                       input_cost_per_token=0.001),
                {"model_name": "az-img",
                 "litellm_params": {"model": "azure/gpt-image-1", "api_base": az,
                                    "api_key": "os.environ/MOCK_AZURE_KEY",
                                    "api_version": "2025-04-01-preview"}},
                {"model_name": "az-chat",
                 "litellm_params": {"model": "azure/echo", "api_base": az,
                                    "api_key": "os.environ/MOCK_AZURE_KEY",
                                    "api_version": "2024-10-21"}},
                elsewhere("claude", "anthropic/claude-sonnet-4-5"),
                elsewhere("gem", "gemini/gemini-2.5-flash")]

    @classmethod
    def make_config(cls):
        cfg = super().make_config()
        cfg["keys"] = [{"name": "painter", "key_sha256": DIGEST, "models": ["img"]}]
        return cfg

    def post(self, path, payload, key=MASTER, rid=None):
        headers = {"X-Request-ID": rid} if rid else None
        return self.stack.chat(payload, key=key, headers=headers, path=path)

    def posts(self):
        """The POST requests the mock had (its own /_mock paths left out)."""
        return [r for r in self.mock.requests()
                if r["method"] == "POST" and not r["path"].startswith("/_mock")]

    def upstream(self, suffix):
        """The last request the mock had on a path ending with suffix (query left out)."""
        reqs = [r for r in self.posts() if r["path"].split("?")[0].endswith(suffix)]
        self.assertTrue(reqs, "no upstream request to %s" % suffix)
        return reqs[-1]

    def record(self, rid):
        found = {}

        def one():
            found.update(records(self.stack.spool))
            return rid in found
        self.assertTrue(wait_for(one, 5), "no record for request %s" % rid)
        self.assertEqual(len(found[rid]), 1, found[rid])
        return found[rid][0]


class ImagesTest(ImagesCase):
    def test_gpt_image_usage_is_priced(self):
        r = self.post(IMAGES, {"model": "img", "prompt": "a red fox", "n": 2, "size": "1024x1024"})
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual(len(body["data"]), 2, body)
        self.assertTrue(all(len(d["b64_json"]) > 1000 for d in body["data"]), body)
        self.assertEqual(body["usage"]["output_tokens"], 544, body)
        # 3 prompt tokens (9 characters) at $5, 2 x 272 image tokens at $40, per 1M
        self.assertAlmostEqual(float(r.header("x-sllmp-cost-usd")),
                               (3 * 5 + 544 * 40) / 1e6, places=12)
        up = self.upstream("/v1/images/generations")
        self.assertEqual(up["body"]["model"], "gpt-image-1")
        self.assertEqual((up["body"]["prompt"], up["body"]["n"], up["body"]["size"]),
                         ("a red fox", 2, "1024x1024"))
        # the gateway's key upstream, never the client's
        self.assertEqual(up["headers"].get("authorization"), "Bearer " + UPSTREAM_KEY)
        self.assertNotIn(MASTER, json.dumps(up))

    def test_per_image_price_without_usage(self):
        r = self.post("/images/generations", {"model": "dalle", "prompt": "a fox", "n": 2})
        self.assertEqual(r.status, 200, r)
        data = r.json()["data"]
        self.assertEqual([d["revised_prompt"] for d in data], ["a fox", "a fox"])
        self.assertTrue(all(d["url"].startswith("https://") for d in data), data)
        self.assertAlmostEqual(float(r.header("x-sllmp-cost-usd")), 0.08, places=12)
        for model in ("dalle-free", "img-free"):
            r = self.post(IMAGES, {"model": model, "prompt": "a fox"})
            self.assertEqual((r.status, r.header("x-sllmp-cost-usd")), (200, "0"), model)

    def test_upstream_error_is_openai_shaped(self):
        r = self.post(IMAGES, {"model": "img-500", "prompt": "a fox"})
        self.assertOpenAIError(r, 502, "provider_error")

    def test_moderations(self):
        r = self.post(MODERATIONS, {"model": "omni-moderation-latest",
                                    "input": ["hello there", "I will kill the process"]})
        self.assertEqual(r.status, 200, r)
        results = r.json()["results"]
        self.assertEqual([x["flagged"] for x in results], [False, True], results)
        self.assertEqual(r.header("x-sllmp-cost-usd"), "0")
        up = self.upstream("/v1/moderations")
        self.assertEqual(up["body"]["model"], "omni-moderation-latest")
        self.assertEqual(up["headers"].get("authorization"), "Bearer " + UPSTREAM_KEY)

    def test_moderations_without_a_model_use_the_default_one(self):
        # OpenAI's default, when the gateway has a model of that name
        r = self.post("/moderations", {"input": "hello"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["model"], "omni-moderation-latest")
        self.assertEqual(self.upstream("/v1/moderations")["body"]["model"],
                         "omni-moderation-latest")

    def test_bad_input(self):
        cases = [(IMAGES, {"model": "img"}, 400, "missing_required_parameter", "prompt"),
                 (IMAGES, {"model": "img", "prompt": 5}, 400, "invalid_value", "prompt"),
                 (IMAGES, {"model": "img", "prompt": ""}, 400, "invalid_value", "prompt"),
                 (IMAGES, {"model": "img", "prompt": "x", "n": 11}, 400, "invalid_value", "n"),
                 (IMAGES, {"model": "img", "prompt": "x", "stream": True}, 400, "invalid_value",
                  "stream"),
                 (IMAGES, {"prompt": "x"}, 400, "missing_required_parameter", "model"),
                 (IMAGES, {"model": "nope", "prompt": "x"}, 404, "model_not_found", "model"),
                 (MODERATIONS, {"model": "omni-moderation-latest"}, 400,
                  "missing_required_parameter", "input"),
                 (MODERATIONS, {"model": "omni-moderation-latest", "input": {"a": 1}}, 400,
                  "invalid_value", "input"),
                 (MODERATIONS, {"model": "omni-moderation-latest", "input": []}, 400,
                  "invalid_value", "input"),
                 (MODERATIONS, {"model": "omni-moderation-latest", "input": ["a", 1]}, 400,
                  "invalid_value", "input"),
                 (MODERATIONS, {"model": "nope", "input": "x"}, 404, "model_not_found", "model")]
        before = len(self.posts())
        for path, payload, status, code, param in cases:
            with self.subTest(path=path, payload=payload):
                self.assertOpenAIError(self.post(path, payload), status, code, param)
        self.assertEqual(len(self.posts()), before, "a refused request went upstream")

    def test_other_providers_are_a_400(self):
        for path, model, words in ((IMAGES, "claude", "served by OpenAI-compatible and Azure"),
                                   (IMAGES, "gem", "served by OpenAI-compatible and Azure"),
                                   (MODERATIONS, "claude", "OpenAI-compatible"),
                                   (MODERATIONS, "gem", "OpenAI-compatible"),
                                   (MODERATIONS, "az-chat", "Azure OpenAI has no moderations")):
            with self.subTest(path=path, model=model):
                payload = {"model": model, "prompt": "x", "input": "x"}
                err = self.assertOpenAIError(self.post(path, payload), 400, "invalid_value",
                                             "model", "invalid_request_error")
                self.assertIn(path, err["message"])
                self.assertIn(words, err["message"])

    def test_key_allowed_other_models(self):
        r = self.post(IMAGES, {"model": "img", "prompt": "a fox"}, key=KEY)
        self.assertEqual(r.status, 200, r)
        self.assertNotIn(KEY, json.dumps(self.upstream("/v1/images/generations")))
        self.assertOpenAIError(self.post(IMAGES, {"model": "dalle", "prompt": "a fox"}, key=KEY),
                               403, "permission_denied", "model")
        self.assertOpenAIError(self.post(MODERATIONS, {"input": "x"}, key=KEY),
                               403, "permission_denied", "model")
        self.assertOpenAIError(self.post(IMAGES, {"model": "img", "prompt": "a fox"},
                                         key=KEY[:-1] + ("0" if KEY[-1] != "0" else "1")),
                               401, "invalid_api_key")

    def test_azure_deployment_path(self):
        r = self.post(IMAGES, {"model": "az-img", "prompt": "a fox"})
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json()["data"][0]["b64_json"], r)
        up = self.upstream("/images/generations")
        self.assertEqual(up["path"], "/openai/deployments/gpt-image-1/images/generations"
                                     "?api-version=2025-04-01-preview")
        self.assertEqual(up["headers"].get("api-key"), AZURE_KEY)
        self.assertNotIn("authorization", up["headers"])

    def test_trace_record_has_no_base64(self):
        rid = uuid.uuid4().hex
        r = self.post(IMAGES, {"model": "img", "prompt": "a red fox", "n": 2}, rid=rid)
        self.assertEqual(r.status, 200, r)
        pictures = [d["b64_json"] for d in r.json()["data"]]
        rec = self.record(rid)
        self.assertEqual((rec["name"], rec["endpoint"]), ("images.generations", IMAGES))
        self.assertEqual(rec["input"], "a red fox")
        self.assertEqual(rec["output"], [{"b64_json": "[b64_json: %d characters]" % len(p)}
                                         for p in pictures])
        text = json.dumps(rec)
        self.assertFalse(any(p[:64] in text for p in pictures), "base64 in the record")
        self.assertAlmostEqual(rec["cost"]["total"], float(r.header("x-sllmp-cost-usd")),
                               places=12)
        # a moderation's: its input and its results
        rid = uuid.uuid4().hex
        r = self.post(MODERATIONS, {"input": ["a kill switch"]}, rid=rid)
        self.assertEqual(r.status, 200, r)
        rec = self.record(rid)
        self.assertEqual((rec["name"], rec["input"]), ("moderations", ["a kill switch"]))
        self.assertEqual(rec["output"], r.json()["results"])


class ModerationWithoutDefaultTest(ImagesCase):
    """No omni-moderation-latest nor text-moderation-latest: a request must name its model."""

    @classmethod
    def models(cls, mock):
        return [upstream_model("mod", mock, "omni-moderation-2024-09-26")]

    @classmethod
    def make_config(cls):
        return super(ImagesCase, cls).make_config()

    def test_model_is_required(self):
        err = self.assertOpenAIError(self.post(MODERATIONS, {"input": "x"}), 400,
                                     "missing_required_parameter", "model")
        self.assertIn("omni-moderation-latest", err["message"])
        r = self.post(MODERATIONS, {"model": "mod", "input": "x"})
        self.assertEqual(r.status, 200, r)


if __name__ == "__main__":
    unittest.main()
