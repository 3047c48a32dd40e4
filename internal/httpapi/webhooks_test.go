package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
	"github.com/gatehouse-dev/gatehouse/internal/webhook"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// receiver is a real HTTP endpoint that records what it receives and
// answers with respond(n) for its n-th request (from 1).
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     []received
	respond func(n int) int
}

type received struct {
	header  http.Header
	body    []byte
	payload map[string]any
}

func (r received) event() string { return r.payload["event"].(string) }

func newReceiver(t *testing.T, respond func(n int) int) *receiver {
	t.Helper()
	rc := &receiver{respond: respond}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var p map[string]any
		_ = json.Unmarshal(body, &p)
		rc.mu.Lock()
		rc.got = append(rc.got, received{header: r.Header.Clone(), body: body, payload: p})
		n := len(rc.got)
		rc.mu.Unlock()
		status := 200
		if rc.respond != nil {
			status = rc.respond(n)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte("ok " + http.StatusText(status)))
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// wait returns the requests once there are n, failing after a while.
func (rc *receiver) wait(t *testing.T, n int) []received {
	t.Helper()
	var got []received
	testwait.Progress(t, 30*time.Second, fmt.Sprintf("the receiver getting %d requests", n), func() (any, bool) {
		rc.mu.Lock()
		got = append([]received(nil), rc.got...)
		rc.mu.Unlock()
		return len(got), len(got) >= n
	})
	return got
}

// webhookServer is a server whose deliveries may reach loopback, retrying
// quickly.
func webhookServer(t *testing.T, mod func(*config.Config)) *server {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.WebhookAllowNetworks = []string{"127.0.0.0/8"}
	cfg.WebhookRetrySchedule = []time.Duration{50 * time.Millisecond, 50 * time.Millisecond, 50 * time.Millisecond}
	if mod != nil {
		mod(&cfg)
	}
	return newServerWith(t, cfg)
}

const devQ = "?project=default&environment=development"

func (s *server) newWebhook(url string, events ...string) (id, secret string) {
	s.t.Helper()
	d := s.must(201, req{method: "POST", path: "/v1/webhooks", key: s.key, body: map[string]any{"url": url, "events": events}}).data()
	return d["id"].(string), d["secret"].(string)
}

// waitDelivery waits until a delivery of webhook id is no longer pending.
func (s *server) waitDelivery(webhookID, deliveryID string) map[string]any {
	s.t.Helper()
	var d map[string]any
	// However long it takes while attempts are made.
	testwait.Progress(s.t, 30*time.Second, "delivery "+deliveryID+" ending", func() (any, bool) {
		d = s.must(200, req{method: "GET", path: "/v1/webhooks/" + webhookID + "/deliveries/" + deliveryID, key: s.key}).data()
		return fmt.Sprint(d["status"], d["attempts"]), d["status"] != "pending"
	})
	return d
}

// ci: race
func TestWebhookDelivery(t *testing.T) {
	t.Parallel()
	s := webhookServer(t, nil)
	rc := newReceiver(t, nil)
	whID, secret := s.newWebhook(rc.srv.URL+"/hook", "user.created", "user.deleted")
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret %q", secret)
	}
	if got := s.must(200, req{method: "GET", path: "/v1/webhooks/" + whID, key: s.key}); strings.Contains(got.raw, secret) {
		t.Fatal("GET shows the secret")
	}
	user := s.must(201, req{method: "POST", path: "/v1/users" + devQ, key: s.key, body: map[string]any{"key": "ada", "email": "ada@acme.example"}}).data()
	s.must(201, req{method: "POST", path: "/v1/tenants" + devQ, key: s.key, body: map[string]any{"key": "acme"}}) // not subscribed
	s.must(204, req{method: "DELETE", path: "/v1/users/ada" + devQ, key: s.key})
	// (No tenant.created comes too: the endpoint's deliveries, recorded
	// with their events, are these two; checked below.)
	got := rc.wait(t, 2)
	// Deliveries of different events are independent: no order between them.
	sort.Slice(got, func(i, j int) bool { return got[i].event() < got[j].event() })
	if len(got) != 2 || got[0].event() != "user.created" || got[1].event() != "user.deleted" {
		t.Fatalf("received %d: %v", len(got), got)
	}
	first := got[0]
	// As documented: X-Signature = HMAC-SHA256(webhook_secret, request_body).
	if _, err := client.VerifyWebhook(secret, first.header, first.body, 0); err != nil {
		t.Fatalf("X-Signature: %v", err)
	}
	wh, _ := standardwebhooks.NewWebhook(secret)
	if err := wh.Verify(first.body, first.header); err != nil {
		t.Fatalf("Standard Webhooks headers: %v", err)
	}
	p := first.payload
	if p["id"] != first.header.Get("X-Webhook-Id") || p["timestamp"] == nil || p["organization_id"] != s.orgID || p["environment_id"] != s.devID {
		t.Errorf("payload envelope: %v", p)
	}
	// The data is the user exactly as the API answers.
	if !reflect.DeepEqual(p["data"], user) {
		t.Errorf("user.created data\n%v\nwant the API's\n%v", p["data"], user)
	}
	if d := got[1].payload["data"].(map[string]any); d["id"] != user["id"] || d["key"] != "ada" {
		t.Errorf("user.deleted data %v", d)
	}
	list := s.must(200, req{method: "GET", path: "/v1/webhooks/" + whID + "/deliveries?order=asc", key: s.key}).list()
	if len(list) != 2 {
		t.Fatalf("%d deliveries", len(list))
	}
	d := s.waitDelivery(whID, list[0].(map[string]any)["id"].(string))
	hist := d["attempt_history"].([]any)
	if d["status"] != "succeeded" || d["attempts"] != 1.0 || len(hist) != 1 {
		t.Fatalf("delivery %v", d)
	}
	a := hist[0].(map[string]any)
	if a["status_code"] != 200.0 || a["response_body"] != "ok OK" || a["request_headers"].(map[string]any)["X-Signature"] == nil {
		t.Errorf("attempt %v", a)
	}
	if d["payload"].(map[string]any)["id"] != p["id"] {
		t.Errorf("delivery payload %v", d["payload"])
	}
}

