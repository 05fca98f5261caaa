module github.com/helios-vcs/helios

go 1.26.0

require (
	github.com/google/go-cmp v0.7.0
	github.com/linxGnu/grocksdb v1.7.14
	github.com/pjbgf/sha1cd v0.7.0
	github.com/zeebo/blake3 v0.2.4
	golang.org/x/sys v0.50.0
)

require (
	github.com/klauspost/cpuid/v2 v2.0.12 // indirect
	github.com/restic/chunker v0.4.0 // indirect
	github.com/stretchr/testify v1.11.1 // indirect
	pgregory.net/rapid v1.3.0 // indirect
)
