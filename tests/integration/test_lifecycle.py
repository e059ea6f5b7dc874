"""The process model: SIGTERM drains in-flight streams, a killed worker is replaced,
max_requests recycles workers, SIGHUP reloads the config without failing requests."""

import concurrent.futures as cf
import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from stack import (TOP, UPSTREAM_KEY, StackCase, base_config, children_of, content_arrivals,
                   free_port, kill_and_wait, mock_model, pid_alive, read_pid, upstream_model,
                   user_msg, wait_for, write_config)



WORDS20 = " ".join("w%d" % i for i in range(1, 21))


class SigtermDrainTest(StackCase):
    @classmethod
    def models(cls, mock):
        return [mock_model("mock-echo", "echo", 0),
                upstream_model("up-words20", mock, "words-20-100")]

    def test_sigterm_mid_stream_finishes_stream_then_exits(self):
        master = self.stack.master_pid
        workers = self.stack.workers()
        self.assertTrue(master and pid_alive(master))
        self.assertEqual(len(workers), 2, "workers: 2 in the config, children: %r" % workers)
        c = self.stream({"model": "up-words20", "stream": True, "messages": user_msg("x")})
        self.assertEqual(c.status, 200)
        c.read_until(lambda cl: len(content_arrivals(cl)) >= 2, timeout=5)
        os.kill(master, signal.SIGTERM)
        c.read_all(timeout=10)
        self.assertEqual(c.content(), WORDS20, "stream cut by SIGTERM:\n" + c.text()[-800:])
        self.assertEqual(c.data_events()[-1], "[DONE]", c.text()[-500:])
        self.assertTrue(wait_for(lambda: not pid_alive(master), 8),
                        "master %d still alive 8 s after SIGTERM and the stream's end" % master)
        for w in workers:
            self.assertFalse(pid_alive(w), "worker %d outlived the master" % w)


