// Package audit is the audit trail's vocabulary: who changed what (a member,
// an API key or the system), when, from where, and the changed object before
// and after. The store writes an entry in the same transaction as the change
// it records (see store.Emit), so a committed change always has its entry
// and a rolled-back one never does. The trail lives in the main database,
// apart from the API request log, with its own retention.
package audit

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// Actor types.
const (
	ActorMember = "member"
	ActorKey    = "key"
	ActorSystem = "system"
)

// Actor is who made a change and from where.
type Actor struct {
	Type      string // member, key or system
	ID        string // the member's or key's id; "" for the system
	Name      string // the member's email or the key's name
	IP        string // the caller's address
	RequestID string // the API request that made the change
}

type actorKey struct{}

// WithActor is ctx carrying the actor of the changes made under it. Only
// the server sets it (from the admitted caller), never a request.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// actorOf finds the actor of a request in its context (the HTTP layer's
// admitted caller), for a context WithActor did not mark.
var actorOf []func(context.Context) (Actor, bool)

// RegisterActorOf adds a way to find the actor in a request's context
// (package web registers the admitted principal's). Call it from init.
func RegisterActorOf(f func(context.Context) (Actor, bool)) { actorOf = append(actorOf, f) }

// ActorFrom is the actor in ctx: the one WithActor set, else the request's
// caller, else the system (background work such as retention and
// start-up).
func ActorFrom(ctx context.Context) Actor {
	a, ok := ctx.Value(actorKey{}).(Actor)
	if !ok {
		for _, f := range actorOf {
			if a, ok = f(ctx); ok {
				break
			}
		}
	}
	if a.Type == "" {
		a.Type = ActorSystem
	}
	return a
}

// AuditEntry is one recorded change.
type AuditEntry struct {
	ID             string          `json:"id"`
	Time           time.Time       `json:"timestamp" doc:"When the change was committed."`
	OrganizationID string          `json:"organization_id"`
	ProjectID      string          `json:"project_id,omitempty"`
	EnvironmentID  string          `json:"environment_id,omitempty"`
	ActorType      string          `json:"actor_type" enum:"member,key,system" doc:"Who made the change: a member (through the dashboard or a session), an API key, or the system (background work)."`
	ActorID        string          `json:"actor_id,omitempty" doc:"The member's or key's id."`
	ActorName      string          `json:"actor_name,omitempty" doc:"The member's email or the key's name, as they were at the time."`
	ClientIP       string          `json:"client_ip,omitempty" doc:"The address the change came from."`
	RequestID      string          `json:"request_id,omitempty" doc:"The API request that made the change (see GET /v1/logs?request_id=)."`
	Action         string          `json:"action" doc:"What happened, e.g. user.updated, api_key.revoked, member.signed_in."`
	ObjectType     string          `json:"object_type" doc:"The kind of object changed, e.g. user, role, api_key, member."`
	ObjectID       string          `json:"object_id,omitempty"`
	ObjectKey      string          `json:"object_key,omitempty" doc:"The object's key (or email, or name) when it has one."`
	Before         json.RawMessage `json:"before,omitempty" doc:"The object before the change, in the v1 API's shape (absent for a creation, or when the change did not read it first). Secrets are never recorded."`
	After          json.RawMessage `json:"after,omitempty" doc:"The object after the change (absent for a deletion)."`
}

// Filter selects entries. OrgID is required; ProjectID and EnvID confine a
// project's or environment's key to its own.
type Filter struct {
	OrgID, ProjectID, EnvID string
	ActorType, ActorID      string
	Action                  string // an action (user.updated) or a prefix ending in "." (user.)
	ObjectType, ObjectID    string
	Since, Until            time.Time
	// ObjectTypes, when not nil, confines the entries to these kinds of
	// object (empty: none): what the caller's scopes let it read (see
	// VisibleTypes).
	ObjectTypes []string
}

