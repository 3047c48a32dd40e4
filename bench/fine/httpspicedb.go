package fine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// SpiceDBHTTP is SpiceDB's server binary (`spicedb serve`) on loopback,
// used through its HTTP gateway (--http-enabled), which hands each call to
// its gRPC server.
type SpiceDBHTTP struct {
	URL    string
	Proc   *Proc
	client *http.Client
}

// SpiceDBKey is the preshared key the server is started with.
const SpiceDBKey = "finehttp-bench"

// StartSpiceDB runs the server on the memory datastore (pgURL empty) or on
// PostgreSQL (migrated first). Its defaults stay (the dispatch cache
// among them), except: the metrics server, telemetry and the release check
// (calls to the internet) off, and the dispatch cache off when
// dispatchCache is false.
func StartSpiceDB(ctx context.Context, bin, dir, name, pgURL string, dispatchCache bool, client *http.Client) (*SpiceDBHTTP, error) {
	ds := []string{"--datastore-engine", "memory"}
	if pgURL != "" {
		ds = []string{"--datastore-engine", "postgres", "--datastore-conn-uri", pgURL}
		if err := RunOnce(ctx, dir, name+"-migrate", bin, append([]string{"datastore", "migrate", "head"}, ds...)...); err != nil {
			return nil, err
		}
	}
	ports, err := FreePorts(2)
	if err != nil {
		return nil, err
	}
	httpAddr := "127.0.0.1:" + strconv.Itoa(ports[0])
	args := append([]string{"serve", "--grpc-preshared-key", SpiceDBKey,
		"--grpc-addr", "127.0.0.1:" + strconv.Itoa(ports[1]),
		"--http-enabled", "--http-addr", httpAddr,
		"--metrics-enabled=false", "--telemetry-endpoint=", "--skip-release-check",
		"--dispatch-cache-enabled=" + strconv.FormatBool(dispatchCache),
	}, ds...)
	p, err := StartProc(dir, name, bin, args...)
	if err != nil {
		return nil, err
	}
	s := &SpiceDBHTTP{URL: "http://" + httpAddr, Proc: p, client: client}
	// The gateway answers (a 4xx: no schema yet) once gRPC serves behind it.
	if err := p.WaitReady(ctx, 2*time.Minute, func(ctx context.Context) error {
		err := PostJSON(ctx, client, s.URL+"/v1/schema/read", SpiceDBKey, map[string]any{}, nil)
		var he *HTTPError
		if err == nil || errors.As(err, &he) && he.Status/100 == 4 {
			return nil
		}
		return err
	}); err != nil {
		p.Stop()
		return nil, err
	}
	return s, nil
}

type spiceObject struct {
	ObjectType string `json:"objectType"`
	ObjectID   string `json:"objectId"`
}

type spiceSubject struct {
	Object           spiceObject `json:"object"`
	OptionalRelation string      `json:"optionalRelation,omitempty"`
}

func spiceRef(s string) (spiceObject, string, error) {
	ref, rel, _ := strings.Cut(s, "#")
	typ, key, ok := strings.Cut(ref, ":")
	if !ok {
		return spiceObject{}, "", fmt.Errorf("not type:key: %q", s)
	}
	return spiceObject{ObjectType: typ, ObjectID: key}, rel, nil
}

