// Command helios is the companion CLI of the Helios state store: make a
// store, record and restore working directories as states, inspect them,
// check and collect the store, and measure it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"
)

func main() {
	app := newApp(os.Stdout, os.Stderr)
	if err := app.RunContext(context.Background(), os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "helios: %v\n", err)
		os.Exit(exitCode(err))
	}
}

// exitError carries a specific exit status (fsck's 1 for "problems found").
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode is the one place errors become exit statuses: 1 for a check
// that found problems, 2 for usage errors and everything else.
func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 2
}

var storeFlag = &cli.StringFlag{
	Name:    "store",
	Usage:   "store directory",
	EnvVars: []string{"HELIOS_STORE"},
	Value:   ".helios-store",
}

var jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print JSON for scripts"}

var quietFlag = &cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing but errors"}

// newApp builds the CLI with its output streams, so tests can run it.
func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:      "helios",
		Usage:     "a BLAKE3, copy-on-write state store for git and for AI coding agents",
		Writer:    stdout,
		ErrWriter: stderr,
		// Errors are returned to main, which alone maps them to exit codes.
		ExitErrHandler:  func(*cli.Context, error) {},
		HideHelpCommand: true,
		Commands: []*cli.Command{
			initCommand(),
			snapshotCommand(),
			checkoutCommand(),
			logCommand(),
			diffCommand(),
			showCommand(),
			fsckCommand(),
			gcCommand(),
			statsCommand(),
			benchCommand(),
			ioReportCommand(),
			phase0Command(),
			serveCommand(),
			mctsCommand(),
			auditCommand(),
			policyCommand(),
			keysCommand(),
			tokenCommand(),
		},
	}
	return app
}
