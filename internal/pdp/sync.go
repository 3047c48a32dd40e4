package pdp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
)

// apiError is an error answer of the server.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("server answered %d %s: %s", e.Status, e.Code, e.Message)
}

func readAPIError(res *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	var env struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	ae := &apiError{Status: res.StatusCode}
	if json.Unmarshal(body, &env) == nil && env.Error.Code != "" {
		ae.Code, ae.Message = env.Error.Code, env.Error.Message
	} else {
		ae.Code, ae.Message = http.StatusText(res.StatusCode), strings.TrimSpace(string(body))
	}
	return ae
}

func (p *PDP) request(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.cfg.APIURL+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+p.cfg.Key)
	req.Header.Set("User-Agent", "gatehouse-pdp")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// call makes a JSON call and decodes the envelope's data into out.
func (p *PDP) call(ctx context.Context, method, path string, body, out any) error {
	req, err := p.request(ctx, method, path, body)
	if err != nil {
		return err
	}
	res, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		err := readAPIError(res)
		var ae *apiError
		if errors.As(err, &ae) && ae.Status < 500 && ae.Status != http.StatusTooManyRequests {
			return ae.asGatehouse() // not worth retrying
		}
		return err
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		return nil
	}
	env := struct {
		Data any `json:"data"`
	}{Data: out}
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
		return fmt.Errorf("%s %s: decode: %w", method, path, err)
	}
	return nil
}

// snapshot is the server's /v1/pdp/snapshot answer, also the file format
// on disk (with Format and SavedAt).
type snapshot struct {
	Format         int             `json:"format,omitempty"`
	SavedAt        *time.Time      `json:"saved_at,omitempty"`
	OrganizationID string          `json:"organization_id"`
	ProjectID      string          `json:"project_id"`
	EnvironmentID  string          `json:"environment_id"`
	Seq            int64           `json:"seq"`
	DecisionLog    decision.Policy `json:"decision_log"`
	Data           authz.Data      `json:"data"`
}

// fetchSnapshot loads the environment's snapshot from the server and
// serves it.
func (p *PDP) fetchSnapshot(ctx context.Context) error {
	req, err := p.request(ctx, http.MethodGet, "/v1/pdp/snapshot", nil)
	if err != nil {
		return err
	}
	res, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("load snapshot: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return readAPIError(res)
	}
	p.keyAccepted()
	var env struct {
		Data snapshot `json:"data"`
	}
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
		return fmt.Errorf("load snapshot: decode: %w", err)
	}
	return p.install(env.Data, "server")
}

// install serves s in place of the current engine.
func (p *PDP) install(s snapshot, source string) error {
	if s.EnvironmentID != p.claims.EnvironmentID {
		return fmt.Errorf("the snapshot is of environment %s, the key of %s", s.EnvironmentID, p.claims.EnvironmentID)
	}
	e := authz.New()
	if err := e.Load(s.Data); err != nil {
		return fmt.Errorf("load snapshot: %w", err)
	}
	pol := s.DecisionLog
	if pol.Mode == "" {
		pol.Mode = decision.ModeOff
	}
	p.mu.Lock()
	p.engine.Store(e)
	p.seq = s.Seq
	p.needSnapshot = false
	p.st.SnapshotSource = source
	p.mu.Unlock()
	p.policy.Store(&pol)
	if source == "server" {
		p.markDirty()
	}
	st := e.Stats()
	p.log.Info("snapshot loaded", "source", source, "seq", s.Seq, "users", st.Users, "assignments", st.Assignments)
	return nil
}

// errReset ends a stream whose server asked for a new snapshot.
var errReset = errors.New("reset")

// follow reads the change stream from the PDP's position until it ends.
// It returns nil when the server ended the stream normally or asked for a
// new snapshot.
func (p *PDP) follow(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.mu.Lock()
	since := p.seq
	p.mu.Unlock()
	req, err := p.request(ctx, http.MethodGet, "/v1/pdp/changes?since="+strconv.FormatInt(since, 10), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	res, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("open change stream: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return readAPIError(res)
	}
	p.keyAccepted()
	now := time.Now()
	p.setState(func(s *Status) { s.State, s.ConnectedSince, s.LastError = StateSyncing, &now, "" })

	// A silent stream is a dead one: the server sends a heartbeat every 15 s.
	idle := time.AfterFunc(p.cfg.StreamIdle, cancel)
	defer idle.Stop()

	err = client.ReadEvents(res.Body, func() { idle.Reset(p.cfg.StreamIdle) }, func(ev client.StreamEvent) error {
		return p.dispatch(ev.Event, ev.Data)
	})
	switch {
	case errors.Is(err, errReset):
		return nil
	case err != nil && !idle.Stop(): // the idle timer fired and cut the stream
		return fmt.Errorf("change stream silent for %s", p.cfg.StreamIdle)
	}
	return err // nil: the server ended the stream; reconnect from our position
}

// dispatch handles one event of the stream.
func (p *PDP) dispatch(event, data string) error {
	switch event {
	case "change":
		var c facts.Change
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			return fmt.Errorf("change event: %w", err)
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if c.Seq <= p.seq {
			return nil // already applied
		}
		e := p.engine.Load()
		if err := c.Apply(e); err != nil {
			p.needSnapshot = true
			return fmt.Errorf("change %d does not apply (%v): reloading the snapshot", c.Seq, err)
		}
		p.seq = c.Seq
		now := time.Now()
		p.st.LastChangeAt = &now
		p.markDirty()
	case "synced":
		now := time.Now()
		var was string
		p.setState(func(s *Status) { was, s.State, s.LastSyncedAt = s.State, StateSynced, &now })
		if was != StateSynced {
			p.mu.Lock()
			seq := p.seq
			p.mu.Unlock()
			p.log.Info("in sync with the server", "seq", seq)
		}
	case "settings":
		var pol decision.Policy
		if err := json.Unmarshal([]byte(data), &pol); err != nil {
			return fmt.Errorf("settings event: %w", err)
		}
		p.policy.Store(&pol)
	case "reset":
		p.log.Info("the server asked for a new snapshot", "data", data)
		p.mu.Lock()
		p.needSnapshot = true
		p.mu.Unlock()
		return errReset
	}
	return nil
}
