package store_test

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// ci: norace
// TestAPILogDeepPagesThroughCounts: a deep page by number of the API log in
// time order, filtered by nothing or by the days' counted cells (project,
// environment, status class), is found through the per-day, hour
// and minute counts, on both engines; every page by number, either order,
// gives the rows and the total the log itself gives: across days, hours
// and minutes, many calls in one minute and calls sharing an instant,
// another organization's calls in between, after retention cut the log in
// the middle of a day, and with the days' counts deleted behind the
// store's back (the pages are then read by the skip).
func TestAPILogDeepPagesThroughCounts(t *testing.T) {
	t.Parallel()
	for name, open := range logEngines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := open(t)
			st, ctx := db.LogStore(), context.Background()
			now := time.Date(2026, 12, 6, 3, 20, 7, 0, time.UTC)
			rnd := rand.New(rand.NewPCG(16, 12))
			var calls []apilog.Call
			add := func(org string, at time.Time) {
				scope := [][2]string{{"p1", "e1"}, {"p1", "e2"}, {"p2", "e3"}, {"", ""}}[rnd.IntN(4)]
				calls = append(calls, apilog.Call{ID: fmt.Sprintf("c-%05d-%s", len(calls), org), OrganizationID: org, Time: at, RequestID: fmt.Sprintf("r%d", len(calls)),
					ProjectID: scope[0], EnvironmentID: scope[1], ActorType: "key", ActorID: []string{"ka", "kb", "kc"}[rnd.IntN(3)], Method: "GET",
					Route: "/v1/me", Path: "/v1/me", Status: []int{200, 200, 201, 404, 429, 500}[rnd.IntN(6)]})
			}
			// Four days of calls, and 1,200 in one minute, 300 of them at
			// one instant (their order is their ids').
			for range 2500 {
				add("o1", now.Add(-time.Duration(rnd.Int64N(int64(4*24*time.Hour)))))
			}
			busy := now.Add(-30 * time.Hour).Truncate(time.Minute).Add(13 * time.Second)
			for i := range 1200 {
				at := busy
				if i >= 300 {
					at = busy.Add(time.Duration(rnd.Int64N(int64(40 * time.Second))))
				}
				add("o1", at)
			}
			for range 600 {
				add("o2", now.Add(-time.Duration(rnd.Int64N(int64(4*24*time.Hour)))))
			}
			for i := 0; i < len(calls); i += 1000 {
				if err := st.WriteAPILog(ctx, calls[i:min(i+1000, len(calls))]); err != nil {
					t.Fatal(err)
				}
			}

			filters := []apilog.Filter{{}, {ProjectID: "p1"}, {EnvID: "e2"}, {StatusClass: 2}, {ProjectID: "p1", EnvID: "e1", StatusClass: 2},
				{ProjectID: "p2", EnvID: "e3", StatusClass: 4}, {EnvID: "nowhere"},
				// Not in the days' cells: read by the skip, as a control.
				{Actor: "kb"}, {EnvID: "e1", Actor: "ka", StatusClass: 2}, {Status: 200}, {Method: "GET", Actor: "kc"}}
			check := func(step string, wantCounted bool) {
				t.Helper()
				rows := logRows(t, st, "o1")
				for _, f := range filters {
					f.OrgID = "o1"
					var want []apilog.Call
					for _, c := range rows {
						if (f.ProjectID == "" || c.ProjectID == f.ProjectID) && (f.EnvID == "" || c.EnvironmentID == f.EnvID) && (f.Actor == "" || c.ActorID == f.Actor) &&
							(f.StatusClass == 0 || c.Status/100 == f.StatusClass) && (f.Status == 0 || c.Status == f.Status) && (f.Method == "" || c.Method == f.Method) {
							want = append(want, c)
						}
					}
					for _, desc := range []bool{false, true} {
						ids := idsInTimeOrder(want, func(c apilog.Call) (time.Time, string) { return c.Time, c.ID }, desc)
						pagesByNumber(t, fmt.Sprintf("%s: %+v desc=%v", step, f, desc), ids, st.CallSeeks, func(n, per int) ([]string, int, error) {
							res, err := st.ListAPILog(ctx, f, gatehouse.PageRequest{Page: n, PerPage: per, Sort: "timestamp", Desc: desc, CountUpTo: gatehouse.TotalCap})
							var got []string
							for _, c := range res.Items {
								got = append(got, c.ID)
							}
							return got, res.Total, err
						}, wantCounted && f.Status == 0 && f.Method == "" && f.Actor == "")
					}
				}
			}
			check("written", true)

			// Retention cuts the log in the middle of a day (and hour and
			// minute): the day keeps the count of the calls from the cut on.
			if _, err := st.PruneAPILog(ctx, "o1", now.Add(-3*24*time.Hour-5*time.Hour-17*time.Minute-3*time.Second)); err != nil {
				t.Fatal(err)
			}
			check("pruned", true)

			// The organization's days deleted behind the store's back: a
			// deep page finds no day to start in and is read by the skip.
			if _, err := db.Writer().ExecContext(ctx, "DELETE FROM api_call_days WHERE org_id = 'o1'"); err != nil {
				t.Fatal(err)
			}
			check("counts lost", false)
		})
	}
}

// idsInTimeOrder is the ids of rows in (time, id) order, descending with
// desc: a log list's default order.
func idsInTimeOrder[T any](rows []T, key func(T) (time.Time, string), desc bool) []string {
	rows = slices.Clone(rows)
	slices.SortFunc(rows, func(a, b T) int {
		at, aid := key(a)
		bt, bid := key(b)
		c := cmp.Or(at.Compare(bt), strings.Compare(aid, bid))
		if desc {
			c = -c
		}
		return c
	})
	ids := make([]string, len(rows))
	for i, r := range rows {
		_, ids[i] = key(r)
	}
	return ids
}

// pagesByNumber reads every page by number of a list (pages of 37, one
// past the last too) and checks each against exp, the ids in order, and the
// list's total; and that a page was found through the counts (seeks grew)
// exactly when it is deep (from item 1,000 on, its row before it in the
// list) and the list counted.
func pagesByNumber(t *testing.T, what string, exp []string, seeks func() int64, list func(n, per int) ([]string, int, error), counted bool) {
	t.Helper()
	const per = 37
	last := (len(exp) + per - 1) / per
	for n := 1; n <= last+1; n++ {
		before := seeks()
		got, total, err := list(n, per)
		if err != nil {
			t.Fatalf("%s: page %d: %v", what, n, err)
		}
		want := exp[min((n-1)*per, len(exp)):min(n*per, len(exp))]
		if !slices.Equal(got, want) || total != len(exp) {
			t.Fatalf("%s: page %d: %d rows (total %d), want %d (total %d); first difference at %d",
				what, n, len(got), total, len(want), len(exp), firstDiff(got, want))
		}
		deep := (n-1)*per >= 1000 && (n-1)*per <= len(exp)
		if through := seeks() > before; through != (deep && counted) {
			t.Fatalf("%s: page %d: read through the counts %v, want %v", what, n, through, deep && counted)
		}
	}
}

// TestCallDaysMigration: log migration 00010 undone and done again, in a
// transaction as goose runs it, on a log database holding calls, on both
// engines: its Up counts the calls already logged from 00006's hours (the
// days and hours then agree with the rows), and on PostgreSQL the trigger
// it restores on the way down counts no days, the one it installs on the
// way up counts them again.
func TestCallDaysMigration(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{store.SQLite, store.Postgres} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := openLogDB(t, engine)
			st := db.LogStore()
			at := time.Date(2026, 12, 5, 22, 58, 0, 0, time.UTC)
			n := 0
			write := func(count int) {
				t.Helper()
				var calls []apilog.Call
				for range count {
					n++
					calls = append(calls, apilog.Call{ID: fmt.Sprintf("c-%04d", n), OrganizationID: []string{"o1", "o2"}[n%2], ProjectID: "p1", EnvironmentID: []string{"e1", "e2", ""}[n%3],
						Time: at.Add(time.Duration(n) * 97 * time.Second), ActorType: "key", ActorID: fmt.Sprintf("k%d", n%4), Method: "GET", Path: "/v1/me", Status: []int{200, 404, 500}[n%3]})
				}
				if err := st.WriteAPILog(ctx, calls); err != nil {
					t.Fatal(err)
				}
			}
			write(1500) // across two days
			name := "logmigrations/" + engine + "/00010_api_call_days.sql"
			migrate := func(section string) {
				t.Helper()
				runGooseSection(t, db, name, section)
			}
			migrate("Down")
			if engine == store.Postgres {
				// An older node's writes, counted by 00006's trigger alone.
				if _, err := db.Writer().ExecContext(ctx, `INSERT INTO api_log (id, org_id, project_id, env_id, created_at, request_id, actor_type, actor_id, actor_name, method, route, path,
		status, error_code, latency_us, client_ip, user_agent, request_headers, request_body, request_size, request_truncated, response_body,
		response_size, response_truncated) VALUES ('old-1', 'o1', 'p1', 'e1', $1, '', 'key', 'k9', '', 'GET', '/v1/me', '/v1/me', 201, '', 0, '', '', '{}', '', 0, false, '', 0, false)`,
					at.Add(30*time.Hour).UnixMicro()); err != nil {
					t.Fatal(err)
				}
			}
			var tables int
			if err := db.Writer().QueryRowContext(ctx, map[string]string{
				store.SQLite:   "SELECT COUNT(*) FROM sqlite_master WHERE name IN ('api_call_days', 'api_call_hours')",
				store.Postgres: "SELECT COUNT(*) FROM pg_tables WHERE tablename IN ('api_call_days', 'api_call_hours')"}[engine]).Scan(&tables); err != nil || tables != 0 {
				t.Fatalf("after 00010 Down: %d of its tables left, %v", tables, err)
			}
			// On PostgreSQL an older node's retention is under way as the
			// new version migrates: it has read the log (and taken the rows
			// off 00006's counts), and deletes them after the migration's
			// commit. The trigger on DELETE takes them off the new counts.
			var old *sql.Tx
			cut := at.Add(20 * time.Hour).UnixMicro()
			if engine == store.Postgres {
				var err error
				if old, err = db.Writer().BeginTx(ctx, nil); err != nil {
					t.Fatal(err)
				}
				defer old.Rollback() //nolint:errcheck // a no-op after Commit
				var n int
				if err := old.QueryRowContext(ctx, "SELECT COUNT(*) FROM api_log WHERE org_id = 'o1' AND created_at < $1", cut).Scan(&n); err != nil || n == 0 {
					t.Fatalf("the old retention's read: %d rows, %v", n, err)
				}
			}
			migrate("Up")
			if old != nil {
				if _, err := old.ExecContext(ctx, "DELETE FROM api_log WHERE org_id = 'o1' AND created_at < $1", cut); err != nil {
					t.Fatal(err)
				}
				if err := old.Commit(); err != nil {
					t.Fatal(err)
				}
				if d, err := st.CallCountsDisagree(ctx, "api_call_hours", "api_call_days"); err != nil || d != "" {
					t.Fatalf("after an older node's retention: %s %v", d, err)
				}
				// (00006's counts are that node's to keep, with statements
				// this test leaves out: it checks the new ones.)
			}
			if d, err := st.CallCountsDisagree(ctx, "api_call_hours", "api_call_days"); err != nil || d != "" {
				t.Fatalf("after 00010 Up: %s %v", d, err)
			}
			write(300) // counted in the days again (by the trigger on PostgreSQL)
			if d, err := st.CallCountsDisagree(ctx, "api_call_hours", "api_call_days"); err != nil || d != "" {
				t.Fatalf("after writes: %s %v", d, err)
			}
			// And this version's retention, cutting a day and an hour.
			if _, err := st.PruneAPILog(ctx, "o2", at.Add(31*time.Hour+17*time.Minute)); err != nil {
				t.Fatal(err)
			}
			if d, err := st.CallCountsDisagree(ctx, "api_call_hours", "api_call_days"); err != nil || d != "" {
				t.Fatalf("after retention: %s %v", d, err)
			}
		})
	}
}

// TestCallCountsDeletedInOrderMigration: log migration 00012 (PostgreSQL)
// undone and done again: under either DELETE trigger of the API call
// counts (00010's UPDATE, 00012's ordered upserts) retention of this
// version and an older node's plain delete keep the hours and days equal
// to the rows.
func TestCallCountsDeletedInOrderMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openLogDB(t, store.Postgres)
	st := db.LogStore()
	at := time.Date(2026, 12, 4, 21, 58, 0, 0, time.UTC)
	var calls []apilog.Call
	for n := range 2000 { // across three days
		calls = append(calls, apilog.Call{ID: fmt.Sprintf("c-%04d", n), OrganizationID: []string{"o1", "o2"}[n%2], ProjectID: "p1",
			EnvironmentID: []string{"e1", "e2", ""}[n%3], Time: at.Add(time.Duration(n) * 97 * time.Second), ActorType: "key",
			ActorID: fmt.Sprintf("k%d", n%4), Method: "GET", Path: "/v1/me", Status: []int{200, 404, 500}[n%3]})
	}
	if err := st.WriteAPILog(ctx, calls); err != nil {
		t.Fatal(err)
	}
	name := "logmigrations/postgres/00012_call_counts_deleted_in_order.sql"
	agree := func(step string) {
		t.Helper()
		if d, err := st.CallCountsDisagree(ctx); err != nil || d != "" {
			t.Fatalf("%s: %s %v", step, d, err)
		}
	}
	cut := at
	for _, section := range []string{"Down", "Up"} {
		runGooseSection(t, db, name, section)
		cut = cut.Add(7*time.Hour + 13*time.Minute + 7*time.Second)
		if _, err := st.PruneAPILog(ctx, "o1", cut); err != nil {
			t.Fatal(err)
		}
		agree(section + ": retention")
		// An older node's retention: the rows alone, which the trigger
		// takes off the hours and days (the per-caller minutes and hours
		// are that node's code's to adjust: this version's retention at
		// the same cut, on the hour, does it for this test).
		cut = cut.Add(5 * time.Hour).Truncate(time.Hour)
		if _, err := db.Writer().ExecContext(ctx, "DELETE FROM api_log WHERE org_id = 'o2' AND created_at < $1", cut.UnixMicro()); err != nil {
			t.Fatal(err)
		}
		if d, err := st.CallCountsDisagree(ctx, "api_call_hours", "api_call_days"); err != nil || d != "" {
			t.Fatalf("%s: an older node's delete: %s %v", section, d, err)
		}
		if n, err := st.PruneAPILog(ctx, "o2", cut); err != nil || n != 0 {
			t.Fatalf("%s: retention after an older node's: %d rows, %v", section, n, err)
		}
		agree(section + ": an older node's retention")
	}
}
