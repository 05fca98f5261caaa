package objbench

import "testing"

func BenchmarkCommit1000(b *testing.B) {
	_, err := Commit(1000, b.N, 1, false)
	if err != nil {
		b.Fatal(err)
	}
}
