package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/mail"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
)

// Invitations by mail: with --smtp-url, adding a member mails them their
// setup link instead of showing it to the inviter (the link's token is
// kept only as a hash, so the mail is then its one copy; an Admin can make
// a new one). When the mail cannot be sent the link is shown, with why.

// inviteRoutes adds the route that mails a member a new setup link.
func (x *dash) inviteRoutes(mux *http.ServeMux) {
	if x.Mail == nil {
		return
	}
	mux.HandleFunc("POST /members/{member}/invite", x.authed(x.memberInvite))
}

func (x *dash) memberInvite(w http.ResponseWriter, r *http.Request, v *viewer) {
	x.inviteOrShow(w, r, v, r.PathValue("member"), r.FormValue("email"), "")
}

// inviteOrShow makes a new setup link for member id and mails it to them
// when a mail server is configured; otherwise, or when the mail fails, it
// shows the link once, as showSetupLink does.
func (x *dash) inviteOrShow(w http.ResponseWriter, r *http.Request, v *viewer, id, email, flash string) {
	if x.Mail == nil {
		x.showSetupLink(w, r, v, id, email, flash)
		return
	}
	ctx := apiContext(r)
	// The member first: a failed lookup must not cancel their old link.
	m, err := v.api.Members.Get(ctx, id)
	if err != nil {
		x.renderMembers(w, r, v, statusOf(err), flashJoin(flash, formError(err)), &membersData{})
		return
	}
	if why := x.inviteMailLimited(r, v.org.ID, m.Email); why != "" {
		x.showSetupLink(w, r, v, id, m.Email, flashJoin(flash, why))
		return
	}
	link, err := v.api.Members.SetupLink(ctx, id)
	if err != nil {
		x.renderMembers(w, r, v, statusOf(err), flashJoin(flash, formError(err)), &membersData{})
		return
	}
	mctx, cancel := context.WithTimeout(ctx, inviteMailTimeout)
	defer cancel()
	full := x.base(r) + link.Path
	err = x.Mail.Send(mctx, mail.Message{To: m.Email, Subject: "Your invitation to " + shorten(v.org.Name, maxMailName) + " on Gatehouse", Body: x.inviteBody(v, full, link.ExpiresAt)})
	if err != nil {
		// The error names the server and its answer, never the password or
		// the link.
		x.Log.Warn("dashboard: invitation mail", "member", m.ID, "err", err)
		d := &membersData{Link: full, LinkEmail: m.Email, LinkExpires: link.ExpiresAt, Flash: flash}
		x.renderMembers(w, r, v, 200, "The invitation mail to "+m.Email+" could not be sent ("+err.Error()+"). Send them the link below yourself.", d)
		return
	}
	x.redirect(w, r, "/members", flashJoin(flash, fmt.Sprintf("Invitation mailed to %s: its setup link works once, until %s UTC.", m.Email, link.ExpiresAt.UTC().Format("2 Jan 2006 15:04"))))
}

const (
	// Invitation mails an hour, per organization and per recipient: an
	// Admin (or a stolen session) cannot make Gatehouse a mail cannon. They
	// spend from the rate limiter's store (Redis: every node together; in
	// memory: each node on its own).
	inviteMailsPerOrg       = 100
	inviteMailsPerRecipient = 5
	// maxMailName bounds the organization's and inviter's names in a mail.
	maxMailName = 60
)

// inviteMailTimeout bounds one invitation mail's delivery.
var inviteMailTimeout = 20 * time.Second

// inviteMailLimited spends one invitation mail of the organization's and
// the recipient's hourly budgets, and says why not when one is spent.
func (x *dash) inviteMailLimited(r *http.Request, orgID, to string) string {
	if x.Limiter == nil {
		return ""
	}
	if d := x.Limiter.TakeTarget(r.Context(), ratelimit.Target{Bucket: "invite-mail:to:" + strings.ToLower(to), Limit: inviteMailsPerRecipient}); !d.Allowed {
		return fmt.Sprintf("No invitation mailed: %s was sent %d in the last hour. Send them the link below yourself.", to, inviteMailsPerRecipient)
	}
	if d := x.Limiter.TakeTarget(r.Context(), ratelimit.Target{Bucket: "invite-mail:org:" + orgID, Limit: inviteMailsPerOrg}); !d.Allowed {
		return fmt.Sprintf("No invitation mailed: this organization sent %d in the last hour. Send the link below yourself.", inviteMailsPerOrg)
	}
	return ""
}

// shorten cuts s to n characters at most, marking the cut.
func shorten(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func (x *dash) inviteBody(v *viewer, link string, expires time.Time) string {
	var b strings.Builder
	who := v.member.Email
	if v.member.Name != "" {
		who = shorten(v.member.Name, maxMailName) + " (" + v.member.Email + ")"
	}
	fmt.Fprintf(&b, "%s added you to %s on Gatehouse.\n\n", who, shorten(v.org.Name, maxMailName))
	fmt.Fprintf(&b, "Choose your password with this link. It works once, until %s UTC:\n\n%s\n\n", expires.UTC().Format("2 Jan 2006 15:04"), link)
	if x.oidc != nil {
		fmt.Fprintf(&b, "You may also sign in with %s at %s/signin, with this email address.\n\n", x.oidc.cfg.Name, strings.TrimRight(x.PublicURL, "/"))
	}
	b.WriteString("If you did not expect this mail, ignore it: nothing happens until the link is used.\n")
	return b.String()
}
