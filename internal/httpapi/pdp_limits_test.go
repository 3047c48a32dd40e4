package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// stream is an open change stream, or the refusal of one.
type stream struct {
	status int
	header http.Header
	body   string // a refusal's body
	events <-chan sseEvent
	close  func()
}

// tryStream opens GET /v1/pdp/changes and, unlike openStream, reports a
// refusal instead of failing.
func (s *server) tryStream(key, query string, header map[string]string) stream {
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
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return stream{status: res.StatusCode, header: res.Header, body: string(b), close: func() {}}
	}
	events := make(chan sseEvent, 1000)
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
	return stream{status: http.StatusOK, header: res.Header, events: events, close: func() { res.Body.Close() }}
}

// ended waits until events ends and returns what came before the end.
func ended(t *testing.T, events <-chan sseEvent, within time.Duration) []sseEvent {
	t.Helper()
	var got []sseEvent
	timeout := time.After(within)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return got
			}
			got = append(got, ev)
		case <-timeout:
			t.Fatalf("the stream did not end within %s; it sent %v", within, got)
		}
	}
}

// upload is a decision upload of one decision per timestamp.
func upload(at ...time.Time) map[string]any {
	var ds []any
	for _, ts := range at {
		ds = append(ds, map[string]any{"timestamp": ts.UTC().Format(time.RFC3339Nano), "user": "u", "action": "read",
			"resource_type": "document", "tenant": "default", "allow": false, "reason": "unknown_user"})
	}
	return map[string]any{"decisions": ds}
}

