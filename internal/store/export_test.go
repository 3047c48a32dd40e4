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
