package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/batch"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/httpapi"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// BenchmarkCheckHandler measures POST /v1/allowed through the whole handler
// stack (request id, auth with a cached key, scope check, huma parsing and
// validation, the engine, the envelope), without the network.
// The sub-benchmarks differ only in the environment's decision log setting:
// the ratio of full to off is the recording overhead per check.
func BenchmarkCheckHandler(b *testing.B) {
	for _, mode := range []string{"off", "full"} {
		b.Run("decision_log="+mode, func(b *testing.B) { benchCheckHandler(b, mode) })
	}
}

func benchCheckHandler(b *testing.B, mode string) {
	t := &testing.T{}
	s := newServer(t)
	s.t = t
	// Its own high limit: a second of checks is far more than the tier's
	// hourly 10,000 (the limiter still runs).
	_, key := s.newKey("environment", []string{"manage:user", "manage:resource", "manage:role", "manage:role_assignment", "check:access", "manage:settings"},
		map[string]any{"project": "default", "environment": "development", "rate_limit_per_hour": 100_000_000})
	s.setDecisionLog(key, mode, 0)
	s.must(201, req{method: "POST", path: "/v1/resources", key: key, body: map[string]any{"key": "doc", "actions": []string{"read"}}})
	s.must(201, req{method: "POST", path: "/v1/roles", key: key, body: map[string]any{"key": "reader", "permissions": []string{"doc:read"}}})
	s.must(201, req{method: "POST", path: "/v1/users", key: key, body: map[string]any{"key": "ada"}})
	s.must(201, req{method: "POST", path: "/v1/role-assignments", key: key, body: map[string]any{"user": "ada", "role": "reader"}})
	h := s.app.Handler()
	body := []byte(`{"user":"ada","action":"read","resource":{"type":"doc"}}`)
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest("POST", "/v1/allowed", bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+key)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// BenchmarkMiddleware compares each endpoint through the whole stack (API
// key verification, rate limit, API log) with the same endpoint built
// without those three: the ratio of full to bare is their overhead, with
// the log database's writes running beside it; handoff is the request path
// alone (the log's entries discarded instead of written).
func BenchmarkMiddleware(b *testing.B) {
	s, key, handlers := middlewareBench(b)
	for _, ep := range middlewareEndpoints {
		for _, mode := range []string{"bare", "handoff", "full"} {
			h := handlers[mode]
			b.Run(ep.name+"/"+mode, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					ep.serve(b, h, key)
				}
			})
		}
	}
	b.Logf("API log queue: %+v", s.app.APILog.Stats())
}

// middlewareEndpoints are the calls BenchmarkMiddleware and
// BenchmarkMiddlewarePaired time.
var middlewareEndpoints = []middlewareEndpoint{
	{"check", "POST", "/v1/allowed", `{"user":"ada","action":"read","resource":{"type":"doc"}}`},
	{"me", "GET", "/v1/me", ""},
}

type middlewareEndpoint struct{ name, method, path, body string }

// serve makes one call of ep on h and fails b unless it answers 200.
func (ep middlewareEndpoint) serve(b *testing.B, h http.Handler, key string) {
	var body io.Reader
	if ep.body != "" {
		body = strings.NewReader(ep.body)
	}
	r := httptest.NewRequest(ep.method, ep.path, body)
	r.Header.Set("Authorization", "Bearer "+key)
	if ep.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		b.Fatalf("status %d: %s", w.Code, w.Body)
	}
}

