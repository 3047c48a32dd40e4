// Package dberr tells an error of a database that cannot be reached (down,
// restarting, the network to it cut) from any other, so that a call that
// met one is answered 503 with Retry-After rather than 500.
package dberr

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
)

// RetryAfter is the Retry-After (seconds) of an answer to a call that met
// an unreachable database.
const RetryAfter = "2"

// Message is what such a call is told.
const Message = "the database is unavailable; try again shortly"

// AbortedMessage is what a call is told whose write the database aborted to
// resolve a conflict with another (Aborted).
const AbortedMessage = "the database aborted the write to resolve a conflict with another one; try again"

// Aborted reports whether the database aborted err's statement for it to be
// retried: a deadlock it broke (PostgreSQL's 40P01) or a serialization
// failure (40001). Such a call is answered 503 with Retry-After, as one
// that met an unreachable database: nothing was written, and the same call
// again is expected to succeed.
func Aborted(err error) bool {
	var pg interface{ SQLState() string }
	if err == nil || !errors.As(err, &pg) {
		return false
	}
	c := pg.SQLState()
	return c == "40P01" || c == "40001"
}

// Unavailable reports whether err says the database could not be reached or
// the connection to it failed, as opposed to the database refusing the
// statement.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	// PostgreSQL's own: connection exceptions (class 08) and the server
	// shutting down or starting (57P01-57P03).
	var pg interface{ SQLState() string }
	if errors.As(err, &pg) {
		c := pg.SQLState()
		return strings.HasPrefix(c, "08") || c == "57P01" || c == "57P02" || c == "57P03"
	}
	// pgx's for a connection it lost or could not make, and database/sql's
	// for a pool it closed meanwhile.
	msg := err.Error()
	for _, s := range []string{"failed to connect to", "conn closed", "connection reset by peer", "broken pipe", "unexpected EOF", "sql: database is closed"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
