package store

import (
	"context"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

const decisionCols = "id, org_id, project_id, env_id, created_at, source, request_id, key_id, user_key, action, resource_type, resource_key, tenant, allow, reason, role, uploaded_by_key_id"

// decisionRows is how many entries one INSERT carries (17 parameters each,
// well under both engines' limits).
const decisionRows = 500

// WriteDecisions inserts entries in one transaction; their text is made
// valid UTF-8 without NUL bytes on the way.
func (s *LogStore) WriteDecisions(ctx context.Context, entries []decision.Entry) error {
	return insertAll(ctx, s, "decision_log", decisionCols, 17, decisionRows, entries, func(args []any, e *decision.Entry) []any {
		// A decision carries what a caller sent (user, resource, tenant
		// keys): make it text the database accepts (no NUL, valid UTF-8).
		t := apilog.CleanText
		return append(args, t(e.ID), t(e.OrganizationID), t(e.ProjectID), t(e.EnvironmentID), micros(e.Time), t(e.Source), t(e.RequestID), t(e.KeyID),
			t(e.User), t(e.Action), t(e.ResourceType), t(e.ResourceKey), t(e.Tenant), e.Allow, t(e.Reason), t(e.Role), t(e.UploadedByKeyID))
	}, nil)
}

func scanDecision(sc scanner) (decision.Entry, error) {
	var e decision.Entry
	var at int64
	err := sc.Scan(&e.ID, &e.OrganizationID, &e.ProjectID, &e.EnvironmentID, &at, &e.Source, &e.RequestID, &e.KeyID,
		&e.User, &e.Action, &e.ResourceType, &e.ResourceKey, &e.Tenant, &e.Allow, &e.Reason, &e.Role, &e.UploadedByKeyID)
	e.Time = fromMicros(at)
	return e, err
}

// ListDecisions lists one environment's decisions.
func (s *LogStore) ListDecisions(ctx context.Context, f decision.Filter, page gatehouse.PageRequest) (gatehouse.Page[decision.Entry], error) {
	env := func(w *where) {
		w.add("org_id = ?", f.OrgID)
		w.add("env_id = ?", f.EnvID)
	}
	var allow any
	if f.Allow != nil {
		allow = *f.Allow
	}
	// The filters in the order of how few rows they hold as a rule.
	filters := []logFilter{
		eqFilter("request_id", f.RequestID, f.RequestID != ""), eqFilter("user_key", f.User, f.User != ""), eqFilter("tenant", f.Tenant, f.Tenant != ""),
		eqFilter("role", f.Role, f.Role != ""), eqFilter("resource_type", f.Resource, f.Resource != ""), eqFilter("reason", f.Reason, f.Reason != ""),
		eqFilter("action", f.Action, f.Action != ""), eqFilter("source", f.Source, f.Source != ""), eqFilter("allow", allow, f.Allow != nil)}
	rest := func(w *where) {
		w.addIf(!f.Since.IsZero(), "created_at >= ?", micros(f.Since))
		w.addIf(!f.Until.IsZero(), "created_at < ?", micros(f.Until))
	}
	// Plainly, in the order the list's cursors have been bound to.
	plain := &where{}
	env(plain)
	plain.addIf(f.User != "", "user_key = ?", f.User)
	plain.addIf(f.Action != "", "action = ?", f.Action)
	plain.addIf(f.Resource != "", "resource_type = ?", f.Resource)
	plain.addIf(f.Tenant != "", "tenant = ?", f.Tenant)
	plain.addIf(f.Reason != "", "reason = ?", f.Reason)
	plain.addIf(f.Role != "", "role = ?", f.Role)
	plain.addIf(f.Source != "", "source = ?", f.Source)
	plain.addIf(f.RequestID != "", "request_id = ?", f.RequestID)
	plain.addIf(f.Allow != nil, "allow = ?", allow)
	rest(plain)
	sortCol := ""
	if page.Sort == "user" {
		sortCol = "user_key"
	}
	count, w, err := s.logWheres(ctx, "decision_log", env, filters, rest, page.Sort, sortCol, plain)
	if err != nil {
		return gatehouse.Page[decision.Entry]{}, fmt.Errorf("list decisions: %w", err)
	}
	return listRows(ctx, s.lists(), listQuery{what: "decision_log", cols: decisionCols, from: "decision_log", idCol: "id", countWhere: count,
		sortable: map[string]string{"timestamp": "created_at", "user": "user_key"}}, w, page, scanDecision)
}

// GetDecision returns one decision of an environment.
func (s *LogStore) GetDecision(ctx context.Context, orgID, envID, id string) (*decision.Entry, error) {
	return getOne(ctx, s.db.read, "decision", id, "SELECT "+decisionCols+" FROM decision_log WHERE org_id = $1 AND env_id = $2 AND id = $3",
		scanDecision, orgID, envID, id)
}

// PruneDecisions deletes an organization's decisions older than before and
// reports how many went.
func (s *LogStore) PruneDecisions(ctx context.Context, orgID string, before time.Time) (int64, error) {
	res, err := s.db.write.ExecContext(ctx, "DELETE FROM decision_log WHERE org_id = $1 AND created_at < $2", orgID, micros(before))
	if err != nil {
		return 0, fmt.Errorf("prune decisions: %w", formatError(err))
	}
	return res.RowsAffected()
}
