package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/clientaddr"
	"github.com/gatehouse-dev/gatehouse/internal/web"
)

// RequestID returns the id of the request in ctx.
func RequestID(ctx context.Context) string { return web.RequestID(ctx) }

// OrgHeader and OrgHeaderAlias name the organization a request is meant for.
const (
	OrgHeader      = web.OrgHeader
	OrgHeaderAlias = web.OrgHeaderAlias
)

// Operation metadata keys.
const (
	metaScope  = "scope"  // gatehouse.Scope required
	metaPublic = "public" // no key needed
	// metaAnonLimited: a public operation that spends from the calling
	// address's anonymous limit.
	metaAnonLimited = "anon_limited"
	// metaUnlimited: the operation does not spend from the rate limit.
	metaUnlimited = "unlimited"
	// metaCheck: a permission check, spent from the check budget.
	metaCheck = "check"
	// metaSecrets: *apilog.Secrets, the fields that carry secrets.
	metaSecrets = "secrets"
	// metaAllowDeleted: a deleted organization's keys may call it.
	metaAllowDeleted = "allow_deleted"
)

// authMiddleware admits a v1 call through g (the key, the organization
// header, the rate limit, the operation's scope), answers a refusal in the
// error envelope, and puts the principal in the context.
func authMiddleware(api huma.API, g *web.Gate) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		op := ctx.Operation()
		rec := web.RecordOf(ctx.Context())
		if rec != nil {
			rec.Route = op.Path
			rec.Secrets, _ = op.Metadata[metaSecrets].(*apilog.Secrets)
		}
		_, w := humago.Unwrap(ctx)
		if op.Metadata[metaPublic] == true {
			// No key: the status page's calls spend from their client
			// address's bucket, as a call with a refused key does (the
			// page's HTML, drawn by the dashboard in-process, spends the
			// browser's).
			if g.Limiter != nil && op.Metadata[metaAnonLimited] == true && auth.FromContext(ctx.Context()) == nil {
				d := g.Limiter.TakeAnonymous(ctx.Context(), clientaddr.Bucket(web.HostOf(ctx.RemoteAddr())), g.AnonLimit)
				if ref := web.LimitRefusal(w.Header(), d); ref != nil {
					writeRefusal(api, ctx, ref)
					return
				}
			}
			next(ctx)
			return
		}
		// The dashboard calls in-process for a signed-in member: its
		// principal is in the context (no request from outside can put it
		// there). Every other call brings a key.
		scope, _ := op.Metadata[metaScope].(gatehouse.Scope)
		p, ref := g.Admit(ctx.Context(), w.Header(), web.Call{Authorization: ctx.Header("Authorization"), OrgHeaders: [2]string{ctx.Header(OrgHeader), ctx.Header(OrgHeaderAlias)},
			RemoteAddr: ctx.RemoteAddr(), Scope: scope, Unlimited: op.Metadata[metaUnlimited] == true, Check: op.Metadata[metaCheck] == true, AllowDeleted: op.Metadata[metaAllowDeleted] == true})
		if rec != nil && p != nil {
			rec.Principal = p
		}
		if ref != nil {
			writeRefusal(api, ctx, ref)
			return
		}
		if op.SkipValidateBody { // huma would report a parse error instead
			if ct := ctx.Header("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
				_ = huma.WriteErr(api, ctx, http.StatusUnsupportedMediaType, "")
				return
			}
		}
		if c, fresh := web.Admitted(ctx.Context(), p); fresh {
			ctx = huma.WithContext(ctx, c)
		}
		next(ctx)
	}
}

// writeRefusal answers a call the gate refused.
func writeRefusal(api huma.API, ctx huma.Context, ref *web.Refusal) {
	if ref.Code == gatehouse.CodeRateLimitExceeded || ref.Code != web.CodeOf(ref.Status) {
		// the documented rate-limit body, with retry_after; or a code of its own
		// (ORGANIZATION_DELETED)
		ctx.SetHeader("Content-Type", "application/json")
		ctx.SetStatus(ref.Status)
		_ = json.NewEncoder(ctx.BodyWriter()).Encode(web.ErrorBody{Status: "error", Meta: web.NewMeta(ctx.Context()),
			Err: web.ErrorInner{Code: ref.Code, Message: ref.Msg, RetryAfter: ref.RetryAfter}})
		return
	}
	_ = huma.WriteErr(api, ctx, ref.Status, ref.Msg)
}

// noteIgnoredParams lets a request carry query parameters its operation
// does not take (a cache-buster such as ?_=123, a tool's own, a misspelt
// one): they are ignored and every answer's meta.ignored_params lists
// them, sorted. Unknown body fields stay a 400, and so do unknown query
// parameters of a DELETE: it answers 204, with no meta to show them, and
// a misspelt filter (?tenat=acme) would widen what it deletes.
func noteIgnoredParams(api huma.API) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		u := ctx.URL()
		if u.RawQuery == "" {
			next(ctx)
			return
		}
		op := ctx.Operation()
		var ignored []string
		for name, values := range u.Query() {
			if !takesQuery(op, name) {
				ignored = append(ignored, name)
				continue
			}
			if len(values) > 1 && !takesList(op, name) {
				// The operation would read the first and drop the rest
				// without a word (per_page=5&per_page=200 pages by 5).
				_ = huma.WriteErr(api, ctx, http.StatusBadRequest, fmt.Sprintf("query parameter %q is given %d times: it takes one value", name, len(values)),
					&huma.ErrorDetail{Location: "query." + name, Message: "given more than once"})
				return
			}
		}
		if len(ignored) == 0 {
			next(ctx)
			return
		}
		slices.Sort(ignored)
		if op.Method == http.MethodDelete {
			details := make([]error, len(ignored))
			for i, name := range ignored {
				details[i] = &huma.ErrorDetail{Location: "query." + name, Message: "unknown parameter"}
			}
			_ = huma.WriteErr(api, ctx, http.StatusBadRequest, fmt.Sprintf("unknown query parameter %q: a DELETE takes only the parameters it documents, so that a misspelt filter cannot widen what it deletes", ignored[0]), details...)
			return
		}
		next(huma.WithContext(ctx, web.WithIgnoredParams(ctx.Context(), ignored)))
	}
}

// takesQuery reports whether op declares the query parameter name (a
// deepObject parameter p takes every p[…]).
func takesQuery(op *huma.Operation, name string) bool {
	for _, p := range op.Parameters {
		if p.In != "query" {
			continue
		}
		if p.Name == name || (p.Style == "deepObject" && strings.HasPrefix(name, p.Name+"[")) {
			return true
		}
	}
	return false
}

// takesList reports whether op's query parameter name takes several
// values (an array, repeated or comma-separated).
func takesList(op *huma.Operation, name string) bool {
	for _, p := range op.Parameters {
		if p.In == "query" && p.Name == name {
			return p.Schema != nil && p.Schema.Type == huma.TypeArray
		}
	}
	return true // a deepObject's parts: left to the operation
}

// principal is the caller the gate admitted.
func principal(ctx context.Context) *auth.Principal { return web.Principal(ctx) }
