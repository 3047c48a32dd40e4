package decision

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/batch"
	"github.com/google/uuid"
)

// Decision log modes (an environment setting).
const (
	ModeOff     = "off"
	ModeSampled = "sampled"
	ModeFull    = "full"
)

// Sources of a recorded decision.
const (
	SourceAPI = "api" // answered by a Gatehouse server
	SourcePDP = "pdp" // answered by a standalone PDP and uploaded
)

// Policy says which checks of an environment are recorded (a PDP records
// and uploads checks under the same policy).
type Policy struct {
	Mode       string  `json:"mode" enum:"off,sampled,full"`
	SampleRate float64 `json:"sample_rate" doc:"Fraction of checks recorded in sampled mode."`
	// APILog: checks are API log rows too (the environment's
	// api_log_checks); otherwise they are counted only.
	APILog bool `json:"api_log,omitempty" doc:"Checks are also recorded in the server's API log (api_log_checks)."`
}

// Sample reports whether one check is recorded under p.
func (p Policy) Sample() bool {
	switch p.Mode {
	case ModeFull:
		return true
	case ModeSampled:
		return p.SampleRate > 0 && rand.Float64() < p.SampleRate
	}
	return false
}

// Entry is one recorded decision.
type Entry struct {
	ID             string    `json:"id"`
	OrganizationID string    `json:"organization_id"`
	ProjectID      string    `json:"project_id"`
	EnvironmentID  string    `json:"environment_id"`
	Time           time.Time `json:"timestamp" doc:"When the check was answered."`
	Source         string    `json:"source" enum:"api,pdp" doc:"api: answered by the server; pdp: answered by a standalone PDP."`
	RequestID      string    `json:"request_id" doc:"The API request that asked (empty for PDP decisions)."`
	KeyID          string    `json:"key_id" doc:"The API key that asked (for PDP decisions: the PDP's key, the one its callers present)."`
	User           string    `json:"user"`
	Action         string    `json:"action"`
	ResourceType   string    `json:"resource_type"`
	ResourceKey    string    `json:"resource_key"`
	Tenant         string    `json:"tenant"`
	Allow          bool      `json:"allow"`
	Reason         string    `json:"reason"`
	Role           string    `json:"role" doc:"The role that granted the permission, if any."`
	// UploadedByKeyID is set by the server from the key that authenticated
	// the upload, never from the upload's body.
	UploadedByKeyID string `json:"uploaded_by_key_id" doc:"The API key that uploaded a PDP decision (as the server authenticated it); empty for decisions the server answered."`
}

// UploadedDecision is one decision a PDP made.
type UploadedDecision struct {
	Time time.Time `json:"timestamp"`
	// Text fields longer than UploadFieldMax refuse their decision alone
	// (a refusal in the answer), not the upload: a PDP's check takes keys
	// of any length, and the upload's other decisions are written.
	User         string `json:"user" minLength:"1"`
	Action       string `json:"action" minLength:"1"`
	ResourceType string `json:"resource_type" minLength:"1"`
	ResourceKey  string `json:"resource_key,omitempty"`
	Tenant       string `json:"tenant" minLength:"1"`
	Allow        bool   `json:"allow"`
	Reason       string `json:"reason" enum:"granted,not_granted,no_role_in_tenant,unknown_user,unknown_tenant,unknown_resource,unknown_action,instance_in_other_tenant"`
	Role         string `json:"role,omitempty"`
}

// UploadFieldMax is the most characters an uploaded decision's text
// fields hold (resource_key: UploadResourceKeyMax).
const UploadFieldMax, UploadResourceKeyMax = 255, 1000

// TooLong names the first of d's text fields over its limit, and the limit.
func (d *UploadedDecision) TooLong() (field string, limit int) {
	for _, f := range [...]struct {
		name, v string
		max     int
	}{{"user", d.User, UploadFieldMax}, {"action", d.Action, UploadFieldMax}, {"resource_type", d.ResourceType, UploadFieldMax},
		{"resource_key", d.ResourceKey, UploadResourceKeyMax}, {"tenant", d.Tenant, UploadFieldMax}, {"role", d.Role, UploadFieldMax}} {
		if len(f.v) > f.max && utf8.RuneCountInString(f.v) > f.max {
			return f.name, f.max
		}
	}
	return "", 0
}

// Filter narrows a list of decisions. Zero fields match everything.
type Filter struct {
	OrgID, EnvID                                 string
	User, Action, Resource, Tenant, Reason, Role string
	Source, RequestID                            string
	Allow                                        *bool
	Since, Until                                 time.Time // [Since, Until)
}

// Sink receives batches of entries: the log store on a server, an uploader
// on a PDP.
type Sink interface {
	WriteDecisions(ctx context.Context, entries []Entry) error
}

