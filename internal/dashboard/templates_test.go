package dashboard

import (
	"bytes"
	"html/template"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// fill sets every field of v (a pointer) to a value that is not empty:
// texts, numbers, true, one-element lists and maps, times, set pointers.
func fill(v reflect.Value, depth int) {
	if depth > 6 {
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		fill(v.Elem(), depth+1)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 { // JSON text
			v.SetBytes([]byte(`{"a":1}`))
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), depth+1)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, depth+1)
		fill(e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.String:
		v.SetString("x")
	case reflect.Int, reflect.Int64:
		v.SetInt(3)
	case reflect.Float64:
		v.SetFloat(2.5)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Interface:
		// The items of a list page are set by the test.
	}
}

// Every page renders with its data, filled in and empty (the pages of one
// thing always have it): a template that names a field its data does not
// have fails here, not in front of a member.
func TestPagesRenderTheirData(t *testing.T) {
	t.Parallel()
	x := &dash{Deps: Deps{Version: "test"}}
	if err := x.parse(); err != nil {
		t.Fatal(err)
	}
	items := map[string]any{"users": []client.User{}, "tenants": []client.Tenant{}, "resources": []client.Resource{},
		"roles": []client.Role{}, "assignments": []client.RoleAssignment{}}
	data := map[string]func() any{
		"signin": func() any { return &signInData{} }, "setup": func() any { return &setupData{} },
		"overview": func() any { return &overviewData{} }, "projects": func() any { return &projectsData{} },
		"members": func() any { return &membersData{} }, "member_roles": func() any { return &memberRolesData{} },
		"check": func() any { return &checkData{} }, "keys": func() any { return &keysData{} },
		"logs": func() any { return &logsData{} }, "log": func() any { return &logData{Call: &client.Call{}} },
		"webhooks": func() any { return &webhooksData{} }, "webhook": func() any { return &webhookData{Webhook: &client.Webhook{}} },
		"delivery": func() any { return &deliveryData{Delivery: &client.Delivery{}} }, "jobs": func() any { return &jobsData{} },
		"job": func() any { return &jobData{Job: &client.Job{}} }, "settings": func() any { return &settingsData{} },
		"account": func() any { return nil }, "error": func() any { return nil },
		"instances": func() any { return &instancesData{} }, "instance": func() any { return &instanceData{Instance: &client.ResourceInstance{}} },
		"relationships": func() any { return &relationshipsData{} }, "resource": func() any { return &resourceData{Resource: &client.Resource{}} },
		"rules":         func() any { return &rulesData{} },
		"resource_role": func() any { return &resourceRoleData{Resource: &client.Resource{}, Role: &client.ResourceRole{}} },
		"condition_set": func() any { return &conditionSetData{Set: &client.ConditionSet{}} },
		"user":          func() any { return &userData{User: &client.User{}, Form: emptyForm()} },
		"tenant":        func() any { return &tenantData{Tenant: &client.Tenant{}, Form: emptyForm()} },
		"role":          func() any { return &roleData{Role: &client.Role{}, Form: emptyForm()} },
		"key":           func() any { return &keyData{Key: &client.APIKey{}, Form: emptyForm()} },
		"confirm":       func() any { return &confirmData{} },
		"status":        func() any { return &statusData{Page: &client.StatusPage{}} },
		"audit":         func() any { return &auditData{} },
		"policy":        func() any { return &policyData{} },
		"decisions":     func() any { return &decisionsData{} },
		"usage":         func() any { return &usageData{} },
		"search":        func() any { return &searchData{} },
	}
	for name := range items {
		data[name] = func() any { return &factData{} }
	}
	for _, name := range x.pageNames {
		if data[name] == nil {
			t.Errorf("page %s: no data type known to this test", name)
		}
	}
	all := gatehouse.MustScopeSet(gatehouse.AllScopes()...)
	for name, mk := range data {
		for _, filled := range []bool{false, true} {
			d := mk()
			if filled && d != nil {
				fill(reflect.ValueOf(d), 0)
				if fd, ok := d.(*factData); ok {
					list := reflect.New(reflect.TypeOf(items[name])).Elem()
					fill(list.Addr(), 0)
					fd.Items = list.Interface()
				}
			}
			env := &envChoice{ProjectID: "p", EnvID: "e", ProjectName: "P", EnvName: "E"}
			p := &page{Title: name, Data: d, Viewer: &viewer{principal: &auth.Principal{Scopes: all}},
				Member: &tenancy.Member{Email: "a@example.com"}, Org: &tenancy.Organization{Name: "O"}, Role: &tenancy.Role{Name: "R", Scopes: all},
				Envs: []envChoice{*env}, Env: env}
			var buf bytes.Buffer
			if err := mustPage(t, x, name).ExecuteTemplate(&buf, "layout", p); err != nil {
				t.Errorf("page %s (filled: %v): %v", name, filled, err)
			}
		}
	}
}

func mustPage(t *testing.T, x *dash, name string) *template.Template {
	t.Helper()
	p, err := x.page(name)
	if err != nil || p == nil {
		t.Fatalf("page %s: %v", name, err)
	}
	return p
}
