// Package storetest is the store conformance suite: the same scenarios run
// against every engine, so SQLite and PostgreSQL answer alike, down to the
// error codes.
package storetest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// scenario runs on a store; dbScenario on the database itself (its queue).
type (
	scenario struct {
		name string
		fn   func(t *testing.T, st *store.Store)
	}
	dbScenario struct {
		name string
		fn   func(t *testing.T, db *store.DB)
	}
)

// Run runs every scenario but the long ones (RunLong); open returns a
// fresh, migrated database.
func Run(t *testing.T, openDB func(t *testing.T) *store.DB) {
	run(t, openDB, []scenario{
		{"Organizations", testOrganizations},
		{"Projects", testProjects},
		{"Environments", testEnvironments},
		{"Members", testMembers},
		{"Roles", testRoles},
		{"APIKeys", testAPIKeys},
		{"SigningKeys", testSigningKeys},
		{"CascadeDelete", testCascade},
		{"TxRollback", testRollback},
		{"TenantIsolation", testIsolation},
		{"Facts", testFacts},
		{"FactsFeed", testFactsFeed},
		{"FeedCompaction", testFeedCompaction},
		{"FineFeed", testFineFeed},
		{"FineTwoNodes", testFineTwoNodes},
		{"UnknownSorts", testUnknownSorts},
		{"MemberOIDC", testMemberOIDC},
	}, []dbScenario{
		{"Outbox", testOutbox},
		{"WebhookStore", testWebhookStore},
		{"JobStore", testJobStore},
		{"Bulk", testBulk},
		{"MemberSignIn", testMemberSignIn},
		{"SecretsAtRest", testSecretsAtRest},
		{"RoleAttributes", testRoleAttributes},
		{"Audit", testAudit},
	})
}

// RunLong runs the long scenarios: lists read page by page, by number, by
// cursor and deep, compared with a plain walk of the whole list, and a
// load of thousands of fine-grained facts. They are one goroutine each and
// test SQL, not concurrency: the suite runs them without the race detector
// (.ci/test's `// ci: norace`).
func RunLong(t *testing.T, openDB func(t *testing.T) *store.DB) {
	run(t, openDB, []scenario{
		{"FineLoadMany", testFineLoadMany},
		{"CursorPaging", testCursorPaging},
		{"DeepPages", testDeepPages},
		{"MergedAssignmentPaging", testMergedAssignmentPaging},
		{"ByKeyAssignmentPaging", testByKeyAssignmentPaging},
	}, []dbScenario{
		{"AnchoredPages", testAnchoredPages},
		{"AnchoredAppends", testAnchoredAppends},
	})
}

