// Package auth describes who is calling (a Principal) and what parts of an
// organization that caller can reach. It holds no I/O.
package auth

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
)

// Level is the reach of an API key: a whole organization, one
// project and its environments, or one environment.
type Level string

// Key levels.
const (
	LevelOrganization Level = "organization"
	LevelProject      Level = "project"
	LevelEnvironment  Level = "environment"
)

// Valid reports whether l is one of the three levels.
func (l Level) Valid() bool {
	return l == LevelOrganization || l == LevelProject || l == LevelEnvironment
}

// rank orders levels from widest (0) to narrowest (2).
func (l Level) rank() int {
	switch l {
	case LevelOrganization:
		return 0
	case LevelProject:
		return 1
	default:
		return 2
	}
}

// Principal is an authenticated caller. Values handed out by the verifier are
// shared and must not be modified.
type Principal struct {
	KeyID   string
	KeyName string
	// MemberID is set, instead of KeyID, for a member signed in to the
	// dashboard (KeyName is then the member's email).
	MemberID      string
	Level         Level
	OrgID         string
	ProjectID     string // set for project and environment keys
	EnvironmentID string // set for environment keys
	Scopes        gatehouse.ScopeSet
	ExpiresAt     time.Time // zero: never
	// RateLimitPerHour is the key's own limit; 0: none of its own.
	RateLimitPerHour int
	// OrgDeleted: the key's organization was deleted (and may still be
	// restored). Such a key is admitted only to restore it.
	OrgDeleted bool
	// Checks counts this environment key's permission checks (nil for other
	// callers: they are counted through the server's meter).
	Checks *usage.Counts

	actor string // Actor, when Seal computed it
}

// Seal computes what p's readers ask for on every call (Actor), once: for
// a principal shared by many calls, before it is shared.
func (p *Principal) Seal() *Principal {
	p.actor = ""
	p.actor = p.Actor()
	return p
}

// Actor names who p is in records: "key:<id>" or "member:<id>".
func (p *Principal) Actor() string {
	if p.actor != "" {
		return p.actor
	}
	if p.MemberID != "" {
		return "member:" + p.MemberID
	}
	return "key:" + p.KeyID
}

// IsOrganization reports whether p acts on the whole organization.
func (p *Principal) IsOrganization() bool { return p.Level == LevelOrganization }

// CanManageProject reports whether p may act on project-level things of
// projectID (the project itself, its environments).
func (p *Principal) CanManageProject(projectID string) bool {
	switch p.Level {
	case LevelOrganization:
		return true
	case LevelProject:
		return p.ProjectID == projectID
	}
	return false
}

// CanSeeProject reports whether p may read project projectID. An environment
// key may read the project its environment belongs to.
func (p *Principal) CanSeeProject(projectID string) bool {
	return p.Level == LevelOrganization || p.ProjectID == projectID
}

// CanReachEnvironment reports whether p may act inside environment envID of
// project projectID.
func (p *Principal) CanReachEnvironment(projectID, envID string) bool {
	switch p.Level {
	case LevelOrganization:
		return true
	case LevelProject:
		return p.ProjectID == projectID
	}
	return p.EnvironmentID == envID
}

// CanIssue reports whether p may create a key of level at the given project
// and environment: never wider than itself, never outside its reach.
func (p *Principal) CanIssue(level Level, projectID, envID string) bool {
	if level.rank() < p.Level.rank() {
		return false
	}
	switch level {
	case LevelOrganization:
		return p.IsOrganization()
	case LevelProject:
		return p.CanManageProject(projectID)
	default:
		return p.CanReachEnvironment(projectID, envID)
	}
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal in ctx, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(ctxKey{}).(*Principal)
	return p
}