// Store persists the decision log.
type Store interface {
	Sink
	ListDecisions(ctx context.Context, f Filter, page gatehouse.PageRequest) (gatehouse.Page[Entry], error)
	GetDecision(ctx context.Context, orgID, envID, id string) (*Entry, error)
}

// PolicySource reads an environment's policy (from its settings).
type PolicySource func(ctx context.Context, envID string) (Policy, error)

// Options tune a Recorder; zero values take the defaults.
type Options struct {
	Buffer     int           // entries held in memory before new ones are dropped (default 65,536)
	Batch      int           // entries written at once (default 1,000)
	FlushEvery time.Duration // longest an entry waits in memory (default 200 ms)
	PolicyTTL  time.Duration // how long a policy is trusted before it is re-read in the background (default 5 s)
	// SplitRefusedOnly: a batch the sink failed (not refused) is not
	// written again entry by entry (batch.Options.SplitRefusedOnly).
	SplitRefusedOnly bool
}

// Recorder records decisions without slowing the check path: Record hands an
// entry to a bounded in-memory queue (dropping it, and counting the drop,
// when the queue is full) and Run writes the queue in batches. Run drains
// everything queued before it returns.
type Recorder struct {
	w        *batch.Writer[Entry]
	policyOf PolicySource
	log      *slog.Logger
	ttl      time.Duration
	policies sync.Map // env id → *cachedPolicy
}

type cachedPolicy struct {
	p          atomic.Pointer[Policy]
	readAt     atomic.Int64 // unix nanos
	refreshing atomic.Bool
}

// NewRecorder returns a recorder writing to sink, reading policies with
// policyOf. Start Run.
func NewRecorder(sink Sink, policyOf PolicySource, log *slog.Logger, opt Options) *Recorder {
	if opt.PolicyTTL <= 0 {
		opt.PolicyTTL = 5 * time.Second
	}
	w := batch.New("decision log", sink.WriteDecisions, log, batch.Options[Entry]{Buffer: opt.Buffer, Batch: opt.Batch, FlushEvery: opt.FlushEvery,
		SplitRefusedOnly: opt.SplitRefusedOnly,
		Prepare: func(es []Entry) {
			for i := range es {
				if es[i].ID == "" {
					es[i].ID = uuid.Must(uuid.NewV7()).String()
				}
			}
		}})
	return &Recorder{w: w, policyOf: policyOf, log: log, ttl: opt.PolicyTTL}
}

// Policy returns envID's policy. The first call for an environment reads
// it; later calls answer from memory and refresh it in the background once
// it is older than PolicyTTL. A policy that cannot be read is "off".
func (r *Recorder) Policy(ctx context.Context, envID string) Policy {
	v, ok := r.policies.Load(envID)
	if !ok {
		c := &cachedPolicy{}
		p := r.read(ctx, envID)
		c.p.Store(&p)
		c.readAt.Store(time.Now().UnixNano())
		v, _ = r.policies.LoadOrStore(envID, c)
	}
	c := v.(*cachedPolicy)
	if time.Now().UnixNano()-c.readAt.Load() > int64(r.ttl) && c.refreshing.CompareAndSwap(false, true) {
		go func() {
			defer c.refreshing.Store(false)
			p := r.read(context.Background(), envID)
			c.p.Store(&p)
			c.readAt.Store(time.Now().UnixNano())
		}()
	}
	return *c.p.Load()
}

func (r *Recorder) read(ctx context.Context, envID string) Policy {
	p, err := r.policyOf(ctx, envID)
	if err != nil {
		if gatehouse.ErrorCode(err) != gatehouse.CodeNotFound {
			r.log.Warn("read decision log policy; not recording", "env_id", envID, "err", err)
		}
		return Policy{Mode: ModeOff}
	}
	return p
}

// SetPolicy replaces envID's policy at once (its settings changed here).
func (r *Recorder) SetPolicy(envID string, p Policy) {
	c := &cachedPolicy{}
	c.p.Store(&p)
	c.readAt.Store(time.Now().UnixNano())
	r.policies.Store(envID, c)
}

// Forget drops envID's policy; the next check reads it again.
func (r *Recorder) Forget(envID string) { r.policies.Delete(envID) }

// Sampled reports whether a check of envID is to be recorded.
func (r *Recorder) Sampled(ctx context.Context, envID string) bool {
	return r.Policy(ctx, envID).Sample()
}

// Record queues e without blocking. It reports false when the queue was
// full and e was dropped.
func (r *Recorder) Record(e Entry) bool { return r.w.Add(e) }

// Stats are the recorder's counters since it started.
type Stats = batch.Stats

// Stats returns the counters.
func (r *Recorder) Stats() Stats { return r.w.Stats() }

// Run writes queued entries until ctx ends, then writes what is still
// queued and returns.
func (r *Recorder) Run(ctx context.Context) { r.w.Run(ctx) }
