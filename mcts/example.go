package mcts

import (
	"fmt"
	"sort"

	"github.com/helios-vcs/helios/objstore"
)

// ExampleProject is a tiny shell project with an injected off-by-one bug
// (a loop bound written "<" where "<=" is meant), whose test.sh prints TAP.
// Tests and demos search it; `sh test.sh` passes 2 of 5 tests on it and
// all once the bug is fixed.
func ExampleProject() map[string]string {
	return map[string]string{
		"lib.sh": `# lib.sh: small arithmetic helpers.

# sum_to N prints 1 + 2 + ... + N.
sum_to() {
	n=$1
	i=1
	s=0
	while [ $((i < n)) -eq 1 ]; do
		s=$((s + i))
		i=$((i + 1))
	done
	echo $s
}

# double N prints 2N.
double() {
	echo $(($1 * 2))
}
`,
		"test.sh": `#!/bin/sh
. ./lib.sh
n=0
check() {
	n=$((n + 1))
	if [ "$2" = "$3" ]; then
		echo "ok $n - $1"
	else
		echo "not ok $n - $1: got $2, want $3"
	fi
}
check "sum_to 1" "$(sum_to 1)" 1
check "sum_to 3" "$(sum_to 3)" 6
check "sum_to 0" "$(sum_to 0)" 0
check "double 2" "$(double 2)" 4
check "double 0" "$(double 0)" 0
echo "1..$n"
`,
	}
}

// Import stores files as a new state (on no ref) and returns it.
func Import(s *objstore.Store, files map[string]string, message string) (objstore.ID, error) {
	d, err := s.NewDraft(objstore.ZeroID)
	if err != nil {
		return objstore.ZeroID, err
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := d.Put(p, objstore.ModeFile, []byte(files[p])); err != nil {
			return objstore.ZeroID, fmt.Errorf("mcts: import: %w", err)
		}
	}
	return d.Commit(objstore.CommitOptions{Message: message, Author: objstore.Signature{Name: "helios mcts"}})
}
