package httpapi_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// driveData fills development with the Drive-like model (driveModel) and
// data of every fine-grained kind: instances in two tenants, parent tuples
// two levels deep, a subject set, instance and tenant role assignments,
// a tenant-role derivation, condition sets and a set rule.
func driveData(t *testing.T, s *server) {
	t.Helper()
	k := s.fineKey()
	driveModel(t, s, k)
	do := func(method, path string, body any) {
		t.Helper()
		s.must(map[string]int{"POST": 201, "PATCH": 200}[method], req{method: method, path: path, key: k, body: body})
	}
	// a derivation from a tenant role, and one that names a role created later
	// (document#viewer from folder#viewer)
	do("POST", "/v1/roles", map[string]any{"key": "admin", "permissions": []string{"document:read"}})
	do("POST", "/v1/resources/document/roles", map[string]any{"key": "viewer", "permissions": []string{"read"}, "extends": []string{},
		"granted_to": []any{map[string]any{"role": "viewer", "on_resource": "folder", "linked_by_relation": "parent"}, map[string]any{"role": "admin", "on_resource": authz.TenantResource}}})
	do("POST", "/v1/tenants", map[string]any{"key": "acme", "attributes": map[string]any{"plan": "pro"}})
	for _, u := range []string{"ada", "bob", "cy"} {
		do("POST", "/v1/users", map[string]any{"key": u, "attributes": map[string]any{"department": map[string]string{"ada": "finance"}[u]}})
	}
	do("POST", "/v1/resource-instances", map[string]any{"resource": "team", "key": "t1", "tenant": "acme"})
	do("POST", "/v1/resource-instances", map[string]any{"resource": "folder", "key": "f1", "tenant": "acme"})
	do("POST", "/v1/resource-instances", map[string]any{"resource": "folder", "key": "f2", "tenant": "acme"})
	do("POST", "/v1/resource-instances", map[string]any{"resource": "document", "key": "d1", "tenant": "acme", "attributes": map[string]any{"pages": 3}})
	do("POST", "/v1/resource-instances", map[string]any{"resource": "document", "key": "d2", "attributes": map[string]any{"pages": 300}})
	do("POST", "/v1/relationship-tuples/bulk", map[string]any{"tuples": []any{
		map[string]any{"subject": "folder:f1", "relation": "parent", "object": "folder:f2"},
		map[string]any{"subject": "folder:f2", "relation": "parent", "object": "document:d1"},
		map[string]any{"subject": "team:t1#member", "relation": "editor", "object": "folder:f1"},
	}})
	do("POST", "/v1/role-assignments", map[string]any{"user": "bob", "role": "member", "resource_instance": "team:t1"})
	do("POST", "/v1/role-assignments", map[string]any{"user": "cy", "role": "viewer", "resource_instance": "document:d2"})
	do("POST", "/v1/role-assignments", map[string]any{"user": "cy", "role": "admin", "tenant": "acme"})
	do("POST", "/v1/condition-sets", map[string]any{"key": "finance", "name": "Finance", "type": "userset",
		"conditions": map[string]any{"allOf": []any{map[string]any{"user.department": map[string]any{"equals": "finance"}}}}})
	do("POST", "/v1/condition-sets", map[string]any{"key": "short-docs", "type": "resourceset", "resource": "document",
		"conditions": map[string]any{"resource.pages": map[string]any{"less-than": 10}}})
	do("POST", "/v1/set-rules", map[string]any{"user_set": "finance", "action": "delete", "resource_set": "short-docs"})
}

// engineData is envID's data as its engine on this node holds it (caught
// up with the feed), as JSON with its lists sorted.
func engineData(t *testing.T, s *server, envID string) string {
	t.Helper()
	ctx := t.Context()
	if err := s.app.Facts.Engines.CatchUp(ctx, envID); err != nil {
		t.Fatal(err)
	}
	e, err := s.app.Facts.Engines.Get(ctx, envID)
	if err != nil {
		t.Fatal(err)
	}
	return canonical(t, e.Data())
}

// canonical is d as JSON, each list sorted (an engine's lists follow its
// maps).
func canonical(t *testing.T, d authz.Data) string {
	t.Helper()
	raw, _ := json.Marshal(d)
	var m map[string][]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		items := make([]string, len(m[k]))
		for i, x := range m[k] {
			items[i] = string(x)
		}
		slices.Sort(items)
		fmt.Fprintf(&b, "%s:\n  %s\n", k, strings.Join(items, "\n  "))
	}
	return b.String()
}

