package store

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// Soft delete: an organization, project or environment that is deleted
// keeps its rows, marked with deleted_at and purge_after, its key freed
// (moved to deleted_key) so that a new one may take it. What it holds is
// marked deleted with it (deleted_with). Reads of live data skip deleted
// rows; PurgeDeleted removes them for good once purge_after is past.

func listDeleted(w *where, deleted bool) {
	if deleted {
		w.raw("deleted_at IS NOT NULL")
		return
	}
	w.raw(live)
}

func keyCol(deleted bool) string {
	if deleted {
		return "deleted_key"
	}
	return "key"
}

// tombstoneSet marks rows deleted: their key freed (a unique one that
// cannot be typed as a key: it holds a "~").
const tombstoneSet = "deleted_at = $1, purge_after = $2, deleted_key = key, key = key || '~' || id"

// SoftDeleteOrganization marks organization id, its projects and
// environments deleted at at, to be purged after purge.
func (s *Store) SoftDeleteOrganization(ctx context.Context, id string, at, purge time.Time) error {
	return s.InTx(ctx, func(tx *Store) error {
		if err := execOne(ctx, tx.writer(), "organization", id, "UPDATE organizations SET "+tombstoneSet+" WHERE id = $3 AND "+live,
			micros(at), micros(purge), id); err != nil {
			return err
		}
		for _, table := range []string{"projects", "environments"} {
			if _, err := tx.writer().ExecContext(ctx, "UPDATE "+table+" SET "+tombstoneSet+", deleted_with = $3 WHERE org_id = $3 AND "+live,
				micros(at), micros(purge), id); err != nil {
				return fmt.Errorf("delete organization %s: %w", id, formatError(err))
			}
		}
		return nil
	})
}

// SoftDeleteProject marks project id of orgID and its environments deleted.
func (s *Store) SoftDeleteProject(ctx context.Context, orgID, id string, at, purge time.Time) error {
	return s.InTx(ctx, func(tx *Store) error {
		if err := execOne(ctx, tx.writer(), "project", id, "UPDATE projects SET "+tombstoneSet+" WHERE org_id = $3 AND id = $4 AND "+live,
			micros(at), micros(purge), orgID, id); err != nil {
			return err
		}
		if _, err := tx.writer().ExecContext(ctx, "UPDATE environments SET "+tombstoneSet+", deleted_with = $3 WHERE project_id = $3 AND "+live,
			micros(at), micros(purge), id); err != nil {
			return fmt.Errorf("delete project %s: %w", id, formatError(err))
		}
		return nil
	})
}

// SoftDeleteEnvironment marks environment id of orgID deleted.
func (s *Store) SoftDeleteEnvironment(ctx context.Context, orgID, id string, at, purge time.Time) error {
	return execOne(ctx, s.writer(), "environment", id, "UPDATE environments SET "+tombstoneSet+" WHERE org_id = $3 AND id = $4 AND "+live,
		micros(at), micros(purge), orgID, id)
}

// restoreSet gives a deleted row its key back.
const restoreSet = "deleted_at = NULL, purge_after = NULL, key = deleted_key, deleted_key = ''"

// restore runs the restore of one row and of what was deleted with it; a
// key taken meanwhile is a CONFLICT naming it.
func restore(ctx context.Context, tx *Store, what, id, key, query string, args ...any) error {
	err := execOne(ctx, tx.writer(), what, id, query, args...)
	if gatehouse.ErrorCode(err) == gatehouse.CodeConflict {
		return &gatehouse.Error{Code: gatehouse.CodeConflict,
			Message: fmt.Sprintf("cannot restore %s %s: another %s took its key %q meanwhile; rename or delete that one first", what, id, what, key),
			Details: map[string]any{"field": "key", "reason": "taken", "value": key}}
	}
	return err
}

// RestoreOrganization restores deleted organization id with what was
// deleted with it.
func (s *Store) RestoreOrganization(ctx context.Context, id string) error {
	return s.InTx(ctx, func(tx *Store) error {
		o, err := tx.DeletedOrganization(ctx, id)
		if err != nil {
			return err
		}
		if err := restore(ctx, tx, "organization", id, o.Key, "UPDATE organizations SET "+restoreSet+" WHERE id = $1 AND deleted_at IS NOT NULL", id); err != nil {
			return err
		}
		for _, table := range []string{"projects", "environments"} {
			if _, err := tx.writer().ExecContext(ctx, "UPDATE "+table+" SET "+restoreSet+", deleted_with = '' WHERE org_id = $1 AND deleted_with = $1", id); err != nil {
				return fmt.Errorf("restore organization %s: %w", id, formatError(err))
			}
		}
		return nil
	})
}

