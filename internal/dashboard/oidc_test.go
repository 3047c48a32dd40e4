package dashboard_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/oauth2"
	"golang.org/x/text/language"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/dashboard"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// idpUsers are the OpenID provider's people (storage.UserStore).
type idpUsers map[string]*storage.User

func (u idpUsers) GetUserByID(id string) *storage.User { return u[id] }
func (u idpUsers) GetUserByUsername(name string) *storage.User {
	for _, x := range u {
		if x.Username == name {
			return x
		}
	}
	return nil
}
func (u idpUsers) ExampleClientID() string { return storage.ServiceUserID }

// idp is a real OpenID provider (zitadel's op package, with its example
// in-memory storage and login form) on a loopback listener.
type idp struct {
	issuer string
}

const idpPassword = "provider-password"

// startIDP runs a provider knowing users and the web clients (id: secret,
// redirect URI).
func startIDP(t *testing.T, users idpUsers, clients map[string][2]string) *idp {
	t.Helper()
	return startIDPWith(t, users, clients, nil)
}

// startIDPWith is startIDP with the provider's storage wrapped by wrap
// (nil: as it is).
func startIDPWith(t *testing.T, users idpUsers, clients map[string][2]string, wrap func(*storage.Storage) exampleop.Storage) *idp {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	cs := map[string]*storage.Client{}
	for id, c := range clients {
		cs[id] = storage.WebClient(id, c[0], c[1])
	}
	var st exampleop.Storage = storage.NewStorageWithClients(users, cs)
	if wrap != nil {
		st = wrap(st.(*storage.Storage))
	}
	srv := httptest.NewUnstartedServer(exampleop.SetupServer(issuer, st, nil, false))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return &idp{issuer: issuer}
}

func idpUser(id, email string, verified bool) *storage.User {
	return &storage.User{ID: id, Username: id, Password: idpPassword, FirstName: id, LastName: "Test", Email: email,
		EmailVerified: verified, PreferredLanguage: language.English}
}