// TestPDPUploadsObeyThePolicy: an upload writes
// nothing while the environment's decision log is off, refuses decisions
// outside the timestamp window one by one (writing the others), marks what
// it writes with the uploading key, and spends from a per-key upload
// budget of its own (not the key's API limit).
func TestPDPUploadsObeyThePolicy(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.PDPUploadLimit = 3
	s := newServerWith(t, cfg)
	env := map[string]any{"project": s.projID, "environment": s.devID}
	keyID, key := s.newKey("environment", []string{"check:access", "view:log", "view:user"}, env)
	otherID, other := s.newKey("environment", []string{"check:access", "view:log"}, env)
	settings := fmt.Sprintf("/v1/projects/%s/environments/%s/settings", s.projID, s.devID)
	listPDP := func() []any {
		return s.must(200, req{method: "GET", path: "/v1/decisions?source=pdp&per_page=100", key: key}).list()
	}
	now := time.Now()

	// 1. Off (the default): nothing is written, and the answer says so.
	res := s.must(200, req{method: "POST", path: "/v1/pdp/decisions", key: key, body: upload(now)}).data()
	if res["written"] != 0.0 || res["refused"] != 1.0 || res["decision_log"] != "off" || !strings.Contains(fmt.Sprint(res["message"]), "off") {
		t.Fatalf("upload with the decision log off: %v", res)
	}
	if got := listPDP(); len(got) != 0 {
		t.Fatalf("the decision log is off, yet an upload wrote %d decisions", len(got))
	}

	// 2. Full: the timestamp window refuses back-dated and future entries
	// one by one; the others are written, marked with the uploading key.
	s.must(200, req{method: "PATCH", path: settings, key: s.key, body: map[string]any{"decision_log": "full"}})
	res = s.must(200, req{method: "POST", path: "/v1/pdp/decisions", key: key,
		body: upload(now, now.Add(-25*time.Hour), now.Add(10*time.Minute), now.Add(-23*time.Hour), time.Time{})}).data()
	errs, _ := res["errors"].([]any)
	reasons := map[float64]string{}
	for _, e := range errs {
		m := e.(map[string]any)
		reasons[m["index"].(float64)] = m["reason"].(string)
	}
	if res["written"] != 2.0 || res["refused"] != 3.0 || res["decision_log"] != "full" ||
		fmt.Sprint(reasons) != "map[1:timestamp_too_old 2:timestamp_in_future 4:timestamp_too_old]" {
		t.Fatalf("upload with back-dated and future timestamps: %v", res)
	}
	got := listPDP()
	if len(got) != 2 {
		t.Fatalf("written: %d decisions, want 2: %v", len(got), got)
	}
	for _, d := range got {
		e := d.(map[string]any)
		ts, _ := time.Parse(time.RFC3339Nano, e["timestamp"].(string))
		if e["uploaded_by_key_id"] != keyID || e["source"] != "pdp" || ts.Before(now.Add(-24*time.Hour)) || ts.After(now.Add(time.Minute)) {
			t.Errorf("written decision: %v", e)
		}
	}

	// 3. The per-key budget: the first two calls spent 2 of 3.
	s.must(200, req{method: "POST", path: "/v1/pdp/decisions", key: key, body: upload(now)})
	refused := s.do(req{method: "POST", path: "/v1/pdp/decisions", key: key, body: upload(now)})
	if refused.status != 429 || refused.code() != "RATE_LIMIT_EXCEEDED" || refused.header.Get("Retry-After") == "" ||
		!strings.Contains(refused.raw, "--pdp-upload-limit") {
		t.Fatalf("an upload over the key's budget: %d %v %s", refused.status, refused.header, refused.raw)
	}
	// ... which is the key's own: another key uploads, and the key's other
	// calls are not held back.
	res = s.must(200, req{method: "POST", path: "/v1/pdp/decisions", key: other, body: upload(now)}).data()
	if res["written"] != 1.0 {
		t.Fatalf("another key's upload: %v", res)
	}
	s.must(200, req{method: "GET", path: "/v1/users", key: key})

	// 4. Sampled: what the PDP sampled is written (the server cannot see
	// the checks it did not record); a rate of 0 records nothing.
	s.must(200, req{method: "PATCH", path: settings, key: s.key, body: map[string]any{"decision_log": "sampled", "decision_log_sample_rate": 0.5}})
	if res := s.must(200, req{method: "POST", path: "/v1/pdp/decisions", key: other, body: upload(now, now)}).data(); res["written"] != 2.0 {
		t.Fatalf("sampled upload: %v", res)
	}
	s.must(200, req{method: "PATCH", path: settings, key: s.key, body: map[string]any{"decision_log": "sampled", "decision_log_sample_rate": 0}})
	if res := s.must(200, req{method: "POST", path: "/v1/pdp/decisions", key: other, body: upload(now)}).data(); res["written"] != 0.0 {
		t.Fatalf("sampled at rate 0: %v", res)
	}
	n := 0
	for _, d := range listPDP() {
		if d.(map[string]any)["uploaded_by_key_id"] == otherID {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("the other key's decisions: %d, want 3", n)
	}
}

// ci: race
// TestPDPStreamEndsAtRevocation: revoking a key ends
// its open change streams at once, not at the next heartbeat (15 s), on
// every node: on PostgreSQL the stream is on node B and the key is revoked
// on node A. Another key's stream on the same node goes on.
func TestPDPStreamEndsAtRevocation(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			cfg := engineConfig(t, engine)
			a := newServerWith(t, cfg)
			b := a // one node on SQLite
			if engine == "postgres" {
				b = secondNode(t, a, cfg)
			}
			env := map[string]any{"project": a.projID, "environment": a.devID}
			keyID, key := a.newKey("environment", []string{"check:access"}, env)
			_, stays := a.newKey("environment", []string{"check:access", "manage:user"}, env)

			doomed := b.tryStream(key, "", nil)
			defer doomed.close()
			alive := b.tryStream(stays, "", nil)
			defer alive.close()
			if doomed.status != 200 || alive.status != 200 {
				t.Fatalf("streams: %d %d", doomed.status, alive.status)
			}
			next(t, doomed.events, "synced")
			next(t, alive.events, "synced")

			start := time.Now()
			a.must(200, req{method: "POST", path: "/v1/api-keys/" + keyID + "/revoke", key: a.key})
			got := ended(t, doomed.events, 5*time.Second)
			took := time.Since(start)
			if len(got) == 0 || got[len(got)-1].name != "reset" || !strings.Contains(got[len(got)-1].data, "revoked") {
				t.Fatalf("the revoked key's stream ended with %v", got)
			}
			t.Logf("%s: the revoked key's stream ended %s after the revocation began", engine, took)

			// The other key's stream still follows changes.
			a.must(201, req{method: "POST", path: "/v1/users", key: stays, body: map[string]any{"key": "after-revoke"}})
			if ev := next(t, alive.events, "change"); !strings.Contains(ev.data, "after-revoke") {
				t.Fatalf("the other stream sent %+v", ev)
			}
			// And the revoked key cannot open a new one.
			if st := b.tryStream(key, "", nil); st.status != 401 {
				t.Fatalf("a revoked key opened a stream: %d", st.status)
			}
		})
	}
}

