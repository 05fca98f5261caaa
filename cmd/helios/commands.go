//go:build !thin

package main

import "github.com/urfave/cli/v2"

// commands are helios's commands.
func commands() []*cli.Command {
	return []*cli.Command{
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
		witnessCommand(),
		keysCommand(),
		tokenCommand(),
		remoteHelperCommand(),
	}
}

// forward hands a command to another executable; this build runs them all.
func forward([]string) {}
