#!/usr/bin/env bash
# c-libs-check.sh: fail if the full build links a shared C library whose
# Debian package is not on the written allowlist scripts/c-libraries.allow
# (package, licence taken, why).
#
# It builds helios-store (cgo, RocksDB) into a temporary directory, lists
# the shared libraries it loads with ldd (transitively: RocksDB's own
# compression libraries, gflags, the C++ runtime), maps each file to its
# Debian package with dpkg -S, and looks the package up in the allowlist.
# A library no package owns fails too: its licence is unknown.
#
# Usage: scripts/c-libs-check.sh [binary]   (exit 1 on an unlisted library)
set -euo pipefail
cd "$(dirname "$0")/.."
allow=${C_LIBS_ALLOW:-scripts/c-libraries.allow}

bin=${1:-}
if [ -z "$bin" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	bin=$tmp/helios-store
	go build -o "$bin" ./cmd/helios
fi

# The packages on the allowlist: the first field of each non-comment line.
allowed=$(sed -e 's/#.*//' -e 's/|.*//' -e 's/[[:space:]]*$//' -e 's/^[[:space:]]*//' "$allow" | grep -v '^$' || true)

# owner prints the Debian package that owns library file $1. With merged
# /usr the file may be registered under /lib or /usr/lib, by link or target.
owner() {
	local f=$1 r p
	r=$(readlink -f "$f")
	for p in "$f" "$r" "/usr$f" "${f#/usr}" "/usr$r" "${r#/usr}"; do
		if out=$(dpkg -S "$p" 2>/dev/null); then
			# "pkg:arch: /path" (or "pkg1, pkg2: /path" for a shared path).
			echo "${out%%: *}" | tr ',' '\n' | sed -e 's/^ *//' -e 's/:.*//' | head -1
			return 0
		fi
	done
	return 1
}

libs=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
if [ -z "$libs" ]; then
	echo "c-libs-check: ldd found no shared libraries in $bin (not a cgo build?)" >&2
	exit 1
fi
fail=0 n=0
declare -A seen=()
while read -r lib; do
	n=$((n + 1))
	if ! pkg=$(owner "$lib"); then
		echo "FAIL $lib: no Debian package owns it (licence unknown)"
		fail=1
		continue
	fi
	if ! grep -qxF "$pkg" <<<"$allowed"; then
		echo "FAIL $lib: package $pkg is not in $allow"
		fail=1
		continue
	fi
	seen[$pkg]=1
done <<<"$libs"

echo "c-libs-check: $n libraries from ${#seen[@]} allowed packages (${!seen[*]})"
if [ "$fail" -ne 0 ]; then
	echo "c-libs-check: libraries outside the allowlist; read the package's copyright and add it to $allow if its licence allows" >&2
	exit 1
fi
echo "c-libs-check: ok"
