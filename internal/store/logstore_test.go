package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
)

// The log database on both engines: batches larger than one INSERT, every
// filter, paging and org/env isolation.
func TestLogStore(t *testing.T) {
	t.Parallel()
	engines := map[string]func(t *testing.T) *store.DB{
		"sqlite": func(t *testing.T) *store.DB {
			db, err := store.OpenLogSQLite(context.Background(), storetest.NewLogSQLite(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		},
		"postgres": func(t *testing.T) *store.DB {
			main, err := store.OpenPostgres(context.Background(), storetest.NewPostgres(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { main.Close() })
			logs, err := main.Logs(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			// Migrating again is a no-op; the main schema is untouched.
			if _, err := main.Logs(context.Background()); err != nil {
				t.Fatal(err)
			}
			return logs
		},
	}
	for name, open := range engines {
		t.Run(name, func(t *testing.T) {
			st := open(t).LogStore()
			testLogStore(t, st)
			testAPILogStore(t, st)
			testCheckUsage(t, st)
			testCallUsage(t, st)
		})
	}
}

func testAPILogStore(t *testing.T, st *store.LogStore) {
	ctx := context.Background()
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	var calls []apilog.Call
	for i := range 1234 { // more than two export chunks
		c := apilog.Call{ID: fmt.Sprintf("c-%05d", i), Time: base.Add(time.Duration(i/2) * time.Second), RequestID: fmt.Sprintf("r-%d", i),
			OrganizationID: "org1", ActorType: "key", ActorID: fmt.Sprintf("k%d", i%3), ActorName: "ci", Method: []string{"GET", "POST"}[i%2],
			Route: "/v1/users/{user}", Path: fmt.Sprintf("/v1/users/u%d?x=%%_", i), Status: []int{200, 201, 404, 429, 500}[i%5], LatencyMicros: int64(i),
			ClientIP: "127.0.0.1", UserAgent: "test", RequestHeaders: map[string]string{"Accept": "application/json"}, RequestBody: `{"a":1}`, RequestSize: 7,
			ResponseBody: `{"status":"success"}`, ResponseSize: 20}
		if i%10 == 0 {
			c.ProjectID, c.EnvironmentID = "p1", "e1"
		}
		calls = append(calls, c)
	}
	other := apilog.Call{ID: "other", Time: base, OrganizationID: "org2", Method: "GET", Path: "/v1/users", Status: 200}
	if err := st.WriteAPILog(ctx, append(calls, other)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    apilog.Filter
		want int
	}{
		{"all", apilog.Filter{}, 1234},
		{"status", apilog.Filter{Status: 404}, 247},
		{"4xx", apilog.Filter{StatusClass: 4}, 494},
		{"2xx", apilog.Filter{StatusClass: 2}, 494},
		{"method", apilog.Filter{Method: "POST"}, 617},
		{"writes", apilog.Filter{Writes: true}, 617},
		{"writes of a path", apilog.Filter{Writes: true, PathPrefix: "/v1/users/u12"}, 5 + 17}, // the POSTs (odd): u121-u129, u1201-u1233
		{"actor", apilog.Filter{Actor: "k1"}, 411},
		{"path prefix", apilog.Filter{PathPrefix: "/v1/users/u12"}, 1 + 10 + 34}, // u12, u120-u129, u1200-u1233
		{"path prefix with LIKE characters", apilog.Filter{PathPrefix: "/v1/users/u1?x=%_"}, 1},
		{"no such path", apilog.Filter{PathPrefix: "/v1/roles"}, 0},
		{"request", apilog.Filter{RequestID: "r-77"}, 1},
		{"time range", apilog.Filter{Since: base.Add(10 * time.Second), Until: base.Add(20 * time.Second)}, 20},
		{"environment", apilog.Filter{ProjectID: "p1", EnvID: "e1"}, 124},
	}
	for _, tc := range tests {
		t.Run("api log "+tc.name, func(t *testing.T) {
			tc.f.OrgID = "org1"
			page, err := st.ListAPILog(ctx, tc.f, gatehouse.PageRequest{Page: 1, PerPage: 10, Sort: "timestamp", Desc: true})
			if err != nil {
				t.Fatal(err)
			}
			if page.Total != tc.want {
				t.Fatalf("total %d, want %d", page.Total, tc.want)
			}
			for _, c := range page.Items {
				if c.RequestBody != "" || c.RequestHeaders != nil {
					t.Fatal("the list carries bodies")
				}
			}
			// By cursor, in each documented sort, the walk sees every
			// entry once.
			for _, sort := range []string{"timestamp", "status", "latency"} {
				n := walkLog(t, func(cursor string) (gatehouse.Page[apilog.Call], error) {
					return st.ListAPILog(ctx, tc.f, gatehouse.PageRequest{PerPage: 97, Sort: sort, Desc: true, Cursor: cursor})
				}, func(c *apilog.Call) string { return c.ID })
				if n != tc.want {
					t.Fatalf("by cursor sorted by %s: %d entries, want %d", sort, n, tc.want)
				}
			}
		})
	}
	got, err := st.GetAPILog(ctx, apilog.Filter{OrgID: "org1"}, "c-00042")
	if err != nil {
		t.Fatal(err)
	}
	if want := calls[42]; fmt.Sprint(*got) != fmt.Sprint(want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", *got, want)
	}
	if _, err := st.GetAPILog(ctx, apilog.Filter{OrgID: "org1"}, "other"); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		t.Fatalf("another organization's call: %v", err)
	}
	if _, err := st.GetAPILog(ctx, apilog.Filter{OrgID: "org1", EnvID: "e1"}, "c-00041"); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		t.Fatalf("another environment's call: %v", err)
	}
	var seen []string
	err = st.ExportAPILog(ctx, apilog.Filter{OrgID: "org1"}, func(c *apilog.Call) error {
		seen = append(seen, c.ID)
		if c.RequestHeaders["Accept"] != "application/json" {
			return fmt.Errorf("export without headers: %+v", c)
		}
		return nil
	})
	if err != nil || len(seen) != 1234 || seen[0] != "c-00000" || seen[1233] != "c-01233" {
		t.Fatalf("export: %d entries, %v", len(seen), err)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("export out of order or repeated at %d: %s after %s", i, seen[i], seen[i-1])
		}
	}
	if n, err := st.PruneAPILog(ctx, "org1", base.Add(100*time.Second)); err != nil || n != 200 {
		t.Fatalf("prune: %d %v", n, err)
	}
}

func testLogStore(t *testing.T, st *store.LogStore) {
	ctx := context.Background()
	base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	var entries []decision.Entry
	for i := range 1203 { // more than two INSERTs' worth
		e := decision.Entry{ID: fmt.Sprintf("d-%05d", i), OrganizationID: "org1", ProjectID: "p1", EnvironmentID: "env1",
			Time: base.Add(time.Duration(i) * time.Second), Source: decision.SourceAPI, RequestID: fmt.Sprintf("req-%d", i/3), KeyID: "k1",
			User: fmt.Sprintf("user-%d", i%10), Action: "read", ResourceType: "document", Tenant: "default", Allow: i%2 == 0,
			Reason: "granted", Role: "reader"}
		if !e.Allow {
			e.Reason, e.Role = "not_granted", ""
		}
		entries = append(entries, e)
	}
	other := decision.Entry{ID: "other", OrganizationID: "org2", ProjectID: "p2", EnvironmentID: "env1", Time: base, Source: decision.SourcePDP,
		User: "user-1", Action: "read", ResourceType: "document", Tenant: "default", Reason: "unknown_user"}
	if err := st.WriteDecisions(ctx, append(entries, other)); err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	tests := []struct {
		name string
		f    decision.Filter
		want int
	}{
		{"all", decision.Filter{}, 1203},
		{"user", decision.Filter{User: "user-3"}, 120},
		{"allowed", decision.Filter{Allow: &yes}, 602},
		{"denied", decision.Filter{Allow: &no, Reason: "not_granted"}, 601},
		{"role", decision.Filter{Role: "reader"}, 602},
		{"request", decision.Filter{RequestID: "req-7"}, 3},
		{"source pdp", decision.Filter{Source: decision.SourcePDP}, 0},
		{"since", decision.Filter{Since: base.Add(1200 * time.Second)}, 3},
		{"until", decision.Filter{Until: base.Add(10 * time.Second)}, 10},
		{"resource+action+tenant", decision.Filter{Resource: "document", Action: "read", Tenant: "default"}, 1203},
		{"no such resource", decision.Filter{Resource: "invoice"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.OrgID, tc.f.EnvID = "org1", "env1"
			page, err := st.ListDecisions(ctx, tc.f, gatehouse.PageRequest{Page: 1, PerPage: 5, Sort: "timestamp", Desc: true})
			if err != nil {
				t.Fatal(err)
			}
			if page.Total != tc.want || len(page.Items) != min(5, tc.want) {
				t.Fatalf("total %d (%d items), want %d", page.Total, len(page.Items), tc.want)
			}
			for i := 1; i < len(page.Items); i++ {
				if page.Items[i].Time.After(page.Items[i-1].Time) {
					t.Fatal("not newest first")
				}
			}
			for _, sort := range []string{"timestamp", "user"} {
				n := walkLog(t, func(cursor string) (gatehouse.Page[decision.Entry], error) {
					return st.ListDecisions(ctx, tc.f, gatehouse.PageRequest{PerPage: 50, Sort: sort, Desc: sort == "timestamp", Cursor: cursor})
				}, func(e *decision.Entry) string { return e.ID })
				if n != tc.want {
					t.Fatalf("by cursor sorted by %s: %d entries, want %d", sort, n, tc.want)
				}
			}
		})
	}
	// A cursor of another environment's decisions is refused.
	first, err := st.ListDecisions(ctx, decision.Filter{OrgID: "org1", EnvID: "env1"}, gatehouse.PageRequest{PerPage: 5, Cursor: store.StartCursor})
	if err != nil || first.NextCursor == "" {
		t.Fatalf("first page by cursor: %v, %v", first.NextCursor, err)
	}
	if _, err := st.ListDecisions(ctx, decision.Filter{OrgID: "org2", EnvID: "env1"}, gatehouse.PageRequest{PerPage: 5, Cursor: first.NextCursor}); gatehouse.ErrorCode(err) != gatehouse.CodeInvalidRequest {
		t.Fatalf("another organization's cursor: %v", err)
	}
	got, err := st.GetDecision(ctx, "org1", "env1", "d-00007")
	if err != nil {
		t.Fatal(err)
	}
	if want := entries[7]; *got != want {
		t.Fatalf("round trip:\n got %+v\nwant %+v", *got, want)
	}
	if _, err := st.GetDecision(ctx, "org1", "env1", "other"); gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		t.Fatalf("another organization's decision: %v", err)
	}
	if _, err := st.ListDecisions(ctx, decision.Filter{OrgID: "org1", EnvID: "env1"}, gatehouse.PageRequest{Page: 1, PerPage: 5, Sort: "nope"}); gatehouse.ErrorCode(err) != gatehouse.CodeInvalidRequest {
		t.Fatalf("bad sort: %v", err)
	}
	// Retention: only the organization's entries before the cut go.
	n, err := st.PruneDecisions(ctx, "org1", base.Add(600*time.Second))
	if err != nil || n != 600 {
		t.Fatalf("prune: %d, %v; want 600", n, err)
	}
	page, err := st.ListDecisions(ctx, decision.Filter{OrgID: "org1", EnvID: "env1"}, gatehouse.PageRequest{Page: 1, PerPage: 1, Sort: "timestamp"})
	if err != nil || page.Total != 603 || !page.Items[0].Time.Equal(base.Add(600*time.Second)) {
		t.Fatalf("after prune: %d entries, first %v, %v", page.Total, page.Items, err)
	}
	if _, err := st.GetDecision(ctx, "org2", "env1", "other"); err != nil {
		t.Fatalf("another organization's entry was pruned: %v", err)
	}
}

