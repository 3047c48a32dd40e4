package permitv2_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
)

// Gatehouse's cursor extension of Permit's lists (?cursor=, the
// Gatehouse-Next-Cursor header), on both engines: a walk by cursor gives
// every row once, in the list's order, while rows are added between
// pages; a cursor of another environment, list or filter, a malformed one
// and a cursor with page > 1 are refused; a list filtered in memory
// refuses a cursor, naming the filter.
func TestPermitCursorPaging(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			s := newServerWith(t, func(cfg *config.Config) {
				if engine == "postgres" {
					cfg.DatabaseURL, cfg.SecretKey = pgtest.NewDatabase(t), pgtest.SecretKey
				}
			})
			testPermitCursorPaging(t, s)
		})
	}
}

func testPermitCursorPaging(t *testing.T, s *server) {
	k := s.key
	s.pmust(200, "POST", schema+"/resources", k, map[string]any{"key": "doc", "name": "Doc", "actions": map[string]any{"read": map[string]any{}},
		"roles": map[string]any{"viewer": map[string]any{"name": "Viewer", "permissions": []string{"read"}}}})
	s.pmust(200, "POST", schema+"/roles", k, map[string]any{"key": "reader", "name": "Reader", "permissions": []string{"doc:read"}})
	// Rows of every list, the two kinds of role assignment interleaved in
	// time so that a page of kind=all holds both.
	for i := range 13 {
		s.pmust(200, "POST", facts+"/tenants", k, map[string]any{"key": fmt.Sprintf("t%02d", i), "name": "T", "attributes": map[string]any{"n": i}})
		s.pmust(200, "POST", facts+"/users", k, map[string]any{"key": fmt.Sprintf("u%02d", i)})
		s.pmust(200, "POST", facts+"/resource_instances", k, map[string]any{"key": fmt.Sprintf("d%02d", i), "resource": "doc", "tenant": "default"})
		s.pmust(200, "POST", facts+"/role_assignments", k, map[string]any{"user": fmt.Sprintf("u%02d", i), "role": "reader", "tenant": fmt.Sprintf("t%02d", i)})
		s.pmust(200, "POST", facts+"/role_assignments", k, map[string]any{"user": fmt.Sprintf("u%02d", i), "role": "viewer", "resource_instance": fmt.Sprintf("doc:d%02d", i)})
	}
	added := 0
	adders := map[string]func(){
		"users": func() { s.pmust(200, "POST", facts+"/users", k, map[string]any{"key": fmt.Sprintf("new%02d", added)}) },
		"tenants": func() {
			s.pmust(200, "POST", facts+"/tenants", k, map[string]any{"key": fmt.Sprintf("new%02d", added), "name": "N"})
		},
		"resource_instances": func() {
			s.pmust(200, "POST", facts+"/resource_instances", k, map[string]any{"key": fmt.Sprintf("new%02d", added), "resource": "doc", "tenant": "default"})
		},
		"role_assignments": func() {
			s.pmust(200, "POST", facts+"/users", k, map[string]any{"key": fmt.Sprintf("ra%02d", added), "role_assignments": []any{
				map[string]any{"role": "reader", "tenant": "t00"}, map[string]any{"role": "viewer", "resource_instance": "doc:d00"}}})
		},
	}
	ids := func(what string, r pres) []string {
		t.Helper()
		items := r.arr()
		if items == nil { // users: Permit's paged shape
			items, _ = r.obj()["data"].([]any)
		}
		var out []string
		for _, it := range items {
			out = append(out, it.(map[string]any)["id"].(string))
		}
		return out
	}
	// walk reads a list by cursor, 4 rows a page, calling between before
	// every page but the first; it fails on a row seen twice.
	walk := func(what, query string, between func()) []string {
		t.Helper()
		var seen []string
		cursor := "start"
		for page := 0; ; page++ {
			if page > 0 && between != nil {
				between()
			}
			r := s.pmust(200, "GET", facts+"/"+what+"?per_page=4&cursor="+url.QueryEscape(cursor)+query, k, nil)
			got := ids(what, r)
			if len(got) > 4 {
				t.Fatalf("%s: page %d has %d rows", what, page, len(got))
			}
			for _, id := range got {
				if slices.Contains(seen, id) {
					t.Fatalf("%s%s: %s seen twice (page %d)", what, query, id, page)
				}
				seen = append(seen, id)
			}
			if what == "users" && (r.obj()["total_count"] != -1.0 || r.obj()["page_count"] != -1.0) {
				t.Fatalf("users by cursor: want total_count and page_count -1 (not counted): %s", r.raw)
			}
			cursor = r.header.Get("Gatehouse-Next-Cursor")
			if cursor == "" {
				if len(got) == 4 && page == 0 && len(seen) < 4 {
					t.Fatalf("%s: no cursor after a full page", what)
				}
				return seen
			}
			if page > 200 {
				t.Fatalf("%s: no end", what)
			}
		}
	}
	for _, c := range []struct{ list, query string }{
		{"users", ""},
		{"users", "&search=u1"},
		{"tenants", ""},
		{"resource_instances", ""},
		{"resource_instances", "&resource=doc&tenant=default"},
		{"role_assignments", ""}, // kind all: both tables merged
		{"role_assignments", "&resource=__tenant"},
		{"role_assignments", "&resource_instance=doc:d03"},
		{"role_assignments", "&user=u01"},
		{"role_assignments", "&role=viewer"},
		{"role_assignments", "&tenant=default"},
	} {
		func() {
			// The order by page number (created_at, then id), all at once.
			full := s.pmust(200, "GET", facts+"/"+c.list+"?per_page=100"+c.query, k, nil)
			if full.header.Get("Gatehouse-Next-Cursor") != "" {
				t.Fatal("a page by number carries a cursor header: answers without ?cursor= must stay Permit's")
			}
			want := ids(c.list, full)
			if len(want) == 0 {
				t.Fatalf("%s%s: empty list, nothing tested", c.list, c.query)
			}
			if got := walk(c.list, c.query, nil); !slices.Equal(got, want) {
				t.Fatalf("%s%s: walk by cursor:\n got %v\nwant %v", c.list, c.query, got, want)
			}
			// Rows added between pages come after every row there was
			// (created later): the rows there were keep their order, none
			// repeated, none skipped.
			got := walk(c.list, c.query, func() { added++; adders[c.list]() })
			if len(got) < len(want) || !slices.Equal(got[:len(want)], want) {
				t.Fatalf("%s%s: walk with inserts between pages:\n got %v\nwant first %v", c.list, c.query, got, want)
			}
		}()
	}

	// Refusals, in Permit's error shape: 422 (its status of invalid input).
	first := func(path string) string {
		t.Helper()
		c := s.pmust(200, "GET", path, k, nil).header.Get("Gatehouse-Next-Cursor")
		if c == "" {
			t.Fatalf("%s: no next cursor", path)
		}
		return url.QueryEscape(c)
	}
	users := first(facts + "/users?per_page=2&cursor=start")
	all := first(facts + "/role_assignments?per_page=2&cursor=start")
	s.pmust(200, "POST", "/v2/projects/default/envs", k, map[string]any{"key": "other", "name": "Other"})
	s.pmust(200, "POST", "/v2/facts/default/other/users", k, map[string]any{"key": "x1"})
	s.pmust(200, "POST", "/v2/facts/default/other/users", k, map[string]any{"key": "x2"})
	for _, c := range []struct {
		name, path, code, says string
	}{
		{"another environment", "/v2/facts/default/other/users?per_page=2&cursor=" + users, "INVALID_INPUT", "another list"},
		{"another list", facts + "/tenants?per_page=2&cursor=" + users, "INVALID_INPUT", "another list"},
		{"another filter", facts + "/users?per_page=2&search=u&cursor=" + users, "INVALID_INPUT", "another list"},
		{"another kind", facts + "/role_assignments?per_page=2&resource=__tenant&cursor=" + all, "INVALID_INPUT", "another list"},
		{"another filter of all", facts + "/role_assignments?per_page=2&user=u01&cursor=" + all, "INVALID_INPUT", "another list"},
		{"malformed", facts + "/users?cursor=bm90LWEtY3Vyc29y", "INVALID_INPUT", "malformed"},
		{"malformed merged", facts + "/role_assignments?cursor=xyz.abc", "INVALID_INPUT", "malformed"},
		{"tampered", facts + "/users?per_page=2&cursor=" + strings.Replace(users, "e", "f", 1), "INVALID_INPUT", "malformed"},
		{"cursor and page", facts + "/users?page=2&cursor=start", "INVALID_INPUT", "not both"},
		{"cursor and page on tenants", facts + "/tenants?page=3&cursor=" + users, "INVALID_INPUT", "not both"},
		{"attribute filter", facts + "/tenants?attr_n=3&cursor=start", "CURSOR_NOT_SUPPORTED", "attr_n"},
		{"attribute filter on instances", facts + "/resource_instances?attr_x=1&cursor=start", "CURSOR_NOT_SUPPORTED", "attr_x"},
		{"role filter of users", facts + "/users?role=reader&cursor=start", "CURSOR_NOT_SUPPORTED", "role filter"},
		{"repeated filter", facts + "/role_assignments?user=u00&user=u01&cursor=start", "CURSOR_NOT_SUPPORTED", "several values"},
		{"one resource type", facts + "/role_assignments?resource=doc&cursor=start", "CURSOR_NOT_SUPPORTED", "resource filter"},
		{"a list without cursors", schema + "/roles?cursor=start", "INVALID_INPUT", "users, tenants, resource instances and role assignments"},
	} {
		r := s.pcall("GET", c.path, k, nil)
		if r.status != http.StatusUnprocessableEntity || r.obj()["error_code"] != c.code || !strings.Contains(fmt.Sprint(r.obj()["message"]), c.says) {
			t.Fatalf("%s: want 422 %s saying %q, got %d %s", c.name, c.code, c.says, r.status, r.raw)
		}
	}
	// A cursor and page=1 is the cursor's page.
	s.pmust(200, "GET", facts+"/users?page=1&cursor=start", k, nil)
}
