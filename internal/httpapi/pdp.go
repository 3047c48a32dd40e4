package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/authz"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/google/uuid"
)

// The standalone PDP (`gatehouse pdp`) loads its environment's snapshot,
// follows the change feed as a Server-Sent Events stream and uploads the
// decisions it records. Only environment keys may do so.

// pdpEnv returns the environment of a PDP's key, or a clear 403.
func pdpEnv(ctx context.Context) (envRef, error) {
	p := principal(ctx)
	if p == nil || p.Level != auth.LevelEnvironment {
		level := "unknown"
		if p != nil {
			level = string(p.Level)
		}
		return envRef{}, forbidden("a PDP needs an environment-level API key, not a key of level %q: create an environment key (POST /v1/api-keys with level \"environment\") and start the PDP with it", level)
	}
	return envRef{p.OrgID, p.ProjectID, p.EnvironmentID}, nil
}

// PDPSnapshot is everything a PDP needs to answer checks.
type PDPSnapshot struct {
	OrganizationID string          `json:"organization_id"`
	ProjectID      string          `json:"project_id"`
	EnvironmentID  string          `json:"environment_id"`
	Seq            int64           `json:"seq" doc:"The change feed position the data corresponds to: follow the feed from here."`
	DecisionLog    decision.Policy `json:"decision_log"`
	Data           SnapshotData    `json:"data"`
}

// SnapshotData is an environment's data as the authz engine loads it
// (authz.Data).
type SnapshotData struct {
	Users       []SnapshotUser       `json:"users"`
	Tenants     []SnapshotTenant     `json:"tenants"`
	Resources   []SnapshotResource   `json:"resources"`
	Roles       []SnapshotRole       `json:"roles"`
	Assignments []SnapshotAssignment `json:"assignments"`
}

// The Snapshot* types mirror the authz types field for field.
type (
	SnapshotUser struct {
		Key        string         `json:"key"`
		Email      string         `json:"email,omitempty"`
		FirstName  string         `json:"first_name,omitempty"`
		LastName   string         `json:"last_name,omitempty"`
		Attributes map[string]any `json:"attributes,omitempty"`
	}
	SnapshotTenant struct {
		Key        string         `json:"key"`
		Name       string         `json:"name,omitempty"`
		Attributes map[string]any `json:"attributes,omitempty"`
	}
	SnapshotResource struct {
		Key     string   `json:"key"`
		Name    string   `json:"name,omitempty"`
		Actions []string `json:"actions"`
	}
	SnapshotRole struct {
		Key         string   `json:"key"`
		Name        string   `json:"name,omitempty"`
		Permissions []string `json:"permissions"`
		Extends     []string `json:"extends,omitempty"`
	}
	SnapshotAssignment struct {
		User   string `json:"user"`
		Role   string `json:"role"`
		Tenant string `json:"tenant"`
	}
)

func convert[F, T any](in []F, conv func(F) T) []T {
	out := make([]T, len(in))
	for i, v := range in {
		out[i] = conv(v)
	}
	return out
}

func snapshotData(d authz.Data) SnapshotData {
	return SnapshotData{
		Users:       convert(d.Users, func(v authz.User) SnapshotUser { return SnapshotUser(v) }),
		Tenants:     convert(d.Tenants, func(v authz.Tenant) SnapshotTenant { return SnapshotTenant(v) }),
		Resources:   convert(d.Resources, func(v authz.Resource) SnapshotResource { return SnapshotResource(v) }),
		Roles:       convert(d.Roles, func(v authz.Role) SnapshotRole { return SnapshotRole(v) }),
		Assignments: convert(d.Assignments, func(v authz.Assignment) SnapshotAssignment { return SnapshotAssignment(v) }),
	}
}

