package apilog_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/apilog"
)

const jwt = "eyJhbGciOiJFZERTQSJ9.eyJsZXZlbCI6Im9yZ2FuaXphdGlvbiJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"

func TestRedactBody(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		complete bool
		gone     []string // must not appear
		kept     []string // must still appear
	}{
		{"key creation response", `{"status":"success","data":{"id":"k1","name":"ci","token":"` + jwt + `"}}`, true,
			[]string{jwt, "c2lnbmF0dXJl"}, []string{`"token":"[REDACTED]"`, `"name":"ci"`, `"id":"k1"`}},
		{"nested organization key", `{"data":{"api_key":{"id":"k2","token":"secret-token-value"},"organization":{"name":"Acme"}}}`, true,
			[]string{"secret-token-value"}, []string{`"id":"k2"`, `"name":"Acme"`}},
		{"passwords and secrets by suffix", `{"email":"a@b.c","password":"hunter2","new_password":"hunter3","webhook_secret":"whsec_x","client_secret":"s3"}`, true,
			[]string{"hunter2", "hunter3", "whsec_x", `"s3"`}, []string{"a@b.c"}},
		{"a JWT under any name", `{"note":"my key is ` + jwt + `"}`, true, []string{jwt}, []string{"my key is"}},
		{"arrays", `[{"secret":"a1"},{"secret":"a2","key":"k"}]`, true, []string{`"a1"`, `"a2"`}, []string{`"key":"k"`}},
		{"truncated in a token value", `{"data":{"id":"k1","token":"eyJhbGciOiJFZERTQSJ9.eyJsZXZl`, false,
			[]string{"eyJsZXZl", "eyJhbGciOiJFZERTQSJ9"}, []string{`"id":"k1"`}},
		{"truncated after a token", `{"token":"abcdefgh","name":"x","desc":"aaaa`, false, []string{"abcdefgh"}, []string{`"name":"x"`}},
		{"a form", `token=abcdef&name=x&api_key=zzz9 ` + jwt, true, []string{jwt, "abcdef", "zzz9"}, []string{"name=x"}},
		{"harmless", `{"key":"alice","email":"alice@example.com"}`, true, nil, []string{"alice@example.com"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := apilog.RedactBody(tc.body, tc.complete)
			for _, s := range tc.gone {
				if strings.Contains(got, s) {
					t.Errorf("%q survived: %s", s, got)
				}
			}
			for _, s := range tc.kept {
				if !strings.Contains(got, s) {
					t.Errorf("%q lost: %s", s, got)
				}
			}
		})
	}
}

func TestRedactHeader(t *testing.T) {
	for name, want := range map[string]string{"Authorization": apilog.Redacted, "cookie": apilog.Redacted, "X-Api-Key": apilog.Redacted,
		"User-Agent": "curl/8", "Content-Type": "curl/8"} {
		if got := apilog.RedactHeader(name, "curl/8"); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
}
