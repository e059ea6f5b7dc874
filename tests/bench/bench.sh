#!/usr/bin/env bash
# sllmp benchmark (`make bench`). Loopback only; everything it starts it stops by PID.
#
#   1. throughput, unstreamed POST /v1/chat/completions, wrk --latency:
#        (a) fastmock directly   (b) nginx -> fastmock   (c) lighttpd -> sllmp -> fastmock
#        (b') nginx_plain: nginx with a bare proxy_pass (no upstream keep-alive), for comparison
#        (d) lighttpd -> nullfcgi, a responder that does nothing: the ceiling for (c)
#        (e) as (c), the full pipeline: a virtual key with rpm, tpm, max_parallel and a budget
#            counted in a real redis-server, cost priced, and a trace record per request in
#            the spool, synced (the default); (f) the same with sllmp.spool.fsync off
#      ((c) writes no trace record: capture none, the gateway's pass-through alone)
#        (g) as (c) behind Apache mod_proxy_fcgi (run.sh SERVER=apache) instead of lighttpd
#   4. the spool's write path alone (tests/bench/spoolbench.c): records/s and latency per
#      record with and without fsync, 16 threads; and `sllmp upload` draining 100,000
#      records into the mock Langfuse (tests/bench/upload_drain.py)
#   2. added time to first token: sequential streamed requests, fastmock directly vs
#      through sllmp
#   3. 1,000 concurrent streams (40 chunks, 50 ms apart) through sllmp, with the peak
#      summed RSS of the sllmp pool (master + workers)
#
# Environment (defaults in brackets):
#   BENCH_SECONDS [10]   length of each wrk run      BENCH_CONN [64]    wrk connections
#   BENCH_THREADS [2]    wrk threads                 BENCH_WARMUP [1]   seconds of wrk warm-up
#   BENCH_TTFT_REQUESTS [500]  sequential streams per side of the TTFT run
#   BENCH_STREAMS [1000] concurrent streams          BENCH_STREAM_CHUNKS [40] / BENCH_STREAM_DELAY_MS [50]
#   BENCH_STREAM_WORKERS [4] / BENCH_STREAM_THREADS [256]  sllmp pool for runs 2 and 3
#   BENCH_SKIP_SLLMP [0] 1: only (a), (b), (d)       BENCH_KEEP [0]     1: keep the work dir
#   BENCH_CEILING [1]    0: skip (d), lighttpd -> nullfcgi (needs libfcgi-dev)
#   SLLMP_FCGI, SLLMP_CLI  the binaries (default build/sllmp.fcgi, build/sllmp)
#
# Exit status: 0 when everything started (the targets are informational), 1 otherwise.
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here=$top/tests/bench
SECONDS_RUN=${BENCH_SECONDS:-10}
CONN=${BENCH_CONN:-64}
THREADS=${BENCH_THREADS:-2}
WARMUP=${BENCH_WARMUP:-1}
TTFT_N=${BENCH_TTFT_REQUESTS:-500}
STREAMS=${BENCH_STREAMS:-1000}
STREAM_CHUNKS=${BENCH_STREAM_CHUNKS:-40}
STREAM_DELAY=${BENCH_STREAM_DELAY_MS:-50}
STREAM_WORKERS=${BENCH_STREAM_WORKERS:-4}
STREAM_THREADS=${BENCH_STREAM_THREADS:-256}
SKIP_SLLMP=${BENCH_SKIP_SLLMP:-0}
FCGI=${SLLMP_FCGI:-$top/build/sllmp.fcgi}
CLI=${SLLMP_CLI:-$top/build/sllmp}

work=$(mktemp -d "${TMPDIR:-/tmp}/sllmp-bench.XXXXXX")
chmod 711 "$work"   # Apache's children run as nobody and connect to sockets in here
pids=()          # everything started, stopped in reverse order
failed=0         # something did not start

log() { printf '%s\n' "$*" >&2; }

stop_pid() {     # stop_pid PID: TERM, up to 5 s, then KILL
    local p=$1 i
    kill -0 "$p" 2>/dev/null || return 0
    kill -TERM "$p" 2>/dev/null
    for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then
        log "bench: PID $p ignored SIGTERM for 5 s; sending SIGKILL"
        kill -KILL "$p" 2>/dev/null
    fi
    wait "$p" 2>/dev/null
    return 0
}

