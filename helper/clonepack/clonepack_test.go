package clonepack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/gitobj"
)

func blob(t *testing.T, s string) gitobj.Object {
	t.Helper()
	o := gitobj.Object{Type: gitobj.Blob, Data: []byte(s)}
	var err error
	if o.OID, err = gitobj.HashObject(gitobj.SHA1, o.Type, o.Data); err != nil {
		t.Fatal(err)
	}
	return o
}

// writer hands objs to the sink.
func writer(objs ...gitobj.Object) func(helper.ObjectSink) error {
	return func(sink helper.ObjectSink) error {
		for _, o := range objs {
			if err := sink.WriteObject(o); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestBuildFindEvictClear(t *testing.T) {
	c := Open(filepath.Join(t.TempDir(), "cache"), 2)
	if p, err := c.Find(func([]gitobj.OID) (bool, error) { return true, nil }); p != nil || err != nil {
		t.Fatalf("empty cache: %v %v", p, err)
	}
	var built []*Pack
	for i := range 3 {
		o := blob(t, fmt.Sprint("content ", i))
		p, err := c.Build(context.Background(), []gitobj.OID{o.OID}, writer(o))
		if err != nil {
			t.Fatal(err)
		}
		if p.Objects != 1 || len(p.Tips) != 1 || p.Tips[0] != o.OID {
			t.Fatalf("pack %d: %+v", i, p)
		}
		built = append(built, p)
	}
	// Two kept, the oldest evicted; Find offers the newest that fits.
	if _, err := os.Stat(built[0].PackPath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("oldest pack not evicted: %v", err)
	}
	var asked [][]gitobj.OID
	p, err := c.Find(func(tips []gitobj.OID) (bool, error) {
		asked = append(asked, tips)
		return tips[0] == built[1].Tips[0], nil
	})
	if err != nil || p == nil || p.Name != built[1].Name {
		t.Fatalf("Find: %+v %v", p, err)
	}
	if len(asked) != 2 || asked[0][0] != built[2].Tips[0] {
		t.Fatalf("Find asked about %v, want the newest pack first", asked)
	}
	if _, err := c.Find(func([]gitobj.OID) (bool, error) { return false, errors.New("boom") }); err == nil {
		t.Fatal("Find hid the covered func's error")
	}
	// Used, the older pack outlives a newer one at the next eviction.
	o := blob(t, "content 3")
	if _, err := c.Build(context.Background(), []gitobj.OID{o.OID}, writer(o)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(built[1].PackPath()); err != nil {
		t.Fatalf("the pack just used was evicted: %v", err)
	}
	if _, err := os.Stat(built[2].PackPath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the least recently used pack was kept: %v", err)
	}
	if err := c.Clear(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(c.Dir()); len(left) != 0 {
		t.Fatalf("Clear left %v", left)
	}
	if err := Open(filepath.Join(t.TempDir(), "never made"), 0).Clear(); err != nil {
		t.Fatalf("Clear of a cache never made: %v", err)
	}
}

func TestBuildFailureLeavesNothing(t *testing.T) {
	c := Open(t.TempDir(), 0)
	o := blob(t, "x")
	boom := errors.New("store broke")
	_, err := c.Build(context.Background(), []gitobj.OID{o.OID}, func(sink helper.ObjectSink) error {
		sink.WriteObject(o)
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v, want the writer's error", err)
	}
	// A wrong id is refused by the pack writer.
	bad := o
	bad.Data = []byte("not x")
	if _, err := c.Build(context.Background(), []gitobj.OID{o.OID}, writer(bad)); err == nil {
		t.Fatal("a pack with an object whose id does not match was built")
	}
	if _, err := c.Build(context.Background(), []gitobj.OID{o.OID}, writer()); err == nil {
		t.Fatal("an empty pack was built")
	}
	if left, _ := os.ReadDir(c.Dir()); len(left) != 0 {
		t.Fatalf("failed builds left %v", left)
	}
}

// Concurrent builds of the same tips share one.
func TestBuildSingleFlight(t *testing.T) {
	c := Open(t.TempDir(), 0)
	o := blob(t, "shared")
	var calls atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	packs := make([]*Pack, 4)
	for i := range packs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := c.Build(context.Background(), []gitobj.OID{o.OID}, func(sink helper.ObjectSink) error {
				calls.Add(1)
				<-release
				return sink.WriteObject(o)
			})
			if err != nil {
				t.Error(err)
			}
			packs[i] = p
		}()
	}
	for calls.Load() == 0 {
		runtime.Gosched() // until the first build starts
	}
	close(release)
	wg.Wait()
	// Builds that arrived after the first finished make their own pack (of
	// the same content and name); the ones during it share it.
	for _, p := range packs {
		if p == nil || p.Name != packs[0].Name {
			t.Fatalf("packs differ: %+v", packs)
		}
	}
	if calls.Load() > int32(len(packs)) {
		t.Fatalf("%d builds", calls.Load())
	}
}

func TestInstall(t *testing.T) {
	c := Open(t.TempDir(), 0)
	o := blob(t, "to install")
	p, err := c.Build(context.Background(), []gitobj.OID{o.OID}, writer(o))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(p.PackPath())
	repo := filepath.Join(t.TempDir(), "objects", "pack")
	if err := p.Install(repo); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(repo, "pack-"+p.Name+".pack"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("installed pack differs: %v", err)
	}
	if _, err := os.Stat(filepath.Join(repo, "pack-"+p.Name+".idx")); err != nil {
		t.Fatal(err)
	}
	// Installing again leaves it as it is.
	if err := p.Install(repo); err != nil {
		t.Fatal(err)
	}
	// From streams: copies, and a short stream is an error that leaves
	// neither file.
	other := filepath.Join(t.TempDir(), "pack")
	idx, _ := os.ReadFile(p.IndexPath())
	if err := InstallFrom(other, p.Name, bytes.NewReader(want), bytes.NewReader(idx), nil); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(t.TempDir(), "pack")
	failing := io.MultiReader(bytes.NewReader(idx[:10]), errReader{})
	if err := InstallFrom(short, p.Name, bytes.NewReader(want), failing, nil); err == nil {
		t.Fatal("a failing index stream installed")
	}
	if left, _ := os.ReadDir(short); len(left) != 0 {
		t.Fatalf("a failed install left %v", left)
	}
	for _, name := range []string{"../../etc/x", strings.Repeat("g", 40), ""} {
		if err := InstallFrom(short, name, bytes.NewReader(want), bytes.NewReader(idx), nil); err == nil {
			t.Fatalf("pack name %q accepted", name)
		}
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }
