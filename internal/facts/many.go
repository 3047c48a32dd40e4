package facts

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/event"
)

// Writes of many items in one transaction: all of them or none (Permit's
// user sync and bulk operations).

// PutUserMode says what PutUser does with an existing user.
type PutUserMode int

const (
	// PutCreate fails with CONFLICT when the user exists.
	PutCreate PutUserMode = iota
	// PutReplace replaces an existing user's email, names and attributes
	// by the ones given (absent: empty).
	PutReplace
)

// PutUser creates a user (or, with PutReplace, replaces one) and gives it
// the role assignments listed, in one transaction. created reports whether
// the user is new.
func (s *Service) PutUser(ctx context.Context, envID string, in UserInput, assign []AssignInput, mode PutUserMode) (u *User, created bool, err error) {
	err = s.write(ctx, envID, func(tx Store) ([]Change, error) {
		var changes []Change
		u, created, changes, err = s.putUserTx(ctx, tx, envID, in, mode)
		if err != nil {
			return nil, err
		}
		more, err := s.assignAllTx(ctx, tx, envID, u.Key, assign)
		return append(changes, more...), err
	})
	return u, created, err
}

func (s *Service) putUserTx(ctx context.Context, tx Store, envID string, in UserInput, mode PutUserMode) (*User, bool, []Change, error) {
	if err := validKey("key", in.Key); err != nil {
		return nil, false, nil, err
	}
	if err := in.validate(); err != nil {
		return nil, false, nil, err
	}
	now := s.now()
	u, err := tx.GetUser(ctx, envID, in.Key)
	switch {
	case gatehouse.ErrorCode(err) == gatehouse.CodeNotFound:
		u = &User{ID: newID(), EnvID: envID, Key: in.Key, Email: in.Email, FirstName: in.FirstName, LastName: in.LastName,
			Attributes: orEmpty(in.Attributes), CreatedAt: now, UpdatedAt: now}
		if err := tx.CreateUser(ctx, u); err != nil {
			return nil, false, nil, err
		}
		return u, true, []Change{change(OpPutUser, u.Authz())}, s.emit(ctx, tx, envID, event.UserCreated, u)
	case err != nil:
		return nil, false, nil, err
	case mode == PutCreate:
		return nil, false, nil, &gatehouse.Error{Code: gatehouse.CodeConflict, Message: fmt.Sprintf("a user with key %q already exists", in.Key),
			Details: map[string]any{"field": "key", "value": in.Key, "reason": "already_exists"}}
	}
	u.Email, u.FirstName, u.LastName, u.Attributes, u.UpdatedAt = in.Email, in.FirstName, in.LastName, orEmpty(in.Attributes), now
	if err := tx.UpdateUser(ctx, u); err != nil {
		return nil, false, nil, err
	}
	return u, false, []Change{change(OpPutUser, u.Authz())}, s.emit(ctx, tx, envID, event.UserUpdated, u)
}

// assignAllTx gives user the assignments that it does not hold yet.
func (s *Service) assignAllTx(ctx context.Context, tx Store, envID, user string, assign []AssignInput) ([]Change, error) {
	var changes []Change
	for _, a := range assign {
		a.User = user
		c, err := s.assignIfMissingTx(ctx, tx, envID, a)
		if err != nil {
			return nil, err
		}
		changes = append(changes, c...)
	}
	return changes, nil
}

// assignIfMissingTx makes an assignment unless it exists (asked first: a
// failed insert would end a PostgreSQL transaction). An assignment on a
// resource instance is a role of the instance's type on that instance.
func (s *Service) assignIfMissingTx(ctx context.Context, tx Store, envID string, in AssignInput) ([]Change, error) {
	if in.ResourceInstance != "" {
		return s.assignInstanceIfMissingTx(ctx, tx, envID, in)
	}
	u, r, t, err := s.resolve(ctx, tx, envID, in)
	if err != nil {
		return nil, err
	}
	have, err := tx.ListAssignments(ctx, AssignmentFilter{EnvID: envID, User: u.Key, Role: r.Key, Tenant: t.Key}, gatehouse.PageRequest{Page: 1, PerPage: 1})
	if err != nil {
		return nil, err
	}
	if have.Total > 0 {
		return nil, nil
	}
	_, changes, err := s.createAssignmentTx(ctx, tx, envID, u, r, t)
	return changes, err
}

