package facts

import (
	"context"
	"errors"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// compileConditions is the engine's own check of condition JSON.
var compileConditions = authz.CompileConditions

// caughtUpEngine returns envID's engine, caught up with the feed: call it
// inside the write (the environment's write lock is held, so nothing
// commits in between) and validate tuples against it
// (authz.Engine.ValidateTuples: several new tuples are validated together,
// without copying the engine).
func (s *Service) caughtUpEngine(ctx context.Context, envID string) (*authz.Engine, error) {
	if _, err := s.Engines.Get(ctx, envID); err != nil {
		return nil, err
	}
	if err := s.Engines.CatchUp(ctx, envID); err != nil {
		return nil, err
	}
	// Again: an engine that a change did not fit was dropped while catching
	// up, and loads afresh here.
	return s.Engines.Get(ctx, envID)
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
