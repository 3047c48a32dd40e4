package web_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// TestAccessLogRedactsCredentials: at debug level the access log writes
// each request's path, with anything shaped like a credential (an API
// key pasted into a path, a webhook secret) redacted as the API log does.
func TestAccessLogRedactsCredentials(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := web.WithAccessLog(log, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) }))
	token := "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2lnbmF0dXJl"
	for _, path := range []string{"/v1/users/" + token, "/v1/webhooks/whsec_c2VjcmV0c2VjcmV0c2VjcmV0"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", path, nil))
	}
	got := out.String()
	if strings.Contains(got, "eyJzdWIi") || strings.Contains(got, "c2VjcmV0c2VjcmV0") || strings.Count(got, "[REDACTED]") != 2 {
		t.Fatalf("the access log:\n%s", got)
	}
}
