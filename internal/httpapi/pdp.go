package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/jsonstream"
	"github.com/gatehouse-dev/gatehouse/internal/memory"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/web"
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
	DataFormat     int             `json:"data_format" doc:"The version of data's shape (2 since resource instances, relationship tuples and attribute rules): a reader that knows an older one must refuse the snapshot, not ignore what it cannot read."`
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

	ResourceRoles []SnapshotResourceRole `json:"resource_roles,omitempty"`
	Relations     []SnapshotRelation     `json:"relations,omitempty"`
	Instances     []SnapshotInstance     `json:"instances,omitempty"`
	Tuples        []SnapshotTuple        `json:"tuples,omitempty"`
	ConditionSets []SnapshotConditionSet `json:"condition_sets,omitempty"`
	SetRules      []SnapshotSetRule      `json:"set_rules,omitempty"`
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
		User             string `json:"user"`
		Role             string `json:"role"`
		Tenant           string `json:"tenant"`
		ResourceInstance string `json:"resource_instance,omitempty"`
	}
	SnapshotResourceRole struct {
		Resource    string               `json:"resource"`
		Key         string               `json:"key"`
		Name        string               `json:"name,omitempty"`
		Permissions []string             `json:"permissions"`
		Extends     []string             `json:"extends,omitempty"`
		GrantedTo   []SnapshotDerivation `json:"granted_to,omitempty"`
	}
	SnapshotDerivation struct {
		Role             string `json:"role"`
		OnResource       string `json:"on_resource"`
		LinkedByRelation string `json:"linked_by_relation,omitempty"`
	}
	SnapshotRelation struct {
		Resource string `json:"resource"`
		Key      string `json:"key"`
		Name     string `json:"name,omitempty"`
		Subject  string `json:"subject"`
	}
	SnapshotInstance struct {
		Resource   string         `json:"resource"`
		Key        string         `json:"key"`
		Tenant     string         `json:"tenant"`
		Attributes map[string]any `json:"attributes,omitempty"`
	}
	SnapshotTuple struct {
		Subject  string `json:"subject"`
		Relation string `json:"relation"`
		Object   string `json:"object"`
	}
	SnapshotConditionSet struct {
		Key        string          `json:"key"`
		Name       string          `json:"name,omitempty"`
		Type       string          `json:"type"`
		Resource   string          `json:"resource,omitempty"`
		Conditions json.RawMessage `json:"conditions"`
	}
	SnapshotSetRule struct {
		UserSet     string `json:"user_set"`
		Action      string `json:"action"`
		ResourceSet string `json:"resource_set"`
	}
)

// pdpSnapshot streams the snapshot: the envelope, then each list element
// by element through a small buffer. Encoding it whole (huma's encoder)
// built the full JSON in encoding/json's pooled buffer and copied every
// list into its Snapshot* mirror first: at 100k assignments that transient
// set the server's heap goal at twice its live heap, kept as idle memory
// (and an 8 MB buffer kept in the pool) long after the PDP had its copy.
// The answer is the same JSON as an Out[PDPSnapshot] (the spec documents
// it as one: route.body).
func (h *handlers) pdpSnapshot(ctx context.Context, _ *struct{}) (*huma.StreamResponse, error) {
	ref, err := pdpEnv(ctx)
	if err != nil {
		return nil, err
	}
	data, seq, err := h.Facts.Engines.Snapshot(ctx, ref.envID)
	if err != nil {
		return nil, err
	}
	policy := decision.Policy{Mode: decision.ModeOff}
	if h.Decisions != nil {
		policy = h.Decisions.Policy(ctx, ref.envID)
	}
	m := meta(ctx)
	head := PDPSnapshot{OrganizationID: ref.orgID, ProjectID: ref.projectID, EnvironmentID: ref.envID, Seq: seq, DataFormat: authz.DataFormat, DecisionLog: policy}
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		hctx.SetHeader("Content-Type", "application/json")
		hctx.SetStatus(http.StatusOK)
		if err := writeSnapshot(jsonstream.New(hctx.BodyWriter(), 32<<10), head, data, m); err != nil && hctx.Context().Err() == nil {
			h.Log.Warn("PDP snapshot: write the answer", "request_id", RequestID(ctx), "env_id", ref.envID, "err", err)
		}
		// The copy of the data (at 1M assignments about as large as the
		// engine) is garbage now: return it to the system rather than
		// keep it mapped as the collector's room to grow.
		if len(data.Users)+len(data.Assignments)+len(data.Instances)+len(data.Tuples) >= largeSnapshot {
			data = authz.Data{}
			memory.ReleaseSoon()
		}
	}}, nil
}

