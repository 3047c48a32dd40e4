// Package httpapi is Gatehouse's v1 REST API: the routes (routes.go), the
// middleware every request passes through, the {status, data, meta}
// envelope, the one error-code table, and the OpenAPI spec and reference
// page generated from the same code.
package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/apikey"
	"github.com/gatehouse-dev/gatehouse/internal/apilog"
	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/batch"
	"github.com/gatehouse-dev/gatehouse/internal/decision"
	"github.com/gatehouse-dev/gatehouse/internal/facts"
	"github.com/gatehouse-dev/gatehouse/internal/idempotency"
	"github.com/gatehouse-dev/gatehouse/internal/jobs"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/status"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
	"github.com/gatehouse-dev/gatehouse/internal/usage"
	"github.com/gatehouse-dev/gatehouse/internal/web"
	"github.com/gatehouse-dev/gatehouse/internal/webhook"
)

// OrgCreator creates an organization with its first Admin member, default
// project and environments, and an organization key holding every scope,
// all in one transaction. createdBy names the creator ("key:<id>" or "cli").
type OrgCreator func(ctx context.Context, name, key, adminEmail, adminName, createdBy string) (*tenancy.Bootstrap, *apikey.Key, string, error)

// Deps are what the API needs.
type Deps struct {
	// Region is this cluster's region ("" none) and APIURL the URL SDKs
	// should be given as apiUrl (this region's public URL): GET /v1/me
	// shows both.
	Region, APIURL string
	Log            *slog.Logger
	Tenancy        *tenancy.Service
	Keys           *apikey.Service
	Facts          *facts.Service
	Webhooks       *webhook.Service
	Jobs           *jobs.Service
	Decisions      *decision.Recorder // nil: checks are not recorded
	DecisionLog    decision.Store     // nil: no decision log
	// Usage counts checks per key and environment (nil: not counted).
	Usage *usage.Meter
	// UsageStore answers GET /v1/usage/checks (nil: not available).
	UsageStore UsageStore
	// CallCache keeps settled counts of GET /v1/usage/calls (nil: none).
	CallCache *usage.CallCache
	// WebhookUsage answers GET /v1/usage/webhooks (nil: not available).
	WebhookUsage WebhookUsageStore
	// UsageGate bounds the usage queries an organization runs at once on
	// this node (nil: not bounded).
	UsageGate *usage.Gate
	// Closing is closed when the server shuts down; long-lived streams end.
	Closing <-chan struct{}
	// Limiter limits requests per hour; nil: no limits.
	Limiter *ratelimit.Limiter
	// AnonymousLimit is the hourly limit per client address of calls
	// without a valid key (0: not limited).
	AnonymousLimit int
	// APILog receives every external call's entry; nil: no API log.
	APILog *batch.Writer[apilog.Call]
	// APILogStore answers GET /v1/logs.
	APILogStore apilog.Store
	// Audit answers GET /v1/audit (nil: not available).
	Audit audit.Store
	// LogBodyBytes is how much of each body the API log keeps.
	LogBodyBytes int
	// bare, set only by benchmarks, replaces authentication, rate limiting
	// and the API log with this fixed caller.
	bare *auth.Principal
	// LimitsChanged says that an organization's or environment's limit
	// settings changed (by id).
	LimitsChanged func(id string)
	CreateOrg     OrgCreator
	// Idempotency honours Idempotency-Key on POSTs; nil: not honoured.
	Idempotency *idempotency.Service
	Ready       func(context.Context) error
	// Warm reports the start-up build of the decision engines (nil: none).
	Warm func() (done bool, built, total int64)
	// Listening reports whether the node hears the other nodes' key
	// invalidations (nil: a single node, nothing to hear).
	Listening    func() bool
	MaxBodyBytes int64
	Version      string
	// PDP bounds what PDPs may hold open and upload.
	PDP PDPLimits
	// Neighbours are the other APIs this server hosts (Permit's): they
	// share v1's gate, access rules, middleware and error writer.
	Neighbours []Neighbour
	// Metrics counts and times requests (nil: not measured).
	Metrics *metrics.HTTP
	// Streams are the node's open PDP change streams (nil: the handler's
	// own); the node's metrics read their positions.
	Streams *PDPStreams
	// Traced says that requests are traced (their context carries a
	// recording span): checks then record spans of their own. False: the
	// checks' fast path does no tracing work.
	Traced bool
	// Status is the status page (/v1/status).
	Status *status.Service
}

// Neighbour is another API served beside v1 on the same handler.
type Neighbour struct {
	// Shape claims the API's paths for its error shape.
	Shape web.Shape
	// Mount adds the API's operations to mux, with what v1 shares.
	Mount func(mux *http.ServeMux, k Kit) error
}

// Kit is what v1 shares with a neighbouring API.
type Kit struct {
	Gate *web.Gate
	// Rules are v1's access rules by operation id.
	Rules map[string]web.Rule
	// Errors writes every error of the server, in the shape of the API
	// whose path it is.
	Errors web.ErrorWriter
	// Bare, set only by benchmarks, is the fixed caller that replaces
	// authentication.
	Bare *auth.Principal
}

func init() { installErrors() }

// New returns the HTTP handler of the whole API.
func New(d Deps) (http.Handler, *huma.OpenAPI) {
	mux := http.NewServeMux()
	cfg := huma.DefaultConfig("Gatehouse API", d.Version)
	cfg.CreateHooks = nil // no $schema field, no Link header
	cfg.DocsPath = ""     // the CDN-based docs page is replaced by our own
	cfg.OpenAPIPath = ""  // the spec is served by spec.go
	cfg.SchemasPath = ""
	// Unknown query parameters are ignored and listed in
	// meta.ignored_params (noteIgnoredParams), not refused, but on a DELETE.
	cfg.Info.Description = apiDescription
	cfg.Info.Contact = &huma.Contact{Name: "Gatehouse", URL: "https://github.com/gatehouse-dev/gatehouse"}
	cfg.Info.License = &huma.License{Name: "MIT", URL: "https://opensource.org/licenses/MIT"}
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		"bearer": {Type: "http", Scheme: "bearer", BearerFormat: "JWT",
			Description: "An API key (an EdDSA JWT). Each operation names the scope it needs in x-required-scopes."},
	}
	cfg.Servers = []*huma.Server{{URL: "/", Description: "this server"}}
	cfg.Components.Schemas.RegisterTypeAlias(reflect.TypeOf(decision.CheckUser{}), reflect.TypeOf(checkUserDoc{}))
	api := humago.New(mux, cfg)
	h := &handlers{Deps: d, gate: &web.Gate{Keys: d.Keys, Limiter: d.Limiter, AnonLimit: d.AnonymousLimit, Log: d.Log}, streams: d.Streams}
	if h.streams == nil {
		h.streams = NewPDPStreams(d.PDP)
	}
	if d.Keys != nil {
		d.Keys.OnChange(h.streams.keyChanged) // a revoked key's streams end at once, on every node
	}
	api.UseMiddleware(noteIgnoredParams(api))
	if d.bare != nil {
		api.UseMiddleware(func(ctx huma.Context, next func(huma.Context)) {
			// as authMiddleware hands on its caller
			if c, fresh := web.Admitted(ctx.Context(), d.bare); fresh {
				ctx = huma.WithContext(ctx, c)
			}
			next(ctx)
		})
	} else {
		api.UseMiddleware(authMiddleware(api, h.gate))
	}

	reg := &registrar{api: api, log: d.Log, maxBody: d.MaxBodyBytes, rules: map[string]web.Rule{}}
	addRoutes(reg, h)
	// One error writer for the whole server: each neighbour's paths in its
	// shape, every other in the envelope.
	shapes := make([]web.Shape, len(d.Neighbours))
	for i, n := range d.Neighbours {
		shapes[i] = n.Shape
	}
	errs := web.Errors(web.Envelope(d.Log), shapes...)
	for _, n := range d.Neighbours {
		if err := n.Mount(mux, Kit{Gate: h.gate, Rules: reg.rules, Errors: errs, Bare: d.bare}); err != nil {
			panic("httpapi: " + err.Error()) // a programming error, found by every test
		}
	}
	oapi := api.OpenAPI()
	oapi.Tags = tags
	addExamples(oapi)
	serveSpec(mux, oapi)
	serveDocs(mux)

	web.NotFound(mux)
	var handler http.Handler = withRevision(metrics.NotePattern(mux))
	handler = withKnownCheckFields(handler)
	handler = web.WithInputCheck(d.MaxBodyBytes, errs, handler) // no NUL, only UTF-8 in path, query and JSON bodies
	handler = web.WithRecover(d.Log, handler)
	if d.Idempotency != nil && d.bare == nil {
		handler = web.WithIdempotency(d.Idempotency, h.gate, d.MaxBodyBytes, errs, handler)
	}
	if d.APILog != nil && d.bare == nil {
		handler = web.WithAPILog(d.APILog, d.LogBodyBytes, d.Keys, handler)
	}
	handler = web.WithAccessLog(d.Log, handler)
	handler = web.WithRequestID(handler)
	handler = web.WithNoFraming(handler)
	// The fast path measures the checks it answers itself, and hands the
	// others here.
	handler = d.Metrics.Middleware(handler)
	if d.bare == nil {
		handler = newFastCheck(h, handler)
	}
	return handler, oapi
}

