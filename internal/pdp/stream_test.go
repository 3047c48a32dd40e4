package pdp

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/client/authz"
	"github.com/gatehouse-dev/gatehouse/client/authz/authztest"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
)

// The streamed snapshot file is byte for byte what json.Marshal writes, so
// that loadFromDisk (and an older PDP) reads it the same: with every list
// of the data filled, with the optional ones empty, and with the required
// ones nil (null).
func TestWriteSnapshotIsMarshal(t *testing.T) {
	now := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	rebac := authztest.GenerateReBAC(3, authztest.ReBACShape{Tenants: 2, Users: 20, Teams: 3, Folders: 10, Depth: 3, Documents: 30, Assignments: 40, TeamGrants: 5})
	abac := authztest.GenerateABAC(4, 10, 5)
	full := rebac.Data
	full.ConditionSets, full.SetRules = abac.Data.ConditionSets, abac.Data.SetRules
	full.Users = append(full.Users, authz.User{Key: "<a&b>", Email: "x@example.com", Attributes: map[string]any{"n": 1.5, "s": "é\u2028"}})
	for name, d := range map[string]authz.Data{
		"full":  full,
		"rbac":  authztest.Generate(authztest.Small, 1).Data,
		"empty": {},
	} {
		s := snapshot{Format: snapshotFormat, SavedAt: &now, OrganizationID: "o", ProjectID: "p", EnvironmentID: "e", Seq: 42,
			DecisionLog: decision.Policy{Mode: decision.ModeOff}, Data: d}
		want, err := json.Marshal(&s)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := writeSnapshot(&got, &s); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(got.Bytes(), want) {
			i := 0
			for i < min(got.Len(), len(want)) && got.Bytes()[i] == want[i] {
				i++
			}
			t.Fatalf("%s: the streamed JSON differs from json.Marshal's at byte %d:\n got …%.200s\nwant …%.200s", name, i, got.Bytes()[i:], want[i:])
		}
	}
}
