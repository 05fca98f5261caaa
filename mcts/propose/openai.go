package propose

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// OpenAI is a proposer backed by any OpenAI-compatible chat-completions
// endpoint (POST URL/chat/completions). It sends the editable files with
// numbered lines, the failing output and the path so far, and asks for
// line edits as one JSON object:
//
//	{"edits": [{"path": "calc.go", "line": 12, "old": "<line 12 as it is>", "new": ["<replacement>", ...]}]}
//
// An answer that is not exactly that (other keys, text around it, a path
// that was not offered, a line whose "old" does not match, overlapping
// edits) is rejected: it counts as ErrMalformed and gives no candidate.
// One ```json fence around the object is tolerated. Each call asks for N
// choices; a node is asked Rounds times at most.
type OpenAI struct {
	URL    string // base URL, e.g. https://api.openai.com/v1
	Model  string
	APIKey string
	// N is the number of choices per request (default 2); Rounds the
	// requests per node (default 2); Temperature as the API has it.
	N, Rounds    int
	Temperature  float64
	MaxFileBytes int // default 64 KiB
	Client       *http.Client

	mu       sync.Mutex
	rejected int
}

var _ Proposer = (*OpenAI)(nil)

// ErrMalformed is wrapped when a model's answer is not in the edit format.
var ErrMalformed = errors.New("mcts: malformed model answer")

type chatRequest struct {
	Model       string        `json:"model"`
	Messages    []chatMessage `json:"messages"`
	N           int           `json:"n,omitempty"`
	Temperature float64       `json:"temperature"`
	Seed        int64         `json:"seed"`
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatResponse struct {
	Choices []struct {
		Message chatMessage `json:"message"`
	} `json:"choices"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

const systemPrompt = `You repair source code so that its tests pass. You may only edit the files shown.
Answer with exactly one JSON object and nothing else:
{"edits": [{"path": "<file>", "line": <1-based line number>, "old": "<the line exactly as shown>", "new": ["<replacement line>", ...]}]}
"new" replaces the one line: one element to change it, several to insert lines after it, [] to delete it.
Line numbers refer to the file as shown. Make the smallest change that fixes the failure.`

// Prompt renders the user message for a request.
func Prompt(req *Request, maxBytes int) (string, error) {
	m, err := NewMessage(req, maxBytes)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, f := range m.Files {
		fmt.Fprintf(&b, "=== %s\n", f.Path)
		for i, l := range Lines([]byte(f.Content)) {
			fmt.Fprintf(&b, "%d: %s\n", i+1, l)
		}
	}
	if len(req.History) > 0 {
		b.WriteString("=== edits already made on this path (do not undo them unless they are wrong)\n")
		for _, s := range req.History {
			for _, e := range s.Edits {
				fmt.Fprintf(&b, "%s (score %.2f)\n", e, s.Score)
			}
		}
	}
	fmt.Fprintf(&b, "=== test output (share of tests passing: %.2f)\n%s\n", req.Score, req.Output)
	return b.String(), nil
}

// Propose implements Proposer.
func (o *OpenAI) Propose(ctx context.Context, req *Request) ([]Candidate, error) {
	rounds, n := o.Rounds, o.N
	if rounds <= 0 {
		rounds = 2
	}
	if n <= 0 {
		n = 2
	}
	if req.Round >= rounds {
		return nil, nil
	}
	max := o.MaxFileBytes
	if max <= 0 {
		max = 64 << 10
	}
	prompt, err := Prompt(req, max)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(chatRequest{
		Model: o.Model, N: n, Temperature: o.Temperature, Seed: int64(req.Rand.Uint32()),
		Messages: []chatMessage{{Role: "system", Content: systemPrompt}, {Role: "user", Content: prompt}},
	})
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(o.URL, "/")+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("mcts: openai: %w", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	if o.APIKey != "" {
		hr.Header.Set("Authorization", "Bearer "+o.APIKey)
	}
	cl := o.Client
	if cl == nil {
		cl = &http.Client{Timeout: 2 * time.Minute}
	}
	resp, err := cl.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("mcts: openai: %w", err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("mcts: openai: %w", err)
	}
	var cr chatResponse
	if err := json.Unmarshal(rb, &cr); err != nil || resp.StatusCode != http.StatusOK {
		msg := resp.Status
		if cr.Error != nil {
			msg += ": " + cr.Error.Message
		}
		return nil, fmt.Errorf("mcts: openai: %s", msg)
	}
	var out []Candidate
	for _, ch := range cr.Choices {
		c, err := ParseEdits(ch.Message.Content, req)
		if err != nil {
			o.reject()
			continue
		}
		c.Note = "llm"
		out = append(out, c)
	}
	return out, nil
}

func (o *OpenAI) reject() {
	o.mu.Lock()
	o.rejected++
	o.mu.Unlock()
}

// Rejected is the number of malformed answers so far.
func (o *OpenAI) Rejected() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.rejected
}

// ParseEdits reads a model's answer in the strict edit format and checks
// it against the request's files; anything else wraps ErrMalformed.
func ParseEdits(content string, req *Request) (Candidate, error) {
	s := strings.TrimSpace(content)
	if strings.HasPrefix(s, "```") {
		s = strings.TrimPrefix(strings.TrimPrefix(s, "```json"), "```")
		if !strings.HasSuffix(s, "```") {
			return Candidate{}, fmt.Errorf("%w: unclosed fence", ErrMalformed)
		}
		s = strings.TrimSpace(strings.TrimSuffix(s, "```"))
	}
	var a struct {
		Edits []Edit `json:"edits"`
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return Candidate{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if dec.More() {
		return Candidate{}, fmt.Errorf("%w: text after the object", ErrMalformed)
	}
	if len(a.Edits) == 0 {
		return Candidate{}, fmt.Errorf("%w: no edits", ErrMalformed)
	}
	allowed := map[string]bool{}
	for _, p := range req.Paths {
		allowed[p] = true
	}
	for _, e := range a.Edits {
		if !allowed[e.Path] {
			return Candidate{}, fmt.Errorf("%w: %q is not an editable file", ErrMalformed, e.Path)
		}
		if e.New == nil {
			return Candidate{}, fmt.Errorf("%w: %s:%d: no \"new\"", ErrMalformed, e.Path, e.Line)
		}
	}
	c := Candidate{Edits: a.Edits}
	if _, err := Apply(c, req.Read); err != nil {
		return Candidate{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return c, nil
}
