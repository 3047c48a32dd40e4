package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/datadirtest"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// callTraced is call with a traceparent header.
func callTraced(t *testing.T, method, url, key, body, traceparent string) (int, map[string]any) {
	t.Helper()
	r, _ := http.NewRequest(method, url, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+key)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("traceparent", traceparent)
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// TestTracing: with an exporter, a request carrying a W3C traceparent
// gets a server span in that trace, under the caller's span, named by its
// route; the store's statements and the check are its children; a
// webhook delivery is traced and carries its traceparent to the receiver;
// a traceparent that is not sampled records nothing; and no span holds a
// secret, a user's key, a query string or a body.
func TestTracing(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		cfg := config.Default()
		cfg.DataDir = t.TempDir()
		testTracing(t, cfg, "sqlite")
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		cfg := config.Default()
		cfg.DatabaseURL, cfg.SecretKey = datadirtest.Postgres(t), pgtest.SecretKey
		testTracing(t, cfg, "postgresql")
	})
}

func testTracing(t *testing.T, cfg config.Config, system string) {
	exp := tracetest.NewInMemoryExporter()
	cfg.SpanExporter = exp
	var mu sync.Mutex
	var received []string // the traceparents the webhook receiver was sent
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		received = append(received, r.Header.Get("traceparent"))
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	cfg.WebhookAllowNetworks = []string{"127.0.0.1/32"}
	a, base := start(t, cfg)
	if a.Tracing == nil {
		t.Fatal("a SpanExporter did not turn tracing on")
	}
	res, err := a.Init(context.Background(), app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}

	const (
		traceA  = "4bf92f3577b34da6a3ce929d0e0e4736"
		callerA = "00f067aa0ba902b7"
		traceB  = "5bf92f3577b34da6a3ce929d0e0e4737"
		traceC  = "6bf92f3577b34da6a3ce929d0e0e4738" // not sampled
		traceD  = "7bf92f3577b34da6a3ce929d0e0e4739"
	)
	status, created := callTraced(t, "POST", base+"/v1/api-keys?note=hushhush", res.Token,
		`{"name":"checker","level":"environment","project":"default","environment":"development","scopes":["manage:user","manage:resource","manage:role","manage:role_assignment","check:access"]}`,
		"00-"+traceA+"-"+callerA+"-01")
	if status != http.StatusCreated {
		t.Fatalf("create key: %d %v", status, created)
	}
	key := created["data"].(map[string]any)["token"].(string)
	status, hookBody := call(t, "POST", base+"/v1/webhooks", res.Token, `{"url":"`+hook.URL+`/in?token=rcv-secret","events":["user.created"]}`)
	if status != http.StatusCreated {
		t.Fatalf("create webhook: %d %v", status, hookBody)
	}
	whSecret, _ := hookBody["data"].(map[string]any)["secret"].(string)
	for _, c := range []struct{ path, body string }{
		{"/v1/resources", `{"key":"doc","actions":["read","write"]}`},
		{"/v1/roles", `{"key":"reader","permissions":["doc:read"]}`},
		{"/v1/users", `{"key":"ada.lovelace@example.com"}`},
		{"/v1/role-assignments", `{"user":"ada.lovelace@example.com","role":"reader"}`},
	} {
		if status, body := call(t, "POST", base+c.path, key, c.body); status != http.StatusCreated {
			t.Fatalf("POST %s: %d %v", c.path, status, body)
		}
	}
	check := `{"user":"ada.lovelace@example.com","action":"read","resource":{"type":"doc","key":"doc-1","tenant":"default"}}`
	for _, c := range []struct{ path, trace string }{
		{"/v1/allowed", traceB},             // the fast path
		{"/v1/allowed?via=general", traceD}, // the general handlers
	} {
		status, body := callTraced(t, "POST", base+c.path, key, check, "00-"+c.trace+"-"+callerA+"-01")
		if status != http.StatusOK {
			t.Fatalf("check %s: %d %v", c.path, status, body)
		}
	}
	if status, body := callTraced(t, "POST", base+"/v1/allowed", key, check, "00-"+traceC+"-"+callerA+"-00"); status != http.StatusOK {
		t.Fatalf("unsampled check: %d %v", status, body)
	}

	// The delivery of user.created reached the receiver.
	testwait.Until(t, 30*time.Second, "the webhook delivery", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(received) > 0
	})

	var spans tracetest.SpanStubs
	testwait.Until(t, 30*time.Second, "the delivery's span", func() bool {
		spans = exp.GetSpans()
		for _, s := range spans {
			if s.Name == "webhook delivery" {
				return true
			}
		}
		return false
	})
	inTrace := func(id string) []tracetest.SpanStub {
		var out []tracetest.SpanStub
		for _, s := range spans {
			if s.SpanContext.TraceID().String() == id {
				out = append(out, s)
			}
		}
		return out
	}
	attr := func(s tracetest.SpanStub, k string) string {
		for _, kv := range s.Attributes {
			if string(kv.Key) == k {
				return kv.Value.Emit()
			}
		}
		return ""
	}
	server := func(id string) tracetest.SpanStub {
		t.Helper()
		for _, s := range inTrace(id) {
			if s.SpanKind == trace.SpanKindServer {
				return s
			}
		}
		t.Fatalf("no server span in trace %s: %d spans in all", id, len(spans))
		return tracetest.SpanStub{}
	}

	// The key's creation: a child of the caller's span, named by route, with
	// the store's statements under it.
	srv := server(traceA)
	if srv.Parent.SpanID().String() != callerA || !srv.Parent.IsRemote() {
		t.Errorf("request span's parent %v, want the caller's %s", srv.Parent.SpanID(), callerA)
	}
	if srv.Name != "POST /v1/api-keys" || attr(srv, "http.route") != "POST /v1/api-keys" || attr(srv, "http.response.status_code") != "201" {
		t.Errorf("request span %q route %q status %q", srv.Name, attr(srv, "http.route"), attr(srv, "http.response.status_code"))
	}
	stores := 0
	for _, s := range inTrace(traceA) {
		if attr(s, "db.system.name") == "" {
			continue
		}
		stores++
		if s.Parent.SpanID() != srv.SpanContext.SpanID() {
			t.Errorf("store span %q: parent %v, want the request's %v", s.Name, s.Parent.SpanID(), srv.SpanContext.SpanID())
		}
		if attr(s, "db.system.name") != system || !strings.HasPrefix(s.Name, "store.") || attr(s, "db.operation.name") == "" {
			t.Errorf("store span %q system %q operation %q", s.Name, attr(s, "db.system.name"), attr(s, "db.operation.name"))
		}
	}
	if stores == 0 {
		t.Errorf("no store span under the key's creation: %v", names(inTrace(traceA)))
	}

	// The checks, by the fast path and the general one.
	for _, id := range []string{traceB, traceD} {
		srv := server(id)
		if srv.Name != "POST /v1/allowed" {
			t.Errorf("check request span %q", srv.Name)
		}
		var found bool
		for _, s := range inTrace(id) {
			if s.Name != "check" {
				continue
			}
			found = true
			if s.Parent.SpanID() != srv.SpanContext.SpanID() {
				t.Errorf("check span's parent %v, want the request's %v", s.Parent.SpanID(), srv.SpanContext.SpanID())
			}
			if attr(s, "gatehouse.check.decision") != "allow" || attr(s, "gatehouse.check.action") != "read" || attr(s, "gatehouse.check.resource_type") != "doc" {
				t.Errorf("check span attributes %v", s.Attributes)
			}
		}
		if !found {
			t.Errorf("trace %s has no check span: %v", id, names(inTrace(id)))
		}
	}
	if n := len(inTrace(traceC)); n != 0 {
		t.Errorf("a traceparent not sampled recorded %d spans: %v", n, names(inTrace(traceC)))
	}

	// The delivery: its span has the receiver's host, the status and the
	// attempt, and the receiver was sent its trace context.
	var del tracetest.SpanStub
	for _, s := range spans {
		if s.Name == "webhook delivery" {
			del = s
		}
	}
	u, _ := url.Parse(hook.URL)
	if attr(del, "server.address") != u.Host || attr(del, "http.response.status_code") != "200" || attr(del, "gatehouse.webhook.attempt") != "1" {
		t.Errorf("delivery span attributes %v", del.Attributes)
	}
	mu.Lock()
	tp := received[0]
	mu.Unlock()
	want := fmt.Sprintf("00-%s-%s-01", del.SpanContext.TraceID(), del.SpanContext.SpanID())
	if tp != want {
		t.Errorf("the receiver got traceparent %q, want the delivery span's %q", tp, want)
	}
	var job bool
	for _, s := range inTrace(del.SpanContext.TraceID().String()) {
		if s.Name == "job webhook_delivery" && del.Parent.SpanID() == s.SpanContext.SpanID() {
			job = true
		}
	}
	if !job {
		t.Errorf("the delivery span is not under its job's span: %v", names(inTrace(del.SpanContext.TraceID().String())))
	}

	// Nothing secret or personal in any span.
	secrets := []string{key, res.Token, "hushhush", "rcv-secret", "ada.lovelace", "doc-1", "Bearer"}
	if whSecret != "" {
		secrets = append(secrets, whSecret)
	}
	if parts := strings.Split(key, "."); len(parts) == 3 {
		secrets = append(secrets, parts[2]) // the key's signature alone
	}
	for _, s := range spans {
		texts := []string{s.Name, s.Status.Description}
		for _, kv := range s.Attributes {
			texts = append(texts, string(kv.Key)+"="+kv.Value.Emit())
		}
		for _, e := range s.Events {
			texts = append(texts, e.Name)
			for _, kv := range e.Attributes {
				texts = append(texts, kv.Value.Emit())
			}
		}
		for _, txt := range texts {
			for _, sec := range secrets {
				if strings.Contains(txt, sec) {
					t.Errorf("span %q holds %.12q…: %q", s.Name, sec, txt)
				}
			}
		}
	}
}

func names(spans []tracetest.SpanStub) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
