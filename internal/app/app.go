// Package app wires Gatehouse together: it opens the store, builds the
// services and the HTTP handler, runs background work and shuts it all down.
// `gatehouse serve` and every end-to-end test use it.
package app

import (
	"context"
	"errors"
	"fmt"
	"github.com/gatehouse-dev/gatehouse/internal/telemetry"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/batch"
	"github.com/gatehouse-dev/gatehouse/internal/buildinfo"
	"github.com/gatehouse-dev/gatehouse/internal/clientaddr"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/dashboard"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/httpapi"
	"github.com/gatehouse-dev/gatehouse/internal/idempotency"
	"github.com/gatehouse-dev/gatehouse/internal/jobs"
	"github.com/gatehouse-dev/gatehouse/internal/memory"
	permitv2 "github.com/gatehouse-dev/gatehouse/internal/permit/v2"
	"github.com/gatehouse-dev/gatehouse/internal/queue"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/status"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
	"github.com/gatehouse-dev/gatehouse/internal/web"
	"github.com/gatehouse-dev/gatehouse/internal/webhook"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
)

// Version is the server's version (/healthz, the dashboard, the spec's
// info.version): see package buildinfo for where it comes from.
var Version = buildinfo.Get().Version

// App is a running Gatehouse.
type App struct {
	Config config.Config
	Log    *slog.Logger
	DB     *store.DB
	Store  *store.Store
	// LogDB holds the decision log (on SQLite a file of its own).
	LogDB *store.DB
	// LogStore is the log database's store the API log's writer and the
	// HTTP API use.
	LogStore  *store.LogStore
	Decisions *decision.Recorder
	Limiter   *ratelimit.Limiter
	APILog    *batch.Writer[apilog.Call]
	// Usage counts permission checks per key and environment; flushed to
	// the log database's check_usage every usageFlushInterval.
	Usage *usage.Meter
	// CallCache is this node's cache of settled API call counts.
	CallCache *usage.CallCache
	// UsageGate bounds each organization's usage queries in flight here.
	UsageGate *usage.Gate
	// warm is the start-up build of the environments' engines.
	warm struct {
		done         atomic.Bool
		built, total atomic.Int64
	}
	limits *ratelimit.Policy
	// signInAudit writes failed dashboard sign-ins to the audit trail.
	signInAudit *dashboard.SignInAudit
	rlStore     ratelimit.Store
	Tenancy     *tenancy.Service
	Keys        *apikey.Service
	Facts       *facts.Service
	Webhooks    *webhook.Service
	Jobs        *jobs.Service
	// Queue runs webhook deliveries, job tasks and the sandbox sweep.
	Queue *queue.Queue
	// Status is the status page; sampler records its components' states.
	Status  *status.Service
	sampler *status.Sampler
	OpenAPI *huma.OpenAPI
	// Metrics is this App's own Prometheus registry (never the global
	// one: several Apps in one process do not collide), served by
	// AdminHandler.
	Metrics *prometheus.Registry
	// Tracing is the node's OpenTelemetry tracing; nil when off
	// (--otlp-endpoint empty).
	Tracing *telemetry.Tracing

	// streams are the node's open PDP change streams (their lag is a
	// metric).
	streams         *httpapi.PDPStreams
	handler         http.Handler
	deps            httpapi.Deps
	keysBroadcaster apikey.Broadcaster
	pg              *store.PGBroadcaster // nil on SQLite
	// bg is the context of background work; Close ends it.
	bg        context.Context
	wg        sync.WaitGroup
	closers   closers
	closing   chan struct{}
	closeOnce sync.Once
}

