package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	openfgav1 "github.com/openfga/api/proto/openfga/v1"
	"github.com/openfga/language/pkg/go/transformer"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/gatehouse-dev/gatehouse/bench/fine"
	"github.com/gatehouse-dev/gatehouse/client/authz/authztest"
)

// rbac is dataset M in the names the peers' models need: roles and
// permissions as identifiers ([a-z][a-z0-9_]*), and for each permission
// the roles that grant it.
type rbac struct {
	ds       *authztest.Dataset
	role     map[string]string   // role key → roleN
	perm     map[string]string   // "type:action" → permI_J
	perms    []string            // permI_J in order
	grantors map[string][]string // permI_J → roleN that grant it
}

func newRBAC(ds *authztest.Dataset) *rbac {
	m := &rbac{ds: ds, role: map[string]string{}, perm: map[string]string{}, grantors: map[string][]string{}}
	for i, r := range ds.Data.Roles {
		m.role[r.Key] = "role" + strconv.Itoa(i)
	}
	for i, r := range ds.Data.Resources {
		for j, a := range r.Actions {
			name := fmt.Sprintf("perm%d_%d", i, j)
			m.perm[r.Key+":"+a] = name
			m.perms = append(m.perms, name)
		}
	}
	for _, r := range ds.Data.Roles {
		for _, p := range r.Permissions {
			m.grantors[m.perm[p]] = append(m.grantors[m.perm[p]], m.role[r.Key])
		}
	}
	return m
}

// ---- OPA ----

const opaPolicy = `package authz

default allow := false

allow if {
	some role in data.assignments[input.user][input.tenant]
	data.grants[role][input.resource][input.action]
}
`

// startOPA runs `opa run --server` with the data as a JSON file
// (data.assignments[user][tenant] = roles, data.grants[role][type][action])
// and the policy; load is the time to GET /health answering 200.
func startOPA(ctx context.Context, bin, tmp string, m *rbac, client *http.Client) (*engine, error) {
	dir := filepath.Join(tmp, "opa")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	grants := map[string]map[string]map[string]bool{}
	for role, ps := range m.ds.Grants {
		grants[role] = map[string]map[string]bool{}
		for p := range ps {
			res, act, _ := strings.Cut(p, ":")
			if grants[role][res] == nil {
				grants[role][res] = map[string]bool{}
			}
			grants[role][res][act] = true
		}
	}
	data, err := json.Marshal(map[string]any{"assignments": m.ds.Held, "grants": grants})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "data.json"), data, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "authz.rego"), []byte(opaPolicy), 0o600); err != nil {
		return nil, err
	}
	srv, err := fine.StartOPAServer(ctx, bin, tmp, client, filepath.Join(dir, "data.json"), filepath.Join(dir, "authz.rego"))
	if err != nil {
		return nil, err
	}
	p, url := srv.Proc, srv.URL
	type in struct {
		User     string `json:"user"`
		Tenant   string `json:"tenant"`
		Resource string `json:"resource"`
		Action   string `json:"action"`
	}
	return &engine{name: "OPA " + fine.OPAVersion, batch: 1, proc: p, load: srv.Ready,
		note: fmt.Sprintf("OPA: the data as one JSON file (%.1f MB) given to `opa run --server`; load = start to GET /health 200", float64(len(data))/1e6),
		check: func(ctx context.Context, qs []authztest.Query, out []bool) error {
			q := &qs[0]
			var res struct {
				Result *bool `json:"result"`
			}
			if err := fine.PostJSON(ctx, client, url+"/v1/data/authz/allow", "", map[string]in{"input": {User: q.User, Tenant: q.Tenant, Resource: q.Resource, Action: q.Action}}, &res); err != nil {
				return err
			}
			if res.Result == nil {
				return fmt.Errorf("opa: no result")
			}
			out[0] = *res.Result
			return nil
		}}, nil
}

// ---- OpenFGA ----

// openfgaModel: roles are relations of the tenant, a permission is the
// union of the roles that grant it (a permission no role grants is a
// relation no tuple fills).
func (m *rbac) openfgaModel() string {
	var b strings.Builder
	b.WriteString("model\n  schema 1.1\ntype user\ntype tenant\n  relations\n")
	for _, r := range m.ds.Data.Roles {
		fmt.Fprintf(&b, "    define %s: [user]\n", m.role[r.Key])
	}
	for _, p := range m.perms {
		if g := m.grantors[p]; len(g) > 0 {
			fmt.Fprintf(&b, "    define %s: %s\n", p, strings.Join(g, " or "))
		} else {
			fmt.Fprintf(&b, "    define %s: [user]\n", p)
		}
	}
	return b.String()
}