// secondNode starts another app on a's PostgreSQL database and waits until
// it listens for key announcements.
func secondNode(t *testing.T, a *server, cfg config.Config) *server {
	t.Helper()
	cfg.DataDir = t.TempDir()
	n, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	ts := httptest.NewServer(n.Handler())
	t.Cleanup(ts.Close)
	testwait.Until(t, 30*time.Second, "node B listening for key announcements", n.KeyCacheHealthy)
	b := *a
	b.app, b.url = n, ts.URL
	return &b
}

// TestPDPStreamCaps: one key holds at most
// --pdp-streams-per-key streams on a node and a node at most
// --pdp-streams-per-node; beyond, 429 with Retry-After and a clear
// message. A closed stream frees its place.
func TestPDPStreamCaps(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.PDPStreamsPerKey, cfg.PDPStreamsPerNode = 2, 3
	s := newServerWith(t, cfg)
	env := map[string]any{"project": s.projID, "environment": s.devID}
	_, a := s.newKey("environment", []string{"check:access"}, env)
	_, b := s.newKey("environment", []string{"check:access"}, env)
	_, c := s.newKey("environment", []string{"check:access"}, env)

	open := func(key string) stream {
		st := s.tryStream(key, "", nil)
		t.Cleanup(st.close)
		if st.status == 200 {
			next(t, st.events, "synced")
		}
		return st
	}
	refused := func(st stream, flag string) {
		t.Helper()
		var body struct {
			Error struct{ Code, Message string }
		}
		_ = json.Unmarshal([]byte(st.body), &body)
		if st.status != 429 || st.header.Get("Retry-After") == "" || body.Error.Code != "RATE_LIMIT_EXCEEDED" || !strings.Contains(body.Error.Message, flag) {
			t.Fatalf("want a 429 naming %s, got %d %v %s", flag, st.status, st.header, st.body)
		}
	}
	a1, a2 := open(a), open(a)
	if a1.status != 200 || a2.status != 200 {
		t.Fatalf("two streams of one key: %d %d", a1.status, a2.status)
	}
	refused(open(a), "--pdp-streams-per-key")
	if b1 := open(b); b1.status != 200 {
		t.Fatalf("another key's stream: %d %s", b1.status, b1.body)
	}
	refused(open(c), "--pdp-streams-per-node")

	// Closing a stream frees its place once the server sees it gone.
	a1.close()
	testwait.Until(t, 30*time.Second, "a closed stream's place freed", func() bool { return open(a).status == 200 })
}

