package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/tenancy"
)

// OIDC is the OpenID Connect provider members may sign in with (the zero
// value: none).
type OIDC struct {
	// Issuer is the provider's issuer URL; its discovery document is read
	// from Issuer/.well-known/openid-configuration on the first sign-in.
	Issuer                 string
	ClientID, ClientSecret string
	// Name is the provider's name on the sign-in button ("": the issuer's
	// host).
	Name string
	// HTTPClient talks to the provider (nil: one with a 10 s timeout).
	HTTPClient *http.Client
}

const (
	// oidcCookie holds one sign-in's state, nonce and PKCE verifier between
	// the redirect to the provider and its answer, sealed with the server's
	// secret key (a cookie planted by a sibling subdomain does not open).
	// Over HTTPS it is __Host-gatehouse_oidc on / (no subdomain can set
	// that one); else gatehouse_oidc on oidcPath.
	oidcCookie = "gatehouse_oidc"
	oidcPath   = "/signin/oidc"
	// oidcFlowTTL bounds how long a person may take at the provider.
	oidcFlowTTL = 10 * time.Minute
	// oidcSealedFor is where the flow cookie is sealed for.
	oidcSealedFor = "dashboard.oidc_flow"
	// oidcMaxNext bounds the page to go to after signing in, kept in the
	// cookie ("/" when longer).
	oidcMaxNext = 1024
)

// oidcFlowCookie is the flow cookie for r, holding value.
func (x *dash) oidcFlowCookie(r *http.Request, value string, maxAge int) *http.Cookie {
	c := x.cookie(r, oidcCookie, value, maxAge)
	if c.Secure {
		c.Name = "__Host-" + oidcCookie
	} else {
		c.Path = oidcPath
	}
	return c
}

// oidcSignIn signs members in with an OpenID Connect provider: the
// authorization code flow with PKCE (S256), a state and a nonce, the ID
// token verified (signature, issuer, audience, expiry, nonce), the member
// matched by the provider's verified email. No member is ever created.
type oidcSignIn struct {
	cfg      OIDC
	redirect string
	client   *http.Client
	timeout  time.Duration // of each call to the provider
	// retryAfter is how long a failed discovery is remembered.
	retryAfter time.Duration
	now        func() time.Time

	mu       sync.Mutex
	provider *oidc.Provider // nil until discovered
	// The discovery under way (nil: none), which every sign-in started
	// meanwhile waits for rather than asking again.
	inflight *discovery
	// The last discovery's failure, answered without asking again until
	// failedUntil.
	failed      error
	failedUntil time.Time
}

type discovery struct {
	done chan struct{}
	p    *oidc.Provider
	err  error
}

// oidcTimeout bounds each call to the provider; oidcRetryAfter is how long
// a failed discovery is remembered (sign-ins meanwhile get a 502 at once).
var (
	oidcTimeout    = 10 * time.Second
	oidcRetryAfter = 30 * time.Second
)

func newOIDCSignIn(cfg OIDC, publicURL string, now func() time.Time) *oidcSignIn {
	if cfg.Name == "" {
		if u, err := url.Parse(cfg.Issuer); err == nil && u.Host != "" {
			cfg.Name = u.Hostname()
		} else {
			cfg.Name = "your identity provider"
		}
	}
	c := cfg.HTTPClient
	if c == nil {
		c = &http.Client{Timeout: oidcTimeout}
	}
	if now == nil {
		now = time.Now
	}
	return &oidcSignIn{cfg: cfg, client: c, timeout: oidcTimeout, retryAfter: oidcRetryAfter, now: now, redirect: strings.TrimRight(publicURL, "/") + oidcPath + "/callback"}
}

// errDiscoveryFailed is a discovery failure remembered from an earlier
// attempt (already logged).
type errDiscoveryFailed struct{ err error }

func (e *errDiscoveryFailed) Error() string { return "discovery failed recently: " + e.err.Error() }

