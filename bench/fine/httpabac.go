package fine

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// The ABAC check over HTTP (cmd/finehttp -abac): Gatehouse's server, OPA's
// and Cerbos's, each answering the ABAC data set's checks. Every request
// body is encoded before anything is timed, so the load generator costs
// each server the same.

// LoadABAC writes the ABAC data set through the public API as an
// application would: resource types with their actions, tenants with their
// attributes (the default tenant exists: its attributes are a PATCH), one
// call per user and per resource instance with its attributes, the
// condition sets and the set rules. Users and instances go in on workers
// clients.
func (g *GatehouseHTTP) LoadABAC(ctx context.Context, a *ABAC, workers int, logf func(string, ...any)) error {
	d := &a.DS.Data
	stage := g.stager(ctx, logf)
	if err := stage("resource types", len(d.Resources), 1, func(ctx context.Context, i int) error {
		return g.post(ctx, "/v1/resources", map[string]any{"key": d.Resources[i].Key, "actions": d.Resources[i].Actions})
	}); err != nil {
		return err
	}
	if err := stage("tenants", len(d.Tenants), 1, func(ctx context.Context, i int) error {
		t := d.Tenants[i]
		if t.Key == authz.DefaultTenant {
			return g.write(ctx, http.MethodPatch, "/v1/tenants/"+t.Key, map[string]any{"attributes": orEmpty(t.Attributes)})
		}
		return g.post(ctx, "/v1/tenants", map[string]any{"key": t.Key, "attributes": orEmpty(t.Attributes)})
	}); err != nil {
		return err
	}
	if err := stage("users", len(d.Users), workers, func(ctx context.Context, i int) error {
		return g.post(ctx, "/v1/users", map[string]any{"key": d.Users[i].Key, "attributes": orEmpty(d.Users[i].Attributes)})
	}); err != nil {
		return err
	}
	if err := stage("resource instances", len(d.Instances), workers, func(ctx context.Context, i int) error {
		in := d.Instances[i]
		body := map[string]any{"resource": in.Resource, "key": in.Key, "attributes": orEmpty(in.Attributes)}
		if in.Tenant != "" {
			body["tenant"] = in.Tenant
		}
		return g.post(ctx, "/v1/resource-instances", body)
	}); err != nil {
		return err
	}
	if err := stage("condition sets", len(d.ConditionSets), 1, func(ctx context.Context, i int) error {
		cs := d.ConditionSets[i]
		body := map[string]any{"key": cs.Key, "type": cs.Type, "conditions": cs.Conditions}
		if cs.Resource != "" {
			body["resource"] = cs.Resource
		}
		return g.post(ctx, "/v1/condition-sets", body)
	}); err != nil {
		return err
	}
	if err := stage("set rules", len(d.SetRules), 1, func(ctx context.Context, i int) error {
		sr := d.SetRules[i]
		return g.post(ctx, "/v1/set-rules", map[string]any{"user_set": sr.UserSet, "action": sr.Action, "resource_set": sr.ResourceSet})
	}); err != nil {
		return err
	}
	return g.readYourWrites(ctx, &a.Checks[0].Request)
}

// ABACEngine is the server's POST /v1/allowed on the ABAC checks. With
// inline false each check is sent as the data set asks it (the server
// reads the stored attributes; a third of the checks carry some of the
// user's, the unknown-key ones the resource's). With inline true the
// caller sends what Cerbos gets: the user's and the resource's attributes,
// stored ones with the check's over them, in every request (the server
// still resolves the tenant and reads its attributes).
func (g *GatehouseHTTP) ABACEngine(a *ABAC, x *ABACIndex, inline bool, store string) (*HTTPEngine, error) {
	bodies := make([]json.RawMessage, len(a.Checks))
	for i := range a.Checks {
		r := &a.Checks[i].Request
		c := decision.CheckRequest{User: decision.CheckUser{Key: r.User, Attributes: r.UserAttributes}, Action: r.Action,
			Resource: decision.CheckResource{Type: r.Resource, Key: r.Key, Tenant: r.Tenant, Attributes: r.ResourceAttributes}, Context: r.Context}
		if inline {
			c.User.Attributes, c.Resource.Attributes = x.Attributes(r)
		}
		b, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		bodies[i] = b
	}
	e := &HTTPEngine{Name: "Gatehouse", Store: store + ", stored attributes",
		Note: "Gatehouse: POST /v1/allowed as the data set asks each check (stored attributes read by the server)"}
	if inline {
		e.Store = store + ", attributes inline"
		e.Note = "Gatehouse, attributes inline: the user's and the resource's attributes (stored, the check's over them) in every request, as Cerbos gets them"
	}
	e.CheckAt = func(ctx context.Context, i int) (bool, error) {
		var out struct {
			Data struct {
				Allow bool `json:"allow"`
			} `json:"data"`
		}
		err := PostJSON(ctx, g.client, g.URL+"/v1/allowed", g.CheckKey, bodies[i], &out)
		return out.Data.Allow, err
	}
	return e, nil
}

