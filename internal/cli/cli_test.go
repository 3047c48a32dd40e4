package cli_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/cli"
	"github.com/gatehouse-dev/gatehouse/internal/pgtest"
	"github.com/gatehouse-dev/gatehouse/internal/testserver"
	"github.com/gatehouse-dev/gatehouse/internal/testwait"
)

// syncBuffer is a bytes.Buffer safe to read while the server writes.
type syncBuffer = testserver.SyncBuffer

func run(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out syncBuffer
	err := cli.Run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(""), &out, io.Discard)
	return out.String(), err
}

func freeAddr(t *testing.T) string { return testserver.FreeAddr(t) }

type initOut struct {
	Created        bool              `json:"created"`
	OrganizationID string            `json:"organization_id"`
	APIKey         string            `json:"api_key"`
	Environments   map[string]string `json:"environments"`
	Scopes         []string          `json:"scopes"`
}

// serve runs `gatehouse serve` in-process until the test ends and waits for
// /healthz.
func serve(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out syncBuffer
	go func() {
		done <- cli.Run(ctx, append([]string{"serve", "--addr", addr}, args...), func(k string) string { return env[k] }, strings.NewReader(""), &out, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v", err)
		}
	})
	base := "http://" + addr
	testwait.Until(t, 60*time.Second, base+"/healthz answering 200", func() bool {
		select {
		case err := <-done:
			done <- err // for the cleanup, which waits for it
			t.Fatalf("serve exited early: %v\n%s", err, out.String())
		default:
		}
		res, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	return base
}

func get(t *testing.T, url, key, org string) (int, map[string]any) {
	t.Helper()
	r, _ := http.NewRequest("GET", url, nil)
	r.Header.Set("Authorization", "Bearer "+key)
	if org != "" {
		r.Header.Set("X-Organization-Id", org)
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(res.Body).Decode(&body)
	return res.StatusCode, body
}

// TestNewcomerPath follows the README: init prints a key, serve starts on the
// embedded default, and the key lists projects.
func TestNewcomerPath(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			dataArg := []string{"--data-dir", t.TempDir()}
			if engine == "postgres" {
				// PostgreSQL takes the secret key from a file all nodes share.
				key, err := run(t, nil, "secret-key", "generate")
				if err != nil {
					t.Fatal(err)
				}
				keyFile := filepath.Join(t.TempDir(), "secret.key")
				if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
					t.Fatal(err)
				}
				dataArg = []string{"--database-url", pgtest.NewDatabase(t), "--secret-key-file", keyFile}
			}
			out, err := run(t, nil, append([]string{"init", "--output", "json", "--org-name", "Acme"}, dataArg...)...)
			if err != nil {
				t.Fatalf("init: %v\n%s", err, out)
			}
			var first initOut
			if err := json.Unmarshal([]byte(out), &first); err != nil {
				t.Fatalf("init --output json printed %q: %v", out, err)
			}
			if !first.Created || first.APIKey == "" || first.Environments["development"] == "" || first.Environments["production"] == "" || len(first.Scopes) < 5 {
				t.Fatalf("init: %+v", first)
			}
			again, err := run(t, nil, append([]string{"init", "--output", "json"}, dataArg...)...)
			if err != nil {
				t.Fatal(err)
			}
			var second initOut
			_ = json.Unmarshal([]byte(again), &second)
			if second.Created || second.APIKey != "" || second.OrganizationID != first.OrganizationID {
				t.Fatalf("second init is not idempotent: %s", again)
			}

			base := serve(t, nil, dataArg...)
			status, body := get(t, base+"/v1/projects", first.APIKey, first.OrganizationID)
			if status != 200 || body["status"] != "success" {
				t.Fatalf("GET /v1/projects: %d %v", status, body)
			}
			if items := body["data"].([]any); len(items) != 1 || items[0].(map[string]any)["key"] != "default" {
				t.Fatalf("projects: %v", items)
			}
			if status, _ := get(t, base+"/v1/projects", first.APIKey, "someone-else"); status != 403 {
				t.Fatalf("mismatched organization header: %d", status)
			}
		})
	}
}

