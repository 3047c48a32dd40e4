package cli_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/cli"
	"github.com/gatehouse-dev/gatehouse/internal/testserver"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

func writeMode(t *testing.T, name, text string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return p
}

// TestConfigFilePrecedence: a --config file sets what neither a flag nor
// the environment set (flag > environment > file > default), one file
// serves every server command, and it may come from GATEHOUSE_SERVER_CONFIG.
func TestConfigFilePrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := writeMode(t, "gatehouse.yaml", `# one file for serve, init, migrate
data-dir: `+dir+`
public-url: https://file.example.com
log-level: warn
job-timeout: 90s
cors-origins:
  - https://a.example.com
tls-cert: ""
region: eu
region-urls:
  eu: https://eu.file.example.com
`, 0o644)
	setupURL := func(out string) string {
		var res struct {
			AdminSetupURL string `json:"admin_setup_url"`
			APIKey        string `json:"api_key"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return res.AdminSetupURL
	}
	// the file alone: init writes into its data-dir and links to its public-url
	out, err := run(t, nil, "init", "--output", "json", "--config", conf)
	if err != nil {
		t.Fatalf("init --config: %v\n%s", err, out)
	}
	if got := setupURL(out); !strings.HasPrefix(got, "https://file.example.com/setup/") {
		t.Errorf("file: admin_setup_url %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "gatehouse.db")); err != nil {
		t.Errorf("init did not use the file's data-dir: %v", err)
	}
	// the environment outranks the file; the file named by GATEHOUSE_SERVER_CONFIG
	env := map[string]string{"GATEHOUSE_SERVER_CONFIG": conf, "GATEHOUSE_PUBLIC_URL": "https://env.example.com"}
	out, err = run(t, env, "init", "--output", "json", "--data-dir", t.TempDir())
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	if got := setupURL(out); !strings.HasPrefix(got, "https://env.example.com/setup/") {
		t.Errorf("environment over file: admin_setup_url %q", got)
	}
	// a flag outranks both
	out, err = run(t, env, "init", "--output", "json", "--data-dir", t.TempDir(), "--public-url", "https://flag.example.com")
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	if got := setupURL(out); !strings.HasPrefix(got, "https://flag.example.com/setup/") {
		t.Errorf("flag over environment and file: admin_setup_url %q", got)
	}
	// serve takes its own settings (addr) from the same file
	addr := freeAddr(t)
	serveConf := writeMode(t, "serve.yaml", "addr: "+addr+"\ndata-dir: "+dir+"\nauto-init: false\nregion: eu\n", 0o600)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(ctx, []string{"serve", "--config", serveConf}, func(string) string { return "" }, strings.NewReader(""), io.Discard, io.Discard)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	testwait.Until(t, 60*time.Second, "serve on the file's addr", func() bool {
		res, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
}

func TestConfigFileErrors(t *testing.T) {
	t.Parallel()
	secret, err := run(t, nil, "secret-key", "generate")
	if err != nil {
		t.Fatal(err)
	}
	secret = strings.TrimSpace(secret)
	for _, tc := range []struct {
		name string
		args []string
		text string
		mode os.FileMode
		want string
	}{
		{"unknown key", []string{"migrate"}, "log-level: info\nlisten: 0.0.0.0:80\n", 0o600, `gatehouse.yaml:2: unknown key "listen"`},
		{"wrong type", []string{"serve"}, "\nmax-body-bytes: lots\n", 0o600, `gatehouse.yaml:2: max-body-bytes "lots": want a whole number`},
		{"bool", []string{"serve"}, "auto-init: maybe\n", 0o600, `gatehouse.yaml:1: auto-init "maybe": want true or false`},
		{"a map for a value", []string{"serve"}, "addr:\n  host: x\n", 0o600, `gatehouse.yaml:1: addr: want a single value or a list, not a mapping`},
		{"a list for a value", []string{"serve"}, "addr: [127.0.0.1:1, 127.0.0.1:2]\n", 0o600, `gatehouse.yaml:1: addr: want a single value, not a list`},
		{"a list for another command's value", []string{"migrate"}, "region:\n  - eu\n  - us\n", 0o600, `gatehouse.yaml:1: region: want a single value, not a list`},
		{"a list through an alias", []string{"serve"}, "webhook-retry-schedule: &s [1s, 2s]\naddr: *s\n", 0o600, `gatehouse.yaml:2: addr: want a single value, not a list`},
		{"a second document", []string{"migrate"}, "log-level: info\n---\ndatabase-url: postgres://gh:pw@127.0.0.1:1/gh\n", 0o644,
			`gatehouse.yaml:2: a second YAML document (after ---): put every setting in one document`},
		{"bad region", []string{"migrate"}, "region: Europe\n", 0o600, `region "Europe": want a short name`},
		{"world-readable secret", []string{"migrate"}, "secret-key: " + secret + "\n", 0o644,
			"holds credentials (secret-key) but its mode 0644 lets every user of the machine read or change it: run chmod 600"},
		{"password in a readable file", []string{"migrate"}, "database-url: postgres://gh:pw@127.0.0.1:1/gh\n", 0o604, "holds credentials (database-url)"},
		{"pdp unknown key", []string{"pdp"}, "api-url: http://127.0.0.1:1\ndatabase-url: postgres://x\n", 0o600, `gatehouse.yaml:2: unknown key "database-url"`},
		{"pdp key readable", []string{"pdp"}, "api-url: http://127.0.0.1:1\nkey: " + orgKey + "\n", 0o666, "holds credentials (key)"},
		{"pdp duration", []string{"pdp"}, "revoked-grace: forever\n", 0o600, `revoked-grace "forever": want a duration`},
		{"missing file", []string{"serve"}, "", 0, "config file: open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conf := filepath.Join(t.TempDir(), "gatehouse.yaml")
			if tc.mode != 0 {
				conf = writeMode(t, "gatehouse.yaml", tc.text, tc.mode)
			}
			args := append(append([]string{}, tc.args...), "--config", conf)
			if tc.args[0] != "pdp" {
				args = append(args, "--data-dir", t.TempDir())
			}
			_, err := run(t, nil, args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	// a private file may hold the secret key: migrate uses it (no secret.key is made)
	dir := t.TempDir()
	conf := writeMode(t, "gatehouse.yaml", "secret-key: "+secret+"\n", 0o600)
	if out, err := run(t, nil, "migrate", "--config", conf, "--data-dir", dir); err != nil {
		t.Fatalf("migrate with the secret key in a private file: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "secret.key")); !os.IsNotExist(err) {
		t.Errorf("the file's secret-key was not used: secret.key exists (%v)", err)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their files and a pool trusting the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gatehouse test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	certFile = writeMode(t, "cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), 0o644)
	keyFile = writeMode(t, "key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})), 0o600)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// ci: race
// TestTLS: --tls-cert/--tls-key serve HTTPS on the public listener and the
// PDP's; an https client trusting the certificate gets through, a plain
// HTTP one does not; bad files stop the start naming them.
func TestTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}

	srv := testserver.Start(t)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var logs syncBuffer
	go func() {
		done <- cli.Run(ctx, []string{"serve", "--addr", addr, "--data-dir", t.TempDir(), "--tls-cert", certFile, "--tls-key", keyFile},
			func(string) string { return "" }, strings.NewReader(""), io.Discard, &logs)
	}()
	pdpAddr := freeAddr(t)
	// the PDP's settings from a file, its key among them (the file is private)
	pdpConf := writeMode(t, "pdp.yaml", "api-url: "+srv.URL+"\nkey: "+srv.EnvKey+"\naddr: "+pdpAddr+"\nsnapshot-dir: "+t.TempDir()+
		"\ntls-cert: "+certFile+"\ntls-key: "+keyFile+"\n", 0o600)
	pdpDone := make(chan error, 1)
	go func() {
		pdpDone <- cli.Run(ctx, []string{"pdp", "--config", pdpConf}, func(string) string { return "" }, strings.NewReader(""), io.Discard, &logs)
	}()
	defer func() {
		cancel()
		for _, d := range []chan error{done, pdpDone} {
			if err := <-d; err != nil {
				t.Errorf("run: %v", err)
			}
		}
	}()
	for _, base := range []string{"https://" + addr, "https://" + pdpAddr} {
		testwait.Until(t, 120*time.Second, base+"/healthz over TLS", func() bool {
			res, err := client.Get(base + "/healthz")
			if err != nil {
				t.Logf("%s: %v", base, err)
				return false
			}
			res.Body.Close()
			return res.StatusCode == http.StatusOK
		})
		if res, err := http.Get(base + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				t.Errorf("%s answered plain HTTP", base)
			}
		}
		if res, err := http.DefaultClient.Get(base + "/healthz"); err == nil { // the system roots do not trust it
			res.Body.Close()
			t.Errorf("%s: a client not trusting the certificate got through", base)
		}
	}
	if !strings.Contains(logs.String(), "url=https://") {
		t.Errorf("the start-up log does not show the https URL:\n%s", logs.String())
	}

	_, otherKey, _ := selfSigned(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--tls-cert", certFile}, "tls-cert and tls-key go together"},
		{[]string{"serve", "--tls-cert", "/nonexistent/cert.pem", "--tls-key", keyFile}, "tls: cannot use --tls-cert /nonexistent/cert.pem with --tls-key"},
		{[]string{"serve", "--tls-cert", certFile, "--tls-key", otherKey}, "private key does not match public key"},
		{[]string{"pdp", "--key", "x", "--api-url", "http://127.0.0.1:1", "--tls-cert", keyFile, "--tls-key", keyFile}, "tls: cannot use --tls-cert"},
	} {
		args := tc.args
		if args[0] == "serve" {
			args = append(args, "--addr", freeAddr(t), "--data-dir", t.TempDir())
		}
		if _, err := run(t, nil, args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args, err, tc.want)
		}
	}
}
