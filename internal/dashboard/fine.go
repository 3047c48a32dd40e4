package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// Fine-grained authorization pages (authz/model.go): resource instances,
// relationship tuples, the roles and relations of a resource type, and
// attribute rules (condition sets and set rules).

func (x *dash) fineRoutes(mux *http.ServeMux) {
	a := x.authed
	mux.HandleFunc("GET /instances", a(x.instances))
	mux.HandleFunc("POST /instances", a(x.createInstance))
	mux.HandleFunc("GET /instances/{instance}", a(x.instance))
	mux.HandleFunc("POST /instances/{instance}", a(x.updateInstance))
	mux.HandleFunc("POST /instances/{instance}/delete", a(x.deleteInstance))
	mux.HandleFunc("POST /instances/{instance}/assignments", a(x.assignOnInstance))
	mux.HandleFunc("POST /instances/{instance}/assignments/delete", a(x.unassignOnInstance))
	mux.HandleFunc("GET /relationships", a(x.relationships))
	mux.HandleFunc("POST /relationships", a(x.createRelationship))
	mux.HandleFunc("POST /relationships/delete", a(x.deleteRelationship))
	mux.HandleFunc("GET /resources/{resource}", a(x.resource))
	mux.HandleFunc("POST /resources/{resource}/roles", a(x.createResourceRole))
	mux.HandleFunc("GET /resources/{resource}/roles/{role}", a(x.resourceRole))
	mux.HandleFunc("POST /resources/{resource}/roles/{role}", a(x.updateResourceRole))
	mux.HandleFunc("POST /resources/{resource}/roles/{role}/delete", a(x.deleteResourceRole))
	mux.HandleFunc("POST /resources/{resource}/relations", a(x.createRelation))
	mux.HandleFunc("POST /resources/{resource}/relations/{relation}/delete", a(x.deleteRelation))
	mux.HandleFunc("GET /rules", a(x.rules))
	mux.HandleFunc("POST /condition-sets", a(x.createConditionSet))
	mux.HandleFunc("GET /condition-sets/{set}", a(x.conditionSet))
	mux.HandleFunc("POST /condition-sets/{set}", a(x.updateConditionSet))
	mux.HandleFunc("POST /condition-sets/{set}/delete", a(x.deleteConditionSet))
	mux.HandleFunc("POST /set-rules", a(x.createSetRule))
	mux.HandleFunc("POST /set-rules/{rule}/delete", a(x.deleteSetRule))
}

// ---- forms

// form is a submitted form's values and its errors by field, to draw it
// again with what the member typed and each error beside its field.
type form struct {
	Values map[string]string
	Errors map[string]string
}

func newForm(r *http.Request, names ...string) *form {
	f := &form{Values: map[string]string{}, Errors: map[string]string{}}
	for _, n := range names {
		f.Values[n] = strings.TrimSpace(r.FormValue(n))
	}
	return f
}

// Val is a field's value ("" on a form not submitted).
func (f *form) Val(name string) string {
	if f == nil {
		return ""
	}
	return f.Values[name]
}

// Err is a field's error ("" for none).
func (f *form) Err(name string) string {
	if f == nil {
		return ""
	}
	return f.Errors[name]
}

// Failed reports a form with an error.
func (f *form) Failed() bool { return f != nil && len(f.Errors) > 0 }

func (f *form) fail(field, msg string) {
	if _, seen := f.Errors[field]; !seen {
		f.Errors[field] = msg
	}
}

// object reads field as a JSON object (empty: none); an error is put
// beside the field.
func (f *form) object(field string) map[string]any {
	s := f.Val(field)
	if s == "" {
		return nil
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(s), &out); err != nil || out == nil {
		f.fail(field, "This is not a JSON object ("+jsonProblem(s, err)+"). Write it like {\"department\": \"finance\"}.")
		return nil
	}
	return out
}

// jsonProblem says what is wrong with a JSON text, with where.
func jsonProblem(s string, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + bytes.Count([]byte(s[:min(int(se.Offset), len(s))]), []byte("\n"))
		return se.Error() + ", line " + itoa(line)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) || err == nil {
		return "it is a JSON " + jsonKind(s) + ", not an object"
	}
	return err.Error()
}

