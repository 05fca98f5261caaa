package mcts_test

import (
	"path/filepath"
	"testing"

	"github.com/helios-vcs/helios/mcts"
	"github.com/helios-vcs/helios/mcts/storetest"
	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/rocksdb"
)

func TestBackendHeliosMem(t *testing.T) {
	storetest.Test(t, func(t *testing.T) mcts.Backend {
		s, err := objstore.Init(objstore.NewMemKV(), objstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return mcts.Objstore{Store: s}
	})
}

func TestBackendHeliosRocksDB(t *testing.T) {
	storetest.Test(t, func(t *testing.T) mcts.Backend {
		kv, err := rocksdb.Open(filepath.Join(t.TempDir(), "db"), rocksdb.Options{Create: true})
		if err != nil {
			t.Fatal(err)
		}
		s, err := objstore.Init(kv, objstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return mcts.Objstore{Store: s}
	})
}

func TestBackendGit(t *testing.T) {
	storetest.Test(t, func(t *testing.T) mcts.Backend {
		g, err := mcts.InitGit(filepath.Join(t.TempDir(), "repo.git"))
		if err != nil {
			t.Fatal(err)
		}
		return g
	})
}
