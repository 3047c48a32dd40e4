package httpapi

import (
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// SetPDPHeartbeat shortens the change stream's heartbeat for a test.
func SetPDPHeartbeat(d time.Duration) (restore func()) {
	old := pdpHeartbeat
	pdpHeartbeat = d
	return func() { pdpHeartbeat = old }
}

// NewBare builds the API of d with authentication, rate limiting and the API
// log replaced by the fixed caller p: the baseline of the middleware
// benchmark.
func NewBare(d Deps, p *auth.Principal) http.Handler {
	d.bare = p
	h, _ := New(d)
	return h
}

// FastAnswered is how many checks the fast check path answered in this
// process.
func FastAnswered() int64 { return fastAnswered.Load() }

// SetUsageTimeout shortens the usage queries' timeout for a test.
func SetUsageTimeout(d time.Duration) (restore func()) {
	old := usageTimeout.Swap(int64(d))
	return func() { usageTimeout.Store(old) }
}

// SetUsageMaxGroups lowers the rows a usage answer may have for a test.
func SetUsageMaxGroups(n int) (restore func()) {
	old := usageMaxGroups.Swap(int64(n))
	return func() { usageMaxGroups.Store(old) }
}
