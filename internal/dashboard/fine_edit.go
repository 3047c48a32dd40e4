package dashboard

import (
	"encoding/json"
	"iter"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// Editing fine-grained data after it was created: a role of a resource
// type (its actions, the roles it extends and its derivations) and a
// condition set (its name, description and conditions). Both save through
// the v1 API's PATCH, as the member.

// choices is every item of a list a form offers to choose from, the client
// paging through it: the schema (resource types, their roles and
// relations, tenant roles, condition sets) is shown in full in a select or
// a set of checkboxes, never cut at a page.
func choices[T any](seq iter.Seq2[T, error]) ([]T, error) {
	var out []T
	for it, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, it)
	}
	return out, nil
}

// suggestions is how many tenants, users or instances a text field's
// datalist suggests; the field takes any key, and the API checks it.
const suggestions = 100

// ---- a role of a resource type

// maxDerivationRows bounds the derivation rows a role form may post (the
// API takes 64 derivations; two blank rows are offered beyond them).
const maxDerivationRows = 66

// derivations reads the "also granted to" rows 0..n-1 of a role form,
// failing the form beside a half-filled row's missing field.
func derivations(f *form, n int) []client.Derivation {
	var out []client.Derivation
	for i := range n {
		s := itoa(i)
		d := client.Derivation{Role: f.Val("gt_role_" + s), OnResource: f.Val("gt_on_" + s), LinkedByRelation: f.Val("gt_by_" + s)}
		switch {
		case d == (client.Derivation{}):
			continue
		case d.Role == "":
			f.fail("gt_role_"+s, "Name the role its holders hold.")
			continue
		case d.OnResource == "":
			f.fail("gt_on_"+s, "Choose where they hold it.")
			continue
		case d.OnResource != authz.TenantResource && d.LinkedByRelation == "":
			f.fail("gt_by_"+s, "Choose the relation that links the two instances.")
			continue
		case d.OnResource == authz.TenantResource:
			d.LinkedByRelation = "" // a tenant role is not carried by a relation
		}
		out = append(out, d)
	}
	return out
}

// derivationNames are the form fields of n derivation rows.
func derivationNames(n int) []string {
	var names []string
	for i := range n {
		names = append(names, "gt_role_"+itoa(i), "gt_on_"+itoa(i), "gt_by_"+itoa(i))
	}
	return names
}

type resourceRoleData struct {
	Resource    *client.Resource
	Role        *client.ResourceRole
	Manage      bool                  // manage:resource
	Roles       []client.ResourceRole // the type's other roles: what it may extend
	Relations   []client.Relation
	Resources   []client.Resource
	TenantRoles []client.Role
	Form        *form
	// Checked are the ticked boxes: "permissions:read", "extends:viewer".
	Checked map[string]bool
	// Rows are the numbers of the derivation rows the form shows,
	// AttrRows those of its attribute rows.
	Rows, AttrRows []string
}

func (x *dash) resourceRole(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.renderResourceRole(w, r, v, http.StatusOK, "", nil, nil, 0, 0)
}

