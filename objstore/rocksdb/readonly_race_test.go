package rocksdb

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/helios-vcs/helios/objstore"
)

// TestReadOnlyOpenBesideIngestion opens read-only instances while a writer
// ingests table files and then commits, through its log, a key that names
// what it ingested (a push's objects, then its ref). An instance that read
// the MANIFEST before an ingestion and the log after the commit that
// follows it shows a ref whose objects are missing (RocksDB does this
// within milliseconds here); every such instance must say it is
// Unsettled, so that its opener checks and opens again.
func TestReadOnlyOpenBesideIngestion(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(dir, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var stop atomic.Bool
	var written atomic.Int64
	done := make(chan error, 1)
	go func() {
		for i := 0; !stop.Load(); i++ {
			var b objstore.Batch
			b.Put([]byte(fmt.Sprintf("o%08d", i)), []byte("object"))
			if err := w.Ingest(&b); err != nil {
				done <- err
				return
			}
			var r objstore.Batch
			r.Put([]byte(fmt.Sprintf("r%08d", i)), []byte(fmt.Sprintf("o%08d", i)))
			if err := w.Write(&r, false); err != nil {
				done <- err
				return
			}
			written.Add(1)
			// Pauses of up to 10 ms let some opens finish between rounds.
			time.Sleep(time.Duration(i%3) * 5 * time.Millisecond)
		}
		done <- nil
	}()
	// Open for 3 s, and on until some open has raced (at most 20 s): how
	// many opens land between rounds depends on the machine's speed.
	start := time.Now()
	opens, unsettled, mixed := 0, 0, 0
	for since := time.Since(start); since < 3*time.Second || unsettled == 0 && since < 20*time.Second; since = time.Since(start) {
		r, err := Open(dir, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		opens++
		if r.Unsettled() {
			unsettled++
		}
		err = r.Scan([]byte("r"), func(k, v []byte) error {
			ok, err := r.Has(v)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("a settled read-only instance sees %s but not %s, which was ingested before it", k, v)
			}
			return nil
		})
		if err != nil && r.Unsettled() {
			mixed++
			err = nil
		}
		r.Close()
		if err != nil {
			stop.Store(true)
			<-done
			t.Fatalf("after %d opens: %v", opens, err)
		}
	}
	stop.Store(true)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("%d read-only opens beside %d ingest+commit rounds: %d unsettled, %d of them mixed", opens, written.Load(), unsettled, mixed)
	if unsettled == 0 {
		t.Errorf("no open of %d raced with the writer: the test did not race as meant", opens)
	}
	// Once the writer is done, an open is settled and sees every round.
	r, err := Open(dir, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Unsettled() {
		t.Error("an open after the writer stopped says it is unsettled")
	}
	rounds := int64(0)
	err = r.Scan([]byte("r"), func(k, v []byte) error {
		rounds++
		if ok, err := r.Has(v); err != nil || !ok {
			return fmt.Errorf("%s names %s, which is missing (%v)", k, v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if rounds != written.Load() {
		t.Errorf("a settled open sees %d rounds, want %d", rounds, written.Load())
	}
}
