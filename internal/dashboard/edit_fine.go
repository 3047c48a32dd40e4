package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client"
)

// A resource type edited in place (its name, description, actions and
// attribute definitions), and the confirmation pages of the deletes of the
// fine-grained model: what goes with a resource type, a role of one, a
// relation, an instance or a condition set.

// attrTypes are the types an attribute of a resource type may have.
var attrTypes = []string{"string", "number", "bool", "time", "array", "json"}

// maxDefRows bounds the attribute definition rows a form may post.
const maxDefRows = 202

func defNames(n int) []string {
	var names []string
	for i := range n {
		names = append(names, "def_key_"+itoa(i), "def_type_"+itoa(i), "def_desc_"+itoa(i))
	}
	return names
}

// attributeDefs reads definition rows 0..n-1: a row without a name is
// skipped when it has no description either.
func attributeDefs(f *form, n int) map[string]client.AttributeDef {
	out := map[string]client.AttributeDef{}
	for i := range n {
		s := itoa(i)
		k, t, desc := f.Val("def_key_"+s), f.Val("def_type_"+s), f.Val("def_desc_"+s)
		switch {
		case k == "" && desc == "":
			continue
		case k == "":
			f.fail("def_key_"+s, "Name the attribute, or empty the row.")
			continue
		case !slices.Contains(attrTypes, t):
			f.fail("def_type_"+s, "Choose the attribute's type.")
			continue
		}
		if _, dup := out[k]; dup {
			f.fail("def_key_"+s, "“"+k+"” is named twice: declare each attribute once.")
			continue
		}
		out[k] = client.AttributeDef{Type: t, Description: desc}
	}
	return out
}

// resourceEdit is the edit form of a resource type: the form, the ticked
// actions (kept), the definition rows, and whether the form offers to take
// removed actions off the roles that grant them (after the API refused).
type resourceEdit struct {
	Form    *form
	Keep    map[string]bool
	Rows    []string
	Offer   bool
	Granted map[string][]string // action → roles granting it
}

func (x *dash) updateResource(w http.ResponseWriter, r *http.Request, v *viewer) {
	_ = r.ParseForm()
	rows, err := strconv.Atoi(r.FormValue("def_rows"))
	if err != nil || rows < 0 {
		rows = 0
	}
	rows = min(rows, maxDefRows)
	f := newForm(r, append([]string{"name", "description", "add_actions"}, defNames(rows)...)...)
	e := &resourceEdit{Form: f, Keep: map[string]bool{}, Rows: rowNumbers(rows)}
	actions := []string{}
	for _, a := range r.Form["actions"] {
		if !slices.Contains(actions, a) {
			actions = append(actions, a)
			e.Keep[a] = true
		}
	}
	for _, a := range splitList(f.Val("add_actions")) {
		if !slices.Contains(actions, a) {
			actions = append(actions, a)
		}
	}
	defs := attributeDefs(f, rows)
	if len(actions) == 0 {
		f.fail("add_actions", "A resource type needs at least one action: keep one, or add one here.")
	}
	if f.Failed() {
		x.renderResourceEdit(w, r, v, http.StatusBadRequest, "Not saved: check the marked fields.", e)
		return
	}
	key := r.PathValue("resource")
	name, desc := f.Val("name"), f.Val("description")
	if name == "" {
		name = key
	}
	patch := map[string]any{"name": name, "description": desc, "actions": actions, "attributes": defs}
	ctx, c := apiContext(r), v.env()
	var res *client.Resource
	if r.FormValue("cascade") != "" {
		res, err = c.Resources.UpdateCascade(ctx, key, patch)
	} else {
		res, err = c.Resources.Update(ctx, key, patch)
	}
	if err != nil {
		msg := f.apiError(err, map[string]string{"name": "name", "description": "description", "actions": "add_actions", "attributes": "def_key_0"})
		if inUse(err) { // an action dropped is still granted: say by whom, and offer to take it off them
			e.Offer = true
			msg = "Not saved: " + inUseText(err) + " Tick “Take the removed actions off the roles that grant them” to remove them from those roles too, or keep the actions."
		}
		x.renderResourceEdit(w, r, v, statusOf(err), msg, e)
		return
	}
	x.redirect(w, r, "/resources/"+url.PathEscape(res.Key)+"#edit", "Resource type "+res.Key+" saved.")
}

