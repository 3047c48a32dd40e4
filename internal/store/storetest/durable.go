package storetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/event"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/jobs"
	"github.com/gatehouse-dev/gatehouse/internal/queue"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
	"github.com/gatehouse-dev/gatehouse/internal/webhook"
)

// worked records what a real queue over the database ran.
type worked struct {
	mu         sync.Mutex
	deliveries []string
	tasks      []string
}

func (w *worked) snapshot() ([]string, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.deliveries), slices.Clone(w.tasks)
}

// startQueue runs a real River queue on db whose handlers record what they
// are given.
func startQueue(t *testing.T, db *store.DB) *worked {
	t.Helper()
	ctx := context.Background()
	if err := db.MigrateQueue(ctx); err != nil {
		t.Fatal(err)
	}
	w := &worked{}
	q, err := queue.New(queue.Options{Engine: db.Engine, DB: db.Writer(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, queue.Handlers{
		Deliver: func(_ context.Context, id string) (queue.Outcome, error) {
			w.mu.Lock()
			w.deliveries = append(w.deliveries, id)
			w.mu.Unlock()
			return queue.Outcome{}, nil
		},
		RunTask: func(_ context.Context, id string) error {
			w.mu.Lock()
			w.tasks = append(w.tasks, id)
			w.mu.Unlock()
			return nil
		},
		Sweep: func(context.Context) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = q.Stop(ctx)
	})
	return w
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newEndpoint(t *testing.T, st *store.Store, orgID, projectID, envID string, enabled bool, events ...string) *webhook.Endpoint {
	t.Helper()
	e := &webhook.Endpoint{ID: newID(), OrgID: orgID, ProjectID: projectID, EnvID: envID, URL: "https://hooks.example/" + newID(),
		Events: events, Enabled: enabled, Secret: webhook.NewSecret(), CreatedBy: "test", CreatedAt: now, UpdatedAt: now}
	must(t, st.CreateEndpoint(context.Background(), e))
	return e
}

func newID() string { return fmt.Sprint(time.Now().UnixNano()) + "-" + fmt.Sprint(idSeq.add()) }

var idSeq counter

type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) add() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

// testOutbox: events are stored and their deliveries enqueued in the
// caller's transaction: never when it rolls back, always when it commits,
// once per enabled endpoint that subscribes and covers the event.
func testOutbox(t *testing.T, db *store.DB) {
	ctx := context.Background()
	st := db.Store()
	w := startQueue(t, db)
	org := newOrg(t, st, "acme")
	proj := newProject(t, st, org, "web", now)
	env := newEnv(t, st, proj, "dev", false)
	other := newProject(t, st, org, "api", now)
	want := newEndpoint(t, st, org.ID, "", "", true, "user.created")
	newEndpoint(t, st, org.ID, "", "", false, "user.created")               // disabled
	newEndpoint(t, st, org.ID, other.ID, "", true, "user.created")          // another project
	newEndpoint(t, st, org.ID, "", "", true, "tenant.created")              // not subscribed
	envOnly := newEndpoint(t, st, org.ID, proj.ID, env.ID, true, event.All) // this environment
	ev := event.Event{ID: newID(), Type: event.UserCreated, EnvID: env.ID, OccurredAt: now, Data: map[string]string{"key": "ada"}}

	boom := errors.New("rolled back")
	err := st.InTx(ctx, func(tx *store.Store) error {
		must(t, tx.Emit(ctx, ev))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if _, err := st.GetEvent(ctx, ev.ID); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		t.Fatalf("a rolled-back event is stored: %v", err)
	}
	time.Sleep(300 * time.Millisecond)
	if d, _ := w.snapshot(); len(d) != 0 {
		t.Fatalf("a rolled-back event was delivered: %v", d)
	}

	must(t, st.InTx(ctx, func(tx *store.Store) error { return tx.Emit(ctx, ev) }))
	stored, err := st.GetEvent(ctx, ev.ID)
	must(t, err)
	if stored.OrgID != org.ID || stored.ProjectID != proj.ID || stored.EnvID != env.ID || stored.Type != event.UserCreated {
		t.Errorf("stored event %+v", stored)
	}
	page, err := st.ListDeliveries(ctx, webhook.DeliveryFilter{OrgID: org.ID}, gatehouse.PageRequest{Page: 1, PerPage: 100})
	must(t, err)
	var to []string
	for _, d := range page.Items {
		to = append(to, d.EndpointID)
	}
	slices.Sort(to)
	exp := []string{want.ID, envOnly.ID}
	slices.Sort(exp)
	if !slices.Equal(to, exp) {
		t.Fatalf("deliveries to %v, want %v", to, exp)
	}
	eventually(t, "both deliveries run", func() bool { d, _ := w.snapshot(); return len(d) == 2 })
	// An event nobody wants is not stored.
	none := event.Event{ID: newID(), Type: event.RoleDeleted, OrgID: org.ID, ProjectID: other.ID, OccurredAt: now, Data: map[string]string{}}
	must(t, st.Emit(ctx, none))
	if _, err := st.GetEvent(ctx, none.ID); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		t.Errorf("an event without subscribers is stored: %v", err)
	}
	// Only: one endpoint, subscribed or not, enabled or not.
	only := event.Event{ID: newID(), Type: event.WebhookTest, OrgID: org.ID, OccurredAt: now, Only: want.ID, Data: map[string]string{}}
	must(t, st.Emit(ctx, only))
	eventually(t, "the test delivery runs", func() bool { d, _ := w.snapshot(); return len(d) == 3 })
}

// testWebhookStore: endpoints, deliveries and attempts round-trip alike.
func testWebhookStore(t *testing.T, db *store.DB) {
	ctx := context.Background()
	st := db.Store()
	startQueue(t, db)
	org := newOrg(t, st, "acme")
	beta := newOrg(t, st, "beta")
	proj := newProject(t, st, org, "web", now)
	env := newEnv(t, st, proj, "dev", false)
	e := newEndpoint(t, st, org.ID, proj.ID, env.ID, true, "user.created", "user.deleted")
	got, err := st.GetEndpoint(ctx, org.ID, e.ID)
	must(t, err)
	if got.URL != e.URL || !slices.Equal(got.Events, e.Events) || !got.Enabled || got.Secret != e.Secret || got.ProjectID != proj.ID || got.EnvID != env.ID {
		t.Fatalf("endpoint %+v, want %+v", got, e)
	}
	_, err = st.GetEndpoint(ctx, beta.ID, e.ID)
	wantCode(t, err, gatehouse.CodeNotFound)
	exp := now.Add(time.Hour)
	got.Enabled, got.PreviousSecret, got.PreviousSecretExpiresAt, got.FailingSince, got.DisabledReason = false, "whsec_old", &exp, &now, "gone"
	must(t, st.UpdateEndpoint(ctx, got))
	again, err := st.GetEndpoint(ctx, org.ID, e.ID)
	must(t, err)
	if again.Enabled || again.PreviousSecret != "whsec_old" || !again.PreviousSecretExpiresAt.Equal(exp) || !again.FailingSince.Equal(now) || again.DisabledReason != "gone" {
		t.Errorf("updated endpoint %+v", again)
	}
	newEndpoint(t, st, org.ID, "", "", true, event.All)
	enabled := true
	for _, tc := range []struct {
		f    webhook.EndpointFilter
		want int
	}{
		{webhook.EndpointFilter{OrgID: org.ID}, 2},
		{webhook.EndpointFilter{OrgID: org.ID, ProjectID: proj.ID}, 1},
		{webhook.EndpointFilter{OrgID: org.ID, EnvID: env.ID}, 1},
		{webhook.EndpointFilter{OrgID: org.ID, Enabled: &enabled}, 1},
		{webhook.EndpointFilter{OrgID: beta.ID}, 0},
	} {
		page, err := st.ListEndpoints(ctx, tc.f, gatehouse.PageRequest{Page: 1, PerPage: 10})
		must(t, err)
		if page.Total != tc.want || len(page.Items) != tc.want {
			t.Errorf("%+v: %d endpoints, want %d", tc.f, page.Total, tc.want)
		}
	}
	// A delivery with attempts.
	ev := event.Event{ID: newID(), Type: event.WebhookTest, OrgID: org.ID, OccurredAt: now, Only: e.ID, Data: map[string]any{}}
	must(t, st.Emit(ctx, ev))
	page, err := st.ListDeliveries(ctx, webhook.DeliveryFilter{OrgID: org.ID, EndpointID: e.ID}, gatehouse.PageRequest{Page: 1, PerPage: 10})
	must(t, err)
	if len(page.Items) != 1 {
		t.Fatalf("%d deliveries", len(page.Items))
	}
	d := page.Items[0]
	for i := 1; i <= 2; i++ {
		must(t, st.CreateAttempt(ctx, &webhook.Attempt{ID: newID(), DeliveryID: d.ID, Attempt: i, StartedAt: now, Duration: 1500 * time.Microsecond,
			StatusCode: 500 + i, Error: "nope", RequestHeaders: map[string]string{"X-Signature": "abc"}, ResponseBody: "body", ResponseTruncated: i == 2}))
	}
	attempts, err := st.ListAttempts(ctx, d.ID)
	must(t, err)
	if len(attempts) != 2 || attempts[1].StatusCode != 502 || !attempts[1].ResponseTruncated || attempts[0].Duration != 1500*time.Microsecond || attempts[0].RequestHeaders["X-Signature"] != "abc" {
		t.Errorf("attempts %+v", attempts)
	}
	d.Status, d.Attempts, d.LastStatusCode = webhook.StatusFailed, 2, 502
	must(t, st.UpdateDelivery(ctx, &d))
	failed, err := st.FailedDeliveries(ctx, e.ID, now.Add(-time.Hour), 10)
	must(t, err)
	if len(failed) != 1 || failed[0].LastStatusCode != 502 {
		t.Errorf("failed deliveries %+v", failed)
	}
	_, err = st.GetDelivery(ctx, beta.ID, d.ID)
	wantCode(t, err, gatehouse.CodeNotFound)
	// Deleting the endpoint takes its deliveries and attempts.
	must(t, st.DeleteEndpoint(ctx, org.ID, e.ID))
	_, err = st.DeliveryByID(ctx, d.ID)
	wantCode(t, err, gatehouse.CodeNotFound)
	wantCode(t, st.DeleteEndpoint(ctx, org.ID, e.ID), gatehouse.CodeNotFound)
}

// testJobStore: jobs and tasks round-trip alike, and a task is claimed by
// one run only.
func testJobStore(t *testing.T, db *store.DB) {
	ctx := context.Background()
	st := db.Store()
	w := startQueue(t, db)
	org := newOrg(t, st, "acme")
	proj := newProject(t, st, org, "web", now)
	env := newEnv(t, st, proj, "dev", false)
	j := &jobs.Job{ID: newID(), OrgID: org.ID, ProjectID: proj.ID, EnvID: env.ID, Type: jobs.TypeImport, Status: jobs.StatusQueued,
		Params: jobs.Params{Format: "jsonl", BatchSize: 2}, TotalItems: 4, CreatedBy: "test", CreatedAt: now, UpdatedAt: now}
	var ids []string
	must(t, st.InJobTx(ctx, "", func(tx jobs.Tx) error {
		if err := tx.CreateJob(ctx, j); err != nil {
			return err
		}
		for i := 1; i <= 3; i++ {
			task := &jobs.Task{ID: newID(), JobID: j.ID, OrgID: org.ID, EnvID: env.ID, Seq: i, Kind: jobs.KindRows, Status: jobs.StatusPending,
				Input: fmt.Sprintf(`[{"line":%d}]`, i), Output: fmt.Sprintf("line %d\n", i), Items: 2, FirstLine: int64(i), LastLine: int64(i), CreatedAt: now, UpdatedAt: now}
			if err := tx.CreateTask(ctx, task); err != nil {
				return err
			}
			ids = append(ids, task.ID)
		}
		return tx.EnqueueTask(ctx, ids[0])
	}))
	eventually(t, "the enqueued task runs", func() bool { _, tasks := w.snapshot(); return slices.Equal(tasks, ids[:1]) })
	got, err := st.GetJob(ctx, org.ID, j.ID)
	must(t, err)
	if got.Params.BatchSize != 2 || got.TotalItems != 4 || got.Status != jobs.StatusQueued {
		t.Errorf("job %+v", got)
	}
	full, err := st.TaskByID(ctx, ids[1])
	must(t, err)
	if full.Input != `[{"line":2}]` || full.Seq != 2 {
		t.Errorf("task %+v", full)
	}
	light, err := st.GetTask(ctx, org.ID, ids[1])
	must(t, err)
	if light.Input != "" || light.FirstLine != 2 {
		t.Errorf("light task %+v", light)
	}
	// One claim wins.
	ok, err := st.ClaimTask(ctx, ids[0], jobs.StatusPending, 0, now)
	must(t, err)
	again, err := st.ClaimTask(ctx, ids[0], jobs.StatusPending, 0, now)
	must(t, err)
	if !ok || again {
		t.Errorf("claims: %v then %v, want true then false", ok, again)
	}
	running, err := st.RunningTasks(ctx, now)
	must(t, err)
	if len(running) != 1 || running[0] != (jobs.TaskClaim{ID: ids[0], Attempts: 1}) {
		t.Errorf("running %v", running)
	}
	light.Status, light.Errors, light.Result = jobs.StatusFailed, []facts.RowError{{Line: 2, Field: "role", Message: "no"}}, facts.BatchResult{Created: 1}
	must(t, st.UpdateTask(ctx, light))
	failed, err := st.ListTasks(ctx, jobs.TaskFilter{OrgID: org.ID, JobID: j.ID, Status: jobs.StatusFailed}, gatehouse.PageRequest{Page: 1, PerPage: 10, Sort: "seq"})
	must(t, err)
	if len(failed.Items) != 1 || failed.Items[0].Errors[0].Line != 2 || failed.Items[0].Result.Created != 1 {
		t.Errorf("failed tasks %+v", failed.Items)
	}
	var outs []string
	must(t, st.TaskOutputs(ctx, j.ID, func(s string) error { outs = append(outs, s); return nil }))
	if fmt.Sprint(outs) != "[line 1\n line 2\n line 3\n]" {
		t.Errorf("outputs %q", outs)
	}
	// A job's tasks are looked up one at a time, by status, in order.
	next := func(except string, statuses ...string) string {
		t.Helper()
		task, err := st.NextJobTask(ctx, j.ID, except, statuses...)
		must(t, err)
		if task == nil {
			return ""
		}
		if task.Input != "" {
			t.Errorf("NextJobTask read the input of task %d", task.Seq)
		}
		return task.ID
	}
	if got := next("", jobs.StatusQueued, jobs.StatusRunning); got != ids[0] {
		t.Errorf("next queued or running: %q, want the running %q", got, ids[0])
	}
	if got := next(ids[0], jobs.StatusQueued, jobs.StatusRunning); got != "" {
		t.Errorf("next queued or running but the running one: %q", got)
	}
	if got := next("", jobs.StatusPending); got != ids[2] {
		t.Errorf("next pending: %q, want %q", got, ids[2])
	}
	if got := next("", jobs.StatusSucceeded); got != "" {
		t.Errorf("next succeeded: %q", got)
	}
	var seqs []string
	must(t, st.EachJobTask(ctx, j.ID, func(task *jobs.Task) error {
		seqs = append(seqs, fmt.Sprintf("%d:%s", task.Seq, task.Status))
		return nil
	}))
	if fmt.Sprint(seqs) != "[1:running 2:failed 3:pending]" {
		t.Errorf("each task %v", seqs)
	}
	stopErr := errors.New("stop")
	if err := st.EachJobTask(ctx, j.ID, func(*jobs.Task) error { return stopErr }); !errors.Is(err, stopErr) {
		t.Errorf("EachJobTask returned %v, want fn's error", err)
	}
	cancelled, err := st.CancelJobTasks(ctx, j.ID, now)
	must(t, err)
	if after, err := st.TaskByID(ctx, ids[2]); err != nil || cancelled != 1 || after.Status != jobs.StatusCancelled || after.FinishedAt == nil || after.Input != "" {
		t.Errorf("cancel tasks: %d cancelled, then %+v %v", cancelled, after, err)
	}
	// A failed task keeps its input (it may be retried); one that
	// succeeded drops it (it never runs again).
	if failedTask, err := st.TaskByID(ctx, ids[1]); err != nil || failedTask.Input != `[{"line":2}]` {
		t.Errorf("failed task %+v %v", failedTask, err)
	}
	done, err := st.TaskByID(ctx, ids[0])
	must(t, err)
	done.Status = jobs.StatusSucceeded
	must(t, st.UpdateTask(ctx, done))
	if done, err = st.TaskByID(ctx, ids[0]); err != nil || done.Input != "" || done.Status != jobs.StatusSucceeded {
		t.Errorf("succeeded task %+v %v", done, err)
	}
	if got := next("", jobs.StatusPending, jobs.StatusQueued); got != "" {
		t.Errorf("a task is left to run after the cancel: %q", got)
	}
	list, err := st.ListJobs(ctx, jobs.JobFilter{OrgID: org.ID, EnvID: env.ID, Type: jobs.TypeImport}, gatehouse.PageRequest{Page: 1, PerPage: 10})
	must(t, err)
	if list.Total != 1 {
		t.Errorf("%d jobs", list.Total)
	}
	// Sandboxes: a clock starts, then one claim of a due reset wins.
	sb := newEnv(t, st, proj, "sb", true)
	due, err := st.SandboxesToReset(ctx, now, now)
	must(t, err)
	if len(due) != 0 {
		t.Errorf("a sandbox never swept is due: %v", due)
	}
	later := now.Add(25 * time.Hour)
	due, err = st.SandboxesToReset(ctx, later.Add(-24*time.Hour), later)
	must(t, err)
	if len(due) != 1 || due[0].EnvID != sb.ID {
		t.Fatalf("due %v", due)
	}
	first, err := st.ClaimReset(ctx, sb.ID, later.Add(-24*time.Hour), later)
	must(t, err)
	second, err := st.ClaimReset(ctx, sb.ID, later.Add(-24*time.Hour), later)
	must(t, err)
	if !first || second {
		t.Errorf("reset claims %v %v", first, second)
	}
}

// testBulk: the bulk operations of imports, exports and copies.
func testBulk(t *testing.T, db *store.DB) {
	ctx := context.Background()
	st := db.Store()
	f, envID := factsEnv(t, st)
	must(t, f.EnsureDefaultTenant(ctx, envID))
	if _, err := f.CreateResource(ctx, envID, facts.ResourceInput{Key: "doc", Actions: []string{"read"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.CreateRole(ctx, envID, facts.RoleInput{Key: "viewer", Permissions: []string{"doc:read"}}); err != nil {
		t.Fatal(err)
	}
	var users []*facts.User
	for i := 0; i < 1000; i++ { // more than one multi-row statement
		users = append(users, &facts.User{ID: fmt.Sprintf("01a00000-0000-7000-8000-%012d", i), EnvID: envID, Key: fmt.Sprintf("u%d", i), Attributes: map[string]any{"i": i}, CreatedAt: now, UpdatedAt: now})
	}
	must(t, st.InFactsTx(ctx, envID, func(tx facts.Store) error { return tx.InsertUsers(ctx, users) }))
	byKey, err := st.UsersByKey(ctx, envID, []string{"u1", "u999", "nobody"})
	must(t, err)
	if len(byKey) != 2 || byKey["u999"].ID != users[999].ID || byKey["u1"].Attributes["i"] != 1.0 {
		t.Fatalf("users by key %v", byKey)
	}
	roles, err := st.RoleIDs(ctx, envID)
	must(t, err)
	tenants, err := st.TenantsByKey(ctx, envID, []string{"default"})
	must(t, err)
	mk := func(u int) facts.Assignment {
		return facts.Assignment{ID: fmt.Sprintf("01a00000-0000-7000-9000-%012d-%d", u, time.Now().UnixNano()), EnvID: envID, UserID: users[u].ID,
			RoleID: roles["viewer"], TenantID: tenants["default"].ID, CreatedAt: now}
	}
	var first []facts.Assignment
	for i := 0; i < 500; i++ {
		first = append(first, mk(i))
	}
	var ins map[string]bool
	must(t, st.InFactsTx(ctx, envID, func(tx facts.Store) error { ins, err = tx.InsertAssignments(ctx, first); return err }))
	if len(ins) != 500 {
		t.Fatalf("%d inserted, want 500", len(ins))
	}
	second := []facts.Assignment{mk(0), mk(499), mk(500)} // two exist already
	must(t, st.InFactsTx(ctx, envID, func(tx facts.Store) error { ins, err = tx.InsertAssignments(ctx, second); return err }))
	if len(ins) != 1 || !ins[second[2].ID] {
		t.Errorf("inserted %v, want only the new one", ins)
	}
	n, err := st.CountRows(ctx, envID, facts.KindRoleAssignment)
	must(t, err)
	if n != 501 {
		t.Errorf("%d assignments", n)
	}
	// The roles of a page of users, in one read: by user, then created_at;
	// users without assignments and unknown ids give nothing.
	of, err := st.AssignmentsOfUsers(ctx, envID, []string{users[500].ID, users[0].ID, users[999].ID, "nobody"})
	must(t, err)
	if len(of) != 2 || of[0].User != "u0" || of[1].User != "u500" || of[0].Role != "viewer" || of[1].Tenant != "default" || of[1].UserID != users[500].ID {
		t.Errorf("assignments of users: %+v", of)
	}
	if of, err := st.AssignmentsOfUsers(ctx, "another-env", []string{users[0].ID}); err != nil || len(of) != 0 {
		t.Errorf("assignments of users, another environment: %+v, %v", of, err)
	}
	bounds, err := st.IDBoundaries(ctx, envID, facts.KindUser, 300)
	must(t, err)
	if len(bounds) != 3 || bounds[0] != users[299].ID || bounds[2] != users[899].ID {
		t.Fatalf("boundaries %v", bounds)
	}
	rows, err := st.ExportRows(ctx, envID, facts.KindUser, bounds[0], bounds[1])
	must(t, err)
	if len(rows) != 300 || rows[0].Key != "u300" || rows[299].Key != "u599" {
		t.Errorf("range export: %d rows, %s…%s", len(rows), rows[0].Key, rows[len(rows)-1].Key)
	}
	rows, err = st.ExportRows(ctx, envID, facts.KindUser, bounds[2], "")
	must(t, err)
	if len(rows) != 100 {
		t.Errorf("open range: %d rows", len(rows))
	}
	arows, err := st.ExportRows(ctx, envID, facts.KindRoleAssignment, "", "")
	must(t, err)
	if len(arows) != 501 || arows[0].Role != "viewer" || arows[0].Tenant != "default" {
		t.Errorf("assignment rows: %d %+v", len(arows), arows[0])
	}
	must(t, st.InFactsTx(ctx, envID, func(tx facts.Store) error { return tx.ClearEnvironment(ctx, envID) }))
	for _, k := range facts.Kinds {
		n, err := st.CountRows(ctx, envID, k)
		must(t, err)
		if want := map[bool]int{true: 1, false: 0}[k == facts.KindTenant]; n != want {
			t.Errorf("%s: %d left after clearing", k, n)
		}
	}
}

// testMemberSignIn: setup links, passwords and sessions.
func testMemberSignIn(t *testing.T, db *store.DB) {
	ctx := context.Background()
	st := db.Store()
	svc := tenancy.NewService(st)
	org := newOrg(t, st, "acme")
	beta := newOrg(t, st, "beta")
	m, err := svc.CreateMember(ctx, org.ID, "Ada@Acme.example", "Ada", tenancy.RoleAdmin)
	must(t, err)
	_, err = svc.CreateMember(ctx, beta.ID, "ada@acme.example", "Ada", tenancy.RoleViewer)
	must(t, err)
	first, err := svc.NewSetupToken(ctx, m, "test")
	must(t, err)
	link, err := svc.NewSetupToken(ctx, m, "test") // the first one stops working
	must(t, err)
	if _, err := svc.SetupMember(ctx, first); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		t.Errorf("an older link still works: %v", err)
	}
	if got, err := svc.SetupMember(ctx, link); err != nil || got.ID != m.ID {
		t.Fatalf("setup member: %v %v", got, err)
	}
	wantCode(t, errOf(svc.UseSetupToken(ctx, link, "short")), gatehouse.CodeInvalidRequest)
	_, err = svc.UseSetupToken(ctx, link, "correct horse battery")
	must(t, err)
	wantCode(t, errOf(svc.UseSetupToken(ctx, link, "correct horse battery")), gatehouse.CodeNotFound) // once
	ms, err := svc.Authenticate(ctx, " ADA@acme.example ", "correct horse battery")
	must(t, err)
	if len(ms) != 1 || ms[0].ID != m.ID {
		t.Fatalf("authenticate: %v (the beta member has no password)", ms)
	}
	if ms, _ := svc.Authenticate(ctx, "ada@acme.example", "wrong password!"); len(ms) != 0 {
		t.Error("a wrong password authenticated")
	}
	// An expired link.
	late, err := svc.NewSetupToken(ctx, m, "test")
	must(t, err)
	svc.Now = func() time.Time { return time.Now().Add(tenancy.SetupTokenTTL + time.Minute) }
	if _, err := svc.SetupMember(ctx, late); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		t.Errorf("an expired link works: %v", err)
	}
	svc.Now = time.Now
	// Sessions; a new password ends them.
	sess := &tenancy.Session{TokenSHA256: tenancy.TokenHash("tok"), MemberID: m.ID, OrgID: org.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
	must(t, st.CreateSession(ctx, sess))
	sess.ProjectID, sess.EnvID = "p", "e"
	must(t, st.UpdateSession(ctx, sess))
	got, err := st.GetSession(ctx, sess.TokenSHA256)
	must(t, err)
	if got.EnvID != "e" || got.MemberID != m.ID {
		t.Errorf("session %+v", got)
	}
	must(t, svc.ChangePassword(ctx, org.ID, m.ID, "correct horse battery", "another good one"))
	_, err = st.GetSession(ctx, sess.TokenSHA256)
	wantCode(t, err, gatehouse.CodeNotFound)
	wantCode(t, svc.ChangePassword(ctx, org.ID, m.ID, "correct horse battery", "yet another one"), gatehouse.CodeInvalidRequest)
}

func errOf(_ any, err error) error { return err }
