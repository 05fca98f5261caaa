package gitrepo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/helios-vcs/helios/helper/gitobj"
)

// TestBatchPipe: the pipe carries exactly what cat-file reads, in order,
// a missing object says so, and progress counts every id handed to git.
func TestBatchPipe(t *testing.T) {
	ctx := context.Background()
	dir, r := newRepo(t, "sha1")
	// One object above the size ReadBatchObject allocates at once.
	big := bytes.Repeat([]byte("0123456789abcdef"), exactAlloc/16*2+7)
	os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644)
	gitIn(t, dir, "add", "big.bin")
	gitIn(t, dir, "commit", "-q", "-m", "big")
	ids := headObjects(t, r)
	missing := gitobj.MustParseOID(strings.Repeat("1", 40))
	ask := append(append([]gitobj.OID{}, ids...), missing)
	n := 0
	p, err := r.BatchPipe(ctx, idChan(ask), func() { n++ })
	if err != nil {
		t.Fatal(err)
	}
	cf, err := r.CatFile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	br := bufio.NewReader(p.R())
	sawBig := false
	for _, id := range ids {
		got, err := ReadBatchObject(br, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		want, err := cf.Read(id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Type != want.Type || got.OID != id || !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("%s: pipe gave %v of %d bytes, cat-file %v of %d", id, got.Type, len(got.Data), want.Type, len(want.Data))
		}
		sawBig = sawBig || bytes.Equal(got.Data, big)
	}
	if !sawBig {
		t.Error("the big blob did not come through")
	}
	if o, err := ReadBatchObject(br, 1<<30); !errors.Is(err, ErrNotFound) || o.OID != missing {
		t.Errorf("missing object: %v %v, want ErrNotFound for %v", o.OID, err, missing)
	}
	if _, err := ReadBatchObject(br, 1<<30); err != io.EOF {
		t.Errorf("read past the end: %v, want io.EOF", err)
	}
	p.R().Close()
	if err := p.Wait(false); err != nil {
		t.Errorf("wait: %v", err)
	}
	if n != len(ask) {
		t.Errorf("progress counted %d ids, want %d", n, len(ask))
	}

	// A reader that stops early: git is stopped, which is not an error.
	p, err = r.BatchPipe(ctx, idChan(ids), nil)
	if err != nil {
		t.Fatal(err)
	}
	p.R().Close()
	if err := p.Wait(true); err != nil {
		t.Errorf("stopped early: %v", err)
	}
}

