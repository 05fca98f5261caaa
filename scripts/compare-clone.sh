#!/usr/bin/env bash
# compare-clone.sh: git-remote-helios against git's own file:// transport,
# both sides measured in the same run on the same machine.
#
#   scripts/compare-clone.sh [REPO]
#
# Without REPO it generates a history with scripts/gen-history.py
# (COMMITS=3000 FILES=1000 by default, repacked like a real repository).
# It measures:
#   push      all branches and tags into an empty store (its server started by the push)
#             vs  git push file:// into an empty bare repo (median of ROUNDS=4, each into new ones)
#   clone     git clone --mirror helios::STORE right after each push  vs  git clone --mirror file://BARE
#             (the server makes a clone pack of the branches after a push: helper/clonepack)
#   clone-cold   the same with no clone pack (server stopped, cache removed): every object packed
#             (median of ROUNDS)
#   clone-again  the same clone again: it installs the clone pack the cold one left
#   push1     a one-commit push (median of 3)              vs  the same over file://
#   fetch1    a one-commit fetch (median of 3)             vs  the same over file://
#   clone-after-push  a clone after the one-commit pushes: the clone pack plus the new commits
#   size      du of the store directory once settled, without its clone packs, vs  du of the bare repository
#   clone-pack-cache  du of the store's clone packs (a cache; gc clears it)
# and prints one JSON object per pair with the ratio helios/file (< 1: helios is faster/smaller).
# HELIOS_PROFILE=DIR writes CPU profiles of the helper's push and cold clone
# there, and of the server (serve.prof: the push and the clone after it, up to
# the stop before the cold clone).
source "$(dirname "$0")/bench-setup.sh"
echo "# $what; $(git -C "$src" rev-list --all --count) commits, $(git -C "$src" for-each-ref | wc -l) refs, git $(git --version | cut -d' ' -f3)" >&2

pair() { # name helios file unit
	awk -v n="$1" -v h="$2" -v f="$3" -v u="$4" 'BEGIN { printf "{\"op\": \"%s\", \"helios\": %s, \"file\": %s, \"unit\": \"%s\", \"ratio\": %.2f}\n", n, h, f, u, (f > 0 ? h / f : 0) }'
}

store=$work/store
bare=$work/bare.git
refspecs=('refs/heads/*:refs/heads/*' 'refs/tags/*:refs/tags/*')

prof() { if [ -n "${HELIOS_PROFILE:-}" ]; then mkdir -p "$HELIOS_PROFILE"; echo "HELIOS_HELPER_CPUPROFILE=$HELIOS_PROFILE/$1.prof"; else echo "HELIOS_UNUSED=1"; fi; }

same() { # the two clones hold the same objects
	if [ "$(git -C "$1" rev-list --objects --all | sort | md5sum)" != "$(git -C "$2" rev-list --objects --all | sort | md5sum)" ]; then
		echo "clone over helios ($2) differs from clone over file:// ($1)" >&2
		exit 1
	fi
}

