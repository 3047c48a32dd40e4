package dberr_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/dberr"
)

type pgErr struct{ code string }

func (e *pgErr) Error() string    { return "pg " + e.code }
func (e *pgErr) SQLState() string { return e.code }

func TestAborted(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("deadlock"), false},
		{&pgErr{"23505"}, false},
		{&pgErr{"08006"}, false}, // unavailable, not aborted
		{fmt.Errorf("insert into decision_log: %w", &pgErr{"40P01"}), true},
		{&pgErr{"40001"}, true},
	} {
		if got := dberr.Aborted(tc.err); got != tc.want {
			t.Errorf("Aborted(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestUnavailable(t *testing.T) {
	_, dialErr := net.Dial("tcp", "127.0.0.1:1") // nothing listens on port 1
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("UNIQUE constraint failed"), false},
		{context.Canceled, false},
		{&pgErr{"23505"}, false}, // unique violation
		{fmt.Errorf("list users: %w", &pgErr{"08006"}), true},
		{&pgErr{"57P01"}, true},
		{dialErr, true},
		{fmt.Errorf("get: %w", driver.ErrBadConn), true},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{fmt.Errorf("write: %w", syscall.ECONNRESET), true},
		{errors.New("failed to connect to `user=postgres database=x`: dial error"), true},
	} {
		if got := dberr.Unavailable(tc.err); got != tc.want {
			t.Errorf("Unavailable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