// New opens the database named by cfg, builds the services and starts the
// background work. Call Close.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *App, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	a := &App{Config: cfg, Log: log, closing: make(chan struct{})}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if a.Tracing, err = telemetry.New(ctx, telemetry.Options{Endpoint: cfg.OTLPEndpoint, Insecure: cfg.OTLPInsecure,
		Ratio: cfg.TraceSampleRatio, Version: Version, Exporter: cfg.SpanExporter}); err != nil {
		return nil, err
	}
	a.closers.add(func() error { // last: what the others flush is traced
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return a.Tracing.Shutdown(ctx)
	})
	if err := a.openDatabases(ctx); err != nil {
		return nil, err
	}
	if err := a.buildServices(ctx); err != nil {
		return nil, err
	}
	if err := a.buildHandler(); err != nil {
		return nil, err
	}
	if err := a.start(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// openDatabases opens the main and the log database.
func (a *App) openDatabases(ctx context.Context) error {
	cfg := a.Config
	db, err := openDB(ctx, cfg, a.Log)
	if err != nil {
		return err
	}
	a.DB, a.Store = db, db.Store()
	if a.Tracing != nil {
		db.Trace(a.Tracing.Tracer)
	}
	a.closers.add(db.Close)
	if rep, err := db.SealSecrets(ctx, false); err != nil {
		return fmt.Errorf("secrets at rest: %w", err)
	} else if rep.Sealed > 0 {
		a.Log.Warn("sealed webhook secrets an older version stored in clear; a copy of the database from before still holds them: rotate them (POST /v1/webhooks/{id}/rotate-secret)", "sealed", rep.Sealed)
	}
	if cfg.IsPostgres() {
		a.LogDB, err = db.Logs(ctx)
	} else {
		a.LogDB, err = store.OpenLogSQLite(ctx, cfg.LogSQLitePath())
	}
	if err != nil {
		return fmt.Errorf("log database: %w", err)
	}
	a.closers.add(a.LogDB.Close)
	return db.MigrateQueue(ctx)
}

// buildServices builds the services, the queue and the rate limiter, each
// given at construction what it needs.
func (a *App) buildServices(ctx context.Context) error {
	cfg, log, st := a.Config, a.Log, a.Store
	guard, err := webhook.NewGuard(cfg.WebhookAllowNetworks)
	if err != nil {
		return err
	}
	if cfg.RedisURL != "" {
		r, err := ratelimit.OpenRedis(cfg.RedisURL, ratelimit.RedisOptions{Timeout: cfg.RateLimitTimeout})
		if err != nil {
			return err
		}
		a.closers.add(r.Close)
		a.rlStore = r
	} else {
		a.rlStore = ratelimit.NewMemory()
	}
	var stop context.CancelFunc
	a.bg, stop = context.WithCancel(context.WithoutCancel(ctx))
	a.closers.add(func() error {
		stop()
		a.wg.Wait()
		return nil
	})
	a.keysBroadcaster = &apikey.LocalBroadcaster{}
	var factsOpts []facts.Option
	if a.DB.Engine == store.Postgres {
		a.pg = store.NewPGBroadcaster(a.DB, log, a.otherNodeChanged)
		a.keysBroadcaster = a.pg
		factsOpts = append(factsOpts, facts.WithNotifier(a.pg))
	}
	a.Keys, err = apikey.NewService(ctx, st, a.keysBroadcaster, log, apikey.Options{Now: cfg.Now, OutageGrace: outageGrace(cfg.KeyOutageGrace),
		Region: cfg.Region, RegionURL: cfg.RegionURL})
	if err != nil {
		return err
	}
	a.Tenancy = tenancy.NewService(st, tenancy.WithClock(cfg.Now), tenancy.WithDeleteGrace(cfg.DeleteGracePeriod),
		tenancy.WithMemberKeys(memberKeys{a.Keys}), tenancy.WithSeed(seeder{a}), tenancy.WithCaches(tenancyCaches{a}))
	a.Facts = facts.NewService(st, log, append(factsOpts, facts.WithClock(cfg.Now))...)
	a.Webhooks = webhook.NewService(st, guard, webhook.Options{Schedule: cfg.WebhookRetrySchedule, DisableAfter: cfg.WebhookDisableAfter,
		Timeout: cfg.WebhookTimeout, Now: cfg.Now})
	a.Webhooks.Tracing = a.Tracing
	jobOpt := jobs.Options{MaxImportBytes: cfg.MaxImportBytes, SandboxResetEvery: cfg.SandboxResetEvery, Lease: cfg.JobTimeout, Now: cfg.Now,
		Pause: float64(cfg.JobPause) / 100}
	taskWorkers := cfg.JobWorkers
	if taskWorkers == 0 {
		// SQLite has one writer, which a batch holds while it applies:
		// one at a time leaves it to the API between batches.
		taskWorkers = 1
		if cfg.IsPostgres() {
			taskWorkers = 4
		}
	}
	if !cfg.IsPostgres() {
		// Uploads are spooled next to the embedded database, on its disk
		// (the system's /tmp may be memory); a PostgreSQL node uses $TMPDIR.
		jobOpt.TempDir = filepath.Join(cfg.DataDir, "import-spool")
	}
	a.Jobs = jobs.NewService(st, a.Facts, log, jobOpt)
	a.Status = status.NewService(st, cfg.Now)
	a.Status.Stale = 3 * cfg.StatusSampleEvery
	a.sampler = a.Status.NewSampler(cfg.StatusSampleEvery * 3 / 4)
	a.Queue, err = queue.New(queue.Options{Engine: a.DB.Engine, DB: a.DB.Writer(), JobTimeout: cfg.JobTimeout, SweepEvery: time.Minute,
		TaskWorkers: taskWorkers, Log: log}, queue.Handlers{
		Deliver: func(ctx context.Context, id string) (out queue.Outcome, err error) {
			err = a.Tracing.Job(ctx, queue.KindDelivery, func(ctx context.Context) error {
				out.After, err = a.Webhooks.Deliver(ctx, id)
				return err
			})
			return out, err
		},
		RunTask: func(ctx context.Context, id string) error {
			return a.Tracing.Job(ctx, queue.KindTask, func(ctx context.Context) error { return a.Jobs.RunTask(ctx, id) })
		},
		Sweep: func(ctx context.Context) error {
			return a.Tracing.Job(ctx, queue.KindSweep, func(ctx context.Context) error {
				_, err := a.SweepJobs(ctx)
				return err
			})
		},
		DeliveryTimeout: cfg.WebhookTimeout,
	})
	if err != nil {
		return err
	}
	a.limits = ratelimit.NewPolicy(a.Tenancy, 5*time.Second)
	a.Limiter = ratelimit.NewLimiter(a.rlStore, a.limits.Target, ratelimit.Options{FailOpen: cfg.RateLimitFailOpen, Nodes: cfg.RateLimitNodes, Log: log})
	a.Limiter.ResolveChecks(a.limits.CheckTarget)
	logStore := a.LogDB.LogStore()
	a.LogStore = logStore
	a.Decisions = decision.NewRecorder(logStore, a.decisionPolicy, log, decision.Options{})
	a.Usage = usage.NewMeter()
	a.Keys.CountChecks(a.Usage)
	a.APILog = batch.New("API log", logStore.WriteAPILog, log, batch.Options[apilog.Call]{Buffer: 1 << 14, MaxBytes: 64 << 20,
		Size: web.EntrySize, Prepare: web.PrepareAPILog(func() string { return uuid.Must(uuid.NewV7()).String() })})
	return nil
}

// buildHandler builds the HTTP API and the dashboard.
func (a *App) buildHandler() error {
	cfg, logStore := a.Config, a.LogStore
	limits := httpapi.PDPLimits{StreamsPerKey: cfg.PDPStreamsPerKey, StreamsPerNode: cfg.PDPStreamsPerNode, Backlog: cfg.PDPStreamBacklog,
		UploadLimit: cfg.PDPUploadLimit}
	a.streams = httpapi.NewPDPStreams(limits)
	a.CallCache = usage.NewCallCache()
	a.signInAudit = dashboard.NewSignInAudit(a.Store, a.Limiter, a.Log)
	a.UsageGate = usage.NewGate(usage.DefaultQueriesPerOrg, usage.DefaultGateWait)
	httpMetrics := a.registerMetrics()
	a.deps = httpapi.Deps{
		Region: cfg.Region, APIURL: cfg.APIURL(cfg.Addr),
		Log: a.Log, Tenancy: a.Tenancy, Keys: a.Keys, Facts: a.Facts, CreateOrg: a.CreateOrganization,
		Decisions: a.Decisions, DecisionLog: logStore, Closing: a.closing, Usage: a.Usage, UsageStore: logStore, WebhookUsage: a.Store, CallCache: a.CallCache, UsageGate: a.UsageGate,
		Limiter: a.Limiter, LimitsChanged: a.limits.Forget, AnonymousLimit: cfg.AnonymousRateLimit,
		APILog: a.APILog, APILogStore: logStore, LogBodyBytes: cfg.LogBodyBytes, Audit: a.Store,
		Ready: a.DB.Ping, Warm: a.Warm, Listening: a.listening(), MaxBodyBytes: cfg.MaxBodyBytes, Version: Version,
		PDP: limits, Streams: a.streams,
		Idempotency: idempotency.NewService(a.Store, a.DB.Secrets()),
		Webhooks:    a.Webhooks, Jobs: a.Jobs, Metrics: httpMetrics, Traced: a.Tracing != nil, Status: a.Status,
	}
	// Permit.io's API (/v2) and decision endpoints, by v1's rules.
	a.deps.Neighbours = []httpapi.Neighbour{{Shape: permitv2.Shape(a.Log), Mount: func(mux *http.ServeMux, k httpapi.Kit) error {
		return permitv2.Mount(mux, permitv2.Deps{Log: a.Log, Tenancy: a.Tenancy, Keys: a.Keys, Facts: a.Facts, Decisions: a.Decisions, Usage: a.Usage,
			Gate: k.Gate, Twins: k.Rules, Errors: k.Errors, LimitsChanged: a.limits.Forget, MaxBodyBytes: cfg.MaxBodyBytes, Bare: k.Bare})
	}}}
	var api http.Handler
	api, a.OpenAPI = httpapi.New(a.deps)
	signIn, err := membersSignIn(cfg)
	if err != nil {
		return err
	}
	dash, err := dashboard.New(dashboard.Deps{API: api, Tenancy: a.Tenancy, Store: a.Store, Limiter: a.Limiter, Log: a.Log,
		Version: Version, SecureCookies: cfg.SecureCookies, PublicURL: cfg.PublicURL, SignInLimit: cfg.SignInRateLimit, Now: cfg.Now,
		Region: cfg.Region, RegionURL: cfg.RegionURL(cfg.Region), OIDC: signIn.oidc, Mail: signIn.mail, Secrets: a.DB.Secrets(), SignInAudit: a.signInAudit})
	if err != nil {
		return err
	}
	dash = httpMetrics.Middleware(dash) // the API's calls are measured inside it, with the fast path's
	// Web pages of the configured origins may call v1, Permit's /v2 and its
	// decision endpoints from a browser (never the dashboard, which calls
	// the API in-process, without). Preflights are answered first, before
	// the checks' fast path, keys, rate limits or the API log.
	api = web.WithCORS(cfg.NormalOrigins(), func(p string) bool { return strings.HasPrefix(p, "/v1/") || permitv2.Owns(p) }, api)
	// The API has its paths; the dashboard has every other one.
	top := http.NewServeMux()
	// /allowed… and /user-permissions are Permit's decision endpoints.
	for _, p := range []string{"/v1/", "/v2/", "/healthz", "/readyz", "/.well-known/", "/docs", "/docs/", "/allowed", "/allowed/", "/user-permissions"} {
		top.Handle(p, api)
	}
	top.Handle("/", dash)
	// The checks skip the router (its match allocates on every call).
	a.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == "/v1/allowed" || p == "/allowed" {
			api.ServeHTTP(w, r)
			return
		}
		top.ServeHTTP(w, r)
	})
	// Off, Middleware is the handler itself: no tracing work per request.
	a.handler = a.Tracing.Middleware(a.handler)
	// Outermost: everything inside sees the client behind a trusted proxy.
	trusted, err := clientaddr.Parse(cfg.TrustedProxies)
	if err != nil {
		return fmt.Errorf("trusted-proxies %s", err)
	}
	a.handler = trusted.Middleware(a.handler)
	return nil
}

