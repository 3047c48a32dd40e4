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

func TestReBACScaled(t *testing.T) {
	ds := GenerateReBAC(1, ReBACFull.Scale(0.01))
	d := ds.Data
	t.Logf("%d users, %d instances, %d tuples, %d assignments", len(d.Users), len(d.Instances), len(d.Tuples), len(d.Assignments))
	if len(d.Assignments) != 1000 || len(d.Instances) != 2+200+2000 {
		t.Fatalf("sizes: %d assignments, %d instances", len(d.Assignments), len(d.Instances))
	}
	qs := ds.Queries(2000, 2)
	allowed := 0
	for _, q := range qs {
		if q.Want {
			allowed++
		}
	}
	t.Logf("%d/%d allowed", allowed, len(qs))
	if allowed < len(qs)/5 || allowed > len(qs)*4/5 {
		t.Errorf("%d of %d allowed: lopsided", allowed, len(qs))
	}
}

func TestABAC(t *testing.T) {
	ds := GenerateABAC(1, 200, 300)
	if len(ds.Data.ConditionSets) != 20 || len(ds.Data.SetRules) != 50 {
		t.Fatalf("%d condition sets, %d set rules", len(ds.Data.ConditionSets), len(ds.Data.SetRules))
	}
	qs := ds.Queries(3000, 2)
	allowed := 0
	for _, q := range qs {
		if q.Want {
			allowed++
		}
	}
	t.Logf("%d/%d allowed", allowed, len(qs))
	if allowed < len(qs)/20 || allowed > len(qs)*9/10 {
		t.Errorf("%d of %d allowed: lopsided", allowed, len(qs))
	}
}