// ci: race
func TestWebhookRetriesThenSucceeds(t *testing.T) {
	t.Parallel()
	s := webhookServer(t, nil)
	rc := newReceiver(t, func(n int) int {
		if n < 3 {
			return 500
		}
		return 200
	})
	whID, _ := s.newWebhook(rc.srv.URL, "tenant.created")
	s.must(201, req{method: "POST", path: "/v1/tenants" + devQ, key: s.key, body: map[string]any{"key": "acme"}})
	got := rc.wait(t, 3)
	for i, r := range got {
		if r.header.Get("X-Webhook-Id") != got[0].header.Get("X-Webhook-Id") || r.header.Get("X-Webhook-Attempt") != string(rune('1'+i)) {
			t.Errorf("attempt %d headers: id %s attempt %s", i+1, r.header.Get("X-Webhook-Id"), r.header.Get("X-Webhook-Attempt"))
		}
	}
	id := s.must(200, req{method: "GET", path: "/v1/webhooks/" + whID + "/deliveries", key: s.key}).list()[0].(map[string]any)["id"].(string)
	d := s.waitDelivery(whID, id)
	if d["status"] != "succeeded" || d["attempts"] != 3.0 {
		t.Fatalf("delivery %v", d)
	}
	var codes []float64
	for _, a := range d["attempt_history"].([]any) {
		codes = append(codes, a.(map[string]any)["status_code"].(float64))
	}
	if !reflect.DeepEqual(codes, []float64{500, 500, 200}) {
		t.Errorf("attempt statuses %v", codes)
	}
	if w := s.must(200, req{method: "GET", path: "/v1/webhooks/" + whID, key: s.key}).data(); w["status"] != "enabled" || w["failing_since"] != nil {
		t.Errorf("endpoint after a success: %v", w)
	}
}

