package helper

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/helios-vcs/helios/helper/gitobj"
	"github.com/helios-vcs/helios/helper/gitrepo"
)

// fetch implements:
//
//	fetch <sha1> <name>
//		Fetches the given object, writing the necessary objects to the
//		database. Fetch commands are sent in a batch, one per line,
//		terminated with a blank line. Outputs a single blank line when all
//		fetch commands in the same batch are complete. Only objects which
//		were reported in the output of list with a sha1 may be fetched
//		this way.
//		Optionally may output a lock <file> line indicating the full path
//		of a file under $GIT_DIR/objects/pack which is keeping a pack
//		until refs can be suitably updated. The path must end with .keep.
//	check-connectivity
//		Can guarantee that when a clone is requested, the received pack
//		is self contained and is connected.
//
// The missing objects become one pack + .idx + .keep; the answer is
// "lock <keep>", then "connectivity-ok" if git sent
// "option check-connectivity true" (only on clone, where the pack holds
// the whole closure of the wants), then a blank line.
func (s *session) fetch(ctx context.Context, first string) error {
	lines, err := s.batch(first, "fetch")
	if err != nil {
		return err
	}
	if _, err := s.connect(); err != nil {
		return err
	}
	local, err := s.localRepo(ctx)
	if err != nil {
		return err
	}
	var wants []gitobj.OID
	seen := make(map[gitobj.OID]bool)
	for _, line := range lines {
		f := strings.Fields(strings.TrimPrefix(line, "fetch "))
		if len(f) != 2 {
			return fmt.Errorf("helper: malformed fetch %q", line)
		}
		id, err := gitobj.ParseOIDFormat(local.Format(), f[0])
		if err != nil {
			return fmt.Errorf("helper: fetch: %w", err)
		}
		if err := CheckRefName(f[1]); err != nil {
			return err
		}
		if !seen[id] {
			seen[id] = true
			wants = append(wants, id)
		}
	}
	var haves []gitobj.OID
	if !s.refetch {
		refs, err := s.localRefList(ctx, local)
		if err != nil {
			return fmt.Errorf("helper: fetch: %w", err)
		}
		for _, r := range refs {
			haves = append(haves, r.OID)
		}
	}
	// A clone from a remote that keeps clone packs installs one and
	// fetches only what its tips lack.
	var again []gitobj.Object
	if cp, ok := s.remote.(ClonePacker); ok && len(haves) == 0 {
		pack, err := cp.InstallClonePack(ctx, wants, filepath.Join(local.GitDir(), "objects", "pack"))
		if err != nil {
			return fmt.Errorf("helper: fetch: %w", err)
		}
		if pack != nil {
			haves, again = pack.Tips, pack.Wanted
			if s.progress && s.verbosity >= 1 {
				fmt.Fprintf(s.cfg.Err, "helios: installed a clone pack of %d tips\n", len(haves))
			}
		}
	}
	// A remote that verifies what it serves (the helios store checks every
	// value against its BLAKE3 ID) lets the pack writer check git ids with
	// the fast SHA-1.
	v, trusted := s.remote.(VerifyingRemote)
	pw, err := local.NewPackWriter(gitrepo.PackOptions{TrustedSource: trusted && v.VerifiesObjects(), KeepData: true})
	if err != nil {
		return fmt.Errorf("helper: fetch: %w", err)
	}
	for _, o := range again {
		if err := pw.WriteObject(o); err != nil {
			pw.Abort()
			return fmt.Errorf("helper: fetch: %w", err)
		}
	}
	sink := &progressSink{s: s, w: pw, what: "receiving objects"}
	if err := s.remote.Fetch(ctx, wants, haves, sink); err != nil {
		pw.Abort()
		return fmt.Errorf("helper: fetch: %w", err)
	}
	pf, err := pw.Finish()
	if err != nil {
		return fmt.Errorf("helper: fetch: %w", err)
	}
	sink.done()
	if pf.Keep != "" {
		fmt.Fprintf(s.out, "lock %s\n", pf.Keep)
	}
	if s.checkConnectivity {
		s.out.WriteString("connectivity-ok\n")
	}
	s.out.WriteString("\n")
	return nil
}

// progressSink counts objects on stderr when git asked for progress.
type progressSink struct {
	s    *session
	w    ObjectSink
	what string
	n    int
}

func (p *progressSink) WriteObject(obj gitobj.Object) error {
	p.n++
	if p.s.progress && p.s.verbosity >= 1 && p.n%1000 == 0 {
		fmt.Fprintf(p.s.cfg.Err, "\rhelios: %s: %d", p.what, p.n)
	}
	return p.w.WriteObject(obj)
}

func (p *progressSink) done() {
	if p.s.progress && p.s.verbosity >= 1 && p.n > 0 {
		fmt.Fprintf(p.s.cfg.Err, "\rhelios: %s: %d, done.\n", p.what, p.n)
	}
}
