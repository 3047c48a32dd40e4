package permitv2

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/permit"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// Fine-grained authorization in Permit's shapes (issue 15): resource
// instances, relationship tuples, roles and relations of resource types
// with their implicit grants, condition sets and set rules, on the facts
// service's fine-grained writes (the rules are authz's: authz/model.go).

// notImplemented answers a Permit operation Gatehouse does not have: 501,
// never a 404 that would read as a wrong path or a missing item.
func notImplemented(what string) error {
	return permit.CodedError(http.StatusNotImplemented, "NOT_IMPLEMENTED", "Not implemented",
		what+": Gatehouse does not implement this part of Permit's API (see docs/permit-migration.md)")
}

// refused is an operation Permit has and Gatehouse does not.
func refused(what string) handler {
	return func(*call) (int, any, error) { return 0, nil, notImplemented(what) }
}

// allPages reads every page of a list.
func allPages[T any](list func(gatehouse.PageRequest) (gatehouse.Page[T], error)) ([]T, error) {
	var out []T
	for page := 1; ; page++ {
		p, err := list(gatehouse.PageRequest{Page: page, PerPage: 100, Sort: "created_at"})
		if err != nil {
			return nil, err
		}
		out = append(out, p.Items...)
		if len(p.Items) == 0 || len(out) >= p.Total {
			return out, nil
		}
	}
}

// ---- resource instances