// headObjects lists the objects HEAD reaches.
func headObjects(t *testing.T, r *Repo) []gitobj.OID {
	t.Helper()
	ctx := context.Background()
	head, err := r.ResolveRev(ctx, "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	var ids []gitobj.OID
	if err := r.ListObjects(ctx, []gitobj.OID{head}, nil, func(id gitobj.OID) error { ids = append(ids, id); return nil }); err != nil {
		t.Fatal(err)
	}
	return ids
}

// idChan is a closed channel of ids.
func idChan(ids []gitobj.OID) <-chan gitobj.OID {
	c := make(chan gitobj.OID, len(ids))
	for _, id := range ids {
		c <- id
	}
	close(c)
	return c
}

// TestBatchPipeStreamed: ids that come one at a time, each only after
// the object before it was read, all come back (what git holds is handed
// over whenever no id is ready); a reader that goes away stops git, and
// the ids sent after that are still taken.
func TestBatchPipeStreamed(t *testing.T) {
	ctx := context.Background()
	dir, r := newRepo(t, "sha1")
	for i := range 5 {
		os.WriteFile(filepath.Join(dir, "f"), []byte(strings.Repeat("x", i+1)), 0o644)
		gitIn(t, dir, "add", "f")
		gitIn(t, dir, "commit", "-q", "-m", "c")
	}
	ids := headObjects(t, r)
	in := make(chan gitobj.OID)
	p, err := r.BatchPipe(ctx, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(p.R())
	for _, id := range ids {
		in <- id
		got, err := ReadBatchObject(br, 1<<20)
		if err != nil || got.OID != id {
			t.Fatalf("asked for %s, read %s, %v", id, got.OID, err)
		}
	}
	close(in)
	if _, err := ReadBatchObject(br, 1<<20); err != io.EOF {
		t.Errorf("after the last id: %v, want io.EOF", err)
	}
	p.R().Close()
	if err := p.Wait(false); err != nil {
		t.Errorf("wait: %v", err)
	}

	in = make(chan gitobj.OID)
	if p, err = r.BatchPipe(ctx, in, nil); err != nil {
		t.Fatal(err)
	}
	p.R().Close()
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		for range 20000 { // far more than the pipes hold
			in <- ids[0]
		}
		close(in)
	}()
	<-sent
	if err := p.Wait(false); err != nil {
		t.Errorf("a reader that went away: %v", err)
	}
}

// TestReadBatchObjectHostile: output that is not what was asked for, or
// not cat-file's format, is refused with the reason.
func TestReadBatchObjectHostile(t *testing.T) {
	id := gitobj.MustParseOID("ce013625030ba8dba906f756967f9e9ca394464a") // "hello\n"
	ok := id.String() + " blob 6\nhello\n\n"
	if o, err := ReadBatchObject(bufio.NewReader(strings.NewReader(ok)), 100); err != nil || string(o.Data) != "hello\n" || o.Type != gitobj.Blob || o.OID != id {
		t.Fatalf("good record: %v %q", err, o.Data)
	}
	cases := map[string]struct {
		in, want string
		max      int64
	}{
		"not an id":      {"hello blob 6\nhello\n\n", "unexpected reply", 100},
		"two words":      {id.String() + " blob\n", "unexpected reply", 100},
		"four words":     {id.String() + " blob 6 7\nhello\n\n", "unexpected reply", 100},
		"two spaces":     {id.String() + "  blob 6\nhello\n", "unexpected reply", 100},
		"a tab":          {id.String() + " blob\t6\nhello\n", "unexpected reply", 100},
		"bad type":       {id.String() + " blub 6\nhello\n", "unknown object type", 100},
		"bad size":       {id.String() + " blob -6\nhello\n", "bad size", 100},
		"size not digit": {id.String() + " blob six\nhello\n", "bad size", 100},
		"too big":        {id.String() + " blob 6\nhello\n", "above the limit", 5},
		"truncated":      {id.String() + " blob 6\nhel", "unexpected EOF", 100},
		"no terminator":  {id.String() + " blob 6\nhello\nX", "missing terminator", 100},
		"huge claim":     {id.String() + " blob 1000000000\nhello\n", "unexpected EOF", 1 << 40},
		"no newline":     {id.String() + " blob 6", "reading a header", 100},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ReadBatchObject(bufio.NewReader(strings.NewReader(c.in)), c.max)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error saying %q", err, c.want)
			}
		})
	}
	// A record split across many small reads still comes out whole.
	o, err := ReadBatchObject(bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(ok)), 64), 100)
	if err != nil || string(o.Data) != "hello\n" {
		t.Fatalf("one byte at a time: %v %q", err, o.Data)
	}
}

// TestHugeMalloc: git runs with glibc's malloc asking for huge pages,
// added to the tunables the user set, unless they chose otherwise.
func TestHugeMalloc(t *testing.T) {
	cases := map[string]struct{ env, want []string }{
		"none":   {[]string{"A=1"}, []string{"A=1", "GLIBC_TUNABLES=glibc.malloc.hugetlb=1"}},
		"others": {[]string{"GLIBC_TUNABLES=glibc.malloc.arena_max=2"}, []string{"GLIBC_TUNABLES=glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"}},
		"empty":  {[]string{"GLIBC_TUNABLES="}, []string{"GLIBC_TUNABLES=glibc.malloc.hugetlb=1"}},
		"chosen": {[]string{"GLIBC_TUNABLES=glibc.malloc.hugetlb=0"}, []string{"GLIBC_TUNABLES=glibc.malloc.hugetlb=0"}},
	}
	for name, c := range cases {
		if got := HugeMalloc(c.env); strings.Join(got, " ") != strings.Join(c.want, " ") {
			t.Errorf("%s: got %q, want %q", name, got, c.want)
		}
	}
	// And the git processes get it.
	_, r := newRepo(t, "sha1")
	t.Setenv("GLIBC_TUNABLES", "")
	cmd := r.command(context.Background(), "version")
	if !slices.Contains(cmd.Env, "GLIBC_TUNABLES=glibc.malloc.hugetlb=1") {
		t.Errorf("git's environment lacks the tunable: %q", cmd.Env)
	}
}
