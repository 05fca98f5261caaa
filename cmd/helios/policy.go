//go:build !thin

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/helios-vcs/helios/audit"
	"github.com/helios-vcs/helios/audit/storeaudit"
	"github.com/helios-vcs/helios/objstore"
	"github.com/urfave/cli/v2"
)

func policyCommand() *cli.Command {
	return &cli.Command{
		Name:  "policy",
		Usage: "set, show and explain the store's access policy (roles and ref rules)",
		Subcommands: []*cli.Command{
			{
				Name:      "set",
				Usage:     "replace the policy with FILE (a maintainer only, once a policy exists); the change is audited",
				ArgsUsage: "FILE",
				Flags:     []cli.Flag{storeFlag, quietFlag},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return fmt.Errorf("say which policy file to set")
					}
					return runPolicySet(c.String("store"), c.Args().First(), c.Bool("quiet"), c.App.Writer, c.App.ErrWriter)
				},
			},
			{
				Name:  "show",
				Usage: "print the current policy",
				Flags: []cli.Flag{storeFlag, jsonFlag},
				Action: func(c *cli.Context) error {
					return runPolicyShow(c.String("store"), c.Bool("json"), c.App.Writer, c.App.ErrWriter)
				},
			},
			{
				Name:  "explain",
				Usage: "say whether USER may do OP on REF, and which rule decided",
				Flags: []cli.Flag{storeFlag, jsonFlag,
					&cli.StringFlag{Name: "user", Required: true},
					&cli.StringFlag{Name: "ref", Required: true, Usage: `ref name ("main" means refs/heads/main)`},
					&cli.StringFlag{Name: "op", Required: true, Usage: "read, write, force or delete"},
					&cli.StringFlag{Name: "file", Usage: "explain with this policy file instead of the store's"},
				},
				Action: func(c *cli.Context) error {
					o := explainOptions{store: c.String("store"), user: c.String("user"), ref: c.String("ref"), op: c.String("op"), file: c.String("file"), json: c.Bool("json")}
					return runPolicyExplain(o, c.App.Writer, c.App.ErrWriter)
				},
			},
		},
	}
}

func runPolicySet(store, file string, quiet bool, stdout, stderr io.Writer) error {
	text, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	p, err := audit.ParsePolicy(string(text))
	if err != nil {
		return err
	}
	if done, err := policySetServed(store, text); done || err != nil {
		if err == nil && !quiet {
			fmt.Fprintf(stdout, "policy %s set by %s through the store's server (%d rules, maintainers %s)\n", p.Digest(), localActor(), len(p.Rules), strings.Join(p.Maintainers(), ", "))
		}
		return err
	}
	err = journalled(store, stderr, func(s *objstore.Store, j *storeaudit.Journal) error {
		return j.SetPolicy(s, localActor(), p)
	})
	if err != nil {
		return err
	}
	if !quiet {
		fmt.Fprintf(stdout, "policy %s set by %s (%d rules, maintainers %s)\n", p.Digest(), localActor(), len(p.Rules), strings.Join(p.Maintainers(), ", "))
	}
	return nil
}

func runPolicyShow(store string, asJSON bool, stdout, stderr io.Writer) error {
	s, err := openStore(store, forRead, false, stderr)
	if err != nil {
		return err
	}
	defer s.Close()
	p, err := storeaudit.LoadPolicy(s.KV())
	if errors.Is(err, storeaudit.ErrNoPolicy) {
		return fmt.Errorf("the store has no policy yet (set one: helios policy set FILE)")
	}
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(stdout).Encode(map[string]any{"digest": p.Digest(), "roles": p.Roles, "text": p.Text()})
	}
	fmt.Fprintf(stdout, "# policy %s\n%s", p.Digest(), p.Text())
	return nil
}

type explainOptions struct {
	store, user, ref, op, file string
	json                       bool
}

func runPolicyExplain(o explainOptions, stdout, stderr io.Writer) error {
	op, err := audit.ParseOp(o.op)
	if err != nil {
		return err
	}
	ref := o.ref
	if ref != "HEAD" && !strings.HasPrefix(ref, "refs/") {
		ref = "refs/heads/" + ref
	}
	var p *audit.Policy
	if o.file != "" {
		text, err := os.ReadFile(o.file)
		if err != nil {
			return err
		}
		if p, err = audit.ParsePolicy(string(text)); err != nil {
			return err
		}
	} else {
		s, err := openStore(o.store, forRead, false, stderr)
		if err != nil {
			return err
		}
		p, err = storeaudit.LoadPolicy(s.KV())
		s.Close()
		if errors.Is(err, storeaudit.ErrNoPolicy) {
			return fmt.Errorf("the store has no policy yet: with none, everything is denied to a served store")
		}
		if err != nil {
			return err
		}
	}
	d := p.Explain(o.user, ref, op)
	if o.json {
		out := map[string]any{"user": o.user, "ref": ref, "op": op, "allow": d.Allow, "reason": d.Reason, "roles": p.Roles[o.user]}
		if d.Rule != nil {
			out["line"] = d.Rule.Line
			out["rule"] = d.Rule.Text
		}
		return json.NewEncoder(stdout).Encode(out)
	}
	verdict := "deny"
	if d.Allow {
		verdict = "allow"
	}
	roles := "no role"
	if rs := p.Roles[o.user]; len(rs) > 0 {
		roles = fmt.Sprint(rs)
	}
	fmt.Fprintf(stdout, "%s: %s (%s) %s %s: %s\n", verdict, o.user, roles, op, ref, d.Reason)
	return nil
}
