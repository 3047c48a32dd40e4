package store

import (
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/facts"
)

// MergedCursorAt is the cursor of the merged list of both kinds of
// assignment (listMergedAssignments) positioned just before created_at
// at: what a walk would hand out there, for benchmarks that start deep in
// a list without walking to it.
func MergedCursorAt(f facts.AssignmentFilter, desc bool, at time.Time) string {
	id := "0" // before every id of that instant: ids are UUIDs
	if desc {
		id = "g" // after every id (hex digits and dashes sort before g)
	}
	return encodeCursor(cursorPos{Bind: mergedBinding(f, desc), Key: micros(at), ID: id})
}

// SetDeepOffset sets the offset from which a page asked for by number is
// read through the row before it, for a benchmark to time the plain
// OFFSET read beside it; it returns a func that restores the default.
// Never in a parallel test.
func SetDeepOffset(n int) (restore func()) {
	old := deepOffset
	deepOffset = n
	return func() { deepOffset = old }
}

// SetMergedByNumber sets whether shallow pages by number of the
// assignments of both kinds are read merged (as by cursor) or from the
// sorted union of both tables, for a benchmark to time both; it returns a
// func that restores the default. Never in a parallel test.
func SetMergedByNumber(on bool) (restore func()) {
	old := mergedByNumber
	mergedByNumber = on
	return func() { mergedByNumber = old }
}

// WithoutAnchors is s reading every deep page by number by a skip, never
// through a kept cursor (anchor.go), for a test or a benchmark to compare
// the two on the same node.
func WithoutAnchors(s *Store) *Store {
	c := *s
	c.noAnchors = true
	return &c
}