cleanup() {
    trap - EXIT INT TERM
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_pid "${pids[i]}"; done
    pids=()
    if [ "${BENCH_KEEP:-0}" = 1 ]; then log "bench: work files kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'log "bench: interrupted"; exit 130' INT TERM

# A free TCP port on 127.0.0.1 below the ephemeral range (nothing answers on it).
free_port() {
    local p i
    for i in $(seq 200); do
        p=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
    done
    return 1
}

# wait_http URL SECONDS PID: until URL answers 200 (or the PID dies).
wait_http() {
    local url=$1 secs=$2 pid=$3 i
    for i in $(seq $((secs * 20))); do
        kill -0 "$pid" 2>/dev/null || return 1
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" 2>/dev/null)" = 200 ] && return 0
        sleep 0.05
    done
    return 1
}

# ---- build the helpers ----
bin=$work/bin
mkdir -p "$bin"
for t in fastmock streamcli; do
    gcc -std=c11 -O2 -Wall -o "$bin/$t" "$here/$t.c" || { log "bench: cannot build $t"; exit 1; }
done
CEILING=${BENCH_CEILING:-1}
if [ "$CEILING" = 1 ] && ! gcc -std=c11 -O2 -Wall -o "$bin/nullfcgi" "$here/nullfcgi.c" -lfcgi; then
    log "bench: cannot build nullfcgi (libfcgi-dev?): the ceiling run is skipped"
    CEILING=0
fi
for tool in wrk nginx curl; do
    command -v "$tool" >/dev/null || { log "bench: $tool is not installed"; exit 1; }
done

start_fastmock() {  # start_fastmock NAME ARGS... ; sets FM_PORT, appends to pids
    local name=$1 i
    shift
    "$bin/fastmock" --port-file "$work/$name.port" "$@" 2>"$work/$name.log" &
    pids+=($!)
    for i in $(seq 100); do [ -s "$work/$name.port" ] && break; sleep 0.02; done
    FM_PORT=$(cat "$work/$name.port" 2>/dev/null)
    [ -n "$FM_PORT" ] || { log "bench: $name did not start"; cat "$work/$name.log" >&2; return 1; }
}

# mock_stat PORT KEY: one of fastmock's counters (connections, open, requests, streams)
mock_stat() {
    curl -s --max-time 2 "http://127.0.0.1:$1/stats" | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"
}

