package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/redistest"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// deadURL is a Redis URL where nothing listens.
func deadURL(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "redis://" + addr + "/0"
}

// limiterOn is a limiter over its own Redis client at url, its keys under
// prefix (each test its own: buckets and the live nodes).
func limiterOn(t testing.TB, url, prefix string, opt ratelimit.Options) *ratelimit.Limiter {
	t.Helper()
	r, err := ratelimit.OpenRedis(url, ratelimit.RedisOptions{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if opt.Log == nil {
		opt.Log = quiet
	}
	return ratelimit.NewLimiter(r, nil, opt)
}

// run runs l until the test ends (before its store is closed).
func run(t testing.TB, l *ratelimit.Limiter) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func prefix() string { return "gatehouse-test:" + bucket() + ":" }

// spend takes n requests of t's bucket from l, conc at a time, and returns
// how many were let through.
func spend(l *ratelimit.Limiter, t ratelimit.Target, n, conc int) int {
	var allowed atomic.Int64
	var wg sync.WaitGroup
	next := make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				if l.TakeTarget(context.Background(), t).Allowed {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return int(allowed.Load())
}

// (1) With Redis unreachable, each node enforces its share, limit/N: of a
// limit of 100 on two nodes, exactly 50 pass on each, never all of them and
// never none. Open rounds the share up, closed down (and refuses with
// "undecided" a limit below N).
func TestShareWhileRedisUnreachable(t *testing.T) {
	t.Parallel()
	dead := deadURL(t)
	for _, failOpen := range []bool{true, false} {
		t.Run(fmt.Sprint("fail-open=", failOpen), func(t *testing.T) {
			nodes := []*ratelimit.Limiter{
				limiterOn(t, dead, prefix(), ratelimit.Options{FailOpen: failOpen, Nodes: 2}),
				limiterOn(t, dead, prefix(), ratelimit.Options{FailOpen: failOpen, Nodes: 2}),
			}
			for _, c := range []struct{ limit, open, closed int }{{100, 50, 50}, {101, 51, 50}, {1, 1, 0}} {
				want := c.closed
				if failOpen {
					want = c.open
				}
				b := bucket()
				for i, l := range nodes {
					if got := spend(l, ratelimit.Target{Bucket: b, Limit: c.limit}, c.limit+20, 8); got != want {
						t.Errorf("limit %d, node %d: %d let through, want exactly %d", c.limit, i, got, want)
					}
					d := l.TakeTarget(context.Background(), ratelimit.Target{Bucket: b, Limit: c.limit})
					if d.Allowed {
						t.Errorf("limit %d, node %d: over the share, let through: %+v", c.limit, i, d)
					}
					if want > 0 && (!d.OnShare || d.Undecided || d.Limit != want || d.Remaining != 0 || d.RetryAfter <= 0) {
						t.Errorf("limit %d, node %d: refusal on the share: %+v", c.limit, i, d)
					}
					if want == 0 && !d.Undecided {
						t.Errorf("limit %d, node %d (closed, a share of 0): want undecided, got %+v", c.limit, i, d)
					}
				}
			}
			for i, l := range nodes {
				st := l.Status()
				if !st.OnShare || st.Nodes != 2 || st.Counted || st.Fallbacks != 1 || st.Err == nil {
					t.Errorf("node %d: status %+v", i, st)
				}
				if err := l.Health(context.Background()); err == nil || !strings.Contains(err.Error(), "unreachable") ||
					!strings.Contains(err.Error(), "1/2 of each limit") {
					t.Errorf("node %d: health %v", i, err)
				}
			}
		})
	}
}

// proxy is a TCP proxy on loopback in front of Redis whose answers can be
// held back: Redis still runs the commands, the client does not hear of
// them (a merely slow Redis, or a stalled network) until they flow again.
type proxy struct {
	t      testing.TB
	ln     net.Listener
	target string
	url    string
	wg     sync.WaitGroup

	mu    sync.Mutex
	held  chan struct{} // non-nil while answers are held; closed to let them go
	conns []net.Conn
}

func newProxy(t testing.TB, redisURL string) *proxy {
	u, err := url.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, ln: ln, target: u.Host}
	u.Host = ln.Addr().String()
	p.url = u.String()
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { // commands: straight through
			defer p.wg.Done()
			_, _ = io.Copy(up, c)
			up.Close()
			c.Close()
		}()
		go func() { // answers: through the gate
			defer p.wg.Done()
			defer c.Close()
			defer up.Close()
			buf := make([]byte, 32<<10)
			for {
				n, err := up.Read(buf)
				if n > 0 {
					<-p.gate()
					if _, werr := c.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// gate is a channel that is ready when answers may flow.
func (p *proxy) gate() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held != nil {
		return p.held
	}
	open := make(chan struct{})
	close(open)
	return open
}

// hold holds the answers back from now on.
func (p *proxy) hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held == nil {
		p.held = make(chan struct{})
	}
}

// flow lets the answers go again (the held ones first).
func (p *proxy) flow() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held != nil {
		close(p.held)
		p.held = nil
	}
}

func (p *proxy) close() {
	p.ln.Close()
	p.flow()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// (2) A slow Redis (its answers held back) makes both nodes fall back to
// their shares, each starting from the bucket as Redis last answered it,
// and the two together never pass more than the limit. (4) When Redis
// answers again, both come back to it, having charged it with what they
// let through meanwhile. The nodes count themselves through Redis: each is
// configured with N=1 and uses 2.
func TestShareWhileRedisSlowThenBack(t *testing.T) {
	t.Parallel()
	direct := redistest.Required(t)
	px := newProxy(t, direct)
	pre := prefix()
	opt := ratelimit.Options{Nodes: 1, Heartbeat: 50 * time.Millisecond}
	a := limiterOn(t, px.url, pre, opt)
	b := limiterOn(t, px.url, pre, opt)
	run(t, a)
	run(t, b)
	nodes := []*ratelimit.Limiter{a, b}
	testwait.Until(t, 10*time.Second, "both nodes counting two nodes", func() bool {
		sa, sb := a.Status(), b.Status()
		return sa.Counted && sa.Nodes == 2 && sb.Counted && sb.Nodes == 2
	})

	const limit, before = 100, 40
	target := ratelimit.Target{Bucket: bucket(), Limit: limit}
	ctx := context.Background()
	// 40 through Redis, alternating: a's last answer leaves 61, b's 60.
	for i := range before {
		if d := nodes[i%2].TakeTarget(ctx, target); !d.Allowed || d.OnShare {
			t.Fatalf("request %d with Redis answering: %+v", i+1, d)
		}
	}

	px.hold()
	var during [2]int
	var wg sync.WaitGroup
	for i, l := range nodes {
		wg.Add(1)
		go func() { defer wg.Done(); during[i] = spend(l, target, 100, 8) }()
	}
	wg.Wait()
	for i, l := range nodes {
		if st := l.Status(); !st.OnShare || st.DecisionsOnShare == 0 || !st.Counted || st.Nodes != 2 {
			t.Fatalf("node %d with Redis not answering: %+v", i, st)
		}
	}
	total := before + during[0] + during[1]
	t.Logf("with Redis slow: %d and %d let through on the shares, after %d through Redis", during[0], during[1], before)
	if total > limit {
		t.Fatalf("%d let through in all, over the limit of %d", total, limit)
	}
	// Each share starts where Redis last left the bucket: a has 61/2, b
	// 60/2 left (not a fresh 50 each, not none).
	if during[0] != 30 || during[1] != 30 {
		t.Fatalf("on the shares: %v, want 30 and 30", during)
	}
	// Still held: the probes do not bring the nodes back.
	for i, l := range nodes {
		if !l.Status().OnShare {
			t.Fatalf("node %d left its share while Redis does not answer", i)
		}
	}

	px.flow()
	testwait.Until(t, 10*time.Second, "both nodes deciding through Redis again", func() bool {
		return !a.Status().OnShare && !b.Status().OnShare
	})
	// What the shares let through was charged to Redis: the bucket is
	// spent there too, for either node and for a third one.
	for i, l := range nodes {
		if d := l.TakeTarget(ctx, target); d.Allowed || d.OnShare || !d.Limited || d.Limit != limit {
			t.Fatalf("node %d back on Redis: %+v", i, d)
		}
	}
	r, err := ratelimit.OpenRedis(direct, ratelimit.RedisOptions{Prefix: pre})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if res, err := r.Take(ctx, target.Bucket, limit); err != nil || res.Allowed {
		t.Fatalf("the bucket in Redis after the outage: %+v %v", res, err)
	}
	// And a fresh bucket goes through Redis, not the share.
	if d := a.TakeTarget(ctx, ratelimit.Target{Bucket: bucket(), Limit: limit}); !d.Allowed || d.OnShare || d.Remaining != limit-1 {
		t.Fatalf("a fresh bucket after the outage: %+v", d)
	}
}

// The live nodes are counted through Redis: three, then two when one stops.
func TestNodesCounted(t *testing.T) {
	t.Parallel()
	url, pre := redistest.Required(t), prefix()
	opt := ratelimit.Options{Heartbeat: 20 * time.Millisecond, Nodes: 5}
	var ls []*ratelimit.Limiter
	stop := []context.CancelFunc{}
	for range 3 {
		l := limiterOn(t, url, pre, opt)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); l.Run(ctx) }()
		stop = append(stop, func() { cancel(); <-done })
		t.Cleanup(stop[len(stop)-1])
		ls = append(ls, l)
	}
	counts := func() [2]int { return [2]int{ls[0].Nodes(), ls[1].Nodes()} }
	testwait.Until(t, 10*time.Second, "three nodes counted", func() bool { return counts() == [2]int{3, 3} })
	stop[2]() // leaves the count at once
	testwait.Until(t, 10*time.Second, "two nodes counted after one stopped", func() bool { return counts() == [2]int{2, 2} })
}

// A limiter over a store of its own (memory) never falls back, and the
// shares are not kept.
func TestMemoryNeverOnShare(t *testing.T) {
	l := ratelimit.NewLimiter(ratelimit.NewMemory(), nil, ratelimit.Options{Log: quiet})
	if got := spend(l, ratelimit.Target{Bucket: bucket(), Limit: 37}, 100, 8); got != 37 {
		t.Fatalf("%d let through of a limit of 37", got)
	}
	if st := l.Status(); st.OnShare || st.DecisionsOnShare != 0 || l.Health(context.Background()) != nil {
		t.Fatalf("status %+v", st)
	}
}

// A caller whose connection closed while the store was asked says nothing
// of the store.
func TestCallerGoneIsNotAnOutage(t *testing.T) {
	l := limiterOn(t, deadURL(t), prefix(), ratelimit.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := l.TakeTarget(ctx, ratelimit.Target{Bucket: bucket(), Limit: 10})
	if d.Allowed || !d.Undecided || l.Status().OnShare {
		t.Fatalf("decision %+v, status %+v", d, l.Status())
	}
	if err := l.Health(context.Background()); err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("health of an unreachable store: %v", err)
	}
}

// BenchmarkLimiterOnShare is a decision on this node's share (Redis down):
// what each request costs during an outage.
func BenchmarkLimiterOnShare(b *testing.B) {
	l := limiterOn(b, deadURL(b), prefix(), ratelimit.Options{Nodes: 3})
	ctx := context.Background()
	l.TakeTarget(ctx, ratelimit.Target{Bucket: "first", Limit: 10}) // falls back
	if !l.Status().OnShare {
		b.Fatal("not on the share")
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		t := ratelimit.Target{Bucket: bucket(), Limit: 1_000_000_000}
		for pb.Next() {
			if d := l.TakeTarget(ctx, t); !d.Allowed || !d.OnShare {
				b.Fatalf("%+v", d)
			}
		}
	})
}

// BenchmarkLimiterRedis is a decision through Redis with the limiter
// (the store call, and the bucket's state kept for an outage); compare
// with BenchmarkRedis, the store alone.
func BenchmarkLimiterRedis(b *testing.B) {
	l := limiterOn(b, redistest.Required(b), prefix(), ratelimit.Options{})
	ctx := context.Background()
	t := ratelimit.Target{Bucket: bucket(), Limit: 1_000_000_000}
	b.ReportAllocs()
	for b.Loop() {
		if d := l.TakeTarget(ctx, t); !d.Allowed || d.OnShare {
			b.Fatalf("%+v", d)
		}
	}
}