func TestWebhookGivesUpAndReplays(t *testing.T) {
	t.Parallel()
	s := webhookServer(t, nil)
	var ok atomic.Bool
	rc := newReceiver(t, func(int) int {
		if ok.Load() {
			return 204
		}
		return 503
	})
	whID, _ := s.newWebhook(rc.srv.URL, "*")
	s.must(201, req{method: "POST", path: "/v1/tenants" + devQ, key: s.key, body: map[string]any{"key": "acme"}})
	rc.wait(t, 4) // 1 + 3 retries
	id := s.must(200, req{method: "GET", path: "/v1/webhooks/" + whID + "/deliveries", key: s.key}).list()[0].(map[string]any)["id"].(string)
	d := s.waitDelivery(whID, id)
	if d["status"] != "failed" || d["attempts"] != 4.0 || d["last_status_code"] != 503.0 {
		t.Fatalf("delivery after every attempt failed: %v", d)
	}
	if w := s.must(200, req{method: "GET", path: "/v1/webhooks/" + whID, key: s.key}).data(); w["status"] != "failing" || w["failing_since"] == nil {
		t.Errorf("endpoint: %v", w)
	}
	ok.Store(true)
	// Replay by hand: a new delivery of the same event.
	re := s.must(201, req{method: "POST", path: "/v1/webhooks/" + whID + "/deliveries/" + id + "/replay", key: s.key}).data()
	if re["replay_of"] != id || re["event_id"] != d["event_id"] {
		t.Fatalf("replay %v", re)
	}
	if d := s.waitDelivery(whID, re["id"].(string)); d["status"] != "succeeded" {
		t.Fatalf("replayed delivery %v", d)
	}
	got := rc.wait(t, 5)
	if got[4].header.Get("X-Webhook-Id") != got[0].header.Get("X-Webhook-Id") {
		t.Error("a replay must keep the event id")
	}
	// Recover: every failed delivery since a time.
	rec := s.must(200, req{method: "POST", path: "/v1/webhooks/" + whID + "/recover", key: s.key, body: map[string]any{"since": time.Now().Add(-time.Hour)}}).data()
	if rec["replayed"] != 1.0 {
		t.Errorf("recover: %v", rec)
	}
	rc.wait(t, 6)
}

func TestWebhookDisabled(t *testing.T) {
	t.Parallel()
	var offset atomic.Int64 // the webhook service's clock runs ahead by this much
	s := webhookServer(t, func(c *config.Config) { c.WebhookDisableAfter = time.Minute })
	s.app.Webhooks.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	watcher := newReceiver(t, nil)
	watchID, _ := s.newWebhook(watcher.srv.URL, "webhook.disabled")
	gone := newReceiver(t, func(int) int { return http.StatusGone })
	goneID, _ := s.newWebhook(gone.srv.URL, "tenant.created")
	s.must(201, req{method: "POST", path: "/v1/tenants" + devQ, key: s.key, body: map[string]any{"key": "t1"}})
	ev := watcher.wait(t, 1)[0]
	if ev.event() != "webhook.disabled" || ev.payload["data"].(map[string]any)["id"] != goneID {
		t.Fatalf("webhook.disabled event: %v", ev.payload)
	}
	w := s.must(200, req{method: "GET", path: "/v1/webhooks/" + goneID, key: s.key}).data()
	if w["enabled"] != false || w["status"] != "disabled" || !strings.Contains(w["disabled_reason"].(string), "410") {
		t.Fatalf("after 410 Gone: %v", w)
	}
	if len(gone.wait(t, 1)) != 1 {
		t.Fatal("a disabled endpoint was retried")
	}
	// An endpoint failing for longer than DisableAfter is disabled.
	var up atomic.Bool
	flaky := newReceiver(t, func(int) int {
		if up.Load() {
			return 200
		}
		return 500
	})
	flakyID, _ := s.newWebhook(flaky.srv.URL, "tenant.created")
	s.must(201, req{method: "POST", path: "/v1/tenants" + devQ, key: s.key, body: map[string]any{"key": "t2"}})
	flaky.wait(t, 1)
	offset.Store(int64(2 * time.Minute))
	ev = watcher.wait(t, 2)[1]
	if ev.payload["data"].(map[string]any)["id"] != flakyID {
		t.Fatalf("second webhook.disabled: %v", ev.payload)
	}
	w = s.must(200, req{method: "GET", path: "/v1/webhooks/" + flakyID, key: s.key}).data()
	if w["status"] != "disabled" || !strings.Contains(w["disabled_reason"].(string), "failed for") {
		t.Fatalf("after failing too long: %v", w)
	}
	// No deliveries while disabled; enabling clears the record.
	before := len(flaky.wait(t, 1))
	s.must(201, req{method: "POST", path: "/v1/tenants" + devQ, key: s.key, body: map[string]any{"key": "t3"}})
	up.Store(true)
	w = s.must(200, req{method: "PATCH", path: "/v1/webhooks/" + flakyID, key: s.key, body: map[string]any{"enabled": true}}).data()
	if w["status"] != "enabled" || w["failing_since"] != nil || w["disabled_reason"] != nil {
		t.Fatalf("enabled again: %v", w)
	}
	s.must(409, req{method: "POST", path: "/v1/webhooks/" + goneID + "/test", key: s.key})
	s.must(201, req{method: "POST", path: "/v1/webhooks/" + flakyID + "/test", key: s.key})
	got := flaky.wait(t, before+1)
	if last := got[len(got)-1]; last.event() != "webhook.test" {
		t.Errorf("after enabling, got %s (t3 was created while disabled and must not arrive)", last.event())
	}
	_ = watchID
}

