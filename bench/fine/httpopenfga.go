package fine

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	openfgav1 "github.com/openfga/api/proto/openfga/v1"
	"github.com/openfga/language/pkg/go/transformer"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// OpenFGAHTTP is OpenFGA's server binary (`openfga run`) on loopback with
// a PostgreSQL datastore, used through its HTTP API.
type OpenFGAHTTP struct {
	URL, Store, Model string
	Proc              *Proc
	client            *http.Client
}

// OpenFGAKey is the preshared key the server is started with.
const OpenFGAKey = "finehttp-bench"

// StartOpenFGA migrates the database at pgURL and runs the server. Its
// defaults stay, except: a preshared key (as Gatehouse checks a key),
// the playground and the metrics server off, ListObjects unlimited (its
// default answers at most 1,000 objects within 3 s; the request timeout,
// 3 s, must then exceed its deadline). extra flags go to `openfga run`.
func StartOpenFGA(ctx context.Context, bin, dir, pgURL string, client *http.Client, extra ...string) (*OpenFGAHTTP, error) {
	if err := RunOnce(ctx, dir, "openfga-migrate", bin, "migrate", "--datastore-engine", "postgres", "--datastore-uri", pgURL); err != nil {
		return nil, err
	}
	ports, err := FreePorts(2)
	if err != nil {
		return nil, err
	}
	httpAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
	args := append([]string{"run",
		"--datastore-engine", "postgres", "--datastore-uri", pgURL,
		"--http-addr", httpAddr, "--grpc-addr", "127.0.0.1:" + strconv.Itoa(ports[1]),
		"--authn-method", "preshared", "--authn-preshared-keys", OpenFGAKey,
		"--playground-enabled=false", "--metrics-enabled=false",
		"--listObjects-max-results", "0", "--listObjects-deadline", "5m", "--request-timeout", "6m",
	}, extra...)
	p, err := StartProc(dir, "openfga", bin, args...)
	if err != nil {
		return nil, err
	}
	f := &OpenFGAHTTP{URL: "http://" + httpAddr, Proc: p, client: client}
	if err := p.WaitReady(ctx, 2*time.Minute, func(ctx context.Context) error {
		var out struct{ Status string }
		if err := DoJSON(ctx, client, http.MethodGet, f.URL+"/healthz", "", nil, &out); err != nil {
			return err
		}
		if out.Status != "SERVING" {
			return fmt.Errorf("healthz: %q", out.Status)
		}
		return nil
	}); err != nil {
		p.Stop()
		return nil, err
	}
	return f, nil
}

// Setup creates the store and the authorization model (OpenFGAModel) and
// writes the data set, batch tuples per Write (the server's default
// maximum is 100), on workers clients.
func (f *OpenFGAHTTP) Setup(ctx context.Context, r *ReBAC, batch, workers int) error {
	var st struct{ ID string }
	if err := PostJSON(ctx, f.client, f.URL+"/stores", OpenFGAKey, map[string]string{"name": "finehttp"}, &st); err != nil {
		return fmt.Errorf("openfga: create store: %w", err)
	}
	f.Store = st.ID
	model, err := transformer.TransformDSLToProto(OpenFGAModel)
	if err != nil {
		return err
	}
	body, err := protojson.Marshal(&openfgav1.WriteAuthorizationModelRequest{SchemaVersion: model.GetSchemaVersion(), TypeDefinitions: model.GetTypeDefinitions()})
	if err != nil {
		return err
	}
	var wm struct {
		ID string `json:"authorization_model_id"`
	}
	if err := PostJSON(ctx, f.client, f.URL+"/stores/"+f.Store+"/authorization-models", OpenFGAKey, json.RawMessage(body), &wm); err != nil {
		return fmt.Errorf("openfga: write model: %w", err)
	}
	f.Model = wm.ID
	type tk struct {
		User     string `json:"user"`
		Relation string `json:"relation"`
		Object   string `json:"object"`
	}
	tks := fgaTuples(&r.DS.Data)
	n := (len(tks) + batch - 1) / batch
	return Parallel(ctx, n, workers, func(ctx context.Context, i int) error {
		part := tks[i*batch : min((i+1)*batch, len(tks))]
		keys := make([]tk, len(part))
		for j, t := range part {
			keys[j] = tk{User: t.GetUser(), Relation: t.GetRelation(), Object: t.GetObject()}
		}
		if err := PostJSON(ctx, f.client, f.URL+"/stores/"+f.Store+"/write", OpenFGAKey, map[string]any{
			"authorization_model_id": f.Model, "writes": map[string]any{"tuple_keys": keys},
		}, nil); err != nil {
			return fmt.Errorf("openfga: write tuples %d–%d: %w", i*batch, i*batch+len(part), err)
		}
		return nil
	})
}

type fgaTupleKey struct {
	User     string `json:"user"`
	Relation string `json:"relation"`
	Object   string `json:"object"`
}

type fgaCheck struct {
	TupleKey fgaTupleKey `json:"tuple_key"`
	Model    string      `json:"authorization_model_id"`
}

// Check is POST /stores/{id}/check.
func (f *OpenFGAHTTP) Check(ctx context.Context, q *authz.Request) (bool, error) {
	var out struct {
		Allowed bool `json:"allowed"`
	}
	err := PostJSON(ctx, f.client, f.URL+"/stores/"+f.Store+"/check", OpenFGAKey,
		fgaCheck{TupleKey: fgaTupleKey{User: "user:" + q.User, Relation: q.Action, Object: q.Resource + ":" + q.Key}, Model: f.Model}, &out)
	return out.Allowed, err
}

// List is POST /stores/{id}/list-objects.
func (f *OpenFGAHTTP) List(ctx context.Context, l *ListQuery) ([]string, error) {
	var out struct {
		Objects []string `json:"objects"`
	}
	if err := PostJSON(ctx, f.client, f.URL+"/stores/"+f.Store+"/list-objects", OpenFGAKey, map[string]string{
		"authorization_model_id": f.Model, "type": l.Resource, "relation": l.Action, "user": "user:" + l.User,
	}, &out); err != nil {
		return nil, err
	}
	return sortedCopy(out.Objects, l.Resource), nil
}