# ---- wrk runs ----
# run_wrk NAME URL: warm-up, then the measured run; writes $work/wrk-NAME.txt and sets
# W_RPS W_P50 W_P99 (ms) W_ERR (non-2xx + socket errors).
run_wrk() {
    local name=$1 url=$2 out=$work/wrk-$1.txt code
    # one request first, so that a broken target shows its answer instead of a bare error count
    code=$(curl -s -o "$work/preflight-$name.txt" -w '%{http_code}' --max-time 5 \
           -H 'Content-Type: application/json' -H 'Authorization: Bearer bench' \
           --data '{"model":"bench","messages":[{"role":"user","content":"Say hello."}]}' "$url")
    if [ "$code" != 200 ] || ! grep -q '"chat.completion"' "$work/preflight-$name.txt"; then
        log "bench: $name: a single request got HTTP $code: $(head -c 400 "$work/preflight-$name.txt")"
    fi
    if [ "$WARMUP" -gt 0 ]; then
        wrk -t"$THREADS" -c"$CONN" -d"${WARMUP}s" -s "$here/post.lua" "$url" >/dev/null 2>&1
    fi
    # in the background, so that a signal reaches the trap at once
    wrk -t"$THREADS" -c"$CONN" -d"${SECONDS_RUN}s" --timeout 5s --latency -s "$here/post.lua" "$url" \
        >"$out" 2>&1 &
    WRK_PID=$!
    pids+=($WRK_PID)
    wait $WRK_PID
    read -r W_RPS W_P50 W_P99 W_ERR < <(awk '
        function ms(v) {
            if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
            if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
            if (v ~ /s$/)  return substr(v, 1, length(v) - 1) * 1000
            return v + 0
        }
        /^Requests\/sec:/ { rps = $2 }
        /^ +50%/ { p50 = ms($2) }
        /^ +99%/ { p99 = ms($2) }
        /Non-2xx or 3xx responses:/ { err += $NF }
        /Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
        END { printf "%.0f %.3f %.3f %d\n", rps, p50, p99, err }' "$out")
    log "bench: $name: $W_RPS req/s, p50 $W_P50 ms, p99 $W_P99 ms, errors $W_ERR"
}

declare -A RPS P50 P99 ERRS SPOOLED

start_fastmock fastmock --chunks "$STREAM_CHUNKS" --delay-ms "$STREAM_DELAY" || exit 1
MOCK=$FM_PORT
log "bench: fastmock on 127.0.0.1:$MOCK; ${SECONDS_RUN}s per run, $CONN connections, $THREADS wrk threads"

# (a) fastmock directly
run_wrk direct "http://127.0.0.1:$MOCK/v1/chat/completions"
RPS[direct]=$W_RPS P50[direct]=$W_P50 P99[direct]=$W_P99 ERRS[direct]=$W_ERR

# (b) nginx -> fastmock, keeping its upstream connections alive as sllmp does (the reference
#     of the ratios); (b') nginx_plain: a bare `proxy_pass`, nginx's default, which opens a new
#     upstream connection per request (HTTP/1.0), for comparison
# run_nginx NAME KEEPALIVE(1|0)
run_nginx() {
    local name=$1 keepalive=$2 ngx=$work/$1 port upstream location
    mkdir -p "$ngx/logs" "$ngx/tmp"
    port=$(free_port)
    if [ "$keepalive" = 1 ]; then
        upstream="upstream fastmock { server 127.0.0.1:$MOCK; keepalive 128; }"
        location='proxy_pass http://fastmock; proxy_http_version 1.1; proxy_set_header Connection "";'
    else
        upstream=""
        location="proxy_pass http://127.0.0.1:$MOCK;"
    fi
    {
        [ "$(id -u)" = 0 ] && echo "user root;"   # as root the workers would otherwise be nobody
        cat <<EOF
worker_processes 2;
daemon off;
pid $ngx/nginx.pid;
error_log $ngx/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $ngx/tmp/client_body;
    proxy_temp_path $ngx/tmp/proxy;
    fastcgi_temp_path $ngx/tmp/fastcgi;
    uwsgi_temp_path $ngx/tmp/uwsgi;
    scgi_temp_path $ngx/tmp/scgi;
    $upstream
    server {
        listen 127.0.0.1:$port;
        location / { $location }
    }
}
EOF
    } >"$ngx/nginx.conf"
    nginx -c "$ngx/nginx.conf" -p "$ngx" -e "$ngx/logs/error.log" 2>"$ngx/logs/stderr.log" &
    NGINX_PID=$!
    pids+=($NGINX_PID)
    if wait_http "http://127.0.0.1:$port/health" 10 $NGINX_PID; then
        run_wrk "$name" "http://127.0.0.1:$port/v1/chat/completions"
        RPS[$name]=$W_RPS P50[$name]=$W_P50 P99[$name]=$W_P99 ERRS[$name]=$W_ERR
    else
        log "bench: nginx ($name) did not start:"
        cat "$ngx/logs/stderr.log" "$ngx/logs/error.log" >&2
        failed=1
    fi
    stop_pid $NGINX_PID
}
run_nginx nginx 1
run_nginx nginx_plain 0

# ---- the sllmp stack ----
# start_sllmp NAME YAML [FCGI CLI]: run.sh on a free port; sets S_PORT S_RUNDIR S_PID.
start_sllmp() {
    local name=$1 yaml=$2
    S_RUNDIR=$work/$name
    S_PORT=$(free_port)
    mkdir -p "$S_RUNDIR"
    PORT=$S_PORT SLLMP_CONFIG=$yaml SLLMP_RUNDIR=$S_RUNDIR SLLMP_FCGI=${3:-$FCGI} SLLMP_CLI=${4:-$CLI} \
        SERVER=${S_SERVER:-lighttpd} "$top/deploy/local/run.sh" >"$S_RUNDIR/run.log" 2>&1 &
    S_PID=$!
    pids+=($S_PID)
    if ! wait_http "http://127.0.0.1:$S_PORT/health" 15 $S_PID; then
        log "bench: sllmp ($name) did not start; run.sh said:"
        tail -20 "$S_RUNDIR/run.log" >&2
        tail -20 "$S_RUNDIR/log/"*.log 2>/dev/null >&2
        return 1
    fi
}

# show_logs: what lighttpd and the pool logged (beyond start-up), so that trouble shows.
show_logs() {
    local out
    out=$( { grep -vE 'server (started|stopped)' "$S_RUNDIR/log/lighttpd-error.log" 2>/dev/null
             grep -v '^sllmp: listening on' "$S_RUNDIR/run.log" 2>/dev/null; } | tail -15)
    [ -z "$out" ] || { log "bench: lighttpd / sllmp logged (last lines):"; log "$out"; }
}

