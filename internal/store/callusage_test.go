package store_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/store"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
)

// testCallUsage: logged calls counted per bucket by status class and by
// caller, keeping to their organization, environment and window.
func testCallUsage(t *testing.T, st *store.LogStore) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	call := func(i int, org, env, actor string, at time.Time, status int) apilog.Call {
		return apilog.Call{ID: fmt.Sprintf("cu-%d", i), Time: at, RequestID: fmt.Sprintf("cu-r-%d", i), OrganizationID: org, ProjectID: "p1",
			EnvironmentID: env, ActorType: "key", ActorID: actor, Method: "POST", Route: "/v1/users", Path: "/v1/users", Status: status}
	}
	calls := []apilog.Call{
		call(1, "ou", "eu", "k1", t0, 200),
		call(2, "ou", "eu", "k1", t0.Add(time.Minute), 201),
		call(3, "ou", "eu", "k2", t0.Add(2*time.Minute), 404),
		call(4, "ou", "eu", "k2", t0.Add(70*time.Minute), 500),
		call(5, "ou", "eu", "k1", t0.Add(3*time.Hour), 200),  // after the window
		call(6, "ou", "eu", "k1", t0.Add(-time.Second), 200), // before it
		call(7, "ou", "ev", "k1", t0, 200),                   // another environment
		call(8, "ov", "eu", "k1", t0, 200),                   // another organization
	}
	if err := st.WriteAPILog(ctx, calls); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		by   usage.CallGrouping
		want []usage.CallBucket
	}{
		{"by status", usage.CallGrouping{Status: true}, []usage.CallBucket{{Start: t0, Status: "2xx", Calls: 2}, {Start: t0, Status: "4xx", Calls: 1}, {Start: t0.Add(time.Hour), Status: "5xx", Calls: 1}}},
		{"by key", usage.CallGrouping{Key: true}, []usage.CallBucket{{Start: t0, KeyID: "k1", Calls: 2}, {Start: t0, KeyID: "k2", Calls: 1}, {Start: t0.Add(time.Hour), KeyID: "k2", Calls: 1}}},
		{"by both", usage.CallGrouping{Status: true, Key: true}, []usage.CallBucket{{Start: t0, Status: "2xx", KeyID: "k1", Calls: 2}, {Start: t0, Status: "4xx", KeyID: "k2", Calls: 1},
			{Start: t0.Add(time.Hour), Status: "5xx", KeyID: "k2", Calls: 1}}},
		{"by neither", usage.CallGrouping{}, []usage.CallBucket{{Start: t0, Calls: 3}, {Start: t0.Add(time.Hour), Calls: 1}}},
	} {
		got, err := st.CallUsage(ctx, apilog.Filter{OrgID: "ou", EnvID: "eu"}, t0, t0.Add(2*time.Hour), time.Hour, tc.by)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	// The whole organization: both its environments' calls.
	org, err := st.CallUsage(ctx, apilog.Filter{OrgID: "ou"}, t0, t0.Add(2*time.Hour), 2*time.Hour, usage.CallGrouping{Key: true})
	if want := []usage.CallBucket{{Start: t0, KeyID: "k1", Calls: 3}, {Start: t0, KeyID: "k2", Calls: 2}}; err != nil || !reflect.DeepEqual(org, want) {
		t.Fatalf("organization: %+v %v, want %+v", org, err, want)
	}
	if _, err := st.CallUsage(ctx, apilog.Filter{OrgID: "ou"}, t0, t0.Add(time.Hour), 0, usage.CallGrouping{}); err == nil {
		t.Fatal("a zero bucket width was accepted")
	}
}
