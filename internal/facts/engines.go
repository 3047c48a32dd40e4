package facts

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// Engines holds this node's decision engine per environment, loaded on
// first use and kept current from the change feed.
type Engines struct {
	svc  *Service
	envs sync.Map // env id → *envEngine

	wmu   sync.Mutex
	moved map[string]chan struct{} // env id → closed at the feed's next movement
}

type envEngine struct {
	engine atomic.Pointer[authz.Engine] // nil until loaded; read without locks

	mu  sync.Mutex // serializes loading and catching up
	seq int64      // feed position applied
}

func newEngines(s *Service) *Engines { return &Engines{svc: s, moved: map[string]chan struct{}{}} }

// Moved returns a channel that is closed the next time this node sees
// envID's change feed move (its own writes and, on PostgreSQL, other
// nodes'). Take it before reading the feed so that no movement is missed.
func (m *Engines) Moved(envID string) <-chan struct{} {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	ch, ok := m.moved[envID]
	if !ok {
		ch = make(chan struct{})
		m.moved[envID] = ch
	}
	return ch
}

// Wake wakes whoever waits on Moved(envID) without the feed moving (the
// environment's settings changed: PDP streams re-send them).
func (m *Engines) Wake(envID string) { m.signal(envID) }

func (m *Engines) signal(envID string) {
	m.wmu.Lock()
	if ch, ok := m.moved[envID]; ok {
		close(ch)
		delete(m.moved, envID)
	}
	m.wmu.Unlock()
}

// Snapshot returns everything of envID's engine and the feed position it
// corresponds to, loading the engine if needed.
func (m *Engines) Snapshot(ctx context.Context, envID string) (authz.Data, int64, error) {
	if _, err := m.Get(ctx, envID); err != nil {
		return authz.Data{}, 0, err
	}
	ee := m.slot(envID)
	ee.mu.Lock() // no change applies while the data is copied
	defer ee.mu.Unlock()
	e := ee.engine.Load()
	if e == nil { // dropped for a reload in between: read the database
		return m.svc.Store.LoadEnvironment(ctx, envID)
	}
	return e.Data(), ee.seq, nil
}

func (m *Engines) slot(envID string) *envEngine {
	if v, ok := m.envs.Load(envID); ok {
		return v.(*envEngine)
	}
	v, _ := m.envs.LoadOrStore(envID, &envEngine{})
	return v.(*envEngine)
}

// Get returns the engine of envID, loading it on first use.
func (m *Engines) Get(ctx context.Context, envID string) (*authz.Engine, error) {
	ee := m.slot(envID)
	if e := ee.engine.Load(); e != nil {
		return e, nil
	}
	ee.mu.Lock()
	defer ee.mu.Unlock()
	if e := ee.engine.Load(); e != nil {
		return e, nil
	}
	data, seq, err := m.svc.Store.LoadEnvironment(ctx, envID)
	if err != nil {
		return nil, err
	}
	e := authz.New()
	if err := e.Load(data); err != nil {
		return nil, fmt.Errorf("load environment %s: %w", envID, err)
	}
	ee.seq = seq
	// Writes that committed after the snapshot found no engine to update.
	if err := m.catchUpLocked(ctx, envID, ee, e); err != nil {
		return nil, err
	}
	ee.engine.Store(e)
	return e, nil
}

// Loaded returns the engine of envID and its feed position, if loaded.
func (m *Engines) Loaded(envID string) (*authz.Engine, int64, bool) {
	v, ok := m.envs.Load(envID)
	if !ok {
		return nil, 0, false
	}
	ee := v.(*envEngine)
	ee.mu.Lock()
	defer ee.mu.Unlock()
	e := ee.engine.Load()
	return e, ee.seq, e != nil
}

// CatchUp applies the feed entries of envID this node has not applied yet.
// Nothing happens for an environment whose engine is not loaded.
func (m *Engines) CatchUp(ctx context.Context, envID string) error {
	defer m.signal(envID)
	v, ok := m.envs.Load(envID)
	if !ok {
		return nil
	}
	ee := v.(*envEngine)
	ee.mu.Lock()
	defer ee.mu.Unlock()
	e := ee.engine.Load()
	if e == nil {
		return nil
	}
	if err := m.catchUpLocked(ctx, envID, ee, e); err != errReload {
		return err
	}
	return nil
}

var errReload = errors.New("environment must be reloaded")

func (m *Engines) catchUpLocked(ctx context.Context, envID string, ee *envEngine, e *authz.Engine) error {
	const batch = 1000
	for {
		changes, err := m.svc.Store.ChangesSince(ctx, envID, ee.seq, batch)
		if err != nil {
			return err
		}
		for _, c := range changes {
			if c.Op == OpFeedCompacted {
				// The feed was compacted past this engine's position: what
				// it missed is gone, so the next use loads it whole.
				m.svc.Log.Info("the change feed was compacted past this engine's position; the environment will be reloaded", "env_id", envID, "seq", ee.seq)
				ee.engine.Store(nil)
				return errReload
			}
			if err := c.Apply(e); err != nil {
				// The engine no longer matches the database: drop it so
				// that the next use reloads it whole.
				m.svc.Log.Warn("change does not apply; the environment will be reloaded", "env_id", envID, "seq", c.Seq, "err", err)
				ee.engine.Store(nil)
				return errReload
			}
			ee.seq = c.Seq
		}
		if len(changes) < batch {
			return nil
		}
	}
}

// Forget drops the engine of envID (its environment was deleted).
func (m *Engines) Forget(envID string) { m.envs.Delete(envID) }

// LoadedEnvironments lists the environments with a loaded engine.
func (m *Engines) LoadedEnvironments() []string {
	var out []string
	m.envs.Range(func(k, v any) bool {
		if v.(*envEngine).engine.Load() != nil {
			out = append(out, k.(string))
		}
		return true
	})
	return out
}

// Sizes are what each loaded engine holds, by environment id.
func (m *Engines) Sizes() map[string]authz.Stats {
	out := map[string]authz.Stats{}
	m.envs.Range(func(k, v any) bool {
		if e := v.(*envEngine).engine.Load(); e != nil {
			out[k.(string)] = e.Stats()
		}
		return true
	})
	return out
}
