package storetest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// testRoleAttributes: roles and resource roles keep their attributes (a
// JSON object of any values) through every read of the store (one, a
// page, all of them, an export row); a row without them (written before
// the column existed, or holding null) reads as {}.
func testRoleAttributes(t *testing.T, db *store.DB) {
	ctx := context.Background()
	st := db.Store()
	svc, env := factsEnv(t, st)
	_, err := svc.CreateResource(ctx, env, facts.ResourceInput{Key: "doc", Actions: []string{"read", "write"}})
	must(t, err)
	attrs := map[string]any{"tier": "gold", "seats": 5.0, "tags": []any{"a", "b"}, "limits": map[string]any{"max": 3.0}, "off": false, "none": nil}
	const want = `{"limits":{"max":3},"none":null,"off":false,"seats":5,"tags":["a","b"],"tier":"gold"}`
	asJSON := func(m map[string]any) string {
		b, _ := json.Marshal(m)
		return string(b)
	}

	// The reads of a tenant role and of a resource role, by kind.
	type reads struct {
		one     func(key string) (map[string]any, error)
		page    func(key string) (map[string]any, error)
		all     func(key string) (map[string]any, error)
		export  func(key string) (json.RawMessage, error)
		table   string
		idOf    func(key string) string
		create  func(key string, attrs map[string]any) error
		replace func(key string, attrs *map[string]any) error
	}
	docID := func() string {
		r, err := st.GetResource(ctx, env, "doc")
		must(t, err)
		return r.ID
	}()
	kinds := []struct {
		name string
		r    reads
	}{
		{"role", reads{
			one: func(key string) (map[string]any, error) {
				r, err := st.GetRole(ctx, env, key)
				if err != nil {
					return nil, err
				}
				return r.Attributes, nil
			},
			page: func(key string) (map[string]any, error) {
				p, err := st.ListRoles(ctx, facts.Filter{EnvID: env, Key: key}, gatehouse.PageRequest{Page: 1, PerPage: 10})
				if err != nil || len(p.Items) != 1 {
					return nil, err
				}
				return p.Items[0].Attributes, nil
			},
			all: func(key string) (map[string]any, error) {
				rs, err := st.AllRoles(ctx, env)
				for _, r := range rs {
					if r.Key == key {
						return r.Attributes, err
					}
				}
				return nil, err
			},
			export: func(key string) (json.RawMessage, error) {
				rows, err := st.ExportRows(ctx, env, facts.KindRole, "", "")
				for _, r := range rows {
					if r.Key == key {
						return r.Attributes, err
					}
				}
				return nil, err
			},
			table: "authz_roles",
			idOf: func(key string) string {
				r, err := st.GetRole(ctx, env, key)
				must(t, err)
				return r.ID
			},
			create: func(key string, attrs map[string]any) error {
				_, err := svc.CreateRole(ctx, env, facts.RoleInput{Key: key, Permissions: []string{"doc:read"}, Attributes: attrs})
				return err
			},
			replace: func(key string, attrs *map[string]any) error {
				_, err := svc.UpdateRole(ctx, env, key, facts.RolePatch{Attributes: attrs, AddPermissions: []string{"doc:write"}})
				return err
			},
		}},
		{"resource role", reads{
			one: func(key string) (map[string]any, error) {
				r, err := st.GetResourceRole(ctx, env, docID, key)
				if err != nil {
					return nil, err
				}
				return r.Attributes, nil
			},
			page: func(key string) (map[string]any, error) {
				p, err := st.ListResourceRoles(ctx, facts.FineFilter{EnvID: env, Resource: docID, Key: key}, gatehouse.PageRequest{Page: 1, PerPage: 10})
				if err != nil || len(p.Items) != 1 {
					return nil, err
				}
				return p.Items[0].Attributes, nil
			},
			all: func(key string) (map[string]any, error) {
				rs, err := st.AllResourceRoles(ctx, env)
				for _, r := range rs {
					if r.Key == key {
						return r.Attributes, err
					}
				}
				return nil, err
			},
			export: func(key string) (json.RawMessage, error) {
				rows, err := st.ExportRows(ctx, env, facts.KindResourceRole, "", "")
				for _, r := range rows {
					if r.Key == key {
						return r.Attributes, err
					}
				}
				return nil, err
			},
			table: "authz_resource_roles",
			idOf: func(key string) string {
				r, err := st.GetResourceRole(ctx, env, docID, key)
				must(t, err)
				return r.ID
			},
			create: func(key string, attrs map[string]any) error {
				_, err := svc.CreateResourceRole(ctx, env, "doc", facts.ResourceRoleInput{Key: key, Permissions: []string{"read"}, Attributes: attrs})
				return err
			},
			replace: func(key string, attrs *map[string]any) error {
				perms := []string{"read", "write"}
				_, err := svc.UpdateResourceRole(ctx, env, "doc", key, facts.ResourceRolePatch{Attributes: attrs, Permissions: &perms})
				return err
			},
		}},
	}
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			r := kind.r
			// every read of key gives want
			check := func(what, key, want string) {
				t.Helper()
				for name, read := range map[string]func(string) (map[string]any, error){"get": r.one, "list": r.page, "all": r.all} {
					got, err := read(key)
					must(t, err)
					if got == nil || asJSON(got) != want {
						t.Fatalf("%s: %s of %q: attributes %s, want %s", what, name, key, asJSON(got), want)
					}
				}
				row, err := r.export(key)
				must(t, err)
				if string(row) != want {
					t.Fatalf("%s: export row of %q: attributes %s, want %s", what, key, row, want)
				}
			}
			must(t, r.create("editor", attrs))
			check("created", "editor", want)
			if raw := rawColumn(t, db, r.table, "attributes", r.idOf("editor")); raw != want {
				t.Fatalf("stored as %s, want %s", raw, want)
			}
			must(t, r.replace("editor", nil))
			check("a patch without attributes", "editor", want)
			must(t, r.replace("editor", &map[string]any{"tier": "silver"}))
			check("replaced", "editor", `{"tier":"silver"}`)
			must(t, r.replace("editor", &map[string]any{}))
			check("cleared", "editor", `{}`)

			must(t, r.create("plain", nil))
			check("created without", "plain", `{}`)
			if raw := rawColumn(t, db, r.table, "attributes", r.idOf("plain")); raw != "{}" {
				t.Fatalf("no attributes stored as %s, want {}", raw)
			}
			// A null in the column (no writer puts one there) reads as {}.
			setRaw(t, db, r.table, "attributes", r.idOf("plain"), "null")
			check("null in the column", "plain", `{}`)
		})
	}

	// A row written without the column (as before migration 15) gets the
	// default, {}.
	_, err = db.Writer().ExecContext(ctx, `INSERT INTO authz_roles (id, env_id, key, name, description, permissions, extends, created_at, updated_at)
		VALUES ('01a00000-0000-7000-8000-0000000000aa', $1, 'old', 'old', '', '[]', '[]', 1, 1)`, env)
	must(t, err)
	old, err := st.GetRole(ctx, env, "old")
	must(t, err)
	if old.Attributes == nil || len(old.Attributes) != 0 {
		t.Fatalf("a role written without attributes: %v", old.Attributes)
	}
}
