package client

import "context"

type idempotencyKeyCtx struct{}

// WithIdempotencyKey returns a context under which a POST carries key as
// its Idempotency-Key header: a retry of the same request with the same key
// within 24 hours gets the server's first answer again (header
// Idempotent-Replayed: true) instead of running twice, and the same key
// with another request is a CONFLICT. Keys are 1 to 255 printable ASCII
// characters, per organization. Other methods ignore it.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKeyCtx{}, key)
}

func idempotencyKey(ctx context.Context) string {
	k, _ := ctx.Value(idempotencyKeyCtx{}).(string)
	return k
}
