package tenancy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/event"
	"github.com/gatehouse-dev/gatehouse/internal/mailaddr"
)

// Store persists tenancy data. Get and Delete methods take an id or a key
// where the entity has a key, and return a NOT_FOUND *gatehouse.Error when
// nothing matches inside orgID. Unique violations are CONFLICT errors.
type Store interface {
	// InTenancyTx runs fn in one transaction.
	InTenancyTx(ctx context.Context, fn func(Store) error) error
	// Emit records events in the transaction (the webhook outbox).
	Emit(ctx context.Context, events ...event.Event) error

	CreateOrganization(ctx context.Context, o *Organization) error
	GetOrganization(ctx context.Context, idOrKey string) (*Organization, error)
	UpdateOrganization(ctx context.Context, o *Organization) error
	// SoftDeleteOrganization, SoftDeleteProject and SoftDeleteEnvironment
	// mark one deleted (with what it holds) until purge; Restore… undo it
	// (also what was deleted with it); PurgeDeleted removes for good what
	// is past its purge time.
	SoftDeleteOrganization(ctx context.Context, id string, at, purge time.Time) error
	SoftDeleteProject(ctx context.Context, orgID, id string, at, purge time.Time) error
	SoftDeleteEnvironment(ctx context.Context, orgID, id string, at, purge time.Time) error
	RestoreOrganization(ctx context.Context, id string) error
	RestoreProject(ctx context.Context, orgID, id string) error
	RestoreEnvironment(ctx context.Context, orgID, id string) error
	DeletedOrganization(ctx context.Context, id string) (*Organization, error)
	CountOrganizations(ctx context.Context) (int, error)
	FirstOrganization(ctx context.Context) (*Organization, error)

	CreateProject(ctx context.Context, p *Project) error
	GetProject(ctx context.Context, orgID, idOrKey string) (*Project, error)
	ListProjects(ctx context.Context, f ProjectFilter, page gatehouse.PageRequest) (gatehouse.Page[Project], error)
	UpdateProject(ctx context.Context, p *Project) error
	DeleteProject(ctx context.Context, orgID, id string) error

	CreateEnvironment(ctx context.Context, e *Environment) error
	GetEnvironment(ctx context.Context, orgID, projectID, idOrKey string) (*Environment, error)
	// EnvironmentByID is an environment by its id alone (background work
	// and the rate limiter know only the id).
	EnvironmentByID(ctx context.Context, id string) (*Environment, error)
	ListEnvironments(ctx context.Context, f EnvironmentFilter, page gatehouse.PageRequest) (gatehouse.Page[Environment], error)
	UpdateEnvironment(ctx context.Context, e *Environment) error
	DeleteEnvironment(ctx context.Context, orgID, id string) error

	CreateMember(ctx context.Context, m *Member) error
	GetMember(ctx context.Context, orgID, id string) (*Member, error)
	ListMembers(ctx context.Context, f MemberFilter, page gatehouse.PageRequest) (gatehouse.Page[Member], error)
	UpdateMember(ctx context.Context, m *Member) error
	DeleteMember(ctx context.Context, orgID, id string) error
	CountMembers(ctx context.Context, orgID, role string) (int, error)
	// LockOrganization holds orgID's lock until the transaction ends:
	// changes to its members are made one at a time.
	LockOrganization(ctx context.Context, orgID string) error

	// MembersByEmail returns the members with email in every organization.
	MembersByEmail(ctx context.Context, email string) ([]Member, error)
	// MemberOIDC returns the OpenID Connect identity (issuer, subject) a
	// member is linked to ("", "": none yet).
	MemberOIDC(ctx context.Context, orgID, id string) (issuer, subject string, err error)
	// LinkMemberOIDC links a member to an identity unless it is linked
	// already, and reports whether it is now linked to exactly that one.
	LinkMemberOIDC(ctx context.Context, orgID, id, issuer, subject string) (bool, error)
	MemberPasswordHash(ctx context.Context, orgID, id string) (string, error)
	SetMemberPassword(ctx context.Context, orgID, id, hash string) error
	CreateSetupToken(ctx context.Context, t *SetupToken) error
	GetSetupToken(ctx context.Context, tokenSHA256 string) (*SetupToken, error)
	UseSetupToken(ctx context.Context, tokenSHA256 string, at time.Time) error
	DeleteSetupTokens(ctx context.Context, memberID string) error

	CreateMemberRole(ctx context.Context, r *Role) error
	GetMemberRole(ctx context.Context, orgID, key string) (*Role, error)
	ListMemberRoles(ctx context.Context, orgID string) ([]Role, error)
	UpdateMemberRole(ctx context.Context, r *Role) error
	DeleteMemberRole(ctx context.Context, orgID, key string) error
}