func jsonKind(s string) string {
	switch t := strings.TrimSpace(s); {
	case strings.HasPrefix(t, "["):
		return "list"
	case strings.HasPrefix(t, "\""):
		return "text"
	case t == "null":
		return "null"
	case t == "true" || t == "false":
		return "boolean"
	}
	return "number"
}

func itoa(n int) string { return strconv.Itoa(n) }

// apiError puts a refused write's message beside the field it names when
// the form has that field, and returns the message for the page's alert.
func (f *form) apiError(err error, fields map[string]string) string {
	var e *client.Error
	if errors.As(err, &e) {
		if name, ok := e.Details["field"].(string); ok {
			if own, ok := fields[name]; ok {
				f.fail(own, errText(err))
				return "Not saved: " + errText(err)
			}
		}
	}
	return "Not saved: " + formError(err)
}

func same(names ...string) map[string]string {
	m := map[string]string{}
	for _, n := range names {
		m[n] = n
	}
	return m
}

// status is the answer's status of a form drawn again after err.
func status(err error, f *form) int {
	if err != nil {
		return statusOf(err)
	}
	if f.Failed() {
		return http.StatusBadRequest
	}
	return http.StatusOK
}

// noEnv draws a page that needs an environment when there is none.
func (x *dash) noEnv(w http.ResponseWriter, r *http.Request, v *viewer, name string, p *page) bool {
	if _, env := x.environments(r, v); env == nil {
		p.Error = "There is no environment yet: create a project first."
		x.render(w, r, 200, name, p)
		return true
	}
	return false
}

// suggested is the first page of tenants or users a text field suggests
// in its datalist; the field takes any key and the API checks it.
var suggested = &client.FactListOptions{ListOptions: client.ListOptions{PerPage: suggestions}}

// ---- instances

type instancesData struct {
	Manage    bool
	Items     []client.ResourceInstance
	Filters   map[string]string
	Pager     *pager
	Resources []client.Resource
	Tenants   []client.Tenant
	Form      *form
}

func (x *dash) instances(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.renderInstances(w, r, v, http.StatusOK, "", nil)
}

func (x *dash) renderInstances(w http.ResponseWriter, r *http.Request, v *viewer, st int, errMsg string, f *form) {
	d := &instancesData{Manage: v.can(gatehouse.ScopeManageResource), Filters: map[string]string{}, Form: f}
	p := &page{Title: "Resource instances", Section: "instances", Error: errMsg, Data: d}
	if x.noEnv(w, r, v, "instances", p) {
		return
	}
	ctx, c := apiContext(r), v.env()
	for _, k := range []string{"resource", "tenant", "search"} {
		if val := strings.TrimSpace(r.URL.Query().Get(k)); val != "" {
			d.Filters[k] = val
		}
	}
	list, err := c.ResourceInstances.List(ctx, &client.InstanceListOptions{ListOptions: client.ListOptions{Page: pageOf(r), PerPage: 20},
		Resource: d.Filters["resource"], Tenant: d.Filters["tenant"], Search: d.Filters["search"]})
	if err == nil {
		d.Items, d.Pager = list.Items, newPager(r, list.Meta)
	} else if p.Error == "" {
		p.Error = errText(err)
	}
	d.Resources, _ = choices(c.Resources.All(ctx, nil))
	if ts, err := c.Tenants.List(ctx, suggested); err == nil {
		d.Tenants = ts.Items
	}
	x.render(w, r, st, "instances", p)
}

func (x *dash) createInstance(w http.ResponseWriter, r *http.Request, v *viewer) {
	f := newForm(r, "resource", "key", "tenant", "attributes")
	attrs := f.object("attributes")
	if f.Failed() {
		x.renderInstances(w, r, v, http.StatusBadRequest, "Not saved: check the marked field.", f)
		return
	}
	i, err := v.env().ResourceInstances.Create(apiContext(r), client.InstanceInput{Resource: f.Val("resource"), Key: f.Val("key"),
		Tenant: f.Val("tenant"), Attributes: attrs})
	if err != nil {
		msg := f.apiError(err, same("resource", "key", "tenant", "attributes"))
		x.renderInstances(w, r, v, statusOf(err), msg, f)
		return
	}
	x.redirect(w, r, "/instances/"+url.PathEscape(i.Ref()), "Instance "+i.Ref()+" created.")
}

