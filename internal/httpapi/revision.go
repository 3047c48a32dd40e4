package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
)

// RevisionHeader carries the change-feed position a write produced.
const RevisionHeader = "Gatehouse-Revision"

// revisionWait bounds how long a check or lookup with at_least waits for
// this node to apply that revision.
const revisionWait = 5 * time.Second

// withRevision lets the writes of a request note the revision they produced
// and answers it in the Gatehouse-Revision header of a 2xx response.
func withRevision(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, rev := facts.WithRevision(r.Context())
		next.ServeHTTP(&revisionWriter{ResponseWriter: w, rev: rev}, r.WithContext(ctx))
	})
}

type revisionWriter struct {
	http.ResponseWriter
	rev         *facts.Revision
	wroteHeader bool
}

func (w *revisionWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.wroteHeader = true
		if seq := w.rev.Seq(); seq > 0 && code < 300 {
			w.Header().Set(RevisionHeader, strconv.FormatInt(seq, 10))
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *revisionWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the flusher and deadlines.
func (w *revisionWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// awaitRevision returns once this node's engine of envID has applied the
// change-feed position atLeast (0: at once). The node reads the feed
// itself, so a revision the database holds is applied at once; a revision
// it does not hold yet (a write still committing, or a position this
// environment never reached) is waited for, boundedly, then refused.
func (h *handlers) awaitRevision(ctx context.Context, envID string, atLeast int64) error {
	if atLeast <= 0 {
		return nil
	}
	eng := h.Facts.Engines
	if _, seq, ok := eng.Loaded(envID); ok && seq >= atLeast {
		return nil
	}
	deadline := time.NewTimer(revisionWait)
	defer deadline.Stop()
	for {
		if _, err := eng.Get(ctx, envID); err != nil {
			return err
		}
		if err := eng.CatchUp(ctx, envID); err != nil { // reads the feed: what is committed is applied now
			return err
		}
		_, seq, _ := eng.Loaded(envID)
		if seq >= atLeast {
			return nil
		}
		// Not committed yet, or never: wait for another node's notice (a
		// notice between CatchUp and here is caught by the next poll).
		moved := eng.Moved(envID)
		select {
		case <-moved:
		case <-time.After(100 * time.Millisecond):
		case <-deadline.C:
			e := gatehouse.Errorf(gatehouse.CodeConflict, "this environment's change feed is at revision %d, not yet at_least %d: retry, and pass a revision this environment's writes answered", seq, atLeast)
			e.Details = map[string]any{"field": "at_least", "reason": "revision_not_reached", "revision": seq, "at_least": atLeast}
			return e
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