const apiDescription = `Gatehouse is a self-hosted, multi-tenant authorization and API platform.

Every request carries ` + "`Authorization: Bearer <API key>`" + `; an ` + "`X-Organization-Id`" + ` header, when sent, must name
the key's organization. Success bodies are ` + "`{status: \"success\", data, meta}`" + `; errors are
` + "`{status: \"error\", error: {code, message, details}}`" + `. Lists take ` + "`page`" + ` and ` + "`per_page`" + ` (default 20, max 100),
` + "`sort`" + ` and ` + "`order`" + `, and report ` + "`meta.page, per_page, total_items, total_pages, has_next, has_previous`" + `.
Lists also page by cursor (keyset): every page that has a next one carries ` + "`meta.next_cursor`" + `; pass it as ` + "`cursor`" + `
(with the same filters, sort and order) for the next page, or ` + "`cursor=start`" + ` for a first page. A page by cursor costs the
same at any depth, never repeats or skips an item when others are added or deleted between pages, and is not counted
(` + "`total_items`" + ` and ` + "`total_pages`" + ` are -1, ` + "`page`" + ` is 0). Page paging counts a list up to 10,000 items
(` + "`meta.total_capped`" + ` when there are more); deep pages by number (OFFSET) grow slower with depth, so walk a large list by
cursor. A malformed cursor, or one from another list, sort, filter or environment, is a 400 (` + "`details.field: cursor`" + `).

A query parameter an operation does not take is ignored, not refused, and listed by name in the answer's
` + "`meta.ignored_params`" + ` (sorted), so cache-busters (` + "`?_=123`" + `) and tools' own parameters work. A misspelt
parameter is ignored the same way: when a filter seems to have no effect, look there. A DELETE is the
exception: it answers 204 with no meta, and a misspelt filter would widen what it deletes, so an unknown query
parameter there is a 400. Unknown fields of a JSON body are still a 400 (reason ` + "`unknown_field`" + `).`

var tags = []*huma.Tag{
	{Name: "System", Description: "Health, readiness, the scope catalog and the key's own identity."},
	{Name: "Organizations", Description: "The top of tenancy."},
	{Name: "Projects", Description: "Projects and their environments."},
	{Name: "Members", Description: "People of the organization and their roles."},
	{Name: "API Keys", Description: "Scoped JWT API keys: create, list, rotate, revoke."},
	{Name: "Settings", Description: "Organization and environment settings."},
	{Name: "Users", Description: "An environment's users: the subjects of permission checks."},
	{Name: "Tenants", Description: "An environment's tenants; role assignments are per tenant."},
	{Name: "Resources", Description: "Resource types and their actions; a permission is \"<resource>:<action>\"."},
	{Name: "Roles", Description: "Roles: sets of permissions that may extend other roles."},
	{Name: "Role Assignments", Description: "Which user holds which role in which tenant."},
	{Name: "Resource Roles", Description: "Roles of a resource type, given on its instances (fine-grained authorization)."},
	{Name: "Relations", Description: "Relations between resource types, through which roles on one instance derive roles on another."},
	{Name: "Resource Instances", Description: "Instances of resource types (document:report-2026), with their tenant and attributes."},
	{Name: "Relationship Tuples", Description: "Facts \"subject relation object\" between resource instances."},
	{Name: "Condition Sets", Description: "User sets and resource sets defined by conditions on attributes."},
	{Name: "Set Rules", Description: "Attribute rules: which user set may do which action on which resource set."},
	{Name: "Checks", Description: "Permission checks answered from memory."},
	{Name: "API Log", Description: "Every external API call, with its request and response (secrets redacted)."},
	{Name: "Audit Trail", Description: "Who changed what, when and from where, with each object before and after; kept apart from the API log, with its own retention."},
	{Name: "Decision Log", Description: "Recorded permission checks (per the environment's decision_log setting)."},
	{Name: "Webhooks", Description: "Endpoints that receive signed events (X-Signature: hex HMAC-SHA256 of the body), their deliveries and every attempt."},
	{Name: "Jobs", Description: "Long work done in the background: imports, exports, environment copies, sandbox resets."},
	{Name: "Tasks", Description: "The steps of a job, run in order; a failed task can be retried alone."},
	{Name: "Status", Description: "The public status page and its incidents."},
	{Name: "PDP", Description: "What a standalone decision point (`gatehouse pdp`) uses: the environment's snapshot, its change stream and decision upload. Environment keys only."},
}

