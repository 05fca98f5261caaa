package nvme_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/helios-vcs/helios/nvme"
)

const crashChildEnv = "NVME_CRASH_CHILD"

// TestMain lets the test binary act as the appending child of
// TestSIGKILLDuringAppends.
func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		if err := crashChild(path, os.Getenv("NVME_CRASH_FIRST")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const crashMax = 40000

// crashChild appends batches forever; after each Sync it prints one line
// per acknowledged record: "ack <seq> <off> <len> <sum>".
func crashChild(path, first string) error {
	d, err := nvme.Open(path, nvme.Options{Size: 64 << 20})
	if err != nil {
		return err
	}
	l, err := nvme.OpenLog(d, nvme.LogOptions{SegmentSize: 1 << 20})
	if err != nil {
		return err
	}
	key, _ := strconv.ParseUint(first, 10, 64)
	out := bufio.NewWriter(os.Stdout)
	for {
		var recs []nvme.Record
		for i := 0; i < 8; i++ {
			recs = append(recs, payloadFor(key, crashMax))
			key++
		}
		locs, err := l.Append(recs)
		if err != nil {
			return err // ErrFull ends the child; the parent treats it as done
		}
		if err := l.Sync(); err != nil {
			return err
		}
		for _, loc := range locs {
			fmt.Fprintf(out, "ack %d %d %d %d\n", loc.Seq, loc.Off, loc.Len, loc.Sum)
		}
		if err := out.Flush(); err != nil {
			return err
		}
	}
}

// TestSIGKILLDuringAppends runs a child that appends and syncs in a loop,
// kills it with SIGKILL after it acknowledged a number of records (so the
// kill lands while it is appending), and checks after each kill that the
// log opens and every acknowledged record is intact. Nothing depends on
// timing: the kill is triggered by the child's own output.
func TestSIGKILLDuringAppends(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "dev")
	var acked []nvme.Location
	next := uint64(0)
	for round := 0; round < 4; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path, fmt.Sprintf("NVME_CRASH_FIRST=%d", next))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		got := 0
		for sc.Scan() && got < 200+round*37 {
			var loc nvme.Location
			if _, err := fmt.Sscanf(sc.Text(), "ack %d %d %d %d", &loc.Seq, &loc.Off, &loc.Len, &loc.Sum); err != nil {
				t.Fatalf("child said %q: %v", sc.Text(), err)
			}
			acked = append(acked, loc)
			got++
		}
		cmd.Process.Kill() // SIGKILL
		for sc.Scan() {    // lines already written before the kill are acknowledged too
			if strings.HasPrefix(sc.Text(), "ack ") {
				var loc nvme.Location
				fmt.Sscanf(sc.Text(), "ack %d %d %d %d", &loc.Seq, &loc.Off, &loc.Len, &loc.Sum)
				acked = append(acked, loc)
			}
		}
		cmd.Wait()
		if got == 0 {
			t.Fatalf("round %d: child acknowledged nothing", round)
		}

		d, err := nvme.Open(path, nvme.Options{})
		if err != nil {
			t.Fatalf("round %d: reopen device: %v", round, err)
		}
		l, err := nvme.OpenLog(d, nvme.LogOptions{})
		if err != nil {
			t.Fatalf("round %d: reopen log: %v", round, err)
		}
		for _, loc := range acked {
			checkRecord(t, l, loc, crashMax)
		}
		maxKey := uint64(0)
		l.Walk(func(key [nvme.KeySize]byte, loc nvme.Location) error {
			maxKey = max(maxKey, binary.LittleEndian.Uint64(key[:]))
			return nil
		})
		next = maxKey + 1
		l.Close()
		d.Close()
		t.Logf("round %d: %d records acknowledged in all, all intact; %+v", round, len(acked), nvme.DescribeDevice(d))
	}
}
