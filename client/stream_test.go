package client_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/client"
)

// A change stream lasts longer than the HTTP client's overall timeout (60 s
// by default): that timeout must not cut it, only the caller's context.
func TestChangeStreamOutlivesTheClientTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 100 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		// Heartbeats until well past the client's timeout, then one event.
		deadline := time.Now().Add(5 * timeout)
		for time.Now().Before(deadline) {
			fmt.Fprint(w, ": heartbeat\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(timeout / 4):
			}
		}
		fmt.Fprint(w, "event: synced\ndata: {\"seq\":7}\n\n")
	}))
	defer srv.Close()
	c := client.New(srv.URL, "k", client.WithHTTPClient(&http.Client{Timeout: timeout}))
	body, err := c.Changes(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	var got []string
	if err := client.ReadEvents(body, nil, func(ev client.StreamEvent) error {
		got = append(got, ev.Event)
		return nil
	}); err != nil {
		t.Fatalf("the stream was cut: %v (events %v)", err, got)
	}
	if len(got) != 1 || got[0] != "synced" {
		t.Fatalf("events %v, want the one sent after the client's timeout", got)
	}
}