// BenchmarkWriteDecisions is how fast the log database takes decision log
// entries, in batches of 1,000 as the recorder writes them, on each engine,
// counted per minute, hour and day as shipped (SQLite: by the writer in its
// transaction; PostgreSQL: by the statement trigger on decision_log).
func BenchmarkWriteDecisions(b *testing.B) {
	for _, engine := range []string{store.SQLite, store.Postgres} {
		b.Run(engine, func(b *testing.B) {
			st := openLogDB(b, engine).LogStore()
			batch := make([]decision.Entry, 1000)
			n := 0
			benchWrites(b, len(batch), func() {
				for i := range batch {
					n++
					batch[i] = decision.Entry{ID: fmt.Sprintf("d-%09d", n), OrganizationID: "org1", ProjectID: "p1", EnvironmentID: "env1", Time: time.Now(),
						Source: decision.SourceAPI, RequestID: "req", KeyID: "k1", User: "user-1", Action: "read", ResourceType: "document", Tenant: "default",
						Allow: n%10 == 0, Reason: "granted", Role: "reader"}
				}
				if err := st.WriteDecisions(context.Background(), batch); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// BenchmarkWriteAPILog is how fast the log database takes API log entries
// (small bodies, a few headers), in batches of 1,000 (sqlite-partial: 137,
// a batch that is not full, as a quiet server's), on each engine, with
// the calls counted per minute and hour as shipped (SQLite: by the writer
// in its transaction; PostgreSQL: by the statement trigger on api_log).
// On PostgreSQL "uncounted" drops the trigger first, for the cost of the
// counts in the same run:
//
//	go test ./internal/store -run XXX -bench WriteAPILog -benchmem
func BenchmarkWriteAPILog(b *testing.B) {
	for _, name := range []string{"sqlite", "sqlite-partial", "postgres", "postgres-uncounted"} {
		b.Run(name, func(b *testing.B) {
			engine, rows := store.SQLite, 1000
			if strings.HasPrefix(name, "postgres") {
				engine = store.Postgres
			}
			db := openLogDB(b, engine)
			if name == "postgres-uncounted" {
				if _, err := db.Writer().ExecContext(context.Background(), "DROP TRIGGER IF EXISTS api_log_call_usage ON api_log"); err != nil {
					b.Fatal(err)
				}
			}
			if name == "sqlite-partial" {
				rows = 137
			}
			benchWriteAPILog(b, db.LogStore(), rows)
		})
	}
}

func benchWriteAPILog(b *testing.B, st *store.LogStore, rows int) {
	batch := make([]apilog.Call, rows)
	n := 0
	benchWrites(b, rows, func() {
		for i := range batch {
			n++
			batch[i] = apilog.Call{ID: fmt.Sprintf("c-%09d", n), Time: time.Now(), RequestID: "0123456789abcdef01234567", OrganizationID: "org1",
				ProjectID: "p1", EnvironmentID: "e1", ActorType: "key", ActorID: fmt.Sprintf("01a20583-ec90-795c-81f0-105ccf2352c%d", n%7), ActorName: "ci",
				Method: "POST", Route: "/v1/allowed", Path: "/v1/allowed", Status: []int{200, 200, 200, 404, 500}[n%5], LatencyMicros: 40, ClientIP: "127.0.0.1", UserAgent: "Go-http-client/1.1",
				RequestHeaders: map[string]string{"Authorization": "[REDACTED]", "Content-Type": "application/json", "User-Agent": "Go-http-client/1.1"},
				RequestBody:    `{"user":"user-1","action":"read","resource":{"type":"document","tenant":"t-1"}}`, RequestSize: 80,
				ResponseBody: `{"status":"success","data":{"allow":true,"reason":"granted","role":"reader","tenant":"t-1","explanation":"user \"user-1\" has role \"reader\""},"meta":{"request_id":"0123456789abcdef01234567","timestamp":"2026-11-22T23:07:41.736Z"}}`,
				ResponseSize: 230}
		}
		if err := st.WriteAPILog(context.Background(), batch); err != nil {
			b.Fatal(err)
		}
	})
}

// benchWrites runs write (rows rows) b.N times and reports the process's
// CPU per row and the rows written a second.
func benchWrites(b *testing.B, rows int, write func()) {
	b.ReportAllocs()
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	for b.Loop() {
		write()
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano()
	b.ReportMetric(float64(cpu)/1e3/float64(b.N*rows), "cpu-us/row")
	b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
}

// testCheckUsage: counts add up per key and minute across flushes (two
// nodes' flushes of one minute land in one row), buckets sum them, and
// pruning and the filters keep to their organization, environment and key.
func testCheckUsage(t *testing.T, st *store.LogStore) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cell := func(env, key string) usage.Cell {
		return usage.Cell{OrgID: "o1", ProjectID: "p1", EnvID: env, KeyID: key}
	}
	rows := []usage.Row{
		{Cell: cell("e1", "k1"), Minute: t0, Allowed: 3, Denied: 1},
		{Cell: cell("e1", "k2"), Minute: t0, Allowed: 1},
		{Cell: cell("e1", "k1"), Minute: t0.Add(time.Minute), Denied: 2},
		{Cell: cell("e1", "k1"), Minute: t0.Add(90 * time.Minute), Allowed: 5},
		{Cell: cell("e2", "k3"), Minute: t0, Allowed: 100},
	}
	if err := st.AddCheckUsage(ctx, rows); err != nil {
		t.Fatal(err)
	}
	// Another node's flush of the same minute adds to the row.
	if err := st.AddCheckUsage(ctx, []usage.Row{{Cell: cell("e1", "k1"), Minute: t0, Allowed: 10}}); err != nil {
		t.Fatal(err)
	}
	hours, err := st.CheckUsage(ctx, "o1", "e1", "", t0, t0.Add(3*time.Hour), time.Hour, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []usage.Bucket{{Start: t0, Allowed: 14, Denied: 3}, {Start: t0.Add(time.Hour), Allowed: 5}}
	if !reflect.DeepEqual(hours, want) {
		t.Fatalf("hours: %+v, want %+v", hours, want)
	}
	byKey, err := st.CheckUsage(ctx, "o1", "e1", "", t0, t0.Add(time.Hour), time.Minute, true)
	if err != nil {
		t.Fatal(err)
	}
	want = []usage.Bucket{{Start: t0, KeyID: "k1", Allowed: 13, Denied: 1}, {Start: t0, KeyID: "k2", Allowed: 1}, {Start: t0.Add(time.Minute), KeyID: "k1", Denied: 2}}
	if !reflect.DeepEqual(byKey, want) {
		t.Fatalf("by key: %+v, want %+v", byKey, want)
	}
	one, err := st.CheckUsage(ctx, "o1", "e1", "k2", t0, t0.Add(time.Hour), time.Hour, false)
	if err != nil || len(one) != 1 || one[0].Allowed != 1 {
		t.Fatalf("key k2: %+v %v", one, err)
	}
	other, err := st.CheckUsage(ctx, "o2", "e2", "", t0, t0.Add(time.Hour), time.Hour, false)
	if err != nil || len(other) != 0 {
		t.Fatalf("another organization's: %+v %v", other, err)
	}
	n, err := st.PruneCheckUsage(ctx, "o1", t0.Add(time.Hour))
	if err != nil || n != 4 {
		t.Fatalf("pruned %d, %v; want 4", n, err)
	}
	left, err := st.CheckUsage(ctx, "o1", "e1", "", t0, t0.Add(3*time.Hour), time.Hour, false)
	if err != nil || len(left) != 1 || left[0].Allowed != 5 {
		t.Fatalf("after pruning: %+v %v", left, err)
	}
}

// walkLog pages through a list by cursor and counts its items, failing on
// a repeat.
func walkLog[T any](t *testing.T, list func(cursor string) (gatehouse.Page[T], error), id func(*T) string) int {
	t.Helper()
	seen := map[string]bool{}
	cursor := store.StartCursor
	for {
		page, err := list(cursor)
		if err != nil {
			t.Fatal(err)
		}
		for i := range page.Items {
			k := id(&page.Items[i])
			if seen[k] {
				t.Fatalf("%s seen twice", k)
			}
			seen[k] = true
		}
		if page.NextCursor == "" {
			return len(seen)
		}
		cursor = page.NextCursor
	}
}

// TestWriteAPILogBatchSizes writes batches of sizes around the INSERTs'
// row counts (SQLite splits what is not a full INSERT into prepared
// INSERTs of powers of two) and finds every entry once, with its counts.
func TestWriteAPILogBatchSizes(t *testing.T) {
	ctx := context.Background()
	db, err := store.OpenLogSQLite(ctx, filepath.Join(t.TempDir(), "logs.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st := db.LogStore()
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	total := 0
	for _, size := range []int{1, 2, 3, 127, 199, 200, 201, 455, 1000} {
		batch := make([]apilog.Call, size)
		for i := range batch {
			total++
			batch[i] = apilog.Call{ID: fmt.Sprintf("c-%06d", total), Time: at.Add(time.Duration(total) * time.Millisecond), RequestID: fmt.Sprintf("r-%d", total),
				OrganizationID: "org1", ActorID: "k1", Method: "GET", Path: "/v1/me", Status: 200}
		}
		if err := st.WriteAPILog(ctx, batch); err != nil {
			t.Fatalf("batch of %d: %v", size, err)
		}
	}
	seen := map[string]bool{}
	err = st.ExportAPILog(ctx, apilog.Filter{OrgID: "org1"}, func(c *apilog.Call) error {
		if seen[c.ID] {
			t.Errorf("%s twice", c.ID)
		}
		seen[c.ID] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != total {
		t.Fatalf("%d entries, want %d", len(seen), total)
	}
	var counted int
	if err := db.Writer().QueryRowContext(ctx, "SELECT SUM(calls) FROM api_call_usage WHERE org_id = 'org1'").Scan(&counted); err != nil {
		t.Fatal(err)
	}
	if counted != total {
		t.Fatalf("%d calls counted, want %d", counted, total)
	}
}
