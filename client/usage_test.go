package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/client"
)

// Logs.Usage refuses KeyID rather than send a key_id that /v1/usage/calls
// does not read (and so answer every key's calls as if they were one's).
func TestCallUsageRefusesKeyID(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"data":[]}`))
	}))
	t.Cleanup(srv.Close)
	c := client.New(srv.URL, "gh_test")
	_, err := c.Logs.Usage(context.Background(), &client.UsageOptions{KeyID: "key_1"})
	if err == nil || !strings.Contains(err.Error(), "KeyID") {
		t.Fatalf("err %v", err)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}
