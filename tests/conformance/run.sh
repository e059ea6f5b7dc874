#!/usr/bin/env bash
# Conformance test: drives the gateway with the official `openai` npm SDK (node --test).
#
#   tests/conformance/run.sh [extra node --test arguments, e.g. --test-name-pattern=stream]
#
# Starts its own stack (deploy/local/run.sh) on a free 127.0.0.1 port with a generated YAML,
# waits for GET /health, runs the tests, stops the stack by PID, and exits with the tests'
# result. Its last line is "N passed, N failed".
#
# Environment:
#   CONFORMANCE_UPSTREAM  unset (default): every model is the built-in mock/echo provider.
#                         "mock": also start tests/mock/openai_mock.py on a free port and route
#                         the models through it as openai/... deployments (plain, byte-split and
#                         CRLF streams), plus fault deployments (upstream 4xx/5xx, mid-stream
#                         error and cut, unreachable upstream, tool calls) whose tests are
#                         skipped otherwise. The tests get the mock's URL as
#                         CONFORMANCE_MOCK_URL (its /_mock/requests: what the upstream got).
#                         A URL (e.g. http://127.0.0.1:9999/v1): route every model to that
#                         OpenAI-compatible upstream as openai/echo; it must echo the last user
#                         message.
#   CONFORMANCE_BASE_URL  test an already running gateway instead (no stack is started);
#                         set CONFORMANCE_API_KEY and CONFORMANCE_MODELS to match it
#   CONFORMANCE_OTHER_KEYS  two more keys of that gateway, comma-separated (run.sh makes two
#                         virtual keys); without, the tests of who owns a kept response skip
#   CONFORMANCE_START_TIMEOUT  seconds to wait for GET /health (default 20)
#   CONFORMANCE_KEEP=1    keep the runtime directory (logs) after the run
#   SLLMP_FCGI, SLLMP_CLI passed through to deploy/local/run.sh
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
cd "$here"

command -v node >/dev/null || { echo "conformance: node is not installed" >&2; echo "0 passed, 1 failed"; exit 1; }

# npm ci when node_modules is missing or holds other SDKs than package.json pins.
want=$(node -p 'const d = require("./package.json").dependencies; Object.keys(d).sort().map((k) => d[k]).join(" ")')
have=$(node -p 'const d = require("./package.json").dependencies; Object.keys(d).sort().map((k) => { try { return require("./node_modules/" + k + "/package.json").version } catch { return "" } }).join(" ")' 2>/dev/null)
if [ "$want" != "$have" ]; then
    npm ci --no-audit --no-fund >&2 || { echo "conformance: npm ci failed" >&2; echo "0 passed, 1 failed"; exit 1; }
fi

export CONFORMANCE_API_KEY=${CONFORMANCE_API_KEY:-sk-conformance}
if [ "${CONFORMANCE_UPSTREAM:-}" = mock ]; then
    export CONFORMANCE_MODELS=${CONFORMANCE_MODELS:-conformance-echo,gpt-4o-mini,conformance-split,conformance-crlf}
else
    export CONFORMANCE_MODELS=${CONFORMANCE_MODELS:-conformance-echo,gpt-4o-mini}
fi

stack_pid= rundir= mock_pid= out=
stop_stack() {
    [ -n "$stack_pid" ] || return 0
    local master lighttpd p
    master=$(cat "$rundir/sllmp.pid" 2>/dev/null || true)
    lighttpd=$(cat "$rundir/lighttpd.pid" 2>/dev/null || true)
    kill -TERM "$stack_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$stack_pid" 2>/dev/null || break; sleep 0.1; done
    # run.sh normally takes both down; make sure, by their own PIDs.
    for p in $master $lighttpd; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$p" 2>/dev/null; then
            echo "conformance: pid $p still running after SIGTERM to run.sh; sending SIGTERM" >&2
            kill -TERM "$p" 2>/dev/null || true
            for _ in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
            if kill -0 "$p" 2>/dev/null; then
                echo "conformance: pid $p ignores SIGTERM; sending SIGKILL" >&2
                kill -KILL "$p" 2>/dev/null || true
            fi
        fi
    done
    kill -KILL "$stack_pid" 2>/dev/null || true
    wait "$stack_pid" 2>/dev/null || true
    stack_pid=
}

