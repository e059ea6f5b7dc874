"""Virtual keys through lighttpd: a key made by `sllmp key new`, pasted as key_sha256, works;
its model list is enforced (403) and shown by /v1/models; a wrong key is refused (401); the
master key keeps working; the key itself appears in no log."""

import json
import os
import re
import subprocess
import unittest
import uuid

from stack import CLI_BIN, ONE_ATTEMPT, StackCase, mock_model, user_msg, wait_for


def new_key(name):
    out = subprocess.run([CLI_BIN, "key", "new", name], check=True, capture_output=True,
                         text=True).stdout
    key = re.search(r"^key: (sk-sllmp-[0-9a-f]{48})$", out, re.M).group(1)
    digest = re.search(r"key_sha256: ([0-9a-f]{64})$", out, re.M).group(1)
    return key, digest


class OneKeyCase(StackCase):
    """Two mock models and one key (KEY_ENTRY, with the digest of KEY) allowed mock-a only."""
    KEY_ENTRY = {}

    @classmethod
    def models(cls, mock):
        return [mock_model("mock-a", "echo", 0), mock_model("mock-b", "echo", 0)]

    @classmethod
    def make_config(cls):
        cfg = super().make_config()
        cfg["keys"] = [dict(cls.KEY_ENTRY, key_sha256=cls.DIGEST, models=["mock-a"])]
        return cfg


class KeysTest(OneKeyCase):
    master_key = "sk-keys-master"
    KEY, DIGEST = new_key("tester")
    KEY_ENTRY = {"name": "tester", "user": "tess"}

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


class ModelGroupAliasTest(OneKeyCase):
    """LiteLLM's router_settings.model_group_alias: a name that routes to a model group, listed
    by /v1/models unless hidden, allowed to a key by its own name or its group's; the answer and
    the trace keep the name the client asked for, the trace's deployment is the group's."""
    master_key = "sk-alias-master"
    KEY, DIGEST = new_key("aliased")
    KEY_ENTRY = {"name": "aliased"}
    router = dict(ONE_ATTEMPT, model_group_alias={
        "gpt-4": "mock-a", "gpt-4-b": "mock-b",
        "secret": {"model": "mock-a", "hidden": True}})

    def records(self, rid):
        found = []

        def one():
            d = os.path.join(self.stack.spool, "new")
            for name in os.listdir(d) if os.path.isdir(d) else []:
                with open(os.path.join(d, name), encoding="utf-8") as f:
                    rec = json.load(f)
                if rec["request_id"] == rid:
                    found.append(rec)
            return found
        self.assertTrue(wait_for(one, 5), "no trace record for %s" % rid)
        return found

    def test_alias_routes_to_its_group(self):
        rid = uuid.uuid4().hex
        r = self.chat({"model": "gpt-4", "messages": user_msg("via alias")},
                      headers={"X-Request-ID": rid})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["model"], "gpt-4")
        self.assertEqual(r.json()["choices"][0]["message"]["content"], "via alias")
        direct = self.chat({"model": "mock-a", "messages": user_msg("direct")})
        self.assertEqual(r.header("x-sllmp-model-id"), direct.header("x-sllmp-model-id"))
        rec = self.records(rid)
        self.assertEqual(len(rec), 1, rec)
        self.assertEqual((rec[0]["model"], rec[0]["deployment"]), ("gpt-4", "mock-a"), rec[0])
        r = self.chat({"model": "gpt-5", "messages": user_msg("x")})
        self.assertOpenAIError(r, 404, "model_not_found", param="model")

    def test_models_lists_aliases_but_hidden_ones(self):
        r = self.stack.request("GET", "/v1/models",
                               headers={"Authorization": "Bearer " + self.master_key})
        self.assertEqual(r.status, 200, r)
        ids = [m["id"] for m in r.json()["data"]]
        self.assertEqual(sorted(ids), ["gpt-4", "gpt-4-b", "mock-a", "mock-b"], ids)
        r = self.stack.request("GET", "/v1/models/secret",
                               headers={"Authorization": "Bearer " + self.master_key})
        self.assertEqual((r.status, r.json()["id"]), (200, "secret"), r)
        r = self.chat({"model": "secret", "messages": user_msg("hidden but there")})
        self.assertEqual(r.status, 200, r)

    def test_key_allowed_through_the_alias_of_its_model_only(self):
        r = self.chat({"model": "gpt-4", "messages": user_msg("hi")}, key=self.KEY)
        self.assertEqual(r.status, 200, r)
        r = self.chat({"model": "gpt-4-b", "messages": user_msg("hi")}, key=self.KEY)
        self.assertOpenAIError(r, 403, "permission_denied", param="model")
        r = self.stack.request("GET", "/v1/models", headers={"Authorization": "Bearer " + self.KEY})
        self.assertEqual(sorted(m["id"] for m in r.json()["data"]), ["gpt-4", "mock-a"], r)


if __name__ == "__main__":
    unittest.main()