// largeSnapshot is the number of rows from which serving a snapshot
// returns its transient memory to the system (memory.ReleaseSoon): about
// 10 MB of copies and buffers.
const largeSnapshot = 50_000

// list writes `,"name":[…]` (nothing when omitEmpty and in is empty), each
// element converted to its Snapshot* mirror on the way.
func writeList[F, T any](s *jsonstream.Writer, name string, in []F, omitEmpty bool, conv func(F) T) {
	if omitEmpty && len(in) == 0 {
		return
	}
	s.Raw(`,"` + name + `":[`)
	for i, v := range in {
		if i > 0 {
			s.Raw(",")
		}
		s.Value(conv(v))
	}
	s.Raw("]")
}

// writeSnapshot writes {"status":"success","data":{…head…,"data":{…}},"meta":…}
// to s: the fields in PDPSnapshot's and SnapshotData's order.
func writeSnapshot(s *jsonstream.Writer, head PDPSnapshot, d authz.Data, m Meta) error {
	s.Raw(`{"status":"success","data":{"organization_id":`)
	s.Value(head.OrganizationID)
	s.Raw(`,"project_id":`)
	s.Value(head.ProjectID)
	s.Raw(`,"environment_id":`)
	s.Value(head.EnvironmentID)
	s.Raw(`,"seq":`)
	s.Value(head.Seq)
	s.Raw(`,"data_format":`)
	s.Value(head.DataFormat)
	s.Raw(`,"decision_log":`)
	s.Value(head.DecisionLog)
	s.Raw(`,"data":{"users":[`)
	for i, v := range d.Users {
		if i > 0 {
			s.Raw(",")
		}
		s.Value(SnapshotUser(v))
	}
	s.Raw("]")
	writeList(s, "tenants", d.Tenants, false, func(v authz.Tenant) SnapshotTenant { return SnapshotTenant(v) })
	writeList(s, "resources", d.Resources, false, func(v authz.Resource) SnapshotResource { return SnapshotResource(v) })
	writeList(s, "roles", d.Roles, false, func(v authz.Role) SnapshotRole { return SnapshotRole(v) })
	writeList(s, "assignments", d.Assignments, false, func(v authz.Assignment) SnapshotAssignment { return SnapshotAssignment(v) })
	writeList(s, "resource_roles", d.ResourceRoles, true, func(v authz.ResourceRole) SnapshotResourceRole {
		g := make([]SnapshotDerivation, len(v.GrantedTo))
		for i, d := range v.GrantedTo {
			g[i] = SnapshotDerivation(d)
		}
		if len(g) == 0 {
			g = nil
		}
		return SnapshotResourceRole{Resource: v.Resource, Key: v.Key, Name: v.Name, Permissions: v.Permissions, Extends: v.Extends, GrantedTo: g}
	})
	writeList(s, "relations", d.Relations, true, func(v authz.Relation) SnapshotRelation { return SnapshotRelation(v) })
	writeList(s, "instances", d.Instances, true, func(v authz.Instance) SnapshotInstance { return SnapshotInstance(v) })
	writeList(s, "tuples", d.Tuples, true, func(v authz.Tuple) SnapshotTuple { return SnapshotTuple(v) })
	writeList(s, "condition_sets", d.ConditionSets, true, func(v authz.ConditionSet) SnapshotConditionSet { return SnapshotConditionSet(v) })
	writeList(s, "set_rules", d.SetRules, true, func(v authz.SetRule) SnapshotSetRule { return SnapshotSetRule(v) })
	s.Raw(`}},"meta":`)
	s.Value(m)
	s.Raw("}\n")
	return s.Flush()
}