func TestWebhookSecretRotation(t *testing.T) {
	t.Parallel()
	s := webhookServer(t, nil)
	rc := newReceiver(t, nil)
	whID, old := s.newWebhook(rc.srv.URL, "tenant.created")
	rot := s.must(200, req{method: "POST", path: "/v1/webhooks/" + whID + "/rotate-secret", key: s.key, body: map[string]any{"grace_period_seconds": 3600}}).data()
	cur := rot["secret"].(string)
	if cur == old || rot["previous_secret_expires_at"] == nil {
		t.Fatalf("rotation: %v", rot)
	}
	s.must(201, req{method: "POST", path: "/v1/webhooks/" + whID + "/test", key: s.key})
	r := rc.wait(t, 1)[0]
	if r.event() != "webhook.test" {
		t.Fatalf("got %s", r.event())
	}
	// The old secret keeps signing X-Signature; the new one signs X-Signature-New.
	if r.header.Get("X-Signature") != webhook.Sign(old, r.body) || r.header.Get("X-Signature-New") != webhook.Sign(cur, r.body) {
		t.Errorf("signatures during the grace period: %v", r.header)
	}
	for _, sec := range []string{old, cur} {
		wh, _ := standardwebhooks.NewWebhook(sec)
		if err := wh.Verify(r.body, r.header); err != nil {
			t.Errorf("Standard Webhooks with %.10s…: %v", sec, err)
		}
	}
	// Without grace the old secret stops at once.
	s.must(200, req{method: "POST", path: "/v1/webhooks/" + whID + "/rotate-secret", key: s.key, body: map[string]any{"grace_period_seconds": 0}})
	s.must(201, req{method: "POST", path: "/v1/tenants" + devQ, key: s.key, body: map[string]any{"key": "acme"}})
	r = rc.wait(t, 2)[1]
	if r.header.Get("X-Signature-New") != "" || r.header.Get("X-Signature") == webhook.Sign(cur, r.body) {
		t.Errorf("after a rotation without grace: %v", r.header)
	}
}

