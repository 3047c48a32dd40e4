package httpapi

import "time"

// SetPDPHeartbeat shortens the change stream's heartbeat for a test.
func SetPDPHeartbeat(d time.Duration) (restore func()) {
	old := pdpHeartbeat
	pdpHeartbeat = d
	return func() { pdpHeartbeat = old }
}
