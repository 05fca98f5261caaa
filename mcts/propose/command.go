package propose

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Command is a proposer that is an external program speaking JSON lines:
// the search writes one Message per line on the program's stdin and reads
// one Answer per line from its stdout. The program is started once (with
// "sh -c CMD") and serves every node, one request at a time; its stderr is
// passed through. See the package documentation of mcts for the protocol.
type Command struct {
	Cmd string
	// MaxFileBytes bounds the content sent per request (default 256 KiB):
	// files the output points at come first, then the other editable files.
	MaxFileBytes int
	// Rounds is how many times a node may be asked (default 2).
	Rounds int
	Stderr io.Writer

	mu   sync.Mutex
	proc *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	err  error
}

var (
	_ Proposer = (*Command)(nil)
	_ Closer   = (*Command)(nil)
)

// Message is what a proposer program reads, one JSON object per line.
type Message struct {
	Version int    `json:"version"` // 1
	Node    string `json:"node"`
	Round   int    `json:"round"`
	// Files are the editable files the request carries (path and content).
	Files   []File   `json:"files"`
	Paths   []string `json:"paths"` // every editable path
	Output  string   `json:"output"`
	Failing []string `json:"failing"`
	Score   float64  `json:"score"`
	History []Step   `json:"history"`
	Seed    uint64   `json:"seed"`
}

// File is a path and its content.
type File struct {
	Path    string `json:"path"`
	Content string `json:"content"`
}

// Answer is what a proposer program writes back, one JSON object per line.
// An answer with Error set, or with no candidates, gives the node nothing.
type Answer struct {
	Candidates []Candidate `json:"candidates"`
	Error      string      `json:"error,omitempty"`
}

// NewMessage builds the request for an external proposer: the editable
// files, those the output refers to first, up to maxBytes of content.
func NewMessage(req *Request, maxBytes int) (*Message, error) {
	m := &Message{Version: 1, Node: req.Node, Round: req.Round, Paths: req.Paths, Output: req.Output,
		Failing: req.Failing, Score: req.Score, History: req.History, Seed: req.Rand.Uint64()}
	order := append([]string(nil), req.Paths...)
	var first []string
	for _, r := range FindRefs(req.Output) {
		first = append(first, Resolve(r.Path, req.Paths)...)
	}
	order = append(first, order...)
	seen := map[string]bool{}
	total := 0
	for _, p := range order {
		if seen[p] {
			continue
		}
		seen[p] = true
		b, err := req.Read(p)
		if err != nil {
			return nil, err
		}
		if total+len(b) > maxBytes && len(m.Files) > 0 {
			continue
		}
		total += len(b)
		m.Files = append(m.Files, File{Path: p, Content: string(b)})
	}
	return m, nil
}

func (c *Command) start() error {
	if c.proc != nil || c.err != nil {
		return c.err
	}
	cmd := exec.Command("sh", "-c", c.Cmd)
	cmd.Stderr = c.Stderr
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		c.err = fmt.Errorf("mcts: proposer %q: %w", c.Cmd, err)
		return c.err
	}
	c.proc, c.in, c.out = cmd, in, bufio.NewReaderSize(out, 1<<20)
	return nil
}

// Propose implements Proposer.
func (c *Command) Propose(ctx context.Context, req *Request) ([]Candidate, error) {
	rounds := c.Rounds
	if rounds <= 0 {
		rounds = 2
	}
	if req.Round >= rounds {
		return nil, nil
	}
	max := c.MaxFileBytes
	if max <= 0 {
		max = 256 << 10
	}
	m, err := NewMessage(req, max)
	if err != nil {
		return nil, err
	}
	line, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.start(); err != nil {
		return nil, err
	}
	if _, err := c.in.Write(append(line, '\n')); err != nil {
		c.err = fmt.Errorf("mcts: proposer %q: write: %w", c.Cmd, err)
		return nil, c.err
	}
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b, err := c.out.ReadBytes('\n')
		ch <- result{b, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-ctx.Done():
		c.kill()
		<-ch
		c.err = fmt.Errorf("mcts: proposer %q: %w", c.Cmd, ctx.Err())
		return nil, c.err
	}
	if r.err != nil {
		if errors.Is(r.err, io.EOF) {
			r.err = errors.New("exited")
		}
		c.err = fmt.Errorf("mcts: proposer %q: %w", c.Cmd, r.err)
		return nil, c.err
	}
	var a Answer
	dec := json.NewDecoder(bytes.NewReader(r.b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("mcts: proposer %q: malformed answer: %w", c.Cmd, err)
	}
	if a.Error != "" {
		return nil, nil
	}
	for i := range a.Candidates {
		if a.Candidates[i].Note == "" {
			a.Candidates[i].Note = "command"
		}
	}
	return a.Candidates, nil
}

func (c *Command) kill() {
	if c.proc != nil && c.proc.Process != nil {
		syscall.Kill(-c.proc.Process.Pid, syscall.SIGKILL)
	}
}

// Close ends the program: stdin is closed, and it is killed if it has not
// exited within a second.
func (c *Command) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return nil
	}
	c.in.Close()
	done := make(chan error, 1)
	go func() { done <- c.proc.Wait() }()
	select {
	case <-done:
	case <-time.After(time.Second):
		c.kill()
		<-done
	}
	c.proc = nil
	if c.err == nil {
		c.err = errors.New("mcts: proposer closed")
	}
	return nil
}
