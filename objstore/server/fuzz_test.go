package server

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime/metrics"
	"testing"

	"github.com/helios-vcs/helios/helper/gitobj"
	"github.com/helios-vcs/helios/objstore"
)

// Fuzz targets for what a peer sends the server: frames (readFrame) and
// the requests in them (handle and the dec methods it calls). Whatever the
// bytes, the server answers with an error or hangs up; it never panics,
// and it allocates in proportion to what it was sent, not to the lengths
// and counts the bytes announce.

// allocated is the number of bytes allocated on the heap so far by the
// whole process (runtime/metrics does not stop the world).
func allocated() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// leastAllocated runs fn three times and returns the least the process
// allocated during a run: the count is the whole process's, and while
// fuzzing the engine's own goroutines allocate beside fn, which only ever
// adds.
func leastAllocated(fn func()) uint64 {
	least := ^uint64(0)
	for range 3 {
		before := allocated()
		fn()
		least = min(least, allocated()-before)
	}
	return least
}

// allocBudget is what decoding len(in) bytes may allocate: a bounded
// multiple of the input (decoded values are bigger than their encoding:
// an object id is 33 bytes in memory and may be 1 on the wire) plus the
// fixed cost of a request.
func allocBudget(in []byte) uint64 { return 64*uint64(len(in)) + 1<<20 }

func frame(kind byte, payload []byte) []byte {
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	if err := writeFrame(w, kind, payload); err != nil {
		panic(err)
	}
	w.Flush()
	return b.Bytes()
}

func FuzzReadFrame(f *testing.F) {
	f.Add(frame(frameQuery, []byte{opStatus}))
	f.Add(append(frame(frameData, []byte("abc")), frame(frameEnd, nil)...))
	f.Add([]byte{0, 0, 0, 0, 'x'})
	f.Add([]byte{0xff, 0xff, 0xff, 0x00, 'q', 1, 2, 3}) // maxFrame announced, 3 bytes sent
	f.Add([]byte{0x02, 0x00, 0x00, 0x01, 'q', 1, 2, 3}) // just over maxFrame
	// frames reads every frame of in and says what is wrong with them.
	frames := func(in []byte) error {
		r := bufio.NewReaderSize(bytes.NewReader(in), 16)
		var buf []byte
		read := 0
		for {
			_, p, err := readFrame(r, buf)
			if err != nil {
				if err == io.EOF && r.Buffered() != 0 {
					return fmt.Errorf("clean EOF with %d bytes unread", r.Buffered())
				}
				return nil
			}
			if len(p) > maxFrame {
				return fmt.Errorf("frame of %d bytes, over maxFrame", len(p))
			}
			read += 5 + len(p)
			if read > len(in) {
				return fmt.Errorf("read %d bytes of frames from %d bytes", read, len(in))
			}
			buf = p[:0]
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if err := frames(in); err != nil {
			t.Fatal(err)
		}
		if got, budget := leastAllocated(func() { frames(in) }), allocBudget(in); got > budget {
			t.Fatalf("readFrame allocated %d bytes for %d bytes of input (budget %d)", got, len(in), budget)
		}
	})
}

// denyAll refuses everything, so that a fuzzed request is decoded and
// then refused before it runs: the fuzzer cannot check out into, or
// snapshot, arbitrary directories.
type denyAll struct{}

var _ Authorizer = denyAll{}

func (denyAll) Authorize(Peer, string, string) error { return errors.New("fuzz: denied") }

func query(op byte, fn func(e *enc)) []byte {
	e := enc{b: []byte{op}}
	if fn != nil {
		fn(&e)
	}
	return frame(frameQuery, e.b)
}