# stop_sllmp: stops run.sh, then anything it left behind (its pid files name them).
stop_sllmp() {
    local f p kids
    kids=$(tree_pids "$(cat "$S_RUNDIR/sllmp.pid" 2>/dev/null || echo 0)")
    stop_pid "$S_PID"
    for f in "$S_RUNDIR/server.pid" "$S_RUNDIR/sllmp.pid"; do
        p=$(cat "$f" 2>/dev/null) || continue
        if kill -0 "$p" 2>/dev/null; then
            log "bench: $(basename "$f" .pid) (PID $p) outlived run.sh; stopping it"
            stop_pid "$p"
        fi
    done
    sleep 0.2
    for p in $kids; do
        if kill -0 "$p" 2>/dev/null; then
            log "bench: pool process $p ($(ps -o args= -p "$p")) outlived its master; stopping it"
            kill -TERM "$p" 2>/dev/null; sleep 0.5; kill -KILL "$p" 2>/dev/null
        fi
    done
}

# Summed RSS (kB) of a PID and all its descendants.
tree_rss() {
    ps -e -o pid=,ppid=,rss= | awk -v root="$1" '
        { ppid[$1] = $2; rss[$1] = $3 }
        END {
            for (p in ppid) {
                q = p
                for (d = 0; d < 10 && q != "" && q != 0; d++) {
                    if (q == root) { sum += rss[p]; break }
                    q = ppid[q]
                }
            }
            print sum + 0
        }'
}
tree_pids() {   # the descendants of a PID
    ps -e -o pid=,ppid= | awk -v root="$1" '
        { ppid[$1] = $2 }
        END {
            for (p in ppid) {
                q = ppid[p]
                for (d = 0; d < 10 && q != "" && q != 0; d++) {
                    if (q == root) { print p; break }
                    q = ppid[q]
                }
            }
        }'
}
tree_count() {
    ps -e -o pid=,ppid= | awk -v root="$1" '$2 == root { n++ } END { print n + 0 }'
}

# bench_model NAME PORT: a model_list entry for the fastmock on PORT
bench_model() {
    cat <<EOF
  - model_name: $1
    litellm_params:
      model: openai/bench
      api_base: http://127.0.0.1:$2/v1
      api_key: dummy
EOF
}

sllmp_ok=0
if [ "$SKIP_SLLMP" = 1 ]; then
    log "bench: BENCH_SKIP_SLLMP=1: sllmp runs skipped"
elif [ ! -x "$FCGI" ] || [ ! -x "$CLI" ]; then
    log "bench: $FCGI or $CLI is missing (run make first): sllmp runs skipped"
    failed=1
else
    sllmp_ok=1
fi

# (d) lighttpd -> nullfcgi: the transport's own ceiling (no upstream, no parsing)
if [ "$CEILING" = 1 ]; then
    printf 'sllmp: {}\n' >"$work/null.yaml"
    if start_sllmp null-fcgi "$work/null.yaml" "$bin/nullfcgi" /bin/true; then
        run_wrk null "http://127.0.0.1:$S_PORT/v1/chat/completions"
        RPS[null]=$W_RPS P50[null]=$W_P50 P99[null]=$W_P99 ERRS[null]=$W_ERR
        stop_sllmp
    else
        failed=1
    fi
fi

if [ $sllmp_ok = 1 ]; then
    # (c) lighttpd -> sllmp -> fastmock
    cat >"$work/bench.yaml" <<EOF
model_list:
$(bench_model bench "$MOCK")
sllmp:
  workers: 2
  threads: 16                # the default
  log_level: warn
  access_log: off            # as nginx's (b): no access log on either side
  langfuse: {capture: none}  # no trace record: the pass-through alone ((e) has them)
EOF
    if start_sllmp sllmp-throughput "$work/bench.yaml"; then
        log "bench: sllmp pool: master $(cat "$S_RUNDIR/sllmp.pid"), $(tree_count "$(cat "$S_RUNDIR/sllmp.pid")") children"
        c0=$(mock_stat "$MOCK" connections) r0=$(mock_stat "$MOCK" requests)
        run_wrk sllmp "http://127.0.0.1:$S_PORT/v1/chat/completions"
        RPS[sllmp]=$W_RPS P50[sllmp]=$W_P50 P99[sllmp]=$W_P99 ERRS[sllmp]=$W_ERR
        UPSTREAM="$(( $(mock_stat "$MOCK" connections) - c0 - 2 )) upstream connections for $(( $(mock_stat "$MOCK" requests) - r0 - 2 )) upstream requests"
        log "bench: sllmp: $UPSTREAM (warm-up included)"
        kill -0 "$S_PID" 2>/dev/null || log "bench: the sllmp stack died during the throughput run"
        show_logs
        stop_sllmp
    else
        failed=1
        sllmp_ok=0
    fi
