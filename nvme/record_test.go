package nvme

import (
	"bytes"
	"testing"

	"pgregory.net/rapid"
)

// TestRecordEncoding: a record decodes to what was encoded, and any single
// flipped bit in header or payload is caught by a checksum.
func TestRecordEncoding(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		seq := rapid.Uint64Range(1, 1<<62).Draw(t, "seq")
		epoch := rapid.Uint64().Draw(t, "epoch")
		var key [KeySize]byte
		copy(key[:], rapid.SliceOfN(rapid.Byte(), KeySize, KeySize).Draw(t, "key"))
		payload := rapid.SliceOfN(rapid.Byte(), 0, 5000).Draw(t, "payload")
		buf := make([]byte, recordHeaderSize+len(payload))
		n, sum := encodeRecord(buf, seq, epoch, key, payload)
		if n != len(buf) {
			t.Fatalf("encodeRecord size = %d, want %d", n, len(buf))
		}
		loc := Location{Seq: seq, Len: uint32(len(payload)), Sum: sum}
		got, gotKey, err := verify(buf, loc)
		if err != nil || !bytes.Equal(got, payload) || gotKey != key {
			t.Fatalf("verify = %v, key equal %v, payload equal %v", err, gotKey == key, bytes.Equal(got, payload))
		}
		bit := rapid.IntRange(0, 8*len(buf)-1).Draw(t, "bit")
		buf[bit/8] ^= 1 << (bit % 8)
		if _, _, err := verify(buf, loc); err == nil {
			t.Fatalf("flipping bit %d went unnoticed", bit)
		}
	})
}

func TestPadEncoding(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		bs := int64(1) << rapid.IntRange(9, 13).Draw(t, "log2 block")
		end := rapid.Int64Range(0, 1<<20).Draw(t, "end")
		pad := padFor(end, bs)
		if (end+pad)%bs != 0 || (pad != 0 && pad < recordHeaderSize) || pad >= bs+recordHeaderSize {
			t.Fatalf("padFor(%d, %d) = %d", end, bs, pad)
		}
		if pad == 0 {
			return
		}
		buf := bytes.Repeat([]byte{0xff}, int(pad))
		encodePad(buf, int(pad), 3, 4)
		h, err := decodeRecordHeader(buf)
		if err != nil || h.magic != padMagic || int64(h.length)+recordHeaderSize != pad || h.seq != 3 || h.epoch != 4 {
			t.Fatalf("pad header = %+v, %v", h, err)
		}
		if !bytes.Equal(buf[recordHeaderSize:], make([]byte, pad-recordHeaderSize)) {
			t.Fatalf("pad body not zeroed")
		}
	})
}

func TestHeaderDecodeRejects(t *testing.T) {
	if _, err := decodeRecordHeader(make([]byte, 10)); err == nil {
		t.Fatal("short header accepted")
	}
	if _, err := decodeRecordHeader(make([]byte, 64)); err == nil {
		t.Fatal("zero header accepted")
	}
	b := make([]byte, 4096)
	segmentHeader{seq: 5, epoch: 1}.encode(b)
	if h, ok := decodeSegmentHeader(b); !ok || h.seq != 5 {
		t.Fatalf("segment header = %+v, %v", h, ok)
	}
	b[9] ^= 1
	if _, ok := decodeSegmentHeader(b); ok {
		t.Fatal("damaged segment header accepted")
	}
	superblock{blockSize: 4096, segmentSize: 1 << 20, segmentCount: 3, epoch: 9}.encode(b)
	if s, ok := decodeSuperblock(b); !ok || s.epoch != 9 {
		t.Fatalf("superblock = %+v, %v", s, ok)
	}
	b[33] ^= 1
	if _, ok := decodeSuperblock(b); ok {
		t.Fatal("damaged superblock accepted")
	}
}
