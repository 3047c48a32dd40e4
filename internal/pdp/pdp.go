// Package pdp is the standalone decision point (`gatehouse pdp`): it runs
// beside an application, loads its environment's snapshot from a Gatehouse
// server, follows the environment's changes as a stream, persists the last
// good snapshot on disk, and answers checks from memory, also while the
// server is unreachable.
package pdp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/permit"
)

// DefaultAddr is where a PDP listens by default (the port the README and
// the SDKs' examples use).
const DefaultAddr = "127.0.0.1:7766"

// Config configures a PDP.
type Config struct {
	APIURL  string // the Gatehouse server, e.g. http://127.0.0.1:8080; several, comma-separated, to fail over
	Key     string // an environment API key with check:access
	Addr    string // listen address; DefaultAddr when empty
	DataDir string // where the snapshot is persisted; "gatehouse-pdp-data" when empty
	Log     *slog.Logger
	Client  *http.Client // for calls to the server; a default client when nil

	// StreamIdle is how long the change stream may stay silent (the server
	// sends a heartbeat every 15 s) before the PDP reconnects; 45 s when 0.
	StreamIdle time.Duration
	// RetryMin and RetryMax bound the wait between reconnection attempts
	// (exponential with jitter); 250 ms and 15 s when 0.
	RetryMin, RetryMax time.Duration
	// PersistEvery is the longest a change waits before the snapshot on
	// disk is rewritten; 1 s when 0.
	PersistEvery time.Duration
	// RevokedGrace is how long the PDP keeps answering once the server has
	// said its key is revoked (or expired); 0: it stops at once. While the
	// server is merely unreachable it always keeps answering.
	RevokedGrace time.Duration
}

// KeyClaims are what a PDP reads from its key before the server verifies it.
type KeyClaims struct {
	Level         string   `json:"level"`
	OrgID         string   `json:"org_id"`
	ProjectID     string   `json:"project_id"`
	EnvironmentID string   `json:"environment_id"`
	Scopes        []string `json:"scopes"`
}

// ParseKey decodes an API key's claims without verifying its signature (the
// server does that on every call).
func ParseKey(token string) (KeyClaims, error) {
	var c KeyClaims
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c, errors.New("the key is not a Gatehouse API key (a JWT of three dot-separated parts)")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return c, fmt.Errorf("the key is not a Gatehouse API key: %w", err)
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return c, fmt.Errorf("the key is not a Gatehouse API key: %w", err)
	}
	return c, nil
}

// Sync states reported on /healthz.
const (
	StateStarting     = "starting"     // no snapshot yet
	StateSyncing      = "syncing"      // connected, catching up
	StateSynced       = "synced"       // connected and current
	StateOffline      = "offline"      // the server is unreachable; serving the last good snapshot
	StateUnauthorized = "unauthorized" // the server refuses the key; serving the last good snapshot
	StateRevoked      = "revoked"      // the server revoked (or expired) the key; no longer answering once the grace is over
)

// Status is the PDP's sync state.
type Status struct {
	State          string         `json:"state"`
	Serving        bool           `json:"serving"`
	OrganizationID string         `json:"organization_id"`
	ProjectID      string         `json:"project_id"`
	EnvironmentID  string         `json:"environment_id"`
	Seq            int64          `json:"seq"`
	SnapshotSource string         `json:"snapshot_source,omitempty"` // server or disk
	ConnectedSince *time.Time     `json:"connected_since,omitempty"`
	Server         string         `json:"server"`                   // the server followed now (of --api-url)
	LastSyncedAt   *time.Time     `json:"last_synced_at,omitempty"` // the last moment the copy was known current: now while synced
	LastChangeAt   *time.Time     `json:"last_change_at,omitempty"`
	LastError      string         `json:"last_error,omitempty"`
	RevokedAt      *time.Time     `json:"revoked_at,omitempty"`         // when the server first said the key is revoked
	RefusingAt     *time.Time     `json:"refusing_checks_at,omitempty"` // when the PDP stops (or stopped) answering for it
	DecisionLog    string         `json:"decision_log"`
	Decisions      decision.Stats `json:"decisions"`
	Data           authz.Stats    `json:"data"`
}