// renderResourceEdit draws the resource type's page with a submitted edit
// form.
func (x *dash) renderResourceEdit(w http.ResponseWriter, r *http.Request, v *viewer, st int, errMsg string, e *resourceEdit) {
	x.renderResourceWith(w, r, v, st, errMsg, nil, nil, e)
}

// editFormOf is the edit form of res as it is.
func editFormOf(res *client.Resource) *resourceEdit {
	e := &resourceEdit{Form: emptyForm(), Keep: map[string]bool{}}
	e.Form.Values["name"], e.Form.Values["description"] = res.Name, res.Description
	for _, a := range res.Actions {
		e.Keep[a] = true
	}
	keys := make([]string, 0, len(res.Attributes))
	for k := range res.Attributes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		s := itoa(i)
		e.Form.Values["def_key_"+s], e.Form.Values["def_type_"+s], e.Form.Values["def_desc_"+s] = k, res.Attributes[k].Type, res.Attributes[k].Description
	}
	e.Rows = rowNumbers(len(keys) + 2)
	return e
}

// EditActions are the actions the edit form lists: the type's, then any
// ticked ones it no longer has (as typed).
func (d *resourceData) EditActions() []string {
	out := slices.Clone(d.Resource.Actions)
	for a := range d.Edit.Keep {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// AttrTypes are the types an attribute definition may have.
func (d *resourceData) AttrTypes() []string { return attrTypes }

// grantedBy maps each action of res to the tenant roles ("editor") and
// resource roles ("document#editor") granting it.
func grantedBy(res string, tenantRoles []client.Role, roles []client.ResourceRole) map[string][]string {
	out := map[string][]string{}
	for _, r := range tenantRoles {
		for _, p := range r.Permissions {
			if t, a, _ := strings.Cut(p, ":"); t == res {
				out[a] = append(out[a], r.Key)
			}
		}
	}
	for _, r := range roles {
		for _, a := range r.Permissions {
			out[a] = append(out[a], res+"#"+r.Key)
		}
	}
	return out
}

func (x *dash) confirmDeleteResource(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx, c := apiContext(r), v.env()
	res, err := c.Resources.Get(ctx, r.PathValue("item"))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	esc, q := url.PathEscape(res.Key), url.QueryEscape(res.Key)
	d := &confirmData{What: "resource type " + res.Key, Action: "/resources/" + esc + "/delete", Back: "/resources/" + esc,
		Note: "Checks on " + res.Key + " are denied from then on."}
	if v.can(gatehouse.ScopeViewRole) {
		var granting []string
		for role, err := range c.Roles.All(ctx, nil) {
			if err != nil {
				d.Unknown = append(d.Unknown, "the tenant roles granting its actions")
				break
			}
			if slices.ContainsFunc(role.Permissions, func(p string) bool { return strings.HasPrefix(p, res.Key+":") }) {
				granting = append(granting, role.Key)
			}
		}
		d.add(cascadeItem{Count: len(granting), One: "tenant role granting its actions, which loses those permissions", Text: "tenant roles granting its actions, which lose those permissions", Names: someNames(granting)})
	} else {
		d.Unknown = append(d.Unknown, "the tenant roles granting its actions (your role cannot see roles)")
	}
	if n := total(c.ResourceInstances.List(ctx, &client.InstanceListOptions{ListOptions: client.ListOptions{PerPage: 1}, Resource: res.Key})); n != nil {
		d.add(cascadeItem{Count: *n, One: "instance of it, with its relationships and the roles given on it", Text: "instances of it, with their relationships and the roles given on them", Link: "/instances?resource=" + q})
	} else {
		d.Unknown = append(d.Unknown, "its instances")
	}
	s, err := x.loadSchema(r, v)
	if err != nil {
		d.Unknown = append(d.Unknown, "its roles, relations and the derivations from it")
	} else {
		var roles, rels, derived []string
		for _, o := range s.Roles[res.Key] {
			roles = append(roles, o.Key)
		}
		linking := map[string][]string{} // type → its relations to res
		for _, rel := range s.allRelations() {
			if rel.Resource == res.Key || rel.Subject == res.Key {
				rels = append(rels, rel.Resource+"#"+rel.Key)
			}
			if rel.Resource != res.Key && rel.Subject == res.Key {
				linking[rel.Resource] = append(linking[rel.Resource], rel.Key)
			}
		}
		for _, o := range s.allResourceRoles() {
			if o.Resource == res.Key {
				continue
			}
			if slices.ContainsFunc(o.GrantedTo, func(g client.Derivation) bool {
				return g.OnResource == res.Key || slices.Contains(linking[o.Resource], g.LinkedByRelation)
			}) {
				derived = append(derived, o.Resource+"#"+o.Key)
			}
		}
		d.add(cascadeItem{Count: len(roles), One: "role of it (given on its instances)", Text: "roles of it (given on its instances)", Names: someNames(roles), Link: "/resources/" + esc + "#roles"})
		d.add(cascadeItem{Count: len(rels), One: "relation of it or to it", Text: "relations of it or to it", Names: someNames(rels), Link: "/resources/" + esc + "#relations"})
		d.add(cascadeItem{Count: len(derived), One: "role of another type derived from it, which loses that derivation", Text: "roles of other types derived from it, which lose that derivation", Names: someNames(derived)})
	}
	if v.can(gatehouse.ScopeViewRole) {
		sets, err := choices(c.ConditionSets.All(ctx, &client.ConditionSetFilter{Type: client.ResourceSet, Resource: res.Key}))
		if err != nil {
			d.Unknown = append(d.Unknown, "its resource sets")
		} else {
			var names []string
			rules := 0
			for _, set := range sets {
				names = append(names, set.Key)
				if rs, err := c.SetRules.List(ctx, &client.SetRuleFilter{ListOptions: client.ListOptions{PerPage: 1}, ResourceSet: set.Key}); err == nil {
					rules += rs.Meta.TotalItems
				}
			}
			d.add(cascadeItem{Count: len(sets), One: "resource set of it", Text: "resource sets of it", Names: someNames(names), Link: "/rules#sets"})
			d.add(cascadeItem{Count: rules, One: "set rule on those sets", Text: "set rules on those sets", Link: "/rules#set-rules"})
		}
	}
	d.Cascade = len(d.Items) > 0 || r.URL.Query().Get("cascade") != ""
	x.confirm(w, r, "resources", d, "")
}

// ---- a role of a resource type, a relation

// maxScan bounds the tuples a confirmation page reads to count those a
// filter cannot select alone; past it the count is a lower bound.
const maxScan = 5000

// countTuples counts the tuples f selects that keep accepts, reading at
// most maxScan of them.
func countTuples(ctx context.Context, c *client.Client, f *client.TupleFilter, keep func(client.RelationshipTuple) bool) (n int, atLeast bool, err error) {
	f.PerPage = 100
	seen := 0
	for t, err := range c.RelationshipTuples.All(ctx, f) {
		if err != nil {
			return n, false, err
		}
		if seen++; seen > maxScan {
			return n, true, nil
		}
		if keep(t) {
			n++
		}
	}
	return n, false, nil
}

func typeOf(ref string) string { t, _, _ := strings.Cut(ref, ":"); return t }

func (x *dash) confirmDeleteResourceRole(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx, c := apiContext(r), v.env()
	res, key := r.PathValue("resource"), r.PathValue("role")
	role, err := c.ResourceRoles.Get(ctx, res, key)
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	esc := "/resources/" + url.PathEscape(role.Resource) + "/roles/" + url.PathEscape(role.Key)
	d := &confirmData{What: "role " + role.Key + " of " + role.Resource, Action: esc + "/delete", Back: esc,
		Note: "Whoever holds it on an instance loses what it grants at once."}
	s, err := x.loadSchema(r, v)
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	var extending, derived []string
	for _, o := range s.allResourceRoles() {
		if o.Resource == role.Resource && o.Key == role.Key {
			continue
		}
		if o.Resource == role.Resource && slices.Contains(o.Extends, role.Key) {
			extending = append(extending, o.Key)
		} else if slices.ContainsFunc(o.GrantedTo, func(g client.Derivation) bool { return g.OnResource == role.Resource && g.Role == role.Key }) {
			derived = append(derived, o.Resource+"#"+o.Key)
		}
	}
	d.add(cascadeItem{Count: len(extending), One: "role of " + role.Resource + " extending it", Text: "roles of " + role.Resource + " extending it", Names: someNames(extending)})
	d.add(cascadeItem{Count: len(derived), One: "role derived from it, which loses that derivation", Text: "roles derived from it, which lose that derivation", Names: someNames(derived)})
	// Tuples naming it: as a subject set's role ("folder:f#editor"), under
	// the relations whose subjects are of its type, or as the relation.
	tuples, atLeast := 0, false
	for _, rel := range s.allRelations() {
		if rel.Subject != role.Resource {
			continue
		}
		n, more, err := countTuples(ctx, c, &client.TupleFilter{Relation: rel.Key}, func(t client.RelationshipTuple) bool {
			return typeOf(t.Object) == rel.Resource && strings.HasPrefix(t.Subject, role.Resource+":") && strings.HasSuffix(t.Subject, "#"+role.Key)
		})
		if err != nil {
			d.Unknown = append(d.Unknown, "the relationship tuples naming it")
			break
		}
		tuples, atLeast = tuples+n, atLeast || more
	}
	n, more, err := countTuples(ctx, c, &client.TupleFilter{Relation: role.Key}, func(t client.RelationshipTuple) bool {
		return typeOf(t.Object) == role.Resource && strings.Contains(t.Subject, "#")
	})
	if err != nil {
		d.Unknown = append(d.Unknown, "the relationship tuples naming it")
	}
	tuples, atLeast = tuples+n, atLeast || more
	d.add(cascadeItem{Count: tuples, AtLeast: atLeast, One: "relationship tuple naming it", Text: "relationship tuples naming it"})
	if v.can(gatehouse.ScopeViewRoleAssignment) {
		n, more := 0, false
		seen := 0
		for a, err := range c.RoleAssignments.All(ctx, &client.AssignmentFilter{ListOptions: client.ListOptions{PerPage: 100}, Role: role.Key, Kind: "instance"}) {
			if err != nil {
				d.Unknown = append(d.Unknown, "who holds it")
				break
			}
			if seen++; seen > maxScan {
				more = true
				break
			}
			if typeOf(a.ResourceInstance) == role.Resource {
				n++
			}
		}
		d.add(cascadeItem{Count: n, AtLeast: more, One: "assignment of it on an instance", Text: "assignments of it on instances", Link: "/assignments?role=" + url.QueryEscape(role.Key) + "&kind=instance"})
	} else {
		d.Unknown = append(d.Unknown, "who holds it (your role cannot see role assignments)")
	}
	d.Cascade = len(d.Items) > 0 || r.URL.Query().Get("cascade") != ""
	x.confirm(w, r, "resources", d, "")
}

func (x *dash) confirmDeleteRelation(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx, c := apiContext(r), v.env()
	rel, err := c.Relations.Get(ctx, r.PathValue("resource"), r.PathValue("relation"))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	esc := "/resources/" + url.PathEscape(rel.Resource)
	d := &confirmData{What: "relation " + rel.Key + " of " + rel.Resource, Action: esc + "/relations/" + url.PathEscape(rel.Key) + "/delete", Back: esc + "#relations",
		Note: "Roles carried along " + rel.Key + " stop being carried at once."}
	roles, err := choices(c.ResourceRoles.All(ctx, rel.Resource, nil))
	if err != nil {
		d.Unknown = append(d.Unknown, "the derivations linked by it")
	}
	var linked []string
	for _, o := range roles {
		if slices.ContainsFunc(o.GrantedTo, func(g client.Derivation) bool { return g.LinkedByRelation == rel.Key }) {
			linked = append(linked, o.Key)
		}
	}
	d.add(cascadeItem{Count: len(linked), One: "role of " + rel.Resource + " derived along it, which loses that derivation", Text: "roles of " + rel.Resource + " derived along it, which lose that derivation", Names: someNames(linked)})
	n, more, err := countTuples(ctx, c, &client.TupleFilter{Relation: rel.Key}, func(t client.RelationshipTuple) bool {
		return typeOf(t.Object) == rel.Resource && !strings.Contains(t.Subject, "#")
	})
	if err != nil {
		d.Unknown = append(d.Unknown, "its relationship tuples")
	}
	d.add(cascadeItem{Count: n, AtLeast: more, One: "relationship tuple of it", Text: "relationship tuples of it", Link: "/relationships?relation=" + url.QueryEscape(rel.Key)})
	d.Cascade = len(d.Items) > 0 || r.URL.Query().Get("cascade") != ""
	x.confirm(w, r, "resources", d, "")
}

// ---- an instance, a condition set

func (x *dash) confirmDeleteInstance(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx, c := apiContext(r), v.env()
	i, err := c.ResourceInstances.Get(ctx, r.PathValue("instance"))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	ref := i.Ref()
	d := &confirmData{What: "instance " + ref, Action: "/instances/" + url.PathEscape(ref) + "/delete", Back: "/instances/" + url.PathEscape(ref)}
	one := client.ListOptions{PerPage: 1}
	if n := total(c.RelationshipTuples.List(ctx, &client.TupleFilter{ListOptions: one, Object: ref})); n != nil {
		d.add(cascadeItem{Count: *n, One: "relationship tuple with it as the object", Text: "relationship tuples with it as the object", Link: "/relationships?object=" + url.QueryEscape(ref)})
	}
	if n := total(c.RelationshipTuples.List(ctx, &client.TupleFilter{ListOptions: one, Subject: ref})); n != nil {
		d.add(cascadeItem{Count: *n, One: "relationship tuple with it as the subject", Text: "relationship tuples with it as the subject", Link: "/relationships?subject=" + url.QueryEscape(ref)})
	}
	if v.can(gatehouse.ScopeViewRoleAssignment) {
		if n := total(c.RoleAssignments.List(ctx, &client.AssignmentFilter{ListOptions: one, ResourceInstance: ref})); n != nil {
			d.add(cascadeItem{Count: *n, One: "role given on it", Text: "roles given on it", Link: "/assignments?resource_instance=" + url.QueryEscape(ref)})
		}
	} else {
		d.Unknown = append(d.Unknown, "the roles given on it (your role cannot see role assignments)")
	}
	x.confirm(w, r, "instances", d, "")
}

func (x *dash) confirmDeleteConditionSet(w http.ResponseWriter, r *http.Request, v *viewer) {
	ctx, c := apiContext(r), v.env()
	set, err := c.ConditionSets.Get(ctx, r.PathValue("set"))
	if err != nil {
		x.fail(w, r, statusOf(err), errText(err))
		return
	}
	esc := "/condition-sets/" + url.PathEscape(set.Key)
	d := &confirmData{What: "condition set " + set.Key, Action: esc + "/delete", Back: esc}
	f := &client.SetRuleFilter{}
	if set.Type == client.UserSet {
		f.UserSet = set.Key
	} else {
		f.ResourceSet = set.Key
	}
	rules, err := choices(c.SetRules.All(ctx, f))
	if err != nil {
		d.Unknown = append(d.Unknown, "the set rules using it")
	}
	var names []string
	for _, rule := range rules {
		names = append(names, rule.UserSet+" may "+rule.Action+" "+rule.ResourceSet)
	}
	d.add(cascadeItem{Count: len(rules), One: "set rule using it, which stops granting", Text: "set rules using it, which stop granting", Names: someNames(names), Link: esc + "#set-rules"})
	d.Cascade = len(d.Items) > 0 || r.URL.Query().Get("cascade") != ""
	x.confirm(w, r, "rules", d, "")
}