func ptrInt(n int) *int { return &n }

// registrar adds operations with the conventions every route shares.
type registrar struct {
	api     huma.API
	log     *slog.Logger
	maxBody int64
	// rules are every operation's access rules by operation id: Permit's
	// twin operations take theirs from here.
	rules map[string]web.Rule
}

// route describes one operation.
type route struct {
	id, method, path, summary, tag, desc string
	// scope is required of the caller's key; "" with public false means any
	// valid key.
	scope  gatehouse.Scope
	public bool
	// anonLimited public operations spend from the calling address's
	// anonymous rate limit (the status page); probes and the JWKS do not.
	anonLimited bool
	// orgOnly operations need an organization-level key.
	orgOnly bool
	status  int
	// hot operations skip huma's schema validation of the body (a second
	// full parse) and validate in the handler instead; unknown body fields
	// are ignored.
	hot bool
	// sse describes the text/event-stream an operation answers with.
	sse string
	// stream is the content type of another streamed answer.
	stream string
	// unlimited operations do not spend from the rate limit (a PDP's
	// change stream and decision uploads, bounded by their own caps).
	unlimited bool
	// rawBody lists the media types of a body the handler streams itself
	// (an import file); huma neither reads nor limits it.
	rawBody []string
	// allowDeleted operations admit a deleted organization's keys.
	allowDeleted bool
	// secrets are the request and response fields that carry one-time
	// secrets (a new key's token, a setup link): the API log never keeps
	// them, and neither does any other record of the call.
	secrets apilog.Secrets
	// usageGated operations run under the organization's bound of usage
	// queries in flight on a node (usage.Gate): documented, with its 429.
	usageGated bool
	// body documents the JSON answer of an operation that streams it (a
	// *huma.StreamResponse): the type whose Body it writes, an Out[T].
	body reflect.Type
}

// bodyReadTimeout is the read deadline huma puts on the connection before
// it reads a body: as long as the server's own timeouts. Huma's default, 5
// s, cancelled every call with a body still running after 5 s: the input
// check has already read the body, net/http is then reading the
// connection in the background to notice a client that goes away, and
// that read hits the deadline and cancels the request's context.
const bodyReadTimeout = 60 * time.Second

