package httpapi_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/httpapi"
)

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct{ id, name, data string }

// openStream opens GET /v1/pdp/changes and returns its events as they come.
func (s *server) openStream(key, query string, header map[string]string) (<-chan sseEvent, func()) {
	s.t.Helper()
	r, _ := http.NewRequest("GET", s.url+"/v1/pdp/changes"+query, nil)
	r.Header.Set("Authorization", "Bearer "+key)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		s.t.Fatal(err)
	}
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		s.t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	events := make(chan sseEvent, 100)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(res.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	return events, func() { res.Body.Close() }
}

func next(t *testing.T, events <-chan sseEvent, name string) sseEvent {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("stream ended waiting for %q", name)
			}
			if ev.name == name {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %q event", name)
		}
	}
}

// ci: race
// TestPDPChangeStream: the stream sends the backlog, says when it is in
// sync, pushes later writes as they commit, resumes from Last-Event-ID,
// and ends when its key is revoked.
func TestPDPChangeStream(t *testing.T) {
	defer httpapi.SetPDPHeartbeat(50 * time.Millisecond)()
	s := newServer(t)
	keyID, key := s.newKey("environment", []string{"check:access", "manage:user"}, map[string]any{"project": s.projID, "environment": s.devID})
	s.must(201, req{method: "POST", path: "/v1/users", key: key, body: map[string]any{"key": "u1"}})

	snap := s.must(200, req{method: "GET", path: "/v1/pdp/snapshot", key: key}).data()
	seq := int64(snap["seq"].(float64))
	users := snap["data"].(map[string]any)["users"].([]any)
	if len(users) != 1 || snap["environment_id"] != s.devID {
		t.Fatalf("snapshot: %v", snap)
	}

	events, closeStream := s.openStream(key, "?since=0", nil)
	defer closeStream()
	synced := next(t, events, "synced")
	var at struct{ Seq int64 }
	_ = json.Unmarshal([]byte(synced.data), &at)
	if at.Seq != seq {
		t.Fatalf("synced at %d, snapshot at %d", at.Seq, seq)
	}

	s.must(201, req{method: "POST", path: "/v1/users", key: key, body: map[string]any{"key": "u2"}})
	ev := next(t, events, "change")
	var c struct {
		Seq  int64
		Op   string
		Data map[string]any
	}
	if err := json.Unmarshal([]byte(ev.data), &c); err != nil || c.Op != "put_user" || c.Data["key"] != "u2" || ev.id == "" {
		t.Fatalf("change event %+v: %v", ev, err)
	}

	// Resuming after the last event sends nothing old.
	again, closeAgain := s.openStream(key, "", map[string]string{"Last-Event-ID": ev.id})
	defer closeAgain()
	next(t, again, "synced")
	s.must(201, req{method: "POST", path: "/v1/users", key: key, body: map[string]any{"key": "u3"}})
	if ev := next(t, again, "change"); !strings.Contains(ev.data, `"u3"`) {
		t.Fatalf("resumed stream sent %+v first", ev)
	}

	// Ahead of the feed: reset.
	ahead, closeAhead := s.openStream(key, "?since=999999999", nil)
	defer closeAhead()
	next(t, ahead, "reset")

	// Revoked: the stream says so and ends.
	s.must(200, req{method: "POST", path: "/v1/api-keys/" + keyID + "/revoke", key: s.key})
	if ev := next(t, events, "reset"); !strings.Contains(ev.data, "no longer valid") {
		t.Fatalf("reset: %+v", ev)
	}
	select {
	case _, ok := <-events:
		for ok {
			_, ok = <-events
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream of a revoked key did not end")
	}
}
