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
		name  string
		byKey bool
		want  []usage.CallBucket
	}{
		{"by status", false, []usage.CallBucket{{Start: t0, Group: "2xx", Calls: 2}, {Start: t0, Group: "4xx", Calls: 1}, {Start: t0.Add(time.Hour), Group: "5xx", Calls: 1}}},
		{"by key", true, []usage.CallBucket{{Start: t0, Group: "k1", Calls: 2}, {Start: t0, Group: "k2", Calls: 1}, {Start: t0.Add(time.Hour), Group: "k2", Calls: 1}}},
	} {
		got, err := st.CallUsage(ctx, "ou", "eu", t0, t0.Add(2*time.Hour), time.Hour, tc.byKey)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if _, err := st.CallUsage(ctx, "ou", "eu", t0, t0.Add(time.Hour), 0, false); err == nil {
		t.Fatal("a zero bucket width was accepted")
	}
}
