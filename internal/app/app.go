// Package app wires Gatehouse together: it opens the store, builds the
// services and the HTTP handler, runs background work and shuts it all down.
// `gatehouse serve` and every end-to-end test use it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/batch"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/dashboard"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/httpapi"
	"github.com/gatehouse-dev/gatehouse/internal/idempotency"
	"github.com/gatehouse-dev/gatehouse/internal/jobs"
	"github.com/gatehouse-dev/gatehouse/internal/queue"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
	"github.com/gatehouse-dev/gatehouse/internal/web"
	"github.com/gatehouse-dev/gatehouse/internal/webhook"
	"github.com/google/uuid"
)

// Version is the server's version, set at build time with -ldflags.
var Version = "dev"

// App is a running Gatehouse.
type App struct {
	Config config.Config
	Log    *slog.Logger
	DB     *store.DB
	Store  *store.Store
	// LogDB holds the decision log (on SQLite a file of its own).
	LogDB     *store.DB
	Decisions *decision.Recorder
	Limiter   *ratelimit.Limiter
	APILog    *batch.Writer[apilog.Call]
	limits    *ratelimit.Policy
	redis     *ratelimit.Redis
	Tenancy   *tenancy.Service
	Keys      *apikey.Service
	Facts     *facts.Service
	Webhooks  *webhook.Service
	Jobs      *jobs.Service
	// Queue runs webhook deliveries, job tasks and the sandbox sweep.
	Queue   *queue.Queue
	OpenAPI *huma.OpenAPI

	handler         http.Handler
	deps            httpapi.Deps
	keysBroadcaster apikey.Broadcaster
	stop            context.CancelFunc
	wg              sync.WaitGroup
	closing         chan struct{}
	closeOnce       sync.Once
	queueStarted    bool
}