// ProjectFilter narrows a project list. Empty fields do not filter.
type ProjectFilter struct {
	OrgID string
	ID    string // restricts to one project (project and environment keys)
	Key   string
	// Deleted lists the deleted ones (still restorable) instead.
	Deleted bool
}

// EnvironmentFilter narrows an environment list.
type EnvironmentFilter struct {
	OrgID     string
	ProjectID string
	ID        string // restricts to one environment (environment keys)
	Key       string
	Sandbox   *bool
	// Deleted lists the deleted ones (still restorable) instead.
	Deleted bool
}

// MemberFilter narrows a member list.
type MemberFilter struct {
	OrgID string
	Role  string
	Email string
}

// DefaultDeleteGrace is how long a deleted organization, project or
// environment can be restored before it is purged.
const DefaultDeleteGrace = 7 * 24 * time.Hour

// Service applies tenancy's rules on top of a Store.
type Service struct {
	Store Store
	Now   func() time.Time
	// DeleteGrace is how long deletions can be restored (0: the default).
	DeleteGrace time.Duration
	// Keys, when set, revokes the keys of members who leave or lose scopes.
	Keys MemberKeys
	// Seed, when set, gives each new environment what every environment
	// starts with, in the transaction that creates it.
	Seed Seeder
	// Caches, when set, is told at once (on every node) when organizations,
	// projects and environments are deleted or restored, so that their
	// keys stop or start working without waiting for a cache to expire.
	Caches Caches
}

// Seeder fills a new environment (its default tenant) in the transaction
// creating it.
type Seeder interface {
	SeedEnvironment(ctx context.Context, tx Store, envID string) error
}

func (s *Service) seed(ctx context.Context, tx Store, envs ...*Environment) error {
	if s.Seed == nil {
		return nil
	}
	for _, e := range envs {
		if err := s.Seed.SeedEnvironment(ctx, tx, e.ID); err != nil {
			return fmt.Errorf("seed environment %s: %w", e.Key, err)
		}
	}
	return nil
}

// Caches are what other capabilities hold of tenancy's objects: the API
// key cache (a key works only while its organization, project and
// environment exist) and each environment's engine and settings.
type Caches interface {
	// KeysChanged: which keys are valid may have changed.
	KeysChanged(ctx context.Context)
	// EnvironmentGone: envID was deleted; drop what is held of it.
	EnvironmentGone(ctx context.Context, envID string)
}

// changed tells the caches that which keys are valid changed; gone lists
// environments deleted.
func (s *Service) changed(ctx context.Context, gone ...string) {
	if s.Caches == nil {
		return
	}
	s.Caches.KeysChanged(ctx)
	for _, id := range gone {
		s.Caches.EnvironmentGone(ctx, id)
	}
}

// Option sets up a Service at construction.
type Option func(*Service)

// WithClock makes the service read the time from now instead of the wall
// clock.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.Now = now } }

// WithDeleteGrace sets how long deletions can be restored (0: the default).
func WithDeleteGrace(d time.Duration) Option { return func(s *Service) { s.DeleteGrace = d } }

// WithMemberKeys revokes, with k, the keys of members who leave or lose
// scopes.
func WithMemberKeys(k MemberKeys) Option { return func(s *Service) { s.Keys = k } }

// WithSeed gives each new environment what every environment starts with
// (see Seeder).
func WithSeed(seed Seeder) Option { return func(s *Service) { s.Seed = seed } }

// WithCaches tells caches at once when organizations, projects and
// environments are deleted or restored (see Caches).
func WithCaches(c Caches) Option { return func(s *Service) { s.Caches = c } }

