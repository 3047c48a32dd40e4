package cli_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/cli"
	"github.com/gatehouse-dev/gatehouse/internal/testserver"
)

// runAll runs the program and returns stdout, stderr and the error.
func runAll(t *testing.T, env map[string]string, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut syncBuffer
	err := cli.Run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

// TestRemoteCommands drives a live server through the commands a person
// types, with the key from the environment, then from `gatehouse login`'s
// config file.
func TestRemoteCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, err := run(t, nil, "init", "--output", "json", "--data-dir", dir)
	if err != nil {
		t.Fatal(err)
	}
	var first initOut
	if err := json.Unmarshal([]byte(out), &first); err != nil {
		t.Fatal(err)
	}
	base := serve(t, nil, "--data-dir", dir)
	cfgFile := filepath.Join(t.TempDir(), "gatehouse", "config.json")
	env := map[string]string{"GATEHOUSE_API_URL": base, "GATEHOUSE_API_KEY": first.APIKey, "GATEHOUSE_CONFIG": cfgFile,
		"GATEHOUSE_PROJECT": "default", "GATEHOUSE_ENVIRONMENT": "development"}

	must := func(args ...string) string {
		t.Helper()
		out, errOut, err := runAll(t, env, "", args...)
		if err != nil {
			t.Fatalf("gatehouse %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
		}
		return out
	}
	contains := func(out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Fatalf("output lacks %q:\n%s", w, out)
			}
		}
	}

	contains(must("users", "create", "alice", "--email", "alice@example.com", "--attr", "plan=pro", "--attr", "seats=5"),
		"alice@example.com", `{"plan":"pro","seats":5}`)
	contains(must("tenants", "create", "acme", "--name", "Acme Inc."), "Acme Inc.")
	contains(must("resources", "create", "--key", "document", "--action", "read", "--action", "write"), "read,write")
	contains(must("resources", "create", "--name", "Production Server", "--type", "server", "--config", "region=us-east-1"),
		"Production-Server", `{"region":"us-east-1"}`)
	contains(must("roles", "create", "editor", "--permission", "document:read", "--attr", "tier=gold"), "document:read", `{"tier":"gold"}`)
	contains(must("assignments", "assign", "alice", "editor", "--tenant", "acme"), "editor", "acme")

	// The decision, and the exit status scripts branch on.
	contains(must("check", "alice", "read", "document", "--tenant", "acme"), "ALLOW")
	out, _, err = runAll(t, env, "", "check", "alice", "write", "document", "--tenant", "acme")
	var exit cli.ExitError
	if !errors.As(err, &exit) || exit.Code != cli.DeniedExitCode || !strings.Contains(out, "DENY") {
		t.Fatalf("denied check: %q %v", out, err)
	}
	contains(must("check", "alice", "--permissions"), "acme", "editor", "document:read")
	contains(must("roles", "set-permissions", "editor", "document:read", "document:write"), "document:read,document:write")
	contains(must("check", "alice", "write", "document", "--tenant", "acme"), "ALLOW")

	// Tables and JSON show the same items.
	contains(must("users", "list"), "KEY", "alice", "alice@example.com")
	var users []map[string]any
	if err := json.Unmarshal([]byte(must("users", "list", "-o", "json")), &users); err != nil || len(users) != 1 || users[0]["key"] != "alice" {
		t.Fatalf("users list -o json: %v %v", users, err)
	}
	contains(must("users", "update", "alice", "--first-name", "Alice"), "Alice", "alice@example.com")
	contains(must("resources", "update", "Production-Server", "--status", "archived"), "archived")
	contains(must("resources", "list", "--status", "archived"), "Production-Server")
	if out := must("resources", "list", "--status", "active"); strings.Contains(out, "Production-Server") {
		t.Fatalf("archived resource listed as active:\n%s", out)
	}
	contains(must("assignments", "list", "--user", "alice"), "alice", "editor", "acme")

	// Paging: a footer in tables, every item with --all.
	for i := range 3 {
		must("tenants", "create", fmt.Sprintf("t%d", i))
	}
	contains(must("tenants", "list", "--per-page", "2"), "page 1 of 3 (5 in all)")
	var tenants []map[string]any
	if err := json.Unmarshal([]byte(must("tenants", "list", "--per-page", "2", "--all", "-o", "json")), &tenants); err != nil || len(tenants) != 5 {
		t.Fatalf("tenants list --all: %d %v", len(tenants), err)
	}

	// Keys: a new environment key works on its own (it implies its
	// environment), and is listed.
	var created struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(must("keys", "create", "--name", "backend", "--scope", "check:access,view:user", "-o", "json")), &created); err != nil || created.Token == "" {
		t.Fatalf("keys create: %+v %v", created, err)
	}
	envKey := map[string]string{"GATEHOUSE_API_URL": base, "GATEHOUSE_API_KEY": created.Token, "GATEHOUSE_CONFIG": cfgFile}
	out, _, err = runAll(t, envKey, "", "check", "alice", "read", "document", "--tenant", "acme")
	if err != nil || !strings.Contains(out, "ALLOW") {
		t.Fatalf("check with the environment key: %q %v", out, err)
	}
	_, _, err = runAll(t, envKey, "", "tenants", "create", "nope")
	if err == nil || !strings.Contains(err.Error(), "FORBIDDEN") || !strings.Contains(err.Error(), "lacks a scope") {
		t.Fatalf("write with a read key: %v", err)
	}
	// The name as the argument, as users create takes the key.
	var named struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(must("keys", "create", "reporting", "--scope", "view:user", "-o", "json")), &named); err != nil || named.Name != "reporting" {
		t.Fatalf("keys create NAME: %+v %v", named, err)
	}
	contains(must("keys", "list"), "backend", "environment")
	contains(must("keys", "revoke", created.ID), "revoked")
	contains(must("keys", "whoami"), "organization", "check:access")

	// Jobs: an import with its progress, a refused file with line numbers,
	// an export to a file.
	var rows strings.Builder
	for i := range 250 {
		fmt.Fprintf(&rows, `{"type":"user","key":"u%d","email":"u%d@example.com"}`+"\n", i, i)
	}
	file := filepath.Join(t.TempDir(), "users.jsonl")
	if err := os.WriteFile(file, []byte(rows.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, progress, err := runAll(t, env, "", "jobs", "import", file, "--batch-size", "100")
	if err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	contains(out, "succeeded", "250 created")
	contains(progress, "100% (250/250)")
	out, _, err = runAll(t, env, "", "jobs", "import", "-", "--format", "csv", "--type", "users")
	if err == nil || !strings.Contains(err.Error(), "INVALID_REQUEST") {
		t.Fatalf("empty CSV import: %v %s", err, out)
	}
	_, _, err = runAll(t, env, `{"type":"user","key":"ok"}`+"\n"+`{"type":"user","key":""}`+"\nnot json\n", "jobs", "import", "-")
	if err == nil || !strings.Contains(err.Error(), "line 2:") || !strings.Contains(err.Error(), "line 3:") {
		t.Fatalf("bad import: %v", err)
	}
	exported := filepath.Join(t.TempDir(), "export.jsonl")
	_, errOut, err := runAll(t, env, "", "jobs", "export", "--out", exported)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(exported)
	if n := strings.Count(string(data), "\n"); n < 251 || !strings.Contains(string(data), `"key":"u249"`) {
		t.Fatalf("export has %d lines (%s)", n, errOut)
	}
	contains(must("jobs", "list"), "import", "export", "succeeded")
	// Newest first, as its help says; --sort created_at is oldest first.
	for _, tc := range []struct {
		args  []string
		first string
		newer bool
	}{{[]string{"jobs", "list", "-o", "json"}, "export", true}, {[]string{"jobs", "list", "--sort", "created_at", "-o", "json"}, "import", false}} {
		var jobs []struct {
			Type      string    `json:"type"`
			CreatedAt time.Time `json:"created_at"`
		}
		if err := json.Unmarshal([]byte(must(tc.args...)), &jobs); err != nil || len(jobs) < 2 || jobs[0].Type != tc.first {
			t.Fatalf("%v: want %s first: %+v %v", tc.args, tc.first, jobs, err)
		}
		for i := 1; i < len(jobs); i++ {
			if jobs[i].CreatedAt.After(jobs[i-1].CreatedAt) == tc.newer {
				t.Fatalf("%v: out of order at %d: %+v", tc.args, i, jobs)
			}
		}
	}

	// Webhooks and logs.
	_, _, err = runAll(t, env, "", "webhooks", "create", "http://127.0.0.1:9/hook", "--event", "*")
	if err == nil || !strings.Contains(err.Error(), "network guard") {
		t.Fatalf("webhook to loopback: %v", err)
	}
	contains(must("webhooks", "create", "https://hooks.example.com/gh", "--event", "user.created"), "signing secret (shown once", "user.created")
	contains(must("webhooks", "list"), "https://hooks.example.com/gh")
	contains(must("logs", "list", "--method", "POST", "--path", "/v1/users", "--per-page", "5"), "POST", "/v1/users", "201")
	// The refused webhook was just called: the API log is written in the
	// background.
	var calls []map[string]any
	testserver.Eventually(t, "logs list --status 4xx shows the refused webhook", 5*time.Second, func() bool {
		if err := json.Unmarshal([]byte(must("logs", "list", "--status", "4xx", "--path", "/v1/webhooks", "-o", "json")), &calls); err != nil {
			t.Fatalf("logs list --status 4xx: %v", err)
		}
		return len(calls) > 0
	})
	contains(must("logs", "get", calls[0]["id"].(string)), "request id:")

	// The audit trail: the webhook just registered, by the key, with it after.
	contains(must("audit", "list", "--action", "webhook.created"), "webhook.created", "https://hooks.example.com/gh", "key ")
	var changes []map[string]any
	if err := json.Unmarshal([]byte(must("audit", "list", "--object-type", "webhook", "-o", "json")), &changes); err != nil || len(changes) != 1 {
		t.Fatalf("audit list -o json: %v %v", err, changes)
	}
	contains(must("audit", "get", changes[0]["id"].(string)), "action:", "webhook.created", "after:", "hooks.example.com")

	// Login: the key and server go to the config file, readable by the
	// owner only, and later commands need no variables.
	contains(must("login"), "Logged in to "+base)
	st, err := os.Stat(cfgFile)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v %v", st, err)
	}
	fromFile := map[string]string{"GATEHOUSE_CONFIG": cfgFile}
	out, _, err = runAll(t, fromFile, "", "users", "get", "alice", "--project", "default", "--environment", "development")
	if err != nil || !strings.Contains(out, "alice@example.com") {
		t.Fatalf("users get from the config file: %q %v", out, err)
	}
	// An organization key and no environment: the error says what to pass
	// to the command, once, and nothing of query parameters.
	_, _, err = runAll(t, map[string]string{"GATEHOUSE_API_URL": base, "GATEHOUSE_API_KEY": first.APIKey, "GATEHOUSE_CONFIG": filepath.Join(t.TempDir(), "none.json")},
		"", "users", "list")
	if err == nil || strings.Count(err.Error(), "--project and --environment") != 1 || strings.Contains(err.Error(), "?") ||
		!strings.Contains(err.Error(), "GATEHOUSE_PROJECT") {
		t.Fatalf("users list without an environment: %v", err)
	}
	// A key in a file, no variable needed (nor a flag, whose value ps shows).
	out, _, err = runAll(t, map[string]string{"GATEHOUSE_API_URL": base, "GATEHOUSE_CONFIG": filepath.Join(t.TempDir(), "none.json")}, "",
		"keys", "whoami", "--key-file", keyFile(t, first.APIKey+"\n"))
	if err != nil || !strings.Contains(out, "organization") {
		t.Fatalf("keys whoami --key-file: %q %v", out, err)
	}
	// Flags win over the file.
	_, _, err = runAll(t, fromFile, "", "keys", "list", "--key", "not-a-key")
	if err == nil || !strings.Contains(err.Error(), "UNAUTHORIZED") {
		t.Fatalf("--key over the config file: %v", err)
	}

	// Deletes.
	contains(must("assignments", "unassign", "alice", "editor", "--tenant", "acme"), "unassigned")
	_, _, err = runAll(t, env, "", "check", "alice", "read", "document", "--tenant", "acme")
	if !errors.As(err, &exit) {
		t.Fatalf("check after unassign: %v", err)
	}
	must("users", "delete", "alice")
	_, _, err = runAll(t, env, "", "users", "get", "alice")
	if err == nil || !strings.Contains(err.Error(), "NOT_FOUND") {
		t.Fatalf("deleted user: %v", err)
	}
}