// PDPLimits bound what PDPs may hold open and upload (the --pdp-* flags).
// Zero fields take the defaults, except UploadLimit (0: not limited).
type PDPLimits struct {
	// StreamsPerKey caps the change streams one key holds open on a node.
	StreamsPerKey int
	// StreamsPerNode caps the change streams a node holds open.
	StreamsPerNode int
	// Backlog is the most changes a resuming stream replays; a client
	// further behind gets a reset event and reloads the snapshot.
	Backlog int
	// UploadLimit is the decision uploads per hour one key may make, in a
	// bucket of its own (not the key's API rate limit).
	UploadLimit int
}

func (l PDPLimits) withDefaults() PDPLimits {
	if l.StreamsPerKey <= 0 {
		l.StreamsPerKey = 8
	}
	if l.StreamsPerNode <= 0 {
		l.StreamsPerNode = 1000
	}
	if l.Backlog <= 0 {
		l.Backlog = facts.DefaultBacklog
	}
	return l
}

// optionalInt64 is a query parameter that knows whether it was sent.
type optionalInt64 struct {
	Value int64
	Set   bool
}

func (o *optionalInt64) Receiver() reflect.Value      { return reflect.ValueOf(o).Elem().Field(0) }
func (o *optionalInt64) OnParamSet(isSet bool, _ any) { o.Set = isSet }

// Schema documents the parameter as the number it is (at least 0).
func (optionalInt64) Schema(huma.Registry) *huma.Schema {
	zero := 0.0
	return &huma.Schema{Type: huma.TypeInteger, Format: "int64", Minimum: &zero}
}

type pdpChangesIn struct {
	Since       optionalInt64 `query:"since" doc:"Send the changes after this feed position (a snapshot's seq, or the id of the last event received). Without since or Last-Event-ID the stream starts at the current position: load the snapshot first."`
	LastEventID string        `header:"Last-Event-ID" doc:"Sent by reconnecting SSE clients; wins over since."`
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

// pdpStreamRetry is the Retry-After of a stream refused for the caps.
const pdpStreamRetry = 30

// PDPStreams are a node's open change streams, by key: the caps count them,
// a key's announced change (a revocation, on any node) wakes its streams
// to verify the key again at once, and the metrics read how far behind the
// feed each one is (Lags).
type PDPStreams struct {
	limits PDPLimits

	mu    sync.Mutex
	byKey map[string]map[*pdpStream]struct{}
	total int
}

// pdpStream is one open stream.
type pdpStream struct {
	keyID, envID string
	recheck      chan struct{} // the key changed: verify it again
	// pos is the feed position sent last; current is when (unix
	// nanoseconds) the stream was last caught up with the feed (or opened).
	pos, current atomic.Int64
}

// PDPLag is how far behind its environment's feed a PDP's stream is.
type PDPLag struct {
	// Positions: the feed positions between the last change sent and the
	// newest this node applied (an upper bound on the changes: the
	// positions are shared by every environment).
	Positions int64
	// Seconds since the stream was last caught up, while it is behind; 0
	// when it is current.
	Seconds float64
}

// Lags are the open streams' lags by key id (one key per PDP: a key's
// streams report the one furthest behind), given head, the feed position
// this node applied for an environment. At most --pdp-streams-per-node
// keys: the metric's series stay bounded.
func (r *PDPStreams) Lags(now time.Time, head func(envID string) (int64, bool)) map[string]PDPLag {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]PDPLag, len(r.byKey))
	for keyID, set := range r.byKey {
		var worst PDPLag
		for s := range set {
			var l PDPLag
			if h, ok := head(s.envID); ok && h > s.pos.Load() {
				l.Positions = h - s.pos.Load()
				l.Seconds = max(0, now.Sub(time.Unix(0, s.current.Load())).Seconds())
			}
			worst.Positions, worst.Seconds = max(worst.Positions, l.Positions), max(worst.Seconds, l.Seconds)
		}
		out[keyID] = worst
	}
	return out
}

