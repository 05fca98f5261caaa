package server

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for the limiter.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestFailureLimiter(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	l := newFailureLimiter(FailureLimit{Burst: 3, Refill: time.Minute, Now: c.now})
	for i, want := range []bool{true, true, false} {
		if got := l.fail("uid:1"); got != want {
			t.Fatalf("failure %d of uid:1: within limit %v, want %v", i+1, got, want)
		}
	}
	if ok, log := l.allowed("uid:1"); ok || !log {
		t.Errorf("uid:1 over its limit: allowed %v, logged %v; want refused and logged", ok, log)
	}
	if ok, log := l.allowed("uid:1"); ok || log {
		t.Errorf("uid:1 again: allowed %v, logged %v; want refused, not logged twice", ok, log)
	}
	if ok, _ := l.allowed("uid:2"); !ok {
		t.Error("uid:2 was refused for uid:1's failures")
	}
	c.add(time.Minute)
	if ok, _ := l.allowed("uid:1"); !ok {
		t.Error("uid:1 still refused after a refill period")
	}
	if l.fail("uid:1") {
		t.Error("uid:1 with one token back: one failure should empty it again")
	}
	off := newFailureLimiter(FailureLimit{Burst: -1})
	for range 100 {
		off.fail("x")
	}
	if ok, _ := off.allowed("x"); !ok {
		t.Error("a disabled limit refused")
	}
}

// TestFailureLimitTLS: a client hammering bad tokens from one address is
// refused, even with a good token, until its bucket refills; a good client
// from another address is unaffected; a client whose requests keep being
// refused has its connection closed. The limiting is logged.
func TestFailureLimitTLS(t *testing.T) {
	c := &clock{t: time.Unix(1e9, 0)}
	var mu sync.Mutex
	var logs []string
	f := newTLSFixtureWith(t, Options{FailureLimit: FailureLimit{Burst: 3, Refill: time.Minute, Now: c.now},
		Logf: func(format string, a ...any) {
			mu.Lock()
			defer mu.Unlock()
			logs = append(logs, strings.TrimSpace(fmt.Sprintf(format, a...)))
		}})
	from := func(ip, token string) TLSClientOptions {
		return TLSClientOptions{CAFile: f.certs.CA, Token: token, LocalIP: ip}
	}
	for i := range 3 {
		if _, err := DialTLS(f.addr, from("127.0.0.2", "bad-token")); !errors.Is(err, ErrDenied) {
			t.Fatalf("bad token %d: got %v, want ErrDenied", i+1, err)
		}
	}
	if c, err := DialTLS(f.addr, from("127.0.0.2", "good-token")); err == nil {
		c.Close()
		t.Fatal("a good token from an address over its failure limit got in")
	}
	good, err := DialTLS(f.addr, from("127.0.0.1", "good-token"))
	if err != nil {
		t.Fatalf("a good client from another address: %v", err)
	}
	if _, err := good.Status(); err != nil {
		t.Fatal(err)
	}
	good.Close()
	c.add(time.Minute)
	back, err := DialTLS(f.addr, from("127.0.0.2", "good-token"))
	if err != nil {
		t.Fatalf("after a refill period: %v", err)
	}
	back.Close()

	// Refused requests count too: carol may not stop the server.
	carol, err := DialTLS(f.addr, from("127.0.0.3", "good-token"))
	if err != nil {
		t.Fatal(err)
	}
	defer carol.Close()
	for i := range 3 {
		if err := carol.Stop(); !errors.Is(err, ErrDenied) {
			t.Fatalf("stop %d: got %v, want ErrDenied", i+1, err)
		}
	}
	if _, err := carol.Status(); err == nil {
		t.Error("the connection of a client over its limit stayed open")
	}
	mu.Lock()
	defer mu.Unlock()
	joined := strings.Join(logs, "\n")
	for _, want := range []string{"rate limit: refusing connections from ip:127.0.0.2", "rate limit: ip:127.0.0.3 is over its failure limit"} {
		if !strings.Contains(joined, want) {
			t.Errorf("log lacks %q:\n%s", want, joined)
		}
	}
}

type addrConn struct {
	net.Conn
	addr net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.addr }

func TestLimitKey(t *testing.T) {
	key := func(ip string) string {
		return limitKey(addrConn{addr: &net.TCPAddr{IP: net.ParseIP(ip), Port: 1234}}, Peer{UID: -1})
	}
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"192.0.2.1", "192.0.2.1", true},
		{"192.0.2.1", "192.0.2.2", false},
		{"2001:db8::1", "2001:db8::ffff:1", true}, // one /64
		{"2001:db8::1", "2001:db8:0:1::1", false},
	} {
		if got := key(tc.a) == key(tc.b); got != tc.same {
			t.Errorf("%s and %s: same bucket %v (%q, %q), want %v", tc.a, tc.b, got, key(tc.a), key(tc.b), tc.same)
		}
	}
	if got := key("192.0.2.1"); got != "ip:192.0.2.1" {
		t.Errorf("got %q", got)
	}
}