// PutUsers is PutUser for many users (without assignments), in one
// transaction.
func (s *Service) PutUsers(ctx context.Context, envID string, in []UserInput, mode PutUserMode) (created, replaced int, err error) {
	err = s.write(ctx, envID, func(tx Store) ([]Change, error) {
		var all []Change
		for i := range in {
			_, isNew, changes, err := s.putUserTx(ctx, tx, envID, in[i], mode)
			if err != nil {
				return nil, atIndex(err, "user %d (%q): ", i, in[i].Key)
			}
			if isNew {
				created++
			} else {
				replaced++
			}
			all = append(all, changes...)
		}
		return all, nil
	})
	return created, replaced, err
}

// atIndex is the error of item i of a write of many: its message after
// the prefix naming the item, its details (the field at fault, say) kept
// with the item's index.
func atIndex(err error, prefix string, args ...any) error {
	var e *gatehouse.Error
	if !errors.As(err, &e) {
		return err // unexpected: reported as an internal error, unchanged
	}
	args = append([]any{}, args...)
	out := &gatehouse.Error{Code: e.Code, Message: fmt.Sprintf(prefix, args...) + e.Message, Details: map[string]any{"index": args[0]}}
	for k, v := range e.Details {
		out.Details[k] = v
	}
	return out
}

// DeleteUsers deletes users (by id or key) and their assignments in one
// transaction; users that do not exist are skipped. It returns how many
// were deleted.
func (s *Service) DeleteUsers(ctx context.Context, envID string, refs []string) (int, error) {
	return s.eachFound(ctx, envID, len(refs), func(tx Store, i int) ([]Change, error) { return s.deleteUserTx(ctx, tx, envID, refs[i]) })
}

// eachFound runs n writes in one transaction, skipping those that find
// nothing to change (NOT_FOUND), and counts the others.
func (s *Service) eachFound(ctx context.Context, envID string, n int, fn func(tx Store, i int) ([]Change, error)) (done int, err error) {
	err = s.write(ctx, envID, func(tx Store) ([]Change, error) {
		var all []Change
		for i := range n {
			changes, err := fn(tx, i)
			if gatehouse.ErrorCode(err) == gatehouse.CodeNotFound {
				continue
			}
			if err != nil {
				return nil, err
			}
			done++
			all = append(all, changes...)
		}
		return all, nil
	})
	return done, err
}

// AssignMany makes the assignments that do not exist yet, in one
// transaction: an unknown user, role or tenant fails them all. It returns
// how many it made.
func (s *Service) AssignMany(ctx context.Context, envID string, in []AssignInput) (n int, err error) {
	err = s.write(ctx, envID, func(tx Store) ([]Change, error) {
		var all []Change
		for i, a := range in {
			changes, err := s.assignIfMissingTx(ctx, tx, envID, a)
			if err != nil {
				return nil, atIndex(err, "assignment %d: ", i)
			}
			if len(changes) > 0 {
				n++
			}
			all = append(all, changes...)
		}
		return all, nil
	})
	return n, err
}

// UnassignMany removes the assignments that exist, in one transaction,
// and returns how many it removed.
func (s *Service) UnassignMany(ctx context.Context, envID string, in []AssignInput) (int, error) {
	return s.eachFound(ctx, envID, len(in), func(tx Store, i int) ([]Change, error) { return s.unassignTx(ctx, tx, envID, in[i]) })
}
