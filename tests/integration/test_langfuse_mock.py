"""Self-test of tests/mock/langfuse_mock.py (needs no gateway): the uploader's tests are only
as good as this mock's strictness."""

import copy
import gzip
import http.client
import json
import unittest

from langfuse import LEGACY_PATH, OTEL_PATH, Langfuse
from stack import http_request

TRACE = "5b8efff798038103d269b633813fc60c"
SPAN = "eee19b7ec3c1b174"


def attr(key, **value):
    return {"key": key, "value": value}


def export(**span_overrides):
    """A valid one-span OTLP/JSON export (docs/protocols.md 4.10)."""
    span = {"traceId": TRACE, "spanId": SPAN, "name": "chat.completions", "kind": 3,
            "startTimeUnixNano": "1755000000000000000",
            "endTimeUnixNano": "1755000001500000000",
            "attributes": [
                attr("langfuse.observation.type", stringValue="generation"),
                attr("langfuse.observation.model.name", stringValue="gpt-4o"),
                attr("langfuse.observation.model.parameters",
                     stringValue='{"temperature":0.2,"max_tokens":256}'),
                attr("langfuse.observation.usage_details", stringValue='{"input":12,"output":3}'),
                attr("langfuse.observation.cost_details", stringValue='{"total":0.0001}'),
                attr("langfuse.observation.completion_start_time",
                     stringValue="2025-08-12T12:00:00.350Z"),
                attr("langfuse.trace.tags", arrayValue={"values": [{"stringValue": "proxy"}]}),
                attr("gen_ai.usage.input_tokens", intValue="12"),
                attr("langfuse.environment", stringValue="production")],
            "status": {"code": 1}}
    span.update(span_overrides)
    return {"resourceSpans": [{
        "resource": {"attributes": [attr("service.name", stringValue="llm-proxy")]},
        "scopeSpans": [{"scope": {"name": "llm-proxy", "version": "0.1.0"},
                        "spans": [span]}]}]}


def set_attr(doc, key, value):
    doc = copy.deepcopy(doc)
    for a in doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"]:
        if a["key"] == key:
            a["value"] = value
    return doc


def event(eid, etype, body, ts="2025-08-12T12:00:01.500Z"):
    return {"id": eid, "type": etype, "timestamp": ts, "body": body}


GEN_BODY = {"id": SPAN, "traceId": TRACE, "name": "chat.completions",
            "startTime": "2025-08-12T12:00:00.000Z", "endTime": "2025-08-12T12:00:01.500Z",
            "model": "gpt-4o", "modelParameters": {"temperature": 0.2, "stream": True},
            "usageDetails": {"input": 12, "output": 3}, "level": "DEFAULT"}


class LangfuseMockSelfTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.lf = Langfuse().start()
        cls.addClassCleanup(cls.lf.stop)

    def setUp(self):
        self.lf.reset()

    def post(self, path, body, auth=None, headers=None):
        h = {"Content-Type": "application/json",
             "Authorization": auth or self.lf.auth_header()}
        h.update(headers or {})
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return http_request(self.lf.port, "POST", path, data, h, timeout=10)

    # ---- OTLP -----------------------------------------------------------------------

    def test_valid_export_stored_and_duplicates_counted(self):
        r = self.post(OTEL_PATH, export(), headers={"x-langfuse-ingestion-version": "4"})
        self.assertEqual((r.status, r.json()), (200, {}))
        spans = self.lf.spans()
        self.assertEqual(len(spans), 1)
        s = spans[0]
        self.assertEqual((s["traceId"], s["spanId"], s["received"]), (TRACE, SPAN, 1))
        self.assertEqual(s["attributes"]["langfuse.observation.model.name"], "gpt-4o")
        self.assertEqual(s["attributes"]["gen_ai.usage.input_tokens"], 12)
        self.assertEqual(s["attributes"]["langfuse.trace.tags"], ["proxy"])
        self.assertEqual(s["resource"], {"service.name": "llm-proxy"})
        # the same span again, gzipped: a duplicate
        r = self.post(OTEL_PATH, gzip.compress(json.dumps(export()).encode()),
                      headers={"Content-Encoding": "gzip"})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(self.lf.spans()[0]["received"], 2)
        reqs = self.lf.requests()
        self.assertEqual([q["status"] for q in reqs], [200, 200])
        self.assertEqual(reqs[0]["spans"], 1)
        self.assertEqual(reqs[0]["headers"]["authorization"], "<redacted>")

    def test_object_map_attributes_rejected(self):
        doc = export(attributes={"langfuse.observation.type": "generation"})
        r = self.post(OTEL_PATH, doc)
        self.assertEqual(r.status, 400)
        self.assertIn("attributes must be a list", r.json()["message"])
        self.assertEqual(self.lf.spans(), [])

    def test_base64_span_id_rejected(self):
        r = self.post(OTEL_PATH, export(spanId="7uGbfsPBsXQ="))
        self.assertEqual(r.status, 400)
        self.assertIn("spanId", r.json()["message"])

    def test_usage_details_must_be_json_string(self):
        for value in ({"stringValue": {"input": 12, "output": 3}},
                      {"kvlistValue": {"values": [attr("input", intValue="12")]}},
                      {"stringValue": '{"input":-1}'}):
            r = self.post(OTEL_PATH, set_attr(export(), "langfuse.observation.usage_details",
                                              value))
            self.assertEqual(r.status, 400, value)
        self.assertEqual(self.lf.spans(), [])

    def test_other_otlp_violations(self):
        cases = [export(traceId="0" * 32), export(kind=7), export(endTimeUnixNano="1"),
                 export(startTimeUnixNano=1755000000000000000),
                 set_attr(export(), "langfuse.observation.model.parameters",
                          {"stringValue": '{"response_format":{"type":{"x":1}}}'}),
                 set_attr(export(), "langfuse.observation.completion_start_time",
                          {"stringValue": "2025-08-12T12:00:00.350"}),
                 set_attr(export(), "langfuse.trace.tags", {"stringValue": "proxy"})]
        for doc in cases:
            self.assertEqual(self.post(OTEL_PATH, doc).status, 400, doc)
        r = self.post(OTEL_PATH, export(), headers={"x-langfuse-ingestion-version": "5"})
        self.assertEqual(r.status, 400)
        r = self.post(OTEL_PATH, export(), headers={"Content-Type": "application/x-protobuf"})
        self.assertEqual(r.status, 415)

    def test_bad_auth_401_on_both_endpoints(self):
        bad = self.lf.auth_header(secret_key="sk-lf-wrong")
        for path, body in ((OTEL_PATH, export()), (LEGACY_PATH, {"batch": []})):
            r = self.post(path, body, auth=bad)
            self.assertEqual(r.status, 401)
            self.assertEqual(r.json()["error"], "UnauthorizedError")
            r = http_request(self.lf.port, "POST", path, json.dumps(body),
                             {"Content-Type": "application/json"})
            self.assertEqual(r.status, 401)

    # ---- legacy ---------------------------------------------------------------------

    def test_legacy_207_with_per_event_error(self):
        batch = [event("ev-1", "trace-create", {"id": TRACE, "name": "chat", "tags": ["a"]}),
                 event("ev-2", "generation-create", GEN_BODY),
                 event("ev-3", "generation-create", GEN_BODY, ts="2025-08-12T12:00:01")]
        r = self.post(LEGACY_PATH, {"batch": batch})
        self.assertEqual(r.status, 207)
        b = r.json()
        self.assertEqual(b["successes"], [{"id": "ev-1", "status": 201},
                                          {"id": "ev-2", "status": 201}])
        self.assertEqual(len(b["errors"]), 1)
        self.assertEqual(b["errors"][0]["id"], "ev-3")
        self.assertEqual(b["errors"][0]["status"], 400)
        self.assertEqual(b["errors"][0]["message"], "Invalid request data")
        self.assertIn("timestamp", b["errors"][0]["error"])
        # resend ev-1: a duplicate; entity tags union-merged
        batch = [event("ev-1", "trace-create", {"id": TRACE, "tags": ["b"]})]
        self.assertEqual(self.post(LEGACY_PATH, {"batch": batch}).status, 207)
        counts = {e["id"]: e["received"] for e in self.lf.events()}
        self.assertEqual(counts, {"ev-1": 2, "ev-2": 1})
        trace = [e for e in self.lf.entities() if e["kind"] == "trace"][0]
        self.assertEqual(trace["body"]["tags"], ["a", "b"])
        self.assertEqual(trace["body"]["name"], "chat")
        # a batch that is not an array
        r = self.post(LEGACY_PATH, {"batch": {}})
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["message"], "Invalid request data")

    def test_legacy_body_rules(self):
        bad = [dict(GEN_BODY, modelParameters={"tools": [{"type": "function"}]}),
               dict(GEN_BODY, usageDetails={"prompt_tokens": 1, "extra": {"x": 1}}),
               dict(GEN_BODY, level="INFO"), dict(GEN_BODY, promptName="p"),
               {k: v for k, v in GEN_BODY.items() if k != "id"}]
        batch = [event("b%d" % i, "generation-create", b) for i, b in enumerate(bad)]
        batch.append(event("ok", "generation-create", dict(GEN_BODY, usageDetails={
            "prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 2}})))
        b = self.post(LEGACY_PATH, {"batch": batch}).json()
        self.assertEqual([e["id"] for e in b["errors"]], ["b%d" % i for i in range(len(bad))])
        self.assertEqual(b["successes"], [{"id": "ok", "status": 201}])

    def test_v4_rejects_generation_create(self):
        self.lf.set_mode(v4=True)
        try:
            batch = [event("g", "generation-create", GEN_BODY),
                     event("s", "score-create", {"id": "sc", "traceId": TRACE,
                                                 "name": "q", "value": 1})]
            b = self.post(LEGACY_PATH, {"batch": batch}).json()
            self.assertEqual(b["successes"], [{"id": "s", "status": 201}])
            self.assertEqual(b["errors"][0]["id"], "g")
            self.assertEqual(b["errors"][0]["status"], 400)
            self.assertEqual(b["errors"][0]["message"], "Event type not accepted")
            self.assertEqual(self.post(OTEL_PATH, export()).status, 200)
        finally:
            self.lf.set_mode(v4=False)

    # ---- fault modes ------------------------------------------------------------------

    def test_429_count_1_then_ok(self):
        self.lf.set_mode(mode="429", retry_after="1", count=1)
        r = self.post(OTEL_PATH, export())
        self.assertEqual(r.status, 429)
        self.assertEqual(r.header("Retry-After"), "1")
        self.assertEqual(r.header("X-RateLimit-Remaining"), "0")
        self.assertIsNotNone(r.header("X-RateLimit-Reset"))
        self.assertEqual(self.lf.spans(), [])       # control calls are not faulted
        self.assertEqual(self.post(OTEL_PATH, export()).status, 200)
        self.assertEqual(self.lf.mode()["mode"], "ok")
        self.assertEqual([q["status"] for q in self.lf.requests()], [429, 200])

    def test_partial_legacy(self):
        self.lf.set_mode(mode="partial", every=2, status=500, count=1)
        batch = [event("e%d" % i, "span-create", {"id": "s%d" % i, "traceId": TRACE})
                 for i in range(4)]
        b = self.post(LEGACY_PATH, {"batch": batch}).json()
        self.assertEqual([e["id"] for e in b["successes"]], ["e0", "e2"])
        self.assertEqual([(e["id"], e["status"]) for e in b["errors"]],
                         [("e1", 500), ("e3", 500)])

    def test_down_gives_connection_error(self):
        self.lf.set_mode(mode="down")
        try:
            with self.assertRaises((ConnectionError, http.client.HTTPException)):
                self.post(OTEL_PATH, export())
        finally:
            self.lf.set_mode(mode="ok")
        self.assertEqual(self.post(OTEL_PATH, export()).status, 200)
        self.assertEqual([q["status"] for q in self.lf.requests()], [None, 200])


if __name__ == "__main__":
    unittest.main()
