package storeaudit

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/objstore"
	"golang.org/x/mod/sumdb/note"
)

// initialHEAD is the symbolic HEAD objstore.Init makes.
const initialHEAD = "refs/heads/main"

// VerifyStore checks the store's audit log (audit.Verify) and then that the
// log accounts for the store as it is: replaying every record's ref
// changes must give exactly the store's refs, and the stored policy must
// be the one the last policy record names, and the stored token set the
// one the last token record names. A ref moved, a policy changed or a
// token added without a record (by writing the KV behind the journal's
// back) shows up here.
func VerifyStore(s *objstore.Store, v note.Verifier) (*audit.Report, error) {
	src := Source(s.KV())
	rep, err := audit.Verify(src, v)
	if err != nil {
		return nil, err
	}
	log, err := audit.OpenLog(src, nil)
	if err != nil {
		rep.Problems = append(rep.Problems, err.Error())
		return rep, nil
	}
	refs := map[string]string{}
	policy, tokens := "", ""
	for i := int64(0); i < rep.Records; i++ {
		r, err := log.Record(i)
		if err != nil {
			continue // reported by Verify
		}
		for _, c := range r.Refs {
			switch {
			case c.Target != "":
				refs[c.Name] = "-> " + c.Target
			case c.New == "":
				delete(refs, c.Name)
			default:
				refs[c.Name] = c.New
			}
		}
		switch r.Event {
		case audit.EventPolicy:
			policy = r.Attrs["policy"]
		case audit.EventToken:
			tokens = r.Attrs["tokens"]
		}
	}
	have, err := s.Refs("")
	if err != nil {
		return nil, err
	}
	for _, r := range have {
		val := r.ID.String()
		if r.IsSymbolic() {
			val = "-> " + r.Target
		}
		logged, ok := refs[r.Name]
		switch {
		case !ok && r.Name == "HEAD" && r.Target == initialHEAD:
			// objstore.Init makes this HEAD without the journal.
		case !ok:
			rep.Problems = append(rep.Problems, fmt.Sprintf("ref %s is %s but the log never recorded it", r.Name, val))
		case logged != val:
			rep.Problems = append(rep.Problems, fmt.Sprintf("ref %s is %s but the log says %s", r.Name, val, logged))
		}
		delete(refs, r.Name)
	}
	for _, name := range slices.Sorted(maps.Keys(refs)) {
		rep.Problems = append(rep.Problems, fmt.Sprintf("ref %s is missing but the log says %s", name, refs[name]))
	}
	p, err := LoadPolicy(s.KV())
	switch {
	case errors.Is(err, ErrNoPolicy):
		if policy != "" {
			rep.Problems = append(rep.Problems, "the store has no policy but the log recorded one")
		}
	case err != nil:
		rep.Problems = append(rep.Problems, fmt.Sprintf("policy: %v", err))
	case p.Digest() != policy:
		rep.Problems = append(rep.Problems, fmt.Sprintf("policy %s was not recorded in the log (last recorded: %q)", p.Digest(), policy))
	}
	if msg := checkTokens(s, tokens); msg != "" {
		rep.Problems = append(rep.Problems, msg)
	}
	return rep, nil
}

// checkTokens compares the stored token set with the digest the last token
// record names ("" if none did); it returns a problem or "".
func checkTokens(s *objstore.Store, logged string) string {
	raw, ok, err := Source(s.KV()).Lookup(audit.TokensKey)
	switch {
	case err != nil:
		return fmt.Sprintf("tokens: %v", err)
	case !ok && logged == "":
		return ""
	case !ok:
		return "the store has no token set but the log recorded one"
	}
	ts, err := audit.ParseTokens(raw)
	if err != nil {
		return fmt.Sprintf("tokens: %v", err)
	}
	if d := ts.Digest(); d != logged {
		return fmt.Sprintf("token set %s was not recorded in the log (last recorded: %q)", d, logged)
	}
	return ""
}
