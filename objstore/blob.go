package objstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/restic/chunker"
)

// Chunking sets how file contents are cut into chunks. A file smaller than
// Threshold is one chunk, stored inline in its blob. A larger one is cut with
// content-defined chunking (Rabin fingerprints over a 64-byte window, as
// restic does, from github.com/restic/chunker) into chunks between Min and Max
// bytes, averaging 2^AverageBits, so that an edit rewrites only the chunks it
// touches and versions of a large file share the rest.
type Chunking struct {
	Threshold   int
	Min, Max    int
	AverageBits int
}

// DefaultChunking: files below 64 KiB inline; larger ones in ~16 KiB chunks
// (4-64 KiB). Small source files, the common case, then cost one key, and a
// one-line edit in a 50 MB file rewrites about 16 KiB.
var DefaultChunking = Chunking{Threshold: 64 << 10, Min: 4 << 10, Max: 64 << 10, AverageBits: 14}

// chunkPol is the fixed irreducible polynomial of the Rabin fingerprint, the
// same in every plain store so that chunk boundaries (and so dedup) agree.
const chunkPol = chunker.Pol(0x3DA3358B4DC173)

func (c Chunking) validate() error {
	if c.Threshold < 1 || c.Min < 64 || c.Max < c.Min || c.AverageBits < 6 || c.AverageBits > 30 {
		return fmt.Errorf("objstore: bad chunking %+v", c)
	}
	return nil
}

// splitter is a chunker and its buffers, kept across the blobs a Writer
// chunks: a new chunker is 512 KiB of fresh memory, more than most of the
// blobs it cuts.
type splitter struct {
	rd  bytes.Reader
	ck  *chunker.Chunker
	buf []byte
}

// split calls fn for each chunk of content.
func (c Chunking) split(sp *splitter, content []byte, fn func(chunk []byte) error) error {
	if len(content) < c.Threshold {
		return fn(content)
	}
	sp.rd.Reset(content)
	if sp.ck == nil {
		sp.ck = chunker.NewWithBoundaries(&sp.rd, chunkPol, uint(c.Min), uint(c.Max))
	} else {
		sp.ck.ResetWithBoundaries(&sp.rd, chunkPol, uint(c.Min), uint(c.Max))
	}
	ck := sp.ck
	ck.SetAverageBits(c.AverageBits)
	if len(sp.buf) < c.Max {
		sp.buf = make([]byte, c.Max)
	}
	buf := sp.buf
	off := 0
	for {
		ch, err := ck.Next(buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("objstore: chunking: %w", err)
		}
		// Hand out the slice of content, not of buf, so chunk data may be
		// kept by the caller without a copy.
		if err := fn(content[off : off+int(ch.Length)]); err != nil {
			return err
		}
		off += int(ch.Length)
	}
}

// Blob encoding (the value under key 'b'+ID; the ID hashes the file's whole
// content, however it is chunked):
//
//	0x00 content...                      inline: the content itself
//	0x01 uvarint size, uvarint n,        chunked: n chunks in order,
//	     n × { uvarint len, 32-byte ID }  each stored under 'c'+ID
const (
	blobInline  = 0
	blobChunked = 1
)

// inlineHead is the encoding byte of an inline blob, for values written in
// two parts (Batch.PutParts). Never modified.
var inlineHead = []byte{blobInline}

// ChunkRef is one chunk of a chunked blob.
type ChunkRef struct {
	ID   ID
	Size int
}

// ErrBadBlob is wrapped by blob decoding failures.
var ErrBadBlob = errors.New("objstore: invalid blob")

func encodeChunkList(size int, chunks []ChunkRef) []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(chunks)*(34))
	b = append(b, blobChunked)
	b = binary.AppendUvarint(b, uint64(size))
	b = binary.AppendUvarint(b, uint64(len(chunks)))
	for _, c := range chunks {
		b = binary.AppendUvarint(b, uint64(c.Size))
		b = append(b, c.ID[:]...)
	}
	return b
}

func decodeChunkList(b []byte) (size int, chunks []ChunkRef, err error) {
	if len(b) < 1 || b[0] != blobChunked {
		return 0, nil, fmt.Errorf("%w: not a chunk list", ErrBadBlob)
	}
	p := 1
	s, w := binary.Uvarint(b[p:])
	if w <= 0 || !canonVarint(b[p:], w) {
		return 0, nil, fmt.Errorf("%w: bad size", ErrBadBlob)
	}
	p += w
	n, w := binary.Uvarint(b[p:])
	if w <= 0 || !canonVarint(b[p:], w) || n > uint64(len(b)) {
		return 0, nil, fmt.Errorf("%w: bad chunk count", ErrBadBlob)
	}
	p += w
	chunks = make([]ChunkRef, n)
	total := uint64(0)
	for i := range chunks {
		l, w := binary.Uvarint(b[p:])
		if w <= 0 || !canonVarint(b[p:], w) || len(b)-p-w < 32 || l > 1<<31 {
			return 0, nil, fmt.Errorf("%w: truncated chunk list", ErrBadBlob)
		}
		p += w
		chunks[i].Size = int(l)
		copy(chunks[i].ID[:], b[p:p+32])
		p += 32
		total += l
	}
	if p != len(b) || total != s {
		return 0, nil, fmt.Errorf("%w: chunk list sizes do not add up", ErrBadBlob)
	}
	return int(s), chunks, nil
}
