//go:build !thin

package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/audit/serveauth"
	"github.com/helios-vcs/helios/audit/storeaudit"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/server"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

// Witnesses (see package audit, cosign.go and witnessing.go):
//
//	helios audit witness init --name N --key-file F     a witness's key (F, F.pub)
//	helios audit witness cosign --store S --key-file F  check S's latest checkpoint
//	                                                    against the last one this witness
//	                                                    cosigned of S, cosign it, hand it to S
//	helios witness add|remove|list --store S            the witnesses S announces
//
// A witness is run by someone other than the store's operator (a cron job
// or a loop); a client requires its cosignatures through $HELIOS_WITNESSES
// or the store's list, pinned when they first see it.

func auditWitnessCommand() *cli.Command {
	keyFile := &cli.StringFlag{Name: "key-file", Required: true, Usage: "the witness's private key file (its public key is FILE.pub)", EnvVars: []string{"HELIOS_WITNESS_KEY_FILE"}}
	return &cli.Command{
		Name:  "witness",
		Usage: "act as a witness: cosign a store's checkpoints, each only if it extends the last one this witness cosigned",
		Subcommands: []*cli.Command{
			{
				Name:  "init",
				Usage: "make a witness key: FILE (mode 0600) and FILE.pub; prints the public key",
				Flags: []cli.Flag{keyFile, &cli.StringFlag{Name: "name", Required: true, Usage: "the witness's name (e.g. witness.example.org/w1; no spaces or '+')"}},
				Action: func(c *cli.Context) error {
					vkey, err := audit.WriteWitnessKey(c.String("key-file"), c.String("name"))
					if err != nil {
						return err
					}
					fmt.Fprintln(c.App.Writer, vkey)
					return nil
				},
			},
			{
				Name:  "cosign",
				Usage: "verify the store's latest checkpoint against this witness's state (a consistency proof), cosign it and store the cosignature in the store (exit 1 if the log forked or rolled back)",
				Flags: []cli.Flag{keyFile, noServerFlag, quietFlag,
					&cli.StringFlag{Name: "store", Usage: "store directory, or tls://HOST:PORT (TLS settings from HELIOS_CA_FILE, HELIOS_CLIENT_CERT/KEY, HELIOS_TOKEN)", EnvVars: []string{"HELIOS_STORE"}, Value: ".helios-store"},
					&cli.StringFlag{Name: "state", Usage: "directory of the witness's state (default: KEY-FILE.state)"},
					&cli.StringFlag{Name: "log-key", Usage: "the store's verifier key (text or file) to pin on first contact; default: the key the store names"},
				},
				Action: func(c *cli.Context) error {
					o := cosignOptions{store: c.String("store"), keyFile: c.String("key-file"), state: c.String("state"),
						logKey: c.String("log-key"), noServer: c.Bool("no-server"), quiet: c.Bool("quiet")}
					return runWitnessCosign(o, c.App.Writer, c.App.ErrWriter)
				},
			},
		},
	}
}

func witnessCommand() *cli.Command {
	return &cli.Command{
		Name:  "witness",
		Usage: "list, add and remove the witnesses the store announces (clients pin the list when they first see it); changes are audited",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "add witness public keys (text or .pub files)",
				ArgsUsage: "KEY...",
				Flags:     []cli.Flag{storeFlag, quietFlag, &cli.IntFlag{Name: "quorum", Usage: "cosignatures required (default: every witness, or the current quorum if it is not every witness)"}},
				Action: func(c *cli.Context) error {
					if c.NArg() == 0 {
						return errors.New("say which witness keys to add")
					}
					return runWitnessSet(c.String("store"), c.Bool("quiet"), c.App.Writer, c.App.ErrWriter, func(cur audit.WitnessPolicy) (audit.WitnessPolicy, error) {
						add, err := audit.WitnessPolicyFromList(strings.Join(c.Args().Slice(), ","), 0)
						if err != nil {
							return audit.WitnessPolicy{}, err
						}
						return withQuorum(cur, append(slices.Clone(cur.Witnesses), add.Witnesses...), c.Int("quorum"))
					})
				},
			},
			{
				Name:      "remove",
				Usage:     "remove witnesses by name",
				ArgsUsage: "NAME...",
				Flags:     []cli.Flag{storeFlag, quietFlag, &cli.IntFlag{Name: "quorum", Usage: "cosignatures required from then on"}},
				Action: func(c *cli.Context) error {
					return runWitnessSet(c.String("store"), c.Bool("quiet"), c.App.Writer, c.App.ErrWriter, func(cur audit.WitnessPolicy) (audit.WitnessPolicy, error) {
						var keep []*audit.CosignatureVerifier
						for _, w := range cur.Witnesses {
							if !slices.Contains(c.Args().Slice(), w.Name()) {
								keep = append(keep, w)
							}
						}
						if len(keep) == len(cur.Witnesses) {
							return audit.WitnessPolicy{}, fmt.Errorf("no witness named %s", strings.Join(c.Args().Slice(), ", "))
						}
						return withQuorum(cur, keep, c.Int("quorum"))
					})
				},
			},
			{
				Name:  "list",
				Usage: "print the store's witness policy",
				Flags: []cli.Flag{storeFlag},
				Action: func(c *cli.Context) error {
					text, err := readWitnessPolicy(c.String("store"), c.App.ErrWriter)
					if err != nil {
						return err
					}
					if text == "" {
						fmt.Fprintln(c.App.Writer, "# no witnesses")
					}
					_, err = io.WriteString(c.App.Writer, text)
					return err
				},
			},
		},
	}
}