func TestWebhookGuardAndValidation(t *testing.T) {
	t.Parallel()
	s := newServer(t) // the default guard: no private targets
	tests := []struct {
		body map[string]any
		want int
	}{
		{map[string]any{"url": "http://127.0.0.1:9/x", "events": []string{"*"}}, 400},
		{map[string]any{"url": "http://localhost:9/x", "events": []string{"*"}}, 400},
		{map[string]any{"url": "http://169.254.169.254/latest", "events": []string{"*"}}, 400},
		{map[string]any{"url": "http://[::1]/x", "events": []string{"*"}}, 400},
		{map[string]any{"url": "ftp://hooks.example.com/x", "events": []string{"*"}}, 400},
		{map[string]any{"url": "https://user:pw@hooks.example.com/x", "events": []string{"*"}}, 400},
		{map[string]any{"url": "https://hooks.example.com/x", "events": []string{"user.exploded"}}, 400},
		{map[string]any{"url": "https://hooks.example.com/x", "events": []string{}}, 400},
		{map[string]any{"url": "https://hooks.example.com/x", "events": []string{"user.created"}, "enabled": false}, 201},
	}
	for _, tc := range tests {
		res := s.do(req{method: "POST", path: "/v1/webhooks", key: s.key, body: tc.body})
		if res.status != tc.want {
			t.Errorf("%v: %d, want %d\n%s", tc.body, res.status, tc.want, res.raw)
		}
	}
	res := s.must(400, req{method: "POST", path: "/v1/webhooks", key: s.key, body: map[string]any{"url": "http://10.1.2.3/x", "events": []string{"*"}}})
	if !strings.Contains(res.raw, "--webhook-allow-networks") {
		t.Errorf("the refusal should say how to allow it: %s", res.raw)
	}
	types := s.must(200, req{method: "GET", path: "/v1/webhooks/event-types", key: s.key}).body["data"].([]any)
	if len(types) < 25 {
		t.Errorf("%d event types", len(types))
	}
}

func TestWebhookReach(t *testing.T) {
	t.Parallel()
	s := webhookServer(t, nil)
	rc := newReceiver(t, nil)
	orgWide, _ := s.newWebhook(rc.srv.URL+"/org", "tenant.created")
	proj := s.must(201, req{method: "POST", path: "/v1/projects", key: s.key, body: map[string]any{"key": "other", "name": "Other"}}).data()
	s.must(201, req{method: "POST", path: "/v1/projects/other/environments", key: s.key, body: map[string]any{"key": "dev", "name": "Dev"}})
	_, pkey := s.newKey("project", []string{"view:webhook", "manage:webhook", "manage:tenant"}, map[string]any{"project": proj["id"]})
	// A project key's endpoint is its project's.
	d := s.must(201, req{method: "POST", path: "/v1/webhooks", key: pkey, body: map[string]any{"url": rc.srv.URL + "/proj", "events": []string{"tenant.created"}}}).data()
	if d["project_id"] != proj["id"] {
		t.Fatalf("project key's endpoint: %v", d)
	}
	if l := s.must(200, req{method: "GET", path: "/v1/webhooks", key: pkey}).list(); len(l) != 1 {
		t.Errorf("a project key sees %d endpoints, want its 1", len(l))
	}
	s.must(404, req{method: "GET", path: "/v1/webhooks/" + orgWide, key: pkey})
	s.must(404, req{method: "DELETE", path: "/v1/webhooks/" + orgWide, key: pkey})
	s.must(403, req{method: "POST", path: "/v1/webhooks", key: pkey, body: map[string]any{"url": rc.srv.URL, "events": []string{"*"}, "project": s.projID}})
	if l := s.must(200, req{method: "GET", path: "/v1/webhooks", key: s.key}).list(); len(l) != 2 {
		t.Errorf("the organization key sees %d endpoints, want 2", len(l))
	}
	// An event of the default project reaches the organization-wide
	// endpoint only.
	s.must(201, req{method: "POST", path: "/v1/tenants" + devQ, key: s.key, body: map[string]any{"key": "acme"}})
	s.must(201, req{method: "POST", path: "/v1/tenants?project=other&environment=dev", key: pkey, body: map[string]any{"key": "beta"}})
	// (Creating the project's three environments also created their
	// default tenants, before the project's endpoint existed: the
	// organization-wide endpoint got them.)
	// Deliveries are recorded with their events: no more will come than
	// the endpoints' lists hold now.
	for _, e := range []struct {
		id   string
		want int
	}{{orgWide, 5}, {d["id"].(string), 1}} {
		if l := s.must(200, req{method: "GET", path: "/v1/webhooks/" + e.id + "/deliveries?per_page=100", key: s.key}).list(); len(l) != e.want {
			t.Errorf("endpoint %s has %d deliveries, want %d", e.id, len(l), e.want)
		}
	}
	got := rc.wait(t, 6)
	paths := map[string]int{}
	for _, r := range got {
		paths[r.payload["data"].(map[string]any)["key"].(string)]++
	}
	if len(got) != 6 || paths["acme"] != 1 || paths["beta"] != 2 || paths["default"] != 3 {
		t.Errorf("deliveries: %v", paths)
	}
	s.must(403, req{method: "GET", path: "/v1/webhooks", key: s.keyWithout(t, "view:webhook")})
}

