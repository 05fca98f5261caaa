package gitrepo

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/helios-vcs/helios/helper/gitobj"
)

// ListObjects calls fn for every object reachable from tips and not from
// haves, in git rev-list --objects order (commits first, each tree before
// the entries it names). Haves the repository does not have are ignored
// (--ignore-missing), so the remote's ref values can be passed as they
// are. Tips must exist.
func (r *Repo) ListObjects(ctx context.Context, tips, haves []gitobj.OID, fn func(gitobj.OID) error) (err error) {
	if len(tips) == 0 {
		return nil
	}
	var in bytes.Buffer
	for _, t := range tips {
		in.WriteString(t.String())
		in.WriteByte('\n')
	}
	for _, h := range haves {
		if h.IsZero() {
			continue
		}
		in.WriteByte('^')
		in.WriteString(h.String())
		in.WriteByte('\n')
	}
	cmd := r.command(ctx, "rev-list", "--objects", "--no-object-names", "--ignore-missing", "--stdin")
	// rev-list flushes its output after every commit when it writes to
	// a pipe: 3,000 writes of one line each for a history of 3,000
	// commits, each waking the reader. GIT_FLUSH=0 has it write in full
	// buffers.
	cmd.Env = append(cmd.Env, "GIT_FLUSH=0")
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("gitrepo: rev-list: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("gitrepo: rev-list: %w", err)
	}
	waited := false
	defer func() {
		if !waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		id, perr := gitobj.ParseOIDFormatBytes(r.format, bytes.TrimSpace(sc.Bytes()))
		if perr != nil {
			return fmt.Errorf("gitrepo: rev-list output: %w", perr)
		}
		if err := fn(id); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("gitrepo: rev-list: %w", err)
	}
	waited = true
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("gitrepo: rev-list: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