// StartOPAABAC runs `opa run --server` with the rego of RegoOf (abac.rego)
// and the stored data (data.json), and returns its engine: POST
// /v1/data/abac/allow with the input RegoInput gives each check.
func StartOPAABAC(ctx context.Context, bin, tmp string, a *ABAC, client *http.Client) (*HTTPEngine, *Proc, error) {
	dir := filepath.Join(tmp, "opa-abac")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	src, err := RegoOf(&a.DS.Data)
	if err != nil {
		return nil, nil, err
	}
	data, err := RegoData(&a.DS.Data)
	if err != nil {
		return nil, nil, err
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "data.json"), raw, 0o600); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "abac.rego"), []byte(src), 0o600); err != nil {
		return nil, nil, err
	}
	bodies := make([]json.RawMessage, len(a.Checks))
	for i := range a.Checks {
		in, err := RegoInput(&a.Checks[i].Request)
		if err != nil {
			return nil, nil, err
		}
		if bodies[i], err = json.Marshal(map[string]any{"input": in}); err != nil {
			return nil, nil, err
		}
	}
	srv, err := StartOPAServer(ctx, bin, tmp, client, filepath.Join(dir, "data.json"), filepath.Join(dir, "abac.rego"))
	if err != nil {
		return nil, nil, err
	}
	e := &HTTPEngine{Name: "OPA " + OPAVersion, Store: "data.json, stored attributes", Load: srv.Ready,
		Note: fmt.Sprintf("OPA: `opa run --server` on the rego of fine.RegoOf and the stored attributes as data.json (%.1f MB); load = start to GET /health 200", float64(len(raw))/1e6)}
	e.CheckAt = func(ctx context.Context, i int) (bool, error) {
		var out struct {
			Result *bool `json:"result"`
		}
		if err := PostJSON(ctx, client, srv.URL+"/v1/data/abac/allow", "", bodies[i], &out); err != nil {
			return false, err
		}
		if out.Result == nil {
			return false, fmt.Errorf("opa: no result")
		}
		return *out.Result, nil
	}
	return e, srv.Proc, nil
}

// StartCerbosABAC writes the policies of CerbosOf, runs `cerbos server`
// on them and returns its engine: POST /api/check/resources with the
// bodies of CerbosRequest. Checks that a set rule with no faithful
// translation could decide are left out of its list (e.Only), and said
// in its note.
func StartCerbosABAC(ctx context.Context, bin, tmp string, a *ABAC, x *ABACIndex, client *http.Client) (*HTTPEngine, *Proc, error) {
	dir := filepath.Join(tmp, "cerbos-abac")
	pol := filepath.Join(dir, "policies")
	if err := os.MkdirAll(pol, 0o700); err != nil {
		return nil, nil, err
	}
	p, err := CerbosOf(&a.DS.Data)
	if err != nil {
		return nil, nil, err
	}
	for name, b := range p.Files {
		if err := os.WriteFile(filepath.Join(pol, name), b, 0o600); err != nil {
			return nil, nil, err
		}
	}
	bodies := make([]json.RawMessage, len(a.Checks))
	var only []int
	left := map[string]int{}
	for i := range a.Checks {
		r := &a.Checks[i].Request
		if p.Decides(r.Resource, r.Action) {
			left["a set rule on "+r.Resource+" "+r.Action+" not translated"]++
			continue
		}
		b, err := x.CerbosRequest(r)
		if err != nil {
			left[err.Error()]++
			continue
		}
		bodies[i] = b
		only = append(only, i)
	}
	e := &HTTPEngine{Name: "Cerbos " + CerbosVersion, Store: "stateless, attributes inline",
		Note: fmt.Sprintf("Cerbos: %d set rules as CEL conditions of %d resource policies; stateless, so the harness sends the user's and resource's attributes (stored, the check's over them), the resolved tenant with its attributes, and the context in every request (that look-up is not in Cerbos's time)", p.Rules, len(p.Files))}
	if len(p.Untranslated) > 0 || len(left) > 0 {
		e.Only = only
		e.Note += fmt.Sprintf("; %d of %d checks LEFT OUT: untranslated condition sets %v; %v", len(a.Checks)-len(only), len(a.Checks), p.Untranslated, left)
	} else {
		e.Note += "; every condition set translated, no check left out"
	}
	srv, err := StartCerbosServer(ctx, bin, tmp, dir, pol, client)
	if err != nil {
		return nil, nil, err
	}
	e.Load = srv.Ready
	e.CheckAt = func(ctx context.Context, i int) (bool, error) {
		var out struct {
			Results []struct {
				Actions map[string]string `json:"actions"`
			} `json:"results"`
		}
		if err := PostJSON(ctx, client, srv.URL+"/api/check/resources", "", bodies[i], &out); err != nil {
			return false, err
		}
		if len(out.Results) != 1 {
			return false, fmt.Errorf("cerbos: %d results", len(out.Results))
		}
		switch eff := out.Results[0].Actions[a.Checks[i].Request.Action]; eff {
		case "EFFECT_ALLOW":
			return true, nil
		case "EFFECT_DENY":
			return false, nil
		default:
			return false, fmt.Errorf("cerbos: effect %q", eff)
		}
	}
	return e, srv.Proc, nil
}