func (h *handlers) pdpSnapshot(ctx context.Context, _ *struct{}) (*Out[PDPSnapshot], error) {
	ref, err := pdpEnv(ctx)
	if err != nil {
		return nil, err
	}
	data, seq, err := h.Facts.Engines.Snapshot(ctx, ref.envID)
	if err != nil {
		return nil, err
	}
	snap := PDPSnapshot{OrganizationID: ref.orgID, ProjectID: ref.projectID, EnvironmentID: ref.envID, Seq: seq, Data: snapshotData(data),
		DecisionLog: decision.Policy{Mode: decision.ModeOff}}
	if h.Decisions != nil {
		snap.DecisionLog = h.Decisions.Policy(ctx, ref.envID)
	}
	return ok(ctx, snap), nil
}

type pdpChangesIn struct {
	Since       int64  `query:"since" minimum:"0" doc:"Send the changes after this feed position (a snapshot's seq, or the id of the last event received)."`
	LastEventID string `header:"Last-Event-ID" doc:"Sent by reconnecting SSE clients; wins over since."`
}

// Stream events. A change's id is its feed position.
const (
	eventChange   = "change"   // data: a facts.Change
	eventSynced   = "synced"   // data: {"seq": n}: everything up to n was sent
	eventSettings = "settings" // data: a decision.Policy
	eventReset    = "reset"    // data: {"reason": …}: load a new snapshot
)

// pdpHeartbeat is how often an idle stream sends a comment line, re-checks
// the key and looks at the feed (in case a notification was lost).
var pdpHeartbeat = 15 * time.Second

// pdpStreamMax ends a stream after a while; the client reconnects from its
// last event, so no change is lost.
var pdpStreamMax = 30 * time.Minute

func (h *handlers) pdpChanges(ctx context.Context, in *pdpChangesIn) (*huma.StreamResponse, error) {
	ref, err := pdpEnv(ctx)
	if err != nil {
		return nil, err
	}
	since := in.Since
	if in.LastEventID != "" {
		v, err := strconv.ParseInt(in.LastEventID, 10, 64)
		if err != nil || v < 0 {
			return nil, gatehouse.FieldError("Last-Event-ID", "invalid_value", "Last-Event-ID must be a feed position")
		}
		since = v
	}
	// Load the engine: its catch-ups wake this stream up.
	if _, err := h.Facts.Engines.Get(ctx, ref.envID); err != nil {
		return nil, err
	}
	latest, err := h.Facts.Store.FeedPosition(ctx, ref.envID)
	if err != nil {
		return nil, err
	}
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		r, w := humago.Unwrap(hctx)
		token, _ := bearer(r.Header.Get("Authorization"))
		s := &sseWriter{w: w, rc: http.NewResponseController(w)}
		// The server's read timeout would cut a long stream: the request
		// was read in full, so lift it (writes get their own deadlines).
		_ = s.rc.SetReadDeadline(time.Time{})
		hctx.SetHeader("Content-Type", "text/event-stream")
		hctx.SetHeader("Cache-Control", "no-store")
		hctx.SetHeader("X-Accel-Buffering", "no")
		hctx.SetStatus(http.StatusOK)
		if since > latest {
			s.event(eventReset, "", map[string]string{"reason": fmt.Sprintf("position %d is ahead of the feed (%d): the database was replaced", since, latest)})
			return
		}
		h.streamChanges(hctx.Context(), s, ref, since, token)
	}}, nil
}

func (h *handlers) streamChanges(ctx context.Context, s *sseWriter, ref envRef, since int64, token string) {
	log := h.Log.With("request_id", RequestID(ctx), "env_id", ref.envID)
	end := time.NewTimer(pdpStreamMax)
	defer end.Stop()
	beat := time.NewTicker(pdpHeartbeat)
	defer beat.Stop()
	var policy decision.Policy
	sendPolicy := func() {
		if h.Decisions == nil {
			return
		}
		if p := h.Decisions.Policy(ctx, ref.envID); p != policy {
			policy = p
			s.event(eventSettings, "", p)
		}
	}
	sendPolicy()
	synced := int64(-1)
	const batch = 500
	for {
		moved := h.Facts.Engines.Moved(ref.envID)
		changes, err := h.Facts.Store.ChangesSince(ctx, ref.envID, since, batch)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("PDP stream: read the change feed", "err", err)
			}
			return
		}
		for _, c := range changes {
			s.event(eventChange, strconv.FormatInt(c.Seq, 10), c)
			since = c.Seq
		}
		if len(changes) == batch {
			continue
		}
		if since != synced {
			s.event(eventSynced, "", map[string]int64{"seq": since})
			synced = since
		}
		if s.err != nil {
			return // the client went away
		}
		select {
		case <-moved:
			sendPolicy()
		case <-beat.C:
			// The key may have been revoked (or its environment deleted).
			if _, err := h.Keys.Verify(ctx, token); err != nil {
				s.event(eventReset, "", map[string]string{"reason": "the API key is no longer valid"})
				return
			}
			sendPolicy()
			s.comment("heartbeat")
		case <-end.C:
			return
		case <-h.Closing:
			return
		case <-ctx.Done():
			return
		}
	}
}