# ROUNDS (4) full pushes, each into a new empty store (its server started
# by the push) and a new empty bare repository, and a clone of each right
# after the push: the medians are printed (the machines this is run on
# vary by 10-30% from one second to the next). The store's server makes
# the clone pack of the pushed branches in the background after a push,
# and the clone, right after the push, waits for that build. The last
# round's store and repository stay for what follows.
#
# Each full push starts on a settled machine (settle: synced, processors
# idle), and file:// and helios take turns going first. A push that ran
# right after the other side's paid for what that one left running: a
# helios push right after a file:// push took 1.28-1.41 s where one alone
# took 1.21-1.30 s, and a file:// push right after a helios push would pay
# for the server's clone pack build.
rounds=${ROUNDS:-4}
p_h=() p_f=() c_h=() c_f=()
for r in $(seq "$rounds"); do
	s=$store b=$bare
	if [ "$r" -lt "$rounds" ]; then s=$work/store-$r b=$work/bare-$r.git; fi
	helios init -q --store "$s"
	git init -q --bare "$b"
	git -C "$b" symbolic-ref HEAD "$(git -C "$src" symbolic-ref HEAD)"
	# Settled, taking turns going first (see above); each clone right
	# after its own push.
	if [ $((r % 2)) -eq 1 ]; then
		settle
		p_f+=("$(elapsed git -C "$src" push -q "file://$b" "${refspecs[@]}")")
		c_f+=("$(elapsed git clone -q --mirror "file://$b" "$work/clone-file")")
	fi
	settle
	if [ "$r" -eq "$rounds" ]; then
		p_h+=("$(elapsed env "$(prof push)" HELIOS_SERVE_CPUPROFILE="${HELIOS_PROFILE:+$HELIOS_PROFILE/serve.prof}" git -C "$src" push -q "helios::$s" "${refspecs[@]}")")
	else
		p_h+=("$(elapsed git -C "$src" push -q "helios::$s" "${refspecs[@]}")")
	fi
	c_h+=("$(elapsed git clone -q --mirror "helios::$s" "$work/clone-helios")")
	if [ $((r % 2)) -eq 0 ]; then
		settle # the server built the push's clone pack, the clone waited for it
		p_f+=("$(elapsed git -C "$src" push -q "file://$b" "${refspecs[@]}")")
		c_f+=("$(elapsed git clone -q --mirror "file://$b" "$work/clone-file")")
	fi
	same "$work/clone-file" "$work/clone-helios"
	rm -rf "$work/clone-file" "$work/clone-helios"
	if [ "$r" -lt "$rounds" ]; then
		helios serve --stop --store "$s" >/dev/null 2>&1 || true
		rm -rf "$s" "$b"
	fi
done
pair push "$(median "${p_h[@]}")" "$(median "${p_f[@]}")" s
pair clone "$(median "${c_h[@]}")" "$(median "${c_f[@]}")" s

# A clone with no clone pack in the store: every object is read, packed
# and compressed while git waits. ROUNDS times, the median.
c_h=() c_f=()
for r in $(seq "$rounds"); do
	helios serve --stop --store "$store" >/dev/null 2>&1 || true
	rm -rf "$store/clonepacks"
	c_f+=("$(elapsed git clone -q --mirror "file://$bare" "$work/clone-file")")
	if [ "$r" -eq "$rounds" ]; then
		c_h+=("$(elapsed env "$(prof clone)" git clone -q --mirror "helios::$store" "$work/clone-helios")")
	else
		c_h+=("$(elapsed git clone -q --mirror "helios::$store" "$work/clone-helios")")
	fi
	same "$work/clone-file" "$work/clone-helios"
	# The last two clones stay: the one-commit fetches below go into them.
	if [ "$r" -lt "$rounds" ]; then rm -rf "$work/clone-file" "$work/clone-helios"; fi
done
pair clone-cold "$(median "${c_h[@]}")" "$(median "${c_f[@]}")" s

# The cold clone left a clone pack in the store (helper/clonepack); a
# second clone of the same refs installs it instead of packing again.
tf=$(elapsed git clone -q --mirror "file://$bare" "$work/clone-file2")
th=$(elapsed git clone -q --mirror "helios::$store" "$work/clone-helios2")
pair clone-again "$th" "$tf" s
same "$work/clone-file2" "$work/clone-helios2"
rm -rf "$work/clone-file2" "$work/clone-helios2"

# One-commit push and fetch, three rounds.
git clone -q "file://$bare" "$work/w"
head=$(git -C "$work/w" symbolic-ref --short HEAD)
p_h=() p_f=() f_h=() f_f=()
for i in 1 2 3; do
	f=$(git -C "$work/w" ls-files | sed -n "$((i * 7))p")
	echo "edit $i" >>"$work/w/$f"
	git -C "$work/w" commit -qam "one commit $i"
	p_f+=("$(elapsed git -C "$work/w" push -q "file://$bare" "$head")")
	p_h+=("$(elapsed git -C "$work/w" push -q "helios::$store" "$head")")
	f_f+=("$(elapsed git -C "$work/clone-file" fetch -q "file://$bare" "+refs/heads/*:refs/heads/*")")
	f_h+=("$(elapsed git -C "$work/clone-helios" fetch -q "helios::$store" "+refs/heads/*:refs/heads/*")")
done
pair push1 "$(median "${p_h[@]}")" "$(median "${p_f[@]}")" s
pair fetch1 "$(median "${f_h[@]}")" "$(median "${f_f[@]}")" s
# A clone after those pushes: the clone pack's tips are the parents of the
# new commits, so it is installed and only the new commits are sent.
tf=$(elapsed git clone -q --mirror "file://$bare" "$work/clone-file3")
th=$(elapsed git clone -q --mirror "helios::$store" "$work/clone-helios3")
pair clone-after-push "$th" "$tf" s
same "$work/clone-file3" "$work/clone-helios3"
# The server compacts what the pushes left once it has had no request for
# 5 s (objstore/server/settle.go); the size is the settled one.
sleep 7
cache=$(du -sb "$store/clonepacks" 2>/dev/null | cut -f1 || echo 0)
pair size "$(($(du -sb "$store" | cut -f1) - ${cache:-0}))" "$(du -sb "$bare" | cut -f1)" bytes
pair clone-pack-cache "${cache:-0}" "$(du -sb "$bare" | cut -f1)" bytes