// start runs the background work: the node listener, the writers, the
// sweeps and (last) the queue.
func (a *App) start(ctx context.Context) error {
	goBackground := func(run func(ctx context.Context)) {
		a.wg.Add(1)
		go func() { defer a.wg.Done(); run(a.bg) }()
	}
	if a.pg != nil {
		goBackground(a.pg.Run)
	}
	goBackground(func(ctx context.Context) { a.Keys.RunUsageFlusher(ctx, 5*time.Second) })
	goBackground(a.Limiter.Run) // counts the nodes; comes back to Redis after an outage
	if mem, ok := a.rlStore.(*ratelimit.Memory); ok {
		goBackground(func(ctx context.Context) { every(ctx, time.Minute, mem.Sweep) })
	}
	goBackground(a.Decisions.Run)
	// Until the stop, which it waits for: then it writes what is queued.
	goBackground(a.signInAudit.Run)
	// Every live environment's engine is built before the node serves, so
	// that no check waits for a build (on an empty database at once).
	a.warmEngines(a.bg)
	goBackground(func(ctx context.Context) { a.runUsageFlusher(ctx, a.LogDB.LogStore(), usageFlushInterval) })
	goBackground(a.APILog.Run)
	goBackground(func(ctx context.Context) { a.runRetention(ctx, time.Hour) })
	goBackground(func(ctx context.Context) { a.runStatusSampler(ctx, a.Config.StatusSampleEvery) })
	// Environments an older version made without their default tenant.
	if err := a.Facts.EnsureDefaultTenants(ctx); err != nil {
		return err
	}
	if a.DB.Engine == store.SQLite {
		// This process owns the embedded database (its folder is locked):
		// every task still marked running was cut off by the last stop.
		if _, err := a.Jobs.Requeue(ctx, 0); err != nil {
			return err
		}
		if _, err := a.Jobs.RemoveSpools(); err != nil {
			return err
		}
	}
	if err := a.Queue.Start(a.bg); err != nil {
		return err
	}
	// A task whose node stopped (its heartbeat is older than Stale) is
	// queued again within Stale/2, for any node to run.
	goBackground(func(ctx context.Context) {
		every(ctx, a.Jobs.Opt.Stale/2, func() {
			if _, err := a.TakeOverJobTasks(ctx); err != nil && ctx.Err() == nil {
				a.Log.Warn("take over the tasks of stopped nodes", "err", err)
			}
		})
	})
	a.closers.add(func() error {
		// Work in progress (a delivery, a batch) finishes; what is queued
		// waits in the database for the next start.
		a.Jobs.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Queue.Stop(ctx); err != nil {
			a.Log.Warn("stop the queue", "err", err)
		}
		return nil
	})
	return nil
}

