package propose

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func testRequest() *Request {
	return &Request{
		Node: "b3:00", Paths: []string{"a.go", "b.go"}, All: []string{"a.go", "b.go", "a_test.go"},
		Read:   reader(map[string]string{"a.go": "x := 1\nif x < n {\n", "b.go": "package b\n"}),
		Output: "b.go:1: boom\n", Failing: []string{"TestA"}, Score: 0.5,
		History: []Step{{Edits: []Edit{{Path: "a.go", Line: 1, Old: "x := 0", New: []string{"x := 1"}}}, Score: 0.25}},
		Rand:    rand.New(rand.NewPCG(1, 1)),
	}
}

func TestCommandProtocol(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "requests")
	script := filepath.Join(dir, "p.sh")
	answer := `{"candidates":[{"edits":[{"path":"a.go","line":2,"old":"if x < n {","new":["if x <= n {"]}],"prior":0.5}]}`
	os.WriteFile(script, []byte("while read -r line; do printf '%s\\n' \"$line\" >> "+log+"; echo '"+answer+"'; done\n"), 0o755)
	c := &Command{Cmd: "sh " + script, Stderr: io.Discard}
	defer c.Close()
	cs, err := c.Propose(context.Background(), testRequest())
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Edits[0].New[0] != "if x <= n {" || cs[0].Note != "command" || cs[0].Prior != 0.5 {
		t.Fatalf("got %+v", cs)
	}
	req := testRequest()
	req.Round = 1
	if _, err := c.Propose(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	req.Round = 2
	if cs, err := c.Propose(context.Background(), req); cs != nil || err != nil {
		t.Errorf("round 2: %v %v, want nothing", cs, err)
	}
	b, _ := os.ReadFile(log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 {
		t.Fatalf("program got %d requests, want 2", len(lines))
	}
	var m Message
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	// b.go is named by the output, so it comes first.
	if m.Version != 1 || len(m.Files) != 2 || m.Files[0].Path != "b.go" || m.Output != "b.go:1: boom\n" ||
		len(m.History) != 1 || m.Failing[0] != "TestA" || len(m.Paths) != 2 {
		t.Errorf("request: %+v", m)
	}
	c.Close()
	if _, err := c.Propose(context.Background(), testRequest()); err == nil {
		t.Error("Propose after Close succeeded")
	}
}

func TestCommandFailures(t *testing.T) {
	tests := []struct{ name, cmd string }{
		{"malformed", `read -r l; echo '{"candidates": 3}'; sleep 5`},
		{"unknown field", `read -r l; echo '{"cands": []}'; sleep 5`},
		{"exits", `exit 0`},
	}
	for _, tt := range tests {
		c := &Command{Cmd: tt.cmd, Stderr: io.Discard}
		if _, err := c.Propose(context.Background(), testRequest()); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
		c.Close()
	}
	c := &Command{Cmd: `read -r l; echo '{"error": "no idea"}'`, Stderr: io.Discard}
	if cs, err := c.Propose(context.Background(), testRequest()); cs != nil || err != nil {
		t.Errorf("error answer: %v %v, want nothing", cs, err)
	}
	c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	c = &Command{Cmd: `read -r l; sleep 30`, Stderr: io.Discard}
	go cancel()
	if _, err := c.Propose(ctx, testRequest()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	c.Close()
}

// fakeLLM is an OpenAI-compatible endpoint that answers with contents.
type fakeLLM struct {
	mu       sync.Mutex
	contents []string
	status   int
	got      chatRequest
	auth     string
}

func (f *fakeLLM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	f.auth = r.Header.Get("Authorization")
	json.NewDecoder(r.Body).Decode(&f.got)
	if f.status != 0 {
		w.WriteHeader(f.status)
		w.Write([]byte(`{"error":{"message":"rate limited"}}`))
		return
	}
	var resp chatResponse
	for _, c := range f.contents {
		resp.Choices = append(resp.Choices, struct {
			Message chatMessage `json:"message"`
		}{chatMessage{Role: "assistant", Content: c}})
	}
	json.NewEncoder(w).Encode(resp)
}

func TestOpenAI(t *testing.T) {
	good := `{"edits": [{"path": "a.go", "line": 2, "old": "if x < n {", "new": ["if x <= n {"]}]}`
	fake := &fakeLLM{contents: []string{
		good,
		"```json\n" + good + "\n```",
		"Sure! " + good,
		`{"edits": [{"path": "a_test.go", "line": 1, "old": "x", "new": ["y"]}]}`,
		`{"edits": [{"path": "a.go", "line": 2, "old": "if y < n {", "new": ["if x <= n {"]}]}`,
		`{"edits": [{"path": "a.go", "line": 2, "old": "if x < n {"}]}`,
		`{"edits": [], "why": 1}`,
		`{"edits": []}`,
		good + " {}",
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	o := &OpenAI{URL: srv.URL + "/v1/", Model: "m1", APIKey: "k", N: 9}
	cs, err := o.Propose(context.Background(), testRequest())
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Note != "llm" || cs[1].Edits[0].Line != 2 {
		t.Errorf("got %d candidates %+v, want the 2 well-formed ones", len(cs), cs)
	}
	if o.Rejected() != 7 {
		t.Errorf("rejected %d, want 7", o.Rejected())
	}
	if fake.got.Model != "m1" || fake.got.N != 9 || fake.auth != "Bearer k" || len(fake.got.Messages) != 2 ||
		!strings.Contains(fake.got.Messages[1].Content, "2: if x < n {") || !strings.Contains(fake.got.Messages[1].Content, "b.go:1: boom") {
		t.Errorf("request: %+v auth %q", fake.got, fake.auth)
	}
	req := testRequest()
	req.Round = 2
	if cs, err := o.Propose(context.Background(), req); cs != nil || err != nil {
		t.Errorf("round 2: %v %v", cs, err)
	}
	fake.status = http.StatusTooManyRequests
	if _, err := o.Propose(context.Background(), testRequest()); err == nil || !strings.Contains(err.Error(), "rate limited") {
		t.Errorf("429: %v", err)
	}
	bad := &OpenAI{URL: "http://127.0.0.1:1", Model: "m"}
	if _, err := bad.Propose(context.Background(), testRequest()); err == nil {
		t.Error("unreachable endpoint: no error")
	}
}