// startOpenFGA runs `openfga run` on the PostgreSQL database pgURL
// (fine.StartOpenFGA: migrate, preshared key, playground and metrics
// off), writes the model and one tuple per role assignment, 100 per
// write (its default maximum; 1,000 per write with a raised maximum took
// 12 s a write here) on 4 clients.
func startOpenFGA(ctx context.Context, bin, tmp, pgURL string, m *rbac, client *http.Client) (*engine, error) {
	f, err := fine.StartOpenFGA(ctx, bin, tmp, pgURL, client)
	if err != nil {
		return nil, err
	}
	e := &engine{name: "OpenFGA " + fine.OpenFGAVersion + " (PostgreSQL)", batch: 1, proc: f.Proc,
		note: "OpenFGA: roles are relations of tenant:<key>, each permission the union of the roles granting it; load = store, model and 1,000 writes of 100 tuples on 4 clients (its writes grow slower as the store fills); RSS is OpenFGA's alone (PostgreSQL's not counted)"}
	fail := func(err error) (*engine, error) {
		f.Proc.Stop()
		return nil, err
	}
	t0 := time.Now()
	var st struct{ ID string }
	if err := fine.PostJSON(ctx, client, f.URL+"/stores", fine.OpenFGAKey, map[string]string{"name": "httpbench"}, &st); err != nil {
		return fail(fmt.Errorf("openfga: create store: %w", err))
	}
	model, err := transformer.TransformDSLToProto(m.openfgaModel())
	if err != nil {
		return fail(fmt.Errorf("openfga model: %w", err))
	}
	body, err := protojson.Marshal(&openfgav1.WriteAuthorizationModelRequest{SchemaVersion: model.GetSchemaVersion(), TypeDefinitions: model.GetTypeDefinitions()})
	if err != nil {
		return fail(err)
	}
	var wm struct {
		ID string `json:"authorization_model_id"`
	}
	if err := fine.PostJSON(ctx, client, f.URL+"/stores/"+st.ID+"/authorization-models", fine.OpenFGAKey, json.RawMessage(body), &wm); err != nil {
		return fail(fmt.Errorf("openfga: write model: %w", err))
	}
	type tk struct {
		User     string `json:"user"`
		Relation string `json:"relation"`
		Object   string `json:"object"`
	}
	as := m.ds.Data.Assignments
	const batch = 100
	if err := fine.Parallel(ctx, (len(as)+batch-1)/batch, 4, func(ctx context.Context, i int) error {
		part := as[i*batch : min((i+1)*batch, len(as))]
		keys := make([]tk, len(part))
		for j, a := range part {
			keys[j] = tk{User: "user:" + a.User, Relation: m.role[a.Role], Object: "tenant:" + a.Tenant}
		}
		return fine.PostJSON(ctx, client, f.URL+"/stores/"+st.ID+"/write", fine.OpenFGAKey, map[string]any{
			"authorization_model_id": wm.ID, "writes": map[string]any{"tuple_keys": keys},
		}, nil)
	}); err != nil {
		return fail(fmt.Errorf("openfga: write tuples: %w", err))
	}
	e.load = time.Since(t0)
	type check struct {
		TupleKey tk     `json:"tuple_key"`
		Model    string `json:"authorization_model_id"`
	}
	url := f.URL + "/stores/" + st.ID + "/check"
	e.check = func(ctx context.Context, qs []authztest.Query, out []bool) error {
		q := &qs[0]
		var res struct {
			Allowed bool `json:"allowed"`
		}
		err := fine.PostJSON(ctx, client, url, fine.OpenFGAKey, check{TupleKey: tk{User: "user:" + q.User, Relation: m.perm[q.Resource+":"+q.Action], Object: "tenant:" + q.Tenant}, Model: wm.ID}, &res)
		out[0] = res.Allowed
		return err
	}
	return e, nil
}

// ---- SpiceDB ----