stop_mock() {
    [ -n "$mock_pid" ] || return 0
    kill -TERM "$mock_pid" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$mock_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$mock_pid" 2>/dev/null || true
    wait "$mock_pid" 2>/dev/null || true
    mock_pid=
}

cleanup() {
    stop_stack
    stop_mock
    [ -z "$out" ] || rm -f "$out"
    if [ -n "$rundir" ]; then
        [ "${CONFORMANCE_KEEP:-}" = 1 ] || rm -rf "$rundir"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail_setup() {
    echo "conformance: $*" >&2
    if [ -n "$rundir" ]; then
        for f in "$rundir"/stack.log "$rundir"/log/*; do
            [ -s "$f" ] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }
        done
    fi
    echo "0 passed, 1 failed"
    exit 1
}

if [ -z "${CONFORMANCE_BASE_URL:-}" ]; then
    for b in "${SLLMP_FCGI:-$top/build/sllmp.fcgi}" "${SLLMP_CLI:-$top/build/sllmp}"; do
        [ -x "$b" ] || fail_setup "$b is missing: run make first"
    done
    rundir=$(mktemp -d "${TMPDIR:-/tmp}/sllmp-conformance.XXXXXX")
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

    mkdir -p "$rundir/log"
    upstream=${CONFORMANCE_UPSTREAM:-}
    export CONFORMANCE_PROVIDER=${upstream:+upstream}
    export CONFORMANCE_PROVIDER=${CONFORMANCE_PROVIDER:-builtin}
    if [ "$upstream" = mock ]; then
        python3 "$top/tests/mock/openai_mock.py" --port 0 --port-file "$rundir/mock.port" \
            >"$rundir/log/mock.log" 2>&1 &
        mock_pid=$!
        for _ in $(seq 100); do [ -s "$rundir/mock.port" ] && break; sleep 0.05; done
        [ -s "$rundir/mock.port" ] || fail_setup "tests/mock/openai_mock.py did not start"
        upstream="http://127.0.0.1:$(cat "$rundir/mock.port")/v1"
        export CONFORMANCE_FAULTS=1
        export CONFORMANCE_MOCK_URL=${upstream%/v1} # its /_mock/requests: what the upstream got
    fi
    # A port nothing listens on, for the unreachable-upstream deployment.
    down_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

    # model_name, upstream model (mock/... or openai/...), api_base, and "native" for an
    # openai/ deployment that is sent /v1/responses as it is (the others are marked as servers
    # without the Responses API: the tests of its translation run through them)
    deployment() {
        echo "  - model_name: $1"
        echo "    litellm_params:"
        echo "      model: $2"
        case $2 in
            mock/*) echo "      mock_delay_ms: 5" ;;
            *) echo "      api_base: $3"
               echo "      api_key: sk-upstream-conformance"
               [ "${4:-}" = native ] || {
                   echo "    model_info:"
                   echo "      supported_endpoints: [/v1/chat/completions, /v1/completions, /v1/embeddings]"
               } ;;
        esac
    }
    {
        echo "# generated by tests/conformance/run.sh"
        echo "model_list:"
        IFS=, read -ra names <<<"$CONFORMANCE_MODELS"
        for name in "${names[@]}"; do
            if [ -z "$upstream" ]; then
                deployment "$name" mock/echo
            elif [ -n "${CONFORMANCE_FAULTS:-}" ]; then
                case $name in
                    *-split) deployment "$name" openai/echo+split "$upstream" ;;
                    *-crlf) deployment "$name" openai/echo+crlf "$upstream" ;;
                    *) deployment "$name" openai/echo "$upstream" ;;
                esac
            else
                deployment "$name" openai/echo "$upstream"
            fi
        done
        if [ -n "${CONFORMANCE_FAULTS:-}" ]; then
            for f in status-400 status-401 status-403 status-404 status-422 status-429 \
                     status-500 status-503 error-after-3 close-after-3 tools tools-once \
                     words-3-1500; do
                deployment "fault-$f" "openai/$f" "$upstream"
            done
            deployment fault-unreachable openai/echo "http://127.0.0.1:$down_port/v1"
            # the Responses API passed through to the mock's own /v1/responses
            deployment native-echo openai/echo "$upstream" native
            deployment native-tools openai/tools "$upstream" native
            deployment native-reasoning openai/reasoning "$upstream" native
            # chat completions through the mock's /v1/responses (LiteLLM's responses/ route)
            deployment bridge-echo openai/responses/echo "$upstream" native
            deployment bridge-tools openai/responses/tools-once "$upstream" native
        fi
        echo "general_settings:"
        echo "  master_key: $CONFORMANCE_API_KEY"
        # two virtual keys: a kept response belongs to the key that made it
        echo "keys:"
        for k in a b; do
            echo "  - name: conformance-$k"
            echo "    key_sha256: $(printf '%s' "sk-conformance-key-$k" | sha256sum | cut -d' ' -f1)"
        done
        echo "sllmp:"
        [ -z "${CONFORMANCE_FAULTS:-}" ] || {
            echo "  heartbeat_ms: 100    # fault-words-3-1500 has 1500 ms gaps for pings"
            # retries as by default, quickly; the mock's Retry-After: 7 is not waited for
            echo "  router: {backoff_ms: 10, backoff_max_ms: 50, max_retry_after_ms: 1000}"
        }
        echo "  spool:"
        echo "    dir: $rundir/spool"
    } >"$rundir/sllmp.yaml"

    PORT=$port SLLMP_CONFIG="$rundir/sllmp.yaml" SLLMP_RUNDIR="$rundir" \
        "$top/deploy/local/run.sh" >"$rundir/stack.log" 2>&1 &
    stack_pid=$!

    export CONFORMANCE_BASE_URL="http://127.0.0.1:$port"
    export CONFORMANCE_OTHER_KEYS=sk-conformance-key-a,sk-conformance-key-b
    ok= code=
    deadline=$((SECONDS + ${CONFORMANCE_START_TIMEOUT:-20}))
    while [ "$SECONDS" -lt "$deadline" ]; do
        kill -0 "$stack_pid" 2>/dev/null || fail_setup "the stack exited before it was healthy"
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$CONFORMANCE_BASE_URL/health" 2>/dev/null || true)
        [ "$code" = 200 ] && { ok=1; break; }
        sleep 0.1
    done
    [ -n "$ok" ] || fail_setup "GET $CONFORMANCE_BASE_URL/health did not answer 200 within ${CONFORMANCE_START_TIMEOUT:-20} s (last: ${code:-none})"
    echo "conformance: stack up at $CONFORMANCE_BASE_URL (runtime files in $rundir${CONFORMANCE_KEEP:+, kept})" >&2
fi

out=$(mktemp "${TMPDIR:-/tmp}/sllmp-conformance-out.XXXXXX")
node --test --test-reporter=tap --test-concurrency=1 "$@" conformance.test.mjs | tee "$out"
rc=${PIPESTATUS[0]}

pass=$(sed -n 's/^# pass \([0-9][0-9]*\)$/\1/p' "$out" | tail -n1)
fail=$(sed -n 's/^# fail \([0-9][0-9]*\)$/\1/p' "$out" | tail -n1)
skip=$(sed -n 's/^# skipped \([0-9][0-9]*\)$/\1/p' "$out" | tail -n1)
rm -f "$out"; out=
pass=${pass:-0} fail=${fail:-0}
# A runner that died without its summary still counts as a failure.
[ "$rc" -ne 0 ] && [ "$fail" -eq 0 ] && fail=1

if [ "${CONFORMANCE_KEEP:-}" != 1 ] && [ "$rc" -ne 0 ] && [ -n "$rundir" ]; then
    for f in "$rundir"/stack.log "$rundir"/log/*.log; do
        [ -s "$f" ] && { echo "--- $f (last 20 lines)" >&2; tail -n 20 "$f" >&2; }
    done
fi

stop_stack
stop_mock
if [ -n "${skip:-}" ] && [ "$skip" -gt 0 ]; then
    echo "$pass passed, $fail failed, $skip skipped"
else
    echo "$pass passed, $fail failed"
fi
exit "$rc"
