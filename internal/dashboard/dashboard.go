// Package dashboard is Gatehouse's web dashboard, served by `gatehouse
// serve` at /: members sign in with their email and password and manage
// the organization in the browser.
//
// The dashboard is a client of the v1 API, in-process: every page reads and
// writes through the same API handler with the signed-in member as the
// caller (their role's scopes), so it can do exactly what the API lets that
// member do, and every action is in the API log like any other call.
// Templates and assets are embedded; nothing is loaded from elsewhere.
package dashboard

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/client"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/clientaddr"
	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/secretkey"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Session is a signed-in member's session (tenancy keeps them).
type Session = tenancy.Session

// Store persists sessions.
type Store = tenancy.SessionStore

const (
	cookieName  = "gatehouse_session"
	flashCookie = "gatehouse_flash"
	// memberRateLimit is each member's own hourly budget of API calls made
	// by the dashboard (people click slowly; keys keep their tier's limit).
	memberRateLimit = 10000
	// DefaultSignInLimit bounds sign-in attempts per client address and hour.
	DefaultSignInLimit = 60
)

// Deps are what the dashboard needs.
type Deps struct {
	// API is the v1 API handler (the whole middleware stack), called
	// in-process for every read and write.
	API     http.Handler
	Tenancy *tenancy.Service
	Store   Store
	// Limiter throttles sign-in attempts per client address (nil: none),
	// SignInLimit of them an hour (0: DefaultSignInLimit).
	Limiter     *ratelimit.Limiter
	SignInLimit int
	Log         *slog.Logger
	Version     string
	// SecureCookies: "auto" (Secure when the request came over TLS or
	// X-Forwarded-Proto says https), "always" or "never".
	SecureCookies string
	// PublicURL is the server's address as people reach it, the base of
	// the links the dashboard shows (setup links, the example call); empty:
	// the address the browser asked for.
	PublicURL string
	// Region is this cluster's region ("" none) and RegionURL its public
	// URL from --region-urls ("": the public URL): the keys page shows
	// them as what to give SDKs.
	Region, RegionURL string
	Now               func() time.Time
	// OIDC is the OpenID Connect provider members may sign in with (an
	// empty Issuer: none).
	OIDC OIDC
	// Mail sends new members their setup link (nil: it is shown to the
	// inviter instead).
	Mail *mail.Sender
	// Secrets is the server's secret key ring: it seals the OIDC sign-in's
	// flow cookie (nil: a key of this process's own, so a flow does not
	// survive a restart or cross nodes).
	Secrets *secretkey.Ring
	// SignInAudit records failed sign-ins in the audit trail; its Run
	// must be running (nil: New makes one that runs as long as the
	// process).
	SignInAudit *SignInAudit
}

type dash struct {
	Deps
	// pageNames are the pages, checked at start (parse); each page's
	// template is parsed again on its first render and kept in pages:
	// about 6 MB for all of them, which a server that only answers the
	// API never spends.
	pageNames []string
	pagesMu   sync.Mutex
	pages     map[string]*template.Template
	oidc      *oidcSignIn // nil: no OIDC sign-in
}

// New returns the dashboard's handler.
func New(d Deps) (http.Handler, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.SecureCookies == "" {
		d.SecureCookies = "auto"
	}
	if d.SignInLimit <= 0 {
		d.SignInLimit = DefaultSignInLimit
	}
	if d.SignInAudit == nil {
		d.SignInAudit = NewSignInAudit(d.Store, d.Limiter, d.Log)
		go d.SignInAudit.Run(context.Background())
	}
	x := &dash{Deps: d}
	if err := x.parse(); err != nil {
		return nil, err
	}
	if d.OIDC.Issuer != "" {
		x.oidc = newOIDCSignIn(d.OIDC, x.PublicURL, d.Now)
		if x.Secrets == nil {
			k, err := secretkey.Generate()
			if err != nil {
				return nil, err
			}
			if x.Secrets, err = secretkey.NewRing(k); err != nil {
				return nil, err
			}
		}
	}
	mux := http.NewServeMux()
	assets, _ := fs.Sub(assetFS, "assets")
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", cacheAssets(http.FileServerFS(assets))))
	mux.HandleFunc("GET /signin", x.signInPage)
	mux.HandleFunc("POST /signin", x.signIn)
	mux.HandleFunc("POST /signout", x.signOut)
	mux.HandleFunc("GET /setup/{token}", x.setupPage)
	x.oidcRoutes(mux)
	x.inviteRoutes(mux)
	mux.HandleFunc("POST /setup/{token}", x.setup)
	mux.HandleFunc("GET /status", x.statusPage) // public
	x.routes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			x.authed(x.overview)(w, r)
			return
		}
		x.notFound(w, r)
	})
	cop := http.NewCrossOriginProtection() // CSRF: refuses cross-origin writes
	// The route of the request metrics is the pattern mux matched.
	var h http.Handler = metrics.NotePattern(mux)
	h = cop.Handler(h)
	h = securityHeaders(h)
	return h, nil
}

