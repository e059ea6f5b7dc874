"""Virtual keys through lighttpd: a key made by `sllmp key new`, pasted as key_sha256, works;
its model list is enforced (403) and shown by /v1/models; a wrong key is refused (401); the
master key keeps working; the key itself appears in no log."""

import re
import subprocess
import unittest

from stack import CLI_BIN, StackCase, mock_model, user_msg


def new_key(name):
    out = subprocess.run([CLI_BIN, "key", "new", name], check=True, capture_output=True,
                         text=True).stdout
    key = re.search(r"^key: (sk-sllmp-[0-9a-f]{48})$", out, re.M).group(1)
    digest = re.search(r"key_sha256: ([0-9a-f]{64})$", out, re.M).group(1)
    return key, digest


class KeysTest(StackCase):
    master_key = "sk-keys-master"
    KEY, DIGEST = new_key("tester")

    @classmethod
    def models(cls, mock):
        return [mock_model("mock-a", "echo", 0), mock_model("mock-b", "echo", 0)]

    @classmethod
    def make_config(cls):
        cfg = super().make_config()
        cfg["keys"] = [{"name": "tester", "key_sha256": cls.DIGEST, "user": "tess",
                        "models": ["mock-a"]}]
        return cfg

    def test_key_new_prints_its_own_digest(self):
        import hashlib
        self.assertEqual(hashlib.sha256(self.KEY.encode()).hexdigest(), self.DIGEST)

    def test_key_works_for_its_models_only(self):
        r = self.chat({"model": "mock-a", "messages": user_msg("hi")}, key=self.KEY)
        self.assertEqual(r.status, 200, r)
        r = self.chat({"model": "mock-b", "messages": user_msg("hi")}, key=self.KEY)
        self.assertEqual(r.status, 403, r)
        err = r.json()["error"]
        self.assertEqual((err["code"], err["param"]), ("permission_denied", "model"), err)
        r = self.stack.request("GET", "/v1/models", headers={"Authorization": "Bearer " + self.KEY})
        self.assertEqual([m["id"] for m in r.json()["data"]], ["mock-a"], r)

    def test_wrong_key_and_master_key(self):
        r = self.chat({"model": "mock-a", "messages": user_msg("hi")}, key=self.KEY[:-1] + "0"
                      if not self.KEY.endswith("0") else self.KEY[:-1] + "1")
        self.assertEqual(r.status, 401, r)
        r = self.chat({"model": "mock-b", "messages": user_msg("hi")}, key=self.master_key)
        self.assertEqual(r.status, 200, r)

    def test_key_never_logged(self):
        self.chat({"model": "mock-a", "messages": user_msg("hi")}, key=self.KEY)
        self.assertNotIn(self.KEY, self.stack.diagnostics())


if __name__ == "__main__":
    unittest.main()
