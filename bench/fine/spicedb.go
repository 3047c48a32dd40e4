package fine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	dscfg "github.com/authzed/spicedb/pkg/cmd/datastore"
	"github.com/authzed/spicedb/pkg/cmd/server"
	"github.com/authzed/spicedb/pkg/cmd/util"
	"github.com/authzed/spicedb/pkg/datalayer"
	"github.com/authzed/spicedb/pkg/datastore"
	"github.com/authzed/spicedb/pkg/embedded"
	"github.com/authzed/spicedb/pkg/tuple"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// SpiceDBSchema is the ReBAC schema of authztest in SpiceDB's language.
const SpiceDBSchema = `definition user {}
definition team {
  relation member: user
}
definition folder {
  relation parent: folder
  relation editor: user | team#member
  relation viewer: user | team#member
  permission edit = editor + parent->edit
  permission view = viewer + edit + parent->view
  permission read = view
  permission write = edit
  permission share = edit
}
definition document {
  relation parent: folder
  relation editor: user
  relation viewer: user
  permission edit = editor + parent->edit
  permission view = viewer + edit + parent->view
  permission read = view
  permission write = edit
  permission comment = view
}
`

// SpiceDB is SpiceDB's memdb datastore in process, checked through
// pkg/embedded (its dispatch engine, no gRPC) and listed through its
// server (pkg/cmd/server) on an in-memory gRPC connection (bufconn):
// LookupResources is not in pkg/embedded.
type SpiceDB struct {
	DS    datastore.Datastore
	Perms *embedded.Permissions
	// Perm is a server without the cache of dispatched sub-problems,
	// PermCached one with it (SpiceDB's default).
	Perm, PermCached v1.PermissionsServiceClient
	Load             time.Duration
	conns            []*grpc.ClientConn
	stops            []func()
}

// NewSpiceDB builds the datastore, writes the relationships in
// transactions of 10k, and starts the checker and two servers, one
// without the cache of dispatched sub-problems, one with it.
func NewSpiceDB(ctx context.Context, r *ReBAC) (*SpiceDB, error) {
	bootstrap := "schema: |-\n  " + strings.ReplaceAll(strings.TrimSpace(SpiceDBSchema), "\n", "\n  ") + "\n"
	ds, err := dscfg.NewDatastore(ctx,
		dscfg.DefaultDatastoreConfig().ToOption(),
		dscfg.WithEngine(dscfg.MemoryEngine),
		dscfg.WithGCWindow(24*time.Hour),
		dscfg.SetBootstrapFileContents(map[string][]byte{"schema.yaml": []byte(bootstrap)}),
		// Both schema stores: pkg/embedded reads the unified one through
		// its schema cache (its README's advice), the server the legacy
		// one through its namespace cache (its default).
		dscfg.WithBootstrapSchemaMode(datalayer.SchemaModeReadLegacyWriteBoth),
	)
	if err != nil {
		return nil, err
	}
	s := &SpiceDB{DS: ds}
	var ups []tuple.RelationshipUpdate
	rel := func(res, rel, subj string) error {
		rt, err := tuple.Parse(res + "#" + rel + "@" + subj)
		if err != nil {
			return err
		}
		ups = append(ups, tuple.Create(rt))
		return nil
	}
	d := &r.DS.Data
	for _, t := range d.Tuples {
		if err := rel(t.Object, t.Relation, t.Subject); err != nil {
			return nil, err
		}
	}
	for _, a := range d.Assignments {
		if err := rel(a.ResourceInstance, a.Role, "user:"+a.User); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	const batch = 10_000
	for i := 0; i < len(ups); i += batch {
		part := ups[i:min(i+batch, len(ups))]
		if _, err := ds.ReadWriteTx(ctx, func(ctx context.Context, rwt datastore.ReadWriteTransaction) error {
			return rwt.WriteRelationships(ctx, part)
		}); err != nil {
			return nil, err
		}
	}
	s.Load = time.Since(start)
	if s.Perms, err = embedded.NewPermissions(embedded.Config{
		Datastore: ds, SchemaMode: datalayer.SchemaModeReadNewWriteNew, SchemaCacheMaxCostBytes: 16 << 20,
	}); err != nil {
		return nil, err
	}
	if s.Perm, err = s.serve(ctx, false); err != nil {
		s.Close()
		return nil, err
	}
	if s.PermCached, err = s.serve(ctx, true); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// serve starts a server on the datastore, on bufconn.
func (s *SpiceDB) serve(ctx context.Context, dispatchCache bool) (v1.PermissionsServiceClient, error) {
	cfg := server.NewConfigWithOptionsAndDefaults(
		server.WithDatastore(s.DS),
		server.WithGRPCServer(util.GRPCServerConfig{Network: util.BufferedNetwork, Enabled: true}),
		server.WithPresharedSecureKey("bench"),
		server.WithHTTPGateway(util.HTTPServerConfig{HTTPEnabled: false}),
		server.WithMetricsAPI(util.HTTPServerConfig{HTTPEnabled: false}),
		server.WithDispatchServer(util.GRPCServerConfig{Enabled: false}),
		server.WithTelemetryEndpoint(""),
		server.WithSilentlyDisableTelemetry(true),
		// Without a cache of sub-problem results the server decides every
		// check afresh, as Gatehouse does; the queries cycle, so with it
		// every check after the first round is a cache hit.
		server.WithDispatchCacheConfig(server.CacheConfig{Enabled: dispatchCache, MaxCost: "10%"}),
		server.WithClusterDispatchCacheConfig(server.CacheConfig{Enabled: false}),
	)
	rs, err := cfg.Complete(ctx)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	s.stops = append(s.stops, func() { cancel(); <-done })
	go func() { done <- rs.Run(sctx) }()
	conn, err := rs.NewClient(grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(bearer("bench")))
	if err != nil {
		return nil, err
	}
	s.conns = append(s.conns, conn)
	return v1.NewPermissionsServiceClient(conn), nil
}

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}
func (bearer) RequireTransportSecurity() bool { return false }

// Check asks SpiceDB q through pkg/embedded (fully consistent).
func (s *SpiceDB) Check(ctx context.Context, q *authz.Request) (bool, error) {
	res, err := s.Perms.Check(ctx, embedded.CheckRequest{ResourceType: q.Resource, ResourceID: q.Key, Permission: q.Action, SubjectType: "user", SubjectID: q.User})
	return res.HasPermission, err
}

// CheckGRPC asks SpiceDB q through its server without the dispatch cache
// (fully consistent).
func (s *SpiceDB) CheckGRPC(ctx context.Context, q *authz.Request) (bool, error) {
	return checkGRPC(ctx, s.Perm, q)
}

// CheckCached asks SpiceDB q through its server with the dispatch cache.
func (s *SpiceDB) CheckCached(ctx context.Context, q *authz.Request) (bool, error) {
	return checkGRPC(ctx, s.PermCached, q)
}

func checkGRPC(ctx context.Context, p v1.PermissionsServiceClient, q *authz.Request) (bool, error) {
	res, err := p.CheckPermission(ctx, &v1.CheckPermissionRequest{
		Consistency: &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}},
		Resource:    &v1.ObjectReference{ObjectType: q.Resource, ObjectId: q.Key},
		Permission:  q.Action,
		Subject:     &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: q.User}},
	})
	if err != nil {
		return false, err
	}
	return res.GetPermissionship() == v1.CheckPermissionResponse_PERMISSIONSHIP_HAS_PERMISSION, nil
}

