#!/usr/bin/env bash
# Helios end to end on a store in a local folder:
#   1. make a store; record a working directory as a state; edit, snapshot,
#      diff, log; materialize and switch directories between states; fsck, gc
#   2. git push into the store through git-remote-helios, clone it back,
#      and check the clone is byte-identical (object ids) and fsck-clean.
# Everything lives under $DEMO_DIR (default: a new temporary directory).
set -euo pipefail

demo=${DEMO_DIR:-$(mktemp -d -t helios-demo-XXXXXX)}
store=$demo/store
work=$demo/work
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
command -v helios >/dev/null || { echo "helios is not on PATH (run: make demo)" >&2; exit 1; }

say "init a store in $store"
helios init --store "$store"

say "a working directory: this repository's own Go sources"
mkdir -p "$work"
src=$(cd "$(dirname "$0")/.." && pwd)
(cd "$src" && git ls-files -z '*.go' 'go.mod' 'Makefile' 2>/dev/null || find . -name '*.go' -print0) |
	(cd "$src" && xargs -0 cp --parents -t "$work")
echo "$(find "$work" -type f | wc -l) files"

say "snapshot it as main"
helios snapshot --store "$store" --dir "$work" --ref main -m "import"

say "edit one file, add one, delete one; snapshot again (only changed files are read)"
echo "// edited by the demo" >> "$work/objstore/id.go"
echo "notes" > "$work/NOTES.txt"
rm "$work/go.mod"
helios snapshot --store "$store" --dir "$work" --ref main -m "edit"

say "diff and log"
helios diff --store "$store" main
helios log --store "$store" --ref main -n 2

say "materialize the first state elsewhere, then switch it to main (writes only the difference)"
first=$(helios log --store "$store" --ref main --json -n 0 | grep -o 'b3:[0-9a-f]\{64\}' | tail -1)
helios checkout --store "$store" --ref "$first" --dir "$demo/copy"
helios checkout --store "$store" --ref main --dir "$demo/copy"
diff -r "$work" "$demo/copy" && echo "copy matches the working directory"

say "fsck and gc"
helios fsck --store "$store"
helios gc --store "$store"
helios stats --store "$store" | grep -E '^(states|trees|blobs|chunks|disk_bytes) '

if command -v git-remote-helios >/dev/null; then
	say "git: push a repository into a new helios store and clone it back"
	gstore=$demo/git-store
	helios init --store "$gstore" -q
	repo=$demo/repo
	git init -q -b main "$repo"
	cp -r "$work/." "$repo/"
	git -C "$repo" add -A
	git -C "$repo" -c user.name=demo -c user.email=demo@example.com commit -qm "demo import"
	echo "more" >> "$repo/NOTES.txt"
	git -C "$repo" -c user.name=demo -c user.email=demo@example.com commit -qam "second"
	git -C "$repo" tag -a v1 -m "v1" -- HEAD >/dev/null 2>&1 || git -C "$repo" -c user.name=demo -c user.email=demo@example.com tag -a v1 -m v1
	git -C "$repo" remote add helios "helios::$gstore"
	git -C "$repo" push -q helios main --tags
	git clone -q "helios::$gstore" "$demo/clone"
	git -C "$demo/clone" fsck --full --strict
	if [ "$(git -C "$repo" rev-list --objects --all | sort)" = "$(git -C "$demo/clone" rev-list --objects --all | sort)" ]; then
		echo "clone has every object of the source, with the same ids"
	else
		echo "clone differs from the source" >&2
		exit 1
	fi
	helios fsck --store "$gstore"

	say "mcts: search for a fix of a buggy project, with its tests as the reward"
	helios mcts example --dir "$demo/buggy"
	helios snapshot --store "$gstore" --dir "$demo/buggy" --ref buggy -m "a project with a bug" -q
	echo "tests failing before the search: $(cd "$demo/buggy" && sh test.sh | grep -c "^not ok" || true)"
	helios mcts run --store "$gstore" --ref buggy --test 'sh test.sh' --workers 1 --seed 7 --run demo -q
	say "git: fetch the search's best state back as an ordinary commit"
	git -C "$demo/clone" fetch -q origin 'refs/heads/mcts/*:refs/remotes/mcts/*'
	git -C "$demo/clone" log -1 --format='%h %s' refs/remotes/mcts/demo/best
	git -C "$demo/clone" diff refs/remotes/mcts/demo/best~1 refs/remotes/mcts/demo/best 2>/dev/null || git -C "$demo/clone" show --stat refs/remotes/mcts/demo/best
	helios audit verify --store "$gstore"
fi

say "done: everything is in $demo"