// PDP is a standalone decision point.
type PDP struct {
	cfg    Config
	claims KeyClaims
	log    *slog.Logger
	// api calls the server: the change feed (through lc), decision uploads.
	api *client.Client
	// lc follows the environment once Run has started it.
	lc     atomic.Pointer[client.LocalChecker]
	policy atomic.Pointer[decision.Policy]

	mu       sync.Mutex // guards st, revokeTimer, released and releasing
	st       Status
	released time.Time // the last releaseAfter that returned memory
	// releasing: a releaseAfter is waiting for releaseGap to pass.
	releasing bool
	// freeOSMemory returns freed memory to the system; nil:
	// debug.FreeOSMemory (tests count the calls).
	freeOSMemory func()

	// refusing is set once the server has revoked the key and the grace is
	// over: checks are refused (one atomic load on the check path).
	refusing    atomic.Bool
	revokeTimer *time.Timer // ends the grace; guarded by mu

	dirty    chan struct{}
	recorder *decision.Recorder
	// proxy passes Permit's /v2 control-plane calls on to the server.
	proxy http.Handler
	// up is the servers the PDP follows, the current one first.
	up *upstreams
}

// New checks cfg and the key. A key that is not an environment key is
// refused here, before anything starts.
func New(cfg Config) (*PDP, error) {
	servers, err := parseUpstreams(cfg.APIURL)
	if err != nil {
		return nil, err
	}
	cfg.APIURL = servers[0].String()
	if cfg.Key == "" {
		return nil, errors.New("pdp: --key is required (an environment API key with check:access)")
	}
	claims, err := ParseKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("pdp: %w", err)
	}
	if claims.Level != "environment" || claims.EnvironmentID == "" {
		return nil, fmt.Errorf("pdp: a PDP needs an environment-level API key, not a key of level %q: create an environment key (POST /v1/api-keys with level \"environment\") and start the PDP with it", claims.Level)
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "gatehouse-pdp-data"
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.StreamIdle <= 0 {
		cfg.StreamIdle = 45 * time.Second
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 250 * time.Millisecond
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 15 * time.Second
	}
	if cfg.PersistEvery <= 0 {
		cfg.PersistEvery = time.Second
	}
	hc := cfg.Client
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          4,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
		}}
	}
	// Every call goes through the list of servers: the current one, the
	// next when it fails.
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	up := &upstreams{urls: servers, next: next}
	failover := *hc
	failover.Transport = up
	p := &PDP{cfg: cfg, claims: claims, log: cfg.Log.With("component", "pdp", "env_id", claims.EnvironmentID), dirty: make(chan struct{}, 1), up: up,
		// The checker retries on its own terms (RetryMin, RetryMax): no
		// retries inside a call.
		api: client.New(cfg.APIURL, cfg.Key, client.WithHTTPClient(&failover), client.WithRetries(0), client.WithUserAgent("gatehouse-pdp"))}
	rp := httputil.NewSingleHostReverseProxy(servers[0])
	rp.Transport = up
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		p.log.Warn("proxy a /v2 call to the server", "path", r.URL.Path, "err", err)
		permit.WriteError(w, gatehouse.Errorf(gatehouse.CodeServiceUnavailable, "the PDP cannot reach the server at %s", up.current()))
	}
	p.proxy = rp
	p.st = Status{State: StateStarting, OrganizationID: claims.OrgID, ProjectID: claims.ProjectID, EnvironmentID: claims.EnvironmentID}
	p.policy.Store(&decision.Policy{Mode: decision.ModeOff})
	p.recorder = decision.NewRecorder(&uploader{p: p}, func(context.Context, string) (decision.Policy, error) { return *p.policy.Load(), nil },
		// Fewer, larger uploads; one the server failed is not sent again
		// decision by decision (the server may have written it, its answer
		// lost: each decision alone would carry another Idempotency-Key).
		p.log, decision.Options{FlushEvery: 2 * time.Second, SplitRefusedOnly: true})
	return p, nil
}

// Status returns the sync state.
func (p *PDP) Status() Status {
	p.mu.Lock()
	st := p.st
	p.mu.Unlock()
	if lc := p.lc.Load(); lc != nil {
		st.Seq = lc.Seq()
	}
	if st.State == StateSynced {
		// connected and caught up: current now (the stream would have
		// failed, and the state with it, otherwise)
		now := time.Now().UTC()
		st.LastSyncedAt = &now
	}
	st.Server = p.up.current().String()
	e := p.engine()
	st.Serving = e != nil && !p.refusing.Load()
	if e != nil {
		st.Data = e.Stats()
	}
	st.DecisionLog = p.policy.Load().Mode
	st.Decisions = p.recorder.Stats()
	return st
}

func (p *PDP) setState(f func(*Status)) {
	p.mu.Lock()
	f(&p.st)
	p.mu.Unlock()
}

