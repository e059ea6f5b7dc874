"""/ready: 503 with a reason when the spool dir is not writable or a configured Redis is
unreachable; 200 with a real redis-server."""

import os
import tempfile
import unittest

from stack import Redis, Stack, StackCase, closed_port, mock_model, require_binaries


class ReadyCase(StackCase):
    start_mock = False

    @classmethod
    def models(cls, mock):
        return [mock_model("mock-echo", "echo", 0)]

    def ready(self):
        r = self.stack.request("GET", "/ready")
        return r, (r.json() if r.body else {})

    def assert_not_ready(self, word):
        r, body = self.ready()
        self.assertEqual(r.status, 503, r)
        self.assertTrue((r.header("content-type") or "").startswith("application/json"), r)
        self.assertEqual(body.get("status"), "not_ready", r)
        reasons = body.get("reasons")
        self.assertIsInstance(reasons, list, r)
        self.assertTrue(any(word in x.lower() for x in reasons), "no %s reason: %r"
                        % (word, reasons))
        # liveness is not readiness
        self.assertEqual(self.stack.request("GET", "/health").status, 200)
        return reasons


class ReadySpoolNotWritableTest(ReadyCase):
    @classmethod
    def make_config(cls):
        # a path under a regular file can never be created, even by root
        cls.tmp = tempfile.mkdtemp(prefix="sllmp-ready-")
        cls.addClassCleanup(lambda: __import__("shutil").rmtree(cls.tmp, True))
        blocker = os.path.join(cls.tmp, "a-file")
        with open(blocker, "w") as f:
            f.write("not a directory\n")
        cls.bad_spool = os.path.join(blocker, "spool")
        cfg = super().make_config()
        cfg["sllmp"]["spool"] = {"dir": cls.bad_spool}
        return cfg

    def test_ready_503_spool(self):
        reasons = self.assert_not_ready("spool")
        self.assertTrue(any(self.bad_spool in x for x in reasons), reasons)

    def test_chat_still_works(self):
        r = self.stack.chat({"model": "mock-echo",
                             "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(r.status, 200, r)


class ReadyRedisDownTest(ReadyCase):
    @classmethod
    def make_config(cls):
        cfg = super().make_config()
        cfg["sllmp"]["redis"] = {"url": "redis://127.0.0.1:%d/0" % closed_port()}
        return cfg

    def test_ready_503_redis(self):
        self.assert_not_ready("redis")


class ReadyRedisUpTest(ReadyCase):
    @classmethod
    def setUpClass(cls):
        require_binaries()
        cls.redis = Redis().start()
        cls.addClassCleanup(cls.redis.cleanup)
        super().setUpClass()

    @classmethod
    def make_config(cls):
        cfg = super().make_config()
        cfg["sllmp"]["redis"] = {"url": cls.redis.url}
        return cfg

    def test_ready_200_with_redis(self):
        r, body = self.ready()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(body.get("status"), "ready", r)
        self.assertEqual((body.get("checks") or {}).get("redis"), "ok", r)
        self.assertEqual((body.get("checks") or {}).get("spool"), "ok", r)

    def test_ready_follows_redis_going_down(self):
        self.redis.stop()
        try:
            r, body = self.ready()
            self.assertEqual(r.status, 503, r)
            self.assertTrue(any("redis" in x.lower() for x in body.get("reasons", [])), r)
        finally:
            # bring it back on the same port for any later test
            self.redis.start()


if __name__ == "__main__":
    unittest.main()
