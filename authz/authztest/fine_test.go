package authztest

import "testing"

func TestGenerateFineIsDeterministic(t *testing.T) {
	a, b := GenerateFine(3, SmallFine), GenerateFine(3, SmallFine)
	if len(a.Requests) != SmallFine.Requests || len(a.Changes) != SmallFine.Changes {
		t.Fatalf("%d requests, %d changes", len(a.Requests), len(a.Changes))
	}
	m := NewModel(a.Data)
	allowed, held := 0, 0
	vias := map[string]int{}
	for i, r := range a.Requests {
		via, _, _ := m.Grant(r)
		vias[via.String()]++
		if m.Allowed(r) {
			allowed++
		}
		if m.Allowed(r) != NewModel(b.Data).Allowed(b.Requests[i]) {
			t.Fatalf("request %d: the same seed gives another answer", i)
		}
		if r.Key != "" && r.Key != "nokey" {
			held++
		}
	}
	t.Logf("%d/%d allowed, %d on held instances, %d tuples, grants %v", allowed, len(a.Requests), held, len(a.Data.Tuples), vias)
	if allowed < len(a.Requests)/20 || allowed > len(a.Requests)*9/10 {
		t.Errorf("%d of %d allowed: the generator is lopsided", allowed, len(a.Requests))
	}
}