// RestoreProject restores deleted project id of orgID with the
// environments deleted with it.
func (s *Store) RestoreProject(ctx context.Context, orgID, id string) error {
	return s.InTx(ctx, func(tx *Store) error {
		p, err := tx.DeletedProject(ctx, orgID, id)
		if err != nil {
			return err
		}
		if p.DeletedWith != "" {
			return gatehouse.Errorf(gatehouse.CodeConflict, "project %s was deleted with its organization: restore the organization", id)
		}
		if err := restore(ctx, tx, "project", id, p.Key, "UPDATE projects SET "+restoreSet+" WHERE org_id = $1 AND id = $2", orgID, id); err != nil {
			return err
		}
		if _, err := tx.writer().ExecContext(ctx, "UPDATE environments SET "+restoreSet+", deleted_with = '' WHERE project_id = $1 AND deleted_with = $1", id); err != nil {
			return fmt.Errorf("restore project %s: %w", id, formatError(err))
		}
		return nil
	})
}

// RestoreEnvironment restores deleted environment id of orgID.
func (s *Store) RestoreEnvironment(ctx context.Context, orgID, id string) error {
	return s.InTx(ctx, func(tx *Store) error {
		e, err := tx.DeletedEnvironment(ctx, orgID, id)
		if err != nil {
			return err
		}
		if e.DeletedWith != "" {
			return gatehouse.Errorf(gatehouse.CodeConflict, "environment %s was deleted with its project: restore the project", id)
		}
		return restore(ctx, tx, "environment", id, e.Key, "UPDATE environments SET "+restoreSet+" WHERE org_id = $1 AND id = $2", orgID, id)
	})
}

// DeletedOrganization returns organization id while it is deleted.
func (s *Store) DeletedOrganization(ctx context.Context, id string) (*tenancy.Organization, error) {
	return getOne(ctx, s.reader(), "deleted organization", id,
		"SELECT "+orgSelect+" FROM organizations WHERE id = $1 AND deleted_at IS NOT NULL", scanOrg, id)
}

// DeletedThing is a deleted project or environment with what took it.
type DeletedThing struct {
	Key string
	// DeletedWith is the id of the organization or project whose deletion
	// took it along ("": deleted itself).
	DeletedWith string
}

func (s *Store) deletedThing(ctx context.Context, what, table, orgID, id string) (*DeletedThing, error) {
	return getOne(ctx, s.reader(), "deleted "+what, id,
		"SELECT deleted_key, deleted_with FROM "+table+" WHERE org_id = $1 AND id = $2 AND deleted_at IS NOT NULL",
		func(sc scanner) (DeletedThing, error) {
			var d DeletedThing
			return d, sc.Scan(&d.Key, &d.DeletedWith)
		}, orgID, id)
}

// DeletedProject returns project id of orgID while it is deleted.
func (s *Store) DeletedProject(ctx context.Context, orgID, id string) (*DeletedThing, error) {
	return s.deletedThing(ctx, "project", "projects", orgID, id)
}

// DeletedEnvironment returns environment id of orgID while it is deleted.
func (s *Store) DeletedEnvironment(ctx context.Context, orgID, id string) (*DeletedThing, error) {
	return s.deletedThing(ctx, "environment", "environments", orgID, id)
}

// Purged lists what PurgeDeleted removed, by id.
type Purged struct {
	Organizations, Projects, Environments []string
}

// PurgeDeleted removes for good what was deleted and whose grace period
// ended before now, with everything in it.
func (s *Store) PurgeDeleted(ctx context.Context, now time.Time) (Purged, error) {
	var out Purged
	err := s.InTx(ctx, func(tx *Store) error {
		for _, t := range []struct {
			table string
			ids   *[]string
		}{{"environments", &out.Environments}, {"projects", &out.Projects}, {"organizations", &out.Organizations}} {
			ids, err := queryAll(ctx, tx.writer(), "SELECT id FROM "+t.table+" WHERE purge_after <= $1", func(sc scanner) (string, error) {
				var id string
				return id, sc.Scan(&id)
			}, micros(now))
			if err != nil {
				return err
			}
			for _, id := range ids {
				if _, err := tx.writer().ExecContext(ctx, "DELETE FROM "+t.table+" WHERE id = $1", id); err != nil {
					return fmt.Errorf("purge %s %s: %w", t.table, id, formatError(err))
				}
			}
			*t.ids = ids
		}
		return nil
	})
	return out, err
}
