package facts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/event"
	"github.com/gatehouse-dev/gatehouse/internal/mailaddr"
	"github.com/google/uuid"
)

// Notifier tells other nodes that an environment's feed moved.
type Notifier interface {
	NotifyFacts(ctx context.Context, envID string)
}

// Service applies the model's rules, records changes and keeps this node's
// engines current.
type Service struct {
	Store   Store
	Engines *Engines
	Notify  Notifier // nil on a single node
	Log     *slog.Logger
	Now     func() time.Time
}

// Option sets up a Service at construction.
type Option func(*Service)

// WithNotifier makes the service tell other nodes of its changes (nodes
// that share a PostgreSQL database).
func WithNotifier(n Notifier) Option { return func(s *Service) { s.Notify = n } }

// WithClock makes the service read the time from now instead of the wall
// clock.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.Now = now } }

// NewService returns a Service over st.
func NewService(st Store, log *slog.Logger, opts ...Option) *Service {
	s := &Service{Store: st, Log: log, Now: time.Now}
	for _, o := range opts {
		o(s)
	}
	s.Engines = newEngines(s)
	return s
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

func newID() string { return uuid.Must(uuid.NewV7()).String() }

// keyPattern: keys of users, tenants, resources, actions and roles. Users
// and tenants often carry external ids, so more characters are allowed than
// for projects.
var keyPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@|+-]{0,254}$`)

func validKey(field, key string) error {
	if !keyPattern.MatchString(key) {
		return gatehouse.FieldError(field, "invalid_format",
			"%s must be 1-255 characters of letters, digits and _ . @ | + -, starting with a letter or digit", field)
	}
	return nil
}

func validText(field, v string, max int) error {
	if len(v) > max {
		return gatehouse.FieldError(field, "too_long", "%s must be at most %d characters", field, max)
	}
	return nil
}

// write runs fn in the environment's write transaction, appends the changes
// fn returns to the feed in the same transaction, then brings this node's
// engine up to date and tells the other nodes.
func (s *Service) write(ctx context.Context, envID string, fn func(tx Store) ([]Change, error)) error {
	err := s.Store.InFactsTx(ctx, envID, func(tx Store) error {
		changes, err := fn(tx)
		if err != nil {
			return err
		}
		return s.AppendTx(ctx, tx, envID, changes)
	})
	if err != nil {
		return err
	}
	s.Committed(ctx, envID)
	return nil
}

// AppendTx appends changes to envID's feed in tx (which must hold the
// environment's write lock: see Store.InFactsTx).
func (s *Service) AppendTx(ctx context.Context, tx Store, envID string, changes []Change) error {
	for i := range changes {
		changes[i].CreatedAt = s.now()
		if err := tx.AppendChange(ctx, envID, &changes[i]); err != nil {
			return err
		}
	}
	if n := len(changes); n > 0 {
		noteRevision(ctx, changes[n-1].Seq)
	}
	return nil
}

// Committed brings this node's engine of envID up to date with its feed
// and tells the other nodes: call it after committing a write made with
// AppendTx.
func (s *Service) Committed(ctx context.Context, envID string) {
	if err := s.Engines.CatchUp(ctx, envID); err != nil {
		s.Log.Error("apply committed change to the engine", "env_id", envID, "err", err)
	}
	if s.Notify != nil {
		s.Notify.NotifyFacts(ctx, envID)
	}
}

// emit records an event of envID in tx (the store fills in the
// organization and project).
func (s *Service) emit(ctx context.Context, tx Store, envID, typ string, data any) error {
	return tx.Emit(ctx, s.eventOf(envID, typ, data))
}

// eventOf is an event of envID, to emit with others in one call.
func (s *Service) eventOf(envID, typ string, data any) event.Event {
	return event.Event{ID: newID(), Type: typ, EnvID: envID, OccurredAt: s.now(), Data: data}
}

// GonePrefix marks a feed notification that an environment was deleted:
// every node drops what it holds of it.
const GonePrefix = "gone:"

// EnvironmentDeleted drops envID's engine on this node and tells the other
// nodes to drop theirs.
func (s *Service) EnvironmentDeleted(ctx context.Context, envID string) {
	s.Engines.Forget(envID)
	if s.Notify != nil {
		s.Notify.NotifyFacts(ctx, GonePrefix+envID)
	}
}

func change(op string, v any) Change {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("facts: marshal %s: %v", op, err))
	}
	return Change{Change: authz.Change{Op: op, Data: data}}
}

// ---- users

// UserInput is what a caller gives for a user.
type UserInput struct {
	Key, Email, FirstName, LastName string
	Attributes                      map[string]any
}

func (in UserInput) validate() error {
	for _, c := range []struct {
		f, v string
	}{{"email", in.Email}, {"first_name", in.FirstName}, {"last_name", in.LastName}} {
		if err := validText(c.f, c.v, 254); err != nil {
			return err
		}
	}
	return ValidEmail(in.Email)
}

// ValidEmail checks a user's email: empty (none), or an address as a
// member's (the one rule of package mailaddr). Imports check it too.
func ValidEmail(email string) error {
	if email == "" {
		return nil
	}
	return mailaddr.Check("email", email)
}

// CreateUser adds a user.
func (s *Service) CreateUser(ctx context.Context, envID string, in UserInput) (*User, error) {
	if err := validKey("key", in.Key); err != nil {
		return nil, err
	}
	if err := in.validate(); err != nil {
		return nil, err
	}
	now := s.now()
	u := &User{ID: newID(), EnvID: envID, Key: in.Key, Email: in.Email, FirstName: in.FirstName, LastName: in.LastName,
		Attributes: orEmpty(in.Attributes), CreatedAt: now, UpdatedAt: now}
	return u, s.write(ctx, envID, func(tx Store) ([]Change, error) {
		if err := tx.CreateUser(ctx, u); err != nil {
			return nil, err
		}
		return []Change{change(OpPutUser, u.Authz())}, s.emit(ctx, tx, envID, event.UserCreated, u)
	})
}

// UserPatch lists the fields to change; nil: unchanged.
type UserPatch struct {
	Email, FirstName, LastName *string
	Attributes                 *map[string]any
}

// UpdateUser changes a user.
func (s *Service) UpdateUser(ctx context.Context, envID, ref string, p UserPatch) (*User, error) {
	var u *User
	return u, s.write(ctx, envID, func(tx Store) ([]Change, error) {
		var err error
		if u, err = tx.GetUser(ctx, envID, ref); err != nil {
			return nil, err
		}
		setIf(&u.Email, p.Email)
		setIf(&u.FirstName, p.FirstName)
		setIf(&u.LastName, p.LastName)
		if p.Attributes != nil {
			u.Attributes = orEmpty(*p.Attributes)
		}
		check := UserInput{FirstName: u.FirstName, LastName: u.LastName}
		if p.Email != nil { // an email stored before emails were checked stays until changed
			check.Email = u.Email
		}
		if err := check.validate(); err != nil {
			return nil, err
		}
		u.UpdatedAt = s.now()
		if err := tx.UpdateUser(ctx, u); err != nil {
			return nil, err
		}
		return []Change{change(OpPutUser, u.Authz())}, s.emit(ctx, tx, envID, event.UserUpdated, u)
	})
}

// DeleteUser removes a user and its role assignments.
func (s *Service) DeleteUser(ctx context.Context, envID, ref string) error {
	return s.write(ctx, envID, func(tx Store) ([]Change, error) {
		return s.deleteUserTx(ctx, tx, envID, ref)
	})
}

func (s *Service) deleteUserTx(ctx context.Context, tx Store, envID, ref string) ([]Change, error) {
	u, err := tx.GetUser(ctx, envID, ref)
	if err != nil {
		return nil, err
	}
	if err := tx.DeleteUser(ctx, envID, u.ID); err != nil {
		return nil, err
	}
	return []Change{change(OpDeleteUser, KeyRef{Key: u.Key})}, s.emit(ctx, tx, envID, event.UserDeleted, event.Deleted{ID: u.ID, Key: u.Key})
}

// ---- tenants

// TenantInput is what a caller gives for a tenant.
type TenantInput struct {
	Key, Name, Description string
	Attributes             map[string]any
}

// CreateTenant adds a tenant.
func (s *Service) CreateTenant(ctx context.Context, envID string, in TenantInput) (*Tenant, error) {
	if err := validKey("key", in.Key); err != nil {
		return nil, err
	}
	if in.Name == "" {
		in.Name = in.Key
	}
	if err := firstErr(validText("name", in.Name, 200), validText("description", in.Description, 2000)); err != nil {
		return nil, err
	}
	now := s.now()
	t := &Tenant{ID: newID(), EnvID: envID, Key: in.Key, Name: in.Name, Description: in.Description,
		Attributes: orEmpty(in.Attributes), CreatedAt: now, UpdatedAt: now}
	return t, s.write(ctx, envID, func(tx Store) ([]Change, error) {
		if err := tx.CreateTenant(ctx, t); err != nil {
			return nil, err
		}
		return []Change{change(OpPutTenant, t.Authz())}, s.emit(ctx, tx, envID, event.TenantCreated, t)
	})
}

// TenantPatch lists the fields to change; nil: unchanged.
type TenantPatch struct {
	Name, Description *string
	Attributes        *map[string]any
}

// UpdateTenant changes a tenant.
func (s *Service) UpdateTenant(ctx context.Context, envID, ref string, p TenantPatch) (*Tenant, error) {
	var t *Tenant
	return t, s.write(ctx, envID, func(tx Store) ([]Change, error) {
		var err error
		if t, err = tx.GetTenant(ctx, envID, ref); err != nil {
			return nil, err
		}
		setIf(&t.Name, p.Name)
		setIf(&t.Description, p.Description)
		if p.Attributes != nil {
			t.Attributes = orEmpty(*p.Attributes)
		}
		if err := firstErr(validText("name", t.Name, 200), validText("description", t.Description, 2000)); err != nil {
			return nil, err
		}
		t.UpdatedAt = s.now()
		if err := tx.UpdateTenant(ctx, t); err != nil {
			return nil, err
		}
		return []Change{change(OpPutTenant, t.Authz())}, s.emit(ctx, tx, envID, event.TenantUpdated, t)
	})
}

// DeleteTenant removes a tenant and the role assignments in it.
func (s *Service) DeleteTenant(ctx context.Context, envID, ref string) error {
	return s.write(ctx, envID, func(tx Store) ([]Change, error) {
		t, err := tx.GetTenant(ctx, envID, ref)
		if err != nil {
			return nil, err
		}
		changes, err := s.tenantInstances(ctx, tx, envID, t)
		if err != nil {
			return nil, err
		}
		if err := tx.DeleteTenant(ctx, envID, t.ID); err != nil {
			return nil, err
		}
		return append(changes, change(OpDeleteTenant, KeyRef{Key: t.Key})), s.emit(ctx, tx, envID, event.TenantDeleted, event.Deleted{ID: t.ID, Key: t.Key})
	})
}

// ---- resources

// ResourceInput is what a caller gives for a resource type. An empty Key
// is derived from Name.
type ResourceInput struct {
	Key, Name, Description string
	Actions                []string
	Attributes             map[string]AttributeDef
	Type, Status           string
	Config                 map[string]any
}

// KeyFromName derives a key from a name: "My resource" → "My-resource".
func KeyFromName(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.TrimSpace(name) {
		ok := r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_.@|+-", r))
		switch {
		case ok:
			b.WriteRune(r)
			dash = false
		case b.Len() > 0 && !dash:
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 200 {
			break
		}
	}
	return strings.Trim(b.String(), "-._")
}

func validResourceMeta(typ, status string, config map[string]any) error {
	if err := validText("type", typ, 100); err != nil {
		return err
	}
	if status != ResourceActive && status != ResourceArchived {
		return gatehouse.FieldError("status", "invalid_value", "status must be active or archived")
	}
	if len(mustJSON(config)) > 64<<10 {
		return gatehouse.FieldError("config", "too_long", "config must be at most 64 KiB of JSON")
	}
	if v, ok := config[PermitConfigKey]; ok {
		if _, isObject := v.(map[string]any); !isObject {
			return gatehouse.FieldError("config."+PermitConfigKey, "invalid_value",
				"config.%s holds the Permit API's schema details (urn, action attributes, action groups): it must be a JSON object", PermitConfigKey)
		}
	}
	return nil
}

// PermitConfigKey is the key of a resource type's config under which the
// Permit API (/v2) keeps what Gatehouse's resource has no field for: its
// urn, its actions' attributes, its action groups.
const PermitConfigKey = "permit"

// keepPermitConfig returns next, with cur's PermitConfigKey entry when next
// does not name it.
func keepPermitConfig(cur, next map[string]any) map[string]any {
	v, had := cur[PermitConfigKey]
	if _, named := next[PermitConfigKey]; !had || named {
		return next
	}
	out := make(map[string]any, len(next)+1)
	for k, x := range next {
		out[k] = x
	}
	out[PermitConfigKey] = v
	return out
}

func validAttributeDefs(defs map[string]AttributeDef) error {
	if len(defs) > 256 {
		return gatehouse.FieldError("attributes", "too_many", "a resource type has at most 256 attributes")
	}
	for k, d := range defs {
		if err := validKey("attributes", k); err != nil {
			return err
		}
		if !slices.Contains(AttributeTypes, d.Type) {
			return gatehouse.FieldError("attributes."+k+".type", "invalid_value", "attribute %q: type must be one of %s", k, strings.Join(AttributeTypes, ", "))
		}
		if err := validText("attributes."+k+".description", d.Description, 2000); err != nil {
			return err
		}
	}
	return nil
}

func cloneDefs(defs map[string]AttributeDef) map[string]AttributeDef {
	out := make(map[string]AttributeDef, len(defs))
	for k, v := range defs {
		out[k] = v
	}
	return out
}

func validActions(actions []string) error {
	seen := map[string]bool{}
	for _, a := range actions {
		if err := validKey("actions", a); err != nil {
			return err
		}
		if seen[a] {
			return gatehouse.FieldError("actions", "duplicate", "action %q is listed twice", a)
		}
		seen[a] = true
	}
	if len(actions) > 256 {
		return gatehouse.FieldError("actions", "too_many", "a resource type has at most 256 actions")
	}
	return nil
}

// newResource checks a new resource type's input and returns the type to
// store.
func (s *Service) newResource(envID string, in ResourceInput) (*Resource, error) {
	if in.Key == "" && in.Name != "" {
		in.Key = KeyFromName(in.Name)
	}
	if in.Status == "" {
		in.Status = ResourceActive
	}
	if err := firstErr(validKey("key", in.Key), validActions(in.Actions), validAttributeDefs(in.Attributes),
		validText("name", in.Name, 200), validText("description", in.Description, 2000), validResourceMeta(in.Type, in.Status, in.Config)); err != nil {
		return nil, err
	}
	if in.Name == "" {
		in.Name = in.Key
	}
	now := s.now()
	return &Resource{ID: newID(), EnvID: envID, Key: in.Key, Name: in.Name, Description: in.Description,
		Actions: append([]string{}, in.Actions...), Attributes: cloneDefs(in.Attributes), Type: in.Type, Status: in.Status,
		Config: orEmpty(in.Config), CreatedAt: now, UpdatedAt: now}, nil
}

// CreateResource creates a resource type.
func (s *Service) CreateResource(ctx context.Context, envID string, in ResourceInput) (*Resource, error) {
	return s.CreateResourceWith(ctx, envID, in, nil, nil)
}

// CreateResourceWith creates a resource type with relations and roles of
// its own (Permit's resource body), in one transaction: the relations
// first, then the roles in the order given; one that fails leaves nothing.
// Every input is checked alone before anything is written.
func (s *Service) CreateResourceWith(ctx context.Context, envID string, in ResourceInput, relations []RelationInput, roles []ResourceRoleInput) (*Resource, error) {
	r, err := s.newResource(envID, in)
	if err != nil {
		return nil, err
	}
	rels := make([]*Relation, len(relations))
	for i, ri := range relations {
		if rels[i], err = s.newRelation(envID, ri); err != nil {
			return nil, prefixed(err, "relations."+ri.Key)
		}
	}
	rrs := make([]*ResourceRole, len(roles))
	for i, ri := range roles {
		if rrs[i], err = s.newResourceRole(envID, ri); err != nil {
			return nil, prefixed(err, "roles."+ri.Key)
		}
	}
	return r, s.write(ctx, envID, func(tx Store) ([]Change, error) {
		if err := tx.CreateResource(ctx, r); err != nil {
			return nil, err
		}
		changes := []Change{change(OpPutResource, r.Authz())}
		if err := s.emit(ctx, tx, envID, event.ResourceCreated, r); err != nil {
			return nil, err
		}
		for i, rel := range rels {
			more, err := s.createRelationTx(ctx, tx, envID, r.ID, rel, relations[i].Subject)
			if err != nil {
				return nil, prefixed(err, "relations."+rel.Key)
			}
			changes = append(changes, more...)
		}
		for _, rr := range rrs {
			more, err := s.createResourceRoleTx(ctx, tx, envID, r.ID, rr)
			if err != nil {
				return nil, prefixed(err, "roles."+rr.Key)
			}
			changes = append(changes, more...)
		}
		return changes, nil
	})
}

// prefixed names, in err's message, the part of a larger input it is about.
func prefixed(err error, part string) error {
	var ge *gatehouse.Error
	if !errors.As(err, &ge) {
		return err
	}
	out := *ge
	out.Message = part + ": " + ge.Message
	return &out
}

// ResourcePatch lists the fields to change; nil: unchanged.
type ResourcePatch struct {
	Name, Description *string
	Actions           *[]string
	Attributes        *map[string]AttributeDef // replaces them all
	Type, Status      *string
	Config            *map[string]any // replaces it (see KeepPermitConfig)
	// KeepPermitConfig keeps the config's PermitConfigKey entry when
	// Config replaces the config without naming it (v1's writes: the
	// Permit API's schema details are not lost by a v1 client that does
	// not know them).
	KeepPermitConfig bool
	// Cascade lets removing actions take them off roles' permissions too
	// (else a role still naming one makes the change a CONFLICT).
	Cascade bool
	// Edit, when set, changes the type as read in the write's transaction
	// (after the fields above are applied), so a change computed from the
	// current type (Permit's action groups and action attributes in its
	// config) is not lost to a concurrent write.
	Edit func(r *Resource) error
}

// UpdateResource changes a resource type. Removing an action that roles'
// permissions name is a CONFLICT unless p.Cascade (see references.go).
func (s *Service) UpdateResource(ctx context.Context, envID, ref string, p ResourcePatch) (*Resource, error) {
	var r *Resource
	return r, s.write(ctx, envID, func(tx Store) (changes []Change, err error) {
		r, changes, err = s.updateResourceTx(ctx, tx, envID, ref, p)
		return changes, err
	})
}

func (s *Service) updateResourceTx(ctx context.Context, tx Store, envID, ref string, p ResourcePatch) (*Resource, []Change, error) {
	r, err := tx.GetResource(ctx, envID, ref)
	if err != nil {
		return nil, nil, err
	}
	before := r.Actions
	setIf(&r.Name, p.Name)
	setIf(&r.Description, p.Description)
	if p.Actions != nil {
		r.Actions = append([]string{}, (*p.Actions)...)
	}
	if p.Attributes != nil {
		r.Attributes = cloneDefs(*p.Attributes)
	}
	setIf(&r.Type, p.Type)
	setIf(&r.Status, p.Status)
	if p.Config != nil {
		cfg := orEmpty(*p.Config)
		if p.KeepPermitConfig {
			cfg = keepPermitConfig(r.Config, cfg)
		}
		r.Config = cfg
	}
	if p.Edit != nil {
		if err := p.Edit(r); err != nil {
			return nil, nil, err
		}
	}
	var changes []Change
	var removed []string
	for _, a := range before {
		if !slices.Contains(r.Actions, a) {
			removed = append(removed, a)
		}
	}
	if len(removed) > 0 {
		what := fmt.Sprintf("action %q of resource type %q", strings.Join(removed, ", "), r.Key)
		if changes, err = s.dropPermissions(ctx, tx, envID, what, r.Key, removed, p.Cascade); err != nil {
			return nil, nil, err
		}
		rs := &refSet{}
		if err := s.actionRefs(ctx, tx, envID, rs, r, removed); err != nil {
			return nil, nil, err
		}
		fine, err := rs.apply(what, p.Cascade)
		if err != nil {
			return nil, nil, err
		}
		changes = append(changes, fine...)
	}
	if err := firstErr(validActions(r.Actions), validAttributeDefs(r.Attributes), validText("name", r.Name, 200), validText("description", r.Description, 2000),
		validResourceMeta(r.Type, r.Status, r.Config)); err != nil {
		return nil, nil, err
	}
	r.UpdatedAt = s.now()
	if err := tx.UpdateResource(ctx, r); err != nil {
		return nil, nil, err
	}
	// The resource first: a role's permission never names a missing action.
	return r, append([]Change{change(OpPutResource, r.Authz())}, changes...), s.emit(ctx, tx, envID, event.ResourceUpdated, r)
}

// ResourceRoleUpsert is a role of a resource type to create (Create) when
// the type has no role Key, or to change (Patch) when it has.
type ResourceRoleUpsert struct {
	Key    string
	Create ResourceRoleInput
	Patch  ResourceRolePatch
}

// ResourceChildren are the relations and roles a write of a resource type
// names, worked out from the type as it stands in the write's transaction.
type ResourceChildren func(r *Resource) ([]RelationInput, []ResourceRoleUpsert, error)

// UpdateResourceWith changes a resource type and, in the same
// transaction, creates the relations children names that it lacks and
// creates or changes the roles it names: all or nothing (Permit's PATCH
// and PUT of a resource with its roles and relations).
func (s *Service) UpdateResourceWith(ctx context.Context, envID, ref string, p ResourcePatch, children ResourceChildren) (*Resource, error) {
	var r *Resource
	return r, s.write(ctx, envID, func(tx Store) ([]Change, error) {
		var changes []Change
		var err error
		if r, changes, err = s.updateResourceTx(ctx, tx, envID, ref, p); err != nil {
			return nil, err
		}
		if children == nil {
			return changes, nil
		}
		rels, roles, err := children(r)
		if err != nil {
			return nil, err
		}
		for _, ri := range rels {
			if _, err := tx.GetRelation(ctx, envID, r.ID, ri.Key); err == nil {
				continue
			} else if gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
				return nil, err
			}
			rel, err := s.newRelation(envID, ri)
			if err != nil {
				return nil, prefixed(err, "relations."+ri.Key)
			}
			more, err := s.createRelationTx(ctx, tx, envID, r.ID, rel, ri.Subject)
			if err != nil {
				return nil, prefixed(err, "relations."+ri.Key)
			}
			changes = append(changes, more...)
		}
		for _, u := range roles {
			_, err := tx.GetResourceRole(ctx, envID, r.ID, u.Key)
			var more []Change
			switch {
			case gatehouse.ErrorCode(err) == gatehouse.CodeNotFound:
				rr, err := s.newResourceRole(envID, u.Create)
				if err != nil {
					return nil, prefixed(err, "roles."+u.Key)
				}
				more, err = s.createResourceRoleTx(ctx, tx, envID, r.ID, rr)
				if err != nil {
					return nil, prefixed(err, "roles."+u.Key)
				}
			case err != nil:
				return nil, err
			default:
				if _, more, err = s.updateResourceRoleTx(ctx, tx, envID, r.ID, u.Key, u.Patch); err != nil {
					return nil, prefixed(err, "roles."+u.Key)
				}
			}
			changes = append(changes, more...)
		}
		return changes, nil
	})
}

// DeleteResource removes a resource type. Roles whose permissions name it
// make it a CONFLICT, unless cascade, which takes those permissions off
// them in the same transaction.
func (s *Service) DeleteResource(ctx context.Context, envID, ref string, cascade bool) error {
	return s.write(ctx, envID, func(tx Store) ([]Change, error) {
		r, err := tx.GetResource(ctx, envID, ref)
		if err != nil {
			return nil, err
		}
		changes, err := s.dropPermissions(ctx, tx, envID, fmt.Sprintf("resource type %q", r.Key), r.Key, nil, cascade)
		if err != nil {
			return nil, err
		}
		rs := &refSet{}
		if err := s.resourceFineRefs(ctx, tx, envID, rs, r); err != nil {
			return nil, err
		}
		fine, err := rs.apply(fmt.Sprintf("resource type %q", r.Key), cascade)
		if err != nil {
			return nil, err
		}
		changes = append(changes, fine...)
		if err := tx.DeleteResource(ctx, envID, r.ID); err != nil {
			return nil, err
		}
		return append(changes, change(OpDeleteResource, KeyRef{Key: r.Key})), s.emit(ctx, tx, envID, event.ResourceDeleted, event.Deleted{ID: r.ID, Key: r.Key})
	})
}

// ---- roles

// RoleInput is what a caller gives for a role.
type RoleInput struct {
	Key, Name, Description string
	Permissions, Extends   []string
	Attributes             map[string]any
}

// checkRole validates a role's permissions against the resource types and
// its extends against the other roles (existence, no cycle).
func checkRole(ctx context.Context, tx Store, envID string, r *Role) error {
	if err := firstErr(validText("name", r.Name, 200), validText("description", r.Description, 2000)); err != nil {
		return err
	}
	actions := map[string][]string{}
	for _, p := range r.Permissions {
		res, act, ok := strings.Cut(p, ":")
		if !ok || res == "" || act == "" {
			return gatehouse.FieldError("permissions", "invalid_format", "permission %q must be \"resource:action\"", p)
		}
		if _, seen := actions[res]; !seen {
			rt, err := tx.GetResource(ctx, envID, res)
			if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
				return gatehouse.FieldError("permissions", "unknown_resource", "permission %q: resource type %q does not exist", p, res)
			}
			if err != nil {
				return err
			}
			actions[res] = rt.Actions
		}
		if !slices.Contains(actions[res], act) {
			return gatehouse.FieldError("permissions", "unknown_action", "permission %q: resource type %q has no action %q", p, res, act)
		}
	}
	roles, err := tx.AllRoles(ctx, envID)
	if err != nil {
		return err
	}
	graph := map[string][]string{}
	for _, o := range roles {
		graph[o.Key] = o.Extends
	}
	graph[r.Key] = r.Extends
	for _, parent := range r.Extends {
		if _, ok := graph[parent]; !ok {
			return gatehouse.FieldError("extends", "unknown_role", "role %q does not exist", parent)
		}
	}
	var visit func(k string, path []string) error
	visit = func(k string, path []string) error {
		if slices.Contains(path, k) {
			return gatehouse.FieldError("extends", "cycle", "roles would extend each other in a cycle: %s", strings.Join(append(path, k), " → "))
		}
		for _, p := range graph[k] {
			if err := visit(p, append(path, k)); err != nil {
				return err
			}
		}
		return nil
	}
	return visit(r.Key, nil)
}

// CreateRole adds a role.
func (s *Service) CreateRole(ctx context.Context, envID string, in RoleInput) (*Role, error) {
	if err := validKey("key", in.Key); err != nil {
		return nil, err
	}
	if in.Name == "" {
		in.Name = in.Key
	}
	now := s.now()
	r := &Role{ID: newID(), EnvID: envID, Key: in.Key, Name: in.Name, Description: in.Description,
		Permissions: dedupe(in.Permissions), Extends: dedupe(in.Extends), Attributes: orEmpty(in.Attributes), CreatedAt: now, UpdatedAt: now}
	return r, s.write(ctx, envID, func(tx Store) ([]Change, error) {
		if err := checkRole(ctx, tx, envID, r); err != nil {
			return nil, err
		}
		if err := tx.CreateRole(ctx, r); err != nil {
			return nil, err
		}
		return []Change{change(OpPutRole, r.Authz())}, s.emit(ctx, tx, envID, event.RoleCreated, r)
	})
}

// RolePatch lists the fields to change; nil: unchanged. The Add and
// Remove lists change the current permissions and parents in the same
// transaction (after Permissions and Extends, when both are given).
type RolePatch struct {
	Name, Description                 *string
	Permissions, Extends              *[]string
	AddPermissions, RemovePermissions []string
	AddExtends, RemoveExtends         []string
	Attributes                        *map[string]any // replaces them all
}

// UpdateRole changes a role.
func (s *Service) UpdateRole(ctx context.Context, envID, ref string, p RolePatch) (*Role, error) {
	var r *Role
	return r, s.write(ctx, envID, func(tx Store) ([]Change, error) {
		var err error
		if r, err = tx.GetRole(ctx, envID, ref); err != nil {
			return nil, err
		}
		setIf(&r.Name, p.Name)
		setIf(&r.Description, p.Description)
		if p.Permissions != nil {
			r.Permissions = dedupe(*p.Permissions)
		}
		if p.Extends != nil {
			r.Extends = dedupe(*p.Extends)
		}
		if p.Attributes != nil {
			r.Attributes = orEmpty(*p.Attributes)
		}
		r.Permissions = dedupe(slices.DeleteFunc(append(r.Permissions, p.AddPermissions...), func(x string) bool { return slices.Contains(p.RemovePermissions, x) }))
		r.Extends = dedupe(slices.DeleteFunc(append(r.Extends, p.AddExtends...), func(x string) bool { return slices.Contains(p.RemoveExtends, x) }))
		if err := checkRole(ctx, tx, envID, r); err != nil {
			return nil, err
		}
		r.UpdatedAt = s.now()
		if err := tx.UpdateRole(ctx, r); err != nil {
			return nil, err
		}
		return []Change{change(OpPutRole, r.Authz())}, s.emit(ctx, tx, envID, event.RoleUpdated, r)
	})
}

// DeleteRole removes a role. Roles that extend it and its assignments make
// it a CONFLICT, unless cascade, which removes those in the same
// transaction.
func (s *Service) DeleteRole(ctx context.Context, envID, ref string, cascade bool) error {
	return s.write(ctx, envID, func(tx Store) ([]Change, error) {
		r, err := tx.GetRole(ctx, envID, ref)
		if err != nil {
			return nil, err
		}
		changes, err := s.dropRoleReferences(ctx, tx, envID, r, cascade)
		if err != nil {
			return nil, err
		}
		rs := &refSet{}
		if err := s.tenantRoleDerivations(ctx, tx, envID, rs, r.Key); err != nil {
			return nil, err
		}
		fine, err := rs.apply(fmt.Sprintf("role %q", r.Key), cascade)
		if err != nil {
			return nil, err
		}
		changes = append(changes, fine...)
		if err := tx.DeleteRole(ctx, envID, r.ID); err != nil {
			return nil, err
		}
		return append(changes, change(OpDeleteRole, KeyRef{Key: r.Key})), s.emit(ctx, tx, envID, event.RoleDeleted, event.Deleted{ID: r.ID, Key: r.Key})
	})
}

// ---- role assignments

// AssignInput names a user, a role and a tenant by id or key; an empty
// tenant is the environment's default tenant.
// With ResourceInstance ("document:d1", or an id) the role is one of the
// instance's resource type and the tenant, if given, must be the
// instance's.
type AssignInput struct {
	User, Role, Tenant, ResourceInstance string
	// CreateInstance creates ResourceInstance in Tenant, in the same
	// transaction, when it does not exist (Permit's implicit instances).
	CreateInstance bool
}

func (s *Service) resolve(ctx context.Context, tx Store, envID string, in AssignInput) (*User, *Role, *Tenant, error) {
	if in.Tenant == "" {
		in.Tenant = authz.DefaultTenant
	}
	u, err := tx.GetUser(ctx, envID, in.User)
	if err != nil {
		return nil, nil, nil, asField(err, "user")
	}
	r, err := tx.GetRole(ctx, envID, in.Role)
	if err != nil {
		return nil, nil, nil, asField(err, "role")
	}
	t, err := tx.GetTenant(ctx, envID, in.Tenant)
	if err != nil {
		return nil, nil, nil, asField(err, "tenant")
	}
	return u, r, t, nil
}

// asField turns a NOT_FOUND on a referenced item into NOT_FOUND naming it.
func asField(err error, field string) error {
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		e := *(err.(*gatehouse.Error))
		e.Details = map[string]any{"field": field, "reason": "not_found"}
		return &e
	}
	return err
}

// Assign gives a user a role in a tenant.
func (s *Service) Assign(ctx context.Context, envID string, in AssignInput) (*Assignment, error) {
	var a *Assignment
	return a, s.write(ctx, envID, func(tx Store) (changes []Change, err error) {
		a, changes, err = s.assignTx(ctx, tx, envID, in)
		return changes, err
	})
}

func (s *Service) assignTx(ctx context.Context, tx Store, envID string, in AssignInput) (*Assignment, []Change, error) {
	if in.ResourceInstance != "" {
		return s.assignInstanceTx(ctx, tx, envID, in, false)
	}
	u, r, t, err := s.resolve(ctx, tx, envID, in)
	if err != nil {
		return nil, nil, err
	}
	return s.createAssignmentTx(ctx, tx, envID, u, r, t)
}

func (s *Service) createAssignmentTx(ctx context.Context, tx Store, envID string, u *User, r *Role, t *Tenant) (*Assignment, []Change, error) {
	a := &Assignment{ID: newID(), EnvID: envID, UserID: u.ID, RoleID: r.ID, TenantID: t.ID, User: u.Key, Role: r.Key, Tenant: t.Key, CreatedAt: s.now()}
	if err := tx.CreateAssignment(ctx, a); err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.CodeConflict {
			return nil, nil, &gatehouse.Error{Code: gatehouse.CodeConflict, Message: fmt.Sprintf("user %q already has role %q in tenant %q", u.Key, r.Key, t.Key),
				Details: map[string]any{"reason": "already_exists", "user": u.Key, "role": r.Key, "tenant": t.Key}}
		}
		return nil, nil, err
	}
	return a, []Change{change(OpAssign, authz.Assignment{User: u.Key, Role: r.Key, Tenant: t.Key})}, s.emit(ctx, tx, envID, event.RoleAssignmentCreated, a)
}

// Unassign removes a role assignment.
func (s *Service) Unassign(ctx context.Context, envID string, in AssignInput) error {
	return s.write(ctx, envID, func(tx Store) ([]Change, error) {
		return s.unassignTx(ctx, tx, envID, in)
	})
}

func (s *Service) unassignTx(ctx context.Context, tx Store, envID string, in AssignInput) ([]Change, error) {
	if in.ResourceInstance != "" {
		_, changes, err := s.assignInstanceTx(ctx, tx, envID, in, true)
		return changes, err
	}
	u, r, t, err := s.resolve(ctx, tx, envID, in)
	if err != nil {
		return nil, err
	}
	if err := tx.DeleteAssignment(ctx, envID, u.ID, r.ID, t.ID); err != nil {
		if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
			return nil, gatehouse.Errorf(gatehouse.CodeNotFound, "user %q has no role %q in tenant %q", u.Key, r.Key, t.Key)
		}
		return nil, err
	}
	gone := Assignment{User: u.Key, Role: r.Key, Tenant: t.Key, UserID: u.ID, RoleID: r.ID, TenantID: t.ID}
	return []Change{change(OpUnassign, authz.Assignment{User: u.Key, Role: r.Key, Tenant: t.Key})}, s.emit(ctx, tx, envID, event.RoleAssignmentDeleted, gone)
}

// EnsureDefaultTenant creates the environment's default tenant when missing.
func (s *Service) EnsureDefaultTenant(ctx context.Context, envID string) error {
	_, err := s.Store.GetTenant(ctx, envID, authz.DefaultTenant)
	if gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
		return err
	}
	_, err = s.CreateTenant(ctx, envID, TenantInput{Key: authz.DefaultTenant, Name: "Default tenant"})
	if gatehouse.ErrorCode(err) == gatehouse.CodeConflict {
		return nil // created concurrently
	}
	return err
}

func setIf(dst *string, v *string) {
	if v != nil {
		*dst = *v
	}
}

func orEmpty(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func dedupe(list []string) []string {
	out := []string{}
	for _, s := range list {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