// oidcSite is a Gatehouse whose public URL is known before it starts (the
// provider must know its redirect URI), with its log kept.
type oidcSite struct {
	*site
	log *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// newListeningSite starts a Gatehouse on a listener opened before it is
// configured, so mod can use its public URL.
func newListeningSite(t *testing.T, mod func(c *config.Config, publicURL string)) *oidcSite {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	public := "http://" + ln.Addr().String()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.PublicURL = public
	mod(&cfg, public)
	logs := &syncBuffer{}
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Init(context.Background(), app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(a.Handler())
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(func() { ts.Close(); a.Close() })
	return &oidcSite{site: &site{url: public, key: res.Token, setup: res.SetupPath, a: a}, log: logs}
}

// jarClient is a cookie jar that follows no redirect by itself.
func jarClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// toProvider starts a sign-in at Gatehouse and signs in at the provider as
// user, returning the callback URL the provider sends the browser to.
func toProvider(t *testing.T, c *http.Client, s *oidcSite, p *idp, user string) string {
	t.Helper()
	res, _ := get(t, c, s.url+"/signin/oidc?next=/members")
	if res.StatusCode != 303 || !strings.HasPrefix(res.Header.Get("Location"), p.issuer) {
		t.Fatalf("start: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	auth, _ := url.Parse(res.Header.Get("Location"))
	q := auth.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("nonce") == "" ||
		q.Get("redirect_uri") != s.url+"/signin/oidc/callback" {
		t.Fatalf("the authorization request lacks PKCE, state, nonce or the public redirect URI: %s", auth.RawQuery)
	}
	return finishAtProvider(t, c, s, p, auth.String(), user)
}

// finishAtProvider follows the authorization request auth at the provider,
// signs in as user and returns the callback URL it sends the browser to.
func finishAtProvider(t *testing.T, c *http.Client, s *oidcSite, p *idp, auth, user string) string {
	t.Helper()
	res, _ := get(t, c, auth)
	login, err := res.Location()
	if err != nil {
		t.Fatalf("provider: %d, no login page", res.StatusCode)
	}
	id := login.Query().Get("authRequestID")
	res, err = c.PostForm(p.issuer+"/login/username", url.Values{"id": {id}, "username": {user}, "password": {idpPassword}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	// The provider's own callback, then the redirect to Gatehouse.
	for i := 0; i < 5 && res.StatusCode/100 == 3; i++ {
		loc, _ := res.Location()
		if strings.HasPrefix(loc.String(), s.url) {
			return loc.String()
		}
		res, _ = get(t, c, loc.String())
	}
	t.Fatalf("the provider did not send the browser back: %d", res.StatusCode)
	return ""
}

// signedIn reports whether c has a Gatehouse session (/ shows a page
// rather than sending to /signin).
func signedIn(t *testing.T, c *http.Client, s *oidcSite) bool {
	t.Helper()
	res, _ := get(t, c, s.url+"/")
	return res.StatusCode == 200
}

func TestOIDCSignIn(t *testing.T) {
	t.Parallel()
	const clientID, secret = "gatehouse-dashboard", "client-secret-value"
	users := idpUsers{
		// The provider may spell the address otherwise.
		"ada":      idpUser("ada", "Admin@Example.com", true),
		"unver":    idpUser("unver", "viewer@example.com", false),
		"stranger": idpUser("stranger", "stranger@example.com", true),
	}
	var p *idp
	var s *oidcSite
	s = newListeningSite(t, func(c *config.Config, public string) {
		p = startIDP(t, users, map[string][2]string{clientID: {secret, public + "/signin/oidc/callback"}})
		c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret, c.OIDCName = p.issuer, clientID, secret, "Example ID"
	})
	if st, _ := s.api(t, "POST", "/v1/members", s.key, map[string]any{"email": "viewer@example.com", "role": "viewer"}); st != 201 {
		t.Fatalf("add a member: %d", st)
	}

	t.Run("the sign-in page offers the provider", func(t *testing.T) {
		_, body := get(t, jarClient(), s.url+"/signin")
		if !strings.Contains(body, "Sign in with Example ID") || !strings.Contains(body, `href="/signin/oidc?next=%2f"`) {
			t.Fatalf("no provider button:\n%s", body)
		}
	})

	t.Run("a member with a verified email signs in", func(t *testing.T) {
		c := jarClient()
		cb := toProvider(t, c, s, p, "ada")
		res, _ := get(t, c, cb)
		if res.StatusCode != 303 || res.Header.Get("Location") != "/members" {
			t.Fatalf("callback: %d to %q", res.StatusCode, res.Header.Get("Location"))
		}
		_, body := get(t, c, s.url+"/members")
		if !strings.Contains(body, "admin@example.com <span class=\"badge muted\">you</span>") {
			t.Fatalf("not signed in as the Admin:\n%s", body)
		}
		// The code is spent: the same answer again is refused, and a fresh
		// sign-in (new state, new PKCE verifier) cannot redeem it either.
		c2 := jarClient()
		res, body = get(t, c2, cb)
		if res.StatusCode != 400 || !strings.Contains(body, "not started here") || signedIn(t, c2, s) {
			t.Fatalf("replayed callback without its flow: %d", res.StatusCode)
		}
		fresh := toProvider(t, c2, s, p, "ada")
		fu, _ := url.Parse(fresh)
		old, _ := url.Parse(cb)
		q := fu.Query()
		q.Set("code", old.Query().Get("code"))
		fu.RawQuery = q.Encode()
		res, body = get(t, c2, fu.String())
		if res.StatusCode != 401 || !strings.Contains(body, "did not accept this sign-in") || signedIn(t, c2, s) {
			t.Fatalf("replayed code: %d %s", res.StatusCode, alertOf(body))
		}
	})

	for _, tc := range []struct {
		name, user string
		edit       func(u *url.URL)
		status     int
		says       string
	}{
		{"wrong state", "ada", func(u *url.URL) { q := u.Query(); q.Set("state", "forged"); u.RawQuery = q.Encode() }, 400, "not started here"},
		{"no state", "ada", func(u *url.URL) { q := u.Query(); q.Del("state"); u.RawQuery = q.Encode() }, 400, "not started here"},
		{"no code", "ada", func(u *url.URL) { q := u.Query(); q.Del("code"); u.RawQuery = q.Encode() }, 400, "no authorization code"},
		{"a code the provider never gave", "ada", func(u *url.URL) { q := u.Query(); q.Set("code", "made-up"); u.RawQuery = q.Encode() }, 401, "did not accept"},
		{"the provider's refusal", "ada", func(u *url.URL) {
			q := u.Query()
			q.Del("code")
			q.Set("error", "access_denied")
			q.Set("error_description", "the user said no")
			u.RawQuery = q.Encode()
		}, 401, "the sign-in was declined there"},
		{"an error for another sign-in", "ada", func(u *url.URL) {
			u.RawQuery = url.Values{"error": {"access_denied"}, "error_description": {"Call +1 555 0100 to unlock"}, "state": {"forged"}}.Encode()
		}, 400, "not started here"},
		{"an unknown error", "ada", func(u *url.URL) {
			q := u.Query()
			q.Del("code")
			q.Set("error", "Call +1 555 0100")
			q.Set("error_description", "Call +1 555 0100 to unlock")
			u.RawQuery = q.Encode()
		}, 401, "Example ID did not sign you in. Start again"},
		{"unverified email", "unver", nil, 403, "has not verified the email viewer@example.com"},
		{"unknown email", "stranger", nil, 403, "No member here has the email stranger@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := jarClient()
			cb, _ := url.Parse(toProvider(t, c, s, p, tc.user))
			if tc.edit != nil {
				tc.edit(cb)
			}
			res, body := get(t, c, cb.String())
			if res.StatusCode != tc.status || !strings.Contains(body, tc.says) {
				t.Fatalf("%d, want %d saying %q: %s", res.StatusCode, tc.status, tc.says, alertOf(body))
			}
			if signedIn(t, c, s) {
				t.Fatal("signed in")
			}
			if strings.Contains(body, "the user said no") || strings.Contains(body, "555 0100") {
				t.Fatalf("the provider's words are shown: %s", alertOf(body))
			}
		})
	}
	if !strings.Contains(s.log.String(), "the user said no") {
		t.Fatal("the provider's error_description is not logged")
	}
	t.Run("an email in several organizations chooses one", func(t *testing.T) {
		if _, _, _, err := s.a.CreateOrganization(context.Background(), "Second Org", "second", "admin@example.com", "Second Admin", ""); err != nil {
			t.Fatal(err)
		}
		c := jarClient()
		res, body := get(t, c, toProvider(t, c, s, p, "ada"))
		if res.StatusCode != 200 || !strings.Contains(body, "Choose an organization") || signedIn(t, c, s) {
			t.Fatalf("several organizations: %d %s", res.StatusCode, alertOf(body))
		}
		m := regexp.MustCompile(`href="(/signin/oidc\?organization=[^"]+)">Second Org<`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no choice of Second Org:\n%s", body)
		}
		// Choosing signs in at the provider again, for that organization.
		res, _ = get(t, c, s.url+html.UnescapeString(m[1]))
		if res.StatusCode != 303 {
			t.Fatalf("choose: %d", res.StatusCode)
		}
		cb := finishAtProvider(t, c, s, p, res.Header.Get("Location"), "ada")
		if res, _ := get(t, c, cb); res.StatusCode != 303 || res.Header.Get("Location") != "/members" {
			t.Fatalf("callback: %d to %q", res.StatusCode, res.Header.Get("Location"))
		}
		if _, page := get(t, c, s.url+"/members"); !strings.Contains(page, `title="Organization">Second Org<`) {
			t.Fatal("not signed in to Second Org")
		}
	})

	// Nobody was made a member by signing in.
	if st, out := s.api(t, "GET", "/v1/members", s.key, nil); st != 200 || strings.Contains(strings.ToLower(jsonText(out)), "stranger@") {
		t.Fatalf("members: %d %v", st, out)
	}
	if strings.Contains(s.log.String(), secret) {
		t.Fatal("the log holds the client secret")
	}
}

// TestOIDCTokenChecks verifies ID tokens that a real provider issued but
// that are not for this Gatehouse: another client's (audience), another
// provider's (issuer and keys), another sign-in's (nonce).
func TestOIDCTokenChecks(t *testing.T) {
	t.Parallel()
	const redirect = "http://127.0.0.1:1/cb" // never followed
	users := idpUsers{"ada": idpUser("ada", "admin@example.com", true)}
	a := startIDP(t, users, map[string][2]string{"gatehouse": {"s1", redirect}, "other-app": {"s2", redirect}})
	b := startIDP(t, users, map[string][2]string{"gatehouse": {"s1", redirect}})
	cfg := dashboard.OIDC{Issuer: a.issuer, ClientID: "gatehouse", ClientSecret: "s1"}

	// A provider whose discovery document names another issuer than the
	// one configured is refused before any sign-in.
	wrong := cfg
	wrong.Issuer = strings.Replace(a.issuer, "127.0.0.1", "localhost", 1)
	if _, err := dashboard.VerifyIDToken(context.Background(), wrong, nil, "n1"); err == nil || !strings.Contains(err.Error(), "did not match the issuer") {
		t.Fatalf("a provider answering for another issuer: %v", err)
	}
	good := idToken(t, a, "gatehouse", "s1", redirect, "n1")
	if email, err := dashboard.VerifyIDToken(context.Background(), cfg, good, "n1"); err != nil || email != "admin@example.com" {
		t.Fatalf("a good token: %q %v", email, err)
	}
	for _, tc := range []struct {
		name        string
		token       *oauth2.Token
		nonce, says string
	}{
		{"another client's token (audience)", idToken(t, a, "other-app", "s2", redirect, "n1"), "n1", "audience"},
		// go-oidc checks the signature (against this provider's keys) before the issuer.
		{"another provider's token (issuer, keys)", idToken(t, b, "gatehouse", "s1", redirect, "n1"), "n1", "failed to verify signature"},
		{"another sign-in's token (nonce)", good, "n2", "nonce"},
		{"a tampered token (signature)", tamper(good), "n1", "signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			email, err := dashboard.VerifyIDToken(context.Background(), cfg, tc.token, tc.nonce)
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("got %q, %v; want a refusal about the %s", email, err, tc.says)
			}
		})
	}
}

// idToken signs ada in at provider p as client id and returns the tokens
// it issues (the authorization code flow, driven by hand).
func idToken(t *testing.T, p *idp, id, secret, redirect, nonce string) *oauth2.Token {
	t.Helper()
	oc := &oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: redirect, Scopes: []string{"openid", "email"},
		Endpoint: oauth2.Endpoint{AuthURL: p.issuer + "/auth", TokenURL: p.issuer + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}}
	c := jarClient()
	res, _ := get(t, c, oc.AuthCodeURL("st", oauth2.SetAuthURLParam("nonce", nonce)))
	login, err := res.Location()
	if err != nil {
		t.Fatalf("provider: %d", res.StatusCode)
	}
	res, err = c.PostForm(p.issuer+"/login/username", url.Values{"id": {login.Query().Get("authRequestID")}, "username": {"ada"}, "password": {idpPassword}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := res.Location()
	res, _ = get(t, c, loc.String())
	back, err := res.Location()
	if err != nil || back.Query().Get("code") == "" {
		t.Fatalf("no code: %d %v", res.StatusCode, err)
	}
	tok, err := oc.Exchange(context.Background(), back.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := tok.Extra("id_token").(string); raw == "" {
		t.Fatal("no ID token")
	}
	return tok
}

// tamper changes the first character of the ID token's signature.
func tamper(tok *oauth2.Token) *oauth2.Token {
	raw, _ := tok.Extra("id_token").(string)
	parts := strings.Split(raw, ".")
	sig := []byte(parts[2])
	if sig[0] == 'A' {
		sig[0] = 'B'
	} else {
		sig[0] = 'A'
	}
	parts[2] = string(sig)
	return tok.WithExtra(map[string]any{"id_token": strings.Join(parts, ".")})
}

// A provider that does not answer: the button says sign-in with it is not
// available (502), password sign-in goes on.
func TestOIDCProviderDown(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now
	s := newListeningSite(t, func(c *config.Config, _ string) {
		c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret = issuer, "gh", "secret"
	})
	c := jarClient()
	res, body := get(t, c, s.url+"/signin/oidc?next=/keys")
	if res.StatusCode != 502 || !strings.Contains(body, "Signing in with 127.0.0.1 is not available right now") || !strings.Contains(body, `name="next" value="/keys"`) {
		t.Fatalf("%d %s", res.StatusCode, alertOf(body))
	}
	if res, err := c.PostForm(s.url+s.setup, url.Values{"password": {"correct horse battery"}, "confirm": {"correct horse battery"}}); err != nil || res.StatusCode != 303 {
		t.Fatalf("password setup: %v %v", res, err)
	}
	s.member(t, "admin@example.com", "correct horse battery")
}

// oidcProviderSite is a Gatehouse signing in with a provider knowing users.
func oidcProviderSite(t *testing.T, users idpUsers, mod func(c *config.Config)) (*oidcSite, *idp) {
	t.Helper()
	const clientID, secret = "gatehouse-dashboard", "client-secret-value"
	var p *idp
	s := newListeningSite(t, func(c *config.Config, public string) {
		p = startIDP(t, users, map[string][2]string{clientID: {secret, public + "/signin/oidc/callback"}})
		c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret, c.OIDCName = p.issuer, clientID, secret, "Example ID"
		if mod != nil {
			mod(c)
		}
	})
	return s, p
}

func addMember(t *testing.T, s *oidcSite, email string) string {
	t.Helper()
	st, out := s.api(t, "POST", "/v1/members", s.key, map[string]any{"email": email, "role": "viewer"})
	if st != 201 {
		t.Fatalf("add %s: %d %v", email, st, out)
	}
	return out["data"].(map[string]any)["id"].(string)
}

// A member is bound to the provider's account that first signed in as
// them; an address that matches only after Unicode case folding matches
// nobody.
func TestOIDCIdentity(t *testing.T) {
	t.Parallel()
	s, p := oidcProviderSite(t, idpUsers{
		"kelvin": idpUser("kelvin", "\u212Aevin@corp.com", true), // KELVIN SIGN, lower-cased by Unicode to k
		"kim":    idpUser("kim", "kim@corp.com", true),
		"kim2":   idpUser("kim2", "KIM@corp.com", true), // another account, the same address
	}, nil)
	addMember(t, s, "kevin@corp.com")
	kim := addMember(t, s, "kim@corp.com")

	signIn := func(user string) (int, string, bool) {
		c := jarClient()
		res, body := get(t, c, toProvider(t, c, s, p, user))
		return res.StatusCode, alertOf(body), signedIn(t, c, s)
	}
	if st, alert, in := signIn("kelvin"); st != 403 || !strings.Contains(alert, "No member here has the email") || in {
		t.Fatalf("a Kelvin sign for a k: %d %s %v", st, alert, in)
	}
	if st, alert, in := signIn("kim"); st != 303 || !in {
		t.Fatalf("the first sign-in: %d %s", st, alert)
	}
	if st, alert, in := signIn("kim2"); st != 403 || !strings.Contains(alert, "signs in with another Example ID account") || in {
		t.Fatalf("another account with the member's email: %d %s %v", st, alert, in)
	}
	// That refusal is in the trail, on kim (the Kelvin sign's matched
	// no member: nothing), with no code or token of the provider's.
	testwait.Until(t, 10*time.Second, "the refused OIDC sign-in in the trail", func() bool { return len(failedOn(t, s.site, "kim@corp.com")) > 0 })
	entries, raw := trailOf(t, s.site, "kim@corp.com")
	failed := withAction(entries, "member.sign_in_failed")
	if len(failed) != 1 || failed[0].ObjectID != kim || failed[0].ActorID != "" || failed[0].ActorName != "kim@corp.com" ||
		failed[0].ClientIP != "127.0.0.1" || string(failed[0].After) != `{"method":"oidc"}` {
		t.Fatalf("the refused OIDC sign-in's entries: %+v", failed)
	}
	for _, secret := range []string{"code=", "id_token", "eyJ", "kim2"} {
		if strings.Contains(raw, secret) {
			t.Errorf("the stored trail holds %q", secret)
		}
	}
	if st, alert, in := signIn("kim"); st != 303 || !in {
		t.Fatalf("the linked account again: %d %s", st, alert)
	}
	// An Admin resets the link by removing and re-adding the member.
	if st, out := s.api(t, "DELETE", "/v1/members/"+kim, s.key, nil); st != 204 {
		t.Fatalf("remove: %d %v", st, out)
	}
	addMember(t, s, "kim@corp.com")
	if st, alert, in := signIn("kim2"); st != 303 || !in {
		t.Fatalf("after the reset: %d %s", st, alert)
	}
}

// hangingListener accepts connections and never answers; it counts them.
func hangingListener(t *testing.T) (addr string, accepted *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = &atomic.Int32{}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String(), accepted
}

// A provider that accepts connections but never answers: sign-ins get a
// 502 once the (short) timeout passes, those started meanwhile wait for
// the same discovery rather than asking again, and the failure is
// remembered (a 502 at once, no new connection, one log line).
func TestOIDCProviderHangs(t *testing.T) {
	t.Parallel()
	dashboard.SetOIDCTimeouts(t, 300*time.Millisecond, time.Hour)
	addr, accepted := hangingListener(t)
	s := newListeningSite(t, func(c *config.Config, _ string) {
		c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret = "http://"+addr, "gh", "secret"
	})
	start := time.Now()
	var wg sync.WaitGroup
	statuses := make([]int, 4)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := jarClient().Get(s.url + "/signin/oidc?next=/keys")
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			statuses[i] = res.StatusCode
		}()
	}
	wg.Wait()
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the sign-ins took %v with a 300 ms timeout", took)
	}
	for i, st := range statuses {
		if st != 502 {
			t.Fatalf("sign-in %d: %d", i, st)
		}
	}
	start = time.Now()
	res, body := get(t, jarClient(), s.url+"/signin/oidc")
	if res.StatusCode != 502 || !strings.Contains(body, "is not available right now") || time.Since(start) > 250*time.Millisecond {
		t.Fatalf("a sign-in after the failure: %d in %v %s", res.StatusCode, time.Since(start), alertOf(body))
	}
	if n := accepted.Load(); n != 1 {
		t.Fatalf("the provider was asked %d times", n)
	}
	if n := strings.Count(s.log.String(), "dashboard: OIDC discovery"); n != 1 {
		t.Fatalf("%d log lines about the discovery:\n%s", n, s.log.String())
	}
}

// Starting a sign-in with the provider counts against the sign-in rate
// limit of the client's address.
func TestOIDCStartRateLimited(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "http://" + ln.Addr().String()
	ln.Close()
	s := newListeningSite(t, func(c *config.Config, _ string) {
		c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret = issuer, "gh", "secret"
		c.SignInRateLimit = 3
	})
	for i := 0; i < 3; i++ {
		if res, _ := get(t, jarClient(), s.url+"/signin/oidc"); res.StatusCode != 502 {
			t.Fatalf("start %d: %d", i, res.StatusCode)
		}
	}
	res, body := get(t, jarClient(), s.url+"/signin/oidc")
	if res.StatusCode != 429 || res.Header.Get("Retry-After") == "" || !strings.Contains(body, "Too many sign-in attempts") {
		t.Fatalf("the fourth start: %d %s", res.StatusCode, alertOf(body))
	}
}

// PKCE: a code the provider issued to one sign-in (flow A), never used,
// delivered to another sign-in's callback with that flow's own state and
// cookie (flow B) is refused at the token endpoint, its verifier not
// matching A's challenge; A can still use its code.
func TestOIDCPKCE(t *testing.T) {
	t.Parallel()
	s, p := oidcProviderSite(t, idpUsers{"kim": idpUser("kim", "kim@corp.com", true)}, nil)
	addMember(t, s, "kim@corp.com")
	ca, cb := jarClient(), jarClient()
	backA, _ := url.Parse(toProvider(t, ca, s, p, "kim"))
	backB, _ := url.Parse(toProvider(t, cb, s, p, "kim"))
	q := backB.Query()
	q.Set("code", backA.Query().Get("code"))
	backB.RawQuery = q.Encode()
	res, body := get(t, cb, backB.String())
	if res.StatusCode != 401 || !strings.Contains(body, "did not accept this sign-in") || signedIn(t, cb, s) {
		t.Fatalf("another flow's code: %d %s", res.StatusCode, alertOf(body))
	}
	if res, body := get(t, ca, backA.String()); res.StatusCode != 303 || !signedIn(t, ca, s) {
		t.Fatalf("flow A with its own code: %d %s", res.StatusCode, alertOf(body))
	}
}

// The provider refuses Gatehouse's client credentials at the token
// endpoint: the person is told to ask the operator (not to start again),
// and the log says what the provider answered, without the secret or the
// code.
func TestOIDCClientRefused(t *testing.T) {
	t.Parallel()
	s, p := oidcProviderSite(t, idpUsers{"kim": idpUser("kim", "kim@corp.com", true)}, func(c *config.Config) {
		c.OIDCClientSecret = "a-wrong-client-secret"
	})
	addMember(t, s, "kim@corp.com")
	c := jarClient()
	back := toProvider(t, c, s, p, "kim")
	res, body := get(t, c, back)
	if res.StatusCode != 502 || !strings.Contains(body, "refused Gatehouse&#39;s client credentials: ask the operator") || signedIn(t, c, s) {
		t.Fatalf("%d %s", res.StatusCode, alertOf(body))
	}
	u, _ := url.Parse(back)
	log := s.log.String()
	if !regexp.MustCompile(`level=WARN msg="dashboard: OIDC sign-in refused".* step=token status=401 error=invalid_client`).MatchString(log) {
		t.Fatalf("the refusal is not logged:\n%s", log)
	}
	if strings.Contains(log, "a-wrong-client-secret") || strings.Contains(log, u.Query().Get("code")) {
		t.Fatal("the log holds the client secret or the code")
	}
}

// The flow cookie is sealed with the server's secret key: one planted by a
// neighbour (a sibling subdomain may set cookies for this host) with a
// state of its choosing is refused before any code is redeemed. Over
// HTTPS it is a __Host- cookie. A very long next is not kept.
func TestOIDCFlowCookie(t *testing.T) {
	t.Parallel()
	s, p := oidcProviderSite(t, idpUsers{"kim": idpUser("kim", "kim@corp.com", true)}, nil)
	addMember(t, s, "kim@corp.com")

	t.Run("a planted cookie", func(t *testing.T) {
		flow, _ := json.Marshal(map[string]any{"s": "planted", "n": "n", "v": strings.Repeat("v", 43), "x": "/", "e": time.Now().Add(time.Hour).Unix()})
		req, _ := http.NewRequest("GET", s.url+"/signin/oidc/callback?state=planted&code=attacker-code", nil)
		req.AddCookie(&http.Cookie{Name: "gatehouse_oidc", Value: base64.RawURLEncoding.EncodeToString(flow)})
		res, err := jarClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 400 || !strings.Contains(string(b), "not started here") {
			t.Fatalf("%d %s", res.StatusCode, alertOf(string(b)))
		}
	})

	t.Run("the cookie holds nothing readable", func(t *testing.T) {
		res, _ := get(t, jarClient(), s.url+"/signin/oidc?next=/members")
		auth, _ := res.Location()
		for _, c := range res.Cookies() {
			if c.Name == "gatehouse_oidc" && (strings.Contains(c.Value, auth.Query().Get("state")) || strings.Contains(c.Value, "members")) {
				t.Fatalf("the flow cookie is readable: %s", c.Value)
			}
		}
	})

	t.Run("over HTTPS a __Host- cookie", func(t *testing.T) {
		req, _ := http.NewRequest("GET", s.url+"/signin/oidc", nil)
		req.Header.Set("X-Forwarded-Proto", "https")
		res, err := jarClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		cs := res.Cookies()
		if len(cs) != 1 || cs[0].Name != "__Host-gatehouse_oidc" || cs[0].Path != "/" || !cs[0].Secure || cs[0].Domain != "" {
			t.Fatalf("cookies: %v", cs)
		}
		back, _ := url.Parse(finishAtProvider(t, jarClient(), s, p, res.Header.Get("Location"), "kim"))
		req, _ = http.NewRequest("GET", back.String(), nil)
		req.Header.Set("X-Forwarded-Proto", "https")
		req.AddCookie(cs[0])
		res, err = jarClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 303 || res.Header.Get("Location") != "/" {
			t.Fatalf("the callback over HTTPS: %d to %q", res.StatusCode, res.Header.Get("Location"))
		}
	})

	t.Run("a long next becomes /", func(t *testing.T) {
		c := jarClient()
		res, _ := get(t, c, s.url+"/signin/oidc?next=/members?q="+strings.Repeat("a", 1100))
		back := finishAtProvider(t, c, s, p, res.Header.Get("Location"), "kim")
		if res, _ := get(t, c, back); res.StatusCode != 303 || res.Header.Get("Location") != "/" {
			t.Fatalf("%d to %.80q", res.StatusCode, res.Header.Get("Location"))
		}
	})
}

// entraLike is a provider that puts the email in the ID token without
// email_verified (as Microsoft Entra ID does), which only its UserInfo
// endpoint gives.
type entraLike struct {
	*storage.Storage
	users idpUsers
}

func (e entraLike) SetUserinfoFromRequest(_ context.Context, ui *oidc.UserInfo, token op.IDTokenRequest, _ []string) error {
	ui.Subject = token.GetSubject()
	ui.Email = e.users[token.GetSubject()].Email
	return nil
}

func TestOIDCVerifiedOnlyAtUserInfo(t *testing.T) {
	t.Parallel()
	users := idpUsers{"kim": idpUser("kim", "kim@corp.com", true), "unver": idpUser("unver", "unver@corp.com", false)}
	const clientID, secret = "gatehouse-dashboard", "client-secret-value"
	var p *idp
	s := newListeningSite(t, func(c *config.Config, public string) {
		p = startIDPWith(t, users, map[string][2]string{clientID: {secret, public + "/signin/oidc/callback"}},
			func(st *storage.Storage) exampleop.Storage { return entraLike{st, users} })
		c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret, c.OIDCName = p.issuer, clientID, secret, "Example ID"
	})
	addMember(t, s, "kim@corp.com")
	addMember(t, s, "unver@corp.com")
	c := jarClient()
	if res, body := get(t, c, toProvider(t, c, s, p, "kim")); res.StatusCode != 303 || !signedIn(t, c, s) {
		t.Fatalf("verified at UserInfo: %d %s", res.StatusCode, alertOf(body))
	}
	c = jarClient()
	if res, body := get(t, c, toProvider(t, c, s, p, "unver")); res.StatusCode != 403 || !strings.Contains(body, "has not verified") || signedIn(t, c, s) {
		t.Fatalf("unverified at UserInfo: %d %s", res.StatusCode, alertOf(body))
	}
}

// The organization asked for at the start is only a choice among the
// signed-in email's own members: another organization's id signs in to
// none of its own (a member of one organization gets theirs, a member of
// several chooses again).
func TestOIDCForeignOrganization(t *testing.T) {
	t.Parallel()
	s, p := oidcProviderSite(t, idpUsers{"kim": idpUser("kim", "kim@corp.com", true), "ada": idpUser("ada", "admin@example.com", true)}, nil)
	addMember(t, s, "kim@corp.com")
	if _, _, _, err := s.a.CreateOrganization(context.Background(), "Second Org", "second", "admin@example.com", "Second Admin", ""); err != nil {
		t.Fatal(err)
	}
	foreign, _, _, err := s.a.CreateOrganization(context.Background(), "Foreign Org", "foreign", "other@example.com", "Other", "")
	if err != nil {
		t.Fatal(err)
	}
	start := func(c *http.Client, user string) (*http.Response, string) {
		res, _ := get(t, c, s.url+"/signin/oidc?organization="+url.QueryEscape(foreign.Organization.ID))
		if res.StatusCode != 303 {
			t.Fatalf("start: %d", res.StatusCode)
		}
		return get(t, c, finishAtProvider(t, c, s, p, res.Header.Get("Location"), user))
	}
	c := jarClient()
	if res, body := start(c, "kim"); res.StatusCode != 303 {
		t.Fatalf("kim: %d %s", res.StatusCode, alertOf(body))
	}
	if _, page := get(t, c, s.url+"/members"); !strings.Contains(page, `title="Organization">My Organization<`) || strings.Contains(page, "Foreign Org<") {
		t.Fatal("kim is not in their own organization")
	}
	c = jarClient()
	res, body := start(c, "ada")
	if res.StatusCode != 200 || !strings.Contains(body, "Choose an organization") || strings.Contains(body, "Foreign Org") || signedIn(t, c, s) {
		t.Fatalf("ada: %d %s", res.StatusCode, alertOf(body))
	}
}