// discover reads the provider's discovery document once (again after a
// failure, so a provider down when Gatehouse starts is no lasting harm).
// The lock is never held across the network: one discovery runs at a time
// and the others wait for it or their request's end. A failure is
// remembered for oidcRetryAfter; fresh reports whether err is new (to be
// logged once) rather than remembered.
func (o *oidcSignIn) discover(ctx context.Context) (p *oidc.Provider, fresh bool, err error) {
	o.mu.Lock()
	if o.provider != nil {
		defer o.mu.Unlock()
		return o.provider, false, nil
	}
	if o.failed != nil && o.now().Before(o.failedUntil) {
		defer o.mu.Unlock()
		return nil, false, &errDiscoveryFailed{o.failed}
	}
	d := o.inflight
	lead := d == nil
	if lead {
		d = &discovery{done: make(chan struct{})}
		o.inflight = d
	}
	o.mu.Unlock()
	if !lead {
		select {
		case <-d.done:
			if d.err != nil {
				return nil, false, &errDiscoveryFailed{d.err}
			}
			return d.p, false, nil
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
	// The request's context, bounded: the key set fetched later keeps
	// only its client (go-oidc drops its cancellation).
	cctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, o.client), o.timeout)
	d.p, d.err = oidc.NewProvider(cctx, o.cfg.Issuer)
	cancel()
	o.mu.Lock()
	o.inflight = nil
	switch {
	case d.err == nil:
		o.provider = d.p
	case ctx.Err() == nil: // the provider failed, not the person leaving
		o.failed, o.failedUntil = d.err, o.now().Add(o.retryAfter)
	}
	o.mu.Unlock()
	close(d.done)
	return d.p, d.err != nil, d.err
}

func (o *oidcSignIn) oauth(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: o.redirect, Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
}

// oidcFlow is what the browser keeps (in oidcCookie, HttpOnly, on the
// callback's path) between the redirect and the callback.
type oidcFlow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Next     string `json:"x"`
	// Org picks the organization when the email is a member's in several.
	Org     string `json:"o,omitempty"`
	Expires int64  `json:"e"`
}

func randomString() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// oidcStart sends the browser to the provider.
func (x *dash) oidcStart(w http.ResponseWriter, r *http.Request) {
	next := r.URL.Query().Get("next")
	if !x.oidcAllowed(w, r, "ip:oidc:", next) {
		return
	}
	p, fresh, err := x.oidc.discover(r.Context())
	if err != nil {
		if fresh {
			x.Log.Warn("dashboard: OIDC discovery (sign-ins with the provider get a 502 for the next "+x.oidc.retryAfter.String()+")", "issuer", x.oidc.cfg.Issuer, "err", err)
		}
		x.oidcFail(w, r, http.StatusBadGateway, "Signing in with "+x.oidc.cfg.Name+" is not available right now: its configuration could not be read. Try again later, or sign in with your password.", next)
		return
	}
	f := oidcFlow{State: randomString(), Nonce: randomString(), Verifier: oauth2.GenerateVerifier(),
		Next: safeNext(next), Org: truncate(r.URL.Query().Get("organization"), 64), Expires: x.Now().Add(oidcFlowTTL).Unix()}
	if len(f.Next) > oidcMaxNext {
		f.Next = "/"
	}
	b, _ := json.Marshal(f)
	http.SetCookie(w, x.oidcFlowCookie(r, x.Secrets.Seal(b, oidcSealedFor), int(oidcFlowTTL/time.Second)))
	to := x.oidc.oauth(p).AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier))
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// oidcAllowed takes one sign-in attempt from the client address's budget
// in bucket (--sign-in-rate-limit an hour), or answers 429.
func (x *dash) oidcAllowed(w http.ResponseWriter, r *http.Request, bucket, next string) bool {
	if x.Limiter == nil {
		return true
	}
	d := x.Limiter.TakeTarget(r.Context(), ratelimit.Target{Bucket: bucket + signInClient(r), Limit: x.SignInLimit})
	if d.Allowed {
		return true
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(d.RetryAfter.Seconds())+1))
	x.oidcFail(w, r, http.StatusTooManyRequests, "Too many sign-in attempts from your address. Wait a few minutes and try again.", next)
	return false
}