// run runs each scenario on a database of its own, in parallel.
func run(t *testing.T, openDB func(t *testing.T) *store.DB, onStore []scenario, onDB []dbScenario) {
	open := func(t *testing.T) *store.DB {
		db := openDB(t)
		db.SetSecrets(Ring(t))
		return db
	}
	for _, tc := range onStore {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t).Store())
		})
	}
	for _, tc := range onDB {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

var now = time.Date(2026, 11, 1, 12, 0, 0, 123456000, time.UTC)

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := gatehouse.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newOrg(t *testing.T, st *store.Store, key string) *tenancy.Organization {
	t.Helper()
	o := &tenancy.Organization{ID: tenancy.NewID(), Key: key, Name: "Org " + key, Settings: tenancy.DefaultOrgSettings(), CreatedAt: now, UpdatedAt: now}
	must(t, st.CreateOrganization(context.Background(), o))
	return o
}

func newProject(t *testing.T, st *store.Store, org *tenancy.Organization, key string, at time.Time) *tenancy.Project {
	t.Helper()
	p := &tenancy.Project{ID: tenancy.NewID(), OrgID: org.ID, Key: key, Name: "Project " + key, CreatedAt: at, UpdatedAt: at}
	must(t, st.CreateProject(context.Background(), p))
	return p
}

func newEnv(t *testing.T, st *store.Store, p *tenancy.Project, key string, sandbox bool) *tenancy.Environment {
	t.Helper()
	e := &tenancy.Environment{ID: tenancy.NewID(), OrgID: p.OrgID, ProjectID: p.ID, Key: key, Name: key, Sandbox: sandbox,
		Settings: tenancy.DefaultEnvSettings(), CreatedAt: now, UpdatedAt: now}
	must(t, st.CreateEnvironment(context.Background(), e))
	return e
}

func testOrganizations(t *testing.T, st *store.Store) {
	ctx := context.Background()
	o := newOrg(t, st, "acme")
	got, err := st.GetOrganization(ctx, o.ID)
	must(t, err)
	if got.Key != "acme" || !got.CreatedAt.Equal(now) || got.Settings.Tier != tenancy.TierFree {
		t.Fatalf("got %+v", got)
	}
	byKey, err := st.GetOrganization(ctx, "acme")
	must(t, err)
	if byKey.ID != o.ID {
		t.Fatal("lookup by key returned another organization")
	}
	limit := 500
	o.Name, o.Settings.Tier, o.Settings.RateLimitPerHour = "Acme Inc", tenancy.TierPro, &limit
	must(t, st.UpdateOrganization(ctx, o))
	got, err = st.GetOrganization(ctx, o.ID)
	must(t, err)
	if got.Name != "Acme Inc" || got.Settings.Tier != tenancy.TierPro || got.Settings.RateLimitPerHour == nil || *got.Settings.RateLimitPerHour != 500 {
		t.Fatalf("update not stored: %+v", got)
	}
	dup := &tenancy.Organization{ID: tenancy.NewID(), Key: "acme", Name: "Dup", CreatedAt: now, UpdatedAt: now}
	wantCode(t, st.CreateOrganization(ctx, dup), gatehouse.CodeConflict)
	_, err = st.GetOrganization(ctx, tenancy.NewID())
	wantCode(t, err, gatehouse.CodeNotFound)
	n, err := st.CountOrganizations(ctx)
	must(t, err)
	if n != 1 {
		t.Fatalf("count = %d", n)
	}
	first, err := st.FirstOrganization(ctx)
	must(t, err)
	if first.ID != o.ID {
		t.Fatal("first organization is wrong")
	}
	must(t, st.DeleteOrganization(ctx, o.ID))
	wantCode(t, st.DeleteOrganization(ctx, o.ID), gatehouse.CodeNotFound)
}

func testProjects(t *testing.T, st *store.Store) {
	ctx := context.Background()
	org := newOrg(t, st, "acme")
	var ids []string
	for i, key := range []string{"charlie", "alpha", "bravo"} {
		ids = append(ids, newProject(t, st, org, key, now.Add(time.Duration(i)*time.Second)).ID)
	}
	wantCode(t, st.CreateProject(ctx, &tenancy.Project{ID: tenancy.NewID(), OrgID: org.ID, Key: "alpha", Name: "x", CreatedAt: now, UpdatedAt: now}), gatehouse.CodeConflict)

	page := func(req gatehouse.PageRequest, f tenancy.ProjectFilter) ([]string, int) {
		t.Helper()
		f.OrgID = org.ID
		res, err := st.ListProjects(ctx, f, req)
		must(t, err)
		var keys []string
		for _, p := range res.Items {
			keys = append(keys, p.Key)
		}
		return keys, res.Total
	}
	tests := []struct {
		name      string
		req       gatehouse.PageRequest
		f         tenancy.ProjectFilter
		want      string
		wantTotal int
	}{
		{"default order is creation", gatehouse.PageRequest{Page: 1, PerPage: 10}, tenancy.ProjectFilter{}, "[charlie alpha bravo]", 3},
		{"sort by key", gatehouse.PageRequest{Page: 1, PerPage: 10, Sort: "key"}, tenancy.ProjectFilter{}, "[alpha bravo charlie]", 3},
		{"sort by key desc", gatehouse.PageRequest{Page: 1, PerPage: 10, Sort: "key", Desc: true}, tenancy.ProjectFilter{}, "[charlie bravo alpha]", 3},
		{"second page", gatehouse.PageRequest{Page: 2, PerPage: 2, Sort: "key"}, tenancy.ProjectFilter{}, "[charlie]", 3},
		{"past the end", gatehouse.PageRequest{Page: 5, PerPage: 2}, tenancy.ProjectFilter{}, "[]", 3},
		{"filter by key", gatehouse.PageRequest{Page: 1, PerPage: 10}, tenancy.ProjectFilter{Key: "bravo"}, "[bravo]", 1},
		{"restricted to one id", gatehouse.PageRequest{Page: 1, PerPage: 10}, tenancy.ProjectFilter{ID: ids[0]}, "[charlie]", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, total := page(tc.req, tc.f)
			if got := fmt.Sprint(keys); got != tc.want && !(tc.want == "[]" && keys == nil) || total != tc.wantTotal {
				t.Fatalf("got %v total %d, want %s total %d", keys, total, tc.want, tc.wantTotal)
			}
		})
	}
	_, err := st.ListProjects(ctx, tenancy.ProjectFilter{OrgID: org.ID}, gatehouse.PageRequest{Page: 1, PerPage: 10, Sort: "name; DROP TABLE projects"})
	wantCode(t, err, gatehouse.CodeInvalidRequest)

	p, err := st.GetProject(ctx, org.ID, "alpha")
	must(t, err)
	p.Key, p.Name, p.Description, p.UpdatedAt = "alpha2", "Alpha 2", "desc", now.Add(time.Hour)
	must(t, st.UpdateProject(ctx, p))
	got, err := st.GetProject(ctx, org.ID, p.ID)
	must(t, err)
	if got.Key != "alpha2" || got.Description != "desc" || !got.UpdatedAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("update not stored: %+v", got)
	}
	p.Key = "bravo"
	wantCode(t, st.UpdateProject(ctx, p), gatehouse.CodeConflict)
	_, err = st.GetProject(ctx, org.ID, "alpha")
	wantCode(t, err, gatehouse.CodeNotFound)
	must(t, st.DeleteProject(ctx, org.ID, p.ID))
	wantCode(t, st.DeleteProject(ctx, org.ID, p.ID), gatehouse.CodeNotFound)
}

