package objstore

// Key prefixes: the first byte of every KV key says what it holds. The
// layout is specified in doc.go.
const (
	prefixChunk     = 'c'
	prefixTierChunk = 'C'
	prefixBlob      = 'b'
	prefixTree      = 't'
	prefixState     = 's'
	prefixRef       = 'r'
	prefixMeta      = 'm'
	prefixStatSet   = 'w'
	prefixGit       = 'g'
	prefixAudit     = 'a'
	prefixWorktree  = 'W'
)

func objectKey(k Kind, id ID) []byte {
	key := make([]byte, 33)
	key[0] = k.prefix()
	copy(key[1:], id[:])
	return key
}
