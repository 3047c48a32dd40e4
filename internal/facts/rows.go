package facts

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/event"
)

// Row kinds: what one line of an import or export is.
const (
	KindResource       = "resource"
	KindRole           = "role"
	KindTenant         = "tenant"
	KindUser           = "user"
	KindRoleAssignment = "role_assignment"

	// The fine-grained model (issue 15).
	KindRelation     = "relation"
	KindResourceRole = "resource_role"
	KindInstance     = "resource_instance"
	KindTuple        = "relationship_tuple"
	KindConditionSet = "condition_set"
	KindSetRule      = "set_rule"
)

// Kinds lists the row kinds in the order a whole environment is exported
// and applied: what a row refers to comes before it (a resource role's
// derivations name relations, a tuple names instances and roles, a set
// rule names condition sets, an assignment may name an instance).
var Kinds = []string{KindResource, KindRole, KindRelation, KindResourceRole, KindTenant, KindUser, KindInstance, KindTuple,
	KindConditionSet, KindSetRule, KindRoleAssignment}

// Row is one item of an import, an export or a copy, as a JSON Lines
// object: {"type": "user", "key": "ada", "email": "…"}. Absent fields keep
// an existing item's value.
type Row struct {
	// Line is the row's line number in its file (1-based; 0: not from a
	// file). Not part of the JSON.
	Line int64 `json:"-"`

	Type string `json:"type"`
	Key  string `json:"key,omitempty"`

	Email     *string `json:"email,omitempty"`      // user
	FirstName *string `json:"first_name,omitempty"` // user
	LastName  *string `json:"last_name,omitempty"`  // user

	Name        *string `json:"name,omitempty"`        // tenant, resource, role
	Description *string `json:"description,omitempty"` // tenant, resource, role

	// Attributes: a user's, tenant's, instance's or role's (of a tenant or
	// a resource type) attribute values, or a resource type's attribute
	// definitions ({"owner": {"type": "string"}}).
	Attributes json.RawMessage `json:"attributes,omitempty"`

	Actions *[]string `json:"actions,omitempty"` // resource
	// A resource type's category, configuration and status ("type" names
	// the row's kind).
	ResourceType *string         `json:"resource_type,omitempty"`
	Config       json.RawMessage `json:"config,omitempty"`
	Status       *string         `json:"status,omitempty"`
	Permissions  *[]string       `json:"permissions,omitempty"` // role
	Extends      *[]string       `json:"extends,omitempty"`     // role

	User   string `json:"user,omitempty"`   // role_assignment: user key
	Role   string `json:"role,omitempty"`   // role_assignment: role key
	Tenant string `json:"tenant,omitempty"` // role_assignment, resource_instance: tenant key ("" : default)
	// role_assignment: the instance ("resource:key") whose role Role (of
	// the instance's type) the user gets; "": a tenant role in Tenant.
	ResourceInstance string `json:"resource_instance,omitempty"`

	// resource_role, relation, resource_instance, condition_set: the
	// resource type.
	Resource  string              `json:"resource,omitempty"`
	GrantedTo *[]authz.Derivation `json:"granted_to,omitempty"` // resource_role
	// relation: the resource type of its subjects; relationship_tuple:
	// "type:key" or a subject set "type:key#role".
	Subject  string `json:"subject,omitempty"`
	Relation string `json:"relation,omitempty"` // relationship_tuple
	Object   string `json:"object,omitempty"`   // relationship_tuple: "type:key"
	// condition_set: userset or resourceset ("type" names the row's kind).
	SetType     string          `json:"set_type,omitempty"`
	Conditions  json.RawMessage `json:"conditions,omitempty"`   // condition_set
	UserSet     string          `json:"user_set,omitempty"`     // set_rule
	Action      string          `json:"action,omitempty"`       // set_rule
	ResourceSet string          `json:"resource_set,omitempty"` // set_rule
}

