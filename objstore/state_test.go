package objstore

import (
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestStateEncodingRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var st State
		copy(st.Root[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "root"))
		for i := rapid.IntRange(0, 3).Draw(t, "np"); i > 0; i-- {
			var p ID
			copy(p[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, "parent"))
			st.Parents = append(st.Parents, p)
		}
		sig := func(label string) Signature {
			off := rapid.IntRange(-14*3600, 14*3600).Draw(t, label+"off") / 60 * 60
			zone := time.FixedZone("", off)
			if off == 0 {
				zone = time.UTC
			}
			return Signature{
				Name:  rapid.String().Draw(t, label+"name"),
				Email: rapid.String().Draw(t, label+"email"),
				When:  time.Unix(rapid.Int64Range(-1e10, 1e10).Draw(t, label+"sec"), rapid.Int64Range(0, 999999999).Draw(t, label+"ns")).In(zone),
			}
		}
		st.Author, st.Committer = sig("a"), sig("c")
		st.Message = rapid.String().Draw(t, "msg")
		b := EncodeState(&st)
		got, err := DecodeState(b)
		if err != nil {
			t.Fatal(err)
		}
		if string(EncodeState(got)) != string(b) {
			t.Fatalf("re-encoding differs: %+v vs %+v", got, st)
		}
		if !got.Author.When.Equal(st.Author.When) || got.Message != st.Message || len(got.Parents) != len(st.Parents) {
			t.Fatalf("got %+v, want %+v", got, st)
		}
		if len(b) > 2 {
			cut := rapid.IntRange(1, len(b)-1).Draw(t, "cut")
			if _, err := DecodeState(b[:cut]); err == nil {
				t.Fatalf("truncated state at %d decoded", cut)
			}
		}
	})
	if _, err := DecodeState([]byte{9}); !errors.Is(err, ErrBadState) {
		t.Errorf("unknown format: %v", err)
	}
}
