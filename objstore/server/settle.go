package server

import (
	"time"

	"github.com/helios-vcs/helios/objstore"
)

// settleQuiet is how long the server waits without a request before it
// compacts what a push left (see settleLater), unless Options.SettleQuiet
// says otherwise: long enough that the compaction does not land between
// the steps of a script.
const settleQuiet = 5 * time.Second

// settleLater compacts the store's database, in the background, once the
// server has had no request for settleQuiet (5 s) and no clone pack is being
// built, if the database says work is pending (objstore.LazyCompactor: the
// table files a push ingested), with LazyCompactor.Settle: the engine's
// own level-0 compaction, brought forward, not gc's full rewrite (which
// would rewrite a store of gigabytes after every push). The engine defers
// that work while files are few; doing it at a quiet moment keeps it off
// the path of a clone that follows a push, and leaves the store compact
// soon after. A request during the wait moves the moment on; Shutdown
// stops the wait, and closing the database ends Settle's wait.
func (s *Server) settleLater() {
	kv, ok := s.o.Store.KV().(objstore.LazyCompactor)
	if !ok {
		return
	}
	s.mu.Lock()
	if s.settling || s.stopping {
		s.mu.Unlock()
		return
	}
	s.settling = true
	s.mu.Unlock()
	wait := s.o.SettleQuiet
	if wait <= 0 {
		wait = settleQuiet
	}
	go func() {
		tick := time.NewTicker(wait / 8)
		defer tick.Stop()
		for {
			select {
			case <-s.done:
				s.mu.Lock()
				s.settling = false
				s.mu.Unlock()
				return
			case <-tick.C:
			}
			s.mu.Lock()
			quiet := !s.prebuilding && time.Since(s.lastBusy) >= wait
			for sc := range s.conns {
				quiet = quiet && !sc.busy
			}
			if quiet {
				s.settling = false
			}
			s.mu.Unlock()
			if !quiet {
				continue
			}
			if kv.CompactionPending() {
				start := time.Now()
				if err := kv.Settle(); err != nil {
					s.o.Logf("compaction: %v", err)
				} else {
					s.o.Logf("compacted the database in %v", time.Since(start).Round(time.Millisecond))
				}
			}
			return
		}
	}()
}
