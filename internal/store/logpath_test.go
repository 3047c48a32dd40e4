package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestAPILogPathPrefix: ?path= is a prefix of the path and query string
// as sent, read through the path index's range (log migration 00009) on
// both engines: every list, cursor walk, export and single read finds
// exactly the calls whose path begins with the prefix, as Go's
// strings.HasPrefix says, for prefixes at the edges of that range: a
// prefix of another path's beginning, the characters LIKE would read
// (% and _), multi-byte characters (é, U+00FF, whose successor changes
// its first byte, U+D7FF before the surrogates, the last code point),
// paths and prefixes longer than the index holds (a 3,000-byte path:
// PostgreSQL refuses an index entry of more than about 2,700 bytes), and
// on SQLite each way the list may read it: through the index (few rows)
// and along the time index (a prefix of many rows).
//
// It writes and reads in one goroutine, SQL against a reference: it runs
// without the race detector (.ci/test), under which it took 8 s of CPU.
// ci: norace
func TestAPILogPathPrefix(t *testing.T) {
	t.Parallel()
	long := "/v1/users/" + strings.Repeat("é", 1500) // 3,010 bytes
	paths := []string{
		"/v1/users", "/v1/users/u1", "/v1/users/u1?x=%_", "/v1/users/u1?x=ab", "/v1/user", "/v1/usersX", "/v1/roles", "/",
		"/v1/é", "/v1/éa", "/v1/ê", "/v1/\u00ff", "/v1/\u00ffz", "/v1/\u0100", "/v1/\ud7ff", "/v1/\ud7ffa", "/v1/\ue000",
		"/v1/\U0010FFFF", "/v1/\U0010FFFFb", long, long + "/x", long[:len(long)-2] + "ê",
	}
	prefixes := []string{
		"/v1/users", "/v1/user", "/v1/users/u1?x=%_", "/v1/users/u1?x=%", "/v1/users/u1?x=_", "/", "/v1/é", "/v1/\u00ff",
		"/v1/\ud7ff", "/v1/\U0010FFFF", "/v2", "/v1/users/" + strings.Repeat("é", 246), "/v1/users/" + strings.Repeat("é", 300), long, long + "/",
	}
	for _, engine := range []string{store.SQLite, store.Postgres} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := openLogDB(t, engine)
			st := db.LogStore()
			at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
			var calls []apilog.Call
			for i, p := range paths {
				for j := range 3 {
					calls = append(calls, apilog.Call{ID: fmt.Sprintf("c-%02d-%d", i, j), OrganizationID: "o1", ProjectID: "p1", EnvironmentID: "e1",
						Time: at.Add(time.Duration(i*3+j) * time.Second), Method: "GET", Path: p, Status: 200, ActorID: fmt.Sprintf("k%d", j)})
				}
			}
			calls = append(calls, apilog.Call{ID: "other-org", OrganizationID: "o2", Time: at, Method: "GET", Path: "/v1/users", Status: 200})
			if err := st.WriteAPILog(ctx, calls); err != nil {
				t.Fatal(err)
			}
			modes := []int{0}
			if engine == store.SQLite {
				modes = []int{0, -1} // through the path index; along the time index
			}
			for _, mode := range modes {
				store.SetFilteredSortMax(db, mode)
				for _, prefix := range prefixes {
					for _, actor := range []string{"", "k1"} {
						var want []string
						for _, c := range calls {
							if c.OrganizationID == "o1" && strings.HasPrefix(c.Path, prefix) && (actor == "" || c.ActorID == actor) {
								want = append(want, c.ID)
							}
						}
						slices.Sort(want)
						name := fmt.Sprintf("mode %d, actor %q, prefix %.40q (%d bytes)", mode, actor, prefix, len(prefix))
						f := apilog.Filter{OrgID: "o1", PathPrefix: prefix, Actor: actor}
						for _, sort := range []string{"timestamp", "status", "latency"} {
							page, err := st.ListAPILog(ctx, f, gatehouse.PageRequest{Page: 1, PerPage: 100, Sort: sort, Desc: true, CountUpTo: gatehouse.TotalCap})
							if err != nil {
								t.Fatalf("%s: %v", name, err)
							}
							var got []string
							for _, c := range page.Items {
								got = append(got, c.ID)
							}
							if sort == "timestamp" && !slices.IsSortedFunc(got, func(a, b string) int { return strings.Compare(b, a) }) {
								t.Fatalf("%s: not newest first: %q", name, got)
							}
							slices.Sort(got)
							if page.Total != len(want) || !slices.Equal(got, want) {
								t.Fatalf("%s sorted by %s: total %d, %q; want %d, %q", name, sort, page.Total, got, len(want), want)
							}
							var walked []string
							cursor := store.StartCursor
							for cursor != "" {
								p, err := st.ListAPILog(ctx, f, gatehouse.PageRequest{PerPage: 2, Sort: sort, Desc: true, Cursor: cursor})
								if err != nil {
									t.Fatalf("%s: by cursor: %v", name, err)
								}
								for _, c := range p.Items {
									walked = append(walked, c.ID)
								}
								cursor = p.NextCursor
							}
							slices.Sort(walked)
							if !slices.Equal(walked, want) {
								t.Fatalf("%s by cursor sorted by %s: %q, want %q", name, sort, walked, want)
							}
						}
						var exported []string
						if err := st.ExportAPILog(ctx, f, func(c *apilog.Call) error {
							exported = append(exported, c.ID)
							return nil
						}); err != nil {
							t.Fatalf("%s: export: %v", name, err)
						}
						slices.Sort(exported)
						if !slices.Equal(exported, want) {
							t.Fatalf("%s: export %q, want %q", name, exported, want)
						}
						for _, c := range calls[:len(calls)-1] {
							_, err := st.GetAPILog(ctx, f, c.ID)
							if found := err == nil; found != slices.Contains(want, c.ID) {
								t.Fatalf("%s: get %s (path %.30q): %v", name, c.ID, c.Path, err)
							}
						}
					}
				}
			}
			// A prefix that is not UTF-8 or holds a NUL begins no logged path
			// (they are sanitized): an empty list, never an error
			// (PostgreSQL refuses such text).
			for _, prefix := range []string{"/v1/\xff", "/v1/\xc3", "/v1/\x00"} {
				f := apilog.Filter{OrgID: "o1", PathPrefix: prefix}
				page, err := st.ListAPILog(ctx, f, gatehouse.PageRequest{Page: 1, PerPage: 100, Sort: "timestamp", Desc: true})
				if err != nil || page.Total != 0 || len(page.Items) != 0 {
					t.Fatalf("prefix %q: %d calls, %v", prefix, page.Total, err)
				}
				if err := st.ExportAPILog(ctx, f, func(*apilog.Call) error { return fmt.Errorf("exported a call") }); err != nil {
					t.Fatalf("prefix %q: export: %v", prefix, err)
				}
			}

			// Deep pages by number (past the deep-page offset: the row
			// before the page is found through the path index too), both
			// orders, of a prefix of 1,500 calls among others.
			store.SetFilteredSortMax(db, 0)
			var deep []apilog.Call
			for i := range 1500 {
				deep = append(deep, apilog.Call{ID: fmt.Sprintf("d-%04d", i), OrganizationID: "o1", Time: at.Add(time.Hour + time.Duration(i)*time.Second),
					Method: []string{"GET", "POST"}[i%2], Path: fmt.Sprintf("/v1/deep/%d", i%7), Status: 200})
			}
			if err := st.WriteAPILog(ctx, deep); err != nil {
				t.Fatal(err)
			}
			// Exported in chunks of 500, through the path index (1,500 calls:
			// a prefix few enough) and along the time index.
			for _, mode := range modes {
				store.SetFilteredSortMax(db, mode)
				var got []string
				if err := st.ExportAPILog(ctx, apilog.Filter{OrgID: "o1", PathPrefix: "/v1/deep/"}, func(c *apilog.Call) error {
					got = append(got, c.ID)
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if len(got) != len(deep) || !slices.IsSorted(got) || got[0] != deep[0].ID {
					t.Fatalf("mode %d: exported %d calls (sorted %v), want %d oldest first", mode, len(got), slices.IsSorted(got), len(deep))
				}
			}
			store.SetFilteredSortMax(db, 0)
			for _, desc := range []bool{true, false} {
				for _, writes := range []bool{false, true} {
					var want []string
					for _, c := range deep {
						if !writes || c.Method == "POST" {
							want = append(want, c.ID)
						}
					}
					if desc {
						slices.Reverse(want)
					}
					f := apilog.Filter{OrgID: "o1", PathPrefix: "/v1/deep/", Writes: writes}
					for _, n := range []int{1, 30, 55, 70} {
						page, err := st.ListAPILog(ctx, f, gatehouse.PageRequest{Page: n, PerPage: 20, Sort: "timestamp", Desc: desc, CountUpTo: gatehouse.TotalCap})
						if err != nil {
							t.Fatal(err)
						}
						var got []string
						for _, c := range page.Items {
							got = append(got, c.ID)
						}
						lo, hi := min((n-1)*20, len(want)), min(n*20, len(want))
						if page.Total != len(want) || !slices.Equal(got, want[lo:hi]) && !(len(got) == 0 && lo == hi) {
							t.Fatalf("deep page %d (desc %v, writes %v): total %d, %q; want %d, %q", n, desc, writes, page.Total, got, len(want), want[lo:hi])
						}
					}
				}
			}
		})
	}
}
