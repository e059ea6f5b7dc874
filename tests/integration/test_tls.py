"""TLS to a provider: certificates are verified, and `sllmp.ca_file` names the CA file (for a
bundle on a host whose CA file is not where Debian's libcurl looks, or a private CA). The mock
upstream serves HTTPS on 127.0.0.1 with a certificate made here by the openssl tool."""

import os
import shutil
import subprocess
import tempfile
import time
import unittest

from stack import Mock, StackCase, base_config, upstream_model, user_msg


def make_cert(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("openssl: %s" % p.stdout.decode(errors="replace"))
    os.chmod(cert, 0o644)
    return cert, key


class TLSMock(Mock):
    def __init__(self, cert, key):
        super().__init__()
        self.cert, self.key = cert, key

    def args(self):
        return ["--tls-cert", self.cert, "--tls-key", self.key]

    @property
    def base(self):
        return "https://127.0.0.1:%d/v1" % self.port

    def _get(self, path):   # introspection over TLS, trusting the mock's own certificate
        import http.client
        import json
        import ssl
        ctx = ssl.create_default_context(cafile=self.cert)
        c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=5, context=ctx)
        try:
            c.request("GET", path)
            return json.loads(c.getresponse().read())
        finally:
            c.close()


class TLSTest(StackCase):
    start_mock = False

    @classmethod
    def setUpClass(cls):
        if not shutil.which("openssl"):
            raise unittest.SkipTest("openssl not installed")
        cls.tmp = tempfile.mkdtemp(prefix="sllmp-tls-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.cert, key = make_cert(cls.tmp)
        cls.tls = TLSMock(cls.cert, key).start()
        cls.addClassCleanup(cls.tls.stop)
        super().setUpClass()

    @classmethod
    def make_config(cls):
        return base_config([upstream_model("trusted", cls.tls, "echo")],
                           ca_file=cls.cert)

    def test_ca_file_verifies_the_provider(self):
        r = self.chat({"model": "trusted", "messages": user_msg("over tls")})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["choices"][0]["message"]["content"], "over tls")
        self.assertEqual(len(self.tls.chat_requests()), 1)

    def test_unknown_ca_is_refused(self):
        # the same provider without the CA: the certificate cannot be verified, the call fails
        cfg = base_config([upstream_model("trusted", self.tls, "echo")])
        self.stack.rewrite_config(cfg)
        try:
            end = time.monotonic() + 5
            while True:   # the YAML is re-read within a second
                time.sleep(0.1)
                before = len(self.tls.chat_requests())
                r = self.chat({"model": "trusted", "messages": user_msg("x")})
                if r.status != 200 or time.monotonic() > end:
                    break
            self.assertOpenAIError(r, 502, "provider_error")
            # refused in the handshake: the request never reached the provider
            self.assertEqual(len(self.tls.chat_requests()), before)
        finally:
            self.stack.rewrite_config(self.make_config())

    def test_unreadable_ca_file_refuses_the_config(self):
        from stack import CLI_BIN, write_config
        path = write_config(os.path.join(self.tmp, "bad.yaml"),
                            base_config([], ca_file="/nonexistent/ca.pem"))
        p = subprocess.run([CLI_BIN, "check", path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=10)
        self.assertNotEqual(p.returncode, 0)
        self.assertRegex(p.stdout.decode(), r"bad\.yaml:\d+:\d+: sllmp\.ca_file: cannot read")


if __name__ == "__main__":
    unittest.main()