type pInstance struct {
	Key            string         `json:"key"`
	Tenant         string         `json:"tenant"`
	Resource       string         `json:"resource"`
	ID             string         `json:"id"`
	OrganizationID string         `json:"organization_id"`
	ProjectID      string         `json:"project_id"`
	EnvironmentID  string         `json:"environment_id"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
	ResourceID     string         `json:"resource_id"`
	TenantID       string         `json:"tenant_id"`
	Attributes     map[string]any `json:"attributes"`
}

func pInstanceOf(env *tenancy.Environment, i *facts.Instance) pInstance {
	return pInstance{Key: i.Key, Tenant: i.Tenant, Resource: i.Resource, ID: i.ID, OrganizationID: env.OrgID, ProjectID: env.ProjectID,
		EnvironmentID: env.ID, CreatedAt: i.CreatedAt, UpdatedAt: i.UpdatedAt, ResourceID: i.ResourceID, TenantID: i.TenantID,
		Attributes: orEmptyMap(i.Attributes)}
}

func (s *server) getInstanceRef(c *call, ref string) (*facts.Instance, error) {
	return byRef(ref, func(r string) (*facts.Instance, error) { return s.Facts.Instance(c.ctx, c.env.ID, r) })
}

// fineFilter is a list's resource and tenant filters as keys (an id given
// is turned into its key; an unknown one stays: the list is then empty).
func (s *server) fineFilter(c *call) (facts.FineFilter, error) {
	q := c.r.URL.Query()
	f := facts.FineFilter{EnvID: c.env.ID, Search: q.Get("search")}
	var err error
	if r := q.Get("resource"); r != "" && r != "*" {
		if f.Resource, err = keyOf(r, func(x string) (*facts.Resource, error) { return s.getResourceRef(c, x) }, func(x *facts.Resource) string { return x.Key }); err != nil {
			return f, err
		}
	}
	if t := q.Get("tenant"); t != "" && t != "*" {
		if f.Tenant, err = keyOf(t, func(x string) (*facts.Tenant, error) { return s.getTenantRef(c, x) }, func(x *facts.Tenant) string { return x.Key }); err != nil {
			return f, err
		}
	}
	return f, nil
}

func (s *server) listInstances(c *call) (int, any, error) {
	pg, err := pageOf(c.r)
	if err != nil {
		return 0, nil, err
	}
	if c.r.URL.Query().Get("detailed") == "true" {
		return 0, nil, notImplemented("detailed resource instance lists")
	}
	f, err := s.fineFilter(c)
	if err != nil {
		return 0, nil, err
	}
	items, total, err := filteredPage(c, pg, func(p gatehouse.PageRequest) (gatehouse.Page[facts.Instance], error) {
		return s.Facts.Instances(c.ctx, f, p)
	}, func(i *facts.Instance) map[string]any { return i.Attributes })
	if err != nil {
		return 0, nil, err
	}
	out := make([]pInstance, len(items))
	for i := range items {
		out[i] = pInstanceOf(c.env, &items[i])
	}
	return http.StatusOK, listOrPaged(out, total, pg), nil
}

type pInstanceIn struct {
	Key        string          `json:"key"`
	Tenant     string          `json:"tenant"`
	Resource   string          `json:"resource"`
	Attributes *map[string]any `json:"attributes"`
}

func (s *server) createInstance(c *call) (int, any, error) {
	var in pInstanceIn
	if err := c.body(s.maxBody, &in, false); err != nil {
		return 0, nil, err
	}
	ii := facts.InstanceInput{Resource: in.Resource, Key: in.Key, Tenant: in.Tenant}
	if in.Attributes != nil {
		ii.Attributes = *in.Attributes
	}
	if ii.Resource != "" {
		if r, err := s.getResourceRef(c, ii.Resource); err == nil {
			ii.Resource = r.Key
		}
	}
	if ii.Tenant != "" {
		if t, err := s.getTenantRef(c, ii.Tenant); err == nil {
			ii.Tenant = t.Key
		}
	}
	i, err := s.Facts.CreateInstance(c.ctx, c.env.ID, ii)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, pInstanceOf(c.env, i), nil
}

func (s *server) getInstance(c *call) (int, any, error) {
	i, err := s.getInstanceRef(c, c.r.PathValue("instance"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, pInstanceOf(c.env, i), nil
}

func (s *server) updateInstance(c *call) (int, any, error) {
	var in pInstanceIn
	if err := c.body(s.maxBody, &in, true); err != nil {
		return 0, nil, err
	}
	i, err := s.getInstanceRef(c, c.r.PathValue("instance"))
	if err != nil {
		return 0, nil, err
	}
	p := facts.InstancePatch{Attributes: in.Attributes}
	if in.Tenant != "" {
		p.Tenant = &in.Tenant
	}
	if i, err = s.Facts.UpdateInstance(c.ctx, c.env.ID, i.ID, p); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, pInstanceOf(c.env, i), nil
}

func (s *server) deleteInstance(c *call) (int, any, error) {
	i, err := s.getInstanceRef(c, c.r.PathValue("instance"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.Facts.DeleteInstance(c.ctx, c.env.ID, i.ID)
}

// ---- relationship tuples

type pTuple struct {
	ID             string    `json:"id"`
	Subject        string    `json:"subject"`
	Relation       string    `json:"relation"`
	Object         string    `json:"object"`
	SubjectID      string    `json:"subject_id"`
	RelationID     string    `json:"relation_id"`
	ObjectID       string    `json:"object_id"`
	TenantID       string    `json:"tenant_id"`
	Tenant         string    `json:"tenant"`
	OrganizationID string    `json:"organization_id"`
	ProjectID      string    `json:"project_id"`
	EnvironmentID  string    `json:"environment_id"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// tupleReader fills a tuple's relation and tenant from lookups kept for
// one answer.
type tupleReader struct {
	s         *server
	c         *call
	instances map[string]*facts.Instance
	relations map[string]string
}

func (s *server) tupleReader(c *call) *tupleReader {
	return &tupleReader{s: s, c: c, instances: map[string]*facts.Instance{}, relations: map[string]string{}}
}

func (tr *tupleReader) read(t *facts.Tuple) (pTuple, error) {
	out := pTuple{ID: t.ID, Subject: t.Subject, Relation: t.Relation, Object: t.Object, SubjectID: t.SubjectID, ObjectID: t.ObjectID,
		OrganizationID: tr.c.env.OrgID, ProjectID: tr.c.env.ProjectID, EnvironmentID: tr.c.env.ID, CreatedAt: t.CreatedAt, UpdatedAt: t.CreatedAt}
	obj, err := memo(tr.instances, t.ObjectID, func() (*facts.Instance, error) { return tr.s.Facts.Instance(tr.c.ctx, tr.c.env.ID, t.ObjectID) })
	if err != nil {
		return out, err
	}
	out.TenantID, out.Tenant = obj.TenantID, obj.Tenant
	key := obj.Resource + "#" + t.Relation
	id, ok := tr.relations[key]
	if !ok {
		if strings.Contains(t.Subject, "#") { // a subject set: the relation is a role of the object's type
			if r, err := tr.s.Facts.ResourceRole(tr.c.ctx, tr.c.env.ID, obj.ResourceID, t.Relation); err == nil {
				id = r.ID
			}
		} else if r, err := tr.s.Facts.Relation(tr.c.ctx, tr.c.env.ID, obj.ResourceID, t.Relation); err == nil {
			id = r.ID
		}
		tr.relations[key] = id
	}
	out.RelationID = id
	return out, nil
}

func (s *server) listTuples(c *call) (int, any, error) {
	pg, err := pageOf(c.r)
	if err != nil {
		return 0, nil, err
	}
	q := c.r.URL.Query()
	if q.Get("detailed") == "true" {
		return 0, nil, notImplemented("detailed relationship tuple lists")
	}
	f := facts.TupleFilter{EnvID: c.env.ID, Subject: q.Get("subject"), Relation: q.Get("relation"), Object: q.Get("object")}
	for _, side := range []struct {
		param string
		dst   *string
	}{{"object_type", &f.ObjectResourceID}, {"subject_type", &f.SubjectResourceID}} {
		if v := q.Get(side.param); v != "" && v != "*" {
			r, err := s.getResourceRef(c, v)
			if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
				return http.StatusOK, listOrPaged([]pTuple{}, 0, pg), nil
			}
			if err != nil {
				return 0, nil, err
			}
			*side.dst = r.ID
		}
	}
	tr := s.tupleReader(c)
	var out []pTuple
	var total int
	if tenant := q.Get("tenant"); tenant != "" && tenant != "*" {
		// The tuples whose object is in the tenant, filtered here.
		all, err := allPages(func(p gatehouse.PageRequest) (gatehouse.Page[facts.Tuple], error) { return s.Facts.Tuples(c.ctx, f, p) })
		if err != nil {
			return 0, nil, err
		}
		var kept []pTuple
		for i := range all {
			t, err := tr.read(&all[i])
			if err != nil {
				return 0, nil, err
			}
			if t.Tenant == tenant || t.TenantID == tenant || t.TenantID == dashed(tenant) {
				kept = append(kept, t)
			}
		}
		total, out = len(kept), window(kept, pg)
	} else {
		p, err := s.Facts.Tuples(c.ctx, f, pg.request("created_at"))
		if err != nil {
			return 0, nil, err
		}
		total = p.Total
		for i := range p.Items {
			t, err := tr.read(&p.Items[i])
			if err != nil {
				return 0, nil, err
			}
			out = append(out, t)
		}
	}
	return http.StatusOK, listOrPaged(out, total, pg), nil
}

