package helper_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/helios-vcs/helios/helper"
	"github.com/helios-vcs/helios/helper/fakeremote"
	"github.com/helios-vcs/helios/helper/gitobj"
)

// FuzzServe feeds arbitrary bytes to the command loop as git's stdin,
// against an in-memory fakeremote and no local repository (GIT_DIR unset,
// as under git ls-remote), so that no input starts a git process: fetch,
// and push of anything but a delete, must then fail. Serve must return
// within a few seconds without panicking, and must fail on every input
// that is not a well-formed command stream (see wellFormed).
//
// The seeds are the transcripts of testdata/*.txt, with their fixture ids
// filled in.
func FuzzServe(f *testing.F) {
	files, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(files) == 0 {
		f.Fatalf("no transcripts: %v", err)
	}
	ids := strings.NewReplacer("$A", strings.Repeat("a", 40), "$B", strings.Repeat("b", 40),
		"$C", strings.Repeat("c", 40), "$V1", strings.Repeat("1", 40), "$Z", strings.Repeat("0", 40))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		header, _, _ := strings.Cut(string(data), "\n----\n")
		var in []string
		for _, line := range strings.SplitAfter(header, "\n") {
			if !strings.HasPrefix(line, "#") {
				in = append(in, line)
			}
		}
		f.Add([]byte(ids.Replace(strings.Join(in, ""))))
	}
	f.Add([]byte("push :refs/heads/main\npush :refs/heads/gone\n\n"))
	f.Add([]byte("option dry-run true\noption atomic true\npush :refs/heads/main\n\n"))
	f.Add([]byte("list\x00\n"))
	f.Add([]byte("capabilities\r\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		remote := fakeremote.New(gitobj.SHA1)
		blob, err := remote.AddObject(gitobj.Blob, []byte("hello\n"))
		if err != nil {
			t.Fatal(err)
		}
		remote.SetRef("refs/heads/main", blob)
		remote.SetRef("refs/tags/v1", blob)
		remote.SetHead("refs/heads/main")

		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var out, stderr bytes.Buffer
		done := make(chan error, 1)
		go func() {
			done <- helper.Serve(ctx, helper.Config{Remote: remote, In: bytes.NewReader(in), Out: &out, Err: &stderr})
		}()
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("Serve did not return within 10 s on %q", in)
		}
		if err == nil {
			if why := malformed(in); why != "" {
				t.Fatalf("Serve accepted %q: %s\nout: %q", in, why, out.String())
			}
		}
	})
}

// malformed says why in is not a command stream Serve may accept without
// error ("" if it may): git's side of gitremote-helpers(7), read up to the
// blank line that ends the session. Lines are at most MaxLineLength bytes
// without NUL or CR; commands are capabilities, list [for-push],
// option <name> <value>, and batches of fetch or push lines ended by a
// blank line. Without a local repository a fetch always fails, and so
// does a push whose <src> is not empty.
func malformed(in []byte) string {
	lines := strings.Split(string(in), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1] // the newline ending the last line
	}
	batch := ""
	for _, line := range lines {
		if len(line) > helper.MaxLineLength {
			return "over-long line"
		}
		if strings.ContainsAny(line, "\x00\r") {
			return "NUL or CR in a line"
		}
		if batch != "" {
			switch {
			case line == "":
				batch = ""
				continue
			case !strings.HasPrefix(line, batch+" "):
				return "another command inside a " + batch + " batch"
			}
		} else if line == "" {
			return "" // the end of the session; the rest is not read
		}
		cmd, arg, hasArg := strings.Cut(line, " ")
		switch cmd {
		case "capabilities":
			if hasArg {
				return "capabilities with an argument"
			}
		case "list":
			if hasArg && arg != "for-push" {
				return "list with an unknown argument"
			}
		case "option":
			if !strings.Contains(arg, " ") {
				return "option without a value"
			}
		case "fetch":
			return "fetch without a local repository"
		case "push":
			spec := strings.TrimPrefix(arg, "+")
			i := strings.LastIndexByte(spec, ':')
			if i < 0 {
				return "push without a colon"
			}
			if i != 0 {
				return "push of a <src> without a local repository"
			}
			if helper.CheckRefName(spec[1:]) != nil {
				return "push to a bad ref name"
			}
			batch = "push"
		default:
			return "unknown command"
		}
	}
	return ""
}
