package rocksdb_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/helios-vcs/helios/nvme"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
)

// The crash test re-runs this test binary as a child that commits states
// as fast as it can and prints each one after Commit returns; the parent
// kills it with SIGKILL at varied moments, reopens the store, and checks
// that fsck is clean, that every ref names a complete state, and that no
// acknowledged commit was lost (the ref is at the last acknowledged state,
// or at the one that was in flight).

const (
	crashEnv     = "HELIOS_CRASH_CHILD_DIR"
	crashTierEnv = "HELIOS_CRASH_TIER"
)

// openCrashStore opens the store in dir, with a block tier in dir/tier.log
// when tier is set (chunks of 16 KiB and more go there).
func openCrashStore(dir string, tier bool) (*objstore.Store, error) {
	kv, err := rocksdb.Open(filepath.Join(dir, "db"), rocksdb.Options{Create: true, LockWait: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	opts := objstore.Options{}
	if tier {
		dev, err := nvme.Open(filepath.Join(dir, "tier.log"), nvme.Options{Size: 256 << 20})
		if err != nil {
			kv.Close()
			return nil, err
		}
		log, err := nvme.OpenLog(dev, nvme.LogOptions{SegmentSize: 4 << 20})
		if err != nil {
			kv.Close()
			return nil, err
		}
		opts.Tier, opts.TierDevice = log, dev
		opts.Settings = objstore.DefaultSettings
		opts.Settings.TierThreshold = 16 << 10
	}
	return objstore.Init(kv, opts)
}

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(dir)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func crashChild(dir string) {
	s, err := openCrashStore(dir, os.Getenv(crashTierEnv) != "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "child init:", err)
		os.Exit(3)
	}
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		ref := fmt.Sprintf("refs/heads/b%d", rng.Intn(3))
		base, _, err := s.Resolve(ref)
		if err != nil && !strings.Contains(err.Error(), "not found") {
			fmt.Fprintln(os.Stderr, "child resolve:", err)
			os.Exit(3)
		}
		d, err := s.NewDraft(base)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child draft:", err)
			os.Exit(3)
		}
		for j := rng.Intn(4) + 1; j > 0; j-- {
			p := fmt.Sprintf("d%d/f%d", rng.Intn(5), rng.Intn(20))
			size := rng.Intn(3000)
			if rng.Intn(20) == 0 {
				size = 200 << 10 // a chunked file now and then
			}
			content := make([]byte, size)
			rng.Read(content)
			d.Put(p, objstore.ModeFile, content)
		}
		id, err := d.Commit(objstore.CommitOptions{Ref: ref, Message: fmt.Sprint(i)})
		if err != nil {
			fmt.Fprintln(os.Stderr, "child commit:", err)
			os.Exit(3)
		}
		// Acknowledged: the commit returned.
		fmt.Fprintf(out, "%s %s\n", ref, id)
		out.Flush()
	}
}

func TestCrashDuringCommits(t *testing.T) {
	t.Run("rocksdb", func(t *testing.T) { crashRounds(t, false) })
	t.Run("tier", func(t *testing.T) { crashRounds(t, true) })
}

func crashRounds(t *testing.T, tier bool) {
	dir := t.TempDir()
	rounds := 30
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	acked := map[string]objstore.ID{} // ref → last acknowledged state
	for r := 0; r < rounds; r++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		if tier {
			cmd.Env = append(cmd.Env, crashTierEnv+"=1")
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill at a varied point measured in the child's progress, not in
		// time (a race-instrumented child on a busy machine is slow to
		// start): after 1-60 acknowledged commits, plus 0-3 ms.
		target := 1 + rng.Intn(60)
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		var got []string
		deadline := time.After(2 * time.Minute)
	wait:
		for len(got) < target {
			select {
			case l, ok := <-lines:
				if !ok {
					break wait
				}
				got = append(got, l)
			case <-deadline:
				break wait
			}
		}
		time.Sleep(time.Duration(rng.Intn(3000)) * time.Microsecond)
		cmd.Process.Signal(syscall.SIGKILL)
		for l := range lines {
			got = append(got, l)
		}
		cmd.Wait()
		if strings.Contains(stderr.String(), "child") {
			t.Fatalf("round %d: child failed: %s", r, stderr.String())
		}
		for _, line := range got {
			f := strings.Fields(line)
			if len(f) != 2 {
				continue // a torn last line: not acknowledged
			}
			id, err := objstore.ParseID(f[1])
			if err != nil {
				continue
			}
			acked[f[0]] = id
		}
		s, err := openCrashStore(dir, tier)
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", r, err)
		}
		rep, err := s.Fsck(context.Background(), true)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Clean() {
			t.Fatalf("round %d: fsck after SIGKILL: %v", r, rep.Problems)
		}
		for ref, want := range acked {
			got, _, err := s.Resolve(ref)
			if err != nil {
				t.Fatalf("round %d: acknowledged ref %s lost: %v", r, ref, err)
			}
			if got == want {
				continue
			}
			// The only other legal value: a state committed after want whose
			// acknowledgement the kill cut off, whose parent is want.
			st, err := s.State(got)
			if err != nil || len(st.Parents) != 1 || st.Parents[0] != want {
				t.Fatalf("round %d: %s is %v, want %v or its child", r, ref, got, want)
			}
			acked[ref] = got
		}
		s.Close()
	}
	if tier {
		n := 0
		s, _ := openCrashStore(dir, true)
		s.KV().Scan([]byte{'C'}, func(k, v []byte) error { n++; return nil })
		s.Close()
		if n == 0 {
			t.Fatal("no chunk reached the tier: the tier was not tested")
		}
	}
	if len(acked) == 0 {
		t.Fatal("no commit was acknowledged in any round: the test tested nothing")
	}
	t.Logf("%d rounds, refs at %v", rounds, acked)
}