func (m *rbac) spicedbSchema() string {
	var b strings.Builder
	b.WriteString("definition user {}\n\ndefinition tenant {\n")
	for _, r := range m.ds.Data.Roles {
		fmt.Fprintf(&b, "\trelation %s: user\n", m.role[r.Key])
	}
	for _, p := range m.perms {
		if g := m.grantors[p]; len(g) > 0 {
			fmt.Fprintf(&b, "\tpermission %s = %s\n", p, strings.Join(g, " + "))
		} else {
			fmt.Fprintf(&b, "\trelation %s: user\n", p)
		}
	}
	b.WriteString("}\n")
	return b.String()
}

type spiceObj struct {
	ObjectType string `json:"objectType"`
	ObjectID   string `json:"objectId"`
}

type spiceSubj struct {
	Object spiceObj `json:"object"`
}

// startSpiceDB runs `spicedb serve` on its memory datastore
// (fine.StartSpiceDB: its defaults, dispatch cache on, HTTP gateway;
// metrics, telemetry and the release check off), writes the schema and
// one relationship per role assignment, 1,000 per call. Checks ask for
// answers at least as fresh as the last write (its ZedToken), so none is
// stale and SpiceDB's caches still work.
func startSpiceDB(ctx context.Context, bin, tmp string, m *rbac, client *http.Client) (*engine, error) {
	s, err := fine.StartSpiceDB(ctx, bin, tmp, "spicedb", "", true, client)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*engine, error) {
		s.Proc.Stop()
		return nil, err
	}
	t0 := time.Now()
	if err := fine.PostJSON(ctx, client, s.URL+"/v1/schema/write", fine.SpiceDBKey, map[string]string{"schema": m.spicedbSchema()}, nil); err != nil {
		return fail(fmt.Errorf("spicedb: write schema: %w", err))
	}
	type rel struct {
		Resource spiceObj  `json:"resource"`
		Relation string    `json:"relation"`
		Subject  spiceSubj `json:"subject"`
	}
	type update struct {
		Operation    string `json:"operation"`
		Relationship rel    `json:"relationship"`
	}
	as := m.ds.Data.Assignments
	const batch = 1000
	write := func(ctx context.Context, i int) (string, error) {
		part := as[i*batch : min((i+1)*batch, len(as))]
		ups := make([]update, len(part))
		for j, a := range part {
			ups[j] = update{Operation: "OPERATION_TOUCH", Relationship: rel{Resource: spiceObj{"tenant", a.Tenant}, Relation: m.role[a.Role], Subject: spiceSubj{Object: spiceObj{"user", a.User}}}}
		}
		var out struct {
			WrittenAt struct {
				Token string `json:"token"`
			} `json:"writtenAt"`
		}
		err := fine.PostJSON(ctx, client, s.URL+"/v1/relationships/write", fine.SpiceDBKey, map[string]any{"updates": ups}, &out)
		return out.WrittenAt.Token, err
	}
	n := (len(as) + batch - 1) / batch
	// All but the last batch at once, then the last alone: its token is
	// then at least as new as every other write's.
	if err := fine.Parallel(ctx, n-1, 4, func(ctx context.Context, i int) error {
		_, err := write(ctx, i)
		return err
	}); err != nil {
		return fail(fmt.Errorf("spicedb: write relationships: %w", err))
	}
	token, err := write(ctx, n-1)
	if err != nil || token == "" {
		return fail(fmt.Errorf("spicedb: write relationships: token %q: %v", token, err))
	}
	e := &engine{name: "SpiceDB " + fine.SpiceDBVersion + " (memdb)", batch: 1, proc: s.Proc, load: time.Since(t0),
		note: "SpiceDB: roles are relations of tenant, each permission the union of the roles granting it; checks through its HTTP gateway, at_least_as_fresh the last write"}
	type consistency struct {
		AtLeastAsFresh struct {
			Token string `json:"token"`
		} `json:"atLeastAsFresh"`
	}
	var cons consistency
	cons.AtLeastAsFresh.Token = token
	type check struct {
		Consistency consistency `json:"consistency"`
		Resource    spiceObj    `json:"resource"`
		Permission  string      `json:"permission"`
		Subject     spiceSubj   `json:"subject"`
	}
	e.check = func(ctx context.Context, qs []authztest.Query, out []bool) error {
		q := &qs[0]
		var res struct {
			Permissionship string `json:"permissionship"`
		}
		if err := fine.PostJSON(ctx, client, s.URL+"/v1/permissions/check", fine.SpiceDBKey, check{Consistency: cons,
			Resource: spiceObj{"tenant", q.Tenant}, Permission: m.perm[q.Resource+":"+q.Action], Subject: spiceSubj{Object: spiceObj{"user", q.User}}}, &res); err != nil {
			return err
		}
		switch res.Permissionship {
		case "PERMISSIONSHIP_HAS_PERMISSION":
			out[0] = true
		case "PERMISSIONSHIP_NO_PERMISSION":
			out[0] = false
		default:
			return fmt.Errorf("spicedb: permissionship %q", res.Permissionship)
		}
		return nil
	}
	return e, nil
}