// typeScopes are the scopes, besides view:audit, that reading the entries
// of each kind of object needs: those that read the object itself. A kind
// not listed here is shown only to a caller holding every scope (the
// built-in Admin).
var typeScopes = map[string][]gatehouse.Scope{
	"user":               {gatehouse.ScopeViewUser},
	"tenant":             {gatehouse.ScopeViewTenant},
	"resource":           {gatehouse.ScopeViewResource},
	"relation":           {gatehouse.ScopeViewResource},
	"resource_instance":  {gatehouse.ScopeViewResource},
	"condition_set":      {gatehouse.ScopeViewResource},
	"role":               {gatehouse.ScopeViewRole},
	"resource_role":      {gatehouse.ScopeViewRole},
	"set_rule":           {gatehouse.ScopeViewRole},
	"role_assignment":    {gatehouse.ScopeViewRoleAssignment},
	"relationship_tuple": {gatehouse.ScopeViewRoleAssignment},
	"api_key":            {gatehouse.ScopeManageAPI},
	"member":             {gatehouse.ScopeViewMember},
	"member_role":        {gatehouse.ScopeViewPermission},
	"webhook":            {gatehouse.ScopeViewWebhook},
	"organization":       {gatehouse.ScopeViewOrganization, gatehouse.ScopeViewSettings},
	"project":            {gatehouse.ScopeViewProject},
	"environment":        {gatehouse.ScopeViewProject, gatehouse.ScopeViewSettings},
	"job":                {gatehouse.ScopeViewJob},
}

// VisibleTypes are the kinds of object whose entries a caller holding
// scopes may read: nil (every kind) for a caller holding every scope,
// else those whose typeScopes it holds, in name order.
func VisibleTypes(scopes gatehouse.ScopeSet) []string {
	if scopes.Contains(gatehouse.MustScopeSet(gatehouse.AllScopes()...)) {
		return nil
	}
	out := []string{}
	for typ, need := range typeScopes {
		if scopes.Contains(gatehouse.MustScopeSet(need...)) {
			out = append(out, typ)
		}
	}
	slices.Sort(out)
	return out
}

// secretFields are the fields never recorded, whatever object carries them
// (top level: attributes are the caller's own data).
var secretFields = []string{"secret", "previous_secret", "token", "key", "hash", "token_hash", "key_hash", "password", "password_hash", "private_key"}

// IsSecretField reports whether name is a field the trail never records.
// "key" is a secret only as an API key's token (see Redact).
func IsSecretField(objectType, name string) bool {
	if name == "key" {
		return objectType == "api_key" || objectType == "setup_link"
	}
	n := strings.ToLower(name)
	return slices.Contains(secretFields, n) || strings.HasSuffix(n, "_secret") || strings.HasSuffix(n, "_hash") || strings.HasSuffix(n, "_token")
}

// Redact returns the JSON object doc without secret fields; nil stays nil,
// and a value that is not an object passes through.
func Redact(objectType string, doc json.RawMessage) json.RawMessage {
	if len(doc) == 0 || string(doc) == "null" {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(doc, &m) != nil {
		return doc
	}
	changed := false
	for k := range m {
		if IsSecretField(objectType, k) {
			delete(m, k)
			changed = true
		}
	}
	if !changed {
		return doc
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil
	}
	return out
}

// Field is one top-level field of an entry's object, before and after.
type Field struct {
	Name    string
	Before  string // JSON text; "" when absent
	After   string
	Changed bool
}

// Diff lists the top-level fields of before and after, in name order,
// marking those that differ.
func Diff(before, after json.RawMessage) []Field {
	b, a := fields(before), fields(after)
	names := make([]string, 0, len(b)+len(a))
	for k := range b {
		names = append(names, k)
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	out := make([]Field, 0, len(names))
	for _, n := range names {
		bv, bok := b[n]
		av, aok := a[n]
		f := Field{Name: n, Before: compact(bv), After: compact(av)}
		f.Changed = bok != aok || !sameJSON(bv, av)
		out = append(out, f)
	}
	return out
}

func fields(doc json.RawMessage) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if len(doc) > 0 {
		_ = json.Unmarshal(doc, &m)
	}
	return m
}

func compact(v json.RawMessage) string {
	if len(v) == 0 {
		return ""
	}
	var x any
	if json.Unmarshal(v, &x) != nil {
		return string(v)
	}
	b, _ := json.Marshal(x)
	return string(b)
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return string(a) == string(b)
	}
	return reflect.DeepEqual(x, y)
}

// Store reads the trail (the main database's store).
type Store interface {
	ListAudit(ctx context.Context, f Filter, page gatehouse.PageRequest) (gatehouse.Page[AuditEntry], error)
	GetAudit(ctx context.Context, f Filter, id string) (*AuditEntry, error)
	ExportAudit(ctx context.Context, f Filter, fn func(*AuditEntry) error) error
}
