package server

import (
	"errors"
	"slices"
	"testing"

	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/gitobj"
)

// eachRun asks want about runs of ids, cut where the listing has no more
// at hand and at helper.WantRun, and passes on those it accepts in order;
// ran follows each run the listing's pause ended.
func TestEachRun(t *testing.T) {
	const n = 2*helper.WantRun + 300
	ids := make([]gitobj.OID, n)
	accepted := map[gitobj.OID]bool{}
	for i := range ids {
		ids[i], _ = gitobj.OIDFromBytes([]byte{19: byte(i), 18: byte(i >> 8)})
		accepted[ids[i]] = i%2 == 1
	}
	pauses := map[int]bool{0: true, 9: true, 10: true, 2000: true} // idle after these
	at := -1
	list := func(fn func(gitobj.OID) error) error {
		for i, id := range ids {
			at = i
			if err := fn(id); err != nil {
				return err
			}
		}
		return nil
	}
	idle := func() bool { return pauses[at] }
	var runs []int
	want := func(run []gitobj.OID) ([]bool, error) {
		runs = append(runs, len(run))
		ok := make([]bool, len(run))
		for i, id := range run {
			ok[i] = accepted[id]
		}
		return ok, nil
	}
	var got []gitobj.OID
	ranAt := []int{}
	err := eachRun(list, idle, want, func(id gitobj.OID) error {
		got = append(got, id)
		return nil
	}, func() error {
		ranAt = append(ranAt, at)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var odd []gitobj.OID
	for _, id := range ids {
		if accepted[id] {
			odd = append(odd, id)
		}
	}
	if !slices.Equal(got, odd) {
		t.Errorf("passed on %d ids, want the %d accepted, in order", len(got), len(odd))
	}
	// Runs end after ids 0, 9, 10 (pauses), 1034 (full), 2000 (pause),
	// and the rest at the end.
	wantRuns := []int{1, 9, 1, helper.WantRun, 2000 - 10 - helper.WantRun, n - 1 - 2000}
	if !slices.Equal(runs, wantRuns) {
		t.Errorf("runs %v, want %v", runs, wantRuns)
	}
	if want := []int{0, 9, 10, 2000}; !slices.Equal(ranAt, want) {
		t.Errorf("ran after ids %v, want %v", ranAt, want)
	}

	// want's error, and a verdict count that does not match, end it.
	boom := errors.New("boom")
	if err := eachRun(list, nil, func([]gitobj.OID) ([]bool, error) { return nil, boom }, func(gitobj.OID) error { return nil }, nil); !errors.Is(err, boom) {
		t.Errorf("want's error: got %v", err)
	}
	short := func(run []gitobj.OID) ([]bool, error) { return make([]bool, len(run)-1), nil }
	if err := eachRun(list, nil, short, func(gitobj.OID) error { return nil }, nil); err == nil {
		t.Error("too few verdicts: no error")
	}
	// fn's error ends the listing.
	calls := 0
	if err := eachRun(list, idle, want, func(gitobj.OID) error { calls++; return boom }, nil); !errors.Is(err, boom) || calls != 1 {
		t.Errorf("fn's error: got %v after %d calls", err, calls)
	}
}
