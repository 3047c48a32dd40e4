package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/dberr"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

type pgErr struct{ code string }

func (e *pgErr) Error() string    { return "pg " + e.code }
func (e *pgErr) SQLState() string { return e.code }

// TestFailTellsRetryableDatabaseErrors: a database that cannot be reached,
// and a write it aborted to break a deadlock or a serialization conflict,
// are 503s saying so (the caller is told to try again); any other database
// error is a 500 that names nothing of it.
func TestFailTellsRetryableDatabaseErrors(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		err    error
		status int
		msg    string
	}{
		{fmt.Errorf("write decisions: %w", &pgErr{"40P01"}), http.StatusServiceUnavailable, dberr.AbortedMessage},
		{&pgErr{"40001"}, http.StatusServiceUnavailable, dberr.AbortedMessage},
		{&pgErr{"08006"}, http.StatusServiceUnavailable, dberr.Message},
		{&pgErr{"42P01"}, http.StatusInternalServerError, ""},
		{errors.New("something else"), http.StatusInternalServerError, ""},
	} {
		e := web.Fail(context.Background(), quiet, tc.err)
		if e.GetStatus() != tc.status || (tc.msg != "" && e.Err.Message != tc.msg) {
			t.Errorf("Fail(%v) = %d %q, want %d %q", tc.err, e.GetStatus(), e.Err.Message, tc.status, tc.msg)
		}
	}
}