func add[I, O any](g *registrar, r route, h func(context.Context, *I) (*O, error)) {
	op := huma.Operation{
		OperationID: r.id, Method: r.method, Path: r.path, Summary: r.summary, Tags: []string{r.tag},
		DefaultStatus: r.status, Metadata: map[string]any{}, MaxBodyBytes: humaLimit(g.maxBody), SkipValidateBody: r.hot,
		BodyReadTimeout: bodyReadTimeout,
	}
	var desc []string
	if r.desc != "" {
		desc = append(desc, r.desc)
	}
	switch {
	case r.public:
		op.Metadata[metaPublic] = true
		op.Security = []map[string][]string{}
		op.Errors = []int{http.StatusBadRequest}
		if r.anonLimited {
			op.Metadata[metaAnonLimited] = true
			op.Errors = append(op.Errors, http.StatusTooManyRequests)
			desc = append(desc, "Spends from the calling address's hourly limit of calls without a key (`--anonymous-rate-limit`).")
		}
	default:
		op.Security = []map[string][]string{{"bearer": {}}}
		op.Errors = []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound}
		scopes := []string{}
		if r.scope != "" {
			op.Metadata[metaScope] = r.scope
			scopes = append(scopes, string(r.scope))
			desc = append(desc, "Required scope: `"+string(r.scope)+"`.")
		} else {
			desc = append(desc, "Required scope: none (any valid API key).")
		}
		if r.orgOnly {
			desc = append(desc, "Needs an organization-level key.")
		}
		op.Extensions = map[string]any{"x-required-scopes": scopes}
	}
	if r.method == http.MethodPost && !r.public {
		op.Parameters = append(op.Parameters, &huma.Param{Name: "Idempotency-Key", In: "header",
			Description: "Makes a retry safe: a retry with the same key and request within 24 hours gets the first answer (Idempotent-Replayed: true) instead of running twice; the same key with another request is a 409. Keys are per organization; 1 to 255 printable ASCII characters (a UUID, say).",
			Schema:      &huma.Schema{Type: huma.TypeString, MaxLength: ptrInt(255)}})
	}
	if r.method == http.MethodPost || r.method == http.MethodPatch || r.method == http.MethodPut {
		op.Errors = append(op.Errors, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType)
	}
	if r.sse != "" {
		op.Responses = map[string]*huma.Response{"200": {Description: r.sse,
			Content: map[string]*huma.MediaType{"text/event-stream": {Schema: &huma.Schema{Type: huma.TypeString}}}}}
	}
	if r.stream != "" {
		op.Responses = map[string]*huma.Response{"200": {Description: "A stream of " + r.stream + ".",
			Content: map[string]*huma.MediaType{r.stream: {Schema: &huma.Schema{Type: huma.TypeString}}}}}
	}
	if r.body != nil {
		f, _ := r.body.FieldByName("Body")
		op.Responses = map[string]*huma.Response{"200": {Description: http.StatusText(http.StatusOK),
			Content: map[string]*huma.MediaType{"application/json": {Schema: huma.SchemaFromField(g.api.OpenAPI().Components.Schemas, f, r.body.Name()+f.Name)}}}}
	}
	if len(r.secrets.Request)+len(r.secrets.Response) > 0 {
		secrets := r.secrets
		op.Metadata[metaSecrets] = &secrets
		desc = append(desc, "The API log keeps no secret this operation carries.")
	}
	if r.allowDeleted {
		op.Metadata[metaAllowDeleted] = true
	}
	if r.scope == gatehouse.ScopeCheckAccess && !r.unlimited && !strings.HasPrefix(r.path, "/v1/pdp/") {
		op.Metadata[metaCheck] = true
		desc = append(desc, "Spends from the organization's check budget, apart from its API calls' (a key with its own limit spends that).")
	}
	if r.usageGated {
		op.Errors = append(op.Errors, http.StatusTooManyRequests)
		desc = append(desc, fmt.Sprintf("An organization runs at most %d usage queries (GET /v1/usage/checks, /v1/usage/calls, /v1/usage/webhooks) at once on a node: another waits up to %d seconds for one of them to end, then is answered 429 RATE_LIMIT_EXCEEDED with error.retry_after and Retry-After (%d second).",
			usage.DefaultQueriesPerOrg, int(usage.DefaultGateWait/time.Second), usageRetryAfter))
	}
	if r.unlimited {
		op.Metadata[metaUnlimited] = true
		desc = append(desc, "Does not spend from the API rate limit.")
	}
	if len(r.rawBody) > 0 {
		rb := &huma.RequestBody{Required: true, Description: "The file, streamed.", Content: map[string]*huma.MediaType{}}
		for _, ct := range r.rawBody {
			rb.Content[ct] = &huma.MediaType{Schema: &huma.Schema{Type: huma.TypeString}}
		}
		op.RequestBody = rb
	}
	op.Description = strings.Join(desc, "\n\n")
	rl := web.Rule{Scope: r.scope, OrgOnly: r.orgOnly, Public: r.public}
	if _, dup := g.rules[r.id]; dup {
		panic("operation " + r.id + " registered twice")
	}
	g.rules[r.id] = rl
	huma.Register(g.api, op, func(ctx context.Context, in *I) (*O, error) {
		if !rl.Public {
			if err := rl.Admits(principal(ctx)); err != nil {
				return nil, fail(ctx, g.log, err)
			}
		}
		out, err := h(ctx, in)
		if err != nil {
			return nil, fail(ctx, g.log, err)
		}
		return out, nil
	})
}

// humaLimit is huma's MaxBodyBytes for a server that takes bodies of up to
// max bytes: huma refuses a body that reaches its limit (it cannot tell
// whether more would follow), so a body of exactly max bytes, which the
// server takes (--max-body-bytes: "larger request bodies get 413"), needs
// one byte more.
func humaLimit(max int64) int64 {
	if max <= 0 {
		return max
	}
	return max + 1
}
