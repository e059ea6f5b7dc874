#!/usr/bin/env bash
# Runs a web server and sllmp in the foreground on 127.0.0.1.
#
#   SERVER        lighttpd          lighttpd + a spawn-fcgi pool (the default)
#                 lighttpd-binpath  lighttpd starting the pool itself (bin-path)
#                 apache            Apache mod_proxy_fcgi + a spawn-fcgi pool
#                 apache-fcgid      Apache mod_fcgid, shared-hosting layout: a user directory
#                                   (/~alice/) with only deploy/shared-hosting/public_html
#                 apache-cgi        the same user directory without mod_fcgid: plain CGI
#   PORT          listening port (default 8080)
#   SLLMP_CONFIG  the YAML (default conf/sllmp.yaml)
#   SLLMP_RUNDIR  runtime files: sockets, logs, pid files, spool (default ./var)
#   SLLMP_FCGI    the responder binary (default build/sllmp.fcgi)
#   SLLMP_FCGID_DEFAULTS=1  apache-fcgid without the admin's streaming settings
#   SLLMP_VHOST_ONLY=1      the spawn-fcgi pool starts without SLLMP_CONFIG: only the vhost
#                           names the YAML, as when one pool serves several vhosts
#
# Ctrl-C or SIGTERM stops everything it started. The integration tests start stacks with it
# too, on free ports, each with its own SLLMP_RUNDIR. Run as root, Apache serves as `nobody`,
# as a host's Apache serves as its own user, and the user directory belongs to `nobody`.
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PORT=${PORT:-8080}
RUNDIR=${SLLMP_RUNDIR:-$top/var}
CONF=${SLLMP_CONFIG:-$top/conf/sllmp.yaml}
FCGI=${SLLMP_FCGI:-$top/build/sllmp.fcgi}
CLI=${SLLMP_CLI:-$top/build/sllmp}

