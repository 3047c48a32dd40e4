package facts

import (
	"context"
	"sync/atomic"
)

// Revision is the change-feed position a request's writes produced: the
// seq of the last change it appended. The API answers it (meta.revision,
// the Gatehouse-Revision header) so that a later check or lookup can ask to
// be answered only once the answering node or PDP has applied it
// (at_least): read-your-writes across nodes and PDPs without sleeping.
type Revision struct{ seq atomic.Int64 }

// Seq is the revision noted, 0 when the request wrote nothing.
func (r *Revision) Seq() int64 {
	if r == nil {
		return 0
	}
	return r.seq.Load()
}

type revisionKey struct{}

// WithRevision returns a context in which writes note their revision, and
// the note.
func WithRevision(ctx context.Context) (context.Context, *Revision) {
	r := &Revision{}
	return context.WithValue(ctx, revisionKey{}, r), r
}

// RevisionOf is the note of ctx, or nil.
func RevisionOf(ctx context.Context) *Revision {
	r, _ := ctx.Value(revisionKey{}).(*Revision)
	return r
}

// noteRevision records seq as the request's revision (a transaction that
// is retried notes its last attempt's).
func noteRevision(ctx context.Context, seq int64) {
	if r := RevisionOf(ctx); r != nil && seq > 0 {
		r.seq.Store(seq)
	}
}
