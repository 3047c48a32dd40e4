package facts

import (
	"context"
	"errors"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/authz"
)

// compileConditions is the engine's own check of condition JSON.
var compileConditions = authz.CompileConditions

// tupleValidator is what the engine offers to check a tuple before it is
// written (a cycle, a chain longer than authz.MaxDepth).
type tupleValidator interface {
	ValidateTuple(authz.Tuple) error
	PutTuple(authz.Tuple) error
}

// tupleChecker returns a check of tuples against envID's engine, caught up
// with the feed: call it inside the write (the environment's write lock is
// held, so nothing commits in between). For a batch, the tuples are put on
// a copy of the engine one after the other, so that a cycle through
// several new tuples is found too.
func (s *Service) tupleChecker(ctx context.Context, envID string, batch bool) (func(authz.Tuple) error, error) {
	e, err := s.Engines.Get(ctx, envID)
	if err != nil {
		return nil, err
	}
	if err := s.Engines.CatchUp(ctx, envID); err != nil {
		return nil, err
	}
	if e2, _, ok := s.Engines.Loaded(envID); ok {
		e = e2 // reloaded while catching up
	}
	if batch {
		scratch := authz.New()
		if err := scratch.Load(e.Data()); err != nil {
			return nil, err
		}
		e = scratch
	}
	v, ok := any(e).(tupleValidator)
	if !ok {
		return func(authz.Tuple) error { return nil }, nil
	}
	return func(t authz.Tuple) error {
		if err := v.ValidateTuple(t); err != nil {
			return tupleError(t, err)
		}
		if batch {
			return tupleError(t, v.PutTuple(t))
		}
		return nil
	}, nil
}

// tupleError turns the engine's refusal into an INVALID_REQUEST naming it.
func tupleError(t authz.Tuple, err error) error {
	if err == nil {
		return nil
	}
	msg := strings.TrimPrefix(err.Error(), authz.ErrInvalid.Error()+": ")
	if errors.Is(err, authz.ErrInvalid) || errors.Is(err, authz.ErrNotFound) {
		return &gatehouse.Error{Code: gatehouse.CodeInvalidRequest, Message: "relationship tuple " + t.Subject + " " + t.Relation + " " + t.Object + " refused: " + msg,
			Details: map[string]any{"reason": "invalid_tuple", "subject": t.Subject, "relation": t.Relation, "object": t.Object}}
	}
	return err
}