func testEnvironments(t *testing.T, st *store.Store) {
	ctx := context.Background()
	org := newOrg(t, st, "acme")
	p := newProject(t, st, org, "web", now)
	p2 := newProject(t, st, org, "mobile", now)
	dev := newEnv(t, st, p, "development", false)
	newEnv(t, st, p, "sandbox", true)
	newEnv(t, st, p2, "development", false) // same key, other project: allowed
	wantCode(t, st.CreateEnvironment(ctx, &tenancy.Environment{ID: tenancy.NewID(), OrgID: org.ID, ProjectID: p.ID, Key: "development",
		Name: "x", Settings: tenancy.DefaultEnvSettings(), CreatedAt: now, UpdatedAt: now}), gatehouse.CodeConflict)

	yes := true
	res, err := st.ListEnvironments(ctx, tenancy.EnvironmentFilter{OrgID: org.ID, ProjectID: p.ID, Sandbox: &yes}, gatehouse.PageRequest{Page: 1, PerPage: 10})
	must(t, err)
	if res.Total != 1 || res.Items[0].Key != "sandbox" || !res.Items[0].Sandbox {
		t.Fatalf("sandbox filter: %+v", res)
	}
	res, err = st.ListEnvironments(ctx, tenancy.EnvironmentFilter{OrgID: org.ID, ProjectID: p.ID}, gatehouse.PageRequest{Page: 1, PerPage: 10})
	must(t, err)
	if res.Total != 2 {
		t.Fatalf("project filter: %d", res.Total)
	}
	got, err := st.GetEnvironment(ctx, org.ID, p.ID, "development")
	must(t, err)
	if got.ID != dev.ID {
		t.Fatal("environment lookup by key crossed projects")
	}
	rate := 42
	got.Settings = tenancy.EnvSettings{RateLimitPerHour: &rate, DecisionLog: tenancy.DecisionLogSampled, DecisionLogSampleRate: 0.5}
	got.Sandbox = true
	must(t, st.UpdateEnvironment(ctx, got))
	again, err := st.GetEnvironment(ctx, org.ID, p.ID, dev.ID)
	must(t, err)
	if !again.Sandbox || again.Settings.DecisionLog != tenancy.DecisionLogSampled || *again.Settings.RateLimitPerHour != 42 {
		t.Fatalf("settings not stored: %+v", again)
	}
	_, err = st.GetEnvironment(ctx, org.ID, p2.ID, dev.ID)
	wantCode(t, err, gatehouse.CodeNotFound)
	must(t, st.DeleteEnvironment(ctx, org.ID, dev.ID))
	wantCode(t, st.DeleteEnvironment(ctx, org.ID, dev.ID), gatehouse.CodeNotFound)
}

