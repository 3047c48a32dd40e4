package apilog_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/apilog"
)

const jwt = "eyJhbGciOiJFZERTQSJ9.eyJsZXZlbCI6Im9yZ2FuaXphdGlvbiJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"

func TestRedactBody(t *testing.T) {
	tokenPath := []apilog.SecretPath{"data.token"}
	tests := []struct {
		name     string
		body     string
		paths    []apilog.SecretPath
		complete bool
		gone     []string // must not appear
		kept     []string // must still appear
	}{
		{"declared field", `{"status":"success","data":{"id":"k1","name":"ci","token":"opaque-value"}}`, tokenPath, true,
			[]string{"opaque-value"}, []string{`"token":"[REDACTED]"`, `"name":"ci"`, `"id":"k1"`}},
		{"declared nested field", `{"data":{"api_key":{"id":"k2","token":"secret-token-value"},"organization":{"name":"Acme"}}}`, []apilog.SecretPath{"data.api_key.token"}, true,
			[]string{"secret-token-value"}, []string{`"id":"k2"`, `"name":"Acme"`}},
		{"declared field in every element", `{"data":[{"secret":"a1","id":"x"},{"secret":"a2","id":"y"}]}`, []apilog.SecretPath{"data[].secret"}, true,
			[]string{`"a1"`, `"a2"`}, []string{`"id":"x"`, `"id":"y"`}},
		{"a setup link", `{"data":{"member_id":"m1","path":"/setup/opaque"}}`, []apilog.SecretPath{"data.path"}, true,
			[]string{"opaque"}, []string{`"member_id":"m1"`}},
		{"an error of a secret operation", `{"status":"error","error":{"code":"NOT_FOUND","message":"member \"m9\" not found"}}`, []apilog.SecretPath{"data.path"}, true,
			nil, []string{"NOT_FOUND", "m9"}},
		{"cut body of a secret operation", `{"data":{"id":"k1","token":"opaq`, tokenPath, false,
			[]string{"opaq", `"id"`}, []string{apilog.DroppedBody}},
		{"unreadable body of a secret operation", `not json opaque`, tokenPath, true, []string{"opaque"}, []string{apilog.DroppedBody}},
		{"a key under any name", `{"note":"my key is ` + jwt + `"}`, nil, true, []string{jwt, "c2lnbmF0dXJl"}, []string{"my key is"}},
		{"a key cut short", `{"data":{"id":"k1","x":"eyJhbGciOiJFZERTQSJ9.eyJsZXZl`, nil, false,
			[]string{"eyJsZXZl", "eyJhbGciOiJFZERTQSJ9"}, []string{`"id":"k1"`}},
		{"a webhook secret under any name", `{"note":"whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="}`, nil, true, []string{"c2VjcmV0"}, nil},
		{"a setup token under any name", `see /setup/ghsetup_abcdefghijklmnop`, nil, true, []string{"abcdefghijk"}, []string{"see /setup/"}},
		{"user data is not guessed at", `{"key":"alice","email":"alice@example.com","attributes":{"password_rotated":true,"token_count":3}}`, nil, true,
			nil, []string{"alice@example.com", `"token_count":3`, `"password_rotated":true`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := apilog.RedactBody(tc.body, tc.paths, tc.complete)
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

// Redact: paths, query strings, every header and the user agent lose
// anything shaped like a credential.
func TestRedactCall(t *testing.T) {
	e := apilog.Call{Path: "/v1/projects?api_key=" + jwt + "&x=1", UserAgent: "bot " + jwt,
		RequestHeaders: map[string]string{"X-Debug": "k=" + jwt, "Authorization": "Bearer x", "Accept": "application/json"},
		ResponseBody:   `{"data":{"token":"t0"}}`, Secrets: &apilog.Secrets{Response: []apilog.SecretPath{"data.token"}}}
	apilog.Redact(&e)
	all := e.Path + e.UserAgent + e.ResponseBody
	for _, v := range e.RequestHeaders {
		all += v
	}
	if strings.Contains(all, "eyJ") || strings.Contains(all, "t0") || strings.Contains(all, "Bearer") {
		t.Errorf("a secret survived: %+v", e)
	}
	if !strings.Contains(e.Path, "x=1") || e.RequestHeaders["Accept"] != "application/json" {
		t.Errorf("harmless parts lost: %+v", e)
	}
}

func TestRedactHeader(t *testing.T) {
	for name, want := range map[string]string{"Authorization": apilog.Redacted, "cookie": apilog.Redacted, "X-Api-Key": apilog.Redacted,
		"User-Agent": "curl/8", "Content-Type": "curl/8", "X-Custom": "curl/8"} {
		if got := apilog.RedactHeader(name, "curl/8"); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
}
