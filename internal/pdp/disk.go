package pdp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// snapshotFormat is the version of the file layout.
const snapshotFormat = 1

// SnapshotPath is where the PDP keeps its environment's last good snapshot.
func (p *PDP) SnapshotPath() string {
	return filepath.Join(p.cfg.DataDir, "snapshot-"+p.claims.EnvironmentID+".json")
}

// loadFromDisk serves the snapshot saved by an earlier run, if any.
func (p *PDP) loadFromDisk() error {
	b, err := os.ReadFile(p.SnapshotPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var s snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%s: %w", p.SnapshotPath(), err)
	}
	if s.Format != snapshotFormat {
		return fmt.Errorf("%s: format %d, want %d", p.SnapshotPath(), s.Format, snapshotFormat)
	}
	if err := p.install(s, "disk"); err != nil {
		return err
	}
	p.setState(func(st *Status) { st.LastSyncedAt = s.SavedAt })
	return nil
}

func (p *PDP) markDirty() {
	select {
	case p.dirty <- struct{}{}:
	default:
	}
}

// persistLoop saves the snapshot after changes, at most once per
// PersistEvery.
func (p *PDP) persistLoop(ctx context.Context) {
	for {
		select {
		case <-p.dirty:
		case <-ctx.Done():
			return
		}
		select {
		case <-time.After(p.cfg.PersistEvery):
		case <-ctx.Done():
			return // Run saves once more after this
		}
		if err := p.persist(); err != nil {
			p.log.Error("save the snapshot", "err", err)
		}
	}
}

// persist writes the served snapshot atomically: a temporary file, synced,
// renamed over the old one. The file holds the environment's users, so it
// is readable by its owner only.
func (p *PDP) persist() error {
	p.mu.Lock()
	e := p.engine.Load()
	if e == nil {
		p.mu.Unlock()
		return nil
	}
	now := time.Now().UTC()
	s := snapshot{Format: snapshotFormat, SavedAt: &now, OrganizationID: p.claims.OrgID, ProjectID: p.claims.ProjectID,
		EnvironmentID: p.claims.EnvironmentID, Seq: p.seq, DecisionLog: *p.policy.Load(), Data: e.Data()}
	p.mu.Unlock()
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(p.cfg.DataDir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(p.cfg.DataDir, ".snapshot-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), p.SnapshotPath()); err != nil {
		return err
	}
	if d, err := os.Open(p.cfg.DataDir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