type instanceData struct {
	Instance    *client.ResourceInstance
	Manage      bool // manage:resource
	Assign      bool // manage:role_assignment
	Attributes  string
	Tenants     []client.Tenant
	Roles       []client.ResourceRole
	Relations   []client.Relation
	AsObject    []client.RelationshipTuple
	AsSubject   []client.RelationshipTuple
	Assignments []client.RoleAssignment
	// The lists above show the first instanceListed of each; these are
	// their totals (from the lists' meta).
	AsObjectTotal, AsSubjectTotal, AssignmentsTotal int
	Form                                            *form // the attributes
	AssignForm                                      *form
}

// instanceListed is how many tuples (each way) and role assignments an
// instance's page lists; the rest are a link away.
const instanceListed = 100

// MoreTuples reports tuples beyond those listed.
func (d *instanceData) MoreTuples() bool {
	return d.AsObjectTotal > len(d.AsObject) || d.AsSubjectTotal > len(d.AsSubject)
}

// MoreAssignments reports role assignments beyond those listed.
func (d *instanceData) MoreAssignments() bool { return d.AssignmentsTotal > len(d.Assignments) }

func (x *dash) instance(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.renderInstance(w, r, v, http.StatusOK, "", nil, nil)
}

func (x *dash) renderInstance(w http.ResponseWriter, r *http.Request, v *viewer, st int, errMsg string, f, af *form) {
	ref := r.PathValue("instance")
	d := &instanceData{Manage: v.can(gatehouse.ScopeManageResource), Assign: v.can(gatehouse.ScopeManageRoleAssignment), Form: f, AssignForm: af}
	p := &page{Title: ref, Section: "instances", Error: errMsg, Data: d}
	if x.noEnv(w, r, v, "instance", p) {
		return
	}
	ctx, c := apiContext(r), v.env()
	i, err := c.ResourceInstances.Get(ctx, ref)
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	d.Instance, p.Title = i, i.Ref()
	d.Attributes = "{}"
	if len(i.Attributes) > 0 {
		d.Attributes = pretty(i.Attributes)
	}
	if ts, err := c.Tenants.List(ctx, suggested); err == nil {
		d.Tenants = ts.Items
	}
	d.Roles, _ = choices(c.ResourceRoles.All(ctx, i.Resource, nil))
	d.Relations, _ = choices(c.Relations.All(ctx, i.Resource, nil))
	listed := client.ListOptions{PerPage: instanceListed}
	if ts, err := c.RelationshipTuples.List(ctx, &client.TupleFilter{ListOptions: listed, Object: i.Ref()}); err == nil {
		d.AsObject, d.AsObjectTotal = ts.Items, ts.Meta.TotalItems
	}
	if ts, err := c.RelationshipTuples.List(ctx, &client.TupleFilter{ListOptions: listed, Subject: i.Ref()}); err == nil {
		d.AsSubject, d.AsSubjectTotal = ts.Items, ts.Meta.TotalItems
	}
	if v.can(gatehouse.ScopeViewRoleAssignment) {
		if as, err := c.RoleAssignments.List(ctx, &client.AssignmentFilter{ListOptions: listed, ResourceInstance: i.Ref()}); err == nil {
			d.Assignments, d.AssignmentsTotal = as.Items, as.Meta.TotalItems
		}
	}
	x.render(w, r, st, "instance", p)
}