// Setup writes SpiceDBSchema and the relationships, batch per
// WriteRelationships call (its default maximum is 1,000), on workers
// clients.
func (s *SpiceDBHTTP) Setup(ctx context.Context, r *ReBAC, batch, workers int) error {
	if err := PostJSON(ctx, s.client, s.URL+"/v1/schema/write", SpiceDBKey, map[string]string{"schema": SpiceDBSchema}, nil); err != nil {
		return fmt.Errorf("spicedb: write schema: %w", err)
	}
	type rel struct {
		Resource spiceObject  `json:"resource"`
		Relation string       `json:"relation"`
		Subject  spiceSubject `json:"subject"`
	}
	type update struct {
		Operation    string `json:"operation"`
		Relationship rel    `json:"relationship"`
	}
	var ups []update
	add := func(object, relation, subject string) error {
		o, _, err := spiceRef(object)
		if err != nil {
			return err
		}
		sub, srel, err := spiceRef(subject)
		if err != nil {
			return err
		}
		ups = append(ups, update{Operation: "OPERATION_CREATE", Relationship: rel{Resource: o, Relation: relation, Subject: spiceSubject{Object: sub, OptionalRelation: srel}}})
		return nil
	}
	d := &r.DS.Data
	for _, t := range d.Tuples {
		if err := add(t.Object, t.Relation, t.Subject); err != nil {
			return err
		}
	}
	for _, a := range d.Assignments {
		if err := add(a.ResourceInstance, a.Role, "user:"+a.User); err != nil {
			return err
		}
	}
	n := (len(ups) + batch - 1) / batch
	return Parallel(ctx, n, workers, func(ctx context.Context, i int) error {
		part := ups[i*batch : min((i+1)*batch, len(ups))]
		if err := PostJSON(ctx, s.client, s.URL+"/v1/relationships/write", SpiceDBKey, map[string]any{"updates": part}, nil); err != nil {
			return fmt.Errorf("spicedb: write relationships %d–%d: %w", i*batch, i*batch+len(part), err)
		}
		return nil
	})
}

type spiceConsistency struct {
	FullyConsistent bool `json:"fullyConsistent"`
}

type spiceCheck struct {
	Consistency spiceConsistency `json:"consistency"`
	Resource    spiceObject      `json:"resource"`
	Permission  string           `json:"permission"`
	Subject     spiceSubject     `json:"subject"`
}

// Check is POST /v1/permissions/check, fully consistent.
func (s *SpiceDBHTTP) Check(ctx context.Context, q *authz.Request) (bool, error) {
	var out struct {
		Permissionship string `json:"permissionship"`
	}
	err := PostJSON(ctx, s.client, s.URL+"/v1/permissions/check", SpiceDBKey, spiceCheck{
		Consistency: spiceConsistency{FullyConsistent: true},
		Resource:    spiceObject{ObjectType: q.Resource, ObjectID: q.Key},
		Permission:  q.Action,
		Subject:     spiceSubject{Object: spiceObject{ObjectType: "user", ObjectID: q.User}},
	}, &out)
	if err != nil {
		return false, err
	}
	switch out.Permissionship {
	case "PERMISSIONSHIP_HAS_PERMISSION":
		return true, nil
	case "PERMISSIONSHIP_NO_PERMISSION":
		return false, nil
	}
	return false, fmt.Errorf("spicedb: permissionship %q", out.Permissionship)
}

// List is POST /v1/permissions/resources (LookupResources, fully
// consistent), whose answer the gateway streams as one JSON object per
// result.
func (s *SpiceDBHTTP) List(ctx context.Context, l *ListQuery) ([]string, error) {
	b, err := json.Marshal(map[string]any{
		"consistency":        spiceConsistency{FullyConsistent: true},
		"resourceObjectType": l.Resource,
		"permission":         l.Action,
		"subject":            spiceSubject{Object: spiceObject{ObjectType: "user", ObjectID: l.User}},
	})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/v1/permissions/resources", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+SpiceDBKey)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1000))
		return nil, &HTTPError{Method: req.Method, URL: req.URL.String(), Status: resp.StatusCode, Body: string(msg)}
	}
	var out []string
	dec := json.NewDecoder(resp.Body)
	for {
		var m struct {
			Result *struct {
				ResourceObjectID string `json:"resourceObjectId"`
				Permissionship   string `json:"permissionship"`
			} `json:"result"`
			Error *struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("spicedb: lookup stream: %w", err)
		}
		if m.Error != nil {
			return nil, fmt.Errorf("spicedb: lookup: %s", m.Error.Message)
		}
		if m.Result != nil && m.Result.Permissionship == "LOOKUP_PERMISSIONSHIP_HAS_PERMISSION" {
			out = append(out, m.Result.ResourceObjectID)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