// renderResourceRole draws a role's page; f and checked are a submitted
// form with rows derivation rows and attrRows attribute rows (nil: the
// form starts from the role).
func (x *dash) renderResourceRole(w http.ResponseWriter, r *http.Request, v *viewer, st int, errMsg string, f *form, checked map[string]bool, rows, attrRows int) {
	d := &resourceRoleData{Manage: v.can(gatehouse.ScopeManageResource), Form: f, Checked: checked}
	p := &page{Title: "Resource role", Section: "resources", Error: errMsg, Data: d}
	if x.noEnv(w, r, v, "resource_role", p) {
		return
	}
	ctx, c := apiContext(r), v.env()
	res, err := c.Resources.Get(ctx, r.PathValue("resource"))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	role, err := c.ResourceRoles.Get(ctx, res.Key, r.PathValue("role"))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	d.Resource, d.Role, p.Title = res, role, "Role "+role.Key+" of "+res.Key
	roles, err := choices(c.ResourceRoles.All(ctx, res.Key, nil))
	if err != nil && p.Error == "" {
		p.Error = errText(err)
	}
	for _, o := range roles {
		if o.Key != role.Key {
			d.Roles = append(d.Roles, o)
		}
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
	if d.Form == nil { // the form starts from the role
		d.Form = &form{Values: map[string]string{"name": role.Name, "description": role.Description}, Errors: map[string]string{}}
		d.Checked = map[string]bool{}
		for _, a := range role.Permissions {
			d.Checked["permissions:"+a] = true
		}
		for _, e := range role.Extends {
			d.Checked["extends:"+e] = true
		}
		for i, g := range role.GrantedTo {
			n := itoa(i)
			d.Form.Values["gt_role_"+n], d.Form.Values["gt_on_"+n], d.Form.Values["gt_by_"+n] = g.Role, g.OnResource, g.LinkedByRelation
		}
		rows = len(role.GrantedTo) + 2
		attrRows = fillAttrs(d.Form, role.Attributes)
	}
	d.AttrRows = rowNumbers(attrRows)
	for i := range min(rows, maxDerivationRows) {
		d.Rows = append(d.Rows, itoa(i))
	}
	x.render(w, r, st, "resource_role", p)
}

func (x *dash) updateResourceRole(w http.ResponseWriter, r *http.Request, v *viewer) {
	_ = r.ParseForm()
	rows, err := strconv.Atoi(r.FormValue("gt_rows"))
	if err != nil || rows < 0 {
		rows = 0
	}
	rows = min(rows, maxDerivationRows)
	attrRows := attrRowsOf(r)
	f := newForm(r, append(append([]string{"name", "description"}, derivationNames(rows)...), attrNames(attrRows)...)...)
	perms, ext := r.Form["permissions"], r.Form["extends"]
	checked := map[string]bool{}
	for _, a := range perms {
		checked["permissions:"+a] = true
	}
	for _, e := range ext {
		checked["extends:"+e] = true
	}
	granted := derivations(f, rows)
	attrs := attributes(f, attrRows)
	if f.Failed() {
		x.renderResourceRole(w, r, v, http.StatusBadRequest, "Not saved: check the marked fields.", f, checked, rows, attrRows)
		return
	}
	res, key := r.PathValue("resource"), r.PathValue("role")
	if perms == nil {
		perms = []string{}
	}
	if ext == nil {
		ext = []string{}
	}
	if granted == nil {
		granted = []client.Derivation{}
	}
	name, desc := f.Val("name"), f.Val("description")
	if name == "" {
		name = key // as when it was created without one
	}
	patch := client.ResourceRolePatch{Name: &name, Description: &desc, Permissions: &perms, Extends: &ext, GrantedTo: &granted}
	if r.Form.Has("attr_rows") { // a form without the attribute rows leaves them as they are
		patch.Attributes = &attrs
	}
	role, err := v.env().ResourceRoles.Update(apiContext(r), res, key, patch)
	if err != nil {
		msg := f.apiError(err, map[string]string{"name": "name", "description": "description", "granted_to": "gt_role_0", "attributes": "attr_key_0"})
		x.renderResourceRole(w, r, v, statusOf(err), msg, f, checked, rows, attrRows)
		return
	}
	x.redirect(w, r, "/resources/"+url.PathEscape(res)+"/roles/"+url.PathEscape(role.Key), "Role "+role.Key+" of "+res+" saved.")
}

// ---- a condition set

type conditionSetData struct {
	Set        *client.ConditionSet
	Manage     bool // manage:role
	Conditions string
	Rules      []client.SetRule // the set rules naming it
	Form       *form
}

func (x *dash) conditionSet(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.renderConditionSet(w, r, v, http.StatusOK, "", nil)
}

func (x *dash) renderConditionSet(w http.ResponseWriter, r *http.Request, v *viewer, st int, errMsg string, f *form) {
	d := &conditionSetData{Manage: v.can(gatehouse.ScopeManageRole), Form: f}
	p := &page{Title: "Condition set", Section: "rules", Error: errMsg, Data: d}
	if x.noEnv(w, r, v, "condition_set", p) {
		return
	}
	ctx, c := apiContext(r), v.env()
	set, err := c.ConditionSets.Get(ctx, r.PathValue("set"))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	d.Set, p.Title, d.Conditions = set, "Condition set "+set.Key, pretty(set.Conditions)
	filter := &client.SetRuleFilter{}
	if set.Type == client.UserSet {
		filter.UserSet = set.Key
	} else {
		filter.ResourceSet = set.Key
	}
	if d.Rules, err = choices(c.SetRules.All(ctx, filter)); err != nil && p.Error == "" {
		p.Error = errText(err)
	}
	if d.Form == nil {
		d.Form = &form{Values: map[string]string{"name": set.Name, "description": set.Description, "conditions": d.Conditions}, Errors: map[string]string{}}
	}
	x.render(w, r, st, "condition_set", p)
}

// checkConditions fails a form whose conditions are missing or not JSON;
// what they say is the API's to judge.
func checkConditions(f *form) {
	switch c := f.Val("conditions"); {
	case c == "":
		f.fail("conditions", "Write the conditions, e.g. {\"user.department\": {\"equals\": \"finance\"}}.")
	case !json.Valid([]byte(c)):
		var probe any
		f.fail("conditions", "This is not JSON ("+jsonProblem(c, json.Unmarshal([]byte(c), &probe))+").")
	}
}

func (x *dash) updateConditionSet(w http.ResponseWriter, r *http.Request, v *viewer) {
	f := newForm(r, "name", "description", "conditions")
	checkConditions(f)
	if f.Failed() {
		x.renderConditionSet(w, r, v, http.StatusBadRequest, "Not saved: check the marked field.", f)
		return
	}
	key := r.PathValue("set")
	name, desc := f.Val("name"), f.Val("description")
	if name == "" {
		name = key // as when it was created without one
	}
	set, err := v.env().ConditionSets.Update(apiContext(r), key, client.ConditionSetPatch{Name: &name, Description: &desc,
		Conditions: json.RawMessage(f.Val("conditions"))})
	if err != nil {
		msg := f.apiError(err, same("name", "description", "conditions"))
		x.renderConditionSet(w, r, v, statusOf(err), msg, f)
		return
	}
	x.redirect(w, r, "/condition-sets/"+url.PathEscape(set.Key), "Condition set "+set.Key+" saved.")
}
