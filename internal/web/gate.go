package web

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/clientaddr"
	"github.com/gatehouse-dev/gatehouse/internal/dberr"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
)

// OrgHeader names the organization a request is meant for (PERSCOM's
// "PERSCOM ID" header, under a neutral name); when present it must match the key's organization.
const OrgHeader = "X-Organization-Id"

// OrgHeaderAlias is the same header under the name PERSCOM's clients
// send ("PERSCOM ID"): requests written for it work unchanged.
const OrgHeaderAlias = "X-Perscom-Id"

// Gate admits a call: its bearer key (or the dashboard member's principal
// already in the context), the organization header, the rate limit and
// the operation's scope. Every API shares it; each answers a refusal in
// its own shape.
type Gate struct {
	Keys      *apikey.Service
	Limiter   *ratelimit.Limiter // nil: no limits
	AnonLimit int
	Log       *slog.Logger
}

// Refusal is why a call was not admitted.
type Refusal struct {
	Status     int
	Code       string
	Msg        string
	RetryAfter int // seconds, on RATE_LIMIT_EXCEEDED
}

// Err is the refusal as an error (the rate limit's Retry-After is in the
// headers Admit set).
func (r *Refusal) Err() error { return gatehouse.Errorf(r.Code, "%s", r.Msg) }

// Call is what Admit reads of a request.
type Call struct {
	Authorization string
	OrgHeaders    [2]string // X-Organization-Id, X-Perscom-Id
	RemoteAddr    string
	Scope         gatehouse.Scope // "": any valid key
	Unlimited     bool            // does not spend from the rate limit
	Check         bool            // a permission check: spends from the check budget
	// AllowDeleted admits the keys of a deleted organization (restoring
	// it, reading it): every other call of theirs is ORGANIZATION_DELETED.
	AllowDeleted bool
	// Verified is the principal of Authorization's key when the caller
	// verified it already (Keys.Verify without error): it is not verified
	// again.
	Verified *auth.Principal
}

// CallOf is the Call of r for an operation needing scope.
func CallOf(r *http.Request, scope gatehouse.Scope) Call {
	return Call{Authorization: r.Header.Get("Authorization"), OrgHeaders: [2]string{r.Header.Get(OrgHeader), r.Header.Get(OrgHeaderAlias)},
		RemoteAddr: r.RemoteAddr, Scope: scope}
}

// Admit returns the caller, and a refusal when the call may not go on.
// The principal is returned also with a refusal once the key is verified
// (the API log attributes the call). hdr receives the X-RateLimit,
// Retry-After and WWW-Authenticate headers.
func (g *Gate) Admit(ctx context.Context, hdr http.Header, c Call) (*auth.Principal, *Refusal) {
	if a, ok := ctx.Value(admittedKey{}).(*admitted); ok {
		return a.p, a.ref // already spent from the limit (a fast path's refusal)
	}
	p := auth.FromContext(ctx)
	if p == nil {
		p = c.Verified
	}
	if p == nil {
		token, found := Bearer(c.Authorization)
		var err error
		var ref *Refusal
		switch {
		case !found && c.Authorization != "":
			ref = &Refusal{Status: http.StatusUnauthorized, Code: gatehouse.CodeUnauthorized, Msg: "the Authorization header must be: Bearer <key>"}
		default:
			if v, ok := ctx.Value(verifiedKey{}).(*verified); ok && v.token == token {
				p, err = v.p, v.err
			} else {
				p, err = g.Keys.Verify(ctx, token)
			}
			if err != nil {
				ge := new(gatehouse.Error) // declared here: errors.As's pointer escapes
				if !errors.As(err, &ge) {
					if errors.Is(ctx.Err(), context.Canceled) {
						// The caller closed its connection while its key
						// was being verified: not an outage, and not an
						// error of the server's to log.
						return nil, &Refusal{Status: http.StatusBadRequest, Code: gatehouse.CodeInvalidRequest, Msg: "the request was cancelled (its connection closed) before its API key was verified"}
					}
					g.Log.ErrorContext(ctx, "verify api key", "request_id", RequestID(ctx), "err", err)
					hdr.Set("Retry-After", dberr.RetryAfter)
					return nil, &Refusal{Status: http.StatusServiceUnavailable, Code: gatehouse.CodeServiceUnavailable, Msg: "cannot verify API keys right now"}
				}
				ref = &Refusal{Status: http.StatusUnauthorized, Code: gatehouse.CodeUnauthorized, Msg: ge.Message}
				if ge.Code == gatehouse.CodeWrongRegion { // another region's key: 421, naming where to go
					ref = &Refusal{Status: http.StatusMisdirectedRequest, Code: ge.Code, Msg: ge.Message}
				}
			}
		}
		if ref != nil {
			// Guessing keys costs like any other call: the client address's
			// bucket pays for a refused key.
			if g.Limiter != nil {
				if lref := LimitRefusal(hdr, g.Limiter.TakeAnonymous(ctx, clientaddr.Bucket(HostOf(c.RemoteAddr)), g.AnonLimit)); lref != nil {
					return nil, lref
				}
			}
			if ref.Status == http.StatusUnauthorized {
				hdr.Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
			}
			return nil, ref
		}
	}
	if p.OrgDeleted && !c.AllowDeleted {
		return p, &Refusal{Status: http.StatusUnauthorized, Code: gatehouse.CodeOrganizationDeleted,
			Msg: "this API key's organization was deleted; until it is purged, an organization key holding manage:organization can restore it (POST /v1/organizations/" + p.OrgID + "/restore)"}
	}
	names := [2]string{OrgHeader, OrgHeaderAlias}
	for i, org := range c.OrgHeaders {
		if org != "" && org != p.OrgID {
			return p, &Refusal{Status: http.StatusForbidden, Code: gatehouse.CodeForbidden, Msg: "the " + names[i] + " header does not match the API key's organization"}
		}
	}
	if g.Limiter != nil && !c.Unlimited {
		take := g.Limiter.Take
		if c.Check {
			take = g.Limiter.TakeCheck
		}
		if ref := LimitRefusal(hdr, take(ctx, p)); ref != nil {
			return p, ref
		}
	}
	if c.Scope != "" && !p.Scopes.Has(c.Scope) {
		return p, &Refusal{Status: http.StatusForbidden, Code: gatehouse.CodeForbidden, Msg: "this API key lacks the " + string(c.Scope) + " scope"}
	}
	return p, nil
}

