//go:build !thin

package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/audit/storeaudit"
	"github.com/helios-vcs/helios/cmd/internal/storedir"
	"github.com/helios-vcs/helios/objstore"
	"github.com/urfave/cli/v2"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The store's audit signing key lives in the store directory, beside the
// database: audit-signer.key (mode 0600) and audit-verifier.key (the key
// clients pin). Whoever can read the signer file can sign checkpoints;
// that is why clients keep checkpoints and check consistency (see package
// audit). Keep the directory's permissions tight, or move the signer to an
// HSM behind a note.Signer.

func auditSigner(storeDir string) (note.Signer, error) { return storedir.Signer(storeDir) }

func auditJournal(storeDir string, kv objstore.KV) (*storeaudit.Journal, error) {
	return storedir.Journal(storeDir, kv)
}

// journalled opens the store for writing in this process, with its audit
// journal, for fn to make a change the log records (a policy or witness
// list set without a server).
func journalled(store string, stderr io.Writer, fn func(*objstore.Store, *storeaudit.Journal) error) error {
	s, err := openExclusive(store, false, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	j, err := auditJournal(store, s.KV())
	if err != nil {
		return err
	}
	return fn(s, j)
}

// verifierFor parses the --key flag, or the store's verifier key file.
func verifierFor(storeDir, key string) (note.Verifier, error) {
	if key == "" {
		key = filepath.Join(storeDir, audit.VerifierKeyFile)
	}
	return audit.LoadVerifier(key)
}

var auditKeyFlag = &cli.StringFlag{
	Name:    "key",
	Usage:   "the verifier key to trust (text or file); default: the store's own audit-verifier.key, which proves nothing against whoever can write the store directory",
	EnvVars: []string{"HELIOS_AUDIT_KEY"},
}

func auditCommand() *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "read, verify and prove the store's signed, tamper-evident audit log",
		Subcommands: []*cli.Command{
			{
				Name:  "log",
				Usage: "print the audit records",
				Flags: []cli.Flag{storeFlag, jsonFlag,
					&cli.Int64Flag{Name: "from", Usage: "first record"},
					&cli.Int64Flag{Name: "limit", Usage: "at most this many records (0: all)"},
				},
				Action: func(c *cli.Context) error {
					return runAuditLog(auditLogOptions{store: c.String("store"), json: c.Bool("json"), from: c.Int64("from"), limit: c.Int64("limit")}, c.App.Writer, c.App.ErrWriter)
				},
			},
			{
				Name:  "verify",
				Usage: "recompute the whole log, check its signed checkpoint and that it accounts for every ref and the policy (exit 1 on any mismatch)",
				Flags: []cli.Flag{storeFlag, jsonFlag, auditKeyFlag,
					&cli.StringFlag{Name: "witnesses", Usage: "require the latest checkpoint to extend one cosigned by these witnesses (keys or .pub files, comma-separated); default: the store's own list, if any", EnvVars: []string{"HELIOS_WITNESSES"}},
					&cli.IntFlag{Name: "witness-quorum", Usage: "cosignatures required (default: every witness)", EnvVars: []string{"HELIOS_WITNESS_QUORUM"}},
					&cli.DurationFlag{Name: "witness-max-age", Usage: "oldest cosignature counted", Value: audit.DefaultWitnessMaxAge, EnvVars: []string{"HELIOS_WITNESS_MAX_AGE"}},
				},
				Action: func(c *cli.Context) error {
					cw := audit.ClientWitnesses{List: c.String("witnesses"), Quorum: c.Int("witness-quorum"), MaxAge: c.Duration("witness-max-age")}
					return runAuditVerify(c.String("store"), c.String("key"), cw, c.Bool("json"), c.App.Writer, c.App.ErrWriter)
				},
			},
			{
				Name:  "prove",
				Usage: "print and check an inclusion proof (--record N [--size T]) or a consistency proof (--from-size A --to-size B)",
				Flags: []cli.Flag{storeFlag, jsonFlag,
					&cli.Int64Flag{Name: "record", Value: -1, Usage: "record index"},
					&cli.Int64Flag{Name: "size", Usage: "tree size for the inclusion proof (default: the log's size)"},
					&cli.Int64Flag{Name: "from-size", Usage: "older tree size"},
					&cli.Int64Flag{Name: "to-size", Usage: "newer tree size (default: the log's size)"},
				},
				Action: func(c *cli.Context) error {
					o := auditProveOptions{store: c.String("store"), json: c.Bool("json"), record: c.Int64("record"),
						size: c.Int64("size"), from: c.Int64("from-size"), to: c.Int64("to-size")}
					return runAuditProve(o, c.App.Writer, c.App.ErrWriter)
				},
			},
			{
				Name:  "checkpoint",
				Usage: "print the latest signed checkpoint (what clients keep), or with --cosigned the newest one witnesses cosigned",
				Flags: []cli.Flag{storeFlag, &cli.BoolFlag{Name: "cosigned", Usage: "the newest checkpoint with witness cosignatures"}},
				Action: func(c *cli.Context) error {
					return runAuditCheckpoint(c.String("store"), c.Bool("cosigned"), c.App.Writer, c.App.ErrWriter)
				},
			},
			auditWitnessCommand(),
		},
	}
}

