package store_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/batch"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

// logEngines open an empty log database on each engine.
var logEngines = map[string]func(t *testing.T) *store.DB{
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
		return logs
	},
}

// drain runs w until everything added is written (or lost).
func drain[T any](w *batch.Writer[T]) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w.Run(ctx)
}

// TestLogWritersKeepGoodRows: the API log's and the decision log's
// background writers over the real log database, on both engines. A batch
// mixes two organizations' entries with text PostgreSQL refuses (NUL, invalid
// UTF-8: in the user agent, a header's name and value, the path, the bodies,
// a decision's user and tenant) and one entry the database can never take
// (an id already stored). The text is made clean, every other entry is
// written, and only the duplicate is lost and counted.
func TestLogWritersKeepGoodRows(t *testing.T) {
	t.Parallel()
	for name, open := range logEngines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := open(t).LogStore()
			ctx := context.Background()
			base := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
			quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

			t.Run("api log", func(t *testing.T) {
				if err := st.WriteAPILog(ctx, []apilog.Call{{ID: "dup", OrganizationID: "org1", Time: base, Method: "GET", Path: "/v1/me", Status: 200}}); err != nil {
					t.Fatal(err)
				}
				w := batch.New("API log", st.WriteAPILog, quiet, batch.Options[apilog.Call]{Batch: 1000,
					Prepare: func(cs []apilog.Call) {
						for i := range cs {
							apilog.Sanitize(&cs[i])
						}
					}})
				for i := range 300 {
					c := apilog.Call{ID: fmt.Sprintf("c-%03d", i), OrganizationID: []string{"org1", "org2"}[i%2], Time: base.Add(time.Duration(i) * time.Millisecond),
						Method: "GET", Path: "/v1/me", Status: 200, UserAgent: "curl/8", RequestHeaders: map[string]string{"Accept": "*/*"}}
					switch i {
					case 7: // org2's entry, with every text wrong
						c.UserAgent, c.Path = "agent\xff\xfe/1", "/v1/users/a\x00b?q=\xff"
						c.RequestHeaders = map[string]string{"X-Bad\x00": "v\xff\x00", "Accept": "*/*"}
						c.RequestBody, c.ResponseBody = "{\"user\":\"a\\u0000\x00\"}", "{\"x\":\"\xc3\"}"
					case 8: // org1's entry the database cannot take
						c.ID = "dup"
					}
					w.Add(c)
				}
				drain(w)
				if w.Lost() != 1 || w.Stats().Written != 299 {
					t.Fatalf("lost %d, stats %+v; want only the duplicate lost", w.Lost(), w.Stats())
				}
				for org, want := range map[string]int{"org1": 150, "org2": 150} { // org1: 149 new + the stored "dup"
					page, err := st.ListAPILog(ctx, apilog.Filter{OrgID: org}, gatehouse.PageRequest{Page: 1, PerPage: 1})
					if err != nil || page.Total != want {
						t.Fatalf("%s: %d entries, %v; want %d", org, page.Total, err, want)
					}
				}
				got, err := st.GetAPILog(ctx, apilog.Filter{OrgID: "org2"}, "c-007")
				if err != nil {
					t.Fatal(err)
				}
				if got.UserAgent != "agent\uFFFD/1" || got.Path != "/v1/users/ab?q=\uFFFD" || got.RequestHeaders["X-Bad"] != "v\uFFFD" ||
					got.RequestBody != "{\"user\":\"a\\u0000\"}" || got.ResponseBody != "{\"x\":\"\uFFFD\"}" || len(got.RequestHeaders) != 2 {
					t.Fatalf("stored as %+v", got)
				}
			})

			t.Run("decision log", func(t *testing.T) {
				if err := st.WriteDecisions(ctx, []decision.Entry{{ID: "dup", OrganizationID: "org1", EnvironmentID: "env1", Time: base}}); err != nil {
					t.Fatal(err)
				}
				w := batch.New("decision log", st.WriteDecisions, quiet, batch.Options[decision.Entry]{Batch: 1000})
				for i := range 300 {
					e := decision.Entry{ID: fmt.Sprintf("d-%03d", i), OrganizationID: []string{"org1", "org2"}[i%2], EnvironmentID: "env1",
						Time: base.Add(time.Duration(i) * time.Millisecond), Source: decision.SourceAPI, User: "u1", Action: "read", ResourceType: "doc", Tenant: "t1"}
					switch i {
					case 7:
						e.User, e.Tenant, e.ResourceKey = "a\x00b", "t\xff", "k\xc3"
					case 8:
						e.ID = "dup"
					}
					w.Add(e)
				}
				drain(w)
				if w.Lost() != 1 || w.Stats().Written != 299 {
					t.Fatalf("lost %d, stats %+v; want only the duplicate lost", w.Lost(), w.Stats())
				}
				for org, want := range map[string]int{"org1": 150, "org2": 150} {
					page, err := st.ListDecisions(ctx, decision.Filter{OrgID: org, EnvID: "env1"}, gatehouse.PageRequest{Page: 1, PerPage: 1})
					if err != nil || page.Total != want {
						t.Fatalf("%s: %d entries, %v; want %d", org, page.Total, err, want)
					}
				}
				got, err := st.GetDecision(ctx, "org2", "env1", "d-007")
				if err != nil {
					t.Fatal(err)
				}
				if got.User != "ab" || got.Tenant != "t\uFFFD" || got.ResourceKey != "k\uFFFD" {
					t.Fatalf("stored as %+v", got)
				}
			})

			t.Run("refusals are told apart from failures", func(t *testing.T) {
				err := st.WriteAPILog(ctx, []apilog.Call{{ID: "dup", OrganizationID: "org1", Time: base}})
				if gatehouse.ErrorCode(err) != gatehouse.CodeConflict {
					t.Fatalf("a duplicate id: %v; want CONFLICT", err)
				}
				// Unsanitized text: PostgreSQL refuses it (the row's fault,
				// not the database's), SQLite keeps it.
				err = st.WriteAPILog(ctx, []apilog.Call{{ID: "raw", OrganizationID: "org1", Time: base, UserAgent: "a\x00\xff"}})
				if want := map[string]string{"sqlite": "", "postgres": gatehouse.CodeInvalidRequest}[name]; gatehouse.ErrorCode(err) != want {
					t.Fatalf("raw NUL and invalid UTF-8: %v; want %q", err, want)
				}
			})
		})
	}
}
