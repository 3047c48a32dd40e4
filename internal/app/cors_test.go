package app_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// corsCall sends one request with the given headers (no key unless
// Authorization is among them) and returns the answer's status and
// headers.
func corsCall(t *testing.T, method, url string, header map[string]string, body string) (int, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, res.Header
}

func preflight(origin, method, headers string) map[string]string {
	return map[string]string{"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers}
}

func hasToken(list, token string) bool {
	for _, p := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(p), token) {
			return true
		}
	}
	return false
}

// TestCORS: with --cors-origins, browsers of the listed origins may call
// v1, /v2 and Permit's decision endpoints (both checks' fast path too):
// preflights are answered 204 without a key, spending no rate limit and
// writing no API log entry; other origins get no CORS header; the
// dashboard never does. Without the setting nothing changes.
func TestCORS(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.CORSOrigins = []string{"https://a.example", "HTTPS://B.example:8443/"}
	a, base := start(t, cfg)
	res, err := a.Init(context.Background(), app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	key := res.Token
	st, out := call(t, "POST", base+"/v1/api-keys", key, `{"name":"browser","level":"environment","project":"default","environment":"development","scopes":["check:access"]}`)
	if st != 201 {
		t.Fatalf("env key: %d %v", st, out)
	}
	checker := out["data"].(map[string]any)["token"].(string)
	const origin = "https://a.example"
	const asks = "authorization,content-type,idempotency-key,x-request-id,x-organization-id"

	paths := []struct{ method, path string }{
		{"GET", "/v1/users"},
		{"POST", "/v1/allowed"},
		{"POST", "/allowed"},
		{"POST", "/allowed/bulk"},
		{"PUT", "/v2/facts/default/development/users/ada"},
		{"DELETE", "/v1/projects/default"},
	}
	t.Run("preflight from an allowed origin", func(t *testing.T) {
		for _, o := range []string{origin, "https://b.example:8443"} {
			for _, p := range paths {
				st, h := corsCall(t, "OPTIONS", base+p.path, preflight(o, p.method, asks), "")
				if st != 204 || h.Get("Access-Control-Allow-Origin") != o || !hasToken(strings.Join(h.Values("Vary"), ","), "Origin") ||
					!hasToken(h.Get("Access-Control-Allow-Methods"), p.method) || h.Get("Access-Control-Max-Age") == "" ||
					h.Get("Access-Control-Allow-Credentials") != "" {
					t.Fatalf("OPTIONS %s from %s: %d %v", p.path, o, st, h)
				}
				for _, want := range strings.Split(asks, ",") {
					if !hasToken(h.Get("Access-Control-Allow-Headers"), want) {
						t.Fatalf("OPTIONS %s: Allow-Headers %q lacks %s", p.path, h.Get("Access-Control-Allow-Headers"), want)
					}
				}
			}
		}
	})
	t.Run("preflight from another origin", func(t *testing.T) {
		for _, o := range []string{"https://evil.example", "http://a.example", "https://a.example.evil.example", "null"} {
			st, h := corsCall(t, "OPTIONS", base+"/v1/users", preflight(o, "GET", asks), "")
			if st != 204 || h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Allow-Methods") != "" || h.Get("Access-Control-Allow-Headers") != "" {
				t.Fatalf("OPTIONS from %s: %d %v", o, st, h)
			}
		}
	})
	t.Run("calls", func(t *testing.T) {
		check := `{"user":"ada","action":"read","resource":{"type":"document"}}`
		for _, c := range []struct {
			method, path, key, body string
			want                    int
		}{
			{"GET", "/v1/me", key, "", 200},
			{"GET", "/v1/users?project=default&environment=development", key, "", 200},
			{"POST", "/v1/allowed", checker, check, 200}, // the fast path
			{"POST", "/allowed", checker, check, 200},    // Permit's fast path
			{"POST", "/v1/allowed?project=default&environment=development", key, check, 200},
			{"GET", "/v2/facts/default/development/users", key, "", 200},
			{"GET", "/v1/me", "", "", 401}, // an error answer is readable too
		} {
			h := map[string]string{"Origin": origin, "Content-Type": "application/json"}
			if c.key != "" {
				h["Authorization"] = "Bearer " + c.key
			}
			st, got := corsCall(t, c.method, base+c.path, h, c.body)
			if st != c.want || got.Get("Access-Control-Allow-Origin") != origin || !hasToken(strings.Join(got.Values("Vary"), ","), "Origin") {
				t.Fatalf("%s %s: %d %v", c.method, c.path, st, got)
			}
			for _, e := range []string{"X-Request-Id", "X-RateLimit-Remaining", "Retry-After", "Gatehouse-Revision", "Gatehouse-Next-Cursor", "Location"} {
				if !hasToken(got.Get("Access-Control-Expose-Headers"), e) {
					t.Fatalf("%s %s: Expose-Headers %q lacks %s", c.method, c.path, got.Get("Access-Control-Expose-Headers"), e)
				}
			}
			// Another origin's page gets the answer without CORS headers:
			// its browser keeps it from the page.
			h["Origin"] = "https://evil.example"
			st, got = corsCall(t, c.method, base+c.path, h, c.body)
			if st != c.want || got.Get("Access-Control-Allow-Origin") != "" || got.Get("Access-Control-Expose-Headers") != "" {
				t.Fatalf("%s %s from another origin: %d %v", c.method, c.path, st, got)
			}
		}
	})
	t.Run("not the dashboard", func(t *testing.T) {
		for _, p := range []string{"/", "/login"} {
			_, h := corsCall(t, "GET", base+p, map[string]string{"Origin": origin}, "")
			if h.Get("Access-Control-Allow-Origin") != "" {
				t.Fatalf("GET %s: %v", p, h)
			}
			st, h := corsCall(t, "OPTIONS", base+p, preflight(origin, "POST", ""), "")
			if st == 204 || h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Allow-Methods") != "" {
				t.Fatalf("OPTIONS %s: %d %v", p, st, h)
			}
		}
	})
	t.Run("preflights spend no rate limit", func(t *testing.T) {
		// remaining is the key's requests left after one call, and the
		// time the limit takes to refill one (an hour / the limit).
		remaining := func() (int, time.Duration) {
			_, h := corsCall(t, "GET", base+"/v1/me", map[string]string{"Authorization": "Bearer " + key, "Origin": origin}, "")
			n, err := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
			limit, err2 := strconv.Atoi(h.Get("X-RateLimit-Limit"))
			if err != nil || err2 != nil || limit <= 0 {
				t.Fatalf("X-RateLimit-Remaining %q, X-RateLimit-Limit %q", h.Get("X-RateLimit-Remaining"), h.Get("X-RateLimit-Limit"))
			}
			return n, time.Hour / time.Duration(limit)
		}
		// The limit refills one request every hour/limit (GCRA: 0.36 s at
		// 10,000 an hour), so the count can rise between the two calls on
		// a slow machine: charged, the five preflights would leave it at
		// least 5 - refills lower than one call alone. A try that took long
		// enough for 4 refills proves nothing and is made again.
		for try := 0; ; try++ {
			start := time.Now()
			before, refill := remaining()
			for range 5 {
				// A browser sends no key with a preflight; a client that does
				// is not charged either.
				h := preflight(origin, "GET", asks)
				h["Authorization"] = "Bearer " + key
				corsCall(t, "OPTIONS", base+"/v1/me", h, "")
			}
			after, _ := remaining()
			if after < before-1 {
				t.Fatalf("remaining %d then %d: the preflights were charged", before, after)
			}
			if time.Since(start) < 4*refill {
				break
			}
			if try == 5 {
				t.Fatalf("remaining %d then %d, but each try took over %s: the test could not tell", before, after, 4*refill)
			}
		}
	})
	t.Run("preflights write no API log entry", func(t *testing.T) {
		since := time.Now().Add(-time.Second)
		for range 3 {
			corsCall(t, "OPTIONS", base+"/v1/users", preflight(origin, "GET", asks), "")
		}
		// A call without a key, after them: once the log holds it, it
		// would hold them too.
		corsCall(t, "GET", base+"/v1/users", map[string]string{"Origin": origin, "X-Request-Id": "after-the-preflights"}, "")
		entries := func() (marker, options int) {
			if err := a.LogDB.LogStore().ExportAPILog(t.Context(), apilog.Filter{OrgID: "", Since: since}, func(c *apilog.Call) error {
				if c.RequestID == "after-the-preflights" {
					marker++
				}
				if c.Method == "OPTIONS" {
					options++
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			return marker, options
		}
		testwait.Until(t, 30*time.Second, "the call after the preflights in the API log", func() bool { m, _ := entries(); return m == 1 })
		if _, n := entries(); n != 0 {
			t.Fatalf("%d preflights in the API log", n)
		}
	})
}

// TestCORSOffByDefault: without --cors-origins no answer carries a CORS
// header and a preflight is not answered as one.
func TestCORSOffByDefault(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	a, base := start(t, cfg)
	res, err := a.Init(context.Background(), app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	st, h := corsCall(t, "OPTIONS", base+"/v1/users", preflight("https://a.example", "GET", "authorization"), "")
	if st == 204 || h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Allow-Methods") != "" {
		t.Fatalf("preflight: %d %v", st, h)
	}
	st, h = corsCall(t, "GET", base+"/v1/me", map[string]string{"Origin": "https://a.example", "Authorization": "Bearer " + res.Token}, "")
	if st != 200 || h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Expose-Headers") != "" {
		t.Fatalf("call: %d %v", st, h)
	}
	// The OPTIONS went to the API as any call does, into its log (which
	// TestCORS's preflights, answered before, never reach).
	testwait.Until(t, 30*time.Second, "the OPTIONS call in the API log", func() bool {
		n := 0
		if err := a.LogDB.LogStore().ExportAPILog(t.Context(), apilog.Filter{OrgID: "", Method: "OPTIONS"}, func(*apilog.Call) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n == 1
	})
}

// TestCORSAnyOrigin: "*" lets every origin's pages call, answered with
// Access-Control-Allow-Origin: * and never with credentials.
func TestCORSAnyOrigin(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.CORSOrigins = []string{"*"}
	a, base := start(t, cfg)
	res, err := a.Init(context.Background(), app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{"https://a.example", "http://localhost:3000"} {
		st, h := corsCall(t, "OPTIONS", base+"/v1/users", preflight(o, "GET", "authorization"), "")
		if st != 204 || h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Credentials") != "" || !hasToken(h.Get("Access-Control-Allow-Headers"), "Authorization") {
			t.Fatalf("preflight from %s: %d %v", o, st, h)
		}
		st, h = corsCall(t, "GET", base+"/v1/me", map[string]string{"Origin": o, "Authorization": "Bearer " + res.Token}, "")
		if st != 200 || h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Allow-Credentials") != "" {
			t.Fatalf("call from %s: %d %v", o, st, h)
		}
	}
	// A request without Origin (not from a browser) is answered as ever.
	if _, h := corsCall(t, "GET", base+"/v1/me", map[string]string{"Authorization": "Bearer " + res.Token}, ""); h.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("no Origin: %v", h)
	}
}