// every runs fn every interval until ctx ends.
// warmEngines builds every live environment's decision engine, so that no
// check waits for one (a first check used to build it: seconds at 1M
// assignments); /readyz says ready only once they are built.
func (a *App) warmEngines(ctx context.Context) {
	start := time.Now()
	ids, err := a.Store.LiveEnvironmentIDs(ctx)
	if err != nil {
		a.Log.Error("list environments to load; checks build them on first use", "err", err)
		a.warm.done.Store(true)
		return
	}
	a.warm.total.Store(int64(len(ids)))
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		if _, err := a.Facts.Engines.Get(ctx, id); err != nil && ctx.Err() == nil {
			a.Log.Error("load an environment's engine; its first check retries", "env_id", id, "err", err)
		}
		a.warm.built.Add(1)
	}
	// Building read every table into temporary structures: give the pages
	// the collector freed back now rather than over the next minutes, so a
	// node's resident memory after start is what it holds.
	memory.Release()
	a.warm.done.Store(true)
	a.Log.Info("decision engines built", "environments", len(ids), "duration", time.Since(start).Round(time.Millisecond))
}

// Warm reports whether every environment's engine is built, and how far
// the build is.
func (a *App) Warm() (done bool, built, total int64) {
	return a.warm.done.Load(), a.warm.built.Load(), a.warm.total.Load()
}