// withQuorum builds the policy of ws: quorum if given, else every witness
// when cur required every witness, else cur's quorum (capped).
func withQuorum(cur audit.WitnessPolicy, ws []*audit.CosignatureVerifier, quorum int) (audit.WitnessPolicy, error) {
	if len(ws) == 0 {
		return audit.WitnessPolicy{}, nil
	}
	if quorum <= 0 && !cur.Empty() && cur.Quorum < len(cur.Witnesses) {
		quorum = min(cur.Quorum, len(ws))
	}
	return audit.NewWitnessPolicy(ws, quorum)
}

func readWitnessPolicy(store string, stderr io.Writer) (string, error) {
	s, err := openStore(store, forRead, false, stderr)
	if err != nil {
		return "", err
	}
	defer s.Close()
	return storeaudit.LoadWitnessPolicy(s.KV())
}

// runWitnessSet replaces the store's witness policy with change(current):
// through a running server (admin witness-set), else on the store opened
// here.
func runWitnessSet(store string, quiet bool, stdout, stderr io.Writer, change func(audit.WitnessPolicy) (audit.WitnessPolicy, error)) error {
	text, err := readWitnessPolicy(store, stderr)
	if err != nil {
		return err
	}
	cur, err := audit.ParseWitnessPolicy(text)
	if err != nil {
		return err
	}
	next, err := change(cur)
	if err != nil {
		return err
	}
	say := func(how string) {
		if !quiet {
			fmt.Fprintf(stdout, "witnesses %s set by %s%s: %d witnesses, quorum %d\n", storeaudit.WitnessDigest(next.Text()), localActor(), how, len(next.Witnesses), next.Quorum)
		}
	}
	if c, err := server.Dial(store, server.BuildID()); err == nil {
		defer c.Close()
		if _, err := c.Admin(serveauth.AdminWitnessSet, []byte(next.Text())); err != nil {
			return err
		}
		say(" through the store's server")
		return nil
	}
	err = journalled(store, stderr, func(s *objstore.Store, j *storeaudit.Journal) error {
		return j.SetWitnessPolicy(s, localActor(), next)
	})
	if err != nil {
		return err
	}
	say("")
	return nil
}

type cosignOptions struct {
	store, keyFile, state, logKey string
	noServer, quiet               bool
}

// cosignTarget is the store as a witness sees it.
type cosignTarget interface {
	audit.TreeProver
	// AuditCheckpoint is the latest checkpoint and the key the store names.
	AuditCheckpoint() ([]byte, string, error)
	AuditCosign(cosigned []byte) ([]string, error)
}

// localTarget is a store opened in this process.
type localTarget struct {
	*audit.Log
	dir string
	add func([]byte) ([]string, error)
}