// feedFollows checks that what envID's feed says since seq, applied to an
// engine holding before, is what the database holds: nodes and PDPs that
// follow the feed see every row a job applied.
func feedFollows(t *testing.T, s *server, envID string, before authz.Data, seq int64) {
	t.Helper()
	ctx := t.Context()
	e := authz.New()
	if err := e.Load(before); err != nil {
		t.Fatal(err)
	}
	for {
		cs, err := s.app.Facts.Store.ChangesSince(ctx, envID, seq, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) == 0 {
			break
		}
		for _, c := range cs {
			if err := e.Apply(c.Change); err != nil {
				t.Fatalf("feed change %d (%s) does not apply: %v", c.Seq, c.Op, err)
			}
			seq = c.Seq
		}
	}
	db, _, err := s.app.Facts.Store.LoadEnvironment(ctx, envID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := canonical(t, e.Data()), canonical(t, db); got != want {
		t.Errorf("the feed gives\n%s\nthe database holds\n%s", got, want)
	}
}

// loadedAt is envID's data and feed position now.
func loadedAt(t *testing.T, s *server, envID string) (authz.Data, int64) {
	t.Helper()
	d, seq, err := s.app.Facts.Store.LoadEnvironment(t.Context(), envID)
	if err != nil {
		t.Fatal(err)
	}
	return d, seq
}

// An export of the fine-grained model imported into a fresh environment,
// and an environment copy, give the same engine data as the source.
func TestFineExportImportCopy(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			s := newServerWith(t, engineConfig(t, engine))
			driveData(t, s)
			src := engineData(t, s, s.devID)
			for _, want := range []string{`"subject":"team:t1#member"`, `"resource_instance":"document:d2"`, `"on_resource":"__tenant"`, `"resource_set":"short-docs"`, `"less-than"`} {
				if !strings.Contains(src, want) {
					t.Fatalf("setup: no %s in\n%s", want, src)
				}
			}
			s.app.Jobs.Opt.ExportBatch = 2 // kinds split in several tasks
			ex := s.must(201, req{method: "POST", path: "/v1/jobs" + devQ, key: s.key, body: map[string]any{"type": "export"}}).data()
			if ex = s.waitJob(ex["id"].(string)); ex["status"] != "succeeded" {
				t.Fatalf("export %v", ex)
			}
			out := s.must(200, req{method: "GET", path: ex["output_url"].(string), key: s.key}).raw
			kinds := map[string]int{}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var r struct{ Type string }
				if err := json.Unmarshal([]byte(line), &r); err != nil {
					t.Fatalf("line %q: %v", line, err)
				}
				kinds[r.Type]++
			}
			// role_assignment: cy admin in acme, bob member of t1, cy viewer of d2
			want := map[string]int{"resource": 3, "role": 1, "relation": 2, "resource_role": 5, "tenant": 2, "user": 3,
				"resource_instance": 5, "relationship_tuple": 3, "condition_set": 2, "set_rule": 1, "role_assignment": 3}
			if fmt.Sprint(kinds) != fmt.Sprint(want) {
				t.Errorf("export rows by kind %v, want %v", kinds, want)
			}
			// The rows of a kind may come in any order: reversed, the import
			// gives the same (resource roles deriving from roles of other
			// types, tuples of a chain).
			lines := strings.Split(strings.TrimSpace(out), "\n")
			slices.Reverse(lines)
			prodQ := "?project=default&environment=production"
			before, seq := loadedAt(t, s, s.prodID)
			j := s.waitJob(s.importFile(s.key, prodQ, "application/x-ndjson", strings.Join(lines, "\n")).data()["id"].(string))
			if j["status"] != "succeeded" {
				t.Fatalf("import of the export: %v", j)
			}
			if got := engineData(t, s, s.prodID); got != src {
				t.Errorf("imported export differs:\n%s\nsource:\n%s", got, src)
			}
			feedFollows(t, s, s.prodID, before, seq)
			// Importing it again changes nothing.
			j = s.waitJob(s.importFile(s.key, prodQ, "application/x-ndjson", out).data()["id"].(string))
			if r := j["result"].(map[string]any); j["status"] != "succeeded" || r["created"] != 0.0 || r["updated"] != 0.0 {
				t.Errorf("a second import of the same export: %v", j)
			}

			// A copy into a fresh environment, in batches of 2 items.
			st := s.must(201, req{method: "POST", path: "/v1/projects/default/environments", key: s.key, body: map[string]any{"key": "staging", "name": "Staging"}}).data()
			stQ := "?project=default&environment=staging"
			before, seq = loadedAt(t, s, st["id"].(string))
			cp := s.must(201, req{method: "POST", path: "/v1/jobs" + stQ, key: s.key, body: map[string]any{"type": "environment_copy", "source": map[string]any{"project": "default", "environment": "development"}}}).data()
			if cp = s.waitJob(cp["id"].(string)); cp["status"] != "succeeded" {
				t.Fatalf("copy %v", cp)
			}
			if got := engineData(t, s, st["id"].(string)); got != src {
				t.Errorf("copy differs:\n%s\nsource:\n%s", got, src)
			}
			feedFollows(t, s, st["id"].(string), before, seq)
			// The copy decides as the source: bob, a member of team t1, edits
			// d1 through t1#member → editor of f1 → parent of f2 → parent of d1.
			for _, q := range []string{devQ, stQ} {
				d := s.must(200, req{method: "POST", path: "/v1/allowed" + q, key: s.key,
					body: map[string]any{"user": "bob", "action": "write", "resource": map[string]any{"type": "document", "key": "d1"}}}).data()
				if d["allow"] != true {
					t.Errorf("%s: bob may not write document:d1: %v", q, d)
				}
			}

			// A replacing copy from an empty environment empties the target:
			// the reset clears the fine-grained data too.
			s.must(201, req{method: "POST", path: "/v1/projects/default/environments", key: s.key, body: map[string]any{"key": "empty", "name": "Empty"}})
			cp = s.must(201, req{method: "POST", path: "/v1/jobs" + stQ, key: s.key, body: map[string]any{"type": "environment_copy", "replace": true,
				"source": map[string]any{"project": "default", "environment": "empty"}}}).data()
			if cp = s.waitJob(cp["id"].(string)); cp["status"] != "succeeded" {
				t.Fatalf("replacing copy %v", cp)
			}
			d, _ := loadedAt(t, s, st["id"].(string))
			if n := len(d.ResourceRoles) + len(d.Relations) + len(d.Instances) + len(d.Tuples) + len(d.ConditionSets) + len(d.SetRules) + len(d.Assignments); n != 0 {
				t.Errorf("%d fine-grained items left after a replacing copy from an empty environment: %+v", n, d)
			}
			if got := engineData(t, s, st["id"].(string)); got != canonical(t, d) {
				t.Errorf("engine after the reset:\n%s\ndatabase:\n%s", got, canonical(t, d))
			}
		})
	}
}