// usageFlushInterval is how often counted checks are added to the usage
// table.
const usageFlushInterval = 10 * time.Second

// usageRetention is how long counted checks are kept (a year and a month:
// a year-on-year chart).
const usageRetention = 400 * 24 * time.Hour

// FlushUsage adds the checks counted since the last flush to the usage
// table; what a failed write held is counted again next time.
func (a *App) FlushUsage(ctx context.Context, logs *store.LogStore) error {
	rows := a.Usage.Take(a.Config.Now())
	if err := logs.AddCheckUsage(ctx, rows); err != nil {
		a.Usage.Return(rows)
		return err
	}
	return nil
}

// runUsageFlusher flushes counted checks every interval until ctx ends,
// then once more.
func (a *App) runUsageFlusher(ctx context.Context, logs *store.LogStore, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := a.FlushUsage(flushCtx, logs); err != nil {
				a.Log.Warn("flush check usage at shutdown", "err", err)
			}
			cancel()
			return
		case <-t.C:
			if err := a.FlushUsage(ctx, logs); err != nil {
				a.Log.Warn("flush check usage; kept for the next flush", "err", err)
			}
		}
	}
}

func every(ctx context.Context, interval time.Duration, fn func()) {
	for {
		select {
		case <-time.After(interval):
			fn()
		case <-ctx.Done():
			return
		}
	}
}

// otherNodeChanged follows what another node announced about envID: a
// change this node catches up with ("" after a reconnection: every
// environment it holds), or an environment deleted (facts.GonePrefix),
// whose state this node drops.
func (a *App) otherNodeChanged(envID string) {
	if gone, ok := strings.CutPrefix(envID, facts.GonePrefix); ok {
		a.Facts.Engines.Forget(gone)
		a.Decisions.Forget(gone)
		a.limits.Forget(gone)
		return
	}
	envs := []string{envID}
	if envID == "" {
		envs = a.Facts.Engines.LoadedEnvironments()
	}
	for _, id := range envs {
		if err := a.Facts.Engines.CatchUp(a.bg, id); err != nil {
			a.Log.Warn("catch up with another node's change", "env_id", id, "err", err)
		}
	}
}

// closers is what Close undoes, in the reverse order of New.
type closers struct {
	mu  sync.Mutex
	fns []func() error
}

func (c *closers) add(fn func() error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fns = append(c.fns, fn)
}

// close runs every closer once, the last added first.
func (c *closers) close() error {
	c.mu.Lock()
	fns := c.fns
	c.fns = nil
	c.mu.Unlock()
	var errs []error
	for i := len(fns) - 1; i >= 0; i-- {
		errs = append(errs, fns[i]())
	}
	return errors.Join(errs...)
}

// tenancyCaches drops, on every node, the keys and engines of deleted or
// restored organizations, projects and environments.
type tenancyCaches struct{ a *App }

func (c tenancyCaches) KeysChanged(ctx context.Context) { c.a.Keys.Forget(ctx) }

func (c tenancyCaches) EnvironmentGone(ctx context.Context, envID string) {
	c.a.Facts.EnvironmentDeleted(ctx, envID)
	c.a.Decisions.Forget(envID)
}

// seeder gives a new environment its default tenant in the transaction
// creating it (the store implements both capabilities' stores).
type seeder struct{ a *App }

func (s seeder) SeedEnvironment(ctx context.Context, tx tenancy.Store, envID string) error {
	ftx, ok := tx.(facts.Store)
	if !ok {
		return fmt.Errorf("seed: the tenancy transaction is not a facts store (%T)", tx)
	}
	return s.a.Facts.SeedEnvironmentTx(ctx, ftx, envID)
}

// memberKeys revokes the keys of members who leave or lose scopes, in the
// transaction of that change (the store implements both capabilities'
// stores, so the tenancy transaction is an api key one too).
type memberKeys struct{ keys *apikey.Service }

