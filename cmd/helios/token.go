//go:build !thin

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/audit/serveauth"
	"github.com/helios-vcs/helios/objstore/server"
	"github.com/urfave/cli/v2"
)

// Bearer tokens for TLS clients of helios serve (see audit/token.go and
// audit/serveauth). Token changes go through the store's server when one
// runs (so that a running TLS server neither stops nor misses them), or
// with --remote through a served store on another host (as a maintainer
// whose token carries scope M, or whose certificate names a maintainer);
// otherwise the store is opened here. Either way the change and its audit
// record are one atomic write, and the token text is printed once.

var remoteFlag = &cli.StringFlag{
	Name:    "remote",
	Usage:   "a served store on another host, tls://HOST:PORT (credentials from HELIOS_CA_FILE, HELIOS_CLIENT_CERT, HELIOS_CLIENT_KEY, HELIOS_TOKEN)",
	EnvVars: []string{"HELIOS_REMOTE"},
}

func tokenCommand() *cli.Command {
	return &cli.Command{
		Name:  "token",
		Usage: "make, list and revoke bearer tokens for TLS clients of helios serve (audited)",
		Subcommands: []*cli.Command{
			{
				Name:  "add",
				Usage: "make a token for a user of the policy and print it (once)",
				Flags: []cli.Flag{storeFlag, jsonFlag, remoteFlag, noServerFlag,
					&cli.StringFlag{Name: "user", Required: true, Usage: "the policy user the token acts as"},
					&cli.DurationFlag{Name: "expires", Required: true, Usage: "lifetime, e.g. 720h (at most 366 days)"},
					&cli.StringFlag{Name: "ops", Value: "RWFD", Usage: "scope: letters of R W F D (ref operations) and M (maintenance, token changes)"},
					&cli.StringFlag{Name: "refs", Value: "**", Usage: "scope: a ref pattern in the policy's syntax"},
					&cli.StringFlag{Name: "note", Usage: "what the token is for"},
				},
				Action: func(c *cli.Context) error {
					r := serveauth.TokenRequest{User: c.String("user"), Expires: c.Duration("expires"),
						Ops: c.String("ops"), Refs: c.String("refs"), Note: c.String("note")}
					return runTokenAdd(tokenTarget(c), r, c.Bool("json"), c.App.Writer)
				},
			},
			{
				Name:  "list",
				Usage: "list the tokens (never their secrets)",
				Flags: []cli.Flag{storeFlag, jsonFlag, remoteFlag, noServerFlag},
				Action: func(c *cli.Context) error {
					return runTokenList(tokenTarget(c), c.Bool("json"), c.App.Writer)
				},
			},
			{
				Name:      "revoke",
				Usage:     "revoke a token by id (at once, also on open connections)",
				ArgsUsage: "ID",
				Flags:     []cli.Flag{storeFlag, remoteFlag, noServerFlag, quietFlag},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return fmt.Errorf("say which token id to revoke (helios token list)")
					}
					return runTokenRevoke(tokenTarget(c), c.Args().First(), c.Bool("quiet"), c.App.Writer)
				},
			},
		},
	}
}

// tokenTarget says where token requests go.
type tokenTargetOptions struct {
	store, remote string
	noServer      bool
	stderr        io.Writer
}

func tokenTarget(c *cli.Context) tokenTargetOptions {
	return tokenTargetOptions{store: c.String("store"), remote: c.String("remote"), noServer: c.Bool("no-server"), stderr: c.App.ErrWriter}
}

// tokenAdmin runs an administrative request (serveauth's token-add, ...)
// through the remote server, the store's server, or on the store opened
// here as its owner.
func tokenAdmin(t tokenTargetOptions, name string, req []byte) ([]byte, error) {
	if t.remote != "" {
		addr, err := server.ParseTLSURL(t.remote)
		if err != nil {
			return nil, err
		}
		c, err := server.DialTLS(addr, server.TLSClientOptionsFromEnv())
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return c.Admin(name, req)
	}
	st, err := connect(t.store, forWrite, false, t.noServer, t.stderr)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	switch st := st.(type) {
	case *server.Client:
		return st.Admin(name, req)
	case server.Local:
		a, err := storeAccess(t.store, st.S, t.stderr)
		if err != nil {
			return nil, err
		}
		return a.Admin(server.Peer{UID: os.Getuid(), GID: os.Getgid(), PID: os.Getpid(), Via: server.ViaUnix}, name, req)
	}
	return nil, errors.New("token: no way to reach the store")
}

func runTokenAdd(t tokenTargetOptions, r serveauth.TokenRequest, asJSON bool, stdout io.Writer) error {
	req, err := json.Marshal(r)
	if err != nil {
		return err
	}
	res, err := tokenAdmin(t, serveauth.AdminTokenAdd, req)
	if err != nil {
		return err
	}
	var nt serveauth.NewToken
	if err := json.Unmarshal(res, &nt); err != nil {
		return fmt.Errorf("token-add answer: %w", err)
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(nt)
	}
	fmt.Fprintf(stdout, "%s\n", nt.Text)
	fmt.Fprintf(stdout, "# token %s for %s, scope %s, expires %s\n", nt.Token.ID, nt.Token.User, nt.Token.Scope(), nt.Token.Expires.Format(time.RFC3339))
	fmt.Fprintf(stdout, "# shown only now; the store keeps its SHA-256. Give it to the client as HELIOS_TOKEN.\n")
	return nil
}

func runTokenList(t tokenTargetOptions, asJSON bool, stdout io.Writer) error {
	res, err := tokenAdmin(t, serveauth.AdminTokenList, nil)
	if err != nil {
		return err
	}
	var list []audit.Token
	if err := json.Unmarshal(res, &list); err != nil {
		return fmt.Errorf("token-list answer: %w", err)
	}
	if asJSON {
		if list == nil {
			list = []audit.Token{}
		}
		return json.NewEncoder(stdout).Encode(list)
	}
	now := time.Now()
	for _, tk := range list {
		state := "expires " + tk.Expires.Format(time.RFC3339)
		if tk.Expired(now) {
			state = "EXPIRED " + tk.Expires.Format(time.RFC3339)
		}
		note := ""
		if tk.Note != "" {
			note = "  # " + strings.ReplaceAll(tk.Note, "\n", " ")
		}
		fmt.Fprintf(stdout, "%s  %-12s %-24s %s%s\n", tk.ID, tk.User, tk.Scope(), state, note)
	}
	return nil
}

func runTokenRevoke(t tokenTargetOptions, id string, quiet bool, stdout io.Writer) error {
	res, err := tokenAdmin(t, serveauth.AdminTokenRevoke, []byte(id))
	if err != nil {
		return err
	}
	var tk audit.Token
	if err := json.Unmarshal(res, &tk); err != nil {
		return fmt.Errorf("token-revoke answer: %w", err)
	}
	if !quiet {
		fmt.Fprintf(stdout, "revoked token %s of %s\n", tk.ID, tk.User)
	}
	return nil
}
