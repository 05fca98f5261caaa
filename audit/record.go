package audit

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrBadRecord is returned for bytes that are not a canonical record.
var ErrBadRecord = errors.New("audit: malformed record")

// MaxRecordSize bounds one encoded record (a push of many refs is one
// record).
const MaxRecordSize = 16 << 20

// Event says what kind of change a record describes.
type Event string

// The events the store records.
const (
	EventRef      Event = "ref"      // refs moved, created, deleted or made symbolic
	EventBaseline Event = "baseline" // the refs a store held when its log started
	EventPolicy   Event = "policy"   // the access policy changed
	EventKey      Event = "key"      // a key was created or its wrapping rotated
	EventSearch   Event = "search"   // a search (MCTS) run
	EventDenied   Event = "denied"   // a request the policy refused
)

// RefChange is one ref move in a record. Old and New are the ref's values
// before and after ("" for absent: a creation or a deletion), in the
// store's text form ("b3:…"); Target is set when the ref became symbolic.
type RefChange struct {
	Name     string
	Old, New string
	Target   string
}

// Record is one entry of the log: who did what, when. Time comes from the
// writer's clock and is not trustworthy on its own; the order of the log is
// its index. Attrs carry event details (a policy's hash, a key's id, a
// search's parameters); keys are lower-case [a-z0-9-].
type Record struct {
	Time  time.Time
	Actor string
	Event Event
	Refs  []RefChange
	Attrs map[string]string
}

// validWord reports whether s is an event name or an attribute key: a
// lower-case letter, then up to 31 of a-z 0-9 and '-'.
func validWord(s string) bool {
	if len(s) == 0 || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

const recordMagic = "helios-audit/1"

// Encode returns the canonical encoding of r, the bytes the log hashes:
// UTF-8 lines without control characters, ending in a newline, no blank
// lines, as tlog.FormatRecord requires:
//
//	helios-audit/1
//	time 2026-01-02T03:04:05.000000001Z
//	actor "alice"
//	event ref
//	ref "refs/heads/main" "b3:…" "b3:…"        (name, old, new; "" for absent)
//	symref "HEAD" "refs/heads/main"             (name, target)
//	attr key "value"                            (sorted by key)
//
// Strings are quoted with strconv.QuoteToASCII, so any text survives.
func (r *Record) Encode() ([]byte, error) {
	if !validWord(string(r.Event)) {
		return nil, fmt.Errorf("%w: event %q", ErrBadRecord, r.Event)
	}
	if r.Time.IsZero() {
		return nil, fmt.Errorf("%w: no time", ErrBadRecord)
	}
	if y := r.Time.UTC().Year(); y < 1 || y > 9999 {
		return nil, fmt.Errorf("%w: year %d", ErrBadRecord, y)
	}
	var b bytes.Buffer
	b.WriteString(recordMagic + "\n")
	b.WriteString("time " + r.Time.UTC().Format(time.RFC3339Nano) + "\n")
	b.WriteString("actor " + strconv.QuoteToASCII(r.Actor) + "\n")
	b.WriteString("event " + string(r.Event) + "\n")
	for _, c := range r.Refs {
		if c.Name == "" {
			return nil, fmt.Errorf("%w: ref change without a name", ErrBadRecord)
		}
		if c.Target != "" {
			if c.Old != "" || c.New != "" {
				return nil, fmt.Errorf("%w: symbolic ref %q with values", ErrBadRecord, c.Name)
			}
			fmt.Fprintf(&b, "symref %s %s\n", strconv.QuoteToASCII(c.Name), strconv.QuoteToASCII(c.Target))
			continue
		}
		fmt.Fprintf(&b, "ref %s %s %s\n", strconv.QuoteToASCII(c.Name), strconv.QuoteToASCII(c.Old), strconv.QuoteToASCII(c.New))
	}
	keys := make([]string, 0, len(r.Attrs))
	for k := range r.Attrs {
		if !validWord(k) {
			return nil, fmt.Errorf("%w: attribute %q", ErrBadRecord, k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "attr %s %s\n", k, strconv.QuoteToASCII(r.Attrs[k]))
	}
	if b.Len() > MaxRecordSize {
		return nil, fmt.Errorf("%w: %d bytes, over %d", ErrBadRecord, b.Len(), MaxRecordSize)
	}
	return b.Bytes(), nil
}

// DecodeRecord parses a record and accepts only its canonical encoding: the
// decoded record must encode to exactly data.
func DecodeRecord(data []byte) (*Record, error) {
	if len(data) > MaxRecordSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadRecord, len(data))
	}
	if len(data) == 0 || data[len(data)-1] != '\n' {
		return nil, fmt.Errorf("%w: no final newline", ErrBadRecord)
	}
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	if lines[0] != recordMagic {
		return nil, fmt.Errorf("%w: first line %q", ErrBadRecord, lines[0])
	}
	r := &Record{}
	for i, line := range lines[1:] {
		word, rest, _ := strings.Cut(line, " ")
		args, err := splitQuoted(rest, word)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrBadRecord, i+2, err)
		}
		want := map[string]int{"time": 1, "actor": 1, "event": 1, "ref": 3, "symref": 2, "attr": 2}[word]
		if want == 0 || len(args) != want {
			return nil, fmt.Errorf("%w: line %d: %q", ErrBadRecord, i+2, line)
		}
		switch word {
		case "time":
			t, err := time.Parse(time.RFC3339Nano, args[0])
			if err != nil {
				return nil, fmt.Errorf("%w: line %d: %v", ErrBadRecord, i+2, err)
			}
			r.Time = t.UTC()
		case "actor":
			r.Actor = args[0]
		case "event":
			r.Event = Event(args[0])
		case "ref":
			r.Refs = append(r.Refs, RefChange{Name: args[0], Old: args[1], New: args[2]})
		case "symref":
			r.Refs = append(r.Refs, RefChange{Name: args[0], Target: args[1]})
		case "attr":
			if r.Attrs == nil {
				r.Attrs = map[string]string{}
			}
			r.Attrs[args[0]] = args[1]
		}
	}
	again, err := r.Encode()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, data) {
		return nil, fmt.Errorf("%w: not in canonical form", ErrBadRecord)
	}
	return r, nil
}

// splitQuoted splits the arguments of a record line: time and event take
// one bare word, attr a bare key then a quoted value, the rest quoted
// strings.
func splitQuoted(s, word string) ([]string, error) {
	var out []string
	for s != "" {
		if s[0] != '"' {
			w, rest, _ := strings.Cut(s, " ")
			out = append(out, w)
			s = rest
			continue
		}
		q, err := strconv.QuotedPrefix(s)
		if err != nil {
			return nil, fmt.Errorf("bad quoting in %s line", word)
		}
		v, _ := strconv.Unquote(q)
		out = append(out, v)
		s = s[len(q):]
		if s != "" {
			if s[0] != ' ' {
				return nil, fmt.Errorf("missing space in %s line", word)
			}
			s = s[1:]
		}
	}
	return out, nil
}