type pTupleIn struct {
	Subject  string `json:"subject"`
	Relation string `json:"relation"`
	Object   string `json:"object"`
	Tenant   string `json:"tenant"`
}

// tupleInputs resolves tuples; with create and a tenant, the write creates
// the instances they name that do not exist (Permit's implicit instances).
func (s *server) tupleInputs(c *call, in []pTupleIn, create bool) ([]facts.TupleInput, error) {
	out := make([]facts.TupleInput, len(in))
	for i, t := range in {
		var tenant string
		if create && t.Tenant != "" {
			tenant = t.Tenant
			if tt, err := s.getTenantRef(c, tenant); err == nil {
				tenant = tt.Key
			}
		}
		sub, err := s.instanceName(c, t.Subject, "subject")
		if err != nil {
			return nil, err
		}
		obj, err := s.instanceName(c, t.Object, "object")
		if err != nil {
			return nil, err
		}
		// the instances that do not exist are created in tenant, in the
		// write's transaction
		out[i] = facts.TupleInput{Subject: sub, Relation: t.Relation, Object: obj, Tenant: tenant}
	}
	return out, nil
}

// instanceName turns a tuple side given by instance id (Permit takes ids
// too) into its "type:key"; a "type:key" (or "type:key#role") is kept.
func (s *server) instanceName(c *call, ref, field string) (string, error) {
	if ref == "" || strings.Contains(ref, ":") {
		return ref, nil
	}
	i, err := s.getInstanceRef(c, ref)
	if err != nil {
		return "", fieldNotFound(err, field)
	}
	return i.Ref(), nil
}

func (s *server) createTuple(c *call) (int, any, error) {
	var in pTupleIn
	if err := c.body(s.maxBody, &in, false); err != nil {
		return 0, nil, err
	}
	ins, err := s.tupleInputs(c, []pTupleIn{in}, true)
	if err != nil {
		return 0, nil, err
	}
	ts, err := s.Facts.CreateTuples(c.ctx, c.env.ID, ins)
	if err != nil {
		return 0, nil, err
	}
	out, err := s.tupleReader(c).read(&ts[0])
	return http.StatusOK, out, err
}

func (s *server) deleteTuple(c *call) (int, any, error) {
	var in pTupleIn
	if err := c.body(s.maxBody, &in, false); err != nil {
		return 0, nil, err
	}
	ins, err := s.tupleInputs(c, []pTupleIn{in}, false)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.Facts.DeleteTuples(c.ctx, c.env.ID, ins)
}

// bulkTuples creates (POST {"operations": [...]}) or deletes (DELETE
// {"idents": [...]}) many tuples in one transaction: all or none.
func (s *server) bulkTuples(create bool) handler {
	return func(c *call) (int, any, error) {
		var in struct {
			Operations []pTupleIn `json:"operations"`
			Idents     []pTupleIn `json:"idents"`
		}
		if err := c.body(s.maxBody, &in, false); err != nil {
			return 0, nil, err
		}
		list, field := in.Idents, "idents"
		if create {
			list, field = in.Operations, "operations"
		}
		if len(list) == 0 || len(list) > facts.MaxTupleBatch {
			return 0, nil, gatehouse.FieldError(field, "out_of_range", "send between 1 and %d relationship tuples", facts.MaxTupleBatch)
		}
		ins, err := s.tupleInputs(c, list, create)
		if err != nil {
			return 0, nil, err
		}
		if !create {
			if err := s.Facts.DeleteTuples(c.ctx, c.env.ID, ins); err != nil {
				return 0, nil, err
			}
			return http.StatusOK, map[string]any{"idents": list}, nil
		}
		ts, err := s.Facts.CreateTuples(c.ctx, c.env.ID, ins)
		if err != nil {
			return 0, nil, err
		}
		tr := s.tupleReader(c)
		out := make([]pTuple, len(ts))
		for i := range ts {
			if out[i], err = tr.read(&ts[i]); err != nil {
				return 0, nil, err
			}
		}
		return http.StatusOK, map[string]any{"operations": out}, nil
	}
}

// ---- roles of resource types, with their implicit grants

type pDerivedRule struct {
	Role             string `json:"role"`
	OnResource       string `json:"on_resource"`
	LinkedByRelation string `json:"linked_by_relation"`
}

type pDerivedRuleRead struct {
	pDerivedRule
	RoleID     string `json:"role_id"`
	ResourceID string `json:"resource_id"`
	RelationID string `json:"relation_id"`
}

type pGrantedToIn struct {
	UsersWithRole []pDerivedRule  `json:"users_with_role"`
	When          json.RawMessage `json:"when"`
}

type pGrantedTo struct {
	ID            string             `json:"id"`
	UsersWithRole []pDerivedRuleRead `json:"users_with_role"`
}