func (x *dash) updateInstance(w http.ResponseWriter, r *http.Request, v *viewer) {
	f := newForm(r, "tenant", "attributes")
	if f.Val("attributes") == "" {
		f.Values["attributes"] = "{}"
	}
	attrs := f.object("attributes")
	if f.Failed() {
		x.renderInstance(w, r, v, http.StatusBadRequest, "Not saved: check the marked field.", f, nil)
		return
	}
	if attrs == nil {
		attrs = map[string]any{}
	}
	patch := client.InstancePatch{Attributes: &attrs}
	if t := f.Val("tenant"); t != "" && t != r.FormValue("current_tenant") { // moved
		patch.Tenant = &t
	}
	i, err := v.env().ResourceInstances.Update(apiContext(r), r.PathValue("instance"), patch)
	if err != nil {
		msg := f.apiError(err, same("tenant", "attributes"))
		x.renderInstance(w, r, v, statusOf(err), msg, f, nil)
		return
	}
	x.redirect(w, r, "/instances/"+url.PathEscape(i.Ref()), "Instance saved.")
}

func (x *dash) deleteInstance(w http.ResponseWriter, r *http.Request, v *viewer) {
	err := v.env().ResourceInstances.Delete(apiContext(r), r.PathValue("instance"))
	x.deleted(w, r, err, "/instances", "", "Instance "+r.PathValue("instance")+" deleted, with its relationships and role assignments.")
}

func (x *dash) assignOnInstance(w http.ResponseWriter, r *http.Request, v *viewer) {
	af := newForm(r, "user", "role")
	_, err := v.env().RoleAssignments.AssignOnInstance(apiContext(r), af.Val("user"), af.Val("role"), r.PathValue("instance"))
	if err != nil {
		msg := af.apiError(err, same("user", "role"))
		x.renderInstance(w, r, v, statusOf(err), msg, nil, af)
		return
	}
	x.redirect(w, r, "/instances/"+url.PathEscape(r.PathValue("instance"))+"#assignments", "Role "+af.Val("role")+" given to "+af.Val("user")+".")
}

func (x *dash) unassignOnInstance(w http.ResponseWriter, r *http.Request, v *viewer) {
	err := v.env().RoleAssignments.UnassignOnInstance(apiContext(r), r.FormValue("user"), r.FormValue("role"), r.PathValue("instance"))
	x.act(w, r, err, "/instances/"+url.PathEscape(r.PathValue("instance")), "Role taken away.")
}

// ---- relationship tuples

type relationshipsData struct {
	Manage    bool
	Items     []client.RelationshipTuple
	Filters   map[string]string
	Pager     *pager
	Instances []client.ResourceInstance
	Form      *form
}

func (x *dash) relationships(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.renderRelationships(w, r, v, http.StatusOK, "", nil)
}

func (x *dash) renderRelationships(w http.ResponseWriter, r *http.Request, v *viewer, st int, errMsg string, f *form) {
	d := &relationshipsData{Manage: v.can(gatehouse.ScopeManageResource), Filters: map[string]string{}, Form: f}
	p := &page{Title: "Relationships", Section: "relationships", Error: errMsg, Data: d}
	if x.noEnv(w, r, v, "relationships", p) {
		return
	}
	ctx, c := apiContext(r), v.env()
	for _, k := range []string{"subject", "relation", "object"} {
		if val := strings.TrimSpace(r.URL.Query().Get(k)); val != "" {
			d.Filters[k] = val
		}
	}
	if d.Form == nil { // the create form starts from the filters
		d.Form = &form{Values: d.Filters}
	}
	list, err := c.RelationshipTuples.List(ctx, &client.TupleFilter{ListOptions: client.ListOptions{Page: pageOf(r), PerPage: 20},
		Subject: d.Filters["subject"], Relation: d.Filters["relation"], Object: d.Filters["object"]})
	if err == nil {
		d.Items, d.Pager = list.Items, newPager(r, list.Meta)
	} else if p.Error == "" {
		p.Error = errText(err)
	}
	if is, err := c.ResourceInstances.List(ctx, &client.InstanceListOptions{ListOptions: client.ListOptions{PerPage: suggestions}}); err == nil {
		d.Instances = is.Items
	}
	x.render(w, r, st, "relationships", p)
}

