package objstore_test

import (
	"fmt"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/helios-vcs/helios/objstore"
	"pgregory.net/rapid"
)

// TestDraftMatchesModel drives a Draft with random puts and deletes (with
// files turning into directories and back) and commits, against a plain map
// of path → content. After every commit the state's files, and the diff
// from the previous state, must match the model.
func TestDraftMatchesModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		s, err := objstore.Init(objstore.NewMemKV(), objstore.Options{})
		if err != nil {
			rt.Fatal(err)
		}
		defer s.Close()
		d, _ := s.NewDraft(objstore.ZeroID)
		model := map[string]string{}
		prevModel := map[string]string{}
		prev := objstore.ZeroID
		names := []string{"a", "b", "a.txt", "dir"}
		genPath := rapid.Custom(func(t *rapid.T) string {
			n := rapid.IntRange(1, 3).Draw(t, "depth")
			p := ""
			for i := 0; i < n; i++ {
				if i > 0 {
					p += "/"
				}
				p += rapid.SampledFrom(names).Draw(t, "name")
			}
			return p
		})
		for step := 0; step < 30; step++ {
			switch rapid.IntRange(0, 3).Draw(rt, "op") {
			case 0, 1:
				p := genPath.Draw(rt, "path")
				c := fmt.Sprintf("content %d", rapid.IntRange(0, 3).Draw(rt, "c"))
				if err := d.Put(p, objstore.ModeFile, []byte(c)); err != nil {
					rt.Fatalf("Put(%q): %v", p, err)
				}
				// Model: p replaces any file on its parent path and anything under p.
				for q := range model {
					if q == p || len(q) > len(p) && q[:len(p)+1] == p+"/" || len(p) > len(q) && p[:len(q)+1] == q+"/" {
						delete(model, q)
					}
				}
				model[p] = c
			case 2:
				p := genPath.Draw(rt, "path")
				err := d.Delete(p)
				found := false
				for q := range model {
					if q == p || len(q) > len(p) && q[:len(p)+1] == p+"/" {
						delete(model, q)
						found = true
					}
				}
				if found != (err == nil) {
					rt.Fatalf("Delete(%q) = %v, model had it: %v", p, err, found)
				}
			case 3:
				id, err := d.Commit(objstore.CommitOptions{AllowEmpty: true})
				if err != nil {
					rt.Fatal(err)
				}
				got := map[string]string{}
				st, _ := s.State(id)
				s.Walk(st.Root, func(p string, e objstore.Entry) error {
					if !e.Mode.IsDir() {
						b, _ := s.Blob(e.ID)
						got[p] = string(b)
					}
					return nil
				})
				if diff := cmp.Diff(model, got); diff != "" {
					rt.Fatalf("state after commit (-model +got):\n%s", diff)
				}
				changes, err := s.DiffStates(prev, id)
				if err != nil {
					rt.Fatal(err)
				}
				var gotCh, wantCh []string
				for _, c := range changes {
					gotCh = append(gotCh, c.Op.String()+" "+c.Path)
				}
				for p, c := range model {
					if old, ok := prevModel[p]; !ok {
						wantCh = append(wantCh, "added "+p)
					} else if old != c {
						wantCh = append(wantCh, "modified "+p)
					}
				}
				for p := range prevModel {
					if _, ok := model[p]; !ok {
						wantCh = append(wantCh, "deleted "+p)
					}
				}
				sort.Strings(gotCh)
				sort.Strings(wantCh)
				if diff := cmp.Diff(wantCh, gotCh); diff != "" {
					rt.Fatalf("diff (-want +got):\n%s", diff)
				}
				prev = id
				prevModel = map[string]string{}
				for k, v := range model {
					prevModel[k] = v
				}
			}
		}
	})
}