// ci: race
// TestPDPStreamStartsAtTheSnapshot: a stream without
// a position starts at the current one instead of replaying the feed, and
// a position further behind than --pdp-stream-backlog gets a reset rather
// than a replay; within the backlog it resumes as before.
func TestPDPStreamStartsAtTheSnapshot(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.PDPStreamBacklog = 5
	s := newServerWith(t, cfg)
	_, key := s.newKey("environment", []string{"check:access", "manage:user"}, map[string]any{"project": s.projID, "environment": s.devID})
	addUser := func(name string) {
		s.must(201, req{method: "POST", path: "/v1/users", key: key, body: map[string]any{"key": name}})
	}
	for i := range 3 {
		addUser(fmt.Sprintf("old%d", i))
	}
	seq := int64(s.must(200, req{method: "GET", path: "/v1/pdp/snapshot", key: key}).data()["seq"].(float64))

	// No position: nothing old, synced at the snapshot's seq, then live.
	st := s.tryStream(key, "", nil)
	defer st.close()
	for ev := range st.events {
		if ev.name == "change" {
			t.Fatalf("a stream without a position replayed %s", ev.data)
		}
		if ev.name == "synced" {
			var at struct{ Seq int64 }
			_ = json.Unmarshal([]byte(ev.data), &at)
			if at.Seq != seq {
				t.Fatalf("synced at %d, the snapshot is at %d", at.Seq, seq)
			}
			break
		}
	}
	addUser("live")
	if ev := next(t, st.events, "change"); !strings.Contains(ev.data, `"live"`) {
		t.Fatalf("first change after the start: %s", ev.data)
	}

	// 6 changes later, the snapshot's position is beyond the backlog of 5.
	for i := range 5 {
		addUser(fmt.Sprintf("new%d", i))
	}
	for _, tc := range []struct {
		name          string
		query         string
		header        map[string]string
		reset         bool
		changesBefore int
	}{
		{"since far behind", fmt.Sprintf("?since=%d", seq), nil, true, 0},
		{"Last-Event-ID far behind", "", map[string]string{"Last-Event-ID": fmt.Sprint(seq)}, true, 0},
		{"since 0 far behind", "?since=0", nil, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := s.tryStream(key, tc.query, tc.header)
			defer st.close()
			got := ended(t, st.events, 5*time.Second)
			if len(got) == 0 || got[len(got)-1].name != "reset" || !strings.Contains(got[len(got)-1].data, "snapshot") {
				t.Fatalf("want a reset telling to load the snapshot, got %v", got)
			}
			for _, ev := range got {
				if ev.name == "change" {
					t.Fatalf("a client far behind got a replay: %v", got)
				}
			}
		})
	}
	// Within the backlog: the missed changes, then synced.
	st2 := s.tryStream(key, "", map[string]string{"Last-Event-ID": fmt.Sprint(seq + 2)})
	defer st2.close()
	var replayed []string
	for ev := range st2.events {
		if ev.name == "change" {
			replayed = append(replayed, ev.data)
		}
		if ev.name == "synced" || ev.name == "reset" {
			break
		}
	}
	if len(replayed) == 0 || len(replayed) > 5 || !strings.Contains(replayed[len(replayed)-1], `"new4"`) {
		t.Fatalf("resumed within the backlog: %v", replayed)
	}
	// A negative position is refused.
	if st := s.tryStream(key, "?since=-1", nil); st.status != 400 {
		t.Fatalf("since=-1: %d %s", st.status, st.body)
	}
}

// TestPDPUploadKeptOnlyWhenItWrote: an upload retried with its
// Idempotency-Key (as a PDP retries one whose answer it lost) gets the first
// answer when the first wrote decisions, and runs again when it wrote none
// (the log off, or every decision refused): an answer listing a thousand
// refusals is not kept for a day, and the retry has the same effect.
func TestPDPUploadKeptOnlyWhenItWrote(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	_, key := s.newKey("environment", []string{"check:access", "view:log"}, map[string]any{"project": s.projID, "environment": s.devID})
	settings := fmt.Sprintf("/v1/projects/%s/environments/%s/settings", s.projID, s.devID)
	idem := func(k string) map[string]string { return map[string]string{"Idempotency-Key": k} }
	now := time.Now()
	twice := func(k string, body map[string]any) (first, again resp) {
		t.Helper()
		first = s.must(200, req{method: "POST", path: "/v1/pdp/decisions", key: key, body: body, header: idem(k)})
		again = s.must(200, req{method: "POST", path: "/v1/pdp/decisions", key: key, body: body, header: idem(k)})
		return first, again
	}
	// Off: nothing written, nothing kept.
	if _, again := twice("off-1", upload(now)); again.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("an upload that wrote nothing (log off) was replayed: %s", again.raw)
	}
	s.must(200, req{method: "PATCH", path: settings, key: s.key, body: map[string]any{"decision_log": "full"}})
	// Every decision refused: nothing kept.
	old := []time.Time{now.Add(-25 * time.Hour), now.Add(-26 * time.Hour), now.Add(time.Hour)}
	first, again := twice("refused-1", upload(old...))
	if first.data()["refused"] != 3.0 || again.data()["refused"] != 3.0 || again.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("an upload of refused decisions, twice: %s / %v %s", first.raw, again.header, again.raw)
	}
	// Written: the retry is the first answer, and writes nothing more.
	first, again = twice("written-1", upload(now, now.Add(-25*time.Hour)))
	if again.header.Get("Idempotent-Replayed") != "true" || again.raw != first.raw || first.data()["written"] != 1.0 {
		t.Fatalf("a retried upload that wrote: %s / %v %s", first.raw, again.header, again.raw)
	}
	if n := len(s.must(200, req{method: "GET", path: "/v1/decisions?source=pdp", key: key}).list()); n != 1 {
		t.Fatalf("%d decisions after an upload of one and its retry", n)
	}
}