func (l localTarget) AuditCheckpoint() ([]byte, string, error) {
	cp, err := l.Checkpoint()
	if err != nil {
		return nil, "", err
	}
	b, err := os.ReadFile(filepath.Join(l.dir, audit.VerifierKeyFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, "", err
	}
	return cp, strings.TrimSpace(string(b)), nil
}

func (l localTarget) AuditCosign(msg []byte) ([]string, error) { return l.add(msg) }

func openCosignTarget(o cosignOptions, stderr io.Writer) (cosignTarget, io.Closer, error) {
	if strings.HasPrefix(o.store, "tls://") {
		addr, err := server.ParseTLSURL(o.store)
		if err != nil {
			return nil, nil, err
		}
		c, err := server.DialTLS(addr, server.TLSClientOptionsFromEnv())
		if err != nil {
			return nil, nil, err
		}
		return c.Git(false), c, nil
	}
	if !o.noServer {
		c, err := server.Connect(o.store, server.ConnectOptions{Build: server.BuildID(), Command: serverCommand})
		if err == nil {
			return c.Git(true), c, nil
		}
		fmt.Fprintf(stderr, "helios: no server for %s (%v); opening the store directly\n", o.store, err)
	}
	s, err := openExclusive(o.store, false, stderr)
	if err != nil {
		return nil, nil, err
	}
	l, err := storeaudit.OpenLog(s.KV(), nil)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	add := func(msg []byte) ([]string, error) {
		v, err := verifierFor(o.store, "")
		if err != nil {
			return nil, err
		}
		return storeaudit.AddCosigned(s.KV(), v, msg)
	}
	return localTarget{Log: l, dir: o.store, add: add}, s, nil
}

func runWitnessCosign(o cosignOptions, stdout, stderr io.Writer) error {
	signer, err := audit.LoadCosigner(o.keyFile, nil)
	if err != nil {
		return err
	}
	w := &audit.Witness{Signer: signer, StateDir: o.state}
	if w.StateDir == "" {
		w.StateDir = o.keyFile + ".state"
	}
	if err := os.MkdirAll(w.StateDir, 0o700); err != nil {
		return err
	}
	// One run at a time per state directory: two runs could each check a
	// checkpoint against the same old state and cosign two forks.
	lock, err := os.OpenFile(filepath.Join(w.StateDir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock witness state: %w", err)
	}
	t, closer, err := openCosignTarget(o, stderr)
	if err != nil {
		return err
	}
	defer closer.Close()
	cp, announced, err := t.AuditCheckpoint()
	if err != nil {
		return err
	}
	if cp == nil {
		return errors.New("the store's audit log is empty: nothing to cosign")
	}
	origin, _, _ := strings.Cut(string(cp), "\n")
	logKey := o.logKey
	if logKey != "" {
		if b, err := os.ReadFile(logKey); err == nil {
			logKey = string(b)
		}
	} else if _, pinned, err := audit.ReadKept(w.StatePath(origin)); err != nil {
		return err
	} else if !pinned {
		logKey = announced
		if !o.quiet {
			fmt.Fprintf(stderr, "helios: first contact with log %s: pinning the key the store names, %s (check it out of band, or give --log-key)\n", origin, strings.TrimSpace(announced))
		}
	}
	cosigned, err := w.Cosign(logKey, cp, t)
	if err != nil {
		return &exitError{1, fmt.Errorf("refusing to cosign the checkpoint of log %s: %w", origin, err)}
	}
	names, err := t.AuditCosign(cosigned)
	if err != nil {
		return fmt.Errorf("cosigned, but the store did not take the cosignature: %w", err)
	}
	if !o.quiet {
		size, _, _ := strings.Cut(strings.TrimPrefix(string(cp), origin+"\n"), "\n")
		fmt.Fprintf(stdout, "cosigned the checkpoint of %s records of log %s as %s; cosigned by: %s\n", size, origin, signer.Name(), strings.Join(names, ", "))
	}
	return nil
}

// verifyWitnessed is the witness part of audit verify: the log's latest
// checkpoint must extend one that a quorum of the witnesses (cw's, else
// the store's own list) cosigned within cw.MaxAge. It returns problems.
func verifyWitnessed(s storeaudit.Reader, l *audit.Log, cw audit.ClientWitnesses, storeDir, key string, stdout io.Writer) ([]string, error) {
	announced, err := storeaudit.LoadWitnessPolicy(s)
	if err != nil {
		return nil, err
	}
	var pol audit.WitnessPolicy
	if cw.List != "" {
		pol, err = audit.WitnessPolicyFromList(cw.List, cw.Quorum)
	} else {
		pol, err = audit.ParseWitnessPolicy(announced)
		if err == nil && !pol.Empty() {
			fmt.Fprintln(stdout, "witnesses: the store's own list (give --witness or HELIOS_WITNESSES to check against witnesses you trust)")
		}
	}
	if err != nil || pol.Empty() {
		return nil, err
	}
	v, err := verifierFor(storeDir, key)
	if err != nil {
		return nil, err
	}
	msg, err := l.Checkpoint()
	if err != nil || msg == nil {
		return []string{"witnesses: the log has no checkpoint"}, err
	}
	latest, err := audit.ParseCheckpoint(msg, v)
	if err != nil {
		return []string{fmt.Sprintf("witnesses: %v", err)}, nil
	}
	cosigned, err := storeaudit.Cosigned(s)
	if err != nil {
		return nil, err
	}
	maxAge := cw.MaxAge
	if maxAge <= 0 {
		maxAge = audit.DefaultWitnessMaxAge
	}
	w, err := audit.CheckWitnessed(latest, v, cosigned, l, audit.WitnessCheck{Policy: pol, MaxAge: maxAge, Now: time.Now()})
	if err != nil {
		return []string{fmt.Sprintf("witnesses: %v", err)}, nil
	}
	fmt.Fprintf(stdout, "witnessed: %d of %d witnesses (quorum %d) vouch for the first %d records; %d later records not yet witnessed\n",
		len(w.By), len(pol.Witnesses), pol.Quorum, w.Checkpoint.Size, latest.Size-w.Checkpoint.Size)
	for _, name := range slices.Sorted(maps.Keys(w.By)) {
		fmt.Fprintf(stdout, "  %s cosigned %d records\n", name, w.By[name].Size)
	}
	return nil, nil
}
