package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// TestImportRefusesTextPostgreSQLCannotStore: a NUL character (raw in a
// CSV cell, or \u0000 in a JSON string) or bytes that are not UTF-8 are
// refused at the upload with their line, on both engines, instead of
// failing a task later (PostgreSQL cannot store NUL in text). An email
// follows the API's rule.
func TestImportRefusesTextPostgreSQLCannotStore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, query, ctype, body string
		line                     float64
		field, msg               string
	}{
		{"csv NUL", "&type=users", "text/csv", "key,first_name\nada,Ada\nbob,B\x00b\n", 3, "first_name", "column first_name: a NUL character (\\u0000) is not allowed"},
		{"csv not UTF-8", "&type=tenants", "text/csv", "key,name\nacme,Ac\xffme\n", 2, "name", "column name: not valid UTF-8"},
		{"csv NUL in attributes", "&type=users", "text/csv", "key,attributes\nada,\"{\"\"a\"\":\"\"\\u0000\"\"}\"\n", 2, "attributes", "column attributes: a NUL character (\\u0000) is not allowed"},
		{"json NUL", "", "application/x-ndjson", `{"type":"user","key":"ada","first_name":"A\u0000da"}`, 1, "", "a NUL character (\\u0000) is not allowed"},
		{"json NUL in attributes", "", "application/x-ndjson", `{"type":"user","key":"ok"}` + "\n" + `{"type":"tenant","key":"acme","attributes":{"k\u0000":1}}`, 2, "", "a NUL character (\\u0000) is not allowed"},
		{"json not UTF-8", "", "application/x-ndjson", "{\"type\":\"user\",\"key\":\"ada\",\"last_name\":\"\xc3\x28\"}", 1, "", "not valid UTF-8"},
		{"csv email", "&type=users", "text/csv", "key,email\nada,ada@acme.example\nbob,notanemail\n", 3, "email", `email "notanemail" is not a valid address`},
		{"json email", "", "application/x-ndjson", `{"type":"user","key":"ada","email":"Ada <ada@acme.example>"}`, 1, "email", `email "Ada <ada@acme.example>" is not a valid address`},
	}
	for _, eng := range engines(t) {
		t.Run(eng.name, func(t *testing.T) {
			a, base := start(t, eng.cfg(t))
			res, err := a.Init(context.Background(), app.DefaultInitOptions())
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range tests {
				st, out := post(t, base+"/v1/jobs/import"+devQ+tc.query, res.Token, tc.ctype, tc.body)
				e, _ := out["error"].(map[string]any)
				if st != 400 || e == nil {
					t.Errorf("%s: %d %v", tc.name, st, out)
					continue
				}
				first, _ := e["details"].(map[string]any)["errors"].([]any)[0].(map[string]any)
				if first["line"] != tc.line || first["message"] != tc.msg || (first["field"] != nil && first["field"] != tc.field) || (first["field"] == nil) != (tc.field == "") {
					t.Errorf("%s: %v", tc.name, e)
				}
			}
			// A backslash before u0000 is text, not a NUL: it imports.
			st, out := post(t, base+"/v1/jobs/import"+devQ, res.Token, "application/x-ndjson",
				`{"type":"user","key":"ada","first_name":"a\\u0000","email":"ada@acme.example","attributes":{"path":"c:\\u0000"}}`)
			if st != 201 {
				t.Fatalf("escaped backslash: %d %v", st, out)
			}
			if j := waitJob(t, base, res.Token, out["data"].(map[string]any)["id"].(string)); j["status"] != "succeeded" {
				t.Fatalf("escaped backslash: %v", j)
			}
			if _, u := call(t, "GET", base+"/v1/users/ada"+devQ, res.Token, ""); u["data"].(map[string]any)["first_name"] != `a\u0000` {
				t.Errorf("user %v", u)
			}
			// The API follows the same email rule.
			if st, out := call(t, "POST", base+"/v1/users"+devQ, res.Token, `{"key":"bob","email":"notanemail"}`); st != 400 {
				t.Errorf("create user with a bad email: %d %v", st, out)
			}
			if st, out := call(t, "POST", base+"/v2/facts/default/development/users", res.Token, `{"key":"bob","email":"notanemail"}`); st != 400 && st != 422 {
				t.Errorf("v2 create user with a bad email: %d %v", st, out)
			}
			if st, out := call(t, "PATCH", base+"/v1/users/ada"+devQ, res.Token, `{"email":"still not"}`); st != 400 {
				t.Errorf("update user with a bad email: %d %v", st, out)
			}
			if st, out := call(t, "POST", base+"/v1/users"+devQ, res.Token, `{"key":"bob","email":"bob@acme.example"}`); st != 201 {
				t.Errorf("create user: %d %v", st, out)
			}
		})
	}
}

// slowBody gives its parts, calling pause between the first and the second.
type slowBody struct {
	parts []string
	pause func()
	n     int
}

func (b *slowBody) Read(p []byte) (int, error) {
	if len(b.parts) == 0 {
		return 0, io.EOF
	}
	if b.n > 0 && b.pause != nil {
		b.pause()
		b.pause = nil
	}
	n := copy(p, b.parts[0])
	b.parts[0] = b.parts[0][n:]
	if b.parts[0] == "" {
		b.parts = b.parts[1:]
	}
	b.n += n
	return n, nil
}

// TestImportAnswersAfterTheWriteTimeout: an upload that takes longer than
// the server's write timeout still gets its answer (it came back empty).
// Meanwhile its spool is in the data folder, and it is removed after.
func TestImportAnswersAfterTheWriteTimeout(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Init(context.Background(), app.DefaultInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(a.Handler())
	ts.Config.WriteTimeout = 200 * time.Millisecond
	ts.Start()
	t.Cleanup(func() { ts.Close(); a.Close() })
	spools := func() []string {
		names, _ := filepath.Glob(filepath.Join(cfg.DataDir, "import-spool", "gatehouse-import-*"))
		return names
	}
	spooled := false
	body := &slowBody{parts: []string{`{"type":"user","key":"ada"}` + "\n", `{"type":"user","key":"bob"}` + "\n"}, pause: func() {
		// (On the client's goroutine: no t.Fatal here.)
		for deadline := time.Now().Add(10 * time.Second); !spooled && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			spooled = len(spools()) == 1
		}
		time.Sleep(600 * time.Millisecond) // a slow client: past the write timeout
	}}
	st, out := upload(t, ts.URL+"/v1/jobs/import"+devQ, res.Token, "application/x-ndjson", body)
	if !spooled {
		t.Errorf("the upload was not spooled in the data folder (%s)", filepath.Join(cfg.DataDir, "import-spool"))
	}
	if st != 201 {
		t.Fatalf("import: %d %v", st, out)
	}
	if left := spools(); len(left) != 0 {
		t.Errorf("spools left: %v", left)
	}
	if j := waitJob(t, ts.URL, res.Token, out["data"].(map[string]any)["id"].(string)); j["status"] != "succeeded" {
		t.Errorf("job %v", j)
	}
}
