package clientlive_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/testserver"
)

// A real Gatehouse for the whole package (tests and examples).
var (
	serverURL string
	orgKey    string // every scope
	envKey    string // the development environment: data, checks, the PDP stream
	gh        *app.App
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-client-*")
	if err != nil {
		panic(err)
	}
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.WebhookAllowNetworks = []string{"127.0.0.0/8"}
	ctx := context.Background()
	gh, err = app.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		panic(err)
	}
	res, err := gh.Init(ctx, app.DefaultInitOptions())
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(gh.Handler())
	serverURL, orgKey = ts.URL, res.Token
	k, err := client.New(serverURL, orgKey).APIKeys.Create(ctx, client.APIKeyInput{Name: "sdk tests", Level: "environment",
		Project: "default", Environment: "development", RateLimit: 1_000_000,
		Scopes: []string{"view:user", "manage:user", "view:tenant", "manage:tenant", "view:resource", "manage:resource", "view:role",
			"manage:role", "view:role_assignment", "manage:role_assignment", "check:access", "view:job", "manage:job", "view:log"}})
	if err != nil {
		panic(err)
	}
	envKey = k.Token
	code := m.Run()
	ts.Close()
	gh.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is a client on a fresh environment of its own, so tests do not see
// each other's data.
func env(t *testing.T) *client.Client {
	t.Helper()
	ctx := context.Background()
	org := client.New(serverURL, orgKey)
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if _, err := org.Environments.Create(ctx, "default", client.EnvironmentInput{Key: name, Name: t.Name()}); err != nil {
		t.Fatal(err)
	}
	return org.WithEnvironment("default", name)
}