fi

# (g) the same pool behind Apache (mod_proxy_fcgi, flushpackets=on)
if [ $sllmp_ok = 1 ] && { command -v apache2 || command -v httpd; } >/dev/null; then
    if S_SERVER=apache start_sllmp sllmp-apache "$work/bench.yaml"; then
        run_wrk apache "http://127.0.0.1:$S_PORT/v1/chat/completions"
        RPS[apache]=$W_RPS P50[apache]=$W_P50 P99[apache]=$W_P99 ERRS[apache]=$W_ERR
        stop_sllmp
    else
        failed=1
    fi
fi

# (e) the full pipeline: a key, limits in Redis, cost
if [ $sllmp_ok = 1 ] && command -v redis-server >/dev/null; then
    REDIS_PORT=$(free_port)
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$work" >"$work/redis.log" 2>&1 &
    REDIS_PID=$!
    pids+=($REDIS_PID)
    for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
    for variant in full full_nofsync; do
        fsync=true
        [ $variant = full_nofsync ] && fsync=false
        cat >"$work/$variant.yaml" <<EOF
model_list:
$(bench_model bench "$MOCK")
    model_info: {input_cost_per_token: 0.0000025, output_cost_per_token: 0.00001}
keys:
  - name: bench
    key_sha256: $(printf bench | sha256sum | cut -d' ' -f1)
    rpm: 100000000
    tpm: 1000000000
    max_parallel: 100000
    budget_usd: 1000000
    budget_period: 1d
sllmp:
  workers: 2
  threads: 16
  log_level: warn
  access_log: off
  redis:
    url: redis://127.0.0.1:$REDIS_PORT/0
  spool:
    dir: $work/spool-$variant
    fsync: $fsync
EOF
        if start_sllmp "sllmp-$variant" "$work/$variant.yaml"; then
            run_wrk $variant "http://127.0.0.1:$S_PORT/v1/chat/completions"
            RPS[$variant]=$W_RPS P50[$variant]=$W_P50 P99[$variant]=$W_P99 ERRS[$variant]=$W_ERR
            if [ $variant = full ]; then
                FULL_SPENT=$("$CLI" usage "$work/full.yaml" 2>&1 | grep '^key:bench' |
                             sed 's/.*: requests \([0-9]*\), spent \$\([0-9.]*\).*/\1 requests, $\2 spent/')
                log "bench: full pipeline: the key's window says $FULL_SPENT"
            fi
            SPOOLED[$variant]=$(find "$work/spool-$variant/new" -type f | wc -l)
            log "bench: $variant: ${SPOOLED[$variant]} trace records in the spool"
            show_logs
            stop_sllmp
            # the spool stays until the bench ends: deleting tens of thousands of files here
            # would slow the next run's inode allocation (see README.md), an artefact of order
        else
            failed=1
        fi
    done
    stop_pid $REDIS_PID
fi

# ---- 2 and 3: streaming ----
TTFT_DIRECT="" TTFT_SLLMP="" STREAMRES=""
PEAK_RSS_KB="" BASE_RSS_KB="" LIGHTTPD_PEAK_KB=""
if [ $sllmp_ok = 1 ]; then
    start_fastmock fastmock-ttft --chunks 5 --delay-ms 1 || exit 1
    TTFT_MOCK=$FM_PORT
    cat >"$work/stream.yaml" <<EOF
model_list:
$(bench_model bench "$MOCK")
$(bench_model bench-ttft "$TTFT_MOCK")
sllmp:
  workers: $STREAM_WORKERS
  threads: $STREAM_THREADS
  log_level: warn
