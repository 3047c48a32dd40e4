package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/event"
	"github.com/gatehouse-dev/gatehouse/internal/status"
	"github.com/gatehouse-dev/gatehouse/internal/webhook"
	"github.com/google/uuid"
)

var _ status.Store = (*Store)(nil)

// InStatusTx runs fn in one transaction.
func (s *Store) InStatusTx(ctx context.Context, fn func(status.Store) error) error {
	return s.InTx(ctx, func(tx *Store) error { return fn(tx) })
}

// StatusComponents returns every sampled component's current state.
func (s *Store) StatusComponents(ctx context.Context) ([]status.Component, error) {
	return queryAll(ctx, s.reader(), "SELECT component, state, note, since, checked_at FROM status_components ORDER BY component",
		func(sc scanner) (status.Component, error) {
			var c status.Component
			var since, checked int64
			err := sc.Scan(&c.Name, &c.State, &c.Note, &since, &checked)
			c.Since, c.CheckedAt = fromMicros(since), fromMicros(checked)
			return c, err
		})
}

// PutStatusComponent stores a component's current state.
func (s *Store) PutStatusComponent(ctx context.Context, c status.Component) error {
	return exec(ctx, s.writer(), "status component", `INSERT INTO status_components (component, state, note, since, checked_at) VALUES ($1,$2,$3,$4,$5)
		ON CONFLICT (component) DO UPDATE SET state = excluded.state, note = excluded.note, since = excluded.since, checked_at = excluded.checked_at`,
		c.Name, c.State, c.Note, micros(c.Since), micros(c.CheckedAt))
}

// AddStatusSamples adds d's counts to its component's bucket of the day.
func (s *Store) AddStatusSamples(ctx context.Context, d status.Day) error {
	return exec(ctx, s.writer(), "status samples", `INSERT INTO status_days (component, day, up, degraded, down) VALUES ($1,$2,$3,$4,$5)
		ON CONFLICT (component, day) DO UPDATE SET up = status_days.up + excluded.up, degraded = status_days.degraded + excluded.degraded,
		down = status_days.down + excluded.down`, d.Component, d.Day, d.Up, d.Degraded, d.Down)
}

// StatusDays returns the buckets of since (YYYY-MM-DD) and later.
func (s *Store) StatusDays(ctx context.Context, since string) ([]status.Day, error) {
	return queryAll(ctx, s.reader(), "SELECT component, day, up, degraded, down FROM status_days WHERE day >= $1 ORDER BY component, day",
		func(sc scanner) (status.Day, error) {
			var d status.Day
			err := sc.Scan(&d.Component, &d.Day, &d.Up, &d.Degraded, &d.Down)
			return d, err
		}, since)
}

// PruneStatus deletes the buckets before beforeDay and the incidents
// resolved before resolvedBefore (with their updates).
func (s *Store) PruneStatus(ctx context.Context, beforeDay string, resolvedBefore time.Time) (int64, error) {
	var n int64
	err := s.InTx(ctx, func(tx *Store) error {
		res, err := tx.tx.ExecContext(ctx, "DELETE FROM status_days WHERE day < $1", beforeDay)
		if err != nil {
			return fmt.Errorf("prune status days: %w", err)
		}
		a, _ := res.RowsAffected()
		if _, err := tx.tx.ExecContext(ctx, "DELETE FROM status_incident_updates WHERE incident_id IN (SELECT id FROM status_incidents WHERE resolved_at < $1)",
			micros(resolvedBefore)); err != nil {
			return fmt.Errorf("prune incident updates: %w", err)
		}
		res, err = tx.tx.ExecContext(ctx, "DELETE FROM status_incidents WHERE resolved_at < $1", micros(resolvedBefore))
		if err != nil {
			return fmt.Errorf("prune incidents: %w", err)
		}
		b, _ := res.RowsAffected()
		n = a + b
		return nil
	})
	return n, err
}

const incidentCols = "id, title, impact, status, components, created_by, created_at, updated_at, resolved_at"

func scanIncident(sc scanner) (status.Incident, error) {
	var in status.Incident
	var comps string
	var c, u int64
	var resolved sql.NullInt64
	if err := sc.Scan(&in.ID, &in.Title, &in.Impact, &in.Status, &comps, &in.CreatedBy, &c, &u, &resolved); err != nil {
		return in, err
	}
	in.CreatedAt, in.UpdatedAt, in.ResolvedAt = fromMicros(c), fromMicros(u), fromNullMicros(resolved)
	if err := json.Unmarshal([]byte(comps), &in.Components); err != nil {
		return in, fmt.Errorf("incident %s components: %w", in.ID, err)
	}
	return in, nil
}

