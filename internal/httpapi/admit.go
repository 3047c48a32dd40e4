package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
)

// gate admits a call: its bearer key (or the dashboard member's principal
// already in the context), the organization header, the rate limit and
// the operation's scope. The v1 API (authMiddleware) and the Permit routes
// share it; each answers a refusal in its own shape.
type gate struct {
	keys      *apikey.Service
	limiter   *ratelimit.Limiter // nil: no limits
	anonLimit int
	log       *slog.Logger
}

// refusal is why a call was not admitted.
type refusal struct {
	status     int
	code       string
	msg        string
	retryAfter int // seconds, on RATE_LIMIT_EXCEEDED
}

// call is what admit reads of a request.
type call struct {
	authorization string
	orgHeaders    [2]string // X-Organization-Id, X-Perscom-Id
	remoteAddr    string
	scope         gatehouse.Scope // "": any valid key
	unlimited     bool            // does not spend from the rate limit
	// allowDeleted admits the keys of a deleted organization (restoring
	// it, reading it): every other call of theirs is ORGANIZATION_DELETED.
	allowDeleted bool
}

// admit returns the caller, and a refusal when the call may not go on.
// The principal is returned also with a refusal once the key is verified
// (the API log attributes the call). hdr receives the X-RateLimit,
// Retry-After and WWW-Authenticate headers.
func (g *gate) admit(ctx context.Context, hdr http.Header, c call) (*auth.Principal, *refusal) {
	p := auth.FromContext(ctx)
	if p == nil {
		token, found := bearer(c.authorization)
		var err error
		var ref *refusal
		switch {
		case !found && c.authorization != "":
			ref = &refusal{status: http.StatusUnauthorized, code: gatehouse.CodeUnauthorized, msg: "the Authorization header must be: Bearer <key>"}
		default:
			p, err = g.keys.Verify(ctx, token)
			var ge *gatehouse.Error
			switch {
			case err == nil:
			case errors.As(err, &ge):
				ref = &refusal{status: http.StatusUnauthorized, code: gatehouse.CodeUnauthorized, msg: ge.Message}
			default:
				g.log.ErrorContext(ctx, "verify api key", "request_id", RequestID(ctx), "err", err)
				return nil, &refusal{status: http.StatusServiceUnavailable, code: gatehouse.CodeServiceUnavailable, msg: "cannot verify API keys right now"}
			}
		}
		if ref != nil {
			// Guessing keys costs like any other call: the client address's
			// bucket pays for a refused key.
			if g.limiter != nil {
				host, _, err := net.SplitHostPort(c.remoteAddr)
				if err != nil {
					host = c.remoteAddr
				}
				if lref := limitRefusal(hdr, g.limiter.TakeAnonymous(ctx, host, g.anonLimit)); lref != nil {
					return nil, lref
				}
			}
			hdr.Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
			return nil, ref
		}
	}
	if p.OrgDeleted && !c.allowDeleted {
		return p, &refusal{status: http.StatusUnauthorized, code: gatehouse.CodeOrganizationDeleted,
			msg: "this API key's organization was deleted; until it is purged, an organization key holding manage:organization can restore it (POST /v1/organizations/" + p.OrgID + "/restore)"}
	}
	names := [2]string{OrgHeader, OrgHeaderAlias}
	for i, org := range c.orgHeaders {
		if org != "" && org != p.OrgID {
			return p, &refusal{status: http.StatusForbidden, code: gatehouse.CodeForbidden, msg: "the " + names[i] + " header does not match the API key's organization"}
		}
	}
	if g.limiter != nil && !c.unlimited {
		if ref := limitRefusal(hdr, g.limiter.Take(ctx, p)); ref != nil {
			return p, ref
		}
	}
	if c.scope != "" && !p.Scopes.Has(c.scope) {
		return p, &refusal{status: http.StatusForbidden, code: gatehouse.CodeForbidden, msg: "this API key lacks the " + string(c.scope) + " scope"}
	}
	return p, nil
}

// limitRefusal sets the X-RateLimit headers of a limiter decision (as
// spelled in seed 002: Header.Set would send X-Ratelimit-*) and refuses a
// call over the limit (429), or any call when the store is down and the
// limiter fails closed (503).
func limitRefusal(hdr http.Header, d ratelimit.Decision) *refusal {
	if d.Limited {
		hdr["X-RateLimit-Limit"] = []string{strconv.Itoa(d.Limit)}
		hdr["X-RateLimit-Remaining"] = []string{strconv.Itoa(d.Remaining)}
		hdr["X-RateLimit-Reset"] = []string{strconv.FormatInt(ceilUnix(d.Reset), 10)}
	}
	if d.Allowed {
		return nil
	}
	if d.StoreDown {
		hdr.Set("Retry-After", "1")
		return &refusal{status: http.StatusServiceUnavailable, code: gatehouse.CodeServiceUnavailable, msg: "rate limiting is unavailable; try again shortly"}
	}
	secs := int((d.RetryAfter + time.Second - 1) / time.Second)
	hdr.Set("Retry-After", strconv.Itoa(secs))
	return &refusal{status: http.StatusTooManyRequests, code: gatehouse.CodeRateLimitExceeded,
		msg: "Rate limit exceeded. Try again in " + strconv.Itoa(secs) + " seconds.", retryAfter: secs}
}

func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

func bearer(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}
