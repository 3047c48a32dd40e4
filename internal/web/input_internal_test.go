package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestJSONTextProblem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		reason     string
		at         int
		field      string
	}{
		{"clean", `{"user":"ada","resource":{"type":"doc"}}`, "", -1, ""},
		{"escaped NUL", `{"user":"a\u0000"}`, reasonNUL, 10, "user"},
		{"escaped backslash then u0000 is text", `{"user":"a\\u0000"}`, "", -1, ""},
		{"three backslashes: an escaped backslash, then an escaped NUL", `{"user":"a\\\u0000"}`, reasonNUL, 12, "user"},
		{"four backslashes", `{"user":"a\\\\u0000"}`, "", -1, ""},
		{"escaped NUL after a text one", `{"a":"\\u0000","b":"\u0000"}`, reasonNUL, 20, "b"},
		{"other escapes are fine", `{"user":"\u00e9\n\"\u0041"}`, "", -1, ""},
		{"raw NUL byte", "{\"user\":\"a\x00\"}", reasonNUL, 10, "user"},
		{"invalid UTF-8", "{\"user\":\"a\xff\"}", reasonUTF8, 10, "user"},
		{"a cut UTF-8 sequence", "{\"user\":\"\xc3\"}", reasonUTF8, 9, "user"},
		{"valid UTF-8", `{"user":"Zoë 日本"}`, "", -1, ""},
		{"nested", `{"checks":[{"user":"a"},{"resource":{"key":"\u0000"}}]}`, reasonNUL, 44, "checks[1].resource.key"},
		{"in an array of strings", `{"tenants":["t1","t\u0000"]}`, reasonNUL, 19, "tenants[1]"},
		{"in a key", `{"us\u0000er":"a"}`, reasonNUL, 4, "user"},
		{"top-level string", `"\u0000"`, reasonNUL, 1, ""},
		{"after broken JSON: the field is not known", `{"a": tru, "b":"\u0000"}`, reasonNUL, 16, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reason, at := jsonTextProblem([]byte(tc.body))
			if reason != tc.reason || at != tc.at {
				t.Fatalf("got %q at %d, want %q at %d", reason, at, tc.reason, tc.at)
			}
			if reason == "" {
				return
			}
			if field := jsonFieldAt([]byte(tc.body), at); field != tc.field {
				t.Fatalf("field %q, want %q", field, tc.field)
			}
			p := bodyProblem([]byte(tc.body), reason, at)
			if p.location != "body" || p.reason != reason || !strings.Contains(p.message, "invalid request body") {
				t.Fatalf("problem %+v", p)
			}
		})
	}
}

func TestQueryAndPathProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, query, path string
		location, field   string
		reason            string
	}{
		{"clean", "user=ada&page=2", "/v1/users/ada", "", "", ""},
		{"escaped but fine", "user=Zo%C3%AB&q=a+b%20c", "/v1/users/Zo\u00eb", "", "", ""},
		{"NUL in a value", "page=1&user=a%00", "/v1/users", "query", "user", reasonNUL},
		{"invalid UTF-8 in a value", "user=%FF", "/v1/users", "query", "user", reasonUTF8},
		{"NUL in a name", "us%00er=a", "/v1/users", "query", "user", reasonNUL},
		{"raw invalid byte", "user=\xff", "/v1/users", "query", "user", reasonUTF8},
		{"a value that does not decode", "x=1&user=%zz", "/v1/users", "query", "user", reasonEscape},
		{"a name that does not decode", "us%zer=1", "/v1/users", "query", "us%zer", reasonEscape},
		{"a lone % at the end", "tenant=acme%", "/v1/role-assignments", "query", "tenant", reasonEscape},
		{"a ; in a value", "user=u&tenant=acme;x", "/v1/role-assignments", "query", "tenant", reasonSeparator},
		{"an escaped ; is text", "q=a%3Bb", "/v1/users", "", "", ""},
		{"NUL in the path", "", "/v1/users/a\x00b", "path", "", reasonNUL},
		{"invalid UTF-8 in the path", "", "/v1/users/a\xffb", "path", "", reasonUTF8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := pathProblem(tc.path)
			if p == nil {
				p = queryProblem(tc.query)
			}
			if tc.location == "" {
				if p != nil {
					t.Fatalf("refused: %+v", p)
				}
				return
			}
			if p == nil || p.location != tc.location || p.field != tc.field || p.reason != tc.reason {
				t.Fatalf("got %+v, want %s %q %s", p, tc.location, tc.field, tc.reason)
			}
			if !utf8Safe(p.message) {
				t.Fatalf("the message itself is not clean text: %q", p.message)
			}
		})
	}
}

