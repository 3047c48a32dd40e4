// Package usage counts permission checks per API key and environment in
// memory, cheaply enough for the check path (an atomic add), for the usage
// table the server flushes them to. Checks are counted rather than logged
// one row each in the API log (an environment can turn that on).
package usage

import (
	"sync"
	"sync/atomic"
	"time"
)

// Counts are one key's checks in one environment since the last take.
type Counts struct {
	allowed, denied atomic.Int64
}

// Add counts one check.
func (c *Counts) Add(allow bool) {
	if allow {
		c.allowed.Add(1)
	} else {
		c.denied.Add(1)
	}
}

// AddN counts n checks, of which allowed were allowed.
func (c *Counts) AddN(allowed, n int64) {
	if allowed > 0 {
		c.allowed.Add(allowed)
	}
	if n-allowed > 0 {
		c.denied.Add(n - allowed)
	}
}

// Cell names whose checks a Counts holds.
type Cell struct {
	OrgID, ProjectID, EnvID, KeyID string
}

// Row is what a take returns for one cell: the checks counted since the
// previous take, in the minute of the take.
type Row struct {
	Cell
	Minute          time.Time
	Allowed, Denied int64
}

// Meter holds the Counts of every (key, environment) that checked.
type Meter struct {
	mu    sync.Mutex
	cells map[Cell]*Counts
	// taken are the checks taken from the cells so far (and not returned).
	taken struct{ allowed, denied int64 }
}

// NewMeter returns an empty meter.
func NewMeter() *Meter { return &Meter{cells: map[Cell]*Counts{}} }

// Counts returns the counter of c, made on first use. Callers on the hot
// path keep the pointer (an environment key's principal carries its own).
func (m *Meter) Counts(c Cell) *Counts {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	n := m.cells[c]
	if n == nil {
		n = &Counts{}
		m.cells[c] = n
	}
	m.mu.Unlock()
	return n
}

// Take returns the checks counted since the previous take (cells with none
// are left out) and sets them back to zero; at names the minute they are
// booked in.
func (m *Meter) Take(at time.Time) []Row {
	minute := at.UTC().Truncate(time.Minute)
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Row
	for c, n := range m.cells {
		a, d := n.allowed.Swap(0), n.denied.Swap(0)
		m.taken.allowed += a
		m.taken.denied += d
		if a != 0 || d != 0 {
			out = append(out, Row{Cell: c, Minute: minute, Allowed: a, Denied: d})
		}
	}
	return out
}

// Return puts rows a failed write could not keep back into the counts, so
// that the next take writes them.
func (m *Meter) Return(rows []Row) {
	for _, r := range rows {
		n := m.Counts(r.Cell)
		m.mu.Lock()
		m.taken.allowed -= r.Allowed
		m.taken.denied -= r.Denied
		n.allowed.Add(r.Allowed)
		n.denied.Add(r.Denied)
		m.mu.Unlock()
	}
}

// Totals are the checks counted since the meter was made, taken or not
// (a metric reads them; the check path does nothing more for it).
func (m *Meter) Totals() (allowed, denied int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	allowed, denied = m.taken.allowed, m.taken.denied
	for _, n := range m.cells {
		allowed += n.allowed.Load()
		denied += n.denied.Load()
	}
	return allowed, denied
}

// Bucket is the checks of one time bucket, as read back.
type Bucket struct {
	Start   time.Time
	KeyID   string // "" unless grouped by key
	Allowed int64
	Denied  int64
}

// CallBucket is the API calls of one time bucket, status class (such as
// "2xx") and caller's id, each "" unless grouped by.
type CallBucket struct {
	Start  time.Time
	Status string
	KeyID  string
	Calls  int64
}

// CallGrouping says what calls are grouped by besides their bucket.
type CallGrouping struct{ Status, Key bool }

// DeliveryBucket is the webhook deliveries created in one time bucket, by
// their status now.
type DeliveryBucket struct {
	Start                                 time.Time
	Succeeded, Failed, Pending, Cancelled int64
}
