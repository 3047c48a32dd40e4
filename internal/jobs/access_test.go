package jobs

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
)

func scopes(t *testing.T, s ...gatehouse.Scope) gatehouse.ScopeSet {
	t.Helper()
	set, err := gatehouse.NewScopeSet(s)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// A job never does more than its key may: reading a kind of row takes its
// view scope, writing it its manage scope, for every kind the job touches.
func TestNeedScopes(t *testing.T) {
	t.Parallel()
	p := &auth.Principal{Scopes: scopes(t, gatehouse.ScopeViewUser, gatehouse.ScopeManageUser, gatehouse.ScopeViewTenant)}
	for _, tc := range []struct {
		name  string
		kinds []string
		write bool
		ok    bool
	}{
		{"read users", []string{facts.KindUser}, false, true},
		{"write users", []string{facts.KindUser}, true, true},
		{"read users and tenants", []string{facts.KindUser, facts.KindTenant}, false, true},
		{"write tenants: view only", []string{facts.KindUser, facts.KindTenant}, true, false},
		{"read roles: no scope", []string{facts.KindRole}, false, false},
		{"nothing", nil, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := needScopes(p, tc.kinds, tc.write)
			if tc.ok != (err == nil) {
				t.Fatalf("needScopes(%v, write %v) = %v, want ok %v", tc.kinds, tc.write, err, tc.ok)
			}
			var e *gatehouse.Error
			if err != nil && (!errors.As(err, &e) || e.Code != gatehouse.CodeForbidden) {
				t.Fatalf("refusal %v is not FORBIDDEN", err)
			}
		})
	}
	// Every kind of row a job may hold has its two scopes.
	for _, k := range []string{facts.KindResource, facts.KindRole, facts.KindTenant, facts.KindUser, facts.KindRoleAssignment} {
		if sc, ok := kindScopes[k]; !ok || sc[0] == "" || sc[1] == "" {
			t.Errorf("kind %s has no scopes: %v", k, sc)
		}
	}
}

// getStore answers GetJob from a map; a job of another organization is
// not found, as the stores do.
type getStore struct {
	Store
	jobs map[string]*Job
}

func (s getStore) GetJob(_ context.Context, orgID, id string) (*Job, error) {
	if j, ok := s.jobs[id]; ok && j.OrgID == orgID {
		return j, nil
	}
	return nil, gatehouse.Errorf(gatehouse.CodeNotFound, "job %q not found", id)
}

// A job is seen by the keys that reach its environment, and by no other:
// to the others it does not exist (not found, never forbidden).
func TestGetFollowsTheKeysReach(t *testing.T) {
	t.Parallel()
	st := getStore{jobs: map[string]*Job{
		"j-dev":  {ID: "j-dev", OrgID: "o1", ProjectID: "p1", EnvID: "dev"},
		"j-prod": {ID: "j-prod", OrgID: "o1", ProjectID: "p1", EnvID: "prod"},
		"j-p2":   {ID: "j-p2", OrgID: "o1", ProjectID: "p2", EnvID: "p2-dev"},
		"j-o2":   {ID: "j-o2", OrgID: "o2", ProjectID: "q1", EnvID: "q1-dev"},
	}}
	svc := NewService(st, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{})
	org := &auth.Principal{Level: auth.LevelOrganization, OrgID: "o1"}
	proj := &auth.Principal{Level: auth.LevelProject, OrgID: "o1", ProjectID: "p1"}
	env := &auth.Principal{Level: auth.LevelEnvironment, OrgID: "o1", ProjectID: "p1", EnvironmentID: "dev"}
	for _, tc := range []struct {
		name string
		p    *auth.Principal
		sees map[string]bool
	}{
		{"organization key", org, map[string]bool{"j-dev": true, "j-prod": true, "j-p2": true}},
		{"project key", proj, map[string]bool{"j-dev": true, "j-prod": true}},
		{"environment key", env, map[string]bool{"j-dev": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for id := range st.jobs {
				j, err := svc.Get(context.Background(), tc.p, id)
				if tc.sees[id] {
					if err != nil || j.ID != id {
						t.Errorf("Get(%s) = %v, %v; want the job", id, j, err)
					}
					continue
				}
				var e *gatehouse.Error
				if err == nil || !errors.As(err, &e) || e.Code != gatehouse.CodeNotFound {
					t.Errorf("Get(%s) = %v, %v; want NOT_FOUND", id, j, err)
				}
			}
		})
	}
}
