package client

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/client/authz/authztest"
)

// decodeSnapshot reads the server's answer as json.Unmarshal does, lists
// element by element, and the assignments share their users' keys.
func TestDecodeSnapshotIsUnmarshal(t *testing.T) {
	rebac := authztest.GenerateReBAC(3, authztest.ReBACShape{Tenants: 2, Users: 20, Teams: 3, Folders: 10, Depth: 3, Documents: 30, Assignments: 40, TeamGrants: 5})
	abac := authztest.GenerateABAC(4, 10, 5)
	full := rebac.Data
	full.ConditionSets, full.SetRules = abac.Data.ConditionSets, abac.Data.SetRules
	full.Users = append(full.Users, authz.User{Key: "<a&b>", Email: "x@example.com", Attributes: map[string]any{"n": 1.5, "s": "é\u2028"}})
	rbac := authztest.Generate(authztest.Small, 1).Data
	cases := map[string]string{}
	for name, d := range map[string]authz.Data{"full": full, "rbac": rbac, "empty lists": {Users: []authz.User{}, Assignments: []authz.Assignment{}}, "nil lists": {}} {
		b, err := json.Marshal(map[string]any{"status": "success", "meta": map[string]any{"request_id": "r"},
			"data": Snapshot{OrganizationID: "o", ProjectID: "p", EnvironmentID: "e", Seq: 7, DataFormat: authz.DataFormat, DecisionLog: json.RawMessage(`{"mode":"off"}`), Data: d}})
		if err != nil {
			t.Fatal(err)
		}
		cases[name] = string(b)
	}
	cases["unknown fields, null data"] = `{"data":{"seq":3,"later":{"x":[1,2]},"data":null},"status":"success"}`
	cases["unknown list"] = `{"data":{"seq":3,"data":{"users":[{"key":"u"}],"widgets":[{"a":1}],"assignments":null}}}`
	for name, text := range cases {
		var want struct{ Data Snapshot }
		if err := json.Unmarshal([]byte(text), &want); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := decodeSnapshot(strings.NewReader(text))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(*got, want.Data) {
			t.Fatalf("%s: decoded\n%+v\nwant\n%+v", name, *got, want.Data)
		}
	}

	got, err := decodeSnapshot(strings.NewReader(cases["rbac"]))
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]*byte{}
	for _, u := range got.Data.Users {
		keys[u.Key] = unsafe.StringData(u.Key)
	}
	for _, a := range got.Data.Assignments {
		if unsafe.StringData(a.User) != keys[a.User] {
			t.Fatalf("assignment %+v has a copy of its user's key", a)
		}
	}

	for _, bad := range []string{``, `[]`, `{"data":{"data":{"users":{}}}}`, `{"data":{"data":{"assignments":[1]}}}`, `{"data":{"seq":"x"}}`, `{"status":"success"}`, `{"data":{"data":{"users":[`} {
		if _, err := decodeSnapshot(strings.NewReader(bad)); err == nil {
			t.Errorf("%q decoded without an error", bad)
		}
	}
}
