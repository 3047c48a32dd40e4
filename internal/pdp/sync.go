package pdp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// The PDP follows its environment with a client.LocalChecker, the one
// follower of the change feed; these hooks keep its state, its decision
// log policy and its copy on disk.

// apiError is an error answer of the server.
type apiError = client.Error

// refusedKey reports whether err is the server refusing the key (401 or
// 403), unlike a server that cannot be reached.
func refusedKey(err error) bool {
	var ae *apiError
	// 421: a key of another region's organization (the message names its
	// region's URL): no retry here can help.
	return errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden ||
		ae.Status == http.StatusMisdirectedRequest)
}

func (p *PDP) hooks() client.LocalHooks {
	return client.LocalHooks{
		Loaded:    p.loaded,
		Updated:   p.updated,
		Connected: p.connected,
		Synced:    p.synced,
		Reset: func(data string) {
			p.log.Info("the server asked for a new snapshot", "data", data)
		},
		Event:  p.event,
		Failed: p.failed,
	}
}

// loaded admits a snapshot of the server: of the key's environment, with
// the environment's decision log policy.
func (p *PDP) loaded(s *client.Snapshot) error {
	p.keyAccepted()
	if s.EnvironmentID != p.claims.EnvironmentID {
		return fmt.Errorf("the snapshot is of environment %s, the key of %s", s.EnvironmentID, p.claims.EnvironmentID)
	}
	pol := decision.Policy{Mode: decision.ModeOff}
	if len(s.DecisionLog) > 0 {
		if err := json.Unmarshal(s.DecisionLog, &pol); err != nil {
			return fmt.Errorf("load snapshot: decision log policy: %w", err)
		}
		if pol.Mode == "" {
			pol.Mode = decision.ModeOff
		}
	}
	p.policy.Store(&pol)
	p.setState(func(st *Status) { st.SnapshotSource = "server" })
	p.log.Info("snapshot loaded", "source", "server", "seq", s.Seq, "users", len(s.Data.Users), "assignments", len(s.Data.Assignments))
	return nil
}

// updated notes that the copy changed: it is saved soon.
func (p *PDP) updated(e *client.FeedEntry) {
	if e != nil {
		now := time.Now()
		p.setState(func(st *Status) { st.LastChangeAt = &now })
	}
	p.markDirty()
}

func (p *PDP) connected() {
	p.keyAccepted()
	now := time.Now()
	p.setState(func(s *Status) { s.State, s.ConnectedSince, s.LastError = StateSyncing, &now, "" })
}

func (p *PDP) synced(seq int64) {
	now := time.Now()
	var was string
	p.setState(func(s *Status) { was, s.State, s.LastSyncedAt = s.State, StateSynced, &now })
	if was != StateSynced {
		p.log.Info("in sync with the server", "seq", seq)
	}
}

// event handles the stream's events beyond the feed's: the decision log
// policy.
func (p *PDP) event(ev client.StreamEvent) error {
	if ev.Event != "settings" {
		return nil
	}
	var pol decision.Policy
	if err := json.Unmarshal([]byte(ev.Data), &pol); err != nil {
		return fmt.Errorf("settings event: %w", err)
	}
	p.policy.Store(&pol)
	return nil
}

// failed reports a failed sync: the server unreachable, refusing the key,
// or having revoked it.
func (p *PDP) failed(err error, wait time.Duration) {
	state := StateOffline
	if refusedKey(err) {
		state = StateUnauthorized
	}
	if revokedKey(err) {
		state = StateRevoked
		p.keyRevoked(err)
	}
	var was string
	p.setState(func(s *Status) {
		if s.SnapshotSource == "" { // nothing loaded, from the server or disk
			state = StateStarting
		}
		if s.RevokedAt != nil && state == StateOffline {
			state = StateRevoked // revoked stays revoked while the server is away
		}
		if s.State == StateSynced { // current until this moment
			now := time.Now().UTC()
			s.LastSyncedAt = &now
		}
		was, s.State, s.LastError, s.ConnectedSince = s.State, state, err.Error(), nil
	})
	level := slog.LevelDebug // said once per outage
	if was != state {
		level = slog.LevelWarn
	}
	p.log.Log(context.Background(), level, "sync with the server failed; serving the last good snapshot, retrying", "state", state, "err", err, "retry_in", wait)
}

// uploader sends recorded decisions to the server.
type uploader struct{ p *PDP }

func (u *uploader) WriteDecisions(ctx context.Context, entries []decision.Entry) error {
	for len(entries) > 0 {
		n := min(len(entries), decision.MaxBulk)
		batch := make([]client.UploadedDecision, n)
		for i, e := range entries[:n] {
			batch[i] = client.UploadedDecision{Time: e.Time, User: e.User, Action: e.Action, ResourceType: e.ResourceType,
				ResourceKey: e.ResourceKey, Tenant: e.Tenant, Allow: e.Allow, Reason: e.Reason, Role: e.Role}
		}
		// The upload's Idempotency-Key names its decisions: a retry of it
		// (its answer lost on the way back, a timeout after the server
		// wrote it) gets the first answer again instead of writing them
		// twice.
		keyed := client.WithIdempotencyKey(ctx, uploadKey(entries[:n]))
		_, err := u.p.api.UploadDecisions(keyed, batch)
		for inProgress(err) {
			// The first try is still being written: its answer comes
			// once it is (or, should its node have died, the key is free
			// again after the server's lease). Asked again in place,
			// within this write's time.
			t := time.NewTimer(time.Second)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("upload decisions: %w", err)
			case <-t.C:
			}
			_, err = u.p.api.UploadDecisions(keyed, batch)
		}
		if err != nil {
			var ae *apiError
			if errors.As(err, &ae) && ae.Status < 500 && ae.Status != http.StatusTooManyRequests {
				return gatehouse.Errorf(ae.Code, "%s", ae.Message) // not worth retrying
			}
			return err
		}
		entries = entries[n:]
	}
	return nil
}

// uploadKey is the Idempotency-Key of an upload of entries: a hash of
// their ids, which the recorder gives each entry once (a retry sends the
// same ids, another upload others). Without ids, none ("": no header).
func uploadKey(entries []decision.Entry) string {
	h := sha256.New()
	for i := range entries {
		if entries[i].ID == "" {
			return ""
		}
		h.Write([]byte(entries[i].ID))
		h.Write([]byte{0})
	}
	return "pdp-decisions-" + hex.EncodeToString(h.Sum(nil))
}

// inProgress reports the server's answer that a request with the same
// Idempotency-Key is still running.
func inProgress(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == http.StatusConflict && ae.Details["reason"] == "in_progress"
}