func testMembers(t *testing.T, st *store.Store) {
	ctx := context.Background()
	org := newOrg(t, st, "acme")
	svc := tenancy.NewService(st)
	svc.Now = func() time.Time { return now }
	admin, err := svc.CreateMember(ctx, org.ID, "Admin@Example.com", "Ada", tenancy.RoleAdmin)
	must(t, err)
	if admin.Email != "admin@example.com" {
		t.Fatalf("email not normalized: %q", admin.Email)
	}
	_, err = svc.CreateMember(ctx, org.ID, "admin@example.com", "Again", tenancy.RoleViewer)
	wantCode(t, err, gatehouse.CodeConflict)
	_, err = svc.CreateMember(ctx, org.ID, "not-an-email", "", tenancy.RoleViewer)
	wantCode(t, err, gatehouse.CodeInvalidRequest)
	_, err = svc.CreateMember(ctx, org.ID, "x@example.com", "", "ghost")
	wantCode(t, err, gatehouse.CodeInvalidRequest)
	viewer, err := svc.CreateMember(ctx, org.ID, "v@example.com", "Vic", tenancy.RoleViewer)
	must(t, err)

	res, err := st.ListMembers(ctx, tenancy.MemberFilter{OrgID: org.ID, Role: tenancy.RoleViewer}, gatehouse.PageRequest{Page: 1, PerPage: 10})
	must(t, err)
	if res.Total != 1 || res.Items[0].ID != viewer.ID {
		t.Fatalf("role filter: %+v", res)
	}
	// The last Admin cannot leave or be demoted.
	all := gatehouse.MustScopeSet(gatehouse.AllScopes()...)
	wantCode(t, svc.DeleteMember(ctx, all, org.ID, admin.ID), gatehouse.CodeConflict)
	dev := tenancy.RoleDeveloper
	_, err = svc.UpdateMember(ctx, all, org.ID, admin.ID, nil, &dev)
	wantCode(t, err, gatehouse.CodeConflict)
	adminRole := tenancy.RoleAdmin
	_, err = svc.UpdateMember(ctx, all, org.ID, viewer.ID, nil, &adminRole)
	must(t, err)
	// Someone holding manage:member alone does not remove an Admin.
	wantCode(t, svc.DeleteMember(ctx, gatehouse.MustScopeSet(gatehouse.ScopeManageMember, gatehouse.ScopeViewMember), org.ID, admin.ID), gatehouse.CodeForbidden)
	must(t, svc.DeleteMember(ctx, all, org.ID, admin.ID))
	n, err := st.CountMembers(ctx, org.ID, tenancy.RoleAdmin)
	must(t, err)
	if n != 1 {
		t.Fatalf("admins = %d", n)
	}
	wantCode(t, st.DeleteMember(ctx, org.ID, admin.ID), gatehouse.CodeNotFound)
}

func testRoles(t *testing.T, st *store.Store) {
	ctx := context.Background()
	org := newOrg(t, st, "acme")
	svc := tenancy.NewService(st)
	r, err := svc.CreateRole(ctx, org.ID, tenancy.NewRoleInput{Name: "Key Manager", Scopes: []gatehouse.Scope{gatehouse.ScopeManageAPI, gatehouse.ScopeViewProject}})
	must(t, err)
	if r.Key != "key-manager" {
		t.Fatalf("key = %q", r.Key)
	}
	_, err = svc.CreateRole(ctx, org.ID, tenancy.NewRoleInput{Name: "Sneaky", Scopes: []gatehouse.Scope{gatehouse.ScopeManagePermission}})
	wantCode(t, err, gatehouse.CodeInvalidRequest)
	_, err = svc.CreateRole(ctx, org.ID, tenancy.NewRoleInput{Name: "Bad", Scopes: []gatehouse.Scope{"fly:plane"}})
	wantCode(t, err, gatehouse.CodeInvalidRequest)
	_, err = svc.CreateRole(ctx, org.ID, tenancy.NewRoleInput{Key: "admin", Name: "Admin 2", Scopes: []gatehouse.Scope{gatehouse.ScopeViewProject}})
	wantCode(t, err, gatehouse.CodeConflict)
	_, err = svc.CreateRole(ctx, org.ID, tenancy.NewRoleInput{Name: "Key Manager", Scopes: []gatehouse.Scope{gatehouse.ScopeViewProject}})
	wantCode(t, err, gatehouse.CodeConflict)

	roles, err := svc.Roles(ctx, org.ID)
	must(t, err)
	if len(roles) != 4 || roles[0].Key != tenancy.RoleAdmin || roles[3].Key != "key-manager" {
		t.Fatalf("roles = %+v", roles)
	}
	got, err := svc.Role(ctx, org.ID, "key-manager")
	must(t, err)
	if !got.Scopes.Has(gatehouse.ScopeManageAPI) || got.Scopes.Has(gatehouse.ScopeManageProject) {
		t.Fatalf("scopes = %v", got.Scopes)
	}
	scopes := []gatehouse.Scope{gatehouse.ScopeViewMember}
	upd, err := svc.UpdateRole(ctx, org.ID, "key-manager", nil, nil, &scopes)
	must(t, err)
	if upd.Scopes.String() != "view:member" {
		t.Fatalf("update: %v", upd.Scopes)
	}
	_, err = svc.UpdateRole(ctx, org.ID, tenancy.RoleViewer, nil, nil, &scopes)
	wantCode(t, err, gatehouse.CodeForbidden)

	_, err = svc.CreateMember(ctx, org.ID, "k@example.com", "", "key-manager")
	must(t, err)
	wantCode(t, svc.DeleteRole(ctx, org.ID, "key-manager"), gatehouse.CodeConflict)
	wantCode(t, svc.DeleteRole(ctx, org.ID, tenancy.RoleAdmin), gatehouse.CodeForbidden)
	wantCode(t, svc.DeleteRole(ctx, org.ID, "ghost"), gatehouse.CodeNotFound)
}