// TestPDPUploadTakesEveryReason: an upload takes a decision of every
// reason the engine gives (a PDP records what its engine decided), and a
// decision with a field too long is refused alone: either refused the
// whole upload, and the PDP then sent each of its decisions alone.
func TestPDPUploadTakesEveryReason(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	_, key := s.newKey("environment", []string{"check:access", "view:log"}, map[string]any{"project": s.projID, "environment": s.devID})
	s.must(200, req{method: "PATCH", path: fmt.Sprintf("/v1/projects/%s/environments/%s/settings", s.projID, s.devID), key: s.key,
		body: map[string]any{"decision_log": "full"}})
	var ds []any
	for r := authz.Reason(0); !strings.HasPrefix(r.String(), "reason("); r++ { // every reason the engine names
		ds = append(ds, map[string]any{"timestamp": time.Now().UTC().Format(time.RFC3339Nano), "user": "u", "action": "read",
			"resource_type": "document", "tenant": "default", "allow": r == authz.Granted, "reason": r.String()})
	}
	if len(ds) < 8 {
		t.Fatalf("%d reasons", len(ds))
	}
	res := s.do(req{method: "POST", path: "/v1/pdp/decisions", key: key, body: map[string]any{"decisions": ds}})
	if res.status != 200 || res.data()["written"] != float64(len(ds)) {
		t.Fatalf("an upload of every reason: %d %s", res.status, res.raw)
	}

	// A key longer than a field may hold (a PDP's check takes any) refuses
	// its decision alone; 255 characters of several bytes each pass.
	long := func(field string, n int) map[string]any {
		d := map[string]any{"timestamp": time.Now().UTC().Format(time.RFC3339Nano), "user": "u", "action": "read",
			"resource_type": "document", "tenant": "default", "allow": false, "reason": "unknown_user"}
		d[field] = strings.Repeat("é", n)
		return d
	}
	up := []any{long("user", 256), long("user", 255), long("resource_key", 1001), long("resource_key", 1000), long("role", 256),
		long("tenant", 256), long("action", 256), long("resource_type", 256)}
	res = s.do(req{method: "POST", path: "/v1/pdp/decisions", key: key, body: map[string]any{"decisions": up}})
	errs, _ := res.data()["errors"].([]any)
	var refused []string
	for _, e := range errs {
		m := e.(map[string]any)
		refused = append(refused, fmt.Sprintf("%v:%v:%v", m["index"], m["reason"], m["message"]))
	}
	want := []string{"0:field_too_long:user is longer than 255 characters", "2:field_too_long:resource_key is longer than 1000 characters",
		"4:field_too_long:role is longer than 255 characters", "5:field_too_long:tenant is longer than 255 characters",
		"6:field_too_long:action is longer than 255 characters", "7:field_too_long:resource_type is longer than 255 characters"}
	if res.status != 200 || res.data()["written"] != 2.0 || fmt.Sprint(refused) != fmt.Sprint(want) {
		t.Fatalf("an upload with fields over their length: %d %s", res.status, res.raw)
	}
}
