"""The shared-hosting bundle (deploy/shared-hosting/bundle.sh, `make bundle`): both binaries
plus lib/ with every non-glibc shared library, found through the binaries' DT_RPATH $ORIGIN/lib.

Proves that from the bundle's own lib/ every such library resolves (ldd, and LD_DEBUG at run
time), that the folder works moved elsewhere, and, in a chroot holding nothing but glibc and the
bundle, that it runs without the system's copies, and fails there once lib/ is renamed (so the
positive result cannot come from anywhere but $ORIGIN/lib).
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

from stack import (Mock, base_config, cgi_env, make_bundle, mock_model, split_cgi,
                   upstream_model, write_config)


# the same family bundle.sh leaves to the host
GLIBC = re.compile(r"^(ld-linux.*|ld64\.so.*|linux-vdso\.so.*|linux-gate\.so.*|"
                   r"lib(c|m|mvec|pthread|dl|rt|resolv|util|anl|BrokenLocale|thread_db|"
                   r"c_malloc_debug)\.so\..*|libnss_.*)$")
BINARIES = ("sllmp.fcgi", "sllmp")


def is_glibc(name):
    return bool(GLIBC.match(os.path.basename(name)))


def ldd(path, env=None):
    """[(name, resolved path or None)] for every line of ldd, plus the interpreter line."""
    p = subprocess.run(["ldd", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=env, timeout=30)
    out = p.stdout.decode()
    rows = []
    for line in out.splitlines():
        line = line.strip()
        if " => " in line:
            name, _, rest = line.partition(" => ")
            target = rest.split(" (")[0].strip()
            rows.append((name, None if target == "not found" else target))
        elif line.startswith("/"):
            rows.append((os.path.basename(line.split()[0]), line.split()[0]))
    return rows, out


def needed(path):
    out = subprocess.run(["readelf", "-d", path], stdout=subprocess.PIPE, check=True,
                         timeout=30).stdout.decode()
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out), out


class BundleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("ldd", "readelf", "objdump", "make", "cc", "pkg-config"):
            if not shutil.which(tool):
                raise unittest.SkipTest("%s not found" % tool)
        cls.tmp = tempfile.mkdtemp(prefix="sllmp-bundle-", dir=os.environ.get("SLLMP_TEST_TMP"))
        if not os.environ.get("SLLMP_KEEP_TMP"):
            cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.out = os.path.join(cls.tmp, "built", "sllmp")
        cls.log = make_bundle(cls.out)
        cls.libs = sorted(os.listdir(os.path.join(cls.out, "lib")))

    def copy_bundle(self, dest):
        """The bundle copied (files, not symlinks) to dest, a path it has never been at."""
        shutil.copytree(self.out, dest, symlinks=False)
        return dest

    # ---------------------------------------------------------------- layout

    def test_layout(self):
        for b in BINARIES:
            path = os.path.join(self.out, b)
            self.assertTrue(os.access(path, os.X_OK), path)
        self.assertIn("libfcgi.so.0", self.libs)
        for lib in ("libcurl.so.4", "libcjson.so.1", "libyaml-0.so.2", "libcrypto.so.3"):
            self.assertIn(lib, self.libs)
        self.assertTrue(any(x.startswith("libhiredis.so") for x in self.libs), self.libs)
        for name in self.libs:
            path = os.path.join(self.out, "lib", name)
            self.assertFalse(os.path.islink(path), "%s is a symlink" % name)
            self.assertTrue(os.path.isfile(path), path)
            self.assertFalse(is_glibc(name), "glibc's %s was bundled" % name)
            _, dyn = needed(path)
            m = re.search(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", dyn)
            self.assertTrue(m and m.group(1) == name, "%s: SONAME %s" % (name, m and m.group(1)))

    def test_rpath_is_origin_lib_and_dt_rpath(self):
        for b in BINARIES:
            _, dyn = needed(os.path.join(self.out, b))
            self.assertRegex(dyn, r"\(RPATH\)\s+Library rpath: \[\$ORIGIN/lib\]", b)
            self.assertNotIn("(RUNPATH)", dyn, b)

    def test_manifest_and_readme(self):
        with open(os.path.join(self.out, "MANIFEST")) as f:
            manifest = f.read()
        with open(os.path.join(self.out, "README.txt")) as f:
            readme = f.read()
        listed = set(re.findall(r"^lib/(\S+)\s+\d+\s+[0-9a-f]{64}\s", manifest, re.M))
        self.assertEqual(listed, set(self.libs))
        for b in BINARIES:
            self.assertRegex(manifest, r"(?m)^%s\s+\d+\s+[0-9a-f]{64}" % re.escape(b))
        m = re.search(r"glibc (\d+\.\d+(?:\.\d+)?) or newer", readme)
        self.assertTrue(m, readme)
        # it is the highest GLIBC_x.y anything in the bundle references
        refs = []
        for path in [os.path.join(self.out, b) for b in BINARIES] + \
                [os.path.join(self.out, "lib", x) for x in self.libs]:
            out = subprocess.run(["objdump", "-p", path], stdout=subprocess.PIPE,
                                 timeout=30).stdout.decode()
            refs += re.findall(r"GLIBC_(\d+(?:\.\d+)+)", out.partition("Version References:")[2])
        self.assertEqual(m.group(1), max(refs, key=lambda v: tuple(map(int, v.split(".")))))
        for name in self.libs:
            self.assertIn(name, readme)

    # ---------------------------------------------------------------- resolution

    def test_ldd_resolves_every_non_glibc_library_inside_the_bundle(self):
        lib_dir = os.path.realpath(os.path.join(self.out, "lib"))
        seen = set()
        for b in BINARIES:
            rows, out = ldd(os.path.join(self.out, b))
            self.assertTrue(rows, out)
            for name, path in rows:
                self.assertIsNotNone(path, "%s: %s not found\n%s" % (b, name, out))
                if is_glibc(name):
                    continue
                self.assertEqual(os.path.dirname(os.path.realpath(path)), lib_dir,
                                 "%s: %s from %s\n%s" % (b, name, path, out))
                seen.add(name)
        # nothing bundled that neither binary loads
        self.assertEqual(seen, set(self.libs))

    def test_every_bundled_librarys_own_dependencies_are_bundled(self):
        """The libraries carry no rpath of their own (ldd on one alone searches the system);
        they are found through the binaries' DT_RPATH, which covers their dependencies too.
        So check the closure: each library's DT_NEEDED is glibc or in lib/."""
        for name in self.libs:
            deps, _ = needed(os.path.join(self.out, "lib", name))
            for d in deps:
                self.assertTrue(is_glibc(d) or d in self.libs, "%s needs %s" % (name, d))
        for b in BINARIES:
            deps, _ = needed(os.path.join(self.out, b))
            for d in deps:
                self.assertTrue(is_glibc(d) or d in self.libs, "%s needs %s" % (b, d))

    # ---------------------------------------------------------------- moved elsewhere

    def test_moved_bundle_runs_and_loads_only_its_own_libraries(self):
        where = tempfile.mkdtemp(prefix="moved-", dir=self.tmp)
        app = self.copy_bundle(os.path.join(where, "web space", "cgi-bin"))
        lib_dir = os.path.join(app, "lib")
        # LD_DEBUG=libs: every search and every object initialised, dlopen()ed ones included
        p = subprocess.run([os.path.join(app, "sllmp.fcgi")], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=where,
                           env=cgi_env("/health", extra={"SLLMP_RUNDIR": where,
                                                         "LD_DEBUG": "libs"}), timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        head, body = split_cgi(p.stdout)
        self.assertRegex(head, r"(?m)^Status: 200\b")
        self.assertEqual(json.loads(body), {"status": "ok"})
        debug = p.stderr.decode(errors="replace")
        tried = re.findall(r"(?m)trying file=(.+)$", debug)
        inits = re.findall(r"(?m)calling init: (.+?)(?: \[\d+\])?$", debug)
        self.assertTrue(tried and inits, debug[-2000:])
        # DT_RPATH comes first, so a library found in lib/ (or its glibc-hwcaps/ subdirs) is
        # never looked for anywhere else
        for path in tried + inits:
            if not is_glibc(path):
                self.assertTrue(path.startswith(lib_dir + "/"), "%s\n%s" % (path, debug[-3000:]))
        # and every bundled library was loaded, from lib/ itself
        self.assertEqual(sorted(os.path.basename(x) for x in inits if not is_glibc(x)),
                         self.libs)
        self.assertEqual({os.path.dirname(x) for x in inits if not is_glibc(x)}, {lib_dir})

        cli = os.path.join(app, "sllmp")
        env = {"PATH": "/usr/bin:/bin", "SLLMP_RUNDIR": where}
        p = subprocess.run([cli, "--version"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout.decode(), r"^sllmp \d+\.\d+")
        cfg = write_config(os.path.join(where, "sllmp.yaml"),
                           base_config([mock_model("mock-echo")],
                                       spool_dir=os.path.join(where, "spool")))
        p = subprocess.run([cli, "check", cfg], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(b"mock-echo", p.stdout)

    # ---------------------------------------------------------------- without the system's

    def test_chroot_with_only_glibc_runs_and_fails_without_lib(self):
        """chroot into a root holding glibc and the bundle, nothing else, with /proc mounted
        in a private mount namespace (ld.so finds $ORIGIN through /proc/self/exe)."""
        chroot = shutil.which("chroot") or shutil.which("chroot", path="/usr/sbin:/sbin")
        unshare = shutil.which("unshare") or shutil.which("unshare", path="/usr/sbin:/sbin")
        if os.geteuid() != 0 or not chroot or not unshare:
            raise unittest.SkipTest("needs root, chroot(8) and unshare(1)")
        root = tempfile.mkdtemp(prefix="root-", dir=self.tmp)
        # glibc only, at the paths the loader and ldd use (the interpreter path is in PT_INTERP)
        glibc = set()
        for b in BINARIES:
            rows, out = ldd(os.path.join(self.out, b))
            for name, path in rows:
                if path and is_glibc(name):
                    glibc.add(path)
        self.assertTrue(any("ld-linux" in g or "ld64" in g for g in glibc), glibc)
        for path in glibc:
            dest = os.path.join(root, path.lstrip("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(os.path.realpath(path), dest)
        for d in ("tmp", "run", "proc"):
            os.makedirs(os.path.join(root, d), mode=0o777, exist_ok=True)
        # every file in the root outside the bundle is glibc's
        for dirpath, _, files in os.walk(root):
            for f in files:
                self.assertTrue(is_glibc(f), os.path.join(dirpath, f))
        app = self.copy_bundle(os.path.join(root, "home", "user", "public_html", "sllmp"))
        inside = "/home/user/public_html/sllmp"

        mock = Mock().start()
        self.addCleanup(mock.stop)
        cfg = base_config([mock_model("mock-echo"),
                           upstream_model("up-echo", mock, "echo", api_key="sk-x")],
                          spool_dir="/run/spool")
        write_config(os.path.join(root, "run", "sllmp.yaml"), cfg)
        extra = {"SLLMP_CONFIG": "/run/sllmp.yaml", "SLLMP_RUNDIR": "/run"}

        def run(argv, env, body=b"", proc=True):
            # the mount lives and dies with the namespace: nothing to undo afterwards
            cmd = ([unshare, "--mount", "--propagation", "private", "sh", "-c",
                    'mount -t proc proc "$1/proc" || exit 99; exec "$0" "$@"', chroot, root]
                   if proc else [chroot, root])
            return subprocess.run(cmd + argv, input=body, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env, timeout=30)

        p = run([inside + "/sllmp.fcgi"], cgi_env("/health", extra=extra))
        if p.returncode == 99:
            raise unittest.SkipTest("cannot mount /proc in a mount namespace: %r" % p.stderr)
        self.assertEqual(p.returncode, 0, p.stderr)
        head, body = split_cgi(p.stdout)
        self.assertRegex(head, r"(?m)^Status: 200\b")
        self.assertEqual(json.loads(body), {"status": "ok"})

        # a chat through the bundled libcurl to the mock upstream (same network namespace)
        req = json.dumps({"model": "up-echo",
                          "messages": [{"role": "user", "content": "from the chroot"}]}).encode()
        p = run([inside + "/sllmp.fcgi"],
                cgi_env("/v1/chat/completions", "POST", extra, req), req)
        self.assertEqual(p.returncode, 0, p.stderr)
        head, body = split_cgi(p.stdout)
        self.assertRegex(head, r"(?m)^Status: 200\b", body)
        self.assertEqual(json.loads(body)["choices"][0]["message"]["content"], "from the chroot")
        self.assertEqual(len(mock.chat_requests()), 1)

        env = dict(extra, PATH="/usr/bin:/bin")
        p = run([inside + "/sllmp", "--version"], env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout.decode(), r"^sllmp \d+\.\d+")
        p = run([inside + "/sllmp", "check"], env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(b"up-echo", p.stdout)

        # without /proc ld.so cannot tell $ORIGIN, unless LD_ORIGIN_PATH says it (README.txt)
        p = run([inside + "/sllmp", "--version"], env, proc=False)
        self.assertEqual(p.returncode, 127, (p.stdout, p.stderr))
        p = run([inside + "/sllmp", "--version"], dict(env, LD_ORIGIN_PATH=inside), proc=False)
        self.assertEqual(p.returncode, 0, p.stderr)

        # the control: with lib/ renamed nothing is found, so the above came from lib/
        os.rename(os.path.join(app, "lib"), os.path.join(app, "lib.off"))
        for argv, env in (([inside + "/sllmp.fcgi"], cgi_env("/health", extra=extra)),
                          ([inside + "/sllmp", "--version"], env)):
            p = run(argv, env)
            self.assertEqual(p.returncode, 127, (argv, p.stdout, p.stderr))
            self.assertIn(b"error while loading shared libraries", p.stderr)
            self.assertNotIn(b"Status: 200", p.stdout)


if __name__ == "__main__":
    unittest.main()
