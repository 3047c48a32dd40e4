package apikey

// OnChange registers fn to run whenever a key changes on any node (revoked,
// rotated; "" when any key may have changed: a deleted environment,
// project or organization, or a node's listener that reconnected). fn runs
// after this node has dropped the key from its cache, so a Verify it
// triggers reads the key's current state. It runs on the broadcaster's
// goroutine and must not block. Register before the server starts.
func (s *Service) OnChange(fn func(keyID string)) { s.bc.Subscribe(fn) }
