package client

import "context"

type idempotencyKeyCtx struct{}

// WithIdempotencyKey returns a context under which a POST carries key as
// its Idempotency-Key header: a retry of the same request with the same key
// within 24 hours gets the server's first answer again (header
// Idempotent-Replayed: true) instead of running twice, and the same key
// with another request is a CONFLICT: use one key per request. Keys are 1
// to 255 printable ASCII characters, per organization; the server refuses
// others (400). Other methods ignore it. Such a POST is tried again after
// a connection error, as a GET is, and after a 409 whose reason is
// in_progress (its first try still running), within WithRetries.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKeyCtx{}, key)
}

func idempotencyKey(ctx context.Context) string {
	k, _ := ctx.Value(idempotencyKeyCtx{}).(string)
	return k
}