// middlewareBench is a server with data to check against, an environment
// key, and its handler three ways: "full" (the server's), "bare" (without
// key verification, rate limit and API log) and "handoff" (the full
// middleware, the API log's entries handed to a writer that discards them:
// the request path alone, without the database writes).
func middlewareBench(b *testing.B) (*server, string, map[string]http.Handler) {
	t := &testing.T{}
	s := newServer(t)
	s.t = t
	_, key := s.newKey("environment", []string{"check:access", "manage:resource", "manage:role", "manage:user", "manage:role_assignment"},
		map[string]any{"project": s.projID, "environment": s.devID, "rate_limit_per_hour": 100_000_000})
	s.must(201, req{method: "POST", path: "/v1/resources", key: key, body: map[string]any{"key": "doc", "actions": []string{"read"}}})
	s.must(201, req{method: "POST", path: "/v1/roles", key: key, body: map[string]any{"key": "reader", "permissions": []string{"doc:read"}}})
	s.must(201, req{method: "POST", path: "/v1/users", key: key, body: map[string]any{"key": "ada"}})
	s.must(201, req{method: "POST", path: "/v1/role-assignments", key: key, body: map[string]any{"user": "ada", "role": "reader"}})
	p, err := s.app.Keys.Verify(context.Background(), key)
	if err != nil {
		b.Fatal(err)
	}
	d := s.app.Deps()
	discard := batch.New("API log", func(context.Context, []apilog.Call) error { return nil }, d.Log, batch.Options[apilog.Call]{})
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	go discard.Run(ctx)
	d.APILog = discard
	handoff, _ := httpapi.New(d)
	return s, key, map[string]http.Handler{"full": s.app.Handler(), "bare": httpapi.NewBare(s.app.Deps(), p), "handoff": handoff}
}

// BenchmarkMiddlewarePaired is BenchmarkMiddleware's bare, handoff and full
// taking turns within one loop, so that a shared machine's changing load
// falls on all three alike, and its figures count the whole process's CPU
// (getrusage), not only the request's goroutine: full's includes the API
// log's writer, which writes on its own goroutine. Each round is a chunk
// of the log writer's queue (1,000 calls) per mode; after full's, the
// round waits until the writer has written them (that wait is in full's
// CPU figure, not in its wall time). It reports each mode's wall time and
// CPU time per call and the ratios to bare (of the totals, of the fastest
// rounds and the median of the rounds' ratios): full/bare is the overhead
// of the middleware (key, rate limit, API log) on the call.
func BenchmarkMiddlewarePaired(b *testing.B) {
	s, key, handlers := middlewareBench(b)
	modes := []string{"bare", "handoff", "full"}
	const round = 1000
	for _, ep := range middlewareEndpoints {
		b.Run(ep.name, func(b *testing.B) {
			wall := map[string]time.Duration{}
			cpu := map[string]time.Duration{}
			best := map[string]time.Duration{}
			ratios := map[string][]float64{}
			last := map[string]time.Duration{}
			calls := 0
			for b.Loop() {
				for _, mode := range modes {
					h := handlers[mode]
					c0, start := cpuTime(b), time.Now()
					for range round {
						ep.serve(b, h, key)
					}
					took := time.Since(start)
					if mode == "full" {
						waitWritten(s)
					}
					wall[mode] += took
					last[mode] = took
					cpu[mode] += cpuTime(b) - c0
					if best[mode] == 0 || took < best[mode] {
						best[mode] = took
					}
				}
				calls += round
				for _, mode := range modes[1:] {
					ratios[mode] = append(ratios[mode], float64(last[mode])/float64(last["bare"]))
				}
			}
			for _, mode := range modes {
				b.ReportMetric(float64(wall[mode].Nanoseconds())/float64(calls), mode+"_ns/call")
				b.ReportMetric(float64(cpu[mode].Microseconds())/float64(calls), mode+"_cpu-us/call")
			}
			for _, mode := range modes[1:] {
				b.ReportMetric(float64(wall[mode])/float64(wall["bare"]), mode+"/bare")
				b.ReportMetric(float64(best[mode])/float64(best["bare"]), mode+"/bare_best")
				slices.Sort(ratios[mode])
				b.ReportMetric(ratios[mode][len(ratios[mode])/2], mode+"/bare_median")
				b.ReportMetric(float64(cpu[mode])/float64(cpu["bare"]), mode+"/bare_cpu")
			}
		})
	}
	b.Logf("API log queue: %+v", s.app.APILog.Stats())
}