func (m memberKeys) Constrain(ctx context.Context, tx tenancy.Store, orgID, memberID string, allowed gatehouse.ScopeSet, removed bool) (func(), error) {
	ktx, ok := tx.(apikey.Store)
	if !ok {
		return nil, fmt.Errorf("member keys: the tenancy transaction is not an api key store (%T)", tx)
	}
	reason := apikey.ReasonCreatorLostScope
	if removed {
		reason = apikey.ReasonCreatorRemoved
	}
	return m.keys.ConstrainCreator(ctx, ktx, orgID, "member:"+memberID, allowed, removed, reason)
}

// Deps are what the HTTP API was built with (benchmarks rebuild it).
func (a *App) Deps() httpapi.Deps { return a.deps }

// Handler is the HTTP handler of the whole server.
func (a *App) Handler() http.Handler { return a.handler }

// Singleton work: nodes sharing a PostgreSQL database run it one at a
// time, under the cluster-wide lock of its name; a node that finds the
// lock taken skips that round (another node is doing the work).
const (
	// LockLogRetention: log retention and the purge of deleted items
	// (RetentionRound).
	LockLogRetention = "log-retention"
	// LockJobsSweep: the queue's sweep of abandoned tasks and due
	// sandbox resets (SweepJobs).
	LockJobsSweep = "jobs-sweep"
)

// LockJobsTakeOver: the requeue of tasks whose node stopped
// (TakeOverJobTasks), every few seconds.
const LockJobsTakeOver = "jobs-takeover"

// TakeOverJobTasks queues again the job tasks whose node stopped (their
// heartbeat is older than jobs.Options.Stale), unless another node is
// doing it: then ran is false.
func (a *App) TakeOverJobTasks(ctx context.Context) (ran bool, err error) {
	return a.singleton(ctx, LockJobsTakeOver, func(ctx context.Context) error {
		_, err := a.Jobs.TakeOver(ctx)
		return err
	})
}

// singleton runs fn under the cluster-wide lock name, unless another node
// holds it: then it skips the round and ran is false.
func (a *App) singleton(ctx context.Context, name string, fn func(context.Context) error) (ran bool, err error) {
	unlock, ok, err := a.DB.TryLock(ctx, name)
	if err != nil {
		return false, err
	}
	if !ok {
		a.Log.Debug("another node is running this work; skipped this round", "work", name)
		return false, nil
	}
	defer unlock()
	return true, fn(ctx)
}

// RetentionRound applies log retention and purges deleted items once
// (PruneLogs), unless another node sharing the database is doing it: then
// ran is false.
func (a *App) RetentionRound(ctx context.Context) (ran bool, err error) {
	logs := a.LogDB.LogStore()
	return a.singleton(ctx, LockLogRetention, func(ctx context.Context) error { return a.PruneLogs(ctx, logs) })
}

// SweepJobs runs the queue's periodic sweep (requeue abandoned tasks,
// start due sandbox resets), unless another node is running one. River
// already enqueues periodic work on one node (its leader); the lock keeps
// two sweeps from overlapping when leadership moves.
func (a *App) SweepJobs(ctx context.Context) (ran bool, err error) {
	return a.singleton(ctx, LockJobsSweep, a.Jobs.Sweep)
}

// runRetention runs a retention round (RetentionRound) now and then every
// interval, until ctx ends.
func (a *App) runRetention(ctx context.Context, every time.Duration) {
	for {
		if err := a.Tracing.Job(ctx, "log_retention", func(ctx context.Context) error {
			_, err := a.RetentionRound(ctx)
			return err
		}); err != nil && ctx.Err() == nil {
			a.Log.Warn("log retention", "err", err)
		}
		select {
		case <-time.After(every):
		case <-ctx.Done():
			return
		}
	}
}

// PurgeDeleted removes for good the organizations, projects and
// environments deleted before now minus the grace period, and the log
// entries and audit trail of the purged organizations.
func (a *App) PurgeDeleted(ctx context.Context, now time.Time) (store.Purged, error) {
	p, err := a.Store.PurgeDeleted(ctx, now)
	if err != nil {
		return p, fmt.Errorf("purge deleted: %w", err)
	}
	logs := a.LogDB.LogStore()
	for _, orgID := range p.Organizations {
		forever := now.AddDate(100, 0, 0)
		if _, err := logs.PruneDecisions(ctx, orgID, forever); err != nil {
			return p, err
		}
		if _, err := logs.PruneAPILog(ctx, orgID, forever); err != nil {
			return p, err
		}
		if _, err := logs.PruneCheckUsage(ctx, orgID, forever); err != nil {
			return p, err
		}
		if err := a.Store.DeleteAuditOf(ctx, orgID); err != nil {
			return p, err
		}
	}
	if n := len(p.Organizations) + len(p.Projects) + len(p.Environments); n > 0 {
		a.Log.Info("purged deleted items after their grace period", "organizations", p.Organizations, "projects", p.Projects, "environments", p.Environments)
	}
	return p, nil
}