// Open counts the open streams.
func (r *PDPStreams) Open() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

func NewPDPStreams(l PDPLimits) *PDPStreams {
	return &PDPStreams{limits: l.withDefaults(), byKey: map[string]map[*pdpStream]struct{}{}}
}

// open admits a stream of keyID, or refuses it with a 429 beyond a cap.
func (r *PDPStreams) open(keyID, envID string) (*pdpStream, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var msg string
	switch {
	case r.total >= r.limits.StreamsPerNode:
		msg = fmt.Sprintf("this server already holds %d change streams, the most it allows (--pdp-streams-per-node): retry later or connect to another node", r.total)
	case len(r.byKey[keyID]) >= r.limits.StreamsPerKey:
		msg = fmt.Sprintf("this API key already has %d change streams open on this server, the most one key may hold (--pdp-streams-per-key): a PDP needs one; close the others", len(r.byKey[keyID]))
	}
	if msg != "" {
		return nil, huma.ErrorWithHeaders(&gatehouse.Error{Code: gatehouse.CodeRateLimitExceeded, Message: msg,
			Details: map[string]any{"retry_after": pdpStreamRetry}}, http.Header{"Retry-After": {strconv.Itoa(pdpStreamRetry)}})
	}
	s := &pdpStream{keyID: keyID, envID: envID, recheck: make(chan struct{}, 1)}
	s.current.Store(time.Now().UnixNano())
	set := r.byKey[keyID]
	if set == nil {
		set = map[*pdpStream]struct{}{}
		r.byKey[keyID] = set
	}
	set[s] = struct{}{}
	r.total++
	return s, nil
}

func (r *PDPStreams) close(s *pdpStream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	set := r.byKey[s.keyID]
	if _, ok := set[s]; !ok {
		return
	}
	delete(set, s)
	if len(set) == 0 {
		delete(r.byKey, s.keyID)
	}
	r.total--
}

// keyChanged wakes the streams of keyID ("": every stream) to verify their
// key again. It runs on the key broadcaster's goroutine: it never blocks.
func (r *PDPStreams) keyChanged(keyID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	wake := func(set map[*pdpStream]struct{}) {
		for s := range set {
			select {
			case s.recheck <- struct{}{}:
			default: // already due
			}
		}
	}
	if keyID != "" {
		wake(r.byKey[keyID])
		return
	}
	for _, set := range r.byKey {
		wake(set)
	}
}

func (h *handlers) pdpChanges(ctx context.Context, in *pdpChangesIn) (*huma.StreamResponse, error) {
	ref, err := pdpEnv(ctx)
	if err != nil {
		return nil, err
	}
	from := facts.FollowOptions{Since: in.Since.Value, Resume: in.Since.Set, Backlog: h.streams.limits.Backlog}
	if in.LastEventID != "" {
		v, err := strconv.ParseInt(in.LastEventID, 10, 64)
		if err != nil || v < 0 {
			return nil, gatehouse.FieldError("Last-Event-ID", "invalid_value", "Last-Event-ID must be a feed position")
		}
		from.Since, from.Resume = v, true
	}
	p := principal(ctx)
	st, err := h.streams.open(p.KeyID, ref.envID)
	if err != nil {
		return nil, err
	}
	opened := false
	defer func() {
		if !opened {
			h.streams.close(st)
		}
	}()
	f, err := h.Facts.Follow(ctx, ref.envID, from)
	if err != nil {
		return nil, err
	}
	opened = true
	st.pos.Store(f.Since())
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		defer h.streams.close(st)
		r, w := humago.Unwrap(hctx)
		token, _ := web.Bearer(r.Header.Get("Authorization"))
		s := &sseWriter{w: w, rc: http.NewResponseController(w)}
		// The server's read timeout would cut a long stream: the request
		// was read in full, so lift it (writes get their own deadlines).
		_ = s.rc.SetReadDeadline(time.Time{})
		hctx.SetHeader("Content-Type", "text/event-stream")
		hctx.SetHeader("Cache-Control", "no-store")
		hctx.SetHeader("X-Accel-Buffering", "no")
		hctx.SetStatus(http.StatusOK)
		h.streamChanges(hctx.Context(), s, st, f, ref, token, p.ExpiresAt)
	}}, nil
}

