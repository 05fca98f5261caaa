package audit

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

func TestRecordRoundTrip(t *testing.T) {
	r := Record{
		Time: t0, Actor: "agent:ci bot \"7\"\n", Event: EventRef,
		Refs: []RefChange{
			{Name: "refs/heads/main", Old: "b3:aa", New: "b3:bb"},
			{Name: "refs/heads/new", New: "b3:cc"},
			{Name: "HEAD", Target: "refs/heads/main"},
		},
		Attrs: map[string]string{"reason": "hotfix ✓", "a-1": ""},
	}
	b, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `helios-audit/1
time 2026-01-02T03:04:05.000000006Z
actor "agent:ci bot \"7\"\n"
event ref
ref "refs/heads/main" "b3:aa" "b3:bb"
ref "refs/heads/new" "" "b3:cc"
symref "HEAD" "refs/heads/main"
attr a-1 ""
attr reason "hotfix \u2713"
`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("encoding (-want +got):\n%s", diff)
	}
	got, err := DecodeRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&r, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestRecordRoundTripProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := Record{
			Time:  time.Unix(rapid.Int64Range(0, 253402300799).Draw(t, "sec"), rapid.Int64Range(0, 1e9-1).Draw(t, "ns")).UTC(),
			Actor: rapid.String().Draw(t, "actor"),
			Event: Event(rapid.StringMatching(`[a-z][a-z0-9-]{0,10}`).Draw(t, "event")),
		}
		for i, n := 0, rapid.IntRange(0, 4).Draw(t, "refs"); i < n; i++ {
			c := RefChange{Name: rapid.StringN(1, 20, -1).Draw(t, "name")}
			if rapid.Bool().Draw(t, "sym") {
				c.Target = rapid.StringN(1, 20, -1).Draw(t, "target")
			} else {
				c.Old, c.New = rapid.String().Draw(t, "old"), rapid.String().Draw(t, "new")
			}
			r.Refs = append(r.Refs, c)
		}
		if rapid.Bool().Draw(t, "attrs") {
			r.Attrs = rapid.MapOf(rapid.StringMatching(`[a-z][a-z0-9-]{0,8}`), rapid.String()).Draw(t, "attrs")
			if len(r.Attrs) == 0 {
				r.Attrs = nil
			}
		}
		b, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range b {
			if c < 0x20 && c != '\n' || c >= 0x7f {
				t.Fatalf("byte %#x in encoding", c)
			}
		}
		if strings.Contains(string(b), "\n\n") {
			t.Fatal("blank line in encoding")
		}
		got, err := DecodeRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&r, got); diff != "" {
			t.Fatalf("round trip (-want +got):\n%s", diff)
		}
	})
}

func TestRecordRejects(t *testing.T) {
	bad := []Record{
		{Actor: "a", Event: EventRef},                      // no time
		{Time: t0, Event: "Bad Event"},                     // event
		{Time: t0, Event: EventRef, Refs: []RefChange{{}}}, // nameless ref
		{Time: t0, Event: EventRef, Refs: []RefChange{{Name: "HEAD", Target: "x", New: "y"}}},
		{Time: t0, Event: EventRef, Attrs: map[string]string{"Bad Key": ""}},
		{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Event: EventRef},
		{Time: t0, Event: EventRef, Actor: strings.Repeat("x", MaxRecordSize)},
	}
	for i, r := range bad {
		if _, err := r.Encode(); !errors.Is(err, ErrBadRecord) {
			t.Errorf("case %d: %v, want ErrBadRecord", i, err)
		}
	}
	good, _ := (&Record{Time: t0, Actor: "a", Event: EventRef}).Encode()
	for name, data := range map[string]string{
		"empty":        "",
		"no newline":   strings.TrimSuffix(string(good), "\n"),
		"magic":        strings.Replace(string(good), "helios-audit/1", "helios-audit/2", 1),
		"bare actor":   strings.Replace(string(good), `"a"`, "a", 1),
		"unknown line": string(good) + "extra \"x\"\n",
		"bad time":     strings.Replace(string(good), "2026-", "20x6-", 1),
		"zone time":    strings.Replace(string(good), "05.000000006Z", "05.000000006+00:00", 1),
		"bad quote":    strings.Replace(string(good), `"a"`, `"a`, 1),
		"no space":     strings.Replace(string(good), `actor "a"`, `actor "a""b"`, 1),
		"blank line":   string(good) + "\n",
		"huge":         strings.Repeat("x", MaxRecordSize+1),
		"arity":        strings.Replace(string(good), "event ref", "event ref ref", 1),
	} {
		if _, err := DecodeRecord([]byte(data)); !errors.Is(err, ErrBadRecord) {
			t.Errorf("%s: %v, want ErrBadRecord", name, err)
		}
	}
}
