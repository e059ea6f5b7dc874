"""The Langfuse ingestion mock (tests/mock/langfuse_mock.py) as a subprocess, for tests.

    lf = Langfuse().start()        # or Langfuse(v4=True, extra_args=["--legacy-max-bytes", "1000"])
    lf.host                        # http://127.0.0.1:PORT (what the uploader is configured with)
    lf.set_mode(mode="429", retry_after="1", count=1)
    lf.spans(); lf.events(); lf.entities(); lf.requests(); lf.reset(); lf.stop()
"""

import base64
import http.client
import json
import os

from stack import TOP, MockProcess

LANGFUSE_PY = os.path.join(TOP, "tests", "mock", "langfuse_mock.py")
OTEL_PATH = "/api/public/otel/v1/traces"
LEGACY_PATH = "/api/public/ingestion"


class Langfuse(MockProcess):
    SCRIPT = LANGFUSE_PY
    PREFIX = "sllmp-langfuse-"

    def __init__(self, public_key="pk-lf-test", secret_key="sk-lf-test", v4=False,
                 extra_args=()):
        super().__init__()
        self.public_key = public_key
        self.secret_key = secret_key
        self.v4 = v4
        self.extra_args = list(extra_args)

    def args(self):
        return (["--public-key", self.public_key, "--secret-key", self.secret_key]
                + (["--v4"] if self.v4 else []) + self.extra_args)

    @property
    def host(self):
        return "http://127.0.0.1:%d" % self.port

    def auth_header(self, public_key=None, secret_key=None):
        pair = "%s:%s" % (public_key or self.public_key, secret_key or self.secret_key)
        return "Basic " + base64.b64encode(pair.encode()).decode()

    # ---- control API --------------------------------------------------------------------

    def _call(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            c.request(method, path, body=None if body is None else json.dumps(body).encode(),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            data = json.loads(r.read())
            if r.status != 200:
                raise RuntimeError("%s %s -> %d %r" % (method, path, r.status, data))
            return data
        finally:
            c.close()

    def set_mode(self, **kw):
        """e.g. set_mode(mode="down"), set_mode(mode="429", retry_after="1", count=1),
        set_mode(mode="partial", every=2, status=500), set_mode(v4=True)."""
        return self._call("POST", "/_mock/mode", kw)

    def mode(self):
        return self._call("GET", "/_mock/mode")

    def spans(self):
        return self._call("GET", "/_mock/spans")

    def events(self):
        return self._call("GET", "/_mock/events")

    def entities(self):
        return self._call("GET", "/_mock/entities")

    def requests(self):
        return self._call("GET", "/_mock/requests")

    def reset(self):
        return self._call("POST", "/_mock/reset", {})
