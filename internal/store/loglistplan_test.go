package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TestLogListsReadTheirIndexes: every documented filter and sort of the
// API log (GET /v1/logs) and the decision log (GET /v1/decisions), alone
// and combined, and confined to the project or environment a key sees,
// is read through an index that holds the filter's rows: no statement of
// page 1 (counted), of a deep page by number or of a page by cursor scans
// the table, and none sorts but those of a list sorted by another column
// than time whose narrowest filter holds few rows. With several filters,
// the narrowest leads (counted: a dense filter in a small environment is
// read through the environment's index). At a million rows a filter read
// row by row along the time index took seconds (bench/README.md,
// "Sixteenth pass"). SQLite's plans are checked: its planner chooses by
// rule, without statistics, so its choice is the same on a test's few
// rows as on a million. (The path prefix is a range of its index, read
// through it when it holds few rows, and the writes, which no index
// holds, are checked row by row.)
func TestLogListsReadTheirIndexes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openLogDB(t, store.SQLite)
	st := db.LogStore()
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	var calls []apilog.Call
	var entries []decision.Entry
	for i := range 50 {
		env := []string{"e1", "e2"}[i%2]
		if i < 3 {
			env = "e3" // a small environment
		}
		c := apilog.Call{ID: fmt.Sprintf("c-%03d", i), OrganizationID: "o1", ProjectID: "p1", EnvironmentID: env, Time: at.Add(time.Duration(i) * time.Second),
			RequestID: fmt.Sprintf("r-%d", i), ActorType: "key", ActorID: fmt.Sprintf("k%d", i%3), Method: "GET", Route: "/v1/users", Path: "/v1/users", Status: 200}
		if i%10 == 0 {
			c.Method = "POST"
		}
		if i%7 == 0 {
			c.Status = 404
		}
		if i%10 == 3 {
			c.Path = "/v1/roles/r1" // (a rare prefix)
		}
		calls = append(calls, c)
		e := decision.Entry{ID: fmt.Sprintf("d-%03d", i), OrganizationID: "o1", ProjectID: "p1", EnvironmentID: "e1", Time: at.Add(time.Duration(i) * time.Second),
			Source: decision.SourceAPI, RequestID: fmt.Sprintf("r-%d", i), KeyID: "k1", User: fmt.Sprintf("u-%d", i%5), Action: []string{"read", "write"}[i%2],
			ResourceType: "doc", Tenant: fmt.Sprintf("t%d", i%5), Reason: "not_granted", Role: ""}
		if i%5 == 0 { // a fifth allowed
			e.Allow, e.Reason, e.Role = true, "granted", "viewer"
		}
		entries = append(entries, e)
	}
	if err := st.WriteAPILog(ctx, calls); err != nil {
		t.Fatal(err)
	}
	if err := st.WriteDecisions(ctx, entries); err != nil {
		t.Fatal(err)
	}

	// In a case's count indexes, anyCovering lets the count read any
	// index that holds its conditions alone (a range of it: SEARCH), and
	// anyIndex any index of the organization's, rows and all (a filter no
	// index holds).
	const anyCovering, anyIndex = "(any covering)", "(any)"
	// The statements of each list call, recorded as they run.
	seen := recordLogReads(db)
	type want struct {
		page, count []string
		sorts       bool // the page may sort (its narrowest filter's few rows)
	}
	// check runs list's page 1, a deep page by number and a page by
	// cursor, and fails unless every statement they ran reads table as
	// w says.
	check := func(name, table string, list func(gatehouse.PageRequest) (string, error), sort string, w want) {
		t.Helper()
		*seen = (*seen)[:0]
		for _, p := range []gatehouse.PageRequest{
			{Page: 1, PerPage: 20, Sort: sort, Desc: true, CountUpTo: gatehouse.TotalCap},
			{Page: 60, PerPage: 20, Sort: sort, Desc: true, CountUpTo: gatehouse.TotalCap}, // past the deep-page offset: its skip
			{PerPage: 1, Sort: sort, Desc: true, Cursor: store.StartCursor},
		} {
			next, err := list(p)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if next != "" {
				p.Cursor = next
				if _, err := list(p); err != nil {
					t.Fatalf("%s: by cursor: %v", name, err)
				}
			}
		}
		if len(*seen) == 0 {
			t.Fatalf("%s: no statement recorded", name)
		}
		for _, s := range *seen {
			plan := sqlitePlan(t, db, s)
			if counts := countsTable.FindString(s.query); counts != "" {
				// A deep page's way through the call or decision counts
				// (callseek.go): a range of a counts table's key or
				// environment index, in its order.
				for _, line := range plan {
					if strings.Contains(line, "TEMP B-TREE") || !strings.HasPrefix(line, "SEARCH "+counts[len(" FROM "):]) {
						t.Fatalf("%s: %q reads the call counts otherwise than a range of an index in order: %q", name, s.query, plan)
					}
				}
				continue
			}
			counted := strings.HasPrefix(s.query, "SELECT COUNT(*)")
			indexes := w.page
			if counted {
				indexes = w.count
			}
			ok := false
			for _, line := range plan {
				if strings.Contains(line, "TEMP B-TREE") && (counted || !w.sorts) {
					t.Fatalf("%s: %q sorts its rows: %q", name, s.query, plan)
				}
				if !strings.Contains(line, " "+table+" ") && !strings.HasSuffix(line, " "+table) {
					continue
				}
				read := slices.ContainsFunc(indexes, func(ix string) bool {
					return strings.Contains(line, "USING INDEX "+ix+" ") || strings.Contains(line, "USING COVERING INDEX "+ix+" ")
				}) || slices.Contains(indexes, anyCovering) && strings.HasPrefix(line, "SEARCH ") && strings.Contains(line, " USING COVERING INDEX ") ||
					slices.Contains(indexes, anyIndex) && strings.HasPrefix(line, "SEARCH "+table+" USING ")
				if !read {
					t.Fatalf("%s: %q reads %s otherwise than through %v: %q", name, s.query, table, indexes, plan)
				}
				ok = true
			}
			if !ok {
				t.Fatalf("%s: %q: no read of %s in its plan %q", name, s.query, table, plan)
			}
		}
	}
	one := func(ix string) want { return want{page: []string{ix}, count: []string{ix}} }

	logs := func(f apilog.Filter) func(gatehouse.PageRequest) (string, error) {
		f.OrgID = "o1"
		return func(p gatehouse.PageRequest) (string, error) {
			res, err := st.ListAPILog(ctx, f, p)
			return res.NextCursor, err
		}
	}
	const (
		logTime, logEnv, logProject   = "api_log_list_time", "api_log_list_env_time", "api_log_list_project_time"
		logActor, logStatus, logClass = "api_log_list_actor_time", "api_log_list_status_time", "api_log_list_class_time"
		logMethod, logRequest         = "api_log_list_method_time", "api_log_list_request_time"
		logPath, logWrites            = "api_log_list_path_time", "api_log_list_writes_time"
		byLatency, byStatus           = "api_log_list_latency", "api_log_list_status"
	)
	for _, c := range []struct {
		name string
		f    apilog.Filter
		sort string
		walk bool // every list sorted by another column than time read along its sort's index
		want want
	}{
		{"all", apilog.Filter{}, "timestamp", false, want{page: []string{logTime}, count: []string{anyCovering}}},
		{"environment", apilog.Filter{ProjectID: "p1", EnvID: "e1"}, "timestamp", false, one(logEnv)},
		{"project", apilog.Filter{ProjectID: "p1"}, "timestamp", false, one(logProject)},
		{"actor", apilog.Filter{Actor: "k1"}, "timestamp", false, one(logActor)},
		{"actor in an environment", apilog.Filter{ProjectID: "p1", EnvID: "e1", Actor: "k1"}, "timestamp", false, one(logActor)},
		{"GETs in a small environment", apilog.Filter{ProjectID: "p1", EnvID: "e3", Method: "GET"}, "timestamp", false, one(logEnv)},
		{"status of a small environment", apilog.Filter{ProjectID: "p1", EnvID: "e3", Status: 200}, "timestamp", false, one(logEnv)},
		{"request of an actor in an environment", apilog.Filter{ProjectID: "p1", EnvID: "e1", Actor: "k1", RequestID: "r-7"}, "timestamp", false, one(logRequest)},
		{"status", apilog.Filter{Status: 404}, "timestamp", false, one(logStatus)},
		{"status in an environment", apilog.Filter{ProjectID: "p1", EnvID: "e1", Status: 404}, "timestamp", false, one(logStatus)},
		{"status class", apilog.Filter{StatusClass: 5}, "timestamp", false, one(logClass)},
		{"status class in a project", apilog.Filter{ProjectID: "p1", StatusClass: 5}, "timestamp", false, one(logClass)},
		{"method", apilog.Filter{Method: "DELETE"}, "timestamp", false, one(logMethod)},
		{"request", apilog.Filter{RequestID: "r-7"}, "timestamp", false, one(logRequest)},
		{"time range", apilog.Filter{Since: at, Until: at.Add(time.Hour)}, "timestamp", false, one(logTime)},
		{"writes", apilog.Filter{Writes: true}, "timestamp", false, one(logWrites)},
		{"writes of an actor", apilog.Filter{Writes: true, Actor: "k1"}, "timestamp", false, one(logWrites)},
		{"writes of an actor, walked", apilog.Filter{Writes: true, Actor: "k1"}, "timestamp", true, one(logActor)},
		{"writes by latency", apilog.Filter{Writes: true}, "latency", true, want{page: []string{byLatency}, count: []string{logWrites}}},
		{"writes under a rare prefix", apilog.Filter{Writes: true, PathPrefix: "/v1/roles"}, "timestamp", false, one(logWrites)},
		// (A path prefix is a range of the path index: few rows are read
		// through it and sorted, many along the time or sort index.)
		{"path prefix", apilog.Filter{PathPrefix: "/v1/users"}, "timestamp", false, want{page: []string{logPath}, count: []string{logPath}, sorts: true}},
		{"a path prefix of many", apilog.Filter{PathPrefix: "/v1/users"}, "timestamp", true, want{page: []string{logTime}, count: []string{logPath}}},
		{"a rare path prefix", apilog.Filter{PathPrefix: "/v1/roles"}, "timestamp", false, want{page: []string{logPath}, count: []string{logPath}, sorts: true}},
		{"an actor's under a rare prefix", apilog.Filter{Actor: "k1", PathPrefix: "/v1/roles"}, "timestamp", false, want{page: []string{logPath}, count: []string{logPath}, sorts: true}},
		{"an actor's under a prefix of many", apilog.Filter{Actor: "k1", PathPrefix: "/v1/users"}, "timestamp", true, one(logActor)},
		{"a prefix longer than the index holds", apilog.Filter{PathPrefix: "/v1/users" + strings.Repeat("x", 300)}, "timestamp", false, want{page: []string{logPath}, count: []string{logPath}, sorts: true}},
		{"a path prefix of many by latency", apilog.Filter{PathPrefix: "/v1/users"}, "latency", true, want{page: []string{byLatency}, count: []string{logPath}}},
		{"by latency", apilog.Filter{}, "latency", false, want{page: []string{byLatency}, count: []string{anyCovering}}},
		{"by status", apilog.Filter{}, "status", false, want{page: []string{byStatus}, count: []string{anyCovering}}},
		// (The narrowest filter holds few rows: it is not hidden, and
		// SQLite may read the rows through it and sort them, or along the
		// sort's index.)
		{"an actor's few by latency", apilog.Filter{Actor: "k1"}, "latency", false, want{page: []string{logActor, byLatency}, count: []string{logActor}, sorts: true}},
		{"an environment by latency", apilog.Filter{ProjectID: "p1", EnvID: "e1"}, "latency", true, want{page: []string{byLatency}, count: []string{logEnv}}},
		{"an actor's by status", apilog.Filter{Actor: "k1"}, "status", true, want{page: []string{byStatus}, count: []string{logActor}}},
		{"a status by status", apilog.Filter{Status: 404, Actor: "k1"}, "status", true, want{page: []string{byStatus, logStatus}, count: []string{logActor}}},
		{"a status class by status", apilog.Filter{StatusClass: 4}, "status", true, want{page: []string{byStatus}, count: []string{byStatus, logStatus}}},
		{"a request by latency", apilog.Filter{RequestID: "r-7"}, "latency", true, want{page: []string{byLatency}, count: []string{logRequest}}},
	} {
		store.SetFilteredSortMax(db, map[bool]int{true: -1}[c.walk])
		check("api log: "+c.name, "api_log", logs(c.f), c.sort, c.want)
	}
	// The export (oldest first, in chunks): a prefix few calls have
	// through the path index, one of more calls along the time index
	// (the walk mode counts every prefix as many).
	for _, walk := range []bool{false, true} {
		store.SetFilteredSortMax(db, map[bool]int{true: -1}[walk])
		*seen = (*seen)[:0]
		if err := st.ExportAPILog(ctx, apilog.Filter{OrgID: "o1", PathPrefix: "/v1/roles"}, func(*apilog.Call) error { return nil }); err != nil {
			t.Fatal(err)
		}
		want := map[bool]string{false: logPath, true: logTime}[walk]
		for _, s := range *seen {
			if plan := sqlitePlan(t, db, s); !strings.Contains(strings.Join(plan, "\n"), "INDEX "+want+" ") {
				t.Fatalf("export (walk %v): %q does not read %s: %q", walk, s.query, want, plan)
			}
		}
		if len(*seen) == 0 {
			t.Fatalf("export (walk %v): no statement recorded", walk)
		}
	}

	decisions := func(f decision.Filter) func(gatehouse.PageRequest) (string, error) {
		f.OrgID, f.EnvID = "o1", "e1"
		return func(p gatehouse.PageRequest) (string, error) {
			res, err := st.ListDecisions(ctx, f, p)
			return res.NextCursor, err
		}
	}
	denied := false
	users := []string{"decision_log_list_user_time", "decision_log_list_user"} // (either, without a sort)
	for _, c := range []struct {
		name string
		f    decision.Filter
		sort string
		walk bool
		want want
	}{
		{"all", decision.Filter{}, "timestamp", false, want{page: []string{"decision_log_list_time"}, count: []string{anyCovering}}},
		{"user", decision.Filter{User: "u-1"}, "timestamp", false, want{page: users, count: users}},
		{"action", decision.Filter{Action: "read"}, "timestamp", false, one("decision_log_list_action_time")},
		{"resource", decision.Filter{Resource: "doc"}, "timestamp", false, one("decision_log_list_resource_time")},
		{"tenant", decision.Filter{Tenant: "t1"}, "timestamp", false, one("decision_log_list_tenant_time")},
		{"allow", decision.Filter{Allow: &denied}, "timestamp", false, one("decision_log_list_allow_time")},
		{"reason", decision.Filter{Reason: "unknown_user"}, "timestamp", false, one("decision_log_list_reason_time")},
		{"role", decision.Filter{Role: "viewer"}, "timestamp", false, one("decision_log_list_role_time")},
		{"source", decision.Filter{Source: "pdp"}, "timestamp", false, one("decision_log_list_source_time")},
		{"request", decision.Filter{RequestID: "r-7"}, "timestamp", false, one("decision_log_list_request_time")},
		{"time range", decision.Filter{Since: at, Until: at.Add(time.Hour)}, "timestamp", false, one("decision_log_list_time")},
		{"a user's denied", decision.Filter{User: "u-1", Allow: &denied}, "timestamp", false, want{page: users, count: users}},
		{"a tenant's denied reads", decision.Filter{Tenant: "t1", Action: "read", Allow: &denied}, "timestamp", false, one("decision_log_list_tenant_time")},
		{"denied writes", decision.Filter{Action: "write", Allow: &denied}, "timestamp", false, one("decision_log_list_action_time")},
		{"by user", decision.Filter{}, "user", false, want{page: []string{"decision_log_list_user"}, count: []string{anyCovering}}},
		{"denied by user", decision.Filter{Allow: &denied}, "user", true, want{page: []string{"decision_log_list_user"}, count: []string{"decision_log_list_allow_time"}}},
		{"a user's in a tenant by user", decision.Filter{User: "u-1", Tenant: "t1"}, "user", true, want{page: []string{"decision_log_list_user"}, count: users}},
	} {
		store.SetFilteredSortMax(db, map[bool]int{true: -1}[c.walk])
		check("decision log: "+c.name, "decision_log", decisions(c.f), c.sort, c.want)
	}
}

