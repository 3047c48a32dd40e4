//go:build interop

package dashboard_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// TestOIDCSignInInABrowser signs in with a real OpenID provider in
// Chromium, at laptop and phone widths: the button, the provider's login
// form, back signed in; and an unknown email refused in place.
func TestOIDCSignInInABrowser(t *testing.T) {
	t.Parallel()
	users := idpUsers{
		"ada":      idpUser("ada", "admin@example.com", true),
		"stranger": idpUser("stranger", "stranger@example.com", true),
	}
	var p *idp
	s := newListeningSite(t, func(c *config.Config, public string) {
		p = startIDP(t, users, map[string][2]string{"gatehouse": {"browser-secret", public + "/signin/oidc/callback"}})
		c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret, c.OIDCName = p.issuer, "gatehouse", "browser-secret", "Example ID"
	})
	for _, size := range []struct {
		name          string
		width, height int
	}{{"laptop", 1366, 900}, {"phone", 390, 844}} {
		t.Run(size.name, func(t *testing.T) {
			ctx := browser(t, size.width, size.height)
			// Someone the provider knows but who is no member.
			do(t, ctx, "open sign in", chromedp.Navigate(s.url+"/signin?next=/members"), chromedp.WaitVisible(chromedp.ID("signin-oidc")))
			if got := text(t, ctx, "#signin-oidc"); got != "Sign in with Example ID" {
				t.Fatalf("the button says %q", got)
			}
			screenshot(t, ctx, "oidc-signin-"+size.name)
			providerLogin(t, ctx, "stranger")
			says(t, ctx, "an unknown email", "No member here has the email stranger@example.com")
			screenshot(t, ctx, "oidc-refused-"+size.name)

			// The Admin, by their verified email at the provider.
			do(t, ctx, "click the provider's button", leave(), chromedp.Click(chromedp.ID("signin-oidc")))
			arrived(t, ctx, "the provider's login page")
			providerForm(t, ctx, "ada")
			says(t, ctx, "signed in", "The people who sign in here")
			if !strings.Contains(text(t, ctx, "main"), "admin@example.com") {
				t.Fatal("the members page does not list the Admin")
			}
			screenshot(t, ctx, "oidc-signed-in-"+size.name)
		})
	}
}

// providerLogin clicks Sign in with … and signs in at the provider as user.
func providerLogin(t *testing.T, ctx context.Context, user string) {
	t.Helper()
	do(t, ctx, "click the provider's button", leave(), chromedp.Click(chromedp.ID("signin-oidc")))
	arrived(t, ctx, "the provider's login page")
	providerForm(t, ctx, user)
}

// providerForm fills the provider's login form and submits it, waiting for
// Gatehouse's page.
func providerForm(t *testing.T, ctx context.Context, user string) {
	t.Helper()
	do(t, ctx, "the provider's login form", chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SetValue(chromedp.ID("username"), user), chromedp.SetValue(chromedp.ID("password"), idpPassword),
		leave(), chromedp.Submit(chromedp.ID("username")))
	arrived(t, ctx, "back at Gatehouse")
	do(t, ctx, "Gatehouse's page", chromedp.WaitReady(chromedp.CSS("main")))
}

// TestInviteByMailInABrowser adds a member with a mail server configured,
// at laptop and phone widths: the page says the invitation was mailed.
func TestInviteByMailInABrowser(t *testing.T) {
	t.Parallel()
	mb := startMailbox(t)
	s := newListeningSite(t, func(c *config.Config, _ string) {
		c.SMTPURL = "smtp://" + mb.user + ":" + mb.pass + "@" + mb.addr
		c.SMTPFrom = "Gatehouse <gatehouse@example.com>"
	})
	const pw = "correct horse battery staple"
	for i, size := range []struct {
		name          string
		width, height int
	}{{"laptop", 1366, 900}, {"phone", 390, 844}} {
		t.Run(size.name, func(t *testing.T) {
			ctx := browser(t, size.width, size.height)
			if i == 0 { // choosing the password signs in
				do(t, ctx, "open the setup link", chromedp.Navigate(s.url+s.setup), chromedp.WaitVisible(chromedp.ID("password")))
				submit(t, ctx, "set the password", "#setup", map[string]string{"#password": pw, "#confirm": pw})
			} else {
				signIn(t, ctx, s.site, "admin@example.com", pw)
			}
			email := size.name + "@example.com"
			do(t, ctx, "members", chromedp.Navigate(s.url+"/members"), chromedp.WaitVisible(chromedp.CSS("form[action='/members']")))
			do(t, ctx, "add a member", leave(), chromedp.SetValue(chromedp.CSS("form[action='/members'] input[name=email]"), email),
				chromedp.Submit(chromedp.CSS("form[action='/members'] button.primary")))
			arrived(t, ctx, "the members page")
			says(t, ctx, "the invitation", "Invitation mailed to "+email)
			if strings.Contains(text(t, ctx, "main"), "/setup/ghsetup_") {
				t.Fatal("the page shows the mailed link")
			}
			if got := mb.next(t); len(got.to) != 1 || got.to[0] != email {
				t.Fatalf("mailed to %v", got.to)
			}
			screenshot(t, ctx, "invite-mailed-"+size.name)
		})
	}
}