EOF
    if start_sllmp sllmp-stream "$work/stream.yaml"; then
        master=$(cat "$S_RUNDIR/sllmp.pid")
        # TTFT: sequential streams alternating direct / through sllmp (both see the same
        # machine), after a short warm-up.
        ttft_args=(--port "$TTFT_MOCK" --label ttft-direct --port2 "$S_PORT" --model2 bench-ttft
                   --label2 ttft-sllmp)
        "$bin/streamcli" "${ttft_args[@]}" --requests 60 --timeout-s 10 >/dev/null
        "$bin/streamcli" "${ttft_args[@]}" --requests $((2 * TTFT_N)) --timeout-s 30 >"$work/ttft.txt"
        TTFT_DIRECT=$(grep 'label=ttft-direct' "$work/ttft.txt")
        TTFT_SLLMP=$(grep 'label=ttft-sllmp' "$work/ttft.txt")
        log "bench: $TTFT_DIRECT"
        log "bench: $TTFT_SLLMP"

        # 1,000 concurrent streams, with an RSS sampler on the pool.
        BASE_RSS_KB=$(tree_rss "$master")
        lpid=$(cat "$S_RUNDIR/lighttpd.pid" 2>/dev/null || echo 0)
        (
            peak=0 lpeak=0
            while :; do
                r=$(tree_rss "$master"); [ "$r" -gt "$peak" ] && peak=$r
                l=$(ps -o rss= -p "$lpid" 2>/dev/null | tr -d ' '); l=${l:-0}
                [ "$l" -gt "$lpeak" ] && lpeak=$l
                echo "$peak $lpeak" >"$work/rss.peak"
                sleep 0.1
            done
        ) &
        SAMPLER=$!
        pids+=($SAMPLER)
        STREAMRES=$("$bin/streamcli" --port "$S_PORT" --model bench --conns "$STREAMS" \
                    --requests "$STREAMS" --timeout-s 40 --label streams)
        stop_pid $SAMPLER
        read -r PEAK_RSS_KB LIGHTTPD_PEAK_KB <"$work/rss.peak"
        log "bench: $STREAMRES"
        log "bench: pool RSS before ${BASE_RSS_KB} kB, peak ${PEAK_RSS_KB} kB; lighttpd peak ${LIGHTTPD_PEAK_KB} kB"
        kill -0 "$S_PID" 2>/dev/null || log "bench: the sllmp stack died during the stream runs"
        show_logs
        stop_sllmp
    else
        failed=1
    fi
fi

# ---- 4: the spool's write path alone, and the uploader draining it ----
SPOOLBENCH_OUT="" DRAIN_OUT=""
if [ -n "${SPOOLBENCH:-}" ] && [ -x "$SPOOLBENCH" ]; then
    if SPOOLBENCH_OUT=$("$SPOOLBENCH" "$work" 16 500 2048); then
        log "bench: $SPOOLBENCH_OUT"
    else
        log "bench: spoolbench failed"
        failed=1
    fi
    rm -rf "$work"/spool-fsync*
fi
if [ $sllmp_ok = 1 ] && [ -f "$here/upload_drain.py" ]; then
    DRAIN_OUT=$(SLLMP_CLI="$CLI" python3 "$here/upload_drain.py" \
                --records "${BENCH_DRAIN_RECORDS:-100000}" 2>"$work/drain.log" |
                grep '^upload drain:' | sed 's/^upload drain: //')
    [ -n "$DRAIN_OUT" ] || { log "bench: the upload drain failed:"; tail -5 "$work/drain.log" >&2; }
fi

# ---- report ----
kv() { sed -n "s/.*\b$2=\([^ ]*\).*/\1/p" <<<"$1"; }   # kv LINE KEY
verdict() { if [ "$1" = 1 ]; then echo PASS; else echo MISS; fi; }
fmt_ms() { awk -v u="$1" 'BEGIN { printf "%.3f", u / 1000 }'; }

echo
printf '%-28s %10s %10s %10s %8s\n' target req/s "p50 ms" "p99 ms" errors
for t in direct nginx nginx_plain sllmp apache full full_nofsync null; do
    case $t in
        direct) label="fastmock (direct)" ;;
        nginx) label="nginx -> fastmock" ;;
        nginx_plain) label="  plain proxy_pass" ;;
        sllmp) label="lighttpd+sllmp -> fastmock" ;;
        apache) label="apache+sllmp -> fastmock" ;;
        full) label="  + key, limits, cost, trace" ;;
        full_nofsync) label="  the same, spool not synced" ;;
        null) label="lighttpd -> null FastCGI" ;;
    esac
    if [ -n "${RPS[$t]:-}" ]; then
        printf '%-28s %10s %10s %10s %8s\n' "$label" "${RPS[$t]}" "${P50[$t]}" "${P99[$t]}" "${ERRS[$t]}"
    else
        printf '%-28s %10s\n' "$label" "not run"
    fi
