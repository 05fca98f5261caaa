#!/usr/bin/env bash
# push-cpu.sh: where a full push's time goes, helios against git's file://.
#
#   scripts/push-cpu.sh [REPO]      (ROUNDS=5 by default)
#
# Each round pushes all branches and tags of REPO (without it, the history
# compare-clone.sh generates) into a new store whose server already runs
# (so the server's start is not counted), then into a new bare repository
# over file://, and prints one JSON object per round: wall seconds, the
# CPU seconds of the client side (git push, the helper, git's children:
# /usr/bin/time) and of the server (/proc/PID/stat), and the file:// push's
# wall and CPU. The last line is the medians. compare-clone.sh measures the
# push as a user meets it (the first command starts the server); this one
# separates the two sides.
source "$(dirname "$0")/bench-setup.sh"
rounds=${ROUNDS:-5}
echo "# $what; $(git -C "$src" rev-list --all --count) commits, $(git -C "$src" rev-list --all --objects | wc -l) objects, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
refspecs=('refs/heads/*:refs/heads/*' 'refs/tags/*:refs/tags/*')

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
# timed VAR CMD...: run CMD, set VAR to "wall cpu" in seconds.
timed() {
	local var=$1
	shift
	/usr/bin/time -f '%e %U %S' -o "$work/time" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
	printf -v "$var" '%s' "$(awk '{ printf "%.3f %.3f", $1, $2 + $3 }' "$work/time")"
}

: >"$work/rounds"
for i in $(seq "$rounds"); do
	store=$work/store
	helios serve --stop --store "$store" >/dev/null 2>&1 || true
	rm -rf "$store" "$work/bare.git" "$src/.git/helios"
	helios init -q --store "$store"
	git -C "$src" ls-remote "helios::$store" >/dev/null # starts the server
	pid=$(helios serve --status --store "$store" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"])')
	before=$(ticks "$pid")
	timed h git -C "$src" push -q "helios::$store" "${refspecs[@]}"
	after=$(ticks "$pid")
	# The server builds a clone pack in the background after a push: stop
	# it, so that it does not take the processor from the file:// push.
	helios serve --stop --store "$store" >/dev/null
	git init -q --bare "$work/bare.git"
	timed f git -C "$src" push -q "file://$work/bare.git" "${refspecs[@]}"
	read -r hw hc <<<"$h"
	read -r fw fc <<<"$f"
	sc=$(awk -v t=$((after - before)) -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }')
	echo "$hw $hc $sc $fw $fc" >>"$work/rounds"
	printf '{"round": %d, "helios_wall": %s, "helios_client_cpu": %s, "helios_server_cpu": %s, "file_wall": %s, "file_cpu": %s, "ratio": %.2f}\n' \
		"$i" "$hw" "$hc" "$sc" "$fw" "$fc" "$(awk -v a="$hw" -v b="$fw" 'BEGIN { print a / b }')"
done
med() { median $(cut -d' ' -f"$1" "$work/rounds"); }
printf '{"median": true, "helios_wall": %s, "helios_client_cpu": %s, "helios_server_cpu": %s, "file_wall": %s, "file_cpu": %s, "ratio": %.2f}\n' \
	"$(med 1)" "$(med 2)" "$(med 3)" "$(med 4)" "$(med 5)" "$(awk -v a="$(med 1)" -v b="$(med 4)" 'BEGIN { print a / b }')"
