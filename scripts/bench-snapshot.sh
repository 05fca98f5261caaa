#!/usr/bin/env bash
# bench-snapshot.sh: wall time and bytes written of `helios snapshot` after a
# one-line edit in a 1,000-file tree, through the resident server (started
# on demand) with its file watcher, through the server without the watcher
# (HELIOS_SERVE_WATCH=0: a stat walk of every file), and with --no-server
# (the database opened per command).
#
#   scripts/bench-snapshot.sh [ITERATIONS]      (default 200)
#
# Wall time includes process start (bash's $EPOCHREALTIME around the
# command). Bytes: the server's /proc/PID/io write_bytes (page-granular
# block-layer accounting, so small appends to a still-dirty page count
# once), the exact growth of the WAL files, and the client's own block
# writes (getrusage ru_oublock via /usr/bin/time, 512-byte units).
set -euo pipefail
N=${1:-200}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap '"$H" serve --store "$WORK/store" --stop >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
H=$WORK/helios
# As make build installs them: helios is the thin build (no cgo), which
# runs snapshot through the server and execs helios-store, the full build,
# for the rest (serve, --no-server).
(cd "$ROOT" && go build -o "$WORK/helios-store" ./cmd/helios && CGO_ENABLED=0 go build -tags thin -o "$H" ./cmd/helios)
export HELIOS_NO_SERVER=0

for i in $(seq 0 999); do
  d=$WORK/wt/dir$((i % 20))/sub$((i % 3))
  mkdir -p "$d"
  printf 'package p%d\n\n// file %d\nfunc F%d() int {\n\treturn %d\n}\n' $i $i $i $i >"$d/f$i.go"
done
"$H" init --store "$WORK/store" -q

walsize() { cat "$WORK"/store/db/*.log 2>/dev/null | wc -c; }
edit() { echo "// edit $1" >>"$WORK/wt/dir$(($1 % 20))/sub$(($1 % 3))/f$(($1 % 1000)).go"; }

# run MODE: N snapshots, each after a one-line edit; prints timings (µs).
run() {
  local mode=$1 flag=$2 i t0 t1
  : >"$WORK/times.$mode"
  for i in $(seq 1 "$N"); do
    edit "$i"
    t0=$EPOCHREALTIME
    "$H" snapshot --store "$WORK/store" --dir "$WORK/wt" -q $flag
    t1=$EPOCHREALTIME
    echo $(( (${t1/./} - ${t0/./}) )) >>"$WORK/times.$mode"
  done
}
pct() { sort -n "$WORK/times.$1" | awk -v p="$2" '{a[NR]=$1} END {i=int(NR*p/100); if (i<1) i=1; printf "%.2f", a[i]/1000}'; }

# served LABEL: through a server started on demand (the first snapshot
# starts it and reads every file), N snapshots after one-line edits.
served() {
  local label=$1
  "$H" snapshot --store "$WORK/store" --dir "$WORK/wt" -q
  PID=$("$H" serve --store "$WORK/store" --status --json | sed 's/.*"pid":\([0-9]*\).*/\1/')
  wb0=$(awk '/^write_bytes/ {print $2}' /proc/$PID/io); wal0=$(walsize)
  run "$label" ""
  wb1=$(awk '/^write_bytes/ {print $2}' /proc/$PID/io); wal1=$(walsize)
  edit 7
  scanned=$("$H" snapshot --store "$WORK/store" --dir "$WORK/wt" --json | sed 's/.*"scanned":\([0-9]*\).*/\1/')
  edit 9
  cblocks=$( { /usr/bin/time -f '%O' "$H" snapshot --store "$WORK/store" --dir "$WORK/wt" -q; } 2>&1 | tail -1)
  echo "$label (pid $PID), $N snapshots of a 1,000-file tree after a one-line edit:"
  echo "  wall ms incl. process start: p50 $(pct "$label" 50)  p95 $(pct "$label" 95)  p99 $(pct "$label" 99)"
  echo "  server write_bytes per snapshot: $(( (wb1 - wb0) / N ))   WAL bytes per snapshot: $(( (wal1 - wal0) / N ))   client block writes: $((cblocks * 512)) bytes"
  echo "  files examined by one snapshot: $scanned"
  "$H" serve --store "$WORK/store" --stop >/dev/null
}

HELIOS_SERVE_WATCH=1 served "server+watcher"
HELIOS_SERVE_WATCH=0 served "server, no watcher"

# Direct: each command opens RocksDB itself.
run direct "--no-server"
edit 8
dblocks=$( { /usr/bin/time -f '%O' "$H" snapshot --store "$WORK/store" --dir "$WORK/wt" -q --no-server; } 2>&1 | tail -1)
echo "direct (--no-server):"
echo "  wall ms incl. process start: p50 $(pct direct 50)  p95 $(pct direct 95)  p99 $(pct direct 99)"
echo "  client block writes per snapshot (one sample): $((dblocks * 512)) bytes"

# Baselines, measured in the same run: `git commit -a` of the same one-line
# edits in a git copy of the tree, and the floor that starting any Go
# program pays on this machine (a cgo-free hello world).
cp -r "$WORK/wt" "$WORK/gwt"
git -C "$WORK/gwt" init -q
git -C "$WORK/gwt" add -A
git -C "$WORK/gwt" -c user.name=b -c user.email=b@example.com commit -qm base
: >"$WORK/times.git"
gwal0=$(du -sb "$WORK/gwt/.git" | cut -f1)
for i in $(seq 1 "$N"); do
  echo "// edit $i" >>"$WORK/gwt/dir$((i % 20))/sub$((i % 3))/f$((i % 1000)).go"
  t0=$EPOCHREALTIME
  git -C "$WORK/gwt" -c user.name=b -c user.email=b@example.com commit -qam "edit $i"
  t1=$EPOCHREALTIME
  echo $(( (${t1/./} - ${t0/./}) )) >>"$WORK/times.git"
done
gwal1=$(du -sb "$WORK/gwt/.git" | cut -f1)
echo "git commit -a (same edits, same tree):"
echo "  wall ms: p50 $(pct git 50)  p95 $(pct git 95)   .git growth per commit: $(( (gwal1 - gwal0) / N )) bytes"
mkdir -p "$WORK/hello"
printf 'package main\n\nfunc main() {}\n' >"$WORK/hello/main.go"
printf 'module hello\n\ngo 1.22\n' >"$WORK/hello/go.mod"
(cd "$WORK/hello" && CGO_ENABLED=0 go build -o "$WORK/hello/hello" .)
: >"$WORK/times.hello"
for i in $(seq 1 "$N"); do
  t0=$EPOCHREALTIME
  "$WORK/hello/hello"
  t1=$EPOCHREALTIME
  echo $(( (${t1/./} - ${t0/./}) )) >>"$WORK/times.hello"
done
echo "floor: an empty cgo-free Go program: wall ms p50 $(pct hello 50)  p95 $(pct hello 95)"
