"""Cost on every answer: x-sllmp-cost-usd as a header (unstreamed) or as an SSE comment before
[DONE] (streamed), computed from normalised usage and the price of the deployment, the same for
a streamed call as for the same call unstreamed; estimated when the upstream gives no usage."""

import re
import unittest

from stack import StackCase, mock_model, upstream_model, user_msg

# USD per token, as LiteLLM spells the overrides: $2.50, $1.25 cached, $10, $40 reasoning per 1M
PRICES = {"input_cost_per_token": 0.0000025, "cache_read_input_token_cost": 0.00000125,
          "output_cost_per_token": 0.00001, "output_cost_per_reasoning_token": 0.00004}


def priced(model):
    model["model_info"] = dict(PRICES)
    return model


def cost_comment(client):
    for kind, text in client.events():
        m = re.fullmatch(r"x-sllmp-cost-usd ([0-9.]+)", text) if kind == "comment" else None
        if m:
            return m.group(1)
    return None


class CostTest(StackCase):
    @classmethod
    def models(cls, mock):
        # 2000 prompt tokens of which 1500 cached, 300 completion of which 100 reasoning
        return [priced(upstream_model("up-usage", mock, "usage-2000-300-1500-100+words-5-1")),
                priced(upstream_model("up-nousage", mock, "nousage+words-5-1")),
                upstream_model("up-unpriced", mock, "echo"),
                mock_model("mock-echo", "echo", 0)]

    # 500 x 2.50 + 1500 x 1.25 + 200 x 10 + 100 x 40, per 1M
    EXPECTED = (500 * 2.50 + 1500 * 1.25 + 200 * 10 + 100 * 40) / 1e6

    def test_unstreamed_header(self):
        r = self.chat({"model": "up-usage", "messages": user_msg("hello")})
        self.assertEqual(r.status, 200, r)
        self.assertAlmostEqual(float(r.header("x-sllmp-cost-usd")), self.EXPECTED, places=12)

    def test_streamed_costs_what_unstreamed_costs(self):
        r = self.chat({"model": "up-usage", "messages": user_msg("hello")})
        c = self.stream({"model": "up-usage", "stream": True, "messages": user_msg("hello")})
        c.read_all()
        self.assertEqual(c.status, 200)
        streamed = cost_comment(c)
        self.assertIsNotNone(streamed, c.text())
        self.assertEqual(streamed, r.header("x-sllmp-cost-usd"))
        # the comment comes after the content and before [DONE]
        text = c.text()
        self.assertLess(text.index(": x-sllmp-cost-usd"), text.index("data: [DONE]"))
        # the usage chunk was used for the cost but not passed on: the client did not ask
        self.assertFalse([e for e in c.json_events() if e.get("choices") == []], text)

    def test_streamed_with_usage_asked(self):
        c = self.stream({"model": "up-usage", "stream": True,
                         "stream_options": {"include_usage": True}, "messages": user_msg("x")})
        c.read_all()
        self.assertEqual(float(cost_comment(c)), self.EXPECTED)

    def test_no_usage_is_estimated(self):
        r = self.chat({"model": "up-nousage", "messages": user_msg("x" * 400)})
        self.assertEqual(r.status, 200, r)
        # about 100 prompt tokens and a few completion tokens, priced: not zero
        cost = float(r.header("x-sllmp-cost-usd"))
        self.assertGreater(cost, 100 * 2.50 / 1e6 * 0.9)
        self.assertLess(cost, 0.01)
        c = self.stream({"model": "up-nousage", "stream": True, "messages": user_msg("x" * 400)})
        c.read_all()
        self.assertGreater(float(cost_comment(c)), 0)

    def test_unpriced_and_mock_cost_zero(self):
        for model in ("up-unpriced", "mock-echo"):
            r = self.chat({"model": model, "messages": user_msg("hi")})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.header("x-sllmp-cost-usd"), "0", model)


if __name__ == "__main__":
    unittest.main()
