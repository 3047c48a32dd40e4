package fine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	openfgav1 "github.com/openfga/api/proto/openfga/v1"
	"github.com/openfga/language/pkg/go/transformer"
	"github.com/openfga/openfga/pkg/server"
	"github.com/openfga/openfga/pkg/storage"
	"github.com/openfga/openfga/pkg/storage/memory"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// OpenFGAModel is the ReBAC schema of authztest in OpenFGA's DSL: editor
// extends viewer, folder and document roles flow from the parent folder,
// team members hold what is granted to team#member.
const OpenFGAModel = `model
  schema 1.1
type user
type team
  relations
    define member: [user]
type folder
  relations
    define parent: [folder]
    define editor: [user, team#member] or editor from parent
    define viewer: [user, team#member] or editor or viewer from parent
    define read: viewer
    define write: editor
    define share: editor
type document
  relations
    define parent: [folder]
    define editor: [user] or editor from parent
    define viewer: [user] or editor or viewer from parent
    define read: viewer
    define comment: viewer
    define write: editor
`

// OpenFGA is an OpenFGA server (package server, memory datastore) in
// process, holding one data set.
type OpenFGA struct {
	S              *server.Server
	Store, ModelID string
	Load           time.Duration // writing the tuples
}

// fgaTuples turns the data set into OpenFGA tuple keys.
func fgaTuples(d *authz.Data) []*openfgav1.TupleKey {
	var out []*openfgav1.TupleKey
	for _, t := range d.Tuples {
		// "folder:f1 parent folder:f2" → folder:f2#parent@folder:f1;
		// "team:t#member editor folder:f" → folder:f#editor@team:t#member
		out = append(out, &openfgav1.TupleKey{Object: t.Object, Relation: t.Relation, User: t.Subject})
	}
	for _, a := range d.Assignments {
		out = append(out, &openfgav1.TupleKey{Object: a.ResourceInstance, Relation: a.Role, User: "user:" + a.User})
	}
	return out
}

// NewOpenFGA starts an OpenFGA server in process and writes the data set
// straight into its memory datastore (the server's Write takes 100 tuples
// a call and validates each against the model; the memory datastore's
// Write is quadratic either way, see the README).
func NewOpenFGA(ctx context.Context, r *ReBAC) (*OpenFGA, error) {
	ds := memory.New(memory.WithMaxTuplesPerWrite(1 << 30))
	s, err := server.NewServerWithOpts(
		server.WithDatastore(ds),
		server.WithListObjectsMaxResults(0), // unlimited
		server.WithListObjectsDeadline(5*time.Minute),
		server.WithResolveNodeLimit(50),
	)
	if err != nil {
		return nil, err
	}
	st, err := s.CreateStore(ctx, &openfgav1.CreateStoreRequest{Name: "bench"})
	if err != nil {
		return nil, err
	}
	model, err := transformer.TransformDSLToProto(OpenFGAModel)
	if err != nil {
		return nil, err
	}
	wm, err := s.WriteAuthorizationModel(ctx, &openfgav1.WriteAuthorizationModelRequest{
		StoreId: st.GetId(), SchemaVersion: model.GetSchemaVersion(), TypeDefinitions: model.GetTypeDefinitions(),
	})
	if err != nil {
		return nil, err
	}
	f := &OpenFGA{S: s, Store: st.GetId(), ModelID: wm.GetAuthorizationModelId()}
	start := time.Now()
	tks := fgaTuples(&r.DS.Data)
	const batch = 5000
	for i := 0; i < len(tks); i += batch {
		if err := ds.Write(ctx, f.Store, nil, storage.Writes(tks[i:min(i+batch, len(tks))])); err != nil {
			return nil, err
		}
	}
	f.Load = time.Since(start)
	return f, nil
}

// Check asks OpenFGA q.
func (f *OpenFGA) Check(ctx context.Context, q *authz.Request) (bool, error) {
	res, err := f.S.Check(ctx, &openfgav1.CheckRequest{
		StoreId: f.Store, AuthorizationModelId: f.ModelID,
		TupleKey: &openfgav1.CheckRequestTupleKey{User: "user:" + q.User, Relation: q.Action, Object: q.Resource + ":" + q.Key},
	})
	if err != nil {
		return false, err
	}
	return res.GetAllowed(), nil
}

// List asks OpenFGA for the objects, keys sorted without the type.
func (f *OpenFGA) List(ctx context.Context, l *ListQuery) ([]string, error) {
	res, err := f.S.ListObjects(ctx, &openfgav1.ListObjectsRequest{
		StoreId: f.Store, AuthorizationModelId: f.ModelID, Type: l.Resource, Relation: l.Action, User: "user:" + l.User,
	})
	if err != nil {
		return nil, err
	}
	return sortedCopy(res.GetObjects(), l.Resource), nil
}

// Verify checks every check and list query of r against OpenFGA.
func (f *OpenFGA) Verify(ctx context.Context, r *ReBAC) error {
	for i := range r.Checks {
		q := &r.Checks[i]
		got, err := f.Check(ctx, &q.Request)
		if err != nil {
			return fmt.Errorf("openfga: check %+v: %w", q.Request, err)
		}
		if got != q.Want {
			return fmt.Errorf("openfga: check %+v = %v, want %v", q.Request, got, q.Want)
		}
	}
	for i := range r.Lists {
		l := &r.Lists[i]
		got, err := f.List(ctx, l)
		if err != nil {
			return fmt.Errorf("openfga: list %s: %w", l.User, err)
		}
		if !slices.Equal(got, l.Want) {
			return fmt.Errorf("openfga: list %s %s %s: %d keys, want %d (%s…)", l.User, l.Action, l.Resource, len(got), len(l.Want), strings.Join(got[:min(3, len(got))], ","))
		}
	}
	return nil
}

// Close stops the server.
func (f *OpenFGA) Close() { f.S.Close() }
