"""The official SDKs against every provider through lighttpd: tests/conformance/providers.test.mjs
run by node against the stack and mocks of test_providers.py (the `openai` package for each
provider's chat, tools, embeddings and legacy completions; `@anthropic-ai/sdk` for the
/v1/messages front door)."""

import os
import shutil
import subprocess
import unittest

from test_providers import ProvidersCase

HERE = os.path.dirname(os.path.abspath(__file__))
CONFORMANCE = os.path.join(os.path.dirname(HERE), "conformance")


def node_modules_ready():
    """npm ci when the pinned SDKs are not installed (as tests/conformance/run.sh does)."""
    want = subprocess.run(
        ["node", "-p", "const d = require('./package.json').dependencies; "
         "Object.keys(d).sort().map((k) => d[k]).join(' ')"],
        cwd=CONFORMANCE, capture_output=True, text=True).stdout.strip()
    have = subprocess.run(
        ["node", "-p", "const d = require('./package.json').dependencies; "
         "Object.keys(d).sort().map((k) => { try { return require('./node_modules/' + k + "
         "'/package.json').version } catch { return '' } }).join(' ')"],
        cwd=CONFORMANCE, capture_output=True, text=True).stdout.strip()
    if want != have:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=CONFORMANCE, check=True,
                       stdout=subprocess.DEVNULL)


class SdkProvidersTest(ProvidersCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("node") is None or shutil.which("npm") is None:
            raise unittest.SkipTest("node and npm are needed (make deps installs them)")
        node_modules_ready()
        super().setUpClass()

    def test_official_sdks(self):
        env = dict(os.environ,
                   PROVIDERS_BASE_URL="http://127.0.0.1:%d" % self.stack.port,
                   PROVIDERS_API_KEY=self.master_key,
                   PROVIDERS_CHAT="claude,gem,nova,az,groq-echo,ollama-echo,vllm-echo",
                   PROVIDERS_TOOLS="claude-tools,gem-tools,nova-tools",
                   PROVIDERS_EMBED="oa-embed,az-embed,gem-embed,titan,cohere",
                   PROVIDERS_COMPLETE="instruct",
                   # Anthropic's own, then served through chat completions
                   PROVIDERS_MESSAGES="claude,br-claude,gem,nova,az,groq-echo",
                   PROVIDERS_MESSAGES_TOOLS="claude-tools,gem-tools,nova-tools",
                   PROVIDERS_OVERLOADED="claude-529")
        p = subprocess.run(["node", "--test", "--test-reporter=spec", "providers.test.mjs"],
                           cwd=CONFORMANCE, env=env, capture_output=True, text=True, timeout=300)
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 0, out[-6000:])
        self.assertIn("# fail 0", out.replace("ℹ fail 0", "# fail 0"), out[-3000:])
        self.assertNotIn("# pass 0", out.replace("ℹ pass 0", "# pass 0"), out[-3000:])


if __name__ == "__main__":
    unittest.main()