// engine is the engine checks are answered from: nil while the PDP has
// no snapshot.
func (p *PDP) engine() *authz.Engine {
	if lc := p.lc.Load(); lc != nil {
		return lc.Engine()
	}
	return nil
}

// Run serves on ln and keeps the snapshot in sync until ctx ends; then it
// stops serving, uploads the decisions it holds and saves the snapshot. It
// fails at once when it has no snapshot (none on disk) and the server
// refuses the key.
func (p *PDP) Run(ctx context.Context, ln net.Listener) error {
	opts := []client.LocalOption{client.WithHooks(p.hooks()), client.WithStreamIdle(p.cfg.StreamIdle),
		client.WithRetryWait(p.cfg.RetryMin, p.cfg.RetryMax)}
	saved, err := p.loadFromDisk()
	if err != nil {
		p.log.Warn("the snapshot on disk is unusable; loading from the server", "err", err)
	}
	var lc *client.LocalChecker
	if saved != nil {
		if lc, err = client.NewLocalChecker(ctx, p.api, append(opts, client.WithStartSnapshot(saved))...); err != nil {
			p.log.Warn("the snapshot on disk is unusable; loading from the server", "err", err)
			p.setState(func(st *Status) { st.SnapshotSource, st.LastSyncedAt = "", nil })
		}
	}
	if lc == nil {
		// Nothing to serve yet: a refused key is fatal rather than a retry loop.
		if lc, err = client.NewLocalChecker(ctx, p.api, opts...); err != nil {
			if refusedKey(err) {
				return fmt.Errorf("pdp: the server refused the key: %w", err)
			}
			p.log.Warn("cannot load the snapshot yet; retrying", "err", err)
			p.setState(func(s *Status) { s.LastError = err.Error() })
			if lc, err = client.NewLocalChecker(ctx, p.api, append(opts, client.WithBackgroundLoad())...); err != nil {
				return fmt.Errorf("pdp: %w", err)
			}
		}
	}
	p.lc.Store(lc)
	if lc.Engine() != nil {
		// Decoding the snapshot (its JSON, then the data the engine was
		// built from) is a transient of several times the engine: give it
		// back now rather than keep it mapped as room to grow.
		debug.FreeOSMemory()
	}

	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.recorder.Run(bg) }()
	go func() { defer wg.Done(); p.persistLoop(bg) }()

	srv := &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second,
		ErrorLog: slog.NewLogLogger(p.log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		serveErr = errors.Join(serveErr, err)
	}
	_ = lc.Close()
	stopBG()
	wg.Wait()
	if err := p.persist(); err != nil {
		p.log.Error("save the snapshot", "err", err)
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}

// revokedKey reports whether err is the server saying that the key is
// revoked or expired, or that its organization, project or environment was
// deleted: a 401 saying so, unlike a server that cannot be reached.
func revokedKey(err error) bool {
	var ae *apiError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		return false
	}
	if ae.Code == "ORGANIZATION_DELETED" {
		return true
	}
	msg := strings.ToLower(ae.Message)
	return strings.Contains(msg, "revoked") || strings.Contains(msg, "expired")
}

// keyRevoked notes that the server revoked the key: after the grace the
// PDP refuses checks that present it.
func (p *PDP) keyRevoked(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.st.RevokedAt != nil {
		return // known
	}
	now := time.Now()
	stop := now.Add(p.cfg.RevokedGrace)
	p.st.RevokedAt, p.st.RefusingAt = &now, &stop
	if p.cfg.RevokedGrace <= 0 {
		p.refusing.Store(true)
	} else {
		p.revokeTimer = time.AfterFunc(p.cfg.RevokedGrace, func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.st.RevokedAt != nil && p.st.RevokedAt.Equal(now) { // not accepted again meanwhile
				p.refusing.Store(true)
			}
		})
	}
	p.log.Error("the server revoked (or expired) this PDP's API key: it stops answering checks that present it", "err", err,
		"grace", p.cfg.RevokedGrace, "refusing_from", stop.UTC().Format(time.RFC3339))
}

// keyAccepted notes that the server accepts the key (again: its database
// was restored): checks are answered.
func (p *PDP) keyAccepted() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.st.RevokedAt == nil {
		return
	}
	if p.revokeTimer != nil {
		p.revokeTimer.Stop()
		p.revokeTimer = nil
	}
	p.st.RevokedAt, p.st.RefusingAt = nil, nil
	p.refusing.Store(false)
	p.log.Warn("the server accepts this PDP's API key again; answering checks")
}