// countsTable finds the counts table a statement reads.
var countsTable = regexp.MustCompile(` FROM (api_call_[a-z_]+|decision_(minutes|hours|days))\b`)

// TestLogListIndexMigration: log migrations 00007, 00009 (and on SQLite
// 00008) undone and done again on
// a log database holding rows, on both engines; the lists read the same
// rows through its indexes as without them.
func TestLogListIndexMigration(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{store.SQLite, store.Postgres} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := openLogDB(t, engine)
			st := db.LogStore()
			at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
			var calls []apilog.Call
			for i := range 300 {
				calls = append(calls, apilog.Call{ID: fmt.Sprintf("c-%03d", i), OrganizationID: "o1", ProjectID: "p1", EnvironmentID: "e1", Time: at.Add(time.Duration(i) * time.Second),
					RequestID: fmt.Sprintf("r-%d", i%7), ActorType: "key", ActorID: fmt.Sprintf("k%d", i%3), Method: []string{"GET", "POST", "DELETE"}[i%3], Path: fmt.Sprintf("/v1/users/u%d", i%40),
					Status: []int{200, 201, 404, 500, 503}[i%5]})
			}
			if err := st.WriteAPILog(ctx, calls); err != nil {
				t.Fatal(err)
			}
			// (Without 00009, SQLite refuses a list read INDEXED BY the path
			// index: a node always runs on its migrated schema.)
			read := func(paths bool) []string {
				var out []string
				for _, f := range []apilog.Filter{{StatusClass: 5}, {StatusClass: 2}, {Status: 404}, {Method: "DELETE"}, {Actor: "k2"}, {RequestID: "r-3"}, {ProjectID: "p1"},
					{PathPrefix: "/v1/users/u1"}, {PathPrefix: "/v1/roles"}, {PathPrefix: "/v1/users/u1", Actor: "k2"}, {Writes: true}, {Writes: true, Actor: "k1"}} {
					if (f.PathPrefix != "" || f.Writes) && !paths && engine == store.SQLite {
						continue
					}
					f.OrgID = "o1"
					res, err := st.ListAPILog(ctx, f, gatehouse.PageRequest{Page: 1, PerPage: 100, Sort: "timestamp", Desc: true, CountUpTo: gatehouse.TotalCap})
					if err != nil {
						t.Fatal(err)
					}
					ids := []string{fmt.Sprint(res.Total)}
					for _, c := range res.Items {
						ids = append(ids, c.ID)
					}
					out = append(out, strings.Join(ids, ","))
				}
				return out
			}
			with := read(true)
			for _, section := range []string{"Down", "Up"} {
				if _, err := db.Writer().ExecContext(ctx, gooseSection(t, "logmigrations/common/00007_list_filter_indexes.sql", section)); err != nil {
					t.Fatalf("00007 %s: %v", section, err)
				}
				if engine == store.SQLite {
					if _, err := db.Writer().ExecContext(ctx, gooseSection(t, "logmigrations/sqlite/00008_api_log_status_class.sql", section)); err != nil {
						t.Fatalf("00008 %s: %v", section, err)
					}
				}
				if _, err := db.Writer().ExecContext(ctx, gooseSection(t, "logmigrations/"+engine+"/00009_api_log_path_writes.sql", section)); err != nil {
					t.Fatalf("00009 %s: %v", section, err)
				}
				if got := read(section == "Up"); !slices.Equal(got, with[:len(got)]) {
					t.Fatalf("after 00007 %s: the lists read %q, want %q", section, got, with)
				}
			}
		})
	}
}

