package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apilog"
)

const apiLogSummaryCols = "id, org_id, project_id, env_id, created_at, request_id, actor_type, actor_id, actor_name, method, route, path, status, error_code, latency_us, client_ip, user_agent, request_size, request_truncated, response_size, response_truncated"
const apiLogCols = apiLogSummaryCols + ", request_headers, request_body, response_body"

// apiLogRows is how many entries one INSERT carries (24 parameters each).
const apiLogRows = 200

// WriteAPILog inserts entries in one transaction.
func (s *LogStore) WriteAPILog(ctx context.Context, entries []apilog.Call) error {
	return insertAll(ctx, s, "api_log", apiLogCols, 24, apiLogRows, entries, func(args []any, e *apilog.Call) []any {
		headers := "{}"
		if len(e.RequestHeaders) > 0 {
			hb, _ := json.Marshal(e.RequestHeaders)
			headers = string(hb)
		}
		return append(args, e.ID, e.OrganizationID, e.ProjectID, e.EnvironmentID, micros(e.Time), e.RequestID, e.ActorType, e.ActorID, e.ActorName,
			e.Method, e.Route, e.Path, e.Status, e.ErrorCode, e.LatencyMicros, e.ClientIP, e.UserAgent, e.RequestSize, e.RequestTruncated,
			e.ResponseSize, e.ResponseTruncated, headers, e.RequestBody, e.ResponseBody)
	})
}

func scanAPILogSummary(sc scanner) (apilog.Call, error) {
	var e apilog.Call
	var at int64
	err := sc.Scan(&e.ID, &e.OrganizationID, &e.ProjectID, &e.EnvironmentID, &at, &e.RequestID, &e.ActorType, &e.ActorID, &e.ActorName,
		&e.Method, &e.Route, &e.Path, &e.Status, &e.ErrorCode, &e.LatencyMicros, &e.ClientIP, &e.UserAgent, &e.RequestSize, &e.RequestTruncated,
		&e.ResponseSize, &e.ResponseTruncated)
	e.Time = fromMicros(at)
	return e, err
}

func scanAPILog(sc scanner) (apilog.Call, error) {
	var e apilog.Call
	var at int64
	var headers string
	err := sc.Scan(&e.ID, &e.OrganizationID, &e.ProjectID, &e.EnvironmentID, &at, &e.RequestID, &e.ActorType, &e.ActorID, &e.ActorName,
		&e.Method, &e.Route, &e.Path, &e.Status, &e.ErrorCode, &e.LatencyMicros, &e.ClientIP, &e.UserAgent, &e.RequestSize, &e.RequestTruncated,
		&e.ResponseSize, &e.ResponseTruncated, &headers, &e.RequestBody, &e.ResponseBody)
	e.Time = fromMicros(at)
	if err == nil && headers != "" && headers != "{}" {
		err = json.Unmarshal([]byte(headers), &e.RequestHeaders)
	}
	return e, err
}

func apiLogWhere(f apilog.Filter) *where {
	w := &where{}
	w.add("org_id = ?", f.OrgID)
	w.addIf(f.ProjectID != "", "project_id = ?", f.ProjectID)
	w.addIf(f.EnvID != "", "env_id = ?", f.EnvID)
	w.addIf(f.Actor != "", "actor_id = ?", f.Actor)
	w.addIf(f.Status != 0, "status = ?", f.Status)
	if f.StatusClass != 0 {
		w.add("status >= ?", f.StatusClass*100)
		w.add("status < ?", f.StatusClass*100+100)
	}
	w.addIf(f.Method != "", "method = ?", f.Method)
	if f.Writes {
		w.raw("method NOT IN ('GET', 'HEAD', 'OPTIONS')")
	}
	if f.PathPrefix != "" {
		// substr instead of LIKE: no escaping of % and _, and no collation
		// (equality) on both engines.
		w.add("substr(path, 1, ?", len([]rune(f.PathPrefix)))
		w.parts[len(w.parts)-1] += fmt.Sprintf(") = $%d", len(w.args)+1)
		w.args = append(w.args, f.PathPrefix)
	}
	w.addIf(f.RequestID != "", "request_id = ?", f.RequestID)
	w.addIf(!f.Since.IsZero(), "created_at >= ?", micros(f.Since))
	w.addIf(!f.Until.IsZero(), "created_at < ?", micros(f.Until))
	return w
}

// ListAPILog lists entries without their headers and bodies.
func (s *LogStore) ListAPILog(ctx context.Context, f apilog.Filter, page gatehouse.PageRequest) (gatehouse.Page[apilog.Call], error) {
	return listPage(ctx, s.db.read, "api_log", apiLogSummaryCols, apiLogWhere(f),
		map[string]string{"timestamp": "created_at", "status": "status", "latency": "latency_us"}, page, scanAPILogSummary)
}

// GetAPILog returns one entry in full.
func (s *LogStore) GetAPILog(ctx context.Context, f apilog.Filter, id string) (*apilog.Call, error) {
	w := apiLogWhere(f)
	w.add("id = ?", id)
	return getOne(ctx, s.db.read, "log entry", id, "SELECT "+apiLogCols+" FROM api_log"+w.sql(), scanAPILog, w.args...)
}

// ExportAPILog calls fn with every matching entry in full, oldest first,
// reading in chunks (keyset paging, so entries written meanwhile neither
// repeat nor shift the rest).
func (s *LogStore) ExportAPILog(ctx context.Context, f apilog.Filter, fn func(*apilog.Call) error) error {
	const chunk = 500
	var lastAt int64 = -1
	lastID := ""
	for {
		w := apiLogWhere(f)
		if lastAt >= 0 {
			w.add("(created_at > ?", lastAt)
			w.parts[len(w.parts)-1] += fmt.Sprintf(" OR (created_at = $%d AND id > $%d))", len(w.args)+1, len(w.args)+2)
			w.args = append(w.args, lastAt, lastID)
		}
		query := fmt.Sprintf("SELECT %s FROM api_log%s ORDER BY created_at, id LIMIT %d", apiLogCols, w.sql(), chunk)
		rows, err := queryAll(ctx, s.db.read, query, scanAPILog, w.args...)
		if err != nil {
			return fmt.Errorf("export api log: %w", err)
		}
		for i := range rows {
			if err := fn(&rows[i]); err != nil {
				return err
			}
		}
		if len(rows) < chunk {
			return nil
		}
		last := rows[len(rows)-1]
		lastAt, lastID = micros(last.Time), last.ID
	}
}

// PruneAPILog deletes an organization's entries older than before.
func (s *LogStore) PruneAPILog(ctx context.Context, orgID string, before time.Time) (int64, error) {
	res, err := s.db.write.ExecContext(ctx, "DELETE FROM api_log WHERE org_id = $1 AND created_at < $2", orgID, micros(before))
	if err != nil {
		return 0, fmt.Errorf("prune api log: %w", formatError(err))
	}
	return res.RowsAffected()
}