// oidcFail shows the sign-in page with msg, leading to next once signed in.
func (x *dash) oidcFail(w http.ResponseWriter, r *http.Request, status int, msg, next string) {
	x.render(w, r, status, "signin", &page{Title: "Sign in", Error: msg, Data: &signInData{Next: safeNext(next)}})
}

// oidcCallback is where the provider sends the browser back.
func (x *dash) oidcCallback(w http.ResponseWriter, r *http.Request) {
	var f oidcFlow
	gone := x.oidcFlowCookie(r, "", -1)
	c, err := r.Cookie(gone.Name)
	if err == nil {
		// One use: whatever happens next, this flow is over.
		http.SetCookie(w, gone)
		var b []byte
		if b, err = x.Secrets.Open(c.Value, oidcSealedFor); err == nil {
			err = json.Unmarshal(b, &f)
		}
		if err != nil {
			f = oidcFlow{} // nothing of an unsealed cookie is used
		}
	}
	q := r.URL.Query()
	// The state first: an answer that is not for a sign-in started here
	// (an error included) is shown nothing of what it says.
	state := q.Get("state")
	if err != nil || f.State == "" || x.Now().Unix() > f.Expires || subtle.ConstantTimeCompare([]byte(state), []byte(f.State)) != 1 {
		x.oidcFail(w, r, http.StatusBadRequest, "This sign-in was not started here, or it took too long. Start again.", f.Next)
		return
	}
	if e := q.Get("error"); e != "" {
		// The provider's description is logged, never shown: only a fixed
		// message per known error code is.
		x.Log.Info("dashboard: OIDC sign-in: the provider refused", "issuer", x.oidc.cfg.Issuer, "error", truncate(e, 64),
			"error_description", truncate(q.Get("error_description"), 300))
		x.oidcFail(w, r, http.StatusUnauthorized, x.oidc.providerErrorMessage(e), f.Next)
		return
	}
	if !x.oidcAllowed(w, r, "ip:signin:", f.Next) {
		return
	}
	id, err := x.oidc.verifiedEmail(r.Context(), q.Get("code"), f)
	if err != nil {
		var refused *oidcRefusal
		if errors.As(err, &refused) {
			if refused.log != nil {
				x.Log.Warn("dashboard: OIDC sign-in refused", append([]any{"issuer", x.oidc.cfg.Issuer}, refused.log...)...)
			}
			x.oidcFail(w, r, refused.status, refused.msg, f.Next)
			return
		}
		var remembered *errDiscoveryFailed
		if !errors.As(err, &remembered) { // that one was logged when it happened
			x.Log.Warn("dashboard: OIDC sign-in", "issuer", x.oidc.cfg.Issuer, "err", err)
		}
		x.oidcFail(w, r, http.StatusBadGateway, "Signing in with "+x.oidc.cfg.Name+" failed. Start again.", f.Next)
		return
	}
	email := id.Email
	// Only ASCII letters' case is folded: a provider's "\u212Aevin@" (the
	// Kelvin sign) is not kevin@, nor is any other address that would
	// match a member only after Unicode case folding.
	ms, err := x.Tenancy.Store.MembersByEmail(r.Context(), asciiLower(email))
	if err != nil {
		x.Log.Error("dashboard: OIDC sign-in: members", "err", err)
		x.oidcFail(w, r, http.StatusInternalServerError, "Something went wrong on our side. Try again.", f.Next)
		return
	}
	if f.Org != "" {
		for _, m := range ms {
			if m.OrgID == f.Org {
				ms = []tenancy.Member{m}
				break
			}
		}
	}
	switch len(ms) {
	case 0:
		x.oidcFail(w, r, http.StatusForbidden, "No member here has the email "+email+". Ask an Admin of your organization to add you as a member; signing in does not make one.", f.Next)
		return
	case 1:
	default:
		data := &signInData{Next: f.Next, Email: email, OIDCChoice: true}
		for i := range ms {
			if o, err := x.Tenancy.OrganizationOf(r.Context(), &ms[i]); err == nil {
				data.Orgs = append(data.Orgs, orgChoice{ID: o.ID, Name: o.Name})
			}
		}
		x.render(w, r, 200, "signin", &page{Title: "Choose an organization", Data: data})
		return
	}
	// The member is bound to the provider's account that first signed in
	// as them: another account later given the same email is refused.
	linked, err := x.Tenancy.Store.LinkMemberOIDC(r.Context(), ms[0].OrgID, ms[0].ID, x.oidc.cfg.Issuer, id.Subject)
	if err != nil {
		x.Log.Error("dashboard: OIDC sign-in: link", "err", err)
		x.oidcFail(w, r, http.StatusInternalServerError, "Something went wrong on our side. Try again.", f.Next)
		return
	}
	if !linked {
		x.Log.Warn("dashboard: OIDC sign-in: another account with a member's email", "member", ms[0].ID, "issuer", x.oidc.cfg.Issuer)
		x.SignInAudit.add(tenancy.SignInFailure{Members: ms[:1:1], Method: tenancy.SignInOIDC, ClientIP: clientIP(r), RequestID: audit.ActorFrom(r.Context()).RequestID})
		x.oidcFail(w, r, http.StatusForbidden, "The member "+ms[0].Email+" signs in with another "+x.oidc.cfg.Name+" account than this one, which has the same email. "+
			"If this is now your account, ask an Admin of your organization to remove you and add you again.", f.Next)
		return
	}
	if err := x.startSession(w, r, &ms[0]); err != nil {
		x.Log.Error("dashboard: start session", "err", err)
		x.oidcFail(w, r, http.StatusInternalServerError, "Something went wrong on our side. Try again.", f.Next)
		return
	}
	http.Redirect(w, r, safeNext(f.Next), http.StatusSeeOther)
}

