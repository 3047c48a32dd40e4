package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/jsonstream"
)

// The streamed snapshot is the JSON an Out[PDPSnapshot] encoded whole was
// (the spec documents it as one), for every list, empty or not.
func TestSnapshotWriterMatchesTheEnvelope(t *testing.T) {
	full := authz.Data{
		Users:       []authz.User{{Key: "u1", Email: "a<b>@x.io", Attributes: map[string]any{"dept": "r&d", "level": 3.0}}, {Key: "u2"}},
		Tenants:     []authz.Tenant{{Key: "t1", Name: "T", Attributes: map[string]any{"tier": "gold"}}},
		Resources:   []authz.Resource{{Key: "doc", Actions: []string{"read", "write"}}},
		Roles:       []authz.Role{{Key: "viewer", Permissions: []string{"doc:read"}}, {Key: "editor", Permissions: []string{"doc:write"}, Extends: []string{"viewer"}}},
		Assignments: []authz.Assignment{{User: "u1", Role: "viewer", Tenant: "t1"}, {User: "u2", Role: "owner", Tenant: "t1", ResourceInstance: "doc:1"}},
		ResourceRoles: []authz.ResourceRole{{Resource: "doc", Key: "owner", Permissions: []string{"write"}},
			{Resource: "doc", Key: "reader", Permissions: []string{"read"}, GrantedTo: []authz.Derivation{{Role: "owner", OnResource: "folder", LinkedByRelation: "parent"}}}},
		Relations:     []authz.Relation{{Resource: "doc", Key: "parent", Subject: "folder"}},
		Instances:     []authz.Instance{{Resource: "doc", Key: "1", Tenant: "t1", Attributes: map[string]any{"x": []any{"a"}}}},
		Tuples:        []authz.Tuple{{Subject: "folder:f", Relation: "parent", Object: "doc:1"}},
		ConditionSets: []authz.ConditionSet{{Key: "us", Type: "userset", Conditions: json.RawMessage(`{"allOf":[]}`)}},
		SetRules:      []authz.SetRule{{UserSet: "us", Action: "read", ResourceSet: "rs"}},
	}
	m := Meta{RequestID: "req-1"}
	for name, d := range map[string]authz.Data{"full": full, "empty": {}} {
		t.Run(name, func(t *testing.T) {
			head := PDPSnapshot{OrganizationID: "org", ProjectID: "prj", EnvironmentID: "env", Seq: 42, DataFormat: authz.DataFormat,
				DecisionLog: decision.Policy{Mode: decision.ModeSampled, SampleRate: 0.5}}
			var got bytes.Buffer
			if err := writeSnapshot(jsonstream.New(&got, 32<<10), head, d, m); err != nil {
				t.Fatal(err)
			}
			whole := head
			whole.Data = mirror(d)
			want, err := json.Marshal(Envelope[PDPSnapshot]{Status: "success", Data: whole, Meta: m})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(bytes.TrimSpace(got.Bytes()), want) {
				t.Fatalf("streamed:\n%s\nencoded whole:\n%s", got.Bytes(), want)
			}
			var back Envelope[PDPSnapshot]
			if err := json.Unmarshal(got.Bytes(), &back); err != nil {
				t.Fatalf("decode the streamed answer: %v", err)
			}
			if back.Data.Seq != 42 || len(back.Data.Data.Assignments) != len(d.Assignments) || len(back.Data.Data.SetRules) != len(d.SetRules) {
				t.Fatalf("decoded %+v", back.Data)
			}
		})
	}
}

// mirror is the copy the handler used to make before encoding.
func mirror(d authz.Data) SnapshotData {
	conv := func(in []authz.Derivation) []SnapshotDerivation {
		out := make([]SnapshotDerivation, len(in))
		for i, v := range in {
			out[i] = SnapshotDerivation(v)
		}
		return out
	}
	s := SnapshotData{Users: []SnapshotUser{}, Tenants: []SnapshotTenant{}, Resources: []SnapshotResource{}, Roles: []SnapshotRole{}, Assignments: []SnapshotAssignment{}}
	for _, v := range d.Users {
		s.Users = append(s.Users, SnapshotUser(v))
	}
	for _, v := range d.Tenants {
		s.Tenants = append(s.Tenants, SnapshotTenant(v))
	}
	for _, v := range d.Resources {
		s.Resources = append(s.Resources, SnapshotResource(v))
	}
	for _, v := range d.Roles {
		s.Roles = append(s.Roles, SnapshotRole(v))
	}
	for _, v := range d.Assignments {
		s.Assignments = append(s.Assignments, SnapshotAssignment(v))
	}
	for _, v := range d.ResourceRoles {
		s.ResourceRoles = append(s.ResourceRoles, SnapshotResourceRole{Resource: v.Resource, Key: v.Key, Name: v.Name, Permissions: v.Permissions, Extends: v.Extends, GrantedTo: conv(v.GrantedTo)})
	}
	for _, v := range d.Relations {
		s.Relations = append(s.Relations, SnapshotRelation(v))
	}
	for _, v := range d.Instances {
		s.Instances = append(s.Instances, SnapshotInstance(v))
	}
	for _, v := range d.Tuples {
		s.Tuples = append(s.Tuples, SnapshotTuple(v))
	}
	for _, v := range d.ConditionSets {
		s.ConditionSets = append(s.ConditionSets, SnapshotConditionSet(v))
	}
	for _, v := range d.SetRules {
		s.SetRules = append(s.SetRules, SnapshotSetRule(v))
	}
	return s
}
