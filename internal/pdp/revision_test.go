package pdp_test

import (
	"fmt"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/pdp"
)

// TestPDPReadsYourWrites: a check or lookup on a PDP that passes the
// revision a write answered sees that write at once, round after round,
// without the caller polling; a revision the environment never reached is
// a 409 after a bounded wait.
func TestPDPReadsYourWrites(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sqliteConfig(t))
	r := startPDP(t, testConfig(w.n.url, w.envKey, t.TempDir()))
	r.waitState(t, pdp.StateSynced)
	var last int64
	for i := 0; i < 20; i++ {
		user := fmt.Sprintf("u%d", i)
		mustCall(t, 201, "POST", w.n.url+"/v1/users", w.envKey, map[string]any{"key": user})
		out := mustCall(t, 201, "POST", w.n.url+"/v1/role-assignments", w.envKey, map[string]any{"user": user, "role": "reader", "tenant": "acme"})
		rev, _ := out["meta"].(map[string]any)["revision"].(float64)
		if int64(rev) <= last {
			t.Fatalf("round %d: revision %v after %d", i, rev, last)
		}
		last = int64(rev)
		d := data(mustCall(t, 200, "POST", r.url+"/v1/allowed", r.key,
			map[string]any{"user": user, "action": "read", "resource": map[string]any{"type": "document", "tenant": "acme"}, "at_least": last}))
		if d["allow"] != true {
			t.Fatalf("round %d: the PDP with at_least %d: %v", i, last, d)
		}
		l := mustCall(t, 200, "POST", r.url+"/v1/allowed/users", r.key,
			map[string]any{"action": "read", "resource": map[string]any{"type": "document", "tenant": "acme"}, "at_least": last})
		if users, _ := l["data"].([]any); len(users) != i+2 { // alice and u0…ui
			t.Fatalf("round %d: users %v", i, l)
		}
	}
	status, out := call(t, "POST", r.url+"/v1/allowed", r.key,
		map[string]any{"user": "u1", "action": "read", "resource": map[string]any{"type": "document", "tenant": "acme"}, "at_least": last + 1_000_000})
	if status != 409 || fmt.Sprint(out["error"].(map[string]any)["details"].(map[string]any)["reason"]) != "revision_not_reached" {
		t.Fatalf("a revision from the future: %d %v", status, out)
	}
}

// TestPDPFollowsTheFineGrainedModel: resource roles, relations, instances,
// tuples, instance role assignments, condition sets and set rules written
// on the server reach the PDP over the change feed, and the PDP decides
// and explains them as the server does.
func TestPDPFollowsTheFineGrainedModel(t *testing.T) {
	t.Parallel()
	w := newWorld(t, sqliteConfig(t))
	r := startPDP(t, testConfig(w.n.url, w.envKey, t.TempDir()))
	r.waitState(t, pdp.StateSynced)
	var last int64
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/v1/resources", map[string]any{"key": "folder", "actions": []string{"read", "write"}}},
		{"POST", "/v1/resources/folder/relations", map[string]any{"key": "parent", "subject": "folder"}},
		{"POST", "/v1/resources/document/relations", map[string]any{"key": "parent", "subject": "folder"}},
		{"POST", "/v1/resources/folder/roles", map[string]any{"key": "editor", "permissions": []string{"read", "write"},
			"granted_to": []any{map[string]any{"role": "editor", "on_resource": "folder", "linked_by_relation": "parent"}}}},
		{"POST", "/v1/resources/document/roles", map[string]any{"key": "editor", "permissions": []string{"read", "write"},
			"granted_to": []any{map[string]any{"role": "editor", "on_resource": "folder", "linked_by_relation": "parent"}}}},
		{"POST", "/v1/resource-instances", map[string]any{"resource": "folder", "key": "root", "tenant": "acme"}},
		{"POST", "/v1/resource-instances", map[string]any{"resource": "folder", "key": "sub", "tenant": "acme"}},
		{"POST", "/v1/resource-instances", map[string]any{"resource": "document", "key": "d1", "tenant": "acme", "attributes": map[string]any{"pages": 12}}},
		{"POST", "/v1/relationship-tuples/bulk", map[string]any{"tuples": []any{
			map[string]any{"subject": "folder:root", "relation": "parent", "object": "folder:sub"},
			map[string]any{"subject": "folder:sub", "relation": "parent", "object": "document:d1"}}}},
		{"POST", "/v1/role-assignments", map[string]any{"user": "bob", "role": "editor", "resource_instance": "folder:root"}},
		{"POST", "/v1/condition-sets", map[string]any{"key": "seniors", "type": "userset", "conditions": map[string]any{"allOf": []any{map[string]any{"user.level": map[string]any{"greater-than-equals": 5}}}}}},
		{"POST", "/v1/condition-sets", map[string]any{"key": "short", "type": "resourceset", "resource": "document", "conditions": map[string]any{"allOf": []any{map[string]any{"resource.pages": map[string]any{"less-than": 20}}}}}},
		{"POST", "/v1/set-rules", map[string]any{"user_set": "seniors", "action": "read", "resource_set": "short"}},
	} {
		out := mustCall(t, 201, c.method, w.n.url+c.path, w.envKey, c.body)
		if rev, _ := out["meta"].(map[string]any)["revision"].(float64); int64(rev) > last {
			last = int64(rev)
		}
	}
	ask := func(body map[string]any) map[string]any {
		t.Helper()
		body["at_least"] = last
		return data(mustCall(t, 200, "POST", r.url+"/v1/allowed", r.key, body))
	}
	d := ask(map[string]any{"user": "bob", "action": "write", "resource": map[string]any{"type": "document", "key": "d1"}})
	if d["allow"] != true || d["via"] != "instance_role" || d["tenant"] != "acme" || len(d["path"].([]any)) != 5 {
		t.Fatalf("derived two levels down on the PDP: %v", d)
	}
	d = ask(map[string]any{"user": map[string]any{"key": "zoe", "attributes": map[string]any{"level": 7}}, "action": "read", "resource": map[string]any{"type": "document", "key": "d1"}})
	if d["allow"] != true || d["via"] != "set_rule" || d["resource_set"] != "short" {
		t.Fatalf("attribute rule on the PDP: %v", d)
	}
	d = ask(map[string]any{"user": map[string]any{"key": "zoe", "attributes": map[string]any{"level": 2}}, "action": "read", "resource": map[string]any{"type": "document", "key": "d1"}})
	if d["allow"] != false {
		t.Fatalf("zoe below the level: %v", d)
	}
	l := mustCall(t, 200, "POST", r.url+"/v1/allowed/resources", r.key, map[string]any{"user": "bob", "action": "write", "resource": map[string]any{"type": "folder"}, "at_least": last})
	if got := fmt.Sprint(l["data"]); got != "[root sub]" {
		t.Fatalf("bob's folders on the PDP: %s", got)
	}
	// the server answers the same
	sd := data(mustCall(t, 200, "POST", w.n.url+"/v1/allowed", w.envKey, map[string]any{"user": "bob", "action": "write", "resource": map[string]any{"type": "document", "key": "d1"}}))
	if fmt.Sprint(sd["path"]) != fmt.Sprint(ask(map[string]any{"user": "bob", "action": "write", "resource": map[string]any{"type": "document", "key": "d1"}})["path"]) {
		t.Fatalf("server and PDP explain differently: %v", sd)
	}
}
