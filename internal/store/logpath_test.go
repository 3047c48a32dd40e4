package store_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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
			// A prefix that is not UTF-8 or holds a NUL is read row by row
			// (SQLite) or refused as PostgreSQL's text refuses it: never a
			// wrong list.
			for _, prefix := range []string{"/v1/\xff", "/v1/\xc3", "/v1/\x00"} {
				page, err := st.ListAPILog(ctx, apilog.Filter{OrgID: "o1", PathPrefix: prefix}, gatehouse.PageRequest{Page: 1, PerPage: 100, Sort: "timestamp", Desc: true})
				if err == nil && page.Total != 0 {
					t.Fatalf("prefix %q: %d calls", prefix, page.Total)
				}
				if err != nil && (engine == store.SQLite || utf8.ValidString(prefix) && !strings.Contains(prefix, "\x00")) {
					t.Fatalf("prefix %q: %v", prefix, err)
				}
			}
		})
	}
}
