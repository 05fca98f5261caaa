package objstore_test

import (
	"testing"

	"github.com/helios-vcs/helios/objstore"
	"github.com/helios-vcs/helios/objstore/kvtest"
)

func TestMemKVConformance(t *testing.T) {
	kvtest.Run(t, func(t *testing.T) objstore.KV { return objstore.NewMemKV() })
}
