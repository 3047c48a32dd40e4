package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"

	"github.com/gatehouse-dev/gatehouse/client/authz"
)

// decodeSnapshot reads GET /v1/pdp/snapshot's answer ({"data": snapshot,
// …}) as json.Unmarshal would, but the lists of the data element by
// element: decoded whole, encoding/json first read the complete answer
// into its buffer (70 MB at 1M assignments) and gave every assignment
// strings of its own; here the buffer stays small and an assignment's
// user, role and tenant are the strings of its user's key and of the
// few roles and tenants (48 MB less at 1M assignments).
func decodeSnapshot(r io.Reader) (*Snapshot, error) {
	dec := json.NewDecoder(r)
	var s Snapshot
	found := false
	err := object(dec, func(key string) error {
		if key != "data" {
			return dec.Decode(&json.RawMessage{}) // status, meta
		}
		found = true
		return decodeSnapshotBody(dec, &s)
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("no data in the answer")
	}
	return &s, nil
}

// object reads a JSON object's opening brace, calls field for each key
// (which must consume the key's value), then reads its closing brace; null
// is an object without keys, as json.Unmarshal reads it into a struct.
func object(dec *json.Decoder, field func(key string) error) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t == nil {
		return nil
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("want an object, got %v", t)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := t.(string)
		if !ok {
			return fmt.Errorf("want an object key, got %v", t)
		}
		if err := field(key); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return delim(dec, '}')
}

func delim(dec *json.Decoder, want json.Delim) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return fmt.Errorf("want %q, got %v", want, t)
	}
	return nil
}

// fields maps the JSON names of a struct's fields (as encoding/json names
// them, case-sensitively here) to pointers to them.
func fields(v any) map[string]any {
	rv := reflect.ValueOf(v).Elem()
	out := map[string]any{}
	for i := range rv.NumField() {
		f := rv.Type().Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = rv.Field(i).Addr().Interface()
	}
	return out
}

func decodeSnapshotBody(dec *json.Decoder, s *Snapshot) error {
	ptrs := fields(s)
	return object(dec, func(key string) error {
		if key == "data" {
			return decodeData(dec, &s.Data)
		}
		if p, ok := ptrs[key]; ok {
			return dec.Decode(p)
		}
		return dec.Decode(&json.RawMessage{})
	})
}

func decodeData(dec *json.Decoder, d *authz.Data) error {
	ptrs := fields(d)
	// users come first in the server's answer: their keys are the
	// assignments' users
	strs := map[string]string{}
	intern := func(s string) string {
		if v, ok := strs[s]; ok {
			return v
		}
		strs[s] = s
		return s
	}
	return object(dec, func(key string) error {
		switch key {
		case "users":
			return decodeList(dec, &d.Users, func(u *authz.User) { u.Key = intern(u.Key) })
		case "assignments":
			return decodeList(dec, &d.Assignments, func(a *authz.Assignment) {
				a.User, a.Role, a.Tenant, a.ResourceInstance = intern(a.User), intern(a.Role), intern(a.Tenant), intern(a.ResourceInstance)
			})
		case "tuples":
			return decodeList(dec, &d.Tuples, func(t *authz.Tuple) {
				t.Subject, t.Relation, t.Object = intern(t.Subject), intern(t.Relation), intern(t.Object)
			})
		}
		if p, ok := ptrs[key]; ok {
			return dec.Decode(p)
		}
		return dec.Decode(&json.RawMessage{})
	})
}

// decodeList decodes a JSON array (or null: *out is left nil) element by
// element, appending each to *out after fix.
func decodeList[T any](dec *json.Decoder, out *[]T, fix func(*T)) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t == nil {
		*out = nil
		return nil
	}
	if d, ok := t.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("want a list, got %v", t)
	}
	*out = []T{} // [] is an empty list, not nil
	for dec.More() {
		var v T
		if err := dec.Decode(&v); err != nil {
			return err
		}
		fix(&v)
		*out = append(*out, v)
	}
	return delim(dec, ']')
}

// snapshot loads the snapshot with decodeSnapshot.
func (c *Client) snapshot(ctx context.Context) (*Snapshot, error) {
	res, err := c.send(ctx, request{method: http.MethodGet, path: "/v1/pdp/snapshot"})
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	s, err := decodeSnapshot(res.Body)
	if err != nil {
		return nil, fmt.Errorf("gatehouse: GET /v1/pdp/snapshot: decode the answer: %w", err)
	}
	return s, nil
}