done
ratio=""
if [ -n "${RPS[sllmp]:-}" ] && [ -n "${RPS[nginx]:-}" ] && [ "${RPS[nginx]}" -gt 0 ]; then
    ratio=$(awk -v a="${RPS[sllmp]}" -v b="${RPS[nginx]}" 'BEGIN { printf "%.2f", a / b }')
    echo "sllmp / nginx req/s: $ratio (target >= 0.45)"
fi
if [ -n "${RPS[null]:-}" ] && [ -n "${RPS[nginx]:-}" ] && [ "${RPS[nginx]}" -gt 0 ]; then
    echo "ceiling: lighttpd -> null FastCGI responder / nginx: $(awk -v a="${RPS[null]}" -v b="${RPS[nginx]}" 'BEGIN { printf "%.2f", a / b }')"
fi

echo
echo "==== sllmp bench summary ($(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, ${SECONDS_RUN}s x $CONN conns) ===="
for t in direct nginx nginx_plain null sllmp apache full full_nofsync; do
    [ -n "${RPS[$t]:-}" ] && printf '  %-22s %8s req/s  p50 %7s ms  p99 %7s ms  errors %s\n' \
        "$t" "${RPS[$t]}" "${P50[$t]}" "${P99[$t]}" "${ERRS[$t]}"
done
if [ -n "$ratio" ]; then
    ok=$(awk -v r="$ratio" 'BEGIN { print (r >= 0.45) }')
    printf '  %-22s %8s          target >= 0.45        %s\n' "sllmp/nginx" "$ratio" "$(verdict "$ok")"
    [ -n "${RPS[null]:-}" ] && printf '  %-22s %8s          (null FastCGI responder / nginx: the ceiling)\n' "null/nginx" \
        "$(awk -v a="${RPS[null]}" -v b="${RPS[nginx]}" 'BEGIN { printf "%.2f", a / b }')"
    [ -n "${RPS[nginx_plain]:-}" ] && [ "${RPS[nginx_plain]}" -gt 0 ] &&
        printf '  %-22s %8s          (against nginx plain proxy_pass, a new upstream connection a request)\n' \
            "sllmp/nginx_plain" "$(awk -v a="${RPS[sllmp]}" -v b="${RPS[nginx_plain]}" 'BEGIN { printf "%.2f", a / b }')"
    [ -n "${RPS[apache]:-}" ] && printf '  %-22s %8s          (the same pool behind Apache mod_proxy_fcgi)\n' \
        "apache+sllmp/nginx" "$(awk -v a="${RPS[apache]}" -v b="${RPS[nginx]}" 'BEGIN { printf "%.2f", a / b }')"
    [ -n "${UPSTREAM:-}" ] && printf '  %-22s %s\n' "sllmp upstream" "$UPSTREAM"
    [ "${ERRS[sllmp]}" = 0 ] || echo "  sllmp answered ${ERRS[sllmp]} requests with errors (see wrk output above)"
else
    echo "  sllmp/nginx            not measured                          MISS"
fi
if [ -n "${RPS[full]:-}" ] && [ -n "${RPS[nginx]:-}" ] && [ "${RPS[nginx]}" -gt 0 ]; then
    fr=$(awk -v a="${RPS[full]}" -v b="${RPS[nginx]}" 'BEGIN { printf "%.2f", a / b }')
    printf '  %-22s %8s          target >= 0.25        %s   (key, Redis limits, cost, trace record synced)\n' \
        "full pipeline/nginx" "$fr" "$(verdict "$(awk -v r="$fr" 'BEGIN { print (r >= 0.25) }')")"
    if [ -n "${RPS[full_nofsync]:-}" ]; then
        fr2=$(awk -v a="${RPS[full_nofsync]}" -v b="${RPS[nginx]}" 'BEGIN { printf "%.2f", a / b }')
        printf '  %-22s %8s          target >= 0.35        %s   (the same, spool not synced)\n' \
            "full, no fsync/nginx" "$fr2" "$(verdict "$(awk -v r="$fr2" 'BEGIN { print (r >= 0.35) }')")"
    fi
    [ -n "${FULL_SPENT:-}" ] && printf '  %-22s %s (key, limits and cost on)\n' "" "$FULL_SPENT"
    for v in full full_nofsync; do
        [ -n "${SPOOLED[$v]:-}" ] && printf '  %-22s %s trace records spooled for %s\n' "" "${SPOOLED[$v]}" "$v"
    done
    [ "${ERRS[full]}" = 0 ] || echo "  the full pipeline answered ${ERRS[full]} requests with errors"
else
    echo "  full pipeline/nginx    not measured                          MISS"