// PruneLogs applies every organization's log retention once, and purges
// what was deleted longer ago than the grace period.
func (a *App) PruneLogs(ctx context.Context, logs *store.LogStore) error {
	if _, err := a.PurgeDeleted(ctx, a.Config.Now()); err != nil {
		return err
	}
	orgs, err := a.Store.AllOrganizations(ctx)
	if err != nil {
		return err
	}
	now := a.Config.Now()
	if _, err := a.Store.PruneSessions(ctx, now); err != nil {
		return err
	}
	if _, err := a.Store.PruneIdempotency(ctx, now); err != nil {
		return err
	}
	if _, err := a.Status.Prune(ctx); err != nil {
		return err
	}
	// The change feed: what no follower can be replayed any more (beyond
	// the replay backlog, and older than an hour) goes; a follower still
	// before it loads a snapshot.
	if c, err := a.Store.CompactFeed(ctx, max(a.Config.PDPStreamBacklog, facts.DefaultBacklog), now.Add(-feedKeep)); err != nil {
		if ctx.Err() != nil {
			return err
		}
		a.Log.Warn("change feed compaction (log retention goes on)", "err", err)
	} else if c.Deleted > 0 {
		a.Log.Info("change feed compacted", "environments", c.Environments, "entries_deleted", c.Deleted)
	}
	defer a.reclaimSpace(ctx)
	auditBefore := now.Add(-a.Config.AuditRetention)
	if n, err := a.Store.PruneAudit(ctx, auditBefore); err != nil {
		// The next round tries again; the logs' retention goes on.
		a.Log.Warn("audit retention (log retention goes on)", "err", err)
	} else if n > 0 {
		a.Log.Info("audit retention", "entries_deleted", n, "older_than", auditBefore.UTC().Format(time.RFC3339))
	}
	for _, o := range orgs {
		before := now.AddDate(0, 0, -o.Settings.LogRetentionDays)
		n, err := logs.PruneDecisions(ctx, o.ID, before)
		if err != nil {
			return err
		}
		m, err := logs.PruneAPILog(ctx, o.ID, before)
		if err != nil {
			return err
		}
		if _, err := logs.PruneCheckUsage(ctx, o.ID, now.Add(-usageRetention)); err != nil {
			return err
		}
		ev, err := a.Store.PruneWebhookEvents(ctx, o.ID, before)
		if err != nil {
			return err
		}
		jb, err := a.Store.PruneJobs(ctx, o.ID, before)
		if err != nil {
			return err
		}
		if n+m+ev+jb > 0 {
			a.Log.Info("log retention", "org_id", o.ID, "decisions_deleted", n, "api_calls_deleted", m, "webhook_events_deleted", ev,
				"jobs_deleted", jb, "older_than", before.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// feedKeep is how long change feed entries are kept, whatever the backlog.
const feedKeep = time.Hour

// reclaimSpace gives the space that retention freed back to the file
// system (SQLite; PostgreSQL's autovacuum reuses it by itself).
func (a *App) reclaimSpace(ctx context.Context) {
	for name, db := range map[string]*store.DB{"main": a.DB, "log": a.LogDB} {
		if db == nil || db.Engine != store.SQLite {
			continue
		}
		n, err := db.ReclaimSpace(ctx)
		if err != nil {
			if ctx.Err() == nil {
				a.Log.Warn("reclaim the database file's free space", "database", name, "err", err)
			}
			continue
		}
		if n > 0 {
			a.Log.Info("database file shrunk", "database", name, "bytes_freed", n)
		}
	}
}

// decisionPolicy reads an environment's decision log setting.
func (a *App) decisionPolicy(ctx context.Context, envID string) (decision.Policy, error) {
	env, err := a.Store.EnvironmentByID(ctx, envID)
	if err != nil {
		return decision.Policy{}, err
	}
	return env.Settings.DecisionPolicy(), nil
}

// Close stops background work (flushing what it holds, such as queued
// decisions) and closes the databases.
func (a *App) Close() error {
	a.closeOnce.Do(func() { close(a.closing) })
	return a.closers.close()
}

// Serve answers HTTP on ln until ctx ends, then shuts down gracefully.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(func() { a.closeOnce.Do(func() { close(a.closing) }) }) // end change streams
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	a.Log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.Config.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// CreateOrganization creates an organization with its first Admin member,
// default project and environments and an organization key holding every
// scope, in one transaction. It returns the key's token, shown once.
func (a *App) CreateOrganization(ctx context.Context, name, key, adminEmail, adminName, createdBy string) (*tenancy.Bootstrap, *apikey.Key, string, error) {
	f := &founder{app: a, createdBy: createdBy}
	b, err := a.Tenancy.CreateOrganization(ctx, tenancy.NewOrganization{Name: name, Key: key, AdminEmail: adminEmail, AdminName: adminName}, f)
	if err != nil {
		return nil, nil, "", err
	}
	return b, f.key, f.token, nil
}

// founder gives a new organization its first API key, holding every scope.
type founder struct {
	app *App
	// createdBy made the organization ("": the instance's set-up).
	createdBy string
	key       *apikey.Key
	token     string
}

func (f *founder) Found(ctx context.Context, tx tenancy.Store, b *tenancy.Bootstrap) error {
	ktx, ok := tx.(apikey.Store)
	if !ok {
		return fmt.Errorf("new organization: the tenancy transaction is not an api key store (%T)", tx)
	}
	createdBy := f.createdBy
	if createdBy == "" {
		// The instance's set-up made it, not the first Admin: removing
		// that member (keys follow the member who made them) leaves it.
		createdBy = "init"
	}
	k, token, err := f.app.Keys.Mint(apikey.Spec{Name: "Initial organization key", Level: auth.LevelOrganization,
		OrgID: b.Organization.ID, Scopes: gatehouse.AllScopes(), CreatedBy: createdBy})
	if err != nil {
		return err
	}
	if err := ktx.CreateAPIKey(ctx, k); err != nil {
		return err
	}
	f.key, f.token = k, token
	return nil
}

// InitOptions are the answers `gatehouse init` takes.
type InitOptions struct {
	OrgName    string
	OrgKey     string
	AdminEmail string
	AdminName  string
}

// DefaultInitOptions are used by `serve` on an empty database.
func DefaultInitOptions() InitOptions {
	return InitOptions{OrgName: "My Organization", AdminEmail: "admin@example.com", AdminName: "Admin"}
}

// InitResult says what Init did.
type InitResult struct {
	// Created is false when the database already had an organization.
	Created      bool
	Organization *tenancy.Organization
	Bootstrap    *tenancy.Bootstrap
	Key          *apikey.Key
	Token        string
	// SetupPath is the one-time link (on the server) with which the first
	// Admin chooses a dashboard password.
	SetupPath string
}

// Init creates the first organization unless one exists (the operator's
// own, on the enterprise tier). It is idempotent: a second call creates
// nothing and returns the existing organization.
func (a *App) Init(ctx context.Context, opt InitOptions) (*InitResult, error) {
	f := &founder{app: a}
	res, err := a.Tenancy.Bootstrap(ctx, tenancy.NewOrganization{Name: opt.OrgName, Key: opt.OrgKey, AdminEmail: opt.AdminEmail, AdminName: opt.AdminName}, f)
	if err != nil {
		return nil, err
	}
	if !res.Created {
		return &InitResult{Organization: res.Organization}, nil
	}
	return &InitResult{Created: true, Organization: res.Organization, Bootstrap: res.Bootstrap, Key: f.key, Token: f.token,
		SetupPath: "/setup/" + res.SetupToken}, nil
}

// KeyCacheHealthy reports whether this node receives API key invalidations
// (always true on SQLite, a single node).
func (a *App) KeyCacheHealthy() bool { return a.keysBroadcaster.Healthy() }

// listening is readyz's look at the key cache listener: nil on a single
// node (SQLite), which has no other nodes to hear.
func (a *App) listening() func() bool {
	if a.DB.Engine != store.Postgres {
		return nil
	}
	return a.KeyCacheHealthy
}

// SetupLink makes a new one-time setup link for the member with email (in
// the organization with key orgKey, or the only one that has the email)
// and returns its path on the server.
func (a *App) SetupLink(ctx context.Context, email, orgKey string) (string, *tenancy.Member, error) {
	ms, err := a.Store.MembersByEmail(ctx, strings.ToLower(strings.TrimSpace(email)))
	if err != nil {
		return "", nil, err
	}
	var pick []tenancy.Member
	for _, m := range ms {
		if orgKey == "" {
			pick = append(pick, m)
			continue
		}
		if o, err := a.Store.GetOrganization(ctx, m.OrgID); err == nil && (o.Key == orgKey || o.ID == orgKey) {
			pick = append(pick, m)
		}
	}
	switch len(pick) {
	case 0:
		return "", nil, gatehouse.Errorf(gatehouse.CodeNotFound, "no member has the email %q", email)
	case 1:
	default:
		return "", nil, gatehouse.Errorf(gatehouse.CodeConflict, "%q is a member of %d organizations: say which with --org", email, len(pick))
	}
	token, err := a.Tenancy.NewSetupToken(ctx, &pick[0], "cli")
	if err != nil {
		return "", nil, err
	}
	return "/setup/" + token, &pick[0], nil
}

// outageGrace is the key service's OutageGrace for the setting (0: off).
func outageGrace(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