func utf8Safe(s string) bool { return textProblem(s) == "" }

func TestJSONMedia(t *testing.T) {
	t.Parallel()
	for ct, want := range map[string]bool{"": true, "application/json": true, "Application/JSON; charset=utf-8": true,
		"application/merge-patch+json": true, "application/x-ndjson": false, "text/csv": false, "application/x-www-form-urlencoded": false} {
		if jsonMedia(ct) != want {
			t.Errorf("jsonMedia(%q) = %v, want %v", ct, !want, want)
		}
	}
}

// TestInputCheckPassesBodies: a checked body reaches the operation byte for
// byte; a body above the limit and a body that fails to read reach it as
// they came (so the operation answers 413 or the read error as before), and
// non-JSON bodies (imports) are not read at all.
func TestInputCheckPassesBodies(t *testing.T) {
	t.Parallel()
	var got []byte
	var gotErr error
	echo := WithInputCheck(64, Envelope(nil), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, gotErr = io.ReadAll(r.Body)
	}))
	serve := func(body io.Reader, ct string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/v1/users", body)
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		w := httptest.NewRecorder()
		echo.ServeHTTP(w, r)
		return w
	}
	small := `{"key":"ada","name":"Zoë"}`
	if w := serve(strings.NewReader(small), "application/json"); w.Code != 200 || string(got) != small {
		t.Fatalf("small body: %d %q", w.Code, got)
	}
	big := `{"key":"` + strings.Repeat("a", 100) + `","x":"\u0000"}`
	if w := serve(strings.NewReader(big), "application/json"); w.Code != 200 || string(got) != big {
		t.Fatalf("body announced above the limit: %d %q (want it passed on whole, for the operation's 413)", w.Code, got)
	}
	if w := serve(io.MultiReader(strings.NewReader(big)), "application/json"); w.Code != 200 || string(got) != big {
		t.Fatalf("body of unknown length above the limit: %d %q (want it passed on whole, for the operation's 413)", w.Code, got)
	}
	broken := errors.New("connection reset")
	if w := serve(io.MultiReader(strings.NewReader(`{"key":`), errReader{broken}), "application/json"); w.Code != 200 || string(got) != `{"key":` || !errors.Is(gotErr, broken) {
		t.Fatalf("unreadable body: %d %q %v", w.Code, got, gotErr)
	}
	csv := "key\nada\x00\n"
	if w := serve(strings.NewReader(csv), "text/csv"); w.Code != 200 || string(got) != csv {
		t.Fatalf("a CSV body is the import's to read: %d %q", w.Code, got)
	}
	w := serve(strings.NewReader(`{"key":"a\u0000"}`), "")
	var e ErrorBody
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || w.Code != 400 || e.Err.Code != "INVALID_REQUEST" || e.Err.Details["field"] != "key" ||
		!strings.Contains(e.Err.Message, `the field "key" contains a NUL character`) {
		t.Fatalf("a JSON body without a Content-Type: %d %s", w.Code, w.Body)
	}
}

// BenchmarkInputCheck is the check's own cost on the check path's request
// (POST /v1/allowed with its small JSON body), against the same request
// read without it.
func BenchmarkInputCheck(b *testing.B) {
	body := `{"user":"ada","action":"read","resource":{"type":"doc","key":"d-1","tenant":"default"}}`
	buf := make([]byte, 512)
	read := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for {
			if _, err := r.Body.Read(buf[:]); err != nil {
				return
			}
		}
	})
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"without", read}, {"with", WithInputCheck(1<<20, Envelope(nil), read)}} {
		h := c.h
		b.Run(c.name, func(b *testing.B) {
			rd := strings.NewReader(body)
			r := httptest.NewRequest("POST", "/v1/allowed", nil)
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				rd.Reset(body)
				r.Body, r.ContentLength = io.NopCloser(rd), int64(len(body))
				h.ServeHTTP(w, r)
			}
		})
	}
}
