package store_test

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/batch"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
	"github.com/pressly/goose/v3"
)

// logRows reads back every row of the organizations.
func logRows(t *testing.T, st *store.LogStore, orgs ...string) []apilog.Call {
	t.Helper()
	var out []apilog.Call
	for _, org := range orgs {
		if err := st.ExportAPILog(context.Background(), apilog.Filter{OrgID: org}, func(c *apilog.Call) error {
			out = append(out, *c)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// countCalls is CallUsage computed here from the rows themselves (read
// back from the log): the answer the per-minute counts must give.
func countCalls(rows []apilog.Call, f apilog.Filter, since, until time.Time, width time.Duration, by usage.CallGrouping) []usage.CallBucket {
	type cell struct {
		b      int64
		class  int
		status string
		key    string
	}
	counts := map[cell]int64{}
	for i := range rows {
		c := &rows[i]
		if c.OrganizationID != f.OrgID || (f.ProjectID != "" && c.ProjectID != f.ProjectID) || (f.EnvID != "" && c.EnvironmentID != f.EnvID) ||
			c.Time.Before(since) || !c.Time.Before(until) {
			continue
		}
		k := cell{b: int64(c.Time.Sub(since) / width)}
		if by.Status {
			k.class, k.status = c.Status/100, fmt.Sprintf("%dxx", c.Status/100)
		}
		if by.Key {
			k.key = c.ActorID
		}
		counts[k]++
	}
	cells := make([]cell, 0, len(counts))
	for c := range counts {
		cells = append(cells, c)
	}
	slices.SortFunc(cells, func(a, b cell) int {
		return cmp.Or(cmp.Compare(a.b, b.b), cmp.Compare(a.class, b.class), strings.Compare(a.key, b.key))
	})
	var out []usage.CallBucket
	for _, c := range cells {
		out = append(out, usage.CallBucket{Start: since.Add(time.Duration(c.b) * width), Status: c.status, KeyID: c.key, Calls: counts[c]})
	}
	return out
}

// checkCallUsage compares CallUsage with the rows' own count over the
// windows the API serves (minutes, hours, days; since on a bucket, until
// within a minute), every grouping and every scope.
func checkCallUsage(t *testing.T, st *store.LogStore, step string, now time.Time) {
	t.Helper()
	windows := []struct {
		width time.Duration
		span  time.Duration
	}{{time.Minute, 6 * time.Hour}, {time.Hour, 3 * 24 * time.Hour}, {24 * time.Hour, 5 * 24 * time.Hour}, {time.Hour, 90 * time.Minute}}
	scopes := []apilog.Filter{{OrgID: "o1"}, {OrgID: "o1", ProjectID: "p1"}, {OrgID: "o1", ProjectID: "p1", EnvID: "e1"}, {OrgID: "o1", ProjectID: "p2", EnvID: "e3"}, {OrgID: "o2"}}
	groupings := []usage.CallGrouping{{Status: true}, {Key: true}, {Status: true, Key: true}, {}}
	checked := 0
	rows := logRows(t, st, "o1", "o2")
	for _, w := range windows {
		for _, until := range []time.Time{now, now.Truncate(time.Minute), now.Add(-5 * time.Hour).Add(17 * time.Second)} {
			since := until.Add(-w.span).UTC().Truncate(w.width)
			for _, f := range scopes {
				for _, by := range groupings {
					got, err := st.CallUsage(context.Background(), f, since, until, w.width, by)
					if err != nil {
						t.Fatalf("%s: %v", step, err)
					}
					want := countCalls(rows, f, since, until, w.width, by)
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("%s: %+v from %v to %v by %v, %+v:\n got %+v\nwant %+v", step, f, since, until, w.width, by, got, want)
					}
					checked += len(want)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatalf("%s: no calls in any window", step)
	}
	// Every level's cells, the days' too (which CallUsage does not read:
	// the API log's deep pages do), against the rows.
	if d, err := st.CallCountsDisagree(context.Background()); err != nil || d != "" {
		t.Fatalf("%s: %s %v", step, d, err)
	}
}

// ci: norace
// TestCallUsageRollup: the per-minute counts of API calls, written by the
// API log's real batch writer, give the same answers as counting the rows
// themselves, on both engines: after writes across organizations,
// projects, environments, callers and statuses (with a row the database
// refuses, whose counts must not stay), after retention cuts the log in
// the middle of a minute and exactly on an hour, and after rows that
// arrive late into minutes already counted.
func TestCallUsageRollup(t *testing.T) {
	t.Parallel()
	for name, open := range logEngines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := open(t).LogStore()
			ctx := context.Background()
			quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
			now := time.Date(2026, 12, 3, 15, 42, 37, 250_000_000, time.UTC)
			rnd := rand.New(rand.NewPCG(18, 6))
			n := 0
			call := func(at time.Time) apilog.Call {
				n++
				scope := [][3]string{{"o1", "p1", "e1"}, {"o1", "p1", "e2"}, {"o1", "p2", "e3"}, {"o1", "", ""}, {"o2", "p9", "e9"}}[rnd.IntN(5)]
				return apilog.Call{ID: fmt.Sprintf("ru-%05d", n), Time: at, RequestID: fmt.Sprintf("r%d", n), OrganizationID: scope[0], ProjectID: scope[1],
					EnvironmentID: scope[2], ActorType: "key", ActorID: []string{"ka", "kb", "kc", "md", "ke"}[rnd.IntN(5)], Method: "POST", Route: "/v1/users",
					Path: "/v1/users", Status: []int{200, 201, 204, 302, 400, 404, 429, 500, 503}[rnd.IntN(9)]}
			}
			write := func(calls []apilog.Call, wantLost int) {
				t.Helper()
				w := batch.New("API log", st.WriteAPILog, quiet, batch.Options[apilog.Call]{Batch: 250,
					Prepare: func(cs []apilog.Call) {
						for i := range cs {
							apilog.Sanitize(&cs[i])
						}
					}})
				for _, c := range calls {
					w.Add(c)
				}
				drain(w)
				if w.Lost() != uint64(wantLost) {
					t.Fatalf("lost %d, want %d", w.Lost(), wantLost)
				}
			}

			// 4,000 calls over the last 4 days, denser in the last hours.
			var calls []apilog.Call
			for i := range 4000 {
				back := time.Duration(rnd.Int64N(int64(4 * 24 * time.Hour)))
				if i%2 == 0 {
					back = time.Duration(rnd.Int64N(int64(6 * time.Hour)))
				}
				calls = append(calls, call(now.Add(-back)))
			}
			// Some in the minute now falls in, and one at its very start.
			calls = append(calls, call(now.Add(-time.Second)), call(now.Truncate(time.Minute)), call(now.Add(-30*time.Second)))
			// Retention will cut the log in the middle of a minute: o1's
			// calls on both sides of the cut.
			cut := now.Add(-3*24*time.Hour - 20*time.Second)
			for _, d := range []time.Duration{-5 * time.Second, -time.Second, 0, 3 * time.Second} {
				c := call(cut.Add(d))
				c.OrganizationID, c.ProjectID, c.EnvironmentID = "o1", "p1", "e1"
				calls = append(calls, c)
			}
			// And later exactly on an hour (so on a minute too): o1's
			// calls on both sides of it and on it.
			aligned := now.Add(-2 * 24 * time.Hour).Truncate(time.Hour)
			for _, d := range []time.Duration{-time.Second, 0, 0, time.Second, 61 * time.Second} {
				c := call(aligned.Add(d))
				c.OrganizationID, c.ProjectID, c.EnvironmentID = "o1", "p1", "e1"
				calls = append(calls, c)
			}
			dup := calls[100]
			dup.Time = now.Add(-time.Hour) // another minute, so a kept count would show
			calls = append(calls, dup)     // refused (its id is stored): lost with its count
			write(calls, 1)
			checkCallUsage(t, st, "written", now)

			// Retention cuts the log in the middle of a minute.
			if _, err := st.PruneAPILog(ctx, "o1", cut); err != nil {
				t.Fatal(err)
			}
			checkCallUsage(t, st, "pruned", now)
			// Retention cuts it exactly on an hour: the hour and the
			// minute from the cut on keep their counts.
			if _, err := st.PruneAPILog(ctx, "o1", aligned); err != nil {
				t.Fatal(err)
			}
			checkCallUsage(t, st, "pruned on the hour", now)

			// Late rows: into minutes already counted, and into the one the
			// cut fell in.
			var late []apilog.Call
			for range 300 {
				late = append(late, call(now.Add(-time.Duration(rnd.Int64N(int64(5*time.Hour))))))
			}
			late = append(late, call(cut.Add(10*time.Second)))
			write(late, 0)
			checkCallUsage(t, st, "late rows", now)

			// The whole organization pruned: nothing left to count.
			if _, err := st.PruneAPILog(ctx, "o2", now.AddDate(100, 0, 0)); err != nil {
				t.Fatal(err)
			}
			if got, err := st.CallUsage(ctx, apilog.Filter{OrgID: "o2"}, now.Add(-5*24*time.Hour).Truncate(24*time.Hour), now, 24*time.Hour, usage.CallGrouping{}); err != nil || len(got) != 0 {
				t.Fatalf("o2 after pruning it all: %+v %v", got, err)
			}
		})
	}
}

// ci: norace
// TestCallUsageRollupBackfill: a log database from before the per-minute
// counts gets them for the calls it already holds when it is migrated,
// so the usage charts keep their history.
func TestCallUsageRollupBackfill(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "logs.db")
	old := fstest.MapFS{}
	for _, name := range []string{"00001_decisions.sql", "00002_api_log.sql", "00003_decision_uploaded_by.sql", "00004_check_usage.sql", "00005_list_indexes.sql"} {
		b, err := os.ReadFile(filepath.Join("logmigrations", "common", name))
		if err != nil {
			t.Fatal(err)
		}
		old[name] = &fstest.MapFile{Data: b}
	}
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, raw, old, goose.WithTableName("goose_log_version"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 15, 42, 37, 0, time.UTC)
	const insert = `INSERT INTO api_log (id, org_id, project_id, env_id, created_at, request_id, actor_type, actor_id, actor_name, method, route, path,
		status, error_code, latency_us, client_ip, user_agent, request_headers, request_body, request_size, request_truncated, response_body,
		response_size, response_truncated) VALUES (?, 'o1', ?, ?, ?, '', 'key', ?, '', 'GET', '/v1/me', '/v1/me', ?, '', 0, '', '', '{}', '', 0, false, '', 0, false)`
	for i := range 500 {
		at := now.Add(-time.Duration(i) * 37 * time.Second)
		env := []string{"e1", "e2"}[i%2]
		if _, err := raw.ExecContext(ctx, insert, fmt.Sprintf("b-%d", i), "p1", env, at.UnixMicro(), []string{"ka", "kb", "kc"}[i%3], []int{200, 404, 500, 201}[i%4]); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	db, err := store.OpenLogSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st := db.LogStore()
	rows := logRows(t, st, "o1")
	for _, f := range []apilog.Filter{{OrgID: "o1"}, {OrgID: "o1", ProjectID: "p1", EnvID: "e2"}} {
		for _, width := range []time.Duration{time.Minute, time.Hour} {
			since := now.Add(-6 * time.Hour).Truncate(width)
			by := usage.CallGrouping{Status: true, Key: true}
			got, err := st.CallUsage(ctx, f, since, now, width, by)
			if err != nil {
				t.Fatal(err)
			}
			if want := countCalls(rows, f, since, now, width, by); len(want) == 0 || !reflect.DeepEqual(got, want) {
				t.Fatalf("%+v by %v after the migration:\n got %+v\nwant %+v", f, width, got, want)
			}
		}
	}
	// The days, backfilled from the hours (log migration 00010).
	if d, err := st.CallCountsDisagree(ctx); err != nil || d != "" {
		t.Fatalf("after the migrations: %s %v", d, err)
	}
	// The counts come from the table, not the log: with the rows gone
	// behind the store's back, whole minutes still count them.
	if _, err := db.Writer().ExecContext(ctx, "DELETE FROM api_log"); err != nil {
		t.Fatal(err)
	}
	got, err := st.CallUsage(ctx, apilog.Filter{OrgID: "o1"}, now.Add(-6*time.Hour).Truncate(time.Hour), now.Truncate(time.Minute), time.Hour, usage.CallGrouping{})
	var total int64
	for _, b := range got {
		total += b.Calls
	}
	if err != nil || total != 500-2 { // the 2 rows of the minute now falls in are after until
		t.Fatalf("backfilled counts: %d calls, %v; want 498", total, err)
	}
	// Counting the log alone is one store's setting (benchmarks): another
	// store of the same database keeps reading the counts.
	scan := db.LogStore()
	scan.SetCallRollup(false)
	if got, err := scan.CallUsage(ctx, apilog.Filter{OrgID: "o1"}, now.Add(-6*time.Hour).Truncate(time.Hour), now, time.Hour, usage.CallGrouping{}); err != nil || len(got) != 0 {
		t.Fatalf("the log alone, emptied: %+v, %v", got, err)
	}
	if got, err := st.CallUsage(ctx, apilog.Filter{OrgID: "o1"}, now.Add(-6*time.Hour).Truncate(time.Hour), now.Truncate(time.Minute), time.Hour, usage.CallGrouping{}); err != nil || len(got) == 0 {
		t.Fatalf("the other store read the log alone too: %+v, %v", got, err)
	}
}

// TestCallUsageCountsOldNodesRows: on a PostgreSQL log shared during a
// rolling upgrade, nodes of the version before the counts insert api_log
// rows with plain INSERTs (several rows a statement, several statements a
// transaction, and one row at a time) and never count them; the database
// counts them, exactly once beside the new writer's rows, and a
// transaction rolled back leaves no count.
func TestCallUsageCountsOldNodesRows(t *testing.T) {
	t.Parallel()
	db := logEngines["postgres"](t)
	st, ctx := db.LogStore(), context.Background()
	now := time.Date(2026, 12, 3, 15, 42, 37, 0, time.UTC)
	const cols = `INSERT INTO api_log (id, org_id, project_id, env_id, created_at, request_id, actor_type, actor_id, actor_name, method, route, path,
		status, error_code, latency_us, client_ip, user_agent, request_headers, request_body, request_size, request_truncated, response_body,
		response_size, response_truncated) VALUES `
	const row = `($%d, 'o1', 'p1', $%d, $%d, '', 'key', $%d, '', 'GET', '/v1/me', '/v1/me', $%d, '', 0, '', '', '{}', '', 0, false, '', 0, false)`
	n := 0
	insert := func(ex interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	}, rows int) {
		t.Helper()
		q, args := cols, []any{}
		for i := range rows {
			n++
			if i > 0 {
				q += ","
			}
			k := len(args)
			q += fmt.Sprintf(row, k+1, k+2, k+3, k+4, k+5)
			at := now.Add(-time.Duration(n) * 47 * time.Second)
			args = append(args, fmt.Sprintf("old-%d", n), []string{"e1", "e2"}[n%2], at.UnixMicro(), []string{"ka", "kb"}[n%2], []int{200, 404, 200, 500, 201}[n%5])
		}
		if _, err := ex.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := db.Writer().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		insert(tx, 200) // an old node's batch: 200 rows an INSERT
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		insert(db.Writer(), 1) // its row-by-row fallback
	}
	// The new writer, through the same trigger.
	var calls []apilog.Call
	for i := range 300 {
		calls = append(calls, apilog.Call{ID: fmt.Sprintf("new-%d", i), Time: now.Add(-time.Duration(i) * 61 * time.Second), OrganizationID: "o1",
			ProjectID: "p1", EnvironmentID: "e1", ActorType: "key", ActorID: "ka", Status: 200})
	}
	if err := st.WriteAPILog(ctx, calls); err != nil {
		t.Fatal(err)
	}
	// Rolled back: neither the rows nor their counts stay.
	tx, err = db.Writer().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	insert(tx, 50)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}

	rows := logRows(t, st, "o1")
	if len(rows) != 605+300 {
		t.Fatalf("%d rows logged, want 905", len(rows))
	}
	until := now.Truncate(time.Minute) // whole minutes: the counts alone
	for _, f := range []apilog.Filter{{OrgID: "o1"}, {OrgID: "o1", ProjectID: "p1", EnvID: "e2"}} {
		for _, width := range []time.Duration{time.Minute, time.Hour, 24 * time.Hour} {
			since := now.Add(-20 * time.Hour).Truncate(width)
			by := usage.CallGrouping{Status: true, Key: true}
			got, err := st.CallUsage(ctx, f, since, until, width, by)
			if err != nil {
				t.Fatal(err)
			}
			if want := countCalls(rows, f, since, until, width, by); len(want) == 0 || !reflect.DeepEqual(got, want) {
				t.Fatalf("%+v by %v:\n got %+v\nwant %+v", f, width, got, want)
			}
		}
	}
	// The days too (read by the API log's deep pages, not CallUsage).
	if d, err := st.CallCountsDisagree(ctx); err != nil || d != "" {
		t.Fatalf("%s %v", d, err)
	}
	// The counts come from the tables, not the log: with the rows gone
	// behind the store's back, they still count every one once.
	if _, err := db.Writer().ExecContext(ctx, "DELETE FROM api_log"); err != nil {
		t.Fatal(err)
	}
	got, err := st.CallUsage(ctx, apilog.Filter{OrgID: "o1"}, now.Add(-24*time.Hour).Truncate(time.Hour), until, time.Hour, usage.CallGrouping{})
	var total int64
	for _, b := range got {
		total += b.Calls
	}
	if err != nil || total != 904 { // one new row is at now, after until
		t.Fatalf("counted %d calls, %v; want 904", total, err)
	}
}

// ci: norace
// TestCallUsageRollupBackfillPostgres: a PostgreSQL log from before the
// counts gets them for the calls it holds when the new version migrates
// it, and from then on the trigger counts the rows an old node inserts,
// each once (none counted twice by the backfill and the trigger).
func TestCallUsageRollupBackfillPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	old := fstest.MapFS{}
	for _, name := range []string{"00001_decisions.sql", "00002_api_log.sql", "00003_decision_uploaded_by.sql", "00004_check_usage.sql", "00005_list_indexes.sql"} {
		b, err := os.ReadFile(filepath.Join("logmigrations", "common", name))
		if err != nil {
			t.Fatal(err)
		}
		old[name] = &fstest.MapFile{Data: b}
	}
	raw, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, raw, old, goose.WithTableName("goose_log_version"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 3, 15, 42, 37, 0, time.UTC)
	const insert = `INSERT INTO api_log (id, org_id, project_id, env_id, created_at, request_id, actor_type, actor_id, actor_name, method, route, path,
		status, error_code, latency_us, client_ip, user_agent, request_headers, request_body, request_size, request_truncated, response_body,
		response_size, response_truncated) VALUES ($1, 'o1', 'p1', $2, $3, '', 'key', $4, '', 'GET', '/v1/me', '/v1/me', $5, '', 0, '', '', '{}', '', 0, false, '', 0, false)`
	add := func(i int) {
		t.Helper()
		at := now.Add(-time.Duration(i) * 37 * time.Second)
		if _, err := raw.ExecContext(ctx, insert, fmt.Sprintf("b-%d", i), []string{"e1", "e2"}[i%2], at.UnixMicro(), []string{"ka", "kb", "kc"}[i%3], []int{200, 404, 500, 201}[i%4]); err != nil {
			t.Fatal(err)
		}
	}
	for i := 2; i < 400; i++ {
		add(i) // before the upgrade
	}

	main, err := store.OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer main.Close()
	db, err := main.Logs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 400; i < 500; i++ {
		add(i) // an old node, after the upgrade
	}
	st := db.LogStore()
	rows := logRows(t, st, "o1")
	if len(rows) != 498 {
		t.Fatalf("%d rows, want 498", len(rows))
	}
	until := now.Truncate(time.Minute)
	for _, width := range []time.Duration{time.Minute, time.Hour} {
		since := now.Add(-6 * time.Hour).Truncate(width)
		by := usage.CallGrouping{Status: true, Key: true}
		got, err := st.CallUsage(ctx, apilog.Filter{OrgID: "o1"}, since, until, width, by)
		if err != nil {
			t.Fatal(err)
		}
		if want := countCalls(rows, apilog.Filter{OrgID: "o1"}, since, until, width, by); len(want) == 0 || !reflect.DeepEqual(got, want) {
			t.Fatalf("by %v after the migration:\n got %+v\nwant %+v", width, got, want)
		}
	}
	// The days, backfilled from the hours (log migration 00010), and the
	// old node's rows after it counted in them by the trigger.
	if d, err := st.CallCountsDisagree(ctx); err != nil || d != "" {
		t.Fatalf("after the migrations: %s %v", d, err)
	}
}