type verifiedKey struct{}

type verified struct {
	token string
	p     *auth.Principal
	err   error
}

// WithVerified is ctx carrying a verification of token already made for
// this call (its principal or its error): the gate uses it rather than
// verifying again. Only the server sets it.
func WithVerified(ctx context.Context, token string, p *auth.Principal, err error) context.Context {
	return context.WithValue(ctx, verifiedKey{}, &verified{token: token, p: p, err: err})
}

type admittedKey struct{}

type admitted struct {
	p   *auth.Principal
	ref *Refusal
}

// WithRefused is ctx carrying the gate's answer for a call already put to
// it: a path that admitted the call itself (and so spent from its rate
// limit) hands a refused call on to the general handlers, whose gate then
// answers the same refusal instead of spending again. Only the server sets
// it (a context value, never read from a request).
func WithRefused(ctx context.Context, p *auth.Principal, ref *Refusal) context.Context {
	return context.WithValue(ctx, admittedKey{}, &admitted{p: p, ref: ref})
}

// LimitRefusal sets the X-RateLimit headers of a limiter decision (as
// documented, X-RateLimit-*: Header.Set would send X-Ratelimit-*) and refuses a
// call over the limit (429), or a call the limiter could not decide and
// refuses (fail-closed: 503).
func LimitRefusal(hdr http.Header, d ratelimit.Decision) *Refusal {
	if d.Limited {
		// One allocation for the three (on every call): the values' slice
		// and their bytes side by side.
		v := new(limitValues)
		b := strconv.AppendInt(v.b[:0], int64(d.Limit), 10)
		i := len(b)
		b = strconv.AppendInt(b, int64(d.Remaining), 10)
		j := len(b)
		b = strconv.AppendInt(b, ceilUnix(d.Reset), 10)
		s := unsafe.String(&v.b[0], len(b)) // v.b is not written again
		v.vals = [3]string{s[:i], s[i:j], s[j:]}
		hdr["X-RateLimit-Limit"] = v.vals[0:1:1]
		hdr["X-RateLimit-Remaining"] = v.vals[1:2:2]
		hdr["X-RateLimit-Reset"] = v.vals[2:3:3]
	}
	if d.Allowed {
		return nil
	}
	if d.Undecided {
		hdr.Set("Retry-After", "1")
		return &Refusal{Status: http.StatusServiceUnavailable, Code: gatehouse.CodeServiceUnavailable, Msg: "rate limiting is unavailable; try again shortly"}
	}
	secs := int((d.RetryAfter + time.Second - 1) / time.Second)
	hdr.Set("Retry-After", strconv.Itoa(secs))
	return &Refusal{Status: http.StatusTooManyRequests, Code: gatehouse.CodeRateLimitExceeded,
		Msg: "Rate limit exceeded. Try again in " + strconv.Itoa(secs) + " seconds.", RetryAfter: secs}
}

// limitValues holds the X-RateLimit headers' values: three decimal
// numbers (at most 20 bytes each) and the slices the header map keeps.
type limitValues struct {
	vals [3]string
	b    [60]byte
}

func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

func Bearer(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}

// HostOf is the host of a request's RemoteAddr ("host:port"), or the
// address as it is when it has no port.
func HostOf(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}
