package objstore_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/helios-vcs/helios/objstore"
)

// seqJournal numbers each journaled write and stores it under 'a'+seq.
type seqJournal struct {
	next, pending int
	actors        []string
	changes       [][]objstore.RefChange
}

func (j *seqJournal) Append(actor string, ch []objstore.RefChange, b *objstore.Batch) error {
	j.pending = j.next + 1
	b.Put([]byte(fmt.Sprintf("a%08d", j.pending)), []byte(actor))
	j.actors = append(j.actors, actor)
	j.changes = append(j.changes, ch)
	return nil
}

func (j *seqJournal) Done(err error) {
	if err == nil {
		j.next = j.pending
	} else {
		j.actors = j.actors[:len(j.actors)-1]
		j.changes = j.changes[:len(j.changes)-1]
	}
}

func TestJournalRecordsRefChangesAtomically(t *testing.T) {
	kv := objstore.NewMemKV()
	j := &seqJournal{}
	s, err := objstore.Init(kv, objstore.Options{Journal: j, Actor: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	a := commitFiles(t, s, objstore.ZeroID, "refs/heads/main", map[string]string{"f": "1"})
	d, _ := s.NewDraft(a)
	d.Put("f", objstore.ModeFile, []byte("2"))
	b, err := d.Commit(objstore.CommitOptions{Ref: "refs/heads/main", Actor: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetSymbolicRef("HEAD", "refs/heads/dev"); err != nil {
		t.Fatal(err)
	}
	if j.next != 3 || fmt.Sprint(j.actors) != "[alice bob alice]" {
		t.Fatalf("journal: next %d, actors %v", j.next, j.actors)
	}
	if c := j.changes[1][0]; c.Name != "refs/heads/main" || c.Old != a || c.New != b {
		t.Errorf("change 2 = %+v", c)
	}
	if c := j.changes[2][0]; c.Name != "HEAD" || c.Target != "refs/heads/dev" {
		t.Errorf("change 3 = %+v", c)
	}
	// A failed write: the ref does not move and the journal forgets.
	kv.FailWrites(errors.New("disk full"))
	d.Put("f", objstore.ModeFile, []byte("3"))
	if _, err := d.Commit(objstore.CommitOptions{Ref: "refs/heads/main"}); err == nil {
		t.Fatal("commit succeeded on a failing disk")
	}
	kv.FailWrites(nil)
	if j.next != 3 || len(j.actors) != 3 {
		t.Errorf("journal kept a failed write: next %d, %d entries", j.next, len(j.actors))
	}
	n := 0
	kv.Scan([]byte("a"), func(k, v []byte) error { n++; return nil })
	if n != 3 {
		t.Errorf("%d journal records stored, want 3", n)
	}
	// Record writes non-ref entries under the same lock.
	if err := s.Record(func(b *objstore.Batch) error {
		j.Append("carol", nil, b)
		return nil
	}); err != nil || j.next != 4 {
		t.Errorf("Record: %v, next %d", err, j.next)
	}
	if !s.Journaled() {
		t.Error("Journaled() = false")
	}
}
