package helper_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/fakeremote"
	"github.com/helios-vcs/helios/helper/gitobj"
)

// TestConnectWhileServing: with Config.Connect the helper answers git's
// capabilities and options while the remote is still being reached (a
// store's server starting), waits for it at the first list, and ends with
// the connection's error, named as an open, when it fails.
func TestConnectWhileServing(t *testing.T) {
	release := make(chan struct{})
	remote := fakeremote.New(gitobj.SHA1)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- helper.Serve(context.Background(), helper.Config{
			In: inR, Out: outW,
			Connect: func() (helper.Remote, error) {
				<-release
				return remote, nil
			},
		})
		outW.Close()
	}()
	out := bufio.NewReader(outR)
	readUntilBlank := func() string {
		var b strings.Builder
		for {
			line, err := out.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v (so far %q)", err, b.String())
			}
			if line == "\n" {
				return b.String()
			}
			b.WriteString(line)
		}
	}
	go inW.Write([]byte("capabilities\n"))
	if caps := readUntilBlank(); !strings.Contains(caps, "push\n") {
		t.Fatalf("capabilities: %q", caps)
	}
	go inW.Write([]byte("option verbosity 0\n"))
	if line, _ := out.ReadString('\n'); line != "ok\n" {
		t.Fatalf("option: %q", line)
	}
	go inW.Write([]byte("list\n"))
	listed := make(chan string, 1)
	go func() { listed <- readUntilBlank() }()
	select {
	case l := <-listed:
		t.Fatalf("list answered before the remote was reached: %q", l)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if l := <-listed; l != "" {
		t.Fatalf("an empty remote listed %q", l)
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A connection that fails ends Serve at the first command needing it.
	var sink strings.Builder
	err := helper.Serve(context.Background(), helper.Config{
		In: strings.NewReader("capabilities\nlist for-push\n"), Out: &sink,
		Connect: func() (helper.Remote, error) { return nil, errors.New("no server") },
	})
	if err == nil || !strings.Contains(err.Error(), "no server") || !strings.Contains(sink.String(), "push\n") {
		t.Fatalf("failed connection: %v; git got %q", err, sink.String())
	}
}
