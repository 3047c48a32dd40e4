package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// The admitted caller lives in the request's own record when nothing
// above set one; an explicit WithPrincipal always wins; a second admission
// never overwrites the first's record (contexts taken before it keep it).
func TestAdmittedKeepsCallersApart(t *testing.T) {
	first, second := &auth.Principal{KeyID: "k1"}, &auth.Principal{KeyID: "k2"}
	var ctx context.Context
	WithRequestID(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { ctx = r.Context() })).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/v1/me", nil))
	if ctx == nil || Principal(ctx) != nil {
		t.Fatal("a fresh request must have no caller")
	}

	c1, fresh := Admitted(ctx, first)
	if fresh || c1 != ctx || Principal(ctx) != first {
		t.Fatalf("the first admission goes in the request's record: fresh=%v same=%v", fresh, c1 == ctx)
	}
	c2, fresh := Admitted(c1, second)
	if !fresh || Principal(c2) != second || Principal(c1) != first {
		t.Fatalf("a second admission is a new context and leaves the first alone: fresh=%v", fresh)
	}

	tests := []struct {
		name      string
		ctx       context.Context
		want      *auth.Principal
		wantFresh bool
	}{
		{"explicit caller above the record", WithPrincipal(ctx, second), first, true},
		{"explicit nil hides the record's caller", WithPrincipal(ctx, nil), first, true},
		{"no request record at all", context.Background(), first, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, fresh := Admitted(tc.ctx, first)
			if fresh != tc.wantFresh || Principal(c) != tc.want {
				t.Fatalf("fresh=%v principal=%v, want %v %v", fresh, Principal(c), tc.wantFresh, tc.want)
			}
		})
	}
	if Principal(WithPrincipal(ctx, nil)) != nil {
		t.Fatal("WithPrincipal(ctx, nil) must hide the record's caller")
	}
	if RecordOf(ctx) != nil {
		t.Fatal("a call outside WithAPILog has no log record")
	}
}
