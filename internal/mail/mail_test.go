package mail

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// inbox is a real SMTP server (go-smtp) on loopback, over TLS from the
// start (smtps://), that keeps what it receives.
type inbox struct{ got chan string }

type session struct{ in *inbox }

func (s *session) Mail(string, *smtp.MailOptions) error { return nil }
func (s *session) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	s.in.got <- string(b)
	return err
}
func (s *session) Reset()        {}
func (s *session) Logout() error { return nil }

// selfSigned is a certificate for 127.0.0.1 and the pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mail.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func TestSendOverTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	in := &inbox{got: make(chan string, 1)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{in: in}, nil }))
	srv.Domain = "mail.test"
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })

	s, err := NewSender("smtps://"+ln.Addr().String(), "Gatehouse <gh@example.com>")
	if err != nil {
		t.Fatal(err)
	}
	if !s.Server.TLS {
		t.Fatal("smtps:// is not TLS")
	}
	// A certificate nobody vouches for is refused.
	if err := s.Send(t.Context(), Message{To: "a@example.com", Subject: "x", Body: "x"}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("an untrusted certificate: %v", err)
	}
	s.TLSConfig = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	// A line break in the subject stays in the subject.
	if err := s.Send(t.Context(), Message{To: "ada@example.com", Subject: "Hello\r\nBcc: evil@example.com", Body: "line one\nline two"}); err != nil {
		t.Fatal(err)
	}
	var got string
	select {
	case got = <-in.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no mail arrived")
	}
	if strings.Contains(got, "\r\nBcc:") || !strings.Contains(got, "To: <ada@example.com>\r\n") || !strings.Contains(got, "\r\n\r\nline one\r\nline two\r\n") {
		t.Fatalf("the message:\n%q", got)
	}
}

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		raw, addr, user, pass string
		tls                   bool
		bad                   bool
	}{
		{raw: "smtp://mx.example.com", addr: "mx.example.com:587"},
		{raw: "smtps://u:p%40ss@mx.example.com", addr: "mx.example.com:465", user: "u", pass: "p@ss", tls: true},
		{raw: "smtp://u:p@127.0.0.1:2525", addr: "127.0.0.1:2525", user: "u", pass: "p"},
		{raw: "smtp://[::1]:25", addr: "[::1]:25"},
		{raw: "http://mx.example.com", bad: true},
		{raw: "smtp://u:secret@mx.example.com/path", bad: true},
		{raw: "smtp://u:secret@", bad: true},
		{raw: "smtp://u:secret@mx.example.com?x=1", bad: true},
	} {
		s, err := ParseURL(tc.raw)
		if tc.bad {
			if err == nil || strings.Contains(err.Error(), "secret") {
				t.Errorf("%s: %v", tc.raw, err)
			}
			continue
		}
		if err != nil || s.Addr != tc.addr || s.Username != tc.user || s.Password != tc.pass || s.TLS != tc.tls {
			t.Errorf("%s: %+v %v", tc.raw, s, err)
		}
	}
	if r := Redacted("smtp://u:secret@mx.example.com"); strings.Contains(r, "secret") {
		t.Errorf("redacted: %s", r)
	}
}

// A mail server that accepts the connection and never says a word (in
// plain SMTP and over TLS): Send gives up when its timeout passes, saying
// so, rather than when go-smtp's own deadlines (minutes) do.
func TestSendToAServerThatHangs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		close(conns)
		for c := range conns {
			c.Close()
		}
	})
	for _, tls := range []bool{false, true} {
		s := &Sender{Server: &Server{Addr: ln.Addr().String(), TLS: tls}, From: &mail.Address{Address: "gatehouse@example.com"}, Timeout: 300 * time.Millisecond}
		start := time.Now()
		err := s.Send(t.Context(), Message{To: "kim@example.com", Subject: "hi", Body: "hello"})
		if err == nil || !strings.Contains(err.Error(), "did not answer in time (300ms)") || time.Since(start) > 5*time.Second {
			t.Fatalf("TLS %v: %v after %v", tls, err, time.Since(start))
		}
	}
}
