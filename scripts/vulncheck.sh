#!/usr/bin/env bash
# vulncheck.sh: govulncheck against a vulnerability database built offline.
#
# This machine reaches the Go module proxy but not vuln.go.dev, so the
# database comes from the golang.org/x/vulndb module (its data/osv/*.json,
# the same OSV entries vuln.go.dev serves), indexed with vulndb's own
# cmd/indexdb into .cache/vulndb, and govulncheck reads it with -db file://.
# Pin both versions so that runs are reproducible; bump VULNDB_VERSION to
# learn of new vulnerabilities.
#
# Exit status: govulncheck's (3 when a vulnerability is reachable from our
# code, which fails the build); 2 if the tools or database cannot be had.
# "No known vulnerabilities" here means: no vulnerability in the pinned
# database is reachable (symbol level) from ./..., with this toolchain.
# The C libraries (librocksdb, liburing) are Debian packages: keep them at
# Debian's current security versions (apt-get upgrade); govulncheck does
# not see them.
set -euo pipefail
cd "$(dirname "$0")/.."

GOVULNCHECK_VERSION=${GOVULNCHECK_VERSION:-v1.9.0}
VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
DB=${VULNDB_DIR:-$PWD/.cache/vulndb-$VULNDB_VERSION}

if [ ! -f "$DB/index/db.json" ]; then
	echo "vulncheck: building the vulnerability database $VULNDB_VERSION in $DB" >&2
	src=$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	if [ -z "$src" ] || [ ! -d "$src/data/osv" ]; then
		echo "vulncheck: cannot download golang.org/x/vulndb@$VULNDB_VERSION" >&2
		exit 2
	fi
	mkdir -p "$DB"
	go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$DB" || {
		echo "vulncheck: indexing the database failed" >&2
		exit 2
	}
fi

echo "vulncheck: $(go version), database $VULNDB_VERSION" >&2
exec go run "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION" -db "file://$DB" "$@" ./...