func (x *dash) createRelationship(w http.ResponseWriter, r *http.Request, v *viewer) {
	f := newForm(r, "subject", "relation", "object")
	t := client.Tuple{Subject: f.Val("subject"), Relation: f.Val("relation"), Object: f.Val("object")}
	if _, err := v.env().RelationshipTuples.Create(apiContext(r), t); err != nil {
		msg := f.apiError(err, same("subject", "relation", "object"))
		x.renderRelationships(w, r, v, statusOf(err), msg, f)
		return
	}
	x.redirect(w, r, back(r, "/relationships"), "Relationship "+t.Subject+" "+t.Relation+" "+t.Object+" created.")
}

func (x *dash) deleteRelationship(w http.ResponseWriter, r *http.Request, v *viewer) {
	err := v.env().RelationshipTuples.Delete(apiContext(r), client.Tuple{Subject: r.FormValue("subject"), Relation: r.FormValue("relation"), Object: r.FormValue("object")})
	x.act(w, r, err, "/relationships", "Relationship deleted.")
}

// ---- a resource type: its roles and relations

type resourceData struct {
	Resource     *client.Resource
	Manage       bool
	Roles        []client.ResourceRole
	Relations    []client.Relation
	Resources    []client.Resource // every type: derivations and subjects
	TenantRoles  []client.Role
	Instances    *int
	RoleForm     *form
	RelationForm *form
	// Edit is the form editing the type itself.
	Edit *resourceEdit
}

func (x *dash) resource(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.renderResource(w, r, v, http.StatusOK, "", nil, nil)
}

func (x *dash) renderResource(w http.ResponseWriter, r *http.Request, v *viewer, st int, errMsg string, rf, lf *form) {
	x.renderResourceWith(w, r, v, st, errMsg, rf, lf, nil)
}

// renderResourceWith draws a resource type's page; rf, lf and e are
// submitted forms (nil: each starts afresh, e from the type as it is).
func (x *dash) renderResourceWith(w http.ResponseWriter, r *http.Request, v *viewer, st int, errMsg string, rf, lf *form, e *resourceEdit) {
	d := &resourceData{Manage: v.can(gatehouse.ScopeManageResource), RoleForm: rf, RelationForm: lf, Edit: e}
	p := &page{Title: "Resource type", Section: "resources", Error: errMsg, Data: d}
	if x.noEnv(w, r, v, "resource", p) {
		return
	}
	ctx, c := apiContext(r), v.env()
	res, err := c.Resources.Get(ctx, r.PathValue("resource"))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	d.Resource, p.Title = res, "Resource type "+res.Key
	if d.Roles, err = choices(c.ResourceRoles.All(ctx, res.Key, nil)); err != nil && p.Error == "" {
		p.Error = errText(err)
	}
	if d.Relations, err = choices(c.Relations.All(ctx, res.Key, nil)); err != nil && p.Error == "" {
		p.Error = errText(err)
	}
	if d.Resources, err = choices(c.Resources.All(ctx, nil)); err != nil && p.Error == "" {
		p.Error = errText(err)
	}
	if v.can(gatehouse.ScopeViewRole) {
		d.TenantRoles, _ = choices(c.Roles.All(ctx, nil))
	}
	d.Instances = total(c.ResourceInstances.List(ctx, &client.InstanceListOptions{ListOptions: client.ListOptions{PerPage: 1}, Resource: res.Key}))
	if d.Edit == nil {
		d.Edit = editFormOf(res)
	}
	d.Edit.Granted = grantedBy(res.Key, d.TenantRoles, d.Roles)
	x.render(w, r, st, "resource", p)
}

// derivationRows is how many derivations the create-role form offers.
const derivationRows = 2

func (x *dash) createResourceRole(w http.ResponseWriter, r *http.Request, v *viewer) {
	_ = r.ParseForm()
	f := newForm(r, append([]string{"key", "name"}, derivationNames(derivationRows)...)...)
	in := client.ResourceRoleInput{Key: f.Val("key"), Name: f.Val("name"), Permissions: r.Form["permissions"], Extends: r.Form["extends"]}
	in.GrantedTo = derivations(f, derivationRows)
	if f.Failed() {
		x.renderResource(w, r, v, http.StatusBadRequest, "Not saved: check the marked fields.", f, nil)
		return
	}
	res := r.PathValue("resource")
	if _, err := v.env().ResourceRoles.Create(apiContext(r), res, in); err != nil {
		msg := f.apiError(err, map[string]string{"key": "key", "name": "name", "granted_to": "gt_role_0"})
		x.renderResource(w, r, v, statusOf(err), msg, f, nil)
		return
	}
	x.redirect(w, r, "/resources/"+url.PathEscape(res)+"#roles", "Role "+in.Key+" of "+res+" created.")
}

