package httpapi_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

// attrsJSON is the attributes object of an answer's data, as JSON (keys
// sorted), failing when it is missing or not an object.
func attrsJSON(t *testing.T, d map[string]any) string {
	t.Helper()
	a, ok := d["attributes"].(map[string]any)
	if !ok {
		t.Fatalf("no attributes object in %v", d)
	}
	b, _ := json.Marshal(a)
	return string(b)
}

// Roles and roles of resource types carry free attributes: stored,
// returned on every read, replaced by a PATCH that gives them, kept by one
// that does not, in the webhook events' data as the API answers them.
func TestRoleAttributes(t *testing.T) {
	t.Parallel()
	s := webhookServer(t, nil)
	rc := newReceiver(t, nil)
	s.newWebhook(rc.srv.URL+"/hook", "role.created", "role.updated", "resource_role.created", "resource_role.updated")
	k := s.fineKey()
	do := func(want int, method, path string, body any) resp {
		t.Helper()
		return s.must(want, req{method: method, path: path, key: k, body: body})
	}
	do(201, "POST", "/v1/resources", map[string]any{"key": "document", "actions": []string{"read", "write"}})

	kinds := []struct {
		name, base, permission string
	}{
		{"role", "/v1/roles", "document:read"},
		{"resource_role", "/v1/resources/document/roles", "read"},
	}
	var answered []map[string]any // what the API answered, in order: the events' data
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			created := do(201, "POST", kind.base, map[string]any{"key": "editor", "permissions": []string{kind.permission},
				"attributes": map[string]any{"tier": "gold", "seats": 5, "tags": []any{"a"}, "limits": map[string]any{"max": 3}}}).data()
			answered = append(answered, created)
			want := `{"limits":{"max":3},"seats":5,"tags":["a"],"tier":"gold"}`
			if got := attrsJSON(t, created); got != want {
				t.Fatalf("created: %s, want %s", got, want)
			}
			steps := []struct {
				what, method, path string
				body               any
				want               string
			}{
				{"get", "GET", kind.base + "/editor", nil, want},
				{"a patch without attributes keeps them", "PATCH", kind.base + "/editor", map[string]any{"description": "edits"}, want},
				{"a patch with attributes replaces them", "PATCH", kind.base + "/editor", map[string]any{"attributes": map[string]any{"tier": "silver"}}, `{"tier":"silver"}`},
				{"get after the replace", "GET", kind.base + "/editor", nil, `{"tier":"silver"}`},
				{"an empty object clears them", "PATCH", kind.base + "/editor", map[string]any{"attributes": map[string]any{}}, `{}`},
				{"and back", "PATCH", kind.base + "/editor", map[string]any{"attributes": map[string]any{"tier": "bronze"}}, `{"tier":"bronze"}`},
			}
			for _, st := range steps {
				d := do(200, st.method, st.path, st.body).data()
				if st.method == "PATCH" {
					answered = append(answered, d)
				}
				if got := attrsJSON(t, d); got != st.want {
					t.Fatalf("%s: %s, want %s", st.what, got, st.want)
				}
			}
			plain := do(201, "POST", kind.base, map[string]any{"key": "plain", "permissions": []string{kind.permission}}).data()
			answered = append(answered, plain)
			if got := attrsJSON(t, plain); got != "{}" {
				t.Fatalf("a role created without attributes: %s", got)
			}
			list := do(200, "GET", kind.base+devQ+"&search=editor", nil).list()
			if len(list) != 1 || attrsJSON(t, list[0].(map[string]any)) != `{"tier":"bronze"}` {
				t.Fatalf("list: %v", list)
			}

			// Attributes are a JSON object, in a body within the limit.
			bad := []struct {
				name, method, path string
				body               any
				status             int
			}{
				{"a string", "POST", kind.base, map[string]any{"key": "x1", "attributes": "gold"}, 400},
				{"a list", "POST", kind.base, map[string]any{"key": "x2", "attributes": []any{"gold"}}, 400},
				{"a number on a patch", "PATCH", kind.base + "/editor", map[string]any{"attributes": 7}, 400},
				{"over the body limit", "POST", kind.base, map[string]any{"key": "x3", "attributes": map[string]any{"blob": strings.Repeat("x", 1<<20)}}, 413},
				{"over the body limit on a patch", "PATCH", kind.base + "/editor", map[string]any{"attributes": map[string]any{"blob": strings.Repeat("x", 1<<20)}}, 413},
			}
			for _, tc := range bad {
				r := s.do(req{method: tc.method, path: tc.path, key: k, body: tc.body})
				if r.status != tc.status || (tc.status == 400 && !strings.Contains(r.raw, `"field":"attributes"`)) {
					t.Errorf("%s: %d, want %d naming the field: %.300s", tc.name, r.status, tc.status, r.raw)
				}
			}
			for _, key := range []string{"x1", "x2", "x3"} {
				do(404, "GET", kind.base+"/"+key, nil)
			}
			if got := attrsJSON(t, do(200, "GET", kind.base+"/editor", nil).data()); got != `{"tier":"bronze"}` {
				t.Fatalf("after refused writes: %s", got)
			}
		})
	}

	// Each create and patch sent its event, whose data is the role as the
	// API answered (attributes included).
	got := rc.wait(t, len(answered))
	var events, wantEvents []string
	for _, r := range got {
		d, _ := json.Marshal(r.payload["data"])
		events = append(events, r.event()+" "+string(d))
	}
	for _, d := range answered {
		typ := "role"
		if d["resource"] != nil {
			typ = "resource_role"
		}
		if d["created_at"] == d["updated_at"] {
			typ += ".created"
		} else {
			typ += ".updated"
		}
		b, _ := json.Marshal(d)
		wantEvents = append(wantEvents, typ+" "+string(b))
	}
	sort.Strings(events)
	sort.Strings(wantEvents)
	if strings.Join(events, "\n") != strings.Join(wantEvents, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(events, "\n"), strings.Join(wantEvents, "\n"))
	}
}