// CreateIncident stores a new incident (its updates are added apart).
func (s *Store) CreateIncident(ctx context.Context, in *status.Incident) error {
	comps, err := jsonText(in.Components)
	if err != nil {
		return err
	}
	return exec(ctx, s.writer(), "incident", "INSERT INTO status_incidents ("+incidentCols+") VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
		in.ID, in.Title, in.Impact, in.Status, comps, in.CreatedBy, micros(in.CreatedAt), micros(in.UpdatedAt), nullMicros(in.ResolvedAt))
}

// UpdateIncident stores an incident's impact, status, components and times.
func (s *Store) UpdateIncident(ctx context.Context, in *status.Incident) error {
	comps, err := jsonText(in.Components)
	if err != nil {
		return err
	}
	return execOne(ctx, s.writer(), "incident", in.ID, "UPDATE status_incidents SET impact = $2, status = $3, components = $4, updated_at = $5, resolved_at = $6 WHERE id = $1",
		in.ID, in.Impact, in.Status, comps, micros(in.UpdatedAt), nullMicros(in.ResolvedAt))
}

// AddIncidentUpdate stores a message of an incident.
func (s *Store) AddIncidentUpdate(ctx context.Context, u *status.Update) error {
	return exec(ctx, s.writer(), "incident update", "INSERT INTO status_incident_updates (id, incident_id, status, body, created_by, created_at) VALUES ($1,$2,$3,$4,$5,$6)",
		u.ID, u.IncidentID, u.Status, u.Body, u.CreatedBy, micros(u.CreatedAt))
}

// Incident returns an incident with its updates.
func (s *Store) Incident(ctx context.Context, id string) (*status.Incident, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, notFound("incident", id)
	}
	in, err := getOne(ctx, s.reader(), "incident", id, "SELECT "+incidentCols+" FROM status_incidents WHERE id = $1", scanIncident, id)
	if err != nil {
		return nil, err
	}
	ins := []status.Incident{*in}
	if err := s.incidentUpdates(ctx, ins); err != nil {
		return nil, err
	}
	return &ins[0], nil
}

// Incidents lists incidents, newest first, with their updates.
func (s *Store) Incidents(ctx context.Context, f status.IncidentFilter, page gatehouse.PageRequest) (gatehouse.Page[status.Incident], error) {
	w := &where{}
	if f.Open != nil {
		if *f.Open {
			w.raw("resolved_at IS NULL")
		} else {
			w.raw("resolved_at IS NOT NULL")
		}
	}
	page.Sort, page.Desc = "created_at", true
	p, err := listPage(ctx, s.reader(), "status_incidents", incidentCols, w, map[string]string{"created_at": "created_at"}, page, scanIncident)
	if err != nil {
		return p, err
	}
	return p, s.incidentUpdates(ctx, p.Items)
}

// incidentUpdates fills the updates of ins, oldest first.
func (s *Store) incidentUpdates(ctx context.Context, ins []status.Incident) error {
	if len(ins) == 0 {
		return nil
	}
	ids := make([]any, len(ins))
	marks := make([]string, len(ins))
	at := map[string]int{}
	for i, in := range ins {
		ids[i], marks[i], at[in.ID] = in.ID, fmt.Sprintf("$%d", i+1), i
		ins[i].Updates = []status.Update{}
	}
	us, err := queryAll(ctx, s.reader(), "SELECT id, incident_id, status, body, created_by, created_at FROM status_incident_updates WHERE incident_id IN ("+
		strings.Join(marks, ",")+") ORDER BY created_at, id", func(sc scanner) (status.Update, error) {
		var u status.Update
		var c int64
		err := sc.Scan(&u.ID, &u.IncidentID, &u.Status, &u.Body, &u.CreatedBy, &c)
		u.CreatedAt = fromMicros(c)
		return u, err
	}, ids...)
	if err != nil {
		return err
	}
	for _, u := range us {
		i := at[u.IncidentID]
		ins[i].Updates = append(ins[i].Updates, u)
	}
	return nil
}

// OperatorOrganization is the id of the oldest organization, deleted or
// not ("" when there is none).
func (s *Store) OperatorOrganization(ctx context.Context) (string, error) {
	var id string
	err := s.reader().QueryRowContext(ctx, "SELECT id FROM organizations ORDER BY created_at, id LIMIT 1").Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("operator organization: %w", err)
	}
	return id, nil
}

