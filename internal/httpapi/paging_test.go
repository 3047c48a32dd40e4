package httpapi_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// Lists page by cursor (issue 16 point 12): next_cursor continues a list
// without counting it, a walk sees every item once while items are added
// between pages, and a malformed or foreign cursor is a 400.
func TestCursorPaging(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	dev := s.envKey("manage:user", "view:user", "manage:tenant", "view:tenant", "manage:role", "view:role", "manage:role_assignment", "view:role_assignment")
	_, prod := s.newKey("environment", []string{"view:user", "manage:user"}, map[string]any{"project": "default", "environment": "production"})
	for i := 0; i < 25; i++ {
		s.must(201, req{method: "POST", path: "/v1/users", key: dev, body: map[string]any{"key": fmt.Sprintf("u%02d", i)}})
	}
	s.must(201, req{method: "POST", path: "/v1/users", key: prod, body: map[string]any{"key": "prod-only"}})

	// Page paging still counts, and hands out a cursor.
	first := s.must(200, req{method: "GET", path: "/v1/users?per_page=10&sort=key", key: dev})
	if m := first.meta(); m["total_items"] != float64(25) || m["total_pages"] != float64(3) || m["next_cursor"] == nil || m["has_next"] != true {
		t.Fatalf("page 1: %v", m)
	}
	seen := map[string]bool{}
	for _, u := range first.list() {
		seen[u.(map[string]any)["key"].(string)] = true
	}
	cursor := first.meta()["next_cursor"].(string)
	for page := 2; ; page++ {
		// A user added between pages sorts after every key so far: the
		// walk must reach it.
		s.must(201, req{method: "POST", path: "/v1/users", key: dev, body: map[string]any{"key": fmt.Sprintf("z-added-%d", page)}})
		r := s.must(200, req{method: "GET", path: "/v1/users?per_page=10&sort=key&cursor=" + url.QueryEscape(cursor), key: dev})
		m := r.meta()
		if m["total_items"] != float64(-1) || m["total_pages"] != float64(-1) || m["page"] != float64(0) {
			t.Fatalf("a page by cursor counted: %v", m)
		}
		for _, u := range r.list() {
			k := u.(map[string]any)["key"].(string)
			if seen[k] {
				t.Fatalf("%s seen twice", k)
			}
			seen[k] = true
		}
		next, _ := m["next_cursor"].(string)
		if (next != "") != (m["has_next"] == true) {
			t.Fatalf("has_next and next_cursor disagree: %v", m)
		}
		if next == "" {
			if len(seen) != 25+page-1 {
				t.Fatalf("walk saw %d users, want %d", len(seen), 25+page-1)
			}
			break
		}
		cursor = next
	}
	if seen["prod-only"] {
		t.Fatal("the walk saw another environment's user")
	}
	// cursor=start: the first page without a count.
	start := s.must(200, req{method: "GET", path: "/v1/users?per_page=5&cursor=start", key: dev})
	if len(start.list()) != 5 || start.meta()["total_items"] != float64(-1) || start.meta()["next_cursor"] == nil {
		t.Fatalf("cursor=start: %s", start.raw)
	}
	good := first.meta()["next_cursor"].(string)
	for name, tc := range map[string]struct {
		key, query, want string
	}{
		"garbage":           {dev, "cursor=nonsense", "malformed"},
		"tampered":          {dev, "cursor=" + url.QueryEscape("x"+good[1:]), "malformed"},
		"other sort":        {dev, "sort=created_at&cursor=" + url.QueryEscape(good), "another list"},
		"other order":       {dev, "sort=key&order=desc&cursor=" + url.QueryEscape(good), "another list"},
		"other filter":      {dev, "sort=key&search=u&cursor=" + url.QueryEscape(good), "another list"},
		"other environment": {prod, "sort=key&cursor=" + url.QueryEscape(good), "another list"},
		"with a page":       {dev, "sort=key&page=2&cursor=" + url.QueryEscape(good), "not both"},
	} {
		r := s.must(400, req{method: "GET", path: "/v1/users?per_page=10&" + tc.query, key: tc.key})
		e := r.body["error"].(map[string]any)
		if !strings.Contains(e["message"].(string), tc.want) || e["details"].(map[string]any)["field"] != "cursor" {
			t.Errorf("%s: %s", name, r.raw)
		}
	}
	// Another list's cursor (tenants) and a short list that never pages by
	// cursor.
	s.must(400, req{method: "GET", path: "/v1/tenants?cursor=" + url.QueryEscape(good), key: dev})
	s.must(400, req{method: "GET", path: "/v1/organizations?cursor=start", key: s.key})

	// Role assignments by role walk completely by cursor.
	s.must(201, req{method: "POST", path: "/v1/roles", key: dev, body: map[string]any{"key": "viewer"}})
	s.must(201, req{method: "POST", path: "/v1/roles", key: dev, body: map[string]any{"key": "admin"}})
	for i := 0; i < 12; i++ {
		s.must(201, req{method: "POST", path: "/v1/role-assignments", key: dev, body: map[string]any{"user": fmt.Sprintf("u%02d", i), "role": []string{"viewer", "admin"}[i%2]}})
	}
	n, cursor := 0, "start"
	for cursor != "" {
		r := s.must(200, req{method: "GET", path: "/v1/role-assignments?per_page=5&sort=role&cursor=" + url.QueryEscape(cursor), key: dev})
		n += len(r.list())
		cursor, _ = r.meta()["next_cursor"].(string)
	}
	if n != 12 {
		t.Fatalf("assignments by cursor: %d, want 12", n)
	}
}