fi
if [ -n "$TTFT_DIRECT" ] && [ -n "$TTFT_SLLMP" ]; then
    d50=$(kv "$TTFT_DIRECT" ttft_p50_us) d99=$(kv "$TTFT_DIRECT" ttft_p99_us)
    s50=$(kv "$TTFT_SLLMP" ttft_p50_us) s99=$(kv "$TTFT_SLLMP" ttft_p99_us)
    a50=$((s50 - d50)) a99=$((s99 - d99))
    printf '  %-22s direct p50 %s / p99 %s ms, via sllmp p50 %s / p99 %s ms\n' "TTFT" \
        "$(fmt_ms "$d50")" "$(fmt_ms "$d99")" "$(fmt_ms "$s50")" "$(fmt_ms "$s99")"
    ok=$(( a99 <= 2000 && $(kv "$TTFT_SLLMP" errors) == 0 ))
    printf '  %-22s p50 %s ms, p99 %s ms   target p99 <= 2 ms   %s\n' "added TTFT" \
        "$(fmt_ms "$a50")" "$(fmt_ms "$a99")" "$(verdict $ok)"
    [ "$(kv "$TTFT_SLLMP" errors)" = 0 ] || echo "  TTFT run through sllmp had errors: $TTFT_SLLMP"
else
    echo "  added TTFT             not measured                          MISS"
fi
if [ -n "$STREAMRES" ]; then
    okn=$(kv "$STREAMRES" ok) errn=$(kv "$STREAMRES" errors)
    printf '  %-22s %s/%s completed, %s errors (connect %s, http %s, incomplete %s, error event %s, timeout %s)   %s\n' \
        "$STREAMS streams" "$okn" "$STREAMS" "$errn" "$(kv "$STREAMRES" connect_err)" \
        "$(kv "$STREAMRES" http_err)" "$(kv "$STREAMRES" incomplete)" "$(kv "$STREAMRES" error_event)" \
        "$(kv "$STREAMRES" timeout)" "$(verdict $((errn == 0)))"
    printf '  %-22s TTFT p50 %s / p99 %s ms, stream p50 %s / p99 %s ms, wall %s ms\n' "" \
        "$(fmt_ms "$(kv "$STREAMRES" ttft_p50_us)")" "$(fmt_ms "$(kv "$STREAMRES" ttft_p99_us)")" \
        "$(fmt_ms "$(kv "$STREAMRES" total_p50_us)")" "$(fmt_ms "$(kv "$STREAMRES" total_p99_us)")" \
        "$(kv "$STREAMRES" wall_ms)"
    mb=$(awk -v k="$PEAK_RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }')
    printf '  %-22s %s MB (idle %s MB; lighttpd peak %s MB)   target < 300 MB   %s\n' "peak pool RSS" "$mb" \
        "$(awk -v k="$BASE_RSS_KB" 'BEGIN { printf "%.1f", k / 1024 }')" \
        "$(awk -v k="$LIGHTTPD_PEAK_KB" 'BEGIN { printf "%.1f", k / 1024 }')" \
        "$(verdict "$(awk -v k="$PEAK_RSS_KB" 'BEGIN { print (k > 0 && k < 300 * 1024) }')")"
else
    echo "  $STREAMS streams          not measured                          MISS"
    echo "  peak pool RSS          not measured                          MISS"
fi
if [ -n "$SPOOLBENCH_OUT" ]; then
    while read -r line; do
        printf '  %-22s fsync %s: %s records/s, p50 %s us, p99 %s us a record (%s threads, %s bytes)\n' \
            "spool write" "$(kv "$line" fsync | sed 's/1/on /; s/0/off/')" "$(kv "$line" rec_per_s)" \
            "$(kv "$line" p50_us)" "$(kv "$line" p99_us)" "$(kv "$line" threads)" "$(kv "$line" bytes)"
    done <<<"$SPOOLBENCH_OUT"
else
    echo "  spool write            not measured"
fi
if [ -n "$DRAIN_OUT" ]; then
    # "100000 records in 33.8s = 2960 records/s (otel, 128 requests) ok": ok = all arrived < 60 s
    printf '  %-22s %s   target: 100,000 in < 60 s   %s\n' "sllmp upload" "${DRAIN_OUT% *}" \
        "$(verdict "$(case "$DRAIN_OUT" in *" ok") echo 1 ;; *) echo 0 ;; esac)")"
else
    echo "  sllmp upload drain     not measured                          MISS"
fi
echo "===="
[ $failed = 0 ] || log "bench: something failed to start (see above)"
exit $failed