// openLogDB opens a new log database on engine (SQLite's own file, or
// PostgreSQL's log tables in a new database), closed at the test's end.
func openLogDB(tb testing.TB, engine string) *store.DB {
	tb.Helper()
	ctx := context.Background()
	if engine == store.SQLite {
		db, err := store.OpenLogSQLite(ctx, filepath.Join(tb.TempDir(), "logs.db"))
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { db.Close() })
		return db
	}
	main, err := store.OpenPostgres(ctx, pgtest.NewDatabase(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { main.Close() })
	db, err := main.Logs(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

// TestLogListPathAndWritesIndexesPostgres: on PostgreSQL the API log's
// path prefix and writes are written as their indexes of log migration
// 00009 hold them (the path's first 256 characters COLLATE "C", the
// partial index's predicate), so that its planner can read them: with
// statistics of a log where a prefix and the writes are rare, the list's
// statements read those indexes. (An expression written otherwise than
// the index's, such as another collation, is never read through it, and
// the list would still be right: only the plans show it.)
func TestLogListPathAndWritesIndexesPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openLogDB(t, store.Postgres)
	st := db.LogStore()
	at := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	var calls []apilog.Call
	for i := range 5000 {
		c := apilog.Call{ID: fmt.Sprintf("c-%05d", i), OrganizationID: "o1", ProjectID: "p1", EnvironmentID: "e1", Time: at.Add(time.Duration(i) * time.Second),
			RequestID: fmt.Sprintf("r-%d", i), ActorType: "key", ActorID: fmt.Sprintf("k%d", i%3), Method: "GET", Path: fmt.Sprintf("/v1/users/u%d", i), Status: 200}
		if i%500 == 7 {
			c.Method, c.Path = "POST", "/v1/webhooks/w1"
		}
		calls = append(calls, c)
	}
	if err := st.WriteAPILog(ctx, calls); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Writer().ExecContext(ctx, "ANALYZE api_log"); err != nil {
		t.Fatal(err)
	}
	seen := recordLogReads(db)
	for _, c := range []struct {
		name  string
		f     apilog.Filter
		index string
	}{
		{"a rare path prefix", apilog.Filter{PathPrefix: "/v1/webhooks/"}, "api_log_list_path_time"},
		{"a rare path prefix in an environment", apilog.Filter{ProjectID: "p1", EnvID: "e1", PathPrefix: "/v1/webhooks/"}, "api_log_list_path_time"},
		{"rare writes", apilog.Filter{Writes: true}, "api_log_list_writes_time"},
	} {
		*seen = (*seen)[:0]
		c.f.OrgID = "o1"
		page, err := st.ListAPILog(ctx, c.f, gatehouse.PageRequest{Page: 1, PerPage: 20, Sort: "timestamp", Desc: true, CountUpTo: gatehouse.TotalCap})
		if err != nil || page.Total != 10 {
			t.Fatalf("%s: %d calls, %v", c.name, page.Total, err)
		}
		if len(*seen) == 0 {
			t.Fatalf("%s: no statement recorded", c.name)
		}
		for _, s := range *seen {
			rows, err := db.Writer().QueryContext(ctx, "EXPLAIN "+s.query, s.args...)
			if err != nil {
				t.Fatalf("%s: explain %q: %v", c.name, s.query, err)
			}
			var plan []string
			for rows.Next() {
				var line string
				if err := rows.Scan(&line); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, line)
			}
			rows.Close()
			if !strings.Contains(strings.Join(plan, "\n"), c.index) {
				t.Fatalf("%s: %q does not read %s:\n%s", c.name, s.query, c.index, strings.Join(plan, "\n"))
			}
		}
	}
}

// loggedRead is a statement the log store ran for a list, with its
// arguments.
type loggedRead struct {
	query string
	args  []any
}

// recordLogReads records the statements db's log store runs for its lists
// from now on.
func recordLogReads(db *store.DB) *[]loggedRead {
	seen := &[]loggedRead{}
	store.RecordLogReads(db, func(query string, args []any) { *seen = append(*seen, loggedRead{query, args}) })
	return seen
}

// sqlitePlan is SQLite's EXPLAIN QUERY PLAN of r on db, a line a step.
func sqlitePlan(t *testing.T, db *store.DB, r loggedRead) []string {
	t.Helper()
	rows, err := db.Writer().QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+r.query, r.args...)
	if err != nil {
		t.Fatalf("explain %q: %v", r.query, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}
