//go:build thin

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/helios-vcs/helios/cmd/internal/remotehelper"
	"github.com/helios-vcs/helios/helper"
)

func main() {
	os.Exit(remotehelper.Run(context.Background(), os.Args[1:], os.Getenv("GIT_DIR"), os.Stdin, os.Stdout, os.Stderr,
		remotehelper.Options{Direct: execHelios, DirectExecs: true}))
}

// execHelios hands a store no server serves to the helper inside the helios
// executable, which opens it itself: this process becomes `helios
// git-remote-helios ARGS` before it has read anything from git, so git
// talks to that one instead.
func execHelios(dir, gitDir string, stderr io.Writer) (helper.Remote, io.Closer, error) {
	exe := remotehelper.HeliosExecutable()
	if exe == "" {
		return nil, nil, fmt.Errorf("no server for the store %s, and no helios executable (beside this one or on $PATH) to open it with", dir)
	}
	env := append(os.Environ(), "HELIOS_NO_SERVER=1")
	err := syscall.Exec(exe, append([]string{"helios", "git-remote-helios"}, os.Args[1:]...), env)
	return nil, nil, fmt.Errorf("exec %s: %w", exe, err)
}