// An export keeps roles' and resource roles' attributes, and its import
// elsewhere, and a copy, give them back; an import row without attributes
// keeps a role's, one with attributes replaces them.
func TestRoleAttributesExportImportCopy(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			s := newServerWith(t, engineConfig(t, engine))
			k := s.fineKey()
			do := func(want int, method, path string, body any) resp {
				t.Helper()
				return s.must(want, req{method: method, path: path, key: k, body: body})
			}
			do(201, "POST", "/v1/resources", map[string]any{"key": "document", "actions": []string{"read", "write"}})
			do(201, "POST", "/v1/roles", map[string]any{"key": "viewer", "permissions": []string{"document:read"}, "attributes": map[string]any{"tier": "gold", "n": []any{1, 2}}})
			do(201, "POST", "/v1/roles", map[string]any{"key": "plain"})
			do(201, "POST", "/v1/resources/document/roles", map[string]any{"key": "editor", "permissions": []string{"write"}, "attributes": map[string]any{"owner": map[string]any{"team": "docs"}}})
			do(201, "POST", "/v1/resources/document/roles", map[string]any{"key": "reader", "permissions": []string{"read"}})
			want := map[string]string{
				"/v1/roles/viewer":                    `{"n":[1,2],"tier":"gold"}`,
				"/v1/roles/plain":                     `{}`,
				"/v1/resources/document/roles/editor": `{"owner":{"team":"docs"}}`,
				"/v1/resources/document/roles/reader": `{}`,
			}
			same := func(q string, want map[string]string) {
				t.Helper()
				for path, w := range want {
					if got := attrsJSON(t, s.must(200, req{method: "GET", path: path + q, key: s.key}).data()); got != w {
						t.Errorf("%s%s: attributes %s, want %s", path, q, got, w)
					}
				}
			}

			ex := s.must(201, req{method: "POST", path: "/v1/jobs" + devQ, key: s.key, body: map[string]any{"type": "export"}}).data()
			if ex = s.waitJob(ex["id"].(string)); ex["status"] != "succeeded" {
				t.Fatalf("export %v", ex)
			}
			out := s.must(200, req{method: "GET", path: ex["output_url"].(string), key: s.key}).raw
			rows := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				var r struct {
					Type, Key  string
					Attributes json.RawMessage
				}
				if err := json.Unmarshal([]byte(line), &r); err != nil {
					t.Fatalf("line %q: %v", line, err)
				}
				if r.Type == "role" || r.Type == "resource_role" {
					rows[r.Type+" "+r.Key] = string(r.Attributes)
				}
			}
			wantRows := map[string]string{"role viewer": `{"n":[1,2],"tier":"gold"}`, "role plain": `{}`,
				"resource_role editor": `{"owner":{"team":"docs"}}`, "resource_role reader": `{}`}
			for k, w := range wantRows {
				if rows[k] != w {
					t.Errorf("export row %s: attributes %s, want %s (rows %v)", k, rows[k], w, rows)
				}
			}

			// Into production: the same attributes; again: nothing changes.
			prodQ := "?project=default&environment=production"
			for i, wantCreated := range []float64{4 + 1, 0} { // the roles and the resource type
				j := s.waitJob(s.importFile(s.key, prodQ, "application/x-ndjson", out).data()["id"].(string))
				r := j["result"].(map[string]any)
				if j["status"] != "succeeded" || r["created"] != wantCreated || r["updated"] != 0.0 {
					t.Fatalf("import %d of the export: %v", i+1, j)
				}
			}
			same(prodQ, want)

			// A row without attributes keeps them; one with replaces them.
			steps := []struct {
				name, row string
				updated   float64
				path      string
				want      string
			}{
				{"role without attributes", `{"type":"role","key":"viewer","description":"reads"}`, 1, "/v1/roles/viewer", `{"n":[1,2],"tier":"gold"}`},
				{"role with attributes", `{"type":"role","key":"viewer","attributes":{"tier":"silver"}}`, 1, "/v1/roles/viewer", `{"tier":"silver"}`},
				{"role with the same attributes", `{"type":"role","key":"viewer","attributes":{"tier":"silver"}}`, 0, "/v1/roles/viewer", `{"tier":"silver"}`},
				{"resource role without attributes", `{"type":"resource_role","resource":"document","key":"editor","name":"Editor"}`, 1, "/v1/resources/document/roles/editor", `{"owner":{"team":"docs"}}`},
				{"resource role with attributes", `{"type":"resource_role","resource":"document","key":"editor","attributes":{"owner":"me"}}`, 1, "/v1/resources/document/roles/editor", `{"owner":"me"}`},
			}
			for _, st := range steps {
				j := s.waitJob(s.importFile(s.key, prodQ, "application/x-ndjson", st.row).data()["id"].(string))
				if r := j["result"].(map[string]any); j["status"] != "succeeded" || r["updated"] != st.updated {
					t.Fatalf("%s: %v", st.name, j)
				}
				same(prodQ, map[string]string{st.path: st.want})
			}
			// Attributes that are not an object refuse the file, naming the row.
			for _, row := range []string{`{"type":"role","key":"bad","attributes":"gold"}`, `{"type":"resource_role","resource":"document","key":"bad","attributes":[1]}`} {
				res := s.importFile(s.key, prodQ, "application/x-ndjson", row)
				if res.status != 400 || !strings.Contains(res.raw, `"field":"attributes"`) {
					t.Errorf("import of %s: %d %s", row, res.status, res.raw)
				}
			}

			// A copy of development into a fresh environment.
			s.must(201, req{method: "POST", path: "/v1/projects/default/environments", key: s.key, body: map[string]any{"key": "staging", "name": "Staging"}})
			stQ := "?project=default&environment=staging"
			cp := s.must(201, req{method: "POST", path: "/v1/jobs" + stQ, key: s.key, body: map[string]any{"type": "environment_copy", "source": map[string]any{"project": "default", "environment": "development"}}}).data()
			if cp = s.waitJob(cp["id"].(string)); cp["status"] != "succeeded" {
				t.Fatalf("copy %v", cp)
			}
			same(stQ, want)
		})
	}
}
