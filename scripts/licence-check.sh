#!/usr/bin/env bash
# licence-check.sh: fail if any Go module this project depends on is under
# a licence we cannot ship: AGPL, GPL, LGPL, SSPL or BUSL (and fail on a
# module that has no licence file at all, since "unknown" is not "allowed").
#
# It reads the module graph with `go list -m -json all` and the licence files
# in the module cache. Modules whose packages are compiled into this module's
# packages or tests (go list -deps -test ./...) must be in the cache and
# carry a licence file; other modules in the cache are checked for forbidden
# licences, and a missing licence file there is only noted; modules of the graph that are not built and not
# downloaded are listed and skipped (nothing of them ships).
#
# C libraries linked through cgo (librocksdb: GPLv2 or Apache-2.0, we take
# Apache-2.0; liburing: MIT or LGPL, we take MIT; lz4, zstd, snappy, zlib,
# bzip2, gflags, the GCC runtime, glibc) are not Go modules: at the end
# this script runs scripts/c-libs-check.sh, which requires every shared
# library of the full build to be on the written allowlist
# scripts/c-libraries.allow. SKIP_C_LIBS=1 checks the Go modules alone.
#
# Usage: scripts/licence-check.sh            (exit 1 on a forbidden or missing licence)
set -euo pipefail
cd "$(dirname "$0")/.."

self=$(go list -m)
# Modules actually compiled (packages and tests of ./...).
built=$(go list -deps -test -f '{{with .Module}}{{.Path}}{{end}}' ./... 2>/dev/null | sort -u)

# Path, version, dir of every module of the graph, from go list -m -json all.
modules=$(go list -m -json all | awk '
	/^\t"Path":/    { gsub(/[",]/, "", $2); path = $2 }
	/^\t"Version":/ { gsub(/[",]/, "", $2); ver = $2 }
	/^\t"Dir":/     { gsub(/[",]/, "", $2); dir = $2 }
	/^}/            { print path "\t" ver "\t" dir; path = ver = dir = "" }')

forbidden='GNU AFFERO GENERAL PUBLIC LICENSE|GNU GENERAL PUBLIC LICENSE|GNU LESSER GENERAL PUBLIC LICENSE|GNU LIBRARY GENERAL PUBLIC LICENSE|Server Side Public License|Business Source License|SPDX-License-Identifier: *(AGPL|GPL|LGPL|SSPL|BUSL)'

fail=0 checked=0 skipped=0
while IFS=$'\t' read -r path ver dir; do
	[ -n "$path" ] || continue
	[ "$path" = "$self" ] && continue
	if [ -z "$dir" ] || [ ! -d "$dir" ]; then
		if grep -qxF "$path" <<<"$built"; then
			echo "FAIL $path@$ver: built but not in the module cache (run go mod download)"
			fail=1
		else
			skipped=$((skipped + 1))
		fi
		continue
	fi
	files=$(find "$dir" -maxdepth 1 -type f \( -iname 'LICEN[CS]E*' -o -iname 'COPYING*' -o -iname 'UNLICENSE' \) | sort)
	if [ -z "$files" ]; then
		if grep -qxF "$path" <<<"$built"; then
			echo "FAIL $path@$ver: no licence file in $dir"
			fail=1
		else
			echo "note $path@$ver: no licence file, but nothing of it is built (test dependency of a dependency)"
		fi
		continue
	fi
	checked=$((checked + 1))
	# shellcheck disable=SC2086
	if hit=$(grep -EIl "$forbidden" $files 2>/dev/null); then
		what=$(grep -EIoh "$forbidden" $files | sort -u | head -3 | tr '\n' ';')
		echo "FAIL $path@$ver: $what in $(basename -a $hit | tr '\n' ' ')"
		fail=1
	fi
done <<<"$modules"

echo "licence-check: $checked modules checked, $skipped not built and not downloaded (skipped)"
if [ "$fail" -ne 0 ]; then
	echo "licence-check: forbidden or missing licences found" >&2
	exit 1
fi
echo "licence-check: ok (no AGPL, GPL, LGPL, SSPL or BUSL)"
if [ "${SKIP_C_LIBS:-}" != 1 ]; then
	bash scripts/c-libs-check.sh
fi
