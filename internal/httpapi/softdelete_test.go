package httpapi_test

import (
	"context"
	"testing"
	"time"
)

// Deleting an organization, a project or an environment is
// a soft delete: restorable until purge_after, purged after; the last
// organization cannot be deleted; a deleted organization's keys answer
// ORGANIZATION_DELETED.
func TestSoftDelete(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	b := s.otherOrg("Beta")

	// An organization: its keys stop, with a clear code; it can be read and
	// restored with them.
	s.must(204, req{method: "DELETE", path: "/v1/organizations/" + b.id, key: b.key})
	res := s.do(req{method: "GET", path: "/v1/projects", key: b.key})
	if res.status != 401 || res.code() != "ORGANIZATION_DELETED" {
		t.Fatalf("a deleted organization's key: %d %s\n%s", res.status, res.code(), res.raw)
	}
	if res := s.do(req{method: "GET", path: "/v2/projects", key: b.key}); res.status != 401 {
		t.Errorf("a deleted organization's key on /v2: %d", res.status)
	}
	got := s.must(200, req{method: "GET", path: "/v1/organizations/" + b.id, key: b.key}).data()
	purge, err := time.Parse(time.RFC3339Nano, got["purge_after"].(string))
	if got["deleted_at"] == nil || err != nil || purge.Sub(time.Now()) < 6*24*time.Hour {
		t.Errorf("deleted organization: %v", got)
	}
	// The last organization of the instance stays.
	if res := s.do(req{method: "DELETE", path: "/v1/organizations/" + s.orgID, key: s.key}); res.status != 409 {
		t.Errorf("deleting the last organization: %d %s", res.status, res.raw)
	}
	s.must(200, req{method: "POST", path: "/v1/organizations/" + b.id + "/restore", key: b.key})
	s.must(200, req{method: "GET", path: "/v1/projects/" + b.projID, key: b.key})
	s.must(200, req{method: "GET", path: "/v1/members/" + b.memberID, key: b.key})

	// A project: its environments' keys stop; its key is free meanwhile;
	// restored with its environments; not once its key is taken again.
	proj := s.must(201, req{method: "POST", path: "/v1/projects", key: s.key, body: map[string]any{"key": "shop", "name": "Shop"}}).data()
	pid := proj["id"].(string)
	_, envKey := s.newKey("environment", []string{"view:user"}, map[string]any{"project": "shop", "environment": "development"})
	s.must(200, req{method: "GET", path: "/v1/users", key: envKey})
	s.must(204, req{method: "DELETE", path: "/v1/projects/shop", key: s.key})
	if res := s.do(req{method: "GET", path: "/v1/users", key: envKey}); res.status != 401 {
		t.Errorf("a deleted project's environment key: %d", res.status)
	}
	s.must(404, req{method: "GET", path: "/v1/projects/shop", key: s.key})
	deleted := s.must(200, req{method: "GET", path: "/v1/projects?deleted=true", key: s.key}).list()
	if len(deleted) != 1 || deleted[0].(map[string]any)["key"] != "shop" || deleted[0].(map[string]any)["purge_after"] == nil {
		t.Fatalf("deleted projects: %v", deleted)
	}
	other := s.must(201, req{method: "POST", path: "/v1/projects", key: s.key, body: map[string]any{"key": "shop", "name": "Shop 2"}}).data()
	if res := s.do(req{method: "POST", path: "/v1/projects/" + pid + "/restore", key: s.key}); res.status != 409 {
		t.Errorf("restoring a project whose key was taken: %d %s", res.status, res.raw)
	}
	s.must(204, req{method: "DELETE", path: "/v1/projects/" + other["id"].(string), key: s.key})
	s.must(200, req{method: "POST", path: "/v1/projects/" + pid + "/restore", key: s.key})
	s.must(200, req{method: "GET", path: "/v1/users", key: envKey})
	if n := len(s.must(200, req{method: "GET", path: "/v1/projects/shop/environments", key: s.key}).list()); n != 2 {
		t.Errorf("a restored project has %d environments", n)
	}

	// An environment, on /v2 as well.
	s.must(204, req{method: "DELETE", path: "/v2/projects/" + pid + "/envs/development", key: s.key})
	if res := s.do(req{method: "GET", path: "/v1/users", key: envKey}); res.status != 401 {
		t.Errorf("a deleted environment's key: %d", res.status)
	}
	envs := s.must(200, req{method: "GET", path: "/v1/projects/shop/environments?deleted=true", key: s.key}).list()
	if len(envs) != 1 {
		t.Fatalf("deleted environments: %v", envs)
	}
	envID := envs[0].(map[string]any)["id"].(string)
	s.must(200, req{method: "POST", path: "/v1/projects/shop/environments/" + envID + "/restore", key: s.key})
	s.must(200, req{method: "GET", path: "/v1/users", key: envKey})

	// After the grace period it is purged for good.
	s.must(204, req{method: "DELETE", path: "/v1/projects/shop", key: s.key})
	if _, err := s.app.PurgeDeleted(context.Background(), time.Now().Add(7*24*time.Hour+time.Minute)); err != nil {
		t.Fatal(err)
	}
	if res := s.do(req{method: "POST", path: "/v1/projects/" + pid + "/restore", key: s.key}); res.status != 404 {
		t.Errorf("restoring a purged project: %d", res.status)
	}
	if n := len(s.must(200, req{method: "GET", path: "/v1/projects?deleted=true", key: s.key}).list()); n != 0 {
		t.Errorf("%d deleted projects after the purge", n)
	}
}