// ci: race
// TestServeInitializesAnEmptyDatabase: serve on an empty data folder creates
// the first organization and prints its key.
func TestServeInitializesAnEmptyDatabase(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(ctx, []string{"serve", "--addr", addr}, func(k string) string {
			return map[string]string{"GATEHOUSE_DATA_DIR": dir}[k]
		}, strings.NewReader(""), &out, io.Discard)
	}()
	testwait.Until(t, 60*time.Second, "serve printing the first key", func() bool { return strings.Contains(out.String(), "Try it") })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if !strings.Contains(text, "Organization API key (shown once") || !strings.Contains(text, "http://"+addr+"/v1/projects") {
		t.Fatalf("serve did not print the first key:\n%s", text)
	}
}

// ci: race
// TestServePortClashCreatesNothing: serve binds its port before it sets up
// an empty database, so a port clash loses no key: nothing was created, and
// the next run on a free port prints the key.
func TestServePortClashCreatesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := map[string]string{"GATEHOUSE_DATA_DIR": dir}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	out, err := run(t, env, "serve", "--addr", taken.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("serve on a taken port: %v\n%s", err, out)
	}
	if strings.Contains(out, "API key") || strings.Contains(out, "initialized") {
		t.Fatalf("serve printed a key it then lost with the port:\n%s", out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("serve on a taken port wrote %d files in the data folder", len(entries))
	}

	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	var second syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- cli.Run(ctx, []string{"serve", "--addr", addr}, func(k string) string { return env[k] }, strings.NewReader(""), &second, io.Discard)
	}()
	testwait.Until(t, 60*time.Second, "serve on a free port printing the first key", func() bool {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve exited early: %v\n%s", err, second.String())
		default:
		}
		return strings.Contains(second.String(), "Try it")
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(second.String(), "Organization API key (shown once") {
		t.Fatalf("the run after the clash did not print the key:\n%s", second.String())
	}
}

// keyFile writes content to a file of its own and names it.
func keyFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// orgKey has the shape of an organization key (the PDP reads the claims
// before anything is verified).
var orgKey = "eyJhbGciOiJFZERTQSJ9." + base64.RawURLEncoding.EncodeToString([]byte(`{"level":"organization","org_id":"o1"}`)) + ".c2ln"

func TestBadFlagsAndConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"bad database url", nil, []string{"migrate", "--database-url", "mysql://x"}, "database-url"},
		{"empty database pool", nil, []string{"migrate", "--database-max-conns", "0"}, "database-max-conns"},
		{"bad env", map[string]string{"GATEHOUSE_SHUTDOWN_TIMEOUT": "soon"}, []string{"version"}, "SHUTDOWN_TIMEOUT"},
		{"bad output", nil, []string{"init", "--output", "yaml", "--data-dir", "x"}, "--output"},
		{"unknown command", nil, []string{"fly"}, "unknown command"},
		{"pdp without a server", nil, []string{"pdp", "--key", orgKey}, "--api-url is required"},
		{"pdp without a key", map[string]string{"GATEHOUSE_API_URL": "http://127.0.0.1:1"}, []string{"pdp"}, "no API key: set GATEHOUSE_API_KEY or --key-file"},
		{"pdp with an organization key in a file", nil, []string{"pdp", "--api-url", "http://127.0.0.1:1", "--key-file", keyFile(t, orgKey+"\n")},
			`needs an environment-level API key, not a key of level "organization"`},
		{"pdp with a missing key file", nil, []string{"pdp", "--api-url", "http://127.0.0.1:1", "--key-file", "/nonexistent/key"}, "--key-file"},
		{"pdp with an empty key file", nil, []string{"pdp", "--api-url", "http://127.0.0.1:1", "--key-file", keyFile(t, " \n")}, "is empty"},
		{"pdp with two keys", nil, []string{"pdp", "--api-url", "http://127.0.0.1:1", "--key", orgKey, "--key-file", keyFile(t, orgKey)}, "give the key once"},
		{"pdp with an organization key", map[string]string{"GATEHOUSE_API_KEY": orgKey}, []string{"pdp", "--api-url", "http://127.0.0.1:1"},
			`needs an environment-level API key, not a key of level "organization"`},
		{"pdp with garbage", nil, []string{"pdp", "--api-url", "http://127.0.0.1:1", "--key", "nope"}, "not a Gatehouse API key"},
		{"pdp with a negative grace", nil, []string{"pdp", "--api-url", "http://127.0.0.1:1", "--key", "nope", "--revoked-grace", "-1s"}, "--revoked-grace"},
		{"pdp with a bad admin address", nil, []string{"pdp", "--api-url", "http://127.0.0.1:1", "--key", "nope", "--admin-addr", "nowhere"}, "--admin-addr"},
		{"pdp with a bad grace", map[string]string{"GATEHOUSE_PDP_REVOKED_GRACE": "soon"}, []string{"pdp", "--api-url", "http://127.0.0.1:1"}, "GATEHOUSE_PDP_REVOKED_GRACE"},
		{"serve with no streams", nil, []string{"serve", "--pdp-streams-per-key", "0"}, "pdp-streams-per-key"},
		{"pdp with a bad memory limit", nil, []string{"pdp", "--api-url", "http://127.0.0.1:1", "--key", "nope", "--memory-limit", "lots"}, "--memory-limit"},
		{"pdp with a tiny memory limit", map[string]string{"GATEHOUSE_PDP_MEMORY_LIMIT": "1MiB"}, []string{"pdp", "--api-url", "http://127.0.0.1:1", "--key", "nope"}, "below the least memory limit"},
		{"serve with a bad memory limit", map[string]string{"GATEHOUSE_MEMORY_LIMIT": "100 apples"}, []string{"serve"}, "GATEHOUSE_MEMORY_LIMIT"},
		{"serve with a tiny memory limit", nil, []string{"serve", "--memory-limit", "1MiB"}, "memory-limit 1MiB: must be at least 16MiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t, tc.env, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	out, err := run(t, nil, "version")
	if err != nil || !strings.HasPrefix(out, "gatehouse ") {
		t.Fatalf("version: %q %v", out, err)
	}
}

// TestPrintedLinksFollowThePublicURL: init and setup-link print links to
// where the server will be, --public-url or the listen address, not always
// to 127.0.0.1:8080.
func TestPrintedLinksFollowThePublicURL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, err := run(t, map[string]string{"GATEHOUSE_ADDR": ":9090"}, "init", "--data-dir", dir)
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	if !strings.Contains(out, "http://127.0.0.1:9090/v1/projects") || !strings.Contains(out, "http://127.0.0.1:9090/setup/") || strings.Contains(out, ":8080") {
		t.Fatalf("init with GATEHOUSE_ADDR=:9090 printed:\n%s", out)
	}
	out, err = run(t, nil, "setup-link", "--email", "admin@example.com", "--data-dir", dir, "--public-url", "https://auth.example.com/")
	if err != nil || !strings.Contains(out, "\n  https://auth.example.com/setup/") {
		t.Fatalf("setup-link --public-url: %v\n%s", err, out)
	}
	out, errOut, err := runAll(t, nil, "", "setup-link", "--email", "admin@example.com", "--data-dir", dir, "--base-url", "https://old.example.com")
	if err != nil || !strings.Contains(out, "https://old.example.com/setup/") || !strings.Contains(out+errOut, "use --public-url") {
		t.Fatalf("setup-link --base-url (deprecated): %v\n%s%s", err, out, errOut)
	}

	out, err = run(t, nil, "init", "--output", "json", "--data-dir", t.TempDir(), "--public-url", "https://auth.example.com")
	if err != nil {
		t.Fatalf("init --public-url: %v\n%s", err, out)
	}
	var res struct {
		AdminSetupURL string `json:"admin_setup_url"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || !strings.HasPrefix(res.AdminSetupURL, "https://auth.example.com/setup/") {
		t.Fatalf("init --public-url: admin_setup_url %q (%v)", res.AdminSetupURL, err)
	}
	_, err = run(t, nil, "init", "--data-dir", t.TempDir(), "--public-url", "auth.example.com")
	if err == nil || !strings.Contains(err.Error(), "public-url") {
		t.Fatalf("init --public-url auth.example.com: %v", err)
	}
}
