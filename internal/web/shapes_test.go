package web_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// The one error writer answers each path in the shape of the API that
// claims it, and every other path in the fallback's.
func TestErrorsPicksTheShapeByPath(t *testing.T) {
	writer := func(name string) web.ErrorWriter {
		return func(w http.ResponseWriter, _ *http.Request, err error) {
			_, _ = w.Write([]byte(name + ": " + err.Error()))
		}
	}
	errs := web.Errors(writer("envelope"),
		web.Shape{Owns: func(p string) bool { return strings.HasPrefix(p, "/v2/") }, Write: writer("v2")},
		web.Shape{Owns: func(p string) bool { return strings.HasPrefix(p, "/v") }, Write: writer("any v")})
	for _, tc := range []struct{ path, want string }{
		{"/v2/projects", "v2: boom"}, // the first claim that owns the path
		{"/v1/projects", "any v: boom"},
		{"/allowed", "envelope: boom"},
	} {
		w := httptest.NewRecorder()
		errs(w, httptest.NewRequest("GET", tc.path, nil), errors.New("boom"))
		if got := w.Body.String(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.path, got, tc.want)
		}
	}
}