mkdir -p "$RUNDIR"/log "$RUNDIR"/www "$RUNDIR"/tmp
( umask 077; mkdir -p "$RUNDIR"/spool )   # the traces: 0700, as the gateway makes its own
RUNDIR=$(cd "$RUNDIR" && pwd)
case "$CONF" in /*) ;; *) CONF=$(pwd)/$CONF ;; esac

# Refuse to start on a bad config, with its file:line:column, before anything listens.
"$CLI" check "$CONF" >"$RUNDIR/log/check.txt" || { cat "$RUNDIR/log/check.txt" >&2; exit 1; }

export SLLMP_CONFIG=$CONF SLLMP_RUNDIR=$RUNDIR
SERVER=${SERVER:-lighttpd}
APACHE=${APACHE:-$(command -v apache2 || command -v httpd || echo /usr/sbin/apache2)}
subst() {
    sed -e "s|@PORT@|$PORT|g" -e "s|@RUNDIR@|$RUNDIR|g" -e "s|@CONF@|$CONF|g" \
        -e "s|@FCGI@|$FCGI|g" -e "s|@TOP@|$top|g" "$@"
}

pids=()
stop() {
    trap - INT TERM EXIT
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

# -n: spawn-fcgi binds the socket and execs sllmp.fcgi in place, so $! is the pool's master.
start_pool() {
    local env=()
    [ "${SLLMP_VHOST_ONLY:-}" = 1 ] && env=(-u SLLMP_CONFIG)
    env "${env[@]}" spawn-fcgi -n -s "$RUNDIR/sllmp.sock" "$@" -- "$FCGI" &
    pids+=($!)
    echo "$!" >"$RUNDIR/sllmp.pid"
    for _ in $(seq 100); do [ -S "$RUNDIR/sllmp.sock" ] && break; sleep 0.05; done
}

case $SERVER in
lighttpd | lighttpd-binpath)
    subst "$top/deploy/lighttpd/local.conf.in" >"$RUNDIR/lighttpd.conf"
    if [ "$SERVER" = lighttpd ]; then
        subst "$top/deploy/lighttpd/local-pool.conf.in" >"$RUNDIR/lighttpd-backend.conf"
        start_pool -M 0600
    else
        rm -f "$RUNDIR/sllmp.pid"
        subst "$top/deploy/lighttpd/local-binpath.conf.in" >"$RUNDIR/lighttpd-backend.conf"
    fi
    lighttpd -D -f "$RUNDIR/lighttpd.conf" &
    pids+=($!)
    echo "$!" >"$RUNDIR/lighttpd.pid"
    echo "$!" >"$RUNDIR/server.pid"
    base=/
    ;;
apache | apache-fcgid | apache-cgi)
    command -v "$APACHE" >/dev/null || { echo "run.sh: no Apache ($APACHE): apt-get install apache2 libapache2-mod-fcgid" >&2; exit 1; }
    mkdir -p "$RUNDIR/apache"
    user=
    if [ "$(id -u)" = 0 ]; then
        user=nobody
        chmod o+x "$RUNDIR"   # ours; the spool within stays 0700
        runuser -u nobody -- test -x "$RUNDIR" || {
            echo "run.sh: Apache runs as nobody, who cannot reach $RUNDIR (chmod o+x its parents)" >&2
            exit 1; }
        printf 'User nobody\nGroup %s\n' "$(id -gn nobody)" >"$RUNDIR/apache-user.conf"
    else
        : >"$RUNDIR/apache-user.conf"
    fi
    # Variables a host's admin would hand to the programs (FcgidInitialEnv for mod_fcgid's
    # processes, PassEnv for CGI): the runtime dir and provider keys named in the YAML.
    ( umask 077; : >"$RUNDIR/apache-env.conf" )   # it may hold provider keys
    for v in SLLMP_RUNDIR MOCK_UPSTREAM_KEY OPENAI_API_KEY ANTHROPIC_API_KEY; do
        [ -n "${!v:-}" ] || continue
        printf '<IfModule mod_fcgid.c>\n    FcgidInitialEnv %s "%s"\n</IfModule>\nPassEnv %s\n' \
            "$v" "${!v}" "$v" >>"$RUNDIR/apache-env.conf"
    done
    defs=(-DFOREGROUND)
    if [ "$SERVER" = apache ]; then
        defs+=(-DSLLMP_PROXY)
        start_pool -M 0660 ${user:+-U "$user" -G "$(id -gn "$user")"}
        base=/
    else
        # The user's web space, exactly as they would upload it: the .htaccess and the binary.
        web=$RUNDIR/home/alice/public_html
        mkdir -p "$web"
        sed -e "s|/home/alice/sllmp/sllmp.yaml|$CONF|" \
            "$top/deploy/shared-hosting/public_html/.htaccess" >"$web/.htaccess"
        cp "$FCGI" "$web/sllmp.fcgi"
        # a bundle (make bundle) brings the command-line tool and its libraries
        if [ -d "$(dirname "$FCGI")/lib" ]; then
            cp -r "$(dirname "$FCGI")/lib" "$web/"
            cp "$(dirname "$FCGI")/sllmp" "$web/sllmp"
        fi
        if [ "$SERVER" = apache-fcgid ]; then
            defs+=(-DSLLMP_USERDIR -DSLLMP_FCGID)
            [ -n "${SLLMP_FCGID_DEFAULTS:-}" ] && defs+=(-DSLLMP_FCGID_DEFAULTS)
        else
            defs+=(-DSLLMP_USERDIR -DSLLMP_CGI)
        fi
        # the host's Apache user owns the web space; the gateway writes its runtime files
        [ -n "$user" ] && chown -R "$user:$(id -gn "$user")" "$RUNDIR/home" &&
            chown "$user" "$RUNDIR" "$RUNDIR/spool"
        base=/~alice/
    fi
    subst "$top/deploy/apache/local.conf.in" >"$RUNDIR/apache.conf"
    "$APACHE" -t -f "$RUNDIR/apache.conf" "${defs[@]}" 2>"$RUNDIR/log/apache-check.txt" ||
        { cat "$RUNDIR/log/apache-check.txt" >&2; exit 1; }
    # Apache's parent: stopped by SIGTERM (or SIGWINCH: graceful stop), SIGUSR1 = graceful restart.
    "$APACHE" -f "$RUNDIR/apache.conf" "${defs[@]}" &
    pids+=($!)
    echo "$!" >"$RUNDIR/server.pid"
    ;;
*)
    echo "run.sh: unknown SERVER=$SERVER (lighttpd, lighttpd-binpath, apache, apache-fcgid, apache-cgi)" >&2
    exit 2
    ;;
esac
echo "sllmp: $SERVER listening on http://127.0.0.1:$PORT$base (config $CONF, runtime files in $RUNDIR)" >&2
# Whichever stops first stops the rest.
wait -n
