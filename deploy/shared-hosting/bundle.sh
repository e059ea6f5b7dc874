#!/usr/bin/env bash
# A folder to upload to shared hosting: sllmp.fcgi, the sllmp CLI and lib/ with every shared
# library they load except glibc's own, so they run on a host without the -dev packages.
#
#   deploy/shared-hosting/bundle.sh [--strip] [OUTDIR]      (make bundle runs it)
#
# OUTDIR defaults to build/bundle/sllmp. Both binaries are built apart, in $BUNDLE_BUILD
# (default build/bundle/obj), linked with DT_RPATH $ORIGIN/lib: the loader looks in lib/ next
# to the binary first, for the binary's own libraries and (DT_RPATH, unlike DT_RUNPATH) for
# theirs too, wherever the folder is moved. lib/ gets real files (no symlinks) named by the
# SONAME the loader asks for. glibc (libc, libm, libpthread, libdl, librt, libresolv, libutil,
# libnss_*, ld-linux) and the vdso come from the host: README.txt says the oldest glibc that
# works (the highest GLIBC_x.y version any file references); MANIFEST lists what was bundled.
# --strip strips the two binaries (Debian's libraries are stripped already).
#
# Environment: MAKE (default make), BUNDLE_BUILD, LDFLAGS (added to the rpath flags).

set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$top"

strip=0
out=
for a in "$@"; do
    case $a in
        --strip) strip=1 ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "bundle.sh: unknown option $a" >&2; exit 2 ;;
        *) [ -z "$out" ] || { echo "bundle.sh: one OUTDIR only" >&2; exit 2; }; out=$a ;;
    esac
done
out=${out:-build/bundle/sllmp}
build=${BUNDLE_BUILD:-build/bundle/obj}
make=${MAKE:-make}

die() { echo "bundle.sh: $*" >&2; exit 1; }
for t in ldd readelf objdump; do
    command -v "$t" >/dev/null || die "$t not found (binutils / libc-bin)"
done

# The glibc family and the vdso: never bundled (they must match the host's kernel and ld.so).
is_glibc() {
    case $1 in
        ld-linux*|ld64.so*|linux-vdso.so*|linux-gate.so*) return 0 ;;
        libc.so.*|libm.so.*|libmvec.so.*|libpthread.so.*|libdl.so.*|librt.so.*) return 0 ;;
        libresolv.so.*|libutil.so.*|libanl.so.*|libnss_*|libBrokenLocale.so.*) return 0 ;;
        libthread_db.so.*|libc_malloc_debug.so.*) return 0 ;;
    esac
    return 1
}

has_origin_rpath() {   # DT_RPATH (not DT_RUNPATH) $ORIGIN/lib
    # shellcheck disable=SC2016
    readelf -d "$1" 2>/dev/null | grep -q '(RPATH).*\[\$ORIGIN/lib\]'
}

