#!/usr/bin/env bash
# push-ab.sh: two builds of helios, alternated, on the same full push.
#
#   scripts/push-ab.sh REV_A REV_B [REPO]      (ROUNDS=6 by default)
#
# Builds the thin git-remote-helios and the full helios of each revision
# (git rev-parse names, or "." for the working tree), then in each round
# pushes all branches and tags of REPO (without it, the history
# compare-clone.sh generates) into a new empty store with each build, its
# server started by the push as a user meets it, and last into a new bare
# repository over file://. One JSON object per round, then the medians:
# the machines this runs on vary by 10-30% within minutes, so a change is
# only told apart from the noise by alternating it with what it changes.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 REV_A REV_B [REPO]" >&2; exit 2; }
a=$1 b=$2
shift 2
source "$(dirname "$0")/bench-setup.sh"
rounds=${ROUNDS:-6} # a multiple of 3: each goes first, second and third as often
# build REV DIR: the two executables of REV into DIR.
build() {
	local rev=$1 out=$2 tree=$work/tree-$(basename "$2")
	mkdir -p "$tree" "$out"
	if [ "$rev" = . ]; then
		(cd "$root" && git ls-files -z | xargs -0 tar -c) | tar -x -C "$tree"
	else
		git -C "$root" archive "$rev" | tar -x -C "$tree"
	fi
	(cd "$tree" && CGO_ENABLED=0 go build -tags thin -o "$out/git-remote-helios" ./cmd/git-remote-helios && go build -o "$out/helios" ./cmd/helios)
}
build "$a" "$work/a"
build "$b" "$work/b"
echo "# $what; A $a, B $b; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
refspecs=('refs/heads/*:refs/heads/*' 'refs/tags/*:refs/tags/*')
# push BIN: seconds of a full push into a new store through BIN's build.
push() {
	local store=$work/store
	rm -rf "$store" "$src/.git/helios"
	PATH=$1:$PATH helios init -q --store "$store"
	elapsed env PATH="$1:$PATH" git -C "$src" push -q "helios::$store" "${refspecs[@]}"
	PATH=$1:$PATH helios serve --stop --store "$store" >/dev/null 2>&1 || true
}
a_=() b_=() f_=() ra=() rb=()
# filepush: seconds of the same push into a new bare repository.
filepush() {
	rm -rf "$work/bare.git"
	git init -q --bare "$work/bare.git"
	elapsed git -C "$src" push -q "file://$work/bare.git" "${refspecs[@]}"
}
for i in $(seq "$rounds"); do
	# The three take turns at going first: a push right after another one
	# is a few percent faster than one right after a file:// push (the
	# same build measured as A and B was 4% apart when B always followed A).
	# (One assignment per command: set -e sees only the last one's status.)
	for which in $(case $((i % 3)) in 1) echo a b f ;; 2) echo b f a ;; 0) echo f a b ;; esac); do
		case $which in
		a) ta=$(push "$work/a") ;;
		b) tb=$(push "$work/b") ;;
		f) tf=$(filepush) ;;
		esac
	done
	a_+=("$ta") b_+=("$tb") f_+=("$tf")
	ra+=("$(awk -v a="$ta" -v f="$tf" 'BEGIN { print a / f }')")
	rb+=("$(awk -v b="$tb" -v f="$tf" 'BEGIN { print b / f }')")
	awk -v i="$i" -v a="$ta" -v b="$tb" -v f="$tf" 'BEGIN { printf "{\"round\": %d, \"a\": %s, \"b\": %s, \"file\": %s, \"a_ratio\": %.2f, \"b_ratio\": %.2f}\n", i, a, b, f, a / f, b / f }'
done
printf '{"median": true, "a": %s, "b": %s, "file": %s, "a_ratio": %.2f, "b_ratio": %.2f}\n' \
	"$(median "${a_[@]}")" "$(median "${b_[@]}")" "$(median "${f_[@]}")" "$(median "${ra[@]}")" "$(median "${rb[@]}")"