func newKey(org *tenancy.Organization, level auth.Level, projectID, envID string, at time.Time) *apikey.Key {
	return &apikey.Key{ID: tenancy.NewID(), OrgID: org.ID, ProjectID: projectID, EnvironmentID: envID, Level: level, Name: "k",
		Scopes: gatehouse.MustScopeSet(gatehouse.ScopeViewProject, gatehouse.ScopeManageAPI), TokenSHA256: "abc", CreatedBy: "member:x", CreatedAt: at}
}

func testAPIKeys(t *testing.T, st *store.Store) {
	ctx := context.Background()
	org := newOrg(t, st, "acme")
	p := newProject(t, st, org, "web", now)
	e := newEnv(t, st, p, "dev", false)
	orgKey := newKey(org, auth.LevelOrganization, "", "", now)
	projKey := newKey(org, auth.LevelProject, p.ID, "", now.Add(time.Second))
	envKey := newKey(org, auth.LevelEnvironment, p.ID, e.ID, now.Add(2*time.Second))
	past := now.Add(-time.Hour)
	expired := newKey(org, auth.LevelOrganization, "", "", now.Add(3*time.Second))
	expired.ExpiresAt = &past
	for _, k := range []*apikey.Key{orgKey, projKey, envKey, expired} {
		must(t, st.CreateAPIKey(ctx, k))
	}
	wantCode(t, st.CreateAPIKey(ctx, orgKey), gatehouse.CodeConflict)
	got, err := st.GetAPIKey(ctx, "", envKey.ID)
	must(t, err)
	if got.Level != auth.LevelEnvironment || got.EnvironmentID != e.ID || got.ProjectID != p.ID || got.Scopes != envKey.Scopes || !got.CreatedAt.Equal(envKey.CreatedAt) {
		t.Fatalf("got %+v", got)
	}
	if got.ExpiresAt != nil || got.RevokedAt != nil || got.LastUsedAt != nil {
		t.Fatalf("nullable times not nil: %+v", got)
	}
	_, err = st.GetAPIKey(ctx, tenancy.NewID(), envKey.ID)
	wantCode(t, err, gatehouse.CodeNotFound)

	revokedAt := now.Add(time.Minute)
	projKey.RevokedAt = &revokedAt
	projKey.ReplacedBy = envKey.ID
	must(t, st.UpdateAPIKey(ctx, projKey))
	// A write from a copy read before the revocation (a concurrent rename)
	// renames but does not undo the revocation or the replacement.
	stale := *projKey
	stale.RevokedAt, stale.ReplacedBy, stale.Name = nil, "", "renamed"
	must(t, st.UpdateAPIKey(ctx, &stale))
	if got, err := st.GetAPIKey(ctx, "", projKey.ID); err != nil || got.RevokedAt == nil || !got.RevokedAt.Equal(revokedAt) || got.ReplacedBy != envKey.ID || got.Name != "renamed" {
		t.Fatalf("a stale write undid the revocation: %+v %v", got, err)
	}
	// An expiry only comes sooner.
	soon, later := now.Add(time.Hour), now.Add(2*time.Hour)
	for _, exp := range []*time.Time{&soon, &later, nil} {
		k := *orgKey
		k.ExpiresAt = exp
		must(t, st.UpdateAPIKey(ctx, &k))
	}
	if got, err := st.GetAPIKey(ctx, "", orgKey.ID); err != nil || got.ExpiresAt == nil || !got.ExpiresAt.Equal(soon) || got.RevokedAt != nil {
		t.Fatalf("the expiry moved later: %+v %v", got, err)
	}
	used := now.Add(2 * time.Minute)
	must(t, st.TouchAPIKeys(ctx, map[string]time.Time{orgKey.ID: used}))
	must(t, st.TouchAPIKeys(ctx, map[string]time.Time{orgKey.ID: now})) // never backwards
	got, err = st.GetAPIKey(ctx, org.ID, orgKey.ID)
	must(t, err)
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(used) {
		t.Fatalf("last used = %v", got.LastUsedAt)
	}

	count := func(f apikey.Filter) int {
		t.Helper()
		f.OrgID, f.Now = org.ID, now
		res, err := st.ListAPIKeys(ctx, f, gatehouse.PageRequest{Page: 1, PerPage: 10})
		must(t, err)
		return res.Total
	}
	tests := []struct {
		name string
		f    apikey.Filter
		want int
	}{
		{"all", apikey.Filter{}, 4},
		{"active", apikey.Filter{Status: apikey.StatusActive}, 2},
		{"revoked", apikey.Filter{Status: apikey.StatusRevoked}, 1},
		{"expired", apikey.Filter{Status: apikey.StatusExpired}, 1},
		{"project", apikey.Filter{ProjectID: p.ID}, 2},
		{"environment", apikey.Filter{EnvironmentID: e.ID}, 1},
		{"level", apikey.Filter{Level: auth.LevelOrganization}, 2},
	}
	for _, tc := range tests {
		if got := count(tc.f); got != tc.want {
			t.Errorf("%s: %d keys, want %d", tc.name, got, tc.want)
		}
	}
}