func (x *dash) deleteResourceRole(w http.ResponseWriter, r *http.Request, v *viewer) {
	res, role := r.PathValue("resource"), r.PathValue("role")
	err := v.env().ResourceRoles.Delete(apiContext(r), res, role, r.FormValue("cascade") != "")
	here := "/resources/" + url.PathEscape(res)
	x.deleted(w, r, err, here+"#roles", here+"/roles/"+url.PathEscape(role)+"/delete", "Role "+role+" of "+res+" deleted.")
}

func (x *dash) createRelation(w http.ResponseWriter, r *http.Request, v *viewer) {
	f := newForm(r, "key", "name", "subject")
	res := r.PathValue("resource")
	if _, err := v.env().Relations.Create(apiContext(r), res, client.RelationInput{Key: f.Val("key"), Name: f.Val("name"), Subject: f.Val("subject")}); err != nil {
		msg := f.apiError(err, same("key", "name", "subject"))
		x.renderResource(w, r, v, statusOf(err), msg, nil, f)
		return
	}
	x.redirect(w, r, "/resources/"+url.PathEscape(res)+"#relations", "Relation "+f.Val("key")+" of "+res+" declared.")
}

func (x *dash) deleteRelation(w http.ResponseWriter, r *http.Request, v *viewer) {
	res, rel := r.PathValue("resource"), r.PathValue("relation")
	err := v.env().Relations.Delete(apiContext(r), res, rel, r.FormValue("cascade") != "")
	here := "/resources/" + url.PathEscape(res)
	x.deleted(w, r, err, here+"#relations", here+"/relations/"+url.PathEscape(rel)+"/delete", "Relation "+rel+" of "+res+" deleted.")
}

// ---- attribute rules

type rulesData struct {
	Manage    bool
	Sets      []client.ConditionSet
	Rules     []client.SetRule
	Resources []client.Resource
	SetForm   *form
	RuleForm  *form
}

// UserSets and ResourceSets are the sets of each type, for the rule form.
func (d *rulesData) UserSets() []client.ConditionSet { return d.setsOf(client.UserSet) }

func (d *rulesData) ResourceSets() []client.ConditionSet { return d.setsOf(client.ResourceSet) }

func (d *rulesData) setsOf(typ string) []client.ConditionSet {
	var out []client.ConditionSet
	for _, s := range d.Sets {
		if s.Type == typ {
			out = append(out, s)
		}
	}
	return out
}