// cpuTime is the CPU time (user and system) the process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// waitWritten returns when the server's API log writer has written (or
// lost) every entry it accepted.
func waitWritten(s *server) {
	for {
		st := s.app.APILog.Stats()
		if st.Queued == 0 && st.Written+st.Failed >= st.Accepted {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkPermitCheck compares a check through Permit's /allowed with the
// same check through /v1/allowed, in one run: the ratio is the cost of
// Permit's request and answer shapes (both go through the whole stack).
func BenchmarkPermitCheck(b *testing.B) {
	s, key := checkBenchServer("read")
	h := s.app.Handler()
	for _, c := range []struct{ name, path, body string }{
		{"v1", "/v1/allowed", `{"user":"ada","action":"read","resource":{"type":"doc","tenant":"default"}}`},
		{"permit", "/allowed", `{"user":{"key":"ada"},"action":"read","resource":{"type":"doc","tenant":"default"},"context":{}}`},
	} {
		body := []byte(c.body)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest("POST", c.path, bytes.NewReader(body))
				r.Header.Set("Authorization", "Bearer "+key)
				r.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte(`"allow":true`)) {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

// reusableBody is a request body read again from the start each time.
type reusableBody struct {
	b []byte
	r bytes.Reader
}

func (b *reusableBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *reusableBody) Close() error               { return nil }
func (b *reusableBody) reset()                     { b.r.Reset(b.b) }

// discardWriter is a ResponseWriter that keeps only the status; its header
// map is cleared, not replaced, between calls.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkCheckPath is one check through the server's whole handler, full
// stack as configured by default (API key, rate limit, counting, decision
// log off), with the request built once: its allocations are the
// handler's own (net/http's reading of the request and its connection
// are not in it). v1 and Permit's /allowed, a tenant role's grant and a
// denial.
func BenchmarkCheckPath(b *testing.B) {
	s, key := checkBenchServer("read", "write")
	h := s.app.Handler()
	for _, c := range []struct{ name, path, body string }{
		{"v1/allow", "/v1/allowed", `{"user":"ada","action":"read","resource":{"type":"doc","tenant":"default"}}`},
		{"v1/deny", "/v1/allowed", `{"user":"ada","action":"write","resource":{"type":"doc"}}`},
		{"permit/allow", "/allowed", `{"user":{"key":"ada","attributes":{}},"action":"read","resource":{"type":"doc","tenant":"default","attributes":{}},"context":{}}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			body := &reusableBody{b: []byte(c.body)}
			r := httptest.NewRequest("POST", c.path, nil)
			r.Body = body
			r.ContentLength = int64(len(c.body))
			r.Header.Set("Authorization", "Bearer "+key)
			r.Header.Set("Content-Type", "application/json")
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				body.reset()
				clear(w.h)
				w.status = 0
				h.ServeHTTP(w, r)
				if w.status != http.StatusOK {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
}

// BenchmarkCheckOverHTTP is POST /v1/allowed over loopback HTTP against the
// server's whole handler, 4 clients per core; profile it with -cpuprofile
// and focus on net/http.(*conn).serve for the server's side.
func BenchmarkCheckOverHTTP(b *testing.B) {
	s, key := checkBenchServer("read")
	body := []byte(`{"user":"ada","action":"read","resource":{"type":"doc"}}`)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.SetParallelism(2)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r, _ := http.NewRequest("POST", s.url+"/v1/allowed", bytes.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+key)
			r.Header.Set("Content-Type", "application/json")
			res, err := client.Do(r)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Errorf("status %d", res.StatusCode)
				return
			}
		}
	})
}

// checkBenchServer is a server whose development environment has a
// resource doc with actions, a role reader granting doc:read, and ada
// holding it; key is an environment key that may check (its own limit far
// above a benchmark's calls: the limiter still runs).
func checkBenchServer(actions ...string) (*server, string) {
	t := &testing.T{}
	s := newServer(t)
	s.t = t
	return s, benchData(s, actions...)
}

// checkBenchServerWith is checkBenchServer on a server built with cfg.
func checkBenchServerWith(cfg config.Config, actions ...string) (*server, string) {
	t := &testing.T{}
	s := newServerWith(t, cfg)
	s.t = t
	return s, benchData(s, actions...)
}

func benchData(s *server, actions ...string) string {
	_, key := s.newKey("environment", []string{"manage:user", "manage:resource", "manage:role", "manage:role_assignment", "check:access"},
		map[string]any{"project": "default", "environment": "development", "rate_limit_per_hour": 100_000_000})
	s.must(201, req{method: "POST", path: "/v1/resources", key: key, body: map[string]any{"key": "doc", "actions": actions}})
	s.must(201, req{method: "POST", path: "/v1/roles", key: key, body: map[string]any{"key": "reader", "permissions": []string{"doc:read"}}})
	s.must(201, req{method: "POST", path: "/v1/users", key: key, body: map[string]any{"key": "ada"}})
	s.must(201, req{method: "POST", path: "/v1/role-assignments", key: key, body: map[string]any{"user": "ada", "role": "reader"}})
	return key
}

// BenchmarkCheckPathTracing times BenchmarkCheckPath's v1 allow on three
// servers: tracing off (the default: no tracing work at all), on with
// every check sampled (a request span and a check span per call, handed to
// an exporter that drops them), and on with nothing sampled
// (--trace-sample-ratio 0, no traceparent). The servers take turns in
// rounds and each keeps its fastest round, so that a busy machine's noise
// falls on all three alike; the reported ratios (sampled/off,
// unsampled/off) are tracing's overhead on the check path.
func BenchmarkCheckPathTracing(b *testing.B) {
	type mode struct {
		name  string
		on    bool
		ratio float64
		h     http.Handler
		r     *http.Request
		body  *reusableBody
		best  time.Duration
		alloc float64
	}
	modes := []*mode{{name: "off"}, {name: "on_sampled", on: true, ratio: 1}, {name: "on_unsampled", on: true}}
	const c = `{"user":"ada","action":"read","resource":{"type":"doc","tenant":"default"}}`
	for _, m := range modes {
		cfg := config.Default()
		cfg.DataDir = b.TempDir()
		if m.on {
			cfg.SpanExporter, cfg.TraceSampleRatio = discardSpans{}, m.ratio
		}
		s, key := checkBenchServerWith(cfg, "read")
		defer s.app.Close()
		m.h, m.body = s.app.Handler(), &reusableBody{b: []byte(c)}
		m.r = httptest.NewRequest("POST", "/v1/allowed", nil)
		m.r.Body = m.body
		m.r.ContentLength = int64(len(c))
		m.r.Header.Set("Authorization", "Bearer "+key)
		m.r.Header.Set("Content-Type", "application/json")
		m.best = time.Hour
	}
	w := &discardWriter{h: http.Header{}}
	one := func(m *mode) {
		m.body.reset()
		clear(w.h)
		w.status = 0
		m.h.ServeHTTP(w, m.r)
		if w.status != http.StatusOK {
			b.Fatalf("%s: status %d", m.name, w.status)
		}
	}
	const round = 500
	for b.Loop() {
		for _, m := range modes {
			start := time.Now()
			for range round {
				one(m)
			}
			m.best = min(m.best, time.Since(start)/round)
		}
	}
	for _, m := range modes {
		m.alloc = testing.AllocsPerRun(200, func() { one(m) })
		b.ReportMetric(float64(m.best.Nanoseconds()), m.name+"_ns/check")
		b.ReportMetric(m.alloc, m.name+"_allocs/check")
	}
	b.ReportMetric(float64(modes[1].best)/float64(modes[0].best), "sampled/off")
	b.ReportMetric(float64(modes[2].best)/float64(modes[0].best), "unsampled/off")
}

// discardSpans is an exporter that drops what it is given: the cost of
// making and ending spans without that of sending them.
type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }
