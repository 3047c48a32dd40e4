package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// decisionKey is a decision's place in the log's time order.
func decisionKey(e decision.Entry) (time.Time, string) { return e.Time, e.ID }

// decisionRows reads every decision of org's environment env.
func decisionRows(t *testing.T, st *store.LogStore, org, env string) []decision.Entry {
	t.Helper()
	var out []decision.Entry
	page := gatehouse.PageRequest{PerPage: 1000, Cursor: store.StartCursor}
	for {
		res, err := st.ListDecisions(context.Background(), decision.Filter{OrgID: org, EnvID: env}, page)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res.Items...)
		if res.NextCursor == "" {
			return out
		}
		page.Cursor = res.NextCursor
	}
}

// ci: norace
// TestDecisionLogDeepPagesThroughCounts: a deep page by number of the
// decision log in time order, filtered by nothing or by the decision, is
// found through the per-day, hour and minute counts (log migration 00011),
// on both engines; every page by number, either order, gives the rows and
// the total the log itself gives: across days, hours and minutes, many
// decisions in one minute and at one instant, another environment's and
// organization's in between, after retention cut the log in the middle of
// a day, and with the days' counts deleted behind the store's back (the
// pages are then read by the skip). The counts agree with the rows at every
// step.
func TestDecisionLogDeepPagesThroughCounts(t *testing.T) {
	t.Parallel()
	for name, open := range logEngines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := open(t)
			st, ctx := db.LogStore(), context.Background()
			now := time.Date(2026, 12, 6, 3, 20, 7, 0, time.UTC)
			rnd := rand.New(rand.NewPCG(16, 13))
			var entries []decision.Entry
			add := func(org, env string, at time.Time) {
				entries = append(entries, decision.Entry{ID: fmt.Sprintf("d-%05d-%s", len(entries), org), OrganizationID: org, ProjectID: "p1", EnvironmentID: env,
					Time: at, Source: []string{"server", "pdp"}[rnd.IntN(2)], User: fmt.Sprintf("u-%d", rnd.IntN(5)), Action: []string{"read", "write"}[rnd.IntN(2)],
					ResourceType: "doc", Tenant: "default", Allow: rnd.IntN(10) == 0, Reason: "no_role"})
			}
			for range 2500 {
				add("o1", []string{"e1", "e1", "e1", "e2"}[rnd.IntN(4)], now.Add(-time.Duration(rnd.Int64N(int64(4*24*time.Hour)))))
			}
			busy := now.Add(-30 * time.Hour).Truncate(time.Minute).Add(13 * time.Second)
			for i := range 1200 {
				at := busy
				if i >= 300 {
					at = busy.Add(time.Duration(rnd.Int64N(int64(40 * time.Second))))
				}
				add("o1", "e1", at)
			}
			for range 600 {
				add("o2", "e1", now.Add(-time.Duration(rnd.Int64N(int64(4*24*time.Hour)))))
			}
			rnd.Shuffle(len(entries), func(i, j int) { entries[i], entries[j] = entries[j], entries[i] })
			for i := 0; i < len(entries); i += 1000 {
				if err := st.WriteDecisions(ctx, entries[i:min(i+1000, len(entries))]); err != nil {
					t.Fatal(err)
				}
			}
			yes, no := true, false
			filters := []decision.Filter{{}, {Allow: &yes}, {Allow: &no}, {EnvID: "e2"}, {EnvID: "e2", Allow: &no}, {EnvID: "nowhere"},
				// Not in the counts' cells: read by the skip, as a control.
				{User: "u-3"}, {Action: "read", Allow: &no}, {Source: "pdp"}}
			check := func(step string, wantCounted bool) {
				t.Helper()
				if d, err := st.DecisionCountsDisagree(ctx); err != nil || d != "" {
					t.Fatalf("%s: the counts disagree with the rows: %s %v", step, d, err)
				}
				for _, f := range filters {
					f.OrgID = "o1"
					if f.EnvID == "" {
						f.EnvID = "e1"
					}
					var want []decision.Entry
					for _, e := range decisionRows(t, st, "o1", f.EnvID) {
						if (f.Allow == nil || e.Allow == *f.Allow) && (f.User == "" || e.User == f.User) && (f.Action == "" || e.Action == f.Action) &&
							(f.Source == "" || e.Source == f.Source) {
							want = append(want, e)
						}
					}
					seekable := f.User == "" && f.Action == "" && f.Source == ""
					for _, desc := range []bool{false, true} {
						ids := idsInTimeOrder(want, decisionKey, desc)
						n := 0
						pagesByNumber(t, fmt.Sprintf("%s: %+v desc=%v", step, f, desc), ids, st.DecisionSeeks, func(page, per int) ([]string, int, error) {
							n++ // both names of the time order, in turn
							res, err := st.ListDecisions(ctx, f, gatehouse.PageRequest{Page: page, PerPage: per, Sort: []string{"", "timestamp"}[n%2], Desc: desc,
								CountUpTo: gatehouse.TotalCap})
							var got []string
							for _, e := range res.Items {
								got = append(got, e.ID)
							}
							return got, res.Total, err
						}, wantCounted && seekable)
					}
				}
			}
			check("written", true)

			// Retention cuts the log in the middle of a day, hour and
			// minute: the buckets keep the count of the decisions from the
			// cut on.
			if _, err := st.PruneDecisions(ctx, "o1", now.Add(-3*24*time.Hour-5*time.Hour-17*time.Minute-3*time.Second)); err != nil {
				t.Fatal(err)
			}
			check("pruned", true)
			// Another organization's retention leaves o1's counts alone.
			if _, err := st.PruneDecisions(ctx, "o2", now); err != nil {
				t.Fatal(err)
			}
			check("other pruned", true)

			// The organization's days deleted behind the store's back: a
			// deep page finds no day to start in and is read by the skip.
			if _, err := db.Writer().ExecContext(ctx, "DELETE FROM decision_days WHERE org_id = 'o1'"); err != nil {
				t.Fatal(err)
			}
			for _, f := range filters[:1] {
				f.OrgID, f.EnvID = "o1", "e1"
				seeks := st.DecisionSeeks()
				if _, err := st.ListDecisions(ctx, f, gatehouse.PageRequest{Page: 40, PerPage: 37, CountUpTo: gatehouse.TotalCap}); err != nil || st.DecisionSeeks() != seeks {
					t.Fatalf("counts lost: a deep page read through them (%v)", err)
				}
			}
		})
	}
}

// TestDecisionCountsMigration: log migration 00011 undone and done again,
// in a transaction as goose runs it, on a log database holding decisions,
// on both engines: its Up counts the decisions already logged (among them
// an older node's, written while it was undone); on PostgreSQL an older
// node's inserts and deletes after it are counted by its triggers.
func TestDecisionCountsMigration(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{store.SQLite, store.Postgres} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := openLogDB(t, engine)
			st := db.LogStore()
			at := time.Date(2026, 12, 5, 22, 58, 0, 0, time.UTC)
			var entries []decision.Entry
			for n := range 1500 { // across two days
				entries = append(entries, decision.Entry{ID: fmt.Sprintf("d-%04d", n), OrganizationID: []string{"o1", "o2"}[n%2], ProjectID: "p1",
					EnvironmentID: []string{"e1", "e2", "e3"}[n%3], Time: at.Add(time.Duration(n) * 97 * time.Second), Source: "server", User: "u", Action: "read",
					ResourceType: "doc", Tenant: "default", Allow: n%4 == 0, Reason: "granted"})
			}
			if err := st.WriteDecisions(ctx, entries); err != nil {
				t.Fatal(err)
			}
			name := "logmigrations/" + engine + "/00011_decision_counts.sql"
			migrate := func(section string) {
				t.Helper()
				runGooseSection(t, db, name, section)
			}
			older := func(id string, when time.Time) {
				t.Helper()
				if _, err := db.Writer().ExecContext(ctx, `INSERT INTO decision_log (id, org_id, project_id, env_id, created_at, source, request_id, key_id, user_key,
	action, resource_type, resource_key, tenant, allow, reason, role, uploaded_by_key_id) VALUES ($1, 'o1', 'p1', 'e1', $2, 'server', '', '', 'u', 'read', 'doc', '', 'default', $3, 'granted', '', '')`,
					id, when.UnixMicro(), true); err != nil {
					t.Fatal(err)
				}
			}
			migrate("Down")
			older("old-1", at.Add(30*time.Hour))
			migrate("Up")
			if d, err := st.DecisionCountsDisagree(ctx); err != nil || d != "" {
				t.Fatalf("after 00011: %s %v", d, err)
			}
			if engine == store.Postgres {
				// An older node's insert and its retention, after the
				// migration: the triggers count them.
				older("old-2", at.Add(31*time.Hour))
				if _, err := db.Writer().ExecContext(ctx, "DELETE FROM decision_log WHERE org_id = 'o1' AND created_at < $1", at.Add(10*time.Hour).UnixMicro()); err != nil {
					t.Fatal(err)
				}
				// (the cells left at 0 are this version's retention's to delete)
				if _, err := st.PruneDecisions(ctx, "o1", at.Add(10*time.Hour)); err != nil {
					t.Fatal(err)
				}
				if d, err := st.DecisionCountsDisagree(ctx); err != nil || d != "" {
					t.Fatalf("after an older node's writes: %s %v", d, err)
				}
			}
		})
	}
}

