package dashboard

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/mail"
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
	link, err := v.api.Members.SetupLink(ctx, id)
	if err != nil {
		x.renderMembers(w, r, v, statusOf(err), flashJoin(flash, formError(err)), &membersData{})
		return
	}
	m, err := v.api.Members.Get(ctx, id)
	if err != nil {
		x.renderMembers(w, r, v, statusOf(err), flashJoin(flash, formError(err)), &membersData{})
		return
	}
	full := x.base(r) + link.Path
	err = x.Mail.Send(ctx, mail.Message{To: m.Email, Subject: "Your invitation to " + v.org.Name + " on Gatehouse", Body: x.inviteBody(v, full, link.ExpiresAt)})
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

func (x *dash) inviteBody(v *viewer, link string, expires time.Time) string {
	var b strings.Builder
	who := v.member.Email
	if v.member.Name != "" {
		who = v.member.Name + " (" + v.member.Email + ")"
	}
	fmt.Fprintf(&b, "%s added you to %s on Gatehouse.\n\n", who, v.org.Name)
	fmt.Fprintf(&b, "Choose your password with this link. It works once, until %s UTC:\n\n%s\n\n", expires.UTC().Format("2 Jan 2006 15:04"), link)
	if x.oidc != nil {
		fmt.Fprintf(&b, "You may also sign in with %s at %s/signin, with this email address.\n\n", x.oidc.cfg.Name, strings.TrimRight(x.PublicURL, "/"))
	}
	b.WriteString("If you did not expect this mail, ignore it: nothing happens until the link is used.\n")
	return b.String()
}