func cacheAssets(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// securityHeaders: nothing from elsewhere may load (the assets are
// embedded), no framing, no sniffing.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		h.ServeHTTP(w, r)
	})
}

// ---- sessions

// viewer is the signed-in member of a request.
type viewer struct {
	session   *Session
	member    *tenancy.Member
	role      *tenancy.Role
	org       *tenancy.Organization
	principal *auth.Principal
	// api calls the API as the member.
	api *client.Client
}

// env is the viewer's API client acting on their environment.
func (v *viewer) env() *client.Client {
	return v.api.WithEnvironment(v.session.ProjectID, v.session.EnvID)
}

func (v *viewer) can(s gatehouse.Scope) bool { return v.principal.Scopes.Has(s) }

type viewerKey struct{}

func viewerOf(r *http.Request) *viewer { v, _ := r.Context().Value(viewerKey{}).(*viewer); return v }

// authed runs h for a signed-in member; others go to the sign-in page.
func (x *dash) authed(h func(http.ResponseWriter, *http.Request, *viewer)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := x.load(r)
		if err != nil {
			x.Log.Error("dashboard session", "err", err)
			x.fail(w, r, http.StatusInternalServerError, "Something went wrong on our side. Try again.")
			return
		}
		if v == nil {
			http.SetCookie(w, x.cookie(r, cookieName, "", -1))
			next := r.URL.RequestURI()
			if r.Method != http.MethodGet {
				next = "/"
			}
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), viewerKey{}, v))
		if v.session.EnvID == "" { // a new session: pick its environment now
			x.environments(r, v)
		}
		h(w, r, v)
	}
}

// load reads the session of r, with the member's current role (a role
// change applies at once); nil when there is none or it ended.
func (x *dash) load(r *http.Request) (*viewer, error) {
	c, err := r.Cookie(cookieName)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	sg, err := x.Tenancy.SessionOf(r.Context(), x.Store, c.Value)
	if sg == nil || err != nil {
		return nil, err
	}
	m := sg.Member
	p := &auth.Principal{MemberID: m.ID, KeyName: m.Email, Level: auth.LevelOrganization, OrgID: m.OrgID,
		Scopes: sg.Role.Scopes, RateLimitPerHour: memberRateLimit}
	return &viewer{session: sg.Session, member: m, role: sg.Role, org: sg.Org, principal: p, api: x.apiClient(r, p)}, nil
}

func (x *dash) secure(r *http.Request) bool {
	switch x.SecureCookies {
	case "always":
		return true
	case "never":
		return false
	}
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (x *dash) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true, Secure: x.secure(r), SameSite: http.SameSiteLaxMode}
}

// startSession signs member m in.
func (x *dash) startSession(w http.ResponseWriter, r *http.Request, m *tenancy.Member) error {
	token, _, err := x.Tenancy.StartSession(r.Context(), x.Store, m, r.UserAgent(), clientIP(r))
	if err != nil {
		return err
	}
	http.SetCookie(w, x.cookie(r, cookieName, token, int(tenancy.SessionMax/time.Second)))
	return nil
}

// clientIP is the caller's address: the TCP peer, or, behind a proxy of
// --trusted-proxies, the client it forwarded (clientaddr set RemoteAddr).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// signInClient is the part of the client's address a sign-in limit
// counts by: the address, or for IPv6 its /64 (a client commonly has a
// whole /64 and could otherwise spread its attempts over its addresses).
func signInClient(r *http.Request) string {
	return clientaddr.Bucket(clientIP(r))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// ---- rendering

// page is what every template gets.
type page struct {
	Title   string
	Section string
	Viewer  *viewer
	Member  *tenancy.Member
	Org     *tenancy.Organization
	Role    *tenancy.Role
	Envs    []envChoice
	Env     *envChoice
	Flash   string
	Error   string
	Path    string
	Version string
	// Data is the page's own: a struct of the page's type.
	Data any
}

type envChoice struct {
	ProjectID, ProjectKey, ProjectName string
	EnvID, EnvKey, EnvName             string
	Sandbox                            bool
}

func (x *dash) parse() error {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" || strings.HasPrefix(base, "_") {
			continue
		}
		// Parsed here to fail at start, not in front of a member; kept
		// only once rendered.
		if _, err := parsePage(base); err != nil {
			return err
		}
		x.pageNames = append(x.pageNames, base)
	}
	return nil
}