// A batch with a row that cannot be applied is applied not at all, and its
// error names the row.
func TestFineImportBadRows(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			s := newServerWith(t, engineConfig(t, engine))
			driveData(t, s)
			for _, c := range []struct {
				name  string
				rows  []string
				line  float64
				field string
				msg   string
			}{
				{"cycle", []string{
					`{"type":"resource_instance","resource":"folder","key":"f3","tenant":"acme"}`,
					`{"type":"relationship_tuple","subject":"folder:f2","relation":"parent","object":"folder:f3"}`,
					`{"type":"relationship_tuple","subject":"folder:f3","relation":"parent","object":"folder:f1"}`, // f1 → f2 → f3 → f1
				}, 3, "", "cycle"},
				{"unknown instance", []string{
					`{"type":"resource_instance","resource":"folder","key":"f4","tenant":"acme"}`,
					`{"type":"relationship_tuple","subject":"folder:f4","relation":"parent","object":"document:ghost"}`,
				}, 2, "object", "ghost"},
				{"assignment on an unknown instance", []string{
					`{"type":"user","key":"dee"}`,
					`{"type":"role_assignment","user":"dee","role":"editor","resource_instance":"document:nope"}`,
				}, 2, "resource_instance", "nope"},
				{"derivation by an unknown relation", []string{
					`{"type":"resource_role","resource":"document","key":"owner","permissions":["delete"],"granted_to":[{"role":"editor","on_resource":"folder","linked_by_relation":"contains"}]}`,
				}, 1, "granted_to[0].linked_by_relation", "contains"},
			} {
				res := s.importFile(s.key, devQ+"&batch_size=100", "application/x-ndjson", strings.Join(c.rows, "\n"))
				j := s.waitJob(res.data()["id"].(string))
				r := j["result"].(map[string]any)
				errs, _ := r["errors"].([]any)
				if j["status"] != "failed" || len(errs) != 1 {
					t.Errorf("%s: job %v", c.name, j)
					continue
				}
				e := errs[0].(map[string]any)
				if e["line"] != c.line || fmt.Sprint(e["field"]) != fmt.Sprint(map[bool]any{true: nil, false: c.field}[c.field == ""]) || !strings.Contains(e["message"].(string), c.msg) {
					t.Errorf("%s: row error %v, want line %v field %q message with %q", c.name, e, c.line, c.field, c.msg)
				}
			}
			// Nothing of the failed batches was applied.
			for _, p := range []string{"/v1/resource-instances/folder:f3", "/v1/resource-instances/folder:f4", "/v1/users/dee", "/v1/resources/document/roles/owner"} {
				s.must(404, req{method: "GET", path: p + devQ, key: s.key})
			}
			// Instances and tuples are the resource scopes' data.
			k := s.envKey("manage:job", "view:job", "manage:user", "view:user")
			res := s.importFile(k, "", "application/x-ndjson", `{"type":"resource_instance","resource":"folder","key":"f5"}`)
			if res.status != 403 || !strings.Contains(res.raw, "manage:resource") {
				t.Errorf("an import of instances without manage:resource: %d %s", res.status, res.raw)
			}
			// Bad conditions are refused with the file, the line named.
			res = s.importFile(s.key, devQ, "application/x-ndjson", `{"type":"user","key":"eve"}`+"\n"+
				`{"type":"condition_set","key":"bad","set_type":"userset","conditions":{"user.department":{"frobnicates":1}}}`)
			if res.status != 400 || !strings.Contains(res.raw, "line 2") || !strings.Contains(res.raw, "frobnicates") {
				t.Errorf("bad conditions: %d %s", res.status, res.raw)
			}
		})
	}
}
