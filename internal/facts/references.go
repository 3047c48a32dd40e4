package facts

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/event"
)

// One rule for every delete (or removal, such as an action taken off a
// resource type) that something else refers to: roles' permissions refer to
// resource types and their actions, roles' extends to other roles, role
// assignments to roles. Without cascade the delete is refused (CONFLICT)
// with the list of referrers; with cascade the references are removed in
// the same transaction, each with its change in the feed and its webhook
// event. A user's or tenant's own role assignments are part of it, not
// references: they go with it, as documented.

// Referrer is something that refers to what is being deleted.
type Referrer struct {
	Kind string `json:"kind"` // role, role_assignment, resource_role, relation, instance, tuple, condition_set, set_rule
	Key  string `json:"key,omitempty"`
	// Via is the field that refers: permissions, extends, role.
	Via string `json:"via"`
	// Values are the referring values (permissions such as "doc:read").
	Values []string `json:"values,omitempty"`
	// User and Tenant name an assignment.
	User   string `json:"user,omitempty"`
	Tenant string `json:"tenant,omitempty"`
}

// maxListedReferrers bounds the referrers an error lists; the total is
// given too.
const maxListedReferrers = 100

func inUse(what string, refs []Referrer, total int) error {
	var names []string
	for _, r := range refs {
		switch r.Kind {
		case "role":
			names = append(names, "role "+r.Key+" ("+r.Via+")")
		case "role_assignment":
			names = append(names, "assignment of "+r.User+" in "+r.Tenant)
		default: // resource_role, relation, instance, tuple, condition_set, set_rule
			names = append(names, strings.ReplaceAll(r.Kind, "_", " ")+" "+r.Key+" ("+r.Via+")")
		}
		if len(names) == 5 {
			break
		}
	}
	more := ""
	if total > len(names) {
		more = fmt.Sprintf(" and %d more", total-len(names))
	}
	listed := refs
	if len(listed) > maxListedReferrers {
		listed = listed[:maxListedReferrers]
	}
	return &gatehouse.Error{Code: gatehouse.CodeConflict,
		Message: fmt.Sprintf("%s is still in use by %s%s: remove those references first, or repeat with ?cascade=true to remove them with it", what, strings.Join(names, ", "), more),
		Details: map[string]any{"reason": "in_use", "referrers": listed, "total_referrers": total, "cascade": "?cascade=true removes the references in the same transaction"}}
}

// permissionsOf returns the permissions of r that match (resource type,
// and action unless action is "").
func permissionsOf(r *Role, resource string, actions []string) []string {
	var out []string
	for _, p := range r.Permissions {
		res, act, _ := strings.Cut(p, ":")
		if res == resource && (actions == nil || slices.Contains(actions, act)) {
			out = append(out, p)
		}
	}
	return out
}

// dropPermissions removes, in tx, the permissions of roles on resource
// (its actions in actions, or every one when actions is nil), or refuses
// when not cascading. what names the thing being removed, for the error.
func (s *Service) dropPermissions(ctx context.Context, tx Store, envID, what, resource string, actions []string, cascade bool) ([]Change, error) {
	roles, err := tx.AllRoles(ctx, envID)
	if err != nil {
		return nil, err
	}
	var refs []Referrer
	var touched []*Role
	for i := range roles {
		if ps := permissionsOf(&roles[i], resource, actions); len(ps) > 0 {
			refs = append(refs, Referrer{Kind: "role", Key: roles[i].Key, Via: "permissions", Values: ps})
			touched = append(touched, &roles[i])
		}
	}
	if len(refs) == 0 {
		return nil, nil
	}
	if !cascade {
		return nil, inUse(what, refs, len(refs))
	}
	var changes []Change
	for i, r := range touched {
		r.Permissions = slices.DeleteFunc(r.Permissions, func(p string) bool { return slices.Contains(refs[i].Values, p) })
		r.UpdatedAt = s.now()
		if err := tx.UpdateRole(ctx, r); err != nil {
			return nil, err
		}
		changes = append(changes, change(OpPutRole, r.Authz()))
		if err := s.emit(ctx, tx, envID, event.RoleUpdated, r); err != nil {
			return nil, err
		}
	}
	return changes, nil
}

// roleReferrers finds the roles that extend r and r's assignments, and
// with cascade removes them (the extends entries; the assignments).
func (s *Service) dropRoleReferences(ctx context.Context, tx Store, envID string, r *Role, cascade bool) ([]Change, error) {
	roles, err := tx.AllRoles(ctx, envID)
	if err != nil {
		return nil, err
	}
	var refs []Referrer
	var children []*Role
	for i := range roles {
		if o := &roles[i]; o.Key != r.Key && slices.Contains(o.Extends, r.Key) {
			refs = append(refs, Referrer{Kind: "role", Key: o.Key, Via: "extends", Values: []string{r.Key}})
			children = append(children, o)
		}
	}
	var assignments []Assignment
	total := len(refs)
	for page := 1; ; page++ {
		res, err := tx.ListAssignments(ctx, AssignmentFilter{EnvID: envID, Role: r.Key}, gatehouse.PageRequest{Page: page, PerPage: 1000})
		if err != nil {
			return nil, err
		}
		if page == 1 {
			total += res.Total
		}
		for _, a := range res.Items {
			if len(refs) < maxListedReferrers {
				refs = append(refs, Referrer{Kind: "role_assignment", Via: "role", User: a.User, Tenant: a.Tenant})
			}
		}
		if !cascade {
			break // only the first ones are listed
		}
		assignments = append(assignments, res.Items...)
		if page*1000 >= res.Total {
			break
		}
	}
	if total == 0 {
		return nil, nil
	}
	if !cascade {
		return nil, inUse(fmt.Sprintf("role %q", r.Key), refs, total)
	}
	var changes []Change
	for _, o := range children {
		o.Extends = slices.DeleteFunc(o.Extends, func(k string) bool { return k == r.Key })
		o.UpdatedAt = s.now()
		if err := tx.UpdateRole(ctx, o); err != nil {
			return nil, err
		}
		changes = append(changes, change(OpPutRole, o.Authz()))
		if err := s.emit(ctx, tx, envID, event.RoleUpdated, o); err != nil {
			return nil, err
		}
	}
	for _, a := range assignments {
		if err := tx.DeleteAssignment(ctx, envID, a.UserID, a.RoleID, a.TenantID); err != nil {
			return nil, err
		}
		changes = append(changes, change(OpUnassign, authz.Assignment{User: a.User, Role: a.Role, Tenant: a.Tenant}))
		if err := s.emit(ctx, tx, envID, event.RoleAssignmentDeleted, a); err != nil {
			return nil, err
		}
	}
	return changes, nil
}