type pResourceRole struct {
	Key            string         `json:"key"`
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	Description    string         `json:"description,omitempty"`
	Permissions    []string       `json:"permissions"`
	Extends        []string       `json:"extends"`
	Attributes     map[string]any `json:"attributes"`
	GrantedTo      pGrantedTo     `json:"granted_to"`
	ResourceID     string         `json:"resource_id"`
	Resource       string         `json:"resource"`
	OrganizationID string         `json:"organization_id"`
	ProjectID      string         `json:"project_id"`
	EnvironmentID  string         `json:"environment_id"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
}

// derivedRead is a derivation with the ids of what it names (a name it
// cannot find, which a write would have refused, has an empty id).
func (s *server) derivedRead(c *call, res *facts.Resource, d authz.Derivation) pDerivedRuleRead {
	out := pDerivedRuleRead{pDerivedRule: pDerivedRule{Role: d.Role, OnResource: d.OnResource, LinkedByRelation: d.LinkedByRelation}}
	if d.OnResource == authz.TenantResource {
		if r, err := s.Facts.Role(c.ctx, c.env.ID, d.Role); err == nil {
			out.RoleID = r.ID
		}
		return out
	}
	if on, err := s.Facts.Resource(c.ctx, c.env.ID, d.OnResource); err == nil {
		out.ResourceID = on.ID
		if r, err := s.Facts.ResourceRole(c.ctx, c.env.ID, on.ID, d.Role); err == nil {
			out.RoleID = r.ID
		}
	}
	if r, err := s.Facts.Relation(c.ctx, c.env.ID, res.ID, d.LinkedByRelation); err == nil {
		out.RelationID = r.ID
	}
	return out
}

func (s *server) pResourceRoleOf(c *call, res *facts.Resource, r *facts.ResourceRole) pResourceRole {
	out := pResourceRole{Key: r.Key, ID: r.ID, Name: r.Name, Description: r.Description, Permissions: []string{}, Extends: orEmptyList(r.Extends),
		Attributes: orEmptyMap(r.Attributes), GrantedTo: pGrantedTo{ID: childID(r.ID, "granted_to", r.Key), UsersWithRole: []pDerivedRuleRead{}},
		ResourceID: r.ResourceID, Resource: r.Resource, OrganizationID: c.env.OrgID, ProjectID: c.env.ProjectID, EnvironmentID: c.env.ID,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	for _, p := range r.Permissions {
		out.Permissions = append(out.Permissions, r.Resource+":"+p)
	}
	for _, d := range r.GrantedTo {
		out.GrantedTo.UsersWithRole = append(out.GrantedTo.UsersWithRole, s.derivedRead(c, res, d))
	}
	return out
}

type pResourceRoleIn struct {
	Key         string          `json:"key"`
	Name        *string         `json:"name"`
	Description *string         `json:"description"`
	Permissions *[]string       `json:"permissions"`
	Extends     *[]string       `json:"extends"`
	Attributes  *map[string]any `json:"attributes"` // free metadata; nil: unchanged
	GrantedTo   *pGrantedToIn   `json:"granted_to"`
}

func (in pResourceRoleIn) check() error {
	if in.GrantedTo != nil && len(in.GrantedTo.When) > 0 && string(in.GrantedTo.When) != "null" && string(in.GrantedTo.When) != "{}" {
		return notImplemented("conditions on implicit grants (granted_to.when)")
	}
	return nil
}

func derivations(in []pDerivedRule) []authz.Derivation {
	out := make([]authz.Derivation, len(in))
	for i, d := range in {
		out[i] = authz.Derivation{Role: d.Role, OnResource: d.OnResource, LinkedByRelation: d.LinkedByRelation}
	}
	return out
}

// resourcePath is the resource type of a nested path.
func (s *server) resourcePath(c *call) (*facts.Resource, error) {
	r, err := s.getResourceRef(c, c.r.PathValue("resource"))
	if err != nil {
		return nil, fieldNotFound(err, "resource")
	}
	return r, nil
}

func (s *server) getResourceRoleRef(c *call, res *facts.Resource, ref string) (*facts.ResourceRole, error) {
	return byRef(ref, func(r string) (*facts.ResourceRole, error) { return s.Facts.ResourceRole(c.ctx, c.env.ID, res.ID, r) })
}

func (s *server) listResourceRoles(c *call) (int, any, error) {
	pg, err := pageOf(c.r)
	if err != nil {
		return 0, nil, err
	}
	res, err := s.resourcePath(c)
	if err != nil {
		return 0, nil, err
	}
	f := facts.FineFilter{Search: c.r.URL.Query().Get("search")}
	items, total, err := filteredPage(c, pg, func(p gatehouse.PageRequest) (gatehouse.Page[facts.ResourceRole], error) {
		return s.Facts.ResourceRoles(c.ctx, c.env.ID, res.ID, f, p)
	}, func(r *facts.ResourceRole) map[string]any { return r.Attributes })
	if err != nil {
		return 0, nil, err
	}
	out := make([]pResourceRole, len(items))
	for i := range items {
		out[i] = s.pResourceRoleOf(c, res, &items[i])
	}
	return http.StatusOK, listOrPaged(out, total, pg), nil
}

func (s *server) getResourceRole(c *call) (int, any, error) {
	res, err := s.resourcePath(c)
	if err != nil {
		return 0, nil, err
	}
	r, err := s.getResourceRoleRef(c, res, c.r.PathValue("role"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.pResourceRoleOf(c, res, r), nil
}

func (s *server) createResourceRole(c *call) (int, any, error) {
	var in pResourceRoleIn
	if err := c.body(s.maxBody, &in, false); err != nil {
		return 0, nil, err
	}
	if err := in.check(); err != nil {
		return 0, nil, err
	}
	res, err := s.resourcePath(c)
	if err != nil {
		return 0, nil, err
	}
	r, err := s.putResourceRole(c, res, in)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.pResourceRoleOf(c, res, r), nil
}

func (s *server) putResourceRole(c *call, res *facts.Resource, in pResourceRoleIn) (*facts.ResourceRole, error) {
	return s.Facts.CreateResourceRole(c.ctx, c.env.ID, res.ID, resourceRoleInput(res, in))
}

// resourceRoleInput is a new role of res as the service takes it (the
// action groups its permissions name expanded).
func resourceRoleInput(res *facts.Resource, in pResourceRoleIn) facts.ResourceRoleInput {
	ri := facts.ResourceRoleInput{Key: in.Key, Name: deref(in.Name), Description: deref(in.Description)}
	if in.Attributes != nil {
		ri.Attributes = *in.Attributes
	}
	if in.Permissions != nil {
		ri.Permissions = expandGroups(res, *in.Permissions)
	}
	if in.Extends != nil {
		ri.Extends = *in.Extends
	}
	if in.GrantedTo != nil {
		ri.GrantedTo = derivations(in.GrantedTo.UsersWithRole)
	}
	return ri
}

func (s *server) updateResourceRole(c *call) (int, any, error) {
	var in pResourceRoleIn
	if err := c.body(s.maxBody, &in, true); err != nil {
		return 0, nil, err
	}
	if err := in.check(); err != nil {
		return 0, nil, err
	}
	res, err := s.resourcePath(c)
	if err != nil {
		return 0, nil, err
	}
	r, err := s.getResourceRoleRef(c, res, c.r.PathValue("role"))
	if err != nil {
		return 0, nil, err
	}
	p := facts.ResourceRolePatch{Name: in.Name, Description: in.Description, Extends: in.Extends, Attributes: in.Attributes}
	if in.Permissions != nil {
		perms := expandGroups(res, *in.Permissions)
		p.Permissions = &perms
	}
	if in.GrantedTo != nil {
		ds := derivations(in.GrantedTo.UsersWithRole)
		p.GrantedTo = &ds
	}
	if r, err = s.Facts.UpdateResourceRole(c.ctx, c.env.ID, res.ID, r.ID, p); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.pResourceRoleOf(c, res, r), nil
}

func (s *server) deleteResourceRole(c *call) (int, any, error) {
	res, err := s.resourcePath(c)
	if err != nil {
		return 0, nil, err
	}
	r, err := s.getResourceRoleRef(c, res, c.r.PathValue("role"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.Facts.DeleteResourceRole(c.ctx, c.env.ID, res.ID, r.ID, c.cascade())
}

// changeResourceRole applies fn to a role of the path's resource type and
// answers the role.
func (s *server) changeResourceRole(c *call, fn func(res *facts.Resource, r *facts.ResourceRole) facts.ResourceRolePatch) (*facts.Resource, *facts.ResourceRole, error) {
	res, err := s.resourcePath(c)
	if err != nil {
		return nil, nil, err
	}
	r, err := s.getResourceRoleRef(c, res, c.r.PathValue("role"))
	if err != nil {
		return nil, nil, err
	}
	// fn sees the role as the write reads it.
	r, err = s.Facts.UpdateResourceRole(c.ctx, c.env.ID, res.ID, r.ID, facts.ResourceRolePatch{Edit: fn})
	return res, r, err
}

// resourceRolePermissions adds (POST) or removes (DELETE) permissions.
func (s *server) resourceRolePermissions(add bool) handler {
	return func(c *call) (int, any, error) {
		var in struct {
			Permissions []string `json:"permissions"`
		}
		if err := c.body(s.maxBody, &in, false); err != nil {
			return 0, nil, err
		}
		res, r, err := s.changeResourceRole(c, func(res *facts.Resource, r *facts.ResourceRole) facts.ResourceRolePatch {
			given := expandGroups(res, in.Permissions)
			for i, p := range given {
				if pre, act, ok := strings.Cut(p, ":"); ok && pre == res.Key {
					given[i] = act
				}
			}
			var perms []string
			if add {
				perms = append(append(perms, r.Permissions...), given...)
			} else {
				for _, p := range r.Permissions {
					if !contains(given, p) {
						perms = append(perms, p)
					}
				}
			}
			return facts.ResourceRolePatch{Permissions: &perms}
		})
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, s.pResourceRoleOf(c, res, r), nil
	}
}

// resourceRoleParent makes the role extend (PUT) or stop extending (DELETE)
// another role of its type.
func (s *server) resourceRoleParent(add bool) handler {
	return func(c *call) (int, any, error) {
		parent := c.r.PathValue("parent")
		res, r, err := s.changeResourceRole(c, func(_ *facts.Resource, r *facts.ResourceRole) facts.ResourceRolePatch {
			var ext []string
			for _, e := range r.Extends {
				if e != parent {
					ext = append(ext, e)
				}
			}
			if add {
				ext = append(ext, parent)
			}
			return facts.ResourceRolePatch{Extends: &ext}
		})
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, s.pResourceRoleOf(c, res, r), nil
	}
}

// implicitGrant adds (POST) or removes (DELETE) one derivation of the
// path's role: the holders of role on a related on_resource instance hold
// it (Permit's implicit grant).
func (s *server) implicitGrant(add bool) handler {
	return func(c *call) (int, any, error) {
		var in pDerivedRule
		if err := c.body(s.maxBody, &in, false); err != nil {
			return 0, nil, err
		}
		d := authz.Derivation{Role: in.Role, OnResource: in.OnResource, LinkedByRelation: in.LinkedByRelation}
		if d.OnResource != authz.TenantResource && d.OnResource != "" {
			if on, err := s.getResourceRef(c, d.OnResource); err == nil {
				d.OnResource = on.Key
			}
		}
		var missing bool
		res, _, err := s.changeResourceRole(c, func(_ *facts.Resource, r *facts.ResourceRole) facts.ResourceRolePatch {
			var ds []authz.Derivation
			found := false
			for _, x := range r.GrantedTo {
				if x == d {
					found = true
					if !add {
						continue
					}
				}
				ds = append(ds, x)
			}
			if add && !found {
				ds = append(ds, d)
			}
			missing = !add && !found
			return facts.ResourceRolePatch{GrantedTo: &ds}
		})
		if err != nil {
			return 0, nil, err
		}
		if missing {
			return 0, nil, gatehouse.Errorf(gatehouse.CodeNotFound, "role %q of %q has no implicit grant from %s#%s by %q", c.r.PathValue("role"), res.Key, in.OnResource, in.Role, in.LinkedByRelation)
		}
		if !add {
			return http.StatusNoContent, nil, nil
		}
		return http.StatusOK, s.derivedRead(c, res, d), nil
	}
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// ---- relations of resource types

type pRelation struct {
	Key               string    `json:"key"`
	ID                string    `json:"id"`
	Name              string    `json:"name"`
	Description       string    `json:"description,omitempty"`
	SubjectResource   string    `json:"subject_resource"`
	SubjectResourceID string    `json:"subject_resource_id"`
	ObjectResource    string    `json:"object_resource"`
	ObjectResourceID  string    `json:"object_resource_id"`
	OrganizationID    string    `json:"organization_id"`
	ProjectID         string    `json:"project_id"`
	EnvironmentID     string    `json:"environment_id"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
}