// parsePage parses page name with the layout and the partials.
func parsePage(name string) (*template.Template, error) {
	t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html", "templates/"+name+".html")
	if err != nil {
		return nil, fmt.Errorf("dashboard template %s: %w", name, err)
	}
	return t, nil
}

// page is page name's template (nil when there is no such page), parsed
// on its first use.
func (x *dash) page(name string) (*template.Template, error) {
	if !slices.Contains(x.pageNames, name) {
		return nil, nil
	}
	x.pagesMu.Lock()
	defer x.pagesMu.Unlock()
	if t := x.pages[name]; t != nil {
		return t, nil
	}
	t, err := parsePage(name)
	if err != nil {
		return nil, err
	}
	if x.pages == nil {
		x.pages = map[string]*template.Template{}
	}
	x.pages[name] = t
	return t, nil
}

// render writes page name; p's viewer, environments and flash are filled.
func (x *dash) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	t, err := x.page(name)
	if t == nil {
		x.Log.Error("dashboard: no template", "name", name, "err", err)
		http.Error(w, "no such page", 500)
		return
	}
	p.Path, p.Version = r.URL.Path, x.Version
	if d, ok := p.Data.(*signInData); ok && x.oidc != nil {
		d.Provider = x.oidc.cfg.Name
	}
	if d, ok := p.Data.(*membersData); ok {
		d.MailInvites = x.Mail != nil
	}
	if v := viewerOf(r); v != nil {
		p.Viewer, p.Member, p.Org, p.Role = v, v.member, v.org, v.role
		p.Envs, p.Env = x.environments(r, v)
	}
	if c, err := r.Cookie(flashCookie); err == nil && p.Flash == "" {
		if msg, err := url.QueryUnescape(c.Value); err == nil {
			p.Flash = msg
		}
		http.SetCookie(w, x.cookie(r, flashCookie, "", -1))
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		x.Log.Error("dashboard: render", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", 500)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// redirect answers a successful form with a redirect and a message shown
// on the next page (post/redirect/get).
func (x *dash) redirect(w http.ResponseWriter, r *http.Request, to, flash string) {
	if flash != "" {
		http.SetCookie(w, x.cookie(r, flashCookie, url.QueryEscape(flash), 60))
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (x *dash) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	x.render(w, r, status, "error", &page{Title: http.StatusText(status), Error: msg})
}

func (x *dash) notFound(w http.ResponseWriter, r *http.Request) {
	x.fail(w, r, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
}

// environments lists the projects' environments the viewer can see and
// picks the current one (the session's, else the first development one).
func (x *dash) environments(r *http.Request, v *viewer) ([]envChoice, *envChoice) {
	ctx := apiContext(r)
	var out []envChoice
	projects, err := v.api.Projects.List(ctx, &client.ListOptions{PerPage: 100})
	if err == nil {
		for _, p := range projects.Items {
			envs, err := v.api.Environments.List(ctx, p.ID, &client.ListOptions{PerPage: 100})
			if err != nil {
				continue
			}
			for _, e := range envs.Items {
				out = append(out, envChoice{ProjectID: p.ID, ProjectKey: p.Key, ProjectName: p.Name,
					EnvID: e.ID, EnvKey: e.Key, EnvName: e.Name, Sandbox: e.Sandbox})
			}
		}
	}
	var cur *envChoice
	for i := range out {
		if out[i].EnvID == v.session.EnvID {
			cur = &out[i]
		}
	}
	if cur == nil && len(out) > 0 {
		cur = &out[0]
		for i := range out {
			if out[i].EnvKey == "development" {
				cur = &out[i]
				break
			}
		}
		if err := x.Tenancy.WorkIn(r.Context(), x.Store, v.session, cur.ProjectID, cur.EnvID); err != nil {
			x.Log.Warn("dashboard: keep the environment", "err", err)
		}
	}
	return out, cur
}