// TestDeepPagesBefore1970: before 1970 a count's bucket is not [b, b+unit)
// (the remainder rounds toward zero, in Go as in SQL), so a deep page
// among such times is read by the skip, never through the counts, and is
// right; on both engines. (Neither log holds such times: they are stamped
// now, and uploads a day old are refused. A second reader found the page
// wrong through the counts.)
func TestDeepPagesBefore1970(t *testing.T) {
	t.Parallel()
	for name, open := range logEngines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := open(t)
			st, ctx := db.LogStore(), context.Background()
			epoch := time.Unix(0, 0).UTC()
			ten := epoch.Add(-10 * 24 * time.Hour)
			var entries []decision.Entry
			at := func(id string, when time.Time) {
				entries = append(entries, decision.Entry{ID: id, OrganizationID: "o1", ProjectID: "p1", EnvironmentID: "e1", Time: when, Source: "server",
					User: "u", Action: "read", ResourceType: "doc", Tenant: "default", Reason: "no_role"})
			}
			for i := range 1000 {
				at(fmt.Sprintf("a-%04d", i), epoch.Add(-20*24*time.Hour).Add(time.Duration(i)*time.Millisecond))
			}
			at("b-A", ten.Add(-12*time.Hour))
			at("b-B", ten.Add(-30*time.Minute))
			at("b-C", ten.Add(-30*time.Second))
			at("b-D", ten.Add(30*time.Second))
			if err := st.WriteDecisions(ctx, entries); err != nil {
				t.Fatal(err)
			}
			f := decision.Filter{OrgID: "o1", EnvID: "e1"}
			for _, desc := range []bool{false, true} {
				exp := idsInTimeOrder(entries, decisionKey, desc)
				for n := 995; n <= len(exp); n++ {
					seeks := st.DecisionSeeks()
					res, err := st.ListDecisions(ctx, f, gatehouse.PageRequest{Page: n, PerPage: 1, Desc: desc, CountUpTo: gatehouse.TotalCap})
					if err != nil {
						t.Fatal(err)
					}
					if len(res.Items) != 1 || res.Items[0].ID != exp[n-1] || res.Total != len(exp) {
						t.Fatalf("desc=%v page %d: %+v (total %d), want %s", desc, n, res.Items, res.Total, exp[n-1])
					}
					if n > 1000 && st.DecisionSeeks() != seeks {
						t.Fatalf("desc=%v page %d: read through the counts before 1970", desc, n)
					}
				}
			}
		})
	}
}