// A list sorted by a field it lacks (users have no name, tenants no
// email) is a 4xx naming the sorts it has, never a 500 (issue 16 point
// 12): the v1 enums refuse it before the store, which refuses it too.
func TestUnknownSort(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	dev := s.envKey("view:user", "view:tenant")
	for _, c := range []struct{ path, allowed string }{
		{"/v1/users?sort=name", "email"},
		{"/v1/tenants?sort=email", "name"},
		{"/v1/users?sort=name&cursor=start", "email"},
	} {
		r := s.do(req{method: "GET", path: c.path, key: dev})
		if r.status != 422 && r.status != 400 || !strings.Contains(r.raw, c.allowed) || !strings.Contains(r.raw, "created_at") {
			t.Fatalf("%s: want a 4xx naming the allowed sorts, got %d %s", c.path, r.status, r.raw)
		}
	}
}

// A deep page by number that follows the one before it is read through the
// cursor the server kept: the same items and counts as the page asked for
// cold, and after a write the page is read anew (not through the kept
// cursor) and shows the write.
func TestNextDeepPageByNumber(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	dev := s.envKey("manage:user", "view:user")
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	var users []*facts.User
	for i := range 1250 {
		users = append(users, &facts.User{ID: tenancy.NewID(), EnvID: s.devID, Key: fmt.Sprintf("u-%04d", i), Email: fmt.Sprintf("u%04d@example.com", i),
			CreatedAt: at.Add(time.Duration(i) * time.Millisecond), UpdatedAt: at})
	}
	if err := s.app.DB.Store().InsertUsers(context.Background(), users); err != nil {
		t.Fatal(err)
	}
	page := func(n int, wantFirst string, wantLen int, wantTotal float64) bool {
		t.Helper()
		before, _ := s.app.DB.AnchorPages()
		r := s.must(200, req{method: "GET", path: fmt.Sprintf("/v1/users?per_page=100&page=%d", n), key: dev})
		after, _ := s.app.DB.AnchorPages()
		items := r.list()
		if len(items) != wantLen || items[0].(map[string]any)["key"] != wantFirst {
			t.Fatalf("page %d: %d users from %v, want %d from %s", n, len(items), items[0].(map[string]any)["key"], wantLen, wantFirst)
		}
		for i, u := range items[1:] {
			if prev, k := items[i].(map[string]any)["key"].(string), u.(map[string]any)["key"].(string); k <= prev {
				t.Fatalf("page %d: %s after %s", n, k, prev)
			}
		}
		if m := r.meta(); m["total_items"] != wantTotal || m["page"] != float64(n) || m["has_next"] != (float64(n*100) < wantTotal) {
			t.Fatalf("page %d: meta %v", n, m)
		}
		return after > before
	}
	if page(11, "u-1000", 100, 1250) {
		t.Fatal("page 11, the first deep page asked for, was read through a kept cursor")
	}
	if !page(12, "u-1100", 100, 1250) || !page(13, "u-1200", 50, 1250) {
		t.Fatal("pages 12 and 13, each after the one before, were not read through a kept cursor")
	}
	// A user deleted from page 1 moves every later page by one.
	s.must(204, req{method: "DELETE", path: "/v1/users/u-0005", key: dev})
	if page(12, "u-1101", 100, 1249) {
		t.Fatal("page 12 after a write was read through the cursor kept before it")
	}
	_, stale := s.app.DB.AnchorPages()
	if stale != 1 {
		t.Fatalf("outdated kept cursors: %d, want 1", stale)
	}
}