// New opens the database named by cfg and builds the services. Call Close.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*App, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	db, err := openDB(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if rep, err := db.SealSecrets(ctx, false); err != nil {
		db.Close()
		return nil, fmt.Errorf("secrets at rest: %w", err)
	} else if rep.Sealed > 0 {
		log.Warn("sealed webhook secrets an older version stored in clear; a copy of the database from before still holds them: rotate them (POST /v1/webhooks/{id}/rotate-secret)", "sealed", rep.Sealed)
	}
	var logDB *store.DB
	if cfg.IsPostgres() {
		logDB, err = db.Logs(ctx)
	} else {
		logDB, err = store.OpenLogSQLite(ctx, cfg.LogSQLitePath())
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("log database: %w", err)
	}
	if err := queue.Migrate(ctx, db.Engine, db.Writer()); err != nil {
		logDB.Close()
		db.Close()
		return nil, err
	}
	guard, err := webhook.NewGuard(cfg.WebhookAllowNetworks)
	if err != nil {
		logDB.Close()
		db.Close()
		return nil, err
	}
	bgCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	a := &App{Config: cfg, Log: log, DB: db, Store: db.Store(), LogDB: logDB, stop: stop, closing: make(chan struct{})}
	a.Tenancy = tenancy.NewService(a.Store)
	a.Tenancy.DeleteGrace = cfg.DeleteGracePeriod
	a.Facts = facts.NewService(a.Store, log)
	a.Webhooks = webhook.NewService(a.Store, guard, webhook.Options{Schedule: cfg.WebhookRetrySchedule, DisableAfter: cfg.WebhookDisableAfter, Timeout: cfg.WebhookTimeout})
	jobOpt := jobs.Options{MaxImportBytes: cfg.MaxImportBytes, SandboxResetEvery: cfg.SandboxResetEvery, Lease: cfg.JobTimeout}
	if !cfg.IsPostgres() {
		// Uploads are spooled next to the embedded database, on its disk
		// (the system's /tmp may be memory); a PostgreSQL node uses $TMPDIR.
		jobOpt.TempDir = filepath.Join(cfg.DataDir, "import-spool")
	}
	a.Jobs = jobs.NewService(a.Store, a.Facts, log, jobOpt)
	a.Queue, err = queue.New(queue.Options{Engine: db.Engine, DB: db.Writer(), JobTimeout: cfg.JobTimeout, SweepEvery: time.Minute, Log: log}, queue.Handlers{
		Deliver: func(ctx context.Context, id string) (queue.Outcome, error) {
			wait, err := a.Webhooks.Deliver(ctx, id)
			return queue.Outcome{After: wait}, err
		},
		RunTask:         a.Jobs.RunTask,
		Sweep:           a.Jobs.Sweep,
		DeliveryTimeout: cfg.WebhookTimeout,
	})
	if err != nil {
		stop()
		logDB.Close()
		db.Close()
		return nil, err
	}
	db.SetQueue(a.Queue)

	var bc apikey.Broadcaster = &apikey.LocalBroadcaster{}
	if db.Engine == store.Postgres {
		pgbc := store.NewPGBroadcaster(db, log)
		bc = pgbc
		a.Facts.Notify = pgbc
		pgbc.OnFacts(func(envID string) {
			if strings.HasPrefix(envID, facts.GonePrefix) {
				return // see the handler registered at the end of New
			}
			envs := []string{envID}
			if envID == "" {
				envs = a.Facts.Engines.LoadedEnvironments()
			}
			for _, id := range envs {
				if err := a.Facts.Engines.CatchUp(bgCtx, id); err != nil {
					log.Warn("catch up with another node's change", "env_id", id, "err", err)
				}
			}
		})
		a.wg.Add(1)
		go func() { defer a.wg.Done(); pgbc.Run(bgCtx) }()
	}
	a.keysBroadcaster = bc
	a.Keys, err = apikey.NewService(ctx, a.Store, bc, log, apikey.Options{})
	if err != nil {
		stop()
		a.wg.Wait()
		logDB.Close()
		db.Close()
		return nil, err
	}
	a.Tenancy.Keys = memberKeys{a.Keys}
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.Keys.RunUsageFlusher(bgCtx, 5*time.Second) }()

	var rlStore ratelimit.Store
	if cfg.RedisURL != "" {
		r, err := ratelimit.OpenRedis(cfg.RedisURL)
		if err != nil {
			stop()
			a.wg.Wait()
			logDB.Close()
			db.Close()
			return nil, err
		}
		a.redis, rlStore = r, r
	} else {
		mem := ratelimit.NewMemory()
		rlStore = mem
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			for {
				select {
				case <-time.After(time.Minute):
					mem.Sweep()
				case <-bgCtx.Done():
					return
				}
			}
		}()
	}
	a.limits = ratelimit.NewPolicy(a.Tenancy, 5*time.Second)
	a.Limiter = ratelimit.NewLimiter(rlStore, a.limits.Target, cfg.RateLimitFailOpen, log)

	logStore := logDB.LogStore()
	a.Decisions = decision.NewRecorder(logStore, a.decisionPolicy, log, decision.Options{})
	a.Tenancy.Caches = tenancyCaches{a}
	a.Tenancy.Seed = seeder{a.Facts}
	if err := a.Facts.EnsureDefaultTenants(ctx); err != nil {
		stop()
		a.wg.Wait()
		logDB.Close()
		db.Close()
		return nil, err
	}
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.Decisions.Run(bgCtx) }()
	a.APILog = batch.New("API log", logStore.WriteAPILog, log, batch.Options[apilog.Call]{Buffer: 1 << 14, MaxBytes: 64 << 20,
		Size: web.EntrySize, Prepare: web.PrepareAPILog(func() string { return uuid.Must(uuid.NewV7()).String() })})
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.APILog.Run(bgCtx) }()
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.runRetention(bgCtx, logStore, time.Hour) }()

	a.deps = httpapi.Deps{
		Log: log, Tenancy: a.Tenancy, Keys: a.Keys, Facts: a.Facts, CreateOrg: a.CreateOrganization,
		Decisions: a.Decisions, DecisionLog: logStore, Closing: a.closing,
		Limiter: a.Limiter, LimitsChanged: a.limits.Forget, AnonymousLimit: cfg.AnonymousRateLimit,
		APILog: a.APILog, APILogStore: logStore, LogBodyBytes: cfg.LogBodyBytes,
		Ready: db.Ping, MaxBodyBytes: cfg.MaxBodyBytes, Version: Version,
		PDP: httpapi.PDPLimits{StreamsPerKey: cfg.PDPStreamsPerKey, StreamsPerNode: cfg.PDPStreamsPerNode, Backlog: cfg.PDPStreamBacklog,
			UploadLimit: cfg.PDPUploadLimit},
		Idempotency: idempotency.NewService(a.Store, db.Secrets()),
	}
	a.deps.Webhooks, a.deps.Jobs = a.Webhooks, a.Jobs
	var api http.Handler
	api, a.OpenAPI = httpapi.New(a.deps)
	dash, err := dashboard.New(dashboard.Deps{API: api, Tenancy: a.Tenancy, Store: a.Store, Limiter: a.Limiter, Log: log,
		Version: Version, SecureCookies: cfg.SecureCookies, SignInLimit: cfg.SignInRateLimit})
	if err != nil {
		stop()
		logDB.Close()
		db.Close()
		return nil, err
	}
	// The API has its paths; the dashboard has every other one.
	top := http.NewServeMux()
	// /allowed… and /user-permissions are Permit's decision endpoints.
	for _, p := range []string{"/v1/", "/v2/", "/healthz", "/readyz", "/.well-known/", "/docs", "/docs/", "/allowed", "/allowed/", "/user-permissions"} {
		top.Handle(p, api)
	}
	top.Handle("/", dash)
	a.handler = top
	if pgbc, ok := bc.(*store.PGBroadcaster); ok {
		// Another node deleted an environment: drop what this one holds.
		pgbc.OnFacts(func(envID string) {
			if gone, ok := strings.CutPrefix(envID, facts.GonePrefix); ok {
				a.Facts.Engines.Forget(gone)
				a.Decisions.Forget(gone)
				a.limits.Forget(gone)
			}
		})
	}
	if db.Engine == store.SQLite {
		// This process owns the embedded database (its folder is locked):
		// every task still marked running was cut off by the last stop.
		if _, err := a.Jobs.Requeue(ctx, 0); err != nil {
			a.Close()
			return nil, err
		}
		if _, err := a.Jobs.RemoveSpools(); err != nil {
			a.Close()
			return nil, err
		}
	}
	if err := a.Queue.Start(bgCtx); err != nil {
		a.Close()
		return nil, err
	}
	a.queueStarted = true
	return a, nil
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
type seeder struct{ facts *facts.Service }

