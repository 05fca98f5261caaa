package server

import (
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// Failure rate limits. Every failure a peer causes — a failed TLS
// handshake, a refused authentication (bad or revoked token, no
// credentials), a request the Authorizer refused — takes a token from that
// peer's bucket: per remote IP address on the TLS listener (the identity a
// stranger cannot choose freely; an IPv6 /64 counts as one address;
// clients behind one NAT share a bucket), per uid on the Unix socket
// (except the server's own uid, which can open the database itself). At
// most one failure counts per request. A bucket holds FailureLimit.Burst
// tokens and gets one back every FailureLimit.Refill. While a peer's
// bucket is empty its new connections are closed as soon as they are
// accepted (before any TLS handshake work), and a connection whose request
// is refused is closed after the refusal is answered; both are logged, at
// most about once per FailureLimit.Refill per peer. Successes cost
// nothing, and other peers' buckets are untouched, so a client hammering
// bad tokens locks out itself (its address), not the server's other users.

// FailureLimit configures the failure rate limit; the zero value means
// the defaults.
type FailureLimit struct {
	// Burst is how many failures a peer may cause in a row (default
	// DefaultFailureBurst); negative turns the limit off.
	Burst int
	// Refill is how long it takes for one failure to be forgiven (default
	// DefaultFailureRefill).
	Refill time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Defaults: ten failures in a row, then one more every six seconds (ten a
// minute).
const (
	DefaultFailureBurst  = 10
	DefaultFailureRefill = 6 * time.Second
)

// maxBuckets bounds the peers tracked; past it, full buckets are dropped
// first, then the whole table (a flood of addresses then costs nothing
// but a fresh start).
const maxBuckets = 1 << 16

type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed
	logged time.Time // the last time its limiting was logged
}

// failureLimiter is the table of buckets.
type failureLimiter struct {
	o  FailureLimit
	mu sync.Mutex
	b  map[string]*bucket
}

func newFailureLimiter(o FailureLimit) *failureLimiter {
	if o.Burst == 0 {
		o.Burst = DefaultFailureBurst
	}
	if o.Refill <= 0 {
		o.Refill = DefaultFailureRefill
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &failureLimiter{o: o, b: map[string]*bucket{}}
}

// level refills and returns key's bucket (nil if it is full and absent);
// l.mu is held.
func (l *failureLimiter) level(key string, now time.Time) *bucket {
	b := l.b[key]
	if b == nil {
		return nil
	}
	b.tokens += float64(now.Sub(b.at)) / float64(l.o.Refill)
	b.at = now
	if b.tokens >= float64(l.o.Burst) {
		b.tokens = float64(l.o.Burst)
	}
	return b
}

// allowed reports whether key may go on (its bucket holds a token), and
// whether this refusal should be logged.
func (l *failureLimiter) allowed(key string) (ok, log bool) {
	if l == nil || l.o.Burst < 0 {
		return true, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.o.Now()
	b := l.level(key, now)
	if b == nil || b.tokens >= 1 {
		return true, false
	}
	if now.Sub(b.logged) >= l.o.Refill {
		b.logged = now
		return false, true
	}
	return false, false
}

// fail takes a token from key's bucket and reports whether the peer is
// still within its limit.
func (l *failureLimiter) fail(key string) bool {
	if l == nil || l.o.Burst < 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.o.Now()
	b := l.level(key, now)
	if b == nil {
		if len(l.b) >= maxBuckets {
			l.prune(now)
		}
		b = &bucket{tokens: float64(l.o.Burst), at: now}
		l.b[key] = b
	}
	b.tokens--
	if b.tokens < 0 {
		b.tokens = 0
	}
	return b.tokens >= 1
}

// prune drops full buckets, or all of them if that frees nothing.
func (l *failureLimiter) prune(now time.Time) {
	for k := range l.b {
		if b := l.level(k, now); b.tokens >= float64(l.o.Burst) {
			delete(l.b, k)
		}
	}
	if len(l.b) >= maxBuckets {
		clear(l.b)
	}
}

// limitKey is the bucket of a connection: "ip:ADDR" for a network peer,
// "uid:N" on the Unix socket, "" (never limited) for the server's own uid
// on the socket: that user can open the database files without asking, so
// limiting it would protect nothing and only break its own tools.
func limitKey(c net.Conn, p Peer) string {
	if _, ok := c.(*net.UnixConn); ok || p.UID >= 0 {
		if p.UID == os.Geteuid() {
			return ""
		}
		return "uid:" + strconv.Itoa(p.UID)
	}
	addr := c.RemoteAddr()
	if ta, ok := addr.(*net.TCPAddr); ok {
		if ta.IP.To4() == nil {
			// An IPv6 host usually holds a whole /64: one bucket for it.
			return "ip:" + ta.IP.Mask(net.CIDRMask(64, 128)).String() + "/64"
		}
		return "ip:" + ta.IP.String()
	}
	if addr == nil {
		return "unknown"
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "addr:" + addr.String()
	}
	return "ip:" + host
}

// admit checks a new connection against its peer's failure limit.
func (s *Server) admit(sc *serverConn) bool {
	if sc.limitKey == "" {
		return true
	}
	ok, log := s.limit.allowed(sc.limitKey)
	if log {
		s.o.Logf("rate limit: refusing connections from %s for now: too many failures (more than %d, one forgiven every %v)", sc.limitKey, s.limit.o.Burst, s.limit.o.Refill)
	}
	return ok
}

// failed counts a failure of sc's peer, at most one per request (a push
// refused on twenty refs is one failure); when the peer is over its limit
// the connection is marked to be closed after the current answer.
func (s *Server) failed(sc *serverConn, what string) {
	if sc.limitKey == "" || sc.failedRequest {
		return
	}
	sc.failedRequest = true
	if !s.limit.fail(sc.limitKey) {
		// Logged at every failure over the limit: at most one per refill
		// period, as the peer's connections are refused in between.
		sc.limited = true
		s.o.Logf("rate limit: %s is over its failure limit (last: %s); closing its connection", sc.limitKey, what)
	}
}