// RowError is a row that cannot be applied.
type RowError struct {
	Line    int64  `json:"line" doc:"Line number in the file (for a copy: the item's position)."`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

func rowErr(r *Row, err error) RowError {
	re := RowError{Line: r.Line, Message: err.Error()}
	if ge, ok := err.(*gatehouse.Error); ok {
		re.Message = ge.Message
		if f, ok := ge.Details["field"].(string); ok {
			re.Field = f
		}
	}
	return re
}

func (r *Row) userAttrs() (map[string]any, error) {
	if len(r.Attributes) == 0 {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(r.Attributes, &m); err != nil || m == nil {
		return nil, gatehouse.FieldError("attributes", "invalid_format", "attributes must be a JSON object")
	}
	return m, nil
}

func (r *Row) config() (map[string]any, error) {
	if len(r.Config) == 0 {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(r.Config, &m); err != nil || m == nil {
		return nil, gatehouse.FieldError("config", "invalid_format", "config must be a JSON object")
	}
	return m, nil
}

func (r *Row) attrDefs() (map[string]AttributeDef, error) {
	if len(r.Attributes) == 0 {
		return nil, nil
	}
	var m map[string]AttributeDef
	if err := json.Unmarshal(r.Attributes, &m); err != nil || m == nil {
		return nil, gatehouse.FieldError("attributes", "invalid_format", `attributes of a resource type must be a JSON object of {"type": …} definitions`)
	}
	return m, validAttributeDefs(m)
}

// Validate checks what a row says on its own (its kind, keys, lengths and
// shapes), before it meets the environment's data.
func (r *Row) Validate() error {
	str := func(f string, v *string, max int) error {
		if v == nil {
			return nil
		}
		return validText(f, *v, max)
	}
	switch r.Type {
	case KindUser:
		_, aerr := r.userAttrs()
		return firstErr(validKey("key", r.Key), str("email", r.Email, 254), str("first_name", r.FirstName, 254), str("last_name", r.LastName, 254), aerr)
	case KindTenant:
		_, aerr := r.userAttrs()
		return firstErr(validKey("key", r.Key), str("name", r.Name, 200), str("description", r.Description, 2000), aerr)
	case KindResource:
		_, aerr := r.attrDefs()
		var actErr, metaErr error
		if r.Actions != nil {
			actErr = validActions(*r.Actions)
		}
		cfg, cerr := r.config()
		if r.Status != nil || r.ResourceType != nil || cfg != nil {
			metaErr = validResourceMeta(deref(r.ResourceType, ""), deref(r.Status, ResourceActive), cfg)
		}
		return firstErr(validKey("key", r.Key), str("name", r.Name, 200), str("description", r.Description, 2000), actErr, aerr, cerr, metaErr)
	case KindRole:
		_, aerr := r.userAttrs()
		return firstErr(validKey("key", r.Key), str("name", r.Name, 200), str("description", r.Description, 2000), aerr)
	case KindRoleAssignment:
		if r.ResourceInstance != "" {
			if _, _, ok := strings.Cut(r.ResourceInstance, ":"); !ok {
				return gatehouse.FieldError("resource_instance", "invalid_format", "resource_instance %q must be \"type:key\"", r.ResourceInstance)
			}
		}
		if r.User == "" {
			return gatehouse.FieldError("user", "required_field_missing", "a role_assignment row needs user")
		}
		if r.Role == "" {
			return gatehouse.FieldError("role", "required_field_missing", "a role_assignment row needs role")
		}
		if r.Tenant != "" {
			if err := validKey("tenant", r.Tenant); err != nil {
				return err
			}
		}
		return firstErr(validKey("user", r.User), validKey("role", r.Role))
	case KindRelation, KindResourceRole, KindInstance, KindTuple, KindConditionSet, KindSetRule:
		return r.validateFine()
	case "":
		return gatehouse.FieldError("type", "required_field_missing", "each row needs a type: %s", kindList())
	}
	return gatehouse.FieldError("type", "invalid_value", "unknown row type %q: want %s", r.Type, kindList())
}

func kindList() string {
	return strings.Join(Kinds[:len(Kinds)-1], ", ") + " or " + Kinds[len(Kinds)-1]
}

// BatchResult counts what a batch did.
type BatchResult struct {
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
}

// Add sums two results.
func (b BatchResult) Add(o BatchResult) BatchResult {
	return BatchResult{Created: b.Created + o.Created, Updated: b.Updated + o.Updated, Unchanged: b.Unchanged + o.Unchanged}
}

// ApplyOptions tune ApplyRowsTx.
type ApplyOptions struct {
	// Events emits one webhook event per created or changed item (off:
	// a bulk import would otherwise send an event per row).
	Events bool
}

// ApplyRowsTx applies rows to envID inside tx, which holds the
// environment's write lock (Store.InFactsTx): kind by kind in the order of
// Kinds, each kind in row order. Existing
// items are updated with the fields a row gives; an assignment that exists
// is left alone. It returns the feed change to append (nil when nothing
// changed) and, when rows cannot be applied, their errors: the caller must
// then roll tx back, so that a batch is applied whole or not at all.
func (s *Service) ApplyRowsTx(ctx context.Context, tx Store, envID string, rows []Row, opt ApplyOptions) (BatchResult, []Change, []RowError, error) {
	a := &applier{s: s, tx: tx, envID: envID, opt: opt, now: s.now()}
	byKind := map[string][]*Row{}
	for i := range rows {
		r := &rows[i]
		if err := r.Validate(); err != nil {
			a.errs = append(a.errs, rowErr(r, err))
			continue
		}
		byKind[r.Type] = append(byKind[r.Type], r)
	}
	steps := []struct {
		kind string
		fn   func(context.Context, []*Row) error
	}{
		{KindResource, a.applyResources}, {KindRole, a.applyRoles}, {KindRelation, a.applyRelations}, {KindResourceRole, a.applyResourceRoles},
		{KindTenant, a.applyTenants}, {KindUser, a.applyUsers}, {KindInstance, a.applyInstances}, {KindTuple, a.applyTuples},
		{KindConditionSet, a.applyConditionSets}, {KindSetRule, a.applySetRules}, {KindRoleAssignment, a.applyAssignments},
	}
	for _, st := range steps {
		if len(byKind[st.kind]) == 0 {
			continue
		}
		if err := st.fn(ctx, byKind[st.kind]); err != nil {
			return BatchResult{}, nil, nil, err
		}
	}
	if len(a.errs) > 0 {
		slices.SortFunc(a.errs, func(x, y RowError) int { return int(x.Line - y.Line) })
		return a.res, nil, a.errs, nil
	}
	if len(a.parts) == 0 {
		return a.res, nil, nil, nil
	}
	return a.res, []Change{change(OpBatch, a.parts)}, nil, nil
}

type applier struct {
	s     *Service
	tx    Store
	envID string
	opt   ApplyOptions
	now   time.Time
	res   BatchResult
	parts []Change
	errs  []RowError
	// ids of users and tenants by key, as known in this batch
	userByKey   map[string]*User
	tenantByKey map[string]*Tenant
	// the fine-grained data this batch has looked up (see finerows.go)
	fine fineCache
}

func (a *applier) event(ctx context.Context, typ string, data any) error {
	if !a.opt.Events {
		// No webhook event per row, but every change is in the audit trail.
		return a.tx.AuditOnly(ctx, a.s.eventOf(a.envID, typ, data))
	}
	return a.s.emit(ctx, a.tx, a.envID, typ, data)
}

func (a *applier) fail(r *Row, err error) { a.errs = append(a.errs, rowErr(r, err)) }

// resources and roles go through the single-item rules (few rows).
func (a *applier) applyResources(ctx context.Context, rows []*Row) error {
	for _, r := range rows {
		defs, _ := r.attrDefs()
		cur, err := a.tx.GetResource(ctx, a.envID, r.Key)
		switch {
		case gatehouse.ErrorCode(err) == gatehouse.CodeNotFound:
			cfg, _ := r.config()
			res := &Resource{ID: newID(), EnvID: a.envID, Key: r.Key, Name: deref(r.Name, r.Key), Description: deref(r.Description, ""),
				Actions: []string{}, Attributes: cloneDefs(defs), Type: deref(r.ResourceType, ""), Status: deref(r.Status, ResourceActive),
				Config: orEmpty(cfg), CreatedAt: a.now, UpdatedAt: a.now}
			if r.Actions != nil {
				res.Actions = append([]string{}, (*r.Actions)...)
			}
			if err := a.tx.CreateResource(ctx, res); err != nil {
				return err
			}
			a.res.Created++
			a.parts = append(a.parts, change(OpPutResource, res.Authz()))
			if err := a.event(ctx, event.ResourceCreated, res); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			before, _ := json.Marshal(cur)
			setIf(&cur.Name, r.Name)
			setIf(&cur.Description, r.Description)
			if r.Actions != nil {
				cur.Actions = append([]string{}, (*r.Actions)...)
			}
			if defs != nil {
				cur.Attributes = cloneDefs(defs)
			}
			setIf(&cur.Type, r.ResourceType)
			setIf(&cur.Status, r.Status)
			if cfg, _ := r.config(); cfg != nil {
				cur.Config = keepPermitConfig(cur.Config, cfg)
			}
			if after, _ := json.Marshal(cur); string(after) == string(before) {
				a.res.Unchanged++
				continue
			}
			cur.UpdatedAt = a.now
			if err := a.tx.UpdateResource(ctx, cur); err != nil {
				return err
			}
			a.res.Updated++
			a.parts = append(a.parts, change(OpPutResource, cur.Authz()))
			if err := a.event(ctx, event.ResourceUpdated, cur); err != nil {
				return err
			}
		}
	}
	return nil
}

func (a *applier) applyRoles(ctx context.Context, rows []*Row) error {
	// A role may extend one that comes later in the batch: create every new
	// role first without its links, then set permissions and extends.
	type pending struct {
		rows []*Row // every row of this key, in order: later ones win
		role *Role
		new  bool
		was  string
	}
	var ps []*pending
	byKey := map[string]*pending{}
	for _, r := range rows {
		if p := byKey[r.Key]; p != nil {
			p.rows = append(p.rows, r)
			continue
		}
		p := &pending{rows: []*Row{r}}
		byKey[r.Key] = p
		ps = append(ps, p)
		cur, err := a.tx.GetRole(ctx, a.envID, r.Key)
		switch {
		case gatehouse.ErrorCode(err) == gatehouse.CodeNotFound:
			p.role = &Role{ID: newID(), EnvID: a.envID, Key: r.Key, Name: r.Key, Permissions: []string{}, Extends: []string{},
				Attributes: map[string]any{}, CreatedAt: a.now, UpdatedAt: a.now}
			p.new = true
			if err := a.tx.CreateRole(ctx, p.role); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			was, _ := json.Marshal(cur)
			p.role, p.was = cur, string(was)
		}
	}
	for _, p := range ps {
		role, r := p.role, p.rows[len(p.rows)-1]
		for _, r := range p.rows {
			setIf(&role.Name, r.Name)
			setIf(&role.Description, r.Description)
			if r.Permissions != nil {
				role.Permissions = dedupe(*r.Permissions)
			}
			if r.Extends != nil {
				role.Extends = dedupe(*r.Extends)
			}
			if attrs, _ := r.userAttrs(); attrs != nil {
				role.Attributes = attrs
			}
		}
		if err := checkRole(ctx, a.tx, a.envID, role); err != nil {
			if gatehouse.ErrorCode(err) != gatehouse.CodeInvalidRequest {
				return err
			}
			a.fail(r, err)
			continue
		}
		if !p.new {
			if now, _ := json.Marshal(role); string(now) == p.was {
				a.res.Unchanged++
				continue
			}
			role.UpdatedAt = a.now
		}
		if err := a.tx.UpdateRole(ctx, role); err != nil {
			return err
		}
		a.parts = append(a.parts, change(OpPutRole, role.Authz()))
		typ := event.RoleUpdated
		if p.new {
			a.res.Created++
			typ = event.RoleCreated
		} else {
			a.res.Updated++
		}
		if err := a.event(ctx, typ, role); err != nil {
			return err
		}
	}
	return nil
}

func keysOf(rows []*Row, key func(*Row) string) []string {
	seen := make(map[string]bool, len(rows))
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		if k := key(r); k != "" && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// keyed is what upsertByKey needs of an item kind (users, tenants).
type keyed[T any] struct {
	load    func(ctx context.Context, keys []string) (map[string]*T, error)
	create  func(r *Row) *T
	merge   func(item *T, r *Row) // the row's fields onto an existing item
	state   func(item *T) string  // compared before and after merge
	touch   func(item *T)         // sets updated_at
	insert  func(ctx context.Context, items []*T) error
	update  func(ctx context.Context, item *T) error
	change  func(item *T) Change
	created string // event types
	updated string
}

// upsertByKey creates the rows' items that do not exist (in bulk) and
// updates those a row changes; rows with the same key merge in order. It
// returns the items by key, for the assignments of the same batch.
func upsertByKey[T any](ctx context.Context, a *applier, rows []*Row, k keyed[T]) (map[string]*T, error) {
	keys := keysOf(rows, func(r *Row) string { return r.Key })
	known, err := k.load(ctx, keys)
	if err != nil {
		return nil, err
	}
	var created []*T
	isNew, before := map[string]bool{}, map[string]string{}
	for _, r := range rows {
		item := known[r.Key]
		if item == nil {
			item = k.create(r)
			known[r.Key], isNew[r.Key] = item, true
			created = append(created, item)
			continue
		}
		if _, seen := before[r.Key]; !seen && !isNew[r.Key] {
			before[r.Key] = k.state(item)
		}
		k.merge(item, r)
	}
	if err := k.insert(ctx, created); err != nil {
		return nil, err
	}
	for _, item := range created {
		a.res.Created++
		a.parts = append(a.parts, k.change(item))
		if err := a.event(ctx, k.created, item); err != nil {
			return nil, err
		}
	}
	for _, key := range keys {
		if isNew[key] {
			continue
		}
		item := known[key]
		if k.state(item) == before[key] {
			a.res.Unchanged++
			continue
		}
		k.touch(item)
		if err := k.update(ctx, item); err != nil {
			return nil, err
		}
		a.res.Updated++
		a.parts = append(a.parts, k.change(item))
		if err := a.event(ctx, k.updated, item); err != nil {
			return nil, err
		}
	}
	return known, nil
}

func (a *applier) applyTenants(ctx context.Context, rows []*Row) error {
	var err error
	a.tenantByKey, err = upsertByKey(ctx, a, rows, keyed[Tenant]{
		load: func(ctx context.Context, keys []string) (map[string]*Tenant, error) {
			return a.tx.TenantsByKey(ctx, a.envID, keys)
		},
		create: func(r *Row) *Tenant {
			attrs, _ := r.userAttrs()
			return &Tenant{ID: newID(), EnvID: a.envID, Key: r.Key, Name: deref(r.Name, r.Key), Description: deref(r.Description, ""),
				Attributes: orEmpty(attrs), CreatedAt: a.now, UpdatedAt: a.now}
		},
		merge: func(t *Tenant, r *Row) {
			setIf(&t.Name, r.Name)
			setIf(&t.Description, r.Description)
			if attrs, _ := r.userAttrs(); attrs != nil {
				t.Attributes = attrs
			}
		},
		state:   func(t *Tenant) string { return t.Name + "\x00" + t.Description + "\x00" + mustJSON(t.Attributes) },
		touch:   func(t *Tenant) { t.UpdatedAt = a.now },
		insert:  a.tx.InsertTenants,
		update:  a.tx.UpdateTenant,
		change:  func(t *Tenant) Change { return change(OpPutTenant, t.Authz()) },
		created: event.TenantCreated, updated: event.TenantUpdated,
	})
	return err
}

func (a *applier) applyUsers(ctx context.Context, rows []*Row) error {
	var err error
	a.userByKey, err = upsertByKey(ctx, a, rows, keyed[User]{
		load: func(ctx context.Context, keys []string) (map[string]*User, error) {
			return a.tx.UsersByKey(ctx, a.envID, keys)
		},
		create: func(r *Row) *User {
			attrs, _ := r.userAttrs()
			return &User{ID: newID(), EnvID: a.envID, Key: r.Key, Email: deref(r.Email, ""), FirstName: deref(r.FirstName, ""),
				LastName: deref(r.LastName, ""), Attributes: orEmpty(attrs), CreatedAt: a.now, UpdatedAt: a.now}
		},
		merge: func(u *User, r *Row) {
			setIf(&u.Email, r.Email)
			setIf(&u.FirstName, r.FirstName)
			setIf(&u.LastName, r.LastName)
			if attrs, _ := r.userAttrs(); attrs != nil {
				u.Attributes = attrs
			}
		},
		state: func(u *User) string {
			return u.Email + "\x00" + u.FirstName + "\x00" + u.LastName + "\x00" + mustJSON(u.Attributes)
		},
		touch:   func(u *User) { u.UpdatedAt = a.now },
		insert:  a.tx.InsertUsers,
		update:  a.tx.UpdateUser,
		change:  func(u *User) Change { return change(OpPutUser, u.Authz()) },
		created: event.UserCreated, updated: event.UserUpdated,
	})
	return err
}

func (a *applier) applyAssignments(ctx context.Context, all []*Row) error {
	var rows, onInstances []*Row
	for _, r := range all {
		if r.ResourceInstance != "" {
			onInstances = append(onInstances, r)
		} else {
			rows = append(rows, r)
		}
	}
	if err := a.applyTenantAssignments(ctx, rows); err != nil {
		return err
	}
	return a.applyInstanceAssignments(ctx, onInstances)
}

func (a *applier) applyTenantAssignments(ctx context.Context, rows []*Row) error {
	if len(rows) == 0 {
		return nil
	}
	for _, r := range rows {
		if r.Tenant == "" {
			r.Tenant = authz.DefaultTenant
		}
	}
	// Users and tenants this batch did not already look up.
	need := func(m map[string]bool, known func(string) bool, k string) {
		if !known(k) {
			m[k] = true
		}
	}
	wantUsers, wantTenants := map[string]bool{}, map[string]bool{}
	for _, r := range rows {
		need(wantUsers, func(k string) bool { return a.userByKey[k] != nil }, r.User)
		need(wantTenants, func(k string) bool { return a.tenantByKey[k] != nil }, r.Tenant)
	}
	if a.userByKey == nil {
		a.userByKey = map[string]*User{}
	}
	if a.tenantByKey == nil {
		a.tenantByKey = map[string]*Tenant{}
	}
	if len(wantUsers) > 0 {
		found, err := a.tx.UsersByKey(ctx, a.envID, setKeys(wantUsers))
		if err != nil {
			return err
		}
		for k, u := range found {
			a.userByKey[k] = u
		}
	}
	if len(wantTenants) > 0 {
		found, err := a.tx.TenantsByKey(ctx, a.envID, setKeys(wantTenants))
		if err != nil {
			return err
		}
		for k, t := range found {
			a.tenantByKey[k] = t
		}
	}
	roles, err := a.tx.RoleIDs(ctx, a.envID)
	if err != nil {
		return err
	}
	type triple struct{ u, r, t string }
	seen := make(map[triple]bool, len(rows))
	as := make([]Assignment, 0, len(rows))
	for _, r := range rows {
		u, t, roleID := a.userByKey[r.User], a.tenantByKey[r.Tenant], roles[r.Role]
		switch {
		case u == nil:
			a.fail(r, gatehouse.FieldError("user", "not_found", "user %q does not exist", r.User))
			continue
		case roleID == "":
			a.fail(r, gatehouse.FieldError("role", "not_found", "role %q does not exist", r.Role))
			continue
		case t == nil:
			a.fail(r, gatehouse.FieldError("tenant", "not_found", "tenant %q does not exist", r.Tenant))
			continue
		}
		k := triple{u.ID, roleID, t.ID}
		if seen[k] {
			a.res.Unchanged++
			continue
		}
		seen[k] = true
		as = append(as, Assignment{ID: newID(), EnvID: a.envID, UserID: u.ID, RoleID: roleID, TenantID: t.ID,
			User: u.Key, Role: r.Role, Tenant: t.Key, CreatedAt: a.now})
	}
	if len(a.errs) > 0 {
		return nil // the batch is rolled back: do not write
	}
	inserted, err := a.tx.InsertAssignments(ctx, as)
	if err != nil {
		return err
	}
	for i := range as {
		x := &as[i]
		if !inserted[x.ID] {
			a.res.Unchanged++
			continue
		}
		a.res.Created++
		a.parts = append(a.parts, change(OpAssign, authz.Assignment{User: x.User, Role: x.Role, Tenant: x.Tenant}))
		if err := a.event(ctx, event.RoleAssignmentCreated, x); err != nil {
			return err
		}
	}
	return nil
}

func setKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func deref(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}

// ResetTx empties envID inside tx (holding the environment's write lock):
// every user, role, resource type, assignment and tenant but the default
// one, and the fine-grained data (resource roles, relations, instances,
// tuples, condition sets and set rules). It returns the feed change that resets the engines.
func (s *Service) ResetTx(ctx context.Context, tx Store, envID string) ([]Change, error) {
	if err := tx.ClearEnvironment(ctx, envID); err != nil {
		return nil, err
	}
	def, err := tx.GetTenant(ctx, envID, authz.DefaultTenant)
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		now := s.now()
		def = &Tenant{ID: newID(), EnvID: envID, Key: authz.DefaultTenant, Name: "Default tenant", Attributes: map[string]any{}, CreatedAt: now, UpdatedAt: now}
		if err := tx.CreateTenant(ctx, def); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return []Change{change(OpReset, authz.Data{Tenants: []authz.Tenant{def.Authz()}})}, nil
}

// RowOfUser is the export row of a user.
func RowOfUser(u *User) Row {
	attrs, _ := json.Marshal(orEmpty(u.Attributes))
	return Row{Type: KindUser, Key: u.Key, Email: &u.Email, FirstName: &u.FirstName, LastName: &u.LastName, Attributes: attrs}
}

// RowOfTenant is the export row of a tenant.
func RowOfTenant(t *Tenant) Row {
	attrs, _ := json.Marshal(orEmpty(t.Attributes))
	return Row{Type: KindTenant, Key: t.Key, Name: &t.Name, Description: &t.Description, Attributes: attrs}
}

// RowOfResource is the export row of a resource type.
func RowOfResource(r *Resource) Row {
	defs := r.Attributes
	if defs == nil {
		defs = map[string]AttributeDef{}
	}
	attrs, _ := json.Marshal(defs)
	actions := append([]string{}, r.Actions...)
	cfg, _ := json.Marshal(orEmpty(r.Config))
	typ, status := r.Type, r.Status
	return Row{Type: KindResource, Key: r.Key, Name: &r.Name, Description: &r.Description, Actions: &actions, Attributes: attrs,
		ResourceType: &typ, Config: cfg, Status: &status}
}

// RowOfRole is the export row of a role.
func RowOfRole(r *Role) Row {
	perms, ext := append([]string{}, r.Permissions...), append([]string{}, r.Extends...)
	attrs, _ := json.Marshal(orEmpty(r.Attributes))
	return Row{Type: KindRole, Key: r.Key, Name: &r.Name, Description: &r.Description, Permissions: &perms, Extends: &ext, Attributes: attrs}
}

// RowOfAssignment is the export row of a role assignment.
func RowOfAssignment(a *Assignment) Row {
	return Row{Type: KindRoleAssignment, User: a.User, Role: a.Role, Tenant: a.Tenant, ResourceInstance: a.ResourceInstance}
}
