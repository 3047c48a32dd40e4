package fine

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/secretkey"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// Loading an environment's engine from the database (issue 15: "load of
// 1M tuples from the database under 5 s"). The ReBAC data set is written
// into a real database with the store's bulk inserts (those of the import
// job), then the server's own path builds the engine: Engines.Forget, then
// Engines.Get (Store.LoadEnvironment, authz Engine.Load, catching up with
// the feed).

// Database backends of DBLoad.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"
)

// PostgresAdminURL is the server DBLoad creates its PostgreSQL database on
// (GATEHOUSE_TEST_DATABASE_URL, as the server's tests).
func PostgresAdminURL() string {
	if u := os.Getenv("GATEHOUSE_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// TempDB is a fresh database, removed by Close.
type TempDB struct {
	Backend string
	DB      *store.DB
	cleanup func() error
}

// Close closes the database and removes it (the SQLite directory, or the
// PostgreSQL database).
func (t *TempDB) Close() error {
	err := t.DB.Close()
	if t.cleanup != nil {
		if cerr := t.cleanup(); cerr != nil && err == nil {
			err = cerr
		}
	}
	return err
}

// OpenTempDB opens a fresh, migrated database: SQLite in a temporary
// directory, or a new PostgreSQL database on PostgresAdminURL.
func OpenTempDB(ctx context.Context, backend string) (*TempDB, error) {
	ring, err := testRing()
	if err != nil {
		return nil, err
	}
	switch backend {
	case BackendSQLite:
		dir, err := os.MkdirTemp("", "gatehouse-dbload-")
		if err != nil {
			return nil, fmt.Errorf("temp dir: %w", err)
		}
		db, err := store.OpenSQLite(ctx, filepath.Join(dir, "gatehouse.db"))
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		db.SetSecrets(ring)
		return &TempDB{Backend: backend, DB: db, cleanup: func() error { return os.RemoveAll(dir) }}, nil
	case BackendPostgres:
		admin := PostgresAdminURL()
		var b [6]byte
		_, _ = rand.Read(b[:])
		name := "gatehouse_dbload_" + hex.EncodeToString(b[:])
		conn, err := sql.Open("pgx", admin)
		if err != nil {
			return nil, fmt.Errorf("postgres %s: %w", admin, err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
			return nil, fmt.Errorf("create database on %s: %w", admin, err)
		}
		drop := func() error {
			c, err := sql.Open("pgx", admin)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := c.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
				return fmt.Errorf("drop database %s: %w", name, err)
			}
			return nil
		}
		u, err := url.Parse(admin)
		if err != nil {
			return nil, errorsJoin(fmt.Errorf("parse %s: %w", admin, err), drop())
		}
		u.Path = "/" + name
		db, err := store.OpenPostgres(ctx, u.String())
		if err != nil {
			return nil, errorsJoin(err, drop())
		}
		db.SetSecrets(ring)
		return &TempDB{Backend: backend, DB: db, cleanup: drop}, nil
	}
	return nil, fmt.Errorf("unknown backend %q (sqlite or postgres)", backend)
}

func errorsJoin(err, also error) error {
	if also != nil {
		return fmt.Errorf("%w (and %v)", err, also)
	}
	return err
}

// testRing is a throw-away secret key ring (the store seals secrets; this
// benchmark stores none).
func testRing() (*secretkey.Ring, error) {
	k, err := secretkey.Generate()
	if err != nil {
		return nil, err
	}
	return secretkey.NewRing(k)
}

// Populate writes d into a new environment of db and returns its id: the
// schema (resource types, relations, resource roles) through the facts
// service, tenants, users, instances, tuples and instance role
// assignments through the store's bulk inserts (those of the import job),
// in transactions of 20k rows, stored as the import stores them.
func Populate(ctx context.Context, db *store.DB, d *authz.Data) (string, error) {
	st := db.Store()
	now := time.Now().UTC()
	org := &tenancy.Organization{ID: tenancy.NewID(), Key: "bench", Name: "Bench", Settings: tenancy.DefaultOrgSettings(), CreatedAt: now, UpdatedAt: now}
	if err := st.CreateOrganization(ctx, org); err != nil {
		return "", err
	}
	proj := &tenancy.Project{ID: tenancy.NewID(), OrgID: org.ID, Key: "rebac", Name: "ReBAC", CreatedAt: now, UpdatedAt: now}
	if err := st.CreateProject(ctx, proj); err != nil {
		return "", err
	}
	env := &tenancy.Environment{ID: tenancy.NewID(), OrgID: org.ID, ProjectID: proj.ID, Key: "load", Name: "load",
		Settings: tenancy.DefaultEnvSettings(), CreatedAt: now, UpdatedAt: now}
	if err := st.CreateEnvironment(ctx, env); err != nil {
		return "", err
	}
	envID := env.ID
	svc := facts.NewService(st, slog.New(slog.NewTextHandler(io.Discard, nil)))

	resourceID := map[string]string{}
	for _, r := range d.Resources {
		res, err := svc.CreateResource(ctx, envID, facts.ResourceInput{Key: r.Key, Name: r.Name, Actions: r.Actions})
		if err != nil {
			return "", fmt.Errorf("resource %s: %w", r.Key, err)
		}
		resourceID[r.Key] = res.ID
	}
	for _, r := range d.Roles {
		if _, err := svc.CreateRole(ctx, envID, facts.RoleInput{Key: r.Key, Name: r.Name, Permissions: r.Permissions, Extends: r.Extends}); err != nil {
			return "", fmt.Errorf("role %s: %w", r.Key, err)
		}
	}
	for _, r := range d.Relations {
		if _, err := svc.CreateRelation(ctx, envID, r.Resource, facts.RelationInput{Key: r.Key, Name: r.Name, Subject: r.Subject}); err != nil {
			return "", fmt.Errorf("relation %s#%s: %w", r.Resource, r.Key, err)
		}
	}
	roleID := map[string]string{} // "resource:role" → id
	for _, r := range d.ResourceRoles {
		rr, err := svc.CreateResourceRole(ctx, envID, r.Resource, facts.ResourceRoleInput{Key: r.Key, Name: r.Name,
			Permissions: r.Permissions, Extends: r.Extends, GrantedTo: r.GrantedTo})
		if err != nil {
			return "", fmt.Errorf("resource role %s#%s: %w", r.Resource, r.Key, err)
		}
		roleID[r.Resource+":"+r.Key] = rr.ID
	}

	const batch = 20_000
	inBatches := func(n int, fn func(tx facts.Store, from, to int) error) error {
		for from := 0; from < n; from += batch {
			to := min(n, from+batch)
			if err := st.InFactsTx(ctx, envID, func(tx facts.Store) error { return fn(tx, from, to) }); err != nil {
				return err
			}
		}
		return nil
	}
	tenantID := map[string]string{}
	tenants := make([]*facts.Tenant, len(d.Tenants))
	for i, t := range d.Tenants {
		tenants[i] = &facts.Tenant{ID: tenancy.NewID(), EnvID: envID, Key: t.Key, Name: t.Key, Attributes: orEmpty(t.Attributes), CreatedAt: now, UpdatedAt: now}
		tenantID[t.Key] = tenants[i].ID
	}
	if err := inBatches(len(tenants), func(tx facts.Store, from, to int) error { return tx.InsertTenants(ctx, tenants[from:to]) }); err != nil {
		return "", err
	}
	userID := make(map[string]string, len(d.Users))
	users := make([]*facts.User, len(d.Users))
	for i, u := range d.Users {
		users[i] = &facts.User{ID: tenancy.NewID(), EnvID: envID, Key: u.Key, Email: u.Email, Attributes: orEmpty(u.Attributes), CreatedAt: now, UpdatedAt: now}
		userID[u.Key] = users[i].ID
	}
	if err := inBatches(len(users), func(tx facts.Store, from, to int) error { return tx.InsertUsers(ctx, users[from:to]) }); err != nil {
		return "", err
	}
	instID := make(map[string]string, len(d.Instances))     // "resource:key" → id
	instTenant := make(map[string]string, len(d.Instances)) // "resource:key" → tenant id
	insts := make([]*facts.Instance, len(d.Instances))
	for i, in := range d.Instances {
		tid, ok := tenantID[in.Tenant]
		if !ok {
			return "", fmt.Errorf("instance %s:%s: no tenant %q", in.Resource, in.Key, in.Tenant)
		}
		insts[i] = &facts.Instance{ID: tenancy.NewID(), EnvID: envID, ResourceID: resourceID[in.Resource], Key: in.Key, TenantID: tid,
			Attributes: orEmpty(in.Attributes), CreatedAt: now, UpdatedAt: now}
		instID[in.Resource+":"+in.Key] = insts[i].ID
		instTenant[in.Resource+":"+in.Key] = tid
	}
	if err := inBatches(len(insts), func(tx facts.Store, from, to int) error { return tx.InsertInstances(ctx, insts[from:to]) }); err != nil {
		return "", err
	}
	tuples := make([]facts.Tuple, len(d.Tuples))
	for i, t := range d.Tuples {
		subj, role, _ := strings.Cut(t.Subject, "#")
		sid, ok1 := instID[subj]
		oid, ok2 := instID[t.Object]
		if !ok1 || !ok2 {
			return "", fmt.Errorf("tuple %s %s %s: unknown instance", t.Subject, t.Relation, t.Object)
		}
		tuples[i] = facts.Tuple{ID: tenancy.NewID(), EnvID: envID, SubjectID: sid, SubjectRole: role, Relation: t.Relation, ObjectID: oid, CreatedAt: now}
	}
	if err := inBatches(len(tuples), func(tx facts.Store, from, to int) error {
		ins, err := tx.InsertTuples(ctx, tuples[from:to])
		if err == nil && len(ins) != to-from {
			err = fmt.Errorf("stored %d of %d tuples", len(ins), to-from)
		}
		return err
	}); err != nil {
		return "", err
	}
	var tenantAssignments []authz.Assignment
	var ias []facts.Assignment
	for _, a := range d.Assignments {
		if a.ResourceInstance == "" {
			tenantAssignments = append(tenantAssignments, a)
			continue
		}
		res, _, _ := strings.Cut(a.ResourceInstance, ":")
		uid, ok1 := userID[a.User]
		rid, ok2 := roleID[res+":"+a.Role]
		iid, ok3 := instID[a.ResourceInstance]
		if !ok1 || !ok2 || !ok3 {
			return "", fmt.Errorf("assignment %s %s on %s: unknown user, role or instance", a.User, a.Role, a.ResourceInstance)
		}
		ias = append(ias, facts.Assignment{ID: tenancy.NewID(), EnvID: envID, UserID: uid, RoleID: rid, InstanceID: iid, TenantID: instTenant[a.ResourceInstance], CreatedAt: now})
	}
	if err := inBatches(len(ias), func(tx facts.Store, from, to int) error {
		ins, err := tx.InsertInstanceAssignments(ctx, ias[from:to])
		if err == nil && len(ins) != to-from {
			err = fmt.Errorf("stored %d of %d instance role assignments", len(ins), to-from)
		}
		return err
	}); err != nil {
		return "", err
	}
	for _, a := range tenantAssignments {
		if _, err := svc.Assign(ctx, envID, facts.AssignInput{User: a.User, Role: a.Role, Tenant: a.Tenant}); err != nil {
			return "", fmt.Errorf("assign %s %s in %s: %w", a.User, a.Role, a.Tenant, err)
		}
	}
	return envID, nil
}

// DBLoadResult is one cold build of an environment's engine from the
// database.
type DBLoadResult struct {
	Backend                        string
	Tuples, Assignments, Instances int // as loaded by the engine
	Populate                       time.Duration
	// Get: Engines.Forget, then Engines.Get (read, build, catch up): what
	// a node does on an environment's first decision.
	Get time.Duration
	// GetCPU is the CPU time this process spent in Get, all goroutines and
	// the garbage collector included (on a shared machine wall time also
	// counts waiting for a core; PostgreSQL's own work is not in it).
	GetCPU time.Duration
	// HeapBytes is the live heap the engine adds (after a GC); PeakBytes
	// the highest heap during Get above the heap before it (sampled every
	// 2 ms); AllocBytes what Get allocated in all.
	HeapBytes, PeakBytes, AllocBytes uint64
	HeapBefore                       uint64 // the live heap before Get
	// Read and Build split a second cold load: Store.LoadEnvironment, then
	// authz Engine.Load of what it read.
	Read, Build time.Duration
}

// PerRelationship is heap bytes per tuple or assignment.
func (r DBLoadResult) PerRelationship() float64 {
	return float64(r.HeapBytes) / float64(r.Tuples+r.Assignments)
}

// DBLoad generates the ReBAC data set at scale with nChecks checks,
// writes it into a fresh database of backend, verifies the engine the
// server builds from it against the checks and lists, and measures cold
// builds. The data set is dropped once written, so that the process's
// live heap during the builds is about what a node's would be (the
// collector's work grows with it). The database is removed afterwards.
func DBLoad(ctx context.Context, backend string, scale float64, nChecks int, log io.Writer) (DBLoadResult, error) {
	res := DBLoadResult{Backend: backend}
	start := time.Now()
	r := newReBAC(scale, nChecks)
	fmt.Fprintf(log, "%s: data set at scale %g: %d tuples, %d assignments, %d instances, %d checks (%v)\n", backend, scale,
		len(r.DS.Data.Tuples), len(r.DS.Data.Assignments), len(r.DS.Data.Instances), len(r.Checks), time.Since(start).Round(time.Millisecond))
	tuples := len(r.DS.Data.Tuples)
	tdb, err := OpenTempDB(ctx, backend)
	if err != nil {
		return res, err
	}
	defer tdb.Close()
	start = time.Now()
	envID, err := Populate(ctx, tdb.DB, &r.DS.Data)
	if err != nil {
		return res, fmt.Errorf("populate %s: %w", backend, err)
	}
	res.Populate = time.Since(start)
	r.DS = nil // the checks and lists stay
	fmt.Fprintf(log, "%s: populated in %v\n", backend, res.Populate.Round(time.Millisecond))
	if backend == BackendPostgres {
		// as autovacuum would after a bulk import: fresh statistics
		if _, err := tdb.DB.Writer().ExecContext(ctx, "ANALYZE"); err != nil {
			return res, fmt.Errorf("analyze: %w", err)
		}
	}
	svc := facts.NewService(tdb.DB.Store(), slog.New(slog.NewTextHandler(io.Discard, nil)))

	// Warm-up and verification: the first build must answer as the model.
	e, err := svc.Engines.Get(ctx, envID)
	if err != nil {
		return res, err
	}
	if err := r.VerifyGatehouse(e); err != nil {
		return res, fmt.Errorf("%s: engine loaded from the database: %w", backend, err)
	}
	st := e.Stats()
	if st.Tuples != tuples {
		return res, fmt.Errorf("%s: engine has %d tuples, want %d", backend, st.Tuples, tuples)
	}
	res.Tuples, res.Assignments, res.Instances = st.Tuples, st.Assignments, st.Instances
	e = nil

	svc.Engines.Forget(envID)
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	peak := samplePeak()
	cpu0 := processCPU()
	start = time.Now()
	if e, err = svc.Engines.Get(ctx, envID); err != nil {
		return res, err
	}
	res.Get = time.Since(start)
	res.GetCPU = processCPU() - cpu0
	top := peak()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	if m1.HeapAlloc > m0.HeapAlloc {
		res.HeapBytes = m1.HeapAlloc - m0.HeapAlloc
	}
	if top > m0.HeapAlloc {
		res.PeakBytes = top - m0.HeapAlloc
	}
	res.AllocBytes = m1.TotalAlloc - m0.TotalAlloc
	// after the heap is read: answering builds lazy state in the engine
	if err := r.VerifyGatehouse(e); err != nil {
		return res, fmt.Errorf("%s: engine loaded from the database: %w", backend, err)
	}
	res.HeapBefore = m0.HeapAlloc
	fmt.Fprintf(log, "%s: live heap before %.0f MB; cold Engines.Get %v (CPU %v), engine heap %.1f MB (%.0f B/relationship), peak +%.0f MB, allocated %.0f MB\n", backend, float64(res.HeapBefore)/1e6,
		res.Get.Round(time.Millisecond), res.GetCPU.Round(time.Millisecond), float64(res.HeapBytes)/1e6, res.PerRelationship(), float64(res.PeakBytes)/1e6, float64(res.AllocBytes)/1e6)

	svc.Engines.Forget(envID)
	e = nil
	runtime.GC()
	start = time.Now()
	data, _, err := tdb.DB.Store().LoadEnvironment(ctx, envID)
	if err != nil {
		return res, err
	}
	res.Read = time.Since(start)
	start = time.Now()
	e2 := authz.New()
	if err := e2.Load(data); err != nil {
		return res, err
	}
	res.Build = time.Since(start)
	fmt.Fprintf(log, "%s: LoadEnvironment %v + Engine.Load %v\n", backend, res.Read.Round(time.Millisecond), res.Build.Round(time.Millisecond))
	return res, nil
}

// processCPU is the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// samplePeak samples the heap's live objects every 2 ms until the
// returned function is called, which returns the highest value seen.
func samplePeak() func() uint64 {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var top uint64
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() {
		metrics.Read(s)
		if v := s[0].Value.Uint64(); v > top {
			top = v
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				read()
				return
			case <-t.C:
				read()
			}
		}
	}()
	return func() uint64 {
		close(stop)
		wg.Wait()
		return top
	}
}