func TestUsersAndErrors(t *testing.T) {
	ctx := context.Background()
	c := env(t)
	u, err := c.Users.Create(ctx, client.UserInput{Key: "ada", Email: "ada@acme.example", Attributes: map[string]any{"dept": "eng"}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Users.Get(ctx, "ada")
	if err != nil || got.ID != u.ID || got.Attributes["dept"] != "eng" {
		t.Fatalf("get: %+v %v", got, err)
	}
	first := "Ada"
	if u, err = c.Users.Update(ctx, u.ID, client.UserPatch{FirstName: &first}); err != nil || u.FirstName != "Ada" || u.Email != "ada@acme.example" {
		t.Fatalf("update: %+v %v", u, err)
	}
	// Typed errors carry the API's code, message and details.
	_, err = c.Users.Create(ctx, client.UserInput{Key: "ada"})
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Status != 409 || !client.IsConflict(err) || ae.RequestID == "" {
		t.Errorf("duplicate: %#v", err)
	}
	if _, err := c.Users.Get(ctx, "nobody"); !client.IsNotFound(err) {
		t.Errorf("missing user: %v", err)
	}
	_, err = c.Users.Create(ctx, client.UserInput{Key: "bad key!"})
	if errors.As(err, &ae); ae.Code != client.CodeInvalidRequest || ae.Details["field"] != "key" {
		t.Errorf("bad key: %#v", err)
	}
	if _, err := client.New(serverURL, "garbage").Users.List(ctx, nil); !client.IsUnauthorized(err) {
		t.Errorf("a garbage key: %v", err)
	}
	if err := c.Users.Delete(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Users.Get(ctx, "ada"); !client.IsNotFound(err) {
		t.Errorf("deleted user: %v", err)
	}
}

func TestPagingAndIterators(t *testing.T) {
	ctx := context.Background()
	c := env(t)
	for i := 0; i < 25; i++ {
		if _, err := c.Users.Create(ctx, client.UserInput{Key: fmt.Sprintf("u%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := c.Users.List(ctx, &client.FactListOptions{ListOptions: client.ListOptions{PerPage: 10, Page: 3, Sort: "key"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 5 || p.Items[0].Key != "u20" || p.Meta.TotalItems != 25 || p.Meta.TotalPages != 3 || p.Meta.HasNext || !p.Meta.HasPrevious {
		t.Fatalf("page 3: %d items, %+v", len(p.Items), p.Meta)
	}
	n := 0
	for u, err := range c.Users.All(ctx, &client.FactListOptions{ListOptions: client.ListOptions{PerPage: 10, Sort: "key", Desc: true}}) {
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 && u.Key != "u24" {
			t.Errorf("first of the descending iteration: %s", u.Key)
		}
		n++
	}
	if n != 25 {
		t.Errorf("the iterator gave %d users, want 25", n)
	}
	// The iterator follows the server's cursors: a user added during the
	// walk, below every key so far in descending order, is reached, and
	// none repeats.
	seen := map[string]bool{}
	for u, err := range c.Users.All(ctx, &client.FactListOptions{ListOptions: client.ListOptions{PerPage: 10, Sort: "key", Desc: true}}) {
		if err != nil {
			t.Fatal(err)
		}
		if seen[u.Key] {
			t.Fatalf("%s twice", u.Key)
		}
		seen[u.Key] = true
		if len(seen) == 1 {
			if _, err := c.Users.Create(ctx, client.UserInput{Key: "a-added"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(seen) != 26 || !seen["a-added"] {
		t.Errorf("walk by cursor: %d users, a-added %v", len(seen), seen["a-added"])
	}
	first, err := c.Users.List(ctx, &client.FactListOptions{ListOptions: client.ListOptions{PerPage: 10, Cursor: "start"}})
	if err != nil || first.Meta.NextCursor == "" || first.Meta.TotalItems != -1 || len(first.Items) != 10 {
		t.Fatalf("cursor=start: %+v, %v", first, err)
	}
	next, err := c.Users.List(ctx, &client.FactListOptions{ListOptions: client.ListOptions{PerPage: 10, Cursor: first.Meta.NextCursor}})
	if err != nil || len(next.Items) != 10 || next.Items[0].Key == first.Items[0].Key {
		t.Fatalf("next by cursor: %+v, %v", next, err)
	}
	_, err = c.Users.List(ctx, &client.FactListOptions{ListOptions: client.ListOptions{Cursor: "nonsense"}})
	if ae := (*client.Error)(nil); !errors.As(err, &ae) || ae.Status != 400 || ae.Details["field"] != "cursor" {
		t.Fatalf("bad cursor: %v", err)
	}
	// Breaking out stops it.
	n = 0
	for range c.Users.All(ctx, nil) {
		if n++; n == 3 {
			break
		}
	}
	if n != 3 {
		t.Errorf("break: %d", n)
	}
}

func seedModel(t *testing.T, c *client.Client) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.Resources.Create(ctx, client.ResourceInput{Key: "document", Actions: []string{"read", "write"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Roles.Create(ctx, client.RoleInput{Key: "viewer", Permissions: []string{"document:read"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Roles.Create(ctx, client.RoleInput{Key: "editor", Permissions: []string{"document:write"}, Extends: []string{"viewer"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Tenants.Create(ctx, client.TenantInput{Key: "acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Users.Create(ctx, client.UserInput{Key: "ada"}); err != nil {
		t.Fatal(err)
	}
}

func TestChecks(t *testing.T) {
	ctx := context.Background()
	c := env(t)
	seedModel(t, c)
	if _, err := c.RoleAssignments.Assign(ctx, "ada", "editor", "acme"); err != nil {
		t.Fatal(err)
	}
	d, err := c.Checks.Allowed(ctx, client.Check{User: "ada", Action: "read", Resource: client.CheckResource{Type: "document", Tenant: "acme"}})
	if err != nil || !d.Allow || d.Reason != "granted" || d.Role != "editor" {
		t.Fatalf("allowed: %+v %v", d, err)
	}
	ds, err := c.Checks.Bulk(ctx, []client.Check{
		{User: "ada", Action: "write", Resource: client.CheckResource{Type: "document", Tenant: "acme"}},
		{User: "ada", Action: "read", Resource: client.CheckResource{Type: "document"}},
	})
	if err != nil || len(ds) != 2 || !ds[0].Allow || ds[1].Allow || ds[1].Reason != "no_role_in_tenant" {
		t.Fatalf("bulk: %+v %v", ds, err)
	}
	perms, err := c.Checks.UserPermissions(ctx, "ada")
	if err != nil || len(perms) != 1 || perms[0].Tenant != "acme" || strings.Join(perms[0].Permissions, ",") != "document:read,document:write" {
		t.Fatalf("permissions: %+v %v", perms, err)
	}
	list, err := c.RoleAssignments.List(ctx, &client.AssignmentFilter{User: "ada"})
	if err != nil || len(list.Items) != 1 || list.Items[0].Tenant != "acme" {
		t.Fatalf("assignments: %+v %v", list, err)
	}
	if err := c.RoleAssignments.Unassign(ctx, "ada", "editor", "acme"); err != nil {
		t.Fatal(err)
	}
	if d, _ := c.Checks.Allowed(ctx, client.Check{User: "ada", Action: "read", Resource: client.CheckResource{Type: "document", Tenant: "acme"}}); d.Allow {
		t.Error("allowed after unassigning")
	}
}

// The client waits out 429 and 503 as Retry-After says, and gives up on a
// wait longer than it may.
func TestRetries(t *testing.T) {
	var calls atomic.Int32
	fail := atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if n <= fail.Load() {
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"status":"error","error":{"code":"RATE_LIMIT_EXCEEDED","message":"Rate limit exceeded. Try again in 1 seconds.","retry_after":1}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"success","data":{"key_id":"k1","level":"organization","scopes":[]},"meta":{}}`)
	}))
	defer srv.Close()
	ctx := context.Background()
	fail.Store(2)
	start := time.Now()
	me, err := client.New(srv.URL, "k").System.Me(ctx)
	if err != nil || me.KeyID != "k1" || calls.Load() != 3 || time.Since(start) < 2*time.Second {
		t.Fatalf("after two 429s: %+v %v, %d calls in %s", me, err, calls.Load(), time.Since(start))
	}
	// More 429s than retries: the error comes back, with its wait.
	calls.Store(0)
	fail.Store(10)
	_, err = client.New(srv.URL, "k", client.WithRetries(1)).System.Me(ctx)
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Code != client.CodeRateLimitExceeded || ae.RetryAfter != time.Second || calls.Load() != 2 {
		t.Fatalf("out of retries: %v, %d calls", err, calls.Load())
	}
	// A wait longer than allowed is not waited.
	calls.Store(0)
	_, err = client.New(srv.URL, "k", client.WithMaxWait(100*time.Millisecond)).System.Me(ctx)
	if !errors.As(err, &ae) || calls.Load() != 1 {
		t.Fatalf("a long Retry-After: %v, %d calls", err, calls.Load())
	}
	// The context ends the wait.
	calls.Store(0)
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := client.New(srv.URL, "k").System.Me(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a cancelled wait: %v", err)
	}
}

func TestLocalChecker(t *testing.T) {
	ctx := context.Background()
	c := client.New(serverURL, envKey) // the environment key implies development
	if _, err := c.Resources.Create(ctx, client.ResourceInput{Key: "report", Actions: []string{"read"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Roles.Create(ctx, client.RoleInput{Key: "reader", Permissions: []string{"report:read"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Users.Create(ctx, client.UserInput{Key: "lin"}); err != nil {
		t.Fatal(err)
	}
	lc, err := client.NewLocalChecker(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	if d := lc.Check("lin", "read", "report", ""); d.Allow || d.Reason.String() != "no_role_in_tenant" {
		t.Fatalf("before the assignment: %+v", d)
	}
	// A write on the server reaches the local copy.
	if _, err := c.RoleAssignments.Assign(ctx, "lin", "reader", ""); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// The change may arrive in the backlog before the stream says it has
	// caught up: wait for both.
	if err := lc.WaitUntil(wctx, func(l *client.LocalChecker) bool {
		return l.Check("lin", "read", "report", "").Allow && l.Synced()
	}); err != nil {
		t.Fatalf("the assignment never reached the local checker (synced %v): %v", lc.Synced(), err)
	}
	d := lc.Allowed(client.Check{User: "lin", Action: "read", Resource: client.CheckResource{Type: "report"}})
	if !d.Allow || d.Role != "reader" || d.Tenant != "default" || !strings.Contains(d.Explanation, "reader") {
		t.Errorf("allowed: %+v", d)
	}
	if lc.Seq() == 0 {
		t.Errorf("at feed position %d", lc.Seq())
	}
	// The same decision as the server's.
	sd, err := c.Checks.Allowed(ctx, client.Check{User: "lin", Action: "read", Resource: client.CheckResource{Type: "report"}})
	if err != nil || !reflect.DeepEqual(*sd, d) {
		t.Errorf("server %+v, local %+v", sd, d)
	}
	// An organization key cannot follow an environment.
	if _, err := client.NewLocalChecker(ctx, client.New(serverURL, orgKey)); !client.IsForbidden(err) {
		t.Errorf("an organization key: %v", err)
	}
}

func TestImportAndWait(t *testing.T) {
	ctx := context.Background()
	c := env(t)
	seedModel(t, c)
	var b strings.Builder
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, `{"type":"user","key":"i%d"}`+"\n"+`{"type":"role_assignment","user":"i%d","role":"viewer","tenant":"acme"}`+"\n", i, i)
	}
	job, err := c.Jobs.Import(ctx, strings.NewReader(b.String()), client.ImportOptions{BatchSize: 20})
	if err != nil {
		t.Fatal(err)
	}
	var seen int
	job, err = c.Jobs.Wait(ctx, job.ID, 20*time.Millisecond, func(*client.Job) { seen++ })
	if err != nil || job.Status != "succeeded" || job.Result.Created != 80 || seen == 0 {
		t.Fatalf("import: %+v %v", job, err)
	}
	tasks, err := c.Jobs.Tasks(ctx, job.ID, nil)
	if err != nil || len(tasks.Items) != 4 {
		t.Fatalf("tasks: %v %v", tasks, err)
	}
	// A bad file: refused with the lines.
	_, err = c.Jobs.Import(ctx, strings.NewReader("{\"type\":\"user\",\"key\":\"ok\"}\n{\"type\":\"nope\"}\n"), client.ImportOptions{})
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Code != client.CodeInvalidRequest || !strings.Contains(ae.Message, "line 2") {
		t.Fatalf("bad file: %v", err)
	}
	// CSV, and an export of it all.
	if _, err := c.Jobs.Import(ctx, strings.NewReader("key,email\ncsv1,c@x.example\n"), client.ImportOptions{Format: "csv", Type: "users"}); err != nil {
		t.Fatal(err)
	}
	ex, err := c.Jobs.Export(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ex, err = c.Jobs.Wait(ctx, ex.ID, 20*time.Millisecond, nil); err != nil || ex.Status != "succeeded" {
		t.Fatalf("export %+v %v", ex, err)
	}
	var out strings.Builder
	if err := c.Jobs.Output(ctx, ex.ID, &out); err != nil || !strings.Contains(out.String(), `"key":"i39"`) {
		t.Fatalf("output: %v %.200s", err, out.String())
	}
}

func TestKeysWebhooksLogs(t *testing.T) {
	ctx := context.Background()
	org := client.New(serverURL, orgKey)
	k, err := org.APIKeys.Create(ctx, client.APIKeyInput{Name: "ci", Level: "organization", Scopes: []string{"view:project"}})
	if err != nil || !strings.HasPrefix(k.Token, "eyJ") {
		t.Fatalf("create key: %+v %v", k, err)
	}
	if _, err := client.New(serverURL, k.Token).Projects.List(ctx, nil); err != nil {
		t.Fatalf("the new key: %v", err)
	}
	if _, err := client.New(serverURL, k.Token).Users.List(ctx, nil); !client.IsForbidden(err) && client.ErrorCode(err) != client.CodeInvalidRequest {
		t.Errorf("a key without view:user: %v", err)
	}
	nk, err := org.APIKeys.Rotate(ctx, k.ID, 0)
	if err != nil || nk.ID == k.ID {
		t.Fatalf("rotate: %v", err)
	}
	if _, err := client.New(serverURL, k.Token).Projects.List(ctx, nil); !client.IsUnauthorized(err) {
		t.Errorf("the rotated key still works: %v", err)
	}
	if _, err := org.APIKeys.Revoke(ctx, nk.ID); err != nil {
		t.Fatal(err)
	}
	// A webhook delivery, verified the way a receiver does.
	got := make(chan error, 1)
	var secret atomic.Value
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ev, err := client.VerifyWebhook(secret.Load().(string), r.Header, body, 0)
		if err == nil && ev.Event != "webhook.test" {
			err = fmt.Errorf("event %s", ev.Event)
		}
		got <- err
	}))
	defer rc.Close()
	wh, err := org.Webhooks.Create(ctx, client.WebhookInput{URL: rc.URL, Events: []string{"user.created"}})
	if err != nil || !strings.HasPrefix(wh.Secret, "whsec_") {
		t.Fatalf("webhook: %+v %v", wh, err)
	}
	secret.Store(wh.Secret)
	d, err := org.Webhooks.Test(ctx, wh.ID)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("verify: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
	if _, err := client.VerifyWebhook("whsec_wrong", http.Header{"X-Webhook-Timestamp": {fmt.Sprint(time.Now().Unix())}, "X-Signature": {"00"}}, []byte("{}"), 0); !errors.Is(err, client.ErrWebhookSignature) {
		t.Errorf("a forged delivery: %v", err)
	}
	full, err := org.Webhooks.Delivery(ctx, wh.ID, d.ID)
	if err != nil || full.EventID != d.EventID {
		t.Fatalf("delivery: %v", err)
	}
	// The API log has these calls (it is written in the background).
	testserver.Eventually(t, "two key writes in the API log", 5*time.Second, func() bool {
		calls := 0
		for c, err := range org.Logs.All(ctx, &client.LogFilter{Path: "/v1/api-keys", Method: "POST"}) {
			if err != nil {
				t.Fatal(err)
			}
			if c.ActorType == "key" {
				calls++
			}
		}
		return calls >= 2
	})
}
