package rocksdb

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/helios-vcs/helios/objstore"
)

// TestRemovedStoreIsNotTouched removes a store's directory while a writer
// in another process holds it open, makes a new store at the same path,
// and has the old writer go on through writes and compactions (which
// delete the table files it no longer lists): the new store must keep every
// file and open with all its keys. Before the writer pinned its directory
// (pinDir), the old one deleted the new store's table files by name.
func TestRemovedStoreIsNotTouched(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	old := exec.Command(os.Args[0], "-test.run=^TestOldWriterProcess$")
	old.Env = append(os.Environ(), "HELIOS_TEST_OLD_WRITER="+dir)
	stdin, _ := old.StdinPipe()
	stdout, _ := old.StdoutPipe()
	old.Stderr = os.Stderr
	if err := old.Start(); err != nil {
		t.Fatal(err)
	}
	defer old.Process.Kill()
	out := bufio.NewReader(stdout)
	if line, err := out.ReadString('\n'); err != nil || line != "open\n" {
		t.Fatalf("old writer: %q %v", line, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	fresh, err := Open(dir, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		var b objstore.Batch
		for j := range 200 {
			b.Put(fmt.Appendf(nil, "new-%d-%d", i, j), make([]byte, 1000))
		}
		if err := fresh.Write(&b, true); err != nil {
			t.Fatal(err)
		}
		if err := fresh.Compact(); err != nil {
			t.Fatal(err)
		}
	}
	if err := fresh.Close(); err != nil {
		t.Fatal(err)
	}
	before, _ := filepath.Glob(filepath.Join(dir, "*"))
	// The old writer goes on: writes, flushes, compactions, purges. They
	// may fail (its directory is gone); they must not reach the new one.
	fmt.Fprintln(stdin, "go")
	if line, err := out.ReadString('\n'); err != nil || line != "done\n" {
		t.Fatalf("old writer: %q %v", line, err)
	}
	old.Wait()
	after, _ := filepath.Glob(filepath.Join(dir, "*"))
	gone := map[string]bool{}
	for _, f := range before {
		gone[filepath.Base(f)] = true
	}
	for _, f := range after {
		delete(gone, filepath.Base(f))
	}
	delete(gone, "LOCK") // a file the old writer never touches either way
	if len(gone) > 0 {
		t.Errorf("the removed store's writer deleted %v from the new store", gone)
	}
	kv, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("the new store no longer opens: %v", err)
	}
	defer kv.Close()
	n := 0
	if err := kv.Scan([]byte("new-"), func(k, v []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 1000 {
		t.Errorf("the new store holds %d of its 1000 keys", n)
	}
	if ok, _ := kv.Has([]byte("old-0")); ok {
		t.Error("the old writer's key landed in the new store")
	}
}

// TestOldWriterProcess is TestRemovedStoreIsNotTouched's other process
// (it does nothing unless that test runs it).
func TestOldWriterProcess(t *testing.T) {
	dir := os.Getenv("HELIOS_TEST_OLD_WRITER")
	if dir == "" {
		return
	}
	kv, err := Open(dir, Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("open")
	bufio.NewReader(os.Stdin).ReadString('\n')
	for i := range 5 {
		var b objstore.Batch
		b.Put(fmt.Appendf(nil, "old-%d", i), make([]byte, 1000))
		_ = kv.Write(&b, true)
		_ = kv.Compact()
	}
	kv.Close()
	fmt.Println("done")
}

// TestCompactionPending: overlapping ingested files stay in level 0 (below
// level0Trigger) and are reported pending until Settle has RocksDB merge
// them; the trigger is back to level0Trigger afterwards.
func TestCompactionPending(t *testing.T) {
	kv, err := Open(t.TempDir(), Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	if kv.CompactionPending() {
		t.Error("a new database says a compaction is pending")
	}
	for i := range 3 {
		var b objstore.Batch
		for j := range 100 {
			b.Put(fmt.Appendf(nil, "k%03d-%d", j, i), []byte("v"))
		}
		if err := kv.Ingest(&b); err != nil {
			t.Fatal(err)
		}
	}
	if !kv.CompactionPending() {
		t.Error("three overlapping ingested files: no compaction pending")
	}
	if err := kv.Settle(); err != nil {
		t.Fatal(err)
	}
	if kv.CompactionPending() {
		t.Error("still pending after Settle")
	}
	// Three more files stay, under the restored trigger.
	for i := 3; i < 6; i++ {
		var b objstore.Batch
		b.Put(fmt.Appendf(nil, "k%03d-%d", 0, i), []byte("v"))
		if err := kv.Ingest(&b); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if !kv.CompactionPending() {
		t.Error("after Settle, three new files were compacted at once: the trigger was not restored")
	}
	n := 0
	kv.Scan([]byte("k"), func(k, v []byte) error { n++; return nil })
	if n != 303 {
		t.Errorf("%d keys after compaction, want 300", n)
	}
}