func TestRemoteCommandErrors(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "none.json")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no key", map[string]string{"GATEHOUSE_CONFIG": cfg}, []string{"users", "list"}, "no API key"},
		{"no server", map[string]string{"GATEHOUSE_CONFIG": cfg, "GATEHOUSE_API_KEY": "k"}, []string{"users", "list", "--api-url", "http://127.0.0.1:1"},
			"cannot reach the server at http://127.0.0.1:1"},
		{"half an environment", map[string]string{"GATEHOUSE_CONFIG": cfg, "GATEHOUSE_API_KEY": "k"}, []string{"users", "list", "--project", "p"},
			"give both --project and --environment"},
		{"bad output", map[string]string{"GATEHOUSE_CONFIG": cfg, "GATEHOUSE_API_KEY": "k"}, []string{"users", "list", "-o", "yaml"}, "want table or json"},
		{"bad attribute", map[string]string{"GATEHOUSE_CONFIG": cfg, "GATEHOUSE_API_KEY": "k"}, []string{"users", "create", "a", "--attr", "x"}, "want key=value"},
		{"missing argument", nil, []string{"check", "alice", "read"}, "accepts 3 arg(s)"},
		{"login without a key", map[string]string{"GATEHOUSE_CONFIG": cfg}, []string{"login"}, "no API key"},
		{"an empty key file", map[string]string{"GATEHOUSE_CONFIG": cfg}, []string{"users", "list", "--key-file", keyFile(t, "\n")}, "is empty"},
		{"a key file of two lines", map[string]string{"GATEHOUSE_CONFIG": cfg}, []string{"users", "list", "--key-file", keyFile(t, "a\nb\n")}, "the API key alone"},
		{"two key names", map[string]string{"GATEHOUSE_CONFIG": cfg, "GATEHOUSE_API_KEY": "k"}, []string{"keys", "create", "a", "--name", "b"}, "give one"},
		{"keys create with two arguments", map[string]string{"GATEHOUSE_CONFIG": cfg, "GATEHOUSE_API_KEY": "k"}, []string{"keys", "create", "a", "b"}, "accepts at most 1 arg"},
		{"a server flag on a remote command", map[string]string{"GATEHOUSE_CONFIG": cfg, "GATEHOUSE_API_KEY": "k"}, []string{"users", "list", "--data-dir", "x"}, "unknown flag: --data-dir"},
		{"a key twice", map[string]string{"GATEHOUSE_CONFIG": cfg}, []string{"users", "list", "--key", "k", "--key-file", keyFile(t, "k")}, "give the key once"},
		{"broken config file", map[string]string{"GATEHOUSE_CONFIG": writeFile(t, "{")}, []string{"users", "list"}, "config file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runAll(t, tc.env, "", tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestShellCompletion(t *testing.T) {
	t.Parallel()
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		out, _, err := runAll(t, nil, "", "completion", shell)
		if err != nil || !strings.Contains(out, "gatehouse") || len(out) < 500 {
			t.Fatalf("completion %s: %v (%d bytes)", shell, err, len(out))
		}
	}
	// Cobra's completion hook lists the subcommands.
	out, _, err := runAll(t, nil, "", "__complete", "jobs", "")
	if err != nil || !strings.Contains(out, "import") || !strings.Contains(out, "export") {
		t.Fatalf("__complete jobs: %q %v", out, err)
	}
}
