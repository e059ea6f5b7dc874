"""The production examples under deploy/ parse with the real tools: Apache's configtest for the
mod_proxy_fcgi vhost, lighttpd's for both pool setups, `sllmp check` for the shared-hosting
YAML. (They run for real in test_servers.py through the local templates that carry the same
directives.)"""

import os
import shutil
import subprocess
import tempfile
import unittest

from stack import CLI_BIN, TOP, apache_binary, free_port, require_binaries

DEPLOY = os.path.join(TOP, "deploy")


class DeployFilesTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="sllmp-deploy-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def run_tool(self, argv):
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        return p.returncode, p.stdout.decode(errors="replace")

    def test_apache_vhost(self):
        exe = apache_binary()
        if not exe:
            raise unittest.SkipTest("Apache not installed")
        mods = "/usr/lib/apache2/modules"
        conf = os.path.join(self.dir, "httpd.conf")
        with open(conf, "w") as f:
            f.write("ServerRoot %s\nServerName 127.0.0.1\nListen 127.0.0.1:%d\n"
                    "PidFile %s/pid\nErrorLog %s/error.log\n" % (self.dir, free_port(),
                                                                 self.dir, self.dir))
            for m in ("mpm_event", "authz_core", "env", "proxy", "proxy_fcgi"):
                f.write("LoadModule %s_module %s/mod_%s.so\n" % (m, mods, m))
            f.write('Include "%s/apache/sllmp.conf"\n' % DEPLOY)
        rc, out = self.run_tool([exe, "-t", "-f", conf])
        self.assertEqual(rc, 0, out)
        self.assertIn("Syntax OK", out)

    def lighttpd_check(self, name):
        if not shutil.which("lighttpd"):
            raise unittest.SkipTest("lighttpd not installed")
        conf = os.path.join(self.dir, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write('server.modules = ( "mod_deflate" )\n'
                    'server.document-root = "%s"\nserver.port = %d\n'
                    'server.bind = "127.0.0.1"\ninclude "%s/lighttpd/%s"\n'
                    % (self.dir, free_port(), DEPLOY, name))
        rc, out = self.run_tool(["lighttpd", "-tt", "-f", conf])
        self.assertEqual(rc, 0, out)
        # lighttpd only warns about a misspelt key, and exits 0
        self.assertNotIn("unknown config-key", out)

    def test_lighttpd_spawn_fcgi(self):
        self.lighttpd_check("sllmp.conf")

    def test_lighttpd_bin_path(self):
        self.lighttpd_check("sllmp-bin-path.conf")

    def test_shared_hosting_yaml(self):
        require_binaries()
        rc, out = self.run_tool([CLI_BIN, "check",
                                 os.path.join(DEPLOY, "shared-hosting", "sllmp.yaml")])
        self.assertEqual(rc, 0, out)
        self.assertIn("spool: /home/alice/sllmp/spool", out)
        self.assertIn("counted in /home/alice/sllmp/metrics.db", out)

    def test_shared_hosting_htaccess_names_only_known_directives(self):
        # every directive of the .htaccess exists in this Apache with mod_fcgid and
        # mod_rewrite loaded (a typo would be a 500 on every request of the host)
        exe = apache_binary()
        if not exe or not os.path.exists("/usr/lib/apache2/modules/mod_fcgid.so"):
            raise unittest.SkipTest("Apache with mod_fcgid not installed")
        mods = "/usr/lib/apache2/modules"
        web = os.path.join(self.dir, "public_html")
        os.makedirs(web)
        conf = os.path.join(self.dir, "httpd.conf")
        with open(conf, "w") as f:
            f.write("ServerRoot %s\nServerName 127.0.0.1\nListen 127.0.0.1:%d\n"
                    "PidFile %s/pid\nErrorLog %s/error.log\n" % (self.dir, free_port(),
                                                                 self.dir, self.dir))
            for m in ("mpm_event", "authz_core", "env", "mime", "rewrite", "fcgid"):
                f.write("LoadModule %s_module %s/mod_%s.so\n" % (m, mods, m))
            # the .htaccess read as a <Directory> section: the same directive checks
            f.write('<Directory "%s">\n' % web)
            with open(os.path.join(DEPLOY, "shared-hosting", "public_html", ".htaccess")) as h:
                f.write(h.read())
            f.write("</Directory>\n")
        rc, out = self.run_tool([exe, "-t", "-f", conf])
        self.assertEqual(rc, 0, out)


if __name__ == "__main__":
    unittest.main()