func pRelationOf(env *tenancy.Environment, r *facts.Relation) pRelation {
	return pRelation{Key: r.Key, ID: r.ID, Name: r.Name, Description: r.Description, SubjectResource: r.Subject, SubjectResourceID: r.SubjectID,
		ObjectResource: r.Resource, ObjectResourceID: r.ResourceID, OrganizationID: env.OrgID, ProjectID: env.ProjectID, EnvironmentID: env.ID,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

func (s *server) getRelationRef(c *call, res *facts.Resource, ref string) (*facts.Relation, error) {
	return byRef(ref, func(r string) (*facts.Relation, error) { return s.Facts.Relation(c.ctx, c.env.ID, res.ID, r) })
}

func (s *server) listRelations(c *call) (int, any, error) {
	pg, err := pageOf(c.r)
	if err != nil {
		return 0, nil, err
	}
	res, err := s.resourcePath(c)
	if err != nil {
		return 0, nil, err
	}
	p, err := s.Facts.Relations(c.ctx, c.env.ID, res.ID, facts.FineFilter{Search: c.r.URL.Query().Get("search")}, pg.request("created_at"))
	if err != nil {
		return 0, nil, err
	}
	out := make([]pRelation, len(p.Items))
	for i := range p.Items {
		out[i] = pRelationOf(c.env, &p.Items[i])
	}
	return http.StatusOK, listOrPaged(out, p.Total, pg), nil
}

func (s *server) getRelation(c *call) (int, any, error) {
	res, err := s.resourcePath(c)
	if err != nil {
		return 0, nil, err
	}
	r, err := s.getRelationRef(c, res, c.r.PathValue("relation"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, pRelationOf(c.env, r), nil
}

type pRelationIn struct {
	Key             string `json:"key"`
	Name            string `json:"name"`
	Description     string `json:"description"`
	SubjectResource string `json:"subject_resource"`
}

func (s *server) createRelation(c *call) (int, any, error) {
	var in pRelationIn
	if err := c.body(s.maxBody, &in, false); err != nil {
		return 0, nil, err
	}
	res, err := s.resourcePath(c)
	if err != nil {
		return 0, nil, err
	}
	r, err := s.Facts.CreateRelation(c.ctx, c.env.ID, res.ID, facts.RelationInput{Key: in.Key, Name: in.Name, Description: in.Description, Subject: in.SubjectResource})
	if err != nil {
		if ge, ok := err.(*gatehouse.Error); ok && ge.Details["field"] == "subject" {
			return 0, nil, fieldNotFound(err, "subject_resource")
		}
		return 0, nil, err
	}
	return http.StatusOK, pRelationOf(c.env, r), nil
}

func (s *server) deleteRelation(c *call) (int, any, error) {
	res, err := s.resourcePath(c)
	if err != nil {
		return 0, nil, err
	}
	r, err := s.getRelationRef(c, res, c.r.PathValue("relation"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.Facts.DeleteRelation(c.ctx, c.env.ID, res.ID, r.ID, c.cascade())
}

// ---- condition sets

type pConditionSet struct {
	Key            string          `json:"key"`
	Type           string          `json:"type"`
	Autogenerated  bool            `json:"autogenerated"`
	ResourceID     *string         `json:"resource_id"`
	ID             string          `json:"id"`
	OrganizationID string          `json:"organization_id"`
	ProjectID      string          `json:"project_id"`
	EnvironmentID  string          `json:"environment_id"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
	Resource       *pResource      `json:"resource,omitempty"`
	Name           string          `json:"name"`
	Description    string          `json:"description,omitempty"`
	Conditions     json.RawMessage `json:"conditions"`
	ParentID       *string         `json:"parent_id"`
}

func (s *server) pConditionSetOf(c *call, cs *facts.ConditionSet) pConditionSet {
	out := pConditionSet{Key: cs.Key, Type: cs.Type, ID: cs.ID, OrganizationID: c.env.OrgID, ProjectID: c.env.ProjectID, EnvironmentID: c.env.ID,
		CreatedAt: cs.CreatedAt, UpdatedAt: cs.UpdatedAt, Name: cs.Name, Description: cs.Description, Conditions: cs.Conditions}
	if len(out.Conditions) == 0 {
		out.Conditions = json.RawMessage("{}")
	}
	if cs.ResourceID != "" {
		id := cs.ResourceID
		out.ResourceID = &id
		if r, err := s.Facts.Resource(c.ctx, c.env.ID, cs.ResourceID); err == nil {
			pr := pResourceOf(c.env, r)
			out.Resource = &pr
		}
	}
	return out
}

func (s *server) getConditionSetRef(c *call, ref string) (*facts.ConditionSet, error) {
	return byRef(ref, func(r string) (*facts.ConditionSet, error) { return s.Facts.ConditionSet(c.ctx, c.env.ID, r) })
}

func (s *server) listConditionSets(c *call) (int, any, error) {
	pg, err := pageOf(c.r)
	if err != nil {
		return 0, nil, err
	}
	q := c.r.URL.Query()
	f := facts.FineFilter{EnvID: c.env.ID, Search: q.Get("search"), Type: q.Get("type")}
	p, err := s.Facts.ConditionSets(c.ctx, f, pg.request("created_at"))
	if err != nil {
		return 0, nil, err
	}
	out := make([]pConditionSet, len(p.Items))
	for i := range p.Items {
		out[i] = s.pConditionSetOf(c, &p.Items[i])
	}
	return http.StatusOK, listOrPaged(out, p.Total, pg), nil
}

func (s *server) getConditionSet(c *call) (int, any, error) {
	cs, err := s.getConditionSetRef(c, c.r.PathValue("set"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.pConditionSetOf(c, cs), nil
}

type pConditionSetIn struct {
	Key           string          `json:"key"`
	Type          string          `json:"type"`
	Autogenerated bool            `json:"autogenerated"`
	ResourceID    json.RawMessage `json:"resource_id"`
	Name          *string         `json:"name"`
	Description   *string         `json:"description"`
	Conditions    json.RawMessage `json:"conditions"`
	ParentID      json.RawMessage `json:"parent_id"`
}

func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

func (s *server) createConditionSet(c *call) (int, any, error) {
	var in pConditionSetIn
	if err := c.body(s.maxBody, &in, false); err != nil {
		return 0, nil, err
	}
	if !isNull(in.ParentID) {
		return 0, nil, notImplemented("nested condition sets (parent_id)")
	}
	ci := facts.ConditionSetInput{Key: in.Key, Name: deref(in.Name), Description: deref(in.Description), Type: in.Type, Conditions: in.Conditions}
	if ci.Type == "" {
		ci.Type = authz.UserSet // Permit's default
	}
	if !isNull(in.ResourceID) {
		var ref string
		if err := json.Unmarshal(in.ResourceID, &ref); err != nil {
			return 0, nil, gatehouse.FieldError("resource_id", "type_error", "resource_id must be a resource type's id or key")
		}
		r, err := s.getResourceRef(c, ref)
		if err != nil {
			return 0, nil, fieldNotFound(err, "resource_id")
		}
		ci.Resource = r.Key
	}
	cs, err := s.Facts.CreateConditionSet(c.ctx, c.env.ID, ci)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.pConditionSetOf(c, cs), nil
}

func (s *server) updateConditionSet(c *call) (int, any, error) {
	var in pConditionSetIn
	if err := c.body(s.maxBody, &in, true); err != nil {
		return 0, nil, err
	}
	if !isNull(in.ParentID) {
		return 0, nil, notImplemented("nested condition sets (parent_id)")
	}
	cs, err := s.getConditionSetRef(c, c.r.PathValue("set"))
	if err != nil {
		return 0, nil, err
	}
	p := facts.ConditionSetPatch{Name: in.Name, Description: in.Description}
	if !isNull(in.Conditions) {
		p.Conditions = in.Conditions
	}
	if cs, err = s.Facts.UpdateConditionSet(c.ctx, c.env.ID, cs.ID, p); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.pConditionSetOf(c, cs), nil
}

func (s *server) deleteConditionSet(c *call) (int, any, error) {
	cs, err := s.getConditionSetRef(c, c.r.PathValue("set"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.Facts.DeleteConditionSet(c.ctx, c.env.ID, cs.ID, c.cascade())
}

// ---- set rules ("condition set rules")

type pSetRule struct {
	ID             string    `json:"id"`
	Key            string    `json:"key"`
	UserSet        string    `json:"user_set"`
	Permission     string    `json:"permission"`
	ResourceSet    string    `json:"resource_set"`
	OrganizationID string    `json:"organization_id"`
	ProjectID      string    `json:"project_id"`
	EnvironmentID  string    `json:"environment_id"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// pSetRuleOf needs the resource set's type for the permission's name.
func pSetRuleOf(env *tenancy.Environment, r *facts.SetRule, resource string) pSetRule {
	perm := r.Action
	if resource != "" {
		perm = resource + ":" + r.Action
	}
	return pSetRule{ID: r.ID, Key: r.UserSet + "_" + perm + "_" + r.ResourceSet, UserSet: r.UserSet, Permission: perm, ResourceSet: r.ResourceSet,
		OrganizationID: env.OrgID, ProjectID: env.ProjectID, EnvironmentID: env.ID, CreatedAt: r.CreatedAt, UpdatedAt: r.CreatedAt}
}

type pSetRuleIn struct {
	UserSet     string `json:"user_set"`
	Permission  string `json:"permission"`
	ResourceSet string `json:"resource_set"`
	IsRole      bool   `json:"is_role"`
	IsResource  bool   `json:"is_resource"`
}

// input resolves a set rule's sets (by id or key) and its permission
// ("resource:action", the resource being the resource set's type).
func (s *server) setRuleInput(c *call, in pSetRuleIn) (facts.SetRuleInput, error) {
	if in.IsRole {
		return facts.SetRuleInput{}, notImplemented("set rules whose user set is a role (is_role)")
	}
	if in.IsResource {
		return facts.SetRuleInput{}, notImplemented("set rules whose resource set is a resource type (is_resource)")
	}
	out := facts.SetRuleInput{UserSet: in.UserSet, Action: in.Permission, ResourceSet: in.ResourceSet}
	for _, f := range [][2]string{{"user_set", in.UserSet}, {"permission", in.Permission}, {"resource_set", in.ResourceSet}} {
		if f[1] == "" {
			return out, gatehouse.FieldError(f[0], "required_field_missing", "%s is required", f[0])
		}
	}
	us, err := s.getConditionSetRef(c, in.UserSet)
	if err != nil {
		return out, fieldNotFound(err, "user_set")
	}
	rs, err := s.getConditionSetRef(c, in.ResourceSet)
	if err != nil {
		return out, fieldNotFound(err, "resource_set")
	}
	out.UserSet, out.ResourceSet = us.Key, rs.Key
	if res, act, ok := strings.Cut(in.Permission, ":"); ok {
		if rs.Resource != "" && res != rs.Resource && res != rs.ResourceID {
			return out, gatehouse.FieldError("permission", "invalid_value", "permission %q is not on %q, the resource type of resource set %q", in.Permission, rs.Resource, rs.Key)
		}
		out.Action = act
	}
	return out, nil
}

func (s *server) listSetRules(c *call) (int, any, error) {
	pg, err := pageOf(c.r)
	if err != nil {
		return 0, nil, err
	}
	q := c.r.URL.Query()
	f := facts.SetRuleFilter{EnvID: c.env.ID}
	sets := map[string]*facts.ConditionSet{}
	for _, side := range []struct {
		param string
		dst   *string
	}{{"user_set", &f.UserSet}, {"resource_set", &f.ResourceSet}} {
		if v := q.Get(side.param); v != "" {
			cs, err := s.getConditionSetRef(c, v)
			if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
				return http.StatusOK, listOrPaged([]pSetRule{}, 0, pg), nil
			}
			if err != nil {
				return 0, nil, err
			}
			*side.dst = cs.Key
		}
	}
	if v := q.Get("permission"); v != "" {
		_, act, ok := strings.Cut(v, ":")
		if !ok {
			act = v
		}
		f.Action = act
	}
	p, err := s.Facts.SetRules(c.ctx, f, pg.request("created_at"))
	if err != nil {
		return 0, nil, err
	}
	out := make([]pSetRule, 0, len(p.Items))
	for i := range p.Items {
		rs, err := memo(sets, p.Items[i].ResourceSetID, func() (*facts.ConditionSet, error) {
			return s.Facts.ConditionSet(c.ctx, c.env.ID, p.Items[i].ResourceSetID)
		})
		if err != nil {
			return 0, nil, err
		}
		if v := q.Get("permission"); strings.Contains(v, ":") && v != rs.Resource+":"+p.Items[i].Action {
			continue
		}
		out = append(out, pSetRuleOf(c.env, &p.Items[i], rs.Resource))
	}
	return http.StatusOK, listOrPaged(out, p.Total, pg), nil
}

// createSetRule answers a list, as Permit does.
func (s *server) createSetRule(c *call) (int, any, error) {
	var in pSetRuleIn
	if err := c.body(s.maxBody, &in, false); err != nil {
		return 0, nil, err
	}
	si, err := s.setRuleInput(c, in)
	if err != nil {
		return 0, nil, err
	}
	r, err := s.Facts.CreateSetRule(c.ctx, c.env.ID, si)
	if err != nil {
		return 0, nil, err
	}
	rs, err := s.Facts.ConditionSet(c.ctx, c.env.ID, r.ResourceSetID)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, []pSetRule{pSetRuleOf(c.env, r, rs.Resource)}, nil
}

func (s *server) deleteSetRule(c *call) (int, any, error) {
	var in pSetRuleIn
	if err := c.body(s.maxBody, &in, false); err != nil {
		return 0, nil, err
	}
	si, err := s.setRuleInput(c, in)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, s.Facts.DeleteSetRule(c.ctx, c.env.ID, "", si)
}