// openAuditLog opens the store read-only and its audit log.
func openAuditLog(store string, stderr io.Writer) (*objstore.Store, *audit.Log, error) {
	s, err := openStore(store, forRead, false, stderr)
	if err != nil {
		return nil, nil, err
	}
	l, err := storeaudit.OpenLog(s.KV(), nil)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, l, nil
}

type auditLogOptions struct {
	store       string
	json        bool
	from, limit int64
}

// recordJSON is how `audit log --json` prints a record.
type recordJSON struct {
	Index int64             `json:"index"`
	Time  time.Time         `json:"time"`
	Actor string            `json:"actor"`
	Event audit.Event       `json:"event"`
	Refs  []refChangeJSON   `json:"refs,omitempty"`
	Attrs map[string]string `json:"attrs,omitempty"`
	Hash  string            `json:"leaf_hash"`
}

type refChangeJSON struct {
	Name   string `json:"name"`
	Old    string `json:"old,omitempty"`
	New    string `json:"new,omitempty"`
	Target string `json:"target,omitempty"`
}

func runAuditLog(o auditLogOptions, stdout, stderr io.Writer) error {
	s, l, err := openAuditLog(o.store, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	end := l.Size()
	if o.limit > 0 && o.from+o.limit < end {
		end = o.from + o.limit
	}
	enc := json.NewEncoder(stdout)
	for i := max(o.from, 0); i < end; i++ {
		data, err := l.RecordBytes(i)
		if err != nil {
			return err
		}
		r, err := audit.DecodeRecord(data)
		if err != nil {
			return fmt.Errorf("record %d: %w (run: helios audit verify)", i, err)
		}
		if o.json {
			rj := recordJSON{Index: i, Time: r.Time, Actor: r.Actor, Event: r.Event, Attrs: r.Attrs, Hash: hashText(tlog.RecordHash(data))}
			for _, c := range r.Refs {
				rj.Refs = append(rj.Refs, refChangeJSON(c))
			}
			if err := enc.Encode(rj); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(stdout, "#%d %s %s %s\n", i, r.Time.Format(time.RFC3339), r.Actor, r.Event)
		for _, c := range r.Refs {
			switch {
			case c.Target != "":
				fmt.Fprintf(stdout, "    %s -> %s\n", c.Name, c.Target)
			case c.Old == "":
				fmt.Fprintf(stdout, "    %s created at %s\n", c.Name, c.New)
			case c.New == "":
				fmt.Fprintf(stdout, "    %s deleted (was %s)\n", c.Name, c.Old)
			default:
				fmt.Fprintf(stdout, "    %s %s -> %s\n", c.Name, c.Old, c.New)
			}
		}
		for _, k := range sortedKeys(r.Attrs) {
			fmt.Fprintf(stdout, "    %s: %s\n", k, r.Attrs[k])
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

func hashText(h tlog.Hash) string { return base64.StdEncoding.EncodeToString(h[:]) }

func runAuditVerify(store, key string, cw audit.ClientWitnesses, asJSON bool, stdout, stderr io.Writer) error {
	s, err := openStore(store, forRead, false, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	v, err := verifierFor(store, key)
	if err != nil {
		return err
	}
	rep, err := storeaudit.VerifyStore(s, v)
	if err != nil {
		return err
	}
	var witnessOut bytes.Buffer // printed after the summary
	if rep.OK() {
		l, err := storeaudit.OpenLog(s.KV(), nil)
		if err != nil {
			return err
		}
		problems, err := verifyWitnessed(s.KV(), l, cw, store, key, &witnessOut)
		if err != nil {
			return err
		}
		rep.Problems = append(rep.Problems, problems...)
	}
	if asJSON {
		stderr.Write(witnessOut.Bytes())
	}
	if asJSON {
		out := struct {
			Records  int64    `json:"records"`
			Root     string   `json:"root"`
			Origin   string   `json:"origin"`
			OK       bool     `json:"ok"`
			Problems []string `json:"problems"`
		}{rep.Records, hashText(rep.Root), rep.Checkpoint.Origin, rep.OK(), rep.Problems}
		if err := json.NewEncoder(stdout).Encode(out); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "%d records, root %s, checkpoint signed by %s\n", rep.Records, hashText(rep.Root), v.Name())
		stdout.Write(witnessOut.Bytes())
		for _, p := range rep.Problems {
			fmt.Fprintf(stdout, "problem: %s\n", p)
		}
	}
	if !rep.OK() {
		return &exitError{1, fmt.Errorf("audit log verification found %d problems", len(rep.Problems))}
	}
	if !asJSON {
		fmt.Fprintln(stdout, "ok")
	}
	return nil
}

type auditProveOptions struct {
	store                  string
	json                   bool
	record, size, from, to int64
}

func runAuditProve(o auditProveOptions, stdout, stderr io.Writer) error {
	s, l, err := openAuditLog(o.store, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	type proofJSON struct {
		Kind     string   `json:"kind"`
		Record   int64    `json:"record,omitempty"`
		LeafHash string   `json:"leaf_hash,omitempty"`
		FromSize int64    `json:"from_size,omitempty"`
		FromRoot string   `json:"from_root,omitempty"`
		Size     int64    `json:"size"`
		Root     string   `json:"root"`
		Proof    []string `json:"proof"`
	}
	var out proofJSON
	switch {
	case o.record >= 0:
		size := o.size
		if size == 0 {
			size = l.Size()
		}
		data, err := l.RecordBytes(o.record)
		if err != nil {
			return err
		}
		p, err := l.ProveRecord(o.record, size)
		if err != nil {
			return err
		}
		root, err := l.TreeHash(size)
		if err != nil {
			return err
		}
		leaf := tlog.RecordHash(data)
		if err := tlog.CheckRecord(p, size, root, o.record, leaf); err != nil {
			return &exitError{1, fmt.Errorf("inclusion proof does not verify: %w", err)}
		}
		out = proofJSON{Kind: "inclusion", Record: o.record, LeafHash: hashText(leaf), Size: size, Root: hashText(root)}
		for _, h := range p {
			out.Proof = append(out.Proof, hashText(h))
		}
	case o.from > 0:
		to := o.to
		if to == 0 {
			to = l.Size()
		}
		p, err := l.ProveTree(to, o.from)
		if err != nil {
			return err
		}
		oldRoot, err := l.TreeHash(o.from)
		if err != nil {
			return err
		}
		root, err := l.TreeHash(to)
		if err != nil {
			return err
		}
		if err := tlog.CheckTree(p, to, root, o.from, oldRoot); err != nil {
			return &exitError{1, fmt.Errorf("consistency proof does not verify: %w", err)}
		}
		out = proofJSON{Kind: "consistency", FromSize: o.from, FromRoot: hashText(oldRoot), Size: to, Root: hashText(root)}
		for _, h := range p {
			out.Proof = append(out.Proof, hashText(h))
		}
	default:
		return fmt.Errorf("say --record N or --from-size A [--to-size B]")
	}
	if o.json {
		return json.NewEncoder(stdout).Encode(out)
	}
	if out.Kind == "inclusion" {
		fmt.Fprintf(stdout, "record %d (leaf %s) is in the tree of %d records, root %s\n", out.Record, out.LeafHash, out.Size, out.Root)
	} else {
		fmt.Fprintf(stdout, "the tree of %d records (root %s) is a prefix of the tree of %d records (root %s)\n", out.FromSize, out.FromRoot, out.Size, out.Root)
	}
	fmt.Fprintf(stdout, "proof (%d hashes):\n", len(out.Proof))
	for _, h := range out.Proof {
		fmt.Fprintf(stdout, "  %s\n", h)
	}
	fmt.Fprintln(stdout, "verified")
	return nil
}

func runAuditCheckpoint(store string, cosigned bool, stdout, stderr io.Writer) error {
	s, l, err := openAuditLog(store, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	cp, err := l.Checkpoint()
	if err != nil {
		return err
	}
	if cosigned {
		all, err := storeaudit.Cosigned(s.KV())
		if err != nil {
			return err
		}
		if len(all) == 0 {
			return errors.New("no checkpoint of this store is cosigned")
		}
		cp = all[len(all)-1]
	}
	if cp == nil {
		return errors.New("the audit log is empty")
	}
	_, err = io.WriteString(stdout, strings.TrimRight(string(cp), "\n")+"\n")
	return err
}