// oidcRefusal is a sign-in the provider's answer does not allow, with what
// to tell the person and, when the operator should know, what to log (key
// and value pairs; never a secret or a code).
type oidcRefusal struct {
	status int
	msg    string
	log    []any
}

// oidcOperatorMsg is what a person is told when the provider refuses
// Gatehouse's own client credentials: nothing they can do fixes it.
const oidcOperatorMsg = " refused Gatehouse's client credentials: ask the operator of this Gatehouse to check its OIDC client id and secret."

// providerErrorMessage is what to show for an error code a provider sent
// to the callback (RFC 6749 4.1.2.1, OpenID Connect Core 3.1.2.6).
func (o *oidcSignIn) providerErrorMessage(code string) string {
	n := o.cfg.Name
	switch code {
	case "access_denied":
		return n + " did not sign you in: the sign-in was declined there. Start again, or sign in with your password."
	case "login_required", "interaction_required", "consent_required", "account_selection_required":
		return n + " did not sign you in: it needs you to sign in, choose an account or consent there first. Start again."
	case "unauthorized_client", "invalid_client":
		return "The provider" + oidcOperatorMsg
	case "invalid_scope", "unsupported_response_type", "invalid_request", "invalid_request_uri", "invalid_request_object",
		"request_not_supported", "request_uri_not_supported", "registration_not_supported":
		return n + " did not accept Gatehouse's sign-in request: ask the operator of this Gatehouse to check its OIDC settings."
	case "server_error", "temporarily_unavailable":
		return n + " could not sign you in right now. Try again later, or sign in with your password."
	}
	return n + " did not sign you in. Start again, or sign in with your password."
}

func (e *oidcRefusal) Error() string { return e.msg }

// oidcIdentity is who the provider says signed in.
type oidcIdentity struct {
	Subject string
	Email   string // verified
}

// asciiLower lower-cases s's ASCII letters only.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + ('a' - 'A')
		}
	}
	return string(b)
}