// ---- Cerbos ----

// noRole is sent for a user who holds no role in the tenant: Cerbos wants
// at least one role, and no policy grants this one anything.
const noRole = "no_role"

// startCerbos writes one resource policy per resource type (a rule per
// action, allowing the roles that grant it) and runs `cerbos server` on
// them from disk. Cerbos keeps no role assignments: the harness looks up
// the user's roles in the tenant and sends them with every check, and
// that look-up is not in Cerbos's time.
func startCerbos(ctx context.Context, bin, tmp string, m *rbac, client *http.Client) (*engine, error) {
	dir := filepath.Join(tmp, "cerbos")
	pol := filepath.Join(dir, "policies")
	if err := os.MkdirAll(pol, 0o700); err != nil {
		return nil, err
	}
	for i, r := range m.ds.Data.Resources {
		var b strings.Builder
		fmt.Fprintf(&b, "apiVersion: api.cerbos.dev/v1\nresourcePolicy:\n  version: default\n  resource: %q\n  rules:\n", r.Key)
		rules := 0
		for _, a := range r.Actions {
			var roles []string
			for _, role := range m.ds.Data.Roles {
				if slices.Contains(role.Permissions, r.Key+":"+a) {
					roles = append(roles, strconv.Quote(role.Key))
				}
			}
			if len(roles) == 0 {
				continue
			}
			rules++
			fmt.Fprintf(&b, "    - actions: [%q]\n      effect: EFFECT_ALLOW\n      roles: [%s]\n", a, strings.Join(roles, ", "))
		}
		if rules == 0 {
			continue // no policy: Cerbos denies every action
		}
		if err := os.WriteFile(filepath.Join(pol, fmt.Sprintf("type_%d.yaml", i)), []byte(b.String()), 0o600); err != nil {
			return nil, err
		}
	}
	srv, err := fine.StartCerbosServer(ctx, bin, tmp, dir, pol, client)
	if err != nil {
		return nil, err
	}
	p, url := srv.Proc, srv.URL
	type principal struct {
		ID    string   `json:"id"`
		Roles []string `json:"roles"`
	}
	type resource struct {
		Kind string `json:"kind"`
		ID   string `json:"id"`
	}
	type entry struct {
		Resource resource `json:"resource"`
		Actions  []string `json:"actions"`
	}
	type request struct {
		RequestID string    `json:"requestId"`
		Principal principal `json:"principal"`
		Resources []entry   `json:"resources"`
	}
	return &engine{name: "Cerbos " + fine.CerbosVersion + " (caller sends roles)", batch: 1, proc: p, load: srv.Ready,
		note: "Cerbos: stateless, so the harness looks up the user's roles in the tenant and sends them (not in Cerbos's time; it favours Cerbos); load = start to /_cerbos/health 200",
		check: func(ctx context.Context, qs []authztest.Query, out []bool) error {
			q := &qs[0]
			roles := m.ds.Held[q.User][q.Tenant]
			if len(roles) == 0 {
				roles = []string{noRole}
			}
			var res struct {
				Results []struct {
					Actions map[string]string `json:"actions"`
				} `json:"results"`
			}
			if err := fine.PostJSON(ctx, client, url+"/api/check/resources", "", request{RequestID: "httpbench", Principal: principal{ID: q.User, Roles: roles},
				Resources: []entry{{Resource: resource{Kind: q.Resource, ID: "r1"}, Actions: []string{q.Action}}}}, &res); err != nil {
				return err
			}
			if len(res.Results) != 1 {
				return fmt.Errorf("cerbos: %d results", len(res.Results))
			}
			switch eff := res.Results[0].Actions[q.Action]; eff {
			case "EFFECT_ALLOW":
				out[0] = true
			case "EFFECT_DENY":
				out[0] = false
			default:
				return fmt.Errorf("cerbos: effect %q", eff)
			}
			return nil
		}}, nil
}
