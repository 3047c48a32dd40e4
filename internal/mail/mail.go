// Package mail sends Gatehouse's few emails (a new member's invitation)
// through the SMTP server of --smtp-url.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Server is a parsed --smtp-url.
type Server struct {
	// Addr is host:port.
	Addr string
	// TLS: smtps:// (TLS from the start). Otherwise STARTTLS is required,
	// except on a loopback address (a relay on the same machine), which is
	// spoken to in plain SMTP.
	TLS                bool
	Username, Password string
}

// ParseURL reads smtp://[user[:password]@]host[:port] (port 587 by
// default, STARTTLS) or smtps://… (port 465, TLS). Its errors never hold
// the password.
func ParseURL(raw string) (*Server, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("want smtp://user:password@host:port or smtps://user:password@host:port")
	}
	s := &Server{}
	port := "587"
	switch u.Scheme {
	case "smtp":
	case "smtps":
		s.TLS, port = true, "465"
	default:
		return nil, errors.New("the scheme must be smtp:// (STARTTLS) or smtps:// (TLS)")
	}
	if u.Hostname() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("want smtp://user:password@host:port or smtps://user:password@host:port, without path or query")
	}
	if p := u.Port(); p != "" {
		port = p
	}
	s.Addr = net.JoinHostPort(u.Hostname(), port)
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	return s, nil
}

// Redacted is raw with its password replaced, for messages.
func Redacted(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an unreadable URL)"
	}
	return u.Redacted()
}

// loopback reports whether host is a loopback address (or localhost).
func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Sender sends mail from From through Server.
type Sender struct {
	Server *Server
	From   *mail.Address
	// Timeout bounds one message's delivery to the server (0: 20 s).
	Timeout time.Duration
	// TLSConfig is the TLS configuration (nil: the system's roots, the
	// server's host name).
	TLSConfig *tls.Config
}

// NewSender returns a Sender for --smtp-url raw and --smtp-from from.
func NewSender(raw, from string) (*Sender, error) {
	s, err := ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("smtp-url: %w", err)
	}
	f, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("smtp-from %q: want an address such as gatehouse@example.com or \"Gatehouse <gatehouse@example.com>\"", from)
	}
	return &Sender{Server: s, From: f}, nil
}

// Message is one plain-text email to one address.
type Message struct {
	To, Subject, Body string
}

// Send delivers m to the server. Its errors hold neither the password nor
// the message's body.
func (s *Sender) Send(ctx context.Context, m Message) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	err := s.send(ctx, m)
	if err != nil && ctx.Err() != nil {
		// go-smtp sets its own deadlines (minutes) on every command: the
		// connection is closed when ctx ends, and this says why.
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fmt.Errorf("the mail server %s did not answer in time (%s)", s.Server.Addr, s.timeout())
		}
		return fmt.Errorf("sending to the mail server %s was cancelled", s.Server.Addr)
	}
	return err
}

func (s *Sender) timeout() time.Duration {
	if s.Timeout <= 0 {
		return 20 * time.Second
	}
	return s.Timeout
}

func (s *Sender) send(ctx context.Context, m Message) error {
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("the address %q is not valid", m.To)
	}
	host, _, _ := net.SplitHostPort(s.Server.Addr)
	tlsc := s.TLSConfig
	if tlsc == nil {
		tlsc = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	d := &net.Dialer{}
	conn, err := d.DialContext(ctx, "tcp", s.Server.Addr)
	if err != nil {
		return fmt.Errorf("connect to the mail server %s: %w", s.Server.Addr, err)
	}
	defer context.AfterFunc(ctx, func() { conn.Close() })()
	var c *smtp.Client
	switch {
	case s.Server.TLS:
		c = smtp.NewClient(tls.Client(conn, tlsc))
	case loopback(host):
		// A relay on this machine: plain SMTP, no STARTTLS to ask for.
		c = smtp.NewClient(conn)
	default:
		if c, err = smtp.NewClientStartTLS(conn, tlsc); err != nil {
			conn.Close()
			return fmt.Errorf("mail server %s: STARTTLS (required; smtps:// for TLS from the start): %w", s.Server.Addr, err)
		}
	}
	defer c.Close()
	if s.Server.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("mail server %s does not accept AUTH, yet --smtp-url has a user", s.Server.Addr)
		}
		if err := c.Auth(sasl.NewPlainClient("", s.Server.Username, s.Server.Password)); err != nil {
			return fmt.Errorf("mail server %s refused the user %q: %w", s.Server.Addr, s.Server.Username, err)
		}
	}
	if err := c.SendMail(s.From.Address, []string{to.Address}, bytes.NewReader(s.compose(to, m))); err != nil {
		return fmt.Errorf("mail server %s: %w", s.Server.Addr, err)
	}
	return c.Quit()
}

// compose is m as an RFC 5322 message: UTF-8 text, CRLF lines, the
// subject encoded (a header never takes a line break from input).
func (s *Sender) compose(to *mail.Address, m Message) []byte {
	var b bytes.Buffer
	oneLine := func(v string) string { return strings.Join(strings.Fields(v), " ") }
	var id [12]byte
	_, _ = rand.Read(id[:])
	domain := "gatehouse.invalid"
	if _, d, ok := strings.Cut(s.From.Address, "@"); ok {
		domain = d
	}
	fmt.Fprintf(&b, "From: %s\r\n", s.From.String())
	fmt.Fprintf(&b, "To: %s\r\n", to.String())
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", oneLine(m.Subject)))
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", hex.EncodeToString(id[:]), domain)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n\r\n")
	body := strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n")
	b.WriteString(body)
	if !strings.HasSuffix(body, "\r\n") {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}
