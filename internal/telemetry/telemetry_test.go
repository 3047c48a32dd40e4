package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/telemetry"
	"go.opentelemetry.io/otel/trace"
)

// TestOTLPExport: spans reach an OTLP/HTTP collector (here a loopback
// receiver) at /v1/traces, given as host:port or as a URL, when the
// provider shuts down; nothing configured is no tracing at all.
func TestOTLPExport(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(collector.Close)
	hostPort := strings.TrimPrefix(collector.URL, "http://")
	for _, tc := range []struct {
		name     string
		endpoint string
		path     string
	}{{"host:port", hostPort, "/v1/traces"}, {"url", collector.URL + "/custom/traces", "/custom/traces"}} {
		mu.Lock()
		got = nil
		mu.Unlock()
		tr, err := telemetry.New(context.Background(), telemetry.Options{Endpoint: tc.endpoint, Insecure: true, Ratio: 1, Version: "test"})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, span := tr.Start(context.Background(), "a span", trace.SpanKindInternal)
		span.End()
		if err := tr.Shutdown(context.Background()); err != nil {
			t.Fatalf("%s: shutdown: %v", tc.name, err)
		}
		mu.Lock()
		if len(got) != 1 || got[0] != "POST "+tc.path+" application/x-protobuf" {
			t.Errorf("%s: the collector got %q", tc.name, got)
		}
		mu.Unlock()
	}
	tr, err := telemetry.New(context.Background(), telemetry.Options{})
	if err != nil || tr != nil {
		t.Fatalf("no endpoint: %v, %v; want no tracing", tr, err)
	}
	// A nil Tracing is safe to use everywhere.
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	if got := tr.Middleware(h); got == nil {
		t.Fatal("nil middleware")
	}
	hdr := http.Header{}
	tr.Inject(context.Background(), hdr)
	if len(hdr) != 0 {
		t.Errorf("nil tracing injected %v", hdr)
	}
	if err := tr.Job(context.Background(), "x", func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
}