case $out in /*) ;; *) out=$top/$out ;; esac
out=${out%/}
if [ -e "$out" ] && [ -n "$(ls -A "$out" 2>/dev/null)" ] &&
    ! head -n 1 "$out/MANIFEST" 2>/dev/null | grep -q '^# sllmp bundle:'; then
    die "$out exists and is not a bundle (no MANIFEST of ours): not replacing it"
fi

# ---- build: make's own rules, in a build dir of its own, only LDFLAGS differ.
# Through make then the shell: $$ -> $, and the single quotes keep the shell off $ORIGIN.
rpath="-Wl,-rpath,'\$\$ORIGIN/lib' -Wl,--disable-new-dtags"
jobs=()
case " ${MAKEFLAGS:-} " in
    *jobserver*|*" -j"*|*" j"*) ;;                     # under make -j: share its job slots
    *) jobs=(-j"$(nproc 2>/dev/null || echo 2)") ;;
esac
# Two bundles at once from one checkout (two test runs, a test run and a user) share the
# objects: one builds at a time (the lock is held to the end), the other finds them done.
mkdir -p "$build"
if command -v flock >/dev/null; then
    exec 9>"$build/.lock"
    flock 9
fi
for b in "$build/sllmp.fcgi" "$build/sllmp"; do   # linked before without the rpath: relink
    if [ -e "$b" ] && ! has_origin_rpath "$b"; then rm -f "$b"; fi
done
"$make" --no-print-directory ${jobs[@]+"${jobs[@]}"} BUILD="$build" \
    "LDFLAGS=${LDFLAGS:+$LDFLAGS }$rpath" "$build/sllmp.fcgi" "$build/sllmp"
for b in "$build/sllmp.fcgi" "$build/sllmp"; do
    has_origin_rpath "$b" || die "$b has no DT_RPATH \$ORIGIN/lib (readelf -d $b)"
done

# ldd's "NAME => PATH (0xADDR)" lines as NAME<TAB>PATH (PATH "not found" when missing)
ldd_pairs() {
    local line re='^[[:space:]]*([^[:space:]]+) => (.+)$'
    ldd "$1" | while IFS= read -r line; do
        line=${line% (0x*)}
        [[ $line =~ $re ]] && printf '%s\t%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
    done
    return 0
}

# ---- assemble in a staging dir next to OUTDIR, then swap it in
mkdir -p "$(dirname "$out")"
stage=$(mktemp -d "$(dirname "$out")/.bundle.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/lib"
install -m 0755 "$build/sllmp.fcgi" "$stage/sllmp.fcgi"
install -m 0755 "$build/sllmp" "$stage/sllmp"
if [ "$strip" = 1 ]; then
    strip --strip-unneeded "$stage/sllmp.fcgi" "$stage/sllmp"
fi

# ldd gives the whole closure as the loader resolves it (here from the system: the freshly
# built binaries' $ORIGIN/lib does not exist yet). NAME => PATH, NAME being what is asked for.
declare -A src=()
for b in sllmp.fcgi sllmp; do
    while IFS=$'\t' read -r name path; do
        is_glibc "$name" && continue
        [ "$path" != "not found" ] || die "$b: $name not found"
        src[$name]=$path
    done < <(ldd_pairs "$stage/$b")
done
[ "${#src[@]}" -gt 0 ] || die "ldd found no libraries to bundle"
for name in "${!src[@]}"; do
    soname=$(readelf -d "${src[$name]}" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    [ -z "$soname" ] || [ "$soname" = "$name" ] ||
        echo "bundle.sh: warning: ${src[$name]} has SONAME $soname, copied as $name" >&2
    cp -L "${src[$name]}" "$stage/lib/$name"
    chmod 0644 "$stage/lib/$name"
done

# Check: from the staged folder, every non-glibc library resolves inside its lib/.
for b in sllmp.fcgi sllmp; do
    while IFS=$'\t' read -r name path; do
        is_glibc "$name" && continue
        [ "$path" = "$stage/lib/$name" ] || die "$b: $name resolves to $path, not lib/$name"
    done < <(ldd_pairs "$stage/$b")
done
version=$("$stage/sllmp" --version 2>/dev/null | head -n1) || die "the bundled sllmp does not run"

# The newest glibc symbol version anything references (GLIBC_ABI_DT_RELR means 2.36).
glibc_max=0 glibc_by=
for f in "$stage/sllmp.fcgi" "$stage/sllmp" "$stage"/lib/*; do
    v=$(objdump -p "$f" | sed -n '/^Version References:/,$p' |
        grep -oE 'GLIBC_([0-9]+\.[0-9.]+|ABI_DT_RELR)' | sed 's/GLIBC_//; s/ABI_DT_RELR/2.36/' |
        sort -V | tail -n1) || true
    [ -n "$v" ] || continue
    if [ "$(printf '%s\n%s\n' "$glibc_max" "$v" | sort -V | tail -n1)" = "$v" ] &&
        [ "$v" != "$glibc_max" ]; then
        glibc_max=$v glibc_by=${f#"$stage"/}
    fi
done
glibc_here=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}') || glibc_here=
arch=$(uname -m)
os=$( (. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-}") || true)
ca=$(curl-config --ca 2>/dev/null || true)

pkg_of() {   # the Debian package and version that shipped a file, if dpkg knows it
    command -v dpkg >/dev/null || return 0
    local p real
    real=$(readlink -f "$1")
    for q in "$1" "$real" "${real#/usr}" "/usr$real"; do
        p=$(dpkg -S "$q" 2>/dev/null | head -n1 | cut -d: -f1) && [ -n "$p" ] && break
    done
    [ -n "$p" ] || return 0
    printf '%s %s' "$p" "$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null)"
}

total=$(du -sb "$stage" | cut -f1)
{
    echo "# sllmp bundle: $version, $arch, built $(date -u +%Y-%m-%dT%H:%M:%SZ) on ${os:-unknown}"
    echo "# needs glibc >= $glibc_max (GLIBC_$glibc_max, referenced by $glibc_by)"
    echo "# file  bytes  sha256  copied-from  package"
    for f in sllmp.fcgi sllmp; do
        printf '%s  %s  %s  %s\n' "$f" "$(stat -c %s "$stage/$f")" \
            "$(sha256sum "$stage/$f" | cut -d' ' -f1)" "$build/$f"
    done
    for name in $(printf '%s\n' "${!src[@]}" | sort); do
        printf '%s  %s  %s  %s  %s\n' "lib/$name" "$(stat -c %s "$stage/lib/$name")" \
            "$(sha256sum "$stage/lib/$name" | cut -d' ' -f1)" "$(readlink -f "${src[$name]}")" \
            "$(pkg_of "${src[$name]}")"
    done
    echo "# total $total bytes"
} >"$stage/MANIFEST"

{
    cat <<EOF
$version for shared hosting ($arch, Linux)
Built on ${os:-unknown} (glibc ${glibc_here:-?}).

Needs glibc $glibc_max or newer on the host (the highest GLIBC_x.y symbol version
referenced, by $glibc_by). Compare with the host's:
    ldd --version | head -n1        or        getconf GNU_LIBC_VERSION

Upload the whole folder and keep lib/ next to the two programs:
    sllmp.fcgi   the gateway: a FastCGI responder, or a plain CGI program when the server
                 starts it without a FastCGI socket
    sllmp        the command line: \`sllmp check\`, and \`sllmp upload\` for the cron job
    lib/         the shared libraries they need besides glibc; the programs find them by
                 their rpath \$ORIGIN/lib (the folder they are in + /lib), wherever it is
    MANIFEST     every file with its size, SHA-256 and where it was copied from

The loader learns that folder from /proc/self/exe: in a jail without /proc, set
LD_ORIGIN_PATH to the folder's absolute path in the programs' environment.

Taken from the host, not bundled: glibc (libc, libm, libpthread, libdl, librt, libresolv,
libutil, libnss_*, ld-linux) and the kernel's vdso.
EOF
    if [ -n "$ca" ]; then
        cat <<EOF

TLS: the bundled libcurl's default CA file is $ca. Where a host
lacks it, sllmp uses the first of /etc/pki/tls/certs/ca-bundle.crt (RHEL, CloudLinux, Alma),
/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem, /etc/ssl/ca-bundle.pem (SUSE) and
/etc/ssl/cert.pem that exists; `sllmp.ca_file: /path/to/cacert.pem` names one outright
(`sllmp check` prints which is used).
EOF
    fi
    echo
    echo "Bundled libraries ($(ls "$stage/lib" | wc -l), $total bytes in all with the programs):"
    ls "$stage/lib" | sed 's/^/    /'
} >"$stage/README.txt"

chmod 0755 "$stage"
rm -rf "$out"
mv "$stage" "$out"
trap - EXIT
echo "bundle: $out ($version, $(ls "$out/lib" | wc -l) libraries, $((total / 1024)) KiB," \
    "needs glibc >= $glibc_max)"
