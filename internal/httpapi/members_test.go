package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

func (s *server) newMember(email, role string) string {
	s.t.Helper()
	return s.must(201, req{method: "POST", path: "/v1/members", key: s.key, body: map[string]any{"email": email, "role": role}}).data()["id"].(string)
}

// ci: race
// Acting on a member whose role holds a scope the caller
// lacks (making their setup link, removing or demoting them) needs
// manage:permission; the last Admin is never removed, not even by two
// removals at once.
func TestMemberManagementStaysBelowTheCaller(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	admin2 := s.newMember("admin2@acme.example", "admin")
	dev := s.newMember("dev@acme.example", "developer")
	viewer := s.newMember("viewer@acme.example", "viewer")
	viewer2 := s.newMember("viewer2@acme.example", "viewer")
	// A member manager: the Viewer role's scopes plus manage:member, not
	// manage:permission.
	scopes := []string{"manage:member"}
	for _, sc := range tenancy.BuiltinRoles()[2].Scopes.Scopes() {
		scopes = append(scopes, string(sc))
	}
	_, manager := s.newKey("organization", scopes, nil)

	cases := []struct {
		name   string
		key    string
		method string
		path   string
		body   any
		want   int
	}{
		{"manager: setup link for a viewer", manager, "POST", "/v1/members/" + viewer + "/setup-link", nil, 201},
		{"manager: setup link for a developer", manager, "POST", "/v1/members/" + dev + "/setup-link", nil, 403},
		{"manager: setup link for an admin", manager, "POST", "/v1/members/" + admin2 + "/setup-link", nil, 403},
		{"manager: remove an admin", manager, "DELETE", "/v1/members/" + admin2, nil, 403},
		{"manager: remove a developer", manager, "DELETE", "/v1/members/" + dev, nil, 403},
		{"manager: demote an admin", manager, "PATCH", "/v1/members/" + admin2, map[string]any{"role": "viewer"}, 403},
		{"manager: rename an admin", manager, "PATCH", "/v1/members/" + admin2, map[string]any{"name": "Ada"}, 200},
		{"manager: rename a viewer", manager, "PATCH", "/v1/members/" + viewer, map[string]any{"name": "Vee"}, 200},
		{"manager: remove a viewer", manager, "DELETE", "/v1/members/" + viewer2, nil, 204},
		{"admin key: setup link for an admin", s.key, "POST", "/v1/members/" + admin2 + "/setup-link", nil, 201},
		{"admin key: remove a developer", s.key, "DELETE", "/v1/members/" + dev, nil, 204},
	}
	for _, tc := range cases {
		res := s.do(req{method: tc.method, path: tc.path, key: tc.key, body: tc.body})
		if res.status != tc.want {
			t.Errorf("%s: %d, want %d\n%s", tc.name, res.status, tc.want, res.raw)
		}
	}

	// Two Admins remain (the first and admin2): removing both at once
	// leaves exactly one.
	first := s.must(200, req{method: "GET", path: "/v1/members?role=admin&email=admin@example.com", key: s.key}).list()[0].(map[string]any)["id"].(string)
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i, id := range []string{first, admin2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hr, _ := http.NewRequest("DELETE", s.url+"/v1/members/"+id, nil)
			hr.Header.Set("Authorization", "Bearer "+s.key)
			res, err := http.DefaultClient.Do(hr)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			statuses[i] = res.StatusCode
		}()
	}
	wg.Wait()
	if !(statuses[0] == 204 && statuses[1] == 409 || statuses[0] == 409 && statuses[1] == 204) {
		t.Errorf("removing both Admins at once: %v, want one 204 and one 409", statuses)
	}
	if n := len(s.must(200, req{method: "GET", path: "/v1/members?role=admin", key: s.key}).list()); n != 1 {
		t.Errorf("%d Admins left, want 1", n)
	}
}