// List asks SpiceDB's LookupResources (fully consistent), keys sorted.
func (s *SpiceDB) List(ctx context.Context, l *ListQuery) ([]string, error) {
	st, err := s.Perm.LookupResources(ctx, &v1.LookupResourcesRequest{
		Consistency:        &v1.Consistency{Requirement: &v1.Consistency_FullyConsistent{FullyConsistent: true}},
		ResourceObjectType: l.Resource,
		Permission:         l.Action,
		Subject:            &v1.SubjectReference{Object: &v1.ObjectReference{ObjectType: "user", ObjectId: l.User}},
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for {
		m, err := st.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if m.GetPermissionship() == v1.LookupPermissionship_LOOKUP_PERMISSIONSHIP_HAS_PERMISSION {
			out = append(out, m.GetResourceObjectId())
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Verify checks every check through pkg/embedded, the first 200 through
// both servers, and the list queries of r.
func (s *SpiceDB) Verify(ctx context.Context, r *ReBAC) error {
	for i := range r.Checks {
		q := &r.Checks[i]
		checks := []func(context.Context, *authz.Request) (bool, error){s.Check, s.CheckGRPC, s.CheckCached}
		if i >= 200 {
			checks = checks[:1]
		}
		for _, c := range checks {
			got, err := c(ctx, &q.Request)
			if err != nil {
				return fmt.Errorf("spicedb: check %+v: %w", q.Request, err)
			}
			if got != q.Want {
				return fmt.Errorf("spicedb: check %+v = %v, want %v", q.Request, got, q.Want)
			}
		}
	}
	for i := range r.Lists {
		l := &r.Lists[i]
		got, err := s.List(ctx, l)
		if err != nil {
			return fmt.Errorf("spicedb: list %s: %w", l.User, err)
		}
		if !slices.Equal(got, l.Want) {
			return fmt.Errorf("spicedb: list %s %s %s: %d keys, want %d", l.User, l.Action, l.Resource, len(got), len(l.Want))
		}
	}
	return nil
}

// Close stops the server and closes the datastore.
func (s *SpiceDB) Close() {
	for _, c := range s.conns {
		c.Close()
	}
	for _, stop := range s.stops {
		stop()
	}
	if s.Perms != nil {
		s.Perms.Close()
	}
	s.DS.Close()
}