// errStreamEnded ends a change stream that has nothing more to send: its
// client went away, its key is no longer valid, or its time is up.
var errStreamEnded = errors.New("the change stream ended")

// streamChanges sends f's events as Server-Sent Events, with the
// environment's decision log policy, heartbeats, and the checks of the
// stream's key, until the stream ends.
func (h *handlers) streamChanges(ctx context.Context, s *sseWriter, st *pdpStream, f *facts.Follower, ref envRef, token string, expires time.Time) {
	end := time.NewTimer(pdpStreamMax)
	defer end.Stop()
	beat := time.NewTicker(pdpHeartbeat)
	defer beat.Stop()
	var expired <-chan time.Time
	if !expires.IsZero() {
		t := time.NewTimer(time.Until(expires))
		defer t.Stop()
		expired = t.C
	}
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
	// keyValid ends the stream of a key that no longer verifies (revoked,
	// expired, or gone with its environment).
	keyValid := func() error {
		if _, err := h.Keys.Verify(ctx, token); err != nil {
			reason := "the API key is no longer valid"
			var ge *gatehouse.Error
			if errors.As(err, &ge) {
				reason += ": " + ge.Message
			}
			s.event(eventReset, "", map[string]string{"reason": reason})
			return errStreamEnded
		}
		return nil
	}
	send := func(ev facts.FeedEvent) error {
		switch ev.Kind {
		case facts.FeedChange:
			s.event(eventChange, strconv.FormatInt(ev.Entry.Seq, 10), ev.Entry)
			st.pos.Store(ev.Entry.Seq)
		case facts.FeedSynced:
			s.event(eventSynced, "", map[string]int64{"seq": ev.Seq})
			st.pos.Store(ev.Seq)
			st.current.Store(time.Now().UnixNano())
		case facts.FeedReset:
			s.event(eventReset, "", map[string]string{"reason": ev.Reason})
		}
		if s.err != nil {
			return errStreamEnded // the client went away
		}
		return nil
	}
	f.Between = func(context.Context) error {
		select {
		case <-st.recheck: // revoked while replaying
			return keyValid()
		default:
			return nil
		}
	}
	f.Wait = func(ctx context.Context, moved <-chan struct{}) error {
		if s.err != nil {
			return errStreamEnded
		}
		st.current.Store(time.Now().UnixNano()) // caught up: Wait is called only then
		select {
		case <-moved:
			sendPolicy()
		case <-st.recheck:
			// The key changed on some node: a revocation ends the stream now.
			return keyValid()
		case <-beat.C:
			// The key may have been revoked (or its environment deleted)
			// while this node missed the announcement.
			if err := keyValid(); err != nil {
				return err
			}
			sendPolicy()
			s.comment("heartbeat")
		case <-expired:
			s.event(eventReset, "", map[string]string{"reason": "the API key is no longer valid: " + apikey.ErrExpired.Message})
			return errStreamEnded
		case <-end.C:
			return errStreamEnded
		case <-h.Closing:
			return errStreamEnded
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}
	if f.Reset() == "" {
		sendPolicy()
	}
	if err := f.Run(ctx, send); err != nil && !errors.Is(err, errStreamEnded) && ctx.Err() == nil {
		h.Log.Warn("PDP stream: read the change feed", "request_id", RequestID(ctx), "env_id", ref.envID, "err", err)
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

// The window of an uploaded decision's timestamp: a PDP uploads what it
// recorded within seconds (it keeps nothing for later), so anything older
// than a day, or ahead of the server's clock by more than a little skew,
// is refused.
const (
	uploadMaxAge  = 24 * time.Hour
	uploadMaxSkew = 5 * time.Minute
)

// UploadResult says what an upload wrote and what it refused.
type UploadResult struct {
	Written     int             `json:"written" doc:"Decisions written to the decision log."`
	Refused     int             `json:"refused" doc:"Decisions not written (the others were)."`
	DecisionLog string          `json:"decision_log" enum:"off,sampled,full" doc:"The environment's decision log mode the upload was judged by; off writes nothing."`
	Errors      []UploadRefusal `json:"errors,omitempty" doc:"Why each refused decision was refused (absent when the mode is off: none is written)."`
	Message     string          `json:"message,omitempty" doc:"A summary when something was refused."`
}

// UploadRefusal is one decision an upload refused.
type UploadRefusal struct {
	Index   int    `json:"index" doc:"Its position in the upload's decisions, from 0."`
	Reason  string `json:"reason" enum:"timestamp_too_old,timestamp_in_future,field_too_long"`
	Message string `json:"message"`
}

// pdpDecisions writes a PDP's recorded decisions under the environment's
// decision log policy: nothing when it is off; in sampled and full mode
// what the PDP sends (the PDP samples: the server cannot see the checks it
// did not record), within the key's upload budget and the timestamp window.
func (h *handlers) pdpDecisions(ctx context.Context, in *pdpDecisionsIn) (*Out[UploadResult], error) {
	ref, err := pdpEnv(ctx)
	if err != nil {
		return nil, err
	}
	if h.DecisionLog == nil {
		return nil, gatehouse.Errorf(gatehouse.CodeServiceUnavailable, "the decision log is not available on this server")
	}
	p := principal(ctx)
	if h.Limiter != nil && h.PDP.UploadLimit > 0 {
		// A bucket of its own: uploads never spend the key's API budget. A
		// PDP uploads every 2 s and whenever 1,000 decisions wait: up to 500
		// recorded decisions a second stay within one call a second.
		d := h.Limiter.TakeTarget(ctx, ratelimit.Target{Bucket: "pdp-upload:" + p.KeyID, Limit: h.PDP.UploadLimit})
		if no := web.LimitRefusal(http.Header{}, d); no != nil {
			hdr := http.Header{"Retry-After": {"1"}}
			details := map[string]any{}
			msg := no.Msg
			if no.Code == gatehouse.CodeRateLimitExceeded {
				hdr.Set("Retry-After", strconv.Itoa(no.RetryAfter))
				details["retry_after"] = no.RetryAfter
				msg = fmt.Sprintf("this API key made its %d decision uploads of the hour (--pdp-upload-limit): try again in %d seconds", h.PDP.UploadLimit, no.RetryAfter)
			}
			return nil, huma.ErrorWithHeaders(&gatehouse.Error{Code: no.Code, Message: msg, Details: details}, hdr)
		}
	}
	policy := decision.Policy{Mode: decision.ModeOff}
	if h.Decisions != nil {
		policy = h.Decisions.Policy(ctx, ref.envID)
	}
	n := len(in.Body.Decisions)
	if policy.Mode == decision.ModeOff || (policy.Mode == decision.ModeSampled && policy.SampleRate <= 0) {
		web.NothingToReplay(ctx)
		return ok(ctx, UploadResult{Refused: n, DecisionLog: decision.ModeOff,
			Message: "the environment's decision log is off: nothing was written"}), nil
	}
	now := time.Now()
	oldest, newest := now.Add(-uploadMaxAge), now.Add(uploadMaxSkew)
	res := UploadResult{DecisionLog: policy.Mode}
	entries := make([]decision.Entry, 0, n)
	for i, d := range in.Body.Decisions {
		switch {
		case d.Time.Before(oldest):
			res.Errors = append(res.Errors, UploadRefusal{Index: i, Reason: "timestamp_too_old",
				Message: fmt.Sprintf("timestamp %s is more than %s old", d.Time.UTC().Format(time.RFC3339), uploadMaxAge)})
			continue
		case d.Time.After(newest):
			res.Errors = append(res.Errors, UploadRefusal{Index: i, Reason: "timestamp_in_future",
				Message: fmt.Sprintf("timestamp %s is more than %s ahead of the server's clock", d.Time.UTC().Format(time.RFC3339), uploadMaxSkew)})
			continue
		}
		if field, limit := d.TooLong(); field != "" {
			res.Errors = append(res.Errors, UploadRefusal{Index: i, Reason: "field_too_long",
				Message: fmt.Sprintf("%s is longer than %d characters", field, limit)})
			continue
		}
		entries = append(entries, decision.Entry{ID: uuid.Must(uuid.NewV7()).String(), OrganizationID: ref.orgID, ProjectID: ref.projectID, EnvironmentID: ref.envID,
			Time: d.Time.UTC(), Source: decision.SourcePDP, KeyID: p.KeyID, UploadedByKeyID: p.KeyID, User: d.User, Action: d.Action,
			ResourceType: d.ResourceType, ResourceKey: d.ResourceKey, Tenant: d.Tenant, Allow: d.Allow, Reason: d.Reason, Role: d.Role})
	}
	if len(entries) > 0 {
		if err := h.DecisionLog.WriteDecisions(ctx, entries); err != nil {
			return nil, err
		}
	} else {
		// Every decision refused (a PDP's clock off, say): a retry
		// refuses them again, and their errors are not kept for it.
		web.NothingToReplay(ctx)
	}
	res.Written, res.Refused = len(entries), len(res.Errors)
	if res.Refused > 0 {
		res.Message = fmt.Sprintf("%d of %d decisions were refused (timestamps must be within the last %s and at most %s ahead; text fields at most %d characters, resource_key %d): see errors",
			res.Refused, n, uploadMaxAge, uploadMaxSkew, decision.UploadFieldMax, decision.UploadResourceKeyMax)
	}
	return ok(ctx, res), nil
}

// pdpChangesNote and pdpUploadNote document the operations in the spec.
const (
	pdpChangesNote = "Needs an environment-level key. Without `since` or `Last-Event-ID` the stream starts at the current feed position " +
		"(load the snapshot first: its `seq` is where to follow from); a position more than `--pdp-stream-backlog` changes behind " +
		"(default 10,000) gets a `reset` event instead of a replay. One key may hold `--pdp-streams-per-key` streams open on a node " +
		"(default 8) and a node `--pdp-streams-per-node` (default 1,000); beyond, 429 with Retry-After. A stream ends with a `reset` " +
		"as soon as its key is revoked, on every node."
	pdpUploadNote = "Needs an environment-level key. Follows the environment's decision log policy: when it is `off` nothing is written " +
		"(`written` 0, `refused` all); `sampled` and `full` write what the PDP sampled. A decision's timestamp must be within the last " +
		"24 hours and at most 5 minutes ahead of the server's clock: others are refused one by one (`errors`, by index) while the rest " +
		"are written. A decision with a text field over 255 characters (resource_key: 1,000) is refused the same way. Each call spends one upload of the key's own budget (`--pdp-upload-limit`, default 3,600 per hour), not its API " +
		"rate limit; beyond, 429 with Retry-After. Entries are marked `source: pdp` and `uploaded_by_key_id`."
)

// changeSchemaNote documents the stream in the spec.
const changeSchemaNote = "A `text/event-stream` (Server-Sent Events). Events: `change` (id = feed position, data = `{seq, op, data, created_at}`; " +
	"op is one of put_user, delete_user, put_tenant, delete_tenant, put_resource, delete_resource, put_role, delete_role, assign, unassign), " +
	"`synced` (`{seq}`: everything up to seq was sent), `settings` (the decision log policy) and `reset` (`{reason}`: load a new snapshot). " +
	"Comment lines every 15 s keep the connection alive. Reconnect with `Last-Event-ID` (or `since`) to resume without losing a change."