// FuzzRequest runs the server's request loop (serveConn after the hello)
// over arbitrary bytes, every request refused by the Authorizer. Each
// request gets exactly one answer frame (but for a last one that broke the
// connection), a result only for status (the one
// operation no Authorizer is asked about); anything else is an error, a
// protocol error for a malformed request.
func FuzzRequest(f *testing.F) {
	st, err := objstore.Init(objstore.NewMemKV(), objstore.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	srv := New(Options{Store: st, Authorizer: denyAll{}, Watch: WatchOptions{Disabled: true}})

	oid := gitobj.MustParseOID("4b825dc642cb6eb9a060e54bf8d69288fbee4904")
	f.Add(query(opStatus, nil))
	f.Add(query(opSnapshot, func(e *enc) {
		e.str("/tmp/x")
		e.str("refs/heads/main")
		e.str("m")
		e.sig(objstore.Signature{Name: "a", Email: "a@b"})
		e.flag(true)
	}))
	f.Add(query(opCheckout, func(e *enc) { e.str("/tmp/x"); e.id(objstore.ID{1}); e.flag(false) }))
	f.Add(query(opRefs, func(e *enc) { e.str("refs/") }))
	f.Add(query(opStats, func(e *enc) { e.u(1) })) // trailing bytes
	f.Add(query(opGitFetch, func(e *enc) { e.oids([]gitobj.OID{oid}); e.oids(nil) }))
	f.Add(append(query(opGitPush, func(e *enc) {
		e.u(1)
		e.str("refs/heads/main")
		e.oid(gitobj.OID{})
		e.oid(oid)
		e.flag(false)
		e.flag(false)
		e.flag(false)
		e.flag(false)
	}), append(frame(frameData, []byte(oid.String()+"\n")), frame(frameEnd, nil)...)...))
	f.Add(query(opMakeState, func(e *enc) {
		e.handles([]uint64{1, 2})
		e.id(objstore.ID{})
		e.files(map[string][]byte{"a/b": []byte("x")})
		e.str("m")
		e.sig(objstore.Signature{})
	}))
	f.Add(query(opAdmin, func(e *enc) { e.str("x"); e.bytes(nil) }))
	f.Add(query(200, nil))
	f.Add(append(query(opStatus, nil), query(opWalk, func(e *enc) { e.id(objstore.ID{}) })...))

	// serve runs the requests in in, as a connection would, and says how
	// many bytes the process allocated meanwhile.
	serve := func(t *testing.T, in []byte) (out bytes.Buffer, ops []byte, herr error, allocs uint64) {
		before := allocated()
		sc := &serverConn{peer: Peer{UID: 1, PID: 1, Via: ViaUnix}}
		defer srv.dropPending(sc)
		r := bufio.NewReaderSize(bytes.NewReader(in), 16)
		w := bufio.NewWriter(&out)
		var e enc
		var buf []byte
		for {
			kind, p, err := readFrame(r, buf)
			if err != nil || kind != frameQuery || len(p) == 0 {
				break
			}
			buf = p[:0]
			ops = append(ops, p[0])
			herr = srv.handle(sc, r, w, &e, p[0], p[1:])
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if herr != nil {
				break
			}
		}
		return out, ops, herr, allocated() - before
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, ops, herr, got := serve(t, in)
		// The count is the whole process's (see leastAllocated): an input
		// over the budget is measured again before it is refused.
		if budget := allocBudget(in); got > budget {
			again := leastAllocated(func() { serve(t, in) })
			if again > budget {
				t.Fatalf("%d requests allocated %d bytes (at least) for %d bytes of input (budget %d)", len(ops), again, len(in), budget)
			}
		}
		ar := bufio.NewReader(&out)
		for i, op := range ops {
			kind, p, err := readFrame(ar, nil)
			if err == io.EOF && i == len(ops)-1 && herr != nil {
				break // the connection broke mid-request (a truncated push stream): no answer
			}
			if err != nil {
				t.Fatalf("answer %d (op %d): %v", i, op, err)
			}
			switch {
			case kind == frameResult && op == opStatus:
			case kind == frameError:
				d := dec{b: p}
				if derr := decodeError(&d); derr == nil {
					t.Fatalf("answer %d (op %d): error frame without an error", i, op)
				}
			default:
				t.Fatalf("answer %d (op %d): frame %q to a request every Authorizer refuses", i, op, kind)
			}
		}
		if kind, _, err := readFrame(ar, nil); err != io.EOF {
			t.Fatalf("more answers than requests: frame %q, %v", kind, err)
		}
	})
}

// TestDecoderAllocations: a count or length announcing a megabyte of
// elements, followed by a megabyte of zeros, allocates at most 24 times
// that megabyte, whatever the decoder (a decoded element is up to ~20
// times its smallest encoding: a push update is 88 bytes in memory and 5
// on the wire); and an object header announcing
// maxGitObject bytes without sending them does not allocate them.
func TestDecoderAllocations(t *testing.T) {
	const n = 1 << 20
	const decodeBudget = 24
	payload := binary.AppendUvarint(nil, n)
	payload = append(payload, make([]byte, n)...)
	decoders := map[string]func(d *dec){
		"ids":          func(d *dec) { d.ids() },
		"oids":         func(d *dec) { d.oids() },
		"entries":      func(d *dec) { d.entries() },
		"changes":      func(d *dec) { d.changes() },
		"refs":         func(d *dec) { d.refs() },
		"counts":       func(d *dec) { d.counts() },
		"files":        func(d *dec) { d.files() },
		"handles":      func(d *dec) { d.handles() },
		"pushResults":  func(d *dec) { d.pushResults() },
		"treeProof":    func(d *dec) { decodeTreeProof(d) },
		"fsckReport":   func(d *dec) { d.u(); d.fsckReport() },
		"str":          func(d *dec) { d.str() },
		"bytes":        func(d *dec) { d.bytes() },
		"snapshotRes.": func(d *dec) { d.snapshotResult() },
	}
	for name, decode := range decoders {
		t.Run(name, func(t *testing.T) {
			if got := leastAllocated(func() { decode(&dec{b: payload}) }); got > decodeBudget*uint64(len(payload)) {
				t.Errorf("allocated %d bytes decoding %d bytes, want at most %d", got, len(payload), decodeBudget*len(payload))
			}
		})
	}
	srv := New(Options{Authorizer: denyAll{}, Watch: WatchOptions{Disabled: true}})
	for _, op := range []byte{opUpdateRefs, opImportState, opGitPush, opMakeState, opGitFetch} {
		t.Run(opNames[op], func(t *testing.T) {
			got := leastAllocated(func() {
				var out bytes.Buffer
				w := bufio.NewWriter(&out)
				var e enc
				srv.handle(&serverConn{}, bufio.NewReader(bytes.NewReader(nil)), w, &e, op, payload)
			})
			if got > decodeBudget*uint64(len(payload)) {
				t.Errorf("allocated %d bytes decoding %d bytes, want at most %d", got, len(payload), decodeBudget*len(payload))
			}
		})
	}
	t.Run("object", func(t *testing.T) {
		hdr := append([]byte{byte(gitobj.Blob)}, make([]byte, 21)...)
		hdr[1] = 20 // an id of 20 zero bytes (readOID: length, bytes)
		hdr = binary.AppendUvarint(hdr, maxGitObject)
		if _, err := readObject(bufio.NewReader(bytes.NewReader(hdr))); err == nil {
			t.Fatal("truncated object read")
		}
		if got := leastAllocated(func() { readObject(bufio.NewReader(bytes.NewReader(hdr))) }); got > 4<<20 {
			t.Errorf("allocated %d bytes for a %d-byte object header", got, len(hdr))
		}
	})
}