// verifiedEmail redeems code (with the flow's PKCE verifier), verifies the
// ID token and returns its subject and verified email.
func (o *oidcSignIn) verifiedEmail(ctx context.Context, code string, f oidcFlow) (oidcIdentity, error) {
	var none oidcIdentity
	p, _, err := o.discover(ctx)
	if err != nil {
		return none, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	if code == "" {
		return none, &oidcRefusal{status: http.StatusBadRequest, msg: o.cfg.Name + " sent no authorization code. Start again."}
	}
	ctx = oidc.ClientContext(ctx, o.client)
	tok, err := o.oauth(p).Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			log := []any{"step", "token", "status", re.Response.StatusCode, "error", truncate(re.ErrorCode, 64)}
			if re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client" {
				return none, &oidcRefusal{status: http.StatusBadGateway, msg: "The provider" + oidcOperatorMsg, log: log}
			}
			return none, &oidcRefusal{status: http.StatusUnauthorized, msg: o.cfg.Name + " did not accept this sign-in (its code may have been used already, or expired). Start again.", log: log}
		}
		return none, fmt.Errorf("redeem the code: %w", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return none, &oidcRefusal{status: http.StatusBadGateway, msg: o.cfg.Name + " sent no ID token. Start again.", log: []any{"step", "token", "error", "no id_token"}}
	}
	return o.emailOf(ctx, p, raw, f.Nonce, tok)
}

// emailOf verifies ID token raw (signature, issuer, audience, expiry, and
// nonce) and returns its verified email, read from the token or else from
// the UserInfo endpoint with tok (nil: the token only).
func (o *oidcSignIn) emailOf(ctx context.Context, p *oidc.Provider, raw, nonce string, tok *oauth2.Token) (oidcIdentity, error) {
	var none oidcIdentity
	idt, err := p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID}).Verify(ctx, raw)
	if err != nil {
		return none, &oidcRefusal{status: http.StatusUnauthorized, msg: "The ID token from " + o.cfg.Name + " is not valid here (" + truncate(err.Error(), 160) + "). Start again.",
			log: []any{"step", "id_token", "err", truncate(err.Error(), 300)}}
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return none, &oidcRefusal{status: http.StatusUnauthorized, msg: "The ID token from " + o.cfg.Name + " is not for this sign-in (its nonce differs). Start again.",
			log: []any{"step", "id_token", "err", "nonce differs"}}
	}
	var cl emailClaims
	if err := idt.Claims(&cl); err != nil {
		return none, fmt.Errorf("ID token claims: %w", err)
	}
	if (cl.Email == "" || cl.Verified == "") && tok != nil {
		// Many providers give the email, or whether it is verified, only
		// at UserInfo (for the same subject; its answer then replaces the
		// token's: the address and its flag go together).
		ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return none, fmt.Errorf("userinfo: %w", err)
		}
		if ui.Subject != idt.Subject {
			return none, &oidcRefusal{status: http.StatusUnauthorized, msg: o.cfg.Name + " answered about someone else than the ID token's subject. Start again.",
				log: []any{"step", "userinfo", "err", "subject differs from the ID token's"}}
		}
		var uc emailClaims
		if err := ui.Claims(&uc); err != nil {
			return none, fmt.Errorf("userinfo claims: %w", err)
		}
		if uc.Email != "" {
			cl = uc
		}
	}
	if cl.Email == "" {
		return none, &oidcRefusal{status: http.StatusForbidden, msg: o.cfg.Name + " did not tell us your email: allow Gatehouse to see it and start again."}
	}
	if !cl.Verified.isTrue() {
		return none, &oidcRefusal{status: http.StatusForbidden, msg: o.cfg.Name + " has not verified the email " + cl.Email + ": verify it there, then start again."}
	}
	return oidcIdentity{Subject: idt.Subject, Email: cl.Email}, nil
}

type emailClaims struct {
	Email    string   `json:"email"`
	Verified flexBool `json:"email_verified"`
}

// flexBool is a claim some providers spell as a JSON boolean and others as
// the string "true".
type flexBool string

func (b *flexBool) UnmarshalJSON(v []byte) error {
	*b = flexBool(strings.Trim(string(v), `"`))
	return nil
}

func (b flexBool) isTrue() bool { return b == "true" }

// oidcRoutes adds the OIDC sign-in's routes when a provider is configured.
func (x *dash) oidcRoutes(mux *http.ServeMux) {
	if x.oidc == nil {
		return
	}
	mux.HandleFunc("GET "+oidcPath, x.oidcStart)
	mux.HandleFunc("GET "+oidcPath+"/callback", x.oidcCallback)
}
