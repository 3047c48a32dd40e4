package pdp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// snapshotFormat is the version of the file layout: 2 since the data holds
// the fine-grained model (authz.DataFormat 2); a format 1 file is read as
// it is, a newer one refused.
const snapshotFormat = 2

// SnapshotPath is where the PDP keeps its environment's last good snapshot.
func (p *PDP) SnapshotPath() string {
	return filepath.Join(p.cfg.DataDir, "snapshot-"+p.claims.EnvironmentID+".json")
}

// snapshot is the file on disk: the server's snapshot (GET
// /v1/pdp/snapshot) with its format and when it was saved.
type snapshot struct {
	Format  int        `json:"format,omitempty"`
	SavedAt *time.Time `json:"saved_at,omitempty"`
	// SyncedAt is when the copy was last known current (the PDP's
	// last_synced_at when it saved it), not when it was saved: a PDP that
	// lost its server and then stopped saved a copy older than its stop.
	SyncedAt       *time.Time      `json:"synced_at,omitempty"`
	OrganizationID string          `json:"organization_id"`
	ProjectID      string          `json:"project_id"`
	EnvironmentID  string          `json:"environment_id"`
	Seq            int64           `json:"seq"`
	DecisionLog    decision.Policy `json:"decision_log"`
	Data           authz.Data      `json:"data"`
}

// loadFromDisk reads the snapshot saved by an earlier run, if any, and
// takes its decision log policy: the PDP starts from it.
func (p *PDP) loadFromDisk() (*client.Snapshot, error) {
	b, err := os.ReadFile(p.SnapshotPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", p.SnapshotPath(), err)
	}
	if s.Format < 1 || s.Format > snapshotFormat {
		return nil, fmt.Errorf("%s: format %d, this PDP reads formats 1 to %d: upgrade it", p.SnapshotPath(), s.Format, snapshotFormat)
	}
	if s.EnvironmentID != p.claims.EnvironmentID {
		return nil, fmt.Errorf("%s: the snapshot is of environment %s, the key of %s", p.SnapshotPath(), s.EnvironmentID, p.claims.EnvironmentID)
	}
	pol := s.DecisionLog
	if pol.Mode == "" {
		pol.Mode = decision.ModeOff
	}
	p.policy.Store(&pol)
	p.setState(func(st *Status) { st.SnapshotSource, st.LastSyncedAt = "disk", s.SyncedAt })
	p.log.Info("snapshot loaded", "source", "disk", "seq", s.Seq, "users", len(s.Data.Users), "assignments", len(s.Data.Assignments))
	return &client.Snapshot{OrganizationID: s.OrganizationID, ProjectID: s.ProjectID, EnvironmentID: s.EnvironmentID, Seq: s.Seq, Data: s.Data}, nil
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
	lc := p.lc.Load()
	if lc == nil {
		return nil
	}
	data, seq, ok := lc.Copy()
	if !ok {
		return nil
	}
	now := time.Now().UTC()
	s := snapshot{Format: snapshotFormat, SavedAt: &now, SyncedAt: p.Status().LastSyncedAt, OrganizationID: p.claims.OrgID, ProjectID: p.claims.ProjectID,
		EnvironmentID: p.claims.EnvironmentID, Seq: seq, DecisionLog: *p.policy.Load(), Data: data}
	if err := os.MkdirAll(p.cfg.DataDir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(p.cfg.DataDir, ".snapshot-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	cw := &countingWriter{w: tmp}
	if err := writeSnapshot(cw, &s); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	// The copy is garbage from here: unreferenced before the release below.
	data, s.Data = authz.Data{}, authz.Data{}
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
	p.releaseAfter(cw.n)
	return nil
}

// releaseAfter gives the runtime's freed pages back to the system after a
// large snapshot was copied and encoded (n bytes of JSON): that transient
// is twice or more the engine's size, and the collector would otherwise
// keep it mapped as room to grow, so a PDP's resident memory after its
// start would be its peak rather than what it holds. At most once a
// minute (a PDP following a busy environment persists every second), but
// never dropped: a save within the minute after a release is released
// when the minute is up, once for all the saves in between.
func (p *PDP) releaseAfter(n int) {
	const big = 1 << 20
	if n < big {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.releasing {
		return // the pending release covers this save too
	}
	p.releasing = true
	time.AfterFunc(max(time.Until(p.released.Add(releaseGap)), 0), func() {
		p.mu.Lock()
		p.released, p.releasing = time.Now(), false
		free := p.freeOSMemory
		p.mu.Unlock()
		if free == nil {
			free = debug.FreeOSMemory
		}
		free()
	})
}

// releaseGap is the least time between two releases after saves.
const releaseGap = time.Minute

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += n
	return n, err
}
