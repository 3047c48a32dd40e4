package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/cli"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/testserver"
)

// After a scenario that makes every kind of
// credential and one-time secret (API key tokens: created, rotated,
// retried with an Idempotency-Key; webhook secrets: created, rotated; setup
// links; passwords; a session), neither a dump of the database (the SQLite
// files, or pg_dump) nor the server's stdout and stderr (at debug level)
// contains any of them.
func TestNoSecretInDumpsOrLogs(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			args := []string{"--data-dir", dir}
			dbURL := ""
			if engine == "postgres" {
				testserver.Need(t, "pg_dump")
				dbURL = pgtest.NewDatabase(t)
				keyFile := filepath.Join(t.TempDir(), "secret.key")
				if err := os.WriteFile(keyFile, []byte(pgtest.SecretKey), 0o600); err != nil {
					t.Fatal(err)
				}
				args = []string{"--database-url", dbURL, "--secret-key-file", keyFile}
			}
			out, err := run(t, nil, append([]string{"init", "--output", "json"}, args...)...)
			if err != nil {
				t.Fatalf("init: %v\n%s", err, out)
			}
			var init struct {
				APIKey        string `json:"api_key"`
				AdminSetupURL string `json:"admin_setup_url"`
				AdminEmail    string `json:"admin_email"`
			}
			if err := json.Unmarshal([]byte(out), &init); err != nil {
				t.Fatal(err)
			}

			addr := freeAddr(t)
			var stdout, stderr syncBuffer
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- cli.Run(ctx, append([]string{"serve", "--addr", addr, "--log-level", "debug"}, args...), func(string) string { return "" },
					strings.NewReader(""), &stdout, &stderr)
			}()
			base := "http://" + addr
			testserver.Eventually(t, "the server answers", 20*time.Second, func() bool {
				res, err := http.Get(base + "/healthz")
				if err != nil {
					return false
				}
				res.Body.Close()
				return res.StatusCode == 200
			})
			call := func(method, path, body string, header map[string]string) map[string]any {
				t.Helper()
				req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+init.APIKey)
				req.Header.Set("Content-Type", "application/json")
				for k, v := range header {
					req.Header.Set(k, v)
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				var b struct {
					Data map[string]any `json:"data"`
				}
				raw, _ := io.ReadAll(res.Body)
				if res.StatusCode >= 300 {
					t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, raw)
				}
				_ = json.Unmarshal(raw, &b)
				return b.Data
			}
			secrets := map[string]string{"init key": init.APIKey, "admin setup link": strings.TrimPrefix(init.AdminSetupURL, "http://"+"127.0.0.1:8080")}
			k := call("POST", "/v1/api-keys", `{"name":"ci","level":"organization","scopes":["view:project"]}`, nil)
			secrets["new key"] = k["token"].(string)
			secrets["rotated key"] = call("POST", "/v1/api-keys/"+k["id"].(string)+"/rotate", `{"grace_period_seconds":60}`, nil)["token"].(string)
			secrets["retried key"] = call("POST", "/v1/api-keys", `{"name":"retry","level":"organization","scopes":["view:project"]}`, map[string]string{"Idempotency-Key": "dump-1"})["token"].(string)
			call("POST", "/v1/api-keys", `{"name":"retry","level":"organization","scopes":["view:project"]}`, map[string]string{"Idempotency-Key": "dump-1"})
			wh := call("POST", "/v1/webhooks", `{"url":"https://hooks.example/in","events":["*"]}`, nil)
			secrets["webhook secret"] = wh["secret"].(string)
			secrets["rotated webhook secret"] = call("POST", "/v1/webhooks/"+wh["id"].(string)+"/rotate-secret", `{}`, nil)["secret"].(string)
			m := call("POST", "/v1/members", `{"email":"dev@acme.example","role":"developer"}`, nil)
			link := call("POST", "/v1/members/"+m["id"].(string)+"/setup-link", "", nil)["path"].(string)
			secrets["member setup link"] = link

			// Both setup links are used: passwords chosen, a session opened.
			jar, _ := cookiejar.New(nil)
			browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			for path, pw := range map[string]string{secrets["admin setup link"]: "admin pass phrase 1", link: "member pass phrase 2"} {
				res, err := browser.PostForm(base+path, url.Values{"password": {pw}, "confirm": {pw}})
				if err != nil || res.StatusCode != 303 {
					t.Fatalf("setup %s: %v %v", path, res, err)
				}
				res.Body.Close()
			}
			secrets["admin password"], secrets["member password"] = "admin pass phrase 1", "member pass phrase 2"
			res, err := browser.PostForm(base+"/signin", url.Values{"email": {"dev@acme.example"}, "password": {"member pass phrase 2"}})
			if err != nil || res.StatusCode != 303 {
				t.Fatalf("sign in: %v %v", res, err)
			}
			res.Body.Close()
			u, _ := url.Parse(base)
			for _, c := range jar.Cookies(u) {
				if c.Name == "gatehouse_session" {
					secrets["session"] = c.Value
				}
			}
			if secrets["session"] == "" {
				t.Fatal("no session cookie")
			}
			// Every part of each secret that could identify it.
			for name, v := range secrets {
				if rest, ok := strings.CutPrefix(v, "whsec_"); ok {
					secrets[name+" (body)"] = rest
				}
				if rest, ok := strings.CutPrefix(v, "/setup/"); ok {
					secrets[name+" (token)"] = rest
				}
			}

			cancel() // a graceful stop: every log entry written
			if err := <-done; err != nil {
				t.Fatalf("serve: %v", err)
			}

			var dump []byte
			if engine == "sqlite" {
				entries, _ := os.ReadDir(dir)
				for _, e := range entries {
					if strings.HasPrefix(e.Name(), "gatehouse.db") || strings.HasPrefix(e.Name(), "logs.db") {
						b, err := os.ReadFile(filepath.Join(dir, e.Name()))
						if err != nil {
							t.Fatal(err)
						}
						dump = append(dump, b...)
					}
				}
			} else {
				cmd := exec.Command("pg_dump", "--no-owner", dbURL)
				var errb bytes.Buffer
				cmd.Stderr = &errb
				if dump, err = cmd.Output(); err != nil {
					t.Fatalf("pg_dump: %v\n%s", err, errb.String())
				}
			}
			if len(dump) < 10000 || !bytes.Contains(dump, []byte("dev@acme.example")) {
				t.Fatalf("the dump (%d bytes) does not hold the scenario's data", len(dump))
			}
			logs := stdout.String() + stderr.String()
			if !strings.Contains(logs, "request") {
				t.Fatalf("the server logged nothing at debug level:\n%s", logs)
			}
			for name, v := range secrets {
				if len(v) < 12 {
					t.Fatalf("%s is too short to look for: %q", name, v)
				}
				if bytes.Contains(dump, []byte(v)) {
					t.Errorf("the database dump holds the %s", name)
				}
				if strings.Contains(logs, v) {
					t.Errorf("the server's output holds the %s", name)
				}
			}
		})
	}
}