// NewService returns a Service over st, on the wall clock unless an option
// says otherwise.
func NewService(st Store, opts ...Option) *Service {
	s := &Service{Store: st, Now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

func (s *Service) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

// write runs fn and records ev in one transaction.
func (s *Service) write(ctx context.Context, ev event.Event, fn func(Store) error) error {
	ev.ID, ev.OccurredAt = NewID(), s.now()
	return s.Store.InTenancyTx(ctx, func(tx Store) error {
		if err := fn(tx); err != nil {
			return err
		}
		return tx.Emit(ctx, ev)
	})
}

func projectEvent(typ string, p *Project, data any) event.Event {
	return event.Event{Type: typ, OrgID: p.OrgID, ProjectID: p.ID, Data: data}
}

func envEvent(typ string, e *Environment, data any) event.Event {
	return event.Event{Type: typ, OrgID: e.OrgID, ProjectID: e.ProjectID, EnvID: e.ID, Data: data}
}

// NewProjectInput is what a caller gives to create a project.
type NewProjectInput struct {
	Key, Name, Description string
}

// UpdateOrganization renames an organization.
func (s *Service) UpdateOrganization(ctx context.Context, id string, name *string) (*Organization, error) {
	o, err := s.Store.GetOrganization(ctx, id)
	if err != nil {
		return nil, err
	}
	if name != nil {
		if err := ValidateName("name", *name); err != nil {
			return nil, err
		}
		o.Name = strings.TrimSpace(*name)
	}
	o.UpdatedAt = s.now()
	return o, s.Store.UpdateOrganization(ctx, o)
}

// UpdateOrgSettings replaces an organization's settings after validating them.
func (s *Service) UpdateOrgSettings(ctx context.Context, orgID string, apply func(*OrgSettings)) (*Organization, error) {
	o, err := s.Store.GetOrganization(ctx, orgID)
	if err != nil {
		return nil, err
	}
	apply(&o.Settings)
	if err := o.Settings.Validate(); err != nil {
		return nil, err
	}
	o.UpdatedAt = s.now()
	return o, s.Store.UpdateOrganization(ctx, o)
}

// CreateProject validates and stores a new project.
//
// The project starts with development and production environments (as a
// new organization's default project does), made in the same transaction.
func (s *Service) CreateProject(ctx context.Context, orgID string, in NewProjectInput) (*Project, []*Environment, error) {
	l, err := newLabels(in.Key, in.Name, in.Description)
	if err != nil {
		return nil, nil, err
	}
	now := s.now()
	p := &Project{ID: NewID(), OrgID: orgID, Key: l.Key, Name: l.Name, Description: l.Description, CreatedAt: now, UpdatedAt: now}
	var envs []*Environment
	for _, key := range []string{"development", "production"} {
		envs = append(envs, &Environment{ID: NewID(), OrgID: orgID, ProjectID: p.ID, Key: key, Name: strings.ToUpper(key[:1]) + key[1:],
			Settings: DefaultEnvSettings(), CreatedAt: now, UpdatedAt: now})
	}
	pev := projectEvent(event.ProjectCreated, p, p)
	pev.ID, pev.OccurredAt = NewID(), now
	return p, envs, s.Store.InTenancyTx(ctx, func(tx Store) error {
		if err := tx.CreateProject(ctx, p); err != nil {
			return err
		}
		for _, e := range envs {
			if err := tx.CreateEnvironment(ctx, e); err != nil {
				return err
			}
			ev := envEvent(event.EnvironmentCreated, e, e)
			ev.ID, ev.OccurredAt = NewID(), now
			if err := tx.Emit(ctx, ev); err != nil {
				return err
			}
		}
		if err := tx.Emit(ctx, pev); err != nil {
			return err
		}
		return s.seed(ctx, tx, envs...)
	})
}

// UpdateProject changes a project's name, key or description.
func (s *Service) UpdateProject(ctx context.Context, p *Project, key, name, description *string) (*Project, error) {
	l := labels{p.Key, p.Name, p.Description}
	if err := l.patch(key, name, description); err != nil {
		return nil, err
	}
	p.Key, p.Name, p.Description = l.Key, l.Name, l.Description
	p.UpdatedAt = s.now()
	return p, s.write(ctx, projectEvent(event.ProjectUpdated, p, p), func(tx Store) error { return tx.UpdateProject(ctx, p) })
}

// DeleteProject deletes a project with its environments; their keys stop
// working. It can be restored until the grace period ends.
func (s *Service) DeleteProject(ctx context.Context, p *Project) error {
	at, purge := s.tombstone()
	data := event.DeletedUntil{ID: p.ID, Key: p.Key, DeletedAt: at, PurgeAfter: purge}
	if err := s.write(ctx, projectEvent(event.ProjectDeleted, p, data), func(tx Store) error {
		return tx.SoftDeleteProject(ctx, p.OrgID, p.ID, at, purge)
	}); err != nil {
		return err
	}
	s.changed(ctx)
	return nil
}

// RestoreProject restores deleted project id of orgID and the environments
// deleted with it.
func (s *Service) RestoreProject(ctx context.Context, orgID, id string) (*Project, error) {
	var p *Project
	err := s.Store.InTenancyTx(ctx, func(tx Store) error {
		if err := tx.RestoreProject(ctx, orgID, id); err != nil {
			return err
		}
		var err error
		if p, err = tx.GetProject(ctx, orgID, id); err != nil {
			return err
		}
		ev := projectEvent(event.ProjectRestored, p, p)
		ev.ID, ev.OccurredAt = NewID(), s.now()
		return tx.Emit(ctx, ev)
	})
	if err != nil {
		return nil, err
	}
	s.changed(ctx)
	return p, nil
}

// tombstone is when a deletion happens and when it will be purged.
func (s *Service) tombstone() (at, purge time.Time) {
	grace := s.DeleteGrace
	if grace <= 0 {
		grace = DefaultDeleteGrace
	}
	at = s.now()
	return at, at.Add(grace)
}

// NewEnvironmentInput is what a caller gives to create an environment.
type NewEnvironmentInput struct {
	Key, Name, Description string
	Sandbox                bool
}

// CreateEnvironment validates and stores a new environment of project p.
func (s *Service) CreateEnvironment(ctx context.Context, p *Project, in NewEnvironmentInput) (*Environment, error) {
	l, err := newLabels(in.Key, in.Name, in.Description)
	if err != nil {
		return nil, err
	}
	now := s.now()
	e := &Environment{ID: NewID(), OrgID: p.OrgID, ProjectID: p.ID, Key: l.Key, Name: l.Name,
		Description: l.Description, Sandbox: in.Sandbox, Settings: DefaultEnvSettings(), CreatedAt: now, UpdatedAt: now}
	ev := envEvent(event.EnvironmentCreated, e, e)
	ev.ID, ev.OccurredAt = NewID(), now
	return e, s.Store.InTenancyTx(ctx, func(tx Store) error {
		if err := tx.CreateEnvironment(ctx, e); err != nil {
			return err
		}
		if err := tx.Emit(ctx, ev); err != nil {
			return err
		}
		return s.seed(ctx, tx, e)
	})
}

// EnvironmentPatch lists the fields of an environment update; nil: unchanged.
type EnvironmentPatch struct {
	Key, Name, Description *string
	Sandbox                *bool
}

// UpdateEnvironment applies patch to e and stores it.
func (s *Service) UpdateEnvironment(ctx context.Context, e *Environment, patch EnvironmentPatch) (*Environment, error) {
	l := labels{e.Key, e.Name, e.Description}
	if err := l.patch(patch.Key, patch.Name, patch.Description); err != nil {
		return nil, err
	}
	e.Key, e.Name, e.Description = l.Key, l.Name, l.Description
	if patch.Sandbox != nil {
		e.Sandbox = *patch.Sandbox
	}
	e.UpdatedAt = s.now()
	return e, s.write(ctx, envEvent(event.EnvironmentUpdated, e, e), func(tx Store) error { return tx.UpdateEnvironment(ctx, e) })
}

// DeleteEnvironment deletes an environment; its keys stop working. It can
// be restored until the grace period ends.
func (s *Service) DeleteEnvironment(ctx context.Context, e *Environment) error {
	at, purge := s.tombstone()
	data := event.DeletedUntil{ID: e.ID, Key: e.Key, DeletedAt: at, PurgeAfter: purge}
	if err := s.write(ctx, envEvent(event.EnvironmentDeleted, e, data), func(tx Store) error {
		return tx.SoftDeleteEnvironment(ctx, e.OrgID, e.ID, at, purge)
	}); err != nil {
		return err
	}
	s.changed(ctx, e.ID)
	return nil
}

// RestoreEnvironment restores deleted environment id of project p.
func (s *Service) RestoreEnvironment(ctx context.Context, p *Project, id string) (*Environment, error) {
	var e *Environment
	err := s.Store.InTenancyTx(ctx, func(tx Store) error {
		if err := tx.RestoreEnvironment(ctx, p.OrgID, id); err != nil {
			return err
		}
		var err error
		if e, err = tx.GetEnvironment(ctx, p.OrgID, p.ID, id); err != nil {
			return err
		}
		ev := envEvent(event.EnvironmentRestored, e, e)
		ev.ID, ev.OccurredAt = NewID(), s.now()
		return tx.Emit(ctx, ev)
	})
	if err != nil {
		return nil, err
	}
	s.changed(ctx)
	return e, nil
}

// DeleteOrganization deletes organization id with everything in it: its
// keys answer ORGANIZATION_DELETED, its members cannot sign in. It can be
// restored until the grace period ends. The last organization of an
// instance cannot be deleted.
func (s *Service) DeleteOrganization(ctx context.Context, id string) (*Organization, error) {
	at, purge := s.tombstone()
	var o *Organization
	err := s.Store.InTenancyTx(ctx, func(tx Store) error {
		if err := tx.LockOrganization(ctx, id); err != nil {
			return err
		}
		var err error
		if o, err = tx.GetOrganization(ctx, id); err != nil {
			return err
		}
		n, err := tx.CountOrganizations(ctx)
		if err != nil {
			return err
		}
		if n <= 1 {
			return gatehouse.Errorf(gatehouse.CodeConflict, "organization %s is the last one of this instance and cannot be deleted", o.Key)
		}
		if err := tx.SoftDeleteOrganization(ctx, id, at, purge); err != nil {
			return err
		}
		return tx.Emit(ctx, event.Event{ID: NewID(), Type: event.OrganizationDeleted, OrgID: id, OccurredAt: at,
			Data: event.DeletedUntil{ID: o.ID, Key: o.Key, DeletedAt: at, PurgeAfter: purge}})
	})
	if err != nil {
		return nil, err
	}
	o.DeletedAt, o.PurgeAfter = &at, &purge
	s.changed(ctx)
	return o, nil
}

// RestoreOrganization restores deleted organization id with everything
// deleted with it.
func (s *Service) RestoreOrganization(ctx context.Context, id string) (*Organization, error) {
	var o *Organization
	err := s.Store.InTenancyTx(ctx, func(tx Store) error {
		if err := tx.RestoreOrganization(ctx, id); err != nil {
			return err
		}
		var err error
		if o, err = tx.GetOrganization(ctx, id); err != nil {
			return err
		}
		return tx.Emit(ctx, event.Event{ID: NewID(), Type: event.OrganizationRestored, OrgID: id, OccurredAt: s.now(),
			Data: event.Deleted{ID: o.ID, Key: o.Key}})
	})
	if err != nil {
		return nil, err
	}
	s.changed(ctx)
	return o, nil
}

// UpdateEnvSettings validates and stores new settings for e.
func (s *Service) UpdateEnvSettings(ctx context.Context, e *Environment, apply func(*EnvSettings)) (*Environment, error) {
	apply(&e.Settings)
	if err := e.Settings.Validate(); err != nil {
		return nil, err
	}
	e.UpdatedAt = s.now()
	return e, s.write(ctx, envEvent(event.EnvironmentUpdated, e, e), func(tx Store) error { return tx.UpdateEnvironment(ctx, e) })
}

// Role returns the role with key in orgID: built-in or custom.
func (s *Service) Role(ctx context.Context, orgID, key string) (*Role, error) {
	if r, ok := BuiltinRole(key); ok {
		r.OrgID = orgID
		return &r, nil
	}
	return s.Store.GetMemberRole(ctx, orgID, key)
}

// Roles lists the built-in roles then the organization's custom roles.
func (s *Service) Roles(ctx context.Context, orgID string) ([]Role, error) {
	custom, err := s.Store.ListMemberRoles(ctx, orgID)
	if err != nil {
		return nil, err
	}
	out := BuiltinRoles()
	for i := range out {
		out[i].OrgID = orgID
	}
	return append(out, custom...), nil
}

// NewRoleInput is what a caller gives to create a custom member role.
type NewRoleInput struct {
	Key, Name, Description string
	Scopes                 []gatehouse.Scope
}

func roleScopes(scopes []gatehouse.Scope) (gatehouse.ScopeSet, error) {
	set, err := gatehouse.NewScopeSet(scopes)
	if err != nil {
		return 0, err
	}
	if set&gatehouse.AdminOnlyScopes() != 0 {
		return 0, gatehouse.FieldError("scopes", "admin_only_scope",
			"scopes %s are held only by the built-in Admin role", (set & gatehouse.AdminOnlyScopes()).String())
	}
	return set, nil
}

// CreateRole validates and stores a custom member role.
func (s *Service) CreateRole(ctx context.Context, orgID string, in NewRoleInput) (*Role, error) {
	l, err := newLabels(in.Key, in.Name, in.Description)
	if err != nil {
		return nil, err
	}
	if _, ok := BuiltinRole(l.Key); ok {
		return nil, gatehouse.Errorf(gatehouse.CodeConflict, "role %q is built in", l.Key)
	}
	set, err := roleScopes(in.Scopes)
	if err != nil {
		return nil, err
	}
	now := s.now()
	r := &Role{OrgID: orgID, Key: l.Key, Name: l.Name, Description: l.Description, Scopes: set, CreatedAt: now, UpdatedAt: now}
	return r, s.Store.CreateMemberRole(ctx, r)
}

// UpdateRole changes a custom role. Built-in roles cannot be changed.
func (s *Service) UpdateRole(ctx context.Context, orgID, key string, name, description *string, scopes *[]gatehouse.Scope) (*Role, error) {
	if _, ok := BuiltinRole(key); ok {
		return nil, gatehouse.Errorf(gatehouse.CodeForbidden, "built-in role %q cannot be changed", key)
	}
	r, err := s.Store.GetMemberRole(ctx, orgID, key)
	if err != nil {
		return nil, err
	}
	l := labels{r.Key, r.Name, r.Description}
	if err := l.patch(nil, name, description); err != nil {
		return nil, err
	}
	r.Name, r.Description = l.Name, l.Description
	if scopes != nil {
		set, err := roleScopes(*scopes)
		if err != nil {
			return nil, err
		}
		r.Scopes = set
	}
	r.UpdatedAt = s.now()
	var afters []func()
	err = s.Store.InTenancyTx(ctx, func(tx Store) error {
		if err := tx.LockOrganization(ctx, orgID); err != nil {
			return err
		}
		if err := tx.UpdateMemberRole(ctx, r); err != nil {
			return err
		}
		if s.Keys == nil || scopes == nil {
			return nil
		}
		// The role's holders may have lost scopes: so do the keys they made.
		for page := 1; ; page++ {
			res, err := tx.ListMembers(ctx, MemberFilter{OrgID: orgID, Role: key}, gatehouse.PageRequest{Page: page, PerPage: 100})
			if err != nil {
				return err
			}
			for _, m := range res.Items {
				after, err := s.Keys.Constrain(ctx, tx, orgID, m.ID, r.Scopes, false)
				if err != nil {
					return err
				}
				afters = append(afters, after)
			}
			if page*100 >= res.Total {
				return nil
			}
		}
	})
	if err != nil {
		return nil, err
	}
	for _, after := range afters {
		after()
	}
	return r, nil
}

// DeleteRole removes a custom role that no member holds.
func (s *Service) DeleteRole(ctx context.Context, orgID, key string) error {
	if _, ok := BuiltinRole(key); ok {
		return gatehouse.Errorf(gatehouse.CodeForbidden, "built-in role %q cannot be deleted", key)
	}
	if _, err := s.Store.GetMemberRole(ctx, orgID, key); err != nil {
		return err
	}
	n, err := s.Store.CountMembers(ctx, orgID, key)
	if err != nil {
		return err
	}
	if n > 0 {
		return gatehouse.Errorf(gatehouse.CodeConflict, "role %q is held by %d member(s); give them another role first", key, n)
	}
	return s.Store.DeleteMemberRole(ctx, orgID, key)
}

// CreateMember adds a member with an existing role.
func (s *Service) CreateMember(ctx context.Context, orgID, email, name, role string) (*Member, error) {
	email, err := normalizeEmail(email)
	if err != nil {
		return nil, err
	}
	if len(name) > 200 {
		return nil, gatehouse.FieldError("name", "too_long", "name must be at most 200 characters")
	}
	if _, err := s.roleForMember(ctx, orgID, role); err != nil {
		return nil, err
	}
	now := s.now()
	m := &Member{ID: NewID(), OrgID: orgID, Email: email, Name: strings.TrimSpace(name), Role: role, CreatedAt: now, UpdatedAt: now}
	return m, s.write(ctx, event.Event{Type: event.MemberCreated, OrgID: orgID, Data: m}, func(tx Store) error { return tx.CreateMember(ctx, m) })
}

// MemberKeys keeps the API keys a member made within what the member may
// still do. It runs in the transaction that changes or removes the member
// (or narrows their role) and returns what to do once that commits (tell
// every node that the keys it revoked are gone).
type MemberKeys interface {
	// Constrain revokes the active keys member memberID made whose scopes
	// are not within allowed; every one of them when removed.
	Constrain(ctx context.Context, tx Store, orgID, memberID string, allowed gatehouse.ScopeSet, removed bool) (after func(), err error)
}

// CheckManage refuses a caller holding scopes acting on member m (removing
// them, changing their role, making a setup link for them) when m's role
// holds a scope the caller lacks, unless the caller holds
// manage:permission (the Admin role): nobody takes over or removes someone
// above them.
func (s *Service) CheckManage(ctx context.Context, caller gatehouse.ScopeSet, m *Member) error {
	if caller.Has(gatehouse.ScopeManagePermission) {
		return nil
	}
	r, err := s.Role(ctx, m.OrgID, m.Role)
	if err != nil {
		return err
	}
	if extra := r.Scopes &^ caller; extra != 0 {
		return gatehouse.Errorf(gatehouse.CodeForbidden, "member %s has the %s role, which holds scopes you lack (%s): acting on them needs the %s scope (the Admin role)",
			m.Email, m.Role, extra.String(), gatehouse.ScopeManagePermission)
	}
	return nil
}

// UpdateMember changes a member's name or role on behalf of a caller
// holding caller. A name is anyone's with manage:member to change;
// changing a role needs manage:permission; the last Admin
// keeps the role. Keys the member made that their new role does not cover
// are revoked in the same transaction.
func (s *Service) UpdateMember(ctx context.Context, caller gatehouse.ScopeSet, orgID, id string, name, role *string) (*Member, error) {
	m, err := s.Store.GetMember(ctx, orgID, id)
	if err != nil {
		return nil, err
	}
	var newRole *Role
	if role != nil && *role != m.Role {
		if !caller.Has(gatehouse.ScopeManagePermission) {
			return nil, gatehouse.Errorf(gatehouse.CodeForbidden, "changing a member's role needs the %s scope (the Admin role)", gatehouse.ScopeManagePermission)
		}
		if newRole, err = s.roleForMember(ctx, orgID, *role); err != nil {
			return nil, err
		}
	}
	if name != nil && len(*name) > 200 {
		return nil, gatehouse.FieldError("name", "too_long", "name must be at most 200 characters")
	}
	var after func()
	ev := event.Event{ID: NewID(), Type: event.MemberUpdated, OrgID: orgID, OccurredAt: s.now()}
	err = s.Store.InTenancyTx(ctx, func(tx Store) error {
		if err := tx.LockOrganization(ctx, orgID); err != nil {
			return err
		}
		cur, err := tx.GetMember(ctx, orgID, id) // as it is now, under the lock
		if err != nil {
			return err
		}
		if name != nil {
			cur.Name = strings.TrimSpace(*name)
		}
		if newRole != nil && newRole.Key != cur.Role {
			if err := keepAnAdmin(ctx, tx, cur); err != nil {
				return err
			}
			cur.Role = newRole.Key
			if s.Keys != nil {
				if after, err = s.Keys.Constrain(ctx, tx, orgID, cur.ID, newRole.Scopes, false); err != nil {
					return err
				}
			}
		}
		cur.UpdatedAt = s.now()
		if err := tx.UpdateMember(ctx, cur); err != nil {
			return err
		}
		m = cur
		ev.Data = cur
		return tx.Emit(ctx, ev)
	})
	if err != nil {
		return nil, err
	}
	if after != nil {
		after()
	}
	return m, nil
}

// DeleteMember removes a member on behalf of a caller holding caller; the
// last Admin cannot be removed, and nobody removes someone above them (see
// CheckManage). The keys the member made are revoked with them.
func (s *Service) DeleteMember(ctx context.Context, caller gatehouse.ScopeSet, orgID, id string) error {
	m, err := s.Store.GetMember(ctx, orgID, id)
	if err != nil {
		return err
	}
	if err := s.CheckManage(ctx, caller, m); err != nil {
		return err
	}
	var after func()
	ev := event.Event{ID: NewID(), Type: event.MemberDeleted, OrgID: orgID, OccurredAt: s.now(), Data: map[string]string{"id": m.ID, "email": m.Email}}
	err = s.Store.InTenancyTx(ctx, func(tx Store) error {
		if err := tx.LockOrganization(ctx, orgID); err != nil {
			return err
		}
		cur, err := tx.GetMember(ctx, orgID, id)
		if err != nil {
			return err
		}
		if err := keepAnAdmin(ctx, tx, cur); err != nil {
			return err
		}
		if s.Keys != nil {
			if after, err = s.Keys.Constrain(ctx, tx, orgID, cur.ID, 0, true); err != nil {
				return err
			}
		}
		if err := tx.DeleteMember(ctx, orgID, cur.ID); err != nil {
			return err
		}
		return tx.Emit(ctx, ev)
	})
	if err != nil {
		return err
	}
	if after != nil {
		after()
	}
	return nil
}

// NewMemberSetupLink makes a setup link for member id on behalf of a caller
// holding caller (see CheckManage) and returns its token, shown once.
func (s *Service) NewMemberSetupLink(ctx context.Context, caller gatehouse.ScopeSet, orgID, id, createdBy string) (*Member, string, error) {
	m, err := s.Store.GetMember(ctx, orgID, id)
	if err != nil {
		return nil, "", err
	}
	if err := s.CheckManage(ctx, caller, m); err != nil {
		return nil, "", err
	}
	token, err := s.NewSetupToken(ctx, m, createdBy)
	return m, token, err
}

// keepAnAdmin refuses to take the Admin role from the last Admin. It runs
// in a transaction that holds the organization's lock, so two removals at
// once cannot both pass.
func keepAnAdmin(ctx context.Context, tx Store, leaving *Member) error {
	if leaving.Role != RoleAdmin {
		return nil
	}
	n, err := tx.CountMembers(ctx, leaving.OrgID, RoleAdmin)
	if err != nil {
		return err
	}
	if n <= 1 {
		return gatehouse.Errorf(gatehouse.CodeConflict, "an organization must keep at least one Admin")
	}
	return nil
}

func (s *Service) roleForMember(ctx context.Context, orgID, role string) (*Role, error) {
	if role == "" {
		return nil, gatehouse.FieldError("role", "required_field_missing", "role is required")
	}
	r, err := s.Role(ctx, orgID, role)
	if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
		return nil, gatehouse.FieldError("role", "unknown_role", "role %q does not exist", role)
	}
	return r, err
}

func normalizeEmail(email string) (string, error) {
	email = strings.TrimSpace(email)
	if err := mailaddr.Check("email", email); err != nil {
		return "", err
	}
	return strings.ToLower(email), nil
}

// labels are the key, name and description most entities carry.
type labels struct{ Key, Name, Description string }

// newLabels validates the labels of a new entity, deriving the key from the
// name when it is empty.
func newLabels(key, name, description string) (labels, error) {
	if err := ValidateName("name", name); err != nil {
		return labels{}, err
	}
	if key == "" {
		key = Slugify(name)
	}
	l := labels{Key: key, Name: strings.TrimSpace(name), Description: description}
	return l, l.patch(&key, nil, &description)
}

// patch validates and applies the non-nil changes.
func (l *labels) patch(key, name, description *string) error {
	if key != nil {
		if err := ValidateKey("key", *key); err != nil {
			return err
		}
		l.Key = *key
	}
	if name != nil {
		if err := ValidateName("name", *name); err != nil {
			return err
		}
		l.Name = strings.TrimSpace(*name)
	}
	if description != nil {
		if err := validateDescription(*description); err != nil {
			return err
		}
		l.Description = *description
	}
	return nil
}

func validateDescription(d string) error {
	if len(d) > 2000 {
		return gatehouse.FieldError("description", "too_long", "description must be at most 2000 characters")
	}
	return nil
}