func (s seeder) SeedEnvironment(ctx context.Context, tx tenancy.Store, envID string) error {
	ftx, ok := tx.(facts.Store)
	if !ok {
		return fmt.Errorf("seed: the tenancy transaction is not a facts store (%T)", tx)
	}
	return s.facts.SeedEnvironmentTx(ctx, ftx, envID)
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

// runRetention deletes log entries older than each organization's
// log_retention_days, now and then every interval, until ctx ends.
func (a *App) runRetention(ctx context.Context, logs *store.LogStore, every time.Duration) {
	for {
		if err := a.PruneLogs(ctx, logs); err != nil && ctx.Err() == nil {
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
// entries of the purged organizations.
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
	}
	if n := len(p.Organizations) + len(p.Projects) + len(p.Environments); n > 0 {
		a.Log.Info("purged deleted items after their grace period", "organizations", p.Organizations, "projects", p.Projects, "environments", p.Environments)
	}
	return p, nil
}

// PruneLogs applies every organization's log retention once, and purges
// what was deleted longer ago than the grace period.
func (a *App) PruneLogs(ctx context.Context, logs *store.LogStore) error {
	if _, err := a.PurgeDeleted(ctx, time.Now()); err != nil {
		return err
	}
	orgs, err := a.Store.AllOrganizations(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	if _, err := a.Store.PruneSessions(ctx, now); err != nil {
		return err
	}
	if _, err := a.Store.PruneIdempotency(ctx, now); err != nil {
		return err
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

// decisionPolicy reads an environment's decision log setting.
func (a *App) decisionPolicy(ctx context.Context, envID string) (decision.Policy, error) {
	env, err := a.Store.EnvironmentByID(ctx, envID)
	if err != nil {
		return decision.Policy{}, err
	}
	return decision.Policy{Mode: env.Settings.DecisionLog, SampleRate: env.Settings.DecisionLogSampleRate}, nil
}

// Close stops background work (flushing what it holds, such as queued
// decisions) and closes the databases.
func (a *App) Close() error {
	a.closeOnce.Do(func() { close(a.closing) })
	if a.queueStarted {
		// Work in progress (a delivery, a batch) finishes; what is queued
		// waits in the database for the next start.
		a.Jobs.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := a.Queue.Stop(ctx); err != nil {
			a.Log.Warn("stop the queue", "err", err)
		}
		cancel()
		a.queueStarted = false
	}
	a.stop()
	a.wg.Wait()
	var rerr error
	if a.redis != nil {
		rerr = a.redis.Close()
	}
	return errors.Join(rerr, a.LogDB.Close(), a.DB.Close())
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
	return a.createOrganization(ctx, name, key, adminEmail, adminName, createdBy, "")
}

// createOrganization is CreateOrganization on a given tier ("" keeps the
// default, free).
func (a *App) createOrganization(ctx context.Context, name, key, adminEmail, adminName, createdBy, tier string) (*tenancy.Bootstrap, *apikey.Key, string, error) {
	b, err := a.Tenancy.NewBootstrap(name, key, adminEmail, adminName)
	if err != nil {
		return nil, nil, "", err
	}
	if tier != "" {
		b.Organization.Settings.Tier = tier
	}
	if createdBy == "" {
		// The instance's set-up made it, not the first Admin: removing
		// that member (keys follow the member who made them) leaves it.
		createdBy = "init"
	}
	k, token, err := a.Keys.Mint(apikey.Spec{Name: "Initial organization key", Level: auth.LevelOrganization,
		OrgID: b.Organization.ID, Scopes: gatehouse.AllScopes(), CreatedBy: createdBy})
	if err != nil {
		return nil, nil, "", err
	}
	err = a.Store.InTx(ctx, func(tx *store.Store) error {
		if err := b.Save(ctx, tx); err != nil {
			return err
		}
		return tx.CreateAPIKey(ctx, k)
	})
	if err != nil {
		return nil, nil, "", err
	}
	for _, env := range b.Environments { // every environment has a default tenant from the start
		if err := a.Facts.EnsureDefaultTenant(ctx, env.ID); err != nil {
			return nil, nil, "", err
		}
	}
	return b, k, token, nil
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

// Init creates the first organization unless one exists. It is idempotent:
// a second call creates nothing and returns the existing organization.
func (a *App) Init(ctx context.Context, opt InitOptions) (*InitResult, error) {
	n, err := a.Store.CountOrganizations(ctx)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		// The first organization is the operator's own: the enterprise tier
		// (10,000 requests per hour); organizations created later start free.
		b, k, token, err := a.createOrganization(ctx, opt.OrgName, opt.OrgKey, opt.AdminEmail, opt.AdminName, "", tenancy.TierEnterprise)
		if err == nil {
			// The first Admin chooses a dashboard password with a link.
			link, err := a.Tenancy.NewSetupToken(ctx, b.Admin, "init")
			if err != nil {
				return nil, err
			}
			return &InitResult{Created: true, Organization: b.Organization, Bootstrap: b, Key: k, Token: token, SetupPath: "/setup/" + link}, nil
		}
		if gatehouse.ErrorCode(err) != gatehouse.CodeConflict { // a concurrent init won the race
			return nil, err
		}
	}
	o, err := a.Store.FirstOrganization(ctx)
	if err != nil {
		return nil, err
	}
	return &InitResult{Organization: o}, nil
}

// KeyCacheHealthy reports whether this node receives API key invalidations
// (always true on SQLite, a single node).
func (a *App) KeyCacheHealthy() bool { return a.keysBroadcaster.Healthy() }

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