// EmitStatus records an instance-wide event once per organization that has
// an enabled, organization-wide endpoint subscribed to its type by name
// ("*" does not cover instance events: they are not the organization's
// data), with one delivery per such endpoint. Deleted organizations get
// nothing.
func (s *Store) EmitStatus(ctx context.Context, ev event.Event) error {
	if s.tx == nil {
		return s.InTx(ctx, func(tx *Store) error { return tx.EmitStatus(ctx, ev) })
	}
	eps, err := queryAll(ctx, s.tx, "SELECT "+endpointCols+" FROM webhook_endpoints WHERE enabled = $1 AND events LIKE $2 AND project_id IS NULL AND env_id IS NULL"+
		" AND org_id IN (SELECT id FROM organizations WHERE "+live+") ORDER BY org_id, created_at, id", scanEndpoint, true, "%"+ev.Type+"%")
	if err != nil {
		return err
	}
	byOrg := map[string][]*webhook.Endpoint{}
	var orgs []string
	for i := range eps {
		e := &eps[i]
		if !slices.Contains(e.Events, ev.Type) {
			continue
		}
		if _, ok := byOrg[e.OrgID]; !ok {
			orgs = append(orgs, e.OrgID)
		}
		byOrg[e.OrgID] = append(byOrg[e.OrgID], e)
	}
	var deliveries []string
	for _, org := range orgs {
		oe := ev
		oe.ID, oe.OrgID, oe.ProjectID, oe.EnvID = "", org, "", ""
		webhook.Stamp(&oe, func() string { return uuid.Must(uuid.NewV7()).String() }, time.Now())
		body, err := oe.Body()
		if err != nil {
			return fmt.Errorf("emit %s: %w", oe.Type, err)
		}
		if err := exec(ctx, s.tx, "event", "INSERT INTO webhook_events (id, org_id, project_id, env_id, type, payload, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)",
			oe.ID, oe.OrgID, oe.ProjectID, oe.EnvID, oe.Type, string(body), micros(oe.OccurredAt)); err != nil {
			return err
		}
		for _, e := range byOrg[org] {
			id := uuid.Must(uuid.NewV7()).String()
			if err := s.insertDelivery(ctx, &webhook.Delivery{ID: id, EndpointID: e.ID, EventID: oe.ID, OrgID: org, EventType: oe.Type,
				Status: webhook.StatusPending, CreatedAt: oe.OccurredAt, UpdatedAt: oe.OccurredAt}); err != nil {
				return err
			}
			deliveries = append(deliveries, id)
		}
	}
	return s.enqueueDeliveries(ctx, deliveries)
}

// OldestDueDelivery is when the longest-waiting pending delivery became
// due (nil when none waits): the webhooks component's lag.
func (s *Store) OldestDueDelivery(ctx context.Context, now time.Time) (*time.Time, error) {
	var v sql.NullInt64
	err := s.reader().QueryRowContext(ctx, "SELECT min(COALESCE(next_attempt_at, created_at)) FROM webhook_deliveries WHERE status = $1 AND COALESCE(next_attempt_at, created_at) <= $2",
		webhook.StatusPending, micros(now)).Scan(&v)
	if err != nil {
		return nil, fmt.Errorf("oldest due delivery: %w", err)
	}
	return fromNullMicros(v), nil
}

// OldestAvailableJob is when the longest-waiting job of the queue that is
// ready to run was scheduled (nil when none waits): the queue's lag.
func (db *DB) OldestAvailableJob(ctx context.Context) (*time.Time, error) {
	var v any
	err := db.read.QueryRowContext(ctx, "SELECT min(scheduled_at) FROM river_job WHERE state = 'available'").Scan(&v)
	if err != nil {
		return nil, fmt.Errorf("oldest available job: %w", err)
	}
	switch t := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		return &t, nil
	case string:
		return parseRiverTime(t)
	case []byte:
		return parseRiverTime(string(t))
	}
	return nil, fmt.Errorf("oldest available job: a scheduled_at of type %T", v)
}

// parseRiverTime reads a timestamp River's SQLite driver wrote.
func parseRiverTime(s string) (*time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999", time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			return &t, nil
		}
	}
	return nil, fmt.Errorf("oldest available job: cannot read the time %q", s)
}
