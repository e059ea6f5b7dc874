#!/usr/bin/env bash
# Runs lighttpd and a spawn-fcgi pool of sllmp.fcgi in the foreground on 127.0.0.1.
#
#   PORT          listening port (default 8080)
#   SLLMP_CONFIG  the YAML (default conf/sllmp.yaml)
#   SLLMP_RUNDIR  runtime files: sockets, logs, pid files, spool (default ./var)
#   SLLMP_FCGI    the responder binary (default build/sllmp.fcgi)
#
# Ctrl-C or SIGTERM stops everything it started. The integration tests start stacks with it
# too, on free ports, each with its own SLLMP_RUNDIR.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PORT=${PORT:-8080}
RUNDIR=${SLLMP_RUNDIR:-$top/var}
CONF=${SLLMP_CONFIG:-$top/conf/sllmp.yaml}
FCGI=${SLLMP_FCGI:-$top/build/sllmp.fcgi}
CLI=${SLLMP_CLI:-$top/build/sllmp}

mkdir -p "$RUNDIR"/log "$RUNDIR"/www "$RUNDIR"/tmp "$RUNDIR"/spool
RUNDIR=$(cd "$RUNDIR" && pwd)
case "$CONF" in /*) ;; *) CONF=$(pwd)/$CONF ;; esac

# Refuse to start on a bad config, with its file:line:column, before anything listens.
"$CLI" check "$CONF" >"$RUNDIR/log/check.txt" || { cat "$RUNDIR/log/check.txt" >&2; exit 1; }

sed -e "s|@PORT@|$PORT|g" -e "s|@RUNDIR@|$RUNDIR|g" -e "s|@CONF@|$CONF|g" \
    "$top/deploy/lighttpd/local.conf.in" >"$RUNDIR/lighttpd.conf"

export SLLMP_CONFIG=$CONF SLLMP_RUNDIR=$RUNDIR

pids=()
stop() {
    trap - INT TERM EXIT
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

# -n: spawn-fcgi binds the socket and execs sllmp.fcgi in place, so $! is the pool's master.
spawn-fcgi -n -s "$RUNDIR/sllmp.sock" -M 0600 -- "$FCGI" &
pids+=($!)
echo "${pids[0]}" >"$RUNDIR/sllmp.pid"

for _ in $(seq 100); do [ -S "$RUNDIR/sllmp.sock" ] && break; sleep 0.05; done

lighttpd -D -f "$RUNDIR/lighttpd.conf" &
pids+=($!)
echo "${pids[1]}" >"$RUNDIR/lighttpd.pid"

echo "sllmp: listening on http://127.0.0.1:$PORT (config $CONF, runtime files in $RUNDIR)" >&2
# Whichever of the two stops first stops the other.
wait -n
