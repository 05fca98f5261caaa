package objstore

import (
	"context"
	"fmt"
)

// kindTierChunk names the 'C' key space in fsck's scan loop only.
const kindTierChunk Kind = 100

// FsckReport is what Fsck found. The store is clean when Problems is empty.
type FsckReport struct {
	Refs         int            `json:"refs"`
	Reachable    map[string]int `json:"reachable"`
	Unreferenced map[string]int `json:"unreferenced"`
	Problems     []Problem      `json:"problems"`
}

// Clean reports whether fsck found nothing wrong. Unreferenced objects are
// not a problem: a crash can leave them, and gc removes them.
func (r *FsckReport) Clean() bool { return len(r.Problems) == 0 }

// Fsck checks the store: every ref is well-formed and resolves, and every
// object reachable from a ref is present, matches its ID, and decodes. With
// full it also reads every stored object, reachable or not, checks it the
// same way and counts the unreferenced ones.
func (s *Store) Fsck(ctx context.Context, full bool) (*FsckReport, error) {
	m := newMarker(ctx, s, true)
	n, err := m.markRefs()
	if err != nil {
		return nil, err
	}
	rep := &FsckReport{Refs: n, Reachable: map[string]int{}, Unreferenced: map[string]int{}}
	for k, c := range m.counts {
		rep.Reachable[k.String()] = c
	}
	if full {
		for _, k := range []Kind{KindState, KindTree, KindBlob, KindChunk, kindTierChunk} {
			prefix := []byte{prefixTierChunk}
			if k != kindTierChunk {
				prefix[0] = k.prefix()
			}
			err := s.kv.Scan(prefix, func(key, v []byte) error {
				var id ID
				if len(key) != 33 {
					m.problems = append(m.problems, Problem{Kind: k, Err: fmt.Sprintf("malformed key %q", key)})
					return nil
				}
				copy(id[:], key[1:])
				if k == kindTierChunk {
					if !m.seen[objRef{KindChunk, id}] {
						rep.Unreferenced["chunk"]++
						if b, err := s.readTierChunk(id); err != nil {
							m.problem(KindChunk, id, "", fmt.Errorf("unreferenced: %w", err))
						} else if got := s.hash.Sum(KindChunk, b); got != id {
							m.problem(KindChunk, id, "", fmt.Errorf("%w: hashes to %v (unreferenced)", ErrCorrupt, got.Short()))
						}
					}
					return ctx.Err()
				}
				if m.seen[objRef{k, id}] || k == KindTree && m.seen[objRef{kindTreeBase, id}] {
					return nil
				}
				rep.Unreferenced[k.String()]++
				// Chunked blobs hash their content; their chunks are checked
				// on their own under the chunk prefix.
				data, check := v, true
				if k == KindBlob {
					check = len(v) > 0 && v[0] == blobInline
					if check {
						data = v[1:]
					}
				}
				if k == KindTree && len(v) > 0 && v[0] == treeDeltaFormat {
					check = false // a delta is checked by rebuilding its tree
					if _, _, err := s.treeFromValue(id, v, false, maxTreeDepth); err != nil {
						m.problem(k, id, "", fmt.Errorf("%w (unreferenced)", err))
					}
				}
				if check {
					if got := s.hash.Sum(k, data); got != id {
						m.problem(k, id, "", fmt.Errorf("%w: hashes to %v (unreferenced)", ErrCorrupt, got.Short()))
					}
				}
				return ctx.Err()
			})
			if err != nil {
				return nil, err
			}
		}
	}
	rep.Problems = m.problems
	return rep, nil
}
