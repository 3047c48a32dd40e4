package dashboard_test

import (
	"errors"
	"io"
	"mime"
	"net"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/dashboard"
)

// mailbox is a real SMTP server (go-smtp) on loopback that takes mail for
// anyone but refuse@example.com, after AUTH PLAIN with user and pass.
type mailbox struct {
	addr       string
	user, pass string
	got        chan delivered
}

type delivered struct {
	from string
	to   []string
	data string
}

type mailSession struct {
	mb   *mailbox
	auth bool
	d    delivered
}

func (s *mailSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *mailSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.mb.user || pass != s.mb.pass {
			return errors.New("invalid credentials")
		}
		s.auth = true
		return nil
	}), nil
}
func (s *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if !s.auth {
		return smtp.ErrAuthRequired
	}
	s.d.from = from
	return nil
}
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if to == "refuse@example.com" {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	s.d.to = append(s.d.to, to)
	return nil
}
func (s *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.d.data = string(b)
	s.mb.got <- s.d
	return nil
}
func (s *mailSession) Reset()        { s.d = delivered{} }
func (s *mailSession) Logout() error { return nil }

func startMailbox(t *testing.T) *mailbox {
	t.Helper()
	mb := &mailbox{user: "mailer", pass: "mail-pass-42", got: make(chan delivered, 10)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mailSession{mb: mb}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true // loopback, no TLS
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mb.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return mb
}

// next is the next mail received, waiting at most 10 s.
func (mb *mailbox) next(t *testing.T) delivered {
	t.Helper()
	select {
	case d := <-mb.got:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("no mail arrived")
	}
	return delivered{}
}

var mailLinkRE = regexp.MustCompile(`http://[^\s]+/setup/ghsetup_[A-Za-z0-9_-]+`)

func TestInviteByMail(t *testing.T) {
	t.Parallel()
	mb := startMailbox(t)
	s := newListeningSite(t, func(c *config.Config, _ string) {
		c.SMTPURL = "smtp://" + mb.user + ":" + mb.pass + "@" + mb.addr
		c.SMTPFrom = "Gatehouse <gatehouse@example.com>"
	})
	c := jarClient()
	res, err := c.PostForm(s.url+s.setup, url.Values{"password": {"correct horse battery"}, "confirm": {"correct horse battery"}})
	if err != nil || res.StatusCode != 303 {
		t.Fatalf("setup: %v %v", res, err)
	}
	admin := s.member(t, "admin@example.com", "correct horse battery")

	// Adding a member mails them their link; the page says so and does not
	// show it.
	st, body := admin.page("/members", url.Values{"email": {"newbie@example.com"}, "name": {"Newbie"}, "role": {"viewer"}})
	if st != 200 || !strings.Contains(body, "Invitation mailed to newbie@example.com") || strings.Contains(body, "/setup/ghsetup_") {
		t.Fatalf("add: %d %s", st, alertOf(body))
	}
	if !strings.Contains(body, "Mail invite") {
		t.Error("the members page offers no Mail invite button")
	}
	m := mb.next(t)
	if m.from != "gatehouse@example.com" || len(m.to) != 1 || m.to[0] != "newbie@example.com" ||
		!strings.Contains(m.data, "Subject: Your invitation to My Organization on Gatehouse") || !strings.Contains(m.data, "From: \"Gatehouse\" <gatehouse@example.com>") {
		t.Fatalf("the mail: from %s to %v\n%s", m.from, m.to, m.data)
	}
	link := mailLinkRE.FindString(m.data)
	if !strings.HasPrefix(link, s.url+"/setup/") {
		t.Fatalf("no setup link at the public URL in the mail:\n%s", m.data)
	}
	// The link in the mail completes the setup and signs them in.
	nb := jarClient()
	res, page := get(t, nb, link)
	if res.StatusCode != 200 || !strings.Contains(page, "newbie@example.com") {
		t.Fatalf("the link: %d", res.StatusCode)
	}
	res, err = nb.PostForm(link, url.Values{"password": {"newbie passphrase"}, "confirm": {"newbie passphrase"}})
	if err != nil || res.StatusCode != 303 {
		t.Fatalf("set the password: %v %v", res, err)
	}
	if !signedIn(t, nb, s) {
		t.Fatal("not signed in after the setup")
	}

	// Mail invite sends a new link (the first one stops working).
	_, list := admin.get("/members")
	id := regexp.MustCompile(`/members/([0-9a-f-]{36})/invite`).FindStringSubmatch(list)
	if id == nil {
		t.Fatal("no Mail invite form")
	}
	st, body = admin.page("/members/"+id[1]+"/invite", nil)
	if st != 200 || !strings.Contains(body, "Invitation mailed to") {
		t.Fatalf("mail invite: %d %s", st, alertOf(body))
	}
	if again := mailLinkRE.FindString(mb.next(t).data); again == "" || again == link {
		t.Fatalf("a new link: %q", again)
	}

	// Only who may make setup links may mail them, and only for their own
	// organization's members.
	viewer := s.member(t, "newbie@example.com", "newbie passphrase")
	if st, _ := viewer.page("/members/"+id[1]+"/invite", nil); st != 403 {
		t.Errorf("a Viewer mails an invite: %d", st)
	}
	b, _, _, err := s.a.CreateOrganization(t.Context(), "Other Org", "other", "other@example.com", "Other", "")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.a.Tenancy.NewSetupToken(t.Context(), b.Admin, "")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := jarClient().PostForm(s.url+"/setup/"+tok, url.Values{"password": {"other passphrase"}, "confirm": {"other passphrase"}}); err != nil || res.StatusCode != 303 {
		t.Fatalf("other setup: %v %v", res, err)
	}
	other := s.member(t, "other@example.com", "other passphrase")
	if st, _ := other.page("/members/"+id[1]+"/invite", nil); st != 404 {
		t.Errorf("another organization's Admin mails an invite: %d", st)
	}
	if len(mb.got) != 0 {
		t.Fatal("a refused invite was mailed")
	}

	// A refused mail: the page says why and shows the link instead.
	st, body = admin.page("/members", url.Values{"email": {"refuse@example.com"}, "role": {"viewer"}})
	if st != 200 || !strings.Contains(body, "could not be sent") || !strings.Contains(body, "no such mailbox") || !strings.Contains(body, s.url+"/setup/ghsetup_") {
		t.Fatalf("a refused mail: %d %s", st, alertOf(body))
	}
	shown := mailLinkRE.FindString(body)
	if res, _ := get(t, jarClient(), shown); res.StatusCode != 200 {
		t.Fatalf("the link shown instead: %d", res.StatusCode)
	}

	// Neither the mail server's password nor a link is in the log.
	logs := s.log.String()
	if strings.Contains(logs, mb.pass) || strings.Contains(logs, "ghsetup_") {
		t.Fatalf("the log holds a secret:\n%s", logs)
	}
	if !strings.Contains(logs, "invitation mail") {
		t.Fatal("the failed mail is not logged")
	}
}

// A mail server that refuses the credentials: the inviter gets the link
// and the reason, never a 500.
func TestInviteByMailWrongPassword(t *testing.T) {
	t.Parallel()
	mb := startMailbox(t)
	s := newListeningSite(t, func(c *config.Config, _ string) {
		c.SMTPURL = "smtp://" + mb.user + ":wrong-pass@" + mb.addr
		c.SMTPFrom = "gatehouse@example.com"
	})
	c := jarClient()
	if res, err := c.PostForm(s.url+s.setup, url.Values{"password": {"correct horse battery"}, "confirm": {"correct horse battery"}}); err != nil || res.StatusCode != 303 {
		t.Fatalf("setup: %v %v", res, err)
	}
	admin := s.member(t, "admin@example.com", "correct horse battery")
	st, body := admin.page("/members", url.Values{"email": {"x@example.com"}, "role": {"viewer"}})
	if st != 200 || !strings.Contains(body, "refused the user") || !strings.Contains(body, "/setup/ghsetup_") || strings.Contains(body, "wrong-pass") {
		t.Fatalf("%d %s", st, alertOf(body))
	}
	if strings.Contains(s.log.String(), "wrong-pass") {
		t.Fatal("the log holds the password")
	}
}

// invitingAdmin is a Gatehouse mailing through smtpURL, and its Admin
// signed in.
func invitingAdmin(t *testing.T, smtpURL string) (*oidcSite, *member) {
	t.Helper()
	s := newListeningSite(t, func(c *config.Config, _ string) {
		c.SMTPURL = smtpURL
		c.SMTPFrom = "gatehouse@example.com"
	})
	if res, err := jarClient().PostForm(s.url+s.setup, url.Values{"password": {"correct horse battery"}, "confirm": {"correct horse battery"}}); err != nil || res.StatusCode != 303 {
		t.Fatalf("setup: %v %v", res, err)
	}
	return s, s.member(t, "admin@example.com", "correct horse battery")
}

// A mail server that accepts the connection and never answers: the
// invitation gives up when its (short) timeout passes, says so and shows
// the link.
func TestInviteByMailServerHangs(t *testing.T) {
	t.Parallel()
	dashboard.SetInviteMailTimeout(t, 300*time.Millisecond)
	addr, _ := hangingListener(t)
	s, admin := invitingAdmin(t, "smtp://"+addr)
	start := time.Now()
	st, body := admin.page("/members", url.Values{"email": {"kim@example.com"}, "role": {"viewer"}})
	if st != 200 || !strings.Contains(body, "could not be sent") || !strings.Contains(body, "did not answer in time") || !strings.Contains(body, s.url+"/setup/ghsetup_") {
		t.Fatalf("%d %s", st, alertOf(body))
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("the page took %v with a 300 ms timeout", took)
	}
}

// Invitation mails are limited per recipient (and per organization): past
// the limit the link is shown instead, and nothing more is mailed.
func TestInviteByMailRateLimited(t *testing.T) {
	t.Parallel()
	mb := startMailbox(t)
	s, admin := invitingAdmin(t, "smtp://"+mb.user+":"+mb.pass+"@"+mb.addr)
	id := addMember(t, s, "kim@example.com")
	// A long organization name is cut in the subject.
	_, orgs := s.api(t, "GET", "/v1/organizations", s.key, nil)
	org := orgs["data"].([]any)[0].(map[string]any)["id"].(string)
	if st, out := s.api(t, "PATCH", "/v1/organizations/"+org, s.key, map[string]any{"name": strings.Repeat("N", 150)}); st != 200 {
		t.Fatalf("rename: %d %v", st, out)
	}
	for i := 0; i < 5; i++ {
		if st, body := admin.page("/members/"+id+"/invite", nil); st != 200 || !strings.Contains(body, "Invitation mailed to") {
			t.Fatalf("invite %d: %d %s", i, st, alertOf(body))
		}
		m := mb.next(t)
		subject := regexp.MustCompile(`(?m)^Subject: (.*)\r$`).FindStringSubmatch(m.data)
		if subject == nil {
			t.Fatalf("no subject:\n%s", m.data)
		}
		got, err := new(mime.WordDecoder).DecodeHeader(subject[1])
		if err != nil || got != "Your invitation to "+strings.Repeat("N", 59)+"… on Gatehouse" {
			t.Fatalf("subject %q %v", got, err)
		}
	}
	st, body := admin.page("/members/"+id+"/invite", nil)
	if st != 200 || !strings.Contains(body, "No invitation mailed: kim@example.com was sent 5 in the last hour") || !strings.Contains(body, s.url+"/setup/ghsetup_") {
		t.Fatalf("the sixth: %d %s", st, alertOf(body))
	}
	if len(mb.got) != 0 {
		t.Fatal("the sixth was mailed")
	}
}

// A member allowed to make setup links but not to see members: the
// failed lookup leaves the member's link working.
func TestInviteByMailLookupFirst(t *testing.T) {
	t.Parallel()
	mb := startMailbox(t)
	s, _ := invitingAdmin(t, "smtp://"+mb.user+":"+mb.pass+"@"+mb.addr)
	if st, out := s.api(t, "POST", "/v1/member-roles", s.key, map[string]any{"key": "linker", "name": "Linker", "scopes": []string{"manage:member"}}); st != 201 {
		t.Fatalf("role: %d %v", st, out)
	}
	st, out := s.api(t, "POST", "/v1/members", s.key, map[string]any{"email": "linker@example.com", "role": "linker"})
	if st != 201 {
		t.Fatalf("linker: %d %v", st, out)
	}
	_, link := s.api(t, "POST", "/v1/members/"+out["data"].(map[string]any)["id"].(string)+"/setup-link", s.key, nil)
	linker := s.memberWithLink(t, link["data"].(map[string]any)["path"].(string), "linker@example.com", "linker passphrase")

	// Kim holds no scope the linker lacks: the linker may make their link.
	st, out = s.api(t, "POST", "/v1/members", s.key, map[string]any{"email": "kim@example.com", "role": "linker"})
	if st != 201 {
		t.Fatalf("kim: %d %v", st, out)
	}
	kim := out["data"].(map[string]any)["id"].(string)
	_, link = s.api(t, "POST", "/v1/members/"+kim+"/setup-link", s.key, nil)
	path := link["data"].(map[string]any)["path"].(string)
	if st, body := linker.page("/members/"+kim+"/invite", nil); st != 403 {
		t.Fatalf("the linker's invite: %d %s", st, alertOf(body))
	}
	if res, _ := get(t, jarClient(), s.url+path); res.StatusCode != 200 {
		t.Fatalf("kim's link after the failed invite: %d", res.StatusCode)
	}
	if len(mb.got) != 0 {
		t.Fatal("mailed")
	}
}