// keyWithout returns an organization key holding every scope but one.
func (s *server) keyWithout(t *testing.T, scope string) string {
	t.Helper()
	all := s.must(200, req{method: "GET", path: "/v1/scopes", key: s.key}).body["data"].([]any)
	var scopes []string
	for _, sc := range all {
		if name := sc.(map[string]any)["name"].(string); name != scope {
			scopes = append(scopes, name)
		}
	}
	_, key := s.newKey("organization", scopes, nil)
	return key
}

// Every kind of change produces its event, with the API's shape of the item.
func TestWebhookEventsOfEveryCapability(t *testing.T) {
	t.Parallel()
	s := webhookServer(t, nil)
	rc := newReceiver(t, nil)
	s.newWebhook(rc.srv.URL, "*")
	proj := s.must(201, req{method: "POST", path: "/v1/projects", key: s.key, body: map[string]any{"key": "web", "name": "Web"}}).data()
	key := s.must(201, req{method: "POST", path: "/v1/api-keys", key: s.key, body: map[string]any{"name": "k", "level": "organization", "scopes": []string{"view:project"}}}).data()
	s.must(200, req{method: "POST", path: "/v1/api-keys/" + key["id"].(string) + "/revoke", key: s.key})
	s.must(201, req{method: "POST", path: "/v1/members", key: s.key, body: map[string]any{"email": "bob@acme.example", "role": "viewer"}})
	s.must(201, req{method: "POST", path: "/v1/resources" + devQ, key: s.key, body: map[string]any{"key": "doc", "actions": []string{"read"}}})
	s.must(201, req{method: "POST", path: "/v1/roles" + devQ, key: s.key, body: map[string]any{"key": "viewer", "permissions": []string{"doc:read"}}})
	s.must(201, req{method: "POST", path: "/v1/users" + devQ, key: s.key, body: map[string]any{"key": "ada"}})
	asg := s.must(201, req{method: "POST", path: "/v1/role-assignments" + devQ, key: s.key, body: map[string]any{"user": "ada", "role": "viewer"}}).data()
	s.must(204, req{method: "DELETE", path: "/v1/projects/web", key: s.key})
	want := []string{"project.created", "api_key.created", "api_key.revoked", "member.created", "resource.created", "role.created", "user.created", "role_assignment.created", "project.deleted",
		"environment.created", "tenant.created"}
	// The new project's development and production environments, and their
	// default tenants, are two events each.
	got := rc.wait(t, len(want)+2)
	byType := map[string]received{}
	for _, r := range got {
		byType[r.event()] = r
	}
	for _, w := range want {
		if _, ok := byType[w]; !ok {
			t.Errorf("no %s event", w)
		}
	}
	if d := byType["project.created"].payload["data"]; !reflect.DeepEqual(d, proj) {
		t.Errorf("project.created data %v, want %v", d, proj)
	}
	if d := byType["role_assignment.created"].payload["data"]; !reflect.DeepEqual(d, asg) {
		t.Errorf("role_assignment.created data %v, want %v", d, asg)
	}
	if raw := string(byType["api_key.created"].body); strings.Contains(raw, "token") || strings.Contains(raw, key["token"].(string)) {
		t.Errorf("api_key.created carries the token: %s", raw)
	}
	if d := byType["api_key.revoked"].payload["data"].(map[string]any); d["status"] != "revoked" || d["id"] != key["id"] {
		t.Errorf("api_key.revoked data %v", d)
	}
}
