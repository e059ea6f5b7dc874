#!/usr/bin/env python3
"""Drain benchmark of `sllmp upload` against the Langfuse mock (loopback only).

    python3 tests/bench/upload_drain.py [--records 100000] [--api otel|legacy] [--cli build/sllmp]
                                        [--target 60]

Writes N small version-1 records (one attempt each, a short prompt and answer) into a temporary
spool, starts tests/mock/langfuse_mock.py, times one `sllmp upload` run and checks that the spool
is empty and the mock holds every span (OTLP) or event (legacy). Prints one line:

    upload drain: 100000 records in 41.2s = 2427 records/s (otel, 128 requests) ok

Exit status 0 when everything arrived within --target seconds (issue 4: 100,000 records in under
a minute), 1 otherwise. Most of the time is the mock's: it validates every span in Python.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

from langfuse import Langfuse  # noqa: E402
from stack import write_config  # noqa: E402


def hexid(bits):
    return "%0*x" % (bits // 4, random.getrandbits(bits) | 1)


def record(i, t0):
    start = t0 + i * 10
    return {
        "v": 1, "request_id": "bench-%d" % i, "trace_id": hexid(128), "span_id": hexid(64),
        "trace_joined": False, "trace_name": "chat.completions", "name": "chat.completions",
        "user": "user-%d" % (i % 100), "tags": [], "metadata": {"key_name": "bench"},
        "endpoint": "/v1/chat/completions", "stream": True, "model": "fast",
        "provider": "openai", "deployment": "fast", "upstream_model": "gpt-4o-mini",
        "params": {"temperature": 0.7}, "capture": "full",
        "input": [{"role": "user", "content": "What is %d + %d?" % (i, i)}],
        "output": {"role": "assistant", "content": "%d." % (2 * i)},
        "usage": {"input": 14, "cache_read": 0, "cache_write": 0, "output": 3, "reasoning": 0,
                  "estimated": False},
        "cost": {"input": 0.0000021, "cache_read": 0, "cache_write": 0, "output": 0.0000018,
                 "reasoning": 0, "total": 0.0000039},
        "start_us": start, "first_token_us": start + 150_000, "end_us": start + 400_000,
        "status": 200, "level": "DEFAULT", "client_gone": False,
        "attempts": [{"span_id": hexid(64), "name": "upstream openai", "provider": "openai",
                      "deployment": "fast", "model": "gpt-4o-mini", "start_us": start + 500,
                      "end_us": start + 390_000, "status": 200, "level": "DEFAULT"}]}


def write_spool(spool, n):
    new = os.path.join(spool, "new")
    os.makedirs(new, 0o700)
    os.makedirs(os.path.join(spool, "tmp"), 0o700)
    t0 = int(time.time() * 1e6) - 3600_000_000
    pid = os.getpid()
    for i in range(n):
        r = record(i, t0)
        name = "%010d.%06d.%d.%d.%08x.json" % (r["start_us"] // 1000000, r["start_us"] % 1000000,
                                               pid, i, random.getrandbits(32))
        with open(os.path.join(new, name), "w") as f:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--api", choices=("otel", "legacy"), default="otel")
    ap.add_argument("--cli", default=os.environ.get("SLLMP_CLI",
                                                    os.path.join(TOP, "build", "sllmp")))
    ap.add_argument("--target", type=float, default=60.0, help="seconds the drain may take")
    a = ap.parse_args()
    if not os.access(a.cli, os.X_OK):
        sys.exit("upload drain: %s missing (run make)" % a.cli)

    tmp = tempfile.mkdtemp(prefix="sllmp-drain-")
    lf = Langfuse(public_key="pk-lf-bench", secret_key="sk-lf-bench").start()
    try:
        spool = os.path.join(tmp, "spool")
        write_spool(spool, a.records)
        config = os.path.join(tmp, "sllmp.yaml")
        write_config(config, {"model_list": [], "sllmp": {
            "spool": {"dir": spool},
            "langfuse": {"host": lf.host, "public_key": "pk-lf-bench",
                         "secret_key": "sk-lf-bench", "api": a.api}}})
        env = {k: v for k, v in os.environ.items()
               if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        t0 = time.monotonic()
        p = subprocess.run([a.cli, "upload", "--config", config, "--max-time",
                            str(max(a.target * 2, 60))], env=env, stdin=subprocess.DEVNULL,
                           capture_output=True)
        dt = time.monotonic() - t0
        left = len(os.listdir(os.path.join(spool, "new")))
        # counted from the request log: listing 200,000 stored spans takes the mock too long
        reqs = lf.requests()
        nreq = len(reqs)
        if a.api == "otel":
            got = sum(q["spans"] or 0 for q in reqs if q["status"] == 200)
            want = 2 * a.records
        else:
            got = sum(q["events"] or 0 for q in reqs if q["status"] == 207)
            want = 3 * a.records
    finally:
        lf.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    ok = p.returncode == 0 and left == 0 and got == want and dt < a.target
    print("upload drain: %d records in %.1fs = %.0f records/s (%s, %d requests) %s"
          % (a.records, dt, a.records / dt if dt > 0 else 0, a.api, nreq,
             "ok" if ok else "FAIL"))
    if not ok:
        print("  exit %d, %d left in new/, %d of %d %s at the mock, target %.0fs\n  %s"
              % (p.returncode, left, got, want, "spans" if a.api == "otel" else "events",
                 a.target, p.stderr.decode().strip()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