class MakeRunSigtermTest(unittest.TestCase):
    """SIGTERM to `make run` itself (not its process group) stops everything it started."""

    def test_sigterm_to_make_stops_the_stack(self):
        d = tempfile.mkdtemp(prefix="sllmp-makerun-")
        self.addCleanup(shutil.rmtree, d, True)
        conf, rundir, port = os.path.join(d, "sllmp.yaml"), os.path.join(d, "run"), free_port()
        write_config(conf, base_config([mock_model("mock-echo", "echo", 0)],
                                       spool_dir=os.path.join(d, "spool")))
        env = dict(os.environ, SLLMP_CONFIG=conf, SLLMP_RUNDIR=rundir)
        with open(os.path.join(d, "make.out"), "wb") as out:
            make = subprocess.Popen(["make", "--no-print-directory", "-C", TOP, "run",
                                     "PORT=%d" % port], env=env, stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        pids = []

        def stop_all():
            for p in pids:
                if pid_alive(p):
                    os.kill(p, signal.SIGTERM)
            kill_and_wait(pids)
            try:  # whatever is left of make's group, make itself or not
                os.killpg(make.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            make.wait()
        self.addCleanup(stop_all)

        def healthy():
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/health")
                return c.getresponse().status == 200
            except OSError:
                return False
        self.assertTrue(wait_for(healthy, 20), open(os.path.join(d, "make.out")).read())
        master = read_pid(os.path.join(rundir, "sllmp.pid"))
        server = read_pid(os.path.join(rundir, "lighttpd.pid"))
        self.assertTrue(master and server, "no pid files under %s" % rundir)
        pids.extend([master, server] + children_of(master) + children_of(make.pid))
        os.kill(make.pid, signal.SIGTERM)
        make.wait(10)
        wait_for(lambda: not any(pid_alive(p) for p in pids), 8)
        left = [p for p in pids if pid_alive(p)]
        self.assertEqual(left, [], "still running 8 s after SIGTERM to make: %r" % left)


class WorkerRestartTest(StackCase):
    start_mock = False

    @classmethod
    def models(cls, mock):
        return [mock_model("mock-echo", "echo", 0)]

    def test_killed_worker_is_replaced(self):
        before = wait_for(lambda: len(self.stack.workers()) == 2 and self.stack.workers(), 3)
        self.assertTrue(before, "expected 2 workers, have %r" % self.stack.workers())
        victim = before[0]
        os.kill(victim, signal.SIGKILL)
        after = wait_for(lambda: (len(self.stack.workers()) == 2
                                  and victim not in self.stack.workers()
                                  and self.stack.workers()), 5)
        self.assertTrue(after, "worker %d not replaced: children now %r"
                        % (victim, self.stack.workers()))
        self.assertIn(before[1], after, "the other worker should have been left alone")
        for i in range(20):
            r = self.stack.chat({"model": "mock-echo", "messages": user_msg("r%d" % i)})
            self.assertEqual(r.status, 200, r)


class RecycleTest(StackCase):
    start_mock = False
    sllmp = {"max_requests": 5}

    @classmethod
    def models(cls, mock):
        return [mock_model("mock-echo", "echo", 0)]

    def test_max_requests_recycles_workers(self):
        before = wait_for(lambda: len(self.stack.workers()) == 2 and self.stack.workers(), 3)
        self.assertTrue(before, self.stack.workers())
        statuses = []
        for i in range(30):
            r = self.stack.chat({"model": "mock-echo", "messages": user_msg("n%d" % i)})
            statuses.append(r.status)
            if r.status == 200:
                self.assertEqual(r.json()["choices"][0]["message"]["content"], "n%d" % i)
        self.assertEqual(statuses, [200] * 30, "not all requests succeeded")
        after = wait_for(lambda: len(self.stack.workers()) == 2 and self.stack.workers(), 5)
        self.assertTrue(after, "worker count did not settle at 2: %r" % self.stack.workers())
        self.assertTrue(set(before) - set(after),
                        "30 requests with max_requests 5, but the workers are the same: %r"
                        % after)
        # recycled workers are not left as zombies or orphans
        self.assertEqual(len(self.stack.workers()), 2)


class ReloadTest(StackCase):
    @classmethod
    def models(cls, mock):
        return [mock_model("mock-echo", "echo", 0),
                upstream_model("up-words20", mock, "words-20-100")]

    def model_ids(self):
        r = self.stack.request("GET", "/v1/models")
        self.assertEqual(r.status, 200, r)
        return [m["id"] for m in r.json()["data"]]

    def test_1_sighup_adds_model_without_failing_requests(self):
        self.assertEqual(sorted(self.model_ids()), ["mock-echo", "up-words20"])
        c = self.stream({"model": "up-words20", "stream": True, "messages": user_msg("x")})
        self.assertEqual(c.status, 200)
        c.read_until(lambda cl: len(content_arrivals(cl)) >= 2, timeout=5)

        stop = threading.Event()
        results = []

        def hammer():
            while not stop.is_set():
                try:
                    r = self.stack.chat({"model": "mock-echo", "messages": user_msg("h")},
                                        timeout=10)
                    results.append(r.status)
                except OSError as e:
                    results.append(repr(e))
        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            time.sleep(0.2)
            models = self.models(self.mock) + [mock_model("mock-new", "echo", 0)]
            self.stack.rewrite_config(base_config(models, **self.sllmp))
            old_workers = self.stack.workers()
            self.stack.signal_master(signal.SIGHUP)
            seen = wait_for(lambda: "mock-new" in self.model_ids(), 5, 0.1)
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join(15)
        self.assertTrue(seen, "mock-new not in /v1/models 5 s after SIGHUP")
        bad = [x for x in results if x != 200]
        self.assertGreater(len(results), 20, "too few requests ran during the reload")
        self.assertEqual(bad, [], "%d of %d requests during the reload failed"
                         % (len(bad), len(results)))
        c.read_all(timeout=10)
        self.assertEqual(c.content(), WORDS20, "stream broken by SIGHUP:\n" + c.text()[-600:])
        self.assertEqual(c.data_events()[-1], "[DONE]")
        r = self.stack.chat({"model": "mock-new", "messages": user_msg("new model")})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["choices"][0]["message"]["content"], "new model")
        self.assertTrue(wait_for(lambda: len(self.stack.workers()) == 2, 10),
                        "after the reload the master has %r" % self.stack.workers())
        self.assertTrue(pid_alive(self.stack.master_pid))
        # README: SIGHUP starts a new generation of workers; the old one exits once idle
        self.assertTrue(wait_for(lambda: not set(old_workers) & set(self.stack.workers()), 10),
                        "old workers %r still there: %r" % (old_workers, self.stack.workers()))
        for w in old_workers:
            self.assertTrue(wait_for(lambda: not pid_alive(w), 5), "old worker %d lingers" % w)

    def test_2_bad_config_keeps_last_good(self):
        with open(self.stack.config_path) as f:
            good = f.read()
        try:
            self.stack.rewrite_config("model_list:\n  - model_name: [unclosed\n")
            self.stack.signal_master(signal.SIGHUP)
            time.sleep(1.0)
            self.assertTrue(pid_alive(self.stack.master_pid), "a bad config killed the master")
            for _ in range(6):
                r = self.stack.chat({"model": "mock-echo", "messages": user_msg("ok")})
                self.assertEqual(r.status, 200, r)
            self.assertIn("mock-echo", self.model_ids())
        finally:
            self.stack.rewrite_config(good)


class LastGoodAcrossWorkersTest(StackCase):
    """A broken edit keeps the last good version for workers started after it too: those that
    max_requests recycles and those of a refused SIGHUP, forked from the master."""

    start_mock = False
    master_key = "sk-v1-old"
    sllmp = {"max_requests": 2, "threads": 1}

    @classmethod
    def models(cls, mock):
        return [mock_model("mock-echo", "echo", 0)]

    def statuses(self, key, n):
        return [self.stack.chat({"model": "mock-echo", "messages": user_msg("k")},
                                key=key).status for _ in range(n)]

    def setUp(self):
        self.addCleanup(self.stack.rewrite_config, self.make_config())

    def test_reload_to_workers_0_keeps_the_pool(self):
        # workers: 0 is one process without a master: a running master keeps its workers
        self.stack.rewrite_config(base_config(self.models(None), master_key="sk-v1-old",
                                              **dict(self.sllmp, workers=0)))
        self.stack.signal_master(signal.SIGHUP)
        time.sleep(1.0)
        self.assertEqual(self.statuses("sk-v1-old", 6), [200] * 6)
        self.assertTrue(wait_for(lambda: len(self.stack.workers()) == 2, 5),
                        "after the reload the master has %r" % self.stack.workers())

    def test_rotated_key_stays_rotated_through_a_broken_edit(self):
        self.assertEqual(self.statuses("sk-v1-old", 1), [200])
        # v2 rotates the master key: running workers see it within a second or two
        self.stack.rewrite_config(base_config(self.models(None), master_key="sk-v2-new",
                                              **self.sllmp))
        self.assertTrue(wait_for(lambda: self.statuses("sk-v1-old", 2) == [401, 401], 10),
                        "the rotated key still works")
        first = self.stack.workers()
        # v3 does not parse; the workers recycle every two requests
        self.stack.rewrite_config("sllmp: {{workers: 2\n")
        time.sleep(1.5)
        self.assertEqual(self.statuses("sk-v1-old", 8) + self.statuses("sk-v2-new", 8),
                         [401] * 8 + [200] * 8)
        self.assertFalse(set(first) & set(self.stack.workers()), "no worker was recycled")
        # a SIGHUP that does not load is refused; the workers forked after it still run v2
        self.stack.signal_master(signal.SIGHUP)
        time.sleep(1.0)
        self.assertEqual(self.statuses("sk-v2-new", 8) + self.statuses("sk-v1-old", 4),
                         [200] * 8 + [401] * 4)


class VhostOnlyConfigTest(StackCase):
    """A YAML that only the vhost names (SLLMP_CONFIG as a FastCGI parameter; the pool's own
    environment has none, as when one pool serves several vhosts): the workers tell the master
    of it, the master follows it, and a worker forked after a broken edit starts from the last
    good version instead of answering 500 for that vhost."""

    start_mock = False
    master_key = "sk-vhost-v1"
    server_env = {"SLLMP_VHOST_ONLY": "1"}

    @classmethod
    def models(cls, mock):
        return [mock_model("mock-echo", "echo", 0)]

    def setUp(self):
        self.addCleanup(self.stack.rewrite_config, self.make_config())

    def statuses(self, key, n):
        return [self.stack.chat({"model": "mock-echo", "messages": user_msg("v")},
                                key=key).status for _ in range(n)]

    def test_workers_forked_after_a_broken_edit_keep_the_last_good_version(self):
        with open("/proc/%d/environ" % self.stack.master_pid, "rb") as f:
            self.assertNotIn(b"SLLMP_CONFIG=", f.read(), "the pool was given the YAML")
        self.assertEqual(self.statuses("sk-vhost-v1", 4), [200] * 4)
        # v2 rotates the key; the workers follow, and so does the master they told
        self.stack.rewrite_config(base_config(self.models(None), master_key="sk-vhost-v2"))
        self.assertTrue(wait_for(lambda: self.statuses("sk-vhost-v1", 2) == [401, 401], 10),
                        "the rotated key still works")
        time.sleep(1.5)
        # v3 does not parse; then every worker dies and the master forks new ones
        self.stack.rewrite_config("model_list: [oops\n")
        time.sleep(1.5)
        old = self.stack.workers()
        for pid in old:
            os.kill(pid, signal.SIGKILL)
        self.assertTrue(wait_for(lambda: len(self.stack.workers()) == len(old) and
                                 not set(old) & set(self.stack.workers()), 10),
                        "the workers were not replaced: %r" % self.stack.workers())
        self.assertEqual(self.statuses("sk-vhost-v2", 6) + self.statuses("sk-vhost-v1", 2),
                         [200] * 6 + [401] * 2)
        # and a good edit after the broken one is followed by the new workers
        self.stack.rewrite_config(base_config(self.models(None), master_key="sk-vhost-v4"))
        self.assertTrue(wait_for(lambda: self.statuses("sk-vhost-v4", 2) == [200, 200], 10),
                        "the fixed file was not followed")

class IncludeTest(StackCase):
    """LiteLLM's `include:`: the models come from a file beside the YAML, and an edit of that
    file is followed as one of the YAML itself is (no signal), a broken one keeping the last
    good version."""

    master_key = "sk-include-master"

    @classmethod
    def included(cls, extra=()):
        return {"model_list": [upstream_model("up-echo", cls.mock, "echo")] + list(extra)}

    @classmethod
    def make_config(cls):
        cfg = base_config([], master_key=cls.master_key, router_settings=cls.router)
        del cfg["model_list"]
        cfg["include"] = ["models.yaml"]   # relative to the YAML's directory
        return cfg

    @classmethod
    def prepare(cls, stack):
        cls.models_path = os.path.join(stack.dir, "models.yaml")
        write_config(cls.models_path, cls.included())

    def model_ids(self):
        r = self.stack.request("GET", "/v1/models",
                               headers={"Authorization": "Bearer " + self.master_key})
        self.assertEqual(r.status, 200, r)
        return sorted(m["id"] for m in r.json()["data"])

    def test_1_models_from_the_included_file(self):
        self.assertEqual(self.model_ids(), ["up-echo"])
        r = self.chat({"model": "up-echo", "messages": user_msg("included")})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["choices"][0]["message"]["content"], "included")
        # its os.environ/ reference was read from the environment as in the main file
        up = self.mock.chat_requests()[-1]
        self.assertEqual(up["headers"].get("authorization"), "Bearer " + UPSTREAM_KEY, up)

    def test_2_edit_of_the_included_file_is_followed(self):
        self.addCleanup(write_config, self.models_path, self.included())
        write_config(self.models_path, self.included([mock_model("mock-new", "echo", 0)]))
        self.assertTrue(wait_for(lambda: "mock-new" in self.model_ids(), 10, 0.1),
                        "mock-new not served 10 s after the included file changed")
        # each worker looks at its files at most once a second (conf.c refresh()): one that
        # looked just before the edit sees it a second later
        time.sleep(1.1)
        for _ in range(4):   # every worker, not just one
            r = self.chat({"model": "mock-new", "messages": user_msg("new")})
            self.assertEqual(r.status, 200, r)
        # a broken edit keeps the last good version
        write_config(self.models_path, "model_list: [oops\n")
        time.sleep(1.5)
        self.assertTrue(pid_alive(self.stack.master_pid))
        for _ in range(4):
            r = self.chat({"model": "mock-new", "messages": user_msg("still")})
            self.assertEqual(r.status, 200, r)
        self.assertEqual(self.model_ids(), ["mock-new", "up-echo"])


if __name__ == "__main__":
    unittest.main()
