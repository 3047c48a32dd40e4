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
	return func(t authz.Tuple) error {
		if err := e.ValidateTuple(t); err != nil {
			return tupleError(t, err)
		}
		if batch {
			return tupleError(t, e.PutTuple(t))
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
		return &gatehouse.Error{Code: gatehouse.CodeInvalidRequest, Message: msg,
			Details: map[string]any{"reason": "invalid_tuple", "subject": t.Subject, "relation": t.Relation, "object": t.Object}}
	}
	return err
}
