//go:build !thin

package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/audit/keys"
	"github.com/helios-vcs/helios/audit/storeaudit"
	"github.com/helios-vcs/helios/cmd/internal/storedir"
	"github.com/helios-vcs/helios/objstore"
	"github.com/urfave/cli/v2"
)

// Encryption at rest (see package audit/keys and objstore.SealKV). An
// encrypted store has a keyring file, DIR/keyring.json, holding its master
// key wrapped by a key provider; every KV value is sealed with AES-256-GCM,
// object IDs are keyed BLAKE3, and the KV keys that would name things (ref
// names, worktrees, git object ids) are stored as keyed MACs, all three
// keys derived from the master key.
//
// Wiring:
//
//   - helios init --encrypt --key-provider SPEC: before objstore.Init,
//     wrap, secret, err := createSealing(dir, spec); kv, err = wrap(kv);
//     opts.Secret = secret.
//   - everything that opens the database goes through storedir.Open,
//     which does the same with the keyring's provider. A wrong key fails
//     in wrap (objstore.ErrUnsealed) or keys.Unlock (keys.ErrWrongKey)
//     before anything is written.
//
// Not hidden: value sizes, counts of keys and values, and write times (see
// SealKV).

func keyringPath(storeDir string) string { return storedir.KeyringPath(storeDir) }

func sealingOptions(storeDir, provider string) (func(objstore.KV) (objstore.KV, error), []byte, error) {
	return storedir.Sealing(storeDir, provider)
}

func createSealing(storeDir, provider string) (func(objstore.KV) (objstore.KV, error), []byte, error) {
	return storedir.CreateSealing(storeDir, provider)
}

func keysCommand() *cli.Command {
	return &cli.Command{
		Name:    "keys",
		Aliases: []string{"key"},
		Usage:   "show and rotate an encrypted store's keys",
		Subcommands: []*cli.Command{
			{
				Name:  "show",
				Usage: "print the keyring: provider, key check value, dates",
				Flags: []cli.Flag{storeFlag},
				Action: func(c *cli.Context) error {
					return runKeysShow(c.String("store"), c.App.Writer)
				},
			},
			{
				Name:  "rotate",
				Usage: "re-wrap the store's master key with another provider's key (no data is re-encrypted); audited",
				Flags: []cli.Flag{storeFlag,
					&cli.StringFlag{Name: "to", Required: true, Usage: "the new key provider: file:PATH, env:VAR or command:CMD"},
					&cli.StringFlag{Name: "from", Usage: "the current provider, if not the one the keyring names"},
				},
				Action: func(c *cli.Context) error {
					store := c.String("store")
					open := func() (*objstore.Store, error) { return openExclusive(store, false, c.App.ErrWriter) }
					return runKeysRotate(store, c.String("from"), c.String("to"), open, c.App.Writer)
				},
			},
			{
				Name:      "generate",
				Usage:     "write a new random 256-bit wrapping key to FILE (mode 0600), for --key-provider file:FILE",
				ArgsUsage: "FILE",
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return fmt.Errorf("say which file to write")
					}
					return keys.GenerateKeyFile(c.Args().First())
				},
			},
		},
	}
}

func runKeysShow(store string, stdout io.Writer) error {
	kr, err := keys.ReadKeyring(keyringPath(store))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "provider  %s\nkey check %s\ncreated   %s\n", kr.Provider, kr.Check, kr.Created.Format("2006-01-02T15:04:05Z"))
	if !kr.Rotated.IsZero() {
		fmt.Fprintf(stdout, "rotated   %s\n", kr.Rotated.Format("2006-01-02T15:04:05Z"))
	}
	return nil
}

// runKeysRotate opens the store first (so the rotation can be audited and
// the policy checked), re-wraps, then records the change.
func runKeysRotate(store, from, to string, open func() (*objstore.Store, error), stdout io.Writer) error {
	kr, err := keys.ReadKeyring(keyringPath(store))
	if err != nil {
		return err
	}
	var fromP keys.Provider
	if from != "" {
		if fromP, err = keys.ParseProvider(from); err != nil {
			return err
		}
	}
	toP, err := keys.ParseProvider(to)
	if err != nil {
		return err
	}
	s, err := open()
	if err != nil {
		return err
	}
	defer s.Close()
	actor := localActor()
	if p, err := storeaudit.LoadPolicy(s.KV()); err == nil {
		if err := p.AuthorizeAction(actor, audit.ActionKeyRotate); err != nil {
			return err
		}
	} else if !errors.Is(err, storeaudit.ErrNoPolicy) {
		return err
	}
	j, err := auditJournal(store, s.KV())
	if err != nil {
		return err
	}
	nk, err := keys.Rotate(keyringPath(store), fromP, toP)
	if err != nil {
		return err
	}
	rec := audit.Record{Actor: actor, Event: audit.EventKey, Attrs: map[string]string{
		"action": "rotate-wrapping", "from": kr.Provider, "to": nk.Provider, "key-check": nk.Check,
	}}
	if err := j.Record(s, rec, nil); err != nil {
		return fmt.Errorf("the key was re-wrapped for %s, but recording it in the audit log failed: %w", nk.Provider, err)
	}
	fmt.Fprintf(stdout, "master key %s now wrapped by %s\n", nk.Check, nk.Provider)
	return nil
}