// The keys a member made are revoked when the member is
// removed, and those whose scopes their new role lacks when demoted; each
// with its reason, at once on the next request.
func TestMemberKeysFollowTheMember(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	ctx := context.Background()
	devID := s.newMember("dev@acme.example", "developer")
	devRole := tenancy.BuiltinRoles()[1]
	dev := &auth.Principal{MemberID: devID, Level: auth.LevelOrganization, OrgID: s.orgID, Scopes: devRole.Scopes}
	issue := func(scopes ...gatehouse.Scope) (*apikey.Key, string) {
		k, token, err := s.app.Keys.Issue(ctx, dev, apikey.Spec{Name: "dev's", Level: auth.LevelOrganization, Scopes: scopes})
		if err != nil {
			t.Fatal(err)
		}
		return k, token
	}
	broad, broadToken := issue(gatehouse.ScopeViewProject, gatehouse.ScopeManageAPI)
	narrow, narrowToken := issue(gatehouse.ScopeViewProject)
	s.must(200, req{method: "GET", path: "/v1/projects", key: broadToken})

	s.must(200, req{method: "PATCH", path: "/v1/members/" + devID, key: s.key, body: map[string]any{"role": "viewer"}})
	if res := s.do(req{method: "GET", path: "/v1/projects", key: broadToken}); res.status != 401 {
		t.Errorf("a key with a scope its demoted creator lost still works: %d", res.status)
	}
	s.must(200, req{method: "GET", path: "/v1/projects", key: narrowToken})
	if got := s.must(200, req{method: "GET", path: "/v1/api-keys/" + broad.ID, key: s.key}).data(); got["status"] != "revoked" || got["revoked_reason"] != "creator_lost_scope" {
		t.Errorf("demoted creator's key: %v", got)
	}

	s.must(204, req{method: "DELETE", path: "/v1/members/" + devID, key: s.key})
	if res := s.do(req{method: "GET", path: "/v1/projects", key: narrowToken}); res.status != 401 {
		t.Errorf("a key of a removed member still works: %d", res.status)
	}
	if got := s.must(200, req{method: "GET", path: "/v1/api-keys/" + narrow.ID, key: s.key}).data(); got["revoked_reason"] != "creator_removed" {
		t.Errorf("removed creator's key: %v", got)
	}
	if n := len(s.must(200, req{method: "GET", path: "/v1/api-keys?created_by=member:" + devID + "&status=revoked", key: s.key}).list()); n != 2 {
		t.Errorf("created_by filter: %d revoked keys, want 2", n)
	}
	// The key the set-up printed is the instance's, not the first Admin's:
	// removing that member leaves it working.
	s.newMember("boss@acme.example", "admin")
	s.must(204, req{method: "DELETE", path: "/v1/members/" + tenancyAdminID(t, s), key: s.key})
	s.must(200, req{method: "GET", path: "/v1/projects", key: s.key})
}

// A key's own rate limit may not exceed the limit of the
// key that makes it, unless that key holds manage:settings.
func TestKeyLimitStaysWithinItsCreator(t *testing.T) {
	t.Parallel()
	s := newServer(t) // the first organization: enterprise, 10,000 an hour
	_, minter := s.newKey("organization", []string{"manage:api", "view:project"}, nil)
	body := func(limit int) map[string]any {
		return map[string]any{"name": "child", "level": "organization", "scopes": []string{"view:project"}, "rate_limit_per_hour": limit}
	}
	if res := s.do(req{method: "POST", path: "/v1/api-keys", key: minter, body: body(100_000_000)}); res.status != 403 || !strings.Contains(res.raw, "exceeds_creator_limit") {
		t.Errorf("a key of 100,000,000 an hour from a 10,000 one: %d %s", res.status, res.raw)
	}
	s.must(201, req{method: "POST", path: "/v1/api-keys", key: minter, body: body(10_000)})
	s.must(201, req{method: "POST", path: "/v1/api-keys", key: minter, body: body(50)})
	// A key of 50 an hour cannot make one of 60.
	_, small := s.newKey("organization", []string{"manage:api", "view:project"}, map[string]any{"rate_limit_per_hour": 50})
	if res := s.do(req{method: "POST", path: "/v1/api-keys", key: small, body: body(60)}); res.status != 403 {
		t.Errorf("a key of 60 from a key of 50: %d", res.status)
	}
	// manage:settings sets limits anyway.
	s.must(201, req{method: "POST", path: "/v1/api-keys", key: s.key, body: body(100_000_000)})
}

// A member's dashboard budget (10,000 an hour) is not what applies to the
// keys they make: the organization's limit is.
func TestMemberKeyLimitIsTheOrganizations(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.must(200, req{method: "PATCH", path: "/v1/settings", key: s.key, body: map[string]any{"rate_limit_per_hour": 100}})
	devID := s.newMember("dev@acme.example", "developer")
	dev := &auth.Principal{MemberID: devID, KeyName: "dev@acme.example", Level: auth.LevelOrganization, OrgID: s.orgID,
		Scopes: tenancy.BuiltinRoles()[1].Scopes, RateLimitPerHour: 10000}
	post := func(limit int) int {
		body := strings.NewReader(`{"name":"mine","level":"organization","scopes":["view:project"],"rate_limit_per_hour":` + strconv.Itoa(limit) + `}`)
		r := httptest.NewRequest("POST", "/v1/api-keys", body).WithContext(auth.WithPrincipal(context.Background(), dev))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.app.Handler().ServeHTTP(w, r) // as the dashboard calls the API in-process

		return w.Code
	}
	if got := post(5000); got != 403 {
		t.Errorf("a member's key of 5,000 an hour in an organization of 100: %d", got)
	}
	if got := post(50); got != 201 {
		t.Errorf("a member's key of 50 an hour: %d", got)
	}
}
