#!/usr/bin/env python3
"""Run the sllmp integration suite.

    python3 tests/integration/run.py [FILTER] [-v]

FILTER keeps only the tests whose id (module.Class.test_name) contains it. Prints one line per
test and ends with exactly one line `N passed, N failed, N skipped`; the exit code is non-zero
when a test failed or errored.

Environment: SLLMP_FCGI / SLLMP_CLI (binaries, default build/), SLLMP_KEEP_TMP=1 (keep the
temp dirs), SLLMP_TEST_TMP (where to make them).
"""

import os
import signal
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def iter_tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from iter_tests(t)
        else:
            yield t


class Result(unittest.TestResult):
    def __init__(self, stream, verbose):
        super().__init__()
        self.out = stream
        self.verbose = verbose
        self.passed = 0
        self.t0 = {}

    def startTest(self, test):
        super().startTest(test)
        self.t0[test.id()] = time.monotonic()

    def _line(self, test, word, detail=None):
        dt = time.monotonic() - self.t0.get(test.id(), time.monotonic())
        self.out.write("%-7s %s (%.2fs)\n" % (word, test.id(), dt))
        if detail:
            self.out.write(detail if detail.endswith("\n") else detail + "\n")
        self.out.flush()

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1
        self._line(test, "ok")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._line(test, "FAIL", self.failures[-1][1])

    def addError(self, test, err):
        super().addError(test, err)
        # errors in setUpClass/tearDownClass come with a _ErrorHolder, not a TestCase
        if not hasattr(test, "_testMethodName"):
            self.out.write("ERROR   %s\n%s" % (test.description if hasattr(test, "description")
                                               else test, self.errors[-1][1]))
            self.out.flush()
            return
        self._line(test, "ERROR", self.errors[-1][1])

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        if hasattr(test, "_testMethodName"):
            self._line(test, "skip", "        " + reason)
        else:
            self.out.write("skip    %s: %s\n" % (test, reason))

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            word = "FAIL" if issubclass(err[0], test.failureException) else "ERROR"
            self.out.write("%-7s %s\n%s" % (word, subtest.id(),
                                            self._exc_info_to_string(err, test)))
            self.out.flush()


def _on_term(signum, frame):
    # turn SIGTERM into KeyboardInterrupt so cleanups and the atexit hook in stack.py run
    raise KeyboardInterrupt()


def main(argv):
    signal.signal(signal.SIGTERM, _on_term)
    verbose = "-v" in argv
    args = [a for a in argv if a != "-v"]
    flt = args[0] if args else None
    sys.path.insert(0, HERE)
    loader = unittest.TestLoader()
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    tests = list(iter_tests(suite))
    load_errors = [t for t in tests if t.id().startswith("unittest.loader.")]
    if flt:
        tests = [t for t in tests if flt in t.id() or t in load_errors]
    # keep classes together (one stack per class)
    tests.sort(key=lambda t: t.id().rsplit(".", 1)[0])
    run_suite = unittest.TestSuite(tests)
    result = Result(sys.stdout, verbose)
    t0 = time.monotonic()
    run_suite.run(result)
    dt = time.monotonic() - t0

    # count failed tests once each (subtest failures count for their test); a class whose
    # setUpClass failed counts all its tests as failed
    def base_id(t):
        if hasattr(t, "test_case"):
            return t.test_case.id()
        if hasattr(t, "_testMethodName"):
            return t.id()
        return None
    failed_ids = set()
    class_errors = []
    for t, _ in result.failures + result.errors:
        b = base_id(t)
        if b:
            failed_ids.add(b)
        else:
            class_errors.append(t)
    failed = len(failed_ids)
    for holder in class_errors:
        desc = str(holder)
        cls = desc[desc.find("(") + 1: desc.rfind(")")] if "(" in desc else desc
        never = [t for t in tests if t.id().startswith(cls + ".") and t.id() not in failed_ids]
        failed += max(1, len(never))
    skipped = len(result.skipped)
    sys.stdout.write("time %.1fs\n" % dt)
    sys.stdout.write("%d passed, %d failed, %d skipped\n" % (result.passed, failed, skipped))
    return 1 if failed or not result.wasSuccessful() else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