// Actions are every resource type's actions, for the rule form.
func (d *rulesData) Actions() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range d.Resources {
		for _, a := range r.Actions {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	return out
}

func (x *dash) rules(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.renderRules(w, r, v, http.StatusOK, "", nil, nil)
}

func (x *dash) renderRules(w http.ResponseWriter, r *http.Request, v *viewer, st int, errMsg string, sf, rf *form) {
	d := &rulesData{Manage: v.can(gatehouse.ScopeManageRole), SetForm: sf, RuleForm: rf}
	p := &page{Title: "Attribute rules", Section: "rules", Error: errMsg, Data: d}
	if x.noEnv(w, r, v, "rules", p) {
		return
	}
	ctx, c := apiContext(r), v.env()
	var err error
	if d.Sets, err = choices(c.ConditionSets.All(ctx, nil)); err != nil && p.Error == "" {
		p.Error = errText(err)
	}
	if d.Rules, err = choices(c.SetRules.All(ctx, nil)); err != nil && p.Error == "" {
		p.Error = errText(err)
	}
	d.Resources, _ = choices(c.Resources.All(ctx, nil))
	x.render(w, r, st, "rules", p)
}

func (x *dash) createConditionSet(w http.ResponseWriter, r *http.Request, v *viewer) {
	f := newForm(r, "key", "name", "type", "resource", "conditions")
	in := client.ConditionSetInput{Key: f.Val("key"), Name: f.Val("name"), Type: f.Val("type"), Conditions: json.RawMessage(f.Val("conditions"))}
	if in.Type == client.ResourceSet {
		in.Resource = f.Val("resource")
	}
	checkConditions(f)
	if f.Failed() {
		x.renderRules(w, r, v, http.StatusBadRequest, "Not saved: check the marked field.", f, nil)
		return
	}
	if _, err := v.env().ConditionSets.Create(apiContext(r), in); err != nil {
		msg := f.apiError(err, same("key", "name", "type", "resource", "conditions"))
		x.renderRules(w, r, v, statusOf(err), msg, f, nil)
		return
	}
	x.redirect(w, r, "/rules", "Condition set "+in.Key+" created.")
}

func (x *dash) deleteConditionSet(w http.ResponseWriter, r *http.Request, v *viewer) {
	set := r.PathValue("set")
	err := v.env().ConditionSets.Delete(apiContext(r), set, r.FormValue("cascade") != "")
	x.deleted(w, r, err, "/rules", "/condition-sets/"+url.PathEscape(set)+"/delete", "Condition set "+set+" deleted.")
}

func (x *dash) createSetRule(w http.ResponseWriter, r *http.Request, v *viewer) {
	f := newForm(r, "user_set", "action", "resource_set")
	in := client.SetRuleInput{UserSet: f.Val("user_set"), Action: f.Val("action"), ResourceSet: f.Val("resource_set")}
	if _, err := v.env().SetRules.Create(apiContext(r), in); err != nil {
		msg := f.apiError(err, same("user_set", "action", "resource_set"))
		x.renderRules(w, r, v, statusOf(err), msg, nil, f)
		return
	}
	x.redirect(w, r, "/rules", "Set rule created: "+in.UserSet+" may "+in.Action+" "+in.ResourceSet+".")
}

func (x *dash) deleteSetRule(w http.ResponseWriter, r *http.Request, v *viewer) {
	err := v.env().SetRules.DeleteByID(apiContext(r), r.PathValue("rule"))
	x.act(w, r, err, "/rules", "Set rule deleted.")
}

// ---- a decision's path

// refLink is the dashboard page of "type:key" (or "type:key#role"): an
// instance's page, a user's or a tenant's list; "" for anything else.
func refLink(ref string) string {
	ref, _, _ = strings.Cut(ref, "#")
	typ, key, ok := strings.Cut(ref, ":")
	if !ok || typ == "" || key == "" {
		return ""
	}
	switch typ {
	case "user":
		return "/users?search=" + url.QueryEscape(key)
	case "tenant":
		return "/tenants?search=" + url.QueryEscape(key)
	}
	return "/instances/" + url.PathEscape(ref)
}

// stepLink is the page of the fact or rule a path step stands for.
func stepLink(s authz.Step) string {
	keyOf := func(ref string) string { _, k, _ := strings.Cut(ref, ":"); return k }
	switch s.Kind {
	case authz.StepTuple:
		return "/relationships?" + url.Values{"subject": {s.Subject}, "relation": {s.Relation}, "object": {s.Object}}.Encode()
	case authz.StepInstanceRole:
		return "/instances/" + url.PathEscape(s.Object) + "#assignments"
	case authz.StepTenantRole:
		return "/assignments?" + url.Values{"user": {keyOf(s.Subject)}, "role": {s.Relation}, "tenant": {keyOf(s.Object)}}.Encode()
	case authz.StepDerived:
		typ, _, _ := strings.Cut(s.Object, ":")
		return "/resources/" + url.PathEscape(typ) + "#roles"
	case authz.StepSetRule:
		return "/rules"
	}
	return ""
}

// stepKind names a path step's kind for people.
func stepKind(kind string) string {
	switch kind {
	case authz.StepTenantRole:
		return "tenant role"
	case authz.StepInstanceRole:
		return "role on the instance"
	case authz.StepTuple:
		return "relationship"
	case authz.StepDerived:
		return "derived role"
	case authz.StepSetRule:
		return "attribute rule"
	}
	return kind
}