// sseWriter writes Server-Sent Events and flushes each one.
type sseWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	err error
}

func (s *sseWriter) event(name, id string, data any) {
	if s.err != nil {
		return
	}
	b, err := json.Marshal(data)
	if err != nil {
		s.err = err
		return
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if id != "" {
		_, s.err = fmt.Fprintf(s.w, "id: %s\nevent: %s\ndata: %s\n\n", id, name, b)
	} else {
		_, s.err = fmt.Fprintf(s.w, "event: %s\ndata: %s\n\n", name, b)
	}
	if s.err == nil {
		s.err = s.rc.Flush()
	}
}

func (s *sseWriter) comment(text string) {
	if s.err != nil {
		return
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, s.err = fmt.Fprintf(s.w, ": %s\n\n", text); s.err == nil {
		s.err = s.rc.Flush()
	}
}

type pdpDecisionsIn struct {
	Body struct {
		Decisions []decision.UploadedDecision `json:"decisions" minItems:"1" maxItems:"1000"`
	}
}

// UploadResult says how many decisions were written.
type UploadResult struct {
	Written int `json:"written"`
}

func (h *handlers) pdpDecisions(ctx context.Context, in *pdpDecisionsIn) (*Out[UploadResult], error) {
	ref, err := pdpEnv(ctx)
	if err != nil {
		return nil, err
	}
	if h.DecisionLog == nil {
		return nil, gatehouse.Errorf(gatehouse.CodeServiceUnavailable, "the decision log is not available on this server")
	}
	now := time.Now()
	p := principal(ctx)
	entries := make([]decision.Entry, len(in.Body.Decisions))
	for i, d := range in.Body.Decisions {
		if d.Time.IsZero() || d.Time.After(now.Add(5*time.Minute)) {
			return nil, gatehouse.FieldError(fmt.Sprintf("decisions[%d].timestamp", i), "invalid_value", "timestamp is missing or in the future")
		}
		entries[i] = decision.Entry{ID: uuid.Must(uuid.NewV7()).String(), OrganizationID: ref.orgID, ProjectID: ref.projectID, EnvironmentID: ref.envID,
			Time: d.Time.UTC(), Source: decision.SourcePDP, KeyID: p.KeyID, User: d.User, Action: d.Action,
			ResourceType: d.ResourceType, ResourceKey: d.ResourceKey, Tenant: d.Tenant, Allow: d.Allow, Reason: d.Reason, Role: d.Role}
	}
	if err := h.DecisionLog.WriteDecisions(ctx, entries); err != nil {
		return nil, err
	}
	return ok(ctx, UploadResult{Written: len(entries)}), nil
}

// changeSchemaNote documents the stream in the spec.
const changeSchemaNote = "A `text/event-stream` (Server-Sent Events). Events: `change` (id = feed position, data = `{seq, op, data, created_at}`; " +
	"op is one of put_user, delete_user, put_tenant, delete_tenant, put_resource, delete_resource, put_role, delete_role, assign, unassign), " +
	"`synced` (`{seq}`: everything up to seq was sent), `settings` (the decision log policy) and `reset` (`{reason}`: load a new snapshot). " +
	"Comment lines every 15 s keep the connection alive. Reconnect with `Last-Event-ID` (or `since`) to resume without losing a change."