func testSigningKeys(t *testing.T, st *store.Store) {
	ctx := context.Background()
	keys, err := st.SigningKeys(ctx)
	must(t, err)
	if len(keys) != 0 {
		t.Fatalf("fresh database has %d signing keys", len(keys))
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	must(t, st.CreateSigningKey(ctx, apikey.SigningKey{ID: "kid1", PrivateKey: priv, CreatedAt: now}))
	wantCode(t, st.CreateSigningKey(ctx, apikey.SigningKey{ID: "kid1", PrivateKey: priv, CreatedAt: now}), gatehouse.CodeConflict)
	keys, err = st.SigningKeys(ctx)
	must(t, err)
	if len(keys) != 1 || !keys[0].PrivateKey.Equal(priv) {
		t.Fatal("signing key did not round-trip")
	}
}

func testCascade(t *testing.T, st *store.Store) {
	ctx := context.Background()
	org := newOrg(t, st, "acme")
	p := newProject(t, st, org, "web", now)
	e := newEnv(t, st, p, "dev", false)
	k := newKey(org, auth.LevelEnvironment, p.ID, e.ID, now)
	must(t, st.CreateAPIKey(ctx, k))
	must(t, st.DeleteProject(ctx, org.ID, p.ID))
	_, err := st.GetEnvironment(ctx, org.ID, p.ID, e.ID)
	wantCode(t, err, gatehouse.CodeNotFound)
	_, err = st.GetAPIKey(ctx, "", k.ID)
	wantCode(t, err, gatehouse.CodeNotFound)

	m := &tenancy.Member{ID: tenancy.NewID(), OrgID: org.ID, Email: "a@example.com", Role: tenancy.RoleAdmin, CreatedAt: now, UpdatedAt: now}
	must(t, st.CreateMember(ctx, m))
	must(t, st.DeleteOrganization(ctx, org.ID))
	_, err = st.GetMember(ctx, org.ID, m.ID)
	wantCode(t, err, gatehouse.CodeNotFound)
}

func testRollback(t *testing.T, st *store.Store) {
	ctx := context.Background()
	boom := errors.New("boom")
	err := st.InTx(ctx, func(tx *store.Store) error {
		newOrg(t, tx, "doomed")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx error = %v", err)
	}
	_, err = st.GetOrganization(ctx, "doomed")
	wantCode(t, err, gatehouse.CodeNotFound)
	must(t, st.InTx(ctx, func(tx *store.Store) error {
		newOrg(t, tx, "kept")
		return nil
	}))
	_, err = st.GetOrganization(ctx, "kept")
	must(t, err)
}

func testIsolation(t *testing.T, st *store.Store) {
	ctx := context.Background()
	a, b := newOrg(t, st, "a"), newOrg(t, st, "b")
	pa := newProject(t, st, a, "web", now)
	ea := newEnv(t, st, pa, "dev", false)
	newProject(t, st, b, "web", now) // same key in another organization
	_, err := st.GetProject(ctx, b.ID, pa.ID)
	wantCode(t, err, gatehouse.CodeNotFound)
	_, err = st.GetEnvironment(ctx, b.ID, pa.ID, ea.ID)
	wantCode(t, err, gatehouse.CodeNotFound)
	wantCode(t, st.DeleteProject(ctx, b.ID, pa.ID), gatehouse.CodeNotFound)
	res, err := st.ListProjects(ctx, tenancy.ProjectFilter{OrgID: b.ID}, gatehouse.PageRequest{Page: 1, PerPage: 10})
	must(t, err)
	if res.Total != 1 || res.Items[0].OrgID != b.ID {
		t.Fatalf("list leaked across organizations: %+v", res)
	}
}

func factsEnv(t *testing.T, st *store.Store) (*facts.Service, string) {
	t.Helper()
	org := newOrg(t, st, "acme")
	env := newEnv(t, st, newProject(t, st, org, "web", now), "dev", false)
	return facts.NewService(st, slog.New(slog.NewTextHandler(io.Discard, nil))), env.ID
}

func testFacts(t *testing.T, st *store.Store) {
	ctx := context.Background()
	svc, env := factsEnv(t, st)
	_, err := svc.CreateUser(ctx, env, facts.UserInput{Key: "ada", Email: "ada@example.com", Attributes: map[string]any{"n": 1.5}})
	must(t, err)
	_, err = svc.CreateUser(ctx, env, facts.UserInput{Key: "ada"})
	wantCode(t, err, gatehouse.CodeConflict)
	_, err = svc.CreateUser(ctx, env, facts.UserInput{Key: "a_b", Email: "100%@example.com"})
	must(t, err)
	for search, want := range map[string]string{"_": "a_b", "%": "a_b", "ADA": "ada"} {
		res, err := st.ListUsers(ctx, facts.Filter{EnvID: env, Search: search}, gatehouse.PageRequest{Page: 1, PerPage: 10})
		must(t, err)
		if res.Total != 1 || res.Items[0].Key != want {
			t.Fatalf("search %q (wildcards are literal, case ignored): %+v", search, res.Items)
		}
	}
	u, err := st.GetUser(ctx, env, "ada")
	must(t, err)
	if u.Attributes["n"] != 1.5 {
		t.Fatalf("attributes: %v", u.Attributes)
	}
	_, err = svc.CreateResource(ctx, env, facts.ResourceInput{Key: "doc", Actions: []string{"read", "write"},
		Attributes: map[string]facts.AttributeDef{"owner": {Type: "string", Description: "who wrote it"}, "pages": {Type: "number"}}})
	must(t, err)
	doc, err := st.GetResource(ctx, env, "doc")
	must(t, err)
	if len(doc.Attributes) != 2 || doc.Attributes["owner"] != (facts.AttributeDef{Type: "string", Description: "who wrote it"}) || doc.Attributes["pages"].Type != "number" {
		t.Fatalf("resource attributes: %v", doc.Attributes)
	}
	_, err = svc.UpdateResource(ctx, env, "doc", facts.ResourcePatch{Attributes: &map[string]facts.AttributeDef{"owner": {Type: "uuid"}}})
	wantCode(t, err, gatehouse.CodeInvalidRequest)
	_, err = svc.UpdateResource(ctx, env, "doc", facts.ResourcePatch{Attributes: &map[string]facts.AttributeDef{"public": {Type: "bool"}}})
	must(t, err)
	if doc, _ = st.GetResource(ctx, env, "doc"); len(doc.Attributes) != 1 || doc.Attributes["public"].Type != "bool" {
		t.Fatalf("replaced attributes: %v", doc.Attributes)
	}
	_, err = svc.CreateRole(ctx, env, facts.RoleInput{Key: "reader", Permissions: []string{"doc:read"}})
	must(t, err)
	_, err = svc.CreateRole(ctx, env, facts.RoleInput{Key: "writer", Permissions: []string{"doc:write"}, Extends: []string{"reader"}})
	must(t, err)
	_, err = svc.UpdateRole(ctx, env, "reader", facts.RolePatch{Extends: &[]string{"writer"}})
	wantCode(t, err, gatehouse.CodeInvalidRequest)
	if ids, err := st.EnvironmentsWithoutTenant(ctx, authz.DefaultTenant); err != nil || !slices.Contains(ids, env) {
		t.Fatalf("environments without a default tenant: %v (%v), want %s among them", ids, err, env)
	}
	must(t, svc.EnsureDefaultTenant(ctx, env))
	must(t, svc.EnsureDefaultTenant(ctx, env))
	if ids, err := st.EnvironmentsWithoutTenant(ctx, authz.DefaultTenant); err != nil || slices.Contains(ids, env) {
		t.Fatalf("environments without a default tenant after ensuring it: %v (%v)", ids, err)
	}
	_, err = svc.CreateTenant(ctx, env, facts.TenantInput{Key: "acme"})
	must(t, err)
	for _, a := range []facts.AssignInput{{User: "ada", Role: "writer", Tenant: "acme"}, {User: "ada", Role: "reader"}, {User: "a_b", Role: "reader", Tenant: "acme"}} {
		_, err := svc.Assign(ctx, env, a)
		must(t, err)
	}
	_, err = svc.Assign(ctx, env, facts.AssignInput{User: "ada", Role: "reader"})
	wantCode(t, err, gatehouse.CodeConflict)
	list := func(f facts.AssignmentFilter) int {
		f.EnvID = env
		res, err := st.ListAssignments(ctx, f, gatehouse.PageRequest{Page: 1, PerPage: 10, Sort: "user"})
		must(t, err)
		return res.Total
	}
	if list(facts.AssignmentFilter{}) != 3 || list(facts.AssignmentFilter{User: "ada"}) != 2 || list(facts.AssignmentFilter{Tenant: "acme"}) != 2 || list(facts.AssignmentFilter{Role: "writer"}) != 1 {
		t.Fatal("assignment filters")
	}
	// A role in use (assigned, extended) is not deleted without cascade;
	// with it, its assignments and its place in extends go too.
	wantCode(t, svc.DeleteRole(ctx, env, "reader", false), gatehouse.CodeConflict)
	must(t, svc.DeleteRole(ctx, env, "reader", true))
	if list(facts.AssignmentFilter{}) != 1 {
		t.Fatal("role delete left assignments")
	}
	w, err := st.GetRole(ctx, env, "writer")
	must(t, err)
	if len(w.Extends) != 0 {
		t.Fatalf("extends after delete: %v", w.Extends)
	}
	must(t, svc.DeleteTenant(ctx, env, "acme"))
	if list(facts.AssignmentFilter{}) != 0 {
		t.Fatal("tenant delete left assignments")
	}
	wantCode(t, svc.Unassign(ctx, env, facts.AssignInput{User: "ada", Role: "writer", Tenant: "acme"}), gatehouse.CodeNotFound)
}

// The feed replays to the same engine state as a fresh load, on both engines.
func testFactsFeed(t *testing.T, st *store.Store) {
	ctx := context.Background()
	svc, env := factsEnv(t, st)
	must(t, svc.EnsureDefaultTenant(ctx, env))
	_, err := svc.CreateResource(ctx, env, facts.ResourceInput{Key: "doc", Actions: []string{"read"}})
	must(t, err)
	_, err = svc.CreateRole(ctx, env, facts.RoleInput{Key: "reader", Permissions: []string{"doc:read"}})
	must(t, err)
	for i := 0; i < 5; i++ {
		_, err := svc.CreateUser(ctx, env, facts.UserInput{Key: fmt.Sprintf("u%d", i)})
		must(t, err)
		_, err = svc.Assign(ctx, env, facts.AssignInput{User: fmt.Sprintf("u%d", i), Role: "reader"})
		must(t, err)
	}
	must(t, svc.DeleteUser(ctx, env, "u3"))
	must(t, svc.Unassign(ctx, env, facts.AssignInput{User: "u1", Role: "reader"}))

	changes, err := st.ChangesSince(ctx, env, 0, 1000)
	must(t, err)
	replayed := authz.New()
	var last int64
	for _, c := range changes {
		if c.Seq <= last {
			t.Fatalf("feed out of order: %d after %d", c.Seq, last)
		}
		last = c.Seq
		must(t, c.Apply(replayed))
	}
	data, seq, err := st.LoadEnvironment(ctx, env)
	must(t, err)
	if seq != last {
		t.Fatalf("load position %d, feed ends at %d", seq, last)
	}
	loaded := authz.New()
	must(t, loaded.Load(data))
	if fmt.Sprintf("%+v", loaded.Data()) != fmt.Sprintf("%+v", replayed.Data()) {
		t.Fatalf("replayed feed differs from a fresh load:\n%+v\n%+v", replayed.Data(), loaded.Data())
	}
	if st := loaded.Stats(); st.Assignments != 3 || st.Users != 4 {
		t.Fatalf("stats %+v", st)
	}
	tail, err := st.ChangesSince(ctx, env, changes[2].Seq, 2)
	must(t, err)
	if len(tail) != 2 || tail[0].Seq != changes[3].Seq {
		t.Fatal("ChangesSince paging")
	}
}
